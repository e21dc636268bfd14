/* Layers built from the elementwise, shape and matmul ops: Linear,
 * Identity, Flatten, Sequential, ModuleList, Dropout, DropPath and the
 * parameter-free activations; their MODELS components. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* ---- Linear -------------------------------------------------------------- */

static int linear_fwd(mm_module *m, int n, mm_tensor *const *in,
                      mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_linear_forward(m, in[0], out);
}

int mm_linear_forward(mm_module *m, mm_tensor *x, mm_tensor **out) {
    MM_TRY(nn_check_class("linear", m, &mm_linear_class));
    mm_nn_linear *l = (mm_nn_linear *)m;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in_features) {
        char s[96];
        return mm_error_set(MM_EINVAL,
                            "linear: input of shape %s, expected last dim %lld "
                            "(in_features)",
                            mm_shape_format(x->ndim, x->shape, s, sizeof s),
                            (long long)l->in_features);
    }
    // (*, in) @ W^T (in, out) + b (out) -> (*, out)
    return mm_linear(x, l->weight, l->bias, out);
}

static int linear_init(mm_module *m) {
    mm_nn_linear *l = (mm_nn_linear *)m;
    /* reset_parameters(): kaiming_uniform_(a=sqrt(5)) gives the bound
     * 1/sqrt(fan_in), and the bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
    MM_TRY(mm_init_kaiming_uniform_(l->weight, sqrt(5.0), "fan_in",
                                    "leaky_relu", NULL));
    if (l->bias) {
        double bound =
            l->in_features > 0 ? 1.0 / sqrt((double)l->in_features) : 0.0;
        MM_TRY(mm_init_uniform_(l->bias, -bound, bound, NULL));
    }
    return MM_OK;
}

static void linear_repr(const mm_module *m, char *buf, size_t size) {
    const mm_nn_linear *l = (const mm_nn_linear *)m;
    snprintf(buf, size, "in_features=%lld, out_features=%lld, bias=%s",
             (long long)l->in_features, (long long)l->out_features,
             l->bias ? "True" : "False");
}

const mm_module_class mm_linear_class = {.name = "Linear",
                                         .forward = linear_fwd,
                                         .init_weights = linear_init,
                                         .extra_repr = linear_repr};

int mm_linear_new(int64_t in_features, int64_t out_features, bool bias,
                  mm_module **out) {
    *out = NULL;
    if (in_features < 0 || out_features < 0)
        return mm_error_set(MM_EINVAL,
                            "Linear: in_features %lld and out_features %lld "
                            "must be non-negative",
                            (long long)in_features, (long long)out_features);
    mm_module *m;
    MM_TRY(mm_module_new(&mm_linear_class, sizeof(mm_nn_linear), &m));
    mm_nn_linear *l = (mm_nn_linear *)m;
    l->in_features = in_features;
    l->out_features = out_features;
    int rc = nn_add_param(m, "weight", MM_SHAPE(out_features, in_features),
                          &l->weight);
    if (!rc && bias)
        rc = nn_add_param(m, "bias", MM_SHAPE(out_features), &l->bias);
    return nn_finish(m, rc, out);
}

/* ---- Identity and the activations ---------------------------------------- */

static int identity_fwd(mm_module *m, int n, mm_tensor *const *in,
                        mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return nn_passthrough(in[0], out);
}

const mm_module_class mm_identity_class = {.name = "Identity",
                                           .forward = identity_fwd};

int mm_identity_new(mm_module **out) {
    return mm_activation_new(&mm_identity_class, out);
}

NN_PLAIN(relu, "ReLU", mm_relu, mm_nn_inplace_repr)
NN_PLAIN(sigmoid, "Sigmoid", mm_sigmoid, mm_nn_inplace_repr)
NN_PLAIN(tanh, "Tanh", mm_tanh, mm_nn_inplace_repr)

int mm_activation_new(const mm_module_class *cls, mm_module **out) {
    return mm_module_new(cls, sizeof(mm_nn_activation), out);
}

void mm_nn_inplace_repr(const mm_module *m, char *buf, size_t size) {
    snprintf(buf, size, "%s",
             ((const mm_nn_activation *)m)->inplace ? "inplace=True" : "");
}

/* ---- Flatten ------------------------------------------------------------- */

static int flatten_fwd(mm_module *m, int n, mm_tensor *const *in,
                       mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    mm_nn_flatten *f = (mm_nn_flatten *)m;
    return mm_flatten(in[0], f->start_dim, f->end_dim, out);
}

static void flatten_repr(const mm_module *m, char *buf, size_t size) {
    const mm_nn_flatten *f = (const mm_nn_flatten *)m;
    snprintf(buf, size, "start_dim=%d, end_dim=%d", f->start_dim, f->end_dim);
}

const mm_module_class mm_flatten_class = {
    .name = "Flatten", .forward = flatten_fwd, .extra_repr = flatten_repr};

int mm_flatten_new(int start_dim, int end_dim, mm_module **out) {
    MM_TRY(mm_module_new(&mm_flatten_class, sizeof(mm_nn_flatten), out));
    ((mm_nn_flatten *)*out)->start_dim = start_dim;
    ((mm_nn_flatten *)*out)->end_dim = end_dim;
    return MM_OK;
}

/* ---- Sequential and ModuleList --------------------------------------------
 */

int mm_sequential_forward(mm_module *m, mm_tensor *x, mm_tensor **out) {
    if (!m || (m->cls != &mm_sequential_class))
        return nn_check_class("sequential", m, &mm_sequential_class);
    if (!m->n_children)
        return nn_passthrough(x, out);
    for (size_t i = 0; i < m->n_children; i++)
        MM_TRY(mm_module_forward1(m->children[i].module, x, &x));
    *out = x;
    return MM_OK;
}

static int sequential_fwd(mm_module *m, int n, mm_tensor *const *in,
                          mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_sequential_forward(m, in[0], out);
}

const mm_module_class mm_sequential_class = {.name = "Sequential",
                                             .forward = sequential_fwd};
const mm_module_class mm_module_list_class = {.name = "ModuleList"};

int mm_sequential_append(mm_module *seq, mm_module *child) {
    char name[32];
    snprintf(name, sizeof name, "%zu", seq->n_children);
    return mm_module_add_child(seq, name, child);
}

static int container_new(const mm_module_class *cls, int n,
                         mm_module *const *modules, mm_module **out) {
    *out = NULL;
    mm_module *m = NULL;
    int rc = mm_module_new(cls, sizeof(mm_module), &m);
    int i = 0;
    for (; !rc && i < n; i++)
        rc = mm_sequential_append(m, modules[i]);
    for (; i < n; i++) /* owned from the call on, also on failure */
        mm_module_free(modules[i]);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

int mm_sequential_new(int n, mm_module *const *modules, mm_module **out) {
    return container_new(&mm_sequential_class, n, modules, out);
}

int mm_module_list_new(int n, mm_module *const *modules, mm_module **out) {
    return container_new(&mm_module_list_class, n, modules, out);
}

/* ---- Dropout and DropPath ------------------------------------------------ */

static int check_prob(const char *who, double p) {
    if (!(p >= 0.0 && p <= 1.0))
        return mm_error_set(MM_EINVAL,
                            "%s: probability has to be between 0 and 1, but "
                            "got %g",
                            who, p);
    return MM_OK;
}

int mm_dropout_forward(mm_module *m, mm_tensor *x, mm_tensor **out) {
    MM_TRY(nn_check_class("dropout", m, &mm_dropout_class));
    // x * bernoulli(1 - p) / (1 - p) in training, x itself in eval
    return mm_dropout(x, ((mm_nn_dropout *)m)->p, m->training, NULL, out);
}

static int dropout_fwd(mm_module *m, int n, mm_tensor *const *in,
                       mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_dropout_forward(m, in[0], out);
}

static void dropout_repr(const mm_module *m, char *buf, size_t size) {
    const mm_nn_dropout *d = (const mm_nn_dropout *)m;
    char f[32];
    snprintf(buf, size, "p=%s, inplace=%s", nn_py_float(d->p, f, sizeof f),
             d->inplace ? "True" : "False");
}

const mm_module_class mm_dropout_class = {
    .name = "Dropout", .forward = dropout_fwd, .extra_repr = dropout_repr};

int mm_dropout_new(double p, mm_module **out) {
    *out = NULL;
    MM_TRY(check_prob("Dropout", p));
    MM_TRY(mm_module_new(&mm_dropout_class, sizeof(mm_nn_dropout), out));
    ((mm_nn_dropout *)*out)->p = p;
    return MM_OK;
}

int mm_drop_path(mm_tensor *x, double drop_prob, bool training,
                 bool scale_by_keep, mm_generator *gen, mm_tensor **out) {
    *out = NULL;
    MM_TRY(check_prob("drop_path", drop_prob));
    if (drop_prob == 0.0 || !training)
        return nn_passthrough(x, out);
    if (x->ndim < 1 || !mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_EINVAL,
                            "drop_path: expected a float input with a batch "
                            "dim, got %d dims of %s",
                            x->ndim, mm_dtype_name(x->dtype));
    /* timm: one draw per sample, (B, 1, 1, ...), broadcast over the rest */
    double keep = 1.0 - drop_prob;
    int64_t shape[MM_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++)
        shape[d] = d ? 1 : x->shape[0];
    mm_tensor *r;
    MM_TRY(mm_empty(x->ndim, shape, x->dtype, &r));
    MM_TRY(mm_tensor_bernoulli_(r, keep, gen));
    if (keep > 0.0 && scale_by_keep)
        MM_TRY(mm_div_scalar(r, keep, &r));
    return mm_mul(x, r, out);
}

static int drop_path_fwd(mm_module *m, int n, mm_tensor *const *in,
                         mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    mm_nn_drop_path *d = (mm_nn_drop_path *)m;
    return mm_drop_path(in[0], d->drop_prob, m->training, d->scale_by_keep,
                        NULL, out);
}

static void drop_path_repr(const mm_module *m, char *buf, size_t size) {
    snprintf(buf, size, "drop_prob=%g",
             ((const mm_nn_drop_path *)m)->drop_prob);
}

const mm_module_class mm_drop_path_class = {
    .name = "DropPath", .forward = drop_path_fwd, .extra_repr = drop_path_repr};

int mm_drop_path_new(double drop_prob, bool scale_by_keep, mm_module **out) {
    *out = NULL;
    MM_TRY(check_prob("DropPath", drop_prob));
    MM_TRY(mm_module_new(&mm_drop_path_class, sizeof(mm_nn_drop_path), out));
    ((mm_nn_drop_path *)*out)->drop_prob = drop_prob;
    ((mm_nn_drop_path *)*out)->scale_by_keep = scale_by_keep;
    return MM_OK;
}

/* ---- MODELS components --------------------------------------------------- */

static int linear_build(mm_build_ctx *ctx, void **out) {
    int64_t in, o;
    bool bias;
    MM_TRY(mm_build_int(ctx, "in_features", &in));
    MM_TRY(mm_build_int(ctx, "out_features", &o));
    MM_TRY(mm_build_bool(ctx, "bias", &bias));
    mm_module *m = NULL;
    int rc = mm_linear_new(in, o, bias, &m);
    return nn_out(rc, m, out);
}

static const mm_param linear_params[] = {
    {.name = "in_features",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "size of each input sample"},
    {.name = "out_features",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "size of each output sample"},
    {.name = "bias",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "learn an additive bias"},
};

NN_PLAIN_BUILDER(identity)
NN_PLAIN_BUILDER(relu)
NN_PLAIN_BUILDER(sigmoid)
NN_PLAIN_BUILDER(tanh)

static const mm_param inplace_params[] = {
    NN_INPLACE_PARAM,
};

static int flatten_build(mm_build_ctx *ctx, void **out) {
    int64_t s, e;
    MM_TRY(mm_build_int(ctx, "start_dim", &s));
    MM_TRY(mm_build_int(ctx, "end_dim", &e));
    mm_module *m = NULL;
    int rc = mm_flatten_new((int)s, (int)e, &m);
    return nn_out(rc, m, out);
}

static const mm_param flatten_params[] = {
    {.name = "start_dim",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "first dim to flatten"},
    {.name = "end_dim",
     .type = MM_PARAM_INT,
     .def = "-1",
     .doc = "last dim to flatten"},
};

static int container_build(mm_build_ctx *ctx, const mm_module_class *cls,
                           void **out) {
    mm_module *m;
    MM_TRY(mm_module_new(cls, sizeof(mm_module), &m));
    size_t n = mm_value_len(mm_build_arg(ctx, "modules"));
    for (size_t i = 0; i < n; i++) {
        void *child = NULL;
        int rc = mm_build_child_at(ctx, "modules", i, &child);
        if (!rc)
            rc = mm_sequential_append(m, child);
        if (rc) {
            mm_module_free(m);
            return rc;
        }
    }
    *out = m;
    return MM_OK;
}

static int sequential_build(mm_build_ctx *ctx, void **out) {
    return container_build(ctx, &mm_sequential_class, out);
}

static int module_list_build(mm_build_ctx *ctx, void **out) {
    return container_build(ctx, &mm_module_list_class, out);
}

static const mm_param container_params[] = {
    {.name = "modules",
     .type = MM_PARAM_COMPONENT_LIST,
     .kind = MM_MODELS,
     .def = "[]",
     .doc = "the layers, named 0, 1, ... in order"},
};

static int dropout_build(mm_build_ctx *ctx, void **out) {
    double p;
    bool inplace;
    MM_TRY(mm_build_float(ctx, "p", &p));
    MM_TRY(mm_build_bool(ctx, "inplace", &inplace));
    mm_module *m = NULL;
    int rc = mm_dropout_new(p, &m);
    if (!rc)
        ((mm_nn_dropout *)m)->inplace = inplace;
    return nn_out(rc, m, out);
}

static const mm_param dropout_params[] = {
    {.name = "p",
     .type = MM_PARAM_FLOAT,
     .def = "0.5",
     .doc = "probability of an element to be zeroed"},
    NN_INPLACE_PARAM,
};

static int drop_path_build(mm_build_ctx *ctx, void **out) {
    double p;
    bool scale;
    MM_TRY(mm_build_float(ctx, "drop_prob", &p));
    MM_TRY(mm_build_bool(ctx, "scale_by_keep", &scale));
    mm_module *m = NULL;
    int rc = mm_drop_path_new(p, scale, &m);
    return nn_out(rc, m, out);
}

static const mm_param drop_path_params[] = {
    {.name = "drop_prob",
     .type = MM_PARAM_FLOAT,
     .def = "0.1",
     .doc = "probability of a sample's path to be zeroed (mmcv's default)"},
    {.name = "scale_by_keep",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "scale kept samples by 1 / (1 - drop_prob)"},
};

NN_COMPONENT(linear_c, "Linear", "y = x W^T + b (torch.nn.Linear)",
             linear_params, linear_build);
NN_COMPONENT(relu_c, "ReLU", "max(x, 0)", inplace_params, relu_build);
NN_COMPONENT(flatten_c, "Flatten", "merge dims start_dim..end_dim",
             flatten_params, flatten_build);
NN_COMPONENT(sequential_c, "Sequential", "layers called in order",
             container_params, sequential_build);
NN_COMPONENT(module_list_c, "ModuleList", "a list of modules (no forward)",
             container_params, module_list_build);
NN_COMPONENT(dropout_c, "Dropout", "zero elements with probability p",
             dropout_params, dropout_build);
NN_COMPONENT(drop_path_c, "DropPath",
             "stochastic depth: zero whole samples (timm/mmcv drop_path)",
             drop_path_params, drop_path_build);

static const mm_component identity_c = {.kind = MM_MODELS,
                                        .name = "Identity",
                                        .doc = "returns its input",
                                        .extra_params = true,
                                        .build = identity_build,
                                        .destroy = nn_destroy};
NN_COMPONENT0(sigmoid_c, "Sigmoid", "1 / (1 + exp(-x))", sigmoid_build);
NN_COMPONENT0(tanh_c, "Tanh", "tanh(x)", tanh_build);

int mm_nn_register_basic(void) {
    static const mm_component *const cs[] = {
        &linear_c,  &identity_c,   &relu_c,        &sigmoid_c, &tanh_c,
        &flatten_c, &sequential_c, &module_list_c, &dropout_c, &drop_path_c};
    return nn_register_all(cs, sizeof cs / sizeof cs[0]);
}
