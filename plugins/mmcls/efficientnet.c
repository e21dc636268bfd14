/* EfficientNet (mmpretrain/models/backbones/efficientnet.py) with its
 * blocks: InvertedResidual with SELayer (mmpretrain/models/utils) and
 * EdgeResidual (the EdgeTPU archs es, em, el). The module tree is
 * mmpretrain's, so the state_dict keys are:
 *
 *   layers.0.{conv,bn}                      stem ConvModule, 3x3 stride 2
 *   layers.<i>.<j>.{expand_conv,depthwise_conv,linear_conv}.{conv,bn}
 *   layers.<i>.<j>.se.{conv1,conv2}.conv    squeeze-excitation
 *   layers.<i>.<j>.{conv1,conv2}.{conv,bn}  (EdgeResidual)
 *   layers.6.{conv,bn}                      final 1x1 ConvModule
 *
 * mmpretrain's default convolution is mmcv's Conv2dAdaptivePadding
 * (TensorFlow's SAME padding) with BN eps 1e-3; torchvision's
 * efficientnet_b* pads symmetrically with BN eps 1e-5. The map
 * "torchvision.efficientnet" renames the keys; the numbers agree when the
 * config says conv_cfg {type: Conv2d} and norm_cfg {type: BN, eps: 1e-5}
 * (docs/mmcls.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/checkpoint.h>

#include "effconv.h"
#include "mmcls.h"

/* ---- the arch tables ----------------------------------------------------- */

/* kernel_size, out_channels, se_ratio, stride, expand_ratio, block_type
 * (-1: a ConvModule, 0: InvertedResidual, 1: EdgeResidual) */
typedef struct block_cfg {
    int k, out, se_ratio, stride, expand, type;
} block_cfg;

#define MAX_BLOCKS 128 /* l2's 5.3x depth of b gives 89 blocks */
#define N_LAYERS 7

static const block_cfg setting_b[] = {
    {3, 32, 0, 2, 0, -1},                                          /* 0 */
    {3, 16, 4, 1, 1, 0},                                           /* 1 */
    {3, 24, 4, 2, 6, 0},  {3, 24, 4, 1, 6, 0},                     /* 2 */
    {5, 40, 4, 2, 6, 0},  {5, 40, 4, 1, 6, 0},                     /* 3 */
    {3, 80, 4, 2, 6, 0},  {3, 80, 4, 1, 6, 0},  {3, 80, 4, 1, 6, 0},
    {5, 112, 4, 1, 6, 0}, {5, 112, 4, 1, 6, 0}, {5, 112, 4, 1, 6, 0}, /* 4 */
    {5, 192, 4, 2, 6, 0}, {5, 192, 4, 1, 6, 0}, {5, 192, 4, 1, 6, 0},
    {5, 192, 4, 1, 6, 0}, {3, 320, 4, 1, 6, 0},                    /* 5 */
    {1, 1280, 0, 1, 0, -1},                                        /* 6 */
};
static const int layers_b[N_LAYERS] = {1, 1, 2, 2, 6, 5, 1};

static const block_cfg setting_e[] = {
    {3, 32, 0, 2, 0, -1},
    {3, 24, 0, 1, 3, 1},
    {3, 32, 0, 2, 8, 1},  {3, 32, 0, 1, 8, 1},
    {3, 48, 0, 2, 8, 1},  {3, 48, 0, 1, 8, 1},  {3, 48, 0, 1, 8, 1},
    {3, 48, 0, 1, 8, 1},
    {5, 96, 0, 2, 8, 0},  {5, 96, 0, 1, 8, 0},  {5, 96, 0, 1, 8, 0},
    {5, 96, 0, 1, 8, 0},  {5, 96, 0, 1, 8, 0},  {5, 144, 0, 1, 8, 0},
    {5, 144, 0, 1, 8, 0}, {5, 144, 0, 1, 8, 0}, {5, 144, 0, 1, 8, 0},
    {5, 192, 0, 2, 8, 0}, {5, 192, 0, 1, 8, 0},
    {1, 1280, 0, 1, 0, -1},
};
static const int layers_e[N_LAYERS] = {1, 1, 2, 4, 9, 2, 1};

