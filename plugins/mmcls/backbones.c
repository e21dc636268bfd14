/* mmcls backbones and necks: LeNet5 (mmpretrain/models/backbones/lenet.py)
 * and GlobalAveragePooling (mmpretrain/models/necks/gap.py), made of the
 * core layers so that their state_dict names are mmpretrain's
 * (`features.0.weight`, `classifier.2.bias`). */
#include <stdio.h>

#include <mm/nn.h>
#include <mm/registry.h>

#include "mmcls.h"

/* ---- LeNet5 -------------------------------------------------------------- */

typedef struct lenet5 {
    mm_module base;
    int64_t num_classes;
    mm_module *features, *classifier; /* children; classifier may be NULL */
} lenet5;

/* x (N, 1, 32, 32) -> features (N, 120, 1, 1) -> (N, 120) -> classifier
 * (N, num_classes). mmpretrain squeezes every size-1 dim, which for a batch
 * of one also drops N; mm flattens from dim 1 so a batch stays a batch. */
static int lenet5_forward(mm_module *m, int n, mm_tensor *const *in,
                          mm_tensor **out) {
    lenet5 *l = (lenet5 *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "LeNet5 takes one input, got %d", n);
    mm_tensor *x;
    MM_TRY(mm_module_forward1(l->features, in[0], &x)); /* (N, 120, H', W') */
    if (!l->classifier) {
        *out = x;
        return MM_OK;
    }
    MM_TRY(mm_flatten(x, 1, -1, &x)); /* (N, 120) */
    if (x->shape[1] != 120) {
        char buf[64];
        return mm_error_set(MM_EINVAL,
                            "LeNet5 needs 32x32 inputs (features %s, want "
                            "120 per sample): add Resize(scale=32)",
                            mm_shape_format(x->ndim, x->shape, buf,
                                            sizeof buf));
    }
    return mm_module_forward1(l->classifier, x, out); /* (N, num_classes) */
}

static void lenet5_repr(const mm_module *m, char *buf, size_t size) {
    snprintf(buf, size, "num_classes=%lld",
             (long long)((const lenet5 *)m)->num_classes);
}

const mm_module_class mmcls_lenet5_class = {
    .name = "LeNet5",
    .forward = lenet5_forward,
    .extra_repr = lenet5_repr,
};

static int conv5(int64_t in, int64_t out, mm_module **m) {
    const int64_t k[2] = {5, 5}, s[2] = {1, 1};
    mm_conv_options o = {.nsp = 2, .in_channels = in, .out_channels = out,
                         .kernel_size = k, .stride = s, .groups = 1,
                         .bias = true};
    return mm_conv_new(&o, m);
}

static int avgpool2(mm_module **m) {
    const int64_t k[2] = {2, 2};
    return mm_avg_pool_new(2, k, NULL, NULL, false, true, 0, m);
}

static int tanh_new(mm_module **out) {
    return mm_activation_new(&mm_tanh_class, out);
}

/* A Sequential of mods[0..n) (owned from now on); when rc says one could
 * not be made, the others are freed. */
static int sequential_of(int n, mm_module **mods, int rc, mm_module **out) {
    if (rc) {
        for (int i = 0; i < n; i++)
            mm_module_free(mods[i]);
        return rc;
    }
    return mm_sequential_new(n, mods, out); /* owns them, also on failure */
}

