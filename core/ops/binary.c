/* Elementwise binary ops with broadcasting: add, sub (with alpha), mul, div,
 * and the fused backward helpers of relu, sigmoid and tanh.
 *
 * Params: f[0] = alpha (add, sub). Inputs have one dtype (the public
 * wrappers promote first); the output has it too. */
#include "elementwise_internal.h"

#include <math.h>
#include <string.h>

int mm_broadcast_shapes(const char *op, int na, const int64_t *a, int nb,
                        const int64_t *b, int *nout, int64_t *out) {
    int n = na > nb ? na : nb;
    int64_t res[MM_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char x[256], y[256];
            return mm_error_set(MM_EINVAL,
                                "%s: shapes %s and %s cannot broadcast", op,
                                mm_shape_format(na, a, x, sizeof x),
                                mm_shape_format(nb, b, y, sizeof y));
        }
        res[i] = sa == 1 ? sb : sa;
    }
    *nout = n;
    memcpy(out, res, (size_t)n * sizeof *out);
    return 0;
}

static int binary_infer(mm_op_ctx *ctx) {
    const mm_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    const char *name = ctx->op->name;
    if (a->dtype != b->dtype)
        return mm_error_set(MM_ETYPE, "%s: dtypes %s and %s differ", name,
                            mm_dtype_name(a->dtype), mm_dtype_name(b->dtype));
    if (ctx->op->code >= MM_BIN_RELU_BW && !mm_dtype_is_float(a->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected floating-point tensors, got %s", name,
                            mm_dtype_name(a->dtype));
    MM_TRY(mm_broadcast_shapes(name, a->ndim, a->shape, b->ndim, b->shape,
                               &ctx->out_ndim, ctx->out_shape));
    ctx->out_dtype = a->dtype;
    mm_ew_infer_format(ctx);
    return 0;
}

/* ---- reference: one element at a time, in double (int64 for integers) --- */

static double bin_f64(int code, double a, double b, double alpha) {
    switch (code) {
    case MM_BIN_ADD:
        return a + alpha * b;
    case MM_BIN_SUB:
        return a - alpha * b;
    case MM_BIN_MUL:
        return a * b;
    case MM_BIN_DIV:
        return a / b;
    case MM_BIN_RELU_BW:
        return b > 0 ? a : 0;
    case MM_BIN_SIGMOID_BW:
        return a * b * (1 - b);
    case MM_BIN_TANH_BW:
        return a * (1 - b * b);
    default:
        return 0;
    }
}

static int64_t bin_i64(int code, int64_t a, int64_t b, int64_t alpha) {
    uint64_t ua = (uint64_t)a, ub = (uint64_t)b,
             ual = (uint64_t)alpha; /* wrap, no UB */
    switch (code) {
    case MM_BIN_ADD:
        return (int64_t)(ua + ual * ub);
    case MM_BIN_SUB:
        return (int64_t)(ua - ual * ub);
    case MM_BIN_MUL:
        return (int64_t)(ua * ub);
    default:
        return 0;
    }
}

/* Strides of t broadcast against `out` (0 on broadcast dims). */
static void broadcast_strides(const mm_tensor *t, const mm_tensor *out,
                              int64_t *st) {
    int lead = out->ndim - t->ndim;
    for (int d = 0; d < out->ndim; d++) {
        int e = d - lead;
        st[d] = e < 0 || t->shape[e] == 1 ? 0 : t->stride[e];
    }
}

static int binary_reference(mm_op_ctx *ctx) {
    const mm_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    int64_t sa[MM_MAX_DIMS], sb[MM_MAX_DIMS];
    broadcast_strides(a, out, sa);
    broadcast_strides(b, out, sb);
    size_t es = mm_dtype_size(out->dtype);
    bool is_float = mm_dtype_is_float(out->dtype);
    double alpha = ctx->params->f[0];
    for (int64_t i = 0; i < out->numel; i++) {
        int64_t oa = a->offset, ob = b->offset, rem = i;
        for (int d = out->ndim - 1; d >= 0; d--) {
            int64_t k = rem % out->shape[d];
            rem /= out->shape[d];
            oa += k * sa[d];
            ob += k * sb[d];
        }
        const char *pa = (const char *)a->storage->data + oa * (int64_t)es;
        const char *pb = (const char *)b->storage->data + ob * (int64_t)es;
        char *po = mm_ew_out_elem(out, i);
        if (is_float)
            mm_store_f64(po, out->dtype,
                         bin_f64(ctx->op->code, mm_load_f64(pa, a->dtype),
                                 mm_load_f64(pb, b->dtype), alpha));
        else
            mm_store_i64(po, out->dtype,
                         bin_i64(ctx->op->code, mm_load_i64(pa, a->dtype),
                                 mm_load_i64(pb, b->dtype), (int64_t)alpha));
    }
    return 0;
}

/* ---- backward ----------------------------------------------------------- */

/* The gradient of a broadcast input: g summed down to the input's shape. */
static int to_input(mm_tensor *g, const mm_tensor *x, mm_tensor **out) {
    return mm_sum_to_shape(g, x->ndim, x->shape, out);
}

static int add_sub_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    double alpha = n->params.f[0];
    if (n->op->code == MM_BIN_SUB)
        alpha = -alpha;
    if (n->needs_grad[0])
        MM_TRY(to_input(g, n->inputs[0], &gin[0]));
    if (n->needs_grad[1]) {
        mm_tensor *gb = g;
        if (alpha != 1)
            MM_TRY(mm_mul_scalar(g, alpha, &gb));
        MM_TRY(to_input(gb, n->inputs[1], &gin[1]));
    }
    return 0;
}

