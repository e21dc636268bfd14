/* Parameter schedulers: mmengine's _ParamScheduler family (lr, momentum and
 * the generic *ParamScheduler forms) and their PARAM_SCHEDULERS components.
 *
 * Each step changes one hyper-parameter of every group. Most rules are
 * recursive, as mmengine's _get_value: the new value is computed from the
 * group's current one, so schedulers chained over the same or overlapping
 * ranges multiply onto each other exactly as in mmengine. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "optim_internal.h"

#define INF_STEP 1000000000LL /* mmengine's INF = int(1e9) */

typedef enum sched_kind {
    S_CONSTANT,
    S_COSINE,
    S_EXPONENTIAL,
    S_LINEAR,
    S_MULTISTEP,
    S_STEP,
    S_POLY,
    S_ONECYCLE,
    S_COSINE_RESTART,
    S_PLATEAU,
    S_KIND_COUNT
} sched_kind;

static const char *const kind_stem[S_KIND_COUNT] = {
    [S_CONSTANT] = "Constant",       [S_COSINE] = "CosineAnnealing",
    [S_EXPONENTIAL] = "Exponential", [S_LINEAR] = "Linear",
    [S_MULTISTEP] = "MultiStep",     [S_STEP] = "Step",
    [S_POLY] = "Poly",               [S_ONECYCLE] = "OneCycle",
    [S_COSINE_RESTART] = "CosineRestart", [S_PLATEAU] = "ReduceOnPlateau",
};

typedef struct phase {
    double end_step;
    const char *start, *end; /* group extra keys: initial_lr, max_lr, ... */
} phase;

struct mm_param_scheduler {
    const char *name; /* the component's name */
    sched_kind kind;
    mm_optim_wrapper *ow;
    char param[32]; /* mmengine's param_name: "lr", "momentum", ... */
    char field[32]; /* the optimizer's field: "lr", "momentum", "beta1" */
    int64_t begin, end, last_step, global_step;
    bool by_epoch, verbose;
    int n_groups;
    double *base_values, *last_values;
    /* rules' arguments */
    double factor, start_factor, end_factor, gamma, eta_min, eta_min_ratio,
        power;
    int64_t step_size, total_iters, T_max;
    size_t n_milestones;
    int64_t *milestones; /* sorted, repeats kept: Counter(milestones) */
    /* OneCycle */
    int64_t total_steps;
    bool anneal_cos;
    int n_phases;
    phase phases[3];
    char key_initial[48], key_max[48], key_min[48];
    /* CosineRestart */
    size_t n_periods;
    int64_t *periods, *cumulative;
    double *restart_weights;
    /* ReduceOnPlateau */
    char *monitor;
    bool rule_less, threshold_rel;
    double threshold, best, eps;
    int64_t patience, cooldown, cooldown_counter, num_bad_epochs;
    double *min_values;
};

/* ---- values of the groups ------------------------------------------------ */

static int group_value(const mm_param_scheduler *s, int g, double *out) {
    return optim_wrapper_group_get(s->ow, g, s->field, out);
}

static void record_last(mm_param_scheduler *s) {
    for (int g = 0; g < s->n_groups; g++)
        if (group_value(s, g, &s->last_values[g]) != MM_OK)
            s->last_values[g] = NAN;
}

static double eta_min_of(const mm_param_scheduler *s, double base) {
    return isnan(s->eta_min_ratio) ? s->eta_min : base * s->eta_min_ratio;
}

static double anneal(const mm_param_scheduler *s, double start, double end,
                     double pct) {
    if (s->anneal_cos)
        return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1);
    return (end - start) * pct + start;
}

static int64_t milestone_count(const mm_param_scheduler *s, int64_t step) {
    int64_t c = 0;
    for (size_t i = 0; i < s->n_milestones; i++)
        c += s->milestones[i] == step;
    return c;
}

/* mmengine's _get_value for group g, whose current value is `cur`. */
static int value_at(mm_param_scheduler *s, int g, double cur, double *out) {
    double base = s->base_values[g];
    int64_t t = s->last_step;
    switch (s->kind) {
    case S_CONSTANT:
        if (t == 0)
            *out = cur * s->factor;
        else if (t == s->total_iters)
            *out = cur * (1.0 / s->factor);
        else
            *out = cur;
        return MM_OK;
    case S_COSINE: {
        double em = eta_min_of(s, base), T = (double)s->T_max;
        if (t == 0)
            *out = cur;
        else if ((t - 1 - s->T_max) % (2 * s->T_max) == 0)
            *out = cur + (base - em) * (1 - cos(M_PI / T)) / 2;
        else
            *out = (1 + cos(M_PI * (double)t / T)) /
                       (1 + cos(M_PI * (double)(t - 1) / T)) * (cur - em) +
                   em;
        return MM_OK;
    }
    case S_EXPONENTIAL:
        *out = t == 0 ? cur : cur * s->gamma;
        return MM_OK;
    case S_LINEAR:
        if (t == 0)
            *out = cur * s->start_factor;
        else
            *out = cur * (1.0 + (s->end_factor - s->start_factor) /
                                    ((double)s->total_iters * s->start_factor +
                                     (double)(t - 1) *
                                         (s->end_factor - s->start_factor)));
        return MM_OK;
    case S_MULTISTEP: {
        int64_t c = milestone_count(s, t);
        *out = c ? cur * pow(s->gamma, (double)c) : cur;
        return MM_OK;
    }
    case S_STEP:
        *out = (t == 0 || t % s->step_size != 0) ? cur : cur * s->gamma;
        return MM_OK;
    case S_POLY:
        *out = t == 0 ? cur
                      : (cur - s->eta_min) *
                                pow(1 - 1.0 / (double)(s->total_iters - t + 1),
                                    s->power) +
                            s->eta_min;
        return MM_OK;
    case S_ONECYCLE: {
        if (t > s->total_steps)
            return mm_error_set(MM_EINVAL,
                                "%s: tried to step %lld times. The specified "
                                "number of total steps is %lld",
                                s->name, (long long)(t + 1),
                                (long long)s->total_steps);
        double start_step = 0;
        for (int i = 0; i < s->n_phases; i++) {
            const phase *ph = &s->phases[i];
            if ((double)t <= ph->end_step || i == s->n_phases - 1) {
                double pct = ((double)t - start_step) /
                             (ph->end_step - start_step);
                double *a = optim_wrapper_extra(s->ow, ph->start, false);
                double *b = optim_wrapper_extra(s->ow, ph->end, false);
                MM_ASSERT(a && b);
                *out = anneal(s, a[g], b[g], pct);
                break;
            }
            start_step = ph->end_step;
        }
        return MM_OK;
    }
    case S_COSINE_RESTART: {
        size_t idx = s->n_periods;
        for (size_t i = 0; i < s->n_periods; i++)
            if (t < s->cumulative[i]) {
                idx = i;
                break;
            }
        if (idx == s->n_periods) {
            *out = cur;
            return MM_OK;
        }
        int64_t restart = idx == 0 ? 0 : s->cumulative[idx - 1];
        double period = (double)s->periods[idx];
        int64_t step = t - restart;
        double eta_max = base * s->restart_weights[idx];
        double em = eta_min_of(s, base);
        if (step == 0)
            *out = eta_max;
        else
            *out = (1 + cos(M_PI * (double)step / period)) /
                       (1 + cos(M_PI * (double)(step - 1) / period)) *
                       (cur - em) +
                   em;
        return MM_OK;
    }
    case S_PLATEAU:
        *out = fmax(cur * s->factor, s->min_values[g]);
        return MM_OK;
    default:
        MM_ASSERT(0);
        return MM_EINVAL;
    }
}

