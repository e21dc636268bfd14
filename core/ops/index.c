/* Indexing: gather, scatter (a src tensor, a scalar value, or adding),
 * index_select, index_add, masked_fill, nonzero, one_hot, embedding; and,
 * composed from them, masked_select and unique.
 *
 * Params:  gather, index_select   i[0] = dim
 *          scatter                i[0] = dim, f[0] = value (scatter_value)
 *          index_add              i[0] = dim, f[0] = alpha
 *          masked_fill            f[0] = value
 *          one_hot                i[0] = num_classes
 *          embedding (+backward)  i[0] = padding_idx (wrapped), i[1] = has one
 *
 * Indices out of range are errors ("gather: index 5 is out of bounds for
 * dimension 1 with size 3"), never a read or write outside the tensor. */
#include "index_impl.h"
#include "mm/reduction.h"

#include <stdlib.h>
#include <string.h>

static int check_index_dtype(const char *op, const mm_tensor *index,
                             bool allow_i32) {
    if (index->dtype == MM_I64 || (allow_i32 && index->dtype == MM_I32))
        return 0;
    return mm_error_set(MM_ETYPE, "%s: expected an index of dtype %s, got %s",
                        op, allow_i32 ? "i64 or i32" : "i64",
                        mm_dtype_name(index->dtype));
}

/* See reduction.c: params from a direct mm_op_apply are checked too. */
static int param_dim(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t d = ctx->params->i[0];
    if (d < 0 || d >= (x->ndim ? x->ndim : 1))
        return mm_error_set(MM_EINVAL, "%s: dim %lld out of range",
                            ctx->op->name, (long long)d);
    return 0;
}

static int64_t dim_size(const mm_tensor *t, int d) {
    return t->ndim ? t->shape[d] : 1;
}

static int bounds_error(const char *op, int64_t idx, int dim, int64_t size) {
    return mm_error_set(MM_EINVAL,
                        "%s: index %lld is out of bounds for dimension %d with "
                        "size %lld",
                        op, (long long)idx, dim, (long long)size);
}

/* ---- gather ------------------------------------------------------------- */

static int gather_infer(mm_op_ctx *ctx) {
    MM_TRY(param_dim(ctx));
    const mm_tensor *x = ctx->inputs[0], *index = ctx->inputs[1];
    int dim = (int)ctx->params->i[0];
    MM_TRY(check_index_dtype("gather", index, false));
    if (index->ndim != x->ndim && index->numel > 0)
        return mm_error_set(MM_EINVAL,
                            "gather: index has %d dims, expected %d (the "
                            "input's)",
                            index->ndim, x->ndim);
    for (int d = 0; d < x->ndim && index->numel > 0; d++)
        if (d != dim && index->shape[d] > x->shape[d])
            return mm_error_set(MM_EINVAL,
                                "gather: index size %lld > input size %lld at "
                                "dim %d",
                                (long long)index->shape[d],
                                (long long)x->shape[d], d);
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = index->ndim;
    memcpy(ctx->out_shape, index->shape, sizeof ctx->out_shape);
    return 0;
}

static int gather_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *index = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    int dim = (int)ctx->params->i[0];
    int64_t size = dim_size(x, dim), c[MM_MAX_DIMS];
    size_t es = mm_dtype_size(x->dtype);
    for (int64_t i = 0; i < out->numel; i++) {
        mm_coords(out->ndim, out->shape, i, c);
        int64_t idx = mm_load_i64(
            (const char *)index->storage->data + mm_tensor_elem_offset(index, i),
            index->dtype);
        if (idx < 0 || idx >= size)
            return bounds_error("gather", idx, dim, size);
        if (x->ndim)
            c[dim] = idx;
        double v = mm_load_f64((const char *)x->storage->data +
                                   mm_offset_at(x, c) * (int64_t)es,
                               x->dtype);
        if (mm_dtype_is_float(x->dtype))
            mm_store_f64((char *)mm_tensor_data(out) + i * (int64_t)es,
                         out->dtype, v);
        else
            mm_store_i64(
                (char *)mm_tensor_data(out) + i * (int64_t)es, out->dtype,
                mm_load_i64((const char *)x->storage->data +
                                mm_offset_at(x, c) * (int64_t)es,
                            x->dtype));
    }
    return 0;
}

static int gather_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *x = n->inputs[0], *z;
    MM_TRY(mm_zeros_like(x, &z));
    return mm_scatter_add(z, (int)n->params.i[0], n->inputs[1], g, &gin[0]);
}

