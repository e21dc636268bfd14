/* mm/mm.h - the whole public SDK of libmm.
 *
 * One header per area; this one includes them all. Layers, bottom up:
 * base (errors, logging, mm_value, JSON/YAML, files, threads, random
 * numbers), config (YAML configs with mmengine semantics), registry and
 * plugins (docs/plugins.md), tensors, ops, autograd, autocast, losses and
 * optimizers (docs/tensors.md), nn (docs/nn.md), metrics (docs/eval.md) and
 * transforms. Data loading, the runner and the rest join as they land; see
 * docs/status.md. */
#ifndef MM_MM_H
#define MM_MM_H

#include "mm/apis.h"
#include "mm/autocast.h"
#include "mm/autograd.h"
#include "mm/checkpoint.h"
#include "mm/config.h"
#include "mm/data.h"
#include "mm/elementwise.h"
#include "mm/error.h"
#include "mm/eval.h"
#include "mm/image.h"
#include "mm/log.h"
#include "mm/loss.h"
#include "mm/model.h"
#include "mm/nn.h"
#include "mm/ops.h"
#include "mm/optim.h"
#include "mm/optim_wrapper.h"
#include "mm/plugin.h"
#include "mm/reduction.h"
#include "mm/registry.h"
#include "mm/rng.h"
#include "mm/runner.h"
#include "mm/tensor.h"
#include "mm/threads.h"
#include "mm/transform.h"
#include "mm/value.h"

#endif
