/* Losses: torch's numbers for each option, the fused kernels against their
 * references (forward and the backward ops, f32 and f64, (N, C) and
 * (N, C, d...), non-contiguous, empty and big inputs), float64 gradcheck of
 * every loss and option, errors; bf16 autocast of matmul, linear and the
 * convolutions. */
#include "ops_testing.h"

#include <string.h>

enum { K_CE, K_NLL, K_BCE, K_BCEL, K_MSE, K_L1, K_SL1 };

typedef struct lctx {
    int kind;
    mm_loss_reduction red;
    mm_tensor *target; /* index targets (not differentiated) */
    mm_tensor *weight; /* class / element weight (not differentiated) */
    int64_t ign;
    double ls, beta;
} lctx;

/* in[0] the input; in[1] a float target; in[2] the bce weight or the
 * pos_weight of bce with logits. */
static int f_loss(void *vc, mm_tensor *const *in, int n, mm_tensor **out) {
    lctx *c = vc;
    mm_tensor *t = n > 1 ? in[1] : c->target;
    switch (c->kind) {
    case K_CE:
        return mm_cross_entropy(in[0], t, c->weight, c->ign, c->red, c->ls,
                                out);
    case K_NLL:
        return mm_nll_loss(in[0], t, c->weight, c->ign, c->red, out);
    case K_BCE:
        return mm_binary_cross_entropy(in[0], t, n > 2 ? in[2] : c->weight,
                                       c->red, out);
    case K_BCEL:
        return mm_binary_cross_entropy_with_logits(
            in[0], t, c->weight, n > 2 ? in[2] : NULL, c->red, out);
    case K_MSE:
        return mm_mse_loss(in[0], t, c->red, out);
    case K_L1:
        return mm_l1_loss(in[0], t, c->red, out);
    default:
        return mm_smooth_l1_loss(in[0], t, c->red, c->beta, out);
    }
}

static mm_tensor *from_f64(const double *v, int ndim, const int64_t *shape) {
    mm_tensor *t;
    if (mm_from_data(v, ndim, shape, MM_F64, &t) < 0)
        abort();
    return t;
}

/* Class indices in [0, c) with about one in five set to ignore (when
 * ign_every > 0), deterministic. */
static mm_tensor *targets(int ndim, const int64_t *shape, int64_t c,
                          int64_t ign, int ign_every) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    int64_t *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    uint64_t s = 88172645463325252ull;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        v[i] = (int64_t)(s % (uint64_t)c);
        if (ign_every && (s >> 20) % (uint64_t)ign_every == 0)
            v[i] = ign;
    }
    mm_tensor *t;
    if (mm_from_data(v, ndim, shape, MM_I64, &t) < 0)
        abort();
    free(v);
    return t;
}

static void check_values_at(const char *file, int line, const char *what,
                            const mm_tensor *y, const double *want, int64_t n,
                            double tol) {
    if (y->numel != n) {
        fprintf(stderr, "%s:%d: %s: %lld values, want %lld\n", file, line, what,
                (long long)y->numel, (long long)n);
        mm_test_failures++;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double a = at(y, i);
        bool ok = isnan(want[i])
                      ? isnan(a)
                      : fabs(a - want[i]) <= tol * (1 + fabs(want[i]));
        if (!ok) {
            fprintf(stderr, "%s:%d: %s[%lld] = %.17g, torch %.17g\n", file,
                    line, what, (long long)i, a, want[i]);
            mm_test_failures++;
            return;
        }
    }
}
#define CHECK_VALUES(what, y, want, tol)                                       \
    check_values_at(__FILE__, __LINE__, what, y, want,                         \
                    (int64_t)(sizeof want / sizeof want[0]), tol)

/* The fixed inputs of gen: x (3, 4), targets, class weights. */
static const double X34[] = {0.5,  -1.0, 2.0, 0.1, 1.5, 0.3,
                             -0.7, -2.0, 0.0, 0.2, 0.4, -0.6};
static const int64_t T_IGN[] = {2, 0, -100}, T_ALL[] = {2, 0, 3};
static const double W4[] = {0.5, 2.0, 1.5, 1.0};

static double loss_of(lctx c, mm_tensor *x) {
    mm_tensor *y;
    double v = NAN;
    if (f_loss(&c, &x, 1, &y) < 0 || mm_tensor_item(y, &v) < 0) {
        fprintf(stderr, "loss_of: %s\n", mm_error_message());
        mm_test_failures++;
    }
    return v;
}

