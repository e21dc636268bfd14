/* Views and shape ops. Four view ops share storage with their input: view
 * (any new shape the strides allow), permute, slice (narrow with a step)
 * and expand; cat and flip copy. Everything else (reshape, transpose,
 * select, squeeze, unsqueeze, flatten, stack, split, chunk, repeat) is
 * composed from those, and so is its backward.
 *
 * Params:  view    i[0] = ndim, i[1..] = shape (one -1 allowed)
 *          permute i[0..ndim-1] = dims
 *          slice   i[0] = dim, i[1] = start, i[2] = end, i[3] = step
 *                  (0 <= start <= end <= size, step >= 1)
 *          expand  i[0] = ndim, i[1..] = shape (-1 keeps a size)
 *          cat     i[0] = dim
 *          flip    i[0] = mask of flipped dims */
#include "ops_internal.h"

#include <stdlib.h>
#include <string.h>

static int set_out_like(mm_op_ctx *ctx, const mm_tensor *x) {
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    memcpy(ctx->out_stride, x->stride, sizeof ctx->out_stride);
    ctx->out_offset = x->offset;
    return 0;
}

/* ---- view --------------------------------------------------------------- */

/* Strides for viewing x as `shape` without a copy (ATen's computeStride);
 * false when the memory layout does not allow it. */
