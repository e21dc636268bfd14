/* Optimised CPU kernels of the indexing family. Gathers (gather,
 * index_select, embedding) copy element bytes, so they serve every dtype,
 * rows of the output in parallel. Scatters (scatter, scatter_add,
 * index_add, embedding's backward) run lines along the indexed dim in
 * parallel: two lines never write the same element, and within a line the
 * indices are taken in order, so duplicates resolve as in the reference
 * (the last write wins, additions in index order) for any thread count. */
#include "../index_impl.h"
#include "mm/threads.h"

#include <string.h>

static int bounds_error(const char *op, int64_t idx, int dim, int64_t size) {
    return mm_error_set(MM_EINVAL,
                        "%s: index %lld is out of bounds for dimension %d with "
                        "size %lld",
                        op, (long long)idx, dim, (long long)size);
}

/* One bad index found by a parallel loop: the first in index order wins the
 * report, whatever the thread count. */
typedef struct bad_index {
    int64_t pos, value;
} bad_index;

static void note_bad(bad_index *b, int64_t pos, int64_t value) {
#pragma omp critical(mm_index_bad)
    if (b->pos < 0 || pos < b->pos) {
        b->pos = pos;
        b->value = value;
    }
}

static inline int64_t load_index(const mm_tensor *index, const int64_t *c,
                                 int64_t flat) {
    const char *base = (const char *)index->storage->data;
    size_t es = mm_dtype_size(index->dtype);
    int64_t off = c ? mm_offset_at(index, c)
                    : index->offset + flat * (index->ndim ? index->stride[0] : 0);
    return index->dtype == MM_I64 ? *(const int64_t *)(base + off * (int64_t)es)
                                  : *(const int32_t *)(base + off * (int64_t)es);
}

/* gather and index_select: out at c is x at c with c[dim] replaced by the
 * index, read at c (gather) or at c[dim] of a 1-D index (select). A bad
 * index is reported at its position in the index. */
static int take(mm_op_ctx *ctx, bool select, const char *name) {
    const mm_tensor *x = ctx->inputs[0], *index = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    if (out->numel == 0 || x->ndim == 0)
        return MM_EUNSUPPORTED;
    int dim = (int)ctx->params->i[0], nd = out->ndim;
    int64_t size = x->shape[dim], last = out->shape[nd - 1];
    int64_t rows = out->numel / last;
    size_t es = mm_dtype_size(x->dtype);
    const char *xd = x->storage->data;
    char *od = mm_tensor_data(out);
    bad_index bad = {-1, 0};
#pragma omp parallel for num_threads(mm_get_num_threads()) if (out->numel > MM_GRAIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t c[MM_MAX_DIMS];
        mm_coords(nd, out->shape, r * last, c);
        for (int64_t j = 0; j < last; j++) {
            c[nd - 1] = j;
            int64_t keep = c[dim];
            int64_t idx = select ? load_index(index, NULL, keep)
                                 : load_index(index, c, 0);
            if (idx < 0 || idx >= size) {
                note_bad(&bad, select ? keep : r * last + j, idx);
                break;
            }
            c[dim] = idx;
            memcpy(od + (r * last + j) * (int64_t)es,
                   xd + mm_offset_at(x, c) * (int64_t)es, es);
            c[dim] = keep;
        }
    }
    if (bad.pos >= 0)
        return bounds_error(name, bad.value, dim, size);
    return 0;
}

int mm_cpu_gather(mm_op_ctx *ctx) {
    return take(ctx, false, "gather");
}

int mm_cpu_index_select(mm_op_ctx *ctx) {
    return take(ctx, true, "index_select");
}

