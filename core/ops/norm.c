/* Normalisation: batch_norm, layer_norm, group_norm, instance_norm.
 *
 * All four view the input as x (A, C, B) and normalise each c over its A * B
 * values, with two ops:
 *   moments   x (A, C, B) -> (2, C): mean and biased variance;
 *   normalize x (A, C, B), stats (2, C) -> (x - mean) / sqrt(var + eps).
 * batch_norm is (N, C, H*W), layer_norm (1, rows, prod(normalized_shape)),
 * group_norm (1, N*G, C/G*H*W), instance_norm (1, N*C, H*W). In training the
 * stats come from moments and the gradient flows through both ops (which
 * gives the textbook batch-norm backward); in eval they are the running
 * stats. The affine weight and bias are a broadcast mul and add.
 *
 * moments keeps its output (the mean) for backward; normalize keeps its
 * output (x-hat) and saves rstd = 1 / sqrt(var + eps) (C). Params of
 * normalize: f[0] = eps.
 *
 * x is contiguous or channels-last (mm_norm_rows: a channels-last
 * [N, C, H, W] reshaped to (N, C, H*W) is a view, stored as rows
 * [N*H*W, C]); outputs of x's shape take x's layout, so batch norm keeps a
 * channels-last input channels-last, as PyTorch's. The reference kernels
 * read and write through the strides. */
#include "norm_internal.h"

#include <math.h>
#include <string.h>

static int float_check(const char *op, const mm_tensor *x) {
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point tensor, got %s", op,
                            mm_dtype_name(x->dtype));
    return 0;
}

/* Byte offset of element (a, c, b) of the 3-D t from its data. */
static int64_t off3(const mm_tensor *t, int64_t a, int64_t c, int64_t b) {
    return (a * t->stride[0] + c * t->stride[1] + b * t->stride[2]) *
           (int64_t)mm_dtype_size(t->dtype);
}

static double ld3(const mm_tensor *t, int64_t a, int64_t c, int64_t b) {
    return mm_load_f64((const char *)mm_tensor_data(t) + off3(t, a, c, b),
                       t->dtype);
}

static void st3(mm_tensor *t, int64_t a, int64_t c, int64_t b, double v) {
    mm_store_f64((char *)mm_tensor_data(t) + off3(t, a, c, b), t->dtype, v);
}

static mm_memory_format layout_of(const mm_tensor *x) {
    return mm_norm_rows(x) ? MM_FORMAT_CHANNELS_LAST : MM_FORMAT_CONTIGUOUS;
}

static int moments_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    MM_TRY(float_check("moments", x));
    if (x->ndim != 3)
        return mm_error_set(MM_EINVAL, "moments: input has %d dims, expected 3",
                            x->ndim);
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = 2;
    ctx->out_shape[0] = 2;
    ctx->out_shape[1] = x->shape[1];
    return 0;
}

static int moments_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    int64_t A = x->shape[0], C = x->shape[1], B = x->shape[2];
    double n = (double)(A * B);
    for (int64_t c = 0; c < C; c++) {
        double sum = 0, sq = 0;
        for (int64_t a = 0; a < A; a++)
            for (int64_t b = 0; b < B; b++)
                sum += ld3(x, a, c, b);
        double mean = sum / n;
        for (int64_t a = 0; a < A; a++)
            for (int64_t b = 0; b < B; b++) {
                double d = ld3(x, a, c, b) - mean;
                sq += d * d;
            }
        mm_st(out, c, mean);
        mm_st(out, C + c, sq / n);
    }
    return 0;
}

/* The per-channel (C) vector v as (1, C, 1), to broadcast against x. */
static int chan(mm_tensor *v, int64_t C, mm_tensor **out) {
    return mm_reshape(v, 3, (int64_t[]){1, C, 1}, out);
}

