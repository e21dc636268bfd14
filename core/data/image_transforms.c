/* The core image transforms (TRANSFORMS, scope mm), mmcv 2.x's
 * mmcv.transforms with the same parameters, results-dict keys and results:
 * LoadImageFromFile, Resize, RandomResize, RandomFlip, CenterCrop, Pad,
 * Normalize. Images in results are u8 or f32 (H, W, C) or (H, W)
 * tensors. Each apply works in its own pool: what it leaves in results is
 * retained by the dict, its temporaries die with the pool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm/data.h"
#include "mm/image.h"
#include "mm/log.h"
#include "mm/registry.h"
#include "mm/transform.h"

/* Random transforms draw from the batch's generator through
 * mm_data_rand_uniform (<mm/data.h>). An integer uniform on [lo, hi] (numpy's randint(lo, hi + 1)). */
static int64_t rand_int(int64_t lo, int64_t hi) {
    int64_t v = lo + (int64_t)floor(mm_data_rand_uniform() * (double)(hi - lo + 1));
    return v > hi ? hi : v;
}

/* ---- results-dict helpers ----------------------------------------------- */

static int set_take(mm_value *results, const char *key, mm_value *v) {
    if (!v || mm_value_dict_set_take(results, key, v))
        return mm_error_set(MM_ENOMEM, "out of memory");
    return MM_OK;
}

static mm_value *int_list(int n, const int64_t *v) {
    mm_value *l = mm_value_new_list();
    for (int i = 0; l && i < n; i++)
        if (mm_value_list_append_take(l, mm_value_new_int(v[i]))) {
            mm_value_release(l);
            return NULL;
        }
    return l;
}

static mm_value *float_list(int n, const double *v) {
    mm_value *l = mm_value_new_list();
    for (int i = 0; l && i < n; i++)
        if (mm_value_list_append_take(l, mm_value_new_float(v[i]))) {
            mm_value_release(l);
            return NULL;
        }
    return l;
}

/* The image in results, contiguous (made in the current pool). */
static int get_img(mm_value *results, mm_tensor **out) {
    mm_tensor *t = mm_tensor_from_value(mm_value_dict_get(results, "img"));
    if (!t)
        return mm_error_set(MM_EINVAL,
                            "results has no 'img' tensor (load the image "
                            "first, e.g. with LoadImageFromFile)");
    char s[96];
    if ((t->ndim != 2 && t->ndim != 3) ||
        (t->dtype != MM_U8 && t->dtype != MM_F32) ||
        t->device.type != MM_DEVICE_CPU)
        return mm_error_set(MM_EINVAL,
                            "img must be a u8 or f32 (H, W, C) or (H, W) "
                            "image, got %s",
                            mm_tensor_describe(t, s, sizeof s));
    return mm_contiguous(t, out);
}

/* results[img] = t, img_shape = [H, W]. */
static int set_img(mm_value *results, mm_tensor *t) {
    MM_TRY(set_take(results, "img", mm_tensor_to_value(t)));
    return set_take(results, "img_shape", int_list(2, t->shape));
}

static int64_t img_channels(const mm_tensor *t) {
    return t->ndim == 3 ? t->shape[2] : 1;
}

/* A new image of t's dtype and channels, h x w. */
static int new_like(const mm_tensor *t, int64_t h, int64_t w,
                    mm_tensor **out) {
    if (t->ndim == 2)
        return mm_empty(MM_SHAPE(h, w), t->dtype, out);
    return mm_empty(MM_SHAPE(h, w, t->shape[2]), t->dtype, out);
}

static void plain_destroy(mm_transform *t) { free(t); }
static void transform_destroy(void *t) { mm_transform_free(t); }