/* width factor, depth factor (resolution is the data pipeline's) */
static const struct {
    const char *name;
    double width, depth;
} eff_archs[] = {
    {"b0", 1.0, 1.0}, {"b1", 1.0, 1.1}, {"b2", 1.1, 1.2}, {"b3", 1.2, 1.4},
    {"b4", 1.4, 1.8}, {"b5", 1.6, 2.2}, {"b6", 1.8, 2.6}, {"b7", 2.0, 3.1},
    {"b8", 2.2, 3.6}, {"l2", 4.3, 5.3}, {"es", 1.0, 1.0}, {"em", 1.0, 1.1},
    {"el", 1.2, 1.4},
};
#define N_EFF_ARCHS (int)(sizeof eff_archs / sizeof eff_archs[0])

/* mmpretrain's make_divisible (min_value = divisor, min_ratio 0.9). */
static int64_t make_divisible(double value, int64_t divisor) {
    int64_t v = (int64_t)(value + (double)divisor / 2) / divisor * divisor;
    if (v < divisor)
        v = divisor;
    if ((double)v < 0.9 * value)
        v += divisor;
    return v;
}

/* The scaled plan: N_LAYERS layers, layer i holding n[i] blocks. */
typedef struct eff_plan {
    int n[N_LAYERS];
    block_cfg b[N_LAYERS][MAX_BLOCKS];
} eff_plan;

/* mmpretrain's model_scaling: widths times `width` (divisible by 8);
 * layers 1..5 split where the width changes, each run's length times
 * `depth` rounded up (cut, or the last block repeated), and a run whose
 * first block has stride 1 joins the layer before it (except the first). */
static int model_scaling(const block_cfg *setting, const int *counts,
                         double width, double depth, eff_plan *p) {
    block_cfg s[64];
    int n = 0;
    for (int l = 0; l < N_LAYERS; l++)
        n += counts[l];
    for (int i = 0; i < n; i++) {
        s[i] = setting[i];
        s[i].out = (int)make_divisible(s[i].out * width, 8);
    }
    memset(p, 0, sizeof *p);
    p->n[0] = 1;
    p->b[0][0] = s[0];
    int layer = 0, pos = counts[0];
    for (int l = 1; l < N_LAYERS - 1; l++) {
        int end = pos + counts[l];
        for (int a = pos, first = 1; a < end; first = 0) {
            int b = a + 1;
            while (b < end && s[b].out == s[b - 1].out)
                b++;
            int num = b - a;
            int want = (int)ceil(depth * num);
            if (s[a].stride != 1 || (l == 1 && first))
                layer++; /* a new layer (the first run always is one) */
            for (int k = 0; k < want; k++) {
                if (p->n[layer] == MAX_BLOCKS)
                    return mm_error_set(MM_EINVAL,
                                        "EfficientNet: more than %d blocks "
                                        "in a layer",
                                        MAX_BLOCKS);
                p->b[layer][p->n[layer]++] = s[k < num ? a + k : b - 1];
            }
            a = b;
        }
        pos = end;
    }
    if (layer != N_LAYERS - 2)
        return mm_error_set(MM_EINVAL, "EfficientNet: the arch gives %d "
                                       "layers, expected %d",
                            layer + 2, N_LAYERS);
    p->n[N_LAYERS - 1] = 1;
    p->b[N_LAYERS - 1][0] = s[n - 1];
    return MM_OK;
}

/* ---- SELayer ------------------------------------------------------------- */

typedef struct se_layer {
    mm_module base;
    mm_module *pool, *conv1, *conv2;
} se_layer;

/* x (N, C, H, W) * conv2(conv1(avgpool(x))) (N, C, 1, 1). */
static int se_forward(mm_module *m, int n, mm_tensor *const *in,
                      mm_tensor **out) {
    se_layer *s = (se_layer *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "SELayer takes one input, got %d", n);
    mm_tensor *w;
    MM_TRY(mm_module_forward1(s->pool, in[0], &w));
    MM_TRY(mm_module_forward1(s->conv1, w, &w));
    MM_TRY(mm_module_forward1(s->conv2, w, &w));
    return mm_mul(in[0], w, out);
}

