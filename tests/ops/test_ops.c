/* Every op's optimised CPU kernel against its reference kernel, on shapes
 * that cover broadcasting, non-contiguous inputs, empty tensors and sizes
 * big enough to run in parallel; dtype promotion; error messages; the op
 * table. */
#include <string.h>

#include "ops_testing.h"

typedef struct shape_case {
    int na;
    int64_t a[4];
    int nb;
    int64_t b[4];
} shape_case;

/* Binary cases: same shape, broadcasting both ways, a scalar, big. */
static const shape_case binary_cases[] = {
    {2, {5, 7}, 2, {5, 7}},    {3, {4, 1, 6}, 2, {3, 1}},
    {0, {0}, 2, {3, 4}},       {3, {8, 1, 33}, 3, {1, 5, 1}},
    {2, {300, 257}, 1, {257}}, {2, {300, 257}, 2, {300, 257}},
    {1, {0}, 1, {1}},
};

typedef struct bin_ctx {
    int which; /* 0 add, 1 sub, 2 mul, 3 div, 4 add alpha, 5 sub alpha */
} bin_ctx;

static int f_binary(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    switch (((bin_ctx *)vctx)->which) {
    case 0:
        return mm_add(in[0], in[1], out);
    case 1:
        return mm_sub(in[0], in[1], out);
    case 2:
        return mm_mul(in[0], in[1], out);
    case 3:
        return mm_div(in[0], in[1], out);
    case 4:
        return mm_add_alpha(in[0], in[1], 2.5, out);
    default:
        return mm_sub_alpha(in[0], in[1], -3, out);
    }
}

MM_TEST(binary_ops_match_reference_with_broadcasting) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (size_t c = 0; c < sizeof binary_cases / sizeof binary_cases[0]; c++) {
        for (size_t t = 0; t < 2; t++) {
            for (int w = 0; w < 6; w++) {
                POOLED({
                    const shape_case *sc = &binary_cases[c];
                    mm_tensor *in[2] = {
                        randn_t(sc->na, sc->a, dtypes[t]),
                        uniform_t(sc->nb, sc->b, dtypes[t], 0.5, 2)};
                    bin_ctx ctx = {w};
                    char what[64];
                    snprintf(what, sizeof what, "binary %d case %zu %s", w, c,
                             mm_dtype_name(dtypes[t]));
                    CHECK_VS_REFERENCE(what, f_binary, &ctx, in, 2, 1e-6, 1e-6);
                    mm_tensor *swapped[2] = {in[1], in[0]};
                    CHECK_VS_REFERENCE(what, f_binary, &ctx, swapped, 2, 1e-6,
                                       1e-6);
                });
            }
        }
    }
}

MM_TEST(binary_ops_match_reference_on_non_contiguous_inputs) {
    POOLED({
        mm_tensor *a = noncontig(randn_t(MM_SHAPE(6, 9), MM_F32));
        mm_tensor *b = noncontig(randn_t(MM_SHAPE(6, 9), MM_F32));
        mm_tensor *s, *bt;
        CHECK_OK(mm_slice(randn_t(MM_SHAPE(6, 20), MM_F32), 1, 1, 19, 2,
                          &s)); /* [6, 9] step 2 */
        CHECK_OK(mm_transpose(randn_t(MM_SHAPE(9, 6), MM_F32), 0, 1, &bt));
        mm_tensor *pairs[][2] = {{a, b}, {a, s}, {s, bt}, {bt, bt}};
        for (int w = 0; w < 4; w++) {
            bin_ctx ctx = {w};
            for (int p = 0; p < 4; p++)
                CHECK_VS_REFERENCE("non-contiguous binary", f_binary, &ctx,
                                   pairs[p], 2, 1e-6, 1e-6);
        }
    });
}

