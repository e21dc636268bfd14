/* Reductions (amax, amin, var, std, logsumexp, norm, prod, all, any,
 * argmax, argmin, max/min with a dim, cumsum) and sorting (sort, argsort,
 * topk): optimised kernels against the reference kernels on f32 and f64,
 * contiguous and not, empty and big; float64 gradcheck of every
 * differentiable variant; values from torch 1.13; error messages. */
#include <string.h>

#include "ops_testing.h"

enum {
    R_AMAX, R_AMIN, R_VAR1, R_VAR0, R_STD, R_LSE, R_NORM1, R_NORM2,
    R_NORMINF, R_NORM3, R_NORMNINF, R_NORM0, R_PROD, R_ALL, R_ANY, R_CUMSUM, R_ARGMAX, R_ARGMIN,
    R_MAXV, R_MAXI, R_MINV, R_SORTV, R_SORTI, R_SORTDV, R_TOPKV, R_TOPKI,
    R_COUNT
};

typedef struct red_ctx {
    int which, n_dims, dims[4];
    bool keepdim;
} red_ctx;

static int f_red(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    const red_ctx *c = vctx;
    mm_tensor *x = in[0], *a, *b;
    int nd = c->n_dims, d0 = nd ? c->dims[0] : 0;
    const int *ds = c->dims;
    bool kd = c->keepdim;
    int rc;
    switch (c->which) {
    case R_AMAX: return mm_amax(x, nd, ds, kd, out);
    case R_AMIN: return mm_amin(x, nd, ds, kd, out);
    case R_VAR1: return mm_var(x, nd, ds, 1, kd, out);
    case R_VAR0: return mm_var(x, nd, ds, 0, kd, out);
    case R_STD: return mm_std(x, nd, ds, 1, kd, out);
    case R_LSE: return mm_logsumexp(x, nd, ds, kd, out);
    case R_NORM1: return mm_norm(x, 1, nd, ds, kd, out);
    case R_NORM2: return mm_norm(x, 2, nd, ds, kd, out);
    case R_NORMINF: return mm_norm(x, INFINITY, nd, ds, kd, out);
    case R_NORM3: return mm_norm(x, 3, nd, ds, kd, out);
    case R_NORMNINF: return mm_norm(x, -INFINITY, nd, ds, kd, out);
    case R_NORM0: return mm_norm(x, 0, nd, ds, kd, out);
    case R_PROD: return mm_prod(x, nd, ds, kd, out);
    case R_ALL: return mm_all(x, nd, ds, kd, out);
    case R_ANY: return mm_any(x, nd, ds, kd, out);
    case R_CUMSUM: return mm_cumsum(x, d0, out);
    case R_ARGMAX: return mm_argmax(x, nd ? &d0 : NULL, kd, out);
    case R_ARGMIN: return mm_argmin(x, nd ? &d0 : NULL, kd, out);
    case R_MAXV: return mm_max_dim(x, d0, kd, out, &b);
    case R_MAXI: return mm_max_dim(x, d0, kd, &a, out);
    case R_MINV: return mm_min_dim(x, d0, kd, out, &b);
    case R_SORTV: return mm_sort(x, d0, false, true, out, &b);
    case R_SORTI: return mm_sort(x, d0, false, true, &a, out);
    case R_SORTDV: return mm_sort(x, d0, true, false, out, &b);
    case R_TOPKV:
    case R_TOPKI: {
        int64_t size = x->ndim ? x->shape[d0 < 0 ? d0 + x->ndim : d0] : 1;
        rc = mm_topk(x, size / 2, d0, c->keepdim, true, &a, &b);
        if (rc < 0)
            return rc;
        *out = c->which == R_TOPKV ? a : b; /* borrowed from the pool */
        return 0;
    }
    default: return MM_EINVAL;
    }
}

/* Ops that refuse an empty reduced dim or need an argument dim. */
static bool needs_items(int w) {
    return w == R_AMAX || w == R_AMIN || w == R_NORMINF || w == R_NORMNINF ||
           w == R_ARGMAX ||
           w == R_ARGMIN || w == R_MAXV || w == R_MAXI || w == R_MINV;
}
static bool one_dim(int w) { return w >= R_CUMSUM; }

typedef struct red_case {
    int nx;
    int64_t x[4];
    int nd;
    int dims[4];
} red_case;

