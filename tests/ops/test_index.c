/* Indexing (gather, scatter, scatter_value, scatter_add, index_select,
 * index_add, masked_fill, masked_select, nonzero, one_hot, embedding,
 * unique) and copying shape ops (pad, roll, pixel_shuffle,
 * pixel_unshuffle): optimised kernels against the reference kernels,
 * float64 gradcheck, values from torch 1.13, error messages. */
#include <string.h>

#include "ops_testing.h"

static mm_tensor *randint_t(int64_t lo, int64_t hi, int ndim,
                            const int64_t *shape) {
    mm_tensor *t;
    if (mm_randint(lo, hi, ndim, shape, MM_I64, test_gen(), &t) < 0)
        abort();
    return t;
}

/* Distinct indices along dim: a random permutation of 0..n-1 per line,
 * the first k kept. */
static mm_tensor *perm_index(int ndim, const int64_t *shape, int dim,
                             int64_t k) {
    mm_tensor *r, *i;
    if (mm_argsort(randn_t(ndim, shape, MM_F64), dim, false, true, &r) < 0 ||
        mm_narrow(r, dim, 0, k, &i) < 0 || mm_contiguous(i, &i) < 0)
        abort();
    return i;
}

static mm_tensor *bool_mask(int ndim, const int64_t *shape) {
    mm_tensor *m;
    if (mm_to_dtype(randint_t(0, 2, ndim, shape), MM_BOOL, &m) < 0)
        abort();
    return m;
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
        if (at(t, i) != want[i] && fabs(at(t, i) - want[i]) > 1e-6)
            return false;
    return true;
}

#define CHECK_VALUES(t, ...)                                                   \
    do {                                                                       \
        const double want_[] = {__VA_ARGS__};                                  \
        CHECK(equals(t, want_, sizeof want_ / sizeof want_[0]));               \
    } while (0)

/* in[0] = x (or self), in[1] = index or mask, in[2] = src; dim in ctx. */
enum {
    I_GATHER, I_SCATTER, I_SCATTER_VALUE, I_SCATTER_ADD, I_INDEX_SELECT,
    I_INDEX_ADD, I_MASKED_FILL, I_MASKED_SELECT, I_EMBEDDING, I_PAD, I_PAD_BW
};

typedef struct idx_ctx {
    int which, dim;
    int npad;
    int64_t pads[6];
    mm_pad_mode mode;
} idx_ctx;

static int f_idx(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    const idx_ctx *c = vctx;
    switch (c->which) {
    case I_GATHER: return mm_gather(in[0], c->dim, in[1], out);
    case I_SCATTER: return mm_scatter(in[0], c->dim, in[1], in[2], out);
    case I_SCATTER_VALUE: return mm_scatter_value(in[0], c->dim, in[1], -2.5, out);
    case I_SCATTER_ADD: return mm_scatter_add(in[0], c->dim, in[1], in[2], out);
    case I_INDEX_SELECT: return mm_index_select(in[0], c->dim, in[1], out);
    case I_INDEX_ADD: return mm_index_add(in[0], c->dim, in[1], in[2], 2.5, out);
    case I_MASKED_FILL: return mm_masked_fill(in[0], in[1], 7.5, out);
    case I_MASKED_SELECT: return mm_masked_select(in[0], in[1], out);
    case I_EMBEDDING: return mm_embedding(in[0], in[1], 0, false, out);
    case I_PAD: return mm_pad(in[0], c->npad, c->pads, c->mode, 1.5, out);
    case I_PAD_BW: { /* the backward op, fed pad(x) as the gradient */
        mm_tensor *g;
        int rc = mm_pad(in[0], c->npad, c->pads, c->mode, 1.5, &g);
        if (rc < 0)
            return rc;
        mm_op_params p = {.i = {c->mode, c->npad}};
        for (int k = 0; k < c->npad; k++)
            p.i[2 + k] = c->pads[k];
        return mm_op_apply(mm_op_get(MM_OP_PAD_BACKWARD), 2,
                           (mm_tensor *[]){g, in[0]}, &p, out);
    }
    default: return MM_EINVAL;
    }
}

/* Check fast vs reference in f32, f64 (contiguous and not), and gradcheck
 * in f64 for the float inputs listed in grad_mask. */
