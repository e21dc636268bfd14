/* batch_norm, instance_norm, layer_norm, group_norm: optimised kernels
 * against the reference on 2-D to 5-D inputs, non-contiguous and big ones;
 * running-stat updates and outputs against torch's numbers; float64
 * gradcheck of every variant; errors. */
#include "ops_testing.h"

enum { BN, IN, LN, GN };

typedef struct norm_ctx {
    int kind;
    bool training;
    mm_tensor *rm, *rv;         /* templates, cloned per call (may be NULL) */
    mm_tensor *rm_out, *rv_out; /* the clones the last call updated */
    int64_t groups;
} norm_ctx;

static int f_norm(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    norm_ctx *c = vctx;
    mm_tensor *x = in[0], *w = n > 1 ? in[1] : NULL, *b = n > 2 ? in[2] : NULL;
    mm_tensor *rm = NULL, *rv = NULL;
    if (c->rm && mm_clone(c->rm, &rm) < 0)
        return -1;
    if (c->rv && mm_clone(c->rv, &rv) < 0)
        return -1;
    c->rm_out = rm, c->rv_out = rv;
    switch (c->kind) {
    case BN:
        return mm_batch_norm(x, rm, rv, w, b, c->training, 0.1, 1e-5, out);
    case IN:
        return mm_instance_norm(x, rm, rv, w, b, c->training, 0.1, 1e-5, out);
    case LN:
        return mm_layer_norm(x, 2, x->shape + x->ndim - 2, w, b, 1e-5, out);
    default:
        return mm_group_norm(x, c->groups, w, b, 1e-5, out);
    }
}

/* The gradients of sum(y * y) with respect to x, w and b, concatenated:
 * checks the backward ops' kernels against their references. */
static int f_norm_grads(void *vctx, mm_tensor *const *in, int n,
                        mm_tensor **out) {
    mm_tensor *d[3], *y, *loss, *flat[3];
    for (int i = 0; i < n; i++)
        if (mm_detach(in[i], &d[i]) < 0 ||
            mm_tensor_set_requires_grad(d[i], true) < 0)
            return -1;
    if (f_norm(vctx, d, n, &y) < 0 || mm_mul(y, y, &y) < 0 ||
        mm_sum(y, 0, NULL, false, &loss) < 0 || mm_backward(loss) < 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (mm_reshape(d[i]->grad, 1, (int64_t[]){-1}, &flat[i]) < 0)
            return -1;
    return mm_cat(n, flat, 0, out);
}

typedef struct shp {
    int n;
    int64_t s[5];
} shp;

static const shp norm_cases[] = {
    {2, {6, 4}},          {3, {3, 4, 7}},      {4, {2, 4, 5, 3}},
    {5, {2, 4, 3, 2, 3}}, {4, {8, 4, 64, 33}}, {4, {2, 64, 17, 17}},
    {3, {200, 2, 3}},
};

/* The affine params for x's dim 1 (BN, IN, GN) or last two dims (LN). */
static void affine(int kind, const mm_tensor *x, mm_dtype dt, mm_tensor **w,
                   mm_tensor **b) {
    if (kind == LN) {
        *w = randn_t(2, x->shape + x->ndim - 2, dt);
        *b = randn_t(2, x->shape + x->ndim - 2, dt);
    } else {
        *w = randn_t(1, x->shape + 1, dt);
        *b = randn_t(1, x->shape + 1, dt);
    }
}

MM_TEST(norms_match_reference_on_all_ranks) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (size_t c = 0; c < sizeof norm_cases / sizeof norm_cases[0]; c++)
        for (int t = 0; t < 2; t++)
            for (int kind = BN; kind <= GN; kind++)
                for (int tr = 0; tr < 2; tr++) {
                    const shp *sc = &norm_cases[c];
                    if ((kind == LN || kind == GN) && tr == 0)
                        continue;
                    if (kind == IN && tr && sc->n == 2)
                        continue; /* one spatial element */
                    POOLED({
                        mm_tensor *x = randn_t(sc->n, sc->s, dts[t]);
                        mm_tensor *in[3] = {x};
                        affine(kind, x, dts[t], &in[1], &in[2]);
                        norm_ctx ctx = {kind, tr != 0, NULL, NULL,
                                        NULL, NULL,    2};
                        ctx.rm = randn_t(1, sc->s + 1, dts[t]);
                        ctx.rv = uniform_t(1, sc->s + 1, dts[t], 0.5, 2);
                        char what[80];
                        snprintf(what, sizeof what, "norm %d case %zu %s tr %d",
                                 kind, c, mm_dtype_name(dts[t]), tr);
                        CHECK_VS_REFERENCE(what, f_norm, &ctx, in, 3, 1e-4,
                                           1e-4);
                        CHECK_VS_REFERENCE(what, f_norm_grads, &ctx, in, 3,
                                           1e-4, 1e-3);
                        /* the running stats the two kernels updated */
                        mm_tensor *rm_fast = ctx.rm_out, *rv_fast = ctx.rv_out,
                                  *y;
                        (void)mm_ops_set_reference(true);
                        CHECK_OK(f_norm(&ctx, in, 3, &y));
                        (void)mm_ops_set_reference(false);
                        if (kind <= IN) {
                            CHECK(mm_allclose(rm_fast, ctx.rm_out, 1e-5, 1e-5,
                                              NULL));
                            CHECK(mm_allclose(rv_fast, ctx.rv_out, 1e-5, 1e-5,
                                              NULL));
                        }
                        mm_tensor *nc = noncontig(x);
                        CHECK_VS_REFERENCE(what, f_norm, &ctx, &nc, 1, 1e-4,
                                           1e-4);
                    });
                }
}

