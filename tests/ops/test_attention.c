/* linear, dropout and scaled_dot_product_attention: optimised against
 * reference kernels (they are compositions), torch's numbers, dropout's
 * masks and scaling, float64 gradcheck of every variant, errors. */
#include "ops_testing.h"

static int f_linear(void *ctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)ctx;
    return mm_linear(in[0], in[1], n > 2 ? in[2] : NULL, out);
}

MM_TEST(linear_matches_reference_and_torch) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (int t = 0; t < 2; t++)
        POOLED({
            mm_tensor *in[3] = {randn_t(MM_SHAPE(2, 5, 7), dts[t]),
                                randn_t(MM_SHAPE(4, 7), dts[t]),
                                randn_t(MM_SHAPE(4), dts[t])};
            CHECK_VS_REFERENCE("linear", f_linear, NULL, in, 3, 1e-5, 1e-5);
            CHECK_VS_REFERENCE("linear no bias", f_linear, NULL, in, 2, 1e-5,
                               1e-5);
            mm_tensor *nc[3] = {noncontig(in[0]), noncontig(in[1]), in[2]};
            CHECK_VS_REFERENCE("linear noncontig", f_linear, NULL, nc, 3, 1e-5,
                               1e-5);
        });
    POOLED({
        mm_tensor *x, *w, *b, *y;
        CHECK_OK(mm_from_data((double[]){1, 2, 3}, MM_SHAPE(1, 3), MM_F64, &x));
        CHECK_OK(mm_from_data((double[]){1, 0, -1, 0.5, 0.5, 0.5},
                              MM_SHAPE(2, 3), MM_F64, &w));
        CHECK_OK(mm_from_data((double[]){0.25, -1}, MM_SHAPE(2), MM_F64, &b));
        CHECK_OK(mm_linear(x, w, b, &y)); /* F.linear(x, w, b) = [[-1.75, 2]] */
        CHECK(y->ndim == 2 && at(y, 0) == -1.75 && at(y, 1) == 2);
        mm_tensor *in[3] = {leaf(randn_t(MM_SHAPE(3, 4), MM_F64)),
                            leaf(randn_t(MM_SHAPE(2, 4), MM_F64)),
                            leaf(randn_t(MM_SHAPE(2), MM_F64))};
        CHECK_GRAD(f_linear, NULL, in, 3);
        CHECK_GRAD(f_linear, NULL, in, 2);
        mm_tensor *v1 = leaf(randn_t(MM_SHAPE(4), MM_F64));
        mm_tensor *in1[2] = {v1, in[1]};
        CHECK_GRAD(f_linear, NULL, in1, 2);
    });
}

typedef struct drop_ctx {
    double p;
    uint64_t seed;
} drop_ctx;

static int f_dropout(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    drop_ctx *c = vctx;
    mm_generator *g;
    if (mm_generator_new(c->seed, &g) < 0)
        return -1;
    int rc = mm_dropout(in[0], c->p, true, g, out);
    mm_generator_free(g);
    return rc;
}

MM_TEST(dropout_zeroes_with_probability_p_and_scales_the_rest) {
    POOLED({
        mm_tensor *x, *y, *y2;
        CHECK_OK(mm_ones(MM_SHAPE(100, 100), MM_F32, &x));
        drop_ctx c = {0.3, 7};
        CHECK_OK(f_dropout(&c, &x, 1, &y));
        int64_t zeros = 0;
        bool scaled = true;
        for (int64_t i = 0; i < y->numel; i++) {
            double v = at(y, i);
            zeros += v == 0;
            scaled &= v == 0 || fabs(v - 1 / 0.7) < 1e-6;
        }
        CHECK(scaled);
        CHECK(zeros > 2800 && zeros < 3200);
        CHECK_OK(f_dropout(&c, &x, 1, &y2)); /* same seed, same mask */
        CHECK(mm_allclose(y, y2, 0, 0, NULL));
        CHECK_OK(mm_dropout(x, 0.5, false, NULL, &y)); /* eval: x itself */
        CHECK(y == x);
        CHECK_OK(mm_dropout(x, 1, true, NULL, &y));
        CHECK(at(y, 0) == 0 && at(y, 9999) == 0);
        mm_tensor *xl = leaf(randn_t(MM_SHAPE(4, 5), MM_F64));
        CHECK_GRAD(f_dropout, &c, &xl, 1);
        CHECK_ERR(mm_dropout(x, 1.5, true, NULL, &y), MM_EINVAL,
                  "dropout: probability has to be between 0 and 1, got 1.5");
    });
}

typedef struct attn_ctx {
    int mask; /* 0 none, 1 bool, 2 float, 3 causal */
    double dropout;
    bool scale;
    mm_tensor *m;
} attn_ctx;

static int f_attn(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    attn_ctx *c = vctx;
    double s = 0.3;
    mm_generator *g;
    if (mm_generator_new(11, &g) < 0)
        return -1;
    int rc = mm_scaled_dot_product_attention(
        in[0], in[1], in[2], c->mask == 1 || c->mask == 2 ? c->m : NULL,
        c->dropout, c->mask == 3, c->scale ? &s : NULL, g, out);
    mm_generator_free(g);
    return rc;
}

static mm_tensor *bool_mask(int64_t L, int64_t S) {
    mm_tensor *m;
    if (mm_empty(MM_SHAPE(L, S), MM_BOOL, &m) < 0)
        abort();
    for (int64_t i = 0; i < L * S; i++)
        mm_tensor_set_flat(m, i, (i * 7 + 3) % 4 != 0 || i % S == 0);
    return m;
}

