/* Image io and resizing (<mm/image.h>): stb_image decodes, the channel
 * order and grey conversion follow cv2.imread, and the resize kernels
 * follow cv2.resize's coefficient tables and fixed-point rounding. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "mm/image.h"

int mm_image_color_parse(const char *name, mm_image_color *out) {
    static const struct {
        const char *name;
        mm_image_color color;
    } names[] = {
        {"color", MM_IMAGE_COLOR},
        {"grayscale", MM_IMAGE_GRAYSCALE},
        {"unchanged", MM_IMAGE_UNCHANGED},
        {"color_ignore_orientation", MM_IMAGE_COLOR},
        {"grayscale_ignore_orientation", MM_IMAGE_GRAYSCALE},
    };
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].color;
            return MM_OK;
        }
    }
    return mm_error_set(MM_EINVAL,
                        "color_type '%s' is not one of color, grayscale, "
                        "unchanged",
                        name ? name : "(null)");
}

/* cv2.cvtColor's RGB -> grey for u8: 0.299, 0.587, 0.114 in 14-bit fixed
 * point, rounded. */
static inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
    return (uint8_t)((r * 4899 + g * 9617 + b * 1868 + (1 << 13)) >> 14);
}

/* libpng's png_set_rgb_to_gray(0.299, 0.587), which cv2.imread uses for
 * PNG files: 15-bit coefficients, truncated. */
static inline uint8_t luma_png(uint8_t r, uint8_t g, uint8_t b) {
    if (r == g && r == b)
        return r;
    return (uint8_t)((r * 9797 + g * 19234 + b * 3737) >> 15);
}

/* stb's pixels (c channels, RGB(A) order) into the tensor's layout. */
static void convert(const uint8_t *src, int64_t npix, int c,
                    mm_image_color color, bool png, uint8_t *dst) {
    for (int64_t i = 0; i < npix; i++, src += c) {
        uint8_t r = src[0], g = c >= 3 ? src[1] : r, b = c >= 3 ? src[2] : r;
        uint8_t a = c == 2 ? src[1] : c == 4 ? src[3] : 255;
        switch (color) {
        case MM_IMAGE_GRAYSCALE:
            *dst++ = c < 3 ? r : png ? luma_png(r, g, b) : luma(r, g, b);
            break;
        case MM_IMAGE_UNCHANGED:
            if (c == 1) {
                *dst++ = r;
                break;
            }
            *dst++ = b, *dst++ = g, *dst++ = r;
            if (c != 3)
                *dst++ = a;
            break;
        case MM_IMAGE_COLOR:
            *dst++ = b, *dst++ = g, *dst++ = r;
            break;
        }
    }
}

int mm_image_decode(const void *data, size_t len, mm_image_color color,
                    const char *name, mm_tensor **out) {
    *out = NULL;
    if (!name)
        name = "image";
    if (len == 0)
        return mm_error_set(MM_EPARSE, "%s: cannot decode image: empty file",
                            name);
    if (len > INT_MAX)
        return mm_error_set(MM_EPARSE,
                            "%s: cannot decode image: larger than 2 GiB",
                            name);
    int w, h, n;
    if (!stbi_info_from_memory(data, (int)len, &w, &h, &n))
        return mm_error_set(MM_EPARSE, "%s: cannot decode image: %s", name,
                            stbi_failure_reason());
    /* cv2's CV_IO_MAX_IMAGE_PIXELS: a forged header cannot make us
     * allocate gigabytes. */
    if ((int64_t)w * h > (INT64_C(1) << 30))
        return mm_error_set(MM_EPARSE,
                            "%s: cannot decode image: %dx%d is more than "
                            "2^30 pixels",
                            name, w, h);
    const uint8_t *d = data;
    bool jpeg = len >= 2 && d[0] == 0xFF && d[1] == 0xD8;
    bool png = len >= 4 && d[0] == 0x89 && d[1] == 'P' && d[2] == 'N';
    /* A JPEG's grey is its Y channel, as libjpeg (cv2) decodes it. */
    int req = color == MM_IMAGE_GRAYSCALE && jpeg ? 1 : 0;
    uint8_t *px = stbi_load_from_memory(data, (int)len, &w, &h, &n, req);
    if (!px)
        return mm_error_set(MM_EPARSE, "%s: cannot decode image: %s", name,
                            stbi_failure_reason());
    int c = req ? req : n;
    int oc = color == MM_IMAGE_COLOR       ? 3
             : color == MM_IMAGE_GRAYSCALE ? 1
             : c == 1                      ? 1
             : c == 3                      ? 3
                                           : 4;
    int rc;
    if (oc == 1)
        rc = mm_empty(MM_SHAPE(h, w), MM_U8, out);
    else
        rc = mm_empty(MM_SHAPE(h, w, oc), MM_U8, out);
    if (!rc)
        convert(px, (int64_t)w * h, c, color, png, MM_DATA(*out, uint8_t));
    stbi_image_free(px);
    return rc;
}

