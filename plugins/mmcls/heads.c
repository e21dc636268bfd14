/* mmcls heads: ClsHead and LinearClsHead with the semantics of mmpretrain
 * 1.x (mmpretrain/models/heads/cls_head.py, linear_head.py).
 *
 * A head is a MODELS module whose generic forward is mmpretrain's
 * head.forward (pre_logits, then the classifier layer), and whose
 * mm_model_ops answer loss and predict from the neck's feature maps (the
 * last one is used, as mmpretrain's pre_logits takes feats[-1]). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/model.h>
#include <mm/nn.h>
#include <mm/reduction.h>
#include <mm/registry.h>

#include "mmcls.h"

typedef struct cls_head {
    mm_module base;
    mm_module *loss_module; /* child "loss_module" */
    mm_module *fc;          /* LinearClsHead: child "fc" */
    int64_t topk[8];
    int n_topk;
    bool cal_acc;
    int64_t num_classes, in_channels;
    /* init_cfg of Linear layers: Normal(mean, std) or Constant(val), bias */
    int init; /* 0 none, 1 normal, 2 constant */
    double init_mean, init_std, init_val, init_bias;
} cls_head;

/* feats -> cls_score: the last feature map (ClsHead) through fc
 * (LinearClsHead). */
static int head_forward(mm_module *m, int n, mm_tensor *const *in,
                        mm_tensor **out) {
    cls_head *h = (cls_head *)m;
    if (n < 1)
        return mm_error_set(MM_EINVAL, "%s needs at least one feature map",
                            m->cls->name);
    mm_tensor *x = in[n - 1];
    if (!h->fc) {
        *out = x;
        return MM_OK;
    }
    return mm_module_forward1(h->fc, x, out);
}

/* The i-th data sample's gt_label: an int, or a one-element tensor. */
static int sample_label(const mm_value *s, size_t i, int64_t *out) {
    const mm_value *v = mmcls_get(s, "gt_label");
    if (!v)
        return mm_error_set(MM_EINVAL, "data_samples[%zu]: no 'gt_label'", i);
    if (mm_value_is_int(v)) {
        *out = mm_value_get_int(v);
        return MM_OK;
    }
    mm_tensor *t = mm_tensor_from_value(v);
    if (t && t->numel == 1)
        return mm_tensor_item_i64(t, out);
    return mm_error_set(MM_ETYPE,
                        "data_samples[%zu]: gt_label must be an int, got a %s",
                        i, mm_value_type_name(mm_value_type_of(v)));
}

/* mmpretrain's target: stacked gt_score (N, C) when the first sample has
 * one (batch augments, to_onehot), else the gt_labels (N) as i64. */
int mmcls_targets(const mm_value *samples, int64_t n, mm_tensor **out) {
    if (!mm_value_is_list(samples) || (int64_t)mm_value_len(samples) != n)
        return mm_error_set(MM_EINVAL,
                            "%lld data samples for a batch of %lld",
                            (long long)mm_value_len(samples), (long long)n);
    const mm_value *s0 = mm_value_list_get(samples, 0);
    if (n > 0 && mmcls_get(s0, "gt_score")) {
        mm_tensor *rows[n];
        for (int64_t i = 0; i < n; i++) {
            const mm_value *s = mm_value_list_get(samples, (size_t)i);
            rows[i] = mm_tensor_from_value(mmcls_get(s, "gt_score"));
            if (!rows[i] || rows[i]->ndim != 1)
                return mm_error_set(MM_EINVAL,
                                    "data_samples[%lld]: gt_score must be a "
                                    "1-D tensor",
                                    (long long)i);
        }
        return mm_stack((int)n, rows, 0, out);
    }
    int64_t *labels = malloc((size_t)(n ? n : 1) * sizeof *labels);
    if (!labels)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        int rc = sample_label(mm_value_list_get(samples, (size_t)i),
                              (size_t)i, &labels[i]);
        if (rc) {
            free(labels);
            return rc;
        }
    }
    int rc = mm_from_data(labels, MM_SHAPE(n), MM_I64, out);
    free(labels);
    return rc;
}

/* mmpretrain's Accuracy.calculate for one k: the percentage of samples
 * whose label is among the k best scores (ties: lower index first). */
static double topk_accuracy(const float *s, int64_t N, int64_t C,
                            const int64_t *labels, int64_t k) {
    int64_t correct = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *r = s + i * C;
        int64_t y = labels[i];
        if (y < 0 || y >= C)
            continue;
        int64_t better = 0; /* classes ranked before y */
        for (int64_t c = 0; c < C; c++)
            if (r[c] > r[y] || (r[c] == r[y] && c < y))
                better++;
        if (better < k)
            correct++;
    }
    return N ? 100.0 * (double)correct / (double)N : 0.0;
}