MM_TEST(cross_entropy_and_nll_match_torch) {
    POOLED({
        mm_tensor *x = from_f64(X34, MM_SHAPE(3, 4)), *ti, *ta, *w, *y;
        CHECK_OK(mm_from_data(T_IGN, MM_SHAPE(3), MM_I64, &ti));
        CHECK_OK(mm_from_data(T_ALL, MM_SHAPE(3), MM_I64, &ta));
        w = from_f64(W4, MM_SHAPE(4));
        lctx c = {.kind = K_CE, .red = MM_LOSS_MEAN, .target = ta, .ign = -100};
        /* F.cross_entropy(x, t2) */
        const double ce_mean[] = {0.9227732439061076};
        CHECK(fabs(loss_of(c, x) - ce_mean[0]) < 1e-12);
        /* F.cross_entropy(x, t, weight=w, reduction='none') */
        const double ce_none[] = {0.5286089071551461, 0.18308304389272131, 0};
        CHECK_OK(mm_cross_entropy(x, ti, w, -100, MM_LOSS_NONE, 0, &y));
        CHECK_VALUES("ce none weight", y, ce_none, 1e-12);
        /* F.cross_entropy(x, t, weight=w, label_smoothing=0.1) and x.grad */
        const double ce_w_ls[] = {0.588297129589595};
        const double ce_w_ls_grad[] = {0.10943374713255404,
                                       0.0008125330242572458,
                                       -0.1752914148602802,
                                       0.0650451347034689,
                                       -0.03190105682638497,
                                       0.035042747834707344,
                                       0.003338492519829957,
                                       -0.006480183528152364,
                                       0,
                                       0,
                                       0,
                                       0};
        for (int ref = 0; ref < 2; ref++) {
            bool prev = mm_ops_set_reference(ref);
            mm_tensor *xl = leaf(from_f64(X34, MM_SHAPE(3, 4)));
            CHECK_OK(mm_cross_entropy(xl, ti, w, -100, MM_LOSS_MEAN, 0.1, &y));
            CHECK_VALUES("ce weight ls", y, ce_w_ls, 1e-12);
            CHECK_OK(mm_backward(y));
            CHECK_VALUES("ce weight ls grad", mm_tensor_grad(xl), ce_w_ls_grad,
                         1e-12);
            mm_ops_set_reference(prev);
        }
        /* F.cross_entropy(x, t, label_smoothing=0.25, reduction='sum') and
         * the same with the mean */
        const double ce_sum_ls[] = {1.5498220258888735};
        const double ce_mean_ls[] = {0.7749110129444368};
        CHECK_OK(mm_cross_entropy(x, ti, NULL, -100, MM_LOSS_SUM, 0.25, &y));
        CHECK_VALUES("ce sum ls", y, ce_sum_ls, 1e-12);
        CHECK_OK(mm_cross_entropy(x, ti, NULL, -100, MM_LOSS_MEAN, 0.25, &y));
        CHECK_VALUES("ce mean ls", y, ce_mean_ls, 1e-12);
        /* st = [[.2, .3, .5, 0], [1, 0, 0, 0], [.25] * 4]:
         * F.cross_entropy(x, st, weight=w, label_smoothing=0.1) and
         * F.cross_entropy(x, st, reduction='none') */
        const double st[] = {0.2, 0.3, 0.5,  0.0,  1,    0,
                             0,   0,   0.25, 0.25, 0.25, 0.25};
        const double ce_soft[] = {1.5426402080837827};
        const double ce_soft_none[] = {1.5524059381034305, 0.36616608778544263,
                                       1.4497477058294495};
        mm_tensor *ts = from_f64(st, MM_SHAPE(3, 4));
        CHECK_OK(mm_cross_entropy(x, ts, w, -100, MM_LOSS_MEAN, 0.1, &y));
        CHECK_VALUES("ce soft weight ls", y, ce_soft, 1e-12);
        CHECK_OK(mm_cross_entropy(x, ts, NULL, -100, MM_LOSS_NONE, 0, &y));
        CHECK_VALUES("ce soft none", y, ce_soft_none, 1e-12);
        /* F.cross_entropy(x.reshape(2, 3, 2), [[0, 2], [1, -100]],
         * weight=w[:3]) */
        const double ce_3d[] = {1.0870500523388211};
        const int64_t t3v[] = {0, 2, 1, -100};
        mm_tensor *x3, *t3, *w3;
        CHECK_OK(mm_reshape(x, MM_SHAPE(2, 3, 2), &x3));
        CHECK_OK(mm_from_data(t3v, MM_SHAPE(2, 2), MM_I64, &t3));
        w3 = from_f64(W4, MM_SHAPE(3));
        CHECK_OK(mm_cross_entropy(x3, t3, w3, -100, MM_LOSS_MEAN, 0, &y));
        CHECK_VALUES("ce 3d weight", y, ce_3d, 1e-12);
        /* F.cross_entropy(x, [-100] * 3): nan */
        const int64_t none[] = {-100, -100, -100};
        mm_tensor *tn;
        CHECK_OK(mm_from_data(none, MM_SHAPE(3), MM_I64, &tn));
        CHECK_OK(mm_cross_entropy(x, tn, NULL, -100, MM_LOSS_MEAN, 0, &y));
        CHECK(isnan(at(y, 0)));
        /* F.cross_entropy(x[0], torch.tensor(1)) */
        const double ce_unb[] = {3.3524059381034306};
        mm_tensor *x0, *t0;
        const int64_t one = 1;
        CHECK_OK(mm_select(x, 0, 0, &x0));
        CHECK_OK(mm_from_data(&one, 0, NULL, MM_I64, &t0));
        CHECK_OK(mm_cross_entropy(x0, t0, NULL, -100, MM_LOSS_NONE, 0, &y));
        CHECK_INT(y->ndim, 0);
        CHECK_VALUES("ce unbatched", y, ce_unb, 1e-12);
        /* F.nll_loss(x, t2, weight=w);
         * F.nll_loss(x, t2, ignore_index=0, reduction='sum') */
        const double nll_w[] = {-1.05}, nll_ign[] = {-1.4};
        CHECK_OK(mm_nll_loss(x, ta, w, -100, MM_LOSS_MEAN, &y));
        CHECK_VALUES("nll weight", y, nll_w, 1e-12);
        CHECK_OK(mm_nll_loss(x, ta, NULL, 0, MM_LOSS_SUM, &y));
        CHECK_VALUES("nll ignore 0", y, nll_ign, 1e-12);
        /* f32: the same numbers to f32 precision */
        mm_tensor *xf;
        CHECK_OK(mm_to_dtype(x, MM_F32, &xf));
        CHECK_OK(mm_cross_entropy(xf, ta, NULL, -100, MM_LOSS_MEAN, 0, &y));
        CHECK_INT(y->dtype, MM_F32);
        CHECK_VALUES("ce f32", y, ce_mean, 1e-6);
    });
}

