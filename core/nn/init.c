/* Weight initialisation, as torch.nn.init: the same formulas for gains,
 * fans and bounds, drawing from the Philox generators of <mm/rng.h>. Every
 * function runs under no-grad, so parameters can be passed directly. */
#include <math.h>
#include <string.h>

#include "mm/autograd.h"
#include "mm/nn.h"
#include "mm/ops.h"

static int check_float(const char *fn, const mm_tensor *t) {
    if (!t)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", fn);
    if (!mm_dtype_is_float(t->dtype))
        return mm_error_set(MM_EINVAL,
                            "%s: expected a floating-point tensor, got %s", fn,
                            mm_dtype_name(t->dtype));
    return MM_OK;
}

int mm_init_calculate_gain(const char *nl, double param, double *out) {
    static const char *const unit[] = {
        "linear",           "conv1d",           "conv2d",           "conv3d",
        "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid"};
    if (!nl)
        nl = "leaky_relu";
    for (size_t i = 0; i < sizeof unit / sizeof unit[0]; i++)
        if (strcmp(nl, unit[i]) == 0)
            return *out = 1.0, MM_OK;
    if (strcmp(nl, "tanh") == 0)
        return *out = 5.0 / 3.0, MM_OK;
    if (strcmp(nl, "relu") == 0)
        return *out = sqrt(2.0), MM_OK;
    if (strcmp(nl, "leaky_relu") == 0) {
        double slope = isnan(param) ? 0.01 : param;
        return *out = sqrt(2.0 / (1.0 + slope * slope)), MM_OK;
    }
    if (strcmp(nl, "selu") == 0)
        return *out = 0.75, MM_OK;
    return mm_error_set(MM_EINVAL,
                        "calculate_gain: unsupported nonlinearity "
                        "'%s'",
                        nl);
}

int mm_init_calculate_fan(const mm_tensor *t, int64_t *fan_in,
                          int64_t *fan_out) {
    if (!t)
        return mm_error_set(MM_EINVAL, "calculate_fan: tensor is NULL");
    if (t->ndim < 2)
        return mm_error_set(MM_EINVAL,
                            "calculate_fan: fan in and fan out can not be "
                            "computed for a tensor with fewer than 2 dims "
                            "(got %d)",
                            t->ndim);
    int64_t receptive = 1;
    for (int d = 2; d < t->ndim; d++)
        receptive *= t->shape[d];
    *fan_in = t->shape[1] * receptive;
    *fan_out = t->shape[0] * receptive;
    return MM_OK;
}

int mm_init_uniform_(mm_tensor *t, double a, double b, mm_generator *gen) {
    MM_TRY(check_float("uniform_", t));
    if (!t->numel)
        return MM_OK;
    mm_no_grad_push();
    int rc = mm_tensor_uniform_(t, a, b, gen);
    mm_no_grad_pop();
    return rc;
}

int mm_init_normal_(mm_tensor *t, double mean, double std, mm_generator *gen) {
    MM_TRY(check_float("normal_", t));
    if (!t->numel)
        return MM_OK;
    mm_no_grad_push();
    int rc = mm_tensor_normal_(t, mean, std, gen);
    mm_no_grad_pop();
    return rc;
}

int mm_init_constant_(mm_tensor *t, double value) {
    MM_TRY(check_float("constant_", t));
    mm_no_grad_push();
    int rc = mm_tensor_fill_(t, value);
    mm_no_grad_pop();
    return rc;
}

int mm_init_zeros_(mm_tensor *t) { return mm_init_constant_(t, 0.0); }
int mm_init_ones_(mm_tensor *t) { return mm_init_constant_(t, 1.0); }

static int xavier_std(const char *fn, mm_tensor *t, double gain, double *std) {
    MM_TRY(check_float(fn, t));
    int64_t fi, fo;
    int rc = mm_init_calculate_fan(t, &fi, &fo);
    if (rc)
        return mm_error_context(rc, NULL, "%s", fn);
    *std = fi + fo > 0 ? gain * sqrt(2.0 / (double)(fi + fo)) : 0.0;
    return MM_OK;
}

int mm_init_xavier_uniform_(mm_tensor *t, double gain, mm_generator *gen) {
    double std;
    MM_TRY(xavier_std("xavier_uniform_", t, gain, &std));
    double a = sqrt(3.0) * std;
    return mm_init_uniform_(t, -a, a, gen);
}

int mm_init_xavier_normal_(mm_tensor *t, double gain, mm_generator *gen) {
    double std;
    MM_TRY(xavier_std("xavier_normal_", t, gain, &std));
    return mm_init_normal_(t, 0.0, std, gen);
}

