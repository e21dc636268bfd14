/* mmpretrain's own image transforms (mmpretrain/datasets/transforms/
 * processing.py, TRANSFORMS in scope mmcls): RandomResizedCrop, RandomCrop,
 * EfficientNetCenterCrop, EfficientNetRandomCrop, ResizeEdge, RandomErasing,
 * ColorJitter and Lighting, with mmpretrain 1.2.0's parameters,
 * results keys and arithmetic.
 *
 * Randomness: every draw takes one Philox block of mm_data_generator()
 * (the batch's generator inside the dataloader), turned into numpy's
 * formulas: uniform(a, b) = a + (b - a) * u, randint(a, b) = a + floor(u *
 * (b - a)), normal by Box-Muller, permutation by Fisher-Yates. The draws
 * are made in mmpretrain's order, so a recorder that feeds mmpretrain the
 * same stream (tools/parity/transforms_mmpretrain.py) gets the same crops,
 * factors and patches; the stream itself is not numpy's.
 *
 * ColorJitter is Pillow's arithmetic (mmpretrain's default backend):
 * ImageEnhance blends in float32 with truncation, "L" is ITU-R 601-2 luma in
 * 16-bit fixed point, and hue goes through Pillow's RGB<->HSV code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/data.h>
#include <mm/image.h>
#include <mm/log.h>
#include <mm/registry.h>
#include <mm/rng.h>
#include <mm/tensor.h>
#include <mm/transform.h>

#include "mmcls.h"

/* ---- draws ------------------------------------------------------------ */


static double uniform(double lo, double hi) { return lo + (hi - lo) * mm_data_rand_uniform(); }

/* numpy's randint(lo, hi): hi exclusive, hi > lo. */
static int64_t randint(int64_t lo, int64_t hi) {
    int64_t v = lo + (int64_t)floor(mm_data_rand_uniform() * (double)(hi - lo));
    return v >= hi ? hi - 1 : v;
}

static double normal(double mean, double std) {
    double u1 = mm_data_rand_uniform(), u2 = mm_data_rand_uniform();
    return mean + std * sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

/* Python's round() (halves to even) as an int. */
static int64_t pyround(double x) { return (int64_t)nearbyint(x); }

/* ---- shared helpers ----------------------------------------------------- */

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

/* results['img']: a u8 or f32 (H, W[, C]) CPU image, contiguous. */
static int get_img(mm_value *results, mm_tensor **out) {
    mm_tensor *t = mm_tensor_from_value(mm_value_dict_get(results, "img"));
    if (!t)
        return mm_error_set(MM_EINVAL, "No `img` field in the input (load "
                                       "the image first)");
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

/* A private copy to write into (the results' image may be a view of the
 * dataset's memory, e.g. CIFAR's). */
static int get_img_copy(mm_value *results, mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(get_img(results, &t));
    return mm_clone(t, out);
}

static void plain_destroy(mm_transform *t) { free(t); }
static void transform_destroy(void *t) { mm_transform_free(t); }

static int make(const void *proto, size_t size, void **out) {
    void *p = malloc(size);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    memcpy(p, proto, size);
    *out = p;
    return MM_OK;
}

/* A number or a pair of numbers. */
static int read_range(const mm_value *v, const char *what, double *out,
                      bool *pair) {
    if (mm_value_is_number(v)) {
        out[0] = out[1] = mm_value_get_float(v);
        *pair = false;
        return MM_OK;
    }
    if (mm_value_is_list(v) && mm_value_len(v) == 2 &&
        mm_value_is_number(mm_value_list_get(v, 0)) &&
        mm_value_is_number(mm_value_list_get(v, 1))) {
        out[0] = mm_value_get_float(mm_value_list_get(v, 0));
        out[1] = mm_value_get_float(mm_value_list_get(v, 1));
        *pair = true;
        return MM_OK;
    }
    return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                           "%s: expected a number or a list of two numbers",
                           what);
}

/* ---- resizing: cv2's, or Pillow's resampling --------------------------- */

/* How a transform resizes: cv2's resize or Pillow's (mmcv.imresize's
 * backend). */
typedef struct resizer {
    bool pillow;
    mm_image_interp interp; /* cv2 */
    mm_image_pil_filter filter; /* pillow */
} resizer;

static int do_resize(const resizer *r, mm_tensor *img, int64_t w, int64_t h,
                     mm_tensor **out) {
    if (r->pillow)
        return mm_image_resize_pillow(img, w, h, r->filter, out);
    return mm_image_resize(img, w, h, r->interp, out);
}

/* interpolation + backend (cv2 or pillow) of the resizing transforms. */
static int read_interp(mm_build_ctx *ctx, resizer *out) {
    const char *s, *backend;
    MM_TRY(mm_build_string(ctx, "interpolation", &s));
    MM_TRY(mm_build_string(ctx, "backend", &backend));
    const mm_srcloc *at = mm_value_loc(mm_build_arg(ctx, "interpolation"));
    if (!strcmp(backend, "pillow")) {
        out->pillow = true;
        int rc = mm_image_pil_filter_parse(s, &out->filter);
        return rc ? mm_error_context(rc, at, "interpolation") : MM_OK;
    }
    if (strcmp(backend, "cv2") != 0)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "backend")),
            "backend: '%s' is not supported; use cv2 or pillow", backend);
    int rc = mm_image_interp_parse(s, &out->interp);
    if (rc)
        return mm_error_context(rc, at, "interpolation");
    return MM_OK;
}

/* ---- RandomResizedCrop ---------------------------------------------------- */

typedef struct rrc {
    mm_transform base;
    int64_t out_h, out_w; /* mmpretrain's scale is (h, w) */
    double area[2], aspect[2];
    int64_t max_attempts;
    resizer interp;
} rrc;

/* mmpretrain's rand_crop_params: (offset_h, offset_w, target_h, target_w). */
static void rrc_params(const rrc *r, int64_t h, int64_t w, int64_t *box) {
    double area = (double)(h * w);
    double log_lo = log(r->aspect[0]), log_hi = log(r->aspect[1]);
    for (int64_t i = 0; i < r->max_attempts; i++) {
        double target_area = uniform(r->area[0], r->area[1]) * area;
        double aspect = exp(uniform(log_lo, log_hi));
        int64_t tw = pyround(sqrt(target_area * aspect));
        int64_t th = pyround(sqrt(target_area / aspect));
        if (0 < tw && tw <= w && 0 < th && th <= h) {
            box[0] = randint(0, h - th + 1);
            box[1] = randint(0, w - tw + 1);
            box[2] = th;
            box[3] = tw;
            return;
        }
    }
    /* fallback: a central crop of the clipped aspect ratio */
    double in_ratio = (double)w / (double)h;
    double amin = fmin(r->aspect[0], r->aspect[1]);
    double amax = fmax(r->aspect[0], r->aspect[1]);
    int64_t tw = w, th = h;
    if (in_ratio < amin)
        th = pyround((double)tw / amin);
    else if (in_ratio > amax)
        tw = pyround((double)th * amax);
    box[0] = (h - th) / 2;
    box[1] = (w - tw) / 2;
    box[2] = th;
    box[3] = tw;
}

