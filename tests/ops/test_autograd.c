/* Autograd: float64 gradcheck of every differentiable op (views and the
 * copying shape ops included), gradient accumulation, no-grad, detach, the
 * rules for leaves and in-place writes, and gradcheck catching a wrong
 * backward. */
#include "ops_testing.h"

/* ---- elementwise -------------------------------------------------------- */

static int g_add(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    return mm_add(in[0], in[1], out);
}
static int g_sub_alpha(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    return mm_sub_alpha(in[0], in[1], 1.5, out);
}
static int g_add_alpha(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    return mm_add_alpha(in[0], in[1], -0.5, out);
}
static int g_mul(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    return mm_mul(in[0], in[1], out);
}
static int g_div(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    return mm_div(in[0], in[1], out);
}
static int g_scalars(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    mm_tensor *t;
    MM_TRY(mm_mul_scalar(in[0], 3, &t));
    MM_TRY(mm_add_scalar(t, 1, &t));
    MM_TRY(mm_div_scalar(t, 2, &t));
    return mm_sub_scalar(t, 4, out);
}
static int g_square(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    return mm_mul(in[0], in[0], out); /* one input used twice */
}

MM_TEST(gradcheck_binary_ops_with_broadcasting) {
    POOLED({
        mm_tensor *a = leaf(randn_t(MM_SHAPE(2, 3, 1), MM_F64));
        mm_tensor *b = leaf(uniform_t(MM_SHAPE(4), MM_F64, 0.5, 2));
        mm_tensor *in[2] = {a, b};
        CHECK_GRAD(g_add, NULL, in, 2);
        CHECK_GRAD(g_sub_alpha, NULL, in, 2);
        CHECK_GRAD(g_add_alpha, NULL, in, 2);
        CHECK_GRAD(g_mul, NULL, in, 2);
        CHECK_GRAD(g_div, NULL, in, 2);
        mm_tensor *swapped[2] = {b, a};
        mm_tensor *pos = leaf(uniform_t(MM_SHAPE(2, 3, 1), MM_F64, 0.5, 2));
        mm_tensor *sw2[2] = {b, pos};
        CHECK_GRAD(g_mul, NULL, swapped, 2);
        CHECK_GRAD(g_div, NULL, sw2, 2);
        CHECK_GRAD(g_scalars, NULL, in, 1);
        CHECK_GRAD(g_square, NULL, in, 1);
        mm_tensor *s;
        CHECK_OK(mm_scalar(0.7, MM_F64, &s));
        mm_tensor *with_scalar[2] = {a, leaf(s)};
        CHECK_GRAD(g_mul, NULL, with_scalar, 2);
    });
}

MM_TEST(gradcheck_only_the_inputs_that_require_grad) {
    POOLED({
        mm_tensor *a = leaf(randn_t(MM_SHAPE(3, 2), MM_F64));
        mm_tensor *b = randn_t(MM_SHAPE(3, 2), MM_F64); /* a constant */
        mm_tensor *in[2] = {a, b};
        CHECK_GRAD(g_mul, NULL, in, 2);
        CHECK(b->grad == NULL);
    });
}

static int g_unary(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    switch (*(int *)c) {
    case 0:
        return mm_neg(in[0], out);
    case 1:
        return mm_exp(in[0], out);
    case 2:
        return mm_ln(in[0], out);
    case 3:
        return mm_relu(in[0], out);
    case 4:
        return mm_sigmoid(in[0], out);
    default:
        return mm_tanh(in[0], out);
    }
}

MM_TEST(gradcheck_unary_ops) {
    POOLED({
        /* away from relu's kink and log's pole */
        const double xs[6] = {-1.5, -0.3, 0.2, 0.7, 1.1, -2.0};
        const double pos[6] = {0.3, 1.2, 2.5, 0.9, 4.0, 0.6};
        mm_tensor *x, *p;
        CHECK_OK(mm_from_data(xs, MM_SHAPE(2, 3), MM_F64, &x));
        CHECK_OK(mm_from_data(pos, MM_SHAPE(2, 3), MM_F64, &p));
        leaf(x);
        leaf(p);
        for (int w = 0; w < 6; w++)
            CHECK_GRAD(g_unary, &w, w == 2 ? &p : &x, 1);
    });
}

