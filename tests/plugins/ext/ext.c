/* ext: an out-of-tree example plugin. It registers a model component
 * (ext.TinyNet, a two-layer perceptron), a transform (ext.TinyShift), a
 * pipeline step that drops samples (ext.TinyFilter) and a runner hook
 * (ext.CountHook); a config uses them next to the core's Compose and
 * mmcls's metrics. */
#include <stdint.h>
#include <stdlib.h>

#include <mm/log.h>
#include <mm/nn.h>
#include <mm/plugin.h>
#include <mm/registry.h>
#include <mm/runner.h>
#include <mm/transform.h>

/* TinyNet: fc1 -> ReLU -> fc2. Its children are the core's Linear layers,
 * so its state_dict keys are torch's (fc1.weight, fc1.bias, ...). */
static int tiny_net_forward(mm_module *m, int n, mm_tensor *const *inputs,
                            mm_tensor **out) {
    (void)n;
    mm_tensor *h, *a;                      /* (B, hidden) */
    int rc = mm_linear_forward(mm_module_get_child(m, "fc1"), inputs[0], &h);
    if (!rc)
        rc = mm_relu(h, &a);
    if (!rc)                               /* (B, num_classes) */
        rc = mm_linear_forward(mm_module_get_child(m, "fc2"), a, out);
    return rc;
}

static const mm_module_class tiny_net_class = {
    .name = "TinyNet", .forward = tiny_net_forward};

static int tiny_net_build(mm_build_ctx *ctx, void **out) {
    int64_t in, hidden, classes;
    int rc = mm_build_int(ctx, "in_features", &in);
    if (!rc)
        rc = mm_build_int(ctx, "hidden", &hidden);
    if (!rc)
        rc = mm_build_int(ctx, "num_classes", &classes);
    if (rc)
        return rc;
    if (in <= 0 || hidden <= 0 || classes <= 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "in_features, hidden and num_classes must be "
                               "positive");
    mm_module *net, *fc1, *fc2;
    if ((rc = mm_module_new(&tiny_net_class, sizeof(mm_module), &net)))
        return rc;
    if (!(rc = mm_linear_new(in, hidden, true, &fc1)))
        rc = mm_module_add_child(net, "fc1", fc1);
    if (!rc && !(rc = mm_linear_new(hidden, classes, true, &fc2)))
        rc = mm_module_add_child(net, "fc2", fc2);
    if (rc) {
        mm_module_free(net);
        return rc;
    }
    *out = net;
    return MM_OK;
}

static void module_destroy(void *m) { mm_module_free(m); }

static const mm_param tiny_net_params[] = {
    {.name = "in_features", .type = MM_PARAM_INT, .required = true,
     .doc = "input features"},
    {.name = "hidden", .type = MM_PARAM_INT, .def = "16", .doc = "hidden units"},
    {.name = "num_classes", .type = MM_PARAM_INT, .required = true,
     .doc = "output classes"},
};

static const mm_component tiny_net_component = {
    .kind = MM_MODELS,
    .name = "TinyNet",
    .doc = "a two-layer perceptron: Linear, ReLU, Linear",
    .params = tiny_net_params,
    .n_params = 3,
    .build = tiny_net_build,
    .destroy = module_destroy,
};

/* TinyShift: gt_label += offset. */
typedef struct tiny_shift {
    mm_transform base;
    int64_t offset;
} tiny_shift;

static int shift_apply(mm_transform *t, mm_value *results) {
    const mm_value *label = mm_value_dict_get(results, "gt_label");
    if (!label || !mm_value_is_int(label))
        return mm_error_set(MM_EINVAL, "results has no integer 'gt_label'");
    int64_t shifted = mm_value_get_int(label) + ((tiny_shift *)t)->offset;
    return mm_value_dict_set_take(results, "gt_label",
                                  mm_value_new_int(shifted));
}

static void shift_destroy(mm_transform *t) { free(t); }

static const mm_transform_class shift_class = {
    .name = "ext.TinyShift", .apply = shift_apply, .destroy = shift_destroy};

static int shift_build(mm_build_ctx *ctx, void **out) {
    tiny_shift *t = calloc(1, sizeof *t);
    if (!t)
        return mm_error_set(MM_ENOMEM, "out of memory");
    t->base.cls = &shift_class;
    int rc = mm_build_int(ctx, "offset", &t->offset);
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    return MM_OK;
}

static void transform_destroy(void *t) { mm_transform_free(t); }

static const mm_param shift_params[] = {
    {.name = "offset", .type = MM_PARAM_INT, .def = "1",
     .doc = "added to gt_label"},
};

