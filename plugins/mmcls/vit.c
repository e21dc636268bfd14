/* VisionTransformer (mmpretrain/models/backbones/vision_transformer.py) with
 * its TransformerEncoderLayer and mmpretrain's MultiheadAttention
 * (models/utils/attention.py), and the key map "torchvision.vit" from
 * torchvision's VisionTransformer (vit_b_16, vit_b_32, vit_l_16, ...).
 *
 * Module names are mmpretrain's, so a state dict of mmpretrain's model
 * loads with no key map: cls_token, pos_embed, patch_embed.projection,
 * layers.<i>.{ln1, attn.qkv, attn.proj, ln2, ffn.layers.0.0,
 * ffn.layers.1}, pre_norm (pre_norm only), ln1 (final_norm), ln2
 * (out_type avg_featmap). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mm/autograd.h>
#include <mm/checkpoint.h>
#include <mm/nn.h>
#include <mm/ops.h>
#include <mm/registry.h>

#include "mmcls.h"
#include "transformer.h"

/* ---- MultiheadAttention (mmpretrain's) ------------------------------------ */

typedef struct vit_attn {
    mm_module base;
    int64_t embed_dims, num_heads;
    double attn_drop, proj_drop, drop_path;
    mm_module *qkv, *proj; /* children */
} vit_attn;

/* x (B, N, C) -> (B, N, C): qkv, attention per head, proj, dropout and
 * drop path (mmpretrain's out_drop). */
static int vit_attn_forward(mm_module *m, mm_tensor *x, mm_tensor **out) {
    vit_attn *a = (vit_attn *)m;
    int64_t B = x->shape[0], N = x->shape[1], h = a->num_heads;
    int64_t d = a->embed_dims / h;
    mm_tensor *qkv, *q, *k, *v, *y;
    MM_TRY(mm_linear_forward(a->qkv, x, &qkv)); /* (B, N, 3C) */
    MM_TRY(mm_reshape(qkv, MM_SHAPE(B, N, 3, h, d), &qkv));
    MM_TRY(mm_permute(qkv, MM_DIMS(2, 0, 3, 1, 4), &qkv)); /* (3, B, h, N, d) */
    MM_TRY(mm_select(qkv, 0, 0, &q));
    MM_TRY(mm_select(qkv, 0, 1, &k));
    MM_TRY(mm_select(qkv, 0, 2, &v));
    double p = m->training ? a->attn_drop : 0.0;
    MM_TRY(mm_scaled_dot_product_attention(q, k, v, NULL, p, false, NULL, NULL,
                                           &y)); /* (B, h, N, d) */
    MM_TRY(mm_transpose(y, 1, 2, &y));
    MM_TRY(mm_reshape(y, MM_SHAPE(B, N, a->embed_dims), &y));
    MM_TRY(mm_linear_forward(a->proj, y, &y));
    MM_TRY(mm_dropout(y, a->proj_drop, m->training, NULL, &y));
    return mm_drop_path(y, a->drop_path, m->training, true, NULL, out);
}

static int vit_attn_fwd(mm_module *m, int n, mm_tensor *const *in,
                        mm_tensor **out) {
    if (n != 1)
        return mm_error_set(MM_EINVAL, "MultiheadAttention takes one input");
    return vit_attn_forward(m, in[0], out);
}

static void vit_attn_repr(const mm_module *m, char *buf, size_t size) {
    const vit_attn *a = (const vit_attn *)m;
    snprintf(buf, size, "embed_dims=%lld, num_heads=%lld",
             (long long)a->embed_dims, (long long)a->num_heads);
}

static const mm_module_class vit_attn_class = {.name = "MultiheadAttention",
                                               .forward = vit_attn_fwd,
                                               .extra_repr = vit_attn_repr};

static int add_linear(mm_module *m, const char *name, int64_t in, int64_t out,
                      bool bias, mm_module **field) {
    mm_module *l;
    MM_TRY(mm_linear_new(in, out, bias, &l));
    *field = l;
    return mm_module_add_child(m, name, l);
}

