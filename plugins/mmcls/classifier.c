/* mmcls models: ImageClassifier (mmpretrain/models/classifiers/image.py)
 * and ClsDataPreprocessor (mmpretrain/models/utils/data_preprocessor.py).
 *
 * ImageClassifier's children are registered in mmpretrain's order -
 * data_preprocessor, backbone, neck, head - so its state_dict keys are
 * mmpretrain's (`backbone.features.0.weight`, `head.fc.weight`). Its
 * generic forward is mode='tensor' (the head's output, or the features
 * when there is no head); loss and predict go through the head's
 * mm_model_ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/autograd.h>
#include <mm/model.h>
#include <mm/nn.h>
#include <mm/reduction.h>
#include <mm/registry.h>

#include "mmcls.h"

/* ---- ClsDataPreprocessor ------------------------------------------------- */

typedef struct cls_preprocessor {
    mm_module base;
    mm_img_preprocess_cfg cfg;
    bool to_onehot;
    int64_t num_classes; /* 0: none */
    bool has_augments;
    mmcls_batch_augments augments;
} cls_preprocessor;

/* The batch's scores (N, C) f32: stacked gt_score when the first sample
 * has one, else the one-hot gt_labels (to_onehot; num_classes from the
 * preprocessor, else the sample's). *out NULL: no labels at all. */
static int batch_scores(const cls_preprocessor *p, const mm_value *samples,
                        mm_tensor **out) {
    size_t n = mm_value_len(samples);
    const mm_value *s0 = n ? mm_value_list_get(samples, 0) : NULL;
    *out = NULL;
    if (!s0)
        return MM_OK;
    if (mmcls_get(s0, "gt_score")) {
        mm_tensor *t;
        MM_TRY(mmcls_targets(samples, (int64_t)n, &t));
        return mm_to_dtype(t, MM_F32, out);
    }
    if (!p->to_onehot || !mmcls_get(s0, "gt_label"))
        return MM_OK;
    int64_t C = p->num_classes;
    const mm_value *nc = mmcls_get(s0, "num_classes");
    if (!C && nc && mm_value_is_int(nc))
        C = mm_value_get_int(nc);
    if (C <= 0)
        return mm_error_set(MM_EINVAL,
                            "Cannot generate one-hot format labels because "
                            "not set `num_classes` in `data_preprocessor`.");
    float *rows = calloc(n * (size_t)C, sizeof *rows);
    if (!rows)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = MM_OK;
    for (size_t i = 0; !rc && i < n; i++)
        rc = mmcls_onehot_row(mm_value_list_get(samples, i), i, C,
                              rows + i * (size_t)C);
    if (!rc)
        rc = mm_from_data(rows, MM_SHAPE((int64_t)n, C), MM_F32, out);
    free(rows);
    return rc;
}

/* Row i of scores into sample i as gt_score (a copy per sample, so a
 * sample does not keep the batch alive). */