static int mul_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *t;
    if (n->needs_grad[0]) {
        MM_TRY(mm_mul(g, n->inputs[1], &t));
        MM_TRY(to_input(t, n->inputs[0], &gin[0]));
    }
    if (n->needs_grad[1]) {
        MM_TRY(mm_mul(g, n->inputs[0], &t));
        MM_TRY(to_input(t, n->inputs[1], &gin[1]));
    }
    return 0;
}

static int div_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *a = n->inputs[0], *b = n->inputs[1], *ga, *t;
    MM_TRY(mm_div(g, b, &ga)); /* g / b */
    if (n->needs_grad[0])
        MM_TRY(to_input(ga, a, &gin[0]));
    if (n->needs_grad[1]) { /* -g a / b^2 = -(g / b) * (a / b) */
        MM_TRY(mm_div(a, b, &t));
        MM_TRY(mm_mul(ga, t, &t));
        MM_TRY(mm_neg(t, &t));
        MM_TRY(to_input(t, b, &gin[1]));
    }
    return 0;
}

#define BINARY_OP(NAME, CODE, BACKWARD)                                        \
    const mm_op mm_op_##NAME = {                                               \
        .name = #NAME,                                                         \
        .n_inputs = 2,                                                         \
        .code = CODE,                                                          \
        .infer = binary_infer,                                                 \
        .reference = binary_reference,                                         \
        .kernel = {[MM_DEVICE_CPU] = mm_cpu_binary},                           \
        .backward = BACKWARD,                                                  \
    };

BINARY_OP(add, MM_BIN_ADD, add_sub_backward)
BINARY_OP(sub, MM_BIN_SUB, add_sub_backward)
BINARY_OP(mul, MM_BIN_MUL, mul_backward)
BINARY_OP(div, MM_BIN_DIV, div_backward)
/* inputs (grad, x) / (grad, y); their own gradients are not supported */
BINARY_OP(relu_backward, MM_BIN_RELU_BW, NULL)
BINARY_OP(sigmoid_backward, MM_BIN_SIGMOID_BW, NULL)
BINARY_OP(tanh_backward, MM_BIN_TANH_BW, NULL)

/* ---- public wrappers ---------------------------------------------------- */

static int category(mm_dtype dt) {
    return dt == MM_BOOL ? 0 : mm_dtype_is_float(dt) ? 2 : 1;
}

/* PyTorch's result_type for two tensors: a 0-dim tensor only decides the
 * dtype when its category (bool < int < float) is higher. */
static mm_dtype result_type(const mm_tensor *a, const mm_tensor *b) {
    bool za = a->ndim == 0, zb = b->ndim == 0;
    if (za == zb)
        return mm_dtype_promote(a->dtype, b->dtype);
    const mm_tensor *dim = za ? b : a, *zero = za ? a : b;
    return category(zero->dtype) > category(dim->dtype) ? zero->dtype
                                                        : dim->dtype;
}

static int apply_binary(const mm_op *op, mm_tensor *a, mm_tensor *b,
                        double alpha, bool true_div, mm_tensor **out) {
    if (!a || !b)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    mm_dtype dt = result_type(a, b);
    if (true_div && !mm_dtype_is_float(dt))
        dt = MM_F32;
    if (alpha != 1 && !mm_dtype_is_float(dt) && alpha != floor(alpha))
        return mm_error_set(MM_ETYPE,
                            "%s: alpha %g must be integral for %s tensors",
                            op->name, alpha, mm_dtype_name(dt));
    if (op->code == MM_BIN_SUB && dt == MM_BOOL)
        return mm_error_set(MM_ETYPE,
                            "sub: subtracting bool tensors is not supported");
    if (a->dtype != dt)
        MM_TRY(mm_to_dtype(a, dt, &a));
    if (b->dtype != dt)
        MM_TRY(mm_to_dtype(b, dt, &b));
    mm_op_params p = {.f = {alpha}};
    return mm_apply2(op, a, b, &p, out);
}

