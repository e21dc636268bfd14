/* The ResNet family of the mmcls plugin (ResNet, ResNetV1c, ResNetV1d,
 * ResNeXt, SEResNet, SEResNeXt, ResNet_CIFAR), built through the registry
 * as configs build it: stage shapes for every depth and out_indices,
 * frozen_stages and norm_eval, mmpretrain's initialisation, argument
 * errors, the torchvision.resnet key map, the configs, and mmpretrain's
 * recorded numbers on small models (mmpretrain_resnet.safetensors,
 * written by tools/parity/resnet_mmpretrain.py): strict state dict
 * loading, eval and train outputs, running statistics. Full-size numbers
 * against torchvision are in the parity suite (tests/parity/zoo). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "harness.h"
#include "mm/mm.h"

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
}

/* A backbone from YAML flow text ("{type: ResNet, depth: 18}"). */
static int build(const char *yaml, mm_module **out) {
    setup();
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), "cfg.yaml", &doc);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, doc, "mmcls", "backbone", NULL,
                               (void **)out);
    mm_value_release(doc);
    return rc;
}

/* The model of a config file (bases merged), built in scope mmcls. */
static int build_config(const char *path, mm_module **out) {
    setup();
    mm_value *cfg = NULL;
    *out = NULL;
    int rc = mm_config_load(path, NULL, 0, &cfg);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, mm_config_get(cfg, "model"),
                               "mmcls", "model", NULL, (void **)out);
    mm_value_release(cfg);
    return rc;
}

static mm_tensor *randn(int64_t n, int64_t c, int64_t h, int64_t w) {
    mm_tensor *x = NULL;
    if (mm_randn(MM_SHAPE(n, c, h, w), MM_F32, NULL, &x))
        return NULL;
    return x;
}

/* outs of m on x; the count in *n (-1 on failure, with the error shown). */
static void forward(mm_module *m, mm_tensor *x, int *n, mm_tensor **outs) {
    int rc = mm_module_forward_multi(m, 1, &x, MM_MAX_OUTPUTS, n, outs);
    if (rc) {
        fprintf(stderr, "forward: %s\n", mm_error_message());
        *n = -1;
    }
}

static bool has_shape(const mm_tensor *t, int64_t n, int64_t c, int64_t h,
                      int64_t w) {
    return t->ndim == 4 && t->shape[0] == n && t->shape[1] == c &&
           t->shape[2] == h && t->shape[3] == w;
}

/* ---- shapes -------------------------------------------------------------- */

MM_TEST(every_depth_gives_mmpretrains_stage_shapes) {
    /* mmpretrain's docstring: ResNet(18) on (1, 3, 32, 32) gives (1, 64,
     * 8, 8), (1, 128, 4, 4), (1, 256, 2, 2), (1, 512, 1, 1); Bottleneck
     * depths four times the channels */
    static const int depths[5] = {18, 34, 50, 101, 152};
    for (int d = 0; d < 5; d++) {
        char cfg[160];
        /* base_channels 16 keeps ResNet-152 quick; the channels scale */
        snprintf(cfg, sizeof cfg,
                 "{type: ResNet, depth: %d, base_channels: 16, "
                 "out_indices: [0, 1, 2, 3]}", depths[d]);
        mm_module *m;
        CHECK_OK(build(cfg, &m));
        if (!m)
            continue;
        mm_module_eval(m);
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        mm_tensor *outs[MM_MAX_OUTPUTS];
        int n;
        forward(m, randn(1, 3, 32, 32), &n, outs);
        CHECK_INT(n, 4);
        int64_t e = depths[d] < 50 ? 1 : 4;
        for (int i = 0; i < n; i++)
            CHECK(has_shape(outs[i], 1, 16 * e << i, 8 >> i, 8 >> i));
        mm_pool_close(pool);
        mm_module_free(m);
    }
}