/* d mean / dx = 1/n, d var / dx = 2 (x - mean) / n. */
static int moments_backward(const mm_node *node, mm_tensor *g,
                            mm_tensor **gin) {
    mm_tensor *x = node->inputs[0];
    int64_t C = x->shape[1];
    double n = (double)(x->shape[0] * x->shape[2]);
    mm_tensor *gm, *gv, *mean, *t;
    MM_TRY(mm_select(g, 0, 0, &gm));
    MM_TRY(mm_select(g, 0, 1, &gv));
    MM_TRY(mm_select(node->output, 0, 0, &mean));
    MM_TRY(chan(gm, C, &gm));
    MM_TRY(chan(gv, C, &gv));
    MM_TRY(chan(mean, C, &mean));
    MM_TRY(mm_sub(x, mean, &t));
    MM_TRY(mm_mul(t, gv, &t));
    MM_TRY(mm_add_alpha(gm, t, 2.0, &t));
    MM_TRY(mm_mul_scalar(t, 1.0 / n, &t));
    return mm_expand(t, 3, x->shape, &gin[0]);
}

const mm_op mm_op_moments = {
    .name = "moments",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_SAVE_OUTPUT | MM_OP_FLAG_CONTIGUOUS |
             MM_OP_FLAG_CHANNELS_LAST,
    .infer = moments_infer,
    .reference = moments_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_moments},
    .backward = moments_backward,
};

static int normalize_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *s = ctx->inputs[1];
    MM_TRY(float_check(ctx->op->name, x));
    if (x->ndim != 3)
        return mm_error_set(MM_EINVAL, "%s: input has %d dims, expected 3",
                            ctx->op->name, x->ndim);
    if (s->dtype != x->dtype)
        return mm_error_set(MM_ETYPE, "%s: dtypes %s and %s differ",
                            ctx->op->name, mm_dtype_name(x->dtype),
                            mm_dtype_name(s->dtype));
    if (s->ndim != 2 || s->shape[0] != 2 || s->shape[1] != x->shape[1]) {
        char a[128];
        return mm_error_set(
            MM_EINVAL, "%s: stats have shape %s, expected [2, %lld]",
            ctx->op->name, mm_shape_format(s->ndim, s->shape, a, sizeof a),
            (long long)x->shape[1]);
    }
    for (int i = 2; i < ctx->n_inputs; i++) {
        const mm_tensor *v = ctx->inputs[i];
        if (v->dtype != x->dtype)
            return mm_error_set(MM_ETYPE, "%s: dtypes %s and %s differ",
                                ctx->op->name, mm_dtype_name(x->dtype),
                                mm_dtype_name(v->dtype));
        if (v->ndim != 1 || v->shape[0] != x->shape[1]) {
            char a[128];
            return mm_error_set(MM_EINVAL,
                                "%s: %s has shape %s, expected [%lld]",
                                ctx->op->name, i == 2 ? "weight" : "bias",
                                mm_shape_format(v->ndim, v->shape, a, sizeof a),
                                (long long)x->shape[1]);
        }
    }
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = 3;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    ctx->out_format = layout_of(x);
    return 0;
}

/* rstd (C) for backward, when an autograd node will keep it. */
int mm_norm_save_rstd(mm_op_ctx *ctx, double eps) {
    if (!ctx->recording || ctx->op == &mm_op_norm_train)
        return 0;
    const mm_tensor *s = ctx->inputs[1];
    int64_t C = s->shape[1];
    mm_tensor *r;
    MM_TRY(mm_tensor_new_owned(1, &C, s->dtype, s->device, &r));
    size_t es = mm_dtype_size(s->dtype);
    const char *sd = mm_tensor_data(s);
    for (int64_t c = 0; c < C; c++)
        mm_store_f64(
            (char *)mm_tensor_data(r) + c * (int64_t)es, r->dtype,
            1 / sqrt(mm_load_f64(sd + (C + c) * (int64_t)es, s->dtype) + eps));
    ctx->saved[ctx->n_saved++] = r;
    return 0;
}

static int normalize_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *s = ctx->inputs[1];
    mm_tensor *y = ctx->out;
    double eps = ctx->params->f[0];
    int64_t A = x->shape[0], C = x->shape[1], B = x->shape[2];
    bool aff = ctx->n_inputs == 4;
    for (int64_t a = 0; a < A; a++)
        for (int64_t c = 0; c < C; c++) {
            double mean = mm_ld(s, c), var = mm_ld(s, C + c);
            double w = aff ? mm_ld(ctx->inputs[2], c) : 1;
            double bias = aff ? mm_ld(ctx->inputs[3], c) : 0;
            for (int64_t b = 0; b < B; b++)
                st3(y, a, c, b,
                    (ld3(x, a, c, b) - mean) / sqrt(var + eps) * w + bias);
        }
    return mm_norm_save_rstd(ctx, eps);
}

