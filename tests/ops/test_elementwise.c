/* The elementwise family: every op's optimised kernel against its reference
 * (f32 and f64, broadcasting, non-contiguous, empty and parallel-sized
 * inputs), float64 gradcheck of every differentiable op and variant,
 * PyTorch's numbers at kinks and for dtype promotion, and error messages.
 *
 * Fixed expected values come from Debian's python3-torch (2.x); each group
 * names the torch expression that produced them. */
#include <string.h>

#include "ops_testing.h"

/* ---- helpers ------------------------------------------------------------ */

static mm_tensor *from_f64(int ndim, const int64_t *shape, const double *v,
                           mm_dtype dt) {
    mm_tensor *t, *c;
    if (mm_from_data(v, ndim, shape, MM_F64, &t) < 0 ||
        mm_to_dtype(t, dt, &c) < 0)
        abort();
    return c;
}
#define VEC(dt, ...)                                                           \
    from_f64(1, (int64_t[]){sizeof((double[]){__VA_ARGS__}) / sizeof(double)}, \
             (double[]){__VA_ARGS__}, dt)

/* Every element of t equals want[i] (NaN matches NaN; tolerance tol). */
static bool values_are(const mm_tensor *t, const double *want, int64_t n,
                       double tol) {
    if (t->numel != n)
        return false;
    for (int64_t i = 0; i < n; i++) {
        double v = at(t, i);
        if (v == want[i])
            continue;
        if (isnan(want[i]) ? !isnan(v)
                           : !(fabs(v - want[i]) <= tol * (1 + fabs(want[i]))))
            return false;
    }
    return true;
}
#define CHECK_VALUES(t, tol, ...)                                              \
    CHECK(values_are(t, (double[]){__VA_ARGS__},                               \
                     sizeof((double[]){__VA_ARGS__}) / sizeof(double), tol))

/* Integers in [-3, 3] as floats: ties for comparisons and maximum. */
static mm_tensor *ties_t(int ndim, const int64_t *shape, mm_dtype dt) {
    mm_tensor *x = randn_t(ndim, shape, dt), *y;
    if (mm_mul_scalar(x, 1.5, &y) < 0 || mm_round(y, &y) < 0)
        abort();
    return y;
}

static mm_tensor *ties_as(int ndim, const int64_t *shape, mm_dtype dt) {
    mm_tensor *t;
    if (mm_to_dtype(ties_t(ndim, shape, MM_F64), dt, &t) < 0)
        abort();
    return t;
}

/* d sum(f(x)) / dx, for a single input */
static mm_tensor *grad_of(mm_tensor *y, mm_tensor *x) {
    mm_tensor *s;
    mm_tensor_zero_grad(x);
    if (mm_sum(y, 0, NULL, false, &s) < 0 || mm_backward(s) < 0) {
        fprintf(stderr, "grad_of: %s\n", mm_error_message());
        abort();
    }
    return mm_tensor_grad(x);
}

/* ---- unary ops ---------------------------------------------------------- */

enum { DOM_NORMAL, DOM_POSITIVE, DOM_WIDE };

typedef struct unary_case {
    const char *name;
    int (*fn)(mm_tensor *x, const double *p, mm_tensor **out);
    double p[2];
    int domain;
    bool differentiable;
} unary_case;

#define PLAIN(NAME)                                                            \
    static int u_##NAME(mm_tensor *x, const double *p, mm_tensor **out) {      \
        (void)p;                                                               \
        return mm_##NAME(x, out);                                              \
    }
PLAIN(abs)
PLAIN(log1p)
PLAIN(sqrt)
PLAIN(rsqrt)
PLAIN(sin)
PLAIN(cos)
PLAIN(floor)
PLAIN(ceil)
PLAIN(round)
PLAIN(sign)
PLAIN(erf)
PLAIN(relu6)
PLAIN(silu)
PLAIN(hardswish)
PLAIN(hardsigmoid)
PLAIN(mish)
PLAIN(logical_not)

static int u_pow(mm_tensor *x, const double *p, mm_tensor **out) {
    return mm_pow_scalar(x, p[0], out);
}
static int u_clamp(mm_tensor *x, const double *p, mm_tensor **out) {
    return mm_clamp(x, p[0], p[1], out);
}
static int u_clamp_min(mm_tensor *x, const double *p, mm_tensor **out) {
    return mm_clamp_min(x, p[0], out);
}
static int u_clamp_max(mm_tensor *x, const double *p, mm_tensor **out) {
    return mm_clamp_max(x, p[1], out);
}
static int u_leaky_relu(mm_tensor *x, const double *p, mm_tensor **out) {
    return mm_leaky_relu(x, p[0], out);
}
static int u_elu(mm_tensor *x, const double *p, mm_tensor **out) {
    return mm_elu(x, p[0], out);
}
static int u_gelu(mm_tensor *x, const double *p, mm_tensor **out) {
    return mm_gelu(x, (mm_gelu_approximate)p[0], out);
}
static int u_softplus(mm_tensor *x, const double *p, mm_tensor **out) {
    return mm_softplus(x, p[0], p[1], out);
}

static const unary_case unary_cases[] = {
    {"abs", u_abs, {0}, DOM_NORMAL, true},
    {"log1p", u_log1p, {0}, DOM_POSITIVE, true},
    {"sqrt", u_sqrt, {0}, DOM_POSITIVE, true},
    {"rsqrt", u_rsqrt, {0}, DOM_POSITIVE, true},
    {"sin", u_sin, {0}, DOM_WIDE, true},
    {"cos", u_cos, {0}, DOM_WIDE, true},
    {"floor", u_floor, {0}, DOM_WIDE, true},
    {"ceil", u_ceil, {0}, DOM_WIDE, true},
    {"round", u_round, {0}, DOM_WIDE, true},
    {"sign", u_sign, {0}, DOM_NORMAL, true},
    {"erf", u_erf, {0}, DOM_NORMAL, true},
    {"pow 2", u_pow, {2}, DOM_NORMAL, true},
    {"pow 3", u_pow, {3}, DOM_NORMAL, true},
    {"pow 1", u_pow, {1}, DOM_NORMAL, true},
    {"pow 0", u_pow, {0}, DOM_NORMAL, true},
    {"pow 0.5", u_pow, {0.5}, DOM_POSITIVE, true},
    {"pow -0.5", u_pow, {-0.5}, DOM_POSITIVE, true},
    {"pow -1", u_pow, {-1}, DOM_POSITIVE, true},
    {"pow -2", u_pow, {-2}, DOM_POSITIVE, true},
    {"pow 2.7", u_pow, {2.7}, DOM_POSITIVE, true},
    {"clamp", u_clamp, {-0.5, 0.8}, DOM_NORMAL, true},
    {"clamp min > max", u_clamp, {0.5, -0.5}, DOM_NORMAL, true},
    {"clamp_min", u_clamp_min, {0.3, 0}, DOM_NORMAL, true},
    {"clamp_max", u_clamp_max, {0, 0.3}, DOM_NORMAL, true},
    {"relu6", u_relu6, {0}, DOM_WIDE, true},
    {"leaky_relu", u_leaky_relu, {0.1}, DOM_NORMAL, true},
    {"elu", u_elu, {0.7}, DOM_NORMAL, true},
    {"gelu", u_gelu, {MM_GELU_NONE}, DOM_NORMAL, true},
    {"gelu tanh", u_gelu, {MM_GELU_TANH}, DOM_NORMAL, true},
    {"silu", u_silu, {0}, DOM_NORMAL, true},
    {"hardswish", u_hardswish, {0}, DOM_WIDE, true},
    {"hardsigmoid", u_hardsigmoid, {0}, DOM_WIDE, true},
    {"mish", u_mish, {0}, DOM_WIDE, true},
    {"softplus", u_softplus, {1, 20}, DOM_NORMAL, true},
    {"softplus beta 2 threshold 1", u_softplus, {2, 1}, DOM_NORMAL, true},
    {"logical_not", u_logical_not, {0}, DOM_NORMAL, false},
};
#define N_UNARY (int)(sizeof unary_cases / sizeof unary_cases[0])

static mm_tensor *domain_t(int domain, int ndim, const int64_t *shape,
                           mm_dtype dt) {
    if (domain == DOM_POSITIVE)
        return uniform_t(ndim, shape, dt, 0.1, 3);
    mm_tensor *x = randn_t(ndim, shape, dt);
    if (domain == DOM_WIDE && mm_mul_scalar(x, 4, &x) < 0)
        abort();
    return x;
}

static int f_unary(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    const unary_case *c = vctx;
    return c->fn(in[0], c->p, out);
}

MM_TEST(unary_ops_match_reference) {
    const int64_t shapes[][3] = {{1, 0}, {1, 17}, {2, 260, 256}, {2, 40, 30}};
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int k = 0; k < N_UNARY; k++)
        for (int s = 0; s < 4; s++)
            for (int t = 0; t < (s == 2 ? 1 : 2); t++) /* big: f32 */
                POOLED({
                    const unary_case *c = &unary_cases[k];
                    mm_tensor *x = domain_t(c->domain, (int)shapes[s][0],
                                            shapes[s] + 1, dtypes[t]);
                    if (s == 3)
                        x = noncontig(x);
                    char what[96];
                    snprintf(what, sizeof what, "%s shape %d %s", c->name, s,
                             mm_dtype_name(dtypes[t]));
                    CHECK_VS_REFERENCE(what, f_unary, (void *)c, &x, 1, 1e-5,
                                       1e-6);
                });
}

