/* Optimised CPU softmax / log_softmax (f32, f64; contiguous input).
 *
 * f32 softmax over the last dim runs oneDNN's softmax primitive (vectorised
 * exp; primitives cached by shape and thread count). Not the others:
 * oneDNN's logsoftmax is off by ~1e-6 absolute (log_softmax of one element
 * is not 0) and its softmax over an inner axis of a plain layout is ~30x
 * slower than the loops below, which run everything else.
 *
 * Rows along the last dim (inner == 1) run one row per iteration, outputs in
 * parallel; a softmax over an inner dim (NCHW over C) runs blocks of `inner`
 * positions side by side so the loops over them vectorise. The exponent and
 * the sum run in the input's precision for f64 and accumulate in double for
 * f32. */
#include "dnnl_util.h"
#include "mm/threads.h"
#include "norm_internal.h"

#include <string.h>

#include <math.h>

/* Let the simd loops call glibc's vector exp (libmvec, which -lm pulls in
 * on x86-64 glibc); math.h declares it only under -ffast-math. Accuracy
 * stays within a few ulp. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&        \
    defined(__GLIBC__) && defined(_OPENMP)
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double exp(double);
#endif

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

typedef struct softmax_key {
    char op[12]; /* "softmax" */
    int log;
    int nthreads;
    int64_t dims[3];
} softmax_key;

static int softmax_md(const softmax_key *k, dnnl_memory_desc_t *md) {
    dnnl_dims_t dims = {k->dims[0], k->dims[1], k->dims[2]};
    MM_CHECK_DNNL(dnnl_memory_desc_init_by_tag(md, 3, dims, dnnl_f32, dnnl_abc),
                  "memory desc");
    return 0;
}

static int make_softmax(void *vctx, dnnl_primitive_t *out) {
    const softmax_key *k = vctx;
    dnnl_memory_desc_t md;
    MM_TRY(softmax_md(k, &md));
    dnnl_engine_t eng = NULL;
    MM_TRY(mm_dnnl_engine(&eng));
    dnnl_primitive_desc_t pd;
    if (k->log) {
        dnnl_logsoftmax_desc_t desc;
        MM_CHECK_DNNL(dnnl_logsoftmax_forward_desc_init(
                          &desc, dnnl_forward_inference, &md, 1),
                      "logsoftmax desc");
        MM_CHECK_DNNL(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL),
                      "logsoftmax");
    } else {
        dnnl_softmax_desc_t desc;
        MM_CHECK_DNNL(dnnl_softmax_forward_desc_init(
                          &desc, dnnl_forward_inference, &md, 1),
                      "softmax desc");
        MM_CHECK_DNNL(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL),
                      "softmax");
    }
    return mm_dnnl_primitive_take(pd, out, "softmax primitive");
}

static int softmax_dnnl(const mm_tensor *x, mm_tensor *y, int64_t outer,
                        int64_t n, int64_t inner, bool lg) {
    softmax_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.op, "softmax", 8);
    key.log = lg;
    key.nthreads = mm_dnnl_threads();
    key.dims[0] = outer, key.dims[1] = n, key.dims[2] = inner;
    mm_dnnl_entry *e;
    MM_TRY(mm_dnnl_acquire(&key, sizeof key, make_softmax, &key, &e));
    dnnl_memory_desc_t md;
    int rc = softmax_md(&key, &md);
    if (rc == 0) {
        mm_dnnl_arg args[2] = {{DNNL_ARG_SRC, &md, mm_tensor_data(x)},
                               {DNNL_ARG_DST, &md, mm_tensor_data(y)}};
        rc = mm_dnnl_run(mm_dnnl_entry_primitive(e), 2, args);
    }
    mm_dnnl_release(e);
    return rc;
}

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
    if (x->dtype == MM_F32 && inner == 1 && !lg && n > 1) {
        int rc = softmax_dnnl(x, y, outer, n, inner, lg);
        if (rc != MM_EUNSUPPORTED)
            return rc;
        mm_error_clear();
    }
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