static int vit_attn_new(int64_t embed_dims, int64_t num_heads, bool qkv_bias,
                        double attn_drop, double proj_drop, double drop_path,
                        mm_module **out) {
    mm_module *m;
    MM_TRY(mm_module_new(&vit_attn_class, sizeof(vit_attn), &m));
    vit_attn *a = (vit_attn *)m;
    a->embed_dims = embed_dims;
    a->num_heads = num_heads;
    a->attn_drop = attn_drop;
    a->proj_drop = proj_drop;
    a->drop_path = drop_path;
    int rc = add_linear(m, "qkv", embed_dims, 3 * embed_dims, qkv_bias,
                        &a->qkv);
    rc = rc ? rc : add_linear(m, "proj", embed_dims, embed_dims, true,
                              &a->proj);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- TransformerEncoderLayer ---------------------------------------------- */

typedef struct enc_layer {
    mm_module base;
    mm_module *ln1, *attn, *ln2, *ffn; /* children */
} enc_layer;

/* x = x + attn(ln1(x)); x = ffn(ln2(x), identity=x) */
static int enc_layer_forward(mm_module *m, mm_tensor *x, mm_tensor **out) {
    enc_layer *l = (enc_layer *)m;
    mm_tensor *y;
    MM_TRY(mm_norm_forward(l->ln1, x, &y));
    MM_TRY(vit_attn_forward(l->attn, y, &y));
    MM_TRY(mm_add(x, y, &x));
    MM_TRY(mm_norm_forward(l->ln2, x, &y));
    return mmcls_ffn_forward(l->ffn, y, x, out);
}

static int enc_layer_fwd(mm_module *m, int n, mm_tensor *const *in,
                         mm_tensor **out) {
    if (n != 1)
        return mm_error_set(MM_EINVAL,
                            "TransformerEncoderLayer takes one input");
    return enc_layer_forward(m, in[0], out);
}

static const mm_module_class enc_layer_class = {
    .name = "TransformerEncoderLayer", .forward = enc_layer_fwd};

static int enc_layer_new(int64_t E, int64_t heads, int64_t ffn_ch, double eps,
                         bool qkv_bias, double drop_rate, double drop_path,
                         mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&enc_layer_class, sizeof(enc_layer), &m));
    enc_layer *l = (enc_layer *)m;
    int rc = mmcls_ln_new(E, eps, &c);
    if (!rc) {
        l->ln1 = c;
        rc = mm_module_add_child(m, "ln1", c);
    }
    if (!rc && !(rc = vit_attn_new(E, heads, qkv_bias, 0.0, drop_rate,
                                   drop_path, &c))) {
        l->attn = c;
        rc = mm_module_add_child(m, "attn", c);
    }
    if (!rc && !(rc = mmcls_ln_new(E, eps, &c))) {
        l->ln2 = c;
        rc = mm_module_add_child(m, "ln2", c);
    }
    if (!rc && !(rc = mmcls_ffn_new(E, ffn_ch, drop_rate, drop_path, &c))) {
        l->ffn = c;
        rc = mm_module_add_child(m, "ffn", c);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- VisionTransformer ---------------------------------------------------- */

enum { OUT_RAW, OUT_CLS_TOKEN, OUT_FEATMAP, OUT_AVG_FEATMAP };

typedef struct vit {
    mm_module base;
    int64_t embed_dims, num_layers, num_extra_tokens;
    int64_t patch_res[2];
    int out_type;
    int n_out;
    int64_t out_indices[MM_MAX_OUTPUTS];
    bool final_norm;
    double drop_rate;
    mm_interp_mode interp;
    int64_t frozen_stages;
    mm_value *init_cfg; /* retained; may be NULL */
    mm_tensor *cls_token, *pos_embed; /* parameters; cls_token may be NULL */
    mm_module *patch_embed, *layers, *pre_norm, *ln1, *ln2; /* children */
} vit;

static bool vit_is_out(const vit *v, int64_t i) {
    for (int j = 0; j < v->n_out; j++)
        if (v->out_indices[j] == i)
            return true;
    return false;
}

static int vit_format(vit *v, mm_tensor *x, const int64_t hw[2],
                      mm_tensor **out) {
    int64_t B = x->shape[0], L = x->shape[1], C = x->shape[2];
    mm_tensor *p;
    switch (v->out_type) {
    case OUT_RAW:
        *out = x;
        return MM_OK;
    case OUT_CLS_TOKEN:
        return mm_select(x, 1, 0, out); /* (B, C) */
    case OUT_FEATMAP:
        MM_TRY(mm_narrow(x, 1, v->num_extra_tokens, L - v->num_extra_tokens,
                         &p));
        MM_TRY(mm_reshape(p, MM_SHAPE(B, hw[0], hw[1], C), &p));
        return mm_permute(p, MM_DIMS(0, 3, 1, 2), out); /* (B, C, h, w) */
    default: /* OUT_AVG_FEATMAP */
        MM_TRY(mm_narrow(x, 1, v->num_extra_tokens, L - v->num_extra_tokens,
                         &p));
        MM_TRY(mm_mean(p, MM_DIMS(1), false, &p));
        return mm_norm_forward(v->ln2, p, out); /* (B, C) */
    }
}

static int vit_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                             int cap, int *n_out, mm_tensor **outs) {
    vit *v = (vit *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "VisionTransformer takes one input");
    mm_tensor *x = in[0];
    int64_t B = x->shape[0], hw[2];
    MM_TRY(mmcls_patch_embed_forward(v->patch_embed, x, &x, hw)); /* (B,L,C) */
    if (v->cls_token) {
        mm_tensor *cls, *parts[2];
        MM_TRY(mm_expand(v->cls_token, MM_SHAPE(B, -1, -1), &cls));
        parts[0] = cls;
        parts[1] = x;
        MM_TRY(mm_cat(2, parts, 1, &x));
    }
    mm_tensor *pos;
    MM_TRY(mmcls_resize_pos_embed(v->pos_embed, v->patch_res, hw, v->interp,
                                  v->num_extra_tokens, &pos));
    MM_TRY(mm_add(x, pos, &x));
    MM_TRY(mm_dropout(x, v->drop_rate, m->training, NULL, &x));
    if (v->pre_norm)
        MM_TRY(mm_norm_forward(v->pre_norm, x, &x));
    int k = 0;
    for (int64_t i = 0; i < v->num_layers; i++) {
        mm_module *layer = v->layers->children[i].module;
        MM_TRY(enc_layer_forward(layer, x, &x));
        if (i == v->num_layers - 1 && v->final_norm)
            MM_TRY(mm_norm_forward(v->ln1, x, &x));
        if (vit_is_out(v, i)) {
            if (k >= cap)
                return mm_error_set(MM_EINVAL, "more outputs than %d", cap);
            MM_TRY(vit_format(v, x, hw, &outs[k++]));
        }
    }
    *n_out = k;
    return MM_OK;
}