/* ---- reductions and matmul ---------------------------------------------- */

typedef struct red {
    bool mean, keepdim;
    int n;
    int dims[3];
} red;

static int g_reduce(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    const red *r = c;
    return (r->mean ? mm_mean : mm_sum)(in[0], r->n, r->dims, r->keepdim, out);
}

MM_TEST(gradcheck_sum_and_mean_over_dims) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(2, 3, 4), MM_F64));
        const red cases[] = {{false, false, 0, {0}},
                             {true, true, 1, {1}},
                             {false, true, 2, {0, 2}},
                             {true, false, 2, {-1, 0}},
                             {false, false, 1, {2}}};
        for (int i = 0; i < 5; i++)
            CHECK_GRAD(g_reduce, (void *)&cases[i], &x, 1);
    });
}

static int g_matmul(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    return mm_matmul(in[0], in[1], out);
}

MM_TEST(gradcheck_matmul_batched_broadcast_and_1d) {
    static const struct {
        int na;
        int64_t a[4];
        int nb;
        int64_t b[4];
    } cases[] = {
        {2, {3, 4}, 2, {4, 2}},    {4, {2, 1, 3, 4}, 3, {3, 4, 2}},
        {3, {2, 3, 4}, 2, {4, 2}}, {1, {4}, 1, {4}},
        {1, {3}, 3, {2, 3, 2}},    {3, {2, 3, 4}, 1, {4}},
    };
    for (int i = 0; i < 6; i++)
        POOLED({
            mm_tensor *in[2] = {leaf(randn_t(cases[i].na, cases[i].a, MM_F64)),
                                leaf(randn_t(cases[i].nb, cases[i].b, MM_F64))};
            CHECK_GRAD(g_matmul, NULL, in, 2);
        });
}

/* ---- views and shape ops ------------------------------------------------ */

static int g_shape(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    mm_tensor *x = in[0], *t, *parts[4];
    int k;
    switch (*(int *)c) {
    case 0:
        return mm_view(x, MM_SHAPE(4, -1), out);
    case 1:
        MM_TRY(mm_transpose(x, 0, 2, &t));
        return mm_reshape(t, MM_SHAPE(6, 4), out); /* the copying reshape */
    case 2:
        return mm_permute(x, MM_DIMS(1, 2, 0), out);
    case 3:
        return mm_narrow(x, 2, 1, 2, out);
    case 4:
        return mm_slice(x, 2, 0, MM_SLICE_END, 2, out);
    case 5:
        return mm_select(x, 1, -1, out);
    case 6:
        MM_TRY(mm_narrow(x, 1, 0, 1, &t));
        return mm_expand(t, MM_SHAPE(3, 2, 5, 4), out);
    case 7:
        MM_TRY(mm_unsqueeze(x, 1, &t));
        MM_TRY(mm_flatten(t, 2, 3, &t));
        return mm_squeeze(t, 1, out);
    case 8:
        return mm_cat(n, in, 1, out);
    case 9:
        return mm_stack(2, (mm_tensor *[]){x, x}, 3, out);
    case 10:
        MM_TRY(mm_split(x, 2, 2, parts, 4, &k)); /* [2,3,2] x2 */
        MM_TRY(mm_mul_scalar(parts[1], 3, &t));
        return mm_cat(2, (mm_tensor *[]){t, parts[0]}, 0, out);
    case 11:
        MM_TRY(mm_chunk(x, 3, 1, parts, &k));
        MM_TRY(mm_mul(parts[0], parts[2], &t));
        return mm_add(t, parts[1], out);
    case 12:
        return mm_flip(x, MM_DIMS(0, 2), out);
    case 13:
        return mm_repeat(x, MM_SHAPE(2, 1, 1, 2), out);
    case 14:
        MM_TRY(mm_transpose(x, 1, 2, &t));
        return mm_contiguous(t, out);
    default:
        MM_TRY(mm_transpose(x, 0, 1, &t));
        MM_TRY(mm_clone(t, &t));
        return mm_squeeze_all(t, out);
    }
}