static const mm_module_class se_class = {.name = "SELayer",
                                         .forward = se_forward};

static int add(mm_module *m, const char *name, mm_module *c,
               mm_module **field) {
    int rc = mm_module_add_child(m, name, c);
    if (!rc && field)
        *field = c;
    return rc;
}

/* SELayer(channels, ratio, divisor=1, act_cfg=(act, Sigmoid)): squeeze
 * channels make_divisible(channels // ratio, 1). */
static int se_new(mm_build_ctx *ctx, int64_t channels, int64_t ratio,
                  const mm_value *act_cfg, const mm_value *sigmoid,
                  mm_module **out) {
    int64_t squeeze = make_divisible((double)(channels / ratio), 1);
    mm_module *m, *c;
    MM_TRY(mm_module_new(&se_class, sizeof(se_layer), &m));
    se_layer *s = (se_layer *)m;
    const int64_t one[2] = {1, 1};
    int rc = mm_adaptive_pool_new(false, one, &c);
    rc = rc ? rc : add(m, "global_avgpool", c, &s->pool);
    if (!rc)
        rc = effconv_conv_module_new(ctx, "se", channels, squeeze, 1, 1, 0, 1,
                                     NULL, NULL, act_cfg, &c);
    rc = rc ? rc : add(m, "conv1", c, &s->conv1);
    if (!rc)
        rc = effconv_conv_module_new(ctx, "se", squeeze, channels, 1, 1, 0, 1,
                                     NULL, NULL, sigmoid, &c);
    rc = rc ? rc : add(m, "conv2", c, &s->conv2);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- InvertedResidual and EdgeResidual ----------------------------------- */

typedef struct mb_block {
    mm_module base;
    mm_module *drop_path;
    mm_module *expand;  /* InvertedResidual's expand_conv; may be NULL */
    mm_module *spatial; /* depthwise_conv / EdgeResidual's conv1 */
    mm_module *se;      /* may be NULL */
    mm_module *project; /* linear_conv / EdgeResidual's conv2 */
    bool residual;
} mb_block;

/* [expand] -> spatial -> [se] -> project, plus x through drop path when
 * the block keeps its shape (stride 1, in == out). */
static int mb_forward(mm_module *m, int n, mm_tensor *const *in,
                      mm_tensor **out) {
    mb_block *b = (mb_block *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "%s takes one input, got %d",
                            m->cls->name, n);
    mm_tensor *y = in[0];
    if (b->expand)
        MM_TRY(mm_module_forward1(b->expand, y, &y));
    MM_TRY(mm_module_forward1(b->spatial, y, &y));
    if (b->se)
        MM_TRY(mm_module_forward1(b->se, y, &y));
    MM_TRY(mm_module_forward1(b->project, y, &y));
    if (!b->residual) {
        *out = y;
        return MM_OK;
    }
    MM_TRY(mm_module_forward1(b->drop_path, y, &y));
    return mm_add(in[0], y, out);
}

static const mm_module_class inverted_residual_class = {
    .name = "InvertedResidual", .forward = mb_forward};
static const mm_module_class edge_residual_class = {.name = "EdgeResidual",
                                                    .forward = mb_forward};

typedef struct eff_cfgs {
    mm_build_ctx *ctx;
    const mm_value *conv_cfg, *norm_cfg, *act_cfg, *sigmoid;
} eff_cfgs;

static int mb_new(const eff_cfgs *c, const block_cfg *bc, bool edge,
                  bool with_residual, int64_t in, int64_t out, int64_t mid,
                  int64_t se_ratio, double drop, mm_module **res) {
    mm_module *m, *ch;
    MM_TRY(mm_module_new(edge ? &edge_residual_class
                              : &inverted_residual_class,
                         sizeof(mb_block), &m));
    mb_block *b = (mb_block *)m;
    b->residual = bc->stride == 1 && in == out && with_residual;
    int rc = effconv_drop_path_new(drop, 0.0, &ch);
    rc = rc ? rc : add(m, "drop_path", ch, &b->drop_path);
    if (!rc && !edge && mid != in) {
        rc = effconv_conv_module_new(c->ctx, "conv_cfg", in, mid, 1, 1, 0, 1,
                                     c->conv_cfg, c->norm_cfg, c->act_cfg,
                                     &ch);
        rc = rc ? rc : add(m, "expand_conv", ch, &b->expand);
    }
    if (!rc)
        rc = effconv_conv_module_new(
            c->ctx, "conv_cfg", edge ? in : mid, mid, bc->k, bc->stride,
            bc->k / 2, edge ? 1 : mid, c->conv_cfg, c->norm_cfg, c->act_cfg,
            &ch);
    rc = rc ? rc : add(m, edge ? "conv1" : "depthwise_conv", ch, &b->spatial);
    if (!rc && se_ratio > 0) {
        rc = se_new(c->ctx, mid, se_ratio, c->act_cfg, c->sigmoid, &ch);
        rc = rc ? rc : add(m, "se", ch, &b->se);
    }
    /* EdgeResidual's conv2 is a plain Conv2d (conv_cfg None in mmpretrain) */
    if (!rc)
        rc = effconv_conv_module_new(c->ctx, "conv_cfg", mid, out, 1, 1, 0, 1,
                                     edge ? NULL : c->conv_cfg, c->norm_cfg,
                                     NULL, &ch);
    rc = rc ? rc : add(m, edge ? "conv2" : "linear_conv", ch, &b->project);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *res = m;
    return MM_OK;
}

/* ---- EfficientNet -------------------------------------------------------- */

typedef struct efficientnet {
    mm_module base;
    mm_module *layers; /* ModuleList of N_LAYERS */
    bool out_layer[N_LAYERS];
    int frozen_stages;
    bool norm_eval, init_default;
} efficientnet;

static int eff_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                             int cap, int *n_out, mm_tensor **outs) {
    efficientnet *e = (efficientnet *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "EfficientNet takes one input, got %d",
                            n);
    if (m->training) { /* train()'s _freeze_stages and norm_eval */
        for (int i = 0; i < e->frozen_stages; i++)
            mm_module_eval(e->layers->children[i].module);
        if (e->norm_eval)
            effconv_bn_eval(m);
    }
    mm_tensor *x = in[0];
    int k = 0;
    for (int i = 0; i < N_LAYERS; i++) {
        MM_TRY(mm_module_forward1(e->layers->children[i].module, x, &x));
        if (e->out_layer[i]) {
            if (k == cap)
                return mm_error_set(MM_EINVAL,
                                    "EfficientNet: more outputs than %d",
                                    cap);
            outs[k++] = x;
        }
    }
    *n_out = k;
    return MM_OK;
}