/* Lines of `t` along dim: the coordinates of line l with c[dim] = 0. */
static void line_coords(const mm_tensor *t, int dim, int64_t l, int64_t *c) {
    int64_t shape[MM_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[dim] = 1;
    mm_coords(t->ndim, shape, l, c);
}

#define ACC(T, po, v) (*(T *)(po) += (T)(v))

int mm_cpu_scatter(mm_op_ctx *ctx) {
    const mm_tensor *self = ctx->inputs[0], *index = ctx->inputs[1];
    const mm_tensor *src = ctx->n_inputs == 3 ? ctx->inputs[2] : NULL;
    mm_tensor *out = ctx->out;
    int code = ctx->op->code;
    if (self->ndim == 0 || index->numel == 0 ||
        (code != MM_SCATTER_SRC && out->dtype != MM_F32 &&
         out->dtype != MM_F64))
        return MM_EUNSUPPORTED;
    MM_TRY(mm_copy_strided(out, self));
    int dim = (int)ctx->params->i[0];
    int64_t size = self->shape[dim], n = index->shape[dim];
    int64_t n_lines = index->numel / n;
    size_t es = mm_dtype_size(out->dtype);
    bool f32 = out->dtype == MM_F32;
    double value = ctx->params->f[0];
    bad_index bad = {-1, 0};
#pragma omp parallel for num_threads(mm_get_num_threads()) if (index->numel > MM_GRAIN)
    for (int64_t l = 0; l < n_lines; l++) {
        int64_t c[MM_MAX_DIMS];
        line_coords(index, dim, l, c);
        for (int64_t k = 0; k < n; k++) {
            c[dim] = k;
            int64_t idx = load_index(index, c, 0);
            if (idx < 0 || idx >= size) {
                note_bad(&bad, l, idx);
                break;
            }
            const char *ps =
                src ? (const char *)src->storage->data +
                          mm_offset_at(src, c) * (int64_t)es
                    : NULL;
            c[dim] = idx;
            char *po = (char *)out->storage->data +
                       mm_offset_at(out, c) * (int64_t)es;
            if (code == MM_SCATTER_SRC)
                memcpy(po, ps, es);
            else if (code == MM_SCATTER_ADD && f32)
                ACC(float, po, *(const float *)ps);
            else if (code == MM_SCATTER_ADD)
                ACC(double, po, *(const double *)ps);
            else if (f32)
                *(float *)po = (float)value;
            else
                *(double *)po = value;
        }
    }
    if (bad.pos >= 0)
        return bounds_error(ctx->op->name, bad.value, dim, size);
    return 0;
}

int mm_cpu_index_add(mm_op_ctx *ctx) {
    const mm_tensor *self = ctx->inputs[0], *index = ctx->inputs[1],
                    *src = ctx->inputs[2];
    mm_tensor *out = ctx->out;
    if (self->ndim == 0 || src->numel == 0 ||
        (out->dtype != MM_F32 && out->dtype != MM_F64))
        return MM_EUNSUPPORTED;
    MM_TRY(mm_copy_strided(out, self));
    int dim = (int)ctx->params->i[0];
    int64_t size = self->shape[dim], n = src->shape[dim];
    int64_t n_lines = src->numel / n;
    size_t es = mm_dtype_size(out->dtype);
    bool f32 = out->dtype == MM_F32;
    double alpha = ctx->params->f[0];
    bad_index bad = {-1, 0};
#pragma omp parallel for num_threads(mm_get_num_threads()) if (src->numel > MM_GRAIN)
    for (int64_t l = 0; l < n_lines; l++) {
        int64_t c[MM_MAX_DIMS];
        line_coords(src, dim, l, c);
        for (int64_t k = 0; k < n; k++) {
            int64_t idx = load_index(index, NULL, k);
            if (idx < 0 || idx >= size) {
                note_bad(&bad, k, idx);
                break;
            }
            c[dim] = k;
            const char *ps = (const char *)src->storage->data +
                             mm_offset_at(src, c) * (int64_t)es;
            c[dim] = idx;
            char *po = (char *)out->storage->data +
                       mm_offset_at(out, c) * (int64_t)es;
            if (f32)
                *(float *)po = (float)(*(float *)po +
                                       alpha * (double)*(const float *)ps);
            else
                *(double *)po += alpha * *(const double *)ps;
        }
    }
    if (bad.pos >= 0)
        return bounds_error("index_add", bad.value, dim, size);
    return 0;
}

typedef struct fill_ctx {
    double value;
} fill_ctx;

static void fill_f32(char **d, const int64_t *s, int64_t n, void *vctx) {
    float v = (float)((fill_ctx *)vctx)->value;
    for (int64_t i = 0; i < n; i++) {
        float x = *(const float *)(d[1] + i * s[1]);
        *(float *)(d[0] + i * s[0]) = *(const uint8_t *)(d[2] + i * s[2]) ? v : x;
    }
}

static void fill_f64(char **d, const int64_t *s, int64_t n, void *vctx) {
    double v = ((fill_ctx *)vctx)->value;
    for (int64_t i = 0; i < n; i++) {
        double x = *(const double *)(d[1] + i * s[1]);
        *(double *)(d[0] + i * s[0]) =
            *(const uint8_t *)(d[2] + i * s[2]) ? v : x;
    }
}

int mm_cpu_masked_fill(mm_op_ctx *ctx) {
    mm_tensor *out = ctx->out;
    if (out->dtype != MM_F32 && out->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    mm_tensor *ops[3] = {out, ctx->inputs[0], ctx->inputs[1]};
    mm_iter it;
    MM_TRY(mm_iter_init(&it, 3, ops));
    fill_ctx fc = {ctx->params->f[0]};
    mm_iter_run(&it, out->dtype == MM_F32 ? fill_f32 : fill_f64, &fc, MM_GRAIN);
    return 0;
}

int mm_cpu_embedding(mm_op_ctx *ctx) {
    const mm_tensor *w = ctx->inputs[0], *idx = ctx->inputs[1];
    if (w->stride[1] != 1 || idx->numel == 0)
        return MM_EUNSUPPORTED;
    int64_t V = w->shape[0], D = w->shape[1];
    size_t es = mm_dtype_size(w->dtype);
    const char *wd = (const char *)w->storage->data + w->offset * (int64_t)es;
    char *od = mm_tensor_data(ctx->out);
    bad_index bad = {-1, 0};
#pragma omp parallel for num_threads(mm_get_num_threads()) if (idx->numel * D > MM_GRAIN)
    for (int64_t i = 0; i < idx->numel; i++) {
        int64_t c[MM_MAX_DIMS];
        mm_coords(idx->ndim, idx->shape, i, c);
        int64_t r = load_index(idx, c, 0);
        if (r < 0 || r >= V) {
            note_bad(&bad, i, r);
            continue;
        }
        memcpy(od + i * D * (int64_t)es, wd + r * w->stride[0] * (int64_t)es,
               (size_t)D * es);
    }
    if (bad.pos >= 0)
        return bounds_error("embedding", bad.value, 0, V);
    return 0;
}

/* Column blocks in parallel, rows of g added in order within each. */
int mm_cpu_embedding_backward(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *idx = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    if (out->dtype != MM_F32 && out->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    int64_t V = out->shape[0], D = out->shape[1], N = idx->numel;
    bool has_pad = ctx->params->i[1] != 0, f32 = out->dtype == MM_F32;
    int64_t pad = ctx->params->i[0];
    memset(mm_tensor_data(out), 0, (size_t)out->numel * mm_dtype_size(out->dtype));
    const int64_t *i64 = idx->dtype == MM_I64 ? mm_tensor_data(idx) : NULL;
    const int32_t *i32 = idx->dtype == MM_I32 ? mm_tensor_data(idx) : NULL;
    for (int64_t i = 0; i < N; i++) {
        int64_t r = i64 ? i64[i] : i32[i];
        if (r < 0 || r >= V)
            return bounds_error("embedding_backward", r, 0, V);
    }
    enum { COLS = 64 };
    int64_t nb = (D + COLS - 1) / COLS;
#pragma omp parallel for num_threads(mm_get_num_threads()) if (N * D > MM_GRAIN)
    for (int64_t b = 0; b < nb; b++) {
        int64_t j0 = b * COLS, j1 = j0 + COLS < D ? j0 + COLS : D;
        for (int64_t i = 0; i < N; i++) {
            int64_t r = i64 ? i64[i] : i32[i];
            if (has_pad && r == pad)
                continue;
            if (f32) {
                float *po = (float *)mm_tensor_data(out) + r * D;
                const float *pg = (const float *)mm_tensor_data(g) + i * D;
#pragma omp simd
                for (int64_t j = j0; j < j1; j++)
                    po[j] += pg[j];
            } else {
                double *po = (double *)mm_tensor_data(out) + r * D;
                const double *pg = (const double *)mm_tensor_data(g) + i * D;
#pragma omp simd
                for (int64_t j = j0; j < j1; j++)
                    po[j] += pg[j];
            }
        }
    }
    return 0;
}