static int add_accuracy(const cls_head *h, mm_tensor *score,
                        mm_tensor *target, mm_value *losses) {
    if (target->ndim != 1)
        return mm_error_set(MM_EINVAL,
                            "cal_acc needs class labels, not scores (batch "
                            "augments make it pointless)");
    int64_t N = score->shape[0], C = score->shape[1];
    float *s = malloc((size_t)(N * C > 0 ? N * C : 1) * sizeof *s);
    int64_t *y = malloc((size_t)(N > 0 ? N : 1) * sizeof *y);
    int rc = (!s || !y) ? mm_error_set(MM_ENOMEM, "out of memory") : MM_OK;
    if (!rc)
        rc = mm_tensor_read(score, MM_F32, s, (size_t)(N * C));
    if (!rc)
        rc = mm_tensor_read(target, MM_I64, y, (size_t)N);
    for (int i = 0; !rc && i < h->n_topk; i++) {
        mm_tensor *a;
        char key[48];
        snprintf(key, sizeof key, "accuracy_top-%lld", (long long)h->topk[i]);
        rc = mm_scalar(topk_accuracy(s, N, C, y, h->topk[i]), MM_F32, &a);
        if (!rc)
            rc = mm_value_dict_set_take(losses, key, mm_tensor_to_value(a));
    }
    free(s);
    free(y);
    return rc;
}

static int head_loss(mm_module *m, int n, mm_tensor *const *feats,
                     mm_value *samples, mm_value **losses) {
    cls_head *h = (cls_head *)m;
    mm_tensor *score, *target, *loss;
    MM_TRY(head_forward(m, n, feats, &score));
    if (score->ndim != 2) {
        char buf[64];
        return mm_error_set(MM_EINVAL,
                            "%s: cls_score must be (N, C), got %s; give the "
                            "model a neck (GlobalAveragePooling) or a "
                            "backbone with num_classes",
                            m->cls->name,
                            mm_shape_format(score->ndim, score->shape, buf,
                                            sizeof buf));
    }
    MM_TRY(mmcls_targets(samples, score->shape[0], &target));
    MM_TRY(mmcls_loss_apply(h->loss_module, score, target,
                            (double)score->shape[0], &loss));
    mm_value *d = mm_value_new_dict();
    if (!d)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = mm_value_dict_set_take(d, "loss", mm_tensor_to_value(loss));
    if (!rc && h->cal_acc)
        rc = add_accuracy(h, score, target, d);
    if (rc) {
        mm_value_release(d);
        return rc;
    }
    *losses = d;
    return MM_OK;
}

/* softmax over classes; each sample gets pred_score (C) f32 and
 * pred_label (argmax, lower index on ties). */
int mmcls_add_predictions(mm_tensor *score, mm_value *samples,
                          mm_value **out) {
    if (score->ndim != 2) {
        char buf[64];
        return mm_error_set(MM_EINVAL, "cls_score must be (N, C), got %s",
                            mm_shape_format(score->ndim, score->shape, buf,
                                            sizeof buf));
    }
    int64_t N = score->shape[0], C = score->shape[1];
    if (samples && (!mm_value_is_list(samples) ||
                    (int64_t)mm_value_len(samples) != N))
        return mm_error_set(MM_EINVAL, "%lld data samples for a batch of %lld",
                            (long long)mm_value_len(samples), (long long)N);
    mm_tensor *prob;
    mm_no_grad_push();
    int rc = mm_to_dtype(score, MM_F32, &prob);
    if (!rc)
        rc = mm_softmax(prob, 1, &prob);
    if (!rc)
        rc = mm_contiguous(prob, &prob);
    mm_no_grad_pop();
    MM_TRY(rc);
    mm_value *list = mm_value_new_list();
    if (!list)
        return mm_error_set(MM_ENOMEM, "out of memory");
    const float *p = MM_DATA(prob, float);
    for (int64_t i = 0; !rc && i < N; i++) {
        mm_value *s = samples ? mm_value_retain(mm_value_list_get(
                                    samples, (size_t)i))
                              : mm_value_new_dict();
        if (!s || !mm_value_is_dict(s)) {
            mm_value_release(s);
            rc = s ? mm_error_set(MM_ETYPE, "data_samples[%lld] is not a dict",
                                  (long long)i)
                   : mm_error_set(MM_ENOMEM, "out of memory");
            break;
        }
        /* A copy per sample, so a sample does not keep the batch alive. */
        mm_tensor *row = NULL;
        rc = mm_from_data(p + i * C, MM_SHAPE(C), MM_F32, &row);
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (p[i * C + c] > p[i * C + best])
                best = c;
        if (!rc)
            rc = mm_value_dict_set_take(s, "pred_score",
                                        mm_tensor_to_value(row));
        if (!rc)
            rc = mm_value_dict_set_take(s, "pred_label",
                                        mm_value_new_int(best));
        if (!rc)
            rc = mm_value_list_append_take(list, s);
        else
            mm_value_release(s);
    }
    if (rc) {
        mm_value_release(list);
        return rc;
    }
    *out = list;
    return MM_OK;
}

