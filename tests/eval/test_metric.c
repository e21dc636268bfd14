/* The metric object model (mm/eval.h) with a toy metric class: prefixes,
 * results, evaluate(size), warnings and errors, as mmengine's BaseMetric. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mm/eval.h"
#include "mm/log.h"

/* ---- stderr capture (mm_log writes there) -------------------------------- */

typedef struct capture {
    FILE *tmp;
    int saved;
    char text[4096];
} capture;

static void capture_begin(capture *c) {
    fflush(stderr);
    c->tmp = tmpfile();
    c->saved = dup(2);
    dup2(fileno(c->tmp), 2);
}

static const char *capture_end(capture *c) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    rewind(c->tmp);
    size_t n = fread(c->text, 1, sizeof c->text - 1, c->tmp);
    c->text[n] = '\0';
    fclose(c->tmp);
    return c->text;
}

/* ---- a toy metric: sums int samples -------------------------------------- */

typedef struct toy {
    int fini_calls;
    int *fini_counter; /* where fini reports, outliving the metric */
} toy;

static int toy_process(mm_metric *m, const mm_value *batch,
                       const mm_value *samples) {
    (void)batch;
    for (size_t i = 0; i < mm_value_len(samples); i++) {
        mm_value *s = mm_value_list_get(samples, i);
        if (!mm_value_is_int(s))
            return mm_error_set(MM_ETYPE, "data_samples[%zu]: not an int", i);
        int rc = mm_value_list_append(mm_metric_results(m), s);
        if (rc)
            return rc;
    }
    return MM_OK;
}

static int toy_compute(mm_metric *m, const mm_value *results, mm_value **out) {
    (void)m;
    int64_t sum = 0;
    for (size_t i = 0; i < mm_value_len(results); i++)
        sum += mm_value_get_int(mm_value_list_get(results, i));
    if (sum < 0)
        return mm_error_set(MM_EINVAL, "negative sum");
    mm_value *d = mm_value_new_dict();
    if (mm_value_dict_set_take(
            d, "n", mm_value_new_int((int64_t)mm_value_len(results))) ||
        mm_value_dict_set_take(d, "sum", mm_value_new_int(sum))) {
        mm_value_release(d);
        return MM_ENOMEM;
    }
    *out = d;
    return MM_OK;
}

static void toy_fini(mm_metric *m) {
    toy *t = mm_metric_priv(m);
    if (t && t->fini_counter) /* priv_size may be 0 */
        (*t->fini_counter)++;
}

static const mm_metric_class toy_class = {
    .name = "Toy",
    .default_prefix = "toy",
    .process = toy_process,
    .compute = toy_compute,
    .fini = toy_fini,
};

static const mm_metric_class bare_class = {
    .name = "Bare",
    .process = toy_process,
    .compute = toy_compute,
};

static mm_value *ints(const char *json) {
    mm_value *v = NULL;
    CHECK_OK(mm_json_parse(json, strlen(json), "<test>", &v));
    return v;
}

static int64_t get_int(const mm_value *d, const char *key) {
    const mm_value *v = mm_value_dict_get(d, key);
    return mm_value_is_int(v) ? mm_value_get_int(v) : -999;
}

/* ---- cases --------------------------------------------------------------- */

MM_TEST(metric_keys_carry_the_default_prefix) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, sizeof(toy), NULL, &m));
    CHECK_STR(mm_metric_prefix(m), "toy");
    mm_value *batch = ints("[1, 2, 3]");
    CHECK_OK(mm_metric_process(m, NULL, batch));
    mm_value *out = NULL;
    CHECK_OK(mm_metric_evaluate(m, 3, &out));
    CHECK_INT(mm_value_len(out), 2);
    CHECK_STR(mm_value_dict_key_at(out, 0), "toy/n");
    CHECK_STR(mm_value_dict_key_at(out, 1), "toy/sum");
    CHECK_INT(get_int(out, "toy/sum"), 6);
    mm_value_release(out);
    mm_value_release(batch);
    mm_metric_free(m);
}

