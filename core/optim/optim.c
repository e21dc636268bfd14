/* Optimizers with PyTorch's single-tensor update rules (torch/optim/sgd.py,
 * adam.py, adamw.py, rmsprop.py, adagrad.py, `_single_tensor_*`), as fused
 * per-element loops in the parameter's dtype. The order of operations is
 * torch's, so f64 results agree to rounding and f32 to a few ulps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mm/autograd.h"
#include "mm/ops.h"
#include "mm/optim.h"
#include "mm/threads.h"

#define MAX_STATE 4

typedef struct optim_slot {
    mm_tensor *param; /* retained */
    int group;
    mm_tensor *state[MAX_STATE]; /* owned; NULL until created */
} optim_slot;

typedef struct optim_group {
    mm_optim_hparams hp;
    int n;
    mm_tensor **params; /* borrowed from the slots */
} optim_group;

struct mm_optimizer {
    mm_optim_kind kind;
    mm_optim_hparams defaults;
    int n_groups;
    optim_group *groups;
    int n_slots;
    optim_slot *slots;
};

/* ---- kinds, state keys, defaults ---------------------------------------- */

typedef struct kind_info {
    const char *name;
    const char *keys[MAX_STATE]; /* torch's state keys, in its order */
} kind_info;

/* "step" is always key 0 where a kind keeps it. */
enum { K_STEP = 0 };
enum { SGD_BUF = 0 };
enum { ADAM_EXP_AVG = 1, ADAM_EXP_AVG_SQ = 2, ADAM_MAX_EXP_AVG_SQ = 3 };
enum { RMS_SQUARE_AVG = 1, RMS_MOMENTUM_BUFFER = 2, RMS_GRAD_AVG = 3 };
enum { ADAGRAD_SUM = 1 };