/* mmpretrain's init: init_cfg on the whole backbone, then each layer's FFN
 * Linear layers xavier_uniform with N(0, 1e-6) biases, and pos_embed
 * trunc_normal(std 0.02) unless the init_cfg is Pretrained. cls_token
 * stays zero. */
static int vit_init_weights(mm_module *m) {
    vit *v = (vit *)m;
    MM_TRY(mmcls_apply_init_cfg(m, v->init_cfg));
    for (int64_t i = 0; i < v->num_layers; i++) {
        enc_layer *l = (enc_layer *)v->layers->children[i].module;
        mm_module *fc[2];
        mmcls_ffn_linears(l->ffn, &fc[0], &fc[1]);
        for (int j = 0; j < 2; j++) {
            mm_nn_linear *lin = (mm_nn_linear *)fc[j];
            MM_TRY(mm_init_xavier_uniform_(lin->weight, 1.0, NULL));
            MM_TRY(mm_init_normal_(lin->bias, 0.0, 1e-6, NULL));
        }
    }
    const mm_value *type = v->init_cfg && mm_value_is_dict(v->init_cfg)
                               ? mm_value_dict_get(v->init_cfg, "type")
                               : NULL;
    if (!(mm_value_is_string(type) &&
          !strcmp(mm_value_get_string(type), "Pretrained")))
        MM_TRY(mm_init_trunc_normal_(v->pos_embed, 0.0, 0.02, -2.0, 2.0,
                                     NULL));
    return MM_OK;
}

static void vit_fini(mm_module *m) { mm_value_release(((vit *)m)->init_cfg); }

static void vit_repr(const mm_module *m, char *buf, size_t size) {
    const vit *v = (const vit *)m;
    snprintf(buf, size, "embed_dims=%lld, num_layers=%lld",
             (long long)v->embed_dims, (long long)v->num_layers);
}

const mm_module_class mmcls_vit_class = {
    .name = "VisionTransformer",
    .forward = mm_module_forward_last,
    .init_weights = vit_init_weights,
    .fini = vit_fini,
    .extra_repr = vit_repr,
    .forward_multi = vit_forward_multi,
};

