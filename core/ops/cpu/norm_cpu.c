/* Optimised CPU moments and normalize (f32, f64; contiguous inputs), the two
 * ops behind batch/layer/group/instance norm. x is (A, C, B): each channel's
 * values are A runs of B contiguous elements.
 *
 * moments is two-pass (mean, then the sum of squared deviations) in double,
 * one channel per iteration when there are enough channels; with few
 * channels (batch norm) each channel's runs are split over the threads in
 * fixed pieces whose partial sums add up in order, so the result does not
 * depend on the thread count. normalize is one fused pass per run.
 *
 * Channels-last x (mm_norm_rows) is rows [A * B, C]: the per-channel sums
 * run down the rows with the C accumulators side by side (vectorised across
 * C), over fixed pieces of rows whose partial sums add up in order, and
 * normalize and the input gradient are a row-wise affine map with
 * per-channel vectors. The sums are compiled for AVX-512, AVX2 and the
 * baseline (MM_CPU_CLONES); the row-wise maps are not: memory-bound, their
 * baseline code ran as fast as the contiguous loops, the wider code
 * slower. */
#include "mm/threads.h"
#include "norm_internal.h"
#include "vmath.h"

#include <math.h>
#include <stdlib.h>

#define MOMENT_LOOPS(T)                                                        \
    static double sum_##T(const T *p, int64_t n) {                             \
        double acc = 0;                                                        \
        _Pragma("omp simd reduction(+ : acc)")                                 \
        for (int64_t i = 0; i < n; i++)                                        \
            acc += p[i];                                                       \
        return acc;                                                            \
    }                                                                          \
    static double sqdev_##T(const T *p, int64_t n, double mean) {              \
        double acc = 0;                                                        \
        _Pragma("omp simd reduction(+ : acc)")                                 \
        for (int64_t i = 0; i < n; i++) {                                      \
            double d = p[i] - mean;                                            \
            acc += d * d;                                                      \
        }                                                                      \
        return acc;                                                            \
    }                                                                          \
    static void norm_run_##T(const T *x, T *y, int64_t n, double mean,         \
                             double rstd) {                                    \
        T m = (T)mean, r = (T)rstd;                                            \
        _Pragma("omp simd")                                                    \
        for (int64_t i = 0; i < n; i++)                                        \
            y[i] = (x[i] - m) * r;                                             \
    }                                                                          \
    static void affine_run_##T(const T *x, T *y, int64_t n, double scale,      \
                               double shift) {                                 \
        T a = (T)scale, b = (T)shift;                                          \
        _Pragma("omp simd")                                                    \
        for (int64_t i = 0; i < n; i++)                                        \
            y[i] = x[i] * a + b;                                               \
    }

MOMENT_LOOPS(float)
MOMENT_LOOPS(double)

typedef struct mom {
    const char *x;
    bool f32;
    int64_t A, C, B;
} mom;

/* Sum (pass 0) or squared deviations from mean (pass 1) of channel c's
 * runs a0 .. a1. */
static double part(const mom *m, int64_t c, int64_t a0, int64_t a1, int pass,
                   double mean) {
    double acc = 0;
    for (int64_t a = a0; a < a1; a++) {
        int64_t off = (a * m->C + c) * m->B;
        if (m->f32)
            acc += pass ? sqdev_float((const float *)m->x + off, m->B, mean)
                        : sum_float((const float *)m->x + off, m->B);
        else
            acc += pass ? sqdev_double((const double *)m->x + off, m->B, mean)
                        : sum_double((const double *)m->x + off, m->B);
    }
    return acc;
}

enum { PIECES = 64 };


/* ---- channels-last: x as rows [R, C] ------------------------------------- */

/* Fixed pieces of the rows, so that the sums do not depend on the thread
 * count; each piece keeps its C (or 2 C) partial sums. */
static int64_t row_pieces(int64_t R) { return R < PIECES ? R : PIECES; }

/* f64 moments, pass 0: acc[c] = sum of x[r][c]; pass 1: of (x[r][c] -
 * mean[c])^2, over rows r0 .. r1. */
