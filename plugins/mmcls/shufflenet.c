/* ShuffleNetV2 (mmpretrain/models/backbones/shufflenet_v2.py): conv1 and
 * a max pool, three stages of InvertedResidual blocks (branch1 on
 * strided blocks, branch2, concatenated and channel-shuffled) and a last
 * 1x1 ConvModule, the four stages in the ModuleList `layers`. The key map
 * "torchvision.shufflenet_v2" renames torchvision's
 * shufflenet_v2_x0_5 ... x2_0 onto it. */
#include <stdio.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/checkpoint.h>
#include <mm/nn.h>
#include <mm/registry.h>

#include "mmcls.h"
#include "mobile.h"

/* mmpretrain's channel_shuffle(x, groups): (N, C, H, W) viewed as (N, g,
 * C/g, H, W), dims 1 and 2 swapped, back to (N, C, H, W). */
static int channel_shuffle(mm_tensor *x, int64_t groups, mm_tensor **out) {
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2],
            W = x->shape[3];
    MM_ASSERT(C % groups == 0);
    mm_tensor *y;
    MM_TRY(mm_reshape(x, MM_SHAPE(N, groups, C / groups, H, W), &y));
    MM_TRY(mm_transpose(y, 1, 2, &y));
    MM_TRY(mm_contiguous(y, &y));
    return mm_view(y, MM_SHAPE(N, C, H, W), out);
}

typedef struct shuffle_block {
    mm_module base;
    int64_t stride;
    mm_module *branch1, *branch2; /* branch1 only when strided */
} shuffle_block;

/* Strided: cat(branch1(x), branch2(x)); else the first half of the
 * channels passes and branch2 takes the second; then the two halves are
 * interleaved (channel_shuffle with 2 groups). */
static int shuffle_block_forward(mm_module *m, int n, mm_tensor *const *in,
                                 mm_tensor **out) {
    shuffle_block *b = (shuffle_block *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "InvertedResidual takes one input");
    mm_tensor *x = in[0], *parts[2];
    if (x->ndim != 4) {
        char buf[64];
        return mm_error_set(MM_EINVAL,
                            "InvertedResidual needs (N, C, H, W), got %s",
                            mm_shape_format(x->ndim, x->shape, buf,
                                            sizeof buf));
    }
    if (b->stride > 1) {
        MM_TRY(mm_module_forward1(b->branch1, x, &parts[0]));
        MM_TRY(mm_module_forward1(b->branch2, x, &parts[1]));
    } else {
        int64_t c = x->shape[1] / 2 + x->shape[1] % 2;
        mm_tensor *x2;
        MM_TRY(mm_narrow(x, 1, 0, c, &parts[0]));
        MM_TRY(mm_narrow(x, 1, c, x->shape[1] - c, &x2));
        MM_TRY(mm_module_forward1(b->branch2, x2, &parts[1]));
    }
    mm_tensor *y;
    MM_TRY(mm_cat(2, parts, 1, &y));
    return channel_shuffle(y, 2, out);
}

static const mm_module_class shuffle_block_class = {
    .name = "InvertedResidual",
    .forward = shuffle_block_forward,
};

/* Append ConvModule(in, out, k, stride, padding=k/2, groups) to seq. */
static int seq_conv(mm_module *seq, int64_t in, int64_t out, int64_t k,
                    int64_t stride, int64_t groups, const mm_value *conv_cfg,
                    const mm_value *norm_cfg, const mm_value *act_cfg) {
    mm_module *c;
    MM_TRY(mobile_conv_module(in, out, k, stride, k / 2, 1, groups, -1,
                              conv_cfg, norm_cfg, act_cfg, &c));
    return mm_sequential_append(seq, c);
}

