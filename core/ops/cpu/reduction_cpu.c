/* Optimised CPU kernels of the reduction family (f32, f64): outputs (or
 * lines along a dim) run in parallel, each reading its group as a typed row
 * when the reduced dims merge into one contiguous run. The per-group maths
 * is reduction_impl.h's, shared with the reference kernels; each output is
 * computed in one fixed order, so results do not depend on the thread
 * count. Other dtypes go to the reference kernels. */
#include "../reduction_impl.h"
#include "mm/threads.h"

#include <stdlib.h>
#include <string.h>

static bool is_f(mm_dtype dt) { return dt == MM_F32 || dt == MM_F64; }

static inline double ld(const void *base, bool f32, int64_t i) {
    return f32 ? ((const float *)base)[i] : ((const double *)base)[i];
}

static inline void st(void *base, bool f32, int64_t i, double v) {
    if (f32)
        ((float *)base)[i] = (float)v;
    else
        ((double *)base)[i] = v;
}

/* Read the group at `base` (elements) into buf. */
static void read_group(const void *x, bool f32, int64_t base,
                       const mm_dimset *R, int64_t count, double *buf) {
    if (R->n == 1 && R->stride[0] == 1) {
        if (f32) {
            const float *p = (const float *)x + base;
#pragma omp simd
            for (int64_t i = 0; i < count; i++)
                buf[i] = p[i];
        } else {
            memcpy(buf, (const double *)x + base, (size_t)count * sizeof *buf);
        }
        return;
    }
    for (int64_t i = 0; i < count; i++)
        buf[i] = ld(x, f32, base + mm_dimset_offset(R, i));
}

int mm_cpu_dimred(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    if (!is_f(x->dtype) || out->dtype != x->dtype)
        return MM_EUNSUPPORTED;
    int64_t mask = x->ndim ? ctx->params->i[0] : 0;
    mm_dimset K, R;
    mm_dimset_pick(x, mask, false, &K);
    mm_dimset_pick(x, mask, true, &R);
    int64_t count = mm_dimset_numel(&R), n_out = out->numel;
    if (count == 0 || n_out == 0)
        return MM_EUNSUPPORTED;
    bool f32 = x->dtype == MM_F32, failed = false;
    int code = ctx->op->code;
    double f = ctx->params->f[0];
    const void *xd = mm_tensor_data(x);
    void *od = mm_tensor_data(out);
    bool par = n_out > 1 && n_out * count > MM_GRAIN;
#pragma omp parallel num_threads(mm_get_num_threads()) if (par)
    {
        double *buf = malloc((size_t)count * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for
        for (int64_t o = 0; o < n_out; o++) {
            if (!buf)
                continue;
            read_group(xd, f32, mm_dimset_offset(&K, o), &R, count, buf);
            st(od, f32, o, mm_dr_eval(code, buf, count, f));
        }
        free(buf);
    }
    if (failed)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", ctx->op->name);
    return 0;
}

/* Inputs contiguous: x and the output share their offsets. */
int mm_cpu_dimred_backward(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *y = ctx->inputs[1],
                    *g = ctx->inputs[2];
    mm_tensor *out = ctx->out;
    if (!is_f(x->dtype) || y->dtype != x->dtype || g->dtype != x->dtype)
        return MM_EUNSUPPORTED;
    int64_t mask = x->ndim ? ctx->params->i[0] : 0;
    mm_tensor xc = mm_tensor_window(x);
    xc.offset = 0; /* offsets relative to the data pointers */
    mm_dimset K, R;
    mm_dimset_pick(&xc, mask, false, &K);
    mm_dimset_pick(&xc, mask, true, &R);
    int64_t count = mm_dimset_numel(&R), n_out = y->numel;
    if (count == 0 || n_out == 0)
        return MM_EUNSUPPORTED;
    bool f32 = x->dtype == MM_F32, failed = false;
    int code = (int)ctx->params->i[2];
    double f = ctx->params->f[0];
    const void *xd = mm_tensor_data(x), *yd = mm_tensor_data(y),
               *gd = mm_tensor_data(g);
    void *od = mm_tensor_data(out);
    bool par = n_out > 1 && n_out * count > MM_GRAIN;
#pragma omp parallel num_threads(mm_get_num_threads()) if (par)
    {
        double *buf = malloc((size_t)count * 2 * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for
        for (int64_t o = 0; o < n_out; o++) {
            if (!buf)
                continue;
            int64_t base = mm_dimset_offset(&K, o);
            read_group(xd, f32, base, &R, count, buf);
            mm_dr_grad(code, buf, count, f, ld(yd, f32, o), ld(gd, f32, o),
                       buf + count);
            for (int64_t i = 0; i < count; i++)
                st(od, f32, base + mm_dimset_offset(&R, i), buf[count + i]);
        }
        free(buf);
    }
    if (failed)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", ctx->op->name);
    return 0;
}

static void lines(const mm_tensor *x, int dim, int64_t *outer, int64_t *n,
                  int64_t *inner) {
    int64_t o = 1, in = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < dim)
            o *= x->shape[d];
        else if (d > dim)
            in *= x->shape[d];
    }
    *outer = o;
    *n = x->ndim ? x->shape[dim] : 1;
    *inner = in;
}

