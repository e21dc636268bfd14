/* mmcls metrics: Accuracy and SingleLabelMetric, with the semantics of
 * mmpretrain 1.x (mmpretrain/evaluation/metrics/single_label.py): the same
 * parameters, the same output keys, the same rules for top-k, thresholds
 * and averaging. Where mmpretrain computes in float32, the counts here are
 * exact and the ratios double; scores are compared (ranked, thresholded) as
 * float32, as mmpretrain's float32 tensors are. docs/eval.md lists the few
 * places where mm refuses what mmpretrain silently accepts.
 *
 * A data sample is a dict with `gt_label` (int), and `pred_score` (the class
 * scores: a list or a 1-D float tensor) or, failing that, `pred_label`
 * (int); see sample_scores(). */
#include <float.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/eval.h>
#include <mm/registry.h>
#include <mm/tensor.h>

#include "mmcls.h"

/* ---- data samples -------------------------------------------------------- */

/* The class scores of one sample: a list of numbers, or a 1-D float tensor
 * (what the mmcls heads' predict gives). Nothing else in this file reads
 * pred_score. *n receives the number of classes; dst (NULL: just check)
 * receives the scores as float32, which is what mmpretrain ranks and
 * thresholds. */
static int sample_scores(const mm_value *v, float *dst, size_t *n) {
    mm_tensor *t = mm_tensor_from_value(v);
    if (t) {
        char buf[64];
        if (t->ndim != 1)
            return mm_error_set(MM_EINVAL,
                                "pred_score must be a 1-D tensor of class "
                                "scores, got %s",
                                mm_tensor_describe(t, buf, sizeof buf));
        if (t->dtype != MM_F32 && t->dtype != MM_F64 && t->dtype != MM_F16 &&
            t->dtype != MM_BF16)
            return mm_error_set(MM_ETYPE,
                                "pred_score must be a float tensor, got %s",
                                mm_tensor_describe(t, buf, sizeof buf));
        *n = (size_t)t->numel;
        if (dst)
            return mm_tensor_read(t, MM_F32, dst, t->numel);
        return MM_OK;
    }
    if (!mm_value_is_list(v))
        return mm_error_set(MM_ETYPE, "pred_score must be a list of class "
                                      "scores or a 1-D float tensor, got a %s",
                            mm_value_type_name(mm_value_type_of(v)));
    *n = mm_value_len(v);
    for (size_t c = 0; c < *n; c++) {
        const mm_value *s = mm_value_list_get(v, c);
        if (!mm_value_is_number(s))
            return mm_error_set(MM_ETYPE,
                                "pred_score.%zu must be a number, got a %s", c,
                                mm_value_type_name(mm_value_type_of(s)));
        if (dst)
            dst[c] = (float)mm_value_get_float(s);
    }
    return MM_OK;
}

/* An int-valued field of a sample (gt_label, pred_label, num_classes). */
static int sample_int(const mm_value *sample, const char *key, int64_t *out) {
    const mm_value *v = mm_value_dict_get(sample, key);
    if (!v)
        return mm_error_set(MM_EINVAL, "no '%s'", key);
    if (!mm_value_is_int(v))
        return mm_error_set(MM_ETYPE, "%s must be an int, got a %s", key,
                            mm_value_type_name(mm_value_type_of(v)));
    *out = mm_value_get_int(v);
    return MM_OK;
}

/* Does class a come before class b in torch.topk's order? Scores compare
 * as float32 with NaN largest, as torch ranks them. torch leaves the order
 * of equal scores unspecified; here the lower class index comes first
 * (torch.argmax's rule). */
static bool ranks_before(const float *s, size_t a, size_t b) {
    bool na = isnan(s[a]), nb = isnan(s[b]);
    if (na != nb)
        return na;
    if (!na && s[a] != s[b])
        return s[a] > s[b];
    return a < b;
}

static size_t top1_class(const float *s, size_t n) {
    size_t best = 0;
    for (size_t c = 1; c < n; c++)
        if (ranks_before(s, c, best))
            best = c;
    return best;
}

/* ---- parameters ---------------------------------------------------------- */

/* One threshold: none (no thresholding) or a value. */
typedef struct thr {
    bool none;
    double value; /* as configured, for the key suffix */
    float f32;    /* what scores compare against, as torch casts it */
} thr;

/* A score passes `t` when no threshold applies or it is > the threshold,
 * both as float32 (torch compares a float32 tensor with a Python float in
 * float32). */
static bool passes(const thr *t, float score) {
    return t->none || score > t->f32;
}

/* "_no-thr" / "_thr-0.50": mmpretrain's f'_thr-{thr:.2f}'. */
static void thr_suffix(const thr *t, char *buf, size_t size) {
    if (t->none)
        snprintf(buf, size, "_no-thr");
    else
        snprintf(buf, size, "_thr-%.2f", t->value);
}

static int param_error(mm_build_ctx *ctx, const mm_value *v,
                       const char *fmt, ...) MM_PRINTF(3, 4);
static int param_error(mm_build_ctx *ctx, const mm_value *v,
                       const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const mm_srcloc *loc = mm_value_loc(v);
    if (!loc || !loc->file)
        loc = mm_value_loc(mm_build_node(ctx));
    return mm_error_set_at(MM_EINVAL, loc, "%s", msg);
}

