/* Pooling layers: MaxPool2d/3d, AvgPool2d/3d, AdaptiveAvgPool1d/2d/3d,
 * AdaptiveMaxPool1d/2d/3d over the pool ops; MODELS components with torch's
 * argument names (stride null: the kernel size). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

enum { POOL_MAX, POOL_AVG, POOL_ADAPTIVE_AVG, POOL_ADAPTIVE_MAX };

int mm_pooling_forward(mm_module *m, mm_tensor *x, mm_tensor **out,
                       mm_tensor **indices) {
    if (indices)
        *indices = NULL;
    if (!mm_module_is_pooling(m))
        return mm_error_set(MM_EINVAL, "pool: module is a %s, not a pool",
                            m ? m->cls->name : "NULL");
    mm_nn_pooling *p = (mm_nn_pooling *)m;
    switch (p->kind) {
    case POOL_MAX:
        if (p->nsp == 2)
            return mm_max_pool2d(x, p->kernel_size, p->stride, p->padding,
                                 p->dilation, p->ceil_mode, out, indices);
        return mm_max_pool3d(x, p->kernel_size, p->stride, p->padding,
                             p->dilation, p->ceil_mode, out, indices);
    case POOL_AVG:
        if (p->nsp == 2)
            return mm_avg_pool2d(x, p->kernel_size, p->stride, p->padding,
                                 p->ceil_mode, p->count_include_pad,
                                 p->divisor_override, out);
        return mm_avg_pool3d(x, p->kernel_size, p->stride, p->padding,
                             p->ceil_mode, p->count_include_pad,
                             p->divisor_override, out);
    case POOL_ADAPTIVE_AVG:
        if (p->nsp == 1)
            return mm_adaptive_avg_pool1d(x, p->output_size, out);
        if (p->nsp == 2)
            return mm_adaptive_avg_pool2d(x, p->output_size, out);
        return mm_adaptive_avg_pool3d(x, p->output_size, out);
    default:
        if (p->nsp == 1)
            return mm_adaptive_max_pool1d(x, p->output_size, out, indices);
        if (p->nsp == 2)
            return mm_adaptive_max_pool2d(x, p->output_size, out, indices);
        return mm_adaptive_max_pool3d(x, p->output_size, out, indices);
    }
}

static int pool_fwd(mm_module *m, int n, mm_tensor *const *in,
                    mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_pooling_forward(m, in[0], out, NULL);
}

/* torch prints what it was given; an int when every dim agrees is the
 * usual case. */
static size_t put_ints(char *buf, size_t size, const char *key,
                       const int64_t *v, int n, bool none_if_negative) {
    bool same = true;
    for (int i = 1; i < n; i++)
        same &= v[i] == v[0];
    size_t w = (size_t)snprintf(buf, size, "%s=", key);
#define AT (w < size ? buf + w : buf + size), (w < size ? size - w : 0)
    if (same && !(none_if_negative && v[0] < 0))
        return w + (size_t)snprintf(AT, "%lld", (long long)v[0]);
    w += (size_t)snprintf(AT, "(");
    for (int i = 0; i < n; i++) {
        if (none_if_negative && v[i] < 0)
            w += (size_t)snprintf(AT, "%sNone", i ? ", " : "");
        else
            w += (size_t)snprintf(AT, "%s%lld", i ? ", " : "", (long long)v[i]);
    }
    w += (size_t)snprintf(AT, ")");
#undef AT
    return w;
}

static void pool_repr(const mm_module *m, char *buf, size_t size) {
    const mm_nn_pooling *p = (const mm_nn_pooling *)m;
    size_t w = 0;
#define AT (w < size ? buf + w : buf + size), (w < size ? size - w : 0)
    if (p->kind == POOL_ADAPTIVE_AVG || p->kind == POOL_ADAPTIVE_MAX) {
        put_ints(AT, "output_size", p->output_size, p->nsp, true);
        return;
    }
    w += put_ints(AT, "kernel_size", p->kernel_size, p->nsp, false);
    w += (size_t)snprintf(AT, ", ");
    w += put_ints(AT, "stride", p->stride, p->nsp, false);
    w += (size_t)snprintf(AT, ", ");
    w += put_ints(AT, "padding", p->padding, p->nsp, false);
    if (p->kind == POOL_MAX) {
        w += (size_t)snprintf(AT, ", ");
        w += put_ints(AT, "dilation", p->dilation, p->nsp, false);
        snprintf(AT, ", ceil_mode=%s", p->ceil_mode ? "True" : "False");
    }
#undef AT
}

