/* mmcls.Accuracy and mmcls.SingleLabelMetric, built from YAML through the
 * METRICS registry out of the in-tree mmcls plugin, against mmpretrain.
 *
 * The reference numbers are mmpretrain 1.2.0's own, in
 * mmpretrain_expected.json, made by running its Accuracy and
 * SingleLabelMetric (on mmengine 0.10.7's BaseMetric, torch 1.13) over the
 * cases of cases.yaml:
 *
 *     python tools/parity/metrics_mmpretrain.py tests/eval/cases.yaml \
 *         > tests/eval/mmpretrain_expected.json
 *
 * (that script's docstring says how to get such a Python). mmpretrain
 * computes in float32 and mm in float64, so values agree to 1e-4 (they are
 * percentages); keys, their order, and int-vs-float agree exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mm/eval.h"
#include "mm/plugin.h"
#include "mm/registry.h"
#include "mm/tensor.h"

/* ---- fixtures ------------------------------------------------------------ */

static mm_value *cases_doc, *expected_doc;

static void release_fixtures(void) {
    mm_value_release(cases_doc);
    mm_value_release(expected_doc);
}

static mm_value *read_fixture(const char *name, bool json) {
    const char *dir = getenv("MM_EVAL_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : ".", name);
    char *text = NULL;
    size_t len = 0;
    mm_value *v = NULL;
    int rc = mm_file_read(path, &text, &len);
    if (!rc)
        rc = json ? mm_json_parse(text, len, path, &v)
                  : mm_yaml_parse(text, len, path, &v);
    free(text);
    if (rc) {
        fprintf(stderr, "fixture %s: %s\n", path, mm_error_message());
        exit(1);
    }
    return v;
}

/* Load the plugin and the fixtures once. */
static void setup(void) {
    static bool done;
    if (done)
        return;
    done = true;
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/mmcls.so", dir ? dir : "plugins");
    if (mm_plugin_load_file(path)) {
        fprintf(stderr, "loading %s: %s\n", path, mm_error_message());
        exit(1);
    }
    cases_doc = read_fixture("cases.yaml", false);
    expected_doc = read_fixture("mmpretrain_expected.json", true);
    atexit(release_fixtures);
}

/* Parse `yaml` (a document with a `val_evaluator` key, named metric.yaml in
 * locations) and build its val_evaluator as mm would. */
static int build_yaml(const char *yaml, mm_metric **out) {
    setup();
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), "metric.yaml", &doc);
    if (!rc)
        rc = mm_registry_build(MM_METRICS,
                               mm_value_dict_get(doc, "val_evaluator"), "mmcls",
                               "val_evaluator", NULL, (void **)out);
    mm_value_release(doc);
    return rc;
}

/* Data samples as a model's predict gives them: dicts with pred_score
 * (preds "scores"), pred_label, gt_label and, for "labels_with_classes",
 * num_classes; samples [from, to) of the set. */
/* Give pred_score as a 1-D f32 tensor (what the mmcls heads' predict
 * gives) instead of a list. */
static bool scores_as_tensors;

static mm_value *score_tensor(const mm_value *row) {
    size_t n = mm_value_len(row);
    float buf[64];
    mm_tensor *t = NULL;
    for (size_t c = 0; c < n && c < 64; c++)
        buf[c] = (float)mm_value_get_float(mm_value_list_get(row, c));
    if (n > 64 || mm_from_data(buf, 1, (const int64_t[]){(int64_t)n}, MM_F32,
                               &t))
        abort();
    mm_value *v = mm_tensor_to_value(t);
    mm_tensor_release(t); /* no pool is open: the value holds the tensor */
    return v;
}

static mm_value *make_samples(const mm_value *set, const char *preds,
                              size_t from, size_t to) {
    const mm_value *scores = mm_value_dict_get(set, "scores");
    const mm_value *pred = mm_value_dict_get(set, "pred_label");
    const mm_value *gt = mm_value_dict_get(set, "gt_label");
    mm_value *list = mm_value_new_list();
    for (size_t i = from; i < to && i < mm_value_len(gt); i++) {
        mm_value *s = mm_value_new_dict();
        mm_value *row = mm_value_list_get(scores, i);
        if (strcmp(preds, "scores") == 0 && scores_as_tensors)
            mm_value_dict_set_take(s, "pred_score", score_tensor(row));
        else if (strcmp(preds, "scores") == 0)
            mm_value_dict_set(s, "pred_score", row);
        mm_value_dict_set(s, "pred_label", mm_value_list_get(pred, i));
        mm_value_dict_set(s, "gt_label", mm_value_list_get(gt, i));
        if (strcmp(preds, "labels_with_classes") == 0)
            mm_value_dict_set_take(
                s, "num_classes", mm_value_new_int((int64_t)mm_value_len(row)));
        mm_value_list_append_take(list, s);
    }
    return list;
}

