/* Normalisation layers: BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, LayerNorm,
 * GroupNorm over the norm ops, with torch's buffers, defaults and running
 * statistics bookkeeping; MODELS components with mmcv's aliases (BN, BN1d,
 * BN2d, BN3d, IN, IN1d, IN2d, IN3d, LN, GN) and its `requires_grad` key. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

enum { NORM_BATCH, NORM_INSTANCE, NORM_LAYER, NORM_GROUP };

static const mm_module_class *norm_class(int kind, int nsp);

/* ---- forward --------------------------------------------------------------
 */

static int check_dims(const mm_nn_norm *n, const mm_tensor *x, int lo, int hi) {
    if (x->ndim >= lo && x->ndim <= hi)
        return MM_OK;
    if (lo == hi)
        return mm_error_set(MM_EINVAL, "%s: expected %dD input (got %dD input)",
                            n->base.cls->name, lo, x->ndim);
    return mm_error_set(MM_EINVAL,
                        "%s: expected %dD or %dD input (got %dD input)",
                        n->base.cls->name, lo, hi, x->ndim);
}

static int batch_norm_fwd(mm_nn_norm *n, mm_tensor *x, mm_tensor **out) {
    mm_module *m = &n->base;
    int lo = n->nsp == 1 ? 2 : n->nsp + 2;
    MM_TRY(check_dims(n, x, lo, n->nsp + 2));
    double factor = n->momentum_none ? 0.0 : n->momentum;
    if (m->training && n->track_running_stats && n->num_batches_tracked) {
        /* num_batches_tracked.add_(1), under no-grad like torch's buffers */
        int64_t count;
        MM_TRY(mm_tensor_item_i64(n->num_batches_tracked, &count));
        mm_no_grad_push();
        int rc = mm_tensor_fill_(n->num_batches_tracked, (double)(count + 1));
        mm_no_grad_pop();
        MM_TRY(rc);
        if (n->momentum_none)
            factor = 1.0 / (double)(count + 1);
    }
    bool use_batch = m->training || (!n->running_mean && !n->running_var);
    bool pass_stats = !m->training || n->track_running_stats;
    return mm_batch_norm(x, pass_stats ? n->running_mean : NULL,
                         pass_stats ? n->running_var : NULL, n->weight, n->bias,
                         use_batch, factor, n->eps, out);
}

static int instance_norm_fwd(mm_nn_norm *n, mm_tensor *x, mm_tensor **out) {
    MM_TRY(check_dims(n, x, n->nsp + 1, n->nsp + 2));
    if (x->ndim < n->nsp + 2) { /* unbatched (C, ...) */
        mm_tensor *b, *y;
        MM_TRY(mm_unsqueeze(x, 0, &b));
        MM_TRY(instance_norm_fwd(n, b, &y));
        return mm_squeeze(y, 0, out);
    }
    if (x->shape[1] != n->num_features && n->affine)
        return mm_error_set(MM_EINVAL,
                            "%s: expected input with %lld channels, got %lld",
                            n->base.cls->name, (long long)n->num_features,
                            (long long)x->shape[1]);
    bool use_input_stats = n->base.training || !n->track_running_stats;
    return mm_instance_norm(x, n->running_mean, n->running_var, n->weight,
                            n->bias, use_input_stats,
                            n->momentum_none ? 0.1 : n->momentum, n->eps, out);
}

int mm_norm_forward(mm_module *m, mm_tensor *x, mm_tensor **out) {
    if (!mm_module_is_norm(m))
        return mm_error_set(MM_EINVAL, "norm: module is a %s, not a norm",
                            m ? m->cls->name : "NULL");
    mm_nn_norm *n = (mm_nn_norm *)m;
    switch (n->kind) {
    case NORM_BATCH:
        return batch_norm_fwd(n, x, out);
    case NORM_INSTANCE:
        return instance_norm_fwd(n, x, out);
    case NORM_LAYER:
        return mm_layer_norm(x, n->n_norm, n->normalized_shape, n->weight,
                             n->bias, n->eps, out);
    default:
        return mm_group_norm(x, n->num_groups, n->weight, n->bias, n->eps, out);
    }
}

static int norm_fwd(mm_module *m, int n, mm_tensor *const *in,
                    mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_norm_forward(m, in[0], out);
}

/* reset_running_stats + reset_parameters: running_mean 0, running_var 1,
 * num_batches_tracked 0; weight 1, bias 0. */
