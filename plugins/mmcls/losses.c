/* mmcls losses: CrossEntropyLoss and LabelSmoothLoss with the semantics of
 * mmpretrain 1.x (mmpretrain/models/losses/cross_entropy_loss.py,
 * label_smooth_loss.py), built on the functional losses of <mm/loss.h>.
 *
 * Both are MODELS modules without parameters. Their generic forward takes
 * (cls_score (N, C), target) with target either class indices (N) i64 or
 * scores (N, C) f32, and reduces as configured. A head calls them through
 * mmcls_loss_apply(), which also hands over mmpretrain's avg_factor (the
 * batch size, as ClsHead passes it): with reduction 'mean' the per-sample
 * losses are summed and divided by avg_factor (mmpretrain's
 * weight_reduce_loss), which differs from torch's mean for class weights
 * and for the sigmoid form (N * C elements). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/elementwise.h>
#include <mm/loss.h>
#include <mm/nn.h>
#include <mm/reduction.h>
#include <mm/registry.h>

#include "mmcls.h"

/* ---- shared ------------------------------------------------------------- */

typedef enum reduction { RED_NONE, RED_MEAN, RED_SUM } reduction;

static int parse_reduction(mm_build_ctx *ctx, reduction *out) {
    const char *s;
    MM_TRY(mm_build_string(ctx, "reduction", &s));
    if (!strcmp(s, "none"))
        *out = RED_NONE;
    else if (!strcmp(s, "mean"))
        *out = RED_MEAN;
    else if (!strcmp(s, "sum"))
        *out = RED_SUM;
    else
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "reduction")),
            "reduction: '%s' is not one of none, mean, sum", s);
    return MM_OK;
}

/* A list of floats (class_weight, pos_weight), or n = 0 for null. */
static int parse_floats(mm_build_ctx *ctx, const char *param, double **out,
                        size_t *n) {
    const mm_value *v = mm_build_arg(ctx, param);
    *out = NULL;
    *n = 0;
    if (mm_value_is_null(v))
        return MM_OK;
    size_t len = mm_value_len(v);
    if (!mm_value_is_list(v) || len == 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected a non-empty list of numbers",
                               param);
    double *d = malloc(len * sizeof *d);
    if (!d)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        const mm_value *e = mm_value_list_get(v, i);
        if (!mm_value_is_number(e)) {
            free(d);
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s.%zu: expected a number", param, i);
        }
        d[i] = mm_value_get_float(e);
    }
    *out = d;
    *n = len;
    return MM_OK;
}

/* A (n) f32 tensor of the values, or NULL for none (borrowed from the
 * pool). */
static int floats_tensor(const double *v, size_t n, int64_t want,
                         const char *what, mm_tensor **out) {
    *out = NULL;
    if (!n)
        return MM_OK;
    if ((int64_t)n != want)
        return mm_error_set(MM_EINVAL,
                            "%s has %zu entries but cls_score has %lld "
                            "classes",
                            what, n, (long long)want);
    float *buf = malloc(n * sizeof *buf);
    if (!buf)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        buf[i] = (float)v[i];
    int rc = mm_from_data(buf, MM_SHAPE((int64_t)n), MM_F32, out);
    free(buf);
    return rc;
}

/* mmpretrain's weight_reduce_loss without sample weights. avg_factor <= 0:
 * none given. */
static int reduce_loss(mm_tensor *loss, reduction red, double avg_factor,
                       mm_tensor **out) {
    if (red == RED_NONE) {
        *out = loss;
        return MM_OK;
    }
    if (red == RED_SUM) {
        if (avg_factor > 0)
            return mm_error_set(MM_EINVAL, "avg_factor can not be used with "
                                           "reduction=\"sum\"");
        return mm_sum(loss, 0, NULL, false, out);
    }
    if (avg_factor <= 0)
        return mm_mean(loss, 0, NULL, false, out);
    mm_tensor *s;
    MM_TRY(mm_sum(loss, 0, NULL, false, &s));
    return mm_div_scalar(s, avg_factor, out);
}

