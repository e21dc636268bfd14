/* Shared by RegNet, EfficientNet and ConvNeXt: LN2d (mmpretrain's
 * LayerNorm2d), Conv2dAdaptivePadding (mmcv), and the helpers that build
 * sub-layers from mmcv-style configs (see effconv.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/reduction.h>

#include "effconv.h"
#include "mmcls.h"

/* ---- LN2d ---------------------------------------------------------------- */

/* channel-first: (N, C, H, W) -> permute to (N, H, W, C), layer norm over C,
 * back to (N, C, H, W) made contiguous, as mmpretrain's forward. */
int mmcls_ln2d_forward(mm_module *m, mm_tensor *x, bool channel_last,
                       mm_tensor **out) {
    mmcls_ln2d *l = (mmcls_ln2d *)m;
    int64_t c = channel_last ? x->shape[x->ndim - 1] : x->shape[1];
    if (x->ndim != 4 || c != l->num_channels) {
        char buf[64];
        return mm_error_set(MM_EINVAL,
                            "LayerNorm2d(%lld) needs a 4-d input with %lld "
                            "channels %s, got %s",
                            (long long)l->num_channels,
                            (long long)l->num_channels,
                            channel_last ? "last" : "at dim 1",
                            mm_shape_format(x->ndim, x->shape, buf,
                                            sizeof buf));
    }
    const int64_t ns[1] = {l->num_channels};
    if (channel_last)
        return mm_layer_norm(x, 1, ns, l->weight, l->bias, l->eps, out);
    mm_tensor *y;
    MM_TRY(mm_permute(x, 4, (const int[]){0, 2, 3, 1}, &y)); /* (N, H, W, C) */
    MM_TRY(mm_layer_norm(y, 1, ns, l->weight, l->bias, l->eps, &y));
    MM_TRY(mm_permute(y, 4, (const int[]){0, 3, 1, 2}, &y)); /* (N, C, H, W) */
    return mm_contiguous(y, out);
}

static int ln2d_fwd(mm_module *m, int n, mm_tensor *const *in,
                    mm_tensor **out) {
    if (n != 1)
        return mm_error_set(MM_EINVAL, "LayerNorm2d takes one input, got %d",
                            n);
    return mmcls_ln2d_forward(m, in[0], false, out);
}

static int ln2d_init(mm_module *m) {
    mmcls_ln2d *l = (mmcls_ln2d *)m;
    if (l->weight)
        MM_TRY(mm_init_ones_(l->weight));
    if (l->bias)
        MM_TRY(mm_init_zeros_(l->bias));
    return MM_OK;
}

static void ln2d_repr(const mm_module *m, char *buf, size_t size) {
    const mmcls_ln2d *l = (const mmcls_ln2d *)m;
    snprintf(buf, size, "(%lld,), eps=%g, elementwise_affine=%s",
             (long long)l->num_channels, l->eps, l->weight ? "True" : "False");
}

const mm_module_class mmcls_ln2d_class = {
    .name = "LayerNorm2d",
    .forward = ln2d_fwd,
    .init_weights = ln2d_init,
    .extra_repr = ln2d_repr,
};

/* A new f32 parameter (filled by the caller's init). The tensor is made
 * in a pool of its own: whether the caller has one open or not, the
 * module's reference is the only one left. */
static int add_param(mm_module *m, const char *name, int ndim,
                     const int64_t *shape, mm_tensor **field) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *t = NULL;
    int rc = mm_zeros(ndim, shape, MM_F32, &t);
    if (!rc)
        rc = mm_module_add_parameter(m, name, t, field);
    mm_pool_close(pool);
    return rc;
}

