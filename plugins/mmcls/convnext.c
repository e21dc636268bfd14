/* ConvNeXt v1 and v2 (mmpretrain/models/backbones/convnext.py): a patchify
 * stem, four stages of ConvNeXtBlocks (7x7 depthwise conv, LayerNorm over
 * the channels, pointwise MLP as Linear layers on (N, H, W, C), layer
 * scale, drop path) with LayerNorm + 2x2 stride-2 conv between stages.
 * Keys as mmpretrain's:
 *
 *   downsample_layers.0.{0 conv, 1 LN2d}, downsample_layers.<i>.{0 LN2d,
 *   1 conv}, stages.<i>.<j>.{gamma, depthwise_conv, norm, pointwise_conv1,
 *   pointwise_conv2, grn.{gamma,beta}}, norm<i> for each out index
 *
 * The map "torchvision.convnext" reads torchvision's convnext_* state
 * dicts: features.<2i>, features.<2i+1>.<j>.block.{0,2,3,5} and
 * layer_scale (C, 1, 1) -> gamma (C), classifier.0 -> the final norm,
 * classifier.2 -> head.fc. */
#include <stdio.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/checkpoint.h>
#include <mm/reduction.h>

#include "effconv.h"
#include "mmcls.h"

#define MAX_STAGES 8

/* ---- GRN (ConvNeXt v2) ---------------------------------------------------- */

typedef struct grn {
    mm_module base;
    double eps;
    mm_tensor *gamma, *beta; /* (C) */
} grn;

/* Global Response Normalization: gx = ||x||_2 over the spatial dims,
 * nx = gx / (mean_C(gx) + eps), x + gamma * (x * nx) + beta. */
static int grn_apply(mm_module *m, mm_tensor *x, bool channel_last,
                     mm_tensor **out) {
    grn *g = (grn *)m;
    mm_tensor *gx, *nx, *y, *gamma = g->gamma, *beta = g->beta;
    int sp0 = channel_last ? 1 : 2, cdim = channel_last ? 3 : 1;
    MM_TRY(mm_norm(x, 2.0, 2, (const int[]){sp0, sp0 + 1}, true, &gx));
    MM_TRY(mm_mean(gx, 1, (const int[]){cdim}, true, &nx));
    MM_TRY(mm_add_scalar(nx, g->eps, &nx));
    MM_TRY(mm_div(gx, nx, &nx));
    if (!channel_last) {
        MM_TRY(mm_view(gamma, MM_SHAPE(1, -1, 1, 1), &gamma));
        MM_TRY(mm_view(beta, MM_SHAPE(1, -1, 1, 1), &beta));
    }
    MM_TRY(mm_mul(x, nx, &y));
    MM_TRY(mm_mul(gamma, y, &y));
    MM_TRY(mm_add(y, beta, &y));
    return mm_add(y, x, out);
}

static int grn_fwd(mm_module *m, int n, mm_tensor *const *in,
                   mm_tensor **out) {
    if (n != 1)
        return mm_error_set(MM_EINVAL, "GRN takes one input, got %d", n);
    return grn_apply(m, in[0], false, out);
}

static const mm_module_class grn_class = {.name = "GRN", .forward = grn_fwd};

/* A (c) parameter filled with value, made in a pool of its own so that
 * the module holds the only reference (a caller's pool or not). */
static int full_param(mm_module *m, const char *name, int64_t c,
                      double value, mm_tensor **field) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *t = NULL;
    int rc = mm_full(MM_SHAPE(c), value, MM_F32, &t);
    if (!rc)
        rc = mm_module_add_parameter(m, name, t, field);
    mm_pool_close(pool);
    return rc;
}

