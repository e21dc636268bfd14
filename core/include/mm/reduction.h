/* mm/reduction.h - reductions, indexing and copying shape ops.
 *
 * Reductions over a set of dims with keepdim (amax, amin, var, std,
 * logsumexp, norm, prod, all, any; n_dims == 0 means all dims, as sum and
 * mean in <mm/ops.h>), arg reductions and max/min with indices, cumsum,
 * sort/argsort/topk; indexing (gather, scatter, index_select, index_add,
 * masked_fill, masked_select, nonzero, one_hot, embedding, unique); and pad,
 * roll, pixel_shuffle, pixel_unshuffle. Semantics, defaults and output
 * dtypes are PyTorch's; differences are written beside the function.
 * Every float result is differentiable where torch's is. Index tensors are
 * i64 (index_select, index_add and embedding also take i32). Functions that
 * return two tensors publish both to the pool (or to the caller). */
#ifndef MM_REDUCTION_H
#define MM_REDUCTION_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- reductions ----------------------------------------------------------- */

/* torch.amax/amin: NaN propagates; the gradient splits evenly among ties. */
MM_API int mm_amax(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
                   mm_tensor **out) MM_NODISCARD;
MM_API int mm_amin(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
                   mm_tensor **out) MM_NODISCARD;
/* torch.max(x, dim) / torch.min(x, dim): values and i64 indices (the first
 * of ties; a NaN wins). The gradient goes to the returned index. */
MM_API int mm_max_dim(mm_tensor *x, int dim, bool keepdim, mm_tensor **values,
                      mm_tensor **indices) MM_NODISCARD;
MM_API int mm_min_dim(mm_tensor *x, int dim, bool keepdim, mm_tensor **values,
                      mm_tensor **indices) MM_NODISCARD;
/* torch.argmax/argmin; dim NULL: over the flattened tensor. */
MM_API int mm_argmax(mm_tensor *x, const int *dim, bool keepdim,
                     mm_tensor **out) MM_NODISCARD;
MM_API int mm_argmin(mm_tensor *x, const int *dim, bool keepdim,
                     mm_tensor **out) MM_NODISCARD;
/* torch.var/std with correction (unbiased=True is correction 1, False 0).
 * Float inputs only. */
MM_API int mm_var(mm_tensor *x, int n_dims, const int *dims, double correction,
                  bool keepdim, mm_tensor **out) MM_NODISCARD;
MM_API int mm_std(mm_tensor *x, int n_dims, const int *dims, double correction,
                  bool keepdim, mm_tensor **out) MM_NODISCARD;
/* Integer inputs compute in f32. */
MM_API int mm_logsumexp(mm_tensor *x, int n_dims, const int *dims,
                        bool keepdim, mm_tensor **out) MM_NODISCARD;
/* torch.linalg.vector_norm: p >= 0 (0 counts non-zeros) or +-INFINITY
 * (largest / smallest |x|); float inputs only. The gradient is 0 where the
 * norm is 0; ties of the +-inf norms share it. */
MM_API int mm_norm(mm_tensor *x, double p, int n_dims, const int *dims,
                   bool keepdim, mm_tensor **out) MM_NODISCARD;
/* Integer and bool inputs give i64. */
MM_API int mm_prod(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
                   mm_tensor **out) MM_NODISCARD;
/* Bool results (u8 for u8 inputs, as torch). */
MM_API int mm_all(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
                  mm_tensor **out) MM_NODISCARD;
MM_API int mm_any(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
                  mm_tensor **out) MM_NODISCARD;
/* Integer and bool inputs give i64; floats accumulate in double. */
MM_API int mm_cumsum(mm_tensor *x, int dim, mm_tensor **out) MM_NODISCARD;

/* ---- sorting ---------------------------------------------------------------- */

/* Always stable (equal elements keep their order; `stable` is accepted for
 * torch's signature); NaN sorts above everything. */
MM_API int mm_sort(mm_tensor *x, int dim, bool descending, bool stable,
                   mm_tensor **values, mm_tensor **indices) MM_NODISCARD;