MM_TEST(out_indices_pick_stages_in_stage_order) {
    mm_module *m;
    CHECK_OK(build("{type: ResNet, depth: 18, base_channels: 8}", &m));
    mm_module_eval(m);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = randn(2, 3, 64, 64), *all[MM_MAX_OUTPUTS];
    int n;
    /* default out_indices [3]: one (N, 8 * 8, 2, 2) map, also through the
     * single-output forward */
    forward(m, x, &n, all);
    CHECK_INT(n, 1);
    CHECK(n == 1 && has_shape(all[0], 2, 64, 2, 2));
    mm_tensor *last;
    CHECK_OK(mm_module_forward1(m, x, &last));
    CHECK(last && mm_allclose(last, all[0], 0, 0, NULL));
    mm_module_free(m);
    /* every non-empty subset of the four stages, written backwards: the
     * outputs come in stage order, as mmpretrain's `i in out_indices` */
    for (int mask = 1; mask < 16; mask++) {
        char cfg[128], list[32] = "";
        for (int i = 3; i >= 0; i--)
            if (mask & (1 << i))
                snprintf(list + strlen(list), sizeof list - strlen(list),
                         "%s%d", list[0] ? ", " : "", i);
        snprintf(cfg, sizeof cfg, "{type: ResNet, depth: 18, base_channels: 8, "
                                  "stem_channels: 8, out_indices: [%s]}",
                 list);
        CHECK_OK(build(cfg, &m));
        if (!m)
            continue;
        mm_module_eval(m);
        mm_tensor *outs[MM_MAX_OUTPUTS];
        forward(m, x, &n, outs);
        int k = 0;
        for (int i = 0; i < 4; i++)
            if (mask & (1 << i)) {
                CHECK(k < n && has_shape(outs[k], 2, 8 << i, 16 >> i,
                                         16 >> i));
                k++;
            }
        CHECK_INT(n, k);
        mm_module_free(m);
    }
    mm_pool_close(pool);
}

MM_TEST(variants_give_their_stage_shapes) {
    static const struct {
        const char *cfg;
        int64_t in, c0; /* input size, channels of stage 0 */
        int64_t h0;     /* spatial size of stage 0 */
    } cases[] = {
        {"{type: ResNetV1c, depth: 50, base_channels: 16, "
         "out_indices: [0, 1, 2, 3]}", 64, 64, 16},
        {"{type: ResNetV1d, depth: 50, base_channels: 16, "
         "out_indices: [0, 1, 2, 3]}", 64, 64, 16},
        {"{type: ResNeXt, depth: 50, base_channels: 16, groups: 4, "
         "out_indices: [0, 1, 2, 3]}", 64, 64, 16},
        {"{type: SEResNet, depth: 50, base_channels: 16, "
         "out_indices: [0, 1, 2, 3]}", 64, 64, 16},
        {"{type: SEResNeXt, depth: 50, base_channels: 16, groups: 4, "
         "out_indices: [0, 1, 2, 3]}", 64, 64, 16},
        /* no stride-2 stem, no max pool: 32 -> 32, 16, 8, 4 */
        {"{type: ResNet_CIFAR, depth: 18, out_indices: [0, 1, 2, 3]}", 32, 64,
         32},
        /* dilation instead of stride in the last stage (output stride 16) */
        {"{type: ResNet, depth: 50, base_channels: 16, strides: [1, 2, 2, 1],"
         " dilations: [1, 1, 1, 2], out_indices: [0, 1, 2, 3]}", 64, 64, 16},
    };
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mm_module *m;
        CHECK_OK(build(cases[c].cfg, &m));
        if (!m)
            continue;
        mm_module_eval(m);
        mm_tensor *outs[MM_MAX_OUTPUTS];
        int n;
        forward(m, randn(1, 3, cases[c].in, cases[c].in), &n, outs);
        CHECK_INT(n, 4);
        bool dilated = strstr(cases[c].cfg, "dilations") != NULL;
        for (int i = 0; i < n; i++) {
            int64_t h = cases[c].h0 >> (dilated && i == 3 ? 2 : i);
            if (!has_shape(outs[i], 1, cases[c].c0 << i, h, h)) {
                fprintf(stderr, "%s: stage %d\n", cases[c].cfg, i);
                CHECK(false);
            }
        }
        mm_module_free(m);
    }
    mm_pool_close(pool);
}

/* ---- state dict names ------------------------------------------------------ */

static void check_keys(mm_module *m, int n_entries,
                       const char *const *want) {
    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(m, &sd));
    CHECK_INT(sd.n, n_entries);
    for (int i = 0; want[i]; i++)
        if (!mm_state_dict_get(&sd, want[i])) {
            fprintf(stderr, "missing key %s\n", want[i]);
            CHECK(false);
        }
    mm_state_dict_clear(&sd);
}

