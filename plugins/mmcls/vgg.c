/* VGG (mmpretrain/models/backbones/vgg.py): five stages of 3x3
 * ConvModules each followed by a 2x2 max pool, all in one Sequential
 * `features` (ConvModule i is `features.i.conv` / `features.i.bn`), and,
 * with num_classes > 0, its own three-layer `classifier` whose logits are
 * the last output. The key map "torchvision.vgg" renames torchvision's
 * vgg11 ... vgg19_bn state dicts onto it. */
#include <stdio.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/checkpoint.h>
#include <mm/nn.h>
#include <mm/registry.h>

#include "mmcls.h"
#include "mobile.h"

/* Convs per stage for each depth (mmpretrain's arch_settings). */
static const struct {
    int depth;
    int blocks[5];
} vgg_archs[] = {
    {11, {1, 1, 2, 2, 2}},
    {13, {2, 2, 2, 2, 2}},
    {16, {2, 2, 3, 3, 3}},
    {19, {2, 2, 4, 4, 4}},
};

typedef struct vgg {
    mm_module base;
    int depth, num_stages;
    int64_t num_classes;
    int range[5][2]; /* features[range[i][0] .. range[i][1]) is stage i */
    bool out[MOBILE_MAX_STAGES];
    int frozen_stages;
    bool norm_eval;
    mm_module *features, *classifier; /* classifier may be NULL */
} vgg;

/* mmpretrain's VGG.train(): frozen stages and (norm_eval) batch norms stay
 * in eval mode while the rest trains. mm_module_train sets every flag, so
 * the backbone re-applies this before each training forward. */
static void vgg_train_flags(vgg *v) {
    for (int i = 0; i < v->frozen_stages; i++)
        for (int j = v->range[i][0]; j < v->range[i][1]; j++)
            mm_module_train(v->features->children[j].module, false);
    if (v->norm_eval)
        mobile_norm_eval(&v->base);
}

/* x (N, 3, H, W) -> the stages named by out_indices, each (N, C_i, H_i,
 * W_i), then (num_classes > 0) the logits (N, num_classes). */
static int vgg_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                             int cap, int *n_out, mm_tensor **outs) {
    vgg *v = (vgg *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "VGG takes one input, got %d", n);
    if (m->training)
        vgg_train_flags(v);
    mm_tensor *x = in[0];
    *n_out = 0;
    for (int i = 0; i < v->num_stages; i++) {
        for (int j = v->range[i][0]; j < v->range[i][1]; j++)
            MM_TRY(mm_module_forward1(v->features->children[j].module, x, &x));
        if (v->out[i])
            MM_TRY(mobile_output(n_out, cap, outs, x));
    }
    if (v->classifier) {
        MM_TRY(mm_flatten(x, 1, -1, &x)); /* (N, 512 * 7 * 7) */
        if (x->shape[1] != 512 * 7 * 7) {
            char buf[64];
            return mm_error_set(MM_EINVAL,
                                "VGG's classifier needs 512x7x7 features "
                                "(224x224 inputs, five stages), got %s per "
                                "sample",
                                mm_shape_format(x->ndim - 1, x->shape + 1, buf,
                                                sizeof buf));
        }
        MM_TRY(mm_module_forward1(v->classifier, x, &x));
        MM_TRY(mobile_output(n_out, cap, outs, x));
    }
    return MM_OK;
}

/* mmpretrain's init_cfg: Kaiming on Conv2d and 1 on batch norms (what each
 * ConvModule's own initialisation does already), Normal(std=0.01), bias 0
 * on the classifier's Linear layers. */
static int vgg_init_weights(mm_module *m) {
    vgg *v = (vgg *)m;
    if (!v->classifier)
        return MM_OK;
    for (size_t i = 0; i < v->classifier->n_children; i++) {
        mm_module *c = v->classifier->children[i].module;
        if (!mm_module_is(c, &mm_linear_class))
            continue;
        mm_nn_linear *l = (mm_nn_linear *)c;
        MM_TRY(mm_init_normal_(l->weight, 0.0, 0.01, NULL));
        MM_TRY(mm_init_zeros_(l->bias));
    }
    return MM_OK;
}

