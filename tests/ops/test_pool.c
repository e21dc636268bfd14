/* Pooling: max_pool2d/3d (values and indices), avg_pool2d/3d, adaptive
 * avg/max pool1d/2d/3d against their reference kernels in f32 (oneDNN where it
 * applies) and f64 (OpenMP loops), ceil_mode edge cases, the backward
 * kernels against the reference, float64 gradcheck of every variant,
 * torch's numbers for small cases, channels-last inputs (layout kept,
 * results, indices and gradients equal to the contiguous ones), and the
 * error messages. */
#include <string.h>

#include "ops_testing.h"

/* sin(mul * i) in row-major order, and the checksums (sum, sum of
 * y^2 (1 + i % 7)) the torch expressions below were reduced to. */
static mm_tensor *sin_t(int nd, const int64_t *shape, double mul, mm_dtype dt) {
    mm_tensor *t;
    if (mm_empty(nd, shape, dt, &t) < 0)
        abort();
    for (int64_t i = 0; i < t->numel; i++)
        mm_tensor_set_flat(t, i, sin((double)i * mul));
    return t;
}

static bool checksums_match(const mm_tensor *y, int nd, const int64_t *shape,
                            double sum, double sum2, double rtol) {
    if (y->ndim != nd)
        return false;
    for (int d = 0; d < nd; d++)
        if (y->shape[d] != shape[d])
            return false;
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < y->numel; i++) {
        double v = mm_tensor_get_flat(y, i);
        s += v;
        s2 += v * v * (double)(1 + i % 7);
    }
    bool ok = fabs(s - sum) <= rtol * (1 + fabs(sum)) &&
              fabs(s2 - sum2) <= rtol * fabs(sum2);
    if (!ok)
        fprintf(stderr, "checksums %.10g %.10g, torch %.10g %.10g\n", s, s2,
                sum, sum2);
    return ok;
}

enum { P_MAX, P_MAX_INDICES, P_AVG, P_AAVG, P_AMAX, P_AMAX_INDICES };

typedef struct pool_case {
    int kind, nsp;
    int xnd;
    int64_t x[5];
    int64_t k[3], s[3], p[3], d[3];
    bool ceil, include_pad;
    int64_t divisor;
} pool_case;

static int f_pool(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    const pool_case *c = vctx;
    const int64_t *s = c->s[0] ? c->s : NULL;
    mm_tensor *x = in[0];
    switch (c->kind) {
    case P_MAX:
    case P_MAX_INDICES: {
        mm_tensor **v = c->kind == P_MAX ? out : NULL,
                  **i = c->kind == P_MAX ? NULL : out;
        if (c->nsp == 1)
            return mm_max_pool1d(x, c->k, s, c->p, c->d, c->ceil, v, i);
        return c->nsp == 2
                   ? mm_max_pool2d(x, c->k, s, c->p, c->d, c->ceil, v, i)
                   : mm_max_pool3d(x, c->k, s, c->p, c->d, c->ceil, v, i);
    }
    case P_AVG:
        if (c->nsp == 1)
            return mm_avg_pool1d(x, c->k, s, c->p, c->ceil, c->include_pad,
                                 out);
        return c->nsp == 2 ? mm_avg_pool2d(x, c->k, s, c->p, c->ceil,
                                           c->include_pad, c->divisor, out)
                           : mm_avg_pool3d(x, c->k, s, c->p, c->ceil,
                                           c->include_pad, c->divisor, out);
    case P_AAVG:
        if (c->nsp == 1)
            return mm_adaptive_avg_pool1d(x, c->k, out);
        return c->nsp == 2 ? mm_adaptive_avg_pool2d(x, c->k, out)
                           : mm_adaptive_avg_pool3d(x, c->k, out);
    default: {
        mm_tensor **v = c->kind == P_AMAX ? out : NULL,
                  **i = c->kind == P_AMAX ? NULL : out;
        if (c->nsp == 1)
            return mm_adaptive_max_pool1d(x, c->k, v, i);
        return c->nsp == 2 ? mm_adaptive_max_pool2d(x, c->k, v, i)
                           : mm_adaptive_max_pool3d(x, c->k, v, i);
    }
    }
}

/* Fixed weights cos(0.37 i) shaped like y. */
static int cos_weights(const mm_tensor *y, mm_tensor **out) {
    mm_tensor *r;
    MM_TRY(mm_empty(y->ndim, y->shape, y->dtype, &r));
    for (int64_t i = 0; i < r->numel; i++)
        mm_tensor_set_flat(r, i, cos(0.37 * (double)i));
    *out = r;
    return 0;
}

/* d sum(pool(x) * r) / dx: runs the backward kernels. */
static int f_pool_grad(void *vctx, mm_tensor *const *in, int n,
                       mm_tensor **out) {
    (void)n;
    mm_tensor *x, *y, *r, *loss;
    MM_TRY(mm_clone(in[0], &x));
    MM_TRY(mm_tensor_set_requires_grad(x, true));
    MM_TRY(f_pool(vctx, &x, 1, &y));
    MM_TRY(cos_weights(y, &r));
    MM_TRY(mm_mul(y, r, &loss));
    MM_TRY(mm_sum(loss, 0, NULL, false, &loss));
    MM_TRY(mm_backward(loss));
    return mm_clone(mm_tensor_grad(x), out);
}

/* clang-format off */
#define X4(a, b, c, d) 4, {a, b, c, d}
#define X5(a, b, c, d, e) 5, {a, b, c, d, e}

