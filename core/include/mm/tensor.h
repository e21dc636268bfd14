/* mm/tensor.h - tensors: dtypes, devices, storage, lifetime, creation, views.
 *
 * An mm_tensor is a small plain struct (like ggml's) that kernels read
 * directly: dtype, device, up to MM_MAX_DIMS dims with int64 shape and
 * element strides in PyTorch order (NCHW; 5-D for video), an element offset
 * into a refcounted mm_storage. Views (reshape, permute, narrow, expand, ...)
 * are new tensor structs that share the storage of their base, exactly where
 * PyTorch shares it. Fields are read-only outside libmm: change a tensor only
 * through the functions here and in <mm/ops.h>.
 *
 * Lifetime: tensors are refcounted (mm_tensor_retain / mm_tensor_release) and
 * scoped by autorelease pools, so model code reads like PyTorch, without a
 * single free in a forward function. THE RULE:
 *
 *   - Every function that returns a new tensor through `mm_tensor **out`
 *     (creation, views, ops) hands its reference to the innermost pool open
 *     on the calling thread; the caller BORROWS the tensor, and it dies when
 *     that pool closes, unless the caller took its own reference with
 *     mm_tensor_retain (and later mm_tensor_release).
 *   - With NO pool open on the thread, the caller OWNS the returned
 *     reference and must mm_tensor_release it.
 *
 * Pools nest and are per thread (close them on the thread that opened them,
 * before it exits). The runner opens one per iteration; a test or a tool
 * opens one around its work. Parameters, buffers and optimizer
 * state are retained by their module or optimizer and outlive every pool.
 *
 * Naming: functions about one tensor's bookkeeping are mm_tensor_* (retain,
 * data, contiguity, element access, in-place fills marked with a trailing
 * underscore as in PyTorch); functions that make a new tensor use PyTorch's
 * names with the mm_ prefix (mm_zeros, mm_arange, mm_reshape, mm_cat, ...).
 * Shapes are passed as (int ndim, const int64_t *shape); MM_SHAPE(2, 3)
 * writes both. Dims may be negative (counted from the end, as in Python).
 *
 * Errors: every fallible function returns 0 or a negative MM_E* code with a
 * one-line message in the error slot ("reshape: shape [4, 4] is invalid for
 * input of size 6"). Bad shapes, dims and dtypes never abort.
 *
 * Memory comes from a caching allocator per device (CPU: 64-byte aligned,
 * size-class bins); mm_memory_stats reports current and peak bytes. */
#ifndef MM_TENSOR_H
#define MM_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/error.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return the status of a failing call from the enclosing function: the way
 * a forward function chains ops. */
#ifndef MM_TRY
#define MM_TRY(expr)                                                           \
    do {                                                                       \
        int mm_try_rc_ = (expr);                                               \
        if (mm_try_rc_ < 0)                                                    \
            return mm_try_rc_;                                                 \
    } while (0)
#endif

/* ---- dtypes ------------------------------------------------------------- */

typedef enum mm_dtype {
    MM_F32,
    MM_F64,
    MM_F16,
    MM_BF16,
    MM_I64,
    MM_I32,
    MM_U8,
    MM_BOOL,
    MM_DTYPE_COUNT
} mm_dtype;

/* How a tensor's elements lie in memory (PyTorch's memory_format). The
 * shape is always in PyTorch order ([N, C, H, W]); the strides say where
 * the elements are. */
typedef enum mm_memory_format {
    MM_FORMAT_CONTIGUOUS = 0,   /* row-major in shape order (NCHW) */
    MM_FORMAT_CHANNELS_LAST = 1 /* [N, C, sp...] stored as [N, sp..., C] */
} mm_memory_format;

typedef struct mm_dtype_traits {
    const char *name; /* "f32" */
    size_t size;      /* bytes per element */
    bool is_float;    /* f32 f64 f16 bf16: may require grad */
    bool is_signed;
} mm_dtype_traits;

/* Indexed by mm_dtype. */
MM_API extern const mm_dtype_traits mm_dtype_info[MM_DTYPE_COUNT];

static inline size_t mm_dtype_size(mm_dtype dt) {
    return mm_dtype_info[dt].size;
}
static inline const char *mm_dtype_name(mm_dtype dt) {
    return mm_dtype_info[dt].name;
}
static inline bool mm_dtype_is_float(mm_dtype dt) {
    return mm_dtype_info[dt].is_float;
}