const mm_op mm_op_gather = {
    .name = "gather",
    .n_inputs = 2,
    .infer = gather_infer,
    .reference = gather_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_gather},
    .backward = gather_backward,
};

/* The public entry of an op on (self, index[, src]) along dim: NULL checks,
 * dim wrapped into i[0], value into f[0]. */
static int apply_dim(const mm_op *op, mm_tensor *self, int dim,
                     mm_tensor *index, mm_tensor *src, double value,
                     mm_tensor **out) {
    if (!self || !index || (op->n_inputs == 3 && !src))
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    int d;
    MM_TRY(mm_dim_wrap(op->name, dim, self->ndim, &d));
    mm_op_params p = {.i = {d}, .f = {value}};
    mm_tensor *in[3] = {self, index, src};
    return mm_op_apply(op, op->n_inputs, in, &p, out);
}

int mm_gather(mm_tensor *x, int dim, mm_tensor *index, mm_tensor **out) {
    return apply_dim(&mm_op_gather, x, dim, index, NULL, 0, out);
}

/* ---- scatter, scatter_value, scatter_add ---------------------------------- */

static int scatter_infer(mm_op_ctx *ctx) {
    MM_TRY(param_dim(ctx));
    const mm_tensor *self = ctx->inputs[0], *index = ctx->inputs[1];
    const char *name = ctx->op->name;
    int dim = (int)ctx->params->i[0];
    MM_TRY(check_index_dtype(name, index, false));
    if (index->numel > 0) {
        if (index->ndim != self->ndim)
            return mm_error_set(MM_EINVAL,
                                "%s: index has %d dims, expected %d (self's)",
                                name, index->ndim, self->ndim);
        for (int d = 0; d < self->ndim; d++)
            if (d != dim && index->shape[d] > self->shape[d])
                return mm_error_set(
                    MM_EINVAL, "%s: index size %lld > self size %lld at dim %d",
                    name, (long long)index->shape[d],
                    (long long)self->shape[d], d);
        if (ctx->n_inputs == 3) {
            const mm_tensor *src = ctx->inputs[2];
            if (src->ndim != self->ndim)
                return mm_error_set(MM_EINVAL,
                                    "%s: src has %d dims, expected %d (self's)",
                                    name, src->ndim, self->ndim);
            for (int d = 0; d < self->ndim; d++)
                if (index->shape[d] > src->shape[d])
                    return mm_error_set(
                        MM_EINVAL,
                        "%s: index size %lld > src size %lld at dim %d", name,
                        (long long)index->shape[d], (long long)src->shape[d],
                        d);
        }
    }
    if (ctx->n_inputs == 3 && ctx->inputs[2]->dtype != self->dtype)
        return mm_error_set(MM_ETYPE, "%s: src is %s, self is %s", name,
                            mm_dtype_name(ctx->inputs[2]->dtype),
                            mm_dtype_name(self->dtype));
    ctx->out_dtype = self->dtype;
    ctx->out_ndim = self->ndim;
    memcpy(ctx->out_shape, self->shape, sizeof ctx->out_shape);
    return 0;
}

/* Positions in index order; duplicates: the last write wins (scatter), all
 * add up in order (scatter_add). */
static int scatter_reference(mm_op_ctx *ctx) {
    const mm_tensor *self = ctx->inputs[0], *index = ctx->inputs[1];
    const mm_tensor *src = ctx->n_inputs == 3 ? ctx->inputs[2] : NULL;
    mm_tensor *out = ctx->out;
    MM_TRY(mm_copy_strided(out, self));
    int dim = (int)ctx->params->i[0];
    int64_t size = dim_size(self, dim), c[MM_MAX_DIMS];
    size_t es = mm_dtype_size(out->dtype);
    bool is_float = mm_dtype_is_float(out->dtype);
    for (int64_t i = 0; i < index->numel; i++) {
        mm_coords(index->ndim, index->shape, i, c);
        int64_t idx = mm_load_i64((const char *)index->storage->data +
                                      mm_tensor_elem_offset(index, i),
                                  index->dtype);
        if (idx < 0 || idx >= size)
            return bounds_error(ctx->op->name, idx, dim, size);
        const char *ps =
            src ? (const char *)src->storage->data +
                      mm_offset_at(src, c) * (int64_t)es
                : NULL;
        if (self->ndim)
            c[dim] = idx;
        char *po =
            (char *)out->storage->data + mm_offset_at(out, c) * (int64_t)es;
        if (ctx->op->code == MM_SCATTER_ADD) {
            if (is_float)
                mm_store_f64(po, out->dtype,
                             mm_load_f64(po, out->dtype) +
                                 mm_load_f64(ps, src->dtype));
            else
                mm_store_i64(po, out->dtype,
                             (int64_t)((uint64_t)mm_load_i64(po, out->dtype) +
                                       (uint64_t)mm_load_i64(ps, src->dtype)));
        } else if (src) {
            memcpy(po, ps, es);
        } else {
            mm_store_f64(po, out->dtype, ctx->params->f[0]);
        }
    }
    return 0;
}