/* An int or a [w, h] pair; `what` names it in errors. */
static int read_pair_int(const mm_value *v, const char *what, int64_t *out) {
    if (mm_value_is_int(v)) {
        out[0] = out[1] = mm_value_get_int(v);
    } else if (mm_value_is_list(v) && mm_value_len(v) == 2 &&
               mm_value_is_int(mm_value_list_get(v, 0)) &&
               mm_value_is_int(mm_value_list_get(v, 1))) {
        out[0] = mm_value_get_int(mm_value_list_get(v, 0));
        out[1] = mm_value_get_int(mm_value_list_get(v, 1));
    } else {
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected an int or [w, h]", what);
    }
    if (out[0] <= 0 || out[1] <= 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: sizes must be positive", what);
    return MM_OK;
}

static int read_pair_float(const mm_value *v, const char *what, double *out) {
    if (mm_value_is_number(v)) {
        out[0] = out[1] = mm_value_get_float(v);
    } else if (mm_value_is_list(v) && mm_value_len(v) == 2 &&
               mm_value_is_number(mm_value_list_get(v, 0)) &&
               mm_value_is_number(mm_value_list_get(v, 1))) {
        out[0] = mm_value_get_float(mm_value_list_get(v, 0));
        out[1] = mm_value_get_float(mm_value_list_get(v, 1));
    } else {
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected a number or a pair", what);
    }
    if (out[0] <= 0 || out[1] <= 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: must be positive", what);
    return MM_OK;
}

/* ---- LoadImageFromFile -------------------------------------------------- */

typedef struct load_image {
    mm_transform base;
    bool to_float32, ignore_empty, skip_corrupt;
    mm_image_color color;
} load_image;

static int load_apply(mm_transform *t, mm_value *results) {
    load_image *l = (load_image *)t;
    const mm_value *p = mm_value_dict_get(results, "img_path");
    if (!mm_value_is_string(p))
        return mm_error_set(MM_EINVAL, "results has no 'img_path' string");
    const char *path = mm_value_get_string(p);
    char *buf;
    size_t len;
    int rc = mm_file_read(path, &buf, &len);
    if (rc) /* mmcv's ignore_empty drops a sample whose file is missing */
        return l->ignore_empty ? MM_TRANSFORM_DROP : rc;
    if (len == 0 && l->ignore_empty) {
        free(buf);
        return MM_TRANSFORM_DROP;
    }
    mm_tensor *img = NULL;
    rc = mm_image_decode(buf, len, l->color, path, &img);
    free(buf);
    if (rc == MM_EPARSE && (l->skip_corrupt || l->ignore_empty)) {
        MM_WARN("LoadImageFromFile: skipping a corrupt image: %s",
                mm_error_message());
        mm_error_clear();
        return MM_TRANSFORM_DROP;
    }
    if (rc)
        return rc;
    if (l->to_float32) /* both tensors live in this apply's pool */
        MM_TRY(mm_to_dtype(img, MM_F32, &img));
    MM_TRY(set_img(results, img));
    return set_take(results, "ori_shape", int_list(2, img->shape));
}

static const mm_transform_class load_class = {.name = "LoadImageFromFile",
                                              .apply = load_apply,
                                              .destroy = plain_destroy};

static int load_build(mm_build_ctx *ctx, void **out) {
    const char *ct, *backend;
    load_image l = {.base.cls = &load_class};
    MM_TRY(mm_build_bool(ctx, "to_float32", &l.to_float32));
    MM_TRY(mm_build_bool(ctx, "ignore_empty", &l.ignore_empty));
    MM_TRY(mm_build_bool(ctx, "skip_corrupt", &l.skip_corrupt));
    MM_TRY(mm_build_string(ctx, "color_type", &ct));
    MM_TRY(mm_build_string(ctx, "imdecode_backend", &backend));
    int rc = mm_image_color_parse(ct, &l.color);
    if (rc)
        return mm_error_context(
            rc, mm_value_loc(mm_build_arg(ctx, "color_type")), "color_type");
    static const char *const backends[] = {"cv2", "turbojpeg", "pillow",
                                           "tifffile"};
    bool known = false;
    for (int i = 0; i < 4; i++)
        known |= strcmp(backend, backends[i]) == 0;
    if (!known)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "imdecode_backend")),
            "imdecode_backend '%s' is not one of cv2, turbojpeg, pillow, "
            "tifffile (all decode with stb_image here)",
            backend);
    load_image *p = malloc(sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *p = l;
    *out = p;
    return MM_OK;
}

static const mm_param load_params[] = {
    {.name = "to_float32", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "convert the image to float32"},
    {.name = "color_type", .type = MM_PARAM_STRING, .def = "color",
     .doc = "color (BGR), grayscale (H, W) or unchanged"},
    {.name = "imdecode_backend", .type = MM_PARAM_STRING, .def = "cv2",
     .doc = "accepted for mmcv configs; stb_image decodes"},
    {.name = "file_client_args", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null", .doc = "accepted for mmcv configs (local files only)"},
    {.name = "backend_args", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null", .doc = "accepted for mmcv configs (local files only)"},
    {.name = "ignore_empty", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "drop the sample when the file is missing or empty"},
    {.name = "skip_corrupt", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "drop a corrupt image with a warning instead of failing"},
};

/* ---- Resize ------------------------------------------------------------- */

/* mmcv.imresize's backend: cv2's resize, or Pillow's resampling. */
typedef struct resize_method {
    bool pillow;
    mm_image_interp interp;     /* cv2 */
    mm_image_pil_filter filter; /* pillow */
} resize_method;

typedef struct resize {
    mm_transform base;
    bool has_scale, keep_ratio;
    int64_t scale[2];       /* (w, h) */
    double scale_factor[2]; /* (w, h) when no scale */
    resize_method interp;
} resize;

/* mmcv's _scale_size: int(x * s + 0.5). */
static int64_t scale_size(int64_t x, double s) {
    return (int64_t)((double)x * s + 0.5);
}

/* Resize results[img] to `scale` (w, h) as mmcv.transforms.Resize does. */
static int resize_to(mm_value *results, const int64_t scale[2],
                     bool keep_ratio, const resize_method *interp) {
    mm_tensor *img, *y;
    MM_TRY(get_img(results, &img));
    int64_t h = img->shape[0], w = img->shape[1], nw = scale[0],
            nh = scale[1];
    if (keep_ratio) { /* mmcv.rescale_size with a (w, h) tuple */
        double lo = (double)(scale[0] < scale[1] ? scale[0] : scale[1]);
        double hi = (double)(scale[0] < scale[1] ? scale[1] : scale[0]);
        double f = fmin(hi / (double)(h > w ? h : w),
                        lo / (double)(h < w ? h : w));
        nw = scale_size(w, f);
        nh = scale_size(h, f);
    }
    MM_TRY(set_take(results, "scale", int_list(2, scale)));
    if (interp->pillow)
        MM_TRY(mm_image_resize_pillow(img, nw, nh, interp->filter, &y));
    else
        MM_TRY(mm_image_resize(img, nw, nh, interp->interp, &y));
    MM_TRY(set_img(results, y));
    double sf[2] = {(double)nw / (double)w, (double)nh / (double)h};
    MM_TRY(set_take(results, "scale_factor", float_list(2, sf)));
    return set_take(results, "keep_ratio", mm_value_new_bool(keep_ratio));
}

static int resize_apply(mm_transform *t, mm_value *results) {
    resize *r = (resize *)t;
    int64_t scale[2] = {r->scale[0], r->scale[1]};
    if (!r->has_scale) {
        mm_tensor *img =
            mm_tensor_from_value(mm_value_dict_get(results, "img"));
        if (!img || img->ndim < 2)
            return mm_error_set(MM_EINVAL, "results has no 'img' tensor");
        scale[0] = scale_size(img->shape[1], r->scale_factor[0]);
        scale[1] = scale_size(img->shape[0], r->scale_factor[1]);
    }
    return resize_to(results, scale, r->keep_ratio, &r->interp);
}

static const mm_transform_class resize_class = {.name = "Resize",
                                                .apply = resize_apply,
                                                .destroy = plain_destroy};

static int read_interp(mm_build_ctx *ctx, resize_method *out) {
    const char *s, *backend;
    MM_TRY(mm_build_string(ctx, "interpolation", &s));
    MM_TRY(mm_build_string(ctx, "backend", &backend));
    const mm_srcloc *at = mm_value_loc(mm_build_arg(ctx, "interpolation"));
    int rc;
    if (!strcmp(backend, "pillow")) {
        out->pillow = true;
        rc = mm_image_pil_filter_parse(s, &out->filter);
    } else if (!strcmp(backend, "cv2")) {
        rc = mm_image_interp_parse(s, &out->interp);
    } else {
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "backend")),
                               "backend '%s': cv2 or pillow", backend);
    }
    if (rc)
        return mm_error_context(rc, at, "interpolation");
    return MM_OK;
}