static void check_op(idx_ctx *ctx, int n, int nx, const int64_t *xs,
                     mm_tensor *index, int ns, const int64_t *ss,
                     unsigned grad_mask) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (int t = 0; t < 2; t++)
        for (int nc = 0; nc < 2; nc++) {
            mm_tensor *in[3] = {randn_t(nx, xs, dts[t]), index,
                                n == 3 ? randn_t(ns, ss, dts[t]) : NULL};
            if (nc) {
                in[0] = noncontig(in[0]);
                if (in[2])
                    in[2] = noncontig(in[2]);
            }
            char what[64];
            snprintf(what, sizeof what, "index op %d %s%s", ctx->which,
                     mm_dtype_name(dts[t]), nc ? " noncontig" : "");
            CHECK_VS_REFERENCE(what, f_idx, ctx, in, n, 1e-6, 1e-6);
        }
    if (!grad_mask)
        return;
    mm_tensor *in[3] = {noncontig(randn_t(nx, xs, MM_F64)), index,
                        n == 3 ? randn_t(ns, ss, MM_F64) : NULL};
    for (int i = 0; i < 3; i++)
        if (grad_mask >> i & 1) {
            mm_tensor *c;
            if (mm_detach(in[i], &c) < 0)
                abort();
            in[i] = leaf(c);
        }
    CHECK_GRAD(f_idx, ctx, in, n);
}

MM_TEST(gather_and_scatter_match_reference_and_gradcheck) {
    POOLED({
        idx_ctx c = {I_GATHER, 1};
        check_op(&c, 2, MM_SHAPE(5, 6), randint_t(0, 6, MM_SHAPE(5, 4)), 0,
                 NULL, 1);
        c.dim = 0;
        check_op(&c, 2, MM_SHAPE(5, 6), randint_t(0, 5, MM_SHAPE(3, 6)), 0,
                 NULL, 1);
        check_op(&c, 2, MM_SHAPE(300, 257),
                 randint_t(0, 300, MM_SHAPE(300, 257)), 0, NULL, 0);
        c.dim = -1;
        check_op(&c, 2, MM_SHAPE(2, 3, 4), randint_t(0, 4, MM_SHAPE(2, 2, 7)),
                 0, NULL, 1);
        c = (idx_ctx){I_SCATTER, 1};
        check_op(&c, 3, MM_SHAPE(5, 6), perm_index(MM_SHAPE(5, 6), 1, 4),
                 MM_SHAPE(5, 5), 5);
        c.dim = 0;
        check_op(&c, 3, MM_SHAPE(6, 5), perm_index(MM_SHAPE(6, 4), 0, 3),
                 MM_SHAPE(4, 4), 5);
        c = (idx_ctx){I_SCATTER_VALUE, 1};
        check_op(&c, 2, MM_SHAPE(5, 6), randint_t(0, 6, MM_SHAPE(5, 4)), 0,
                 NULL, 1);
        c = (idx_ctx){I_SCATTER_ADD, 0};
        check_op(&c, 3, MM_SHAPE(4, 6), randint_t(0, 4, MM_SHAPE(9, 6)),
                 MM_SHAPE(9, 6), 5);
        c.dim = 1;
        check_op(&c, 3, MM_SHAPE(3, 200), randint_t(0, 200, MM_SHAPE(3, 15000)),
                 MM_SHAPE(3, 15000), 0);
        check_op(&c, 3, MM_SHAPE(4, 6), randint_t(0, 6, MM_SHAPE(3, 8)),
                 MM_SHAPE(4, 9), 5);
    });
}

