/* Activation modules over the elementwise activation ops of
 * <mm/elementwise.h>: ReLU6, LeakyReLU, PReLU, ELU, GELU, SiLU, Hardswish,
 * Hardsigmoid, Mish, Softplus, mmcv's HSigmoid; and their MODELS components
 * with mmcv's aliases (Swish, HSwish). */
#include <math.h>
#include <string.h>

#include "mm/elementwise.h"
#include "nn_internal.h"

#define ARG(m, i) (((const mm_nn_activation *)(m))->args[i])

static int act_new(const mm_module_class *cls, const double *args, int n,
                   mm_module **out) {
    MM_TRY(mm_activation_new(cls, out));
    for (int i = 0; i < n; i++)
        ((mm_nn_activation *)*out)->args[i] = args[i];
    return MM_OK;
}

/* ---- forwards -------------------------------------------------------------
 */

NN_PLAIN(relu6, "ReLU6", mm_relu6, mm_nn_inplace_repr)
NN_PLAIN(silu, "SiLU", mm_silu, mm_nn_inplace_repr)
NN_PLAIN(mish, "Mish", mm_mish, mm_nn_inplace_repr)
/* torch prints no inplace for these two */
NN_PLAIN(hardswish, "Hardswish", mm_hardswish, NULL)
NN_PLAIN(hardsigmoid, "Hardsigmoid", mm_hardsigmoid, NULL)

/* LeakyReLU: args[0] negative_slope */
static int leaky_relu_fwd(mm_module *m, int n, mm_tensor *const *in,
                          mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_leaky_relu(in[0], ARG(m, 0), out);
}
static void leaky_relu_repr(const mm_module *m, char *buf, size_t size) {
    char f[32];
    snprintf(buf, size, "negative_slope=%s%s",
             nn_py_float(ARG(m, 0), f, sizeof f),
             ((const mm_nn_activation *)m)->inplace ? ", inplace=True" : "");
}
const mm_module_class mm_leaky_relu_class = {.name = "LeakyReLU",
                                             .forward = leaky_relu_fwd,
                                             .extra_repr = leaky_relu_repr};

/* ELU: args[0] alpha */
static int elu_fwd(mm_module *m, int n, mm_tensor *const *in, mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_elu(in[0], ARG(m, 0), out);
}
static void elu_repr(const mm_module *m, char *buf, size_t size) {
    char f[32];
    snprintf(buf, size, "alpha=%s%s", nn_py_float(ARG(m, 0), f, sizeof f),
             ((const mm_nn_activation *)m)->inplace ? ", inplace=True" : "");
}
const mm_module_class mm_elu_class = {
    .name = "ELU", .forward = elu_fwd, .extra_repr = elu_repr};

/* GELU: args[0] 1 for the tanh approximation */
static int gelu_fwd(mm_module *m, int n, mm_tensor *const *in,
                    mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_gelu(in[0], ARG(m, 0) != 0 ? MM_GELU_TANH : MM_GELU_NONE, out);
}
static void gelu_repr(const mm_module *m, char *buf, size_t size) {
    snprintf(buf, size, "approximate='%s'", ARG(m, 0) != 0 ? "tanh" : "none");
}
const mm_module_class mm_gelu_class = {
    .name = "GELU", .forward = gelu_fwd, .extra_repr = gelu_repr};

/* Softplus: args[0] beta, args[1] threshold */
static int softplus_fwd(mm_module *m, int n, mm_tensor *const *in,
                        mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_softplus(in[0], ARG(m, 0), ARG(m, 1), out);
}
static void softplus_repr(const mm_module *m, char *buf, size_t size) {
    snprintf(buf, size, "beta=%g, threshold=%g", ARG(m, 0), ARG(m, 1));
}
const mm_module_class mm_softplus_class = {
    .name = "Softplus", .forward = softplus_fwd, .extra_repr = softplus_repr};

/* HSigmoid (mmcv): args bias, divisor, min_value, max_value:
 * clamp((x + bias) / divisor, min_value, max_value). */
static int hsigmoid_fwd(mm_module *m, int n, mm_tensor *const *in,
                        mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    mm_tensor *t;
    MM_TRY(mm_add_scalar(in[0], ARG(m, 0), &t));
    MM_TRY(mm_div_scalar(t, ARG(m, 1), &t));
    return mm_clamp(t, ARG(m, 2), ARG(m, 3), out);
}
const mm_module_class mm_hsigmoid_class = {.name = "HSigmoid",
                                           .forward = hsigmoid_fwd};