static bool is_conv2d(const mm_module *m) {
    return (mm_module_is_conv(m) && ((const mm_nn_conv *)m)->nsp == 2 &&
            !((const mm_nn_conv *)m)->transposed) ||
           mm_module_is(m, &mmcls_conv2d_adaptive_class);
}

/* init_cfg [Kaiming on Conv2d (fan_out, relu, normal, bias 0), Constant 1
 * on _BatchNorm and GroupNorm]. */
static int eff_init_module(const char *name, mm_module *m, void *user) {
    (void)name, (void)user;
    if (is_conv2d(m)) {
        mm_nn_conv *c = (mm_nn_conv *)m;
        MM_TRY(mm_init_kaiming_normal_(c->weight, 0.0, "fan_out", "relu",
                                       NULL));
        if (c->bias)
            MM_TRY(mm_init_zeros_(c->bias));
    } else if (mm_module_is_batch_norm(m) ||
               (mm_module_is_norm(m) &&
                strcmp(m->cls->name, "GroupNorm") == 0)) {
        mm_tensor *w = mm_module_get_parameter(m, "weight");
        mm_tensor *b = mm_module_get_parameter(m, "bias");
        if (w)
            MM_TRY(mm_init_ones_(w));
        if (b)
            MM_TRY(mm_init_zeros_(b));
    }
    return MM_OK;
}

