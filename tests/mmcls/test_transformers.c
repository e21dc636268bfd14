/* The mmcls transformers: VisionTransformer, VisionTransformerClsHead,
 * SwinTransformer (and its ShiftWindowMSA) against mmpretrain 1.2.0's
 * recorded outputs (tests/mmcls/mmpretrain_transformers.safetensors, from
 * tools/parity/transformers_mmpretrain.py: state dicts load strictly with
 * no key map, inputs of other sizes than img_size resize the position
 * embedding and pad), the key maps torchvision.vit and torchvision.swin
 * against torchvision 0.14's logits (torchvision_transformers.safetensors,
 * tools/parity/transformers_torchvision.py), output shapes per arch /
 * out_type / out_indices, parameter counts against mmpretrain's, the
 * initialisation, frozen stages, refused arguments, and the model configs
 * of configs/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mm/mm.h"

static mm_checkpoint *mmpt, *tv;

static void release(void) {
    mm_checkpoint_free(mmpt);
    mm_checkpoint_free(tv);
}

static void setup(void) {
    static bool done;
    if (done)
        return;
    done = true;
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/mmcls.so", dir ? dir : "plugins");
    if (mm_plugin_load_file(path) ||
        mm_checkpoint_load("tests/mmcls/mmpretrain_transformers.safetensors",
                           &mmpt) ||
        mm_checkpoint_load("tests/mmcls/torchvision_transformers.safetensors",
                           &tv)) {
        fprintf(stderr, "setup: %s\n", mm_error_message());
        exit(1);
    }
    atexit(release);
}

/* The case list of a recording (metadata `cases`, JSON text). */
static mm_value *cases_of(mm_checkpoint *ck) {
    const mm_value *v = mm_checkpoint_get_meta(ck, "cases");
    mm_value *out = NULL;
    if (mm_value_is_string(v) &&
        mm_json_parse(mm_value_get_string(v), mm_value_string_len(v),
                      "cases", &out))
        out = NULL;
    else if (mm_value_is_list(v))
        out = mm_value_retain((mm_value *)v);
    if (!out) {
        fprintf(stderr, "recording has no cases\n");
        mm_test_failures++;
    }
    return out;
}

static const mm_value *case_named(const mm_value *cases, const char *name) {
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        if (!strcmp(mm_value_get_string(mm_value_dict_get(c, "name")), name))
            return c;
    }
    fprintf(stderr, "no case '%s'\n", name);
    mm_test_failures++;
    return NULL;
}

static int build_node(const mm_value *node, mm_module **out) {
    return mm_registry_build(MM_MODELS, node, "mmcls", "model", NULL,
                             (void **)out);
}

static int build_yaml(const char *yaml, mm_module **out) {
    setup();
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), "cfg.yaml", &doc);
    if (!rc)
        rc = build_node(mm_value_dict_get(doc, "model"), out);
    mm_value_release(doc);
    return rc;
}

/* The entries of ck under "<prefix>." with it stripped. */
static int entries(mm_checkpoint *ck, const char *prefix, mm_state_dict *sd) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < mm_checkpoint_count(ck); i++) {
        const char *name;
        mm_tensor *t;
        MM_TRY(mm_checkpoint_at(ck, i, &name, &t));
        if (!strncmp(name, prefix, n) && name[n] == '.')
            MM_TRY(mm_state_dict_add(sd, name + n + 1, t));
    }
    return MM_OK;
}

static void check_close(mm_tensor *got, mm_tensor *want, double tol,
                        const char *what) {
    double err = -1;
    if (!got || !want || !mm_allclose(got, want, tol, tol, &err)) {
        char a[64] = "?", b[64] = "?";
        if (got)
            mm_shape_format(got->ndim, got->shape, a, sizeof a);
        if (want)
            mm_shape_format(want->ndim, want->shape, b, sizeof b);
        fprintf(stderr, "%s: got %s, want %s, max error %g\n", what, a, b,
                err);
        mm_test_failures++;
    }
}

/* Build a recorded mmpretrain case, load its state dict strictly, run it in
 * eval mode and compare every output. */
