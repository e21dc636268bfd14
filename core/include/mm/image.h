/* mm/image.h - image files in and out, and resizing.
 *
 * Images are u8 tensors in OpenCV's layout, as mmcv hands them to
 * transforms: (H, W, C) with colour channels in BGR(A) order, or (H, W)
 * for one channel. Decoding uses stb_image (JPEG baseline and progressive,
 * PNG, BMP, TGA, GIF's first frame, PSD, PNM, HDR clamped to u8); writing
 * uses stb_image_write (PNG, JPEG, BMP), atomically.
 *
 * color_type follows mmcv.imfrombytes (cv2 backend):
 *   color      3 channels, BGR (a grey file is replicated, alpha dropped);
 *   grayscale  (H, W): 0.299 R + 0.587 G + 0.114 B in the fixed point
 *              cv2 uses for the format (libpng's for PNG, cvtColor's
 *              otherwise); a JPEG's own Y channel, as libjpeg gives it;
 *   unchanged  the file's channels: grey (H, W), BGR, or BGRA (grey with
 *              alpha becomes BGRA, as OpenCV's PNG reader does).
 * 16-bit PNGs are reduced to 8 bits and EXIF orientation is not applied
 * (docs/transforms.md lists the differences from cv2.imread).
 *
 * mm_image_resize follows cv2.resize: pixel centres at half-integers,
 * replicated borders, and OpenCV's fixed-point arithmetic for u8, so the
 * result is within one grey level of cv2's (usually equal). */
#ifndef MM_IMAGE_H
#define MM_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "mm/error.h"
#include "mm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mm_image_color {
    MM_IMAGE_COLOR,
    MM_IMAGE_GRAYSCALE,
    MM_IMAGE_UNCHANGED,
} mm_image_color;

/* "color", "grayscale", "unchanged" (and mmcv's *_ignore_orientation
 * spellings, the same here); MM_EINVAL naming the choices otherwise. */
MM_API int mm_image_color_parse(const char *name,
                                mm_image_color *out) MM_NODISCARD;

/* Decode an image file's bytes into a new u8 tensor (see above). `name`
 * (a path, or NULL) starts the error message: "cat.jpg: cannot decode
 * image: bad huffman code" - an empty, truncated or corrupt file is
 * MM_EPARSE, never a crash. */
MM_API int mm_image_decode(const void *data, size_t len, mm_image_color color,
                           const char *name, mm_tensor **out) MM_NODISCARD;
/* Read and decode a file; a missing file is MM_ENOENT. */
MM_API int mm_image_read(const char *path, mm_image_color color,
                         mm_tensor **out) MM_NODISCARD;

/* Encode a u8 (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA image as
 * "png", "jpg"/"jpeg" (quality 1..100; 95 is cv2's default) or "bmp".
 * *data is malloc'd (free() it). */
MM_API int mm_image_encode(const mm_tensor *img, const char *format,
                           int quality, void **data,
                           size_t *len) MM_NODISCARD;
/* Encode by the path's extension and write atomically. */
MM_API int mm_image_write(const char *path, const mm_tensor *img,
                          int quality) MM_NODISCARD;

/* cv2's interpolation codes, by mmcv's names. */
typedef enum mm_image_interp {
    MM_IMAGE_NEAREST,  /* cv2.INTER_NEAREST */
    MM_IMAGE_BILINEAR, /* cv2.INTER_LINEAR */
    MM_IMAGE_BICUBIC,  /* cv2.INTER_CUBIC */
    MM_IMAGE_AREA,     /* cv2.INTER_AREA */
} mm_image_interp;

/* "nearest", "bilinear", "bicubic", "area"; MM_EINVAL otherwise (mmcv's
 * "lanczos" is MM_EUNSUPPORTED). */
MM_API int mm_image_interp_parse(const char *name,
                                 mm_image_interp *out) MM_NODISCARD;

/* Resize a u8 or f32 (H, W) or (H, W, C) image to (h, w) as cv2.resize(img,
 * (w, h), interpolation=...) does. The result is new, in the pool. */
MM_API int mm_image_resize(mm_tensor *img, int64_t w, int64_t h,
                           mm_image_interp interp,
                           mm_tensor **out) MM_NODISCARD;

/* Draw `text` (printable ASCII; other bytes show as '?') into a u8 (H, W,
 * 3) BGR image in place, top-left corner at (x, y), with a built-in
 * stroke font scaled to `height` pixels per line (at least 7), in colour
 * `bgr` on a filled box of `bg` (NULL: no box), clipped to the image, as
 * mmpretrain's visualizer labels a prediction. */
