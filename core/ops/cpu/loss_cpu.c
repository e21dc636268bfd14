/* Optimised CPU losses (f32, f64; other dtypes take the reference).
 *
 * The pointwise losses run the shared per-element maths (loss_impl.h) in an
 * mm_iter loop. nll_loss and cross_entropy work on contiguous (N, C, inner)
 * inputs, positions (n, i) in parallel; cross_entropy is one fused pass per
 * position: the max, then sum exp(x - max) (and the weighted sums label
 * smoothing needs) accumulated in double, then the loss; it keeps the
 * log-sum-exp (f64) for backward, which writes the gradient row in one
 * pass.
 * With inner == 1 ((N, C) logits) a position is a contiguous row and the
 * inner loops vectorise; with inner > 1 ((N, C, H, W)) blocks of positions
 * run side by side. */
#include "loss_impl.h"

#include "mm/threads.h"

#include <string.h>

/* Vector exp from glibc's libmvec, as cpu/softmax_cpu.c. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&        \
    defined(__GLIBC__) && defined(_OPENMP)
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double exp(double);
#endif

/* ---- pointwise ---------------------------------------------------------- */

typedef struct pw_ctx {
    int kind, which;
    bool grad, has_pw;
    double beta;
} pw_ctx;

#define PW_LOOP(T)                                                             \
    static void pw_loop_##T(char **data, const int64_t *strides, int64_t n,    \
                            void *vctx) {                                      \
        const pw_ctx *c = vctx;                                                \
        for (int64_t i = 0; i < n; i++) {                                      \
            double x = *(const T *)(data[1] + i * strides[1]);                 \
            double t = *(const T *)(data[2] + i * strides[2]);                 \
            double p = c->has_pw ? *(const T *)(data[3] + i * strides[3]) : 1; \
            double v = c->grad ? loss_pointwise_grad(c->kind, c->which, x, t,  \
                                                     p, c->beta)               \
                               : loss_pointwise_value(c->kind, x, t, p,        \
                                                      c->beta);                \
            *(T *)(data[0] + i * strides[0]) = (T)v;                           \
        }                                                                      \
    }
PW_LOOP(float)
PW_LOOP(double)

int mm_cpu_loss_pointwise(mm_op_ctx *ctx) {
    mm_dtype dt = ctx->out->dtype;
    if (dt != MM_F32 && dt != MM_F64)
        return MM_EUNSUPPORTED;
    mm_tensor *ops[4] = {ctx->out, ctx->inputs[0], ctx->inputs[1],
                         ctx->n_inputs > 2 ? ctx->inputs[2] : NULL};
    mm_iter it;
    MM_TRY(mm_iter_init(&it, ctx->n_inputs + 1, ops));
    pw_ctx c = {.kind = (int)ctx->params->i[0],
                .which = (int)ctx->params->i[1],
                .grad = ctx->op == &mm_op_loss_pointwise_grad,
                .has_pw = ctx->n_inputs > 2,
                .beta = ctx->params->f[0]};
    mm_iter_run(&it, dt == MM_F32 ? pw_loop_float : pw_loop_double, &c,
                MM_GRAIN / 8);
    return 0;
}

/* ---- nll_loss ----------------------------------------------------------- */

#define NLL(T)                                                                 \
    static void nll_##T(const T *x, const int64_t *t, const T *w, T *y,       \
                        int64_t n, int64_t c, int64_t inner, int64_t ign,      \
                        int nt) {                                              \
        int64_t m = n * inner;                                                 \
        _Pragma("omp parallel for num_threads(nt) if (m > MM_GRAIN)")         \
        for (int64_t j = 0; j < m; j++) {                                      \
            int64_t b = j / inner, i = j % inner, k = t[j];                    \
            y[j] = k == ign ? (T)0                                             \
                            : -(w ? w[k] : (T)1) * x[(b * c + k) * inner + i]; \
        }                                                                      \
    }                                                                          \
    static void nll_bw_##T(const T *g, const int64_t *t, const T *w, T *y,    \
                           int64_t n, int64_t c, int64_t inner, int64_t ign,   \
                           int nt) {                                           \
        memset(y, 0, sizeof(T) * (size_t)(n * c * inner));                     \
        int64_t m = n * inner;                                                 \
        _Pragma("omp parallel for num_threads(nt) if (m > MM_GRAIN)")         \
        for (int64_t j = 0; j < m; j++) {                                      \
            int64_t b = j / inner, i = j % inner, k = t[j];                    \
            if (k != ign)                                                      \
                y[(b * c + k) * inner + i] = -(w ? w[k] : (T)1) * g[j];        \
        }                                                                      \
    }
