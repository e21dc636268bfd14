/* MobileNetV2 (mmpretrain/models/backbones/mobilenet_v2.py) and
 * MobileNetV3 (mobilenet_v3.py) with the blocks they use: MobileNetV2's own
 * InvertedResidual (a Sequential `conv` of ConvModules), and mmpretrain's
 * utils InvertedResidual (expand_conv, depthwise_conv, se, linear_conv)
 * and SELayer (conv1, conv2). Module names are mmpretrain's, so its state
 * dicts load as they are; the key maps "torchvision.mobilenet_v2" and
 * "torchvision.mobilenet_v3" rename torchvision's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mm/checkpoint.h>
#include <mm/nn.h>
#include <mm/registry.h>

#include "mmcls.h"
#include "mobile.h"

static int with_cp_refused(mm_build_ctx *ctx) {
    bool cp;
    MM_TRY(mm_build_bool(ctx, "with_cp", &cp));
    if (cp)
        return mm_error_set_at(MM_EUNSUPPORTED,
                               mm_value_loc(mm_build_arg(ctx, "with_cp")),
                               "with_cp: activation checkpointing is not "
                               "supported; leave it false");
    return MM_OK;
}

/* Append `child` as `name`, remembering it in *slot (may be NULL). */
static int add(mm_module *m, const char *name, mm_module *child,
               mm_module **slot) {
    if (slot)
        *slot = child;
    return mm_module_add_child(m, name, child);
}

/* ---- MobileNetV2's InvertedResidual -------------------------------------- */

typedef struct mbv2_block {
    mm_module base;
    bool use_res_connect;
    mm_module *conv; /* Sequential of ConvModules */
} mbv2_block;

/* x (N, C, H, W) -> conv(x), plus x when stride 1 and C_in == C_out. */
static int mbv2_block_forward(mm_module *m, int n, mm_tensor *const *in,
                              mm_tensor **out) {
    mbv2_block *b = (mbv2_block *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "InvertedResidual takes one input");
    mm_tensor *y;
    MM_TRY(mm_module_forward1(b->conv, in[0], &y));
    if (!b->use_res_connect) {
        *out = y;
        return MM_OK;
    }
    return mm_add(in[0], y, out);
}

static const mm_module_class mbv2_block_class = {
    .name = "InvertedResidual",
    .forward = mbv2_block_forward,
};

static int mbv2_block_new(int64_t in, int64_t out, int64_t stride,
                          int64_t expand_ratio, const mm_value *conv_cfg,
                          const mm_value *norm_cfg, const mm_value *act_cfg,
                          mm_module **res) {
    mm_module *m, *seq = NULL, *c;
    MM_TRY(mm_module_new(&mbv2_block_class, sizeof(mbv2_block), &m));
    mbv2_block *b = (mbv2_block *)m;
    b->use_res_connect = stride == 1 && in == out;
    int64_t hidden = in * expand_ratio; /* int(round(in * ratio)), ratio int */
    int rc = mm_sequential_new(0, NULL, &seq);
    if (!rc)
        rc = add(m, "conv", seq, &b->conv);
    if (!rc && expand_ratio != 1) {
        rc = mobile_conv_module(in, hidden, 1, 1, 0, 1, 1, -1, conv_cfg,
                                norm_cfg, act_cfg, &c);
        if (!rc)
            rc = mm_sequential_append(seq, c);
    }
    if (!rc)
        rc = mobile_conv_module(hidden, hidden, 3, stride, 1, 1, hidden, -1,
                                conv_cfg, norm_cfg, act_cfg, &c);
    if (!rc)
        rc = mm_sequential_append(seq, c);
    if (!rc)
        rc = mobile_conv_module(hidden, out, 1, 1, 0, 1, 1, -1, conv_cfg,
                                norm_cfg, NULL, &c);
    if (!rc)
        rc = mm_sequential_append(seq, c);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *res = m;
    return MM_OK;
}

/* ---- SELayer and the utils InvertedResidual ------------------------------ */

typedef struct se_layer {
    mm_module base;
    mm_module *pool, *conv1, *conv2;
} se_layer;

/* x (N, C, H, W) -> x * conv2(conv1(avgpool(x))) (N, C, 1, 1). */
static int se_forward(mm_module *m, int n, mm_tensor *const *in,
                      mm_tensor **out) {
    se_layer *s = (se_layer *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "SELayer takes one input");
    mm_tensor *w;
    MM_TRY(mm_module_forward1(s->pool, in[0], &w));
    MM_TRY(mm_module_forward1(s->conv1, w, &w));
    MM_TRY(mm_module_forward1(s->conv2, w, &w));
    return mm_mul(in[0], w, out);
}

