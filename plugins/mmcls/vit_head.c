/* VisionTransformerClsHead (mmpretrain/models/heads/vision_transformer_head.py):
 * the class token (the last feature map) through an optional hidden layer
 * (layers.pre_logits, layers.act: Tanh) and the classifier layers.head.
 * Loss and predict are ClsHead's (mmcls_targets, mmcls_loss_apply,
 * mmcls_add_predictions). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mm/model.h>
#include <mm/nn.h>
#include <mm/registry.h>

#include "mmcls.h"
#include "transformer.h"

typedef struct vit_head {
    mm_module base;
    int64_t num_classes, in_channels, hidden_dim; /* hidden_dim 0: none */
    mm_module *layers;                            /* child */
    mm_module *pre_logits, *act, *head;           /* children of layers */
    mm_module *loss_module;                       /* child */
    mm_value *init_cfg;                           /* retained; may be NULL */
} vit_head;

static int vit_head_forward(mm_module *m, int n, mm_tensor *const *in,
                            mm_tensor **out) {
    vit_head *h = (vit_head *)m;
    if (n < 1)
        return mm_error_set(MM_EINVAL,
                            "VisionTransformerClsHead needs a feature map");
    mm_tensor *x = in[n - 1]; /* (N, in_channels) */
    if (h->pre_logits) {
        MM_TRY(mm_linear_forward(h->pre_logits, x, &x));
        MM_TRY(mm_module_forward1(h->act, x, &x));
    }
    return mm_linear_forward(h->head, x, out); /* (N, num_classes) */
}

static int vit_head_loss(mm_module *m, int n, mm_tensor *const *feats,
                         mm_value *samples, mm_value **losses) {
    vit_head *h = (vit_head *)m;
    mm_tensor *score, *target, *loss;
    MM_TRY(vit_head_forward(m, n, feats, &score));
    MM_TRY(mmcls_targets(samples, score->shape[0], &target));
    MM_TRY(mmcls_loss_apply(h->loss_module, score, target,
                            (double)score->shape[0], &loss));
    mm_value *d = mm_value_new_dict();
    if (!d)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = mm_value_dict_set_take(d, "loss", mm_tensor_to_value(loss));
    if (rc) {
        mm_value_release(d);
        return rc;
    }
    *losses = d;
    return MM_OK;
}

static int vit_head_predict(mm_module *m, int n, mm_tensor *const *feats,
                            mm_value *samples, mm_value **out) {
    mm_tensor *score;
    MM_TRY(vit_head_forward(m, n, feats, &score));
    return mmcls_add_predictions(score, samples, out);
}

/* init_cfg (default Constant 0 on Linear), then pre_logits
 * trunc_normal(std sqrt(1 / in_features)) with a zero bias. */
static int vit_head_init_weights(mm_module *m) {
    vit_head *h = (vit_head *)m;
    MM_TRY(mmcls_apply_init_cfg(m, h->init_cfg));
    if (h->pre_logits) {
        mm_nn_linear *l = (mm_nn_linear *)h->pre_logits;
        MM_TRY(mm_init_trunc_normal_(l->weight, 0.0,
                                     sqrt(1.0 / (double)l->in_features), -2.0,
                                     2.0, NULL));
        MM_TRY(mm_init_zeros_(l->bias));
    }
    return MM_OK;
}

static void vit_head_fini(mm_module *m) {
    mm_value_release(((vit_head *)m)->init_cfg);
}

static void vit_head_repr(const mm_module *m, char *buf, size_t size) {
    const vit_head *h = (const vit_head *)m;
    snprintf(buf, size, "num_classes=%lld, in_channels=%lld",
             (long long)h->num_classes, (long long)h->in_channels);
}

static const struct mm_model_ops vit_head_ops = {
    .loss = vit_head_loss,
    .predict = vit_head_predict,
};

const mm_module_class mmcls_vit_head_class = {
    .name = "VisionTransformerClsHead",
    .forward = vit_head_forward,
    .init_weights = vit_head_init_weights,
    .fini = vit_head_fini,
    .extra_repr = vit_head_repr,
    .model = &vit_head_ops,
};

static int add_to(mm_module *parent, const char *name, mm_module *c,
                  mm_module **field) {
    *field = c;
    return mm_module_add_child(parent, name, c);
}