static const red_case red_cases[] = {
    {2, {5, 7}, 1, {1}},        {3, {4, 6, 5}, 2, {0, 2}},
    {3, {4, 6, 5}, 0, {0}},     {3, {4, 6, 5}, 1, {-2}},
    {2, {130, 257}, 1, {0}},    {2, {130, 257}, 1, {1}},
    {2, {0, 3}, 1, {1}},        {2, {3, 0}, 1, {1}},
    {0, {0}, 0, {0}},           {1, {1}, 1, {0}},
};

MM_TEST(reductions_and_sorts_match_reference) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (size_t c = 0; c < sizeof red_cases / sizeof red_cases[0]; c++)
        for (int t = 0; t < 2; t++)
            for (int w = 0; w < R_COUNT; w++)
                for (int nc = 0; nc < 2; nc++)
                    POOLED({
                        const red_case *rc = &red_cases[c];
                        mm_tensor *x = randn_t(rc->nx, rc->x, dtypes[t]);
                        if (nc)
                            x = noncontig(x);
                        red_ctx ctx = {w, rc->nd, {0}, (c + (size_t)w) % 2};
                        memcpy(ctx.dims, rc->dims, sizeof ctx.dims);
                        if (one_dim(w) && rc->nd != 1)
                            ctx.n_dims = rc->nx ? 1 : 0, ctx.dims[0] = 0;
                        bool empty_red = false;
                        for (int k = 0; k < rc->nx; k++)
                            if (rc->x[k] == 0)
                                empty_red = true;
                        if (needs_items(w) && empty_red)
                            continue;
                        if (w == R_PROD && rc->nx == 2 && rc->x[0] == 130)
                            continue; /* overflows to inf / 0 */
                        char what[96];
                        snprintf(what, sizeof what, "reduction %d case %zu %s%s",
                                 w, c, mm_dtype_name(dtypes[t]),
                                 nc ? " noncontig" : "");
                        CHECK_VS_REFERENCE(what, f_red, &ctx, &x, 1, 1e-5,
                                           1e-5);
                    });
}

MM_TEST(reductions_do_not_depend_on_the_thread_count) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(64, 1031), MM_F32), *a, *b;
        for (int w = 0; w < R_COUNT; w++) {
            if (w == R_PROD)
                continue;
            red_ctx ctx = {w, 1, {1}, false};
            int prev = mm_get_num_threads();
            mm_set_num_threads(1);
            CHECK_OK(f_red(&ctx, &x, 1, &a));
            mm_set_num_threads(2);
            CHECK_OK(f_red(&ctx, &x, 1, &b));
            mm_set_num_threads(prev);
            CHECK(mm_allclose(a, b, 0, 0, NULL));
        }
    });
}

static const int grad_ops[] = {R_AMAX, R_AMIN, R_VAR1, R_VAR0, R_STD,
                               R_LSE, R_NORM1, R_NORM2, R_NORMINF, R_NORM3,
                               R_NORMNINF, R_NORM0,
                               R_PROD, R_CUMSUM, R_MAXV, R_MINV, R_SORTV,
                               R_SORTDV, R_TOPKV};

MM_TEST(reductions_pass_gradcheck) {
    const red_case cases[] = {{2, {3, 4}, 1, {1}},
                              {3, {2, 3, 4}, 2, {0, 2}},
                              {3, {2, 3, 4}, 0, {0}},
                              {3, {2, 3, 4}, 1, {-2}}};
    for (size_t g = 0; g < sizeof grad_ops / sizeof grad_ops[0]; g++)
        for (size_t c = 0; c < 4; c++)
            for (int kd = 0; kd < 2; kd++)
                POOLED({
                    int w = grad_ops[g];
                    red_ctx ctx = {w, cases[c].nd, {0}, kd};
                    memcpy(ctx.dims, cases[c].dims, sizeof ctx.dims);
                    if (one_dim(w) && cases[c].nd != 1)
                        ctx.n_dims = 1, ctx.dims[0] = 1;
                    if ((w == R_MAXV || w == R_MINV) && cases[c].nd != 1)
                        ctx.n_dims = 1, ctx.dims[0] = 0;
                    mm_tensor *x = leaf(
                        noncontig(randn_t(cases[c].nx, cases[c].x, MM_F64)));
                    CHECK_GRAD(f_red, &ctx, &x, 1);
                });
}