#define POOL_CLASS(N)                                                          \
    { .name = N, .forward = pool_fwd, .extra_repr = pool_repr }
static const mm_module_class pool_classes[10] = {
    POOL_CLASS("MaxPool2d"),         POOL_CLASS("MaxPool3d"),
    POOL_CLASS("AvgPool2d"),         POOL_CLASS("AvgPool3d"),
    POOL_CLASS("AdaptiveAvgPool2d"), POOL_CLASS("AdaptiveMaxPool2d"),
    POOL_CLASS("AdaptiveAvgPool1d"), POOL_CLASS("AdaptiveMaxPool1d"),
    POOL_CLASS("AdaptiveAvgPool3d"), POOL_CLASS("AdaptiveMaxPool3d")};
#undef POOL_CLASS

bool mm_module_is_pooling(const mm_module *m) {
    return m && m->cls >= &pool_classes[0] && m->cls <= &pool_classes[9];
}

static int pool_alloc(int cls, int kind, int nsp, mm_module **out) {
    MM_TRY(mm_module_new(&pool_classes[cls], sizeof(mm_nn_pooling), out));
    ((mm_nn_pooling *)*out)->kind = kind;
    ((mm_nn_pooling *)*out)->nsp = nsp;
    return MM_OK;
}

static int window(mm_nn_pooling *p, const int64_t *kernel,
                  const int64_t *stride, const int64_t *padding,
                  const int64_t *dilation) {
    for (int i = 0; i < p->nsp; i++) {
        p->kernel_size[i] = kernel[i];
        p->stride[i] = stride ? stride[i] : kernel[i];
        p->padding[i] = padding ? padding[i] : 0;
        p->dilation[i] = dilation ? dilation[i] : 1;
        if (p->kernel_size[i] <= 0 || p->stride[i] <= 0 || p->padding[i] < 0 ||
            p->dilation[i] <= 0)
            return mm_error_set(MM_EINVAL,
                                "%s: kernel_size, stride and dilation must be "
                                "positive and padding non-negative",
                                p->base.cls->name);
    }
    return MM_OK;
}

int mm_max_pool_new(int nsp, const int64_t *kernel_size, const int64_t *stride,
                    const int64_t *padding, const int64_t *dilation,
                    bool ceil_mode, mm_module **out) {
    *out = NULL;
    if (nsp != 2 && nsp != 3)
        return mm_error_set(MM_EINVAL, "MaxPool: %d spatial dims (2 or 3)",
                            nsp);
    mm_module *m;
    MM_TRY(pool_alloc(nsp - 2, POOL_MAX, nsp, &m));
    mm_nn_pooling *p = (mm_nn_pooling *)m;
    p->ceil_mode = ceil_mode;
    int rc = window(p, kernel_size, stride, padding, dilation);
    return nn_finish(m, rc, out);
}

int mm_avg_pool_new(int nsp, const int64_t *kernel_size, const int64_t *stride,
                    const int64_t *padding, bool ceil_mode,
                    bool count_include_pad, int64_t divisor_override,
                    mm_module **out) {
    *out = NULL;
    if (nsp != 2 && nsp != 3)
        return mm_error_set(MM_EINVAL, "AvgPool: %d spatial dims (2 or 3)",
                            nsp);
    mm_module *m;
    MM_TRY(pool_alloc(nsp, POOL_AVG, nsp, &m));
    mm_nn_pooling *p = (mm_nn_pooling *)m;
    p->ceil_mode = ceil_mode;
    p->count_include_pad = count_include_pad;
    p->divisor_override = divisor_override;
    int rc = window(p, kernel_size, stride, padding, NULL);
    if (!rc && divisor_override < 0)
        rc = mm_error_set(MM_EINVAL, "%s: divisor_override must be positive",
                          m->cls->name);
    return nn_finish(m, rc, out);
}

int mm_adaptive_pool_nd_new(int nsp, bool max, const int64_t *output_size,
                            mm_module **out) {
    *out = NULL;
    if (nsp < 1 || nsp > 3)
        return mm_error_set(MM_EINVAL, "AdaptivePool: %d spatial dims (1 to 3)",
                            nsp);
    if (!output_size)
        return mm_error_set(MM_EINVAL, "AdaptivePool: output_size is NULL");
    /* classes: 2-D at 4/5, 1-D at 6/7, 3-D at 8/9 */
    int cls = (nsp == 2 ? 4 : nsp == 1 ? 6 : 8) + (max ? 1 : 0);
    mm_module *m;
    MM_TRY(pool_alloc(cls, max ? POOL_ADAPTIVE_MAX : POOL_ADAPTIVE_AVG, nsp,
                      &m));
    mm_nn_pooling *p = (mm_nn_pooling *)m;
    for (int i = 0; i < nsp; i++)
        p->output_size[i] = output_size[i];
    return nn_finish(m, MM_OK, out);
}