static const mm_module_class se_layer_class = {
    .name = "SELayer",
    .forward = se_forward,
};

/* SELayer(channels, ratio=4) with ReLU then mmcv's HSigmoid(3, 6, 0, 1), as
 * MobileNetV3 configures it. */
static int se_layer_new(int64_t channels, int64_t ratio, mm_module **res) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&se_layer_class, sizeof(se_layer), &m));
    se_layer *s = (se_layer *)m;
    int64_t squeeze = mobile_make_divisible((double)(channels / ratio), 8, 0,
                                            0.9);
    const int64_t one[2] = {1, 1};
    mm_value *relu = mobile_type_cfg("ReLU");
    mm_value *hsig = mobile_type_cfg("HSigmoid");
    int rc = relu && hsig ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc)
        rc = mm_adaptive_pool_new(false, one, &c);
    if (!rc)
        rc = add(m, "global_avgpool", c, &s->pool);
    if (!rc)
        rc = mobile_conv_module(channels, squeeze, 1, 1, 0, 1, 1, -1, NULL,
                                NULL, relu, &c);
    if (!rc)
        rc = add(m, "conv1", c, &s->conv1);
    if (!rc)
        rc = mobile_conv_module(squeeze, channels, 1, 1, 0, 1, 1, -1, NULL,
                                NULL, hsig, &c);
    if (!rc)
        rc = add(m, "conv2", c, &s->conv2);
    mm_value_release(relu);
    mm_value_release(hsig);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *res = m;
    return MM_OK;
}

typedef struct ir_block {
    mm_module base;
    bool with_res_shortcut;
    mm_module *expand_conv, *depthwise_conv, *se, *linear_conv; /* may be
                                                                  NULL */
} ir_block;

static int ir_forward(mm_module *m, int n, mm_tensor *const *in,
                      mm_tensor **out) {
    ir_block *b = (ir_block *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "InvertedResidual takes one input");
    mm_tensor *x = in[0];
    if (b->expand_conv)
        MM_TRY(mm_module_forward1(b->expand_conv, x, &x));
    MM_TRY(mm_module_forward1(b->depthwise_conv, x, &x));
    if (b->se)
        MM_TRY(mm_module_forward1(b->se, x, &x));
    MM_TRY(mm_module_forward1(b->linear_conv, x, &x));
    if (!b->with_res_shortcut) {
        *out = x;
        return MM_OK;
    }
    return mm_add(in[0], x, out);
}

static const mm_module_class ir_block_class = {
    .name = "InvertedResidual",
    .forward = ir_forward,
};

static int ir_block_new(int64_t in, int64_t out, int64_t mid, int64_t k,
                        int64_t stride, bool with_se, const mm_value *conv_cfg,
                        const mm_value *norm_cfg, const mm_value *act_cfg,
                        mm_module **res) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&ir_block_class, sizeof(ir_block), &m));
    ir_block *b = (ir_block *)m;
    b->with_res_shortcut = stride == 1 && in == out;
    int rc = MM_OK;
    if (mid != in) {
        rc = mobile_conv_module(in, mid, 1, 1, 0, 1, 1, -1, conv_cfg,
                                norm_cfg, act_cfg, &c);
        if (!rc)
            rc = add(m, "expand_conv", c, &b->expand_conv);
    }
    if (!rc)
        rc = mobile_conv_module(mid, mid, k, stride, k / 2, 1, mid, -1,
                                conv_cfg, norm_cfg, act_cfg, &c);
    if (!rc)
        rc = add(m, "depthwise_conv", c, &b->depthwise_conv);
    if (!rc && with_se) {
        rc = se_layer_new(mid, 4, &c);
        if (!rc)
            rc = add(m, "se", c, &b->se);
    }
    if (!rc)
        rc = mobile_conv_module(mid, out, 1, 1, 0, 1, 1, -1, conv_cfg,
                                norm_cfg, NULL, &c);
    if (!rc)
        rc = add(m, "linear_conv", c, &b->linear_conv);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *res = m;
    return MM_OK;
}

/* ---- the backbones ------------------------------------------------------- */