MM_TEST(gradcheck_views_and_shape_ops) {
    static const char *names[] = {
        "view",  "reshape (copy)", "permute",    "narrow",
        "slice", "select",         "expand",     "unsqueeze/flatten/squeeze",
        "cat",   "stack",          "split",      "chunk",
        "flip",  "repeat",         "contiguous", "clone"};
    for (int w = 0; w < 16; w++)
        POOLED({
            mm_tensor *in[2] = {leaf(randn_t(MM_SHAPE(2, 3, 4), MM_F64)),
                                leaf(randn_t(MM_SHAPE(2, 2, 4), MM_F64))};
            int rc =
                mm_gradcheck(g_shape, &w, in, w == 8 ? 2 : 1, 1e-6, 1e-6, 1e-4);
            if (rc < 0) {
                fprintf(stderr, "gradcheck of %s failed: %s\n", names[w],
                        mm_error_message());
                mm_test_failures++;
            }
        });
}

MM_TEST(gradcheck_a_non_contiguous_leaf) {
    POOLED({
        mm_tensor *base = randn_t(MM_SHAPE(4, 3), MM_F64), *t,
                  *w = leaf(randn_t(MM_SHAPE(4, 2), MM_F64));
        CHECK_OK(mm_transpose(base, 0, 1, &t)); /* [3, 4], strides [1, 3] */
        leaf(t);
        mm_tensor *in[2] = {t, w};
        CHECK_GRAD(g_matmul, NULL, in, 2);
    });
}

static int g_mlp(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    mm_tensor *x = in[0], *w = in[1], *b = in[2], *h, *wt;
    MM_TRY(mm_transpose(w, 0, 1, &wt)); /* (C, OC) */
    MM_TRY(mm_matmul(x, wt, &h));       /* (B, T, OC) */
    MM_TRY(mm_add(h, b, &h));           /* (B, T, OC) */
    MM_TRY(mm_tanh(h, &h));
    MM_TRY(mm_sigmoid(h, &h));
    return mm_mean(h, 0, NULL, false, out); /* () */
}

MM_TEST(gradcheck_a_small_layer) {
    POOLED({
        mm_tensor *in[3] = {leaf(randn_t(MM_SHAPE(2, 3, 4), MM_F64)),
                            leaf(randn_t(MM_SHAPE(5, 4), MM_F64)),
                            leaf(randn_t(MM_SHAPE(5), MM_F64))};
        CHECK_GRAD(g_mlp, NULL, in, 3);
    });
}

/* ---- the tape's rules --------------------------------------------------- */

MM_TEST(leaf_grads_accumulate_across_backward_calls) {
    mm_tensor *w;
    CHECK_OK(
        mm_full(MM_SHAPE(3), 2.0, MM_F32, &w)); /* a parameter: no pool, ours */
    CHECK_OK(mm_tensor_set_requires_grad(w, true));
    for (int step = 0; step < 2;
         step++) { /* the runner's iteration: one pool each */
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        mm_tensor *y, *loss;
        CHECK_OK(mm_mul(w, w, &y));                 /* (3) */
        CHECK_OK(mm_sum(y, 0, NULL, false, &loss)); /* () */
        CHECK_OK(mm_backward(loss));
        mm_pool_close(pool); /* the graph goes, w and w->grad stay */
    }
    CHECK(w->grad && at(w->grad, 0) == 8); /* 2 * (2 w) */
    CHECK(w->grad->storage != w->storage);
    mm_tensor_zero_grad(w);
    CHECK(w->grad == NULL);
    mm_tensor_release(w);
}

MM_TEST(backward_twice_on_one_graph_doubles_the_grads) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(4), MM_F64)), *y, *l;
        CHECK_OK(mm_exp(x, &y));
        CHECK_OK(mm_sum(y, 0, NULL, false, &l));
        CHECK_OK(mm_backward(l));
        CHECK_OK(mm_backward(l));
        CHECK(fabs(at(x->grad, 2) - 2 * exp(at(x, 2))) < 1e-12);
    });
}

