/* Views share storage with correct strides and offsets; the copying shape
 * ops produce the values PyTorch does; bad dims and shapes are one-line
 * errors. */
#include "ops_testing.h"

static mm_tensor *iota(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    mm_tensor *t, *v;
    if (mm_arange(0, (double)n, 1, MM_F32, &t) < 0 ||
        mm_view(t, ndim, shape, &v) < 0)
        abort();
    return v;
}

#define CHECK_SHAPE(t, ...)                                                    \
    do {                                                                       \
        const int64_t want_[] = {__VA_ARGS__};                                 \
        int n_ = (int)(sizeof want_ / sizeof want_[0]);                        \
        char sa_[128], sb_[128];                                               \
        CHECK_STR(mm_shape_format((t)->ndim, (t)->shape, sa_, sizeof sa_),     \
                  mm_shape_format(n_, want_, sb_, sizeof sb_));                \
    } while (0)
#define CHECK_STRIDE(t, ...)                                                   \
    do {                                                                       \
        const int64_t want_[] = {__VA_ARGS__};                                 \
        int n_ = (int)(sizeof want_ / sizeof want_[0]);                        \
        char sa_[128], sb_[128];                                               \
        CHECK_STR(mm_shape_format((t)->ndim, (t)->stride, sa_, sizeof sa_),    \
                  mm_shape_format(n_, want_, sb_, sizeof sb_));                \
    } while (0)

MM_TEST(view_and_reshape_share_storage_when_strides_allow) {
    POOLED({
        mm_tensor *x = iota(MM_SHAPE(2, 3, 4)), *v, *r;
        CHECK_OK(mm_view(x, MM_SHAPE(6, -1), &v));
        CHECK_SHAPE(v, 6, 4);
        CHECK_STRIDE(v, 4, 1);
        CHECK(v->storage == x->storage);
        CHECK_OK(mm_reshape(x, MM_SHAPE(4, 6), &r));
        CHECK(r->storage == x->storage);
        mm_tensor *t;
        CHECK_OK(mm_transpose(x, 0, 1, &t)); /* [3, 2, 4], strides [4, 12, 1] */
        CHECK_OK(
            mm_view(t, MM_SHAPE(3, 2, 2, 2), &v)); /* splitting a dim is fine */
        CHECK(v->storage == x->storage);
        CHECK_STRIDE(v, 4, 12, 2, 1);
        CHECK_ERR(mm_view(t, MM_SHAPE(6, 4), &v), MM_EINVAL,
                  "view: shape [6, 4] is not compatible with the strides of "
                  "input [3, 2, 4] "
                  "(use reshape, which copies)");
        CHECK_OK(mm_reshape(t, MM_SHAPE(6, 4), &r)); /* copies */
        CHECK(r->storage != x->storage);
        CHECK(at(r, 1) == 1 && at(r, 4) == 12);
        CHECK_ERR(mm_reshape(x, MM_SHAPE(5, -1), &r), MM_EINVAL,
                  "reshape: shape [5, -1] is invalid for input of size 24");
        CHECK_ERR(mm_reshape(x, MM_SHAPE(-1, -1), &r), MM_EINVAL,
                  "reshape: only one dim can be -1 in [-1, -1]");
        mm_tensor *s;
        CHECK_OK(mm_scalar(2, MM_F32, &s));
        CHECK_OK(mm_reshape(s, MM_SHAPE(1, 1), &r));
        CHECK_SHAPE(r, 1, 1);
        CHECK_OK(mm_reshape(r, 0, NULL, &r));
        CHECK_INT(r->ndim, 0);
    });
}

MM_TEST(permute_and_transpose_swap_strides) {
    POOLED({
        mm_tensor *x = iota(MM_SHAPE(2, 3, 4)), *p;
        CHECK_INT(mm_tensor_size(x, -1), 4);
        CHECK_INT(mm_tensor_size(x, 3), -1);
        CHECK_OK(mm_permute(x, MM_DIMS(2, 0, 1), &p));
        CHECK_SHAPE(p, 4, 2, 3);
        CHECK_STRIDE(p, 1, 12, 4);
        CHECK(p->storage == x->storage && !mm_tensor_is_contiguous(p));
        int64_t idx[3] = {3, 1, 2};
        double v;
        CHECK_OK(mm_tensor_get(p, idx, &v));
        CHECK(v == 1 * 12 + 2 * 4 + 3);
        CHECK_OK(mm_transpose(x, 0, -1, &p));
        CHECK_SHAPE(p, 4, 3, 2);
        CHECK_ERR(mm_permute(x, MM_DIMS(0, 0, 1), &p), MM_EINVAL,
                  "permute: dims [0, 0, 1] are not a permutation of 3 dims");
        CHECK_ERR(mm_permute(x, MM_DIMS(0, 1), &p), MM_EINVAL,
                  "permute: 2 dims given for a tensor of 3 dims");
        CHECK_ERR(mm_transpose(x, 0, 3, &p), MM_EINVAL,
                  "transpose: dim 3 out of range for a tensor of 3 dims");
    });
}

