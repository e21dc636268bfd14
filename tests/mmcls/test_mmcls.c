/* The mmcls plugin's models, dataset and transforms, built from YAML through
 * the registry out of the in-tree plugin (as `mm run` builds them):
 * ImageClassifier + LeNet5 + ClsHead from configs/_base_/models/lenet5.yaml,
 * state_dict names as mmpretrain's, the three model modes, the losses
 * against their formulas, ClsDataPreprocessor, the MNIST reader on idx files
 * this test writes (raw and gzip) including hostile ones, and PackInputs.
 * The numbers against PyTorch are in the parity suite
 * (tools/parity/mmcls_torch.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "mm/mm.h"

/* ---- set-up -------------------------------------------------------------- */

static char tmpdir[256];

static void cleanup(void) {
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

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
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mm-mmcls-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(cleanup);
}

/* Build `key` of the YAML text (named cfg.yaml in locations). */
static int build_yaml(mm_kind kind, const char *yaml, const char *key,
                      void **out) {
    setup();
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), "cfg.yaml", &doc);
    if (!rc)
        rc = mm_registry_build(kind, mm_value_dict_get(doc, key), "mmcls",
                               key, NULL, out);
    mm_value_release(doc);
    return rc;
}

static int build_lenet_config(mm_module **out) {
    setup();
    mm_value *cfg = NULL;
    int rc = mm_config_load("configs/_base_/models/lenet5.yaml", NULL, 0,
                            &cfg);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, mm_config_get(cfg, "model"),
                               "mmcls", "model", NULL, (void **)out);
    mm_value_release(cfg);
    return rc;
}

/* A (N, 1, 32, 32) f32 batch of deterministic values in [-1, 1]. */
static mm_tensor *test_batch(int64_t n) {
    mm_tensor *x = NULL;
    if (mm_empty(MM_SHAPE(n, 1, 32, 32), MM_F32, &x))
        return NULL;
    for (int64_t i = 0; i < x->numel; i++)
        MM_DATA(x, float)[i] = (float)sin(0.37 * (double)i);
    return x;
}

static mm_value *samples_with_labels(int n, const int64_t *labels) {
    mm_value *l = mm_value_new_list();
    for (int i = 0; i < n; i++) {
        mm_value *d = mm_value_new_dict();
        if (mm_value_dict_set_take(d, "gt_label", mm_value_new_int(labels[i])))
            abort();
        if (mm_value_list_append_take(l, d))
            abort();
    }
    return l;
}

/* -sum_i log softmax(logits_i)[y_i] * w[y_i] / denom, in double. */
static double ce_reference(const mm_tensor *logits, const int64_t *y,
                           const double *w, double denom) {
    int64_t N = logits->shape[0], C = logits->shape[1];
    const float *p = MM_DATA(logits, float);
    double total = 0;
    for (int64_t i = 0; i < N; i++) {
        double mx = -INFINITY, s = 0;
        for (int64_t c = 0; c < C; c++)
            mx = fmax(mx, p[i * C + c]);
        for (int64_t c = 0; c < C; c++)
            s += exp(p[i * C + c] - mx);
        double lp = p[i * C + y[i]] - mx - log(s);
        total += -lp * (w ? w[y[i]] : 1.0);
    }
    return total / denom;
}

static double item(mm_tensor *t) {
    double v = NAN;
    if (mm_tensor_item(t, &v))
        return NAN;
    return v;
}

/* ---- models -------------------------------------------------------------- */

struct names {
    int n;
    char names[32][64];
};

static int collect_name(const char *name, mm_tensor *t, void *user) {
    (void)t;
    struct names *ns = user;
    if (ns->n < 32)
        snprintf(ns->names[ns->n++], 64, "%s", name);
    return 0;
}

MM_TEST(lenet5_config_builds_an_image_classifier) {
    mm_module *m = NULL;
    CHECK_OK(build_lenet_config(&m));
    if (!m)
        return;
    CHECK_STR(m->cls->name, "ImageClassifier");
    CHECK(mm_module_find(m, "data_preprocessor") != NULL);
    CHECK_STR(mm_module_find(m, "backbone")->cls->name, "LeNet5");
    CHECK_STR(mm_module_find(m, "head")->cls->name, "ClsHead");
    CHECK_STR(mm_module_find(m, "head.loss_module")->cls->name,
              "CrossEntropyLoss");
    CHECK(mm_module_find(m, "neck") == NULL);
    /* LeNet-5's 61706 parameters for 10 classes */
    CHECK_INT(mm_module_num_parameters(m, false), 61706);
    mm_module_free(m);
}

MM_TEST(lenet5_state_dict_names_are_mmpretrains) {
    mm_module *m = NULL;
    CHECK_OK(build_lenet_config(&m));
    if (!m)
        return;
    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(m, &sd));
    static const char *want[] = {
        "backbone.features.0.weight",   "backbone.features.0.bias",
        "backbone.features.3.weight",   "backbone.features.3.bias",
        "backbone.features.6.weight",   "backbone.features.6.bias",
        "backbone.classifier.0.weight", "backbone.classifier.0.bias",
        "backbone.classifier.2.weight", "backbone.classifier.2.bias"};
    static const int64_t shapes[][4] = {{6, 1, 5, 5},   {6},   {16, 6, 5, 5},
                                        {16},           {120, 16, 5, 5},
                                        {120},          {84, 120}, {84},
                                        {10, 84},       {10}};
    CHECK_INT(sd.n, 10);
    for (size_t i = 0; i < sd.n && i < 10; i++) {
        CHECK_STR(sd.items[i].name, want[i]);
        for (int d = 0; d < sd.items[i].tensor->ndim; d++)
            CHECK_INT(sd.items[i].tensor->shape[d], shapes[i][d]);
    }
    struct names ns = {0};
    CHECK_OK(mm_module_named_parameters(m, collect_name, &ns));
    CHECK_INT(ns.n, 10);
    mm_state_dict_clear(&sd);
    mm_module_free(m);
}

