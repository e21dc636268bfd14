/* Losses: cross_entropy, nll_loss, binary_cross_entropy (with logits),
 * mse_loss, l1_loss, smooth_l1_loss (torch.nn.functional's).
 *
 * Three op families, each giving the per-element loss; the reductions are
 * sum / mean ops on top, so their backward comes free:
 *   loss_pointwise (x, t[, pos_weight]) -> elementwise loss, i[0] = kind,
 *     f[0] = beta; its backward multiplies g by loss_pointwise_grad, the
 *     elementwise derivative in the input asked for (i[1]);
 *   nll_loss (logp (N, C, *), target (N, *)[, weight (C)]) -> (N, *):
 *     -w[t] logp[t], 0 where t == ignore_index (i[0]); its backward scatters
 *     -w[t] g into the target's class (nll_loss_backward);
 *   cross_entropy (logits, target[, weight]) -> (N, *): fused log_softmax +
 *     nll with label smoothing (f[0] = ls), as torch 1.13:
 *       (1 - ls) w[t] (lse - x[t]) + ls / C * sum_c w[c] (lse - x[c]);
 *     cross_entropy_backward uses the log-sum-exp the forward kept:
 *       dx[c] = g ((1 - ls) w[t] (p[c] - [c == t]) + ls / C (W p[c] - w[c])),
 *     W = sum_c w[c].
 * Class-probability targets, the weights of binary losses and the mean's
 * division are compositions of ops. Weighted means divide by the summed
 * weight of the non-ignored targets, computed from the target alone. */
#include "loss_impl.h"

#include "mm/autograd.h"
#include "mm/loss.h"

#include <string.h>

/* Element i (row-major over the logical shape) of any strided tensor. */
static double load_at(const mm_tensor *t, int64_t i) {
    return mm_load_f64(
        (const char *)t->storage->data + mm_tensor_elem_offset(t, i), t->dtype);
}

static int64_t load_i64_at(const mm_tensor *t, int64_t i) {
    return mm_load_i64(
        (const char *)t->storage->data + mm_tensor_elem_offset(t, i), t->dtype);
}

/* ---- pointwise losses ------------------------------------------------- */

static const char *const pointwise_names[] = {
    [LOSS_MSE] = "mse_loss",
    [LOSS_L1] = "l1_loss",
    [LOSS_SMOOTH_L1] = "smooth_l1_loss",
    [LOSS_BCE] = "binary_cross_entropy",
    [LOSS_BCE_LOGITS] = "binary_cross_entropy_with_logits",
};

static int pointwise_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t kind = ctx->params->i[0];
    if (kind < LOSS_MSE || kind > LOSS_BCE_LOGITS)
        return mm_error_set(MM_EINVAL, "%s: unknown loss %lld", ctx->op->name,
                            (long long)kind);
    const char *name = pointwise_names[kind];
    if (ctx->n_inputs < 2 || ctx->n_inputs > 3)
        return mm_error_set(MM_EINVAL, "%s: expects 2 or 3 inputs, got %d",
                            name, ctx->n_inputs);
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point input, got %s", name,
                            mm_dtype_name(x->dtype));
    for (int i = 1; i < ctx->n_inputs; i++) {
        const mm_tensor *t = ctx->inputs[i];
        if (t->dtype != x->dtype)
            return mm_error_set(
                MM_ETYPE, "%s: %s dtype %s differs from input dtype %s", name,
                i == 1 ? "target" : "pos_weight", mm_dtype_name(t->dtype),
                mm_dtype_name(x->dtype));
        if (t->ndim != x->ndim ||
            memcmp(t->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim)) {
            char a[128], b[128];
            return mm_error_set(
                MM_EINVAL, "%s: %s shape %s differs from input shape %s", name,
                i == 1 ? "target" : "pos_weight",
                mm_shape_format(t->ndim, t->shape, a, sizeof a),
                mm_shape_format(x->ndim, x->shape, b, sizeof b));
        }
    }
    if (kind == LOSS_BCE && ctx->op == &mm_op_loss_pointwise) {
        for (int64_t i = 0; i < x->numel; i++) {
            double v = load_at(x, i);
            if (!(v >= 0 && v <= 1))
                return mm_error_set(
                    MM_EINVAL,
                    "%s: all elements of input should be between 0 and 1",
                    name);
        }
    }
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    return 0;
}

