/* mmcv's image functions the augmentation transforms are made of, on u8
 * (H, W) or (H, W, C) images, with mmcv 2.x / OpenCV 4.10's arithmetic:
 *
 *   warpAffine      cv2.warpAffine (imshear, imtranslate, imrotate):
 *                   the inverse map in 10-bit fixed point, 5-bit
 *                   sub-pixel tables, 15-bit interpolation weights;
 *   equalize, auto_contrast, posterize, solarize, invert: numpy integer
 *                   (and float64 lut) code of mmcv.image.photometric;
 *   adjust_brightness / contrast / sharpness: cv2.addWeighted on float32
 *                   images (double arithmetic, one fused multiply-add),
 *                   then clip and truncate as numpy's astype(uint8);
 *   adjust_color:   cv2.addWeighted on u8 images (float fma, rounded).
 *
 * Every result is bit-identical to mmcv's on the recorded images
 * (tests/image/test_autoaug.c); docs/transforms.md says where it leans on
 * OpenCV's rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm/image.h"

/* ---- helpers ------------------------------------------------------------ */

static int check_u8(const char *what, const mm_tensor *img) {
    char s[96];
    if (!img || img->dtype != MM_U8 || (img->ndim != 2 && img->ndim != 3) ||
        img->device.type != MM_DEVICE_CPU || img->shape[0] <= 0 ||
        img->shape[1] <= 0 || (img->ndim == 3 && img->shape[2] <= 0))
        return mm_error_set(MM_EINVAL,
                            "%s: expected a u8 (H, W) or (H, W, C) image, "
                            "got %s",
                            what,
                            img ? mm_tensor_describe(img, s, sizeof s)
                                : "NULL");
    return MM_OK;
}

static int64_t channels(const mm_tensor *t) {
    return t->ndim == 3 ? t->shape[2] : 1;
}

/* A contiguous copy of img's data source and a new output of its shape,
 * both in the caller's pool. */
static int prepare(mm_tensor *img, mm_tensor **src, mm_tensor **dst) {
    MM_TRY(mm_contiguous(img, src));
    return mm_empty_like(*src, dst);
}

/* OpenCV's cvRound: nearest, halves to even (the default rounding mode),
 * saturated to int. */
static int cv_round(double v) {
    if (!(v > -2147483648.0))
        return INT32_MIN;
    if (v >= 2147483647.0)
        return INT32_MAX;
    return (int)lrint(v);
}