/* Compute every group's new value first, then set them (mmengine builds the
 * list of values before assigning). */
static int apply_values(mm_param_scheduler *s) {
    double *next = malloc((size_t)(s->n_groups ? s->n_groups : 1) *
                          sizeof *next);
    if (!next)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", s->name);
    int rc = MM_OK;
    for (int g = 0; rc == MM_OK && g < s->n_groups; g++) {
        double cur;
        rc = group_value(s, g, &cur);
        if (rc == MM_OK)
            rc = value_at(s, g, cur, &next[g]);
    }
    for (int g = 0; rc == MM_OK && g < s->n_groups; g++) {
        if (s->kind == S_PLATEAU) {
            double cur;
            rc = group_value(s, g, &cur);
            if (rc != MM_OK || !(cur - next[g] > s->eps))
                continue;
        }
        rc = optim_wrapper_group_set(s->ow, g, s->field, next[g]);
        if (rc == MM_OK && s->verbose)
            MM_INFO("Adjusting parameter value of group %d to %.4e.", g,
                    next[g]);
    }
    free(next);
    if (rc != MM_OK)
        mm_error_context(rc, NULL, "%s (%s)", s->name, s->param);
    return rc;
}

int mm_param_scheduler_step(mm_param_scheduler *s) {
    if (s->kind == S_PLATEAU) { /* a step without metrics only counts */
        s->global_step++;
        return MM_OK;
    }
    s->global_step++;
    if (s->begin <= s->global_step && s->global_step < s->end) {
        s->last_step++;
        MM_TRY(apply_values(s));
    }
    record_last(s);
    return MM_OK;
}

static bool is_better(const mm_param_scheduler *s, double a, double best) {
    if (s->rule_less)
        return s->threshold_rel ? a < best * (1.0 - s->threshold)
                                : a < best - s->threshold;
    return s->threshold_rel ? a > best * (s->threshold + 1.0)
                            : a > best + s->threshold;
}

int mm_param_scheduler_step_metrics(mm_param_scheduler *s,
                                    const mm_value *metrics) {
    if (s->kind != S_PLATEAU) /* mmengine's step() takes no metrics */
        return mm_error_set(MM_EINVAL,
                            "%s: only ReduceOnPlateau schedulers step on "
                            "validation metrics",
                            s->name);
    if (!mm_value_is_dict(metrics))
        return mm_error_set(MM_ETYPE, "%s: metrics should be a dict, got %s",
                            s->name,
                            mm_value_type_name(mm_value_type_of(metrics)));
    if (s->begin <= s->global_step && s->global_step < s->end) {
        s->last_step++;
        const mm_value *m = mm_value_dict_get(metrics, s->monitor);
        if (!m || !mm_value_is_number(m)) {
            char keys[256] = "";
            size_t len = 0;
            for (size_t i = 0; i < mm_value_len(metrics) && len < 200; i++)
                len += (size_t)snprintf(keys + len, sizeof keys - len, "%s'%s'",
                                        i ? ", " : "",
                                        mm_value_dict_key_at(metrics, i));
            return mm_error_set(MM_ENOENT,
                                "%s: monitor '%s' is not among the metrics "
                                "[%s]",
                                s->name, s->monitor, keys);
        }
        double metric = mm_value_get_float(m);
        if (is_better(s, metric, s->best)) {
            s->best = metric;
            s->num_bad_epochs = 0;
        } else {
            s->num_bad_epochs++;
        }
        if (s->cooldown_counter > 0) {
            s->cooldown_counter--;
            s->num_bad_epochs = 0;
        }
        if (s->num_bad_epochs > s->patience) {
            MM_TRY(apply_values(s));
            s->cooldown_counter = s->cooldown;
            s->num_bad_epochs = 0;
        }
    }
    record_last(s);
    return MM_OK;
}

/* ---- accessors and state ------------------------------------------------- */

const char *mm_param_scheduler_name(const mm_param_scheduler *s) {
    return s->name;
}
bool mm_param_scheduler_by_epoch(const mm_param_scheduler *s) {
    return s->by_epoch;
}
bool mm_param_scheduler_needs_metrics(const mm_param_scheduler *s) {
    return s->kind == S_PLATEAU;
}

static mm_value *float_list(const double *v, int n) {
    mm_value *l = mm_value_new_list();
    for (int i = 0; l && i < n; i++)
        if (mm_value_list_append_take(l, mm_value_new_float(v[i])) != MM_OK) {
            mm_value_release(l);
            return NULL;
        }
    return l;
}

