/* Hook objects and mmengine's default hooks: RuntimeInfoHook,
 * IterTimerHook, LoggerHook, ParamSchedulerHook, CheckpointHook,
 * DistSamplerSeedHook. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm/log.h"
#include "mm/optim_wrapper.h"
#include "mm_build_config.h"
#include "runner_internal.h"

/* ---- priorities and points ----------------------------------------------- */

static const struct {
    const char *name;
    int value;
} priorities[] = {
    {"HIGHEST", MM_PRIORITY_HIGHEST},
    {"VERY_HIGH", MM_PRIORITY_VERY_HIGH},
    {"HIGH", MM_PRIORITY_HIGH},
    {"ABOVE_NORMAL", MM_PRIORITY_ABOVE_NORMAL},
    {"NORMAL", MM_PRIORITY_NORMAL},
    {"BELOW_NORMAL", MM_PRIORITY_BELOW_NORMAL},
    {"LOW", MM_PRIORITY_LOW},
    {"VERY_LOW", MM_PRIORITY_VERY_LOW},
    {"LOWEST", MM_PRIORITY_LOWEST},
};

int mm_priority_parse(const mm_value *v, int *out) {
    if (mm_value_is_int(v)) {
        int64_t p = mm_value_get_int(v);
        if (p < 0 || p > 100)
            return mm_error_set_at(MM_ERANGE, mm_value_loc(v),
                                   "priority must be between 0 and 100, not "
                                   "%lld",
                                   (long long)p);
        *out = (int)p;
        return MM_OK;
    }
    if (mm_value_is_string(v)) {
        for (size_t i = 0; i < sizeof priorities / sizeof priorities[0]; i++) {
            if (strcasecmp(mm_value_get_string(v), priorities[i].name) == 0) {
                *out = priorities[i].value;
                return MM_OK;
            }
        }
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "unknown priority '%s' (HIGHEST, VERY_HIGH, "
                               "HIGH, ABOVE_NORMAL, NORMAL, BELOW_NORMAL, LOW, "
                               "VERY_LOW, LOWEST or 0..100)",
                               mm_value_get_string(v));
    }
    return mm_error_set_at(MM_ETYPE, mm_value_loc(v),
                           "priority must be an integer or a name");
}

const char *mm_priority_name(int priority) {
    for (size_t i = 0; i < sizeof priorities / sizeof priorities[0]; i++)
        if (priorities[i].value == priority)
            return priorities[i].name;
    return NULL;
}

static const char *const point_names[MM_HOOK_POINT_COUNT] = {
    [MM_HOOK_BEFORE_RUN] = "before_run",
    [MM_HOOK_AFTER_LOAD_CHECKPOINT] = "after_load_checkpoint",
    [MM_HOOK_BEFORE_TRAIN] = "before_train",
    [MM_HOOK_BEFORE_TRAIN_EPOCH] = "before_train_epoch",
    [MM_HOOK_BEFORE_TRAIN_ITER] = "before_train_iter",
    [MM_HOOK_AFTER_TRAIN_ITER] = "after_train_iter",
    [MM_HOOK_AFTER_TRAIN_EPOCH] = "after_train_epoch",
    [MM_HOOK_BEFORE_VAL] = "before_val",
    [MM_HOOK_BEFORE_VAL_EPOCH] = "before_val_epoch",
    [MM_HOOK_BEFORE_VAL_ITER] = "before_val_iter",
    [MM_HOOK_AFTER_VAL_ITER] = "after_val_iter",
    [MM_HOOK_AFTER_VAL_EPOCH] = "after_val_epoch",
    [MM_HOOK_AFTER_VAL] = "after_val",
    [MM_HOOK_BEFORE_SAVE_CHECKPOINT] = "before_save_checkpoint",
    [MM_HOOK_AFTER_TRAIN] = "after_train",
    [MM_HOOK_BEFORE_TEST] = "before_test",
    [MM_HOOK_BEFORE_TEST_EPOCH] = "before_test_epoch",
    [MM_HOOK_BEFORE_TEST_ITER] = "before_test_iter",
    [MM_HOOK_AFTER_TEST_ITER] = "after_test_iter",
    [MM_HOOK_AFTER_TEST_EPOCH] = "after_test_epoch",
    [MM_HOOK_AFTER_TEST] = "after_test",
    [MM_HOOK_AFTER_RUN] = "after_run",
};

const char *mm_hook_point_name(mm_hook_point p) {
    return (unsigned)p < MM_HOOK_POINT_COUNT ? point_names[p] : "?";
}

void mm_hook_free(mm_hook *h) {
    if (!h)
        return;
    if (h->cls && h->cls->destroy)
        h->cls->destroy(h);
    else
        free(h);
}

void mm_hook_destroy(void *h) { mm_hook_free(h); }

int mm_hook_build(const mm_value *node, const char *path,
                  const char *default_scope, mm_hook **out) {
    void *obj = NULL;
    int rc = mm_registry_build(MM_HOOKS, node, default_scope, path, NULL, &obj);
    if (rc)
        return rc;
    mm_hook *h = obj;
    if (!h || !h->cls) {
        mm_hook_free(h);
        return mm_error_set_at(MM_EINTERNAL, mm_value_loc(node),
                               "%s: the HOOKS builder returned no hook", path);
    }
    h->priority = h->cls->priority;
    const mm_value *p = mm_value_dict_get(node, "priority");
    if (p && !mm_value_is_null(p) &&
        (rc = mm_priority_parse(p, &h->priority))) {
        mm_hook_free(h);
        return mm_error_context(rc, NULL, "%s", path);
    }
    *out = h;
    return MM_OK;
}

/* A hook struct of `size` bytes with its class, for the builders below. */
static int hook_alloc(const mm_hook_class *cls, size_t size, void **out) {
    mm_hook *h = calloc(1, size);
    if (!h)
        return mm_error_set(MM_ENOMEM, "out of memory");
    h->cls = cls;
    h->priority = cls->priority;
    *out = h;
    return MM_OK;
}

static bool is_scalar(const mm_value *v) {
    return mm_value_is_number(v) || mm_value_is_bool(v);
}

static double scalar_of(const mm_value *v) {
    return mm_value_is_bool(v) ? (mm_value_get_bool(v) ? 1 : 0)
                               : mm_value_get_float(v);
}

/* ---- RuntimeInfoHook ----------------------------------------------------- */

typedef struct runtime_info_hook {
    mm_hook base;
    mm_value *last_stage;
} runtime_info_hook;

static int ri_before_run(mm_hook *h, mm_runner *r) {
    (void)h;
    mm_message_hub *hub = mm_runner_message_hub(r);
    int rc = mm_message_hub_update_info_take(hub, "cfg",
                                             mm_value_new_string(r->cfg_text));
    if (!rc)
        rc = mm_message_hub_update_info_take(
            hub, "seed", mm_value_new_int((int64_t)mm_runner_seed(r)));
    if (!rc)
        rc = mm_message_hub_update_info_take(
            hub, "experiment_name",
            mm_value_new_string(mm_runner_experiment_name(r)));
    if (!rc)
        rc = mm_message_hub_update_info_take(hub, "mm_version",
                                             mm_value_new_string(MM_VERSION));
    return rc;
}