static void run_mmpretrain_case(const char *name) {
    setup();
    mm_value *cases = cases_of(mmpt);
    const mm_value *c = cases ? case_named(cases, name) : NULL;
    if (!c) {
        mm_value_release(cases);
        return;
    }
    mm_module *m = NULL;
    mm_state_dict sd = {0};
    char key[64];
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    CHECK_OK(build_node(mm_value_dict_get(c, "config"), &m));
    snprintf(key, sizeof key, "%s.sd", name);
    CHECK_OK(entries(mmpt, key, &sd));
    if (m) {
        CHECK_OK(mm_module_load_state_dict(m, &sd, true, NULL));
        mm_module_eval(m);
        snprintf(key, sizeof key, "%s.x", name);
        mm_tensor *x = mm_checkpoint_get(mmpt, key), *outs[MM_MAX_OUTPUTS];
        int n = 0;
        int64_t want = mm_value_get_int(mm_value_dict_get(c, "outputs"));
        mm_no_grad_push();
        CHECK_OK(mm_module_forward_multi(m, 1, &x, MM_MAX_OUTPUTS, &n, outs));
        mm_no_grad_pop();
        CHECK_INT(n, want);
        for (int i = 0; i < n && i < want; i++) {
            snprintf(key, sizeof key, "%s.out%d", name, i);
            check_close(outs[i], mm_checkpoint_get(mmpt, key), 1e-4, key);
        }
    }
    mm_state_dict_clear(&sd);
    mm_module_free(m);
    mm_pool_close(pool);
    mm_value_release(cases);
}

MM_TEST(mmpretrain_vit_featmap_with_pos_embed_resize_agrees) {
    run_mmpretrain_case("vit_featmap");
}

MM_TEST(mmpretrain_vit_avg_featmap_pre_norm_without_cls_token_agrees) {
    run_mmpretrain_case("vit_avg");
}

MM_TEST(mmpretrain_vit_raw_without_final_norm_or_qkv_bias_agrees) {
    run_mmpretrain_case("vit_raw");
}

MM_TEST(mmpretrain_vit_classifier_with_hidden_layer_agrees) {
    run_mmpretrain_case("vit_cls");
}

MM_TEST(mmpretrain_swin_every_stage_padded_with_abs_pos_embed_agrees) {
    run_mmpretrain_case("swin_all");
}

MM_TEST(mmpretrain_swin_out_after_downsample_agrees) {
    run_mmpretrain_case("swin_after");
}

MM_TEST(mmpretrain_swin_classifier_agrees) {
    run_mmpretrain_case("swin_cls");
}

/* stage_cfgs.block_cfgs.window_size (the 384px models' way): windows of 3
 * on 12, 6, 3 and 2 (padded) maps, shifted on the 3x3 map too
 * (pad_small_map). */
MM_TEST(mmpretrain_swin_block_window_size_agrees) {
    run_mmpretrain_case("swin_window");
}

/* The shifted-window attention with its mask (8x12: 6 windows, the last
 * row and column of windows mixing regions) and with padding (7x10),
 * through a SwinTransformer's second block (shift = window / 2). */
MM_TEST(shifted_window_attention_and_mask_agree_with_mmpretrain) {
    mm_module *swin = NULL;
    CHECK_OK(build_yaml("model: {type: SwinTransformer, arch: {embed_dims: 8,"
                        " depths: [2, 2, 2, 2], num_heads: [2, 2, 2, 2]},"
                        " window_size: 4, img_size: 64}",
                        &swin));
    if (!swin)
        return;
    mm_module *msa = mm_module_find(swin, "stages.0.blocks.1.attn");
    CHECK(msa && !strcmp(msa->cls->name, "ShiftWindowMSA"));
    mm_state_dict sd = {0};
    CHECK_OK(entries(mmpt, "msa.sd", &sd));
    CHECK_OK(mm_module_load_state_dict(msa, &sd, true, NULL));
    mm_module_eval(msa);
    const int64_t sizes[2][2] = {{8, 12}, {7, 10}};
    for (int i = 0; i < 2; i++) {
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        char kx[32], ky[32];
        snprintf(kx, sizeof kx, "msa.x.%lldx%lld", (long long)sizes[i][0],
                 (long long)sizes[i][1]);
        snprintf(ky, sizeof ky, "msa.y.%lldx%lld", (long long)sizes[i][0],
                 (long long)sizes[i][1]);
        mm_tensor *hw = NULL, *y = NULL;
        CHECK_OK(mm_from_data(sizes[i], MM_SHAPE(2), MM_I64, &hw));
        mm_tensor *in[2] = {mm_checkpoint_get(mmpt, kx), hw};
        CHECK_OK(mm_module_forward(msa, 2, in, &y));
        check_close(y, mm_checkpoint_get(mmpt, ky), 1e-5, ky);
        mm_pool_close(pool);
    }
    mm_state_dict_clear(&sd);
    mm_module_free(swin);
}