static uint8_t sat_u8(int64_t v) {
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int16_t sat_s16(int64_t v) {
    return (int16_t)(v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v);
}

/* numpy's float -> uint8 cast after np.clip(x, 0, 255): truncation. */
static uint8_t clip_trunc_u8(double v) {
    return (uint8_t)(!(v > 0) ? 0 : v > 255 ? 255 : v); /* NaN: 0 */
}

/* ---- cv2.warpAffine ---------------------------------------------------- */

enum { INTER_BITS = 5, TAB = 1 << INTER_BITS, AB_BITS = 10,
       COEF_BITS = 15, COEF_ONE = 1 << COEF_BITS };

/* OpenCV's interpolation tables: TAB x TAB sub-pixel positions, each with
 * k x k weights that sum to COEF_ONE (initInterTab2D, including where it
 * puts the rounding correction). */
static void inter_tab(int k, int16_t *itab) {
    float t1[TAB][4];
    for (int i = 0; i < TAB; i++) {
        float x = (float)i * (1.f / TAB);
        if (k == 2) {
            t1[i][0] = 1.f - x;
            t1[i][1] = x;
        } else {
            const float A = -0.75f;
            t1[i][0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) -
                       4 * A;
            t1[i][1] = ((A + 2) * x - (A + 3)) * x * x + 1;
            t1[i][2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
            t1[i][3] = 1.f - t1[i][0] - t1[i][1] - t1[i][2];
        }
    }
    for (int i = 0; i < TAB; i++)
        for (int j = 0; j < TAB; j++, itab += k * k) {
            int isum = 0;
            for (int k1 = 0; k1 < k; k1++)
                for (int k2 = 0; k2 < k; k2++) {
                    float v = t1[i][k1] * t1[j][k2];
                    int16_t w = sat_s16(lrintf(v * COEF_ONE));
                    itab[k1 * k + k2] = w;
                    isum += w;
                }
            /* 1.0 saturates to 32767 at whole-pixel positions; the
             * correction then lands on (1, 1) for bilinear (an index
             * range meant for larger kernels), on (2, 2) for bicubic */
            if (isum == COEF_ONE)
                continue;
            int diff = isum - COEF_ONE, h = k / 2;
            int Mk1 = h, Mk2 = h, mk1 = h, mk2 = h;
            for (int k1 = h; k1 < h + 2; k1++)
                for (int k2 = h; k2 < h + 2; k2++) {
                    if (itab[k1 * k + k2] < itab[mk1 * k + mk2])
                        mk1 = k1, mk2 = k2;
                    else if (itab[k1 * k + k2] > itab[Mk1 * k + Mk2])
                        Mk1 = k1, Mk2 = k2;
                }
            if (diff < 0)
                itab[Mk1 * k + Mk2] = (int16_t)(itab[Mk1 * k + Mk2] - diff);
            else
                itab[mk1 * k + mk2] = (int16_t)(itab[mk1 * k + mk2] - diff);
        }
}

/* The k x k taps at p, all inside the image: OpenCV's
 * FixedPtCast<int, uchar, 15> of the weighted sum (|sum| < 2^31). */
static inline __attribute__((always_inline)) void
interp_inside(const uint8_t *p, int64_t sstep, int64_t cn,
                                 int k, const int16_t *wt, uint8_t *d) {
    for (int64_t c = 0; c < cn; c++) {
        int32_t sum = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                sum += p[i * sstep + j * cn + c] * wt[i * k + j];
        d[c] = sat_u8((sum + (COEF_ONE >> 1)) >> COEF_BITS);
    }
}

void mm_image_rotation_matrix(double cx, double cy, double angle,
                              double scale, double m[6]) {
    /* cv2.getRotationMatrix2D takes the centre as a Point2f */
    double x = (double)(float)cx, y = (double)(float)cy;
    angle *= 3.1415926535897932384626433832795 / 180;
    double a = cos(angle) * scale, b = sin(angle) * scale;
    m[0] = a;
    m[1] = b;
    m[2] = (1 - a) * x - b * y;
    m[3] = -b;
    m[4] = a;
    m[5] = b * x + (1 - a) * y;
}

int mm_image_warp_affine(mm_tensor *img, const double m[6], int64_t w,
                         int64_t h, mm_image_interp interp,
                         const double border[4], mm_tensor **out) {
    *out = NULL;
    MM_TRY(check_u8("warp_affine", img));
    if (w <= 0 || h <= 0 || w > 32767 || h > 32767)
        return mm_error_set(MM_EINVAL,
                            "warp_affine: output size %lldx%lld is not in "
                            "1..32767",
                            (long long)w, (long long)h);
    if (interp == MM_IMAGE_AREA) /* cv2.warpAffine does the same */
        interp = MM_IMAGE_BILINEAR;
    int64_t sh = img->shape[0], sw = img->shape[1], cn = channels(img);
    if (sh > 32767 || sw > 32767)
        return mm_error_set(MM_EINVAL,
                            "warp_affine: images larger than 32767 pixels a "
                            "side are not supported");
    /* the inverse map, as cv2 computes it */
    double D = m[0] * m[4] - m[1] * m[3];
    D = D != 0 ? 1. / D : 0;
    double M[6];
    M[0] = m[4] * D;
    M[1] = m[1] * (-D);
    M[3] = m[3] * (-D);
    M[4] = m[0] * D;
    M[2] = -M[0] * m[2] - M[1] * m[5];
    M[5] = -M[3] * m[2] - M[4] * m[5];

    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *src, *dst = NULL;
    int rc = mm_contiguous(img, &src);
    if (!rc)
        rc = img->ndim == 2 ? mm_empty(MM_SHAPE(h, w), MM_U8, &dst)
                            : mm_empty(MM_SHAPE(h, w, cn), MM_U8, &dst);
    int k = interp == MM_IMAGE_NEAREST ? 0 : interp == MM_IMAGE_BICUBIC ? 4 : 2;
    int *delta = rc ? NULL : malloc(sizeof(int) * 2 * (size_t)w);
    /* zeroed, with one spare entry: OpenCV's correction of the bilinear
     * table looks into the next (not yet filled) entry */
    int16_t *itab = rc || !k ? NULL
                             : calloc((size_t)(TAB * TAB + 1) * k * k,
                                      sizeof(int16_t));
    uint8_t *cval = rc ? NULL : malloc((size_t)cn);
    if (!rc && (!delta || (k && !itab) || !cval))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (rc) {
        free(delta);
        free(itab);
        free(cval);
        mm_pool_close(pool);
        return rc;
    }
    if (k)
        inter_tab(k, itab);
    for (int64_t c = 0; c < cn; c++)
        cval[c] = sat_u8(cv_round(border[c & 3]));
    for (int64_t x = 0; x < w; x++) {
        delta[2 * x] = cv_round(M[0] * (double)x * (1 << AB_BITS));
        delta[2 * x + 1] = cv_round(M[3] * (double)x * (1 << AB_BITS));
    }
    const uint8_t *S = mm_tensor_data(src);
    uint8_t *d = mm_tensor_data(dst);
    int64_t sstep = sw * cn;
    int round_delta = k ? (1 << AB_BITS) / TAB / 2 : (1 << AB_BITS) / 2;
    for (int64_t y = 0; y < h; y++) {
        int64_t X0 = (int64_t)cv_round((M[1] * (double)y + M[2]) *
                                        (1 << AB_BITS)) +
                     round_delta;
        int64_t Y0 = (int64_t)cv_round((M[4] * (double)y + M[5]) *
                                        (1 << AB_BITS)) +
                     round_delta;
        for (int64_t x = 0; x < w; x++, d += cn) {
            int64_t X = X0 + delta[2 * x], Y = Y0 + delta[2 * x + 1];
            if (!k) {
                int64_t sx = sat_s16(X >> AB_BITS), sy = sat_s16(Y >> AB_BITS);
                const uint8_t *p = sx >= 0 && sx < sw && sy >= 0 && sy < sh
                                       ? S + sy * sstep + sx * cn
                                       : cval;
                memcpy(d, p, (size_t)cn);
                continue;
            }
            X >>= AB_BITS - INTER_BITS;
            Y >>= AB_BITS - INTER_BITS;
            int64_t sx = sat_s16(X >> INTER_BITS);
            int64_t sy = sat_s16(Y >> INTER_BITS);
            const int16_t *wt =
                itab + ((Y & (TAB - 1)) * TAB + (X & (TAB - 1))) * k * k;
            /* cubic taps start one pixel up and left */
            int64_t ox = sx - (k == 4), oy = sy - (k == 4);
            if (ox >= sw || ox + k <= 0 || oy >= sh || oy + k <= 0) {
                memcpy(d, cval, (size_t)cn);
                continue;
            }
            if (ox >= 0 && oy >= 0 && ox + k <= sw && oy + k <= sh) {
                const uint8_t *p = S + oy * sstep + ox * cn;
                /* constant arguments let the compiler unroll the taps */
                if (cn == 3)
                    k == 2 ? interp_inside(p, sstep, 3, 2, wt, d)
                           : interp_inside(p, sstep, 3, 4, wt, d);
                else
                    k == 2 ? interp_inside(p, sstep, cn, 2, wt, d)
                           : interp_inside(p, sstep, cn, 4, wt, d);
                continue;
            }
            for (int64_t c = 0; c < cn; c++) {
                int64_t sum = 0;
                for (int i = 0; i < k; i++) {
                    int64_t yy = oy + i;
                    for (int j = 0; j < k; j++) {
                        int64_t xx = ox + j;
                        int v = yy >= 0 && yy < sh && xx >= 0 && xx < sw
                                    ? S[yy * sstep + xx * cn + c]
                                    : cval[c];
                        sum += (int64_t)v * wt[i * k + j];
                    }
                }
                d[c] = sat_u8((sum + (COEF_ONE >> 1)) >> COEF_BITS);
            }
        }
    }
    free(delta);
    free(itab);
    free(cval);
    return mm_pool_close_keep(pool, dst, out);
}

/* ---- per-pixel and histogram functions --------------------------------- */

/* A new image from a 256-entry table per channel. */
static int apply_luts(mm_tensor *img, const uint8_t (*lut)[256],
                      mm_tensor **out) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *src, *dst;
    int rc = prepare(img, &src, &dst);
    if (rc) {
        mm_pool_close(pool);
        return rc;
    }
    int64_t cn = channels(src), n = src->numel / cn;
    const uint8_t *s = mm_tensor_data(src);
    uint8_t *d = mm_tensor_data(dst);
    for (int64_t i = 0; i < n; i++, s += cn, d += cn)
        for (int64_t c = 0; c < cn; c++)
            d[c] = lut[c][s[c]];
    return mm_pool_close_keep(pool, dst, out);
}

/* A table per channel, made by `make` from that channel's histogram. */
static int with_luts(mm_tensor *img, const char *what,
                     void (*make)(const int64_t *hist, void *arg,
                                  uint8_t *lut),
                     void *arg, mm_tensor **out) {
    *out = NULL;
    MM_TRY(check_u8(what, img));
    int64_t cn = channels(img);
    uint8_t(*lut)[256] = malloc(sizeof *lut * (size_t)cn);
    int64_t(*hist)[256] = calloc((size_t)cn, sizeof *hist);
    if (!lut || !hist) {
        free(lut);
        free(hist);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    mm_pool *pool = NULL;
    int rc = mm_pool_open(&pool);
    mm_tensor *src = NULL, *res = NULL;
    if (!rc)
        rc = mm_contiguous(img, &src);
    if (!rc) {
        const uint8_t *s = mm_tensor_data(src);
        for (int64_t i = 0; i < src->numel; i += cn)
            for (int64_t c = 0; c < cn; c++)
                hist[c][s[i + c]]++;
        for (int64_t c = 0; c < cn; c++)
            make(hist[c], arg, lut[c]);
        rc = apply_luts(src, (const uint8_t(*)[256])lut, &res);
    }
    free(lut);
    free(hist);
    if (!pool)
        return rc;
    if (rc) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, res, out);
}

/* mmcv.imequalize's _scale_channel: PIL's ImageOps.equalize. */
static void equalize_lut(const int64_t *hist, void *arg, uint8_t *lut) {
    (void)arg;
    int64_t total = 0, last = 0;
    for (int v = 0; v < 256; v++) {
        total += hist[v];
        if (hist[v])
            last = hist[v];
    }
    int64_t step = (total - last) / 255;
    if (!step) {
        for (int v = 0; v < 256; v++)
            lut[v] = (uint8_t)v;
        return;
    }
    int64_t cum = 0;
    lut[0] = 0;
    for (int v = 0; v < 255; v++) {
        cum += hist[v];
        int64_t e = (cum + step / 2) / step;
        lut[v + 1] = (uint8_t)(e > 255 ? 255 : e);
    }
}

int mm_image_equalize(mm_tensor *img, mm_tensor **out) {
    return with_luts(img, "equalize", equalize_lut, NULL, out);
}

/* mmcv.auto_contrast's _auto_contrast_channel. */
static void auto_contrast_lut(const int64_t *hist, void *arg, uint8_t *lut) {
    const double *cut = arg;
    double cum[256], total = 0;
    for (int v = 0; v < 256; v++)
        cum[v] = total += (double)hist[v];
    /* numpy: histo_sum[-1] * cutoff // 100 (a float floor division) */
    double lo = floor(total * cut[0] / 100);
    double hi = total - floor(total * cut[1] / 100);
    int low = -1, high = -1;
    double prev = 0;
    for (int v = 0; v < 256; v++) {
        double c = fmin(fmax(cum[v], lo), hi) - lo;
        if (c - (v ? prev : 0) != 0) {
            if (low < 0)
                low = v;
            high = v;
        }
        prev = c;
    }
    if (low < 0 || low >= high) { /* everything cut: unchanged */
        for (int v = 0; v < 256; v++)
            lut[v] = (uint8_t)v;
        return;
    }
    double scale = 255.0 / (double)(high - low);
    double offset = -(double)low * scale;
    for (int v = 0; v < 256; v++)
        lut[v] = clip_trunc_u8((double)v * scale + offset);
}

int mm_image_auto_contrast(mm_tensor *img, double cutoff_low,
                           double cutoff_high, mm_tensor **out) {
    double cut[2] = {cutoff_low, cutoff_high};
    return with_luts(img, "auto_contrast", auto_contrast_lut, cut, out);
}

typedef struct point_arg {
    int kind; /* 0 invert, 1 solarize, 2 posterize */
    double thr;
    int bits;
} point_arg;

static void point_lut(const int64_t *hist, void *arg, uint8_t *lut) {
    (void)hist;
    const point_arg *p = arg;
    int shift = 8 - p->bits; /* numpy shifts a uint8 by 8 to 0 */
    for (int v = 0; v < 256; v++)
        lut[v] = p->kind == 0   ? (uint8_t)(255 - v)
                 : p->kind == 1 ? (uint8_t)((double)v < p->thr ? v : 255 - v)
                 : shift >= 8   ? 0
                                : (uint8_t)((v >> shift) << shift);
}

int mm_image_invert(mm_tensor *img, mm_tensor **out) {
    point_arg p = {.kind = 0};
    return with_luts(img, "invert", point_lut, &p, out);
}

int mm_image_solarize(mm_tensor *img, double thr, mm_tensor **out) {
    point_arg p = {.kind = 1, .thr = thr};
    return with_luts(img, "solarize", point_lut, &p, out);
}

int mm_image_posterize(mm_tensor *img, int bits, mm_tensor **out) {
    *out = NULL;
    if (bits < 0 || bits > 8)
        return mm_error_set(MM_EINVAL, "posterize: bits %d is not in 0..8",
                            bits);
    point_arg p = {.kind = 2, .bits = bits};
    return with_luts(img, "posterize", point_lut, &p, out);
}

/* ---- cv2.addWeighted --------------------------------------------------- */

/* mmcv's float path: cv2.addWeighted(img.astype(float32), factor,
 * other.astype(float32), 1 - factor, 0) - OpenCV works in double with one
 * fma per term and stores float32 - then np.clip(0, 255).astype(uint8).
 * `other` has img's shape, or is NULL for the constant image `level`
 * (0 for adjust_brightness, the mean grey for adjust_contrast). */
static int blend_float(mm_tensor *img, mm_tensor *other, uint8_t level,
                       double factor, mm_tensor **out) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *src, *dst, *o = NULL;
    int rc = prepare(img, &src, &dst);
    if (!rc && other)
        rc = mm_contiguous(other, &o);
    if (rc) {
        mm_pool_close(pool);
        return rc;
    }
    const uint8_t *a = mm_tensor_data(src);
    uint8_t *d = mm_tensor_data(dst);
    double beta = 1 - factor;
    /* fma(b, beta, 0) is the plain product b * beta */
    double bb[256];
    for (int v = 0; v < 256; v++)
        bb[v] = (double)v * beta;
    if (!o) { /* the other image is constant: a table over img's values */
        uint8_t lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = clip_trunc_u8(
                (float)fma((double)v, factor, bb[level]));
        for (int64_t i = 0; i < src->numel; i++)
            d[i] = lut[a[i]];
    } else {
        const uint8_t *b = mm_tensor_data(o);
        for (int64_t i = 0; i < src->numel; i++)
            d[i] = clip_trunc_u8((float)fma((double)a[i], factor, bb[b[i]]));
    }
    return mm_pool_close_keep(pool, dst, out);
}