static int grn_new(int64_t c, mm_module **out) {
    mm_module *m;
    MM_TRY(mm_module_new(&grn_class, sizeof(grn), &m));
    grn *g = (grn *)m;
    g->eps = 1e-6;
    int rc = full_param(m, "gamma", c, 0.0, &g->gamma);
    rc = rc ? rc : full_param(m, "beta", c, 0.0, &g->beta);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- ConvNeXtBlock -------------------------------------------------------- */

typedef struct cnx_block {
    mm_module base;
    bool linear_pw;
    mm_tensor *gamma; /* (C) layer scale, or NULL */
    mm_module *dw, *norm, *pw1, *act, *pw2, *grn, *drop_path;
} cnx_block;

/* x (N, C, H, W) -> x + drop_path(gamma * pw2(act(pw1(norm(dw(x)))))).
 * With Linear pointwise layers the MLP runs on the (N, H, W, C) view and
 * the layer scale is applied there, before going back to (N, C, H, W). */
static int cnx_block_forward(mm_module *m, int n, mm_tensor *const *in,
                             mm_tensor **out) {
    cnx_block *b = (cnx_block *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "ConvNeXtBlock takes one input, got "
                                       "%d",
                            n);
    mm_tensor *y;
    MM_TRY(mm_module_forward1(b->dw, in[0], &y)); /* (N, C, H, W) */
    if (b->linear_pw) {
        MM_TRY(mm_permute(y, 4, (const int[]){0, 2, 3, 1}, &y)); /* NHWC */
        MM_TRY(mmcls_ln2d_forward(b->norm, y, true, &y));
        MM_TRY(mm_module_forward1(b->pw1, y, &y)); /* (N, H, W, 4C) */
        MM_TRY(mm_module_forward1(b->act, y, &y));
        if (b->grn)
            MM_TRY(grn_apply(b->grn, y, true, &y));
        MM_TRY(mm_module_forward1(b->pw2, y, &y)); /* (N, H, W, C) */
        if (b->gamma)
            MM_TRY(mm_mul(y, b->gamma, &y));
        MM_TRY(mm_permute(y, 4, (const int[]){0, 3, 1, 2}, &y)); /* NCHW */
    } else {
        MM_TRY(mmcls_ln2d_forward(b->norm, y, false, &y));
        MM_TRY(mm_module_forward1(b->pw1, y, &y));
        MM_TRY(mm_module_forward1(b->act, y, &y));
        if (b->grn)
            MM_TRY(grn_apply(b->grn, y, false, &y));
        MM_TRY(mm_module_forward1(b->pw2, y, &y));
        if (b->gamma) {
            mm_tensor *g;
            MM_TRY(mm_view(b->gamma, MM_SHAPE(1, -1, 1, 1), &g));
            MM_TRY(mm_mul(y, g, &y));
        }
    }
    MM_TRY(mm_module_forward1(b->drop_path, y, &y));
    return mm_add(in[0], y, out);
}

static const mm_module_class cnx_block_class = {
    .name = "ConvNeXtBlock",
    .forward = cnx_block_forward,
};

typedef struct cnx_cfg {
    mm_build_ctx *ctx;
    const mm_value *norm_cfg, *act_cfg;
    bool linear_pw, use_grn;
    double layer_scale;
} cnx_cfg;

static int add(mm_module *m, const char *name, mm_module *c,
               mm_module **field) {
    int rc = mm_module_add_child(m, name, c);
    if (!rc && field)
        *field = c;
    return rc;
}

/* A norm from norm_cfg that must be LN2d (the blocks call its
 * channel-last form, as mmpretrain's do). */
static int cnx_norm(const cnx_cfg *c, int64_t ch, mm_module **out) {
    MM_TRY(effconv_norm_new(c->ctx, "norm_cfg", c->norm_cfg, ch, out));
    if (!mm_module_is(*out, &mmcls_ln2d_class)) {
        mm_module_free(*out);
        *out = NULL;
        return mm_error_set_at(MM_EINVAL, mm_value_loc(c->norm_cfg),
                               "norm_cfg: ConvNeXt needs LN2d (its blocks "
                               "normalise channel-last)");
    }
    return MM_OK;
}

static int pointwise(const cnx_cfg *c, int64_t in, int64_t out,
                     mm_module **m) {
    if (c->linear_pw)
        return mm_linear_new(in, out, true, m);
    return effconv_conv_new(c->ctx, "pointwise", NULL, in, out, 1, 1, 0, 1, 1,
                            true, m);
}

static int cnx_block_new(const cnx_cfg *c, int64_t ch, double drop,
                         mm_module **out) {
    mm_module *m, *k;
    MM_TRY(mm_module_new(&cnx_block_class, sizeof(cnx_block), &m));
    cnx_block *b = (cnx_block *)m;
    b->linear_pw = c->linear_pw;
    int64_t mid = (int64_t)(4.0 * (double)ch); /* int(mlp_ratio * C) */
    int rc = MM_OK;
    if (c->layer_scale > 0)
        rc = full_param(m, "gamma", ch, c->layer_scale, &b->gamma);
    if (!rc)
        rc = effconv_conv_new(c->ctx, "depthwise_conv", NULL, ch, ch, 7, 1, 3,
                              1, ch, true, &k);
    rc = rc ? rc : add(m, "depthwise_conv", k, &b->dw);
    rc = rc ? rc : cnx_norm(c, ch, &k);
    rc = rc ? rc : add(m, "norm", k, &b->norm);
    rc = rc ? rc : pointwise(c, ch, mid, &k);
    rc = rc ? rc : add(m, "pointwise_conv1", k, &b->pw1);
    rc = rc ? rc : effconv_build(c->ctx, "act_cfg", c->act_cfg, &k);
    rc = rc ? rc : add(m, "act", k, &b->act);
    rc = rc ? rc : pointwise(c, mid, ch, &k);
    rc = rc ? rc : add(m, "pointwise_conv2", k, &b->pw2);
    if (!rc && c->use_grn) {
        rc = grn_new(mid, &k);
        rc = rc ? rc : add(m, "grn", k, &b->grn);
    }
    rc = rc ? rc : effconv_drop_path_new(drop, 0.0, &k);
    rc = rc ? rc : add(m, "drop_path", k, &b->drop_path);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- ConvNeXt ------------------------------------------------------------- */

typedef struct convnext {
    mm_module base;
    int n_stages;
    mm_module *downsample, *stages; /* ModuleLists */
    mm_module *norms[MAX_STAGES];   /* norm<i> for the out stages */
    int frozen_stages;
    bool gap_before_final_norm, init_default;
} convnext;

static int cnx_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                             int cap, int *n_out, mm_tensor **outs) {
    convnext *c = (convnext *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "ConvNeXt takes one input, got %d", n);
    if (m->training) /* train()'s _freeze_stages */
        for (int i = 0; i < c->frozen_stages; i++) {
            mm_module_eval(c->downsample->children[i].module);
            mm_module_eval(c->stages->children[i].module);
        }
    mm_tensor *x = in[0];
    int k = 0;
    for (int i = 0; i < c->n_stages; i++) {
        MM_TRY(mm_module_forward1(c->downsample->children[i].module, x, &x));
        MM_TRY(mm_module_forward1(c->stages->children[i].module, x, &x));
        if (!c->norms[i])
            continue;
        if (k == cap)
            return mm_error_set(MM_EINVAL, "ConvNeXt: more outputs than %d",
                                cap);
        mm_tensor *y;
        if (c->gap_before_final_norm) {
            MM_TRY(mm_mean(x, 2, (const int[]){-2, -1}, true, &y)); /* N,C,1,1 */
            MM_TRY(mm_module_forward1(c->norms[i], y, &y));
            MM_TRY(mm_flatten(y, 1, -1, &outs[k++])); /* (N, C) */
        } else {
            MM_TRY(mm_module_forward1(c->norms[i], x, &outs[k++]));
        }
    }
    *n_out = k;
    return MM_OK;
}

/* init_cfg [TruncNormal(std 0.02, bias 0) on Conv2d and Linear, Constant
 * 1 (bias 0) on LayerNorm]; the layer scale keeps its init value. */
static int cnx_init_module(const char *name, mm_module *m, void *user) {
    (void)name, (void)user;
    mm_tensor *w = NULL, *b = NULL;
    if (mm_module_is_conv(m)) {
        w = ((mm_nn_conv *)m)->weight, b = ((mm_nn_conv *)m)->bias;
    } else if (mm_module_is(m, &mm_linear_class)) {
        w = ((mm_nn_linear *)m)->weight, b = ((mm_nn_linear *)m)->bias;
    } else if (mm_module_is(m, &mmcls_ln2d_class) ||
               (mm_module_is_norm(m) &&
                strcmp(m->cls->name, "LayerNorm") == 0)) {
        mm_tensor *lw = mm_module_get_parameter(m, "weight");
        mm_tensor *lb = mm_module_get_parameter(m, "bias");
        if (lw)
            MM_TRY(mm_init_ones_(lw));
        if (lb)
            MM_TRY(mm_init_zeros_(lb));
        return MM_OK;
    }
    if (w)
        MM_TRY(mm_init_trunc_normal_(w, 0.0, 0.02, -2.0, 2.0, NULL));
    if (b)
        MM_TRY(mm_init_zeros_(b));
    return MM_OK;
}

static int cnx_init_weights(mm_module *m) {
    if (!((convnext *)m)->init_default)
        return MM_OK;
    return mm_module_named_modules(m, cnx_init_module, NULL);
}

static const mm_module_class convnext_class = {
    .name = "ConvNeXt",
    .forward = mm_module_forward_last,
    .init_weights = cnx_init_weights,
    .forward_multi = cnx_forward_multi,
};

static const struct {
    const char *name;
    int64_t depths[4], channels[4];
} cnx_archs[] = {
    {"atto", {2, 2, 6, 2}, {40, 80, 160, 320}},
    {"femto", {2, 2, 6, 2}, {48, 96, 192, 384}},
    {"pico", {2, 2, 6, 2}, {64, 128, 256, 512}},
    {"nano", {2, 2, 8, 2}, {80, 160, 320, 640}},
    {"tiny", {3, 3, 9, 3}, {96, 192, 384, 768}},
    {"small", {3, 3, 27, 3}, {96, 192, 384, 768}},
    {"base", {3, 3, 27, 3}, {128, 256, 512, 1024}},
    {"large", {3, 3, 27, 3}, {192, 384, 768, 1536}},
    {"xlarge", {3, 3, 27, 3}, {256, 512, 1024, 2048}},
    {"huge", {3, 3, 27, 3}, {352, 704, 1408, 2816}},
};
#define N_CNX_ARCHS (int)(sizeof cnx_archs / sizeof cnx_archs[0])

static int int_list(const mm_value *arch, const char *key, int64_t *out,
                    int *n) {
    const mm_value *v = mmcls_get(arch, key);
    if (!v || !mm_value_is_list(v) || mm_value_len(v) < 1 ||
        mm_value_len(v) > MAX_STAGES)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v ? v : arch),
                               "arch: '%s' must be a list of 1 to %d "
                               "positive ints",
                               key, MAX_STAGES);
    *n = (int)mm_value_len(v);
    for (int i = 0; i < *n; i++) {
        const mm_value *e = mm_value_list_get(v, (size_t)i);
        if (!mm_value_is_int(e) || mm_value_get_int(e) < 1)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "arch: '%s' must hold positive ints", key);
        out[i] = mm_value_get_int(e);
    }
    return MM_OK;
}

