/* bf16 / f16 optimised kernels (binary, unary, elementwise, sum/mean)
 * against the reference kernels, which compute in double.
 *
 * Exact group: ops whose f32 result rounds to the same half value as the
 * reference's double result: selections and comparisons (relu, neg, abs,
 * maximum, clamp, eq, gt, where) and the correctly rounded + - * / (for
 * half inputs the double result is exact or, for /, rounds innocuously
 * through f32), so they must agree bit for bit.
 * Ulp group: transcendental ops (f32 libm vs double libm) and sum/mean (f32
 * vs double accumulation) must agree within 1 ulp of the dtype (rtol
 * 2^-7 for bf16, 2^-10 for f16, plus a tiny atol for f16 subnormals). */
#include "mm/threads.h"
#include "ops_testing.h"

typedef enum {
    /* exact */
    H_ADD,
    H_SUB,
    H_MUL,
    H_DIV,
    H_RELU,
    H_NEG,
    H_ABS,
    H_MAXIMUM,
    H_CLAMP,
    H_CLAMP_TENSOR,
    H_EQ,
    H_GT,
    H_WHERE,
    H_MINIMUM,
    H_RELU6,
    H_FLOOR,
    H_SIGN,
    H_RELU_GRAD,
    H_EXACT_END,
    /* within 1 ulp */
    H_EXP = H_EXACT_END,
    H_TANH,
    H_SIGMOID,
    H_GELU,
    H_GELU_TANH,
    H_SILU,
    H_SQRT_ABS,
    H_LEAKY_RELU,
    H_ELU,
    H_HARDSWISH,
    H_HARDSIGMOID,
    H_MISH,
    H_SOFTPLUS,
    H_LOG1P_ABS,
    H_POW2,
    H_SIN,
    H_ERF,
    H_GELU_GRAD,
    H_SILU_GRAD,
    H_SIGMOID_GRAD,
    H_TANH_GRAD,
    H_MISH_GRAD,
    H_LEAKY_RELU_GRAD,
    H_SUM_ALL,
    H_SUM_LAST,
    H_SUM_FIRST,
    H_MEAN_LAST,
    H_COUNT
} half_op;

static const char *const names[H_COUNT] = {
    "add", "sub", "mul", "div", "relu", "neg", "abs", "maximum", "clamp",
    "clamp_tensor", "eq", "gt", "where", "minimum", "relu6", "floor", "sign",
    "relu_grad", "exp", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu",
    "sqrt_abs", "leaky_relu", "elu", "hardswish", "hardsigmoid", "mish",
    "softplus", "log1p_abs", "pow2", "sin", "erf", "gelu_grad", "silu_grad",
    "sigmoid_grad", "tanh_grad", "mish_grad", "leaky_relu_grad", "sum_all",
    "sum_last", "sum_first", "mean_last",
};

static bool is_binary(half_op op) {
    return op <= H_DIV || op == H_MAXIMUM || op == H_CLAMP_TENSOR ||
           op == H_EQ || op == H_GT || op == H_WHERE || op == H_MINIMUM;
}

static int forward(half_op op, mm_tensor *a, mm_tensor **out);

/* The input gradient of forward(op) at in[0] for grad_output in[1]. */
static int grad_of(half_op op, mm_tensor *const *in, mm_tensor **out) {
    mm_tensor *x, *y;
    MM_TRY(mm_detach(in[0], &x));
    MM_TRY(mm_tensor_set_requires_grad(x, true));
    MM_TRY(forward(op, x, &y));
    MM_TRY(mm_backward_with_grad(y, in[1]));
    *out = mm_tensor_grad(x);
    return *out ? 0 : -1;
}

