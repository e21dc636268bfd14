/* RegNet (mmpretrain/models/backbones/regnet.py, RegNetX): a ResNet whose
 * stage widths, depths and group widths come from the quantised linear
 * rule of "Designing Network Design Spaces". mmpretrain builds it from its
 * ResNet with ResNeXt bottlenecks (expansion 1); those pieces are written
 * here so the module tree and state_dict keys are mmpretrain's:
 *
 *   conv1, bn1, relu                     stem: 3x3 stride 2, stem_channels
 *   layer<i>.<j>.{conv1,bn1,conv2,bn2,conv3,bn3,relu,downsample.{0,1}}
 *
 * and the map "torchvision.regnet" reads torchvision's regnet_x_* state
 * dicts (stem.0, trunk_output.block<i>.block<i>-<j>.{proj,f.a,f.b,f.c}). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/checkpoint.h>

#include "effconv.h"
#include "mmcls.h"

/* ---- the arch rule ------------------------------------------------------- */

typedef struct regnet_arch {
    double w0, wa, wm, bot_mul;
    int64_t group_w, depth;
} regnet_arch;

static const struct {
    const char *name;
    regnet_arch a;
} regnet_archs[] = {
    {"regnetx_400mf", {24, 24.48, 2.54, 1.0, 16, 22}},
    {"regnetx_800mf", {56, 35.73, 2.28, 1.0, 16, 16}},
    {"regnetx_1.6gf", {80, 34.01, 2.25, 1.0, 24, 18}},
    {"regnetx_3.2gf", {88, 26.31, 2.25, 1.0, 48, 25}},
    {"regnetx_4.0gf", {96, 38.65, 2.43, 1.0, 40, 23}},
    {"regnetx_6.4gf", {184, 60.83, 2.07, 1.0, 56, 17}},
    {"regnetx_8.0gf", {80, 49.56, 2.88, 1.0, 120, 23}},
    {"regnetx_12gf", {168, 73.36, 2.37, 1.0, 112, 19}},
};
#define N_ARCHS (int)(sizeof regnet_archs / sizeof regnet_archs[0])

#define MAX_STAGES 4

/* The stages of an arch: generate_regnet, get_stages_from_blocks and
 * adjust_width_group of mmpretrain, in float64 with numpy's and Python's
 * round-half-to-even (nearbyint). */
typedef struct regnet_stages {
    int n;
    int64_t width[MAX_STAGES], blocks[MAX_STAGES], group_w[MAX_STAGES];
} regnet_stages;

static int regnet_plan(const regnet_arch *a, const mm_srcloc *loc,
                       regnet_stages *st) {
    if (!(a->wa >= 0) || !(a->w0 > 0) || !(a->wm > 1) ||
        fmod(a->w0, 8.0) != 0 || a->depth < 1 || a->depth > 4096 ||
        a->group_w < 1 || !(a->bot_mul > 0))
        return mm_error_set_at(MM_EINVAL, loc,
                               "arch: needs wa >= 0, w0 > 0 and a multiple "
                               "of 8, wm > 1, depth >= 1, group_w >= 1, "
                               "bot_mul > 0");
    int64_t *widths = malloc((size_t)a->depth * sizeof *widths);
    if (!widths)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (int64_t i = 0; i < a->depth; i++) {
        double cont = (double)i * a->wa + a->w0;
        double k = nearbyint(log(cont / a->w0) / log(a->wm));
        double w = a->w0 * pow(a->wm, k);
        widths[i] = (int64_t)(nearbyint(w / 8.0) * 8.0);
    }
    /* consecutive runs of equal width are the stages (numpy.unique counts
     * distinct widths; the rule makes them non-decreasing, so the two
     * agree) */
    st->n = 0;
    for (int64_t i = 0; i < a->depth; i++) {
        if (i == 0 || widths[i] != widths[i - 1]) {
            if (st->n == MAX_STAGES) {
                free(widths);
                return mm_error_set_at(MM_EINVAL, loc,
                                       "arch: gives more than %d stages",
                                       MAX_STAGES);
            }
            st->width[st->n] = widths[i];
            st->blocks[st->n++] = 0;
        }
        st->blocks[st->n - 1]++;
    }
    free(widths);
    for (int i = 0; i < st->n; i++) {
        int64_t bot = (int64_t)((double)st->width[i] * a->bot_mul);
        int64_t g = a->group_w < bot ? a->group_w : bot;
        if (g < 1)
            return mm_error_set_at(MM_EINVAL, loc,
                                   "arch: stage %d has no bottleneck width",
                                   i);
        bot = (int64_t)(nearbyint((double)bot / (double)g) * (double)g);
        st->group_w[i] = g;
        st->width[i] = (int64_t)((double)bot / a->bot_mul);
    }
    return MM_OK;
}