/* x[i] = sin(0.37 i) * 2 + 0.5, shape (2, 3, 2, 2), as the torch script:
 *   x = (torch.arange(24, dtype=torch.float64).reshape(2, 3, 2, 2) * 0.37)
 *         .sin() * 2 + 0.5
 *   rm = [0.1, -0.2, 0.3], rv = [1.0, 0.5, 2.0]
 *   w = [1.5, -0.5, 2.0], b = [0.1, 0.2, -0.3] */
static void torch_inputs(mm_tensor **x, mm_tensor **rm, mm_tensor **rv,
                         mm_tensor **w, mm_tensor **b) {
    double xv[24];
    for (int i = 0; i < 24; i++)
        xv[i] = sin(i * 0.37) * 2 + 0.5;
    CHECK_OK(mm_from_data(xv, MM_SHAPE(2, 3, 2, 2), MM_F64, x));
    CHECK_OK(mm_from_data((double[]){0.1, -0.2, 0.3}, MM_SHAPE(3), MM_F64, rm));
    CHECK_OK(mm_from_data((double[]){1.0, 0.5, 2.0}, MM_SHAPE(3), MM_F64, rv));
    CHECK_OK(mm_from_data((double[]){1.5, -0.5, 2.0}, MM_SHAPE(3), MM_F64, w));
    CHECK_OK(mm_from_data((double[]){0.1, 0.2, -0.3}, MM_SHAPE(3), MM_F64, b));
}

static void check_vals(const mm_tensor *t, const double *want, int n) {
    for (int i = 0; i < n; i++)
        if (!(fabs(at(t, i) - want[i]) < 1e-9)) {
            fprintf(stderr, "  element %d: got %.12g, want %.12g\n", i,
                    at(t, i), want[i]);
            mm_test_failures++;
        }
}