MM_TEST(narrow_slice_and_select_offset_into_the_base) {
    POOLED({
        mm_tensor *x = iota(MM_SHAPE(4, 6)), *n, *s, *e;
        CHECK_OK(mm_narrow(x, 1, 2, 3, &n));
        CHECK_SHAPE(n, 4, 3);
        CHECK_STRIDE(n, 6, 1);
        CHECK_INT(n->offset, 2);
        CHECK(n->storage == x->storage && at(n, 3) == 8);
        CHECK_OK(mm_slice(x, 1, 1, MM_SLICE_END, 2, &s)); /* x[:, 1::2] */
        CHECK_SHAPE(s, 4, 3);
        CHECK_STRIDE(s, 6, 2);
        CHECK(at(s, 0) == 1 && at(s, 1) == 3 && at(s, 2) == 5 && at(s, 3) == 7);
        CHECK_OK(mm_slice(x, 0, -3, -1, 1, &s)); /* x[-3:-1] */
        CHECK_SHAPE(s, 2, 6);
        CHECK(at(s, 0) == 6);
        CHECK_OK(mm_slice(x, 0, 10, 20, 1, &s)); /* clamps, as Python does */
        CHECK_SHAPE(s, 0, 6);
        CHECK_OK(mm_select(x, 0, -1, &e));
        CHECK_SHAPE(e, 6);
        CHECK(at(e, 0) == 18 && e->storage == x->storage);
        CHECK_OK(mm_select(x, 1, 4, &e));
        CHECK_SHAPE(e, 4);
        CHECK_STRIDE(e, 6);
        CHECK(at(e, 3) == 22);
        CHECK_ERR(
            mm_narrow(x, 0, 2, 3, &n), MM_ERANGE,
            "narrow: start 2 and length 3 out of range for dim 0 of size 4");
        CHECK_ERR(mm_select(x, 1, 6, &e), MM_ERANGE,
                  "select: index 6 out of range for dim 1 of size 6");
        CHECK_ERR(mm_slice(x, 0, 0, 2, 0, &s), MM_EINVAL,
                  "slice: step must be positive (got 0)");
    });
}

MM_TEST(expand_broadcasts_with_zero_strides) {
    POOLED({
        mm_tensor *x = iota(MM_SHAPE(3, 1)), *e;
        CHECK_OK(mm_expand(x, MM_SHAPE(2, 3, 4), &e));
        CHECK_SHAPE(e, 2, 3, 4);
        CHECK_STRIDE(e, 0, 1, 0);
        CHECK(e->storage == x->storage);
        CHECK(at(e, 13) == 0 && at(e, 17) == 1 && at(e, 23) == 2);
        CHECK_OK(mm_expand(x, MM_SHAPE(-1, 5), &e));
        CHECK_SHAPE(e, 3, 5);
        CHECK_ERR(mm_expand(x, MM_SHAPE(4, 4), &e), MM_EINVAL,
                  "expand: cannot expand shape [3, 1] to [4, 4]");
    });
}

MM_TEST(squeeze_unsqueeze_and_flatten_are_views) {
    POOLED({
        mm_tensor *x = iota(MM_SHAPE(2, 1, 3)), *s, *u, *f;
        CHECK_OK(mm_squeeze(x, 1, &s));
        CHECK_SHAPE(s, 2, 3);
        CHECK_OK(mm_squeeze(x, 0, &s)); /* size 2: unchanged */
        CHECK_SHAPE(s, 2, 1, 3);
        CHECK_OK(mm_unsqueeze(x, -1, &u));
        CHECK_SHAPE(u, 2, 1, 3, 1);
        CHECK_OK(mm_unsqueeze(x, 0, &u));
        CHECK_SHAPE(u, 1, 2, 1, 3);
        CHECK_OK(mm_squeeze_all(u, &s));
        CHECK_SHAPE(s, 2, 3);
        CHECK_OK(mm_flatten(x, 1, 2, &f));
        CHECK_SHAPE(f, 2, 3);
        CHECK(f->storage == x->storage);
        CHECK_OK(mm_flatten(x, 0, -1, &f));
        CHECK_SHAPE(f, 6);
        CHECK_ERR(mm_unsqueeze(x, 4, &u), MM_EINVAL,
                  "unsqueeze: dim 4 out of range for a tensor of 4 dims");
    });
}