/* Build the case's metric, process its samples in two batches (the first
 * five, the rest) and evaluate, as tools/parity/metrics_mmpretrain.py does. */
static int run_case(const char *name, mm_value **out) {
    setup();
    *out = NULL;
    const mm_value *c =
        mm_value_dict_get(mm_value_dict_get(cases_doc, "cases"), name);
    if (!c) {
        fprintf(stderr, "no case %s in cases.yaml\n", name);
        mm_test_failures++;
        return MM_ENOENT;
    }
    const mm_value *set =
        mm_value_dict_get(mm_value_dict_get(cases_doc, "samples"),
                          mm_value_get_string(mm_value_dict_get(c, "samples")));
    const char *preds = mm_value_get_string(mm_value_dict_get(c, "preds"));
    size_t n = mm_value_len(mm_value_dict_get(set, "gt_label"));
    const mm_value *size = mm_value_dict_get(c, "size");
    mm_metric *m = NULL;
    int rc = mm_registry_build(MM_METRICS, mm_value_dict_get(c, "metric"),
                               "mmcls", "val_evaluator", NULL, (void **)&m);
    mm_value *b1 = make_samples(set, preds, 0, 5);
    mm_value *b2 = make_samples(set, preds, 5, n);
    if (!rc)
        rc = mm_metric_process(m, NULL, b1);
    if (!rc)
        rc = mm_metric_process(m, NULL, b2);
    if (!rc)
        rc = mm_metric_evaluate(m, size ? (size_t)mm_value_get_int(size) : n,
                                out);
    mm_value_release(b1);
    mm_value_release(b2);
    mm_metric_free(m);
    return rc;
}

static bool same_value(const mm_value *got, const mm_value *want) {
    if (mm_value_is_list(want)) {
        if (!mm_value_is_list(got) || mm_value_len(got) != mm_value_len(want))
            return false;
        for (size_t i = 0; i < mm_value_len(want); i++)
            if (!same_value(mm_value_list_get(got, i),
                            mm_value_list_get(want, i)))
                return false;
        return true;
    }
    if (mm_value_is_int(want))
        return mm_value_is_int(got) &&
               mm_value_get_int(got) == mm_value_get_int(want);
    return mm_value_is_float(want) && mm_value_is_float(got) &&
           fabs(mm_value_get_float(got) - mm_value_get_float(want)) <= 1e-4;
}

/* The case's output must be mmpretrain's: the same keys in the same order,
 * ints where it gives ints, floats within 1e-4. */
static void check_case(const char *name) {
    mm_value *got = NULL;
    CHECK_OK(run_case(name, &got));
    const mm_value *want = mm_value_dict_get(expected_doc, name);
    CHECK(want != NULL);
    if (!got || !want) {
        mm_value_release(got);
        return;
    }
    char *gs = NULL, *ws = NULL;
    bool same = mm_value_len(got) == mm_value_len(want);
    for (size_t i = 0; same && i < mm_value_len(want); i++)
        same = strcmp(mm_value_dict_key_at(got, i),
                      mm_value_dict_key_at(want, i)) == 0 &&
               same_value(mm_value_dict_value_at(got, i),
                          mm_value_dict_value_at(want, i));
    if (!same) {
        if (mm_json_dump(got, 0, &gs) || mm_json_dump(want, 0, &ws))
            fprintf(stderr, "dump failed\n");
        fprintf(stderr,
                "%s: case %s differs from mmpretrain\n  got:  %s\n  want: %s\n",
                __FILE__, name, gs ? gs : "?", ws ? ws : "?");
        mm_test_failures++;
    }
    free(gs);
    free(ws);
    mm_value_release(got);
}

/* Run a case that must fail with exactly `msg`. */
static void check_case_fails(const char *name, int code, const char *msg) {
    mm_value *got = NULL;
    CHECK_ERR(run_case(name, &got), code, msg);
    CHECK(got == NULL);
    mm_value_release(got);
}