/* Load a torchvision recording through its key map into the mm model of
 * its case; compare the logits. *model (may be NULL) keeps the model. */
static void run_torchvision_case(const char *name, mm_module **model) {
    setup();
    mm_value *cases = cases_of(tv);
    const mm_value *c = cases ? case_named(cases, name) : NULL;
    if (!c) {
        mm_value_release(cases);
        return;
    }
    mm_module *m = NULL;
    mm_state_dict sd = {0}, mapped = {0};
    char key[64];
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    CHECK_OK(build_node(mm_value_dict_get(c, "config"), &m));
    snprintf(key, sizeof key, "%s.sd", name);
    CHECK_OK(entries(tv, key, &sd));
    CHECK_OK(mm_key_map_apply(mm_value_get_string(mm_value_dict_get(c, "map")),
                              &sd, &mapped));
    if (m) {
        /* derived buffers (Swin's relative_position_index) must agree */
        for (size_t i = 0; i < mapped.n; i++) {
            mm_tensor *mine = mm_module_find_tensor(m, mapped.items[i].name);
            if (mine && mine->dtype == MM_I64)
                CHECK(mm_allclose(mine, mapped.items[i].tensor, 0, 0, NULL));
        }
        CHECK_OK(mm_module_load_state_dict(m, &mapped, true, NULL));
        mm_module_eval(m);
        snprintf(key, sizeof key, "%s.x", name);
        mm_tensor *x = mm_checkpoint_get(tv, key), *y = NULL;
        mm_no_grad_push();
        CHECK_OK(mm_module_forward(m, 1, &x, &y));
        mm_no_grad_pop();
        snprintf(key, sizeof key, "%s.y", name);
        check_close(y, mm_checkpoint_get(tv, key), 1e-4, key);
    }
    mm_state_dict_clear(&sd);
    mm_state_dict_clear(&mapped);
    mm_pool_close(pool);
    if (model)
        *model = m;
    else
        mm_module_free(m);
    mm_value_release(cases);
}

MM_TEST(torchvision_vit_map_loads_strictly_and_agrees) {
    run_torchvision_case("vit", NULL);
}

MM_TEST(torchvision_vit_map_with_representation_layer_agrees) {
    run_torchvision_case("vit_hidden", NULL);
}

/* torchvision concatenates the 2x2 neighbours as x0, x1, x2, x3 (row
 * offset fastest); mmcv's Unfold orders channel-major. The map reorders
 * the reduction columns and the norm: without that the logits differ. */