MM_TEST(batch_norm_updates_running_stats_like_torch) {
    for (int ref = 0; ref < 2; ref++) {
        bool prev = mm_ops_set_reference(ref);
        POOLED({
            mm_tensor *x, *rm, *rv, *w, *b, *y;
            torch_inputs(&x, &rm, &rv, &w, &b);
            /* F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5) */
            CHECK_OK(mm_batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5, &y));
            check_vals(rm,
                       (double[]){0.1002835934056545, -0.03058519739399429,
                                  0.37774460989051595},
                       3);
            check_vals(rv,
                       (double[]){1.1420030182719063, 0.5397947645438255,
                                  2.00980461284264},
                       3);
            check_vals(y,
                       (double[]){0.5093980444920532, 1.254906832417907,
                                  1.8995145032378196, 2.3559764326976014,
                                  -0.3627300335800676, -0.32368960227807914},
                       6);
            /* then F.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5) */
            CHECK_OK(mm_batch_norm(x, rm, rv, w, b, false, 0.1, 1e-5, &y));
            check_vals(y,
                       (double[]){0.6610579315022383, 1.676213691488099,
                                  2.5539728816708256, 3.1755349134136943,
                                  -1.5165500088566912, -1.4694491801411957},
                       6);
        });
        mm_ops_set_reference(prev);
    }
}

MM_TEST(batch_norm_gradients_match_torch) {
    for (int ref = 0; ref < 2; ref++) {
        bool prev = mm_ops_set_reference(ref);
        POOLED({
            mm_tensor *x, *rm, *rv, *w, *b, *y, *c;
            torch_inputs(&x, &rm, &rv, &w, &b);
            leaf(x), leaf(w), leaf(b);
            /* y = F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5);
             * (y * torch.arange(24.).reshape(2, 3, 2, 2).cos()).sum()
             *   .backward() */
            double cv[24];
            for (int i = 0; i < 24; i++)
                cv[i] = cos(i);
            CHECK_OK(mm_from_data(cv, MM_SHAPE(2, 3, 2, 2), MM_F64, &c));
            CHECK_OK(mm_batch_norm(x, NULL, NULL, w, b, true, 0.1, 1e-5, &y));
            CHECK_OK(mm_backward_with_grad(y, c));
            check_vals(x->grad,
                       (double[]){0.967249809383167, 0.6738914697743211,
                                  -0.15594969141264414, -0.6369549934480753,
                                  0.7004466522250404, 0.1573304917071581},
                       6);
            check_vals(w->grad,
                       (double[]){-2.8185701790381406, 2.6163828052756797,
                                  0.07927637891795764},
                       3);
            check_vals(b->grad,
                       (double[]){1.2625130182522528, 1.7602896136490527,
                                  -3.5637171719206036},
                       3);
        });
        mm_ops_set_reference(prev);
    }
}

MM_TEST(instance_group_layer_norm_match_torch) {
    POOLED({
        mm_tensor *x, *rm, *rv, *w, *b, *y, *x6;
        torch_inputs(&x, &rm, &rv, &w, &b);
        /* F.instance_norm(x, rm, rv, w, b, True, 0.1, 1e-5) */
        CHECK_OK(mm_instance_norm(x, rm, rv, w, b, true, 0.1, 1e-5, &y));
        check_vals(rm,
                   (double[]){0.10028359340565449, -0.030585197393994283,
                              0.37774460989051595},
                   3);
        check_vals(rv,
                   (double[]){0.9346470131998195, 0.4993361456631988,
                              1.8377543784765082},
                   3);
        check_vals(y,
                   (double[]){-2.0478291564037128, -0.4394478099166629,
                              0.9512466665813482, 1.9360302997390284,
                              -0.27317845454794426, -0.1803723923789295},
                   6);
        /* F.group_norm(x.reshape(1, 6, 2, 2), 3, None, None, 1e-5) */
        CHECK_OK(mm_reshape(x, 4, (int64_t[]){1, 6, 2, 2}, &x6));
        CHECK_OK(mm_group_norm(x6, 3, NULL, NULL, 1e-5, &y));
        check_vals(y,
                   (double[]){-2.033291047328469, -0.904141506246564,
                              0.07218294152985928, 0.7635413621392956,
                              1.0763616366612228, 0.968305008445347},
                   6);
        /* F.layer_norm(x, (2, 2), None, None, 1e-5) */
        CHECK_OK(mm_layer_norm(x, 2, (int64_t[]){2, 2}, NULL, NULL, 1e-5, &y));
        check_vals(y,
                   (double[]){-1.4318861042691413, -0.35963187327777485,
                              0.5674977777208989, 1.224020199826019,
                              0.946356909095888, 0.7607447847578584},
                   6);
    });
}