MM_TEST(configs_build_with_mmpretrains_keys_and_parameter_counts) {
    /* entries of state_dict() and parameters of mmpretrain 1.2.0's
     * ImageClassifier built from the same _base_/models config */
    static const struct {
        const char *cfg;
        int entries;
        int64_t params;
        const char *keys[4];
    } cases[] = {
        {"configs/_base_/models/resnet18.yaml", 122, 11689512,
         {"backbone.layer4.1.bn2.num_batches_tracked", "head.fc.bias",
          "backbone.layer2.0.downsample.1.running_var"}},
        {"configs/_base_/models/resnet18_cifar.yaml", 122, 11173962,
         {"backbone.conv1.weight", "head.fc.weight"}},
        {"configs/_base_/models/resnetv1d50.yaml", 332, 25576264,
         {"backbone.stem.0.conv.weight", "backbone.stem.2.bn.running_mean",
          "backbone.layer2.0.downsample.1.weight",
          "backbone.layer2.0.downsample.2.bias"}},
        {"configs/_base_/models/seresnet50.yaml", 384, 28088024,
         {"backbone.layer1.0.se_layer.conv1.conv.weight",
          "backbone.layer4.2.se_layer.conv2.conv.bias"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mm_module *m;
        CHECK_OK(build_config(cases[c].cfg, &m));
        if (!m)
            continue;
        const char *want[5] = {0};
        memcpy(want, cases[c].keys, sizeof cases[c].keys);
        check_keys(m, cases[c].entries, want);
        CHECK_INT(mm_module_num_parameters(m, false), cases[c].params);
        mm_module_free(m);
    }
}

MM_TEST(every_family_config_validates) {
    static const char *const models[] = {
        "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnet18_cifar", "resnet34_cifar", "resnet50_cifar",
        "resnet101_cifar", "resnet152_cifar", "resnet50_label_smooth",
        "resnetv1c50", "resnetv1d50", "resnetv1d101", "resnetv1d152",
        "resnext50_32x4d", "resnext101_32x4d", "resnext101_32x8d",
        "resnext152_32x4d", "seresnet50", "seresnet101",
        "seresnext50_32x4d", "seresnext101_32x4d", "wide-resnet50"};
    setup();
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "configs/_base_/models/%s.yaml",
                 models[i]);
        mm_value *cfg = NULL;
        CHECK_OK(mm_config_load(path, NULL, 0, &cfg));
        if (cfg)
            CHECK_OK(mm_registry_validate(MM_MODELS,
                                          mm_config_get(cfg, "model"),
                                          "mmcls", "model"));
        mm_value_release(cfg);
    }
}

/* Every config of the four directories loads (bases merged) and passes
 * the registry's validation, as `mm config validate` runs it. */
MM_TEST(every_recipe_config_validates) {
    static const char *const dirs[] = {"resnet", "resnext", "seresnet",
                                       "wrn"};
    setup();
    int n = 0;
    for (size_t d = 0; d < 4; d++) {
        char dir[256];
        snprintf(dir, sizeof dir, "configs/mmcls/%s", dirs[d]);
        DIR *dp = opendir(dir);
        CHECK(dp != NULL);
        if (!dp)
            continue;
        struct dirent *e;
        while ((e = readdir(dp))) {
            size_t len = strlen(e->d_name);
            if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") ||
                !strcmp(e->d_name, "metafile.yaml"))
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            mm_value *cfg = NULL;
            int rc = mm_config_load(path, NULL, 0, &cfg);
            if (!rc)
                rc = mm_config_validate_components(cfg);
            if (rc) {
                fprintf(stderr, "%s: %s\n", path, mm_error_message());
                CHECK(false);
            }
            mm_value_release(cfg);
            n++;
        }
        closedir(dp);
    }
    CHECK_INT(n, 32);
}

/* Every metafile entry names a config of its directory that exists. */
MM_TEST(metafiles_point_at_the_configs) {
    static const char *const dirs[] = {"resnet", "resnext", "seresnet",
                                       "wrn"};
    for (size_t d = 0; d < 4; d++) {
        char path[256];
        snprintf(path, sizeof path, "configs/mmcls/%s/metafile.yaml",
                 dirs[d]);
        char *text = NULL;
        size_t len = 0;
        mm_value *doc = NULL;
        CHECK_OK(mm_file_read(path, &text, &len));
        if (text)
            CHECK_OK(mm_yaml_parse(text, len, path, &doc));
        free(text);
        const mm_value *models = doc ? mm_value_dict_get(doc, "Models") : NULL;
        CHECK(mm_value_len(models) > 0);
        for (size_t i = 0; i < mm_value_len(models); i++) {
            const mm_value *e = mm_value_list_get(models, i);
            const char *name =
                mm_value_get_string(mm_value_dict_get(e, "Name"));
            const char *cfg =
                mm_value_get_string(mm_value_dict_get(e, "Config"));
            char dir[256];
            snprintf(dir, sizeof dir, "configs/mmcls/%s/", dirs[d]);
            CHECK(name && cfg && strncmp(cfg, dir, strlen(dir)) == 0);
            CHECK(cfg && access(cfg, R_OK) == 0);
            const mm_value *meta = mm_value_dict_get(e, "Metadata");
            CHECK(mm_value_is_int(mm_value_dict_get(meta, "Parameters")));
        }
        mm_value_release(doc);
    }
}