/* img[y:y+h, x:x+w] (mmcv.imcrop of a box inside the image), contiguous. */
static int crop(mm_tensor *img, int64_t y, int64_t x, int64_t h, int64_t w,
                mm_tensor **out) {
    mm_tensor *a, *b;
    MM_TRY(mm_narrow(img, 0, y, h, &a));
    MM_TRY(mm_narrow(a, 1, x, w, &b));
    return mm_contiguous(b, out);
}

static int rrc_apply(mm_transform *t, mm_value *results) {
    rrc *r = (rrc *)t;
    mm_tensor *img, *c, *o;
    MM_TRY(get_img(results, &img));
    int64_t box[4];
    rrc_params(r, img->shape[0], img->shape[1], box);
    MM_TRY(crop(img, box[0], box[1], box[2], box[3], &c));
    MM_TRY(do_resize(&r->interp, c, r->out_w, r->out_h, &o));
    MM_TRY(set_take(results, "img", mm_tensor_to_value(o)));
    /* mmpretrain stores the whole img.shape here */
    return set_take(results, "img_shape", int_list(o->ndim, o->shape));
}

static const mm_transform_class rrc_class = {.name = "RandomResizedCrop",
                                             .apply = rrc_apply,
                                             .destroy = plain_destroy};

/* An int or an (h, w) pair, positive. */
static int read_hw(mm_build_ctx *ctx, const char *key, int64_t *h,
                   int64_t *w) {
    const mm_value *v = mm_build_arg(ctx, key);
    if (mm_value_is_int(v)) {
        *h = *w = mm_value_get_int(v);
    } else if (mm_value_is_list(v) && mm_value_len(v) == 2 &&
               mm_value_is_int(mm_value_list_get(v, 0)) &&
               mm_value_is_int(mm_value_list_get(v, 1))) {
        *h = mm_value_get_int(mm_value_list_get(v, 0));
        *w = mm_value_get_int(mm_value_list_get(v, 1));
    } else {
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected an int or [h, w]", key);
    }
    if (*h <= 0 || *w <= 0 || *h > (1 << 16) || *w > (1 << 16))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: sizes must be in 1..65536", key);
    return MM_OK;
}

/* The arguments after scale, shared with EfficientNetRandomCrop (mmpretrain
 * passes them to the base class). */
static int rrc_read(mm_build_ctx *ctx, rrc *r_) {
    rrc r = *r_;
    bool pair;
    MM_TRY(read_range(mm_build_arg(ctx, "crop_ratio_range"),
                      "crop_ratio_range", r.area, &pair));
    MM_TRY(read_range(mm_build_arg(ctx, "aspect_ratio_range"),
                      "aspect_ratio_range", r.aspect, &pair));
    if (r.area[0] > r.area[1] || r.aspect[0] > r.aspect[1])
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
            "range should be of kind (min, max). But received "
            "crop_ratio_range [%g, %g] and aspect_ratio_range [%g, %g].",
            r.area[0], r.area[1], r.aspect[0], r.aspect[1]);
    if (r.area[0] < 0 || r.aspect[0] <= 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "crop_ratio_range must be >= 0 and "
                               "aspect_ratio_range > 0");
    MM_TRY(mm_build_int(ctx, "max_attempts", &r.max_attempts));
    if (r.max_attempts < 0)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "max_attempts")),
            "max_attempts mush be int and no less than 0.");
    MM_TRY(read_interp(ctx, &r.interp));
    *r_ = r;
    return MM_OK;
}

static int rrc_build(mm_build_ctx *ctx, void **out) {
    rrc r = {.base.cls = &rrc_class};
    MM_TRY(read_hw(ctx, "scale", &r.out_h, &r.out_w));
    MM_TRY(rrc_read(ctx, &r));
    return make(&r, sizeof r, out);
}

static const mm_param rrc_params_schema[] = {
    {.name = "scale", .type = MM_PARAM_INT | MM_PARAM_LIST, .required = true,
     .doc = "output size: an int or [h, w]"},
    {.name = "crop_ratio_range", .type = MM_PARAM_LIST, .def = "[0.08, 1.0]",
     .doc = "range of the crop's area over the image's"},
    {.name = "aspect_ratio_range", .type = MM_PARAM_LIST,
     .def = "[0.75, 1.3333333333333333]",
     .doc = "range of the crop's width / height"},
    {.name = "max_attempts", .type = MM_PARAM_INT, .def = "10",
     .doc = "tries before the central fallback crop"},
    {.name = "interpolation", .type = MM_PARAM_STRING, .def = "bilinear",
     .doc = "cv2: nearest, bilinear, bicubic, area; pillow: bilinear, "
            "bicubic, box, hamming, lanczos"},
    {.name = "backend", .type = MM_PARAM_STRING, .def = "cv2",
     .doc = "cv2, or pillow (Pillow's resampling, u8 images)"},
};

/* ---- RandomCrop ---------------------------------------------------------- */

enum { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT, PAD_SYMMETRIC };

/* cv2's borderInterpolate: BORDER_REPLICATE (edge), BORDER_REFLECT_101
 * (reflect), BORDER_REFLECT (symmetric), also for pads wider than len. */
static int64_t border(int64_t p, int64_t len, int mode) {
    if (p >= 0 && p < len)
        return p;
    if (mode == PAD_EDGE)
        return p < 0 ? 0 : len - 1;
    if (len == 1)
        return 0;
    int64_t delta = mode == PAD_REFLECT;
    do {
        p = p < 0 ? -p - 1 + delta : len - 1 - (p - len) - delta;
    } while (p < 0 || p >= len);
    return p;
}

/* mmcv.impad(img, padding=(left, top, right, bottom)) with a value per
 * channel (constant) or a border mode. */
static int pad_image(mm_tensor *img, const int64_t *lrtb, int mode,
                     const double *val, mm_tensor **out) {
    int64_t h = img->shape[0], w = img->shape[1];
    int64_t c = img->ndim == 3 ? img->shape[2] : 1;
    int64_t nh = h + lrtb[1] + lrtb[3], nw = w + lrtb[0] + lrtb[2];
    mm_tensor *o;
    if (img->ndim == 2)
        MM_TRY(mm_empty(MM_SHAPE(nh, nw), img->dtype, &o));
    else
        MM_TRY(mm_empty(MM_SHAPE(nh, nw, c), img->dtype, &o));
    bool u8 = img->dtype == MM_U8;
    for (int64_t y = 0; y < nh; y++)
        for (int64_t x = 0; x < nw; x++) {
            int64_t sy = y - lrtb[1], sx = x - lrtb[0];
            bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
            if (!inside && mode != PAD_CONSTANT) {
                sy = border(sy, h, mode);
                sx = border(sx, w, mode);
                inside = true;
            }
            for (int64_t k = 0; k < c; k++) {
                size_t to = (size_t)((y * nw + x) * c + k);
                size_t from = (size_t)((sy * w + sx) * c + k);
                if (u8)
                    MM_DATA(o, uint8_t)[to] =
                        inside ? MM_DATA(img, uint8_t)[from]
                               : (uint8_t)(int64_t)val[k < 4 ? k : 3];
                else
                    MM_DATA(o, float)[to] =
                        inside ? MM_DATA(img, float)[from]
                               : (float)val[k < 4 ? k : 3];
            }
        }
    *out = o;
    return MM_OK;
}

