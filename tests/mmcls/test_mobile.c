/* The VGG, MobileNetV2, MobileNetV3 and ShuffleNetV2 backbones of the
 * mmcls plugin, built from YAML through the registry: the shape of every
 * stage output and the parameter and state_dict counts against mmpretrain
 * 1.2.0's (recorded below from its models), out_indices, frozen stages and
 * norm_eval, the default initialisation, the torchvision key maps on the
 * state_dict keys and shapes recorded from torchvision 0.14
 * (torchvision_mobile_keys.txt, tools/parity/mobile_torchvision_keys.py),
 * and the model configs. The numbers against mmpretrain and torchvision are
 * in the parity suite (tests/parity/zoo/mobile.json). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/mm.h"

/* ---- set-up -------------------------------------------------------------- */

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

/* Build the MODELS config given as YAML flow text ("{type: VGG, ...}"),
 * in scope mmcls; the YAML is named cfg.yaml in error locations. */
static int build(const char *yaml, mm_module **out) {
    setup();
    char text[2048];
    snprintf(text, sizeof text, "model: %s\n", yaml);
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(text, strlen(text), "cfg.yaml", &doc);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, mm_value_dict_get(doc, "model"),
                               "mmcls", "model", NULL, (void **)out);
    mm_value_release(doc);
    return rc;
}

/* A (n, 3, size, size) f32 batch of deterministic values in [-1, 1]. */
static mm_tensor *batch(int64_t n, int64_t size) {
    mm_tensor *x = NULL;
    if (mm_empty(MM_SHAPE(n, 3, size, size), MM_F32, &x))
        return NULL;
    for (int64_t i = 0; i < x->numel; i++)
        MM_DATA(x, float)[i] = (float)sin(0.37 * (double)i);
    return x;
}

static int state_dict_size(mm_module *m) {
    mm_state_dict sd = {0};
    int n = -1;
    if (!mm_module_state_dict(m, &sd))
        n = (int)sd.n;
    mm_state_dict_clear(&sd);
    return n;
}

/* The outputs of m on x must be n (C, H, W) maps of batch 1. */
static void check_stages(mm_module *m, mm_tensor *x, int n,
                         const int64_t (*chw)[3]) {
    mm_tensor *outs[MM_MAX_OUTPUTS];
    int got = 0;
    CHECK_OK(mm_module_forward_multi(m, 1, &x, MM_MAX_OUTPUTS, &got, outs));
    CHECK_INT(got, n);
    for (int i = 0; i < got && i < n; i++) {
        CHECK_INT(outs[i]->ndim, 4);
        CHECK_INT(outs[i]->shape[0], x->shape[0]);
        CHECK_INT(outs[i]->shape[1], chw[i][0]);
        CHECK_INT(outs[i]->shape[2], chw[i][1]);
        CHECK_INT(outs[i]->shape[3], chw[i][2]);
    }
}

/* Built from yaml: parameter count and state_dict size as mmpretrain's. */
static void check_counts(const char *yaml, int64_t params, int entries) {
    mm_module *m;
    CHECK_OK(build(yaml, &m));
    if (!m)
        return;
    if (mm_module_num_parameters(m, false) != params ||
        state_dict_size(m) != entries)
        fprintf(stderr, "%s: %lld parameters, %d state_dict entries; "
                        "mmpretrain: %lld, %d\n",
                yaml, (long long)mm_module_num_parameters(m, false),
                state_dict_size(m), (long long)params, entries);
    CHECK_INT(mm_module_num_parameters(m, false), params);
    CHECK_INT(state_dict_size(m), entries);
    mm_module_free(m);
}

/* ---- VGG ----------------------------------------------------------------- */

MM_TEST(vgg_sizes_are_mmpretrains_for_every_depth) {
    /* sum(p.numel() for p in VGG(depth, norm_cfg).parameters()) and
     * len(state_dict()) in mmpretrain 1.2.0
    * (the other depths: the torchvision map cases load every tensor) */
    check_counts("{type: VGG, depth: 11}", 9220480, 16);
    check_counts("{type: VGG, depth: 13, norm_cfg: {type: BN}}", 9410880, 70);
    check_counts("{type: VGG, depth: 19, norm_cfg: {type: BN}}", 20035392,
                 112);
}

MM_TEST(vgg_out_indices_give_each_stage) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    static const int64_t chw[5][3] = {
        {64, 16, 16}, {128, 8, 8}, {256, 4, 4}, {512, 2, 2}, {512, 1, 1}};
    mm_module *m;
    CHECK_OK(build("{type: VGG, depth: 13, norm_cfg: {type: BN}, "
                   "out_indices: [0, 1, 2, 3, 4]}", &m));
    mm_module_eval(m);
    if (m)
        check_stages(m, batch(1, 32), 5, chw);
    mm_module_free(m);
    /* the default without classes: the last stage */
    CHECK_OK(build("{type: VGG, depth: 11}", &m));
    if (m)
        check_stages(m, batch(1, 32), 1, chw + 4);
    mm_module_free(m);
    /* and with_last_pool false keeps the last stage at 2x2 */
    static const int64_t last[1][3] = {{512, 2, 2}};
    CHECK_OK(build("{type: VGG, depth: 11, with_last_pool: false}", &m));
    if (m)
        check_stages(m, batch(1, 32), 1, last);
    mm_module_free(m);
    mm_pool_close(pool);
}