int mm_image_read(const char *path, mm_image_color color, mm_tensor **out) {
    *out = NULL;
    char *buf;
    size_t len;
    MM_TRY(mm_file_read(path, &buf, &len));
    int rc = mm_image_decode(buf, len, color, path, out);
    free(buf);
    return rc;
}

/* ---- writing ------------------------------------------------------------- */

typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} membuf;

static void membuf_write(void *ctx, void *data, int size) {
    membuf *b = ctx;
    if (b->failed || size <= 0)
        return;
    if (b->len + (size_t)size > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)size)
            cap *= 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, (size_t)size);
    b->len += (size_t)size;
}

/* The image as stb wants it: contiguous RGB(A) or grey rows. */
static int to_rgb(const mm_tensor *img, int *h, int *w, int *c,
                  uint8_t **out) {
    char s[64];
    bool ok = img && img->dtype == MM_U8 &&
              (img->ndim == 2 ||
               (img->ndim == 3 && (img->shape[2] == 1 || img->shape[2] == 3 ||
                                   img->shape[2] == 4)));
    if (!ok)
        return mm_error_set(MM_EINVAL,
                            "cannot encode image: expected a u8 (H, W) or "
                            "(H, W, 1|3|4) tensor, got %s",
                            img ? mm_tensor_describe(img, s, sizeof s)
                                : "NULL");
    if (img->shape[0] > INT_MAX / 4 || img->shape[1] > INT_MAX / 4 ||
        img->shape[0] * img->shape[1] == 0)
        return mm_error_set(MM_EINVAL, "cannot encode image: size %s",
                            mm_shape_format(img->ndim, img->shape, s, 64));
    *h = (int)img->shape[0];
    *w = (int)img->shape[1];
    *c = img->ndim == 2 ? 1 : (int)img->shape[2];
    size_t n = (size_t)*h * (size_t)*w;
    uint8_t *p = malloc(n * (size_t)*c);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    const uint8_t *base = MM_DATA(img, uint8_t);
    int64_t sc = img->ndim == 3 ? img->stride[2] : 0;
    for (int y = 0; y < *h; y++)
        for (int x = 0; x < *w; x++) {
            const uint8_t *q = base + y * img->stride[0] + x * img->stride[1];
            uint8_t *d = p + ((size_t)y * (size_t)*w + (size_t)x) * (size_t)*c;
            for (int k = 0; k < *c; k++) /* BGR(A) -> RGB(A) */
                d[k] = q[(*c >= 3 && k < 3 ? 2 - k : k) * sc];
        }
    *out = p;
    return MM_OK;
}

