/* softmax and log_softmax: optimised kernels against the reference over
 * every dim (rows and inner layouts), non-contiguous and empty inputs, big
 * ones that run in parallel; float64 gradcheck; torch's numbers; errors. */
#include "ops_testing.h"

typedef struct sm_ctx {
    int dim;
    bool log;
} sm_ctx;

static int f_softmax(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    sm_ctx *c = vctx;
    return c->log ? mm_log_softmax(in[0], c->dim, out)
                  : mm_softmax(in[0], c->dim, out);
}

typedef struct shp {
    int n;
    int64_t s[4];
} shp;

static const shp sm_cases[] = {
    {1, {7}},    {2, {5, 9}},          {3, {2, 70, 3}}, {4, {2, 3, 4, 5}},
    {2, {0, 4}}, {4, {4, 19, 31, 17}}, {2, {300, 200}}, {0, {0}},
};

MM_TEST(softmax_matches_reference_over_every_dim) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (size_t c = 0; c < sizeof sm_cases / sizeof sm_cases[0]; c++)
        for (int t = 0; t < 2; t++)
            for (int lg = 0; lg < 2; lg++)
                for (int d = -1; d < (sm_cases[c].n ? sm_cases[c].n : 1); d++) {
                    POOLED({
                        mm_tensor *x =
                            randn_t(sm_cases[c].n, sm_cases[c].s, dts[t]);
                        sm_ctx ctx = {d, lg};
                        char what[64];
                        snprintf(what, sizeof what,
                                 "softmax case %zu dim %d %s", c, d,
                                 lg ? "log" : "");
                        CHECK_VS_REFERENCE(what, f_softmax, &ctx, &x, 1, 1e-5,
                                           1e-6);
                        mm_tensor *nc = noncontig(x);
                        CHECK_VS_REFERENCE(what, f_softmax, &ctx, &nc, 1, 1e-5,
                                           1e-6);
                    });
                }
}

MM_TEST(softmax_gradcheck) {
    for (int lg = 0; lg < 2; lg++)
        for (int d = 0; d < 3; d++) {
            POOLED({
                mm_tensor *x = leaf(randn_t(MM_SHAPE(2, 3, 4), MM_F64));
                sm_ctx ctx = {d, lg};
                CHECK_GRAD(f_softmax, &ctx, &x, 1);
                if (d < 2) {
                    mm_tensor *nc =
                        leaf(noncontig(randn_t(MM_SHAPE(3, 5), MM_F64)));
                    CHECK_GRAD(f_softmax, &ctx, &nc, 1);
                }
            });
        }
}

MM_TEST(softmax_matches_torch_and_is_stable) {
    POOLED({
        double v[] = {1, 2, 3, -1, 0, 5};
        mm_tensor *x, *y, *big;
        CHECK_OK(mm_from_data(v, MM_SHAPE(2, 3), MM_F64, &x));
        /* torch.softmax(x, 1) */
        const double sm[] = {0.09003057317038045,  0.2447284710547976,
                             0.6652409557748218,   0.0024561149044509535,
                             0.006676412513376451, 0.9908674725821726};
        /* torch.log_softmax(x, 0) */
        const double lsm[] = {-0.1269280110429726, -0.1269280110429726,
                              -2.1269280110429727, -2.1269280110429727,
                              -2.1269280110429727, -0.1269280110429726};
        CHECK_OK(mm_softmax(x, 1, &y));
        for (int i = 0; i < 6; i++)
            CHECK(fabs(at(y, i) - sm[i]) < 1e-12);
        CHECK_OK(mm_log_softmax(x, 0, &y));
        for (int i = 0; i < 6; i++)
            CHECK(fabs(at(y, i) - lsm[i]) < 1e-12);
        /* no overflow for large logits */
        CHECK_OK(mm_mul_scalar(x, 1000, &big));
        CHECK_OK(mm_to_dtype(big, MM_F32, &big));
        CHECK_OK(mm_softmax(big, -1, &y));
        CHECK(fabs(at(y, 2) - 1) < 1e-6 && at(y, 0) == 0);
        CHECK_OK(mm_log_softmax(big, -1, &y));
        CHECK(fabs(at(y, 0) + 2000) < 1e-3);
        /* torch.softmax(torch.tensor([[-inf, -inf]]), 1) is NaN */
        mm_tensor *ninf;
        CHECK_OK(mm_full(MM_SHAPE(1, 2), -INFINITY, MM_F32, &ninf));
        CHECK_OK(mm_softmax(ninf, 1, &y));
        CHECK(isnan(at(y, 0)) && isnan(at(y, 1)));
        CHECK_OK(mm_log_softmax(ninf, 1, &y));
        CHECK(isnan(at(y, 0)) && isnan(at(y, 1)));
        mm_tensor *s;
        CHECK_OK(mm_scalar(3, MM_F32, &s));
        CHECK_OK(mm_softmax(s, 0, &y));
        CHECK(y->ndim == 0 && at(y, 0) == 1);
    });
}

MM_TEST(softmax_errors) {
    POOLED({
        mm_tensor *x, *i, *y;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &x));
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_I64, &i));
        CHECK_ERR(mm_softmax(x, 2, &y), MM_EINVAL,
                  "softmax: dim 2 out of range for a tensor of 2 dims");
        CHECK_ERR(mm_log_softmax(i, 1, &y), MM_ETYPE,
                  "log_softmax: expected a floating-point tensor, got i64");
        CHECK_ERR(mm_softmax(NULL, 1, &y), MM_EINVAL,
                  "softmax: tensor is NULL");
    });
}

MM_TEST_MAIN(MM_CASE(softmax_matches_reference_over_every_dim),
             MM_CASE(softmax_gradcheck),
             MM_CASE(softmax_matches_torch_and_is_stable),
             MM_CASE(softmax_errors))
