/* Registration entry points of the mmcls plugin's areas, and the few
 * helpers its files share (never exported: the plugin exports only its
 * descriptor getter). */
#ifndef MMCLS_MMCLS_H
#define MMCLS_MMCLS_H

#include <mm/nn.h>
#include <mm/value.h>

int mmcls_register_metrics(void);    /* metrics.c */
int mmcls_register_models(void);     /* classifier.c: all MODELS */
int mmcls_register_backbones(void);  /* backbones.c */
int mmcls_register_heads(void);      /* heads.c */
int mmcls_register_losses(void);     /* losses.c */
int mmcls_register_datasets(void);   /* mnist.c */
int mmcls_register_transforms(void); /* formatting.c */
/* regnet.c, efficientnet.c, convnext.c, effconv_common.c: the backbones,
 * their layers and their torchvision key maps */
int mmcls_register_effconv(void);

/* mm_component.destroy of every mmcls MODELS component. */
void mmcls_module_destroy(void *obj);

/* LeNet5 (num_classes <= 0: features only) and GlobalAveragePooling. */
int mmcls_lenet5_new(int64_t num_classes, mm_module **out);
int mmcls_gap_new(int dim, mm_module **out);

/* loss(cls_score, target) with mmpretrain's avg_factor (> 0; 0: none) for
 * the mmcls losses; another plugin's loss through its generic forward. */
int mmcls_loss_apply(mm_module *loss, mm_tensor *score, mm_tensor *target,
                     double avg_factor, mm_tensor **out);
/* The batch's targets: stacked gt_score (N, C) or gt_label (N) i64. */
int mmcls_targets(const mm_value *samples, int64_t n, mm_tensor **out);
/* softmax(cls_score) into each sample as pred_score / pred_label; *out a
 * new list of the (updated) samples, or of new dicts when samples is NULL. */
int mmcls_add_predictions(mm_tensor *score, mm_value *samples,
                          mm_value **out);

/* d[key] when d is a dict, else NULL. */
static inline mm_value *mmcls_get(const mm_value *d, const char *key) {
    return mm_value_is_dict(d) ? mm_value_dict_get(d, key) : NULL;
}

#endif