MM_CPU_CLONES
static void rows_moment_double(const double *x, int64_t r0, int64_t r1,
                               int64_t C, int pass, const double *mean,
                               double *acc) {
    for (int64_t c = 0; c < C; c++)
        acc[c] = 0;
    for (int64_t r = r0; r < r1; r++) {
        const double *xr = x + r * C;
        if (pass == 0) {
#pragma omp simd
            for (int64_t c = 0; c < C; c++)
                acc[c] += xr[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < C; c++) {
                double d = xr[c] - mean[c];
                acc[c] += d * d;
            }
        }
    }
}

#define ROW_LOOPS(T)                                                           \
    /* sg[c] += g[r][c], sgx[c] += g[r][c] (x[r][c] - mean[c]) */              \
    MM_CPU_CLONES                                                              \
    static void rows_gsum_##T(const T *g, const T *x, int64_t r0, int64_t r1,  \
                              int64_t C, const double *mean, double *sg,       \
                              double *sgx) {                                   \
        for (int64_t c = 0; c < C; c++)                                        \
            sg[c] = 0, sgx[c] = 0;                                             \
        for (int64_t r = r0; r < r1; r++) {                                    \
            const T *gr = g + r * C, *xr = x + r * C;                          \
            _Pragma("omp simd")                                                \
            for (int64_t c = 0; c < C; c++) {                                  \
                sg[c] += (double)gr[c];                                        \
                sgx[c] += (double)gr[c] * ((double)xr[c] - mean[c]);           \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    /* y[r][c] = (x[r][c] - sub[c]) * mul[c] (the same arithmetic as          \
     * norm_run, so both layouts give the same numbers) */                     \
    static void rows_norm_##T(const T *x, T *y, int64_t r0, int64_t r1,        \
                              int64_t C, const T *sub, const T *mul) {         \
        for (int64_t r = r0; r < r1; r++) {                                    \
            const T *xr = x + r * C;                                           \
            T *yr = y + r * C;                                                 \
            _Pragma("omp simd")                                                \
            for (int64_t c = 0; c < C; c++)                                    \
                yr[c] = (xr[c] - sub[c]) * mul[c];                             \
        }                                                                      \
    }                                                                          \
    /* y[r][c] = x[r][c] a[c] + b[c] (affine_run) */                           \
    static void rows_affine_##T(const T *x, T *y, int64_t r0, int64_t r1,      \
                                int64_t C, const T *a, const T *b) {           \
        for (int64_t r = r0; r < r1; r++) {                                    \
            const T *xr = x + r * C;                                           \
            T *yr = y + r * C;                                                 \
            _Pragma("omp simd")                                                \
            for (int64_t c = 0; c < C; c++)                                    \
                yr[c] = xr[c] * a[c] + b[c];                                   \
        }                                                                      \
    }                                                                          \
    /* out[r][c] = alpha[c] g[r][c] - beta[c] x[r][c] + gamma[c] (gin) */      \
    static void rows_gin_##T(const T *g, const T *x, T *out, int64_t r0,       \
                             int64_t r1, int64_t C, const T *alpha,            \
                             const T *beta, const T *gamma) {                  \
        for (int64_t r = r0; r < r1; r++) {                                    \
            const T *gr = g + r * C, *xr = x + r * C;                          \
            T *o = out + r * C;                                                \
            _Pragma("omp simd")                                                \
            for (int64_t c = 0; c < C; c++)                                    \
                o[c] = alpha[c] * gr[c] - beta[c] * xr[c] + gamma[c];          \
        }                                                                      \
    }

ROW_LOOPS(float)
ROW_LOOPS(double)

/* Rows per task of the row-wise maps: a few per thread for balance. */
static int64_t row_block(int64_t R, int64_t C, int nt) {
    int64_t per = (R + 4 * nt - 1) / (4 * nt);
    int64_t min = MM_GRAIN / (C > 0 ? C : 1) + 1;
    return per > min ? per : min < R ? min : (R > 0 ? R : 1);
}