/* The gradient of src: gathered where index points, zero beyond index's
 * extent (src may be larger). */
static int src_grad(mm_tensor *g, int dim, mm_tensor *index,
                    const mm_tensor *src, mm_tensor **out) {
    mm_tensor *gs;
    MM_TRY(mm_gather(g, dim, index, &gs));
    if (mm_tensor_same_shape(gs, src))
        return mm_return_same(gs, out);
    int64_t pads[2 * MM_MAX_DIMS];
    for (int d = 0; d < src->ndim; d++) {
        pads[2 * d] = 0;
        pads[2 * d + 1] = src->shape[src->ndim - 1 - d] -
                          (index->numel ? index->shape[src->ndim - 1 - d] : 0);
    }
    if (index->numel == 0)
        return mm_zeros_like(src, out);
    return mm_pad(gs, 2 * src->ndim, pads, MM_PAD_CONSTANT, 0, out);
}

static int scatter_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    int dim = (int)n->params.i[0];
    mm_tensor *index = n->inputs[1];
    if (n->needs_grad[0]) {
        if (n->op->code == MM_SCATTER_ADD)
            MM_TRY(mm_return_same(g, &gin[0]));
        else
            MM_TRY(mm_scatter_value(g, dim, index, 0, &gin[0]));
    }
    if (n->n_inputs == 3 && n->needs_grad[2])
        MM_TRY(src_grad(g, dim, index, n->inputs[2], &gin[2]));
    return 0;
}

const mm_op mm_op_scatter = {
    .name = "scatter",
    .n_inputs = 3,
    .code = MM_SCATTER_SRC,
    .infer = scatter_infer,
    .reference = scatter_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_scatter},
    .backward = scatter_backward,
};

const mm_op mm_op_scatter_value = {
    .name = "scatter_value",
    .n_inputs = 2,
    .code = MM_SCATTER_VALUE,
    .infer = scatter_infer,
    .reference = scatter_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_scatter},
    .backward = scatter_backward,
};

const mm_op mm_op_scatter_add = {
    .name = "scatter_add",
    .n_inputs = 3,
    .code = MM_SCATTER_ADD,
    .infer = scatter_infer,
    .reference = scatter_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_scatter},
    .backward = scatter_backward,
};

int mm_scatter(mm_tensor *self, int dim, mm_tensor *index, mm_tensor *src,
               mm_tensor **out) {
    return apply_dim(&mm_op_scatter, self, dim, index, src, 0, out);
}
int mm_scatter_value(mm_tensor *self, int dim, mm_tensor *index, double value,
                     mm_tensor **out) {
    return apply_dim(&mm_op_scatter_value, self, dim, index, NULL, value, out);
}
int mm_scatter_add(mm_tensor *self, int dim, mm_tensor *index, mm_tensor *src,
                   mm_tensor **out) {
    return apply_dim(&mm_op_scatter_add, self, dim, index, src, 0, out);
}

/* ---- index_select, index_add -------------------------------------------- */

static int check_index_1d(const char *op, const mm_tensor *index) {
    MM_TRY(check_index_dtype(op, index, true));
    if (index->ndim > 1)
        return mm_error_set(MM_EINVAL,
                            "%s: index has %d dims, expected 0 or 1", op,
                            index->ndim);
    return 0;
}

static int index_select_infer(mm_op_ctx *ctx) {
    MM_TRY(param_dim(ctx));
    const mm_tensor *x = ctx->inputs[0], *index = ctx->inputs[1];
    int dim = (int)ctx->params->i[0];
    MM_TRY(check_index_1d("index_select", index));
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    if (x->ndim)
        ctx->out_shape[dim] = index->numel;
    else if (index->numel != 1)
        return mm_error_set(MM_EINVAL,
                            "index_select: a 0-dim input takes one index, "
                            "got %lld",
                            (long long)index->numel);
    return 0;
}