MM_API int mm_image_draw_text(mm_tensor *img, int64_t x, int64_t y,
                              const char *text, int height,
                              const uint8_t bgr[3],
                              const uint8_t *bg) MM_NODISCARD;

/* ---- mmcv's geometric and photometric functions (u8 images) ------------
 *
 * What mmcv.image's imshear / imtranslate / imrotate, imequalize,
 * auto_contrast, adjust_* , posterize, solarize and iminvert compute, with
 * OpenCV 4.10's fixed-point and rounding rules, so the results are mmcv's
 * pixel for pixel (docs/transforms.md, "Auto augmentation"). Each takes a
 * u8 (H, W) or (H, W, C) image and returns a new one in the pool. */

/* cv2.warpAffine(img, m, (w, h), flags=interp,
 * borderMode=BORDER_CONSTANT, borderValue=border): m maps source to
 * destination pixels (it is inverted as cv2 does); border[c & 3] fills
 * channel c. area is taken as bilinear, as cv2.warpAffine does. */
MM_API int mm_image_warp_affine(mm_tensor *img, const double m[6], int64_t w,
                                int64_t h, mm_image_interp interp,
                                const double border[4],
                                mm_tensor **out) MM_NODISCARD;
/* cv2.getRotationMatrix2D(center, angle, scale): angle in degrees,
 * counter-clockwise (mmcv.imrotate passes -angle). */
MM_API void mm_image_rotation_matrix(double cx, double cy, double angle,
                                     double scale, double m[6]);
/* PIL's ImageOps.equalize per channel, as mmcv.imequalize. */
MM_API int mm_image_equalize(mm_tensor *img, mm_tensor **out) MM_NODISCARD;
/* mmcv.auto_contrast: stretch each channel to 0..255 after cutting
 * cutoff_low / cutoff_high percent of its pixels at either end. */
MM_API int mm_image_auto_contrast(mm_tensor *img, double cutoff_low,
                                  double cutoff_high,
                                  mm_tensor **out) MM_NODISCARD;
/* 255 - img; img < thr ? img : 255 - img; keep the top `bits` (0..8). */
MM_API int mm_image_invert(mm_tensor *img, mm_tensor **out) MM_NODISCARD;
MM_API int mm_image_solarize(mm_tensor *img, double thr,
                             mm_tensor **out) MM_NODISCARD;
MM_API int mm_image_posterize(mm_tensor *img, int bits,
                              mm_tensor **out) MM_NODISCARD;
/* mmcv.adjust_brightness / adjust_sharpness (any channels) and
 * adjust_contrast / adjust_color (3-channel BGR) with the cv2 backend:
 * factor 1 keeps the image, 0 gives black / blurred / the mean grey /
 * the grey image. */
MM_API int mm_image_adjust_brightness(mm_tensor *img, double factor,
                                      mm_tensor **out) MM_NODISCARD;
MM_API int mm_image_adjust_contrast(mm_tensor *img, double factor,
                                    mm_tensor **out) MM_NODISCARD;
MM_API int mm_image_adjust_color(mm_tensor *img, double alpha,
                                 mm_tensor **out) MM_NODISCARD;
MM_API int mm_image_adjust_sharpness(mm_tensor *img, double factor,
                                     mm_tensor **out) MM_NODISCARD;
/* Pillow's resampling filters, by mmcv's names for backend='pillow'. */
typedef enum mm_image_pil_filter {
    MM_PIL_BOX,
    MM_PIL_BILINEAR,
    MM_PIL_HAMMING,
    MM_PIL_BICUBIC, /* a = -0.5 */
    MM_PIL_LANCZOS,
} mm_image_pil_filter;

/* "box", "bilinear", "hamming", "bicubic", "lanczos"; "nearest" is
 * MM_EUNSUPPORTED (Pillow's nearest is an affine transform, not done). */
MM_API int mm_image_pil_filter_parse(const char *name,
                                     mm_image_pil_filter *out) MM_NODISCARD;

/* PIL.Image.resize((w, h), filter) of a u8 (H, W) or (H, W, 1 or 3) image,
 * as mmcv.imresize(..., backend='pillow') calls it: Pillow's fixed-point
 * two-pass resampling, bit for bit. Other dtypes and channel counts are
 * MM_EINVAL (mmcv: "Pillow backend only support uint8 type"). */
MM_API int mm_image_resize_pillow(mm_tensor *img, int64_t w, int64_t h,
                                  mm_image_pil_filter filter,
                                  mm_tensor **out) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