mm_value *mm_param_scheduler_last_values(const mm_param_scheduler *s) {
    return float_list(s->last_values, s->n_groups);
}

static int put(mm_value *d, const char *k, mm_value *v) {
    if (!v)
        return mm_error_set(MM_ENOMEM, "scheduler state: out of memory");
    return mm_value_dict_set_take(d, k, v);
}

static int fill_state(const mm_param_scheduler *s, mm_value *d) {
    MM_TRY(put(d, "param_name", mm_value_new_string(s->param)));
    MM_TRY(put(d, "begin", mm_value_new_int(s->begin)));
    MM_TRY(put(d, "end", mm_value_new_int(s->end)));
    MM_TRY(put(d, "by_epoch", mm_value_new_bool(s->by_epoch)));
    MM_TRY(put(d, "base_values", float_list(s->base_values, s->n_groups)));
    MM_TRY(put(d, "last_step", mm_value_new_int(s->last_step)));
    MM_TRY(put(d, "_global_step", mm_value_new_int(s->global_step)));
    MM_TRY(put(d, "verbose", mm_value_new_bool(s->verbose)));
    MM_TRY(put(d, "_last_value", float_list(s->last_values, s->n_groups)));
    if (s->kind == S_PLATEAU) {
        MM_TRY(put(d, "best", mm_value_new_float(s->best)));
        MM_TRY(put(d, "num_bad_epochs", mm_value_new_int(s->num_bad_epochs)));
        MM_TRY(put(d, "cooldown_counter",
                   mm_value_new_int(s->cooldown_counter)));
    }
    return MM_OK;
}

mm_value *mm_param_scheduler_state(const mm_param_scheduler *s) {
    mm_value *d = mm_value_new_dict();
    if (d && fill_state(s, d) != MM_OK) {
        mm_value_release(d);
        return NULL;
    }
    return d;
}

static int load_int(const mm_value *st, const char *k, int64_t *out) {
    const mm_value *v = mm_value_dict_get(st, k);
    if (!mm_value_is_int(v))
        return mm_error_set(MM_EINVAL, "scheduler state: no integer '%s'", k);
    *out = mm_value_get_int(v);
    return MM_OK;
}

static int load_floats(const mm_value *st, const char *k, double *out, int n) {
    const mm_value *v = mm_value_dict_get(st, k);
    if (!mm_value_is_list(v) || mm_value_len(v) != (size_t)n)
        return mm_error_set(MM_EINVAL,
                            "scheduler state: '%s' should be a list of %d "
                            "numbers (one per param group)",
                            k, n);
    for (int i = 0; i < n; i++) {
        const mm_value *e = mm_value_list_get(v, (size_t)i);
        if (!mm_value_is_number(e))
            return mm_error_set(MM_EINVAL, "scheduler state: '%s' holds a "
                                           "non-number",
                                k);
        out[i] = mm_value_get_float(e);
    }
    return MM_OK;
}

int mm_param_scheduler_load_state(mm_param_scheduler *s,
                                  const mm_value *state) {
    if (!mm_value_is_dict(state))
        return mm_error_set(MM_EINVAL, "%s: scheduler state is not a dict",
                            s->name);
    const mm_value *pn = mm_value_dict_get(state, "param_name");
    if (mm_value_is_string(pn) && strcmp(mm_value_get_string(pn), s->param))
        return mm_error_set(MM_EINVAL,
                            "%s: the saved scheduler changed '%s', this one "
                            "changes '%s'",
                            s->name, mm_value_get_string(pn), s->param);
    int64_t last_step = 0, global_step = 0;
    MM_TRY(load_int(state, "last_step", &last_step));
    MM_TRY(load_int(state, "_global_step", &global_step));
    double *base = malloc((size_t)(s->n_groups ? s->n_groups : 1) * 2 *
                          sizeof *base);
    if (!base)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", s->name);
    double *last = base + (s->n_groups ? s->n_groups : 1);
    int rc = load_floats(state, "base_values", base, s->n_groups);
    if (rc == MM_OK)
        rc = load_floats(state, "_last_value", last, s->n_groups);
    int64_t bad = 0, cool = 0;
    double best = 0;
    if (rc == MM_OK && s->kind == S_PLATEAU) {
        const mm_value *b = mm_value_dict_get(state, "best");
        rc = load_int(state, "num_bad_epochs", &bad);
        if (rc == MM_OK)
            rc = load_int(state, "cooldown_counter", &cool);
        if (rc == MM_OK && !mm_value_is_number(b))
            rc = mm_error_set(MM_EINVAL, "scheduler state: no number 'best'");
        if (rc == MM_OK)
            best = mm_value_get_float(b);
    }
    if (rc == MM_OK) {
        memcpy(s->base_values, base, (size_t)s->n_groups * sizeof *base);
        memcpy(s->last_values, last, (size_t)s->n_groups * sizeof *last);
        s->last_step = last_step;
        s->global_step = global_step;
        if (s->kind == S_PLATEAU) {
            s->best = best;
            s->num_bad_epochs = bad;
            s->cooldown_counter = cool;
        }
    }
    free(base);
    return rc;
}

void mm_param_scheduler_free(mm_param_scheduler *s) {
    if (!s)
        return;
    free(s->base_values);
    free(s->last_values);
    free(s->milestones);
    free(s->periods);
    free(s->cumulative);
    free(s->restart_weights);
    free(s->monitor);
    free(s->min_values);
    free(s);
}

void mm_param_scheduler_destroy(void *s) { mm_param_scheduler_free(s); }

void mm_param_schedulers_free(mm_param_scheduler **s, size_t n) {
    for (size_t i = 0; s && i < n; i++)
        mm_param_scheduler_free(s[i]);
    free(s);
}

/* ---- building ------------------------------------------------------------ */

static int arg_error(mm_build_ctx *ctx, const char *param, const char *fmt,
                     const char *what) {
    return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_arg(ctx, param)),
                           fmt, what);
}