static bool view_strides(const mm_tensor *x, int nd, const int64_t *shape,
                         int64_t *stride) {
    if (x->numel == 0) {
        mm_contiguous_strides(nd, shape, stride);
        return true;
    }
    int on = x->ndim;
    int64_t one = 1;
    const int64_t *oshape = on ? x->shape : &one,
                  *ostride = on ? x->stride : &one;
    if (!on)
        on = 1;
    int view_d = nd - 1;
    int64_t chunk_base_stride = ostride[on - 1], tensor_numel = 1,
            view_numel = 1;
    for (int td = on - 1; td >= 0; td--) {
        tensor_numel *= oshape[td];
        if (td == 0 || (oshape[td - 1] != 1 &&
                        ostride[td - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 &&
                   (view_numel < tensor_numel || shape[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel)
                return false;
            if (td > 0) {
                chunk_base_stride = ostride[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

/* Resolve a -1 in `in` against x's element count. */
static int infer_size(const char *op, const mm_tensor *x, int nd,
                      const int64_t *in, int64_t *out) {
    char a[256];
    if (nd < 0 || nd > MM_MAX_DIMS)
        return mm_error_set(MM_EINVAL, "%s: %d dims (at most %d are supported)",
                            op, nd, MM_MAX_DIMS);
    if (nd > 0 && !in)
        return mm_error_set(MM_EINVAL, "%s: no shape given", op);
    int infer = -1;
    int64_t n = 1;
    for (int d = 0; d < nd; d++) {
        out[d] = in[d];
        if (in[d] == -1) {
            if (infer >= 0)
                return mm_error_set(MM_EINVAL,
                                    "%s: only one dim can be -1 in %s", op,
                                    mm_shape_format(nd, in, a, sizeof a));
            infer = d;
        } else if (in[d] < 0) {
            return mm_error_set(MM_EINVAL, "%s: invalid size %lld in shape %s",
                                op, (long long)in[d],
                                mm_shape_format(nd, in, a, sizeof a));
        } else {
            if (in[d] && n > INT64_MAX / in[d])
                return mm_error_set(MM_EINVAL, "%s: shape %s is too large", op,
                                    mm_shape_format(nd, in, a, sizeof a));
            n *= in[d];
        }
    }
    if (infer >= 0) {
        if (n == 0 || x->numel % n != 0)
            return mm_error_set(
                MM_EINVAL, "%s: shape %s is invalid for input of size %lld", op,
                mm_shape_format(nd, in, a, sizeof a), (long long)x->numel);
        out[infer] = x->numel / n;
        n = x->numel;
    }
    if (n != x->numel)
        return mm_error_set(
            MM_EINVAL, "%s: shape %s is invalid for input of size %lld", op,
            mm_shape_format(nd, in, a, sizeof a), (long long)x->numel);
    return 0;
}

static int view_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int nd = (int)ctx->params->i[0];
    int64_t shape[MM_MAX_DIMS];
    MM_TRY(infer_size("view", x, nd, ctx->params->i + 1, shape));
    if (!view_strides(x, nd, shape, ctx->out_stride)) {
        char a[256], b[256];
        return mm_error_set(
            MM_EINVAL,
            "view: shape %s is not compatible with the strides of input %s "
            "(use reshape, which copies)",
            mm_shape_format(nd, shape, a, sizeof a),
            mm_shape_format(x->ndim, x->shape, b, sizeof b));
    }
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = nd;
    memcpy(ctx->out_shape, shape, (size_t)nd * sizeof *shape);
    ctx->out_offset = x->offset;
    return 0;
}

static int view_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    const mm_tensor *x = n->inputs[0];
    return mm_reshape(g, x->ndim, x->shape, &gin[0]);
}

const mm_op mm_op_view = {
    .name = "view",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_VIEW,
    .infer = view_infer,
    .backward = view_backward,
};

static int apply_view(mm_tensor *x, int nd, const int64_t *shape,
                      mm_tensor **out) {
    mm_op_params p = {.i = {nd}};
    if (nd < 0 || nd > MM_MAX_DIMS)
        return mm_error_set(MM_EINVAL,
                            "view: %d dims (at most %d are supported)", nd,
                            MM_MAX_DIMS);
    if (nd)
        memcpy(p.i + 1, shape, (size_t)nd * sizeof *shape);
    return mm_apply1(&mm_op_view, x, &p, out);
}

int mm_view(mm_tensor *x, int nd, const int64_t *shape, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "view: tensor is NULL");
    return apply_view(x, nd, shape, out);
}

int mm_reshape(mm_tensor *x, int nd, const int64_t *shape, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "reshape: tensor is NULL");
    int64_t s[MM_MAX_DIMS], st[MM_MAX_DIMS];
    MM_TRY(infer_size("reshape", x, nd, shape, s));
    if (view_strides(x, nd, s, st))
        return apply_view(x, nd, s, out);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *c, *v = NULL;
    int rc = mm_clone(x, &c);
    if (rc == 0)
        rc = apply_view(c, nd, s, &v);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, v, out);
}

int mm_flatten(mm_tensor *x, int start, int end, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "flatten: tensor is NULL");
    if (x->ndim == 0)
        return mm_reshape(x, MM_SHAPE(1), out);
    int s, e;
    MM_TRY(mm_dim_wrap("flatten", start, x->ndim, &s));
    MM_TRY(mm_dim_wrap("flatten", end, x->ndim, &e));
    if (s > e)
        return mm_error_set(MM_EINVAL,
                            "flatten: start dim %d comes after end dim %d",
                            start, end);
    int64_t shape[MM_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < s; d++)
        shape[nd++] = x->shape[d];
    int64_t m = 1;
    for (int d = s; d <= e; d++)
        m *= x->shape[d];
    shape[nd++] = m;
    for (int d = e + 1; d < x->ndim; d++)
        shape[nd++] = x->shape[d];
    return mm_reshape(x, nd, shape, out);
}

int mm_squeeze(mm_tensor *x, int dim, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "squeeze: tensor is NULL");
    int d;
    MM_TRY(mm_dim_wrap("squeeze", dim, x->ndim, &d));
    if (x->ndim == 0 || x->shape[d] != 1)
        return apply_view(x, x->ndim, x->shape, out);
    int64_t shape[MM_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != d)
            shape[nd++] = x->shape[i];
    return apply_view(x, nd, shape, out);
}

int mm_squeeze_all(mm_tensor *x, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "squeeze: tensor is NULL");
    int64_t shape[MM_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] != 1)
            shape[nd++] = x->shape[i];
    return apply_view(x, nd, shape, out);
}