MM_TEST(tensor_mode_gives_logits_and_rejects_28x28) {
    mm_module *m = NULL;
    CHECK_OK(build_lenet_config(&m));
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = test_batch(3), *y = NULL;
    CHECK_OK(mm_module_forward1(m, x, &y));
    CHECK(y && y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 10);
    /* one sample stays a batch of one (mmpretrain squeezes it away) */
    mm_tensor *x1 = test_batch(1);
    CHECK_OK(mm_module_forward1(m, x1, &y));
    CHECK(y && y->ndim == 2 && y->shape[0] == 1);
    mm_tensor *small = NULL;
    CHECK_OK(mm_zeros(MM_SHAPE(2, 1, 28, 28), MM_F32, &small));
    CHECK(mm_module_forward1(m, small, &y) < 0);
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(loss_mode_is_mean_cross_entropy_of_the_logits) {
    mm_module *m = NULL;
    CHECK_OK(build_lenet_config(&m));
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = test_batch(4), *logits = NULL;
    const int64_t y[4] = {3, 0, 9, 3};
    mm_value *samples = samples_with_labels(4, y), *losses = NULL;
    CHECK_OK(mm_module_forward1(m, x, &logits));
    CHECK_OK(mm_model_loss(m, 1, &x, samples, &losses));
    mm_tensor *loss = mm_tensor_from_value(mm_value_dict_get(losses, "loss"));
    CHECK(loss && loss->ndim == 0 && loss->requires_grad);
    if (loss && logits)
        CHECK(fabs(item(loss) - ce_reference(logits, y, NULL, 4)) < 1e-5);
    CHECK_INT(mm_value_len(losses), 1); /* cal_acc is off */
    /* backward reaches every parameter */
    CHECK_OK(mm_backward(loss));
    mm_tensor *w = mm_module_find_tensor(m, "backbone.features.0.weight");
    CHECK(w && mm_tensor_grad(w) != NULL);
    mm_value_release(losses);
    mm_value_release(samples);
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(predict_mode_adds_softmax_pred_score_and_argmax_label) {
    mm_module *m = NULL;
    CHECK_OK(build_lenet_config(&m));
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = test_batch(2), *logits = NULL;
    const int64_t y[2] = {1, 2};
    mm_value *samples = samples_with_labels(2, y), *out = NULL;
    CHECK_OK(mm_module_forward1(m, x, &logits));
    CHECK_OK(mm_model_predict(m, 1, &x, samples, &out));
    CHECK_INT(mm_value_len(out), 2);
    for (size_t i = 0; out && i < mm_value_len(out); i++) {
        mm_value *s = mm_value_list_get(out, i);
        CHECK_INT(mm_value_get_int(mm_value_dict_get(s, "gt_label")), y[i]);
        mm_tensor *ps =
            mm_tensor_from_value(mm_value_dict_get(s, "pred_score"));
        CHECK(ps && ps->ndim == 1 && ps->shape[0] == 10 &&
              ps->dtype == MM_F32 && !ps->requires_grad);
        if (!ps || !logits)
            continue;
        const float *l = MM_DATA(logits, float) + i * 10;
        double mx = -INFINITY, z = 0, sum = 0;
        int64_t best = 0;
        for (int c = 0; c < 10; c++) {
            mx = fmax(mx, l[c]);
            if (l[c] > l[best])
                best = c;
        }
        for (int c = 0; c < 10; c++)
            z += exp(l[c] - mx);
        for (int c = 0; c < 10; c++) {
            CHECK(fabs(MM_DATA(ps, float)[c] - exp(l[c] - mx) / z) < 1e-6);
            sum += MM_DATA(ps, float)[c];
        }
        CHECK(fabs(sum - 1) < 1e-5);
        CHECK_INT(mm_value_get_int(mm_value_dict_get(s, "pred_label")), best);
    }
    /* without data samples: new ones */
    mm_value *fresh = NULL;
    CHECK_OK(mm_model_predict(m, 1, &x, NULL, &fresh));
    CHECK_INT(mm_value_len(fresh), 2);
    mm_value_release(fresh);
    mm_value_release(out);
    mm_value_release(samples);
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(cal_acc_logs_topk_accuracy) {
    mm_module *m = NULL;
    CHECK_OK(build_yaml(MM_MODELS,
                        "model:\n"
                        "  type: ImageClassifier\n"
                        "  backbone: {type: LeNet5, num_classes: 10}\n"
                        "  head: {type: ClsHead, cal_acc: true, topk: [1, 10]}\n",
                        "model", (void **)&m));
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = test_batch(2), *logits = NULL;
    CHECK_OK(mm_module_forward1(m, x, &logits));
    int64_t y[2] = {0, 0};
    if (logits) { /* sample 0 right, sample 1 wrong at top-1 */
        mm_tensor *am = NULL;
        CHECK_OK(mm_argmax(logits, (const int[]){1}, false, &am));
        y[0] = (int64_t)mm_tensor_get_flat(am, 0);
        y[1] = ((int64_t)mm_tensor_get_flat(am, 1) + 1) % 10;
    }
    mm_value *samples = samples_with_labels(2, y), *losses = NULL;
    CHECK_OK(mm_model_loss(m, 1, &x, samples, &losses));
    mm_tensor *a1 =
        mm_tensor_from_value(mm_value_dict_get(losses, "accuracy_top-1"));
    mm_tensor *a10 =
        mm_tensor_from_value(mm_value_dict_get(losses, "accuracy_top-10"));
    CHECK(a1 && fabs(item(a1) - 50.0) < 1e-4);
    CHECK(a10 && fabs(item(a10) - 100.0) < 1e-4);
    mm_value_release(losses);
    mm_value_release(samples);
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(linear_cls_head_on_gap_neck) {
    mm_module *m = NULL;
    CHECK_OK(build_yaml(MM_MODELS,
                        "model:\n"
                        "  type: ImageClassifier\n"
                        "  backbone: {type: LeNet5}\n"
                        "  neck: {type: GlobalAveragePooling}\n"
                        "  head: {type: LinearClsHead, num_classes: 7, "
                        "in_channels: 120}\n",
                        "model", (void **)&m));
    if (!m)
        return;
    CHECK(mm_module_find(m, "backbone.classifier") == NULL);
    CHECK(mm_module_find_tensor(m, "head.fc.weight") != NULL);
    CHECK_OK(mm_module_init_weights(m));
    /* init_cfg Normal(std=0.01) with bias 0 */
    mm_tensor *b = mm_module_find_tensor(m, "head.fc.bias");
    mm_tensor *w = mm_module_find_tensor(m, "head.fc.weight");
    double ss = 0;
    for (int64_t i = 0; w && i < w->numel; i++)
        ss += mm_tensor_get_flat(w, i) * mm_tensor_get_flat(w, i);
    CHECK(w && sqrt(ss / (double)w->numel) < 0.02);
    CHECK(b && mm_tensor_get_flat(b, 0) == 0);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = test_batch(2), *y = NULL;
    CHECK_OK(mm_module_forward1(m, x, &y));
    CHECK(y && y->ndim == 2 && y->shape[1] == 7);
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(gap_neck_pools_1d_2d_3d) {
    setup();
    for (int dim = 1; dim <= 3; dim++) {
        mm_module *g = NULL;
        char yaml[128];
        snprintf(yaml, sizeof yaml,
                 "neck: {type: GlobalAveragePooling, dim: %d}\n", dim);
        CHECK_OK(build_yaml(MM_MODELS, yaml, "neck", (void **)&g));
        if (!g)
            continue;
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        int64_t shape[5] = {2, 3, 4, 4, 4};
        mm_tensor *x = NULL, *y = NULL;
        CHECK_OK(mm_ones(dim + 2, shape, MM_F32, &x));
        CHECK_OK(mm_module_forward1(g, x, &y));
        CHECK(y && y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 3 &&
              fabs(mm_tensor_get_flat(y, 0) - 1) < 1e-6);
        mm_pool_close(pool);
        mm_module_free(g);
    }
    void *bad = NULL;
    CHECK(build_yaml(MM_MODELS, "neck: {type: GlobalAveragePooling, dim: 4}\n",
                     "neck", &bad) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "cfg.yaml:1:41: ") == mm_error_message());
    CHECK(strstr(mm_error_message(), "dim: must be 1, 2 or 3") != NULL);
}

/* A ClsHead with the loss `loss_yaml` on fixed (N, C) scores, so the loss
 * sees mmpretrain's avg_factor (the batch size). */
static double head_loss(const char *loss_yaml, mm_tensor *score,
                        mm_value *samples) {
    char yaml[512];
    snprintf(yaml, sizeof yaml, "head: {type: ClsHead, loss: %s}\n",
             loss_yaml);
    mm_module *h = NULL;
    double v = NAN;
    if (build_yaml(MM_MODELS, yaml, "head", (void **)&h)) {
        fprintf(stderr, "%s\n", mm_error_message());
        return NAN;
    }
    mm_value *losses = NULL;
    if (!mm_model_loss(h, 1, &score, samples, &losses))
        v = item(mm_tensor_from_value(mm_value_dict_get(losses, "loss")));
    mm_value_release(losses);
    mm_module_free(h);
    return v;
}

static mm_tensor *fixed_scores(void) {
    mm_tensor *s = NULL;
    if (mm_empty(MM_SHAPE(3, 4), MM_F32, &s))
        return NULL;
    for (int i = 0; i < 12; i++)
        MM_DATA(s, float)[i] = (float)(0.5 * cos(1.3 * i) + 0.1 * i);
    return s;
}

MM_TEST(cross_entropy_class_weight_divides_by_batch_size) {
    setup();
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *s = fixed_scores();
    const int64_t y[3] = {0, 3, 1};
    const double w[4] = {0.5, 2.0, 1.0, 3.0};
    mm_value *samples = samples_with_labels(3, y);
    double plain = head_loss("{type: CrossEntropyLoss}", s, samples);
    CHECK(fabs(plain - ce_reference(s, y, NULL, 3)) < 1e-6);
    double weighted = head_loss(
        "{type: CrossEntropyLoss, class_weight: [0.5, 2.0, 1.0, 3.0]}", s,
        samples);
    /* mmpretrain: sum of weighted losses / N, not / sum of weights */
    CHECK(fabs(weighted - ce_reference(s, y, w, 3)) < 1e-6);
    double scaled = head_loss("{type: CrossEntropyLoss, loss_weight: 2.5}",
                              s, samples);
    CHECK(fabs(scaled - 2.5 * plain) < 1e-6);
    double summed = head_loss("{type: CrossEntropyLoss, reduction: sum}", s,
                              samples);
    CHECK(isnan(summed)); /* avg_factor with sum is mmpretrain's ValueError */
    mm_value_release(samples);
    mm_pool_close(pool);
}

MM_TEST(label_smooth_loss_matches_its_formula) {
    setup();
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *s = fixed_scores();
    const int64_t y[3] = {2, 0, 3};
    mm_value *samples = samples_with_labels(3, y);
    const double eps = 0.1;
    /* original: -sum((onehot (1 - eps) + eps / C) log_softmax) / N */
    double want = 0;
    for (int i = 0; i < 3; i++) {
        const float *r = MM_DATA(s, float) + i * 4;
        double mx = -INFINITY, z = 0;
        for (int c = 0; c < 4; c++)
            mx = fmax(mx, r[c]);
        for (int c = 0; c < 4; c++)
            z += exp(r[c] - mx);
        for (int c = 0; c < 4; c++) {
            double t = (c == y[i] ? 1 - eps : 0) + eps / 4;
            want += -t * (r[c] - mx - log(z));
        }
    }
    want /= 3;
    double got = head_loss("{type: LabelSmoothLoss, label_smooth_val: 0.1}",
                           s, samples);
    CHECK(fabs(got - want) < 1e-6);
    double got_nc = head_loss("{type: LabelSmoothLoss, label_smooth_val: 0.1, "
                              "num_classes: 4, loss_weight: 2.0}",
                              s, samples);
    CHECK(fabs(got_nc - 2 * want) < 1e-6);
    double wrong = head_loss("{type: LabelSmoothLoss, label_smooth_val: 0.1, "
                             "num_classes: 5}", s, samples);
    CHECK(isnan(wrong));
    CHECK(strstr(mm_error_message(), "num_classes: 5") != NULL);
    mm_value_release(samples);
    mm_pool_close(pool);
}

MM_TEST(loss_options_out_of_range_are_one_line_errors) {
    void *m = NULL;
    CHECK(build_yaml(MM_MODELS,
                     "loss: {type: CrossEntropyLoss, use_sigmoid: true, "
                     "use_soft: true}\n",
                     "loss", &m) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "cfg.yaml:1:7:") != NULL);
    CHECK(strstr(mm_error_message(), "use_sigmoid and use_soft") != NULL);
    CHECK(build_yaml(MM_MODELS,
                     "loss: {type: LabelSmoothLoss, label_smooth_val: 1.5}\n",
                     "loss", &m) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "[0, 1)") != NULL);
    CHECK(build_yaml(MM_MODELS,
                     "loss: {type: CrossEntropyLoss, reduction: avg}\n",
                     "loss", &m) == MM_EINVAL);
    CHECK(strchr(mm_error_message(), '\n') == NULL);
}

/* ---- ClsDataPreprocessor ------------------------------------------------- */

/* A batch of n u8 images (1, 2, 2) with values base + i and labels. */
static mm_value *u8_batch(int n) {
    mm_value *batch = mm_value_new_dict(), *inputs = mm_value_new_list();
    const int64_t labels[4] = {1, 0, 2, 1};
    for (int i = 0; i < n; i++) {
        mm_tensor *t = NULL;
        unsigned char px[4] = {(unsigned char)(10 * i), 20, 30, 255};
        if (mm_from_data(px, MM_SHAPE(1, 2, 2), MM_U8, &t))
            abort();
        if (mm_value_list_append_take(inputs, mm_tensor_to_value(t)))
            abort();
        if (!mm_pool_depth())
            mm_tensor_release(t);
    }
    if (mm_value_dict_set_take(batch, "inputs", inputs) ||
        mm_value_dict_set_take(batch, "data_samples",
                               samples_with_labels(n, labels)))
        abort();
    return batch;
}

MM_TEST(cls_data_preprocessor_normalises_and_makes_onehot) {
    mm_module *p = NULL;
    CHECK_OK(build_yaml(MM_MODELS,
                        "dp: {type: ClsDataPreprocessor, mean: [33.46], "
                        "std: [78.87], to_onehot: true, num_classes: 3}\n",
                        "dp", (void **)&p));
    if (!p)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_value *batch = u8_batch(2), *samples = NULL;
    mm_tensor *x = NULL;
    CHECK_OK(p->cls->model->preprocess(p, batch, true, &x, &samples));
    CHECK(x && x->dtype == MM_F32 && x->ndim == 4 && x->shape[0] == 2 &&
          x->shape[1] == 1);
    if (x) {
        CHECK(fabs(mm_tensor_get_flat(x, 0) - (0 - 33.46) / 78.87) < 1e-6);
        CHECK(fabs(mm_tensor_get_flat(x, 3) - (255 - 33.46) / 78.87) < 1e-6);
        CHECK(fabs(mm_tensor_get_flat(x, 4) - (10 - 33.46) / 78.87) < 1e-6);
    }
    mm_tensor *gs = mm_tensor_from_value(
        mm_value_dict_get(mm_value_list_get(samples, 1), "gt_score"));
    CHECK(gs && gs->numel == 3 && mm_tensor_get_flat(gs, 0) == 1 &&
          mm_tensor_get_flat(gs, 1) == 0);
    mm_value_release(samples);
    mm_value_release(batch);
    mm_pool_close(pool);
    mm_module_free(p);
}

MM_TEST(image_classifier_defaults_to_cls_data_preprocessor) {
    mm_module *m = NULL;
    CHECK_OK(build_yaml(MM_MODELS,
                        "model:\n  type: ImageClassifier\n"
                        "  backbone: {type: LeNet5, num_classes: 10}\n"
                        "  data_preprocessor: {mean: [1], std: [2]}\n",
                        "model", (void **)&m));
    if (m)
        CHECK_STR(mm_module_find(m, "data_preprocessor")->cls->name,
                  "ClsDataPreprocessor");
    mm_module_free(m);
}

MM_TEST(image_classifier_passes_train_cfg_augments_to_the_preprocessor) {
    mm_module *m = NULL;
    CHECK_OK(build_yaml(MM_MODELS,
                        "model:\n  type: ImageClassifier\n"
                        "  backbone: {type: LeNet5}\n"
                        "  data_preprocessor: {num_classes: 10}\n"
                        "  train_cfg:\n    augments: [{type: Mixup, alpha: "
                        "0.8}]\n",
                        "model", (void **)&m));
    CHECK(m != NULL);
    mm_module_free(m);
    void *dp = NULL;
    CHECK(build_yaml(MM_MODELS,
                     "dp: {type: ClsDataPreprocessor, batch_augments: "
                     "{augments: [{type: Mixup}]}}\n",
                     "dp", &dp) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "cfg.yaml:1:") != NULL);
    CHECK(strstr(mm_error_message(), "Mixup needs alpha") != NULL);
}

/* ---- MNIST --------------------------------------------------------------- */

/* Write an idx file of n images h x w (pixel (i, y, x) = i + y + x) or of n
 * labels (i % 10) at dir/name, raw or gzip. `cut` bytes are dropped from the
 * end; magic replaces the real one when non-zero. */
static void write_idx(const char *dir, const char *name, bool images, int n,
                      int h, int w, bool gz, size_t cut, uint32_t magic) {
    size_t head = images ? 16 : 8;
    size_t body = images ? (size_t)n * (size_t)h * (size_t)w : (size_t)n;
    unsigned char *buf = malloc(head + body);
    uint32_t m = magic ? magic : images ? 0x803 : 0x801;
    uint32_t fields[4] = {m, (uint32_t)n, (uint32_t)h, (uint32_t)w};
    for (size_t f = 0; f < head / 4; f++)
        for (int b = 0; b < 4; b++)
            buf[4 * f + b] = (unsigned char)(fields[f] >> (24 - 8 * b));
    for (size_t i = 0; i < body; i++)
        buf[head + i] = images ? (unsigned char)(i / (h * w) + (i % (h * w)) / w +
                                                 i % w)
                               : (unsigned char)(i % 10);
    char path[512];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, gz ? ".gz" : "");
    size_t len = head + body - cut;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f || gzwrite(f, buf, (unsigned)len) != (int)len || gzclose(f))
            abort();
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
            abort();
    }
    free(buf);
}

