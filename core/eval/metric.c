/* The metric object: mmengine's BaseMetric (results, prefix, evaluate). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/eval.h"
#include "mm/log.h"

struct mm_metric {
    const mm_metric_class *cls;
    mm_value *results;      /* list */
    char *prefix;           /* NULL: keys are not prefixed */
    char collect_device[4]; /* "cpu" or "gpu" */
    mm_value *dataset_meta; /* NULL until set */
    /* Names the metric in errors: "val_evaluator (mmcls.Accuracy)" when
     * built from a config, else the class name. */
    char *where;
    void *priv;
};

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static bool device_ok(const char *device) {
    return device && (strcmp(device, "cpu") == 0 || strcmp(device, "gpu") == 0);
}

static int metric_new(const mm_metric_class *cls, size_t priv_size,
                      const char *prefix, const char *where, mm_metric **out) {
    *out = NULL;
    if (!cls || !cls->name || !cls->process || !cls->compute)
        return mm_error_set(MM_EINVAL, "a metric class needs a name, "
                                       "process and compute");
    mm_metric *m = calloc(1, sizeof *m);
    if (!m)
        return mm_error_set(MM_ENOMEM, "out of memory");
    m->cls = cls;
    memcpy(m->collect_device, "cpu", 4);
    if (!prefix || !*prefix)
        prefix = cls->default_prefix; /* mmengine: prefix or default_prefix */
    m->results = mm_value_new_list();
    m->where = dup_str(where ? where : cls->name);
    m->prefix = prefix && *prefix ? dup_str(prefix) : NULL;
    m->priv = priv_size ? calloc(1, priv_size) : NULL;
    if (!m->results || !m->where || (prefix && *prefix && !m->prefix) ||
        (priv_size && !m->priv)) {
        m->cls = NULL; /* nothing for fini to free yet */
        mm_metric_free(m);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (!m->prefix)
        MM_WARN("The prefix is not set in metric class %s.", cls->name);
    *out = m;
    return MM_OK;
}

int mm_metric_new(const mm_metric_class *cls, size_t priv_size,
                  const char *prefix, mm_metric **out) {
    return metric_new(cls, priv_size, prefix, NULL, out);
}

int mm_metric_from_build(mm_build_ctx *ctx, const mm_metric_class *cls,
                         size_t priv_size, mm_metric **out) {
    *out = NULL;
    const mm_value *p = mm_build_arg(ctx, "prefix");
    const mm_value *d = mm_build_arg(ctx, "collect_device");
    const char *device = mm_value_is_string(d) ? mm_value_get_string(d) : "cpu";
    if (!device_ok(device))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                               "collect_device must be 'cpu' or 'gpu', got "
                               "'%s'",
                               device);
    const mm_entry *e = mm_build_entry(ctx);
    const char *path = mm_build_path(ctx);
    char where[512];
    snprintf(where, sizeof where, "%s%s%s.%s%s", path, *path ? " (" : "",
             e->scope, e->component->name, *path ? ")" : "");
    int rc = metric_new(cls, priv_size,
                        mm_value_is_string(p) ? mm_value_get_string(p) : NULL,
                        where, out);
    if (rc)
        return rc;
    memcpy((*out)->collect_device, device, 4);
    return MM_OK;
}

void mm_metric_free(mm_metric *m) {
    if (!m)
        return;
    if (m->cls && m->cls->fini)
        m->cls->fini(m);
    mm_value_release(m->results);
    mm_value_release(m->dataset_meta);
    free(m->prefix);
    free(m->where);
    free(m->priv);
    free(m);
}

void mm_metric_destroy(void *metric) { mm_metric_free(metric); }

const mm_metric_class *mm_metric_class_of(const mm_metric *m) { return m->cls; }
void *mm_metric_priv(const mm_metric *m) { return m->priv; }
const char *mm_metric_prefix(const mm_metric *m) { return m->prefix; }
const char *mm_metric_collect_device(const mm_metric *m) {
    return m->collect_device;
}

