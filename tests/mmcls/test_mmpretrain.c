/* The mmcls plugin against mmpretrain's own numbers, replayed from
 * mmpretrain_lenet5.safetensors (recorded by tools/parity/mmcls_mmpretrain.py
 * with mmpretrain 1.2.0 and torch 1.13; its docstring says how):
 *
 *   - mmpretrain's LeNet5 ImageClassifier state_dict loads strictly into the
 *     model mm builds from configs/_base_/models/lenet5.yaml (same keys,
 *     same shapes), and the logits, the loss and pred_score / pred_label
 *     are mmpretrain's;
 *   - the same for LeNet5 + GlobalAveragePooling + LinearClsHead;
 *   - ClsDataPreprocessor(mean=[33.46], std=[78.87]) on a u8 batch;
 *   - every loss case of the recording (CrossEntropyLoss with class_weight,
 *     use_soft, use_sigmoid, pos_weight, probability targets;
 *     LabelSmoothLoss in its three modes) through ClsHead.loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/mm.h"

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
    const char *file = "tests/mmcls/mmpretrain_lenet5.safetensors";
    if (mm_checkpoint_load(file, &rec)) {
        fprintf(stderr, "cannot read %s: %s\n", file, mm_error_message());
        exit(1);
    }
    atexit(release_recording);
}

/* The recorded tensor `name` (borrowed from the recording). */
static mm_tensor *rec_tensor(const char *name) {
    mm_tensor *t = mm_checkpoint_get(rec, name);
    if (!t) {
        fprintf(stderr, "recording has no '%s'\n", name);
        mm_test_failures++;
    }
    return t;
}

