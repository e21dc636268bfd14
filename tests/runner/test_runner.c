/* The runner (mm/runner.h): hook order against mmengine's recorded
 * sequence (tools/parity/runner_hooks_mmengine.py), priorities, the message
 * hub, log lines against mmengine's LogProcessor
 * (tools/parity/log_processor_mmengine.py), CheckpointHook, EarlyStopping,
 * EMA, resume bit-exactness and load_from reports, with the `rtest`
 * plugin's toy dataset, classifier, metric and recording hook. */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mm/checkpoint.h"
#include "mm/config.h"
#include "mm/log.h"
#include "mm/plugin.h"
#include "mm/runner.h"
#include "runner/rtest.h"

static char tmp_root[256];

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w) {
    (void)s, (void)f, (void)w;
    return remove(p);
}

static void cleanup(void) {
    if (tmp_root[0])
        nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void) {
    static bool done;
    if (done)
        return;
    done = true;
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/rtest.so", dir ? dir : ".");
    if (mm_plugin_load_file(path)) {
        fprintf(stderr, "loading %s: %s\n", path, mm_error_message());
        exit(1);
    }
    snprintf(tmp_root, sizeof tmp_root, "/tmp/mm_runner_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(cleanup);
    mm_log_set_level(MM_LOG_WARNING); /* keep the test output short */
}

/* A fresh work dir under the temporary root. */
static const char *work_dir(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmp_root, name);
    return buf;
}

/* The toy setup: 8 training samples in batches of 4, val/test 4 in
 * batches of 2; `extra` is YAML merged over it (flow mapping text). */
static mm_value *toy_cfg(const char *wd, const char *extra) {
    char text[8192];
    snprintf(text, sizeof text,
             "default_scope: rtest\n"
             "work_dir: %s\n"
             "model: {type: ToyClassifier}\n"
             "train_dataloader: {batch_size: 4, num_workers: 0,\n"
             "  sampler: {type: DefaultSampler, shuffle: false},\n"
             "  dataset: {type: Blobs, n: 8}}\n"
             "val_dataloader: {batch_size: 2, num_workers: 0,\n"
             "  sampler: {type: DefaultSampler, shuffle: false},\n"
             "  dataset: {type: Blobs, n: 4}}\n"
             "test_dataloader: {batch_size: 2, num_workers: 0,\n"
             "  sampler: {type: DefaultSampler, shuffle: false},\n"
             "  dataset: {type: Blobs, n: 4}}\n"
             "train_cfg: {by_epoch: true, max_epochs: 2, val_interval: 1}\n"
             "val_cfg: {}\n"
             "test_cfg: {}\n"
             "val_evaluator: {type: ToyAccuracy}\n"
             "test_evaluator: {type: ToyAccuracy}\n"
             "optim_wrapper: {optimizer: {type: SGD, lr: 0.1}}\n"
             "randomness: {seed: 0}\n",
             wd);
    mm_value *cfg = NULL, *over = NULL, *merged = NULL;
    if (mm_yaml_parse(text, strlen(text), "toy.yaml", &cfg)) {
        fprintf(stderr, "bad toy YAML: %s\n", mm_error_message());
        exit(1);
    }
    if (!extra)
        return cfg;
    if (mm_yaml_parse(extra, strlen(extra), "extra.yaml", &over) ||
        mm_config_merge(cfg, over, &merged)) {
        fprintf(stderr, "bad extra YAML: %s\n", mm_error_message());
        exit(1);
    }
    mm_value_release(cfg);
    mm_value_release(over);
    return merged;
}

static mm_runner *new_runner(const char *name, const char *extra) {
    setup();
    mm_value *cfg = toy_cfg(work_dir(name), extra);
    mm_runner *r = NULL;
    int rc = mm_runner_new(cfg, "toy.yaml", &r);
    mm_value_release(cfg);
    if (rc) {
        fprintf(stderr, "mm_runner_new: %s\n", mm_error_message());
        mm_test_failures++;
        return NULL;
    }
    return r;
}

static rtest_record_hook *find_record(mm_runner *r, const char *tag) {
    for (size_t i = 0; i < mm_runner_n_hooks(r); i++) {
        mm_hook *h = mm_runner_hook_at(r, i);
        if (strcmp(h->cls->name, "RecordHook") == 0 &&
            (!tag || strcmp(((rtest_record_hook *)h)->tag, tag) == 0))
            return (rtest_record_hook *)h;
    }
    return NULL;
}

static mm_value *read_json(const char *path) {
    char *text = NULL;
    size_t len = 0;
    mm_value *v = NULL;
    if (mm_file_read(path, &text, &len) || mm_json_parse(text, len, path, &v)) {
        fprintf(stderr, "%s: %s\n", path, mm_error_message());
        exit(1);
    }
    free(text);
    return v;
}

static bool exists(const char *fmt, const char *a, const char *b) {
    char p[1024];
    snprintf(p, sizeof p, fmt, a, b);
    return access(p, F_OK) == 0;
}

/* ---- hook order ---------------------------------------------------------- */

static void check_events(const rtest_record_hook *h, size_t from,
                         const mm_value *want) {
    CHECK_INT(h->n - from, mm_value_len(want));
    for (size_t i = 0; i < mm_value_len(want) && from + i < h->n; i++) {
        if (strcmp(h->events[from + i],
                   mm_value_get_string(mm_value_list_get(want, i)))) {
            fprintf(stderr, "event %zu: got %s, mmengine %s\n", i,
                    h->events[from + i],
                    mm_value_get_string(mm_value_list_get(want, i)));
            mm_test_failures++;
            return;
        }
    }
}

static char *captured;

static void capture(mm_log_level level, const char *line, void *user) {
    (void)level, (void)user;
    size_t n = captured ? strlen(captured) : 0;
    char *c = realloc(captured, n + strlen(line) + 2);
    if (!c)
        return;
    strcpy(c + n, line);
    strcat(c + n, "\n");
    captured = c;
}

MM_TEST(hooks_info_at_start_matches_mmengine) {
    mm_log_set_level(MM_LOG_INFO);
    CHECK_OK(mm_log_add_sink(capture, NULL));
    mm_runner *r =
        new_runner("hooks_info", "default_hooks: {checkpoint: {type: "
                                 "CheckpointHook, interval: 1}}\n"
                                 "custom_hooks: [{type: RecordHook}]\n");
    mm_log_remove_sink(capture, NULL);
    mm_log_set_level(MM_LOG_WARNING);
    mm_value *want = read_json("hook_order_mmengine.json");
    const char *head = "Hooks will be executed in the following order:\n";
    const char *got = captured ? strstr(captured, head) : NULL;
    CHECK(got != NULL);
    if (got) {
        const char *w =
            mm_value_get_string(mm_value_dict_get(want, "hooks_info"));
        CHECK(strncmp(got + strlen(head), w, strlen(w)) == 0);
        CHECK(got[strlen(head) + strlen(w)] == '\n');
    }
    free(captured);
    captured = NULL;
    mm_value_release(want);
    mm_runner_free(r);
}

MM_TEST(hook_order_matches_mmengine_for_train_with_val_and_test) {
    mm_runner *r = new_runner(
        "order", "default_hooks: {checkpoint: {type: CheckpointHook, "
                 "interval: 1}}\n"
                 "custom_hooks: [{type: RecordHook}]\n");
    if (!r)
        return;
    mm_value *want = read_json("hook_order_mmengine.json");
    rtest_record_hook *h = find_record(r, NULL);
    CHECK(h != NULL);
    CHECK_OK(mm_runner_train(r));
    size_t n_train = h ? h->n : 0;
    if (h)
        check_events(h, 0, mm_value_dict_get(want, "train"));
    mm_value *m = NULL;
    CHECK_OK(mm_runner_test(r, &m));
    if (h)
        check_events(h, n_train, mm_value_dict_get(want, "test"));
    CHECK(mm_value_dict_get(m, "toy/accuracy") != NULL);
    mm_value_release(m);
    mm_value_release(want);
    mm_runner_free(r);
}