/* Both pointwise ops: the loss, or the derivative in input i[1]. */
static int pointwise_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *t = ctx->inputs[1];
    const mm_tensor *pw = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    mm_tensor *y = ctx->out;
    int kind = (int)ctx->params->i[0], which = (int)ctx->params->i[1];
    bool grad = ctx->op == &mm_op_loss_pointwise_grad;
    double beta = ctx->params->f[0];
    char *yd = mm_tensor_data(y);
    for (int64_t i = 0; i < y->numel; i++) {
        double xv = load_at(x, i), tv = load_at(t, i);
        double pv = pw ? load_at(pw, i) : 1;
        double v = grad ? loss_pointwise_grad(kind, which, xv, tv, pv, beta)
                        : loss_pointwise_value(kind, xv, tv, pv, beta);
        mm_store_f64(yd + i * (int64_t)mm_dtype_size(y->dtype), y->dtype, v);
    }
    return 0;
}

static int pointwise_backward(const mm_node *node, mm_tensor *g,
                              mm_tensor **gin) {
    for (int i = 0; i < node->n_inputs; i++) {
        if (!node->needs_grad[i])
            continue;
        mm_op_params p = node->params;
        p.i[1] = i;
        mm_tensor *d;
        MM_TRY(mm_op_apply(&mm_op_loss_pointwise_grad, node->n_inputs,
                           node->inputs, &p, &d));
        MM_TRY(mm_mul(g, d, &gin[i]));
    }
    return 0;
}

const mm_op mm_op_loss_pointwise = {
    .name = "loss_pointwise",
    .n_inputs = -1,
    .infer = pointwise_infer,
    .reference = pointwise_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_loss_pointwise},
    .backward = pointwise_backward,
};

const mm_op mm_op_loss_pointwise_grad = {
    .name = "loss_pointwise_grad",
    .n_inputs = -1,
    .infer = pointwise_infer,
    .reference = pointwise_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_loss_pointwise},
};

/* ---- nll_loss and cross_entropy on class indices ------------------------ */

/* x (N, C, *), target (N, *) i64 with values in [0, C) or ignore_index,
 * weight (C) of x's dtype or NULL. */
static int check_class_args(const char *name, const mm_tensor *x,
                            const mm_tensor *target, const mm_tensor *weight,
                            int64_t ignore_index) {
    char a[128], b[128];
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point input, got %s", name,
                            mm_dtype_name(x->dtype));
    if (x->ndim < 2)
        return mm_error_set(MM_EINVAL,
                            "%s: input has %d dims, expected at least 2", name,
                            x->ndim);
    if (target->dtype != MM_I64)
        return mm_error_set(MM_ETYPE,
                            "%s: target must be i64 class indices, got %s",
                            name, mm_dtype_name(target->dtype));
    bool ok = target->ndim == x->ndim - 1 && target->shape[0] == x->shape[0];
    for (int d = 1; ok && d < target->ndim; d++)
        ok = target->shape[d] == x->shape[d + 1];
    if (!ok) {
        int64_t want[MM_MAX_DIMS];
        want[0] = x->shape[0];
        for (int d = 2; d < x->ndim; d++)
            want[d - 1] = x->shape[d];
        return mm_error_set(
            MM_EINVAL, "%s: target has shape %s, expected %s", name,
            mm_shape_format(target->ndim, target->shape, a, sizeof a),
            mm_shape_format(x->ndim - 1, want, b, sizeof b));
    }
    int64_t c = x->shape[1];
    if (weight) {
        if (weight->ndim != 1 || weight->shape[0] != c)
            return mm_error_set(
                MM_EINVAL, "%s: weight has shape %s, expected [%lld]", name,
                mm_shape_format(weight->ndim, weight->shape, a, sizeof a),
                (long long)c);
        if (weight->dtype != x->dtype)
            return mm_error_set(
                MM_ETYPE, "%s: weight dtype %s differs from input dtype %s",
                name, mm_dtype_name(weight->dtype), mm_dtype_name(x->dtype));
    }
    for (int64_t i = 0; i < target->numel; i++) {
        int64_t t = load_i64_at(target, i);
        if (t != ignore_index && (t < 0 || t >= c))
            return mm_error_set(
                MM_EINVAL, "%s: target %lld is out of bounds for %lld classes",
                name, (long long)t, (long long)c);
    }
    return 0;
}

