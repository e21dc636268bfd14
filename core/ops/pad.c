/* Shape ops that copy: pad (constant, reflect, replicate; the pad list is
 * torch.nn.functional.pad's, last dim first: (left, right, top, bottom,
 * ...)), and, composed from views and cat, roll, pixel_shuffle and
 * pixel_unshuffle.
 *
 * Params:  pad, pad_backward   i[0] = mode, i[1] = pad length (even, <= 16),
 *                              i[2..] = the pads, f[0] = value (constant)
 * pad_backward's inputs are (grad, x): x gives the shape. */
#include "index_impl.h"
#include "mm/reduction.h"

#include <string.h>

/* Source coordinate along one dim of size n for output coordinate o, or -1
 * (the constant). */
static inline int64_t pad_src(int64_t o, int64_t n, int64_t lo, int mode) {
    int64_t j = o - lo;
    switch (mode) {
    case MM_PAD_REFLECT:
        if (j < 0)
            j = -j;
        if (j >= n)
            j = 2 * (n - 1) - j;
        return j;
    case MM_PAD_REPLICATE:
        return j < 0 ? 0 : j >= n ? n - 1 : j;
    default:
        return j >= 0 && j < n ? j : -1;
    }
}

/* Pads of dim d (lo, hi) from the params. */
static void dim_pads(const mm_op_params *p, int ndim, int d, int64_t *lo,
                     int64_t *hi) {
    int k = ndim - 1 - d; /* pairs count from the last dim */
    if (2 * k + 1 < p->i[1]) {
        *lo = p->i[2 + 2 * k];
        *hi = p->i[3 + 2 * k];
    } else {
        *lo = *hi = 0;
    }
}

static const char *mode_name(int mode) {
    return mode == MM_PAD_REFLECT     ? "reflect"
           : mode == MM_PAD_REPLICATE ? "replicate"
                                      : "constant";
}

static int pad_check(const mm_tensor *x, const mm_op_params *p,
                     int64_t *shape) {
    int mode = (int)p->i[0], npad = (int)p->i[1], k = npad / 2;
    if (mode != MM_PAD_CONSTANT && mode != MM_PAD_REFLECT &&
        mode != MM_PAD_REPLICATE)
        return mm_error_set(MM_EINVAL, "pad: unknown mode %d", mode);
    if (npad % 2 || npad < 0)
        return mm_error_set(MM_EINVAL, "pad: padding length must be even, "
                                       "got %d",
                            npad);
    if (k > x->ndim)
        return mm_error_set(MM_EINVAL,
                            "pad: padding length %d too large for a tensor of "
                            "%d dims",
                            npad, x->ndim);
    if (mode != MM_PAD_CONSTANT &&
        (k < 1 || k > 3 || (x->ndim != k + 1 && x->ndim != k + 2)))
        return mm_error_set(MM_EINVAL,
                            "pad: %s padding of %d dims needs a %d-D or %d-D "
                            "input, got %d-D",
                            mode_name(mode), k, k + 1, k + 2, x->ndim);
    for (int d = 0; d < x->ndim; d++) {
        int64_t lo, hi, n = x->shape[d];
        dim_pads(p, x->ndim, d, &lo, &hi);
        if (mode != MM_PAD_CONSTANT && (lo || hi)) {
            if (lo < 0 || hi < 0)
                return mm_error_set(MM_EINVAL,
                                    "pad: negative padding needs constant "
                                    "mode");
            if (mode == MM_PAD_REFLECT && (lo >= n || hi >= n))
                return mm_error_set(
                    MM_EINVAL,
                    "pad: padding (%lld, %lld) at dim %d must be less than its "
                    "size %lld in reflect mode",
                    (long long)lo, (long long)hi, d, (long long)n);
            if (mode == MM_PAD_REPLICATE && n == 0)
                return mm_error_set(MM_EINVAL,
                                    "pad: dim %d is empty in replicate mode",
                                    d);
        }
        shape[d] = n + lo + hi;
        if (shape[d] < 0)
            return mm_error_set(MM_EINVAL,
                                "pad: output size at dim %d would be %lld", d,
                                (long long)shape[d]);
    }
    return 0;
}

static int pad_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    MM_TRY(pad_check(x, ctx->params, ctx->out_shape));
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    return 0;
}

