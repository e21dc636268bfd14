/* mm/autograd.h - reverse-mode automatic differentiation (an eager tape).
 *
 * Define-by-run, as PyTorch: when grad mode is on and an op's input requires
 * grad, mm_op_apply records an mm_node (see <mm/ops.h>) on the output's
 * grad_fn: the op, its inputs (kept alive by the node), its scalar params and
 * whatever the kernel saved. The graph is therefore owned by the tensors at
 * its ends and dies with them (usually when the iteration's pool closes).
 *
 * mm_backward(loss) walks the nodes reachable from loss in reverse creation
 * order and accumulates with +=: into the node of each non-leaf input, and
 * into `grad` of each leaf that requires grad (the parameters). Leaf grads
 * accumulate across backward calls (gradient accumulation) until
 * mm_tensor_zero_grad. The graph is kept after backward (PyTorch's
 * retain_graph=True), so backward may run twice; gradients of gradients are
 * not supported (backward runs with grad mode off).
 *
 * Views take part: the gradient of a reshape/permute/narrow/expand flows back
 * to its base. In-place ops are refused on tensors that require grad while
 * grad mode is on (there is no version counter to catch stale saved values).
 *
 * Grad mode is per thread: mm_no_grad_push()/mm_no_grad_pop() around eval
 * and weight init, like `with torch.no_grad():`. */
#ifndef MM_AUTOGRAD_H
#define MM_AUTOGRAD_H

#include <stdbool.h>

#include "mm/ops.h"
#include "mm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Leaves only, float dtypes only ("requires_grad: only floating-point
 * tensors can require gradients (got i64)"). */
MM_API int mm_tensor_set_requires_grad(mm_tensor *t,
                                       bool requires_grad) MM_NODISCARD;
/* No grad_fn: made by the user, not by a recorded op. */
MM_API bool mm_tensor_is_leaf(const mm_tensor *t);
/* The accumulated gradient of a leaf (borrowed; NULL before backward). */
MM_API mm_tensor *mm_tensor_grad(const mm_tensor *t);
/* Drop the gradient (PyTorch's zero_grad(set_to_none=True)). */
MM_API void mm_tensor_zero_grad(mm_tensor *t);

/* A view of x's data that is a leaf with requires_grad off. */
MM_API int mm_detach(mm_tensor *x, mm_tensor **out) MM_NODISCARD;

/* d(loss)/d(leaf) for every leaf reachable from loss; loss has one element. */
MM_API int mm_backward(mm_tensor *loss) MM_NODISCARD;
/* Same with an explicit gradient of `out` (same shape as out). */
MM_API int mm_backward_with_grad(mm_tensor *out, mm_tensor *grad) MM_NODISCARD;

/* Grad mode, per thread (on by default). Pushes nest up to 64 deep. */
MM_API bool mm_grad_enabled(void);
MM_API void mm_grad_mode_push(bool enabled);
MM_API void mm_grad_mode_pop(void);
MM_API void mm_no_grad_push(void); /* mm_grad_mode_push(false) */
MM_API void mm_no_grad_pop(void);

/* ---- gradcheck ---------------------------------------------------------- */

/* Builds the output from the inputs, with ops only (it is called with grad
 * mode on and off). */
typedef int (*mm_gradcheck_fn)(void *ctx, mm_tensor *const *inputs, int n,
                               mm_tensor **out);

/* Compare the analytic Jacobian (one backward per output element) with
 * central differences (f(x + eps) - f(x - eps)) / 2 eps, element by element,
 * for every input that requires grad (those must be f64 and must not
 * overlap themselves). Passes when |analytic - numeric| <= atol + rtol *
 * |numeric| everywhere; otherwise MM_EINVAL with the first mismatch:
 * "gradcheck: d out[1] / d input 0 [2]: analytic 0.5, numeric 0.7".
 * Meant for small tensors (outputs up to 4096 elements). Typical: eps 1e-6,
 * atol 1e-5, rtol 1e-3. The inputs keep the grads they had before. */
MM_API int mm_gradcheck(mm_gradcheck_fn fn, void *ctx, mm_tensor *const *inputs,
                        int n, double eps, double atol,
                        double rtol) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