static int class_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    if (ctx->n_inputs < 2 || ctx->n_inputs > 3)
        return mm_error_set(MM_EINVAL, "%s: expects 2 or 3 inputs, got %d",
                            ctx->op->name, ctx->n_inputs);
    MM_TRY(check_class_args(ctx->op->name, x, ctx->inputs[1],
                            ctx->n_inputs > 2 ? ctx->inputs[2] : NULL,
                            ctx->params->i[0]));
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim - 1;
    ctx->out_shape[0] = x->shape[0];
    for (int d = 2; d < x->ndim; d++)
        ctx->out_shape[d - 1] = x->shape[d];
    return 0;
}

/* nll_loss_backward (g, target[, weight]) -> (N, C, *): i[1] = C. */
static int nll_backward_infer(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *t = ctx->inputs[1];
    if (ctx->n_inputs < 2 || ctx->n_inputs > 3 || g->ndim < 1 ||
        g->ndim >= MM_MAX_DIMS || t->dtype != MM_I64 || t->ndim != g->ndim ||
        memcmp(t->shape, g->shape, sizeof(int64_t) * (size_t)g->ndim))
        return mm_error_set(MM_EINVAL, "%s: bad arguments", ctx->op->name);
    ctx->out_dtype = g->dtype;
    ctx->out_ndim = g->ndim + 1;
    ctx->out_shape[0] = g->shape[0];
    ctx->out_shape[1] = ctx->params->i[1];
    for (int d = 1; d < g->ndim; d++)
        ctx->out_shape[d + 1] = g->shape[d];
    return 0;
}

/* cross_entropy_backward (g, x, target, lse[, weight]) -> x's shape; lse
 * (f64, target's shape) is what the forward kept. */
static int ce_backward_infer(mm_op_ctx *ctx) {
    if (ctx->n_inputs < 4 || ctx->n_inputs > 5)
        return mm_error_set(MM_EINVAL, "%s: expects 4 or 5 inputs, got %d",
                            ctx->op->name, ctx->n_inputs);
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1];
    MM_TRY(check_class_args(ctx->op->name, x, ctx->inputs[2],
                            ctx->n_inputs > 4 ? ctx->inputs[4] : NULL,
                            ctx->params->i[0]));
    if (g->numel != ctx->inputs[2]->numel || g->dtype != x->dtype ||
        ctx->inputs[3]->numel != g->numel || ctx->inputs[3]->dtype != MM_F64)
        return mm_error_set(MM_EINVAL,
                            "%s: gradient or log-sum-exp does not match the "
                            "target",
                            ctx->op->name);
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    return 0;
}

/* The log-sum-exp per position (f64, the output's shape) the forward keeps
 * for backward when a node will be recorded; NULL otherwise. */
int mm_loss_ce_save_lse(mm_op_ctx *ctx, double **lse) {
    *lse = NULL;
    if (!ctx->recording)
        return 0;
    mm_tensor *l;
    MM_TRY(mm_tensor_new_owned(ctx->out->ndim, ctx->out->shape, MM_F64,
                               ctx->out->device, &l));
    memset(mm_tensor_data(l), 0, sizeof(double) * (size_t)l->numel);
    ctx->saved[ctx->n_saved++] = l;
    *lse = mm_tensor_data(l);
    return 0;
}

static double weight_of(const mm_tensor *w, int64_t c) {
    if (!w)
        return 1;
    return mm_load_f64((const char *)mm_tensor_data(w) +
                           c * (int64_t)mm_dtype_size(w->dtype),
                       w->dtype);
}

