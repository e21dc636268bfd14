/* mmcls auto-augmentation transforms: mmpretrain 1.2.0's
 * mmpretrain/datasets/transforms/auto_augment.py - RandAugment,
 * AutoAugment and the BaseAugTransform family they pick from (Shear,
 * Translate, Rotate, AutoContrast, Invert, Equalize, Solarize, SolarizeAdd,
 * Posterize, Contrast, ColorTransform, Brightness, Sharpness, Cutout), with
 * mmpretrain's parameter names and the pixels of mmcv's image functions
 * (<mm/image.h>, on u8 images).
 *
 * Randomness follows mmpretrain's draws in order - disable (rand > prob),
 * magnitude noise, sign (rand < random_negative_prob), Cutout's position,
 * RandAugment's indices, AutoAugment's sub-policy - taken from the data
 * generator (mm_data_generator), so a seeded run repeats exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/data.h>
#include <mm/image.h>
#include <mm/registry.h>
#include <mm/rng.h>
#include <mm/tensor.h>
#include <mm/transform.h>

#include "mmcls.h"

/* ---- random draws ------------------------------------------------------- */


/* N(mean, std) by Box-Muller on two draws. */
static double rand_normal(double mean, double std) {
    double u1 = mm_data_rand_uniform(), u2 = mm_data_rand_uniform();
    return mean + std * sqrt(-2.0 * log1p(-u1)) * cos(6.283185307179586 * u2);
}

/* An index uniform on [0, n) (np.random.choice without p). */
static size_t rand_index(size_t n) {
    size_t i = (size_t)(mm_data_rand_uniform() * (double)n);
    return i < n ? i : n - 1;
}

/* ---- the augmentations --------------------------------------------------- */

typedef enum aug_op {
    OP_SHEAR,
    OP_TRANSLATE,
    OP_ROTATE,
    OP_AUTO_CONTRAST,
    OP_INVERT,
    OP_EQUALIZE,
    OP_SOLARIZE,
    OP_SOLARIZE_ADD,
    OP_POSTERIZE,
    OP_CONTRAST,
    OP_COLOR,
    OP_BRIGHTNESS,
    OP_SHARPNESS,
    OP_CUTOUT,
    OP_COUNT
} aug_op;

/* What each transform's __init__ names itself: the keys RandAugment's and
 * AutoAugment's hparams may fill in (mmpretrain's merge_hparams reads
 * getfullargspec(op.__init__).args, which leaves out BaseAugTransform's
 * **kwargs). */
typedef struct op_info {
    const char *name;
    const char *value_key; /* the fixed-magnitude argument, or NULL */
    bool negates;          /* takes random_negative_prob */
    const char *own[8];
} op_info;

static const op_info ops[OP_COUNT] = {
    [OP_SHEAR] = {"Shear", "magnitude", true,
                  {"magnitude", "pad_val", "prob", "direction",
                   "random_negative_prob", "interpolation"}},
    [OP_TRANSLATE] = {"Translate", "magnitude", true,
                      {"magnitude", "pad_val", "prob", "direction",
                       "random_negative_prob", "interpolation"}},
    [OP_ROTATE] = {"Rotate", "angle", true,
                   {"angle", "center", "scale", "pad_val", "prob",
                    "random_negative_prob", "interpolation"}},
    [OP_AUTO_CONTRAST] = {"AutoContrast", NULL, false, {"prob"}},
    [OP_INVERT] = {"Invert", NULL, false, {"prob"}},
    [OP_EQUALIZE] = {"Equalize", NULL, false, {"prob"}},
    [OP_SOLARIZE] = {"Solarize", "thr", false, {"thr", "prob"}},
    [OP_SOLARIZE_ADD] = {"SolarizeAdd", "magnitude", false,
                         {"magnitude", "thr", "prob"}},
    [OP_POSTERIZE] = {"Posterize", "bits", false, {"bits", "prob"}},
    [OP_CONTRAST] = {"Contrast", "magnitude", true,
                     {"magnitude", "prob", "random_negative_prob"}},
    [OP_COLOR] = {"ColorTransform", "magnitude", true,
                  {"magnitude", "prob", "random_negative_prob"}},
    [OP_BRIGHTNESS] = {"Brightness", "magnitude", true,
                       {"magnitude", "prob", "random_negative_prob"}},
    [OP_SHARPNESS] = {"Sharpness", "magnitude", true,
                      {"magnitude", "prob", "random_negative_prob"}},
    [OP_CUTOUT] = {"Cutout", "shape", false, {"shape", "pad_val", "prob"}},
};

typedef struct aug {
    mm_transform base;
    aug_op op;
    double prob, negative_prob;
    bool has_value;
    double value;     /* magnitude, angle, thr or bits */
    int64_t shape[2]; /* Cutout's (h, w) */
    /* BaseAugTransform's magnitude from magnitude_range */
    double range[2], level, std, total;
    bool std_inf;
    /* pad_val: one number, or one per channel */
    int n_pad;
    double pad[4];
    bool vertical, has_center;
    mm_image_interp interp;
    double center[2], scale; /* Rotate */
    double thr;              /* SolarizeAdd */
} aug;

/* BaseAugTransform.random_magnitude. */
static double random_magnitude(const aug *a) {
    double m = a->level;
    if (a->std_inf)
        m = mm_data_rand_uniform() * m; /* np.random.uniform(0, m) */
    else if (a->std > 0)
        m = fmin(fmax(rand_normal(m, a->std), 0), a->total);
    return m / a->total * (a->range[1] - a->range[0]) + a->range[0];
}

static int64_t img_channels(const mm_tensor *t) {
    return t->ndim == 3 ? t->shape[2] : 1;
}

