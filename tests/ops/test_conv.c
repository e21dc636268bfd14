/* Convolutions: conv1d/2d/3d and conv_transpose1d/2d/3d against their
 * reference kernels (oneDNN for f32, OpenMP loops for f64) on ResNet-like
 * shapes (stride 2, padding, dilation 2, groups 2, depthwise), the
 * gradients (oneDNN backward-data and backward-weights) against the
 * reference, float64 gradcheck of every variant, torch's numbers for small
 * cases, and the error messages. */
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

typedef struct conv_case {
    bool transposed;
    int nsp;
    int64_t x[5], w[5];
    int64_t stride[3], pad[3], dil[3], outpad[3];
    int64_t groups;
    bool bias;
} conv_case;

static int f_conv(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    const conv_case *c = vctx;
    mm_tensor *b = n == 3 ? in[2] : NULL;
    if (!c->transposed) {
        switch (c->nsp) {
        case 1:
            return mm_conv1d(in[0], in[1], b, c->stride, c->pad, c->dil,
                             c->groups, out);
        case 2:
            return mm_conv2d(in[0], in[1], b, c->stride, c->pad, c->dil,
                             c->groups, out);
        default:
            return mm_conv3d(in[0], in[1], b, c->stride, c->pad, c->dil,
                             c->groups, out);
        }
    }
    switch (c->nsp) {
    case 1:
        return mm_conv_transpose1d(in[0], in[1], b, c->stride, c->pad,
                                   c->outpad, c->groups, c->dil, out);
    case 2:
        return mm_conv_transpose2d(in[0], in[1], b, c->stride, c->pad,
                                   c->outpad, c->groups, c->dil, out);
    default:
        return mm_conv_transpose3d(in[0], in[1], b, c->stride, c->pad,
                                   c->outpad, c->groups, c->dil, out);
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

/* The gradients of sum(conv(x, w, b) * r) for a fixed random r, flattened
 * and joined: runs the backward kernels (backward-data, backward-weights,
 * the bias sum). */
static int f_conv_grads(void *vctx, mm_tensor *const *in, int n,
                        mm_tensor **out) {
    mm_tensor *leaves[3], *y, *r, *loss, *flat[3];
    for (int i = 0; i < n; i++) {
        MM_TRY(mm_clone(in[i], &leaves[i]));
        MM_TRY(mm_tensor_set_requires_grad(leaves[i], true));
    }
    MM_TRY(f_conv(vctx, leaves, n, &y));
    MM_TRY(cos_weights(y, &r));
    MM_TRY(mm_mul(y, r, &loss));
    MM_TRY(mm_sum(loss, 0, NULL, false, &loss));
    MM_TRY(mm_backward(loss));
    for (int i = 0; i < n; i++)
        MM_TRY(mm_flatten(mm_tensor_grad(leaves[i]), 0, -1, &flat[i]));
    return mm_cat(n, flat, 0, out);
}

static mm_tensor *make_input(const conv_case *c, int which, mm_dtype dt) {
    const int64_t *shape = which == 0 ? c->x : c->w;
    return randn_t(c->nsp + 2, shape, dt);
}

static mm_tensor *make_bias(const conv_case *c, mm_dtype dt) {
    int64_t ch = c->transposed ? c->w[1] * c->groups : c->w[0];
    return randn_t(MM_SHAPE(ch), dt);
}

/* clang-format off */
/* ResNet-like and edge cases; outputs checked fast vs reference. */
static const conv_case conv_cases[] = {
    /* 3x3 stride 2 padding 1, bias */
    {false, 2, {2, 4, 9, 9}, {8, 4, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {0}, 1, true},
    /* 1x1 stride 2 downsample on an even size (oneDNN's right padding < 0) */
    {false, 2, {2, 4, 8, 8}, {8, 4, 1, 1}, {2, 2}, {0, 0}, {1, 1}, {0}, 1, false},
    /* dilation 2 */
    {false, 2, {1, 3, 10, 10}, {4, 3, 3, 3}, {1, 1}, {2, 2}, {2, 2}, {0}, 1, true},
    /* groups 2 */
    {false, 2, {2, 4, 7, 7}, {6, 2, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {0}, 2, true},
    /* depthwise, stride 2 */
    {false, 2, {2, 6, 8, 8}, {6, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {0}, 6, false},
    /* depthwise with a multiplier */
    {false, 2, {1, 3, 6, 6}, {6, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {0}, 3, true},
    /* mixed strides, padding and dilation per dim */
    {false, 2, {1, 2, 7, 9}, {3, 2, 2, 3}, {2, 1}, {0, 1}, {1, 2}, {0}, 1, true},
    /* big enough for threads */
    {false, 2, {4, 16, 16, 16}, {32, 16, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {0}, 1, true},
    /* big depthwise, big transposed: oneDNN's blocked layouts */
    {false, 2, {2, 64, 32, 32}, {64, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, {0}, 64, true},
    {true, 2, {2, 32, 12, 12}, {32, 16, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, true},
    /* 1-D */
    {false, 1, {2, 3, 20}, {5, 3, 4}, {2}, {1}, {2}, {0}, 1, true},
    {false, 1, {2, 4, 11}, {4, 1, 3}, {1}, {1}, {1}, {0}, 4, false},
    /* 3-D */
    {false, 3, {1, 2, 5, 6, 7}, {4, 2, 3, 3, 3}, {1, 2, 2}, {1, 1, 1}, {1, 1, 1}, {0}, 1, true},
    {false, 3, {2, 4, 6, 6, 6}, {4, 2, 2, 3, 3}, {2, 1, 1}, {0, 2, 1}, {1, 2, 1}, {0}, 2, false},
    /* transposed: output_padding, groups, dilation */
    {true, 2, {2, 4, 5, 5}, {4, 3, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, true},
    {true, 2, {2, 4, 4, 5}, {4, 2, 3, 3}, {2, 1}, {0, 1}, {1, 1}, {1, 0}, 2, false},
    {true, 2, {1, 3, 4, 4}, {3, 2, 3, 3}, {1, 2}, {2, 1}, {2, 2}, {1, 1}, 1, true},
    {true, 2, {2, 4, 6, 6}, {4, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {0, 1}, 4, true},
    {true, 1, {2, 3, 7}, {3, 2, 4}, {3}, {1}, {1}, {2}, 1, true},
    {true, 3, {1, 2, 3, 3, 3}, {2, 3, 3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 0, 1}, 1, true},
    /* empty batch */
    {false, 2, {0, 4, 9, 9}, {8, 4, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {0}, 1, true},
};
/* clang-format on */
enum { N_CASES = sizeof conv_cases / sizeof conv_cases[0] };

MM_TEST(conv_matches_reference_f32_and_f64) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int c = 0; c < N_CASES; c++)
        for (int t = 0; t < 2; t++)
            for (int nc = 0; nc < 2; nc++)
                POOLED({
                    const conv_case *cc = &conv_cases[c];
                    mm_tensor *in[3] = {make_input(cc, 0, dtypes[t]),
                                        make_input(cc, 1, dtypes[t]),
                                        make_bias(cc, dtypes[t])};
                    if (nc) {
                        in[0] = noncontig(in[0]);
                        in[1] = noncontig(in[1]);
                    }
                    char what[64];
                    snprintf(what, sizeof what, "conv case %d %s%s", c,
                             mm_dtype_name(dtypes[t]),
                             nc ? " non-contiguous" : "");
                    CHECK_VS_REFERENCE(what, f_conv, (void *)cc, in,
                                       cc->bias ? 3 : 2, 1e-4, 1e-4);
                });
}

MM_TEST(conv_gradients_match_reference_f32_and_f64) {
    const mm_dtype dtypes[] = {MM_F32, MM_F64};
    for (int c = 0; c < N_CASES; c++)
        for (int t = 0; t < 2; t++)
            POOLED({
                const conv_case *cc = &conv_cases[c];
                mm_tensor *in[3] = {make_input(cc, 0, dtypes[t]),
                                    make_input(cc, 1, dtypes[t]),
                                    make_bias(cc, dtypes[t])};
                char what[64];
                snprintf(what, sizeof what, "conv grads case %d %s", c,
                         mm_dtype_name(dtypes[t]));
                CHECK_VS_REFERENCE(what, f_conv_grads, (void *)cc, in,
                                   cc->bias ? 3 : 2, 1e-4, 1e-3);
            });
}

/* Small shapes so that gradcheck stays fast. */
/* clang-format off */
static const conv_case grad_cases[] = {
    {false, 2, {1, 2, 5, 5}, {2, 2, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {0}, 1, true},
    {false, 2, {1, 2, 6, 6}, {3, 2, 1, 1}, {2, 2}, {0, 0}, {1, 1}, {0}, 1, false},
    {false, 2, {1, 1, 6, 6}, {2, 1, 3, 3}, {1, 1}, {2, 2}, {2, 2}, {0}, 1, true},
    {false, 2, {2, 4, 4, 4}, {2, 2, 2, 2}, {1, 1}, {0, 1}, {1, 1}, {0}, 2, true},
    {false, 2, {1, 3, 5, 5}, {3, 1, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {0}, 3, false},
    {false, 1, {2, 2, 7}, {2, 2, 3}, {2}, {1}, {2}, {0}, 1, true},
    {false, 3, {1, 2, 3, 4, 4}, {2, 1, 2, 3, 2}, {1, 2, 1}, {1, 1, 0}, {1, 1, 2}, {0}, 2, true},
    {true, 2, {1, 2, 3, 3}, {2, 2, 3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, true},
    {true, 2, {1, 4, 3, 3}, {4, 1, 2, 2}, {2, 1}, {0, 1}, {1, 2}, {1, 1}, 2, false},
    {true, 1, {2, 2, 4}, {2, 1, 3}, {2}, {0}, {1}, {1}, 1, true},
    {true, 3, {1, 2, 2, 2, 2}, {2, 1, 2, 2, 2}, {2, 1, 2}, {1, 0, 0}, {1, 1, 1}, {1, 0, 0}, 1, true},
};
/* clang-format on */

MM_TEST(conv_gradcheck_every_variant) {
    for (size_t c = 0; c < sizeof grad_cases / sizeof grad_cases[0]; c++)
        POOLED({
            const conv_case *cc = &grad_cases[c];
            mm_tensor *in[3] = {leaf(make_input(cc, 0, MM_F64)),
                                leaf(make_input(cc, 1, MM_F64)),
                                leaf(make_bias(cc, MM_F64))};
            int n = cc->bias ? 3 : 2;
            CHECK_GRAD(f_conv, (void *)cc, in, n);
            bool prev = mm_ops_set_reference(true);
            CHECK_GRAD(f_conv, (void *)cc, in, n);
            mm_ops_set_reference(prev);
        });
}

MM_TEST(conv_f32_gradients_flow_through_onednn) {
    POOLED({
        const conv_case *cc = &conv_cases[0];
        mm_tensor *x = leaf(make_input(cc, 0, MM_F32)),
                  *w = leaf(make_input(cc, 1, MM_F32)),
                  *b = leaf(make_bias(cc, MM_F32)), *y, *s;
        CHECK_OK(mm_conv2d(x, w, b, cc->stride, cc->pad, cc->dil, 1, &y));
        CHECK_OK(mm_sum(y, 0, NULL, false, &s));
        CHECK_OK(mm_backward(s));
        CHECK(mm_tensor_grad(x) && mm_tensor_grad(w) && mm_tensor_grad(b));
        /* d sum / d b = the number of outputs per channel */
        CHECK(fabs(at(mm_tensor_grad(b), 3) - 2 * 5 * 5) < 1e-4);
    });
}

MM_TEST(conv_matches_torch_numbers) {
    POOLED({
        /* x = torch.arange(32.).reshape(1, 2, 4, 4) / 10,
         * w = torch.arange(36.).reshape(2, 2, 3, 3) / 10 - 1.5,
         * F.conv2d(x, w, torch.tensor([1., -1.]), stride=2, padding=1) */
        static const double want[] = {0.36,  -1.44, -5.57, -12.02,
                                      13.48, 22.48, 28.07, 44.3};
        mm_tensor *x, *w, *b, *y;
        CHECK_OK(mm_arange(0, 32, 1, MM_F64, &x));
        CHECK_OK(mm_reshape(x, MM_SHAPE(1, 2, 4, 4), &x));
        CHECK_OK(mm_div_scalar(x, 10, &x));
        CHECK_OK(mm_arange(0, 36, 1, MM_F64, &w));
        CHECK_OK(mm_reshape(w, MM_SHAPE(2, 2, 3, 3), &w));
        CHECK_OK(mm_div_scalar(w, 10, &w));
        CHECK_OK(mm_sub_scalar(w, 1.5, &w));
        CHECK_OK(mm_from_data((double[]){1, -1}, MM_SHAPE(2), MM_F64, &b));
        for (int t = 0; t < 2; t++) {
            mm_tensor *xt = x, *wt = w, *bt = b;
            if (t == 1) {
                CHECK_OK(mm_to_dtype(x, MM_F32, &xt));
                CHECK_OK(mm_to_dtype(w, MM_F32, &wt));
                CHECK_OK(mm_to_dtype(b, MM_F32, &bt));
            }
            CHECK_OK(mm_conv2d(xt, wt, bt, (int64_t[]){2, 2}, (int64_t[]){1, 1},
                               NULL, 1, &y));
            CHECK(y->shape[2] == 2 && y->shape[3] == 2);
            for (int i = 0; i < 8; i++)
                CHECK(fabs(at(y, i) - want[i]) < 1e-5);
        }
        /* x = torch.arange(8.).reshape(1, 2, 2, 2),
         * w = torch.arange(18.).reshape(2, 1, 3, 3) / 10,
         * F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1) */
        static const double want_t[] = {5.2,  11.9, 6.9,  7.5,  12.6, 28.2,
                                        16.0, 17.6, 8.6,  18.7, 10.3, 11.3,
                                        11.0, 24.1, 13.3, 14.3};
        CHECK_OK(mm_arange(0, 8, 1, MM_F32, &x));
        CHECK_OK(mm_reshape(x, MM_SHAPE(1, 2, 2, 2), &x));
        CHECK_OK(mm_arange(0, 18, 1, MM_F32, &w));
        CHECK_OK(mm_reshape(w, MM_SHAPE(2, 1, 3, 3), &w));
        CHECK_OK(mm_div_scalar(w, 10, &w));
        CHECK_OK(mm_conv_transpose2d(x, w, NULL, (int64_t[]){2, 2},
                                     (int64_t[]){1, 1}, (int64_t[]){1, 1}, 1,
                                     NULL, &y));
        CHECK(y->ndim == 4 && y->shape[1] == 1 && y->shape[2] == 4 &&
              y->shape[3] == 4);
        for (int i = 0; i < 16; i++)
            CHECK(fabs(at(y, i) - want_t[i]) < 1e-5);
    });
}

MM_TEST(conv_bf16_matches_reference) {
    POOLED({
        const conv_case *cc = &conv_cases[0];
        mm_tensor *in[3] = {make_input(cc, 0, MM_BF16),
                            make_input(cc, 1, MM_BF16), make_bias(cc, MM_BF16)};
        CHECK_VS_REFERENCE("conv bf16", f_conv, (void *)cc, in, 3, 2e-2, 1e-1);
        CHECK_VS_REFERENCE("conv bf16 grads", f_conv_grads, (void *)cc, in, 3,
                           2e-2, 2e-1);
    });
}

MM_TEST(conv_f64_ignores_thread_count) {
    POOLED({
        const conv_case *cc = &conv_cases[7];
        mm_tensor *in[3] = {make_input(cc, 0, MM_F64),
                            make_input(cc, 1, MM_F64), make_bias(cc, MM_F64)};
        mm_tensor *a, *b;
        int nt = mm_get_num_threads();
        CHECK_OK(mm_set_num_threads(1));
        CHECK_OK(f_conv_grads((void *)cc, in, 3, &a));
        CHECK_OK(mm_set_num_threads(2));
        CHECK_OK(f_conv_grads((void *)cc, in, 3, &b));
        CHECK_OK(mm_set_num_threads(nt));
        CHECK(mm_allclose(a, b, 0, 0, NULL)); /* bit-identical */
    });
}

/* torch.set_default_dtype(torch.float64); ar(shape, mul) =
 * torch.sin(torch.arange(numel) * mul).reshape(shape); each result reduced
 * to (y.sum(), (y * y * (1 + torch.arange(numel) % 7)).sum()). */
MM_TEST(conv_matches_torch_checksums) {
    const mm_dtype dtypes[] = {MM_F64, MM_F32};
    for (int t = 0; t < 2; t++)
        POOLED({
            mm_dtype dt = dtypes[t];
            double rtol = dt == MM_F64 ? 1e-9 : 1e-4;
            mm_tensor *y;
            /* F.conv_transpose2d(ar((2,4,5,6),.37), ar((4,3,3,2),.11),
             * ar((6,),.5), stride=(2,3), padding=(1,2),
             * output_padding=(1,2), groups=2, dilation=(2,1)) */
            mm_tensor *x = sin_t(MM_SHAPE(2, 4, 5, 6), 0.37, dt);
            CHECK_OK(mm_conv_transpose2d(
                x, sin_t(MM_SHAPE(4, 3, 3, 2), 0.11, dt),
                sin_t(MM_SHAPE(6), 0.5, dt), (int64_t[]){2, 3},
                (int64_t[]){1, 2}, (int64_t[]){1, 2}, 2, (int64_t[]){2, 1},
                &y));
            CHECK(checksums_match(y, MM_SHAPE(2, 6, 12, 15), 1345.16992,
                                  4855.458321, rtol));
            /* F.conv3d(ar((1,4,5,6,7),.21), ar((6,2,2,3,2),.13), None,
             * (2,1,2), (1,0,1), (1,2,2), 2) */
            mm_tensor *x3 = sin_t(MM_SHAPE(1, 4, 5, 6, 7), 0.21, dt);
            CHECK_OK(mm_conv3d(x3, sin_t(MM_SHAPE(6, 2, 2, 3, 2), 0.13, dt),
                               NULL, (int64_t[]){2, 1, 2}, (int64_t[]){1, 0, 1},
                               (int64_t[]){1, 2, 2}, 2, &y));
            CHECK(checksums_match(y, MM_SHAPE(1, 6, 3, 2, 4), -0.6221844282,
                                  576.7795938, rtol));
            /* F.conv_transpose3d(x3, ar((4,1,2,2,3),.3), None, (2,1,2),
             * (0,1,1), (1,0,0), 4, (1,1,2)) */
            CHECK_OK(mm_conv_transpose3d(
                x3, sin_t(MM_SHAPE(4, 1, 2, 2, 3), 0.3, dt), NULL,
                (int64_t[]){2, 1, 2}, (int64_t[]){0, 1, 1},
                (int64_t[]){1, 0, 0}, 4, (int64_t[]){1, 1, 2}, &y));
            CHECK(checksums_match(y, MM_SHAPE(1, 4, 11, 5, 15), -0.3894488958,
                                  21750.67772, rtol));
            /* F.conv1d(ar((2,3,11),.7), ar((6,1,3),.2), None, 2, 2, 3, 3) */
            CHECK_OK(mm_conv1d(sin_t(MM_SHAPE(2, 3, 11), 0.7, dt),
                               sin_t(MM_SHAPE(6, 1, 3), 0.2, dt), NULL,
                               (int64_t[]){2}, (int64_t[]){2}, (int64_t[]){3},
                               3, &y));
            CHECK(checksums_match(y, MM_SHAPE(2, 6, 5), -0.03461378943,
                                  23.76741649, rtol));
        });
}

MM_TEST(conv_takes_unbatched_inputs) {
    POOLED({
        const conv_case *cc = &conv_cases[3];
        mm_tensor *x = randn_t(MM_SHAPE(4, 7, 7), MM_F32),
                  *w = make_input(cc, 1, MM_F32), *xb, *y, *yb;
        CHECK_OK(mm_conv2d(x, w, NULL, cc->stride, cc->pad, cc->dil, 2, &y));
        CHECK_OK(mm_unsqueeze(x, 0, &xb));
        CHECK_OK(mm_conv2d(xb, w, NULL, cc->stride, cc->pad, cc->dil, 2, &yb));
        CHECK_OK(mm_squeeze(yb, 0, &yb));
        CHECK(y->ndim == 3 && mm_allclose(y, yb, 0, 0, NULL));
    });
}

MM_TEST(conv_errors_are_one_line) {
    POOLED({
        mm_tensor *x, *w, *w3, *b, *xi, *wd, *y;
        CHECK_OK(mm_zeros(MM_SHAPE(1, 4, 5, 5), MM_F32, &x));
        CHECK_OK(mm_zeros(MM_SHAPE(8, 4, 3, 3), MM_F32, &w));
        CHECK_OK(mm_zeros(MM_SHAPE(8, 4, 3), MM_F32, &w3));
        CHECK_OK(mm_zeros(MM_SHAPE(3), MM_F32, &b));
        CHECK_OK(mm_zeros(MM_SHAPE(1, 4, 5, 5), MM_I64, &xi));
        CHECK_OK(mm_zeros(MM_SHAPE(8, 4, 3, 3), MM_F64, &wd));
        CHECK_ERR(mm_conv2d(x, w3, NULL, NULL, NULL, NULL, 1, &y), MM_EINVAL,
                  "conv2d: weight has 3 dims, expected 4");
        CHECK_ERR(mm_conv2d(x, w, NULL, NULL, NULL, NULL, 2, &y), MM_EINVAL,
                  "conv2d: input [1, 4, 5, 5] has 4 channels, expected 8 "
                  "(weight [8, 4, 3, 3], groups 2)");
        CHECK_ERR(mm_conv2d(x, w, NULL, NULL, NULL, NULL, 3, &y), MM_EINVAL,
                  "conv2d: weight has 8 output channels, not divisible by "
                  "groups 3");
        CHECK_ERR(mm_conv2d(x, w, NULL, NULL, NULL, NULL, 0, &y), MM_EINVAL,
                  "conv2d: groups must be positive, got 0");
        CHECK_ERR(mm_conv2d(x, w, b, NULL, NULL, NULL, 1, &y), MM_EINVAL,
                  "conv2d: bias has shape [3], expected [8]");
        CHECK_ERR(mm_conv2d(x, wd, NULL, NULL, NULL, NULL, 1, &y), MM_ETYPE,
                  "conv2d: input (f32) and weight (f64) dtypes differ");
        CHECK_ERR(mm_conv2d(xi, w, NULL, NULL, NULL, NULL, 1, &y), MM_ETYPE,
                  "conv2d: expected a floating-point input, got i64");
        CHECK_ERR(mm_conv2d(x, w, NULL, (int64_t[]){0, 1}, NULL, NULL, 1, &y),
                  MM_EINVAL, "conv2d: stride must be positive, got [0, 1]");
        CHECK_ERR(mm_conv2d(x, w, NULL, NULL, (int64_t[]){-1, 0}, NULL, 1, &y),
                  MM_EINVAL,
                  "conv2d: padding must be non-negative, got [-1, 0]");
        CHECK_ERR(mm_conv2d(x, w, NULL, NULL, NULL, (int64_t[]){3, 3}, 1, &y),
                  MM_EINVAL,
                  "conv2d: calculated output size [0, 0] is too small (input "
                  "[5, 5], padding [0, 0], kernel [3, 3])");
        CHECK_ERR(mm_conv1d(x, w, NULL, NULL, NULL, NULL, 1, &y), MM_EINVAL,
                  "conv1d: expected a 2-D (unbatched) or 3-D (batched) input, "
                  "got [1, 4, 5, 5]");
        CHECK_OK(mm_zeros(MM_SHAPE(4, 2, 3, 3), MM_F32, &w));
        CHECK_ERR(mm_conv_transpose2d(x, w, NULL, (int64_t[]){2, 2}, NULL,
                                      (int64_t[]){2, 0}, 1, NULL, &y),
                  MM_EINVAL,
                  "conv_transpose2d: output_padding [2, 0] must be smaller "
                  "than either stride [2, 2] or dilation [1, 1]");
        CHECK_ERR(mm_conv2d(NULL, w, NULL, NULL, NULL, NULL, 1, &y), MM_EINVAL,
                  "conv2d: tensor is NULL");
    });
}


/* ---- conv_fused ---------------------------------------------------------- */

typedef struct fused_ctx {
    const conv_case *c;
    mm_fused_act act;
    bool bias, residual;
} fused_ctx;

static int f_fused(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    const fused_ctx *f = vctx;
    return mm_conv_fused(in[0], in[1], f->bias ? in[2] : NULL,
                         f->residual ? in[3] : NULL, f->act, f->c->stride,
                         f->c->pad, f->c->dil, f->c->groups, out);
}

MM_TEST(conv_fused_matches_reference) {
    const mm_fused_act acts[] = {MM_FUSED_NONE, MM_FUSED_RELU, MM_FUSED_RELU6,
                                 MM_FUSED_SILU, MM_FUSED_HARDSWISH};
    for (int c = 0; c < N_CASES; c++) {
        const conv_case *cc = &conv_cases[c];
        if (cc->transposed)
            continue;
        for (int a = 0; a < 5; a++)
            for (int r = 0; r < 2; r++)
                POOLED({
                    fused_ctx f = {cc, acts[a], cc->bias, r == 1};
                    mm_tensor *in[4] = {make_input(cc, 0, MM_F32),
                                        make_input(cc, 1, MM_F32),
                                        make_bias(cc, MM_F32), NULL};
                    mm_tensor *y;
                    CHECK_OK(f_conv((void *)cc, in, 2, &y));
                    in[3] = randn_t(y->ndim, y->shape, MM_F32);
                    char what[64];
                    snprintf(what, sizeof what, "conv_fused case %d act %d%s",
                             c, a, r ? " residual" : "");
                    CHECK_VS_REFERENCE(what, f_fused, &f, in, 4, 1e-4, 1e-4);
                });
    }
}

/* The fused op equals the unfused sequence: the ResNet bottleneck's last
 * conv (1x1, residual, ReLU) and a MobileNet depthwise conv (ReLU6), in f32
 * and under bf16 autocast (AMX where the CPU has it). */
MM_TEST(conv_fused_equals_conv_add_activation) {
    const conv_case *cc = &conv_cases[7], *dw = &conv_cases[8];
    POOLED({
        mm_tensor *x = make_input(cc, 0, MM_F32), *w = make_input(cc, 1, MM_F32);
        mm_tensor *b = make_bias(cc, MM_F32), *y, *r, *want, *got;
        CHECK_OK(mm_conv2d(x, w, b, cc->stride, cc->pad, cc->dil, 1, &y));
        r = randn_t(y->ndim, y->shape, MM_F32);
        CHECK_OK(mm_add(y, r, &want));
        CHECK_OK(mm_relu(want, &want));
        CHECK_OK(mm_conv_fused(x, w, b, r, MM_FUSED_RELU, cc->stride, cc->pad,
                               cc->dil, 1, &got));
        CHECK(mm_allclose(got, want, 1e-5, 1e-5, NULL));
        mm_tensor *xd = make_input(dw, 0, MM_F32), *wd = make_input(dw, 1, MM_F32);
        CHECK_OK(mm_conv2d(xd, wd, NULL, dw->stride, dw->pad, dw->dil,
                           dw->groups, &want));
        CHECK_OK(mm_relu6(want, &want));
        CHECK_OK(mm_conv_fused(xd, wd, NULL, NULL, MM_FUSED_RELU6, dw->stride,
                               dw->pad, dw->dil, dw->groups, &got));
        CHECK(mm_allclose(got, want, 1e-5, 1e-5, NULL));
        /* bf16 autocast: both sides in bf16, compared loosely */
        CHECK_OK(mm_autocast_push(MM_BF16));
        CHECK_OK(mm_conv_fused(x, w, b, r, MM_FUSED_RELU, cc->stride, cc->pad,
                               cc->dil, 1, &got));
        mm_autocast_pop();
        CHECK(got->dtype == MM_BF16);
        CHECK_OK(mm_to_dtype(got, MM_F32, &got));
        CHECK_OK(mm_add(y, r, &want));
        CHECK_OK(mm_relu(want, &want));
        CHECK(mm_allclose(got, want, 0.05, 0.1, NULL));
    });
}

MM_TEST(conv_fused_refuses_inputs_that_need_grad) {
    const conv_case *cc = &conv_cases[0];
    POOLED({
        mm_tensor *x = make_input(cc, 0, MM_F32), *w = make_input(cc, 1, MM_F32);
        mm_tensor *y;
        CHECK_OK(mm_tensor_set_requires_grad(w, true));
        CHECK_ERR(mm_conv_fused(x, w, NULL, NULL, MM_FUSED_RELU, cc->stride,
                                cc->pad, cc->dil, 1, &y),
                  MM_EINVAL,
                  "conv_fused: has no backward; run it under no-grad "
                  "(inference) or use the unfused ops");
        mm_no_grad_push();
        CHECK_OK(mm_conv_fused(x, w, NULL, NULL, MM_FUSED_RELU, cc->stride,
                               cc->pad, cc->dil, 1, &y));
        mm_no_grad_pop();
        CHECK(!y->requires_grad);
    });
}

MM_TEST_MAIN(MM_CASE(conv_matches_reference_f32_and_f64),
             MM_CASE(conv_fused_matches_reference),
             MM_CASE(conv_fused_equals_conv_add_activation),
             MM_CASE(conv_fused_refuses_inputs_that_need_grad),
             MM_CASE(conv_gradients_match_reference_f32_and_f64),
             MM_CASE(conv_gradcheck_every_variant),
             MM_CASE(conv_f32_gradients_flow_through_onednn),
             MM_CASE(conv_matches_torch_numbers),
             MM_CASE(conv_bf16_matches_reference),
             MM_CASE(conv_f64_ignores_thread_count),
             MM_CASE(conv_matches_torch_checksums),
             MM_CASE(conv_takes_unbatched_inputs),
             MM_CASE(conv_errors_are_one_line))