static int head_predict(mm_module *m, int n, mm_tensor *const *feats,
                        mm_value *samples, mm_value **out) {
    mm_tensor *score;
    MM_TRY(head_forward(m, n, feats, &score));
    return mmcls_add_predictions(score, samples, out);
}

/* LinearClsHead's init_cfg (default Normal(std=0.01) on Linear): applied by
 * mm_module_init_weights, as mmengine's init_weights() does. */
static int head_init_weights(mm_module *m) {
    cls_head *h = (cls_head *)m;
    if (!h->fc || !h->init)
        return MM_OK;
    mm_nn_linear *fc = (mm_nn_linear *)h->fc;
    if (h->init == 1)
        MM_TRY(mm_init_normal_(fc->weight, h->init_mean, h->init_std, NULL));
    else
        MM_TRY(mm_init_constant_(fc->weight, h->init_val));
    if (fc->bias)
        MM_TRY(mm_init_constant_(fc->bias, h->init_bias));
    return MM_OK;
}

static void head_repr(const mm_module *m, char *buf, size_t size) {
    const cls_head *h = (const cls_head *)m;
    if (h->fc)
        snprintf(buf, size, "num_classes=%lld, in_channels=%lld",
                 (long long)h->num_classes, (long long)h->in_channels);
    else
        snprintf(buf, size, "cal_acc=%s", h->cal_acc ? "True" : "False");
}

static const struct mm_model_ops head_ops = {
    .loss = head_loss,
    .predict = head_predict,
};

const mm_module_class mmcls_cls_head_class = {
    .name = "ClsHead",
    .forward = head_forward,
    .extra_repr = head_repr,
    .model = &head_ops,
};

const mm_module_class mmcls_linear_cls_head_class = {
    .name = "LinearClsHead",
    .forward = head_forward,
    .init_weights = head_init_weights,
    .extra_repr = head_repr,
    .model = &head_ops,
};

/* topk: an int or a list of positive ints (at most 8). */
static int parse_topk(mm_build_ctx *ctx, cls_head *h) {
    const mm_value *v = mm_build_arg(ctx, "topk");
    size_t n = mm_value_is_list(v) ? mm_value_len(v) : 1;
    if (n == 0 || n > 8)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "topk: expected 1 to 8 values, got %zu", n);
    for (size_t i = 0; i < n; i++) {
        const mm_value *e = mm_value_is_list(v) ? mm_value_list_get(v, i) : v;
        if (!mm_value_is_int(e) || mm_value_get_int(e) <= 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "topk: Top-k should be larger than 0");
        h->topk[i] = mm_value_get_int(e);
    }
    h->n_topk = (int)n;
    return MM_OK;
}

/* init_cfg: null, or {type: Normal|Constant, layer: Linear, ...}. */
static int parse_init_cfg(mm_build_ctx *ctx, cls_head *h) {
    const mm_value *v = mm_build_arg(ctx, "init_cfg");
    if (mm_value_is_null(v))
        return MM_OK;
    const mm_value *type = mm_value_is_dict(v) ? mm_value_dict_get(v, "type")
                                               : NULL;
    const mm_value *layer = mm_value_is_dict(v) ? mm_value_dict_get(v, "layer")
                                                : NULL;
    const char *t = mm_value_is_string(type) ? mm_value_get_string(type) : "";
    bool linear = !layer || (mm_value_is_string(layer) &&
                             !strcmp(mm_value_get_string(layer), "Linear"));
    if ((strcmp(t, "Normal") && strcmp(t, "Constant")) || !linear || !h->fc)
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(v),
                               "init_cfg: not supported yet (only Normal or "
                               "Constant on layer Linear of LinearClsHead)");
    h->init = strcmp(t, "Normal") ? 2 : 1;
    h->init_std = 1.0;
    for (size_t i = 0; i < mm_value_len(v); i++) {
        const char *k = mm_value_dict_key_at(v, i);
        const mm_value *x = mm_value_dict_value_at(v, i);
        double *dst = !strcmp(k, "mean")   ? &h->init_mean
                      : !strcmp(k, "std")  ? &h->init_std
                      : !strcmp(k, "val")  ? &h->init_val
                      : !strcmp(k, "bias") ? &h->init_bias
                                           : NULL;
        if (!strcmp(k, "type") || !strcmp(k, "layer"))
            continue;
        if (!dst || !mm_value_is_number(x))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(x),
                                   "init_cfg.%s: not a number parameter of "
                                   "%s init",
                                   k, t);
        *dst = mm_value_get_float(x);
    }
    return MM_OK;
}