MM_TEST(metric_prefix_replaces_the_default_and_empty_means_default) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, "val", &m));
    CHECK_STR(mm_metric_prefix(m), "val");
    mm_metric_free(m);
    CHECK_OK(mm_metric_new(&toy_class, 0, "", &m));
    CHECK_STR(mm_metric_prefix(m), "toy");
    mm_metric_free(m);
}

MM_TEST(metric_without_any_prefix_warns_and_keeps_bare_keys) {
    capture c;
    mm_metric *m = NULL;
    capture_begin(&c);
    int rc = mm_metric_new(&bare_class, 0, NULL, &m);
    const char *log = capture_end(&c);
    CHECK_OK(rc);
    CHECK(
        strstr(log, "WARNING - The prefix is not set in metric class Bare.") !=
        NULL);
    CHECK(mm_metric_prefix(m) == NULL);
    mm_value *batch = ints("[4]");
    CHECK_OK(mm_metric_process(m, NULL, batch));
    mm_value *out = NULL;
    CHECK_OK(mm_metric_evaluate(m, 1, &out));
    CHECK_STR(mm_value_dict_key_at(out, 1), "sum");
    mm_value_release(out);
    mm_value_release(batch);
    mm_metric_free(m);
}

MM_TEST(metric_results_accumulate_over_batches_and_evaluate_clears_them) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, NULL, &m));
    mm_value *b1 = ints("[1, 2]"), *b2 = ints("[10]");
    CHECK_OK(mm_metric_process(m, NULL, b1));
    CHECK_OK(mm_metric_process(m, NULL, b2));
    CHECK_INT(mm_value_len(mm_metric_results(m)), 3);
    mm_value *out = NULL;
    CHECK_OK(mm_metric_evaluate(m, 3, &out));
    CHECK_INT(get_int(out, "toy/sum"), 13);
    CHECK_INT(mm_value_len(mm_metric_results(m)), 0);
    mm_value_release(out);
    /* A second round starts from nothing. */
    CHECK_OK(mm_metric_process(m, NULL, b2));
    CHECK_OK(mm_metric_evaluate(m, 1, &out));
    CHECK_INT(get_int(out, "toy/sum"), 10);
    mm_value_release(out);
    mm_value_release(b1);
    mm_value_release(b2);
    mm_metric_free(m);
}

MM_TEST(metric_evaluate_size_drops_the_padding_after_size_results) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, NULL, &m));
    mm_value *batch = ints("[1, 2, 3, 4, 5]");
    CHECK_OK(mm_metric_process(m, NULL, batch));
    mm_value *out = NULL;
    CHECK_OK(mm_metric_evaluate(m, 3, &out));
    CHECK_INT(get_int(out, "toy/n"), 3);
    CHECK_INT(get_int(out, "toy/sum"), 6);
    CHECK_INT(mm_value_len(mm_metric_results(m)), 0);
    mm_value_release(out);
    /* A size beyond what was processed takes everything (results[:size]). */
    CHECK_OK(mm_metric_process(m, NULL, batch));
    CHECK_OK(mm_metric_evaluate(m, 100, &out));
    CHECK_INT(get_int(out, "toy/n"), 5);
    mm_value_release(out);
    mm_value_release(batch);
    mm_metric_free(m);
}

MM_TEST(metric_evaluate_with_no_results_warns_as_mmengine) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, NULL, &m));
    mm_value *out = NULL;
    capture c;
    capture_begin(&c);
    int rc = mm_metric_evaluate(m, 0, &out);
    const char *log = capture_end(&c);
    CHECK_OK(rc);
    CHECK(strstr(log, "WARNING - Toy got empty `results`. Please ensure that "
                      "the processed results are properly added into "
                      "`results` in `process`.") != NULL);
    CHECK_INT(get_int(out, "toy/n"), 0);
    mm_value_release(out);
    mm_metric_free(m);
}

MM_TEST(metric_process_needs_a_list_of_samples) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, NULL, &m));
    mm_value *d = mm_value_new_dict();
    CHECK_ERR(mm_metric_process(m, NULL, d), MM_ETYPE,
              "Toy: data_samples must be a list of data samples, got a dict");
    mm_value_release(d);
    mm_metric_free(m);
}