/* f32 moments in one pass: acc[c] += d, acc[C + c] += d^2 with d = x - k[c]
 * in double. The shift k (the first row) keeps the cancellation in
 * sum(d^2) / n - mean(d)^2 small; with f32 data in double accumulators the
 * variance stays well within f32 rounding, at one read of x instead of
 * two. */
MM_CPU_CLONES
static void rows_shifted_float(const float *x, int64_t r0, int64_t r1,
                               int64_t C, const double *k, double *acc) {
    for (int64_t c = 0; c < 2 * C; c++)
        acc[c] = 0;
    double *sq = acc + C;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) {
            double d = (double)xr[c] - k[c];
            acc[c] += d;
            sq[c] += d * d;
        }
    }
}

/* moments of rows x [R, C] into res (2 C, double), over the fixed pieces
 * added in order: f32 in one shifted pass, f64 in two (the mean, then the
 * squared deviations, as the contiguous kernel). */
static int rows_moments(const mm_tensor *x, double *res, int nt) {
    int64_t C = x->shape[1], R = x->shape[0] * x->shape[2];
    int64_t np = row_pieces(R);
    bool f32 = x->dtype == MM_F32, par = x->numel > MM_GRAIN;
    double n = (double)R;
    double *acc = malloc((size_t)((2 * np + 1) * C) * sizeof *acc);
    if (!acc)
        return mm_error_set(MM_ENOMEM, "moments: out of memory");
    const void *xd = mm_tensor_data(x);
    if (f32) {
        double *k = acc + 2 * np * C;
        for (int64_t c = 0; c < C; c++)
            k[c] = ((const float *)xd)[c];
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t p = 0; p < np; p++)
            rows_shifted_float(xd, R * p / np, R * (p + 1) / np, C, k,
                               acc + 2 * p * C);
        for (int64_t c = 0; c < C; c++) {
            double s = 0, sq = 0;
            for (int64_t p = 0; p < np; p++)
                s += acc[2 * p * C + c], sq += acc[(2 * p + 1) * C + c];
            double m = s / n, v = sq / n - m * m;
            res[c] = k[c] + m;
            res[C + c] = v > 0 ? v : 0;
        }
        free(acc);
        return 0;
    }
    for (int pass = 0; pass < 2; pass++) {
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t p = 0; p < np; p++)
            rows_moment_double(xd, R * p / np, R * (p + 1) / np, C, pass, res,
                               acc + p * C);
        for (int64_t c = 0; c < C; c++) {
            double s = 0;
            for (int64_t p = 0; p < np; p++)
                s += acc[p * C + c];
            res[pass * C + c] = s / n;
        }
    }
    free(acc);
    return 0;
}

/* normalize of rows: y = (x - mean) rstd, or x a + b with a = w rstd,
 * b = bias - mean a (the vectors as the contiguous kernel rounds them). */
static int rows_normalize(mm_op_ctx *ctx, int nt) {
    const mm_tensor *x = ctx->inputs[0], *s = ctx->inputs[1];
    mm_tensor *y = ctx->out;
    double eps = ctx->params->f[0];
    int64_t C = x->shape[1], R = x->shape[0] * x->shape[2];
    bool f32 = x->dtype == MM_F32, aff = ctx->n_inputs == 4;
    size_t es = mm_dtype_size(x->dtype);
    char *vec = malloc(2 * (size_t)C * es);
    if (!vec)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", ctx->op->name);
    for (int64_t c = 0; c < C; c++) {
        double m = mm_ld(s, c), rstd = 1 / sqrt(mm_ld(s, C + c) + eps), u, v;
        if (aff) {
            double sc = mm_ld(ctx->inputs[2], c) / sqrt(mm_ld(s, C + c) + eps);
            u = sc, v = mm_ld(ctx->inputs[3], c) - m * sc;
        } else {
            u = m, v = rstd;
        }
        if (f32)
            ((float *)vec)[c] = (float)u, ((float *)vec)[C + c] = (float)v;
        else
            ((double *)vec)[c] = u, ((double *)vec)[C + c] = v;
    }
    int64_t blk = row_block(R, C, nt), nb = (R + blk - 1) / blk;
    const void *xd = mm_tensor_data(x);
    void *yd = mm_tensor_data(y);
#pragma omp parallel for num_threads(nt) if (nb > 1)
    for (int64_t k = 0; k < nb; k++) {
        int64_t r0 = k * blk, r1 = r0 + blk < R ? r0 + blk : R;
        if (f32 && aff)
            rows_affine_float(xd, yd, r0, r1, C, (float *)vec,
                              (float *)vec + C);
        else if (f32)
            rows_norm_float(xd, yd, r0, r1, C, (float *)vec, (float *)vec + C);
        else if (aff)
            rows_affine_double(xd, yd, r0, r1, C, (double *)vec,
                               (double *)vec + C);
        else
            rows_norm_double(xd, yd, r0, r1, C, (double *)vec,
                             (double *)vec + C);
    }
    free(vec);
    return mm_norm_save_rstd(ctx, eps);
}