MM_TEST(norm_gradcheck) {
    const shp gshapes[] = {
        {2, {5, 2}}, {3, {2, 2, 3}}, {4, {2, 2, 2, 3}}, {5, {2, 2, 1, 2, 2}}};
    for (int kind = BN; kind <= GN; kind++)
        for (size_t s = 0; s < 4; s++)
            for (int tr = 0; tr < 2; tr++)
                for (int n = 1; n <= 3; n++) {
                    if ((kind == LN || kind == GN) && tr == 0)
                        continue;
                    if (kind == IN && tr && s == 0)
                        continue; /* one spatial element */
                    POOLED({
                        const shp *sc = &gshapes[s];
                        mm_tensor *x = leaf(randn_t(sc->n, sc->s, MM_F64));
                        mm_tensor *in[3] = {x};
                        affine(kind, x, MM_F64, &in[1], &in[2]);
                        leaf(in[1]), leaf(in[2]);
                        norm_ctx ctx = {kind, tr != 0, NULL,         NULL,
                                        NULL, NULL,    s % 2 ? 1 : 2};
                        if (!tr) {
                            ctx.rm = randn_t(1, sc->s + 1, MM_F64);
                            ctx.rv = uniform_t(1, sc->s + 1, MM_F64, 0.5, 2);
                        }
                        CHECK_GRAD(f_norm, &ctx, in, n);
                        if (kind == LN) {
                            mm_tensor *nc[3] = {
                                leaf(noncontig(randn_t(sc->n, sc->s, MM_F64))),
                                in[1], in[2]};
                            CHECK_GRAD(f_norm, &ctx, nc, 3);
                        }
                    });
                }
}

MM_TEST(norms_of_empty_inputs_are_empty_and_keep_running_stats) {
    POOLED({
        mm_tensor *x, *x3, *rm, *rv, *y;
        CHECK_OK(mm_zeros(MM_SHAPE(0, 3), MM_F32, &x));
        CHECK_OK(mm_zeros(MM_SHAPE(0, 4, 2), MM_F32, &x3));
        CHECK_OK(mm_zeros(MM_SHAPE(3), MM_F32, &rm));
        CHECK_OK(mm_ones(MM_SHAPE(3), MM_F32, &rv));
        /* F.batch_norm(torch.empty(0, 3), rm, rv, training=True): empty,
         * running stats unchanged */
        CHECK_OK(mm_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5, &y));
        CHECK(y->numel == 0 && y->ndim == 2);
        CHECK(at(rm, 0) == 0 && at(rv, 2) == 1);
        CHECK_OK(mm_layer_norm(x, 1, (int64_t[]){3}, NULL, NULL, 1e-5, &y));
        CHECK(y->numel == 0);
        CHECK_OK(mm_group_norm(x3, 2, NULL, NULL, 1e-5, &y));
        CHECK(y->numel == 0 && y->ndim == 3);
    });
}

/* The op-level pieces: normalize(x, moments(x)) with the gradient flowing
 * through the stats, and normalize_affine with stats that require grad. */
