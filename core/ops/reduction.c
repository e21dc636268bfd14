/* Reductions beyond sum and mean: amax, amin, var, std, logsumexp, norm,
 * prod, all, any over a set of dims (keepdim), argmax and argmin, max and
 * min with indices, cumsum, sort, argsort and topk along one dim.
 *
 * Params:  dim reductions   i[0] = mask of reduced dims, i[1] = keepdim,
 *                           f[0] = correction (var, std) or p (norm)
 *          their backward   the same, i[2] = the forward op's code; inputs
 *                           (x, y, g) with y and g in the keepdim shape
 *          argmax, argmin   i[0] = dim, i[1] = keepdim
 *          cumsum           i[0] = dim
 *          sort             i[0] = dim, i[1] = descending (always stable)
 *
 * max/min with a dim, sort and topk take their values with gather at the
 * indices, so the gradient flows to the returned index, as in torch. */
#include "reduction_impl.h"
#include "mm/reduction.h"

#include <stdlib.h>
#include <string.h>

/* ---- dim reductions ------------------------------------------------------ */

static int64_t count_of(const mm_tensor *x, int64_t mask) {
    int64_t c = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask >> d & 1)
            c *= x->shape[d];
    return c;
}

/* Element offset of the r-th reduced element of the o-th output. */
static int64_t group_offset(const mm_tensor *t, int64_t mask, int64_t o,
                            int64_t r) {
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t *i = mask >> d & 1 ? &r : &o;
        off += (*i % t->shape[d]) * t->stride[d];
        *i /= t->shape[d];
    }
    return off;
}

static int dimred_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t mask = ctx->params->i[0];
    bool keepdim = ctx->params->i[1] != 0;
    int code = ctx->op->code;
    const char *name = ctx->op->name;
    if (x->ndim > 0 && (mask & ~((INT64_C(1) << x->ndim) - 1)))
        return mm_error_set(MM_EINVAL, "%s: dim mask 0x%llx out of range",
                            name, (unsigned long long)mask);
    bool need_float = code == MM_DR_VAR || code == MM_DR_STD ||
                      code == MM_DR_LOGSUMEXP || code == MM_DR_NORM;
    if (need_float && !mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point tensor, got %s",
                            name, mm_dtype_name(x->dtype));
    if (code == MM_DR_NORM && !(ctx->params->f[0] >= 0) &&
        ctx->params->f[0] != -INFINITY)
        return mm_error_set(MM_EINVAL, "norm: p must be >= 0 or +-inf, got %g",
                            ctx->params->f[0]);
    bool need_items = code == MM_DR_AMAX || code == MM_DR_AMIN ||
                      (code == MM_DR_NORM && isinf(ctx->params->f[0]));
    for (int d = 0; need_items && d < x->ndim; d++)
        if ((mask >> d & 1) && x->shape[d] == 0)
            return mm_error_set(
                MM_EINVAL,
                "%s: expected reduction dim %d to have non-zero size", name, d);
    if (code == MM_DR_ALL || code == MM_DR_ANY) /* u8 stays u8, as in torch */
        ctx->out_dtype = x->dtype == MM_U8 ? MM_U8 : MM_BOOL;
    else if (code == MM_DR_PROD && !mm_dtype_is_float(x->dtype))
        ctx->out_dtype = MM_I64;
    else
        ctx->out_dtype = x->dtype;
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!(mask >> d & 1))
            ctx->out_shape[n++] = x->shape[d];
        else if (keepdim)
            ctx->out_shape[n++] = 1;
    }
    ctx->out_ndim = n;
    return 0;
}

static int dimred_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    int64_t mask = x->ndim ? ctx->params->i[0] : 0;
    int64_t count = count_of(x, mask);
    double *v = malloc((size_t)(count ? count : 1) * sizeof *v);
    if (!v)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", ctx->op->name);
    size_t es = mm_dtype_size(x->dtype), eo = mm_dtype_size(out->dtype);
    const char *xd = x->storage->data;
    for (int64_t o = 0; o < out->numel; o++) {
        for (int64_t r = 0; r < count; r++)
            v[r] = mm_load_f64(
                xd + group_offset(x, mask, o, r) * (int64_t)es, x->dtype);
        double y = mm_dr_eval(ctx->op->code, v, count, ctx->params->f[0]);
        mm_store_f64((char *)mm_tensor_data(out) + o * (int64_t)eo, out->dtype,
                     y);
    }
    free(v);
    return 0;
}

