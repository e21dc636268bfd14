/* Shared transformer pieces of the mmcls plugin: mmcv's FFN and PatchEmbed
 * (mmcv/cnn/bricks/transformer.py), mmpretrain's resize_pos_embed
 * (mmpretrain/models/utils/embed.py) and mmengine's init_cfg initialisers
 * (mmengine/model/weight_init.py), with mmcv's module names so that
 * state_dict keys are mmpretrain's. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/nn.h>
#include <mm/ops.h>
#include <mm/reduction.h>
#include <mm/registry.h>

#include "transformer.h"

void mmcls_linspace(double start, double end, int n, double *out) {
    for (int i = 0; i < n; i++)
        out[i] = n > 1 ? start + (end - start) * i / (n - 1) : start;
}

/* ---- LayerNorm from norm_cfg ---------------------------------------------- */

int mmcls_parse_ln_cfg(mm_build_ctx *ctx, const char *param,
                       double default_eps, double *eps) {
    const mm_value *v = mm_build_arg(ctx, param);
    *eps = default_eps;
    if (mm_value_is_null(v))
        return MM_OK;
    const mm_value *type = mm_value_dict_get(v, "type");
    const char *t = mm_value_is_string(type) ? mm_value_get_string(type) : "";
    if (strcmp(t, "LN") && strcmp(t, "LayerNorm"))
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(v),
                               "%s.type: only LN (LayerNorm) is supported "
                               "here, got '%s'",
                               param, t);
    for (size_t i = 0; i < mm_value_len(v); i++) {
        const char *k = mm_value_dict_key_at(v, i);
        const mm_value *x = mm_value_dict_value_at(v, i);
        if (!strcmp(k, "type"))
            continue;
        if (!strcmp(k, "eps") && mm_value_is_number(x)) {
            *eps = mm_value_get_float(x);
            continue;
        }
        if (!strcmp(k, "requires_grad") && mm_value_is_bool(x) &&
            mm_value_get_bool(x))
            continue;
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(x),
                               "%s.%s: not supported (LN takes eps)", param,
                               k);
    }
    if (!(*eps > 0))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s.eps: must be positive", param);
    return MM_OK;
}

int mmcls_ln_new(int64_t dim, double eps, mm_module **out) {
    return mm_layer_norm_new(1, &dim, eps, true, true, out);
}

/* ---- FFN ------------------------------------------------------------------ */

typedef struct ffn {
    mm_module base;
    mm_module *layers; /* child */
    double drop_path;
} ffn;

int mmcls_ffn_forward(mm_module *m, mm_tensor *x, mm_tensor *identity,
                      mm_tensor **out) {
    ffn *f = (ffn *)m;
    mm_tensor *y;
    MM_TRY(mm_sequential_forward(f->layers, x, &y));
    MM_TRY(mm_drop_path(y, f->drop_path, m->training, true, NULL, &y));
    return mm_add(identity ? identity : x, y, out);
}

static int ffn_forward(mm_module *m, int n, mm_tensor *const *in,
                       mm_tensor **out) {
    if (n != 1 && n != 2)
        return mm_error_set(MM_EINVAL, "FFN takes x and an optional identity");
    return mmcls_ffn_forward(m, in[0], n == 2 ? in[1] : NULL, out);
}

const mm_module_class mmcls_ffn_class = {.name = "FFN",
                                         .forward = ffn_forward};

void mmcls_ffn_linears(mm_module *m, mm_module **fc1, mm_module **fc2) {
    mm_module *layers = ((ffn *)m)->layers;
    *fc1 = mm_module_find(layers, "0.0");
    *fc2 = mm_module_find(layers, "1");
}