typedef struct vit_arch {
    const char *names[4];
    int64_t embed_dims, num_layers, num_heads, ffn;
} vit_arch;

static const vit_arch vit_archs[] = {
    {{"s", "small"}, 768, 8, 8, 768 * 3},
    {{"b", "base"}, 768, 12, 12, 3072},
    {{"l", "large"}, 1024, 24, 16, 4096},
    {{"h", "huge"}, 1280, 32, 16, 5120},
    {{"eva-g", "eva-giant"}, 1408, 40, 16, 6144},
    {{"deit-t", "deit-tiny"}, 192, 12, 3, 192 * 4},
    {{"deit-s", "deit-small", "dinov2-s", "dinov2-small"}, 384, 12, 6,
     384 * 4},
    {{"deit-b", "deit-base"}, 768, 12, 12, 768 * 4},
    {{"dinov2-g", "dinov2-giant"}, 1536, 40, 24, 6144},
};

/* The four numbers of arch: a name of the zoo (any case) or a dict with
 * embed_dims, num_layers, num_heads, feedforward_channels. */
static int parse_vit_arch(mm_build_ctx *ctx, vit_arch *out) {
    const mm_value *a = mm_build_arg(ctx, "arch");
    if (mm_value_is_string(a)) {
        const char *s = mm_value_get_string(a);
        for (size_t i = 0; i < sizeof vit_archs / sizeof *vit_archs; i++)
            for (int j = 0; j < 4 && vit_archs[i].names[j]; j++)
                if (!strcasecmp(s, vit_archs[i].names[j])) {
                    *out = vit_archs[i];
                    return MM_OK;
                }
        return mm_error_set_at(MM_EINVAL, mm_value_loc(a),
                               "arch: '%s' is not one of small, base, large, "
                               "huge, eva-giant, deit-tiny, deit-small, "
                               "deit-base, dinov2-small, dinov2-giant",
                               s);
    }
    const char *keys[4] = {"embed_dims", "num_layers", "num_heads",
                           "feedforward_channels"};
    int64_t *dst[4] = {&out->embed_dims, &out->num_layers, &out->num_heads,
                       &out->ffn};
    for (int i = 0; i < 4; i++) {
        const mm_value *x = mm_value_dict_get(a, keys[i]);
        if (!mm_value_is_int(x) || mm_value_get_int(x) <= 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(a),
                                   "arch: a custom arch needs a dict with "
                                   "positive ints embed_dims, num_layers, "
                                   "num_heads, feedforward_channels (%s)",
                                   keys[i]);
        *dst[i] = mm_value_get_int(x);
    }
    return MM_OK;
}

/* img_size: an int or [h, w]. */
static int parse_size2(mm_build_ctx *ctx, const char *param, int64_t out[2]) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (mm_value_is_int(v)) {
        out[0] = out[1] = mm_value_get_int(v);
    } else if (mm_value_len(v) == 2 &&
               mm_value_is_int(mm_value_list_get(v, 0)) &&
               mm_value_is_int(mm_value_list_get(v, 1))) {
        out[0] = mm_value_get_int(mm_value_list_get(v, 0));
        out[1] = mm_value_get_int(mm_value_list_get(v, 1));
    } else {
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: an int or [height, width]", param);
    }
    if (out[0] <= 0 || out[1] <= 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: must be positive", param);
    return MM_OK;
}

/* mmpretrain's _freeze_stages: pos_embed, patch_embed, pre_norm, cls_token
 * and layers[0, frozen_stages) stop requiring grad (and go to eval); all
 * layers frozen: the final norms too. */
static int vit_freeze(vit *v) {
    mm_module *mods[2] = {v->patch_embed, v->pre_norm};
    MM_TRY(mm_tensor_set_requires_grad(v->pos_embed, false));
    if (v->cls_token)
        MM_TRY(mm_tensor_set_requires_grad(v->cls_token, false));
    for (int i = 0; i < 2; i++)
        if (mods[i])
            MM_TRY(mmcls_freeze_module(mods[i]));
    for (int64_t i = 0; i < v->frozen_stages && i < v->num_layers; i++)
        MM_TRY(mmcls_freeze_module(v->layers->children[i].module));
    if (v->frozen_stages == v->num_layers) {
        mods[0] = v->ln1;
        mods[1] = v->ln2;
        for (int i = 0; i < 2; i++)
            if (mods[i])
                MM_TRY(mmcls_freeze_module(mods[i]));
    }
    return MM_OK;
}