static double get_float(const mm_value *d, const char *key) {
    const mm_value *v = mm_value_dict_get(d, key);
    return mm_value_is_number(v) ? mm_value_get_float(v) : NAN;
}

/* ---- parity with mmpretrain: Accuracy ------------------------------------ */

MM_TEST(accuracy_default_is_top1_in_percent) { check_case("accuracy_default"); }
MM_TEST(accuracy_topk_counts_gt_among_the_k_best) {
    check_case("accuracy_topk");
}

MM_TEST(accuracy_thrs_name_keys_and_compare_in_float32) {
    check_case("accuracy_thrs");
    /* Sample 11's top score is float32(0.6): not > 0.6 in float32, as in
     * mmpretrain, so only sample 3 (0.71) counts at thr 0.6. */
    mm_value *got = NULL;
    CHECK_OK(run_case("accuracy_thrs", &got));
    CHECK(fabs(get_float(got, "accuracy/top1_thr-0.60") - 100.0 / 12) < 1e-9);
    mm_value_release(got);
}

MM_TEST(accuracy_one_thr_in_a_list_adds_no_suffix) {
    check_case("accuracy_one_thr_in_a_list");
}
MM_TEST(accuracy_null_thr_applies_no_threshold) {
    check_case("accuracy_no_thr");
}
MM_TEST(accuracy_on_labels_ignores_thrs) { check_case("accuracy_labels"); }
MM_TEST(accuracy_evaluate_size_drops_padding) { check_case("accuracy_size"); }
MM_TEST(accuracy_prefix_replaces_default) { check_case("accuracy_prefix"); }
MM_TEST(accuracy_matches_mmpretrain_unit_test) {
    check_case("accuracy_mmpretrain_unit");
}

/* The same cases with pred_score as tensors give mmpretrain's numbers. */
MM_TEST(tensor_pred_scores_give_the_same_results) {
    scores_as_tensors = true;
    check_case("accuracy_topk");
    check_case("accuracy_thrs");
    check_case("single_label_default");
    check_case("single_label_thrs");
    scores_as_tensors = false;
}

/* ---- parity with mmpretrain: SingleLabelMetric --------------------------- */

MM_TEST(single_label_default_is_macro_precision_recall_f1) {
    check_case("single_label_default");
}
MM_TEST(single_label_thrs_suffix_every_item) {
    check_case("single_label_thrs");
}
MM_TEST(single_label_micro_pools_counts_in_fixed_item_order) {
    check_case("single_label_micro");
}
MM_TEST(single_label_average_null_gives_classwise_lists) {
    check_case("single_label_classwise");
}
MM_TEST(single_label_classwise_keys_put_thr_before_classwise) {
    check_case("single_label_classwise_thrs");
}
MM_TEST(single_label_labels_use_num_classes_and_ignore_thrs) {
    check_case("single_label_labels");
}
MM_TEST(single_label_labels_take_num_classes_from_the_sample) {
    check_case("single_label_labels_sample_classes");
}
MM_TEST(single_label_class_without_samples_counts_in_macro_mean) {
    check_case("single_label_labels_extra_class");
}
MM_TEST(single_label_empty_items_give_empty_dict) {
    check_case("single_label_empty_items");
}
MM_TEST(single_label_size_and_prefix) {
    check_case("single_label_size_prefix");
}
MM_TEST(single_label_matches_mmpretrain_unit_test) {
    check_case("single_label_mmpretrain_unit");
    check_case("single_label_mmpretrain_unit_labels");
}

/* ---- failures mmpretrain has too ----------------------------------------- */

MM_TEST(accuracy_topk_beyond_the_classes_is_an_error) {
    check_case_fails("accuracy_topk_over_classes", MM_EINVAL,
                     "val_evaluator (mmcls.Accuracy): Top-6 accuracy is "
                     "unavailable since the number of categories is 5.");
}

MM_TEST(single_label_labels_without_num_classes_is_an_error) {
    check_case_fails(
        "single_label_labels_no_num_classes", MM_EINVAL,
        "val_evaluator (mmcls.SingleLabelMetric): data_samples[0]: "
        "num_classes must be given (the metric's num_classes or "
        "the sample's) when a sample has no pred_score");
}

