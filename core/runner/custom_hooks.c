/* mmengine's custom hooks: EMAHook (with ExponentialMovingAverage,
 * MomentumAnnealingEMA and StochasticWeightAverage) and EarlyStoppingHook. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mm/autograd.h"
#include "mm/log.h"
#include "runner_internal.h"

/* ---- EMAHook ------------------------------------------------------------- */

typedef enum ema_kind { EMA_EXP, EMA_ANNEAL, EMA_SWA } ema_kind;

typedef struct ema_hook {
    mm_hook base;
    ema_kind kind;
    double momentum;
    int64_t interval, gamma, begin_iter, begin_epoch;
    bool update_buffers, strict_load, enabled_by_epoch;
    mm_state_dict avg; /* averaged copies of the model's state, same order */
    bool *is_param;    /* avg entry i is a parameter (else a buffer) */
    int64_t steps;
    mm_module *model;
} ema_hook;

static void ema_destroy(mm_hook *h) {
    ema_hook *e = (ema_hook *)h;
    mm_state_dict_clear(&e->avg);
    free(e->avg.items);
    free(e->is_param);
    free(e);
}

static int is_param_cb(const char *name, mm_tensor *t, void *user) {
    (void)t;
    const char **want = user;
    if (strcmp(name, want[0]) == 0)
        want[1] = name; /* found */
    return MM_OK;
}

static bool model_has_param(mm_module *m, const char *name) {
    const char *want[2] = {name, NULL};
    (void)mm_module_named_parameters(m, is_param_cb, want);
    return want[1] != NULL;
}

/* The model's state dict, fresh (views of the live tensors). */
static int live_state(mm_module *m, mm_state_dict *sd) {
    *sd = (mm_state_dict){0};
    return mm_module_state_dict(m, sd);
}

/* Copy src's data into dst (same shape, any float dtypes). */
static int copy_data(mm_tensor *dst, mm_tensor *src) {
    mm_no_grad_push();
    int rc = mm_tensor_copy_(dst, src);
    mm_no_grad_pop();
    return rc;
}