/* A list of ints (milestones, periods), each times `scale`. */
static int int_list(mm_build_ctx *ctx, const char *param, int64_t scale,
                    int64_t **out, size_t *n) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (!mm_value_is_list(v) || mm_value_len(v) == 0)
        return arg_error(ctx, param, "%s: expected a non-empty list of ints",
                         param);
    *n = mm_value_len(v);
    *out = calloc(*n, sizeof **out);
    if (!*out)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", param);
    for (size_t i = 0; i < *n; i++) {
        const mm_value *e = mm_value_list_get(v, i);
        if (!mm_value_is_int(e))
            return mm_error_set_at(MM_ETYPE, mm_value_loc(e),
                                   "%s: expected a list of ints", param);
        (*out)[i] = mm_value_get_int(e) * scale;
    }
    return MM_OK;
}

static int opt_float(mm_build_ctx *ctx, const char *param, double *out) {
    const mm_value *v = mm_build_arg(ctx, param);
    *out = NAN;
    if (mm_value_is_null(v))
        return MM_OK;
    return mm_build_float(ctx, param, out);
}

/* Which kind and hyper-parameter the component's name means:
 * "<Stem>LR", "<Stem>Momentum" or "<Stem>ParamScheduler". */
static int parse_name(const char *name, sched_kind *kind, const char **param) {
    for (int k = 0; k < S_KIND_COUNT; k++) {
        size_t l = strlen(kind_stem[k]);
        if (strncmp(name, kind_stem[k], l) != 0)
            continue;
        const char *rest = name + l;
        if (!strcmp(rest, "LR"))
            *param = "lr";
        else if (!strcmp(rest, "Momentum"))
            *param = "momentum";
        else if (!strcmp(rest, "ParamScheduler"))
            *param = NULL;
        else
            continue;
        *kind = (sched_kind)k;
        return MM_OK;
    }
    return mm_error_set(MM_EINVAL, "no scheduler rule for '%s'", name);
}

/* The optimizer field a param_name changes (mmengine's MomentumSchedulerMixin
 * maps momentum to betas[0] for Adam-style optimizers). */
static int resolve_field(mm_build_ctx *ctx, mm_param_scheduler *s,
                         bool momentum_variant) {
    mm_optimizer *opt = mm_optim_wrapper_optimizer(s->ow);
    mm_optim_kind ok = mm_optimizer_kind(opt);
    snprintf(s->field, sizeof s->field, "%s", s->param);
    if (momentum_variant) {
        if (ok == MM_OPTIM_ADAM || ok == MM_OPTIM_ADAMW)
            snprintf(s->field, sizeof s->field, "beta1");
        else if (ok != MM_OPTIM_SGD && ok != MM_OPTIM_RMSPROP)
            return mm_error_set(MM_EINVAL,
                                "optimizer must support momentum when using "
                                "momentum scheduler (%s has neither momentum "
                                "nor betas)",
                                mm_optim_kind_name(ok));
        return MM_OK;
    }
    static const char *const known[MM_OPTIM_KIND_COUNT][9] = {
        [MM_OPTIM_SGD] = {"lr", "momentum", "dampening", "weight_decay"},
        [MM_OPTIM_ADAM] = {"lr", "eps", "weight_decay"},
        [MM_OPTIM_ADAMW] = {"lr", "eps", "weight_decay"},
        [MM_OPTIM_RMSPROP] = {"lr", "momentum", "alpha", "eps",
                              "weight_decay"},
        [MM_OPTIM_ADAGRAD] = {"lr", "lr_decay", "weight_decay", "eps"},
    };
    for (int i = 0; i < 9 && known[ok][i]; i++)
        if (!strcmp(known[ok][i], s->param))
            return MM_OK;
    char list[160] = "";
    size_t len = 0;
    for (int i = 0; i < 9 && known[ok][i]; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                i ? ", " : "", known[ok][i]);
    return mm_error_set_at(MM_EINVAL,
                           mm_value_loc(mm_build_arg(ctx, "param_name")),
                           "param_name: %s's param groups have no number "
                           "'%s' (%s)",
                           mm_optim_kind_name(ok), s->param, list);
}

