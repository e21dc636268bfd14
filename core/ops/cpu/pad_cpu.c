/* Optimised CPU pad and its backward. Forward: rows of the output (all dims but the last) in
 * parallel; the last dim's source columns come from a table made once, and
 * elements move as bytes, so every dtype takes this path. */
#include "../index_impl.h"
#include "mm/threads.h"

#include <stdlib.h>
#include <string.h>

static inline int64_t src_of(int64_t o, int64_t n, int64_t lo, int mode) {
    int64_t j = o - lo;
    if (mode == MM_PAD_REFLECT) {
        if (j < 0)
            j = -j;
        if (j >= n)
            j = 2 * (n - 1) - j;
        return j;
    }
    if (mode == MM_PAD_REPLICATE)
        return j < 0 ? 0 : j >= n ? n - 1 : j;
    return j >= 0 && j < n ? j : -1;
}

int mm_cpu_pad(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *out = ctx->out;
    const mm_op_params *p = ctx->params;
    int nd = x->ndim, mode = (int)p->i[0];
    if (nd == 0 || out->numel == 0)
        return MM_EUNSUPPORTED;
    int64_t lo[MM_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        int k = nd - 1 - d;
        lo[d] = 2 * k + 1 < p->i[1] ? p->i[2 + 2 * k] : 0;
    }
    int64_t last = out->shape[nd - 1], rows = out->numel / last;
    int64_t *col = malloc((size_t)last * sizeof *col);
    if (!col)
        return mm_error_set(MM_ENOMEM, "pad: out of memory");
    for (int64_t j = 0; j < last; j++)
        col[j] = src_of(j, x->shape[nd - 1], lo[nd - 1], mode);
    size_t es = mm_dtype_size(x->dtype);
    unsigned char fill[8];
    mm_store_f64(fill, x->dtype, p->f[0]);
    const char *xd = x->storage->data;
    char *od = mm_tensor_data(out);
    int64_t xs = x->stride[nd - 1];
#pragma omp parallel for num_threads(mm_get_num_threads()) if (out->numel > MM_GRAIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t c[MM_MAX_DIMS], base = x->offset;
        bool inside = true;
        mm_coords(nd - 1, out->shape, r, c);
        for (int d = 0; d < nd - 1 && inside; d++) {
            int64_t j = src_of(c[d], x->shape[d], lo[d], mode);
            inside = j >= 0;
            base += j * x->stride[d];
        }
        char *po = od + r * last * (int64_t)es;
        for (int64_t j = 0; j < last; j++) {
            const void *src = inside && col[j] >= 0
                                  ? xd + (base + col[j] * xs) * (int64_t)es
                                  : (const void *)fill;
            memcpy(po + j * (int64_t)es, src, es);
        }
    }
    free(col);
    return 0;
}

/* pad's backward (f32, f64): each grad element adds into its source. Dims
 * before the first padded one are never padded, so their planes are
 * independent and run in parallel; within a plane the grad elements add in
 * order, as in the reference. */
int mm_cpu_pad_backward(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0], *x = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    const mm_op_params *p = ctx->params;
    int nd = x->ndim, mode = (int)p->i[0];
    if (nd == 0 || g->numel == 0 || (g->dtype != MM_F32 && g->dtype != MM_F64))
        return MM_EUNSUPPORTED;
    int64_t lo[MM_MAX_DIMS];
    int first = nd;
    for (int d = 0; d < nd; d++) {
        int k = nd - 1 - d;
        lo[d] = 2 * k + 1 < p->i[1] ? p->i[2 + 2 * k] : 0;
        int64_t hi = 2 * k + 1 < p->i[1] ? p->i[3 + 2 * k] : 0;
        if ((lo[d] || hi) && first == nd)
            first = d;
    }
    int64_t planes = 1, gplane = 1;
    for (int d = 0; d < nd; d++) {
        if (d < first)
            planes *= x->shape[d];
        else
            gplane *= g->shape[d];
    }
    bool f32 = g->dtype == MM_F32;
    memset(mm_tensor_data(out), 0, (size_t)out->numel * mm_dtype_size(out->dtype));
    int64_t os[MM_MAX_DIMS];
    mm_contiguous_strides(nd, x->shape, os);
#pragma omp parallel for num_threads(mm_get_num_threads()) if (g->numel > MM_GRAIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t c[MM_MAX_DIMS];
        for (int64_t i = pl * gplane; i < (pl + 1) * gplane; i++) {
            mm_coords(nd, g->shape, i, c);
            int64_t off = 0, goff = g->offset;
            bool inside = true;
            for (int d = 0; d < nd && inside; d++) {
                int64_t j = src_of(c[d], x->shape[d], lo[d], mode);
                inside = j >= 0;
                off += j * os[d];
                goff += c[d] * g->stride[d];
            }
            if (!inside)
                continue;
            if (f32)
                ((float *)mm_tensor_data(out))[off] +=
                    ((const float *)g->storage->data)[goff];
            else
                ((double *)mm_tensor_data(out))[off] +=
                    ((const double *)g->storage->data)[goff];
        }
    }
    return 0;
}