int mmcls_ln2d_new(int64_t num_channels, double eps, bool affine,
                   mm_module **out) {
    if (num_channels < 1)
        return mm_error_set(MM_EINVAL,
                            "LayerNorm2d: num_channels must be positive, got "
                            "%lld",
                            (long long)num_channels);
    mm_module *m;
    MM_TRY(mm_module_new(&mmcls_ln2d_class, sizeof(mmcls_ln2d), &m));
    mmcls_ln2d *l = (mmcls_ln2d *)m;
    l->num_channels = num_channels;
    l->eps = eps;
    int rc = MM_OK;
    if (affine) {
        rc = add_param(m, "weight", MM_SHAPE(num_channels), &l->weight);
        if (!rc)
            rc = add_param(m, "bias", MM_SHAPE(num_channels), &l->bias);
    }
    if (!rc) {
        mm_no_grad_push();
        rc = ln2d_init(m);
        mm_no_grad_pop();
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static int ln2d_build(mm_build_ctx *ctx, void **out) {
    int64_t c;
    double eps;
    bool affine, rg;
    MM_TRY(mm_build_int(ctx, "num_channels", &c));
    MM_TRY(mm_build_float(ctx, "eps", &eps));
    MM_TRY(mm_build_bool(ctx, "elementwise_affine", &affine));
    MM_TRY(mm_build_bool(ctx, "requires_grad", &rg));
    if (c < 1)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "num_channels")),
                               "num_channels: must be positive, got %lld",
                               (long long)c);
    mm_module *m;
    MM_TRY(mmcls_ln2d_new(c, eps, affine, &m));
    int rc = MM_OK;
    if (!rg)
        rc = effconv_freeze(m);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param ln2d_params[] = {
    {.name = "num_channels", .type = MM_PARAM_INT, .required = true,
     .doc = "channels C of the (N, C, H, W) input"},
    {.name = "eps", .type = MM_PARAM_FLOAT, .def = "1e-5",
     .doc = "added to the variance"},
    {.name = "elementwise_affine", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "learn weight and bias (C)"},
    {.name = "requires_grad", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "mmcv's norm_cfg key: false freezes weight and bias"},
};

static const mm_component ln2d_component = {
    .kind = MM_MODELS,
    .name = "LN2d",
    .doc = "LayerNorm over the channels of (N, C, H, W) (mmpretrain's "
           "LayerNorm2d)",
    .params = ln2d_params,
    .n_params = sizeof ln2d_params / sizeof ln2d_params[0],
    .build = ln2d_build,
    .destroy = mmcls_module_destroy,
};

/* ---- Conv2dAdaptivePadding ------------------------------------------------ */

/* TensorFlow's "SAME": pad = max((ceil(i / s) - 1) * s + (k - 1) * d + 1 -
 * i, 0) per spatial dim, pad / 2 before and the rest after. An even total
 * is the conv's own symmetric padding (no copy); an odd one pads first. */
static int adaptive_fwd(mm_module *m, int n, mm_tensor *const *in,
                        mm_tensor **out) {
    mm_nn_conv *c = (mm_nn_conv *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL,
                            "Conv2dAdaptivePadding takes one input, got %d",
                            n);
    mm_tensor *x = in[0];
    if (x->ndim != 4) {
        char buf[64];
        return mm_error_set(MM_EINVAL,
                            "Conv2dAdaptivePadding needs (N, C, H, W), got %s",
                            mm_shape_format(x->ndim, x->shape, buf,
                                            sizeof buf));
    }
    int64_t pad[2], sym[2];
    bool odd = false;
    for (int i = 0; i < 2; i++) {
        int64_t size = x->shape[2 + i], s = c->stride[i];
        int64_t o = (size + s - 1) / s;
        int64_t p = (o - 1) * s + (c->kernel_size[i] - 1) * c->dilation[i] +
                    1 - size;
        pad[i] = p > 0 ? p : 0;
        sym[i] = pad[i] / 2;
        odd = odd || (pad[i] % 2);
    }
    if (odd) {
        /* F.pad order: (left, right, top, bottom) */
        const int64_t p4[4] = {pad[1] / 2, pad[1] - pad[1] / 2, pad[0] / 2,
                               pad[0] - pad[0] / 2};
        MM_TRY(mm_pad(x, 4, p4, MM_PAD_CONSTANT, 0.0, &x));
        sym[0] = sym[1] = 0;
    }
    return mm_conv2d(x, c->weight, c->bias, c->stride, sym, c->dilation,
                     c->groups, out);
}