static int eff_init_weights(mm_module *m) {
    if (!((efficientnet *)m)->init_default)
        return MM_OK;
    return mm_module_named_modules(m, eff_init_module, NULL);
}

static const mm_module_class efficientnet_class = {
    .name = "EfficientNet",
    .forward = mm_module_forward_last,
    .init_weights = eff_init_weights,
    .forward_multi = eff_forward_multi,
};

static const char eff_default_init[] =
    "[{type: Kaiming, layer: Conv2d}, {type: Constant, layer: [_BatchNorm, "
    "GroupNorm], val: 1}]";

static int eff_build(mm_build_ctx *ctx, void **out) {
    const char *arch;
    double dpr_rate;
    int64_t frozen;
    bool norm_eval, with_cp, init_default;
    MM_TRY(mm_build_string(ctx, "arch", &arch));
    MM_TRY(mm_build_float(ctx, "drop_path_rate", &dpr_rate));
    MM_TRY(mm_build_int(ctx, "frozen_stages", &frozen));
    MM_TRY(mm_build_bool(ctx, "norm_eval", &norm_eval));
    MM_TRY(mm_build_bool(ctx, "with_cp", &with_cp));
    MM_TRY(effconv_init_cfg(ctx, eff_default_init, &init_default));
    (void)with_cp; /* activation checkpointing: same numbers, more memory */
    int a = -1;
    for (int i = 0; i < N_EFF_ARCHS; i++)
        if (strcmp(arch, eff_archs[i].name) == 0)
            a = i;
    const mm_srcloc *aloc = mm_value_loc(mm_build_arg(ctx, "arch"));
    if (a < 0)
        return mm_error_set_at(MM_EINVAL, aloc,
                               "arch: '%s' is not one of b0 .. b8, l2, es, "
                               "em, el",
                               arch);
    if (!(dpr_rate >= 0 && dpr_rate < 1))
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "drop_path_rate")),
            "drop_path_rate: must be in [0, 1), got %g", dpr_rate);
    int idx[MM_MAX_OUTPUTS], n_idx;
    MM_TRY(effconv_out_indices(ctx, N_LAYERS, false, idx, &n_idx));
    if (frozen < 0 || frozen > N_LAYERS)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "frozen_stages")),
            "frozen_stages: must be in range(0, %d), got %lld", N_LAYERS + 1,
            (long long)frozen);
    bool e_type = arch[0] == 'e';
    eff_plan *plan = malloc(sizeof *plan);
    if (!plan)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = model_scaling(e_type ? setting_e : setting_b,
                           e_type ? layers_e : layers_b, eff_archs[a].width,
                           eff_archs[a].depth, plan);
    if (rc) {
        free(plan);
        return rc;
    }
    mm_value *sigmoid = mm_value_new_dict();
    if (!sigmoid ||
        mm_value_dict_set_take(sigmoid, "type",
                               mm_value_new_string("Sigmoid"))) {
        mm_value_release(sigmoid);
        free(plan);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    eff_cfgs c = {.ctx = ctx,
                  .conv_cfg = mm_build_arg(ctx, "conv_cfg"),
                  .norm_cfg = mm_build_arg(ctx, "norm_cfg"),
                  .act_cfg = mm_build_arg(ctx, "act_cfg"),
                  .sigmoid = sigmoid};
    mm_module *m = NULL, *list = NULL, *ch;
    rc = mm_module_new(&efficientnet_class, sizeof(efficientnet), &m);
    efficientnet *e = (efficientnet *)m;
    if (!rc) {
        e->frozen_stages = (int)frozen;
        e->norm_eval = norm_eval;
        e->init_default = init_default;
        for (int i = 0; i < n_idx; i++)
            e->out_layer[idx[i]] = true;
        rc = mm_module_list_new(0, NULL, &list);
        rc = rc ? rc : add(m, "layers", list, &e->layers);
    }
    int total = 0;
    for (int l = 1; l < N_LAYERS - 1; l++)
        total += plan->n[l];
    double dpr[N_LAYERS * MAX_BLOCKS];
    effconv_linspace_f32(dpr_rate, total, dpr);
    const block_cfg *b0 = &plan->b[0][0], *bl = &plan->b[N_LAYERS - 1][0];
    int64_t in = make_divisible(b0->out, 8);
    if (!rc)
        rc = effconv_conv_module_new(ctx, "conv_cfg", 3, in, b0->k, b0->stride,
                                     b0->k / 2, 1, c.conv_cfg, c.norm_cfg,
                                     c.act_cfg, &ch);
    rc = rc ? rc : mm_sequential_append(list, ch);
    int bi = 0;
    for (int l = 1; !rc && l < N_LAYERS - 1; l++) {
        mm_module *seq;
        rc = mm_sequential_new(0, NULL, &seq);
        rc = rc ? rc : mm_sequential_append(list, seq);
        for (int j = 0; !rc && j < plan->n[l]; j++) {
            const block_cfg *bc = &plan->b[l][j];
            int64_t expand = bc->expand, out_ch = make_divisible(bc->out, 8);
            bool edge = bc->type == 1, with_res = true;
            if (edge && j > 0 && expand == 3)
                with_res = false, expand = 4;
            int64_t mid = in * expand;
            rc = mb_new(&c, bc, edge, with_res, in, out_ch, mid,
                        bc->se_ratio > 0 ? expand * bc->se_ratio : 0,
                        dpr[bi++], &ch);
            rc = rc ? rc : mm_sequential_append(seq, ch);
            in = out_ch;
        }
    }
    if (!rc)
        rc = effconv_conv_module_new(ctx, "conv_cfg", in, bl->out, bl->k,
                                     bl->stride, bl->k / 2, 1, c.conv_cfg,
                                     c.norm_cfg, c.act_cfg, &ch);
    rc = rc ? rc : mm_sequential_append(list, ch);
    for (int i = 0; !rc && i < frozen; i++)
        rc = effconv_freeze(list->children[i].module);
    if (!rc) {
        mm_no_grad_push();
        rc = eff_init_weights(m);
        mm_no_grad_pop();
    }
    mm_value_release(sigmoid);
    free(plan);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param eff_params[] = {
    {.name = "arch", .type = MM_PARAM_STRING, .def = "b0",
     .doc = "b0 .. b8, l2, or the EdgeTPU es, em, el"},
    {.name = "drop_path_rate", .type = MM_PARAM_FLOAT, .def = "0",
     .doc = "stochastic depth rate, rising linearly over the blocks"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "[6]", .doc = "layers (0 .. 6) whose outputs are returned"},
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "0",
     .doc = "layers 0 .. n-1 frozen (eval, no grad)"},
    {.name = "conv_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "{type: Conv2dAdaptivePadding}",
     .doc = "conv layer config (null: Conv2d with symmetric padding)"},
    {.name = "norm_cfg", .type = MM_PARAM_DICT,
     .def = "{type: BN, eps: 0.001}", .doc = "norm layer config"},
    {.name = "act_cfg", .type = MM_PARAM_DICT, .def = "{type: Swish}",
     .doc = "activation config"},
    {.name = "norm_eval", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "keep BatchNorm layers in eval mode while training"},
    {.name = "with_cp", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "activation checkpointing (accepted; same results)"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = eff_default_init,
     .doc = "mmpretrain's default, null (PyTorch's) or Pretrained entries"},
};