/* dx = g * rstd; d mean = -sum(g) * rstd; d var = -sum(g * xhat) rstd^2 / 2
 * (sums over A and B). */
static int normalize_grads(const mm_node *node, mm_tensor *g, mm_tensor *xhat,
                           mm_tensor **gin) {
    int64_t C = node->inputs[0]->shape[1];
    mm_tensor *rstd = node->saved[0], *r3, *t;
    MM_TRY(chan(rstd, C, &r3));
    if (node->needs_grad[0])
        MM_TRY(mm_mul(g, r3, &gin[0]));
    if (node->needs_grad[1]) {
        const int dims[2] = {0, 2};
        mm_tensor *gm, *gv;
        MM_TRY(mm_sum(g, 2, dims, false, &gm));
        MM_TRY(mm_mul(gm, rstd, &gm));
        MM_TRY(mm_neg(gm, &gm));
        MM_TRY(mm_mul(g, xhat, &t));
        MM_TRY(mm_sum(t, 2, dims, false, &gv));
        MM_TRY(mm_mul(gv, rstd, &gv));
        MM_TRY(mm_mul(gv, rstd, &gv));
        MM_TRY(mm_mul_scalar(gv, -0.5, &gv));
        MM_TRY(mm_stack(2, (mm_tensor *[]){gm, gv}, 0, &gin[1]));
    }
    return 0;
}

static int normalize_backward(const mm_node *node, mm_tensor *g,
                              mm_tensor **gin) {
    return normalize_grads(node, g, node->output, gin);
}

/* y = xhat * w + b: d w = sum(g * xhat), d b = sum(g), and xhat's gradient
 * g * w goes on as above. xhat is recomputed (not kept: it is x's size). */
static int normalize_affine_backward(const mm_node *node, mm_tensor *g,
                                     mm_tensor **gin) {
    int64_t C = node->inputs[0]->shape[1];
    const int dims[2] = {0, 2};
    mm_tensor *xhat, *t, *w3;
    mm_op_params p = node->params;
    MM_TRY(mm_apply2(&mm_op_normalize, node->inputs[0], node->inputs[1], &p,
                     &xhat));
    if (node->needs_grad[2]) {
        MM_TRY(mm_mul(g, xhat, &t));
        MM_TRY(mm_sum(t, 2, dims, false, &gin[2]));
    }
    if (node->needs_grad[3])
        MM_TRY(mm_sum(g, 2, dims, false, &gin[3]));
    if (node->needs_grad[0] || node->needs_grad[1]) {
        MM_TRY(chan(node->inputs[2], C, &w3));
        MM_TRY(mm_mul(g, w3, &t));
        MM_TRY(normalize_grads(node, t, xhat, gin));
    }
    return 0;
}

const mm_op mm_op_normalize = {
    .name = "normalize",
    .n_inputs = 2,
    .flags = MM_OP_FLAG_SAVE_OUTPUT | MM_OP_FLAG_CONTIGUOUS |
             MM_OP_FLAG_CHANNELS_LAST,
    .infer = normalize_infer,
    .reference = normalize_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_normalize},
    .backward = normalize_backward,
};

const mm_op mm_op_normalize_affine = {
    .name = "normalize_affine",
    .n_inputs = 4,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .code = 1,
    .infer = normalize_infer,
    .reference = normalize_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_normalize},
    .backward = normalize_affine_backward,
};

/* ---- normalisation with batch statistics ---------------------------------
 *
 * norm_train (x, stats, w, b) computes what normalize_affine does, but its
 * stats are the batch statistics of x (made by moments under no-grad), and
 * its backward is the full batch-norm backward through them, in two fused
 * ops:
 *   norm_grad_sums  (g, x, stats) -> (2, C): sum(g), sum(g * xhat)
 *   norm_grad_input (g, x, stats, w, sums) -> dx =
 *       w rstd (g - sum(g) / n - xhat sum(g * xhat) / n)
 * (sums over A and B; n = A * B). Params: f[0] = eps. */

