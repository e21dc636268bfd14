/* The nn layer: the module object (names, state dicts, modes), weight
 * initialisation, the layers' forward against the functional ops, gradients
 * reaching parameters, and layers built from YAML through the registry. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_testing.h"

#define PI 3.14159265358979323846

#define CHECK_HAS(haystack, needle)                                            \
    do {                                                                       \
        const char *h_ = (haystack), *n_ = (needle);                           \
        if (!h_ || !strstr(h_, n_)) {                                          \
            fprintf(stderr, "%s:%d: missing text:\n  in:   %s\n  want: %s\n",  \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_);               \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(fabs(a_ - b_) <= (tol))) {                                       \
            fprintf(stderr, "%s:%d: %s = %.9g, want %.9g (tol %g)\n",          \
                    __FILE__, __LINE__, #a, a_, b_, (double)(tol));            \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

/* ---- a model with every kind of slot ------------------------------------ */

/* Block: a parameter, a persistent and a non-persistent buffer, and three
 * children registered in between, as this torch module does:
 *
 *   class Block(nn.Module):
 *       def __init__(self):
 *           super().__init__()
 *           self.fc1 = nn.Linear(4, 8)
 *           self.register_buffer('running', torch.zeros(8))
 *           self.act = nn.ReLU()
 *           self.fc2 = nn.Linear(8, 4, bias=False)
 *           self.register_buffer('scratch', torch.zeros(1), persistent=False)
 *           self.scale = nn.Parameter(torch.ones(4))
 */
static int block_forward(mm_module *m, int n, mm_tensor *const *in,
                         mm_tensor **out) {
    (void)n;
    mm_tensor *h;
    MM_TRY(mm_module_forward1(mm_module_get_child(m, "fc1"), in[0], &h));
    MM_TRY(mm_module_forward1(mm_module_get_child(m, "act"), h, &h));
    MM_TRY(mm_module_forward1(mm_module_get_child(m, "fc2"), h, &h));
    return mm_mul(h, mm_module_get_parameter(m, "scale"), out);
}

static const mm_module_class block_class = {.name = "Block",
                                            .forward = block_forward};

static mm_module *new_block(void) {
    mm_module *b = NULL, *c = NULL;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    CHECK_OK(mm_module_new(&block_class, sizeof(mm_module), &b));
    CHECK_OK(mm_linear_new(4, 8, true, &c));
    CHECK_OK(mm_module_add_child(b, "fc1", c));
    mm_tensor *t;
    CHECK_OK(mm_zeros(MM_SHAPE(8), MM_F32, &t));
    CHECK_OK(mm_module_add_buffer(b, "running", t, true, NULL));
    CHECK_OK(mm_activation_new(&mm_relu_class, &c));
    CHECK_OK(mm_module_add_child(b, "act", c));
    CHECK_OK(mm_linear_new(8, 4, false, &c));
    CHECK_OK(mm_module_add_child(b, "fc2", c));
    CHECK_OK(mm_zeros(MM_SHAPE(1), MM_F32, &t));
    CHECK_OK(mm_module_add_buffer(b, "scratch", t, false, NULL));
    CHECK_OK(mm_ones(MM_SHAPE(4), MM_F32, &t));
    CHECK_OK(mm_module_add_parameter(b, "scale", t, NULL));
    mm_pool_close(pool);
    return b;
}

/* model = nn.Sequential(nn.Linear(3, 4), Block(),
 *                       nn.ModuleList([Block(), nn.Identity()]),
 *                       nn.Flatten(), nn.Dropout()) */
static mm_module *new_model(void) {
    mm_module *list_items[2], *items[5], *m = NULL;
    list_items[0] = new_block();
    CHECK_OK(mm_identity_new(&list_items[1]));
    CHECK_OK(mm_linear_new(3, 4, true, &items[0]));
    items[1] = new_block();
    CHECK_OK(mm_module_list_new(2, list_items, &items[2]));
    CHECK_OK(mm_flatten_new(1, -1, &items[3]));
    CHECK_OK(mm_dropout_new(0.5, &items[4]));
    CHECK_OK(mm_sequential_new(5, items, &m));
    return m;
}

typedef struct names {
    int n;
    char s[64][64];
} names;

static int collect_tensor(const char *name, mm_tensor *t, void *user) {
    (void)t;
    names *ns = user;
    snprintf(ns->s[ns->n++], 64, "%s", name);
    return 0;
}

static int collect_module(const char *name, mm_module *m, void *user) {
    (void)m;
    return collect_tensor(name, NULL, user);
}

static void check_names(const names *got, const char *const *want, int n) {
    CHECK_INT(got->n, n);
    for (int i = 0; i < n && i < got->n; i++)
        CHECK_STR(got->s[i], want[i]);
}

/* The expected lists below are what torch 2.x (Debian's python3-torch)
 * prints for the model above: list(model.state_dict().keys()),
 * [n for n, _ in model.named_parameters()], ...named_buffers(),
 * ...named_modules(). */
