/* The optim wrapper (mmengine's OptimWrapper and AmpOptimWrapper), the
 * default constructor that turns a model and `paramwise_cfg` into parameter
 * groups, and their OPTIM_WRAPPERS components. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/autocast.h"
#include "mm/autograd.h"
#include "mm/log.h"
#include "mm/ops.h"
#include "optim_internal.h"

enum { CLIP_NONE, CLIP_NORM, CLIP_VALUE };

typedef struct group_extra {
    char *key;     /* "initial_lr", "max_lr", ... */
    double *value; /* one per group */
} group_extra;

struct mm_optim_wrapper {
    mm_optimizer *opt;
    bool amp;
    bool autocast_on; /* context_enter pushed a region */
    int64_t accumulative_counts;
    int64_t inner_count, max_counts, remainder_counts;
    int clip;
    double max_norm, norm_type, clip_value;
    bool error_if_nonfinite;
    double grad_norm;
    bool has_base; /* base_param_settings: more than one group */
    mm_optim_hparams base;
    size_t n_extra;
    group_extra *extra;
};

/* ---- lifetime and accessors --------------------------------------------- */

void mm_optim_wrapper_free(mm_optim_wrapper *ow) {
    if (!ow)
        return;
    if (ow->autocast_on)
        mm_autocast_pop();
    mm_optimizer_free(ow->opt);
    for (size_t i = 0; i < ow->n_extra; i++) {
        free(ow->extra[i].key);
        free(ow->extra[i].value);
    }
    free(ow->extra);
    free(ow);
}

void mm_optim_wrapper_destroy(void *ow) { mm_optim_wrapper_free(ow); }

mm_optimizer *mm_optim_wrapper_optimizer(const mm_optim_wrapper *ow) {
    return ow->opt;
}

double mm_optim_wrapper_grad_norm(const mm_optim_wrapper *ow) {
    return ow->grad_norm;
}

double *optim_wrapper_extra(mm_optim_wrapper *ow, const char *key,
                            bool create) {
    for (size_t i = 0; i < ow->n_extra; i++)
        if (strcmp(ow->extra[i].key, key) == 0)
            return ow->extra[i].value;
    if (!create)
        return NULL;
    int n = optim_wrapper_n_groups(ow);
    group_extra *e = realloc(ow->extra, (ow->n_extra + 1) * sizeof *e);
    if (!e) {
        mm_error_set(MM_ENOMEM, "optim wrapper: out of memory");
        return NULL;
    }
    ow->extra = e;
    e = &ow->extra[ow->n_extra];
    e->key = strdup(key);
    e->value = calloc(n > 0 ? (size_t)n : 1, sizeof(double));
    if (!e->key || !e->value) {
        free(e->key);
        free(e->value);
        mm_error_set(MM_ENOMEM, "optim wrapper: out of memory");
        return NULL;
    }
    ow->n_extra++;
    return e->value;
}

int optim_wrapper_n_groups(const mm_optim_wrapper *ow) {
    return mm_optimizer_n_groups(ow->opt) + (ow->has_base ? 1 : 0);
}

static double *base_field(mm_optim_wrapper *ow, const char *f) {
    mm_optim_hparams *h = &ow->base;
    struct {
        const char *name;
        double *p;
    } map[] = {{"lr", &h->lr},
               {"weight_decay", &h->weight_decay},
               {"momentum", &h->momentum},
               {"dampening", &h->dampening},
               {"beta1", &h->beta1},
               {"beta2", &h->beta2},
               {"eps", &h->eps},
               {"alpha", &h->alpha},
               {"lr_decay", &h->lr_decay},
               {"initial_accumulator_value", &h->initial_accumulator_value}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i].name, f))
            return map[i].p;
    return NULL;
}

int optim_wrapper_group_get(const mm_optim_wrapper *ow, int g,
                            const char *field, double *out) {
    if (!ow->has_base || g != mm_optimizer_n_groups(ow->opt))
        return mm_optimizer_group_get(ow->opt, g, field, out);
    double *p = base_field((mm_optim_wrapper *)ow, field);
    if (!p)
        return mm_error_set(MM_ENOENT, "base_param_settings: no '%s'", field);
    *out = *p;
    return MM_OK;
}

int optim_wrapper_group_set(mm_optim_wrapper *ow, int g, const char *field,
                            double value) {
    if (!ow->has_base || g != mm_optimizer_n_groups(ow->opt))
        return mm_optimizer_group_set(ow->opt, g, field, value);
    double *p = base_field(ow, field);
    if (!p)
        return mm_error_set(MM_ENOENT, "base_param_settings: no '%s'", field);
    *p = value;
    return MM_OK;
}

void mm_optim_wrapper_init_counts(mm_optim_wrapper *ow, int64_t cur_iter,
                                  int64_t max_iters) {
    ow->inner_count = cur_iter;
    ow->max_counts = max_iters;
    if (ow->inner_count % ow->accumulative_counts != 0)
        MM_WARN("Resumed iteration number is not divisible by "
                "accumulative_counts, which means the gradient of some "
                "iterations is lost and the result may be influenced "
                "slightly.");
    ow->remainder_counts = ow->max_counts % ow->accumulative_counts;
}

/* ---- the training step -------------------------------------------------- */

int mm_optim_wrapper_context_enter(mm_optim_wrapper *ow) {
    if (!ow->amp || ow->autocast_on)
        return MM_OK;
    MM_TRY(mm_autocast_push(MM_BF16));
    ow->autocast_on = true;
    return MM_OK;
}

void mm_optim_wrapper_context_exit(mm_optim_wrapper *ow) {
    if (ow->autocast_on) {
        mm_autocast_pop();
        ow->autocast_on = false;
    }
}

/* mmengine's _get_loss_factor: the window size, or the remainder for the
 * last, shortened window when training ends mid-window. */
static int64_t loss_factor(const mm_optim_wrapper *ow) {
    if (ow->accumulative_counts == 1)
        return 1;
    if (ow->max_counts == -1)
        return ow->accumulative_counts;
    if (ow->inner_count < ow->max_counts - ow->remainder_counts)
        return ow->accumulative_counts;
    return ow->remainder_counts;
}