int mm_unsqueeze(mm_tensor *x, int dim, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "unsqueeze: tensor is NULL");
    if (x->ndim >= MM_MAX_DIMS)
        return mm_error_set(
            MM_EINVAL,
            "unsqueeze: a tensor of %d dims cannot gain one (at most %d)",
            x->ndim, MM_MAX_DIMS);
    int d;
    MM_TRY(mm_dim_wrap("unsqueeze", dim, x->ndim + 1, &d));
    int64_t shape[MM_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i <= x->ndim; i++) {
        if (i == d)
            shape[nd++] = 1;
        if (i < x->ndim)
            shape[nd++] = x->shape[i];
    }
    return apply_view(x, nd, shape, out);
}

/* ---- permute ------------------------------------------------------------ */

static int permute_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    bool seen[MM_MAX_DIMS] = {false};
    for (int d = 0; d < x->ndim; d++) {
        int64_t p = ctx->params->i[d];
        if (p < 0 || p >= x->ndim || seen[p]) {
            char a[256];
            return mm_error_set(
                MM_EINVAL, "permute: dims %s are not a permutation of %d dims",
                mm_shape_format(x->ndim, ctx->params->i, a, sizeof a), x->ndim);
        }
        seen[p] = true;
        ctx->out_shape[d] = x->shape[p];
        ctx->out_stride[d] = x->stride[p];
    }
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    ctx->out_offset = x->offset;
    return 0;
}

static int permute_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    int inv[MM_MAX_DIMS];
    for (int d = 0; d < n->inputs[0]->ndim; d++)
        inv[n->params.i[d]] = d;
    return mm_permute(g, n->inputs[0]->ndim, inv, &gin[0]);
}

const mm_op mm_op_permute = {
    .name = "permute",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_VIEW,
    .infer = permute_infer,
    .backward = permute_backward,
};

int mm_permute(mm_tensor *x, int nd, const int *dims, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "permute: tensor is NULL");
    if (nd != x->ndim)
        return mm_error_set(MM_EINVAL,
                            "permute: %d dims given for a tensor of %d dims",
                            nd, x->ndim);
    mm_op_params p = {{0}};
    for (int d = 0; d < nd; d++) {
        int w;
        MM_TRY(mm_dim_wrap("permute", dims[d], x->ndim, &w));
        p.i[d] = w;
    }
    return mm_apply1(&mm_op_permute, x, &p, out);
}

int mm_transpose(mm_tensor *x, int dim0, int dim1, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "transpose: tensor is NULL");
    int a, b;
    MM_TRY(mm_dim_wrap("transpose", dim0, x->ndim, &a));
    MM_TRY(mm_dim_wrap("transpose", dim1, x->ndim, &b));
    int perm[MM_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        perm[d] = d;
    if (x->ndim) {
        perm[a] = b;
        perm[b] = a;
    }
    return mm_permute(x, x->ndim, perm, out);
}

/* ---- slice -------------------------------------------------------------- */

static int slice_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    const int64_t *p = ctx->params->i;
    if (x->ndim == 0)
        return mm_error_set(MM_EINVAL,
                            "slice: a 0-dim tensor cannot be sliced");
    if (p[0] < 0 || p[0] >= x->ndim)
        return mm_error_set(
            MM_EINVAL, "slice: dim %lld out of range for a tensor of %d dims",
            (long long)p[0], x->ndim);
    int d = (int)p[0];
    if (p[1] < 0 || p[1] > p[2] || p[2] > x->shape[d] || p[3] < 1)
        return mm_error_set(
            MM_ERANGE,
            "slice: [%lld:%lld:%lld] out of range for dim %d of size %lld",
            (long long)p[1], (long long)p[2], (long long)p[3], d,
            (long long)x->shape[d]);
    set_out_like(ctx, x);
    ctx->out_shape[d] = (p[2] - p[1] + p[3] - 1) / p[3];
    ctx->out_stride[d] = x->stride[d] * p[3];
    ctx->out_offset = x->offset + p[1] * x->stride[d];
    return 0;
}