MM_TEST(unary_ops_pass_gradcheck) {
    for (int k = 0; k < N_UNARY; k++) {
        if (!unary_cases[k].differentiable)
            continue;
        POOLED({
            const unary_case *c = &unary_cases[k];
            mm_tensor *x = leaf(domain_t(c->domain, MM_SHAPE(3, 5), MM_F64));
            int rc = mm_gradcheck(f_unary, (void *)c, &x, 1, 1e-6, 1e-6, 1e-4);
            if (rc < 0) {
                fprintf(stderr, "gradcheck of %s failed: %s\n", c->name,
                        mm_error_message());
                mm_test_failures++;
            }
        });
    }
}

/* The fused backward ops, run directly, against their reference. */
static int f_op(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    const mm_op_params *p = vctx;
    return mm_op_apply(mm_op_get((mm_op_id)p->i[19]), n, in, p, out);
}

MM_TEST(activation_backward_ops_match_reference) {
    const struct {
        mm_op_id id;
        mm_op_params p;
    } ops[] = {
        {MM_OP_RELU6_BACKWARD, {{0}, {0}}},
        {MM_OP_LEAKY_RELU_BACKWARD, {{0}, {0.2}}},
        {MM_OP_ELU_BACKWARD, {{0}, {1.3}}},
        {MM_OP_GELU_BACKWARD, {{MM_GELU_NONE}, {0}}},
        {MM_OP_GELU_BACKWARD, {{MM_GELU_TANH}, {0}}},
        {MM_OP_SILU_BACKWARD, {{0}, {0}}},
        {MM_OP_HARDSWISH_BACKWARD, {{0}, {0}}},
        {MM_OP_HARDSIGMOID_BACKWARD, {{0}, {0}}},
        {MM_OP_MISH_BACKWARD, {{0}, {0}}},
        {MM_OP_SOFTPLUS_BACKWARD, {{0}, {1.5, 2}}},
    };
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        for (int t = 0; t < 2; t++)
            for (int big = 0; big < (t == 0 ? 2 : 1); big++)
                POOLED({
                    mm_op_params p = ops[k].p;
                    p.i[19] = ops[k].id;
                    static const int64_t sizes[2][2] = {{7, 9}, {260, 256}};
                    const int64_t *shape = sizes[big];
                    mm_tensor *in[2] = {
                        randn_t(2, shape, dtypes[t]),
                        domain_t(DOM_WIDE, 2, shape, dtypes[t])};
                    if (!big)
                        in[1] = noncontig(in[1]);
                    char what[96];
                    snprintf(what, sizeof what, "%s %s",
                             mm_op_get(ops[k].id)->name,
                             mm_dtype_name(dtypes[t]));
                    CHECK_VS_REFERENCE(what, f_op, &p, in, 2, 1e-5, 1e-5);
                });
}

/* ---- binary ops --------------------------------------------------------- */

typedef struct shape_case {
    int na;
    int64_t a[4];
    int nb;
    int64_t b[4];
} shape_case;

/* same shape, broadcasting both ways, a 0-dim operand, empty, big */
static const shape_case binary_shapes[] = {
    {2, {5, 7}, 2, {5, 7}},    {3, {4, 1, 6}, 2, {3, 1}},
    {0, {0}, 2, {3, 4}},       {3, {8, 1, 33}, 3, {1, 5, 1}},
    {2, {190, 180}, 1, {180}}, {2, {260, 256}, 2, {260, 256}},
    {1, {0}, 1, {1}},
};
#define N_SHAPES (int)(sizeof binary_shapes / sizeof binary_shapes[0])

typedef struct binary_case {
    const char *name;
    int (*fn)(mm_tensor *a, mm_tensor *b, mm_tensor **out);
    bool positive_a; /* pow: a real base */
    bool differentiable;
} binary_case;

static const binary_case binary_cases[] = {
    {"pow", mm_pow, true, true},
    {"maximum", mm_maximum, false, true},
    {"minimum", mm_minimum, false, true},
    {"eq", mm_eq, false, false},
    {"ne", mm_ne, false, false},
    {"lt", mm_lt, false, false},
    {"le", mm_le, false, false},
    {"gt", mm_gt, false, false},
    {"ge", mm_ge, false, false},
    {"logical_and", mm_logical_and, false, false},
    {"logical_or", mm_logical_or, false, false},
    {"logical_xor", mm_logical_xor, false, false},
};
#define N_BINARY (int)(sizeof binary_cases / sizeof binary_cases[0])

static int f_binary(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    return ((const binary_case *)vctx)->fn(in[0], in[1], out);
}

static mm_tensor *binary_input(const binary_case *c, int k, int ndim,
                               const int64_t *shape, mm_dtype dt) {
    if (c->positive_a && k == 0)
        return uniform_t(ndim, shape, dt, 0.2, 2);
    if (c->positive_a)
        return randn_t(ndim, shape, dt);
    return ties_t(ndim, shape, dt); /* equal elements, zeros */
}

MM_TEST(binary_ops_match_reference_with_broadcasting) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int k = 0; k < N_BINARY; k++)
        for (int s = 0; s < N_SHAPES; s++)
            for (int t = 0; t < (s >= 4 && s <= 5 ? 1 : 2); t++)
                POOLED({
                    const binary_case *c = &binary_cases[k];
                    const shape_case *sc = &binary_shapes[s];
                    mm_tensor *in[2] = {
                        binary_input(c, 0, sc->na, sc->a, dtypes[t]),
                        binary_input(c, 1, sc->nb, sc->b, dtypes[t])};
                    char what[96];
                    snprintf(what, sizeof what, "%s shapes %d %s", c->name, s,
                             mm_dtype_name(dtypes[t]));
                    CHECK_VS_REFERENCE(what, f_binary, (void *)c, in, 2, 1e-5,
                                       1e-6);
                    if (!c->positive_a && in[0]->numel < 10000) {
                        mm_tensor *sw[2] = {in[1], in[0]};
                        CHECK_VS_REFERENCE(what, f_binary, (void *)c, sw, 2,
                                           1e-5, 1e-6);
                    }
                });
}

MM_TEST(binary_ops_match_reference_on_non_contiguous_and_other_dtypes) {
    for (int k = 0; k < N_BINARY; k++)
        POOLED({
            const binary_case *c = &binary_cases[k];
            mm_tensor *a =
                noncontig(binary_input(c, 0, MM_SHAPE(6, 9), MM_F32));
            mm_tensor *b, *bt;
            CHECK_OK(mm_slice(binary_input(c, 1, MM_SHAPE(6, 20), MM_F32), 1, 1,
                              19, 2, &b)); /* [6, 9], step 2 */
            CHECK_OK(mm_transpose(binary_input(c, 1, MM_SHAPE(9, 6), MM_F32), 0,
                                  1, &bt));
            mm_tensor *pairs[][2] = {{a, b}, {a, bt}, {b, bt}};
            for (int p = 0; p < 3; p++)
                CHECK_VS_REFERENCE(c->name, f_binary, (void *)c, pairs[p], 2,
                                   1e-5, 1e-6);
            /* integers (comparisons have an i64 kernel), bool, and mixed
             * dtypes for the logical ops */
            mm_tensor *i[2], *bo[2];
            CHECK_OK(mm_randint(c->positive_a ? 0 : -3, 4, MM_SHAPE(5, 7),
                                MM_I64, test_gen(), &i[0]));
            CHECK_OK(mm_randint(0, 4, MM_SHAPE(7), MM_I64, test_gen(), &i[1]));
            CHECK_VS_REFERENCE(c->name, f_binary, (void *)c, i, 2, 0, 0);
            CHECK_OK(mm_to_dtype(i[0], MM_BOOL, &bo[0]));
            CHECK_OK(mm_to_dtype(i[1], MM_BOOL, &bo[1]));
            if (strcmp(c->name, "pow") != 0)
                CHECK_VS_REFERENCE(c->name, f_binary, (void *)c, bo, 2, 0, 0);
            mm_tensor *mixed[2] = {ties_as(MM_SHAPE(5, 7), MM_F32), i[0]};
            if (strncmp(c->name, "logical", 7) == 0)
                CHECK_VS_REFERENCE(c->name, f_binary, (void *)c, mixed, 2, 0,
                                   0);
        });
}

typedef struct sel_case {
    int which; /* 0 where, 1 clamp both, 2 clamp min, 3 clamp max, 4 prelu */
} sel_case;

static int f_select(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    switch (((const sel_case *)vctx)->which) {
    case 0: {
        mm_tensor *cond;
        MM_TRY(mm_gt_scalar(in[2], 0, &cond));
        return mm_where(cond, in[0], in[1], out);
    }
    case 1:
        return mm_clamp_tensor(in[0], in[1], in[2], out);
    case 2:
        return mm_clamp_tensor(in[0], in[1], NULL, out);
    case 3:
        return mm_clamp_tensor(in[0], NULL, in[1], out);
    default:
        return mm_prelu(in[0], in[1], out);
    }
}