/* Parse a dtype name: ours ("f32", "bf16", "i64", "u8", "bool"), PyTorch's
 * ("float32", "float", "half", "bfloat16", "int64", "long", "uint8", ...)
 * and safetensors' ("F32", "BF16", "I64", "U8", "BOOL"); case-insensitive. */
MM_API int mm_dtype_parse(const char *name, mm_dtype *out);

/* PyTorch's type promotion for two tensors: bool < integers < floats; f64
 * wins among floats, f16 with bf16 gives f32; u8 with i32 gives i32. */
MM_API mm_dtype mm_dtype_promote(mm_dtype a, mm_dtype b);

/* IEEE half and bfloat16 <-> float, round to nearest even; NaN stays NaN,
 * overflow gives infinity. */
MM_API uint16_t mm_f32_to_f16(float f);
MM_API float mm_f16_to_f32(uint16_t h);
MM_API uint16_t mm_f32_to_bf16(float f);
MM_API float mm_bf16_to_f32(uint16_t b);

/* ---- devices ------------------------------------------------------------ */

typedef enum mm_device_type {
    MM_DEVICE_CPU,
    MM_DEVICE_CUDA, /* a slot: kernels arrive with the CUDA backend */
    MM_DEVICE_TYPE_COUNT
} mm_device_type;

typedef struct mm_device {
    mm_device_type type;
    int index; /* cuda:N; 0 for the CPU */
} mm_device;

#define MM_CPU ((mm_device){MM_DEVICE_CPU, 0})

static inline bool mm_device_equal(mm_device a, mm_device b) {
    return a.type == b.type && a.index == b.index;
}
/* "cpu", "cuda:0" into buf; returns buf. */
MM_API char *mm_device_format(mm_device dev, char *buf, size_t size);

/* ---- storage and the tensor struct -------------------------------------- */

#define MM_MAX_DIMS 8

/* The memory a tensor and its views share. `data` is 64-byte aligned when it
 * came from the allocator. */
typedef struct mm_storage {
    void *data;
    size_t nbytes;
    mm_device device;
    int32_t refs;      /* atomic; managed by the tensors using it */
    size_t block_size; /* the allocator's block; 0: memory not ours */
    /* mm_from_blob's deleter, run instead of the allocator's free */
    void (*deleter)(void *data, void *ctx);
    void *deleter_ctx;
} mm_storage;

struct mm_node; /* the autograd record of the op that made a tensor */

typedef struct mm_tensor {
    mm_dtype dtype;
    mm_device device;
    int ndim; /* 0 for a scalar, at most MM_MAX_DIMS */
    int64_t shape[MM_MAX_DIMS];
    int64_t stride[MM_MAX_DIMS]; /* in elements, PyTorch order */
    int64_t offset;              /* in elements, into storage->data */
    int64_t numel;               /* product of shape (1 for a scalar) */
    mm_storage *storage;
    /* autograd (see <mm/autograd.h>) */
    bool requires_grad;
    struct mm_tensor *grad;  /* owned; accumulated on leaves */
    struct mm_node *grad_fn; /* owned; NULL for a leaf */
    int32_t refs;            /* atomic; use retain/release */
} mm_tensor;

/* Pointer to element [0, 0, ...] (storage data plus offset). */
static inline void *mm_tensor_data(const mm_tensor *t) {
    return (char *)t->storage->data +
           t->offset * (int64_t)mm_dtype_size(t->dtype);
}
/* Typed access for kernels: MM_DATA(t, float)[i]. */
#define MM_DATA(t, type) ((type *)mm_tensor_data(t))

/* Write both arguments of a (ndim, shape) pair: MM_SHAPE(2, 3). Scalars
 * (0-dim) are written `0, NULL`. */
/* clang-format off */
#define MM_SHAPE(...)                                                          \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),                 \
        (const int64_t[]){__VA_ARGS__}
