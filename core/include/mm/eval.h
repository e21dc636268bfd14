/* mm/eval.h - metrics: how predictions become numbers (mmengine's BaseMetric).
 *
 * A metric is an object of a metric class. The class is a small vtable a
 * plugin writes once; the object carries what every metric has - the
 * `results` list it accumulates into, its key `prefix` and the
 * `collect_device` - plus a private area for the class's own settings.
 * The life of a metric follows mmengine exactly:
 *
 *   - it is built from a config node through the METRICS registry
 *     (`val_evaluator: {type: Accuracy, topk: [1, 5]}`). The contract of the
 *     METRICS kind: a builder's `*out` is an `mm_metric *`, made with
 *     mm_metric_from_build() (or mm_metric_new()), and the component's
 *     `destroy` is mm_metric_destroy;
 *   - mm_metric_process() is called once per batch with the batch and the
 *     model's data samples (an mm_value list of dicts, see DESIGN section 3);
 *     the class reduces each sample to what it needs and appends that to
 *     mm_metric_results(), nothing more;
 *   - mm_metric_evaluate(size) hands the first `size` results (the rest is
 *     padding a distributed sampler added) to the class's compute, which
 *     returns a dict of metric values; the keys come back as
 *     "<prefix>/<name>" ("accuracy/top1") and the results are cleared.
 *
 * A metric object is used by one thread at a time. `collect_device` ("cpu"
 * or "gpu") is accepted and kept for config compatibility; gathering the
 * results of several ranks joins when core/dist lands. See docs/eval.md for
 * a worked example of a plugin metric. */
#ifndef MM_EVAL_H
#define MM_EVAL_H

#include <stddef.h>

#include "mm/error.h"
#include "mm/registry.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_metric mm_metric;

/* A metric class: static storage in the plugin that defines it. */
typedef struct mm_metric_class {
    const char *name;           /* "Accuracy": used in messages and logs */
    /* The prefix when the config gives none (mmengine's default_prefix);
     * NULL for none, which logs a warning at creation as mmengine does. */
    const char *default_prefix;
    /* Reduce one batch: `data_samples` is a list (checked before the call),
     * `data_batch` may be NULL. Append what compute needs, one entry per
     * sample, to mm_metric_results(m). 0 or MM_E* with the error set. */
    int (*process)(mm_metric *m, const mm_value *data_batch,
                   const mm_value *data_samples);
    /* Compute the metrics from `results` (a list, possibly empty: the first
     * `size` of what process appended). *out receives a new dict of
     * metric name -> value, without the prefix. */
    int (*compute)(mm_metric *m, const mm_value *results, mm_value **out);
    /* Optional: free what lives in the private area (not the area). */
    void (*fini)(mm_metric *m);
} mm_metric_class;

/* Create a metric of `cls` with `priv_size` zeroed bytes of private state
 * (see mm_metric_priv). `prefix` NULL or "" means the class's default. */
MM_API int mm_metric_new(const mm_metric_class *cls, size_t priv_size,
                         const char *prefix, mm_metric **out) MM_NODISCARD;

/* The same inside a METRICS builder: reads the base parameters `prefix`
 * and `collect_device` (declare them with MM_METRIC_BASE_PARAMS), checks
 * collect_device is "cpu" or "gpu", and remembers the node's key path and
 * component so later errors name them ("val_evaluator (mmcls.Accuracy)"). */
MM_API int mm_metric_from_build(mm_build_ctx *ctx, const mm_metric_class *cls,
                                size_t priv_size,
                                mm_metric **out) MM_NODISCARD;

/* Run the class's fini, release the results, free. NULL is fine. */
MM_API void mm_metric_free(mm_metric *m);
/* mm_metric_free with the signature of mm_component.destroy. */
MM_API void mm_metric_destroy(void *metric);

/* Schema entries for the two parameters every metric takes, for the end of
 * a component's mm_param array. `prefix_doc` is the one-line doc of
 * `prefix`, naming the default ("key prefix; null means 'accuracy'"). */
#define MM_METRIC_BASE_PARAMS(prefix_doc)                                      \
    {.name = "collect_device", .type = MM_PARAM_STRING, .def = "cpu",         \
     .doc = "where the results of all ranks are gathered: cpu or gpu"},       \
    {.name = "prefix", .type = MM_PARAM_STRING | MM_PARAM_NULL,               \
     .def = "null", .doc = (prefix_doc)}

/* ---- the object ---------------------------------------------------------- */

MM_API const mm_metric_class *mm_metric_class_of(const mm_metric *m);
/* The class's private area (priv_size zeroed bytes, aligned for any
 * type); NULL when priv_size was 0. */
MM_API void *mm_metric_priv(const mm_metric *m);
/* The key prefix, or NULL when keys are not prefixed. */
MM_API const char *mm_metric_prefix(const mm_metric *m);
MM_API const char *mm_metric_collect_device(const mm_metric *m);
/* "cpu" or "gpu"; anything else is MM_EINVAL. */
MM_API int mm_metric_set_collect_device(mm_metric *m, const char *device);
/* The results list process appends to (borrowed; never NULL). */
MM_API mm_value *mm_metric_results(mm_metric *m);
/* The dataset's metainfo (classes, palette, ...) the runner hands over, as
 * mmengine's `metric.dataset_meta`; NULL until set. The setter retains. */
MM_API const mm_value *mm_metric_dataset_meta(const mm_metric *m);
MM_API void mm_metric_set_dataset_meta(mm_metric *m, mm_value *meta);

/* ---- use ----------------------------------------------------------------- */

/* Process one batch: `data_samples` must be a list (of dicts, for the
 * metrics mm ships); `data_batch` may be NULL. Errors read
 * "val_evaluator (mmcls.Accuracy): data_samples[3]: no 'gt_label'". */
MM_API int mm_metric_process(mm_metric *m, const mm_value *data_batch,
                             const mm_value *data_samples) MM_NODISCARD;

/* Compute from the first `size` accumulated results, prefix the keys
 * ("<prefix>/<name>") and clear the results; *out receives a new dict.
 * With no results processed, a WARNING is logged (mmengine's message) and
 * the class's compute decides (the mmcls metrics fail, as mmpretrain's do).
 * On failure the results are kept, as mmengine keeps them. */
MM_API int mm_metric_evaluate(mm_metric *m, size_t size,
                              mm_value **out) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