MM_TEST(names_and_order_match_torch) {
    mm_module *m = new_model();
    static const char *const sd_keys[] = {
        "0.weight",     "0.bias",         "1.scale",      "1.running",
        "1.fc1.weight", "1.fc1.bias",     "1.fc2.weight", "2.0.scale",
        "2.0.running",  "2.0.fc1.weight", "2.0.fc1.bias", "2.0.fc2.weight"};
    static const char *const params[] = {
        "0.weight",     "0.bias",        "1.scale",   "1.fc1.weight",
        "1.fc1.bias",   "1.fc2.weight",  "2.0.scale", "2.0.fc1.weight",
        "2.0.fc1.bias", "2.0.fc2.weight"};
    static const char *const buffers[] = {"1.running", "1.scratch",
                                          "2.0.running", "2.0.scratch"};
    static const char *const modules[] = {
        "",    "0",       "1",       "1.fc1",   "1.act", "1.fc2", "2",
        "2.0", "2.0.fc1", "2.0.act", "2.0.fc2", "2.1",   "3",     "4"};
    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(m, &sd));
    names got = {0};
    for (size_t i = 0; i < sd.n; i++)
        collect_tensor(sd.items[i].name, NULL, &got);
    check_names(&got, sd_keys, 12);
    got.n = 0;
    CHECK_OK(mm_module_named_parameters(m, collect_tensor, &got));
    check_names(&got, params, 10);
    got.n = 0;
    CHECK_OK(mm_module_named_buffers(m, collect_tensor, &got));
    check_names(&got, buffers, 4);
    got.n = 0;
    CHECK_OK(mm_module_named_modules(m, collect_module, &got));
    check_names(&got, modules, 14);
    /* sum(p.numel() for p in model.parameters()) */
    CHECK_INT(mm_module_num_parameters(m, false), 168);
    CHECK(mm_module_find_tensor(m, "2.0.fc1.bias") ==
          ((mm_nn_linear *)mm_module_find(m, "2.0.fc1"))->bias);
    CHECK(mm_module_find_tensor(m, "1.scratch") != NULL);
    CHECK(mm_module_find_tensor(m, "1.fc1") == NULL);
    CHECK(mm_module_find(m, "2.5") == NULL);
    mm_state_dict_clear(&sd);
    mm_module_free(m);
}

/* print(model) in torch, the Block lines included. */
MM_TEST(repr_matches_torch_print) {
    mm_module *m = new_model();
    char *r = mm_module_repr(m);
    CHECK_STR(r,
              "Sequential(\n"
              "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
              "  (1): Block(\n"
              "    (fc1): Linear(in_features=4, out_features=8, bias=True)\n"
              "    (act): ReLU()\n"
              "    (fc2): Linear(in_features=8, out_features=4, bias=False)\n"
              "  )\n"
              "  (2): ModuleList(\n"
              "    (0): Block(\n"
              "      (fc1): Linear(in_features=4, out_features=8, bias=True)\n"
              "      (act): ReLU()\n"
              "      (fc2): Linear(in_features=8, out_features=4, bias=False)\n"
              "    )\n"
              "    (1): Identity()\n"
              "  )\n"
              "  (3): Flatten(start_dim=1, end_dim=-1)\n"
              "  (4): Dropout(p=0.5, inplace=False)\n"
              ")");
    free(r);
    mm_module_free(m);
}

MM_TEST(state_dict_shares_storage_and_is_detached) {
    mm_module *m = new_model();
    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(m, &sd));
    mm_tensor *w = mm_state_dict_get(&sd, "0.weight");
    CHECK(w && !w->requires_grad && w->grad_fn == NULL);
    mm_nn_linear *l = (mm_nn_linear *)mm_module_find(m, "0");
    CHECK(w && w->storage == l->weight->storage);
    CHECK(l->weight->requires_grad);
    CHECK_ERR(mm_state_dict_add(&sd, "0.weight", w), MM_EEXIST,
              "state_dict: key '0.weight' already present");
    mm_state_dict_clear(&sd);
    mm_module_free(m);
}

static double sum_abs_diff(mm_tensor *a, mm_tensor *b) {
    double s = 0;
    for (int64_t i = 0; i < a->numel; i++)
        s += fabs(at(a, i) - at(b, i));
    return s;
}

MM_TEST(load_state_dict_copies_every_tensor) {
    mm_manual_seed(1);
    mm_module *a = new_model();
    mm_manual_seed(2);
    mm_module *b = new_model();
    mm_tensor *wa = mm_module_find_tensor(a, "2.0.fc1.weight");
    mm_tensor *wb = mm_module_find_tensor(b, "2.0.fc1.weight");
    CHECK(sum_abs_diff(wa, wb) > 0);
    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(a, &sd));
    mm_load_report r;
    CHECK_OK(mm_module_load_state_dict(b, &sd, true, &r));
    CHECK_INT(r.n_missing + r.n_unexpected + r.n_mismatched, 0);
    CHECK(sum_abs_diff(wa, wb) == 0);
    CHECK(mm_module_find_tensor(b, "2.0.fc1.weight") == wb); /* in place */
    CHECK(wb->requires_grad);
    mm_load_report_free(&r);
    mm_state_dict_clear(&sd);
    mm_module_free(a);
    mm_module_free(b);
}

/* A state dict of `m` without `drop` and with `extra` added. */
static void partial_sd(mm_module *m, const char *drop, const char *extra,
                       mm_state_dict *out) {
    mm_state_dict full = {0};
    CHECK_OK(mm_module_state_dict(m, &full));
    for (size_t i = 0; i < full.n; i++)
        if (!drop || strcmp(full.items[i].name, drop) != 0)
            CHECK_OK(mm_state_dict_add(out, full.items[i].name,
                                       full.items[i].tensor));
    if (extra)
        CHECK_OK(mm_state_dict_add(out, extra, full.items[0].tensor));
    mm_state_dict_clear(&full);
}