static const pool_case pool_cases[] = {
    /* ResNet stem: 3x3 stride 2 padding 1 */
    {P_MAX, 2, X4(2, 3, 9, 9), {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, false, 0},
    /* ceil_mode: a last window that starts inside the input */
    {P_MAX, 2, X4(1, 2, 8, 8), {3, 3}, {2, 2}, {0, 0}, {1, 1}, true, false, 0},
    /* ceil_mode: the window that would start in the padding is dropped */
    {P_MAX, 2, X4(1, 2, 5, 5), {2, 2}, {2, 2}, {1, 1}, {1, 1}, true, false, 0},
    /* dilation 2, mixed kernel and stride, stride defaults to the kernel */
    {P_MAX, 2, X4(2, 2, 9, 10), {3, 3}, {1, 1}, {1, 1}, {2, 2}, false, false, 0},
    {P_MAX, 2, X4(1, 3, 7, 9), {2, 3}, {0, 0}, {0, 1}, {1, 1}, true, false, 0},
    /* unbatched */
    {P_MAX, 2, 3, {3, 7, 7}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, true, false, 0},
    /* big enough for threads */
    {P_MAX, 2, X4(4, 16, 32, 32), {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, false, 0},
    {P_MAX_INDICES, 2, X4(2, 3, 9, 9), {3, 3}, {2, 2}, {1, 1}, {2, 2}, true, false, 0},
    {P_MAX, 3, X5(1, 2, 5, 6, 7), {2, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, true, false, 0},
    {P_MAX_INDICES, 3, X5(2, 2, 4, 5, 6), {2, 2, 3}, {1, 2, 2}, {0, 1, 1}, {2, 1, 1}, false, false, 0},
    /* averages: padding counted or not, ceil_mode, divisor_override */
    {P_AVG, 2, X4(2, 3, 9, 9), {3, 3}, {2, 2}, {1, 1}, {0}, false, true, 0},
    {P_AVG, 2, X4(2, 3, 9, 9), {3, 3}, {2, 2}, {1, 1}, {0}, false, false, 0},
    {P_AVG, 2, X4(1, 2, 6, 6), {3, 3}, {2, 2}, {1, 1}, {0}, true, true, 0},
    {P_AVG, 2, X4(1, 2, 6, 6), {3, 3}, {2, 2}, {1, 1}, {0}, true, false, 0},
    {P_AVG, 2, X4(1, 2, 7, 8), {2, 3}, {2, 2}, {1, 1}, {0}, true, true, 5},
    {P_AVG, 2, X4(4, 16, 32, 32), {2, 2}, {0, 0}, {0, 0}, {0}, false, true, 0},
    {P_AVG, 3, X5(1, 2, 5, 6, 7), {3, 2, 2}, {2, 1, 2}, {1, 0, 1}, {0}, true, true, 0},
    {P_AVG, 3, X5(1, 2, 5, 6, 7), {3, 2, 2}, {2, 1, 2}, {1, 0, 1}, {0}, true, false, 0},
    /* adaptive: shrinking, to 1x1, growing */
    {P_AAVG, 2, X4(2, 3, 7, 9), {3, 4}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 2, X4(2, 3, 7, 9), {1, 1}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 2, X4(1, 2, 3, 4), {5, 7}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 2, X4(2, 3, 7, 9), {3, 4}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 2, X4(1, 2, 3, 4), {5, 7}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX_INDICES, 2, X4(2, 3, 7, 9), {3, 4}, {0}, {0}, {0}, false, false, 0},
    /* 1-D */
    {P_MAX, 1, 3, {2, 3, 11}, {3}, {2}, {1}, {2}, true, false, 0},
    {P_MAX_INDICES, 1, 2, {3, 10}, {2}, {0}, {1}, {1}, false, false, 0},
    {P_AVG, 1, 3, {2, 3, 11}, {4}, {3}, {2}, {0}, true, true, 0},
    {P_AVG, 1, 3, {2, 3, 11}, {3}, {2}, {1}, {0}, true, false, 0},
    /* adaptive 1-D and 3-D: shrinking, growing, None (< 0), unbatched */
    {P_AAVG, 1, 3, {2, 3, 11}, {4}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 1, 2, {3, 5}, {8}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 1, 3, {2, 3, 11}, {4}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX_INDICES, 1, 3, {2, 3, 11}, {4}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 1, 2, {3, 5}, {8}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 3, X5(2, 3, 5, 7, 6), {2, 3, 4}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 3, X5(1, 2, 4, 5, 6), {1, 1, 1}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 3, 4, {2, 3, 2, 4}, {5, -1, 6}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 3, X5(2, 3, 5, 7, 6), {2, 3, 4}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX_INDICES, 3, X5(2, 3, 5, 7, 6), {2, 3, 4}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 3, 4, {2, 3, 2, 4}, {5, -1, 6}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 3, X5(4, 16, 8, 14, 14), {2, 7, 7}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 3, X5(4, 16, 8, 14, 14), {2, 7, 7}, {0}, {0}, {0}, false, false, 0},
    /* empty batch */
    {P_MAX, 2, X4(0, 3, 9, 9), {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, false, 0},
    {P_AVG, 2, X4(0, 3, 9, 9), {3, 3}, {2, 2}, {1, 1}, {0}, false, true, 0},
};
/* clang-format on */
enum { N_CASES = sizeof pool_cases / sizeof pool_cases[0] };

MM_TEST(pools_match_reference_f32_and_f64) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int c = 0; c < N_CASES; c++)
        for (int t = 0; t < 2; t++)
            for (int nc = 0; nc < 2; nc++)
                POOLED({
                    const pool_case *pc = &pool_cases[c];
                    mm_tensor *x = randn_t(pc->xnd, pc->x, dtypes[t]);
                    if (nc)
                        x = noncontig(x);
                    char what[64];
                    snprintf(what, sizeof what, "pool case %d %s%s", c,
                             mm_dtype_name(dtypes[t]),
                             nc ? " non-contiguous" : "");
                    CHECK_VS_REFERENCE(what, f_pool, (void *)pc, &x, 1, 1e-5,
                                       1e-5);
                });
}

MM_TEST(bf16_pools_match_reference) {
    const int which[] = {0, 10, 11, 12};
    for (int c = 0; c < 4; c++)
        POOLED({
            const pool_case *pc = &pool_cases[which[c]];
            mm_tensor *x = randn_t(pc->xnd, pc->x, MM_BF16);
            CHECK_VS_REFERENCE("bf16 pool", f_pool, (void *)pc, &x, 1, 1e-2,
                               1e-2);
        });
}

MM_TEST(pool_gradients_match_reference_f32_and_f64) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int c = 0; c < N_CASES; c++) {
        const pool_case *pc = &pool_cases[c];
        if (pc->kind == P_MAX_INDICES || pc->kind == P_AMAX_INDICES)
            continue;
        for (int t = 0; t < 2; t++)
            POOLED({
                mm_tensor *x = randn_t(pc->xnd, pc->x, dtypes[t]);
                char what[64];
                snprintf(what, sizeof what, "pool grad case %d %s", c,
                         mm_dtype_name(dtypes[t]));
                CHECK_VS_REFERENCE(what, f_pool_grad, (void *)pc, &x, 1, 1e-5,
                                   1e-5);
            });
    }
}