/* cv2's borderValue for the geometric ops. Shear and Translate (mmcv's
 * imshear / imtranslate) repeat an int pad_val over the channels and keep
 * the first three; Rotate hands pad_val to cv2 as it is, so an int fills
 * only the first channel (cv2 reads a number as (v, 0, 0, 0)). */
static int border_value(const aug *a, int64_t cn, double out[4]) {
    memset(out, 0, 4 * sizeof *out);
    if (a->n_pad == 1 && (a->op != OP_ROTATE)) {
        for (int64_t c = 0; c < cn && c < 3; c++)
            out[c] = a->pad[0];
        return MM_OK;
    }
    if (a->op != OP_ROTATE && a->n_pad != cn)
        return mm_error_set(MM_EINVAL,
                            "%s: pad_val has %d values for an image of %lld "
                            "channel(s)",
                            ops[a->op].name, a->n_pad, (long long)cn);
    for (int c = 0; c < a->n_pad && c < (a->op == OP_ROTATE ? 4 : 3); c++)
        out[c] = a->pad[c];
    return MM_OK;
}

/* mmcv.cutout: the patch centre drawn as np.random.uniform(h) - that is
 * uniform(low=h, high=1.0), so in (1, h] - then y, x. */
static int cutout(const aug *a, mm_tensor *img, const int64_t shape[2],
                  mm_tensor **out) {
    int64_t h = img->shape[0], w = img->shape[1], cn = img_channels(img);
    if (a->n_pad != 1 && a->n_pad != cn)
        return mm_error_set(MM_EINVAL,
                            "Cutout: pad_val has %d values for an image of "
                            "%lld channel(s)",
                            a->n_pad, (long long)cn);
    double y0 = (double)h + (1.0 - (double)h) * mm_data_rand_uniform();
    double x0 = (double)w + (1.0 - (double)w) * mm_data_rand_uniform();
    int64_t y1 = (int64_t)fmin(fmax(0, y0 - (double)shape[0] / 2.), h);
    int64_t x1 = (int64_t)fmin(fmax(0, x0 - (double)shape[1] / 2.), w);
    int64_t y2 = shape[0] >= h - y1 ? h : y1 + shape[0];
    int64_t x2 = shape[1] >= w - x1 ? w : x1 + shape[1];
    MM_TRY(mm_contiguous(img, &img));
    MM_TRY(mm_empty_like(img, out));
    uint8_t *d = mm_tensor_data(*out);
    memcpy(d, mm_tensor_data(img), (size_t)img->numel);
    for (int64_t y = y1; y < y2; y++)
        for (int64_t x = x1; x < x2; x++)
            for (int64_t c = 0; c < cn; c++)
                d[(y * w + x) * cn + c] =
                    (uint8_t)a->pad[a->n_pad == 1 ? 0 : c];
    return MM_OK;
}

/* SolarizeAdd: np.where(img < thr, np.minimum(img + m, 255), img), cast
 * back to uint8 (truncating; a sum below 0 is taken as 0). */
static int solarize_add(mm_tensor *img, double m, double thr,
                        mm_tensor **out) {
    MM_TRY(mm_contiguous(img, &img));
    MM_TRY(mm_empty_like(img, out));
    const uint8_t *s = mm_tensor_data(img);
    uint8_t *d = mm_tensor_data(*out);
    for (int64_t i = 0; i < img->numel; i++) {
        double v = s[i] < thr ? fmin((double)s[i] + m, 255) : s[i];
        d[i] = (uint8_t)(!(v > 0) ? 0 : v); /* NaN: 0 */
    }
    return MM_OK;
}

static int aug_run(const aug *a, mm_tensor *img, double m, mm_tensor **y) {
    int64_t h = img->shape[0], w = img->shape[1];
    double border[4], mat[6];
    switch (a->op) {
    case OP_SHEAR:
    case OP_TRANSLATE: {
        /* mmcv builds these matrices in float32 */
        float v = (float)(a->op == OP_SHEAR ? m
                          : a->vertical     ? m * (double)h
                                            : m * (double)w);
        double s = a->op == OP_SHEAR ? v : 0, t = a->op == OP_SHEAR ? 0 : v;
        double mh[6] = {1, s, t, 0, 1, 0}, mv[6] = {1, 0, 0, s, 1, t};
        memcpy(mat, a->vertical ? mv : mh, sizeof mat);
        MM_TRY(border_value(a, img_channels(img), border));
        return mm_image_warp_affine(img, mat, w, h, a->interp, border, y);
    }
    case OP_ROTATE: {
        double cx = a->has_center ? a->center[0] : (double)(w - 1) * 0.5;
        double cy = a->has_center ? a->center[1] : (double)(h - 1) * 0.5;
        mm_image_rotation_matrix(cx, cy, -m, a->scale, mat);
        MM_TRY(border_value(a, img_channels(img), border));
        return mm_image_warp_affine(img, mat, w, h, a->interp, border, y);
    }
    case OP_AUTO_CONTRAST:
        return mm_image_auto_contrast(img, 0, 0, y);
    case OP_INVERT:
        return mm_image_invert(img, y);
    case OP_EQUALIZE:
        return mm_image_equalize(img, y);
    case OP_SOLARIZE:
        return mm_image_solarize(img, m, y);
    case OP_SOLARIZE_ADD:
        return solarize_add(img, m, a->thr, y);
    case OP_POSTERIZE: {
        double bits = ceil(m); /* "to align timm version" */
        if (!(bits >= 0 && bits <= 8))
            return mm_error_set(MM_EINVAL,
                                "Posterize: %g bits is not in 0..8 (check "
                                "magnitude_range)",
                                bits);
        return mm_image_posterize(img, (int)bits, y);
    }
    case OP_CONTRAST:
        return mm_image_adjust_contrast(img, 1 + m, y);
    case OP_COLOR:
        return mm_image_adjust_color(img, 1 + m, y);
    case OP_BRIGHTNESS:
        return mm_image_adjust_brightness(img, 1 + m, y);
    case OP_SHARPNESS:
        return mm_image_adjust_sharpness(img, 1 + m, y);
    case OP_CUTOUT: {
        int64_t shape[2] = {a->shape[0], a->shape[1]};
        if (!a->has_value) /* int(random_magnitude()), kept castable */
            shape[0] = shape[1] = (int64_t)fmin(fmax(m, -1e15), 1e15);
        return cutout(a, img, shape, y);
    }
    case OP_COUNT:
        break;
    }
    MM_ASSERT(0);
    return MM_EINVAL;
}