static const kind_info kinds[MM_OPTIM_KIND_COUNT] = {
    [MM_OPTIM_SGD] = {"sgd", {"momentum_buffer"}},
    [MM_OPTIM_ADAM] = {"adam", {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
    [MM_OPTIM_ADAMW] = {"adamw", {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
    [MM_OPTIM_RMSPROP] = {"rmsprop", {"step", "square_avg", "momentum_buffer", "grad_avg"}},
    [MM_OPTIM_ADAGRAD] = {"adagrad", {"step", "sum"}},
};

static bool kind_valid(mm_optim_kind kind) {
    return (unsigned)kind < MM_OPTIM_KIND_COUNT;
}

const char *mm_optim_kind_name(mm_optim_kind kind) {
    return kind_valid(kind) ? kinds[kind].name : "?";
}

int mm_optim_kind_parse(const char *name, mm_optim_kind *out) {
    for (int k = 0; name && k < MM_OPTIM_KIND_COUNT; k++) {
        if (strcasecmp(name, kinds[k].name) == 0) {
            *out = (mm_optim_kind)k;
            return 0;
        }
    }
    return mm_error_set(MM_EINVAL, "optim: unknown optimizer '%s'",
                        name ? name : "(null)");
}

void mm_optim_defaults(mm_optim_kind kind, mm_optim_hparams *out) {
    memset(out, 0, sizeof *out);
    out->beta1 = 0.9;
    out->beta2 = 0.999;
    out->alpha = 0.99;
    switch (kind) {
    case MM_OPTIM_SGD:
        out->lr = 1e-3;
        break;
    case MM_OPTIM_ADAM:
        out->lr = 1e-3;
        out->eps = 1e-8;
        break;
    case MM_OPTIM_ADAMW:
        out->lr = 1e-3;
        out->eps = 1e-8;
        out->weight_decay = 1e-2;
        break;
    case MM_OPTIM_RMSPROP:
        out->lr = 1e-2;
        out->eps = 1e-8;
        break;
    case MM_OPTIM_ADAGRAD:
        out->lr = 1e-2;
        out->eps = 1e-10;
        break;
    default:
        break;
    }
}

/* "invalid <what> value" unless v >= 0 (a negated comparison, so NaN is
 * refused too). */
static int check_nonneg(const char *n, const char *what, double v) {
    if (!(v >= 0))
        return mm_error_set(MM_EINVAL, "%s: invalid %s value: %g", n, what, v);
    return 0;
}

static int check_beta(const char *n, int i, double beta) {
    if (!(beta >= 0 && beta < 1))
        return mm_error_set(MM_EINVAL,
                            "%s: invalid beta parameter at index %d: %g", n, i,
                            beta);
    return 0;
}

/* torch's checks in each optimizer's __init__. */
static int validate(mm_optim_kind kind, const mm_optim_hparams *hp) {
    const char *n = mm_optim_kind_name(kind);
    if (!(hp->lr >= 0))
        return mm_error_set(MM_EINVAL, "%s: invalid learning rate: %g", n,
                            hp->lr);
    MM_TRY(check_nonneg(n, "weight_decay", hp->weight_decay));
    switch (kind) {
    case MM_OPTIM_SGD:
        MM_TRY(check_nonneg(n, "momentum", hp->momentum));
        if (hp->nesterov && (hp->momentum <= 0 || hp->dampening != 0))
            return mm_error_set(
                MM_EINVAL,
                "%s: nesterov momentum requires a momentum and zero dampening",
                n);
        break;
    case MM_OPTIM_ADAM:
    case MM_OPTIM_ADAMW:
        MM_TRY(check_nonneg(n, "epsilon", hp->eps));
        MM_TRY(check_beta(n, 0, hp->beta1));
        MM_TRY(check_beta(n, 1, hp->beta2));
        break;
    case MM_OPTIM_RMSPROP:
        MM_TRY(check_nonneg(n, "epsilon", hp->eps));
        MM_TRY(check_nonneg(n, "momentum", hp->momentum));
        MM_TRY(check_nonneg(n, "alpha", hp->alpha));
        break;
    case MM_OPTIM_ADAGRAD:
        MM_TRY(check_nonneg(n, "epsilon", hp->eps));
        MM_TRY(check_nonneg(n, "lr_decay", hp->lr_decay));
        MM_TRY(check_nonneg(n, "initial_accumulator_value",
                            hp->initial_accumulator_value));
        break;
    default:
        return mm_error_set(MM_EINVAL, "optim: unknown optimizer kind %d",
                            (int)kind);
    }
    return 0;
}

/* ---- lifetime ----------------------------------------------------------- */

int mm_optimizer_new(mm_optim_kind kind, const mm_optim_hparams *defaults,
                     mm_optimizer **out) {
    *out = NULL;
    if (!kind_valid(kind))
        return mm_error_set(MM_EINVAL, "optim: unknown optimizer kind %d",
                            (int)kind);
    mm_optim_hparams hp;
    if (defaults)
        hp = *defaults;
    else
        mm_optim_defaults(kind, &hp);
    MM_TRY(validate(kind, &hp));
    mm_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt)
        return mm_error_set(MM_ENOMEM, "optim: out of memory");
    opt->kind = kind;
    opt->defaults = hp;
    *out = opt;
    return 0;
}

void mm_optimizer_free(mm_optimizer *opt) {
    if (!opt)
        return;
    for (int i = 0; i < opt->n_slots; i++) {
        mm_tensor_release(opt->slots[i].param);
        for (int k = 0; k < MAX_STATE; k++)
            mm_tensor_release(opt->slots[i].state[k]);
    }
    for (int g = 0; g < opt->n_groups; g++)
        free(opt->groups[g].params);
    free(opt->slots);
    free(opt->groups);
    free(opt);
}

mm_optim_kind mm_optimizer_kind(const mm_optimizer *opt) {
    return opt->kind;
}

const mm_optim_hparams *mm_optimizer_defaults(const mm_optimizer *opt) {
    return &opt->defaults;
}

/* An owned tensor like `like` filled with `value` (f32 0-dim when like is
 * NULL: a step counter), whatever pool is open. */
static int make_state(const mm_tensor *like, double value, mm_tensor **out) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *t = NULL;
    int rc = like ? mm_full_like(like, value, &t) : mm_scalar(value, MM_F32, &t);
    if (rc == 0)
        *out = mm_tensor_retain(t);
    mm_pool_close(pool);
    return rc;
}

int mm_optimizer_add_param_group(mm_optimizer *opt, int n,
                                 mm_tensor *const *params,
                                 const mm_optim_hparams *hp) {
    const char *name = mm_optim_kind_name(opt->kind);
    mm_optim_hparams h = hp ? *hp : opt->defaults;
    MM_TRY(validate(opt->kind, &h));
    if (n < 1 || !params)
        return mm_error_set(MM_EINVAL, "%s: a parameter group needs parameters",
                            name);
    for (int i = 0; i < n; i++) {
        const mm_tensor *p = params[i];
        int idx = opt->n_slots + i;
        if (!p)
            return mm_error_set(MM_EINVAL, "%s: parameter %d is NULL", name,
                                idx);
        if (p->dtype != MM_F32 && p->dtype != MM_F64)
            return mm_error_set(MM_EINVAL,
                                "%s: parameter %d is %s, expected f32 or f64",
                                name, idx, mm_dtype_name(p->dtype));
        if (p->device.type != MM_DEVICE_CPU)
            return mm_error_set(MM_EUNSUPPORTED,
                                "%s: parameter %d is not on the CPU", name,
                                idx);
        if (!mm_tensor_is_leaf(p))
            return mm_error_set(MM_EINVAL,
                                "%s: can't optimize a non-leaf tensor "
                                "(parameter %d)",
                                name, idx);
        if (!mm_tensor_is_contiguous(p))
            return mm_error_set(MM_EINVAL, "%s: parameter %d is not contiguous",
                                name, idx);
        for (int j = 0; j < opt->n_slots + i; j++) {
            const mm_tensor *q = j < opt->n_slots ? opt->slots[j].param
                                                  : params[j - opt->n_slots];
            if (q == p)
                return mm_error_set(MM_EINVAL,
                                    "%s: parameter %d appears more than once "
                                    "in the parameter groups",
                                    name, idx);
        }
    }
    optim_slot *slots =
        realloc(opt->slots, (size_t)(opt->n_slots + n) * sizeof *slots);
    if (!slots)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", name);
    opt->slots = slots;
    optim_group *groups =
        realloc(opt->groups, (size_t)(opt->n_groups + 1) * sizeof *groups);
    if (!groups)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", name);
    opt->groups = groups;
    mm_tensor **gp = malloc((size_t)n * sizeof *gp);
    if (!gp)
        return mm_error_set(MM_ENOMEM, "%s: out of memory", name);
    /* Adagrad makes its state when the parameter joins, as torch does:
     * made[2i] is parameter i's step, made[2i + 1] its sum. */
    mm_tensor **made = calloc((size_t)n * 2, sizeof *made);
    if (!made) {
        free(gp);
        return mm_error_set(MM_ENOMEM, "%s: out of memory", name);
    }
    int rc = 0;
    if (opt->kind == MM_OPTIM_ADAGRAD) {
        for (int i = 0; i < n && rc == 0; i++) {
            rc = make_state(NULL, 0, &made[2 * i]);
            if (rc == 0)
                rc = make_state(params[i], h.initial_accumulator_value,
                                &made[2 * i + 1]);
        }
    }
    if (rc < 0) {
        for (int i = 0; i < 2 * n; i++)
            mm_tensor_release(made[i]);
        free(made);
        free(gp);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        optim_slot *s = &opt->slots[opt->n_slots + i];
        memset(s, 0, sizeof *s);
        s->param = mm_tensor_retain(params[i]);
        s->group = opt->n_groups;
        s->state[K_STEP] = made[2 * i];
        if (opt->kind == MM_OPTIM_ADAGRAD)
            s->state[ADAGRAD_SUM] = made[2 * i + 1];
        gp[i] = params[i];
    }
    free(made);
    opt->groups[opt->n_groups] = (optim_group){h, n, gp};
    opt->n_groups++;
    opt->n_slots += n;
    return 0;
}

/* ---- update kernels ----------------------------------------------------- *
 * One per optimizer and dtype, written once as a macro over T. Scalars are
 * computed in double and cast to T, as torch passes them to its f32
 * kernels. Elementwise, so the thread split changes nothing. */

typedef struct upd {
    const mm_optim_hparams *hp;
    int64_t n;
    void *p, *g;
    void *s[MAX_STATE];
    bool first;            /* sgd: the momentum buffer is new */
    double step_size;      /* adam: lr / bias_correction1; adagrad: clr */
    double bc2_sqrt;       /* adam */
} upd;

#define OMP_FOR                                                                \
    _Pragma("omp parallel for num_threads(nt) if (u->n > MM_GRAIN) schedule(static)")

#define DEFINE_UPDATES(T, SFX, SQRT)                                           \
    static void sgd_##SFX(const upd *u) {                                      \
        const mm_optim_hparams *hp = u->hp;                                    \
        T *p = u->p, *buf = u->s[SGD_BUF];                                     \
        const T *g = u->g;                                                     \
        const T wd = (T)hp->weight_decay, mom = (T)hp->momentum;               \
        const T damp1 = (T)(1 - hp->dampening), nlr = (T)-hp->lr;              \
        const bool use_wd = hp->weight_decay != 0, use_mom = hp->momentum != 0; \
        const bool nest = hp->nesterov, max = hp->maximize, first = u->first;  \
        int nt = mm_get_num_threads();                                         \
        OMP_FOR                                                                \
        for (int64_t i = 0; i < u->n; i++) {                                   \
            T d = max ? -g[i] : g[i];                                          \
            if (use_wd)                                                        \
                d = d + wd * p[i];                                             \
            if (use_mom) {                                                     \
                T b = first ? d : buf[i] * mom + damp1 * d;                    \
                buf[i] = b;                                                    \
                d = nest ? d + mom * b : b;                                    \
            }                                                                  \
            p[i] = p[i] + nlr * d;                                             \
        }                                                                      \
    }                                                                          \
    /* adamw: decoupled decay (param *= 1 - lr * wd) instead of wd in grad */  \
    static void adam_##SFX(const upd *u, bool decoupled) {                     \
        const mm_optim_hparams *hp = u->hp;                                    \
        T *p = u->p, *m = u->s[ADAM_EXP_AVG], *v = u->s[ADAM_EXP_AVG_SQ];      \
        T *vmax = u->s[ADAM_MAX_EXP_AVG_SQ];                                   \
        const T *g = u->g;                                                     \
        const T wd = (T)hp->weight_decay, decay = (T)(1 - hp->lr * hp->weight_decay); \
        const T b1 = (T)hp->beta1, b2 = (T)hp->beta2;                          \
        const T c1 = (T)(1 - hp->beta1), c2 = (T)(1 - hp->beta2);              \
        const T bc2s = (T)u->bc2_sqrt, eps = (T)hp->eps;                       \
        const T nss = (T)-u->step_size;                                        \
        const bool use_wd = !decoupled && hp->weight_decay != 0;               \
        const bool ams = hp->amsgrad, max = hp->maximize;                      \
        int nt = mm_get_num_threads();                                         \
        OMP_FOR                                                                \
        for (int64_t i = 0; i < u->n; i++) {                                   \
            T d = max ? -g[i] : g[i];                                          \
            if (decoupled)                                                     \
                p[i] = p[i] * decay;                                           \
            if (use_wd)                                                        \
                d = d + wd * p[i];                                             \
            m[i] = m[i] * b1 + c1 * d;                                         \
            v[i] = v[i] * b2 + c2 * d * d;                                     \
            T den = v[i];                                                      \
            if (ams) {                                                         \
                T a = vmax[i];                                                 \
                vmax[i] = (a != a || a > den) ? a : den;                       \
                den = vmax[i];                                                 \
            }                                                                  \
            den = SQRT(den) / bc2s + eps;                                      \
            p[i] = p[i] + nss * m[i] / den;                                    \
        }                                                                      \
    }                                                                          \
    static void rmsprop_##SFX(const upd *u) {                                  \
        const mm_optim_hparams *hp = u->hp;                                    \
        T *p = u->p, *sq = u->s[RMS_SQUARE_AVG];                               \
        T *buf = u->s[RMS_MOMENTUM_BUFFER], *ga = u->s[RMS_GRAD_AVG];          \
        const T *g = u->g;                                                     \
        const T wd = (T)hp->weight_decay, al = (T)hp->alpha;                   \
        const T c = (T)(1 - hp->alpha), eps = (T)hp->eps;                      \
        const T mom = (T)hp->momentum, nlr = (T)-hp->lr;                       \
        const bool use_wd = hp->weight_decay != 0, use_mom = hp->momentum > 0; \
        const bool cen = hp->centered, max = hp->maximize;                     \
        int nt = mm_get_num_threads();                                         \
        OMP_FOR                                                                \
        for (int64_t i = 0; i < u->n; i++) {                                   \
            T d = max ? -g[i] : g[i];                                          \
            if (use_wd)                                                        \
                d = d + wd * p[i];                                             \
            sq[i] = sq[i] * al + c * d * d;                                    \
            T avg;                                                             \
            if (cen) {                                                         \
                ga[i] = ga[i] * al + c * d;                                    \
                avg = SQRT(sq[i] + (T)-1 * ga[i] * ga[i]);                     \
            } else {                                                           \
                avg = SQRT(sq[i]);                                             \
            }                                                                  \
            avg = avg + eps;                                                   \
            if (use_mom) {                                                     \
                buf[i] = buf[i] * mom + (T)1 * d / avg;                        \
                p[i] = p[i] + nlr * buf[i];                                    \
            } else {                                                           \
                p[i] = p[i] + nlr * d / avg;                                   \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    static void adagrad_##SFX(const upd *u) {                                  \
        const mm_optim_hparams *hp = u->hp;                                    \
        T *p = u->p, *sum = u->s[ADAGRAD_SUM];                                 \
        const T *g = u->g;                                                     \
        const T wd = (T)hp->weight_decay, eps = (T)hp->eps;                    \
        const T nclr = (T)-u->step_size;                                       \
        const bool use_wd = hp->weight_decay != 0, max = hp->maximize;         \
        int nt = mm_get_num_threads();                                         \
        OMP_FOR                                                                \
        for (int64_t i = 0; i < u->n; i++) {                                   \
            T d = max ? -g[i] : g[i];                                          \
            if (use_wd)                                                        \
                d = d + wd * p[i];                                             \
            sum[i] = sum[i] + (T)1 * d * d;                                    \
            T std = SQRT(sum[i]) + eps;                                        \
            p[i] = p[i] + nclr * d / std;                                      \
        }                                                                      \
    }

DEFINE_UPDATES(float, f32, sqrtf)
DEFINE_UPDATES(double, f64, sqrt)

/* ---- step --------------------------------------------------------------- */

static bool has_step(mm_optim_kind kind) {
    return kind != MM_OPTIM_SGD;
}

static int ensure_state(mm_optim_kind kind, optim_slot *s, int k,
                        double value) {
    if (s->state[k])
        return 0;
    bool is_step = has_step(kind) && k == K_STEP;
    return make_state(is_step ? NULL : s->param, value, &s->state[k]);
}

/* Bump the f32 step counter; returns the new value. */
static double bump_step(optim_slot *s) {
    float *st = MM_DATA(s->state[K_STEP], float);
    *st = *st + 1.0f;
    return *st;
}

static int step_one(mm_optimizer *opt, int idx) {
    optim_slot *s = &opt->slots[idx];
    const mm_optim_hparams *hp = &opt->groups[s->group].hp;
    const char *name = mm_optim_kind_name(opt->kind);
    mm_tensor *p = s->param, *g = p->grad;
    if (!g)
        return 0;
    if (g->dtype != p->dtype || !mm_tensor_same_shape(g, p)) {
        char a[128], b[128];
        return mm_error_set(MM_EINVAL,
                            "%s: parameter %d is %s but its gradient is %s",
                            name, idx, mm_tensor_describe(p, a, sizeof a),
                            mm_tensor_describe(g, b, sizeof b));
    }
    MM_TRY(mm_contiguous(g, &g)); /* borrowed from the step's pool */
    upd u = {.hp = hp, .n = p->numel, .p = mm_tensor_data(p),
             .g = mm_tensor_data(g)};
    switch (opt->kind) {
    case MM_OPTIM_SGD:
        if (hp->momentum != 0) {
            u.first = !s->state[SGD_BUF];
            MM_TRY(ensure_state(opt->kind, s, SGD_BUF, 0));
        }
        break;
    case MM_OPTIM_ADAM:
    case MM_OPTIM_ADAMW:
        MM_TRY(ensure_state(opt->kind, s, K_STEP, 0));
        MM_TRY(ensure_state(opt->kind, s, ADAM_EXP_AVG, 0));
        MM_TRY(ensure_state(opt->kind, s, ADAM_EXP_AVG_SQ, 0));
        if (hp->amsgrad)
            MM_TRY(ensure_state(opt->kind, s, ADAM_MAX_EXP_AVG_SQ, 0));
        {
            double step = bump_step(s);
            u.step_size = hp->lr / (1 - pow(hp->beta1, step));
            u.bc2_sqrt = sqrt(1 - pow(hp->beta2, step));
        }
        break;
    case MM_OPTIM_RMSPROP:
        MM_TRY(ensure_state(opt->kind, s, K_STEP, 0));
        MM_TRY(ensure_state(opt->kind, s, RMS_SQUARE_AVG, 0));
        if (hp->momentum > 0)
            MM_TRY(ensure_state(opt->kind, s, RMS_MOMENTUM_BUFFER, 0));
        if (hp->centered)
            MM_TRY(ensure_state(opt->kind, s, RMS_GRAD_AVG, 0));
        bump_step(s);
        break;
    case MM_OPTIM_ADAGRAD:
        MM_TRY(ensure_state(opt->kind, s, K_STEP, 0));
        MM_TRY(ensure_state(opt->kind, s, ADAGRAD_SUM, hp->initial_accumulator_value));
        {
            double step = bump_step(s);
            u.step_size = hp->lr / (1 + (step - 1) * hp->lr_decay);
        }
        break;
    default:
        return mm_error_set(MM_EINTERNAL, "optim: bad kind");
    }
    for (int k = 0; k < MAX_STATE; k++)
        u.s[k] = s->state[k] ? mm_tensor_data(s->state[k]) : NULL;
    bool f64 = p->dtype == MM_F64;
    switch (opt->kind) {
    case MM_OPTIM_SGD:
        f64 ? sgd_f64(&u) : sgd_f32(&u);
        break;
    case MM_OPTIM_ADAM:
    case MM_OPTIM_ADAMW:
        f64 ? adam_f64(&u, opt->kind == MM_OPTIM_ADAMW)
            : adam_f32(&u, opt->kind == MM_OPTIM_ADAMW);
        break;
    case MM_OPTIM_RMSPROP:
        f64 ? rmsprop_f64(&u) : rmsprop_f32(&u);
        break;
    default:
        f64 ? adagrad_f64(&u) : adagrad_f32(&u);
        break;
    }
    return 0;
}

int mm_optimizer_step(mm_optimizer *opt) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_no_grad_push();
    int rc = 0;
    for (int i = 0; i < opt->n_slots && rc == 0; i++)
        rc = step_one(opt, i);
    mm_no_grad_pop();
    mm_pool_close(pool);
    return rc;
}