/* VGG-11 with a 10-class classifier, built once (its first Linear has
 * 102M weights) and freed at exit; without the last pool it takes 112x112
 * inputs (7x7 features), a quarter of the work of 224x224. */
static mm_module *vgg11;

static void free_vgg11(void) { mm_module_free(vgg11); }

static mm_module *vgg11_classes(void) {
    static bool tried;
    if (!tried) {
        tried = true;
        if (build("{type: VGG, depth: 11, num_classes: 10, "
                  "with_last_pool: false, out_indices: [1, 5]}", &vgg11))
            fprintf(stderr, "VGG: %s\n", mm_error_message());
        atexit(free_vgg11);
    }
    return vgg11;
}

MM_TEST(vgg_with_num_classes_gives_the_logits_last) {
    mm_module *m = vgg11_classes();
    CHECK(m != NULL);
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_module_eval(m);
    mm_tensor *x = batch(1, 112), *outs[MM_MAX_OUTPUTS], *y = NULL;
    int n = 0;
    CHECK_OK(mm_module_forward_multi(m, 1, &x, MM_MAX_OUTPUTS, &n, outs));
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_INT(outs[0]->shape[1], 128);
        CHECK_INT(outs[0]->shape[2], 28);
        CHECK_INT(outs[1]->ndim, 2);
        CHECK_INT(outs[1]->shape[1], 10);
    }
    /* the generic forward is the last output, what ClsHead passes on */
    CHECK_OK(mm_module_forward1(m, x, &y));
    CHECK(y && y->ndim == 2 && y->shape[1] == 10);
    CHECK(mm_module_find_tensor(m, "classifier.6.weight") != NULL);
    mm_pool_close(pool);
}

MM_TEST(vgg_classifier_needs_224_inputs) {
    mm_module *m = vgg11_classes();
    CHECK(m != NULL);
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *y;
    CHECK_ERR(mm_module_forward1(m, batch(1, 32), &y), MM_EINVAL,
              "VGG's classifier needs 512x7x7 features (224x224 inputs, "
              "five stages), got [2048] per sample");
    mm_pool_close(pool);
}

MM_TEST(vgg_default_init_is_mmpretrains) {
    mm_module *m = vgg11_classes();
    CHECK(m != NULL);
    if (!m)
        return;
    /* Normal(std=0.01), bias 0 on the classifier's Linear layers */
    mm_tensor *w = mm_module_find_tensor(m, "classifier.0.weight");
    mm_tensor *b = mm_module_find_tensor(m, "classifier.0.bias");
    double s = 0, s2 = 0, babs = 0;
    for (int64_t i = 0; i < w->numel; i += 97) {
        double v = MM_DATA(w, float)[i];
        s += v, s2 += v * v;
    }
    int64_t n = (w->numel + 96) / 97;
    double std = sqrt(s2 / n - (s / n) * (s / n));
    for (int64_t i = 0; i < b->numel; i++)
        babs += fabs(MM_DATA(b, float)[i]);
    CHECK(fabs(std - 0.01) < 2e-4);
    CHECK(babs == 0);
    /* Kaiming normal (fan_out, relu) on the convs: std sqrt(2 / (64 * 9)) */
    w = mm_module_find_tensor(m, "features.0.conv.weight");
    s2 = 0;
    for (int64_t i = 0; i < w->numel; i++)
        s2 += MM_DATA(w, float)[i] * MM_DATA(w, float)[i];
    CHECK(fabs(sqrt(s2 / w->numel) / sqrt(2.0 / (64 * 9)) - 1) < 0.1);
}

MM_TEST(vgg_arguments_are_checked) {
    mm_module *m;
    CHECK_ERR(build("{type: VGG, depth: 12}", &m), MM_EINVAL,
              "cfg.yaml:1:27: model (mmcls.VGG): depth: invalid depth 12 "
              "for vgg (11, 13, 16 or 19)");
    CHECK_ERR(build("{type: VGG, depth: 11, out_indices: [5]}", &m),
              MM_EINVAL,
              "cfg.yaml:1:44: model (mmcls.VGG): out_indices: 5 is the "
              "classifier's output, which needs num_classes > 0");
    CHECK_ERR(build("{type: VGG, depth: 11, out_indices: [6]}", &m),
              MM_EINVAL,
              "cfg.yaml:1:45: model (mmcls.VGG): out_indices: each item "
              "must be in range(0, 6), got 6");
    CHECK_ERR(build("{type: VGG, depth: 11, dilations: [1, 1]}", &m),
              MM_EINVAL,
              "cfg.yaml:1:42: model (mmcls.VGG): dilations: needs one entry "
              "per stage (5), got 2");
}

/* ---- MobileNetV2 --------------------------------------------------------- */

MM_TEST(mobilenet_v2_sizes_are_mmpretrains_for_each_width) {
    check_counts("{type: MobileNetV2, widen_factor: 0.5}", 687680, 312);
    check_counts("{type: MobileNetV2}", 2223872, 312);
    check_counts("{type: MobileNetV2, widen_factor: 1.4}", 4315776, 312);
}