MM_TEST(accuracy_labels_with_topk5_is_an_error) {
    /* mmpretrain reports top1 alone here (see mmpretrain_expected.json);
     * mm refuses to drop a requested top-5 silently. */
    check_case_fails("accuracy_labels_topk5", MM_EINVAL,
                     "val_evaluator (mmcls.Accuracy): top-5 accuracy needs "
                     "class scores, but the data samples carry only "
                     "pred_label (no pred_score): use topk: 1");
}

MM_TEST(no_samples_processed_warns_then_fails_as_mmpretrain) {
    mm_metric *m;
    CHECK_OK(build_yaml("val_evaluator: {type: Accuracy}\n", &m));
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    mm_value *out = NULL;
    mm_error_clear();
    int rc = mm_metric_evaluate(m, 0, &out);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char log[1024] = "";
    rewind(tmp);
    log[fread(log, 1, sizeof log - 1, tmp)] = '\0';
    fclose(tmp);
    CHECK(strstr(log, "WARNING - Accuracy got empty `results`") != NULL);
    CHECK_INT(rc, MM_EINVAL);
    CHECK_STR(mm_error_message(), "val_evaluator (mmcls.Accuracy): no results "
                                  "to compute from (no data samples were "
                                  "processed)");
    CHECK(out == NULL);
    mm_metric_free(m);
}

/* ---- config errors ------------------------------------------------------- */

MM_TEST(unknown_parameter_suggests_the_closest) {
    mm_metric *m;
    CHECK_ERR(build_yaml("val_evaluator:\n  type: Accuracy\n  topkk: 5\n", &m),
              MM_EINVAL,
              "metric.yaml:3:3: val_evaluator: mmcls.Accuracy has no "
              "parameter 'topkk' (did you mean 'topk'?)");
    CHECK(m == NULL);
    CHECK_ERR(build_yaml("val_evaluator:\n  type: SingleLabelMetric\n"
                         "  average: macro\n  item: [precision]\n",
                         &m),
              MM_EINVAL,
              "metric.yaml:4:3: val_evaluator: mmcls.SingleLabelMetric has "
              "no parameter 'item' (did you mean 'items'?)");
}

MM_TEST(topk_must_be_positive_ints) {
    mm_metric *m;
    CHECK_ERR(
        build_yaml("val_evaluator:\n  type: Accuracy\n  topk: [1, 0]\n", &m),
        MM_EINVAL,
        "metric.yaml:3:13: val_evaluator (mmcls.Accuracy): topk.1 must "
        "be a positive int, got 0");
    CHECK_ERR(build_yaml("val_evaluator:\n  type: Accuracy\n  topk: -5\n", &m),
              MM_EINVAL,
              "metric.yaml:3:9: val_evaluator (mmcls.Accuracy): topk must be "
              "a positive int, got -5");
    CHECK_ERR(
        build_yaml("val_evaluator:\n  type: Accuracy\n  topk: [1, '5']\n", &m),
        MM_EINVAL,
        "metric.yaml:3:13: val_evaluator (mmcls.Accuracy): topk.1 must "
        "be a positive int, got a string");
    CHECK_ERR(build_yaml("val_evaluator:\n  type: Accuracy\n  topk: []\n", &m),
              MM_EINVAL,
              "metric.yaml:3:9: val_evaluator (mmcls.Accuracy): topk must "
              "not be an empty list");
    CHECK(m == NULL);
}

MM_TEST(topk_of_the_wrong_type_is_refused_by_the_schema) {
    mm_metric *m;
    CHECK_ERR(build_yaml("val_evaluator:\n  type: Accuracy\n  topk: 1.5\n", &m),
              MM_ETYPE,
              "metric.yaml:3:9: val_evaluator: mmcls.Accuracy expects int or "
              "list for 'topk', got float 1.5");
}

MM_TEST(thrs_entries_must_be_numbers_or_null) {
    mm_metric *m;
    CHECK_ERR(build_yaml("val_evaluator:\n  type: Accuracy\n"
                         "  thrs: [0.5, high]\n",
                         &m),
              MM_EINVAL,
              "metric.yaml:3:15: val_evaluator (mmcls.Accuracy): thrs.1 must "
              "be a number or null, got a string");
    CHECK_ERR(build_yaml("val_evaluator:\n  type: SingleLabelMetric\n"
                         "  thrs: []\n",
                         &m),
              MM_EINVAL,
              "metric.yaml:3:9: val_evaluator (mmcls.SingleLabelMetric): thrs "
              "must not be an empty list");
}

