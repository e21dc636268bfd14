/* The ResNet family of mmpretrain 1.2.0 (models/backbones/resnet.py,
 * resnext.py, seresnet.py, seresnext.py, resnet_cifar.py): ResNet,
 * ResNetV1c, ResNetV1d, ResNeXt, SEResNet, SEResNeXt and ResNet_CIFAR, with
 * mmpretrain's module names (so a random mmpretrain model's state dict
 * loads strictly), its default initialisation, frozen_stages and
 * norm_eval, and the key map "torchvision.resnet".
 *
 * A block runs conv -> norm -> relu through the layers' typed entry points
 * (mm_conv_forward is oneDNN); the stages are Sequentials of blocks named
 * "0", "1", ... as mmpretrain's ResLayer.
 *
 * mm_module_train has no per-class hook, so mmpretrain's ResNet.train()
 * (frozen stages and, with norm_eval, every batch norm kept in eval mode)
 * is re-applied at the start of each forward in training mode: the modes
 * are right whenever they matter (docs/mmcls.md, "ResNet"). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/checkpoint.h>
#include <mm/nn.h>
#include <mm/registry.h>

#include "mmcls.h"

enum { BLOCK_BASIC, BLOCK_BOTTLENECK };
enum { INIT_NONE, INIT_DEFAULT, INIT_PRETRAINED };

/* ---- the build plan ---------------------------------------------------- */

/* Everything the builder read from the config. */
typedef struct rn_plan {
    const char *family; /* "ResNet", "ResNeXt", ... for errors */
    bool cifar;         /* ResNet_CIFAR: 3x3 stem, no maxpool */
    bool se;            /* SEResNet, SEResNeXt */
    int block;
    int64_t depth, in_channels, stem_channels, base_channels, expansion;
    int num_stages;
    int64_t stage_blocks[4], total_blocks;
    int64_t strides[4], dilations[4];
    bool out_stage[4];
    bool caffe, deep_stem, avg_down, norm_eval, zero_init_residual;
    int64_t frozen_stages, groups, width_per_group, se_ratio;
    double drop_path_rate;
    int init;
    /* Kaiming of 2-D convs and Constant of the norms (init_cfg) */
    double k_a, k_bias, c_val, c_bias;
    char k_mode[8], k_nonlin[16];
    bool k_uniform, has_kaiming, c_bn, c_gn;
    const mm_value *norm_cfg, *conv_cfg;
    mm_build_ctx *ctx;
} rn_plan;

/* ---- SELayer (mmpretrain/models/utils/se_layer.py) ----------------------- */

typedef struct se_layer {
    mm_module base;
    mm_module *conv1, *conv2; /* ConvModules: 1x1 + ReLU, 1x1 + Sigmoid */
} se_layer;

/* x (N, C, H, W) -> x * sigmoid(conv2(relu(conv1(mean_hw(x))))). */
static int se_forward(mm_module *m, int n, mm_tensor *const *in,
                      mm_tensor **out) {
    se_layer *s = (se_layer *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "SELayer takes one input, got %d", n);
    static const int hw[2] = {2, 3};
    mm_tensor *w;
    MM_TRY(mm_mean(in[0], 2, hw, true, &w)); /* (N, C, 1, 1) */
    MM_TRY(mm_conv_module_forward(s->conv1, w, &w));
    MM_TRY(mm_conv_module_forward(s->conv2, w, &w));
    return mm_mul(in[0], w, out);
}

static const mm_module_class se_layer_class = {
    .name = "SELayer",
    .forward = se_forward,
};

/* mmpretrain's make_divisible(value, divisor) with min_ratio 0.9. */
static int64_t make_divisible(int64_t value, int64_t divisor) {
    int64_t v = (int64_t)((double)value + (double)divisor / 2) / divisor *
                divisor;
    if (v < divisor)
        v = divisor;
    if ((double)v < 0.9 * (double)value)
        v += divisor;
    return v;
}

/* A ConvModule from a dict built here: 1x1 conv with bias, act `act`. */
static int se_conv(const rn_plan *p, int64_t in, int64_t out, const char *act,
                   mm_module **m) {
    mm_value *cfg = mm_value_new_dict(), *a = mm_value_new_dict();
    int rc = !cfg || !a ? mm_error_set(MM_ENOMEM, "out of memory") : MM_OK;
    if (!rc && (mm_value_dict_set_take(a, "type", mm_value_new_string(act)) ||
                mm_value_dict_set_take(cfg, "in_channels",
                                       mm_value_new_int(in)) ||
                mm_value_dict_set_take(cfg, "out_channels",
                                       mm_value_new_int(out)) ||
                mm_value_dict_set_take(cfg, "kernel_size",
                                       mm_value_new_int(1)) ||
                mm_value_dict_set(cfg, "conv_cfg",
                                  (mm_value *)p->conv_cfg) ||
                mm_value_dict_set(cfg, "act_cfg", a)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc)
        rc = mm_conv_module_new(cfg, m);
    mm_value_release(a);
    mm_value_release(cfg);
    return rc;
}

static int se_layer_new(const rn_plan *p, int64_t channels, mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&se_layer_class, sizeof(se_layer), &m));
    se_layer *s = (se_layer *)m;
    int64_t squeeze = make_divisible(channels / p->se_ratio, 8);
    const int64_t one[2] = {1, 1};
    int rc = mm_adaptive_pool_nd_new(2, false, one, &c);
    if (!rc)
        rc = mm_module_add_child(m, "global_avgpool", c);
    if (!rc && !(rc = se_conv(p, channels, squeeze, "ReLU", &c)))
        rc = mm_module_add_child(m, "conv1", s->conv1 = c);
    if (!rc && !(rc = se_conv(p, squeeze, channels, "Sigmoid", &c)))
        rc = mm_module_add_child(m, "conv2", s->conv2 = c);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- layers from the configs --------------------------------------------- */

static bool entry_has_param(const mm_entry *e, const char *name) {
    for (size_t i = 0; i < e->component->n_params; i++)
        if (strcmp(e->component->params[i].name, name) == 0)
            return true;
    return false;
}