MM_TEST(hook_order_matches_mmengine_when_resuming) {
    static const char *const hooks =
        "default_hooks: {checkpoint: {type: CheckpointHook, interval: 1}}\n"
        "custom_hooks: [{type: RecordHook}]\n";
    char extra[512];
    snprintf(extra, sizeof extra, "%strain_cfg: {max_epochs: 1}\n", hooks);
    mm_runner *r = new_runner("order_resume", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra, "%sresume: true\n", hooks);
    r = new_runner("order_resume", extra);
    if (!r)
        return;
    mm_value *want = read_json("hook_order_mmengine.json");
    CHECK_OK(mm_runner_train(r));
    rtest_record_hook *h = find_record(r, NULL);
    CHECK(h != NULL);
    if (h)
        check_events(h, 0, mm_value_dict_get(want, "resume"));
    mm_value_release(want);
    mm_runner_free(r);
}

MM_TEST(hooks_run_in_priority_order_stable_within_a_priority) {
    mm_runner *r = new_runner(
        "prio", "custom_hooks: [{type: RecordHook, tag: a, priority: LOW},\n"
                "  {type: RecordHook, tag: b, priority: HIGHEST},\n"
                "  {type: RecordHook, tag: c},\n"
                "  {type: RecordHook, tag: d, priority: 70}]\n");
    if (!r)
        return;
    static const char *const want[] = {
        "RecordHook:b",        "RuntimeInfoHook", "IterTimerHook",
        "DistSamplerSeedHook", "RecordHook:c",    "LoggerHook",
        "ParamSchedulerHook",  "RecordHook:a",    "RecordHook:d",
        "CheckpointHook"};
    CHECK_INT(mm_runner_n_hooks(r), 10);
    for (size_t i = 0; i < 10 && i < mm_runner_n_hooks(r); i++) {
        mm_hook *h = mm_runner_hook_at(r, i);
        char name[128];
        if (strcmp(h->cls->name, "RecordHook") == 0)
            snprintf(name, sizeof name, "RecordHook:%s",
                     ((rtest_record_hook *)h)->tag);
        else
            snprintf(name, sizeof name, "%s", h->cls->name);
        CHECK_STR(name, want[i]);
    }
    mm_runner_free(r);
}

MM_TEST(default_hook_set_to_null_is_not_registered) {
    mm_runner *r = new_runner("nullhook", "default_hooks: {checkpoint: null, "
                                          "sampler_seed: null}\n");
    if (!r)
        return;
    CHECK_INT(mm_runner_n_hooks(r), 4);
    for (size_t i = 0; i < mm_runner_n_hooks(r); i++) {
        const char *n = mm_runner_hook_at(r, i)->cls->name;
        CHECK(strcmp(n, "CheckpointHook") != 0 &&
              strcmp(n, "DistSamplerSeedHook") != 0);
    }
    mm_runner_free(r);
}

MM_TEST(priority_parses_names_and_numbers) {
    mm_value *v = mm_value_new_string("very_low");
    int p = -1;
    CHECK_OK(mm_priority_parse(v, &p));
    CHECK_INT(p, 90);
    mm_value_release(v);
    v = mm_value_new_int(42);
    CHECK_OK(mm_priority_parse(v, &p));
    CHECK_INT(p, 42);
    mm_value_release(v);
    v = mm_value_new_int(101);
    CHECK_ERR(mm_priority_parse(v, &p), MM_ERANGE,
              "priority must be between 0 and 100, not 101");
    mm_value_release(v);
    v = mm_value_new_string("URGENT");
    CHECK(mm_priority_parse(v, &p) == MM_EINVAL);
    mm_value_release(v);
    CHECK_STR(mm_priority_name(60), "BELOW_NORMAL");
    CHECK(mm_priority_name(61) == NULL);
}

MM_TEST(unknown_hook_parameter_is_a_config_error_before_building) {
    setup();
    mm_value *cfg =
        toy_cfg(work_dir("badhook"),
                "custom_hooks: [{type: EarlyStoppingHook, monitr: x}]\n");
    mm_runner *r = NULL;
    CHECK(mm_runner_new(cfg, "toy.yaml", &r) != MM_OK);
    CHECK(strstr(mm_error_message(), "custom_hooks.0") != NULL);
    CHECK(strstr(mm_error_message(), "did you mean 'monitor'") != NULL);
    CHECK(access(work_dir("badhook"), F_OK) != 0); /* nothing was made */
    mm_value_release(cfg);
}

/* ---- message hub and log processor --------------------------------------- */

MM_TEST(message_hub_windows_and_state_roundtrip) {
    mm_message_hub *hub = NULL;
    CHECK_OK(mm_message_hub_new(&hub));
    for (int i = 1; i <= 5; i++)
        CHECK_OK(mm_message_hub_update_scalar(hub, "train/loss", i, 1));
    CHECK_OK(mm_message_hub_update_scalar(hub, "train/acc", 10, 2));
    mm_history_buffer *b = mm_message_hub_get_scalar(hub, "train/loss");
    CHECK(mm_history_buffer_mean(b, 2) == 4.5);
    CHECK(mm_history_buffer_mean(b, 0) == 3.0);
    CHECK(mm_history_buffer_mean(b, 99) == 3.0);
    CHECK(mm_history_buffer_current(b) == 5.0);
    CHECK(mm_history_buffer_min(b, 3) == 3.0);
    CHECK(mm_history_buffer_max(b, 3) == 5.0);
    /* mean = sum(values) / sum(counts), as mmengine's HistoryBuffer. */
    CHECK(mm_history_buffer_mean(mm_message_hub_get_scalar(hub, "train/acc"),
                                 1) == 5.0);
    double v;
    CHECK(mm_history_buffer_statistics(b, "median", 1, &v) == MM_EINVAL);
    CHECK_STR(mm_message_hub_scalar_key(hub, 1), "train/acc");
    CHECK_OK(mm_message_hub_update_info_take(hub, "best_score",
                                             mm_value_new_float(0.5)));
    mm_value *st = NULL;
    CHECK_OK(mm_message_hub_state(hub, &st));
    char *json = NULL;
    CHECK_OK(mm_json_dump(st, 0, &json));
    mm_value *back = NULL;
    CHECK_OK(mm_json_parse(json, strlen(json), "state", &back));
    mm_message_hub *hub2 = NULL;
    CHECK_OK(mm_message_hub_new(&hub2));
    CHECK_OK(mm_message_hub_load_state(hub2, back));
    CHECK(mm_history_buffer_mean(mm_message_hub_get_scalar(hub2, "train/loss"),
                                 2) == 4.5);
    CHECK(mm_value_get_float(mm_message_hub_get_info(hub2, "best_score")) ==
          0.5);
    mm_message_hub_pop_info(hub2, "best_score");
    CHECK(mm_message_hub_get_info(hub2, "best_score") == NULL);
    free(json);
    mm_value_release(st);
    mm_value_release(back);
    mm_message_hub_free(hub);
    mm_message_hub_free(hub2);
}

/* Tag values: mmengine's floats, compared within print precision. */
static void check_tag(const char *name, const mm_value *got,
                      const mm_value *want) {
    for (size_t i = 0; i < mm_value_len(want); i++) {
        const char *k = mm_value_dict_key_at(want, i);
        const mm_value *g = mm_value_dict_get(got, k);
        const mm_value *w = mm_value_dict_value_at(want, i);
        if (!g || fabs(mm_value_get_float(g) - mm_value_get_float(w)) > 1e-9) {
            fprintf(stderr, "%s: tag %s: got %g, mmengine %g\n", name, k,
                    g ? mm_value_get_float(g) : NAN, mm_value_get_float(w));
            mm_test_failures++;
        }
    }
    CHECK_INT(mm_value_len(got), mm_value_len(want));
}

