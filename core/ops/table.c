/* The table of built-in ops, indexed by mm_op_id. A new op adds its id to
 * <mm/ops.h> and its row here; tests/ops checks that every row is filled
 * and named. */
#include "elementwise_internal.h"
#include "ops_internal.h"
#include "norm_internal.h"
#include "index_impl.h"
#include "reduction_impl.h"
#include "loss_impl.h"

#include <assert.h>
#include <string.h>

static const mm_op *const op_table[] = {
    [MM_OP_TO] = &mm_op_to,
    [MM_OP_VIEW] = &mm_op_view,
    [MM_OP_PERMUTE] = &mm_op_permute,
    [MM_OP_SLICE] = &mm_op_slice,
    [MM_OP_EXPAND] = &mm_op_expand,
    [MM_OP_CAT] = &mm_op_cat,
    [MM_OP_FLIP] = &mm_op_flip,
    [MM_OP_ADD] = &mm_op_add,
    [MM_OP_SUB] = &mm_op_sub,
    [MM_OP_MUL] = &mm_op_mul,
    [MM_OP_DIV] = &mm_op_div,
    [MM_OP_RELU_BACKWARD] = &mm_op_relu_backward,
    [MM_OP_SIGMOID_BACKWARD] = &mm_op_sigmoid_backward,
    [MM_OP_TANH_BACKWARD] = &mm_op_tanh_backward,
    [MM_OP_NEG] = &mm_op_neg,
    [MM_OP_EXP] = &mm_op_exp,
    [MM_OP_LOG] = &mm_op_log,
    [MM_OP_RELU] = &mm_op_relu,
    [MM_OP_SIGMOID] = &mm_op_sigmoid,
    [MM_OP_TANH] = &mm_op_tanh,
    [MM_OP_SUM] = &mm_op_sum,
    [MM_OP_MEAN] = &mm_op_mean,
    [MM_OP_MATMUL] = &mm_op_matmul,
    /* convolution and pooling */
    [MM_OP_CONV] = &mm_op_conv,
    [MM_OP_CONV_TRANSPOSE] = &mm_op_conv_transpose,
    [MM_OP_CONV_WEIGHT_GRAD] = &mm_op_conv_weight_grad,
    [MM_OP_CONV_FUSED] = &mm_op_conv_fused,
    [MM_OP_MAX_POOL] = &mm_op_max_pool,
    [MM_OP_MAX_POOL_INDICES] = &mm_op_max_pool_indices,
    [MM_OP_AVG_POOL] = &mm_op_avg_pool,
    [MM_OP_MAX_POOL_BACKWARD] = &mm_op_max_pool_backward,
    [MM_OP_AVG_POOL_BACKWARD] = &mm_op_avg_pool_backward,
    /* norm */
    [MM_OP_SOFTMAX] = &mm_op_softmax,
    [MM_OP_LOG_SOFTMAX] = &mm_op_log_softmax,
    [MM_OP_MOMENTS] = &mm_op_moments,
    [MM_OP_NORMALIZE] = &mm_op_normalize,
    [MM_OP_NORMALIZE_AFFINE] = &mm_op_normalize_affine,
    [MM_OP_NORM_TRAIN] = &mm_op_norm_train,
    [MM_OP_NORM_GRAD_SUMS] = &mm_op_norm_grad_sums,
    [MM_OP_NORM_GRAD_INPUT] = &mm_op_norm_grad_input,
    [MM_OP_INTERPOLATE] = &mm_op_interpolate,
    [MM_OP_INTERPOLATE_BACKWARD] = &mm_op_interpolate_backward,
    [MM_OP_GRID_SAMPLE] = &mm_op_grid_sample,
    [MM_OP_GRID_SAMPLE_GRAD_INPUT] = &mm_op_grid_sample_grad_input,
    [MM_OP_GRID_SAMPLE_GRAD_GRID] = &mm_op_grid_sample_grad_grid,
    /* reductions and indexing */
    [MM_OP_AMAX] = &mm_op_amax,
    [MM_OP_AMIN] = &mm_op_amin,
    [MM_OP_VAR] = &mm_op_var,
    [MM_OP_STD] = &mm_op_std,
    [MM_OP_LOGSUMEXP] = &mm_op_logsumexp,
    [MM_OP_NORM] = &mm_op_norm,
    [MM_OP_PROD] = &mm_op_prod,
    [MM_OP_ALL] = &mm_op_all,
    [MM_OP_ANY] = &mm_op_any,
    [MM_OP_DIMRED_BACKWARD] = &mm_op_dimred_backward,
    [MM_OP_ARGMAX] = &mm_op_argmax,
    [MM_OP_ARGMIN] = &mm_op_argmin,
    [MM_OP_CUMSUM] = &mm_op_cumsum,
    [MM_OP_SORT] = &mm_op_sort,
    [MM_OP_GATHER] = &mm_op_gather,
    [MM_OP_SCATTER] = &mm_op_scatter,
    [MM_OP_SCATTER_VALUE] = &mm_op_scatter_value,
    [MM_OP_SCATTER_ADD] = &mm_op_scatter_add,
    [MM_OP_INDEX_SELECT] = &mm_op_index_select,
    [MM_OP_INDEX_ADD] = &mm_op_index_add,
    [MM_OP_MASKED_FILL] = &mm_op_masked_fill,
    [MM_OP_NONZERO] = &mm_op_nonzero,
    [MM_OP_ONE_HOT] = &mm_op_one_hot,
    [MM_OP_EMBEDDING] = &mm_op_embedding,
    [MM_OP_EMBEDDING_BACKWARD] = &mm_op_embedding_backward,
    [MM_OP_PAD] = &mm_op_pad,
    [MM_OP_PAD_BACKWARD] = &mm_op_pad_backward,
    /* elementwise */
    [MM_OP_POW] = &mm_op_pow,
    [MM_OP_POW_SCALAR] = &mm_op_pow_scalar,
    [MM_OP_MAXIMUM] = &mm_op_maximum,
    [MM_OP_MINIMUM] = &mm_op_minimum,
    [MM_OP_EQ] = &mm_op_eq,
    [MM_OP_NE] = &mm_op_ne,
    [MM_OP_LT] = &mm_op_lt,
    [MM_OP_LE] = &mm_op_le,
    [MM_OP_GT] = &mm_op_gt,
    [MM_OP_GE] = &mm_op_ge,
    [MM_OP_LOGICAL_AND] = &mm_op_logical_and,
    [MM_OP_LOGICAL_OR] = &mm_op_logical_or,
    [MM_OP_LOGICAL_XOR] = &mm_op_logical_xor,
    [MM_OP_LOGICAL_NOT] = &mm_op_logical_not,
    [MM_OP_WHERE] = &mm_op_where,
    [MM_OP_CLAMP] = &mm_op_clamp,
    [MM_OP_CLAMP_TENSOR] = &mm_op_clamp_tensor,
    [MM_OP_ABS] = &mm_op_abs,
    [MM_OP_LOG1P] = &mm_op_log1p,
    [MM_OP_SQRT] = &mm_op_sqrt,
    [MM_OP_RSQRT] = &mm_op_rsqrt,
    [MM_OP_SIN] = &mm_op_sin,
    [MM_OP_COS] = &mm_op_cos,
    [MM_OP_FLOOR] = &mm_op_floor,
    [MM_OP_CEIL] = &mm_op_ceil,
    [MM_OP_ROUND] = &mm_op_round,
    [MM_OP_SIGN] = &mm_op_sign,
    [MM_OP_ERF] = &mm_op_erf,
    [MM_OP_RELU6] = &mm_op_relu6,
    [MM_OP_LEAKY_RELU] = &mm_op_leaky_relu,
    [MM_OP_PRELU] = &mm_op_prelu,
    [MM_OP_ELU] = &mm_op_elu,
    [MM_OP_GELU] = &mm_op_gelu,
    [MM_OP_SILU] = &mm_op_silu,
    [MM_OP_HARDSWISH] = &mm_op_hardswish,
    [MM_OP_HARDSIGMOID] = &mm_op_hardsigmoid,
    [MM_OP_MISH] = &mm_op_mish,
    [MM_OP_SOFTPLUS] = &mm_op_softplus,
    [MM_OP_RELU6_BACKWARD] = &mm_op_relu6_backward,
    [MM_OP_LEAKY_RELU_BACKWARD] = &mm_op_leaky_relu_backward,
    [MM_OP_ELU_BACKWARD] = &mm_op_elu_backward,
    [MM_OP_GELU_BACKWARD] = &mm_op_gelu_backward,
    [MM_OP_SILU_BACKWARD] = &mm_op_silu_backward,
    [MM_OP_HARDSWISH_BACKWARD] = &mm_op_hardswish_backward,
    [MM_OP_HARDSIGMOID_BACKWARD] = &mm_op_hardsigmoid_backward,
    [MM_OP_MISH_BACKWARD] = &mm_op_mish_backward,
    [MM_OP_SOFTPLUS_BACKWARD] = &mm_op_softplus_backward,
    /* loss */
    [MM_OP_LOSS_POINTWISE] = &mm_op_loss_pointwise,
    [MM_OP_LOSS_POINTWISE_GRAD] = &mm_op_loss_pointwise_grad,
    [MM_OP_NLL_LOSS] = &mm_op_nll_loss,
    [MM_OP_NLL_LOSS_BACKWARD] = &mm_op_nll_loss_backward,
    [MM_OP_CROSS_ENTROPY] = &mm_op_cross_entropy,
    [MM_OP_CROSS_ENTROPY_BACKWARD] = &mm_op_cross_entropy_backward,
};
static_assert(sizeof op_table / sizeof op_table[0] == MM_OP_COUNT,
              "one row per mm_op_id");

const mm_op *mm_op_get(mm_op_id id) {
    if ((unsigned)id >= MM_OP_COUNT)
        return NULL;
    return op_table[id];
}

const mm_op *mm_op_find(const char *name) {
    for (int i = 0; name && i < MM_OP_COUNT; i++)
        if (op_table[i] && strcmp(op_table[i]->name, name) == 0)
            return op_table[i];
    return NULL;
}
