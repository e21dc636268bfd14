/* Activations (torch.nn.functional): relu6, leaky_relu, prelu, elu, gelu,
 * silu, hardswish, hardsigmoid, mish, softplus.
 *
 * Each differentiable activation has a fused backward op (inputs: the
 * output's gradient and the forward's input; the forward's params), so a
 * training step makes one pass for it, as relu_backward does. Their
 * formulas, the reference kernels and infer are shared with elementwise.c;
 * params in elementwise_internal.h. */
#include "elementwise_internal.h"

#include <math.h>

/* ---- backward ----------------------------------------------------------- */

#define FUSED_BACKWARD(NAME)                                                   \
    static int NAME##_grad(const mm_node *n, mm_tensor *g, mm_tensor **gin) {  \
        return mm_apply2(&mm_op_##NAME##_backward, g, n->inputs[0],            \
                         &n->params, &gin[0]);                                 \
    }
FUSED_BACKWARD(relu6)
FUSED_BACKWARD(leaky_relu)
FUSED_BACKWARD(elu)
FUSED_BACKWARD(gelu)
FUSED_BACKWARD(silu)
FUSED_BACKWARD(hardswish)
FUSED_BACKWARD(hardsigmoid)
FUSED_BACKWARD(mish)
FUSED_BACKWARD(softplus)

/* prelu(x, w) = x > 0 ? x : w x, w broadcast over the channels:
 * dx = x > 0 ? g : w g (w g at 0, as PyTorch), dw = sum of (x > 0 ? 0 : x g)
 * down to w's shape. */
static int prelu_grad(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *x = n->inputs[0], *w = n->inputs[1], *pos, *t, *zero;
    MM_TRY(mm_gt_scalar(x, 0, &pos));
    if (n->needs_grad[0]) {
        MM_TRY(mm_mul(g, w, &t));
        MM_TRY(mm_where(pos, g, t, &gin[0]));
    }
    if (n->needs_grad[1]) {
        MM_TRY(mm_scalar(0, g->dtype, &zero));
        MM_TRY(mm_mul(g, x, &t));
        MM_TRY(mm_where(pos, zero, t, &t));
        MM_TRY(mm_sum_to_shape(t, w->ndim, w->shape, &gin[1]));
    }
    return 0;
}

/* ---- op definitions ----------------------------------------------------- */

#define ACTIVATION_OP(NAME, CODE)                                              \
    const mm_op mm_op_##NAME = {                                               \
        .name = #NAME,                                                         \
        .n_inputs = 1,                                                         \
        .code = CODE,                                                          \
        .infer = mm_ew_unary_infer,                                            \
        .reference = mm_ew_unary_reference,                                    \
        .kernel = {[MM_DEVICE_CPU] = mm_cpu_ew_unary},                         \
        .backward = NAME##_grad,                                               \
    };

/* inputs (grad, x); their own gradients are not supported */
#define ACTIVATION_BACKWARD_OP(NAME, CODE)                                     \
    const mm_op mm_op_##NAME##_backward = {                                    \
        .name = #NAME "_backward",                                             \
        .n_inputs = 2,                                                         \
        .code = CODE,                                                          \
        .infer = mm_ew_binary_infer,                                           \
        .reference = mm_ew_binary_reference,                                   \
        .kernel = {[MM_DEVICE_CPU] = mm_cpu_ew_binary},                        \
    };

ACTIVATION_OP(relu6, EW_RELU6)
ACTIVATION_OP(leaky_relu, EW_LEAKY_RELU)
ACTIVATION_OP(elu, EW_ELU)
ACTIVATION_OP(gelu, EW_GELU)
ACTIVATION_OP(silu, EW_SILU)
ACTIVATION_OP(hardswish, EW_HARDSWISH)
ACTIVATION_OP(hardsigmoid, EW_HARDSIGMOID)
ACTIVATION_OP(mish, EW_MISH)
ACTIVATION_OP(softplus, EW_SOFTPLUS)

ACTIVATION_BACKWARD_OP(relu6, EW_RELU6_BW)
ACTIVATION_BACKWARD_OP(leaky_relu, EW_LEAKY_RELU_BW)
ACTIVATION_BACKWARD_OP(elu, EW_ELU_BW)
ACTIVATION_BACKWARD_OP(gelu, EW_GELU_BW)
ACTIVATION_BACKWARD_OP(silu, EW_SILU_BW)
ACTIVATION_BACKWARD_OP(hardswish, EW_HARDSWISH_BW)
ACTIVATION_BACKWARD_OP(hardsigmoid, EW_HARDSIGMOID_BW)
ACTIVATION_BACKWARD_OP(mish, EW_MISH_BW)
ACTIVATION_BACKWARD_OP(softplus, EW_SOFTPLUS_BW)