MM_TEST(integer_and_half_binary_ops_compute_like_torch) {
    POOLED({
        mm_tensor *a, *b, *c;
        CHECK_OK(mm_randint(-50, 50, MM_SHAPE(4, 5), MM_I64, test_gen(), &a));
        CHECK_OK(mm_randint(1, 9, MM_SHAPE(5), MM_I64, test_gen(), &b));
        bin_ctx add = {0}, mul = {2};
        CHECK_VS_REFERENCE("i64 add", f_binary, &add, ((mm_tensor *[]){a, b}),
                           2, 0, 0);
        CHECK_VS_REFERENCE("i64 mul", f_binary, &mul, ((mm_tensor *[]){a, b}),
                           2, 0, 0);
        CHECK_OK(mm_add_alpha(a, b, 3, &c));
        CHECK(at(c, 7) == at(a, 7) + 3 * at(b, 2));
        CHECK_OK(mm_div(a, b, &c)); /* true division */
        CHECK_INT(c->dtype, MM_F32);
        CHECK(fabs(at(c, 6) - at(a, 6) / at(b, 1)) < 1e-6);
        mm_tensor *h = randn_t(MM_SHAPE(3, 4), MM_BF16), *hh;
        CHECK_OK(mm_mul(h, h, &hh));
        CHECK_INT(hh->dtype, MM_BF16);
        CHECK(fabs(at(hh, 5) - at(h, 5) * at(h, 5)) <= 1e-2 * at(hh, 5) + 1e-6);
    });
}

/* torch.relu(torch.tensor([nan, -0.0, -2.0, 3.0])) -> [nan, -0., 0., 3.] */
MM_TEST(relu_passes_nan_and_negative_zero_like_torch) {
    POOLED({
        const float v[4] = {NAN, -0.0f, -2.0f, 3.0f};
        for (int ref = 0; ref < 2; ref++) {
            bool prev = mm_ops_set_reference(ref);
            mm_tensor *x, *y;
            CHECK_OK(mm_from_data(v, MM_SHAPE(4), MM_F32, &x));
            CHECK_OK(mm_relu(x, &y));
            CHECK(isnan(at(y, 0)));
            CHECK(at(y, 1) == 0 && signbit(at(y, 1)));
            CHECK(at(y, 2) == 0 && !signbit(at(y, 2)));
            CHECK(at(y, 3) == 3);
            mm_ops_set_reference(prev);
        }
    });
}

MM_TEST(binary_ops_promote_dtypes_as_pytorch) {
    POOLED({
        mm_tensor *f32 = randn_t(MM_SHAPE(3), MM_F32),
                  *f64 = randn_t(MM_SHAPE(3), MM_F64);
        mm_tensor *i64, *s64, *c;
        CHECK_OK(mm_arange(0, 3, 1, MM_I64, &i64));
        CHECK_OK(mm_add(f32, f64, &c));
        CHECK_INT(c->dtype, MM_F64);
        CHECK_OK(mm_scalar(2, MM_F64, &s64));
        CHECK_OK(
            mm_mul(f32, s64,
                   &c)); /* a 0-dim tensor of the same kind does not promote */
        CHECK_INT(c->dtype, MM_F32);
        CHECK_OK(mm_mul(i64, s64, &c)); /* ... unless it is of a higher kind */
        CHECK_INT(c->dtype, MM_F64);
        CHECK_OK(mm_add_scalar(i64, 2.5, &c));
        CHECK_INT(c->dtype, MM_F32);
        CHECK(at(c, 1) == 3.5);
        CHECK_OK(mm_mul_scalar(i64, 3, &c));
        CHECK_INT(c->dtype, MM_I64);
        CHECK(at(c, 2) == 6);
        CHECK_OK(mm_sub_scalar(f32, 1, &c));
        CHECK(fabs(at(c, 0) - (at(f32, 0) - 1)) < 1e-6);
        CHECK_OK(mm_div_scalar(f64, 4, &c));
        CHECK(at(c, 2) == at(f64, 2) / 4);
    });
}

