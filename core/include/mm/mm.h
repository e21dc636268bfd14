/* mm/mm.h - the whole public SDK of libmm.
 *
 * One header per area; this one includes them all. Layers, bottom up:
 * base (errors, logging, mm_value, JSON/YAML, files) and config (YAML
 * configs with mmengine semantics). Registry, tensors, ops, autograd, nn,
 * data, runner and the rest join as they land; see docs/status.md. */
#ifndef MM_MM_H
#define MM_MM_H

#include "mm/config.h"
#include "mm/error.h"
#include "mm/log.h"
#include "mm/value.h"

#endif