static int aug_apply(mm_transform *t, mm_value *results) {
    const aug *a = (const aug *)t;
    if (mm_data_rand_uniform() > a->prob) /* random_disable */
        return MM_OK;
    double m = 0;
    if (ops[a->op].value_key)
        m = a->has_value ? a->value : random_magnitude(a);
    if (ops[a->op].negates && mm_data_rand_uniform() < a->negative_prob)
        m = -m;
    mm_tensor *img =
        mm_tensor_from_value(mm_value_dict_get(results, "img"));
    char s[96];
    if (!img || img->dtype != MM_U8 || (img->ndim != 2 && img->ndim != 3))
        return mm_error_set(MM_EINVAL,
                            "%s needs a u8 (H, W) or (H, W, C) image in "
                            "results['img'] (put it before to_float32 and "
                            "Normalize), got %s",
                            ops[a->op].name,
                            img ? mm_tensor_describe(img, s, sizeof s)
                                : "none");
    mm_tensor *y;
    MM_TRY(aug_run(a, img, m, &y));
    mm_value *v = mm_tensor_to_value(y);
    if (!v || mm_value_dict_set_take(results, "img", v))
        return mm_error_set(MM_ENOMEM, "out of memory");
    return MM_OK;
}

static void aug_destroy(mm_transform *t) { free(t); }

static const mm_transform_class aug_classes[OP_COUNT] = {
#define AUG_CLASS(op, Name)                                                    \
    [op] = {.name = Name, .apply = aug_apply, .destroy = aug_destroy}
    AUG_CLASS(OP_SHEAR, "Shear"),
    AUG_CLASS(OP_TRANSLATE, "Translate"),
    AUG_CLASS(OP_ROTATE, "Rotate"),
    AUG_CLASS(OP_AUTO_CONTRAST, "AutoContrast"),
    AUG_CLASS(OP_INVERT, "Invert"),
    AUG_CLASS(OP_EQUALIZE, "Equalize"),
    AUG_CLASS(OP_SOLARIZE, "Solarize"),
    AUG_CLASS(OP_SOLARIZE_ADD, "SolarizeAdd"),
    AUG_CLASS(OP_POSTERIZE, "Posterize"),
    AUG_CLASS(OP_CONTRAST, "Contrast"),
    AUG_CLASS(OP_COLOR, "ColorTransform"),
    AUG_CLASS(OP_BRIGHTNESS, "Brightness"),
    AUG_CLASS(OP_SHARPNESS, "Sharpness"),
    AUG_CLASS(OP_CUTOUT, "Cutout"),
#undef AUG_CLASS
};

/* ---- building ------------------------------------------------------------ */

static aug_op op_of(const char *name) {
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(ops[i].name, name) == 0)
            return (aug_op)i;
    return OP_COUNT;
}

static int arg_error(mm_build_ctx *ctx, const char *param, const char *msg) {
    return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_arg(ctx, param)),
                           "%s: %s", param, msg);
}

/* A number, or the string "inf". */
static int read_std(mm_build_ctx *ctx, double *std, bool *is_inf) {
    const mm_value *v = mm_build_arg(ctx, "magnitude_std");
    *is_inf = mm_value_is_string(v) && !strcmp(mm_value_get_string(v), "inf");
    if (*is_inf || mm_value_is_number(v)) {
        *std = *is_inf ? INFINITY : mm_value_get_float(v);
        return MM_OK;
    }
    return arg_error(ctx, "magnitude_std", "expected a number or \"inf\"");
}

static int read_pad(mm_build_ctx *ctx, aug *a) {
    const mm_value *v = mm_build_arg(ctx, "pad_val");
    if (mm_value_is_number(v)) {
        a->n_pad = 1;
        a->pad[0] = mm_value_get_float(v);
    } else {
        size_t n = mm_value_is_list(v) ? mm_value_len(v) : 0;
        if (n < 1 || n > 4)
            return arg_error(ctx, "pad_val",
                             "expected a number or 1 to 4 numbers");
        a->n_pad = (int)n;
        for (size_t i = 0; i < n; i++) {
            if (!mm_value_is_number(mm_value_list_get(v, i)))
                return arg_error(ctx, "pad_val",
                                 "expected a number or 1 to 4 numbers");
            a->pad[i] = mm_value_get_float(mm_value_list_get(v, i));
        }
    }
    if (a->op == OP_CUTOUT) /* np.array(pad_val, dtype=uint8) */
        for (int i = 0; i < a->n_pad; i++)
            if (!(a->pad[i] >= 0 && a->pad[i] < 256))
                return arg_error(ctx, "pad_val",
                                 "Cutout's pad values must be in 0..255");
    return MM_OK;
}