static int dimred_bw_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *y = ctx->inputs[1],
                    *g = ctx->inputs[2];
    int64_t mask = x->ndim ? ctx->params->i[0] : 0;
    if (x->ndim > 0 && (mask & ~((INT64_C(1) << x->ndim) - 1)))
        return mm_error_set(MM_EINVAL, "dimred_backward: dim mask out of range");
    int64_t count = count_of(x, mask),
            groups = count ? x->numel / count : 0;
    if (!count) {
        groups = 1;
        for (int d = 0; d < x->ndim; d++)
            if (!(mask >> d & 1))
                groups *= x->shape[d];
    }
    if (!mm_dtype_is_float(x->dtype) || y->dtype != x->dtype ||
        g->dtype != x->dtype || y->numel != groups || g->numel != groups)
        return mm_error_set(MM_EINVAL,
                            "dimred_backward: expected float y and grad of %lld "
                            "elements and x's dtype",
                            (long long)groups);
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    return 0;
}

/* Inputs are contiguous (MM_OP_FLAG_CONTIGUOUS); y and g have one element
 * per group, in order. */
static int dimred_bw_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *y = ctx->inputs[1],
                    *g = ctx->inputs[2];
    mm_tensor *out = ctx->out;
    int64_t mask = x->ndim ? ctx->params->i[0] : 0;
    int64_t count = count_of(x, mask);
    size_t n1 = (size_t)(count ? count : 1);
    double *v = malloc(n1 * sizeof *v), *gx = malloc(n1 * sizeof *gx);
    if (!v || !gx) {
        free(v);
        free(gx);
        return mm_error_set(MM_ENOMEM, "%s: out of memory", ctx->op->name);
    }
    size_t es = mm_dtype_size(x->dtype);
    const char *xd = x->storage->data;
    for (int64_t o = 0; o < y->numel; o++) {
        for (int64_t r = 0; r < count; r++)
            v[r] = mm_load_f64(
                xd + group_offset(x, mask, o, r) * (int64_t)es, x->dtype);
        mm_dr_grad((int)ctx->params->i[2], v, count, ctx->params->f[0],
                   mm_tensor_get_flat(y, o), mm_tensor_get_flat(g, o), gx);
        for (int64_t r = 0; r < count; r++)
            mm_store_f64((char *)out->storage->data +
                             group_offset(out, mask, o, r) * (int64_t)es,
                         out->dtype, gx[r]);
    }
    free(v);
    free(gx);
    return 0;
}

const mm_op mm_op_dimred_backward = {
    .name = "dimred_backward",
    .n_inputs = 3,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = dimred_bw_infer,
    .reference = dimred_bw_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_dimred_backward},
};

static int dimred_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *x = n->inputs[0], *y = n->output;
    int64_t mask = x->ndim ? n->params.i[0] : 0;
    if (!n->params.i[1]) {
        int64_t shape[MM_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++)
            shape[d] = mask >> d & 1 ? 1 : x->shape[d];
        MM_TRY(mm_reshape(g, x->ndim, shape, &g));
        MM_TRY(mm_reshape(y, x->ndim, shape, &y));
    }
    mm_op_params p = n->params;
    p.i[2] = n->op->code;
    mm_tensor *in[3] = {x, y, g};
    return mm_op_apply(&mm_op_dimred_backward, 3, in, &p, &gin[0]);
}

#define DIMRED_OP(NAME, CODE, BACKWARD)                                        \
    const mm_op mm_op_##NAME = {                                               \
        .name = #NAME,                                                         \
        .n_inputs = 1,                                                         \
        .flags = MM_OP_FLAG_SAVE_OUTPUT,                                       \
        .code = CODE,                                                          \
        .infer = dimred_infer,                                                 \
        .reference = dimred_reference,                                         \
        .kernel = {[MM_DEVICE_CPU] = mm_cpu_dimred},                           \
        .backward = BACKWARD,                                                  \
    };