/* Storage offset of the source of output element c, or -1. */
static int64_t pad_source(const mm_tensor *x, const mm_op_params *p,
                          const int64_t *c) {
    int64_t off = x->offset;
    for (int d = 0; d < x->ndim; d++) {
        int64_t lo, hi;
        dim_pads(p, x->ndim, d, &lo, &hi);
        int64_t j = pad_src(c[d], x->shape[d], lo, (int)p->i[0]);
        if (j < 0)
            return -1;
        off += j * x->stride[d];
    }
    return off;
}

static int pad_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    size_t es = mm_dtype_size(x->dtype);
    int64_t c[MM_MAX_DIMS];
    for (int64_t i = 0; i < out->numel; i++) {
        mm_coords(out->ndim, out->shape, i, c);
        int64_t off = pad_source(x, ctx->params, c);
        char *po = (char *)mm_tensor_data(out) + i * (int64_t)es;
        if (off < 0)
            mm_store_f64(po, out->dtype, ctx->params->f[0]);
        else
            memcpy(po, (const char *)x->storage->data + off * (int64_t)es, es);
    }
    return 0;
}

static int pad_bw_infer(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1];
    int64_t shape[MM_MAX_DIMS];
    MM_TRY(pad_check(x, ctx->params, shape));
    if (g->ndim != x->ndim ||
        memcmp(g->shape, shape, sizeof(int64_t) * (size_t)x->ndim) != 0 ||
        !mm_dtype_is_float(g->dtype))
        return mm_error_set(MM_EINVAL,
                            "pad_backward: grad does not have the padded "
                            "shape");
    ctx->out_dtype = ctx->inputs[0]->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    return 0;
}

/* Every grad element adds into its source (several, at the reflected and
 * replicated borders). The output is contiguous: offsets from x's shape. */
static int pad_bw_reference(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    mm_tensor geo = mm_tensor_window(out);
    int64_t c[MM_MAX_DIMS];
    for (int64_t i = 0; i < out->numel; i++)
        mm_tensor_set_flat(out, i, 0);
    for (int64_t i = 0; i < g->numel; i++) {
        mm_coords(g->ndim, g->shape, i, c);
        int64_t off = pad_source(&geo, ctx->params, c);
        if (off < 0)
            continue;
        const char *pg =
            (const char *)g->storage->data + mm_tensor_elem_offset(g, i);
        mm_tensor_set_flat(out, off,
                           mm_tensor_get_flat(out, off) +
                               mm_load_f64(pg, g->dtype));
    }
    return 0;
}

const mm_op mm_op_pad_backward = {
    .name = "pad_backward",
    .n_inputs = 2,
    .infer = pad_bw_infer,
    .reference = pad_bw_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_pad_backward},
};

static int pad_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    return mm_apply2(&mm_op_pad_backward, g, n->inputs[0], &n->params, &gin[0]);
}

const mm_op mm_op_pad = {
    .name = "pad",
    .n_inputs = 1,
    .infer = pad_infer,
    .reference = pad_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_pad},
    .backward = pad_backward,
};

int mm_pad(mm_tensor *x, int npad, const int64_t *pads, mm_pad_mode mode,
           double value, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "pad: tensor is NULL");
    if (npad < 0 || npad > 2 * MM_MAX_DIMS || (npad > 0 && !pads))
        return mm_error_set(MM_EINVAL, "pad: invalid padding list (length %d)",
                            npad);
    mm_op_params p = {.i = {mode, npad}, .f = {value}};
    for (int k = 0; k < npad; k++)
        p.i[2 + k] = pads[k];
    return mm_apply1(&mm_op_pad, x, &p, out);
}

/* ---- roll ----------------------------------------------------------------- */

static int roll_dim(mm_tensor *x, int64_t shift, int d, mm_tensor **out) {
    int64_t n = x->shape[d];
    if (n == 0)
        return mm_return_same(x, out);
    int64_t s = ((shift % n) + n) % n;
    if (s == 0)
        return mm_return_same(x, out);
    mm_tensor *parts[2];
    MM_TRY(mm_narrow(x, d, n - s, s, &parts[0]));
    MM_TRY(mm_narrow(x, d, 0, n - s, &parts[1]));
    return mm_cat(2, parts, d, out);
}