static int grad_infer(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1];
    MM_TRY(float_check(ctx->op->name, g));
    for (int i = 1; i < ctx->n_inputs; i++)
        if (ctx->inputs[i]->dtype != g->dtype)
            return mm_error_set(MM_ETYPE, "%s: dtypes %s and %s differ",
                                ctx->op->name, mm_dtype_name(g->dtype),
                                mm_dtype_name(ctx->inputs[i]->dtype));
    if (g->ndim != 3 || !mm_tensor_same_shape(g, x))
        return mm_error_set(MM_EINVAL, "%s: gradient and input differ in shape",
                            ctx->op->name);
    ctx->out_dtype = g->dtype;
    if (ctx->op == &mm_op_norm_grad_sums) {
        ctx->out_ndim = 2;
        ctx->out_shape[0] = 2;
        ctx->out_shape[1] = x->shape[1];
    } else {
        ctx->out_ndim = 3;
        memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
        ctx->out_format = layout_of(x);
    }
    return 0;
}

static int grad_reference(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1],
                    *s = ctx->inputs[2];
    mm_tensor *out = ctx->out;
    bool sums_op = ctx->op == &mm_op_norm_grad_sums;
    double eps = ctx->params->f[0];
    int64_t A = x->shape[0], C = x->shape[1], B = x->shape[2];
    double n = (double)(A * B);
    for (int64_t c = 0; c < C; c++) {
        double mean = mm_ld(s, c), rstd = 1 / sqrt(mm_ld(s, C + c) + eps);
        if (sums_op) {
            double sg = 0, sgx = 0;
            for (int64_t a = 0; a < A; a++)
                for (int64_t b = 0; b < B; b++) {
                    double gi = ld3(g, a, c, b);
                    sg += gi;
                    sgx += gi * (ld3(x, a, c, b) - mean) * rstd;
                }
            mm_st(out, c, sg);
            mm_st(out, C + c, sgx);
            continue;
        }
        const mm_tensor *w = ctx->inputs[3], *sums = ctx->inputs[4];
        double k = mm_ld(w, c) * rstd, sg = mm_ld(sums, c) / n,
               sgx = mm_ld(sums, C + c) / n;
        for (int64_t a = 0; a < A; a++)
            for (int64_t b = 0; b < B; b++) {
                double xhat = (ld3(x, a, c, b) - mean) * rstd;
                st3(out, a, c, b, k * (ld3(g, a, c, b) - sg - xhat * sgx));
            }
    }
    return 0;
}

const mm_op mm_op_norm_grad_sums = {
    .name = "norm_grad_sums",
    .n_inputs = 3,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .infer = grad_infer,
    .reference = grad_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_norm_grad},
};

const mm_op mm_op_norm_grad_input = {
    .name = "norm_grad_input",
    .n_inputs = 5,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .infer = grad_infer,
    .reference = grad_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_norm_grad},
};

static int norm_train_backward(const mm_node *node, mm_tensor *g,
                               mm_tensor **gin) {
    mm_tensor *x = node->inputs[0], *stats = node->inputs[1], *sums;
    mm_op_params p = node->params;
    /* the kernels read g in x's layout (an expanded or transposed g would
     * otherwise be copied to contiguous and meet a channels-last x) */
    MM_TRY(mm_to_memory_format(g, layout_of(x), &g));
    MM_TRY(mm_op_apply(&mm_op_norm_grad_sums, 3, (mm_tensor *[]){g, x, stats},
                       &p, &sums));
    if (node->needs_grad[0])
        MM_TRY(mm_op_apply(&mm_op_norm_grad_input, 5,
                           (mm_tensor *[]){g, x, stats, node->inputs[2], sums},
                           &p, &gin[0]));
    if (node->needs_grad[2])
        MM_TRY(mm_select(sums, 0, 1, &gin[2]));
    if (node->needs_grad[3])
        MM_TRY(mm_select(sums, 0, 0, &gin[3]));
    return 0;
}