static int f_pieces(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)vctx;
    mm_tensor *stats;
    mm_op_params p = {.f = {1e-5}};
    if (n == 1) {
        if (mm_op_apply(mm_op_get(MM_OP_MOMENTS), 1, in, NULL, &stats) < 0)
            return -1;
        return mm_op_apply(mm_op_get(MM_OP_NORMALIZE), 2,
                           (mm_tensor *[]){in[0], stats}, &p, out);
    }
    return mm_op_apply(mm_op_get(MM_OP_NORMALIZE_AFFINE), 4, in, &p, out);
}

MM_TEST(moments_and_normalize_gradcheck) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(3, 2, 4), MM_F64));
        CHECK_GRAD(f_pieces, NULL, &x, 1);
        mm_tensor *stats = uniform_t(MM_SHAPE(2, 2), MM_F64, 0.5, 1.5);
        mm_tensor *in[4] = {x, leaf(stats),
                            leaf(randn_t(MM_SHAPE(2), MM_F64)),
                            leaf(randn_t(MM_SHAPE(2), MM_F64))};
        CHECK_GRAD(f_pieces, NULL, in, 4);
        CHECK_VS_REFERENCE("moments+normalize", f_pieces, NULL, &x, 1, 1e-9,
                           1e-9);
    });
}

MM_TEST(norm_errors) {
    POOLED({
        mm_tensor *x, *x1, *v, *y, *i;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 6, 3), MM_F32, &x));
        CHECK_OK(mm_zeros(MM_SHAPE(1, 4), MM_F32, &x1));
        CHECK_OK(mm_zeros(MM_SHAPE(4), MM_F32, &v));
        CHECK_OK(mm_zeros(MM_SHAPE(2, 6), MM_I64, &i));
        CHECK_ERR(mm_batch_norm(x, v, NULL, NULL, NULL, true, 0.1, 1e-5, &y),
                  MM_EINVAL,
                  "batch_norm: running_mean has shape [4], expected [6]");
        CHECK_ERR(
            mm_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5, &y),
            MM_EINVAL,
            "batch_norm: running_mean and running_var are needed in "
            "evaluation mode");
        CHECK_ERR(
            mm_batch_norm(x1, NULL, NULL, NULL, NULL, true, 0.1, 1e-5, &y),
            MM_EINVAL,
            "batch_norm: expected more than 1 value per channel when "
            "training, got input size [1, 4]");
        CHECK_ERR(mm_batch_norm(i, NULL, NULL, NULL, NULL, true, 0.1, 1e-5, &y),
                  MM_ETYPE,
                  "batch_norm: expected a floating-point tensor, got i64");
        CHECK_ERR(mm_batch_norm(x, v, NULL, NULL, NULL, true, NAN, 1e-5, &y),
                  MM_EINVAL,
                  "batch_norm: momentum nan is not a number (a cumulative "
                  "average passes 1 / batches seen)");
        CHECK_ERR(mm_group_norm(x, 4, NULL, NULL, 1e-5, &y), MM_EINVAL,
                  "group_norm: 6 channels cannot be split into 4 groups");
        CHECK_ERR(mm_layer_norm(x, 1, (int64_t[]){6}, NULL, NULL, 1e-5, &y),
                  MM_EINVAL,
                  "layer_norm: normalized_shape [6] does not end input shape "
                  "[2, 6, 3]");
        CHECK_ERR(mm_layer_norm(x, 1, (int64_t[]){3}, v, NULL, 1e-5, &y),
                  MM_EINVAL, "layer_norm: weight has shape [4], expected [3]");
        CHECK_ERR(
            mm_instance_norm(x1, NULL, NULL, NULL, NULL, true, 0.1, 1e-5, &y),
            MM_EINVAL,
            "instance_norm: expected more than 1 spatial element when "
            "training, got input size [1, 4]");
    });
}

/* ---- channels-last inputs ------------------------------------------------ */

/* x copied to channels-last; the result is a fresh tensor (a leaf). */
static mm_tensor *chlast(mm_tensor *x) {
    mm_tensor *y;
    if (mm_to_memory_format(x, MM_FORMAT_CHANNELS_LAST, &y) < 0)
        abort();
    return y;
}

