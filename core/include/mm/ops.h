/* mm/ops.h - the op table, the kernels' toolkit, and the math ops.
 *
 * Every op that makes a tensor from tensors is one mm_op: a name, an infer
 * function (checks the inputs, gives the output dtype and shape, or for a
 * view its strides and offset), a plain obviously-correct reference kernel
 * (the oracle of the tests and the last-resort fallback), an optimised kernel
 * per device (may be NULL; may return MM_EUNSUPPORTED for a case it leaves
 * to the reference), and a backward (NULL: not differentiable).
 *
 * mm_op_apply runs one: it checks devices, calls infer, allocates the
 * contiguous output (or builds the view), runs the kernel, records an
 * autograd node when grad mode is on and an input requires grad, and hands
 * the output to the pool. Public functions such as mm_add are thin wrappers
 * that fill mm_op_params and call mm_op_apply; composite functions (mm_repeat,
 * mm_stack) call other ops and so get their backward for free.
 *
 * The built-in ops live in one table indexed by mm_op_id (mm_op_get). A
 * plugin can define its own mm_op the same way and call mm_op_apply.
 *
 * How to add an op: docs/tensors.md, "Adding an op". In short: a file in
 * core/ops/ with infer + reference + backward + the public wrapper, a CPU
 * kernel in core/ops/cpu/, a row in core/ops/table.c, and tests in
 * tests/ops/ against the reference and by mm_gradcheck. */
#ifndef MM_OPS_H
#define MM_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- op definitions ----------------------------------------------------- */

#define MM_OP_MAX_IPARAMS 20
#define MM_OP_MAX_FPARAMS 4
#define MM_OP_MAX_SAVED 4

/* Scalar parameters of one op call, copied into the autograd node. Each op
 * documents its layout next to its definition (add: f[0] = alpha; sum:
 * i[0] = dim mask, i[1] = keepdim; permute: i[0..ndim-1] = dims; ...). */
typedef struct mm_op_params {
    int64_t i[MM_OP_MAX_IPARAMS];
    double f[MM_OP_MAX_FPARAMS];
} mm_op_params;

typedef struct mm_op mm_op;
typedef struct mm_node mm_node;

/* One call of an op, as infer and the kernels see it. */
typedef struct mm_op_ctx {
    const mm_op *op;
    int n_inputs;
    mm_tensor *const *inputs;
    const mm_op_params *params;
    /* set by infer */
    mm_dtype out_dtype;
    int out_ndim;
    int64_t out_shape[MM_MAX_DIMS];
    int64_t out_stride[MM_MAX_DIMS]; /* MM_OP_FLAG_VIEW ops only */
    int64_t out_offset;              /* MM_OP_FLAG_VIEW ops only */
    /* the output (uninitialised, laid out as out_format) the kernel fills */
    mm_tensor *out;
    /* true when an autograd node will be recorded: only then need the
     * kernel keep anything for backward */
    bool recording;
    /* tensors the kernel keeps for backward (owned references; the
     * dispatcher moves them into the node or releases them). Never the
     * output itself (a cycle): ask for MM_OP_FLAG_SAVE_OUTPUT instead. */
    int n_saved;
    mm_tensor *saved[MM_OP_MAX_SAVED];
    /* set by infer: the output's layout, MM_FORMAT_CONTIGUOUS unless infer
     * asks for channels-last (ABI 1.2; last, so the fields above keep the
     * offsets 1.1 plugins were built with) */
    mm_memory_format out_format;
} mm_op_ctx;

/* Check the inputs and describe the output in ctx (one-line error
 * "<op>: ..." otherwise). */
typedef int (*mm_op_infer_fn)(mm_op_ctx *ctx);
/* Fill ctx->out from ctx->inputs. Inputs may have any strides (broadcast
 * stride 0 included) unless the op sets MM_OP_FLAG_CONTIGUOUS. */
typedef int (*mm_op_kernel_fn)(mm_op_ctx *ctx);
/* Given dL/d(output), compute dL/d(input i) for each i with
 * node->needs_grad[i] (leave the others NULL). Runs with grad mode off
 * inside a pool, so it simply calls ops; results are borrowed from that
 * pool. A gradient must have its input's shape. */
typedef int (*mm_op_backward_fn)(const mm_node *node, mm_tensor *grad_out,
                                 mm_tensor **grad_inputs);