int mm_image_adjust_brightness(mm_tensor *img, double factor,
                               mm_tensor **out) {
    *out = NULL;
    MM_TRY(check_u8("adjust_brightness", img));
    return blend_float(img, NULL, 0, factor, out);
}

/* cv2.cvtColor(BGR2GRAY) for u8: 15-bit weights, rounded. */
static uint8_t bgr_gray(const uint8_t *p) {
    return (uint8_t)((p[0] * 3735 + p[1] * 19235 + p[2] * 9798 + (1 << 14)) >>
                     15);
}

static int check_bgr(const char *what, const mm_tensor *img) {
    MM_TRY(check_u8(what, img));
    if (channels(img) != 3 || img->ndim != 3)
        return mm_error_set(MM_EINVAL,
                            "%s: needs a 3-channel BGR image (as mmcv's), got "
                            "%lld channel(s)",
                            what, (long long)channels(img));
    return MM_OK;
}

int mm_image_adjust_contrast(mm_tensor *img, double factor, mm_tensor **out) {
    *out = NULL;
    MM_TRY(check_bgr("adjust_contrast", img));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *src;
    int rc = mm_contiguous(img, &src);
    if (rc) {
        mm_pool_close(pool);
        return rc;
    }
    const uint8_t *s = mm_tensor_data(src);
    int64_t n = src->numel / 3, sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += bgr_gray(s + 3 * i);
    /* Python's round() of the float64 mean: halves to even */
    int mean = (int)nearbyint((double)sum / (double)n);
    rc = blend_float(src, NULL, (uint8_t)mean, factor, out);
    if (rc) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, *out, out);
}