MM_TEST(log_lines_match_mmengine_log_processor) {
    mm_value *cases = read_json("log_lines_mmengine.json");
    CHECK(mm_value_len(cases) >= 7);
    for (size_t c = 0; c < mm_value_len(cases); c++) {
        const mm_value *k = mm_value_list_get(cases, c);
        const char *name = mm_value_get_string(mm_value_dict_get(k, "name"));
        mm_message_hub *hub = NULL;
        CHECK_OK(mm_message_hub_new(&hub));
        const mm_value *sc = mm_value_dict_get(k, "scalars");
        for (size_t i = 0; i < mm_value_len(sc); i++) {
            const mm_value *e = mm_value_list_get(sc, i);
            const mm_value *vals = mm_value_list_get(e, 1);
            for (size_t j = 0; j < mm_value_len(vals); j++)
                CHECK_OK(mm_message_hub_update_scalar(
                    hub, mm_value_get_string(mm_value_list_get(e, 0)),
                    mm_value_get_float(mm_value_list_get(vals, j)), 1));
        }
        const mm_value *info = mm_value_dict_get(k, "info");
        for (size_t i = 0; i < mm_value_len(info); i++)
            CHECK_OK(
                mm_message_hub_update_info(hub, mm_value_dict_key_at(info, i),
                                           mm_value_dict_value_at(info, i)));
        mm_log_processor *lp = NULL;
        CHECK_OK(
            mm_log_processor_new(mm_value_dict_get(k, "log_processor"), &lp));
        const mm_value *ht = mm_value_dict_get(k, "has_train");
        bool has_train = !ht || mm_value_get_bool(ht);
        const char *mode = mm_value_get_string(mm_value_dict_get(k, "mode"));
#define GI(key) mm_value_get_int(mm_value_dict_get(k, key))
        mm_log_state st = {.hub = hub,
                           .epoch = GI("epoch"),
                           .iter = GI("iter"),
                           .max_epochs = GI("max_epochs"),
                           .max_iters = GI("max_iters"),
                           .has_train_loop = has_train,
                           .dataloader_len = strcmp(mode, "train") == 0
                                                 ? GI("train_len")
                                                 : GI("val_len"),
                           .memory_mib = -1};
        mm_value *tag = NULL;
        char *line = NULL;
        int rc = strcmp(mm_value_get_string(mm_value_dict_get(k, "kind")),
                        "iter") == 0
                     ? mm_log_processor_after_iter(lp, &st, GI("batch_idx"),
                                                   mode, &tag, &line)
                     : mm_log_processor_after_epoch(lp, &st, GI("batch_idx"),
                                                    mode, false, &tag, &line);
#undef GI
        CHECK_OK(rc);
        if (!rc) {
            CHECK_STR(line, mm_value_get_string(mm_value_dict_get(k, "line")));
            check_tag(name, tag, mm_value_dict_get(k, "tag"));
        }
        free(line);
        mm_value_release(tag);
        mm_log_processor_free(lp);
        mm_message_hub_free(hub);
    }
    mm_value_release(cases);
}

MM_TEST(log_line_prints_memory_when_known) {
    mm_message_hub *hub = NULL;
    CHECK_OK(mm_message_hub_new(&hub));
    CHECK_OK(mm_message_hub_update_scalar(hub, "train/lr", 0.01, 1));
    CHECK_OK(mm_message_hub_update_scalar(hub, "train/data_time", 0.0012, 1));
    CHECK_OK(mm_message_hub_update_scalar(hub, "train/loss", 0.6931, 1));
    CHECK_OK(mm_message_hub_update_scalar(hub, "train/time", 0.0205, 1));
    CHECK_OK(
        mm_message_hub_update_info_take(hub, "eta", mm_value_new_float(62)));
    mm_log_processor *lp = NULL;
    CHECK_OK(mm_log_processor_new(NULL, &lp));
    mm_log_state st = {.hub = hub,
                       .epoch = 0,
                       .iter = 49,
                       .max_epochs = 2,
                       .max_iters = 938,
                       .has_train_loop = true,
                       .dataloader_len = 469,
                       .memory_mib = 12};
    mm_value *tag = NULL;
    char *line = NULL;
    CHECK_OK(mm_log_processor_after_iter(lp, &st, 49, "train", &tag, &line));
    CHECK_STR(line,
              "Epoch(train) [1][ 50/469]  lr: 1.0000e-02  eta: 0:01:02  "
              "time: 0.0205  data_time: 0.0012  memory: 12  loss: 0.6931");
    CHECK_INT(mm_value_get_int(mm_value_dict_get(tag, "memory")), 12);
    CHECK_INT(mm_value_get_int(mm_value_dict_get(tag, "iter")), 50);
    free(line);
    mm_value_release(tag);
    mm_log_processor_free(lp);
    mm_message_hub_free(hub);
}

MM_TEST(log_processor_rejects_unknown_keys_with_location) {
    mm_value *v = NULL;
    const char *y = "log_processor: {window_size: 10, by_epok: true}\n";
    CHECK_OK(mm_yaml_parse(y, strlen(y), "lp.yaml", &v));
    mm_log_processor *lp = NULL;
    CHECK(mm_log_processor_new(mm_value_dict_get(v, "log_processor"), &lp) ==
          MM_EINVAL);
    CHECK(strstr(mm_error_message(), "lp.yaml:1:") == mm_error_message());
    CHECK(strstr(mm_error_message(), "log_processor.by_epok") != NULL);
    mm_value_release(v);
}

/* ---- the work dir, scalars and checkpoints ------------------------------- */