typedef struct random_crop {
    mm_transform base;
    int64_t crop_h, crop_w;
    bool has_padding, pad_if_needed;
    int64_t padding[4]; /* left, top, right, bottom */
    double pad_val[4];  /* cv2's Scalar: a number fills the first channel */
    int mode;
} random_crop;

static int random_crop_apply(mm_transform *t, mm_value *results) {
    random_crop *r = (random_crop *)t;
    mm_tensor *img, *c;
    MM_TRY(get_img(results, &img));
    if (r->has_padding) /* mmcv.impad's default mode: constant */
        MM_TRY(pad_image(img, r->padding, PAD_CONSTANT, r->pad_val, &img));
    if (r->pad_if_needed) {
        int64_t hp = r->crop_h > img->shape[0]
                         ? (r->crop_h - img->shape[0] + 1) / 2
                         : 0;
        int64_t wp = r->crop_w > img->shape[1]
                         ? (r->crop_w - img->shape[1] + 1) / 2
                         : 0;
        int64_t lrtb[4] = {wp, hp, wp, hp};
        MM_TRY(pad_image(img, lrtb, r->mode, r->pad_val, &img));
    }
    int64_t h = img->shape[0], w = img->shape[1];
    int64_t th = r->crop_h, tw = r->crop_w, oy = 0, ox = 0;
    if (!(w == tw && h == th)) {
        th = th < h ? th : h;
        tw = tw < w ? tw : w;
        oy = randint(0, h - th + 1);
        ox = randint(0, w - tw + 1);
    }
    MM_TRY(crop(img, oy, ox, th, tw, &c));
    MM_TRY(set_take(results, "img", mm_tensor_to_value(c)));
    return set_take(results, "img_shape", int_list(c->ndim, c->shape));
}

static const mm_transform_class random_crop_class = {
    .name = "RandomCrop",
    .apply = random_crop_apply,
    .destroy = plain_destroy};

static int random_crop_build(mm_build_ctx *ctx, void **out) {
    random_crop r = {.base.cls = &random_crop_class};
    MM_TRY(read_hw(ctx, "crop_size", &r.crop_h, &r.crop_w));
    const mm_value *p = mm_build_arg(ctx, "padding");
    r.has_padding = !mm_value_is_null(p);
    size_t np = mm_value_is_list(p) ? mm_value_len(p) : 1;
    if (r.has_padding) {
        bool ok = mm_value_is_int(p) ||
                  (mm_value_is_list(p) && (np == 2 || np == 4));
        for (size_t i = 0; ok && mm_value_is_list(p) && i < np; i++)
            ok = mm_value_is_int(mm_value_list_get(p, i)) &&
                 mm_value_get_int(mm_value_list_get(p, i)) >= 0;
        if (!ok || (mm_value_is_int(p) && mm_value_get_int(p) < 0))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(p),
                                   "padding: expected an int or 2 or 4 "
                                   "non-negative ints, got a %s",
                                   mm_value_type_name(mm_value_type_of(p)));
        for (int i = 0; i < 4; i++) {
            const mm_value *v = mm_value_is_int(p) ? p
                                : np == 2 ? mm_value_list_get(p, (size_t)(i % 2))
                                          : mm_value_list_get(p, (size_t)i);
            r.padding[i] = mm_value_get_int(v);
            if (r.padding[i] > (1 << 16))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(p),
                                       "padding: at most 65536");
        }
    }
    MM_TRY(mm_build_bool(ctx, "pad_if_needed", &r.pad_if_needed));
    const mm_value *pv = mm_build_arg(ctx, "pad_val");
    if (mm_value_is_number(pv)) {
        r.pad_val[0] = mm_value_get_float(pv);
    } else if (mm_value_is_list(pv) && mm_value_len(pv) >= 1 &&
               mm_value_len(pv) <= 4) {
        for (size_t i = 0; i < mm_value_len(pv); i++) {
            if (!mm_value_is_number(mm_value_list_get(pv, i)))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(pv),
                                       "pad_val: expected numbers");
            r.pad_val[i] = mm_value_get_float(mm_value_list_get(pv, i));
        }
    } else {
        return mm_error_set_at(MM_EINVAL, mm_value_loc(pv),
                               "pad_val: expected a number or one per "
                               "channel");
    }
    static const char *const modes[] = {"constant", "edge", "reflect",
                                        "symmetric"};
    const char *m;
    MM_TRY(mm_build_string(ctx, "padding_mode", &m));
    r.mode = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(m, modes[i]))
            r.mode = i;
    if (r.mode < 0)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "padding_mode")),
            "padding_mode: must be one of 'constant', 'edge', 'reflect', "
            "'symmetric', got '%s'",
            m);
    return make(&r, sizeof r, out);
}

static const mm_param random_crop_params[] = {
    {.name = "crop_size", .type = MM_PARAM_INT | MM_PARAM_LIST,
     .required = true, .doc = "output size: an int or [h, w]"},
    {.name = "padding", .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "constant pad first: p, [left/right, top/bottom] or [l, t, r, b]"},
    {.name = "pad_if_needed", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "pad an image smaller than crop_size (with padding_mode)"},
    {.name = "pad_val", .type = MM_PARAM_FLOAT | MM_PARAM_LIST, .def = "0",
     .doc = "constant fill: cv2's Scalar (a number fills channel 0 only)"},
    {.name = "padding_mode", .type = MM_PARAM_STRING, .def = "constant",
     .doc = "constant, edge, reflect or symmetric (pad_if_needed)"},
};

/* ---- EfficientNetCenterCrop ---------------------------------------------- */

typedef struct effnet_center {
    mm_transform base;
    int64_t size, padding;
    resizer interp;
} effnet_center;

/* EfficientNet's centre crop of size / (size + padding) of the short edge
 * (also EfficientNetRandomCrop's fallback), as mmcv.imcrop cuts it. */
static int effnet_center_crop(mm_tensor *img, int64_t size, int64_t padding,
                              const char *who, mm_tensor **out) {
    int64_t h = img->shape[0], w = img->shape[1], s = h < w ? h : w;
    double cs = (double)size / (double)(size + padding) * (double)s;
    int64_t oy = pyround(((double)h - cs) / 2.0);
    int64_t ox = pyround(((double)w - cs) / 2.0);
    oy = oy > 0 ? oy : 0;
    ox = ox > 0 ? ox : 0;
    /* mmcv.imcrop: the float box truncated to int32, clipped */
    int64_t y2 = (int64_t)((double)oy + cs - 1), x2 = (int64_t)((double)ox + cs - 1);
    y2 = y2 < h - 1 ? y2 : h - 1;
    x2 = x2 < w - 1 ? x2 : w - 1;
    if (y2 < oy || x2 < ox)
        return mm_error_set(MM_EINVAL, "%s: a %lldx%lld image gives an empty "
                                       "crop",
                            who, (long long)w, (long long)h);
    return crop(img, oy, ox, y2 - oy + 1, x2 - ox + 1, out);
}