/* thrs: a number, null, or a non-empty list of numbers and nulls. */
static int parse_thrs(mm_build_ctx *ctx, thr **out, size_t *n) {
    const mm_value *v = mm_build_arg(ctx, "thrs");
    bool list = mm_value_is_list(v);
    size_t count = list ? mm_value_len(v) : 1;
    if (list && count == 0)
        return param_error(ctx, v, "thrs must not be an empty list");
    thr *t = calloc(count, sizeof *t);
    if (!t)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const mm_value *e = list ? mm_value_list_get(v, i) : v;
        if (mm_value_is_null(e)) {
            t[i].none = true;
        } else if (mm_value_is_number(e)) {
            t[i].value = mm_value_get_float(e);
            t[i].f32 = (float)t[i].value;
        } else {
            free(t);
            return param_error(ctx, e, "thrs.%zu must be a number or null, "
                                       "got a %s",
                               i, mm_value_type_name(mm_value_type_of(e)));
        }
    }
    *out = t;
    *n = count;
    return MM_OK;
}

/* topk: a positive int or a non-empty list of them. */
static int parse_topk(mm_build_ctx *ctx, int64_t **out, size_t *n) {
    const mm_value *v = mm_build_arg(ctx, "topk");
    bool list = mm_value_is_list(v);
    size_t count = list ? mm_value_len(v) : 1;
    if (list && count == 0)
        return param_error(ctx, v, "topk must not be an empty list");
    int64_t *k = calloc(count, sizeof *k);
    if (!k)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const mm_value *e = list ? mm_value_list_get(v, i) : v;
        if (!mm_value_is_int(e) || mm_value_get_int(e) < 1) {
            char got[64];
            if (mm_value_is_int(e))
                snprintf(got, sizeof got, "%" PRId64, mm_value_get_int(e));
            else
                snprintf(got, sizeof got, "a %s",
                         mm_value_type_name(mm_value_type_of(e)));
            free(k);
            if (list)
                return param_error(ctx, e,
                                   "topk.%zu must be a positive int, got %s",
                                   i, got);
            return param_error(ctx, e, "topk must be a positive int, got %s",
                               got);
        }
        k[i] = mm_value_get_int(e);
    }
    *out = k;
    *n = count;
    return MM_OK;
}

/* ---- shared process ------------------------------------------------------ */

/* What both metrics keep of a sample, as mmpretrain's process does:
 * pred_score if present (else pred_label and, for SingleLabelMetric,
 * num_classes) and gt_label. The score list is shared, not copied. */
static int keep_sample(const mm_value *sample, int64_t num_classes,
                       bool need_classes, mm_value **out) {
    if (!mm_value_is_dict(sample))
        return mm_error_set(MM_ETYPE, "must be a dict (a data sample), got "
                                      "a %s",
                            mm_value_type_name(mm_value_type_of(sample)));
    mm_value *r = mm_value_new_dict();
    if (!r)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc;
    int64_t label;
    mm_value *score = mm_value_dict_get(sample, "pred_score");
    if (score) {
        size_t n;
        rc = sample_scores(score, NULL, &n);
        if (!rc)
            rc = mm_value_dict_set(r, "pred_score", score);
    } else {
        rc = sample_int(sample, "pred_label", &label);
        if (rc == MM_EINVAL)
            rc = mm_error_set(MM_EINVAL, "no 'pred_score' or 'pred_label'");
        if (!rc)
            rc = mm_value_dict_set_take(r, "pred_label",
                                        mm_value_new_int(label));
        if (!rc && need_classes) {
            /* mmpretrain: self.num_classes or data_sample.get('num_classes') */
            if (num_classes <= 0 && mm_value_dict_get(sample, "num_classes"))
                rc = sample_int(sample, "num_classes", &num_classes);
            if (!rc && num_classes <= 0)
                rc = mm_error_set(MM_EINVAL,
                                  "num_classes must be given (the metric's "
                                  "num_classes or the sample's) when a "
                                  "sample has no pred_score");
            if (!rc)
                rc = mm_value_dict_set_take(r, "num_classes",
                                            mm_value_new_int(num_classes));
        }
    }
    if (!rc)
        rc = sample_int(sample, "gt_label", &label);
    if (!rc)
        rc = mm_value_dict_set_take(r, "gt_label", mm_value_new_int(label));
    if (rc) {
        mm_value_release(r);
        return rc;
    }
    *out = r;
    return MM_OK;
}

static int process_samples(mm_metric *m, const mm_value *samples,
                           int64_t num_classes, bool need_classes) {
    for (size_t i = 0; i < mm_value_len(samples); i++) {
        mm_value *r = NULL;
        int rc = keep_sample(mm_value_list_get(samples, i), num_classes,
                             need_classes, &r);
        if (!rc)
            rc = mm_value_list_append_take(mm_metric_results(m), r);
        if (rc)
            return mm_error_context(rc, NULL, "data_samples[%zu]", i);
    }
    return MM_OK;
}

/* The kept results, as compute sees them. */
typedef struct kept {
    const mm_value *results;
    size_t n;         /* samples */
    bool scores;      /* results[0] has pred_score: the score path */
    size_t n_classes; /* score path: the length of results[0]'s scores */
} kept;

static int kept_open(const mm_value *results, kept *k) {
    k->results = results;
    k->n = mm_value_len(results);
    if (k->n == 0)
        return mm_error_set(MM_EINVAL, "no results to compute from (no data "
                                       "samples were processed)");
    const mm_value *score =
        mm_value_dict_get(mm_value_list_get(results, 0), "pred_score");
    k->scores = score != NULL;
    k->n_classes = 0;
    return score ? sample_scores(score, NULL, &k->n_classes) : MM_OK;
}