/* clang-format off */
static const pool_case grad_cases[] = {
    {P_MAX, 2, X4(1, 2, 5, 5), {3, 3}, {2, 2}, {1, 1}, {1, 1}, false, false, 0},
    {P_MAX, 2, X4(1, 2, 5, 5), {2, 2}, {2, 2}, {1, 1}, {1, 1}, true, false, 0},
    {P_MAX, 2, X4(1, 1, 6, 7), {2, 3}, {1, 2}, {1, 1}, {2, 2}, true, false, 0},
    {P_MAX, 3, X5(1, 1, 3, 4, 4), {2, 2, 2}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}, true, false, 0},
    {P_AVG, 2, X4(1, 2, 6, 6), {3, 3}, {2, 2}, {1, 1}, {0}, true, true, 0},
    {P_AVG, 2, X4(1, 2, 6, 6), {3, 3}, {2, 2}, {1, 1}, {0}, true, false, 0},
    {P_AVG, 2, X4(1, 1, 5, 6), {2, 3}, {1, 2}, {1, 1}, {0}, false, true, 4},
    {P_AVG, 3, X5(1, 1, 3, 4, 4), {2, 3, 2}, {1, 2, 2}, {1, 1, 0}, {0}, true, false, 0},
    {P_MAX, 1, 3, {2, 2, 9}, {3}, {2}, {1}, {2}, true, false, 0},
    {P_AVG, 1, 3, {2, 2, 9}, {4}, {3}, {2}, {0}, true, true, 0},
    {P_AVG, 1, 3, {2, 2, 9}, {3}, {2}, {1}, {0}, true, false, 0},
    {P_AAVG, 2, X4(1, 2, 5, 7), {3, 4}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 2, X4(1, 1, 3, 2), {4, 5}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 2, X4(1, 2, 5, 7), {3, 4}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 1, 3, {1, 2, 7}, {3}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 1, 2, {2, 3}, {5}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 1, 3, {1, 2, 7}, {3}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 1, 2, {2, 3}, {5}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 3, X5(1, 2, 3, 5, 4), {2, 3, 3}, {0}, {0}, {0}, false, false, 0},
    {P_AAVG, 3, 4, {1, 2, 3, 2}, {3, -1, 4}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 3, X5(1, 2, 3, 5, 4), {2, 3, 3}, {0}, {0}, {0}, false, false, 0},
    {P_AMAX, 3, 4, {1, 2, 3, 2}, {3, -1, 4}, {0}, {0}, {0}, false, false, 0},
};
/* clang-format on */

MM_TEST(pool_gradcheck_every_variant) {
    for (size_t c = 0; c < sizeof grad_cases / sizeof grad_cases[0]; c++)
        POOLED({
            const pool_case *pc = &grad_cases[c];
            mm_tensor *x = leaf(randn_t(pc->xnd, pc->x, MM_F64));
            CHECK_GRAD(f_pool, (void *)pc, &x, 1);
            bool prev = mm_ops_set_reference(true);
            CHECK_GRAD(f_pool, (void *)pc, &x, 1);
            mm_ops_set_reference(prev);
        });
}

static mm_tensor *arange_mod(int64_t n, int64_t mul, int ndim,
                             const int64_t *shape, mm_dtype dt) {
    mm_tensor *x;
    if (mm_empty(ndim, shape, dt, &x) < 0)
        abort();
    for (int64_t i = 0; i < n; i++)
        mm_tensor_set_flat(x, i, (double)((i * mul) % n));
    return x;
}