static int check_score(const mm_tensor *score, const mm_tensor *target) {
    char a[64], b[64];
    if (score->ndim != 2)
        return mm_error_set(MM_EINVAL, "cls_score must be (N, C), got %s",
                            mm_shape_format(score->ndim, score->shape, a,
                                            sizeof a));
    bool index = target->ndim == 1 && target->shape[0] == score->shape[0];
    bool scores = mm_tensor_same_shape(score, target);
    if (!index && !scores)
        return mm_error_set(
            MM_EINVAL, "target %s matches neither cls_score %s nor (N)",
            mm_shape_format(target->ndim, target->shape, a, sizeof a),
            mm_shape_format(score->ndim, score->shape, b, sizeof b));
    return MM_OK;
}

static bool is_index_target(const mm_tensor *t) {
    return t->dtype == MM_I64 || t->dtype == MM_I32 || t->dtype == MM_U8;
}

/* ---- CrossEntropyLoss ---------------------------------------------------- */

typedef struct ce_loss {
    mm_module base;
    bool use_sigmoid, use_soft;
    reduction red;
    double loss_weight;
    double *class_weight, *pos_weight;
    size_t n_class_weight, n_pos_weight;
} ce_loss;

static void ce_fini(mm_module *m) {
    ce_loss *l = (ce_loss *)m;
    free(l->class_weight);
    free(l->pos_weight);
}

/* mmpretrain's cross_entropy / soft_cross_entropy / binary_cross_entropy
 * with the reduction `red` and avg_factor, times loss_weight. */
static int ce_compute(const ce_loss *l, mm_tensor *score, mm_tensor *target,
                      reduction red, double avg_factor, mm_tensor **out) {
    MM_TRY(check_score(score, target));
    int64_t C = score->shape[1];
    mm_tensor *cw, *loss;
    MM_TRY(floats_tensor(l->class_weight, l->n_class_weight, C,
                         "class_weight", &cw));
    if (l->use_sigmoid) {
        if (target->ndim != score->ndim)
            return mm_error_set(MM_EINVAL,
                                "use_sigmoid needs (N, C) targets (one-hot or "
                                "scores), got class indices");
        mm_tensor *pw, *t = target;
        MM_TRY(floats_tensor(l->pos_weight, l->n_pos_weight, C, "pos_weight",
                             &pw));
        if (t->dtype != score->dtype)
            MM_TRY(mm_to_dtype(t, score->dtype, &t));
        MM_TRY(mm_binary_cross_entropy_with_logits(score, t, cw, pw,
                                                   MM_LOSS_NONE, &loss));
    } else if (l->use_soft) {
        if (target->ndim != score->ndim)
            return mm_error_set(MM_EINVAL,
                                "use_soft needs (N, C) target scores, got "
                                "class indices");
        mm_tensor *lsm, *t = target, *prod;
        if (t->dtype != score->dtype)
            MM_TRY(mm_to_dtype(t, score->dtype, &t));
        MM_TRY(mm_log_softmax(score, -1, &lsm));
        MM_TRY(mm_mul(t, lsm, &prod));
        MM_TRY(mm_neg(prod, &prod));
        if (cw)
            MM_TRY(mm_mul(prod, cw, &prod));
        MM_TRY(mm_sum(prod, MM_DIMS(-1), false, &loss));
    } else {
        mm_tensor *t = target;
        if (target->ndim == 1) {
            if (!is_index_target(t))
                return mm_error_set(MM_EINVAL,
                                    "class index targets must be integers");
            if (t->dtype != MM_I64)
                MM_TRY(mm_to_dtype(t, MM_I64, &t));
        } else if (t->dtype != score->dtype) {
            MM_TRY(mm_to_dtype(t, score->dtype, &t));
        }
        MM_TRY(mm_cross_entropy(score, t, cw, MM_IGNORE_INDEX, MM_LOSS_NONE,
                                0.0, &loss));
    }
    MM_TRY(reduce_loss(loss, red, avg_factor, &loss));
    if (l->loss_weight != 1.0)
        MM_TRY(mm_mul_scalar(loss, l->loss_weight, &loss));
    *out = loss;
    return MM_OK;
}