/* mmcv's infer_abbr by class name. */
static const char *norm_abbr(const mm_module *norm) {
    char lower[64];
    size_t i = 0;
    for (; norm->cls->name[i] && i < sizeof lower - 1; i++) {
        char ch = norm->cls->name[i];
        lower[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    lower[i] = '\0';
    if (strstr(lower, "batch"))
        return "bn";
    if (strstr(lower, "group"))
        return "gn";
    if (strstr(lower, "layer"))
        return "ln";
    if (strstr(lower, "instance"))
        return "in";
    return "norm_layer";
}

/* build_norm_layer(norm_cfg, channels): norm_cfg with the channel count
 * under the key its component takes, built through the registry. */
static int make_norm(const rn_plan *p, int64_t channels, mm_module **out) {
    char path[512];
    snprintf(path, sizeof path, "%s.norm_cfg", mm_build_path(p->ctx));
    const mm_value *type = mm_value_dict_get(p->norm_cfg, "type");
    const mm_entry *e;
    MM_TRY(mm_registry_lookup(MM_MODELS, mm_value_get_string(type),
                              mm_build_scope(p->ctx), mm_value_loc(type), &e));
    const char *key = entry_has_param(e, "num_features")   ? "num_features"
                      : entry_has_param(e, "num_channels") ? "num_channels"
                                                           : NULL;
    if (!key)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(type),
                               "%s: %s.%s takes neither num_features nor "
                               "num_channels (not a norm layer)",
                               path, e->scope, e->component->name);
    mm_value *node = mm_value_copy(p->norm_cfg);
    if (!node || mm_value_dict_set_take(node, key, mm_value_new_int(channels))) {
        mm_value_release(node);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    void *obj = NULL;
    int rc = mm_registry_build(MM_MODELS, node, mm_build_scope(p->ctx), path,
                               mm_build_user(p->ctx), &obj);
    mm_value_release(node);
    if (rc)
        return rc;
    if (!mm_module_is_norm(obj)) {
        mm_module_free(obj);
        return mm_error_set_at(MM_EINVAL, mm_value_loc(type),
                               "%s: %s is not a norm layer", path,
                               mm_value_get_string(type));
    }
    *out = obj;
    return MM_OK;
}

/* A bias-free Conv2d (conv_cfg is null or Conv2d, checked by the builder). */
static int make_conv(int64_t in, int64_t out, int64_t k, int64_t stride,
                     int64_t pad, int64_t dil, int64_t groups,
                     mm_module **m) {
    const int64_t ks[2] = {k, k}, st[2] = {stride, stride}, pd[2] = {pad, pad},
                  dl[2] = {dil, dil};
    mm_conv_options o = {.nsp = 2, .in_channels = in, .out_channels = out,
                         .kernel_size = ks, .stride = st, .padding = pd,
                         .dilation = dl, .groups = groups, .bias = false};
    return mm_conv_new(&o, m);
}

/* m.<name><postfix> = a norm of `channels` (bn1, gn2, ...). */
static int add_norm(const rn_plan *p, mm_module *m, int postfix,
                    int64_t channels, mm_module **field) {
    mm_module *n;
    MM_TRY(make_norm(p, channels, &n));
    char name[32];
    snprintf(name, sizeof name, "%s%d", norm_abbr(n), postfix);
    *field = n;
    return mm_module_add_child(m, name, n);
}

static int add_conv(mm_module *m, const char *name, int64_t in, int64_t out,
                    int64_t k, int64_t stride, int64_t pad, int64_t dil,
                    int64_t groups, mm_module **field) {
    mm_module *c;
    MM_TRY(make_conv(in, out, k, stride, pad, dil, groups, &c));
    *field = c;
    return mm_module_add_child(m, name, c);
}

/* ---- blocks ------------------------------------------------------------------
 */

typedef struct res_block {
    mm_module base;
    mm_module *conv1, *norm1, *conv2, *norm2, *conv3, *norm3; /* 3: Bottleneck */
    mm_module *downsample; /* Sequential or NULL */
    mm_module *drop_path;  /* NULL: identity */
    mm_module *se;         /* SELayer or NULL */
    int64_t in_channels, out_channels, mid_channels, stride, dilation;
} res_block;

/* The downsample branch: [AvgPool2d,] conv 1x1, norm. */
static int downsample_forward(mm_module *ds, mm_tensor *x, mm_tensor **out) {
    size_t i = 0;
    if (ds->n_children == 3)
        MM_TRY(mm_pooling_forward(ds->children[i++].module, x, &x, NULL));
    return mm_conv_bn_act(ds->children[i].module, ds->children[i + 1].module,
                          NULL, MM_FUSED_NONE, x, out);
}

/* x (N, in, H, W) -> relu(F(x) + identity) (N, out, H/s, W/s), F the
 * block's branch: conv-norm-relu-conv-norm (BasicBlock) or the 1x1-3x3-1x1
 * bottleneck (+ SELayer). Each conv-norm(-relu) goes through
 * mm_conv_bn_act, one fused oneDNN convolution in inference (the residual
 * add and the last relu included), the modules one by one in training. */
static int block_forward(mm_module *m, int n, mm_tensor *const *in,
                         mm_tensor **out) {
    res_block *b = (res_block *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "%s takes one input, got %d",
                            m->cls->name, n);
    mm_tensor *x = in[0], *y, *id = x;
    mm_module *last_conv = b->conv3 ? b->conv3 : b->conv2;
    mm_module *last_norm = b->conv3 ? b->norm3 : b->norm2;
    MM_TRY(mm_conv_bn_act(b->conv1, b->norm1, NULL, MM_FUSED_RELU, x, &y));
    if (b->conv3)
        MM_TRY(mm_conv_bn_act(b->conv2, b->norm2, NULL, MM_FUSED_RELU, y,
                              &y));
    if (b->downsample)
        MM_TRY(downsample_forward(b->downsample, x, &id));
    /* mmpretrain's SEBottleneck builds drop_path but never applies it */
    if (!b->se && !b->drop_path)
        return mm_conv_bn_act(last_conv, last_norm, id, MM_FUSED_RELU, y, out);
    MM_TRY(mm_conv_bn_act(last_conv, last_norm, NULL, MM_FUSED_NONE, y, &y));
    if (b->se)
        MM_TRY(se_forward(b->se, 1, &y, &y));
    else
        MM_TRY(mm_module_forward1(b->drop_path, y, &y));
    MM_TRY(mm_add(y, id, &y));
    return mm_relu(y, out);
}

static void block_repr(const mm_module *m, char *buf, size_t size) {
    const res_block *b = (const res_block *)m;
    snprintf(buf, size, "in_channels=%lld, out_channels=%lld, stride=%lld",
             (long long)b->in_channels, (long long)b->out_channels,
             (long long)b->stride);
}

static const mm_module_class basic_block_class = {
    .name = "BasicBlock", .forward = block_forward, .extra_repr = block_repr};
static const mm_module_class bottleneck_class = {
    .name = "Bottleneck", .forward = block_forward, .extra_repr = block_repr};
static const mm_module_class se_bottleneck_class = {
    .name = "SEBottleneck", .forward = block_forward,
    .extra_repr = block_repr};

static bool is_block(const mm_module *m) {
    return m->cls == &basic_block_class || m->cls == &bottleneck_class ||
           m->cls == &se_bottleneck_class;
}

/* One block as mmpretrain's BasicBlock / Bottleneck (ResNeXt's with
 * groups, SEBottleneck with its SELayer); `downsample` is owned from now
 * on. The children are registered in mmpretrain's order. */
static int block_new(const rn_plan *p, int64_t in, int64_t out,
                     int64_t stride, int64_t dilation, mm_module *downsample,
                     double drop_path, mm_module **res) {
    const mm_module_class *cls = p->block == BLOCK_BASIC ? &basic_block_class
                                 : p->se ? &se_bottleneck_class
                                         : &bottleneck_class;
    mm_module *m, *c;
    int rc = mm_module_new(cls, sizeof(res_block), &m);
    if (rc) {
        mm_module_free(downsample);
        return rc;
    }
    res_block *b = (res_block *)m;
    int64_t mid = out / p->expansion;
    b->in_channels = in;
    b->out_channels = out;
    b->stride = stride;
    b->dilation = dilation;
    if (p->block == BLOCK_BASIC) {
        rc = add_conv(m, "conv1", in, mid, 3, stride, dilation, dilation, 1,
                      &b->conv1);
        rc = rc ? rc : add_norm(p, m, 1, mid, &b->norm1);
        rc = rc ? rc : add_conv(m, "conv2", mid, out, 3, 1, 1, 1, 1,
                                &b->conv2);
        rc = rc ? rc : add_norm(p, m, 2, out, &b->norm2);
    } else {
        int64_t groups = p->groups;
        if (groups != 1) /* ResNeXt's width */
            mid = groups * p->width_per_group * mid / p->base_channels;
        int64_t s1 = p->caffe ? stride : 1, s2 = p->caffe ? 1 : stride;
        rc = add_conv(m, "conv1", in, mid, 1, s1, 0, 1, 1, &b->conv1);
        rc = rc ? rc : add_norm(p, m, 1, mid, &b->norm1);
        rc = rc ? rc : add_conv(m, "conv2", mid, mid, 3, s2, dilation,
                                dilation, groups, &b->conv2);
        rc = rc ? rc : add_norm(p, m, 2, mid, &b->norm2);
        rc = rc ? rc : add_conv(m, "conv3", mid, out, 1, 1, 0, 1, 1,
                                &b->conv3);
        rc = rc ? rc : add_norm(p, m, 3, out, &b->norm3);
    }
    b->mid_channels = mid;
    if (!rc && !(rc = mm_activation_new(&mm_relu_class, &c)))
        rc = mm_module_add_child(m, "relu", c);
    if (!rc && downsample) {
        b->downsample = downsample;
        rc = mm_module_add_child(m, "downsample", downsample);
    } else if (downsample) {
        mm_module_free(downsample);
    }
    if (!rc) {
        if (drop_path > 1.0e-5) {
            if (!(rc = mm_drop_path_new(drop_path, true, &c)))
                b->drop_path = c;
        } else {
            rc = mm_identity_new(&c);
        }
        if (!rc)
            rc = mm_module_add_child(m, "drop_path", c);
    }
    if (!rc && p->se && !(rc = se_layer_new(p, out, &c))) {
        b->se = c;
        rc = mm_module_add_child(m, "se_layer", c);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *res = m;
    return MM_OK;
}

/* mmpretrain's ResLayer: the first block strides and takes the downsample
 * branch (avg_down: AvgPool2d(stride, ceil_mode, count_include_pad=False)
 * then a stride-1 conv), the others keep the shape. dpr[i] is block i's
 * drop path rate. */
static int res_layer_new(const rn_plan *p, int64_t n_blocks, int64_t in,
                         int64_t out, int64_t stride, int64_t dilation,
                         const double *dpr, mm_module **res) {
    mm_module *seq, *ds = NULL;
    MM_TRY(mm_sequential_new(0, NULL, &seq));
    int rc = MM_OK;
    if (stride != 1 || in != out) {
        rc = mm_sequential_new(0, NULL, &ds);
        int64_t conv_stride = stride;
        mm_module *c;
        if (!rc && p->avg_down && stride != 1) {
            conv_stride = 1;
            const int64_t k[2] = {stride, stride};
            if (!(rc = mm_avg_pool_new(2, k, k, NULL, true, false, 0, &c)))
                rc = mm_sequential_append(ds, c);
        }
        if (!rc && !(rc = make_conv(in, out, 1, conv_stride, 0, 1, 1, &c)))
            rc = mm_sequential_append(ds, c);
        if (!rc && !(rc = make_norm(p, out, &c)))
            rc = mm_sequential_append(ds, c);
        if (rc) {
            mm_module_free(ds);
            ds = NULL;
        }
    }
    mm_module *blk;
    for (int64_t i = 0; !rc && i < n_blocks; i++) {
        rc = block_new(p, i ? out : in, out, i ? 1 : stride, dilation,
                       i ? NULL : ds, dpr[i], &blk);
        if (!rc)
            rc = mm_sequential_append(seq, blk);
    }
    if (rc) {
        mm_module_free(seq);
        return rc;
    }
    *res = seq;
    return MM_OK;
}

/* ---- ResNet --------------------------------------------------------------- */

typedef struct resnet {
    mm_module base;
    rn_plan plan; /* ctx and config pointers are cleared after building */
    mm_module *stem;                   /* deep stem: Sequential of ConvModules */
    mm_module *conv1, *norm1, *maxpool; /* conv1, norm1 when no deep stem;
                                           maxpool NULL for ResNet_CIFAR */
    mm_module *layers[4];
} resnet;

static int eval_batch_norm(const char *name, mm_module *m, void *user) {
    (void)name, (void)user;
    if (mm_module_is_batch_norm(m))
        m->training = false;
    return 0;
}

/* mmpretrain's ResNet.train(True): the frozen stem and stages in eval mode,
 * with norm_eval every batch norm too. */
static void resnet_fix_modes(resnet *r) {
    const rn_plan *p = &r->plan;
    if (p->frozen_stages >= 0)
        mm_module_eval(p->deep_stem ? r->stem : r->norm1);
    for (int64_t i = 0; i < p->frozen_stages; i++)
        mm_module_eval(r->layers[i]);
    if (p->norm_eval)
        (void)mm_module_named_modules(&r->base, eval_batch_norm, NULL);
}

/* x (N, C_in, H, W) -> the stages of out_indices, in stage order, as
 * mmpretrain's tuple (stage i: (N, base * expansion * 2^i, H / s, W / s)). */
static int resnet_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                                int cap, int *n_out, mm_tensor **outs) {
    resnet *r = (resnet *)m;
    const rn_plan *p = &r->plan;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "%s takes one input, got %d",
                            p->family, n);
    mm_tensor *x = in[0];
    if (x->ndim != 4 || x->shape[1] != p->in_channels) {
        char buf[64];
        return mm_error_set(MM_EINVAL, "%s needs (N, %lld, H, W) inputs, "
                                       "got %s",
                            p->family, (long long)p->in_channels,
                            mm_shape_format(x->ndim, x->shape, buf,
                                            sizeof buf));
    }
    if (m->training)
        resnet_fix_modes(r);
    MM_TRY(mm_nn_backbone_layout(x, &x));
    if (r->stem) {
        /* ConvModules: conv, norm, ReLU */
        for (size_t i = 0; i < r->stem->n_children; i++) {
            mm_nn_conv_module *c =
                (mm_nn_conv_module *)r->stem->children[i].module;
            MM_TRY(mm_conv_bn_act(c->conv, c->norm, NULL, MM_FUSED_RELU, x,
                                  &x));
        }
    } else {
        MM_TRY(mm_conv_bn_act(r->conv1, r->norm1, NULL, MM_FUSED_RELU, x,
                              &x));
    }
    if (r->maxpool)
        MM_TRY(mm_pooling_forward(r->maxpool, x, &x, NULL));
    int k = 0;
    for (int i = 0; i < p->num_stages; i++) {
        MM_TRY(mm_sequential_forward(r->layers[i], x, &x));
        if (p->out_stage[i]) {
            if (k >= cap)
                return mm_error_set(MM_EINVAL, "%s: more outputs than %d",
                                    p->family, cap);
            /* the backbone's outputs are contiguous whatever it ran in */
            MM_TRY(mm_contiguous(x, &outs[k++]));
        }
    }
    *n_out = k;
    return MM_OK;
}

static int init_module(const char *name, mm_module *m, void *user) {
    (void)name;
    const rn_plan *p = user;
    if (p->has_kaiming && mm_module_is_conv(m)) {
        mm_nn_conv *c = (mm_nn_conv *)m;
        if (c->nsp != 2 || c->transposed)
            return 0;
        if (p->k_uniform)
            MM_TRY(mm_init_kaiming_uniform_(c->weight, p->k_a, p->k_mode,
                                            p->k_nonlin, NULL));
        else
            MM_TRY(mm_init_kaiming_normal_(c->weight, p->k_a, p->k_mode,
                                           p->k_nonlin, NULL));
        if (c->bias)
            MM_TRY(mm_init_constant_(c->bias, p->k_bias));
    } else if (mm_module_is_norm(m)) {
        mm_nn_norm *nm = (mm_nn_norm *)m;
        bool gn = strcmp(m->cls->name, "GroupNorm") == 0;
        if (!(gn ? p->c_gn : mm_module_is_batch_norm(m) && p->c_bn))
            return 0;
        if (nm->weight)
            MM_TRY(mm_init_constant_(nm->weight, p->c_val));
        if (nm->bias)
            MM_TRY(mm_init_constant_(nm->bias, p->c_bias));
    }
    return 0;
}

static int zero_last_norm(const char *name, mm_module *m, void *user) {
    (void)name, (void)user;
    if (!is_block(m))
        return 0;
    res_block *b = (res_block *)m;
    mm_nn_norm *nm = (mm_nn_norm *)(b->norm3 ? b->norm3 : b->norm2);
    if (nm->weight)
        MM_TRY(mm_init_constant_(nm->weight, 0));
    if (nm->bias)
        MM_TRY(mm_init_constant_(nm->bias, 0));
    return 0;
}

/* mmpretrain's ResNet.init_weights: the init_cfg (default Kaiming normal,
 * fan_out, relu, bias 0 on every Conv2d; Constant 1, bias 0 on batch and
 * group norms), then with zero_init_residual the last norm of each block
 * zeroed; a Pretrained init_cfg leaves everything to the checkpoint (the
 * registry takes Pretrained entries out before building, so this is for
 * a config that reaches the builder with one). */
static int resnet_init_weights(mm_module *m) {
    resnet *r = (resnet *)m;
    if (r->plan.init == INIT_PRETRAINED)
        return MM_OK;
    if (r->plan.init == INIT_DEFAULT)
        MM_TRY(mm_module_named_modules(m, init_module, &r->plan));
    if (r->plan.zero_init_residual)
        MM_TRY(mm_module_named_modules(m, zero_last_norm, NULL));
    return MM_OK;
}

static void resnet_repr(const mm_module *m, char *buf, size_t size) {
    const rn_plan *p = &((const resnet *)m)->plan;
    snprintf(buf, size, "depth=%lld", (long long)p->depth);
}

static const mm_module_class resnet_class = {
    .name = "ResNet",
    .forward = mm_module_forward_last,
    .init_weights = resnet_init_weights,
    .extra_repr = resnet_repr,
    .forward_multi = resnet_forward_multi,
};

/* A deep-stem ConvModule: 3x3, norm_cfg, ReLU. */
static int stem_conv(const rn_plan *p, int64_t in, int64_t out,
                     int64_t stride, mm_module **m) {
    mm_value *cfg = mm_value_new_dict();
    int rc = !cfg ? mm_error_set(MM_ENOMEM, "out of memory") : MM_OK;
    if (!rc && (mm_value_dict_set_take(cfg, "in_channels",
                                       mm_value_new_int(in)) ||
                mm_value_dict_set_take(cfg, "out_channels",
                                       mm_value_new_int(out)) ||
                mm_value_dict_set_take(cfg, "kernel_size",
                                       mm_value_new_int(3)) ||
                mm_value_dict_set_take(cfg, "stride",
                                       mm_value_new_int(stride)) ||
                mm_value_dict_set_take(cfg, "padding", mm_value_new_int(1)) ||
                mm_value_dict_set(cfg, "conv_cfg", (mm_value *)p->conv_cfg) ||
                mm_value_dict_set(cfg, "norm_cfg", (mm_value *)p->norm_cfg) ||
                mm_value_dict_set_take(cfg, "inplace",
                                       mm_value_new_bool(true))))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc)
        rc = mm_conv_module_new(cfg, m);
    mm_value_release(cfg);
    return rc;
}