MM_TEST(binary_errors_name_the_op_and_shapes) {
    POOLED({
        mm_tensor *a, *b, *i;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &a));
        CHECK_OK(mm_zeros(MM_SHAPE(4), MM_F32, &b));
        CHECK_OK(mm_zeros(MM_SHAPE(3), MM_I64, &i));
        mm_tensor *c;
        CHECK_ERR(mm_add(a, b, &c), MM_EINVAL,
                  "add: shapes [2, 3] and [4] cannot broadcast");
        CHECK_ERR(mm_mul(b, a, &c), MM_EINVAL,
                  "mul: shapes [4] and [2, 3] cannot broadcast");
        CHECK_ERR(mm_add_alpha(i, i, 0.5, &c), MM_ETYPE,
                  "add: alpha 0.5 must be integral for i64 tensors");
        CHECK_ERR(mm_op_apply(mm_op_get(MM_OP_ADD), 2, (mm_tensor *[]){a, i},
                              NULL, &c),
                  MM_ETYPE, "add: dtypes f32 and i64 differ");
        CHECK_ERR(mm_op_apply(mm_op_get(MM_OP_ADD), 1, &a, NULL, &c), MM_EINVAL,
                  "add: expects 2 inputs, got 1");
        CHECK_ERR(mm_add(a, NULL, &c), MM_EINVAL, "add: tensor is NULL");
    });
}

MM_TEST(inplace_add_accumulates_with_broadcast) {
    POOLED({
        mm_tensor *t, *row;
        CHECK_OK(mm_ones(MM_SHAPE(2, 3), MM_F32, &t));
        CHECK_OK(mm_arange(0, 3, 1, MM_F64, &row));
        CHECK_OK(mm_tensor_add_(t, row, -2));
        CHECK(at(t, 0) == 1 && at(t, 2) == -3 && at(t, 5) == -3);
        CHECK_OK(mm_tensor_mul_scalar_(t, 0.5));
        CHECK(at(t, 2) == -1.5);
        CHECK_ERR(mm_tensor_add_(row, t, 1), MM_EINVAL,
                  "add_: result shape [2, 3] does not fit [3]");
    });
}

/* ---- unary -------------------------------------------------------------- */

static int f_unary(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    switch (*(int *)vctx) {
    case 0:
        return mm_neg(in[0], out);
    case 1:
        return mm_exp(in[0], out);
    case 2:
        return mm_ln(in[0], out);
    case 3:
        return mm_relu(in[0], out);
    case 4:
        return mm_sigmoid(in[0], out);
    default:
        return mm_tanh(in[0], out);
    }
}

MM_TEST(unary_ops_match_reference) {
    const int64_t shapes[][3] = {{1, 0}, {1, 17}, {2, 300, 257}, {2, 40, 30}};
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 2; t++)
            for (int w = 0; w < 6; w++)
                POOLED({
                    int nd = (int)shapes[s][0];
                    mm_tensor *x =
                        w == 2 ? uniform_t(nd, shapes[s] + 1, dtypes[t], 0.1, 3)
                               : randn_t(nd, shapes[s] + 1, dtypes[t]);
                    if (s == 3)
                        x = noncontig(x);
                    char what[64];
                    snprintf(what, sizeof what, "unary %d shape %d %s", w, s,
                             mm_dtype_name(dtypes[t]));
                    CHECK_VS_REFERENCE(what, f_unary, &w, &x, 1, 2e-6, 1e-6);
                });
}

