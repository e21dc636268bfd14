/* Elementwise unary ops: neg, exp, log, relu, sigmoid, tanh. exp, sigmoid
 * and tanh keep their output for backward (MM_OP_FLAG_SAVE_OUTPUT). */
#include "elementwise_internal.h"

#include <math.h>
#include <string.h>

static int unary_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int code = ctx->op->code;
    if (code != MM_UN_NEG && code != MM_UN_RELU && !mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point tensor, got %s",
                            ctx->op->name, mm_dtype_name(x->dtype));
    if (x->dtype == MM_BOOL)
        return mm_error_set(MM_ETYPE, "%s: not supported for bool tensors",
                            ctx->op->name);
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    mm_ew_infer_format(ctx);
    return 0;
}

static double un_f64(int code, double x) {
    switch (code) {
    case MM_UN_NEG:
        return -x;
    case MM_UN_EXP:
        return exp(x);
    case MM_UN_LOG:
        return log(x);
    case MM_UN_RELU:
        return x < 0 ? 0 : x; /* NaN and -0.0 pass through, as torch.relu */
    case MM_UN_SIGMOID:
        return 1 / (1 + exp(-x));
    case MM_UN_TANH:
        return tanh(x);
    default:
        return 0;
    }
}

static int unary_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *y = ctx->out;
    int code = ctx->op->code;
    bool is_float = mm_dtype_is_float(x->dtype);
    for (int64_t i = 0; i < y->numel; i++) {
        const char *p =
            (const char *)x->storage->data + mm_tensor_elem_offset(x, i);
        char *o = mm_ew_out_elem(y, i);
        if (is_float) {
            mm_store_f64(o, y->dtype, un_f64(code, mm_load_f64(p, x->dtype)));
        } else {
            int64_t v = mm_load_i64(p, x->dtype);
            mm_store_i64(o, y->dtype,
                         code == MM_UN_NEG ? (int64_t)(0 - (uint64_t)v)
                         : v > 0           ? v
                                           : 0);
        }
    }
    return 0;
}

static int neg_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    (void)n;
    return mm_neg(g, &gin[0]);
}

static int exp_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    return mm_mul(g, n->output, &gin[0]); /* d exp(x) = exp(x) */
}

static int log_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    return mm_div(g, n->inputs[0], &gin[0]);
}

static int relu_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    return mm_apply2(&mm_op_relu_backward, g, n->inputs[0], NULL, &gin[0]);
}

static int sigmoid_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    return mm_apply2(&mm_op_sigmoid_backward, g, n->output, NULL, &gin[0]);
}

static int tanh_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    return mm_apply2(&mm_op_tanh_backward, g, n->output, NULL, &gin[0]);
}

#define UNARY_OP(NAME, CODE, FLAGS, BACKWARD)                                  \
    const mm_op mm_op_##NAME = {                                               \
        .name = #NAME,                                                         \
        .n_inputs = 1,                                                         \
        .flags = FLAGS,                                                        \
        .code = CODE,                                                          \
        .infer = unary_infer,                                                  \
        .reference = unary_reference,                                          \
        .kernel = {[MM_DEVICE_CPU] = mm_cpu_unary},                            \
        .backward = BACKWARD,                                                  \
    };

UNARY_OP(neg, MM_UN_NEG, 0, neg_backward)
UNARY_OP(exp, MM_UN_EXP, MM_OP_FLAG_SAVE_OUTPUT, exp_backward)
UNARY_OP(log, MM_UN_LOG, 0, log_backward)
UNARY_OP(relu, MM_UN_RELU, 0, relu_backward)
UNARY_OP(sigmoid, MM_UN_SIGMOID, MM_OP_FLAG_SAVE_OUTPUT, sigmoid_backward)
UNARY_OP(tanh, MM_UN_TANH, MM_OP_FLAG_SAVE_OUTPUT, tanh_backward)

/* Integer inputs of the transcendental ops compute in f32, as in PyTorch. */
static int apply_float_unary(const mm_op *op, mm_tensor *x, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    if (!mm_dtype_is_float(x->dtype))
        MM_TRY(mm_to_dtype(x, MM_F32, &x));
    return mm_apply1(op, x, NULL, out);
}

static int apply_unary(const mm_op *op, mm_tensor *x, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    return mm_apply1(op, x, NULL, out);
}

int mm_neg(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_neg, x, out);
}
int mm_relu(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_relu, x, out);
}
int mm_exp(mm_tensor *x, mm_tensor **out) {
    return apply_float_unary(&mm_op_exp, x, out);
}
int mm_ln(mm_tensor *x, mm_tensor **out) {
    return apply_float_unary(&mm_op_log, x, out);
}
int mm_sigmoid(mm_tensor *x, mm_tensor **out) {
    return apply_float_unary(&mm_op_sigmoid, x, out);
}
int mm_tanh(mm_tensor *x, mm_tensor **out) {
    return apply_float_unary(&mm_op_tanh, x, out);
}