static int make_stem(const rn_plan *p, resnet *r) {
    mm_module *m = &r->base, *c;
    int64_t in = p->in_channels, sc = p->stem_channels;
    int rc = MM_OK;
    if (p->deep_stem) {
        mm_module *s[3] = {NULL, NULL, NULL};
        rc = stem_conv(p, in, sc / 2, 2, &s[0]);
        rc = rc ? rc : stem_conv(p, sc / 2, sc / 2, 1, &s[1]);
        rc = rc ? rc : stem_conv(p, sc / 2, sc, 1, &s[2]);
        if (rc) {
            for (int i = 0; i < 3; i++)
                mm_module_free(s[i]);
            return rc;
        }
        MM_TRY(mm_sequential_new(3, s, &c));
        r->stem = c;
        MM_TRY(mm_module_add_child(m, "stem", c));
    } else {
        if (p->cifar)
            rc = add_conv(m, "conv1", in, sc, 3, 1, 1, 1, 1, &r->conv1);
        else
            rc = add_conv(m, "conv1", in, sc, 7, 2, 3, 1, 1, &r->conv1);
        MM_TRY(rc);
        MM_TRY(add_norm(p, m, 1, sc, &r->norm1));
        MM_TRY(mm_activation_new(&mm_relu_class, &c));
        MM_TRY(mm_module_add_child(m, "relu", c));
    }
    if (!p->cifar) {
        const int64_t k[2] = {3, 3}, s[2] = {2, 2}, pd[2] = {1, 1};
        MM_TRY(mm_max_pool_new(2, k, s, pd, NULL, false, &c));
        r->maxpool = c;
        MM_TRY(mm_module_add_child(m, "maxpool", c));
    }
    return MM_OK;
}

