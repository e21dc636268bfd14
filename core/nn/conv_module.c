/* ConvModule (mmcv.cnn.ConvModule): a conv, an optional norm and an
 * optional activation, applied in `order`, each built through the registry
 * from conv_cfg / norm_cfg / act_cfg with the channel arguments filled in,
 * and mmcv's initialisation (kaiming normal, fan_out, for the conv; 1/0
 * for the norm). Children are named as mmcv names them: conv, the norm's
 * abbreviation (bn, gn, ln, in) and activate, so the state_dict keys match
 * an mmcv checkpoint. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

enum { STEP_CONV, STEP_NORM, STEP_ACT };

int mm_conv_module_forward(mm_module *m, mm_tensor *x, mm_tensor **out) {
    MM_TRY(nn_check_class("ConvModule", m, &mm_conv_module_class));
    mm_nn_conv_module *c = (mm_nn_conv_module *)m;
    for (int i = 0; i < 3; i++) {
        mm_module *step = c->order[i] == STEP_CONV   ? c->conv
                          : c->order[i] == STEP_NORM ? c->norm
                                                     : c->act;
        if (step)
            MM_TRY(mm_module_forward1(step, x, &x));
    }
    *out = x;
    return MM_OK;
}

static int conv_module_fwd(mm_module *m, int n, mm_tensor *const *in,
                           mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_conv_module_forward(m, in[0], out);
}

/* ConvModule.init_weights: kaiming_init(conv, a, mode='fan_out',
 * nonlinearity, distribution='normal', bias=0) with leaky_relu and its
 * negative_slope when the activation is LeakyReLU, relu otherwise; then
 * constant_init(norm, 1, bias=0). Convs that are not ours keep their own
 * initialisation (mmcv skips convs with an init_weights). */
static int conv_module_init(mm_module *m) {
    mm_nn_conv_module *c = (mm_nn_conv_module *)m;
    if (mm_module_is_conv(c->conv)) {
        mm_nn_conv *conv = (mm_nn_conv *)c->conv;
        MM_TRY(mm_init_kaiming_normal_(
            conv->weight, c->leaky ? c->negative_slope : 0.0, "fan_out",
            c->leaky ? "leaky_relu" : "relu", NULL));
        if (conv->bias)
            MM_TRY(mm_init_zeros_(conv->bias));
    }
    if (c->norm) {
        mm_tensor *w = mm_module_get_parameter(c->norm, "weight");
        mm_tensor *b = mm_module_get_parameter(c->norm, "bias");
        if (w)
            MM_TRY(mm_init_ones_(w));
        if (b)
            MM_TRY(mm_init_zeros_(b));
    }
    return MM_OK;
}

const mm_module_class mm_conv_module_class = {.name = "ConvModule",
                                              .forward = conv_module_fwd,
                                              .init_weights = conv_module_init};

/* ---- building ---------------------------------------------------------------
 */

/* mmcv's infer_abbr by class name. */
static const char *norm_abbr(const mm_module *norm) {
    char lower[64];
    size_t i = 0;
    for (; norm->cls->name[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)norm->cls->name[i]);
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

/* A copy of cfg (or {type: default_type} for null) as the child's node. */
static mm_value *child_node(const mm_value *cfg, const char *default_type) {
    if (cfg && mm_value_is_dict(cfg))
        return mm_value_copy(cfg);
    mm_value *d = mm_value_new_dict();
    if (d &&
        mm_value_dict_set_take(d, "type", mm_value_new_string(default_type)))
        mm_value_release(d), d = NULL;
    return d;
}

static int set_arg(mm_value *node, const char *key, const mm_value *v) {
    return mm_value_dict_set(node, key, (mm_value *)v)
               ? mm_error_set(MM_ENOMEM, "out of memory")
               : MM_OK;
}

/* node[key] = v, a new value it takes (NULL: its allocation failed). */
static int set_new(mm_value *node, const char *key, mm_value *v) {
    return !v || mm_value_dict_set_take(node, key, v)
               ? mm_error_set(MM_ENOMEM, "out of memory")
               : MM_OK;
}

static bool has_param(const mm_entry *e, const char *name) {
    for (size_t i = 0; i < e->component->n_params; i++)
        if (strcmp(e->component->params[i].name, name) == 0)
            return true;
    return false;
}

static int build_sub(mm_build_ctx *ctx, const char *key, mm_value *node,
                     mm_module **out) {
    char path[512];
    const char *base = mm_build_path(ctx);
    snprintf(path, sizeof path, "%s%s%s", base, *base ? "." : "", key);
    void *obj = NULL;
    int rc = mm_registry_build(MM_MODELS, node, mm_build_scope(ctx), path,
                               mm_build_user(ctx), &obj);
    *out = obj;
    return rc;
}

static int parse_order(mm_build_ctx *ctx, int order[3]) {
    const mm_value *v = mm_build_arg(ctx, "order");
    static const char *const names[3] = {"conv", "norm", "act"};
    bool seen[3] = {false, false, false};
    if (mm_value_len(v) != 3)
        goto bad;
    for (size_t i = 0; i < 3; i++) {
        const mm_value *s = mm_value_list_get(v, i);
        int k = -1;
        for (int j = 0; j < 3 && mm_value_is_string(s); j++)
            if (strcmp(mm_value_get_string(s), names[j]) == 0)
                k = j;
        if (k < 0 || seen[k])
            goto bad;
        seen[k] = true;
        order[i] = k;
    }
    return MM_OK;
bad:
    return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                           "order: expected the three names conv, norm, act "
                           "in some order");
}