static void make_dir(const char *name, char *out, size_t size) {
    setup();
    snprintf(out, size, "%s/%s", tmpdir, name);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", out, out);
    if (system(cmd))
        abort();
}

/* `extra`: more keys of the dataset, one line each, indented 4. */
static int build_mnist_with(const char *dir, bool test_mode, const char *type,
                            const char *extra, mm_dataset **out) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "train_dataloader:\n  dataset:\n    type: %s\n"
             "    data_root: '%s'\n    test_mode: %s\n%s",
             type, dir, test_mode ? "true" : "false", extra);
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), "cfg.yaml", &doc);
    if (!rc)
        rc = mm_registry_build(
            MM_DATASETS,
            mm_value_dict_get(mm_value_dict_get(doc, "train_dataloader"),
                              "dataset"),
            "mmcls", "train_dataloader.dataset", NULL, (void **)out);
    mm_value_release(doc);
    return rc;
}

static int build_mnist(const char *dir, bool test_mode, const char *type,
                       mm_dataset **out) {
    return build_mnist_with(dir, test_mode, type, "", out);
}

static void check_sample(mm_dataset *ds, size_t i, int h, int w) {
    mm_value *s = NULL;
    CHECK_OK(mm_dataset_get(ds, i, &s));
    if (!s)
        return;
    mm_tensor *img = mm_tensor_from_value(mm_value_dict_get(s, "img"));
    CHECK(img && img->dtype == MM_U8 && img->ndim == 2 &&
          img->shape[0] == h && img->shape[1] == w);
    if (img)
        CHECK_INT(mm_tensor_get_flat(img, 1 * w + 2), i + 1 + 2);
    CHECK_INT(mm_value_get_int(mm_value_dict_get(s, "gt_label")), i % 10);
    CHECK_INT(mm_value_get_int(mm_value_dict_get(s, "sample_idx")), i);
    mm_value_release(s);
}

