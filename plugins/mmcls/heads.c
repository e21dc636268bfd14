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
    mm_module *layers;      /* StackedLinearClsHead: ModuleList of blocks */
    /* MultiLabel*ClsHead: a class is predicted when its sigmoid score is
     * >= thr (thr >= 0), else the ml_topk best ones */
    double thr;
    int64_t ml_topk;
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
    if (h->layers) {
        /* pre_logits: every block but the last, then the last (fc) */
        for (size_t i = 0; i < h->layers->n_children; i++)
            MM_TRY(mm_module_forward1(h->layers->children[i].module, x, &x));
        *out = x;
        return MM_OK;
    }
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

/* ---- MultiLabelClsHead --------------------------------------------------- */

/* Adds sample i's labels to its one-hot row (mmpretrain's label_to_onehot:
 * the one-hot rows of the labels summed, so a repeated label counts
 * twice). gt_label: an int, a list of ints or a 1-D integer tensor. */
int mmcls_onehot_row(const mm_value *s, size_t i, int64_t C, float *row) {
    const mm_value *v = mmcls_get(s, "gt_label");
    if (!v)
        return mm_error_set(MM_EINVAL, "data_samples[%zu]: no 'gt_label'", i);
    int64_t *labels = NULL, one, n = 0;
    mm_tensor *t = NULL;
    if (mm_value_is_int(v)) {
        one = mm_value_get_int(v);
        labels = &one;
        n = 1;
    } else if (mm_value_is_list(v)) {
        n = (int64_t)mm_value_len(v);
    } else if ((t = mm_tensor_from_value(v)) && t->ndim <= 1 &&
               (t->dtype == MM_I64 || t->dtype == MM_I32 ||
                t->dtype == MM_U8)) {
        n = t->numel;
    } else {
        return mm_error_set(MM_ETYPE,
                            "data_samples[%zu]: gt_label must be an int, a "
                            "list of ints or an integer tensor",
                            i);
    }
    int64_t *buf = NULL;
    if (!labels && n > 0) {
        buf = malloc((size_t)n * sizeof *buf);
        if (!buf)
            return mm_error_set(MM_ENOMEM, "out of memory");
        labels = buf;
    }
    int rc = MM_OK;
    if (t && n > 0)
        rc = mm_tensor_read(t, MM_I64, buf, (size_t)n);
    for (int64_t k = 0; !rc && !t && mm_value_is_list(v) && k < n; k++) {
        const mm_value *e = mm_value_list_get(v, (size_t)k);
        if (!mm_value_is_int(e))
            rc = mm_error_set(MM_ETYPE,
                              "data_samples[%zu]: gt_label[%lld] is not an "
                              "int",
                              i, (long long)k);
        else
            buf[k] = mm_value_get_int(e);
    }
    for (int64_t k = 0; !rc && k < n; k++) {
        if (labels[k] < 0 || labels[k] >= C)
            rc = mm_error_set(MM_ERANGE,
                              "data_samples[%zu]: gt_label %lld is not in [0, "
                              "num_classes=%lld)",
                              i, (long long)labels[k], (long long)C);
        else
            row[labels[k]] += 1;
    }
    free(buf);
    return rc;
}

/* The multi-label target (N, C) f32: stacked gt_score when the first sample
 * has one, else the one-hot gt_labels. */
static int ml_targets(const mm_value *samples, int64_t N, int64_t C,
                      mm_tensor **out) {
    if (!mm_value_is_list(samples) || (int64_t)mm_value_len(samples) != N)
        return mm_error_set(MM_EINVAL,
                            "%lld data samples for a batch of %lld",
                            (long long)mm_value_len(samples), (long long)N);
    if (N > 0 && mmcls_get(mm_value_list_get(samples, 0), "gt_score")) {
        mm_tensor *t;
        MM_TRY(mmcls_targets(samples, N, &t));
        return mm_to_dtype(t, MM_F32, out);
    }
    float *rows = calloc((size_t)(N * C > 0 ? N * C : 1), sizeof *rows);
    if (!rows)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = MM_OK;
    for (int64_t i = 0; !rc && i < N; i++)
        rc = mmcls_onehot_row(mm_value_list_get(samples, (size_t)i), (size_t)i,
                           C, rows + i * C);
    if (!rc)
        rc = mm_from_data(rows, MM_SHAPE(N, C), MM_F32, out);
    free(rows);
    return rc;
}

