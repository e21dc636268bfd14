/* Validation of a whole config: which top-level keys hold which kinds of
 * component, with mmengine's defaults for nodes that may omit `type`. */
#include <stdio.h>
#include <string.h>

#include "registry_internal.h"

/* Validate node as `kind`; a missing type takes default_type (if any). */
static int check(mm_kind kind, const mm_value *node, const char *scope,
                 const char *path, const char *default_type) {
    if (!node || mm_value_is_null(node))
        return MM_OK;
    if (default_type && mm_value_is_dict(node) && !mm_value_dict_get(node, "type")) {
        mm_value *copy = mm_value_copy(node);
        mm_value *t = mm_value_new_string(default_type);
        if (!copy || !t || mm_value_dict_set_take(copy, "type", t)) {
            mm_value_release(copy);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
        mm_value_set_srcloc(mm_value_dict_get(copy, "type"), mm_value_loc(node));
        /* mmengine's loop shortcut: by_epoch picks the loop, then goes. */
        if (kind == MM_LOOPS)
            mm_value_dict_del(copy, "by_epoch");
        int rc = mm_registry_validate(kind, copy, scope, path);
        mm_value_release(copy);
        return rc;
    }
    return mm_registry_validate(kind, node, scope, path);
}

/* A component or a list of them (param_scheduler, custom_hooks, metrics). */
static int check_one_or_list(mm_kind kind, const mm_value *node,
                             const char *scope, const char *path) {
    if (!mm_value_is_list(node))
        return check(kind, node, scope, path, NULL);
    for (size_t i = 0; i < mm_value_len(node); i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%zu", path, i);
        int rc = check(kind, mm_value_list_get(node, i), scope, sub, NULL);
        if (rc)
            return rc;
    }
    return MM_OK;
}

static int check_dataloader(const mm_value *dl, const char *scope,
                            const char *name) {
    static const struct {
        const char *key;
        mm_kind kind;
    } parts[] = {
        {"dataset", MM_DATASETS},
        {"sampler", MM_DATA_SAMPLERS},
        {"batch_sampler", MM_DATA_SAMPLERS},
        {"collate_fn", MM_COLLATE_FUNCTIONS},
    };
    if (!dl || !mm_value_is_dict(dl))
        return MM_OK;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s.%s", name, parts[i].key);
        int rc = check(parts[i].kind, mm_value_dict_get(dl, parts[i].key),
                       scope, path, NULL);
        if (rc)
            return rc;
    }
    return MM_OK;
}

/* mmengine accepts a metric, a list of metrics, or an Evaluator config
 * with `metrics`. */
static int check_evaluator(const mm_value *ev, const char *scope,
                           const char *name) {
    if (ev && mm_value_is_dict(ev) && mm_value_dict_get(ev, "metrics"))
        return check(MM_EVALUATORS, ev, scope, name, "Evaluator");
    return check_one_or_list(MM_METRICS, ev, scope, name);
}

static int check_loop(const mm_value *cfg, const char *scope, const char *name) {
    if (!cfg || !mm_value_is_dict(cfg))
        return MM_OK;
    const char *def = NULL;
    if (strcmp(name, "train_cfg") == 0) {
        const mm_value *by_epoch = mm_value_dict_get(cfg, "by_epoch");
        if (!mm_value_dict_get(cfg, "type") && !by_epoch)
            return MM_OK; /* the runner reports what is missing */
        def = by_epoch && mm_value_is_bool(by_epoch) && !mm_value_get_bool(by_epoch)
                  ? "IterBasedTrainLoop"
                  : "EpochBasedTrainLoop";
    } else {
        def = strcmp(name, "val_cfg") == 0 ? "ValLoop" : "TestLoop";
    }
    return check(MM_LOOPS, cfg, scope, name, def);
}

int mm_config_validate_components(const mm_value *cfg) {
    if (!mm_value_is_dict(cfg))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(cfg),
                               "a config is a mapping, not a %s",
                               mm_value_type_name(mm_value_type_of(cfg)));
    const char *scope = "mm";
    const mm_value *ds = mm_value_dict_get(cfg, "default_scope");
    if (ds && !mm_value_is_null(ds)) {
        if (!mm_value_is_string(ds) || !mm_scope_name_valid(mm_value_get_string(ds)))
            return mm_error_set_at(MM_ETYPE, mm_value_loc(ds),
                                   "default_scope: must be a scope name like "
                                   "'mmdet'");
        scope = mm_value_get_string(ds);
    }
    int rc = check(MM_MODELS, mm_value_dict_get(cfg, "model"), scope, "model",
                   NULL);
    static const char *const loaders[] = {"train_dataloader", "val_dataloader",
                                          "test_dataloader"};
    for (size_t i = 0; !rc && i < 3; i++)
        rc = check_dataloader(mm_value_dict_get(cfg, loaders[i]), scope,
                              loaders[i]);
    static const char *const evaluators[] = {"val_evaluator", "test_evaluator"};
    for (size_t i = 0; !rc && i < 2; i++)
        rc = check_evaluator(mm_value_dict_get(cfg, evaluators[i]), scope,
                             evaluators[i]);
    if (!rc)
        rc = check(MM_OPTIM_WRAPPERS, mm_value_dict_get(cfg, "optim_wrapper"),
                   scope, "optim_wrapper", "OptimWrapper");
    if (!rc)
        rc = check_one_or_list(MM_PARAM_SCHEDULERS,
                               mm_value_dict_get(cfg, "param_scheduler"), scope,
                               "param_scheduler");
    const mm_value *hooks = mm_value_dict_get(cfg, "default_hooks");
    for (size_t i = 0; !rc && mm_value_is_dict(hooks) && i < mm_value_len(hooks);
         i++) {
        char path[256];
        snprintf(path, sizeof path, "default_hooks.%s",
                 mm_value_dict_key_at(hooks, i));
        rc = check(MM_HOOKS, mm_value_dict_value_at(hooks, i), scope, path, NULL);
    }
    if (!rc)
        rc = check_one_or_list(MM_HOOKS, mm_value_dict_get(cfg, "custom_hooks"),
                               scope, "custom_hooks");
    static const char *const loops[] = {"train_cfg", "val_cfg", "test_cfg"};
    for (size_t i = 0; !rc && i < 3; i++)
        rc = check_loop(mm_value_dict_get(cfg, loops[i]), scope, loops[i]);
    if (!rc)
        rc = check(MM_VISUALIZERS, mm_value_dict_get(cfg, "visualizer"), scope,
                   "visualizer", NULL);
    /* OpenMMLab configs name their pipelines train_pipeline, test_pipeline,
     * ... at the top level and reference them from the datasets. */
    for (size_t i = 0; !rc && i < mm_value_len(cfg); i++) {
        const char *key = mm_value_dict_key_at(cfg, i);
        size_t n = strlen(key);
        const mm_value *v = mm_value_dict_value_at(cfg, i);
        if (n >= 9 && strcmp(key + n - 9, "_pipeline") == 0 && mm_value_is_list(v))
            rc = check_one_or_list(MM_TRANSFORMS, v, scope, key);
    }
    return rc;
}