int mm_image_adjust_color(mm_tensor *img, double alpha, mm_tensor **out) {
    *out = NULL;
    MM_TRY(check_bgr("adjust_color", img));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *src, *dst;
    int rc = prepare(img, &src, &dst);
    if (rc) {
        mm_pool_close(pool);
        return rc;
    }
    /* cv2.addWeighted(img, alpha, gray, 1 - alpha, 0) on u8: float32
     * weights, fused multiply-adds, rounded to nearest even */
    float fa = (float)alpha, fb = (float)(1 - alpha);
    const uint8_t *s = mm_tensor_data(src);
    uint8_t *d = mm_tensor_data(dst);
    float gb[256]; /* fmaf(g, fb, 0) is the plain product */
    for (int v = 0; v < 256; v++)
        gb[v] = (float)v * fb;
    for (int64_t i = 0; i < src->numel / 3; i++, s += 3, d += 3) {
        float g = gb[bgr_gray(s)];
        for (int c = 0; c < 3; c++)
            d[c] = sat_u8(lrintf(fmaf((float)s[c], fa, g)));
    }
    return mm_pool_close_keep(pool, dst, out);
}

/* cv2.filter2D with PIL's SMOOTH kernel [[1 1 1] [1 5 1] [1 1 1]] / 13,
 * BORDER_REFLECT_101: the sums are n / 13, never a tie, so OpenCV's float
 * sum rounds as this integer one does. */
