/* RegNet, EfficientNet and ConvNeXt of the mmcls plugin, built from YAML
 * through the registry: the shapes of every stage for out_indices against
 * mmpretrain 1.2.0's (recorded from its models), parameter counts against
 * mmpretrain's metafiles, drop path off in eval, the layer scale, frozen
 * stages, the torchvision key maps and every in1k config's model. The
 * numbers against torchvision and mmpretrain are in the parity suite
 * (tests/parity/zoo/effconv.json). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Build the MODELS node of a one-line YAML mapping `model: {...}`. */
static int build(const char *yaml, mm_module **out) {
    setup();
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), "cfg.yaml", &doc);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, mm_value_dict_get(doc, "model"),
                               "mmcls", "model", NULL, (void **)out);
    mm_value_release(doc);
    return rc;
}

static mm_tensor *input(int64_t n, int64_t h, int64_t w) {
    mm_tensor *x = NULL;
    if (mm_empty(MM_SHAPE(n, 3, h, w), MM_F32, &x))
        abort();
    for (int64_t i = 0; i < x->numel; i++)
        MM_DATA(x, float)[i] = (float)sin(0.11 * (double)i);
    return x;
}

/* forward_multi in eval mode; checks the outputs' shapes against want
 * (n_want rows of 4 dims, a 0 dim ends a row early). */
static void check_shapes(const char *yaml, int64_t h, int n_want,
                         const int64_t (*want)[4]) {
    mm_module *m;
    CHECK_OK(build(yaml, &m));
    if (!m)
        return;
    mm_module_eval(m);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_no_grad_push();
    mm_tensor *x = input(1, h, h), *outs[MM_MAX_OUTPUTS];
    int n = 0;
    CHECK_OK(mm_module_forward_multi(m, 1, &x, MM_MAX_OUTPUTS, &n, outs));
    CHECK_INT(n, n_want);
    for (int i = 0; i < n && i < n_want; i++) {
        int nd = 0;
        while (nd < 4 && want[i][nd])
            nd++;
        CHECK_INT(outs[i]->ndim, nd);
        for (int d = 0; d < nd && d < outs[i]->ndim; d++)
            CHECK_INT(outs[i]->shape[d], want[i][d]);
    }
    mm_no_grad_pop();
    mm_pool_close(pool);
    mm_module_free(m);
}

/* ---- shapes (mmpretrain 1.2.0's, recorded) ------------------------------ */

MM_TEST(regnet_400mf_stage_shapes_match_mmpretrain) {
    static const int64_t want[4][4] = {
        {1, 32, 16, 16}, {1, 64, 8, 8}, {1, 160, 4, 4}, {1, 384, 2, 2}};
    check_shapes("model: {type: RegNet, arch: regnetx_400mf, "
                 "out_indices: [0, 1, 2, 3]}",
                 64, 4, want);
}

MM_TEST(regnet_arch_dict_gives_mmpretrain_widths) {
    /* mmpretrain's docstring example: 3.2gf as a dict */
    static const int64_t want[4][4] = {
        {1, 96, 8, 8}, {1, 192, 4, 4}, {1, 432, 2, 2}, {1, 1008, 1, 1}};
    check_shapes("model: {type: RegNet, arch: {w0: 88, wa: 26.31, wm: 2.25, "
                 "group_w: 48, depth: 25, bot_mul: 1.0}, "
                 "out_indices: [0, 1, 2, 3]}",
                 32, 4, want);
}

MM_TEST(regnet_outputs_follow_stage_order) {
    static const int64_t want[2][4] = {{1, 64, 8, 8}, {1, 384, 2, 2}};
    check_shapes("model: {type: RegNet, arch: regnetx_400mf, "
                 "out_indices: [3, 1]}",
                 64, 2, want);
}

MM_TEST(efficientnet_b0_layer_shapes_match_mmpretrain) {
    /* 66 is even at no stride: TF SAME padding gives ceil(66 / 2) */
    static const int64_t want[7][4] = {
        {1, 32, 33, 33}, {1, 16, 33, 33}, {1, 24, 17, 17}, {1, 40, 9, 9},
        {1, 112, 5, 5},  {1, 320, 3, 3},  {1, 1280, 3, 3}};
    check_shapes("model: {type: EfficientNet, arch: b0, "
                 "out_indices: [0, 1, 2, 3, 4, 5, 6]}",
                 66, 7, want);
}

