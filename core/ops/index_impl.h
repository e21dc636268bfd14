/* Shared by the indexing and padding ops (index.c, pad.c) and their CPU
 * kernels: coordinates, the scatter variants, the op definitions and the
 * kernels' declarations. */
#ifndef MM_OPS_INDEX_IMPL_H
#define MM_OPS_INDEX_IMPL_H

#include "mm/reduction.h"
#include "ops_internal.h"

enum { MM_SCATTER_SRC, MM_SCATTER_VALUE, MM_SCATTER_ADD };

/* Row-major coordinates of linear index i in shape. */
static inline void mm_coords(int ndim, const int64_t *shape, int64_t i,
                             int64_t *c) {
    for (int d = ndim - 1; d >= 0; d--) {
        c[d] = i % shape[d];
        i /= shape[d];
    }
}

/* Element offset (into storage) of coordinates c in t. */
static inline int64_t mm_offset_at(const mm_tensor *t, const int64_t *c) {
    int64_t off = t->offset;
    for (int d = 0; d < t->ndim; d++)
        off += c[d] * t->stride[d];
    return off;
}

extern const mm_op mm_op_gather, mm_op_scatter, mm_op_scatter_value,
    mm_op_scatter_add, mm_op_index_select, mm_op_index_add, mm_op_masked_fill,
    mm_op_nonzero, mm_op_one_hot, mm_op_embedding, mm_op_embedding_backward,
    mm_op_pad, mm_op_pad_backward;

int mm_cpu_gather(mm_op_ctx *ctx);
int mm_cpu_scatter(mm_op_ctx *ctx);
int mm_cpu_index_select(mm_op_ctx *ctx);
int mm_cpu_index_add(mm_op_ctx *ctx);
int mm_cpu_masked_fill(mm_op_ctx *ctx);
int mm_cpu_embedding(mm_op_ctx *ctx);
int mm_cpu_embedding_backward(mm_op_ctx *ctx);
int mm_cpu_pad(mm_op_ctx *ctx);
int mm_cpu_pad_backward(mm_op_ctx *ctx);

#endif