MM_TEST(mobilenet_v2_out_indices_give_each_stage) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    static const int64_t chw[8][3] = {{16, 32, 32},  {24, 16, 16},
                                      {32, 8, 8},    {64, 4, 4},
                                      {96, 4, 4},    {160, 2, 2},
                                      {320, 2, 2},   {1280, 2, 2}};
    mm_module *m;
    CHECK_OK(build("{type: MobileNetV2, out_indices: [0, 1, 2, 3, 4, 5, 6, "
                   "7]}", &m));
    mm_module_eval(m);
    if (m)
        check_stages(m, batch(1, 64), 8, chw);
    mm_module_free(m);
    static const int64_t wide[2][3] = {{48, 8, 8}, {1792, 2, 2}};
    CHECK_OK(build("{type: MobileNetV2, widen_factor: 1.4, "
                   "out_indices: [7, 2]}", &m));
    mm_module_eval(m);
    if (m) /* in stage order, as mmpretrain */
        check_stages(m, batch(1, 64), 2, wide);
    mm_module_free(m);
    mm_pool_close(pool);
}

MM_TEST(mobilenet_v2_arguments_are_checked) {
    mm_module *m;
    CHECK_ERR(build("{type: MobileNetV2, out_indices: [8]}", &m), MM_EINVAL,
              "cfg.yaml:1:42: model (mmcls.MobileNetV2): out_indices: each "
              "item must be in range(0, 8), got 8");
    CHECK_ERR(build("{type: MobileNetV2, frozen_stages: 8}", &m), MM_EINVAL,
              "cfg.yaml:1:43: model (mmcls.MobileNetV2): frozen_stages: "
              "must be in range(-1, 8), got 8");
    CHECK_ERR(build("{type: MobileNetV2, with_cp: true}", &m),
              MM_EUNSUPPORTED,
              "cfg.yaml:1:37: model (mmcls.MobileNetV2): with_cp: "
              "activation checkpointing is not supported; leave it false");
    CHECK_ERR(build("{type: MobileNetV2, init_cfg: {type: Kaiming}}", &m),
              MM_EUNSUPPORTED,
              "cfg.yaml:1:38: model (mmcls.MobileNetV2): init_cfg: only "
              "type Pretrained is supported for MobileNetV2 (leave it out "
              "for mmpretrain's default initialisation)");
    CHECK_OK(build("{type: MobileNetV2, init_cfg: {type: Pretrained, "
                   "checkpoint: x.pth}}", &m));
    mm_module_free(m);
}

/* ---- MobileNetV3 --------------------------------------------------------- */

MM_TEST(mobilenet_v3_sizes_are_mmpretrains_for_each_arch) {
    check_counts("{type: MobileNetV3, arch: small}", 927008, 240);
    check_counts("{type: MobileNetV3, arch: small_075}", 573480, 240);
    check_counts("{type: MobileNetV3, arch: small_050}", 272288, 240);
    check_counts("{type: MobileNetV3, arch: large}", 2971952, 308);
}

MM_TEST(mobilenet_v3_out_indices_give_each_stage) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    static const int64_t small[13][3] = {
        {16, 32, 32}, {16, 16, 16}, {24, 8, 8}, {24, 8, 8}, {40, 4, 4},
        {40, 4, 4},   {40, 4, 4},   {48, 4, 4}, {48, 4, 4}, {96, 2, 2},
        {96, 2, 2},   {96, 2, 2},   {576, 2, 2}};
    static const int64_t large[17][3] = {
        {16, 32, 32}, {16, 32, 32}, {24, 16, 16}, {24, 16, 16},
        {40, 8, 8},   {40, 8, 8},   {40, 8, 8},   {80, 4, 4},
        {80, 4, 4},   {80, 4, 4},   {80, 4, 4},   {112, 4, 4},
        {112, 4, 4},  {160, 2, 2},  {160, 2, 2},  {160, 2, 2},
        {960, 2, 2}};
    mm_tensor *x = batch(1, 64);
    mm_module *m;
    CHECK_OK(build("{type: MobileNetV3, out_indices: [0, 1, 2, 3, 4, 5, 6, "
                   "7]}", &m));
    mm_module_eval(m);
    if (m)
        check_stages(m, x, 8, small);
    mm_module_free(m);
    CHECK_OK(build("{type: MobileNetV3, out_indices: [8, 9, 10, 11, 12]}",
                   &m));
    mm_module_eval(m);
    if (m)
        check_stages(m, x, 5, small + 8);
    mm_module_free(m);
    /* more outputs than the caller takes is an error, not a truncation */
    CHECK_OK(build("{type: MobileNetV3, out_indices: [0, 1, 2, 3, 4, 5, 6, "
                   "7, 8]}", &m));
    mm_module_eval(m);
    mm_tensor *outs[MM_MAX_OUTPUTS];
    int n;
    if (m)
        CHECK_ERR(mm_module_forward_multi(m, 1, &x, MM_MAX_OUTPUTS, &n, outs),
                  MM_EINVAL, "out_indices names more stages than the caller "
                             "takes (8)");
    mm_module_free(m);
    for (int part = 0; part < 3; part++) {
        static const char *const cfgs[3] = {
            "{type: MobileNetV3, arch: large, out_indices: [0, 1, 2, 3, 4, 5, "
            "6, 7]}",
            "{type: MobileNetV3, arch: large, out_indices: [8, 9, 10, 11, 12, "
            "13, 14, 15]}",
            "{type: MobileNetV3, arch: large}"};
        static const int n_out[3] = {8, 8, 1};
        CHECK_OK(build(cfgs[part], &m));
        mm_module_eval(m);
        if (m)
            check_stages(m, x, n_out[part], large + 8 * part);
        mm_module_free(m);
    }
    mm_pool_close(pool);
}

