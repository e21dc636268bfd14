/* mmcls's MultiLabelMetric and AveragePrecision against mmpretrain 1.2.0:
 * the cases of multilabel_cases.yaml, evaluated by mmpretrain's own classes
 * into multilabel_expected.json by
 *
 *     /work/venv-bench/bin/python \
 *         tools/parity/multilabel_metrics_mmpretrain.py \
 *         tests/eval/multilabel_cases.yaml > tests/eval/multilabel_expected.json
 *
 * and replayed here through the METRICS registry out of the in-tree plugin:
 * the same keys in the same order, ints where mmpretrain gives ints, floats
 * within 1e-4. Samples carry pred_score as 1-D f32 tensors (what the
 * multi-label heads give) and gt_label as lists, or gt_score rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/eval.h"
#include "mm/plugin.h"
#include "mm/registry.h"
#include "mm/tensor.h"

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
    cases_doc = read_fixture("multilabel_cases.yaml", false);
    expected_doc = read_fixture("multilabel_expected.json", true);
    atexit(release_fixtures);
}

static mm_value *f32_row(const mm_value *row) {
    size_t n = mm_value_len(row);
    float buf[16];
    mm_tensor *t = NULL;
    for (size_t c = 0; c < n && c < 16; c++)
        buf[c] = (float)mm_value_get_float(mm_value_list_get(row, c));
    if (n > 16 || mm_from_data(buf, 1, (const int64_t[]){(int64_t)n}, MM_F32,
                               &t))
        abort();
    mm_value *v = mm_tensor_to_value(t);
    mm_tensor_release(t); /* no pool is open: the value holds the tensor */
    return v;
}

static mm_value *make_samples(const mm_value *set) {
    const mm_value *scores = mm_value_dict_get(set, "scores");
    const mm_value *gt = mm_value_dict_get(set, "gt_label");
    const mm_value *gs = mm_value_dict_get(set, "gt_score");
    mm_value *list = mm_value_new_list();
    for (size_t i = 0; i < mm_value_len(scores); i++) {
        mm_value *s = mm_value_new_dict();
        if (mm_value_dict_set_take(s, "pred_score",
                                   f32_row(mm_value_list_get(scores, i))) ||
            (gt && mm_value_dict_set(s, "gt_label", mm_value_list_get(gt, i))) ||
            (gs && mm_value_dict_set(s, "gt_score", mm_value_list_get(gs, i))) ||
            mm_value_list_append_take(list, s))
            abort();
    }
    return list;
}

static int run_case(const char *name, mm_value **out) {
    setup();
    *out = NULL;
    const mm_value *c = mm_value_dict_get(mm_value_dict_get(cases_doc,
                                                            "cases"),
                                          name);
    if (!c) {
        fprintf(stderr, "no case %s\n", name);
        return MM_EINVAL;
    }
    const mm_value *set = mm_value_dict_get(
        mm_value_dict_get(cases_doc, "samples"),
        mm_value_get_string(mm_value_dict_get(c, "samples")));
    mm_metric *m = NULL;
    MM_TRY(mm_registry_build(MM_METRICS, mm_value_dict_get(c, "metric"),
                             "mmcls", "val_evaluator", NULL, (void **)&m));
    mm_value *samples = make_samples(set);
    int rc = mm_metric_process(m, NULL, samples);
    if (!rc)
        rc = mm_metric_evaluate(m, mm_value_len(samples), out);
    mm_value_release(samples);
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
    return mm_value_is_number(want) && mm_value_is_float(got) &&
           fabs(mm_value_get_float(got) - mm_value_get_float(want)) <= 1e-4;
}

static void check_case(const char *name) {
    mm_value *got = NULL;
    CHECK_OK(run_case(name, &got));
    const mm_value *want = mm_value_dict_get(expected_doc, name);
    CHECK(want != NULL);
    if (!got || !want) {
        mm_value_release(got);
        return;
    }
    bool same = mm_value_len(got) == mm_value_len(want);
    for (size_t i = 0; same && i < mm_value_len(want); i++)
        same = strcmp(mm_value_dict_key_at(got, i),
                      mm_value_dict_key_at(want, i)) == 0 &&
               same_value(mm_value_dict_value_at(got, i),
                          mm_value_dict_value_at(want, i));
    if (!same) {
        char *gs = NULL, *ws = NULL;
        if (mm_json_dump(got, 0, &gs) || mm_json_dump(want, 0, &ws))
            fprintf(stderr, "dump failed\n");
        fprintf(stderr, "case %s differs from mmpretrain\n  got:  %s\n  want: "
                        "%s\n",
                name, gs ? gs : "?", ws ? ws : "?");
        free(gs);
        free(ws);
        mm_test_failures++;
    }
    mm_value_release(got);
}

