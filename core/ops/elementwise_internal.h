/* The elementwise family (elementwise.c, activation.c,
 * cpu/elementwise_cpu.c): op definitions, variant codes, and the pieces the
 * files share. */
#ifndef MM_ELEMENTWISE_INTERNAL_H
#define MM_ELEMENTWISE_INTERNAL_H

#include "mm/elementwise.h"
#include "ops_internal.h"

/* The op definitions the table indexes. */
extern const mm_op mm_op_pow, mm_op_pow_scalar, mm_op_maximum, mm_op_minimum,
    mm_op_eq, mm_op_ne, mm_op_lt, mm_op_le, mm_op_gt, mm_op_ge,
    mm_op_logical_and, mm_op_logical_or, mm_op_logical_xor, mm_op_logical_not,
    mm_op_where, mm_op_clamp, mm_op_clamp_tensor, mm_op_abs, mm_op_log1p,
    mm_op_sqrt, mm_op_rsqrt, mm_op_sin, mm_op_cos, mm_op_floor, mm_op_ceil,
    mm_op_round, mm_op_sign, mm_op_erf;
extern const mm_op mm_op_relu6, mm_op_leaky_relu, mm_op_prelu, mm_op_elu,
    mm_op_gelu, mm_op_silu, mm_op_hardswish, mm_op_hardsigmoid, mm_op_mish,
    mm_op_softplus, mm_op_relu6_backward, mm_op_leaky_relu_backward,
    mm_op_elu_backward, mm_op_gelu_backward, mm_op_silu_backward,
    mm_op_hardswish_backward, mm_op_hardsigmoid_backward, mm_op_mish_backward,
    mm_op_softplus_backward;

/* Variants (mm_op.code). Params of each, as the op reads them:
 *   pow_scalar   f[0] = exponent
 *   clamp        i[0] = has min, i[1] = has max, f[0] = min, f[1] = max
 *   clamp_tensor inputs (x, [min], [max]); i[0] = has min, i[1] = has max
 *   leaky_relu   f[0] = negative slope
 *   elu          f[0] = alpha
 *   gelu         i[0] = mm_gelu_approximate
 *   softplus     f[0] = beta, f[1] = threshold
 * The backward ops (inputs: grad, x) take their forward's params. */
enum {
    /* unary, output of the input's dtype */
    EW_ABS,
    EW_LOG1P,
    EW_SQRT,
    EW_RSQRT,
    EW_SIN,
    EW_COS,
    EW_FLOOR,
    EW_CEIL,
    EW_ROUND,
    EW_SIGN,
    EW_ERF,
    EW_POW_SCALAR,
    EW_CLAMP,
    EW_RELU6,
    EW_LEAKY_RELU,
    EW_ELU,
    EW_GELU,
    EW_SILU,
    EW_HARDSWISH,
    EW_HARDSIGMOID,
    EW_MISH,
    EW_SOFTPLUS,
    EW_UNARY_END,
    /* unary, bool output */
    EW_LOGICAL_NOT = EW_UNARY_END,
    /* binary, output of the inputs' dtype */
    EW_POW,
    EW_MAXIMUM,
    EW_MINIMUM,
    EW_PRELU,
    /* binary (grad, x) -> grad of the input, floats only */
    EW_RELU6_BW,
    EW_LEAKY_RELU_BW,
    EW_ELU_BW,
    EW_GELU_BW,
    EW_SILU_BW,
    EW_HARDSWISH_BW,
    EW_HARDSIGMOID_BW,
    EW_MISH_BW,
    EW_SOFTPLUS_BW,
    /* binary, bool output */
    EW_EQ,
    EW_NE,
    EW_LT,
    EW_LE,
    EW_GT,
    EW_GE,
    EW_LOGICAL_AND,
    EW_LOGICAL_OR,
    EW_LOGICAL_XOR,
    /* others */
    EW_WHERE,
    EW_CLAMP_TENSOR,
    EW_CODE_COUNT
};

static inline bool ew_is_compare(int code) {
    return code >= EW_EQ && code <= EW_GE;
}
static inline bool ew_is_logical(int code) {
    return code == EW_LOGICAL_NOT ||
           (code >= EW_LOGICAL_AND && code <= EW_LOGICAL_XOR);
}
static inline bool ew_is_backward(int code) {
    return code >= EW_RELU6_BW && code <= EW_SOFTPLUS_BW;
}

/* The layout of an elementwise op's output (PyTorch's rule): the first
 * input with the output's full shape (3 to 5 dims) whose strides say
 * channels-last or row-major decides; inputs that say neither clearly
 * (size-1 dims making both orders the same, stride-0 expanded dims) are
 * skipped. Infer of every op on mm_iter calls it after the shape is set. */
void mm_ew_infer_format(mm_op_ctx *ctx);

/* Where output element i (row-major over the logical shape) lives: the
 * output may be channels-last, or any tensor mm_binary_into writes. */
static inline char *mm_ew_out_elem(mm_tensor *out, int64_t i) {
    return (char *)out->storage->data + mm_tensor_elem_offset(out, i);
}

/* Shared by elementwise.c and activation.c: shape/dtype inference and the
 * reference kernels of the unary (1 input) and binary (2 inputs) ops. */
int mm_ew_unary_infer(mm_op_ctx *ctx);
int mm_ew_unary_reference(mm_op_ctx *ctx);
int mm_ew_binary_infer(mm_op_ctx *ctx);
int mm_ew_binary_reference(mm_op_ctx *ctx);

/* Optimised CPU kernels (cpu/elementwise_cpu.c). */
int mm_cpu_ew_unary(mm_op_ctx *ctx);
int mm_cpu_ew_binary(mm_op_ctx *ctx);
int mm_cpu_where(mm_op_ctx *ctx);
int mm_cpu_clamp_tensor(mm_op_ctx *ctx);

#endif