static bool should_update(const mm_optim_wrapper *ow) {
    return ow->inner_count % ow->accumulative_counts == 0 ||
           ow->inner_count == ow->max_counts;
}

/* The gradients clip_grad works on: every parameter that requires grad and
 * has one, over all groups (mmengine's _clip_grad). */
static int for_each_grad(mm_optim_wrapper *ow,
                         int (*fn)(mm_tensor *grad, void *user), void *user) {
    int ng = mm_optimizer_n_groups(ow->opt);
    for (int g = 0; g < ng; g++) {
        int n;
        mm_tensor *const *params;
        MM_TRY(mm_optimizer_group_params(ow->opt, g, &n, &params));
        for (int i = 0; i < n; i++) {
            mm_tensor *grad = params[i]->requires_grad
                                  ? mm_tensor_grad(params[i])
                                  : NULL;
            if (!grad)
                continue;
            if (grad->dtype != MM_F32 && grad->dtype != MM_F64)
                return mm_error_set(MM_ETYPE,
                                    "clip_grad: gradients of dtype %s are "
                                    "not supported (f32 or f64)",
                                    mm_dtype_name(grad->dtype));
            if (!mm_tensor_is_contiguous(grad))
                return mm_error_set(MM_EINVAL, "clip_grad: a gradient is not "
                                               "contiguous");
            MM_TRY(fn(grad, user));
        }
    }
    return MM_OK;
}

static double grad_at(const mm_tensor *g, int64_t i) {
    return g->dtype == MM_F32 ? (double)MM_DATA(g, float)[i]
                              : MM_DATA(g, double)[i];
}

static void grad_put(mm_tensor *g, int64_t i, double v) {
    if (g->dtype == MM_F32)
        MM_DATA(g, float)[i] = (float)v;
    else
        MM_DATA(g, double)[i] = v;
}

typedef struct norm_acc {
    double norm_type;
    double acc; /* sum of |norm_g|^p, or the max for inf */
    bool any;
} norm_acc;

/* torch.nn.utils.clip_grad_norm_: the norm of the per-gradient norms. */
static int add_norm(mm_tensor *g, void *user) {
    norm_acc *a = user;
    double p = a->norm_type, s = 0;
    if (isinf(p)) {
        for (int64_t i = 0; i < g->numel; i++)
            s = fmax(s, fabs(grad_at(g, i)));
        a->acc = a->any ? fmax(a->acc, s) : s;
    } else {
        for (int64_t i = 0; i < g->numel; i++)
            s += p == 2 ? grad_at(g, i) * grad_at(g, i)
                        : pow(fabs(grad_at(g, i)), p);
        double n = p == 2 ? sqrt(s) : pow(s, 1 / p);
        if (g->dtype == MM_F32)
            n = (float)n; /* torch's per-tensor norm is in the grad's dtype */
        a->acc += p == 2 ? n * n : pow(n, p);
    }
    a->any = true;
    return MM_OK;
}

static int scale_grad(mm_tensor *g, void *user) {
    double c = *(double *)user;
    for (int64_t i = 0; i < g->numel; i++)
        grad_put(g, i, grad_at(g, i) * c);
    return MM_OK;
}

static int clamp_grad(mm_tensor *g, void *user) {
    double c = *(double *)user;
    /* torch.clamp keeps a NaN (fmax/fmin would drop it for the bound). */
    for (int64_t i = 0; i < g->numel; i++) {
        double v = grad_at(g, i);
        grad_put(g, i, v < -c ? -c : v > c ? c : v);
    }
    return MM_OK;
}

static int clip_grads(mm_optim_wrapper *ow) {
    if (ow->clip == CLIP_VALUE)
        return for_each_grad(ow, clamp_grad, &ow->clip_value);
    norm_acc a = {.norm_type = ow->norm_type};
    MM_TRY(for_each_grad(ow, add_norm, &a));
    if (!a.any)
        return MM_OK; /* mmengine clips only when some gradient exists */
    double p = ow->norm_type;
    double total = isinf(p) ? a.acc : p == 2 ? sqrt(a.acc) : pow(a.acc, 1 / p);
    if (ow->error_if_nonfinite && !isfinite(total))
        return mm_error_set(MM_EINVAL,
                            "clip_grad: the total norm of order %g for "
                            "gradients is non-finite, so it cannot be "
                            "clipped (set error_if_nonfinite: false to "
                            "scale by it anyway)",
                            p);
    double coef = ow->max_norm / (total + 1e-6);
    /* torch multiplies by clamp(coef, max=1), which keeps a NaN: a NaN
     * norm turns every gradient into NaN, as in PyTorch. */
    if (!(coef >= 1.0))
        MM_TRY(for_each_grad(ow, scale_grad, &coef));
    ow->grad_norm = total;
    return MM_OK;
}

int mm_optim_wrapper_update_params(mm_optim_wrapper *ow, mm_tensor *loss) {
    int64_t factor = loss_factor(ow);
    if (factor <= 0)
        return mm_error_set(MM_EINVAL,
                            "optim wrapper: loss factor %lld is not positive "
                            "(init_counts got cur_iter %lld, max_iters %lld)",
                            (long long)factor, (long long)ow->inner_count,
                            (long long)ow->max_counts);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *scaled = loss;
    int rc = factor == 1 ? MM_OK : mm_div_scalar(loss, (double)factor, &scaled);
    if (rc == MM_OK)
        rc = mm_backward(scaled);
    mm_pool_close(pool);
    MM_TRY(rc);
    ow->inner_count++;
    if (!should_update(ow))
        return MM_OK;
    if (ow->clip != CLIP_NONE)
        MM_TRY(clip_grads(ow));
    MM_TRY(mm_optimizer_step(ow->opt));
    mm_optimizer_zero_grad(ow->opt, true);
    return MM_OK;
}