static int freeze_param(const char *name, mm_tensor *t, void *user) {
    (void)name, (void)user;
    return mm_tensor_set_requires_grad(t, false);
}

/* torch.linspace(0, end, steps) in float32, as mmpretrain's dpr. */
static double linspace_f32(double end, int64_t steps, int64_t i) {
    if (steps == 1)
        return 0;
    float step = (float)end / (float)(steps - 1);
    float v = i < steps / 2 ? step * (float)i
                            : (float)end - step * (float)(steps - i - 1);
    return (double)v;
}

static int resnet_make(const rn_plan *p, mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&resnet_class, sizeof(resnet), &m));
    resnet *r = (resnet *)m;
    r->plan = *p;
    int rc = make_stem(p, r);
    int64_t in = p->stem_channels, ch = p->base_channels * p->expansion;
    int64_t first = 0;
    double dpr[64];
    for (int i = 0; !rc && i < p->num_stages; i++) {
        int64_t nb = p->stage_blocks[i];
        for (int64_t j = 0; j < nb; j++)
            dpr[j] = linspace_f32(p->drop_path_rate, p->total_blocks,
                                  first + j);
        first += nb;
        rc = res_layer_new(p, nb, in, ch, p->strides[i], p->dilations[i], dpr,
                           &c);
        if (!rc) {
            char name[16];
            snprintf(name, sizeof name, "layer%d", i + 1);
            r->layers[i] = c;
            rc = mm_module_add_child(m, name, c);
        }
        in = ch;
        ch *= 2;
    }
    /* frozen: no gradient for the stem and the first stages (mmpretrain's
     * _freeze_stages; their modes are kept in forward) */
    if (!rc && p->frozen_stages >= 0) {
        mm_module *roots[6] = {r->stem, r->conv1, r->norm1};
        int nr = 3;
        for (int64_t i = 0; i < p->frozen_stages; i++)
            roots[nr++] = r->layers[i];
        for (int i = 0; !rc && i < nr; i++)
            if (roots[i])
                rc = mm_module_named_parameters(roots[i], freeze_param, NULL);
    }
    if (!rc) {
        mm_no_grad_push();
        rc = resnet_init_weights(m);
        mm_no_grad_pop();
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    r->plan.ctx = NULL;
    r->plan.norm_cfg = r->plan.conv_cfg = NULL;
    *out = m;
    return MM_OK;
}

