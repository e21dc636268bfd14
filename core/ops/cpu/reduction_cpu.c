/* Optimised CPU kernels of the reduction family (f32, f64): blocks of
 * outputs (or lines along a dim) run in parallel, reading their groups as
 * typed rows when the reduced dims merge into one contiguous run, and
 * across the block otherwise. The per-group maths
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

/* Groups are read in blocks of consecutive outputs: element r of every
 * group in the block, then r + 1, ... so that when the kept dims are the
 * contiguous ones (a reduction over the batch dim) the reads run along
 * memory instead of striding. A block holds at most BLOCK_ELEMS values
 * (one group when a group is larger). */
enum { BLOCK = 32, BLOCK_ELEMS = 1 << 16 };

static int64_t block_size(int64_t count) {
    int64_t nb = BLOCK_ELEMS / (count ? count : 1);
    return nb < 1 ? 1 : nb > BLOCK ? BLOCK : nb;
}

/* Read the groups at element offsets kofs[0..nb-1] into buf (group b at
 * buf + b * count). */
static void read_block(const void *x, bool f32, const int64_t *kofs,
                       int64_t nb, const mm_dimset *R, int64_t count,
                       double *buf) {
    if (R->n == 1 && R->stride[0] == 1) {
        for (int64_t b = 0; b < nb; b++) {
            double *g = buf + b * count;
            if (f32) {
                const float *p = (const float *)x + kofs[b];
#pragma omp simd
                for (int64_t i = 0; i < count; i++)
                    g[i] = p[i];
            } else {
                memcpy(g, (const double *)x + kofs[b],
                       (size_t)count * sizeof *g);
            }
        }
        return;
    }
    for (int64_t r = 0; r < count; r++) {
        int64_t ro = mm_dimset_offset(R, r);
        for (int64_t b = 0; b < nb; b++)
            buf[b * count + r] = ld(x, f32, kofs[b] + ro);
    }
}

/* What to do with each block of groups. */
typedef struct blk_job {
    const void *x;
    bool f32;
    const mm_dimset *K, *R;
    int64_t n_out, count;
    int code;
    double f;
    void *out;             /* one value per group (dimred, arg) */
    const void *y, *g;     /* backward: one value per group */
    int kind;              /* 0 dimred, 1 dimred backward, 2 argmax, 3 argmin */
} blk_job;

static void run_block(const blk_job *j, int64_t o0, int64_t nb,
                      const int64_t *kofs, double *buf, double *gx) {
    int64_t count = j->count;
    read_block(j->x, j->f32, kofs, nb, j->R, count, buf);
    for (int64_t b = 0; b < nb; b++) {
        const double *v = buf + b * count;
        int64_t o = o0 + b;
        if (j->kind == 0) {
            st(j->out, j->f32, o, mm_dr_eval(j->code, v, count, j->f));
        } else if (j->kind == 1) {
            mm_dr_grad(j->code, v, count, j->f, ld(j->y, j->f32, o),
                       ld(j->g, j->f32, o), gx + b * count);
        } else { /* first of ties; a NaN wins and stays */
            bool is_max = j->kind == 2;
            int64_t best = 0;
            double bv = v[0];
            for (int64_t k = 1; k < count && bv == bv; k++)
                if (v[k] != v[k] || (is_max ? v[k] > bv : v[k] < bv)) {
                    bv = v[k];
                    best = k;
                }
            ((int64_t *)j->out)[o] = best;
        }
    }
    if (j->kind == 1)
        for (int64_t r = 0; r < count; r++) {
            int64_t ro = mm_dimset_offset(j->R, r);
            for (int64_t b = 0; b < nb; b++)
                st(j->out, j->f32, kofs[b] + ro, gx[b * count + r]);
        }
}

/* Blocks in parallel; each output is computed by one thread in one fixed
 * order, so the result does not depend on the thread count. */
static int run_blocks(const blk_job *j, const char *name) {
    int64_t nb = block_size(j->count);
    int64_t n_blocks = (j->n_out + nb - 1) / nb;
    size_t per = (size_t)(nb * j->count) * (j->kind == 1 ? 2 : 1);
    bool failed = false,
         par = n_blocks > 1 && j->n_out * j->count > MM_GRAIN;
#pragma omp parallel num_threads(mm_get_num_threads()) if (par)
    {
        double *buf = malloc(per * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            failed = true;
        }
#pragma omp for schedule(static)
        for (int64_t blk = 0; blk < n_blocks; blk++) {
            if (!buf)
                continue;
            int64_t o0 = blk * nb, n = o0 + nb < j->n_out ? nb : j->n_out - o0;
            int64_t kofs[BLOCK];
            for (int64_t b = 0; b < n; b++)
                kofs[b] = mm_dimset_offset(j->K, o0 + b);
            run_block(j, o0, n, kofs, buf, buf + nb * j->count);
        }
        free(buf);
    }
    if (failed)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", name);
    return 0;
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
    blk_job j = {.x = mm_tensor_data(x), .f32 = x->dtype == MM_F32, .K = &K,
                 .R = &R, .n_out = n_out, .count = count,
                 .code = ctx->op->code, .f = ctx->params->f[0],
                 .out = mm_tensor_data(out), .kind = 0};
    return run_blocks(&j, ctx->op->name);
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
    blk_job j = {.x = mm_tensor_data(x), .f32 = x->dtype == MM_F32, .K = &K,
                 .R = &R, .n_out = n_out, .count = count,
                 .code = (int)ctx->params->i[2], .f = ctx->params->f[0],
                 .out = mm_tensor_data(out), .y = mm_tensor_data(y),
                 .g = mm_tensor_data(g), .kind = 1};
    return run_blocks(&j, ctx->op->name);
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

/* Lines along dim of a contiguous tensor are groups of the blocked
 * reader: kept dims (outer, inner), reduced dim n with stride inner. */
int mm_cpu_arg(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    if (!is_f(x->dtype) || x->numel == 0)
        return MM_EUNSUPPORTED;
    int64_t outer, n, inner;
    lines(x, (int)ctx->params->i[0], &outer, &n, &inner);
    mm_dimset K = {2, {outer, inner}, {n * inner, 1}},
              R = {1, {n}, {inner}};
    blk_job j = {.x = mm_tensor_data(x), .f32 = x->dtype == MM_F32, .K = &K,
                 .R = &R, .n_out = outer * inner, .count = n,
                 .out = mm_tensor_data(ctx->out),
                 .kind = ctx->op->code == 0 ? 2 : 3};
    return run_blocks(&j, ctx->op->name);
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
            if (inner == 1) { /* one contiguous line */
                double a = 0;
                int64_t b = o * n;
                for (int64_t k = 0; k < n; k++) {
                    a += ld(xd, f32, b + k);
                    st(yd, f32, b + k, a);
                }
                continue;
            }
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