/* ---- lr and momentum ---------------------------------------------------- */

static mm_value *per_group(const mm_optim_wrapper *ow, const char *name,
                           const char *field) {
    mm_value *d = mm_value_new_dict(), *l = mm_value_new_list();
    int ng = mm_optimizer_n_groups(ow->opt);
    for (int g = 0; d && l && g < ng; g++) {
        double v = 0; /* mmengine reports 0 for a group without momentum */
        if (field && mm_optimizer_group_get(ow->opt, g, field, &v) != MM_OK)
            v = 0;
        if (mm_value_list_append_take(l, mm_value_new_float(v)) != MM_OK)
            goto fail;
    }
    if (d && l && mm_value_dict_set_take(d, name, l) == MM_OK)
        return d;
    l = NULL;
fail:
    mm_value_release(l);
    mm_value_release(d);
    return NULL;
}

static const char *momentum_field(mm_optim_kind kind) {
    switch (kind) {
    case MM_OPTIM_SGD:
    case MM_OPTIM_RMSPROP:
        return "momentum";
    case MM_OPTIM_ADAM:
    case MM_OPTIM_ADAMW:
        return "beta1";
    default:
        return NULL;
    }
}

mm_value *mm_optim_wrapper_get_lr(const mm_optim_wrapper *ow) {
    mm_value *d = per_group(ow, "lr", "lr");
    if (!d || !ow->has_base)
        return d;
    /* mmengine puts base_lr first */
    mm_value *r = mm_value_new_dict(), *l = mm_value_new_list();
    if (r && l && mm_value_list_append_take(l, mm_value_new_float(ow->base.lr)) == MM_OK &&
        mm_value_dict_set_take(r, "base_lr", l) == MM_OK) {
        l = NULL;
        if (mm_value_dict_set(r, "lr", mm_value_dict_get(d, "lr")) == MM_OK) {
            mm_value_release(d);
            return r;
        }
    }
    mm_value_release(l);
    mm_value_release(r);
    mm_value_release(d);
    return NULL;
}

mm_value *mm_optim_wrapper_get_momentum(const mm_optim_wrapper *ow) {
    return per_group(ow, "momentum",
                     momentum_field(mm_optimizer_kind(ow->opt)));
}

/* ---- state -------------------------------------------------------------- */

/* torch's param_groups keys of each optimizer, in its order. */
static const char *const group_keys[MM_OPTIM_KIND_COUNT][8] = {
    [MM_OPTIM_SGD] = {"lr", "momentum", "dampening", "weight_decay",
                      "nesterov", "maximize"},
    [MM_OPTIM_ADAM] = {"lr", "betas", "eps", "weight_decay", "amsgrad",
                       "maximize"},
    [MM_OPTIM_ADAMW] = {"lr", "betas", "eps", "weight_decay", "amsgrad",
                        "maximize"},
    [MM_OPTIM_RMSPROP] = {"lr", "momentum", "alpha", "eps", "centered",
                          "weight_decay", "maximize"},
    [MM_OPTIM_ADAGRAD] = {"lr", "lr_decay", "weight_decay", "eps",
                          "initial_accumulator_value", "maximize"},
};

static bool is_bool_key(const char *k) {
    return !strcmp(k, "nesterov") || !strcmp(k, "maximize") ||
           !strcmp(k, "amsgrad") || !strcmp(k, "centered");
}

static int set_take(mm_value *d, const char *k, mm_value *v) {
    if (!v)
        return mm_error_set(MM_ENOMEM, "optim wrapper: out of memory");
    return mm_value_dict_set_take(d, k, v);
}

static int group_state(const mm_optim_wrapper *ow, int g, int *first,
                       mm_value *d) {
    const mm_optim_hparams *hp = mm_optimizer_group_hparams(ow->opt, g);
    mm_optim_kind kind = mm_optimizer_kind(ow->opt);
    for (int i = 0; i < 8 && group_keys[kind][i]; i++) {
        const char *k = group_keys[kind][i];
        if (!strcmp(k, "betas")) {
            mm_value *b = mm_value_new_list();
            MM_TRY(set_take(d, k, b));
            MM_TRY(mm_value_list_append_take(b, mm_value_new_float(hp->beta1)));
            MM_TRY(mm_value_list_append_take(b, mm_value_new_float(hp->beta2)));
            continue;
        }
        double v;
        MM_TRY(mm_optimizer_group_get(ow->opt, g, k, &v));
        MM_TRY(set_take(d, k, is_bool_key(k) ? mm_value_new_bool(v != 0)
                                              : mm_value_new_float(v)));
    }
    for (size_t e = 0; e < ow->n_extra; e++)
        MM_TRY(set_take(d, ow->extra[e].key,
                        mm_value_new_float(ow->extra[e].value[g])));
    int n;
    mm_tensor *const *params;
    MM_TRY(mm_optimizer_group_params(ow->opt, g, &n, &params));
    mm_value *idx = mm_value_new_list();
    MM_TRY(set_take(d, "params", idx));
    for (int i = 0; i < n; i++)
        MM_TRY(mm_value_list_append_take(idx, mm_value_new_int(*first + i)));
    *first += n;
    return MM_OK;
}

static int wrapper_state(const mm_optim_wrapper *ow, mm_value *st) {
    mm_value *groups = mm_value_new_list();
    MM_TRY(set_take(st, "param_groups", groups));
    int first = 0;
    for (int g = 0; g < mm_optimizer_n_groups(ow->opt); g++) {
        mm_value *d = mm_value_new_dict();
        MM_TRY(mm_value_list_append_take(groups, d));
        if (!d)
            return mm_error_set(MM_ENOMEM, "optim wrapper: out of memory");
        MM_TRY(group_state(ow, g, &first, d));
    }
    if (ow->has_base) {
        int nb = mm_optimizer_n_groups(ow->opt);
        mm_value *b = mm_value_new_dict();
        MM_TRY(set_take(st, "base_param_settings", b));
        const char *keys[] = {"lr", "weight_decay", "momentum", "beta1",
                              "eps"};
        for (size_t i = 0; i < 5; i++)
            MM_TRY(set_take(b, keys[i],
                            mm_value_new_float(*base_field(
                                (mm_optim_wrapper *)ow, keys[i]))));
        for (size_t e = 0; e < ow->n_extra; e++)
            MM_TRY(set_take(b, ow->extra[e].key,
                            mm_value_new_float(ow->extra[e].value[nb])));
    }
    if (ow->amp) /* the CPU's bf16 AMP runs without a loss scaler, as
                    torch's disabled GradScaler, whose state is empty */
        MM_TRY(set_take(st, "loss_scaler", mm_value_new_dict()));
    return MM_OK;
}