static int resize_build(mm_build_ctx *ctx, void **out) {
    resize r = {.base.cls = &resize_class};
    const mm_value *scale = mm_build_arg(ctx, "scale");
    const mm_value *sf = mm_build_arg(ctx, "scale_factor");
    if (mm_value_is_null(scale) && mm_value_is_null(sf))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "scale and scale_factor cannot both be null");
    r.has_scale = !mm_value_is_null(scale);
    if (r.has_scale)
        MM_TRY(read_pair_int(scale, "scale", r.scale));
    else
        MM_TRY(read_pair_float(sf, "scale_factor", r.scale_factor));
    MM_TRY(mm_build_bool(ctx, "keep_ratio", &r.keep_ratio));
    MM_TRY(read_interp(ctx, &r.interp));
    resize *p = malloc(sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *p = r;
    *out = p;
    return MM_OK;
}

#define RESIZE_COMMON_PARAMS                                                   \
    {.name = "keep_ratio", .type = MM_PARAM_BOOL, .def = "false",              \
     .doc = "keep the aspect ratio: fit within scale (long, short edge)"},    \
    {.name = "clip_object_border", .type = MM_PARAM_BOOL, .def = "true",       \
     .doc = "accepted for mmcv configs (no boxes in core transforms)"},       \
    {.name = "backend", .type = MM_PARAM_STRING, .def = "cv2",                 \
     .doc = "cv2, or pillow (Pillow's resampling, u8 images)"},               \
    {.name = "interpolation", .type = MM_PARAM_STRING, .def = "bilinear",      \
     .doc = "cv2: nearest, bilinear, bicubic, area; pillow: bilinear, "      \
            "bicubic, box, hamming, lanczos"}

static const mm_param resize_params[] = {
    {.name = "scale", .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "target size: an int or [w, h]"},
    {.name = "scale_factor",
     .type = MM_PARAM_FLOAT | MM_PARAM_LIST | MM_PARAM_NULL, .def = "null",
     .doc = "scale by a factor or [w, h] factors when scale is null"},
    RESIZE_COMMON_PARAMS,
};

/* ---- RandomResize ------------------------------------------------------- */

typedef struct random_resize {
    mm_transform base;
    int64_t scale[2][2]; /* one (w, h), or two to draw between */
    bool two_scales, keep_ratio;
    double ratio[2];
    resize_method interp;
} random_resize;

static int random_resize_apply(mm_transform *t, mm_value *results) {
    random_resize *r = (random_resize *)t;
    int64_t scale[2];
    if (r->two_scales) { /* mmcv's _random_sample: each edge on its own */
        for (int e = 0; e < 2; e++) {
            int64_t a = r->scale[0][e], b = r->scale[1][e];
            scale[e] = rand_int(a < b ? a : b, a < b ? b : a);
        }
    } else { /* _random_sample_ratio */
        double f = mm_data_rand_uniform() * (r->ratio[1] - r->ratio[0]) + r->ratio[0];
        scale[0] = (int64_t)((double)r->scale[0][0] * f);
        scale[1] = (int64_t)((double)r->scale[0][1] * f);
    }
    return resize_to(results, scale, r->keep_ratio, &r->interp);
}

static const mm_transform_class random_resize_class = {
    .name = "RandomResize",
    .apply = random_resize_apply,
    .destroy = plain_destroy};