static int index_select_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *index = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    int dim = (int)ctx->params->i[0];
    int64_t size = dim_size(x, dim), c[MM_MAX_DIMS];
    size_t es = mm_dtype_size(x->dtype);
    for (int64_t i = 0; i < out->numel; i++) {
        mm_coords(out->ndim, out->shape, i, c);
        int64_t k = out->ndim ? c[dim] : 0;
        int64_t idx = mm_load_i64((const char *)index->storage->data +
                                      mm_tensor_elem_offset(index, k),
                                  index->dtype);
        if (idx < 0 || idx >= size)
            return bounds_error("index_select", idx, dim, size);
        if (out->ndim)
            c[dim] = idx;
        memcpy((char *)mm_tensor_data(out) + i * (int64_t)es,
               (const char *)x->storage->data + mm_offset_at(x, c) * (int64_t)es,
               es);
    }
    return 0;
}

static int index_select_backward(const mm_node *n, mm_tensor *g,
                                 mm_tensor **gin) {
    mm_tensor *z;
    MM_TRY(mm_zeros_like(n->inputs[0], &z));
    return mm_index_add(z, (int)n->params.i[0], n->inputs[1], g, 1, &gin[0]);
}

const mm_op mm_op_index_select = {
    .name = "index_select",
    .n_inputs = 2,
    .infer = index_select_infer,
    .reference = index_select_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_index_select},
    .backward = index_select_backward,
};

int mm_index_select(mm_tensor *x, int dim, mm_tensor *index, mm_tensor **out) {
    return apply_dim(&mm_op_index_select, x, dim, index, NULL, 0, out);
}

static int index_add_infer(mm_op_ctx *ctx) {
    MM_TRY(param_dim(ctx));
    const mm_tensor *self = ctx->inputs[0], *index = ctx->inputs[1],
                    *src = ctx->inputs[2];
    int dim = (int)ctx->params->i[0];
    MM_TRY(check_index_1d("index_add", index));
    if (src->dtype != self->dtype)
        return mm_error_set(MM_ETYPE, "index_add: source is %s, self is %s",
                            mm_dtype_name(src->dtype),
                            mm_dtype_name(self->dtype));
    bool ok = src->ndim == self->ndim;
    for (int d = 0; ok && d < self->ndim; d++)
        ok = src->shape[d] == (d == dim ? index->numel : self->shape[d]);
    if (!self->ndim)
        ok = src->numel == 1 && index->numel == 1;
    if (!ok) {
        char a[128], b[128];
        return mm_error_set(
            MM_EINVAL, "index_add: source %s does not match self %s with %lld "
                       "indices at dim %d",
            mm_shape_format(src->ndim, src->shape, a, sizeof a),
            mm_shape_format(self->ndim, self->shape, b, sizeof b),
            (long long)index->numel, dim);
    }
    ctx->out_dtype = self->dtype;
    ctx->out_ndim = self->ndim;
    memcpy(ctx->out_shape, self->shape, sizeof ctx->out_shape);
    return 0;
}

static int index_add_reference(mm_op_ctx *ctx) {
    const mm_tensor *self = ctx->inputs[0], *index = ctx->inputs[1],
                    *src = ctx->inputs[2];
    mm_tensor *out = ctx->out;
    MM_TRY(mm_copy_strided(out, self));
    int dim = (int)ctx->params->i[0];
    double alpha = ctx->params->f[0];
    int64_t size = dim_size(self, dim), c[MM_MAX_DIMS];
    size_t es = mm_dtype_size(out->dtype);
    bool is_float = mm_dtype_is_float(out->dtype);
    for (int64_t i = 0; i < src->numel; i++) {
        mm_coords(src->ndim, src->shape, i, c);
        int64_t k = src->ndim ? c[dim] : 0;
        int64_t idx = mm_load_i64((const char *)index->storage->data +
                                      mm_tensor_elem_offset(index, k),
                                  index->dtype);
        if (idx < 0 || idx >= size)
            return bounds_error("index_add", idx, dim, size);
        const char *ps = (const char *)src->storage->data +
                         mm_tensor_elem_offset(src, i);
        if (src->ndim)
            c[dim] = idx;
        char *po =
            (char *)out->storage->data + mm_offset_at(out, c) * (int64_t)es;
        if (is_float)
            mm_store_f64(po, out->dtype,
                         mm_load_f64(po, out->dtype) +
                             alpha * mm_load_f64(ps, src->dtype));
        else
            mm_store_i64(po, out->dtype,
                         mm_load_i64(po, out->dtype) +
                             (int64_t)alpha * mm_load_i64(ps, src->dtype));
    }
    return 0;
}