void mm_optimizer_zero_grad(mm_optimizer *opt, bool set_to_none) {
    mm_no_grad_push();
    for (int i = 0; i < opt->n_slots; i++) {
        mm_tensor *p = opt->slots[i].param;
        if (!p->grad)
            continue;
        if (set_to_none || mm_tensor_zero_(p->grad) < 0)
            mm_tensor_zero_grad(p);
    }
    mm_no_grad_pop();
}

/* ---- groups ------------------------------------------------------------- */

int mm_optimizer_n_groups(const mm_optimizer *opt) {
    return opt->n_groups;
}

static int check_group(const mm_optimizer *opt, int g) {
    if (g < 0 || g >= opt->n_groups)
        return mm_error_set(MM_ERANGE, "%s: no parameter group %d (of %d)",
                            mm_optim_kind_name(opt->kind), g, opt->n_groups);
    return 0;
}

int mm_optimizer_group_params(const mm_optimizer *opt, int g, int *n,
                              mm_tensor *const **params) {
    MM_TRY(check_group(opt, g));
    *n = opt->groups[g].n;
    *params = opt->groups[g].params;
    return 0;
}

const mm_optim_hparams *mm_optimizer_group_hparams(const mm_optimizer *opt,
                                                   int g) {
    if (g < 0 || g >= opt->n_groups)
        return NULL;
    return &opt->groups[g].hp;
}