static int ema_before_run(mm_hook *h, mm_runner *r) {
    ema_hook *e = (ema_hook *)h;
    e->model = mm_runner_model(r);
    mm_state_dict sd;
    int rc = live_state(e->model, &sd);
    if (!rc && !(e->is_param = calloc(sd.n ? sd.n : 1, sizeof *e->is_param)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    mm_pool *pool = NULL;
    if (!rc)
        rc = mm_pool_open(&pool);
    mm_no_grad_push();
    for (size_t i = 0; !rc && i < sd.n; i++) {
        mm_tensor *c = NULL;
        rc = mm_clone(sd.items[i].tensor, &c);
        if (!rc)
            rc = mm_state_dict_add(&e->avg, sd.items[i].name, c);
        e->is_param[i] = model_has_param(e->model, sd.items[i].name);
    }
    mm_no_grad_pop();
    mm_pool_close(pool);
    mm_state_dict_clear(&sd);
    free(sd.items);
    return rc;
}

static int ema_before_train(mm_hook *h, mm_runner *r) {
    ema_hook *e = (ema_hook *)h;
    if (e->enabled_by_epoch && e->begin_epoch > mm_runner_max_epochs(r))
        return mm_error_set(MM_EINVAL,
                            "EMAHook: begin_epoch (%lld) should be less than "
                            "or equal to max_epochs (%lld)",
                            (long long)e->begin_epoch,
                            (long long)mm_runner_max_epochs(r));
    if (!e->enabled_by_epoch && e->begin_iter > mm_runner_max_iters(r))
        return mm_error_set(MM_EINVAL,
                            "EMAHook: begin_iter (%lld) should be less than "
                            "or equal to max_iters (%lld)",
                            (long long)e->begin_iter,
                            (long long)mm_runner_max_iters(r));
    return MM_OK;
}

/* torch's lerp_ on floats: a + w (b - a) for w < 0.5, else
 * b - (b - a)(1 - w). */
static float lerpf(float a, float b, float w) {
    return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

static double lerpd(double a, double b, double w) {
    return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1.0 - w);
}

static int avg_func(ema_hook *e, mm_tensor *avg, mm_tensor *src) {
    if (!mm_tensor_is_contiguous(avg) || !mm_tensor_is_contiguous(src) ||
        avg->numel != src->numel)
        return mm_error_set(MM_EUNSUPPORTED,
                            "EMAHook: averages contiguous tensors only");
    double m = e->momentum;
    if (e->kind == EMA_SWA) /* add_(src - avg, 1 / (steps // interval + 1)) */
        m = 1.0 / (double)(e->steps / e->interval + 1);
    else if (e->kind == EMA_ANNEAL) {
        double g = (double)e->gamma / (double)(e->gamma + e->steps);
        m = m > g ? m : g;
    }
    if (avg->dtype == MM_F32 && src->dtype == MM_F32) {
        float *a = MM_DATA(avg, float);
        const float *s = MM_DATA(src, float);
        float w = (float)m;
        for (int64_t i = 0; i < avg->numel; i++)
            a[i] = e->kind == EMA_SWA ? a[i] + w * (s[i] - a[i])
                                      : lerpf(a[i], s[i], w);
        return MM_OK;
    }
    /* f64 in double; f16 and bf16 through double, rounded on the store. */
    for (int64_t i = 0; i < avg->numel; i++) {
        double a = mm_tensor_get_flat(avg, i), s = mm_tensor_get_flat(src, i);
        mm_tensor_set_flat(
            avg, i, e->kind == EMA_SWA ? a + m * (s - a) : lerpd(a, s, m));
    }
    return MM_OK;
}

/* BaseAveragedModel.update_parameters. */
static int ema_update(ema_hook *e) {
    mm_state_dict sd;
    int rc = live_state(e->model, &sd);
    for (size_t i = 0; !rc && i < e->avg.n; i++) {
        mm_tensor *avg = e->avg.items[i].tensor;
        mm_tensor *src = mm_state_dict_get(&sd, e->avg.items[i].name);
        if (!src)
            continue;
        bool averaged = e->is_param[i] || e->update_buffers;
        if (!averaged) {
            rc = copy_data(avg, src); /* buffers follow the model */
        } else if (e->steps == 0) {
            rc = copy_data(avg, src);
        } else if (e->steps % e->interval == 0 &&
                   (avg->dtype == MM_F32 || avg->dtype == MM_F64 ||
                    avg->dtype == MM_F16 || avg->dtype == MM_BF16)) {
            rc = avg_func(e, avg, src);
        }
    }
    mm_state_dict_clear(&sd);
    free(sd.items);
    if (!rc)
        e->steps++;
    return rc;
}

static bool ema_started(ema_hook *e, mm_runner *r) {
    return e->enabled_by_epoch ? mm_runner_epoch(r) + 1 >= e->begin_epoch
                               : mm_runner_iter(r) + 1 >= e->begin_iter;
}

static int ema_copy_from_model(ema_hook *e) {
    mm_state_dict sd;
    int rc = live_state(e->model, &sd);
    for (size_t i = 0; !rc && i < e->avg.n; i++) {
        mm_tensor *src = mm_state_dict_get(&sd, e->avg.items[i].name);
        if (src)
            rc = copy_data(e->avg.items[i].tensor, src);
    }
    mm_state_dict_clear(&sd);
    free(sd.items);
    return rc;
}

static int ema_after_train_iter(mm_hook *h, mm_runner *r, int64_t i,
                                const mm_value *b, const mm_value *o) {
    (void)i, (void)b, (void)o;
    ema_hook *e = (ema_hook *)h;
    return ema_started(e, r) ? ema_update(e) : ema_copy_from_model(e);
}

/* Exchange the model's and the averages' values (parameters, and buffers
 * with update_buffers). */
static int ema_swap(ema_hook *e) {
    mm_state_dict sd;
    int rc = live_state(e->model, &sd);
    mm_pool *pool = NULL;
    if (!rc)
        rc = mm_pool_open(&pool);
    mm_no_grad_push();
    for (size_t i = 0; !rc && i < e->avg.n; i++) {
        if (!e->is_param[i] && !e->update_buffers)
            continue;
        mm_tensor *src = mm_state_dict_get(&sd, e->avg.items[i].name);
        if (!src)
            continue;
        mm_tensor *tmp = NULL;
        mm_tensor *avg = e->avg.items[i].tensor;
        rc = mm_clone(avg, &tmp);
        if (!rc)
            rc = copy_data(avg, src);
        if (!rc)
            rc = copy_data(src, tmp);
    }
    mm_no_grad_pop();
    mm_pool_close(pool);
    mm_state_dict_clear(&sd);
    free(sd.items);
    return rc;
}

static int ema_swap_hook(mm_hook *h, mm_runner *r) {
    (void)r;
    return ema_swap((ema_hook *)h);
}

static int ema_swap_hook_m(mm_hook *h, mm_runner *r, const mm_value *m) {
    (void)r, (void)m;
    return ema_swap((ema_hook *)h);
}

/* The averaged weights go under state_dict.* (for deployment), the
 * model's under ema_state_dict.module.*, with ema_state_dict.steps: the
 * layout mmengine's _swap_ema_state_dict leaves. */
static int ema_before_save(mm_hook *h, mm_runner *r, mm_checkpoint *ck) {
    (void)r;
    ema_hook *e = (ema_hook *)h;
    mm_state_dict sd;
    int rc = live_state(e->model, &sd);
    mm_pool *pool = NULL;
    if (!rc)
        rc = mm_pool_open(&pool);
    mm_tensor *steps = NULL;
    if (!rc)
        rc = mm_scalar((double)e->steps, MM_I64, &steps);
    if (!rc)
        rc = mm_checkpoint_add(ck, "ema_state_dict.steps", steps);
    for (size_t i = 0; !rc && i < e->avg.n; i++) {
        const char *k = e->avg.items[i].name;
        char name[1024];
        mm_tensor *src = mm_state_dict_get(&sd, k);
        if (!src)
            continue;
        snprintf(name, sizeof name, "state_dict.%s", k);
        rc = mm_checkpoint_add(ck, name, e->avg.items[i].tensor);
        snprintf(name, sizeof name, "ema_state_dict.module.%s", k);
        if (!rc)
            rc = mm_checkpoint_add(ck, name, src);
    }
    mm_pool_close(pool);
    mm_state_dict_clear(&sd);
    free(sd.items);
    return rc;
}

static int ema_after_load(mm_hook *h, mm_runner *r, mm_checkpoint *ck) {
    ema_hook *e = (ema_hook *)h;
    bool has_ema = mm_checkpoint_get(ck, "ema_state_dict.steps") != NULL;
    if (has_ema && mm_runner_resuming(r)) {
        /* The model got the averages (state_dict.*): put those into avg and
         * the model's own weights back into the model. */
        int rc = ema_copy_from_model(e);
        mm_load_report rep = {0};
        if (!rc)
            rc = mm_checkpoint_load_module(ck, "ema_state_dict.module.",
                                           e->model, e->strict_load, &rep);
        mm_load_report_free(&rep);
        int64_t steps = 0;
        if (!rc && (rc = mm_tensor_item_i64(
                        mm_checkpoint_get(ck, "ema_state_dict.steps"),
                        &steps)) == MM_OK)
            e->steps = steps;
        return rc;
    }
    if (mm_runner_resuming(r))
        MM_WARN("There is no `ema_state_dict` in checkpoint. `EMAHook` will "
                "make a copy of `state_dict` as the initial `ema_state_dict`. "
                "If you want to resume training from a checkpoint without "
                "`ema_state_dict`, please make sure your model has been "
                "loaded successfully.");
    return ema_copy_from_model(e);
}

static const mm_hook_class ema_class = {
    .name = "EMAHook",
    .priority = MM_PRIORITY_NORMAL,
    .before_run = ema_before_run,
    .before_train = ema_before_train,
    .after_train_iter = ema_after_train_iter,
    .before_val_epoch = ema_swap_hook,
    .after_val_epoch = ema_swap_hook_m,
    .before_test_epoch = ema_swap_hook,
    .after_test_epoch = ema_swap_hook_m,
    .before_save_checkpoint = ema_before_save,
    .after_load_checkpoint = ema_after_load,
    .destroy = ema_destroy,
};

static int ema_build(mm_build_ctx *ctx, void **out) {
    ema_hook *e = calloc(1, sizeof *e);
    if (!e)
        return mm_error_set(MM_ENOMEM, "out of memory");
    e->base.cls = &ema_class;
    e->base.priority = ema_class.priority;
    const mm_value *node = mm_build_node(ctx);
    const char *type = NULL;
    int rc = mm_build_string(ctx, "ema_type", &type);
    if (!rc)
        rc = mm_build_float(ctx, "momentum", &e->momentum);
    if (!rc)
        rc = mm_build_int(ctx, "interval", &e->interval);
    if (!rc)
        rc = mm_build_int(ctx, "gamma", &e->gamma);
    if (!rc)
        rc = mm_build_int(ctx, "begin_iter", &e->begin_iter);
    if (!rc)
        rc = mm_build_int(ctx, "begin_epoch", &e->begin_epoch);
    if (!rc)
        rc = mm_build_bool(ctx, "update_buffers", &e->update_buffers);
    if (!rc)
        rc = mm_build_bool(ctx, "strict_load", &e->strict_load);
    if (!rc) {
        const char *t = strncmp(type, "mm.", 3) == 0 ? type + 3 : type;
        if (strcmp(t, "ExponentialMovingAverage") == 0)
            e->kind = EMA_EXP;
        else if (strcmp(t, "MomentumAnnealingEMA") == 0)
            e->kind = EMA_ANNEAL;
        else if (strcmp(t, "StochasticWeightAverage") == 0)
            e->kind = EMA_SWA;
        else
            rc = mm_error_set_at(
                MM_EINVAL, mm_value_loc(node),
                "ema_type '%s' is not ExponentialMovingAverage, "
                "MomentumAnnealingEMA or StochasticWeightAverage",
                type);
    }
    if (!rc && e->kind != EMA_SWA && !(e->momentum > 0 && e->momentum < 1))
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                             "momentum must be in range (0.0, 1.0) but got %g",
                             e->momentum);
    if (!rc && e->interval <= 0)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                             "interval must be positive");
    if (!rc && e->kind == EMA_ANNEAL && e->gamma <= 0)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                             "gamma must be greater than 0, but got %lld",
                             (long long)e->gamma);
    if (!rc && e->begin_iter != 0 && e->begin_epoch != 0)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                             "`begin_iter` and `begin_epoch` should not be "
                             "both set.");
    if (!rc && (e->begin_iter < 0 || e->begin_epoch < 0))
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                             "begin_iter and begin_epoch must not be negative");
    if (rc) {
        free(e);
        return rc;
    }
    if (e->kind != EMA_SWA && e->momentum > 0.5)
        MM_WARN("The value of momentum in EMA is usually a small number,which "
                "is different from the conventional notion of momentum but "
                "got %g. Please make sure the value is correct.",
                e->momentum);
    e->enabled_by_epoch = e->begin_epoch > 0;
    *out = e;
    return MM_OK;
}