static int index_add_backward(const mm_node *n, mm_tensor *g,
                              mm_tensor **gin) {
    if (n->needs_grad[0])
        MM_TRY(mm_return_same(g, &gin[0]));
    if (n->needs_grad[2]) {
        mm_tensor *s;
        MM_TRY(mm_index_select(g, (int)n->params.i[0], n->inputs[1], &s));
        if (n->inputs[2]->ndim == 0)
            MM_TRY(mm_reshape(s, 0, NULL, &s));
        MM_TRY(mm_mul_scalar(s, n->params.f[0], &gin[2]));
    }
    return 0;
}

const mm_op mm_op_index_add = {
    .name = "index_add",
    .n_inputs = 3,
    .infer = index_add_infer,
    .reference = index_add_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_index_add},
    .backward = index_add_backward,
};

int mm_index_add(mm_tensor *self, int dim, mm_tensor *index,
                 mm_tensor *source, double alpha, mm_tensor **out) {
    if (!self || !index || !source)
        return mm_error_set(MM_EINVAL, "index_add: tensor is NULL");
    int d;
    MM_TRY(mm_dim_wrap("index_add", dim, self->ndim, &d));
    if (!mm_dtype_is_float(self->dtype) && alpha != (double)(int64_t)alpha)
        return mm_error_set(MM_ETYPE,
                            "index_add: alpha %g is not an integer for an "
                            "integer tensor",
                            alpha);
    mm_op_params p = {.i = {d}, .f = {alpha}};
    mm_tensor *in[3] = {self, index, source};
    return mm_op_apply(&mm_op_index_add, 3, in, &p, out);
}

/* ---- masked_fill -------------------------------------------------------- */

/* The wrapper expands x and mask to one shape. */
static int masked_fill_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *mask = ctx->inputs[1];
    if (mask->dtype != MM_BOOL)
        return mm_error_set(MM_ETYPE, "masked_fill: expected a bool mask, got %s",
                            mm_dtype_name(mask->dtype));
    if (!mm_tensor_same_shape(x, mask))
        return mm_error_set(MM_EINVAL, "masked_fill: mask and input shapes "
                                       "differ");
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    return 0;
}

static int masked_fill_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *mask = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    size_t es = mm_dtype_size(out->dtype);
    for (int64_t i = 0; i < out->numel; i++) {
        char *po = (char *)mm_tensor_data(out) + i * (int64_t)es;
        bool m = *((const uint8_t *)mask->storage->data +
                   mm_tensor_elem_offset(mask, i));
        if (m)
            mm_store_f64(po, out->dtype, ctx->params->f[0]);
        else
            memcpy(po,
                   (const char *)x->storage->data + mm_tensor_elem_offset(x, i),
                   es);
    }
    return 0;
}

static int masked_fill_backward(const mm_node *n, mm_tensor *g,
                                mm_tensor **gin) {
    return mm_masked_fill(g, n->inputs[1], 0, &gin[0]);
}

const mm_op mm_op_masked_fill = {
    .name = "masked_fill",
    .n_inputs = 2,
    .infer = masked_fill_infer,
    .reference = masked_fill_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_masked_fill},
    .backward = masked_fill_backward,
};

/* x and mask broadcast to one shape (expand views). */
static int broadcast_pair(const char *op, mm_tensor *x, mm_tensor *mask,
                          mm_tensor **xe, mm_tensor **me) {
    int nd;
    int64_t shape[MM_MAX_DIMS];
    MM_TRY(mm_broadcast_shapes(op, x->ndim, x->shape, mask->ndim, mask->shape,
                               &nd, shape));
    MM_TRY(mm_expand(x, nd, shape, xe));
    return mm_expand(mask, nd, shape, me);
}

int mm_masked_fill(mm_tensor *x, mm_tensor *mask, double value,
                   mm_tensor **out) {
    if (!x || !mask)
        return mm_error_set(MM_EINVAL, "masked_fill: tensor is NULL");
    if (mask->dtype != MM_BOOL)
        return mm_error_set(MM_ETYPE, "masked_fill: expected a bool mask, got %s",
                            mm_dtype_name(mask->dtype));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *xe, *me, *r = NULL;
    mm_op_params p = {.f = {value}};
    int rc = broadcast_pair("masked_fill", x, mask, &xe, &me);
    if (rc == 0)
        rc = mm_apply2(&mm_op_masked_fill, xe, me, &p, &r);
    return mm_pool_finish(pool, rc, r, out);
}

