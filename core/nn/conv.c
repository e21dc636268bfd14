/* Convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d over the conv ops,
 * with PyTorch's reset_parameters; MODELS components with mmcv's aliases
 * (Conv = Conv2d, deconv = ConvTranspose2d, deconv3d). */
#include <math.h>
#include <string.h>

#include "mm/reduction.h"
#include "nn_internal.h"

static const char *conv_name(int nsp, bool transposed) {
    static const char *const n[2][3] = {
        {"Conv1d", "Conv2d", "Conv3d"},
        {"ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"}};
    return n[transposed][nsp - 1];
}

static bool all_eq(const int64_t *v, int n, int64_t x) {
    for (int i = 0; i < n; i++)
        if (v[i] != x)
            return false;
    return true;
}

int mm_conv_forward(mm_module *m, mm_tensor *x, mm_tensor **out) {
    if (!mm_module_is_conv(m))
        return mm_error_set(MM_EINVAL, "conv: module is a %s, not a conv",
                            m ? m->cls->name : "NULL");
    mm_nn_conv *c = (mm_nn_conv *)m;
    const int64_t *s = c->stride, *p = c->padding, *d = c->dilation;
    bool extra = !c->transposed && !all_eq(c->same_extra, c->nsp, 0);
    if (strcmp(c->padding_mode, "zeros") != 0 || extra) {
        /* F.pad(x, reversed padding repeated twice, mode), then no padding;
         * 'same' with an odd total puts the extra element after the input */
        int64_t pads[6];
        for (int i = 0; i < c->nsp; i++) {
            pads[2 * i] = p[c->nsp - 1 - i];
            pads[2 * i + 1] = p[c->nsp - 1 - i] + c->same_extra[c->nsp - 1 - i];
        }
        mm_pad_mode mode = strcmp(c->padding_mode, "reflect") == 0
                               ? MM_PAD_REFLECT
                           : strcmp(c->padding_mode, "replicate") == 0
                               ? MM_PAD_REPLICATE
                               : MM_PAD_CONSTANT;
        MM_TRY(mm_pad(x, 2 * c->nsp, pads, mode, 0.0, &x));
        static const int64_t zero[3] = {0, 0, 0};
        p = zero;
    }
    if (!c->transposed) {
        switch (c->nsp) {
        case 1:
            return mm_conv1d(x, c->weight, c->bias, s, p, d, c->groups, out);
        case 2:
            return mm_conv2d(x, c->weight, c->bias, s, p, d, c->groups, out);
        default:
            return mm_conv3d(x, c->weight, c->bias, s, p, d, c->groups, out);
        }
    }
    const int64_t *op = c->output_padding;
    switch (c->nsp) {
    case 1:
        return mm_conv_transpose1d(x, c->weight, c->bias, s, p, op, c->groups,
                                   d, out);
    case 2:
        return mm_conv_transpose2d(x, c->weight, c->bias, s, p, op, c->groups,
                                   d, out);
    default:
        return mm_conv_transpose3d(x, c->weight, c->bias, s, p, op, c->groups,
                                   d, out);
    }
}

static int conv_fwd(mm_module *m, int n, mm_tensor *const *in,
                    mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_conv_forward(m, in[0], out);
}