/* mmengine's build_iter_from_epoch and the arguments every rule reads. */
static int read_args(mm_build_ctx *ctx, mm_param_scheduler *s, int64_t L) {
    switch (s->kind) {
    case S_CONSTANT:
        MM_TRY(mm_build_float(ctx, "factor", &s->factor));
        if (s->factor > 1.0 || s->factor < 0)
            return arg_error(ctx, "factor", "%s", "Constant multiplicative "
                                                  "factor should between 0 "
                                                  "and 1.");
        s->total_iters = s->end - s->begin - 1;
        break;
    case S_COSINE: {
        double em, ratio;
        MM_TRY(opt_float(ctx, "eta_min", &em));
        MM_TRY(opt_float(ctx, "eta_min_ratio", &ratio));
        if (isnan(em) && isnan(ratio))
            em = 0.0;
        if (!isnan(em) && !isnan(ratio))
            return arg_error(ctx, "eta_min_ratio", "%s",
                             "Either `eta_min` or `eta_min_ratio should be "
                             "specified");
        s->eta_min = em;
        s->eta_min_ratio = ratio;
        const mm_value *tm = mm_build_arg(ctx, "T_max");
        s->T_max = mm_value_is_int(tm) ? mm_value_get_int(tm) * L : 0;
        if (s->T_max == 0) /* T_max or end - begin, as Python's `or` */
            s->T_max = s->end - s->begin;
        break;
    }
    case S_EXPONENTIAL:
        MM_TRY(mm_build_float(ctx, "gamma", &s->gamma));
        break;
    case S_LINEAR:
        MM_TRY(mm_build_float(ctx, "start_factor", &s->start_factor));
        MM_TRY(mm_build_float(ctx, "end_factor", &s->end_factor));
        if (s->start_factor > 1.0 || s->start_factor < 0)
            return arg_error(ctx, "start_factor", "%s",
                             "Starting multiplicative factor should between 0 "
                             "and 1.");
        if (s->end_factor > 1.0 || s->end_factor < 0)
            return arg_error(ctx, "end_factor", "%s",
                             "Ending multiplicative factor should between 0 "
                             "and 1.");
        /* mmengine accepts 0 and then divides by it on the second step */
        if (s->start_factor == 0 && s->end_factor != 0)
            return arg_error(ctx, "start_factor", "%s",
                             "start_factor 0 makes the chained update divide "
                             "by zero; start from a small factor such as "
                             "0.001");
        s->total_iters = s->end - s->begin - 1;
        break;
    case S_MULTISTEP:
        MM_TRY(int_list(ctx, "milestones", L, &s->milestones,
                        &s->n_milestones));
        MM_TRY(mm_build_float(ctx, "gamma", &s->gamma));
        break;
    case S_STEP:
        MM_TRY(mm_build_int(ctx, "step_size", &s->step_size));
        if (s->step_size <= 0)
            return arg_error(ctx, "step_size", "%s",
                             "step_size: should be a positive integer");
        s->step_size *= L;
        MM_TRY(mm_build_float(ctx, "gamma", &s->gamma));
        break;
    case S_POLY:
        MM_TRY(mm_build_float(ctx, "eta_min", &s->eta_min));
        MM_TRY(mm_build_float(ctx, "power", &s->power));
        s->total_iters = s->end - s->begin - 1;
        break;
    case S_ONECYCLE:
        break; /* onecycle_args, which needs the groups */
    case S_COSINE_RESTART: {
        MM_TRY(int_list(ctx, "periods", L, &s->periods, &s->n_periods));
        const mm_value *w = mm_build_arg(ctx, "restart_weights");
        if (!mm_value_is_list(w) || mm_value_len(w) != s->n_periods)
            return arg_error(ctx, "restart_weights", "%s",
                             "periods and restart_weights should have the "
                             "same length.");
        s->restart_weights = calloc(s->n_periods, sizeof(double));
        s->cumulative = calloc(s->n_periods, sizeof(int64_t));
        if (!s->restart_weights || !s->cumulative)
            return mm_error_set(MM_ENOMEM, "%s: out of memory", s->name);
        for (size_t i = 0; i < s->n_periods; i++) {
            const mm_value *e = mm_value_list_get(w, i);
            if (!mm_value_is_number(e))
                return mm_error_set_at(MM_ETYPE, mm_value_loc(e),
                                       "restart_weights: expected numbers");
            s->restart_weights[i] = mm_value_get_float(e);
            s->cumulative[i] = s->periods[i] + (i ? s->cumulative[i - 1] : 0);
        }
        MM_TRY(opt_float(ctx, "eta_min", &s->eta_min));
        MM_TRY(opt_float(ctx, "eta_min_ratio", &s->eta_min_ratio));
        if (isnan(s->eta_min) == isnan(s->eta_min_ratio))
            return arg_error(ctx, "eta_min", "%s",
                             "exactly one of eta_min and eta_min_ratio should "
                             "be given");
        break;
    }
    case S_PLATEAU: {
        const char *monitor, *rule, *trule;
        MM_TRY(mm_build_string(ctx, "monitor", &monitor));
        MM_TRY(mm_build_string(ctx, "rule", &rule));
        MM_TRY(mm_build_string(ctx, "threshold_rule", &trule));
        MM_TRY(mm_build_float(ctx, "factor", &s->factor));
        MM_TRY(mm_build_int(ctx, "patience", &s->patience));
        MM_TRY(mm_build_float(ctx, "threshold", &s->threshold));
        MM_TRY(mm_build_int(ctx, "cooldown", &s->cooldown));
        MM_TRY(mm_build_float(ctx, "eps", &s->eps));
        if (s->factor >= 1.0)
            return arg_error(ctx, "factor", "%s", "Factor should be < 1.0.");
        if (s->threshold < 0)
            return arg_error(ctx, "threshold", "%s",
                             "threshold should be >= 0.");
        if (strcmp(rule, "less") && strcmp(rule, "greater"))
            return arg_error(ctx, "rule", "rule '%s' is unknown ('less' or "
                                          "'greater')",
                             rule);
        if (strcmp(trule, "rel") && strcmp(trule, "abs"))
            return arg_error(ctx, "threshold_rule",
                             "threshold_rule '%s' is unknown ('rel' or "
                             "'abs')",
                             trule);
        s->rule_less = !strcmp(rule, "less");
        s->threshold_rel = !strcmp(trule, "rel");
        s->best = s->rule_less ? (double)INF_STEP : -(double)INF_STEP;
        s->monitor = strdup(monitor);
        s->min_values = calloc((size_t)(s->n_groups ? s->n_groups : 1),
                               sizeof(double));
        if (!s->monitor || !s->min_values)
            return mm_error_set(MM_ENOMEM, "%s: out of memory", s->name);
        const mm_value *mv = mm_build_arg(ctx, "min_value");
        if (mm_value_is_list(mv)) {
            /* one per optimizer group; base_param_settings takes the last */
            int n = mm_optimizer_n_groups(mm_optim_wrapper_optimizer(s->ow));
            if (mm_value_len(mv) != (size_t)n)
                return mm_error_set_at(MM_EINVAL, mm_value_loc(mv),
                                       "min_value: expected %d min values "
                                       "(one per param group), got %zu",
                                       n, mm_value_len(mv));
            for (int g = 0; g < s->n_groups; g++) {
                const mm_value *e =
                    mm_value_list_get(mv, (size_t)(g < n ? g : n - 1));
                if (!mm_value_is_number(e))
                    return mm_error_set_at(MM_ETYPE, mm_value_loc(e),
                                           "min_value: expected numbers");
                s->min_values[g] = mm_value_get_float(e);
            }
        } else {
            double mval;
            MM_TRY(mm_build_float(ctx, "min_value", &mval));
            for (int g = 0; g < s->n_groups; g++)
                s->min_values[g] = mval;
        }
        break;
    }
    default:
        MM_ASSERT(0);
    }
    return MM_OK;
}

/* OneCycle writes initial/max/min of the schedule into the groups before
 * the common initialisation. */
