/* The normalisation / softmax / resampling / attention family: op
 * definitions, their CPU kernels and the helpers both sides share. */
#ifndef MM_NORM_INTERNAL_H
#define MM_NORM_INTERNAL_H

#include "ops_internal.h"

extern const mm_op mm_op_softmax, mm_op_log_softmax;
extern const mm_op mm_op_moments, mm_op_normalize, mm_op_normalize_affine,
    mm_op_norm_train, mm_op_norm_grad_sums, mm_op_norm_grad_input;
extern const mm_op mm_op_interpolate, mm_op_interpolate_backward,
    mm_op_grid_sample, mm_op_grid_sample_grad_input,
    mm_op_grid_sample_grad_grid;

int mm_cpu_softmax(mm_op_ctx *ctx);
int mm_cpu_moments(mm_op_ctx *ctx);
int mm_cpu_normalize(mm_op_ctx *ctx);
int mm_cpu_norm_grad(mm_op_ctx *ctx);
int mm_cpu_interpolate(mm_op_ctx *ctx);
int mm_cpu_grid_sample(mm_op_ctx *ctx);

/* x (A, C, B) stored channels-last, as rows [A * B, C] with C contiguous
 * (and not also contiguous, as when A * B or C is 1): the layout the norm ops
 * take besides the contiguous one (MM_OP_FLAG_CHANNELS_LAST); their outputs
 * of x's shape follow x's layout. */
static inline bool mm_norm_rows(const mm_tensor *x) {
    return mm_tensor_layout(x) == MM_FORMAT_CHANNELS_LAST;
}

/* normalize's kernels keep rstd = 1 / sqrt(var + eps) for backward. */
int mm_norm_save_rstd(mm_op_ctx *ctx, double eps);

/* x viewed as (outer, n, inner) around dim. */
void mm_softmax_dims(const mm_tensor *x, int dim, int64_t *outer, int64_t *n,
                     int64_t *inner);

#endif