/* Result i's scores into buf (n_classes floats) and its gt_label. */
static int kept_scores(const kept *k, size_t i, float *buf, int64_t *gt) {
    const mm_value *r = mm_value_list_get(k->results, i);
    const mm_value *score = mm_value_dict_get(r, "pred_score");
    if (!score)
        return mm_error_set(MM_EINVAL,
                            "sample %zu has no pred_score but sample 0 has: "
                            "all samples must carry the same predictions",
                            i);
    size_t n;
    int rc = sample_scores(score, NULL, &n);
    if (!rc && n != k->n_classes)
        rc = mm_error_set(MM_EINVAL,
                          "sample %zu has %zu class scores, sample 0 has %zu",
                          i, n, k->n_classes);
    if (!rc)
        rc = sample_scores(score, buf, &n);
    return rc ? rc : sample_int(r, "gt_label", gt);
}

/* Result i's pred_label and gt_label. */
static int kept_labels(const kept *k, size_t i, int64_t *pred, int64_t *gt) {
    const mm_value *r = mm_value_list_get(k->results, i);
    if (!mm_value_dict_get(r, "pred_label"))
        return mm_error_set(MM_EINVAL,
                            "sample %zu has pred_score but sample 0 has only "
                            "pred_label: all samples must carry the same "
                            "predictions",
                            i);
    int rc = sample_int(r, "pred_label", pred);
    return rc ? rc : sample_int(r, "gt_label", gt);
}

static int set_float(mm_value *d, const char *key, double v) {
    return mm_value_dict_set_take(d, key, mm_value_new_float(v));
}

/* ---- Accuracy ------------------------------------------------------------ */

typedef struct accuracy {
    int64_t *topk;
    size_t n_topk;
    thr *thrs;
    size_t n_thrs;
} accuracy;

static int accuracy_process(mm_metric *m, const mm_value *data_batch,
                            const mm_value *data_samples) {
    (void)data_batch;
    return process_samples(m, data_samples, 0, false);
}

/* Accuracy.calculate on scores: sample i is correct for (k, thr) when its
 * gt_label is among its k best classes and its score there is > thr.
 * Ranking the gt class is O(classes) per sample; no sort. */
static int accuracy_scores(const accuracy *a, const kept *k, mm_value *out) {
    int64_t maxk = 0;
    for (size_t i = 0; i < a->n_topk; i++)
        if (a->topk[i] > maxk)
            maxk = a->topk[i];
    if ((uint64_t)maxk > k->n_classes)
        return mm_error_set(MM_EINVAL,
                            "Top-%" PRId64 " accuracy is unavailable since "
                            "the number of categories is %zu.",
                            maxk, k->n_classes);
    size_t cells = a->n_topk * a->n_thrs;
    int64_t *correct = calloc(cells, sizeof *correct);
    float *s = malloc(k->n_classes * sizeof *s);
    int rc = correct && s ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < k->n; i++) {
        int64_t gt;
        rc = kept_scores(k, i, s, &gt);
        if (rc || gt < 0 || (uint64_t)gt >= k->n_classes)
            continue; /* a label no class has is never among the top k */
        int64_t rank = 0;
        for (size_t c = 0; c < k->n_classes; c++)
            rank += ranks_before(s, c, (size_t)gt);
        for (size_t t = 0; t < a->n_topk; t++)
            for (size_t h = 0; h < a->n_thrs; h++)
                correct[t * a->n_thrs + h] +=
                    rank < a->topk[t] && passes(&a->thrs[h], s[gt]);
    }
    for (size_t t = 0; !rc && t < a->n_topk; t++) {
        for (size_t h = 0; !rc && h < a->n_thrs; h++) {
            char key[512], suffix[400] = "";
            if (a->n_thrs > 1)
                thr_suffix(&a->thrs[h], suffix, sizeof suffix);
            snprintf(key, sizeof key, "top%" PRId64 "%s", a->topk[t], suffix);
            rc = set_float(out, key,
                           100.0 * (double)correct[t * a->n_thrs + h] /
                               (double)k->n);
        }
    }
    free(correct);
    free(s);
    return rc;
}

/* Only labels: top-1 accuracy, thresholds do not apply. mmpretrain reports
 * top1 alone whatever topk asks for; mm refuses a k > 1 it cannot give. */
static int accuracy_labels(const accuracy *a, const kept *k, mm_value *out) {
    for (size_t t = 0; t < a->n_topk; t++)
        if (a->topk[t] > 1)
            return mm_error_set(MM_EINVAL,
                                "top-%" PRId64 " accuracy needs class scores, "
                                "but the data samples carry only pred_label "
                                "(no pred_score): use topk: 1",
                                a->topk[t]);
    int64_t correct = 0;
    for (size_t i = 0; i < k->n; i++) {
        int64_t pred, gt;
        int rc = kept_labels(k, i, &pred, &gt);
        if (rc)
            return rc;
        correct += pred == gt;
    }
    return set_float(out, "top1", 100.0 * (double)correct / (double)k->n);
}

static int accuracy_compute(mm_metric *m, const mm_value *results,
                            mm_value **out) {
    const accuracy *a = mm_metric_priv(m);
    kept k;
    int rc = kept_open(results, &k);
    if (rc)
        return rc;
    mm_value *d = mm_value_new_dict();
    if (!d)
        return mm_error_set(MM_ENOMEM, "out of memory");
    rc = k.scores ? accuracy_scores(a, &k, d) : accuracy_labels(a, &k, d);
    if (rc) {
        mm_value_release(d);
        return rc;
    }
    *out = d;
    return MM_OK;
}

static void accuracy_fini(mm_metric *m) {
    accuracy *a = mm_metric_priv(m);
    free(a->topk);
    free(a->thrs);
}

static const mm_metric_class accuracy_class = {
    .name = "Accuracy",
    .default_prefix = "accuracy",
    .process = accuracy_process,
    .compute = accuracy_compute,
    .fini = accuracy_fini,
};