/* Inputs contiguous (MM_OP_FLAG_CONTIGUOUS). */
static int nll_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *t = ctx->inputs[1];
    const mm_tensor *w = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    int64_t n, c, inner, ign = ctx->params->i[0];
    loss_class_dims(x, &n, &c, &inner);
    const int64_t *td = mm_tensor_data(t);
    const char *xd = mm_tensor_data(x);
    char *yd = mm_tensor_data(ctx->out);
    size_t es = mm_dtype_size(x->dtype);
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t k = td[b * inner + i];
            double v = 0;
            if (k != ign)
                v = -weight_of(w, k) *
                    mm_load_f64(xd + ((b * c + k) * inner + i) * (int64_t)es,
                                x->dtype);
            mm_store_f64(yd + (b * inner + i) * (int64_t)es, x->dtype, v);
        }
    return 0;
}

static int nll_backward_reference(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *t = ctx->inputs[1];
    const mm_tensor *w = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    mm_tensor *y = ctx->out;
    int64_t n, c, inner, ign = ctx->params->i[0];
    loss_class_dims(y, &n, &c, &inner);
    const int64_t *td = mm_tensor_data(t);
    const char *gd = mm_tensor_data(g);
    char *yd = mm_tensor_data(y);
    size_t es = mm_dtype_size(y->dtype);
    memset(yd, 0, (size_t)y->numel * es);
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t k = td[b * inner + i];
            if (k == ign)
                continue;
            double gv =
                mm_load_f64(gd + (b * inner + i) * (int64_t)es, g->dtype);
            mm_store_f64(yd + ((b * c + k) * inner + i) * (int64_t)es, y->dtype,
                         -weight_of(w, k) * gv);
        }
    return 0;
}

static int nll_backward(const mm_node *node, mm_tensor *g, mm_tensor **gin) {
    if (!node->needs_grad[0])
        return 0;
    mm_op_params p = node->params;
    p.i[1] = node->inputs[0]->shape[1];
    mm_tensor *in[3] = {g, node->inputs[1],
                        node->n_inputs > 2 ? node->inputs[2] : NULL};
    return mm_op_apply(&mm_op_nll_loss_backward, node->n_inputs, in, &p,
                       &gin[0]);
}

/* One position of cross_entropy, in double: x[base + j * inner] for j < c.
 * Forward (dx NULL): returns the loss and sets *lse. Backward: writes the
 * gradient row (g its upstream gradient) from the given *lse. */
static double ce_position(const mm_tensor *x, const char *xd, int64_t base,
                          int64_t c, int64_t inner, int64_t k,
                          const mm_tensor *w, double ls, double g, char *dx,
                          double *lse) {
    size_t es = mm_dtype_size(x->dtype);
#define XAT(j) mm_load_f64(xd + (base + (j)*inner) * (int64_t)es, x->dtype)
    double wt = weight_of(w, k);
    if (dx) {
        double wsum = 0;
        for (int64_t j = 0; j < c; j++)
            wsum += weight_of(w, j);
        for (int64_t j = 0; j < c; j++) {
            double p = exp(XAT(j) - *lse);
            double v = (1 - ls) * wt * (p - (j == k)) +
                       ls / (double)c * (wsum * p - weight_of(w, j));
            mm_store_f64(dx + (base + j * inner) * (int64_t)es, x->dtype,
                         g * v);
        }
        return 0;
    }
    double mx = -INFINITY, sum = 0, wsum = 0, wx = 0;
    for (int64_t j = 0; j < c; j++)
        mx = fmax(mx, XAT(j));
    for (int64_t j = 0; j < c; j++) {
        sum += exp(XAT(j) - mx);
        wsum += weight_of(w, j);
        wx += weight_of(w, j) * XAT(j);
    }
    *lse = mx + log(sum);
    return (1 - ls) * wt * (*lse - XAT(k)) +
           ls / (double)c * (wsum * *lse - wx);
#undef XAT
}

