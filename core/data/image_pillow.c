/* Pillow's resampling (libImaging/Resample.c, Pillow 9.x), which mmcv's
 * imresize uses with backend='pillow': for each output pixel a filter
 * (box, bilinear, hamming, bicubic with a = -0.5, lanczos-3) stretched by
 * the downscaling factor, weights normalised and rounded to 22-bit fixed
 * point, a horizontal pass over the rows the vertical pass needs, then the
 * vertical pass, each rounding to u8. Bit-exact with Pillow on the
 * recorded cases (tests/image/test_cls_transforms.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm/image.h"

int mm_image_pil_filter_parse(const char *name, mm_image_pil_filter *out) {
    static const char *const names[] = {"box", "bilinear", "hamming",
                                        "bicubic", "lanczos"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i])) {
            *out = (mm_image_pil_filter)i;
            return MM_OK;
        }
    return mm_error_set(!strcmp(name, "nearest") ? MM_EUNSUPPORTED : MM_EINVAL,
                        "'%s' with backend pillow: bilinear, bicubic, box, "
                        "hamming or lanczos (Pillow's nearest is not "
                        "implemented)",
                        name);
}

static double sinc(double x) {
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double pil_filter(int f, double x) {
    switch (f) {
    case MM_PIL_BOX:
        return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
    case MM_PIL_BILINEAR:
        x = fabs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    case MM_PIL_HAMMING:
        x = fabs(x);
        if (x == 0.0)
            return 1.0;
        if (x >= 1.0)
            return 0.0;
        x = x * M_PI;
        return sin(x) / x * (0.54 + 0.46 * cos(x));
    case MM_PIL_BICUBIC: { /* a = -0.5 */
        const double a = -0.5;
        x = fabs(x);
        if (x < 1.0)
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0)
            return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }
    default:
        return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
    }
}

/* The filters' supports, by mm_image_pil_filter. */
static const double pil_support[] = {0.5, 1.0, 1.0, 2.0, 3.0};

#define PIL_PRECISION_BITS (32 - 8 - 2)

/* precompute_coeffs + normalize_coeffs_8bpc: for each output index its
 * first input index, count and fixed-point weights (ksize per row). */
static int pil_coeffs(int64_t in_size, int64_t out_size, int f,
                      int64_t *ksize_out, int64_t **bounds_out,
                      int32_t **kk_out) {
    double scale = (double)in_size / (double)out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = pil_support[f] * filterscale;
    int64_t ksize = (int64_t)ceil(support) * 2 + 1;
    double *pre = calloc((size_t)(out_size * ksize), sizeof *pre);
    int64_t *bounds = malloc((size_t)out_size * 2 * sizeof *bounds);
    int32_t *kk = malloc((size_t)(out_size * ksize) * sizeof *kk);
    if (!pre || !bounds || !kk) {
        free(pre);
        free(bounds);
        free(kk);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    for (int64_t xx = 0; xx < out_size; xx++) {
        double center = ((double)xx + 0.5) * scale, ww = 0.0;
        double ss = 1.0 / filterscale;
        int64_t xmin = (int64_t)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int64_t xmax = (int64_t)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double *k = pre + xx * ksize;
        for (int64_t x = 0; x < xmax; x++) {
            double w = pil_filter(f, ((double)(x + xmin) - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int64_t x = 0; x < xmax; x++)
            if (ww != 0.0)
                k[x] /= ww;
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (int64_t i = 0; i < out_size * ksize; i++)
        kk[i] = pre[i] < 0 ? (int32_t)(-0.5 + pre[i] * (1 << PIL_PRECISION_BITS))
                           : (int32_t)(0.5 + pre[i] * (1 << PIL_PRECISION_BITS));
    free(pre);
    *ksize_out = ksize;
    *bounds_out = bounds;
    *kk_out = kk;
    return MM_OK;
}

static uint8_t pil_clip8(int64_t v) {
    if (v >= ((int64_t)1 << PIL_PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PIL_PRECISION_BITS);
}

/* Image.resize((w, h), filter) of a u8 (H, W[, C]) image: a horizontal
 * pass over the rows the vertical pass needs, then a vertical pass, each
 * rounding to u8, as ImagingResampleInner. */
int mm_image_resize_pillow(mm_tensor *img, int64_t w, int64_t h,
                           mm_image_pil_filter f, mm_tensor **out) {
    if (img->dtype != MM_U8 || (img->ndim == 3 && img->shape[2] != 3 &&
                                img->shape[2] != 1)) {
        char s[96];
        return mm_error_set(MM_EINVAL, "the pillow backend resizes u8 grey "
                                       "or 3-channel images (mmcv: 'Pillow "
                                       "backend only support uint8 type'), "
                                       "got %s",
                            mm_tensor_describe(img, s, sizeof s));
    }
    int64_t ih = img->shape[0], iw = img->shape[1];
    int64_t c = img->ndim == 3 ? img->shape[2] : 1;
    bool need_h = w != iw, need_v = h != ih;
    int64_t ksh, ksv, *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int rc = pil_coeffs(iw, w, f, &ksh, &bh, &kh);
    if (!rc)
        rc = pil_coeffs(ih, h, f, &ksv, &bv, &kv);
    const uint8_t *src = MM_DATA(img, uint8_t);
    uint8_t *tmp = NULL;
    int64_t y0 = 0, rows = ih, cw = iw;
    if (!rc && need_h) {
        y0 = bv[0];
        int64_t ylast = bv[h * 2 - 2] + bv[h * 2 - 1];
        rows = ylast - y0;
        tmp = malloc((size_t)(rows * w * c) + 1);
        if (!tmp)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        for (int64_t y = 0; !rc && y < rows; y++)
            for (int64_t xx = 0; xx < w; xx++) {
                int64_t xmin = bh[xx * 2], xmax = bh[xx * 2 + 1];
                const int32_t *k = kh + xx * ksh;
                for (int64_t ch = 0; ch < c; ch++) {
                    int64_t ss = 1 << (PIL_PRECISION_BITS - 1);
                    for (int64_t x = 0; x < xmax; x++)
                        ss += (int64_t)src[((y + y0) * iw + x + xmin) * c + ch] *
                              k[x];
                    tmp[(y * w + xx) * c + ch] = pil_clip8(ss);
                }
            }
        src = tmp;
        cw = w;
    }
    mm_tensor *o = NULL;
    if (!rc)
        rc = img->ndim == 3 ? mm_empty(MM_SHAPE(h, w, c), MM_U8, &o)
                            : mm_empty(MM_SHAPE(h, w), MM_U8, &o);
    if (!rc) {
        uint8_t *dst = MM_DATA(o, uint8_t);
        if (need_v) {
            for (int64_t yy = 0; yy < h; yy++) {
                int64_t ymin = bv[yy * 2] - y0, ymax = bv[yy * 2 + 1];
                const int32_t *k = kv + yy * ksv;
                for (int64_t x = 0; x < w * c; x++) {
                    int64_t ss = 1 << (PIL_PRECISION_BITS - 1);
                    for (int64_t y = 0; y < ymax; y++)
                        ss += (int64_t)src[(y + ymin) * cw * c + x] * k[y];
                    dst[yy * w * c + x] = pil_clip8(ss);
                }
            }
        } else {
            memcpy(dst, src + y0 * cw * c, (size_t)(h * w * c));
        }
    }
    free(tmp);
    free(bh);
    free(bv);
    free(kh);
    free(kv);
    if (rc)
        return rc;
    *out = o;
    return MM_OK;
}