MM_TEST(pools_match_torch_numbers) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int t = 0; t < 2; t++)
        POOLED({
            mm_tensor *v, *i;
            /* x = ((torch.arange(25.) * 7) % 25).reshape(1, 1, 5, 5);
             * F.max_pool2d(x, 2, 2, ceil_mode=True, return_indices=True) */
            static const double mv[] = {17, 24, 13, 20, 19, 23, 22, 11, 18};
            static const int64_t mi[] = {6, 7, 9, 10, 17, 14, 21, 23, 24};
            mm_tensor *x = arange_mod(25, 7, MM_SHAPE(1, 1, 5, 5), dtypes[t]);
            CHECK_OK(mm_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, true,
                                   &v, &i));
            CHECK(v->shape[2] == 3 && v->shape[3] == 3);
            CHECK_INT(i->dtype, MM_I64);
            for (int k = 0; k < 9; k++) {
                CHECK(at(v, k) == mv[k]);
                CHECK_INT(at(i, k), mi[k]);
            }
            /* x = torch.arange(36.).reshape(1, 1, 6, 6);
             * F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=T/F)
             */
            static const double inc[] = {1.5555555820465088,
                                         3.3333332538604736,
                                         4.666666507720947,
                                         2.6666667461395264,
                                         8.333333015441895,
                                         14.0,
                                         16.0,
                                         8.5,
                                         16.33333396911621,
                                         26.0,
                                         28.0,
                                         14.5,
                                         10.166666984558105,
                                         16.0,
                                         17.0,
                                         8.75};
            static const double exc[] = {3.5,  5.0,  7.0,  8.0,  12.5, 14.0,
                                         16.0, 17.0, 24.5, 26.0, 28.0, 29.0,
                                         30.5, 32.0, 34.0, 35.0};
            x = arange_mod(36, 1, MM_SHAPE(1, 1, 6, 6), dtypes[t]);
            for (int ip = 0; ip < 2; ip++) {
                CHECK_OK(mm_avg_pool2d(x, (int64_t[]){3, 3}, (int64_t[]){2, 2},
                                       (int64_t[]){1, 1}, true, ip == 0, 0,
                                       &v));
                CHECK(v->shape[2] == 4 && v->shape[3] == 4);
                for (int k = 0; k < 16; k++)
                    CHECK(fabs(at(v, k) - (ip == 0 ? inc : exc)[k]) < 1e-5);
            }
            /* F.adaptive_avg_pool2d(torch.arange(35.).reshape(1, 1, 5, 7),
             * (3, 4)) */
            static const double aavg[] = {4.0,  5.5,  7.5,  9.0,  14.5, 16.0,
                                          18.0, 19.5, 25.0, 26.5, 28.5, 30.0};
            x = arange_mod(35, 1, MM_SHAPE(1, 1, 5, 7), dtypes[t]);
            CHECK_OK(mm_adaptive_avg_pool2d(x, (int64_t[]){3, 4}, &v));
            for (int k = 0; k < 12; k++)
                CHECK(fabs(at(v, k) - aavg[k]) < 1e-5);
            /* x = ((torch.arange(35.) * 11) % 35).reshape(1, 1, 5, 7);
             * F.adaptive_max_pool2d(x, (3, 4), return_indices=True) */
            static const double amv[] = {18, 33, 33, 31, 32, 32,
                                         34, 34, 32, 32, 30, 24};
            static const int64_t ami[] = {8,  3,  3,  6,  22, 22,
                                          19, 19, 22, 22, 25, 34};
            x = arange_mod(35, 11, MM_SHAPE(1, 1, 5, 7), dtypes[t]);
            CHECK_OK(mm_adaptive_max_pool2d(x, (int64_t[]){3, 4}, &v, &i));
            for (int k = 0; k < 12; k++) {
                CHECK(at(v, k) == amv[k]);
                CHECK_INT(at(i, k), ami[k]);
            }
            /* x = ((torch.arange(11.) * 4) % 11).reshape(1, 1, 11);
             * F.adaptive_max_pool1d(x, 4, return_indices=True) and
             * F.adaptive_avg_pool1d(x, 4) */
            static const double a1v[] = {8, 9, 10, 10};
            static const int64_t a1i[] = {2, 5, 8, 8};
            static const double a1a[] = {4.0, 5.75, 6.75, 6.666666666666667};
            x = arange_mod(11, 4, MM_SHAPE(1, 1, 11), dtypes[t]);
            CHECK_OK(mm_adaptive_max_pool1d(x, (int64_t[]){4}, &v, &i));
            CHECK_INT(i->dtype, MM_I64);
            for (int k = 0; k < 4; k++) {
                CHECK(at(v, k) == a1v[k]);
                CHECK_INT(at(i, k), a1i[k]);
            }
            CHECK_OK(mm_adaptive_avg_pool1d(x, (int64_t[]){4}, &v));
            for (int k = 0; k < 4; k++)
                CHECK(fabs(at(v, k) - a1a[k]) < 1e-6);
        });
}

/* torch.set_default_dtype(torch.float64); ar(shape, mul) =
 * torch.sin(torch.arange(numel) * mul).reshape(shape); each result reduced
 * to (y.sum(), (y * y * (1 + torch.arange(numel) % 7)).sum()). */