/* The generic forward: (cls_score, target) without avg_factor. */
static int ce_forward(mm_module *m, int n, mm_tensor *const *in,
                      mm_tensor **out) {
    if (n != 2)
        return mm_error_set(MM_EINVAL, "CrossEntropyLoss takes (cls_score, "
                                       "target), got %d inputs", n);
    const ce_loss *l = (const ce_loss *)m;
    return ce_compute(l, in[0], in[1], l->red, 0, out);
}

static void ce_repr(const mm_module *m, char *buf, size_t size) {
    const ce_loss *l = (const ce_loss *)m;
    static const char *names[] = {"none", "mean", "sum"};
    snprintf(buf, size, "use_sigmoid=%s, use_soft=%s, reduction=%s, "
                        "loss_weight=%g",
             l->use_sigmoid ? "True" : "False", l->use_soft ? "True" : "False",
             names[l->red], l->loss_weight);
}

const mm_module_class mmcls_ce_loss_class = {
    .name = "CrossEntropyLoss",
    .forward = ce_forward,
    .fini = ce_fini,
    .extra_repr = ce_repr,
};

static int ce_build(mm_build_ctx *ctx, void **out) {
    bool sig, soft;
    reduction red;
    double lw;
    MM_TRY(mm_build_bool(ctx, "use_sigmoid", &sig));
    MM_TRY(mm_build_bool(ctx, "use_soft", &soft));
    MM_TRY(parse_reduction(ctx, &red));
    MM_TRY(mm_build_float(ctx, "loss_weight", &lw));
    if (sig && soft)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
            "use_sigmoid and use_soft could not be set simultaneously");
    mm_module *m;
    MM_TRY(mm_module_new(&mmcls_ce_loss_class, sizeof(ce_loss), &m));
    ce_loss *l = (ce_loss *)m;
    l->use_sigmoid = sig;
    l->use_soft = soft;
    l->red = red;
    l->loss_weight = lw;
    int rc = parse_floats(ctx, "class_weight", &l->class_weight,
                          &l->n_class_weight);
    if (!rc)
        rc = parse_floats(ctx, "pos_weight", &l->pos_weight,
                          &l->n_pos_weight);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param ce_params[] = {
    {.name = "use_sigmoid", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "binary cross entropy on sigmoid scores (targets (N, C))"},
    {.name = "use_soft", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "soft cross entropy: -sum(target * log_softmax) per sample"},
    {.name = "reduction", .type = MM_PARAM_STRING, .def = "mean",
     .doc = "none, mean (sum / batch size in a head) or sum"},
    {.name = "loss_weight", .type = MM_PARAM_FLOAT, .def = "1.0",
     .doc = "the loss is multiplied by this"},
    {.name = "class_weight", .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "a weight per class (C numbers)"},
    {.name = "pos_weight", .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "positive weight per class (use_sigmoid only)"},
};

static const mm_component ce_component = {
    .kind = MM_MODELS,
    .name = "CrossEntropyLoss",
    .doc = "cross entropy (softmax, soft or sigmoid) as mmpretrain's",
    .params = ce_params,
    .n_params = sizeof ce_params / sizeof ce_params[0],
    .build = ce_build,
    .destroy = mmcls_module_destroy,
};

/* ---- LabelSmoothLoss ----------------------------------------------------- */

typedef enum smooth_mode { MODE_ORIGINAL, MODE_CLASSY, MODE_MULTI } smooth_mode;

typedef struct ls_loss {
    mm_module base;
    double label_smooth_val, eps, loss_weight;
    int64_t num_classes; /* 0: from cls_score */
    smooth_mode mode;
    ce_loss ce; /* the inner CrossEntropyLoss (soft or sigmoid) */
} ls_loss;