MM_TEST(multi_label_default_thr_is_half) { check_case("ml_default"); }
MM_TEST(multi_label_thr_names_the_keys) { check_case("ml_thr03"); }
MM_TEST(multi_label_thr_zero_names_keys_as_top_none) {
    check_case("ml_thr0");
}
MM_TEST(multi_label_topk_marks_the_k_best) { check_case("ml_top2"); }
MM_TEST(multi_label_thr_wins_over_topk) {
    check_case("ml_thr_wins_over_topk");
}
MM_TEST(multi_label_micro_pools_the_counts) { check_case("ml_micro"); }
MM_TEST(multi_label_classwise_lists_per_class) {
    check_case("ml_classwise");
}
MM_TEST(multi_label_difficult_gt_scores_are_left_out) {
    check_case("ml_difficult");
}
MM_TEST(multi_label_prefix_replaces_default) { check_case("ml_prefix"); }
MM_TEST(average_precision_macro_is_map) { check_case("ap_macro"); }
MM_TEST(average_precision_classwise_lists_ap) { check_case("ap_classwise"); }
MM_TEST(average_precision_leaves_difficult_out) {
    check_case("ap_difficult");
}

MM_TEST(multi_label_metric_refuses_a_bad_average_with_its_location) {
    setup();
    static const char *yaml =
        "val_evaluator: {type: AveragePrecision, average: micro}\n";
    mm_value *doc = NULL;
    void *m = NULL;
    CHECK_OK(mm_yaml_parse(yaml, strlen(yaml), "metric.yaml", &doc));
    CHECK(mm_registry_build(MM_METRICS, mm_value_dict_get(doc,
                                                          "val_evaluator"),
                            "mmcls", "val_evaluator", NULL, &m) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "metric.yaml:1:") != NULL);
    CHECK(strstr(mm_error_message(), "average must be 'macro' or null") !=
          NULL);
    mm_value_release(doc);
}

MM_TEST(multi_label_metric_needs_pred_score) {
    setup();
    static const char *yaml = "val_evaluator: {type: MultiLabelMetric}\n";
    mm_value *doc = NULL, *samples = NULL;
    mm_metric *m = NULL;
    CHECK_OK(mm_yaml_parse(yaml, strlen(yaml), "metric.yaml", &doc));
    CHECK_OK(mm_registry_build(MM_METRICS,
                               mm_value_dict_get(doc, "val_evaluator"),
                               "mmcls", "val_evaluator", NULL, (void **)&m));
    CHECK_OK(mm_yaml_parse("[{pred_label: 1, gt_label: [1]}]", 32, "s",
                           &samples));
    if (m)
        CHECK(mm_metric_process(m, NULL, samples) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "no 'pred_score'") != NULL);
    mm_value_release(samples);
    mm_value_release(doc);
    mm_metric_free(m);
}

MM_TEST_MAIN(MM_CASE(multi_label_default_thr_is_half),
             MM_CASE(multi_label_thr_names_the_keys),
             MM_CASE(multi_label_thr_zero_names_keys_as_top_none),
             MM_CASE(multi_label_topk_marks_the_k_best),
             MM_CASE(multi_label_thr_wins_over_topk),
             MM_CASE(multi_label_micro_pools_the_counts),
             MM_CASE(multi_label_classwise_lists_per_class),
             MM_CASE(multi_label_difficult_gt_scores_are_left_out),
             MM_CASE(multi_label_prefix_replaces_default),
             MM_CASE(average_precision_macro_is_map),
             MM_CASE(average_precision_classwise_lists_ap),
             MM_CASE(average_precision_leaves_difficult_out),
             MM_CASE(multi_label_metric_refuses_a_bad_average_with_its_location),
             MM_CASE(multi_label_metric_needs_pred_score))