static int forward(half_op op, mm_tensor *a, mm_tensor **out) {
    switch (op) {
    case H_RELU_GRAD:
        return mm_relu(a, out);
    case H_GELU_GRAD:
        return mm_gelu(a, MM_GELU_NONE, out);
    case H_SILU_GRAD:
        return mm_silu(a, out);
    case H_SIGMOID_GRAD:
        return mm_sigmoid(a, out);
    case H_TANH_GRAD:
        return mm_tanh(a, out);
    case H_MISH_GRAD:
        return mm_mish(a, out);
    default:
        return mm_leaky_relu(a, 0.2, out);
    }
}

static int apply(void *ctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    half_op op = *(half_op *)ctx;
    mm_tensor *a = in[0], *b = is_binary(op) ? in[1] : NULL, *t;
    switch (op) {
    case H_ADD:
        return mm_add(a, b, out);
    case H_SUB:
        return mm_sub(a, b, out);
    case H_MUL:
        return mm_mul(a, b, out);
    case H_DIV:
        return mm_div(a, b, out);
    case H_RELU:
        return mm_relu(a, out);
    case H_NEG:
        return mm_neg(a, out);
    case H_ABS:
        return mm_abs(a, out);
    case H_MAXIMUM:
        return mm_maximum(a, b, out);
    case H_CLAMP:
        return mm_clamp(a, -0.5, 0.75, out);
    case H_CLAMP_TENSOR:
        return mm_clamp_tensor(a, b, NULL, out);
    case H_EQ:
        return mm_eq(a, b, out);
    case H_GT:
        return mm_gt(a, b, out);
    case H_WHERE:
        if (mm_gt_scalar(a, 0.0, &t) < 0)
            return -1;
        return mm_where(t, a, b, out);
    case H_MINIMUM:
        return mm_minimum(a, b, out);
    case H_RELU6:
        if (mm_mul_scalar(a, 4.0, &t) < 0)
            return -1;
        return mm_relu6(t, out);
    case H_FLOOR:
        if (mm_mul_scalar(a, 4.0, &t) < 0)
            return -1;
        return mm_floor(t, out);
    case H_SIGN:
        return mm_sign(a, out);
    case H_LEAKY_RELU:
        return mm_leaky_relu(a, 0.2, out);
    case H_ELU:
        return mm_elu(a, 1.0, out);
    case H_HARDSWISH:
        if (mm_mul_scalar(a, 4.0, &t) < 0)
            return -1;
        return mm_hardswish(t, out);
    case H_HARDSIGMOID:
        if (mm_mul_scalar(a, 4.0, &t) < 0)
            return -1;
        return mm_hardsigmoid(t, out);
    case H_MISH:
        return mm_mish(a, out);
    case H_SOFTPLUS:
        return mm_softplus(a, 1.0, 20.0, out);
    case H_LOG1P_ABS:
        if (mm_abs(a, &t) < 0)
            return -1;
        return mm_log1p(t, out);
    case H_POW2:
        return mm_pow_scalar(a, 2.0, out);
    case H_SIN:
        return mm_sin(a, out);
    case H_ERF:
        return mm_erf(a, out);
    case H_RELU_GRAD:
    case H_GELU_GRAD:
    case H_SILU_GRAD:
    case H_SIGMOID_GRAD:
    case H_TANH_GRAD:
    case H_MISH_GRAD:
    case H_LEAKY_RELU_GRAD:
        return grad_of(op, in, out);
    case H_EXP:
        return mm_exp(a, out);
    case H_TANH:
        return mm_tanh(a, out);
    case H_SIGMOID:
        return mm_sigmoid(a, out);
    case H_GELU:
        return mm_gelu(a, MM_GELU_NONE, out);
    case H_GELU_TANH:
        return mm_gelu(a, MM_GELU_TANH, out);
    case H_SILU:
        return mm_silu(a, out);
    case H_SQRT_ABS:
        if (mm_abs(a, &t) < 0)
            return -1;
        return mm_sqrt(t, out);
    case H_SUM_ALL:
        return mm_sum(a, 0, NULL, false, out);
    case H_SUM_LAST:
        return mm_sum(a, 1, (int[]){-1}, false, out);
    case H_SUM_FIRST:
        return mm_sum(a, 1, (int[]){0}, true, out);
    case H_MEAN_LAST:
        return mm_mean(a, 1, (int[]){-1}, false, out);
    default:
        return -1;
    }
}