MM_TEST(binary_and_regression_losses_match_torch) {
    POOLED({
        mm_tensor *y;
        const double pv[] = {0.3, 0.0, 1.0, 0.9, 0.5, 0.01};
        const double yv[] = {1, 0, 1, 0.5, 0, 1};
        const double bwv[] = {1, 2, 0.5, 1, 3, 1};
        mm_tensor *p = from_f64(pv, MM_SHAPE(6)),
                  *t = from_f64(yv, MM_SHAPE(6));
        mm_tensor *bw = from_f64(bwv, MM_SHAPE(6));
        /* F.binary_cross_entropy(p, y) and with weight=bw, reduction='none' */
        const double bce_mean[] = {1.284377162533318};
        const double bce_w[] = {
            1.2039728043259361, 0, 0, 1.2039728043259361, 2.0794415416798357,
            4.605170185988091};
        CHECK_OK(mm_binary_cross_entropy(p, t, NULL, MM_LOSS_MEAN, &y));
        CHECK_VALUES("bce mean", y, bce_mean, 1e-12);
        CHECK_OK(mm_binary_cross_entropy(p, t, bw, MM_LOSS_NONE, &y));
        CHECK_VALUES("bce weight", y, bce_w, 1e-12);
        /* F.binary_cross_entropy([0., 1.], [1., 0.], reduction='sum'):
         * each log clamped at -100 */
        const double cl[] = {0, 1}, ct[] = {1, 0}, bce_clamp[] = {200};
        CHECK_OK(mm_binary_cross_entropy(from_f64(cl, MM_SHAPE(2)),
                                         from_f64(ct, MM_SHAPE(2)), NULL,
                                         MM_LOSS_SUM, &y));
        CHECK_VALUES("bce clamp", y, bce_clamp, 1e-12);
        /* lg = [[.5, -3, 20], [-40, 1, 0]], ly = [[1, 0, 0], [1, .5, 1]]:
         * F.binary_cross_entropy_with_logits(lg, ly) and with
         * weight=[[1.], [2.]], pos_weight=[2., .5, 1.], reduction='none' */
        const double lgv[] = {0.5, -3, 20, -40, 1, 0};
        const double lyv[] = {1, 0, 0, 1, 0.5, 1};
        const double pwv[] = {2, 0.5, 1}, lwv[] = {1, 2};
        mm_tensor *lg = from_f64(lgv, MM_SHAPE(2, 3));
        mm_tensor *ly = from_f64(lyv, MM_SHAPE(2, 3));
        const double bcel_mean[] = {10.338178867648862};
        const double bcel_none[] = {0.9481539683602134, 0.048587351573742055,
                                    20.000000002061153, 160.0,
                                    1.4698925312773343, 1.3862943611198906};
        CHECK_OK(mm_binary_cross_entropy_with_logits(lg, ly, NULL, NULL,
                                                     MM_LOSS_MEAN, &y));
        CHECK_VALUES("bce logits mean", y, bcel_mean, 1e-12);
        CHECK_OK(mm_binary_cross_entropy_with_logits(
            lg, ly, from_f64(lwv, MM_SHAPE(2, 1)), from_f64(pwv, MM_SHAPE(3)),
            MM_LOSS_NONE, &y));
        CHECK_VALUES("bce logits weight pos_weight", y, bcel_none, 1e-12);
        /* a = [.5, -1, 2, .1, 3], b = [0, -.8, .5, .1, -1]:
         * F.mse_loss(a, b); F.l1_loss(a, b, reduction='sum');
         * F.smooth_l1_loss(a, b, reduction='none', beta=0.5);
         * F.smooth_l1_loss(a, b, beta=0.0); F.smooth_l1_loss(a, b) */
        const double av[] = {0.5, -1, 2, 0.1, 3},
                     bv[] = {0, -0.8, 0.5, 0.1, -1};
        mm_tensor *a = from_f64(av, MM_SHAPE(5)),
                  *b = from_f64(bv, MM_SHAPE(5));
        const double mse[] = {3.7079999999999997}, l1[] = {6.2};
        const double sl1_b05[] = {0.25, 0.03999999999999998, 1.25, 0, 3.75};
        const double sl1_b0[] = {1.24}, sl1[] = {0.9289999999999999};
        CHECK_OK(mm_mse_loss(a, b, MM_LOSS_MEAN, &y));
        CHECK_VALUES("mse", y, mse, 1e-12);
        CHECK_OK(mm_l1_loss(a, b, MM_LOSS_SUM, &y));
        CHECK_VALUES("l1", y, l1, 1e-12);
        CHECK_OK(mm_smooth_l1_loss(a, b, MM_LOSS_NONE, 0.5, &y));
        CHECK_VALUES("smooth_l1 beta 0.5", y, sl1_b05, 1e-12);
        CHECK_OK(mm_smooth_l1_loss(a, b, MM_LOSS_MEAN, 0, &y));
        CHECK_VALUES("smooth_l1 beta 0", y, sl1_b0, 1e-12);
        CHECK_OK(mm_smooth_l1_loss(a, b, MM_LOSS_MEAN, 1, &y));
        CHECK_VALUES("smooth_l1", y, sl1, 1e-12);
    });
}