MM_TEST(unary_ops_on_integers_compute_in_float) {
    POOLED({
        mm_tensor *i, *y;
        CHECK_OK(mm_arange(-2, 3, 1, MM_I64, &i));
        CHECK_OK(mm_exp(i, &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK(fabs(at(y, 3) - exp(1)) < 1e-6);
        CHECK_OK(mm_relu(i, &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK(at(y, 0) == 0 && at(y, 4) == 2);
        CHECK_OK(mm_neg(i, &y));
        CHECK(at(y, 0) == 2);
        mm_tensor *b;
        CHECK_OK(mm_zeros(MM_SHAPE(2), MM_BOOL, &b));
        CHECK_ERR(mm_neg(b, &y), MM_ETYPE,
                  "neg: not supported for bool tensors");
    });
}

/* ---- reductions --------------------------------------------------------- */

typedef struct red_ctx {
    bool mean, keepdim;
    int n;
    int dims[3];
} red_ctx;

static int f_reduce(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    const red_ctx *c = vctx;
    return (c->mean ? mm_mean : mm_sum)(in[0], c->n, c->dims, c->keepdim, out);
}

MM_TEST(reductions_match_reference_over_any_dims) {
    const red_ctx dimsets[] = {
        {false, false, 0, {0}},       {false, true, 1, {0}},
        {false, false, 1, {-1}},      {false, true, 2, {0, 2}},
        {false, false, 1, {1}},       {false, false, 2, {2, 1}},
        {false, false, 3, {0, 1, 2}},
    };
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int k = 0; k < 7; k++)
        for (int t = 0; t < 2; t++)
            for (int m = 0; m < 2; m++)
                for (int nc = 0; nc < 2; nc++)
                    POOLED({
                        red_ctx c = dimsets[k];
                        c.mean = m;
                        mm_tensor *x = randn_t(MM_SHAPE(4, 5, 6), dtypes[t]);
                        if (nc)
                            x = noncontig(x);
                        char what[64];
                        snprintf(what, sizeof what, "%s dimset %d %s%s",
                                 m ? "mean" : "sum", k,
                                 mm_dtype_name(dtypes[t]),
                                 nc ? " non-contiguous" : "");
                        CHECK_VS_REFERENCE(what, f_reduce, &c, &x, 1, 1e-5,
                                           1e-5);
                    });
}

MM_TEST(big_reductions_match_reference_and_ignore_thread_count) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(300, 257), MM_F32), *a, *b;
        red_ctx all = {false, false, 0, {0}}, rows = {false, false, 1, {1}},
                cols = {true, false, 1, {0}};
        CHECK_VS_REFERENCE("sum all", f_reduce, &all, &x, 1, 1e-5, 1e-4);
        CHECK_VS_REFERENCE("sum rows", f_reduce, &rows, &x, 1, 1e-5, 1e-5);
        CHECK_VS_REFERENCE("mean over the batch", f_reduce, &cols, &x, 1, 1e-5,
                           1e-6);
        int nt = mm_get_num_threads();
        CHECK_OK(mm_set_num_threads(1));
        CHECK_OK(mm_sum(x, 0, NULL, false, &a));
        CHECK_OK(mm_set_num_threads(2));
        CHECK_OK(mm_sum(x, 0, NULL, false, &b));
        CHECK_OK(mm_set_num_threads(nt));
        CHECK(at(a, 0) == at(b, 0)); /* bit-identical */
    });
}

MM_TEST(integer_sums_are_i64_and_mean_needs_floats) {
    POOLED({
        mm_tensor *b, *s, *i;
        CHECK_OK(mm_ones(MM_SHAPE(3, 4), MM_BOOL, &b));
        CHECK_OK(mm_sum(b, MM_DIMS(1), false, &s));
        CHECK_INT(s->dtype, MM_I64);
        CHECK(at(s, 2) == 4);
        CHECK_OK(mm_arange(0, 10, 1, MM_I32, &i));
        CHECK_OK(mm_sum(i, 0, NULL, true, &s));
        CHECK_INT(s->ndim, 1);
        CHECK(at(s, 0) == 45);
        CHECK_ERR(mm_mean(i, 0, NULL, false, &s), MM_ETYPE,
                  "mean: expected a floating-point tensor, got i32");
        CHECK_ERR(mm_sum(b, MM_DIMS(2), false, &s), MM_EINVAL,
                  "sum: dim 2 out of range for a tensor of 2 dims");
        CHECK_ERR(mm_sum(b, MM_DIMS(1, -1), false, &s), MM_EINVAL,
                  "sum: dim 1 appears more than once");
        mm_tensor *e;
        CHECK_OK(mm_zeros(MM_SHAPE(0, 3), MM_F32, &e));
        CHECK_OK(mm_sum(e, MM_DIMS(0), false, &s));
        CHECK(at(s, 0) == 0);
        CHECK_OK(mm_mean(e, MM_DIMS(0), false, &s));
        CHECK(isnan(at(s, 1)));
    });
}