MM_TEST(pools_match_torch_checksums) {
    const mm_dtype dtypes[] = {MM_F64, MM_F32};
    for (int t = 0; t < 2; t++)
        POOLED({
            mm_dtype dt = dtypes[t];
            double rtol = dt == MM_F64 ? 1e-9 : 1e-5;
            mm_tensor *y, *i;
            mm_tensor *x = sin_t(MM_SHAPE(2, 4, 5, 6), 0.37, dt);
            mm_tensor *x3 = sin_t(MM_SHAPE(1, 4, 5, 6, 7), 0.21, dt);
            /* F.max_pool3d(x3, (2,3,3), (2,2,1), (1,1,0), (1,2,1),
             * ceil_mode=True, return_indices=True) */
            CHECK_OK(mm_max_pool3d(x3, (int64_t[]){2, 3, 3},
                                   (int64_t[]){2, 2, 1}, (int64_t[]){1, 1, 0},
                                   (int64_t[]){1, 2, 1}, true, &y, &i));
            CHECK(checksums_match(y, MM_SHAPE(1, 4, 3, 3, 5), 156.0168889,
                                  551.3512359, rtol));
            CHECK(
                checksums_match(i, MM_SHAPE(1, 4, 3, 3, 5), 16292, 8656793, 0));
            /* F.avg_pool3d(x3, (3,2,3), (2,2,2), (1,1,1), ceil_mode=True,
             * count_include_pad=True / False) */
            CHECK_OK(mm_avg_pool3d(x3, (int64_t[]){3, 2, 3},
                                   (int64_t[]){2, 2, 2}, (int64_t[]){1, 1, 1},
                                   true, true, 0, &y));
            CHECK(checksums_match(y, MM_SHAPE(1, 4, 3, 4, 4), -0.5957478435,
                                  5.459125257, rtol));
            CHECK_OK(mm_avg_pool3d(x3, (int64_t[]){3, 2, 3},
                                   (int64_t[]){2, 2, 2}, (int64_t[]){1, 1, 1},
                                   true, false, 0, &y));
            CHECK(checksums_match(y, MM_SHAPE(1, 4, 3, 4, 4), -2.024881389,
                                  21.72426351, rtol));
            /* F.avg_pool2d(x, (3,2), (2,1), (1,1), ceil_mode=True,
             * count_include_pad=True, divisor_override=4) */
            CHECK_OK(mm_avg_pool2d(x, (int64_t[]){3, 2}, (int64_t[]){2, 1},
                                   (int64_t[]){1, 1}, true, true, 4, &y));
            CHECK(checksums_match(y, MM_SHAPE(2, 4, 3, 7), 0.6657754094,
                                  35.47002387, rtol));
            /* F.adaptive_max_pool2d(x, (4, None), return_indices=True) */
            CHECK_OK(mm_adaptive_max_pool2d(x, (int64_t[]){4, -1}, &y, &i));
            CHECK(checksums_match(y, MM_SHAPE(2, 4, 4, 6), 109.1837866,
                                  380.6094505, rtol));
            CHECK(checksums_match(i, MM_SHAPE(2, 4, 4, 6), 2832, 206336, 0));
            /* F.adaptive_avg_pool2d(x, (7, 4)) */
            CHECK_OK(mm_adaptive_avg_pool2d(x, (int64_t[]){7, 4}, &y));
            CHECK(checksums_match(y, MM_SHAPE(2, 4, 7, 4), 0.007439683343,
                                  235.4380245, rtol));
            /* x1 = ar((2, 3, 11), 0.37): F.adaptive_avg_pool1d(x1, 4) and
             * (x1, 15); F.adaptive_max_pool1d(x1, 4, return_indices=True) */
            mm_tensor *x1 = sin_t(MM_SHAPE(2, 3, 11), 0.37, dt);
            CHECK_OK(mm_adaptive_avg_pool1d(x1, (int64_t[]){4}, &y));
            CHECK(checksums_match(y, MM_SHAPE(2, 3, 4), 0.3480046509,
                                  40.31280294, rtol));
            CHECK_OK(mm_adaptive_avg_pool1d(x1, (int64_t[]){15}, &y));
            CHECK(checksums_match(y, MM_SHAPE(2, 3, 15), 1.301794622,
                                  178.6457878, rtol));
            CHECK_OK(mm_adaptive_max_pool1d(x1, (int64_t[]){4}, &y, &i));
            CHECK(checksums_match(y, MM_SHAPE(2, 3, 4), 7.266251864,
                                  47.10128902, rtol));
            CHECK(checksums_match(i, MM_SHAPE(2, 3, 4), 119, 3403, 0));
            /* F.adaptive_avg_pool3d(x3, (3, None, 4)) and (x3, (7, 8, 9));
             * F.adaptive_max_pool3d(x3, (2, 4, 5), return_indices=True) */
            CHECK_OK(mm_adaptive_avg_pool3d(x3, (int64_t[]){3, -1, 4}, &y));
            CHECK(checksums_match(y, MM_SHAPE(1, 4, 3, 6, 4), -1.832681934,
                                  40.76612223, rtol));
            CHECK_OK(mm_adaptive_avg_pool3d(x3, (int64_t[]){7, 8, 9}, &y));
            CHECK(checksums_match(y, MM_SHAPE(1, 4, 7, 8, 9), 9.238292804,
                                  1519.781481, rtol));
            CHECK_OK(mm_adaptive_max_pool3d(x3, (int64_t[]){2, 4, 5}, &y, &i));
            CHECK(checksums_match(y, MM_SHAPE(1, 4, 2, 4, 5), 155.1194767,
                                  601.1666696, rtol));
            CHECK(checksums_match(i, MM_SHAPE(1, 4, 2, 4, 5), 15899, 8043721,
                                  0));
        });
}