static int ri_before_train(mm_hook *h, mm_runner *r) {
    (void)h;
    mm_message_hub *hub = mm_runner_message_hub(r);
    int rc = mm_message_hub_update_info_take(hub, "loop_stage",
                                             mm_value_new_string("train"));
    if (!rc)
        rc = mm_message_hub_update_info_take(hub, "epoch",
                                             mm_value_new_int(r->epoch));
    if (!rc)
        rc = mm_message_hub_update_info_take(hub, "iter",
                                             mm_value_new_int(r->iter));
    if (!rc)
        rc = mm_message_hub_update_info_take(
            hub, "max_epochs", mm_value_new_int(mm_runner_max_epochs(r)));
    if (!rc)
        rc = mm_message_hub_update_info_take(
            hub, "max_iters", mm_value_new_int(mm_runner_max_iters(r)));
    if (!rc && r->train_dl)
        rc = mm_message_hub_update_info(
            hub, "dataset_meta",
            mm_dataset_metainfo(mm_dataloader_dataset(r->train_dl)));
    return rc;
}

static int ri_after_train(mm_hook *h, mm_runner *r) {
    (void)h;
    mm_message_hub_pop_info(mm_runner_message_hub(r), "loop_stage");
    return MM_OK;
}

static int ri_before_train_epoch(mm_hook *h, mm_runner *r) {
    (void)h;
    return mm_message_hub_update_info_take(mm_runner_message_hub(r), "epoch",
                                           mm_value_new_int(r->epoch));
}

static int ri_before_train_iter(mm_hook *h, mm_runner *r, int64_t i,
                                const mm_value *batch) {
    (void)h, (void)i, (void)batch;
    mm_message_hub *hub = mm_runner_message_hub(r);
    int rc =
        mm_message_hub_update_info_take(hub, "iter", mm_value_new_int(r->iter));
    if (rc || !r->ow)
        return rc;
    mm_value *lr = mm_optim_wrapper_get_lr(r->ow);
    if (!lr)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t k = 0; !rc && k < mm_value_len(lr); k++) {
        const mm_value *v = mm_value_dict_value_at(lr, k);
        if (mm_value_is_list(v) && mm_value_len(v) > 0 &&
            mm_value_is_number(mm_value_list_get(v, 0))) {
            char key[256];
            snprintf(key, sizeof key, "train/%s", mm_value_dict_key_at(lr, k));
            rc = mm_message_hub_update_scalar(
                hub, key, mm_value_get_float(mm_value_list_get(v, 0)), 1);
        }
    }
    mm_value_release(lr);
    return rc;
}

static int ri_after_train_iter(mm_hook *h, mm_runner *r, int64_t i,
                               const mm_value *batch, const mm_value *outputs) {
    (void)h, (void)i, (void)batch;
    int rc = MM_OK;
    for (size_t k = 0; !rc && k < mm_value_len(outputs); k++) {
        const mm_value *v = mm_value_dict_value_at(outputs, k);
        if (!is_scalar(v))
            continue;
        char key[256];
        snprintf(key, sizeof key, "train/%s", mm_value_dict_key_at(outputs, k));
        rc = mm_message_hub_update_scalar(mm_runner_message_hub(r), key,
                                          scalar_of(v), 1);
    }
    return rc;
}

static int ri_before_val(mm_hook *h, mm_runner *r) {
    runtime_info_hook *ri = (runtime_info_hook *)h;
    mm_message_hub *hub = mm_runner_message_hub(r);
    mm_value_release(ri->last_stage);
    const mm_value *st = mm_message_hub_get_info(hub, "loop_stage");
    ri->last_stage = st ? mm_value_copy(st) : NULL;
    return mm_message_hub_update_info_take(hub, "loop_stage",
                                           mm_value_new_string("val"));
}

static int record_metrics(mm_runner *r, const char *mode,
                          const mm_value *metrics) {
    int rc = MM_OK;
    for (size_t k = 0; !rc && k < mm_value_len(metrics); k++) {
        const mm_value *v = mm_value_dict_value_at(metrics, k);
        char key[256];
        snprintf(key, sizeof key, "%s/%s", mode,
                 mm_value_dict_key_at(metrics, k));
        if (is_scalar(v))
            rc = mm_message_hub_update_scalar(mm_runner_message_hub(r), key,
                                              scalar_of(v), 1);
        else
            rc = mm_message_hub_update_info(mm_runner_message_hub(r), key,
                                            (mm_value *)v);
    }
    return rc;
}

static int ri_after_val_epoch(mm_hook *h, mm_runner *r, const mm_value *m) {
    (void)h;
    return record_metrics(r, "val", m);
}

static int ri_after_val(mm_hook *h, mm_runner *r) {
    runtime_info_hook *ri = (runtime_info_hook *)h;
    mm_message_hub *hub = mm_runner_message_hub(r);
    int rc = MM_OK;
    if (ri->last_stage && mm_value_is_string(ri->last_stage) &&
        strcmp(mm_value_get_string(ri->last_stage), "train") == 0)
        rc = mm_message_hub_update_info(hub, "loop_stage", ri->last_stage);
    else
        mm_message_hub_pop_info(hub, "loop_stage");
    mm_value_release(ri->last_stage);
    ri->last_stage = NULL;
    return rc;
}

static int ri_before_test(mm_hook *h, mm_runner *r) {
    (void)h;
    return mm_message_hub_update_info_take(
        mm_runner_message_hub(r), "loop_stage", mm_value_new_string("test"));
}

static int ri_after_test(mm_hook *h, mm_runner *r) {
    (void)h;
    mm_message_hub_pop_info(mm_runner_message_hub(r), "loop_stage");
    return MM_OK;
}

static int ri_after_test_epoch(mm_hook *h, mm_runner *r, const mm_value *m) {
    (void)h;
    return record_metrics(r, "test", m);
}

static void ri_destroy(mm_hook *h) {
    mm_value_release(((runtime_info_hook *)h)->last_stage);
    free(h);
}

static const mm_hook_class runtime_info_class = {
    .name = "RuntimeInfoHook",
    .priority = MM_PRIORITY_VERY_HIGH,
    .before_run = ri_before_run,
    .before_train = ri_before_train,
    .after_train = ri_after_train,
    .before_train_epoch = ri_before_train_epoch,
    .before_train_iter = ri_before_train_iter,
    .after_train_iter = ri_after_train_iter,
    .before_val = ri_before_val,
    .after_val_epoch = ri_after_val_epoch,
    .after_val = ri_after_val,
    .before_test = ri_before_test,
    .after_test = ri_after_test,
    .after_test_epoch = ri_after_test_epoch,
    .destroy = ri_destroy,
};

static int runtime_info_build(mm_build_ctx *ctx, void **out) {
    (void)ctx;
    return hook_alloc(&runtime_info_class, sizeof(runtime_info_hook), out);
}

/* ---- IterTimerHook ------------------------------------------------------- */

typedef struct iter_timer_hook {
    mm_hook base;
    double t, time_sec_tot, time_sec_test_val;
    int64_t start_iter;
} iter_timer_hook;

static int it_before_train(mm_hook *h, mm_runner *r) {
    ((iter_timer_hook *)h)->start_iter = r->iter;
    return MM_OK;
}

static int it_before_epoch(mm_hook *h, mm_runner *r) {
    (void)r;
    ((iter_timer_hook *)h)->t = mm_runner_now();
    return MM_OK;
}

static int it_after_epoch(mm_hook *h, mm_runner *r) {
    (void)r;
    ((iter_timer_hook *)h)->time_sec_test_val = 0;
    return MM_OK;
}