/* ---- modes and initialisation ------------------------------------------------ */

static bool training(mm_module *root, const char *path) {
    mm_module *m = mm_module_find(root, path);
    if (!m)
        fprintf(stderr, "no module %s\n", path);
    return m && m->training;
}

static bool requires_grad(mm_module *root, const char *name) {
    mm_tensor *t = mm_module_find_tensor(root, name);
    if (!t)
        fprintf(stderr, "no tensor %s\n", name);
    return t && t->requires_grad;
}

static mm_tensor *copy_of(mm_module *root, const char *name) {
    mm_tensor *t = mm_module_find_tensor(root, name), *c = NULL;
    if (t && mm_clone(t, &c))
        c = NULL;
    return c;
}

static bool unchanged(mm_module *root, const char *name, mm_tensor *before) {
    mm_tensor *t = mm_module_find_tensor(root, name);
    return t && before && mm_allclose(t, before, 0, 0, NULL);
}

MM_TEST(frozen_stages_have_no_gradients_and_stay_in_eval_mode) {
    mm_module *m;
    CHECK_OK(build("{type: ResNet, depth: 18, base_channels: 8, "
                   "frozen_stages: 2}", &m));
    if (!m)
        return;
    CHECK(!requires_grad(m, "conv1.weight"));
    CHECK(!requires_grad(m, "bn1.bias"));
    CHECK(!requires_grad(m, "layer1.0.conv1.weight"));
    CHECK(!requires_grad(m, "layer2.0.downsample.1.weight"));
    CHECK(requires_grad(m, "layer3.0.conv1.weight"));
    CHECK(requires_grad(m, "layer4.1.bn2.weight"));
    int64_t frozen = 0;
    static const char *const parts[] = {"conv1", "bn1", "layer1", "layer2"};
    for (int i = 0; i < 4; i++)
        frozen += mm_module_num_parameters(mm_module_find(m, parts[i]), false);
    CHECK_INT(mm_module_num_parameters(m, true),
              mm_module_num_parameters(m, false) - frozen);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_module_train(m, true);
    mm_tensor *b1 = copy_of(m, "layer2.1.bn2.running_mean");
    mm_tensor *b3 = copy_of(m, "layer3.0.bn1.running_mean");
    mm_tensor *outs[MM_MAX_OUTPUTS];
    int n;
    forward(m, randn(2, 3, 32, 32), &n, outs);
    CHECK(m->training);
    CHECK(!training(m, "bn1"));
    CHECK(!training(m, "layer1.0.bn1"));
    CHECK(!training(m, "layer2.1.bn2"));
    CHECK(training(m, "layer3.0.bn1"));
    CHECK(unchanged(m, "layer2.1.bn2.running_mean", b1));
    CHECK(!unchanged(m, "layer3.0.bn1.running_mean", b3));
    mm_pool_close(pool);
    mm_module_free(m);

    /* the deep stem is frozen as a whole */
    CHECK_OK(build("{type: ResNetV1d, depth: 50, base_channels: 8, "
                   "stem_channels: 16, frozen_stages: 0}", &m));
    if (!m)
        return;
    CHECK(!requires_grad(m, "stem.0.conv.weight"));
    CHECK(!requires_grad(m, "stem.2.bn.weight"));
    CHECK(requires_grad(m, "layer1.0.conv1.weight"));
    CHECK_OK(mm_pool_open(&pool));
    forward(m, randn(2, 3, 32, 32), &n, outs);
    CHECK(!training(m, "stem.1.bn"));
    CHECK(training(m, "layer1.0.bn1"));
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(norm_eval_keeps_every_batch_norm_in_eval_mode) {
    mm_module *m;
    CHECK_OK(build("{type: ResNet, depth: 50, base_channels: 8, "
                   "norm_eval: true}", &m));
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *b = copy_of(m, "layer4.2.bn3.running_var");
    mm_tensor *outs[MM_MAX_OUTPUTS];
    int n;
    forward(m, randn(2, 3, 32, 32), &n, outs);
    CHECK(training(m, ""));
    CHECK(training(m, "layer1.0"));
    CHECK(!training(m, "bn1"));
    CHECK(!training(m, "layer1.0.downsample.1"));
    CHECK(!training(m, "layer4.2.bn3"));
    CHECK(unchanged(m, "layer4.2.bn3.running_var", b));
    CHECK(requires_grad(m, "layer4.2.bn3.weight"));
    /* eval() then train() again: still kept */
    mm_module_eval(m);
    mm_module_train(m, true);
    forward(m, randn(2, 3, 32, 32), &n, outs);
    CHECK(!training(m, "layer2.3.bn2"));
    mm_pool_close(pool);
    mm_module_free(m);
}

/* Sample standard deviation and max |x| of a tensor. */
static void stats(mm_module *m, const char *name, double *std, double *amax) {
    mm_tensor *t = mm_module_find_tensor(m, name);
    *std = *amax = NAN;
    if (!t)
        return;
    const float *p = MM_DATA(t, float);
    double s = 0, s2 = 0, mx = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        s += p[i];
        s2 += (double)p[i] * p[i];
        mx = fmax(mx, fabs(p[i]));
    }
    double mean = s / (double)t->numel;
    *std = sqrt(s2 / (double)t->numel - mean * mean);
    *amax = mx;
}

