/* Resampling: interpolate (nearest, bilinear, bicubic on NCHW; nearest and
 * linear on NCL, nearest and trilinear on NCDHW through the NCHW op) and
 * grid_sample (bilinear, nearest; zeros, border, reflection padding), with
 * PyTorch's index arithmetic (resample_util.h).
 *
 * interpolate is separable: output (oy, ox) is the sum over the taps of
 * both axes of wy * wx * x[iy, ix]. Its backward is its own op, the adjoint
 * (scatter-add of the same taps). grid_sample's backward is two ops, one per
 * input: the scatter of g into the input, and the gradient of the sampling
 * position (zero for nearest).
 *
 * Params: interpolate i[0] = mode, i[1] = align_corners, i[2..3] = output
 * H, W, f[0..1] = scale factors (0: size given), interpolate_backward the
 * same plus i[4..5] = input H, W; grid_sample i[0] = mode (0 bilinear,
 * 1 nearest), i[1] = padding, i[2] = align_corners, and its input-gradient
 * op i[3..4] = input H, W. Inputs contiguous. */
#include "norm_internal.h"
#include "resample_util.h"

#include <string.h>

static double ld(const mm_tensor *t, int64_t i) {
    return mm_load_f64((const char *)mm_tensor_data(t) +
                           i * (int64_t)mm_dtype_size(t->dtype),
                       t->dtype);
}

static void st(mm_tensor *t, int64_t i, double v) {
    mm_store_f64((char *)mm_tensor_data(t) +
                     i * (int64_t)mm_dtype_size(t->dtype),
                 t->dtype, v);
}

static int float4d(const char *op, const char *what, const mm_tensor *x) {
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point %s, got %s", op,
                            what, mm_dtype_name(x->dtype));
    if (x->ndim != 4)
        return mm_error_set(MM_EINVAL, "%s: %s has %d dims, expected 4", op,
                            what, x->ndim);
    return 0;
}

/* ---- interpolate --------------------------------------------------------- */

static int interp_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    const mm_op_params *p = ctx->params;
    MM_TRY(float4d(ctx->op->name, "input", x));
    bool bw = ctx->op == &mm_op_interpolate_backward;
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = 4;
    ctx->out_shape[0] = x->shape[0];
    ctx->out_shape[1] = x->shape[1];
    ctx->out_shape[2] = bw ? p->i[4] : p->i[2];
    ctx->out_shape[3] = bw ? p->i[5] : p->i[3];
    return 0;
}

/* Both directions: forward reads x (N, C, H, W) into out (N, C, OH, OW);
 * backward scatters g (N, C, OH, OW) into out (N, C, H, W). */
static int interp_reference(mm_op_ctx *ctx) {
    const mm_op_params *p = ctx->params;
    bool bw = ctx->op == &mm_op_interpolate_backward;
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    int mode = (int)p->i[0];
    bool ac = p->i[1] != 0;
    int64_t OH = p->i[2], OW = p->i[3];
    int64_t H = bw ? p->i[4] : x->shape[2], W = bw ? p->i[5] : x->shape[3];
    int64_t planes = x->shape[0] * x->shape[1];
    if (bw)
        for (int64_t i = 0; i < out->numel; i++)
            st(out, i, 0);
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t iy[4], ix[4];
                double wy[4], wx[4];
                int ny = mm_interp_taps(mode, ac, H, OH, p->f[0], oy, iy, wy);
                int nx = mm_interp_taps(mode, ac, W, OW, p->f[1], ox, ix, wx);
                int64_t o = (pl * OH + oy) * OW + ox;
                double acc = 0, g = bw ? ld(x, o) : 0;
                for (int a = 0; a < ny; a++)
                    for (int b = 0; b < nx; b++) {
                        int64_t i = (pl * H + iy[a]) * W + ix[b];
                        if (bw)
                            st(out, i, ld(out, i) + g * wy[a] * wx[b]);
                        else
                            acc += wy[a] * wx[b] * ld(x, i);
                    }
                if (!bw)
                    st(out, o, acc);
            }
    return 0;
}

static int interp_backward(const mm_node *node, mm_tensor *g, mm_tensor **gin) {
    mm_op_params p = node->params;
    p.i[4] = node->inputs[0]->shape[2];
    p.i[5] = node->inputs[0]->shape[3];
    return mm_apply1(&mm_op_interpolate_backward, g, &p, &gin[0]);
}

const mm_op mm_op_interpolate = {
    .name = "interpolate",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = interp_infer,
    .reference = interp_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_interpolate},
    .backward = interp_backward,
};

const mm_op mm_op_interpolate_backward = {
    .name = "interpolate_backward",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = interp_infer,
    .reference = interp_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_interpolate},
};