static int it_after_epoch_m(mm_hook *h, mm_runner *r, const mm_value *m) {
    (void)m;
    return it_after_epoch(h, r);
}

static int it_before_iter(mm_hook *h, mm_runner *r, const char *mode) {
    char key[64];
    snprintf(key, sizeof key, "%s/data_time", mode);
    return mm_message_hub_update_scalar(
        mm_runner_message_hub(r), key,
        mm_runner_now() - ((iter_timer_hook *)h)->t, 1);
}

static int it_after_iter(mm_hook *h, mm_runner *r, int64_t batch_idx,
                         const char *mode) {
    iter_timer_hook *it = (iter_timer_hook *)h;
    mm_message_hub *hub = mm_runner_message_hub(r);
    char key[64];
    snprintf(key, sizeof key, "%s/time", mode);
    double now = mm_runner_now();
    int rc = mm_message_hub_update_scalar(hub, key, now - it->t, 1);
    if (rc)
        return rc;
    it->t = now;
    double cur = mm_history_buffer_current(mm_message_hub_get_scalar(hub, key));
    double eta;
    if (strcmp(mode, "train") == 0) {
        it->time_sec_tot += cur;
        double avg = it->time_sec_tot / (double)(r->iter - it->start_iter + 1);
        eta = avg * (double)(mm_runner_max_iters(r) - r->iter - 1);
    } else {
        mm_dataloader *dl = strcmp(mode, "val") == 0 ? r->val_dl : r->test_dl;
        it->time_sec_test_val += cur;
        double avg = it->time_sec_test_val / (double)(batch_idx + 1);
        eta = avg * (double)((int64_t)mm_dataloader_len(dl) - batch_idx - 1);
    }
    return mm_message_hub_update_info_take(hub, "eta", mm_value_new_float(eta));
}

#define TIMER_ITER_FNS(mode)                                                   \
    static int it_before_##mode##_iter(mm_hook *h, mm_runner *r, int64_t i,    \
                                       const mm_value *b) {                    \
        (void)i, (void)b;                                                      \
        return it_before_iter(h, r, #mode);                                    \
    }                                                                          \
    static int it_after_##mode##_iter(mm_hook *h, mm_runner *r, int64_t i,     \
                                      const mm_value *b, const mm_value *o) {  \
        (void)b, (void)o;                                                      \
        return it_after_iter(h, r, i, #mode);                                  \
    }
TIMER_ITER_FNS(train)
TIMER_ITER_FNS(val)
TIMER_ITER_FNS(test)

static const mm_hook_class iter_timer_class = {
    .name = "IterTimerHook",
    .priority = MM_PRIORITY_NORMAL,
    .before_train = it_before_train,
    .before_train_epoch = it_before_epoch,
    .before_val_epoch = it_before_epoch,
    .before_test_epoch = it_before_epoch,
    .after_train_epoch = it_after_epoch,
    .after_val_epoch = it_after_epoch_m,
    .after_test_epoch = it_after_epoch_m,
    .before_train_iter = it_before_train_iter,
    .before_val_iter = it_before_val_iter,
    .before_test_iter = it_before_test_iter,
    .after_train_iter = it_after_train_iter,
    .after_val_iter = it_after_val_iter,
    .after_test_iter = it_after_test_iter,
};

static int iter_timer_build(mm_build_ctx *ctx, void **out) {
    (void)ctx;
    return hook_alloc(&iter_timer_class, sizeof(iter_timer_hook), out);
}

/* LoggerHook's and CheckpointHook's out_dir: NULL when unset (the work
 * dir); an empty one would put files at the root (`/<work dir name>`). */
static int build_out_dir(mm_build_ctx *ctx, char **out) {
    const mm_value *od = mm_build_arg(ctx, "out_dir");
    *out = NULL;
    if (!mm_value_is_string(od))
        return MM_OK;
    if (!mm_value_get_string(od)[0])
        return mm_error_set_at(MM_EINVAL, mm_value_loc(od),
                               "out_dir: must not be empty (null: the work "
                               "dir)");
    return (*out = strdup(mm_value_get_string(od)))
               ? MM_OK
               : mm_error_set(MM_ENOMEM, "out of memory");
}

/* ---- LoggerHook ---------------------------------------------------------- */

typedef struct logger_hook {
    mm_hook base;
    int64_t interval, interval_exp_name;
    bool ignore_last, log_metric_by_epoch, keep_local;
    char *out_dir;
} logger_hook;

static bool every_n_inner(int64_t batch_idx, int64_t n) {
    return n > 0 && (batch_idx + 1) % n == 0;
}

static int log_iter(mm_runner *r, int64_t batch_idx, const char *mode,
                    mm_value **tag) {
    mm_log_state st;
    mm_runner_log_state(r, mode, &st);
    char *line = NULL;
    mm_value *t = NULL;
    int rc = mm_log_processor_after_iter(mm_runner_log_processor(r), &st,
                                         batch_idx, mode, &t, &line);
    if (rc)
        return rc;
    MM_INFO("%s", line);
    free(line);
    if (tag)
        *tag = t;
    else
        mm_value_release(t);
    return MM_OK;
}

static int lg_after_train_iter(mm_hook *h, mm_runner *r, int64_t batch_idx,
                               const mm_value *b, const mm_value *o) {
    (void)b, (void)o;
    logger_hook *lg = (logger_hook *)h;
    int64_t len = (int64_t)mm_dataloader_len(r->train_dl);
    bool end_of_epoch = batch_idx + 1 == len;
    if ((lg->interval_exp_name > 0 &&
         (r->iter + 1) % lg->interval_exp_name == 0) ||
        end_of_epoch)
        MM_INFO("Exp name: %s", mm_runner_experiment_name(r));
    if (!every_n_inner(batch_idx, lg->interval) &&
        !(end_of_epoch && (!lg->ignore_last || len <= lg->interval)))
        return MM_OK;
    mm_value *tag = NULL;
    int rc = log_iter(r, batch_idx, "train", &tag);
    if (!rc)
        rc = mm_runner_add_scalars(r, tag, r->iter + 1);
    mm_value_release(tag);
    return rc;
}

static int lg_after_val_iter(mm_hook *h, mm_runner *r, int64_t batch_idx,
                             const mm_value *b, const mm_value *o) {
    (void)b, (void)o;
    if (!every_n_inner(batch_idx, ((logger_hook *)h)->interval))
        return MM_OK;
    return log_iter(r, batch_idx, "val", NULL);
}

static int lg_after_test_iter(mm_hook *h, mm_runner *r, int64_t batch_idx,
                              const mm_value *b, const mm_value *o) {
    (void)b, (void)o;
    if (!every_n_inner(batch_idx, ((logger_hook *)h)->interval))
        return MM_OK;
    return log_iter(r, batch_idx, "test", NULL);
}

static int lg_after_val_epoch(mm_hook *h, mm_runner *r, const mm_value *m) {
    (void)m;
    mm_log_state st;
    mm_runner_log_state(r, "val", &st);
    mm_value *tag = NULL;
    char *line = NULL;
    int rc = mm_log_processor_after_epoch(mm_runner_log_processor(r), &st,
                                          st.dataloader_len, "val", false, &tag,
                                          &line);
    if (rc)
        return rc;
    MM_INFO("%s", line);
    free(line);
    bool has_train = mm_runner_has_train_loop(r);
    int64_t step = ((logger_hook *)h)->log_metric_by_epoch
                       ? (has_train ? r->epoch : 0)
                       : (has_train ? r->iter : 0);
    rc = mm_runner_add_scalars(r, tag, step);
    mm_value_release(tag);
    return rc;
}

static int lg_after_test_epoch(mm_hook *h, mm_runner *r, const mm_value *m) {
    (void)h, (void)m;
    mm_log_state st;
    mm_runner_log_state(r, "test", &st);
    mm_value *tag = NULL;
    char *line = NULL;
    int rc = mm_log_processor_after_epoch(mm_runner_log_processor(r), &st,
                                          st.dataloader_len, "test", true, &tag,
                                          &line);
    if (rc)
        return rc;
    MM_INFO("%s", line);
    free(line);
    /* The test results as one JSON file, <log_dir>/<timestamp>.json. */
    char *json = NULL, path[4096];
    rc = mm_json_dump(tag, 4, &json);
    mm_value_release(tag);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/%s.json", mm_runner_log_dir(r),
             mm_runner_timestamp(r));
    rc = mm_file_write_atomic(path, json, strlen(json));
    free(json);
    return rc;
}