MM_TEST(max_pool_propagates_nan_and_routes_gradients_by_index) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(1, 1, 4, 4), MM_F32), *v, *i, *s;
        mm_tensor_set_flat(x, 5, NAN);
        CHECK_OK(mm_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false,
                               &v, &i));
        CHECK(isnan(at(v, 0)));
        CHECK_INT(at(i, 0), 5);
        mm_tensor *y = leaf(randn_t(MM_SHAPE(2, 3, 6, 6), MM_F64));
        CHECK_OK(mm_max_pool2d(y, (int64_t[]){3, 3}, (int64_t[]){2, 2},
                               (int64_t[]){1, 1}, NULL, false, &v, &i));
        CHECK_OK(mm_sum(v, 0, NULL, false, &s));
        CHECK_OK(mm_backward(s));
        /* every output sends 1 to the position its index names */
        mm_tensor *gx = mm_tensor_grad(y);
        double total = 0;
        for (int64_t k = 0; k < gx->numel; k++)
            total += at(gx, k);
        CHECK(fabs(total - (double)v->numel) < 1e-9);
        CHECK(at(gx, 36 + at(i, 9)) >= 1);
    });
}

/* ---- channels-last ------------------------------------------------------ */

/* x laid out channels-last (a copy). */
static mm_tensor *to_cl(mm_tensor *x) {
    mm_tensor *c;
    if (mm_to_memory_format(x, MM_FORMAT_CHANNELS_LAST, &c) < 0)
        abort();
    return c;
}

/* The same shape, dtype and values, bit for bit (NaN equals NaN). */
static bool same_values(const mm_tensor *a, const mm_tensor *b) {
    if (a->dtype != b->dtype || !mm_tensor_same_shape(a, b))
        return false;
    for (int64_t i = 0; i < a->numel; i++) {
        double u = mm_tensor_get_flat(a, i), v = mm_tensor_get_flat(b, i);
        if (u != v && !(isnan(u) && isnan(v))) {
            fprintf(stderr, "element %lld: %.17g vs %.17g\n", (long long)i, u,
                    v);
            return false;
        }
    }
    return true;
}

/* Batched cases: the channels-last path needs [N, C, sp...]. */
static bool batched(const pool_case *pc) { return pc->xnd == pc->nsp + 2; }

/* pool(x_cl) is channels-last, equals pool(x) exactly (values or indices)
 * and, with the reference kernels, the reference on the contiguous input. */
static void check_cl_forward(const pool_case *pc, mm_tensor *x,
                             const char *what) {
    mm_tensor *y, *ycl, *ref, *refcl, *xcl = to_cl(x);
    CHECK_OK(f_pool((void *)pc, &x, 1, &y));
    CHECK_OK(f_pool((void *)pc, &xcl, 1, &ycl));
    bool prev = mm_ops_set_reference(true);
    CHECK_OK(f_pool((void *)pc, &x, 1, &ref));
    CHECK_OK(f_pool((void *)pc, &xcl, 1, &refcl));
    mm_ops_set_reference(prev);
    bool ok = mm_tensor_is_channels_last(ycl) &&
              mm_tensor_is_channels_last(refcl) && same_values(y, ycl) &&
              same_values(ref, refcl);
    if (!ok)
        fprintf(stderr, "%s: channels-last %s differs from contiguous\n", what,
                mm_tensor_is_channels_last(ycl) ? "result" : "layout");
    CHECK(ok);
    CHECK_VS_REFERENCE(what, f_pool, (void *)pc, &xcl, 1, 1e-5, 1e-5);
}

MM_TEST(pools_keep_channels_last_and_match_contiguous) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int c = 0; c < N_CASES; c++) {
        const pool_case *pc = &pool_cases[c];
        if (!batched(pc))
            continue;
        for (int t = 0; t < 2; t++)
            POOLED({
                char what[64];
                snprintf(what, sizeof what, "channels-last pool case %d %s", c,
                         mm_dtype_name(dtypes[t]));
                check_cl_forward(pc, randn_t(pc->xnd, pc->x, dtypes[t]), what);
            });
    }
    /* bf16 through oneDNN's nhwc pooling */
    const int which[] = {0, 10, 11, 12};
    for (int c = 0; c < 4; c++)
        POOLED({
            const pool_case *pc = &pool_cases[which[c]];
            mm_tensor *x = randn_t(pc->xnd, pc->x, MM_BF16), *y, *ycl;
            mm_tensor *xcl = to_cl(x);
            mm_no_grad_push();
            CHECK_OK(f_pool((void *)pc, &x, 1, &y));
            CHECK_OK(f_pool((void *)pc, &xcl, 1, &ycl));
            mm_no_grad_pop();
            CHECK(mm_tensor_is_channels_last(ycl));
            double err;
            CHECK(mm_allclose(y, ycl, 1e-2, 1e-2, &err));
            CHECK_VS_REFERENCE("bf16 channels-last pool", f_pool, (void *)pc,
                               &xcl, 1, 1e-2, 1e-2);
        });
}

/* What the backward pool ops of one backward pass produced. */
typedef struct bwd_layouts {
    int seen;
    bool all_cl, all_contiguous;
} bwd_layouts;

static void watch_backward(void *user, const mm_op_event *ev) {
    bwd_layouts *b = user;
    if (!strstr(ev->name, "pool_backward"))
        return;
    b->seen++;
    b->all_cl = b->all_cl && mm_tensor_is_channels_last(ev->out);
    b->all_contiguous = b->all_contiguous && mm_tensor_is_contiguous(ev->out);
}

/* d sum(pool(x) * r) / dx, x kept in the input's layout; the backward op
 * must give the gradient in that layout too. */