/* ---- Bottleneck ---------------------------------------------------------- */

typedef struct bottleneck {
    mm_module base;
    mm_module *conv1, *norm1, *conv2, *norm2, *conv3, *norm3, *relu;
    mm_module *downsample, *drop_path; /* downsample may be NULL */
} bottleneck;

/* x (N, in, H, W) -> relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x))))))
 * + identity) (N, out, H / stride, W / stride). */
static int bottleneck_forward(mm_module *m, int n, mm_tensor *const *in,
                              mm_tensor **out) {
    bottleneck *b = (bottleneck *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "Bottleneck takes one input, got %d",
                            n);
    mm_tensor *x = in[0], *y, *id = in[0];
    MM_TRY(mm_module_forward1(b->conv1, x, &y));
    MM_TRY(mm_module_forward1(b->norm1, y, &y));
    MM_TRY(mm_module_forward1(b->relu, y, &y));
    MM_TRY(mm_module_forward1(b->conv2, y, &y));
    MM_TRY(mm_module_forward1(b->norm2, y, &y));
    MM_TRY(mm_module_forward1(b->relu, y, &y));
    MM_TRY(mm_module_forward1(b->conv3, y, &y));
    MM_TRY(mm_module_forward1(b->norm3, y, &y));
    if (b->downsample)
        MM_TRY(mm_module_forward1(b->downsample, x, &id));
    MM_TRY(mm_module_forward1(b->drop_path, y, &y));
    MM_TRY(mm_add(y, id, &y));
    return mm_module_forward1(b->relu, y, out);
}

static const mm_module_class bottleneck_class = {
    .name = "Bottleneck",
    .forward = bottleneck_forward,
};

typedef struct block_args {
    mm_build_ctx *ctx;
    const mm_value *conv_cfg, *norm_cfg;
    int64_t in, out, stride, dilation, groups, group_w;
    bool caffe, avg_down;
} block_args;

/* add_child with the typed field set on success. */
static int child(mm_module *m, const char *name, mm_module *c,
                 mm_module **field) {
    int rc = mm_module_add_child(m, name, c);
    if (!rc && field)
        *field = c;
    return rc;
}

static int norm_child(const block_args *a, mm_module *m, int postfix,
                      int64_t ch, mm_module **field) {
    mm_module *nm;
    MM_TRY(effconv_norm_new(a->ctx, "norm_cfg", a->norm_cfg, ch, &nm));
    char name[32];
    snprintf(name, sizeof name, "%s%d", effconv_norm_abbr(nm), postfix);
    return child(m, name, nm, field);
}

static int downsample_new(const block_args *a, mm_module **out) {
    mm_module *mods[3] = {0};
    int n = 0, rc = MM_OK;
    int64_t conv_stride = a->stride;
    if (a->avg_down && a->stride != 1) {
        const int64_t k[2] = {a->stride, a->stride};
        conv_stride = 1;
        rc = mm_avg_pool_new(2, k, k, NULL, true, false, 0, &mods[n++]);
    }
    if (!rc)
        rc = effconv_conv_new(a->ctx, "conv_cfg", a->conv_cfg, a->in, a->out,
                              1, conv_stride, 0, 1, 1, false, &mods[n++]);
    if (!rc)
        rc = effconv_norm_new(a->ctx, "norm_cfg", a->norm_cfg, a->out,
                              &mods[n++]);
    if (rc) {
        for (int i = 0; i < n; i++)
            mm_module_free(mods[i]);
        return rc;
    }
    return mm_sequential_new(n, mods, out);
}