MM_TEST(where_clamp_tensor_and_prelu_match_reference) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int w = 0; w < 4; w++)
        for (int s = 0; s < N_SHAPES; s++)
            for (int t = 0; t < (s >= 4 && s <= 5 ? 1 : 2); t++)
                POOLED({
                    const shape_case *sc = &binary_shapes[s];
                    sel_case c = {w};
                    /* the third operand broadcasts like the second */
                    mm_tensor *in[3] = {randn_t(sc->na, sc->a, dtypes[t]),
                                        randn_t(sc->nb, sc->b, dtypes[t]),
                                        randn_t(sc->nb, sc->b, dtypes[t])};
                    if (w == 1) { /* clamp's bounds: min below max mostly */
                        CHECK_OK(mm_sub_scalar(in[1], 1, &in[1]));
                        CHECK_OK(mm_add_scalar(in[2], 1, &in[2]));
                    }
                    char what[64];
                    snprintf(what, sizeof what, "select %d shapes %d %s", w, s,
                             mm_dtype_name(dtypes[t]));
                    CHECK_VS_REFERENCE(what, f_select, &c, in, 3, 0, 0);
                    if (in[0]->numel < 10000) {
                        mm_tensor *nc[3] = {noncontig(in[0]), noncontig(in[1]),
                                            noncontig(in[2])};
                        CHECK_VS_REFERENCE(what, f_select, &c, nc, 3, 0, 0);
                    }
                });
    const int64_t xs[][5] = {{4, 2, 3, 5, 6}, {2, 190, 180}, {1, 7}, {0}};
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < (s == 1 ? 1 : 2); t++)
            for (int per_channel = 0; per_channel < 2; per_channel++)
                POOLED({
                    int nd = (int)xs[s][0];
                    int64_t ch = per_channel && nd >= 2 ? xs[s][2] : 1;
                    mm_tensor *in[2] = {randn_t(nd, xs[s] + 1, dtypes[t]),
                                        randn_t(MM_SHAPE(ch), dtypes[t])};
                    sel_case c = {4};
                    CHECK_VS_REFERENCE("prelu", f_select, &c, in, 2, 1e-6,
                                       1e-7);
                });
    /* where copies any dtype: 1, 2, 4 and 8-byte elements */
    const mm_dtype any[] = {MM_BOOL, MM_U8, MM_BF16, MM_F16, MM_I32, MM_I64};
    for (int t = 0; t < 6; t++)
        POOLED({
            mm_tensor *in[3] = {ties_as(MM_SHAPE(40, 30), any[t]),
                                ties_as(MM_SHAPE(30), any[t]),
                                randn_t(MM_SHAPE(40, 1), MM_F32)};
            sel_case c = {0};
            CHECK_VS_REFERENCE("where", f_select, &c, in, 3, 0, 0);
            in[0] = noncontig(in[0]);
            CHECK_VS_REFERENCE("where", f_select, &c, in, 3, 0, 0);
        });
}

MM_TEST(binary_and_selection_ops_pass_gradcheck) {
    /* pow (positive base), maximum/minimum with ties (the numeric gradient
     * of a tie is 0.5 each, as PyTorch's), broadcasting both ways */
    for (int k = 0; k < 3; k++)
        POOLED({
            const binary_case *c = &binary_cases[k];
            mm_tensor *in[2] = {
                leaf(binary_input(c, 0, MM_SHAPE(3, 1, 4), MM_F64)),
                leaf(binary_input(c, 1, MM_SHAPE(2, 1), MM_F64))};
            CHECK_GRAD(f_binary, (void *)c, in, 2);
        });
    for (int w = 0; w < 4; w++)
        POOLED({
            sel_case c = {w};
            mm_tensor *in[3] = {leaf(randn_t(MM_SHAPE(3, 4), MM_F64)),
                                leaf(randn_t(MM_SHAPE(4), MM_F64)),
                                randn_t(MM_SHAPE(3, 1), MM_F64)};
            if (w == 1)
                in[2] = leaf(in[2]);
            CHECK_GRAD(f_select, &c, in, 3);
        });
    POOLED({
        sel_case c = {4};
        mm_tensor *x = randn_t(MM_SHAPE(2, 3, 4), MM_F64);
        mm_tensor *in[2] = {leaf(x), leaf(randn_t(MM_SHAPE(3), MM_F64))};
        CHECK_GRAD(f_select, &c, in, 2);
        mm_tensor *one[2] = {leaf(x),
                             leaf(uniform_t(MM_SHAPE(1), MM_F64, 0.1, 1))};
        CHECK_GRAD(f_select, &c, one, 2);
    });
}

/* ---- PyTorch's numbers -------------------------------------------------- */

