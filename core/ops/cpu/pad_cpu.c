/* Optimised CPU pad: rows of the output (all dims but the last) in
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