/* _ConvNd.reset_parameters: kaiming_uniform_(a=sqrt(5)), i.e. the bound
 * 1/sqrt(fan_in) with fan_in = size(1) * receptive field (for transposed
 * weights (in, out/groups, k...) that is out/groups * k, as in torch); the
 * bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static int conv_init(mm_module *m) {
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

static int put_tuple(char *buf, size_t size, const char *key, const int64_t *v,
                     int n) {
    int w = snprintf(buf, size, ", %s=(", key);
    for (int i = 0; i < n; i++)
        w += snprintf(buf + w, (size_t)w < size ? size - w : 0, "%s%lld",
                      i ? ", " : "", (long long)v[i]);
    w +=
        snprintf(buf + w, (size_t)w < size ? size - w : 0, n == 1 ? ",)" : ")");
    return w;
}

/* torch's _ConvNd.extra_repr */
static void conv_repr(const mm_module *m, char *buf, size_t size) {
    const mm_nn_conv *c = (const mm_nn_conv *)m;
    int n = c->nsp;
    size_t w =
        (size_t)snprintf(buf, size, "%lld, %lld, kernel_size=(",
                         (long long)c->in_channels, (long long)c->out_channels);
#define REST (w < size ? size - w : 0)
    for (int i = 0; i < n; i++)
        w += (size_t)snprintf(buf + (w < size ? w : size), REST, "%s%lld",
                              i ? ", " : "", (long long)c->kernel_size[i]);
    w += (size_t)snprintf(buf + (w < size ? w : size), REST,
                          n == 1 ? ",)" : ")");
    w += (size_t)put_tuple(buf + (w < size ? w : size), REST, "stride",
                           c->stride, n);
    if (!all_eq(c->padding, n, 0))
        w += (size_t)put_tuple(buf + (w < size ? w : size), REST, "padding",
                               c->padding, n);
    if (!all_eq(c->dilation, n, 1))
        w += (size_t)put_tuple(buf + (w < size ? w : size), REST, "dilation",
                               c->dilation, n);
    if (c->transposed && !all_eq(c->output_padding, n, 0))
        w += (size_t)put_tuple(buf + (w < size ? w : size), REST,
                               "output_padding", c->output_padding, n);
    if (c->groups != 1)
        w += (size_t)snprintf(buf + (w < size ? w : size), REST,
                              ", groups=%lld", (long long)c->groups);
    if (!c->bias)
        w +=
            (size_t)snprintf(buf + (w < size ? w : size), REST, ", bias=False");
    if (strcmp(c->padding_mode, "zeros") != 0)
        w += (size_t)snprintf(buf + (w < size ? w : size), REST,
                              ", padding_mode=%s", c->padding_mode);
#undef REST
}

/* A class per kind and dimensionality, so the repr prints torch's name. */
static const mm_module_class conv_classes[2][3] = {
#define C(N)                                                                   \
    {                                                                          \
        .name = N, .forward = conv_fwd, .init_weights = conv_init,             \
        .extra_repr = conv_repr                                                \
    }
    {C("Conv1d"), C("Conv2d"), C("Conv3d")},
    {C("ConvTranspose1d"), C("ConvTranspose2d"), C("ConvTranspose3d")},
#undef C
};

bool mm_module_is_conv(const mm_module *m) {
    if (!m)
        return false;
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 3; i++)
            if (m->cls == &conv_classes[t][i])
                return true;
    return false;
}

int mm_conv_new(const mm_conv_options *o, mm_module **out) {
    *out = NULL;
    const char *name =
        o->nsp >= 1 && o->nsp <= 3 ? conv_name(o->nsp, o->transposed) : "Conv";
    if (o->nsp < 1 || o->nsp > 3)
        return mm_error_set(MM_EINVAL, "Conv: %d spatial dims (expected 1-3)",
                            o->nsp);
    int64_t groups = o->groups ? o->groups : 1;
    if (o->in_channels <= 0 || o->out_channels <= 0 || groups <= 0)
        return mm_error_set(MM_EINVAL,
                            "%s: in_channels %lld, out_channels %lld and "
                            "groups %lld must be positive",
                            name, (long long)o->in_channels,
                            (long long)o->out_channels, (long long)groups);
    if (o->in_channels % groups || o->out_channels % groups)
        return mm_error_set(MM_EINVAL,
                            "%s: in_channels %lld and out_channels %lld must "
                            "be divisible by groups %lld",
                            name, (long long)o->in_channels,
                            (long long)o->out_channels, (long long)groups);
    const char *pm = o->padding_mode ? o->padding_mode : "zeros";
    if (strcmp(pm, "zeros") != 0 &&
        (o->transposed ||
         (strcmp(pm, "reflect") != 0 && strcmp(pm, "replicate") != 0)))
        return mm_error_set(MM_EUNSUPPORTED,
                            "%s: padding_mode '%s' is not supported (zeros, "
                            "reflect or replicate; zeros only when "
                            "transposed)",
                            name, pm);
    mm_module *m;
    MM_TRY(mm_module_new(&conv_classes[o->transposed][o->nsp - 1],
                         sizeof(mm_nn_conv), &m));
    mm_nn_conv *c = (mm_nn_conv *)m;
    c->nsp = o->nsp;
    c->transposed = o->transposed;
    c->in_channels = o->in_channels;
    c->out_channels = o->out_channels;
    c->groups = groups;
    snprintf(c->padding_mode, sizeof c->padding_mode, "%s", pm);
    int rc = MM_OK;
    for (int i = 0; i < o->nsp; i++) {
        c->kernel_size[i] = o->kernel_size[i];
        c->stride[i] = o->stride ? o->stride[i] : 1;
        c->padding[i] = o->padding ? o->padding[i] : 0;
        c->dilation[i] = o->dilation ? o->dilation[i] : 1;
        c->output_padding[i] = o->output_padding ? o->output_padding[i] : 0;
        if (c->kernel_size[i] <= 0 || c->stride[i] <= 0 || c->padding[i] < 0 ||
            c->dilation[i] <= 0 || c->output_padding[i] < 0)
            rc = mm_error_set(MM_EINVAL,
                              "%s: kernel_size, stride and dilation must be "
                              "positive, padding and output_padding "
                              "non-negative",
                              name);
    }
    /* torch: weight (out, in/groups, k...), transposed (in, out/groups, k...)
     */
    int64_t shape[5];
    shape[0] = o->transposed ? o->in_channels : o->out_channels;
    shape[1] = (o->transposed ? o->out_channels : o->in_channels) / groups;
    for (int i = 0; i < o->nsp; i++)
        shape[2 + i] = o->kernel_size[i];
    if (!rc)
        rc = nn_add_param(m, "weight", 2 + o->nsp, shape, &c->weight);
    if (!rc && o->bias)
        rc = nn_add_param(m, "bias", MM_SHAPE(o->out_channels), &c->bias);
    return nn_finish(m, rc, out);
}

