/* Channels-last memory format: the layout predicate, mm_to_memory_format
 * (values, strides, identity when already there, errors, gradient), and
 * the ops that keep a channels-last input's layout: each one's result
 * equals the same op on the contiguous input. */
#include "ops_testing.h"

#include <math.h>

static const int64_t *strides_of(const mm_tensor *t) { return t->stride; }

MM_TEST(channels_last_strides_and_predicate) {
    POOLED({
        mm_tensor *x, *y;
        CHECK_OK(mm_arange(0, 2 * 3 * 4 * 5, 1, MM_F32, &x));
        CHECK_OK(mm_reshape(x, MM_SHAPE(2, 3, 4, 5), &x));
        CHECK(mm_tensor_is_contiguous(x) && !mm_tensor_is_channels_last(x));
        CHECK_OK(mm_to_memory_format(x, MM_FORMAT_CHANNELS_LAST, &y));
        CHECK(mm_tensor_is_channels_last(y) && !mm_tensor_is_contiguous(y));
        const int64_t *s = strides_of(y);
        CHECK_INT(s[0], 60);
        CHECK_INT(s[1], 1);
        CHECK_INT(s[2], 15);
        CHECK_INT(s[3], 3);
        /* the same values: element [n, c, h, w] sits at n*60 + h*15 + w*3 + c
         * in memory */
        const float *d = mm_tensor_data(y);
        CHECK(d[1 * 60 + 2 * 15 + 3 * 3 + 1] ==
              (float)(((1 * 3 + 1) * 4 + 2) * 5 + 3));
        double err;
        CHECK(mm_allclose(x, y, 0, 0, &err));
        /* already channels-last: the same tensor */
        mm_tensor *z;
        CHECK_OK(mm_to_memory_format(y, MM_FORMAT_CHANNELS_LAST, &z));
        CHECK(z == y);
        /* and back */
        CHECK_OK(mm_to_memory_format(y, MM_FORMAT_CONTIGUOUS, &z));
        CHECK(mm_tensor_is_contiguous(z) && z != y);
        CHECK(mm_allclose(x, z, 0, 0, &err));
        /* the same as torch's permute(0, 2, 3, 1).contiguous().permute(0, 3,
         * 1, 2) */
        mm_tensor *p, *pc, *pb;
        CHECK_OK(mm_permute(x, 4, (int[]){0, 2, 3, 1}, &p));
        CHECK_OK(mm_contiguous(p, &pc));
        CHECK_OK(mm_permute(pc, 4, (int[]){0, 3, 1, 2}, &pb));
        CHECK(mm_tensor_is_channels_last(pb));
        CHECK(memcmp(pb->stride, y->stride, 4 * sizeof(int64_t)) == 0);
        /* size-1 dims do not count: [N, C, 1, 1] is both */
        mm_tensor *g;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 8, 1, 1), MM_F32, &g));
        CHECK(mm_tensor_is_contiguous(g) && mm_tensor_is_channels_last(g));
        /* 3-D (NLC) and 5-D (NDHWC) */
        mm_tensor *v, *vc;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 4, 5, 6), MM_F64, &v));
        CHECK_OK(mm_to_memory_format(v, MM_FORMAT_CHANNELS_LAST, &vc));
        CHECK(mm_tensor_is_channels_last(vc) && vc->stride[1] == 1 &&
              vc->stride[4] == 3 && vc->stride[2] == 3 * 6 * 5);
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 7), MM_F32, &v));
        CHECK_OK(mm_to_memory_format(v, MM_FORMAT_CHANNELS_LAST, &vc));
        CHECK(mm_tensor_is_channels_last(vc) && vc->stride[2] == 3);
        /* a dtype conversion keeps the layout, as torch's .to(dtype) */
        mm_tensor *h;
        CHECK_OK(mm_to_dtype(y, MM_BF16, &h));
        CHECK(mm_tensor_is_channels_last(h));
        CHECK(mm_allclose(x, h, 0, 0, &err));
        /* a transposed view is neither */
        mm_tensor *t;
        CHECK_OK(mm_transpose(x, 2, 3, &t));
        CHECK(!mm_tensor_is_channels_last(t) && !mm_tensor_is_contiguous(t));
    });
}

MM_TEST(to_memory_format_errors) {
    POOLED({
        mm_tensor *x, *y;
        CHECK_OK(mm_zeros(MM_SHAPE(3, 4), MM_F32, &x));
        CHECK_ERR(mm_to_memory_format(x, MM_FORMAT_CHANNELS_LAST, &y),
                  MM_EINVAL,
                  "to_memory_format: channels-last needs a tensor of 3 to 5 "
                  "dims [N, C, "
                  "...], got 2 dims");
        CHECK_ERR(mm_to_memory_format(x, (mm_memory_format)7, &y), MM_EINVAL,
                  "to_memory_format: unknown memory format 7");
        CHECK_ERR(mm_to_memory_format(NULL, MM_FORMAT_CONTIGUOUS, &y),
                  MM_EINVAL, "to_memory_format: tensor is NULL");
    });
}