static int bottleneck_new(const block_args *a, mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&bottleneck_class, sizeof(bottleneck), &m));
    bottleneck *b = (bottleneck *)m;
    /* expansion 1: mid = out; ResNeXt's groups * width_per_group * mid /
     * base_channels with base_channels = out */
    int64_t mid = a->groups != 1 ? a->groups * a->group_w : a->out;
    int64_t s1 = a->caffe ? a->stride : 1, s2 = a->caffe ? 1 : a->stride;
    int rc = effconv_conv_new(a->ctx, "conv_cfg", a->conv_cfg, a->in, mid, 1,
                              s1, 0, 1, 1, false, &c);
    rc = rc ? rc : child(m, "conv1", c, &b->conv1);
    rc = rc ? rc : norm_child(a, m, 1, mid, &b->norm1);
    if (!rc)
        rc = effconv_conv_new(a->ctx, "conv_cfg", a->conv_cfg, mid, mid, 3,
                              s2, a->dilation, a->dilation, a->groups, false,
                              &c);
    rc = rc ? rc : child(m, "conv2", c, &b->conv2);
    rc = rc ? rc : norm_child(a, m, 2, mid, &b->norm2);
    if (!rc)
        rc = effconv_conv_new(a->ctx, "conv_cfg", a->conv_cfg, mid, a->out, 1,
                              1, 0, 1, 1, false, &c);
    rc = rc ? rc : child(m, "conv3", c, &b->conv3);
    rc = rc ? rc : norm_child(a, m, 3, a->out, &b->norm3);
    rc = rc ? rc : mm_activation_new(&mm_relu_class, &c);
    rc = rc ? rc : child(m, "relu", c, &b->relu);
    if (!rc && (a->stride != 1 || a->in != a->out)) {
        rc = downsample_new(a, &c);
        rc = rc ? rc : child(m, "downsample", c, &b->downsample);
    }
    rc = rc ? rc : effconv_drop_path_new(0.0, 1e-5, &c);
    rc = rc ? rc : child(m, "drop_path", c, &b->drop_path);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- RegNet -------------------------------------------------------------- */

typedef struct regnet {
    mm_module base;
    mm_module *conv1, *norm1, *relu;
    mm_module *layers[MAX_STAGES];
    regnet_stages st;
    bool out_stage[MAX_STAGES];
    int frozen_stages;
    bool norm_eval, zero_init_residual, init_default;
} regnet;

/* ResNet.train()'s _freeze_stages and norm_eval, applied when the model
 * runs in training mode (a module here has no train hook; the effect on
 * every forward is the same). */
static void regnet_train_mode(regnet *r) {
    if (!r->base.training)
        return;
    if (r->frozen_stages >= 0) {
        mm_module_eval(r->conv1);
        mm_module_eval(r->norm1);
    }
    for (int i = 0; i < r->frozen_stages && i < r->st.n; i++)
        mm_module_eval(r->layers[i]);
    if (r->norm_eval)
        effconv_bn_eval(&r->base);
}

static int regnet_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                                int cap, int *n_out, mm_tensor **outs) {
    regnet *r = (regnet *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "RegNet takes one input, got %d", n);
    regnet_train_mode(r);
    mm_tensor *x;
    MM_TRY(mm_module_forward1(r->conv1, in[0], &x)); /* (N, stem, H/2, W/2) */
    MM_TRY(mm_module_forward1(r->norm1, x, &x));
    MM_TRY(mm_module_forward1(r->relu, x, &x));
    int k = 0;
    for (int i = 0; i < r->st.n; i++) {
        MM_TRY(mm_module_forward1(r->layers[i], x, &x));
        if (r->out_stage[i]) {
            if (k == cap)
                return mm_error_set(MM_EINVAL, "RegNet: more outputs than %d",
                                    cap);
            outs[k++] = x;
        }
    }
    *n_out = k;
    return MM_OK;
}

/* mmpretrain's RegNet keeps PyTorch's initialisation (its init_cfg is
 * None) and ResNet.init_weights zeroes each bottleneck's last norm
 * (zero_init_residual). */
static int regnet_init_weights(mm_module *m) {
    regnet *r = (regnet *)m;
    if (!r->zero_init_residual || !r->init_default)
        return MM_OK;
    for (int i = 0; i < r->st.n; i++) {
        mm_module *layer = r->layers[i];
        for (size_t j = 0; j < layer->n_children; j++) {
            bottleneck *b = (bottleneck *)layer->children[j].module;
            mm_tensor *w = mm_module_get_parameter(b->norm3, "weight");
            mm_tensor *bias = mm_module_get_parameter(b->norm3, "bias");
            if (w)
                MM_TRY(mm_init_zeros_(w));
            if (bias)
                MM_TRY(mm_init_zeros_(bias));
        }
    }
    return MM_OK;
}

static void regnet_repr(const mm_module *m, char *buf, size_t size) {
    const regnet *r = (const regnet *)m;
    int w = snprintf(buf, size, "stages=%d, widths=(", r->st.n);
    for (int i = 0; i < r->st.n && (size_t)w < size; i++)
        w += snprintf(buf + w, size - w, "%s%lld", i ? ", " : "",
                      (long long)r->st.width[i]);
    if ((size_t)w < size)
        snprintf(buf + w, size - w, ")");
}