static int add_ln(mm_module *m, const char *name, int64_t dim, double eps,
                  mm_module **field) {
    mm_module *c;
    MM_TRY(mmcls_ln_new(dim, eps, &c));
    *field = c;
    return mm_module_add_child(m, name, c);
}

static int vit_build(mm_build_ctx *ctx, void **out) {
    vit_arch arch;
    int64_t img[2], patch, in_ch, frozen;
    double drop_rate, dpr_max, eps, ls;
    bool qkv_bias, final_norm, with_cls, pre_norm;
    const char *out_type;
    mm_interp_mode interp;
    MM_TRY(parse_vit_arch(ctx, &arch));
    MM_TRY(parse_size2(ctx, "img_size", img));
    MM_TRY(mm_build_int(ctx, "patch_size", &patch));
    MM_TRY(mm_build_int(ctx, "in_channels", &in_ch));
    MM_TRY(mm_build_float(ctx, "drop_rate", &drop_rate));
    MM_TRY(mm_build_float(ctx, "drop_path_rate", &dpr_max));
    MM_TRY(mm_build_bool(ctx, "qkv_bias", &qkv_bias));
    MM_TRY(mmcls_parse_ln_cfg(ctx, "norm_cfg", 1e-5, &eps));
    MM_TRY(mm_build_bool(ctx, "final_norm", &final_norm));
    MM_TRY(mm_build_string(ctx, "out_type", &out_type));
    MM_TRY(mm_build_bool(ctx, "with_cls_token", &with_cls));
    MM_TRY(mm_build_int(ctx, "frozen_stages", &frozen));
    MM_TRY(mmcls_parse_interp_mode(ctx, "interpolate_mode", &interp));
    MM_TRY(mm_build_float(ctx, "layer_scale_init_value", &ls));
    MM_TRY(mm_build_bool(ctx, "pre_norm", &pre_norm));
    MM_TRY(mmcls_refuse_nonempty(ctx, "patch_cfg"));
    MM_TRY(mmcls_refuse_nonempty(ctx, "layer_cfgs"));
    MM_TRY(mmcls_check_init_cfg(ctx, "init_cfg"));
    const mm_srcloc *here = mm_value_loc(mm_build_node(ctx));
    if (ls != 0)
        return mm_error_set_at(MM_EUNSUPPORTED,
                               mm_value_loc(mm_build_arg(
                                   ctx, "layer_scale_init_value")),
                               "layer_scale_init_value: LayerScale is not "
                               "supported yet (use 0)");
    if (patch <= 0 || in_ch <= 0)
        return mm_error_set_at(MM_EINVAL, here,
                               "patch_size and in_channels must be positive");
    if (arch.embed_dims % arch.num_heads)
        return mm_error_set_at(MM_EINVAL, here,
                               "arch: embed_dims %lld is not a multiple of "
                               "num_heads %lld",
                               (long long)arch.embed_dims,
                               (long long)arch.num_heads);
    int ot = !strcmp(out_type, "raw")           ? OUT_RAW
             : !strcmp(out_type, "cls_token")   ? OUT_CLS_TOKEN
             : !strcmp(out_type, "featmap")     ? OUT_FEATMAP
             : !strcmp(out_type, "avg_featmap") ? OUT_AVG_FEATMAP
                                                : -1;
    if (ot < 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "out_type")),
                               "out_type: Unsupported `out_type` %s, please "
                               "choose from raw, cls_token, featmap, "
                               "avg_featmap",
                               out_type);
    if (!with_cls && ot == OUT_CLS_TOKEN)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx,
                                                         "with_cls_token")),
                               "with_cls_token must be True when "
                               "`out_type=\"cls_token\"`.");
    int64_t E = arch.embed_dims, nl = arch.num_layers;
    mm_module *m, *c;
    MM_TRY(mm_module_new(&mmcls_vit_class, sizeof(vit), &m));
    vit *v = (vit *)m;
    v->embed_dims = E;
    v->num_layers = nl;
    v->out_type = ot;
    v->final_norm = final_norm;
    v->drop_rate = drop_rate;
    v->interp = interp;
    v->frozen_stages = frozen;
    v->num_extra_tokens = with_cls ? 1 : 0;
    const mm_value *ic = mm_build_arg(ctx, "init_cfg");
    v->init_cfg = mm_value_is_null(ic) ? NULL : mm_value_retain((mm_value *)ic);
    int rc = mmcls_parse_out_indices(ctx, nl, nl, v->out_indices, &v->n_out);
    mm_tensor *t = NULL;
    mm_pool *pool;
    if (!rc && !(rc = mm_pool_open(&pool))) {
        if (with_cls) {
            rc = mm_zeros(MM_SHAPE(1, 1, E), MM_F32, &t);
            if (!rc)
                rc = mm_module_add_parameter(m, "cls_token", t, &v->cls_token);
        }
        if (!rc && !(rc = mmcls_patch_embed_new(in_ch, E, patch, !pre_norm,
                                                0.0, &c))) {
            v->patch_embed = c;
            mmcls_patch_embed_out_size(c, img, v->patch_res);
            rc = mm_module_add_child(m, "patch_embed", c);
        }
        int64_t L = v->patch_res[0] * v->patch_res[1] + v->num_extra_tokens;
        if (!rc)
            rc = mm_zeros(MM_SHAPE(1, L, E), MM_F32, &t);
        if (!rc)
            rc = mm_module_add_parameter(m, "pos_embed", t, &v->pos_embed);
        mm_pool_close(pool);
    }
    if (!rc && !(rc = mm_module_list_new(0, NULL, &c))) {
        v->layers = c;
        rc = mm_module_add_child(m, "layers", c);
    }
    double dpr[nl > 0 ? nl : 1];
    mmcls_linspace(0.0, dpr_max, (int)nl, dpr);
    for (int64_t i = 0; !rc && i < nl; i++)
        if (!(rc = enc_layer_new(E, arch.num_heads, arch.ffn, eps, qkv_bias,
                                 drop_rate, dpr[i], &c)))
            rc = mm_sequential_append(v->layers, c);
    if (!rc && pre_norm)
        rc = add_ln(m, "pre_norm", E, eps, &v->pre_norm);
    if (!rc && final_norm)
        rc = add_ln(m, "ln1", E, eps, &v->ln1);
    if (!rc && ot == OUT_AVG_FEATMAP)
        rc = add_ln(m, "ln2", E, eps, &v->ln2);
    if (!rc)
        rc = mm_module_init_weights(m);
    if (!rc && frozen > 0)
        rc = vit_freeze(v);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

