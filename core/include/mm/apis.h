/* mm/apis.h - inference for programs that embed libmm.
 *
 * mmpretrain's init_model / inference_model in C: build the model of a
 * config, load a checkpoint into it, and classify images through the
 * config's test pipeline (the top-level `test_pipeline`, else
 * `test_dataloader.dataset.pipeline`; LoadImageFromFile is put first when
 * the pipeline lacks it), in eval mode under no-grad. What `mm infer`
 * runs.
 *
 *     mm_inferencer *inf;
 *     MM_TRY(mm_init_model("configs/mmcls/resnet/resnet50_8xb32_in1k.yaml",
 *                          "resnet50.safetensors", "cpu", &inf));
 *     mm_value *res;
 *     MM_TRY(mm_inference(inf, "demo.jpg", &res));
 *     // res: {pred_label: 281, pred_score: 0.93, pred_class: "tabby, ...",
 *     //       pred_scores: tensor (num_classes)}
 *     mm_value_release(res);
 *     mm_inferencer_free(inf);
 *
 * Class names come from the checkpoint's `meta.dataset_meta.classes` (what
 * mm and mmengine save), else from the config's test dataset (its
 * `metainfo.classes`, or the classes its type defines), else predictions
 * carry the label only. */
#ifndef MM_APIS_H
#define MM_APIS_H

#include <stddef.h>

#include "mm/error.h"
#include "mm/nn.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_inferencer mm_inferencer;

/* config: a config file; checkpoint: any checkpoint mm reads (NULL: the
 * weights the model's init gives, for smoke tests); device: "cpu" (NULL:
 * "cpu"). Keys of the model missing from the checkpoint are an error
 * naming the first (predictions would be garbage); keys the model lacks
 * are a warning. A .pth from another library goes through a key map
 * first (`mm checkpoint convert --map`). */
MM_API int mm_init_model(const char *config, const char *checkpoint,
                         const char *device,
                         mm_inferencer **out) MM_NODISCARD;
MM_API void mm_inferencer_free(mm_inferencer *inf); /* NULL ok */

/* One image file -> a new result dict: pred_label (int), pred_score (the
 * top probability), pred_class (string, when class names are known) and
 * pred_scores (f32 tensor of every class's probability). */
MM_API int mm_inference(mm_inferencer *inf, const char *path,
                        mm_value **result) MM_NODISCARD;
/* n image files as one batch; *results a new list of n result dicts. */
MM_API int mm_inference_batch(mm_inferencer *inf, size_t n,
                              const char *const *paths,
                              mm_value **results) MM_NODISCARD;

/* The model (eval mode) and the class names (a list of strings, or NULL),
 * both borrowed. */
MM_API mm_module *mm_inferencer_model(const mm_inferencer *inf);
MM_API const mm_value *mm_inferencer_classes(const mm_inferencer *inf);

#ifdef __cplusplus
}
#endif
#endif