int mm_optimizer_set_group_hparams(mm_optimizer *opt, int g,
                                   const mm_optim_hparams *hp) {
    MM_TRY(check_group(opt, g));
    MM_TRY(validate(opt->kind, hp));
    opt->groups[g].hp = *hp;
    return 0;
}

double mm_optimizer_get_lr(const mm_optimizer *opt, int g) {
    if (g < 0 || g >= opt->n_groups)
        return NAN;
    return opt->groups[g].hp.lr;
}

int mm_optimizer_set_lr(mm_optimizer *opt, int g, double lr) {
    return mm_optimizer_group_set(opt, g, "lr", lr);
}

typedef struct field {
    const char *name;
    size_t offset;
    bool is_bool;
} field;

#define F(name) {#name, offsetof(mm_optim_hparams, name), false}
#define B(name) {#name, offsetof(mm_optim_hparams, name), true}
static const field fields[] = {
    F(lr),    F(weight_decay), B(maximize), F(momentum), F(dampening),
    B(nesterov), F(beta1),     F(beta2),    F(eps),      B(amsgrad),
    F(alpha), B(centered),     F(lr_decay), F(initial_accumulator_value),
};
#undef F
#undef B

static const field *find_field(const mm_optimizer *opt, const char *key) {
    for (size_t i = 0; key && i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(fields[i].name, key) == 0)
            return &fields[i];
    mm_error_set(MM_ENOENT, "%s: no hyper-parameter '%s'",
                 mm_optim_kind_name(opt->kind), key ? key : "(null)");
    return NULL;
}