DIMRED_OP(amax, MM_DR_AMAX, dimred_backward)
DIMRED_OP(amin, MM_DR_AMIN, dimred_backward)
DIMRED_OP(var, MM_DR_VAR, dimred_backward)
DIMRED_OP(std, MM_DR_STD, dimred_backward)
DIMRED_OP(logsumexp, MM_DR_LOGSUMEXP, dimred_backward)
DIMRED_OP(norm, MM_DR_NORM, dimred_backward)
DIMRED_OP(prod, MM_DR_PROD, dimred_backward)
DIMRED_OP(all, MM_DR_ALL, NULL)
DIMRED_OP(any, MM_DR_ANY, NULL)

static int apply_dimred(const mm_op *op, mm_tensor *x, int n_dims,
                        const int *dims, bool keepdim, double f,
                        mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    if (n_dims < 0 || (n_dims > 0 && !dims))
        return mm_error_set(MM_EINVAL, "%s: invalid dim list", op->name);
    int64_t mask = 0;
    for (int i = 0; i < n_dims; i++) {
        int d;
        MM_TRY(mm_dim_wrap(op->name, dims[i], x->ndim, &d));
        if (mask >> d & 1)
            return mm_error_set(MM_EINVAL, "%s: dim %d appears more than once",
                                op->name, d);
        mask |= INT64_C(1) << d;
    }
    if (n_dims == 0)
        mask = (INT64_C(1) << x->ndim) - 1;
    if (x->ndim == 0)
        mask = 0;
    mm_op_params p = {.i = {mask, keepdim}, .f = {f}};
    return mm_apply1(op, x, &p, out);
}

int mm_amax(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
            mm_tensor **out) {
    return apply_dimred(&mm_op_amax, x, n_dims, dims, keepdim, 0, out);
}
int mm_amin(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
            mm_tensor **out) {
    return apply_dimred(&mm_op_amin, x, n_dims, dims, keepdim, 0, out);
}
int mm_var(mm_tensor *x, int n_dims, const int *dims, double correction,
           bool keepdim, mm_tensor **out) {
    return apply_dimred(&mm_op_var, x, n_dims, dims, keepdim, correction, out);
}
int mm_std(mm_tensor *x, int n_dims, const int *dims, double correction,
           bool keepdim, mm_tensor **out) {
    return apply_dimred(&mm_op_std, x, n_dims, dims, keepdim, correction, out);
}
int mm_logsumexp(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
                 mm_tensor **out) {
    if (x && !mm_dtype_is_float(x->dtype))
        MM_TRY(mm_to_dtype(x, MM_F32, &x));
    return apply_dimred(&mm_op_logsumexp, x, n_dims, dims, keepdim, 0, out);
}
int mm_norm(mm_tensor *x, double p, int n_dims, const int *dims, bool keepdim,
            mm_tensor **out) {
    return apply_dimred(&mm_op_norm, x, n_dims, dims, keepdim, p, out);
}
int mm_prod(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
            mm_tensor **out) {
    return apply_dimred(&mm_op_prod, x, n_dims, dims, keepdim, 0, out);
}
int mm_all(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
           mm_tensor **out) {
    return apply_dimred(&mm_op_all, x, n_dims, dims, keepdim, 0, out);
}
int mm_any(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
           mm_tensor **out) {
    return apply_dimred(&mm_op_any, x, n_dims, dims, keepdim, 0, out);
}

/* ---- ops along one dim: argmax/argmin, cumsum, sort ---------------------- */

/* A contiguous tensor seen as lines along dim: line o starts at
 * (o / inner) * n * inner + o % inner and steps by inner. */
static void lines_of(const mm_tensor *x, int dim, int64_t *n_lines,
                     int64_t *n, int64_t *inner) {
    int64_t outer = 1, in = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < dim)
            outer *= x->shape[d];
        else if (d > dim)
            in *= x->shape[d];
    }
    *n = x->ndim ? x->shape[dim] : 1;
    *inner = in;
    *n_lines = outer * in;
}