static int ml_head_loss(mm_module *m, int n, mm_tensor *const *feats,
                        mm_value *samples, mm_value **losses) {
    cls_head *h = (cls_head *)m;
    mm_tensor *score, *target, *loss;
    MM_TRY(head_forward(m, n, feats, &score));
    if (score->ndim != 2) {
        char buf[64];
        return mm_error_set(MM_EINVAL, "%s: cls_score must be (N, C), got %s",
                            m->cls->name,
                            mm_shape_format(score->ndim, score->shape, buf,
                                            sizeof buf));
    }
    MM_TRY(ml_targets(samples, score->shape[0], score->shape[1], &target));
    MM_TRY(mmcls_loss_apply(h->loss_module, score, target,
                            (double)score->shape[0], &loss));
    mm_value *d = mm_value_new_dict();
    if (!d || mm_value_dict_set_take(d, "loss", mm_tensor_to_value(loss))) {
        mm_value_release(d);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *losses = d;
    return MM_OK;
}

/* Sample i's predicted classes: those with score >= thr in class order, or
 * the topk best in descending order (ties: lower index first). */
static int ml_pred_labels(const cls_head *h, const float *p, int64_t C,
                          mm_tensor **out) {
    int64_t *idx = malloc((size_t)(C > 0 ? C : 1) * sizeof *idx);
    if (!idx)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int64_t k = 0;
    if (h->thr >= 0 || !h->ml_topk) {
        for (int64_t c = 0; c < C; c++)
            if (p[c] >= h->thr)
                idx[k++] = c;
    } else {
        for (int64_t c = 0; c < C; c++)
            idx[c] = c;
        /* partial selection sort: ml_topk is small */
        for (k = 0; k < h->ml_topk; k++) {
            int64_t best = k;
            for (int64_t j = k + 1; j < C; j++)
                if (p[idx[j]] > p[idx[best]] ||
                    (p[idx[j]] == p[idx[best]] && idx[j] < idx[best]))
                    best = j;
            int64_t tmp = idx[k];
            idx[k] = idx[best];
            idx[best] = tmp;
        }
    }
    int rc = mm_from_data(idx, MM_SHAPE(k), MM_I64, out);
    free(idx);
    return rc;
}

static int ml_head_predict(mm_module *m, int n, mm_tensor *const *feats,
                           mm_value *samples, mm_value **out) {
    const cls_head *h = (const cls_head *)m;
    mm_tensor *score, *prob;
    MM_TRY(head_forward(m, n, feats, &score));
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
    if (h->thr < 0 && h->ml_topk > C)
        return mm_error_set(MM_EINVAL, "topk=%lld is more than the %lld "
                                       "classes",
                            (long long)h->ml_topk, (long long)C);
    mm_no_grad_push();
    int rc = mm_to_dtype(score, MM_F32, &prob);
    if (!rc)
        rc = mm_sigmoid(prob, &prob);
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
        mm_tensor *row = NULL, *labels = NULL;
        rc = mm_from_data(p + i * C, MM_SHAPE(C), MM_F32, &row);
        if (!rc)
            rc = ml_pred_labels(h, p + i * C, C, &labels);
        if (!rc)
            rc = mm_value_dict_set_take(s, "pred_score",
                                        mm_tensor_to_value(row));
        if (!rc)
            rc = mm_value_dict_set_take(s, "pred_label",
                                        mm_tensor_to_value(labels));
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

static int init_linear(const cls_head *h, mm_module *lin) {
    mm_nn_linear *fc = (mm_nn_linear *)lin;
    if (h->init == 1)
        MM_TRY(mm_init_normal_(fc->weight, h->init_mean, h->init_std, NULL));
    else
        MM_TRY(mm_init_constant_(fc->weight, h->init_val));
    if (fc->bias)
        MM_TRY(mm_init_constant_(fc->bias, h->init_bias));
    return MM_OK;
}

/* The init_cfg on Linear (LinearClsHead's default Normal(std=0.01); the
 * one mmpretrain's MobileNetV3 configs give StackedLinearClsHead): on fc,
 * or on every block's fc, applied by mm_module_init_weights, as mmengine's
 * init_weights() does. */
static int head_init_weights(mm_module *m) {
    cls_head *h = (cls_head *)m;
    if (!h->init)
        return MM_OK;
    if (h->fc)
        return init_linear(h, h->fc);
    for (size_t i = 0; h->layers && i < h->layers->n_children; i++) {
        mm_module *fc = mm_module_get_child(h->layers->children[i].module,
                                            "fc");
        if (fc)
            MM_TRY(init_linear(h, fc));
    }
    return MM_OK;
}

static void head_repr(const mm_module *m, char *buf, size_t size) {
    const cls_head *h = (const cls_head *)m;
    if (h->num_classes > 0)
        snprintf(buf, size, "num_classes=%lld, in_channels=%lld",
                 (long long)h->num_classes, (long long)h->in_channels);
    else
        snprintf(buf, size, "cal_acc=%s", h->cal_acc ? "True" : "False");
}

static const struct mm_model_ops head_ops = {
    .loss = head_loss,
    .predict = head_predict,
};

static const struct mm_model_ops ml_head_ops = {
    .loss = ml_head_loss,
    .predict = ml_head_predict,
};

static void ml_head_repr(const mm_module *m, char *buf, size_t size) {
    const cls_head *h = (const cls_head *)m;
    int k = h->fc ? snprintf(buf, size, "num_classes=%lld, in_channels=%lld, ",
                             (long long)h->num_classes,
                             (long long)h->in_channels)
                  : 0;
    if (k < 0 || (size_t)k >= size)
        return;
    if (h->thr >= 0)
        snprintf(buf + k, size - (size_t)k, "thr=%g", h->thr);
    else
        snprintf(buf + k, size - (size_t)k, "topk=%lld",
                 (long long)h->ml_topk);
}

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

const mm_module_class mmcls_stacked_head_class = {
    .name = "StackedLinearClsHead",
    .forward = head_forward,
    .init_weights = head_init_weights,
    .extra_repr = head_repr,
    .model = &head_ops,
};

const mm_module_class mmcls_ml_head_class = {
    .name = "MultiLabelClsHead",
    .forward = head_forward,
    .extra_repr = ml_head_repr,
    .model = &ml_head_ops,
};

const mm_module_class mmcls_ml_linear_head_class = {
    .name = "MultiLabelLinearClsHead",
    .forward = head_forward,
    .init_weights = head_init_weights,
    .extra_repr = ml_head_repr,
    .model = &ml_head_ops,
};

/* mmpretrain's LinearBlock: fc, then norm, act and dropout where given. */
typedef struct linear_block {
    mm_module base;
    mm_module *fc, *norm, *act, *dropout; /* children; all but fc optional */
} linear_block;

static int linear_block_forward(mm_module *m, int n, mm_tensor *const *in,
                                mm_tensor **out) {
    linear_block *b = (linear_block *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "LinearBlock takes one input, got %d",
                            n);
    mm_tensor *x;
    MM_TRY(mm_linear_forward(b->fc, in[0], &x)); // (N, in) -> (N, out)
    if (b->norm)
        MM_TRY(mm_module_forward1(b->norm, x, &x));
    if (b->act)
        MM_TRY(mm_module_forward1(b->act, x, &x));
    if (b->dropout)
        MM_TRY(mm_module_forward1(b->dropout, x, &x));
    *out = x;
    return MM_OK;
}

static const mm_module_class linear_block_class = {
    .name = "LinearBlock",
    .forward = linear_block_forward,
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
    bool stacked = h->base.cls == &mmcls_stacked_head_class;
    if ((strcmp(t, "Normal") && strcmp(t, "Constant")) || !linear ||
        (!h->fc && !stacked))
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(v),
                               "init_cfg: not supported yet (only Normal or "
                               "Constant on layer Linear of LinearClsHead "
                               "or StackedLinearClsHead)");
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

/* A child of a LinearBlock from a norm_cfg / act_cfg dict: the config with
 * the channel count added under the name the norm's schema uses. */
static int build_block_layer(mm_build_ctx *ctx, const char *key,
                             const mm_value *cfg, int64_t channels,
                             mm_module **out) {
    mm_value *node = mm_value_copy(cfg);
    if (!node)
        return mm_error_set(MM_ENOMEM, "out of memory");
    const mm_value *type = mm_value_dict_get(node, "type");
    int rc = MM_OK;
    if (!type || !mm_value_is_string(type))
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(cfg), "%s: missing 'type'",
                             key);
    const mm_entry *e = NULL;
    if (!rc)
        rc = mm_registry_lookup(MM_MODELS, mm_value_get_string(type),
                                mm_build_scope(ctx), mm_value_loc(type), &e);
    if (!rc && channels > 0) {
        const char *names[] = {"num_features", "num_channels",
                               "normalized_shape"};
        const char *found = NULL;
        for (int k = 0; k < 3 && !found; k++)
            for (size_t i = 0; i < e->component->n_params; i++)
                if (!strcmp(e->component->params[i].name, names[k]))
                    found = names[k];
        if (!found)
            rc = mm_error_set_at(MM_EINVAL, mm_value_loc(type),
                                 "%s: %s takes none of num_features, "
                                 "num_channels, normalized_shape",
                                 key, e->component->name);
        else
            rc = mm_value_dict_set_take(node, found,
                                        mm_value_new_int(channels));
    }
    char path[512];
    snprintf(path, sizeof path, "%s.%s", mm_build_path(ctx), key);
    void *obj = NULL;
    if (!rc)
        rc = mm_registry_build(MM_MODELS, node, mm_build_scope(ctx), path,
                               mm_build_user(ctx), &obj);
    mm_value_release(node);
    *out = obj;
    return rc;
}

/* One LinearBlock(in, out, dropout, norm_cfg, act_cfg) into the list. */
static int add_linear_block(mm_build_ctx *ctx, mm_module *list, int64_t in,
                            int64_t out, double dropout,
                            const mm_value *norm_cfg, const mm_value *act_cfg) {
    mm_module *m, *child;
    MM_TRY(mm_module_new(&linear_block_class, sizeof(linear_block), &m));
    linear_block *b = (linear_block *)m;
    int rc = mm_linear_new(in, out, true, &child);
    if (!rc) {
        b->fc = child;
        rc = mm_module_add_child(m, "fc", child);
    }
    if (!rc && !mm_value_is_null(norm_cfg)) {
        rc = build_block_layer(ctx, "norm_cfg", norm_cfg, out, &child);
        if (!rc) {
            b->norm = child;
            rc = mm_module_add_child(m, "norm", child);
        }
    }
    if (!rc && !mm_value_is_null(act_cfg)) {
        rc = build_block_layer(ctx, "act_cfg", act_cfg, 0, &child);
        if (!rc) {
            b->act = child;
            rc = mm_module_add_child(m, "act", child);
        }
    }
    if (!rc && dropout > 0) {
        rc = mm_dropout_new(dropout, &child);
        if (!rc) {
            b->dropout = child;
            rc = mm_module_add_child(m, "dropout", child);
        }
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    return mm_sequential_append(list, m);
}

static int stacked_head_build(mm_build_ctx *ctx, void **out) {
    int64_t nc, ic;
    double dropout;
    MM_TRY(mm_build_int(ctx, "num_classes", &nc));
    MM_TRY(mm_build_int(ctx, "in_channels", &ic));
    MM_TRY(mm_build_float(ctx, "dropout_rate", &dropout));
    const mm_value *mid = mm_build_arg(ctx, "mid_channels");
    const mm_value *norm_cfg = mm_build_arg(ctx, "norm_cfg");
    const mm_value *act_cfg = mm_build_arg(ctx, "act_cfg");
    if (nc <= 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "num_classes")),
                               "num_classes=%lld must be a positive integer",
                               (long long)nc);
    if (!mm_value_is_list(mid) || mm_value_len(mid) == 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mid),
                               "mid_channels: `mid_channels` of "
                               "StackedLinearClsHead should be a non-empty "
                               "sequence of channel counts");
    for (size_t i = 0; i < mm_value_len(mid); i++) {
        const mm_value *e = mm_value_list_get(mid, i);
        if (!mm_value_is_int(e) || mm_value_get_int(e) <= 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "mid_channels.%zu: expected a positive "
                                   "integer",
                                   i);
    }
    if (!(dropout >= 0 && dropout < 1))
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "dropout_rate")),
                               "dropout_rate: expected a probability in [0, "
                               "1), got %g",
                               dropout);
    void *obj;
    MM_TRY(head_build_common(ctx, &mmcls_stacked_head_class, nc, ic, &obj));
    mm_module *m = obj, *list;
    cls_head *h = (cls_head *)m;
    int rc = mm_module_list_new(0, NULL, &list);
    if (!rc) {
        h->layers = list;
        rc = mm_module_add_child(m, "layers", list);
    }
    int64_t in = ic;
    for (size_t i = 0; !rc && i < mm_value_len(mid); i++) {
        int64_t c = mm_value_get_int(mm_value_list_get(mid, i));
        rc = add_linear_block(ctx, list, in, c, dropout, norm_cfg, act_cfg);
        in = c;
    }
    if (!rc)
        rc = add_linear_block(ctx, list, in, nc, 0, NULL, NULL);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* MultiLabelClsHead / MultiLabelLinearClsHead (fc when in_channels > 0). */