MM_TEST(train_writes_work_dir_layout_scalars_and_last_checkpoint) {
    /* The log file gets what passes the level, as the console does. */
    mm_runner *r =
        new_runner("layout", "default_hooks: {logger: {type: LoggerHook, "
                             "interval: 1}}\nlog_level: INFO\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    mm_log_set_level(MM_LOG_WARNING);
    const char *wd = mm_runner_work_dir(r), *ld = mm_runner_log_dir(r),
               *ts = mm_runner_timestamp(r);
    CHECK(strlen(ts) == 15 && ts[8] == '_');
    CHECK(exists("%s/%s.log", ld, ts));
    CHECK(exists("%s/config.yaml", ld, ""));
    CHECK(exists("%s/vis_data/config.yaml", ld, ""));
    CHECK(exists("%s/epoch_1.safetensors", wd, ""));
    CHECK(exists("%s/epoch_2.safetensors", wd, ""));
    char p[1024], *text = NULL;
    size_t len = 0;
    snprintf(p, sizeof p, "%s/last_checkpoint", wd);
    CHECK_OK(mm_file_read(p, &text, &len));
    char want[1024];
    snprintf(want, sizeof want, "%s/epoch_2.safetensors", wd);
    CHECK_STR(text, want);
    free(text);
    /* scalars.json: one JSON line per logged train iteration (2 epochs x 2)
     * and per validation, as LocalVisBackend writes them. */
    snprintf(p, sizeof p, "%s/vis_data/scalars.json", ld);
    CHECK_OK(mm_file_read(p, &text, &len));
    int lines = 0, train_lines = 0;
    for (char *s = text, *nl; s && *s; s = nl ? nl + 1 : NULL) {
        nl = strchr(s, '\n');
        if (nl)
            *nl = 0;
        mm_value *v = NULL;
        CHECK_OK(mm_json_parse(s, strlen(s), "scalars.json", &v));
        lines++;
        if (mm_value_dict_get(v, "loss")) {
            train_lines++;
            CHECK(mm_value_dict_get(v, "lr") && mm_value_dict_get(v, "epoch") &&
                  mm_value_dict_get(v, "iter") && mm_value_dict_get(v, "step"));
            CHECK_INT(mm_value_get_int(mm_value_dict_get(v, "step")),
                      mm_value_get_int(mm_value_dict_get(v, "iter")));
        } else {
            CHECK(mm_value_dict_get(v, "toy/accuracy") != NULL);
        }
        mm_value_release(v);
    }
    CHECK_INT(train_lines, 4);
    CHECK_INT(lines, 6);
    free(text);
    /* The log file has mmengine's train and val lines. */
    snprintf(p, sizeof p, "%s/%s.log", ld, ts);
    CHECK_OK(mm_file_read(p, &text, &len));
    CHECK(
        strstr(text,
               " - mm - INFO - Epoch(train) [1][1/2]  lr: 1.0000e-01  eta: ") !=
        NULL);
    CHECK(
        strstr(text, " - mm - INFO - Epoch(val) [2][2/2]    toy/accuracy: ") !=
        NULL);
    CHECK(strstr(text, "Saving checkpoint at 2 epochs") != NULL);
    free(text);
    mm_runner_free(r);
}

MM_TEST(checkpoint_hook_max_keep_ckpts_removes_the_oldest) {
    mm_runner *r =
        new_runner("keep", "train_cfg: {max_epochs: 4}\n"
                           "default_hooks: {checkpoint: {type: CheckpointHook, "
                           "interval: 1, max_keep_ckpts: 2}}\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    const char *wd = mm_runner_work_dir(r);
    CHECK(!exists("%s/epoch_1.safetensors", wd, ""));
    CHECK(!exists("%s/epoch_2.safetensors", wd, ""));
    CHECK(exists("%s/epoch_3.safetensors", wd, ""));
    CHECK(exists("%s/epoch_4.safetensors", wd, ""));
    mm_runner_free(r);
}

MM_TEST(checkpoint_hook_interval_and_save_last) {
    mm_runner *r = new_runner(
        "interval", "train_cfg: {max_epochs: 4}\n"
                    "default_hooks: {checkpoint: {type: CheckpointHook, "
                    "interval: 3, save_last: false}}\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    const char *wd = mm_runner_work_dir(r);
    CHECK(exists("%s/epoch_3.safetensors", wd, ""));
    CHECK(!exists("%s/epoch_4.safetensors", wd, ""));
    CHECK(!exists("%s/epoch_2.safetensors", wd, ""));
    mm_runner_free(r);
    r = new_runner("interval_last",
                   "train_cfg: {max_epochs: 4}\n"
                   "default_hooks: {checkpoint: {type: CheckpointHook, "
                   "interval: 3}}\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK(exists("%s/epoch_3.safetensors", mm_runner_work_dir(r), ""));
    CHECK(exists("%s/epoch_4.safetensors", mm_runner_work_dir(r), ""));
    mm_runner_free(r);
}

static int count_best(const char *wd) {
    int n = 0;
    char p[1024];
    for (int e = 1; e <= 8; e++) {
        snprintf(p, sizeof p, "%s/best_toy_accuracy_epoch_%d.safetensors", wd,
                 e);
        n += access(p, F_OK) == 0;
    }
    return n;
}

MM_TEST(checkpoint_hook_save_best_auto_keeps_one_best_file) {
    mm_runner *r =
        new_runner("best", "train_cfg: {max_epochs: 3}\n"
                           "default_hooks: {checkpoint: {type: CheckpointHook, "
                           "interval: 1, save_best: auto}}\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK_INT(count_best(mm_runner_work_dir(r)), 1);
    const mm_value *bs =
        mm_message_hub_get_info(mm_runner_message_hub(r), "best_score");
    const mm_value *bc =
        mm_message_hub_get_info(mm_runner_message_hub(r), "best_ckpt");
    CHECK(bs && mm_value_is_number(bs));
    CHECK(bc && access(mm_value_get_string(bc), F_OK) == 0);
    mm_runner_free(r);
}

MM_TEST(checkpoint_hook_save_best_carries_on_across_resume) {
    /* The best score and path come back from the message hub: the resumed
     * run removes the earlier best file when it beats it, and keeps one. */
    const char *cfg = "model: {noise: 0.1}\n"
                      "default_hooks: {checkpoint: {type: CheckpointHook, "
                      "interval: 1, save_best: auto, max_keep_ckpts: 1}}\n";
    char extra[1024];
    snprintf(extra, sizeof extra, "%strain_cfg: {max_epochs: 4}\n", cfg);
    mm_runner *r = new_runner("best_full", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    const mm_value *bc =
        mm_message_hub_get_info(mm_runner_message_hub(r), "best_ckpt");
    char full_best[512] = "";
    if (bc && mm_value_is_string(bc))
        snprintf(full_best, sizeof full_best, "%s",
                 strrchr(mm_value_get_string(bc), '/') + 1);
    mm_runner_free(r);
    snprintf(extra, sizeof extra, "%strain_cfg: {max_epochs: 2}\n", cfg);
    if (!(r = new_runner("best_half", extra)))
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra,
             "%strain_cfg: {max_epochs: 4}\nresume: true\n", cfg);
    if (!(r = new_runner("best_half", extra)))
        return;
    CHECK_OK(mm_runner_train(r));
    const char *wd = mm_runner_work_dir(r);
    CHECK_INT(count_best(wd), 1);
    CHECK(full_best[0] && exists("%s/%s", wd, full_best));
    CHECK(!exists("%s/epoch_3.safetensors", wd, ""));
    CHECK(exists("%s/epoch_4.safetensors", wd, ""));
    mm_runner_free(r);
}

MM_TEST(checkpoint_hook_rule_cannot_be_inferred_for_unknown_key) {
    setup();
    mm_value *cfg = toy_cfg(
        work_dir("rule"), "default_hooks: {checkpoint: {type: CheckpointHook, "
                          "save_best: weird}}\n");
    mm_runner *r = NULL;
    CHECK(mm_runner_new(cfg, "toy.yaml", &r) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "cannot infer the rule for key 'weird'") !=
          NULL);
    /* at the save_best value, not at the hook */
    CHECK(strstr(mm_error_message(), "extra.yaml:1:63: ") ==
          mm_error_message());
    mm_value_release(cfg);
}

MM_TEST(checkpoint_hook_less_keys_alone_keep_the_default_greater_keys) {
    /* mmengine falls back to its default list for each of greater_keys and
     * less_keys on its own: given less_keys rule 'weird' 'less'. */
    mm_runner *r = new_runner(
        "less_keys", "default_hooks: {checkpoint: {type: CheckpointHook, "
                     "save_best: weird, less_keys: [weird]}}\n");
    mm_runner_free(r);
}

MM_TEST(checkpoint_hook_publishes_the_last_checkpoint_with_its_hash) {
    mm_runner *r =
        new_runner("publish", "default_hooks: {checkpoint: {type: "
                              "CheckpointHook, interval: 1, published_keys: "
                              "[meta, state_dict]}}\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    char cmd[1200], line[256] = "";
    snprintf(cmd, sizeof cmd, "cd %s && sha256sum epoch_2-*.safetensors",
             mm_runner_work_dir(r));
    FILE *p = popen(cmd, "r");
    CHECK(p && fgets(line, sizeof line, p));
    if (p)
        pclose(p);
    /* "<sha256>  epoch_2-<its first 8 digits>.safetensors" */
    char want[64];
    snprintf(want, sizeof want, "  epoch_2-%.8s.safetensors\n", line);
    CHECK(strlen(line) > 64 && strcmp(line + 64, want) == 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", mm_runner_work_dir(r), line + 66);
    path[strlen(path) - 1] = 0;
    mm_checkpoint *ck = NULL;
    CHECK_OK(mm_checkpoint_load(path, &ck));
    if (ck) {
        CHECK(mm_checkpoint_get(ck, "state_dict.fc.weight") != NULL);
        CHECK(mm_checkpoint_get_meta(ck, "meta") != NULL);
        CHECK(mm_checkpoint_get_meta(ck, "message_hub") == NULL);
        CHECK(mm_checkpoint_get_meta(ck, "rng_state") == NULL);
    }
    mm_checkpoint_free(ck);
    mm_runner_free(r);
}

MM_TEST(out_dirs_get_checkpoints_and_text_logs_under_the_work_dir_name) {
    setup();
    char extra[1024];
    snprintf(extra, sizeof extra,
             "default_hooks: {checkpoint: {type: CheckpointHook, interval: 1, "
             "out_dir: %s/remote/ckpt},\n"
             "  logger: {type: LoggerHook, out_dir: %s/remote/logs}}\n",
             tmp_root, tmp_root);
    mm_runner *r = new_runner("outdirs", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    char p[1024], want[1024], *text = NULL;
    size_t len = 0;
    snprintf(p, sizeof p, "%s/remote/ckpt/outdirs/epoch_2.safetensors",
             tmp_root);
    CHECK(access(p, F_OK) == 0);
    snprintf(want, sizeof want, "%s", p);
    snprintf(p, sizeof p, "%s/last_checkpoint", mm_runner_work_dir(r));
    CHECK_OK(mm_file_read(p, &text, &len));
    CHECK_STR(text, want);
    free(text);
    snprintf(p, sizeof p, "%s/remote/logs/outdirs/%s/%s.log", tmp_root,
             mm_runner_timestamp(r), mm_runner_timestamp(r));
    CHECK(access(p, F_OK) == 0);
    mm_runner_free(r);
}

MM_TEST(early_stopping_stops_when_the_metric_stalls) {
    mm_runner *r =
        new_runner("early", "train_cfg: {max_epochs: 10}\n"
                            "custom_hooks: [{type: EarlyStoppingHook, "
                            "monitor: toy/accuracy, min_delta: 1000, "
                            "patience: 2}]\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    /* epoch 1 sets the best; 2 and 3 do not beat it by 1000: stop. */
    CHECK_INT(mm_runner_epoch(r), 3);
    mm_runner_free(r);
}

MM_TEST(early_stopping_stopping_threshold_stops_at_once) {
    mm_runner *r = new_runner(
        "threshold", "train_cfg: {max_epochs: 10}\n"
                     "custom_hooks: [{type: EarlyStoppingHook, "
                     "monitor: toy/accuracy, stopping_threshold: -1}]\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK_INT(mm_runner_epoch(r), 1);
    mm_runner_free(r);
}

static bool same_tensor(mm_tensor *a, mm_tensor *b) {
    if (!a || !b || a->dtype != b->dtype || a->numel != b->numel)
        return false;
    return memcmp(mm_tensor_data(a), mm_tensor_data(b),
                  (size_t)a->numel * mm_dtype_size(a->dtype)) == 0;
}

MM_TEST(ema_hook_saves_averaged_weights_and_keeps_the_model_s) {
    mm_runner *r =
        new_runner("ema", "custom_hooks: [{type: EMAHook, momentum: 0.5}]\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    char p[1024];
    snprintf(p, sizeof p, "%s/epoch_2.safetensors", mm_runner_work_dir(r));
    mm_checkpoint *ck = NULL;
    CHECK_OK(mm_checkpoint_load(p, &ck));
    if (ck) {
        mm_tensor *live =
            mm_module_find_tensor(mm_runner_model(r), "fc.weight");
        mm_tensor *avg = mm_checkpoint_get(ck, "state_dict.fc.weight");
        mm_tensor *src =
            mm_checkpoint_get(ck, "ema_state_dict.module.fc.weight");
        mm_tensor *steps = mm_checkpoint_get(ck, "ema_state_dict.steps");
        CHECK(same_tensor(src, live));
        CHECK(avg && !same_tensor(avg, live));
        int64_t s = 0;
        CHECK(steps && mm_tensor_item_i64(steps, &s) == MM_OK);
        CHECK_INT(s, 4); /* 2 epochs x 2 iterations */
    }
    mm_checkpoint_free(ck);
    mm_runner_free(r);
}

/* torch's lerp_ on floats, as EMAHook's ExponentialMovingAverage uses. */
static float lerpf(float a, float b, float w) {
    return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

MM_TEST(ema_average_follows_lerp_of_each_iteration_s_weights) {
    mm_runner *r = new_runner(
        "ema_math", "train_cfg: {max_epochs: 3}\n"
                    "custom_hooks: [{type: EMAHook, momentum: 0.3},\n"
                    "  {type: RecordHook, watch: fc.weight}]\n"
                    "default_hooks: {checkpoint: {type: CheckpointHook, "
                    "interval: 3}}\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    rtest_record_hook *h = find_record(r, NULL);
    /* BaseAveragedModel.update_parameters: the first update copies, each
     * later one is avg.lerp_(param, momentum). */
    float avg = 0;
    int steps = 0;
    for (size_t i = 0; h && i < h->n; i++) {
        if (strncmp(h->events[i], "w:", 2))
            continue;
        float w = (float)strtod(h->events[i] + 2, NULL);
        avg = steps++ == 0 ? w : lerpf(avg, w, 0.3f);
    }
    CHECK_INT(steps, 6);
    char p[1024];
    snprintf(p, sizeof p, "%s/epoch_3.safetensors", mm_runner_work_dir(r));
    mm_checkpoint *ck = NULL;
    CHECK_OK(mm_checkpoint_load(p, &ck));
    mm_tensor *t = ck ? mm_checkpoint_get(ck, "state_dict.fc.weight") : NULL;
    CHECK(t && (float)mm_tensor_get_flat(t, 0) == avg);
    mm_checkpoint_free(ck);
    mm_runner_free(r);
}

/* Every state_dict.* and optimizer.* tensor of two checkpoints, byte for
 * byte. */
static void check_same_checkpoints(const char *a, const char *b) {
    mm_checkpoint *ca = NULL, *cb = NULL;
    CHECK_OK(mm_checkpoint_load(a, &ca));
    CHECK_OK(mm_checkpoint_load(b, &cb));
    if (!ca || !cb) {
        mm_checkpoint_free(ca);
        mm_checkpoint_free(cb);
        return;
    }
    size_t compared = 0;
    for (size_t i = 0; i < mm_checkpoint_count(ca); i++) {
        const char *name;
        mm_tensor *t;
        CHECK_OK(mm_checkpoint_at(ca, i, &name, &t));
        if (strncmp(name, "state_dict.", 11) && strncmp(name, "optimizer.", 10))
            continue;
        compared++;
        if (!same_tensor(t, mm_checkpoint_get(cb, name))) {
            fprintf(stderr, "%s differs\n", name);
            mm_test_failures++;
        }
    }
    CHECK(compared >= 4); /* fc.weight, fc.bias and their momentum buffers */
    mm_checkpoint_free(ca);
    mm_checkpoint_free(cb);
}

static const char *resume_setup =
    "model: {noise: 0.1}\n"
    "randomness: {seed: 7, deterministic: true}\n"
    "train_dataloader: {sampler: {type: DefaultSampler, shuffle: true}}\n"
    "optim_wrapper: {optimizer: {type: SGD, lr: 0.1, momentum: 0.9}}\n"
    "param_scheduler: {type: MultiStepLR, milestones: [1, 3], gamma: 0.5}\n";

MM_TEST(resume_after_two_epochs_is_bit_exact) {
    char extra[1024];
    snprintf(extra, sizeof extra, "%strain_cfg: {max_epochs: 4}\n",
             resume_setup);
    mm_runner *r = new_runner("full", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra, "%strain_cfg: {max_epochs: 2}\n",
             resume_setup);
    r = new_runner("half", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra,
             "%strain_cfg: {max_epochs: 4}\nresume: true\n", resume_setup);
    r = new_runner("half", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK_INT(mm_runner_epoch(r), 4);
    mm_runner_free(r);
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/epoch_4.safetensors", work_dir("full"));
    snprintf(b, sizeof b, "%s/epoch_4.safetensors", work_dir("half"));
    check_same_checkpoints(a, b);
}

MM_TEST(resume_with_ema_is_bit_exact) {
    /* The averages (state_dict.*) and the model (ema_state_dict.module.*)
     * and the EMA step count carry on across a resume. */
    char extra[1024];
    const char *ema = "custom_hooks: [{type: EMAHook, momentum: 0.3}]\n";
    snprintf(extra, sizeof extra, "%s%strain_cfg: {max_epochs: 4}\n",
             resume_setup, ema);
    mm_runner *r = new_runner("ema_full", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra, "%s%strain_cfg: {max_epochs: 2}\n",
             resume_setup, ema);
    if (!(r = new_runner("ema_half", extra)))
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra,
             "%s%strain_cfg: {max_epochs: 4}\nresume: true\n", resume_setup,
             ema);
    if (!(r = new_runner("ema_half", extra)))
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/epoch_4.safetensors", work_dir("ema_full"));
    snprintf(b, sizeof b, "%s/epoch_4.safetensors", work_dir("ema_half"));
    check_same_checkpoints(a, b);
    mm_checkpoint *ca = NULL, *cb = NULL;
    CHECK_OK(mm_checkpoint_load(a, &ca));
    CHECK_OK(mm_checkpoint_load(b, &cb));
    size_t compared = 0;
    for (size_t i = 0; ca && cb && i < mm_checkpoint_count(ca); i++) {
        const char *name;
        mm_tensor *t;
        CHECK_OK(mm_checkpoint_at(ca, i, &name, &t));
        if (strncmp(name, "ema_state_dict.", 15))
            continue;
        compared++;
        if (!same_tensor(t, mm_checkpoint_get(cb, name))) {
            fprintf(stderr, "%s differs\n", name);
            mm_test_failures++;
        }
    }
    CHECK(compared >= 3); /* module.fc.weight, module.fc.bias, steps */
    mm_checkpoint_free(ca);
    mm_checkpoint_free(cb);
}

MM_TEST(interrupt_mid_epoch_saves_and_resume_is_bit_exact) {
    char extra[1024];
    snprintf(extra, sizeof extra, "%strain_cfg: {max_epochs: 3}\n",
             resume_setup);
    mm_runner *r = new_runner("int_full", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra,
             "%strain_cfg: {max_epochs: 3}\n"
             "custom_hooks: [{type: RecordHook, interrupt_at: 3}]\n",
             resume_setup);
    r = new_runner("int_half", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK(mm_runner_interrupted(r));
    CHECK_INT(mm_runner_iter(r), 3);
    const char *wd = mm_runner_work_dir(r);
    CHECK(exists("%s/iter_3.safetensors", wd, ""));
    mm_checkpoint *ck = NULL;
    char p[1024];
    snprintf(p, sizeof p, "%s/iter_3.safetensors", wd);
    CHECK_OK(mm_checkpoint_load(p, &ck));
    const mm_value *meta = ck ? mm_checkpoint_get_meta(ck, "meta") : NULL;
    CHECK(meta && mm_value_get_bool(mm_value_dict_get(meta, "interrupted")));
    CHECK(meta && mm_value_get_int(mm_value_dict_get(meta, "epoch")) == 1);
    mm_checkpoint_free(ck);
    mm_runner_free(r);
    snprintf(extra, sizeof extra,
             "%strain_cfg: {max_epochs: 3}\nresume: true\n", resume_setup);
    r = new_runner("int_half", extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK(!mm_runner_interrupted(r));
    mm_runner_free(r);
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/epoch_3.safetensors", work_dir("int_full"));
    snprintf(b, sizeof b, "%s/epoch_3.safetensors", work_dir("int_half"));
    check_same_checkpoints(a, b);
}

MM_TEST(load_from_reports_missing_and_unexpected_keys) {
    setup();
    char path[1024];
    snprintf(path, sizeof path, "%s/partial.safetensors", tmp_root);
    mm_checkpoint *ck = NULL;
    mm_tensor *w = NULL, *x = NULL;
    CHECK_OK(mm_checkpoint_new(&ck));
    CHECK_OK(mm_zeros(MM_SHAPE(2, 4), MM_F32, &w));
    CHECK_OK(mm_zeros(MM_SHAPE(3), MM_F32, &x));
    CHECK_OK(mm_checkpoint_add(ck, "state_dict.fc.weight", w));
    CHECK_OK(mm_checkpoint_add(ck, "state_dict.extra", x));
    CHECK_OK(mm_checkpoint_save(ck, path));
    mm_checkpoint_free(ck);
    mm_tensor_release(w);
    mm_tensor_release(x);
    char extra[1200];
    snprintf(extra, sizeof extra, "load_from: %s\n", path);
    mm_runner *r = new_runner("loadfrom", extra);
    if (!r)
        return;
    CHECK_OK(mm_log_add_sink(capture, NULL));
    mm_value *m = NULL;
    CHECK_OK(mm_runner_test(r, &m));
    mm_log_remove_sink(capture, NULL);
    CHECK(captured &&
          strstr(captured, "unexpected key in source state_dict: extra"));
    CHECK(captured &&
          strstr(captured, "missing keys in source state_dict: fc.bias"));
    /* Zero weights: every score is equal, the loaded weights are in use. */
    mm_tensor *live = mm_module_find_tensor(mm_runner_model(r), "fc.weight");
    CHECK(live && mm_tensor_get_flat(live, 0) == 0.0);
    free(captured);
    captured = NULL;
    mm_value_release(m);
    mm_runner_free(r);
}

MM_TEST(corrupt_checkpoint_is_refused_with_one_line) {
    setup();
    char path[1024];
    snprintf(path, sizeof path, "%s/corrupt.safetensors", tmp_root);
    CHECK_OK(mm_file_write_atomic(
        path, "\x40\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13));
    char extra[1200];
    snprintf(extra, sizeof extra, "load_from: %s\n", path);
    mm_runner *r = new_runner("corrupt", extra);
    if (!r)
        return;
    mm_value *m = NULL;
    CHECK(mm_runner_test(r, &m) != MM_OK);
    CHECK(strstr(mm_error_message(), "corrupt.safetensors") != NULL);
    CHECK(strchr(mm_error_message(), '\n') == NULL);
    mm_value_release(m);
    mm_runner_free(r);
}

MM_TEST(auto_scale_lr_scales_by_batch_over_base) {
    mm_runner *r = new_runner(
        "scale", "auto_scale_lr: {enable: true, base_batch_size: 16}\n"
                 "train_cfg: {max_epochs: 1}\n");
    if (!r)
        return;
    mm_log_set_level(MM_LOG_INFO);
    CHECK_OK(mm_log_add_sink(capture, NULL));
    CHECK_OK(mm_runner_train(r));
    mm_log_remove_sink(capture, NULL);
    mm_log_set_level(MM_LOG_WARNING);
    /* The ratio as Python prints a float, mmengine's line. */
    CHECK(captured && strstr(captured, "LR is set based on batch size of 16 "
                                       "and the current batch size is 4. "
                                       "Scaling the original LR by 0.25.\n"));
    free(captured);
    captured = NULL;
    mm_history_buffer *lr =
        mm_message_hub_get_scalar(mm_runner_message_hub(r), "train/lr");
    CHECK(lr && fabs(mm_history_buffer_current(lr) - 0.025) < 1e-12);
    mm_runner_free(r);
}

MM_TEST(iter_based_loop_validates_and_saves_by_iteration) {
    mm_runner *r = new_runner(
        "iters", "train_cfg: {_delete_: true, by_epoch: false, max_iters: 5, "
                 "val_interval: 2}\n"
                 "default_hooks: {checkpoint: {type: CheckpointHook, "
                 "by_epoch: false, interval: 2}}\n"
                 "log_processor: {by_epoch: false}\n"
                 "custom_hooks: [{type: RecordHook}]\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK_INT(mm_runner_iter(r), 5);
    const char *wd = mm_runner_work_dir(r);
    CHECK(exists("%s/iter_2.safetensors", wd, ""));
    CHECK(exists("%s/iter_4.safetensors", wd, ""));
    CHECK(exists("%s/iter_5.safetensors", wd, ""));
    rtest_record_hook *h = find_record(r, NULL);
    int vals = 0, epochs = 0;
    for (size_t i = 0; h && i < h->n; i++) {
        vals += strcmp(h->events[i], "before_val") == 0;
        epochs += strcmp(h->events[i], "before_train_epoch") == 0;
    }
    CHECK_INT(vals, 3); /* after iterations 2, 4 and the last */
    CHECK_INT(epochs, 1);
    mm_runner_free(r);
}

/* IterBasedTrainLoop resumed at iteration 3 of 5 (an epoch is 2 batches)
 * ends as the uninterrupted run, with the sampler given: the resumed run
 * advances the dataloader as mmengine does. */
static void check_iter_resume(const char *sampler, const char *full,
                              const char *half) {
    char base[1024], extra[1200];
    snprintf(base, sizeof base,
             "model: {noise: 0.1}\n"
             "randomness: {seed: 7}\n"
             "train_dataloader: {sampler: {_delete_: true, %s}}\n"
             "optim_wrapper: {optimizer: {type: SGD, lr: 0.1, momentum: 0.9}}\n"
             "default_hooks: {checkpoint: {type: CheckpointHook, "
             "by_epoch: false, interval: 1}}\n"
             "log_processor: {by_epoch: false}\n",
             sampler);
    snprintf(extra, sizeof extra,
             "%strain_cfg: {_delete_: true, by_epoch: false, max_iters: 5}\n",
             base);
    mm_runner *r = new_runner(full, extra);
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra,
             "%strain_cfg: {_delete_: true, by_epoch: false, max_iters: 3}\n",
             base);
    if (!(r = new_runner(half, extra)))
        return;
    CHECK_OK(mm_runner_train(r));
    mm_runner_free(r);
    snprintf(extra, sizeof extra,
             "%strain_cfg: {_delete_: true, by_epoch: false, max_iters: 5}\n"
             "resume: true\n",
             base);
    if (!(r = new_runner(half, extra)))
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK_INT(mm_runner_iter(r), 5);
    mm_runner_free(r);
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/iter_5.safetensors", work_dir(full));
    snprintf(b, sizeof b, "%s/iter_5.safetensors", work_dir(half));
    check_same_checkpoints(a, b);
}

MM_TEST(iter_based_resume_is_bit_exact_with_an_infinite_sampler) {
    check_iter_resume("type: InfiniteSampler, shuffle: true", "inf_full",
                      "inf_half");
}

MM_TEST(iter_based_resume_is_bit_exact_with_a_default_sampler) {
    check_iter_resume("type: DefaultSampler, shuffle: true", "def_full",
                      "def_half");
}

static int count_events(const rtest_record_hook *h, const char *what) {
    int n = 0;
    for (size_t i = 0; h && i < h->n; i++)
        n += strcmp(h->events[i], what) == 0;
    return n;
}

MM_TEST(dynamic_intervals_change_the_val_interval_from_a_milestone) {
    /* mmengine's calc_dynamic_intervals + bisect: interval 1 before epoch
     * 2, 2 from it: validation after epochs 2 and 4 (1 and 3 are odd). */
    mm_runner *r = new_runner(
        "dynamic", "train_cfg: {max_epochs: 4, dynamic_intervals: [[2, 2]]}\n"
                   "custom_hooks: [{type: RecordHook}]\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK_INT(count_events(find_record(r, NULL), "before_val"), 2);
    mm_runner_free(r);
}

MM_TEST(reduce_on_plateau_steps_on_validation_metrics) {
    mm_runner *r = new_runner(
        "plateau",
        "train_cfg: {max_epochs: 4}\n"
        "param_scheduler: {type: ReduceOnPlateauLR, monitor: toy/accuracy,\n"
        "  rule: greater, patience: 0, factor: 0.5}\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    /* The toy task is solved at once: accuracy stops improving and every
     * later validation halves the lr. */
    mm_history_buffer *lr =
        mm_message_hub_get_scalar(mm_runner_message_hub(r), "train/lr");
    CHECK(lr && mm_history_buffer_current(lr) < 0.1);
    mm_runner_free(r);
}

static mm_evaluator *build_evaluator(const char *yaml) {
    mm_value *v = NULL;
    mm_evaluator *ev = NULL;
    CHECK_OK(mm_yaml_parse(yaml, strlen(yaml), "ev.yaml", &v));
    if (mm_evaluator_build(mm_value_dict_get(v, "val_evaluator"),
                           "val_evaluator", "rtest", &ev))
        ev = NULL;
    mm_value_release(v);
    return ev;
}

MM_TEST(evaluator_merges_metrics_and_refuses_duplicate_keys) {
    setup();
    mm_evaluator *ev = build_evaluator(
        "val_evaluator: [{type: ToyAccuracy}, {type: ToyAccuracy, prefix: "
        "b}]\n");
    CHECK(ev != NULL);
    if (!ev)
        return;
    const char *s = "[{gt_label: 1, pred_label: 1}, {gt_label: 0, "
                    "pred_label: 1}]";
    mm_value *samples = NULL, *m = NULL;
    CHECK_OK(mm_yaml_parse(s, strlen(s), "samples", &samples));
    CHECK_OK(mm_evaluator_process(ev, NULL, samples));
    CHECK_OK(mm_evaluator_evaluate(ev, 2, &m));
    CHECK_INT(mm_value_len(m), 2);
    CHECK(mm_value_get_float(mm_value_dict_get(m, "toy/accuracy")) == 50.0);
    CHECK(mm_value_get_float(mm_value_dict_get(m, "b/accuracy")) == 50.0);
    mm_value_release(m);
    mm_evaluator_free(ev);
    ev = build_evaluator("val_evaluator: {type: Evaluator, metrics: "
                         "[{type: ToyAccuracy}, {type: ToyAccuracy}]}\n");
    CHECK(ev != NULL);
    if (ev) {
        CHECK_OK(mm_evaluator_process(ev, NULL, samples));
        CHECK(mm_evaluator_evaluate(ev, 2, &m) == MM_EINVAL);
        CHECK(strstr(mm_error_message(), "same metric name 'toy/accuracy'"));
    }
    mm_evaluator_free(ev);
    mm_value_release(samples);
}

MM_TEST(missing_train_cfg_is_one_line) {
    setup();
    mm_value *cfg = toy_cfg(work_dir("nocfg"), NULL);
    CHECK_OK(mm_value_dict_del(cfg, "train_cfg"));
    mm_runner *r = NULL;
    CHECK_OK(mm_runner_new(cfg, "toy.yaml", &r));
    if (r) {
        CHECK(mm_runner_train(r) == MM_EINVAL);
        CHECK(strstr(mm_error_message(), "train_cfg: not in the config") !=
              NULL);
    }
    mm_runner_free(r);
    mm_value_release(cfg);
}

MM_TEST(resume_that_is_not_a_bool_is_one_line) {
    setup();
    mm_value *cfg = toy_cfg(work_dir("resume5"), "resume: 5\n");
    mm_runner *r = NULL;
    CHECK(mm_runner_new(cfg, "toy.yaml", &r) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "extra.yaml:1:9: resume: must be a bool") !=
          NULL);
    mm_runner_free(r);
    mm_value_release(cfg);
}

MM_TEST(partial_val_config_is_one_line_at_a_set_key) {
    /* mmengine refuses val_dataloader/val_cfg/val_evaluator partly set. */
    setup();
    mm_value *cfg = toy_cfg(work_dir("val_partial"), "val_cfg: null\n");
    mm_runner *r = NULL;
    CHECK_OK(mm_runner_new(cfg, "toy.yaml", &r));
    if (r) {
        CHECK(mm_runner_train(r) == MM_EINVAL);
        CHECK(strstr(mm_error_message(), "toy.yaml:") != NULL);
        CHECK(strstr(mm_error_message(), "(missing: val_cfg)") != NULL);
        CHECK(strchr(mm_error_message(), '\n') == NULL);
    }
    mm_runner_free(r);
    mm_value_release(cfg);
}

MM_TEST(train_without_any_val_key_skips_validation) {
    mm_runner *r = new_runner(
        "no_val", "val_cfg: null\nval_dataloader: null\nval_evaluator: null\n"
                  "custom_hooks: [{type: RecordHook}]\n");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    CHECK_INT(mm_runner_epoch(r), 2);
    rtest_record_hook *h = find_record(r, NULL);
    CHECK(h != NULL);
    for (size_t i = 0; h && i < h->n; i++)
        CHECK(strstr(h->events[i], "val") == NULL);
    mm_runner_free(r);
}

MM_TEST(missing_load_from_file_names_the_key_and_its_place) {
    mm_runner *r =
        new_runner("load_missing", "load_from: /nonexistent/x.safetensors\n");
    if (!r)
        return;
    CHECK(mm_runner_train(r) != MM_OK);
    CHECK(strstr(mm_error_message(), "extra.yaml:1:12: load_from: "
                                     "/nonexistent/x.safetensors") != NULL);
    mm_runner_free(r);
}

MM_TEST(auto_scale_lr_logs_a_whole_ratio_as_python_does) {
    mm_runner *r = new_runner(
        "scale1", "auto_scale_lr: {enable: true, base_batch_size: 4}\n"
                  "train_cfg: {max_epochs: 1}\n");
    if (!r)
        return;
    mm_log_set_level(MM_LOG_INFO);
    CHECK_OK(mm_log_add_sink(capture, NULL));
    CHECK_OK(mm_runner_train(r));
    mm_log_remove_sink(capture, NULL);
    mm_log_set_level(MM_LOG_WARNING);
    CHECK(captured && strstr(captured, "Scaling the original LR by 1.0.\n"));
    free(captured);
    captured = NULL;
    mm_runner_free(r);
}

MM_TEST(dynamic_interval_of_zero_is_a_config_error) {
    mm_runner *r = new_runner(
        "dynamic0", "train_cfg: {max_epochs: 2, dynamic_intervals: [[1, 0]]}\n");
    if (!r)
        return;
    CHECK(mm_runner_train(r) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "extra.yaml:1:52: train_cfg") != NULL);
    CHECK(strstr(mm_error_message(), "the interval must be positive, got 0") !=
          NULL);
    mm_runner_free(r);
}

MM_TEST(auto_scale_lr_enable_that_is_not_a_bool_is_one_line) {
    mm_runner *r = new_runner(
        "scale_en", "auto_scale_lr: {enable: 5, base_batch_size: 4}\n");
    if (!r)
        return;
    CHECK(mm_runner_train(r) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "extra.yaml:1:25: auto_scale_lr.enable: "
                                     "must be a bool, got 5") != NULL);
    mm_runner_free(r);
}

MM_TEST(log_processor_bad_mean_pattern_names_its_place) {
    mm_value *v = NULL;
    const char *y = "log_processor: {mean_pattern: '('}\n";
    CHECK_OK(mm_yaml_parse(y, strlen(y), "lp.yaml", &v));
    mm_log_processor *lp = NULL;
    CHECK(mm_log_processor_new(mm_value_dict_get(v, "log_processor"), &lp) ==
          MM_EINVAL);
    CHECK(strstr(mm_error_message(), "lp.yaml:1:31: log_processor.mean_pattern") ==
          mm_error_message());
    mm_value_release(v);
}

MM_TEST(empty_work_dir_and_out_dir_are_refused) {
    setup();
    mm_value *cfg = toy_cfg(work_dir("unused"), "work_dir: ''\n");
    mm_runner *r = NULL;
    CHECK(mm_runner_new(cfg, "toy.yaml", &r) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "extra.yaml:1:11: work_dir: must not be "
                                     "empty") == mm_error_message());
    mm_value_release(cfg);
    /* one that cannot be made names the key */
    cfg = toy_cfg(work_dir("unused"), "work_dir: /proc/no/such\n");
    CHECK(mm_runner_new(cfg, "toy.yaml", &r) != MM_OK);
    CHECK(strstr(mm_error_message(), "extra.yaml:1:11: work_dir: ") ==
          mm_error_message());
    mm_value_release(cfg);
    static const char *const hooks[] = {
        "default_hooks: {checkpoint: {type: CheckpointHook, out_dir: ''}}\n",
        "default_hooks: {logger: {type: LoggerHook, out_dir: ''}}\n"};
    for (size_t i = 0; i < 2; i++) {
        cfg = toy_cfg(work_dir("empty_out"), hooks[i]);
        r = NULL;
        CHECK(mm_runner_new(cfg, "toy.yaml", &r) == MM_EINVAL);
        CHECK(strstr(mm_error_message(), "out_dir: must not be empty") !=
              NULL);
        mm_runner_free(r);
        mm_value_release(cfg);
    }
}

MM_TEST(experiment_name_gets_the_timestamp_as_mmengine) {
    mm_runner *r = new_runner("exp_name", "experiment_name: lenet_run\n");
    if (!r)
        return;
    char want[128];
    snprintf(want, sizeof want, "lenet_run_%s", mm_runner_timestamp(r));
    CHECK(strcmp(mm_runner_experiment_name(r), want) == 0);
    mm_runner_free(r);
    if (!(r = new_runner("exp_name2", NULL)))
        return;
    snprintf(want, sizeof want, "toy_%s", mm_runner_timestamp(r));
    CHECK(strcmp(mm_runner_experiment_name(r), want) == 0);
    mm_runner_free(r);
}

MM_TEST(resume_from_a_negative_epoch_is_refused) {
    setup();
    char path[1024];
    snprintf(path, sizeof path, "%s/negative.safetensors", tmp_root);
    const char *head = "{\"__metadata__\": {\"meta\": "
                       "\"{\\\"epoch\\\": -1, \\\"iter\\\": -4}\"}}";
    char file[256];
    size_t n = strlen(head);
    for (int i = 0; i < 8; i++)
        file[i] = (char)((n >> (8 * i)) & 0xff);
    memcpy(file + 8, head, n);
    CHECK_OK(mm_file_write_atomic(path, file, 8 + n));
    char extra[1200];
    snprintf(extra, sizeof extra, "load_from: %s\nresume: true\n", path);
    mm_runner *r = new_runner("negative", extra);
    if (!r)
        return;
    CHECK(mm_runner_train(r) == MM_EINVAL);
    CHECK(strstr(mm_error_message(), "checkpoint meta 'epoch' is -1") != NULL);
    mm_runner_free(r);
}

MM_TEST_MAIN(
    MM_CASE(hook_order_matches_mmengine_for_train_with_val_and_test),
    MM_CASE(hook_order_matches_mmengine_when_resuming),
    MM_CASE(hooks_info_at_start_matches_mmengine),
    MM_CASE(hooks_run_in_priority_order_stable_within_a_priority),
    MM_CASE(default_hook_set_to_null_is_not_registered),
    MM_CASE(priority_parses_names_and_numbers),
    MM_CASE(unknown_hook_parameter_is_a_config_error_before_building),
    MM_CASE(message_hub_windows_and_state_roundtrip),
    MM_CASE(log_lines_match_mmengine_log_processor),
    MM_CASE(log_line_prints_memory_when_known),
    MM_CASE(log_processor_rejects_unknown_keys_with_location),
    MM_CASE(train_writes_work_dir_layout_scalars_and_last_checkpoint),
    MM_CASE(checkpoint_hook_max_keep_ckpts_removes_the_oldest),
    MM_CASE(checkpoint_hook_interval_and_save_last),
    MM_CASE(checkpoint_hook_save_best_auto_keeps_one_best_file),
    MM_CASE(checkpoint_hook_save_best_carries_on_across_resume),
    MM_CASE(checkpoint_hook_rule_cannot_be_inferred_for_unknown_key),
    MM_CASE(checkpoint_hook_less_keys_alone_keep_the_default_greater_keys),
    MM_CASE(checkpoint_hook_publishes_the_last_checkpoint_with_its_hash),
    MM_CASE(out_dirs_get_checkpoints_and_text_logs_under_the_work_dir_name),
    MM_CASE(early_stopping_stops_when_the_metric_stalls),
    MM_CASE(early_stopping_stopping_threshold_stops_at_once),
    MM_CASE(ema_hook_saves_averaged_weights_and_keeps_the_model_s),
    MM_CASE(ema_average_follows_lerp_of_each_iteration_s_weights),
    MM_CASE(resume_after_two_epochs_is_bit_exact),
    MM_CASE(resume_with_ema_is_bit_exact),
    MM_CASE(interrupt_mid_epoch_saves_and_resume_is_bit_exact),
    MM_CASE(load_from_reports_missing_and_unexpected_keys),
    MM_CASE(corrupt_checkpoint_is_refused_with_one_line),
    MM_CASE(auto_scale_lr_scales_by_batch_over_base),
    MM_CASE(iter_based_loop_validates_and_saves_by_iteration),
    MM_CASE(iter_based_resume_is_bit_exact_with_an_infinite_sampler),
    MM_CASE(iter_based_resume_is_bit_exact_with_a_default_sampler),
    MM_CASE(dynamic_intervals_change_the_val_interval_from_a_milestone),
    MM_CASE(reduce_on_plateau_steps_on_validation_metrics),
    MM_CASE(evaluator_merges_metrics_and_refuses_duplicate_keys),
    MM_CASE(missing_train_cfg_is_one_line),
    MM_CASE(resume_that_is_not_a_bool_is_one_line),
    MM_CASE(partial_val_config_is_one_line_at_a_set_key),
    MM_CASE(train_without_any_val_key_skips_validation),
    MM_CASE(missing_load_from_file_names_the_key_and_its_place),
    MM_CASE(auto_scale_lr_logs_a_whole_ratio_as_python_does),
    MM_CASE(dynamic_interval_of_zero_is_a_config_error),
    MM_CASE(auto_scale_lr_enable_that_is_not_a_bool_is_one_line),
    MM_CASE(log_processor_bad_mean_pattern_names_its_place),
    MM_CASE(empty_work_dir_and_out_dir_are_refused),
    MM_CASE(experiment_name_gets_the_timestamp_as_mmengine),
    MM_CASE(resume_from_a_negative_epoch_is_refused))