/* A dim in the params is already wrapped by the public functions; a direct
 * mm_op_apply must not index outside the shape either. */
static int param_dim(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t d = ctx->params->i[0];
    if (d < 0 || d >= (x->ndim ? x->ndim : 1))
        return mm_error_set(MM_EINVAL, "%s: dim %lld out of range",
                            ctx->op->name, (long long)d);
    return 0;
}

static int arg_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int dim = (int)ctx->params->i[0];
    MM_TRY(param_dim(ctx));
    if (x->ndim && x->shape[dim] == 0)
        return mm_error_set(
            MM_EINVAL, "%s: expected reduction dim %d to have non-zero size",
            ctx->op->name, dim);
    ctx->out_dtype = MM_I64;
    int n = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != dim || ctx->params->i[1])
            ctx->out_shape[n++] = d == dim ? 1 : x->shape[d];
    ctx->out_ndim = n;
    return 0;
}

/* True when a should replace the current best b (first of ties wins; NaN
 * wins and stays). */
static inline bool arg_better(double a, double b, bool is_max) {
    if (isnan(b))
        return false;
    if (isnan(a))
        return true;
    return is_max ? a > b : a < b;
}

static int arg_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t n_lines, n, inner;
    lines_of(x, (int)ctx->params->i[0], &n_lines, &n, &inner);
    size_t es = mm_dtype_size(x->dtype);
    const char *xd = mm_tensor_data(x);
    int64_t *out = mm_tensor_data(ctx->out);
    bool is_max = ctx->op->code == 0;
    for (int64_t o = 0; o < n_lines; o++) {
        int64_t base = (o / inner) * n * inner + o % inner, best = 0;
        double bv = mm_load_f64(xd + base * (int64_t)es, x->dtype);
        for (int64_t k = 1; k < n; k++) {
            double v =
                mm_load_f64(xd + (base + k * inner) * (int64_t)es, x->dtype);
            if (arg_better(v, bv, is_max)) {
                bv = v;
                best = k;
            }
        }
        out[o] = best;
    }
    return 0;
}

const mm_op mm_op_argmax = {
    .name = "argmax",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .code = 0,
    .infer = arg_infer,
    .reference = arg_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_arg},
};

const mm_op mm_op_argmin = {
    .name = "argmin",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .code = 1,
    .infer = arg_infer,
    .reference = arg_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_arg},
};

static int apply_arg(const mm_op *op, mm_tensor *x, const int *dim,
                     bool keepdim, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    int d = 0;
    if (!dim) { /* over the flattened tensor */
        if (x->numel == 0)
            return mm_error_set(MM_EINVAL,
                                "%s: expected a non-empty tensor (no dim given)",
                                op->name);
        mm_pool *pool;
        MM_TRY(mm_pool_open(&pool));
        mm_tensor *flat, *r = NULL;
        mm_op_params p = {.i = {0, 0}};
        int rc = mm_reshape(x, 1, (int64_t[]){x->numel}, &flat);
        if (rc == 0)
            rc = mm_apply1(op, flat, &p, &r);
        if (rc == 0 && keepdim) {
            int64_t ones[MM_MAX_DIMS];
            for (int i = 0; i < x->ndim; i++)
                ones[i] = 1;
            rc = mm_reshape(r, x->ndim, ones, &r);
        }
        if (rc < 0) {
            mm_pool_close(pool);
            return rc;
        }
        return mm_pool_close_keep(pool, r, out);
    }
    MM_TRY(mm_dim_wrap(op->name, *dim, x->ndim, &d));
    mm_op_params p = {.i = {d, keepdim}};
    return mm_apply1(op, x, &p, out);
}

int mm_argmax(mm_tensor *x, const int *dim, bool keepdim, mm_tensor **out) {
    return apply_arg(&mm_op_argmax, x, dim, keepdim, out);
}
int mm_argmin(mm_tensor *x, const int *dim, bool keepdim, mm_tensor **out) {
    return apply_arg(&mm_op_argmin, x, dim, keepdim, out);
}

/* values = gather(x, dim, argmax(x, dim, keepdim=true)): the gradient goes
 * to the returned index. */
