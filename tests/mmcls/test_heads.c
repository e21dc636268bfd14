/* The mmcls heads, the focal and asymmetric losses and the batch augments
 * against mmpretrain 1.2.0's numbers, replayed from
 * mmpretrain_heads.safetensors (recorded by
 * tools/parity/mmcls_heads_mmpretrain.py; its docstring says what is in
 * it), plus float64 gradchecks of the losses and the preprocessor's batch
 * augments end to end. batch_augments.c is compiled in, so the mixing
 * functions can be given mmpretrain's lam, permutation and box. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/mm.h"
#include "plugins/mmcls/mmcls.h"

static mm_checkpoint *rec;

static void release_recording(void) { mm_checkpoint_free(rec); }

static void setup(void) {
    static bool done;
    if (done)
        return;
    done = true;
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/mmcls.so", dir ? dir : "plugins");
    if (mm_plugin_load_file(path)) {
        fprintf(stderr, "loading %s: %s\n", path, mm_error_message());
        exit(1);
    }
    const char *file = "tests/mmcls/mmpretrain_heads.safetensors";
    if (mm_checkpoint_load(file, &rec)) {
        fprintf(stderr, "cannot read %s: %s\n", file, mm_error_message());
        exit(1);
    }
    atexit(release_recording);
}

static mm_tensor *rec_tensor(const char *name) {
    mm_tensor *t = mm_checkpoint_get(rec, name);
    if (!t) {
        fprintf(stderr, "recording has no '%s'\n", name);
        mm_test_failures++;
    }
    return t;
}

/* |a - b| <= atol + rtol |b| elementwise (f64). */
static bool close_to(mm_tensor *a, mm_tensor *b, double atol, double rtol) {
    if (!a || !b || a->numel != b->numel) {
        fprintf(stderr, "sizes differ (%lld vs %lld)\n",
                a ? (long long)a->numel : -1LL,
                b ? (long long)b->numel : -1LL);
        return false;
    }
    for (int64_t i = 0; i < a->numel; i++) {
        double x = mm_tensor_get_flat(a, i), y = mm_tensor_get_flat(b, i);
        if (!(fabs(x - y) <= atol + rtol * fabs(y))) {
            fprintf(stderr, "element %lld: %.9g vs mmpretrain %.9g\n",
                    (long long)i, x, y);
            return false;
        }
    }
    return true;
}

static int build_yaml(const char *yaml, const char *key, void **out) {
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), "cfg.yaml", &doc);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, mm_value_dict_get(doc, key),
                               "mmcls", key, NULL, out);
    mm_value_release(doc);
    return rc;
}

static int load_recorded(mm_module *m, const char *prefix) {
    char pfx[64];
    mm_state_dict sd = {0};
    snprintf(pfx, sizeof pfx, "%s.sd.", prefix);
    int rc = mm_checkpoint_state_dict(rec, pfx, &sd);
    if (!rc)
        rc = mm_module_load_state_dict(m, &sd, true, NULL);
    mm_state_dict_clear(&sd);
    return rc;
}

/* Samples with gt_label = y[i] (ints). */
static mm_value *label_samples(mm_tensor *y) {
    mm_value *l = mm_value_new_list();
    for (int64_t i = 0; y && i < y->numel; i++) {
        mm_value *d = mm_value_new_dict();
        if (mm_value_dict_set_take(d, "gt_label",
                                   mm_value_new_int(
                                       (int64_t)mm_tensor_get_flat(y, i))) ||
            mm_value_list_append_take(l, d))
            abort();
    }
    return l;
}

/* Samples with gt_label = the list of row i of `padded` (-1: none). */
static mm_value *multi_label_samples(mm_tensor *padded) {
    mm_value *l = mm_value_new_list();
    for (int64_t i = 0; padded && i < padded->shape[0]; i++) {
        mm_value *d = mm_value_new_dict(), *labels = mm_value_new_list();
        for (int64_t j = 0; j < padded->shape[1]; j++) {
            int64_t v = (int64_t)mm_tensor_get_flat(padded,
                                                    i * padded->shape[1] + j);
            if (v >= 0 && mm_value_list_append_take(labels,
                                                    mm_value_new_int(v)))
                abort();
        }
        if (mm_value_dict_set_take(d, "gt_label", labels) ||
            mm_value_list_append_take(l, d))
            abort();
    }
    return l;
}

static mm_tensor *loss_of(mm_value *losses) {
    return mm_tensor_from_value(mm_value_dict_get(losses, "loss"));
}