static bool all_equal(mm_module *m, const char *name, double v) {
    mm_tensor *t = mm_module_find_tensor(m, name);
    if (!t)
        return false;
    for (int64_t i = 0; i < t->numel; i++)
        if (MM_DATA(t, float)[i] != (float)v)
            return false;
    return true;
}

MM_TEST(default_init_is_kaiming_fan_out_and_zero_init_residual) {
    mm_module *m;
    CHECK_OK(build("{type: ResNet, depth: 50, base_channels: 16}", &m));
    if (!m)
        return;
    double sd, mx;
    /* layer4.0.conv2 (128, 128, 3, 3): std sqrt(2 / (128 * 9)) */
    stats(m, "layer4.0.conv2.weight", &sd, &mx);
    CHECK(fabs(sd / sqrt(2.0 / 1152) - 1) < 0.02);
    stats(m, "conv1.weight", &sd, &mx); /* (64, 3, 7, 7): fan_out 3136 */
    CHECK(fabs(sd / sqrt(2.0 / 3136) - 1) < 0.05);
    CHECK(all_equal(m, "bn1.weight", 1) && all_equal(m, "bn1.bias", 0));
    CHECK(all_equal(m, "layer1.0.bn2.weight", 1));
    CHECK(all_equal(m, "layer2.0.downsample.1.weight", 1));
    /* zero_init_residual: the last norm of every block */
    CHECK(all_equal(m, "layer1.0.bn3.weight", 0));
    CHECK(all_equal(m, "layer3.5.bn3.weight", 0));
    CHECK(all_equal(m, "layer4.2.bn3.bias", 0));
    /* mm_module_init_weights (what training from scratch runs) agrees */
    CHECK_OK(mm_module_init_weights(m));
    CHECK(all_equal(m, "layer2.1.bn3.weight", 0));
    stats(m, "layer4.0.conv2.weight", &sd, &mx);
    CHECK(fabs(sd / sqrt(2.0 / 1152) - 1) < 0.02);
    mm_module_free(m);

    CHECK_OK(build("{type: ResNet, depth: 18, base_channels: 8, "
                   "zero_init_residual: false}", &m));
    if (m) {
        CHECK(all_equal(m, "layer1.0.bn2.weight", 1));
        mm_module_free(m);
    }
    /* SE blocks: the SELayer's 1x1 convs are Conv2d too, bias 0 */
    CHECK_OK(build("{type: SEResNet, depth: 50, base_channels: 16}", &m));
    if (m) {
        CHECK(all_equal(m, "layer1.0.se_layer.conv1.conv.bias", 0));
        CHECK(all_equal(m, "layer1.0.bn3.weight", 0));
        mm_module_free(m);
    }
}