MM_TEST(index_select_and_index_add_match_reference_and_gradcheck) {
    POOLED({
        idx_ctx c = {I_INDEX_SELECT, 0};
        check_op(&c, 2, MM_SHAPE(6, 5), randint_t(0, 6, MM_SHAPE(8)), 0, NULL,
                 1);
        c.dim = 1;
        check_op(&c, 2, MM_SHAPE(6, 5), randint_t(0, 5, MM_SHAPE(3)), 0, NULL,
                 1);
        mm_tensor *i32;
        CHECK_OK(mm_to_dtype(randint_t(0, 257, MM_SHAPE(400)), MM_I32, &i32));
        check_op(&c, 2, MM_SHAPE(300, 257), i32, 0, NULL, 0);
        c = (idx_ctx){I_INDEX_ADD, 0};
        check_op(&c, 3, MM_SHAPE(6, 5), randint_t(0, 6, MM_SHAPE(8)),
                 MM_SHAPE(8, 5), 5);
        c.dim = -1;
        check_op(&c, 3, MM_SHAPE(2, 3, 5), randint_t(0, 5, MM_SHAPE(4)),
                 MM_SHAPE(2, 3, 4), 5);
        check_op(&c, 3, MM_SHAPE(300, 100), randint_t(0, 100, MM_SHAPE(200)),
                 MM_SHAPE(300, 200), 0);
    });
}

MM_TEST(masks_and_embedding_match_reference_and_gradcheck) {
    POOLED({
        idx_ctx c = {I_MASKED_FILL};
        check_op(&c, 2, MM_SHAPE(4, 5), bool_mask(MM_SHAPE(5)), 0, NULL, 1);
        check_op(&c, 2, MM_SHAPE(300, 257), bool_mask(MM_SHAPE(300, 1)), 0,
                 NULL, 0);
        c.which = I_MASKED_SELECT;
        check_op(&c, 2, MM_SHAPE(4, 5), bool_mask(MM_SHAPE(4, 5)), 0, NULL, 1);
        check_op(&c, 2, MM_SHAPE(5), bool_mask(MM_SHAPE(3, 1)), 0, NULL, 1);
        c.which = I_EMBEDDING;
        check_op(&c, 2, MM_SHAPE(7, 4), randint_t(0, 7, MM_SHAPE(2, 3)), 0,
                 NULL, 1);
        check_op(&c, 2, MM_SHAPE(1000, 64), randint_t(0, 1000, MM_SHAPE(4, 300)),
                 0, NULL, 0);
    });
}

MM_TEST(embedding_padding_row_gets_no_gradient) {
    POOLED({
        mm_tensor *w = leaf(randn_t(MM_SHAPE(5, 3), MM_F64)), *y, *s;
        mm_tensor *idx = from((double[]){4, 1, 4, 0}, MM_SHAPE(4), MM_I64);
        for (int ref = 0; ref < 2; ref++) {
            bool prev = mm_ops_set_reference(ref);
            mm_tensor_zero_grad(w);
            CHECK_OK(mm_embedding(w, idx, -1, true, &y)); /* padding_idx=-1 */
            CHECK_OK(mm_sum(y, 0, NULL, false, &s));
            CHECK_OK(mm_backward(s));
            /* F.embedding(idx, w, padding_idx=-1).sum().backward() */
            CHECK_VALUES(w->grad, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0);
            mm_ops_set_reference(prev);
        }
        CHECK(at(y, 0) == at(w, 12)); /* the padding row is still read */
    });
}

MM_TEST(indexing_gives_torchs_values) {
    POOLED({
        mm_tensor *y, *inv, *cnt;
        /* torch.nonzero(torch.tensor([[0,1],[2,0]])) */
        CHECK_OK(mm_nonzero(from((double[]){0, 1, 2, 0}, MM_SHAPE(2, 2), MM_I64),
                            &y));
        CHECK_INT(y->ndim, 2);
        CHECK_VALUES(y, 0, 1, 1, 0);
        /* F.one_hot(torch.tensor([0,2,1])) */
        CHECK_OK(mm_one_hot(from((double[]){0, 2, 1}, MM_SHAPE(3), MM_I64), -1,
                            &y));
        CHECK_VALUES(y, 1, 0, 0, 0, 0, 1, 0, 1, 0);
        CHECK_INT(y->shape[1], 3);
        /* torch.unique(torch.tensor([[3,1,2],[1,3,3]]), return_inverse=True,
         * return_counts=True) */
        mm_tensor *u = from((double[]){3, 1, 2, 1, 3, 3}, MM_SHAPE(2, 3), MM_I64);
        CHECK_OK(mm_unique(u, true, &y, &inv, &cnt));
        CHECK_VALUES(y, 1, 2, 3);
        CHECK_INT(y->dtype, MM_I64);
        CHECK_VALUES(inv, 2, 0, 1, 0, 2, 2);
        CHECK_INT(inv->ndim, 2);
        CHECK_VALUES(cnt, 2, 1, 3);
        mm_tensor *uf = from((double[]){0.5, -1, 0.5}, MM_SHAPE(3), MM_F32);
        CHECK_OK(mm_unique(uf, false, &y, NULL, NULL));
        CHECK_VALUES(y, -1, 0.5);
        /* scatter_add with duplicates: torch.zeros(3).scatter_add(0,
         * torch.tensor([0,2,0]), torch.tensor([1.,2.,3.])) */
        mm_tensor *z;
        CHECK_OK(mm_zeros(MM_SHAPE(3), MM_F32, &z));
        CHECK_OK(mm_scatter_add(z, 0, from((double[]){0, 2, 0}, MM_SHAPE(3), MM_I64),
                                from((double[]){1, 2, 3}, MM_SHAPE(3), MM_F32),
                                &y));
        CHECK_VALUES(y, 4, 0, 2);
        /* x.masked_select(x > 1) for x = [[0, 2], [3, 1]] */
        CHECK_OK(mm_masked_select(
            from((double[]){0, 2, 3, 1}, MM_SHAPE(2, 2), MM_F32),
            from((double[]){0, 1, 1, 0}, MM_SHAPE(2, 2), MM_BOOL), &y));
        CHECK_VALUES(y, 2, 3);
    });
}