MM_TEST(values_match_pytorch) {
    POOLED({
        mm_tensor *y;
        /* torch.round(torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5])) */
        CHECK_OK(mm_round(VEC(MM_F32, 0.5, 1.5, 2.5, -0.5, -1.5), &y));
        CHECK_VALUES(y, 0, 0, 2, 2, -0.0, -2);
        CHECK(signbit(at(y, 3)));
        /* torch.sign(torch.tensor([nan, -0.0, 2.])) */
        CHECK_OK(mm_sign(VEC(MM_F32, NAN, -0.0, 2), &y));
        CHECK_VALUES(y, 0, 0, 0, 1);
        /* F.gelu(x), F.gelu(x, approximate='tanh'), F.mish(x) on float64
         * [-1, 0.5, 2] */
        mm_tensor *x = VEC(MM_F64, -1, 0.5, 2);
        CHECK_OK(mm_gelu(x, MM_GELU_NONE, &y));
        CHECK_VALUES(y, 1e-15, -0.15865525393145702, 0.34573123063700656,
                     1.9544997361036416);
        CHECK_OK(mm_gelu(x, MM_GELU_TANH, &y));
        CHECK_VALUES(y, 1e-15, -0.15880800939172324, 0.34571400982514394,
                     1.954597694087775);
        CHECK_OK(mm_mish(x, &y));
        CHECK_VALUES(y, 1e-15, -0.30340146137410895, 0.3752452113048951,
                     1.9439589595339946);
        /* F.softplus(torch.tensor([-1., 0.5, 30.], dtype=float64), 2, 20) */
        CHECK_OK(mm_softplus(VEC(MM_F64, -1, 0.5, 30), 2, 20, &y));
        CHECK_VALUES(y, 1e-15, 0.06346400552148625, 0.6566308437591114, 30);
        /* torch.maximum(torch.tensor([1., nan]), torch.tensor([2., 1.])),
         * torch.maximum(-0.0, 0.0) is -0.0, torch.minimum(0.0, -0.0) 0.0 */
        CHECK_OK(
            mm_maximum(VEC(MM_F32, 1, NAN, -0.0), VEC(MM_F32, 2, 1, 0), &y));
        CHECK_VALUES(y, 0, 2, NAN, 0);
        CHECK(signbit(at(y, 2)));
        CHECK_OK(mm_minimum(VEC(MM_F64, 0.0), VEC(MM_F64, -0.0), &y));
        CHECK(!signbit(at(y, 0)));
        /* torch.clamp(torch.tensor([1., 2., 3.]), 3, 1): max wins;
         * torch.clamp(torch.tensor([1., nan, 3.]), 0, 2);
         * torch.clamp(torch.tensor([1., 5.]), nan, 3) */
        CHECK_OK(mm_clamp(VEC(MM_F32, 1, 2, 3), 3, 1, &y));
        CHECK_VALUES(y, 0, 1, 1, 1);
        CHECK_OK(mm_clamp(VEC(MM_F32, 1, NAN, 3), 0, 2, &y));
        CHECK_VALUES(y, 0, 1, NAN, 2);
        CHECK_OK(mm_clamp(VEC(MM_F32, 1, 5), NAN, 3, &y));
        CHECK_VALUES(y, 0, NAN, NAN);
        /* torch.clamp(torch.tensor([1., 5.]), torch.tensor([nan, 0.])) */
        CHECK_OK(
            mm_clamp_tensor(VEC(MM_F32, 1, 5), VEC(MM_F32, NAN, 0), NULL, &y));
        CHECK_VALUES(y, 0, NAN, 5);
        /* torch.tensor([2, 3]) ** torch.tensor([-1, 2]) */
        CHECK_OK(mm_pow(VEC(MM_I64, 2, 3), VEC(MM_I64, -1, 2), &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(y, 0, 0, 9);
        /* torch.rsqrt(torch.tensor([0., -1.])) */
        CHECK_OK(mm_rsqrt(VEC(MM_F32, 0, -1), &y));
        CHECK_VALUES(y, 0, INFINITY, NAN);
        /* torch.logical_and(torch.tensor([1., 0., nan]),
         * torch.tensor([2, 3, 1])): NaN is true */
        CHECK_OK(
            mm_logical_and(VEC(MM_F32, 1, 0, NAN), VEC(MM_I64, 2, 3, 1), &y));
        CHECK_INT(y->dtype, MM_BOOL);
        CHECK_VALUES(y, 0, 1, 0, 1);
        CHECK_OK(mm_logical_not(VEC(MM_F32, 1, 0, NAN), &y));
        CHECK_VALUES(y, 0, 0, 1, 0);
        CHECK_OK(
            mm_logical_xor(VEC(MM_BOOL, 1, 0, 1), VEC(MM_BOOL, 1, 1, 0), &y));
        CHECK_VALUES(y, 0, 0, 1, 1);
    });
}

MM_TEST(dtypes_promote_as_pytorch) {
    POOLED({
        mm_tensor *i = VEC(MM_I64, 1, 2, 3), *y;
        /* torch.pow(torch.tensor([2, 3]), 2).dtype == int64, ** 2.5 f32 */
        CHECK_OK(mm_pow_scalar(i, 2, &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(y, 0, 1, 4, 9);
        CHECK_OK(mm_pow_scalar(i, 2.5, &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_VALUES(y, 1e-6, 1, 5.656854249492381, 15.588457268119896);
        /* torch.pow(torch.tensor([True, False]), 2) -> int64 [1, 0] */
        CHECK_OK(mm_pow_scalar(VEC(MM_BOOL, 1, 0), 2, &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(y, 0, 1, 0);
        /* torch.clamp(torch.tensor([1, 2, 3]), 0.5) -> float [1., 2., 3.];
         * torch.clamp(torch.tensor([1, 2, 3]), 0, 2) -> int64 [1, 2, 2] */
        CHECK_OK(mm_clamp_min(i, 0.5, &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_OK(mm_clamp_min(VEC(MM_BOOL, 1, 0), 0.5, &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_VALUES(y, 0, 1, 0.5);
        CHECK_OK(mm_clamp(i, 0, 2, &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(y, 0, 1, 2, 2);
        /* torch.clamp(torch.tensor([1, 2, 3]), torch.tensor([2.5])) */
        CHECK_OK(mm_clamp_tensor(i, VEC(MM_F32, 2.5), NULL, &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_VALUES(y, 0, 2.5, 2.5, 3);
        /* torch.maximum(torch.tensor([1, 2]), torch.tensor([1.5, 1.5])) */
        CHECK_OK(mm_maximum(VEC(MM_I64, 1, 2), VEC(MM_F32, 1.5, 1.5), &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_VALUES(y, 0, 1.5, 2);
        /* torch.eq(torch.tensor([1, 2]), 1.0), torch.lt(..., 1.5) */
        CHECK_OK(mm_eq_scalar(VEC(MM_I64, 1, 2), 1.0, &y));
        CHECK_INT(y->dtype, MM_BOOL);
        CHECK_VALUES(y, 0, 1, 0);
        CHECK_OK(mm_lt_scalar(VEC(MM_I64, 1, 2), 1.5, &y));
        CHECK_VALUES(y, 0, 1, 0);
        /* torch.eq(torch.tensor([255], dtype=uint8), -1) is True and
         * torch.gt(torch.tensor([3], dtype=uint8), -1) False: the scalar
         * wraps into uint8 */
        CHECK_OK(mm_eq_scalar(VEC(MM_U8, 255), -1, &y));
        CHECK_VALUES(y, 0, 1);
        CHECK_OK(mm_gt_scalar(VEC(MM_U8, 3), -1, &y));
        CHECK_VALUES(y, 0, 0);
        /* torch.where(cond, torch.tensor([1], dtype=int32), torch.tensor(2.))
         */
        mm_tensor *two, *cond = VEC(MM_BOOL, 1, 0);
        CHECK_OK(mm_scalar(2, MM_F32, &two));
        CHECK_OK(mm_where(cond, VEC(MM_I32, 1), two, &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_VALUES(y, 0, 1, 2);
        /* a 0-dim tensor of the same category does not promote */
        mm_tensor *d;
        CHECK_OK(mm_scalar(0.5, MM_F64, &d));
        CHECK_OK(mm_maximum(VEC(MM_F32, 0, 1), d, &y));
        CHECK_INT(y->dtype, MM_F32);
        /* integer and bool inputs of the math functions */
        CHECK_OK(mm_sqrt(VEC(MM_I64, 4), &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_VALUES(y, 0, 2);
        CHECK_OK(mm_sin(VEC(MM_BOOL, 1), &y));
        CHECK_VALUES(y, 1e-6, 0.8414709848078965);
        CHECK_OK(mm_relu6(VEC(MM_I64, -1, 1, 7), &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(y, 0, 0, 1, 6);
        CHECK_OK(mm_sign(VEC(MM_BOOL, 1, 0), &y));
        CHECK_INT(y->dtype, MM_BOOL);
        CHECK_VALUES(y, 0, 1, 0);
        CHECK_OK(mm_sign(VEC(MM_I32, -3, 0, 5), &y));
        CHECK_VALUES(y, 0, -1, 0, 1);
        CHECK_OK(mm_abs(VEC(MM_U8, 253, 0, 5), &y)); /* uint8 stays itself */
        CHECK_VALUES(y, 0, 253, 0, 5);
        CHECK_OK(mm_abs(VEC(MM_I64, -3, 4), &y));
        CHECK_VALUES(y, 0, 3, 4);
        CHECK_OK(mm_floor(VEC(MM_I64, -3, 4), &y));
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(y, 0, -3, 4);
    });
}

/* Gradients at the kinks, where finite differences cannot check them:
 * torch's own values for float64 x.grad after f(x).sum().backward(). */
MM_TEST(gradients_at_kinks_follow_pytorch) {
    POOLED({
        mm_tensor *x, *y, *g;
        /* F.relu6 at [0, 6, 3, -1, 7] */
        x = leaf(VEC(MM_F64, 0, 6, 3, -1, 7));
        CHECK_OK(mm_relu6(x, &y));
        CHECK_VALUES(grad_of(y, x), 0, 0, 0, 1, 0, 0);
        /* F.leaky_relu(x, 0.1) at [0, -1, 1] */
        x = leaf(VEC(MM_F64, 0, -1, 1));
        CHECK_OK(mm_leaky_relu(x, 0.1, &y));
        CHECK_VALUES(grad_of(y, x), 1e-15, 0.1, 0.1, 1);
        /* F.elu(x, 0.5) at [0, -1, 1] */
        CHECK_OK(mm_elu(x, 0.5, &y));
        CHECK_VALUES(grad_of(y, x), 1e-15, 0.5, 0.18393972058572117, 1);
        /* F.hardswish at [-3, 3, 0, -4, 4] repeated to 64 elements:
         * PyTorch's vectorised kernel gives 1 at 3 (x >= 3 passes g), its
         * scalar tail (tensors under 8 or 16 elements) 1.5; we follow the
         * vectorised one */
        x = leaf(VEC(MM_F64, -3, 3, 0, -4, 4));
        CHECK_OK(mm_hardswish(x, &y));
        CHECK_VALUES(grad_of(y, x), 1e-15, -0.5, 1, 0.5, 0, 1);
        /* F.hardsigmoid at [-3, 3, 0] (torch: 1/6 in float precision) */
        x = leaf(VEC(MM_F64, -3, 3, 0));
        CHECK_OK(mm_hardsigmoid(x, &y));
        CHECK_VALUES(grad_of(y, x), 1e-7, 0, 0, 1.0 / 6);
        /* F.softplus(x, 2, 5) at [2.5, 2.6, 0]: beta x == threshold is
         * still the smooth branch */
        x = leaf(VEC(MM_F64, 2.5, 2.6, 0));
        CHECK_OK(mm_softplus(x, 2, 5, &y));
        CHECK_VALUES(grad_of(y, x), 1e-15, 0.9933071490757152, 1, 0.5);
        /* torch.abs at [0, -1, 2] */
        x = leaf(VEC(MM_F64, 0, -1, 2));
        CHECK_OK(mm_abs(x, &y));
        CHECK_VALUES(grad_of(y, x), 0, 0, -1, 1);
        /* torch.clamp(x, 0, 1) at [0, 1, 0.5, 2, -1]: bounds pass */
        x = leaf(VEC(MM_F64, 0, 1, 0.5, 2, -1));
        CHECK_OK(mm_clamp(x, 0, 1, &y));
        CHECK_VALUES(grad_of(y, x), 0, 1, 1, 1, 0, 0);
        /* torch.maximum(a, b), a = [1, 2, 3], b = [1, 1, 4]: a tie splits */
        mm_tensor *a = leaf(VEC(MM_F64, 1, 2, 3)),
                  *b = leaf(VEC(MM_F64, 1, 1, 4));
        CHECK_OK(mm_maximum(a, b, &y));
        CHECK_OK(mm_sum(y, 0, NULL, false, &y));
        CHECK_OK(mm_backward(y));
        CHECK_VALUES(mm_tensor_grad(a), 0, 0.5, 1, 0);
        CHECK_VALUES(mm_tensor_grad(b), 0, 0.5, 0, 1);
        /* torch.clamp(x, lo, hi), x = [0, 1, .5, 2, -1, .5],
         * lo = [0, 0, 0, 0, 0, 1], hi = [1, 1, 1, 1, 1, 0] */
        x = leaf(VEC(MM_F64, 0, 1, 0.5, 2, -1, 0.5));
        mm_tensor *lo = leaf(VEC(MM_F64, 0, 0, 0, 0, 0, 1));
        mm_tensor *hi = leaf(VEC(MM_F64, 1, 1, 1, 1, 1, 0));
        CHECK_OK(mm_clamp_tensor(x, lo, hi, &y));
        CHECK_OK(mm_sum(y, 0, NULL, false, &y));
        CHECK_OK(mm_backward(y));
        CHECK_VALUES(mm_tensor_grad(x), 0, 1, 1, 1, 0, 0, 0);
        CHECK_VALUES(mm_tensor_grad(lo), 0, 0, 0, 0, 0, 1, 0);
        CHECK_VALUES(mm_tensor_grad(hi), 0, 0, 0, 0, 1, 0, 1);
        /* torch.pow(a, b), a = [0, 0, 2, -2], b = [0, 2, 3, 2] */
        a = leaf(VEC(MM_F64, 0, 0, 2, -2));
        b = leaf(VEC(MM_F64, 0, 2, 3, 2));
        CHECK_OK(mm_pow(a, b, &y));
        CHECK_OK(mm_sum(y, 0, NULL, false, &y));
        CHECK_OK(mm_backward(y));
        CHECK_VALUES(mm_tensor_grad(a), 0, 0, 0, 12, -4);
        CHECK_VALUES(mm_tensor_grad(b), 1e-15, 0, 0, 5.545177444479562, NAN);
        /* torch.pow(x, 0) and torch.pow(x, 0.5) at [0, 2] */
        x = leaf(VEC(MM_F64, 0, 2));
        CHECK_OK(mm_pow_scalar(x, 0, &y));
        CHECK_VALUES(grad_of(y, x), 0, 0, 0);
        CHECK_OK(mm_pow_scalar(x, 0.5, &y));
        CHECK_VALUES(grad_of(y, x), 1e-15, INFINITY, 0.35355339059327373);
        /* F.prelu(x, w), x = [[0, -1], [2, -3]], w = [0.25, 0.5] */
        x = leaf(from_f64(MM_SHAPE(2, 2), (double[]){0, -1, 2, -3}, MM_F64));
        mm_tensor *w = leaf(VEC(MM_F64, 0.25, 0.5));
        CHECK_OK(mm_prelu(x, w, &y));
        CHECK_VALUES(y, 0, 0, -0.5, 2, -1.5);
        CHECK_OK(mm_sum(y, 0, NULL, false, &y));
        CHECK_OK(mm_backward(y));
        CHECK_VALUES(mm_tensor_grad(x), 0, 0.25, 0.5, 1, 0.5);
        CHECK_VALUES(mm_tensor_grad(w), 0, 0, -4);
        /* torch.where(cond, a, b), cond = [True, False], b broadcast */
        a = leaf(VEC(MM_F64, 1, 2));
        b = leaf(VEC(MM_F64, 3));
        CHECK_OK(mm_where(VEC(MM_BOOL, 1, 0), a, b, &y));
        CHECK_OK(mm_sum(y, 0, NULL, false, &y));
        CHECK_OK(mm_backward(y));
        CHECK_VALUES(mm_tensor_grad(a), 0, 1, 0);
        CHECK_VALUES(mm_tensor_grad(b), 0, 1);
        /* floor, round, sign: zero gradient */
        x = leaf(VEC(MM_F64, 0.5, 1.2));
        CHECK_OK(mm_floor(x, &g));
        CHECK_VALUES(grad_of(g, x), 0, 0, 0);
        /* comparisons give bool, which does not require grad */
        CHECK_OK(mm_gt_scalar(x, 1, &g));
        CHECK(!g->requires_grad && g->grad_fn == NULL);
    });
}

MM_TEST(errors_are_one_line_and_name_the_op) {
    POOLED({
        mm_tensor *f = VEC(MM_F32, 1, 2), *i = VEC(MM_I64, 1, 2),
                  *bo = VEC(MM_BOOL, 1, 0), *y, *m23, *m4;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &m23));
        CHECK_OK(mm_zeros(MM_SHAPE(4), MM_F32, &m4));
        CHECK_ERR(mm_maximum(m23, m4, &y), MM_EINVAL,
                  "maximum: shapes [2, 3] and [4] cannot broadcast");
        CHECK_ERR(mm_eq(m4, m23, &y), MM_EINVAL,
                  "eq: shapes [4] and [2, 3] cannot broadcast");
        CHECK_ERR(mm_logical_or(m23, m4, &y), MM_EINVAL,
                  "logical_or: shapes [2, 3] and [4] cannot broadcast");
        CHECK_ERR(mm_where(i, f, f, &y), MM_ETYPE,
                  "where: expected a bool condition, got i64");
        CHECK_ERR(mm_where(bo, m23, m4, &y), MM_EINVAL,
                  "where: shapes [2] and [2, 3] cannot broadcast");
        CHECK_ERR(mm_where(bo, f, NULL, &y), MM_EINVAL,
                  "where: tensor is NULL");
        CHECK_ERR(mm_clamp_tensor(f, NULL, NULL, &y), MM_EINVAL,
                  "clamp: at least one of 'min' or 'max' must be given");
        CHECK_ERR(mm_clamp_tensor(m23, m4, NULL, &y), MM_EINVAL,
                  "clamp: shapes [2, 3] and [4] cannot broadcast");
        CHECK_ERR(mm_clamp(VEC(MM_U8, 3), 300, 400, &y), MM_EINVAL,
                  "clamp: min 300 is out of range for u8");
        CHECK_ERR(mm_pow_scalar(i, -1, &y), MM_EINVAL,
                  "pow: integers to negative integer powers are not allowed");
        CHECK_ERR(mm_pow(bo, bo, &y), MM_ETYPE,
                  "pow: not supported for bool tensors");
        CHECK_ERR(mm_abs(bo, &y), MM_ETYPE,
                  "abs: not supported for bool tensors");
        CHECK_ERR(mm_floor(bo, &y), MM_ETYPE,
                  "floor: not supported for bool tensors");
        CHECK_ERR(mm_gelu(i, MM_GELU_NONE, &y), MM_ETYPE,
                  "gelu: expected a floating-point tensor, got i64");
        CHECK_ERR(mm_leaky_relu(i, 0.01, &y), MM_ETYPE,
                  "leaky_relu: expected a floating-point tensor, got i64");
        CHECK_ERR(mm_gelu(f, (mm_gelu_approximate)7, &y), MM_EINVAL,
                  "gelu: approximate must be MM_GELU_NONE or MM_GELU_TANH "
                  "(got 7)");
        CHECK_ERR(mm_softplus(f, 0, 20, &y), MM_EINVAL,
                  "softplus: beta must be nonzero (got 0)");
        CHECK_ERR(mm_relu6(bo, &y), MM_ETYPE,
                  "relu6: not supported for bool tensors");
        mm_tensor *x;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 4), MM_F32, &x));
        CHECK_ERR(mm_prelu(x, VEC(MM_F32, 1, 2), &y), MM_EINVAL,
                  "prelu: weight has 2 elements, expected 1 or the 3 channels "
                  "of input [2, 3, 4]");
        CHECK_ERR(mm_prelu(x, m23, &y), MM_EINVAL,
                  "prelu: weight has 2 dims, expected a scalar or 1-D tensor");
        CHECK_ERR(mm_prelu(x, VEC(MM_F64, 1), &y), MM_ETYPE,
                  "prelu: weight has dtype f64, expected f32 like the input");
        CHECK_ERR(mm_prelu(i, VEC(MM_I64, 1), &y), MM_ETYPE,
                  "prelu: expected a floating-point tensor, got i64");
        CHECK_ERR(mm_op_apply(mm_op_get(MM_OP_MAXIMUM), 2,
                              (mm_tensor *[]){f, i}, NULL, &y),
                  MM_ETYPE, "maximum: dtypes f32 and i64 differ");
        CHECK_ERR(mm_op_apply(mm_op_get(MM_OP_GELU_BACKWARD), 2,
                              (mm_tensor *[]){i, i}, NULL, &y),
                  MM_ETYPE,
                  "gelu_backward: expected floating-point tensors, got i64");
        CHECK_ERR(mm_op_apply(mm_op_get(MM_OP_CLAMP_TENSOR), 1, &f, NULL, &y),
                  MM_EINVAL,
                  "clamp_tensor: 1 inputs do not match the bounds given "
                  "(min no, max no)");
    });
}

/* The optimised f32 tanh is our own vectorised formula (core/ops/cpu/
 * vmath.h), not libm's: within 4 ulp of the double tanh over a dense sweep
 * across both branches and the saturation point, exact at 0, -0, +-inf,
 * NaN kept, odd symmetry exact. */
MM_TEST(tanh_f32_is_within_4_ulp_of_double) {
    enum { N = 200003 };
    POOLED({
        float *v = malloc(N * sizeof *v);
        int64_t n = 0;
        for (int64_t i = 0; i < N - 9; i++) /* [-12, 12], all magnitudes */
            v[n++] = (float)(-12.0 + 24.0 * (double)i / (N - 10));
        const float special[] = {0.0f,        -0.0f, 1e-30f,   -1e-38f,  0.5f,
                                 -0.4999999f, 9.1f,  INFINITY, -INFINITY};
        for (int i = 0; i < 9; i++)
            v[n++] = special[i];
        mm_tensor *x, *y;
        CHECK_OK(mm_from_data(v, 1, &n, MM_F32, &x));
        CHECK_OK(mm_tanh(x, &y));
        const float *o = y ? (const float *)mm_tensor_data(y) : NULL;
        double worst = 0;
        for (int64_t i = 0; o && i < n; i++) {
            double want = tanh((double)v[i]);
            double ulp = fabs(nextafterf((float)want, INFINITY) - (float)want);
            double err = ulp > 0 ? fabs(o[i] - want) / ulp : 0;
            if (err > worst)
                worst = err;
        }
        CHECK(worst <= 4.0);
        float nan_in = NAN, pm[2] = {0.3f, -0.3f};
        mm_tensor *xn, *yn, *xp, *yp;
        CHECK_OK(mm_from_data(&nan_in, 1, (int64_t[]){1}, MM_F32, &xn));
        CHECK_OK(mm_tanh(xn, &yn));
        CHECK(yn && isnan(*(const float *)mm_tensor_data(yn)));
        CHECK_OK(mm_from_data(pm, 1, (int64_t[]){2}, MM_F32, &xp));
        CHECK_OK(mm_tanh(xp, &yp));
        const float *q = yp ? (const float *)mm_tensor_data(yp) : NULL;
        CHECK(q && q[0] == -q[1]);
        free(v);
    });
}

MM_TEST(table_rows_are_named_and_found) {
    for (int k = MM_OP_POW; k <= MM_OP_SOFTPLUS_BACKWARD; k++) {
        const mm_op *op = mm_op_get((mm_op_id)k);
        CHECK(op && op->name && op->infer && op->reference);
        if (op)
            CHECK(mm_op_find(op->name) == op);
    }
    CHECK(mm_op_find("gelu_backward") == mm_op_get(MM_OP_GELU_BACKWARD));
}

/* ---- channels-last ------------------------------------------------------ */

/* The same values stored channels-last ([N, C, sp...] as [N, sp..., C]). */
static mm_tensor *cl_t(mm_tensor *t) {
    mm_tensor *c;
    if (mm_to_memory_format(t, MM_FORMAT_CHANNELS_LAST, &c) < 0)
        abort();
    return c;
}

PLAIN(neg)
PLAIN(exp)
PLAIN(relu)
PLAIN(sigmoid)
PLAIN(tanh)
static int u_ln(mm_tensor *x, const double *p, mm_tensor **out) {
    (void)p;
    return mm_ln(x, out);
}

/* unary.c's ops, beside elementwise.c's and activation.c's unary_cases */
static const unary_case basic_unary_cases[] = {
    {"neg", u_neg, {0}, DOM_NORMAL, true},
    {"exp", u_exp, {0}, DOM_NORMAL, true},
    {"log", u_ln, {0}, DOM_POSITIVE, true},
    {"relu", u_relu, {0}, DOM_NORMAL, true},
    {"sigmoid", u_sigmoid, {0}, DOM_NORMAL, true},
    {"tanh", u_tanh, {0}, DOM_NORMAL, true},
};
#define N_BASIC_UNARY                                                          \
    (int)(sizeof basic_unary_cases / sizeof basic_unary_cases[0])

static const unary_case *unary_named(const char *name) {
    for (int k = 0; k < N_UNARY; k++)
        if (strcmp(unary_cases[k].name, name) == 0)
            return &unary_cases[k];
    abort();
}

static int add_alpha(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    return mm_add_alpha(a, b, -1.5, out);
}

/* binary.c's ops, beside binary_cases (positive_a: a positive divisor) */
static const binary_case arith_cases[] = {
    {"add", mm_add, false, true}, {"add alpha", add_alpha, false, true},
    {"sub", mm_sub, false, true}, {"mul", mm_mul, false, true},
    {"div", mm_div, false, true},
};
#define N_ARITH (int)(sizeof arith_cases / sizeof arith_cases[0])

/* The fused backward ops (inputs: grad, x), by id and params (f_op). */
static const struct {
    mm_op_id id;
    mm_op_params p;
} backward_cases[] = {
    {MM_OP_RELU_BACKWARD, {{0}, {0}}},
    {MM_OP_SIGMOID_BACKWARD, {{0}, {0}}},
    {MM_OP_TANH_BACKWARD, {{0}, {0}}},
    {MM_OP_RELU6_BACKWARD, {{0}, {0}}},
    {MM_OP_LEAKY_RELU_BACKWARD, {{0}, {0.2}}},
    {MM_OP_ELU_BACKWARD, {{0}, {1.3}}},
    {MM_OP_GELU_BACKWARD, {{MM_GELU_NONE}, {0}}},
    {MM_OP_GELU_BACKWARD, {{MM_GELU_TANH}, {0}}},
    {MM_OP_SILU_BACKWARD, {{0}, {0}}},
    {MM_OP_HARDSWISH_BACKWARD, {{0}, {0}}},
    {MM_OP_HARDSIGMOID_BACKWARD, {{0}, {0}}},
    {MM_OP_MISH_BACKWARD, {{0}, {0}}},
    {MM_OP_SOFTPLUS_BACKWARD, {{0}, {1.5, 2}}},
};
#define N_BACKWARD (int)(sizeof backward_cases / sizeof backward_cases[0])

/* fn on `in` (contiguous) and on the same values with the inputs flagged in
 * `cl` stored channels-last: identical numbers (the same loops run on the
 * same elements), and the output in `want` layout. With the reference
 * kernels too: they read and write either layout. */
static bool check_layout_at(const char *file, int line, const char *what,
                            op_fn fn, void *ctx, mm_tensor *const *in, int n,
                            unsigned cl, bool want_cl) {
    mm_tensor *x[3], *base = NULL, *y = NULL, *ref = NULL;
    for (int k = 0; k < n; k++)
        x[k] = cl >> k & 1 ? cl_t(in[k]) : in[k];
    int rc = fn(ctx, in, n, &base);
    if (rc == 0)
        rc = fn(ctx, x, n, &y);
    bool prev = mm_ops_set_reference(true);
    if (rc == 0)
        rc = fn(ctx, x, n, &ref);
    mm_ops_set_reference(prev);
    const char *bad = NULL;
    double err = 0, err_ref = 0;
    /* the reference rounds once from double, the f32 loops per op */
    bool half = in[0]->dtype == MM_BF16 || in[0]->dtype == MM_F16;
    if (rc < 0)
        bad = mm_error_message();
    else if (!mm_allclose(y, base, 0, 0, &err) || y->dtype != base->dtype)
        bad = "values differ from the contiguous run";
    else if (mm_tensor_is_channels_last(y) != want_cl ||
             mm_tensor_is_contiguous(y) == want_cl)
        bad = want_cl ? "output is not channels-last"
                      : "output is not contiguous";
    else if (!mm_allclose(ref, y, half ? 1e-2 : 1e-5, 1e-5, &err_ref))
        bad = "reference kernel differs";
    else if (mm_tensor_is_channels_last(ref) != want_cl)
        bad = "reference output has the wrong layout";
    if (bad) {
        fprintf(stderr, "%s:%d: %s (inputs %#x channels-last): %s (%g, %g)\n",
                file, line, what, cl, bad, err, err_ref);
        mm_test_failures++;
    }
    return bad == NULL;
}
#define CHECK_LAYOUT(what, fn, ctx, in, n, cl, want_cl)                        \
    check_layout_at(__FILE__, __LINE__, what, fn, ctx, in, n, cl, want_cl)

MM_TEST(every_elementwise_op_keeps_channels_last_and_matches_contiguous) {
    /* 4-D, 5-D and 3-D (NLC); one (f32) above the parallel grain */
    const int64_t shapes[][6] = {
        {4, 2, 5, 4, 3}, {5, 2, 3, 2, 3, 4}, {3, 2, 7, 5}, {4, 2, 18, 31, 31}};
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < (s == 3 ? 1 : 2); t++)
            POOLED({
                int nd = (int)shapes[s][0];
                const int64_t *shape = shapes[s] + 1;
                mm_dtype dt = dtypes[t];
                char what[96];
                for (int k = 0; k < N_UNARY + N_BASIC_UNARY; k++) {
                    const unary_case *c = k < N_UNARY
                                              ? &unary_cases[k]
                                              : &basic_unary_cases[k - N_UNARY];
                    mm_tensor *x = domain_t(c->domain, nd, shape, dt);
                    snprintf(what, sizeof what, "%s %dd %s", c->name, nd,
                             mm_dtype_name(dt));
                    CHECK_LAYOUT(what, f_unary, (void *)c, &x, 1, 1, true);
                }
                for (int k = 0; k < N_BINARY + N_ARITH; k++) {
                    const binary_case *c = k < N_BINARY
                                               ? &binary_cases[k]
                                               : &arith_cases[k - N_BINARY];
                    mm_tensor *in[2] = {c->positive_a
                                            ? uniform_t(nd, shape, dt, 0.2, 2)
                                            : randn_t(nd, shape, dt),
                                        uniform_t(nd, shape, dt, 0.5, 2)};
                    snprintf(what, sizeof what, "%s %dd %s", c->name, nd,
                             mm_dtype_name(dt));
                    CHECK_LAYOUT(what, f_binary, (void *)c, in, 2, 3, true);
                }
                for (int k = 0; k < N_BACKWARD; k++) {
                    mm_op_params p = backward_cases[k].p;
                    p.i[19] = backward_cases[k].id;
                    mm_tensor *in[2] = {randn_t(nd, shape, dt),
                                        domain_t(DOM_WIDE, nd, shape, dt)};
                    if (p.i[19] == MM_OP_SIGMOID_BACKWARD ||
                        p.i[19] == MM_OP_TANH_BACKWARD)
                        in[1] = uniform_t(nd, shape, dt, -1, 1); /* outputs */
                    snprintf(what, sizeof what, "%s %dd %s",
                             mm_op_get(backward_cases[k].id)->name, nd,
                             mm_dtype_name(dt));
                    CHECK_LAYOUT(what, f_op, &p, in, 2, 3, true);
                }
                for (int w = 0; w < 4; w++) {
                    sel_case c = {w};
                    mm_tensor *in[3] = {randn_t(nd, shape, dt),
                                        randn_t(nd, shape, dt),
                                        randn_t(nd, shape, dt)};
                    snprintf(what, sizeof what, "select %d %dd %s", w, nd,
                             mm_dtype_name(dt));
                    CHECK_LAYOUT(what, f_select, &c, in, 3, 7, true);
                }
                sel_case prelu = {4};
                mm_tensor *pin[2] = {randn_t(nd, shape, dt),
                                     uniform_t(MM_SHAPE(shape[1]), dt, 0, 1)};
                CHECK_LAYOUT("prelu", f_select, &prelu, pin, 2, 1, true);
            });
}

MM_TEST(half_dtypes_keep_channels_last) {
    const mm_dtype dtypes[] = {MM_BF16, MM_F16};
    for (int t = 0; t < 2; t++)
        POOLED({
            mm_tensor *in[2] = {randn_t(MM_SHAPE(2, 6, 5, 4), dtypes[t]),
                                randn_t(MM_SHAPE(2, 6, 5, 4), dtypes[t])};
            CHECK_LAYOUT("add", f_binary, (void *)&arith_cases[0], in, 2, 3,
                         true);
            CHECK_LAYOUT("silu", f_unary, (void *)unary_named("silu"), in, 1, 1,
                         true);
            mm_tensor *s[2] = {in[0], randn_t(MM_SHAPE(2, 6, 1, 1), dtypes[t])};
            CHECK_LAYOUT("mul by [N, C, 1, 1]", f_binary,
                         (void *)&arith_cases[3], s, 2, 1, true);
        });
}

MM_TEST(mixed_layouts_follow_the_first_full_shape_input) {
    POOLED({
        const binary_case *add = &arith_cases[0], *mx = &binary_cases[1];
        mm_tensor *in[2] = {randn_t(MM_SHAPE(2, 5, 4, 3), MM_F32),
                            randn_t(MM_SHAPE(2, 5, 4, 3), MM_F32)};
        /* a channels-last, b contiguous: channels-last, and the reverse */
        CHECK_LAYOUT("add", f_binary, (void *)add, in, 2, 1, true);
        CHECK_LAYOUT("add", f_binary, (void *)add, in, 2, 2, false);
        CHECK_LAYOUT("maximum", f_binary, (void *)mx, in, 2, 1, true);
        CHECK_LAYOUT("maximum", f_binary, (void *)mx, in, 2, 2, false);
        for (int k = 0; k < N_BACKWARD; k++) {
            mm_op_params p = backward_cases[k].p;
            p.i[19] = backward_cases[k].id;
            CHECK_LAYOUT("backward", f_op, &p, in, 2, 1, true);
            CHECK_LAYOUT("backward", f_op, &p, in, 2, 2, false);
        }
        sel_case where = {0};
        mm_tensor *w[3] = {in[0], in[1], randn_t(MM_SHAPE(2, 5, 4, 3), MM_F32)};
        CHECK_LAYOUT("where", f_select, &where, w, 3, 2, false);
        CHECK_LAYOUT("where", f_select, &where, w, 3, 4, true); /* cond */

        /* inputs that say nothing are skipped: an expanded first input, or
         * one whose size-1 dims make both orders the same */
        mm_tensor *row, *ex, *y;
        CHECK_OK(mm_expand(randn_t(MM_SHAPE(1, 5, 1, 1), MM_F32), 4,
                           in[0]->shape, &ex));
        CHECK_OK(mm_add(ex, cl_t(in[1]), &y));
        CHECK(mm_tensor_is_channels_last(y) && !mm_tensor_is_contiguous(y));
        mm_tensor *flat = randn_t(MM_SHAPE(2, 5, 1, 1), MM_F32);
        CHECK_OK(mm_add(flat, cl_t(flat), &y)); /* both orders at once */
        CHECK(mm_tensor_is_contiguous(y));
        /* a channel slice of a channels-last tensor is not dense but still
         * channels-last ordered (ShuffleNet's channel split) */
        CHECK_OK(mm_narrow(cl_t(in[0]), 1, 1, 3, &row));
        CHECK(!mm_tensor_is_channels_last(row));
        CHECK_OK(mm_relu(row, &y));
        CHECK(mm_tensor_is_channels_last(y) && !mm_tensor_is_contiguous(y));
        mm_tensor *want, *rc;
        CHECK_OK(mm_narrow(in[0], 1, 1, 3, &row));
        CHECK_OK(mm_relu(row, &want));
        double err;
        CHECK(mm_allclose(y, want, 0, 0, &err));
        /* a transposed (neither) first input decides: contiguous */
        mm_tensor *tr;
        CHECK_OK(mm_transpose(in[0], 2, 3, &tr));
        mm_tensor *other = randn_t(MM_SHAPE(2, 5, 3, 4), MM_F32);
        CHECK_OK(mm_add(tr, cl_t(other), &rc));
        CHECK(mm_tensor_is_contiguous(rc));
        /* 2-D results stay contiguous */
        mm_tensor *m = randn_t(MM_SHAPE(4, 6), MM_F32);
        CHECK_OK(mm_relu(m, &y));
        CHECK(mm_tensor_is_contiguous(y));
    });
}

MM_TEST(broadcast_operands_work_with_channels_last) {
    /* a bias [1, C, 1, 1], an SE scale [N, C, 1, 1], [C, 1, 1], a spatial
     * map [1, 1, H, W], a last-dim row [W] and a 0-dim scalar against a
     * channels-last x; on both sides of the op */
    const int64_t others[][5] = {{4, 1, 7, 1, 1}, {4, 3, 7, 1, 1}, {3, 7, 1, 1},
                                 {4, 1, 1, 5, 6}, {1, 6},          {0}};
    for (int o = 0; o < 6; o++)
        for (int k = 0; k < N_ARITH + 3; k++)
            POOLED({
                const binary_case *c =
                    k < N_ARITH ? &arith_cases[k] : &binary_cases[k - N_ARITH];
                mm_tensor *x = randn_t(MM_SHAPE(3, 7, 5, 6), MM_F64);
                mm_tensor *b =
                    uniform_t((int)others[o][0], others[o] + 1, MM_F64, 0.5, 2);
                char what[64];
                snprintf(what, sizeof what, "%s operand %d", c->name, o);
                mm_tensor *xb[2] = {x, b}, *bx[2] = {b, x};
                CHECK_LAYOUT(what, f_binary, (void *)c, xb, 2, 1, true);
                CHECK_LAYOUT(what, f_binary, (void *)c, bx, 2, 2, true);
            });
    /* the same at a parallel size, f32, with odd extents so that the
     * threads' ranges split rows of C */
    int prev = mm_get_num_threads();
    CHECK_OK(mm_set_num_threads(3));
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(3, 7, 45, 37), MM_F32);
        mm_tensor *s = randn_t(MM_SHAPE(3, 7, 1, 1), MM_F32);
        mm_tensor *in[2] = {x, s};
        for (int k = 0; k < N_ARITH; k++)
            CHECK_LAYOUT(arith_cases[k].name, f_binary, (void *)&arith_cases[k],
                         in, 2, 1, true);
    });
    CHECK_OK(mm_set_num_threads(prev));
}

MM_TEST(iterator_collapses_channels_last_operands) {
    POOLED({
        mm_tensor *x = cl_t(randn_t(MM_SHAPE(2, 8, 5, 6), MM_F32));
        mm_tensor *y = cl_t(randn_t(MM_SHAPE(2, 8, 5, 6), MM_F32));
        mm_tensor *s = randn_t(MM_SHAPE(2, 8, 1, 1), MM_F32);
        mm_tensor *out = cl_t(randn_t(MM_SHAPE(2, 8, 5, 6), MM_F32));
        mm_iter it;
        /* one layout everywhere: one contiguous row, as NCHW */
        CHECK_OK(mm_iter_init(&it, 3, (mm_tensor *[]){out, x, y}));
        CHECK_INT(it.ndim, 1);
        CHECK_INT(it.shape[0], 2 * 8 * 5 * 6);
        CHECK_INT(it.stride[1][0], 4);
        /* an SE scale: rows of C, contiguous in every operand, over the
         * merged H W, then N */
        CHECK_OK(mm_iter_init(&it, 3, (mm_tensor *[]){out, x, s}));
        CHECK_INT(it.ndim, 3);
        CHECK_INT(it.shape[0], 2);
        CHECK_INT(it.shape[1], 30);
        CHECK_INT(it.shape[2], 8);
        CHECK_INT(it.stride[0][2], 4);
        CHECK_INT(it.stride[1][2], 4);
        CHECK_INT(it.stride[2][2], 4);
        CHECK_INT(it.stride[2][1], 0);
        CHECK_INT(it.stride[2][0], 32);
        /* a contiguous output keeps the row-major walk */
        mm_tensor *c = randn_t(MM_SHAPE(2, 8, 5, 6), MM_F32);
        CHECK_OK(mm_iter_init(&it, 2, (mm_tensor *[]){c, s}));
        CHECK_INT(it.ndim, 2);
        CHECK_INT(it.shape[1], 30);
        CHECK_INT(it.stride[1][1], 0);
    });
}

MM_TEST(inplace_ops_keep_the_tensor_layout) {
    for (int ref = 0; ref < 2; ref++)
        POOLED({
            bool prev = mm_ops_set_reference(ref);
            mm_tensor *x = randn_t(MM_SHAPE(2, 6, 5, 4), MM_F32);
            mm_tensor *o = randn_t(MM_SHAPE(2, 6, 5, 4), MM_F32);
            mm_tensor *b = randn_t(MM_SHAPE(1, 6, 1, 1), MM_F32);
            mm_tensor *t = cl_t(x), *want;
            int64_t strides[4];
            memcpy(strides, t->stride, sizeof strides);
            /* t += -2 o (o contiguous), t += b, t *= 3 */
            CHECK_OK(mm_tensor_add_(t, o, -2));
            CHECK_OK(mm_tensor_add_(t, b, 1));
            CHECK_OK(mm_tensor_mul_scalar_(t, 3));
            CHECK(memcmp(strides, t->stride, sizeof strides) == 0);
            CHECK(mm_tensor_is_channels_last(t));
            CHECK_OK(mm_add_alpha(x, o, -2, &want));
            CHECK_OK(mm_add(want, b, &want));
            CHECK_OK(mm_mul_scalar(want, 3, &want));
            double err;
            CHECK(mm_allclose(t, want, 0, 0, &err));
            mm_ops_set_reference(prev);
        });
}

/* y = relu(x) * x + sigmoid(x) * x: x's gradient accumulates from four
 * uses. */
static int f_accumulate(void *vctx, mm_tensor *const *in, int n,
                        mm_tensor **out) {
    (void)vctx;
    (void)n;
    mm_tensor *a, *b;
    MM_TRY(mm_relu(in[0], &a));
    MM_TRY(mm_mul(a, in[0], &a));
    MM_TRY(mm_sigmoid(in[0], &b));
    MM_TRY(mm_mul(b, in[0], &b));
    return mm_add(a, b, out);
}

MM_TEST(gradients_accumulate_for_channels_last_inputs) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(2, 6, 5, 4), MM_F32);
        mm_tensor *xl = leaf(cl_t(x)), *xc = leaf(x), *y, *g1, *g2;
        CHECK_OK(f_accumulate(NULL, &xc, 1, &y));
        g1 = grad_of(y, xc);
        CHECK_OK(f_accumulate(NULL, &xl, 1, &y));
        CHECK(mm_tensor_is_channels_last(y));
        g2 = grad_of(y, xl);
        double err;
        CHECK(mm_allclose(g2, g1, 1e-6, 1e-7, &err));
        /* a second backward adds into the existing gradient */
        CHECK_OK(f_accumulate(NULL, &xl, 1, &y));
        mm_tensor *s, *twice;
        CHECK_OK(mm_sum(y, 0, NULL, false, &s));
        CHECK_OK(mm_backward(s));
        CHECK_OK(mm_mul_scalar(g1, 2, &twice));
        CHECK(mm_allclose(mm_tensor_grad(xl), twice, 1e-6, 1e-6, &err));
    });
}

MM_TEST(gradcheck_passes_with_channels_last_inputs) {
    for (int k = 0; k < N_UNARY + N_BASIC_UNARY; k++) {
        const unary_case *c =
            k < N_UNARY ? &unary_cases[k] : &basic_unary_cases[k - N_UNARY];
        if (!c->differentiable)
            continue;
        POOLED({
            mm_tensor *x =
                leaf(cl_t(domain_t(c->domain, MM_SHAPE(2, 3, 2, 2), MM_F64)));
            int rc = mm_gradcheck(f_unary, (void *)c, &x, 1, 1e-6, 1e-6, 1e-4);
            if (rc < 0) {
                fprintf(stderr, "gradcheck of %s failed: %s\n", c->name,
                        mm_error_message());
                mm_test_failures++;
            }
        });
    }
    /* binary ops: both channels-last, and against a [1, C, 1, 1] operand */
    for (int k = 0; k < N_ARITH + 3; k++)
        POOLED({
            const binary_case *c =
                k < N_ARITH ? &arith_cases[k] : &binary_cases[k - N_ARITH];
            mm_tensor *a = c->positive_a
                               ? uniform_t(MM_SHAPE(2, 3, 2, 2), MM_F64, 0.2, 2)
                               : randn_t(MM_SHAPE(2, 3, 2, 2), MM_F64);
            mm_tensor *in[2] = {
                leaf(cl_t(a)),
                leaf(cl_t(uniform_t(MM_SHAPE(2, 3, 2, 2), MM_F64, 0.5, 2)))};
            CHECK_GRAD(f_binary, (void *)c, in, 2);
            mm_tensor *bc[2] = {
                in[0], leaf(uniform_t(MM_SHAPE(1, 3, 1, 1), MM_F64, 0.5, 2))};
            CHECK_GRAD(f_binary, (void *)c, bc, 2);
        });
    for (int w = 0; w < 5; w++)
        POOLED({
            sel_case c = {w};
            mm_tensor *in[3] = {
                leaf(cl_t(randn_t(MM_SHAPE(2, 3, 2, 2), MM_F64))),
                leaf(w == 4 ? uniform_t(MM_SHAPE(3), MM_F64, 0.1, 1)
                            : cl_t(randn_t(MM_SHAPE(2, 3, 2, 2), MM_F64))),
                cl_t(randn_t(MM_SHAPE(2, 3, 2, 2), MM_F64))};
            if (w == 1) { /* clamp's bounds apart from x's values */
                CHECK_OK(mm_sub_scalar(in[2], 0.3, &in[2]));
                in[2] = leaf(cl_t(in[2]));
            }
            CHECK_GRAD(f_select, &c, in, w == 4 ? 2 : 3);
        });
}

/* ResNet-sized f32 tensors: the ops of a residual block and its backward,
 * channels-last against contiguous. */
MM_TEST(realistic_sizes_match_contiguous) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(4, 64, 28, 28), MM_F32);
        mm_tensor *r = randn_t(MM_SHAPE(4, 64, 28, 28), MM_F32);
        mm_tensor *s = uniform_t(MM_SHAPE(4, 64, 1, 1), MM_F32, 0, 1);
        mm_tensor *xr[2] = {x, r}, *xs[2] = {x, s};
        CHECK_LAYOUT("add", f_binary, (void *)&arith_cases[0], xr, 2, 3, true);
        CHECK_LAYOUT("mul [N, C, 1, 1]", f_binary, (void *)&arith_cases[3], xs,
                     2, 1, true);
        CHECK_LAYOUT("relu", f_unary, (void *)&basic_unary_cases[3], &x, 1, 1,
                     true);
        CHECK_LAYOUT("hardswish", f_unary, (void *)unary_named("hardswish"), &x,
                     1, 1, true);
        mm_op_params p = {.i = {[19] = MM_OP_RELU_BACKWARD}};
        CHECK_LAYOUT("relu_backward", f_op, &p, xr, 2, 3, true);
    });
}

MM_TEST_MAIN(
    MM_CASE(unary_ops_match_reference), MM_CASE(unary_ops_pass_gradcheck),
    MM_CASE(activation_backward_ops_match_reference),
    MM_CASE(binary_ops_match_reference_with_broadcasting),
    MM_CASE(binary_ops_match_reference_on_non_contiguous_and_other_dtypes),
    MM_CASE(where_clamp_tensor_and_prelu_match_reference),
    MM_CASE(binary_and_selection_ops_pass_gradcheck),
    MM_CASE(values_match_pytorch), MM_CASE(dtypes_promote_as_pytorch),
    MM_CASE(gradients_at_kinks_follow_pytorch),
    MM_CASE(errors_are_one_line_and_name_the_op),
    MM_CASE(tanh_f32_is_within_4_ulp_of_double),
    MM_CASE(table_rows_are_named_and_found),
    MM_CASE(every_elementwise_op_keeps_channels_last_and_matches_contiguous),
    MM_CASE(half_dtypes_keep_channels_last),
    MM_CASE(mixed_layouts_follow_the_first_full_shape_input),
    MM_CASE(broadcast_operands_work_with_channels_last),
    MM_CASE(iterator_collapses_channels_last_operands),
    MM_CASE(inplace_ops_keep_the_tensor_layout),
    MM_CASE(gradients_accumulate_for_channels_last_inputs),
    MM_CASE(gradcheck_passes_with_channels_last_inputs),
    MM_CASE(realistic_sizes_match_contiguous))