const mm_op mm_op_norm_train = {
    .name = "norm_train",
    .n_inputs = 4,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .code = 2,
    .infer = normalize_infer,
    .reference = normalize_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_normalize},
    .backward = norm_train_backward,
};

/* ---- public functions ---------------------------------------------------- */

/* v (1-D of n elements, or NULL) matches x's dtype; else an error. */
static int check_vec(const char *op, const char *what, mm_tensor *v,
                     int64_t n) {
    if (v && (v->ndim != 1 || v->shape[0] != n)) {
        char a[128];
        return mm_error_set(
            MM_EINVAL, "%s: %s has shape %s, expected [%lld]", op, what,
            mm_shape_format(v->ndim, v->shape, a, sizeof a), (long long)n);
    }
    return 0;
}

/* y = y * w + b with w, b (C) along dim 1 of y (or NULL). */
static int affine_dim1(mm_tensor *y, mm_tensor *w, mm_tensor *b,
                       mm_tensor **out) {
    int64_t shape[MM_MAX_DIMS];
    for (int d = 0; d < y->ndim; d++)
        shape[d] = d == 1 ? y->shape[1] : 1;
    if (w) {
        MM_TRY(mm_reshape(w, y->ndim, shape, &w));
        MM_TRY(mm_mul(y, w, &y));
    }
    if (b) {
        MM_TRY(mm_reshape(b, y->ndim, shape, &b));
        MM_TRY(mm_add(y, b, &y));
    }
    return mm_return_same(y, out);
}

/* The stats as x's dtype (running stats may be kept in another). */
static int as_dtype(mm_tensor *t, mm_dtype dt, mm_tensor **out) {
    if (t->dtype == dt)
        return mm_return_same(t, out);
    return mm_to_dtype(t, dt, out);
}

/* normalize, or normalize_affine when w or b (C) is given (the missing one
 * as ones or zeros). */
static int apply_normalize(mm_tensor *x3, mm_tensor *stats, mm_tensor *w,
                           mm_tensor *b, double eps, mm_tensor **out) {
    mm_op_params p = {.f = {eps}};
    if (!w && !b)
        return mm_apply2(&mm_op_normalize, x3, stats, &p, out);
    int64_t C = x3->shape[1];
    if (!w)
        MM_TRY(mm_ones(1, &C, x3->dtype, &w));
    if (!b)
        MM_TRY(mm_zeros(1, &C, x3->dtype, &b));
    MM_TRY(as_dtype(w, x3->dtype, &w));
    MM_TRY(as_dtype(b, x3->dtype, &b));
    return mm_op_apply(&mm_op_normalize_affine, 4,
                       (mm_tensor *[]){x3, stats, w, b}, &p, out);
}

/* running = (1 - momentum) running + momentum stat, in place, no grad. */
static int update_running(mm_tensor *running, mm_tensor *stat,
                          double momentum) {
    if (!running)
        return 0;
    mm_no_grad_push();
    mm_tensor *s = NULL;
    int rc = mm_detach(stat, &s);
    if (rc == 0)
        rc = mm_tensor_mul_scalar_(running, 1 - momentum);
    if (rc == 0)
        rc = mm_tensor_add_(running, s, momentum);
    mm_no_grad_pop();
    return rc;
}

/* Normalise x3 (A, C, B) with batch stats, updating the running stats
 * (C * rep: instance_norm averages the repeats) with the unbiased variance. */