/* The class-loss ops and their backward ops, applied directly. */
typedef struct opctx {
    mm_op_id id;
    int64_t ign, c;
    double ls;
} opctx;

static int f_op(void *vc, mm_tensor *const *in, int n, mm_tensor **out) {
    opctx *c = vc;
    mm_op_params p = {.i = {c->ign, c->c}, .f = {c->ls}};
    return mm_op_apply(mm_op_get(c->id), n, in, &p, out);
}

typedef struct shp {
    int n;
    int64_t s[4];
} shp;

MM_TEST(class_loss_kernels_match_reference) {
    static const shp cases[] = {{2, {5, 7}},       {2, {0, 3}},
                                {2, {300, 200}},   {4, {2, 3, 4, 5}},
                                {3, {3, 40, 700}}, {3, {2, 1, 3}}};
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int d = 0; d < 2; d++)
            for (int opt = 0; opt < 4; opt++) {
                POOLED({
                    const shp *s = &cases[k];
                    int64_t c = s->s[1], tshape[4];
                    tshape[0] = s->s[0];
                    for (int j = 2; j < s->n; j++)
                        tshape[j - 1] = s->s[j];
                    bool weighted = opt & 1;
                    double ls = opt & 2 ? 0.2 : 0;
                    int64_t ign = opt == 3 ? 0 : -100;
                    mm_tensor *x = randn_t(s->n, s->s, dts[d]);
                    mm_tensor *t = targets(s->n - 1, tshape, c, ign, 5);
                    mm_tensor *w = weighted
                                       ? uniform_t(MM_SHAPE(c), dts[d], 0.5, 2)
                                       : NULL;
                    mm_tensor *g = randn_t(s->n - 1, tshape, dts[d]);
                    char what[96];
                    snprintf(what, sizeof what, "case %zu %s opt %d", k,
                             mm_dtype_name(dts[d]), opt);
                    double tol = dts[d] == MM_F32 ? 1e-5 : 1e-12;
                    opctx oc = {MM_OP_CROSS_ENTROPY, ign, c, ls};
                    mm_tensor *in[4] = {x, t, w};
                    int n = weighted ? 3 : 2;
                    CHECK_VS_REFERENCE(what, f_op, &oc, in, n, tol, tol);
                    oc.id = MM_OP_NLL_LOSS;
                    CHECK_VS_REFERENCE(what, f_op, &oc, in, n, tol, tol);
                    in[0] = noncontig(x);
                    CHECK_VS_REFERENCE(what, f_op, &oc, in, n, tol, tol);
                    oc.id = MM_OP_CROSS_ENTROPY;
                    CHECK_VS_REFERENCE(what, f_op, &oc, in, n, tol, tol);
                    mm_tensor *lse = NULL;
                    int one = 1;
                    CHECK_OK(mm_to_dtype(x, MM_F64, &lse));
                    CHECK_OK(mm_logsumexp(lse, 1, &one, false, &lse));
                    mm_tensor *bin[5] = {g, x, t, lse, w};
                    oc.id = MM_OP_CROSS_ENTROPY_BACKWARD;
                    CHECK_VS_REFERENCE(what, f_op, &oc, bin, n + 2, tol, tol);
                    mm_tensor *nin[3] = {g, t, w};
                    oc.id = MM_OP_NLL_LOSS_BACKWARD;
                    CHECK_VS_REFERENCE(what, f_op, &oc, nin, n, tol, tol);
                });
            }
}