int mm_adaptive_pool_new(bool max, const int64_t output_size[2],
                         mm_module **out) {
    return mm_adaptive_pool_nd_new(2, max, output_size, out);
}

/* ---- MODELS components ------------------------------------------------------
 */

/* kernel_size, stride (null: *stride_none, s unset) and padding. */
static int build_window(mm_build_ctx *ctx, int nsp, int64_t *k, int64_t *s,
                        int64_t *p, bool *stride_none) {
    MM_TRY(nn_build_ints(ctx, "kernel_size", nsp, k));
    *stride_none = mm_value_is_null(mm_build_arg(ctx, "stride"));
    if (!*stride_none)
        MM_TRY(nn_build_ints(ctx, "stride", nsp, s));
    return nn_build_ints(ctx, "padding", nsp, p);
}

/* The generic forward has one output, so return_indices must be false. */
static int refuse_indices(mm_build_ctx *ctx) {
    bool ri;
    MM_TRY(mm_build_bool(ctx, "return_indices", &ri));
    if (ri)
        return mm_error_set(MM_EUNSUPPORTED,
                            "return_indices: the generic forward returns one "
                            "tensor (call mm_pooling_forward for the indices)");
    return MM_OK;
}

static int max_pool_build(mm_build_ctx *ctx, int nsp, void **out) {
    int64_t k[3], s[3], p[3], d[3];
    bool ceil, stride_none;
    MM_TRY(build_window(ctx, nsp, k, s, p, &stride_none));
    MM_TRY(nn_build_ints(ctx, "dilation", nsp, d));
    MM_TRY(mm_build_bool(ctx, "ceil_mode", &ceil));
    MM_TRY(refuse_indices(ctx));
    mm_module *m = NULL;
    int rc = mm_max_pool_new(nsp, k, stride_none ? NULL : s, p, d, ceil, &m);
    return nn_out(rc, m, out);
}

static int avg_pool_build(mm_build_ctx *ctx, int nsp, void **out) {
    int64_t k[3], s[3], p[3];
    bool ceil, cip, dnone, stride_none;
    double div = 0;
    MM_TRY(build_window(ctx, nsp, k, s, p, &stride_none));
    MM_TRY(mm_build_bool(ctx, "ceil_mode", &ceil));
    MM_TRY(mm_build_bool(ctx, "count_include_pad", &cip));
    MM_TRY(nn_build_opt_float(ctx, "divisor_override", &div, &dnone));
    mm_module *m = NULL;
    int rc = mm_avg_pool_new(nsp, k, stride_none ? NULL : s, p, ceil, cip,
                             dnone ? 0 : (int64_t)div, &m);
    return nn_out(rc, m, out);
}

static int adaptive_build(mm_build_ctx *ctx, int nsp, bool max, void **out) {
    const mm_value *v = mm_build_arg(ctx, "output_size");
    int64_t size[3];
    if (mm_value_is_int(v)) {
        for (int i = 0; i < nsp; i++)
            size[i] = mm_value_get_int(v);
    } else {
        if (mm_value_len(v) != (size_t)nsp)
            return mm_error_set_at(
                MM_EINVAL, mm_value_loc(v),
                nsp == 1 ? "output_size: expected an int or 1 size"
                         : "output_size: expected an int or %d sizes "
                           "(null keeps the input's)",
                nsp);
        for (int i = 0; i < nsp; i++) {
            const mm_value *e = mm_value_list_get(v, (size_t)i);
            if (mm_value_is_null(e))
                size[i] = -1;
            else if (mm_value_is_int(e))
                size[i] = mm_value_get_int(e);
            else
                return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                       "output_size: entries must be ints or "
                                       "null");
        }
    }
    if (max)
        MM_TRY(refuse_indices(ctx));
    mm_module *m = NULL;
    int rc = mm_adaptive_pool_nd_new(nsp, max, size, &m);
    return nn_out(rc, m, out);
}