static int norm_train(mm_tensor *x3, mm_tensor *rm, mm_tensor *rv, mm_tensor *w,
                      mm_tensor *b, int64_t rep, double momentum, double eps,
                      mm_tensor **out) {
    mm_tensor *stats, *y;
    mm_no_grad_push(); /* norm_train's backward covers the path via stats */
    int rc = mm_apply1(&mm_op_moments, x3, NULL, &stats);
    mm_no_grad_pop();
    MM_TRY(rc);
    int64_t C3 = x3->shape[1];
    if (!w)
        MM_TRY(mm_ones(1, &C3, x3->dtype, &w));
    if (!b)
        MM_TRY(mm_zeros(1, &C3, x3->dtype, &b));
    MM_TRY(as_dtype(w, x3->dtype, &w));
    MM_TRY(as_dtype(b, x3->dtype, &b));
    mm_op_params p = {.f = {eps}};
    MM_TRY(mm_op_apply(&mm_op_norm_train, 4, (mm_tensor *[]){x3, stats, w, b},
                       &p, &y));
    int64_t n = x3->shape[0] * x3->shape[2];
    if ((rm || rv) && n > 0 && x3->shape[1] > 0) { /* empty: kept */
        int64_t C = rep > 0 ? x3->shape[1] / rep : 0;
        mm_tensor *m, *v;
        MM_TRY(mm_select(stats, 0, 0, &m));
        MM_TRY(mm_select(stats, 0, 1, &v));
        MM_TRY(mm_mul_scalar(v, (double)n / (double)(n - 1), &v));
        if (rep > 1) {
            const int d0 = 0;
            MM_TRY(mm_reshape(m, 2, (int64_t[]){rep, C}, &m));
            MM_TRY(mm_reshape(v, 2, (int64_t[]){rep, C}, &v));
            MM_TRY(mm_mean(m, 1, &d0, false, &m));
            MM_TRY(mm_mean(v, 1, &d0, false, &v));
        }
        MM_TRY(update_running(rm, m, momentum));
        MM_TRY(update_running(rv, v, momentum));
    }
    return mm_return_same(y, out);
}

/* Normalise x3 (A, C * rep, B) with the running stats (C each). */
static int norm_eval(const char *op, mm_tensor *x3, mm_tensor *rm,
                     mm_tensor *rv, mm_tensor *w, mm_tensor *b, int64_t rep,
                     double eps, mm_tensor **out) {
    if (!rm || !rv)
        return mm_error_set(MM_EINVAL,
                            "%s: running_mean and running_var are needed in "
                            "evaluation mode",
                            op);
    mm_tensor *stats, *y;
    MM_TRY(as_dtype(rm, x3->dtype, &rm));
    MM_TRY(as_dtype(rv, x3->dtype, &rv));
    MM_TRY(mm_stack(2, (mm_tensor *[]){rm, rv}, 0, &stats));
    if (rep > 1)
        MM_TRY(mm_repeat(stats, 2, (int64_t[]){1, rep}, &stats));
    MM_TRY(apply_normalize(x3, stats, w, b, eps, &y));
    return mm_return_same(y, out);
}

static int check_x(const char *op, mm_tensor *x, int min_dims) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: input is NULL", op);
    MM_TRY(float_check(op, x));
    if (x->ndim < min_dims)
        return mm_error_set(MM_EINVAL,
                            "%s: input has %d dims, expected at least %d", op,
                            x->ndim, min_dims);
    return 0;
}

static int64_t spatial(const mm_tensor *x) {
    int64_t s = 1;
    for (int d = 2; d < x->ndim; d++)
        s *= x->shape[d];
    return s;
}

/* batch_norm and instance_norm: x (N, C, ...), a finite momentum when
 * running stats are updated, each vector C long. */
static int check_stats_args(const char *op, mm_tensor *x,
                            mm_tensor *running_mean, mm_tensor *running_var,
                            mm_tensor *weight, mm_tensor *bias, bool update,
                            double momentum) {
    MM_TRY(check_x(op, x, 2));
    if (update && (running_mean || running_var) && !isfinite(momentum))
        return mm_error_set(MM_EINVAL,
                            "%s: momentum %g is not a number (a cumulative "
                            "average passes 1 / batches seen)",
                            op, momentum);
    int64_t C = x->shape[1];
    MM_TRY(check_vec(op, "running_mean", running_mean, C));
    MM_TRY(check_vec(op, "running_var", running_var, C));
    MM_TRY(check_vec(op, "weight", weight, C));
    return check_vec(op, "bias", bias, C);
}