int mm_cpu_moments(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    if (x->dtype != MM_F32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    mom m = {mm_tensor_data(x), x->dtype == MM_F32, x->shape[0], x->shape[1],
             x->shape[2]};
    int64_t C = m.C;
    if (C == 0)
        return 0;
    if (m.A * m.B == 0)
        return MM_EUNSUPPORTED; /* NaN stats: the reference */
    double n = (double)(m.A * m.B);
    int nt = mm_get_num_threads();
    bool par = x->numel > MM_GRAIN;
    double *res = malloc((size_t)(2 * C) * sizeof *res);
    if (!res)
        return mm_error_set(MM_ENOMEM, "moments: out of memory");
    if (mm_norm_rows(x)) {
        int rc = rows_moments(x, res, nt);
        if (rc < 0) {
            free(res);
            return rc;
        }
    } else if (C >= 4 * nt || m.A < 2) {
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t c = 0; c < C; c++) {
            double mean = part(&m, c, 0, m.A, 0, 0) / n;
            res[c] = mean;
            res[C + c] = part(&m, c, 0, m.A, 1, mean) / n;
        }
    } else { /* few channels, many runs: split the runs in fixed pieces */
        int64_t np = m.A < PIECES ? m.A : PIECES;
        double *acc = malloc((size_t)np * sizeof *acc);
        if (!acc) {
            free(res);
            return mm_error_set(MM_ENOMEM, "moments: out of memory");
        }
        for (int64_t c = 0; c < C; c++) {
            double mean = 0;
            for (int pass = 0; pass < 2; pass++) {
#pragma omp parallel for num_threads(nt) if (par)
                for (int64_t k = 0; k < np; k++)
                    acc[k] = part(&m, c, m.A * k / np, m.A * (k + 1) / np, pass,
                                  mean);
                double s = 0;
                for (int64_t k = 0; k < np; k++)
                    s += acc[k];
                if (pass == 0)
                    mean = s / n;
                else
                    res[C + c] = s / n;
            }
            res[c] = mean;
        }
        free(acc);
    }
    for (int64_t i = 0; i < 2 * C; i++) {
        if (m.f32)
            ((float *)mm_tensor_data(out))[i] = (float)res[i];
        else
            ((double *)mm_tensor_data(out))[i] = res[i];
    }
    free(res);
    return 0;
}