/* Both backbones: a run of layers (stage i is layers[i]), outputs at the
 * out_indices, the first stages frozen. */
typedef struct mobilenet {
    mm_module base;
    int version; /* 2 or 3 */
    int n_layers;
    mm_module *stem;                      /* V2: conv1 (not a stage) */
    mm_module *layers[MOBILE_MAX_STAGES]; /* children */
    bool out[MOBILE_MAX_STAGES];
    int frozen_stages;
    bool norm_eval;
    char arch[16];
    double widen_factor;
} mobilenet;

/* The layers kept in eval mode while training (mmpretrain's train()) are
 * layers[0 .. frozen_hi): V2: layer1 .. layer<frozen_stages>; V3: layer0
 * .. layer<frozen_stages>. */
static int frozen_hi(const mobilenet *b) {
    return b->version == 2 ? b->frozen_stages : b->frozen_stages + 1;
}

static void mobilenet_train_flags(mobilenet *b) {
    for (int i = 0; i < frozen_hi(b); i++)
        mm_module_train(b->layers[i], false);
    if (b->norm_eval)
        mobile_norm_eval(&b->base);
}

static int mobilenet_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                                   int cap, int *n_out, mm_tensor **outs) {
    mobilenet *b = (mobilenet *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "%s takes one input, got %d",
                            m->cls->name, n);
    if (m->training)
        mobilenet_train_flags(b);
    mm_tensor *x = in[0];
    if (b->stem)
        MM_TRY(mm_module_forward1(b->stem, x, &x));
    *n_out = 0;
    for (int i = 0; i < b->n_layers; i++) {
        MM_TRY(mm_module_forward1(b->layers[i], x, &x));
        if (b->out[i])
            MM_TRY(mobile_output(n_out, cap, outs, x));
    }
    return MM_OK;
}

static void mobilenet_repr(const mm_module *m, char *buf, size_t size) {
    const mobilenet *b = (const mobilenet *)m;
    if (b->version == 2)
        snprintf(buf, size, "widen_factor=%g", b->widen_factor);
    else
        snprintf(buf, size, "arch='%s'", b->arch);
}

const mm_module_class mmcls_mobilenet_v2_class = {
    .name = "MobileNetV2",
    .forward = mm_module_forward_last,
    .extra_repr = mobilenet_repr,
    .forward_multi = mobilenet_forward_multi,
};

const mm_module_class mmcls_mobilenet_v3_class = {
    .name = "MobileNetV3",
    .forward = mm_module_forward_last,
    .extra_repr = mobilenet_repr,
    .forward_multi = mobilenet_forward_multi,
};

/* Freeze what mmpretrain's _freeze_stages freezes and set the flags. */
static int mobilenet_finish(mobilenet *b) {
    if (b->version == 2 && b->frozen_stages >= 0)
        MM_TRY(mobile_freeze(b->stem));
    for (int i = 0; i < frozen_hi(b); i++)
        MM_TRY(mobile_freeze(b->layers[i]));
    mobilenet_train_flags(b);
    return MM_OK;
}

/* MobileNetV2's layers: expand ratio, channels, blocks, first stride. */
static const int mbv2_arch[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},
                                    {6, 32, 3, 2}, {6, 64, 4, 2},
                                    {6, 96, 3, 1}, {6, 160, 3, 2},
                                    {6, 320, 1, 1}};