static int batch_norm_impl(mm_tensor *x, mm_tensor *running_mean, mm_tensor *running_var,
                  mm_tensor *weight, mm_tensor *bias, bool training,
                  double momentum, double eps, mm_tensor **out) {
    const char *op = "batch_norm";
    MM_TRY(check_stats_args(op, x, running_mean, running_var, weight, bias,
                            training, momentum));
    int64_t N = x->shape[0], C = x->shape[1], S = spatial(x);
    if (training && N * S == 1) {
        char a[128];
        return mm_error_set(
            MM_EINVAL,
            "%s: expected more than 1 value per channel when training, got "
            "input size %s",
            op, mm_shape_format(x->ndim, x->shape, a, sizeof a));
    }
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *x3, *y = NULL;
    int rc = mm_reshape(x, 3, (int64_t[]){N, C, S}, &x3);
    if (rc == 0)
        rc = training ? norm_train(x3, running_mean, running_var, weight, bias,
                                   1, momentum, eps, &y)
                      : norm_eval(op, x3, running_mean, running_var, weight,
                                  bias, 1, eps, &y);
    if (rc == 0)
        rc = mm_reshape(y, x->ndim, x->shape, &y);
    return mm_pool_finish(pool, rc, y, out);
}

static int instance_norm_impl(mm_tensor *x, mm_tensor *running_mean,
                     mm_tensor *running_var, mm_tensor *weight, mm_tensor *bias,
                     bool use_input_stats, double momentum, double eps,
                     mm_tensor **out) {
    const char *op = "instance_norm";
    MM_TRY(check_stats_args(op, x, running_mean, running_var, weight, bias,
                            use_input_stats, momentum));
    int64_t N = x->shape[0], C = x->shape[1], S = spatial(x);
    if (use_input_stats && S == 1) {
        char a[128];
        return mm_error_set(
            MM_EINVAL,
            "%s: expected more than 1 spatial element when training, got "
            "input size %s",
            op, mm_shape_format(x->ndim, x->shape, a, sizeof a));
    }
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *x3, *y = NULL;
    int rc = mm_reshape(x, 3, (int64_t[]){1, N * C, S}, &x3);
    if (rc == 0)
        rc = use_input_stats ? norm_train(x3, running_mean, running_var, NULL,
                                          NULL, N, momentum, eps, &y)
                             : norm_eval(op, x3, running_mean, running_var,
                                         NULL, NULL, N, eps, &y);
    if (rc == 0)
        rc = mm_reshape(y, x->ndim, x->shape, &y);
    if (rc == 0)
        rc = affine_dim1(y, weight, bias, &y);
    return mm_pool_finish(pool, rc, y, out);
}

static int layer_norm_impl(mm_tensor *x, int n_norm, const int64_t *normalized_shape,
                  mm_tensor *weight, mm_tensor *bias, double eps,
                  mm_tensor **out) {
    const char *op = "layer_norm";
    MM_TRY(check_x(op, x, 0));
    if (n_norm < 1 || !normalized_shape)
        return mm_error_set(MM_EINVAL, "%s: normalized_shape is empty", op);
    int lead = x->ndim - n_norm;
    bool ok = lead >= 0;
    for (int d = 0; ok && d < n_norm; d++)
        ok = x->shape[lead + d] == normalized_shape[d];
    if (!ok) {
        char a[128], b[128];
        return mm_error_set(
            MM_EINVAL, "%s: normalized_shape %s does not end input shape %s",
            op, mm_shape_format(n_norm, normalized_shape, a, sizeof a),
            mm_shape_format(x->ndim, x->shape, b, sizeof b));
    }
    for (int k = 0; k < 2; k++) {
        mm_tensor *v = k ? bias : weight;
        if (v && (v->ndim != n_norm ||
                  memcmp(v->shape, normalized_shape,
                         (size_t)n_norm * sizeof *normalized_shape) != 0)) {
            char a[128], b[128];
            return mm_error_set(
                MM_EINVAL, "%s: %s has shape %s, expected %s", op,
                k ? "bias" : "weight",
                mm_shape_format(v->ndim, v->shape, a, sizeof a),
                mm_shape_format(n_norm, normalized_shape, b, sizeof b));
        }
    }
    int64_t M = 1, R = 1;
    for (int d = 0; d < x->ndim; d++)
        *(d < lead ? &R : &M) *= x->shape[d];
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *x3, *y = NULL;
    int rc = mm_reshape(x, 3, (int64_t[]){1, R, M}, &x3);
    if (rc == 0)
        rc = norm_train(x3, NULL, NULL, NULL, NULL, 1, 0, eps, &y);
    if (rc == 0)
        rc = mm_reshape(y, x->ndim, x->shape, &y);
    if (rc == 0 && weight)
        rc = mm_mul(y, weight, &y);
    if (rc == 0 && bias)
        rc = mm_add(y, bias, &y);
    return mm_pool_finish(pool, rc, y, out);
}