int mm_image_encode(const mm_tensor *img, const char *format, int quality,
                    void **data, size_t *len) {
    *data = NULL;
    *len = 0;
    int h = 0, w = 0, c = 0;
    uint8_t *px = NULL;
    bool png = !strcasecmp(format, "png");
    bool jpg = !strcasecmp(format, "jpg") || !strcasecmp(format, "jpeg");
    bool bmp = !strcasecmp(format, "bmp");
    if (!png && !jpg && !bmp)
        return mm_error_set(MM_EINVAL,
                            "cannot encode image as '%s': png, jpg or bmp",
                            format);
    if (jpg && (quality < 1 || quality > 100))
        return mm_error_set(MM_EINVAL,
                            "JPEG quality %d is outside 1..100", quality);
    MM_TRY(to_rgb(img, &h, &w, &c, &px));
    membuf b = {0};
    int ok = png   ? stbi_write_png_to_func(membuf_write, &b, w, h, c, px,
                                            w * c)
             : jpg ? stbi_write_jpg_to_func(membuf_write, &b, w, h, c, px,
                                            quality)
                   : stbi_write_bmp_to_func(membuf_write, &b, w, h, c, px);
    free(px);
    if (!ok || b.failed) {
        free(b.data);
        return mm_error_set(b.failed ? MM_ENOMEM : MM_EIO,
                            "cannot encode image as %s", format);
    }
    *data = b.data;
    *len = b.len;
    return MM_OK;
}

int mm_image_write(const char *path, const mm_tensor *img, int quality) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return mm_error_set(MM_EINVAL,
                            "%s: no file extension to choose the image "
                            "format (.png, .jpg, .bmp)",
                            path);
    void *data;
    size_t len;
    int rc = mm_image_encode(img, dot + 1, quality, &data, &len);
    if (rc)
        return mm_error_context(rc, NULL, "%s", path);
    rc = mm_file_write_atomic(path, data, len);
    free(data);
    return rc;
}

/* ---- resizing ------------------------------------------------------------ */

int mm_image_interp_parse(const char *name, mm_image_interp *out) {
    static const char *const names[] = {"nearest", "bilinear", "bicubic",
                                        "area"};
    for (int i = 0; name && i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (mm_image_interp)i;
            return MM_OK;
        }
    }
    if (name && strcmp(name, "lanczos") == 0)
        return mm_error_set(MM_EUNSUPPORTED,
                            "interpolation 'lanczos' is not supported "
                            "(nearest, bilinear, bicubic, area)");
    return mm_error_set(MM_EINVAL,
                        "interpolation '%s' is not one of nearest, bilinear, "
                        "bicubic, area",
                        name ? name : "(null)");
}

enum { COEF_BITS = 11, COEF_ONE = 1 << COEF_BITS }; /* cv2's 2048 */

/* One axis of a separable resize: for each output index, `k` source
 * indices (clamped: replicated border) and weights, as float and as cv2's
 * fixed-point shorts. */
typedef struct axis {
    int k;
    int64_t *idx; /* [n * k] */
    float *wf;    /* [n * k] */
    int32_t *wi;  /* [n * k] */
} axis;

static void axis_free(axis *a) {
    free(a->idx);
    free(a->wf);
    free(a->wi);
}

/* cv2's interpolateCubic, A = -0.75. */
static void cubic_coeffs(float x, float *c) {
    const float A = -0.75f;
    c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    c[3] = 1.f - c[0] - c[1] - c[2];
}

static int64_t clampi(int64_t v, int64_t n) {
    return v < 0 ? 0 : v >= n ? n - 1 : v;
}

/* cv2's saturate_cast<short>(x * 2048): round half to even. */
static int32_t fixpt(float x) { return (int32_t)lrintf(x * COEF_ONE); }