MM_TEST(efficientnet_b3_and_es_last_layers) {
    static const int64_t b3[2][4] = {{1, 384, 2, 2}, {1, 1536, 2, 2}};
    check_shapes("model: {type: EfficientNet, arch: b3, "
                 "out_indices: [5, 6]}",
                 64, 2, b3);
    static const int64_t es[1][4] = {{1, 1280, 2, 2}};
    check_shapes("model: {type: EfficientNet, arch: es}", 64, 1, es);
}

MM_TEST(convnext_atto_stage_shapes_match_mmpretrain) {
    static const int64_t want[4][4] = {
        {1, 40, 16, 16}, {1, 80, 8, 8}, {1, 160, 4, 4}, {1, 320, 2, 2}};
    check_shapes("model: {type: ConvNeXt, arch: atto, out_indices: [0, 1, 2, "
                 "3], gap_before_final_norm: false}",
                 64, 4, want);
}

MM_TEST(convnext_gap_before_final_norm_gives_vectors) {
    static const int64_t want[2][4] = {{1, 80}, {1, 320}};
    check_shapes("model: {type: ConvNeXt, arch: atto, out_indices: [1, -1]}",
                 64, 2, want);
}

/* ---- parameters and keys ------------------------------------------------ */


MM_TEST(parameter_counts_match_mmpretrain_metafiles) {
    /* mmpretrain's classifiers (metafile.yaml: 5.16M, 5288548, 12233232,
     * 28589128) */
    static const struct {
        const char *cfg;
        int64_t params;
    } cases[] = {
        {"configs/_base_/models/regnet/regnetx_400mf.yaml", 5157512},
        {"configs/_base_/models/efficientnet_b0.yaml", 5288548},
        {"configs/_base_/models/efficientnet_b3.yaml", 12233232},
        {"configs/_base_/models/convnext/convnext-tiny.yaml", 28589128},
    };
    setup();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mm_value *cfg = NULL;
        const char *ov[] = {"model.init_cfg=null", "model.train_cfg=null"};
        CHECK_OK(mm_config_load(cases[i].cfg, ov, 2, &cfg));
        mm_module *m = NULL;
        CHECK_OK(mm_registry_build(MM_MODELS, mm_config_get(cfg, "model"),
                                   "mmcls", "model", NULL, (void **)&m));
        if (m)
            CHECK_INT(mm_module_num_parameters(m, false), cases[i].params);
        mm_module_free(m);
        mm_value_release(cfg);
    }
}