static int onecycle_args(mm_build_ctx *ctx, mm_param_scheduler *s, int64_t L) {
    double pct, div, final_div;
    bool three;
    const char *strategy;
    MM_TRY(opt_float(ctx, "pct_start", &pct));
    MM_TRY(mm_build_float(ctx, "div_factor", &div));
    MM_TRY(mm_build_float(ctx, "final_div_factor", &final_div));
    MM_TRY(mm_build_bool(ctx, "three_phase", &three));
    MM_TRY(mm_build_string(ctx, "anneal_strategy", &strategy));
    const mm_value *ts = mm_build_arg(ctx, "total_steps");
    if (mm_value_is_int(ts)) {
        if (mm_value_get_int(ts) <= 0)
            return arg_error(ctx, "total_steps", "%s",
                             "Expected positive integer total_steps");
        s->total_steps = mm_value_get_int(ts) * L;
    } else {
        s->total_steps = s->end - s->begin;
    }
    if (pct < 0 || pct > 1)
        return arg_error(ctx, "pct_start", "%s",
                         "Expected float between 0 and 1 pct_start");
    if (strcmp(strategy, "cos") && strcmp(strategy, "linear"))
        return arg_error(ctx, "anneal_strategy",
                         "anneal_strategy must by one of \"cos\" or "
                         "\"linear\", instead got '%s'",
                         strategy);
    s->anneal_cos = !strcmp(strategy, "cos");
    snprintf(s->key_initial, sizeof s->key_initial, "initial_%s", s->param);
    snprintf(s->key_max, sizeof s->key_max, "max_%s", s->param);
    snprintf(s->key_min, sizeof s->key_min, "min_%s", s->param);
    double T = (double)s->total_steps;
    if (three) {
        s->n_phases = 3;
        s->phases[0] = (phase){pct * T - 1, s->key_initial, s->key_max};
        s->phases[1] = (phase){2 * pct * T - 2, s->key_max, s->key_initial};
        s->phases[2] = (phase){T - 1, s->key_initial, s->key_min};
    } else {
        s->n_phases = 2;
        s->phases[0] = (phase){pct * T - 1, s->key_initial, s->key_max};
        s->phases[1] = (phase){T - 1, s->key_max, s->key_min};
    }
    const mm_value *em = mm_build_arg(ctx, "eta_max");
    double *maxv = calloc((size_t)(s->n_groups ? s->n_groups : 1),
                          sizeof(double));
    if (!maxv)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", s->name);
    int rc = MM_OK;
    if (mm_value_is_list(em)) {
        if (mm_value_len(em) != (size_t)s->n_groups)
            rc = mm_error_set_at(MM_EINVAL, mm_value_loc(em),
                                 "eta_max: expected %d values for max_%s, "
                                 "got %zu",
                                 s->n_groups, s->param, mm_value_len(em));
        for (int g = 0; rc == MM_OK && g < s->n_groups; g++) {
            const mm_value *e = mm_value_list_get(em, (size_t)g);
            if (!mm_value_is_number(e))
                rc = mm_error_set_at(MM_ETYPE, mm_value_loc(e),
                                     "eta_max: expected numbers");
            else
                maxv[g] = mm_value_get_float(e);
        }
    } else {
        for (int g = 0; g < s->n_groups; g++)
            maxv[g] = mm_value_get_float(em);
    }
    if (rc == MM_OK && s->last_step == -1) {
        double *ini = optim_wrapper_extra(s->ow, s->key_initial, true);
        double *mx = optim_wrapper_extra(s->ow, s->key_max, true);
        double *mn = optim_wrapper_extra(s->ow, s->key_min, true);
        if (!ini || !mx || !mn)
            rc = MM_ENOMEM;
        for (int g = 0; rc == MM_OK && g < s->n_groups; g++) {
            ini[g] = maxv[g] / div;
            mx[g] = maxv[g];
            mn[g] = ini[g] / final_div;
        }
    }
    free(maxv);
    return rc;
}

static int sched_init(mm_build_ctx *ctx, mm_param_scheduler *s) {
    const mm_scheduler_args *args = mm_build_user(ctx);
    sched_kind kind = S_CONSTANT;
    const char *param = NULL;
    MM_TRY(parse_name(s->name, &kind, &param));
    s->kind = kind;
    s->ow = args->optim_wrapper;
    s->eta_min_ratio = NAN;
    if (!param)
        MM_TRY(mm_build_string(ctx, "param_name", &param));
    snprintf(s->param, sizeof s->param, "%s", param);
    MM_TRY(resolve_field(ctx, s, strstr(s->name, "Momentum") != NULL));
    if (kind == S_ONECYCLE && strcmp(s->param, "lr") != 0)
        return arg_error(ctx, "param_name",
                         "OneCycle only works for learning rate updating, "
                         "but got param_name '%s'",
                         s->param);

    bool convert;
    MM_TRY(mm_build_int(ctx, "begin", &s->begin));
    MM_TRY(mm_build_int(ctx, "last_step", &s->last_step));
    MM_TRY(mm_build_bool(ctx, "by_epoch", &s->by_epoch));
    MM_TRY(mm_build_bool(ctx, "verbose", &s->verbose));
    MM_TRY(mm_build_bool(ctx, "convert_to_iter_based", &convert));
    const mm_value *endv = mm_build_arg(ctx, "end");
    s->end = mm_value_is_int(endv) ? mm_value_get_int(endv) : INF_STEP;
    int64_t L = 1;
    if (convert) {
        if (kind == S_PLATEAU)
            return arg_error(ctx, "convert_to_iter_based", "%s",
                             "ReduceOnPlateau schedulers cannot be converted "
                             "to iteration-based ones");
        if (!s->by_epoch)
            return arg_error(ctx, "convert_to_iter_based", "%s",
                             "Only epoch-based kwargs whose `by_epoch=True` "
                             "can be converted to iter-based.");
        if (args->epoch_length <= 0)
            return arg_error(ctx, "convert_to_iter_based",
                             "%s: `epoch_length` must be a positive integer "
                             "(the train dataloader's length)",
                             "convert_to_iter_based");
        L = args->epoch_length;
        s->by_epoch = false;
        s->begin *= L;
        if (s->end != INF_STEP)
            s->end *= L;
    }
    if (s->end <= s->begin)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(endv),
                               "end should be larger than begin, but got "
                               "begin=%lld, end=%lld",
                               (long long)s->begin, (long long)s->end);
    if (s->last_step < -1)
        return arg_error(ctx, "last_step", "%s",
                         "last_step: should be -1 or a step index");

    s->n_groups = optim_wrapper_n_groups(s->ow);
    size_t ng = (size_t)(s->n_groups ? s->n_groups : 1);
    s->base_values = calloc(ng, sizeof(double));
    s->last_values = calloc(ng, sizeof(double));
    if (!s->base_values || !s->last_values)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", s->name);
    MM_TRY(read_args(ctx, s, L));
    if (kind == S_ONECYCLE)
        MM_TRY(onecycle_args(ctx, s, L));

    /* initial_<param>: recorded by the first scheduler of this parameter,
     * required when resuming with last_step given */
    char key[48];
    snprintf(key, sizeof key, "initial_%s", s->param);
    double *initial = optim_wrapper_extra(s->ow, key, false);
    if (!initial && s->last_step != -1 && s->n_groups > 0)
        return arg_error(ctx, "last_step",
                         "param '%s' is not specified in param_groups[0] "
                         "when resuming an optimizer",
                         key);
    if (!initial) {
        initial = optim_wrapper_extra(s->ow, key, true);
        if (!initial)
            return MM_ENOMEM;
        for (int g = 0; g < s->n_groups; g++)
            MM_TRY(group_value(s, g, &initial[g]));
    }
    memcpy(s->base_values, initial, (size_t)s->n_groups * sizeof(double));
    if (kind == S_PLATEAU) {
        s->global_step = 0;
        record_last(s);
        return MM_OK;
    }
    s->global_step = -1;
    return mm_param_scheduler_step(s);
}