MM_TEST(sum_to_shape_undoes_broadcasting) {
    POOLED({
        mm_tensor *x, *s;
        CHECK_OK(mm_ones(MM_SHAPE(2, 3, 4), MM_F32, &x));
        CHECK_OK(mm_sum_to_shape(x, MM_SHAPE(3, 1), &s));
        CHECK_INT(s->ndim, 2);
        CHECK(s->shape[0] == 3 && s->shape[1] == 1 && at(s, 0) == 8);
        CHECK_OK(mm_sum_to_shape(x, MM_SHAPE(2, 3, 4), &s));
        CHECK(s == x);
        CHECK_ERR(mm_sum_to_shape(x, MM_SHAPE(2, 4), &s), MM_EINVAL,
                  "sum_to_shape: shape [2, 3, 4] cannot be summed to [2, 4]");
    });
}

/* ---- matmul ------------------------------------------------------------- */

static int f_matmul(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)vctx;
    (void)n;
    return mm_matmul(in[0], in[1], out);
}

MM_TEST(matmul_matches_reference_batched_broadcast_and_1d) {
    static const shape_case cases[] = {
        {2, {3, 4}, 2, {4, 5}},
        {3, {2, 3, 4}, 2, {4, 5}},
        {4, {2, 1, 3, 4}, 3, {5, 4, 6}},
        {1, {4}, 1, {4}},
        {1, {4}, 2, {4, 3}},
        {2, {3, 4}, 1, {4}},
        {3, {2, 3, 4}, 1, {4}},
        {2, {64, 128}, 2, {128, 96}},
        {2, {3, 0}, 2, {0, 5}},
        {3, {1, 7, 9}, 3, {4, 9, 2}},
    };
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int t = 0; t < 2; t++)
            for (int nc = 0; nc < 2; nc++)
                POOLED({
                    const shape_case *sc = &cases[c];
                    mm_tensor *in[2] = {randn_t(sc->na, sc->a, dtypes[t]),
                                        randn_t(sc->nb, sc->b, dtypes[t])};
                    if (nc) {
                        in[0] = noncontig(in[0]);
                        in[1] = noncontig(in[1]);
                    }
                    char what[64];
                    snprintf(what, sizeof what, "matmul case %zu %s%s", c,
                             mm_dtype_name(dtypes[t]),
                             nc ? " non-contiguous" : "");
                    CHECK_VS_REFERENCE(what, f_matmul, NULL, in, 2, 1e-4, 1e-4);
                });
}

MM_TEST(matmul_handles_expanded_and_low_precision_operands) {
    POOLED({
        mm_tensor *a = randn_t(MM_SHAPE(6, 4), MM_F32),
                  *col = randn_t(MM_SHAPE(4, 1), MM_F32), *b;
        CHECK_OK(
            mm_expand(col, MM_SHAPE(4, 5), &b)); /* stride 0 in a matrix dim */
        CHECK_VS_REFERENCE("matmul expanded", f_matmul, NULL,
                           ((mm_tensor *[]){a, b}), 2, 1e-5, 1e-5);
        mm_tensor *batch;
        CHECK_OK(mm_expand(randn_t(MM_SHAPE(1, 4, 5), MM_F32),
                           MM_SHAPE(3, 4, 5), &batch));
        CHECK_VS_REFERENCE("matmul expanded batch", f_matmul, NULL,
                           ((mm_tensor *[]){a, batch}), 2, 1e-5, 1e-5);
        mm_tensor *h[2] = {randn_t(MM_SHAPE(8, 16), MM_BF16),
                           randn_t(MM_SHAPE(16, 8), MM_BF16)};
        CHECK_VS_REFERENCE("matmul bf16", f_matmul, NULL, h, 2, 2e-2, 5e-2);
        mm_tensor *i[2], *c;
        CHECK_OK(mm_randint(-5, 5, MM_SHAPE(3, 4), MM_I64, test_gen(), &i[0]));
        CHECK_OK(mm_randint(-5, 5, MM_SHAPE(4, 2), MM_I64, test_gen(), &i[1]));
        CHECK_OK(mm_matmul(i[0], i[1], &c));
        CHECK_INT(c->dtype, MM_I64);
        double want = 0;
        for (int k = 0; k < 4; k++)
            want += at(i[0], 4 + k) * at(i[1], 2 * k + 1);
        CHECK(at(c, 3) == want);
    });
}