static int ls_compute(const ls_loss *l, mm_tensor *score, mm_tensor *target,
                      double avg_factor, mm_tensor **out) {
    MM_TRY(check_score(score, target));
    int64_t C = score->shape[1];
    if (l->num_classes > 0 && l->num_classes != C)
        return mm_error_set(MM_EINVAL,
                            "num_classes should equal to cls_score.shape[1], "
                            "but got num_classes: %lld and "
                            "cls_score.shape[1]: %lld",
                            (long long)l->num_classes, (long long)C);
    mm_tensor *oh = target;
    if (target->ndim == 1) {
        if (!is_index_target(target))
            return mm_error_set(MM_EINVAL,
                                "class index targets must be integers");
        mm_tensor *t = target;
        if (t->dtype != MM_I64)
            MM_TRY(mm_to_dtype(t, MM_I64, &t));
        MM_TRY(mm_one_hot(t, C, &oh));
    }
    MM_TRY(mm_to_dtype(oh, MM_F32, &oh));
    mm_tensor *smooth;
    if (l->mode == MODE_MULTI) {
        mm_tensor *pos, *hi, *lo;
        MM_TRY(mm_gt_scalar(oh, 0, &pos));
        MM_TRY(mm_full_like(oh, 1 - l->eps, &hi));
        MM_TRY(mm_full_like(oh, l->eps, &lo));
        MM_TRY(mm_where(pos, hi, lo, &smooth));
    } else {
        MM_TRY(mm_mul_scalar(oh, 1 - l->eps, &smooth));
        MM_TRY(mm_add_scalar(smooth, l->eps / (double)C, &smooth));
    }
    mm_tensor *loss;
    MM_TRY(ce_compute(&l->ce, score, smooth, l->ce.red, avg_factor, &loss));
    if (l->loss_weight != 1.0)
        MM_TRY(mm_mul_scalar(loss, l->loss_weight, &loss));
    *out = loss;
    return MM_OK;
}

static int ls_forward(mm_module *m, int n, mm_tensor *const *in,
                      mm_tensor **out) {
    if (n != 2)
        return mm_error_set(MM_EINVAL, "LabelSmoothLoss takes (cls_score, "
                                       "target), got %d inputs", n);
    return ls_compute((const ls_loss *)m, in[0], in[1], 0, out);
}

static void ls_repr(const mm_module *m, char *buf, size_t size) {
    const ls_loss *l = (const ls_loss *)m;
    static const char *modes[] = {"original", "classy_vision", "multi_label"};
    snprintf(buf, size, "label_smooth_val=%g, mode=%s, loss_weight=%g",
             l->label_smooth_val, modes[l->mode], l->loss_weight);
}

static void ls_fini(mm_module *m) {
    ce_fini((mm_module *)&((ls_loss *)m)->ce);
}

const mm_module_class mmcls_ls_loss_class = {
    .name = "LabelSmoothLoss",
    .forward = ls_forward,
    .fini = ls_fini,
    .extra_repr = ls_repr,
};