/* The input-shaped gradient: zeros with g written into the sliced window. */
static int slice_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    const mm_tensor *x = n->inputs[0];
    const int64_t *p = n->params.i;
    int d = (int)p[0];
    mm_tensor *z;
    MM_TRY(mm_zeros(x->ndim, x->shape, g->dtype, &z));
    mm_tensor w = mm_tensor_window(z);
    w.shape[d] = (p[2] - p[1] + p[3] - 1) / p[3];
    w.stride[d] = z->stride[d] * p[3];
    w.offset = z->offset + p[1] * z->stride[d];
    w.numel = mm_shape_numel(w.ndim, w.shape);
    MM_TRY(mm_copy_strided(&w, g));
    gin[0] = z;
    return 0;
}

const mm_op mm_op_slice = {
    .name = "slice",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_VIEW,
    .infer = slice_infer,
    .backward = slice_backward,
};

static int apply_slice(mm_tensor *x, int d, int64_t start, int64_t end,
                       int64_t step, mm_tensor **out) {
    mm_op_params p = {.i = {d, start, end, step}};
    return mm_apply1(&mm_op_slice, x, &p, out);
}

int mm_slice(mm_tensor *x, int dim, int64_t start, int64_t end, int64_t step,
             mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "slice: tensor is NULL");
    if (x->ndim == 0)
        return mm_error_set(MM_EINVAL,
                            "slice: a 0-dim tensor cannot be sliced");
    int d;
    MM_TRY(mm_dim_wrap("slice", dim, x->ndim, &d));
    if (step < 1)
        return mm_error_set(MM_EINVAL,
                            "slice: step must be positive (got %lld)",
                            (long long)step);
    int64_t n = x->shape[d];
    if (start < 0)
        start = start < -n ? 0 : start + n;
    if (end < 0)
        end = end < -n ? 0 : end + n;
    if (start > n)
        start = n;
    if (end > n)
        end = n;
    if (end < start)
        end = start;
    return apply_slice(x, d, start, end, step, out);
}

int mm_narrow(mm_tensor *x, int dim, int64_t start, int64_t length,
              mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "narrow: tensor is NULL");
    if (x->ndim == 0)
        return mm_error_set(MM_EINVAL,
                            "narrow: a 0-dim tensor cannot be narrowed");
    int d;
    MM_TRY(mm_dim_wrap("narrow", dim, x->ndim, &d));
    int64_t n = x->shape[d];
    if (start < 0)
        start += n;
    if (start < 0 || start > n || length < 0 || length > n - start)
        return mm_error_set(MM_ERANGE,
                            "narrow: start %lld and length %lld out of range "
                            "for dim %d of size %lld",
                            (long long)start, (long long)length, d,
                            (long long)n);
    return apply_slice(x, d, start, start + length, 1, out);
}

int mm_select(mm_tensor *x, int dim, int64_t index, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "select: tensor is NULL");
    if (x->ndim == 0)
        return mm_error_set(MM_EINVAL,
                            "select: a 0-dim tensor has no dim to select from");
    int d;
    MM_TRY(mm_dim_wrap("select", dim, x->ndim, &d));
    int64_t n = x->shape[d];
    if (index < -n || index >= n)
        return mm_error_set(
            MM_ERANGE,
            "select: index %lld out of range for dim %d of size %lld",
            (long long)index, d, (long long)n);
    if (index < 0)
        index += n;
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *s, *v = NULL;
    int rc = apply_slice(x, d, index, index + 1, 1, &s);
    if (rc == 0)
        rc = mm_squeeze(s, d, &v);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, v, out);
}

/* ---- expand ------------------------------------------------------------- */