static int build_scheduler(mm_build_ctx *ctx, void **out) {
    mm_param_scheduler *s = calloc(1, sizeof *s);
    if (!s)
        return mm_error_set(MM_ENOMEM, "scheduler: out of memory");
    s->name = mm_build_entry(ctx)->component->name;
    int rc = sched_init(ctx, s);
    if (rc != MM_OK) {
        mm_param_scheduler_free(s);
        return rc;
    }
    *out = s;
    return MM_OK;
}

/* mmengine's Runner: a scheduler without `end` ends with training. */
static int with_default_end(const mm_value *node, const mm_scheduler_args *a,
                            mm_value **out) {
    *out = NULL;
    if (!mm_value_is_dict(node) || mm_value_dict_get(node, "end"))
        return MM_OK;
    const mm_value *be = mm_value_dict_get(node, "by_epoch");
    bool by_epoch = !mm_value_is_bool(be) || mm_value_get_bool(be);
    int64_t end = by_epoch ? a->max_epochs : a->max_iters;
    if (end <= 0)
        return MM_OK;
    mm_value *c = mm_value_copy(node);
    if (!c || mm_value_dict_set_take(c, "end", mm_value_new_int(end)) != MM_OK) {
        mm_value_release(c);
        return mm_error_set(MM_ENOMEM, "param_scheduler: out of memory");
    }
    *out = c;
    return MM_OK;
}

int mm_param_schedulers_build(const mm_value *node, const char *path,
                              const char *default_scope,
                              const mm_scheduler_args *args,
                              mm_param_scheduler ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!node || mm_value_is_null(node))
        return MM_OK;
    bool list = mm_value_is_list(node);
    if (!list && !mm_value_is_dict(node))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(node),
                               "%s: expected a scheduler dict or a list of "
                               "them",
                               path);
    size_t count = list ? mm_value_len(node) : 1;
    mm_param_scheduler **v = calloc(count ? count : 1, sizeof *v);
    if (!v)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", path);
    int rc = MM_OK;
    for (size_t i = 0; rc == MM_OK && i < count; i++) {
        const mm_value *item = list ? mm_value_list_get(node, i) : node;
        char sub[256];
        if (list)
            snprintf(sub, sizeof sub, "%s.%zu", path, i);
        else
            snprintf(sub, sizeof sub, "%s", path);
        mm_value *copy;
        rc = with_default_end(item, args, &copy);
        void *obj = NULL;
        if (rc == MM_OK)
            rc = mm_registry_build(MM_PARAM_SCHEDULERS, copy ? copy : item,
                                   default_scope, sub, (void *)args, &obj);
        mm_value_release(copy);
        v[i] = obj;
    }
    if (rc != MM_OK) {
        mm_param_schedulers_free(v, count);
        return rc;
    }
    *out = v;
    *n = count;
    return MM_OK;
}

/* ---- PARAM_SCHEDULERS components ----------------------------------------- */

#define COMMON                                                                 \
    {.name = "begin",                                                          \
     .type = MM_PARAM_INT,                                                     \
     .def = "0",                                                               \
     .doc = "step at which to start updating"},                                \
        {.name = "end",                                                        \
         .type = MM_PARAM_INT | MM_PARAM_NULL,                                 \
         .def = "null",                                                        \
         .doc = "step at which to stop (null: the end of training)"},          \
        {.name = "last_step",                                                  \
         .type = MM_PARAM_INT,                                                 \
         .def = "-1",                                                          \
         .doc = "index of the last step (resume without state)"},              \
        {.name = "by_epoch",                                                   \
         .type = MM_PARAM_BOOL,                                                \
         .def = "true",                                                        \
         .doc = "steps are epochs (else iterations)"},                         \
        {.name = "verbose",                                                    \
         .type = MM_PARAM_BOOL,                                                \
         .def = "false",                                                       \
         .doc = "log every change"},                                           \
        {.name = "convert_to_iter_based",                                      \
         .type = MM_PARAM_BOOL,                                                \
         .def = "false",                                                       \
         .doc = "turn epoch bounds into iterations"}
#define PARAM_NAME                                                             \
    {.name = "param_name",                                                     \
     .type = MM_PARAM_STRING,                                                  \
     .required = true,                                                         \
     .doc = "the hyper-parameter to schedule (lr, momentum, weight_decay)"}
#define F(n, d, doc_) {.name = n, .type = MM_PARAM_FLOAT, .def = d, .doc = doc_}
#define FN(n, doc_)                                                            \
    {.name = n, .type = MM_PARAM_FLOAT | MM_PARAM_NULL, .def = "null",         \
     .doc = doc_}