static int ls_build(mm_build_ctx *ctx, void **out) {
    double val, lw;
    const char *mode;
    const mm_value *nc = mm_build_arg(ctx, "num_classes");
    const mm_value *us = mm_build_arg(ctx, "use_sigmoid");
    reduction red;
    MM_TRY(mm_build_float(ctx, "label_smooth_val", &val));
    MM_TRY(mm_build_float(ctx, "loss_weight", &lw));
    MM_TRY(mm_build_string(ctx, "mode", &mode));
    MM_TRY(parse_reduction(ctx, &red));
    if (!(val >= 0 && val < 1))
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "label_smooth_val")),
            "label_smooth_val: LabelSmoothLoss accepts a float over [0, 1), "
            "got %g", val);
    smooth_mode sm;
    if (!strcmp(mode, "original"))
        sm = MODE_ORIGINAL;
    else if (!strcmp(mode, "classy_vision"))
        sm = MODE_CLASSY;
    else if (!strcmp(mode, "multi_label"))
        sm = MODE_MULTI;
    else
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "mode")),
            "mode: '%s' is not one of original, classy_vision, multi_label",
            mode);
    int64_t num_classes = 0;
    if (!mm_value_is_null(nc)) {
        num_classes = mm_value_get_int(nc);
        if (num_classes <= 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(nc),
                                   "num_classes: must be positive, got %lld",
                                   (long long)num_classes);
    }
    bool sigmoid = sm == MODE_MULTI;
    if (!mm_value_is_null(us))
        sigmoid = mm_value_get_bool(us);
    mm_module *m;
    MM_TRY(mm_module_new(&mmcls_ls_loss_class, sizeof(ls_loss), &m));
    ls_loss *l = (ls_loss *)m;
    l->label_smooth_val = val;
    l->eps = sm == MODE_CLASSY ? val / (1 + val) : val;
    l->loss_weight = lw;
    l->num_classes = num_classes;
    l->mode = sm;
    /* mmpretrain 1.2's inner CrossEntropyLoss(use_sigmoid, use_soft=not
     * use_sigmoid, reduction, class_weight, pos_weight) */
    l->ce.use_sigmoid = sigmoid;
    l->ce.use_soft = !sigmoid;
    l->ce.red = red;
    l->ce.loss_weight = 1.0;
    int rc = parse_floats(ctx, "class_weight", &l->ce.class_weight,
                          &l->ce.n_class_weight);
    if (!rc)
        rc = parse_floats(ctx, "pos_weight", &l->ce.pos_weight,
                          &l->ce.n_pos_weight);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param ls_params[] = {
    {.name = "label_smooth_val", .type = MM_PARAM_FLOAT, .required = true,
     .doc = "the degree of label smoothing, in [0, 1)"},
    {.name = "num_classes", .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null", .doc = "number of classes; null: cls_score's"},
    {.name = "use_sigmoid", .type = MM_PARAM_BOOL | MM_PARAM_NULL,
     .def = "null", .doc = "sigmoid BCE; null: only in multi_label mode"},
    {.name = "mode", .type = MM_PARAM_STRING, .def = "original",
     .doc = "original, classy_vision or multi_label"},
    {.name = "reduction", .type = MM_PARAM_STRING, .def = "mean",
     .doc = "none, mean (sum / batch size in a head) or sum"},
    {.name = "loss_weight", .type = MM_PARAM_FLOAT, .def = "1.0",
     .doc = "the loss is multiplied by this"},
    {.name = "class_weight", .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "a weight per class (C numbers)"},
    {.name = "pos_weight", .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "positive weight per class (sigmoid only)"},
};

static const mm_component ls_component = {
    .kind = MM_MODELS,
    .name = "LabelSmoothLoss",
    .doc = "label-smoothed cross entropy as mmpretrain's",
    .params = ls_params,
    .n_params = sizeof ls_params / sizeof ls_params[0],
    .build = ls_build,
    .destroy = mmcls_module_destroy,
};

/* ---- FocalLoss and AsymmetricLoss ---------------------------------------- */

/* Both take (N, C) targets; class indices (N) or (N, 1) become one-hot rows
 * (mmpretrain's convert_to_one_hot), in the score's dtype. */
static int dense_target(mm_tensor *score, mm_tensor *target, mm_tensor **out) {
    char a[64], b[64];
    if (score->ndim != 2)
        return mm_error_set(MM_EINVAL, "pred must be (N, C), got %s",
                            mm_shape_format(score->ndim, score->shape, a,
                                            sizeof a));
    int64_t C = score->shape[1];
    mm_tensor *t = target;
    if (t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1 && C != 1)) {
        if (!is_index_target(t))
            return mm_error_set(MM_EINVAL,
                                "class index targets must be integers");
        if (t->ndim == 2)
            MM_TRY(mm_reshape(t, MM_SHAPE(t->shape[0]), &t));
        if (t->dtype != MM_I64)
            MM_TRY(mm_to_dtype(t, MM_I64, &t));
        int64_t *y = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *y);
        if (!y)
            return mm_error_set(MM_ENOMEM, "out of memory");
        int rc = mm_tensor_read(t, MM_I64, y, (size_t)t->numel);
        for (int64_t i = 0; !rc && i < t->numel; i++)
            if (y[i] < 0 || y[i] >= C)
                rc = mm_error_set(MM_ERANGE,
                                  "Class Index must be less than number of "
                                  "classes (target %lld, %lld classes)",
                                  (long long)y[i], (long long)C);
        free(y);
        MM_TRY(rc);
        MM_TRY(mm_one_hot(t, C, &t));
    }
    if (!mm_tensor_same_shape(score, t))
        return mm_error_set(MM_EINVAL,
                            "pred and target should be in the same shape "
                            "(pred %s, target %s)",
                            mm_shape_format(score->ndim, score->shape, a,
                                            sizeof a),
                            mm_shape_format(target->ndim, target->shape, b,
                                            sizeof b));
    if (t->dtype != score->dtype)
        MM_TRY(mm_to_dtype(t, score->dtype, &t));
    *out = t;
    return MM_OK;
}