MM_TEST(state_dict_keys_are_mmpretrain_names) {
    static const struct {
        const char *yaml, *key;
    } cases[] = {
        {"model: {type: RegNet, arch: regnetx_400mf}",
         "layer2.0.downsample.1.running_var"},
        {"model: {type: RegNet, arch: regnetx_400mf}", "layer4.11.bn3.bias"},
        {"model: {type: EfficientNet, arch: b0}",
         "layers.1.0.se.conv1.conv.bias"},
        {"model: {type: EfficientNet, arch: b0}",
         "layers.4.5.expand_conv.bn.running_mean"},
        {"model: {type: EfficientNet, arch: es}", "layers.1.0.conv2.bn.weight"},
        {"model: {type: ConvNeXt, arch: atto}", "stages.2.5.gamma"},
        {"model: {type: ConvNeXt, arch: atto}",
         "downsample_layers.3.0.weight"},
        {"model: {type: ConvNeXt, arch: atto}", "norm3.bias"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mm_module *m;
        CHECK_OK(build(cases[i].yaml, &m));
        if (!m)
            continue;
        if (!mm_module_find_tensor(m, cases[i].key)) {
            fprintf(stderr, "missing %s\n", cases[i].key);
            CHECK(false);
        }
        mm_module_free(m);
    }
}

/* ---- behaviours ----------------------------------------------------------- */

/* (tensors made while a pool is open belong to it) */
/* Two eval forwards of a model with drop path are equal; in training mode
 * with drop_path_rate 0.5 the output differs from eval. */
MM_TEST(drop_path_is_off_in_eval) {
    mm_module *m;
    CHECK_OK(build("model: {type: ConvNeXt, arch: {depths: [2, 2], "
                   "channels: [8, 16]}, drop_path_rate: 0.5, "
                   "layer_scale_init_value: 1.0, "
                   "gap_before_final_norm: false}",
                   &m));
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_no_grad_push();
    mm_tensor *x = input(4, 16, 16), *a, *b, *t;
    mm_module_eval(m);
    CHECK_OK(mm_module_forward1(m, x, &a));
    CHECK_OK(mm_module_forward1(m, x, &b));
    CHECK(mm_allclose(a, b, 0, 0, NULL));
    mm_module_train(m, true);
    mm_manual_seed(3);
    CHECK_OK(mm_module_forward1(m, x, &t));
    CHECK(!mm_allclose(a, t, 1e-4, 1e-5, NULL));
    mm_no_grad_pop();
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(layer_scale_is_gamma_of_the_init_value) {
    mm_module *m;
    CHECK_OK(build("model: {type: ConvNeXt, arch: atto, "
                   "layer_scale_init_value: 0.25}",
                   &m));
    if (!m)
        return;
    mm_tensor *g = mm_module_find_tensor(m, "stages.1.1.gamma");
    CHECK(g && g->ndim == 1 && g->shape[0] == 80);
    if (g)
        for (int64_t i = 0; i < g->numel; i++)
            CHECK(mm_tensor_get_flat(g, i) == 0.25);
    mm_module_free(m);
    /* 0 (ConvNeXt v2): no gamma at all */
    CHECK_OK(build("model: {type: ConvNeXt, arch: atto, use_grn: true, "
                   "layer_scale_init_value: 0}",
                   &m));
    if (!m)
        return;
    CHECK(mm_module_find_tensor(m, "stages.1.1.gamma") == NULL);
    CHECK(mm_module_find_tensor(m, "stages.1.1.grn.beta") != NULL);
    mm_module_free(m);
}

MM_TEST(frozen_stages_stop_gradients_and_stay_in_eval) {
    mm_module *m;
    CHECK_OK(build("model: {type: EfficientNet, arch: b0, "
                   "frozen_stages: 2}",
                   &m));
    if (!m)
        return;
    mm_tensor *w0 = mm_module_find_tensor(m, "layers.1.0.depthwise_conv.conv.weight");
    mm_tensor *w2 = mm_module_find_tensor(m, "layers.2.0.expand_conv.conv.weight");
    CHECK(w0 && !w0->requires_grad);
    CHECK(w2 && w2->requires_grad);
    mm_module_train(m, true);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_no_grad_push();
    mm_tensor *x = input(2, 32, 32), *y;
    CHECK_OK(mm_module_forward1(m, x, &y));
    mm_no_grad_pop();
    mm_pool_close(pool);
    CHECK(!mm_module_find(m, "layers.1.0.depthwise_conv.bn")->training);
    CHECK(mm_module_find(m, "layers.2.0.depthwise_conv.bn")->training);
    mm_module_free(m);
}

MM_TEST(regnet_zero_init_residual_zeroes_the_last_norm) {
    mm_module *m;
    CHECK_OK(build("model: {type: RegNet, arch: regnetx_400mf}", &m));
    if (!m)
        return;
    mm_tensor *w = mm_module_find_tensor(m, "layer3.4.bn3.weight");
    mm_tensor *w2 = mm_module_find_tensor(m, "layer3.4.bn2.weight");
    CHECK(w && mm_tensor_get_flat(w, 0) == 0.0);
    CHECK(w2 && mm_tensor_get_flat(w2, 0) == 1.0);
    mm_module_free(m);
}

MM_TEST(bad_arguments_are_refused_in_one_line) {
    mm_module *m;
    CHECK_ERR(build("model: {type: RegNet, arch: regnetx_9gf}", &m),
              MM_EINVAL,
              "cfg.yaml:1:29: model (mmcls.RegNet): arch: 'regnetx_9gf' is "
              "not one of regnetx_400mf, regnetx_800mf, regnetx_1.6gf, "
              "regnetx_3.2gf, regnetx_4.0gf, regnetx_6.4gf, regnetx_8.0gf, "
              "regnetx_12gf (or a dict)");
    CHECK(build("model: {type: EfficientNet, out_indices: [7]}", &m) ==
          MM_EINVAL);
    CHECK(build("model: {type: ConvNeXt, norm_cfg: {type: BN}}", &m) ==
          MM_EINVAL);
    CHECK(build("model: {type: RegNet, arch: regnetx_400mf, deep_stem: "
                "true}",
                &m) == MM_EUNSUPPORTED);
    CHECK(build("model: {type: ConvNeXt, init_cfg: {type: Kaiming}}", &m) ==
          MM_EUNSUPPORTED);
    CHECK_OK(build("model: {type: ConvNeXt, arch: atto, init_cfg: {type: "
                   "Pretrained, checkpoint: x.pth}}",
                   &m));
    mm_module_free(m);
}

/* ---- key maps ------------------------------------------------------------- */

static mm_tensor *zeros(int n, const int64_t *shape) {
    mm_tensor *t = NULL;
    if (mm_zeros(n, shape, MM_F32, &t))
        abort();
    return t;
}

/* Map one key; *out gets the mapped name (or "" on error). */
static int map_one(const char *map, const char *key, mm_tensor *t,
                   char *out, size_t size, mm_tensor **mapped) {
    mm_state_dict in = {0}, res = {0};
    int rc = mm_state_dict_add(&in, key, t);
    if (!rc)
        rc = mm_key_map_apply(map, &in, &res);
    out[0] = '\0';
    if (!rc && res.n == 1) {
        snprintf(out, size, "%s", res.items[0].name);
        if (mapped)
            *mapped = mm_tensor_retain(res.items[0].tensor);
    }
    mm_state_dict_clear(&in);
    mm_state_dict_clear(&res);
    return rc;
}

MM_TEST(torchvision_regnet_keys_map_to_mmpretrain) {
    setup();
    static const char *const pairs[][2] = {
        {"stem.0.weight", "backbone.conv1.weight"},
        {"stem.1.running_mean", "backbone.bn1.running_mean"},
        {"trunk_output.block2.block2-0.proj.0.weight",
         "backbone.layer2.0.downsample.0.weight"},
        {"trunk_output.block4.block4-11.f.b.1.bias",
         "backbone.layer4.11.bn2.bias"},
        {"trunk_output.block1.block1-0.f.c.0.weight",
         "backbone.layer1.0.conv3.weight"},
        {"fc.bias", "head.fc.bias"},
    };
    mm_tensor *t = zeros(MM_SHAPE(2));
    char got[256];
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        CHECK_OK(map_one("torchvision.regnet", pairs[i][0], t, got,
                         sizeof got, NULL));
        CHECK_STR(got, pairs[i][1]);
    }
    CHECK_ERR(map_one("torchvision.regnet",
                      "trunk_output.block1.block1-0.f.se.fc1.weight", t, got,
                      sizeof got, NULL),
              MM_EINVAL,
              "key map torchvision.regnet: unknown key "
              "'trunk_output.block1.block1-0.f.se.fc1.weight' (only "
              "regnet_x_* state dicts map to mmpretrain's RegNet)");
    mm_tensor_release(t);
}

MM_TEST(torchvision_efficientnet_keys_map_to_mmpretrain) {
    setup();
    /* a b0 layout: stage 4 has 3 blocks, so stage 5 block 1 is layer 4
     * block 4; stage 1 has no expand conv */
    static const char *const layout[] = {
        "features.1.0.block.2.1.weight", "features.2.0.block.3.1.weight",
        "features.4.0.block.3.1.weight", "features.4.1.block.3.1.weight",
        "features.4.2.block.3.1.weight", "features.5.0.block.3.1.weight",
        "features.5.1.block.3.1.weight", "features.6.0.block.3.1.weight",
        "features.7.0.block.3.1.weight", "features.0.0.weight",
        "features.8.1.running_var",      "classifier.1.weight",
        "features.1.0.block.1.fc2.bias", "features.5.1.block.0.0.weight",
    };
    static const char *const want[] = {
        "backbone.layers.1.0.linear_conv.bn.weight",
        "backbone.layers.2.0.linear_conv.bn.weight",
        "backbone.layers.4.0.linear_conv.bn.weight",
        "backbone.layers.4.1.linear_conv.bn.weight",
        "backbone.layers.4.2.linear_conv.bn.weight",
        "backbone.layers.4.3.linear_conv.bn.weight",
        "backbone.layers.4.4.linear_conv.bn.weight",
        "backbone.layers.5.0.linear_conv.bn.weight",
        "backbone.layers.5.0.linear_conv.bn.weight",
        "backbone.layers.0.conv.weight",
        "backbone.layers.6.bn.running_var",
        "head.fc.weight",
        "backbone.layers.1.0.se.conv2.conv.bias",
        "backbone.layers.4.4.expand_conv.conv.weight",
    };
    size_t n = sizeof layout / sizeof layout[0];
    mm_state_dict in = {0}, res = {0};
    for (size_t i = 0; i < n; i++) {
        mm_tensor *t = zeros(MM_SHAPE((int64_t)i + 1));
        if (strcmp(layout[i], "features.7.0.block.3.1.weight") == 0) {
            mm_tensor_release(t);
            continue; /* would collide with 6.0 in this short list */
        }
        CHECK_OK(mm_state_dict_add(&in, layout[i], t));
        mm_tensor_release(t);
    }
    CHECK_OK(mm_key_map_apply("torchvision.efficientnet", &in, &res));
    CHECK_INT(res.n, in.n);
    for (size_t i = 0, j = 0; i < n && j < res.n; i++) {
        if (strcmp(layout[i], "features.7.0.block.3.1.weight") == 0)
            continue;
        CHECK_STR(res.items[j].name, want[i]);
        j++;
    }
    mm_state_dict_clear(&in);
    mm_state_dict_clear(&res);
}

MM_TEST(torchvision_convnext_layer_scale_becomes_gamma) {
    setup();
    mm_state_dict in = {0}, res = {0};
    mm_tensor *ls = zeros(MM_SHAPE(96, 1, 1)), *w = zeros(MM_SHAPE(4));
    CHECK_OK(mm_state_dict_add(&in, "features.7.0.block.2.weight", w));
    CHECK_OK(mm_state_dict_add(&in, "features.1.2.layer_scale", ls));
    CHECK_OK(mm_state_dict_add(&in, "features.1.0.block.5.bias", w));
    CHECK_OK(mm_state_dict_add(&in, "features.6.1.weight", w));
    CHECK_OK(mm_state_dict_add(&in, "features.0.1.bias", w));
    CHECK_OK(mm_state_dict_add(&in, "classifier.0.weight", w));
    CHECK_OK(mm_state_dict_add(&in, "classifier.2.weight", w));
    CHECK_OK(mm_key_map_apply("torchvision.convnext", &in, &res));
    static const char *const want[] = {
        "backbone.stages.3.0.norm.weight",
        "backbone.stages.0.2.gamma",
        "backbone.stages.0.0.pointwise_conv2.bias",
        "backbone.downsample_layers.3.1.weight",
        "backbone.downsample_layers.0.1.bias",
        "backbone.norm3.weight",
        "head.fc.weight",
    };
    CHECK_INT(res.n, 7);
    for (size_t i = 0; i < res.n && i < 7; i++)
        CHECK_STR(res.items[i].name, want[i]);
    mm_tensor *g = mm_state_dict_get(&res, "backbone.stages.0.2.gamma");
    CHECK(g && g->ndim == 1 && g->shape[0] == 96);
    mm_state_dict_clear(&res);
    mm_state_dict_clear(&in);
    CHECK_OK(mm_state_dict_add(&in, "features.1.0.block.4.weight", w));
    CHECK(mm_key_map_apply("torchvision.convnext", &in, &res) == MM_EINVAL);
    mm_state_dict_clear(&res);
    mm_state_dict_clear(&in);
    mm_tensor_release(ls);
    mm_tensor_release(w);
}

/* ---- configs -------------------------------------------------------------- */

MM_TEST(every_in1k_config_gives_a_valid_model) {
    static const char *const cfgs[] = {
        "regnet/regnetx-400mf_8xb128_in1k",
        "regnet/regnetx-800mf_8xb128_in1k",
        "regnet/regnetx-1.6gf_8xb128_in1k",
        "regnet/regnetx-3.2gf_8xb64_in1k",
        "regnet/regnetx-4.0gf_8xb64_in1k",
        "regnet/regnetx-6.4gf_8xb64_in1k",
        "regnet/regnetx-8.0gf_8xb64_in1k",
        "regnet/regnetx-12gf_8xb64_in1k",
        "efficientnet/efficientnet-b0_8xb32_in1k",
        "efficientnet/efficientnet-b1_8xb32_in1k",
        "efficientnet/efficientnet-b2_8xb32_in1k",
        "efficientnet/efficientnet-b3_8xb32_in1k",
        "efficientnet/efficientnet-b4_8xb32_in1k",
        "efficientnet/efficientnet-b5_8xb32_in1k",
        "efficientnet/efficientnet-b6_8xb32_in1k",
        "efficientnet/efficientnet-b7_8xb32_in1k",
        "convnext/convnext-tiny_32xb128_in1k",
        "convnext/convnext-small_32xb128_in1k",
        "convnext/convnext-base_32xb128_in1k",
    };
    setup();
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "configs/mmcls/%s.yaml", cfgs[i]);
        mm_value *cfg = NULL;
        /* ImageClassifier's own init_cfg and batch augments (ConvNeXt's)
         * are other components' work */
        const char *ov[] = {"model.init_cfg=null", "model.train_cfg=null"};
        int rc = mm_config_load(path, ov, 2, &cfg);
        CHECK_OK(rc);
        if (rc) {
            fprintf(stderr, "  (%s)\n", path);
            continue;
        }
        /* the big ones (over ~15M parameters) are only validated, to keep
         * the suite fast; their backbones are the same code at other
         * arch settings */
        bool big = strstr(cfgs[i], "gf_") && !strstr(cfgs[i], "1.6gf") &&
                   !strstr(cfgs[i], "3.2gf");
        big = big || strstr(cfgs[i], "-b4") || strstr(cfgs[i], "-b5") ||
              strstr(cfgs[i], "-b6") || strstr(cfgs[i], "-b7") ||
              strstr(cfgs[i], "small") || strstr(cfgs[i], "base");
        const mm_value *model = mm_config_get(cfg, "model");
        if (big) {
            CHECK_OK(mm_registry_validate(MM_MODELS, model, "mmcls",
                                          "model"));
        } else {
            mm_module *m = NULL;
            CHECK_OK(mm_registry_build(MM_MODELS, model, "mmcls", "model",
                                       NULL, (void **)&m));
            mm_module_free(m);
        }
        mm_value_release(cfg);
    }
}