static int vit_head_build(mm_build_ctx *ctx, void **out) {
    int64_t nc, ic, hd = 0;
    bool cal_acc;
    MM_TRY(mm_build_int(ctx, "num_classes", &nc));
    MM_TRY(mm_build_int(ctx, "in_channels", &ic));
    MM_TRY(mm_build_bool(ctx, "cal_acc", &cal_acc));
    MM_TRY(mmcls_check_init_cfg(ctx, "init_cfg"));
    const mm_value *hv = mm_build_arg(ctx, "hidden_dim");
    if (!mm_value_is_null(hv))
        hd = mm_value_get_int(hv);
    if (nc <= 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "num_classes")),
                               "num_classes=%lld must be a positive integer",
                               (long long)nc);
    if (ic <= 0 || (!mm_value_is_null(hv) && hd <= 0))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "in_channels and hidden_dim must be positive");
    if (cal_acc)
        return mm_error_set_at(MM_EUNSUPPORTED,
                               mm_value_loc(mm_build_arg(ctx, "cal_acc")),
                               "cal_acc: not supported by "
                               "VisionTransformerClsHead yet (use false)");
    const mm_value *topk = mm_build_arg(ctx, "topk");
    (void)topk; /* used by cal_acc only */
    mm_module *m, *c = NULL;
    MM_TRY(mm_module_new(&mmcls_vit_head_class, sizeof(vit_head), &m));
    vit_head *h = (vit_head *)m;
    h->num_classes = nc;
    h->in_channels = ic;
    h->hidden_dim = hd;
    const mm_value *icfg = mm_build_arg(ctx, "init_cfg");
    h->init_cfg = mm_value_is_null(icfg) ? NULL
                                         : mm_value_retain((mm_value *)icfg);
    int rc = mm_module_list_new(0, NULL, &c);
    if (!rc)
        rc = add_to(m, "layers", c, &h->layers);
    if (!rc && hd > 0) {
        if (!(rc = mm_linear_new(ic, hd, true, &c)))
            rc = add_to(h->layers, "pre_logits", c, &h->pre_logits);
        if (!rc && !(rc = mm_build_child(ctx, "act_cfg", (void **)&c)))
            rc = add_to(h->layers, "act", c, &h->act);
    }
    if (!rc && !(rc = mm_linear_new(hd > 0 ? hd : ic, nc, true, &c)))
        rc = add_to(h->layers, "head", c, &h->head);
    if (!rc && !(rc = mm_build_child(ctx, "loss", (void **)&c)))
        rc = add_to(m, "loss_module", c, &h->loss_module);
    if (!rc)
        rc = mm_module_init_weights(m);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param vit_head_params[] = {
    {.name = "num_classes", .type = MM_PARAM_INT, .required = true,
     .doc = "number of categories"},
    {.name = "in_channels", .type = MM_PARAM_INT, .required = true,
     .doc = "channels of the class token"},
    {.name = "hidden_dim", .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null", .doc = "hidden layer (pre_logits + act) size; null: none"},
    {.name = "act_cfg", .type = MM_PARAM_COMPONENT, .kind = MM_MODELS,
     .def = "{type: Tanh}", .doc = "activation of the hidden layer"},
    {.name = "loss", .type = MM_PARAM_COMPONENT, .kind = MM_MODELS,
     .def = "{type: mmcls.CrossEntropyLoss, loss_weight: 1.0}",
     .doc = "the classification loss"},
    {.name = "topk", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "[1]",
     .doc = "top-k accuracies logged when cal_acc"},
    {.name = "cal_acc", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "log training accuracy (not supported yet: false)"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "{type: Constant, layer: Linear, val: 0}",
     .doc = "initialisers of the Linear layers"},
};

static const mm_component vit_head_component = {
    .kind = MM_MODELS,
    .name = "VisionTransformerClsHead",
    .doc = "ViT classification head: [Linear, Tanh,] Linear on the class token",
    .params = vit_head_params,
    .n_params = sizeof vit_head_params / sizeof vit_head_params[0],
    .build = vit_head_build,
    .destroy = mmcls_module_destroy,
};

int mmcls_register_vit_head(void) { return mm_register(&vit_head_component); }