MM_TEST(pointwise_loss_kernels_match_reference) {
    static const shp cases[] = {
        {2, {5, 7}}, {1, {0}}, {2, {300, 200}}, {3, {2, 3, 4}}};
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int d = 0; d < 2; d++)
            for (int kind = K_BCE; kind <= K_SL1; kind++) {
                POOLED({
                    const shp *s = &cases[k];
                    bool prob = kind == K_BCE;
                    mm_tensor *x =
                        prob ? uniform_t(s->n, s->s, dts[d], 0.01, 0.99)
                             : randn_t(s->n, s->s, dts[d]);
                    mm_tensor *t = uniform_t(s->n, s->s, dts[d], 0, 1);
                    mm_tensor *in[3] = {noncontig(x), t, NULL};
                    lctx c = {.kind = kind, .red = MM_LOSS_NONE, .beta = 0.3};
                    double tol = dts[d] == MM_F32 ? 1e-5 : 1e-12;
                    char what[64];
                    snprintf(what, sizeof what, "pointwise %d case %zu %s",
                             kind, k, mm_dtype_name(dts[d]));
                    CHECK_VS_REFERENCE(what, f_loss, &c, in, 2, tol, tol);
                    if (kind == K_BCEL && s->n) {
                        in[2] = uniform_t(1, &s->s[s->n - 1], dts[d], 0.5, 3);
                        CHECK_VS_REFERENCE(what, f_loss, &c, in, 3, tol, tol);
                    }
                    /* the gradient op, for each input */
                    for (int which = 0; which < (kind == K_BCEL ? 3 : 2);
                         which++) {
                        mm_tensor *pw = NULL;
                        int n = 2;
                        if (kind == K_BCEL && which == 2) {
                            CHECK_OK(mm_ones_like(x, &pw));
                            n = 3;
                        }
                        mm_tensor *gin[3] = {x, t, pw};
                        /* K_BCE.. in the op's numbering */
                        static const int kinds[] = {3, 4, 0, 1, 2};
                        mm_op_params p = {.i = {kinds[kind - K_BCE], which},
                                          .f = {0.3}};
                        mm_tensor *fast, *ref;
                        const mm_op *op = mm_op_get(MM_OP_LOSS_POINTWISE_GRAD);
                        CHECK_OK(mm_op_apply(op, n, gin, &p, &fast));
                        bool prev = mm_ops_set_reference(true);
                        CHECK_OK(mm_op_apply(op, n, gin, &p, &ref));
                        mm_ops_set_reference(prev);
                        CHECK(mm_allclose(fast, ref, tol, tol, NULL));
                    }
                });
            }
}

MM_TEST(loss_gradcheck) {
    const mm_loss_reduction reds[] = {MM_LOSS_NONE, MM_LOSS_MEAN, MM_LOSS_SUM};
    for (int r = 0; r < 3; r++) {
        /* cross_entropy / nll_loss, indices: weight x label smoothing x
         * ignore, (N, C) and (N, C, d1, d2), unbatched */
        for (int opt = 0; opt < 8; opt++) {
            POOLED({
                bool spatial = opt & 4;
                mm_tensor *x = spatial ? randn_t(MM_SHAPE(2, 3, 2, 2), MM_F64)
                                       : randn_t(MM_SHAPE(4, 5), MM_F64);
                int64_t c = x->shape[1];
                int64_t ts[3] = {x->shape[0], 2, 2};
                lctx lc = {.kind = K_CE,
                           .red = reds[r],
                           .target = targets(x->ndim - 1, ts, c, -100, 3),
                           .weight =
                               opt & 1 ? uniform_t(MM_SHAPE(c), MM_F64, 0.5, 2)
                                       : NULL,
                           .ign = -100,
                           .ls = opt & 2 ? 0.3 : 0};
                mm_tensor *in[2] = {leaf(noncontig(x))};
                CHECK_GRAD(f_loss, &lc, in, 1);
                lc.kind = K_NLL;
                CHECK_GRAD(f_loss, &lc, in, 1);
                /* soft targets: differentiable in the target too */
                lc.kind = K_CE;
                in[1] = leaf(uniform_t(x->ndim, x->shape, MM_F64, 0, 1));
                CHECK_GRAD(f_loss, &lc, in, 2);
                mm_tensor *x1 = leaf(randn_t(MM_SHAPE(c), MM_F64));
                const int64_t k = 2;
                CHECK_OK(mm_from_data(&k, 0, NULL, MM_I64, &lc.target));
                CHECK_GRAD(f_loss, &lc, &x1, 1);
            });
        }
        /* binary and regression losses */
        POOLED({
            mm_tensor *p = leaf(uniform_t(MM_SHAPE(3, 4), MM_F64, 0.05, 0.95));
            mm_tensor *t = leaf(uniform_t(MM_SHAPE(3, 4), MM_F64, 0, 1));
            mm_tensor *w = leaf(uniform_t(MM_SHAPE(4), MM_F64, 0.5, 2));
            lctx lc = {.kind = K_BCE, .red = reds[r], .beta = 0.4};
            mm_tensor *in[3] = {p, t, w};
            CHECK_GRAD(f_loss, &lc, in, 2);
            CHECK_GRAD(f_loss, &lc, in, 3);
            lc.kind = K_BCEL;
            in[0] = leaf(noncontig(randn_t(MM_SHAPE(3, 4), MM_F64)));
            CHECK_GRAD(f_loss, &lc, in, 2);
            CHECK_GRAD(f_loss, &lc, in, 3); /* pos_weight */
            lc.weight = uniform_t(MM_SHAPE(3, 1), MM_F64, 0.5, 2);
            CHECK_GRAD(f_loss, &lc, in, 3);
            lc.weight = NULL;
            in[1] = leaf(randn_t(MM_SHAPE(3, 4), MM_F64));
            for (int kind = K_MSE; kind <= K_SL1; kind++) {
                lc.kind = kind;
                CHECK_GRAD(f_loss, &lc, in, 2);
                if (kind == K_SL1) {
                    lc.beta = 0; /* l1 */
                    CHECK_GRAD(f_loss, &lc, in, 2);
                    lc.beta = 3; /* everything quadratic */
                    CHECK_GRAD(f_loss, &lc, in, 2);
                }
            }
        });
    }
}