static int ml_head_build_common(mm_build_ctx *ctx, const mm_module_class *cls,
                                int64_t num_classes, int64_t in_channels,
                                void **out) {
    const mm_value *thr = mm_build_arg(ctx, "thr");
    const mm_value *topk = mm_build_arg(ctx, "topk");
    if (!mm_value_is_null(thr) && !mm_value_is_number(thr))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(thr),
                               "thr: expected a number or null");
    if (!mm_value_is_null(topk) &&
        (!mm_value_is_int(topk) || mm_value_get_int(topk) <= 0))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(topk),
                               "topk: expected a positive integer or null");
    mm_module *m, *loss = NULL;
    MM_TRY(mm_module_new(cls, sizeof(cls_head), &m));
    cls_head *h = (cls_head *)m;
    h->num_classes = num_classes;
    h->in_channels = in_channels;
    /* thr wins over topk; neither: thr 0.5. thr < 0 marks "use topk", so a
     * negative thr given by the user (every class positive) becomes 0,
     * which selects the same classes since sigmoid scores are >= 0. */
    h->ml_topk = mm_value_is_null(topk) ? 0 : mm_value_get_int(topk);
    if (!mm_value_is_null(thr))
        h->thr = mm_value_get_float(thr) > 0 ? mm_value_get_float(thr) : 0.0;
    else
        h->thr = h->ml_topk ? -1.0 : 0.5;
    int rc = mm_build_child(ctx, "loss", (void **)&loss);
    if (!rc && !loss)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                             "loss: a head needs a loss config");
    if (!rc) {
        h->loss_module = loss;
        rc = mm_module_add_child(m, "loss_module", loss);
    }
    if (!rc && in_channels > 0) {
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

static int ml_head_build(mm_build_ctx *ctx, void **out) {
    return ml_head_build_common(ctx, &mmcls_ml_head_class, 0, 0, out);
}

static int ml_linear_head_build(mm_build_ctx *ctx, void **out) {
    int64_t nc, ic;
    MM_TRY(mm_build_int(ctx, "num_classes", &nc));
    MM_TRY(mm_build_int(ctx, "in_channels", &ic));
    if (nc <= 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "num_classes")),
                               "num_classes (%lld) must be a positive integer.",
                               (long long)nc);
    if (ic <= 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "in_channels")),
                               "in_channels=%lld must be a positive integer",
                               (long long)ic);
    return ml_head_build_common(ctx, &mmcls_ml_linear_head_class, nc, ic, out);
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