static const mm_module_class regnet_class = {
    .name = "RegNet",
    .forward = mm_module_forward_last,
    .init_weights = regnet_init_weights,
    .extra_repr = regnet_repr,
    .forward_multi = regnet_forward_multi,
};

static int arch_number(const mm_value *arch, const char *key, double *out) {
    const mm_value *v = mmcls_get(arch, key);
    if (!v || !mm_value_is_number(v))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v ? v : arch),
                               "arch: needs the number '%s' (w0, wa, wm, "
                               "group_w, depth, bot_mul)",
                               key);
    *out = mm_value_get_float(v);
    return MM_OK;
}

static int parse_arch(mm_build_ctx *ctx, regnet_arch *a) {
    const mm_value *v = mm_build_arg(ctx, "arch");
    if (mm_value_is_string(v)) {
        const char *s = mm_value_get_string(v);
        for (int i = 0; i < N_ARCHS; i++)
            if (strcmp(s, regnet_archs[i].name) == 0) {
                *a = regnet_archs[i].a;
                return MM_OK;
            }
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "arch: '%s' is not one of regnetx_400mf, "
                               "regnetx_800mf, regnetx_1.6gf, regnetx_3.2gf, "
                               "regnetx_4.0gf, regnetx_6.4gf, regnetx_8.0gf, "
                               "regnetx_12gf (or a dict)",
                               s);
    }
    double gw, depth;
    MM_TRY(arch_number(v, "w0", &a->w0));
    MM_TRY(arch_number(v, "wa", &a->wa));
    MM_TRY(arch_number(v, "wm", &a->wm));
    MM_TRY(arch_number(v, "group_w", &gw));
    MM_TRY(arch_number(v, "depth", &depth));
    MM_TRY(arch_number(v, "bot_mul", &a->bot_mul));
    if (gw != floor(gw) || depth != floor(depth))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "arch: group_w and depth must be integers");
    a->group_w = (int64_t)gw;
    a->depth = (int64_t)depth;
    return MM_OK;
}

/* A list of n positive ints. */
static int int_list(mm_build_ctx *ctx, const char *key, int n, int64_t *out) {
    const mm_value *v = mm_build_arg(ctx, key);
    if (!mm_value_is_list(v) || (int)mm_value_len(v) != n)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected %d ints, one per stage (the "
                               "arch has %d stages)",
                               key, n, n);
    for (int i = 0; i < n; i++) {
        const mm_value *e = mm_value_list_get(v, (size_t)i);
        if (!mm_value_is_int(e) || mm_value_get_int(e) < 1)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s: expected positive ints", key);
        out[i] = mm_value_get_int(e);
    }
    return MM_OK;
}