static int max_min_dim(const mm_op *op, mm_tensor *x, int dim, bool keepdim,
                       mm_tensor **values, mm_tensor **indices) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    const char *name = op == &mm_op_argmax ? "max" : "min";
    int d;
    MM_TRY(mm_dim_wrap(name, dim, x->ndim, &d));
    if (x->ndim && x->shape[d] == 0)
        return mm_error_set(
            MM_EINVAL, "%s: expected reduction dim %d to have non-zero size",
            name, d);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *idx, *val = NULL;
    mm_op_params p = {.i = {d, 1}};
    int rc = mm_apply1(op, x, &p, &idx);
    if (rc == 0)
        rc = x->ndim ? mm_gather(x, d, idx, &val) : mm_clone(x, &val);
    if (rc == 0 && !keepdim && x->ndim) {
        rc = mm_squeeze(val, d, &val);
        if (rc == 0)
            rc = mm_squeeze(idx, d, &idx);
    }
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    mm_tensor_retain(idx);
    rc = mm_pool_close_keep(pool, val, values);
    int rc2 = mm_tensor_publish(idx, indices);
    return rc < 0 ? rc : rc2;
}

int mm_max_dim(mm_tensor *x, int dim, bool keepdim, mm_tensor **values,
               mm_tensor **indices) {
    return max_min_dim(&mm_op_argmax, x, dim, keepdim, values, indices);
}
int mm_min_dim(mm_tensor *x, int dim, bool keepdim, mm_tensor **values,
               mm_tensor **indices) {
    return max_min_dim(&mm_op_argmin, x, dim, keepdim, values, indices);
}

/* cumsum */

static int same_shape_infer(mm_op_ctx *ctx, mm_dtype dt) {
    const mm_tensor *x = ctx->inputs[0];
    ctx->out_dtype = dt;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    return 0;
}

static int cumsum_infer(mm_op_ctx *ctx) {
    MM_TRY(param_dim(ctx));
    mm_dtype dt = ctx->inputs[0]->dtype;
    return same_shape_infer(ctx, mm_dtype_is_float(dt) ? dt : MM_I64);
}

static int cumsum_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *y = ctx->out;
    int64_t n_lines, n, inner;
    lines_of(x, (int)ctx->params->i[0], &n_lines, &n, &inner);
    size_t es = mm_dtype_size(x->dtype), eo = mm_dtype_size(y->dtype);
    const char *xd = mm_tensor_data(x);
    char *yd = mm_tensor_data(y);
    bool is_float = mm_dtype_is_float(x->dtype);
    for (int64_t o = 0; o < n_lines; o++) {
        int64_t base = (o / inner) * n * inner + o % inner;
        double acc = 0;
        int64_t iacc = 0;
        for (int64_t k = 0; k < n; k++) {
            int64_t i = base + k * inner;
            if (is_float) {
                acc += mm_load_f64(xd + i * (int64_t)es, x->dtype);
                mm_store_f64(yd + i * (int64_t)eo, y->dtype, acc);
            } else {
                iacc = (int64_t)((uint64_t)iacc +
                                 (uint64_t)mm_load_i64(xd + i * (int64_t)es,
                                                       x->dtype));
                mm_store_i64(yd + i * (int64_t)eo, y->dtype, iacc);
            }
        }
    }
    return 0;
}

/* d cumsum = reversed cumsum of the reversed gradient */
static int cumsum_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    if (n->inputs[0]->ndim == 0)
        return mm_return_same(g, &gin[0]);
    int dim = (int)n->params.i[0];
    mm_tensor *f, *c;
    MM_TRY(mm_flip(g, 1, &dim, &f));
    MM_TRY(mm_cumsum(f, dim, &c));
    return mm_flip(c, 1, &dim, &gin[0]);
}

const mm_op mm_op_cumsum = {
    .name = "cumsum",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = cumsum_infer,
    .reference = cumsum_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_cumsum},
    .backward = cumsum_backward,
};