static const mm_param stacked_head_params[] = {
    {.name = "num_classes", .type = MM_PARAM_INT, .required = true,
     .doc = "number of categories"},
    {.name = "in_channels", .type = MM_PARAM_INT, .required = true,
     .doc = "channels of the input feature map"},
    {.name = "mid_channels", .type = MM_PARAM_LIST, .required = true,
     .doc = "channels of the hidden fc layers"},
    {.name = "dropout_rate", .type = MM_PARAM_FLOAT, .def = "0.0",
     .doc = "dropout after each hidden fc layer"},
    {.name = "norm_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL, .def = "null",
     .doc = "norm after each hidden fc layer (BN1d, LN, ...)"},
    {.name = "act_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "{type: ReLU}", .doc = "activation after each hidden fc layer"},
    HEAD_BASE_PARAMS,
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "weight initialisation (null: PyTorch's)"},
};

#define ML_HEAD_PARAMS                                                         \
    {.name = "loss", .type = MM_PARAM_COMPONENT, .kind = MM_MODELS,            \
     .def = "{type: mmcls.CrossEntropyLoss, use_sigmoid: true}",               \
     .doc = "the multi-label loss"},                                           \
    {.name = "thr", .type = MM_PARAM_FLOAT | MM_PARAM_NULL, .def = "null",     \
     .doc = "classes scored >= thr are predicted (wins over topk; neither: "   \
            "0.5)"},                                                           \
    {.name = "topk", .type = MM_PARAM_INT | MM_PARAM_NULL, .def = "null",      \
     .doc = "the k best classes are predicted"}