MM_TEST(torchvision_swin_map_reorders_patch_merging_and_agrees) {
    mm_module *m = NULL;
    run_torchvision_case("swin", &m);
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *raw = mm_checkpoint_get(tv, "swin.sd.features.2.reduction.weight");
    mm_tensor *dst =
        mm_module_find_tensor(m, "backbone.stages.0.downsample.reduction.weight");
    CHECK(raw && dst && !mm_allclose(raw, dst, 0, 0, NULL));
    if (raw && dst) {
        mm_no_grad_push();
        CHECK_OK(mm_tensor_copy_(dst, raw));
        mm_tensor *x = mm_checkpoint_get(tv, "swin.x"), *y = NULL;
        CHECK_OK(mm_module_forward(m, 1, &x, &y));
        mm_no_grad_pop();
        CHECK(y && !mm_allclose(y, mm_checkpoint_get(tv, "swin.y"), 1e-3, 1e-3,
                                NULL));
    }
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(key_maps_refuse_an_unknown_key) {
    setup();
    mm_state_dict in = {0}, out = {0};
    mm_tensor *t = NULL;
    CHECK_OK(mm_zeros(MM_SHAPE(2), MM_F32, &t));
    CHECK_OK(mm_state_dict_add(&in, "encoder.layers.encoder_layer_0.foo", t));
    CHECK_ERR(mm_key_map_apply("torchvision.vit", &in, &out), MM_EINVAL,
              "key map torchvision.vit: unknown key "
              "'encoder.layers.encoder_layer_0.foo'");
    mm_state_dict_clear(&out);
    mm_state_dict_clear(&in);
    CHECK_OK(mm_state_dict_add(&in, "features.2.bias", t));
    CHECK_ERR(mm_key_map_apply("torchvision.swin", &in, &out), MM_EINVAL,
              "key map torchvision.swin: unknown key 'features.2.bias'");
    mm_state_dict_clear(&out);
    mm_state_dict_clear(&in);
    mm_tensor_release(t);
}

/* ---- shapes and parameters ------------------------------------------------ */

static void check_shape(mm_tensor *t, int ndim, const int64_t *shape) {
    CHECK(t && t->ndim == ndim);
    for (int i = 0; t && i < ndim && i < t->ndim; i++)
        CHECK_INT(t->shape[i], shape[i]);
}

/* Every out_type on a custom arch (4x5 patches from a 64x80 input of a
 * 32x32 img_size: the position embedding is resized). */
MM_TEST(vit_out_types_give_mmpretrain_shapes) {
    static const char *const types[] = {"raw", "cls_token", "featmap",
                                        "avg_featmap"};
    for (int i = 0; i < 4; i++) {
        char yaml[400];
        snprintf(yaml, sizeof yaml,
                 "model: {type: VisionTransformer, arch: {embed_dims: 16, "
                 "num_layers: 3, num_heads: 2, feedforward_channels: 32}, "
                 "img_size: 32, out_indices: [2, 0], out_type: %s}",
                 types[i]);
        mm_module *m = NULL;
        CHECK_OK(build_yaml(yaml, &m));
        if (!m)
            continue;
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        mm_tensor *x = NULL, *outs[MM_MAX_OUTPUTS];
        int n = 0;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 64, 80), MM_F32, &x));
        CHECK_OK(mm_module_forward_multi(m, 1, &x, MM_MAX_OUTPUTS, &n, outs));
        CHECK_INT(n, 2); /* in layer order, as mmpretrain's `i in out_indices` */
        for (int k = 0; k < n; k++) {
            if (i == 0)
                check_shape(outs[k], MM_SHAPE(2, 21, 16));
            else if (i == 2)
                check_shape(outs[k], MM_SHAPE(2, 16, 4, 5));
            else
                check_shape(outs[k], MM_SHAPE(2, 16));
        }
        mm_pool_close(pool);
        mm_module_free(m);
    }
}

MM_TEST(vit_deit_tiny_has_mmpretrain_parameters_and_shapes) {
    static const struct {
        const char *arch;
        int64_t params;
    } archs[] = {{"deit-tiny", 5524416}};
    for (int i = 0; i < 1; i++) {
        char yaml[200];
        snprintf(yaml, sizeof yaml,
                 "model: {type: VisionTransformer, arch: %s, "
                 "out_indices: [3, -1], out_type: featmap}",
                 archs[i].arch);
        mm_module *m = NULL;
        CHECK_OK(build_yaml(yaml, &m));
        if (!m)
            continue;
        CHECK_INT(mm_module_num_parameters(m, false), archs[i].params);
        if (i == 0) { /* deit-tiny on 64x80: two (1, 192, 4, 5) maps */
            mm_pool *pool;
            CHECK_OK(mm_pool_open(&pool));
            mm_tensor *x = NULL, *outs[MM_MAX_OUTPUTS];
            int n = 0;
            CHECK_OK(mm_zeros(MM_SHAPE(1, 3, 64, 80), MM_F32, &x));
            CHECK_OK(mm_module_forward_multi(m, 1, &x, MM_MAX_OUTPUTS, &n,
                                             outs));
            CHECK_INT(n, 2);
            for (int k = 0; k < n; k++)
                check_shape(outs[k], MM_SHAPE(1, 192, 4, 5));
            mm_pool_close(pool);
        }
        mm_module_free(m);
    }
}

static int build_config(const char *path, const char *const *ov, size_t n,
                        mm_module **out);