/* Stored channels-last and not also contiguous. */
static bool only_chlast(const mm_tensor *t) {
    return mm_tensor_is_channels_last(t) && !mm_tensor_is_contiguous(t);
}

/* One norm call on leaves x, w, b with output gradient gy: y and the three
 * gradients, and the running stats it updated (in ctx). */
typedef struct norm_run {
    mm_tensor *y, *gx, *gw, *gb;
} norm_run;

static void run_norm(norm_ctx *ctx, mm_tensor *x, mm_tensor *w, mm_tensor *b,
                     mm_tensor *gy, norm_run *r) {
    mm_tensor *in[3] = {leaf(x), leaf(w), leaf(b)};
    CHECK_OK(f_norm(ctx, in, 3, &r->y));
    CHECK_OK(mm_backward_with_grad(r->y, gy));
    r->gx = mm_tensor_grad(x), r->gw = mm_tensor_grad(w);
    r->gb = mm_tensor_grad(b);
}

static void check_close(const char *what, const mm_tensor *a,
                        const mm_tensor *b, double tol) {
    double err = 0;
    if (!a || !b || !mm_allclose(a, b, tol, tol, &err)) {
        fprintf(stderr, "  %s: channels-last and contiguous differ (%g)\n",
                what, err);
        mm_test_failures++;
    }
}

static const shp cl_cases[] = {
    {3, {3, 4, 5}},     {4, {2, 5, 3, 4}},   {5, {2, 3, 2, 3, 2}},
    {4, {3, 7, 1, 5}},  {4, {8, 64, 28, 28}}, {4, {4, 256, 14, 14}},
};

/* The same batch norm on x and on x in channels-last: equal outputs,
 * running stats and gradients, the output and the input's gradient
 * channels-last (an output gradient in either layout). */
MM_TEST(batch_norm_keeps_channels_last_and_matches_contiguous) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (size_t c = 0; c < sizeof cl_cases / sizeof cl_cases[0]; c++)
        for (int t = 0; t < 2; t++)
            for (int tr = 0; tr < 2; tr++)
                POOLED({
                    const shp *sc = &cl_cases[c];
                    double tol = dts[t] == MM_F32 ? 1e-5 : 1e-10;
                    mm_tensor *x = randn_t(sc->n, sc->s, dts[t]);
                    mm_tensor *gy = randn_t(sc->n, sc->s, dts[t]), *w, *b,
                              *w2, *b2, *x2;
                    affine(BN, x, dts[t], &w, &b);
                    CHECK_OK(mm_clone(w, &w2));
                    CHECK_OK(mm_clone(b, &b2));
                    norm_ctx ctx = {BN, tr != 0, NULL, NULL, NULL, NULL, 1};
                    ctx.rm = randn_t(1, sc->s + 1, dts[t]);
                    ctx.rv = uniform_t(1, sc->s + 1, dts[t], 0.5, 2);
                    norm_run rc, rl;
                    CHECK_OK(mm_clone(x, &x2));
                    run_norm(&ctx, x2, w, b, gy, &rc);
                    mm_tensor *rm = ctx.rm_out, *rv = ctx.rv_out;
                    /* odd cases take the output gradient contiguous */
                    run_norm(&ctx, chlast(x), w2, b2, c % 2 ? gy : chlast(gy),
                             &rl);
                    CHECK(only_chlast(rl.y) || sc->s[1] == 1);
                    CHECK(only_chlast(rl.gx));
                    check_close("y", rl.y, rc.y, tol);
                    check_close("grad x", rl.gx, rc.gx, tol);
                    check_close("grad weight", rl.gw, rc.gw, tol * 10);
                    check_close("grad bias", rl.gb, rc.gb, tol * 10);
                    check_close("running_mean", ctx.rm_out, rm, tol / 10);
                    check_close("running_var", ctx.rv_out, rv, tol / 10);
                });
}