static int mbv2_build(mm_build_ctx *ctx, void **out) {
    double wf;
    bool norm_eval;
    MM_TRY(mm_build_float(ctx, "widen_factor", &wf));
    MM_TRY(mm_build_bool(ctx, "norm_eval", &norm_eval));
    MM_TRY(with_cp_refused(ctx));
    MM_TRY(mobile_check_init_cfg(ctx, "MobileNetV2"));
    if (!(wf > 0))
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "widen_factor")),
                               "widen_factor: must be positive, got %g", wf);
    bool mask[MOBILE_MAX_STAGES];
    int frozen;
    MM_TRY(mobile_out_indices(ctx, "out_indices", 8, mask));
    MM_TRY(mobile_frozen_stages(ctx, -1, 7, &frozen));
    const mm_value *conv_cfg = mm_build_arg(ctx, "conv_cfg");
    const mm_value *norm_cfg = mm_build_arg(ctx, "norm_cfg");
    const mm_value *act_cfg = mm_build_arg(ctx, "act_cfg");

    mm_module *m, *c;
    MM_TRY(mm_module_new(&mmcls_mobilenet_v2_class, sizeof(mobilenet), &m));
    mobilenet *b = (mobilenet *)m;
    b->version = 2;
    b->widen_factor = wf;
    b->frozen_stages = frozen;
    b->norm_eval = norm_eval;
    memcpy(b->out, mask, sizeof mask);
    int64_t in_ch = mobile_make_divisible(32 * wf, 8, 0, 0.9);
    int rc = mobile_conv_module(3, in_ch, 3, 2, 1, 1, 1, -1, conv_cfg,
                                norm_cfg, act_cfg, &c);
    if (!rc)
        rc = add(m, "conv1", c, &b->stem);
    for (int i = 0; !rc && i < 7; i++) {
        int64_t out_ch = mobile_make_divisible(mbv2_arch[i][1] * wf, 8, 0,
                                               0.9);
        mm_module *seq = NULL;
        char name[16];
        snprintf(name, sizeof name, "layer%d", i + 1);
        rc = mm_sequential_new(0, NULL, &seq);
        if (!rc)
            rc = add(m, name, seq, &b->layers[i]);
        for (int j = 0; !rc && j < mbv2_arch[i][2]; j++) {
            rc = mbv2_block_new(in_ch, out_ch, j == 0 ? mbv2_arch[i][3] : 1,
                                mbv2_arch[i][0], conv_cfg, norm_cfg, act_cfg,
                                &c);
            if (!rc)
                rc = mm_sequential_append(seq, c);
            in_ch = out_ch;
        }
    }
    int64_t last = wf > 1.0 ? (int64_t)(1280 * wf) : 1280;
    if (!rc)
        rc = mobile_conv_module(in_ch, last, 1, 1, 0, 1, 1, -1, conv_cfg,
                                norm_cfg, act_cfg, &c);
    if (!rc)
        rc = add(m, "conv2", c, &b->layers[7]);
    b->n_layers = 8;
    if (!rc)
        rc = mobilenet_finish(b);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* MobileNetV3's layers: kernel, mid channels, out channels, SE, act,
 * stride (mmpretrain's arch_settings). */
typedef struct mbv3_layer {
    int k, mid, out;
    bool se;
    const char *act;
    int stride;
} mbv3_layer;

#define R "ReLU"
#define H "HSwish"
static const mbv3_layer mbv3_small[11] = {
    {3, 16, 16, true, R, 2},   {3, 72, 24, false, R, 2},
    {3, 88, 24, false, R, 1},  {5, 96, 40, true, H, 2},
    {5, 240, 40, true, H, 1},  {5, 240, 40, true, H, 1},
    {5, 120, 48, true, H, 1},  {5, 144, 48, true, H, 1},
    {5, 288, 96, true, H, 2},  {5, 576, 96, true, H, 1},
    {5, 576, 96, true, H, 1}};
static const mbv3_layer mbv3_small_075[11] = {
    {3, 16, 16, true, R, 2},   {3, 72, 24, false, R, 2},
    {3, 88, 24, false, R, 1},  {5, 96, 32, true, H, 2},
    {5, 192, 32, true, H, 1},  {5, 192, 32, true, H, 1},
    {5, 96, 40, true, H, 1},   {5, 120, 40, true, H, 1},
    {5, 240, 72, true, H, 2},  {5, 432, 72, true, H, 1},
    {5, 432, 72, true, H, 1}};
static const mbv3_layer mbv3_small_050[11] = {
    {3, 16, 8, true, R, 2},    {3, 40, 16, false, R, 2},
    {3, 56, 16, false, R, 1},  {5, 64, 24, true, H, 2},
    {5, 144, 24, true, H, 1},  {5, 144, 24, true, H, 1},
    {5, 72, 24, true, H, 1},   {5, 72, 24, true, H, 1},
    {5, 144, 48, true, H, 2},  {5, 288, 48, true, H, 1},
    {5, 288, 48, true, H, 1}};
static const mbv3_layer mbv3_large[15] = {
    {3, 16, 16, false, R, 1},  {3, 64, 24, false, R, 2},
    {3, 72, 24, false, R, 1},  {5, 72, 40, true, R, 2},
    {5, 120, 40, true, R, 1},  {5, 120, 40, true, R, 1},
    {3, 240, 80, false, H, 2}, {3, 200, 80, false, H, 1},
    {3, 184, 80, false, H, 1}, {3, 184, 80, false, H, 1},
    {3, 480, 112, true, H, 1}, {3, 672, 112, true, H, 1},
    {5, 672, 160, true, H, 2}, {5, 960, 160, true, H, 1},
    {5, 960, 160, true, H, 1}};
#undef R
#undef H

static const struct {
    const char *name;
    const mbv3_layer *layers;
    int n;
} mbv3_archs[] = {
    {"small", mbv3_small, 11},
    {"small_075", mbv3_small_075, 11},
    {"small_050", mbv3_small_050, 11},
    {"large", mbv3_large, 15},
};

static int mbv3_build(mm_build_ctx *ctx, void **out) {
    const char *arch;
    bool norm_eval;
    MM_TRY(mm_build_string(ctx, "arch", &arch));
    MM_TRY(mm_build_bool(ctx, "norm_eval", &norm_eval));
    MM_TRY(with_cp_refused(ctx));
    MM_TRY(mobile_check_init_cfg(ctx, "MobileNetV3"));
    int a = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(mbv3_archs[i].name, arch) == 0)
            a = i;
    if (a < 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "arch")),
                               "arch: '%s' is not one of small, small_075, "
                               "small_050, large", arch);
    const mbv3_layer *L = mbv3_archs[a].layers;
    int nl = mbv3_archs[a].n;
    bool mask[MOBILE_MAX_STAGES] = {false};
    if (mm_value_is_null(mm_build_arg(ctx, "out_indices")))
        mask[nl + 1] = true; /* the last layer: 12 (small) or 16 (large) */
    else
        MM_TRY(mobile_out_indices(ctx, "out_indices", nl + 2, mask));
    int frozen;
    MM_TRY(mobile_frozen_stages(ctx, -1, nl + 1, &frozen));
    const mm_value *conv_cfg = mm_build_arg(ctx, "conv_cfg");
    const mm_value *norm_cfg = mm_build_arg(ctx, "norm_cfg");

    mm_module *m, *c;
    MM_TRY(mm_module_new(&mmcls_mobilenet_v3_class, sizeof(mobilenet), &m));
    mobilenet *b = (mobilenet *)m;
    b->version = 3;
    snprintf(b->arch, sizeof b->arch, "%s", arch);
    b->frozen_stages = frozen;
    b->norm_eval = norm_eval;
    b->n_layers = nl + 2;
    memcpy(b->out, mask, sizeof mask);
    mm_value *hswish = mobile_type_cfg("HSwish");
    int rc = hswish ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc)
        rc = mobile_conv_module(3, 16, 3, 2, 1, 1, 1, -1, conv_cfg, norm_cfg,
                                hswish, &c);
    if (!rc)
        rc = add(m, "layer0", c, &b->layers[0]);
    int64_t in_ch = 16;
    char name[24];
    for (int i = 0; !rc && i < nl; i++) {
        mm_value *act = mobile_type_cfg(L[i].act);
        rc = act ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
        if (!rc)
            rc = ir_block_new(in_ch, L[i].out, L[i].mid, L[i].k, L[i].stride,
                              L[i].se, conv_cfg, norm_cfg, act, &c);
        mm_value_release(act);
        snprintf(name, sizeof name, "layer%d", i + 1);
        if (!rc)
            rc = add(m, name, c, &b->layers[i + 1]);
        in_ch = L[i].out;
    }
    snprintf(name, sizeof name, "layer%d", nl + 1);
    if (!rc)
        rc = mobile_conv_module(in_ch, L[nl - 1].mid, 1, 1, 0, 1, 1, -1,
                                conv_cfg, norm_cfg, hswish, &c);
    if (!rc)
        rc = add(m, name, c, &b->layers[nl + 1]);
    mm_value_release(hswish);
    if (!rc)
        rc = mobilenet_finish(b);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