MM_TEST(cat_and_stack_join_along_a_dim) {
    POOLED({
        mm_tensor *a = iota(MM_SHAPE(2, 3)), *b, *c, *s;
        CHECK_OK(mm_full(MM_SHAPE(2, 1), -1, MM_F64, &b)); /* promotes to f64 */
        CHECK_OK(mm_cat(2, (mm_tensor *[]){a, b}, 1, &c));
        CHECK_SHAPE(c, 2, 4);
        CHECK_INT(c->dtype, MM_F64);
        CHECK(at(c, 3) == -1 && at(c, 4) == 3 && at(c, 7) == -1);
        CHECK_OK(mm_cat(2, (mm_tensor *[]){a, a}, 0, &c));
        CHECK_SHAPE(c, 4, 3);
        CHECK(at(c, 6) == 0 && at(c, 11) == 5);
        CHECK_OK(mm_stack(3, (mm_tensor *[]){a, a, a}, 1, &s));
        CHECK_SHAPE(s, 2, 3, 3);
        CHECK(at(s, 3) == 0 && at(s, 9) == 3);
        CHECK_ERR(mm_cat(2, (mm_tensor *[]){a, iota(MM_SHAPE(3, 3))}, 1, &c),
                  MM_EINVAL,
                  "cat: input 1 has shape [3, 3], input 0 [2, 3] (only dim 1 "
                  "may differ)");
        CHECK_ERR(mm_stack(2, (mm_tensor *[]){a, b}, 0, &s), MM_EINVAL,
                  "stack: input 1 has shape [2, 1], input 0 [2, 3]");
    });
}

MM_TEST(split_and_chunk_return_views) {
    POOLED({
        mm_tensor *x = iota(MM_SHAPE(7, 2)), *parts[4];
        int n;
        CHECK_OK(mm_split(x, 3, 0, parts, 4, &n));
        CHECK_INT(n, 3);
        CHECK_SHAPE(parts[2], 1, 2);
        CHECK(parts[1]->storage == x->storage && at(parts[1], 0) == 6);
        CHECK_OK(mm_chunk(x, 2, 0, parts, &n));
        CHECK_INT(n, 2);
        CHECK_SHAPE(parts[0], 4, 2);
        CHECK_SHAPE(parts[1], 3, 2);
        CHECK_OK(mm_chunk(x, 2, 1, parts, &n));
        CHECK_SHAPE(parts[1], 7, 1);
        CHECK(at(parts[1], 1) == 3);
        CHECK_ERR(mm_split(x, 2, 0, parts, 3, &n), MM_ERANGE,
                  "split: 4 pieces do not fit in 3 outputs");
    });
}

MM_TEST(flip_and_repeat_copy_like_torch) {
    POOLED({
        mm_tensor *x = iota(MM_SHAPE(2, 3)), *f, *r;
        CHECK_OK(mm_flip(x, MM_DIMS(1), &f));
        CHECK(at(f, 0) == 2 && at(f, 2) == 0 && at(f, 3) == 5);
        CHECK_OK(mm_flip(x, MM_DIMS(0, 1), &f));
        CHECK(at(f, 0) == 5 && at(f, 5) == 0);
        CHECK(f->storage != x->storage);
        CHECK_OK(mm_repeat(x, MM_SHAPE(2, 1, 2), &r));
        CHECK_SHAPE(r, 2, 2, 6);
        /* r[1][1] = [3 4 5 3 4 5] */
        CHECK(at(r, 18) == 3 && at(r, 21) == 3 && at(r, 23) == 5);
        CHECK_OK(mm_repeat(x, MM_SHAPE(1, 1), &r));
        CHECK(r->storage != x->storage);
        CHECK_OK(mm_repeat(x, MM_SHAPE(0, 2), &r));
        CHECK_SHAPE(r, 0, 6);
        CHECK_ERR(mm_repeat(x, MM_SHAPE(2), &r), MM_EINVAL,
                  "repeat: 1 repeats given for a tensor of 2 dims");
    });
}

MM_TEST(views_of_views_compose_offsets) {
    POOLED({
        mm_tensor *x = iota(MM_SHAPE(4, 5, 6)), *a, *b, *c;
        CHECK_OK(mm_select(x, 0, 2, &a));                 /* [5, 6] offset 60 */
        CHECK_OK(mm_slice(a, 1, 1, MM_SLICE_END, 2, &b)); /* [5, 3] */
        CHECK_OK(mm_transpose(b, 0, 1, &c));              /* [3, 5] */
        CHECK_INT(c->offset, 61);
        CHECK_STRIDE(c, 2, 6);
        int64_t idx[2] = {2, 4};
        double v;
        CHECK_OK(mm_tensor_get(c, idx, &v));
        CHECK(v == 60 + 4 * 6 + 5);
        CHECK_OK(mm_tensor_set(c, idx, -7));
        CHECK(at(x, 60 + 4 * 6 + 5) == -7); /* writes reach the base */
    });
}

MM_TEST_MAIN(MM_CASE(view_and_reshape_share_storage_when_strides_allow),
             MM_CASE(permute_and_transpose_swap_strides),
             MM_CASE(narrow_slice_and_select_offset_into_the_base),
             MM_CASE(expand_broadcasts_with_zero_strides),
             MM_CASE(squeeze_unsqueeze_and_flatten_are_views),
             MM_CASE(cat_and_stack_join_along_a_dim),
             MM_CASE(split_and_chunk_return_views),
             MM_CASE(flip_and_repeat_copy_like_torch),
             MM_CASE(views_of_views_compose_offsets))