int mm_roll(mm_tensor *x, int n_shifts, const int64_t *shifts, int n_dims,
            const int *dims, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "roll: tensor is NULL");
    if (n_shifts < 1 || !shifts || (n_dims > 0 && !dims) ||
        (n_dims > 0 && n_dims != n_shifts) || (n_dims == 0 && n_shifts != 1))
        return mm_error_set(MM_EINVAL,
                            "roll: %d shifts for %d dims (need one per dim, "
                            "or one shift and no dims)",
                            n_shifts, n_dims);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *r = x;
    int rc = 0;
    if (n_dims == 0) { /* the flattened tensor, shape restored */
        mm_tensor *flat;
        rc = mm_reshape(x, 1, (int64_t[]){x->numel}, &flat);
        if (rc == 0)
            rc = roll_dim(flat, shifts[0], 0, &r);
        if (rc == 0)
            rc = mm_reshape(r, x->ndim, x->shape, &r);
    }
    for (int k = 0; rc == 0 && k < n_dims; k++) {
        int d;
        rc = mm_dim_wrap("roll", dims[k], x->ndim, &d);
        if (rc == 0 && x->ndim == 0)
            continue;
        if (rc == 0)
            rc = roll_dim(r, shifts[k], d, &r);
    }
    if (rc == 0 && r == x)
        rc = mm_clone(x, &r);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, r, out);
}

/* ---- pixel_shuffle, pixel_unshuffle --------------------------------------- */

static int shuffle(mm_tensor *x, int64_t r, bool un, mm_tensor **out) {
    const char *name = un ? "pixel_unshuffle" : "pixel_shuffle";
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", name);
    if (x->ndim < 3)
        return mm_error_set(MM_EINVAL, "%s: expected at least 3 dims, got %d",
                            name, x->ndim);
    if (r < 1)
        return mm_error_set(MM_EINVAL, "%s: factor must be positive, got %lld",
                            name, (long long)r);
    int nd = x->ndim;
    int64_t C = x->shape[nd - 3], H = x->shape[nd - 2], W = x->shape[nd - 1];
    int64_t B = 1;
    for (int d = 0; d < nd - 3; d++)
        B *= x->shape[d];
    if (!un && C % (r * r))
        return mm_error_set(MM_EINVAL,
                            "%s: channels %lld not divisible by the square of "
                            "the factor %lld",
                            name, (long long)C, (long long)r);
    if (un && (H % r || W % r))
        return mm_error_set(MM_EINVAL,
                            "%s: height %lld and width %lld must be divisible "
                            "by the factor %lld",
                            name, (long long)H, (long long)W, (long long)r);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *t;
    int64_t shape[MM_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    int rc;
    if (!un) { /* (B, c, r, r, H, W) -> (B, c, H, r, W, r) */
        int64_t c = C / (r * r);
        rc = mm_reshape(x, 6, (int64_t[]){B, c, r, r, H, W}, &t);
        if (rc == 0)
            rc = mm_permute(t, 6, (int[]){0, 1, 4, 2, 5, 3}, &t);
        shape[nd - 3] = c;
        shape[nd - 2] = H * r;
        shape[nd - 1] = W * r;
    } else { /* (B, C, h, r, w, r) -> (B, C, r, r, h, w) */
        int64_t h = H / r, w = W / r;
        rc = mm_reshape(x, 6, (int64_t[]){B, C, h, r, w, r}, &t);
        if (rc == 0)
            rc = mm_permute(t, 6, (int[]){0, 1, 3, 5, 2, 4}, &t);
        shape[nd - 3] = C * r * r;
        shape[nd - 2] = h;
        shape[nd - 1] = w;
    }
    if (rc == 0)
        rc = mm_contiguous(t, &t);
    if (rc == 0)
        rc = mm_reshape(t, nd, shape, &t);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, t, out);
}

int mm_pixel_shuffle(mm_tensor *x, int64_t upscale_factor, mm_tensor **out) {
    return shuffle(x, upscale_factor, false, out);
}

int mm_pixel_unshuffle(mm_tensor *x, int64_t downscale_factor,
                       mm_tensor **out) {
    return shuffle(x, downscale_factor, true, out);
}