int mmcls_ffn_new(int64_t embed_dims, int64_t feedforward_channels,
                  double ffn_drop, double drop_path, mm_module **out) {
    mm_module *m, *a[3] = {0}, *b[3] = {0}, *inner = NULL, *seq = NULL;
    MM_TRY(mm_module_new(&mmcls_ffn_class, sizeof(ffn), &m));
    ((ffn *)m)->drop_path = drop_path;
    int rc = mm_linear_new(embed_dims, feedforward_channels, true, &a[0]);
    rc = rc ? rc : mm_gelu_new(NULL, &a[1]);
    rc = rc ? rc : mm_dropout_new(ffn_drop, &a[2]);
    if (rc)
        for (int i = 0; i < 3; i++)
            mm_module_free(a[i]);
    else
        rc = mm_sequential_new(3, a, &inner);
    b[0] = inner;
    rc = rc ? rc : mm_linear_new(feedforward_channels, embed_dims, true, &b[1]);
    rc = rc ? rc : mm_dropout_new(ffn_drop, &b[2]);
    if (rc)
        for (int i = 0; i < 3; i++)
            mm_module_free(b[i]);
    else
        rc = mm_sequential_new(3, b, &seq);
    if (!rc) {
        ((ffn *)m)->layers = seq;
        rc = mm_module_add_child(m, "layers", seq);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- PatchEmbed ----------------------------------------------------------- */

typedef struct patch_embed {
    mm_module base;
    int64_t patch;
    mm_module *projection, *norm; /* children; norm may be NULL */
} patch_embed;

int mmcls_patch_embed_forward(mm_module *m, mm_tensor *x, mm_tensor **out,
                              int64_t hw[2]) {
    patch_embed *p = (patch_embed *)m;
    if (x->ndim != 4) {
        char buf[64];
        return mm_error_set(MM_EINVAL, "PatchEmbed needs (B, C, H, W), got %s",
                            mm_shape_format(x->ndim, x->shape, buf,
                                            sizeof buf));
    }
    /* AdaptivePadding 'corner': pad right and bottom to a multiple of the
     * stride (kernel == stride, dilation 1). */
    int64_t ph = (p->patch - x->shape[2] % p->patch) % p->patch;
    int64_t pw = (p->patch - x->shape[3] % p->patch) % p->patch;
    if (ph || pw) {
        const int64_t pads[4] = {0, pw, 0, ph};
        MM_TRY(mm_pad(x, 4, pads, MM_PAD_CONSTANT, 0.0, &x));
    }
    MM_TRY(mm_conv_forward(p->projection, x, &x)); /* (B, E, h, w) */
    hw[0] = x->shape[2];
    hw[1] = x->shape[3];
    MM_TRY(mm_flatten(x, 2, -1, &x));
    MM_TRY(mm_transpose(x, 1, 2, &x)); /* (B, h*w, E) */
    if (p->norm)
        return mm_norm_forward(p->norm, x, out);
    *out = x;
    return MM_OK;
}

static int patch_embed_fwd(mm_module *m, int n, mm_tensor *const *in,
                           mm_tensor **out) {
    int64_t hw[2];
    if (n != 1)
        return mm_error_set(MM_EINVAL, "PatchEmbed takes one input");
    return mmcls_patch_embed_forward(m, in[0], out, hw);
}

const mm_module_class mmcls_patch_embed_class = {.name = "PatchEmbed",
                                                 .forward = patch_embed_fwd};

void mmcls_patch_embed_out_size(mm_module *m, const int64_t img[2],
                                int64_t out[2]) {
    int64_t s = ((patch_embed *)m)->patch;
    for (int i = 0; i < 2; i++)
        out[i] = (img[i] + s - 1) / s;
}

int mmcls_patch_embed_new(int64_t in_channels, int64_t embed_dims,
                          int64_t patch_size, bool bias, double norm_eps,
                          mm_module **out) {
    mm_module *m, *c = NULL, *n = NULL;
    MM_TRY(mm_module_new(&mmcls_patch_embed_class, sizeof(patch_embed), &m));
    patch_embed *p = (patch_embed *)m;
    p->patch = patch_size;
    const int64_t k[2] = {patch_size, patch_size};
    mm_conv_options o = {.nsp = 2, .in_channels = in_channels,
                         .out_channels = embed_dims, .kernel_size = k,
                         .stride = k, .groups = 1, .bias = bias};
    int rc = mm_conv_new(&o, &c);
    if (!rc) {
        p->projection = c;
        rc = mm_module_add_child(m, "projection", c);
    }
    if (!rc && norm_eps > 0) {
        rc = mmcls_ln_new(embed_dims, norm_eps, &n);
        if (!rc) {
            p->norm = n;
            rc = mm_module_add_child(m, "norm", n);
        }
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- resize_pos_embed ----------------------------------------------------- */

int mmcls_resize_pos_embed(mm_tensor *pos, const int64_t src[2],
                           const int64_t dst[2], mm_interp_mode mode,
                           int64_t num_extra_tokens, mm_tensor **out) {
    if (src[0] == dst[0] && src[1] == dst[1]) {
        *out = pos;
        return MM_OK;
    }
    int64_t L = pos->shape[1], C = pos->shape[2];
    if (pos->ndim != 3 || L != src[0] * src[1] + num_extra_tokens)
        return mm_error_set(MM_EINVAL,
                            "The length of `pos_embed` (%lld) doesn't match "
                            "the expected shape (%lld*%lld+%lld). Please "
                            "check the `img_size` argument.",
                            (long long)L, (long long)src[0],
                            (long long)src[1], (long long)num_extra_tokens);
    mm_tensor *extra, *w;
    MM_TRY(mm_narrow(pos, 1, 0, num_extra_tokens, &extra));
    MM_TRY(mm_narrow(pos, 1, num_extra_tokens, L - num_extra_tokens, &w));
    MM_TRY(mm_reshape(w, MM_SHAPE(1, src[0], src[1], C), &w));
    MM_TRY(mm_permute(w, MM_DIMS(0, 3, 1, 2), &w)); /* (1, C, sh, sw) */
    MM_TRY(mm_interpolate(w, dst, NULL, mode, false, &w));
    MM_TRY(mm_flatten(w, 2, -1, &w));
    MM_TRY(mm_transpose(w, 1, 2, &w)); /* (1, dh*dw, C) */
    mm_tensor *parts[2] = {extra, w};
    return mm_cat(2, parts, 1, out);
}

int mmcls_parse_interp_mode(mm_build_ctx *ctx, const char *param,
                            mm_interp_mode *out) {
    const char *s;
    MM_TRY(mm_build_string(ctx, param, &s));
    if (!strcmp(s, "bicubic"))
        *out = MM_INTERP_BICUBIC;
    else if (!strcmp(s, "bilinear"))
        *out = MM_INTERP_BILINEAR;
    else if (!strcmp(s, "nearest"))
        *out = MM_INTERP_NEAREST;
    else
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, param)),
                               "%s: '%s' is not bicubic, bilinear or nearest",
                               param, s);
    return MM_OK;
}

/* ---- init_cfg ------------------------------------------------------------- */

static const char *const init_types[] = {"Constant",    "Normal",
                                         "TruncNormal", "Uniform",
                                         "Kaiming",     "Xavier",
                                         "Pretrained"};

static const char *const init_keys[] = {
    "type", "layer", "val",  "bias", "mean",         "std",
    "a",    "b",     "mode", "nonlinearity", "distribution", "gain",
    "checkpoint", "prefix", "map_location"};

static int check_one_init(const mm_value *d, const char *param) {
    const mm_value *type = mm_value_is_dict(d) ? mm_value_dict_get(d, "type")
                                               : NULL;
    if (!mm_value_is_string(type))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                               "%s: each initialiser needs a string `type`",
                               param);
    const char *t = mm_value_get_string(type);
    size_t i;
    for (i = 0; i < sizeof init_types / sizeof *init_types; i++)
        if (!strcmp(t, init_types[i]))
            break;
    if (i == sizeof init_types / sizeof *init_types)
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(type),
                               "%s.type: '%s' is not supported (Constant, "
                               "Normal, TruncNormal, Uniform, Kaiming, "
                               "Xavier, Pretrained)",
                               param, t);
    for (size_t k = 0; k < mm_value_len(d); k++) {
        const char *key = mm_value_dict_key_at(d, k);
        size_t j;
        for (j = 0; j < sizeof init_keys / sizeof *init_keys; j++)
            if (!strcmp(key, init_keys[j]))
                break;
        if (j == sizeof init_keys / sizeof *init_keys)
            return mm_error_set_at(MM_EUNSUPPORTED,
                                   mm_value_loc(mm_value_dict_value_at(d, k)),
                                   "%s.%s: not supported by the %s "
                                   "initialiser here",
                                   param, key, t);
    }
    if (strcmp(t, "Pretrained") && !mm_value_dict_get(d, "layer"))
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(d),
                               "%s: a %s initialiser needs `layer` (the "
                               "class names it applies to)",
                               param, t);
    return MM_OK;
}