static int effnet_center_apply(mm_transform *t, mm_value *results) {
    effnet_center *e = (effnet_center *)t;
    mm_tensor *img, *c, *o;
    MM_TRY(get_img(results, &img));
    MM_TRY(effnet_center_crop(img, e->size, e->padding,
                              "EfficientNetCenterCrop", &c));
    MM_TRY(do_resize(&e->interp, c, e->size, e->size, &o));
    MM_TRY(set_take(results, "img", mm_tensor_to_value(o)));
    return set_take(results, "img_shape", int_list(o->ndim, o->shape));
}

static const mm_transform_class effnet_center_class = {
    .name = "EfficientNetCenterCrop",
    .apply = effnet_center_apply,
    .destroy = plain_destroy};

static int effnet_center_build(mm_build_ctx *ctx, void **out) {
    effnet_center e = {.base.cls = &effnet_center_class};
    MM_TRY(mm_build_int(ctx, "crop_size", &e.size));
    MM_TRY(mm_build_int(ctx, "crop_padding", &e.padding));
    if (e.size <= 0 || e.size > (1 << 16) || e.padding < 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "crop_size must be in 1..65536 and "
                               "crop_padding >= 0");
    MM_TRY(read_interp(ctx, &e.interp));
    return make(&e, sizeof e, out);
}

static const mm_param effnet_center_params[] = {
    {.name = "crop_size", .type = MM_PARAM_INT, .required = true,
     .doc = "output size (square)"},
    {.name = "crop_padding", .type = MM_PARAM_INT, .def = "32",
     .doc = "the crop is crop_size / (crop_size + crop_padding) of the "
            "short edge"},
    {.name = "interpolation", .type = MM_PARAM_STRING, .def = "bicubic",
     .doc = "cv2: nearest, bilinear, bicubic, area; pillow: bilinear, "
            "bicubic, box, hamming, lanczos"},
    {.name = "backend", .type = MM_PARAM_STRING, .def = "cv2",
     .doc = "cv2, or pillow (Pillow's resampling, u8 images)"},
};

/* ---- EfficientNetRandomCrop ------------------------------------------------ */

typedef struct effnet_rrc {
    rrc r; /* first: RandomResizedCrop's arguments, as mmpretrain's base */
    double min_covered;
    int64_t padding;
} effnet_rrc;

/* mmpretrain's EfficientNetRandomCrop.rand_crop_params (fast-autoaugment's
 * crop): the aspect is drawn uniformly (not log-uniformly), then the height
 * between the bounds of crop_ratio_range. *fallback is set when every attempt
 * failed: the centre crop is then cut by effnet_center_crop. */
static void effnet_rrc_params(const effnet_rrc *e, int64_t h, int64_t w,
                              int64_t *box, bool *fallback) {
    const rrc *r = &e->r;
    double area = (double)(h * w);
    double min_area = r->area[0] * area, max_area = r->area[1] * area;
    *fallback = false;
    for (int64_t i = 0; i < r->max_attempts; i++) {
        double aspect = uniform(r->aspect[0], r->aspect[1]);
        int64_t min_th = pyround(sqrt(min_area / aspect));
        int64_t max_th = pyround(sqrt(max_area / aspect));
        if ((double)max_th * aspect > (double)w) {
            max_th = (int64_t)(((double)w + 0.5 - 1e-7) / aspect);
            if ((double)max_th * aspect > (double)w)
                max_th -= 1;
        }
        max_th = max_th < h ? max_th : h;
        min_th = min_th < max_th ? min_th : max_th;
        int64_t th = pyround(uniform((double)min_th, (double)max_th));
        int64_t tw = pyround((double)th * aspect);
        double ta = (double)(th * tw);
        if (ta < min_area || ta > max_area || tw > w || th > h ||
            ta < e->min_covered * area)
            continue;
        box[0] = randint(0, h - th + 1);
        box[1] = randint(0, w - tw + 1);
        box[2] = th;
        box[3] = tw;
        return;
    }
    *fallback = true;
}

static int effnet_rrc_apply(mm_transform *t, mm_value *results) {
    effnet_rrc *e = (effnet_rrc *)t;
    mm_tensor *img, *c, *o;
    MM_TRY(get_img(results, &img));
    int64_t box[4];
    bool fallback;
    effnet_rrc_params(e, img->shape[0], img->shape[1], box, &fallback);
    if (fallback) {
        MM_TRY(effnet_center_crop(img, e->r.out_h, e->padding,
                                  "EfficientNetRandomCrop", &c));
    } else {
        /* an empty crop only when crop_ratio_range and min_covered allow a
         * zero area; mmpretrain fails there too */
        if (box[2] <= 0 || box[3] <= 0)
            return mm_error_set(MM_EINVAL, "EfficientNetRandomCrop: drew an "
                                           "empty crop (raise "
                                           "crop_ratio_range[0] or "
                                           "min_covered above 0)");
        MM_TRY(crop(img, box[0], box[1], box[2], box[3], &c));
    }
    MM_TRY(do_resize(&e->r.interp, c, e->r.out_w, e->r.out_h, &o));
    MM_TRY(set_take(results, "img", mm_tensor_to_value(o)));
    return set_take(results, "img_shape", int_list(o->ndim, o->shape));
}

static const mm_transform_class effnet_rrc_class = {
    .name = "EfficientNetRandomCrop",
    .apply = effnet_rrc_apply,
    .destroy = plain_destroy};

static int effnet_rrc_build(mm_build_ctx *ctx, void **out) {
    effnet_rrc e = {.r.base.cls = &effnet_rrc_class};
    /* scale is an int (the schema's type, mmpretrain's assert): square */
    MM_TRY(read_hw(ctx, "scale", &e.r.out_h, &e.r.out_w));
    MM_TRY(rrc_read(ctx, &e.r));
    MM_TRY(mm_build_float(ctx, "min_covered", &e.min_covered));
    MM_TRY(mm_build_int(ctx, "crop_padding", &e.padding));
    if (!(e.min_covered >= 0))
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "min_covered")),
            "min_covered should be no less than 0.");
    if (e.padding < 0)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "crop_padding")),
            "crop_padding should be no less than 0.");
    return make(&e, sizeof e, out);
}

static const mm_param effnet_rrc_params_schema[] = {
    {.name = "scale", .type = MM_PARAM_INT, .required = true,
     .doc = "output size (square)"},
    {.name = "min_covered", .type = MM_PARAM_FLOAT, .def = "0.1",
     .doc = "least area of the crop over the image's"},
    {.name = "crop_padding", .type = MM_PARAM_INT, .def = "32",
     .doc = "the fallback centre crop is scale / (scale + crop_padding) of "
            "the short edge"},
    {.name = "crop_ratio_range", .type = MM_PARAM_LIST, .def = "[0.08, 1.0]",
     .doc = "range of the crop's area over the image's"},
    {.name = "aspect_ratio_range", .type = MM_PARAM_LIST,
     .def = "[0.75, 1.3333333333333333]",
     .doc = "range of the crop's width / height (drawn uniformly)"},
    {.name = "max_attempts", .type = MM_PARAM_INT, .def = "10",
     .doc = "tries before the centre fallback crop"},
    {.name = "interpolation", .type = MM_PARAM_STRING, .def = "bicubic",
     .doc = "cv2: nearest, bilinear, bicubic, area; pillow: bilinear, "
            "bicubic, box, hamming, lanczos"},
    {.name = "backend", .type = MM_PARAM_STRING, .def = "cv2",
     .doc = "cv2, or pillow (Pillow's resampling, u8 images)"},
};