/* [a, b] of numbers into out. */
static int read_pair(mm_build_ctx *ctx, const char *param, double out[2]) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (!mm_value_is_list(v) || mm_value_len(v) != 2 ||
        !mm_value_is_number(mm_value_list_get(v, 0)) ||
        !mm_value_is_number(mm_value_list_get(v, 1)))
        return arg_error(ctx, param, "expected two numbers");
    out[0] = mm_value_get_float(mm_value_list_get(v, 0));
    out[1] = mm_value_get_float(mm_value_list_get(v, 1));
    return MM_OK;
}

static int aug_build(mm_build_ctx *ctx, void **out) {
    aug a = {.op = op_of(mm_build_entry(ctx)->component->name)};
    MM_ASSERT(a.op < OP_COUNT);
    a.base.cls = &aug_classes[a.op];
    const op_info *info = &ops[a.op];
    MM_TRY(mm_build_float(ctx, "prob", &a.prob));
    if (info->negates)
        MM_TRY(mm_build_float(ctx, "random_negative_prob", &a.negative_prob));
    MM_TRY(mm_build_float(ctx, "magnitude_level", &a.level));
    MM_TRY(mm_build_float(ctx, "total_level", &a.total));
    MM_TRY(read_std(ctx, &a.std, &a.std_inf));
    const mm_value *range = mm_build_arg(ctx, "magnitude_range");
    bool has_range = !mm_value_is_null(range);
    if (has_range)
        MM_TRY(read_pair(ctx, "magnitude_range", a.range));
    if (info->value_key) {
        const mm_value *v = mm_build_arg(ctx, info->value_key);
        a.has_value = !mm_value_is_null(v);
        if (a.has_value == has_range)
            return mm_error_set_at(MM_EINVAL,
                                   mm_value_loc(mm_build_node(ctx)),
                                   "give exactly one of %s and "
                                   "magnitude_range",
                                   info->value_key);
        if (has_range && !(a.total > 0))
            return arg_error(ctx, "total_level", "must be positive");
        if (a.has_value && a.op == OP_CUTOUT) {
            if (mm_value_is_int(v)) {
                a.shape[0] = a.shape[1] = mm_value_get_int(v);
            } else if (mm_value_is_list(v) && mm_value_len(v) == 2 &&
                       mm_value_is_int(mm_value_list_get(v, 0)) &&
                       mm_value_is_int(mm_value_list_get(v, 1))) {
                a.shape[0] = mm_value_get_int(mm_value_list_get(v, 0));
                a.shape[1] = mm_value_get_int(mm_value_list_get(v, 1));
            } else {
                return arg_error(ctx, "shape", "expected an int or [h, w]");
            }
            if (a.shape[0] < 0 || a.shape[1] < 0)
                return arg_error(ctx, "shape", "sizes must not be negative");
        } else if (a.has_value) {
            if (!mm_value_is_number(v))
                return arg_error(ctx, info->value_key, "expected a number");
            a.value = mm_value_get_float(v);
        }
        if (a.has_value && a.op == OP_POSTERIZE &&
            !(a.value >= 0 && a.value <= 8))
            return arg_error(ctx, "bits", "must be in 0..8");
    }
    if (a.op == OP_SHEAR || a.op == OP_TRANSLATE || a.op == OP_ROTATE ||
        a.op == OP_CUTOUT)
        MM_TRY(read_pad(ctx, &a));
    if (a.op == OP_SHEAR || a.op == OP_TRANSLATE) {
        const char *dir;
        MM_TRY(mm_build_string(ctx, "direction", &dir));
        if (strcmp(dir, "horizontal") && strcmp(dir, "vertical"))
            return arg_error(ctx, "direction",
                             "expected horizontal or vertical");
        a.vertical = dir[0] == 'v';
    }
    if (a.op == OP_SHEAR || a.op == OP_TRANSLATE || a.op == OP_ROTATE) {
        const char *interp;
        MM_TRY(mm_build_string(ctx, "interpolation", &interp));
        int rc = mm_image_interp_parse(interp, &a.interp);
        if (rc)
            return mm_error_context(
                rc, mm_value_loc(mm_build_arg(ctx, "interpolation")),
                "interpolation");
    }
    if (a.op == OP_ROTATE) {
        MM_TRY(mm_build_float(ctx, "scale", &a.scale));
        a.has_center = !mm_value_is_null(mm_build_arg(ctx, "center"));
        if (a.has_center)
            MM_TRY(read_pair(ctx, "center", a.center));
    }
    if (a.op == OP_SOLARIZE_ADD)
        MM_TRY(mm_build_float(ctx, "thr", &a.thr));
    aug *p = malloc(sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *p = a;
    *out = p;
    return MM_OK;
}

/* ---- schemas ------------------------------------------------------------- */

#define P_PROB                                                                 \
    {.name = "prob", .type = MM_PARAM_FLOAT, .def = "0.5",                     \
     .doc = "probability of applying the transform"}
#define P_NEG                                                                  \
    {.name = "random_negative_prob", .type = MM_PARAM_FLOAT, .def = "0.5",     \
     .doc = "probability of negating the magnitude"}
#define P_LEVELS                                                               \
    {.name = "magnitude_range", .type = MM_PARAM_LIST | MM_PARAM_NULL,         \
     .def = "null",                                                            \
     .doc = "[val1, val2]: magnitude = level / total_level * (val2 - val1) "   \
            "+ val1"},                                                         \
    {.name = "magnitude_level", .type = MM_PARAM_FLOAT, .def = "10",           \
     .doc = "magnitude level (with magnitude_range)"},                         \
    {.name = "magnitude_std", .type = MM_PARAM_FLOAT | MM_PARAM_STRING,       \
     .def = "0.0",                                                             \
     .doc = "level noise: N(level, std) clipped to [0, total_level] when "     \
            "positive, U(0, level) when 'inf'"},                               \
    {.name = "total_level", .type = MM_PARAM_FLOAT, .def = "10",               \
     .doc = "the level that maps to val2"},                                    \
    {.name = "magnitude_key", .type = MM_PARAM_STRING | MM_PARAM_NULL,         \
     .def = "null",                                                            \
     .doc = "older configs' name of the value argument; ignored (RandAugment " \
            "drops it)"}
#define P_PAD                                                                  \
    {.name = "pad_val", .type = MM_PARAM_INT | MM_PARAM_FLOAT | MM_PARAM_LIST, \
     .def = "128", .doc = "fill value: a number or one per channel"}
#define P_INTERP(def_)                                                         \
    {.name = "interpolation", .type = MM_PARAM_STRING, .def = def_,            \
     .doc = "nearest, bilinear, bicubic or area (cv2.warpAffine's)"}
#define P_DIRECTION                                                            \
    {.name = "direction", .type = MM_PARAM_STRING, .def = "horizontal",        \
     .doc = "horizontal or vertical"}
#define P_MAGNITUDE(doc_)                                                      \
    {.name = "magnitude", .type = MM_PARAM_FLOAT | MM_PARAM_NULL,              \
     .def = "null", .doc = doc_}

static const mm_param shear_params[] = {
    P_MAGNITUDE("shear factor (or null with magnitude_range)"),
    P_PAD, P_PROB, P_DIRECTION, P_NEG, P_INTERP("bicubic"), P_LEVELS};
static const mm_param translate_params[] = {
    P_MAGNITUDE("offset as a fraction of the width or height (or null with "
                "magnitude_range)"),
    P_PAD, P_PROB, P_DIRECTION, P_NEG, P_INTERP("nearest"), P_LEVELS};
static const mm_param rotate_params[] = {
    {.name = "angle", .type = MM_PARAM_FLOAT | MM_PARAM_NULL, .def = "null",
     .doc = "degrees, clockwise (or null with magnitude_range)"},
    {.name = "center", .type = MM_PARAM_LIST | MM_PARAM_NULL, .def = "null",
     .doc = "[x, y] rotation centre; null: the image centre"},
    {.name = "scale", .type = MM_PARAM_FLOAT, .def = "1.0",
     .doc = "isotropic scale factor"},
    P_PAD, P_PROB, P_NEG, P_INTERP("nearest"), P_LEVELS};
static const mm_param plain_params[] = {P_PROB, P_NEG, P_LEVELS};
static const mm_param solarize_params[] = {
    {.name = "thr", .type = MM_PARAM_FLOAT | MM_PARAM_NULL, .def = "null",
     .doc = "invert pixels at or above this (or null with magnitude_range)"},
    P_PROB, P_LEVELS};
static const mm_param solarize_add_params[] = {
    P_MAGNITUDE("value added below thr (or null with magnitude_range)"),
    {.name = "thr", .type = MM_PARAM_FLOAT, .def = "128",
     .doc = "pixels below this are raised"},
    P_PROB, P_LEVELS};
static const mm_param posterize_params[] = {
    {.name = "bits", .type = MM_PARAM_FLOAT | MM_PARAM_NULL, .def = "null",
     .doc = "bits kept per channel, 0..8 (or null with magnitude_range; "
            "rounded up)"},
    P_PROB, P_LEVELS};
static const mm_param enhance_params[] = {
    P_MAGNITUDE("factor - 1 (or null with magnitude_range)"), P_PROB, P_NEG,
    P_LEVELS};
static const mm_param cutout_params[] = {
    {.name = "shape", .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "patch size: an int or [h, w] (or null with magnitude_range)"},
    P_PAD, P_PROB, P_LEVELS};

/* ---- RandAugment and AutoAugment ----------------------------------------- */

/* mmpretrain's preset policies, as written in auto_augment.py. */
static const char timm_increasing[] =
    "- {type: AutoContrast}\n"
    "- {type: Equalize}\n"
    "- {type: Invert}\n"
    "- {type: Rotate, magnitude_range: [0, 30]}\n"
    "- {type: Posterize, magnitude_range: [4, 0]}\n"
    "- {type: Solarize, magnitude_range: [256, 0]}\n"
    "- {type: SolarizeAdd, magnitude_range: [0, 110]}\n"
    "- {type: ColorTransform, magnitude_range: [0, 0.9]}\n"
    "- {type: Contrast, magnitude_range: [0, 0.9]}\n"
    "- {type: Brightness, magnitude_range: [0, 0.9]}\n"
    "- {type: Sharpness, magnitude_range: [0, 0.9]}\n"
    "- {type: Shear, magnitude_range: [0, 0.3], direction: horizontal}\n"
    "- {type: Shear, magnitude_range: [0, 0.3], direction: vertical}\n"
    "- {type: Translate, magnitude_range: [0, 0.45], direction: "
    "horizontal}\n"
    "- {type: Translate, magnitude_range: [0, 0.45], direction: vertical}\n";

static const char simple_increasing[] =
    "- {type: AutoContrast}\n"
    "- {type: Equalize}\n"
    "- {type: Rotate, magnitude_range: [0, 30]}\n"
    "- {type: Shear, magnitude_range: [0, 0.3], direction: horizontal}\n"
    "- {type: Shear, magnitude_range: [0, 0.3], direction: vertical}\n";

/* AUTOAUG_POLICIES['imagenet'] (DeepVoltaire/AutoAugment); the thresholds
 * and angles are Python's values of 256 / 9 * k and 30 / 9 * 8. */
#define EQ(p) "{type: Equalize, prob: " p "}"
#define POST(b, p) "{type: Posterize, bits: " b ", prob: " p "}"
#define ROT(a, p) "{type: Rotate, angle: " a ", prob: " p "}"
#define SOL(t, p) "{type: Solarize, thr: " t ", prob: " p "}"
#define COL(m, p) "{type: ColorTransform, magnitude: " m ", prob: " p "}"
#define INV(p) "{type: Invert, prob: " p "}"
#define T4 "113.77777777777777"
#define T5 "142.22222222222223"
#define T6 "170.66666666666666"
#define T1 "28.444444444444443"
#define T2 "56.888888888888886"
#define A8 "26.666666666666668"
static const char imagenet[] =
    "- [" POST("4", "0.4") ", " ROT("30.0", "0.6") "]\n"
    "- [" SOL(T4, "0.6") ", {type: AutoContrast, prob: 0.6}]\n"
    "- [" EQ("0.8") ", " EQ("0.6") "]\n"
    "- [" POST("5", "0.6") ", " POST("5", "0.6") "]\n"
    "- [" EQ("0.4") ", " SOL(T5, "0.2") "]\n"
    "- [" EQ("0.4") ", " ROT(A8, "0.8") "]\n"
    "- [" SOL(T6, "0.6") ", " EQ("0.6") "]\n"
    "- [" POST("6", "0.8") ", " EQ("1.0") "]\n"
    "- [" ROT("10.0", "0.2") ", " SOL(T1, "0.6") "]\n"
    "- [" EQ("0.6") ", " POST("5", "0.4") "]\n"
    "- [" ROT(A8, "0.8") ", " COL("0.0", "0.4") "]\n"
    "- [" ROT("30.0", "0.4") ", " EQ("0.6") "]\n"
    "- [" EQ("0.0") ", " EQ("0.8") "]\n"
    "- [" INV("0.6") ", " EQ("1.0") "]\n"
    "- [" COL("0.4", "0.6") ", {type: Contrast, magnitude: 0.8, prob: 1.0}]\n"
    "- [" ROT(A8, "0.8") ", " COL("0.2", "1.0") "]\n"
    "- [" COL("0.8", "0.8") ", " SOL(T2, "0.8") "]\n"
    "- [{type: Sharpness, magnitude: 0.7, prob: 0.4}, " INV("0.6") "]\n"
    "- [{type: Shear, magnitude: 0.16666666666666666, prob: 0.6, "
    "direction: horizontal}, " EQ("1.0") "]\n"
    "- [" COL("0.0", "0.4") ", " EQ("0.6") "]\n"
    "- [" EQ("0.4") ", " SOL(T5, "0.2") "]\n"
    "- [" SOL(T4, "0.6") ", {type: AutoContrast, prob: 0.6}]\n"
    "- [" INV("0.6") ", " EQ("1.0") "]\n"
    "- [" COL("0.4", "0.6") ", {type: Contrast, magnitude: 0.8, prob: 1.0}]\n"
    "- [" EQ("0.8") ", " EQ("0.6") "]\n";

static const struct {
    const char *name, *text;
} presets[] = {
    {"timm_increasing", timm_increasing},
    {"simple_increasing", simple_increasing},
    {"imagenet", imagenet},
};

/* The `policies` argument: a preset's name (of `kind`: RandAugment's or
 * AutoAugment's) made into a new list, or the given list retained. */
static int read_policies(mm_build_ctx *ctx, bool nested, mm_value **out) {
    const mm_value *v = mm_build_arg(ctx, "policies");
    const mm_srcloc *loc = mm_value_loc(v);
    if (mm_value_is_string(v)) {
        const char *name = mm_value_get_string(v);
        for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
            if (!strcmp(name, presets[i].name) &&
                nested == !strcmp(name, "imagenet"))
                return mm_yaml_parse(presets[i].text, strlen(presets[i].text),
                                     presets[i].name, out);
        return mm_error_set_at(MM_EINVAL, loc,
                               "policies: unknown preset '%s' (choose from "
                               "%s)",
                               name,
                               nested ? "imagenet"
                                      : "timm_increasing, simple_increasing");
    }
    if (!mm_value_is_list(v) || mm_value_len(v) == 0)
        return mm_error_set_at(MM_EINVAL, loc,
                               "policies: expected a preset name or a "
                               "non-empty list of %s",
                               nested ? "lists of transform configs"
                                      : "transform configs");
    *out = mm_value_retain((mm_value *)v);
    return MM_OK;
}

/* mmpretrain's merge_hparams: the hparams a policy's transform takes as
 * its own arguments and the policy does not set. */
static int merge_hparams(const mm_value *policy, const mm_value *hparams,
                         mm_value **out) {
    const mm_value *type = mm_value_dict_get(policy, "type");
    if (!mm_value_is_dict(policy) || !mm_value_is_string(type))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(policy),
                               "each policy must be a dict with a 'type'");
    const char *name = mm_value_get_string(type);
    if (!strncmp(name, "mmcls.", 6))
        name += 6;
    const mm_entry *e;
    MM_TRY(mm_registry_lookup(MM_TRANSFORMS, mm_value_get_string(type),
                              "mmcls", mm_value_loc(type), &e));
    aug_op op = strcmp(e->scope, "mmcls") ? OP_COUNT : op_of(name);
    mm_value *p = mm_value_copy(policy);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < mm_value_len(hparams); i++) {
        const char *k = mm_value_dict_key_at(hparams, i);
        bool takes = false;
        if (op < OP_COUNT) {
            for (int j = 0; ops[op].own[j]; j++)
                takes |= !strcmp(ops[op].own[j], k);
        } else { /* another transform: its parameters */
            for (size_t j = 0; j < e->component->n_params; j++)
                takes |= !strcmp(e->component->params[j].name, k);
        }
        if (takes && !mm_value_dict_get(p, k) &&
            mm_value_dict_set(p, k, mm_value_dict_value_at(hparams, i))) {
            mm_value_release(p);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
    }
    *out = p;
    return MM_OK;
}