static int expand_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int nd = (int)ctx->params->i[0];
    const int64_t *shape = ctx->params->i + 1;
    char a[256], b[256];
    if (nd < x->ndim || nd > MM_MAX_DIMS)
        return mm_error_set(
            MM_EINVAL, "expand: cannot expand shape %s to %d dims",
            mm_shape_format(x->ndim, x->shape, a, sizeof a), nd);
    int lead = nd - x->ndim;
    for (int d = 0; d < nd; d++) {
        int e = d - lead;
        int64_t want = shape[d];
        if (e < 0) {
            if (want < 0)
                return mm_error_set(
                    MM_EINVAL, "expand: size %lld not allowed for new dim %d",
                    (long long)want, d);
            ctx->out_shape[d] = want;
            ctx->out_stride[d] = 0;
        } else if (want == -1 || want == x->shape[e]) {
            ctx->out_shape[d] = x->shape[e];
            ctx->out_stride[d] = x->stride[e];
        } else if (x->shape[e] == 1 && want >= 0) {
            ctx->out_shape[d] = want;
            ctx->out_stride[d] = 0;
        } else {
            return mm_error_set(MM_EINVAL,
                                "expand: cannot expand shape %s to %s",
                                mm_shape_format(x->ndim, x->shape, a, sizeof a),
                                mm_shape_format(nd, shape, b, sizeof b));
        }
    }
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = nd;
    ctx->out_offset = x->offset;
    return 0;
}

static int expand_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    const mm_tensor *x = n->inputs[0];
    return mm_sum_to_shape(g, x->ndim, x->shape, &gin[0]);
}

const mm_op mm_op_expand = {
    .name = "expand",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_VIEW,
    .infer = expand_infer,
    .backward = expand_backward,
};

int mm_expand(mm_tensor *x, int nd, const int64_t *shape, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "expand: tensor is NULL");
    if (nd < 0 || nd > MM_MAX_DIMS || (nd > 0 && !shape))
        return mm_error_set(MM_EINVAL, "expand: invalid shape (%d dims)", nd);
    mm_op_params p = {.i = {nd}};
    if (nd)
        memcpy(p.i + 1, shape, (size_t)nd * sizeof *shape);
    return mm_apply1(&mm_op_expand, x, &p, out);
}

int mm_expand_as(mm_tensor *x, const mm_tensor *other, mm_tensor **out) {
    if (!other)
        return mm_error_set(MM_EINVAL, "expand: tensor is NULL");
    return mm_expand(x, other->ndim, other->shape, out);
}

/* ---- cat ---------------------------------------------------------------- */

static int cat_infer(mm_op_ctx *ctx) {
    const mm_tensor *x0 = ctx->inputs[0];
    int64_t dim = ctx->params->i[0];
    char a[256], b[256];
    if (x0->ndim == 0)
        return mm_error_set(MM_EINVAL,
                            "cat: 0-dim tensors cannot be concatenated");
    if (dim < 0 || dim >= x0->ndim)
        return mm_error_set(
            MM_EINVAL, "cat: dim %lld out of range for a tensor of %d dims",
            (long long)dim, x0->ndim);
    int64_t total = 0;
    for (int i = 0; i < ctx->n_inputs; i++) {
        const mm_tensor *x = ctx->inputs[i];
        if (x->dtype != x0->dtype)
            return mm_error_set(
                MM_ETYPE, "cat: input %d has dtype %s, input 0 %s", i,
                mm_dtype_name(x->dtype), mm_dtype_name(x0->dtype));
        bool ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x->ndim; d++)
            ok = d == dim || x->shape[d] == x0->shape[d];
        if (!ok)
            return mm_error_set(
                MM_EINVAL,
                "cat: input %d has shape %s, input 0 %s (only dim %lld may "
                "differ)",
                i, mm_shape_format(x->ndim, x->shape, a, sizeof a),
                mm_shape_format(x0->ndim, x0->shape, b, sizeof b),
                (long long)dim);
        total += x->shape[dim];
    }
    ctx->out_dtype = x0->dtype;
    ctx->out_ndim = x0->ndim;
    memcpy(ctx->out_shape, x0->shape, sizeof ctx->out_shape);
    ctx->out_shape[dim] = total;
    return 0;
}