static int copy_file(const char *from, const char *to) {
    char *text = NULL;
    size_t len = 0;
    int rc = mm_file_read(from, &text, &len);
    if (!rc)
        rc = mm_file_write_atomic(to, text, len);
    free(text);
    return rc;
}

static int lg_before_run(mm_hook *h, mm_runner *r) {
    logger_hook *lg = (logger_hook *)h;
    if (lg->out_dir)
        MM_INFO("Text logs will be saved to %s after the training process.",
                lg->out_dir);
    (void)r;
    return MM_OK;
}

/* out_dir: copy the text logs (log, json, yaml) of the run's log dir to
 * <out_dir>/<work dir name>/<timestamp>/. */
static int lg_after_run(mm_hook *h, mm_runner *r) {
    logger_hook *lg = (logger_hook *)h;
    if (!lg->out_dir)
        return MM_OK;
    const char *wd = mm_runner_work_dir(r);
    const char *base = strrchr(wd, '/');
    base = base && base[1] ? base + 1 : wd;
    char dir[2048], from[4096], to[4096];
    snprintf(dir, sizeof dir, "%s/%s/%s", lg->out_dir, base,
             mm_runner_timestamp(r));
    int rc0 = mm_runner_mkdirs(dir);
    if (rc0)
        return rc0;
    const char *names[] = {"log", "json"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/%s.%s", mm_runner_log_dir(r),
                 mm_runner_timestamp(r), names[i]);
        snprintf(to, sizeof to, "%s/%s.%s", dir, mm_runner_timestamp(r),
                 names[i]);
        if (access(from, R_OK) != 0)
            continue;
        if (r->log_file)
            fflush(r->log_file);
        int rc = copy_file(from, to);
        if (rc)
            return rc;
        MM_INFO("The file %s has been uploaded to %s.", from, to);
    }
    snprintf(from, sizeof from, "%s/config.yaml", mm_runner_log_dir(r));
    snprintf(to, sizeof to, "%s/config.yaml", dir);
    return access(from, R_OK) == 0 ? copy_file(from, to) : MM_OK;
}

static void lg_destroy(mm_hook *h) {
    free(((logger_hook *)h)->out_dir);
    free(h);
}

static const mm_hook_class logger_class = {
    .name = "LoggerHook",
    .priority = MM_PRIORITY_BELOW_NORMAL,
    .before_run = lg_before_run,
    .after_train_iter = lg_after_train_iter,
    .after_val_iter = lg_after_val_iter,
    .after_test_iter = lg_after_test_iter,
    .after_val_epoch = lg_after_val_epoch,
    .after_test_epoch = lg_after_test_epoch,
    .after_run = lg_after_run,
    .destroy = lg_destroy,
};

static int logger_build(mm_build_ctx *ctx, void **out) {
    logger_hook *lg = NULL;
    int rc = hook_alloc(&logger_class, sizeof *lg, (void **)&lg);
    if (rc)
        return rc;
    if (!(rc = mm_build_int(ctx, "interval", &lg->interval)))
        rc = mm_build_int(ctx, "interval_exp_name", &lg->interval_exp_name);
    if (!rc)
        rc = mm_build_bool(ctx, "ignore_last", &lg->ignore_last);
    if (!rc)
        rc =
            mm_build_bool(ctx, "log_metric_by_epoch", &lg->log_metric_by_epoch);
    if (!rc)
        rc = mm_build_bool(ctx, "keep_local", &lg->keep_local);
    if (!rc && lg->interval <= 0)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                             "interval must be greater than 0");
    if (!rc && lg->interval_exp_name <= 0)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                             "interval_exp_name must be greater than 0");
    if (!rc)
        rc = build_out_dir(ctx, &lg->out_dir);
    if (rc) {
        lg_destroy(&lg->base);
        return rc;
    }
    *out = lg;
    return MM_OK;
}

/* ---- ParamSchedulerHook -------------------------------------------------- */

static int ps_step(mm_runner *r, bool by_epoch) {
    size_t n;
    mm_param_scheduler *const *s = mm_runner_param_schedulers(r, &n);
    for (size_t i = 0; i < n; i++) {
        if (mm_param_scheduler_by_epoch(s[i]) != by_epoch)
            continue;
        int rc = mm_param_scheduler_step(s[i]);
        if (rc)
            return mm_error_context(rc, NULL, "param_scheduler %s",
                                    mm_param_scheduler_name(s[i]));
    }
    return MM_OK;
}

static int ps_after_train_iter(mm_hook *h, mm_runner *r, int64_t i,
                               const mm_value *b, const mm_value *o) {
    (void)h, (void)i, (void)b, (void)o;
    return ps_step(r, false);
}

static int ps_after_train_epoch(mm_hook *h, mm_runner *r) {
    (void)h;
    return ps_step(r, true);
}

static int ps_after_val_epoch(mm_hook *h, mm_runner *r, const mm_value *m) {
    (void)h;
    if (!m)
        return MM_OK;
    size_t n;
    mm_param_scheduler *const *s = mm_runner_param_schedulers(r, &n);
    for (size_t i = 0; i < n; i++) {
        if (!mm_param_scheduler_by_epoch(s[i]) ||
            !mm_param_scheduler_needs_metrics(s[i]))
            continue;
        int rc = mm_param_scheduler_step_metrics(s[i], m);
        if (rc)
            return rc;
    }
    return MM_OK;
}

static const mm_hook_class param_scheduler_class = {
    .name = "ParamSchedulerHook",
    .priority = MM_PRIORITY_LOW,
    .after_train_iter = ps_after_train_iter,
    .after_train_epoch = ps_after_train_epoch,
    .after_val_epoch = ps_after_val_epoch,
};

static int param_scheduler_build(mm_build_ctx *ctx, void **out) {
    (void)ctx;
    return hook_alloc(&param_scheduler_class, sizeof(mm_hook), out);
}

/* ---- DistSamplerSeedHook ------------------------------------------------- */

static int ss_before_train_epoch(mm_hook *h, mm_runner *r) {
    (void)h;
    mm_sampler *s = r->train_dl ? mm_dataloader_sampler(r->train_dl) : NULL;
    if (s)
        mm_sampler_set_epoch(s, r->epoch);
    return MM_OK;
}