/* ---- ResizeEdge ----------------------------------------------------------- */

enum { EDGE_SHORT, EDGE_LONG, EDGE_WIDTH, EDGE_HEIGHT };

typedef struct resize_edge {
    mm_transform base;
    int64_t scale;
    int edge;
    resizer interp;
} resize_edge;

static int resize_edge_apply(mm_transform *t, mm_value *results) {
    resize_edge *r = (resize_edge *)t;
    mm_tensor *img, *o;
    MM_TRY(get_img(results, &img));
    int64_t h = img->shape[0], w = img->shape[1], nw, nh;
    if ((r->edge == EDGE_SHORT && w < h) || (r->edge == EDGE_LONG && w > h) ||
        r->edge == EDGE_WIDTH) {
        nw = r->scale;
        nh = (int64_t)((double)(r->scale * h) / (double)w);
    } else {
        nh = r->scale;
        nw = (int64_t)((double)(r->scale * w) / (double)h);
    }
    if (nw <= 0 || nh <= 0)
        return mm_error_set(MM_EINVAL, "a %lldx%lld image resized to %lldx%lld "
                                       "(w x h) has no pixels",
                            (long long)w, (long long)h, (long long)nw,
                            (long long)nh);
    MM_TRY(do_resize(&r->interp, img, nw, nh, &o));
    int64_t wh[2] = {nw, nh};
    double sf[2] = {(double)nw / (double)w, (double)nh / (double)h};
    mm_value *f = mm_value_new_list();
    for (int i = 0; f && i < 2; i++)
        if (mm_value_list_append_take(f, mm_value_new_float(sf[i]))) {
            mm_value_release(f);
            f = NULL;
        }
    MM_TRY(set_take(results, "img", mm_tensor_to_value(o)));
    MM_TRY(set_take(results, "img_shape", int_list(2, o->shape)));
    MM_TRY(set_take(results, "scale", int_list(2, wh)));
    return set_take(results, "scale_factor", f);
}

static const mm_transform_class resize_edge_class = {
    .name = "ResizeEdge",
    .apply = resize_edge_apply,
    .destroy = plain_destroy};

static int resize_edge_build(mm_build_ctx *ctx, void **out) {
    resize_edge r = {.base.cls = &resize_edge_class};
    static const char *const edges[] = {"short", "long", "width", "height"};
    const char *e;
    MM_TRY(mm_build_int(ctx, "scale", &r.scale));
    if (r.scale <= 0 || r.scale > (1 << 16))
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "scale")),
                               "scale: must be in 1..65536");
    MM_TRY(mm_build_string(ctx, "edge", &e));
    r.edge = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(e, edges[i]))
            r.edge = i;
    if (r.edge < 0)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "edge")),
            "Invalid edge \"%s\", please specify from ['short', 'long', "
            "'width', 'height'].",
            e);
    MM_TRY(read_interp(ctx, &r.interp));
    return make(&r, sizeof r, out);
}

static const mm_param resize_edge_params[] = {
    {.name = "scale", .type = MM_PARAM_INT, .required = true,
     .doc = "the length the chosen edge is resized to"},
    {.name = "edge", .type = MM_PARAM_STRING, .def = "short",
     .doc = "short, long, width or height"},
    {.name = "backend", .type = MM_PARAM_STRING, .def = "cv2",
     .doc = "cv2, or pillow (Pillow's resampling, u8 images)"},
    {.name = "interpolation", .type = MM_PARAM_STRING, .def = "bilinear",
     .doc = "cv2: nearest, bilinear, bicubic, area; pillow: bilinear, "
            "bicubic, box, hamming, lanczos"},
};

/* ---- RandomErasing -------------------------------------------------------- */

typedef struct erasing {
    mm_transform base;
    double prob, min_area, max_area, aspect[2];
    bool rand_mode, has_std;
    double fill[3], std[3];
} erasing;

static int erasing_apply(mm_transform *t, mm_value *results) {
    erasing *e = (erasing *)t;
    if (mm_data_rand_uniform() > e->prob) /* random_disable: np.random.rand() > erase_prob */
        return MM_OK;
    mm_tensor *img;
    MM_TRY(get_img_copy(results, &img));
    if (img->ndim != 3 || img->shape[2] != 3) {
        char s[96];
        return mm_error_set(MM_EINVAL, "RandomErasing fills 3 channels: img "
                                       "must be (H, W, 3), got %s",
                            mm_tensor_describe(img, s, sizeof s));
    }
    int64_t ih = img->shape[0], iw = img->shape[1];
    /* random_patch: the log of the aspect range in float32, as numpy */
    double lo = (double)logf((float)e->aspect[0]);
    double hi = (double)logf((float)e->aspect[1]);
    double aspect = exp(uniform(lo, hi));
    double area = (double)(ih * iw) * uniform(e->min_area, e->max_area);
    int64_t h = pyround(sqrt(area * aspect)), w = pyround(sqrt(area / aspect));
    h = h < ih ? h : ih;
    w = w < iw ? w : iw;
    int64_t top = ih > h ? randint(0, ih - h) : 0;
    int64_t left = iw > w ? randint(0, iw - w) : 0;
    bool u8 = img->dtype == MM_U8;
    uint8_t *pu = u8 ? MM_DATA(img, uint8_t) : NULL;
    float *pf = u8 ? NULL : MM_DATA(img, float);
    for (int64_t y = top; y < top + h; y++)
        for (int64_t x = left; x < left + w; x++)
            for (int c = 0; c < 3; c++) {
                uint8_t v;
                if (!e->rand_mode) /* np.array(fill_color, dtype=uint8) */
                    v = (uint8_t)(int64_t)e->fill[c];
                else if (!e->has_std) /* uniform(0, 256).astype(uint8) */
                    v = (uint8_t)uniform(0, 256);
                else { /* normal -> astype(int32) -> clip(0, 255) */
                    double z = trunc(normal(e->fill[c], e->std[c]));
                    v = (uint8_t)(z < 0 ? 0 : z > 255 ? 255 : z);
                }
                size_t at = (size_t)((y * iw + x) * 3 + c);
                if (u8)
                    pu[at] = v;
                else
                    pf[at] = v;
            }
    return set_take(results, "img", mm_tensor_to_value(img));
}

static const mm_transform_class erasing_class = {.name = "RandomErasing",
                                                 .apply = erasing_apply,
                                                 .destroy = plain_destroy};