static int accuracy_build(mm_build_ctx *ctx, void **out) {
    accuracy a = {0};
    int rc = parse_topk(ctx, &a.topk, &a.n_topk);
    if (!rc)
        rc = parse_thrs(ctx, &a.thrs, &a.n_thrs);
    mm_metric *m = NULL;
    if (!rc)
        rc = mm_metric_from_build(ctx, &accuracy_class, sizeof a, &m);
    if (rc) {
        free(a.topk);
        free(a.thrs);
        return rc;
    }
    *(accuracy *)mm_metric_priv(m) = a;
    *out = m;
    return MM_OK;
}

static const mm_param accuracy_params[] = {
    {.name = "topk", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "1",
     .doc = "k of the top-k accuracy: a positive int or a list ([1, 5])"},
    {.name = "thrs", .type = MM_PARAM_FLOAT | MM_PARAM_NULL | MM_PARAM_LIST,
     .def = "0.0",
     .doc = "a hit counts only if its score is > thr: a float, null (no "
            "threshold) or a list of them"},
    MM_METRIC_BASE_PARAMS("key prefix; null means 'accuracy'"),
};

static const mm_component accuracy_component = {
    .kind = MM_METRICS,
    .name = "Accuracy",
    .doc = "Top-k accuracy in percent (mmpretrain's Accuracy)",
    .params = accuracy_params,
    .n_params = sizeof accuracy_params / sizeof accuracy_params[0],
    .build = accuracy_build,
    .destroy = mm_metric_destroy,
};

/* ---- SingleLabelMetric --------------------------------------------------- */

enum { ITEM_PRECISION, ITEM_RECALL, ITEM_F1, ITEM_SUPPORT, ITEM_COUNT };
static const char *const item_names[ITEM_COUNT] = {
    [ITEM_PRECISION] = "precision",
    [ITEM_RECALL] = "recall",
    [ITEM_F1] = "f1-score",
    [ITEM_SUPPORT] = "support",
};

typedef enum average { AVERAGE_MACRO, AVERAGE_MICRO, AVERAGE_NONE } average;

typedef struct single_label {
    thr *thrs;
    size_t n_thrs;
    bool items[ITEM_COUNT];
    average average;
    int64_t num_classes; /* 0: not given */
} single_label;

static int single_label_process(mm_metric *m, const mm_value *data_batch,
                                const mm_value *data_samples) {
    (void)data_batch;
    const single_label *sl = mm_metric_priv(m);
    return process_samples(m, data_samples, sl->num_classes, true);
}

/* Per-class counts of one threshold: true positives and predicted
 * positives; gt positives are shared by all thresholds. */
typedef struct counts {
    int64_t *tp, *pred;
} counts;

/* mmpretrain's _precision_recall_f1_support on the counts, packed under
 * mmpretrain's keys (items in its fixed order, `suffix` for the threshold,
 * then _classwise or _micro). */
static int pack(const single_label *sl, const int64_t *tp, const int64_t *pred,
                const int64_t *gt, size_t n_classes, const char *suffix,
                mm_value *out) {
    size_t n_out = sl->average == AVERAGE_NONE ? n_classes : 1;
    double *val[3];
    for (int i = 0; i < 3; i++)
        val[i] = calloc(n_out, sizeof(double));
    int rc = val[0] && val[1] && val[2]
                 ? MM_OK
                 : mm_error_set(MM_ENOMEM, "out of memory");
    int64_t sums[3] = {0, 0, 0}; /* micro: tp, pred, gt pooled */
    for (size_t c = 0; c < n_classes; c++) {
        sums[0] += tp[c], sums[1] += pred[c], sums[2] += gt[c];
    }
    /* precision = tp / max(pred, 1) * 100, recall = tp / max(gt, 1) * 100,
     * f1 = 2pr / max(p + r, float32 eps); micro pools the counts first. */
    size_t rows = sl->average == AVERAGE_MICRO ? 1 : n_classes;
    for (size_t c = 0; !rc && c < rows; c++) {
        const int64_t *t = sl->average == AVERAGE_MICRO ? &sums[0] : &tp[c];
        const int64_t *p = sl->average == AVERAGE_MICRO ? &sums[1] : &pred[c];
        const int64_t *g = sl->average == AVERAGE_MICRO ? &sums[2] : &gt[c];
        double prec = (double)*t / (double)(*p > 1 ? *p : 1) * 100.0;
        double rec = (double)*t / (double)(*g > 1 ? *g : 1) * 100.0;
        double sum = prec + rec;
        double f1 = 2.0 * prec * rec / (sum > FLT_EPSILON ? sum : FLT_EPSILON);
        size_t o = sl->average == AVERAGE_NONE ? c : 0;
        val[0][o] += prec, val[1][o] += rec, val[2][o] += f1;
    }
    if (sl->average == AVERAGE_MACRO)
        for (int i = 0; i < 3; i++)
            val[i][0] /= (double)n_classes;
    const char *avg_suffix = sl->average == AVERAGE_NONE    ? "_classwise"
                             : sl->average == AVERAGE_MICRO ? "_micro"
                                                            : "";
    for (int item = 0; !rc && item < ITEM_COUNT; item++) {
        if (!sl->items[item])
            continue;
        char key[512];
        snprintf(key, sizeof key, "%s%s%s", item_names[item], suffix,
                 avg_suffix);
        mm_value *v;
        if (sl->average != AVERAGE_NONE)
            v = item == ITEM_SUPPORT ? mm_value_new_int(sums[2])
                                     : mm_value_new_float(val[item][0]);
        else {
            v = mm_value_new_list();
            for (size_t c = 0; v && !rc && c < n_classes; c++)
                rc = mm_value_list_append_take(
                    v, item == ITEM_SUPPORT ? mm_value_new_int(gt[c])
                                            : mm_value_new_float(val[item][c]));
            if (rc) {
                mm_value_release(v);
                break;
            }
        }
        rc = mm_value_dict_set_take(out, key, v);
    }
    for (int i = 0; i < 3; i++)
        free(val[i]);
    return rc;
}