MM_TEST(load_state_dict_strict_reports_missing_and_unexpected_keys) {
    mm_module *m = new_model();
    mm_state_dict sd = {0};
    mm_load_report r;
    partial_sd(m, "1.fc1.bias", NULL, &sd);
    CHECK_ERR(mm_module_load_state_dict(m, &sd, true, &r), MM_EINVAL,
              "load_state_dict: missing key '1.fc1.bias'");
    CHECK_INT(r.n_missing, 1);
    mm_load_report_free(&r);
    CHECK_OK(mm_module_load_state_dict(m, &sd, false, &r));
    CHECK_INT(r.n_missing, 1);
    CHECK_STR(r.missing[0], "1.fc1.bias");
    mm_load_report_free(&r);
    mm_state_dict_clear(&sd);

    partial_sd(m, "0.bias", "head.fc.weight", &sd);
    CHECK_ERR(mm_module_load_state_dict(m, &sd, true, NULL), MM_EINVAL,
              "load_state_dict: missing key '0.bias' (and 1 more problem)");
    CHECK_OK(mm_module_load_state_dict(m, &sd, false, &r));
    CHECK_INT(r.n_unexpected, 1);
    CHECK_STR(r.unexpected[0], "head.fc.weight");
    mm_load_report_free(&r);
    mm_state_dict_clear(&sd);

    partial_sd(m, NULL, "1.scratch", &sd); /* a non-persistent buffer */
    CHECK_ERR(mm_module_load_state_dict(m, &sd, true, NULL), MM_EINVAL,
              "load_state_dict: unexpected key '1.scratch'");
    mm_state_dict_clear(&sd);
    mm_module_free(m);
}

MM_TEST(load_state_dict_shape_mismatch_fails_in_both_modes) {
    mm_module *m = new_model();
    mm_module *other;
    CHECK_OK(mm_linear_new(5, 4, true, &other)); /* weight [4, 5] */
    mm_state_dict sd = {0};
    partial_sd(m, "0.weight", NULL, &sd);
    CHECK_OK(
        mm_state_dict_add(&sd, "0.weight", ((mm_nn_linear *)other)->weight));
    mm_tensor *b0 = mm_module_find_tensor(m, "0.bias");
    double before = at(b0, 0);
    mm_tensor *src = mm_state_dict_get(&sd, "0.bias");
    mm_no_grad_push();
    CHECK_OK(mm_tensor_fill_(((mm_nn_linear *)other)->bias, 7.0));
    mm_no_grad_pop();
    (void)src;
    const char *msg = "load_state_dict: size mismatch for '0.weight': copying "
                      "a param with shape [4, 5] from checkpoint, the shape "
                      "in the current model is [4, 3]";
    CHECK_ERR(mm_module_load_state_dict(m, &sd, true, NULL), MM_EINVAL, msg);
    mm_load_report r;
    CHECK_ERR(mm_module_load_state_dict(m, &sd, false, &r), MM_EINVAL, msg);
    CHECK_INT(r.n_mismatched, 1);
    mm_load_report_free(&r);
    CHECK(at(b0, 0) == before); /* nothing copied */
    mm_state_dict_clear(&sd);
    mm_module_free(other);
    mm_module_free(m);
}

MM_TEST(load_state_dict_converts_dtype) {
    mm_module *m;
    CHECK_OK(mm_linear_new(2, 1, true, &m));
    mm_state_dict sd = {0};
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *w, *b;
    CHECK_OK(mm_from_data((double[]){1.5, -2}, MM_SHAPE(1, 2), MM_F64, &w));
    CHECK_OK(mm_from_data((double[]){0.25}, MM_SHAPE(1), MM_F64, &b));
    CHECK_OK(mm_state_dict_add(&sd, "weight", w));
    CHECK_OK(mm_state_dict_add(&sd, "bias", b));
    mm_pool_close(pool);
    CHECK_OK(mm_module_load_state_dict(m, &sd, true, NULL));
    mm_nn_linear *l = (mm_nn_linear *)m;
    CHECK(l->weight->dtype == MM_F32);
    CHECK(at(l->weight, 0) == 1.5 && at(l->weight, 1) == -2 &&
          at(l->bias, 0) == 0.25);
    mm_state_dict_clear(&sd);
    mm_module_free(m);
}

static int check_mode(const char *name, mm_module *m, void *user) {
    (void)name;
    return m->training == *(bool *)user ? 0 : 1;
}

MM_TEST(train_and_eval_propagate_to_every_descendant) {
    mm_module *m = new_model();
    bool want = true;
    CHECK_INT(mm_module_named_modules(m, check_mode, &want), 0);
    mm_module_eval(m);
    want = false;
    CHECK_INT(mm_module_named_modules(m, check_mode, &want), 0);
    mm_module_train(mm_module_find(m, "2"), true);
    CHECK(mm_module_find(m, "2.0.fc1")->training);
    CHECK(!mm_module_find(m, "1.fc1")->training);
    mm_module_train(m, true);
    want = true;
    CHECK_INT(mm_module_named_modules(m, check_mode, &want), 0);
    mm_module_free(m);
}

MM_TEST(registration_rejects_duplicates_and_bad_names) {
    mm_module *m = new_block(), *c;
    POOLED({
        mm_tensor *t;
        CHECK_OK(mm_zeros(MM_SHAPE(2), MM_F32, &t));
        CHECK_ERR(mm_module_add_parameter(m, "fc1", t, NULL), MM_EEXIST,
                  "Block: attribute 'fc1' already exists");
        CHECK_ERR(mm_module_add_buffer(m, "a.b", t, true, NULL), MM_EINVAL,
                  "Block: buffer name 'a.b' must be non-empty and contain "
                  "no '.'");
        mm_tensor *i;
        CHECK_OK(mm_zeros(MM_SHAPE(2), MM_I64, &i));
        CHECK_ERR(mm_module_add_parameter(m, "count", i, NULL), MM_ETYPE,
                  "Block: parameter 'count': requires_grad: only "
                  "floating-point tensors can require gradients (got i64)");
    });
    CHECK_OK(mm_identity_new(&c));
    CHECK_ERR(mm_module_add_child(m, "scale", c), MM_EEXIST,
              "Block: attribute 'scale' already exists"); /* c freed */
    mm_module_free(m);
}

/* ---- forward ------------------------------------------------------------- */