MM_TEST(items_must_be_known_names) {
    mm_metric *m;
    CHECK_ERR(build_yaml("val_evaluator:\n  type: SingleLabelMetric\n"
                         "  items: [precision, f1_score]\n",
                         &m),
              MM_EINVAL,
              "metric.yaml:3:22: val_evaluator (mmcls.SingleLabelMetric): "
              "items.1 must be one of precision, recall, f1-score, support; "
              "got 'f1_score'");
}

MM_TEST(average_must_be_macro_micro_or_null) {
    mm_metric *m;
    CHECK_ERR(build_yaml("val_evaluator:\n  type: SingleLabelMetric\n"
                         "  average: weighted\n",
                         &m),
              MM_EINVAL,
              "metric.yaml:3:12: val_evaluator (mmcls.SingleLabelMetric): "
              "average must be 'macro', 'micro' or null, got 'weighted'");
}

MM_TEST(num_classes_must_be_positive) {
    mm_metric *m;
    CHECK_ERR(build_yaml("val_evaluator:\n  type: SingleLabelMetric\n"
                         "  num_classes: 0\n",
                         &m),
              MM_EINVAL,
              "metric.yaml:3:16: val_evaluator (mmcls.SingleLabelMetric): "
              "num_classes must be a positive int, got 0");
}

MM_TEST(collect_device_must_be_cpu_or_gpu) {
    mm_metric *m;
    CHECK_ERR(build_yaml("val_evaluator:\n  type: Accuracy\n"
                         "  collect_device: cuda\n",
                         &m),
              MM_EINVAL,
              "metric.yaml:3:19: val_evaluator (mmcls.Accuracy): "
              "collect_device must be 'cpu' or 'gpu', got 'cuda'");
    CHECK_OK(build_yaml("val_evaluator:\n  type: Accuracy\n"
                        "  collect_device: gpu\n",
                        &m));
    CHECK_STR(mm_metric_collect_device(m), "gpu");
    mm_metric_free(m);
}

/* ---- data sample errors -------------------------------------------------- */

/* Build `metric_yaml`, process `samples_json` as one batch and evaluate;
 * the first failure's code. */
static int run_json(const char *metric_yaml, const char *samples_json,
                    mm_value **out) {
    mm_metric *m = NULL;
    mm_value *samples = NULL;
    *out = NULL;
    int rc = build_yaml(metric_yaml, &m);
    if (!rc)
        rc = mm_json_parse(samples_json, strlen(samples_json), "<samples>",
                           &samples);
    if (!rc)
        rc = mm_metric_process(m, NULL, samples);
    if (!rc)
        rc = mm_metric_evaluate(m, mm_value_len(samples), out);
    mm_value_release(samples);
    mm_metric_free(m);
    return rc;
}

#define ACC "val_evaluator: {type: Accuracy}\n"
#define SLM "val_evaluator: {type: SingleLabelMetric}\n"

MM_TEST(sample_without_gt_label_is_an_error) {
    mm_value *out;
    CHECK_ERR(run_json(ACC,
                       "[{\"pred_label\": 1, \"gt_label\": 1}, "
                       "{\"pred_label\": 1}]",
                       &out),
              MM_EINVAL,
              "val_evaluator (mmcls.Accuracy): data_samples[1]: no 'gt_label'");
}

MM_TEST(sample_without_predictions_is_an_error) {
    mm_value *out;
    CHECK_ERR(run_json(SLM, "[{\"gt_label\": 1}]", &out), MM_EINVAL,
              "val_evaluator (mmcls.SingleLabelMetric): data_samples[0]: no "
              "'pred_score' or 'pred_label'");
}

MM_TEST(sample_fields_of_the_wrong_type_are_errors) {
    mm_value *out;
    CHECK_ERR(run_json(ACC, "[{\"pred_score\": [0.1, \"x\"], \"gt_label\": 1}]",
                       &out),
              MM_ETYPE,
              "val_evaluator (mmcls.Accuracy): data_samples[0]: pred_score.1 "
              "must be a number, got a string");
    CHECK_ERR(run_json(ACC, "[{\"pred_score\": 0.5, \"gt_label\": 1}]", &out),
              MM_ETYPE,
              "val_evaluator (mmcls.Accuracy): data_samples[0]: pred_score "
              "must be a list of class scores or a 1-D float tensor, got a "
              "float");
    CHECK_ERR(run_json(ACC, "[{\"pred_label\": 1, \"gt_label\": 1.0}]", &out),
              MM_ETYPE,
              "val_evaluator (mmcls.Accuracy): data_samples[0]: gt_label "
              "must be an int, got a float");
    CHECK_ERR(run_json(ACC, "[3]", &out), MM_ETYPE,
              "val_evaluator (mmcls.Accuracy): data_samples[0]: must be a "
              "dict (a data sample), got a int");
}

