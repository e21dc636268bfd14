/* softmax and log_softmax along one dim, numerically stable (the row max is
 * subtracted before exp). Both keep their output for backward:
 *   softmax:     dx = y * (g - sum(g * y))
 *   log_softmax: dx = g - exp(y) * sum(g)
 * (sums along the dim), written with ops.
 *
 * Params: i[0] = dim (wrapped; 0 for a 0-dim tensor). Inputs contiguous. */
#include "norm_internal.h"

#include <math.h>
#include <string.h>

static int softmax_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point tensor, got %s",
                            ctx->op->name, mm_dtype_name(x->dtype));
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    return 0;
}

/* x viewed as (outer, n, inner) around the softmax dim. */
void mm_softmax_dims(const mm_tensor *x, int dim, int64_t *outer, int64_t *n,
                     int64_t *inner) {
    *outer = 1, *n = 1, *inner = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < dim)
            *outer *= x->shape[d];
        else if (d == dim)
            *n = x->shape[d];
        else
            *inner *= x->shape[d];
    }
}

static int softmax_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *y = ctx->out;
    bool log_ = ctx->op->code == 1;
    int64_t outer, n, inner;
    mm_softmax_dims(x, (int)ctx->params->i[0], &outer, &n, &inner);
    size_t es = mm_dtype_size(x->dtype);
    const char *xd = mm_tensor_data(x);
    char *yd = mm_tensor_data(y);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double mx = -INFINITY, sum = 0;
            for (int64_t k = 0; k < n; k++)
                mx = fmax(mx, mm_load_f64(xd + (base + k * inner) * (int64_t)es,
                                          x->dtype));
            for (int64_t k = 0; k < n; k++)
                sum += exp(mm_load_f64(xd + (base + k * inner) * (int64_t)es,
                                       x->dtype) -
                           mx);
            for (int64_t k = 0; k < n; k++) {
                int64_t off = (base + k * inner) * (int64_t)es;
                double v = mm_load_f64(xd + off, x->dtype) - mx;
                mm_store_f64(yd + off, y->dtype,
                             log_ ? v - log(sum) : exp(v) / sum);
            }
        }
    }
    return 0;
}

static int softmax_backward(const mm_node *node, mm_tensor *g,
                            mm_tensor **gin) {
    int dim = (int)node->params.i[0];
    int ndims = node->output->ndim ? 1 : 0;
    mm_tensor *y = node->output, *s, *t;
    if (node->op->code == 0) { /* y * (g - sum(g * y)) */
        MM_TRY(mm_mul(g, y, &t));
        MM_TRY(mm_sum(t, ndims, &dim, true, &s));
        MM_TRY(mm_sub(g, s, &t));
        return mm_mul(y, t, &gin[0]);
    }
    MM_TRY(mm_sum(g, ndims, &dim, true, &s)); /* g - exp(y) * sum(g) */
    MM_TRY(mm_exp(y, &t));
    MM_TRY(mm_mul(t, s, &t));
    return mm_sub(g, t, &gin[0]);
}

const mm_op mm_op_softmax = {
    .name = "softmax",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_SAVE_OUTPUT | MM_OP_FLAG_CONTIGUOUS,
    .code = 0,
    .infer = softmax_infer,
    .reference = softmax_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_softmax},
    .backward = softmax_backward,
};

const mm_op mm_op_log_softmax = {
    .name = "log_softmax",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_SAVE_OUTPUT | MM_OP_FLAG_CONTIGUOUS,
    .code = 1,
    .infer = softmax_infer,
    .reference = softmax_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_softmax},
    .backward = softmax_backward,
};

static int apply_softmax(const mm_op *op, mm_tensor *x, int dim,
                         mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    int d = 0;
    MM_TRY(mm_dim_wrap(op->name, dim, x->ndim, &d));
    mm_op_params p = {.i = {d}};
    return mm_apply1(op, x, &p, out);
}

int mm_softmax(mm_tensor *x, int dim, mm_tensor **out) {
    return apply_softmax(&mm_op_softmax, x, dim, out);
}

int mm_log_softmax(mm_tensor *x, int dim, mm_tensor **out) {
    return apply_softmax(&mm_op_log_softmax, x, dim, out);
}