MM_TEST(matmul_errors_name_the_shapes) {
    POOLED({
        mm_tensor *a, *b, *d, *c, *s;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &a));
        CHECK_OK(mm_zeros(MM_SHAPE(4, 5), MM_F32, &b));
        CHECK_OK(mm_zeros(MM_SHAPE(3, 5), MM_F64, &d));
        CHECK_OK(mm_scalar(1, MM_F32, &s));
        CHECK_ERR(
            mm_matmul(a, b, &c), MM_EINVAL,
            "matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)");
        CHECK_ERR(mm_matmul(a, d, &c), MM_ETYPE,
                  "matmul: dtypes f32 and f64 differ");
        CHECK_ERR(
            mm_matmul(a, s, &c), MM_EINVAL,
            "matmul: both arguments need at least 1 dimension (got 2 and 0)");
        mm_tensor *x, *y;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 4), MM_F32, &x));
        CHECK_OK(mm_zeros(MM_SHAPE(3, 4, 5), MM_F32, &y));
        CHECK_ERR(mm_matmul(x, y, &c), MM_EINVAL,
                  "matmul: shapes [2] and [3] cannot broadcast");
        CHECK_ERR(mm_bmm(x, y, &c), MM_EINVAL,
                  "bmm: shapes [2, 3, 4] and [3, 4, 5] do not multiply (batch "
                  "sizes must match, no broadcasting)");
        CHECK_ERR(mm_bmm(a, b, &c), MM_EINVAL,
                  "bmm: both arguments must be 3-D (got 2 and 2)");
    });
}

/* ---- copies ------------------------------------------------------------- */

static int f_flip_cat(void *vctx, mm_tensor *const *in, int n,
                      mm_tensor **out) {
    (void)vctx;
    mm_tensor *f;
    MM_TRY(mm_flip(in[0], MM_DIMS(0, 2), &f));
    return mm_cat(n, (mm_tensor *[]){f, in[1]}, 1, out);
}

static int f_clone(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)vctx;
    (void)n;
    return mm_to_dtype(in[0], MM_F16, out);
}

MM_TEST(copying_ops_match_reference) {
    POOLED({
        mm_tensor *in[2] = {noncontig(randn_t(MM_SHAPE(3, 4, 5), MM_F64)),
                            randn_t(MM_SHAPE(3, 2, 5), MM_F64)};
        CHECK_VS_REFERENCE("flip + cat", f_flip_cat, NULL, in, 2, 0, 0);
        CHECK_VS_REFERENCE("to f16", f_clone, NULL, in, 1, 0, 0);
    });
}

static int f_contiguous(void *vctx, mm_tensor *const *in, int n,
                        mm_tensor **out) {
    (void)vctx;
    (void)n;
    return mm_contiguous(in[0], out);
}

