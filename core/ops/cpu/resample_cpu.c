/* Optimised CPU interpolate and grid_sample (f32, f64; contiguous inputs).
 *
 * interpolate computes each axis's taps once (resample_util.h) and runs the
 * (N * C) planes in parallel, blending the input rows of an output row
 * first (vectorised) and then the columns; its backward scatters within a
 * plane, so planes stay independent. grid_sample computes each sampling position once
 * per output pixel and loops over the channels; its input gradient runs
 * planes in parallel (recomputing positions), its grid gradient rows. */
#include "mm/threads.h"
#include "norm_internal.h"
#include "resample_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct taps {
    int n;
    int64_t (*idx)[4];
    double (*w)[4];
} taps;

static int taps_make(taps *t, int mode, bool ac, int64_t in, int64_t out,
                     double sp) {
    t->idx = malloc((size_t)out * sizeof *t->idx);
    t->w = malloc((size_t)out * sizeof *t->w);
    if (!t->idx || !t->w) {
        free(t->idx);
        free(t->w);
        return mm_error_set(MM_ENOMEM, "interpolate: out of memory");
    }
    t->n = 1;
    for (int64_t o = 0; o < out; o++)
        t->n = mm_interp_taps(mode, ac, in, out, sp, o, t->idx[o], t->w[o]);
    return 0;
}

static void taps_free(taps *t) {
    free(t->idx);
    free(t->w);
}

/* Forward, separably: per output row, blend the input rows of its
 * vertical taps into one row (vectorised), then take the horizontal taps. */
#define INTERP_LOOPS(T)                                                        \
    static int interp_fw_##T(const T *x, T *y, int64_t planes, int64_t H,     \
                             int64_t W, int64_t OH, int64_t OW,                \
                             const taps *ty, const taps *tx, int nt) {         \
        bool par = planes * OH * OW > MM_GRAIN / 4;                            \
        int failed = 0;                                                        \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t pl = 0; pl < planes; pl++) {                              \
            double *row = malloc((size_t)W * sizeof *row);                     \
            if (!row) {                                                        \
                _Pragma("omp atomic write")                                    \
                failed = 1;                                                    \
                continue;                                                      \
            }                                                                  \
            const T *xp = x + pl * H * W;                                      \
            T *yp = y + pl * OH * OW;                                          \
            for (int64_t oy = 0; oy < OH; oy++) {                              \
                const T *r0 = xp + ty->idx[oy][0] * W;                         \
                double w0 = ty->w[oy][0];                                      \
                _Pragma("omp simd")                                            \
                for (int64_t i = 0; i < W; i++)                                \
                    row[i] = w0 * r0[i];                                       \
                for (int a = 1; a < ty->n; a++) {                              \
                    const T *ra = xp + ty->idx[oy][a] * W;                     \
                    double wa = ty->w[oy][a];                                  \
                    _Pragma("omp simd")                                        \
                    for (int64_t i = 0; i < W; i++)                            \
                        row[i] += wa * ra[i];                                  \
                }                                                              \
                for (int64_t ox = 0; ox < OW; ox++) {                          \
                    double acc = 0;                                            \
                    for (int b = 0; b < tx->n; b++)                            \
                        acc += tx->w[ox][b] * row[tx->idx[ox][b]];             \
                    yp[oy * OW + ox] = (T)acc;                                 \
                }                                                              \
            }                                                                  \
            free(row);                                                         \
        }                                                                      \
        return failed ? mm_error_set(MM_ENOMEM, "interpolate: out of memory")  \
                      : 0;                                                     \
    }                                                                          \
    static void interp_bw_##T(const T *g, T *gx, int64_t planes, int64_t H,   \
                              int64_t W, int64_t OH, int64_t OW,               \
                              const taps *ty, const taps *tx, int nt) {        \
        bool par = planes * OH * OW > MM_GRAIN / 4;                            \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t pl = 0; pl < planes; pl++) {                              \
            const T *gp = g + pl * OH * OW;                                    \
            T *xp = gx + pl * H * W;                                           \
            memset(xp, 0, (size_t)(H * W) * sizeof(T));                        \
            for (int64_t oy = 0; oy < OH; oy++)                                \
                for (int64_t ox = 0; ox < OW; ox++) {                          \
                    double v = gp[oy * OW + ox];                               \
                    for (int a = 0; a < ty->n; a++) {                          \
                        T *row = xp + ty->idx[oy][a] * W;                      \
                        double va = v * ty->w[oy][a];                          \
                        for (int b = 0; b < tx->n; b++)                        \
                            row[tx->idx[ox][b]] += (T)(va * tx->w[ox][b]);     \
                    }                                                          \
                }                                                              \
        }                                                                      \
    }

INTERP_LOOPS(float)
INTERP_LOOPS(double)