/* ---- building from the config ---------------------------------------------- */

/* The families differ in their blocks, depths and fixed arguments. */
typedef struct rn_family {
    const char *name;
    bool resnext, se, cifar;
    int deep_stem, avg_down; /* -1: from the config; 0/1: fixed */
} rn_family;

static const rn_family fam_resnet = {"ResNet", false, false, false, -1, -1};
static const rn_family fam_v1c = {"ResNetV1c", false, false, false, 1, 0};
static const rn_family fam_v1d = {"ResNetV1d", false, false, false, 1, 1};
static const rn_family fam_resnext = {"ResNeXt", true, false, false, -1, -1};
static const rn_family fam_seresnet = {"SEResNet", false, true, false, -1, -1};
static const rn_family fam_seresnext = {"SEResNeXt", true, true, false, -1,
                                        -1};
static const rn_family fam_cifar = {"ResNet_CIFAR", false, false, true, -1,
                                    -1};

static int bad_arg(mm_build_ctx *ctx, const char *key, const char *msg) {
    return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_arg(ctx, key)),
                           "%s: %s", key, msg);
}

/* A list of n ints (n = -1: any length up to cap) into out; *len. */
static int int_list(mm_build_ctx *ctx, const char *key, int cap,
                    int64_t *out, int *len) {
    const mm_value *v = mm_build_arg(ctx, key);
    size_t n = mm_value_len(v);
    if (!mm_value_is_list(v) || n < 1 || n > (size_t)cap)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected a list of 1 to %d integers",
                               key, cap);
    for (size_t i = 0; i < n; i++) {
        const mm_value *e = mm_value_list_get(v, i);
        if (!mm_value_is_int(e))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s[%zu]: expected an integer", key, i);
        out[i] = mm_value_get_int(e);
    }
    *len = (int)n;
    return MM_OK;
}

static bool layer_has(const mm_value *layer, const char *name) {
    if (mm_value_is_string(layer))
        return strcmp(mm_value_get_string(layer), name) == 0;
    for (size_t i = 0; i < mm_value_len(layer); i++) {
        const mm_value *e = mm_value_list_get(layer, i);
        if (mm_value_is_string(e) && strcmp(mm_value_get_string(e), name) == 0)
            return true;
    }
    return false;
}

static int num_key(const mm_value *d, const char *key, double def,
                   double *out) {
    const mm_value *v = mm_value_dict_get(d, key);
    if (!v) {
        *out = def;
        return MM_OK;
    }
    if (!mm_value_is_number(v))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "init_cfg.%s: expected a number", key);
    *out = mm_value_is_int(v) ? (double)mm_value_get_int(v)
                              : mm_value_get_float(v);
    return MM_OK;
}

static int str_key(const mm_value *d, const char *key, const char *def,
                   char *out, size_t size) {
    const mm_value *v = mm_value_dict_get(d, key);
    if (v && !mm_value_is_string(v))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "init_cfg.%s: expected a string", key);
    snprintf(out, size, "%s", v ? mm_value_get_string(v) : def);
    return MM_OK;
}

/* Only the keys in `allowed` (NULL-terminated) besides type and layer. */
static int only_keys(const mm_value *d, const char *const *allowed) {
    for (size_t i = 0; i < mm_value_len(d); i++) {
        const char *k = mm_value_dict_key_at(d, i);
        bool ok = !strcmp(k, "type") || !strcmp(k, "layer");
        for (int j = 0; !ok && allowed[j]; j++)
            ok = strcmp(k, allowed[j]) == 0;
        if (!ok)
            return mm_error_set_at(MM_EUNSUPPORTED,
                                   mm_value_dict_key_loc_at(d, i),
                                   "init_cfg: '%s' is not supported (Kaiming "
                                   "and Constant take their own arguments and "
                                   "layer only)", k);
    }
    return MM_OK;
}

/* One init_cfg dict: Kaiming on Conv2d, Constant on the norms, or
 * Pretrained (loaded by the core). */