MM_TEST(index_errors_are_one_line) {
    POOLED({
        mm_tensor *x, *y, *f;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3), MM_F32, &x));
        mm_tensor *bad = from((double[]){0, 5}, MM_SHAPE(1, 2), MM_I64);
        CHECK_ERR(mm_gather(x, 1, bad, &y), MM_EINVAL,
                  "gather: index 5 is out of bounds for dimension 1 with size 3");
        bool prev = mm_ops_set_reference(true);
        CHECK_ERR(mm_gather(x, 1, bad, &y), MM_EINVAL,
                  "gather: index 5 is out of bounds for dimension 1 with size 3");
        mm_ops_set_reference(prev);
        CHECK_OK(mm_zeros(MM_SHAPE(1, 2), MM_F32, &f));
        CHECK_ERR(mm_gather(x, 1, f, &y), MM_ETYPE,
                  "gather: expected an index of dtype i64, got f32");
        CHECK_ERR(mm_scatter_add(x, 1, bad, f, &y), MM_EINVAL,
                  "scatter_add: index 5 is out of bounds for dimension 1 with "
                  "size 3");
        CHECK_ERR(mm_index_select(x, 0, from((double[]){-1}, MM_SHAPE(1), MM_I64),
                                  &y),
                  MM_EINVAL,
                  "index_select: index -1 is out of bounds for dimension 0 "
                  "with size 2");
        CHECK_ERR(mm_index_add(x, 0, from((double[]){0}, MM_SHAPE(1), MM_I64), x,
                               1, &y),
                  MM_EINVAL,
                  "index_add: source [2, 3] does not match self [2, 3] with 1 "
                  "indices at dim 0");
        CHECK_ERR(mm_masked_fill(x, f, 0, &y), MM_ETYPE,
                  "masked_fill: expected a bool mask, got f32");
        CHECK_ERR(mm_one_hot(from((double[]){3}, MM_SHAPE(1), MM_I64), 2, &y),
                  MM_EINVAL,
                  "one_hot: class values must be smaller than num_classes");
        CHECK_ERR(mm_embedding(x, from((double[]){2}, MM_SHAPE(1), MM_I64), 0,
                               false, &y),
                  MM_EINVAL,
                  "embedding: index 2 is out of bounds for dimension 0 with "
                  "size 2");
        CHECK_ERR(mm_embedding(x, f, 0, false, &y), MM_ETYPE,
                  "embedding: expected an index of dtype i64 or i32, got f32");
    });
}

