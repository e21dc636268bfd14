/* Optimised CPU sum/mean (f32, f64, bf16, f16), accumulating in double;
 * bf16/f16 convert to f32 on load (half_cpu.h), and their contiguous runs
 * (the inner layouts) sum in f32 vector lanes, as PyTorch sums them in
 * float, each run's f32 partial then joining the double total.
 *
 * The reduced and kept dims are each merged into as few dims as the strides
 * allow; then four layouts:
 *   inner   the reduced elements of one output are contiguous: a vectorised
 *           dot with 1 per output, outputs in parallel; a full reduction
 *           splits into fixed 16 Ki-element chunks whose partial sums add up
 *           in order, so the result does not depend on the thread count;
 *   outer   the kept dims are contiguous and reduced ones outside them (sum
 *           over the batch): rows of outputs accumulate, blocks in parallel;
 *   runs    the innermost reduced dim is contiguous: a vectorised dot per
 *           run, outputs in parallel;
 *   strided anything else, one output at a time. */
#include "mm/threads.h"
#include "half_cpu.h"

#include <stdlib.h>

typedef struct dims {
    int n;
    int64_t shape[MM_MAX_DIMS], stride[MM_MAX_DIMS];
} dims;

/* Dims of x selected by `want` (mask bit set == want), merged where the
 * strides allow, outer to inner. */
static void pick_dims(const mm_tensor *x, int64_t mask, bool want, dims *out) {
    out->n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (((mask >> d & 1) != 0) != want || x->shape[d] == 1)
            continue;
        if (out->n > 0 &&
            out->stride[out->n - 1] == x->stride[d] * x->shape[d]) {
            out->shape[out->n - 1] *= x->shape[d];
            out->stride[out->n - 1] = x->stride[d];
            continue;
        }
        out->shape[out->n] = x->shape[d];
        out->stride[out->n] = x->stride[d];
        out->n++;
    }
}

static inline int64_t offset_of(const dims *ds, int64_t i) {
    int64_t off = 0;
    for (int d = ds->n - 1; d >= 0; d--) {
        off += (i % ds->shape[d]) * ds->stride[d];
        i /= ds->shape[d];
    }
    return off;
}

enum { CHUNK = 1 << 14, BLOCK = 256 };

/* The vectorised pieces, one per dtype. */
static double dot1_f32(const float *p, int64_t n) {
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++)
        acc += p[i];
    return acc;
}

static double dot1_f64(const double *p, int64_t n) {
    double acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++)
        acc += p[i];
    return acc;
}

static void add_row_f32(double *acc, const float *row, int64_t n) {
#pragma omp simd
    for (int64_t k = 0; k < n; k++)
        acc[k] += row[k];
}

static void add_row_f64(double *acc, const double *row, int64_t n) {
#pragma omp simd
    for (int64_t k = 0; k < n; k++)
        acc[k] += row[k];
}

/* The half pieces: the f32 sum of a contiguous run, a row added into acc. */
#define HALF_PIECES(SUFFIX, CVT)                                               \
    static double dot1_##SUFFIX(const uint16_t *p, int64_t n) {                \
        float acc = 0;                                                         \
        _Pragma("omp simd reduction(+ : acc)")                                 \
        for (int64_t i = 0; i < n; i++)                                        \
            acc += CVT(p[i]);                                                  \
        return acc;                                                            \
    }                                                                          \
    static void add_row_##SUFFIX(double *acc, const uint16_t *row,             \
                                 int64_t n) {                                  \
        _Pragma("omp simd")                                                    \
        for (int64_t k = 0; k < n; k++)                                        \
            acc[k] += CVT(row[k]);                                             \
    }
HALF_PIECES(bf16, mm_h_bf16_to_f32)
HALF_PIECES(f16, mm_h_f16_to_f32)

typedef struct red {
    const char *x; /* first element */
    char *out;
    bool f32;
    mm_dtype dt;
    const dims *K, *R;
    int64_t n_out, count;
    double scale;
} red;

/* Sum of n contiguous elements starting `off` elements into x. */
static double dot1(const red *r, int64_t off, int64_t n) {
    const uint16_t *h = (const uint16_t *)r->x + off;
    if (r->dt == MM_BF16)
        return dot1_bf16(h, n);
    if (r->dt == MM_F16)
        return dot1_f16(h, n);
    return r->f32 ? dot1_f32((const float *)r->x + off, n)
                  : dot1_f64((const double *)r->x + off, n);
}

static double load(const red *r, int64_t off) {
    if (mm_is_half(r->dt)) {
        uint16_t v = ((const uint16_t *)r->x)[off];
        return r->dt == MM_BF16 ? mm_h_bf16_to_f32(v) : mm_h_f16_to_f32(v);
    }
    return r->f32 ? ((const float *)r->x)[off] : ((const double *)r->x)[off];
}