static int random_resize_build(mm_build_ctx *ctx, void **out) {
    random_resize r = {.base.cls = &random_resize_class};
    const mm_value *scale = mm_build_arg(ctx, "scale");
    const mm_value *ratio = mm_build_arg(ctx, "ratio_range");
    const char *type;
    MM_TRY(mm_build_string(ctx, "resize_type", &type));
    if (strcmp(type, "Resize") != 0 && strcmp(type, "mm.Resize") != 0)
        return mm_error_set_at(
            MM_EUNSUPPORTED, mm_value_loc(mm_build_arg(ctx, "resize_type")),
            "resize_type '%s': only Resize is supported", type);
    bool pair_list = mm_value_is_list(scale) && mm_value_len(scale) == 2 &&
                     mm_value_is_list(mm_value_list_get(scale, 0));
    if (pair_list) {
        if (!mm_value_is_null(ratio))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(ratio),
                                   "ratio_range must be null when scale is "
                                   "a list of two [w, h]");
        r.two_scales = true;
        MM_TRY(read_pair_int(mm_value_list_get(scale, 0), "scale[0]",
                             r.scale[0]));
        MM_TRY(read_pair_int(mm_value_list_get(scale, 1), "scale[1]",
                             r.scale[1]));
    } else {
        MM_TRY(read_pair_int(scale, "scale", r.scale[0]));
        if (mm_value_is_null(ratio) || mm_value_len(ratio) != 2 ||
            !mm_value_is_number(mm_value_list_get(ratio, 0)) ||
            !mm_value_is_number(mm_value_list_get(ratio, 1)))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(ratio),
                                   "ratio_range: expected [min, max] when "
                                   "scale is one [w, h]");
        r.ratio[0] = mm_value_get_float(mm_value_list_get(ratio, 0));
        r.ratio[1] = mm_value_get_float(mm_value_list_get(ratio, 1));
        if (r.ratio[0] > r.ratio[1] || r.ratio[0] <= 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(ratio),
                                   "ratio_range: need 0 < min <= max");
    }
    MM_TRY(mm_build_bool(ctx, "keep_ratio", &r.keep_ratio));
    MM_TRY(read_interp(ctx, &r.interp));
    random_resize *p = malloc(sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *p = r;
    *out = p;
    return MM_OK;
}

static const mm_param random_resize_params[] = {
    {.name = "scale", .type = MM_PARAM_INT | MM_PARAM_LIST, .required = true,
     .doc = "[w, h] scaled by ratio_range, or two [w, h] to draw between"},
    {.name = "ratio_range", .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "[min, max] ratio drawn uniformly"},
    {.name = "resize_type", .type = MM_PARAM_STRING, .def = "Resize",
     .doc = "the resize transform (Resize)"},
    RESIZE_COMMON_PARAMS,
};

/* ---- RandomFlip --------------------------------------------------------- */

enum { FLIP_H, FLIP_V, FLIP_D, FLIP_MAX_DIRS = 3 };
static const char *const flip_names[] = {"horizontal", "vertical",
                                         "diagonal"};

typedef struct random_flip {
    mm_transform base;
    int n;                          /* directions */
    int dir[FLIP_MAX_DIRS];
    double prob[FLIP_MAX_DIRS + 1]; /* per direction, then "no flip" */
} random_flip;

/* Flip a contiguous image; dir FLIP_H mirrors columns, FLIP_V rows,
 * FLIP_D both. */
static int flip_img(mm_tensor *img, int dir, mm_tensor **out) {
    int64_t h = img->shape[0], w = img->shape[1];
    size_t px = (size_t)img_channels(img) * mm_dtype_size(img->dtype);
    MM_TRY(new_like(img, h, w, out));
    const char *s = mm_tensor_data(img);
    char *d = mm_tensor_data(*out);
    for (int64_t y = 0; y < h; y++) {
        int64_t sy = dir == FLIP_H ? y : h - 1 - y;
        for (int64_t x = 0; x < w; x++) {
            int64_t sx = dir == FLIP_V ? x : w - 1 - x;
            memcpy(d + (size_t)(y * w + x) * px,
                   s + (size_t)(sy * w + sx) * px, px);
        }
    }
    return MM_OK;
}

static int flip_parse_dir(const char *s, int *out) {
    for (int i = 0; i < 3; i++)
        if (strcmp(s, flip_names[i]) == 0) {
            *out = i;
            return MM_OK;
        }
    return MM_EINVAL;
}

static int flip_apply(mm_transform *t, mm_value *results) {
    random_flip *f = (random_flip *)t;
    int dir = -1;
    const mm_value *given = mm_value_dict_get(results, "flip_direction");
    if (mm_value_dict_get(results, "flip")) {
        /* mmcv: a sample that already has `flip` keeps its direction */
        if (mm_value_is_string(given) &&
            flip_parse_dir(mm_value_get_string(given), &dir))
            return mm_error_set(MM_EINVAL,
                                "flip_direction '%s' is not horizontal, "
                                "vertical or diagonal",
                                mm_value_get_string(given));
    } else { /* numpy's choice(directions + [None], p=prob) */
        double u = mm_data_rand_uniform(), cdf = 0, total = 0;
        for (int i = 0; i <= f->n; i++)
            total += f->prob[i];
        for (int i = 0; i <= f->n; i++) {
            cdf += f->prob[i] / total;
            if (u < cdf) {
                dir = i < f->n ? f->dir[i] : -1;
                break;
            }
        }
    }
    MM_TRY(set_take(results, "flip", mm_value_new_bool(dir >= 0)));
    if (dir < 0)
        return set_take(results, "flip_direction", mm_value_new_null());
    MM_TRY(set_take(results, "flip_direction",
                    mm_value_new_string(flip_names[dir])));
    mm_tensor *img, *y;
    MM_TRY(get_img(results, &img));
    MM_TRY(flip_img(img, dir, &y));
    return set_take(results, "img", mm_tensor_to_value(y));
}

static const mm_transform_class flip_class = {.name = "RandomFlip",
                                              .apply = flip_apply,
                                              .destroy = plain_destroy};