int mm_cpu_normalize(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *s = ctx->inputs[1];
    mm_tensor *y = ctx->out;
    if (x->dtype != MM_F32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    double eps = ctx->params->f[0];
    int64_t A = x->shape[0], C = x->shape[1], B = x->shape[2];
    bool f32 = x->dtype == MM_F32;
    int nt = mm_get_num_threads();
    bool par = x->numel > MM_GRAIN;
    if (mm_norm_rows(x))
        return rows_normalize(ctx, nt);
    if (ctx->n_inputs == 4) { /* y = x * (rstd w) + (b - mean rstd w) */
        const char *wd = mm_tensor_data(ctx->inputs[2]),
                   *bd = mm_tensor_data(ctx->inputs[3]),
                   *sd = mm_tensor_data(s);
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t ac = 0; ac < A * C; ac++) {
            int64_t c = ac % C, off = ac * B;
            double m, v, w, b;
            if (f32)
                m = ((const float *)sd)[c], v = ((const float *)sd)[C + c],
                w = ((const float *)wd)[c], b = ((const float *)bd)[c];
            else
                m = ((const double *)sd)[c], v = ((const double *)sd)[C + c],
                w = ((const double *)wd)[c], b = ((const double *)bd)[c];
            double sc = w / sqrt(v + eps);
            if (f32)
                affine_run_float((const float *)mm_tensor_data(x) + off,
                                 (float *)mm_tensor_data(y) + off, B, sc,
                                 b - m * sc);
            else
                affine_run_double((const double *)mm_tensor_data(x) + off,
                                  (double *)mm_tensor_data(y) + off, B, sc,
                                  b - m * sc);
        }
        return mm_norm_save_rstd(ctx, eps);
    }
#pragma omp parallel for num_threads(nt) if (par)
    for (int64_t ac = 0; ac < A * C; ac++) {
        int64_t c = ac % C, off = ac * B;
        if (f32) {
            const float *st = mm_tensor_data(s);
            norm_run_float((const float *)mm_tensor_data(x) + off,
                           (float *)mm_tensor_data(y) + off, B, st[c],
                           1 / sqrt((double)st[C + c] + eps));
        } else {
            const double *st = mm_tensor_data(s);
            norm_run_double((const double *)mm_tensor_data(x) + off,
                            (double *)mm_tensor_data(y) + off, B, st[c],
                            1 / sqrt(st[C + c] + eps));
        }
    }
    return mm_norm_save_rstd(ctx, eps);
}

/* ---- norm_grad_sums and norm_grad_input ---------------------------------- */

#define GRAD_LOOPS(T)                                                          \
    static void gsum_##T(const T *g, const T *x, int64_t n, double mean,       \
                         double *sg, double *sgx) {                            \
        double a = 0, b = 0;                                                   \
        _Pragma("omp simd reduction(+ : a, b)")                                \
        for (int64_t i = 0; i < n; i++) {                                      \
            a += g[i];                                                         \
            b += (double)g[i] * ((double)x[i] - mean);                         \
        }                                                                      \
        *sg += a;                                                              \
        *sgx += b;                                                             \
    }                                                                          \
    static void gin_##T(const T *g, const T *x, T *out, int64_t n,             \
                        double alpha, double beta, double gamma) {             \
        T a = (T)alpha, b = (T)beta, c = (T)gamma;                             \
        _Pragma("omp simd")                                                    \
        for (int64_t i = 0; i < n; i++)                                        \
            out[i] = a * g[i] - b * x[i] + c;                                  \
    }

GRAD_LOOPS(float)
GRAD_LOOPS(double)

typedef struct gsum {
    const char *g, *x;
    bool f32;
    int64_t A, C, B;
} gsum;

/* sum(g) and sum(g * (x - mean)) of channel c over runs a0 .. a1. */
static void gpart(const gsum *s, int64_t c, int64_t a0, int64_t a1,
                  double mean, double *sg, double *sgx) {
    *sg = 0, *sgx = 0;
    for (int64_t a = a0; a < a1; a++) {
        int64_t off = (a * s->C + c) * s->B;
        if (s->f32)
            gsum_float((const float *)s->g + off, (const float *)s->x + off,
                       s->B, mean, sg, sgx);
        else
            gsum_double((const double *)s->g + off,
                        (const double *)s->x + off, s->B, mean, sg, sgx);
    }
}

static double stat_at(const mm_tensor *t, int64_t i) {
    return t->dtype == MM_F32 ? ((const float *)mm_tensor_data(t))[i]
                              : ((const double *)mm_tensor_data(t))[i];
}

static void set_at(mm_tensor *t, int64_t i, double v) {
    if (t->dtype == MM_F32)
        ((float *)mm_tensor_data(t))[i] = (float)v;
    else
        ((double *)mm_tensor_data(t))[i] = v;
}