static int cnx_parse_arch(mm_build_ctx *ctx, int64_t *depths,
                          int64_t *channels, int *n) {
    const mm_value *v = mm_build_arg(ctx, "arch");
    if (mm_value_is_string(v)) {
        const char *s = mm_value_get_string(v);
        for (int i = 0; i < N_CNX_ARCHS; i++)
            if (strcmp(s, cnx_archs[i].name) == 0) {
                memcpy(depths, cnx_archs[i].depths, sizeof(int64_t) * 4);
                memcpy(channels, cnx_archs[i].channels, sizeof(int64_t) * 4);
                *n = 4;
                return MM_OK;
            }
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "arch: '%s' is not one of atto, femto, pico, "
                               "nano, tiny, small, base, large, xlarge, huge "
                               "(or a dict of depths and channels)",
                               s);
    }
    int nd, nc;
    MM_TRY(int_list(v, "depths", depths, &nd));
    MM_TRY(int_list(v, "channels", channels, &nc));
    if (nd != nc)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "arch: depths (%d) and channels (%d) must "
                               "have the same length",
                               nd, nc);
    *n = nd;
    return MM_OK;
}

static const char cnx_default_init[] =
    "[{type: TruncNormal, layer: [Conv2d, Linear], std: 0.02, bias: 0.0}, "
    "{type: Constant, layer: [LayerNorm], val: 1.0, bias: 0.0}]";