/* A class index of a sample, which one_hot requires in [0, n_classes). */
static int check_class(const char *what, size_t i, int64_t c,
                       size_t n_classes) {
    if (c >= 0 && (uint64_t)c < n_classes)
        return MM_OK;
    return mm_error_set(MM_ERANGE,
                        "sample %zu: %s %" PRId64 " is out of range for %zu "
                        "classes",
                        i, what, c, n_classes);
}

/* Scores: the predicted class is the top-1; with a threshold, a sample
 * whose top score is <= thr is predicted negative for every class. */
static int single_label_scores(const single_label *sl, const kept *k,
                               mm_value *out) {
    size_t nc = k->n_classes, nt = sl->n_thrs;
    if (nc == 0)
        return mm_error_set(MM_EINVAL, "pred_score has no classes");
    int64_t *gt = calloc(nc, sizeof *gt);
    int64_t *tp = calloc(nc * nt, sizeof *tp);
    int64_t *pred = calloc(nc * nt, sizeof *pred);
    float *s = malloc(nc * sizeof *s);
    int rc = gt && tp && pred && s ? MM_OK
                                   : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < k->n; i++) {
        int64_t label;
        rc = kept_scores(k, i, s, &label);
        if (!rc)
            rc = check_class("gt_label", i, label, nc);
        if (rc)
            break;
        size_t top = top1_class(s, nc);
        gt[label]++;
        for (size_t h = 0; h < nt; h++) {
            if (!passes(&sl->thrs[h], s[top]))
                continue;
            pred[h * nc + top]++;
            tp[h * nc + top] += (int64_t)top == label;
        }
    }
    for (size_t h = 0; !rc && h < nt; h++) {
        char suffix[400] = "";
        if (nt > 1)
            thr_suffix(&sl->thrs[h], suffix, sizeof suffix);
        rc = pack(sl, tp + h * nc, pred + h * nc, gt, nc, suffix, out);
    }
    free(gt);
    free(tp);
    free(pred);
    free(s);
    return rc;
}

/* Labels: thresholds do not apply; the classes are results[0]'s
 * num_classes (the metric's, else the sample's), as in mmpretrain. */
static int single_label_labels(const single_label *sl, const kept *k,
                               mm_value *out) {
    int64_t n_classes;
    int rc = sample_int(mm_value_list_get(k->results, 0), "num_classes",
                        &n_classes);
    if (rc)
        return rc;
    size_t nc = (size_t)n_classes;
    int64_t *gt = calloc(nc, sizeof *gt);
    int64_t *tp = calloc(nc, sizeof *tp);
    int64_t *pred = calloc(nc, sizeof *pred);
    rc = gt && tp && pred ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < k->n; i++) {
        int64_t p, g;
        rc = kept_labels(k, i, &p, &g);
        if (!rc)
            rc = check_class("gt_label", i, g, nc);
        if (!rc)
            rc = check_class("pred_label", i, p, nc);
        if (rc)
            break;
        gt[g]++;
        pred[p]++;
        tp[p] += p == g;
    }
    if (!rc)
        rc = pack(sl, tp, pred, gt, nc, "", out);
    free(gt);
    free(tp);
    free(pred);
    return rc;
}

static int single_label_compute(mm_metric *m, const mm_value *results,
                                mm_value **out) {
    const single_label *sl = mm_metric_priv(m);
    kept k;
    int rc = kept_open(results, &k);
    if (rc)
        return rc;
    mm_value *d = mm_value_new_dict();
    if (!d)
        return mm_error_set(MM_ENOMEM, "out of memory");
    rc = k.scores ? single_label_scores(sl, &k, d)
                  : single_label_labels(sl, &k, d);
    if (rc) {
        mm_value_release(d);
        return rc;
    }
    *out = d;
    return MM_OK;
}

static void single_label_fini(mm_metric *m) {
    single_label *sl = mm_metric_priv(m);
    free(sl->thrs);
}

static const mm_metric_class single_label_class = {
    .name = "SingleLabelMetric",
    .default_prefix = "single-label",
    .process = single_label_process,
    .compute = single_label_compute,
    .fini = single_label_fini,
};

static int parse_items(mm_build_ctx *ctx, bool items[ITEM_COUNT]) {
    const mm_value *v = mm_build_arg(ctx, "items");
    for (size_t i = 0; i < mm_value_len(v); i++) {
        const mm_value *e = mm_value_list_get(v, i);
        int found = -1;
        for (int j = 0; mm_value_is_string(e) && j < ITEM_COUNT; j++)
            if (strcmp(mm_value_get_string(e), item_names[j]) == 0)
                found = j;
        if (found < 0) {
            char got[96];
            if (mm_value_is_string(e))
                snprintf(got, sizeof got, "'%.64s'", mm_value_get_string(e));
            else
                snprintf(got, sizeof got, "a %s",
                         mm_value_type_name(mm_value_type_of(e)));
            return param_error(ctx, e,
                               "items.%zu must be one of precision, recall, "
                               "f1-score, support; got %s",
                               i, got);
        }
        items[found] = true;
    }
    return MM_OK;
}