/* pred_label of each prediction against the rows of `want` (padded with
 * -1). */
static bool labels_match(mm_value *preds, mm_tensor *want) {
    for (size_t i = 0; want && i < mm_value_len(preds); i++) {
        mm_tensor *got = mm_tensor_from_value(
            mm_value_dict_get(mm_value_list_get(preds, i), "pred_label"));
        int64_t w = want->shape[1], n = 0;
        for (int64_t j = 0; j < w; j++)
            n += mm_tensor_get_flat(want, (int64_t)i * w + j) >= 0;
        if (!got || got->numel != n) {
            fprintf(stderr, "sample %zu: %lld labels, mmpretrain %lld\n", i,
                    got ? (long long)got->numel : -1LL, (long long)n);
            return false;
        }
        for (int64_t j = 0; j < n; j++)
            if (mm_tensor_get_flat(got, j) !=
                mm_tensor_get_flat(want, (int64_t)i * w + j)) {
                fprintf(stderr, "sample %zu label %lld differs\n", i,
                        (long long)j);
                return false;
            }
    }
    return true;
}

static void check_scores(mm_value *preds, mm_tensor *want) {
    for (size_t i = 0; want && i < mm_value_len(preds); i++) {
        mm_tensor *row = NULL;
        CHECK_OK(mm_select(want, 0, (int64_t)i, &row));
        CHECK(close_to(mm_tensor_from_value(mm_value_dict_get(
                           mm_value_list_get(preds, i), "pred_score")),
                       row, 1e-7, 1e-5));
    }
}

/* ---- heads --------------------------------------------------------------- */

MM_TEST(stacked_linear_cls_head_loads_mmpretrain_keys_and_agrees) {
    setup();
    mm_module *h = NULL;
    CHECK_OK(build_yaml("head: {type: StackedLinearClsHead, num_classes: 5, "
                        "in_channels: 8, mid_channels: [7, 6], dropout_rate: "
                        "0.2, norm_cfg: {type: BN1d}}\n",
                        "head", (void **)&h));
    if (!h)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    CHECK_OK(load_recorded(h, "stacked"));
    CHECK(mm_module_find(h, "layers.0.dropout") != NULL);
    CHECK(mm_module_find(h, "layers.2.dropout") == NULL);
    mm_module_eval(h);
    mm_no_grad_push();
    mm_tensor *x = rec_tensor("x"), *logits = NULL;
    CHECK_OK(mm_module_forward1(h, x, &logits));
    CHECK(close_to(logits, rec_tensor("stacked.logits"), 1e-6, 1e-5));
    mm_value *samples = label_samples(rec_tensor("y")), *losses = NULL,
             *preds = NULL;
    CHECK_OK(mm_model_loss(h, 1, &x, samples, &losses));
    CHECK(close_to(loss_of(losses), rec_tensor("stacked.loss"), 1e-6, 1e-5));
    CHECK_OK(mm_model_predict(h, 1, &x, samples, &preds));
    check_scores(preds, rec_tensor("stacked.pred_score"));
    mm_tensor *want = rec_tensor("stacked.pred_label");
    for (size_t i = 0; want && i < mm_value_len(preds); i++)
        CHECK_INT(mm_value_get_int(mm_value_dict_get(
                      mm_value_list_get(preds, i), "pred_label")),
                  (int64_t)mm_tensor_get_flat(want, (int64_t)i));
    mm_no_grad_pop();
    mm_value_release(preds);
    mm_value_release(losses);
    mm_value_release(samples);
    mm_pool_close(pool);
    mm_module_free(h);
}

MM_TEST(stacked_linear_cls_head_needs_mid_channels) {
    setup();
    void *h = NULL;
    CHECK(build_yaml("head: {type: StackedLinearClsHead, num_classes: 5, "
                     "in_channels: 8, mid_channels: []}\n",
                     "head", &h) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "cfg.yaml:1:") != NULL);
    CHECK(strstr(mm_error_message(), "mid_channels") != NULL);
}