MM_TEST(samples_mixing_scores_and_labels_are_an_error) {
    mm_value *out;
    CHECK_ERR(run_json(ACC,
                       "[{\"pred_score\": [0.9, 0.1], \"gt_label\": 0}, "
                       "{\"pred_label\": 1, \"gt_label\": 1}]",
                       &out),
              MM_EINVAL,
              "val_evaluator (mmcls.Accuracy): sample 1 has no pred_score but "
              "sample 0 has: all samples must carry the same predictions");
    CHECK_ERR(
        run_json(SLM,
                 "[{\"pred_label\": 1, \"gt_label\": 1, \"num_classes\": 2}, "
                 "{\"pred_score\": [0.9, 0.1], \"gt_label\": 0}]",
                 &out),
        MM_EINVAL,
        "val_evaluator (mmcls.SingleLabelMetric): sample 1 has "
        "pred_score but sample 0 has only pred_label: all samples must "
        "carry the same predictions");
}

MM_TEST(scores_of_different_lengths_are_an_error) {
    mm_value *out;
    CHECK_ERR(run_json(SLM,
                       "[{\"pred_score\": [0.9, 0.1], \"gt_label\": 0}, "
                       "{\"pred_score\": [0.2, 0.3, 0.5], \"gt_label\": 1}]",
                       &out),
              MM_EINVAL,
              "val_evaluator (mmcls.SingleLabelMetric): sample 1 has 3 class "
              "scores, sample 0 has 2");
}

MM_TEST(single_label_gt_label_beyond_the_classes_is_an_error) {
    mm_value *out;
    /* torch's one_hot refuses it too ("Class values must be smaller than
     * num_classes"); Accuracy just never counts it. */
    CHECK_ERR(
        run_json(SLM, "[{\"pred_score\": [0.9, 0.1], \"gt_label\": 2}]", &out),
        MM_ERANGE,
        "val_evaluator (mmcls.SingleLabelMetric): sample 0: gt_label 2 "
        "is out of range for 2 classes");
    CHECK_OK(run_json(ACC,
                      "[{\"pred_score\": [0.9, 0.1], \"gt_label\": 2}, "
                      "{\"pred_score\": [0.9, 0.1], \"gt_label\": 0}]",
                      &out));
    CHECK(get_float(out, "accuracy/top1") == 50.0);
    mm_value_release(out);
}

/* ---- mm's own rules where torch leaves it open --------------------------- */

MM_TEST(equal_scores_rank_the_lower_class_first) {
    mm_value *out;
    CHECK_OK(run_json("val_evaluator: {type: Accuracy, topk: [1, 2, 3]}\n",
                      "[{\"pred_score\": [0.3, 0.3, 0.4], \"gt_label\": 1}]",
                      &out));
    CHECK(get_float(out, "accuracy/top1") == 0.0);
    CHECK(get_float(out, "accuracy/top2") == 0.0);
    CHECK(get_float(out, "accuracy/top3") == 100.0);
    mm_value_release(out);
    CHECK_OK(
        run_json("val_evaluator: {type: SingleLabelMetric, average: null}\n",
                 "[{\"pred_score\": [0.5, 0.5], \"gt_label\": 0}]", &out));
    const mm_value *p =
        mm_value_dict_get(out, "single-label/precision_classwise");
    CHECK(mm_value_get_float(mm_value_list_get(p, 0)) == 100.0);
    mm_value_release(out);
}

MM_TEST(nan_scores_rank_first_as_in_torch) {
    /* torch.topk puts NaN above every number. */
    mm_value *out;
    CHECK_OK(
        run_json("val_evaluator: {type: Accuracy, topk: [1, 2], thrs: null}\n",
                 "[{\"pred_score\": [0.1, NaN, 0.3], \"gt_label\": 2}]", &out));
    CHECK(get_float(out, "accuracy/top1") == 0.0);
    CHECK(get_float(out, "accuracy/top2") == 100.0);
    mm_value_release(out);
}

/* ---- registration -------------------------------------------------------- */