enum {
    /* the output is a view of inputs[0]: infer sets shape, strides, offset */
    MM_OP_FLAG_VIEW = 1u << 0,
    /* keep a detached alias of the output for backward (node->output) */
    MM_OP_FLAG_SAVE_OUTPUT = 1u << 1,
    /* the dispatcher makes inputs contiguous before the kernel runs */
    MM_OP_FLAG_CONTIGUOUS = 1u << 2,
    /* with MM_OP_FLAG_CONTIGUOUS: inputs already dense in channels-last
     * order (mm_tensor_is_channels_last) reach the kernel as they are; the
     * kernel reads either layout and infer may set out_format */
    MM_OP_FLAG_CHANNELS_LAST = 1u << 3,
};

struct mm_op {
    const char *name;
    int n_inputs; /* -1: any number >= 1 */
    unsigned flags;
    int code; /* variant within a family (which binary function, ...) */
    mm_op_infer_fn infer;
    mm_op_kernel_fn reference; /* NULL only for views */
    mm_op_kernel_fn kernel[MM_DEVICE_TYPE_COUNT];
    mm_op_backward_fn backward;
};

/* The autograd record of one op application, owned by its output tensor
 * (grad_fn). It keeps its inputs alive. Backward functions read it. */
struct mm_node {
    const mm_op *op;
    int n_inputs;
    mm_tensor **inputs; /* retained */
    bool *needs_grad;   /* per input: it requires grad */
    mm_op_params params;
    int n_saved;
    mm_tensor *saved[MM_OP_MAX_SAVED]; /* owned */
    mm_tensor *output; /* detached alias (MM_OP_FLAG_SAVE_OUTPUT) */
    mm_dtype out_dtype;
    int out_ndim;
    int64_t out_shape[MM_MAX_DIMS];
    uint64_t seq; /* creation order: inputs' nodes are older */
    /* scratch of the backward engine */
    uint64_t mark;
    mm_tensor *grad_acc;
};

/* Run `op` on the inputs. */
MM_API int mm_op_apply(const mm_op *op, int n_inputs, mm_tensor *const *inputs,
                       const mm_op_params *params,
                       mm_tensor **out) MM_NODISCARD;

/* ---- observing ops (model analysis: `mm analyze complexity`) ----------- *
 * An observer sees each op applied on its thread, after it ran: the op's
 * name, its inputs and its output. Composite functions with a meaning of
 * their own report once under their name instead of the ops inside them:
 * batch_norm, instance_norm, layer_norm, group_norm, adaptive_avg_pool2d,
 * upsample_nearest2d / upsample_bilinear2d (mm_interpolate on 4-D input),
 * grid_sampler; the rest report the table ops ("conv", "conv_transpose",
 * "matmul", ...). mm_linear reports its matmul. No observer: no cost. */
typedef struct mm_op_event {
    const char *name;
    int n_inputs;
    mm_tensor *const *inputs;
    const mm_tensor *out;
    bool training; /* batch_norm: batch statistics (training mode) */
} mm_op_event;
typedef void (*mm_op_observer_fn)(void *user, const mm_op_event *ev);
/* Set this thread's observer (NULL: none). */
MM_API void mm_ops_set_observer(mm_op_observer_fn fn, void *user);
/* Is an observer set on this thread? Fused fast paths (mm_conv_bn_act)
 * run their modules' ops one by one then, so the ops are seen as the
 * model's definition has them. */
MM_API bool mm_ops_observing(void);

/* Per thread: run reference kernels instead of the optimised ones (the tests
 * compare both). Returns the previous setting. MM_OPS_REFERENCE=1 in the
 * environment turns it on for every thread. */
MM_API bool mm_ops_set_reference(bool on);
MM_API bool mm_ops_reference(void);

/* ---- the table of built-in ops ------------------------------------------ */