#define INIT_CFG_TYPES (MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL)

static const mm_param vit_params[] = {
    {.name = "arch", .type = MM_PARAM_STRING | MM_PARAM_DICT, .def = "base",
     .doc = "small, base, large, huge, deit-tiny, deit-small, deit-base, ... "
            "or {embed_dims, num_layers, num_heads, feedforward_channels}"},
    {.name = "img_size", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "224",
     .doc = "input size the position embedding is made for"},
    {.name = "patch_size", .type = MM_PARAM_INT, .def = "16",
     .doc = "patch (and stride) of the patch embedding"},
    {.name = "in_channels", .type = MM_PARAM_INT, .def = "3",
     .doc = "input channels"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "-1",
     .doc = "layers whose output is returned (negative: from the end)"},
    {.name = "drop_rate", .type = MM_PARAM_FLOAT, .def = "0.0",
     .doc = "dropout after the position embedding and in the layers"},
    {.name = "drop_path_rate", .type = MM_PARAM_FLOAT, .def = "0.0",
     .doc = "stochastic depth, linearly increasing to this rate"},
    {.name = "qkv_bias", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "bias of the qkv projection"},
    {.name = "norm_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "{type: LN, eps: 1.0e-6}", .doc = "normalization (LN only)"},
    {.name = "final_norm", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "LayerNorm (ln1) after the last layer"},
    {.name = "out_type", .type = MM_PARAM_STRING, .def = "cls_token",
     .doc = "raw, cls_token, featmap or avg_featmap"},
    {.name = "with_cls_token", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "prepend a class token"},
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "-1",
     .doc = "layers to freeze (with the embeddings); -1: none"},
    {.name = "interpolate_mode", .type = MM_PARAM_STRING, .def = "bicubic",
     .doc = "how pos_embed is resized for other input sizes"},
    {.name = "layer_scale_init_value", .type = MM_PARAM_FLOAT, .def = "0.0",
     .doc = "LayerScale init (only 0 is supported)"},
    {.name = "patch_cfg", .type = MM_PARAM_DICT, .def = "{}",
     .doc = "extra PatchEmbed arguments (must be empty)"},
    {.name = "layer_cfgs", .type = MM_PARAM_DICT | MM_PARAM_LIST, .def = "{}",
     .doc = "extra layer arguments (must be empty)"},
    {.name = "pre_norm", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "LayerNorm before the layers (and no patch-embedding bias)"},
    {.name = "init_cfg", .type = INIT_CFG_TYPES, .def = "null",
     .doc = "initialisers (Kaiming, TruncNormal, ...) or Pretrained"},
};