static mm_tensor *from(const double *v, int nd, const int64_t *shape,
                       mm_dtype dt) {
    mm_tensor *t, *c;
    if (mm_from_data(v, nd, shape, MM_F64, &t) < 0 || mm_to_dtype(t, dt, &c) < 0)
        abort();
    return c;
}

static bool equals(const mm_tensor *t, const double *want, int64_t n) {
    if (t->numel != n)
        return false;
    for (int64_t i = 0; i < n; i++)
        if (at(t, i) != want[i] &&
            !(fabs(at(t, i) - want[i]) <= 1e-4 * fabs(want[i]) + 1e-6) &&
            !(isnan(at(t, i)) && isnan(want[i])))
            return false;
    return true;
}

#define CHECK_VALUES(t, ...)                                                   \
    do {                                                                       \
        const double want_[] = {__VA_ARGS__};                                  \
        CHECK(equals(t, want_, sizeof want_ / sizeof want_[0]));               \
    } while (0)

/* x = torch.tensor([[1.,3.,3.,-2.],[0.5,-1.,4.,4.],[2.,2.,-5.,1.]]) */
static const double X[] = {1, 3, 3, -2, 0.5, -1, 4, 4, 2, 2, -5, 1};

MM_TEST(reductions_give_torchs_values) {
    POOLED({
        mm_tensor *x = from(X, MM_SHAPE(3, 4), MM_F32), *v, *i;
        CHECK_OK(mm_max_dim(x, 1, false, &v, &i)); /* torch.max(x, 1) */
        CHECK_VALUES(v, 3, 4, 2);
        CHECK_VALUES(i, 1, 2, 0); /* the first of ties */
        CHECK_INT(i->dtype, MM_I64);
        CHECK_OK(mm_min_dim(x, 0, true, &v, &i)); /* torch.min(x, 0, True) */
        CHECK_VALUES(v, 0.5, -1, -5, -2);
        CHECK_VALUES(i, 1, 1, 2, 0);
        CHECK_INT(v->ndim, 2);
        CHECK_OK(mm_argmax(x, NULL, false, &i)); /* x.argmax() */
        CHECK_VALUES(i, 6);
        CHECK_OK(mm_argmin(x, &(int){1}, false, &i)); /* x.argmin(1) */
        CHECK_VALUES(i, 3, 1, 2);
        CHECK_OK(mm_var(x, MM_DIMS(1), 1, false, &v)); /* x.var(1) */
        CHECK_VALUES(v, 5.5833333, 6.3958333, 11.333333);
        CHECK_OK(mm_var(x, MM_DIMS(1), 0, false, &v)); /* unbiased=False */
        CHECK_VALUES(v, 4.1875, 4.796875, 8.5);
        CHECK_OK(mm_std(x, MM_DIMS(0), 1, false, &v)); /* x.std(0) */
        CHECK_VALUES(v, 0.7637626, 2.0816660, 4.9328829, 3.0);
        CHECK_OK(mm_logsumexp(x, MM_DIMS(1), false, &v));
        CHECK_VALUES(v, 3.7617743, 4.7114463, 2.8623798);
        /* torch.linalg.vector_norm(x, p, dim) */
        CHECK_OK(mm_norm(x, 2, MM_DIMS(1), false, &v));
        CHECK_VALUES(v, 4.7958317, 5.7662811, 5.8309517);
        CHECK_OK(mm_norm(x, 1, MM_DIMS(0), false, &v));
        CHECK_VALUES(v, 3.5, 6, 12, 7);
        CHECK_OK(mm_norm(x, INFINITY, MM_DIMS(1), false, &v));
        CHECK_VALUES(v, 3, 4, 5);
        CHECK_OK(mm_norm(x, -INFINITY, MM_DIMS(1), false, &v));
        CHECK_VALUES(v, 1, 0.5, 1);
        CHECK_OK(mm_norm(x, 0, MM_DIMS(0), false, &v));
        CHECK_VALUES(v, 3, 3, 3, 3);
        CHECK_OK(mm_prod(x, MM_DIMS(1), false, &v));
        CHECK_VALUES(v, -18, -8, -20);
        CHECK_OK(mm_cumsum(x, 1, &v));
        CHECK_VALUES(v, 1, 4, 7, 5, 0.5, -0.5, 3.5, 7.5, 2, 4, -1, 0);
        CHECK_OK(mm_amax(x, 0, NULL, false, &v));
        CHECK_VALUES(v, 4);
        CHECK_OK(mm_all(x, MM_DIMS(1), false, &v));
        CHECK_INT(v->dtype, MM_BOOL);
        CHECK_VALUES(v, 1, 1, 1);
    });
}