MM_TEST(metric_process_errors_name_the_metric) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, NULL, &m));
    mm_value *batch = ints("[1, \"x\"]");
    CHECK_ERR(mm_metric_process(m, NULL, batch), MM_ETYPE,
              "Toy: data_samples[1]: not an int");
    mm_value_release(batch);
    mm_metric_free(m);
}

MM_TEST(metric_compute_failure_keeps_the_results) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, NULL, &m));
    mm_value *batch = ints("[1, -5]");
    CHECK_OK(mm_metric_process(m, NULL, batch));
    mm_value *out = (mm_value *)1;
    CHECK_ERR(mm_metric_evaluate(m, 2, &out), MM_EINVAL, "Toy: negative sum");
    CHECK(out == NULL);
    CHECK_INT(mm_value_len(mm_metric_results(m)), 2);
    mm_value_release(batch);
    mm_metric_free(m);
}

MM_TEST(metric_collect_device_is_cpu_or_gpu) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, NULL, &m));
    CHECK_STR(mm_metric_collect_device(m), "cpu");
    CHECK_OK(mm_metric_set_collect_device(m, "gpu"));
    CHECK_STR(mm_metric_collect_device(m), "gpu");
    CHECK_ERR(mm_metric_set_collect_device(m, "tpu"), MM_EINVAL,
              "collect_device must be 'cpu' or 'gpu', got 'tpu'");
    CHECK_STR(mm_metric_collect_device(m), "gpu");
    mm_metric_free(m);
}

MM_TEST(metric_dataset_meta_is_retained_until_replaced) {
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, 0, NULL, &m));
    CHECK(mm_metric_dataset_meta(m) == NULL);
    mm_value *meta = ints("{\"classes\": [\"cat\", \"dog\"]}");
    mm_metric_set_dataset_meta(m, meta);
    mm_value_release(meta);
    CHECK_INT(
        mm_value_len(mm_value_dict_get(mm_metric_dataset_meta(m), "classes")),
        2);
    mm_metric_set_dataset_meta(m, NULL);
    CHECK(mm_metric_dataset_meta(m) == NULL);
    mm_metric_free(m);
}

MM_TEST(metric_private_area_is_zeroed_and_fini_runs_on_free) {
    int counter = 0;
    mm_metric *m;
    CHECK_OK(mm_metric_new(&toy_class, sizeof(toy), NULL, &m));
    toy *t = mm_metric_priv(m);
    CHECK(t != NULL);
    CHECK_INT(t->fini_calls, 0);
    CHECK(t->fini_counter == NULL);
    t->fini_counter = &counter;
    CHECK(mm_metric_class_of(m) == &toy_class);
    mm_metric_destroy(m);
    CHECK_INT(counter, 1);
    mm_metric_free(NULL);
}

MM_TEST(metric_class_needs_process_and_compute) {
    static const mm_metric_class broken = {.name = "Broken"};
    mm_metric *m = (mm_metric *)1;
    CHECK_ERR(mm_metric_new(&broken, 0, NULL, &m), MM_EINVAL,
              "a metric class needs a name, process and compute");
    CHECK(m == NULL);
}

MM_TEST_MAIN(
    MM_CASE(metric_keys_carry_the_default_prefix),
    MM_CASE(metric_prefix_replaces_the_default_and_empty_means_default),
    MM_CASE(metric_without_any_prefix_warns_and_keeps_bare_keys),
    MM_CASE(metric_results_accumulate_over_batches_and_evaluate_clears_them),
    MM_CASE(metric_evaluate_size_drops_the_padding_after_size_results),
    MM_CASE(metric_evaluate_with_no_results_warns_as_mmengine),
    MM_CASE(metric_process_needs_a_list_of_samples),
    MM_CASE(metric_process_errors_name_the_metric),
    MM_CASE(metric_compute_failure_keeps_the_results),
    MM_CASE(metric_collect_device_is_cpu_or_gpu),
    MM_CASE(metric_dataset_meta_is_retained_until_replaced),
    MM_CASE(metric_private_area_is_zeroed_and_fini_runs_on_free),
    MM_CASE(metric_class_needs_process_and_compute))
