/* Helpers shared by the layer files of core/nn: argument checks of forward
 * functions, tensor creation for constructors, and builder glue. */
#ifndef MM_NN_INTERNAL_H
#define MM_NN_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/autograd.h"
#include "mm/nn.h"
#include "mm/ops.h"
#include "mm/registry.h"

/* The typed forward of `cls` was given another module. */
static inline int nn_check_class(const char *fn, const mm_module *m,
                                 const mm_module_class *cls) {
    if (!m)
        return mm_error_set(MM_EINVAL, "%s: module is NULL", fn);
    if (m->cls != cls)
        return mm_error_set(MM_EINVAL, "%s: module is a %s, not a %s", fn,
                            m->cls->name, cls->name);
    return MM_OK;
}

/* A generic forward with exactly one input. */
static inline int nn_one_input(const mm_module *m, int n,
                               mm_tensor *const *inputs) {
    if (n != 1 || !inputs || !inputs[0])
        return mm_error_set(MM_EINVAL, "%s: expected 1 input tensor, got %d",
                            m->cls->name, n);
    return MM_OK;
}

/* Make a zero-filled f32 tensor and register it as a parameter (or buffer)
 * of m mirrored in *field. Works with or without a pool open. */
static inline int nn_add_param(mm_module *m, const char *name, int ndim,
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

static inline int nn_add_buffer(mm_module *m, const char *name, int ndim,
                                const int64_t *shape, mm_dtype dtype,
                                double value, mm_tensor **field) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *t = NULL;
    int rc = mm_full(ndim, shape, value, dtype, &t);
    if (!rc)
        rc = mm_module_add_buffer(m, name, t, true, field);
    mm_pool_close(pool);
    return rc;
}

/* x itself as a result (retained into the pool, as an op's output is). */
static inline int nn_passthrough(mm_tensor *x, mm_tensor **out) {
    *out = x;
    return mm_tensor_autorelease(mm_tensor_retain(x));
}

/* End of a constructor: on failure free m, else hand it out. Runs the
 * class's init_weights first. */
static inline int nn_finish(mm_module *m, int rc, mm_module **out) {
    if (!rc)
        rc = mm_module_init_weights(m);
    if (rc) {
        mm_module_free(m);
        *out = NULL;
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* A double as Python's repr writes it (0.1, 1.0, 1e-05). */
static inline const char *nn_py_float(double v, char *buf, size_t size) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eni")) /* integral: Python adds ".0" */
        snprintf(buf + strlen(buf), size - strlen(buf), ".0");
    return buf;
}

/* An activation's `inplace` argument, when its schema has one. */
static inline void nn_read_inplace(mm_build_ctx *ctx, mm_module *m) {
    const mm_value *v = mm_build_arg(ctx, "inplace");
    if (m && mm_value_is_bool(v))
        ((mm_nn_activation *)m)->inplace = mm_value_get_bool(v);
}

/* A builder's result: *out = m on success. */
static inline int nn_out(int rc, mm_module *m, void **out) {
    *out = rc ? NULL : m;
    return rc;
}

/* The class mm_<lower>_class of a parameter-free activation: forward
 * fn(x), extra_repr repr. */
#define NN_PLAIN(lower, Name, fn, repr)                                        \
    static int lower##_fwd(mm_module *m, int n, mm_tensor *const *in,          \
                           mm_tensor **out) {                                  \
        MM_TRY(nn_one_input(m, n, in));                                        \
        return fn(in[0], out);                                                 \
    }                                                                          \
    const mm_module_class mm_##lower##_class = {                               \
        .name = Name, .forward = lower##_fwd, .extra_repr = repr};

/* A MODELS component `var` with a parameter table and nn_destroy. */
#define NN_COMPONENT(var, Name, Doc, params_, build_)                          \
    static const mm_component var = {.kind = MM_MODELS,                        \
                                     .name = Name,                             \
                                     .doc = Doc,                               \
                                     .params = params_,                        \
                                     .n_params =                               \
                                         sizeof params_ / sizeof params_[0],   \
                                     .build = build_,                          \
                                     .destroy = nn_destroy}
/* The same without parameters. */
#define NN_COMPONENT0(var, Name, Doc, build_)                                  \
    static const mm_component var = {.kind = MM_MODELS,                        \
                                     .name = Name,                             \
                                     .doc = Doc,                               \
                                     .build = build_,                          \
                                     .destroy = nn_destroy}

/* The `inplace` parameter torch's activations take (no effect here). */
#define NN_INPLACE_PARAM                                                       \
    {                                                                          \
        .name = "inplace", .type = MM_PARAM_BOOL, .def = "false",              \
        .doc = "accepted for PyTorch compatibility; results are never in "     \
               "place"                                                         \
    }

/* A builder per parameter-free activation class (an `inplace` argument, when
 * the schema has one, is read and has no effect on the result). */
#define NN_PLAIN_BUILDER(lower)                                                \
    static int lower##_build(mm_build_ctx *ctx, void **out) {                  \
        mm_module *m = NULL;                                                   \
        int rc = mm_activation_new(&mm_##lower##_class, &m);                   \
        nn_read_inplace(ctx, m);                                               \
        return nn_out(rc, m, out);                                             \
    }

/* Builders: an int-or-list argument as `n` ints (an int repeats; a list must
 * have n entries, or 1). MM_EINVAL names the parameter. */
int nn_build_ints(mm_build_ctx *ctx, const char *param, int n, int64_t *out);
/* A null-or-number argument; *is_null tells which. */
int nn_build_opt_float(mm_build_ctx *ctx, const char *param, double *out,
                       bool *is_null);
/* The component destroy of every MODELS layer. */
void nn_destroy(void *obj);
/* Register n components. */
int nn_register_all(const mm_component *const *cs, size_t n);

/* extra_repr of the activations that take `inplace`: "inplace=True". */
void mm_nn_inplace_repr(const mm_module *m, char *buf, size_t size);

/* Registration of each layer file. */
int mm_nn_register_basic(void);
int mm_nn_register_conv(void);
int mm_nn_register_norm(void);
int mm_nn_register_pool(void);
int mm_nn_register_attention(void);
int mm_nn_register_embedding(void);
int mm_nn_register_conv_module(void);
int mm_nn_register_model(void); /* model.c: the data preprocessors */
int mm_nn_register_activation(void);

/* fused.c: drop what mm_conv_bn_act cached for module m (it is being
 * freed). */
void mm_fused_forget(const mm_module *m);

#endif