static int group_norm_impl(mm_tensor *x, int64_t num_groups, mm_tensor *weight,
                  mm_tensor *bias, double eps, mm_tensor **out) {
    const char *op = "group_norm";
    MM_TRY(check_x(op, x, 2));
    int64_t N = x->shape[0], C = x->shape[1], S = spatial(x);
    if (num_groups < 1 || C % num_groups != 0)
        return mm_error_set(MM_EINVAL,
                            "%s: %lld channels cannot be split into %lld "
                            "groups",
                            op, (long long)C, (long long)num_groups);
    MM_TRY(check_vec(op, "weight", weight, C));
    MM_TRY(check_vec(op, "bias", bias, C));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *x3, *y = NULL;
    int rc = mm_reshape(
        x, 3, (int64_t[]){1, N * num_groups, C / num_groups * S}, &x3);
    if (rc == 0)
        rc = norm_train(x3, NULL, NULL, NULL, NULL, 1, 0, eps, &y);
    if (rc == 0)
        rc = mm_reshape(y, x->ndim, x->shape, &y);
    if (rc == 0)
        rc = affine_dim1(y, weight, bias, &y);
    return mm_pool_finish(pool, rc, y, out);
}

/* ---- public entry points: reported whole to an op observer --------------- */

int mm_batch_norm(mm_tensor *x, mm_tensor *running_mean, mm_tensor *running_var,
                  mm_tensor *weight, mm_tensor *bias, bool training,
                  double momentum, double eps, mm_tensor **out) {
    if (!mm_ops_observing())
        return batch_norm_impl(x, running_mean, running_var, weight, bias,
                               training, momentum, eps, out);
    mm_ops_observe_begin();
    int rc = batch_norm_impl(x, running_mean, running_var, weight, bias,
                             training, momentum, eps, out);
    mm_tensor *in[3] = {x, weight, bias};
    return mm_ops_observe_end(rc, "batch_norm", 3, in, out, training);
}

int mm_instance_norm(mm_tensor *x, mm_tensor *running_mean,
                     mm_tensor *running_var, mm_tensor *weight, mm_tensor *bias,
                     bool use_input_stats, double momentum, double eps,
                     mm_tensor **out) {
    if (!mm_ops_observing())
        return instance_norm_impl(x, running_mean, running_var, weight, bias,
                                  use_input_stats, momentum, eps, out);
    mm_ops_observe_begin();
    int rc = instance_norm_impl(x, running_mean, running_var, weight, bias,
                                use_input_stats, momentum, eps, out);
    mm_tensor *in[3] = {x, weight, bias};
    return mm_ops_observe_end(rc, "instance_norm", 3, in, out,
                              use_input_stats);
}

int mm_layer_norm(mm_tensor *x, int n_norm, const int64_t *normalized_shape,
                  mm_tensor *weight, mm_tensor *bias, double eps,
                  mm_tensor **out) {
    if (!mm_ops_observing())
        return layer_norm_impl(x, n_norm, normalized_shape, weight, bias, eps,
                               out);
    mm_ops_observe_begin();
    int rc = layer_norm_impl(x, n_norm, normalized_shape, weight, bias, eps,
                             out);
    mm_tensor *in[3] = {x, weight, bias};
    return mm_ops_observe_end(rc, "layer_norm", 3, in, out, false);
}

int mm_group_norm(mm_tensor *x, int64_t num_groups, mm_tensor *weight,
                  mm_tensor *bias, double eps, mm_tensor **out) {
    if (!mm_ops_observing())
        return group_norm_impl(x, num_groups, weight, bias, eps, out);
    mm_ops_observe_begin();
    int rc = group_norm_impl(x, num_groups, weight, bias, eps, out);
    mm_tensor *in[3] = {x, weight, bias};
    return mm_ops_observe_end(rc, "group_norm", 3, in, out, false);
}