static int parse_init_item(rn_plan *p, const mm_value *d) {
    const mm_value *t = mm_value_dict_get(d, "type");
    const mm_value *layer = mm_value_dict_get(d, "layer");
    if (!mm_value_is_dict(d) || !mm_value_is_string(t))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                               "init_cfg: each entry needs a 'type'");
    const char *type = mm_value_get_string(t);
    if (!strcmp(type, "Pretrained")) {
        p->init = INIT_PRETRAINED;
        return MM_OK;
    }
    if (!strcmp(type, "Kaiming")) {
        static const char *const keys[] = {"a", "mode", "nonlinearity",
                                           "distribution", "bias", NULL};
        char dist[16];
        MM_TRY(only_keys(d, keys));
        if (!layer_has(layer, "Conv2d"))
            return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(d),
                                   "init_cfg: Kaiming is supported on layer "
                                   "Conv2d only");
        MM_TRY(num_key(d, "a", 0, &p->k_a));
        MM_TRY(num_key(d, "bias", 0, &p->k_bias));
        MM_TRY(str_key(d, "mode", "fan_out", p->k_mode, sizeof p->k_mode));
        MM_TRY(str_key(d, "nonlinearity", "relu", p->k_nonlin,
                       sizeof p->k_nonlin));
        MM_TRY(str_key(d, "distribution", "normal", dist, sizeof dist));
        if (strcmp(p->k_mode, "fan_in") && strcmp(p->k_mode, "fan_out"))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                                   "init_cfg: Kaiming mode must be fan_in or "
                                   "fan_out, got '%s'", p->k_mode);
        if (strcmp(dist, "normal") && strcmp(dist, "uniform"))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                                   "init_cfg: Kaiming distribution must be "
                                   "normal or uniform, got '%s'", dist);
        double gain;
        if (mm_init_calculate_gain(p->k_nonlin, p->k_a, &gain))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                                   "init_cfg: Kaiming nonlinearity '%s' is "
                                   "unknown", p->k_nonlin);
        p->k_uniform = strcmp(dist, "uniform") == 0;
        p->has_kaiming = true;
        return MM_OK;
    }
    if (!strcmp(type, "Constant")) {
        static const char *const keys[] = {"val", "bias", NULL};
        MM_TRY(only_keys(d, keys));
        if (!mm_value_dict_get(d, "val"))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                                   "init_cfg: Constant needs 'val'");
        MM_TRY(num_key(d, "val", 0, &p->c_val));
        MM_TRY(num_key(d, "bias", 0, &p->c_bias));
        p->c_bn = layer_has(layer, "_BatchNorm") ||
                  layer_has(layer, "BatchNorm2d");
        p->c_gn = layer_has(layer, "GroupNorm");
        if (!p->c_bn && !p->c_gn)
            return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(d),
                                   "init_cfg: Constant is supported on layer "
                                   "_BatchNorm, BatchNorm2d, GroupNorm");
        return MM_OK;
    }
    return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(t),
                           "init_cfg: type '%s' is not supported for ResNet "
                           "backbones (Kaiming, Constant, Pretrained)", type);
}

static int parse_init(mm_build_ctx *ctx, rn_plan *p) {
    const mm_value *v = mm_build_arg(ctx, "init_cfg");
    p->init = INIT_NONE;
    if (mm_value_is_null(v))
        return MM_OK;
    p->init = INIT_DEFAULT;
    if (mm_value_is_dict(v))
        MM_TRY(parse_init_item(p, v));
    for (size_t i = 0; mm_value_is_list(v) && i < mm_value_len(v); i++)
        MM_TRY(parse_init_item(p, mm_value_list_get(v, i)));
    if (p->init == INIT_DEFAULT && !p->has_kaiming && !p->c_bn && !p->c_gn)
        p->init = INIT_NONE;
    return MM_OK;
}