NLL(float)
NLL(double)

int mm_cpu_nll_loss(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    const mm_tensor *w = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    int64_t n, c, inner;
    loss_class_dims(x, &n, &c, &inner);
    const int64_t *t = mm_tensor_data(ctx->inputs[1]);
    int nt = mm_get_num_threads();
    if (x->dtype == MM_F32)
        nll_float(mm_tensor_data(x), t, w ? mm_tensor_data(w) : NULL,
                  mm_tensor_data(ctx->out), n, c, inner, ctx->params->i[0], nt);
    else if (x->dtype == MM_F64)
        nll_double(mm_tensor_data(x), t, w ? mm_tensor_data(w) : NULL,
                   mm_tensor_data(ctx->out), n, c, inner, ctx->params->i[0],
                   nt);
    else
        return MM_EUNSUPPORTED;
    return 0;
}

int mm_cpu_nll_loss_backward(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0];
    const mm_tensor *w = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    int64_t n, c, inner;
    loss_class_dims(ctx->out, &n, &c, &inner);
    const int64_t *t = mm_tensor_data(ctx->inputs[1]);
    int nt = mm_get_num_threads();
    if (w && w->dtype != g->dtype)
        return MM_EUNSUPPORTED;
    if (g->dtype == MM_F32)
        nll_bw_float(mm_tensor_data(g), t, w ? mm_tensor_data(w) : NULL,
                     mm_tensor_data(ctx->out), n, c, inner, ctx->params->i[0],
                     nt);
    else if (g->dtype == MM_F64)
        nll_bw_double(mm_tensor_data(g), t, w ? mm_tensor_data(w) : NULL,
                      mm_tensor_data(ctx->out), n, c, inner, ctx->params->i[0],
                      nt);
    else
        return MM_EUNSUPPORTED;
    return 0;
}

/* ---- cross_entropy ------------------------------------------------------ */

enum { LANES = 16 };

/* One position: xr[j * s] for j < c. Returns the log-sum-exp; *wsum and *wx
 * get sum_c w[c] and sum_c w[c] x[c] when asked (label smoothing). */