static int norm_init(mm_module *m) {
    mm_nn_norm *n = (mm_nn_norm *)m;
    if (n->running_mean)
        MM_TRY(mm_init_zeros_(n->running_mean));
    if (n->running_var)
        MM_TRY(mm_init_ones_(n->running_var));
    if (n->num_batches_tracked)
        MM_TRY(mm_tensor_zero_(n->num_batches_tracked));
    if (n->weight)
        MM_TRY(mm_init_ones_(n->weight));
    if (n->bias)
        MM_TRY(mm_init_zeros_(n->bias));
    return MM_OK;
}

static void norm_repr(const mm_module *m, char *buf, size_t size) {
    const mm_nn_norm *n = (const mm_nn_norm *)m;
    char mom[32];
    if (n->momentum_none)
        snprintf(mom, sizeof mom, "None");
    else
        snprintf(mom, sizeof mom, "%g", n->momentum);
    switch (n->kind) {
    case NORM_LAYER: {
        size_t w = (size_t)snprintf(buf, size, "(");
        for (int i = 0; i < n->n_norm && w < size; i++)
            w += (size_t)snprintf(buf + w, size - w, "%s%lld", i ? ", " : "",
                                  (long long)n->normalized_shape[i]);
        if (w < size)
            snprintf(buf + w, size - w, "%s), eps=%g, elementwise_affine=%s",
                     n->n_norm == 1 ? "," : "", n->eps,
                     n->affine ? "True" : "False");
        break;
    }
    case NORM_GROUP:
        snprintf(buf, size, "%lld, %lld, eps=%g, affine=%s",
                 (long long)n->num_groups, (long long)n->num_features, n->eps,
                 n->affine ? "True" : "False");
        break;
    default:
        snprintf(buf, size,
                 "%lld, eps=%g, momentum=%s, affine=%s, "
                 "track_running_stats=%s",
                 (long long)n->num_features, n->eps, mom,
                 n->affine ? "True" : "False",
                 n->track_running_stats ? "True" : "False");
    }
}

#define NORM_CLASS(N)                                                          \
    {                                                                          \
        .name = N, .forward = norm_fwd, .init_weights = norm_init,             \
        .extra_repr = norm_repr                                                \
    }
static const mm_module_class batch_classes[3] = {NORM_CLASS("BatchNorm1d"),
                                                 NORM_CLASS("BatchNorm2d"),
                                                 NORM_CLASS("BatchNorm3d")};
static const mm_module_class instance_classes[3] = {
    NORM_CLASS("InstanceNorm1d"), NORM_CLASS("InstanceNorm2d"),
    NORM_CLASS("InstanceNorm3d")};
static const mm_module_class layer_class = NORM_CLASS("LayerNorm");
static const mm_module_class group_class = NORM_CLASS("GroupNorm");
#undef NORM_CLASS

static const mm_module_class *norm_class(int kind, int nsp) {
    switch (kind) {
    case NORM_BATCH:
        return &batch_classes[nsp - 1];
    case NORM_INSTANCE:
        return &instance_classes[nsp - 1];
    case NORM_LAYER:
        return &layer_class;
    default:
        return &group_class;
    }
}

bool mm_module_is_norm(const mm_module *m) {
    if (!m)
        return false;
    for (int i = 0; i < 3; i++)
        if (m->cls == &batch_classes[i] || m->cls == &instance_classes[i])
            return true;
    return m->cls == &layer_class || m->cls == &group_class;
}

bool mm_module_is_batch_norm(const mm_module *m) {
    return m && (m->cls == &batch_classes[0] || m->cls == &batch_classes[1] ||
                 m->cls == &batch_classes[2]);
}

/* ---- constructors ----------------------------------------------------------
 */

static int norm_alloc(int kind, int nsp, mm_module **out) {
    MM_TRY(mm_module_new(norm_class(kind, nsp), sizeof(mm_nn_norm), out));
    mm_nn_norm *n = (mm_nn_norm *)*out;
    n->kind = kind;
    n->nsp = nsp;
    return MM_OK;
}

/* weight/bias (C) when affine; running stats and the batch counter when
 * tracking: torch's _NormBase registration order. */
static int add_norm_tensors(mm_module *m, int64_t c, bool affine, bool track) {
    mm_nn_norm *n = (mm_nn_norm *)m;
    if (affine) {
        MM_TRY(nn_add_param(m, "weight", MM_SHAPE(c), &n->weight));
        MM_TRY(nn_add_param(m, "bias", MM_SHAPE(c), &n->bias));
    }
    if (track) {
        MM_TRY(nn_add_buffer(m, "running_mean", MM_SHAPE(c), MM_F32, 0,
                             &n->running_mean));
        MM_TRY(nn_add_buffer(m, "running_var", MM_SHAPE(c), MM_F32, 1,
                             &n->running_var));
        MM_TRY(nn_add_buffer(m, "num_batches_tracked", 0, NULL, MM_I64, 0,
                             &n->num_batches_tracked));
    }
    return MM_OK;
}