static const mm_component eff_component = {
    .kind = MM_MODELS,
    .name = "EfficientNet",
    .doc = "EfficientNet backbone (mmpretrain's)",
    .params = eff_params,
    .n_params = sizeof eff_params / sizeof eff_params[0],
    .build = eff_build,
    .destroy = mmcls_module_destroy,
};

/* ---- torchvision.efficientnet -------------------------------------------- */

/* torchvision's features.<s> (s = 1..7) are mmpretrain's layers 1..5:
 * stages 4 and 5 (the 80- and 112-channel runs) share layer 4, stages 6
 * and 7 (192, 320) layer 5, because a run starting with stride 1 joins
 * the layer before. Within a block, torchvision's block.<k> counts the
 * expand conv only when there is one (every stage but the first). */
#define TV_STAGES 9

typedef struct tv_eff_layout {
    int blocks[TV_STAGES];      /* blocks in features.<s> */
    bool expand[TV_STAGES];     /* features.<s>.*.block.3 exists */
} tv_eff_layout;

static int tv_eff_key(const tv_eff_layout *lay, const char *k, char *dst,
                      size_t size) {
    int s, j, blk, used = 0;
    if (strncmp(k, "classifier.1.", 13) == 0)
        return snprintf(dst, size, "head.fc.%s", k + 13), 0;
    if (sscanf(k, "features.%d.%n", &s, &used) == 1 && (s == 0 || s == 8)) {
        const char *r = k + used;
        int layer = s == 0 ? 0 : 6;
        if (strncmp(r, "0.", 2) == 0)
            return snprintf(dst, size, "backbone.layers.%d.conv.%s", layer,
                            r + 2),
                   0;
        if (strncmp(r, "1.", 2) == 0)
            return snprintf(dst, size, "backbone.layers.%d.bn.%s", layer,
                            r + 2),
                   0;
        return -1;
    }
    used = 0;
    if (sscanf(k, "features.%d.%d.block.%d.%n", &s, &j, &blk, &used) != 3 ||
        !used || s < 1 || s > 7 || j < 0)
        return -1;
    static const int layer_of[8] = {0, 1, 2, 3, 4, 4, 5, 5};
    int offset = (s == 5 || s == 7) ? lay->blocks[s - 1] : 0;
    const char *r = k + used;
    static const char *const with_expand[4] = {"expand_conv",
                                               "depthwise_conv", "se",
                                               "linear_conv"};
    int part = lay->expand[s] ? blk : blk + 1;
    if (part < 0 || part > 3)
        return -1;
    const char *name = with_expand[part];
    char rest[128];
    if (part == 2) { /* SqueezeExcitation: fc1, fc2 */
        if (strncmp(r, "fc1.", 4) == 0)
            snprintf(rest, sizeof rest, "conv1.conv.%s", r + 4);
        else if (strncmp(r, "fc2.", 4) == 0)
            snprintf(rest, sizeof rest, "conv2.conv.%s", r + 4);
        else
            return -1;
    } else if (strncmp(r, "0.", 2) == 0) {
        snprintf(rest, sizeof rest, "conv.%s", r + 2);
    } else if (strncmp(r, "1.", 2) == 0) {
        snprintf(rest, sizeof rest, "bn.%s", r + 2);
    } else {
        return -1;
    }
    snprintf(dst, size, "backbone.layers.%d.%d.%s.%s", layer_of[s],
             offset + j, name, rest);
    return 0;
}