/* One pass of the (N, C, H, W) op. */
static int interp_op(mm_tensor *x, int mode, bool ac, int64_t oh, int64_t ow,
                     double fh, double fw, mm_tensor **out) {
    mm_op_params p = {.i = {mode, ac, oh, ow}, .f = {fh, fw}};
    return mm_apply1(&mm_op_interpolate, x, &p, out);
}

/* 1-D and 3-D inputs run the 2-D op: (N, C, L) as (N, C, 1, L); (N, C, D,
 * H, W) as H, W on (N, C D, H, W), then D on (N, C, D, OH OW) with the
 * second axis kept (its taps the identity: in = out, no scale). */
static int interp_nd(mm_tensor *x, int nsp, int mode, bool ac,
                     const int64_t *o, const double *f, mm_tensor **out) {
    const int64_t *s = x->shape;
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *a, *b = NULL, *r = NULL;
    int rc;
    if (nsp == 1) {
        rc = mm_reshape(x, 4, (int64_t[]){s[0], s[1], 1, s[2]}, &a);
        if (rc == 0)
            rc = interp_op(a, mode, ac, 1, o[0], 0, f[0], &b);
        if (rc == 0)
            rc = mm_reshape(b, 3, (int64_t[]){s[0], s[1], o[0]}, &r);
    } else {
        rc = mm_reshape(x, 4, (int64_t[]){s[0], s[1] * s[2], s[3], s[4]}, &a);
        if (rc == 0)
            rc = interp_op(a, mode, ac, o[1], o[2], f[1], f[2], &b);
        if (rc == 0)
            rc = mm_reshape(b, 4, (int64_t[]){s[0], s[1], s[2], o[1] * o[2]},
                            &a);
        if (rc == 0)
            rc = interp_op(a, mode, ac, o[0], o[1] * o[2], f[0], 0, &b);
        if (rc == 0)
            rc = mm_reshape(b, 5, (int64_t[]){s[0], s[1], o[0], o[1], o[2]},
                            &r);
    }
    return mm_pool_finish(pool, rc, r, out);
}

static int interpolate_impl(mm_tensor *x, const int64_t *size,
                   const double *scale_factor, mm_interp_mode mode,
                   bool align_corners, mm_tensor **out) {
    const char *op = "interpolate";
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: input is NULL", op);
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point input, got %s", op,
                            mm_dtype_name(x->dtype));
    if (x->ndim < 3 || x->ndim > 5)
        return mm_error_set(MM_EINVAL,
                            "%s: input has %d dims, expected 3, 4 or 5", op,
                            x->ndim);
    int nsp = x->ndim - 2;
    if ((unsigned)mode > MM_INTERP_TRILINEAR)
        return mm_error_set(MM_EINVAL, "%s: unknown mode %d", op, (int)mode);
    static const char *const names[] = {"nearest", "bilinear", "bicubic",
                                        "linear", "trilinear"};
    static const int need[] = {0, 4, 4, 3, 5};
    if (need[mode] && need[mode] != x->ndim)
        return mm_error_set(MM_EINVAL,
                            "%s: got %d-D input, but %s mode needs %d-D input",
                            op, x->ndim, names[mode], need[mode]);
    if (!size == !scale_factor)
        return mm_error_set(MM_EINVAL,
                            "%s: exactly one of size and scale_factor must be "
                            "given",
                            op);
    if (mode == MM_INTERP_NEAREST && align_corners)
        return mm_error_set(MM_EINVAL,
                            "%s: align_corners can only be set with the "
                            "bilinear and bicubic modes",
                            op);
    int64_t o[3] = {0};
    double f[3] = {0};
    bool bad = false;
    for (int d = 0; d < nsp; d++) {
        if (size) {
            o[d] = size[d];
        } else {
            double s = scale_factor[d];
            if (!(s > 0) || !isfinite(s))
                return mm_error_set(MM_EINVAL,
                                    "%s: scale_factor %g must be positive", op,
                                    s);
            o[d] = (int64_t)floor((double)x->shape[2 + d] * s);
            f[d] = s;
        }
        bad |= o[d] <= 0 || x->shape[2 + d] <= 0;
    }
    if (bad) {
        char a[64], b[64];
        return mm_error_set(
            MM_EINVAL,
            "%s: input and output sizes must be positive, got input %s and "
            "output %s",
            op, mm_shape_format(nsp, x->shape + 2, a, sizeof a),
            mm_shape_format(nsp, o, b, sizeof b));
    }
    /* torch ignores a scale factor under align_corners */
    if (align_corners)
        f[0] = f[1] = f[2] = 0;
    int m = mode == MM_INTERP_LINEAR || mode == MM_INTERP_TRILINEAR
                ? MM_INTERP_BILINEAR
                : (int)mode;
    if (nsp == 2)
        return interp_op(x, m, align_corners, o[0], o[1], f[0], f[1], out);
    return interp_nd(x, nsp, m, align_corners, o, f, out);
}

