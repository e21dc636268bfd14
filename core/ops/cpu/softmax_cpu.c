/* Optimised CPU softmax / log_softmax (f32, f64; contiguous input).
 *
 * Rows along the last dim (inner == 1) run one row per iteration, outputs in
 * parallel; a softmax over an inner dim (NCHW over C) runs blocks of `inner`
 * positions side by side so the loops over them vectorise. The exponent and
 * the sum run in the input's precision for f64 and accumulate in double for
 * f32. */
#include "mm/threads.h"
#include "norm_internal.h"

#include <math.h>

enum { LANES = 64 };

#define SOFTMAX_ROWS(T, EXP, LOG)                                              \
    static void rows_##T(const T *x, T *y, int64_t rows, int64_t n, bool lg,  \
                         int nt) {                                             \
        bool par = rows * n > MM_GRAIN;                                        \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t r = 0; r < rows; r++) {                                   \
            const T *xr = x + r * n;                                           \
            T *yr = y + r * n;                                                 \
            T mx = -INFINITY;                                                  \
            for (int64_t k = 0; k < n; k++)                                    \
                mx = xr[k] > mx ? xr[k] : mx;                                  \
            double sum = 0;                                                    \
            if (lg) {                                                          \
                _Pragma("omp simd reduction(+ : sum)")                         \
                for (int64_t k = 0; k < n; k++)                                \
                    sum += EXP(xr[k] - mx);                                    \
                T ls = (T)log(sum);                                            \
                _Pragma("omp simd")                                            \
                for (int64_t k = 0; k < n; k++)                                \
                    yr[k] = xr[k] - mx - ls;                                   \
            } else {                                                           \
                _Pragma("omp simd reduction(+ : sum)")                         \
                for (int64_t k = 0; k < n; k++) {                              \
                    T e = EXP(xr[k] - mx);                                     \
                    yr[k] = e;                                                 \
                    sum += e;                                                  \
                }                                                              \
                T inv = (T)(1 / sum);                                          \
                _Pragma("omp simd")                                            \
                for (int64_t k = 0; k < n; k++)                                \
                    yr[k] *= inv;                                              \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    static void inner_##T(const T *x, T *y, int64_t outer, int64_t n,         \
                          int64_t inner, bool lg, int nt) {                    \
        int64_t nb = (inner + LANES - 1) / LANES;                              \
        bool par = outer * n * inner > MM_GRAIN;                               \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t job = 0; job < outer * nb; job++) {                       \
            int64_t o = job / nb, b = (job % nb) * LANES;                      \
            int64_t w = inner - b < LANES ? inner - b : LANES;                 \
            const T *xo = x + o * n * inner + b;                               \
            T *yo = y + o * n * inner + b;                                     \
            T mx[LANES];                                                       \
            double sum[LANES];                                                 \
            for (int64_t l = 0; l < w; l++)                                    \
                mx[l] = -INFINITY, sum[l] = 0;                                 \
            for (int64_t k = 0; k < n; k++)                                    \
                for (int64_t l = 0; l < w; l++)                                \
                    mx[l] = xo[k * inner + l] > mx[l] ? xo[k * inner + l]      \
                                                      : mx[l];                 \
            for (int64_t k = 0; k < n; k++) {                                  \
                _Pragma("omp simd")                                            \
                for (int64_t l = 0; l < w; l++) {                              \
                    T e = EXP(xo[k * inner + l] - mx[l]);                      \
                    if (!lg)                                                   \
                        yo[k * inner + l] = e;                                 \
                    sum[l] += e;                                               \
                }                                                              \
            }                                                                  \
            for (int64_t l = 0; l < w; l++)                                    \
                sum[l] = lg ? log(sum[l]) : 1 / sum[l];                        \
            for (int64_t k = 0; k < n; k++) {                                  \
                _Pragma("omp simd")                                            \
                for (int64_t l = 0; l < w; l++) {                              \
                    if (lg)                                                    \
                        yo[k * inner + l] =                                    \
                            xo[k * inner + l] - mx[l] - (T)sum[l];             \
                    else                                                       \
                        yo[k * inner + l] *= (T)sum[l];                        \
                }                                                              \
            }                                                                  \
        }                                                                      \
    }

SOFTMAX_ROWS(float, expf, logf)
SOFTMAX_ROWS(double, exp, log)

int mm_cpu_softmax(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *y = ctx->out;
    if (x->dtype != MM_F32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    if (y->numel == 0)
        return 0;
    int64_t outer, n, inner;
    mm_softmax_dims(x, (int)ctx->params->i[0], &outer, &n, &inner);
    bool lg = ctx->op->code == 1;
    int nt = mm_get_num_threads();
    if (x->dtype == MM_F32) {
        if (inner == 1)
            rows_float(mm_tensor_data(x), mm_tensor_data(y), outer, n, lg, nt);
        else
            inner_float(mm_tensor_data(x), mm_tensor_data(y), outer, n, inner,
                        lg, nt);
    } else {
        if (inner == 1)
            rows_double(mm_tensor_data(x), mm_tensor_data(y), outer, n, lg,
                        nt);
        else
            inner_double(mm_tensor_data(x), mm_tensor_data(y), outer, n, inner,
                         lg, nt);
    }
    return 0;
}