static int ce_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *t = ctx->inputs[1];
    const mm_tensor *w = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    int64_t n, c, inner, ign = ctx->params->i[0];
    loss_class_dims(x, &n, &c, &inner);
    const int64_t *td = mm_tensor_data(t);
    const char *xd = mm_tensor_data(x);
    char *yd = mm_tensor_data(ctx->out);
    size_t es = mm_dtype_size(x->dtype);
    double *lse;
    MM_TRY(mm_loss_ce_save_lse(ctx, &lse));
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t k = td[b * inner + i];
            double l = 0;
            double v = k == ign
                           ? 0
                           : ce_position(x, xd, b * c * inner + i, c, inner, k,
                                         w, ctx->params->f[0], 0, NULL, &l);
            mm_store_f64(yd + (b * inner + i) * (int64_t)es, x->dtype, v);
            if (lse)
                lse[b * inner + i] = l;
        }
    return 0;
}

static int ce_backward_reference(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1],
                    *t = ctx->inputs[2];
    const mm_tensor *w = ctx->n_inputs > 4 ? ctx->inputs[4] : NULL;
    int64_t n, c, inner, ign = ctx->params->i[0];
    loss_class_dims(x, &n, &c, &inner);
    const int64_t *td = mm_tensor_data(t);
    const double *lse = mm_tensor_data(ctx->inputs[3]);
    const char *xd = mm_tensor_data(x), *gd = mm_tensor_data(g);
    char *yd = mm_tensor_data(ctx->out);
    size_t es = mm_dtype_size(x->dtype);
    memset(yd, 0, (size_t)ctx->out->numel * es);
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t k = td[b * inner + i];
            if (k == ign)
                continue;
            double gv =
                mm_load_f64(gd + (b * inner + i) * (int64_t)es, g->dtype);
            double l = lse[b * inner + i];
            ce_position(x, xd, b * c * inner + i, c, inner, k, w,
                        ctx->params->f[0], gv, yd, &l);
        }
    return 0;
}

static int ce_backward(const mm_node *node, mm_tensor *g, mm_tensor **gin) {
    if (!node->needs_grad[0])
        return 0;
    mm_tensor *in[5] = {g, node->inputs[0], node->inputs[1], node->saved[0],
                        node->n_inputs > 2 ? node->inputs[2] : NULL};
    return mm_op_apply(&mm_op_cross_entropy_backward, node->n_inputs + 2, in,
                       &node->params, &gin[0]);
}

const mm_op mm_op_nll_loss = {
    .name = "nll_loss",
    .n_inputs = -1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = class_infer,
    .reference = nll_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_nll_loss},
    .backward = nll_backward,
};

const mm_op mm_op_nll_loss_backward = {
    .name = "nll_loss_backward",
    .n_inputs = -1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = nll_backward_infer,
    .reference = nll_backward_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_nll_loss_backward},
};

const mm_op mm_op_cross_entropy = {
    .name = "cross_entropy",
    .n_inputs = -1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = class_infer,
    .reference = ce_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_cross_entropy},
    .backward = ce_backward,
};

const mm_op mm_op_cross_entropy_backward = {
    .name = "cross_entropy_backward",
    .n_inputs = -1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = ce_backward_infer,
    .reference = ce_backward_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_cross_entropy_backward},
};

/* ---- public wrappers ---------------------------------------------------- */

static int check_reduction(const char *name, mm_loss_reduction r) {
    if (r != MM_LOSS_NONE && r != MM_LOSS_MEAN && r != MM_LOSS_SUM)
        return mm_error_set(MM_EINVAL, "%s: unknown reduction %d", name,
                            (int)r);
    return 0;
}

/* l (the per-element loss) reduced; mean over all elements. */
static int reduce(mm_tensor *l, mm_loss_reduction r, mm_tensor **out) {
    if (r == MM_LOSS_SUM)
        return mm_sum(l, 0, NULL, false, out);
    if (r == MM_LOSS_MEAN)
        return mm_mean(l, 0, NULL, false, out);
    return mm_return_same(l, out);
}