/* *node: a copy of cfg (type `def` when it has none) to add arguments to,
 * *type its type and *e the component that type names. */
static int cfg_entry(mm_build_ctx *ctx, const char *what, const mm_value *cfg,
                     const char *def, mm_value **node, const mm_value **type,
                     const mm_entry **e) {
    *node = child_node(cfg, def);
    *type = *node ? mm_value_dict_get(*node, "type") : NULL;
    *e = NULL;
    if (!*node)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (!*type || !mm_value_is_string(*type))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(cfg),
                               "%s: missing 'type'", what);
    return mm_registry_lookup(MM_MODELS, mm_value_get_string(*type),
                              mm_build_scope(ctx), mm_value_loc(*type), e);
}

static int conv_module_build(mm_build_ctx *ctx, void **out) {
    int64_t in_ch, out_ch;
    bool inplace, spectral;
    MM_TRY(mm_build_int(ctx, "in_channels", &in_ch));
    MM_TRY(mm_build_int(ctx, "out_channels", &out_ch));
    MM_TRY(mm_build_bool(ctx, "inplace", &inplace));
    MM_TRY(mm_build_bool(ctx, "with_spectral_norm", &spectral));
    if (spectral)
        return mm_error_set(MM_EUNSUPPORTED,
                            "with_spectral_norm is not supported yet");
    mm_module *m;
    MM_TRY(mm_module_new(&mm_conv_module_class, sizeof(mm_nn_conv_module), &m));
    mm_nn_conv_module *c = (mm_nn_conv_module *)m;
    int rc = parse_order(ctx, c->order);
    const mm_value *norm_cfg = mm_build_arg(ctx, "norm_cfg");
    const mm_value *act_cfg = mm_build_arg(ctx, "act_cfg");
    bool with_norm = !mm_value_is_null(norm_cfg);
    bool with_act = !mm_value_is_null(act_cfg);
    const mm_value *bias = mm_build_arg(ctx, "bias");
    bool use_bias = !with_norm; /* bias 'auto' */
    if (!rc && mm_value_is_bool(bias))
        use_bias = mm_value_get_bool(bias);
    else if (!rc && strcmp(mm_value_get_string(bias), "auto") != 0)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(bias),
                             "bias: expected true, false or 'auto'");

    /* conv: conv_cfg (default Conv2d) + the geometry arguments */
    mm_value *node =
        rc ? NULL : child_node(mm_build_arg(ctx, "conv_cfg"), "Conv2d");
    if (!rc && !node)
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    static const char *const geometry[] = {"kernel_size", "stride", "padding",
                                           "dilation", "groups"};
    if (!rc)
        rc = set_new(node, "in_channels", mm_value_new_int(in_ch));
    if (!rc)
        rc = set_new(node, "out_channels", mm_value_new_int(out_ch));
    for (int i = 0; !rc && i < 5; i++)
        rc = set_arg(node, geometry[i], mm_build_arg(ctx, geometry[i]));
    if (!rc)
        rc = set_new(node, "bias", mm_value_new_bool(use_bias));
    const mm_value *pm = mm_build_arg(ctx, "padding_mode");
    if (!rc && strcmp(mm_value_get_string(pm), "zeros") != 0)
        rc = set_arg(node, "padding_mode", pm);
    mm_module *child = NULL;
    if (!rc)
        rc = build_sub(ctx, "conv_cfg", node, &child);
    mm_value_release(node);
    node = NULL;
    if (!rc) {
        c->conv = child;
        rc = mm_module_add_child(m, "conv", child);
    }

    /* norm: norm_cfg + the channel count under the name its schema uses */
    if (!rc && with_norm) {
        int conv_first = 0;
        for (int i = 0; i < 3; i++)
            if (c->order[i] == STEP_CONV)
                conv_first = 1;
            else if (c->order[i] == STEP_NORM)
                break;
        int64_t channels = conv_first ? out_ch : in_ch;
        const mm_value *type;
        const mm_entry *e;
        rc = cfg_entry(ctx, "norm_cfg", norm_cfg, "BN", &node, &type, &e);
        if (!rc) {
            const char *key = has_param(e, "num_features")   ? "num_features"
                              : has_param(e, "num_channels") ? "num_channels"
                              : has_param(e, "normalized_shape")
                                  ? "normalized_shape"
                                  : NULL;
            if (!key)
                rc = mm_error_set_at(MM_EINVAL, mm_value_loc(type),
                                     "norm_cfg: %s.%s takes none of "
                                     "num_features, num_channels, "
                                     "normalized_shape",
                                     e->scope, e->component->name);
            else
                rc = set_new(node, key, mm_value_new_int(channels));
        }
        if (!rc)
            rc = build_sub(ctx, "norm_cfg", node, &child);
        mm_value_release(node);
        node = NULL;
        if (!rc) {
            c->norm = child;
            snprintf(c->norm_name, sizeof c->norm_name, "%s", norm_abbr(child));
            rc = mm_module_add_child(m, c->norm_name, child);
        }
    }

    /* act: act_cfg, with mmcv's inplace default where the layer takes it */
    if (!rc && with_act) {
        const mm_value *type;
        const mm_entry *e;
        rc = cfg_entry(ctx, "act_cfg", act_cfg, "ReLU", &node, &type, &e);
        if (!rc && has_param(e, "inplace") &&
            !mm_value_dict_get(node, "inplace"))
            rc = set_new(node, "inplace", mm_value_new_bool(inplace));
        if (!rc && strcmp(e->component->name, "LeakyReLU") == 0) {
            const mm_value *s = mm_value_dict_get(node, "negative_slope");
            c->leaky = true;
            c->negative_slope = !s ? 0.01
                                : mm_value_is_int(s)
                                    ? (double)mm_value_get_int(s)
                                    : mm_value_get_float(s);
        }
        if (!rc)
            rc = build_sub(ctx, "act_cfg", node, &child);
        mm_value_release(node);
        if (!rc) {
            c->act = child;
            rc = mm_module_add_child(m, "activate", child);
        }
    }
    if (!rc) {
        mm_no_grad_push();
        rc = conv_module_init(m);
        mm_no_grad_pop();
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

int mm_conv_module_new(const mm_value *cfg, mm_module **out) {
    *out = NULL;
    if (!cfg || !mm_value_is_dict(cfg))
        return mm_error_set(MM_EINVAL, "ConvModule: the config must be a dict");
    mm_value *node = mm_value_copy(cfg);
    if (!node)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = MM_OK;
    if (!mm_value_dict_get(node, "type")) {
        mm_value *t = mm_value_new_string("mm.ConvModule");
        if (!t || mm_value_dict_set_take(node, "type", t))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    void *obj = NULL;
    if (!rc)
        rc = mm_registry_build(MM_MODELS, node, NULL, "ConvModule", NULL, &obj);
    mm_value_release(node);
    if (!rc && !mm_module_is(obj, &mm_conv_module_class)) {
        mm_module_free(obj);
        return mm_error_set(MM_EINVAL, "ConvModule: the config names another "
                                       "component");
    }
    *out = obj;
    return rc;
}

static const mm_param conv_module_params[] = {
    {.name = "in_channels",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "channels of the input"},
    {.name = "out_channels",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "channels of the conv's output"},
    {.name = "kernel_size",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .required = true,
     .doc = "size of the conv kernel"},
    {.name = "stride",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "1",
     .doc = "conv stride"},
    {.name = "padding",
     .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_STRING,
     .def = "0",
     .doc = "conv zero padding"},
    {.name = "dilation",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "1",
     .doc = "conv dilation"},
    {.name = "groups", .type = MM_PARAM_INT, .def = "1", .doc = "conv groups"},
    {.name = "bias",
     .type = MM_PARAM_BOOL | MM_PARAM_STRING,
     .def = "auto",
     .doc = "conv bias: true, false, or 'auto' (no bias when there is a norm)"},
    {.name = "conv_cfg",
     .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "the conv layer's config (null: Conv2d)"},
    {.name = "norm_cfg",
     .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "the norm layer's config, e.g. {type: BN} (null: none)"},
    {.name = "act_cfg",
     .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "{type: ReLU}",
     .doc = "the activation's config (null: none)"},
    {.name = "inplace",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "default `inplace` of the activation"},
    {.name = "with_spectral_norm",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "must be false (not supported yet)"},
    {.name = "padding_mode",
     .type = MM_PARAM_STRING,
     .def = "zeros",
     .doc = "zeros, reflect or replicate"},
    {.name = "order",
     .type = MM_PARAM_LIST,
     .def = "[conv, norm, act]",
     .doc = "the order of the three layers"},
};

NN_COMPONENT(conv_module_c, "ConvModule",
             "conv + norm + activation (mmcv.cnn.ConvModule)",
             conv_module_params, conv_module_build);

int mm_nn_register_conv_module(void) { return mm_register(&conv_module_c); }