static int cat_reference(mm_op_ctx *ctx) {
    mm_tensor *out = ctx->out;
    int dim = (int)ctx->params->i[0];
    size_t es = mm_dtype_size(out->dtype);
    for (int64_t o = 0; o < out->numel; o++) {
        int64_t idx[MM_MAX_DIMS], rem = o;
        for (int d = out->ndim - 1; d >= 0; d--) {
            idx[d] = rem % out->shape[d];
            rem /= out->shape[d];
        }
        int i = 0;
        while (idx[dim] >= ctx->inputs[i]->shape[dim]) /* find the input */
            idx[dim] -= ctx->inputs[i++]->shape[dim];
        const mm_tensor *x = ctx->inputs[i];
        int64_t off = x->offset;
        for (int d = 0; d < x->ndim; d++)
            off += idx[d] * x->stride[d];
        memcpy((char *)mm_tensor_data(out) + o * (int64_t)es,
               (const char *)x->storage->data + off * (int64_t)es, es);
    }
    return 0;
}

static int cat_cpu(mm_op_ctx *ctx) {
    mm_tensor *out = ctx->out;
    int dim = (int)ctx->params->i[0];
    int64_t at = 0;
    for (int i = 0; i < ctx->n_inputs; i++) {
        const mm_tensor *x = ctx->inputs[i];
        mm_tensor w = mm_tensor_window(out);
        w.shape[dim] = x->shape[dim];
        w.offset = out->offset + at * out->stride[dim];
        w.numel = x->numel;
        at += x->shape[dim];
        if (x->numel)
            MM_TRY(mm_copy_strided(&w, x));
    }
    return 0;
}

static int cat_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    int dim = (int)n->params.i[0];
    int64_t at = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        int64_t len = n->inputs[i]->shape[dim];
        if (n->needs_grad[i])
            MM_TRY(apply_slice(g, dim, at, at + len, 1, &gin[i]));
        at += len;
    }
    return 0;
}

const mm_op mm_op_cat = {
    .name = "cat",
    .n_inputs = -1,
    .infer = cat_infer,
    .reference = cat_reference,
    .kernel = {[MM_DEVICE_CPU] = cat_cpu},
    .backward = cat_backward,
};

int mm_cat(int n, mm_tensor *const *xs, int dim, mm_tensor **out) {
    if (n < 1 || !xs)
        return mm_error_set(MM_EINVAL, "cat: no tensors given");
    for (int i = 0; i < n; i++)
        if (!xs[i])
            return mm_error_set(MM_EINVAL, "cat: input %d is NULL", i);
    int d;
    if (xs[0]->ndim == 0)
        return mm_error_set(MM_EINVAL,
                            "cat: 0-dim tensors cannot be concatenated");
    MM_TRY(mm_dim_wrap("cat", dim, xs[0]->ndim, &d));
    mm_dtype dt = xs[0]->dtype;
    for (int i = 1; i < n; i++)
        dt = mm_dtype_promote(dt, xs[i]->dtype);
    mm_op_params p = {.i = {d}};
    bool same = true;
    for (int i = 0; i < n; i++)
        same = same && xs[i]->dtype == dt;
    if (same)
        return mm_op_apply(&mm_op_cat, n, xs, &p, out);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor **conv = calloc((size_t)n, sizeof *conv), *r = NULL;
    int rc = conv ? 0 : mm_error_set(MM_ENOMEM, "cat: out of memory");
    for (int i = 0; rc == 0 && i < n; i++)
        rc = mm_to_dtype(xs[i], dt, &conv[i]);
    if (rc == 0)
        rc = mm_op_apply(&mm_op_cat, n, conv, &p, &r);
    free(conv);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, r, out);
}

