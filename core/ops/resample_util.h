/* PyTorch's source-index arithmetic for interpolate and grid_sample
 * (aten/src/ATen/native/UpSample.h and GridSampler.h), shared by the
 * reference kernels in resample.c and the CPU kernels in cpu/resample_cpu.c
 * so both follow the same formulas. */
#ifndef MM_RESAMPLE_UTIL_H
#define MM_RESAMPLE_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

enum {
    MM_INTERP_NEAREST_ = 0,
    MM_INTERP_BILINEAR_ = 1,
    MM_INTERP_BICUBIC_ = 2
};
enum { MM_GS_ZEROS = 0, MM_GS_BORDER = 1, MM_GS_REFLECTION = 2 };

/* The taps along one axis: output index o reads in[idx[k]] * w[k], k < n.
 * scale_param: the user's scale factor for this axis, 0 when the size was
 * given. */
static inline int mm_interp_taps(int mode, bool align_corners, int64_t in,
                                 int64_t out, double scale_param, int64_t o,
                                 int64_t idx[4], double w[4]) {
    if (mode == MM_INTERP_NEAREST_) {
        int64_t i;
        if (out == in)
            i = o;
        else if (out == 2 * in)
            i = o >> 1;
        else {
            float s = scale_param > 0 ? (float)(1.0 / scale_param)
                                      : (float)in / (float)out;
            i = (int64_t)floorf((float)o * s);
            if (i > in - 1)
                i = in - 1;
        }
        idx[0] = i;
        w[0] = 1;
        return 1;
    }
    double scale;
    if (align_corners)
        scale = out > 1 ? (double)(in - 1) / (double)(out - 1) : 0;
    else
        scale = scale_param > 0 ? 1.0 / scale_param : (double)in / (double)out;
    double src =
        align_corners ? scale * (double)o : scale * ((double)o + 0.5) - 0.5;
    if (mode == MM_INTERP_BILINEAR_) {
        if (src < 0)
            src = 0;
        int64_t i0 = (int64_t)src;
        int64_t ip = i0 < in - 1 ? 1 : 0;
        double l1 = src - (double)i0;
        idx[0] = i0, w[0] = 1 - l1;
        idx[1] = i0 + ip, w[1] = l1;
        return 2;
    }
    const double A = -0.75;
    double f = floor(src), t = src - f;
    double x1 = t + 1, x2 = 1 - t, x3 = 2 - t;
    w[0] = ((A * x1 - 5 * A) * x1 + 8 * A) * x1 - 4 * A;
    w[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    w[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
    w[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
    for (int k = 0; k < 4; k++) {
        int64_t i = (int64_t)f - 1 + k;
        idx[k] = i < 0 ? 0 : i > in - 1 ? in - 1 : i;
    }
    return 4;
}

/* grid_sample: a normalised coordinate in [-1, 1] to a pixel coordinate,
 * with the padding mode applied, and d(result)/d(coord). */
static inline double mm_gs_reflect(double in, double twice_low,
                                   double twice_high, double *grad) {
    if (twice_low == twice_high) {
        *grad = 0;
        return 0;
    }
    double mn = twice_low / 2, span = (twice_high - twice_low) / 2;
    double mult = 1;
    in -= mn;
    if (in < 0) {
        mult = -1;
        in = -in;
    }
    double extra = fmod(in, span);
    int64_t flips = (int64_t)floor(in / span);
    if (flips % 2 == 0) {
        *grad = mult;
        return extra + mn;
    }
    *grad = -mult;
    return span - extra + mn;
}

static inline double mm_gs_clip(double in, int64_t size, double *grad) {
    if (in <= 0) {
        *grad = 0;
        return 0;
    }
    double mx = (double)(size - 1);
    if (in >= mx) {
        *grad = 0;
        return mx;
    }
    *grad = 1;
    return in;
}

static inline double mm_gs_coord(double coord, int64_t size, int padding,
                                 bool align_corners, double *grad) {
    double g = align_corners ? (double)(size - 1) / 2 : (double)size / 2, g2;
    double c = align_corners ? (coord + 1) / 2 * (double)(size - 1)
                             : ((coord + 1) * (double)size - 1) / 2;
    if (padding == MM_GS_BORDER) {
        c = mm_gs_clip(c, size, &g2);
        g *= g2;
    } else if (padding == MM_GS_REFLECTION) {
        c = align_corners ? mm_gs_reflect(c, 0, 2 * (double)(size - 1), &g2)
                          : mm_gs_reflect(c, -1, 2 * (double)size - 1, &g2);
        g *= g2;
        c = mm_gs_clip(c, size, &g2);
        g *= g2;
    }
    *grad = g;
    return c;
}

/* The four bilinear corners of (ix, iy): x0 = floor(ix), y0 = floor(iy);
 * weights nw ne sw se. */
static inline void mm_gs_bilinear(double ix, double iy, int64_t *x0,
                                  int64_t *y0, double w[4]) {
    double fx = floor(ix), fy = floor(iy);
    double dx = ix - fx, dy = iy - fy;
    *x0 = (int64_t)fx, *y0 = (int64_t)fy;
    w[0] = (1 - dx) * (1 - dy);
    w[1] = dx * (1 - dy);
    w[2] = (1 - dx) * dy;
    w[3] = dx * dy;
}

#endif
