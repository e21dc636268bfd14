/* Shared by the op families in core/ops and their CPU kernels in
 * core/ops/cpu: op definitions (one per family file) and helpers. */
#ifndef MM_OPS_INTERNAL_H
#define MM_OPS_INTERNAL_H

#include "tensor_internal.h"

/* The op definitions the table indexes (defined in each family's file). */
extern const mm_op mm_op_to, mm_op_view, mm_op_permute, mm_op_slice,
    mm_op_expand, mm_op_cat, mm_op_flip;
extern const mm_op mm_op_add, mm_op_sub, mm_op_mul, mm_op_div,
    mm_op_relu_backward, mm_op_sigmoid_backward, mm_op_tanh_backward;
extern const mm_op mm_op_neg, mm_op_exp, mm_op_log, mm_op_relu, mm_op_sigmoid,
    mm_op_tanh;
extern const mm_op mm_op_sum, mm_op_mean;
extern const mm_op mm_op_matmul;

/* Run kernel fn on contiguous copies of ctx's inputs and into a
 * contiguous temporary output, then copy that into ctx->out: how a kernel
 * that reads only row-major tensors serves channels-last ones
 * (MM_OP_FLAG_CHANNELS_LAST ops). Up to 8 inputs. */
int mm_op_run_contiguous(mm_op_ctx *ctx, mm_op_kernel_fn fn);

/* Optimised CPU kernels (core/ops/cpu/). */
int mm_cpu_binary(mm_op_ctx *ctx);
int mm_cpu_unary(mm_op_ctx *ctx);
int mm_cpu_reduce(mm_op_ctx *ctx);
int mm_cpu_matmul(mm_op_ctx *ctx);

/* convolution and pooling (conv.c, pool.c; cpu/conv_dnnl.c, cpu/pool_dnnl.c) */
extern const mm_op mm_op_conv, mm_op_conv_transpose, mm_op_conv_weight_grad,
    mm_op_conv_fused;
extern const mm_op mm_op_max_pool, mm_op_max_pool_indices, mm_op_avg_pool,
    mm_op_max_pool_backward, mm_op_avg_pool_backward;
int mm_cpu_conv(mm_op_ctx *ctx);
int mm_cpu_conv_transpose(mm_op_ctx *ctx);
int mm_cpu_conv_weight_grad(mm_op_ctx *ctx);
int mm_cpu_conv_fused(mm_op_ctx *ctx);
/* Weights whose caller promises not to change them until unpinned (the
 * folded weights of mm_conv_bn_act): conv_fused keeps them in oneDNN's
 * layout across calls instead of reordering them every call. Pins count;
 * NULL is ignored. */
void mm_conv_weight_pin(const mm_tensor *w);
void mm_conv_weight_unpin(const mm_tensor *w);
/* conv_fused's activation on one value (conv.c; the loop fallback). */
double mm_fused_act_apply(int act, double v);
int mm_cpu_pool(mm_op_ctx *ctx);
int mm_cpu_max_pool_backward(mm_op_ctx *ctx);
int mm_cpu_avg_pool_backward(mm_op_ctx *ctx);

/* Variants within the elementwise families (mm_op.code). */
enum {
    MM_BIN_ADD, /* a + alpha * b */
    MM_BIN_SUB, /* a - alpha * b */
    MM_BIN_MUL,
    MM_BIN_DIV,
    MM_BIN_RELU_BW,    /* g * (x > 0) */
    MM_BIN_SIGMOID_BW, /* g * y * (1 - y) */
    MM_BIN_TANH_BW,    /* g * (1 - y * y) */
};
enum { MM_UN_NEG, MM_UN_EXP, MM_UN_LOG, MM_UN_RELU, MM_UN_SIGMOID, MM_UN_TANH };
enum { MM_RED_SUM, MM_RED_MEAN };

/* Build a view descriptor on the stack (no refcount; valid while `t` is):
 * the kernels' way of reading a strided window without a new tensor. */
static inline mm_tensor mm_tensor_window(const mm_tensor *t) {
    mm_tensor w = *t;
    w.refs = 0;
    w.grad = NULL;
    w.grad_fn = NULL;
    w.requires_grad = false;
    return w;
}

/* One op application with the given params, shorthand for wrappers. */
static inline int mm_apply1(const mm_op *op, mm_tensor *x,
                            const mm_op_params *p, mm_tensor **out) {
    return mm_op_apply(op, 1, &x, p, out);
}
static inline int mm_apply2(const mm_op *op, mm_tensor *a, mm_tensor *b,
                            const mm_op_params *p, mm_tensor **out) {
    mm_tensor *in[2] = {a, b};
    return mm_op_apply(op, 2, in, p, out);
}

/* Element i of a contiguous tensor as a double, for reference kernels. */
static inline double mm_ld(const mm_tensor *t, int64_t i) {
    return mm_load_f64((const char *)mm_tensor_data(t) +
                           i * (int64_t)mm_dtype_size(t->dtype),
                       t->dtype);
}

static inline void mm_st(mm_tensor *t, int64_t i, double v) {
    mm_store_f64((char *)mm_tensor_data(t) +
                     i * (int64_t)mm_dtype_size(t->dtype),
                 t->dtype, v);
}

/* The end of a wrapper that made temporaries in `pool`: on failure close
 * it and return rc, else keep `keep` as the result. */
static inline int mm_pool_finish(mm_pool *pool, int rc, mm_tensor *keep,
                                 mm_tensor **out) {
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, keep, out);
}

/* Op observing (mm_ops_set_observer): a composite function with a name of
 * its own brackets its body with begin/end, so the ops inside it are not
 * reported and it is reported once, as `name`, when it succeeded. */
void mm_ops_observe_begin(void);
int mm_ops_observe_end(int rc, const char *name, int n,
                       mm_tensor *const *inputs, mm_tensor *const *out,
                       bool training);
/* The dispatcher's report of one table op. */
void mm_ops_observe_op(const char *name, int n, mm_tensor *const *inputs,
                       const mm_tensor *out);

/* Same as mm_tensor_retain + publish: return x itself as a new result. */
static inline int mm_return_same(mm_tensor *x, mm_tensor **out) {
    return mm_tensor_publish(mm_tensor_retain(x), out);
}

#endif