static const mm_component vit_component = {
    .kind = MM_MODELS,
    .name = "VisionTransformer",
    .doc = "Vision Transformer (ViT, DeiT) backbone as mmpretrain's",
    .params = vit_params,
    .n_params = sizeof vit_params / sizeof vit_params[0],
    .build = vit_build,
    .destroy = mmcls_module_destroy,
};

/* ---- key map: torchvision's VisionTransformer ----------------------------- */

/* One encoder layer key ("ln_1.weight") of layer i. */
static int map_tv_vit_layer(const char *key, int i, const char *rest,
                            mm_tensor *t, mm_state_dict *out) {
    static const char *const from[] = {
        "ln_1.",  "self_attention.in_proj_weight",
        "self_attention.in_proj_bias", "self_attention.out_proj.",
        "ln_2.",  "mlp.0.", "mlp.3.", "mlp.linear_1.", "mlp.linear_2."};
    static const char *const to[] = {
        "ln1.", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.",
        "ln2.", "ffn.layers.0.0.", "ffn.layers.1.", "ffn.layers.0.0.",
        "ffn.layers.1."};
    for (size_t k = 0; k < sizeof from / sizeof *from; k++) {
        const char *tail = mmcls_key_rest(rest, from[k]);
        if (tail)
            return mmcls_sd_addf(out, t, "backbone.layers.%d.%s%s", i, to[k], tail);
    }
    return mm_error_set(MM_EINVAL, "unknown key '%s'", key);
}

static int map_tv_vit(const mm_state_dict *in, mm_state_dict *out) {
    for (size_t i = 0; i < in->n; i++) {
        const char *k = in->items[i].name, *r;
        mm_tensor *t = in->items[i].tensor;
        int rc;
        if (!strcmp(k, "class_token"))
            rc = mmcls_sd_addf(out, t, "backbone.cls_token");
        else if (!strcmp(k, "encoder.pos_embedding"))
            rc = mmcls_sd_addf(out, t, "backbone.pos_embed");
        else if ((r = mmcls_key_rest(k, "conv_proj.")))
            rc = mmcls_sd_addf(out, t, "backbone.patch_embed.projection.%s", r);
        else if ((r = mmcls_key_rest(k, "encoder.ln.")))
            rc = mmcls_sd_addf(out, t, "backbone.ln1.%s", r);
        else if ((r = mmcls_key_rest(k, "heads.head.")))
            rc = mmcls_sd_addf(out, t, "head.layers.head.%s", r);
        else if ((r = mmcls_key_rest(k, "heads.pre_logits.")))
            rc = mmcls_sd_addf(out, t, "head.layers.pre_logits.%s", r);
        else if ((r = mmcls_key_rest(k, "encoder.layers.encoder_layer_"))) {
            char *end;
            long li = strtol(r, &end, 10);
            if (end == r || *end != '.' || li < 0 || li > 1000)
                return mm_error_set(MM_EINVAL,
                                    "unknown key '%s'", k);
            rc = map_tv_vit_layer(k, (int)li, end + 1, t, out);
        } else
            return mm_error_set(MM_EINVAL,
                                "unknown key '%s'", k);
        MM_TRY(rc);
    }
    return MM_OK;
}

static const mm_key_map tv_vit_map = {
    .name = "torchvision.vit",
    .doc = "torchvision vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14 -> "
           "VisionTransformer + VisionTransformerClsHead",
    .apply = map_tv_vit,
};

int mmcls_register_vit(void) {
    MM_TRY(mm_register(&vit_component));
    return mm_key_map_register(&tv_vit_map);
}