static int parse_average(mm_build_ctx *ctx, average *out) {
    const mm_value *v = mm_build_arg(ctx, "average");
    if (mm_value_is_null(v)) {
        *out = AVERAGE_NONE;
        return MM_OK;
    }
    const char *s = mm_value_get_string(v);
    if (strcmp(s, "macro") == 0)
        *out = AVERAGE_MACRO;
    else if (strcmp(s, "micro") == 0)
        *out = AVERAGE_MICRO;
    else
        return param_error(ctx, v,
                           "average must be 'macro', 'micro' or null, got "
                           "'%.64s'",
                           s);
    return MM_OK;
}

static int single_label_build(mm_build_ctx *ctx, void **out) {
    single_label sl = {0};
    const mm_value *nc = mm_build_arg(ctx, "num_classes");
    int rc = parse_items(ctx, sl.items);
    if (!rc)
        rc = parse_average(ctx, &sl.average);
    if (!rc && mm_value_is_int(nc)) {
        sl.num_classes = mm_value_get_int(nc);
        if (sl.num_classes < 1)
            rc = param_error(ctx, nc,
                             "num_classes must be a positive int, got %" PRId64,
                             sl.num_classes);
    }
    if (!rc)
        rc = parse_thrs(ctx, &sl.thrs, &sl.n_thrs);
    mm_metric *m = NULL;
    if (!rc)
        rc = mm_metric_from_build(ctx, &single_label_class, sizeof sl, &m);
    if (rc) {
        free(sl.thrs);
        return rc;
    }
    *(single_label *)mm_metric_priv(m) = sl;
    *out = m;
    return MM_OK;
}

static const mm_param single_label_params[] = {
    {.name = "thrs", .type = MM_PARAM_FLOAT | MM_PARAM_NULL | MM_PARAM_LIST,
     .def = "0.0",
     .doc = "a sample whose top score is <= thr is negative for every class: "
            "a float, null (top-1 always counts) or a list of them"},
    {.name = "items", .type = MM_PARAM_LIST,
     .def = "[precision, recall, f1-score]",
     .doc = "what to report, of precision, recall, f1-score and support"},
    {.name = "average", .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "macro",
     .doc = "macro (mean over classes), micro (pooled counts) or null (per "
            "class lists)"},
    {.name = "num_classes", .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null",
     .doc = "number of classes, needed when samples carry only pred_label"},
    MM_METRIC_BASE_PARAMS("key prefix; null means 'single-label'"),
};

static const mm_component single_label_component = {
    .kind = MM_METRICS,
    .name = "SingleLabelMetric",
    .doc = "Precision, recall, F1-score and support in percent "
           "(mmpretrain's SingleLabelMetric)",
    .params = single_label_params,
    .n_params = sizeof single_label_params / sizeof single_label_params[0],
    .build = single_label_build,
    .destroy = mm_metric_destroy,
};

/* ---- MultiLabelMetric and AveragePrecision ------------------------------ */

/* What both multi-label metrics keep of a sample (mmpretrain's process):
 * pred_score, and gt_score when the sample has one, else gt_label (an int,
 * a list of ints or an integer tensor), one-hot encoded at compute time
 * with as many classes as pred_score has. */
static int ml_process(mm_metric *m, const mm_value *data_batch,
                      const mm_value *samples) {
    (void)data_batch;
    for (size_t i = 0; i < mm_value_len(samples); i++) {
        const mm_value *s = mm_value_list_get(samples, i);
        int rc = MM_OK;
        mm_value *r = NULL;
        if (!mm_value_is_dict(s))
            rc = mm_error_set(MM_ETYPE, "must be a dict (a data sample), got "
                                        "a %s",
                              mm_value_type_name(mm_value_type_of(s)));
        mm_value *score = rc ? NULL : mm_value_dict_get(s, "pred_score");
        mm_value *gs = rc ? NULL : mm_value_dict_get(s, "gt_score");
        size_t n;
        if (!rc && !score)
            rc = mm_error_set(MM_EINVAL, "no 'pred_score' (multi-label "
                                         "metrics need the class scores)");
        if (!rc)
            rc = sample_scores(score, NULL, &n);
        if (!rc && !gs && !mm_value_dict_get(s, "gt_label"))
            rc = mm_error_set(MM_EINVAL, "no 'gt_score' or 'gt_label'");
        if (!rc && !(r = mm_value_new_dict()))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        if (!rc)
            rc = mm_value_dict_set(r, "pred_score", score);
        if (!rc && gs)
            rc = mm_value_dict_set(r, "gt_score", gs);
        if (!rc && !gs)
            rc = mm_value_dict_set(r, "gt_label",
                                   mm_value_dict_get(s, "gt_label"));
        if (!rc)
            rc = mm_value_list_append_take(mm_metric_results(m), r);
        else
            mm_value_release(r);
        if (rc)
            return mm_error_context(rc, NULL, "data_samples[%zu]", i);
    }
    return MM_OK;
}