typedef enum mm_op_id {
    MM_OP_TO,   /* dtype conversion / copy */
    MM_OP_VIEW, /* view with a new shape */
    MM_OP_PERMUTE,
    MM_OP_SLICE, /* narrow / slice with step */
    MM_OP_EXPAND,
    MM_OP_CAT,
    MM_OP_FLIP,
    MM_OP_ADD,
    MM_OP_SUB,
    MM_OP_MUL,
    MM_OP_DIV,
    MM_OP_RELU_BACKWARD,
    MM_OP_SIGMOID_BACKWARD,
    MM_OP_TANH_BACKWARD,
    MM_OP_NEG,
    MM_OP_EXP,
    MM_OP_LOG,
    MM_OP_RELU,
    MM_OP_SIGMOID,
    MM_OP_TANH,
    MM_OP_SUM,
    MM_OP_MEAN,
    MM_OP_MATMUL,
    /* convolution and pooling */
    MM_OP_CONV,
    MM_OP_CONV_TRANSPOSE,
    MM_OP_CONV_WEIGHT_GRAD,
    MM_OP_MAX_POOL,
    MM_OP_MAX_POOL_INDICES,
    MM_OP_AVG_POOL,
    MM_OP_MAX_POOL_BACKWARD,
    MM_OP_AVG_POOL_BACKWARD,
    /* norm */
    MM_OP_SOFTMAX,
    MM_OP_LOG_SOFTMAX,
    MM_OP_MOMENTS,   /* x (A, C, B) -> (2, C): mean, biased variance */
    MM_OP_NORMALIZE, /* (x - mean) / sqrt(var + eps) per channel */
    MM_OP_NORMALIZE_AFFINE, /* the same, * weight + bias per channel */
    MM_OP_NORM_TRAIN,       /* the same with batch stats, fused backward */
    MM_OP_NORM_GRAD_SUMS,
    MM_OP_NORM_GRAD_INPUT,
    MM_OP_INTERPOLATE,
    MM_OP_INTERPOLATE_BACKWARD,
    MM_OP_GRID_SAMPLE,
    MM_OP_GRID_SAMPLE_GRAD_INPUT,
    MM_OP_GRID_SAMPLE_GRAD_GRID,
    /* reductions and indexing */
    MM_OP_AMAX,
    MM_OP_AMIN,
    MM_OP_VAR,
    MM_OP_STD,
    MM_OP_LOGSUMEXP,
    MM_OP_NORM,
    MM_OP_PROD,
    MM_OP_ALL,
    MM_OP_ANY,
    MM_OP_DIMRED_BACKWARD,
    MM_OP_ARGMAX,
    MM_OP_ARGMIN,
    MM_OP_CUMSUM,
    MM_OP_SORT,
    MM_OP_GATHER,
    MM_OP_SCATTER,
    MM_OP_SCATTER_VALUE,
    MM_OP_SCATTER_ADD,
    MM_OP_INDEX_SELECT,
    MM_OP_INDEX_ADD,
    MM_OP_MASKED_FILL,
    MM_OP_NONZERO,
    MM_OP_ONE_HOT,
    MM_OP_EMBEDDING,
    MM_OP_EMBEDDING_BACKWARD,
    MM_OP_PAD,
    MM_OP_PAD_BACKWARD,
    /* elementwise */
    MM_OP_POW,
    MM_OP_POW_SCALAR,
    MM_OP_MAXIMUM,
    MM_OP_MINIMUM,
    MM_OP_EQ,
    MM_OP_NE,
    MM_OP_LT,
    MM_OP_LE,
    MM_OP_GT,
    MM_OP_GE,
    MM_OP_LOGICAL_AND,
    MM_OP_LOGICAL_OR,
    MM_OP_LOGICAL_XOR,
    MM_OP_LOGICAL_NOT,
    MM_OP_WHERE,
    MM_OP_CLAMP,
    MM_OP_CLAMP_TENSOR,
    MM_OP_ABS,
    MM_OP_LOG1P,
    MM_OP_SQRT,
    MM_OP_RSQRT,
    MM_OP_SIN,
    MM_OP_COS,
    MM_OP_FLOOR,
    MM_OP_CEIL,
    MM_OP_ROUND,
    MM_OP_SIGN,
    MM_OP_ERF,
    MM_OP_RELU6,
    MM_OP_LEAKY_RELU,
    MM_OP_PRELU,
    MM_OP_ELU,
    MM_OP_GELU,
    MM_OP_SILU,
    MM_OP_HARDSWISH,
    MM_OP_HARDSIGMOID,
    MM_OP_MISH,
    MM_OP_SOFTPLUS,
    MM_OP_RELU6_BACKWARD,
    MM_OP_LEAKY_RELU_BACKWARD,
    MM_OP_ELU_BACKWARD,
    MM_OP_GELU_BACKWARD,
    MM_OP_SILU_BACKWARD,
    MM_OP_HARDSWISH_BACKWARD,
    MM_OP_HARDSIGMOID_BACKWARD,
    MM_OP_MISH_BACKWARD,
    MM_OP_SOFTPLUS_BACKWARD,
    /* loss */
    MM_OP_LOSS_POINTWISE, /* mse, l1, smooth_l1, bce, bce with logits */
    MM_OP_LOSS_POINTWISE_GRAD,
    MM_OP_NLL_LOSS,
    MM_OP_NLL_LOSS_BACKWARD,
    MM_OP_CROSS_ENTROPY, /* fused log_softmax + nll, label smoothing */
    MM_OP_CROSS_ENTROPY_BACKWARD,
    MM_OP_CONV_FUSED, /* inference conv + bias + residual + activation */
    MM_OP_COUNT
} mm_op_id;