MM_TEST(cross_entropy_on_bf16_logits) {
    /* what a bf16 autocast head hands the loss: the reference kernels run */
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(6, 5), MM_F32)), *xb, *y, *y32;
        mm_tensor *t = targets(MM_SHAPE(6), 5, -100, 3);
        CHECK_OK(mm_to_dtype(x, MM_BF16, &xb));
        CHECK_OK(mm_cross_entropy(xb, t, NULL, -100, MM_LOSS_MEAN, 0.1, &y));
        CHECK_INT(y->dtype, MM_BF16);
        CHECK_OK(mm_cross_entropy(x, t, NULL, -100, MM_LOSS_MEAN, 0.1, &y32));
        CHECK(fabs(at(y, 0) - at(y32, 0)) < 3e-2 * (1 + fabs(at(y32, 0))));
        CHECK_OK(mm_backward(y));
        CHECK(mm_tensor_grad(x) && mm_tensor_grad(x)->dtype == MM_F32);
        mm_tensor_zero_grad(x);
    });
}

MM_TEST(losses_on_empty_inputs) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(0, 3), MM_F32), *y;
        mm_tensor *t = targets(MM_SHAPE(0), 3, -100, 0);
        CHECK_OK(mm_cross_entropy(x, t, NULL, -100, MM_LOSS_MEAN, 0, &y));
        CHECK(isnan(at(y, 0))); /* torch: nan */
        CHECK_OK(mm_cross_entropy(x, t, NULL, -100, MM_LOSS_SUM, 0.1, &y));
        CHECK(at(y, 0) == 0);
        CHECK_OK(mm_cross_entropy(x, t, NULL, -100, MM_LOSS_NONE, 0, &y));
        CHECK_INT(y->numel, 0);
        mm_tensor *e = randn_t(MM_SHAPE(0), MM_F32);
        CHECK_OK(mm_mse_loss(e, e, MM_LOSS_MEAN, &y));
        CHECK(isnan(at(y, 0)));
        CHECK_OK(mm_l1_loss(e, e, MM_LOSS_SUM, &y));
        CHECK(at(y, 0) == 0);
    });
}