/* The stacked pred (N, C) and target (N, C) of the results, as float32. */
static int ml_stack(const mm_value *results, float **pred, float **target,
                    size_t *n_out, size_t *c_out) {
    size_t n = mm_value_len(results), nc = 0;
    *pred = *target = NULL;
    if (n == 0)
        return mm_error_set(MM_EINVAL, "no results to compute from (no data "
                                       "samples were processed)");
    MM_TRY(sample_scores(mm_value_dict_get(mm_value_list_get(results, 0),
                                           "pred_score"),
                         NULL, &nc));
    if (nc == 0)
        return mm_error_set(MM_EINVAL, "pred_score has no classes");
    float *p = malloc(n * nc * sizeof *p), *t = calloc(n * nc, sizeof *t);
    int rc = p && t ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        const mm_value *r = mm_value_list_get(results, i);
        size_t k;
        rc = sample_scores(mm_value_dict_get(r, "pred_score"), NULL, &k);
        if (!rc && k != nc)
            rc = mm_error_set(MM_EINVAL,
                              "sample %zu: pred_score has %zu classes, "
                              "sample 0 has %zu",
                              i, k, nc);
        if (!rc)
            rc = sample_scores(mm_value_dict_get(r, "pred_score"),
                               p + i * nc, &k);
        const mm_value *gs = rc ? NULL : mm_value_dict_get(r, "gt_score");
        if (gs) {
            rc = sample_scores(gs, NULL, &k);
            if (!rc && k != nc)
                rc = mm_error_set(MM_EINVAL,
                                  "sample %zu: gt_score has %zu classes, "
                                  "pred_score %zu",
                                  i, k, nc);
            if (!rc)
                rc = sample_scores(gs, t + i * nc, &k);
        } else if (!rc) {
            rc = mmcls_onehot_row(r, i, (int64_t)nc, t + i * nc);
        }
    }
    if (rc) {
        free(p);
        free(t);
        return rc;
    }
    *pred = p;
    *target = t;
    *n_out = n;
    *c_out = nc;
    return MM_OK;
}

typedef struct multi_label {
    bool has_thr;
    double thr;
    int64_t topk; /* 0: none */
    bool items[ITEM_COUNT];
    average average;
} multi_label;

static int multi_label_compute(mm_metric *m, const mm_value *results,
                               mm_value **out) {
    const multi_label *ml = mm_metric_priv(m);
    float *pred, *target;
    size_t n, nc;
    MM_TRY(ml_stack(results, &pred, &target, &n, &nc));
    int rc = MM_OK;
    if (!ml->has_thr && ml->topk > (int64_t)nc)
        rc = mm_error_set(MM_EINVAL, "topk=%lld is more than the %zu classes",
                          (long long)ml->topk, nc);
    int64_t *tp = calloc(nc, sizeof *tp), *pp = calloc(nc, sizeof *pp),
            *gt = calloc(nc, sizeof *gt);
    bool *pos = calloc(nc, sizeof *pos);
    if (!rc && !(tp && pp && gt && pos))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    float thr32 = (float)ml->thr; /* torch compares float32 with it */
    for (size_t i = 0; !rc && i < n; i++) {
        const float *s = pred + i * nc, *t = target + i * nc;
        if (ml->has_thr) {
            for (size_t c = 0; c < nc; c++)
                pos[c] = s[c] >= thr32;
        } else {
            memset(pos, 0, nc * sizeof *pos);
            for (int64_t k = 0; k < ml->topk; k++) {
                size_t best = SIZE_MAX;
                for (size_t c = 0; c < nc; c++)
                    if (!pos[c] && (best == SIZE_MAX || ranks_before(s, c,
                                                                     best)))
                        best = c;
                pos[best] = true;
            }
        }
        for (size_t c = 0; c < nc; c++) {
            /* target.long(); -1 (difficult) is ignored; pred & gt is
             * torch's bitwise and of the int64 values */
            int64_t g = (int64_t)t[c];
            if (g == -1)
                continue;
            int64_t pv = pos[c];
            pp[c] += pv;
            gt[c] += g;
            tp[c] += pv & g;
        }
    }
    mm_value *d = rc ? NULL : mm_value_new_dict();
    if (!rc && !d)
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc) {
        /* mmpretrain: `if self.thr:` - a threshold of 0 names the keys as
         * top-k does, with topk None */
        char suffix[64] = "";
        if (ml->has_thr && ml->thr != 0) {
            if (ml->thr != 0.5)
                snprintf(suffix, sizeof suffix, "_thr-%.2f", ml->thr);
        } else if (ml->topk) {
            snprintf(suffix, sizeof suffix, "_top%lld", (long long)ml->topk);
        } else {
            snprintf(suffix, sizeof suffix, "_topNone");
        }
        single_label as = {.average = ml->average};
        memcpy(as.items, ml->items, sizeof as.items);
        rc = pack(&as, tp, pp, gt, nc, suffix, d);
    }
    free(pred);
    free(target);
    free(tp);
    free(pp);
    free(gt);
    free(pos);
    if (rc) {
        mm_value_release(d);
        return rc;
    }
    *out = d;
    return MM_OK;
}

static const mm_metric_class multi_label_class = {
    .name = "MultiLabelMetric",
    .default_prefix = "multi-label",
    .process = ml_process,
    .compute = multi_label_compute,
};

static int multi_label_build(mm_build_ctx *ctx, void **out) {
    multi_label ml = {0};
    const mm_value *thr_v = mm_build_arg(ctx, "thr");
    const mm_value *topk = mm_build_arg(ctx, "topk");
    int rc = parse_items(ctx, ml.items);
    if (!rc)
        rc = parse_average(ctx, &ml.average);
    if (!rc && !mm_value_is_null(topk)) {
        if (!mm_value_is_int(topk) || mm_value_get_int(topk) < 1)
            rc = param_error(ctx, topk, "topk must be a positive int or null");
        else
            ml.topk = mm_value_get_int(topk);
    }
    if (!rc && !mm_value_is_null(thr_v)) {
        if (!mm_value_is_number(thr_v))
            rc = param_error(ctx, thr_v, "thr must be a number or null");
        ml.has_thr = true;
        ml.thr = rc ? 0 : mm_value_get_float(thr_v);
    }
    if (!rc && !ml.has_thr && !ml.topk) {
        /* mmpretrain warns "Neither thr nor k is given, set thr as 0.5" */
        ml.has_thr = true;
        ml.thr = 0.5;
    }
    mm_metric *m = NULL;
    if (!rc)
        rc = mm_metric_from_build(ctx, &multi_label_class, sizeof ml, &m);
    if (rc)
        return rc;
    *(multi_label *)mm_metric_priv(m) = ml;
    *out = m;
    return MM_OK;
}