static int cnx_build(mm_build_ctx *ctx, void **out) {
    int64_t depths[MAX_STAGES], chans[MAX_STAGES], in_ch, patch, frozen;
    int ns;
    double dpr_rate;
    bool gap, with_cp, init_default;
    cnx_cfg c = {.ctx = ctx};
    MM_TRY(cnx_parse_arch(ctx, depths, chans, &ns));
    MM_TRY(mm_build_int(ctx, "in_channels", &in_ch));
    MM_TRY(mm_build_int(ctx, "stem_patch_size", &patch));
    MM_TRY(mm_build_bool(ctx, "linear_pw_conv", &c.linear_pw));
    MM_TRY(mm_build_bool(ctx, "use_grn", &c.use_grn));
    MM_TRY(mm_build_float(ctx, "drop_path_rate", &dpr_rate));
    MM_TRY(mm_build_float(ctx, "layer_scale_init_value", &c.layer_scale));
    MM_TRY(mm_build_int(ctx, "frozen_stages", &frozen));
    MM_TRY(mm_build_bool(ctx, "gap_before_final_norm", &gap));
    MM_TRY(mm_build_bool(ctx, "with_cp", &with_cp));
    MM_TRY(effconv_init_cfg(ctx, cnx_default_init, &init_default));
    (void)with_cp; /* activation checkpointing: same numbers, more memory */
    c.norm_cfg = mm_build_arg(ctx, "norm_cfg");
    c.act_cfg = mm_build_arg(ctx, "act_cfg");
    const mm_srcloc *here = mm_value_loc(mm_build_node(ctx));
    if (in_ch < 1 || patch < 1)
        return mm_error_set_at(MM_EINVAL, here,
                               "in_channels and stem_patch_size must be "
                               "positive");
    if (!(dpr_rate >= 0 && dpr_rate < 1))
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "drop_path_rate")),
            "drop_path_rate: must be in [0, 1), got %g", dpr_rate);
    if (frozen < 0 || frozen > ns)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "frozen_stages")),
            "frozen_stages: must be in 0 .. %d, got %lld", ns,
            (long long)frozen);
    /* mmpretrain adds 4 to a negative index (its four stages) */
    int idx[MM_MAX_OUTPUTS], n_idx;
    MM_TRY(effconv_out_indices(ctx, ns, true, idx, &n_idx));
    int total = 0;
    for (int i = 0; i < ns; i++)
        total += (int)depths[i];
    if (total > 4096)
        return mm_error_set_at(MM_EINVAL, here, "arch: too many blocks (%d)",
                               total);
    double dpr[4096];
    effconv_linspace_f32(dpr_rate, total, dpr);

    mm_module *m, *k, *seq, *mods[2];
    MM_TRY(mm_module_new(&convnext_class, sizeof(convnext), &m));
    convnext *x = (convnext *)m;
    x->n_stages = ns;
    x->frozen_stages = (int)frozen;
    x->gap_before_final_norm = gap;
    x->init_default = init_default;
    bool out_stage[MAX_STAGES] = {false};
    for (int i = 0; i < n_idx; i++)
        out_stage[idx[i]] = true;
    int rc = mm_module_list_new(0, NULL, &k);
    rc = rc ? rc : add(m, "downsample_layers", k, &x->downsample);
    rc = rc ? rc : mm_module_list_new(0, NULL, &k);
    rc = rc ? rc : add(m, "stages", k, &x->stages);
    int bi = 0;
    for (int i = 0; !rc && i < ns; i++) {
        mods[0] = mods[1] = NULL;
        if (i == 0) {
            rc = effconv_conv_new(ctx, "stem", NULL, in_ch, chans[0], patch,
                                  patch, 0, 1, 1, true, &mods[0]);
            rc = rc ? rc : cnx_norm(&c, chans[0], &mods[1]);
        } else {
            rc = cnx_norm(&c, chans[i - 1], &mods[0]);
            rc = rc ? rc
                    : effconv_conv_new(ctx, "downsample", NULL, chans[i - 1],
                                       chans[i], 2, 2, 0, 1, 1, true,
                                       &mods[1]);
        }
        if (rc) {
            mm_module_free(mods[0]);
            mm_module_free(mods[1]);
            break;
        }
        rc = mm_sequential_new(2, mods, &seq);
        rc = rc ? rc : mm_sequential_append(x->downsample, seq);
        rc = rc ? rc : mm_sequential_new(0, NULL, &seq);
        rc = rc ? rc : mm_sequential_append(x->stages, seq);
        for (int64_t j = 0; !rc && j < depths[i]; j++) {
            rc = cnx_block_new(&c, chans[i], dpr[bi++], &k);
            rc = rc ? rc : mm_sequential_append(seq, k);
        }
        if (!rc && out_stage[i]) {
            char name[16];
            snprintf(name, sizeof name, "norm%d", i);
            rc = cnx_norm(&c, chans[i], &k);
            rc = rc ? rc : add(m, name, k, &x->norms[i]);
        }
    }
    for (int i = 0; !rc && i < frozen; i++) {
        rc = effconv_freeze(x->downsample->children[i].module);
        rc = rc ? rc : effconv_freeze(x->stages->children[i].module);
    }
    if (!rc) {
        mm_no_grad_push();
        rc = cnx_init_weights(m);
        mm_no_grad_pop();
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param cnx_params[] = {
    {.name = "arch", .type = MM_PARAM_STRING | MM_PARAM_DICT, .def = "tiny",
     .doc = "atto .. huge, or {depths: [...], channels: [...]}"},
    {.name = "in_channels", .type = MM_PARAM_INT, .def = "3",
     .doc = "channels of the input image"},
    {.name = "stem_patch_size", .type = MM_PARAM_INT, .def = "4",
     .doc = "kernel and stride of the stem conv"},
    {.name = "norm_cfg", .type = MM_PARAM_DICT,
     .def = "{type: LN2d, eps: 1.0e-6}", .doc = "norm config (LN2d)"},
    {.name = "act_cfg", .type = MM_PARAM_DICT, .def = "{type: GELU}",
     .doc = "activation between the pointwise layers"},
    {.name = "linear_pw_conv", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "pointwise layers as Linear on (N, H, W, C) (else 1x1 convs)"},
    {.name = "use_grn", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "Global Response Normalization in the blocks (ConvNeXt v2)"},
    {.name = "drop_path_rate", .type = MM_PARAM_FLOAT, .def = "0",
     .doc = "stochastic depth rate, rising linearly over the blocks"},
    {.name = "layer_scale_init_value", .type = MM_PARAM_FLOAT,
     .def = "1.0e-6", .doc = "initial layer scale gamma (<= 0: none)"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "-1", .doc = "stages whose normalised outputs are returned"},
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "0",
     .doc = "stages 0 .. n-1 with their downsample frozen"},
    {.name = "gap_before_final_norm", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "pool to (N, C) before each output norm"},
    {.name = "with_cp", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "activation checkpointing (accepted; same results)"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = cnx_default_init,
     .doc = "mmpretrain's default, null (PyTorch's) or Pretrained entries"},
};