/* ---- grid_sample ----------------------------------------------------------
 */

static int gs_infer(mm_op_ctx *ctx) {
    const char *op = ctx->op->name;
    bool gi = ctx->op == &mm_op_grid_sample_grad_input;
    bool gg = ctx->op == &mm_op_grid_sample_grad_grid;
    const mm_tensor *x = ctx->inputs[0], *grid = ctx->inputs[ctx->n_inputs - 1];
    MM_TRY(float4d(op, gi || gg ? "gradient" : "input", x));
    MM_TRY(float4d(op, "grid", grid));
    if (grid->dtype != x->dtype)
        return mm_error_set(MM_ETYPE, "%s: dtypes %s and %s differ", op,
                            mm_dtype_name(x->dtype),
                            mm_dtype_name(grid->dtype));
    if (grid->shape[3] != 2 || grid->shape[0] != x->shape[0]) {
        char a[128], b[128];
        return mm_error_set(
            MM_EINVAL,
            "%s: grid of shape %s does not fit input %s "
            "(expected [%lld, H, W, 2])",
            op, mm_shape_format(grid->ndim, grid->shape, a, sizeof a),
            mm_shape_format(x->ndim, x->shape, b, sizeof b),
            (long long)x->shape[0]);
    }
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = 4;
    if (gg) {
        memcpy(ctx->out_shape, grid->shape, sizeof ctx->out_shape);
    } else if (gi) {
        ctx->out_shape[0] = x->shape[0];
        ctx->out_shape[1] = x->shape[1];
        ctx->out_shape[2] = ctx->params->i[3];
        ctx->out_shape[3] = ctx->params->i[4];
    } else {
        ctx->out_shape[0] = x->shape[0];
        ctx->out_shape[1] = x->shape[1];
        ctx->out_shape[2] = grid->shape[1];
        ctx->out_shape[3] = grid->shape[2];
    }
    return 0;
}

/* All three directions, plainly: forward (x, grid -> out), the input
 * gradient (g, grid -> out like x) and the grid gradient (g, x, grid -> out
 * like grid). */
static int gs_reference(mm_op_ctx *ctx) {
    const mm_op_params *p = ctx->params;
    int mode = (int)p->i[0], pad = (int)p->i[1];
    bool ac = p->i[2] != 0;
    bool gi = ctx->op == &mm_op_grid_sample_grad_input;
    bool gg = ctx->op == &mm_op_grid_sample_grad_grid;
    const mm_tensor *grid = ctx->inputs[ctx->n_inputs - 1];
    const mm_tensor *g = gi || gg ? ctx->inputs[0] : NULL;
    const mm_tensor *x = gi ? NULL : ctx->inputs[gg ? 1 : 0];
    mm_tensor *out = ctx->out;
    int64_t N = grid->shape[0], Ho = grid->shape[1], Wo = grid->shape[2];
    int64_t C = gi ? g->shape[1] : x->shape[1];
    int64_t H = gi ? p->i[3] : x->shape[2], W = gi ? p->i[4] : x->shape[3];
    if (gi || gg)
        for (int64_t i = 0; i < out->numel; i++)
            st(out, i, 0);
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < Ho; h++)
            for (int64_t w = 0; w < Wo; w++) {
                int64_t gp = ((n * Ho + h) * Wo + w) * 2;
                double dx, dy;
                double ix = mm_gs_coord(ld(grid, gp), W, pad, ac, &dx);
                double iy = mm_gs_coord(ld(grid, gp + 1), H, pad, ac, &dy);
                int64_t xs[4], ys[4];
                double wt[4];
                int nt;
                if (mode == 1) {
                    xs[0] = (int64_t)nearbyint(ix);
                    ys[0] = (int64_t)nearbyint(iy);
                    wt[0] = 1;
                    nt = 1;
                } else {
                    int64_t x0, y0;
                    mm_gs_bilinear(ix, iy, &x0, &y0, wt);
                    for (int k = 0; k < 4; k++)
                        xs[k] = x0 + (k & 1), ys[k] = y0 + (k >> 1);
                    nt = 4;
                }
                double gix = 0, giy = 0;
                for (int64_t c = 0; c < C; c++) {
                    int64_t o = ((n * C + c) * Ho + h) * Wo + w;
                    double acc = 0, go = g ? ld(g, o) : 0, v[4] = {0};
                    for (int k = 0; k < nt; k++) {
                        if (xs[k] < 0 || xs[k] >= W || ys[k] < 0 || ys[k] >= H)
                            continue;
                        int64_t i = ((n * C + c) * H + ys[k]) * W + xs[k];
                        if (gi)
                            st(out, i, ld(out, i) + go * wt[k]);
                        else
                            v[k] = ld(x, i), acc += wt[k] * v[k];
                    }
                    if (!gi && !gg)
                        st(out, o, acc);
                    if (gg && mode == 0) {
                        double fx = ix - floor(ix), fy = iy - floor(iy);
                        gix += go *
                               ((1 - fy) * (v[1] - v[0]) + fy * (v[3] - v[2]));
                        giy += go *
                               ((1 - fx) * (v[2] - v[0]) + fx * (v[3] - v[1]));
                    }
                }
                if (gg) {
                    st(out, gp, gix * dx);
                    st(out, gp + 1, giy * dy);
                }
            }
    return 0;
}