/* max |a - b| <= atol + rtol |b|, elementwise, as f64 */
static bool close_to(mm_tensor *a, mm_tensor *b, double atol, double rtol) {
    if (!a || !b || a->numel != b->numel)
        return false;
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

/* Load `<prefix>.sd.*` of the recording into m, strictly; with `extra`,
 * also its `backbone.features.*` (the recording keeps them once). */
static int load_recorded(mm_module *m, const char *prefix,
                         const char *extra) {
    char pfx[64];
    mm_state_dict sd = {0}, more = {0};
    snprintf(pfx, sizeof pfx, "%s.sd.", prefix);
    int rc = mm_checkpoint_state_dict(rec, pfx, &sd);
    if (!rc && extra) {
        snprintf(pfx, sizeof pfx, "%s.sd.", extra);
        rc = mm_checkpoint_state_dict(rec, pfx, &more);
        for (size_t i = 0; !rc && i < more.n; i++)
            if (!strncmp(more.items[i].name, "backbone.features.", 18))
                rc = mm_state_dict_add(&sd, more.items[i].name,
                                       more.items[i].tensor);
    }
    if (!rc)
        rc = mm_module_load_state_dict(m, &sd, true, NULL);
    mm_state_dict_clear(&sd);
    mm_state_dict_clear(&more);
    return rc;
}

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

static mm_value *score_samples(mm_tensor *scores) {
    mm_value *l = mm_value_new_list();
    for (int64_t i = 0; scores && i < scores->shape[0]; i++) {
        mm_value *d = mm_value_new_dict();
        mm_tensor *row = NULL;
        if (mm_select(scores, 0, i, &row) ||
            mm_value_dict_set_take(d, "gt_score", mm_tensor_to_value(row)) ||
            mm_value_list_append_take(l, d))
            abort();
    }
    return l;
}

/* Logits, loss and predictions of model m against `<prefix>.*`. */
static void check_modes(mm_module *m, const char *prefix) {
    char name[64];
    mm_tensor *x = rec_tensor("lenet.x"), *y = rec_tensor("lenet.y");
    mm_tensor *logits = NULL;
    mm_module_eval(m);
    mm_no_grad_push();
    CHECK_OK(mm_module_forward1(m, x, &logits));
    snprintf(name, sizeof name, "%s.logits", prefix);
    CHECK(close_to(logits, rec_tensor(name), 1e-5, 1e-4));
    mm_value *samples = label_samples(y), *losses = NULL, *preds = NULL;
    CHECK_OK(mm_model_loss(m, 1, &x, samples, &losses));
    snprintf(name, sizeof name, "%s.loss", prefix);
    CHECK(close_to(mm_tensor_from_value(mm_value_dict_get(losses, "loss")),
                   rec_tensor(name), 1e-6, 1e-5));
    CHECK_OK(mm_model_predict(m, 1, &x, samples, &preds));
    snprintf(name, sizeof name, "%s.pred_score", prefix);
    mm_tensor *want = rec_tensor(name);
    snprintf(name, sizeof name, "%s.pred_label", prefix);
    mm_tensor *want_label = rec_tensor(name);
    for (size_t i = 0; preds && want && i < mm_value_len(preds); i++) {
        mm_value *s = mm_value_list_get(preds, i);
        mm_tensor *row = NULL;
        CHECK_OK(mm_select(want, 0, (int64_t)i, &row));
        CHECK(close_to(mm_tensor_from_value(mm_value_dict_get(s, "pred_score")),
                       row, 1e-7, 1e-5));
        CHECK_INT(mm_value_get_int(mm_value_dict_get(s, "pred_label")),
                  (int64_t)mm_tensor_get_flat(want_label, (int64_t)i));
    }
    mm_no_grad_pop();
    mm_value_release(preds);
    mm_value_release(losses);
    mm_value_release(samples);
}

MM_TEST(mmpretrain_lenet5_state_dict_loads_strictly_and_agrees) {
    setup();
    mm_value *cfg = NULL;
    mm_module *m = NULL;
    CHECK_OK(mm_config_load("configs/_base_/models/lenet5.yaml", NULL, 0,
                            &cfg));
    CHECK_OK(mm_registry_build(MM_MODELS, mm_config_get(cfg, "model"),
                               "mmcls", "model", NULL, (void **)&m));
    mm_value_release(cfg);
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    CHECK_OK(load_recorded(m, "lenet", NULL));
    check_modes(m, "lenet");
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(mmpretrain_linear_cls_head_on_gap_agrees) {
    setup();
    mm_module *m = NULL;
    CHECK_OK(build_yaml("model:\n  type: ImageClassifier\n"
                        "  backbone: {type: LeNet5}\n"
                        "  neck: {type: GlobalAveragePooling}\n"
                        "  head: {type: LinearClsHead, num_classes: 10, "
                        "in_channels: 120}\n",
                        "model", (void **)&m));
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    CHECK_OK(load_recorded(m, "linear", "lenet"));
    check_modes(m, "linear");
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(mmpretrain_cls_data_preprocessor_agrees) {
    setup();
    mm_module *p = NULL;
    CHECK_OK(build_yaml("dp: {type: ClsDataPreprocessor, mean: [33.46], "
                        "std: [78.87], num_classes: 10}\n",
                        "dp", (void **)&p));
    if (!p)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *in = rec_tensor("dp.in"), *x = NULL;
    mm_value *batch = mm_value_new_dict(), *inputs = mm_value_new_list();
    for (int64_t i = 0; in && i < in->shape[0]; i++) {
        mm_tensor *img = NULL;
        CHECK_OK(mm_select(in, 0, i, &img));
        CHECK_OK(mm_value_list_append_take(inputs, mm_tensor_to_value(img)));
    }
    CHECK_OK(mm_value_dict_set_take(batch, "inputs", inputs));
    mm_value *samples = NULL;
    CHECK_OK(p->cls->model->preprocess(p, batch, false, &x, &samples));
    CHECK(close_to(x, rec_tensor("dp.out"), 1e-6, 1e-6));
    mm_value_release(samples);
    mm_value_release(batch);
    mm_pool_close(pool);
    mm_module_free(p);
}

MM_TEST(mmpretrain_loss_cases_agree) {
    setup();
    const mm_value *cases = mm_checkpoint_get_meta(rec, "cases");
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *scores = rec_tensor("loss.scores");
    mm_value *by_kind[3] = {label_samples(rec_tensor("loss.labels")),
                            score_samples(rec_tensor("loss.soft")),
                            score_samples(rec_tensor("loss.multi"))};
    CHECK(mm_value_len(cases) >= 10);
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *name = mm_value_get_string(mm_value_list_get(c, 0));
        const char *text = mm_value_get_string(mm_value_list_get(c, 1));
        const char *kind = mm_value_get_string(mm_value_list_get(c, 2));
        int k = !strcmp(kind, "index") ? 0 : !strcmp(kind, "soft") ? 1 : 2;
        char yaml[512], key[64];
        snprintf(yaml, sizeof yaml, "head: {type: ClsHead, loss: %s}\n", text);
        snprintf(key, sizeof key, "loss.%s", name);
        mm_module *h = NULL;
        mm_value *losses = NULL;
        CHECK_OK(build_yaml(yaml, "head", (void **)&h));
        if (h)
            CHECK_OK(mm_model_loss(h, 1, &scores, by_kind[k], &losses));
        mm_tensor *got =
            mm_tensor_from_value(mm_value_dict_get(losses, "loss"));
        bool ok = close_to(got, rec_tensor(key), 1e-6, 1e-5);
        if (!ok)
            fprintf(stderr, "loss case %s differs from mmpretrain\n", name);
        CHECK(ok);
        mm_value_release(losses);
        mm_module_free(h);
    }
    for (int k = 0; k < 3; k++)
        mm_value_release(by_kind[k]);
    mm_pool_close(pool);
}

MM_TEST_MAIN(MM_CASE(mmpretrain_lenet5_state_dict_loads_strictly_and_agrees),
             MM_CASE(mmpretrain_linear_cls_head_on_gap_agrees),
             MM_CASE(mmpretrain_cls_data_preprocessor_agrees),
             MM_CASE(mmpretrain_loss_cases_agree))