MM_TEST(mobilenet_v3_arguments_are_checked) {
    mm_module *m;
    CHECK_ERR(build("{type: MobileNetV3, arch: tiny}", &m), MM_EINVAL,
              "cfg.yaml:1:34: model (mmcls.MobileNetV3): arch: 'tiny' is not "
              "one of small, small_075, small_050, large");
    CHECK_ERR(build("{type: MobileNetV3, out_indices: [13]}", &m), MM_EINVAL,
              "cfg.yaml:1:42: model (mmcls.MobileNetV3): out_indices: each "
              "item must be in range(0, 13), got 13");
    CHECK_ERR(build("{type: MobileNetV3, arch: large, frozen_stages: 17}", &m),
              MM_EINVAL,
              "cfg.yaml:1:56: model (mmcls.MobileNetV3): frozen_stages: "
              "must be in range(-1, 17), got 17");
}

/* ---- ShuffleNetV2 -------------------------------------------------------- */

MM_TEST(shufflenet_v2_sizes_are_mmpretrains_for_each_width) {
    check_counts("{type: ShuffleNetV2, widen_factor: 0.5}", 341792, 336);
    check_counts("{type: ShuffleNetV2, widen_factor: 1.0}", 1253604, 336);
    check_counts("{type: ShuffleNetV2, widen_factor: 1.5}", 2478624, 336);
    check_counts("{type: ShuffleNetV2, widen_factor: 2.0}", 5344996, 336);
}

MM_TEST(shufflenet_v2_out_indices_give_each_stage) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    static const int64_t chw[4][3] = {
        {116, 8, 8}, {232, 4, 4}, {464, 2, 2}, {1024, 2, 2}};
    static const int64_t x2[2][3] = {{488, 4, 4}, {2048, 2, 2}};
    mm_module *m;
    CHECK_OK(build("{type: ShuffleNetV2, out_indices: [0, 1, 2, 3]}", &m));
    mm_module_eval(m);
    if (m)
        check_stages(m, batch(2, 64), 4, chw);
    mm_module_free(m);
    CHECK_OK(build("{type: ShuffleNetV2, widen_factor: 2.0, "
                   "out_indices: [1, 3]}", &m));
    mm_module_eval(m);
    if (m)
        check_stages(m, batch(1, 64), 2, x2);
    mm_module_free(m);
    mm_pool_close(pool);
}

MM_TEST(shufflenet_v2_arguments_are_checked) {
    mm_module *m;
    CHECK_ERR(build("{type: ShuffleNetV2, widen_factor: 0.75}", &m),
              MM_EINVAL,
              "cfg.yaml:1:43: model (mmcls.ShuffleNetV2): widen_factor: must "
              "be 0.5, 1.0, 1.5 or 2.0, got 0.75");
    CHECK_ERR(build("{type: ShuffleNetV2, out_indices: 4}", &m), MM_EINVAL,
              "cfg.yaml:1:42: model (mmcls.ShuffleNetV2): out_indices: each "
              "item must be in range(0, 4), got 4");
    CHECK_ERR(build("{type: ShuffleNetV2, out_indices: []}", &m), MM_EINVAL,
              "cfg.yaml:1:42: model (mmcls.ShuffleNetV2): out_indices: names "
              "no stage (the backbone would have no output)");
}

MM_TEST(shufflenet_v2_default_init_is_mmpretrains) {
    mm_module *m;
    CHECK_OK(build("{type: ShuffleNetV2}", &m));
    if (!m)
        return;
    /* conv1: N(0, 0.01); others N(0, 1 / weight.shape[1]); norms weight
     * 1, bias 1e-4 */
    static const char *const convs[3] = {"conv1.conv.weight",
                                         "layers.0.0.branch2.0.conv.weight",
                                         "layers.3.conv.weight"};
    for (int i = 0; i < 3; i++) {
        mm_tensor *w = mm_module_find_tensor(m, convs[i]);
        double s2 = 0;
        for (int64_t j = 0; j < w->numel; j++)
            s2 += MM_DATA(w, float)[j] * MM_DATA(w, float)[j];
        double want = i == 0 ? 0.01 : 1.0 / (double)w->shape[1];
        CHECK(fabs(sqrt(s2 / w->numel) / want - 1) < 0.1);
    }
    mm_tensor *b = mm_module_find_tensor(m, "layers.1.2.branch2.1.bn.bias");
    mm_tensor *g = mm_module_find_tensor(m, "layers.1.2.branch2.1.bn.weight");
    CHECK(fabsf(MM_DATA(b, float)[0] - 1e-4f) < 1e-9f);
    CHECK(MM_DATA(g, float)[3] == 1.0f);
    mm_module_free(m);
}

/* ---- frozen stages and norm_eval ----------------------------------------- */

static bool grad_of(mm_module *m, const char *name) {
    mm_tensor *t = mm_module_find_tensor(m, name);
    CHECK(t != NULL);
    return t && t->requires_grad;
}

/* Does one training forward change the running mean `name`? */
static int stats_move(mm_module *m, mm_tensor *x, const char *name,
                      bool *moved) {
    mm_tensor *rm = mm_module_find_tensor(m, name), *before, *y;
    if (!rm)
        return mm_error_set(MM_ENOENT, "no %s", name);
    MM_TRY(mm_clone(rm, &before));
    MM_TRY(mm_module_forward1(m, x, &y));
    *moved = !mm_allclose(rm, before, 0, 0, NULL);
    return MM_OK;
}