static void smooth(const uint8_t *s, int64_t h, int64_t w, int64_t cn,
                   uint8_t *d) {
    int64_t row = w * cn;
    for (int64_t y = 0; y < h; y++) {
        /* reflect-101 rows (a single row or column reflects onto itself) */
        int64_t ya = y > 0 ? y - 1 : (h > 1 ? 1 : 0);
        int64_t yb = y < h - 1 ? y + 1 : (h > 1 ? h - 2 : 0);
        const uint8_t *r0 = s + ya * row, *r1 = s + y * row, *r2 = s + yb * row;
        uint8_t *o = d + y * row;
        for (int64_t x = 0; x < w; x++) {
            int64_t xa = x > 0 ? x - 1 : (w > 1 ? 1 : 0);
            int64_t xb = x < w - 1 ? x + 1 : (w > 1 ? w - 2 : 0);
            int64_t a = xa * cn, m = x * cn, b = xb * cn;
            for (int64_t c = 0; c < cn; c++) {
                int sum = r0[a + c] + r0[m + c] + r0[b + c] + r1[a + c] +
                          5 * r1[m + c] + r1[b + c] + r2[a + c] + r2[m + c] +
                          r2[b + c];
                o[m + c] = (uint8_t)((2 * sum + 13) / 26);
            }
        }
    }
}

int mm_image_adjust_sharpness(mm_tensor *img, double factor,
                              mm_tensor **out) {
    *out = NULL;
    MM_TRY(check_u8("adjust_sharpness", img));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *src, *blur;
    int rc = prepare(img, &src, &blur);
    if (!rc) {
        smooth(mm_tensor_data(src), src->shape[0], src->shape[1],
               channels(src), mm_tensor_data(blur));
        rc = blend_float(src, blur, 0, factor, out);
    }
    if (rc) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, *out, out);
}