static int build_policy(mm_build_ctx *ctx, mm_value *node, const char *path,
                        mm_transform **out) {
    void *obj = NULL;
    /* mmpretrain builds them in its own registry: bare names are mmcls' */
    MM_TRY(mm_registry_build(MM_TRANSFORMS, node, "mmcls", path,
                             mm_build_user(ctx), &obj));
    *out = obj;
    return MM_OK;
}

typedef struct rand_augment {
    mm_transform base;
    size_t n, num_policies;
    mm_transform **ts;
} rand_augment;

static int rand_augment_apply(mm_transform *t, mm_value *results) {
    rand_augment *r = (rand_augment *)t;
    size_t idx[64], k = r->num_policies;
    /* np.random.choice(len(policies), size=num_policies): with
     * replacement, all drawn before any is applied */
    for (size_t i = 0; i < k; i++)
        idx[i] = rand_index(r->n);
    for (size_t i = 0; i < k; i++) {
        int rc = mm_transform_apply(r->ts[idx[i]], results);
        if (rc)
            return rc; /* an error, or a dropped sample (Compose's None) */
    }
    return MM_OK;
}

static void rand_augment_destroy(mm_transform *t) {
    rand_augment *r = (rand_augment *)t;
    for (size_t i = 0; r->ts && i < r->n; i++)
        mm_transform_free(r->ts[i]);
    free(r->ts);
    free(r);
}