/* ---- nonzero -------------------------------------------------------------- */

static int nonzero_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t n = 0;
    for (int64_t i = 0; i < x->numel; i++)
        n += mm_load_f64((const char *)x->storage->data +
                             mm_tensor_elem_offset(x, i),
                         x->dtype) != 0;
    ctx->out_dtype = MM_I64;
    ctx->out_ndim = 2;
    ctx->out_shape[0] = n;
    ctx->out_shape[1] = x->ndim;
    return 0;
}

static int nonzero_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t *out = mm_tensor_data(ctx->out), c[MM_MAX_DIMS], k = 0;
    for (int64_t i = 0; i < x->numel && k < ctx->out->shape[0]; i++) {
        if (mm_load_f64((const char *)x->storage->data +
                            mm_tensor_elem_offset(x, i),
                        x->dtype) == 0)
            continue;
        mm_coords(x->ndim, x->shape, i, c);
        for (int d = 0; d < x->ndim; d++)
            out[k * x->ndim + d] = c[d];
        k++;
    }
    return 0;
}

const mm_op mm_op_nonzero = {
    .name = "nonzero",
    .n_inputs = 1,
    .infer = nonzero_infer,
    .reference = nonzero_reference,
};

int mm_nonzero(mm_tensor *x, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "nonzero: tensor is NULL");
    return mm_apply1(&mm_op_nonzero, x, NULL, out);
}

/* masked_select: the flat positions of the mask, index_select'ed. */
int mm_masked_select(mm_tensor *x, mm_tensor *mask, mm_tensor **out) {
    if (!x || !mask)
        return mm_error_set(MM_EINVAL, "masked_select: tensor is NULL");
    if (mask->dtype != MM_BOOL)
        return mm_error_set(MM_ETYPE,
                            "masked_select: expected a bool mask, got %s",
                            mm_dtype_name(mask->dtype));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *xe, *me, *xf, *mf, *nz, *r = NULL;
    int rc = broadcast_pair("masked_select", x, mask, &xe, &me);
    if (rc == 0)
        rc = mm_reshape(xe, 1, (int64_t[]){xe->numel}, &xf);
    if (rc == 0)
        rc = mm_reshape(me, 1, (int64_t[]){me->numel}, &mf);
    if (rc == 0)
        rc = mm_nonzero(mf, &nz);
    if (rc == 0)
        rc = mm_reshape(nz, 1, (int64_t[]){nz->shape[0]}, &nz);
    if (rc == 0)
        rc = mm_index_select(xf, 0, nz, &r);
    return mm_pool_finish(pool, rc, r, out);
}

/* ---- one_hot -------------------------------------------------------------- */

static int one_hot_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    if (x->dtype != MM_I64)
        return mm_error_set(MM_ETYPE, "one_hot: expected an i64 tensor, got %s",
                            mm_dtype_name(x->dtype));
    if (x->ndim >= MM_MAX_DIMS)
        return mm_error_set(MM_EINVAL, "one_hot: input has too many dims (%d)",
                            x->ndim);
    ctx->out_dtype = MM_I64;
    ctx->out_ndim = x->ndim + 1;
    memcpy(ctx->out_shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    ctx->out_shape[x->ndim] = ctx->params->i[0];
    return 0;
}

static int one_hot_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t c = ctx->params->i[0], *out = mm_tensor_data(ctx->out);
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t v = *(const int64_t *)((const char *)x->storage->data +
                                       mm_tensor_elem_offset(x, i));
        if (v < 0)
            return mm_error_set(MM_EINVAL,
                                "one_hot: class values must be non-negative");
        if (v >= c)
            return mm_error_set(
                MM_EINVAL, "one_hot: class values must be smaller than "
                           "num_classes");
        for (int64_t k = 0; k < c; k++)
            out[i * c + k] = k == v;
    }
    return 0;
}

const mm_op mm_op_one_hot = {
    .name = "one_hot",
    .n_inputs = 1,
    .infer = one_hot_infer,
    .reference = one_hot_reference,
};