static int regnet_build(mm_build_ctx *ctx, void **out) {
    regnet_arch a;
    regnet_stages st;
    int64_t in_ch, stem, base_ch, frozen, strides[MAX_STAGES],
        dil[MAX_STAGES];
    bool deep_stem, avg_down, norm_eval, with_cp, zir, has_init_cfg;
    const char *style;
    MM_TRY(parse_arch(ctx, &a));
    MM_TRY(regnet_plan(&a, mm_value_loc(mm_build_arg(ctx, "arch")), &st));
    MM_TRY(mm_build_int(ctx, "in_channels", &in_ch));
    MM_TRY(mm_build_int(ctx, "stem_channels", &stem));
    MM_TRY(mm_build_int(ctx, "base_channels", &base_ch));
    MM_TRY(int_list(ctx, "strides", st.n, strides));
    MM_TRY(int_list(ctx, "dilations", st.n, dil));
    MM_TRY(mm_build_string(ctx, "style", &style));
    MM_TRY(mm_build_bool(ctx, "deep_stem", &deep_stem));
    MM_TRY(mm_build_bool(ctx, "avg_down", &avg_down));
    MM_TRY(mm_build_int(ctx, "frozen_stages", &frozen));
    MM_TRY(mm_build_bool(ctx, "norm_eval", &norm_eval));
    MM_TRY(mm_build_bool(ctx, "with_cp", &with_cp));
    MM_TRY(mm_build_bool(ctx, "zero_init_residual", &zir));
    MM_TRY(effconv_init_cfg(ctx, "null", &has_init_cfg));
    (void)base_ch; /* mmpretrain stores it; the stage widths come from arch */
    (void)with_cp; /* activation checkpointing: same numbers, more memory */
    int idx[MM_MAX_OUTPUTS], n_idx;
    MM_TRY(effconv_out_indices(ctx, st.n, false, idx, &n_idx));
    if (strcmp(style, "pytorch") != 0 && strcmp(style, "caffe") != 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "style")),
                               "style: expected 'pytorch' or 'caffe', got "
                               "'%s'",
                               style);
    if (deep_stem)
        return mm_error_set_at(MM_EUNSUPPORTED,
                               mm_value_loc(mm_build_arg(ctx, "deep_stem")),
                               "deep_stem: has not been implemented for "
                               "RegNet (as in mmpretrain)");
    if (in_ch < 1 || stem < 1)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "in_channels and stem_channels must be "
                               "positive");
    if (frozen < -1 || frozen > st.n)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx,
                                                         "frozen_stages")),
                               "frozen_stages: expected -1 to %d, got %lld",
                               st.n, (long long)frozen);

    mm_module *m, *c;
    MM_TRY(mm_module_new(&regnet_class, sizeof(regnet), &m));
    regnet *r = (regnet *)m;
    r->st = st;
    r->frozen_stages = (int)frozen;
    r->norm_eval = norm_eval;
    r->zero_init_residual = zir;
    r->init_default = !has_init_cfg; /* Pretrained: no zero init */
    for (int i = 0; i < n_idx; i++)
        r->out_stage[idx[i]] = true;
    const mm_value *conv_cfg = mm_build_arg(ctx, "conv_cfg");
    const mm_value *norm_cfg = mm_build_arg(ctx, "norm_cfg");
    int rc = effconv_conv_new(ctx, "conv_cfg", conv_cfg, in_ch, stem, 3, 2, 1,
                              1, 1, false, &c);
    rc = rc ? rc : child(m, "conv1", c, &r->conv1);
    block_args ba = {.ctx = ctx, .conv_cfg = conv_cfg, .norm_cfg = norm_cfg,
                     .caffe = strcmp(style, "caffe") == 0,
                     .avg_down = avg_down};
    rc = rc ? rc : norm_child(&ba, m, 1, stem, &r->norm1);
    rc = rc ? rc : mm_activation_new(&mm_relu_class, &c);
    rc = rc ? rc : child(m, "relu", c, &r->relu);
    int64_t in = stem;
    for (int i = 0; !rc && i < st.n; i++) {
        mm_module *layer;
        int64_t width = (int64_t)nearbyint((double)st.width[i] * a.bot_mul);
        ba.groups = width / st.group_w[i];
        ba.group_w = st.group_w[i];
        ba.dilation = dil[i];
        ba.out = st.width[i];
        rc = mm_sequential_new(0, NULL, &layer);
        char name[16];
        snprintf(name, sizeof name, "layer%d", i + 1);
        rc = rc ? rc : child(m, name, layer, &r->layers[i]);
        for (int64_t j = 0; !rc && j < st.blocks[i]; j++) {
            ba.in = j ? st.width[i] : in;
            ba.stride = j ? 1 : strides[i];
            rc = bottleneck_new(&ba, &c);
            rc = rc ? rc : mm_sequential_append(layer, c);
        }
        in = st.width[i];
    }
    if (!rc && frozen >= 0) {
        rc = effconv_freeze(r->conv1);
        rc = rc ? rc : effconv_freeze(r->norm1);
        for (int i = 0; !rc && i < frozen; i++)
            rc = effconv_freeze(r->layers[i]);
    }
    if (!rc) {
        mm_no_grad_push();
        rc = regnet_init_weights(m);
        mm_no_grad_pop();
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param regnet_params[] = {
    {.name = "arch", .type = MM_PARAM_STRING | MM_PARAM_DICT,
     .required = true,
     .doc = "regnetx_400mf .. regnetx_12gf, or {w0, wa, wm, group_w, depth, "
            "bot_mul}"},
    {.name = "in_channels", .type = MM_PARAM_INT, .def = "3",
     .doc = "channels of the input image"},
    {.name = "stem_channels", .type = MM_PARAM_INT, .def = "32",
     .doc = "channels of the stem conv"},
    {.name = "base_channels", .type = MM_PARAM_INT, .def = "32",
     .doc = "kept for mmpretrain configs (widths come from arch)"},
    {.name = "strides", .type = MM_PARAM_LIST, .def = "[2, 2, 2, 2]",
     .doc = "stride of each stage's first block"},
    {.name = "dilations", .type = MM_PARAM_LIST, .def = "[1, 1, 1, 1]",
     .doc = "dilation of each stage"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "[3]", .doc = "stages whose outputs are returned"},
    {.name = "style", .type = MM_PARAM_STRING, .def = "pytorch",
     .doc = "pytorch: stride on the 3x3 conv; caffe: on the first 1x1"},
    {.name = "deep_stem", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "must be false (not implemented for RegNet in mmpretrain)"},
    {.name = "avg_down", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "downsample with AvgPool then a stride-1 1x1 conv"},
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "-1",
     .doc = "stem and stages 1..n frozen (eval, no grad); -1: none"},
    {.name = "conv_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null", .doc = "conv layer config (null: Conv2d)"},
    {.name = "norm_cfg", .type = MM_PARAM_DICT,
     .def = "{type: BN, requires_grad: true}", .doc = "norm layer config"},
    {.name = "norm_eval", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "keep BatchNorm layers in eval mode while training"},
    {.name = "with_cp", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "activation checkpointing (accepted; same results)"},
    {.name = "zero_init_residual", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "zero each block's last norm so blocks start as identity"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "null (PyTorch's initialisation) or Pretrained entries"},
};