/* ---- MODELS components ----------------------------------------------------
 */

static int conv_build(mm_build_ctx *ctx, int nsp, bool transposed, void **out) {
    mm_conv_options o = {.nsp = nsp, .transposed = transposed};
    int64_t k[3], s[3], p[3], d[3], op[3], extra[3] = {0, 0, 0};
    bool bias;
    MM_TRY(mm_build_int(ctx, "in_channels", &o.in_channels));
    MM_TRY(mm_build_int(ctx, "out_channels", &o.out_channels));
    MM_TRY(nn_build_ints(ctx, "kernel_size", nsp, k));
    MM_TRY(nn_build_ints(ctx, "stride", nsp, s));
    MM_TRY(nn_build_ints(ctx, "dilation", nsp, d));
    MM_TRY(mm_build_int(ctx, "groups", &o.groups));
    MM_TRY(mm_build_bool(ctx, "bias", &bias));
    MM_TRY(mm_build_string(ctx, "padding_mode", &o.padding_mode));
    const mm_value *pv = mm_build_arg(ctx, "padding");
    if (mm_value_is_string(pv)) {
        /* 'valid' is no padding; 'same' (stride 1) pads dilation * (k - 1),
         * total / 2 before and the rest after (torch's split) */
        const char *ps = mm_value_get_string(pv);
        bool same = strcmp(ps, "same") == 0;
        if (transposed || (!same && strcmp(ps, "valid") != 0))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(pv),
                                   "padding: '%s' is not 'same' or 'valid' "
                                   "(or not for a transposed conv)",
                                   ps);
        for (int i = 0; i < nsp; i++) {
            int64_t total = same ? d[i] * (k[i] - 1) : 0;
            if (same && s[i] != 1)
                return mm_error_set_at(MM_EINVAL, mm_value_loc(pv),
                                       "padding 'same' is not supported for "
                                       "strided convolutions");
            p[i] = total / 2;
            extra[i] = total % 2;
        }
    } else {
        MM_TRY(nn_build_ints(ctx, "padding", nsp, p));
    }
    if (transposed)
        MM_TRY(nn_build_ints(ctx, "output_padding", nsp, op));
    o.kernel_size = k, o.stride = s, o.padding = p, o.dilation = d;
    o.output_padding = transposed ? op : NULL;
    o.bias = bias;
    mm_module *m = NULL;
    int rc = mm_conv_new(&o, &m);
    if (rc == MM_OK)
        memcpy(((mm_nn_conv *)m)->same_extra, extra, sizeof extra);
    return nn_out(rc, m, out);
}