/* inputs (x, weight broadcast to x: [1, C, 1, ...] or a scalar) */
const mm_op mm_op_prelu = {
    .name = "prelu",
    .n_inputs = 2,
    .code = EW_PRELU,
    .infer = mm_ew_binary_infer,
    .reference = mm_ew_binary_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_ew_binary},
    .backward = prelu_grad,
};

/* ---- public wrappers ---------------------------------------------------- */

static int apply_activation(const mm_op *op, mm_tensor *x,
                            const mm_op_params *p, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    return mm_apply1(op, x, p, out);
}

int mm_relu6(mm_tensor *x, mm_tensor **out) {
    return apply_activation(&mm_op_relu6, x, NULL, out);
}

int mm_leaky_relu(mm_tensor *x, double negative_slope, mm_tensor **out) {
    mm_op_params p = {.f = {negative_slope}};
    return apply_activation(&mm_op_leaky_relu, x, &p, out);
}

int mm_elu(mm_tensor *x, double alpha, mm_tensor **out) {
    mm_op_params p = {.f = {alpha}};
    return apply_activation(&mm_op_elu, x, &p, out);
}

int mm_gelu(mm_tensor *x, mm_gelu_approximate approximate, mm_tensor **out) {
    if (approximate != MM_GELU_NONE && approximate != MM_GELU_TANH)
        return mm_error_set(MM_EINVAL,
                            "gelu: approximate must be MM_GELU_NONE or "
                            "MM_GELU_TANH (got %d)",
                            (int)approximate);
    mm_op_params p = {.i = {approximate}};
    return apply_activation(&mm_op_gelu, x, &p, out);
}

int mm_silu(mm_tensor *x, mm_tensor **out) {
    return apply_activation(&mm_op_silu, x, NULL, out);
}

int mm_hardswish(mm_tensor *x, mm_tensor **out) {
    return apply_activation(&mm_op_hardswish, x, NULL, out);
}

int mm_hardsigmoid(mm_tensor *x, mm_tensor **out) {
    return apply_activation(&mm_op_hardsigmoid, x, NULL, out);
}

int mm_mish(mm_tensor *x, mm_tensor **out) {
    return apply_activation(&mm_op_mish, x, NULL, out);
}

int mm_softplus(mm_tensor *x, double beta, double threshold, mm_tensor **out) {
    if (beta == 0 || isnan(beta))
        return mm_error_set(MM_EINVAL,
                            "softplus: beta must be nonzero (got %g)", beta);
    mm_op_params p = {.f = {beta, threshold}};
    return apply_activation(&mm_op_softplus, x, &p, out);
}

int mm_prelu(mm_tensor *x, mm_tensor *weight, mm_tensor **out) {
    if (!x || !weight)
        return mm_error_set(MM_EINVAL, "prelu: tensor is NULL");
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "prelu: expected a floating-point tensor, got %s",
                            mm_dtype_name(x->dtype));
    if (weight->dtype != x->dtype)
        return mm_error_set(MM_ETYPE,
                            "prelu: weight has dtype %s, expected %s like the "
                            "input",
                            mm_dtype_name(weight->dtype),
                            mm_dtype_name(x->dtype));
    if (weight->ndim > 1)
        return mm_error_set(MM_EINVAL,
                            "prelu: weight has %d dims, expected a scalar or "
                            "1-D tensor",
                            weight->ndim);
    int64_t channels = x->ndim >= 2 ? x->shape[1] : 1;
    if (weight->numel != 1 && weight->numel != channels) {
        char s[256];
        return mm_error_set(MM_EINVAL,
                            "prelu: weight has %lld elements, expected 1 or "
                            "the %lld channels of input %s",
                            (long long)weight->numel, (long long)channels,
                            mm_shape_format(x->ndim, x->shape, s, sizeof s));
    }
    /* the weight as [1, C, 1, ...] (or x's rank of ones), so it broadcasts
     * over dim 1 and the output keeps x's shape */
    int64_t shape[MM_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        shape[d] = d == 1 ? weight->numel : 1;
    mm_tensor *w;
    MM_TRY(mm_reshape(weight, x->ndim, shape, &w));
    return mm_apply2(&mm_op_prelu, x, w, NULL, out);
}