static int f_pool_grad_layout(void *vctx, mm_tensor *const *in, int n,
                              mm_tensor **out) {
    (void)n;
    mm_tensor *x, *y, *r, *loss;
    bool cl = !mm_tensor_is_contiguous(in[0]);
    mm_memory_format fmt = cl ? MM_FORMAT_CHANNELS_LAST : MM_FORMAT_CONTIGUOUS;
    MM_TRY(mm_clone(in[0], &x));
    MM_TRY(mm_to_memory_format(x, fmt, &x));
    MM_TRY(mm_tensor_set_requires_grad(x, true));
    MM_TRY(f_pool(vctx, &x, 1, &y));
    MM_TRY(cos_weights(y, &r));
    MM_TRY(mm_mul(y, r, &loss));
    MM_TRY(mm_sum(loss, 0, NULL, false, &loss));
    bwd_layouts b = {0, true, true};
    mm_ops_set_observer(watch_backward, &b);
    int rc = mm_backward(loss);
    mm_ops_set_observer(NULL, NULL);
    MM_TRY(rc);
    if (b.seen != 1 || !(cl ? b.all_cl : b.all_contiguous))
        return mm_error_set(MM_EINVAL, "backward gave a %s gradient",
                            cl ? "contiguous" : "channels-last");
    return mm_to_memory_format(mm_tensor_grad(x), fmt, out);
}

MM_TEST(pool_gradients_keep_channels_last_and_match_contiguous) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int c = 0; c < N_CASES; c++) {
        const pool_case *pc = &pool_cases[c];
        if (!batched(pc) || pc->kind == P_MAX_INDICES ||
            pc->kind == P_AMAX_INDICES)
            continue;
        for (int t = 0; t < 2; t++)
            for (int r = 0; r < 2; r++)
                POOLED({
                    bool prev = mm_ops_set_reference(r == 1);
                    mm_tensor *x = randn_t(pc->xnd, pc->x, dtypes[t]), *g, *gcl;
                    mm_tensor *xcl = to_cl(x);
                    CHECK_OK(f_pool_grad_layout((void *)pc, &x, 1, &g));
                    CHECK_OK(f_pool_grad_layout((void *)pc, &xcl, 1, &gcl));
                    mm_ops_set_reference(prev);
                    bool ok =
                        mm_tensor_is_channels_last(gcl) && same_values(g, gcl);
                    if (!ok)
                        fprintf(stderr,
                                "channels-last pool grad case %d %s%s "
                                "differs\n",
                                c, mm_dtype_name(dtypes[t]),
                                r ? " reference" : "");
                    CHECK(ok);
                });
    }
}

MM_TEST(pool_gradcheck_channels_last_input) {
    for (size_t c = 0; c < sizeof grad_cases / sizeof grad_cases[0]; c++) {
        const pool_case *pc = &grad_cases[c];
        if (!batched(pc))
            continue;
        POOLED({
            mm_tensor *x = leaf(to_cl(randn_t(pc->xnd, pc->x, MM_F64)));
            CHECK_GRAD(f_pool, (void *)pc, &x, 1);
            bool prev = mm_ops_set_reference(true);
            CHECK_GRAD(f_pool, (void *)pc, &x, 1);
            mm_ops_set_reference(prev);
        });
    }
}

/* The backward ops called with the gradient and the indices in either
 * layout give the same gradient, laid out as params [13] asks. */
MM_TEST(pool_backward_ops_take_either_layout) {
    POOLED({
        const int64_t xs[4] = {2, 5, 9, 8};
        mm_tensor *x = randn_t(4, xs, MM_F32), *idx;
        mm_no_grad_push();
        CHECK_OK(mm_max_pool2d(x, (int64_t[]){3, 3}, (int64_t[]){2, 2},
                               (int64_t[]){1, 1}, NULL, false, NULL, &idx));
        mm_no_grad_pop();
        mm_tensor *g = randn_t(4, idx->shape, MM_F32);
        mm_op_params q;
        memset(&q, 0, sizeof q);
        q.i[0] = 2;
        for (int j = 0; j < 2; j++) {
            q.i[1 + j] = 3;
            q.i[4 + j] = 2;
            q.i[7 + j] = 1;
            q.i[10 + j] = 1;
            q.i[17 + j] = xs[2 + j];
        }
        mm_tensor *want_max = NULL, *want_avg = NULL;
        for (int k = 0; k < 8; k++) {
            bool gcl = k & 1, icl = k & 2, outcl = k & 4;
            mm_tensor *in[2] = {gcl ? to_cl(g) : g, icl ? to_cl(idx) : idx};
            mm_tensor *gx, *ga;
            q.i[13] = outcl;
            CHECK_OK(
                mm_op_apply(mm_op_find("max_pool_backward"), 2, in, &q, &gx));
            CHECK_OK(
                mm_op_apply(mm_op_find("avg_pool_backward"), 1, in, &q, &ga));
            CHECK(mm_tensor_is_channels_last(gx) == outcl &&
                  mm_tensor_is_contiguous(gx) == !outcl &&
                  mm_tensor_is_channels_last(ga) == outcl);
            if (!want_max) {
                want_max = gx;
                want_avg = ga;
            }
            CHECK(same_values(want_max, gx) && same_values(want_avg, ga));
        }
    });
}

/* A ResNet stem's max pool (training: values and indices) and the head's
 * global average, at a realistic size. */