static int axis_init(axis *a, int64_t src, int64_t dst, mm_image_interp ip) {
    a->k = ip == MM_IMAGE_BICUBIC ? 4 : ip == MM_IMAGE_NEAREST ? 1 : 2;
    size_t n = (size_t)dst * (size_t)a->k;
    a->idx = malloc(n * sizeof *a->idx);
    a->wf = malloc(n * sizeof *a->wf);
    a->wi = malloc(n * sizeof *a->wi);
    if (!a->idx || !a->wf || !a->wi) {
        axis_free(a);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    double scale = (double)src / (double)dst, inv = (double)dst / (double)src;
    for (int64_t d = 0; d < dst; d++) {
        int64_t *ix = a->idx + d * a->k;
        float *wf = a->wf + d * a->k, f;
        if (ip == MM_IMAGE_NEAREST) {
            ix[0] = clampi((int64_t)floor((double)d * scale), src);
            wf[0] = 1.f;
            a->wi[d] = COEF_ONE;
            continue;
        }
        int64_t s;
        if (ip == MM_IMAGE_AREA) { /* cv2's INTER_AREA when upscaling */
            s = (int64_t)floor((double)d * scale);
            f = (float)((double)(d + 1) - (double)(s + 1) * inv);
            f = f <= 0 ? 0.f : f - floorf(f);
        } else {
            f = (float)(((double)d + 0.5) * scale - 0.5);
            s = (int64_t)floorf(f);
            f -= (float)s;
        }
        if (ip != MM_IMAGE_BICUBIC) {
            if (s < 0)
                f = 0, s = 0;
            if (s >= src - 1)
                f = 0, s = src - 1;
            wf[0] = 1.f - f;
            wf[1] = f;
        } else {
            cubic_coeffs(f, wf);
        }
        int first = ip == MM_IMAGE_BICUBIC ? -1 : 0;
        for (int j = 0; j < a->k; j++) {
            ix[j] = clampi(s + first + j, src);
            a->wi[d * a->k + j] = fixpt(wf[j]);
        }
    }
    return MM_OK;
}

static uint8_t sat_u8(int64_t v) {
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Separable resize of contiguous (h, w, c) data. u8 follows cv2's
 * fixed-point path: rows resampled with 11-bit weights into ints, then
 * columns combined as cv2's SIMD kernels do (linear:
 * VResizeLinearVec_32s8u's shifts; cubic: VResizeCubicVec_32s8u's float
 * sum, rounded). cv2's scalar tails round differently: hence "within one
 * level". */
static int resize_sep(const mm_tensor *x, int64_t h, int64_t w, int64_t c,
                      int64_t oh, int64_t ow, mm_image_interp ip,
                      mm_tensor *y) {
    axis ax = {0}, ay = {0};
    MM_TRY(axis_init(&ax, w, ow, ip));
    int rc = axis_init(&ay, h, oh, ip);
    if (rc) {
        axis_free(&ax);
        return rc;
    }
    bool u8 = x->dtype == MM_U8;
    int64_t rowlen = ow * c;
    /* The horizontally resampled rows each output row needs. */
    int32_t *ri = u8 ? malloc((size_t)(ay.k * rowlen) * sizeof *ri) : NULL;
    float *rf = u8 ? NULL : malloc((size_t)(ay.k * rowlen) * sizeof *rf);
    if (u8 ? !ri : !rf) {
        axis_free(&ax);
        axis_free(&ay);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    /* mm_tensor_data is an exported call: fetch the pointers once. */
    const uint8_t *xu = u8 ? MM_DATA(x, uint8_t) : NULL;
    const float *xf = u8 ? NULL : MM_DATA(x, float);
    uint8_t *yu = u8 ? MM_DATA(y, uint8_t) : NULL;
    float *yf = u8 ? NULL : MM_DATA(y, float);
    /* Row slot `s` of ri/rf holds source row held[s] resampled; output
     * rows share most source rows with the row before, so each is
     * resampled once, not once per output row that reads it. */
    int64_t held[4] = {-1, -1, -1, -1};
    int slot_of[4];
    for (int64_t oy = 0; oy < oh; oy++) {
        const int64_t *need = ay.idx + oy * ay.k;
        bool used[4] = {false, false, false, false};
        for (int j = 0; j < ay.k; j++) {
            slot_of[j] = -1;
            for (int q = 0; q < ay.k && slot_of[j] < 0; q++)
                if (held[q] == need[j])
                    slot_of[j] = q, used[q] = true;
        }
        for (int j = 0; j < ay.k; j++) {
            for (int q = 0; q < ay.k && slot_of[j] < 0; q++)
                if (held[q] == need[j]) /* resampled for an earlier tap */
                    slot_of[j] = q;
            if (slot_of[j] >= 0)
                continue;
            int q = 0;
            while (used[q])
                q++;
            used[q] = true;
            held[q] = need[j];
            slot_of[j] = q;
            int64_t sy = need[j];
            if (u8 && ax.k == 2) { /* bilinear: two taps, integer sums */
                const uint8_t *src = xu + sy * w * c;
                int32_t *dst = ri + q * rowlen;
                for (int64_t ox = 0; ox < ow; ox++) {
                    const uint8_t *p0 = src + ax.idx[2 * ox] * c;
                    const uint8_t *p1 = src + ax.idx[2 * ox + 1] * c;
                    int32_t w0 = ax.wi[2 * ox], w1 = ax.wi[2 * ox + 1];
                    for (int64_t ch = 0; ch < c; ch++)
                        dst[ox * c + ch] = p0[ch] * w0 + p1[ch] * w1;
                }
                continue;
            }
            for (int64_t ox = 0; ox < ow; ox++) {
                const int64_t *ix = ax.idx + ox * ax.k;
                for (int64_t ch = 0; ch < c; ch++) {
                    if (u8) {
                        const uint8_t *s = xu + sy * w * c;
                        int32_t acc = 0;
                        for (int t = 0; t < ax.k; t++)
                            acc += s[ix[t] * c + ch] * ax.wi[ox * ax.k + t];
                        ri[q * rowlen + ox * c + ch] = acc;
                    } else {
                        const float *s = xf + sy * w * c;
                        float acc = 0;
                        for (int t = 0; t < ax.k; t++)
                            acc += s[ix[t] * c + ch] * ax.wf[ox * ax.k + t];
                        rf[q * rowlen + ox * c + ch] = acc;
                    }
                }
            }
        }
        const int32_t *b = ay.wi + oy * ay.k, *R[4] = {NULL};
        const float *bf = ay.wf + oy * ay.k, *F[4] = {NULL};
        for (int j = 0; j < ay.k; j++) {
            if (u8)
                R[j] = ri + slot_of[j] * rowlen;
            else
                F[j] = rf + slot_of[j] * rowlen;
        }
        for (int64_t i = 0; i < rowlen; i++) {
            if (!u8) {
                float acc = 0;
                for (int j = 0; j < ay.k; j++)
                    acc += F[j][i] * bf[j];
                yf[oy * rowlen + i] = acc;
            } else if (ay.k == 1) {
                int32_t v = R[0][i];
                yu[oy * rowlen + i] = sat_u8(v >> COEF_BITS);
            } else if (ay.k == 2) {
                int32_t v = (((R[0][i] >> 4) * b[0]) >> 16) +
                            (((R[1][i] >> 4) * b[1]) >> 16);
                yu[oy * rowlen + i] = sat_u8((v + 2) >> 2);
            } else { /* VResizeCubicVec_32s8u: in float, rounded */
                const float sc = 1.f / (COEF_ONE * COEF_ONE);
                float v = (float)R[3][i] * ((float)b[3] * sc);
                for (int j = 2; j >= 0; j--)
                    v = (float)R[j][i] * ((float)b[j] * sc) + v;
                yu[oy * rowlen + i] = sat_u8(lrintf(v));
            }
        }
    }
    free(ri);
    free(rf);
    axis_free(&ax);
    axis_free(&ay);
    return MM_OK;
}

/* cv2's INTER_AREA when shrinking: each output pixel is the mean of the
 * source area it covers (fractional pixels weighted by their overlap);
 * u8 rounds to nearest. */
static int resize_area(const mm_tensor *x, int64_t h, int64_t w, int64_t c,
                       int64_t oh, int64_t ow, mm_tensor *y) {
    double sx = (double)w / (double)ow, sy = (double)h / (double)oh;
    bool u8 = x->dtype == MM_U8;
    /* an exact 2x shrink: cv2 sums each 2x2 block and rounds halves up */
    bool halves = w == 2 * ow && h == 2 * oh;
    double *acc = malloc((size_t)c * sizeof *acc);
    if (!acc)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (int64_t oy = 0; oy < oh; oy++) {
        double y0 = (double)oy * sy, y1 = y0 + sy;
        for (int64_t ox = 0; ox < ow; ox++) {
            double x0 = (double)ox * sx, x1 = x0 + sx;
            memset(acc, 0, (size_t)c * sizeof *acc);
            for (int64_t iy = (int64_t)floor(y0); iy < h && iy < y1; iy++) {
                double wy = fmin(y1, (double)iy + 1) - fmax(y0, (double)iy);
                if (wy <= 1e-9)
                    continue;
                for (int64_t ix = (int64_t)floor(x0); ix < w && ix < x1;
                     ix++) {
                    double wx =
                        fmin(x1, (double)ix + 1) - fmax(x0, (double)ix);
                    if (wx <= 1e-9)
                        continue;
                    int64_t o = (iy * w + ix) * c;
                    for (int64_t ch = 0; ch < c; ch++)
                        acc[ch] += wx * wy *
                                   (u8 ? MM_DATA(x, uint8_t)[o + ch]
                                       : MM_DATA(x, float)[o + ch]);
                }
            }
            int64_t o = (oy * ow + ox) * c;
            for (int64_t ch = 0; ch < c; ch++) {
                double v = acc[ch] / (sx * sy);
                if (u8 && halves) /* ResizeAreaFastVec_SIMD_8u */
                    MM_DATA(y, uint8_t)[o + ch] =
                        (uint8_t)(((int)lrint(acc[ch]) + 2) >> 2);
                else if (u8)
                    MM_DATA(y, uint8_t)[o + ch] = sat_u8(lrint(v));
                else
                    MM_DATA(y, float)[o + ch] = (float)v;
            }
        }
    }
    free(acc);
    return MM_OK;
}

int mm_image_resize(mm_tensor *img, int64_t w, int64_t h,
                    mm_image_interp interp, mm_tensor **out) {
    *out = NULL;
    char s[64];
    if (!img || (img->dtype != MM_U8 && img->dtype != MM_F32) ||
        (img->ndim != 2 && img->ndim != 3))
        return mm_error_set(MM_EINVAL,
                            "resize: expected a u8 or f32 (H, W) or (H, W, C) "
                            "image, got %s",
                            img ? mm_tensor_describe(img, s, sizeof s)
                                : "NULL");
    int64_t ih = img->shape[0], iw = img->shape[1];
    int64_t c = img->ndim == 3 ? img->shape[2] : 1;
    if (w <= 0 || h <= 0 || ih <= 0 || iw <= 0 || c <= 0)
        return mm_error_set(MM_EINVAL,
                            "resize: cannot resize %lldx%lld to %lldx%lld",
                            (long long)iw, (long long)ih, (long long)w,
                            (long long)h);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *x, *y = NULL;
    int rc = mm_contiguous(img, &x);
    if (!rc) {
        if (img->ndim == 2)
            rc = mm_empty(MM_SHAPE(h, w), img->dtype, &y);
        else
            rc = mm_empty(MM_SHAPE(h, w, c), img->dtype, &y);
    }
    double fx = (double)iw / (double)w, fy = (double)ih / (double)h;
    int ix = (int)lrint(fx), iy = (int)lrint(fy);
    bool area_fast = fabs(fx - ix) < 1e-12 && fabs(fy - iy) < 1e-12;
    /* cv2 turns an exact 2x shrink with INTER_LINEAR into INTER_AREA. */
    if (interp == MM_IMAGE_BILINEAR && area_fast && ix == 2 && iy == 2)
        interp = MM_IMAGE_AREA;
    if (!rc) {
        if (interp == MM_IMAGE_AREA && fx >= 1 && fy >= 1)
            rc = resize_area(x, ih, iw, c, h, w, y);
        else
            rc = resize_sep(x, ih, iw, c, h, w, interp, y);
    }
    if (rc) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, y, out);
}