int mmcls_lenet5_new(int64_t num_classes, mm_module **out) {
    mm_module *m, *f[8] = {0}, *k[3] = {0}, *seq;
    MM_TRY(mm_module_new(&mmcls_lenet5_class, sizeof(lenet5), &m));
    lenet5 *l = (lenet5 *)m;
    l->num_classes = num_classes;
    /* features: conv 1->6, tanh, pool, conv 6->16, tanh, pool, conv
     * 16->120, tanh (indices 0..7, as mmpretrain's nn.Sequential) */
    int rc = conv5(1, 6, &f[0]);
    rc = rc ? rc : tanh_new(&f[1]);
    rc = rc ? rc : avgpool2(&f[2]);
    rc = rc ? rc : conv5(6, 16, &f[3]);
    rc = rc ? rc : tanh_new(&f[4]);
    rc = rc ? rc : avgpool2(&f[5]);
    rc = rc ? rc : conv5(16, 120, &f[6]);
    rc = rc ? rc : tanh_new(&f[7]);
    rc = sequential_of(8, f, rc, &seq);
    if (!rc) {
        l->features = seq;
        rc = mm_module_add_child(m, "features", seq);
    }
    if (!rc && num_classes > 0) {
        /* classifier: Linear(120, 84), Tanh, Linear(84, num_classes) */
        rc = mm_linear_new(120, 84, true, &k[0]);
        rc = rc ? rc : tanh_new(&k[1]);
        rc = rc ? rc : mm_linear_new(84, num_classes, true, &k[2]);
        rc = sequential_of(3, k, rc, &seq);
        if (!rc) {
            l->classifier = seq;
            rc = mm_module_add_child(m, "classifier", seq);
        }
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static int lenet5_build(mm_build_ctx *ctx, void **out) {
    int64_t nc;
    MM_TRY(mm_build_int(ctx, "num_classes", &nc));
    /* init_cfg: mmpretrain's LeNet5 keeps PyTorch's default initialisation,
     * which the constructors apply. */
    mm_module *m;
    MM_TRY(mmcls_lenet5_new(nc, &m));
    *out = m;
    return MM_OK;
}

static const mm_param lenet5_params[] = {
    {.name = "num_classes", .type = MM_PARAM_INT, .def = "-1",
     .doc = "classes of the built-in classifier; <= 0: features only"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "accepted for mmpretrain configs; must be null"},
};

static int lenet5_build_checked(mm_build_ctx *ctx, void **out) {
    const mm_value *ic = mm_build_arg(ctx, "init_cfg");
    if (!mm_value_is_null(ic))
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(ic),
                               "init_cfg: not supported yet for LeNet5 "
                               "(PyTorch's default initialisation applies)");
    return lenet5_build(ctx, out);
}

static const mm_component lenet5_component = {
    .kind = MM_MODELS,
    .name = "LeNet5",
    .doc = "LeNet-5 backbone (input 32x32, 1 channel) as mmpretrain's",
    .params = lenet5_params,
    .n_params = sizeof lenet5_params / sizeof lenet5_params[0],
    .build = lenet5_build_checked,
    .destroy = mmcls_module_destroy,
};

/* ---- GlobalAveragePooling ------------------------------------------------ */

typedef struct gap {
    mm_module base;
    int dim;
    mm_module *pool; /* child "gap" */
} gap;

/* Each input (N, C, *) -> (N, C): one output per input, as mmpretrain
 * pools every feature map of a tuple. */
static int gap_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                             int cap, int *n_out, mm_tensor **outs) {
    gap *g = (gap *)m;
    if (n < 1 || n > cap)
        return mm_error_set(MM_EINVAL, "GlobalAveragePooling takes 1 to %d "
                                       "inputs, got %d", cap, n);
    for (int i = 0; i < n; i++) {
        mm_tensor *x = in[i];
        if (x->ndim != g->dim + 2) {
            char buf[64];
            return mm_error_set(MM_EINVAL,
                                "GlobalAveragePooling(dim=%d) needs (N, C) "
                                "plus %d spatial dims, got %s",
                                g->dim, g->dim,
                                mm_shape_format(x->ndim, x->shape, buf,
                                                sizeof buf));
        }
        MM_TRY(mm_module_forward1(g->pool, x, &x));
        MM_TRY(mm_flatten(x, 1, -1, &outs[i]));
    }
    *n_out = n;
    return MM_OK;
}

static void gap_repr(const mm_module *m, char *buf, size_t size) {
    snprintf(buf, size, "dim=%d", ((const gap *)m)->dim);
}

const mm_module_class mmcls_gap_class = {
    .name = "GlobalAveragePooling",
    .forward = mm_module_forward_last,
    .extra_repr = gap_repr,
    .forward_multi = gap_forward_multi,
};

int mmcls_gap_new(int dim, mm_module **out) {
    if (dim < 1 || dim > 3)
        return mm_error_set(MM_EINVAL,
                            "GlobalAveragePooling dim must be in 1, 2, 3, "
                            "got %d", dim);
    mm_module *m, *p;
    MM_TRY(mm_module_new(&mmcls_gap_class, sizeof(gap), &m));
    gap *g = (gap *)m;
    g->dim = dim;
    const int64_t ones[3] = {1, 1, 1};
    int rc = mm_adaptive_pool_nd_new(dim, false, ones, &p);
    if (!rc) {
        g->pool = p;
        rc = mm_module_add_child(m, "gap", p);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static int gap_build(mm_build_ctx *ctx, void **out) {
    int64_t dim;
    MM_TRY(mm_build_int(ctx, "dim", &dim));
    if (dim < 1 || dim > 3)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "dim")),
                               "dim: must be 1, 2 or 3 "
                               "(spatial dims), got %lld", (long long)dim);
    mm_module *m;
    MM_TRY(mmcls_gap_new((int)dim, &m));
    *out = m;
    return MM_OK;
}

static const mm_param gap_params[] = {
    {.name = "dim", .type = MM_PARAM_INT, .def = "2",
     .doc = "spatial dims to pool: 1, 2 or 3"},
};

static const mm_component gap_component = {
    .kind = MM_MODELS,
    .name = "GlobalAveragePooling",
    .doc = "global average pooling neck: (N, C, *) -> (N, C)",
    .params = gap_params,
    .n_params = sizeof gap_params / sizeof gap_params[0],
    .build = gap_build,
    .destroy = mmcls_module_destroy,
};

int mmcls_register_backbones(void) {
    MM_TRY(mm_register(&lenet5_component));
    MM_TRY(mm_register(&gap_component));
    return MM_OK;
}