MM_TEST(loss_errors) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(3, 4), MM_F32), *y;
        const int64_t bad[] = {0, 4, 1}, neg[] = {0, -1, 1};
        mm_tensor *tb, *tn, *t2, *tf, *w3, *wd, *xd;
        CHECK_OK(mm_from_data(bad, MM_SHAPE(3), MM_I64, &tb));
        CHECK_OK(mm_from_data(neg, MM_SHAPE(3), MM_I64, &tn));
        CHECK_OK(mm_from_data(bad, MM_SHAPE(2), MM_I64, &t2));
        CHECK_OK(mm_zeros(MM_SHAPE(3), MM_F32, &tf));
        CHECK_OK(mm_ones(MM_SHAPE(3), MM_F32, &w3));
        CHECK_OK(mm_ones(MM_SHAPE(4), MM_F64, &wd));
        CHECK_OK(mm_ones(MM_SHAPE(3, 4), MM_F64, &xd));
        CHECK_ERR(mm_cross_entropy(x, tb, NULL, -100, MM_LOSS_MEAN, 0, &y),
                  MM_EINVAL,
                  "cross_entropy: target 4 is out of bounds for 4 classes");
        CHECK_ERR(mm_nll_loss(x, tn, NULL, -100, MM_LOSS_MEAN, &y), MM_EINVAL,
                  "nll_loss: target -1 is out of bounds for 4 classes");
        CHECK_ERR(mm_cross_entropy(x, t2, NULL, -100, MM_LOSS_MEAN, 0, &y),
                  MM_EINVAL,
                  "cross_entropy: target has shape [2], expected [3]");
        CHECK_ERR(mm_cross_entropy(x, tf, NULL, -100, MM_LOSS_MEAN, 0, &y),
                  MM_EINVAL,
                  "cross_entropy: target probabilities have shape [3], "
                  "expected [3, 4]");
        CHECK_ERR(mm_nll_loss(x, tf, NULL, -100, MM_LOSS_MEAN, &y), MM_ETYPE,
                  "nll_loss: target must be i64 class indices, got f32");
        CHECK_ERR(mm_cross_entropy(x, tn, w3, 1, MM_LOSS_MEAN, 0, &y),
                  MM_EINVAL,
                  "cross_entropy: weight has shape [3], expected [4]");
        CHECK_ERR(
            mm_cross_entropy(x, tn, wd, -1, MM_LOSS_MEAN, 0, &y), MM_ETYPE,
            "cross_entropy: weight dtype f64 differs from input dtype f32");
        CHECK_ERR(mm_cross_entropy(x, tn, NULL, -1, MM_LOSS_MEAN, 1.5, &y),
                  MM_EINVAL,
                  "cross_entropy: label_smoothing must be in [0, 1], got 1.5");
        CHECK_ERR(
            mm_cross_entropy(x, tn, NULL, -1, (mm_loss_reduction)7, 0, &y),
            MM_EINVAL, "cross_entropy: unknown reduction 7");
        CHECK_ERR(mm_mse_loss(x, tf, MM_LOSS_MEAN, &y), MM_EINVAL,
                  "mse_loss: target shape [3] differs from input shape [3, 4]");
        CHECK_ERR(mm_l1_loss(x, xd, MM_LOSS_MEAN, &y), MM_ETYPE,
                  "l1_loss: target dtype f64 differs from input dtype f32");
        CHECK_ERR(mm_smooth_l1_loss(x, x, MM_LOSS_MEAN, -1, &y), MM_EINVAL,
                  "smooth_l1_loss: beta must be >= 0, got -1");
        CHECK_ERR(mm_binary_cross_entropy(x, x, NULL, MM_LOSS_MEAN, &y),
                  MM_EINVAL,
                  "binary_cross_entropy: all elements of input should be "
                  "between 0 and 1");
        CHECK_ERR(mm_mse_loss(NULL, x, MM_LOSS_MEAN, &y), MM_EINVAL,
                  "mse_loss: input is NULL");
    });
}

/* ---- autocast ------------------------------------------------------------ */

MM_TEST(autocast_nests_and_pops) {
    CHECK(!mm_autocast_enabled());
    CHECK_OK(mm_autocast_push(MM_BF16));
    CHECK(mm_autocast_enabled());
    CHECK_OK(mm_autocast_push(MM_F32));
    CHECK(!mm_autocast_enabled());
    CHECK_OK(mm_autocast_push(MM_BF16));
    CHECK_INT(mm_autocast_dtype(), MM_BF16);
    mm_autocast_pop();
    CHECK(!mm_autocast_enabled());
    mm_autocast_pop();
    CHECK(mm_autocast_enabled());
    mm_autocast_pop();
    CHECK(!mm_autocast_enabled());
    mm_autocast_pop(); /* nothing pushed: nothing happens */
    CHECK(!mm_autocast_enabled());
    CHECK_ERR(mm_autocast_push(MM_F16), MM_EINVAL,
              "autocast: dtype must be bf16 (or f32 for off), got f16");
}

typedef struct acctx {
    int which; /* 0 matmul, 1 linear, 2 conv1d, 3 conv2d, 4 conv3d, 5..7 convT
                */
} acctx;

static int f_ac(void *vc, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    acctx *c = vc;
    const int64_t pad[3] = {1, 1, 1}, st[3] = {2, 2, 2}, op[3] = {1, 1, 1};
    switch (c->which) {
    case 0:
        return mm_matmul(in[0], in[1], out);
    case 1:
        return mm_linear(in[0], in[1], in[2], out);
    case 2:
        return mm_conv1d(in[0], in[1], in[2], NULL, pad, NULL, 1, out);
    case 3:
        return mm_conv2d(in[0], in[1], in[2], NULL, pad, NULL, 1, out);
    case 4:
        return mm_conv3d(in[0], in[1], in[2], NULL, pad, NULL, 1, out);
    case 5:
        return mm_conv_transpose1d(in[0], in[1], in[2], st, pad, op, 1, NULL,
                                   out);
    case 6:
        return mm_conv_transpose2d(in[0], in[1], in[2], st, pad, op, 1, NULL,
                                   out);
    default:
        return mm_conv_transpose3d(in[0], in[1], in[2], st, pad, op, 1, NULL,
                                   out);
    }
}

static void ac_inputs(int which, mm_dtype dt, mm_tensor **in) {
    int nsp = which >= 5 ? which - 4 : which - 1;
    int64_t xs[5] = {2, 3, 5, 5, 5}, ws[5] = {4, 3, 3, 3, 3};
    if (which >= 5)
        ws[0] = 3, ws[1] = 4; /* [C_in, C_out] */
    if (which == 0) {
        in[0] = randn_t(MM_SHAPE(2, 7, 16), dt);
        in[1] = randn_t(MM_SHAPE(16, 5), dt);
        in[2] = NULL;
    } else if (which == 1) {
        in[0] = randn_t(MM_SHAPE(6, 16), dt);
        in[1] = randn_t(MM_SHAPE(5, 16), dt);
        in[2] = randn_t(MM_SHAPE(5), dt);
    } else {
        in[0] = randn_t(2 + nsp, xs, dt);
        in[1] = randn_t(2 + nsp, ws, dt);
        in[2] = randn_t(MM_SHAPE(4), dt);
    }
}