/* 1 - x */
static int one_minus(mm_tensor *x, mm_tensor **out) {
    MM_TRY(mm_neg(x, out));
    return mm_add_scalar(*out, 1.0, out);
}

typedef struct focal_loss {
    mm_module base;
    double gamma, alpha, loss_weight;
    reduction red;
} focal_loss;

/* mmpretrain's sigmoid_focal_loss: BCE-with-logits times
 * (alpha t + (1 - alpha)(1 - t)) * pt^gamma, pt = (1 - p) t + p (1 - t). */
static int focal_compute(const focal_loss *l, mm_tensor *score,
                         mm_tensor *target, double avg_factor,
                         mm_tensor **out) {
    mm_tensor *t, *p, *q, *nt, *pt, *a, *b, *w, *bce, *loss;
    MM_TRY(dense_target(score, target, &t));
    MM_TRY(mm_sigmoid(score, &p));          // (N, C)
    MM_TRY(one_minus(p, &q));               // 1 - p
    MM_TRY(one_minus(t, &nt));              // 1 - t
    MM_TRY(mm_mul(q, t, &a));
    MM_TRY(mm_mul(p, nt, &b));
    MM_TRY(mm_add(a, b, &pt));
    MM_TRY(mm_mul_scalar(t, l->alpha, &a));
    MM_TRY(mm_mul_scalar(nt, 1 - l->alpha, &b));
    MM_TRY(mm_add(a, b, &w));
    MM_TRY(mm_pow_scalar(pt, l->gamma, &pt));
    MM_TRY(mm_mul(w, pt, &w));
    MM_TRY(mm_binary_cross_entropy_with_logits(score, t, NULL, NULL,
                                               MM_LOSS_NONE, &bce));
    MM_TRY(mm_mul(bce, w, &loss));
    MM_TRY(reduce_loss(loss, l->red, avg_factor, &loss));
    return mm_mul_scalar(loss, l->loss_weight, out);
}

static int focal_forward(mm_module *m, int n, mm_tensor *const *in,
                         mm_tensor **out) {
    if (n != 2)
        return mm_error_set(MM_EINVAL, "FocalLoss takes (pred, target), got "
                                       "%d inputs", n);
    return focal_compute((const focal_loss *)m, in[0], in[1], 0, out);
}

static void focal_repr(const mm_module *m, char *buf, size_t size) {
    const focal_loss *l = (const focal_loss *)m;
    static const char *names[] = {"none", "mean", "sum"};
    snprintf(buf, size, "gamma=%g, alpha=%g, reduction=%s, loss_weight=%g",
             l->gamma, l->alpha, names[l->red], l->loss_weight);
}

const mm_module_class mmcls_focal_loss_class = {
    .name = "FocalLoss",
    .forward = focal_forward,
    .extra_repr = focal_repr,
};

static int focal_build(mm_build_ctx *ctx, void **out) {
    focal_loss l = {0};
    MM_TRY(mm_build_float(ctx, "gamma", &l.gamma));
    MM_TRY(mm_build_float(ctx, "alpha", &l.alpha));
    MM_TRY(mm_build_float(ctx, "loss_weight", &l.loss_weight));
    MM_TRY(parse_reduction(ctx, &l.red));
    mm_module *m;
    MM_TRY(mm_module_new(&mmcls_focal_loss_class, sizeof(focal_loss), &m));
    focal_loss *f = (focal_loss *)m;
    f->gamma = l.gamma;
    f->alpha = l.alpha;
    f->loss_weight = l.loss_weight;
    f->red = l.red;
    *out = m;
    return MM_OK;
}