MM_TEST(mobilenet_v2_frozen_stages_stop_gradients_and_statistics) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_module *m;
    CHECK_OK(build("{type: MobileNetV2, frozen_stages: 2}", &m));
    if (!m)
        return;
    CHECK(!grad_of(m, "conv1.conv.weight"));
    CHECK(!grad_of(m, "layer1.0.conv.0.bn.weight"));
    CHECK(!grad_of(m, "layer2.1.conv.2.conv.weight"));
    CHECK(grad_of(m, "layer3.0.conv.0.conv.weight"));
    CHECK(grad_of(m, "conv2.bn.bias"));
    /* mm_module_train sets every flag; the backbone keeps layer1 and layer2
     * in eval mode (conv1 is frozen but its norm still trains, as in
     * mmpretrain) */
    mm_module_train(m, true);
    mm_tensor *x = batch(2, 32);
    bool moved;
    CHECK_OK(stats_move(m, x, "layer2.0.conv.1.bn.running_mean", &moved));
    CHECK(!moved);
    CHECK(!mm_module_find(m, "layer1")->training);
    CHECK_OK(stats_move(m, x, "layer3.0.conv.1.bn.running_mean", &moved));
    CHECK(moved);
    CHECK_OK(stats_move(m, x, "conv1.bn.running_mean", &moved));
    CHECK(moved);
    mm_module_free(m);
    mm_pool_close(pool);
}

MM_TEST(mobilenet_v3_frozen_stages_include_layer0) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_module *m;
    CHECK_OK(build("{type: MobileNetV3, frozen_stages: 1}", &m));
    if (!m)
        return;
    CHECK(!grad_of(m, "layer0.conv.weight"));
    CHECK(!grad_of(m, "layer1.se.conv1.conv.bias"));
    CHECK(grad_of(m, "layer2.expand_conv.conv.weight"));
    mm_module_train(m, true);
    mm_tensor *x = batch(2, 32);
    bool moved;
    CHECK_OK(stats_move(m, x, "layer0.bn.running_mean", &moved));
    CHECK(!moved);
    CHECK_OK(stats_move(m, x, "layer2.depthwise_conv.bn.running_mean",
                        &moved));
    CHECK(moved);
    mm_module_free(m);
    mm_pool_close(pool);
}

MM_TEST(shufflenet_v2_and_vgg_frozen_stages) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_module *m;
    CHECK_OK(build("{type: ShuffleNetV2, frozen_stages: 1}", &m));
    if (m) {
        CHECK(!grad_of(m, "conv1.conv.weight"));
        CHECK(!grad_of(m, "layers.0.3.branch2.2.bn.weight"));
        CHECK(grad_of(m, "layers.1.0.branch1.0.conv.weight"));
        mm_module_train(m, true);
        bool moved;
        mm_tensor *x = batch(2, 64);
        CHECK_OK(stats_move(m, x, "layers.0.0.branch1.0.bn.running_mean",
                            &moved));
        CHECK(!moved);
        CHECK_OK(stats_move(m, x, "layers.1.0.branch1.0.bn.running_mean",
                            &moved));
        CHECK(moved);
    }
    mm_module_free(m);
    CHECK_OK(build("{type: VGG, depth: 11, norm_cfg: {type: BN}, "
                   "frozen_stages: 2}", &m));
    if (m) {
        /* stage 1 is features.2 (conv) and features.3 (pool) */
        CHECK(!grad_of(m, "features.2.conv.weight"));
        CHECK(grad_of(m, "features.4.conv.weight"));
        mm_module_train(m, true);
        bool moved;
        mm_tensor *x = batch(2, 32);
        CHECK_OK(stats_move(m, x, "features.2.bn.running_mean", &moved));
        CHECK(!moved);
        CHECK_OK(stats_move(m, x, "features.4.bn.running_mean", &moved));
        CHECK(moved);
    }
    mm_module_free(m);
    mm_pool_close(pool);
}

MM_TEST(norm_eval_keeps_every_batch_norm_in_eval_mode) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    static const char *const cfgs[4][2] = {
        {"{type: MobileNetV2, norm_eval: true}", "conv2.bn.running_mean"},
        {"{type: MobileNetV3, norm_eval: true}", "layer12.bn.running_mean"},
        {"{type: ShuffleNetV2, norm_eval: true}",
         "layers.3.bn.running_mean"},
        {"{type: VGG, depth: 11, norm_cfg: {type: BN}, norm_eval: true}",
         "features.0.bn.running_mean"}};
    for (int i = 0; i < 4; i++) {
        mm_module *m;
        CHECK_OK(build(cfgs[i][0], &m));
        if (!m)
            continue;
        mm_module_train(m, true);
        bool moved = true;
        CHECK_OK(stats_move(m, batch(2, 64), cfgs[i][1], &moved));
        CHECK(!moved);
        mm_module_free(m);
    }
    mm_pool_close(pool);
}

/* ---- torchvision key maps ------------------------------------------------ */

/* The recorded state_dict of torchvision model `name` as zeros of the
 * recorded shapes; tensors over 4M elements (VGG's classifier) as one
 * element, since the tests check their names only. */