static const mm_transform_class rand_augment_class = {
    .name = "RandAugment",
    .apply = rand_augment_apply,
    .destroy = rand_augment_destroy};

static int rand_augment_build_policies(mm_build_ctx *ctx, rand_augment *r,
                                       const mm_value *policies) {
    const mm_value *hparams = mm_build_arg(ctx, "hparams");
    const mm_value *level = mm_build_arg(ctx, "magnitude_level");
    const mm_value *total = mm_build_arg(ctx, "total_level");
    const mm_value *std = mm_build_arg(ctx, "magnitude_std");
    r->n = mm_value_len(policies);
    r->ts = calloc(r->n, sizeof *r->ts);
    if (!r->ts)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s.policies.%zu", mm_build_path(ctx), i);
        mm_value *p = NULL;
        int rc = merge_hparams(mm_value_list_get(policies, i), hparams, &p);
        if (rc)
            return mm_error_context(rc, NULL, "%s", path);
        mm_value_dict_del(p, "magnitude_key"); /* backward compatibility */
        if (mm_value_dict_get(p, "magnitude_range") &&
            (mm_value_dict_set(p, "magnitude_level", (mm_value *)level) ||
             mm_value_dict_set(p, "total_level", (mm_value *)total) ||
             mm_value_dict_set(p, "magnitude_std", (mm_value *)std))) {
            mm_value_release(p);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
        rc = build_policy(ctx, p, path, &r->ts[i]);
        mm_value_release(p);
        MM_TRY(rc);
    }
    return MM_OK;
}