int mm_optim_wrapper_state_dict(const mm_optim_wrapper *ow,
                                mm_state_dict *tensors, mm_value **state) {
    mm_value *st = mm_value_new_dict();
    if (!st)
        return mm_error_set(MM_ENOMEM, "optim wrapper: out of memory");
    int rc = wrapper_state(ow, st);
    size_t n = mm_optimizer_state_count(ow->opt);
    for (size_t i = 0; rc == MM_OK && i < n; i++) {
        char name[128];
        mm_tensor *t;
        rc = mm_optimizer_state_at(ow->opt, i, name, sizeof name, &t);
        if (rc == MM_OK)
            rc = mm_state_dict_add(tensors, name, t);
    }
    if (rc != MM_OK) {
        mm_value_release(st);
        return rc;
    }
    *state = st;
    return MM_OK;
}

static int load_group(mm_optim_wrapper *ow, int g, const mm_value *d) {
    mm_optim_kind kind = mm_optimizer_kind(ow->opt);
    for (int i = 0; i < 8 && group_keys[kind][i]; i++) {
        const char *k = group_keys[kind][i];
        const mm_value *v = mm_value_dict_get(d, k);
        if (!strcmp(k, "betas")) {
            if (!mm_value_is_list(v) || mm_value_len(v) != 2 ||
                !mm_value_is_number(mm_value_list_get(v, 0)) ||
                !mm_value_is_number(mm_value_list_get(v, 1)))
                return mm_error_set(MM_EINVAL, "optimizer state: param group "
                                               "%d: 'betas' is not a pair of "
                                               "numbers",
                                    g);
            MM_TRY(mm_optimizer_group_set(
                ow->opt, g, "beta1",
                mm_value_get_float(mm_value_list_get(v, 0))));
            MM_TRY(mm_optimizer_group_set(
                ow->opt, g, "beta2",
                mm_value_get_float(mm_value_list_get(v, 1))));
            continue;
        }
        if (!v || !(mm_value_is_number(v) || mm_value_is_bool(v)))
            return mm_error_set(MM_EINVAL,
                                "optimizer state: param group %d has no "
                                "number '%s'",
                                g, k);
        MM_TRY(mm_optimizer_group_set(ow->opt, g, k,
                                      mm_value_is_bool(v)
                                          ? (double)mm_value_get_bool(v)
                                          : mm_value_get_float(v)));
    }
    for (size_t i = 0; i < mm_value_len(d); i++) {
        const char *k = mm_value_dict_key_at(d, i);
        const mm_value *v = mm_value_dict_value_at(d, i);
        bool known = !strcmp(k, "params");
        for (int j = 0; j < 8 && group_keys[kind][j]; j++)
            known = known || !strcmp(k, group_keys[kind][j]);
        if (known || !mm_value_is_number(v))
            continue;
        double *e = optim_wrapper_extra(ow, k, true);
        if (!e)
            return MM_ENOMEM;
        e[g] = mm_value_get_float(v);
    }
    return MM_OK;
}

int mm_optim_wrapper_load_state_dict(mm_optim_wrapper *ow,
                                     const mm_state_dict *tensors,
                                     const mm_value *state) {
    const mm_value *groups = mm_value_dict_get(state, "param_groups");
    int ng = mm_optimizer_n_groups(ow->opt);
    if (!mm_value_is_list(groups))
        return mm_error_set(MM_EINVAL, "optimizer state: no 'param_groups' "
                                       "list");
    if (mm_value_len(groups) != (size_t)ng)
        return mm_error_set(MM_EINVAL,
                            "optimizer state: loaded state dict has %zu "
                            "parameter groups, the optimizer has %d",
                            mm_value_len(groups), ng);
    for (int g = 0; g < ng; g++) {
        const mm_value *idx =
            mm_value_dict_get(mm_value_list_get(groups, (size_t)g), "params");
        int n;
        mm_tensor *const *params;
        MM_TRY(mm_optimizer_group_params(ow->opt, g, &n, &params));
        if (!mm_value_is_list(idx) || mm_value_len(idx) != (size_t)n)
            return mm_error_set(MM_EINVAL,
                                "optimizer state: loaded state dict contains "
                                "a parameter group (%d) that doesn't match "
                                "the size of optimizer's group",
                                g);
    }
    for (int g = 0; g < ng; g++)
        MM_TRY(load_group(ow, g, mm_value_list_get(groups, (size_t)g)));
    const mm_value *b = mm_value_dict_get(state, "base_param_settings");
    if (ow->has_base && mm_value_is_dict(b)) {
        for (size_t i = 0; i < mm_value_len(b); i++) {
            const char *k = mm_value_dict_key_at(b, i);
            const mm_value *v = mm_value_dict_value_at(b, i);
            if (!mm_value_is_number(v))
                continue;
            double *f = base_field(ow, k);
            double *e = f ? NULL : optim_wrapper_extra(ow, k, true);
            if (!f && !e)
                return MM_ENOMEM;
            *(f ? f : &e[ng]) = mm_value_get_float(v);
        }
    }
    for (size_t i = 0; i < tensors->n; i++) {
        const char *name = tensors->items[i].name;
        if (!strncmp(name, "optimizer.", 10))
            name += 10;
        if (strncmp(name, "state.", 6) != 0)
            continue;
        MM_TRY(mm_optimizer_state_load(ow->opt, name, tensors->items[i].tensor));
    }
    return MM_OK;
}