/* Gradients of batch norm (train and eval) at a channels-last input. */
MM_TEST(batch_norm_channels_last_gradcheck) {
    const shp gshapes[] = {{3, {3, 2, 3}}, {4, {2, 3, 2, 3}},
                           {5, {2, 2, 2, 1, 3}}};
    for (size_t s = 0; s < 3; s++)
        for (int tr = 0; tr < 2; tr++)
            POOLED({
                const shp *sc = &gshapes[s];
                mm_tensor *x = leaf(chlast(randn_t(sc->n, sc->s, MM_F64)));
                CHECK(only_chlast(x));
                mm_tensor *in[3] = {x};
                affine(BN, x, MM_F64, &in[1], &in[2]);
                leaf(in[1]), leaf(in[2]);
                norm_ctx ctx = {BN, tr != 0, NULL, NULL, NULL, NULL, 1};
                ctx.rm = randn_t(1, sc->s + 1, MM_F64);
                ctx.rv = uniform_t(1, sc->s + 1, MM_F64, 0.5, 2);
                CHECK_GRAD(f_norm, &ctx, in, 3);
                CHECK_GRAD(f_norm, &ctx, in, 1);
            });
}

/* The row kernels against the reference kernels (which read through the
 * strides), forward and backward, f32 and f64, and bf16 (the reference
 * alone) against f32. */
MM_TEST(batch_norm_channels_last_matches_reference) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    const shp cases[] = {{4, {2, 5, 3, 4}}, {4, {4, 64, 9, 7}},
                         {5, {2, 3, 2, 3, 2}}};
    for (size_t c = 0; c < 3; c++)
        for (int t = 0; t < 2; t++)
            for (int tr = 0; tr < 2; tr++)
                POOLED({
                    const shp *sc = &cases[c];
                    mm_tensor *x = chlast(randn_t(sc->n, sc->s, dts[t]));
                    mm_tensor *in[3] = {x};
                    affine(BN, x, dts[t], &in[1], &in[2]);
                    norm_ctx ctx = {BN, tr != 0, NULL, NULL, NULL, NULL, 1};
                    ctx.rm = randn_t(1, sc->s + 1, dts[t]);
                    ctx.rv = uniform_t(1, sc->s + 1, dts[t], 0.5, 2);
                    CHECK_VS_REFERENCE("batch_norm channels-last", f_norm,
                                       &ctx, in, 3, 1e-4, 1e-4);
                    CHECK_VS_REFERENCE("batch_norm channels-last grads",
                                       f_norm_grads, &ctx, in, 3, 1e-4, 1e-3);
                });
    POOLED({
        mm_tensor *x = chlast(randn_t(MM_SHAPE(4, 8, 5, 5), MM_F32)), *xb,
                  *y, *yb;
        norm_ctx ctx = {BN, true, NULL, NULL, NULL, NULL, 1};
        CHECK_OK(mm_to_dtype(x, MM_BF16, &xb));
        xb = chlast(xb);
        CHECK_OK(f_norm(&ctx, &x, 1, &y));
        CHECK_OK(f_norm(&ctx, &xb, 1, &yb));
        CHECK(only_chlast(yb));
        CHECK(mm_allclose(yb, y, 0.05, 0.05, NULL));
    });
}

/* The gradient ops called with g and x in different layouts: the kernels
 * agree with the reference. */