MM_TEST(multi_label_linear_head_agrees_with_mmpretrain) {
    setup();
    static const char *cases[][2] = {
        {"thr05", ""},
        {"thr03", ", thr: 0.3"},
        {"top2", ", topk: 2"},
        {"both", ", thr: 0.3, topk: 1"},
    };
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = rec_tensor("x");
    mm_value *samples = multi_label_samples(rec_tensor("ml.labels"));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char yaml[256], key[64];
        snprintf(yaml, sizeof yaml,
                 "head: {type: MultiLabelLinearClsHead, num_classes: 5, "
                 "in_channels: 8%s}\n",
                 cases[c][1]);
        mm_module *h = NULL;
        CHECK_OK(build_yaml(yaml, "head", (void **)&h));
        if (!h)
            continue;
        CHECK_OK(load_recorded(h, "ml"));
        mm_no_grad_push();
        mm_value *losses = NULL, *preds = NULL;
        mm_tensor *logits = NULL;
        CHECK_OK(mm_module_forward1(h, x, &logits));
        CHECK(close_to(logits, rec_tensor("ml.logits"), 1e-6, 1e-5));
        CHECK_OK(mm_model_loss(h, 1, &x, samples, &losses));
        CHECK(close_to(loss_of(losses), rec_tensor("ml.loss"), 1e-6, 1e-5));
        CHECK_OK(mm_model_predict(h, 1, &x, NULL, &preds));
        check_scores(preds, rec_tensor("ml.pred_score"));
        snprintf(key, sizeof key, "ml.pred_label.%s", cases[c][0]);
        bool ok = labels_match(preds, rec_tensor(key));
        if (!ok)
            fprintf(stderr, "case %s\n", cases[c][0]);
        CHECK(ok);
        mm_no_grad_pop();
        mm_value_release(preds);
        mm_value_release(losses);
        mm_module_free(h);
    }
    mm_value_release(samples);
    mm_pool_close(pool);
}

MM_TEST(multi_label_head_refuses_a_label_out_of_range) {
    setup();
    mm_module *h = NULL;
    CHECK_OK(build_yaml("head: {type: MultiLabelClsHead}\n", "head",
                        (void **)&h));
    if (!h)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = rec_tensor("loss.scores");
    mm_value *samples = NULL, *losses = NULL;
    CHECK_OK(mm_yaml_parse("[{gt_label: [1]}, {gt_label: [5]}, {gt_label: "
                           "[]}, {gt_label: 0}, {gt_label: 0}, {gt_label: "
                           "0}]",
                           strlen("[{gt_label: [1]}, {gt_label: [5]}, "
                                  "{gt_label: []}, {gt_label: 0}, {gt_label: "
                                  "0}, {gt_label: 0}]"),
                           "s", &samples));
    CHECK(mm_model_loss(h, 1, &x, samples, &losses) == MM_ERANGE);
    CHECK(strstr(mm_error_message(), "gt_label 5 is not in [0, "
                                     "num_classes=5)") != NULL);
    mm_value_release(samples);
    mm_pool_close(pool);
    mm_module_free(h);
}

/* ---- losses -------------------------------------------------------------- */

MM_TEST(focal_and_asymmetric_losses_and_grads_agree_with_mmpretrain) {
    setup();
    const mm_value *cases = mm_checkpoint_get_meta(rec, "losses");
    CHECK(cases && mm_value_is_list(cases));
    if (!cases)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_value *by_index = label_samples(rec_tensor("y"));
    mm_value *by_multi = multi_label_samples(rec_tensor("ml.labels"));
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *name = mm_value_get_string(mm_value_list_get(c, 0));
        const char *text = mm_value_get_string(mm_value_list_get(c, 1));
        bool index = !strcmp(mm_value_get_string(mm_value_list_get(c, 2)),
                             "index");
        char yaml[512], key[64];
        snprintf(yaml, sizeof yaml, "head: {type: %s, loss: %s}\n",
                 index ? "ClsHead" : "MultiLabelClsHead", text);
        mm_module *h = NULL;
        mm_value *losses = NULL;
        mm_tensor *s = NULL;
        CHECK_OK(build_yaml(yaml, "head", (void **)&h));
        CHECK_OK(mm_clone(rec_tensor("loss.scores"), &s));
        if (!h || !s)
            continue;
        CHECK_OK(mm_tensor_set_requires_grad(s, true));
        CHECK_OK(mm_model_loss(h, 1, &s, index ? by_index : by_multi,
                               &losses));
        mm_tensor *loss = loss_of(losses), *total = NULL;
        snprintf(key, sizeof key, "loss.%s", name);
        bool ok = close_to(loss, rec_tensor(key), 1e-6, 1e-5);
        CHECK_OK(mm_sum(loss, 0, NULL, false, &total));
        if (total)
            CHECK_OK(mm_backward(total));
        snprintf(key, sizeof key, "loss.%s.grad", name);
        ok = ok && close_to(mm_tensor_grad(s), rec_tensor(key), 1e-7, 1e-4);
        if (!ok)
            fprintf(stderr, "loss case %s differs from mmpretrain\n", name);
        CHECK(ok);
        mm_value_release(losses);
        mm_module_free(h);
    }
    mm_value_release(by_index);
    mm_value_release(by_multi);
    mm_pool_close(pool);
}