int mm_metric_set_collect_device(mm_metric *m, const char *device) {
    if (!device_ok(device))
        return mm_error_set(MM_EINVAL,
                            "collect_device must be 'cpu' or 'gpu', got '%s'",
                            device ? device : "(null)");
    memcpy(m->collect_device, device, 4);
    return MM_OK;
}

mm_value *mm_metric_results(mm_metric *m) { return m->results; }
const mm_value *mm_metric_dataset_meta(const mm_metric *m) {
    return m->dataset_meta;
}

void mm_metric_set_dataset_meta(mm_metric *m, mm_value *meta) {
    mm_value *old = m->dataset_meta;
    m->dataset_meta = mm_value_retain(meta);
    mm_value_release(old);
}

int mm_metric_process(mm_metric *m, const mm_value *data_batch,
                      const mm_value *data_samples) {
    if (!mm_value_is_list(data_samples))
        return mm_error_set(MM_ETYPE,
                            "%s: data_samples must be a list of data samples, "
                            "got a %s",
                            m->where,
                            mm_value_type_name(mm_value_type_of(data_samples)));
    int rc = m->cls->process(m, data_batch, data_samples);
    return rc ? mm_error_context(rc, NULL, "%s", m->where) : MM_OK;
}

/* The first `size` results: the list itself when that is all of it (no
 * copy), else a new list sharing the items. */
static int first_results(mm_metric *m, size_t size, mm_value **out) {
    size_t n = mm_value_len(m->results);
    if (size >= n) {
        *out = mm_value_retain(m->results);
        return MM_OK;
    }
    mm_value *l = mm_value_new_list();
    int rc = l ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < size; i++)
        rc = mm_value_list_append(l, mm_value_list_get(m->results, i));
    if (rc)
        mm_value_release(l);
    else
        *out = l;
    return rc;
}

/* {k: v} -> {"<prefix>/k": v}, order kept. */
static int add_prefix(const char *prefix, const mm_value *in, mm_value **out) {
    mm_value *d = mm_value_new_dict();
    int rc = d ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    size_t plen = strlen(prefix);
    for (size_t i = 0; !rc && i < mm_value_len(in); i++) {
        const char *key = mm_value_dict_key_at(in, i);
        size_t klen = strlen(key);
        char *full = malloc(plen + klen + 2);
        if (!full) {
            rc = mm_error_set(MM_ENOMEM, "out of memory");
            break;
        }
        memcpy(full, prefix, plen);
        full[plen] = '/';
        memcpy(full + plen + 1, key, klen + 1);
        rc = mm_value_dict_set(d, full, mm_value_dict_value_at(in, i));
        free(full);
    }
    if (rc)
        mm_value_release(d);
    else
        *out = d;
    return rc;
}

int mm_metric_evaluate(mm_metric *m, size_t size, mm_value **out) {
    *out = NULL;
    if (mm_value_len(m->results) == 0)
        MM_WARN("%s got empty `results`. Please ensure that the processed "
                "results are properly added into `results` in `process`.",
                m->cls->name);
    mm_value *results = NULL, *raw = NULL, *fresh = NULL;
    int rc = first_results(m, size, &results);
    if (!rc) {
        rc = m->cls->compute(m, results, &raw);
        if (rc)
            rc = mm_error_context(rc, NULL, "%s", m->where);
        else if (!mm_value_is_dict(raw))
            rc = mm_error_set(MM_EINTERNAL, "%s: compute gave a %s, not a dict",
                              m->where,
                              mm_value_type_name(mm_value_type_of(raw)));
    }
    if (!rc && m->prefix)
        rc = add_prefix(m->prefix, raw, out);
    else if (!rc)
        *out = mm_value_retain(raw);
    if (!rc) {
        fresh = mm_value_new_list();
        if (!fresh)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (!rc) {
        mm_value_release(m->results);
        m->results = fresh;
    } else {
        mm_value_release(*out);
        *out = NULL;
    }
    mm_value_release(results);
    mm_value_release(raw);
    return rc;
}