#define CE(T, EXP)                                                             \
    /* sum_c w[c], or c without weights */                                     \
    static double weight_sum_##T(const T *w, int64_t c) {                      \
        double wsum = (double)c;                                               \
        if (w) {                                                               \
            wsum = 0;                                                          \
            for (int64_t j = 0; j < c; j++)                                    \
                wsum += w[j];                                                  \
        }                                                                      \
        return wsum;                                                           \
    }                                                                          \
    static inline __attribute__((always_inline)) double lse_##T(               \
        const T *xr, int64_t c, int64_t s, const T *w, double *wsum,           \
        double *wx) {                                                          \
        /* independent lanes keep the max and the sum in registers (an     \
         * omp simd reduction spills them to the stack) */                 \
        T m[LANES];                                                            \
        for (int l = 0; l < LANES; l++)                                        \
            m[l] = -INFINITY;                                                  \
        int64_t j = 0;                                                         \
        for (; j + LANES <= c; j += LANES)                                     \
            for (int l = 0; l < LANES; l++)                                    \
                m[l] = xr[(j + l) * s] > m[l] ? xr[(j + l) * s] : m[l];        \
        T mx = -INFINITY;                                                      \
        for (int l = 0; l < LANES; l++)                                        \
            mx = m[l] > mx ? m[l] : mx;                                        \
        for (; j < c; j++)                                                     \
            mx = xr[j * s] > mx ? xr[j * s] : mx;                              \
        double acc[LANES] = {0}, sum = 0;                                      \
        T e[LANES];                                                            \
        for (j = 0; j + LANES <= c; j += LANES) {                              \
            _Pragma("omp simd")                                                \
            for (int l = 0; l < LANES; l++)                                    \
                e[l] = EXP(xr[(j + l) * s] - mx);                              \
            for (int l = 0; l < LANES; l++)                                    \
                acc[l] += e[l];                                                \
        }                                                                      \
        for (int l = 0; l < LANES; l++)                                        \
            sum += acc[l];                                                     \
        for (; j < c; j++)                                                     \
            sum += EXP(xr[j * s] - mx);                                        \
        if (wsum) {                                                            \
            double a = 0, b = 0;                                               \
            if (w) {                                                           \
                _Pragma("omp simd reduction(+ : a, b)")                        \
                for (int64_t q = 0; q < c; q++) {                              \
                    a += w[q];                                                 \
                    b += (double)w[q] * xr[q * s];                             \
                }                                                              \
            } else {                                                           \
                _Pragma("omp simd reduction(+ : b)")                           \
                for (int64_t q = 0; q < c; q++)                                \
                    b += xr[q * s];                                            \
                a = (double)c;                                                 \
            }                                                                  \
            *wsum = a, *wx = b;                                                \
        }                                                                      \
        return (double)mx + log(sum);                                          \
    }                                                                          \
    static void ce_##T(const T *x, const int64_t *t, const T *w, T *y,        \
                       int64_t n, int64_t c, int64_t inner, int64_t ign,       \
                       double ls, double *lse_out, int nt) {                   \
        int64_t m = n * inner;                                                 \
        _Pragma("omp parallel for num_threads(nt) if (m * c > MM_GRAIN)")     \
        for (int64_t j = 0; j < m; j++) {                                      \
            int64_t b = j / inner, i = j % inner, k = t[j];                    \
            if (k == ign) {                                                    \
                y[j] = 0;                                                      \
                continue;                                                      \
            }                                                                  \
            const T *xr = x + b * c * inner + i;                               \
            double wsum = 0, wx = 0;                                           \
            double *ws = ls > 0 ? &wsum : NULL;                                \
            /* a literal 1: the contiguous rows vectorise */                   \
            double lse = inner == 1 ? lse_##T(xr, c, 1, w, ws, &wx)            \
                                    : lse_##T(xr, c, inner, w, ws, &wx);       \
            if (lse_out)                                                       \
                lse_out[j] = lse;                                              \
            double wt = w ? w[k] : 1;                                          \
            double v = (1 - ls) * wt * (lse - xr[k * inner]);                  \
            if (ls > 0)                                                        \
                v += ls / (double)c * (wsum * lse - wx);                       \
            y[j] = (T)v;                                                       \
        }                                                                      \
    }                                                                          \
    static void ce_bw_##T(const T *g, const T *x, const int64_t *t,           \
                          const double *lses, const T *w, T *dx, int64_t n,    \
                          int64_t c, int64_t inner, int64_t ign, double ls,    \
                          int nt) {                                            \
        int64_t m = n * inner;                                                 \
        double wsum = weight_sum_##T(w, c);                                    \
        _Pragma("omp parallel for num_threads(nt) if (m * c > MM_GRAIN)")     \
        for (int64_t j = 0; j < m; j++) {                                      \
            int64_t b = j / inner, i = j % inner, k = t[j];                    \
            const T *xr = x + b * c * inner + i;                               \
            T *dr = dx + b * c * inner + i;                                    \
            if (k == ign) {                                                    \
                for (int64_t q = 0; q < c; q++)                                \
                    dr[q * inner] = 0;                                         \
                continue;                                                      \
            }                                                                  \
            T lse = (T)lses[j];                                                \
            double gv = g[j], wt = w ? w[k] : 1;                               \
            /* a p[q] - e w[q], then - g (1 - ls) w[t] at the target */        \
            T a = (T)(gv * ((1 - ls) * wt + ls / (double)c * wsum));           \
            T e = (T)(gv * ls / (double)c);                                    \
            if (w) {                                                           \
                _Pragma("omp simd")                                            \
                for (int64_t q = 0; q < c; q++)                                \
                    dr[q * inner] = a * EXP(xr[q * inner] - lse) - e * w[q];   \
            } else {                                                           \
                _Pragma("omp simd")                                            \
                for (int64_t q = 0; q < c; q++)                                \
                    dr[q * inner] = a * EXP(xr[q * inner] - lse) - e;          \
            }                                                                  \
            dr[k * inner] -= (T)(gv * (1 - ls) * wt);                          \
        }                                                                      \
    }