typedef struct loss_ctx {
    mm_module *loss;
    mm_tensor *target;
} loss_ctx;

static int loss_fn(void *ctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    loss_ctx *c = ctx;
    mm_tensor *args[2] = {in[0], c->target};
    return mm_module_forward(c->loss, 2, args, out);
}

MM_TEST(focal_and_asymmetric_losses_pass_gradcheck_in_float64) {
    setup();
    static const char *cfgs[] = {
        "loss: {type: FocalLoss, gamma: 1.5, alpha: 0.3}\n",
        "loss: {type: FocalLoss, reduction: none}\n",
        "loss: {type: AsymmetricLoss, gamma_pos: 1.0, gamma_neg: 3.0}\n",
        "loss: {type: AsymmetricLoss, clip: null, use_sigmoid: false}\n",
    };
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    static const double target[12] = {1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0};
    mm_tensor *x = NULL, *t = NULL;
    CHECK_OK(mm_randn(MM_SHAPE(3, 4), MM_F64, NULL, &x));
    CHECK_OK(mm_from_data(target, MM_SHAPE(3, 4), MM_F64, &t));
    if (x)
        CHECK_OK(mm_tensor_set_requires_grad(x, true));
    for (size_t i = 0; x && t && i < sizeof cfgs / sizeof cfgs[0]; i++) {
        loss_ctx c = {.target = t};
        CHECK_OK(build_yaml(cfgs[i], "loss", (void **)&c.loss));
        if (!c.loss)
            continue;
        int rc = mm_gradcheck(loss_fn, &c, &x, 1, 1e-6, 1e-6, 1e-4);
        if (rc)
            fprintf(stderr, "%s%s\n", cfgs[i], mm_error_message());
        CHECK(rc == 0);
        mm_module_free(c.loss);
    }
    mm_pool_close(pool);
}

MM_TEST(focal_loss_refuses_avg_factor_with_sum) {
    setup();
    mm_module *h = NULL;
    CHECK_OK(build_yaml("head: {type: ClsHead, loss: {type: FocalLoss, "
                        "reduction: sum}}\n",
                        "head", (void **)&h));
    if (!h)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = rec_tensor("loss.scores");
    mm_value *samples = label_samples(rec_tensor("y")), *losses = NULL;
    CHECK(mm_model_loss(h, 1, &x, samples, &losses) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "avg_factor can not be used with "
                                     "reduction=\"sum\"") != NULL);
    mm_value_release(samples);
    mm_pool_close(pool);
    mm_module_free(h);
}

/* ---- batch augments ------------------------------------------------------ */