MM_TEST(grad_flows_through_views_into_the_base) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(3, 4), MM_F64)), *a, *b, *l;
        CHECK_OK(mm_narrow(x, 1, 1, 2, &a)); /* x[:, 1:3] */
        CHECK_OK(mm_mul_scalar(a, 5, &b));
        CHECK_OK(mm_sum(b, 0, NULL, false, &l));
        CHECK_OK(mm_backward(l));
        for (int i = 0; i < 12; i++)
            CHECK(at(x->grad, i) == (i % 4 == 1 || i % 4 == 2 ? 5 : 0));
    });
}

MM_TEST(grad_converts_back_through_dtype_changes) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(3), MM_F32)), *y, *l;
        CHECK_OK(mm_to_dtype(x, MM_F64, &y));
        CHECK_OK(mm_mul_scalar(y, 2, &y));
        CHECK_OK(mm_sum(y, 0, NULL, false, &l));
        CHECK_OK(mm_backward(l));
        CHECK_INT(x->grad->dtype, MM_F32);
        CHECK(at(x->grad, 1) == 2);
    });
}

MM_TEST(no_grad_records_nothing_and_nests) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(3), MM_F64)), *y;
        CHECK(mm_grad_enabled());
        mm_no_grad_push();
        CHECK(!mm_grad_enabled());
        CHECK_OK(mm_exp(x, &y));
        CHECK(y->grad_fn == NULL && !y->requires_grad);
        mm_grad_mode_push(true); /* enable_grad inside no_grad */
        CHECK_OK(mm_exp(x, &y));
        CHECK(y->grad_fn != NULL && y->requires_grad);
        mm_grad_mode_pop();
        CHECK(!mm_grad_enabled());
        CHECK_OK(mm_tensor_fill_(x, 1)); /* in-place init is allowed here */
        mm_no_grad_pop();
        CHECK(mm_grad_enabled());
        CHECK_ERR(
            mm_tensor_fill_(x, 0), MM_EINVAL,
            "fill_: in-place write to a tensor that requires grad (wrap it in "
            "mm_no_grad_push/pop, or write to a detached view)");
    });
}

MM_TEST(detach_stops_gradients_and_shares_storage) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(3), MM_F64)), *d, *y, *l;
        CHECK_OK(mm_detach(x, &d));
        CHECK(d->storage == x->storage && !d->requires_grad &&
              d->grad_fn == NULL);
        CHECK_OK(mm_mul(x, d, &y)); /* d acts as a constant */
        CHECK_OK(mm_sum(y, 0, NULL, false, &l));
        CHECK_OK(mm_backward(l));
        CHECK(at(x->grad, 1) == at(x, 1));
        CHECK_OK(mm_tensor_fill_(d, 0)); /* a detached view is writable */
        CHECK(at(x, 0) == 0);
    });
}

MM_TEST(autograd_errors_are_one_line_messages) {
    POOLED({
        mm_tensor *i, *x = leaf(randn_t(MM_SHAPE(2, 3), MM_F64)), *y;
        CHECK_OK(mm_zeros(MM_SHAPE(2), MM_I64, &i));
        CHECK_ERR(mm_tensor_set_requires_grad(i, true), MM_ETYPE,
                  "requires_grad: only floating-point tensors can require "
                  "gradients (got i64)");
        CHECK_OK(mm_exp(x, &y));
        CHECK_ERR(mm_tensor_set_requires_grad(y, false), MM_EINVAL,
                  "requires_grad: only leaf tensors can change it (this one "
                  "was made by exp; "
                  "use mm_detach)");
        CHECK_ERR(mm_backward(y), MM_EINVAL,
                  "backward: the loss must have one element (got shape [2, "
                  "3]); give a "
                  "gradient with mm_backward_with_grad");
        CHECK_ERR(mm_backward(i), MM_EINVAL,
                  "backward: the loss must have one element (got shape [2]); "
                  "give a gradient "
                  "with mm_backward_with_grad");
        mm_tensor *c;
        CHECK_OK(mm_scalar(1, MM_F64, &c));
        CHECK_ERR(mm_backward(c), MM_EINVAL,
                  "backward: the tensor does not require grad");
        CHECK_ERR(
            mm_backward_with_grad(y, c), MM_EINVAL,
            "backward: gradient shape [] does not match output shape [2, 3]");
    });
}