static int stats_norm_new(int kind, int nsp, int64_t num_features, double eps,
                          double momentum, bool affine,
                          bool track_running_stats, mm_module **out) {
    *out = NULL;
    const char *name = norm_class(kind, nsp >= 1 && nsp <= 3 ? nsp : 2)->name;
    if (nsp < 1 || nsp > 3)
        return mm_error_set(MM_EINVAL, "%s: %d spatial dims (expected 1-3)",
                            name, nsp);
    if (num_features <= 0)
        return mm_error_set(MM_EINVAL, "%s: num_features %lld must be positive",
                            name, (long long)num_features);
    mm_module *m;
    MM_TRY(norm_alloc(kind, nsp, &m));
    mm_nn_norm *n = (mm_nn_norm *)m;
    n->num_features = num_features;
    n->eps = eps;
    n->momentum_none = isnan(momentum);
    n->momentum = n->momentum_none ? 0.0 : momentum;
    n->affine = affine;
    n->track_running_stats = track_running_stats;
    int rc = add_norm_tensors(m, num_features, affine, track_running_stats);
    return nn_finish(m, rc, out);
}

int mm_batch_norm_new(int nsp, int64_t num_features, double eps,
                      double momentum, bool affine, bool track_running_stats,
                      mm_module **out) {
    return stats_norm_new(NORM_BATCH, nsp, num_features, eps, momentum, affine,
                          track_running_stats, out);
}

int mm_instance_norm_new(int nsp, int64_t num_features, double eps,
                         double momentum, bool affine, bool track_running_stats,
                         mm_module **out) {
    return stats_norm_new(NORM_INSTANCE, nsp, num_features, eps, momentum,
                          affine, track_running_stats, out);
}

int mm_layer_norm_new(int n_norm, const int64_t *normalized_shape, double eps,
                      bool elementwise_affine, bool bias, mm_module **out) {
    *out = NULL;
    if (n_norm < 1 || n_norm > MM_MAX_DIMS)
        return mm_error_set(MM_EINVAL,
                            "LayerNorm: normalized_shape has %d dims "
                            "(expected 1-%d)",
                            n_norm, MM_MAX_DIMS);
    for (int i = 0; i < n_norm; i++)
        if (normalized_shape[i] <= 0)
            return mm_error_set(MM_EINVAL,
                                "LayerNorm: normalized_shape entries must be "
                                "positive");
    mm_module *m;
    MM_TRY(norm_alloc(NORM_LAYER, 0, &m));
    mm_nn_norm *n = (mm_nn_norm *)m;
    n->n_norm = n_norm;
    memcpy(n->normalized_shape, normalized_shape, n_norm * sizeof(int64_t));
    n->num_features = normalized_shape[n_norm - 1];
    n->eps = eps;
    n->affine = elementwise_affine;
    int rc = MM_OK;
    if (elementwise_affine) {
        rc = nn_add_param(m, "weight", n_norm, normalized_shape, &n->weight);
        if (!rc && bias)
            rc = nn_add_param(m, "bias", n_norm, normalized_shape, &n->bias);
    }
    return nn_finish(m, rc, out);
}

int mm_group_norm_new(int64_t num_groups, int64_t num_channels, double eps,
                      bool affine, mm_module **out) {
    *out = NULL;
    if (num_groups <= 0 || num_channels <= 0 || num_channels % num_groups)
        return mm_error_set(MM_EINVAL,
                            "GroupNorm: num_channels %lld must be divisible by "
                            "num_groups %lld (both positive)",
                            (long long)num_channels, (long long)num_groups);
    mm_module *m;
    MM_TRY(norm_alloc(NORM_GROUP, 0, &m));
    mm_nn_norm *n = (mm_nn_norm *)m;
    n->num_groups = num_groups;
    n->num_features = num_channels;
    n->eps = eps;
    n->affine = affine;
    int rc = add_norm_tensors(m, num_channels, affine, false);
    return nn_finish(m, rc, out);
}

/* ---- MODELS components ------------------------------------------------------
 */