int mm_one_hot(mm_tensor *x, int64_t num_classes, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "one_hot: tensor is NULL");
    if (x->dtype != MM_I64)
        return mm_error_set(MM_ETYPE, "one_hot: expected an i64 tensor, got %s",
                            mm_dtype_name(x->dtype));
    if (num_classes < -1)
        return mm_error_set(MM_EINVAL, "one_hot: num_classes must be -1 or "
                                       ">= 0, got %lld",
                            (long long)num_classes);
    if (num_classes == -1) { /* one more than the largest value */
        if (x->numel == 0)
            return mm_error_set(MM_EINVAL, "one_hot: cannot infer the number "
                                           "of classes from an empty tensor");
        int64_t m = INT64_MIN;
        for (int64_t i = 0; i < x->numel; i++) {
            int64_t v = *(const int64_t *)((const char *)x->storage->data +
                                           mm_tensor_elem_offset(x, i));
            m = v > m ? v : m;
        }
        num_classes = m < 0 ? 0 : m + 1;
    }
    mm_op_params p = {.i = {num_classes}};
    return mm_apply1(&mm_op_one_hot, x, &p, out);
}

/* ---- embedding ------------------------------------------------------------ */

static int embedding_infer(mm_op_ctx *ctx) {
    const mm_tensor *w = ctx->inputs[0], *idx = ctx->inputs[1];
    if (w->ndim != 2)
        return mm_error_set(MM_EINVAL, "embedding: weight has %d dims, "
                                       "expected 2",
                            w->ndim);
    MM_TRY(check_index_dtype("embedding", idx, true));
    if (idx->ndim >= MM_MAX_DIMS)
        return mm_error_set(MM_EINVAL, "embedding: indices have too many dims");
    ctx->out_dtype = w->dtype;
    ctx->out_ndim = idx->ndim + 1;
    memcpy(ctx->out_shape, idx->shape, sizeof(int64_t) * (size_t)idx->ndim);
    ctx->out_shape[idx->ndim] = w->shape[1];
    return 0;
}

static int embedding_reference(mm_op_ctx *ctx) {
    const mm_tensor *w = ctx->inputs[0], *idx = ctx->inputs[1];
    int64_t V = w->shape[0], D = w->shape[1];
    size_t es = mm_dtype_size(w->dtype);
    for (int64_t i = 0; i < idx->numel; i++) {
        int64_t r = mm_load_i64((const char *)idx->storage->data +
                                    mm_tensor_elem_offset(idx, i),
                                idx->dtype);
        if (r < 0 || r >= V)
            return bounds_error("embedding", r, 0, V);
        for (int64_t j = 0; j < D; j++)
            memcpy((char *)mm_tensor_data(ctx->out) + (i * D + j) * (int64_t)es,
                   (const char *)w->storage->data +
                       (w->offset + r * w->stride[0] + j * w->stride[1]) *
                           (int64_t)es,
                   es);
    }
    return 0;
}

/* inputs (g [N, D] contiguous, indices [N], weight for its shape) */
static int embedding_bw_infer(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *idx = ctx->inputs[1],
                    *w = ctx->inputs[2];
    MM_TRY(check_index_dtype("embedding_backward", idx, true));
    if (w->ndim != 2 || g->dtype != w->dtype ||
        g->numel != idx->numel * w->shape[1])
        return mm_error_set(MM_EINVAL,
                            "embedding_backward: grad does not match the "
                            "indices and a 2-D weight");
    ctx->out_dtype = w->dtype;
    ctx->out_ndim = 2;
    ctx->out_shape[0] = w->shape[0];
    ctx->out_shape[1] = w->shape[1];
    return 0;
}

static int embedding_bw_reference(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *idx = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    int64_t D = out->shape[1];
    bool has_pad = ctx->params->i[1] != 0;
    memset(mm_tensor_data(out), 0,
           (size_t)out->numel * mm_dtype_size(out->dtype));
    for (int64_t i = 0; i < idx->numel; i++) {
        int64_t r = mm_load_i64((const char *)idx->storage->data +
                                    mm_tensor_elem_offset(idx, i),
                                idx->dtype);
        if (r < 0 || r >= out->shape[0])
            return bounds_error("embedding_backward", r, 0, out->shape[0]);
        if (has_pad && r == ctx->params->i[0])
            continue;
        for (int64_t j = 0; j < D; j++)
            mm_tensor_set_flat(out, r * D + j,
                               mm_tensor_get_flat(out, r * D + j) +
                                   mm_tensor_get_flat(g, i * D + j));
    }
    return 0;
}

