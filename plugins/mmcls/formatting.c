/* mmcls formatting transforms: PackInputs (mmpretrain 1.x,
 * mmpretrain/datasets/transforms/formatting.py) and PackClsInputs, its
 * mmcls 1.0 name.
 *
 * The results dict becomes `{inputs: tensor (C, H, W), data_samples:
 * {gt_label, <algorithm keys>, <meta keys>}}`: an H x W x C image (a tensor
 * laid out like mmcv's numpy array; H x W taken as H x W x 1) is permuted to
 * C x H x W and made contiguous, as PackInputs.format_input does. */
#include <stdlib.h>
#include <string.h>

#include <mm/registry.h>
#include <mm/tensor.h>
#include <mm/transform.h>

#include "mmcls.h"

typedef struct pack_inputs {
    mm_transform base;
    char *input_key;
    mm_value *algorithm_keys, *meta_keys; /* lists of strings */
} pack_inputs;

/* HW or HWC -> CHW contiguous (a new value); a tensor of another rank is
 * refused. */
static int format_input(const mm_value *v, mm_value **out) {
    mm_tensor *img = mm_tensor_from_value(v);
    if (!img)
        return mm_error_set(MM_ETYPE, "the image must be a tensor, got a %s",
                            mm_value_type_name(mm_value_type_of(v)));
    if (img->ndim != 2 && img->ndim != 3) {
        char buf[64];
        return mm_error_set(MM_EINVAL,
                            "the image must be (H, W) or (H, W, C), got %s",
                            mm_shape_format(img->ndim, img->shape, buf,
                                            sizeof buf));
    }
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *x = img;
    int rc = MM_OK;
    if (x->ndim == 2)
        rc = mm_unsqueeze(x, 2, &x); /* (H, W, 1) */
    if (!rc)
        rc = mm_permute(x, MM_DIMS(2, 0, 1), &x); /* (C, H, W) */
    if (!rc)
        rc = mm_contiguous(x, &x);
    mm_value *val = rc ? NULL : mm_tensor_to_value(x);
    if (!rc && !val)
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    mm_pool_close(pool);
    if (rc)
        return rc;
    *out = val;
    return MM_OK;
}

/* gt_label as an int (a one-element tensor is converted). */
static int label_value(const mm_value *v, mm_value **out) {
    if (mm_value_is_int(v)) {
        *out = mm_value_retain((mm_value *)v);
        return MM_OK;
    }
    mm_tensor *t = mm_tensor_from_value(v);
    int64_t y;
    if (!t || t->numel != 1)
        return mm_error_set(MM_ETYPE, "gt_label must be an int, got a %s",
                            mm_value_type_name(mm_value_type_of(v)));
    MM_TRY(mm_tensor_item_i64(t, &y));
    *out = mm_value_new_int(y);
    return *out ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
}

static int copy_keys(const mm_value *keys, const mm_value *results,
                     mm_value *sample) {
    for (size_t i = 0; i < mm_value_len(keys); i++) {
        const char *k = mm_value_get_string(mm_value_list_get(keys, i));
        mm_value *v = mm_value_dict_get(results, k);
        if (v)
            MM_TRY(mm_value_dict_set(sample, k, v));
    }
    return MM_OK;
}

static int pack_apply(mm_transform *t, mm_value *results) {
    pack_inputs *p = (pack_inputs *)t;
    if (!mm_value_is_dict(results))
        return mm_error_set(MM_ETYPE, "results must be a dict");
    mm_value *inputs = NULL, *sample = mm_value_new_dict();
    if (!sample)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = MM_OK;
    const mm_value *img = mm_value_dict_get(results, p->input_key);
    if (img) {
        rc = format_input(img, &inputs);
        if (rc)
            mm_error_context(rc, NULL, "%s", p->input_key);
    }
    const mm_value *gl = mm_value_dict_get(results, "gt_label");
    if (!rc && gl) {
        mm_value *lv;
        rc = label_value(gl, &lv);
        if (!rc)
            rc = mm_value_dict_set_take(sample, "gt_label", lv);
    }
    static const char *const fixed[] = {"gt_score", "mask"};
    for (size_t i = 0; !rc && i < 2; i++) {
        mm_value *v = mm_value_dict_get(results, fixed[i]);
        if (v)
            rc = mm_value_dict_set(sample, fixed[i], v);
    }
    if (!rc)
        rc = copy_keys(p->algorithm_keys, results, sample);
    if (!rc)
        rc = copy_keys(p->meta_keys, results, sample);
    /* The results dict is replaced in place by the packed form. */
    while (!rc && mm_value_len(results)) {
        char *k = strdup(mm_value_dict_key_at(results, 0));
        rc = k ? mm_value_dict_del(results, k)
               : mm_error_set(MM_ENOMEM, "out of memory");
        free(k);
    }
    if (!rc && inputs)
        rc = mm_value_dict_set_take(results, "inputs", inputs);
    else
        mm_value_release(inputs);
    if (!rc)
        rc = mm_value_dict_set_take(results, "data_samples", sample);
    else
        mm_value_release(sample);
    return rc;
}