/* mmcv's norm_cfg key: requires_grad false freezes the affine parameters. */
static int apply_requires_grad(mm_build_ctx *ctx, mm_module *m) {
    bool rg;
    MM_TRY(mm_build_bool(ctx, "requires_grad", &rg));
    if (!rg)
        for (size_t i = 0; i < m->n_params; i++)
            MM_TRY(mm_tensor_set_requires_grad(m->params[i].tensor, false));
    return MM_OK;
}

/* A norm builder's result: requires_grad applied, m freed on failure. */
static int norm_out(mm_build_ctx *ctx, int rc, mm_module *m, void **out) {
    if (!rc)
        rc = apply_requires_grad(ctx, m);
    if (rc)
        mm_module_free(m), m = NULL;
    return nn_out(rc, m, out);
}

static int build_momentum(mm_build_ctx *ctx, double *out) {
    bool none;
    MM_TRY(nn_build_opt_float(ctx, "momentum", out, &none));
    if (none)
        *out = NAN;
    return MM_OK;
}

static int stats_build(mm_build_ctx *ctx, int kind, int nsp, void **out) {
    int64_t c;
    double eps, momentum;
    bool affine, track;
    MM_TRY(mm_build_int(ctx, "num_features", &c));
    MM_TRY(mm_build_float(ctx, "eps", &eps));
    MM_TRY(build_momentum(ctx, &momentum));
    MM_TRY(mm_build_bool(ctx, "affine", &affine));
    MM_TRY(mm_build_bool(ctx, "track_running_stats", &track));
    mm_module *m = NULL;
    int rc = stats_norm_new(kind, nsp, c, eps, momentum, affine, track, &m);
    return norm_out(ctx, rc, m, out);
}

#define STATS_BUILDER(fn, kind, nsp)                                           \
    static int fn(mm_build_ctx *ctx, void **out) {                             \
        return stats_build(ctx, kind, nsp, out);                               \
    }
STATS_BUILDER(bn1d_build, NORM_BATCH, 1)
STATS_BUILDER(bn2d_build, NORM_BATCH, 2)
STATS_BUILDER(bn3d_build, NORM_BATCH, 3)
STATS_BUILDER(in1d_build, NORM_INSTANCE, 1)
STATS_BUILDER(in2d_build, NORM_INSTANCE, 2)
STATS_BUILDER(in3d_build, NORM_INSTANCE, 3)

static int layer_norm_build(mm_build_ctx *ctx, void **out) {
    const mm_value *v = mm_build_arg(ctx, "normalized_shape");
    int64_t shape[MM_MAX_DIMS];
    int n = mm_value_is_list(v) ? (int)mm_value_len(v) : 1;
    if (n < 1 || n > MM_MAX_DIMS)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "normalized_shape: expected 1 to %d sizes",
                               MM_MAX_DIMS);
    MM_TRY(nn_build_ints(ctx, "normalized_shape", n, shape));
    double eps;
    bool affine, bias;
    MM_TRY(mm_build_float(ctx, "eps", &eps));
    MM_TRY(mm_build_bool(ctx, "elementwise_affine", &affine));
    MM_TRY(mm_build_bool(ctx, "bias", &bias));
    mm_module *m = NULL;
    int rc = mm_layer_norm_new(n, shape, eps, affine, bias, &m);
    return norm_out(ctx, rc, m, out);
}

static int group_norm_build(mm_build_ctx *ctx, void **out) {
    int64_t g, c;
    double eps;
    bool affine;
    MM_TRY(mm_build_int(ctx, "num_groups", &g));
    MM_TRY(mm_build_int(ctx, "num_channels", &c));
    MM_TRY(mm_build_float(ctx, "eps", &eps));
    MM_TRY(mm_build_bool(ctx, "affine", &affine));
    mm_module *m = NULL;
    int rc = mm_group_norm_new(g, c, eps, affine, &m);
    return norm_out(ctx, rc, m, out);
}

#define REQUIRES_GRAD_PARAM                                                    \
    {                                                                          \
        .name = "requires_grad", .type = MM_PARAM_BOOL, .def = "true",         \
        .doc = "mmcv's norm_cfg key: false freezes weight and bias"            \
    }

#define EPS_PARAM                                                              \
    {                                                                          \
        .name = "eps", .type = MM_PARAM_FLOAT, .def = "1e-05",                 \
        .doc = "added to the variance"                                         \
    }

static const mm_param bn_params[] = {
    {.name = "num_features",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "C of an (N, C, ...) input"},
    EPS_PARAM,
    {.name = "momentum",
     .type = MM_PARAM_FLOAT | MM_PARAM_NULL,
     .def = "0.1",
     .doc = "running stats update factor (null: cumulative average)"},
    {.name = "affine",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "learn weight and bias"},
    {.name = "track_running_stats",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "keep running mean and variance for eval"},
    REQUIRES_GRAD_PARAM,
};

