/* bf16 autocast (core/ops/autocast.c): the hook matmul, linear and the
 * convolutions call at the top of their public wrappers. */
#ifndef MM_AUTOCAST_INTERNAL_H
#define MM_AUTOCAST_INTERNAL_H

#include "mm/tensor.h"

/* Inside an autocast region, replace each f32 tensor of ts (NULL entries
 * allowed) by its cast to the autocast dtype, a recorded op so gradients
 * flow back in f32; otherwise leave ts as it is. The casts go to the
 * current pool. */
int mm_autocast_inputs(int n, mm_tensor **ts);

#endif