MM_TEST(init_cfg_null_pretrained_and_uniform_kaiming) {
    mm_module *m;
    double sd, mx;
    /* null: PyTorch's default (kaiming_uniform, a = sqrt(5): |w| <=
     * 1 / sqrt(fan_in)), then zero_init_residual as mmpretrain */
    CHECK_OK(build("{type: ResNet, depth: 18, base_channels: 16, "
                   "init_cfg: null}", &m));
    if (m) {
        stats(m, "layer4.0.conv2.weight", &sd, &mx); /* fan_in 1152 */
        CHECK(mx <= 1 / sqrt(1152.0) + 1e-7);
        CHECK(fabs(sd / (1 / sqrt(3 * 1152.0)) - 1) < 0.05);
        CHECK(all_equal(m, "layer1.0.bn2.weight", 0));
        mm_module_free(m);
    }
    /* Pretrained: the registry takes it out for the runner to load, so
     * the backbone builds as with null (PyTorch's init, mmpretrain's too
     * when its init_cfg is Pretrained; the checkpoint overwrites it) */
    CHECK_OK(build("{type: ResNet, depth: 18, base_channels: 16, init_cfg: "
                   "{type: Pretrained, "
                   "checkpoint: x.pth, prefix: backbone}}", &m));
    if (m) {
        stats(m, "layer4.0.conv2.weight", &sd, &mx);
        CHECK(mx <= 1 / sqrt(1152.0) + 1e-7);
        mm_module_free(m);
    }
    CHECK_OK(build("{type: ResNet, depth: 18, base_channels: 16, "
                   "init_cfg: [{type: Kaiming, "
                   "layer: Conv2d, mode: fan_in, distribution: uniform}, "
                   "{type: Constant, val: 0.5, layer: _BatchNorm}]}", &m));
    if (m) {
        stats(m, "layer4.0.conv2.weight", &sd, &mx);
        double bound = sqrt(3.0) * sqrt(2.0 / 1152);
        CHECK(mx <= bound + 1e-7 && mx > 0.95 * bound);
        CHECK(all_equal(m, "layer1.0.bn1.weight", 0.5));
        mm_module_free(m);
    }
}

/* ---- errors ------------------------------------------------------------------ */

static void check_refused(const char *cfg, const char *want) {
    mm_module *m = NULL;
    mm_error_clear();
    int rc = build(cfg, &m);
    CHECK(rc < 0 && !m);
    const char *msg = mm_error_message();
    if (!strstr(msg, want) || strchr(msg, '\n')) {
        fprintf(stderr, "%s:\n  got:  %s\n  want: ...%s...\n", cfg, msg,
                want);
        CHECK(false);
    }
    mm_module_free(m);
}

MM_TEST(bad_arguments_are_one_line_errors) {
    check_refused("{type: ResNet, depth: 20}",
                  "depth: invalid depth 20 for ResNet (18, 34, 50, 101, "
                  "152)");
    check_refused("{type: ResNeXt, depth: 18}",
                  "invalid depth 18 for ResNeXt (50, 101, 152)");
    check_refused("{type: ResNet, depth: 18, out_indices: [-1]}",
                  "out_indices: -1 is negative; mmpretrain's ResNet would "
                  "give no output for it (use 0 to 3)");
    check_refused("{type: ResNet, depth: 18, out_indices: [4]}",
                  "out_indices: 4 is not a stage (0 to 3)");
    check_refused("{type: ResNet, depth: 18, num_stages: 3}",
                  "strides and dilations need num_stages (3) entries each, "
                  "got 4 and 4");
    check_refused("{type: ResNet, depth: 18, with_cp: true}",
                  "with_cp: activation checkpointing is not supported");
    check_refused("{type: ResNet_CIFAR, depth: 18, deep_stem: true}",
                  "deep_stem: ResNet_CIFAR does not support deep_stem");
    check_refused("{type: ResNet, depth: 18, style: tf}",
                  "style: must be 'pytorch' or 'caffe', got 'tf'");
    check_refused("{type: ResNet, depth: 18, frozen_stages: 5}",
                  "frozen_stages: must be -1 (none) to num_stages");
    check_refused("{type: ResNet, depth: 18, expansion: 2}",
                  "expansion: BasicBlock (depth 18) needs expansion 1");
    check_refused("{type: ResNet, depth: 18, conv_cfg: {type: DCNv2}}",
                  "conv_cfg: only null or {type: Conv2d} is supported");
    check_refused("{type: ResNet, depth: 18, norm_cfg: {type: ReLU}}",
                  "takes neither num_features nor num_channels");
    check_refused("{type: ResNet, depth: 18, init_cfg: {type: Xavier, "
                  "layer: Conv2d}}",
                  "init_cfg: type 'Xavier' is not supported for ResNet "
                  "backbones (Kaiming, Constant, Pretrained)");
    check_refused("{type: ResNetV1d, depth: 50, deep_stem: true}",
                  "deep_stem");
    /* the wrong input is refused at forward */
    mm_module *m;
    CHECK_OK(build("{type: ResNet, depth: 18, base_channels: 8, "
                   "in_channels: 1}", &m));
    if (m) {
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        mm_tensor *out;
        CHECK(mm_module_forward1(m, randn(1, 3, 32, 32), &out) == MM_EINVAL);
        CHECK(strstr(mm_error_message(),
                     "ResNet needs (N, 1, H, W) inputs, got [1, 3, 32, 32]")
              != NULL);
        mm_pool_close(pool);
        mm_module_free(m);
    }
}