/* ---- the default constructor (paramwise_cfg) ----------------------------- */

typedef struct custom_key {
    const char *key;
    const mm_value *cfg;
} custom_key;

typedef struct paramwise {
    const mm_value *node; /* paramwise_cfg */
    double base_lr;
    bool has_wd;
    double base_wd;
    custom_key *keys; /* sorted: longest first, then alphabetical */
    size_t n_keys;
    double bias_lr_mult, bias_decay_mult, norm_decay_mult, dwconv_decay_mult,
        flat_decay_mult; /* NAN: not given */
    bool bypass_duplicate;
    mm_optimizer *opt;
} paramwise;

static int cmp_keys(const void *a, const void *b) {
    const char *x = ((const custom_key *)a)->key,
               *y = ((const custom_key *)b)->key;
    size_t lx = strlen(x), ly = strlen(y);
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return strcmp(x, y);
}

static bool is_norm_class(const char *n) {
    return !strncmp(n, "BatchNorm", 9) || !strncmp(n, "SyncBatchNorm", 13) ||
           !strncmp(n, "InstanceNorm", 12) || !strncmp(n, "LayerNorm", 9) ||
           !strcmp(n, "GroupNorm");
}

static bool param_in_groups(const mm_optimizer *opt, const mm_tensor *p) {
    for (int g = 0; g < mm_optimizer_n_groups(opt); g++) {
        int n;
        mm_tensor *const *params;
        if (mm_optimizer_group_params(opt, g, &n, &params) != MM_OK)
            continue;
        for (int i = 0; i < n; i++)
            if (params[i] == p)
                return true;
    }
    return false;
}

/* A hyper-parameter key of a custom_keys entry: lr_mult and decay_mult are
 * the constructor's, the rest go into the group as mmengine copies them. */
static int apply_custom(mm_optimizer *opt, int g, const char *key,
                        const mm_value *v) {
    if (!strcmp(key, "lr_mult") || !strcmp(key, "decay_mult"))
        return MM_OK;
    if (!strcmp(key, "betas") && mm_value_is_list(v) && mm_value_len(v) == 2 &&
        mm_value_is_number(mm_value_list_get(v, 0)) &&
        mm_value_is_number(mm_value_list_get(v, 1))) {
        MM_TRY(mm_optimizer_group_set(opt, g, "beta1",
                                      mm_value_get_float(mm_value_list_get(v, 0))));
        return mm_optimizer_group_set(opt, g, "beta2",
                                      mm_value_get_float(mm_value_list_get(v, 1)));
    }
    double x;
    if (!(mm_value_is_number(v) || mm_value_is_bool(v)) ||
        mm_optimizer_group_get(opt, g, key, &x) != MM_OK)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "paramwise_cfg.custom_keys: '%s' is not a "
                               "hyper-parameter of %s (lr_mult, decay_mult "
                               "or the optimizer's arguments)",
                               key, mm_optim_kind_name(mm_optimizer_kind(opt)));
    return mm_optimizer_group_set(opt, g, key,
                                  mm_value_is_bool(v) ? mm_value_get_bool(v)
                                                      : mm_value_get_float(v));
}

static double get_mult(const mm_value *cfg, const char *k) {
    const mm_value *v = mm_value_dict_get(cfg, k);
    return mm_value_is_number(v) ? mm_value_get_float(v) : 1.0;
}

/* mmengine's DefaultOptimWrapperConstructor.add_params: one group per
 * parameter, module by module in preorder. */
static int add_params(paramwise *pw, mm_module *m, const char *prefix) {
    bool is_norm = is_norm_class(m->cls->name);
    bool is_dwconv = !strcmp(m->cls->name, "Conv2d") &&
                     ((mm_nn_conv *)m)->in_channels == ((mm_nn_conv *)m)->groups;
    for (size_t i = 0; i < m->n_params; i++) {
        const char *name = m->params[i].name;
        mm_tensor *p = m->params[i].tensor;
        char full[512];
        snprintf(full, sizeof full, "%s.%s", prefix, name);
        const char *shown = *prefix ? full : name;
        if (pw->bypass_duplicate && param_in_groups(pw->opt, p)) {
            MM_WARN("%s is duplicate. It is skipped since bypass_duplicate="
                    "True", prefix);
            continue;
        }
        if (!p->requires_grad) {
            MM_WARN("%s is skipped since its requires_grad=False", full);
            continue;
        }
        MM_TRY(mm_optimizer_add_param_group(pw->opt, 1, &p, NULL));
        int g = mm_optimizer_n_groups(pw->opt) - 1;
        bool custom = false;
        for (size_t k = 0; k < pw->n_keys && !custom; k++) {
            if (!strstr(full, pw->keys[k].key))
                continue;
            custom = true;
            const mm_value *c = pw->keys[k].cfg;
            MM_TRY(mm_optimizer_group_set(pw->opt, g, "lr",
                                          pw->base_lr * get_mult(c, "lr_mult")));
            if (pw->has_wd)
                MM_TRY(mm_optimizer_group_set(
                    pw->opt, g, "weight_decay",
                    pw->base_wd * get_mult(c, "decay_mult")));
            for (size_t j = 0; j < mm_value_len(c); j++)
                MM_TRY(apply_custom(pw->opt, g, mm_value_dict_key_at(c, j),
                                    mm_value_dict_value_at(c, j)));
        }
        if (!custom) {
            bool bias = !strcmp(name, "bias");
            if (bias && !is_norm && !isnan(pw->bias_lr_mult))
                MM_TRY(mm_optimizer_group_set(pw->opt, g, "lr",
                                              pw->base_lr * pw->bias_lr_mult));
            double mult = NAN; /* weight decay rules: first match wins */
            if (!pw->has_wd)
                mult = NAN;
            else if (is_norm && !isnan(pw->norm_decay_mult))
                mult = pw->norm_decay_mult;
            else if (bias && !isnan(pw->bias_decay_mult))
                mult = pw->bias_decay_mult;
            else if (is_dwconv && !isnan(pw->dwconv_decay_mult))
                mult = pw->dwconv_decay_mult;
            else if (p->ndim == 1 && !isnan(pw->flat_decay_mult))
                mult = pw->flat_decay_mult;
            if (!isnan(mult))
                MM_TRY(mm_optimizer_group_set(pw->opt, g, "weight_decay",
                                              pw->base_wd * mult));
        }
        MM_DEBUG("paramwise_options -- %s: lr=%g weight_decay=%g", shown,
                 mm_optimizer_get_lr(pw->opt, g),
                 mm_optimizer_group_hparams(pw->opt, g)->weight_decay);
    }
    for (size_t c = 0; c < m->n_children; c++) {
        char child[512];
        if (*prefix)
            snprintf(child, sizeof child, "%s.%s", prefix, m->children[c].name);
        else
            snprintf(child, sizeof child, "%s", m->children[c].name);
        MM_TRY(add_params(pw, m->children[c].module, child));
    }
    return MM_OK;
}