static int flip_build(mm_build_ctx *ctx, void **out) {
    random_flip f = {.base.cls = &flip_class};
    const mm_value *prob = mm_build_arg(ctx, "prob");
    const mm_value *dir = mm_build_arg(ctx, "direction");
    const mm_srcloc *dloc = mm_value_loc(dir);
    if (mm_value_is_string(dir)) {
        f.n = 1;
        if (flip_parse_dir(mm_value_get_string(dir), &f.dir[0]))
            return mm_error_set_at(MM_EINVAL, dloc,
                                   "direction '%s' is not horizontal, "
                                   "vertical or diagonal",
                                   mm_value_get_string(dir));
    } else {
        f.n = (int)mm_value_len(dir);
        if (f.n < 1 || f.n > FLIP_MAX_DIRS)
            return mm_error_set_at(MM_EINVAL, dloc,
                                   "direction: expected 1 to 3 directions");
        for (int i = 0; i < f.n; i++) {
            const mm_value *e = mm_value_list_get(dir, (size_t)i);
            if (!mm_value_is_string(e) ||
                flip_parse_dir(mm_value_get_string(e), &f.dir[i]))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                       "direction[%d]: expected horizontal, "
                                       "vertical or diagonal",
                                       i);
        }
    }
    double sum = 0;
    if (mm_value_is_number(prob)) {
        sum = mm_value_get_float(prob);
        for (int i = 0; i < f.n; i++)
            f.prob[i] = sum / f.n;
    } else {
        if (mm_value_len(prob) != (size_t)f.n || !mm_value_is_list(dir))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(prob),
                                   "prob: a list needs one probability per "
                                   "direction (a list of %d)",
                                   f.n);
        for (int i = 0; i < f.n; i++) {
            const mm_value *e = mm_value_list_get(prob, (size_t)i);
            if (!mm_value_is_number(e))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                       "prob[%d]: expected a number", i);
            f.prob[i] = mm_value_get_float(e);
            if (f.prob[i] < 0)
                sum = -1;
            else if (sum >= 0)
                sum += f.prob[i];
        }
    }
    if (sum < 0 || sum > 1 + 1e-12)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(prob),
                               "prob: probabilities must be in [0, 1] and "
                               "sum to at most 1");
    f.prob[f.n] = 1 - sum < 0 ? 0 : 1 - sum;
    random_flip *p = malloc(sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *p = f;
    *out = p;
    return MM_OK;
}

static const mm_param flip_params[] = {
    {.name = "prob", .type = MM_PARAM_FLOAT | MM_PARAM_LIST, .required = true,
     .doc = "flip probability, or one per direction"},
    {.name = "direction", .type = MM_PARAM_STRING | MM_PARAM_LIST,
     .def = "horizontal", .doc = "horizontal, vertical, diagonal or a list"},
    {.name = "swap_seg_labels", .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "accepted for mmcv configs (no seg maps here)"},
};

/* ---- Pad ---------------------------------------------------------------- */

typedef enum pad_mode {
    PAD_CONSTANT,
    PAD_EDGE,
    PAD_REFLECT,
    PAD_SYMMETRIC
} pad_mode;

typedef struct pad_cfg {
    bool has_size, square;
    int64_t size[2]; /* (w, h) */
    int64_t divisor; /* 0: none */
    int n_val;       /* 1, or one per channel */
    double val[4];
    pad_mode mode;
    const mm_value *size_value; /* for pad_fixed_size; owned by the node */
} pad_cfg;

typedef struct pad {
    mm_transform base;
    pad_cfg cfg;
    mm_value *fixed_size; /* results' pad_fixed_size (retained), or null */
} pad;

/* cv2.borderInterpolate for indices past the end (pads go bottom/right). */
static int64_t border_index(int64_t p, int64_t len, pad_mode mode) {
    if (p < len)
        return p;
    if (mode == PAD_EDGE || len == 1)
        return len - 1;
    int64_t delta = mode == PAD_REFLECT; /* BORDER_REFLECT_101 */
    do {
        if (p < 0)
            p = -p - 1 + delta;
        else
            p = len - 1 - (p - len) - delta;
    } while (p < 0 || p >= len);
    return p;
}

/* Pad img at the bottom and right to (h, w) (never smaller). */
static int pad_img(mm_tensor *img, int64_t h, int64_t w, const pad_cfg *c,
                   mm_tensor **out) {
    int64_t ih = img->shape[0], iw = img->shape[1], ch = img_channels(img);
    h = h > ih ? h : ih;
    w = w > iw ? w : iw;
    if (c->n_val != 1 && c->n_val != ch)
        return mm_error_set(MM_EINVAL,
                            "pad_val has %d values for an image of %lld "
                            "channels",
                            c->n_val, (long long)ch);
    MM_TRY(new_like(img, h, w, out));
    size_t es = mm_dtype_size(img->dtype), px = (size_t)ch * es;
    const char *s = mm_tensor_data(img);
    char *d = mm_tensor_data(*out);
    uint8_t fill[4 * 4];
    for (int64_t k = 0; k < ch; k++) {
        double v = c->val[c->n_val == 1 ? 0 : k];
        if (img->dtype == MM_U8) /* cv2's saturate_cast */
            fill[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrint(v));
        else
            ((float *)fill)[k] = (float)v;
    }
    for (int64_t y = 0; y < h; y++) {
        for (int64_t x = 0; x < w; x++) {
            char *dst = d + (size_t)(y * w + x) * px;
            if (y < ih && x < iw) {
                memcpy(dst, s + (size_t)(y * iw + x) * px, px);
            } else if (c->mode == PAD_CONSTANT) {
                memcpy(dst, fill, px);
            } else {
                int64_t sy = border_index(y, ih, c->mode);
                int64_t sx = border_index(x, iw, c->mode);
                memcpy(dst, s + (size_t)(sy * iw + sx) * px, px);
            }
        }
    }
    return MM_OK;
}