MM_TEST(linear_forward_matches_torch_and_matmul) {
    POOLED({
        mm_module *m;
        CHECK_OK(mm_linear_new(3, 2, true, &m));
        mm_nn_linear *l = (mm_nn_linear *)m;
        mm_tensor *w, *b, *x, *y, *y2, *ref;
        CHECK_OK(mm_from_data((float[]){-0.2f, -0.1f, 0.0f, 0.1f, 0.2f, 0.3f},
                              MM_SHAPE(2, 3), MM_F32, &w));
        CHECK_OK(
            mm_from_data((float[]){0.5f, -0.25f}, MM_SHAPE(2), MM_F32, &b));
        mm_no_grad_push();
        CHECK_OK(mm_tensor_copy_(l->weight, w));
        CHECK_OK(mm_tensor_copy_(l->bias, b));
        mm_no_grad_pop();
        CHECK_OK(mm_from_data((float[]){1, 2, 3, -1, 0.5f, 0.25f},
                              MM_SHAPE(2, 3), MM_F32, &x));
        CHECK_OK(mm_linear_forward(m, x, &y));
        /* torch: l = nn.Linear(3, 2); l.weight = arange(6).reshape(2, 3) / 10
         * - 0.2; l.bias = [0.5, -0.25]; l(x).tolist() */
        const float want[] = {0.09999999403953552f, 1.1500000953674316f,
                              0.6499999761581421f, -0.17500001192092896f};
        for (int i = 0; i < 4; i++)
            CHECK_NEAR(at(y, i), want[i], 1e-6);
        mm_tensor *wt;
        CHECK_OK(mm_transpose(l->weight, 0, 1, &wt));
        CHECK_OK(mm_matmul(x, wt, &ref));
        CHECK_OK(mm_add(ref, l->bias, &ref));
        CHECK_OK(mm_module_forward1(m, x, &y2));
        CHECK(mm_allclose(y2, ref, 0, 0, NULL));
        /* batch dims: (2, 5, 3) -> (2, 5, 2) */
        mm_tensor *x3 = randn_t(MM_SHAPE(2, 5, 3), MM_F32), *y3;
        CHECK_OK(mm_linear_forward(m, noncontig(x3), &y3));
        CHECK(y3->ndim == 3 && y3->shape[2] == 2);
        CHECK_ERR(mm_linear_forward(m, y3, &y), MM_EINVAL,
                  "linear: input of shape [2, 5, 2], expected last dim 3 "
                  "(in_features)");
        mm_module *r;
        CHECK_OK(mm_activation_new(&mm_relu_class, &r));
        CHECK_ERR(mm_linear_forward(r, x, &y), MM_EINVAL,
                  "linear: module is a ReLU, not a Linear");
        mm_module_free(r);
        mm_module_free(m);
    });
}

MM_TEST(activations_identity_and_flatten_match_their_ops) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(2, 3, 4), MM_F32), *y, *ref;
        const mm_module_class *cls[] = {&mm_relu_class, &mm_sigmoid_class,
                                        &mm_tanh_class};
        int (*fn[])(mm_tensor *, mm_tensor **) = {mm_relu, mm_sigmoid, mm_tanh};
        for (int i = 0; i < 3; i++) {
            mm_module *m;
            CHECK_OK(mm_activation_new(cls[i], &m));
            CHECK_OK(mm_module_forward1(m, x, &y));
            CHECK_OK(fn[i](x, &ref));
            CHECK(mm_allclose(y, ref, 0, 0, NULL));
            mm_module_free(m);
        }
        mm_module *id, *fl;
        CHECK_OK(mm_identity_new(&id));
        CHECK_OK(mm_module_forward1(id, x, &y));
        CHECK(y == x);
        CHECK_OK(mm_flatten_new(1, -1, &fl));
        CHECK_OK(mm_module_forward1(fl, x, &y));
        CHECK(y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 12);
        mm_module_free(id);
        mm_module_free(fl);
    });
}

MM_TEST(identity_result_is_owned_without_a_pool) {
    mm_module *id;
    CHECK_OK(mm_identity_new(&id));
    mm_tensor *x, *y;
    CHECK_OK(mm_zeros(MM_SHAPE(2), MM_F32, &x)); /* owned: no pool */
    CHECK_OK(mm_module_forward1(id, x, &y));
    CHECK(y == x && x->refs == 2);
    mm_tensor_release(y);
    mm_tensor_release(x);
    mm_module_free(id);
}

MM_TEST(sequential_chains_and_names_the_failing_child) {
    POOLED({
        mm_module *items[3], *seq;
        CHECK_OK(mm_linear_new(4, 3, true, &items[0]));
        CHECK_OK(mm_activation_new(&mm_tanh_class, &items[1]));
        CHECK_OK(mm_linear_new(3, 2, true, &items[2]));
        CHECK_OK(mm_sequential_new(3, items, &seq));
        mm_tensor *x = randn_t(MM_SHAPE(5, 4), MM_F32), *y, *h;
        CHECK_OK(mm_sequential_forward(seq, x, &y));
        CHECK_OK(mm_linear_forward(items[0], x, &h));
        CHECK_OK(mm_tanh(h, &h));
        CHECK_OK(mm_linear_forward(items[2], h, &h));
        CHECK(mm_allclose(y, h, 0, 0, NULL));
        mm_tensor *bad = randn_t(MM_SHAPE(5, 3), MM_F32);
        CHECK_ERR(mm_module_forward1(seq, bad, &y), MM_EINVAL,
                  "0: linear: input of shape [5, 3], expected last dim 4 "
                  "(in_features)");
        mm_module *list;
        CHECK_OK(mm_module_list_new(0, NULL, &list));
        CHECK_ERR(mm_module_forward1(list, x, &y), MM_EUNSUPPORTED,
                  "ModuleList has no forward");
        mm_module *empty;
        CHECK_OK(mm_sequential_new(0, NULL, &empty));
        CHECK_OK(mm_module_forward1(empty, x, &y));
        CHECK(y == x);
        mm_module_free(empty);
        mm_module_free(list);
        mm_module_free(seq);
    });
}