#define CONV_BUILDER(fn, nsp, tr)                                              \
    static int fn(mm_build_ctx *ctx, void **out) {                             \
        return conv_build(ctx, nsp, tr, out);                                  \
    }
CONV_BUILDER(conv1d_build, 1, false)
CONV_BUILDER(conv2d_build, 2, false)
CONV_BUILDER(conv3d_build, 3, false)
CONV_BUILDER(deconv1d_build, 1, true)
CONV_BUILDER(deconv2d_build, 2, true)
CONV_BUILDER(deconv3d_build, 3, true)

#define CONV_COMMON_PARAMS                                                     \
    {.name = "in_channels",                                                    \
     .type = MM_PARAM_INT,                                                     \
     .required = true,                                                         \
     .doc = "channels of the input"},                                          \
        {.name = "out_channels",                                               \
         .type = MM_PARAM_INT,                                                 \
         .required = true,                                                     \
         .doc = "channels of the output"},                                     \
        {.name = "kernel_size",                                                \
         .type = MM_PARAM_INT | MM_PARAM_LIST,                                 \
         .required = true,                                                     \
         .doc = "size of the kernel (int or one per dim)"},                    \
    {                                                                          \
        .name = "stride", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "1",    \
        .doc = "stride (int or one per dim)"                                   \
    }

static const mm_param conv_params[] = {
    CONV_COMMON_PARAMS,
    {.name = "padding",
     .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_STRING,
     .def = "0",
     .doc = "zero padding per side (int, one per dim, 'same', 'valid')"},
    {.name = "dilation",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "1",
     .doc = "spacing between kernel elements"},
    {.name = "groups",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "blocked connections from input to output channels"},
    {.name = "bias",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "learn an additive bias"},
    {.name = "padding_mode",
     .type = MM_PARAM_STRING,
     .def = "zeros",
     .doc = "'zeros', 'reflect' or 'replicate' ('circular' is not supported)"},
};

/* torch's ConvTranspose argument order */
static const mm_param deconv_params[] = {
    CONV_COMMON_PARAMS,
    {.name = "padding",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "0",
     .doc = "dilation * (kernel_size - 1) - padding zeros on each side"},
    {.name = "output_padding",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "0",
     .doc = "extra size added to one side of the output"},
    {.name = "groups",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "blocked connections from input to output channels"},
    {.name = "bias",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "learn an additive bias"},
    {.name = "dilation",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "1",
     .doc = "spacing between kernel elements"},
    {.name = "padding_mode",
     .type = MM_PARAM_STRING,
     .def = "zeros",
     .doc = "'zeros' (the only mode torch allows here)"},
};

NN_COMPONENT(conv1d_c, "Conv1d", "1-D convolution (torch.nn.Conv1d)",
               conv_params, conv1d_build);
NN_COMPONENT(conv2d_c, "Conv2d", "2-D convolution (torch.nn.Conv2d)",
               conv_params, conv2d_build);
NN_COMPONENT(conv_c, "Conv", "2-D convolution (mmcv's name for Conv2d)",
               conv_params, conv2d_build);
NN_COMPONENT(conv3d_c, "Conv3d", "3-D convolution (torch.nn.Conv3d)",
               conv_params, conv3d_build);
NN_COMPONENT(deconv1d_c, "ConvTranspose1d", "1-D transposed convolution",
               deconv_params, deconv1d_build);
NN_COMPONENT(deconv2d_c, "ConvTranspose2d", "2-D transposed convolution",
               deconv_params, deconv2d_build);
NN_COMPONENT(deconv_c, "deconv", "2-D transposed convolution (mmcv's name)",
               deconv_params, deconv2d_build);
NN_COMPONENT(deconv3d_c, "ConvTranspose3d", "3-D transposed convolution",
               deconv_params, deconv3d_build);
NN_COMPONENT(deconv3d_alias_c, "deconv3d",
               "3-D transposed convolution (mmcv's name)", deconv_params,
               deconv3d_build);

int mm_nn_register_conv(void) {
    static const mm_component *const cs[] = {
        &conv1d_c,   &conv2d_c, &conv_c,     &conv3d_c,        &deconv1d_c,
        &deconv2d_c, &deconv_c, &deconv3d_c, &deconv3d_alias_c};
    return nn_register_all(cs, sizeof cs / sizeof cs[0]);
}