MM_TEST(integer_outputs_do_not_require_grad) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(3), MM_F32)), *i, *s;
        CHECK_OK(mm_to_dtype(x, MM_I64, &i));
        CHECK(!i->requires_grad && i->grad_fn == NULL);
        CHECK_OK(mm_sum(i, 0, NULL, false, &s));
        CHECK(!s->requires_grad);
    });
}

/* ---- gradcheck catches a wrong backward (and plugins can define ops) ---- */

static int twice_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++)
        ctx->out_shape[d] = x->shape[d];
    return 0;
}

static bool twice_recording; /* what the kernel was told last */

static int twice_reference(mm_op_ctx *ctx) {
    twice_recording = ctx->recording;
    for (int64_t i = 0; i < ctx->out->numel; i++)
        mm_tensor_set_flat(ctx->out, i,
                           2 * mm_tensor_get_flat(ctx->inputs[0], i));
    return 0;
}

static int twice_wrong_backward(const mm_node *n, mm_tensor *g,
                                mm_tensor **gin) {
    (void)n;
    return mm_mul_scalar(g, 3, &gin[0]); /* should be 2 */
}

static const mm_op twice_op = {
    .name = "twice",
    .n_inputs = 1,
    .infer = twice_infer,
    .reference = twice_reference,
    .backward = twice_wrong_backward,
};

static int g_twice(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)c, (void)n;
    return mm_op_apply(&twice_op, 1, in, NULL, out);
}

MM_TEST(gradcheck_reports_a_wrong_backward) {
    POOLED({
        const double xs[2] = {1, 2};
        mm_tensor *x;
        CHECK_OK(mm_from_data(xs, MM_SHAPE(2), MM_F64, &x));
        leaf(x);
        CHECK_ERR(mm_gradcheck(g_twice, NULL, &x, 1, 1e-6, 1e-6, 1e-4),
                  MM_EINVAL,
                  "gradcheck: d out[0] / d input 0 [0]: analytic 3, numeric 2");
        mm_tensor *f = leaf(randn_t(MM_SHAPE(2), MM_F32));
        CHECK_ERR(mm_gradcheck(g_twice, NULL, &f, 1, 1e-6, 1e-6, 1e-4),
                  MM_ETYPE, "gradcheck: input 0 is f32; gradcheck needs f64");
    });
}

MM_TEST(kernels_know_when_a_node_will_be_recorded) {
    POOLED({
        mm_tensor *x = leaf(randn_t(MM_SHAPE(2), MM_F64)), *c, *y;
        CHECK_OK(g_twice(NULL, &x, 1, &y));
        CHECK(twice_recording && y->grad_fn);
        mm_no_grad_push();
        CHECK_OK(g_twice(NULL, &x, 1, &y));
        CHECK(!twice_recording && !y->grad_fn);
        mm_no_grad_pop();
        CHECK_OK(mm_detach(x, &c));
        CHECK_OK(g_twice(NULL, &c, 1, &y));
        CHECK(!twice_recording && !y->grad_fn);
    });
}

MM_TEST_MAIN(MM_CASE(gradcheck_binary_ops_with_broadcasting),
             MM_CASE(gradcheck_only_the_inputs_that_require_grad),
             MM_CASE(gradcheck_unary_ops),
             MM_CASE(gradcheck_sum_and_mean_over_dims),
             MM_CASE(gradcheck_matmul_batched_broadcast_and_1d),
             MM_CASE(gradcheck_views_and_shape_ops),
             MM_CASE(gradcheck_a_non_contiguous_leaf),
             MM_CASE(gradcheck_a_small_layer),
             MM_CASE(leaf_grads_accumulate_across_backward_calls),
             MM_CASE(backward_twice_on_one_graph_doubles_the_grads),
             MM_CASE(grad_flows_through_views_into_the_base),
             MM_CASE(grad_converts_back_through_dtype_changes),
             MM_CASE(no_grad_records_nothing_and_nests),
             MM_CASE(detach_stops_gradients_and_shares_storage),
             MM_CASE(autograd_errors_are_one_line_messages),
             MM_CASE(integer_outputs_do_not_require_grad),
             MM_CASE(gradcheck_reports_a_wrong_backward),
             MM_CASE(kernels_know_when_a_node_will_be_recorded))