MM_API int mm_argsort(mm_tensor *x, int dim, bool descending, bool stable,
                      mm_tensor **out) MM_NODISCARD;
/* torch.topk; the result is always sorted, ties in index order. */
MM_API int mm_topk(mm_tensor *x, int64_t k, int dim, bool largest, bool sorted,
                   mm_tensor **values, mm_tensor **indices) MM_NODISCARD;

/* ---- indexing -------------------------------------------------------------- */

MM_API int mm_gather(mm_tensor *x, int dim, mm_tensor *index,
                     mm_tensor **out) MM_NODISCARD;
/* Out of place (torch's Tensor.scatter): duplicates, the last in index
 * order wins. */
MM_API int mm_scatter(mm_tensor *self, int dim, mm_tensor *index,
                      mm_tensor *src, mm_tensor **out) MM_NODISCARD;
MM_API int mm_scatter_value(mm_tensor *self, int dim, mm_tensor *index,
                            double value, mm_tensor **out) MM_NODISCARD;
MM_API int mm_scatter_add(mm_tensor *self, int dim, mm_tensor *index,
                          mm_tensor *src, mm_tensor **out) MM_NODISCARD;
/* index: 0-D or 1-D. */
MM_API int mm_index_select(mm_tensor *x, int dim, mm_tensor *index,
                           mm_tensor **out) MM_NODISCARD;
/* self + alpha * source added at the indexed slices of dim. */
MM_API int mm_index_add(mm_tensor *self, int dim, mm_tensor *index,
                        mm_tensor *source, double alpha,
                        mm_tensor **out) MM_NODISCARD;
/* mask: bool, broadcasting with x. */
MM_API int mm_masked_fill(mm_tensor *x, mm_tensor *mask, double value,
                          mm_tensor **out) MM_NODISCARD;
MM_API int mm_masked_select(mm_tensor *x, mm_tensor *mask,
                            mm_tensor **out) MM_NODISCARD;
/* torch.nonzero: i64 [n, ndim]. */
MM_API int mm_nonzero(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* F.one_hot: i64 input; num_classes -1: one more than the largest value. */
MM_API int mm_one_hot(mm_tensor *x, int64_t num_classes,
                      mm_tensor **out) MM_NODISCARD;
/* F.embedding: rows of weight [V, D] at indices; the row at padding_idx
 * (when has_padding_idx; negative counts from the end) gets no gradient. */
MM_API int mm_embedding(mm_tensor *weight, mm_tensor *indices,
                        int64_t padding_idx, bool has_padding_idx,
                        mm_tensor **out) MM_NODISCARD;
/* torch.unique over the flattened tensor: sorted values, and when asked
 * (non-NULL) the inverse (x's shape) and counts, both i64. The result is
 * sorted whatever `sorted` says. */
MM_API int mm_unique(mm_tensor *x, bool sorted, mm_tensor **values,
                     mm_tensor **inverse, mm_tensor **counts) MM_NODISCARD;

/* ---- copying shape ops ----------------------------------------------------- */

typedef enum mm_pad_mode {
    MM_PAD_CONSTANT,
    MM_PAD_REFLECT,
    MM_PAD_REPLICATE,
} mm_pad_mode;

/* F.pad: pads = (last dim left, right, next-to-last left, right, ...).
 * Constant pads may be negative (crop). Reflect and replicate pad 1 to 3
 * trailing dims of an input with one or two more dims. */
MM_API int mm_pad(mm_tensor *x, int npad, const int64_t *pads,
                  mm_pad_mode mode, double value,
                  mm_tensor **out) MM_NODISCARD;
/* torch.roll: one shift per dim; no dims: the flattened tensor. */
MM_API int mm_roll(mm_tensor *x, int n_shifts, const int64_t *shifts,
                   int n_dims, const int *dims, mm_tensor **out) MM_NODISCARD;
MM_API int mm_pixel_shuffle(mm_tensor *x, int64_t upscale_factor,
                            mm_tensor **out) MM_NODISCARD;
MM_API int mm_pixel_unshuffle(mm_tensor *x, int64_t downscale_factor,
                              mm_tensor **out) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