int mm_optimizer_group_get(const mm_optimizer *opt, int g, const char *key,
                           double *out) {
    MM_TRY(check_group(opt, g));
    const field *f = find_field(opt, key);
    if (!f)
        return MM_ENOENT;
    const char *base = (const char *)&opt->groups[g].hp + f->offset;
    *out = f->is_bool ? (double)*(const bool *)base : *(const double *)base;
    return 0;
}

int mm_optimizer_group_set(mm_optimizer *opt, int g, const char *key,
                           double value) {
    MM_TRY(check_group(opt, g));
    const field *f = find_field(opt, key);
    if (!f)
        return MM_ENOENT;
    mm_optim_hparams hp = opt->groups[g].hp;
    char *base = (char *)&hp + f->offset;
    if (f->is_bool)
        *(bool *)base = value != 0;
    else
        *(double *)base = value;
    MM_TRY(validate(opt->kind, &hp));
    opt->groups[g].hp = hp;
    return 0;
}

/* ---- state -------------------------------------------------------------- */

size_t mm_optimizer_state_count(const mm_optimizer *opt) {
    size_t n = 0;
    for (int i = 0; i < opt->n_slots; i++)
        for (int k = 0; k < MAX_STATE; k++)
            n += opt->slots[i].state[k] != NULL;
    return n;
}