static void store(const red *r, int64_t i, double v) {
    if (r->dt == MM_BF16)
        ((uint16_t *)r->out)[i] = mm_h_f32_to_bf16((float)(v * r->scale));
    else if (r->dt == MM_F16)
        ((uint16_t *)r->out)[i] = mm_h_f32_to_f16((float)(v * r->scale));
    else if (r->f32)
        ((float *)r->out)[i] = (float)(v * r->scale);
    else
        ((double *)r->out)[i] = v * r->scale;
}

static int reduce(const red *r, int nt) {
    const dims *K = r->K, *R = r->R;
    int64_t n_out = r->n_out, count = r->count;
    bool par = n_out * count > MM_GRAIN;
    if (R->n == 1 && R->stride[0] == 1 && n_out == 1) { /* inner, full */
        int64_t nc = (count + CHUNK - 1) / CHUNK;
        double *part = malloc((size_t)nc * sizeof *part);
        if (!part)
            return mm_error_set(MM_ENOMEM, "sum: out of memory");
        bool many = nc > 1;
#pragma omp parallel for num_threads(nt) if (many)
        for (int64_t c = 0; c < nc; c++) {
            int64_t b = c * CHUNK, e = b + CHUNK < count ? b + CHUNK : count;
            part[c] = dot1(r, b, e - b);
        }
        double acc = 0;
        for (int64_t c = 0; c < nc; c++)
            acc += part[c];
        free(part);
        store(r, 0, acc);
    } else if (R->n == 1 && R->stride[0] == 1) { /* inner */
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t o = 0; o < n_out; o++)
            store(r, o, dot1(r, offset_of(K, o), count));
    } else if (K->n == 1 && K->stride[0] == 1) { /* outer */
        int64_t nb = (n_out + BLOCK - 1) / BLOCK;
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t blk = 0; blk < nb; blk++) {
            double acc[BLOCK] = {0};
            int64_t b = blk * BLOCK,
                    len = b + BLOCK < n_out ? BLOCK : n_out - b;
            for (int64_t i = 0; i < count; i++) {
                int64_t off = offset_of(R, i) + b;
                if (r->dt == MM_BF16)
                    add_row_bf16(acc, (const uint16_t *)r->x + off, len);
                else if (r->dt == MM_F16)
                    add_row_f16(acc, (const uint16_t *)r->x + off, len);
                else if (r->f32)
                    add_row_f32(acc, (const float *)r->x + off, len);
                else
                    add_row_f64(acc, (const double *)r->x + off, len);
            }
            for (int64_t k = 0; k < len; k++)
                store(r, b + k, acc[k]);
        }
    } else if (R->stride[R->n - 1] == 1 && R->shape[R->n - 1] >= 8) {
        /* runs: the innermost reduced dim is contiguous (sum over N, H, W
         * of [N, C, H, W], a conv bias gradient): a vectorised dot per run */
        dims outer = *R;
        outer.n--;
        int64_t run = R->shape[R->n - 1], n_runs = count / run;
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t o = 0; o < n_out; o++) {
            int64_t base = offset_of(K, o);
            double acc = 0;
            for (int64_t j = 0; j < n_runs; j++)
                acc += dot1(r, base + offset_of(&outer, j), run);
            store(r, o, acc);
        }
    } else { /* strided */
#pragma omp parallel for num_threads(nt) if (par)
        for (int64_t o = 0; o < n_out; o++) {
            int64_t base = offset_of(K, o);
            double acc = 0;
            for (int64_t i = 0; i < count; i++)
                acc += load(r, base + offset_of(R, i));
            store(r, o, acc);
        }
    }
    return 0;
}

int mm_cpu_reduce(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    if (x->dtype != out->dtype ||
        (x->dtype != MM_F32 && x->dtype != MM_F64 && !mm_is_half(x->dtype)))
        return MM_EUNSUPPORTED;
    int64_t mask = x->ndim ? ctx->params->i[0] : 0;
    dims K, R;
    pick_dims(x, mask, false, &K);
    pick_dims(x, mask, true, &R);
    int64_t count = 1;
    for (int d = 0; d < R.n; d++)
        count *= R.shape[d];
    if (R.n == 0) { /* nothing to reduce over (or size-1 dims): count is 1 */
        R.n = 1;
        R.shape[0] = 1;
        R.stride[0] = 1;
    }
    if (count == 0 ||
        out->numel == 0) /* empty: leave it to the reference (0 or NaN) */
        return MM_EUNSUPPORTED;
    red r = {
        .x = mm_tensor_data(x),
        .out = mm_tensor_data(out),
        .f32 = x->dtype == MM_F32,
        .dt = x->dtype,
        .K = &K,
        .R = &R,
        .n_out = out->numel,
        .count = count,
        .scale = ctx->op->code == MM_RED_MEAN ? 1.0 / (double)count : 1.0,
    };
    return reduce(&r, mm_get_num_threads());
}