MM_API const mm_op *mm_op_get(mm_op_id id);
/* By name ("add"); NULL when unknown. */
MM_API const mm_op *mm_op_find(const char *name);

/* ---- kernel toolkit ----------------------------------------------------- */

/* Broadcast two shapes (numpy rules). `op` names the caller in the error:
 * "add: shapes [2, 3] and [4] cannot broadcast". */
MM_API int mm_broadcast_shapes(const char *op, int ndim_a, const int64_t *a,
                               int ndim_b, const int64_t *b, int *ndim_out,
                               int64_t *out);

/* Read an element as double / write a double with the dtype's conversion
 * (to integers: truncated toward zero and saturated; NaN gives 0). */
static inline double mm_load_f64(const void *p, mm_dtype dt) {
    switch (dt) {
    case MM_F32:
        return *(const float *)p;
    case MM_F64:
        return *(const double *)p;
    case MM_F16:
        return mm_f16_to_f32(*(const uint16_t *)p);
    case MM_BF16:
        return mm_bf16_to_f32(*(const uint16_t *)p);
    case MM_I64:
        return (double)*(const int64_t *)p;
    case MM_I32:
        return *(const int32_t *)p;
    case MM_U8:
        return *(const uint8_t *)p;
    case MM_BOOL:
        return *(const uint8_t *)p != 0;
    default:
        return 0;
    }
}

static inline int64_t mm_f64_to_i64_sat(double v) {
    if (v != v)
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static inline void mm_store_f64(void *p, mm_dtype dt, double v) {
    switch (dt) {
    case MM_F32:
        *(float *)p = (float)v;
        break;
    case MM_F64:
        *(double *)p = v;
        break;
    case MM_F16:
        *(uint16_t *)p = mm_f32_to_f16((float)v);
        break;
    case MM_BF16:
        *(uint16_t *)p = mm_f32_to_bf16((float)v);
        break;
    case MM_I64:
        *(int64_t *)p = mm_f64_to_i64_sat(v);
        break;
    case MM_I32: {
        int64_t x = mm_f64_to_i64_sat(v);
        *(int32_t *)p = x > INT32_MAX   ? INT32_MAX
                        : x < INT32_MIN ? INT32_MIN
                                        : (int32_t)x;
        break;
    }
    case MM_U8: {
        int64_t x = mm_f64_to_i64_sat(v);
        *(uint8_t *)p = x > 255 ? 255 : x < 0 ? 0 : (uint8_t)x;
        break;
    }
    case MM_BOOL:
        *(uint8_t *)p = v != 0;
        break;
    default:
        break;
    }
}

/* Integer dtypes exactly (floats truncate and saturate as above). */
static inline int64_t mm_load_i64(const void *p, mm_dtype dt) {
    switch (dt) {
    case MM_I64:
        return *(const int64_t *)p;
    case MM_I32:
        return *(const int32_t *)p;
    case MM_U8:
        return *(const uint8_t *)p;
    case MM_BOOL:
        return *(const uint8_t *)p != 0;
    default:
        return mm_f64_to_i64_sat(mm_load_f64(p, dt));
    }
}

static inline void mm_store_i64(void *p, mm_dtype dt, int64_t v) {
    switch (dt) {
    case MM_I64:
        *(int64_t *)p = v;
        break;
    case MM_I32:
        *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)v;
        break; /* wraps */
    case MM_U8:
        *(uint8_t *)p = (uint8_t)(uint64_t)v;
        break; /* wraps */
    case MM_BOOL:
        *(uint8_t *)p = v != 0;
        break;
    default:
        mm_store_f64(p, dt, (double)v);
        break;
    }
}

/* Byte offset of the element at row-major linear index i of t's logical
 * shape (reference kernels walk tensors this way). */
static inline int64_t mm_tensor_elem_offset(const mm_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t n = t->shape[d];
        off += (i % n) * t->stride[d];
        i /= n;
    }
    return (t->offset + off) * (int64_t)mm_dtype_size(t->dtype);
}

