/* Channels-last memory format: the layout predicate, mm_to_memory_format
 * (values, strides, identity when already there, errors, gradient), and
 * the ops that keep a channels-last input's layout: each one's result
 * equals the same op on the contiguous input. */
#include "ops_testing.h"

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

MM_TEST_MAIN(MM_CASE(channels_last_strides_and_predicate),
             MM_CASE(to_memory_format_errors),
             MM_CASE(gradcheck_to_memory_format))
