/* Reductions over dims: sum and mean, with keepdim.
 *
 * Params: i[0] = mask of reduced dims (bit d), i[1] = keepdim. */
#include "ops_internal.h"

#include <math.h>
#include <string.h>

static int reduce_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t mask = ctx->params->i[0];
    bool keepdim = ctx->params->i[1] != 0;
    if (x->ndim > 0 && (mask & ~((INT64_C(1) << x->ndim) - 1)))
        return mm_error_set(
            MM_EINVAL,
            "%s: dim mask 0x%llx out of range for a tensor of %d dims",
            ctx->op->name, (unsigned long long)mask, x->ndim);
    if (ctx->op->code == MM_RED_MEAN && !mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "mean: expected a floating-point tensor, got %s",
                            mm_dtype_name(x->dtype));
    ctx->out_dtype = mm_dtype_is_float(x->dtype) ? x->dtype : MM_I64;
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

static int64_t reduced_count(const mm_tensor *x, int64_t mask) {
    int64_t c = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask >> d & 1)
            c *= x->shape[d];
    return c;
}

static int reduce_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    int64_t mask = x->ndim ? ctx->params->i[0] : 0;
    int64_t count = reduced_count(x, mask);
    bool is_float = mm_dtype_is_float(x->dtype);
    size_t es = mm_dtype_size(x->dtype), eo = mm_dtype_size(out->dtype);
    const char *xd = x->storage->data;
    for (int64_t o = 0; o < out->numel; o++) {
        int64_t base = x->offset, rem = o;
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (mask >> d & 1)
                continue;
            base += (rem % x->shape[d]) * x->stride[d];
            rem /= x->shape[d];
        }
        double acc = 0;
        uint64_t iacc = 0;
        for (int64_t r = 0; r < count; r++) {
            int64_t off = base, rr = r;
            for (int d = x->ndim - 1; d >= 0; d--) {
                if (!(mask >> d & 1))
                    continue;
                off += (rr % x->shape[d]) * x->stride[d];
                rr /= x->shape[d];
            }
            if (is_float)
                acc += mm_load_f64(xd + off * (int64_t)es, x->dtype);
            else
                iacc += (uint64_t)mm_load_i64(xd + off * (int64_t)es, x->dtype);
        }
        char *po = (char *)mm_tensor_data(out) + o * (int64_t)eo;
        if (!is_float)
            mm_store_i64(po, out->dtype, (int64_t)iacc);
        else
            mm_store_f64(po, out->dtype,
                         ctx->op->code == MM_RED_MEAN ? acc / (double)count
                                                      : acc);
    }
    return 0;
}

static int reduce_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    const mm_tensor *x = n->inputs[0];
    int64_t mask = x->ndim ? n->params.i[0] : 0;
    if (n->op->code == MM_RED_MEAN)
        MM_TRY(mm_mul_scalar(g, 1.0 / (double)reduced_count(x, mask), &g));
    if (!n->params.i[1]) { /* put the reduced dims back as size 1 */
        int64_t shape[MM_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++)
            shape[d] = mask >> d & 1 ? 1 : x->shape[d];
        MM_TRY(mm_reshape(g, x->ndim, shape, &g));
    }
    return mm_expand(g, x->ndim, x->shape, &gin[0]);
}

const mm_op mm_op_sum = {
    .name = "sum",
    .n_inputs = 1,
    .code = MM_RED_SUM,
    .infer = reduce_infer,
    .reference = reduce_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_reduce},
    .backward = reduce_backward,
};

const mm_op mm_op_mean = {
    .name = "mean",
    .n_inputs = 1,
    .code = MM_RED_MEAN,
    .infer = reduce_infer,
    .reference = reduce_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_reduce},
    .backward = reduce_backward,
};

static int apply_reduce(const mm_op *op, mm_tensor *x, int n_dims,
                        const int *dims, bool keepdim, mm_tensor **out) {
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
    mm_op_params p = {.i = {mask, keepdim}};
    return mm_apply1(op, x, &p, out);
}

int mm_sum(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
           mm_tensor **out) {
    return apply_reduce(&mm_op_sum, x, n_dims, dims, keepdim, out);
}

int mm_mean(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
            mm_tensor **out) {
    return apply_reduce(&mm_op_mean, x, n_dims, dims, keepdim, out);
}

int mm_sum_to_shape(mm_tensor *x, int ndim, const int64_t *shape,
                    mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "sum_to_shape: tensor is NULL");
    int lead = x->ndim - ndim;
    bool ok = lead >= 0;
    int64_t mask = 0;
    for (int d = 0; ok && d < x->ndim; d++) {
        if (d < lead) {
            mask |= INT64_C(1) << d;
        } else if (shape[d - lead] != x->shape[d]) {
            ok = shape[d - lead] == 1;
            mask |= INT64_C(1) << d;
        }
    }
    if (!ok) {
        char a[256], b[256];
        return mm_error_set(MM_EINVAL,
                            "sum_to_shape: shape %s cannot be summed to %s",
                            mm_shape_format(x->ndim, x->shape, a, sizeof a),
                            mm_shape_format(ndim, shape, b, sizeof b));
    }
    if (!mask)
        return mm_return_same(x, out);
    mm_op_params p = {.i = {mask, 1}};
    mm_tensor *s;
    MM_TRY(mm_apply1(&mm_op_sum, x, &p, &s));
    if (lead == 0)
        return mm_return_same(s, out);
    return mm_reshape(s, ndim, shape, out);
}