static int torchvision_state_dict(const char *name, mm_state_dict *out) {
    FILE *f = fopen("tests/mmcls/torchvision_mobile_keys.txt", "r");
    if (!f)
        return mm_error_set(MM_ENOENT, "tests/mmcls/torchvision_mobile_keys"
                                       ".txt: cannot open");
    char line[512];
    bool in = false, found = false;
    int rc = MM_OK;
    while (!rc && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "model ", 6) == 0) {
            in = strcmp(line + 6, name) == 0;
            found |= in;
            continue;
        }
        if (!in || line[0] == '#')
            continue;
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        int64_t shape[8], numel = 1;
        int nd = 0;
        for (char *p = sp + 1; *p && nd < 8;) {
            shape[nd] = strtoll(p, &p, 10);
            numel *= shape[nd++];
            if (*p == ',')
                p++;
        }
        bool i64 = strstr(line, "num_batches_tracked") != NULL;
        mm_tensor *t;
        if (numel > 4000000)
            rc = mm_zeros(MM_SHAPE(1), MM_F32, &t);
        else
            rc = mm_zeros(nd, shape, i64 ? MM_I64 : MM_F32, &t);
        if (!rc)
            rc = mm_state_dict_add(out, line, t);
    }
    fclose(f);
    if (!rc && !found)
        rc = mm_error_set(MM_ENOENT, "no model %s in the recording", name);
    return rc;
}

/* Map torchvision model `tv` with `map`, keep the keys under `keep`
 * (stripped; NULL: all), load them strictly into the model `yaml` builds;
 * the other mapped keys must be exactly `rest` (NULL-terminated). */
static void check_map(const char *tv, const char *map, const char *yaml,
                      const char *keep, const char *const *rest) {
    setup();
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_state_dict in = {0}, mapped = {0}, kept = {0};
    mm_module *m = NULL;
    CHECK_OK(torchvision_state_dict(tv, &in));
    CHECK_OK(mm_key_map_apply(map, &in, &mapped));
    CHECK_INT(mapped.n, in.n);
    size_t n_rest = 0, matched = 0;
    while (rest && rest[n_rest])
        n_rest++;
    for (size_t i = 0; i < mapped.n; i++) {
        const char *k = mapped.items[i].name;
        if (!keep || strncmp(k, keep, strlen(keep)) == 0) {
            bool other = false;
            for (size_t j = 0; j < n_rest; j++)
                other |= strcmp(rest[j], k) == 0;
            if (!other) {
                CHECK_OK(mm_state_dict_add(&kept, keep ? k + strlen(keep) : k,
                                           mapped.items[i].tensor));
                continue;
            }
        }
        bool listed = false;
        for (size_t j = 0; j < n_rest; j++)
            listed |= strcmp(rest[j], k) == 0;
        if (!listed)
            fprintf(stderr, "%s: unexpected mapped key %s\n", tv, k);
        CHECK(listed);
        matched++;
    }
    CHECK_INT(matched, n_rest);
    CHECK_OK(build(yaml, &m));
    if (m) {
        mm_load_report rep = {0};
        int rc = mm_module_load_state_dict(m, &kept, true, &rep);
        if (rc)
            fprintf(stderr, "%s: %s\n", tv, mm_error_message());
        CHECK_INT(rc, 0);
        mm_load_report_free(&rep);
    }
    mm_module_free(m);
    mm_state_dict_clear(&in);
    mm_state_dict_clear(&mapped);
    mm_state_dict_clear(&kept);
    mm_pool_close(pool);
}

static const char *const vgg_classifier_keys[] = {
    "backbone.classifier.0.weight", "backbone.classifier.0.bias",
    "backbone.classifier.3.weight", "backbone.classifier.3.bias",
    "backbone.classifier.6.weight", "backbone.classifier.6.bias", NULL};

MM_TEST(torchvision_vgg_map_covers_every_depth) {
    /* VGG's classifier (102M weights) is checked by name */
    check_map("vgg11", "torchvision.vgg", "{type: VGG, depth: 11}",
              "backbone.", vgg_classifier_keys);
    check_map("vgg13_bn", "torchvision.vgg",
              "{type: VGG, depth: 13, norm_cfg: {type: BN}}", "backbone.",
              vgg_classifier_keys);
    check_map("vgg16", "torchvision.vgg", "{type: VGG, depth: 16}",
              "backbone.", vgg_classifier_keys);
    check_map("vgg19_bn", "torchvision.vgg",
              "{type: VGG, depth: 19, norm_cfg: {type: BN}}", "backbone.",
              vgg_classifier_keys);
}

MM_TEST(torchvision_mobilenet_v2_map_loads_strictly) {
    check_map("mobilenet_v2", "torchvision.mobilenet_v2",
              "{type: ImageClassifier, backbone: {type: MobileNetV2}, "
              "neck: {type: GlobalAveragePooling}, head: {type: "
              "LinearClsHead, num_classes: 1000, in_channels: 1280, "
              "loss: {type: CrossEntropyLoss}}}",
              NULL, NULL);
}

MM_TEST(torchvision_mobilenet_v3_map_loads_strictly) {
    /* the classifier goes to StackedLinearClsHead's names */
    static const char *const small_head[] = {
        "head.layers.0.fc.weight", "head.layers.0.fc.bias",
        "head.layers.1.fc.weight", "head.layers.1.fc.bias", NULL};
    check_map("mobilenet_v3_small", "torchvision.mobilenet_v3",
              "{type: MobileNetV3, arch: small}", "backbone.", small_head);
    check_map("mobilenet_v3_large", "torchvision.mobilenet_v3",
              "{type: MobileNetV3, arch: large}", "backbone.", small_head);
}

