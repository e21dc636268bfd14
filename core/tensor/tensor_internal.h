/* Internals of the tensor engine shared by core/tensor, core/ops and
 * core/autograd; nothing here is part of the SDK. */
#ifndef MM_TENSOR_INTERNAL_H
#define MM_TENSOR_INTERNAL_H

#include "mm/autograd.h"
#include "mm/ops.h"
#include "mm/tensor.h"

/* ---- allocator (alloc.c) ------------------------------------------------ */

/* 64-byte aligned block of at least n bytes (n may be 0); *block_size gets
 * the size class actually reserved, which mm_cpu_free needs back. */
void *mm_cpu_alloc(size_t n, size_t *block_size);
void mm_cpu_free(void *p, size_t block_size);

/* ---- tensors (tensor.c) ------------------------------------------------- */

void mm_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* The layout an op's output follows from t (PyTorch's rule):
 * MM_FORMAT_CHANNELS_LAST when t is channels-last and not also contiguous
 * (as [N, C, 1, 1] is), else MM_FORMAT_CONTIGUOUS. */
mm_memory_format mm_tensor_layout(const mm_tensor *t);
/* Dense channels-last strides of [N, C, sp...] (ndim 3 to 5). */
void mm_channels_last_strides(int ndim, const int64_t *shape, int64_t *stride);
int64_t mm_shape_numel(int ndim, const int64_t *shape);
/* A new contiguous tensor the caller owns (never in a pool). */
int mm_tensor_new_owned(int ndim, const int64_t *shape, mm_dtype dtype,
                        mm_device dev, mm_tensor **out);
/* The same in `format` (channels-last: ndim 3 to 5). */
int mm_tensor_new_owned_format(int ndim, const int64_t *shape, mm_dtype dtype,
                               mm_device dev, mm_memory_format format,
                               mm_tensor **out);
/* A new tensor struct over t's storage and geometry, no autograd, owned. */
mm_tensor *mm_tensor_alias(const mm_tensor *t);
/* Hand an owned tensor to the pool (or the caller) and store it in *out. */
int mm_tensor_publish(mm_tensor *t, mm_tensor **out);
/* Refuse in-place writes to a tensor that requires grad in grad mode. */
int mm_check_inplace(const char *op, const mm_tensor *t);
/* Check a shape given by the user: ndim in range, sizes >= 0. */
int mm_check_shape(const char *op, int ndim, const int64_t *shape);

/* ---- autograd (tape.c) -------------------------------------------------- */

/* Free a node: releases its inputs, saved tensors and scratch. */
void mm_node_free(mm_node *node);

/* ---- kernels used across files ------------------------------------------ */

/* dst = src (broadcast, converted), any strides; no autograd, no checks
 * beyond broadcasting. copy.c */
int mm_copy_strided(mm_tensor *dst, const mm_tensor *src);
/* Out-of-place elementwise: out = a op b in place of `out` (binary.c); used
 * by in-place add_ and gradient accumulation. */
int mm_binary_into(mm_op_id op, mm_tensor *out, mm_tensor *a, mm_tensor *b,
                   double alpha);

/* Record the autograd node of one op application (tape.c) when
 * ctx->recording (set by mm_op_apply: grad mode on, the op has a backward,
 * the output is a float tensor, some input requires grad). Moves
 * ctx->saved into the node (or releases them). `inputs` are the caller's
 * originals (the kernel may have seen contiguous copies). */
int mm_tape_record(mm_op_ctx *ctx, mm_tensor *const *inputs, mm_tensor *out);
/* Release whatever the kernel saved in ctx. */
void mm_op_ctx_drop_saved(mm_op_ctx *ctx);
#endif