/* configs/_base_/models/swin_transformer/tiny_224.yaml with every stage
 * out: mmpretrain's 28288354 parameters plus three more norms ((96 + 192 +
 * 384) * 2), and the four maps of a 224 input. */
MM_TEST(swin_tiny_config_gives_mmpretrain_parameters_and_stage_shapes) {
    const char *ov[] = {"model.backbone.out_indices=[0, 1, 2, 3]"};
    mm_module *m = NULL;
    CHECK_OK(build_config("configs/_base_/models/swin_transformer/"
                          "tiny_224.yaml",
                          ov, 1, &m));
    if (!m)
        return;
    CHECK_INT(mm_module_num_parameters(m, false), 28288354 + 2 * 672);
    mm_module *bb = mm_module_find(m, "backbone");
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = NULL, *outs[MM_MAX_OUTPUTS];
    int n = 0;
    CHECK_OK(mm_zeros(MM_SHAPE(1, 3, 224, 224), MM_F32, &x));
    mm_module_eval(m);
    mm_no_grad_push();
    CHECK_OK(mm_module_forward_multi(bb, 1, &x, MM_MAX_OUTPUTS, &n, outs));
    mm_no_grad_pop();
    CHECK_INT(n, 4);
    const int64_t c[4] = {96, 192, 384, 768}, s[4] = {56, 28, 14, 7};
    for (int k = 0; k < n && k < 4; k++)
        check_shape(outs[k], MM_SHAPE(1, c[k], s[k], s[k]));
    mm_pool_close(pool);
    mm_module_free(m);
}

MM_TEST(swin_map_smaller_than_window_is_refused_without_pad_small_map) {
    mm_module *m = NULL;
    CHECK_OK(build_yaml("model: {type: SwinTransformer, arch: {embed_dims: 8,"
                        " depths: [1, 1, 1, 1], num_heads: [1, 1, 1, 1]}}",
                        &m));
    if (!m)
        return;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x = NULL, *y;
    CHECK_OK(mm_zeros(MM_SHAPE(1, 3, 64, 64), MM_F32, &x));
    mm_error_clear();
    CHECK(mm_module_forward(m, 1, &x, &y) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "Please set `pad_small_map=True`"));
    mm_pool_close(pool);
    mm_module_free(m);
}

/* ---- initialisation and freezing ------------------------------------------ */

static double max_abs(mm_tensor *t) {
    double m = 0;
    for (int64_t i = 0; t && i < t->numel; i++)
        m = fmax(m, fabs(mm_tensor_get_flat(t, i)));
    return m;
}

static double std_of(mm_tensor *t) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = mm_tensor_get_flat(t, i);
        s += v;
        s2 += v * v;
    }
    double mean = s / (double)t->numel;
    return sqrt(s2 / (double)t->numel - mean * mean);
}

/* mmpretrain's init: pos_embed trunc_normal(0.02), cls_token 0, FFN
 * xavier_uniform with N(0, 1e-6) biases, Kaiming(fan_in, linear) on the
 * patch projection from init_cfg, the head Constant 0 on Linear. */
MM_TEST(vit_initialisation_is_mmpretrains) {
    mm_module *m = NULL;
    CHECK_OK(build_yaml(
        "model:\n"
        "  type: ImageClassifier\n"
        "  backbone:\n"
        "    type: VisionTransformer\n"
        "    arch: {embed_dims: 64, num_layers: 2, num_heads: 2, "
        "feedforward_channels: 256}\n"
        "    img_size: 128\n"
        "    init_cfg: [{type: Kaiming, layer: Conv2d, mode: fan_in, "
        "nonlinearity: linear}]\n"
        "  neck: null\n"
        "  head: {type: VisionTransformerClsHead, num_classes: 10, "
        "in_channels: 64}\n",
        &m));
    if (!m)
        return;
    mm_tensor *pos = mm_module_find_tensor(m, "backbone.pos_embed");
    CHECK(pos && fabs(std_of(pos) - 0.02) < 0.002 && max_abs(pos) <= 2.0);
    CHECK(max_abs(mm_module_find_tensor(m, "backbone.cls_token")) == 0);
    mm_tensor *fc1 =
        mm_module_find_tensor(m, "backbone.layers.0.ffn.layers.0.0.weight");
    CHECK(fc1 && max_abs(fc1) <= sqrt(6.0 / (64 + 256)) &&
          fabs(std_of(fc1) - sqrt(2.0 / (64 + 256))) < 0.01);
    double b = max_abs(
        mm_module_find_tensor(m, "backbone.layers.1.ffn.layers.1.bias"));
    CHECK(b > 0 && b < 1e-5);
    mm_tensor *proj =
        mm_module_find_tensor(m, "backbone.patch_embed.projection.weight");
    CHECK(proj && fabs(std_of(proj) - 1 / sqrt(3.0 * 16 * 16)) < 0.003);
    CHECK(max_abs(mm_module_find_tensor(
              m, "backbone.patch_embed.projection.bias")) == 0);
    CHECK(max_abs(mm_module_find_tensor(m, "head.layers.head.weight")) == 0);
    mm_module_free(m);
}