static int g_to_cl(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    mm_tensor *y;
    MM_TRY(mm_to_memory_format(in[0], MM_FORMAT_CHANNELS_LAST, &y));
    return mm_mul(y, y, out); /* something that is not the identity */
}

MM_TEST(gradcheck_to_memory_format) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(2, 3, 2, 3), MM_F64));
        CHECK_GRAD(g_to_cl, NULL, &x, 1);
    });
}


static mm_tensor *to_cl(mm_tensor *x) {
    mm_tensor *y;
    if (mm_to_memory_format(x, MM_FORMAT_CHANNELS_LAST, &y) < 0) {
        fprintf(stderr, "to_cl: %s\n", mm_error_message());
        abort();
    }
    return y;
}

/* max |a - b| / max(1, max |b|) */
static double rel_err(mm_tensor *a, mm_tensor *b) {
    double err = 0, scale = 1;
    for (int64_t i = 0; i < b->numel; i++) {
        double d = fabs(at(a, i) - at(b, i)), m = fabs(at(b, i));
        err = d > err ? d : err;
        scale = m > scale ? m : scale;
    }
    return err / scale;
}

typedef struct conv_case {
    int64_t x[5], w[5];
    int nd, groups;
    int64_t stride, pad, dil;
} conv_case;

/* conv1d/2d/3d with groups (depthwise included), stride, padding and
 * dilation: a channels-last input gives a channels-last output equal to
 * the contiguous conv, forward and all three gradients. */