static int read_mult(const mm_value *cfg, const char *key, double *out) {
    const mm_value *v = mm_value_dict_get(cfg, key);
    *out = NAN;
    if (!v || mm_value_is_null(v))
        return MM_OK;
    if (!mm_value_is_number(v))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(v),
                               "paramwise_cfg.%s: expected a number", key);
    *out = mm_value_get_float(v);
    return MM_OK;
}

static const char *const paramwise_keys[] = {
    "custom_keys",     "bias_lr_mult",      "bias_decay_mult",
    "norm_decay_mult", "dwconv_decay_mult", "flat_decay_mult",
    "bypass_duplicate", "dcn_offset_lr_mult"};

static int check_paramwise_keys(const mm_value *cfg) {
    size_t nk = sizeof paramwise_keys / sizeof paramwise_keys[0];
    for (size_t i = 0; i < mm_value_len(cfg); i++) {
        const char *k = mm_value_dict_key_at(cfg, i);
        bool ok = false;
        for (size_t j = 0; j < nk; j++)
            ok = ok || !strcmp(k, paramwise_keys[j]);
        if (ok)
            continue;
        /* the closest known key by shared prefix, for the hint */
        const char *best = paramwise_keys[0];
        size_t best_len = 0;
        for (size_t j = 0; j < nk; j++) {
            size_t l = 0;
            while (k[l] && k[l] == paramwise_keys[j][l])
                l++;
            if (l > best_len) {
                best_len = l;
                best = paramwise_keys[j];
            }
        }
        return mm_error_set_at(MM_EINVAL, mm_value_dict_key_loc_at(cfg, i),
                               "paramwise_cfg: unknown key '%s' (did you "
                               "mean '%s'?)",
                               k, best);
    }
    return MM_OK;
}

static int build_paramwise(paramwise *pw, mm_module *model) {
    const mm_value *cfg = pw->node;
    MM_TRY(check_paramwise_keys(cfg));
    const mm_value *ck = mm_value_dict_get(cfg, "custom_keys");
    if (ck && !mm_value_is_null(ck)) {
        if (!mm_value_is_dict(ck))
            return mm_error_set_at(MM_ETYPE, mm_value_loc(ck),
                                   "paramwise_cfg.custom_keys: expected a "
                                   "dict of {key: {lr_mult, decay_mult}}");
        pw->n_keys = mm_value_len(ck);
        pw->keys = calloc(pw->n_keys ? pw->n_keys : 1, sizeof *pw->keys);
        if (!pw->keys)
            return mm_error_set(MM_ENOMEM, "paramwise_cfg: out of memory");
        for (size_t i = 0; i < pw->n_keys; i++) {
            pw->keys[i].key = mm_value_dict_key_at(ck, i);
            pw->keys[i].cfg = mm_value_dict_value_at(ck, i);
            if (!mm_value_is_dict(pw->keys[i].cfg))
                return mm_error_set_at(MM_ETYPE, mm_value_loc(pw->keys[i].cfg),
                                       "paramwise_cfg.custom_keys.%s: "
                                       "expected a dict",
                                       pw->keys[i].key);
            if (!pw->has_wd && mm_value_dict_get(pw->keys[i].cfg, "decay_mult"))
                return mm_error_set_at(
                    MM_EINVAL, mm_value_loc(pw->keys[i].cfg),
                    "paramwise_cfg.custom_keys.%s: decay_mult needs "
                    "optimizer.weight_decay (base_wd should not be None)",
                    pw->keys[i].key);
        }
        qsort(pw->keys, pw->n_keys, sizeof *pw->keys, cmp_keys);
    }
    MM_TRY(read_mult(cfg, "bias_lr_mult", &pw->bias_lr_mult));
    MM_TRY(read_mult(cfg, "bias_decay_mult", &pw->bias_decay_mult));
    MM_TRY(read_mult(cfg, "norm_decay_mult", &pw->norm_decay_mult));
    MM_TRY(read_mult(cfg, "dwconv_decay_mult", &pw->dwconv_decay_mult));
    MM_TRY(read_mult(cfg, "flat_decay_mult", &pw->flat_decay_mult));
    const char *need_wd[] = {"bias_decay_mult", "norm_decay_mult",
                             "dwconv_decay_mult"};
    for (size_t i = 0; i < 3 && !pw->has_wd; i++)
        if (mm_value_dict_get(cfg, need_wd[i]))
            return mm_error_set_at(MM_EINVAL,
                                   mm_value_loc(mm_value_dict_get(cfg, need_wd[i])),
                                   "paramwise_cfg.%s needs "
                                   "optimizer.weight_decay (base_wd should not "
                                   "be None)",
                                   need_wd[i]);
    const mm_value *bd = mm_value_dict_get(cfg, "bypass_duplicate");
    if (bd && !mm_value_is_bool(bd))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(bd),
                               "paramwise_cfg.bypass_duplicate: expected a "
                               "bool");
    pw->bypass_duplicate = bd && mm_value_get_bool(bd);
    return add_params(pw, model, "");
}