/* The Swin models' init_cfg: TruncNormal(0.02) on every Linear (head
 * included), Constant 1 on LayerNorm, then the tables trunc_normal(0.02). */
MM_TEST(swin_model_init_cfg_initialises_every_linear_and_norm) {
    mm_module *m = NULL;
    CHECK_OK(build_yaml(
        "model:\n"
        "  type: ImageClassifier\n"
        "  backbone: {type: SwinTransformer, arch: {embed_dims: 32, depths: "
        "[2, 2, 2, 2], num_heads: [1, 2, 4, 8]}}\n"
        "  neck: {type: GlobalAveragePooling}\n"
        "  head: {type: LinearClsHead, num_classes: 100, in_channels: 256, "
        "init_cfg: null}\n"
        "  init_cfg:\n"
        "    - {type: TruncNormal, layer: Linear, std: 0.02, bias: 0.0}\n"
        "    - {type: Constant, layer: LayerNorm, val: 1.0, bias: 0.0}\n",
        &m));
    if (!m)
        return;
    const char *const linears[] = {
        "backbone.stages.3.blocks.1.ffn.layers.0.0.weight",
        "backbone.stages.2.downsample.reduction.weight", "head.fc.weight"};
    for (int i = 0; i < 3; i++) {
        mm_tensor *w = mm_module_find_tensor(m, linears[i]);
        CHECK(w && fabs(std_of(w) - 0.02) < 0.002);
    }
    CHECK(max_abs(mm_module_find_tensor(m, "head.fc.bias")) == 0);
    mm_tensor *ln = mm_module_find_tensor(m, "backbone.norm3.weight");
    CHECK(ln && std_of(ln) == 0 && mm_tensor_get_flat(ln, 0) == 1);
    mm_tensor *table = mm_module_find_tensor(
        m, "backbone.stages.3.blocks.0.attn.w_msa.relative_position_bias_table");
    CHECK(table && fabs(std_of(table) - 0.02) < 0.004);
    mm_module_free(m);
}

MM_TEST(frozen_stages_stop_gradients_as_mmpretrain) {
    mm_module *v = NULL, *s = NULL;
    CHECK_OK(build_yaml("model: {type: VisionTransformer, arch: {embed_dims: "
                        "16, num_layers: 3, num_heads: 2, "
                        "feedforward_channels: 16}, img_size: 32, "
                        "frozen_stages: 1}",
                        &v));
    if (v) {
        CHECK(!mm_module_find_tensor(v, "pos_embed")->requires_grad);
        CHECK(!mm_module_find_tensor(v, "cls_token")->requires_grad);
        CHECK(!mm_module_find_tensor(v, "patch_embed.projection.weight")
                   ->requires_grad);
        CHECK(!mm_module_find_tensor(v, "layers.0.attn.qkv.weight")
                   ->requires_grad);
        CHECK(mm_module_find_tensor(v, "layers.1.attn.qkv.weight")
                  ->requires_grad);
        CHECK(mm_module_find_tensor(v, "ln1.weight")->requires_grad);
    }
    CHECK_OK(build_yaml("model: {type: SwinTransformer, arch: {embed_dims: 8,"
                        " depths: [1, 1, 1, 1], num_heads: [1, 1, 1, 1]}, "
                        "frozen_stages: 0, out_indices: [0, 3]}",
                        &s));
    if (s) {
        CHECK(!mm_module_find_tensor(s, "patch_embed.norm.weight")
                   ->requires_grad);
        CHECK(!mm_module_find_tensor(s, "stages.0.downsample.reduction.weight")
                   ->requires_grad);
        CHECK(!mm_module_find_tensor(s, "norm0.weight")->requires_grad);
        CHECK(mm_module_find_tensor(s, "stages.1.blocks.0.norm1.weight")
                  ->requires_grad);
        CHECK(mm_module_find_tensor(s, "norm3.weight")->requires_grad);
    }
    mm_module_free(v);
    mm_module_free(s);
}