MM_TEST(conv_keeps_channels_last_and_matches_contiguous) {
    static const conv_case cases[] = {
        {{2, 16, 9, 11}, {32, 16, 3, 3}, 4, 1, 1, 1, 1},
        {{2, 32, 14, 14}, {64, 32, 1, 1}, 4, 1, 2, 0, 1},
        {{2, 24, 10, 10}, {24, 1, 3, 3}, 4, 24, 1, 1, 1},
        {{1, 16, 12, 12}, {32, 4, 3, 3}, 4, 4, 2, 2, 2},
        {{2, 3, 32, 32}, {16, 3, 7, 7}, 4, 1, 2, 3, 1},
        {{2, 16, 20}, {16, 16, 3}, 3, 1, 1, 1, 1},
        {{1, 16, 4, 6, 6}, {16, 16, 3, 3, 3}, 5, 1, 1, 1, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const conv_case *k = &cases[c];
        POOLED({
            int nsp = k->nd - 2;
            int64_t st[3] = {k->stride, k->stride, k->stride};
            int64_t pd[3] = {k->pad, k->pad, k->pad};
            int64_t dl[3] = {k->dil, k->dil, k->dil};
            mm_tensor *x0 = randn_t(k->nd, k->x, MM_F32);
            mm_tensor *w = leaf(randn_t(k->nd, k->w, MM_F32));
            mm_tensor *b = leaf(randn_t(1, &k->w[0], MM_F32));
            mm_tensor *xc = leaf(to_cl(x0)), *x;
            CHECK_OK(mm_clone(x0, &x));
            x = leaf(x);
            mm_tensor *y, *yc;
            int (*conv)(mm_tensor *, mm_tensor *, mm_tensor *,
                        const int64_t *, const int64_t *, const int64_t *,
                        int64_t, mm_tensor **) =
                nsp == 1 ? mm_conv1d : nsp == 2 ? mm_conv2d : mm_conv3d;
            CHECK_OK(conv(x, w, b, st, pd, dl, k->groups, &y));
            mm_tensor *gx = NULL, *gw = NULL, *gb = NULL;
            mm_tensor *loss, *sq;
            CHECK_OK(mm_mul(y, y, &sq));
            CHECK_OK(mm_sum(sq, 0, NULL, false, &loss));
            CHECK_OK(mm_backward(loss));
            CHECK_OK(mm_clone(x->grad, &gx));
            CHECK_OK(mm_clone(w->grad, &gw));
            CHECK_OK(mm_clone(b->grad, &gb));
            mm_tensor_zero_grad(w);
            mm_tensor_zero_grad(b);
            CHECK_OK(conv(xc, w, b, st, pd, dl, k->groups, &yc));
            CHECK(mm_tensor_is_channels_last(yc));
            CHECK(rel_err(yc, y) < 1e-5);
            CHECK_OK(mm_mul(yc, yc, &sq));
            CHECK_OK(mm_sum(sq, 0, NULL, false, &loss));
            CHECK_OK(mm_backward(loss));
            CHECK(mm_tensor_is_channels_last(xc->grad));
            CHECK(rel_err(xc->grad, gx) < 1e-5);
            CHECK(rel_err(w->grad, gw) < 1e-5);
            CHECK(rel_err(b->grad, gb) < 1e-5);
            mm_tensor_zero_grad(w);
            mm_tensor_zero_grad(b);
            mm_tensor_zero_grad(x);
            mm_tensor_zero_grad(xc);
        });
    }
}

static int g_conv_cl(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    mm_tensor *x, *w;
    MM_TRY(mm_to_memory_format(in[0], MM_FORMAT_CHANNELS_LAST, &x));
    MM_TRY(mm_to_memory_format(in[1], MM_FORMAT_CHANNELS_LAST, &w));
    return mm_conv2d(x, w, in[2], (int64_t[]){2, 1}, (int64_t[]){1, 1},
                     NULL, 2, out);
}

MM_TEST(gradcheck_conv_channels_last) {
    POOLED({
        mm_tensor *in[3] = {leaf(randn_t(MM_SHAPE(2, 4, 5, 4), MM_F64)),
                            leaf(randn_t(MM_SHAPE(6, 2, 3, 3), MM_F64)),
                            leaf(randn_t(MM_SHAPE(6), MM_F64))};
        CHECK_GRAD(g_conv_cl, NULL, in, 3);
    });
}

/* The fused inference conv: a channels-last input gives a channels-last
 * output; the residual may come in either layout. */
MM_TEST(conv_fused_keeps_channels_last_with_a_residual_in_either_layout) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(2, 32, 14, 14), MM_F32);
        mm_tensor *w = randn_t(MM_SHAPE(32, 32, 3, 3), MM_F32);
        mm_tensor *b = randn_t(MM_SHAPE(32), MM_F32);
        mm_tensor *r = randn_t(MM_SHAPE(2, 32, 14, 14), MM_F32);
        mm_tensor *want, *got;
        int64_t one[2] = {1, 1};
        CHECK_OK(mm_conv_fused(x, w, b, r, MM_FUSED_RELU, one, one, NULL, 1,
                               &want));
        mm_tensor *rs[2] = {r, to_cl(r)};
        for (int i = 0; i < 2; i++) {
            CHECK_OK(mm_conv_fused(to_cl(x), w, b, rs[i], MM_FUSED_RELU, one,
                                   one, NULL, 1, &got));
            CHECK(mm_tensor_is_channels_last(got));
            CHECK(rel_err(got, want) < 1e-5);
            /* a contiguous input with a channels-last residual */
            CHECK_OK(mm_conv_fused(x, w, b, rs[i], MM_FUSED_RELU, one, one,
                                   NULL, 1, &got));
            CHECK(mm_tensor_is_contiguous(got));
            CHECK(rel_err(got, want) < 1e-5);
        }
        /* the reference kernels agree on channels-last */
        bool prev = mm_ops_set_reference(true);
        CHECK_OK(mm_conv_fused(to_cl(x), w, b, rs[1], MM_FUSED_RELU, one, one,
                               NULL, 1, &got));
        mm_ops_set_reference(prev);
        CHECK(mm_tensor_is_channels_last(got));
        CHECK(rel_err(got, want) < 1e-5);
    });
}

/* conv_transpose (a decoder's upsampling) in channels-last, with bias. */
MM_TEST(conv_transpose_keeps_channels_last) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(2, 16, 7, 7), MM_F32);
        mm_tensor *w = randn_t(MM_SHAPE(16, 8, 4, 4), MM_F32);
        mm_tensor *b = randn_t(MM_SHAPE(8), MM_F32);
        mm_tensor *want, *got;
        int64_t s2[2] = {2, 2}, p1[2] = {1, 1};
        CHECK_OK(mm_conv_transpose2d(x, w, b, s2, p1, NULL, 1, NULL, &want));
        CHECK_OK(
            mm_conv_transpose2d(to_cl(x), w, b, s2, p1, NULL, 1, NULL, &got));
        CHECK(mm_tensor_is_channels_last(got));
        CHECK(rel_err(got, want) < 1e-5);
    });
}

MM_TEST_MAIN(MM_CASE(channels_last_strides_and_predicate),
             MM_CASE(to_memory_format_errors),
             MM_CASE(gradcheck_to_memory_format),
             MM_CASE(conv_keeps_channels_last_and_matches_contiguous),
             MM_CASE(gradcheck_conv_channels_last),
             MM_CASE(conv_fused_keeps_channels_last_with_a_residual_in_either_layout),
             MM_CASE(conv_transpose_keeps_channels_last))