static int pad_apply(mm_transform *t, mm_value *results) {
    pad *p = (pad *)t;
    const pad_cfg *c = &p->cfg;
    mm_tensor *img, *y;
    MM_TRY(get_img(results, &img));
    int64_t h = img->shape[0], w = img->shape[1];
    if (c->square)
        h = w = h > w ? h : w;
    if (c->divisor) {
        h = (h + c->divisor - 1) / c->divisor * c->divisor;
        w = (w + c->divisor - 1) / c->divisor * c->divisor;
    } else if (c->has_size) {
        w = c->size[0];
        h = c->size[1];
    }
    MM_TRY(pad_img(img, h, w, c, &y));
    MM_TRY(set_img(results, y));
    MM_TRY(set_take(results, "pad_shape", int_list(y->ndim, y->shape)));
    MM_TRY(set_take(results, "pad_fixed_size",
                    p->fixed_size ? mm_value_retain(p->fixed_size)
                                  : mm_value_new_null()));
    return set_take(results, "pad_size_divisor",
                    c->divisor ? mm_value_new_int(c->divisor)
                               : mm_value_new_null());
}

static void pad_destroy(mm_transform *t) {
    mm_value_release(((pad *)t)->fixed_size);
    free(t);
}

static const mm_transform_class pad_class = {
    .name = "Pad", .apply = pad_apply, .destroy = pad_destroy};

/* pad_val (a number, a per-channel list, or {img: ...}) and
 * padding_mode, shared with CenterCrop's pad_cfg. */
static int pad_read_common(const mm_value *val, const mm_value *mode,
                           pad_cfg *c) {
    if (mm_value_is_dict(val)) {
        const mm_value *img = mm_value_dict_get(val, "img");
        val = img;
        if (!img) {
            c->n_val = 1;
            c->val[0] = 0;
            val = NULL;
        }
    }
    if (val && mm_value_is_number(val)) {
        c->n_val = 1;
        c->val[0] = mm_value_get_float(val);
    } else if (val) {
        size_t n = mm_value_is_list(val) ? mm_value_len(val) : 0;
        if (n < 1 || n > 4)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(val),
                                   "pad_val: expected a number, 1 to 4 "
                                   "numbers, or {img: ...}");
        c->n_val = (int)n;
        for (size_t i = 0; i < n; i++) {
            const mm_value *e = mm_value_list_get(val, i);
            if (!mm_value_is_number(e))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                       "pad_val[%zu]: expected a number", i);
            c->val[i] = mm_value_get_float(e);
        }
    }
    static const char *const modes[] = {"constant", "edge", "reflect",
                                        "symmetric"};
    const char *m = mode ? mm_value_get_string(mode) : "constant";
    for (int i = 0; m && i < 4; i++)
        if (strcmp(m, modes[i]) == 0) {
            c->mode = (pad_mode)i;
            return MM_OK;
        }
    return mm_error_set_at(MM_EINVAL, mm_value_loc(mode),
                           "padding_mode '%s' is not constant, edge, reflect "
                           "or symmetric",
                           m ? m : "?");
}

static int pad_build(mm_build_ctx *ctx, void **out) {
    pad p = {.base.cls = &pad_class};
    pad_cfg *c = &p.cfg;
    const mm_value *size = mm_build_arg(ctx, "size");
    const mm_value *div = mm_build_arg(ctx, "size_divisor");
    const mm_srcloc *loc = mm_value_loc(mm_build_node(ctx));
    MM_TRY(mm_build_bool(ctx, "pad_to_square", &c->square));
    c->has_size = !mm_value_is_null(size);
    if (c->square && c->has_size)
        return mm_error_set_at(MM_EINVAL, loc,
                               "size must be null when pad_to_square is "
                               "true");
    if (!c->square && c->has_size == !mm_value_is_null(div))
        return mm_error_set_at(MM_EINVAL, loc,
                               "give exactly one of size and size_divisor");
    if (c->has_size)
        MM_TRY(read_pair_int(size, "size", c->size));
    if (!mm_value_is_null(div)) {
        c->divisor = mm_value_get_int(div);
        if (c->divisor < 1)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(div),
                                   "size_divisor must be at least 1");
    }
    MM_TRY(pad_read_common(mm_build_arg(ctx, "pad_val"),
                           mm_build_arg(ctx, "padding_mode"), c));
    pad *q = malloc(sizeof *q);
    if (!q)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *q = p;
    q->fixed_size = c->has_size ? int_list(2, c->size) : NULL;
    if (c->has_size && !q->fixed_size) {
        free(q);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *out = q;
    return MM_OK;
}