int mm_optimizer_state_at(const mm_optimizer *opt, size_t i, char *name,
                          size_t size, mm_tensor **tensor) {
    size_t n = 0;
    for (int j = 0; j < opt->n_slots; j++) {
        for (int k = 0; k < MAX_STATE; k++) {
            if (!opt->slots[j].state[k])
                continue;
            if (n++ != i)
                continue;
            if (name && size)
                snprintf(name, size, "state.%d.%s", j, kinds[opt->kind].keys[k]);
            *tensor = opt->slots[j].state[k];
            return 0;
        }
    }
    return mm_error_set(MM_ERANGE, "%s: no state entry %zu (of %zu)",
                        mm_optim_kind_name(opt->kind), i, n);
}

int mm_optimizer_state_load(mm_optimizer *opt, const char *name,
                            const mm_tensor *value) {
    const char *kn = mm_optim_kind_name(opt->kind);
    const char *s = name ? name : "";
    char *end = NULL;
    long idx = -1;
    if (strncmp(s, "state.", 6) == 0 && s[6] >= '0' && s[6] <= '9')
        idx = strtol(s + 6, &end, 10);
    if (idx < 0 || !end || *end != '.' || idx >= opt->n_slots)
        return mm_error_set(MM_ENOENT, "%s: no state '%s'", kn, s);
    int k = -1;
    for (int j = 0; j < MAX_STATE; j++)
        if (kinds[opt->kind].keys[j] && strcmp(kinds[opt->kind].keys[j], end + 1) == 0)
            k = j;
    if (k < 0)
        return mm_error_set(MM_ENOENT, "%s: no state '%s'", kn, s);
    optim_slot *slot = &opt->slots[idx];
    bool is_step = has_step(opt->kind) && k == K_STEP;
    if (is_step ? value->numel != 1 : !mm_tensor_same_shape(value, slot->param)) {
        char a[128], b[128];
        return mm_error_set(MM_EINVAL, "%s: state '%s' is %s, expected %s", kn,
                            s, mm_tensor_describe(value, a, sizeof a),
                            is_step ? "one element"
                                    : mm_shape_format(slot->param->ndim,
                                                      slot->param->shape, b,
                                                      sizeof b));
    }
    MM_TRY(ensure_state(opt->kind, slot, k, 0));
    mm_no_grad_push();
    int rc;
    if (is_step) {
        double v;
        rc = mm_tensor_item(value, &v);
        if (rc == 0)
            *MM_DATA(slot->state[k], float) = (float)v;
    } else {
        rc = mm_tensor_copy_(slot->state[k], value);
    }
    mm_no_grad_pop();
    return rc;
}