static void check_aug(const char *name) {
    char key[64];
    snprintf(key, sizeof key, "aug.%s.draws", name);
    mm_tensor *draws = rec_tensor(key), *idx = rec_tensor("aug.index");
    mm_tensor *in = rec_tensor("aug.inputs"), *sc = rec_tensor("aug.scores");
    if (!draws || !idx || !in || !sc)
        return;
    int64_t perm[4];
    for (int i = 0; i < 4; i++)
        perm[i] = (int64_t)mm_tensor_get_flat(idx, i);
    double lam = mm_tensor_get_flat(draws, 0);
    mm_tensor *xo = NULL, *so = NULL;
    if (!strcmp(name, "mixup")) {
        CHECK_OK(mmcls_mixup(in, sc, lam, perm, &xo, &so));
    } else {
        /* draws: lam, the randint results, then mmpretrain's box and lam */
        int64_t nd = draws->numel - 6, box[4], want[4];
        for (int i = 0; i < 4; i++)
            want[i] = (int64_t)mm_tensor_get_flat(draws, nd + 1 + i);
        double want_lam = mm_tensor_get_flat(draws, nd + 5);
        mmcls_batch_aug a = {.kind = MMCLS_CUTMIX, .alpha = 1.0,
                             .correct_lam = strcmp(name, "cutmix_nocorrect")};
        if (!strcmp(name, "cutmix_minmax")) {
            /* box from the drawn sizes and corners */
            int64_t ch = (int64_t)mm_tensor_get_flat(draws, 1),
                    cw = (int64_t)mm_tensor_get_flat(draws, 2),
                    yl = (int64_t)mm_tensor_get_flat(draws, 3),
                    xl = (int64_t)mm_tensor_get_flat(draws, 4);
            box[0] = yl, box[1] = yl + ch, box[2] = xl, box[3] = xl + cw;
            lam = 1.0 - (double)(ch * cw) / 30.0;
        } else {
            mmcls_cutmix_center_box(6, 5, lam,
                                    (int64_t)mm_tensor_get_flat(draws, 1),
                                    (int64_t)mm_tensor_get_flat(draws, 2),
                                    box);
            if (a.correct_lam)
                lam = 1.0 - (double)((box[1] - box[0]) * (box[3] - box[2])) /
                                30.0;
        }
        for (int i = 0; i < 4; i++)
            CHECK_INT(box[i], want[i]);
        CHECK(fabs(lam - want_lam) < 1e-12);
        CHECK_OK(mmcls_cutmix(in, sc, lam, perm, box, &xo, &so));
    }
    snprintf(key, sizeof key, "aug.%s.inputs", name);
    bool ok = close_to(xo, rec_tensor(key), 1e-6, 1e-6);
    snprintf(key, sizeof key, "aug.%s.scores", name);
    ok = ok && close_to(so, rec_tensor(key), 1e-7, 1e-6);
    if (!ok)
        fprintf(stderr, "batch augment case %s differs\n", name);
    CHECK(ok);
}