/* ---- EarlyStoppingHook --------------------------------------------------- */

typedef struct early_stopping_hook {
    mm_hook base;
    char *monitor;
    int rule; /* +1 greater, -1 less */
    double min_delta, stopping_threshold, best_score;
    bool has_threshold, strict, check_finite;
    int64_t patience, wait_count;
} early_stopping_hook;

static bool es_compare(const early_stopping_hook *e, double x, double y) {
    return e->rule > 0 ? x > y : x < y;
}

static int es_after_val_epoch(mm_hook *h, mm_runner *r,
                              const mm_value *metrics) {
    early_stopping_hook *e = (early_stopping_hook *)h;
    const mm_value *v = mm_value_dict_get(metrics, e->monitor);
    if (!v || !mm_value_is_number(v)) {
        if (e->strict)
            return mm_error_set(MM_EINVAL,
                                "Early stopping conditioned on metric `%s` is "
                                "not available; set `strict=False` in "
                                "`EarlyStoppingHook`",
                                e->monitor);
        MM_WARN("Skip early stopping process since the evaluation results do "
                "not include `monitor` (%s).",
                e->monitor);
        return MM_OK;
    }
    double cur = mm_value_get_float(v);
    bool stop = false;
    char msg[512] = "";
    if (e->check_finite && !isfinite(cur)) {
        stop = true;
        snprintf(msg, sizeof msg,
                 "Monitored metric %s = %g is infinite. Previous best value "
                 "was %.3f.",
                 e->monitor, cur, e->best_score);
    } else if (e->has_threshold && es_compare(e, cur, e->stopping_threshold)) {
        stop = true;
        e->best_score = cur;
        snprintf(msg, sizeof msg,
                 "Stopping threshold reached: `%s` = %g is %s "
                 "than %g.",
                 e->monitor, cur, e->rule > 0 ? "greater" : "less",
                 e->stopping_threshold);
    } else if (es_compare(e, e->best_score + e->min_delta, cur)) {
        e->wait_count++;
        if (e->wait_count >= e->patience) {
            stop = true;
            snprintf(msg, sizeof msg,
                     "the monitored metric did not improve in "
                     "the last %lld records. best score: %.3f. ",
                     (long long)e->wait_count, e->best_score);
        }
    } else {
        e->best_score = cur;
        e->wait_count = 0;
    }
    if (stop) {
        mm_runner_stop_training(r);
        MM_INFO("%s", msg);
    }
    return MM_OK;
}