const mm_op mm_op_embedding_backward = {
    .name = "embedding_backward",
    .n_inputs = 3,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = embedding_bw_infer,
    .reference = embedding_bw_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_embedding_backward},
};

static int embedding_backward(const mm_node *n, mm_tensor *g,
                              mm_tensor **gin) {
    mm_tensor *w = n->inputs[0];
    mm_tensor *in[3] = {g, n->inputs[1], w};
    return mm_op_apply(&mm_op_embedding_backward, 3, in, &n->params, &gin[0]);
}

const mm_op mm_op_embedding = {
    .name = "embedding",
    .n_inputs = 2,
    .infer = embedding_infer,
    .reference = embedding_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_embedding},
    .backward = embedding_backward,
};

int mm_embedding(mm_tensor *weight, mm_tensor *indices, int64_t padding_idx,
                 bool has_padding_idx, mm_tensor **out) {
    if (!weight || !indices)
        return mm_error_set(MM_EINVAL, "embedding: tensor is NULL");
    if (weight->ndim != 2)
        return mm_error_set(MM_EINVAL, "embedding: weight has %d dims, "
                                       "expected 2",
                            weight->ndim);
    int64_t V = weight->shape[0];
    if (has_padding_idx) {
        if (padding_idx < -V || padding_idx >= V)
            return mm_error_set(MM_EINVAL,
                                "embedding: padding_idx %lld out of range for "
                                "%lld embeddings",
                                (long long)padding_idx, (long long)V);
        if (padding_idx < 0)
            padding_idx += V;
    }
    mm_op_params p = {.i = {padding_idx, has_padding_idx}};
    return mm_apply2(&mm_op_embedding, weight, indices, &p, out);
}

/* ---- unique --------------------------------------------------------------- */

static bool same_value(const mm_tensor *t, int64_t a, int64_t b) {
    if (mm_dtype_is_float(t->dtype))
        return mm_tensor_get_flat(t, a) == mm_tensor_get_flat(t, b);
    size_t es = mm_dtype_size(t->dtype);
    const char *d = mm_tensor_data(t);
    return mm_load_i64(d + a * (int64_t)es, t->dtype) ==
           mm_load_i64(d + b * (int64_t)es, t->dtype);
}

int mm_unique(mm_tensor *x, bool sorted, mm_tensor **values,
              mm_tensor **inverse, mm_tensor **counts) {
    (void)sorted; /* always sorted */
    if (!x || !values)
        return mm_error_set(MM_EINVAL, "unique: tensor is NULL");
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *flat, *perm, *first = NULL, *inv = NULL, *cnt = NULL,
                            *vals = NULL;
    int rc = mm_reshape(x, 1, (int64_t[]){x->numel}, &flat);
    if (rc == 0)
        rc = mm_contiguous(flat, &flat);
    if (rc == 0)
        rc = mm_argsort(flat, 0, false, true, &perm);
    int64_t n = x->numel;
    if (rc == 0)
        rc = mm_empty(1, (int64_t[]){n}, MM_I64, &first);
    if (rc == 0)
        rc = mm_empty(x->ndim, x->shape, MM_I64, &inv);
    if (rc == 0)
        rc = mm_empty(1, (int64_t[]){n}, MM_I64, &cnt);
    int64_t u = 0;
    if (rc == 0) {
        const int64_t *p = mm_tensor_data(perm);
        int64_t *f = mm_tensor_data(first), *iv = mm_tensor_data(inv),
                *c = mm_tensor_data(cnt);
        for (int64_t k = 0; k < n; k++) {
            if (k == 0 || !same_value(flat, p[k], p[k - 1])) {
                f[u] = p[k];
                c[u] = 0;
                u++;
            }
            c[u - 1]++;
            iv[p[k]] = u - 1;
        }
        rc = mm_narrow(first, 0, 0, u, &first);
    }
    if (rc == 0)
        rc = mm_narrow(cnt, 0, 0, u, &cnt);
    if (rc == 0)
        rc = mm_contiguous(cnt, &cnt);
    if (rc == 0)
        rc = mm_index_select(flat, 0, first, &vals);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    if (inverse)
        mm_tensor_retain(inv);
    if (counts)
        mm_tensor_retain(cnt);
    rc = mm_pool_close_keep(pool, vals, values);
    if (rc == 0 && inverse)
        rc = mm_tensor_publish(inv, inverse);
    if (rc == 0 && counts)
        rc = mm_tensor_publish(cnt, counts);
    return rc;
}