/* A number (x3) or three numbers. */
static int read_color(const mm_value *v, const char *what, double *out) {
    if (mm_value_is_number(v)) {
        out[0] = out[1] = out[2] = mm_value_get_float(v);
        return MM_OK;
    }
    if (mm_value_is_list(v) && mm_value_len(v) == 3) {
        for (size_t i = 0; i < 3; i++) {
            if (!mm_value_is_number(mm_value_list_get(v, i)))
                goto bad;
            out[i] = mm_value_get_float(mm_value_list_get(v, i));
        }
        return MM_OK;
    }
bad:
    return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                           "%s should be a float or Sequence with three int.",
                           what);
}

static int erasing_build(mm_build_ctx *ctx, void **out) {
    erasing e = {.base.cls = &erasing_class};
    const char *mode;
    MM_TRY(mm_build_float(ctx, "erase_prob", &e.prob));
    MM_TRY(mm_build_float(ctx, "min_area_ratio", &e.min_area));
    MM_TRY(mm_build_float(ctx, "max_area_ratio", &e.max_area));
    const mm_srcloc *at = mm_value_loc(mm_build_node(ctx));
    if (!(e.prob >= 0 && e.prob <= 1))
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "erase_prob")),
                               "erase_prob: must be in [0, 1]");
    if (!(e.min_area >= 0 && e.min_area <= 1 && e.max_area >= 0 &&
          e.max_area <= 1))
        return mm_error_set_at(MM_EINVAL, at,
                               "min_area_ratio and max_area_ratio must be in "
                               "[0, 1]");
    if (e.min_area > e.max_area)
        return mm_error_set_at(MM_EINVAL, at,
                               "min_area_ratio should be smaller than "
                               "max_area_ratio");
    const mm_value *ar = mm_build_arg(ctx, "aspect_range");
    bool pair;
    MM_TRY(read_range(ar, "aspect_range", e.aspect, &pair));
    if (!(e.aspect[0] > 0 && e.aspect[1] > 0))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(ar),
                               "aspect_range should be positive.");
    if (!pair) { /* a float a: (min(a, 1/a), 1 / that) */
        double a = fmin(e.aspect[0], 1 / e.aspect[0]);
        e.aspect[0] = a;
        e.aspect[1] = 1 / a;
    }
    if (e.aspect[0] > e.aspect[1])
        return mm_error_set_at(MM_EINVAL, mm_value_loc(ar),
                               "In aspect_range (min, max), min should be "
                               "smaller than max.");
    MM_TRY(mm_build_string(ctx, "mode", &mode));
    if (strcmp(mode, "const") && strcmp(mode, "rand"))
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "mode")),
                               "Please select `mode` from [\"const\", "
                               "\"rand\"].");
    e.rand_mode = !strcmp(mode, "rand");
    MM_TRY(read_color(mm_build_arg(ctx, "fill_color"), "fill_color", e.fill));
    const mm_value *std = mm_build_arg(ctx, "fill_std");
    e.has_std = !mm_value_is_null(std);
    if (e.has_std)
        MM_TRY(read_color(std, "fill_std", e.std));
    return make(&e, sizeof e, out);
}

static const mm_param erasing_params[] = {
    {.name = "erase_prob", .type = MM_PARAM_FLOAT, .def = "0.5",
     .doc = "probability of erasing a patch"},
    {.name = "min_area_ratio", .type = MM_PARAM_FLOAT, .def = "0.02",
     .doc = "smallest patch area over the image's"},
    {.name = "max_area_ratio", .type = MM_PARAM_FLOAT, .def = "0.4",
     .doc = "largest patch area over the image's"},
    {.name = "aspect_range", .type = MM_PARAM_FLOAT | MM_PARAM_LIST,
     .def = "[0.3, 3.3333333333333335]",
     .doc = "patch aspect ratio range (a float a: [min(a, 1/a), max])"},
    {.name = "mode", .type = MM_PARAM_STRING, .def = "const",
     .doc = "const: fill_color; rand: uniform noise, or normal with fill_std"},
    {.name = "fill_color", .type = MM_PARAM_FLOAT | MM_PARAM_LIST,
     .def = "[128, 128, 128]", .doc = "fill value(s), or the normal's mean"},
    {.name = "fill_std", .type = MM_PARAM_FLOAT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "rand mode: per-channel std of the normal fill"},
};

/* ---- ColorJitter (Pillow's arithmetic) ------------------------------------ */

typedef struct jitter {
    mm_transform base;
    bool has[4]; /* brightness, contrast, saturation, hue */
    double range[4][2];
} jitter;

/* Pillow's "L": ITU-R 601-2 luma, 16-bit fixed point. */
static inline int luma(int r, int g, int b) {
    return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/* Image.blend(degenerate, img, alpha): float32, truncated; clipped when
 * extrapolating. d: the degenerate value per byte (NULL: the constant dc). */
static void blend(uint8_t *px, size_t n, const uint8_t *d, int dc,
                  double factor) {
    float alpha = (float)factor;
    bool inside = alpha >= 0 && alpha <= 1.0;
    for (size_t i = 0; i < n; i++) {
        int a = d ? d[i] : dc, b = px[i];
        float temp = (float)a + alpha * (float)(b - a);
        if (inside)
            px[i] = (uint8_t)temp;
        else
            px[i] = temp <= 0.0f ? 0 : temp >= 255.0f ? 255 : (uint8_t)temp;
    }
}

/* px: (n, 3) BGR. */
static void adjust_brightness(uint8_t *px, size_t n, double f) {
    blend(px, n * 3, NULL, 0, f);
}

static void adjust_contrast(uint8_t *px, size_t n, double f) {
    /* ImageStat's mean of "L", rounded as int(mean + 0.5) */
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (uint64_t)luma(px[3 * i + 2], px[3 * i + 1], px[3 * i]);
    int mean = n ? (int)((double)sum / (double)n + 0.5) : 0;
    blend(px, n * 3, NULL, mean, f);
}

static int adjust_color(uint8_t *px, size_t n, double f) {
    uint8_t *grey = malloc(n * 3 + 1);
    if (!grey)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int l = luma(px[3 * i + 2], px[3 * i + 1], px[3 * i]);
        grey[3 * i] = grey[3 * i + 1] = grey[3 * i + 2] = (uint8_t)l;
    }
    blend(px, n * 3, grey, 0, f);
    free(grey);
    return MM_OK;
}

static uint8_t clip8(int v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }

/* Pillow's rgb2hsv (Convert.c), bytes in and out. */
static void rgb2hsv(int r, int g, int b, uint8_t *hsv) {
    int maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    hsv[2] = (uint8_t)maxc;
    if (minc == maxc) {
        hsv[0] = hsv[1] = 0;
        return;
    }
    float cr = (float)(maxc - minc);
    float s = cr / (float)maxc;
    float rc = (float)(maxc - r) / cr, gc = (float)(maxc - g) / cr;
    float bc = (float)(maxc - b) / cr, h;
    if (r == maxc)
        h = bc - gc;
    else if (g == maxc)
        h = 2.0f + rc - bc;
    else
        h = 4.0f + gc - rc;
    h = (float)fmod(h / 6.0 + 1.0, 1.0);
    hsv[0] = clip8((int)(h * 255.0));
    hsv[1] = clip8((int)(s * 255.0));
}