static int rand_augment_build(mm_build_ctx *ctx, void **out) {
    int64_t num;
    double level, total, std;
    bool inf;
    MM_TRY(mm_build_int(ctx, "num_policies", &num));
    MM_TRY(mm_build_float(ctx, "magnitude_level", &level));
    MM_TRY(mm_build_float(ctx, "total_level", &total));
    MM_TRY(read_std(ctx, &std, &inf));
    if (num <= 0 || num > 64)
        return arg_error(ctx, "num_policies", "must be in 1..64");
    if (!(level >= 0))
        return arg_error(ctx, "magnitude_level", "must be at least 0");
    if (!(total > 0))
        return arg_error(ctx, "total_level", "must be positive");
    if (!mm_value_is_dict(mm_build_arg(ctx, "hparams")))
        return arg_error(ctx, "hparams", "expected a dict");
    mm_value *policies;
    MM_TRY(read_policies(ctx, false, &policies));
    rand_augment *r = calloc(1, sizeof *r);
    if (!r) {
        mm_value_release(policies);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    r->base.cls = &rand_augment_class;
    r->num_policies = (size_t)num;
    int rc = rand_augment_build_policies(ctx, r, policies);
    mm_value_release(policies);
    if (rc) {
        rand_augment_destroy(&r->base);
        return rc;
    }
    *out = r;
    return MM_OK;
}

typedef struct auto_augment {
    mm_transform base;
    size_t n;
    size_t *len;         /* transforms per sub-policy */
    mm_transform ***ts;  /* [sub-policy][step] */
} auto_augment;

static int auto_augment_apply(mm_transform *t, mm_value *results) {
    auto_augment *a = (auto_augment *)t;
    size_t i = rand_index(a->n); /* mmcv's RandomChoice */
    for (size_t j = 0; j < a->len[i]; j++) {
        int rc = mm_transform_apply(a->ts[i][j], results);
        if (rc)
            return rc;
    }
    return MM_OK;
}

static void auto_augment_destroy(mm_transform *t) {
    auto_augment *a = (auto_augment *)t;
    for (size_t i = 0; a->ts && i < a->n; i++) {
        for (size_t j = 0; a->ts[i] && j < a->len[i]; j++)
            mm_transform_free(a->ts[i][j]);
        free(a->ts[i]);
    }
    free(a->ts);
    free(a->len);
    free(a);
}

static const mm_transform_class auto_augment_class = {
    .name = "AutoAugment",
    .apply = auto_augment_apply,
    .destroy = auto_augment_destroy};

static int auto_augment_build_policies(mm_build_ctx *ctx, auto_augment *a,
                                       const mm_value *policies) {
    a->n = mm_value_len(policies);
    a->ts = calloc(a->n, sizeof *a->ts);
    a->len = calloc(a->n, sizeof *a->len);
    if (!a->ts || !a->len)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < a->n; i++) {
        const mm_value *sub = mm_value_list_get(policies, i);
        if (!mm_value_is_list(sub) || mm_value_len(sub) == 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(sub),
                                   "%s.policies.%zu: expected a non-empty "
                                   "list of transform configs",
                                   mm_build_path(ctx), i);
        a->ts[i] = calloc(mm_value_len(sub), sizeof *a->ts[i]);
        if (!a->ts[i])
            return mm_error_set(MM_ENOMEM, "out of memory");
        a->len[i] = mm_value_len(sub);
        for (size_t j = 0; j < a->len[i]; j++) {
            char path[256];
            snprintf(path, sizeof path, "%s.policies.%zu.%zu",
                     mm_build_path(ctx), i, j);
            /* mmpretrain 1.2.0 merges hparams only into the policies it
             * keeps for its repr and builds the transforms from the
             * policies as given: hparams change nothing. */
            MM_TRY(build_policy(ctx, mm_value_list_get(sub, j), path,
                                &a->ts[i][j]));
        }
    }
    return MM_OK;
}