static int max_pool2d_build(mm_build_ctx *c, void **o) {
    return max_pool_build(c, 2, o);
}
static int max_pool3d_build(mm_build_ctx *c, void **o) {
    return max_pool_build(c, 3, o);
}
static int avg_pool2d_build(mm_build_ctx *c, void **o) {
    return avg_pool_build(c, 2, o);
}
static int avg_pool3d_build(mm_build_ctx *c, void **o) {
    return avg_pool_build(c, 3, o);
}
static int adaptive_avg_build(mm_build_ctx *c, void **o) {
    return adaptive_build(c, 2, false, o);
}
static int adaptive_max_build(mm_build_ctx *c, void **o) {
    return adaptive_build(c, 2, true, o);
}
static int adaptive_avg1d_build(mm_build_ctx *c, void **o) {
    return adaptive_build(c, 1, false, o);
}
static int adaptive_max1d_build(mm_build_ctx *c, void **o) {
    return adaptive_build(c, 1, true, o);
}
static int adaptive_avg3d_build(mm_build_ctx *c, void **o) {
    return adaptive_build(c, 3, false, o);
}
static int adaptive_max3d_build(mm_build_ctx *c, void **o) {
    return adaptive_build(c, 3, true, o);
}

#define WINDOW_PARAMS                                                          \
    {.name = "kernel_size",                                                    \
     .type = MM_PARAM_INT | MM_PARAM_LIST,                                     \
     .required = true,                                                         \
     .doc = "window size (int or one per dim)"},                               \
        {.name = "stride",                                                     \
         .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_NULL,                 \
         .def = "null",                                                        \
         .doc = "window step (null: kernel_size)"},                            \
    {                                                                          \
        .name = "padding", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "0",   \
        .doc = "implicit padding on both sides"                                \
    }

static const mm_param max_pool_params[] = {
    WINDOW_PARAMS,
    {.name = "dilation",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .def = "1",
     .doc = "spacing between window elements"},
    {.name = "return_indices",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "must be false here (mm_pooling_forward gives the indices)"},
    {.name = "ceil_mode",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "ceil instead of floor for the output size"},
};

static const mm_param avg_pool_params[] = {
    WINDOW_PARAMS,
    {.name = "ceil_mode",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "ceil instead of floor for the output size"},
    {.name = "count_include_pad",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "count the zero padding in the average"},
    {.name = "divisor_override",
     .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null",
     .doc = "divide by this instead of the window size"},
};

static const mm_param adaptive_avg_params[] = {
    {.name = "output_size",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .required = true,
     .doc = "(H, W) of the output, int or null entries"},
};

static const mm_param adaptive_max_params[] = {
    {.name = "output_size",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .required = true,
     .doc = "(H, W) of the output, int or null entries"},
    {.name = "return_indices",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "must be false here (mm_pooling_forward gives the indices)"},
};

#define ADAPTIVE_PARAMS(id, what)                                              \
    static const mm_param id##_avg[] = {                                       \
        {.name = "output_size",                                                \
         .type = MM_PARAM_INT | MM_PARAM_LIST,                                 \
         .required = true,                                                     \
         .doc = what},                                                         \
    };                                                                         \
    static const mm_param id##_max[] = {                                       \
        {.name = "output_size",                                                \
         .type = MM_PARAM_INT | MM_PARAM_LIST,                                 \
         .required = true,                                                     \
         .doc = what},                                                         \
        {.name = "return_indices",                                             \
         .type = MM_PARAM_BOOL,                                                \
         .def = "false",                                                       \
         .doc = "must be false here (mm_pooling_forward gives the indices)"},  \
    }
ADAPTIVE_PARAMS(adaptive1d, "L of the output");
ADAPTIVE_PARAMS(adaptive3d, "(D, H, W) of the output, int or null entries");
#undef ADAPTIVE_PARAMS

NN_COMPONENT(max2_c, "MaxPool2d", "2-D max pooling", max_pool_params,
               max_pool2d_build);
NN_COMPONENT(max3_c, "MaxPool3d", "3-D max pooling", max_pool_params,
               max_pool3d_build);
NN_COMPONENT(avg2_c, "AvgPool2d", "2-D average pooling", avg_pool_params,
               avg_pool2d_build);
NN_COMPONENT(avg3_c, "AvgPool3d", "3-D average pooling", avg_pool_params,
               avg_pool3d_build);
NN_COMPONENT(aavg_c, "AdaptiveAvgPool2d", "2-D adaptive average pooling",
               adaptive_avg_params, adaptive_avg_build);
NN_COMPONENT(amax_c, "AdaptiveMaxPool2d", "2-D adaptive max pooling",
               adaptive_max_params, adaptive_max_build);