typedef struct collect {
    mm_tensor **v;
    int n, cap;
} collect;

static int collect_param(const char *name, mm_tensor *t, void *user) {
    (void)name;
    collect *c = user;
    for (int i = 0; i < c->n; i++)
        if (c->v[i] == t)
            return MM_OK; /* model.parameters() yields a shared one once */
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        mm_tensor **v = realloc(c->v, (size_t)cap * sizeof *v);
        if (!v)
            return mm_error_set(MM_ENOMEM, "optim wrapper: out of memory");
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = t;
    return MM_OK;
}

/* ---- OPTIM_WRAPPERS components ------------------------------------------- */

static int parse_clip(mm_optim_wrapper *ow, const mm_value *cg) {
    if (!cg || mm_value_is_null(cg))
        return MM_OK;
    const mm_srcloc *loc = mm_value_loc(cg);
    const mm_value *type = mm_value_dict_get(cg, "type");
    const char *t = mm_value_is_string(type) ? mm_value_get_string(type)
                                             : "norm";
    if (type && !mm_value_is_string(type))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(type),
                               "clip_grad.type: expected 'norm' or 'value'");
    ow->norm_type = 2;
    ow->error_if_nonfinite = false;
    size_t n_args = mm_value_len(cg) - (type ? 1 : 0);
    if (n_args == 0)
        return mm_error_set_at(MM_EINVAL, loc,
                               "clip_grad should be a non-empty dict "
                               "({max_norm: ...} or {type: value, "
                               "clip_value: ...})");
    bool norm = !strcmp(t, "norm");
    if (!norm && strcmp(t, "value") != 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(type),
                               "clip_grad.type: type of clip_grad should be "
                               "'norm' or 'value' but got '%s'",
                               t);
    bool have = false;
    for (size_t i = 0; i < mm_value_len(cg); i++) {
        const char *k = mm_value_dict_key_at(cg, i);
        const mm_value *v = mm_value_dict_value_at(cg, i);
        if (!strcmp(k, "type"))
            continue;
        bool num = mm_value_is_number(v);
        if (norm && !strcmp(k, "max_norm") && num) {
            ow->max_norm = mm_value_get_float(v);
            have = true;
        } else if (norm && !strcmp(k, "norm_type") &&
                   (num || (mm_value_is_string(v) &&
                            !strcmp(mm_value_get_string(v), "inf")))) {
            ow->norm_type = num ? mm_value_get_float(v) : INFINITY;
        } else if (norm && !strcmp(k, "error_if_nonfinite") &&
                   mm_value_is_bool(v)) {
            ow->error_if_nonfinite = mm_value_get_bool(v);
        } else if (!norm && !strcmp(k, "clip_value") && num) {
            ow->clip_value = mm_value_get_float(v);
            have = true;
        } else {
            return mm_error_set_at(
                MM_EINVAL, mm_value_dict_key_loc_at(cg, i),
                "clip_grad: '%s' is not a %s argument (%s)%s", k,
                norm ? "clip_grad_norm_" : "clip_grad_value_",
                norm ? "max_norm: number, norm_type: number or 'inf', "
                       "error_if_nonfinite: bool"
                     : "clip_value: number",
                norm && !strcmp(k, "clip_value")
                    ? "; clipping by value needs type: value"
                    : "");
        }
    }
    if (!have)
        return mm_error_set_at(MM_EINVAL, loc, "clip_grad: missing '%s'",
                               norm ? "max_norm" : "clip_value");
    ow->clip = norm ? CLIP_NORM : CLIP_VALUE;
    return MM_OK;
}

static int optional_number(const mm_value *node, const char *key, bool *has,
                           double *out) {
    const mm_value *v = mm_value_dict_get(node, key);
    *has = v && mm_value_is_number(v);
    if (*has)
        *out = mm_value_get_float(v);
    return MM_OK;
}

static int build_wrapper(mm_build_ctx *ctx, void **out) {
    mm_module *model = mm_build_user(ctx);
    bool amp = !strcmp(mm_build_entry(ctx)->component->name, "AmpOptimWrapper");
    if (!model)
        return mm_error_set(MM_EINVAL, "optim wrapper: no model to optimize");
    const char *ctor;
    MM_TRY(mm_build_string(ctx, "constructor", &ctor));
    if (strcmp(ctor, "DefaultOptimWrapperConstructor") != 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "constructor")),
                               "constructor: only "
                               "DefaultOptimWrapperConstructor is available, "
                               "not '%s'",
                               ctor);
    if (amp) {
        const mm_value *dt = mm_build_arg(ctx, "dtype");
        if (!mm_value_is_null(dt) &&
            strcmp(mm_value_get_string(dt), "bfloat16") != 0) {
            const char *s = mm_value_get_string(dt);
            if (!strcmp(s, "float16"))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(dt),
                                       "float16 AMP needs CUDA; use dtype: "
                                       "bfloat16 on the CPU");
            return mm_error_set_at(MM_EINVAL, mm_value_loc(dt),
                                   "dtype: AMP on the CPU runs in bfloat16 "
                                   "(dtype: bfloat16 or null), got '%s'",
                                   s);
        }
        const mm_value *ls = mm_build_arg(ctx, "loss_scale");
        if (mm_value_is_string(ls) &&
            strcmp(mm_value_get_string(ls), "dynamic") != 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(ls),
                                   "loss_scale must be of type float, dict, "
                                   "or \"dynamic\", but got '%s'",
                                   mm_value_get_string(ls));
    }
    mm_optim_wrapper *ow = calloc(1, sizeof *ow);
    if (!ow)
        return mm_error_set(MM_ENOMEM, "optim wrapper: out of memory");
    ow->amp = amp;
    ow->max_counts = -1;
    ow->remainder_counts = -1;
    ow->grad_norm = NAN;
    int rc = mm_build_int(ctx, "accumulative_counts", &ow->accumulative_counts);
    if (rc == MM_OK && ow->accumulative_counts < 1)
        rc = mm_error_set_at(MM_EINVAL,
                             mm_value_loc(mm_build_arg(ctx,
                                                       "accumulative_counts")),
                             "accumulative_counts must be at least 1, got "
                             "%lld",
                             (long long)ow->accumulative_counts);
    if (rc == MM_OK)
        rc = parse_clip(ow, mm_build_arg(ctx, "clip_grad"));
    void *opt = NULL;
    if (rc == MM_OK)
        rc = mm_build_child(ctx, "optimizer", &opt);
    ow->opt = opt;
    const mm_value *pcfg = mm_build_arg(ctx, "paramwise_cfg");
    if (rc == MM_OK && mm_value_is_dict(pcfg) && mm_value_len(pcfg) > 0) {
        const mm_value *onode = mm_build_arg(ctx, "optimizer");
        paramwise pw = {.node = pcfg, .opt = ow->opt};
        bool has_lr;
        optional_number(onode, "lr", &has_lr, &pw.base_lr);
        optional_number(onode, "weight_decay", &pw.has_wd, &pw.base_wd);
        if (!has_lr) { /* mmengine would multiply None: use the lr the
                          optimizer gives a group by default */
            mm_optim_hparams d;
            mm_optim_defaults(mm_optimizer_kind(ow->opt), &d);
            pw.base_lr = d.lr;
        }
        rc = build_paramwise(&pw, model);
        free(pw.keys);
    } else if (rc == MM_OK) {
        collect c = {0};
        rc = mm_module_named_parameters(model, collect_param, &c);
        if (rc == MM_OK && c.n > 0)
            rc = mm_optimizer_add_param_group(ow->opt, c.n, c.v, NULL);
        free(c.v);
    }
    if (rc != MM_OK) {
        mm_optim_wrapper_free(ow);
        return rc;
    }
    ow->has_base = mm_optimizer_n_groups(ow->opt) > 1;
    ow->base = *mm_optimizer_defaults(ow->opt);
    *out = ow;
    return MM_OK;
}