MM_TEST_MAIN(
    MM_CASE(regnet_400mf_stage_shapes_match_mmpretrain),
    MM_CASE(regnet_arch_dict_gives_mmpretrain_widths),
    MM_CASE(regnet_outputs_follow_stage_order),
    MM_CASE(efficientnet_b0_layer_shapes_match_mmpretrain),
    MM_CASE(efficientnet_b3_and_es_last_layers),
    MM_CASE(convnext_atto_stage_shapes_match_mmpretrain),
    MM_CASE(convnext_gap_before_final_norm_gives_vectors),
    MM_CASE(parameter_counts_match_mmpretrain_metafiles),
    MM_CASE(state_dict_keys_are_mmpretrain_names),
    MM_CASE(drop_path_is_off_in_eval),
    MM_CASE(layer_scale_is_gamma_of_the_init_value),
    MM_CASE(frozen_stages_stop_gradients_and_stay_in_eval),
    MM_CASE(regnet_zero_init_residual_zeroes_the_last_norm),
    MM_CASE(bad_arguments_are_refused_in_one_line),
    MM_CASE(torchvision_regnet_keys_map_to_mmpretrain),
    MM_CASE(torchvision_efficientnet_keys_map_to_mmpretrain),
    MM_CASE(torchvision_convnext_layer_scale_becomes_gamma),
    MM_CASE(every_in1k_config_gives_a_valid_model))