int mm_stack(int n, mm_tensor *const *xs, int dim, mm_tensor **out) {
    if (n < 1 || !xs)
        return mm_error_set(MM_EINVAL, "stack: no tensors given");
    for (int i = 0; i < n; i++) {
        if (!xs[i])
            return mm_error_set(MM_EINVAL, "stack: input %d is NULL", i);
        if (!mm_tensor_same_shape(xs[i], xs[0])) {
            char a[256], b[256];
            return mm_error_set(
                MM_EINVAL, "stack: input %d has shape %s, input 0 %s", i,
                mm_shape_format(xs[i]->ndim, xs[i]->shape, a, sizeof a),
                mm_shape_format(xs[0]->ndim, xs[0]->shape, b, sizeof b));
        }
    }
    int d;
    MM_TRY(mm_dim_wrap("stack", dim, xs[0]->ndim + 1, &d));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor **u = calloc((size_t)n, sizeof *u), *r = NULL;
    int rc = u ? 0 : mm_error_set(MM_ENOMEM, "stack: out of memory");
    for (int i = 0; rc == 0 && i < n; i++)
        rc = mm_unsqueeze(xs[i], d, &u[i]);
    if (rc == 0)
        rc = mm_cat(n, u, d, &r);
    free(u);
    if (rc < 0) {
        mm_pool_close(pool);
        return mm_error_context(rc, NULL, "stack");
    }
    return mm_pool_close_keep(pool, r, out);
}

/* ---- split and chunk ---------------------------------------------------- */

int mm_split(mm_tensor *x, int64_t size, int dim, mm_tensor **outs,
             int max_outs, int *n_out) {
    if (!x || !outs)
        return mm_error_set(MM_EINVAL, "split: tensor is NULL");
    if (x->ndim == 0)
        return mm_error_set(MM_EINVAL, "split: a 0-dim tensor cannot be split");
    int d;
    MM_TRY(mm_dim_wrap("split", dim, x->ndim, &d));
    int64_t n = x->shape[d];
    if (size < 1 && !(size == 0 && n == 0))
        return mm_error_set(MM_EINVAL,
                            "split: size must be positive (got %lld)",
                            (long long)size);
    int64_t count = n == 0 ? 1 : (n + size - 1) / size;
    if (count > max_outs)
        return mm_error_set(MM_ERANGE,
                            "split: %lld pieces do not fit in %d outputs",
                            (long long)count, max_outs);
    for (int64_t i = 0; i < count; i++) {
        int64_t b = i * size, e = b + size < n ? b + size : n;
        int rc = apply_slice(x, d, b, e, 1, &outs[i]);
        if (rc < 0) {
            if (mm_pool_depth() == 0) /* the pieces were the caller's: undo */
                for (int64_t j = 0; j < i; j++)
                    mm_tensor_release(outs[j]);
            return rc;
        }
    }
    *n_out = (int)count;
    return 0;
}

int mm_chunk(mm_tensor *x, int chunks, int dim, mm_tensor **outs, int *n_out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "chunk: tensor is NULL");
    if (chunks < 1)
        return mm_error_set(MM_EINVAL,
                            "chunk: number of chunks must be positive (got %d)",
                            chunks);
    if (x->ndim == 0)
        return mm_error_set(MM_EINVAL,
                            "chunk: a 0-dim tensor cannot be chunked");
    int d;
    MM_TRY(mm_dim_wrap("chunk", dim, x->ndim, &d));
    int64_t n = x->shape[d];
    if (n == 0) {
        for (int i = 0; i < chunks; i++)
            MM_TRY(apply_slice(x, d, 0, 0, 1, &outs[i]));
        *n_out = chunks;
        return 0;
    }
    return mm_split(x, (n + chunks - 1) / chunks, d, outs, chunks, n_out);
}

/* ---- flip --------------------------------------------------------------- */

static int flip_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    if (x->ndim > 0 && (ctx->params->i[0] & ~((INT64_C(1) << x->ndim) - 1)))
        return mm_error_set(
            MM_EINVAL, "flip: dim mask out of range for a tensor of %d dims",
            x->ndim);
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    return 0;
}