static int parse_plan(mm_build_ctx *ctx, const rn_family *f, rn_plan *p) {
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    p->family = f->name;
    p->cifar = f->cifar;
    p->se = f->se;
    MM_TRY(mm_build_int(ctx, "depth", &p->depth));
    static const int64_t blocks[5][4] = {
        {2, 2, 2, 2}, {3, 4, 6, 3}, {3, 4, 6, 3}, {3, 4, 23, 3}, {3, 8, 36, 3}};
    static const int64_t depths[5] = {18, 34, 50, 101, 152};
    int di = -1;
    for (int i = (f->resnext || f->se) ? 2 : 0; i < 5; i++)
        if (depths[i] == p->depth)
            di = i;
    if (di < 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "depth")),
                               "depth: invalid depth %lld for %s (%s)",
                               (long long)p->depth, f->name,
                               (f->resnext || f->se) ? "50, 101, 152"
                                                     : "18, 34, 50, 101, 152");
    p->block = di < 2 ? BLOCK_BASIC : BLOCK_BOTTLENECK;
    p->total_blocks = 0;
    for (int i = 0; i < 4; i++) {
        p->stage_blocks[i] = blocks[di][i];
        p->total_blocks += blocks[di][i];
    }
    MM_TRY(mm_build_int(ctx, "in_channels", &p->in_channels));
    MM_TRY(mm_build_int(ctx, "stem_channels", &p->stem_channels));
    MM_TRY(mm_build_int(ctx, "base_channels", &p->base_channels));
    if (p->in_channels < 1 || p->stem_channels < 2 || p->base_channels < 1)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "in_channels, stem_channels and base_channels "
                               "must be positive (stem_channels at least 2)");
    const mm_value *ex = mm_build_arg(ctx, "expansion");
    p->expansion = p->block == BLOCK_BASIC ? 1 : 4;
    if (!mm_value_is_null(ex)) {
        p->expansion = mm_value_get_int(ex);
        if (p->expansion < 1)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(ex),
                                   "expansion: must be positive, got %lld",
                                   (long long)p->expansion);
        if (p->block == BLOCK_BASIC && p->expansion != 1)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(ex),
                                   "expansion: BasicBlock (depth %lld) needs "
                                   "expansion 1", (long long)p->depth);
    }
    int64_t ns;
    MM_TRY(mm_build_int(ctx, "num_stages", &ns));
    if (ns < 1 || ns > 4)
        return bad_arg(ctx, "num_stages", "must be 1 to 4");
    p->num_stages = (int)ns;
    int n1, n2, n3;
    int64_t oi[8];
    MM_TRY(int_list(ctx, "strides", 4, p->strides, &n1));
    MM_TRY(int_list(ctx, "dilations", 4, p->dilations, &n2));
    if (n1 != ns || n2 != ns)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "strides")),
                               "strides and dilations need num_stages (%lld) "
                               "entries each, got %d and %d",
                               (long long)ns, n1, n2);
    for (int i = 0; i < n1; i++)
        if (p->strides[i] < 1 || p->dilations[i] < 1)
            return bad_arg(ctx, "strides", "strides and dilations must "
                                           "be positive");
    MM_TRY(int_list(ctx, "out_indices", 8, oi, &n3));
    for (int i = 0; i < n3; i++) {
        const mm_value *e = mm_value_list_get(mm_build_arg(ctx, "out_indices"),
                                              (size_t)i);
        if (oi[i] < 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "out_indices: %lld is negative; "
                                   "mmpretrain's %s would give no output for "
                                   "it (use 0 to %lld)",
                                   (long long)oi[i], f->name,
                                   (long long)ns - 1);
        if (oi[i] >= ns)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "out_indices: %lld is not a stage (0 to "
                                   "%lld)", (long long)oi[i],
                                   (long long)ns - 1);
        p->out_stage[oi[i]] = true;
    }
    const char *style;
    MM_TRY(mm_build_string(ctx, "style", &style));
    if (strcmp(style, "pytorch") && strcmp(style, "caffe"))
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "style")),
                               "style: must be 'pytorch' or 'caffe', got "
                               "'%s'", style);
    p->caffe = strcmp(style, "caffe") == 0;
    if (f->deep_stem < 0) {
        MM_TRY(mm_build_bool(ctx, "deep_stem", &p->deep_stem));
        MM_TRY(mm_build_bool(ctx, "avg_down", &p->avg_down));
    } else {
        p->deep_stem = f->deep_stem;
        p->avg_down = f->avg_down;
    }
    if (f->cifar && p->deep_stem)
        return bad_arg(ctx, "deep_stem", "ResNet_CIFAR does not support "
                                         "deep_stem");
    MM_TRY(mm_build_int(ctx, "frozen_stages", &p->frozen_stages));
    if (p->frozen_stages < -1 || p->frozen_stages > ns)
        return bad_arg(ctx, "frozen_stages", "must be -1 (none) to "
                                             "num_stages");
    MM_TRY(mm_build_bool(ctx, "norm_eval", &p->norm_eval));
    MM_TRY(mm_build_bool(ctx, "zero_init_residual", &p->zero_init_residual));
    bool with_cp;
    MM_TRY(mm_build_bool(ctx, "with_cp", &with_cp));
    if (with_cp)
        return mm_error_set_at(MM_EUNSUPPORTED,
                               mm_value_loc(mm_build_arg(ctx, "with_cp")),
                               "with_cp: activation checkpointing is not "
                               "supported; use with_cp: false");
    MM_TRY(mm_build_float(ctx, "drop_path_rate", &p->drop_path_rate));
    if (p->drop_path_rate < 0 || p->drop_path_rate >= 1)
        return bad_arg(ctx, "drop_path_rate", "must be in [0, 1)");
    p->conv_cfg = mm_build_arg(ctx, "conv_cfg");
    if (!mm_value_is_null(p->conv_cfg)) {
        const mm_value *t = mm_value_dict_get(p->conv_cfg, "type");
        if (!mm_value_is_string(t) ||
            strcmp(mm_value_get_string(t), "Conv2d") != 0)
            return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(p->conv_cfg),
                                   "conv_cfg: only null or {type: Conv2d} is "
                                   "supported");
    }
    p->norm_cfg = mm_build_arg(ctx, "norm_cfg");
    if (!mm_value_is_string(mm_value_dict_get(p->norm_cfg, "type")))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(p->norm_cfg),
                               "norm_cfg: needs a 'type' (BN, GN, ...)");
    p->groups = 1;
    if (f->resnext) {
        MM_TRY(mm_build_int(ctx, "groups", &p->groups));
        MM_TRY(mm_build_int(ctx, "width_per_group", &p->width_per_group));
        if (p->groups < 1 || p->width_per_group < 1)
            return bad_arg(ctx, "groups", "groups and width_per_group "
                                          "must be positive");
    }
    if (f->se) {
        MM_TRY(mm_build_int(ctx, "se_ratio", &p->se_ratio));
        if (p->se_ratio < 1)
            return bad_arg(ctx, "se_ratio", "must be positive");
    }
    return parse_init(ctx, p);
}

static int build_family(mm_build_ctx *ctx, const rn_family *f, void **out) {
    rn_plan p;
    MM_TRY(parse_plan(ctx, f, &p));
    mm_module *m = NULL;
    MM_TRY(resnet_make(&p, &m));
    *out = m;
    return MM_OK;
}

static int build_resnet(mm_build_ctx *c, void **o) {
    return build_family(c, &fam_resnet, o);
}
static int build_v1c(mm_build_ctx *c, void **o) {
    return build_family(c, &fam_v1c, o);
}
static int build_v1d(mm_build_ctx *c, void **o) {
    return build_family(c, &fam_v1d, o);
}
static int build_resnext(mm_build_ctx *c, void **o) {
    return build_family(c, &fam_resnext, o);
}
static int build_seresnet(mm_build_ctx *c, void **o) {
    return build_family(c, &fam_seresnet, o);
}
static int build_seresnext(mm_build_ctx *c, void **o) {
    return build_family(c, &fam_seresnext, o);
}
static int build_cifar(mm_build_ctx *c, void **o) {
    return build_family(c, &fam_cifar, o);
}

/* ---- schemas ------------------------------------------------------------------
 */

#define RN_HEAD                                                                \
    {.name = "depth", .type = MM_PARAM_INT, .required = true,                  \
     .doc = "network depth: 18, 34, 50, 101, 152"},                            \
    {.name = "in_channels", .type = MM_PARAM_INT, .def = "3",                  \
     .doc = "input image channels"},                                           \
    {.name = "stem_channels", .type = MM_PARAM_INT, .def = "64",               \
     .doc = "output channels of the stem"},                                    \
    {.name = "base_channels", .type = MM_PARAM_INT, .def = "64",               \
     .doc = "middle channels of the first stage"},                             \
    {.name = "expansion", .type = MM_PARAM_INT | MM_PARAM_NULL,                \
     .def = "null",                                                            \
     .doc = "out / mid channels of a block; null: 1 (BasicBlock), 4 "          \
            "(Bottleneck)"},                                                   \
    {.name = "num_stages", .type = MM_PARAM_INT, .def = "4",                   \
     .doc = "stages, 1 to 4"},                                                 \
    {.name = "strides", .type = MM_PARAM_LIST, .def = "[1, 2, 2, 2]",          \
     .doc = "stride of the first block of each stage"},                        \
    {.name = "dilations", .type = MM_PARAM_LIST, .def = "[1, 1, 1, 1]",        \
     .doc = "dilation of each stage"},                                         \
    {.name = "out_indices", .type = MM_PARAM_LIST, .def = "[3]",               \
     .doc = "stages whose outputs are returned (in stage order)"},             \
    {.name = "style", .type = MM_PARAM_STRING, .def = "pytorch",               \
     .doc = "pytorch: stride on the 3x3 conv; caffe: on the first 1x1"}

#define RN_STEM                                                                \
    {.name = "deep_stem", .type = MM_PARAM_BOOL, .def = "false",               \
     .doc = "three 3x3 convs instead of the 7x7 stem"},                        \
    {.name = "avg_down", .type = MM_PARAM_BOOL, .def = "false",                \
     .doc = "AvgPool then a stride-1 conv in the downsample branch"}

