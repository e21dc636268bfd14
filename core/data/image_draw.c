/* Text on images (<mm/image.h> mm_image_draw_text): stb_easy_font turns a
 * string into axis-aligned quads of a 7-pixel-high stroke font; each quad,
 * scaled, is filled into the image. */
#include <stdlib.h>
#include <string.h>

#include "mm/image.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#endif
#include <stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* stb_easy_font's glyphs are 7 units high (12 per line with spacing). */
enum { FONT_UNITS = 7 };

static void fill(uint8_t *p, int64_t H, int64_t W, int64_t x0, int64_t y0,
                 int64_t x1, int64_t y1, const uint8_t c[3]) {
    if (x0 < 0)
        x0 = 0;
    if (y0 < 0)
        y0 = 0;
    if (x1 > W)
        x1 = W;
    if (y1 > H)
        y1 = H;
    for (int64_t y = y0; y < y1; y++)
        for (int64_t x = x0; x < x1; x++)
            memcpy(p + (y * W + x) * 3, c, 3);
}

int mm_image_draw_text(mm_tensor *img, int64_t x, int64_t y, const char *text,
                       int height, const uint8_t bgr[3], const uint8_t *bg) {
    if (!img || img->dtype != MM_U8 || img->ndim != 3 || img->shape[2] != 3 ||
        !mm_tensor_is_contiguous(img))
        return mm_error_set(MM_EINVAL,
                            "draw_text: needs a contiguous u8 (H, W, 3) image");
    if (height < FONT_UNITS)
        height = FONT_UNITS;
    size_t n = strlen(text);
    char *clean = malloc(n + 1);
    size_t cap = 300 * (n + 1); /* ~270 bytes of quads per character */
    float *quads = malloc(cap);
    if (!clean || !quads) {
        free(clean);
        free(quads);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i <= n; i++)
        clean[i] = i < n && (text[i] < 32 || text[i] > 126) ? '?' : text[i];
    int scale = height / FONT_UNITS;
    int nq = stb_easy_font_print(0, 0, clean, NULL, quads, (int)cap);
    int64_t H = img->shape[0], W = img->shape[1];
    uint8_t *p = mm_tensor_data(img);
    if (bg) {
        int64_t tw = stb_easy_font_width(clean) * scale;
        int64_t th = stb_easy_font_height(clean) * scale;
        fill(p, H, W, x - scale, y - scale, x + tw + scale, y + th, bg);
    }
    /* each quad: 4 vertices of (x, y, z, colour) = 16 bytes */
    for (int q = 0; q < nq; q++) {
        const float *v = (const float *)((const char *)quads + q * 64);
        float qx0 = v[0], qy0 = v[1], qx1 = v[8], qy1 = v[9];
        fill(p, H, W, x + (int64_t)(qx0 * scale), y + (int64_t)(qy0 * scale),
             x + (int64_t)(qx1 * scale), y + (int64_t)(qy1 * scale), bgr);
    }
    free(clean);
    free(quads);
    return MM_OK;
}