MM_TEST(transposed_copies_match_reference) {
    POOLED({
        mm_tensor *t[4];
        CHECK_OK(mm_transpose(randn_t(MM_SHAPE(70, 45), MM_F32), 0, 1, &t[0]));
        CHECK_OK(mm_permute(randn_t(MM_SHAPE(3, 40, 33), MM_F64),
                            MM_DIMS(0, 2, 1), &t[1]));
        mm_tensor *bytes;
        CHECK_OK(
            mm_randint(0, 256, MM_SHAPE(40, 50), MM_U8, test_gen(), &bytes));
        CHECK_OK(mm_transpose(bytes, 0, 1, &t[2]));
        CHECK_OK(
            mm_transpose(randn_t(MM_SHAPE(2, 64, 48), MM_BF16), 1, 2, &t[3]));
        for (int i = 0; i < 4; i++)
            CHECK_VS_REFERENCE("transposed copy", f_contiguous, NULL, &t[i], 1,
                               0, 0);
    });
}

/* An op that asks for contiguous inputs gets them, whatever it is given. */
static int same_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++)
        ctx->out_shape[d] = x->shape[d];
    return 0;
}

static int contiguous_only_kernel(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    if (!mm_tensor_is_contiguous(x))
        return mm_error_set(MM_EINTERNAL, "the input is not contiguous");
    memcpy(mm_tensor_data(ctx->out), mm_tensor_data(x),
           (size_t)x->numel * mm_dtype_size(x->dtype));
    return 0;
}

static const mm_op contiguous_only_op = {
    .name = "contiguous_only",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS,
    .infer = same_infer,
    .reference = contiguous_only_kernel,
};

MM_TEST(ops_that_need_contiguous_inputs_get_them) {
    POOLED({
        mm_tensor *x = noncontig(randn_t(MM_SHAPE(5, 6), MM_F32)), *y;
        CHECK(!mm_tensor_is_contiguous(x));
        CHECK_OK(mm_op_apply(&contiguous_only_op, 1, &x, NULL, &y));
        CHECK(mm_allclose(x, y, 0, 0, NULL));
    });
}

/* ---- the table ---------------------------------------------------------- */

MM_TEST(op_table_rows_are_complete_and_findable) {
    for (int i = 0; i < MM_OP_COUNT; i++) {
        const mm_op *op = mm_op_get((mm_op_id)i);
        CHECK(op && op->name && op->infer);
        if (!op)
            continue;
        if (!(op->flags & MM_OP_FLAG_VIEW))
            CHECK(op->reference != NULL);
        CHECK(mm_op_find(op->name) == op);
    }
    CHECK(mm_op_get(MM_OP_COUNT) == NULL);
    CHECK(mm_op_find("no_such_op") == NULL);
}

MM_TEST_MAIN(MM_CASE(binary_ops_match_reference_with_broadcasting),
             MM_CASE(binary_ops_match_reference_on_non_contiguous_inputs),
             MM_CASE(integer_and_half_binary_ops_compute_like_torch),
             MM_CASE(relu_passes_nan_and_negative_zero_like_torch),
             MM_CASE(binary_ops_promote_dtypes_as_pytorch),
             MM_CASE(binary_errors_name_the_op_and_shapes),
             MM_CASE(inplace_add_accumulates_with_broadcast),
             MM_CASE(unary_ops_match_reference),
             MM_CASE(unary_ops_on_integers_compute_in_float),
             MM_CASE(reductions_match_reference_over_any_dims),
             MM_CASE(big_reductions_match_reference_and_ignore_thread_count),
             MM_CASE(integer_sums_are_i64_and_mean_needs_floats),
             MM_CASE(sum_to_shape_undoes_broadcasting),
             MM_CASE(matmul_matches_reference_batched_broadcast_and_1d),
             MM_CASE(matmul_handles_expanded_and_low_precision_operands),
             MM_CASE(matmul_errors_name_the_shapes),
             MM_CASE(copying_ops_match_reference),
             MM_CASE(transposed_copies_match_reference),
             MM_CASE(ops_that_need_contiguous_inputs_get_them),
             MM_CASE(op_table_rows_are_complete_and_findable))