static const mm_param focal_params[] = {
    {.name = "gamma", .type = MM_PARAM_FLOAT, .def = "2.0",
     .doc = "focusing parameter: the weight pt^gamma"},
    {.name = "alpha", .type = MM_PARAM_FLOAT, .def = "0.25",
     .doc = "weight of the positives (1 - alpha: negatives)"},
    {.name = "reduction", .type = MM_PARAM_STRING, .def = "mean",
     .doc = "none, mean (sum / batch size in a head) or sum"},
    {.name = "loss_weight", .type = MM_PARAM_FLOAT, .def = "1.0",
     .doc = "the loss is multiplied by this"},
};

typedef struct asym_loss {
    mm_module base;
    double gamma_pos, gamma_neg, clip, loss_weight, eps;
    bool use_sigmoid;
    reduction red;
} asym_loss;

/* mmpretrain's asymmetric_loss: -log(max(pt, eps)) (1 - pt)^(gp t +
 * gn (1 - t)), pt = p t + (min(1 - p + clip, 1)) (1 - t) (clip > 0). */
static int asym_compute(const asym_loss *l, mm_tensor *score,
                        mm_tensor *target, double avg_factor,
                        mm_tensor **out) {
    mm_tensor *t, *p, *q, *nt, *pt, *a, *b, *e, *loss;
    MM_TRY(dense_target(score, target, &t));
    if (l->use_sigmoid)
        MM_TRY(mm_sigmoid(score, &p));
    else
        MM_TRY(mm_softmax(score, -1, &p));
    MM_TRY(one_minus(t, &nt));
    MM_TRY(one_minus(p, &q));
    if (l->clip > 0) {
        MM_TRY(mm_add_scalar(q, l->clip, &q));
        MM_TRY(mm_clamp_max(q, 1.0, &q));
    }
    MM_TRY(mm_mul(q, nt, &a));
    MM_TRY(mm_mul(p, t, &b));
    MM_TRY(mm_add(a, b, &pt));
    MM_TRY(mm_mul_scalar(t, l->gamma_pos, &a));
    MM_TRY(mm_mul_scalar(nt, l->gamma_neg, &b));
    MM_TRY(mm_add(a, b, &e));
    MM_TRY(one_minus(pt, &q));
    MM_TRY(mm_pow(q, e, &q)); // asymmetric weight
    MM_TRY(mm_clamp_min(pt, l->eps, &pt));
    MM_TRY(mm_ln(pt, &pt));
    MM_TRY(mm_neg(pt, &pt));
    MM_TRY(mm_mul(pt, q, &loss));
    MM_TRY(reduce_loss(loss, l->red, avg_factor, &loss));
    return mm_mul_scalar(loss, l->loss_weight, out);
}

static int asym_forward(mm_module *m, int n, mm_tensor *const *in,
                        mm_tensor **out) {
    if (n != 2)
        return mm_error_set(MM_EINVAL, "AsymmetricLoss takes (pred, target), "
                                       "got %d inputs", n);
    return asym_compute((const asym_loss *)m, in[0], in[1], 0, out);
}

static void asym_repr(const mm_module *m, char *buf, size_t size) {
    const asym_loss *l = (const asym_loss *)m;
    static const char *names[] = {"none", "mean", "sum"};
    snprintf(buf, size,
             "gamma_pos=%g, gamma_neg=%g, clip=%g, reduction=%s, "
             "loss_weight=%g, use_sigmoid=%s",
             l->gamma_pos, l->gamma_neg, l->clip, names[l->red],
             l->loss_weight, l->use_sigmoid ? "True" : "False");
}

const mm_module_class mmcls_asym_loss_class = {
    .name = "AsymmetricLoss",
    .forward = asym_forward,
    .extra_repr = asym_repr,
};