static int pointwise_loss(int kind, mm_tensor *x, mm_tensor *t,
                          mm_tensor *weight, mm_tensor *pos_weight,
                          mm_loss_reduction r, double beta, mm_tensor **out) {
    const char *name = pointwise_names[kind];
    if (!x || !t)
        return mm_error_set(MM_EINVAL, "%s: %s is NULL", name,
                            x ? "target" : "input");
    MM_TRY(check_reduction(name, r));
    if (!(beta >= 0))
        return mm_error_set(MM_EINVAL, "%s: beta must be >= 0, got %g", name,
                            beta);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_op_params p = {.i = {kind}, .f = {beta}};
    mm_tensor *in[3] = {x, t, NULL}, *l = NULL;
    int rc = 0;
    if (pos_weight)
        rc = mm_expand(pos_weight, x->ndim, x->shape, &in[2]);
    if (rc == 0)
        rc = mm_op_apply(&mm_op_loss_pointwise, pos_weight ? 3 : 2, in, &p, &l);
    if (rc == 0 && weight) {
        rc = mm_mul(l, weight, &l);
        if (rc == 0 &&
            (l->ndim != x->ndim ||
             memcmp(l->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim))) {
            char a[128], b[128];
            rc = mm_error_set(
                MM_EINVAL, "%s: weight of shape %s does not broadcast to %s",
                name, mm_shape_format(weight->ndim, weight->shape, a, sizeof a),
                mm_shape_format(x->ndim, x->shape, b, sizeof b));
        }
    }
    if (rc == 0)
        rc = reduce(l, r, &l);
    return mm_pool_finish(pool, rc, l, out);
}

int mm_mse_loss(mm_tensor *input, mm_tensor *target, mm_loss_reduction r,
                mm_tensor **out) {
    return pointwise_loss(LOSS_MSE, input, target, NULL, NULL, r, 0, out);
}

int mm_l1_loss(mm_tensor *input, mm_tensor *target, mm_loss_reduction r,
               mm_tensor **out) {
    return pointwise_loss(LOSS_L1, input, target, NULL, NULL, r, 0, out);
}

int mm_smooth_l1_loss(mm_tensor *input, mm_tensor *target, mm_loss_reduction r,
                      double beta, mm_tensor **out) {
    return pointwise_loss(LOSS_SMOOTH_L1, input, target, NULL, NULL, r, beta,
                          out);
}

int mm_binary_cross_entropy(mm_tensor *input, mm_tensor *target,
                            mm_tensor *weight, mm_loss_reduction r,
                            mm_tensor **out) {
    return pointwise_loss(LOSS_BCE, input, target, weight, NULL, r, 0, out);
}

int mm_binary_cross_entropy_with_logits(mm_tensor *input, mm_tensor *target,
                                        mm_tensor *weight,
                                        mm_tensor *pos_weight,
                                        mm_loss_reduction r, mm_tensor **out) {
    return pointwise_loss(LOSS_BCE_LOGITS, input, target, weight, pos_weight, r,
                          0, out);
}

/* The mean's divisor: the summed weight of the targets not ignored. */
static double class_weight_total(const mm_tensor *target,
                                 const mm_tensor *weight, int64_t ign) {
    double total = 0;
    for (int64_t i = 0; i < target->numel; i++) {
        int64_t k = load_i64_at(target, i);
        if (k != ign)
            total += weight ? load_at(weight, k) : 1;
    }
    return total;
}

