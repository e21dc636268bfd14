/* mm/elementwise.h - elementwise math, comparisons, selection and
 * activations, with PyTorch's semantics.
 *
 * Binary functions broadcast (numpy rules) and promote dtypes as PyTorch's
 * result_type: the higher category wins (bool < integer < float), and a
 * 0-dim tensor only decides the dtype when its category is higher than the
 * other operand's. A `double` scalar argument acts as a Python number: an
 * integral value is an int, anything else a float, so an integer tensor
 * compared with or raised to 2.5 computes in f32, with 2 stays integer.
 *
 * Comparisons and logical functions give bool tensors. Transcendental
 * functions (log1p, sqrt, rsqrt, sin, cos, erf) compute integer inputs in
 * f32. Activations take floating-point tensors only, as PyTorch's.
 *
 * Every function on float tensors is differentiable (comparisons and
 * logical functions are not: their outputs are bool), with PyTorch's
 * conventions where the function has a kink: relu6'(0) = relu6'(6) = 0,
 * abs'(0) = 0, clamp passes the gradient at its bounds, maximum/minimum
 * split a tie 0.5/0.5, floor/ceil/round/sign have zero gradient.
 *
 * The ops behind these functions: core/ops/elementwise.c (math, pow,
 * maximum/minimum, comparisons, logical, where, clamp) and
 * core/ops/activation.c; CPU kernels in core/ops/cpu/elementwise_cpu.c. */
#ifndef MM_ELEMENTWISE_H
#define MM_ELEMENTWISE_H

#include "mm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arithmetic --------------------------------------------------------- */

/* torch.pow(a, b). Integer powers wrap like PyTorch's (an integer to a
 * negative power is 0 unless the base is 1 or -1); bool ** bool is an
 * error. */
MM_API int mm_pow(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
/* torch.pow(x, exponent): an integer tensor to a negative integral power is
 * an error, as in PyTorch. */
MM_API int mm_pow_scalar(mm_tensor *x, double exponent,
                         mm_tensor **out) MM_NODISCARD;
/* torch.maximum / torch.minimum: NaN propagates. */
MM_API int mm_maximum(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
MM_API int mm_minimum(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;

/* ---- comparisons (bool results) ------------------------------------------ */

/* a == b, a != b, a < b, a <= b, a > b, a >= b, computed in the promoted
 * dtype (an integer scalar converts to an integer tensor's dtype as in
 * PyTorch, wrapping: uint8 255 == -1). */
MM_API int mm_eq(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
MM_API int mm_ne(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
MM_API int mm_lt(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
MM_API int mm_le(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
MM_API int mm_gt(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
MM_API int mm_ge(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
MM_API int mm_eq_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
MM_API int mm_ne_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
MM_API int mm_lt_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
MM_API int mm_le_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
MM_API int mm_gt_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
MM_API int mm_ge_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;

/* ---- logical (any dtypes, nonzero is true; bool results) ----------------- */

MM_API int mm_logical_and(mm_tensor *a, mm_tensor *b,
                          mm_tensor **out) MM_NODISCARD;
MM_API int mm_logical_or(mm_tensor *a, mm_tensor *b,
                         mm_tensor **out) MM_NODISCARD;
MM_API int mm_logical_xor(mm_tensor *a, mm_tensor *b,
                          mm_tensor **out) MM_NODISCARD;
MM_API int mm_logical_not(mm_tensor *x, mm_tensor **out) MM_NODISCARD;

/* ---- selection ------------------------------------------------------------
 */

/* torch.where(cond, a, b): cond must be bool; a and b promote; all three
 * broadcast. */
MM_API int mm_where(mm_tensor *cond, mm_tensor *a, mm_tensor *b,
                    mm_tensor **out) MM_NODISCARD;
/* torch.clamp(x, min, max) = min(max(x, min), max) (so max wins when
 * min > max); NaN in x or a bound propagates. The dtype promotes with the
 * bounds (an integer tensor clamped to 0.5 is f32); an integral bound out
 * of an integer dtype's range is an error. */
MM_API int mm_clamp(mm_tensor *x, double min, double max,
                    mm_tensor **out) MM_NODISCARD;
MM_API int mm_clamp_min(mm_tensor *x, double min, mm_tensor **out) MM_NODISCARD;
MM_API int mm_clamp_max(mm_tensor *x, double max, mm_tensor **out) MM_NODISCARD;
/* With tensor bounds (broadcasting); either may be NULL, not both. */
MM_API int mm_clamp_tensor(mm_tensor *x, mm_tensor *min, mm_tensor *max,
                           mm_tensor **out) MM_NODISCARD;

/* ---- unary math ------------------------------------------------------------
 */

/* abs, sign, floor, ceil, round keep integer dtypes (floor/ceil/round of an
 * integer tensor is a copy); round is half to even (torch.round); sign(NaN)
 * is 0 as in PyTorch. */
MM_API int mm_abs(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_sign(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_floor(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_ceil(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_round(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_log1p(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_sqrt(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_rsqrt(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_sin(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_cos(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_erf(mm_tensor *x, mm_tensor **out) MM_NODISCARD;

/* ---- activations (torch.nn.functional) -------------------------------------
 */

/* min(max(x, 0), 6); integer tensors allowed (as hardtanh). */
MM_API int mm_relu6(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* x > 0 ? x : negative_slope * x (PyTorch's default slope: 0.01). */
MM_API int mm_leaky_relu(mm_tensor *x, double negative_slope,
                         mm_tensor **out) MM_NODISCARD;
/* x > 0 ? x : weight[c] * x, c the channel (dim 1; no channel dim when x
 * has fewer than 2 dims). weight: 0-dim or 1-D with 1 or C elements, of
 * x's dtype. */
MM_API int mm_prelu(mm_tensor *x, mm_tensor *weight,
                    mm_tensor **out) MM_NODISCARD;
/* x > 0 ? x : alpha * (exp(x) - 1) (default alpha 1). */
MM_API int mm_elu(mm_tensor *x, double alpha, mm_tensor **out) MM_NODISCARD;

typedef enum mm_gelu_approximate {
    MM_GELU_NONE, /* x * Phi(x), with erf */
    MM_GELU_TANH, /* the tanh approximation */
} mm_gelu_approximate;
MM_API int mm_gelu(mm_tensor *x, mm_gelu_approximate approximate,
                   mm_tensor **out) MM_NODISCARD;
/* x * sigmoid(x) */
MM_API int mm_silu(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* x * relu6(x + 3) / 6 */
MM_API int mm_hardswish(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* relu6(x + 3) / 6 */
MM_API int mm_hardsigmoid(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* x * tanh(softplus(x)) */
MM_API int mm_mish(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* log(1 + exp(beta x)) / beta, and x itself where beta x > threshold
 * (PyTorch's defaults: beta 1, threshold 20). beta must not be 0. */
MM_API int mm_softplus(mm_tensor *x, double beta, double threshold,
                       mm_tensor **out) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