static void es_destroy(mm_hook *h) {
    free(((early_stopping_hook *)h)->monitor);
    free(h);
}

static const mm_hook_class early_stopping_class = {
    .name = "EarlyStoppingHook",
    .priority = MM_PRIORITY_LOWEST,
    .after_val_epoch = es_after_val_epoch,
    .destroy = es_destroy,
};

static int es_build(mm_build_ctx *ctx, void **out) {
    early_stopping_hook *e = calloc(1, sizeof *e);
    if (!e)
        return mm_error_set(MM_ENOMEM, "out of memory");
    e->base.cls = &early_stopping_class;
    e->base.priority = early_stopping_class.priority;
    const mm_value *node = mm_build_node(ctx);
    const char *monitor = NULL;
    int rc = mm_build_string(ctx, "monitor", &monitor);
    if (!rc && !(e->monitor = strdup(monitor)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc)
        rc = mm_build_float(ctx, "min_delta", &e->min_delta);
    if (!rc)
        rc = mm_build_bool(ctx, "strict", &e->strict);
    if (!rc)
        rc = mm_build_bool(ctx, "check_finite", &e->check_finite);
    if (!rc)
        rc = mm_build_int(ctx, "patience", &e->patience);
    const mm_value *th = mm_build_arg(ctx, "stopping_threshold");
    if (!rc && th && mm_value_is_number(th)) {
        e->has_threshold = true;
        e->stopping_threshold = mm_value_get_float(th);
    }
    const mm_value *rule = mm_build_arg(ctx, "rule");
    if (!rc && rule && mm_value_is_string(rule)) {
        const char *s = mm_value_get_string(rule);
        if (strcmp(s, "greater") == 0)
            e->rule = 1;
        else if (strcmp(s, "less") == 0)
            e->rule = -1;
        else
            rc = mm_error_set_at(MM_EINVAL, mm_value_loc(rule),
                                 "`rule` should be either \"greater\" or "
                                 "\"less\", but got %s",
                                 s);
    } else if (!rc) {
        static const char *const g[] = {"acc",       "top", "AR@",   "auc",
                                        "precision", "mAP", "mDice", "mIoU",
                                        "mAcc",      "aAcc"};
        for (int pass = 0; pass < 2 && !e->rule; pass++) {
            for (size_t i = 0; i < 10 && !e->rule; i++)
                if (pass ? strcasestr(monitor, g[i]) != NULL
                         : strcasecmp(monitor, g[i]) == 0)
                    e->rule = 1;
            if (!e->rule && (pass ? strcasestr(monitor, "loss") != NULL
                                  : strcasecmp(monitor, "loss") == 0))
                e->rule = -1;
        }
        if (!e->rule)
            rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                                 "Cannot infer the rule for %s, thus rule "
                                 "must be specified.",
                                 monitor);
    }
    if (rc) {
        es_destroy(&e->base);
        return rc;
    }
    if (e->rule < 0)
        e->min_delta = -e->min_delta;
    e->best_score = e->rule > 0 ? -INFINITY : INFINITY;
    *out = e;
    return MM_OK;
}

