/* mmengine's Evaluator: a list of metrics fed the same batches, whose
 * results merge into one dict. EVALUATORS component `Evaluator`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/eval.h"
#include "mm/runner.h"

struct mm_evaluator {
    size_t n;
    mm_metric **metrics;
};

void mm_evaluator_free(mm_evaluator *ev) {
    if (!ev)
        return;
    for (size_t i = 0; i < ev->n; i++)
        mm_metric_free(ev->metrics[i]);
    free(ev->metrics);
    free(ev);
}

void mm_evaluator_destroy(void *ev) { mm_evaluator_free(ev); }

static int ev_new(size_t cap, mm_evaluator **out) {
    mm_evaluator *ev = calloc(1, sizeof *ev);
    if (!ev || !(ev->metrics = calloc(cap ? cap : 1, sizeof *ev->metrics))) {
        free(ev);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *out = ev;
    return MM_OK;
}

/* {type: Evaluator, metrics: [...]} through the registry. */
static int evaluator_build(mm_build_ctx *ctx, void **out) {
    const mm_value *metrics = mm_build_arg(ctx, "metrics");
    size_t n = mm_value_is_list(metrics) ? mm_value_len(metrics) : 0;
    mm_evaluator *ev;
    int rc = ev_new(n, &ev);
    for (size_t i = 0; !rc && i < n; i++) {
        void *m = NULL;
        rc = mm_build_child_at(ctx, "metrics", i, &m);
        if (!rc && m)
            ev->metrics[ev->n++] = m;
    }
    if (rc) {
        mm_evaluator_free(ev);
        return rc;
    }
    *out = ev;
    return MM_OK;
}

static const mm_param evaluator_params[] = {
    {.name = "metrics",
     .type = MM_PARAM_COMPONENT_LIST,
     .kind = MM_METRICS,
     .required = true,
     .doc = "the metrics, each fed every batch"},
};

const mm_component mm_evaluator_component = {
    .kind = MM_EVALUATORS,
    .name = "Evaluator",
    .doc = "runs a list of metrics and merges their results",
    .params = evaluator_params,
    .n_params = 1,
    .build = evaluator_build,
    .destroy = mm_evaluator_destroy,
};

int mm_evaluator_build(const mm_value *node, const char *path,
                       const char *default_scope, mm_evaluator **out) {
    if (!node || mm_value_is_null(node))
        return mm_error_set(MM_EINVAL, "%s: no evaluator configured", path);
    if (mm_value_is_dict(node) && mm_value_dict_get(node, "metrics")) {
        mm_value *copy = mm_value_copy(node);
        if (!copy)
            return mm_error_set(MM_ENOMEM, "out of memory");
        int rc = MM_OK;
        if (!mm_value_dict_get(copy, "type")) {
            rc = mm_value_dict_set_take(copy, "type",
                                        mm_value_new_string("Evaluator"));
            mm_value_set_srcloc(mm_value_dict_get(copy, "type"),
                                mm_value_loc(node));
        }
        void *obj = NULL;
        if (!rc)
            rc = mm_registry_build(MM_EVALUATORS, copy, default_scope, path,
                                   NULL, &obj);
        mm_value_release(copy);
        if (!rc)
            *out = obj;
        return rc;
    }
    bool list = mm_value_is_list(node);
    size_t n = list ? mm_value_len(node) : 1;
    mm_evaluator *ev;
    int rc = ev_new(n, &ev);
    for (size_t i = 0; !rc && i < n; i++) {
        char sub[256];
        if (list)
            snprintf(sub, sizeof sub, "%s.%zu", path, i);
        else
            snprintf(sub, sizeof sub, "%s", path);
        void *m = NULL;
        rc = mm_registry_build(MM_METRICS,
                               list ? mm_value_list_get(node, i) : node,
                               default_scope, sub, NULL, &m);
        if (!rc)
            ev->metrics[ev->n++] = m;
    }
    if (rc) {
        mm_evaluator_free(ev);
        return rc;
    }
    *out = ev;
    return MM_OK;
}

void mm_evaluator_set_dataset_meta(mm_evaluator *ev, mm_value *meta) {
    for (size_t i = 0; i < ev->n; i++)
        mm_metric_set_dataset_meta(ev->metrics[i], meta);
}

int mm_evaluator_process(mm_evaluator *ev, const mm_value *data_batch,
                         const mm_value *data_samples) {
    for (size_t i = 0; i < ev->n; i++) {
        int rc = mm_metric_process(ev->metrics[i], data_batch, data_samples);
        if (rc)
            return rc;
    }
    return MM_OK;
}

int mm_evaluator_evaluate(mm_evaluator *ev, size_t size, mm_value **out) {
    mm_value *all = mm_value_new_dict();
    if (!all)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < ev->n; i++) {
        mm_value *m = NULL;
        int rc = mm_metric_evaluate(ev->metrics[i], size, &m);
        for (size_t j = 0; !rc && j < mm_value_len(m); j++) {
            const char *k = mm_value_dict_key_at(m, j);
            if (mm_value_dict_get(all, k))
                rc = mm_error_set(MM_EINVAL,
                                  "evaluator: there are multiple evaluation "
                                  "results with the same metric name '%s'; "
                                  "set a `prefix` on the metrics",
                                  k);
            else
                rc = mm_value_dict_set(all, k, mm_value_dict_value_at(m, j));
        }
        mm_value_release(m);
        if (rc) {
            mm_value_release(all);
            return rc;
        }
    }
    *out = all;
    return MM_OK;
}