/* Gradient of sum(f(x)) with x above. */
static mm_tensor *grad_of(int which, int dim) {
    mm_tensor *x = leaf(from(X, MM_SHAPE(3, 4), MM_F64)), *y, *s;
    red_ctx ctx = {which, 1, {dim}, false};
    if (f_red(&ctx, &x, 1, &y) < 0 || mm_sum(y, 0, NULL, false, &s) < 0 ||
        mm_backward(s) < 0)
        abort();
    return x->grad;
}

MM_TEST(reduction_gradients_split_ties_as_torch) {
    POOLED({
        /* x.amax(1).sum().backward(): ties share */
        CHECK_VALUES(grad_of(R_AMAX, 1), 0, .5, .5, 0, 0, 0, .5, .5, .5, .5, 0,
                     0);
        /* torch.max(x, 1)[0].sum().backward(): the returned index only */
        CHECK_VALUES(grad_of(R_MAXV, 1), 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0);
        /* torch.linalg.vector_norm(x, inf, dim=1).sum().backward() */
        CHECK_VALUES(grad_of(R_NORMINF, 1), 0, .5, .5, 0, 0, 0, .5, .5, 0, 0,
                     -1, 0);
        /* the 2-norm and std of zeros have gradient 0 */
        mm_tensor *z, *y;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F64, &z));
        leaf(z);
        CHECK_OK(mm_norm(z, 2, MM_DIMS(1), false, &y));
        CHECK_OK(mm_sum(y, 0, NULL, false, &y));
        CHECK_OK(mm_backward(y));
        CHECK_VALUES(z->grad, 0, 0, 0, 0, 0, 0);
        mm_tensor *w = leaf(from((double[]){2, 2}, MM_SHAPE(2), MM_F64));
        CHECK_OK(mm_std(w, 0, NULL, 1, false, &y));
        CHECK_OK(mm_backward(y));
        CHECK_VALUES(w->grad, 0, 0);
        /* prod with a zero: the product of the others */
        mm_tensor *p = leaf(from((double[]){2, 0, 3}, MM_SHAPE(3), MM_F64));
        CHECK_OK(mm_prod(p, 0, NULL, false, &y));
        CHECK_OK(mm_backward(y));
        CHECK_VALUES(p->grad, 0, 6, 0);
    });
}

MM_TEST(sort_is_stable_and_puts_nan_last) {
    POOLED({
        /* torch.sort(torch.tensor([3.,1.,2.,1.,nan,0.]), stable=True) */
        mm_tensor *s = from((double[]){3, 1, 2, 1, NAN, 0}, MM_SHAPE(6), MM_F32),
                  *v, *i;
        for (int ref = 0; ref < 2; ref++) {
            bool prev = mm_ops_set_reference(ref);
            CHECK_OK(mm_sort(s, 0, false, true, &v, &i));
            CHECK_VALUES(v, 0, 1, 1, 2, 3, NAN);
            CHECK_VALUES(i, 5, 1, 3, 2, 0, 4);
            CHECK_OK(mm_sort(s, -1, true, true, &v, &i));
            CHECK_VALUES(v, NAN, 3, 2, 1, 1, 0);
            CHECK_VALUES(i, 4, 0, 2, 1, 3, 5);
            CHECK_OK(mm_argsort(s, 0, false, false, &i));
            CHECK_VALUES(i, 5, 1, 3, 2, 0, 4);
            mm_ops_set_reference(prev);
        }
        /* torch.topk(torch.tensor([1.,5.,3.,5.,2.]), 3) */
        mm_tensor *t = from((double[]){1, 5, 3, 5, 2}, MM_SHAPE(5), MM_F64);
        CHECK_OK(mm_topk(t, 3, 0, true, true, &v, &i));
        CHECK_VALUES(v, 5, 5, 3);
        CHECK_VALUES(i, 1, 3, 2);
        CHECK_OK(mm_topk(t, 2, 0, false, true, &v, &i));
        CHECK_VALUES(v, 1, 2);
        CHECK_VALUES(i, 0, 4);
        /* integers sort through the reference */
        mm_tensor *k;
        CHECK_OK(mm_to_dtype(s, MM_I64, &k));
        CHECK_OK(mm_argsort(k, 0, true, true, &i));
        CHECK_VALUES(i, 0, 2, 1, 3, 4, 5);
    });
}