static void vgg_repr(const mm_module *m, char *buf, size_t size) {
    const vgg *v = (const vgg *)m;
    snprintf(buf, size, "depth=%d, num_classes=%lld", v->depth,
             (long long)v->num_classes);
}

const mm_module_class mmcls_vgg_class = {
    .name = "VGG",
    .forward = mm_module_forward_last,
    .init_weights = vgg_init_weights,
    .extra_repr = vgg_repr,
    .forward_multi = vgg_forward_multi,
};

/* Linear(512*7*7, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout,
 * Linear(4096, num_classes) as one Sequential. */
static int vgg_classifier(int64_t num_classes, mm_module **out) {
    mm_module *seq;
    MM_TRY(mm_sequential_new(0, NULL, &seq));
    int rc = MM_OK;
    for (int i = 0; !rc && i < 3; i++) {
        mm_module *c = NULL;
        rc = mm_linear_new(i == 0 ? 512 * 7 * 7 : 4096,
                           i == 2 ? num_classes : 4096, true, &c);
        if (!rc)
            rc = mm_sequential_append(seq, c);
        if (i == 2)
            break;
        if (!rc)
            rc = mm_activation_new(&mm_relu_class, &c);
        if (!rc)
            rc = mm_sequential_append(seq, c);
        if (!rc)
            rc = mm_dropout_new(0.5, &c);
        if (!rc)
            rc = mm_sequential_append(seq, c);
    }
    if (rc) {
        mm_module_free(seq);
        return rc;
    }
    *out = seq;
    return MM_OK;
}