MM_TEST(mnist_reads_raw_idx_files) {
    char dir[512];
    make_dir("raw", dir, sizeof dir);
    write_idx(dir, "train-images-idx3-ubyte", true, 12, 28, 28, false, 0, 0);
    write_idx(dir, "train-labels-idx1-ubyte", false, 12, 0, 0, false, 0, 0);
    mm_dataset *ds = NULL;
    CHECK_OK(build_mnist(dir, false, "MNIST", &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 12);
    check_sample(ds, 0, 28, 28);
    check_sample(ds, 11, 28, 28);
    const mm_value *classes =
        mm_value_dict_get(mm_dataset_metainfo(ds), "classes");
    CHECK_INT(mm_value_len(classes), 10);
    CHECK_STR(mm_value_get_string(mm_value_list_get(classes, 0)), "0 - zero");
    mm_dataset_free(ds);
}

MM_TEST(fashion_mnist_reads_gz_test_split) {
    char dir[512];
    make_dir("gz", dir, sizeof dir);
    write_idx(dir, "t10k-images-idx3-ubyte", true, 5, 28, 28, true, 0, 0);
    write_idx(dir, "t10k-labels-idx1-ubyte", false, 5, 0, 0, true, 0, 0);
    mm_dataset *ds = NULL;
    CHECK_OK(build_mnist(dir, true, "FashionMNIST", &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 5);
    check_sample(ds, 4, 28, 28);
    const mm_value *classes =
        mm_value_dict_get(mm_dataset_metainfo(ds), "classes");
    CHECK_STR(mm_value_get_string(mm_value_list_get(classes, 0)),
              "T-shirt/top");
    CHECK_STR(mm_value_get_string(mm_value_list_get(classes, 9)),
              "Ankle boot");
    mm_dataset_free(ds);
}

static void check_refused(const char *dir, const char *want) {
    mm_dataset *ds = NULL;
    int rc = build_mnist(dir, false, "MNIST", &ds);
    CHECK(rc < 0);
    CHECK(ds == NULL);
    const char *msg = mm_error_message();
    if (!strstr(msg, want))
        fprintf(stderr, "message: %s\n  want: %s\n", msg, want);
    CHECK(strstr(msg, want) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    mm_dataset_free(ds);
}

MM_TEST(mnist_truncated_files_are_refused) {
    char dir[512], want[700];
    make_dir("trunc", dir, sizeof dir);
    write_idx(dir, "train-images-idx3-ubyte", true, 4, 28, 28, false, 100, 0);
    write_idx(dir, "train-labels-idx1-ubyte", false, 4, 0, 0, false, 0, 0);
    snprintf(want, sizeof want,
             "%s/train-images-idx3-ubyte: 3036 bytes of data, the header "
             "says 3136 (truncated file)", dir);
    check_refused(dir, want);
    /* a gzip stream cut short */
    make_dir("truncgz", dir, sizeof dir);
    write_idx(dir, "train-images-idx3-ubyte", true, 4, 28, 28, true, 0, 0);
    write_idx(dir, "train-labels-idx1-ubyte", false, 4, 0, 0, false, 0, 0);
    char path[600], cmd[700];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(cmd, sizeof cmd, "truncate -s 40 '%s'", path);
    if (system(cmd))
        abort();
    check_refused(dir, path);
    /* a header cut short */
    make_dir("trunchead", dir, sizeof dir);
    write_idx(dir, "train-images-idx3-ubyte", true, 4, 28, 28, false,
              3136 + 6, 0);
    write_idx(dir, "train-labels-idx1-ubyte", false, 4, 0, 0, false, 0, 0);
    check_refused(dir, "truncated header");
}

MM_TEST(mnist_wrong_magic_and_counts_are_refused) {
    char dir[512], want[700];
    make_dir("magic", dir, sizeof dir);
    write_idx(dir, "train-images-idx3-ubyte", true, 4, 28, 28, false, 0,
              0x801);
    write_idx(dir, "train-labels-idx1-ubyte", false, 4, 0, 0, false, 0, 0);
    snprintf(want, sizeof want,
             "%s/train-images-idx3-ubyte: magic 0x00000801, want 0x00000803",
             dir);
    check_refused(dir, want);
    make_dir("count", dir, sizeof dir);
    write_idx(dir, "train-images-idx3-ubyte", true, 4, 28, 28, false, 0, 0);
    write_idx(dir, "train-labels-idx1-ubyte", false, 3, 0, 0, false, 0, 0);
    check_refused(dir, "3 labels for 4 images");
}

MM_TEST(mnist_missing_data_root_names_key_and_line) {
    mm_dataset *ds = NULL;
    CHECK(build_mnist("/nonexistent/mnist", false, "MNIST", &ds) ==
          MM_ENOENT);
    const char *msg = mm_error_message();
    CHECK(strstr(msg, "cfg.yaml:4:16: ") == msg);
    CHECK(strstr(msg, "train_dataloader.dataset (mmcls.MNIST): data_root: "
                      "no MNIST files in "
                      "'/nonexistent/mnist' (want "
                      "train-images-idx3-ubyte[.gz])") != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    if (strstr(msg, "cfg.yaml:4:16: ") != msg)
        fprintf(stderr, "message: %s\n", msg);
}

/* Debian's dataset-fashion-mnist (tools/bootstrap.sh installs it): the
 * real files, gzip-compressed; the first labels and the first image's pixel
 * sum are the files' own (read with Python's gzip). Skipped without the
 * package. */
MM_TEST(fashion_mnist_reads_the_debian_package) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    if (access("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
               R_OK)) {
        printf("skipped: %s is not installed\n", dir);
        return;
    }
    setup();
    mm_dataset *ds = NULL;
    CHECK_OK(build_mnist(dir, true, "FashionMNIST", &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 10000);
    const int64_t first[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    for (size_t i = 0; i < 10; i++) {
        mm_value *info = NULL;
        CHECK_OK(mm_dataset_get_info(ds, i, &info));
        CHECK_INT(mm_value_get_int(mm_value_dict_get(info, "gt_label")),
                  first[i]);
        mm_tensor *img = mm_tensor_from_value(mm_value_dict_get(info, "img"));
        if (i == 0 && img) {
            int64_t sum = 0;
            for (int64_t k = 0; k < img->numel; k++)
                sum += (int64_t)mm_tensor_get_flat(img, k);
            CHECK_INT(sum, 33456);
            CHECK(img->shape[0] == 28 && img->shape[1] == 28);
        }
        mm_value_release(info);
    }
    mm_dataset_free(ds);
}

/* mmpretrain 1.2.0: split is 'train' or 'test', but test_mode picks the
 * files (split='test' alone still reads the training set). */
MM_TEST(mnist_split_is_checked_and_test_mode_picks_the_files) {
    char dir[512];
    make_dir("split", dir, sizeof dir);
    write_idx(dir, "train-images-idx3-ubyte", true, 6, 28, 28, false, 0, 0);
    write_idx(dir, "train-labels-idx1-ubyte", false, 6, 0, 0, false, 0, 0);
    write_idx(dir, "t10k-images-idx3-ubyte", true, 3, 28, 28, false, 0, 0);
    write_idx(dir, "t10k-labels-idx1-ubyte", false, 3, 0, 0, false, 0, 0);
    static const struct {
        const char *split;
        bool test_mode;
        size_t len;
    } cases[] = {{"train", false, 6}, {"test", false, 6},
                 {"train", true, 3},  {"test", true, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char extra[64];
        snprintf(extra, sizeof extra, "    split: %s\n", cases[c].split);
        mm_dataset *ds = NULL;
        CHECK_OK(build_mnist_with(dir, cases[c].test_mode, "MNIST", extra,
                                  &ds));
        if (ds)
            CHECK_INT(mm_dataset_len(ds), cases[c].len);
        mm_dataset_free(ds);
    }
    mm_dataset *ds = NULL;
    CHECK(build_mnist_with(dir, false, "MNIST", "    split: val\n", &ds) ==
          MM_EINVAL);
    CHECK(ds == NULL);
    const char *msg = mm_error_message();
    CHECK(strstr(msg, "cfg.yaml:6:12: ") == msg);
    CHECK(strstr(msg, "train_dataloader.dataset.split: must be 'train' or "
                      "'test', got 'val'") != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    if (strstr(msg, "cfg.yaml:6:12: ") != msg)
        fprintf(stderr, "message: %s\n", msg);
}

MM_TEST(mnist_without_data_root_is_refused) {
    void *ds = NULL;
    CHECK(build_yaml(MM_DATASETS, "ds: {type: MNIST, test_mode: true}\n",
                     "ds", &ds) == MM_EINVAL);
    CHECK(ds == NULL);
    CHECK(strstr(mm_error_message(), "cfg.yaml:1:5: ") ==
          mm_error_message());
    CHECK(strstr(mm_error_message(), "ds: set data_root (or data_prefix) to "
                                     "the directory of the idx files") !=
          NULL);
}

MM_TEST(mnist_download_true_is_refused) {
    void *ds = NULL;
    CHECK(build_yaml(MM_DATASETS,
                     "ds: {type: MNIST, data_root: x, download: true}\n", "ds",
                     &ds) == MM_EUNSUPPORTED);
    CHECK(strstr(mm_error_message(), "ds.download: mm never downloads") !=
          NULL);
}

/* ---- PackInputs ----------------------------------------------------------- */

static void check_pack(const char *type) {
    mm_transform *t = NULL;
    char yaml[128];
    snprintf(yaml, sizeof yaml, "t: {type: %s}\n", type);
    CHECK_OK(build_yaml(MM_TRANSFORMS, yaml, "t", (void **)&t));
    if (!t)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    /* a 2 x 3 x 2 HWC image with pixel value 10 y + 3 x + c */
    unsigned char px[12];
    for (int i = 0; i < 12; i++)
        px[i] = (unsigned char)(10 * (i / 6) + 3 * ((i / 2) % 3) + i % 2);
    mm_tensor *img = NULL;
    CHECK_OK(mm_from_data(px, MM_SHAPE(2, 3, 2), MM_U8, &img));
    mm_value *r = mm_value_new_dict();
    CHECK_OK(mm_value_dict_set_take(r, "img", mm_tensor_to_value(img)));
    CHECK_OK(mm_value_dict_set_take(r, "gt_label", mm_value_new_int(7)));
    CHECK_OK(mm_value_dict_set_take(r, "sample_idx", mm_value_new_int(3)));
    CHECK_OK(mm_value_dict_set_take(r, "img_path", mm_value_new_string("a")));
    CHECK_OK(mm_value_dict_set_take(r, "other", mm_value_new_int(1)));
    CHECK_OK(mm_transform_apply(t, r));
    CHECK_INT(mm_value_len(r), 2);
    mm_tensor *x = mm_tensor_from_value(mm_value_dict_get(r, "inputs"));
    CHECK(x && x->ndim == 3 && x->shape[0] == 2 && x->shape[1] == 2 &&
          x->shape[2] == 3 && mm_tensor_is_contiguous(x));
    if (x) /* CHW: x[c=1, y=1, x=2] = 10 + 6 + 1 */
        CHECK_INT(mm_tensor_get_flat(x, 1 * 6 + 1 * 3 + 2), 17);
    mm_value *ds = mm_value_dict_get(r, "data_samples");
    CHECK_INT(mm_value_get_int(mm_value_dict_get(ds, "gt_label")), 7);
    CHECK_INT(mm_value_get_int(mm_value_dict_get(ds, "sample_idx")), 3);
    CHECK_STR(mm_value_get_string(mm_value_dict_get(ds, "img_path")), "a");
    CHECK(mm_value_dict_get(ds, "other") == NULL);
    mm_value_release(r);
    /* HW -> 1HW */
    mm_tensor *hw = NULL;
    CHECK_OK(mm_zeros(MM_SHAPE(4, 5), MM_U8, &hw));
    r = mm_value_new_dict();
    CHECK_OK(mm_value_dict_set_take(r, "img", mm_tensor_to_value(hw)));
    CHECK_OK(mm_transform_apply(t, r));
    x = mm_tensor_from_value(mm_value_dict_get(r, "inputs"));
    CHECK(x && x->ndim == 3 && x->shape[0] == 1 && x->shape[1] == 4);
    mm_value_release(r);
    mm_pool_close(pool);
    mm_transform_free(t);
}

MM_TEST(pack_inputs_gives_chw_inputs_and_a_data_sample) {
    check_pack("PackInputs");
}

MM_TEST(pack_cls_inputs_is_the_same_transform) { check_pack("PackClsInputs"); }

MM_TEST(pack_inputs_algorithm_and_meta_keys) {
    mm_transform *t = NULL;
    CHECK_OK(build_yaml(MM_TRANSFORMS,
                        "t: {type: PackInputs, algorithm_keys: [other], "
                        "meta_keys: [img_path]}\n",
                        "t", (void **)&t));
    if (!t)
        return;
    mm_value *r = mm_value_new_dict();
    CHECK_OK(mm_value_dict_set_take(r, "other", mm_value_new_int(1)));
    CHECK_OK(mm_value_dict_set_take(r, "sample_idx", mm_value_new_int(3)));
    CHECK_OK(mm_value_dict_set_take(r, "img_path", mm_value_new_string("a")));
    CHECK_OK(mm_transform_apply(t, r));
    mm_value *ds = mm_value_dict_get(r, "data_samples");
    CHECK(mm_value_dict_get(ds, "other") != NULL);
    CHECK(mm_value_dict_get(ds, "img_path") != NULL);
    CHECK(mm_value_dict_get(ds, "sample_idx") == NULL);
    CHECK(mm_value_dict_get(r, "inputs") == NULL);
    mm_value_release(r);
    mm_transform_free(t);
}

/* ---- metrics on the model's output ---------------------------------------- */

MM_TEST(accuracy_reads_predict_output) {
    mm_module *m = NULL;
    mm_metric *acc = NULL;
    CHECK_OK(build_lenet_config(&m));
    CHECK_OK(build_yaml(MM_METRICS, "e: {type: Accuracy, topk: [1, 10]}\n",
                        "e", (void **)&acc));
    if (!m || !acc) {
        mm_module_free(m);
        mm_metric_free(acc);
        return;
    }
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = test_batch(3);
    const int64_t y[3] = {0, 5, 9};
    mm_value *samples = samples_with_labels(3, y), *out = NULL, *res = NULL;
    CHECK_OK(mm_model_predict(m, 1, &x, samples, &out));
    CHECK_OK(mm_metric_process(acc, NULL, out));
    CHECK_OK(mm_metric_evaluate(acc, 3, &res));
    const mm_value *top10 = mm_value_dict_get(res, "accuracy/top10");
    CHECK(top10 && fabs(mm_value_get_float(top10) - 100.0) < 1e-9);
    mm_value_release(res);
    mm_value_release(out);
    mm_value_release(samples);
    mm_pool_close(pool);
    mm_module_free(m);
    mm_metric_free(acc);
}

MM_TEST_MAIN(MM_CASE(lenet5_config_builds_an_image_classifier),
             MM_CASE(lenet5_state_dict_names_are_mmpretrains),
             MM_CASE(tensor_mode_gives_logits_and_rejects_28x28),
             MM_CASE(loss_mode_is_mean_cross_entropy_of_the_logits),
             MM_CASE(predict_mode_adds_softmax_pred_score_and_argmax_label),
             MM_CASE(cal_acc_logs_topk_accuracy),
             MM_CASE(linear_cls_head_on_gap_neck),
             MM_CASE(gap_neck_pools_1d_2d_3d),
             MM_CASE(cross_entropy_class_weight_divides_by_batch_size),
             MM_CASE(label_smooth_loss_matches_its_formula),
             MM_CASE(loss_options_out_of_range_are_one_line_errors),
             MM_CASE(cls_data_preprocessor_normalises_and_makes_onehot),
             MM_CASE(image_classifier_defaults_to_cls_data_preprocessor),
             MM_CASE(image_classifier_passes_train_cfg_augments_to_the_preprocessor),
             MM_CASE(mnist_reads_raw_idx_files),
             MM_CASE(fashion_mnist_reads_gz_test_split),
             MM_CASE(mnist_truncated_files_are_refused),
             MM_CASE(mnist_wrong_magic_and_counts_are_refused),
             MM_CASE(mnist_missing_data_root_names_key_and_line),
             MM_CASE(fashion_mnist_reads_the_debian_package),
             MM_CASE(mnist_split_is_checked_and_test_mode_picks_the_files),
             MM_CASE(mnist_without_data_root_is_refused),
             MM_CASE(mnist_download_true_is_refused),
             MM_CASE(pack_inputs_gives_chw_inputs_and_a_data_sample),
             MM_CASE(pack_cls_inputs_is_the_same_transform),
             MM_CASE(pack_inputs_algorithm_and_meta_keys),
             MM_CASE(accuracy_reads_predict_output))