static const mm_param pad_params[] = {
    {.name = "size", .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "pad to this [w, h]"},
    {.name = "size_divisor", .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null", .doc = "pad height and width to multiples of this"},
    {.name = "pad_to_square", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "pad to a square of the longer side (then size_divisor)"},
    {.name = "pad_val",
     .type = MM_PARAM_FLOAT | MM_PARAM_LIST | MM_PARAM_DICT,
     .def = "{img: 0, seg: 255}",
     .doc = "constant padding value: a number, per channel, or {img: v}"},
    {.name = "padding_mode", .type = MM_PARAM_STRING, .def = "constant",
     .doc = "constant, edge, reflect or symmetric"},
};

/* ---- CenterCrop --------------------------------------------------------- */

typedef struct center_crop {
    mm_transform base;
    int64_t size[2]; /* (w, h) */
    bool auto_pad;
    pad_cfg pad;
} center_crop;

static int center_crop_apply(mm_transform *t, mm_value *results) {
    center_crop *cc = (center_crop *)t;
    mm_tensor *img, *y;
    MM_TRY(get_img(results, &img));
    int64_t cw = cc->size[0], ch = cc->size[1];
    int64_t h = img->shape[0], w = img->shape[1];
    if (ch > h || cw > w) {
        if (cc->auto_pad) { /* mmcv runs Pad(size=(max w, max h)) first */
            h = h > ch ? h : ch;
            w = w > cw ? w : cw;
            pad p = {.cfg = cc->pad};
            p.cfg.has_size = true;
            p.cfg.size[0] = w;
            p.cfg.size[1] = h;
            p.fixed_size = int_list(2, p.cfg.size);
            if (!p.fixed_size)
                return mm_error_set(MM_ENOMEM, "out of memory");
            int rc = pad_apply(&p.base, results);
            mm_value_release(p.fixed_size);
            MM_TRY(rc);
            MM_TRY(get_img(results, &img));
        } else {
            ch = ch < h ? ch : h;
            cw = cw < w ? cw : w;
        }
    }
    /* Python's round(): halves to even */
    int64_t y1 = (int64_t)nearbyint((double)(h - ch) / 2.0);
    int64_t x1 = (int64_t)nearbyint((double)(w - cw) / 2.0);
    y1 = y1 < 0 ? 0 : y1;
    x1 = x1 < 0 ? 0 : x1;
    int64_t y2 = (h < y1 + ch ? h : y1 + ch), x2 = (w < x1 + cw ? w : x1 + cw);
    MM_TRY(new_like(img, y2 - y1, x2 - x1, &y));
    size_t px = (size_t)img_channels(img) * mm_dtype_size(img->dtype);
    for (int64_t r = y1; r < y2; r++)
        memcpy((char *)mm_tensor_data(y) + (size_t)((r - y1) * (x2 - x1)) * px,
               (const char *)mm_tensor_data(img) + (size_t)(r * w + x1) * px,
               (size_t)(x2 - x1) * px);
    MM_TRY(set_img(results, y));
    return set_take(results, "pad_shape", int_list(2, y->shape));
}

static const mm_transform_class center_crop_class = {
    .name = "CenterCrop",
    .apply = center_crop_apply,
    .destroy = plain_destroy};

static int center_crop_build(mm_build_ctx *ctx, void **out) {
    center_crop c = {.base.cls = &center_crop_class};
    MM_TRY(read_pair_int(mm_build_arg(ctx, "crop_size"), "crop_size",
                         c.size));
    MM_TRY(mm_build_bool(ctx, "auto_pad", &c.auto_pad));
    const mm_value *pc = mm_build_arg(ctx, "pad_cfg");
    const mm_value *type = mm_value_dict_get(pc, "type");
    const char *ts = mm_value_is_string(type) ? mm_value_get_string(type) : "";
    if (strcmp(ts, "Pad") != 0 && strcmp(ts, "mm.Pad") != 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(pc),
                               "pad_cfg: type must be Pad");
    for (size_t i = 0; i < mm_value_len(pc); i++) {
        const char *k = mm_value_dict_key_at(pc, i);
        if (strcmp(k, "type") && strcmp(k, "pad_val") &&
            strcmp(k, "padding_mode"))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(pc),
                                   "pad_cfg: '%s' is not allowed (the crop "
                                   "size sets the padded size; pad_val and "
                                   "padding_mode may be given)",
                                   k);
    }
    c.pad.n_val = 1;
    MM_TRY(pad_read_common(mm_value_dict_get(pc, "pad_val"),
                           mm_value_dict_get(pc, "padding_mode"), &c.pad));
    center_crop *p = malloc(sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *p = c;
    *out = p;
    return MM_OK;
}

static const mm_param center_crop_params[] = {
    {.name = "crop_size", .type = MM_PARAM_INT | MM_PARAM_LIST,
     .required = true, .doc = "crop size: an int or [w, h]"},
    {.name = "auto_pad", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "pad an image smaller than the crop (else crop what there is)"},
    {.name = "pad_cfg", .type = MM_PARAM_DICT, .def = "{type: Pad}",
     .doc = "the Pad used by auto_pad (pad_val, padding_mode)"},
    {.name = "clip_object_border", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "accepted for mmcv configs (no boxes in core transforms)"},
};

/* ---- Normalize ---------------------------------------------------------- */

typedef struct normalize {
    mm_transform base;
    int n;
    float mean[4], stdinv[4];
    double mean_d[4], std_d[4]; /* as float32, for img_norm_cfg */
    bool to_rgb;
} normalize;

static int normalize_apply(mm_transform *t, mm_value *results) {
    normalize *nz = (normalize *)t;
    mm_tensor *img, *f, *y;
    MM_TRY(get_img(results, &img));
    int64_t c = img_channels(img);
    if (nz->n != 1 && nz->n != c)
        return mm_error_set(MM_EINVAL,
                            "mean has %d values for an image of %lld "
                            "channels",
                            nz->n, (long long)c);
    if (nz->to_rgb && c != 3)
        return mm_error_set(MM_EINVAL,
                            "to_rgb needs a 3-channel image, got %lld "
                            "channel(s) (set to_rgb: false)",
                            (long long)c);
    MM_TRY(mm_to_dtype(img, MM_F32, &f));
    MM_TRY(mm_empty_like(f, &y));
    const float *s = mm_tensor_data(f);
    float *d = mm_tensor_data(y);
    int64_t npx = img->shape[0] * img->shape[1];
    /* mmcv.imnormalize_: swap to RGB, subtract mean, multiply by 1 / std,
     * in float32 as cv2.subtract and cv2.multiply do. */
    for (int64_t i = 0; i < npx; i++, s += c, d += c)
        for (int64_t k = 0; k < c; k++) {
            int m = nz->n == 1 ? 0 : (int)k;
            float v = s[nz->to_rgb ? 2 - k : k];
            d[k] = (v - nz->mean[m]) * nz->stdinv[m];
        }
    MM_TRY(set_take(results, "img", mm_tensor_to_value(y)));
    mm_value *cfg = mm_value_new_dict();
    if (!cfg ||
        mm_value_dict_set_take(cfg, "mean", float_list(nz->n, nz->mean_d)) ||
        mm_value_dict_set_take(cfg, "std", float_list(nz->n, nz->std_d)) ||
        mm_value_dict_set_take(cfg, "to_rgb", mm_value_new_bool(nz->to_rgb))) {
        mm_value_release(cfg);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    return set_take(results, "img_norm_cfg", cfg);
}

static const mm_transform_class normalize_class = {
    .name = "Normalize",
    .apply = normalize_apply,
    .destroy = plain_destroy};

static int read_stats(mm_build_ctx *ctx, const char *param, double *out,
                      int *n) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (mm_value_is_number(v)) {
        out[0] = mm_value_get_float(v);
        *n = 1;
        return MM_OK;
    }
    size_t len = mm_value_len(v);
    if (len < 1 || len > 4)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected 1 to 4 numbers", param);
    for (size_t i = 0; i < len; i++) {
        const mm_value *e = mm_value_list_get(v, i);
        if (!mm_value_is_number(e))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s[%zu]: expected a number", param, i);
        out[i] = mm_value_get_float(e);
    }
    *n = (int)len;
    return MM_OK;
}

static int normalize_build(mm_build_ctx *ctx, void **out) {
    normalize nz = {.base.cls = &normalize_class};
    double mean[4], std[4];
    int ns;
    MM_TRY(read_stats(ctx, "mean", mean, &nz.n));
    MM_TRY(read_stats(ctx, "std", std, &ns));
    if (ns != nz.n)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "std")),
                               "std has %d values but mean has %d", ns, nz.n);
    MM_TRY(mm_build_bool(ctx, "to_rgb", &nz.to_rgb));
    for (int i = 0; i < nz.n; i++) {
        if (std[i] == 0)
            return mm_error_set_at(MM_EINVAL,
                                   mm_value_loc(mm_build_arg(ctx, "std")),
                                   "std[%d] is 0 (division by zero)", i);
        /* mmcv keeps mean and std as float32 arrays */
        nz.mean[i] = (float)mean[i];
        nz.mean_d[i] = (double)nz.mean[i];
        nz.std_d[i] = (double)(float)std[i];
        nz.stdinv[i] = (float)(1.0 / nz.std_d[i]);
    }
    normalize *p = malloc(sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *p = nz;
    *out = p;
    return MM_OK;
}