static const mm_component cnx_component = {
    .kind = MM_MODELS,
    .name = "ConvNeXt",
    .doc = "ConvNeXt v1/v2 backbone (mmpretrain's)",
    .params = cnx_params,
    .n_params = sizeof cnx_params / sizeof cnx_params[0],
    .build = cnx_build,
    .destroy = mmcls_module_destroy,
};

/* ---- torchvision.convnext ------------------------------------------------- */

static int tv_cnx_key(const char *k, int n_stages, char *dst, size_t size,
                      bool *layer_scale) {
    int s, j, b, used = 0;
    *layer_scale = false;
    if (strncmp(k, "classifier.0.", 13) == 0)
        return snprintf(dst, size, "backbone.norm%d.%s", n_stages - 1,
                        k + 13),
               0;
    if (strncmp(k, "classifier.2.", 13) == 0)
        return snprintf(dst, size, "head.fc.%s", k + 13), 0;
    if (sscanf(k, "features.%d.%n", &s, &used) != 1 || !used || s < 0 ||
        s > 2 * n_stages)
        return -1;
    const char *r = k + used;
    if (s % 2 == 0) { /* stem or downsample: Sequential of 2 */
        if ((r[0] != '0' && r[0] != '1') || r[1] != '.')
            return -1;
        return snprintf(dst, size, "backbone.downsample_layers.%d.%s", s / 2,
                        r),
               0;
    }
    used = 0;
    if (sscanf(r, "%d.%n", &j, &used) != 1 || !used || j < 0)
        return -1;
    r += used;
    if (strcmp(r, "layer_scale") == 0) {
        *layer_scale = true;
        return snprintf(dst, size, "backbone.stages.%d.%d.gamma", s / 2, j),
               0;
    }
    used = 0;
    if (sscanf(r, "block.%d.%n", &b, &used) != 1 || !used)
        return -1;
    const char *name = b == 0   ? "depthwise_conv"
                       : b == 2 ? "norm"
                       : b == 3 ? "pointwise_conv1"
                       : b == 5 ? "pointwise_conv2"
                                : NULL;
    if (!name)
        return -1;
    return snprintf(dst, size, "backbone.stages.%d.%d.%s.%s", s / 2, j, name,
                    r + used),
           0;
}