int mm_cumsum(mm_tensor *x, int dim, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "cumsum: tensor is NULL");
    int d;
    MM_TRY(mm_dim_wrap("cumsum", dim, x->ndim, &d));
    mm_op_params p = {.i = {d}};
    return mm_apply1(&mm_op_cumsum, x, &p, out);
}

/* sort: the permutation (i64) along dim */

static int sort_infer(mm_op_ctx *ctx) {
    MM_TRY(param_dim(ctx));
    return same_shape_infer(ctx, MM_I64);
}

/* Insertion sort, stable: plain and obviously right. */
static int sort_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t n_lines, n, inner;
    lines_of(x, (int)ctx->params->i[0], &n_lines, &n, &inner);
    bool desc = ctx->params->i[1] != 0;
    size_t es = mm_dtype_size(x->dtype);
    const char *xd = mm_tensor_data(x);
    int64_t *out = mm_tensor_data(ctx->out);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return mm_error_set(MM_ENOMEM, "sort: out of memory");
    for (int64_t o = 0; o < n_lines; o++) {
        int64_t base = (o / inner) * n * inner + o % inner;
        for (int64_t k = 0; k < n; k++) {
            double e =
                mm_load_f64(xd + (base + k * inner) * (int64_t)es, x->dtype);
            int64_t j = k;
            while (j > 0 && mm_sort_cmp(v[j - 1], e, desc) > 0) {
                v[j] = v[j - 1];
                out[base + j * inner] = out[base + (j - 1) * inner];
                j--;
            }
            v[j] = e;
            out[base + j * inner] = k;
        }
    }
    free(v);
    return 0;
}

const mm_op mm_op_sort = {
    .name = "sort",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = sort_infer,
    .reference = sort_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_sort},
};

int mm_argsort(mm_tensor *x, int dim, bool descending, bool stable,
               mm_tensor **out) {
    (void)stable; /* always stable */
    if (!x)
        return mm_error_set(MM_EINVAL, "argsort: tensor is NULL");
    int d;
    MM_TRY(mm_dim_wrap("argsort", dim, x->ndim, &d));
    mm_op_params p = {.i = {d, descending}};
    return mm_apply1(&mm_op_sort, x, &p, out);
}

int mm_sort(mm_tensor *x, int dim, bool descending, bool stable,
            mm_tensor **values, mm_tensor **indices) {
    if (!x)
        return mm_error_set(MM_EINVAL, "sort: tensor is NULL");
    int d;
    MM_TRY(mm_dim_wrap("sort", dim, x->ndim, &d));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *idx, *val = NULL;
    int rc = mm_argsort(x, d, descending, stable, &idx);
    if (rc == 0)
        rc = x->ndim ? mm_gather(x, d, idx, &val) : mm_clone(x, &val);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    mm_tensor_retain(idx);
    rc = mm_pool_close_keep(pool, val, values);
    int rc2 = mm_tensor_publish(idx, indices);
    return rc < 0 ? rc : rc2;
}

int mm_topk(mm_tensor *x, int64_t k, int dim, bool largest, bool sorted,
            mm_tensor **values, mm_tensor **indices) {
    (void)sorted; /* always sorted */
    if (!x)
        return mm_error_set(MM_EINVAL, "topk: tensor is NULL");
    int d;
    MM_TRY(mm_dim_wrap("topk", dim, x->ndim, &d));
    int64_t size = x->ndim ? x->shape[d] : 1;
    if (k < 0 || k > size)
        return mm_error_set(MM_EINVAL,
                            "topk: k (%lld) is out of range for dim %d of size "
                            "%lld",
                            (long long)k, d, (long long)size);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *idx, *val = NULL;
    int rc = mm_argsort(x, d, largest, true, &idx);
    if (rc == 0 && x->ndim)
        rc = mm_narrow(idx, d, 0, k, &idx);
    if (rc == 0)
        rc = mm_contiguous(idx, &idx);
    if (rc == 0)
        rc = x->ndim ? mm_gather(x, d, idx, &val) : mm_clone(x, &val);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    mm_tensor_retain(idx);
    rc = mm_pool_close_keep(pool, val, values);
    int rc2 = mm_tensor_publish(idx, indices);
    return rc < 0 ? rc : rc2;
}