/* torch's _ConvNd.reset_parameters. */
static int adaptive_init(mm_module *m) {
    mm_nn_conv *c = (mm_nn_conv *)m;
    MM_TRY(mm_init_kaiming_uniform_(c->weight, sqrt(5.0), "fan_in",
                                    "leaky_relu", NULL));
    if (c->bias) {
        int64_t fi, fo;
        MM_TRY(mm_init_calculate_fan(c->weight, &fi, &fo));
        double bound = fi > 0 ? 1.0 / sqrt((double)fi) : 0.0;
        MM_TRY(mm_init_uniform_(c->bias, -bound, bound, NULL));
    }
    return MM_OK;
}

static void adaptive_repr(const mm_module *m, char *buf, size_t size) {
    const mm_nn_conv *c = (const mm_nn_conv *)m;
    int w = snprintf(buf, size,
                     "%lld, %lld, kernel_size=(%lld, %lld), "
                     "stride=(%lld, %lld)",
                     (long long)c->in_channels, (long long)c->out_channels,
                     (long long)c->kernel_size[0], (long long)c->kernel_size[1],
                     (long long)c->stride[0], (long long)c->stride[1]);
    if (c->groups != 1 && (size_t)w < size)
        w += snprintf(buf + w, size - w, ", groups=%lld",
                      (long long)c->groups);
    if (!c->bias && (size_t)w < size)
        snprintf(buf + w, size - w, ", bias=False");
}

const mm_module_class mmcls_conv2d_adaptive_class = {
    .name = "Conv2dAdaptivePadding",
    .forward = adaptive_fwd,
    .init_weights = adaptive_init,
    .extra_repr = adaptive_repr,
};

/* One or two positive ints (int, or a list of 1 or 2). */
static int pair_arg(mm_build_ctx *ctx, const char *key, int64_t min,
                    int64_t out[2]) {
    const mm_value *v = mm_build_arg(ctx, key);
    size_t n = mm_value_is_list(v) ? mm_value_len(v) : 1;
    if (n < 1 || n > 2)
        goto bad;
    for (size_t i = 0; i < 2; i++) {
        const mm_value *e =
            mm_value_is_list(v) ? mm_value_list_get(v, i < n ? i : 0) : v;
        if (!mm_value_is_int(e) || mm_value_get_int(e) < min)
            goto bad;
        out[i] = mm_value_get_int(e);
    }
    return MM_OK;
bad:
    return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                           "%s: expected an int >= %lld or a list of two",
                           key, (long long)min);
}