/* -sum_c w[c] t[c] log_softmax(x)[c], t smoothed. */
static int soft_cross_entropy(const char *name, mm_tensor *x, mm_tensor *t,
                              mm_tensor *weight, mm_loss_reduction r, double ls,
                              mm_tensor **out) {
    char a[128], b[128];
    if (t->dtype != x->dtype)
        return mm_error_set(MM_ETYPE,
                            "%s: target dtype %s differs from input dtype %s "
                            "(class probabilities) and is not i64 (indices)",
                            name, mm_dtype_name(t->dtype),
                            mm_dtype_name(x->dtype));
    if (t->ndim != x->ndim ||
        memcmp(t->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim))
        return mm_error_set(
            MM_EINVAL, "%s: target probabilities have shape %s, expected %s",
            name, mm_shape_format(t->ndim, t->shape, a, sizeof a),
            mm_shape_format(x->ndim, x->shape, b, sizeof b));
    int64_t c = x->shape[1];
    if (weight && (weight->ndim != 1 || weight->shape[0] != c))
        return mm_error_set(
            MM_EINVAL, "%s: weight has shape %s, expected [%lld]", name,
            mm_shape_format(weight->ndim, weight->shape, a, sizeof a),
            (long long)c);
    mm_tensor *lp, *l;
    MM_TRY(mm_log_softmax(x, 1, &lp));
    if (ls > 0) {
        MM_TRY(mm_mul_scalar(t, 1 - ls, &t));
        MM_TRY(mm_add_scalar(t, ls / (double)c, &t));
    }
    if (weight) {
        int64_t shape[MM_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++)
            shape[d] = d == 1 ? c : 1;
        mm_tensor *wv;
        MM_TRY(mm_reshape(weight, x->ndim, shape, &wv));
        MM_TRY(mm_mul(lp, wv, &lp));
    }
    int one = 1;
    MM_TRY(mm_mul(lp, t, &l));
    MM_TRY(mm_sum(l, 1, &one, false, &l));
    MM_TRY(mm_neg(l, &l));
    if (r != MM_LOSS_MEAN)
        return reduce(l, r, out);
    MM_TRY(mm_sum(l, 0, NULL, false, &l));
    return mm_div_scalar(l, (double)(c ? x->numel / c : 0), out);
}

static int class_loss(bool ce, mm_tensor *x, mm_tensor *target,
                      mm_tensor *weight, int64_t ign, mm_loss_reduction r,
                      double ls, mm_tensor **out) {
    const char *name = ce ? "cross_entropy" : "nll_loss";
    if (!x || !target)
        return mm_error_set(MM_EINVAL, "%s: %s is NULL", name,
                            x ? "target" : "input");
    MM_TRY(check_reduction(name, r));
    if (!(ls >= 0 && ls <= 1))
        return mm_error_set(MM_EINVAL,
                            "%s: label_smoothing must be in [0, 1], got %g",
                            name, ls);
    if (x->ndim < 1)
        return mm_error_set(MM_EINVAL,
                            "%s: input has 0 dims, expected at least 1", name);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    int rc = 0;
    bool unbatched = x->ndim == 1;
    mm_tensor *l = NULL;
    if (unbatched) {
        rc = mm_unsqueeze(x, 0, &x);
        if (rc == 0)
            rc = mm_unsqueeze(target, 0, &target);
    }
    if (rc == 0 && ce && mm_dtype_is_float(target->dtype)) {
        rc = soft_cross_entropy(name, x, target, weight, r, ls, &l);
    } else if (rc == 0) {
        /* torch does not differentiate the class weights here */
        mm_tensor *in[3] = {x, target, NULL};
        if (weight)
            rc = mm_detach(weight, &in[2]);
        mm_op_params p = {.i = {ign}, .f = {ls}};
        if (rc == 0)
            rc = mm_op_apply(ce ? &mm_op_cross_entropy : &mm_op_nll_loss,
                             weight ? 3 : 2, in, &p, &l);
        if (rc == 0 && r != MM_LOSS_NONE)
            rc = mm_sum(l, 0, NULL, false, &l);
        if (rc == 0 && r == MM_LOSS_MEAN)
            rc = mm_div_scalar(l, class_weight_total(target, weight, ign), &l);
    }
    if (rc == 0 && unbatched && r == MM_LOSS_NONE)
        rc = mm_squeeze(l, 0, &l);
    return mm_pool_finish(pool, rc, l, out);
}

int mm_cross_entropy(mm_tensor *input, mm_tensor *target, mm_tensor *weight,
                     int64_t ignore_index, mm_loss_reduction reduction,
                     double label_smoothing, mm_tensor **out) {
    return class_loss(true, input, target, weight, ignore_index, reduction,
                      label_smoothing, out);
}

int mm_nll_loss(mm_tensor *input, mm_tensor *target, mm_tensor *weight,
                int64_t ignore_index, mm_loss_reduction reduction,
                mm_tensor **out) {
    return class_loss(false, input, target, weight, ignore_index, reduction, 0,
                      out);
}