/* PReLU: args[0] init; the parameter `weight` (num_parameters). */
static int prelu_fwd(mm_module *m, int n, mm_tensor *const *in,
                     mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_prelu(in[0], ((mm_nn_activation *)m)->weight, out);
}
static int prelu_init(mm_module *m) {
    return mm_init_constant_(((mm_nn_activation *)m)->weight, ARG(m, 0));
}
static void prelu_repr(const mm_module *m, char *buf, size_t size) {
    snprintf(buf, size, "num_parameters=%lld",
             (long long)((const mm_nn_activation *)m)->weight->numel);
}
const mm_module_class mm_prelu_class = {.name = "PReLU",
                                        .forward = prelu_fwd,
                                        .init_weights = prelu_init,
                                        .extra_repr = prelu_repr};

/* ---- constructors ----------------------------------------------------------
 */

int mm_leaky_relu_new(double negative_slope, mm_module **out) {
    return act_new(&mm_leaky_relu_class, &negative_slope, 1, out);
}

int mm_elu_new(double alpha, mm_module **out) {
    return act_new(&mm_elu_class, &alpha, 1, out);
}

int mm_gelu_new(const char *approximate, mm_module **out) {
    *out = NULL;
    bool tanh_ = approximate && strcmp(approximate, "tanh") == 0;
    if (approximate && !tanh_ && strcmp(approximate, "none") != 0)
        return mm_error_set(MM_EINVAL,
                            "GELU: approximate '%s' is not 'none' or 'tanh'",
                            approximate);
    return act_new(&mm_gelu_class, (double[]){tanh_ ? 1 : 0}, 1, out);
}

int mm_softplus_new(double beta, double threshold, mm_module **out) {
    *out = NULL;
    if (beta == 0)
        return mm_error_set(MM_EINVAL, "Softplus: beta must not be 0");
    return act_new(&mm_softplus_class, (double[]){beta, threshold}, 2, out);
}

int mm_hsigmoid_new(double bias, double divisor, double min_value,
                    double max_value, mm_module **out) {
    *out = NULL;
    if (divisor == 0)
        return mm_error_set(MM_EINVAL, "HSigmoid: divisor must not be 0");
    return act_new(&mm_hsigmoid_class,
                   (double[]){bias, divisor, min_value, max_value}, 4, out);
}

int mm_prelu_new(int64_t num_parameters, double init, mm_module **out) {
    *out = NULL;
    if (num_parameters < 1)
        return mm_error_set(MM_EINVAL,
                            "PReLU: num_parameters must be at least 1, got "
                            "%lld",
                            (long long)num_parameters);
    mm_module *m;
    MM_TRY(act_new(&mm_prelu_class, &init, 1, &m));
    int rc = nn_add_param(m, "weight", MM_SHAPE(num_parameters),
                          &((mm_nn_activation *)m)->weight);
    return nn_finish(m, rc, out);
}

/* ---- MODELS components -----------------------------------------------------
 */

NN_PLAIN_BUILDER(relu6)
NN_PLAIN_BUILDER(silu)
NN_PLAIN_BUILDER(hardswish)
NN_PLAIN_BUILDER(hardsigmoid)
NN_PLAIN_BUILDER(mish)

static int leaky_relu_build(mm_build_ctx *ctx, void **out) {
    double s;
    MM_TRY(mm_build_float(ctx, "negative_slope", &s));
    mm_module *m = NULL;
    int rc = mm_leaky_relu_new(s, &m);
    nn_read_inplace(ctx, m);
    return nn_out(rc, m, out);
}

static int elu_build(mm_build_ctx *ctx, void **out) {
    double a;
    MM_TRY(mm_build_float(ctx, "alpha", &a));
    mm_module *m = NULL;
    int rc = mm_elu_new(a, &m);
    nn_read_inplace(ctx, m);
    return nn_out(rc, m, out);
}

static int gelu_build(mm_build_ctx *ctx, void **out) {
    const char *a;
    MM_TRY(mm_build_string(ctx, "approximate", &a));
    mm_module *m = NULL;
    int rc = mm_gelu_new(a, &m);
    return nn_out(rc, m, out);
}

static int softplus_build(mm_build_ctx *ctx, void **out) {
    double beta, threshold;
    MM_TRY(mm_build_float(ctx, "beta", &beta));
    MM_TRY(mm_build_float(ctx, "threshold", &threshold));
    mm_module *m = NULL;
    int rc = mm_softplus_new(beta, threshold, &m);
    return nn_out(rc, m, out);
}

static int hsigmoid_build(mm_build_ctx *ctx, void **out) {
    double a[4];
    MM_TRY(mm_build_float(ctx, "bias", &a[0]));
    MM_TRY(mm_build_float(ctx, "divisor", &a[1]));
    MM_TRY(mm_build_float(ctx, "min_value", &a[2]));
    MM_TRY(mm_build_float(ctx, "max_value", &a[3]));
    mm_module *m = NULL;
    int rc = mm_hsigmoid_new(a[0], a[1], a[2], a[3], &m);
    return nn_out(rc, m, out);
}