static const mm_param ml_head_params[] = {
    ML_HEAD_PARAMS,
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "weight initialisation (no weights)"},
};

static const mm_param ml_linear_head_params[] = {
    {.name = "num_classes", .type = MM_PARAM_INT, .required = true,
     .doc = "number of categories"},
    {.name = "in_channels", .type = MM_PARAM_INT, .required = true,
     .doc = "channels of the input feature map"},
    ML_HEAD_PARAMS,
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "{type: Normal, layer: Linear, std: 0.01}",
     .doc = "initialisation of fc (Normal or Constant)"},
};

static const mm_component extra_head_components[] = {
    {.kind = MM_MODELS,
     .name = "StackedLinearClsHead",
     .doc = "hidden fc blocks (fc, norm, act, dropout), then fc",
     .params = stacked_head_params,
     .n_params = sizeof stacked_head_params / sizeof stacked_head_params[0],
     .build = stacked_head_build,
     .destroy = mmcls_module_destroy},
    {.kind = MM_MODELS,
     .name = "MultiLabelClsHead",
     .doc = "multi-label head: the features are the class scores (sigmoid)",
     .params = ml_head_params,
     .n_params = sizeof ml_head_params / sizeof ml_head_params[0],
     .build = ml_head_build,
     .destroy = mmcls_module_destroy},
    {.kind = MM_MODELS,
     .name = "MultiLabelLinearClsHead",
     .doc = "multi-label linear head: sigmoid(fc(features))",
     .params = ml_linear_head_params,
     .n_params = sizeof ml_linear_head_params / sizeof ml_linear_head_params[0],
     .build = ml_linear_head_build,
     .destroy = mmcls_module_destroy},
};

int mmcls_register_heads(void) {
    MM_TRY(mm_register(&cls_head_component));
    MM_TRY(mm_register(&linear_head_component));
    MM_TRY(mm_register_all(extra_head_components,
                           sizeof extra_head_components /
                               sizeof extra_head_components[0]));
    return MM_OK;
}