/* ---- registration -------------------------------------------------------- */

static const mm_param ema_params[] = {
    {.name = "ema_type",
     .type = MM_PARAM_STRING,
     .def = "ExponentialMovingAverage",
     .doc = "ExponentialMovingAverage, MomentumAnnealingEMA or "
            "StochasticWeightAverage"},
    {.name = "strict_load",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "load ema_state_dict strictly"},
    {.name = "begin_iter",
     .type = MM_PARAM_INT,
     .def = "0",
     .doc = "the iteration averaging starts at"},
    {.name = "begin_epoch",
     .type = MM_PARAM_INT,
     .def = "0",
     .doc = "the epoch averaging starts at"},
    {.name = "momentum",
     .type = MM_PARAM_FLOAT,
     .def = "0.0002",
     .doc = "avg = avg + momentum * (param - avg) (torch's lerp_)"},
    {.name = "interval",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "average every n updates"},
    {.name = "gamma",
     .type = MM_PARAM_INT,
     .def = "100",
     .doc = "MomentumAnnealingEMA: momentum >= gamma / (gamma + steps)"},
    {.name = "update_buffers",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "average buffers too (else they follow the model)"},
    {.name = "device",
     .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null",
     .doc = "accepted for mmengine configs (averages live with the model)"},
    MM_HOOK_BASE_PARAMS,
};