static int f_grad_ops(void *vctx, mm_tensor *const *in, int n,
                      mm_tensor **out) {
    (void)vctx, (void)n;
    mm_op_params p = {.f = {1e-5}};
    mm_tensor *stats, *sums, *gx, *flat[2];
    if (mm_op_apply(mm_op_get(MM_OP_MOMENTS), 1, &in[1], NULL, &stats) < 0 ||
        mm_op_apply(mm_op_get(MM_OP_NORM_GRAD_SUMS), 3,
                    (mm_tensor *[]){in[0], in[1], stats}, &p, &sums) < 0 ||
        mm_op_apply(mm_op_get(MM_OP_NORM_GRAD_INPUT), 5,
                    (mm_tensor *[]){in[0], in[1], stats, in[2], sums}, &p,
                    &gx) < 0 ||
        mm_reshape(sums, 1, (int64_t[]){-1}, &flat[0]) < 0 ||
        mm_reshape(gx, 1, (int64_t[]){-1}, &flat[1]) < 0)
        return -1;
    return mm_cat(2, flat, 0, out);
}

MM_TEST(norm_grad_ops_take_mixed_layouts) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(4, 6, 33), MM_F32);
        mm_tensor *g = randn_t(MM_SHAPE(4, 6, 33), MM_F32);
        mm_tensor *w = randn_t(MM_SHAPE(6), MM_F32);
        for (int k = 0; k < 3; k++) {
            mm_tensor *in[3] = {k & 1 ? chlast(g) : g, k ? chlast(x) : x, w};
            CHECK_VS_REFERENCE("norm grad ops", f_grad_ops, NULL, in, 3, 1e-4,
                               1e-4);
        }
    });
}

/* instance, layer and group norm on a channels-last input (made contiguous
 * by the reshape into their (A, C, B) views): the contiguous results. */
MM_TEST(other_norms_are_correct_on_channels_last_input) {
    for (int kind = IN; kind <= GN; kind++)
        for (int tr = 0; tr < 2; tr++) {
            if (kind != IN && !tr)
                continue;
            POOLED({
                const int64_t s[4] = {2, 4, 5, 3};
                mm_tensor *x = randn_t(4, s, MM_F64);
                mm_tensor *gy = randn_t(4, s, MM_F64), *w, *b, *w2, *b2, *x2;
                affine(kind, x, MM_F64, &w, &b);
                CHECK_OK(mm_clone(w, &w2));
                CHECK_OK(mm_clone(b, &b2));
                norm_ctx ctx = {kind, tr != 0, NULL, NULL, NULL, NULL, 2};
                ctx.rm = randn_t(1, s + 1, MM_F64);
                ctx.rv = uniform_t(1, s + 1, MM_F64, 0.5, 2);
                norm_run rc, rl;
                CHECK_OK(mm_clone(x, &x2));
                run_norm(&ctx, x2, w, b, gy, &rc);
                mm_tensor *rm = ctx.rm_out;
                run_norm(&ctx, chlast(x), w2, b2, chlast(gy), &rl);
                check_close("y", rl.y, rc.y, 1e-10);
                check_close("grad x", rl.gx, rc.gx, 1e-10);
                check_close("grad weight", rl.gw, rc.gw, 1e-10);
                check_close("grad bias", rl.gb, rc.gb, 1e-10);
                if (kind == IN)
                    check_close("running_mean", ctx.rm_out, rm, 1e-12);
            });
        }
}

MM_TEST_MAIN(MM_CASE(norms_match_reference_on_all_ranks),
             MM_CASE(batch_norm_updates_running_stats_like_torch),
             MM_CASE(batch_norm_gradients_match_torch),
             MM_CASE(instance_group_layer_norm_match_torch),
             MM_CASE(norm_gradcheck),
             MM_CASE(norms_of_empty_inputs_are_empty_and_keep_running_stats),
             MM_CASE(moments_and_normalize_gradcheck), MM_CASE(norm_errors),
             MM_CASE(batch_norm_keeps_channels_last_and_matches_contiguous),
             MM_CASE(batch_norm_channels_last_gradcheck),
             MM_CASE(batch_norm_channels_last_matches_reference),
             MM_CASE(norm_grad_ops_take_mixed_layouts),
             MM_CASE(other_norms_are_correct_on_channels_last_input))