MM_TEST(attention_matches_reference_and_torch) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (int t = 0; t < 2; t++)
        for (int mk = 0; mk < 4; mk++)
            POOLED({
                mm_tensor *in[3] = {randn_t(MM_SHAPE(2, 3, 5, 8), dts[t]),
                                    randn_t(MM_SHAPE(2, 3, 6, 8), dts[t]),
                                    randn_t(MM_SHAPE(2, 3, 6, 4), dts[t])};
                attn_ctx c = {mk, mk == 2 ? 0.2 : 0, mk == 1, NULL};
                c.m =
                    mk == 1 ? bool_mask(5, 6) : randn_t(MM_SHAPE(5, 6), dts[t]);
                CHECK_VS_REFERENCE("sdpa", f_attn, &c, in, 3, 1e-5, 1e-5);
                mm_tensor *nc[3] = {noncontig(in[0]), noncontig(in[1]),
                                    noncontig(in[2])};
                CHECK_VS_REFERENCE("sdpa noncontig", f_attn, &c, nc, 3, 1e-5,
                                   1e-5);
            });
    POOLED({
        /* torch 1.13 has no F.scaled_dot_product_attention; its documented
         * math: q = (arange(12).reshape(1, 3, 4) * 0.3).sin(),
         * k = (arange(8).reshape(1, 2, 4) * 0.7).cos(),
         * v = (arange(6).reshape(1, 2, 3) * 0.5).sin() (float64),
         * softmax(q @ k^T / sqrt(4) [+ causal -inf], -1) @ v */
        double qv[12], kv[8], vv[6];
        for (int i = 0; i < 12; i++)
            qv[i] = sin(i * 0.3);
        for (int i = 0; i < 8; i++)
            kv[i] = cos(i * 0.7);
        for (int i = 0; i < 6; i++)
            vv[i] = sin(i * 0.5);
        mm_tensor *q, *k, *v, *y;
        CHECK_OK(mm_from_data(qv, MM_SHAPE(1, 3, 4), MM_F64, &q));
        CHECK_OK(mm_from_data(kv, MM_SHAPE(1, 2, 4), MM_F64, &k));
        CHECK_OK(mm_from_data(vv, MM_SHAPE(1, 2, 3), MM_F64, &v));
        const double plain[] = {0.4571984412237222, 0.6764558594180072,
                                0.7300932910038949, 0.1443462121080264,
                                0.5416317447403804, 0.8063069361928045};
        const double causal[] = {0.0, 0.479425538604203, 0.8414709848078965,
                                 0.1443462121080264};
        CHECK_OK(mm_scaled_dot_product_attention(q, k, v, NULL, 0, false, NULL,
                                                 NULL, &y));
        for (int i = 0; i < 6; i++)
            CHECK(fabs(at(y, i) - plain[i]) < 1e-12);
        CHECK_OK(mm_scaled_dot_product_attention(q, k, v, NULL, 0, true, NULL,
                                                 NULL, &y));
        for (int i = 0; i < 4; i++)
            CHECK(fabs(at(y, i) - causal[i]) < 1e-12);
    });
}

MM_TEST(attention_gradcheck) {
    for (int mk = 0; mk < 4; mk++)
        for (int dr = 0; dr < 2; dr++)
            POOLED({
                mm_tensor *in[3] = {leaf(randn_t(MM_SHAPE(2, 3, 4), MM_F64)),
                                    leaf(randn_t(MM_SHAPE(2, 5, 4), MM_F64)),
                                    leaf(randn_t(MM_SHAPE(2, 5, 2), MM_F64))};
                attn_ctx c = {mk, dr ? 0.25 : 0, mk == 2, NULL};
                c.m =
                    mk == 1 ? bool_mask(3, 5) : randn_t(MM_SHAPE(3, 5), MM_F64);
                CHECK_GRAD(f_attn, &c, in, 3);
            });
}

MM_TEST(attention_and_linear_errors) {
    POOLED({
        mm_tensor *q, *k, *w, *y, *m;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 4), MM_F32, &q));
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 5), MM_F32, &k));
        CHECK_OK(mm_zeros(MM_SHAPE(3, 3), MM_I64, &m));
        CHECK_OK(mm_zeros(MM_SHAPE(2, 5), MM_F32, &w));
        CHECK_ERR(mm_scaled_dot_product_attention(q, k, k, NULL, 0, false, NULL,
                                                  NULL, &y),
                  MM_EINVAL,
                  "scaled_dot_product_attention: shapes [2, 3, 4], [2, 3, 5] "
                  "and [2, 3, 5] do not fit");
        CHECK_ERR(mm_scaled_dot_product_attention(q, q, q, q, 0, true, NULL,
                                                  NULL, &y),
                  MM_EINVAL,
                  "scaled_dot_product_attention: attn_mask must be NULL when "
                  "is_causal is set");
        CHECK_ERR(mm_scaled_dot_product_attention(q, q, q, m, 0, false, NULL,
                                                  NULL, &y),
                  MM_ETYPE,
                  "scaled_dot_product_attention: attn_mask must be bool or "
                  "f32, got i64");
        CHECK_ERR(mm_linear(q, w, NULL, &y), MM_EINVAL,
                  "linear: input has 4 features, weight expects 5");
        CHECK_ERR(mm_linear(q, q, NULL, &y), MM_EINVAL,
                  "linear: weight has 3 dims, expected 2");
    });
}

MM_TEST_MAIN(MM_CASE(linear_matches_reference_and_torch),
             MM_CASE(dropout_zeroes_with_probability_p_and_scales_the_rest),
             MM_CASE(attention_matches_reference_and_torch),
             MM_CASE(attention_gradcheck), MM_CASE(attention_and_linear_errors))