MM_TEST(integer_tensors_index_like_floats) {
    POOLED({
        mm_tensor *x = randint_t(-100, 100, MM_SHAPE(40, 30));
        idx_ctx c = {I_GATHER, 1};
        mm_tensor *in[3] = {x, randint_t(0, 30, MM_SHAPE(40, 50)), NULL};
        CHECK_VS_REFERENCE("i64 gather", f_idx, &c, in, 2, 0, 0);
        c = (idx_ctx){I_INDEX_SELECT, 0};
        in[1] = randint_t(0, 40, MM_SHAPE(70));
        CHECK_VS_REFERENCE("i64 index_select", f_idx, &c, in, 2, 0, 0);
        c = (idx_ctx){I_SCATTER_ADD, 0};
        in[1] = randint_t(0, 40, MM_SHAPE(60, 30));
        in[2] = randint_t(-5, 5, MM_SHAPE(60, 30));
        CHECK_VS_REFERENCE("i64 scatter_add", f_idx, &c, in, 3, 0, 0);
        c = (idx_ctx){I_MASKED_FILL};
        in[1] = bool_mask(MM_SHAPE(40, 30));
        CHECK_VS_REFERENCE("i64 masked_fill", f_idx, &c, in, 2, 0, 0);
        c = (idx_ctx){I_PAD, 0, 4, {1, 2, 3, 0}, MM_PAD_REFLECT};
        mm_tensor *x3;
        CHECK_OK(mm_reshape(x, MM_SHAPE(1, 40, 30), &x3));
        CHECK_VS_REFERENCE("i64 pad", f_idx, &c, &x3, 1, 0, 0);
    });
}

MM_TEST(index_ops_take_empty_tensors) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(4, 3), MM_F32), *e, *y, *z, *w;
        CHECK_OK(mm_zeros(MM_SHAPE(0), MM_I64, &e));
        CHECK_OK(mm_index_select(x, 0, e, &y));
        CHECK_INT(y->shape[0], 0);
        CHECK_OK(mm_embedding(x, e, 0, false, &y));
        CHECK_INT(y->numel, 0);
        CHECK_OK(mm_zeros(MM_SHAPE(4, 0), MM_I64, &z));
        CHECK_OK(mm_gather(x, 1, z, &y));
        CHECK_INT(y->numel, 0);
        CHECK_OK(mm_scatter_add(x, 1, z, x, &y));
        CHECK(mm_allclose(y, x, 0, 0, NULL));
        CHECK_OK(mm_zeros(MM_SHAPE(0, 3), MM_F32, &w));
        CHECK_OK(mm_nonzero(w, &y));
        CHECK_INT(y->shape[0], 0);
        CHECK_INT(y->shape[1], 2);
        CHECK_OK(mm_unique(w, true, &y, NULL, NULL));
        CHECK_INT(y->numel, 0);
        CHECK_OK(mm_masked_select(w, bool_mask(MM_SHAPE(0, 3)), &y));
        CHECK_INT(y->numel, 0);
        CHECK_OK(mm_pad(w, 2, (int64_t[]){1, 1}, MM_PAD_CONSTANT, 0, &y));
        CHECK_INT(y->shape[1], 5);
    });
}

MM_TEST(scatters_do_not_depend_on_the_thread_count) {
    POOLED({
        idx_ctx cs[] = {{I_SCATTER_ADD, 1}, {I_INDEX_ADD, 1}, {I_SCATTER, 1}};
        mm_tensor *self = randn_t(MM_SHAPE(8, 300), MM_F32);
        mm_tensor *ins[][3] = {
            {self, randint_t(0, 300, MM_SHAPE(8, 9000)),
             randn_t(MM_SHAPE(8, 9000), MM_F32)},
            {self, randint_t(0, 300, MM_SHAPE(9000)),
             randn_t(MM_SHAPE(8, 9000), MM_F32)},
            {self, randint_t(0, 300, MM_SHAPE(8, 9000)),
             randn_t(MM_SHAPE(8, 9000), MM_F32)},
        };
        for (int k = 0; k < 3; k++) {
            mm_tensor *a, *b;
            int prev = mm_get_num_threads();
            mm_set_num_threads(1);
            CHECK_OK(f_idx(&cs[k], ins[k], 3, &a));
            mm_set_num_threads(2);
            CHECK_OK(f_idx(&cs[k], ins[k], 3, &b));
            mm_set_num_threads(prev);
            CHECK(mm_allclose(a, b, 0, 0, NULL));
        }
    });
}

/* ---- pad, roll, pixel_shuffle ---------------------------------------------- */