static int auto_augment_build(mm_build_ctx *ctx, void **out) {
    if (!mm_value_is_dict(mm_build_arg(ctx, "hparams")))
        return arg_error(ctx, "hparams", "expected a dict");
    mm_value *policies;
    MM_TRY(read_policies(ctx, true, &policies));
    auto_augment *a = calloc(1, sizeof *a);
    if (!a) {
        mm_value_release(policies);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    a->base.cls = &auto_augment_class;
    int rc = auto_augment_build_policies(ctx, a, policies);
    mm_value_release(policies);
    if (rc) {
        auto_augment_destroy(&a->base);
        return rc;
    }
    *out = a;
    return MM_OK;
}

static const mm_param rand_augment_params[] = {
    {.name = "policies", .type = MM_PARAM_STRING | MM_PARAM_COMPONENT_LIST,
     .required = true, .kind = MM_TRANSFORMS,
     .doc = "timm_increasing, simple_increasing, or a list of transform "
            "configs"},
    {.name = "num_policies", .type = MM_PARAM_INT, .required = true,
     .doc = "policies applied each time (drawn with replacement)"},
    {.name = "magnitude_level", .type = MM_PARAM_FLOAT, .required = true,
     .doc = "magnitude level of every policy with a magnitude_range"},
    {.name = "magnitude_std", .type = MM_PARAM_FLOAT | MM_PARAM_STRING,
     .def = "0.0",
     .doc = "level noise: N(level, std) clipped when positive, U(0, level) "
            "when 'inf'"},
    {.name = "total_level", .type = MM_PARAM_FLOAT, .def = "10",
     .doc = "the level that maps to the end of magnitude_range"},
    {.name = "hparams", .type = MM_PARAM_DICT, .def = "{pad_val: 128}",
     .doc = "arguments given to the policies that take them and lack them"},
};

static const mm_param auto_augment_params[] = {
    {.name = "policies", .type = MM_PARAM_STRING | MM_PARAM_LIST,
     .required = true,
     .doc = "imagenet, or a list of sub-policies (lists of transform "
            "configs)"},
    {.name = "hparams", .type = MM_PARAM_DICT, .def = "{pad_val: 128}",
     .doc = "accepted; mmpretrain 1.2.0 does not apply it to the policies"},
};

/* ---- registration -------------------------------------------------------- */

static void transform_destroy(void *t) { mm_transform_free(t); }

#define AUG(Name, Doc, params_, build_)                                        \
    {.kind = MM_TRANSFORMS,                                                    \
     .name = Name,                                                             \
     .doc = Doc,                                                               \
     .params = params_,                                                        \
     .n_params = sizeof params_ / sizeof params_[0],                           \
     .build = build_,                                                          \
     .destroy = transform_destroy}

static const mm_component components[] = {
    AUG("RandAugment", "apply num_policies randomly chosen augmentations",
        rand_augment_params, rand_augment_build),
    AUG("AutoAugment", "apply one randomly chosen sub-policy",
        auto_augment_params, auto_augment_build),
    AUG("Shear", "shear (cv2.warpAffine, as mmcv.imshear)", shear_params,
        aug_build),
    AUG("Translate", "translate (as mmcv.imtranslate)", translate_params,
        aug_build),
    AUG("Rotate", "rotate about a centre (as mmcv.imrotate)", rotate_params,
        aug_build),
    AUG("AutoContrast", "stretch each channel to 0..255", plain_params,
        aug_build),
    AUG("Invert", "255 - img", plain_params, aug_build),
    AUG("Equalize", "equalize each channel's histogram", plain_params,
        aug_build),
    AUG("Solarize", "invert the pixels at or above thr", solarize_params,
        aug_build),
    AUG("SolarizeAdd", "add magnitude to the pixels below thr",
        solarize_add_params, aug_build),
    AUG("Posterize", "keep the top bits of each channel", posterize_params,
        aug_build),
    AUG("Contrast", "blend with the mean grey (mmcv.adjust_contrast)",
        enhance_params, aug_build),
    AUG("ColorTransform", "blend with the grey image (mmcv.adjust_color)",
        enhance_params, aug_build),
    AUG("Brightness", "scale the pixels (mmcv.adjust_brightness)",
        enhance_params, aug_build),
    AUG("Sharpness", "blend with a smoothed image (mmcv.adjust_sharpness)",
        enhance_params, aug_build),
    AUG("Cutout", "fill a randomly placed patch with pad_val",
        cutout_params, aug_build),
};

int mmcls_register_auto_augment(void) {
    return mm_register_all(components,
                           sizeof components / sizeof components[0]);
}