static int prelu_build(mm_build_ctx *ctx, void **out) {
    int64_t n;
    double init;
    MM_TRY(mm_build_int(ctx, "num_parameters", &n));
    MM_TRY(mm_build_float(ctx, "init", &init));
    mm_module *m = NULL;
    int rc = mm_prelu_new(n, init, &m);
    return nn_out(rc, m, out);
}

static const mm_param inplace_params[] = {
    NN_INPLACE_PARAM,
};
static const mm_param leaky_relu_params[] = {
    {.name = "negative_slope",
     .type = MM_PARAM_FLOAT,
     .def = "0.01",
     .doc = "slope for x < 0"},
    NN_INPLACE_PARAM,
};
static const mm_param elu_params[] = {
    {.name = "alpha",
     .type = MM_PARAM_FLOAT,
     .def = "1.0",
     .doc = "alpha * (exp(x) - 1) for x <= 0"},
    NN_INPLACE_PARAM,
};
static const mm_param gelu_params[] = {
    {.name = "approximate",
     .type = MM_PARAM_STRING,
     .def = "none",
     .doc = "'none' (erf) or 'tanh'"},
};
static const mm_param softplus_params[] = {
    {.name = "beta",
     .type = MM_PARAM_FLOAT,
     .def = "1.0",
     .doc = "log(1 + exp(beta x)) / beta"},
    {.name = "threshold",
     .type = MM_PARAM_FLOAT,
     .def = "20.0",
     .doc = "linear above beta x > threshold"},
};
static const mm_param hsigmoid_params[] = {
    {.name = "bias", .type = MM_PARAM_FLOAT, .def = "3.0", .doc = "added to x"},
    {.name = "divisor",
     .type = MM_PARAM_FLOAT,
     .def = "6.0",
     .doc = "divides x + bias"},
    {.name = "min_value",
     .type = MM_PARAM_FLOAT,
     .def = "0.0",
     .doc = "lower clamp"},
    {.name = "max_value",
     .type = MM_PARAM_FLOAT,
     .def = "1.0",
     .doc = "upper clamp"},
};
static const mm_param prelu_params[] = {
    {.name = "num_parameters",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "1, or the number of channels"},
    {.name = "init",
     .type = MM_PARAM_FLOAT,
     .def = "0.25",
     .doc = "initial slope"},
};

NN_COMPONENT(relu6_c, "ReLU6", "min(max(x, 0), 6)", inplace_params,
                 relu6_build);
NN_COMPONENT(leaky_relu_c, "LeakyReLU", "x < 0 ? negative_slope * x : x",
                 leaky_relu_params, leaky_relu_build);
NN_COMPONENT(prelu_c, "PReLU", "leaky ReLU with learned slopes",
                 prelu_params, prelu_build);
NN_COMPONENT(elu_c, "ELU", "x < 0 ? alpha * (exp(x) - 1) : x", elu_params,
                 elu_build);
NN_COMPONENT(gelu_c, "GELU", "x * Phi(x)", gelu_params, gelu_build);
NN_COMPONENT(silu_c, "SiLU", "x * sigmoid(x)", inplace_params, silu_build);
NN_COMPONENT0(swish_c, "Swish", "x * sigmoid(x) (mmcv's name for SiLU)",
                  silu_build);
NN_COMPONENT(hardswish_c, "Hardswish", "x * relu6(x + 3) / 6",
                 inplace_params, hardswish_build);
NN_COMPONENT(hswish_c, "HSwish", "x * relu6(x + 3) / 6 (mmcv's name)",
                 inplace_params, hardswish_build);
NN_COMPONENT(hardsigmoid_c, "Hardsigmoid", "relu6(x + 3) / 6",
                 inplace_params, hardsigmoid_build);
NN_COMPONENT(hsigmoid_c, "HSigmoid",
                 "clamp((x + bias) / divisor, min_value, max_value) (mmcv)",
                 hsigmoid_params, hsigmoid_build);
NN_COMPONENT(mish_c, "Mish", "x * tanh(softplus(x))", inplace_params,
                 mish_build);
NN_COMPONENT(softplus_c, "Softplus", "log(1 + exp(beta x)) / beta",
                 softplus_params, softplus_build);

int mm_nn_register_activation(void) {
    static const mm_component *const cs[] = {
        &relu6_c,    &leaky_relu_c, &prelu_c,     &elu_c,    &gelu_c,
        &silu_c,     &swish_c,      &hardswish_c, &hswish_c, &hardsigmoid_c,
        &hsigmoid_c, &mish_c,       &softplus_c};
    return nn_register_all(cs, sizeof cs / sizeof cs[0]);
}