static int grad_sums(mm_op_ctx *ctx, int nt) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1],
                    *st = ctx->inputs[2];
    mm_tensor *out = ctx->out;
    double eps = ctx->params->f[0];
    gsum s = {mm_tensor_data(g), mm_tensor_data(x), g->dtype == MM_F32,
              x->shape[0], x->shape[1], x->shape[2]};
    int64_t C = s.C;
    bool par = x->numel > MM_GRAIN;
    if (C >= 4 * nt || s.A < 2) {
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t c = 0; c < C; c++) {
            double sg, sgx, mean = stat_at(st, c);
            gpart(&s, c, 0, s.A, mean, &sg, &sgx);
            set_at(out, c, sg);
            set_at(out, C + c, sgx / sqrt(stat_at(st, C + c) + eps));
        }
        return 0;
    }
    int64_t np = s.A < PIECES ? s.A : PIECES;
    double *acc = malloc((size_t)(2 * np) * sizeof *acc);
    if (!acc)
        return mm_error_set(MM_ENOMEM, "norm_grad_sums: out of memory");
    for (int64_t c = 0; c < C; c++) {
        double mean = stat_at(st, c);
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t k = 0; k < np; k++)
            gpart(&s, c, s.A * k / np, s.A * (k + 1) / np, mean, &acc[2 * k],
                  &acc[2 * k + 1]);
        double sg = 0, sgx = 0;
        for (int64_t k = 0; k < np; k++)
            sg += acc[2 * k], sgx += acc[2 * k + 1];
        set_at(out, c, sg);
        set_at(out, C + c, sgx / sqrt(stat_at(st, C + c) + eps));
    }
    free(acc);
    return 0;
}

/* dx = w rstd (g - sg / n - xhat sgx / n) = alpha g - beta x + gamma. */
static int grad_input(mm_op_ctx *ctx, int nt) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1],
                    *st = ctx->inputs[2], *w = ctx->inputs[3],
                    *sums = ctx->inputs[4];
    mm_tensor *out = ctx->out;
    double eps = ctx->params->f[0];
    int64_t A = x->shape[0], C = x->shape[1], B = x->shape[2];
    double n = (double)(A * B);
    bool f32 = x->dtype == MM_F32, par = x->numel > MM_GRAIN;
#pragma omp parallel for num_threads(nt) if (par)
    for (int64_t ac = 0; ac < A * C; ac++) {
        int64_t c = ac % C, off = ac * B;
        double mean = stat_at(st, c),
               rstd = 1 / sqrt(stat_at(st, C + c) + eps);
        double alpha = stat_at(w, c) * rstd;
        double beta = alpha * rstd * stat_at(sums, C + c) / n;
        double gamma = -alpha * stat_at(sums, c) / n + beta * mean;
        if (f32)
            gin_float((const float *)mm_tensor_data(g) + off,
                      (const float *)mm_tensor_data(x) + off,
                      (float *)mm_tensor_data(out) + off, B, alpha, beta,
                      gamma);
        else
            gin_double((const double *)mm_tensor_data(g) + off,
                       (const double *)mm_tensor_data(x) + off,
                       (double *)mm_tensor_data(out) + off, B, alpha, beta,
                       gamma);
    }
    return 0;
}

/* ---- the gradient of channels-last rows ---------------------------------- */

static int rows_grad_sums(mm_op_ctx *ctx, int nt) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1],
                    *st = ctx->inputs[2];
    mm_tensor *out = ctx->out;
    double eps = ctx->params->f[0];
    int64_t C = x->shape[1], R = x->shape[0] * x->shape[2];
    int64_t np = row_pieces(R);
    bool f32 = x->dtype == MM_F32, par = x->numel > MM_GRAIN;
    /* np pieces of (sg, sgx), then the means */
    double *acc = malloc((size_t)((2 * np + 1) * C) * sizeof *acc);
    if (!acc)
        return mm_error_set(MM_ENOMEM, "norm_grad_sums: out of memory");
    double *mean = acc + 2 * np * C;
    for (int64_t c = 0; c < C; c++)
        mean[c] = stat_at(st, c);
    const void *gd = mm_tensor_data(g), *xd = mm_tensor_data(x);