static int shuffle_block_new(int64_t in, int64_t out, int64_t stride,
                             const mm_value *conv_cfg,
                             const mm_value *norm_cfg,
                             const mm_value *act_cfg, mm_module **res) {
    int64_t bf = out / 2;
    MM_ASSERT(stride > 1 || in == 2 * bf);
    mm_module *m, *seq;
    MM_TRY(mm_module_new(&shuffle_block_class, sizeof(shuffle_block), &m));
    shuffle_block *b = (shuffle_block *)m;
    b->stride = stride;
    int rc = MM_OK;
    if (stride > 1) {
        rc = mm_sequential_new(0, NULL, &seq);
        if (!rc) {
            b->branch1 = seq;
            rc = mm_module_add_child(m, "branch1", seq);
        }
        if (!rc)
            rc = seq_conv(seq, in, in, 3, stride, in, conv_cfg, norm_cfg,
                          NULL);
        if (!rc)
            rc = seq_conv(seq, in, bf, 1, 1, 1, conv_cfg, norm_cfg, act_cfg);
    }
    if (!rc)
        rc = mm_sequential_new(0, NULL, &seq);
    if (!rc) {
        b->branch2 = seq;
        rc = mm_module_add_child(m, "branch2", seq);
    }
    if (!rc)
        rc = seq_conv(seq, stride > 1 ? in : bf, bf, 1, 1, 1, conv_cfg,
                      norm_cfg, act_cfg);
    if (!rc)
        rc = seq_conv(seq, bf, bf, 3, stride, bf, conv_cfg, norm_cfg, NULL);
    if (!rc)
        rc = seq_conv(seq, bf, bf, 1, 1, 1, conv_cfg, norm_cfg, act_cfg);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *res = m;
    return MM_OK;
}

typedef struct shufflenet {
    mm_module base;
    double widen_factor;
    mm_module *conv1, *maxpool, *layers; /* layers: ModuleList of 4 */
    bool out[MOBILE_MAX_STAGES];
    int frozen_stages;
    bool norm_eval;
} shufflenet;

static mm_module *stage(const shufflenet *s, int i) {
    return s->layers->children[i].module;
}

/* mmpretrain's train(): layers[0 .. frozen_stages) in eval mode (conv1
 * is frozen but keeps training its batch norm statistics), batch norms in
 * eval mode with norm_eval. */
static void shufflenet_train_flags(shufflenet *s) {
    for (int i = 0; i < s->frozen_stages; i++)
        mm_module_train(stage(s, i), false);
    if (s->norm_eval)
        mobile_norm_eval(&s->base);
}

static int shufflenet_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                                    int cap, int *n_out, mm_tensor **outs) {
    shufflenet *s = (shufflenet *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "ShuffleNetV2 takes one input, got %d",
                            n);
    if (m->training)
        shufflenet_train_flags(s);
    mm_tensor *x;
    MM_TRY(mm_module_forward1(s->conv1, in[0], &x));
    MM_TRY(mm_module_forward1(s->maxpool, x, &x));
    *n_out = 0;
    for (int i = 0; i < 4; i++) {
        MM_TRY(mm_module_forward1(stage(s, i), x, &x));
        if (s->out[i])
            MM_TRY(mobile_output(n_out, cap, outs, x));
    }
    return MM_OK;
}

/* mmpretrain's ShuffleNetV2.init_weights (over the ConvModules' own):
 * conv weights N(0, 0.01) for conv1, N(0, 1 / fan-in channels) for the
 * others (weight.shape[1]: in_channels / groups); norms weight 1, bias
 * 1e-4, running_mean 0. */
static int init_visit(const char *name, mm_module *m, void *user) {
    (void)user;
    if (mm_module_is_conv(m)) {
        mm_nn_conv *c = (mm_nn_conv *)m;
        double std = strstr(name, "conv1")
                         ? 0.01
                         : 1.0 / (double)c->weight->shape[1];
        MM_TRY(mm_init_normal_(c->weight, 0.0, std, NULL));
        if (c->bias)
            MM_TRY(mm_init_zeros_(c->bias));
    } else if (mm_module_is_norm(m)) {
        mm_nn_norm *b = (mm_nn_norm *)m;
        if (b->weight)
            MM_TRY(mm_init_ones_(b->weight));
        if (b->bias)
            MM_TRY(mm_init_constant_(b->bias, 1e-4));
        if (mm_module_is_batch_norm(m) && b->running_mean)
            MM_TRY(mm_init_zeros_(b->running_mean));
    }
    return MM_OK;
}

static int shufflenet_init_weights(mm_module *m) {
    return mm_module_named_modules(m, init_visit, NULL);
}

static void shufflenet_repr(const mm_module *m, char *buf, size_t size) {
    snprintf(buf, size, "widen_factor=%g",
             ((const shufflenet *)m)->widen_factor);
}

const mm_module_class mmcls_shufflenet_v2_class = {
    .name = "ShuffleNetV2",
    .forward = mm_module_forward_last,
    .init_weights = shufflenet_init_weights,
    .extra_repr = shufflenet_repr,
    .forward_multi = shufflenet_forward_multi,
};