/* Pillow's hsv2rgb. */
static void hsv2rgb(int h, int s, int v, uint8_t *rgb) {
    if (s == 0) {
        rgb[0] = rgb[1] = rgb[2] = (uint8_t)v;
        return;
    }
    int i = (int)floor((float)h * 6.0 / 255.0);
    float f = (float)((float)h * 6.0 / 255.0 - (float)i);
    float fs = (float)((float)s / 255.0);
    uint8_t p = clip8((int)round((float)v * (1.0 - fs)));
    uint8_t q = clip8((int)round((float)v * (1.0 - fs * f)));
    uint8_t t = clip8((int)round((float)v * (1.0 - fs * (1.0 - f))));
    uint8_t V = (uint8_t)v;
    switch (i % 6) {
    case 0: rgb[0] = V, rgb[1] = t, rgb[2] = p; break;
    case 1: rgb[0] = q, rgb[1] = V, rgb[2] = p; break;
    case 2: rgb[0] = p, rgb[1] = V, rgb[2] = t; break;
    case 3: rgb[0] = p, rgb[1] = q, rgb[2] = V; break;
    case 4: rgb[0] = t, rgb[1] = p, rgb[2] = V; break;
    default: rgb[0] = V, rgb[1] = p, rgb[2] = q; break;
    }
}

static void adjust_hue(uint8_t *px, size_t n, double f) {
    /* np.uint8(hue_factor * 255): numpy's cast goes through int */
    uint8_t shift = (uint8_t)(int)(f * 255);
    for (size_t i = 0; i < n; i++) {
        uint8_t hsv[3], rgb[3];
        rgb2hsv(px[3 * i + 2], px[3 * i + 1], px[3 * i], hsv);
        hsv2rgb((uint8_t)(hsv[0] + shift), hsv[1], hsv[2], rgb);
        px[3 * i] = rgb[2];
        px[3 * i + 1] = rgb[1];
        px[3 * i + 2] = rgb[0];
    }
}

static int jitter_apply(mm_transform *t, mm_value *results) {
    jitter *j = (jitter *)t;
    /* _rand_params: the order first, then each factor that is set */
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; i--) {
        int k = (int)randint(0, i + 1), tmp = order[i];
        order[i] = order[k];
        order[k] = tmp;
    }
    double f[4];
    for (int k = 0; k < 4; k++)
        if (j->has[k])
            f[k] = uniform(j->range[k][0], j->range[k][1]);
    mm_tensor *img;
    MM_TRY(get_img_copy(results, &img));
    if (img->dtype != MM_U8 || img->ndim != 3 || img->shape[2] != 3) {
        char s[96];
        return mm_error_set(MM_EINVAL, "ColorJitter (Pillow backend) needs "
                                       "a u8 (H, W, 3) image, got %s",
                            mm_tensor_describe(img, s, sizeof s));
    }
    uint8_t *px = MM_DATA(img, uint8_t);
    size_t n = (size_t)(img->shape[0] * img->shape[1]);
    for (int i = 0; i < 4; i++) {
        int k = order[i];
        if (!j->has[k])
            continue;
        if (k == 0)
            adjust_brightness(px, n, f[k]);
        else if (k == 1)
            adjust_contrast(px, n, f[k]);
        else if (k == 2)
            MM_TRY(adjust_color(px, n, f[k]));
        else
            adjust_hue(px, n, f[k]);
    }
    return set_take(results, "img", mm_tensor_to_value(img));
}

static const mm_transform_class jitter_class = {.name = "ColorJitter",
                                                .apply = jitter_apply,
                                                .destroy = plain_destroy};

/* mmpretrain's _set_range: a number v is (center - v, center + v); ranges
 * beyond the bound are clipped with a warning; (center, center) is off. */
static int jitter_range(mm_build_ctx *ctx, const char *name, double center,
                        double lo_bound, double hi_bound, jitter *j, int k) {
    const mm_value *v = mm_build_arg(ctx, name);
    double *r = j->range[k];
    bool pair;
    if (mm_value_is_list(v) && mm_value_len(v) != 2)
        return mm_error_set_at(MM_ETYPE, mm_value_loc(v),
                               "%s should be a single number or a list/tuple "
                               "with length 2.",
                               name);
    MM_TRY(read_range(v, name, r, &pair));
    if (!pair) {
        if (r[0] < 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                                   "If %s is a single number, it must be non "
                                   "negative.",
                                   name);
        double a = r[0];
        r[0] = center - a;
        r[1] = center + a;
    }
    if (!(lo_bound <= r[0] && r[0] <= r[1] && r[1] <= hi_bound)) {
        for (int i = 0; i < 2; i++)
            r[i] = r[i] < lo_bound ? lo_bound : r[i] > hi_bound ? hi_bound : r[i];
        MM_WARN("ColorJitter %s values exceed the bound (%g, %g), clipped to "
                "the bound.",
                name, lo_bound, hi_bound);
    }
    j->has[k] = !(r[0] == center && r[1] == center);
    return MM_OK;
}

static int jitter_build(mm_build_ctx *ctx, void **out) {
    jitter j = {.base.cls = &jitter_class};
    const char *backend;
    MM_TRY(jitter_range(ctx, "brightness", 1, 0, INFINITY, &j, 0));
    MM_TRY(jitter_range(ctx, "contrast", 1, 0, INFINITY, &j, 1));
    MM_TRY(jitter_range(ctx, "saturation", 1, 0, INFINITY, &j, 2));
    MM_TRY(jitter_range(ctx, "hue", 0, -0.5, 0.5, &j, 3));
    MM_TRY(mm_build_string(ctx, "backend", &backend));
    if (strcmp(backend, "pillow"))
        return mm_error_set_at(
            MM_EUNSUPPORTED, mm_value_loc(mm_build_arg(ctx, "backend")),
            "backend: '%s' is not supported; ColorJitter implements "
            "Pillow's arithmetic (backend: pillow, mmpretrain's default)",
            backend);
    return make(&j, sizeof j, out);
}

static const mm_param jitter_params[] = {
    {.name = "brightness", .type = MM_PARAM_FLOAT | MM_PARAM_LIST,
     .def = "0.0", .doc = "factor range [max(0, 1 - b), 1 + b], or [lo, hi]"},
    {.name = "contrast", .type = MM_PARAM_FLOAT | MM_PARAM_LIST, .def = "0.0",
     .doc = "factor range [max(0, 1 - c), 1 + c], or [lo, hi]"},
    {.name = "saturation", .type = MM_PARAM_FLOAT | MM_PARAM_LIST,
     .def = "0.0", .doc = "factor range [max(0, 1 - s), 1 + s], or [lo, hi]"},
    {.name = "hue", .type = MM_PARAM_FLOAT | MM_PARAM_LIST, .def = "0.0",
     .doc = "shift range [-h, h] within [-0.5, 0.5], or [lo, hi]"},
    {.name = "backend", .type = MM_PARAM_STRING, .def = "pillow",
     .doc = "pillow (the arithmetic implemented)"},
};

