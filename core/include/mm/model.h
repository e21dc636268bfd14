/* mm/model.h - models: what the runner calls, and how a batch reaches them.
 *
 * OpenMMLab's model roles, in C. A top-level model (ImageClassifier,
 * a detector) is an mm_module whose class carries an mm_model_ops table
 * (mm_module_class.model). It answers mmengine's three modes:
 *
 *   loss     data samples with ground truth in, a dict of named loss
 *            tensors out (`{loss: tensor}`, `{loss_cls:, loss_bbox:}`);
 *            mm_model_parse_losses sums every key containing "loss";
 *   predict  data samples out, each with its predictions added
 *            (`pred_score`, `pred_label` for classification);
 *   tensor   the raw outputs: the class's plain forward (export).
 *
 * Heads answer loss and predict too, from the neck's feature maps, so a
 * model built from config (`head: {type: mmcls.LinearClsHead}`) calls a
 * head of another plugin through the same table.
 *
 * A batch, as the dataloader hands it over (DESIGN section 3), is an
 * mm_value dict `{inputs: [tensor, ...], data_samples: [dict, ...]}`: one
 * CHW (or HW) tensor per sample, any dtype (u8 images), and one data
 * sample per image. A data sample is an mm_value dict: ground truth
 * (`gt_label` an int), meta (`img_shape`, `ori_shape`, `sample_idx`,
 * `scale_factor`, `flip`, ...) and, after predict, predictions
 * (`pred_score` a 1-D f32 tensor, `pred_label` an int).
 *
 * The data preprocessor (the model's child named "data_preprocessor", a
 * module whose ops table has `preprocess`) turns a batch into one f32
 * NCHW tensor and the list of data samples: stack, cast, bgr_to_rgb,
 * normalise with mean/std, pad to a size divisor, and batch augments when
 * training. A model without one stacks and casts to f32.
 *
 *     mm_tensor *inputs; mm_value *samples, *losses;
 *     MM_TRY(mm_model_preprocess(model, batch, true, &inputs, &samples));
 *     MM_TRY(mm_model_loss(model, inputs, samples, &losses));
 *     mm_tensor *loss; mm_value *log_vars;
 *     MM_TRY(mm_model_parse_losses(losses, &loss, &log_vars));
 *
 * Tensors follow the pool rule of <mm/tensor.h>; mm_value results are new
 * references the caller releases. */
#ifndef MM_MODEL_H
#define MM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/error.h"
#include "mm/nn.h"
#include "mm/tensor.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model side of a module class; any entry may be NULL. */
struct mm_model_ops {
    /* Data preprocessors: `batch` as above -> (*inputs f32 NCHW borrowed
     * from the pool, *data_samples a new list). `training` turns on batch
     * augments. */
    int (*preprocess)(mm_module *m, const mm_value *batch, bool training,
                      mm_tensor **inputs, mm_value **data_samples);
    /* Models: n == 1, inputs[0] the preprocessed batch. Heads: the n
     * feature maps of the neck (or backbone). *losses: a new dict of name ->
     * 0-dim tensor that requires grad. */
    int (*loss)(mm_module *m, int n, mm_tensor *const *inputs,
                mm_value *data_samples, mm_value **losses);
    /* *out: a new list of data samples with predictions (the given samples
     * updated, or new dicts when data_samples is NULL). */
    int (*predict)(mm_module *m, int n, mm_tensor *const *inputs,
                   mm_value *data_samples, mm_value **out);
};

/* True if m's class has a model ops table with `loss` (a model or head). */
MM_API bool mm_model_has_loss(const mm_module *m);

/* Run the model's "data_preprocessor" child on a batch, or, without one,
 * stack `inputs` and cast them to f32. Errors name the sample:
 * "data_preprocessor: inputs[3]: shape [1, 28, 28] differs from [1, 32, 32]". */
MM_API int mm_model_preprocess(mm_module *model, const mm_value *batch,
                               bool training, mm_tensor **inputs,
                               mm_value **data_samples) MM_NODISCARD;

/* mode='loss' and mode='predict' on a whole model (n == 1 input) or on a
 * head (n feature maps). MM_EINVAL naming the class when it has no such
 * mode. */
MM_API int mm_model_loss(mm_module *m, int n, mm_tensor *const *inputs,
                         mm_value *data_samples,
                         mm_value **losses) MM_NODISCARD;
MM_API int mm_model_predict(mm_module *m, int n, mm_tensor *const *inputs,
                            mm_value *data_samples,
                            mm_value **out) MM_NODISCARD;

/* mmengine's BaseModel.parse_losses: *loss is the sum of every entry whose
 * key contains "loss" (an entry may also be a list of tensors, summed
 * first); *log_vars a new dict of every entry's value as a float (the total
 * under "loss"), for the logs. */
MM_API int mm_model_parse_losses(const mm_value *losses, mm_tensor **loss,
                                 mm_value **log_vars) MM_NODISCARD;

/* ---- the image data preprocessor ---------------------------------------- */

/* What ImgDataPreprocessor (core, MODELS) does, for plugins whose own
 * preprocessors (mmcls.ClsDataPreprocessor) add to it: stack the batch's
 * `inputs` (each CHW, or HW taken as 1HW), bgr_to_rgb / rgb_to_bgr (swap
 * channels 0 and 2 of 3-channel input), cast to f32, (x - mean) / std per
 * channel when n_mean > 0, and pad the bottom and right with pad_value to a
 * multiple of pad_size_divisor (images of different sizes are padded to
 * the largest first). Padding is recorded in each sample as
 * `batch_input_shape` and `pad_shape`. */
typedef struct mm_img_preprocess_cfg {
    int n_mean;          /* 0: no normalisation; else 1 or the channels */
    double mean[4], std[4];
    bool bgr_to_rgb, rgb_to_bgr;
    int64_t pad_size_divisor; /* 1: none */
    double pad_value;
} mm_img_preprocess_cfg;

MM_API int mm_img_preprocess(const mm_img_preprocess_cfg *cfg,
                             const mm_value *batch, mm_tensor **inputs,
                             mm_value **data_samples) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