static int scatter_scores(mm_tensor *scores, mm_value *samples) {
    mm_tensor *c;
    MM_TRY(mm_contiguous(scores, &c));
    int64_t C = c->shape[1];
    const float *d = MM_DATA(c, float);
    for (size_t i = 0; i < mm_value_len(samples); i++) {
        mm_tensor *row;
        MM_TRY(mm_from_data(d + (int64_t)i * C, MM_SHAPE(C), MM_F32, &row));
        if (mm_value_dict_set_take(mm_value_list_get(samples, i), "gt_score",
                                   mm_tensor_to_value(row)))
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    return MM_OK;
}

/* mmpretrain's ClsDataPreprocessor.forward after normalisation: one-hot
 * scores, then the batch augments in training. */
static int scores_and_augments(cls_preprocessor *p, bool training,
                               mm_tensor **inputs, mm_value *samples) {
    mm_tensor *scores;
    mm_no_grad_push();
    int rc = batch_scores(p, samples, &scores);
    if (!rc && scores && training && p->has_augments)
        rc = mmcls_batch_augments_apply(&p->augments, NULL, *inputs, scores,
                                        inputs, &scores);
    if (!rc && scores && (p->to_onehot || p->has_augments))
        rc = scatter_scores(scores, samples);
    mm_no_grad_pop();
    return rc;
}

static int preprocessor_run(mm_module *m, const mm_value *batch,
                            bool training, mm_tensor **inputs,
                            mm_value **data_samples) {
    cls_preprocessor *p = (cls_preprocessor *)m;
    mm_value *samples = NULL;
    MM_TRY(mm_img_preprocess(&p->cfg, batch, inputs, &samples));
    if (samples && mm_value_is_list(samples) &&
        (p->to_onehot || p->has_augments)) {
        int rc = scores_and_augments(p, training, inputs, samples);
        if (rc) {
            mm_value_release(samples);
            return mm_error_context(rc, NULL, "data_preprocessor");
        }
    }
    *data_samples = samples;
    return MM_OK;
}

static const struct mm_model_ops preprocessor_ops = {
    .preprocess = preprocessor_run,
};

static void preprocessor_repr(const mm_module *m, char *buf, size_t size) {
    const cls_preprocessor *p = (const cls_preprocessor *)m;
    snprintf(buf, size, "normalize=%s, pad_size_divisor=%lld, to_rgb=%s",
             p->cfg.n_mean ? "True" : "False",
             (long long)p->cfg.pad_size_divisor,
             p->cfg.bgr_to_rgb ? "True" : "False");
}

const mm_module_class mmcls_preprocessor_class = {
    .name = "ClsDataPreprocessor",
    .extra_repr = preprocessor_repr,
    .model = &preprocessor_ops,
};

/* mean / std: null or 1 to 4 numbers. */
static int parse_channels(mm_build_ctx *ctx, const char *param, double *dst,
                          int *n) {
    const mm_value *v = mm_build_arg(ctx, param);
    *n = 0;
    if (mm_value_is_null(v))
        return MM_OK;
    size_t len = mm_value_is_list(v) ? mm_value_len(v) : 1;
    if (len < 1 || len > 4)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected 1 to 4 numbers (one per "
                               "channel), got %zu",
                               param, len);
    for (size_t i = 0; i < len; i++) {
        const mm_value *e = mm_value_is_list(v) ? mm_value_list_get(v, i) : v;
        if (!mm_value_is_number(e))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s: expected numbers", param);
        dst[i] = mm_value_get_float(e);
    }
    *n = (int)len;
    return MM_OK;
}

static int preprocessor_build(mm_build_ctx *ctx, void **out) {
    mm_img_preprocess_cfg cfg = {0};
    int n_std = 0;
    int64_t div;
    const mm_value *ba = mm_build_arg(ctx, "batch_augments");
    const mm_value *nc = mm_build_arg(ctx, "num_classes");
    bool to_onehot;
    MM_TRY(parse_channels(ctx, "mean", cfg.mean, &cfg.n_mean));
    MM_TRY(parse_channels(ctx, "std", cfg.std, &n_std));
    MM_TRY(mm_build_int(ctx, "pad_size_divisor", &div));
    MM_TRY(mm_build_float(ctx, "pad_value", &cfg.pad_value));
    MM_TRY(mm_build_bool(ctx, "to_rgb", &cfg.bgr_to_rgb));
    MM_TRY(mm_build_bool(ctx, "to_onehot", &to_onehot));
    const mm_srcloc *here = mm_value_loc(mm_build_node(ctx));
    if (cfg.n_mean && n_std != cfg.n_mean)
        return mm_error_set_at(
            MM_EINVAL, here,
            "std: to enable the normalization, specify both `mean` and `std` "
            "with as many values (%d mean, %d std)",
            cfg.n_mean, n_std);
    if (!cfg.n_mean && n_std)
        return mm_error_set_at(MM_EINVAL, here,
                               "mean: std is given but mean is null");
    for (int i = 0; i < n_std; i++)
        if (cfg.std[i] == 0)
            return mm_error_set_at(
                MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "std")),
                "std: a standard deviation of 0 divides by zero");
    if (div < 1)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "pad_size_divisor")),
            "pad_size_divisor: must be at least 1, got %lld", (long long)div);
    cfg.pad_size_divisor = div;
    mmcls_batch_augments augments;
    bool has_augments = !mm_value_is_null(ba);
    if (has_augments)
        MM_TRY(mmcls_batch_augments_parse(ba, &augments));
    int64_t num_classes = mm_value_is_null(nc) ? 0 : mm_value_get_int(nc);
    if (!mm_value_is_null(nc) && num_classes <= 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(nc),
                               "num_classes: must be positive, got %lld",
                               (long long)num_classes);
    if (to_onehot && !num_classes)
        return mm_error_set_at(MM_EINVAL, here,
                               "to_onehot: cannot generate one-hot format "
                               "labels because `num_classes` is not set");
    mm_module *m;
    MM_TRY(mm_module_new(&mmcls_preprocessor_class, sizeof(cls_preprocessor),
                         &m));
    cls_preprocessor *p = (cls_preprocessor *)m;
    p->cfg = cfg;
    /* batch augments turn to_onehot on, as mmpretrain's */
    p->to_onehot = to_onehot || has_augments;
    p->num_classes = num_classes;
    p->has_augments = has_augments;
    if (has_augments)
        p->augments = augments;
    *out = m;
    return MM_OK;
}