/* ---- Lighting ----------------------------------------------------------- */

#define LIGHTING_MAX 16

typedef struct lighting {
    mm_transform base;
    int n;
    double eigval[LIGHTING_MAX], eigvec[3][LIGHTING_MAX];
    double alphastd;
    bool to_rgb;
} lighting;

/* mmcv.adjust_lighting: img (float32, channels swapped when to_rgb) plus
 * the float64 offset sum_j eigvec[c][j] * alpha[j] * eigval[j], alpha ~
 * normal(0, alphastd); mmpretrain casts back with astype(img.dtype), which
 * for u8 truncates and wraps modulo 256 (numpy's C cast), not clips. */
static int lighting_apply(mm_transform *t, mm_value *results) {
    lighting *l = (lighting *)t;
    mm_tensor *img;
    MM_TRY(get_img_copy(results, &img));
    if (img->ndim != 3 || img->shape[2] != 3) {
        char s[96];
        return mm_error_set(MM_EINVAL, "Lighting shifts 3 channels: img "
                                       "must be (H, W, 3), got %s",
                            mm_tensor_describe(img, s, sizeof s));
    }
    double alpha[LIGHTING_MAX], alter[3];
    for (int j = 0; j < l->n; j++)
        alpha[j] = normal(0, l->alphastd);
    for (int c = 0; c < 3; c++) {
        alter[c] = 0;
        for (int j = 0; j < l->n; j++)
            alter[c] += l->eigvec[c][j] * alpha[j] * l->eigval[j];
    }
    size_t n = (size_t)(img->shape[0] * img->shape[1]);
    bool u8 = img->dtype == MM_U8;
    uint8_t *pu = u8 ? MM_DATA(img, uint8_t) : NULL;
    float *pf = u8 ? NULL : MM_DATA(img, float);
    for (size_t i = 0; i < n; i++) {
        double px[3];
        for (int c = 0; c < 3; c++)
            px[c] = u8 ? (double)pu[i * 3 + c] : (double)pf[i * 3 + c];
        for (int c = 0; c < 3; c++) {
            double v = (l->to_rgb ? px[2 - c] : px[c]) + alter[c];
            if (u8)
                pu[i * 3 + c] = (uint8_t)((int64_t)v & 0xff);
            else
                pf[i * 3 + c] = (float)v;
        }
    }
    return set_take(results, "img", mm_tensor_to_value(img));
}

static const mm_transform_class lighting_class = {.name = "Lighting",
                                                  .apply = lighting_apply,
                                                  .destroy = plain_destroy};

/* A list of numbers, at most LIGHTING_MAX; *n its length. */
static int read_numbers(const mm_value *v, const char *what, double *out,
                        int *n) {
    if (!mm_value_is_list(v) || mm_value_len(v) < 1 ||
        mm_value_len(v) > LIGHTING_MAX)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected a list of 1..%d numbers", what,
                               LIGHTING_MAX);
    for (size_t i = 0; i < mm_value_len(v); i++) {
        const mm_value *x = mm_value_list_get(v, i);
        if (!mm_value_is_number(x))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(x),
                                   "%s[%zu]: expected a number", what, i);
        out[i] = mm_value_get_float(x);
    }
    *n = (int)mm_value_len(v);
    return MM_OK;
}

static int lighting_build(mm_build_ctx *ctx, void **out) {
    lighting l = {.base.cls = &lighting_class};
    MM_TRY(read_numbers(mm_build_arg(ctx, "eigval"), "eigval", l.eigval,
                        &l.n));
    const mm_value *vec = mm_build_arg(ctx, "eigvec");
    /* mmcv.adjust_lighting: eigvec.shape == (3, len(eigval)) */
    if (!mm_value_is_list(vec) || mm_value_len(vec) != 3)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(vec),
                               "eigvec: expected 3 rows (one per channel) "
                               "of %d numbers each",
                               l.n);
    for (int c = 0; c < 3; c++) {
        const mm_value *row = mm_value_list_get(vec, (size_t)c);
        char what[16];
        int m;
        snprintf(what, sizeof what, "eigvec[%d]", c);
        MM_TRY(read_numbers(row, what, l.eigvec[c], &m));
        if (m != l.n)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(row),
                                   "%s: has %d numbers but eigval has %d "
                                   "(eigvec must be 3 x len(eigval))",
                                   what, m, l.n);
    }
    MM_TRY(mm_build_float(ctx, "alphastd", &l.alphastd));
    if (!(l.alphastd >= 0) || !isfinite(l.alphastd))
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "alphastd")),
                               "alphastd: must be a finite number >= 0");
    MM_TRY(mm_build_bool(ctx, "to_rgb", &l.to_rgb));
    return make(&l, sizeof l, out);
}

static const mm_param lighting_params[] = {
    {.name = "eigval", .type = MM_PARAM_LIST, .required = true,
     .doc = "eigenvalues of the pixels' covariance (n numbers)"},
    {.name = "eigvec", .type = MM_PARAM_LIST, .required = true,
     .doc = "eigenvectors of the pixels' covariance: 3 rows of n numbers"},
    {.name = "alphastd", .type = MM_PARAM_FLOAT, .def = "0.1",
     .doc = "standard deviation of the normal weights alpha"},
    {.name = "to_rgb", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "swap BGR to RGB before the shift (the output stays swapped)"},
};

/* ---- registration ----------------------------------------------------------- */

#define TRANSFORM(Name, Doc, params_, build_)                                  \
    {.kind = MM_TRANSFORMS, .name = Name, .doc = Doc, .params = params_,      \
     .n_params = sizeof params_ / sizeof params_[0], .build = build_,         \
     .destroy = transform_destroy}

static const mm_component transform_components[] = {
    TRANSFORM("RandomResizedCrop",
              "a random crop of random area and aspect, resized to scale",
              rrc_params_schema, rrc_build),
    TRANSFORM("RandomCrop", "a random crop, after optional padding",
              random_crop_params, random_crop_build),
    TRANSFORM("EfficientNetCenterCrop",
              "EfficientNet's padded centre crop, resized to crop_size",
              effnet_center_params, effnet_center_build),
    TRANSFORM("ResizeEdge", "resize so that one edge has the given length",
              resize_edge_params, resize_edge_build),
    TRANSFORM("RandomErasing", "erase a random patch (Zhong et al. 2017)",
              erasing_params, erasing_build),
    TRANSFORM("ColorJitter",
              "random brightness, contrast, saturation and hue, in random "
              "order", jitter_params, jitter_build),
    TRANSFORM("EfficientNetRandomCrop",
              "EfficientNet's random crop of bounded area, resized to scale",
              effnet_rrc_params_schema, effnet_rrc_build),
    TRANSFORM("Lighting", "AlexNet-style PCA lighting noise",
              lighting_params, lighting_build),
};

int mmcls_register_image_transforms(void) {
    for (size_t i = 0;
         i < sizeof transform_components / sizeof transform_components[0];
         i++)
        MM_TRY(mm_register(&transform_components[i]));
    return MM_OK;
}