int mm_cpu_interpolate(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    if (x->dtype != MM_F32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    if (out->numel == 0 || x->numel == 0)
        return MM_EUNSUPPORTED;
    const mm_op_params *p = ctx->params;
    bool bw = ctx->op == &mm_op_interpolate_backward;
    int mode = (int)p->i[0];
    bool ac = p->i[1] != 0;
    int64_t OH = p->i[2], OW = p->i[3];
    int64_t H = bw ? p->i[4] : x->shape[2], W = bw ? p->i[5] : x->shape[3];
    int64_t planes = x->shape[0] * x->shape[1];
    taps ty, tx;
    MM_TRY(taps_make(&ty, mode, ac, H, OH, p->f[0]));
    int rc = taps_make(&tx, mode, ac, W, OW, p->f[1]);
    if (rc < 0) {
        taps_free(&ty);
        return rc;
    }
    int nt = mm_get_num_threads();
    rc = 0;
    if (x->dtype == MM_F32) {
        if (bw)
            interp_bw_float(mm_tensor_data(x), mm_tensor_data(out), planes, H,
                            W, OH, OW, &ty, &tx, nt);
        else
            rc = interp_fw_float(mm_tensor_data(x), mm_tensor_data(out), planes,
                                 H, W, OH, OW, &ty, &tx, nt);
    } else {
        if (bw)
            interp_bw_double(mm_tensor_data(x), mm_tensor_data(out), planes, H,
                             W, OH, OW, &ty, &tx, nt);
        else
            rc = interp_fw_double(mm_tensor_data(x), mm_tensor_data(out),
                                  planes, H, W, OH, OW, &ty, &tx, nt);
    }
    taps_free(&ty);
    taps_free(&tx);
    return rc;
}

/* One sampling position: up to four in-bounds taps (offset in the plane,
 * weight), and for the grid gradient the bilinear fractions and d/dcoord. */
typedef struct gs_pt {
    int n;
    int64_t off[4];
    double w[4];
    bool in[4];
    double fx, fy, dx, dy;
} gs_pt;

static void gs_point(const double *gxy, int64_t H, int64_t W, int mode,
                     int pad, bool ac, gs_pt *pt) {
    double ix = mm_gs_coord(gxy[0], W, pad, ac, &pt->dx);
    double iy = mm_gs_coord(gxy[1], H, pad, ac, &pt->dy);
    int64_t xs[4], ys[4];
    if (mode == 1) {
        xs[0] = (int64_t)nearbyint(ix), ys[0] = (int64_t)nearbyint(iy);
        pt->w[0] = 1;
        pt->n = 1;
    } else {
        int64_t x0, y0;
        mm_gs_bilinear(ix, iy, &x0, &y0, pt->w);
        for (int k = 0; k < 4; k++)
            xs[k] = x0 + (k & 1), ys[k] = y0 + (k >> 1);
        pt->n = 4;
        pt->fx = ix - (double)x0, pt->fy = iy - (double)y0;
    }
    for (int k = 0; k < pt->n; k++) {
        pt->in[k] = xs[k] >= 0 && xs[k] < W && ys[k] >= 0 && ys[k] < H;
        pt->off[k] = pt->in[k] ? ys[k] * W + xs[k] : 0;
    }
}

#define GS_LOOPS(T)                                                            \
    static void gs_fw_##T(const T *x, const T *grid, T *y, int64_t N,         \
                          int64_t C, int64_t H, int64_t W, int64_t Ho,         \
                          int64_t Wo, int mode, int pad, bool ac, int nt) {    \
        bool par = N * C * Ho * Wo > MM_GRAIN / 4;                             \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t nh = 0; nh < N * Ho; nh++) {                              \
            int64_t n = nh / Ho, h = nh % Ho;                                  \
            for (int64_t w = 0; w < Wo; w++) {                                 \
                const T *gp = grid + ((n * Ho + h) * Wo + w) * 2;              \
                double gxy[2] = {gp[0], gp[1]};                                \
                gs_pt pt;                                                      \
                gs_point(gxy, H, W, mode, pad, ac, &pt);                       \
                for (int64_t c = 0; c < C; c++) {                              \
                    const T *xp = x + (n * C + c) * H * W;                     \
                    double acc = 0;                                            \
                    for (int k = 0; k < pt.n; k++)                             \
                        if (pt.in[k])                                          \
                            acc += pt.w[k] * xp[pt.off[k]];                    \
                    y[((n * C + c) * Ho + h) * Wo + w] = (T)acc;               \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    static void gs_gi_##T(const T *g, const T *grid, T *gx, int64_t N,        \
                          int64_t C, int64_t H, int64_t W, int64_t Ho,         \
                          int64_t Wo, int mode, int pad, bool ac, int nt) {    \
        bool par = N * C * Ho * Wo > MM_GRAIN / 4;                             \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t nc = 0; nc < N * C; nc++) {                               \
            int64_t n = nc / C;                                                \
            T *xp = gx + nc * H * W;                                           \
            memset(xp, 0, (size_t)(H * W) * sizeof(T));                        \
            for (int64_t hw = 0; hw < Ho * Wo; hw++) {                         \
                const T *gp = grid + (n * Ho * Wo + hw) * 2;                   \
                double gxy[2] = {gp[0], gp[1]};                                \
                gs_pt pt;                                                      \
                gs_point(gxy, H, W, mode, pad, ac, &pt);                       \
                double v = g[nc * Ho * Wo + hw];                               \
                for (int k = 0; k < pt.n; k++)                                 \
                    if (pt.in[k])                                              \
                        xp[pt.off[k]] += (T)(v * pt.w[k]);                     \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    static void gs_gg_##T(const T *g, const T *x, const T *grid, T *gg,       \
                          int64_t N, int64_t C, int64_t H, int64_t W,          \
                          int64_t Ho, int64_t Wo, int mode, int pad, bool ac,  \
                          int nt) {                                            \
        bool par = N * C * Ho * Wo > MM_GRAIN / 4;                             \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t nh = 0; nh < N * Ho; nh++) {                              \
            int64_t n = nh / Ho, h = nh % Ho;                                  \
            for (int64_t w = 0; w < Wo; w++) {                                 \
                int64_t gi = ((n * Ho + h) * Wo + w) * 2;                      \
                double gxy[2] = {grid[gi], grid[gi + 1]};                      \
                gs_pt pt;                                                      \
                gs_point(gxy, H, W, mode, pad, ac, &pt);                       \
                double gix = 0, giy = 0;                                       \
                if (mode == 0)                                                 \
                    for (int64_t c = 0; c < C; c++) {                          \
                        const T *xp = x + (n * C + c) * H * W;                 \
                        double v[4], go = g[((n * C + c) * Ho + h) * Wo + w];  \
                        for (int k = 0; k < 4; k++)                            \
                            v[k] = pt.in[k] ? xp[pt.off[k]] : 0;               \
                        gix += go * ((1 - pt.fy) * (v[1] - v[0]) +             \
                                     pt.fy * (v[3] - v[2]));                   \
                        giy += go * ((1 - pt.fx) * (v[2] - v[0]) +             \
                                     pt.fx * (v[3] - v[1]));                   \
                    }                                                          \
                gg[gi] = (T)(gix * pt.dx);                                     \
                gg[gi + 1] = (T)(giy * pt.dy);                                 \
            }                                                                  \
        }                                                                      \
    }

GS_LOOPS(float)
GS_LOOPS(double)

int mm_cpu_grid_sample(mm_op_ctx *ctx) {
    const mm_op_params *p = ctx->params;
    mm_tensor *out = ctx->out;
    const mm_tensor *grid = ctx->inputs[ctx->n_inputs - 1];
    mm_dtype dt = grid->dtype;
    if (dt != MM_F32 && dt != MM_F64)
        return MM_EUNSUPPORTED;
    if (out->numel == 0)
        return 0;
    int mode = (int)p->i[0], pad = (int)p->i[1];
    bool ac = p->i[2] != 0;
    int nt = mm_get_num_threads();
    int64_t N = grid->shape[0], Ho = grid->shape[1], Wo = grid->shape[2];
    if (ctx->op == &mm_op_grid_sample) {
        const mm_tensor *x = ctx->inputs[0];
        int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3];
        if (dt == MM_F32)
            gs_fw_float(mm_tensor_data(x), mm_tensor_data(grid),
                        mm_tensor_data(out), N, C, H, W, Ho, Wo, mode, pad, ac,
                        nt);
        else
            gs_fw_double(mm_tensor_data(x), mm_tensor_data(grid),
                         mm_tensor_data(out), N, C, H, W, Ho, Wo, mode, pad,
                         ac, nt);
    } else if (ctx->op == &mm_op_grid_sample_grad_input) {
        const mm_tensor *g = ctx->inputs[0];
        int64_t C = g->shape[1], H = p->i[3], W = p->i[4];
        if (dt == MM_F32)
            gs_gi_float(mm_tensor_data(g), mm_tensor_data(grid),
                        mm_tensor_data(out), N, C, H, W, Ho, Wo, mode, pad, ac,
                        nt);
        else
            gs_gi_double(mm_tensor_data(g), mm_tensor_data(grid),
                         mm_tensor_data(out), N, C, H, W, Ho, Wo, mode, pad,
                         ac, nt);
    } else {
        const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1];
        int64_t C = x->shape[1], H = x->shape[2], W = x->shape[3];
        if (dt == MM_F32)
            gs_gg_float(mm_tensor_data(g), mm_tensor_data(x),
                        mm_tensor_data(grid), mm_tensor_data(out), N, C, H, W,
                        Ho, Wo, mode, pad, ac, nt);
        else
            gs_gg_double(mm_tensor_data(g), mm_tensor_data(x),
                         mm_tensor_data(grid), mm_tensor_data(out), N, C, H, W,
                         Ho, Wo, mode, pad, ac, nt);
    }
    return 0;
}