#define COMMON_PARAMS(norm_default, init_doc)                                  \
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "-1",               \
     .doc = "stages whose parameters are frozen (and kept in eval mode)"},     \
    {.name = "conv_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,                \
     .def = "null", .doc = "conv layer config (null: Conv2d)"},                \
    {.name = "norm_cfg", .type = MM_PARAM_DICT, .def = norm_default,           \
     .doc = "norm layer config"},                                              \
    {.name = "norm_eval", .type = MM_PARAM_BOOL, .def = "false",               \
     .doc = "keep batch norms in eval mode while training"},                   \
    {.name = "with_cp", .type = MM_PARAM_BOOL, .def = "false",                 \
     .doc = "activation checkpointing (not supported: false only)"},           \
    {.name = "init_cfg",                                                       \
     .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL, .def = "null",     \
     .doc = init_doc}

static const mm_param mbv2_params[] = {
    {.name = "widen_factor", .type = MM_PARAM_FLOAT, .def = "1.0",
     .doc = "width multiplier of every layer's channels"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "[7]", .doc = "stages to output: 0..6 layer1..7, 7 conv2"},
    {.name = "act_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "{type: ReLU6}", .doc = "activation config"},
    COMMON_PARAMS("{type: BN}",
                  "null: mmpretrain's default (Kaiming convs, norms 1); or "
                  "Pretrained"),
};

static const mm_param mbv3_params[] = {
    {.name = "arch", .type = MM_PARAM_STRING, .def = "small",
     .doc = "small, small_075, small_050 or large"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST |
                                    MM_PARAM_NULL,
     .def = "null",
     .doc = "stages to output (layer0 .. layer12/16); null: the last"},
    COMMON_PARAMS("{type: BN, eps: 0.001, momentum: 0.01}",
                  "null: mmpretrain's default (Kaiming convs, norms 1); or "
                  "Pretrained"),
};

static const mm_component mbv2_component = {
    .kind = MM_MODELS,
    .name = "MobileNetV2",
    .doc = "MobileNetV2 backbone as mmpretrain's",
    .params = mbv2_params,
    .n_params = sizeof mbv2_params / sizeof mbv2_params[0],
    .build = mbv2_build,
    .destroy = mmcls_module_destroy,
};

static const mm_component mbv3_component = {
    .kind = MM_MODELS,
    .name = "MobileNetV3",
    .doc = "MobileNetV3 backbone (small, small_075, small_050, large) as "
           "mmpretrain's",
    .params = mbv3_params,
    .n_params = sizeof mbv3_params / sizeof mbv3_params[0],
    .build = mbv3_build,
    .destroy = mmcls_module_destroy,
};

/* ---- torchvision.mobilenet_v2 --------------------------------------------- *
 * features.0 (conv, bn) -> conv1; features.1 .. 17 are the blocks of
 * layer1 .. layer7 in order, each a list conv.0 (expand: conv, bn), conv.1
 * (depthwise: conv, bn), conv.2 (project conv), conv.3 (its bn), without
 * the expansion for the first block; features.18 -> conv2; classifier.1
 * (after a Dropout) -> head.fc. */
static int tv_mbv2_map(const mm_state_dict *in, mm_state_dict *out) {
    mobile_renames r = {0};
    char from[96], to[128];
    int rc = mobile_rename(&r, "features.0.0", "backbone.conv1.conv");
    if (!rc)
        rc = mobile_rename(&r, "features.0.1", "backbone.conv1.bn");
    int f = 1;
    for (int i = 0; !rc && i < 7; i++)
        for (int j = 0; !rc && j < mbv2_arch[i][2]; j++, f++) {
            /* (torchvision suffix, mm ConvModule index, conv or bn) */
            static const char *const with_expand[6][2] = {
                {"conv.0.0", "conv.0.conv"}, {"conv.0.1", "conv.0.bn"},
                {"conv.1.0", "conv.1.conv"}, {"conv.1.1", "conv.1.bn"},
                {"conv.2", "conv.2.conv"},   {"conv.3", "conv.2.bn"}};
            static const char *const no_expand[4][2] = {
                {"conv.0.0", "conv.0.conv"}, {"conv.0.1", "conv.0.bn"},
                {"conv.1", "conv.1.conv"},   {"conv.2", "conv.1.bn"}};
            bool expand = mbv2_arch[i][0] != 1;
            int n = expand ? 6 : 4;
            for (int k = 0; !rc && k < n; k++) {
                const char *const *p = expand ? with_expand[k] : no_expand[k];
                snprintf(from, sizeof from, "features.%d.%s", f, p[0]);
                snprintf(to, sizeof to, "backbone.layer%d.%d.%s", i + 1, j,
                         p[1]);
                rc = mobile_rename(&r, from, to);
            }
        }
    if (!rc)
        rc = mobile_rename(&r, "features.18.0", "backbone.conv2.conv");
    if (!rc)
        rc = mobile_rename(&r, "features.18.1", "backbone.conv2.bn");
    if (!rc)
        rc = mobile_rename(&r, "classifier.1", "head.fc");
    if (!rc)
        rc = mobile_renames_apply(&r, in, out);
    mobile_renames_free(&r);
    return rc;
}

/* ---- torchvision.mobilenet_v3 --------------------------------------------- *
 * features.0 -> layer0; features.i.block is [expand], depthwise, [SE with
 * fc1, fc2], project, each (conv, bn) but the SE's -> layer<i>'s
 * expand_conv, depthwise_conv, se.conv1/conv2, linear_conv; the last
 * features -> the last layer; classifier.0 and .3 (Linear, Hardswish,
 * Dropout, Linear) -> StackedLinearClsHead's layers.0.fc and layers.1.fc.
 * small or large by the number of features. */
static int tv_mbv3_map(const mm_state_dict *in, mm_state_dict *out) {
    bool large = mobile_has_prefix(in, "features.16.");
    const mbv3_layer *L = large ? mbv3_large : mbv3_small;
    int nl = large ? 15 : 11;
    mobile_renames r = {0};
    char from[96], to[128];
    int rc = mobile_rename(&r, "features.0.0", "backbone.layer0.conv");
    if (!rc)
        rc = mobile_rename(&r, "features.0.1", "backbone.layer0.bn");
    int in_ch = 16;
    for (int i = 1; !rc && i <= nl; i++) {
        const mbv3_layer *l = &L[i - 1];
        const char *parts[4];
        int np = 0;
        if (l->mid != in_ch)
            parts[np++] = "expand_conv";
        parts[np++] = "depthwise_conv";
        if (l->se)
            parts[np++] = "se";
        parts[np++] = "linear_conv";
        for (int k = 0; !rc && k < np; k++) {
            if (strcmp(parts[k], "se") == 0) {
                snprintf(from, sizeof from, "features.%d.block.%d.fc1", i, k);
                snprintf(to, sizeof to, "backbone.layer%d.se.conv1.conv", i);
                rc = mobile_rename(&r, from, to);
                snprintf(from, sizeof from, "features.%d.block.%d.fc2", i, k);
                snprintf(to, sizeof to, "backbone.layer%d.se.conv2.conv", i);
                if (!rc)
                    rc = mobile_rename(&r, from, to);
                continue;
            }
            snprintf(from, sizeof from, "features.%d.block.%d.0", i, k);
            snprintf(to, sizeof to, "backbone.layer%d.%s.conv", i, parts[k]);
            rc = mobile_rename(&r, from, to);
            snprintf(from, sizeof from, "features.%d.block.%d.1", i, k);
            snprintf(to, sizeof to, "backbone.layer%d.%s.bn", i, parts[k]);
            if (!rc)
                rc = mobile_rename(&r, from, to);
        }
        in_ch = l->out;
    }
    snprintf(from, sizeof from, "features.%d.0", nl + 1);
    snprintf(to, sizeof to, "backbone.layer%d.conv", nl + 1);
    if (!rc)
        rc = mobile_rename(&r, from, to);
    snprintf(from, sizeof from, "features.%d.1", nl + 1);
    snprintf(to, sizeof to, "backbone.layer%d.bn", nl + 1);
    if (!rc)
        rc = mobile_rename(&r, from, to);
    if (!rc)
        rc = mobile_rename(&r, "classifier.0", "head.layers.0.fc");
    if (!rc)
        rc = mobile_rename(&r, "classifier.3", "head.layers.1.fc");
    if (!rc)
        rc = mobile_renames_apply(&r, in, out);
    mobile_renames_free(&r);
    return rc;
}

static const mm_key_map tv_mbv2 = {
    .name = "torchvision.mobilenet_v2",
    .doc = "torchvision mobilenet_v2 -> MobileNetV2 + GlobalAveragePooling "
           "+ LinearClsHead",
    .apply = tv_mbv2_map,
};

static const mm_key_map tv_mbv3 = {
    .name = "torchvision.mobilenet_v3",
    .doc = "torchvision mobilenet_v3_small/large -> MobileNetV3 + "
           "GlobalAveragePooling + StackedLinearClsHead",
    .apply = tv_mbv3_map,
};

int mmcls_register_mobilenet(void) {
    MM_TRY(mm_register(&mbv2_component));
    MM_TRY(mm_register(&mbv3_component));
    MM_TRY(mm_key_map_register(&tv_mbv2));
    return mm_key_map_register(&tv_mbv3);
}
