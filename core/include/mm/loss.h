/* mm/loss.h - loss functions.
 *
 * The losses of torch.nn.functional with torch's arguments, defaults and
 * numbers: cross_entropy (class indices or class probabilities, class
 * weights, ignore_index, label smoothing), nll_loss, binary_cross_entropy
 * (with and without logits), mse_loss, l1_loss, smooth_l1_loss. Each
 * returns the per-element loss (MM_LOSS_NONE) or its mean or sum as a 0-dim
 * tensor, differentiable in the input (and in float targets, weights and
 * pos_weight where torch's is). Class dims follow torch: input (N, C) or
 * (N, C, d1, ...) or unbatched (C), index targets (N) / (N, d1, ...) / (). */
#ifndef MM_LOSS_H
#define MM_LOSS_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- losses ---------------------------------------------------------------
 */

typedef enum mm_loss_reduction {
    MM_LOSS_NONE,
    MM_LOSS_MEAN, /* the default of torch */
    MM_LOSS_SUM,
} mm_loss_reduction;

/* torch's default ignore_index. */
#define MM_IGNORE_INDEX (-100)

/* F.cross_entropy. target: i64 class indices (input's shape without the
 * class dim) or class probabilities of input's shape and dtype. weight (C)
 * may be NULL. With indices, mean divides by the summed weight of the
 * targets that are not ignore_index (NaN when all are), and label smoothing
 * adds label_smoothing / C times the weighted sum of -log p over the
 * classes, as torch 1.13. With probabilities, mean divides by N * d1 * ...
 * and ignore_index plays no part. */
MM_API int mm_cross_entropy(mm_tensor *input, mm_tensor *target,
                            mm_tensor *weight, int64_t ignore_index,
                            mm_loss_reduction reduction, double label_smoothing,
                            mm_tensor **out) MM_NODISCARD;
/* F.nll_loss on log-probabilities; index targets only. */
MM_API int mm_nll_loss(mm_tensor *input, mm_tensor *target, mm_tensor *weight,
                       int64_t ignore_index, mm_loss_reduction reduction,
                       mm_tensor **out) MM_NODISCARD;
/* F.binary_cross_entropy on probabilities; each log is clamped to >= -100.
 * weight (may be NULL) broadcasts to input. */
MM_API int mm_binary_cross_entropy(mm_tensor *input, mm_tensor *target,
                                   mm_tensor *weight,
                                   mm_loss_reduction reduction,
                                   mm_tensor **out) MM_NODISCARD;
/* F.binary_cross_entropy_with_logits, in the stable form (1 - t) x +
 * (1 + (pw - 1) t) (log(1 + exp(-|x|)) + max(-x, 0)); weight and pos_weight
 * (may be NULL) broadcast to input (pos_weight along the last dim). */
MM_API int mm_binary_cross_entropy_with_logits(mm_tensor *input,
                                               mm_tensor *target,
                                               mm_tensor *weight,
                                               mm_tensor *pos_weight,
                                               mm_loss_reduction reduction,
                                               mm_tensor **out) MM_NODISCARD;
/* F.mse_loss, F.l1_loss, F.smooth_l1_loss (beta 0 is l1). Unlike torch,
 * target must have input's shape (torch broadcasts with a warning). */
MM_API int mm_mse_loss(mm_tensor *input, mm_tensor *target,
                       mm_loss_reduction reduction,
                       mm_tensor **out) MM_NODISCARD;
MM_API int mm_l1_loss(mm_tensor *input, mm_tensor *target,
                      mm_loss_reduction reduction,
                      mm_tensor **out) MM_NODISCARD;
MM_API int mm_smooth_l1_loss(mm_tensor *input, mm_tensor *target,
                             mm_loss_reduction reduction, double beta,
                             mm_tensor **out) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