NN_COMPONENT(aavg1_c, "AdaptiveAvgPool1d", "1-D adaptive average pooling",
               adaptive1d_avg, adaptive_avg1d_build);
NN_COMPONENT(amax1_c, "AdaptiveMaxPool1d", "1-D adaptive max pooling",
               adaptive1d_max, adaptive_max1d_build);
NN_COMPONENT(aavg3_c, "AdaptiveAvgPool3d", "3-D adaptive average pooling",
               adaptive3d_avg, adaptive_avg3d_build);
NN_COMPONENT(amax3_c, "AdaptiveMaxPool3d", "3-D adaptive max pooling",
               adaptive3d_max, adaptive_max3d_build);

/* ---- Upsample --------------------------------------------------------------
 */

typedef struct nn_upsample {
    mm_module base;
    int n_size, n_scale; /* entries given; 1 repeats over the spatial dims */
    int64_t size[3];
    double scale[3];
    mm_interp_mode mode;
    bool align_corners, recompute;
} nn_upsample;

static const char *const upsample_modes[] = {"nearest", "bilinear", "bicubic",
                                             "linear", "trilinear"};

static int upsample_fwd(mm_module *m, int n, mm_tensor *const *in,
                        mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    const nn_upsample *u = (const nn_upsample *)m;
    mm_tensor *x = in[0];
    int nsp = x->ndim - 2, given = u->n_size ? u->n_size : u->n_scale;
    if (nsp < 1 || nsp > 3) /* interpolate says what is wrong */
        return mm_interpolate(x, u->n_size ? u->size : NULL,
                              u->n_size ? NULL : u->scale, u->mode,
                              u->align_corners, out);
    if (given != 1 && given != nsp)
        return mm_error_set(MM_EINVAL,
                            "Upsample: %s has %d entries, expected %d for a "
                            "%d-D input",
                            u->n_size ? "size" : "scale_factor", given, nsp,
                            x->ndim);
    int64_t size[3];
    double scale[3];
    for (int i = 0; i < nsp; i++) {
        size[i] = u->size[given == 1 ? 0 : i];
        scale[i] = u->scale[given == 1 ? 0 : i];
        /* recompute_scale_factor: the output size from the scale, then
         * as if the size was given */
        if (!u->n_size && u->recompute)
            size[i] = (int64_t)floor((double)x->shape[2 + i] * scale[i]);
    }
    bool by_size = u->n_size || u->recompute;
    return mm_interpolate(x, by_size ? size : NULL, by_size ? NULL : scale,
                          u->mode, u->align_corners, out);
}

static void upsample_repr(const mm_module *m, char *buf, size_t size) {
    const nn_upsample *u = (const nn_upsample *)m;
    size_t w = 0;
#define AT (w < size ? buf + w : buf + size), (w < size ? size - w : 0)
    if (u->n_size) {
        w += (size_t)snprintf(AT, "size=%s", u->n_size > 1 ? "(" : "");
        for (int i = 0; i < u->n_size; i++)
            w += (size_t)snprintf(AT, "%s%lld", i ? ", " : "",
                                  (long long)u->size[i]);
    } else {
        w += (size_t)snprintf(AT, "scale_factor=%s", u->n_scale > 1 ? "(" : "");
        for (int i = 0; i < u->n_scale; i++) {
            char f[32];
            w += (size_t)snprintf(AT, "%s%s", i ? ", " : "",
                                  nn_py_float(u->scale[i], f, sizeof f));
        }
    }
    int given = u->n_size ? u->n_size : u->n_scale;
    snprintf(AT, "%s, mode=%s", given > 1 ? ")" : "",
             upsample_modes[u->mode]);
#undef AT
}

static const mm_module_class upsample_class = {
    .name = "Upsample", .forward = upsample_fwd, .extra_repr = upsample_repr};