static const mm_hook_class sampler_seed_class = {
    .name = "DistSamplerSeedHook",
    .priority = MM_PRIORITY_NORMAL,
    .before_train_epoch = ss_before_train_epoch,
};

static int sampler_seed_build(mm_build_ctx *ctx, void **out) {
    (void)ctx;
    return hook_alloc(&sampler_seed_class, sizeof(mm_hook), out);
}

/* ---- CheckpointHook ------------------------------------------------------ */

typedef struct checkpoint_hook {
    mm_hook base;
    int64_t interval, max_keep_ckpts, save_begin;
    bool by_epoch, save_optimizer, save_param_scheduler, save_last;
    char *out_dir, *tmpl_pre, *tmpl_post; /* filename_tmpl around its {} */
    size_t n_best;
    char **best_keys;  /* save_best ("auto" resolved on first metrics) */
    int *rules;        /* +1 greater, -1 less, 0 infer */
    char **best_paths; /* current best checkpoint per key */
    size_t n_greater, n_less;
    char **greater_keys, **less_keys;
    size_t n_published;
    char **published;  /* published_keys */
    int64_t *keep_ids; /* max_keep_ckpts ring, oldest first */
    size_t n_keep;
    char *last_ckpt;
} checkpoint_hook;

static void free_strv(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void ck_destroy(mm_hook *h) {
    checkpoint_hook *c = (checkpoint_hook *)h;
    free(c->out_dir);
    free(c->tmpl_pre);
    free(c->tmpl_post);
    free_strv(c->best_keys, c->n_best);
    free_strv(c->best_paths, c->n_best);
    free(c->rules);
    free_strv(c->greater_keys, c->n_greater);
    free_strv(c->less_keys, c->n_less);
    free_strv(c->published, c->n_published);
    free(c->keep_ids);
    free(c->last_ckpt);
    free(c);
}

static void ck_filename(const checkpoint_hook *c, int64_t step, char *buf,
                        size_t size) {
    snprintf(buf, size, "%s%lld%s", c->tmpl_pre, (long long)step, c->tmpl_post);
}

static void ck_join(const checkpoint_hook *c, const char *name, char *buf,
                    size_t size) {
    snprintf(buf, size, "%s/%s", c->out_dir, name);
}

static void remove_ckpt(const char *path) {
    if (unlink(path) != 0 && errno != ENOENT)
        MM_WARN("could not remove %s: %s", path, strerror(errno));
}

static int ck_before_train(mm_hook *h, mm_runner *r) {
    checkpoint_hook *c = (checkpoint_hook *)h;
    const char *wd = mm_runner_work_dir(r);
    if (!c->out_dir) {
        if (!(c->out_dir = strdup(wd)))
            return mm_error_set(MM_ENOMEM, "out of memory");
    } else if (strcmp(c->out_dir, wd) != 0) {
        const char *base = strrchr(wd, '/');
        base = base && base[1] ? base + 1 : wd;
        char *d = malloc(strlen(c->out_dir) + strlen(base) + 2);
        if (!d)
            return mm_error_set(MM_ENOMEM, "out of memory");
        sprintf(d, "%s/%s", c->out_dir, base);
        free(c->out_dir);
        c->out_dir = d;
        int rc = mm_runner_mkdirs(c->out_dir);
        if (rc)
            return rc;
    }
    MM_INFO("Checkpoints will be saved to %s.", c->out_dir);
    mm_message_hub *hub = mm_runner_message_hub(r);
    for (size_t i = 0; i < c->n_best; i++) {
        char key[300];
        if (c->n_best == 1)
            snprintf(key, sizeof key, "best_ckpt");
        else
            snprintf(key, sizeof key, "best_ckpt_%s", c->best_keys[i]);
        const mm_value *p = mm_message_hub_get_info(hub, key);
        free(c->best_paths[i]);
        c->best_paths[i] =
            p && mm_value_is_string(p) ? strdup(mm_value_get_string(p)) : NULL;
    }
    if (c->max_keep_ckpts > 0) {
        const mm_value *ids = mm_message_hub_get_info(hub, "keep_ckpt_ids");
        c->n_keep = 0;
        size_t n = mm_value_is_list(ids) ? mm_value_len(ids) : 0;
        size_t skip =
            n > (size_t)c->max_keep_ckpts ? n - (size_t)c->max_keep_ckpts : 0;
        for (size_t i = 0; i < n; i++) {
            const mm_value *v = mm_value_list_get(ids, i);
            if (!mm_value_is_int(v))
                continue;
            if (i < skip) {
                char name[512], path[4096];
                ck_filename(c, mm_value_get_int(v), name, sizeof name);
                ck_join(c, name, path, sizeof path);
                remove_ckpt(path);
                continue;
            }
            c->keep_ids[c->n_keep++] = mm_value_get_int(v);
        }
    }
    return MM_OK;
}

static int ck_save_with_step(checkpoint_hook *c, mm_runner *r, int64_t step,
                             int64_t meta_epoch, int64_t meta_iter) {
    mm_message_hub *hub = mm_runner_message_hub(r);
    int rc;
    if (c->max_keep_ckpts > 0 &&
        !(c->n_keep > 0 && c->keep_ids[c->n_keep - 1] == step)) {
        if (c->n_keep == (size_t)c->max_keep_ckpts) {
            char name[512], path[4096];
            ck_filename(c, c->keep_ids[0], name, sizeof name);
            ck_join(c, name, path, sizeof path);
            remove_ckpt(path);
            memmove(c->keep_ids, c->keep_ids + 1,
                    (c->n_keep - 1) * sizeof *c->keep_ids);
            c->n_keep--;
        }
        c->keep_ids[c->n_keep++] = step;
        mm_value *ids = mm_value_new_list();
        if (!ids)
            return mm_error_set(MM_ENOMEM, "out of memory");
        for (size_t i = 0; i < c->n_keep; i++)
            if ((rc = mm_value_list_append_take(
                     ids, mm_value_new_int(c->keep_ids[i])))) {
                mm_value_release(ids);
                return rc;
            }
        if ((rc = mm_message_hub_update_info_take(hub, "keep_ckpt_ids", ids)))
            return rc;
    }
    char name[512], path[4096];
    ck_filename(c, step, name, sizeof name);
    ck_join(c, name, path, sizeof path);
    free(c->last_ckpt);
    if (!(c->last_ckpt = strdup(path)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    if ((rc = mm_message_hub_update_info_take(hub, "last_ckpt",
                                              mm_value_new_string(path))))
        return rc;
    rc = mm_runner_save_checkpoint(r, c->out_dir, name, c->save_optimizer,
                                   c->save_param_scheduler, meta_epoch,
                                   meta_iter);
    if (!rc)
        rc = mm_runner_write_last_checkpoint(r, path);
    return rc;
}

static int ck_save(checkpoint_hook *c, mm_runner *r) {
    if (c->by_epoch)
        return ck_save_with_step(c, r, r->epoch + 1, r->epoch + 1, r->iter);
    return ck_save_with_step(c, r, r->iter + 1, r->epoch, r->iter + 1);
}

static bool every_n(int64_t progress_, int64_t n, int64_t start) {
    int64_t d = progress_ + 1 - start;
    return d >= 0 && n > 0 && d % n == 0;
}

static int ck_after_train_epoch(mm_hook *h, mm_runner *r) {
    checkpoint_hook *c = (checkpoint_hook *)h;
    if (!c->by_epoch)
        return MM_OK;
    if (every_n(r->epoch, c->interval, c->save_begin) ||
        (c->save_last && r->epoch + 1 == mm_runner_max_epochs(r))) {
        MM_INFO("Saving checkpoint at %lld epochs", (long long)(r->epoch + 1));
        return ck_save(c, r);
    }
    return MM_OK;
}

static int ck_after_train_iter(mm_hook *h, mm_runner *r, int64_t i,
                               const mm_value *b, const mm_value *o) {
    (void)i, (void)b, (void)o;
    checkpoint_hook *c = (checkpoint_hook *)h;
    if (c->by_epoch)
        return MM_OK;
    if (every_n(r->iter, c->interval, c->save_begin) ||
        (c->save_last && r->iter + 1 == mm_runner_max_iters(r))) {
        MM_INFO("Saving checkpoint at %lld iterations",
                (long long)(r->iter + 1));
        return ck_save(c, r);
    }
    return MM_OK;
}

/* _init_rule: the rule of one key; greater_keys / less_keys decide when
 * none is given: exact (case-insensitive) match first, then substring. */
static int infer_rule(const checkpoint_hook *c, const char *key,
                      const mm_srcloc *loc, int *rule) {
    char lc[256];
    size_t n = strlen(key);
    if (n >= sizeof lc)
        n = sizeof lc - 1;
    for (size_t i = 0; i < n; i++)
        lc[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
    lc[n] = 0;
    for (size_t i = 0; i < c->n_greater; i++)
        if (strcasecmp(lc, c->greater_keys[i]) == 0)
            return *rule = 1, MM_OK;
    for (size_t i = 0; i < c->n_less; i++)
        if (strcasecmp(lc, c->less_keys[i]) == 0)
            return *rule = -1, MM_OK;
    for (size_t i = 0; i < c->n_greater; i++)
        if (strcasestr(lc, c->greater_keys[i]))
            return *rule = 1, MM_OK;
    for (size_t i = 0; i < c->n_less; i++)
        if (strcasestr(lc, c->less_keys[i]))
            return *rule = -1, MM_OK;
    return mm_error_set_at(MM_EINVAL, loc,
                           "save_best: cannot infer the rule for key '%s', "
                           "thus a specific rule must be specified (rule: "
                           "greater or less)",
                           key);
}

static int ck_after_val_epoch(mm_hook *h, mm_runner *r,
                              const mm_value *metrics) {
    checkpoint_hook *c = (checkpoint_hook *)h;
    if (!metrics || mm_value_len(metrics) == 0) {
        MM_WARN("Since `metrics` is an empty dict, the behavior to save the "
                "best checkpoint will be skipped in this evaluation.");
        return MM_OK;
    }
    if (c->n_best == 0)
        return MM_OK;
    int64_t cur = c->by_epoch ? r->epoch : r->iter;
    const char *cur_type = c->by_epoch ? "epoch" : "iter";
    char fname[512];
    ck_filename(c, cur, fname, sizeof fname);
    if (strcmp(c->best_keys[0], "auto") == 0) {
        /* 'auto': the first metric, its rule inferred unless given. */
        char *k = strdup(mm_value_dict_key_at(metrics, 0));
        if (!k)
            return mm_error_set(MM_ENOMEM, "out of memory");
        free(c->best_keys[0]);
        c->best_keys[0] = k;
        if (c->rules[0] == 0) {
            int rc = infer_rule(c, k, NULL, &c->rules[0]);
            if (rc)
                return rc;
        }
    }
    mm_message_hub *hub = mm_runner_message_hub(r);
    bool updated = false;
    for (size_t i = 0; i < c->n_best; i++) {
        const char *key = c->best_keys[i];
        const mm_value *sv = mm_value_dict_get(metrics, key);
        if (!sv)
            return mm_error_set(MM_EINVAL,
                                "CheckpointHook: save_best '%s' is not among "
                                "the metrics",
                                key);
        if (!mm_value_is_number(sv))
            continue;
        double score = mm_value_get_float(sv);
        char score_key[300], ckpt_key[300];
        if (c->n_best == 1) {
            snprintf(score_key, sizeof score_key, "best_score");
            snprintf(ckpt_key, sizeof ckpt_key, "best_ckpt");
        } else {
            snprintf(score_key, sizeof score_key, "best_score_%s", key);
            snprintf(ckpt_key, sizeof ckpt_key, "best_ckpt_%s", key);
        }
        const mm_value *bv = mm_message_hub_get_info(hub, score_key);
        double best = bv && mm_value_is_number(bv)
                          ? mm_value_get_float(bv)
                          : (c->rules[i] > 0 ? -INFINITY : INFINITY);
        if (!(c->rules[i] > 0 ? score > best : score < best))
            continue;
        updated = true;
        int rc = mm_message_hub_update_info_take(hub, score_key,
                                                 mm_value_new_float(score));
        if (rc)
            return rc;
        if (c->best_paths[i] && access(c->best_paths[i], F_OK) == 0) {
            remove_ckpt(c->best_paths[i]);
            MM_INFO("The previous best checkpoint %s is removed",
                    c->best_paths[i]);
        }
        char best_name[1024], path[4096];
        snprintf(best_name, sizeof best_name, "best_%s_%s", key, fname);
        for (char *p = best_name; *p; p++)
            if (*p == '/')
                *p = '_';
        ck_join(c, best_name, path, sizeof path);
        free(c->best_paths[i]);
        if (!(c->best_paths[i] = strdup(path)))
            return mm_error_set(MM_ENOMEM, "out of memory");
        if ((rc = mm_message_hub_update_info_take(hub, ckpt_key,
                                                  mm_value_new_string(path))))
            return rc;
        if ((rc = mm_runner_save_checkpoint(r, c->out_dir, best_name, false,
                                            false, r->epoch, r->iter)))
            return rc;
        MM_INFO("The best checkpoint with %0.4f %s at %lld %s is saved to %s.",
                score, key, (long long)cur, cur_type, best_name);
    }
    if (updated && c->last_ckpt)
        return ck_save_with_step(c, r, cur, r->epoch, r->iter);
    return MM_OK;
}

static bool in_strv(char *const *v, size_t n, const char *s, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(v[i]) == len && strncmp(v[i], s, len) == 0)
            return true;
    return false;
}

/* _publish_model: a copy with only the published keys (tensor groups by
 * their first name part, metadata entries by name), named
 * <stem>-<first 8 hex digits of its SHA-256>.safetensors. */
static int ck_publish(checkpoint_hook *c, const char *path) {
    mm_checkpoint *src = NULL, *dst = NULL;
    int rc = mm_checkpoint_load(path, &src);
    if (!rc)
        rc = mm_checkpoint_new(&dst);
    char *removed[64];
    size_t n_removed = 0;
    for (size_t i = 0; !rc && i < mm_checkpoint_count(src); i++) {
        const char *name;
        mm_tensor *t;
        if ((rc = mm_checkpoint_at(src, i, &name, &t)))
            break;
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        if (in_strv(c->published, c->n_published, name, len))
            rc = mm_checkpoint_add(dst, name, t);
        else if (!in_strv(removed, n_removed, name, len) && n_removed < 64)
            removed[n_removed++] = strndup(name, len);
    }
    const mm_value *meta = src ? mm_checkpoint_meta(src) : NULL;
    for (size_t i = 0; !rc && i < mm_value_len(meta); i++) {
        const char *k = mm_value_dict_key_at(meta, i);
        if (in_strv(c->published, c->n_published, k, strlen(k)))
            rc =
                mm_checkpoint_set_meta(dst, k, mm_value_dict_value_at(meta, i));
        else if (!in_strv(removed, n_removed, k, strlen(k)) && n_removed < 64)
            removed[n_removed++] = strdup(k);
    }
    if (!rc && n_removed) {
        char list[2048] = "[";
        for (size_t i = 0; i < n_removed; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'",
                     i ? ", " : "", removed[i] ? removed[i] : "?");
        snprintf(list + strlen(list), sizeof list - strlen(list), "]");
        MM_INFO("Key %s will be removed because they are not found in "
                "published_keys. If you want to keep them, please set `%s` "
                "in published_keys",
                list, list);
    }
    for (size_t i = 0; i < n_removed; i++)
        free(removed[i]);
    char tmp[4096], final[4096];
    snprintf(tmp, sizeof tmp, "%s.publish", path);
    if (!rc)
        rc = mm_checkpoint_save(dst, tmp);
    char *bytes = NULL;
    size_t len = 0;
    if (!rc)
        rc = mm_file_read(tmp, &bytes, &len);
    if (!rc) {
        char sha[65];
        mm_sha256_hex(bytes, len, sha);
        const char *ext = strrchr(path, '.');
        int stem =
            ext && !strchr(ext, '/') ? (int)(ext - path) : (int)strlen(path);
        snprintf(final, sizeof final, "%.*s-%.8s.safetensors", stem, path, sha);
        if (rename(tmp, final) != 0)
            rc = mm_error_set(MM_EIO, "cannot rename '%s' to '%s': %s", tmp,
                              final, strerror(errno));
        else
            MM_INFO("The checkpoint (%s) is published to %s.", path, final);
    }
    if (rc)
        unlink(tmp);
    free(bytes);
    mm_checkpoint_free(src);
    mm_checkpoint_free(dst);
    return rc;
}

static int ck_after_train(mm_hook *h, mm_runner *r) {
    (void)r;
    checkpoint_hook *c = (checkpoint_hook *)h;
    if (!c->n_published)
        return MM_OK;
    int rc = MM_OK;
    if (c->save_last && c->last_ckpt)
        rc = ck_publish(c, c->last_ckpt);
    for (size_t i = 0; !rc && i < c->n_best; i++)
        if (c->best_paths[i])
            rc = ck_publish(c, c->best_paths[i]);
    return rc;
}

static const mm_hook_class checkpoint_class = {
    .name = "CheckpointHook",
    .priority = MM_PRIORITY_VERY_LOW,
    .before_train = ck_before_train,
    .after_train_epoch = ck_after_train_epoch,
    .after_train_iter = ck_after_train_iter,
    .after_val_epoch = ck_after_val_epoch,
    .after_train = ck_after_train,
    .destroy = ck_destroy,
};

/* A string or a list of strings (null: none) into a new array. */
static int str_or_list(const mm_value *v, const char *what, char ***out,
                       size_t *n) {
    *out = NULL;
    *n = 0;
    if (!v || mm_value_is_null(v))
        return MM_OK;
    size_t cnt = mm_value_is_list(v) ? mm_value_len(v) : 1;
    char **a = calloc(cnt ? cnt : 1, sizeof *a);
    if (!a)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        const mm_value *e = mm_value_is_list(v) ? mm_value_list_get(v, i) : v;
        if (!mm_value_is_string(e)) {
            free_strv(a, i);
            return mm_error_set_at(MM_ETYPE, mm_value_loc(e),
                                   "%s must be a string or a list of strings",
                                   what);
        }
        if (!(a[i] = strdup(mm_value_get_string(e)))) {
            free_strv(a, i);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
    }
    *out = a;
    *n = cnt;
    return MM_OK;
}

static int checkpoint_build(mm_build_ctx *ctx, void **out) {
    checkpoint_hook *c = NULL;
    int rc = hook_alloc(&checkpoint_class, sizeof *c, (void **)&c);
    if (rc)
        return rc;
    const mm_value *node = mm_build_node(ctx);
    if (!(rc = mm_build_int(ctx, "interval", &c->interval)))
        rc = mm_build_bool(ctx, "by_epoch", &c->by_epoch);
    if (!rc)
        rc = mm_build_bool(ctx, "save_optimizer", &c->save_optimizer);
    if (!rc)
        rc = mm_build_bool(ctx, "save_param_scheduler",
                           &c->save_param_scheduler);
    if (!rc)
        rc = mm_build_int(ctx, "max_keep_ckpts", &c->max_keep_ckpts);
    if (!rc)
        rc = mm_build_bool(ctx, "save_last", &c->save_last);
    if (!rc)
        rc = mm_build_int(ctx, "save_begin", &c->save_begin);
    if (!rc && c->save_begin < 0)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                             "save_begin should not be less than 0, but got "
                             "%lld",
                             (long long)c->save_begin);
    if (!rc)
        rc = build_out_dir(ctx, &c->out_dir);
    /* filename_tmpl: Python's '{}' placeholder; ours default to
     * safetensors. */
    const mm_value *ft = mm_build_arg(ctx, "filename_tmpl");
    const char *tmpl = mm_value_is_string(ft) ? mm_value_get_string(ft)
                       : c->by_epoch          ? "epoch_{}.safetensors"
                                              : "iter_{}.safetensors";
    const char *brace = strstr(tmpl, "{}");
    if (!rc && !brace)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(ft),
                             "filename_tmpl '%s' has no '{}' for the step",
                             tmpl);
    if (!rc) {
        c->tmpl_pre = strndup(tmpl, (size_t)(brace - tmpl));
        c->tmpl_post = strdup(brace + 2);
        if (!c->tmpl_pre || !c->tmpl_post || strchr(c->tmpl_post, '/') ||
            strchr(c->tmpl_pre, '/'))
            rc = c->tmpl_pre && c->tmpl_post
                     ? mm_error_set_at(MM_EINVAL, mm_value_loc(ft),
                                       "filename_tmpl must be a file name, "
                                       "not a path")
                     : mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = str_or_list(mm_build_arg(ctx, "save_best"), "save_best",
                         &c->best_keys, &c->n_best);
    char **rules = NULL;
    size_t n_rules = 0;
    if (!rc)
        rc = str_or_list(mm_build_arg(ctx, "rule"), "rule", &rules, &n_rules);
    if (!rc)
        rc = str_or_list(mm_build_arg(ctx, "published_keys"), "published_keys",
                         &c->published, &c->n_published);
    for (size_t i = 0; !rc && i < c->n_published; i++)
        for (size_t j = 0; !rc && j < i; j++)
            if (strcmp(c->published[i], c->published[j]) == 0)
                rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                                     "Find duplicate elements in "
                                     "\"published_keys\".");
    if (!rc)
        rc = str_or_list(mm_build_arg(ctx, "greater_keys"), "greater_keys",
                         &c->greater_keys, &c->n_greater);
    if (!rc)
        rc = str_or_list(mm_build_arg(ctx, "less_keys"), "less_keys",
                         &c->less_keys, &c->n_less);
    /* Each list falls back to mmengine's defaults on its own. */
    if (!rc && !c->greater_keys) {
        static const char *const g[] = {"acc",       "top", "AR@",   "auc",
                                        "precision", "mAP", "mDice", "mIoU",
                                        "mAcc",      "aAcc"};
        c->greater_keys = calloc(10, sizeof(char *));
        for (size_t i = 0; c->greater_keys && i < 10; i++)
            c->greater_keys[c->n_greater++] = strdup(g[i]);
    }
    if (!rc && !c->less_keys) {
        c->less_keys = calloc(1, sizeof(char *));
        if (c->less_keys)
            c->less_keys[c->n_less++] = strdup("loss");
    }
    if (!rc && (!c->greater_keys || !c->less_keys))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < c->n_best; i++) {
        if (strcmp(c->best_keys[i], "auto") == 0 && c->n_best > 1)
            rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                                 "Only support one \"auto\" in \"save_best\" "
                                 "list.");
        for (size_t j = 0; !rc && j < i; j++)
            if (strcmp(c->best_keys[i], c->best_keys[j]) == 0)
                rc =
                    mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                                    "Find duplicate element in \"save_best\".");
    }
    if (!rc && n_rules > 1 && n_rules != c->n_best)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                             "Number of \"rule\" must be 1 or the same as "
                             "number of \"save_best\", but got %zu.",
                             n_rules);
    if (!rc && c->n_best) {
        c->rules = calloc(c->n_best, sizeof *c->rules);
        c->best_paths = calloc(c->n_best, sizeof *c->best_paths);
        if (!c->rules || !c->best_paths)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < c->n_best; i++) {
            const char *rule = n_rules ? rules[n_rules == 1 ? 0 : i] : NULL;
            if (rule && strcmp(rule, "greater") == 0)
                c->rules[i] = 1;
            else if (rule && strcmp(rule, "less") == 0)
                c->rules[i] = -1;
            else if (rule)
                rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                                     "rule must be greater, less or None, "
                                     "but got %s.",
                                     rule);
            else if (strcmp(c->best_keys[i], "auto") != 0)
                rc = infer_rule(c, c->best_keys[i],
                                mm_value_loc(mm_build_arg(ctx, "save_best")),
                                &c->rules[i]);
        }
    }
    free_strv(rules, n_rules);
    if (!rc && c->max_keep_ckpts > 0 &&
        !(c->keep_ids = calloc((size_t)c->max_keep_ckpts, sizeof *c->keep_ids)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (rc) {
        ck_destroy(&c->base);
        return rc;
    }
    *out = c;
    return MM_OK;
}

/* ---- registration -------------------------------------------------------- */

static const mm_param no_params[] = {MM_HOOK_BASE_PARAMS};

static const mm_param logger_params[] = {
    {.name = "interval",
     .type = MM_PARAM_INT,
     .def = "10",
     .doc = "log every n iterations"},
    {.name = "ignore_last",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "skip the last iterations of an epoch short of an interval"},
    {.name = "interval_exp_name",
     .type = MM_PARAM_INT,
     .def = "1000",
     .doc = "log the experiment name every n iterations"},
    {.name = "out_dir",
     .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null",
     .doc = "copy the text logs here after the run"},
    {.name = "out_suffix",
     .type = MM_PARAM_STRING | MM_PARAM_LIST,
     .def = "['.json', '.log', '.py', 'yaml']",
     .doc = "accepted for mmengine configs (the logs copied are fixed)"},
    {.name = "keep_local",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "accepted for mmengine configs"},
    {.name = "file_client_args",
     .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "accepted for mmengine configs"},
    {.name = "log_metric_by_epoch",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "val metrics in scalars.json stepped by epoch (else by iter)"},
    {.name = "backend_args",
     .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "accepted for mmengine configs"},
    MM_HOOK_BASE_PARAMS,
};

static const mm_param checkpoint_params[] = {
    {.name = "interval",
     .type = MM_PARAM_INT,
     .def = "-1",
     .doc = "save every n epochs (or iterations); -1: never"},
    {.name = "by_epoch",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "interval counts epochs (else iterations)"},
    {.name = "save_optimizer",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "save the optimizer state"},
    {.name = "save_param_scheduler",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "save the schedulers' state"},
    {.name = "out_dir",
     .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null",
     .doc = "where checkpoints go (default: the work dir)"},
    {.name = "max_keep_ckpts",
     .type = MM_PARAM_INT,
     .def = "-1",
     .doc = "keep only the newest n checkpoints; -1: all"},
    {.name = "save_last",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "always save after the last epoch (iteration)"},
    {.name = "save_best",
     .type = MM_PARAM_STRING | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "metric(s) whose best value keeps a best_* checkpoint; 'auto': "
            "the first"},
    {.name = "rule",
     .type = MM_PARAM_STRING | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "greater or less (inferred from the key if null)"},
    {.name = "greater_keys",
     .type = MM_PARAM_STRING | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "keys whose rule is 'greater'"},
    {.name = "less_keys",
     .type = MM_PARAM_STRING | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "keys whose rule is 'less'"},
    {.name = "file_client_args",
     .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "accepted for mmengine configs"},
    {.name = "filename_tmpl",
     .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null",
     .doc = "file name with '{}' for the step (default "
            "epoch_{}.safetensors or iter_{}.safetensors)"},
    {.name = "backend_args",
     .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "accepted for mmengine configs"},
    {.name = "published_keys",
     .type = MM_PARAM_STRING | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc =
         "after training, copies of the last and best checkpoints with "
         "only these keys (state_dict, meta, ...), named <name>-<sha256[:8]>"},
    {.name = "save_begin",
     .type = MM_PARAM_INT,
     .def = "0",
     .doc = "the epoch (iteration) interval saving counts from"},
    MM_HOOK_BASE_PARAMS,
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const mm_component hook_components[] = {
    {.kind = MM_HOOKS,
     .name = "RuntimeInfoHook",
     .doc = "puts epoch, iter, lr and losses into the message hub",
     .params = no_params,
     .n_params = N(no_params),
     .build = runtime_info_build,
     .destroy = mm_hook_destroy},
    {.kind = MM_HOOKS,
     .name = "IterTimerHook",
     .doc = "times iterations and data loading, estimates the ETA",
     .params = no_params,
     .n_params = N(no_params),
     .build = iter_timer_build,
     .destroy = mm_hook_destroy},
    {.kind = MM_HOOKS,
     .name = "LoggerHook",
     .doc = "writes log lines and vis_data/scalars.json",
     .params = logger_params,
     .n_params = N(logger_params),
     .build = logger_build,
     .destroy = mm_hook_destroy},
    {.kind = MM_HOOKS,
     .name = "ParamSchedulerHook",
     .doc = "steps the parameter schedulers",
     .params = no_params,
     .n_params = N(no_params),
     .build = param_scheduler_build,
     .destroy = mm_hook_destroy},
    {.kind = MM_HOOKS,
     .name = "CheckpointHook",
     .doc = "saves checkpoints, the best ones and last_checkpoint",
     .params = checkpoint_params,
     .n_params = N(checkpoint_params),
     .build = checkpoint_build,
     .destroy = mm_hook_destroy},
    {.kind = MM_HOOKS,
     .name = "DistSamplerSeedHook",
     .doc = "sets the sampler's epoch so each epoch shuffles differently",
     .params = no_params,
     .n_params = N(no_params),
     .build = sampler_seed_build,
     .destroy = mm_hook_destroy},
};

int mm_hooks_register(void) {
    for (size_t i = 0; i < N(hook_components); i++) {
        int rc = mm_register(&hook_components[i]);
        if (rc)
            return rc;
    }
    return MM_OK;
}