#pragma omp parallel for num_threads(nt) if (par)
    for (int64_t k = 0; k < np; k++) {
        int64_t r0 = R * k / np, r1 = R * (k + 1) / np;
        double *sg = acc + 2 * k * C, *sgx = sg + C;
        if (f32)
            rows_gsum_float(gd, xd, r0, r1, C, mean, sg, sgx);
        else
            rows_gsum_double(gd, xd, r0, r1, C, mean, sg, sgx);
    }
    for (int64_t c = 0; c < C; c++) {
        double sg = 0, sgx = 0;
        for (int64_t k = 0; k < np; k++)
            sg += acc[2 * k * C + c], sgx += acc[(2 * k + 1) * C + c];
        set_at(out, c, sg);
        set_at(out, C + c, sgx / sqrt(stat_at(st, C + c) + eps));
    }
    free(acc);
    return 0;
}

/* dx = alpha g - beta x + gamma, row by row (grad_input's vectors). */
static int rows_grad_input(mm_op_ctx *ctx, int nt) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1],
                    *st = ctx->inputs[2], *w = ctx->inputs[3],
                    *sums = ctx->inputs[4];
    double eps = ctx->params->f[0];
    int64_t C = x->shape[1], R = x->shape[0] * x->shape[2];
    double n = (double)R;
    bool f32 = x->dtype == MM_F32;
    size_t es = mm_dtype_size(x->dtype);
    char *vec = malloc(3 * (size_t)C * es);
    if (!vec)
        return mm_error_set(MM_ENOMEM, "norm_grad_input: out of memory");
    for (int64_t c = 0; c < C; c++) {
        double mean = stat_at(st, c),
               rstd = 1 / sqrt(stat_at(st, C + c) + eps);
        double alpha = stat_at(w, c) * rstd;
        double beta = alpha * rstd * stat_at(sums, C + c) / n;
        double gamma = -alpha * stat_at(sums, c) / n + beta * mean;
        double v[3] = {alpha, beta, gamma};
        for (int i = 0; i < 3; i++) {
            if (f32)
                ((float *)vec)[i * C + c] = (float)v[i];
            else
                ((double *)vec)[i * C + c] = v[i];
        }
    }
    int64_t blk = row_block(R, C, nt), nb = (R + blk - 1) / blk;
    const void *gd = mm_tensor_data(g), *xd = mm_tensor_data(x);
    void *od = mm_tensor_data(ctx->out);
#pragma omp parallel for num_threads(nt) if (nb > 1)
    for (int64_t k = 0; k < nb; k++) {
        int64_t r0 = k * blk, r1 = r0 + blk < R ? r0 + blk : R;
        if (f32) {
            const float *v = (const float *)vec;
            rows_gin_float(gd, xd, od, r0, r1, C, v, v + C, v + 2 * C);
        } else {
            const double *v = (const double *)vec;
            rows_gin_double(gd, xd, od, r0, r1, C, v, v + C, v + 2 * C);
        }
    }
    free(vec);
    return 0;
}

int mm_cpu_norm_grad(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1];
    if (x->dtype != MM_F32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    if (ctx->out->numel == 0)
        return 0;
    if (x->shape[0] * x->shape[2] == 0)
        return MM_EUNSUPPORTED;
    bool rows = mm_norm_rows(x);
    if (mm_norm_rows(g) != rows) /* mixed layouts: both made row-major */
        return mm_op_run_contiguous(ctx, mm_cpu_norm_grad);
    int nt = mm_get_num_threads();
    if (rows)
        return ctx->op == &mm_op_norm_grad_sums ? rows_grad_sums(ctx, nt)
                                                : rows_grad_input(ctx, nt);
    return ctx->op == &mm_op_norm_grad_sums ? grad_sums(ctx, nt)
                                            : grad_input(ctx, nt);
}