static const mm_param normalize_params[] = {
    {.name = "mean", .type = MM_PARAM_FLOAT | MM_PARAM_LIST, .required = true,
     .doc = "per-channel mean (in the output's channel order)"},
    {.name = "std", .type = MM_PARAM_FLOAT | MM_PARAM_LIST, .required = true,
     .doc = "per-channel standard deviation"},
    {.name = "to_rgb", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "swap BGR to RGB before normalising"},
};

/* ---- registration ------------------------------------------------------- */

#define IMAGE_TRANSFORM(var, Name, Doc, params_, build_)                       \
    static const mm_component var = {.kind = MM_TRANSFORMS,                    \
                                     .name = Name,                             \
                                     .doc = Doc,                               \
                                     .params = params_,                        \
                                     .n_params =                               \
                                         sizeof params_ / sizeof params_[0],   \
                                     .build = build_,                          \
                                     .destroy = transform_destroy}

IMAGE_TRANSFORM(load_c, "LoadImageFromFile",
                "read img_path into img (u8 BGR, or f32 with to_float32)",
                load_params, load_build);
IMAGE_TRANSFORM(resize_c, "Resize",
                "resize to a scale or by a factor, as cv2.resize",
                resize_params, resize_build);
IMAGE_TRANSFORM(random_resize_c, "RandomResize",
                "Resize to a randomly drawn scale", random_resize_params,
                random_resize_build);
IMAGE_TRANSFORM(flip_c, "RandomFlip",
                "flip horizontally, vertically or diagonally at random",
                flip_params, flip_build);
IMAGE_TRANSFORM(center_crop_c, "CenterCrop", "crop the centre of the image",
                center_crop_params, center_crop_build);
IMAGE_TRANSFORM(pad_c, "Pad",
                "pad bottom and right to a size, a divisor or a square",
                pad_params, pad_build);
IMAGE_TRANSFORM(normalize_c, "Normalize",
                "(img - mean) / std in float32, optionally BGR to RGB",
                normalize_params, normalize_build);

int mm_image_register(void) {
    static const mm_component *const cs[] = {
        &load_c, &resize_c,      &random_resize_c, &flip_c,
        &pad_c,  &center_crop_c, &normalize_c};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        MM_TRY(mm_register(cs[i]));
    return MM_OK;
}