#define ARG_LOOP(T)                                                            \
    do {                                                                       \
        const T *px = (const T *)mm_tensor_data(x);                            \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t o = 0; o < n_lines; o++) {                                \
            const T *p = px + (o / inner) * n * inner + o % inner;             \
            int64_t best = 0;                                                  \
            T bv = p[0];                                                       \
            for (int64_t k = 1; k < n && bv == bv; k++) {                      \
                T v = p[k * inner];                                            \
                if (v != v || (is_max ? v > bv : v < bv)) {                    \
                    bv = v;                                                    \
                    best = k;                                                  \
                }                                                              \
            }                                                                  \
            out[o] = best;                                                     \
        }                                                                      \
    } while (0)

int mm_cpu_arg(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    if (!is_f(x->dtype))
        return MM_EUNSUPPORTED;
    int64_t outer, n, inner;
    lines(x, (int)ctx->params->i[0], &outer, &n, &inner);
    int64_t n_lines = outer * inner, *out = mm_tensor_data(ctx->out);
    bool is_max = ctx->op->code == 0, par = x->numel > MM_GRAIN;
    int nt = mm_get_num_threads();
    if (x->dtype == MM_F32)
        ARG_LOOP(float);
    else
        ARG_LOOP(double);
    return 0;
}

/* Accumulates in double, as torch's CPU cumsum does; rows of `inner`
 * elements add up vectorised, the outer blocks in parallel. */
int mm_cpu_cumsum(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *y = ctx->out;
    if (!is_f(x->dtype) || x->numel == 0)
        return MM_EUNSUPPORTED;
    int64_t outer, n, inner;
    lines(x, (int)ctx->params->i[0], &outer, &n, &inner);
    bool f32 = x->dtype == MM_F32, failed = false;
    const void *xd = mm_tensor_data(x);
    void *yd = mm_tensor_data(y);
    bool par = outer > 1 && x->numel > MM_GRAIN;
#pragma omp parallel num_threads(mm_get_num_threads()) if (par)
    {
        double *acc = malloc((size_t)inner * sizeof *acc);
        if (!acc) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for
        for (int64_t o = 0; o < outer; o++) {
            if (!acc)
                continue;
            for (int64_t j = 0; j < inner; j++)
                acc[j] = 0;
            for (int64_t k = 0; k < n; k++) {
                int64_t b = (o * n + k) * inner;
                if (f32) {
                    const float *px = (const float *)xd + b;
                    float *py = (float *)yd + b;
#pragma omp simd
                    for (int64_t j = 0; j < inner; j++) {
                        acc[j] += px[j];
                        py[j] = (float)acc[j];
                    }
                } else {
                    const double *px = (const double *)xd + b;
                    double *py = (double *)yd + b;
#pragma omp simd
                    for (int64_t j = 0; j < inner; j++) {
                        acc[j] += px[j];
                        py[j] = acc[j];
                    }
                }
            }
        }
        free(acc);
    }
    if (failed)
        return mm_error_set(MM_ENOMEM, "cumsum: out of memory");
    return 0;
}

typedef struct sort_item {
    double v;
    int64_t i;
} sort_item;

/* Ties keep the original order: the index breaks them, so qsort is stable. */
static int cmp_asc(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    int c = mm_sort_cmp(x->v, y->v, false);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

static int cmp_desc(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    int c = mm_sort_cmp(x->v, y->v, true);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

int mm_cpu_sort(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    if (!is_f(x->dtype) || x->numel == 0)
        return MM_EUNSUPPORTED;
    int64_t outer, n, inner;
    lines(x, (int)ctx->params->i[0], &outer, &n, &inner);
    int64_t n_lines = outer * inner, *out = mm_tensor_data(ctx->out);
    bool f32 = x->dtype == MM_F32, failed = false;
    bool desc = ctx->params->i[1] != 0;
    const void *xd = mm_tensor_data(x);
    bool par = n_lines > 1 && x->numel > MM_GRAIN / 8;
#pragma omp parallel num_threads(mm_get_num_threads()) if (par)
    {
        sort_item *it = malloc((size_t)n * sizeof *it);
        if (!it) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for
        for (int64_t o = 0; o < n_lines; o++) {
            if (!it)
                continue;
            int64_t base = (o / inner) * n * inner + o % inner;
            for (int64_t k = 0; k < n; k++) {
                it[k].v = ld(xd, f32, base + k * inner);
                it[k].i = k;
            }
            qsort(it, (size_t)n, sizeof *it, desc ? cmp_desc : cmp_asc);
            for (int64_t k = 0; k < n; k++)
                out[base + k * inner] = it[k].i;
        }
        free(it);
    }
    if (failed)
        return mm_error_set(MM_ENOMEM, "sort: out of memory");
    return 0;
}