static int kaiming_std(const char *fn, mm_tensor *t, double a, const char *mode,
                       const char *nl, double *std) {
    MM_TRY(check_float(fn, t));
    if (!mode)
        mode = "fan_in";
    bool fan_in = strcmp(mode, "fan_in") == 0;
    if (!fan_in && strcmp(mode, "fan_out") != 0)
        return mm_error_set(MM_EINVAL,
                            "%s: mode '%s' is not supported (use 'fan_in' or "
                            "'fan_out')",
                            fn, mode);
    int64_t fi, fo;
    int rc = mm_init_calculate_fan(t, &fi, &fo);
    if (rc)
        return mm_error_context(rc, NULL, "%s", fn);
    double gain;
    rc = mm_init_calculate_gain(nl, a, &gain);
    if (rc)
        return mm_error_context(rc, NULL, "%s", fn);
    int64_t fan = fan_in ? fi : fo;
    *std = fan > 0 ? gain / sqrt((double)fan) : 0.0;
    return MM_OK;
}

int mm_init_kaiming_uniform_(mm_tensor *t, double a, const char *mode,
                             const char *nonlinearity, mm_generator *gen) {
    double std;
    MM_TRY(kaiming_std("kaiming_uniform_", t, a, mode, nonlinearity, &std));
    double bound = sqrt(3.0) * std;
    return mm_init_uniform_(t, -bound, bound, gen);
}

int mm_init_kaiming_normal_(mm_tensor *t, double a, const char *mode,
                            const char *nonlinearity, mm_generator *gen) {
    double std;
    MM_TRY(kaiming_std("kaiming_normal_", t, a, mode, nonlinearity, &std));
    return mm_init_normal_(t, 0.0, std, gen);
}

/* erf^-1 on (-1, 1): Giles' single-precision approximation as the start,
 * then two Newton steps on erf(x) - y, which reach double precision. */
static double erfinv(double y) {
    if (y <= -1.0)
        return -INFINITY;
    if (y >= 1.0)
        return INFINITY;
    double w = -log((1.0 - y) * (1.0 + y)), x;
    if (w < 5.0) {
        w -= 2.5;
        x = 2.81022636e-08;
        x = 3.43273939e-07 + x * w;
        x = -3.5233877e-06 + x * w;
        x = -4.39150654e-06 + x * w;
        x = 0.00021858087 + x * w;
        x = -0.00125372503 + x * w;
        x = -0.00417768164 + x * w;
        x = 0.246640727 + x * w;
        x = 1.50140941 + x * w;
    } else {
        w = sqrt(w) - 3.0;
        x = -0.000200214257;
        x = 0.000100950558 + x * w;
        x = 0.00134934322 + x * w;
        x = -0.00367342844 + x * w;
        x = 0.00573950773 + x * w;
        x = -0.0076224613 + x * w;
        x = 0.00943887047 + x * w;
        x = 1.00167406 + x * w;
        x = 2.83297682 + x * w;
    }
    x *= y;
    for (int i = 0; i < 2; i++) {
        double err = erf(x) - y;
        x -= err / (1.1283791670955126 * exp(-x * x)); /* 2/sqrt(pi) */
    }
    return x;
}

static double norm_cdf(double x) { return (1.0 + erf(x / sqrt(2.0))) / 2.0; }

int mm_init_trunc_normal_(mm_tensor *t, double mean, double std, double a,
                          double b, mm_generator *gen) {
    MM_TRY(check_float("trunc_normal_", t));
    if (!(std >= 0) || !(a < b))
        return mm_error_set(MM_EINVAL,
                            "trunc_normal_: needs std >= 0 and a < b (got std "
                            "%g, a %g, b %g)",
                            std, a, b);
    if (!t->numel)
        return MM_OK;
    if (std == 0)
        return mm_init_constant_(t, mean < a ? a : mean > b ? b : mean);
    /* torch: uniform on [2l - 1, 2u - 1], erfinv, scale, shift, clamp. The
     * numbers are drawn in f64 and then converted, so the result does not
     * depend on t's dtype beyond its rounding. */
    double l = norm_cdf((a - mean) / std), u = norm_cdf((b - mean) / std);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *tmp = NULL;
    int rc = mm_empty(t->ndim, t->shape, MM_F64, &tmp);
    if (!rc)
        rc = mm_tensor_uniform_(tmp, 2 * l - 1, 2 * u - 1, gen);
    if (!rc) {
        double *v = MM_DATA(tmp, double);
        for (int64_t i = 0; i < tmp->numel; i++) {
            double x = erfinv(v[i]) * std * sqrt(2.0) + mean;
            v[i] = x < a ? a : x > b ? b : x;
        }
        mm_no_grad_push();
        rc = mm_tensor_copy_(t, tmp);
        mm_no_grad_pop();
    }
    mm_pool_close(pool);
    return rc;
}