static int flip_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    int64_t mask = ctx->params->i[0];
    size_t es = mm_dtype_size(x->dtype);
    for (int64_t o = 0; o < out->numel; o++) {
        int64_t off = x->offset, rem = o;
        for (int d = x->ndim - 1; d >= 0; d--) {
            int64_t k = rem % x->shape[d];
            rem /= x->shape[d];
            if (mask >> d & 1)
                k = x->shape[d] - 1 - k;
            off += k * x->stride[d];
        }
        memcpy((char *)mm_tensor_data(out) + o * (int64_t)es,
               (const char *)x->storage->data + off * (int64_t)es, es);
    }
    return 0;
}

/* Copy from a window that walks the flipped dims backwards. */
static int flip_cpu(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int64_t mask = ctx->params->i[0];
    mm_tensor w = mm_tensor_window(x);
    for (int d = 0; d < x->ndim; d++) {
        if (!(mask >> d & 1) || x->shape[d] == 0)
            continue;
        w.offset += (x->shape[d] - 1) * x->stride[d];
        w.stride[d] = -x->stride[d];
    }
    return mm_copy_strided(ctx->out, &w);
}

static int flip_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    return mm_apply1(&mm_op_flip, g, &n->params, &gin[0]);
}

const mm_op mm_op_flip = {
    .name = "flip",
    .n_inputs = 1,
    .infer = flip_infer,
    .reference = flip_reference,
    .kernel = {[MM_DEVICE_CPU] = flip_cpu},
    .backward = flip_backward,
};

int mm_flip(mm_tensor *x, int nd, const int *dims, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "flip: tensor is NULL");
    int64_t mask = 0;
    for (int i = 0; i < nd; i++) {
        int d;
        MM_TRY(mm_dim_wrap("flip", dims[i], x->ndim, &d));
        if (mask >> d & 1)
            return mm_error_set(MM_EINVAL,
                                "flip: dim %d appears more than once", d);
        mask |= INT64_C(1) << d;
    }
    if (x->ndim == 0)
        mask = 0;
    mm_op_params p = {.i = {mask}};
    return mm_apply1(&mm_op_flip, x, &p, out);
}

/* ---- repeat: one cat per repeated dim ----------------------------------- */

int mm_repeat(mm_tensor *x, int nreps, const int64_t *reps, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "repeat: tensor is NULL");
    if (nreps < x->ndim || nreps > MM_MAX_DIMS || (nreps > 0 && !reps))
        return mm_error_set(MM_EINVAL,
                            "repeat: %d repeats given for a tensor of %d dims",
                            nreps, x->ndim);
    for (int d = 0; d < nreps; d++)
        if (reps[d] < 0)
            return mm_error_set(MM_EINVAL, "repeat: negative repeat %lld",
                                (long long)reps[d]);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    int64_t shape[MM_MAX_DIMS];
    int lead = nreps - x->ndim;
    for (int d = 0; d < nreps; d++)
        shape[d] = d < lead ? 1 : x->shape[d - lead];
    mm_tensor *r;
    int rc = mm_reshape(x, nreps, shape, &r);
    bool copied = false;
    for (int d = 0; rc == 0 && d < nreps; d++) {
        if (reps[d] == 1)
            continue;
        if (reps[d] == 0) {
            rc = apply_slice(r, d, 0, 0, 1, &r);
            continue;
        }
        mm_tensor **copies = malloc((size_t)reps[d] * sizeof *copies);
        if (!copies) {
            rc = mm_error_set(MM_ENOMEM, "repeat: out of memory");
            break;
        }
        for (int64_t i = 0; i < reps[d]; i++)
            copies[i] = r;
        rc = mm_cat((int)reps[d], copies, d, &r);
        copied = true;
        free(copies);
    }
    if (rc == 0 && !copied)
        rc = mm_clone(r, &r); /* repeat always copies, as in PyTorch */
    if (rc < 0) {
        mm_pool_close(pool);
        return mm_error_context(rc, NULL, "repeat");
    }
    return mm_pool_close_keep(pool, r, out);
}