static int shufflenet_build(mm_build_ctx *ctx, void **out) {
    double wf;
    bool norm_eval, cp;
    MM_TRY(mm_build_float(ctx, "widen_factor", &wf));
    MM_TRY(mm_build_bool(ctx, "norm_eval", &norm_eval));
    MM_TRY(mm_build_bool(ctx, "with_cp", &cp));
    if (cp)
        return mm_error_set_at(MM_EUNSUPPORTED,
                               mm_value_loc(mm_build_arg(ctx, "with_cp")),
                               "with_cp: activation checkpointing is not "
                               "supported; leave it false");
    MM_TRY(mobile_check_init_cfg(ctx, "ShuffleNetV2"));
    static const struct {
        double wf;
        int64_t ch[4];
    } widths[] = {{0.5, {48, 96, 192, 1024}},
                  {1.0, {116, 232, 464, 1024}},
                  {1.5, {176, 352, 704, 1024}},
                  {2.0, {244, 488, 976, 2048}}};
    int w = -1;
    for (int i = 0; i < 4; i++)
        if (widths[i].wf == wf)
            w = i;
    if (w < 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "widen_factor")),
                               "widen_factor: must be 0.5, 1.0, 1.5 or 2.0, "
                               "got %g", wf);
    bool mask[MOBILE_MAX_STAGES];
    int frozen;
    MM_TRY(mobile_out_indices(ctx, "out_indices", 4, mask));
    MM_TRY(mobile_frozen_stages(ctx, -1, 3, &frozen));
    const mm_value *conv_cfg = mm_build_arg(ctx, "conv_cfg");
    const mm_value *norm_cfg = mm_build_arg(ctx, "norm_cfg");
    const mm_value *act_cfg = mm_build_arg(ctx, "act_cfg");

    mm_module *m, *c;
    MM_TRY(mm_module_new(&mmcls_shufflenet_v2_class, sizeof(shufflenet), &m));
    shufflenet *s = (shufflenet *)m;
    s->widen_factor = wf;
    s->frozen_stages = frozen;
    s->norm_eval = norm_eval;
    memcpy(s->out, mask, sizeof mask);
    int64_t in_ch = 24;
    int rc = mobile_conv_module(3, in_ch, 3, 2, 1, 1, 1, -1, conv_cfg,
                                norm_cfg, act_cfg, &c);
    if (!rc) {
        s->conv1 = c;
        rc = mm_module_add_child(m, "conv1", c);
    }
    const int64_t k3[2] = {3, 3}, s2[2] = {2, 2}, p1[2] = {1, 1};
    if (!rc)
        rc = mm_max_pool_new(2, k3, s2, p1, NULL, false, &c);
    if (!rc) {
        s->maxpool = c;
        rc = mm_module_add_child(m, "maxpool", c);
    }
    if (!rc)
        rc = mm_module_list_new(0, NULL, &c);
    if (!rc) {
        s->layers = c;
        rc = mm_module_add_child(m, "layers", c);
    }
    static const int blocks[3] = {4, 8, 4};
    for (int i = 0; !rc && i < 3; i++) {
        mm_module *seq;
        rc = mm_sequential_new(0, NULL, &seq);
        if (!rc)
            rc = mm_sequential_append(s->layers, seq);
        for (int j = 0; !rc && j < blocks[i]; j++) {
            rc = shuffle_block_new(in_ch, widths[w].ch[i], j == 0 ? 2 : 1,
                                   conv_cfg, norm_cfg, act_cfg, &c);
            if (!rc)
                rc = mm_sequential_append(seq, c);
            in_ch = widths[w].ch[i];
        }
    }
    if (!rc)
        rc = mobile_conv_module(in_ch, widths[w].ch[3], 1, 1, 0, 1, 1, -1,
                                conv_cfg, norm_cfg, act_cfg, &c);
    if (!rc)
        rc = mm_sequential_append(s->layers, c);
    /* over the ConvModules' own initialisation, as mmpretrain's
     * init_weights runs after theirs */
    if (!rc) {
        mm_no_grad_push();
        rc = shufflenet_init_weights(m);
        mm_no_grad_pop();
    }
    if (!rc && frozen >= 0)
        rc = mobile_freeze(s->conv1);
    for (int i = 0; !rc && i < frozen; i++)
        rc = mobile_freeze(stage(s, i));
    if (!rc)
        shufflenet_train_flags(s);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param shufflenet_params[] = {
    {.name = "widen_factor", .type = MM_PARAM_FLOAT, .def = "1.0",
     .doc = "0.5, 1.0, 1.5 or 2.0"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "[3]", .doc = "stages to output: 0..2 the block stages, 3 the "
                          "last conv"},
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "-1",
     .doc = "stages whose parameters are frozen (0: conv1 only)"},
    {.name = "conv_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL, .def = "null",
     .doc = "conv layer config (null: Conv2d)"},
    {.name = "norm_cfg", .type = MM_PARAM_DICT, .def = "{type: BN}",
     .doc = "norm layer config"},
    {.name = "act_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "{type: ReLU}", .doc = "activation config"},
    {.name = "norm_eval", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "keep batch norms in eval mode while training"},
    {.name = "with_cp", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "activation checkpointing (not supported: false only)"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "null: mmpretrain's ShuffleNetV2.init_weights; or Pretrained"},
};