MM_TEST(dropout_scales_kept_elements_and_is_identity_in_eval) {
    POOLED({
        mm_module *d;
        CHECK_OK(mm_dropout_new(0.25, &d));
        mm_tensor *x, *y;
        CHECK_OK(mm_full(MM_SHAPE(100, 100), 2.0, MM_F32, &x));
        CHECK_OK(mm_dropout_forward(d, x, &y));
        int64_t zeros = 0;
        bool ok = true;
        for (int64_t i = 0; i < y->numel; i++) {
            double v = at(y, i);
            zeros += v == 0;
            ok &= v == 0 || fabs(v - 2.0 / 0.75) < 1e-6;
        }
        CHECK(ok);
        CHECK_NEAR(zeros / 10000.0, 0.25, 0.02);
        /* the functional op with the same generator state */
        mm_tensor *ref;
        mm_manual_seed(11);
        CHECK_OK(mm_module_forward1(d, x, &y));
        mm_manual_seed(11);
        CHECK_OK(mm_dropout(x, 0.25, true, NULL, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        mm_module_eval(d);
        CHECK_OK(mm_dropout_forward(d, x, &y));
        CHECK(y == x);
        mm_module_free(d);
        CHECK_OK(mm_dropout_new(1.0, &d));
        CHECK_OK(mm_dropout_forward(d, x, &y));
        CHECK(at(y, 0) == 0 && at(y, 9999) == 0);
        mm_module_free(d);
        CHECK_ERR(mm_dropout_new(1.5, &d), MM_EINVAL,
                  "Dropout: probability has to be between 0 and 1, but got "
                  "1.5");
    });
}

MM_TEST(drop_path_zeroes_whole_samples) {
    POOLED({
        mm_tensor *x, *y;
        CHECK_OK(mm_ones(MM_SHAPE(400, 3, 2), MM_F32, &x));
        CHECK_OK(mm_drop_path(x, 0.5, true, true, NULL, &y));
        int dropped = 0;
        bool ok = true;
        for (int64_t b = 0; b < 400; b++) {
            double v0 = at(y, b * 6);
            dropped += v0 == 0;
            ok &= v0 == 0 || v0 == 2.0;
            for (int k = 1; k < 6; k++)
                ok &= at(y, b * 6 + k) == v0;
        }
        CHECK(ok);
        CHECK_NEAR(dropped / 400.0, 0.5, 0.1);
        CHECK_OK(mm_drop_path(x, 0.5, true, false, NULL, &y));
        for (int64_t i = 0; i < y->numel; i++)
            ok &= at(y, i) == 0 || at(y, i) == 1.0;
        CHECK(ok);
        CHECK_OK(mm_drop_path(x, 0.5, false, true, NULL, &y));
        CHECK(y == x);
        mm_module *d;
        CHECK_OK(mm_drop_path_new(0.1, true, &d));
        mm_module_eval(d);
        CHECK_OK(mm_module_forward1(d, x, &y));
        CHECK(y == x);
        mm_module_free(d);
    });
}

/* ---- gradients ------------------------------------------------------------
 */

typedef struct mlp {
    mm_module *seq;
} mlp;

/* inputs: x, then the stack's parameters (the module's own tensors, so the
 * perturbations of gradcheck reach the forward). */
static int g_mlp(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    return mm_module_forward1(((mlp *)c)->seq, in[0], out);
}

static int collect_params(const char *name, mm_tensor *t, void *user) {
    (void)name;
    mm_tensor ***p = user;
    *(*p)++ = t;
    return 0;
}

MM_TEST(gradcheck_linear_relu_linear_in_float64) {
    POOLED({
        mm_module *items[3], *seq;
        CHECK_OK(mm_linear_new(3, 4, true, &items[0]));
        CHECK_OK(mm_activation_new(&mm_relu_class, &items[1]));
        CHECK_OK(mm_linear_new(4, 2, true, &items[2]));
        CHECK_OK(mm_sequential_new(3, items, &seq));
        CHECK_OK(mm_module_to_dtype(seq, MM_F64));
        mm_nn_linear *l0 = (mm_nn_linear *)items[0];
        CHECK(l0->weight->dtype == MM_F64 && l0->weight->requires_grad);
        CHECK(mm_module_get_parameter(items[0], "weight") == l0->weight);
        mm_tensor *in[5], **p = in + 1;
        in[0] = leaf(randn_t(MM_SHAPE(5, 3), MM_F64));
        CHECK_OK(mm_module_named_parameters(seq, collect_params, &p));
        CHECK(p == in + 5);
        mlp c = {seq};
        CHECK_GRAD(g_mlp, &c, in, 5);
        mm_module_free(seq);
    });
}

MM_TEST(backward_reaches_every_parameter_and_zero_grad_clears) {
    mm_module *m = new_model();
    mm_module_eval(m); /* no dropout */
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    {
        mm_tensor *x = randn_t(MM_SHAPE(2, 3), MM_F32), *h, *loss;
        mm_module *seq_items[2] = {mm_module_find(m, "0"),
                                   mm_module_find(m, "1")};
        CHECK_OK(mm_module_forward1(seq_items[0], x, &h));
        CHECK_OK(mm_module_forward1(seq_items[1], h, &h));
        CHECK_OK(mm_module_forward1(mm_module_find(m, "2.0"), h, &h));
        CHECK_OK(mm_sum(h, 0, NULL, false, &loss));
        CHECK_OK(mm_backward(loss));
    }
    mm_pool_close(pool); /* the grads stay: the parameters own them */
    const char *with_grad[] = {"0.weight", "0.bias", "1.scale", "1.fc1.weight",
                               "2.0.fc2.weight"};
    for (int i = 0; i < 5; i++)
        CHECK(mm_tensor_grad(mm_module_find_tensor(m, with_grad[i])) != NULL);
    mm_module_zero_grad(m);
    CHECK(mm_tensor_grad(mm_module_find_tensor(m, "0.weight")) == NULL);
    mm_module_free(m);
}

/* ---- init -----------------------------------------------------------------
 */

static void moments(const mm_tensor *t, double *mean, double *var, double *lo,
                    double *hi) {
    double s = 0, s2 = 0;
    *lo = INFINITY, *hi = -INFINITY;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = at(t, i);
        s += v, s2 += v * v;
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
    *mean = s / t->numel;
    *var = s2 / t->numel - *mean * *mean;
}

/* gains from torch: [nn.init.calculate_gain(n) for n in ['linear', 'conv2d',
 * 'sigmoid', 'tanh', 'relu', 'selu']], calculate_gain('leaky_relu'),
 * calculate_gain('leaky_relu', 0.2), calculate_gain('leaky_relu', sqrt(5)) */
MM_TEST(calculate_gain_and_fans_match_torch) {
    const char *nl[] = {"linear", "conv2d", "sigmoid", "tanh", "relu", "selu"};
    const double want[] = {1,   1, 1, 1.6666666666666667, 1.4142135623730951,
                           0.75};
    double g;
    for (int i = 0; i < 6; i++) {
        CHECK_OK(mm_init_calculate_gain(nl[i], NAN, &g));
        CHECK_NEAR(g, want[i], 1e-15);
    }
    CHECK_OK(mm_init_calculate_gain("leaky_relu", NAN, &g));
    CHECK_NEAR(g, 1.4141428569978354, 1e-15);
    CHECK_OK(mm_init_calculate_gain("leaky_relu", 0.2, &g));
    CHECK_NEAR(g, 1.3867504905630728, 1e-15);
    CHECK_OK(mm_init_calculate_gain("leaky_relu", sqrt(5), &g));
    CHECK_NEAR(g, 0.5773502691896257, 1e-15);
    CHECK_ERR(mm_init_calculate_gain("swish", NAN, &g), MM_EINVAL,
              "calculate_gain: unsupported nonlinearity 'swish'");
    POOLED({
        mm_tensor *t;
        int64_t fi, fo;
        /* torch: _calculate_fan_in_and_fan_out(torch.empty(8, 3, 5, 7)) */
        CHECK_OK(mm_empty(MM_SHAPE(8, 3, 5, 7), MM_F32, &t));
        CHECK_OK(mm_init_calculate_fan(t, &fi, &fo));
        CHECK_INT(fi, 105);
        CHECK_INT(fo, 280);
        CHECK_OK(mm_empty(MM_SHAPE(8), MM_F32, &t));
        CHECK_ERR(mm_init_kaiming_uniform_(t, 0, "fan_in", "relu", NULL),
                  MM_EINVAL,
                  "kaiming_uniform_: calculate_fan: fan in and fan out can "
                  "not be computed for a tensor with fewer than 2 dims (got "
                  "1)");
    });
}

MM_TEST(init_distributions_have_torch_moments) {
    POOLED({
        mm_tensor *t;
        double mean, var, lo, hi;
        /* conv weight (64, 32, 3, 3): fan_in 288, fan_out 576 */
        CHECK_OK(mm_empty(MM_SHAPE(64, 32, 3, 3), MM_F32, &t));
        CHECK_OK(mm_init_uniform_(t, -1, 3, NULL));
        moments(t, &mean, &var, &lo, &hi);
        CHECK_NEAR(mean, 1.0, 0.03);
        CHECK_NEAR(var, 16.0 / 12, 0.03);
        CHECK(lo >= -1 && hi < 3);
        CHECK_OK(mm_init_normal_(t, 0.5, 2, NULL));
        moments(t, &mean, &var, &lo, &hi);
        CHECK_NEAR(mean, 0.5, 0.04);
        CHECK_NEAR(var, 4.0, 0.1);
        CHECK_OK(mm_init_constant_(t, 0.3));
        moments(t, &mean, &var, &lo, &hi);
        CHECK(lo == hi && fabs(lo - 0.3) < 1e-7);
        CHECK_OK(mm_init_ones_(t));
        CHECK(at(t, 5) == 1);
        CHECK_OK(mm_init_zeros_(t));
        CHECK(at(t, 5) == 0);

        /* kaiming_uniform_(relu, fan_in): bound sqrt(6 / 288) */
        double bound = sqrt(6.0 / 288);
        CHECK_OK(mm_init_kaiming_uniform_(t, 0, "fan_in", "relu", NULL));
        moments(t, &mean, &var, &lo, &hi);
        CHECK(lo >= -bound && hi <= bound && hi > 0.98 * bound);
        CHECK_NEAR(var, 2.0 / 288, 0.03 * 2.0 / 288);
        /* kaiming_normal_(fan_out, relu): std sqrt(2 / 576) */
        CHECK_OK(mm_init_kaiming_normal_(t, 0, "fan_out", "relu", NULL));
        moments(t, &mean, &var, &lo, &hi);
        CHECK_NEAR(mean, 0, 0.002);
        CHECK_NEAR(var, 2.0 / 576, 0.03 * 2.0 / 576);
        CHECK_ERR(mm_init_kaiming_normal_(t, 0, "fan_avg", "relu", NULL),
                  MM_EINVAL,
                  "kaiming_normal_: mode 'fan_avg' is not supported (use "
                  "'fan_in' or 'fan_out')");
        /* xavier_uniform_(gain 2): a = 2 sqrt(6 / (288 + 576)) */
        double a = 2 * sqrt(6.0 / 864);
        CHECK_OK(mm_init_xavier_uniform_(t, 2.0, NULL));
        moments(t, &mean, &var, &lo, &hi);
        CHECK(lo >= -a && hi <= a && hi > 0.98 * a);
        CHECK_NEAR(var, a * a / 3, 0.03 * a * a / 3);
        CHECK_OK(mm_init_xavier_normal_(t, 1.0, NULL));
        moments(t, &mean, &var, &lo, &hi);
        CHECK_NEAR(var, 2.0 / 864, 0.03 * 2.0 / 864);

        /* trunc_normal_(mean 1, std 2, a -1, b 5): the normal truncated at
         * -1 and +2 sigma; its moments in closed form */
        CHECK_OK(mm_init_trunc_normal_(t, 1, 2, -1, 5, NULL));
        moments(t, &mean, &var, &lo, &hi);
        double al = -1, be = 2;
        double pa = exp(-al * al / 2) / sqrt(2 * PI),
               pb = exp(-be * be / 2) / sqrt(2 * PI);
        double z = 0.5 * (erf(be / sqrt(2)) - erf(al / sqrt(2)));
        double tmean = 1 + 2 * (pa - pb) / z;
        double tvar = 4 * (1 + (al * pa - be * pb) / z -
                           ((pa - pb) / z) * ((pa - pb) / z));
        CHECK(lo >= -1 && hi <= 5);
        CHECK_NEAR(mean, tmean, 0.03);
        CHECK_NEAR(var, tvar, 0.04 * tvar);

        /* f64 and a non-contiguous view work too */
        mm_tensor *d, *v;
        CHECK_OK(mm_zeros(MM_SHAPE(40, 50), MM_F64, &d));
        CHECK_OK(mm_transpose(d, 0, 1, &v));
        CHECK_OK(mm_init_trunc_normal_(v, 0, 1, -2, 2, NULL));
        moments(d, &mean, &var, &lo, &hi);
        CHECK(lo >= -2 && hi <= 2 && var > 0.6 && var < 0.95);
        mm_tensor *i;
        CHECK_OK(mm_zeros(MM_SHAPE(4, 4), MM_I64, &i));
        CHECK_ERR(mm_init_normal_(i, 0, 1, NULL), MM_EINVAL,
                  "normal_: expected a floating-point tensor, got i64");
    });
}

MM_TEST(init_works_on_parameters_under_grad_mode) {
    mm_module *m;
    CHECK_OK(mm_linear_new(2, 2, true, &m));
    CHECK(mm_grad_enabled());
    CHECK_OK(mm_init_xavier_uniform_(((mm_nn_linear *)m)->weight, 1, NULL));
    CHECK_OK(mm_init_zeros_(((mm_nn_linear *)m)->bias));
    CHECK(mm_grad_enabled());
    mm_module_free(m);
}

/* torch's Linear.reset_parameters: weight and bias U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)). */
MM_TEST(linear_default_init_is_torch_reset_parameters) {
    mm_module *m;
    CHECK_OK(mm_linear_new(100, 200, true, &m));
    mm_nn_linear *l = (mm_nn_linear *)m;
    double mean, var, lo, hi, bound = 0.1;
    moments(l->weight, &mean, &var, &lo, &hi);
    CHECK(lo >= -bound && hi <= bound && hi > 0.99 * bound);
    CHECK_NEAR(var, bound * bound / 3, 0.03 * bound * bound / 3);
    moments(l->bias, &mean, &var, &lo, &hi);
    CHECK(lo >= -bound && hi <= bound && lo < hi);
    /* the seed makes it reproducible */
    mm_manual_seed(7);
    mm_module *a, *b;
    CHECK_OK(mm_linear_new(3, 3, true, &a));
    mm_manual_seed(7);
    CHECK_OK(mm_linear_new(3, 3, true, &b));
    CHECK(sum_abs_diff(((mm_nn_linear *)a)->weight,
                       ((mm_nn_linear *)b)->weight) == 0);
    mm_module_free(a);
    mm_module_free(b);
    mm_module_free(m);
}

/* ---- registry -------------------------------------------------------------
 */

static mm_value *yaml(const char *text) {
    mm_value *v = NULL;
    if (mm_yaml_parse(text, strlen(text), "test.yaml", &v) != MM_OK) {
        fprintf(stderr, "bad test yaml: %s\n", mm_error_message());
        exit(1);
    }
    return v;
}

static int build(const char *text, mm_module **out) {
    mm_value *node = yaml(text);
    void *obj = NULL;
    int rc = mm_registry_build(MM_MODELS, node, NULL, "model", NULL, &obj);
    mm_value_release(node);
    *out = obj;
    return rc;
}

MM_TEST(layers_build_from_yaml) {
    mm_module *m = NULL;
    CHECK_OK(build("type: Sequential\n"
                   "modules:\n"
                   "  - {type: Linear, in_features: 3, out_features: 4}\n"
                   "  - {type: ReLU, inplace: true}\n"
                   "  - {type: Dropout, p: 0.1}\n"
                   "  - {type: mm.Linear, in_features: 4, out_features: 2,"
                   " bias: false}\n"
                   "  - {type: ModuleList, modules: [{type: Identity},"
                   " {type: Sigmoid}, {type: Tanh}, {type: DropPath},"
                   " {type: Flatten, start_dim: 0}]}\n",
                   &m));
    if (!m)
        return;
    char *r = mm_module_repr(m);
    CHECK_STR(r, "Sequential(\n"
                 "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
                 "  (1): ReLU(inplace=True)\n"
                 "  (2): Dropout(p=0.1, inplace=False)\n"
                 "  (3): Linear(in_features=4, out_features=2, bias=False)\n"
                 "  (4): ModuleList(\n"
                 "    (0): Identity()\n"
                 "    (1): Sigmoid()\n"
                 "    (2): Tanh()\n"
                 "    (3): DropPath(drop_prob=0.1)\n"
                 "    (4): Flatten(start_dim=0, end_dim=-1)\n"
                 "  )\n"
                 ")");
    free(r);
    CHECK_INT(mm_module_num_parameters(m, false), 3 * 4 + 4 + 4 * 2);
    mm_module_free(m);
}

MM_TEST(layer_schema_errors_are_one_line) {
    mm_module *m = NULL;
    CHECK_ERR(build("{type: Linear, in_features: 3, out_feature: 4}", &m),
              MM_EINVAL,
              "test.yaml:1:32: model: mm.Linear has no parameter "
              "'out_feature' (did you mean 'out_features'?)");
    CHECK_ERR(build("{type: Linear, in_features: 3}", &m), MM_EINVAL,
              "test.yaml:1:1: model: mm.Linear needs parameter "
              "'out_features' (size of each output sample)");
    CHECK_ERR(build("{type: Linear, in_features: 3, out_features: 2,"
                    " bias: 1}",
                    &m),
              MM_ETYPE,
              "test.yaml:1:55: model: mm.Linear expects bool for 'bias', got "
              "int 1");
    CHECK_ERR(build("{type: Sequential, modules: [{type: Dropout, p: 2}]}", &m),
              MM_EINVAL,
              "test.yaml:1:30: model.modules.0 (mm.Dropout): Dropout: "
              "probability has to be between 0 and 1, but got 2");
    CHECK_ERR(build("{type: Sequential, modules: [{type: Lnear}]}", &m),
              MM_ENOENT,
              "test.yaml:1:37: model.modules.0: no MODELS component 'Lnear' "
              "in scope mm (did you mean 'Linear'?)");
    CHECK(m == NULL);
}

static int sgd_step(const char *name, mm_tensor *t, void *user) {
    (void)name;
    mm_tensor *g = mm_tensor_grad(t);
    return g ? mm_tensor_add_(t, g, -*(double *)user) : 0;
}

/* Parameters are updated in place under no-grad, as an optimizer does:
 * twenty SGD steps on a fixed regression batch lower the loss. */
MM_TEST(sgd_steps_on_module_parameters_lower_the_loss) {
    mm_manual_seed(3);
    mm_module *items[3], *m;
    CHECK_OK(mm_linear_new(4, 16, true, &items[0]));
    CHECK_OK(mm_activation_new(&mm_tanh_class, &items[1]));
    CHECK_OK(mm_linear_new(16, 1, true, &items[2]));
    CHECK_OK(mm_sequential_new(3, items, &m));
    mm_pool *outer;
    CHECK_OK(mm_pool_open(&outer));
    mm_tensor *x = randn_t(MM_SHAPE(32, 4), MM_F32), *target;
    mm_tensor *w_true = randn_t(MM_SHAPE(4, 1), MM_F32);
    CHECK_OK(mm_matmul(x, w_true, &target));
    double first = 0, last = 0, lr = 0.05;
    for (int step = 0; step < 20; step++) {
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        mm_tensor *y, *d, *loss;
        CHECK_OK(mm_module_forward1(m, x, &y));
        CHECK_OK(mm_sub(y, target, &d));
        CHECK_OK(mm_mul(d, d, &d));
        CHECK_OK(mm_mean(d, 0, NULL, false, &loss));
        double l;
        CHECK_OK(mm_tensor_item(loss, &l));
        if (step == 0)
            first = l;
        last = l;
        mm_module_zero_grad(m);
        CHECK_OK(mm_backward(loss));
        mm_no_grad_push();
        CHECK_OK(mm_module_named_parameters(m, sgd_step, &lr));
        mm_no_grad_pop();
        mm_pool_close(pool);
    }
    CHECK(last < 0.5 * first);
    mm_module_zero_grad(m);
    mm_pool_close(outer);
    mm_module_free(m);
}

MM_TEST_MAIN(
    MM_CASE(names_and_order_match_torch), MM_CASE(repr_matches_torch_print),
    MM_CASE(state_dict_shares_storage_and_is_detached),
    MM_CASE(load_state_dict_copies_every_tensor),
    MM_CASE(load_state_dict_strict_reports_missing_and_unexpected_keys),
    MM_CASE(load_state_dict_shape_mismatch_fails_in_both_modes),
    MM_CASE(load_state_dict_converts_dtype),
    MM_CASE(train_and_eval_propagate_to_every_descendant),
    MM_CASE(registration_rejects_duplicates_and_bad_names),
    MM_CASE(linear_forward_matches_torch_and_matmul),
    MM_CASE(activations_identity_and_flatten_match_their_ops),
    MM_CASE(identity_result_is_owned_without_a_pool),
    MM_CASE(sequential_chains_and_names_the_failing_child),
    MM_CASE(dropout_scales_kept_elements_and_is_identity_in_eval),
    MM_CASE(drop_path_zeroes_whole_samples),
    MM_CASE(gradcheck_linear_relu_linear_in_float64),
    MM_CASE(backward_reaches_every_parameter_and_zero_grad_clears),
    MM_CASE(sgd_steps_on_module_parameters_lower_the_loss),
    MM_CASE(calculate_gain_and_fans_match_torch),
    MM_CASE(init_distributions_have_torch_moments),
    MM_CASE(init_works_on_parameters_under_grad_mode),
    MM_CASE(linear_default_init_is_torch_reset_parameters),
    MM_CASE(layers_build_from_yaml), MM_CASE(layer_schema_errors_are_one_line))