int mmcls_check_init_cfg(mm_build_ctx *ctx, const char *param) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (mm_value_is_null(v))
        return MM_OK;
    if (mm_value_is_dict(v))
        return check_one_init(v, param);
    for (size_t i = 0; i < mm_value_len(v); i++)
        MM_TRY(check_one_init(mm_value_list_get(v, i), param));
    return MM_OK;
}

static double num_or(const mm_value *d, const char *key, double def) {
    const mm_value *x = mm_value_dict_get(d, key);
    return mm_value_is_number(x) ? mm_value_get_float(x) : def;
}

static const char *str_or(const mm_value *d, const char *key,
                          const char *def) {
    const mm_value *x = mm_value_dict_get(d, key);
    return mm_value_is_string(x) ? mm_value_get_string(x) : def;
}

static bool layer_matches(const mm_value *layer, const char *cls) {
    if (mm_value_is_string(layer))
        return !strcmp(mm_value_get_string(layer), cls);
    for (size_t i = 0; i < mm_value_len(layer); i++) {
        const mm_value *e = mm_value_list_get(layer, i);
        if (mm_value_is_string(e) && !strcmp(mm_value_get_string(e), cls))
            return true;
    }
    return false;
}

typedef struct init_walk {
    const mm_value *d;
    const char *type;
} init_walk;

