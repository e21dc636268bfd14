/* Registration entry points of the mmcls plugin's areas, and the few
 * helpers its files share (never exported: the plugin exports only its
 * descriptor getter). */
#ifndef MMCLS_MMCLS_H
#define MMCLS_MMCLS_H

#include <mm/nn.h>
#include <mm/rng.h>
#include <mm/value.h>

int mmcls_register_metrics(void);    /* metrics.c */
int mmcls_register_models(void);     /* classifier.c: all MODELS */
int mmcls_register_backbones(void);  /* backbones.c */
int mmcls_register_heads(void);      /* heads.c */
int mmcls_register_losses(void);     /* losses.c */
int mmcls_register_datasets(void);   /* mnist.c */
int mmcls_register_transforms(void); /* formatting.c */
int mmcls_register_auto_augment(void); /* auto_augment.c */
int mmcls_register_image_datasets(void);   /* datasets.c */
int mmcls_register_image_transforms(void); /* processing.c */
int mmcls_register_vgg(void);        /* vgg.c: VGG, torchvision.vgg */
int mmcls_register_mobilenet(void);  /* mobilenet.c: MobileNetV2/V3 */
int mmcls_register_shufflenet(void); /* shufflenet.c: ShuffleNetV2 */
/* regnet.c, efficientnet.c, convnext.c, effconv_common.c: the backbones,
 * their layers and their torchvision key maps */
int mmcls_register_effconv(void);

/* Parse a pickle of plain data and numpy arrays (pickle.c: the restricted
 * reader for CIFAR's batch files) into a new value; `name` starts errors. */
int mmcls_pickle_parse(const char *name, const void *data, size_t len,
                       mm_value **out);
int mmcls_register_vit(void);        /* vit.c: VisionTransformer, key map */
int mmcls_register_vit_head(void);   /* vit_head.c */
int mmcls_register_swin(void);       /* swin.c: SwinTransformer, key map */
int mmcls_register_resnet(void);     /* resnet.c: ResNet family, key map */
int mmcls_register_precise_bn(void); /* precise_bn.c: PreciseBNHook */

/* The info dict of sample i of an in-memory dataset (MNIST, CIFAR):
 * {img: a view of images[i], gt_label: labels[i]}; MM_ERANGE past n. */
int mmcls_array_sample(mm_tensor *images, const int64_t *labels, int64_t n,
                       size_t i, mm_value **out);

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

/* Adds sample i's gt_label (an int, a list of ints or a 1-D integer
 * tensor) to row (C floats) as mmpretrain's label_to_onehot. heads.c */
int mmcls_onehot_row(const mm_value *sample, size_t i, int64_t C, float *row);

/* ---- batch augments (batch_augments.c) ---------------------------------- */

#define MMCLS_MAX_BATCH_AUGS 8
typedef enum mmcls_aug_kind { MMCLS_MIXUP, MMCLS_CUTMIX } mmcls_aug_kind;
typedef struct mmcls_batch_aug {
    mmcls_aug_kind kind;
    double alpha;
    bool has_minmax, correct_lam; /* CutMix */
    double minmax[2];
} mmcls_batch_aug;
/* RandomBatchAugment: one of augs (probs[i], or uniformly without probs;
 * the rest of the probability: none). */
typedef struct mmcls_batch_augments {
    int n;
    mmcls_batch_aug augs[MMCLS_MAX_BATCH_AUGS];
    bool has_probs;
    double probs[MMCLS_MAX_BATCH_AUGS];
} mmcls_batch_augments;

/* {augments: dict | [dicts], probs: float | [floats] | null}. */
int mmcls_batch_augments_parse(const mm_value *cfg, mmcls_batch_augments *out);
/* Pick an augment, draw lam / permutation / box from gen (NULL: the
 * default generator) and mix inputs (N, C, H, W) and scores (N, K). */
int mmcls_batch_augments_apply(const mmcls_batch_augments *b,
                               mm_generator *gen, mm_tensor *inputs,
                               mm_tensor *scores, mm_tensor **inputs_out,
                               mm_tensor **scores_out);
/* Beta(alpha, alpha) from gen. */
double mmcls_beta_sample(mm_generator *gen, double alpha);
/* Mixup with a given lam and permutation (N entries). */
int mmcls_mixup(mm_tensor *inputs, mm_tensor *scores, double lam,
                const int64_t *perm, mm_tensor **inputs_out,
                mm_tensor **scores_out);
/* CutMix's box {y1, y2, x1, x2} for an h x w image (drawn from gen) and
 * the lam to mix the scores with (corrected to the box's area when
 * correct_lam or cutmix_minmax). */
int mmcls_cutmix_box(int64_t h, int64_t w, double lam,
                     const mmcls_batch_aug *a, mm_generator *gen,
                     int64_t box[4], double *lam_out);
/* mmpretrain's rand_bbox for a drawn centre (cy, cx). */
void mmcls_cutmix_center_box(int64_t h, int64_t w, double lam, int64_t cy,
                             int64_t cx, int64_t box[4]);
/* CutMix with a given lam, permutation and box. */
int mmcls_cutmix(mm_tensor *inputs, mm_tensor *scores, double lam,
                 const int64_t *perm, const int64_t box[4],
                 mm_tensor **inputs_out, mm_tensor **scores_out);

/* d[key] when d is a dict, else NULL. */
static inline mm_value *mmcls_get(const mm_value *d, const char *key) {
    return mm_value_is_dict(d) ? mm_value_dict_get(d, key) : NULL;
}

#endif