static void pack_destroy(mm_transform *t) {
    pack_inputs *p = (pack_inputs *)t;
    free(p->input_key);
    mm_value_release(p->algorithm_keys);
    mm_value_release(p->meta_keys);
    free(p);
}

static const mm_transform_class pack_class = {
    .name = "PackInputs", .apply = pack_apply, .destroy = pack_destroy};
static const mm_transform_class pack_cls_class = {
    .name = "PackClsInputs", .apply = pack_apply, .destroy = pack_destroy};

/* A string or a list of strings -> a new list of strings. */
static int key_list(mm_build_ctx *ctx, const char *param, mm_value **out) {
    const mm_value *v = mm_build_arg(ctx, param);
    mm_value *l = mm_value_new_list();
    if (!l)
        return mm_error_set(MM_ENOMEM, "out of memory");
    size_t n = mm_value_is_list(v) ? mm_value_len(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const mm_value *e = mm_value_is_list(v) ? mm_value_list_get(v, i) : v;
        if (!mm_value_is_string(e)) {
            mm_value_release(l);
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s: expected a key name or a list of key "
                                   "names", param);
        }
        if (mm_value_list_append(l, (mm_value *)e)) {
            mm_value_release(l);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
    }
    *out = l;
    return MM_OK;
}

static int pack_build_common(mm_build_ctx *ctx, const mm_transform_class *cls,
                             void **out) {
    const char *key = "img";
    if (cls == &pack_class)
        MM_TRY(mm_build_string(ctx, "input_key", &key));
    pack_inputs *p = calloc(1, sizeof *p);
    if (!p || !(p->input_key = strdup(key))) {
        free(p);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    p->base.cls = cls;
    int rc = key_list(ctx, "algorithm_keys", &p->algorithm_keys);
    if (!rc)
        rc = key_list(ctx, "meta_keys", &p->meta_keys);
    if (rc) {
        pack_destroy(&p->base);
        return rc;
    }
    *out = p;
    return MM_OK;
}

static int pack_build(mm_build_ctx *ctx, void **out) {
    return pack_build_common(ctx, &pack_class, out);
}
static int pack_cls_build(mm_build_ctx *ctx, void **out) {
    return pack_build_common(ctx, &pack_cls_class, out);
}

static void transform_destroy(void *t) { mm_transform_free(t); }

#define PACK_KEYS_PARAMS                                                       \
    {.name = "algorithm_keys", .type = MM_PARAM_STRING | MM_PARAM_LIST,        \
     .def = "[]", .doc = "keys copied into the data sample as data fields"},   \
    {.name = "meta_keys", .type = MM_PARAM_STRING | MM_PARAM_LIST,             \
     .def = "[sample_idx, img_path, ori_shape, img_shape, scale_factor, "      \
            "flip, flip_direction]",                                           \
     .doc = "keys copied into the data sample as meta information"}

static const mm_param pack_params[] = {
    {.name = "input_key", .type = MM_PARAM_STRING, .def = "img",
     .doc = "the results key packed as inputs"},
    PACK_KEYS_PARAMS,
};
static const mm_param pack_cls_params[] = {PACK_KEYS_PARAMS};

static const mm_component pack_component = {
    .kind = MM_TRANSFORMS,
    .name = "PackInputs",
    .doc = "pack an image (HWC -> CHW) and its labels for the model",
    .params = pack_params,
    .n_params = sizeof pack_params / sizeof pack_params[0],
    .build = pack_build,
    .destroy = transform_destroy,
};

static const mm_component pack_cls_component = {
    .kind = MM_TRANSFORMS,
    .name = "PackClsInputs",
    .doc = "PackInputs under its mmcls 1.0 name",
    .params = pack_cls_params,
    .n_params = sizeof pack_cls_params / sizeof pack_cls_params[0],
    .build = pack_cls_build,
    .destroy = transform_destroy,
};

int mmcls_register_transforms(void) {
    MM_TRY(mm_register(&pack_component));
    MM_TRY(mm_register(&pack_cls_component));
    return MM_OK;
}