int mm_add(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    return apply_binary(&mm_op_add, a, b, 1, false, out);
}
int mm_sub(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    return apply_binary(&mm_op_sub, a, b, 1, false, out);
}
int mm_add_alpha(mm_tensor *a, mm_tensor *b, double alpha, mm_tensor **out) {
    return apply_binary(&mm_op_add, a, b, alpha, false, out);
}
int mm_sub_alpha(mm_tensor *a, mm_tensor *b, double alpha, mm_tensor **out) {
    return apply_binary(&mm_op_sub, a, b, alpha, false, out);
}
int mm_mul(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    return apply_binary(&mm_op_mul, a, b, 1, false, out);
}
int mm_div(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    return apply_binary(&mm_op_div, a, b, 1, true, out);
}

/* A 0-dim tensor for a Python-style scalar next to tensor a. */
static int scalar_for(const char *op, const mm_tensor *a, double s,
                      mm_tensor **out) {
    if (!a)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op);
    mm_dtype dt = a->dtype;
    if (!mm_dtype_is_float(dt) && s != floor(s))
        dt = MM_F32;
    else if (dt == MM_BOOL && s != 0 && s != 1)
        dt = MM_I64;
    return mm_scalar(s, dt, out);
}

int mm_add_scalar(mm_tensor *a, double s, mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(scalar_for("add", a, s, &t));
    return mm_add(a, t, out);
}
int mm_sub_scalar(mm_tensor *a, double s, mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(scalar_for("sub", a, s, &t));
    return mm_sub(a, t, out);
}
int mm_mul_scalar(mm_tensor *a, double s, mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(scalar_for("mul", a, s, &t));
    return mm_mul(a, t, out);
}
int mm_div_scalar(mm_tensor *a, double s, mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(scalar_for("div", a, s, &t));
    return mm_div(a, t, out);
}

/* ---- in place ----------------------------------------------------------- */

static const mm_op *const binary_by_id[] = {
    [MM_OP_ADD] = &mm_op_add,
    [MM_OP_SUB] = &mm_op_sub,
    [MM_OP_MUL] = &mm_op_mul,
    [MM_OP_DIV] = &mm_op_div,
};

int mm_binary_into(mm_op_id id, mm_tensor *out, mm_tensor *a, mm_tensor *b,
                   double alpha) {
    MM_ASSERT(id >= MM_OP_ADD && id <= MM_OP_DIV);
    const mm_op *op = binary_by_id[id];
    mm_tensor *in[2] = {a, b};
    mm_op_params p = {.f = {alpha}};
    mm_op_ctx ctx = {.op = op, .n_inputs = 2, .inputs = in, .params = &p};
    MM_TRY(binary_infer(&ctx));
    if (ctx.out_ndim != out->ndim ||
        memcmp(ctx.out_shape, out->shape,
               (size_t)out->ndim * sizeof *out->shape) != 0 ||
        ctx.out_dtype != out->dtype) {
        char x[256], y[256];
        return mm_error_set(
            MM_EINVAL, "%s_: result shape %s does not fit %s", op->name,
            mm_shape_format(ctx.out_ndim, ctx.out_shape, x, sizeof x),
            mm_shape_format(out->ndim, out->shape, y, sizeof y));
    }
    ctx.out = out;
    int rc = mm_ops_reference() ? MM_EUNSUPPORTED : mm_cpu_binary(&ctx);
    if (rc == MM_EUNSUPPORTED) {
        mm_error_clear();
        rc = binary_reference(&ctx);
    }
    return rc;
}

int mm_tensor_add_(mm_tensor *t, mm_tensor *other, double alpha) {
    if (!t || !other)
        return mm_error_set(MM_EINVAL, "add_: tensor is NULL");
    MM_TRY(mm_check_inplace("add_", t));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    int rc = 0;
    if (other->dtype != t->dtype) {
        mm_no_grad_push();
        rc = mm_to_dtype(other, t->dtype, &other);
        mm_no_grad_pop();
    }
    if (rc == 0)
        rc = mm_binary_into(MM_OP_ADD, t, t, other, alpha);
    mm_pool_close(pool);
    return rc;
}

int mm_tensor_mul_scalar_(mm_tensor *t, double s) {
    if (!t)
        return mm_error_set(MM_EINVAL, "mul_: tensor is NULL");
    MM_TRY(mm_check_inplace("mul_", t));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *sc;
    int rc = mm_scalar(s, t->dtype, &sc);
    if (rc == 0)
        rc = mm_binary_into(MM_OP_MUL, t, t, sc, 1);
    mm_pool_close(pool);
    return rc;
}