MM_TEST(mixup_and_cutmix_agree_with_mmpretrain_for_the_same_draws) {
    setup();
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    static const char *names[] = {"mixup", "cutmix", "cutmix_edge",
                                  "cutmix_nocorrect", "cutmix_minmax"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_aug(names[i]);
    mm_pool_close(pool);
}

MM_TEST(beta_samples_have_the_beta_mean_and_variance) {
    mm_generator *g = NULL;
    CHECK_OK(mm_generator_new(7, &g));
    if (!g)
        return;
    static const double alphas[] = {0.2, 1.0, 2.5};
    for (int k = 0; k < 3; k++) {
        double a = alphas[k], s = 0, s2 = 0;
        int n = 20000;
        for (int i = 0; i < n; i++) {
            double v = mmcls_beta_sample(g, a);
            CHECK(v >= 0 && v <= 1);
            s += v;
            s2 += v * v;
        }
        double mean = s / n, var = s2 / n - mean * mean;
        double want_var = 1.0 / (4.0 * (2.0 * a + 1.0));
        CHECK(fabs(mean - 0.5) < 0.01);
        CHECK(fabs(var - want_var) < 0.01);
    }
    mm_generator_free(g);
}

/* A (4, 1, 4, 4) u8 batch with labels 0..3 through a preprocessor. */
static void run_preprocessor(mm_module *dp, bool training, mm_tensor **in,
                             mm_value **samples) {
    mm_value *batch = mm_value_new_dict(), *inputs = mm_value_new_list(),
             *ds = mm_value_new_list();
    for (int i = 0; i < 4; i++) {
        uint8_t px[16];
        for (int j = 0; j < 16; j++)
            px[j] = (uint8_t)(i * 40 + j);
        mm_tensor *t = NULL;
        CHECK_OK(mm_from_data(px, MM_SHAPE(1, 4, 4), MM_U8, &t));
        mm_value *d = mm_value_new_dict();
        if (mm_value_list_append_take(inputs, mm_tensor_to_value(t)) ||
            mm_value_dict_set_take(d, "gt_label", mm_value_new_int(i)) ||
            mm_value_list_append_take(ds, d))
            abort();
    }
    if (mm_value_dict_set_take(batch, "inputs", inputs) ||
        mm_value_dict_set_take(batch, "data_samples", ds))
        abort();
    /* the preprocessor itself (mm_model_preprocess takes a whole model) */
    CHECK_OK(dp->cls->model->preprocess(dp, batch, training, in, samples));
    mm_value_release(batch);
}

MM_TEST(preprocessor_batch_augments_are_deterministic_per_seed) {
    setup();
    mm_module *dp = NULL;
    CHECK_OK(build_yaml("dp: {type: ClsDataPreprocessor, num_classes: 5, "
                        "batch_augments: {augments: [{type: Mixup, alpha: "
                        "0.2}, {type: CutMix, alpha: 1.0}], probs: [0.5, "
                        "0.5]}}\n",
                        "dp", (void **)&dp));
    if (!dp)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *a = NULL, *b = NULL, *e = NULL;
    mm_value *sa = NULL, *sb = NULL, *se = NULL;
    mm_manual_seed(3);
    run_preprocessor(dp, true, &a, &sa);
    mm_manual_seed(3);
    run_preprocessor(dp, true, &b, &sb);
    run_preprocessor(dp, false, &e, &se);
    CHECK(a && b && close_to(a, b, 0, 0));
    for (size_t i = 0; sa && sb && i < mm_value_len(sa); i++) {
        mm_tensor *x = mm_tensor_from_value(
                      mm_value_dict_get(mm_value_list_get(sa, i), "gt_score")),
                  *y = mm_tensor_from_value(
                      mm_value_dict_get(mm_value_list_get(sb, i), "gt_score"));
        CHECK(x && y && x->numel == 5 && close_to(x, y, 0, 0));
        double sum = 0;
        for (int64_t j = 0; x && j < 5; j++)
            sum += mm_tensor_get_flat(x, j);
        CHECK(fabs(sum - 1.0) < 1e-6);
    }
    /* eval: no augment, one-hot scores */
    for (size_t i = 0; se && i < mm_value_len(se); i++) {
        mm_tensor *x = mm_tensor_from_value(
            mm_value_dict_get(mm_value_list_get(se, i), "gt_score"));
        CHECK(x && x->numel == 5);
        for (int64_t j = 0; x && j < 5; j++)
            CHECK(mm_tensor_get_flat(x, j) == ((int64_t)i == j ? 1.0 : 0.0));
    }
    mm_value_release(sa);
    mm_value_release(sb);
    mm_value_release(se);
    mm_pool_close(pool);
    mm_module_free(dp);
}

MM_TEST(batch_augments_config_errors_name_the_key) {
    setup();
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"dp: {type: ClsDataPreprocessor, batch_augments: {augments: [{type: "
         "Mixup, alpha: 0.2}], probs: [0.6, 0.6]}}\n",
         "``augments`` and ``probs`` must have same lengths"},
        {"dp: {type: ClsDataPreprocessor, batch_augments: {augments: [{type: "
         "Mixup, alpha: 0.2}, {type: CutMix, alpha: 1.0}], probs: [0.6, "
         "0.6]}}\n",
         "exceeds 1"},
        {"dp: {type: ClsDataPreprocessor, batch_augments: {augments: [{type: "
         "ResizeMix, alpha: 0.2}]}}\n",
         "'ResizeMix' is not a batch augment"},
        {"dp: {type: ClsDataPreprocessor, batch_augments: {augments: [{type: "
         "Mixup, alpha: 0}]}}\n",
         "alpha: expected a number > 0"},
        {"dp: {type: ClsDataPreprocessor, batch_augments: {augments: []}}\n",
         "expected 1 to 8 augments"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *m = NULL;
        CHECK(build_yaml(bad[i].yaml, "dp", &m) == MM_EINVAL);
        bool ok = strstr(mm_error_message(), bad[i].msg) &&
                  strstr(mm_error_message(), "cfg.yaml:1:") &&
                  !strchr(mm_error_message(), '\n');
        if (!ok)
            fprintf(stderr, "case %zu: %s\n", i, mm_error_message());
        CHECK(ok);
        mm_module_free(m);
    }
}

MM_TEST_MAIN(MM_CASE(stacked_linear_cls_head_loads_mmpretrain_keys_and_agrees),
             MM_CASE(stacked_linear_cls_head_needs_mid_channels),
             MM_CASE(multi_label_linear_head_agrees_with_mmpretrain),
             MM_CASE(multi_label_head_refuses_a_label_out_of_range),
             MM_CASE(focal_and_asymmetric_losses_and_grads_agree_with_mmpretrain),
             MM_CASE(focal_and_asymmetric_losses_pass_gradcheck_in_float64),
             MM_CASE(focal_loss_refuses_avg_factor_with_sum),
             MM_CASE(mixup_and_cutmix_agree_with_mmpretrain_for_the_same_draws),
             MM_CASE(beta_samples_have_the_beta_mean_and_variance),
             MM_CASE(preprocessor_batch_augments_are_deterministic_per_seed),
             MM_CASE(batch_augments_config_errors_name_the_key))