static const mm_param es_params[] = {
    {.name = "monitor",
     .type = MM_PARAM_STRING,
     .required = true,
     .doc = "the metric watched ('accuracy/top1')"},
    {.name = "rule",
     .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null",
     .doc = "greater or less (inferred from the name if null)"},
    {.name = "min_delta",
     .type = MM_PARAM_FLOAT,
     .def = "0.1",
     .doc = "smallest change that counts as an improvement"},
    {.name = "strict",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "a missing monitor is an error (else a warning)"},
    {.name = "check_finite",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "stop when the metric is NaN or infinite"},
    {.name = "patience",
     .type = MM_PARAM_INT,
     .def = "5",
     .doc = "evaluations without improvement before stopping"},
    {.name = "stopping_threshold",
     .type = MM_PARAM_FLOAT | MM_PARAM_NULL,
     .def = "null",
     .doc = "stop as soon as the metric passes this"},
    MM_HOOK_BASE_PARAMS,
};

static const mm_component custom_components[] = {
    {.kind = MM_HOOKS,
     .name = "EMAHook",
     .doc = "keeps an exponential moving average of the weights for val, "
            "test and checkpoints",
     .params = ema_params,
     .n_params = sizeof ema_params / sizeof ema_params[0],
     .build = ema_build,
     .destroy = mm_hook_destroy},
    {.kind = MM_HOOKS,
     .name = "EarlyStoppingHook",
     .doc = "stops training when a validation metric stops improving",
     .params = es_params,
     .n_params = sizeof es_params / sizeof es_params[0],
     .build = es_build,
     .destroy = mm_hook_destroy},
};

int mm_custom_hooks_register(void) {
    for (size_t i = 0; i < 2; i++) {
        int rc = mm_register(&custom_components[i]);
        if (rc)
            return rc;
    }
    return MM_OK;
}