/* An N-operand strided loop, the engine of elementwise kernels (PyTorch's
 * TensorIterator in miniature). Operand 0 is the output and fixes the shape;
 * the others broadcast to it (stride 0). Dims are walked in the output's
 * memory order (innermost stride last), and adjacent dims that are
 * contiguous in every operand merge, so an op on dense operands of one
 * layout (contiguous or channels-last) is one long row. Elements are
 * visited in that order, not necessarily the logical row-major one. */
#define MM_ITER_MAX_OPERANDS 4

typedef struct mm_iter {
    int n;    /* operands */
    int ndim; /* after merging; >= 1 */
    int64_t shape[MM_MAX_DIMS];
    int64_t stride[MM_ITER_MAX_OPERANDS][MM_MAX_DIMS]; /* bytes */
    char *data[MM_ITER_MAX_OPERANDS];                  /* first element */
    int64_t numel;
} mm_iter;

/* Process n elements: data[k] is operand k's first element, strides[k] its
 * byte stride along the row. */
typedef void (*mm_iter_loop_fn)(char **data, const int64_t *strides, int64_t n,
                                void *ctx);

/* MM_EINVAL if an input does not broadcast to operands[0]'s shape. */
MM_API int mm_iter_init(mm_iter *it, int n,
                        mm_tensor *const *operands) MM_NODISCARD;
/* Call fn over every element, split into ranges of at least `grain`
 * elements across the OpenMP threads (serially when numel < grain). */
MM_API void mm_iter_run(const mm_iter *it, mm_iter_loop_fn fn, void *ctx,
                        int64_t grain);

/* Process `rows` rows of n elements (PyTorch's loop2d): row r of operand k
 * starts at data[k] + r * strides[MM_ITER_MAX_OPERANDS + k]; strides[k] is
 * its byte stride along a row. One call covers many short rows (a
 * channels-last x times a [N, C, 1, 1] scale is rows of C), so a loop that
 * inlines its row body pays no call per row. */
typedef void (*mm_iter_loop2d_fn)(char **data, const int64_t *strides,
                                  int64_t n, int64_t rows, void *ctx);
/* mm_iter_run with a 2-D loop. */
MM_API void mm_iter_run_2d(const mm_iter *it, mm_iter_loop2d_fn fn, void *ctx,
                           int64_t grain);

/* Default grain: below this many elements a loop runs on one thread. */
#define MM_GRAIN 32768

/* ---- elementwise math (broadcasting; dtypes promote as in PyTorch) ------ */