static int tv_cnx_map(const mm_state_dict *in, mm_state_dict *out) {
    /* the stages are the odd features.<s>: count them */
    int max_s = -1;
    for (size_t i = 0; i < in->n; i++) {
        int s;
        if (sscanf(in->items[i].name, "features.%d.", &s) == 1 && s > max_s &&
            s < 64)
            max_s = s;
    }
    int n_stages = (max_s + 1) / 2;
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    int rc = MM_OK;
    for (size_t i = 0; !rc && i < in->n; i++) {
        char name[256];
        bool ls;
        mm_tensor *t = in->items[i].tensor;
        if (n_stages < 1 ||
            tv_cnx_key(in->items[i].name, n_stages, name, sizeof name, &ls)) {
            rc = mm_error_set(MM_EINVAL,
                              "unknown key '%s' "
                              "(convnext_tiny .. large state dicts map to "
                              "mmpretrain's ConvNeXt)",
                              in->items[i].name);
            break;
        }
        if (ls) { /* torchvision's layer_scale (C, 1, 1) is gamma (C) */
            if (t->ndim != 3 || t->shape[1] != 1 || t->shape[2] != 1) {
                rc = mm_error_set(MM_EINVAL,
                                  "'%s' should be (C, "
                                  "1, 1)",
                                  in->items[i].name);
                break;
            }
            rc = mm_reshape(t, MM_SHAPE(t->shape[0]), &t);
        }
        if (!rc)
            rc = mm_state_dict_add(out, name, t);
    }
    mm_pool_close(pool);
    return rc;
}

static const mm_key_map tv_convnext = {
    .name = "torchvision.convnext",
    .doc = "torchvision convnext_tiny .. large -> mmcls ConvNeXt + "
           "LinearClsHead",
    .apply = tv_cnx_map,
};

int mmcls_register_convnext(void) {
    MM_TRY(mm_register(&cnx_component));
    return mm_key_map_register(&tv_convnext);
}