static const mm_param in_params[] = {
    {.name = "num_features",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "C of an (N, C, ...) input"},
    EPS_PARAM,
    {.name = "momentum",
     .type = MM_PARAM_FLOAT | MM_PARAM_NULL,
     .def = "0.1",
     .doc = "running stats update factor"},
    {.name = "affine",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "learn weight and bias"},
    {.name = "track_running_stats",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "keep running mean and variance for eval"},
    REQUIRES_GRAD_PARAM,
};

static const mm_param ln_params[] = {
    {.name = "normalized_shape",
     .type = MM_PARAM_INT | MM_PARAM_LIST,
     .required = true,
     .doc = "the trailing dims normalised over"},
    EPS_PARAM,
    {.name = "elementwise_affine",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "learn weight (and bias)"},
    {.name = "bias",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "learn a bias (with elementwise_affine)"},
    REQUIRES_GRAD_PARAM,
};

static const mm_param gn_params[] = {
    {.name = "num_groups",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "groups the channels are split into"},
    {.name = "num_channels",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "C of an (N, C, ...) input"},
    EPS_PARAM,
    {.name = "affine",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "learn per-channel weight and bias"},
    REQUIRES_GRAD_PARAM,
};

NN_COMPONENT(bn1d_c, "BatchNorm1d", "batch norm over (N, C) or (N, C, L)",
               bn_params, bn1d_build);
NN_COMPONENT(bn2d_c, "BatchNorm2d", "batch norm over (N, C, H, W)", bn_params,
               bn2d_build);
NN_COMPONENT(bn3d_c, "BatchNorm3d", "batch norm over (N, C, D, H, W)",
               bn_params, bn3d_build);
NN_COMPONENT(bn_c, "BN", "BatchNorm2d (mmcv's name)", bn_params, bn2d_build);
NN_COMPONENT(bn1d_alias_c, "BN1d", "BatchNorm1d (mmcv's name)", bn_params,
               bn1d_build);
NN_COMPONENT(bn2d_alias_c, "BN2d", "BatchNorm2d (mmcv's name)", bn_params,
               bn2d_build);
NN_COMPONENT(bn3d_alias_c, "BN3d", "BatchNorm3d (mmcv's name)", bn_params,
               bn3d_build);
NN_COMPONENT(in1d_c, "InstanceNorm1d", "instance norm over (N, C, L)",
               in_params, in1d_build);
NN_COMPONENT(in2d_c, "InstanceNorm2d", "instance norm over (N, C, H, W)",
               in_params, in2d_build);
NN_COMPONENT(in3d_c, "InstanceNorm3d", "instance norm over (N, C, D, H, W)",
               in_params, in3d_build);
NN_COMPONENT(in_c, "IN", "InstanceNorm2d (mmcv's name)", in_params,
               in2d_build);
NN_COMPONENT(in1d_alias_c, "IN1d", "InstanceNorm1d (mmcv's name)", in_params,
               in1d_build);
NN_COMPONENT(in2d_alias_c, "IN2d", "InstanceNorm2d (mmcv's name)", in_params,
               in2d_build);
NN_COMPONENT(in3d_alias_c, "IN3d", "InstanceNorm3d (mmcv's name)", in_params,
               in3d_build);
NN_COMPONENT(ln_c, "LayerNorm", "layer norm over the trailing dims",
               ln_params, layer_norm_build);
NN_COMPONENT(ln_alias_c, "LN", "LayerNorm (mmcv's name)", ln_params,
               layer_norm_build);
NN_COMPONENT(gn_c, "GroupNorm", "group norm over (N, C, ...)", gn_params,
               group_norm_build);
NN_COMPONENT(gn_alias_c, "GN", "GroupNorm (mmcv's name)", gn_params,
               group_norm_build);

int mm_nn_register_norm(void) {
    static const mm_component *const cs[] = {
        &bn1d_c,       &bn2d_c,       &bn3d_c,       &bn_c,
        &bn1d_alias_c, &bn2d_alias_c, &bn3d_alias_c, &in1d_c,
        &in2d_c,       &in3d_c,       &in_c,         &in1d_alias_c,
        &in2d_alias_c, &in3d_alias_c, &ln_c,         &ln_alias_c,
        &gn_c,         &gn_alias_c};
    return nn_register_all(cs, sizeof cs / sizeof cs[0]);
}