static const mm_param preprocessor_params[] = {
    {.name = "mean", .type = MM_PARAM_LIST | MM_PARAM_NULL, .def = "null",
     .doc = "per-channel mean subtracted (null: no normalisation)"},
    {.name = "std", .type = MM_PARAM_LIST | MM_PARAM_NULL, .def = "null",
     .doc = "per-channel standard deviation divided by"},
    {.name = "pad_size_divisor", .type = MM_PARAM_INT, .def = "1",
     .doc = "pad the batch to a multiple of this"},
    {.name = "pad_value", .type = MM_PARAM_FLOAT, .def = "0",
     .doc = "value of padded pixels"},
    {.name = "to_rgb", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "swap BGR to RGB for 3-channel inputs"},
    {.name = "to_onehot", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "add one-hot gt_score to every data sample"},
    {.name = "num_classes", .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null", .doc = "number of classes (for to_onehot)"},
    {.name = "batch_augments", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "{augments: Mixup/CutMix dict(s), probs} applied in training"},
};

static const mm_component preprocessor_component = {
    .kind = MM_MODELS,
    .name = "ClsDataPreprocessor",
    .doc = "stack, normalise and pad a classification batch",
    .params = preprocessor_params,
    .n_params = sizeof preprocessor_params / sizeof preprocessor_params[0],
    .build = preprocessor_build,
    .destroy = mmcls_module_destroy,
};

/* ---- ImageClassifier ------------------------------------------------------ */

typedef struct image_classifier {
    mm_module base;
    mm_module *backbone, *neck, *head; /* children; neck, head may be NULL */
} image_classifier;

/* mmpretrain's extract_feat(stage='neck'): the backbone's outputs (one per
 * out_indices entry) through the neck, into feats[0..*n). */
static int extract_feat(image_classifier *c, mm_tensor *x, int *n,
                        mm_tensor **feats) {
    MM_TRY(mm_module_forward_multi(c->backbone, 1, &x, MM_MAX_OUTPUTS, n,
                                   feats));
    if (c->neck) {
        mm_tensor *in[MM_MAX_OUTPUTS];
        memcpy(in, feats, (size_t)*n * sizeof *in);
        MM_TRY(mm_module_forward_multi(c->neck, *n, in, MM_MAX_OUTPUTS, n,
                                       feats));
    }
    return MM_OK;
}

/* mode='tensor'. */
static int classifier_forward(mm_module *m, int n, mm_tensor *const *in,
                              mm_tensor **out) {
    image_classifier *c = (image_classifier *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "ImageClassifier takes one input "
                                       "batch, got %d", n);
    mm_tensor *feats[MM_MAX_OUTPUTS];
    int nf;
    MM_TRY(extract_feat(c, in[0], &nf, feats));
    if (!c->head) {
        *out = feats[nf - 1];
        return MM_OK;
    }
    return mm_module_forward(c->head, nf, feats, out);
}

static int classifier_loss(mm_module *m, int n, mm_tensor *const *in,
                           mm_value *samples, mm_value **losses) {
    image_classifier *c = (image_classifier *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "ImageClassifier takes one input "
                                       "batch, got %d", n);
    if (!c->head || !mm_model_has_loss(c->head))
        return mm_error_set(MM_EINVAL, "ImageClassifier: mode 'loss' needs "
                                       "a head with a loss");
    mm_tensor *feats[MM_MAX_OUTPUTS];
    int nf;
    MM_TRY(extract_feat(c, in[0], &nf, feats));
    return mm_model_loss(c->head, nf, feats, samples, losses);
}

static int classifier_predict(mm_module *m, int n, mm_tensor *const *in,
                              mm_value *samples, mm_value **out) {
    image_classifier *c = (image_classifier *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "ImageClassifier takes one input "
                                       "batch, got %d", n);
    if (!c->head)
        return mm_error_set(MM_EINVAL, "ImageClassifier: mode 'predict' "
                                       "needs a head");
    mm_tensor *feats[MM_MAX_OUTPUTS];
    int nf;
    MM_TRY(extract_feat(c, in[0], &nf, feats));
    return mm_model_predict(c->head, nf, feats, samples, out);
}

static const struct mm_model_ops classifier_ops = {
    .loss = classifier_loss,
    .predict = classifier_predict,
};

const mm_module_class mmcls_image_classifier_class = {
    .name = "ImageClassifier",
    .forward = classifier_forward,
    .model = &classifier_ops,
};

/* The data_preprocessor config: the given dict (default {}) with `type`
 * defaulting to ClsDataPreprocessor, and train_cfg as batch_augments when
 * it has `augments` (mmpretrain's ImageClassifier.__init__). */
static int build_preprocessor(mm_build_ctx *ctx, mm_module **out) {
    const mm_value *dp = mm_build_arg(ctx, "data_preprocessor");
    const mm_value *tc = mm_build_arg(ctx, "train_cfg");
    mm_value *node = mm_value_is_dict(dp) ? mm_value_copy(dp)
                                          : mm_value_new_dict();
    if (!node)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (!mm_value_is_dict(dp))
        mm_value_set_srcloc(node, mm_value_loc(mm_build_node(ctx)));
    int rc = MM_OK;
    if (!mm_value_dict_get(node, "type"))
        rc = mm_value_dict_set_take(node, "type",
                                    mm_value_new_string(
                                        "mmcls.ClsDataPreprocessor"));
    if (!rc && mm_value_is_dict(tc) && mm_value_dict_get(tc, "augments"))
        rc = mm_value_dict_set(node, "batch_augments", (mm_value *)tc);
    char path[512];
    snprintf(path, sizeof path, "%s.data_preprocessor", mm_build_path(ctx));
    void *obj = NULL;
    if (!rc)
        rc = mm_registry_build(MM_MODELS, node, mm_build_scope(ctx), path,
                               mm_build_user(ctx), &obj);
    mm_value_release(node);
    if (rc)
        return rc;
    mm_module *pre = obj;
    if (!pre->cls->model || !pre->cls->model->preprocess) {
        mm_module_free(pre);
        return mm_error_set_at(MM_EINVAL, mm_value_loc(dp),
                               "%s: %s is not a data preprocessor", path,
                               pre->cls->name);
    }
    *out = pre;
    return MM_OK;
}

static int classifier_build(mm_build_ctx *ctx, void **out) {
    const mm_value *pre = mm_build_arg(ctx, "pretrained");
    const mm_value *ic = mm_build_arg(ctx, "init_cfg");
    if (!mm_value_is_null(pre))
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(pre),
                               "pretrained: not supported yet; use load_from "
                               "(a checkpoint of the whole model)");
    if (!mm_value_is_null(ic))
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(ic),
                               "init_cfg: not supported yet for "
                               "ImageClassifier; use load_from");
    mm_module *m, *child;
    MM_TRY(mm_module_new(&mmcls_image_classifier_class,
                         sizeof(image_classifier), &m));
    image_classifier *c = (image_classifier *)m;
    int rc = build_preprocessor(ctx, &child);
    if (!rc)
        rc = mm_module_add_child(m, "data_preprocessor", child);
    if (!rc)
        rc = mm_build_child(ctx, "backbone", (void **)&c->backbone);
    if (!rc)
        rc = mm_module_add_child(m, "backbone", c->backbone);
    if (!rc)
        rc = mm_build_child(ctx, "neck", (void **)&c->neck);
    if (!rc && c->neck)
        rc = mm_module_add_child(m, "neck", c->neck);
    if (!rc)
        rc = mm_build_child(ctx, "head", (void **)&c->head);
    if (!rc && c->head) {
        rc = mm_module_add_child(m, "head", c->head);
        if (!rc && !mm_model_has_loss(c->head))
            rc = mm_error_set_at(MM_EINVAL,
                                 mm_value_loc(mm_build_arg(ctx, "head")),
                                 "head: %s has no loss/predict (not a head)",
                                 c->head->cls->name);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param classifier_params[] = {
    {.name = "backbone", .type = MM_PARAM_COMPONENT, .kind = MM_MODELS,
     .required = true, .doc = "the backbone (LeNet5, ResNet, ...)"},
    {.name = "neck", .type = MM_PARAM_COMPONENT | MM_PARAM_NULL,
     .kind = MM_MODELS, .def = "null",
     .doc = "between backbone and head (GlobalAveragePooling)"},
    {.name = "head", .type = MM_PARAM_COMPONENT | MM_PARAM_NULL,
     .kind = MM_MODELS, .def = "null",
     .doc = "the classification head (ClsHead, LinearClsHead)"},
    {.name = "pretrained", .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null", .doc = "checkpoint to initialise from (not yet: use "
                           "load_from)"},
    {.name = "train_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null", .doc = "{augments: ...} becomes batch_augments"},
    {.name = "data_preprocessor", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "the data preprocessor config (type: ClsDataPreprocessor)"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "initialisation config (null only)"},
};

static const mm_component classifier_component = {
    .kind = MM_MODELS,
    .name = "ImageClassifier",
    .doc = "image classifier: backbone, neck, head (mmpretrain's)",
    .params = classifier_params,
    .n_params = sizeof classifier_params / sizeof classifier_params[0],
    .build = classifier_build,
    .destroy = mmcls_module_destroy,
};

void mmcls_module_destroy(void *obj) { mm_module_free(obj); }

int mmcls_register_models(void) {
    MM_TRY(mm_register(&classifier_component));
    MM_TRY(mm_register(&preprocessor_component));
    MM_TRY(mmcls_register_backbones());
    MM_TRY(mmcls_register_resnet());
    MM_TRY(mmcls_register_heads());
    MM_TRY(mmcls_register_losses());
    return MM_OK;
}