/* ---- the torchvision key map --------------------------------------------------- */

MM_TEST(torchvision_resnet_key_map_gives_classifier_keys) {
    mm_module *m;
    CHECK_OK(build_config("configs/_base_/models/resnet50.yaml", &m));
    if (!m)
        return;
    /* torchvision's names are the model's without backbone. / head. */
    mm_state_dict sd = {0}, tv = {0}, mapped = {0};
    CHECK_OK(mm_module_state_dict(m, &sd));
    for (size_t i = 0; i < sd.n; i++) {
        const char *k = sd.items[i].name;
        const char *dot = strchr(k, '.');
        CHECK(dot != NULL);
        if (dot)
            CHECK_OK(mm_state_dict_add(&tv, dot + 1, sd.items[i].tensor));
    }
    CHECK(mm_state_dict_get(&tv, "fc.weight") != NULL);
    CHECK(mm_state_dict_get(&tv, "layer1.0.downsample.0.weight") != NULL);
    CHECK_OK(mm_key_map_apply("torchvision.resnet", &tv, &mapped));
    CHECK_INT(mapped.n, sd.n);
    for (size_t i = 0; i < mapped.n && i < sd.n; i++)
        CHECK_STR(mapped.items[i].name, sd.items[i].name);
    CHECK(mm_state_dict_get(&mapped, "head.fc.bias") != NULL);
    CHECK_OK(mm_module_load_state_dict(m, &mapped, true, NULL));

    /* a key torchvision's ResNet does not have is refused by name */
    mm_state_dict bad = {0}, out = {0};
    CHECK_OK(mm_state_dict_add(&bad, "conv1.weight",
                               mm_state_dict_get(&tv, "conv1.weight")));
    CHECK_OK(mm_state_dict_add(&bad, "layer5.0.conv1.weight",
                               mm_state_dict_get(&tv, "conv1.weight")));
    CHECK_ERR(mm_key_map_apply("torchvision.resnet", &bad, &out), MM_EINVAL,
              "key map torchvision.resnet: unexpected key "
              "'layer5.0.conv1.weight' (not a torchvision ResNet / ResNeXt "
              "key)");
    mm_state_dict_clear(&out);
    mm_state_dict_clear(&bad);
    CHECK_OK(mm_state_dict_add(&bad, "layer1.0.bn1.running_mean",
                               mm_state_dict_get(&tv, "conv1.weight")));
    CHECK_OK(mm_state_dict_add(&bad, "layer1.0.se.fc1.weight",
                               mm_state_dict_get(&tv, "conv1.weight")));
    CHECK(mm_key_map_apply("torchvision.resnet", &bad, &out) == MM_EINVAL);
    mm_state_dict_clear(&out);
    mm_state_dict_clear(&bad);
    mm_state_dict_clear(&mapped);
    mm_state_dict_clear(&tv);
    mm_state_dict_clear(&sd);
    mm_module_free(m);
}

/* ---- mmpretrain's numbers --------------------------------------------------------- */

static mm_checkpoint *loaded;

static void free_recording(void) { mm_checkpoint_free(loaded); }

static mm_checkpoint *recording(void) {
    if (!loaded) {
        if (mm_checkpoint_load("tests/mmcls/mmpretrain_resnet.safetensors",
                               &loaded)) {
            fprintf(stderr, "%s\n", mm_error_message());
            return NULL;
        }
        atexit(free_recording);
    }
    return loaded;
}

/* max |a - b| <= 1e-4 max |b| (f32 through a deep net; the zoo parity
 * suite's criterion), else the error shown. */
static bool close_to(const char *what, mm_tensor *a, mm_tensor *b) {
    if (!a || !b || a->numel != b->numel) {
        fprintf(stderr, "%s: missing or wrong size\n", what);
        return false;
    }
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = MM_DATA(a, float)[i], y = MM_DATA(b, float)[i];
        diff = fmax(diff, fabs(x - y));
        scale = fmax(scale, fabs(y));
    }
    if (diff <= 1e-4 * fmax(scale, 1e-3))
        return true;
    fprintf(stderr, "%s: max |diff| %g, max |want| %g\n", what, diff, scale);
    return false;
}

typedef void (*case_fn)(mm_checkpoint *ck, const char *name, mm_module *m,
                        int n_out);