/* Integer-valued inputs give ties for eq / gt / maximum. */
static mm_tensor *input(int64_t r, int64_t c, mm_dtype dt, half_op op) {
    mm_tensor *x = randn_t(2, (int64_t[]){r, c}, MM_F64), *y;
    if (op == H_EQ || op == H_GT || op == H_MAXIMUM) {
        if (mm_mul_scalar(x, 1.5, &x) < 0 || mm_round(x, &x) < 0)
            abort();
    }
    if (mm_to_dtype(x, dt, &y) < 0)
        abort();
    return y;
}

static void check_op(half_op op, mm_dtype dt, int64_t r, int64_t c) {
    double eps = dt == MM_BF16 ? 0x1p-7 : 0x1p-10;
    bool exact = op < H_EXACT_END;
    bool sum = op >= H_SUM_ALL;
    /* sums of up to ~3e5 normals may cancel: an absolute slack of 1 ulp of
     * the largest partial */
    double rtol = exact ? 0 : eps, atol = exact ? 0 : sum ? eps * 4 : 1e-7;
    if (sum && r * c > 50000)
        atol = eps * 64;
    half_op o = op;
    mm_tensor *a = input(r, c, dt, op), *b = input(r, c, dt, op);
    char what[96];
    /* contiguous */
    snprintf(what, sizeof what, "%s %s %lldx%lld", names[op],
             mm_dtype_name(dt), (long long)r, (long long)c);
    CHECK_VS_REFERENCE(what, apply, &o, ((mm_tensor *[]){a, b}), 2, rtol,
                       atol);
    /* non-contiguous */
    snprintf(what, sizeof what, "%s %s non-contiguous", names[op],
             mm_dtype_name(dt));
    CHECK_VS_REFERENCE(what, apply, &o,
                       ((mm_tensor *[]){noncontig(a), noncontig(b)}), 2, rtol,
                       atol);
    if (!is_binary(op))
        return;
    /* broadcast: a row against a column, and a scalar operand */
    mm_tensor *col = input(r, 1, dt, op), *row = input(1, c, dt, op),
              *one = input(1, 1, dt, op);
    snprintf(what, sizeof what, "%s %s broadcast", names[op],
             mm_dtype_name(dt));
    CHECK_VS_REFERENCE(what, apply, &o, ((mm_tensor *[]){col, row}), 2, rtol,
                       atol);
    CHECK_VS_REFERENCE(what, apply, &o, ((mm_tensor *[]){a, one}), 2, rtol,
                       atol);
    CHECK_VS_REFERENCE(what, apply, &o, ((mm_tensor *[]){one, a}), 2, rtol,
                       atol);
}

MM_TEST(half_ops_match_reference) {
    static const mm_dtype dts[] = {MM_BF16, MM_F16};
    for (int d = 0; d < 2; d++)
        for (int op = 0; op < H_COUNT; op++)
            POOLED({
                check_op((half_op)op, dts[d], 37, 19);
                check_op((half_op)op, dts[d], 5, 1); /* short rows */
                check_op((half_op)op, dts[d], 0, 7); /* empty */
            });
}

MM_TEST(half_ops_match_reference_at_parallel_sizes) {
    static const mm_dtype dts[] = {MM_BF16, MM_F16};
    /* 200 x 400: past MM_GRAIN, several 16 Ki reduction chunks */
    for (int d = 0; d < 2; d++)
        for (int op = 0; op < H_COUNT; op++)
            POOLED(check_op((half_op)op, dts[d], 200, 400));
}