static const mm_component regnet_component = {
    .kind = MM_MODELS,
    .name = "RegNet",
    .doc = "RegNetX backbone (mmpretrain's RegNet)",
    .params = regnet_params,
    .n_params = sizeof regnet_params / sizeof regnet_params[0],
    .build = regnet_build,
    .destroy = mmcls_module_destroy,
};

/* ---- torchvision.regnet -------------------------------------------------- */

/* torchvision regnet_x_*: stem.{0,1} -> backbone.{conv1,bn1};
 * trunk_output.block<i>.block<i>-<j>.{proj.{0,1}, f.{a,b,c}.{0,1}} ->
 * backbone.layer<i>.<j>.{downsample.{0,1}, conv1/bn1, conv2/bn2,
 * conv3/bn3}; fc -> head.fc. regnet_y_* (squeeze-excitation, f.se) has
 * no mmpretrain counterpart and is refused by its keys. */
static int tv_regnet_key(const char *k, char *dst, size_t size) {
    int i, j, used = 0;
    char rest[128];
    if (strncmp(k, "stem.0.", 7) == 0)
        return snprintf(dst, size, "backbone.conv1.%s", k + 7), 0;
    if (strncmp(k, "stem.1.", 7) == 0)
        return snprintf(dst, size, "backbone.bn1.%s", k + 7), 0;
    if (strncmp(k, "fc.", 3) == 0)
        return snprintf(dst, size, "head.fc.%s", k + 3), 0;
    if (sscanf(k, "trunk_output.block%d.block%*d-%d.%n", &i, &j, &used) != 2 ||
        used == 0 || i < 1 || j < 0)
        return -1;
    snprintf(rest, sizeof rest, "%s", k + used);
    static const struct {
        const char *tv, *mm;
    } parts[] = {
        {"proj.0.", "downsample.0."}, {"proj.1.", "downsample.1."},
        {"f.a.0.", "conv1."},         {"f.a.1.", "bn1."},
        {"f.b.0.", "conv2."},         {"f.b.1.", "bn2."},
        {"f.c.0.", "conv3."},         {"f.c.1.", "bn3."},
    };
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        size_t n = strlen(parts[p].tv);
        if (strncmp(rest, parts[p].tv, n) == 0)
            return snprintf(dst, size, "backbone.layer%d.%d.%s%s", i, j,
                            parts[p].mm, rest + n),
                   0;
    }
    return -1;
}

static int tv_regnet_map(const mm_state_dict *in, mm_state_dict *out) {
    for (size_t i = 0; i < in->n; i++) {
        char name[256];
        if (tv_regnet_key(in->items[i].name, name, sizeof name))
            return mm_error_set(MM_EINVAL,
                                "unknown key '%s' (only "
                                "regnet_x_* state dicts map to mmpretrain's "
                                "RegNet)",
                                in->items[i].name);
        MM_TRY(mm_state_dict_add(out, name, in->items[i].tensor));
    }
    return MM_OK;
}

static const mm_key_map tv_regnet = {
    .name = "torchvision.regnet",
    .doc = "torchvision regnet_x_400mf .. regnet_x_32gf -> mmcls RegNet + "
           "LinearClsHead",
    .apply = tv_regnet_map,
};

int mmcls_register_regnet(void) {
    MM_TRY(mm_register(&regnet_component));
    return mm_key_map_register(&tv_regnet);
}