MM_TEST(autocast_runs_matmul_linear_and_convs_in_bf16) {
    for (int which = 0; which < 8; which++) {
        POOLED({
            mm_tensor *in[3];
            ac_inputs(which, MM_F32, in);
            for (int i = 0; i < 3; i++)
                if (in[i])
                    leaf(in[i]);
            acctx c = {which};
            int n = in[2] ? 3 : 2;
            mm_tensor *want, *got, *got32, *s;
            CHECK_OK(f_ac(&c, in, n, &want));
            CHECK_OK(mm_autocast_push(MM_BF16));
            CHECK_OK(f_ac(&c, in, n, &got));
            mm_autocast_pop();
            CHECK_INT(got->dtype, MM_BF16);
            CHECK_OK(mm_to_dtype(got, MM_F32, &got32));
            /* bf16 keeps 8 bits: relative error ~2^-8 per product */
            double err;
            if (!mm_allclose(got32, want, 3e-2, 6e-2, &err)) {
                fprintf(stderr, "autocast %d: max error %g\n", which, err);
                mm_test_failures++;
            }
            CHECK_OK(mm_sum(got32, 0, NULL, false, &s));
            CHECK_OK(mm_backward(s));
            for (int i = 0; i < n; i++) {
                mm_tensor *g = mm_tensor_grad(in[i]);
                CHECK(g != NULL);
                if (g)
                    CHECK_INT(g->dtype, MM_F32);
            }
            /* the gradient of the f32 run, within bf16 tolerance */
            mm_tensor *g16 = NULL;
            if (mm_tensor_grad(in[1]))
                CHECK_OK(mm_clone(mm_tensor_grad(in[1]), &g16));
            for (int i = 0; i < n; i++)
                mm_tensor_zero_grad(in[i]);
            CHECK_OK(mm_sum(want, 0, NULL, false, &s));
            CHECK_OK(mm_backward(s));
            if (g16 &&
                !mm_allclose(g16, mm_tensor_grad(in[1]), 3e-2, 1e-1, &err)) {
                fprintf(stderr, "autocast %d: weight grad error %g\n", which,
                        err);
                mm_test_failures++;
            }
            for (int i = 0; i < n; i++)
                mm_tensor_zero_grad(in[i]);
        });
    }
}

MM_TEST(backward_inside_autocast_keeps_the_forward_dtypes) {
    POOLED({
        mm_tensor *in[3], *y, *s, *g1;
        ac_inputs(1, MM_F32, in);
        for (int i = 0; i < 3; i++)
            leaf(in[i]);
        acctx c = {1};
        CHECK_OK(f_ac(&c, in, 3, &y)); /* f32 linear */
        CHECK_OK(mm_sum(y, 0, NULL, false, &s));
        CHECK_OK(mm_backward(s));
        CHECK_OK(mm_clone(mm_tensor_grad(in[1]), &g1));
        mm_tensor_zero_grad(in[0]);
        mm_tensor_zero_grad(in[1]);
        mm_tensor_zero_grad(in[2]);
        CHECK_OK(mm_autocast_push(MM_BF16));
        CHECK_OK(mm_backward(s));
        CHECK(mm_autocast_enabled());
        mm_autocast_pop();
        CHECK_INT(mm_tensor_grad(in[1])->dtype, MM_F32);
        CHECK(mm_allclose(mm_tensor_grad(in[1]), g1, 0, 0, NULL));
        for (int i = 0; i < 3; i++)
            mm_tensor_zero_grad(in[i]);
    });
}

MM_TEST(autocast_leaves_f64_alone) {
    for (int which = 0; which < 8; which++) {
        POOLED({
            mm_tensor *in[3], *y;
            ac_inputs(which, MM_F64, in);
            acctx c = {which};
            CHECK_OK(mm_autocast_push(MM_BF16));
            CHECK_OK(f_ac(&c, in, in[2] ? 3 : 2, &y));
            mm_autocast_pop();
            CHECK_INT(y->dtype, MM_F64);
        });
    }
}

MM_TEST_MAIN(MM_CASE(cross_entropy_and_nll_match_torch),
             MM_CASE(binary_and_regression_losses_match_torch),
             MM_CASE(class_loss_kernels_match_reference),
             MM_CASE(pointwise_loss_kernels_match_reference),
             MM_CASE(loss_gradcheck), MM_CASE(cross_entropy_on_bf16_logits),
             MM_CASE(losses_on_empty_inputs),
             MM_CASE(loss_errors), MM_CASE(autocast_nests_and_pops),
             MM_CASE(autocast_runs_matmul_linear_and_convs_in_bf16),
             MM_CASE(backward_inside_autocast_keeps_the_forward_dtypes),
             MM_CASE(autocast_leaves_f64_alone))