static int init_module(const char *name, mm_module *m, void *user) {
    (void)name;
    init_walk *w = user;
    const mm_value *d = w->d;
    if (!layer_matches(mm_value_dict_get(d, "layer"), m->cls->name))
        return MM_OK;
    mm_tensor *weight = mm_module_get_parameter(m, "weight");
    mm_tensor *bias = mm_module_get_parameter(m, "bias");
    const char *t = w->type;
    if (weight) {
        if (!strcmp(t, "Constant"))
            MM_TRY(mm_init_constant_(weight, num_or(d, "val", 0)));
        else if (!strcmp(t, "Normal"))
            MM_TRY(mm_init_normal_(weight, num_or(d, "mean", 0),
                                   num_or(d, "std", 1), NULL));
        else if (!strcmp(t, "TruncNormal"))
            MM_TRY(mm_init_trunc_normal_(weight, num_or(d, "mean", 0),
                                         num_or(d, "std", 1),
                                         num_or(d, "a", -2),
                                         num_or(d, "b", 2), NULL));
        else if (!strcmp(t, "Uniform"))
            MM_TRY(mm_init_uniform_(weight, num_or(d, "a", 0),
                                    num_or(d, "b", 1), NULL));
        else if (!strcmp(t, "Kaiming")) {
            const char *mode = str_or(d, "mode", "fan_out");
            const char *nl = str_or(d, "nonlinearity", "relu");
            if (!strcmp(str_or(d, "distribution", "normal"), "uniform"))
                MM_TRY(mm_init_kaiming_uniform_(weight, num_or(d, "a", 0),
                                                mode, nl, NULL));
            else
                MM_TRY(mm_init_kaiming_normal_(weight, num_or(d, "a", 0),
                                               mode, nl, NULL));
        } else if (!strcmp(t, "Xavier")) {
            if (!strcmp(str_or(d, "distribution", "normal"), "uniform"))
                MM_TRY(mm_init_xavier_uniform_(weight, num_or(d, "gain", 1),
                                               NULL));
            else
                MM_TRY(mm_init_xavier_normal_(weight, num_or(d, "gain", 1),
                                              NULL));
        }
    }
    if (bias)
        MM_TRY(mm_init_constant_(bias, num_or(d, "bias", 0)));
    return MM_OK;
}

static int apply_one(mm_module *m, const mm_value *d) {
    init_walk w = {.d = d, .type = str_or(d, "type", "")};
    if (!strcmp(w.type, "Pretrained"))
        return MM_OK; /* the core loads checkpoints */
    return mm_module_named_modules(m, init_module, &w);
}

int mmcls_apply_init_cfg(mm_module *m, const mm_value *init_cfg) {
    if (!init_cfg || mm_value_is_null(init_cfg))
        return MM_OK;
    if (mm_value_is_dict(init_cfg))
        return apply_one(m, init_cfg);
    for (size_t i = 0; i < mm_value_len(init_cfg); i++)
        MM_TRY(apply_one(m, mm_value_list_get(init_cfg, i)));
    return MM_OK;
}

/* ---- build helpers -------------------------------------------------------- */

int mmcls_parse_out_indices(mm_build_ctx *ctx, int64_t n, int64_t max,
                            int64_t *out, int *n_out) {
    const mm_value *v = mm_build_arg(ctx, "out_indices");
    size_t len = mm_value_is_list(v) ? mm_value_len(v) : 1;
    if (len > MM_MAX_OUTPUTS)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "out_indices: at most %d entries",
                               MM_MAX_OUTPUTS);
    for (size_t i = 0; i < len; i++) {
        const mm_value *e = mm_value_is_list(v) ? mm_value_list_get(v, i) : v;
        if (!mm_value_is_int(e))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "out_indices: ints expected");
        int64_t k = mm_value_get_int(e);
        if (k < 0)
            k += n;
        if (k < 0 || k > max)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "out_indices: Invalid out_indices %lld",
                                   (long long)mm_value_get_int(e));
        out[i] = k;
    }
    *n_out = (int)len;
    return MM_OK;
}

int mmcls_refuse_nonempty(mm_build_ctx *ctx, const char *param) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (mm_value_is_null(v) || mm_value_len(v) == 0)
        return MM_OK;
    return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(v),
                           "%s: not supported yet (must be empty)", param);
}

static int freeze_param(const char *name, mm_tensor *t, void *user) {
    (void)name;
    (void)user;
    return mm_tensor_set_requires_grad(t, false);
}

int mmcls_freeze_module(mm_module *m) {
    mm_module_eval(m);
    return mm_module_named_parameters(m, freeze_param, NULL);
}

const char *mmcls_key_rest(const char *s, const char *p) {
    size_t n = strlen(p);
    return strncmp(s, p, n) ? NULL : s + n;
}

int mmcls_sd_addf(mm_state_dict *out, mm_tensor *t, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return mm_state_dict_add(out, name, t);
}
