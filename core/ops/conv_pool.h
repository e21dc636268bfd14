/* Convolution and pooling: the geometry the reference kernels (conv.c,
 * pool.c) and the optimised CPU kernels (cpu/conv_dnnl.c, cpu/pool_dnnl.c)
 * share. Every op works on 1, 2 or 3 spatial dims; the geometry pads them to
 * 3 with leading size-1 dims, so one loop nest serves conv1d to conv3d.
 *
 * Conv params (mm_op_params.i):
 *   [0] nsp (1..3)  [1..3] stride  [4..6] padding  [7..9] dilation
 *   [10] groups  [11..13] output_padding (conv_transpose)
 *   [14..16] kernel size (conv_weight_grad: the weight's spatial size)
 * Pool params:
 *   [0] nsp  [1..3] kernel (adaptive: output size)  [4..6] stride
 *   [7..9] padding  [10..12] dilation  [13] ceil_mode  [14] adaptive
 *   [15] count_include_pad  [16] divisor_override (0: none)
 *   [17..19] input spatial size (the backward ops)
 *   The backward ops read [13] as the input's layout instead (1: x was
 *   channels-last, so is the gradient); [17..19] already fix the sizes. */
#ifndef MM_CONV_POOL_H
#define MM_CONV_POOL_H

#include "ops_internal.h"

#include <string.h>

/* A convolution seen from the forward conv: x [N, C, in...] (*) w [K, C/G,
 * k...] = y [N, K, out...]. conv_transpose is this conv's backward-data
 * (its input is y, its output x); conv_weight_grad its backward-weights. */
typedef struct mm_conv_geom {
    int nsp;
    int64_t N, C, K, G;
    int64_t in[3], out[3], k[3], s[3], p[3], d[3];
} mm_conv_geom;

/* in: a tensor shaped like x, out: like y, w: like the weight (or NULL:
 * the kernel size comes from params [14..16]). */
static inline void mm_conv_geom_make(const mm_op_params *p, const mm_tensor *in,
                                     const mm_tensor *w, const mm_tensor *out,
                                     mm_conv_geom *g) {
    int nsp = (int)p->i[0];
    memset(g, 0, sizeof *g); /* padding too: the struct is part of cache keys */
    g->nsp = nsp;
    g->N = in->shape[0];
    g->C = in->shape[1];
    g->K = out->shape[1];
    g->G = p->i[10];
    for (int j = 0; j < 3; j++) {
        int sd = j - (3 - nsp);
        if (sd < 0) {
            g->in[j] = g->out[j] = g->k[j] = g->s[j] = g->d[j] = 1;
            g->p[j] = 0;
            continue;
        }
        g->in[j] = in->shape[2 + sd];
        g->out[j] = out->shape[2 + sd];
        g->k[j] = w ? w->shape[2 + sd] : p->i[14 + sd];
        g->s[j] = p->i[1 + sd];
        g->p[j] = p->i[4 + sd];
        g->d[j] = p->i[7 + sd];
    }
}

/* A pooling over planes: x [planes, in...] -> y [planes, out...]. */
typedef struct mm_pool_geom {
    int nsp;
    int64_t planes;
    int64_t in[3], out[3], k[3], s[3], p[3], d[3];
    bool adaptive, include_pad;
    int64_t divisor; /* 0: none */
} mm_pool_geom;

/* x: the pooled input's shape (ndim, shape), y: the output's. */
static inline void mm_pool_geom_make(const mm_op_params *p, int xnd,
                                     const int64_t *xs, const int64_t *ys,
                                     mm_pool_geom *g) {
    int nsp = (int)p->i[0];
    memset(g, 0, sizeof *g); /* padding too: the struct is part of cache keys */
    g->nsp = nsp;
    g->planes = 1;
    for (int d = 0; d < xnd - nsp; d++)
        g->planes *= xs[d];
    for (int j = 0; j < 3; j++) {
        int sd = j - (3 - nsp);
        if (sd < 0) {
            g->in[j] = g->out[j] = g->k[j] = g->s[j] = g->d[j] = 1;
            g->p[j] = 0;
            continue;
        }
        g->in[j] = xs[xnd - nsp + sd];
        g->out[j] = ys[xnd - nsp + sd];
        g->k[j] = p->i[1 + sd];
        g->s[j] = p->i[4 + sd];
        g->p[j] = p->i[7 + sd];
        g->d[j] = p->i[10 + sd];
    }
    g->adaptive = p->i[14] != 0;
    g->include_pad = p->i[15] != 0;
    g->divisor = p->i[16];
}

/* The positions a max window of output o covers along dim j: start, step
 * and count, clipped to the input (adaptive: torch's floor/ceil bounds). */
static inline void mm_pool_max_window(const mm_pool_geom *g, int j, int64_t o,
                                      int64_t *start, int64_t *step,
                                      int64_t *count) {
    int64_t I = g->in[j];
    if (g->adaptive) {
        int64_t O = g->out[j];
        *start = o * I / O;
        *step = 1;
        *count = ((o + 1) * I + O - 1) / O - *start;
        return;
    }
    int64_t s = o * g->s[j] - g->p[j], d = g->d[j], n = g->k[j];
    while (s < 0 && n > 0) {
        s += d;
        n--;
    }
    while (n > 0 && s + (n - 1) * d >= I)
        n--;
    *start = s;
    *step = d;
    *count = n;
}

/* The window of an average along dim j: [*start, *end) clipped to the
 * input, and the size that counts toward the divisor. */
static inline void mm_pool_avg_window(const mm_pool_geom *g, int j, int64_t o,
                                      int64_t *start, int64_t *end,
                                      int64_t *size) {
    int64_t I = g->in[j];
    if (g->adaptive) {
        int64_t O = g->out[j];
        *start = o * I / O;
        *end = ((o + 1) * I + O - 1) / O;
        *size = *end - *start;
        return;
    }
    int64_t s = o * g->s[j] - g->p[j];
    int64_t e = s + g->k[j];
    if (e > I + g->p[j])
        e = I + g->p[j];
    int64_t padded = e - s;
    if (s < 0)
        s = 0;
    if (e > I)
        e = I;
    *start = s;
    *end = e;
    *size = g->include_pad ? padded : e - s;
}

/* The average window of output (o0, o1, o2): [s[j], e[j]) along each dim.
 * Returns the divisor: divisor_override, else the counted size. */
static inline int64_t mm_pool_avg_box(const mm_pool_geom *g, int64_t o0,
                                      int64_t o1, int64_t o2, int64_t s[3],
                                      int64_t e[3]) {
    int64_t n[3];
    mm_pool_avg_window(g, 0, o0, &s[0], &e[0], &n[0]);
    mm_pool_avg_window(g, 1, o1, &s[1], &e[1], &n[1]);
    mm_pool_avg_window(g, 2, o2, &s[2], &e[2], &n[2]);
    return g->divisor ? g->divisor : n[0] * n[1] * n[2];
}

/* Variants of the pool family (mm_op.code). */
enum { MM_POOL_MAX, MM_POOL_MAX_INDICES, MM_POOL_AVG };

#endif