MM_TEST(integer_reductions_keep_torchs_dtypes) {
    POOLED({
        mm_tensor *k, *y;
        CHECK_OK(mm_arange(1, 6, 1, MM_I32, &k));
        CHECK_OK(mm_prod(k, 0, NULL, false, &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(y, 120);
        CHECK_OK(mm_cumsum(k, 0, &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(y, 1, 3, 6, 10, 15);
        CHECK_OK(mm_amax(k, 0, NULL, false, &y));
        CHECK_INT(y->dtype, MM_I32);
        CHECK_VALUES(y, 5);
        CHECK_OK(mm_logsumexp(k, 0, NULL, false, &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_OK(mm_any(k, 0, NULL, false, &y));
        CHECK_INT(y->dtype, MM_BOOL);
        mm_tensor *u8; /* torch.tensor([1, 2], dtype=torch.uint8).all() */
        CHECK_OK(mm_to_dtype(k, MM_U8, &u8));
        CHECK_OK(mm_all(u8, 0, NULL, false, &y));
        CHECK_INT(y->dtype, MM_U8);
        CHECK_VALUES(y, 1);
        mm_tensor *e;
        CHECK_OK(mm_zeros(MM_SHAPE(0, 2), MM_F32, &e));
        CHECK_OK(mm_prod(e, MM_DIMS(0), false, &y));
        CHECK_VALUES(y, 1, 1);
        CHECK_OK(mm_all(e, MM_DIMS(0), false, &y));
        CHECK_VALUES(y, 1, 1);
        CHECK_OK(mm_logsumexp(e, MM_DIMS(0), false, &y));
        CHECK_VALUES(y, -INFINITY, -INFINITY);
    });
}

MM_TEST(reduction_errors_name_the_op) {
    POOLED({
        mm_tensor *x, *e, *k, *y, *i;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &x));
        CHECK_OK(mm_zeros(MM_SHAPE(2, 0), MM_F32, &e));
        CHECK_OK(mm_zeros(MM_SHAPE(3), MM_I64, &k));
        CHECK_ERR(mm_amax(e, MM_DIMS(1), false, &y), MM_EINVAL,
                  "amax: expected reduction dim 1 to have non-zero size");
        CHECK_ERR(mm_max_dim(e, 1, false, &y, &i), MM_EINVAL,
                  "max: expected reduction dim 1 to have non-zero size");
        CHECK_ERR(mm_argmin(e, NULL, false, &y), MM_EINVAL,
                  "argmin: expected a non-empty tensor (no dim given)");
        CHECK_ERR(mm_var(k, 0, NULL, 1, false, &y), MM_ETYPE,
                  "var: expected a floating-point tensor, got i64");
        CHECK_ERR(mm_norm(x, -1, 0, NULL, false, &y), MM_EINVAL,
                  "norm: p must be >= 0 or +-inf, got -1");
        CHECK_ERR(mm_std(x, MM_DIMS(0, -2), 1, false, &y), MM_EINVAL,
                  "std: dim 0 appears more than once");
        CHECK_ERR(mm_cumsum(x, 2, &y), MM_EINVAL,
                  "cumsum: dim 2 out of range for a tensor of 2 dims");
        CHECK_ERR(mm_topk(x, 4, 1, true, true, &y, &i), MM_EINVAL,
                  "topk: k (4) is out of range for dim 1 of size 3");
        CHECK_ERR(mm_sort(NULL, 0, false, true, &y, &i), MM_EINVAL,
                  "sort: tensor is NULL");
    });
}

MM_TEST_MAIN(MM_CASE(reductions_and_sorts_match_reference),
             MM_CASE(reductions_do_not_depend_on_the_thread_count),
             MM_CASE(reductions_pass_gradcheck),
             MM_CASE(reductions_give_torchs_values),
             MM_CASE(reduction_gradients_split_ties_as_torch),
             MM_CASE(sort_is_stable_and_puts_nan_last),
             MM_CASE(integer_reductions_keep_torchs_dtypes),
             MM_CASE(reduction_errors_name_the_op))