MM_TEST(pad_matches_reference_and_gradchecks) {
    const struct {
        int nx;
        int64_t x[5];
        int npad;
        int64_t pads[6];
        mm_pad_mode mode;
    } cases[] = {
        {3, {2, 3, 5}, 2, {2, 1}, MM_PAD_REFLECT},
        {4, {1, 2, 4, 5}, 4, {1, 3, 2, 0}, MM_PAD_REFLECT},
        {4, {2, 3, 4, 5}, 4, {2, 2, 1, 3}, MM_PAD_REPLICATE},
        {3, {2, 3, 5}, 2, {0, 3}, MM_PAD_REPLICATE},
        {3, {2, 3, 5}, 4, {1, -2, 0, 2}, MM_PAD_CONSTANT},
        {2, {3, 4}, 4, {1, 1, 1, 1}, MM_PAD_CONSTANT},
        {1, {0}, 2, {1, 2}, MM_PAD_CONSTANT},
        {4, {4, 8, 40, 40}, 4, {3, 3, 3, 3}, MM_PAD_REFLECT},
        {5, {1, 2, 3, 4, 5}, 6, {1, 1, 2, 2, 1, 0}, MM_PAD_REPLICATE},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        POOLED({
            idx_ctx c = {I_PAD, 0, cases[k].npad, {0}, cases[k].mode};
            memcpy(c.pads, cases[k].pads, sizeof c.pads);
            check_op(&c, 1, cases[k].nx, cases[k].x, NULL, 0, NULL,
                     cases[k].x[0] == 4 || cases[k].x[0] == 0 ? 0 : 1);
            c.which = I_PAD_BW;
            check_op(&c, 1, cases[k].nx, cases[k].x, NULL, 0, NULL, 0);
        });
}

MM_TEST(pad_roll_and_pixel_shuffle_give_torchs_values) {
    POOLED({
        mm_tensor *p, *y;
        CHECK_OK(mm_arange(0, 12, 1, MM_F32, &p));
        CHECK_OK(mm_reshape(p, MM_SHAPE(1, 3, 4), &p));
        /* F.pad(torch.arange(12.).view(1,3,4), (2,1), mode='reflect') */
        CHECK_OK(mm_pad(p, 2, (int64_t[]){2, 1}, MM_PAD_REFLECT, 0, &y));
        CHECK_VALUES(y, 2, 1, 0, 1, 2, 3, 2, 6, 5, 4, 5, 6, 7, 6, 10, 9, 8, 9,
                     10, 11, 10);
        /* F.pad(p.view(1,1,3,4), (1,1,1,0), mode='replicate') */
        mm_tensor *p4;
        CHECK_OK(mm_reshape(p, MM_SHAPE(1, 1, 3, 4), &p4));
        CHECK_OK(mm_pad(p4, 4, (int64_t[]){1, 1, 1, 0}, MM_PAD_REPLICATE, 0, &y));
        CHECK_VALUES(y, 0, 0, 1, 2, 3, 3, 0, 0, 1, 2, 3, 3, 4, 4, 5, 6, 7, 7,
                     8, 8, 9, 10, 11, 11);
        /* F.pad(p, (1,-1,0,1), value=7) */
        CHECK_OK(mm_pad(p, 4, (int64_t[]){1, -1, 0, 1}, MM_PAD_CONSTANT, 7, &y));
        CHECK_VALUES(y, 7, 0, 1, 2, 7, 4, 5, 6, 7, 8, 9, 10, 7, 7, 7, 7);
        /* torch.roll(torch.arange(6).view(2,3), (1,-1), (0,1)) and
         * torch.roll(..., 2) */
        mm_tensor *r;
        CHECK_OK(mm_arange(0, 6, 1, MM_I64, &r));
        CHECK_OK(mm_reshape(r, MM_SHAPE(2, 3), &r));
        CHECK_OK(mm_roll(r, 2, (int64_t[]){1, -1}, MM_DIMS(0, 1), &y));
        CHECK_VALUES(y, 4, 5, 3, 1, 2, 0);
        CHECK_OK(mm_roll(r, 1, (int64_t[]){2}, 0, NULL, &y));
        CHECK_VALUES(y, 4, 5, 0, 1, 2, 3);
        CHECK_INT(y->ndim, 2);
        /* F.pixel_shuffle(torch.arange(8.).view(1,4,1,2), 2) */
        mm_tensor *s, *back;
        CHECK_OK(mm_arange(0, 8, 1, MM_F32, &s));
        CHECK_OK(mm_reshape(s, MM_SHAPE(1, 4, 1, 2), &s));
        CHECK_OK(mm_pixel_shuffle(s, 2, &y));
        CHECK_INT(y->shape[1], 1);
        CHECK_INT(y->shape[2], 2);
        CHECK_INT(y->shape[3], 4);
        CHECK_VALUES(y, 0, 2, 1, 3, 4, 6, 5, 7);
        CHECK_OK(mm_pixel_unshuffle(y, 2, &back));
        CHECK(mm_allclose(back, s, 0, 0, NULL));
    });
}

static int f_shape(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    switch (*(int *)vctx) {
    case 0: return mm_roll(in[0], 2, (int64_t[]){1, -4}, MM_DIMS(0, 2), out);
    case 1: return mm_roll(in[0], 1, (int64_t[]){5}, 0, NULL, out);
    case 2: return mm_pixel_shuffle(in[0], 2, out);
    default: return mm_pixel_unshuffle(in[0], 2, out);
    }
}

MM_TEST(roll_and_pixel_shuffle_gradcheck) {
    POOLED({
        for (int w = 0; w < 4; w++) {
            mm_tensor *x = leaf(randn_t(
                MM_SHAPE(2, w == 2 ? 8 : 3, 2, w == 3 ? 4 : 6), MM_F64));
            CHECK_GRAD(f_shape, &w, &x, 1);
        }
    });
}

MM_TEST(pad_and_shuffle_errors_are_one_line) {
    POOLED({
        mm_tensor *x, *y;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 4), MM_F32, &x));
        CHECK_ERR(mm_pad(x, 3, (int64_t[]){1, 1, 1}, MM_PAD_CONSTANT, 0, &y),
                  MM_EINVAL, "pad: padding length must be even, got 3");
        CHECK_ERR(mm_pad(x, 2, (int64_t[]){4, 0}, MM_PAD_REFLECT, 0, &y),
                  MM_EINVAL,
                  "pad: padding (4, 0) at dim 2 must be less than its size 4 "
                  "in reflect mode");
        CHECK_ERR(mm_pad(x, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, MM_PAD_REPLICATE, 0,
                         &y),
                  MM_EINVAL,
                  "pad: replicate padding of 3 dims needs a 4-D or 5-D input, "
                  "got 3-D");
        CHECK_ERR(mm_pad(x, 2, (int64_t[]){-3, -2}, MM_PAD_CONSTANT, 0, &y),
                  MM_EINVAL, "pad: output size at dim 2 would be -1");
        CHECK_ERR(mm_roll(x, 2, (int64_t[]){1, 1}, MM_DIMS(0), &y), MM_EINVAL,
                  "roll: 2 shifts for 1 dims (need one per dim, or one shift "
                  "and no dims)");
        CHECK_ERR(mm_pixel_shuffle(x, 2, &y), MM_EINVAL,
                  "pixel_shuffle: channels 2 not divisible by the square of "
                  "the factor 2");
        CHECK_ERR(mm_pixel_unshuffle(x, 3, &y), MM_EINVAL,
                  "pixel_unshuffle: height 3 and width 4 must be divisible by "
                  "the factor 3");
    });
}

MM_TEST_MAIN(MM_CASE(gather_and_scatter_match_reference_and_gradcheck),
             MM_CASE(index_select_and_index_add_match_reference_and_gradcheck),
             MM_CASE(masks_and_embedding_match_reference_and_gradcheck),
             MM_CASE(embedding_padding_row_gets_no_gradient),
             MM_CASE(indexing_gives_torchs_values),
             MM_CASE(index_errors_are_one_line),
             MM_CASE(integer_tensors_index_like_floats),
             MM_CASE(index_ops_take_empty_tensors),
             MM_CASE(scatters_do_not_depend_on_the_thread_count),
             MM_CASE(pad_matches_reference_and_gradchecks),
             MM_CASE(pad_roll_and_pixel_shuffle_give_torchs_values),
             MM_CASE(roll_and_pixel_shuffle_gradcheck),
             MM_CASE(pad_and_shuffle_errors_are_one_line))