int mm_upsample_new(int n_size, const int64_t *size, int n_scale,
                    const double *scale_factor, mm_interp_mode mode,
                    bool align_corners, bool recompute_scale_factor,
                    mm_module **out) {
    *out = NULL;
    if ((n_size > 0) == (n_scale > 0))
        return mm_error_set(MM_EINVAL, "Upsample: exactly one of size and "
                                       "scale_factor must be given");
    if (n_size < 0 || n_size > 3 || n_scale < 0 || n_scale > 3 ||
        (n_size && !size) || (n_scale && !scale_factor))
        return mm_error_set(MM_EINVAL,
                            "Upsample: size or scale_factor needs 1 to 3 "
                            "entries");
    if ((unsigned)mode > MM_INTERP_TRILINEAR)
        return mm_error_set(MM_EINVAL, "Upsample: unknown mode %d", (int)mode);
    mm_module *m;
    MM_TRY(mm_module_new(&upsample_class, sizeof(nn_upsample), &m));
    nn_upsample *u = (nn_upsample *)m;
    u->n_size = n_size;
    u->n_scale = n_scale;
    for (int i = 0; i < n_size; i++)
        u->size[i] = size[i];
    for (int i = 0; i < n_scale; i++)
        u->scale[i] = scale_factor[i];
    u->mode = mode;
    u->align_corners = align_corners;
    u->recompute = recompute_scale_factor;
    return nn_finish(m, MM_OK, out);
}

static int upsample_build(mm_build_ctx *ctx, void **out) {
    const mm_value *sv = mm_build_arg(ctx, "size");
    const mm_value *fv = mm_build_arg(ctx, "scale_factor");
    int64_t size[3];
    double scale[3];
    int ns = 0, nf = 0;
    if (mm_value_is_int(sv)) {
        size[0] = mm_value_get_int(sv);
        ns = 1;
    } else if (mm_value_is_list(sv)) {
        size_t len = mm_value_len(sv);
        if (len < 1 || len > 3)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(sv),
                                   "size: expected an int or 1 to 3 ints");
        for (size_t i = 0; i < len; i++) {
            const mm_value *e = mm_value_list_get(sv, i);
            if (!mm_value_is_int(e))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                       "size: entries must be ints");
            size[i] = mm_value_get_int(e);
        }
        ns = (int)len;
    }
    if (mm_value_is_number(fv)) {
        scale[0] = mm_value_get_float(fv);
        nf = 1;
    } else if (mm_value_is_list(fv)) {
        size_t len = mm_value_len(fv);
        if (len < 1 || len > 3)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(fv),
                                   "scale_factor: expected a number or 1 to "
                                   "3 numbers");
        for (size_t i = 0; i < len; i++) {
            const mm_value *e = mm_value_list_get(fv, i);
            if (!mm_value_is_number(e))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                       "scale_factor: entries must be "
                                       "numbers");
            scale[i] = mm_value_get_float(e);
        }
        nf = (int)len;
    }
    const char *ms;
    MM_TRY(mm_build_string(ctx, "mode", &ms));
    int mode = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(ms, upsample_modes[i]))
            mode = i;
    if (mode < 0)
        return mm_error_set(MM_EUNSUPPORTED,
                            "Upsample: mode '%s' (nearest, linear, bilinear, "
                            "bicubic or trilinear)",
                            ms);
    const mm_value *ac = mm_build_arg(ctx, "align_corners");
    const mm_value *rc_v = mm_build_arg(ctx, "recompute_scale_factor");
    mm_module *m = NULL;
    int rc = mm_upsample_new(ns, size, nf, scale, (mm_interp_mode)mode,
                             mm_value_is_bool(ac) && mm_value_get_bool(ac),
                             mm_value_is_bool(rc_v) && mm_value_get_bool(rc_v),
                             &m);
    return nn_out(rc, m, out);
}

static const mm_param upsample_params[] = {
    {.name = "size",
     .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "output spatial size (int or one per dim)"},
    {.name = "scale_factor",
     .type = MM_PARAM_FLOAT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "multiplier of the spatial size (number or one per dim)"},
    {.name = "mode",
     .type = MM_PARAM_STRING,
     .def = "nearest",
     .doc = "nearest, linear (3-D), bilinear or bicubic (4-D), trilinear "
            "(5-D)"},
    {.name = "align_corners",
     .type = MM_PARAM_BOOL | MM_PARAM_NULL,
     .def = "null",
     .doc = "align the corner pixels (interpolating modes; null: false)"},
    {.name = "recompute_scale_factor",
     .type = MM_PARAM_BOOL | MM_PARAM_NULL,
     .def = "null",
     .doc = "true: sample as if the size floor(in * scale) was given"},
};

NN_COMPONENT(upsample_c, "Upsample", "upsampling by F.interpolate",
               upsample_params, upsample_build);

int mm_nn_register_pool(void) {
    static const mm_component *const cs[] = {
        &max2_c,  &max3_c,  &avg2_c,  &avg3_c,  &aavg_c,
        &amax_c,  &aavg1_c, &amax1_c, &aavg3_c, &amax3_c, &upsample_c};
    return nn_register_all(cs, sizeof cs / sizeof cs[0]);
}