/* ---- refused arguments ---------------------------------------------------- */

MM_TEST(unsupported_transformer_arguments_are_refused) {
    mm_module *m = NULL;
    CHECK_ERR(build_yaml("model: {type: VisionTransformer, out_type: "
                         "cls_token, with_cls_token: false}",
                         &m),
              MM_EINVAL,
              "cfg.yaml:1:71: model (mmcls.VisionTransformer): "
              "with_cls_token must be True when `out_type=\"cls_token\"`.");
    CHECK_ERR(build_yaml("model: {type: VisionTransformer, out_indices: 13, "
                         "arch: deit-tiny}",
                         &m),
              MM_EINVAL,
              "cfg.yaml:1:47: model (mmcls.VisionTransformer): out_indices: "
              "Invalid out_indices 13");
    CHECK_ERR(build_yaml("model: {type: VisionTransformer, arch: giant}", &m),
              MM_EINVAL,
              "cfg.yaml:1:40: model (mmcls.VisionTransformer): arch: 'giant' "
              "is not one of small, base, "
              "large, huge, eva-giant, deit-tiny, deit-small, deit-base, "
              "dinov2-small, dinov2-giant");
    mm_error_clear();
    CHECK(build_yaml("model: {type: VisionTransformer, "
                     "layer_scale_init_value: 0.1}",
                     &m) == MM_EUNSUPPORTED);
    CHECK(build_yaml("model: {type: SwinTransformer, stage_cfgs: "
                     "{block_cfgs: {ffn_ratio: 2.0}}}",
                     &m) == MM_EUNSUPPORTED);
    CHECK(build_yaml("model: {type: SwinTransformer, norm_cfg: {type: BN}}",
                     &m) == MM_EUNSUPPORTED);
    CHECK(build_yaml("model: {type: VisionTransformerClsHead, num_classes: "
                     "2, in_channels: 4, init_cfg: {type: Orthogonal, "
                     "layer: Linear}}",
                     &m) == MM_EUNSUPPORTED);
    CHECK(!m);
}

/* ---- configs -------------------------------------------------------------- */

/* The model of a config file with overrides; Mixup / CutMix
 * (train_cfg.augments) belong to the data preprocessor and are left out. */
static int build_config(const char *path, const char *const *ov, size_t n,
                        mm_module **out) {
    setup();
    mm_value *cfg = NULL;
    const char *all[8] = {"model.train_cfg=null"};
    for (size_t i = 0; i < n && i < 7; i++)
        all[i + 1] = ov[i];
    *out = NULL;
    int rc = mm_config_load(path, all, n + 1, &cfg);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, mm_config_get(cfg, "model"),
                               "mmcls", "model", NULL, (void **)out);
    mm_value_release(cfg);
    return rc;
}

/* Every model base validates against the schemas (building the large
 * ones would take too long here; Swin-T is built above, ViT-B/16 in the
 * parity suite). */
MM_TEST(model_configs_validate) {
    static const char *const cfgs[] = {
        "configs/_base_/models/vit-base-p16.yaml",
        "configs/_base_/models/vit-base-p32.yaml",
        "configs/_base_/models/vit-large-p16.yaml",
        "configs/_base_/models/vit-large-p32.yaml",
        "configs/_base_/models/swin_transformer/tiny_224.yaml",
        "configs/_base_/models/swin_transformer/small_224.yaml",
        "configs/_base_/models/swin_transformer/base_224.yaml",
        "configs/_base_/models/swin_transformer/large_224.yaml",
        "configs/_base_/models/swin_transformer/base_384.yaml",
        "configs/_base_/models/swin_transformer/large_384.yaml",
    };
    setup();
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        mm_value *cfg = NULL;
        CHECK_OK(mm_config_load(cfgs[i], NULL, 0, &cfg));
        if (cfg)
            CHECK_OK(mm_registry_validate(MM_MODELS,
                                          mm_config_get(cfg, "model"),
                                          "mmcls", "model"));
        mm_value_release(cfg);
    }
}

