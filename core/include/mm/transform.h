/* mm/transform.h - data transforms: steps of a data pipeline.
 *
 * A transform works in place on a sample's results dict (an mm_value dict:
 * `img`, `gt_label`, `img_shape`, ... as in mmcv), the way mmcv's
 * BaseTransform.transform(results) does. Builders of TRANSFORMS components
 * return an mm_transform *: a struct whose first member is mm_transform,
 * with a class holding the apply and destroy functions.
 *
 *     typedef struct { mm_transform base; int64_t offset; } shift_label;
 *     static int shift_apply(mm_transform *t, mm_value *results) { ... }
 *
 * apply returns MM_OK, MM_TRANSFORM_DROP to drop the sample (mmcv's
 * "return None"), or a negative MM_E* code with the error set. */
#ifndef MM_TRANSFORM_H
#define MM_TRANSFORM_H

#include "mm/error.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* apply's "drop this sample" answer: positive, so never an error code. */
#define MM_TRANSFORM_DROP 1

typedef struct mm_transform mm_transform;

typedef struct mm_transform_class {
    const char *name;
    int (*apply)(mm_transform *t, mm_value *results);
    void (*destroy)(mm_transform *t); /* frees t and what it owns */
} mm_transform_class;

struct mm_transform {
    const mm_transform_class *cls;
};

/* Run t on results inside a pool of its own (tensors the transform keeps
 * live on through the results' references; its temporaries are freed on
 * return); a failing transform's error names it. */
MM_API int mm_transform_apply(mm_transform *t, mm_value *results);
MM_API void mm_transform_free(mm_transform *t); /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