static int tv_eff_map(const mm_state_dict *in, mm_state_dict *out) {
    tv_eff_layout lay;
    memset(&lay, 0, sizeof lay);
    for (size_t i = 0; i < in->n; i++) {
        int s, j, blk;
        if (sscanf(in->items[i].name, "features.%d.%d.block.%d.", &s, &j,
                   &blk) == 3 &&
            s >= 0 && s < TV_STAGES && j >= 0 && j < 10000) {
            if (j + 1 > lay.blocks[s])
                lay.blocks[s] = j + 1;
            if (blk == 3)
                lay.expand[s] = true;
        }
    }
    for (size_t i = 0; i < in->n; i++) {
        char name[256];
        if (tv_eff_key(&lay, in->items[i].name, name, sizeof name))
            return mm_error_set(MM_EINVAL,
                                "unknown key '%s' "
                                "(efficientnet_b0 .. b7 state dicts map to "
                                "mmpretrain's EfficientNet)",
                                in->items[i].name);
        MM_TRY(mm_state_dict_add(out, name, in->items[i].tensor));
    }
    return MM_OK;
}

static const mm_key_map tv_efficientnet = {
    .name = "torchvision.efficientnet",
    .doc = "torchvision efficientnet_b0 .. b7 -> mmcls EfficientNet + "
           "LinearClsHead (config: conv_cfg Conv2d, BN eps 1e-5)",
    .apply = tv_eff_map,
};

int mmcls_register_efficientnet(void) {
    MM_TRY(mm_register(&eff_component));
    return mm_key_map_register(&tv_efficientnet);
}