static const mm_component tiny_shift_component = {
    .kind = MM_TRANSFORMS,
    .name = "TinyShift",
    .doc = "add an offset to gt_label",
    .params = shift_params,
    .n_params = 1,
    .build = shift_build,
    .destroy = transform_destroy,
};

/* TinyFilter: drops samples whose gt_label is below min_label. */
typedef struct tiny_filter {
    mm_transform base;
    int64_t min_label;
} tiny_filter;

static int filter_apply(mm_transform *t, mm_value *results) {
    const mm_value *label = mm_value_dict_get(results, "gt_label");
    if (!label || !mm_value_is_int(label))
        return mm_error_set(MM_EINVAL, "results has no integer 'gt_label'");
    return mm_value_get_int(label) < ((tiny_filter *)t)->min_label
               ? MM_TRANSFORM_DROP
               : MM_OK;
}

static void filter_destroy(mm_transform *t) { free(t); }

static const mm_transform_class filter_class = {
    .name = "ext.TinyFilter", .apply = filter_apply, .destroy = filter_destroy};

static int filter_build(mm_build_ctx *ctx, void **out) {
    tiny_filter *t = calloc(1, sizeof *t);
    if (!t)
        return mm_error_set(MM_ENOMEM, "out of memory");
    t->base.cls = &filter_class;
    int rc = mm_build_int(ctx, "min_label", &t->min_label);
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    return MM_OK;
}

static const mm_param filter_params[] = {
    {.name = "min_label", .type = MM_PARAM_INT, .required = true,
     .doc = "samples with a smaller gt_label are dropped"},
};

static const mm_component tiny_filter_component = {
    .kind = MM_TRANSFORMS,
    .name = "TinyFilter",
    .doc = "drop samples whose gt_label is below min_label",
    .params = filter_params,
    .n_params = 1,
    .build = filter_build,
    .destroy = transform_destroy,
};

/* CountHook: counts training iterations and epochs and validations, and
 * logs the counts when the run ends ("CountHook: 2 epochs, 16 iterations,
 * 2 validations"). */
typedef struct count_hook {
    mm_hook base;
    int64_t epochs, iters, vals;
} count_hook;

static int count_iter(mm_hook *h, mm_runner *r, int64_t i,
                      const mm_value *batch, const mm_value *outputs) {
    (void)r, (void)i, (void)batch, (void)outputs;
    ((count_hook *)h)->iters++;
    return MM_OK;
}

static int count_epoch(mm_hook *h, mm_runner *r) {
    (void)r;
    ((count_hook *)h)->epochs++;
    return MM_OK;
}

static int count_val(mm_hook *h, mm_runner *r) {
    (void)r;
    ((count_hook *)h)->vals++;
    return MM_OK;
}

static int count_after_run(mm_hook *h, mm_runner *r) {
    count_hook *c = (count_hook *)h;
    MM_INFO("CountHook: %lld epochs, %lld iterations, %lld validations "
            "(runner at epoch %lld, iter %lld)",
            (long long)c->epochs, (long long)c->iters, (long long)c->vals,
            (long long)mm_runner_epoch(r), (long long)mm_runner_iter(r));
    return MM_OK;
}

static const mm_hook_class count_class = {
    .name = "CountHook",
    .priority = MM_PRIORITY_NORMAL,
    .after_train_iter = count_iter,
    .after_train_epoch = count_epoch,
    .after_val = count_val,
    .after_run = count_after_run,
};

static int count_build(mm_build_ctx *ctx, void **out) {
    (void)ctx;
    count_hook *h = calloc(1, sizeof *h);
    if (!h)
        return mm_error_set(MM_ENOMEM, "out of memory");
    h->base.cls = &count_class;
    *out = h;
    return MM_OK;
}

static const mm_param count_params[] = {MM_HOOK_BASE_PARAMS};

static const mm_component count_component = {
    .kind = MM_HOOKS,
    .name = "CountHook",
    .doc = "count training iterations, epochs and validations",
    .params = count_params,
    .n_params = 1,
    .build = count_build,
    .destroy = mm_hook_destroy,
};

static int ext_init(void) {
    const mm_component *all[] = {&tiny_net_component, &tiny_shift_component,
                                 &tiny_filter_component, &count_component};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int rc = mm_register(all[i]);
        if (rc)
            return rc;
    }
    return MM_OK;
}

MM_PLUGIN_DEFINE(ext, "0.1.0", "MIT", "Tiny example components", NULL,
                 ext_init)