static int vgg_build(mm_build_ctx *ctx, void **out) {
    int64_t depth, num_classes, num_stages;
    bool ceil_mode, with_last_pool, norm_eval;
    MM_TRY(mm_build_int(ctx, "depth", &depth));
    MM_TRY(mm_build_int(ctx, "num_classes", &num_classes));
    MM_TRY(mm_build_int(ctx, "num_stages", &num_stages));
    MM_TRY(mm_build_bool(ctx, "ceil_mode", &ceil_mode));
    MM_TRY(mm_build_bool(ctx, "with_last_pool", &with_last_pool));
    MM_TRY(mm_build_bool(ctx, "norm_eval", &norm_eval));
    MM_TRY(mobile_check_init_cfg(ctx, "VGG"));
    const mm_value *dv = mm_build_arg(ctx, "depth");
    int a = -1;
    for (int i = 0; i < 4; i++)
        if (vgg_archs[i].depth == depth)
            a = i;
    if (a < 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(dv),
                               "depth: invalid depth %lld for vgg (11, 13, "
                               "16 or 19)", (long long)depth);
    if (num_stages < 1 || num_stages > 5)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "num_stages")),
                               "num_stages: must be in 1..5, got %lld",
                               (long long)num_stages);
    const mm_value *dil = mm_build_arg(ctx, "dilations");
    if (mm_value_len(dil) != (size_t)num_stages)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(dil),
                               "dilations: needs one entry per stage (%lld), "
                               "got %zu", (long long)num_stages,
                               mm_value_len(dil));
    int64_t dilation[5];
    for (int i = 0; i < num_stages; i++) {
        const mm_value *e = mm_value_list_get(dil, (size_t)i);
        if (!mm_value_is_int(e) || mm_value_get_int(e) < 1)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "dilations: each entry must be a positive "
                                   "int");
        dilation[i] = mm_value_get_int(e);
    }
    /* out_indices None: (5,) with a classifier (its logits), else (4,) */
    bool outs[MOBILE_MAX_STAGES] = {false};
    const mm_value *oi = mm_build_arg(ctx, "out_indices");
    if (mm_value_is_null(oi))
        outs[num_classes > 0 ? num_stages : num_stages - 1] = true;
    else
        MM_TRY(mobile_out_indices(ctx, "out_indices", (int)num_stages + 1,
                                  outs));
    if (num_classes <= 0 && outs[num_stages])
        return mm_error_set_at(MM_EINVAL, mm_value_loc(oi),
                               "out_indices: %lld is the classifier's output, "
                               "which needs num_classes > 0",
                               (long long)num_stages);
    int frozen;
    MM_TRY(mobile_frozen_stages(ctx, -1, (int)num_stages, &frozen));

    mm_module *m;
    MM_TRY(mm_module_new(&mmcls_vgg_class, sizeof(vgg), &m));
    vgg *v = (vgg *)m;
    v->depth = (int)depth;
    v->num_stages = (int)num_stages;
    v->num_classes = num_classes;
    v->frozen_stages = frozen;
    v->norm_eval = norm_eval;
    memcpy(v->out, outs, sizeof outs);
    const mm_value *conv_cfg = mm_build_arg(ctx, "conv_cfg");
    const mm_value *norm_cfg = mm_build_arg(ctx, "norm_cfg");
    const mm_value *act_cfg = mm_build_arg(ctx, "act_cfg");
    mm_module *features = NULL;
    int rc = mm_sequential_new(0, NULL, &features);
    if (!rc) {
        v->features = features;
        rc = mm_module_add_child(m, "features", features);
    }
    int64_t in_ch = 3;
    int idx = 0;
    for (int i = 0; !rc && i < num_stages; i++) {
        int64_t out_ch = i < 4 ? 64 << i : 512;
        v->range[i][0] = idx;
        for (int b = 0; !rc && b < vgg_archs[a].blocks[i]; b++, idx++) {
            mm_module *c;
            rc = mobile_conv_module(in_ch, out_ch, 3, 1, dilation[i],
                                    dilation[i], 1, 1, conv_cfg, norm_cfg,
                                    act_cfg, &c);
            if (!rc)
                rc = mm_sequential_append(features, c);
            in_ch = out_ch;
        }
        if (!rc && (with_last_pool || i < num_stages - 1)) {
            const int64_t k[2] = {2, 2};
            mm_module *p;
            rc = mm_max_pool_new(2, k, k, NULL, NULL, ceil_mode, &p);
            if (!rc)
                rc = mm_sequential_append(features, p);
            idx++;
        }
        v->range[i][1] = idx;
    }
    if (!rc && num_classes > 0) {
        mm_module *c;
        rc = vgg_classifier(num_classes, &c);
        if (!rc) {
            v->classifier = c;
            rc = mm_module_add_child(m, "classifier", c);
        }
    }
    /* the layers' constructors initialised them; only the classifier
     * differs from that (mm_module_init_weights would redo every layer) */
    if (!rc) {
        mm_no_grad_push();
        rc = vgg_init_weights(m);
        mm_no_grad_pop();
    }
    for (int i = 0; !rc && i < frozen; i++)
        for (int j = v->range[i][0]; !rc && j < v->range[i][1]; j++)
            rc = mobile_freeze(features->children[j].module);
    if (!rc)
        vgg_train_flags(v);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param vgg_params[] = {
    {.name = "depth", .type = MM_PARAM_INT, .required = true,
     .doc = "11, 13, 16 or 19"},
    {.name = "num_classes", .type = MM_PARAM_INT, .def = "-1",
     .doc = "classes of the built-in classifier; <= 0: features only"},
    {.name = "num_stages", .type = MM_PARAM_INT, .def = "5",
     .doc = "stages to build, 1..5"},
    {.name = "dilations", .type = MM_PARAM_LIST, .def = "[1, 1, 1, 1, 1]",
     .doc = "dilation of each stage's convs"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST |
                                    MM_PARAM_NULL,
     .def = "null",
     .doc = "stages to output (num_stages: the classifier's logits); null: "
            "[5] with a classifier, else [4]"},
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "-1",
     .doc = "stages whose parameters are frozen (and kept in eval mode)"},
    {.name = "conv_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL, .def = "null",
     .doc = "conv layer config (null: Conv2d)"},
    {.name = "norm_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL, .def = "null",
     .doc = "norm layer config ({type: BN} for vgg*_bn); null: none"},
    {.name = "act_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "{type: ReLU}", .doc = "activation config"},
    {.name = "norm_eval", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "keep batch norms in eval mode while training"},
    {.name = "ceil_mode", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "ceil_mode of the max pools"},
    {.name = "with_last_pool", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "keep the last stage's max pool"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "null: mmpretrain's default (Kaiming convs, Normal(0.01) "
            "Linear); or Pretrained"},
};