CE(float, expf)
CE(double, exp)

/* (N, C, inner > 1): blocks of BLOCK positions side by side, so the loops
 * over a block read contiguous memory and vectorise (the class dim is
 * strided by inner). */
enum { BLOCK = 64 };

#define CE_INNER(T, EXP)                                                       \
    static void ce_inner_##T(const T *x, const int64_t *t, const T *w, T *y,  \
                             int64_t n, int64_t c, int64_t inner, int64_t ign, \
                             double ls, double *lse_out, int nt) {             \
        int64_t nblk = (inner + BLOCK - 1) / BLOCK, m = n * nblk;              \
        double wsum = weight_sum_##T(w, c);                                    \
        bool par = n * inner * c > MM_GRAIN;                                   \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t q = 0; q < m; q++) {                                      \
            int64_t b = q / nblk, i0 = q % nblk * BLOCK;                       \
            int64_t nb = inner - i0 < BLOCK ? inner - i0 : BLOCK;              \
            const T *xb = x + b * c * inner + i0;                              \
            T mx[BLOCK];                                                       \
            double sum[BLOCK], wx[BLOCK];                                      \
            for (int64_t l = 0; l < nb; l++)                                   \
                mx[l] = -INFINITY, sum[l] = 0, wx[l] = 0;                      \
            for (int64_t j = 0; j < c; j++) {                                  \
                const T *xr = xb + j * inner;                                  \
                for (int64_t l = 0; l < nb; l++)                               \
                    mx[l] = xr[l] > mx[l] ? xr[l] : mx[l];                     \
            }                                                                  \
            for (int64_t j = 0; j < c; j++) {                                  \
                const T *xr = xb + j * inner;                                  \
                double wj = w ? w[j] : 1;                                      \
                _Pragma("omp simd")                                            \
                for (int64_t l = 0; l < nb; l++)                               \
                    sum[l] += EXP(xr[l] - mx[l]);                              \
                if (ls > 0)                                                    \
                    for (int64_t l = 0; l < nb; l++)                           \
                        wx[l] += wj * xr[l];                                   \
            }                                                                  \
            for (int64_t l = 0; l < nb; l++) {                                 \
                int64_t j = b * inner + i0 + l, k = t[j];                      \
                if (k == ign) {                                                \
                    y[j] = 0;                                                  \
                    continue;                                                  \
                }                                                              \
                double lse = (double)mx[l] + log(sum[l]);                      \
                double wt = w ? w[k] : 1;                                      \
                double v = (1 - ls) * wt * (lse - xb[k * inner + l]);          \
                if (ls > 0)                                                    \
                    v += ls / (double)c * (wsum * lse - wx[l]);                \
                y[j] = (T)v;                                                   \
                if (lse_out)                                                   \
                    lse_out[j] = lse;                                          \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    static void ce_bw_inner_##T(const T *g, const T *x, const int64_t *t,     \
                                const double *lses, const T *w, T *dx,         \
                                int64_t n, int64_t c, int64_t inner,           \
                                int64_t ign, double ls, int nt) {              \
        int64_t nblk = (inner + BLOCK - 1) / BLOCK, m = n * nblk;              \
        double wsum = weight_sum_##T(w, c);                                    \
        bool par = n * inner * c > MM_GRAIN;                                   \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t q = 0; q < m; q++) {                                      \
            int64_t b = q / nblk, i0 = q % nblk * BLOCK;                       \
            int64_t nb = inner - i0 < BLOCK ? inner - i0 : BLOCK;              \
            const T *xb = x + b * c * inner + i0;                              \
            T *db = dx + b * c * inner + i0;                                   \
            /* dx = a exp(x - lse) - e w[j]; an ignored position has a = e  \
             * = 0 and lse = inf, so its row is 0 */                        \
            T a[BLOCK], e[BLOCK], lse[BLOCK];                                  \
            for (int64_t l = 0; l < nb; l++) {                                 \
                int64_t j = b * inner + i0 + l, k = t[j];                      \
                double gv = g[j], wt = k == ign ? 0 : w ? w[k] : 1;            \
                bool keep = k != ign;                                          \
                a[l] = keep ? (T)(gv * ((1 - ls) * wt +                        \
                                        ls / (double)c * wsum))                \
                            : (T)0;                                            \
                e[l] = keep ? (T)(gv * ls / (double)c) : (T)0;                 \
                lse[l] = keep ? (T)lses[j] : (T)INFINITY;                      \
            }                                                                  \
            for (int64_t j = 0; j < c; j++) {                                  \
                const T *xr = xb + j * inner;                                  \
                T *dr = db + j * inner;                                        \
                T wj = w ? w[j] : (T)1;                                        \
                _Pragma("omp simd")                                            \
                for (int64_t l = 0; l < nb; l++)                               \
                    dr[l] = a[l] * EXP(xr[l] - lse[l]) - e[l] * wj;            \
            }                                                                  \
            for (int64_t l = 0; l < nb; l++) {                                 \
                int64_t j = b * inner + i0 + l, k = t[j];                      \
                if (k != ign)                                                  \
                    db[k * inner + l] -=                                       \
                        (T)(g[j] * (1 - ls) * (w ? w[k] : 1));                 \
            }                                                                  \
        }                                                                      \
    }