static int adaptive_build(mm_build_ctx *ctx, void **out) {
    int64_t in, oc, groups, k[2], s[2], d[2], p[2];
    bool bias;
    MM_TRY(mm_build_int(ctx, "in_channels", &in));
    MM_TRY(mm_build_int(ctx, "out_channels", &oc));
    MM_TRY(mm_build_int(ctx, "groups", &groups));
    MM_TRY(mm_build_bool(ctx, "bias", &bias));
    MM_TRY(pair_arg(ctx, "kernel_size", 1, k));
    MM_TRY(pair_arg(ctx, "stride", 1, s));
    MM_TRY(pair_arg(ctx, "dilation", 1, d));
    MM_TRY(pair_arg(ctx, "padding", 0, p)); /* checked, then ignored (mmcv) */
    const mm_srcloc *here = mm_value_loc(mm_build_node(ctx));
    if (in < 1 || oc < 1 || groups < 1 || in % groups || oc % groups)
        return mm_error_set_at(MM_EINVAL, here,
                               "in_channels %lld and out_channels %lld must "
                               "be positive multiples of groups %lld",
                               (long long)in, (long long)oc,
                               (long long)groups);
    mm_module *m;
    MM_TRY(mm_module_new(&mmcls_conv2d_adaptive_class, sizeof(mm_nn_conv),
                         &m));
    mm_nn_conv *c = (mm_nn_conv *)m;
    c->nsp = 2;
    c->in_channels = in, c->out_channels = oc, c->groups = groups;
    for (int i = 0; i < 2; i++) {
        c->kernel_size[i] = k[i], c->stride[i] = s[i], c->dilation[i] = d[i];
        c->padding[i] = 0;
    }
    snprintf(c->padding_mode, sizeof c->padding_mode, "zeros");
    int rc = add_param(m, "weight", MM_SHAPE(oc, in / groups, k[0], k[1]),
                       &c->weight);
    if (!rc && bias)
        rc = add_param(m, "bias", MM_SHAPE(oc), &c->bias);
    if (!rc) {
        mm_no_grad_push();
        rc = adaptive_init(m);
        mm_no_grad_pop();
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param adaptive_params[] = {
    {.name = "in_channels", .type = MM_PARAM_INT, .required = true,
     .doc = "channels of the input"},
    {.name = "out_channels", .type = MM_PARAM_INT, .required = true,
     .doc = "channels of the output"},
    {.name = "kernel_size", .type = MM_PARAM_INT | MM_PARAM_LIST,
     .required = true, .doc = "size of the kernel"},
    {.name = "stride", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "1",
     .doc = "stride"},
    {.name = "padding", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "0",
     .doc = "ignored, as in mmcv: the padding is TensorFlow's SAME"},
    {.name = "dilation", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "1",
     .doc = "spacing between kernel elements"},
    {.name = "groups", .type = MM_PARAM_INT, .def = "1",
     .doc = "blocked connections from input to output channels"},
    {.name = "bias", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "learn an additive bias"},
};

static const mm_component adaptive_component = {
    .kind = MM_MODELS,
    .name = "Conv2dAdaptivePadding",
    .doc = "Conv2d with TensorFlow's SAME padding from each input's size "
           "(mmcv)",
    .params = adaptive_params,
    .n_params = sizeof adaptive_params / sizeof adaptive_params[0],
    .build = adaptive_build,
    .destroy = mmcls_module_destroy,
};

int mmcls_register_effconv_layers(void) {
    MM_TRY(mm_register(&ln2d_component));
    return mm_register(&adaptive_component);
}

/* ---- building ------------------------------------------------------------ */

int effconv_build(mm_build_ctx *ctx, const char *key, const mm_value *node,
                  mm_module **out) {
    char path[512];
    const char *base = mm_build_path(ctx);
    snprintf(path, sizeof path, "%s%s%s", base, *base ? "." : "", key);
    void *obj = NULL;
    /* the mmcls scope: these layers' own names (LN2d, Conv2dAdaptivePadding)
     * resolve even when the backbone is used from another scope */
    int rc = mm_registry_build(MM_MODELS, node, "mmcls", path,
                               mm_build_user(ctx), &obj);
    *out = obj;
    return rc;
}

static mm_value *copy_or(const mm_value *cfg, const char *type) {
    if (cfg && mm_value_is_dict(cfg))
        return mm_value_copy(cfg);
    mm_value *d = mm_value_new_dict();
    if (d && mm_value_dict_set_take(d, "type", mm_value_new_string(type)))
        mm_value_release(d), d = NULL;
    return d;
}

static int put(mm_value *d, const char *key, mm_value *v) {
    if (!v || mm_value_dict_set_take(d, key, v))
        return mm_error_set(MM_ENOMEM, "out of memory");
    return MM_OK;
}

static int put_cfg(mm_value *d, const char *key, const mm_value *v) {
    return put(d, key, v ? mm_value_copy(v) : mm_value_new_null());
}

const char *effconv_norm_abbr(const mm_module *norm) {
    const char *n = norm->cls->name;
    if (strstr(n, "Batch") || strcmp(n, "BN") == 0)
        return "bn";
    if (strstr(n, "Group"))
        return "gn";
    if (strstr(n, "Layer"))
        return "ln";
    if (strstr(n, "Instance"))
        return "in";
    return "norm_layer";
}

int effconv_norm_new(mm_build_ctx *ctx, const char *key, const mm_value *cfg,
                     int64_t channels, mm_module **out) {
    mm_value *node = copy_or(cfg, "BN");
    if (!node)
        return mm_error_set(MM_ENOMEM, "out of memory");
    const mm_value *type = mm_value_dict_get(node, "type");
    const mm_entry *e = NULL;
    int rc = !type || !mm_value_is_string(type)
                 ? mm_error_set_at(MM_EINVAL, mm_value_loc(cfg),
                                   "%s: missing 'type'", key)
                 : mm_registry_lookup(MM_MODELS, mm_value_get_string(type),
                                      "mmcls", mm_value_loc(type), &e);
    const char *ch = NULL;
    for (size_t i = 0; !rc && i < e->component->n_params && !ch; i++) {
        const char *p = e->component->params[i].name;
        if (!strcmp(p, "num_features") || !strcmp(p, "num_channels") ||
            !strcmp(p, "normalized_shape"))
            ch = p;
    }
    if (!rc && !ch)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(type),
                             "%s: %s.%s is not a norm layer (it takes none "
                             "of num_features, num_channels, "
                             "normalized_shape)",
                             key, e->scope, e->component->name);
    if (!rc)
        rc = put(node, ch, mm_value_new_int(channels));
    if (!rc)
        rc = effconv_build(ctx, key, node, out);
    mm_value_release(node);
    return rc;
}

int effconv_conv_new(mm_build_ctx *ctx, const char *key,
                     const mm_value *conv_cfg, int64_t in, int64_t out,
                     int64_t kernel, int64_t stride, int64_t padding,
                     int64_t dilation, int64_t groups, bool bias,
                     mm_module **m) {
    mm_value *node = copy_or(conv_cfg, "Conv2d");
    if (!node)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = put(node, "in_channels", mm_value_new_int(in));
    rc = rc ? rc : put(node, "out_channels", mm_value_new_int(out));
    rc = rc ? rc : put(node, "kernel_size", mm_value_new_int(kernel));
    rc = rc ? rc : put(node, "stride", mm_value_new_int(stride));
    rc = rc ? rc : put(node, "padding", mm_value_new_int(padding));
    rc = rc ? rc : put(node, "dilation", mm_value_new_int(dilation));
    rc = rc ? rc : put(node, "groups", mm_value_new_int(groups));
    rc = rc ? rc : put(node, "bias", mm_value_new_bool(bias));
    if (!rc)
        rc = effconv_build(ctx, key, node, m);
    mm_value_release(node);
    return rc;
}

int effconv_conv_module_new(mm_build_ctx *ctx, const char *key,
                            int64_t in, int64_t out, int64_t kernel,
                            int64_t stride, int64_t padding, int64_t groups,
                            const mm_value *conv_cfg,
                            const mm_value *norm_cfg,
                            const mm_value *act_cfg, mm_module **m) {
    mm_value *node = mm_value_new_dict();
    if (!node)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = put(node, "type", mm_value_new_string("mm.ConvModule"));
    rc = rc ? rc : put(node, "in_channels", mm_value_new_int(in));
    rc = rc ? rc : put(node, "out_channels", mm_value_new_int(out));
    rc = rc ? rc : put(node, "kernel_size", mm_value_new_int(kernel));
    rc = rc ? rc : put(node, "stride", mm_value_new_int(stride));
    rc = rc ? rc : put(node, "padding", mm_value_new_int(padding));
    rc = rc ? rc : put(node, "groups", mm_value_new_int(groups));
    rc = rc ? rc : put_cfg(node, "conv_cfg", conv_cfg);
    rc = rc ? rc : put_cfg(node, "norm_cfg", norm_cfg);
    rc = rc ? rc : put_cfg(node, "act_cfg", act_cfg);
    if (!rc)
        rc = effconv_build(ctx, key, node, m);
    mm_value_release(node);
    return rc;
}

int effconv_drop_path_new(double rate, double threshold, mm_module **out) {
    if (rate > threshold)
        return mm_drop_path_new(rate, true, out);
    return mm_identity_new(out);
}

/* torch.linspace's float kernel: step = (end - start) / (steps - 1); the
 * first half counts up from start, the second half down from end. */
void effconv_linspace_f32(double end, int n, double *out) {
    if (n == 1) {
        out[0] = 0.0;
        return;
    }
    float e = (float)end, step = e / (float)(n - 1);
    int half = n / 2;
    for (int i = 0; i < n; i++)
        out[i] = i < half ? (double)(step * (float)i)
                          : (double)(e - step * (float)(n - 1 - i));
}

int effconv_out_indices(mm_build_ctx *ctx, int n, bool allow_negative,
                        int *idx, int *n_idx) {
    const mm_value *v = mm_build_arg(ctx, "out_indices");
    size_t len = mm_value_is_list(v) ? mm_value_len(v) : 1;
    if (len < 1 || len > MM_MAX_OUTPUTS)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "out_indices: expected 1 to %d stage indices, "
                               "got %zu",
                               MM_MAX_OUTPUTS, len);
    for (size_t i = 0; i < len; i++) {
        const mm_value *e = mm_value_is_list(v) ? mm_value_list_get(v, i) : v;
        int64_t k = mm_value_is_int(e) ? mm_value_get_int(e) : INT64_MIN;
        if (allow_negative && k < 0 && k >= -n)
            k += n;
        if (k < 0 || k >= n)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "out_indices: each index must be an int "
                                   "in [%d, %d)",
                                   allow_negative ? -n : 0, n);
        idx[i] = (int)k;
    }
    *n_idx = (int)len;
    return MM_OK;
}