static const mm_component vgg_component = {
    .kind = MM_MODELS,
    .name = "VGG",
    .doc = "VGG backbone (depth 11/13/16/19, optional BN) as mmpretrain's",
    .params = vgg_params,
    .n_params = sizeof vgg_params / sizeof vgg_params[0],
    .build = vgg_build,
    .destroy = mmcls_module_destroy,
};

/* ---- torchvision.vgg ----------------------------------------------------- *
 * torchvision's features list conv, [bn], relu per conv and a max pool per
 * stage; mmpretrain's lists a ConvModule per conv and the pool. The depth
 * comes from the number of convs, the norm from running_mean keys.
 * torchvision's AdaptiveAvgPool2d((7, 7)) before the classifier has no
 * weights and is the identity on 224x224 inputs, which VGG's classifier
 * needs anyway. */
static int tv_vgg_map(const mm_state_dict *in, mm_state_dict *out) {
    int n_conv = 0;
    bool bn = false;
    for (size_t i = 0; i < in->n; i++) {
        const char *k = in->items[i].name;
        size_t len = strlen(k);
        if (strncmp(k, "features.", 9) == 0 && len > 7 &&
            strcmp(k + len - 7, ".weight") == 0 &&
            in->items[i].tensor->ndim == 4)
            n_conv++;
        if (strstr(k, ".running_mean"))
            bn = true;
    }
    int a = -1;
    static const int convs[4] = {8, 10, 13, 16};
    for (int i = 0; i < 4; i++)
        if (convs[i] == n_conv)
            a = i;
    if (a < 0)
        return mm_error_set(MM_EINVAL,
                            "%d conv weights under features.*, expected 8, "
                            "10, 13 or 16 (vgg11, 13, 16, 19)", n_conv);
    mobile_renames r = {0};
    char from[96], to[128];
    int rc = MM_OK, t = 0, j = 0;
    for (int s = 0; !rc && s < 5; s++) {
        for (int b = 0; !rc && b < vgg_archs[a].blocks[s]; b++, j++) {
            snprintf(from, sizeof from, "features.%d", t++);
            snprintf(to, sizeof to, "backbone.features.%d.conv", j);
            rc = mobile_rename(&r, from, to);
            if (!rc && bn) {
                snprintf(from, sizeof from, "features.%d", t++);
                snprintf(to, sizeof to, "backbone.features.%d.bn", j);
                rc = mobile_rename(&r, from, to);
            }
            t++; /* ReLU */
        }
        t++, j++; /* MaxPool2d */
    }
    for (int i = 0; !rc && i < 3; i++) {
        snprintf(from, sizeof from, "classifier.%d", 3 * i);
        snprintf(to, sizeof to, "backbone.classifier.%d", 3 * i);
        rc = mobile_rename(&r, from, to);
    }
    if (!rc)
        rc = mobile_renames_apply(&r, in, out);
    mobile_renames_free(&r);
    return rc;
}

static const mm_key_map tv_vgg = {
    .name = "torchvision.vgg",
    .doc = "torchvision vgg11/13/16/19 and *_bn -> VGG with num_classes "
           "(own classifier) and ClsHead",
    .apply = tv_vgg_map,
};

int mmcls_register_vgg(void) {
    MM_TRY(mm_register(&vgg_component));
    return mm_key_map_register(&tv_vgg);
}
