/* mm/loss.h - loss functions and bf16 autocast.
 *
 * The losses of torch.nn.functional with torch's arguments, defaults and
 * numbers: cross_entropy (class indices or class probabilities, class
 * weights, ignore_index, label smoothing), nll_loss, binary_cross_entropy
 * (with and without logits), mse_loss, l1_loss, smooth_l1_loss. Each
 * returns the per-element loss (MM_LOSS_NONE) or its mean or sum as a 0-dim
 * tensor, differentiable in the input (and in float targets, weights and
 * pos_weight where torch's is). Class dims follow torch: input (N, C) or
 * (N, C, d1, ...) or unbatched (C), index targets (N) / (N, d1, ...) / ().
 *
 * Autocast is torch.autocast('cpu', dtype=torch.bfloat16) for matmul,
 * linear and the convolutions: while a thread is inside mm_autocast_push,
 * their f32 operands are cast to bf16 by the to-dtype op (so autograd sees
 * the cast and f32 leaves get f32 gradients) and the op runs in bf16 (AMX
 * through oneDNN where the CPU has it); the output is bf16. f64 and other
 * dtypes are left alone. */
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

/* ---- autocast -------------------------------------------------------------
 */

/* Enter (push) or leave (pop) an autocast region on this thread; regions
 * nest up to 64 deep and the innermost wins. dtype: MM_BF16 turns autocast
 * on, MM_F32 turns it off inside (torch.autocast(enabled=False));
 * anything else is MM_EINVAL. Popping with nothing pushed does nothing. */
MM_API int mm_autocast_push(mm_dtype dtype) MM_NODISCARD;
MM_API void mm_autocast_pop(void);
/* Whether autocast is on for this thread (and to which dtype). */
MM_API bool mm_autocast_enabled(void);
MM_API mm_dtype mm_autocast_dtype(void);

#ifdef __cplusplus
}
#endif
#endif