#define RN_TAIL                                                                \
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "-1",               \
     .doc = "stem and stages 1..n without gradients, in eval mode; -1: "       \
            "none"},                                                           \
    {.name = "conv_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,                \
     .def = "null", .doc = "conv layer config: null or {type: Conv2d}"},       \
    {.name = "norm_cfg", .type = MM_PARAM_DICT,                                \
     .def = "{type: BN, requires_grad: true}",                                 \
     .doc = "norm layer config (BN, GN, ...)"},                                \
    {.name = "norm_eval", .type = MM_PARAM_BOOL, .def = "false",               \
     .doc = "keep every batch norm in eval mode while training"},              \
    {.name = "with_cp", .type = MM_PARAM_BOOL, .def = "false",                 \
     .doc = "activation checkpointing (not supported: false only)"},           \
    {.name = "zero_init_residual", .type = MM_PARAM_BOOL, .def = "true",       \
     .doc = "zero the last norm of each block at init"},                       \
    {.name = "init_cfg",                                                       \
     .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,                    \
     .def = "[{type: Kaiming, layer: [Conv2d]}, {type: Constant, val: 1, "     \
            "layer: [_BatchNorm, GroupNorm]}]",                                \
     .doc = "Kaiming (Conv2d) and Constant (norms) entries, or Pretrained "    \
            "(loaded by the core)"},                                           \
    {.name = "drop_path_rate", .type = MM_PARAM_FLOAT, .def = "0.0",           \
     .doc = "stochastic depth, rising linearly over the blocks"}

#define RN_RESNEXT                                                             \
    {.name = "groups", .type = MM_PARAM_INT, .def = "32",                      \
     .doc = "groups of the 3x3 conv"},                                         \
    {.name = "width_per_group", .type = MM_PARAM_INT, .def = "4",              \
     .doc = "width of each group"}

#define RN_SE                                                                  \
    {.name = "se_ratio", .type = MM_PARAM_INT, .def = "16",                    \
     .doc = "squeeze ratio of the SELayer"}

static const mm_param resnet_params[] = {RN_HEAD, RN_STEM, RN_TAIL};
static const mm_param v1_params[] = {RN_HEAD, RN_TAIL};
static const mm_param resnext_params[] = {RN_HEAD, RN_STEM, RN_TAIL,
                                          RN_RESNEXT};
static const mm_param seresnet_params[] = {RN_HEAD, RN_STEM, RN_TAIL, RN_SE};
static const mm_param seresnext_params[] = {RN_HEAD, RN_STEM, RN_TAIL,
                                            RN_RESNEXT, RN_SE};

#define RN_COMPONENT(var, nm, docstr, ps, fn)                                  \
    static const mm_component var = {                                          \
        .kind = MM_MODELS,                                                     \
        .name = nm,                                                            \
        .doc = docstr,                                                         \
        .params = ps,                                                          \
        .n_params = sizeof ps / sizeof ps[0],                                  \
        .build = fn,                                                           \
        .destroy = mmcls_module_destroy,                                       \
    }

RN_COMPONENT(resnet_c, "ResNet", "ResNet backbone (mmpretrain's; depth 18 "
             "to 152, out_indices for dense tasks)", resnet_params,
             build_resnet);
RN_COMPONENT(v1c_c, "ResNetV1c", "ResNet with the three 3x3 conv deep stem",
             v1_params, build_v1c);
RN_COMPONENT(v1d_c, "ResNetV1d", "ResNet with the deep stem and average-pool "
             "downsampling", v1_params, build_v1d);
RN_COMPONENT(resnext_c, "ResNeXt", "ResNeXt backbone (grouped 3x3 convs)",
             resnext_params, build_resnext);
RN_COMPONENT(seresnet_c, "SEResNet", "ResNet with squeeze-and-excitation "
             "bottlenecks", seresnet_params, build_seresnet);
RN_COMPONENT(seresnext_c, "SEResNeXt", "ResNeXt with squeeze-and-excitation "
             "bottlenecks", seresnext_params, build_seresnext);
RN_COMPONENT(cifar_c, "ResNet_CIFAR", "ResNet for 32x32 inputs (3x3 stem, no "
             "max pool)", resnet_params, build_cifar);

/* ---- key map: torchvision.resnet -------------------------------------------- */

static bool is_bn_key(const char *s) {
    return !strcmp(s, "weight") || !strcmp(s, "bias") ||
           !strcmp(s, "running_mean") || !strcmp(s, "running_var") ||
           !strcmp(s, "num_batches_tracked");
}

/* torchvision's ResNet keys are mmpretrain's backbone keys (conv1, bn1,
 * layerN.M.convK / bnK / downsample.{0,1}) plus fc, which is the head's. */
static bool tv_resnet_key(const char *k) {
    if (!strcmp(k, "conv1.weight"))
        return true;
    if (!strncmp(k, "bn1.", 4))
        return is_bn_key(k + 4);
    if (strncmp(k, "layer", 5) || k[5] < '1' || k[5] > '4' || k[6] != '.')
        return false;
    const char *s = k + 7;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    if (*s++ != '.')
        return false;
    if (!strncmp(s, "conv", 4) && s[4] >= '1' && s[4] <= '3')
        return !strcmp(s + 5, ".weight");
    if (!strncmp(s, "bn", 2) && s[2] >= '1' && s[2] <= '3' && s[3] == '.')
        return is_bn_key(s + 4);
    if (!strcmp(s, "downsample.0.weight"))
        return true;
    if (!strncmp(s, "downsample.1.", 13))
        return is_bn_key(s + 13);
    return false;
}

static int tv_resnet_map(const mm_state_dict *in, mm_state_dict *out) {
    char name[512];
    for (size_t i = 0; i < in->n; i++) {
        const char *k = in->items[i].name;
        if (!strcmp(k, "fc.weight") || !strcmp(k, "fc.bias"))
            snprintf(name, sizeof name, "head.%s", k);
        else if (tv_resnet_key(k) && strlen(k) < sizeof name - 10)
            snprintf(name, sizeof name, "backbone.%s", k);
        else
            return mm_error_set(MM_EINVAL,
                                "unexpected key '%s' (not a torchvision "
                                "ResNet / ResNeXt key)",
                                k);
        MM_TRY(mm_state_dict_add(out, name, in->items[i].tensor));
    }
    return MM_OK;
}

static const mm_key_map tv_resnet_keymap = {
    .name = "torchvision.resnet",
    .doc = "torchvision resnet18/34/50/101/152, resnext50_32x4d, "
           "resnext101_32x8d, wide_resnet50_2/101_2 -> ImageClassifier",
    .apply = tv_resnet_map,
};

int mmcls_register_resnet(void) {
    static const mm_component *const cs[] = {&resnet_c,    &v1c_c,
                                             &v1d_c,       &resnext_c,
                                             &seresnet_c,  &seresnext_c,
                                             &cifar_c};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        MM_TRY(mm_register(cs[i]));
    return mm_key_map_register(&tv_resnet_keymap);
}