MM_API int mm_add(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
MM_API int mm_sub(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
/* a + alpha * b, a - alpha * b (torch.add(a, b, alpha=...)). */
MM_API int mm_add_alpha(mm_tensor *a, mm_tensor *b, double alpha,
                        mm_tensor **out) MM_NODISCARD;
MM_API int mm_sub_alpha(mm_tensor *a, mm_tensor *b, double alpha,
                        mm_tensor **out) MM_NODISCARD;
MM_API int mm_mul(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
/* True division: integer inputs give f32. */
MM_API int mm_div(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
/* With a Python-style scalar: the tensor's dtype wins unless the scalar is
 * not integral and the tensor is (then f32). */
MM_API int mm_add_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
MM_API int mm_sub_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
MM_API int mm_mul_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
MM_API int mm_div_scalar(mm_tensor *a, double s, mm_tensor **out) MM_NODISCARD;
/* In place: t += alpha * other (other broadcasts to t). Refused on tensors
 * that require grad while grad mode is on; for optimizers and accumulators. */
MM_API int mm_tensor_add_(mm_tensor *t, mm_tensor *other,
                          double alpha) MM_NODISCARD;
MM_API int mm_tensor_mul_scalar_(mm_tensor *t, double s) MM_NODISCARD;

MM_API int mm_neg(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
/* exp, ln, sigmoid, tanh: integer inputs give f32. mm_ln is torch.log (the
 * name mm_log belongs to the logger). */
MM_API int mm_exp(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_ln(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_relu(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_sigmoid(mm_tensor *x, mm_tensor **out) MM_NODISCARD;
MM_API int mm_tanh(mm_tensor *x, mm_tensor **out) MM_NODISCARD;

/* ---- reductions --------------------------------------------------------- */

/* Sum over `dims` (n_dims == 0: over all dims). keepdim keeps them as size
 * 1. Integer and bool inputs sum to i64, as in PyTorch. */
MM_API int mm_sum(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
                  mm_tensor **out) MM_NODISCARD;
/* Float inputs only. */
MM_API int mm_mean(mm_tensor *x, int n_dims, const int *dims, bool keepdim,
                   mm_tensor **out) MM_NODISCARD;
/* Sum x down to `shape` (the shape it was broadcast from), as torch's
 * sum_to_size: the backward of every broadcasting op uses it. */
MM_API int mm_sum_to_shape(mm_tensor *x, int ndim, const int64_t *shape,
                           mm_tensor **out) MM_NODISCARD;

/* ---- linear algebra ----------------------------------------------------- */

/* torch.matmul: 1-D x 1-D is a dot product, 2-D x 2-D a matrix product, a
 * 1-D operand gains then loses a dim, and leading (batch) dims broadcast.
 * Both operands must have the same dtype. oneDNN runs f32/bf16 on the CPU. */
MM_API int mm_matmul(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;
/* torch.bmm: (B, n, m) @ (B, m, p) -> (B, n, p); no broadcasting. */
MM_API int mm_bmm(mm_tensor *a, mm_tensor *b, mm_tensor **out) MM_NODISCARD;

/* ---- convolution and pooling ---- */

/* torch.nn.functional.conv1d/2d/3d: x [N, C, *in] (or unbatched [C, *in]),
 * weight [K, C/groups, *k] (OIHW), bias [K] or NULL. stride, padding and
 * dilation have one entry per spatial dim; NULL gives torch's defaults
 * (1, 0, 1). groups == C == K/m is depthwise. f32 (and bf16) run on oneDNN,
 * f64 on OpenMP loops. */
MM_API int mm_conv1d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                     const int64_t stride[1], const int64_t padding[1],
                     const int64_t dilation[1], int64_t groups,
                     mm_tensor **out) MM_NODISCARD;
MM_API int mm_conv2d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                     const int64_t stride[2], const int64_t padding[2],
                     const int64_t dilation[2], int64_t groups,
                     mm_tensor **out) MM_NODISCARD;
MM_API int mm_conv3d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                     const int64_t stride[3], const int64_t padding[3],
                     const int64_t dilation[3], int64_t groups,
                     mm_tensor **out) MM_NODISCARD;
/* Inference convolution with what follows it fused in (oneDNN post-ops):
 * y = act(conv(x, weight) + bias + residual). The spatial dims come from
 * the weight (1 to 3); bias (K) may be NULL; residual (may be NULL) has
 * the output's shape. There is no backward: the op refuses inputs that
 * require grad under grad mode (run the unfused ops to train). The
 * activation is one of mm_fused_act. Arrays as mm_conv2d (NULL: torch's
 * defaults). */
typedef enum mm_fused_act {
    MM_FUSED_NONE,
    MM_FUSED_RELU,
    MM_FUSED_RELU6,
    MM_FUSED_SILU,
    MM_FUSED_HARDSWISH,
} mm_fused_act;
MM_API int mm_conv_fused(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                         mm_tensor *residual, mm_fused_act act,
                         const int64_t *stride, const int64_t *padding,
                         const int64_t *dilation, int64_t groups,
                         mm_tensor **out) MM_NODISCARD;

/* torch.nn.functional.conv_transpose1d/2d/3d, torch's argument order:
 * weight [C_in, C_out/groups, *k]; output size per dim (in - 1) * stride -
 * 2 * padding + dilation * (k - 1) + output_padding + 1, output_padding
 * smaller than stride or dilation. */
MM_API int mm_conv_transpose1d(mm_tensor *x, mm_tensor *weight,
                               mm_tensor *bias, const int64_t stride[1],
                               const int64_t padding[1],
                               const int64_t output_padding[1], int64_t groups,
                               const int64_t dilation[1],
                               mm_tensor **out) MM_NODISCARD;
MM_API int mm_conv_transpose2d(mm_tensor *x, mm_tensor *weight,
                               mm_tensor *bias, const int64_t stride[2],
                               const int64_t padding[2],
                               const int64_t output_padding[2], int64_t groups,
                               const int64_t dilation[2],
                               mm_tensor **out) MM_NODISCARD;
MM_API int mm_conv_transpose3d(mm_tensor *x, mm_tensor *weight,
                               mm_tensor *bias, const int64_t stride[3],
                               const int64_t padding[3],
                               const int64_t output_padding[3], int64_t groups,
                               const int64_t dilation[3],
                               mm_tensor **out) MM_NODISCARD;

/* torch.nn.functional.max_pool1d/2d/3d: x [N, C, *in] or [C, *in]; stride
 * NULL means kernel_size, padding NULL zeros (at most half the kernel),
 * dilation NULL ones. *out gets the values, *indices (either may be NULL,
 * not both) the i64 position of each maximum, flat within its channel's
 * plane, as torch's return_indices=True. A NaN in a window wins. */
MM_API int mm_max_pool1d(mm_tensor *x, const int64_t kernel_size[1],
                         const int64_t stride[1], const int64_t padding[1],
                         const int64_t dilation[1], bool ceil_mode,
                         mm_tensor **out, mm_tensor **indices) MM_NODISCARD;
MM_API int mm_max_pool2d(mm_tensor *x, const int64_t kernel_size[2],
                         const int64_t stride[2], const int64_t padding[2],
                         const int64_t dilation[2], bool ceil_mode,
                         mm_tensor **out, mm_tensor **indices) MM_NODISCARD;
MM_API int mm_max_pool3d(mm_tensor *x, const int64_t kernel_size[3],
                         const int64_t stride[3], const int64_t padding[3],
                         const int64_t dilation[3], bool ceil_mode,
                         mm_tensor **out, mm_tensor **indices) MM_NODISCARD;
/* torch.nn.functional.avg_pool1d/2d/3d; divisor_override 0 means none
 * (avg_pool1d has none, as in torch). */
MM_API int mm_avg_pool1d(mm_tensor *x, const int64_t kernel_size[1],
                         const int64_t stride[1], const int64_t padding[1],
                         bool ceil_mode, bool count_include_pad,
                         mm_tensor **out) MM_NODISCARD;
MM_API int mm_avg_pool2d(mm_tensor *x, const int64_t kernel_size[2],
                         const int64_t stride[2], const int64_t padding[2],
                         bool ceil_mode, bool count_include_pad,
                         int64_t divisor_override,
                         mm_tensor **out) MM_NODISCARD;
MM_API int mm_avg_pool3d(mm_tensor *x, const int64_t kernel_size[3],
                         const int64_t stride[3], const int64_t padding[3],
                         bool ceil_mode, bool count_include_pad,
                         int64_t divisor_override,
                         mm_tensor **out) MM_NODISCARD;
/* Adaptive pools: output i of a dim of size In covers [floor(i In / Out),
 * ceil((i + 1) In / Out)). An output_size entry < 0 keeps the input's size
 * (torch's None). */
MM_API int mm_adaptive_avg_pool2d(mm_tensor *x, const int64_t output_size[2],
                                  mm_tensor **out) MM_NODISCARD;
MM_API int mm_adaptive_max_pool2d(mm_tensor *x, const int64_t output_size[2],
                                  mm_tensor **out,
                                  mm_tensor **indices) MM_NODISCARD;
MM_API int mm_adaptive_avg_pool1d(mm_tensor *x, const int64_t output_size[1],
                                  mm_tensor **out) MM_NODISCARD;
MM_API int mm_adaptive_avg_pool3d(mm_tensor *x, const int64_t output_size[3],
                                  mm_tensor **out) MM_NODISCARD;
MM_API int mm_adaptive_max_pool1d(mm_tensor *x, const int64_t output_size[1],
                                  mm_tensor **out,
                                  mm_tensor **indices) MM_NODISCARD;
MM_API int mm_adaptive_max_pool3d(mm_tensor *x, const int64_t output_size[3],
                                  mm_tensor **out,
                                  mm_tensor **indices) MM_NODISCARD;
/* ---- norm ---- */

struct mm_generator;

/* torch.softmax / torch.log_softmax along dim (float inputs). */
MM_API int mm_softmax(mm_tensor *x, int dim, mm_tensor **out) MM_NODISCARD;
MM_API int mm_log_softmax(mm_tensor *x, int dim, mm_tensor **out) MM_NODISCARD;

/* F.batch_norm on (N, C, *). running_mean / running_var (C) may be NULL in
 * training; in training the batch stats normalise and the running stats (when
 * given) are updated in place: r = (1 - momentum) r + momentum * stat, with
 * the unbiased batch variance. weight / bias (C) may be NULL. */
MM_API int mm_batch_norm(mm_tensor *x, mm_tensor *running_mean,
                         mm_tensor *running_var, mm_tensor *weight,
                         mm_tensor *bias, bool training, double momentum,
                         double eps, mm_tensor **out) MM_NODISCARD;
/* F.instance_norm on (N, C, *): per-sample batch norm; the running stats
 * (C, may be NULL) take the mean over the batch of the per-sample stats. */
MM_API int mm_instance_norm(mm_tensor *x, mm_tensor *running_mean,
                            mm_tensor *running_var, mm_tensor *weight,
                            mm_tensor *bias, bool use_input_stats,
                            double momentum, double eps,
                            mm_tensor **out) MM_NODISCARD;
/* F.layer_norm over the trailing dims given by normalized_shape; weight and
 * bias (normalized_shape, may be NULL). */
MM_API int mm_layer_norm(mm_tensor *x, int n_norm,
                         const int64_t *normalized_shape, mm_tensor *weight,
                         mm_tensor *bias, double eps,
                         mm_tensor **out) MM_NODISCARD;
/* F.group_norm on (N, C, *); weight / bias (C, may be NULL). */
MM_API int mm_group_norm(mm_tensor *x, int64_t num_groups, mm_tensor *weight,
                         mm_tensor *bias, double eps,
                         mm_tensor **out) MM_NODISCARD;
/* F.linear: x (..., in) W^T (W: [out, in]) + bias (out, may be NULL). */
MM_API int mm_linear(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                     mm_tensor **out) MM_NODISCARD;
/* F.dropout: in training, zero each element with probability p (from the
 * generator; NULL: the default one) and scale the rest by 1 / (1 - p);
 * otherwise (or p == 0) x itself. */
MM_API int mm_dropout(mm_tensor *x, double p, bool training,
                      struct mm_generator *gen, mm_tensor **out) MM_NODISCARD;
/* F.scaled_dot_product_attention: q (..., L, E), k (..., S, E),
 * v (..., S, Ev) -> (..., L, Ev). attn_mask (broadcast to (..., L, S), may be
 * NULL): bool (true = attend) or additive float; is_causal masks j > i;
 * scale NULL means 1 / sqrt(E); dropout_p applies to the attention weights
 * with gen. Composed of ops (math path). */
MM_API int mm_scaled_dot_product_attention(
    mm_tensor *q, mm_tensor *k, mm_tensor *v, mm_tensor *attn_mask,
    double dropout_p, bool is_causal, const double *scale,
    struct mm_generator *gen, mm_tensor **out) MM_NODISCARD;

typedef enum mm_interp_mode {
    MM_INTERP_NEAREST,  /* torch's 'nearest': floor(dst * in / out) */
    MM_INTERP_BILINEAR,
    MM_INTERP_BICUBIC, /* A = -0.75, indices clamped at the border */
    MM_INTERP_LINEAR,    /* (N, C, L) only */
    MM_INTERP_TRILINEAR, /* (N, C, D, H, W) only */
} mm_interp_mode;

/* F.interpolate on (N, C, L), (N, C, H, W) or (N, C, D, H, W): exactly one
 * of size and scale_factor (one value per spatial dim; output = floor(in *
 * scale), and the scale itself sets the source index unless align_corners)
 * is given. nearest takes any of the three; linear, bilinear/bicubic and
 * trilinear need 3-D, 4-D and 5-D input, as torch's. align_corners is for
 * the interpolating modes only. */
MM_API int mm_interpolate(mm_tensor *x, const int64_t *size,
                          const double *scale_factor, mm_interp_mode mode,
                          bool align_corners, mm_tensor **out) MM_NODISCARD;

typedef enum mm_grid_sample_mode {
    MM_GRID_SAMPLE_BILINEAR,
    MM_GRID_SAMPLE_NEAREST,
} mm_grid_sample_mode;
typedef enum mm_grid_sample_padding {
    MM_GRID_SAMPLE_ZEROS,
    MM_GRID_SAMPLE_BORDER,
    MM_GRID_SAMPLE_REFLECTION,
} mm_grid_sample_padding;

/* F.grid_sample on x (N, C, H, W) with grid (N, Ho, Wo, 2) of (x, y) in
 * [-1, 1] -> (N, C, Ho, Wo). Differentiable in x and grid (the grid's
 * gradient is zero for nearest). */
MM_API int mm_grid_sample(mm_tensor *x, mm_tensor *grid,
                          mm_grid_sample_mode mode,
                          mm_grid_sample_padding padding, bool align_corners,
                          mm_tensor **out) MM_NODISCARD;

/* ---- comparison --------------------------------------------------------- */

/* Same shape and |a - b| <= atol + rtol * |b| everywhere (a NaN matches
 * only a NaN). *max_err (may be NULL) gets the largest |a - b|. */
MM_API bool mm_allclose(const mm_tensor *a, const mm_tensor *b, double rtol,
                        double atol, double *max_err);

#ifdef __cplusplus
}
#endif
#endif