MM_TEST(resnet_pools_channels_last_match_contiguous) {
    POOLED({
        /* clang-format off */
        pool_case stem = {P_MAX, 2, X4(4, 64, 56, 56), {3, 3}, {2, 2}, {1, 1},
                          {1, 1}, false, false, 0};
        /* clang-format on */
        mm_tensor *x = randn_t(stem.xnd, stem.x, MM_F32), *gcl, *g, *i, *icl;
        mm_tensor_set_flat(x, 1234, NAN);
        mm_tensor *xcl = to_cl(x);
        CHECK_OK(f_pool_grad_layout(&stem, &x, 1, &g));
        CHECK_OK(f_pool_grad_layout(&stem, &xcl, 1, &gcl));
        CHECK(mm_tensor_is_channels_last(gcl) && same_values(g, gcl));
        stem.kind = P_MAX_INDICES;
        CHECK_OK(f_pool(&stem, &x, 1, &i));
        CHECK_OK(f_pool(&stem, &xcl, 1, &icl));
        CHECK(mm_tensor_is_channels_last(icl) && same_values(i, icl));
        /* clang-format off */
        pool_case head = {P_AAVG, 2, X4(4, 512, 7, 7), {1, 1}, {0}, {0}, {0},
                          false, false, 0};
        /* clang-format on */
        x = randn_t(head.xnd, head.x, MM_F32);
        xcl = to_cl(x);
        check_cl_forward(&head, x, "global average");
        CHECK_OK(f_pool_grad_layout(&head, &x, 1, &g));
        CHECK_OK(f_pool_grad_layout(&head, &xcl, 1, &gcl));
        CHECK(mm_tensor_is_channels_last(gcl) && same_values(g, gcl));
    });
}

MM_TEST(pool_errors_are_one_line) {
    POOLED({
        mm_tensor *x, *xi, *y, *i;
        CHECK_OK(mm_zeros(MM_SHAPE(1, 1, 5, 5), MM_F32, &x));
        CHECK_OK(mm_zeros(MM_SHAPE(1, 1, 5, 5), MM_I64, &xi));
        CHECK_ERR(mm_max_pool2d(x, (int64_t[]){3, 3}, (int64_t[]){1, 1},
                                (int64_t[]){2, 2}, NULL, false, &y, NULL),
                  MM_EINVAL,
                  "max_pool2d: pad should be at most half of kernel size, but "
                  "got pad=2 and kernel_size=3");
        CHECK_ERR(mm_max_pool2d(x, (int64_t[]){6, 6}, NULL, NULL, NULL, false,
                                &y, NULL),
                  MM_EINVAL,
                  "max_pool2d: calculated output size [0, 0] is too small "
                  "(input [1, 1, 5, 5])");
        CHECK_ERR(mm_max_pool2d(x, (int64_t[]){0, 2}, NULL, NULL, NULL, false,
                                &y, NULL),
                  MM_EINVAL,
                  "max_pool2d: kernel size must be positive, got [0, 2]");
        mm_tensor *x2;
        CHECK_OK(mm_zeros(MM_SHAPE(5, 5), MM_F32, &x2));
        CHECK_ERR(mm_max_pool3d(x2, (int64_t[]){2, 2, 2}, NULL, NULL, NULL,
                                false, &y, &i),
                  MM_EINVAL,
                  "max_pool3d: expected a 4-D (unbatched) or 5-D (batched) "
                  "input, got [5, 5]");
        CHECK_ERR(mm_avg_pool2d(xi, (int64_t[]){2, 2}, NULL, NULL, false, true,
                                0, &y),
                  MM_ETYPE,
                  "avg_pool2d: expected a floating-point input, got i64");
        CHECK_ERR(mm_avg_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, false, true,
                                -1, &y),
                  MM_EINVAL,
                  "avg_pool2d: divisor_override must be positive, got -1");
        CHECK_ERR(mm_adaptive_avg_pool2d(x, (int64_t[]){0, 2}, &y), MM_EINVAL,
                  "adaptive_avg_pool2d: output size must be positive, got "
                  "[0, 2]");
        CHECK_ERR(mm_adaptive_avg_pool3d(x2, (int64_t[]){1, 1, 1}, &y),
                  MM_EINVAL,
                  "adaptive_avg_pool3d: expected a 4-D (unbatched) or 5-D "
                  "(batched) input, got [5, 5]");
        CHECK_ERR(mm_adaptive_max_pool1d(x, (int64_t[]){2}, &y, NULL),
                  MM_EINVAL,
                  "adaptive_max_pool1d: expected a 2-D (unbatched) or 3-D "
                  "(batched) input, got [1, 1, 5, 5]");
        CHECK_ERR(mm_adaptive_max_pool1d(x2, (int64_t[]){0}, &y, NULL),
                  MM_EINVAL,
                  "adaptive_max_pool1d: output size must be positive, got "
                  "[0]");
        CHECK_ERR(mm_adaptive_avg_pool1d(x2, NULL, &y), MM_EINVAL,
                  "adaptive_avg_pool1d: output_size is NULL");
        CHECK_ERR(mm_max_pool2d(x, (int64_t[]){2, 2}, NULL, NULL, NULL, false,
                                NULL, NULL),
                  MM_EINVAL, "max_pool2d: no output asked for");
    });
}

MM_TEST_MAIN(MM_CASE(pools_match_reference_f32_and_f64),
             MM_CASE(bf16_pools_match_reference),
             MM_CASE(pool_gradients_match_reference_f32_and_f64),
             MM_CASE(pool_gradcheck_every_variant),
             MM_CASE(pools_match_torch_numbers),
             MM_CASE(pools_match_torch_checksums),
             MM_CASE(max_pool_propagates_nan_and_routes_gradients_by_index),
             MM_CASE(pools_keep_channels_last_and_match_contiguous),
             MM_CASE(pool_gradients_keep_channels_last_and_match_contiguous),
             MM_CASE(pool_gradcheck_channels_last_input),
             MM_CASE(pool_backward_ops_take_either_layout),
             MM_CASE(resnet_pools_channels_last_match_contiguous),
             MM_CASE(pool_errors_are_one_line))