/* Same for a list of dims: MM_DIMS(0, -1) for (int n, const int *dims). */
#define MM_DIMS(...)                                                           \
    (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (const int[]){__VA_ARGS__}
/* clang-format on */

/* ---- lifetime ----------------------------------------------------------- */

MM_API mm_tensor *mm_tensor_retain(mm_tensor *t); /* returns t; NULL ok */
MM_API void mm_tensor_release(mm_tensor *t);      /* NULL ok */

/* Hand an owned reference to the innermost pool of this thread. With no
 * pool open the caller keeps it (the same rule creation follows). Consumes
 * the reference even on failure (MM_ENOMEM: the pool could not grow). */
MM_API int mm_tensor_autorelease(mm_tensor *t);

/* ---- autorelease pools -------------------------------------------------- */

typedef struct mm_pool mm_pool;

/* Open a pool on this thread's stack; it becomes the innermost. */
MM_API int mm_pool_open(mm_pool **out) MM_NODISCARD;
/* Release every tensor the pool holds (newest first) and pop it. Closing a
 * pool that is not the innermost closes the inner ones first. NULL ok. */
MM_API void mm_pool_close(mm_pool *pool);
/* Close `pool` but keep `keep` alive: it moves to the pool outside (or to
 * the caller when there is none, who then owns it). *out = keep. The way a
 * function that makes temporaries returns one result. */
MM_API int mm_pool_close_keep(mm_pool *pool, mm_tensor *keep, mm_tensor **out);
/* Number of pools open on this thread. */
MM_API int mm_pool_depth(void);
/* Number of references the pool holds. */
MM_API size_t mm_pool_size(const mm_pool *pool);

/* ---- memory ------------------------------------------------------------- */

typedef struct mm_memory_stats {
    size_t allocated_bytes; /* held by live storages now (size-class rounded) */
    size_t peak_bytes;      /* most allocated_bytes seen since reset */
    size_t cached_bytes;    /* freed blocks kept for reuse */
    uint64_t n_allocs;      /* allocations served */
    uint64_t n_cache_hits;  /* ... of which from the cache */
} mm_memory_stats;

MM_API int mm_memory_stats_get(mm_device dev, mm_memory_stats *out);
MM_API void mm_memory_reset_peak(mm_device dev);
/* Give every cached block back to the system. */
MM_API void mm_memory_empty_cache(mm_device dev);
/* Blocks freed beyond this many cached bytes go back to the system
 * (default a quarter of the physical memory, at least 1 GiB, or
 * MM_CPU_CACHE_BYTES). */
MM_API void mm_memory_set_cache_limit(mm_device dev, size_t bytes);
/* "memory: 123" in MiB of peak bytes, as mmengine logs it. */
MM_API size_t mm_memory_peak_mib(mm_device dev);

/* ---- properties --------------------------------------------------------- */

MM_API bool mm_tensor_is_contiguous(const mm_tensor *t);
/* Dense in channels-last order: [N, C, sp...] (3 to 5 dims) stored as
 * [N, sp..., C], PyTorch's channels_last (NHWC) and channels_last_3d.
 * Size-1 dims are ignored, as in mm_tensor_is_contiguous, so [N, C, 1, 1]
 * is both. */
MM_API bool mm_tensor_is_channels_last(const mm_tensor *t);
/* Size of one dim (negative counts from the end); -1 when out of range. */
MM_API int64_t mm_tensor_size(const mm_tensor *t, int dim);
MM_API bool mm_tensor_same_shape(const mm_tensor *a, const mm_tensor *b);
/* Resolve a possibly negative dim against ndim; MM_EINVAL with
 * "<op>: dim 3 out of range for a tensor of 2 dims" otherwise. */
MM_API int mm_dim_wrap(const char *op, int dim, int ndim, int *out);
/* "tensor(f32, [2, 3])" into buf; returns buf. */
MM_API char *mm_tensor_describe(const mm_tensor *t, char *buf, size_t size);
/* "[2, 3]" into buf; returns buf. */
MM_API char *mm_shape_format(int ndim, const int64_t *shape, char *buf,
                             size_t size);

/* ---- creation (CPU unless said otherwise) ------------------------------- */

/* Uninitialised memory. */
MM_API int mm_empty(int ndim, const int64_t *shape, mm_dtype dtype,
                    mm_tensor **out) MM_NODISCARD;
MM_API int mm_empty_on(int ndim, const int64_t *shape, mm_dtype dtype,
                       mm_device dev, mm_tensor **out) MM_NODISCARD;
MM_API int mm_zeros(int ndim, const int64_t *shape, mm_dtype dtype,
                    mm_tensor **out) MM_NODISCARD;
MM_API int mm_ones(int ndim, const int64_t *shape, mm_dtype dtype,
                   mm_tensor **out) MM_NODISCARD;
MM_API int mm_full(int ndim, const int64_t *shape, double value, mm_dtype dtype,
                   mm_tensor **out) MM_NODISCARD;
/* Same shape, dtype and device as `like`. */
MM_API int mm_empty_like(const mm_tensor *like, mm_tensor **out) MM_NODISCARD;
MM_API int mm_zeros_like(const mm_tensor *like, mm_tensor **out) MM_NODISCARD;
MM_API int mm_ones_like(const mm_tensor *like, mm_tensor **out) MM_NODISCARD;
MM_API int mm_full_like(const mm_tensor *like, double value,
                        mm_tensor **out) MM_NODISCARD;
/* A 0-dim tensor holding `value`. */
MM_API int mm_scalar(double value, mm_dtype dtype,
                     mm_tensor **out) MM_NODISCARD;
/* [start, end) by step (step may be negative, never 0): ceil((end-start)/step)
 * elements, as torch.arange. */
MM_API int mm_arange(double start, double end, double step, mm_dtype dtype,
                     mm_tensor **out) MM_NODISCARD;
/* `steps` evenly spaced values from start to end inclusive. */
MM_API int mm_linspace(double start, double end, int64_t steps, mm_dtype dtype,
                       mm_tensor **out) MM_NODISCARD;
/* [n, m] with ones on the diagonal (m < 0: square). */
MM_API int mm_eye(int64_t n, int64_t m, mm_dtype dtype,
                  mm_tensor **out) MM_NODISCARD;
/* Copy numel elements of `dtype` from a C buffer (row-major). */
MM_API int mm_from_data(const void *data, int ndim, const int64_t *shape,
                        mm_dtype dtype, mm_tensor **out) MM_NODISCARD;
/* Wrap memory without copying (a mapped checkpoint, a decoded image): the
 * tensor is contiguous; `deleter(data, ctx)` runs when the last view dies
 * (NULL: the memory outlives every tensor, the caller's promise). */
MM_API int mm_from_blob(void *data, int ndim, const int64_t *shape,
                        mm_dtype dtype, void (*deleter)(void *data, void *ctx),
                        void *ctx, mm_tensor **out) MM_NODISCARD;

/* ---- data access -------------------------------------------------------- */

/* The value of a one-element tensor, converted. */
MM_API int mm_tensor_item(const mm_tensor *t, double *out) MM_NODISCARD;
MM_API int mm_tensor_item_i64(const mm_tensor *t, int64_t *out) MM_NODISCARD;
/* Element at a multi-index (ndim entries, negative allowed), converted. */
MM_API int mm_tensor_get(const mm_tensor *t, const int64_t *index,
                         double *out) MM_NODISCARD;
MM_API int mm_tensor_set(mm_tensor *t, const int64_t *index,
                         double value) MM_NODISCARD;
/* Element at a row-major linear index into the logical shape; unchecked
 * beyond an assertion (test and debugging helpers). */
MM_API double mm_tensor_get_flat(const mm_tensor *t, int64_t i);
MM_API void mm_tensor_set_flat(mm_tensor *t, int64_t i, double value);
/* Copy all elements out, row-major, converted to `dtype`; `capacity` is the
 * buffer size in elements and must be at least numel. */
MM_API int mm_tensor_read(const mm_tensor *t, mm_dtype dtype, void *buf,
                          int64_t capacity) MM_NODISCARD;

/* ---- in-place (no autograd: refused on tensors that require grad while
 * grad mode is on, as PyTorch refuses them on leaves) --------------------- */

MM_API int mm_tensor_fill_(mm_tensor *t, double value) MM_NODISCARD;
MM_API int mm_tensor_zero_(mm_tensor *t) MM_NODISCARD;
/* dst[...] = src, src broadcast to dst's shape, converted to dst's dtype.
 * Works on views: copying into a narrow() writes into the base. */
MM_API int mm_tensor_copy_(mm_tensor *dst, const mm_tensor *src) MM_NODISCARD;

/* ---- conversions (differentiable) --------------------------------------- */

/* The same tensor (retained into the pool) when already contiguous,
 * otherwise a contiguous copy. */
MM_API int mm_contiguous(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* x laid out in `format` (PyTorch's x.contiguous(memory_format=...)): x
 * itself when it already is, else a copy. MM_FORMAT_CHANNELS_LAST needs
 * 3 to 5 dims. Convolutions, pooling, batch norm and elementwise ops keep
 * a channels-last input's layout in their output. */
MM_API int mm_to_memory_format(mm_tensor *x, mm_memory_format format,
                               mm_tensor **out) MM_NODISCARD;
/* Always a new contiguous copy. */
MM_API int mm_clone(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* Converted copy in x's layout (contiguous or channels-last); x itself when
 * the dtype already matches. */
MM_API int mm_to_dtype(mm_tensor *x, mm_dtype dtype,
                       mm_tensor **out) MM_NODISCARD;

/* ---- views and shape ops (differentiable) ------------------------------- *
 * Views share storage and cost no copy: view, reshape (when the strides
 * allow), permute, transpose, t, narrow, slice, select, expand, squeeze,
 * unsqueeze, flatten (when the strides allow), split, chunk. cat, stack,
 * flip and repeat copy, as in PyTorch. One dim of a view/reshape shape may
 * be -1 (inferred). */

/* A view with a new shape; MM_EINVAL if the strides do not allow it
 * (use mm_reshape, which copies then). */
MM_API int mm_view(mm_tensor *x, int ndim, const int64_t *shape,
                   mm_tensor **out) MM_NODISCARD;
MM_API int mm_reshape(mm_tensor *x, int ndim, const int64_t *shape,
                      mm_tensor **out) MM_NODISCARD;
/* dims: a permutation of 0..ndim-1 (negative allowed). */
MM_API int mm_permute(mm_tensor *x, int ndim, const int *dims,
                      mm_tensor **out) MM_NODISCARD;
MM_API int mm_transpose(mm_tensor *x, int dim0, int dim1,
                        mm_tensor **out) MM_NODISCARD;
/* Elements [start, start+length) of dim; start may be negative. */
MM_API int mm_narrow(mm_tensor *x, int dim, int64_t start, int64_t length,
                     mm_tensor **out) MM_NODISCARD;
/* Python slicing x[start:end:step] on one dim: negative start/end count from
 * the end, out-of-range bounds clamp, step >= 1. */
MM_API int mm_slice(mm_tensor *x, int dim, int64_t start, int64_t end,
                    int64_t step, mm_tensor **out) MM_NODISCARD;
#define MM_SLICE_END INT64_MAX
/* x[..., index, ...]: removes dim. */
MM_API int mm_select(mm_tensor *x, int dim, int64_t index,
                     mm_tensor **out) MM_NODISCARD;
/* Broadcast to `shape` (stride 0 on expanded dims); -1 keeps a size; new
 * leading dims may be added. */
MM_API int mm_expand(mm_tensor *x, int ndim, const int64_t *shape,
                     mm_tensor **out) MM_NODISCARD;
MM_API int mm_expand_as(mm_tensor *x, const mm_tensor *other,
                        mm_tensor **out) MM_NODISCARD;
/* Remove one size-1 dim (a no-op view when its size is not 1). */
MM_API int mm_squeeze(mm_tensor *x, int dim, mm_tensor **out) MM_NODISCARD;
/* Remove every size-1 dim. */
MM_API int mm_squeeze_all(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_unsqueeze(mm_tensor *x, int dim, mm_tensor **out) MM_NODISCARD;
/* Merge dims start..end (inclusive) into one. */
MM_API int mm_flatten(mm_tensor *x, int start_dim, int end_dim,
                      mm_tensor **out) MM_NODISCARD;
/* Join along an existing dim; dtypes promote. */
MM_API int mm_cat(int n, mm_tensor *const *xs, int dim,
                  mm_tensor **out) MM_NODISCARD;
/* Join along a new dim. */
MM_API int mm_stack(int n, mm_tensor *const *xs, int dim,
                    mm_tensor **out) MM_NODISCARD;
/* Views of `size` elements along dim (the last may be smaller); outs must
 * hold ceil(size(dim) / size) entries; *n_out gets that count. */
MM_API int mm_split(mm_tensor *x, int64_t size, int dim, mm_tensor **outs,
                    int max_outs, int *n_out) MM_NODISCARD;
/* `chunks` views as equal as torch.chunk makes them (maybe fewer). */
MM_API int mm_chunk(mm_tensor *x, int chunks, int dim, mm_tensor **outs,
                    int *n_out) MM_NODISCARD;
/* Reverse the order along each dim listed. */
MM_API int mm_flip(mm_tensor *x, int ndims, const int *dims,
                   mm_tensor **out) MM_NODISCARD;
/* Tile: reps has at least x->ndim entries (torch.Tensor.repeat). */
MM_API int mm_repeat(mm_tensor *x, int nreps, const int64_t *reps,
                     mm_tensor **out) MM_NODISCARD;

/* ---- mm_value glue ------------------------------------------------------ */

/* The class of tensors held in an mm_value (describe: "tensor(f32, [2, 3])").
 */
MM_API extern const mm_value_object_class mm_tensor_value_class;
/* A new mm_value holding (retaining) t; NULL on no memory. */
MM_API mm_value *mm_tensor_to_value(mm_tensor *t);
/* The tensor inside v (borrowed), or NULL if v holds no tensor. */
MM_API mm_tensor *mm_tensor_from_value(const mm_value *v);

#ifdef __cplusplus
}
#endif
#endif