/* The algorithm configs need the ImageNet dataset and schedule bases; each
 * one present is loaded and its model validated. */
MM_TEST(algorithm_configs_load_and_validate) {
    static const char *const cfgs[] = {
        "configs/mmcls/vision_transformer/vit-base-p16_32xb128-mae_in1k.yaml",
        "configs/mmcls/vision_transformer/vit-base-p16_64xb64_in1k.yaml",
        "configs/mmcls/vision_transformer/vit-base-p32_64xb64_in1k.yaml",
        "configs/mmcls/vision_transformer/vit-large-p16_64xb64_in1k.yaml",
        "configs/mmcls/swin_transformer/swin-tiny_16xb64_in1k.yaml",
        "configs/mmcls/swin_transformer/swin-small_16xb64_in1k.yaml",
        "configs/mmcls/swin_transformer/swin-base_16xb64_in1k.yaml",
        "configs/mmcls/swin_transformer/swin-large_16xb64_in1k.yaml",
        "configs/mmcls/swin_transformer/swin-base_16xb64_in1k-384px.yaml",
        "configs/mmcls/swin_transformer/swin-large_16xb64_in1k-384px.yaml",
    };
    setup();
    bool have = access("configs/_base_/datasets/imagenet_bs64_swin_224.yaml",
                       R_OK) == 0 &&
                access("configs/_base_/datasets/imagenet_bs64_swin_384.yaml",
                       R_OK) == 0 &&
                access("configs/_base_/datasets/"
                       "imagenet_bs64_pil_resize_autoaug.yaml",
                       R_OK) == 0;
    if (!have) {
        printf("  (the ImageNet dataset bases are not there yet: the "
               "algorithm configs are not checked)\n");
        return;
    }
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        mm_value *cfg = NULL;
        CHECK_OK(mm_config_load(cfgs[i], NULL, 0, &cfg));
        if (cfg)
            CHECK_OK(mm_config_validate_components(cfg));
        mm_value_release(cfg);
    }
}

MM_TEST_MAIN(MM_CASE(mmpretrain_vit_featmap_with_pos_embed_resize_agrees),
             MM_CASE(mmpretrain_vit_avg_featmap_pre_norm_without_cls_token_agrees),
             MM_CASE(mmpretrain_vit_raw_without_final_norm_or_qkv_bias_agrees),
             MM_CASE(mmpretrain_vit_classifier_with_hidden_layer_agrees),
             MM_CASE(mmpretrain_swin_every_stage_padded_with_abs_pos_embed_agrees),
             MM_CASE(mmpretrain_swin_out_after_downsample_agrees),
             MM_CASE(mmpretrain_swin_classifier_agrees),
             MM_CASE(mmpretrain_swin_block_window_size_agrees),
             MM_CASE(shifted_window_attention_and_mask_agree_with_mmpretrain),
             MM_CASE(torchvision_vit_map_loads_strictly_and_agrees),
             MM_CASE(torchvision_vit_map_with_representation_layer_agrees),
             MM_CASE(torchvision_swin_map_reorders_patch_merging_and_agrees),
             MM_CASE(key_maps_refuse_an_unknown_key),
             MM_CASE(vit_out_types_give_mmpretrain_shapes),
             MM_CASE(vit_deit_tiny_has_mmpretrain_parameters_and_shapes),
             MM_CASE(swin_tiny_config_gives_mmpretrain_parameters_and_stage_shapes),
             MM_CASE(swin_map_smaller_than_window_is_refused_without_pad_small_map),
             MM_CASE(vit_initialisation_is_mmpretrains),
             MM_CASE(swin_model_init_cfg_initialises_every_linear_and_norm),
             MM_CASE(frozen_stages_stop_gradients_as_mmpretrain),
             MM_CASE(unsupported_transformer_arguments_are_refused),
             MM_CASE(model_configs_validate),
             MM_CASE(algorithm_configs_load_and_validate))