/* The half sums split into fixed chunks: any thread count, same bits. */
MM_TEST(half_sums_do_not_depend_on_thread_count) {
    POOLED({
        mm_tensor *x = randn_t(2, (int64_t[]){300, 700}, MM_BF16);
        int prev = mm_get_num_threads();
        half_op ops[] = {H_SUM_ALL, H_SUM_LAST, H_SUM_FIRST};
        for (int k = 0; k < 3; k++) {
            mm_tensor *one, *many;
            CHECK_OK(mm_set_num_threads(1));
            CHECK_OK(apply(&ops[k], (mm_tensor *[]){x}, 1, &one));
            CHECK_OK(mm_set_num_threads(4));
            CHECK_OK(apply(&ops[k], (mm_tensor *[]){x}, 1, &many));
            double err;
            CHECK(mm_allclose(one, many, 0, 0, &err));
        }
        CHECK_OK(mm_set_num_threads(prev));
    });
}

/* Every bit pattern through the conversions: x * 1 keeps each value's bits
 * (subnormals, infinities, -0), quiets NaN as the reference does, and agrees
 * with the reference bit for bit. */
static void all_patterns_times_one(mm_dtype dt) {
    static uint16_t bits[65536];
    for (int i = 0; i < 65536; i++)
        bits[i] = (uint16_t)i;
    mm_tensor *x, *one, *fast, *ref;
    CHECK_OK(mm_from_data(bits, 1, (int64_t[]){65536}, dt, &x));
    CHECK_OK(mm_from_data((uint16_t[]){dt == MM_BF16 ? 0x3f80 : 0x3c00}, 1,
                          (int64_t[]){1}, dt, &one));
    CHECK_OK(mm_mul(x, one, &fast));
    bool prev = mm_ops_set_reference(true);
    CHECK_OK(mm_mul(x, one, &ref));
    mm_ops_set_reference(prev);
    const uint16_t *f = mm_tensor_data(fast), *r = mm_tensor_data(ref);
    int bad = 0;
    for (int i = 0; i < 65536; i++) {
        int mag = i & 0x7fff;
        bool nan = dt == MM_BF16 ? mag > 0x7f80 : mag > 0x7c00;
        if (f[i] != r[i] || (!nan && f[i] != i))
            bad++;
    }
    CHECK_INT(bad, 0);
}

MM_TEST(every_half_value_converts_exactly) {
    POOLED({
        all_patterns_times_one(MM_BF16);
        all_patterns_times_one(MM_F16);
    });
}

/* Values from torch: torch.tensor([1.0, 2.0**-8, -3.5], dtype=torch.bfloat16)
 * + torch.tensor([2.0**-8, 1.0, 0.015625], dtype=torch.bfloat16)
 * == tensor([1., 1., -3.4844], dtype=torch.bfloat16) (1 + 2^-8 is a tie:
 * nearest even gives 1). */
MM_TEST(bf16_add_rounds_to_nearest_even_as_torch) {
    POOLED({
        double av[] = {1.0, 0x1p-8, -3.5}, bv[] = {0x1p-8, 1.0, 0.015625};
        mm_tensor *a, *b, *a16, *b16, *y;
        CHECK_OK(mm_from_data(av, 1, (int64_t[]){3}, MM_F64, &a));
        CHECK_OK(mm_from_data(bv, 1, (int64_t[]){3}, MM_F64, &b));
        CHECK_OK(mm_to_dtype(a, MM_BF16, &a16));
        CHECK_OK(mm_to_dtype(b, MM_BF16, &b16));
        CHECK_OK(mm_add(a16, b16, &y));
        CHECK(y->dtype == MM_BF16);
        CHECK(at(y, 0) == 1.0 && at(y, 1) == 1.0 && at(y, 2) == -3.484375);
    });
}

MM_TEST_MAIN(MM_CASE(half_ops_match_reference),
             MM_CASE(every_half_value_converts_exactly),
             MM_CASE(half_ops_match_reference_at_parallel_sizes),
             MM_CASE(half_sums_do_not_depend_on_thread_count),
             MM_CASE(bf16_add_rounds_to_nearest_even_as_torch))