CE_INNER(float, expf)
CE_INNER(double, exp)

int mm_cpu_cross_entropy(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    const mm_tensor *w = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    int64_t n, c, inner;
    loss_class_dims(x, &n, &c, &inner);
    const int64_t *t = mm_tensor_data(ctx->inputs[1]);
    int nt = mm_get_num_threads();
    int64_t ign = ctx->params->i[0];
    double ls = ctx->params->f[0], *lse;
    if (x->dtype != MM_F32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    MM_TRY(mm_loss_ce_save_lse(ctx, &lse));
    if (inner > 1 && x->dtype == MM_F32)
        ce_inner_float(mm_tensor_data(x), t, w ? mm_tensor_data(w) : NULL,
                       mm_tensor_data(ctx->out), n, c, inner, ign, ls, lse,
                       nt);
    else if (inner > 1)
        ce_inner_double(mm_tensor_data(x), t, w ? mm_tensor_data(w) : NULL,
                        mm_tensor_data(ctx->out), n, c, inner, ign, ls, lse,
                        nt);
    else if (x->dtype == MM_F32)
        ce_float(mm_tensor_data(x), t, w ? mm_tensor_data(w) : NULL,
                 mm_tensor_data(ctx->out), n, c, inner, ign, ls, lse, nt);
    else
        ce_double(mm_tensor_data(x), t, w ? mm_tensor_data(w) : NULL,
                  mm_tensor_data(ctx->out), n, c, inner, ign, ls, lse, nt);
    return 0;
}

int mm_cpu_cross_entropy_backward(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1];
    const mm_tensor *w = ctx->n_inputs > 4 ? ctx->inputs[4] : NULL;
    int64_t n, c, inner;
    loss_class_dims(x, &n, &c, &inner);
    const int64_t *t = mm_tensor_data(ctx->inputs[2]);
    const double *lse = mm_tensor_data(ctx->inputs[3]);
    int nt = mm_get_num_threads();
    int64_t ign = ctx->params->i[0];
    double ls = ctx->params->f[0];
    if (inner > 1 && x->dtype == MM_F32)
        ce_bw_inner_float(mm_tensor_data(g), mm_tensor_data(x), t, lse,
                          w ? mm_tensor_data(w) : NULL,
                          mm_tensor_data(ctx->out), n, c, inner, ign, ls, nt);
    else if (inner > 1 && x->dtype == MM_F64)
        ce_bw_inner_double(mm_tensor_data(g), mm_tensor_data(x), t, lse,
                           w ? mm_tensor_data(w) : NULL,
                           mm_tensor_data(ctx->out), n, c, inner, ign, ls,
                           nt);
    else if (x->dtype == MM_F32)
        ce_bw_float(mm_tensor_data(g), mm_tensor_data(x), t, lse,
                    w ? mm_tensor_data(w) : NULL, mm_tensor_data(ctx->out), n,
                    c, inner, ign, ls, nt);
    else if (x->dtype == MM_F64)
        ce_bw_double(mm_tensor_data(g), mm_tensor_data(x), t, lse,
                     w ? mm_tensor_data(w) : NULL, mm_tensor_data(ctx->out), n,
                     c, inner, ign, ls, nt);
    else
        return MM_EUNSUPPORTED;
    return 0;
}