/* Build each recorded case's model from its config, load its state dict
 * strictly, and hand it to fn. */
static void each_case(case_fn fn) {
    setup();
    mm_checkpoint *ck = recording();
    CHECK(ck != NULL);
    if (!ck)
        return;
    const mm_value *cases = mm_checkpoint_get_meta(ck, "cases");
    CHECK(mm_value_len(cases) >= 10);
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *name = mm_value_get_string(mm_value_dict_get(c, "name"));
        mm_module *m = NULL;
        int rc = mm_registry_build(MM_MODELS, mm_value_dict_get(c, "config"),
                                   "mmcls", name, NULL, (void **)&m);
        if (rc) {
            fprintf(stderr, "%s: %s\n", name, mm_error_message());
            CHECK(false);
            continue;
        }
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s.sd.", name);
        int lrc = mm_checkpoint_load_module(ck, prefix, m, true, NULL);
        if (lrc)
            fprintf(stderr, "%s: %s\n", name, mm_error_message());
        CHECK(lrc == 0);
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        fn(ck, name, m,
           (int)mm_value_get_int(mm_value_dict_get(c, "outputs")));
        mm_pool_close(pool);
        mm_module_free(m);
    }
}

static void check_outputs(mm_checkpoint *ck, const char *name, mm_module *m,
                          int n_out, const char *mode) {
    char key[128];
    snprintf(key, sizeof key, "%s.x", name);
    mm_tensor *outs[MM_MAX_OUTPUTS];
    int n;
    forward(m, mm_checkpoint_get(ck, key), &n, outs);
    CHECK_INT(n, n_out);
    for (int i = 0; i < n && i < n_out; i++) {
        snprintf(key, sizeof key, "%s.%s.%d", name, mode, i);
        CHECK(close_to(key, outs[i], mm_checkpoint_get(ck, key)));
    }
}

static void eval_case(mm_checkpoint *ck, const char *name, mm_module *m,
                      int n_out) {
    mm_module_eval(m);
    mm_no_grad_push();
    check_outputs(ck, name, m, n_out, "eval");
    mm_no_grad_pop();
}

MM_TEST(mmpretrain_models_load_strictly_and_agree_in_eval_mode) {
    each_case(eval_case);
}

static int check_stat(const char *key, mm_tensor *t, void *user) {
    const char *name = ((void **)user)[0];
    mm_checkpoint *ck = ((void **)user)[1];
    size_t len = strlen(key);
    if ((len < 12 || strcmp(key + len - 12, "running_mean")) &&
        (len < 11 || strcmp(key + len - 11, "running_var")))
        return 0;
    char rec[256];
    snprintf(rec, sizeof rec, "%s.after.%s", name, key);
    mm_tensor *want = mm_checkpoint_get(ck, rec);
    if (want)
        CHECK(close_to(rec, t, want));
    return 0;
}

static void train_case(mm_checkpoint *ck, const char *name, mm_module *m,
                       int n_out) {
    mm_module_train(m, true);
    check_outputs(ck, name, m, n_out, "train");
    void *user[2] = {(void *)name, ck};
    CHECK_OK(mm_module_named_buffers(m, check_stat, user));
}

/* Train mode: batch statistics where mmpretrain has them, running ones in
 * the frozen stages and under norm_eval, and the updated running stats. */
MM_TEST(mmpretrain_models_agree_in_train_mode_with_frozen_and_norm_eval) {
    each_case(train_case);
}

MM_TEST_MAIN(MM_CASE(every_depth_gives_mmpretrains_stage_shapes),
             MM_CASE(out_indices_pick_stages_in_stage_order),
             MM_CASE(variants_give_their_stage_shapes),
             MM_CASE(configs_build_with_mmpretrains_keys_and_parameter_counts),
             MM_CASE(every_family_config_validates),
             MM_CASE(every_recipe_config_validates),
             MM_CASE(metafiles_point_at_the_configs),
             MM_CASE(frozen_stages_have_no_gradients_and_stay_in_eval_mode),
             MM_CASE(norm_eval_keeps_every_batch_norm_in_eval_mode),
             MM_CASE(default_init_is_kaiming_fan_out_and_zero_init_residual),
             MM_CASE(init_cfg_null_pretrained_and_uniform_kaiming),
             MM_CASE(bad_arguments_are_one_line_errors),
             MM_CASE(torchvision_resnet_key_map_gives_classifier_keys),
             MM_CASE(mmpretrain_models_load_strictly_and_agree_in_eval_mode),
             MM_CASE(
                 mmpretrain_models_agree_in_train_mode_with_frozen_and_norm_eval))