/* Each rule's own arguments, then the common ones; the *ParamScheduler
 * forms add param_name. X(rule, ...) expands to both arrays. */
#define RULE(id, ...)                                                          \
    static const mm_param id##_params[] = {__VA_ARGS__, COMMON};               \
    static const mm_param id##_gparams[] = {PARAM_NAME, __VA_ARGS__, COMMON};

RULE(constant, F("factor", "0.3333333333333333",
                 "multiplier until the end of the range"))
RULE(cosine,
     {.name = "T_max",
      .type = MM_PARAM_INT | MM_PARAM_NULL,
      .def = "null",
      .doc = "maximum number of steps (null: end - begin)"},
     FN("eta_min", "minimum value (default 0)"),
     FN("eta_min_ratio", "minimum as a ratio of the base value"))
RULE(exponential, {.name = "gamma",
                   .type = MM_PARAM_FLOAT,
                   .required = true,
                   .doc = "multiplicative factor per step"})
RULE(linear, F("start_factor", "0.3333333333333333", "factor at begin"),
     F("end_factor", "1.0", "factor at end"))
RULE(multistep,
     {.name = "milestones",
      .type = MM_PARAM_LIST,
      .required = true,
      .doc = "steps at which to multiply by gamma"},
     F("gamma", "0.1", "multiplicative factor"))
RULE(step,
     {.name = "step_size",
      .type = MM_PARAM_INT,
      .required = true,
      .doc = "period of the decay"},
     F("gamma", "0.1", "multiplicative factor"))
RULE(poly, F("eta_min", "0", "minimum value at the end"),
     F("power", "1.0", "power of the polynomial"))
RULE(onecycle,
     {.name = "eta_max",
      .type = MM_PARAM_FLOAT | MM_PARAM_LIST,
      .def = "0",
      .doc = "upper value of the cycle (per group as a list)"},
     {.name = "total_steps",
      .type = MM_PARAM_INT | MM_PARAM_NULL,
      .def = "null",
      .doc = "steps in the cycle (null: end - begin)"},
     F("pct_start", "0.3", "fraction of the cycle spent increasing"),
     {.name = "anneal_strategy",
      .type = MM_PARAM_STRING,
      .def = "cos",
      .doc = "cos or linear"},
     F("div_factor", "25.0", "initial = eta_max / div_factor"),
     F("final_div_factor", "10000.0", "minimum = initial / final_div_factor"),
     {.name = "three_phase",
      .type = MM_PARAM_BOOL,
      .def = "false",
      .doc = "a third phase annihilating to the minimum"})
RULE(restart,
     {.name = "periods",
      .type = MM_PARAM_LIST,
      .required = true,
      .doc = "length of each cosine period"},
     {.name = "restart_weights",
      .type = MM_PARAM_LIST,
      .def = "[1]",
      .doc = "weight of the base value at each restart"},
     FN("eta_min", "minimum value"),
     FN("eta_min_ratio", "minimum as a ratio of the base value"))
RULE(plateau,
     {.name = "monitor",
      .type = MM_PARAM_STRING,
      .def = "loss",
      .doc = "the metric to watch"},
     {.name = "rule",
      .type = MM_PARAM_STRING,
      .def = "less",
      .doc = "less or greater is better"},
     F("factor", "0.1", "multiplier when reducing"),
     {.name = "patience",
      .type = MM_PARAM_INT,
      .def = "10",
      .doc = "bad steps tolerated"},
     F("threshold", "0.0001", "minimum change that counts"),
     {.name = "threshold_rule",
      .type = MM_PARAM_STRING,
      .def = "rel",
      .doc = "rel or abs"},
     {.name = "cooldown",
      .type = MM_PARAM_INT,
      .def = "0",
      .doc = "steps to wait after a reduction"},
     {.name = "min_value",
      .type = MM_PARAM_FLOAT | MM_PARAM_LIST,
      .def = "0.0",
      .doc = "lower bound (per group as a list)"},
     F("eps", "1e-08", "smallest change applied"))

#define COMP(name_, id, doc_)                                                  \
    {.kind = MM_PARAM_SCHEDULERS,                                              \
     .name = name_,                                                            \
     .doc = doc_,                                                              \
     .params = id##_params,                                                    \
     .n_params = sizeof id##_params / sizeof id##_params[0],                   \
     .build = build_scheduler,                                                 \
     .destroy = mm_param_scheduler_destroy}
#define GCOMP(name_, id, doc_)                                                 \
    {.kind = MM_PARAM_SCHEDULERS,                                              \
     .name = name_,                                                            \
     .doc = doc_,                                                              \
     .params = id##_gparams,                                                   \
     .n_params = sizeof id##_gparams / sizeof id##_gparams[0],                 \
     .build = build_scheduler,                                                 \
     .destroy = mm_param_scheduler_destroy}
#define THREE(stem, id, what)                                                  \
    COMP(stem "LR", id, "lr: " what), COMP(stem "Momentum", id, "momentum: " what), \
        GCOMP(stem "ParamScheduler", id, "any hyper-parameter: " what)

static const mm_component schedulers[] = {
    THREE("Constant", constant, "multiplied by factor until end"),
    THREE("CosineAnnealing", cosine, "cosine annealing"),
    THREE("Exponential", exponential, "multiplied by gamma every step"),
    THREE("Linear", linear, "linear change of the factor"),
    THREE("MultiStep", multistep, "multiplied by gamma at milestones"),
    THREE("Step", step, "multiplied by gamma every step_size"),
    THREE("Poly", poly, "polynomial decay"),
    COMP("OneCycleLR", onecycle, "lr: the 1cycle policy"),
    GCOMP("OneCycleParamScheduler", onecycle, "lr: the 1cycle policy"),
    THREE("CosineRestart", restart, "cosine annealing with restarts"),
    THREE("ReduceOnPlateau", plateau,
          "reduced when a metric stops improving"),
};

int mm_optim_register_schedulers(void) {
    return mm_register_all(schedulers,
                           sizeof schedulers / sizeof schedulers[0]);
}