MM_TEST(torchvision_shufflenet_v2_map_loads_strictly) {
    static const char *const tv[4] = {"shufflenet_v2_x0_5",
                                      "shufflenet_v2_x1_0",
                                      "shufflenet_v2_x1_5",
                                      "shufflenet_v2_x2_0"};
    static const char *const wf[4] = {"0.5", "1.0", "1.5", "2.0"};
    for (int i = 0; i < 4; i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml,
                 "{type: ImageClassifier, backbone: {type: ShuffleNetV2, "
                 "widen_factor: %s}, neck: {type: GlobalAveragePooling}, "
                 "head: {type: LinearClsHead, num_classes: 1000, "
                 "in_channels: %d, loss: {type: CrossEntropyLoss}}}",
                 wf[i], i == 3 ? 2048 : 1024);
        check_map(tv[i], "torchvision.shufflenet_v2", yaml, NULL, NULL);
    }
}

MM_TEST(torchvision_maps_refuse_unknown_keys) {
    setup();
    static const char *const maps[4][3] = {
        {"torchvision.vgg", "vgg11", "features.1.weight"},
        {"torchvision.mobilenet_v2", "mobilenet_v2", "features.19.0.weight"},
        {"torchvision.mobilenet_v3", "mobilenet_v3_small",
         "features.1.block.0.fc3.weight"},
        {"torchvision.shufflenet_v2", "shufflenet_v2_x1_0",
         "stage2.1.branch1.0.weight"}};
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    for (int i = 0; i < 4; i++) {
        mm_state_dict in = {0}, out = {0};
        CHECK_OK(torchvision_state_dict(maps[i][1], &in));
        mm_tensor *t;
        CHECK_OK(mm_zeros(MM_SHAPE(1), MM_F32, &t));
        CHECK_OK(mm_state_dict_add(&in, maps[i][2], t));
        char want[256];
        snprintf(want, sizeof want,
                 "key map %s: unknown key '%s' (not part of the "
                 "architecture this map covers)", maps[i][0], maps[i][2]);
        CHECK_ERR(mm_key_map_apply(maps[i][0], &in, &out), MM_EINVAL, want);
        mm_state_dict_clear(&in);
        mm_state_dict_clear(&out);
    }
    /* a VGG whose conv count is no torchvision depth */
    mm_state_dict in = {0}, out = {0};
    mm_tensor *w;
    CHECK_OK(mm_zeros(MM_SHAPE(64, 3, 3, 3), MM_F32, &w));
    CHECK_OK(mm_state_dict_add(&in, "features.0.weight", w));
    CHECK_ERR(mm_key_map_apply("torchvision.vgg", &in, &out), MM_EINVAL,
              "key map torchvision.vgg: 1 conv weights under features.*, "
              "expected "
              "8, 10, 13 or 16 (vgg11, 13, 16, 19)");
    mm_state_dict_clear(&in);
    mm_pool_close(pool);
}

/* ---- configs ------------------------------------------------------------- */

/* Build model (or, while StackedLinearClsHead is not registered, the
 * backbone) of each model config; the VGG ones (130M+ weights each) are
 * validated, their architectures built above. */
MM_TEST(model_configs_build) {
    setup();
    static const char *const cfgs[] = {
        "configs/_base_/models/vgg11.yaml",
        "configs/_base_/models/vgg11bn.yaml",
        "configs/_base_/models/vgg13.yaml",
        "configs/_base_/models/vgg13bn.yaml",
        "configs/_base_/models/vgg16.yaml",
        "configs/_base_/models/vgg16bn.yaml",
        "configs/_base_/models/vgg19.yaml",
        "configs/_base_/models/vgg19bn.yaml",
        "configs/_base_/models/mobilenet_v2_1x.yaml",
        "configs/_base_/models/shufflenet_v2_1x.yaml",
        "configs/_base_/models/mobilenet_v3/mobilenet_v3_small_imagenet.yaml",
        "configs/_base_/models/mobilenet_v3/"
        "mobilenet_v3_small_050_imagenet.yaml",
        "configs/_base_/models/mobilenet_v3/"
        "mobilenet_v3_small_075_imagenet.yaml",
        "configs/_base_/models/mobilenet_v3/mobilenet_v3_large_imagenet.yaml",
    };
    const mm_entry *e;
    bool stacked = mm_registry_lookup(MM_MODELS, "StackedLinearClsHead",
                                      "mmcls", NULL, &e) == MM_OK;
    mm_error_clear();
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        mm_value *cfg = NULL;
        CHECK_OK(mm_config_load(cfgs[i], NULL, 0, &cfg));
        if (!cfg)
            continue;
        const mm_value *model = mm_config_get(cfg, "model");
        bool v3 = strstr(cfgs[i], "mobilenet_v3") != NULL;
        bool big = strstr(cfgs[i], "vgg1") != NULL;
        const char *path = v3 && !stacked ? "model.backbone" : "model";
        const mm_value *node = mm_config_get(cfg, path);
        int rc;
        void *obj = NULL;
        if (big)
            rc = mm_registry_validate(MM_MODELS, node, "mmcls", path);
        else
            rc = mm_registry_build(MM_MODELS, node, "mmcls", path, NULL, &obj);
        if (rc)
            fprintf(stderr, "%s: %s\n", cfgs[i], mm_error_message());
        CHECK_INT(rc, 0);
        CHECK(model != NULL);
        mm_module_free(obj);
        mm_value_release(cfg);
    }
}