static int asym_build(mm_build_ctx *ctx, void **out) {
    asym_loss l = {0};
    const mm_value *clip = mm_build_arg(ctx, "clip");
    MM_TRY(mm_build_float(ctx, "gamma_pos", &l.gamma_pos));
    MM_TRY(mm_build_float(ctx, "gamma_neg", &l.gamma_neg));
    MM_TRY(mm_build_float(ctx, "loss_weight", &l.loss_weight));
    MM_TRY(mm_build_float(ctx, "eps", &l.eps));
    MM_TRY(mm_build_bool(ctx, "use_sigmoid", &l.use_sigmoid));
    MM_TRY(parse_reduction(ctx, &l.red));
    if (!mm_value_is_null(clip)) {
        if (!mm_value_is_number(clip))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(clip),
                                   "clip: expected a number or null");
        l.clip = mm_value_get_float(clip);
    }
    mm_module *m;
    MM_TRY(mm_module_new(&mmcls_asym_loss_class, sizeof(asym_loss), &m));
    asym_loss *a = (asym_loss *)m;
    a->gamma_pos = l.gamma_pos;
    a->gamma_neg = l.gamma_neg;
    a->clip = l.clip;
    a->loss_weight = l.loss_weight;
    a->eps = l.eps;
    a->use_sigmoid = l.use_sigmoid;
    a->red = l.red;
    *out = m;
    return MM_OK;
}

static const mm_param asym_params[] = {
    {.name = "gamma_pos", .type = MM_PARAM_FLOAT, .def = "0.0",
     .doc = "focusing parameter of the positives"},
    {.name = "gamma_neg", .type = MM_PARAM_FLOAT, .def = "4.0",
     .doc = "focusing parameter of the negatives"},
    {.name = "clip", .type = MM_PARAM_FLOAT | MM_PARAM_NULL, .def = "0.05",
     .doc = "probability margin shifted off the negatives (null/0: none)"},
    {.name = "reduction", .type = MM_PARAM_STRING, .def = "mean",
     .doc = "none, mean (sum / batch size in a head) or sum"},
    {.name = "loss_weight", .type = MM_PARAM_FLOAT, .def = "1.0",
     .doc = "the loss is multiplied by this"},
    {.name = "use_sigmoid", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "sigmoid scores (false: softmax over classes)"},
    {.name = "eps", .type = MM_PARAM_FLOAT, .def = "1e-8",
     .doc = "pt is clamped to at least eps before the log"},
};

static const mm_component extra_loss_components[] = {
    {.kind = MM_MODELS,
     .name = "FocalLoss",
     .doc = "sigmoid focal loss as mmpretrain's",
     .params = focal_params,
     .n_params = sizeof focal_params / sizeof focal_params[0],
     .build = focal_build,
     .destroy = mmcls_module_destroy},
    {.kind = MM_MODELS,
     .name = "AsymmetricLoss",
     .doc = "asymmetric loss (ASL) as mmpretrain's",
     .params = asym_params,
     .n_params = sizeof asym_params / sizeof asym_params[0],
     .build = asym_build,
     .destroy = mmcls_module_destroy},
};

/* ---- entry points -------------------------------------------------------- */

int mmcls_loss_apply(mm_module *loss, mm_tensor *score, mm_tensor *target,
                     double avg_factor, mm_tensor **out) {
    int rc;
    if (mm_module_is(loss, &mmcls_ce_loss_class)) {
        const ce_loss *l = (const ce_loss *)loss;
        rc = ce_compute(l, score, target, l->red, avg_factor, out);
    } else if (mm_module_is(loss, &mmcls_ls_loss_class)) {
        rc = ls_compute((const ls_loss *)loss, score, target, avg_factor,
                        out);
    } else if (mm_module_is(loss, &mmcls_focal_loss_class)) {
        rc = focal_compute((const focal_loss *)loss, score, target,
                           avg_factor, out);
    } else if (mm_module_is(loss, &mmcls_asym_loss_class)) {
        rc = asym_compute((const asym_loss *)loss, score, target, avg_factor,
                          out);
    } else {
        /* A loss of another plugin: its own reduction, no avg_factor. */
        mm_tensor *in[2] = {score, target};
        return mm_module_forward(loss, 2, in, out);
    }
    if (rc)
        return mm_error_context(rc, NULL, "%s", loss->cls->name);
    return MM_OK;
}

int mmcls_register_losses(void) {
    MM_TRY(mm_register(&ce_component));
    MM_TRY(mm_register(&ls_component));
    return mm_register_all(extra_loss_components,
                           sizeof extra_loss_components /
                               sizeof extra_loss_components[0]);
}