MM_TEST(metrics_register_in_mmcls_with_documented_params) {
    setup();
    const char *names[] = {"Accuracy", "SingleLabelMetric"};
    for (size_t i = 0; i < 2; i++) {
        const mm_entry *e = NULL;
        CHECK_OK(mm_registry_lookup(MM_METRICS, names[i], "mmcls", NULL, &e));
        if (!e)
            continue;
        CHECK_STR(e->scope, "mmcls");
        CHECK(e->component->destroy == mm_metric_destroy);
        for (size_t j = 0; j < e->component->n_params; j++)
            CHECK(e->component->params[j].doc &&
                  e->component->params[j].doc[0]);
    }
    const mm_entry *e = NULL;
    CHECK_OK(mm_registry_lookup(MM_METRICS, "mmcls.Accuracy", NULL, NULL, &e));
}

MM_TEST(registry_destroy_frees_a_built_metric) {
    mm_metric *m;
    CHECK_OK(build_yaml("val_evaluator:\n  type: mmcls.SingleLabelMetric\n"
                        "  thrs: [0.1, 0.2]\n  prefix: test\n",
                        &m));
    CHECK_STR(mm_metric_prefix(m), "test");
    const mm_entry *e = NULL;
    CHECK_OK(mm_registry_lookup(MM_METRICS, "mmcls.SingleLabelMetric", NULL,
                                NULL, &e));
    if (e)
        e->component->destroy(m);
}

MM_TEST_MAIN(MM_CASE(accuracy_default_is_top1_in_percent),
             MM_CASE(accuracy_topk_counts_gt_among_the_k_best),
             MM_CASE(accuracy_thrs_name_keys_and_compare_in_float32),
             MM_CASE(accuracy_one_thr_in_a_list_adds_no_suffix),
             MM_CASE(accuracy_null_thr_applies_no_threshold),
             MM_CASE(accuracy_on_labels_ignores_thrs),
             MM_CASE(accuracy_evaluate_size_drops_padding),
             MM_CASE(accuracy_prefix_replaces_default),
             MM_CASE(accuracy_matches_mmpretrain_unit_test),
             MM_CASE(single_label_default_is_macro_precision_recall_f1),
             MM_CASE(single_label_thrs_suffix_every_item),
             MM_CASE(single_label_micro_pools_counts_in_fixed_item_order),
             MM_CASE(single_label_average_null_gives_classwise_lists),
             MM_CASE(single_label_classwise_keys_put_thr_before_classwise),
             MM_CASE(single_label_labels_use_num_classes_and_ignore_thrs),
             MM_CASE(single_label_labels_take_num_classes_from_the_sample),
             MM_CASE(single_label_class_without_samples_counts_in_macro_mean),
             MM_CASE(single_label_empty_items_give_empty_dict),
             MM_CASE(single_label_size_and_prefix),
             MM_CASE(single_label_matches_mmpretrain_unit_test),
             MM_CASE(accuracy_topk_beyond_the_classes_is_an_error),
             MM_CASE(single_label_labels_without_num_classes_is_an_error),
             MM_CASE(accuracy_labels_with_topk5_is_an_error),
             MM_CASE(no_samples_processed_warns_then_fails_as_mmpretrain),
             MM_CASE(unknown_parameter_suggests_the_closest),
             MM_CASE(topk_must_be_positive_ints),
             MM_CASE(topk_of_the_wrong_type_is_refused_by_the_schema),
             MM_CASE(thrs_entries_must_be_numbers_or_null),
             MM_CASE(items_must_be_known_names),
             MM_CASE(average_must_be_macro_micro_or_null),
             MM_CASE(num_classes_must_be_positive),
             MM_CASE(collect_device_must_be_cpu_or_gpu),
             MM_CASE(sample_without_gt_label_is_an_error),
             MM_CASE(sample_without_predictions_is_an_error),
             MM_CASE(sample_fields_of_the_wrong_type_are_errors),
             MM_CASE(tensor_pred_scores_give_the_same_results),
             MM_CASE(samples_mixing_scores_and_labels_are_an_error),
             MM_CASE(scores_of_different_lengths_are_an_error),
             MM_CASE(single_label_gt_label_beyond_the_classes_is_an_error),
             MM_CASE(equal_scores_rank_the_lower_class_first),
             MM_CASE(nan_scores_rank_first_as_in_torch),
             MM_CASE(metrics_register_in_mmcls_with_documented_params),
             MM_CASE(registry_destroy_frees_a_built_metric))