static const mm_param multi_label_params[] = {
    {.name = "thr", .type = MM_PARAM_FLOAT | MM_PARAM_NULL, .def = "null",
     .doc = "classes scored >= thr are positive (wins over topk; neither: "
            "0.5)"},
    {.name = "topk", .type = MM_PARAM_INT | MM_PARAM_NULL, .def = "null",
     .doc = "the k best classes of each sample are positive"},
    {.name = "items", .type = MM_PARAM_LIST,
     .def = "[precision, recall, f1-score]",
     .doc = "what to report, of precision, recall, f1-score and support"},
    {.name = "average", .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "macro",
     .doc = "macro (mean over classes), micro (pooled counts) or null (per "
            "class lists)"},
    MM_METRIC_BASE_PARAMS("key prefix; null means 'multi-label'"),
};

/* mmpretrain's _average_precision of one class: the ranks of the samples
 * by descending score (ties: lower index first), precision at each
 * positive, summed and divided by the positives; target -1 is left out.
 * float32 as torch computes it. */
static float class_ap(const float *pred, const float *target, size_t n,
                      size_t nc, size_t c, size_t *order) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (target[i * nc + c] > -1)
            order[m++] = i;
    /* insertion sort by descending score: n is a validation set's size,
     * and this runs once per class */
    for (size_t a = 1; a < m; a++) {
        size_t v = order[a], b = a;
        float sv = pred[v * nc + c];
        while (b > 0 && pred[order[b - 1] * nc + c] < sv)
            order[b] = order[b - 1], b--;
        order[b] = v;
    }
    int64_t tps = 0;
    float sum = 0;
    for (size_t r = 0; r < m; r++) {
        if (target[order[r] * nc + c] != 1)
            continue;
        tps++;
        sum += (float)tps / (float)(r + 1);
    }
    float total = tps > 0 ? (float)tps : FLT_EPSILON;
    return sum / total;
}

typedef struct average_precision {
    bool classwise; /* average null */
} average_precision;

static int ap_compute(mm_metric *m, const mm_value *results, mm_value **out) {
    const average_precision *ap = mm_metric_priv(m);
    float *pred, *target;
    size_t n, nc;
    MM_TRY(ml_stack(results, &pred, &target, &n, &nc));
    size_t *order = malloc(n * sizeof *order);
    mm_value *d = mm_value_new_dict(), *list = mm_value_new_list();
    int rc = order && d && list ? MM_OK
                                : mm_error_set(MM_ENOMEM, "out of memory");
    float mean = 0;
    for (size_t c = 0; !rc && c < nc; c++) {
        float v = class_ap(pred, target, n, nc, c, order);
        mean += v;
        rc = mm_value_list_append_take(list,
                                       mm_value_new_float((double)(v * 100)));
    }
    if (!rc && ap->classwise) {
        rc = mm_value_dict_set_take(d, "AP_classwise", list);
        list = NULL;
    } else if (!rc) {
        rc = mm_value_dict_set_take(
            d, "mAP", mm_value_new_float((double)(mean / (float)nc * 100)));
    }
    mm_value_release(list);
    free(order);
    free(pred);
    free(target);
    if (rc) {
        mm_value_release(d);
        return rc;
    }
    *out = d;
    return MM_OK;
}

static const mm_metric_class ap_class = {
    .name = "AveragePrecision",
    .default_prefix = "multi-label",
    .process = ml_process,
    .compute = ap_compute,
};

static int ap_build(mm_build_ctx *ctx, void **out) {
    average_precision ap = {0};
    const mm_value *v = mm_build_arg(ctx, "average");
    if (mm_value_is_null(v))
        ap.classwise = true;
    else if (strcmp(mm_value_get_string(v), "macro") != 0)
        return param_error(ctx, v,
                           "average must be 'macro' or null, got '%.64s'",
                           mm_value_get_string(v));
    mm_metric *m = NULL;
    MM_TRY(mm_metric_from_build(ctx, &ap_class, sizeof ap, &m));
    *(average_precision *)mm_metric_priv(m) = ap;
    *out = m;
    return MM_OK;
}

static const mm_param ap_params[] = {
    {.name = "average", .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "macro",
     .doc = "macro (mAP, the mean over classes) or null (AP_classwise)"},
    MM_METRIC_BASE_PARAMS("key prefix; null means 'multi-label'"),
};

static const mm_component multi_label_components[] = {
    {.kind = MM_METRICS,
     .name = "MultiLabelMetric",
     .doc = "multi-label precision, recall, F1-score and support in percent "
            "(mmpretrain's MultiLabelMetric)",
     .params = multi_label_params,
     .n_params = sizeof multi_label_params / sizeof multi_label_params[0],
     .build = multi_label_build,
     .destroy = mm_metric_destroy},
    {.kind = MM_METRICS,
     .name = "AveragePrecision",
     .doc = "average precision per class and mAP in percent (mmpretrain's "
            "AveragePrecision)",
     .params = ap_params,
     .n_params = sizeof ap_params / sizeof ap_params[0],
     .build = ap_build,
     .destroy = mm_metric_destroy},
};

int mmcls_register_metrics(void) {
    MM_TRY(mm_register(&accuracy_component));
    MM_TRY(mm_register(&single_label_component));
    return mm_register_all(multi_label_components,
                           sizeof multi_label_components /
                               sizeof multi_label_components[0]);
}