static const mm_component shufflenet_component = {
    .kind = MM_MODELS,
    .name = "ShuffleNetV2",
    .doc = "ShuffleNetV2 backbone (widen_factor 0.5/1.0/1.5/2.0) as "
           "mmpretrain's",
    .params = shufflenet_params,
    .n_params = sizeof shufflenet_params / sizeof shufflenet_params[0],
    .build = shufflenet_build,
    .destroy = mmcls_module_destroy,
};

/* ---- torchvision.shufflenet_v2 ------------------------------------------- *
 * conv1.{0,1} -> conv1.{conv,bn}; stage2..4.j -> layers.0..2.j with
 * branch1 [dw conv, bn, conv, bn, relu] -> two ConvModules and branch2
 * [conv, bn, relu, dw conv, bn, conv, bn, relu] -> three; conv5 ->
 * layers.3; fc -> head.fc. */
static int tv_shufflenet_map(const mm_state_dict *in, mm_state_dict *out) {
    static const char *const b1[4][2] = {{"0", "0.conv"}, {"1", "0.bn"},
                                         {"2", "1.conv"}, {"3", "1.bn"}};
    static const char *const b2[6][2] = {{"0", "0.conv"}, {"1", "0.bn"},
                                         {"3", "1.conv"}, {"4", "1.bn"},
                                         {"5", "2.conv"}, {"6", "2.bn"}};
    static const int blocks[3] = {4, 8, 4};
    mobile_renames r = {0};
    char from[96], to[128];
    int rc = mobile_rename(&r, "conv1.0", "backbone.conv1.conv");
    if (!rc)
        rc = mobile_rename(&r, "conv1.1", "backbone.conv1.bn");
    for (int s = 0; !rc && s < 3; s++)
        for (int j = 0; !rc && j < blocks[s]; j++) {
            for (int k = 0; !rc && j == 0 && k < 4; k++) {
                snprintf(from, sizeof from, "stage%d.%d.branch1.%s", s + 2, j,
                         b1[k][0]);
                snprintf(to, sizeof to, "backbone.layers.%d.%d.branch1.%s", s,
                         j, b1[k][1]);
                rc = mobile_rename(&r, from, to);
            }
            for (int k = 0; !rc && k < 6; k++) {
                snprintf(from, sizeof from, "stage%d.%d.branch2.%s", s + 2, j,
                         b2[k][0]);
                snprintf(to, sizeof to, "backbone.layers.%d.%d.branch2.%s", s,
                         j, b2[k][1]);
                rc = mobile_rename(&r, from, to);
            }
        }
    if (!rc)
        rc = mobile_rename(&r, "conv5.0", "backbone.layers.3.conv");
    if (!rc)
        rc = mobile_rename(&r, "conv5.1", "backbone.layers.3.bn");
    if (!rc)
        rc = mobile_rename(&r, "fc", "head.fc");
    if (!rc)
        rc = mobile_renames_apply(&r, in, out);
    mobile_renames_free(&r);
    return rc;
}

static const mm_key_map tv_shufflenet = {
    .name = "torchvision.shufflenet_v2",
    .doc = "torchvision shufflenet_v2_x0_5/x1_0/x1_5/x2_0 -> ShuffleNetV2 + "
           "GlobalAveragePooling + LinearClsHead",
    .apply = tv_shufflenet_map,
};

int mmcls_register_shufflenet(void) {
    MM_TRY(mm_register(&shufflenet_component));
    return mm_key_map_register(&tv_shufflenet);
}