#define WRAPPER_PARAMS                                                         \
    {.name = "optimizer",                                                      \
     .type = MM_PARAM_COMPONENT,                                               \
     .required = true,                                                         \
     .kind = MM_OPTIMIZERS,                                                    \
     .doc = "the optimizer ({type: SGD, lr: 0.01, ...})"},                     \
        {.name = "paramwise_cfg",                                              \
         .type = MM_PARAM_DICT | MM_PARAM_NULL,                                \
         .def = "null",                                                        \
         .doc = "per-parameter lr and weight decay (custom_keys, "             \
                "bias_lr_mult, norm_decay_mult, ...)"},                        \
        {.name = "constructor",                                                \
         .type = MM_PARAM_STRING,                                              \
         .def = "DefaultOptimWrapperConstructor",                              \
         .doc = "the optim wrapper constructor"},                              \
        {.name = "accumulative_counts",                                        \
         .type = MM_PARAM_INT,                                                 \
         .def = "1",                                                           \
         .doc = "iterations whose gradients are accumulated per update"},      \
    {                                                                          \
        .name = "clip_grad", .type = MM_PARAM_DICT | MM_PARAM_NULL,            \
        .def = "null",                                                         \
        .doc = "{max_norm, norm_type, error_if_nonfinite} or {type: value, "   \
               "clip_value}"                                                   \
    }

static const mm_param wrapper_params[] = {WRAPPER_PARAMS};
static const mm_param amp_params[] = {
    WRAPPER_PARAMS,
    {.name = "loss_scale",
     .type = MM_PARAM_STRING | MM_PARAM_FLOAT | MM_PARAM_DICT,
     .def = "dynamic",
     .doc = "'dynamic', a fixed scale or GradScaler arguments (bf16 on the "
            "CPU runs unscaled)"},
    {.name = "dtype",
     .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null",
     .doc = "autocast dtype: bfloat16 (null: the CPU's bfloat16)"},
    {.name = "use_fsdp",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "FSDP's sharded grad scaler (unused on the CPU)"},
};

static const mm_component wrappers[] = {
    {.kind = MM_OPTIM_WRAPPERS,
     .name = "OptimWrapper",
     .doc = "optimizer step with gradient accumulation and clipping",
     .params = wrapper_params,
     .n_params = sizeof wrapper_params / sizeof wrapper_params[0],
     .build = build_wrapper,
     .destroy = mm_optim_wrapper_destroy},
    {.kind = MM_OPTIM_WRAPPERS,
     .name = "AmpOptimWrapper",
     .doc = "OptimWrapper with the forward under bf16 autocast",
     .params = amp_params,
     .n_params = sizeof amp_params / sizeof amp_params[0],
     .build = build_wrapper,
     .destroy = mm_optim_wrapper_destroy},
};

int mm_optim_register_wrappers(void) {
    return mm_register_all(wrappers, sizeof wrappers / sizeof wrappers[0]);
}

int mm_optim_wrapper_build(const mm_value *node, const char *path,
                           const char *default_scope, mm_module *model,
                           mm_optim_wrapper **out) {
    if (!mm_value_is_dict(node))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(node),
                               "%s: expected a dict with an optimizer", path);
    mm_value *copy = NULL;
    if (!mm_value_dict_get(node, "type")) {
        copy = mm_value_copy(node);
        mm_value *t = mm_value_new_string("OptimWrapper");
        if (!copy || !t || mm_value_dict_set_take(copy, "type", t) != MM_OK) {
            mm_value_release(copy);
            return mm_error_set(MM_ENOMEM, "%s: out of memory", path);
        }
        mm_value_set_srcloc(mm_value_dict_get(copy, "type"), mm_value_loc(node));
    }
    void *obj = NULL;
    int rc = mm_registry_build(MM_OPTIM_WRAPPERS, copy ? copy : node,
                               default_scope, path, model, &obj);
    mm_value_release(copy);
    MM_TRY(rc);
    *out = obj;
    return MM_OK;
}