static bool is_pretrained(const mm_value *v) {
    const mm_value *t = mmcls_get(v, "type");
    return t && mm_value_is_string(t) &&
           strcmp(mm_value_get_string(t), "Pretrained") == 0;
}

int effconv_init_cfg(mm_build_ctx *ctx, const char *default_yaml,
                     bool *use_default) {
    const mm_value *v = mm_build_arg(ctx, "init_cfg");
    *use_default = true;
    if (mm_value_is_null(v)) {
        *use_default = false;
        return MM_OK;
    }
    bool all_pretrained = is_pretrained(v);
    if (mm_value_is_list(v)) {
        all_pretrained = mm_value_len(v) > 0;
        for (size_t i = 0; i < mm_value_len(v); i++)
            all_pretrained =
                all_pretrained && is_pretrained(mm_value_list_get(v, i));
    }
    if (all_pretrained)
        return MM_OK;
    mm_value *def = NULL;
    MM_TRY(mm_yaml_parse(default_yaml, strlen(default_yaml), "<default>",
                         &def));
    bool same = mm_value_equal(v, def);
    mm_value_release(def);
    if (!same)
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(v),
                               "init_cfg: only null, mmpretrain's default "
                               "(%s) or Pretrained entries are supported",
                               default_yaml);
    return MM_OK;
}

int effconv_freeze(mm_module *m) {
    for (size_t i = 0; i < m->n_params; i++)
        MM_TRY(mm_tensor_set_requires_grad(m->params[i].tensor, false));
    for (size_t i = 0; i < m->n_children; i++)
        MM_TRY(effconv_freeze(m->children[i].module));
    return MM_OK;
}

void effconv_bn_eval(mm_module *m) {
    if (mm_module_is_batch_norm(m))
        m->training = false;
    for (size_t i = 0; i < m->n_children; i++)
        effconv_bn_eval(m->children[i].module);
}

int mmcls_register_effconv(void) {
    MM_TRY(mmcls_register_effconv_layers());
    MM_TRY(mmcls_register_regnet());
    MM_TRY(mmcls_register_efficientnet());
    return mmcls_register_convnext();
}