static int gs_backward(const mm_node *node, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *x = node->inputs[0], *grid = node->inputs[1];
    mm_op_params p = node->params;
    if (node->needs_grad[0]) {
        p.i[3] = x->shape[2];
        p.i[4] = x->shape[3];
        MM_TRY(mm_apply2(&mm_op_grid_sample_grad_input, g, grid, &p, &gin[0]));
    }
    if (node->needs_grad[1])
        MM_TRY(mm_op_apply(&mm_op_grid_sample_grad_grid, 3,
                           (mm_tensor *[]){g, x, grid}, &p, &gin[1]));
    return 0;
}

const mm_op mm_op_grid_sample = {
    .name = "grid_sample",
    .n_inputs = 2,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = gs_infer,
    .reference = gs_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_grid_sample},
    .backward = gs_backward,
};

const mm_op mm_op_grid_sample_grad_input = {
    .name = "grid_sample_grad_input",
    .n_inputs = 2,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = gs_infer,
    .reference = gs_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_grid_sample},
};

const mm_op mm_op_grid_sample_grad_grid = {
    .name = "grid_sample_grad_grid",
    .n_inputs = 3,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = gs_infer,
    .reference = gs_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_grid_sample},
};

static int grid_sample_impl(mm_tensor *x, mm_tensor *grid, mm_grid_sample_mode mode,
                   mm_grid_sample_padding padding, bool align_corners,
                   mm_tensor **out) {
    if (!x || !grid)
        return mm_error_set(MM_EINVAL, "grid_sample: %s is NULL",
                            x ? "grid" : "input");
    if ((unsigned)mode > MM_GRID_SAMPLE_NEAREST)
        return mm_error_set(MM_EINVAL, "grid_sample: unknown mode %d",
                            (int)mode);
    if ((unsigned)padding > MM_GRID_SAMPLE_REFLECTION)
        return mm_error_set(MM_EINVAL, "grid_sample: unknown padding mode %d",
                            (int)padding);
    mm_op_params p = {.i = {mode, padding, align_corners}};
    return mm_apply2(&mm_op_grid_sample, x, grid, &p, out);
}

/* ---- public entry points: reported whole to an op observer --------------- */

int mm_interpolate(mm_tensor *x, const int64_t *size,
                   const double *scale_factor, mm_interp_mode mode,
                   bool align_corners, mm_tensor **out) {
    if (!mm_ops_observing())
        return interpolate_impl(x, size, scale_factor, mode, align_corners,
                                out);
    /* torch's aten names, by which analysis tools count them */
    const char *name = !x || x->ndim != 4        ? "interpolate"
                       : mode == MM_INTERP_NEAREST  ? "upsample_nearest2d"
                       : mode == MM_INTERP_BILINEAR ? "upsample_bilinear2d"
                       : mode == MM_INTERP_BICUBIC  ? "upsample_bicubic2d"
                                                    : "interpolate";
    mm_ops_observe_begin();
    int rc = interpolate_impl(x, size, scale_factor, mode, align_corners, out);
    return mm_ops_observe_end(rc, name, 1, &x, out, false);
}

int mm_grid_sample(mm_tensor *x, mm_tensor *grid, mm_grid_sample_mode mode,
                   mm_grid_sample_padding padding, bool align_corners,
                   mm_tensor **out) {
    if (!mm_ops_observing())
        return grid_sample_impl(x, grid, mode, padding, align_corners, out);
    mm_ops_observe_begin();
    int rc = grid_sample_impl(x, grid, mode, padding, align_corners, out);
    mm_tensor *in[2] = {x, grid};
    return mm_ops_observe_end(rc, "grid_sampler", 2, in, out, false);
}