static int head_build_common(mm_build_ctx *ctx, const mm_module_class *cls,
                             int64_t num_classes, int64_t in_channels,
                             void **out) {
    mm_module *m, *loss = NULL;
    MM_TRY(mm_module_new(cls, sizeof(cls_head), &m));
    cls_head *h = (cls_head *)m;
    h->num_classes = num_classes;
    h->in_channels = in_channels;
    int rc = mm_build_bool(ctx, "cal_acc", &h->cal_acc);
    if (!rc)
        rc = parse_topk(ctx, h);
    if (!rc)
        rc = mm_build_child(ctx, "loss", (void **)&loss);
    if (!rc && !loss)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                             "loss: a head needs a loss config");
    if (!rc) {
        h->loss_module = loss;
        rc = mm_module_add_child(m, "loss_module", loss);
    }
    if (!rc && cls == &mmcls_linear_cls_head_class) {
        mm_module *fc;
        rc = mm_linear_new(in_channels, num_classes, true, &fc);
        if (!rc) {
            h->fc = fc;
            rc = mm_module_add_child(m, "fc", fc);
        }
    }
    if (!rc)
        rc = parse_init_cfg(ctx, h);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static int cls_head_build(mm_build_ctx *ctx, void **out) {
    return head_build_common(ctx, &mmcls_cls_head_class, 0, 0, out);
}

static int linear_head_build(mm_build_ctx *ctx, void **out) {
    int64_t nc, ic;
    MM_TRY(mm_build_int(ctx, "num_classes", &nc));
    MM_TRY(mm_build_int(ctx, "in_channels", &ic));
    if (nc <= 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "num_classes")),
                               "num_classes=%lld must be a positive integer",
                               (long long)nc);
    if (ic <= 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "in_channels")),
                               "in_channels=%lld must be a positive integer",
                               (long long)ic);
    return head_build_common(ctx, &mmcls_linear_cls_head_class, nc, ic, out);
}

#define HEAD_BASE_PARAMS                                                       \
    {.name = "loss", .type = MM_PARAM_COMPONENT, .kind = MM_MODELS,            \
     .def = "{type: mmcls.CrossEntropyLoss, loss_weight: 1.0}",                \
     .doc = "the classification loss"},                                        \
    {.name = "topk", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "[1]",       \
     .doc = "top-k accuracies logged when cal_acc"},                           \
    {.name = "cal_acc", .type = MM_PARAM_BOOL, .def = "false",                 \
     .doc = "log training accuracy (pointless with batch augments)"}

static const mm_param cls_head_params[] = {
    HEAD_BASE_PARAMS,
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "weight initialisation (ClsHead has no weights)"},
};

static const mm_param linear_head_params[] = {
    {.name = "num_classes", .type = MM_PARAM_INT, .required = true,
     .doc = "number of categories"},
    {.name = "in_channels", .type = MM_PARAM_INT, .required = true,
     .doc = "channels of the input feature map"},
    HEAD_BASE_PARAMS,
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "{type: Normal, layer: Linear, std: 0.01}",
     .doc = "initialisation of fc (Normal or Constant)"},
};

static const mm_component cls_head_component = {
    .kind = MM_MODELS,
    .name = "ClsHead",
    .doc = "classification head: the features are the class scores",
    .params = cls_head_params,
    .n_params = sizeof cls_head_params / sizeof cls_head_params[0],
    .build = cls_head_build,
    .destroy = mmcls_module_destroy,
};

static const mm_component linear_head_component = {
    .kind = MM_MODELS,
    .name = "LinearClsHead",
    .doc = "linear classification head: fc(features)",
    .params = linear_head_params,
    .n_params = sizeof linear_head_params / sizeof linear_head_params[0],
    .build = linear_head_build,
    .destroy = mmcls_module_destroy,
};

int mmcls_register_heads(void) {
    MM_TRY(mm_register(&cls_head_component));
    MM_TRY(mm_register(&linear_head_component));
    return MM_OK;
}