/* mmpretrain's MobileNetV3 configs give StackedLinearClsHead init_cfg
 * Normal(std=0.01, bias=0) on Linear: applied by init_weights to both
 * layers. */
MM_TEST(mobilenet_v3_head_init_cfg_reaches_both_linears) {
    setup();
    mm_value *cfg = NULL;
    mm_module *m = NULL;
    CHECK_OK(mm_config_load("configs/_base_/models/mobilenet_v3/"
                            "mobilenet_v3_small_imagenet.yaml",
                            NULL, 0, &cfg));
    if (cfg)
        CHECK_OK(mm_registry_build(MM_MODELS, mm_config_get(cfg, "model"),
                                   "mmcls", "model", NULL, (void **)&m));
    mm_value_release(cfg);
    if (!m)
        return;
    CHECK_OK(mm_module_init_weights(m));
    static const char *const names[2] = {"head.layers.0.fc",
                                         "head.layers.1.fc"};
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.weight", names[i]);
        mm_tensor *w = mm_module_find_tensor(m, key);
        snprintf(key, sizeof key, "%s.bias", names[i]);
        mm_tensor *b = mm_module_find_tensor(m, key);
        CHECK(w && b);
        if (!w || !b)
            continue;
        double s2 = 0, babs = 0;
        for (int64_t j = 0; j < w->numel; j++)
            s2 += MM_DATA(w, float)[j] * MM_DATA(w, float)[j];
        for (int64_t j = 0; j < b->numel; j++)
            babs += fabs(MM_DATA(b, float)[j]);
        CHECK(fabs(sqrt(s2 / w->numel) - 0.01) < 5e-4);
        CHECK(babs == 0);
    }
    mm_module_free(m);
}

/* Every in1k config of the four directories validates (model, data,
 * schedule, runtime). */
MM_TEST(in1k_configs_validate) {
    setup();
    static const char *const cfgs[] = {
        "vgg/vgg11_8xb32_in1k", "vgg/vgg11bn_8xb32_in1k",
        "vgg/vgg13_8xb32_in1k", "vgg/vgg13bn_8xb32_in1k",
        "vgg/vgg16_8xb32_in1k", "vgg/vgg16bn_8xb32_in1k",
        "vgg/vgg19_8xb32_in1k", "vgg/vgg19bn_8xb32_in1k",
        "mobilenet_v2/mobilenet-v2_8xb32_in1k",
        "mobilenet_v3/mobilenet-v3-small_8xb128_in1k",
        "mobilenet_v3/mobilenet-v3-small-050_8xb128_in1k",
        "mobilenet_v3/mobilenet-v3-small-075_8xb128_in1k",
        "mobilenet_v3/mobilenet-v3-large_8xb128_in1k",
        "shufflenet_v2/shufflenet-v2-1x_16xb64_in1k",
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "configs/mmcls/%s.yaml", cfgs[i]);
        mm_value *cfg = NULL;
        int rc = mm_config_load(path, NULL, 0, &cfg);
        if (!rc)
            rc = mm_config_validate_components(cfg);
        if (rc)
            fprintf(stderr, "%s: %s\n", path, mm_error_message());
        CHECK_INT(rc, 0);
        mm_value_release(cfg);
    }
}

MM_TEST_MAIN(MM_CASE(vgg_sizes_are_mmpretrains_for_every_depth),
             MM_CASE(vgg_out_indices_give_each_stage),
             MM_CASE(vgg_with_num_classes_gives_the_logits_last),
             MM_CASE(vgg_classifier_needs_224_inputs),
             MM_CASE(vgg_default_init_is_mmpretrains),
             MM_CASE(vgg_arguments_are_checked),
             MM_CASE(mobilenet_v2_sizes_are_mmpretrains_for_each_width),
             MM_CASE(mobilenet_v2_out_indices_give_each_stage),
             MM_CASE(mobilenet_v2_arguments_are_checked),
             MM_CASE(mobilenet_v3_sizes_are_mmpretrains_for_each_arch),
             MM_CASE(mobilenet_v3_out_indices_give_each_stage),
             MM_CASE(mobilenet_v3_arguments_are_checked),
             MM_CASE(shufflenet_v2_sizes_are_mmpretrains_for_each_width),
             MM_CASE(shufflenet_v2_out_indices_give_each_stage),
             MM_CASE(shufflenet_v2_arguments_are_checked),
             MM_CASE(shufflenet_v2_default_init_is_mmpretrains),
             MM_CASE(mobilenet_v2_frozen_stages_stop_gradients_and_statistics),
             MM_CASE(mobilenet_v3_frozen_stages_include_layer0),
             MM_CASE(shufflenet_v2_and_vgg_frozen_stages),
             MM_CASE(norm_eval_keeps_every_batch_norm_in_eval_mode),
             MM_CASE(torchvision_vgg_map_covers_every_depth),
             MM_CASE(torchvision_mobilenet_v2_map_loads_strictly),
             MM_CASE(torchvision_mobilenet_v3_map_loads_strictly),
             MM_CASE(torchvision_shufflenet_v2_map_loads_strictly),
             MM_CASE(torchvision_maps_refuse_unknown_keys),
             MM_CASE(model_configs_build),
             MM_CASE(mobilenet_v3_head_init_cfg_reaches_both_linears),
             MM_CASE(in1k_configs_validate))
