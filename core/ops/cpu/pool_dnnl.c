/* Optimised CPU pooling: oneDNN pooling (v2) for f32 and bf16 forward
 * where its semantics are torch's (max without indices; averages whose
 * windows never cross the right padding, no divisor_override, not
 * adaptive), primitives cached; OpenMP loops over planes for the rest
 * (max with indices, adaptive, f64) and for both backward ops.
 *
 * Channels-last tensors ([N, sp..., C] in memory) run on oneDNN's
 * nwc/nhwc/ndhwc layouts (averages, bf16 max) or on loops whose inner loop
 * runs over C (max with or without indices, adaptive, the backward ops);
 * they visit each window in the plane loops' order, so both layouts give
 * bitwise the same values, indices and gradients. */
#include "../conv_pool.h"
#include "dnnl_util.h"
#include "mm/threads.h"
#include "vmath.h"

#include <math.h>
#include <string.h>

/* ---- oneDNN ------------------------------------------------------------- */

typedef struct pool_key {
    char op[8]; /* "pool" */
    int alg, dtype, nthreads;
    int channels_last; /* src and dst [N, sp..., C]; else [planes, 1, sp...] */
    int64_t C;         /* channels_last only */
    mm_pool_geom g;
    int64_t pad_r[3];
} pool_key;

static int pool_mds(const pool_key *k, dnnl_memory_desc_t *src,
                    dnnl_memory_desc_t *dst) {
    const mm_pool_geom *g = &k->g;
    int nsp = g->nsp, lead = 3 - nsp;
    dnnl_dims_t s = {g->planes, 1}, d = {g->planes, 1};
    if (k->channels_last) {
        s[0] = d[0] = g->planes / k->C;
        s[1] = d[1] = k->C;
    }
    for (int j = 0; j < nsp; j++) {
        s[2 + j] = g->in[lead + j];
        d[2 + j] = g->out[lead + j];
    }
    static const dnnl_format_tag_t plain[] = {dnnl_abc, dnnl_abcd, dnnl_abcde};
    /* nwc, nhwc, ndhwc: our channels-last tensors as they are */
    static const dnnl_format_tag_t cl[] = {dnnl_acb, dnnl_acdb, dnnl_acdeb};
    dnnl_format_tag_t tag = k->channels_last ? cl[nsp - 1] : plain[nsp - 1];
    dnnl_data_type_t dt = (dnnl_data_type_t)k->dtype;
    MM_CHECK_DNNL(dnnl_memory_desc_init_by_tag(src, nsp + 2, s, dt, tag),
                  "memory desc");
    MM_CHECK_DNNL(dnnl_memory_desc_init_by_tag(dst, nsp + 2, d, dt, tag),
                  "memory desc");
    return 0;
}

static int make_pool(void *vctx, dnnl_primitive_t *out) {
    const pool_key *k = vctx;
    const mm_pool_geom *g = &k->g;
    dnnl_memory_desc_t src, dst;
    MM_TRY(pool_mds(k, &src, &dst));
    dnnl_dims_t strides, kernel, dil, pl, pr;
    int lead = 3 - g->nsp;
    for (int j = 0; j < g->nsp; j++) {
        strides[j] = g->s[lead + j];
        kernel[j] = g->k[lead + j];
        dil[j] = g->d[lead + j] - 1;
        pl[j] = g->p[lead + j];
        pr[j] = k->pad_r[j];
    }
    dnnl_pooling_v2_desc_t desc;
    MM_CHECK_DNNL(dnnl_pooling_v2_forward_desc_init(
                      &desc, dnnl_forward_inference, (dnnl_alg_kind_t)k->alg,
                      &src, &dst, strides, kernel, dil, pl, pr),
                  "pooling desc");
    dnnl_engine_t eng = NULL;
    MM_TRY(mm_dnnl_engine(&eng));
    dnnl_primitive_desc_t pd;
    MM_CHECK_DNNL(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL),
                  "pooling");
    return mm_dnnl_primitive_take(pd, out, "pooling primitive");
}

static bool has_nan(const mm_tensor *x) {
    int64_t n = x->numel;
    bool nan = false;
    int nt = mm_get_num_threads();
    if (x->dtype == MM_BF16) {
        const uint16_t *p = MM_DATA(x, uint16_t);
#pragma omp parallel for reduction(|| : nan) num_threads(nt) if (n > MM_GRAIN)
        for (int64_t i = 0; i < n; i++)
            nan = nan || ((p[i] & 0x7f80) == 0x7f80 && (p[i] & 0x7f) != 0);
        return nan;
    }
    const float *p = MM_DATA(x, float);
#pragma omp parallel for simd reduction(||                                     \
                                        : nan)                                 \
    num_threads(nt) if (n > MM_GRAIN)
    for (int64_t i = 0; i < n; i++)
        nan = nan || p[i] != p[i];
    return nan;
}

/* channels_last: x and y are [N, sp..., C] (C = x->shape[1]). */
static int pool_dnnl(const mm_pool_geom *g, bool avg, bool channels_last,
                     const mm_tensor *x, mm_tensor *y) {
    if ((x->dtype != MM_F32 && x->dtype != MM_BF16) || y->numel == 0 ||
        g->adaptive || (avg && g->divisor))
        return MM_EUNSUPPORTED;
    /* oneDNN's max drops NaNs; torch's max pool propagates them */
    if (!avg && has_nan(x))
        return MM_EUNSUPPORTED;
    pool_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.op, "pool", 5);
    key.dtype = x->dtype == MM_BF16 ? dnnl_bf16 : dnnl_f32;
    key.alg = !avg             ? dnnl_pooling_max
              : g->include_pad ? dnnl_pooling_avg_include_padding
                               : dnnl_pooling_avg_exclude_padding;
    memcpy(&key.g, g, sizeof key.g);
    key.channels_last = channels_last;
    key.C = channels_last ? x->shape[1] : 0;
    int lead = 3 - g->nsp;
    for (int j = 0; j < g->nsp; j++) {
        int t = lead + j;
        int64_t span = (g->k[t] - 1) * g->d[t] + 1;
        int64_t pr = (g->out[t] - 1) * g->s[t] + span - g->in[t] - g->p[t];
        if (pr < 0)
            pr = 0;
        if ((g->in[t] + g->p[t] + pr - span) / g->s[t] + 1 != g->out[t])
            return MM_EUNSUPPORTED;
        /* oneDNN divides by the whole kernel; torch clips the window at
         * the right padding (ceil_mode's extra windows) */
        if (avg && g->include_pad &&
            (g->out[t] - 1) * g->s[t] - g->p[t] + g->k[t] > g->in[t] + g->p[t])
            return MM_EUNSUPPORTED;
        if (g->d[t] > 1) /* oneDNN runs dilated pooling in its ref code */
            return MM_EUNSUPPORTED;
        key.pad_r[j] = pr;
    }
    key.nthreads = mm_dnnl_threads();
    mm_dnnl_entry *e;
    MM_TRY(mm_dnnl_acquire(&key, sizeof key, make_pool, &key, &e));
    dnnl_memory_desc_t smd, dmd;
    int rc = pool_mds(&key, &smd, &dmd);
    if (rc == 0) {
        mm_dnnl_arg args[2] = {{DNNL_ARG_SRC, &smd, mm_tensor_data(x)},
                               {DNNL_ARG_DST, &dmd, mm_tensor_data(y)}};
        rc = mm_dnnl_run(mm_dnnl_entry_primitive(e), 2, args);
    }
    mm_dnnl_release(e);
    return rc;
}

/* ---- OpenMP loops over planes ------------------------------------------- */

#define IDX3(a, b, c, n) (((a) * (n)[1] + (b)) * (n)[2] + (c))

/* clang-format off */
#define POOL_LOOPS(T, SUFFIX)                                                  \
    static void max_pool_##SUFFIX(const mm_pool_geom *g, const T *x, T *y,     \
                                  int64_t *idx) {                              \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int nt = mm_get_num_threads();                                         \
        bool par = g->planes * osp > MM_GRAIN / 8;                             \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t pl = 0; pl < g->planes; pl++) {                           \
            const T *xp = x + pl * isp;                                        \
            for (int64_t o0 = 0; o0 < g->out[0]; o0++)                         \
                for (int64_t o1 = 0; o1 < g->out[1]; o1++)                     \
                    for (int64_t o2 = 0; o2 < g->out[2]; o2++) {               \
                        int64_t s[3], st[3], n[3];                             \
                        mm_pool_max_window(g, 0, o0, &s[0], &st[0], &n[0]);    \
                        mm_pool_max_window(g, 1, o1, &s[1], &st[1], &n[1]);    \
                        mm_pool_max_window(g, 2, o2, &s[2], &st[2], &n[2]);    \
                        T best = -INFINITY;                                    \
                        int64_t bi = IDX3(s[0], s[1], s[2], g->in);            \
                        for (int64_t a = 0; a < n[0]; a++)                     \
                            for (int64_t b = 0; b < n[1]; b++) {               \
                                int64_t row = IDX3(s[0] + a * st[0],           \
                                                   s[1] + b * st[1], s[2],     \
                                                   g->in);                     \
                                for (int64_t c = 0; c < n[2]; c++) {           \
                                    int64_t i = row + c * st[2];               \
                                    T v = xp[i];                               \
                                    if (v > best || isnan(v)) {                \
                                        best = v;                              \
                                        bi = i;                                \
                                    }                                          \
                                }                                              \
                            }                                                  \
                        int64_t o = pl * osp + IDX3(o0, o1, o2, g->out);       \
                        if (y)                                                 \
                            y[o] = best;                                       \
                        if (idx)                                               \
                            idx[o] = bi;                                       \
                    }                                                          \
        }                                                                      \
    }                                                                          \
    static void avg_pool_##SUFFIX(const mm_pool_geom *g, const T *x, T *y) {   \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int nt = mm_get_num_threads();                                         \
        bool par = g->planes * osp > MM_GRAIN / 8;                             \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t pl = 0; pl < g->planes; pl++) {                           \
            const T *xp = x + pl * isp;                                        \
            for (int64_t o0 = 0; o0 < g->out[0]; o0++)                         \
                for (int64_t o1 = 0; o1 < g->out[1]; o1++)                     \
                    for (int64_t o2 = 0; o2 < g->out[2]; o2++) {               \
                        int64_t s[3], e[3];                                    \
                        int64_t div = mm_pool_avg_box(g, o0, o1, o2, s, e);    \
                        T acc = 0;                                             \
                        for (int64_t a = s[0]; a < e[0]; a++)                  \
                            for (int64_t b = s[1]; b < e[1]; b++) {            \
                                const T *row = xp + IDX3(a, b, 0, g->in);      \
                                for (int64_t c = s[2]; c < e[2]; c++)          \
                                    acc += row[c];                             \
                            }                                                  \
                        y[pl * osp + IDX3(o0, o1, o2, g->out)] =               \
                            acc / (T)div;                                      \
                    }                                                          \
        }                                                                      \
    }                                                                          \
    static void max_bwd_##SUFFIX(int64_t planes, int64_t isp, int64_t osp,     \
                                 const T *gy, const int64_t *idx, T *gx) {     \
        int nt = mm_get_num_threads();                                         \
        bool par = planes * isp > MM_GRAIN;                                    \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t pl = 0; pl < planes; pl++) {                              \
            T *gp = gx + pl * isp;                                             \
            for (int64_t i = 0; i < isp; i++)                                  \
                gp[i] = 0;                                                     \
            for (int64_t o = 0; o < osp; o++)                                  \
                gp[idx[pl * osp + o]] += gy[pl * osp + o];                     \
        }                                                                      \
    }                                                                          \
    static void avg_bwd_##SUFFIX(const mm_pool_geom *g, const T *gy, T *gx) {  \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int nt = mm_get_num_threads();                                         \
        bool par = g->planes * isp > MM_GRAIN;                                 \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t pl = 0; pl < g->planes; pl++) {                           \
            T *gp = gx + pl * isp;                                             \
            for (int64_t i = 0; i < isp; i++)                                  \
                gp[i] = 0;                                                     \
            for (int64_t o0 = 0; o0 < g->out[0]; o0++)                         \
                for (int64_t o1 = 0; o1 < g->out[1]; o1++)                     \
                    for (int64_t o2 = 0; o2 < g->out[2]; o2++) {               \
                        int64_t s[3], e[3];                                    \
                        int64_t div = mm_pool_avg_box(g, o0, o1, o2, s, e);    \
                        T v = gy[pl * osp + IDX3(o0, o1, o2, g->out)] /        \
                              (T)div;                                          \
                        for (int64_t a = s[0]; a < e[0]; a++)                  \
                            for (int64_t b = s[1]; b < e[1]; b++) {            \
                                T *row = gp + IDX3(a, b, 0, g->in);            \
                                for (int64_t c = s[2]; c < e[2]; c++)          \
                                    row[c] += v;                               \
                            }                                                  \
                    }                                                          \
        }                                                                      \
    }

/* Average pooling over 2-D planes whose windows all lie inside the input
 * (no padding, no dilation): LeNet's AvgPool2d(2). oneDNN runs plain NCHW
 * pooling in its slow generic code, and the general loops above pay for a
 * window computation per output. Same summation order as the general loops,
 * so the results are bitwise the same. */
#define AVG_PLAIN_LOOPS(T, SUFFIX)                                             \
    static void avg_plain_##SUFFIX(const mm_pool_geom *g, const T *x, T *y) {  \
        int64_t IH = g->in[1], IW = g->in[2], OH = g->out[1], OW = g->out[2];  \
        int64_t KH = g->k[1], KW = g->k[2], SH = g->s[1], SW = g->s[2];        \
        T div = (T)(g->divisor ? g->divisor : KH * KW);                        \
        int64_t rows = g->planes * OH;                                         \
        int nt = mm_get_num_threads();                                         \
        bool par = rows * OW > MM_GRAIN / 8;                                   \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t r = 0; r < rows; r++) {                                   \
            const T *xr = x + (r / OH) * IH * IW + (r % OH) * SH * IW;         \
            T *yr = y + r * OW;                                                \
            for (int64_t ow = 0; ow < OW; ow++) {                              \
                T acc = 0;                                                     \
                for (int64_t a = 0; a < KH; a++)                               \
                    for (int64_t b = 0; b < KW; b++)                           \
                        acc += xr[a * IW + ow * SW + b];                       \
                yr[ow] = acc / div;                                            \
            }                                                                  \
        }                                                                      \
    }                                                                          \
    static void avg_plain_bwd_##SUFFIX(const mm_pool_geom *g, const T *gy,     \
                                       T *gx) {                                \
        int64_t IH = g->in[1], IW = g->in[2], OH = g->out[1], OW = g->out[2];  \
        int64_t KH = g->k[1], KW = g->k[2], SH = g->s[1], SW = g->s[2];        \
        T div = (T)(g->divisor ? g->divisor : KH * KW);                        \
        int nt = mm_get_num_threads();                                         \
        bool par = g->planes * IH * IW > MM_GRAIN;                             \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t pl = 0; pl < g->planes; pl++) {                           \
            T *gp = gx + pl * IH * IW;                                         \
            const T *gq = gy + pl * OH * OW;                                   \
            for (int64_t i = 0; i < IH * IW; i++)                              \
                gp[i] = 0;                                                     \
            for (int64_t oh = 0; oh < OH; oh++)                                \
                for (int64_t ow = 0; ow < OW; ow++) {                          \
                    T v = gq[oh * OW + ow] / div;                              \
                    T *row = gp + oh * SH * IW + ow * SW;                      \
                    for (int64_t a = 0; a < KH; a++)                           \
                        for (int64_t b = 0; b < KW; b++)                       \
                            row[a * IW + b] += v;                              \
                }                                                              \
        }                                                                      \
    }

/* clang-format on */

POOL_LOOPS(float, f32)
POOL_LOOPS(double, f64)
AVG_PLAIN_LOOPS(float, f32)
AVG_PLAIN_LOOPS(double, f64)

/* Does avg_plain handle g? Every window inside the input: no padding, no
 * dilation, no ceil-mode window hanging over the edge. */
static bool avg_plain_ok(const mm_pool_geom *g) {
    if (g->nsp != 2 || g->adaptive || g->in[0] != 1)
        return false;
    for (int t = 1; t < 3; t++)
        if (g->p[t] != 0 || g->d[t] != 1 ||
            (g->out[t] - 1) * g->s[t] + g->k[t] > g->in[t])
            return false;
    return true;
}

/* 2-d max pool without dilation over plain planes (f32, or bf16 read
 * through f32): oneDNN runs plain layouts in its simple_nchw code, several
 * times slower than this loop on a ResNet stem. NaN propagates as in
 * torch. */
static bool max_plain_ok(const mm_pool_geom *g, mm_dtype dt) {
    return g->nsp == 2 && !g->adaptive && g->in[0] == 1 && g->d[1] == 1 &&
           g->d[2] == 1 && (dt == MM_F32 || dt == MM_BF16);
}

static inline float bf16_load(uint16_t v) {
    union {
        uint32_t u;
        float f;
    } c = {(uint32_t)v << 16};
    return c.f;
}

/* clang-format off */
#define MAX_PLAIN(T, LOAD, SUFFIX)                                             \
    static void max_plain_##SUFFIX(const mm_pool_geom *g, const T *x, T *y) {  \
        int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];    \
        int nt = mm_get_num_threads();                                         \
        bool par = g->planes * OH * OW * g->k[1] * g->k[2] > MM_GRAIN;         \
        _Pragma("omp parallel for collapse(2) num_threads(nt) if (par)")       \
        for (int64_t pl = 0; pl < g->planes; pl++)                             \
            for (int64_t oh = 0; oh < OH; oh++) {                              \
                const T *xp = x + pl * H * W;                                  \
                T *yp = y + (pl * OH + oh) * OW;                               \
                int64_t h0 = oh * g->s[1] - g->p[1], h1 = h0 + g->k[1];        \
                h0 = h0 < 0 ? 0 : h0;                                          \
                h1 = h1 > H ? H : h1;                                          \
                for (int64_t ow = 0; ow < OW; ow++) {                          \
                    int64_t w0 = ow * g->s[2] - g->p[2], w1 = w0 + g->k[2];    \
                    w0 = w0 < 0 ? 0 : w0;                                      \
                    w1 = w1 > W ? W : w1;                                      \
                    float m = -INFINITY;                                       \
                    T best = xp[h0 * W + w0];                                  \
                    bool nan = false;                                          \
                    for (int64_t h = h0; h < h1 && !nan; h++)                  \
                        for (int64_t w = w0; w < w1 && !nan; w++) {            \
                            float v = LOAD(xp[h * W + w]);                     \
                            nan = v != v;                                      \
                            if (v > m || nan) {                                \
                                m = v;                                         \
                                best = xp[h * W + w];                          \
                            }                                                  \
                        }                                                      \
                    yp[ow] = best;                                             \
                }                                                              \
            }                                                                  \
    }
/* clang-format on */
#define LOAD_F32(v) (v)
MAX_PLAIN(float, LOAD_F32, f32)
MAX_PLAIN(uint16_t, bf16_load, bf16)

/* ---- channels-last loops ------------------------------------------------
 * x [N, sp..., C]: a task is one output pixel (forward) or one image
 * (backward) times a block of channels; the inner loops run over the block,
 * which stays in L1 (and the compiler's vector registers). */

enum { CL_BLOCK = 64 };

/* Channels per block: CL_BLOCK (C if fewer), halved while there would be
 * too few tasks for the threads (the backward of a small batch). */
static int64_t cl_block(int64_t tasks_per_block, int64_t C) {
    int64_t b = C < CL_BLOCK ? C : CL_BLOCK;
    int64_t want = 4 * (int64_t)mm_get_num_threads();
    while (b > 16 && tasks_per_block * ((C + b - 1) / b) < want)
        b /= 2;
    return b;
}

/* Output pixel o's coordinates. */
static inline void cl_pixel(const mm_pool_geom *g, int64_t o, int64_t op[3]) {
    op[2] = o % g->out[2];
    op[1] = (o / g->out[2]) % g->out[1];
    op[0] = o / (g->out[2] * g->out[1]);
}

/* clang-format off */
/* Max over one pixel's window for channels [c0, c0 + nc): values into y,
 * plane indices into idx (either may be NULL). The indices are kept as IT
 * (int32_t where the plane allows: half the vector work of int64_t). */
#define MAX_CL_PX(T, IT, SUFFIX)                                               \
    MM_CPU_CLONES                                                              \
    static void max_cl_px_##SUFFIX(const mm_pool_geom *g, const T *xn,         \
                                   int64_t C, const int64_t op[3], int64_t nc, \
                                   T *y, int64_t *idx) {                       \
        int64_t s[3], st[3], n[3];                                             \
        for (int j = 0; j < 3; j++)                                            \
            mm_pool_max_window(g, j, op[j], &s[j], &st[j], &n[j]);             \
        T best[CL_BLOCK];                                                      \
        IT bi[CL_BLOCK];                                                       \
        IT first = (IT)IDX3(s[0], s[1], s[2], g->in);                          \
        for (int64_t c = 0; c < nc; c++) {                                     \
            best[c] = -INFINITY;                                               \
            bi[c] = first;                                                     \
        }                                                                      \
        for (int64_t a = 0; a < n[0]; a++)                                     \
            for (int64_t b = 0; b < n[1]; b++)                                 \
                for (int64_t e = 0; e < n[2]; e++) {                           \
                    IT i = (IT)IDX3(s[0] + a * st[0], s[1] + b * st[1],        \
                                    s[2] + e * st[2], g->in);                  \
                    const T *xr = xn + (int64_t)i * C;                         \
                    _Pragma("omp simd")                                        \
                    for (int64_t c = 0; c < nc; c++) {                         \
                        T v = xr[c];                                           \
                        bool take = v > best[c] || v != v;                     \
                        best[c] = take ? v : best[c];                          \
                        bi[c] = take ? i : bi[c];                              \
                    }                                                          \
                }                                                              \
        if (y)                                                                 \
            memcpy(y, best, (size_t)nc * sizeof(T));                           \
        if (idx) {                                                             \
            _Pragma("omp simd")                                                \
            for (int64_t c = 0; c < nc; c++)                                   \
                idx[c] = bi[c];                                                \
        }                                                                      \
    }

MAX_CL_PX(float, int32_t, f32_i32)
MAX_CL_PX(float, int64_t, f32_i64)
MAX_CL_PX(double, int32_t, f64_i32)
MAX_CL_PX(double, int64_t, f64_i64)

#define CL_LOOPS(T, SUFFIX)                                                    \
    MM_CPU_CLONES                                                              \
    static void avg_cl_px_##SUFFIX(const mm_pool_geom *g, const T *xn,         \
                                   int64_t C, const int64_t op[3], int64_t nc, \
                                   T *y) {                                     \
        int64_t s[3], e[3];                                                    \
        T div = (T)mm_pool_avg_box(g, op[0], op[1], op[2], s, e);              \
        T acc[CL_BLOCK];                                                       \
        for (int64_t c = 0; c < nc; c++)                                       \
            acc[c] = 0;                                                        \
        for (int64_t a = s[0]; a < e[0]; a++)                                  \
            for (int64_t b = s[1]; b < e[1]; b++)                              \
                for (int64_t w = s[2]; w < e[2]; w++) {                        \
                    const T *xr = xn + IDX3(a, b, w, g->in) * C;               \
                    _Pragma("omp simd")                                        \
                    for (int64_t c = 0; c < nc; c++)                           \
                        acc[c] += xr[c];                                       \
                }                                                              \
        _Pragma("omp simd")                                                    \
        for (int64_t c = 0; c < nc; c++)                                       \
            y[c] = acc[c] / div;                                               \
    }                                                                          \
    /* avg (y only) or max (y and/or idx) of every pixel. */                  \
    static void pool_cl_##SUFFIX(const mm_pool_geom *g, int64_t C, bool avg,  \
                                 const T *x, T *y, int64_t *idx) {             \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int64_t N = g->planes / C;                                             \
        int64_t cb = cl_block(N * osp, C), nb = (C + cb - 1) / cb;             \
        int64_t tasks = N * osp * nb;                                          \
        int nt = mm_get_num_threads();                                         \
        bool par = g->planes * osp > MM_GRAIN / 8;                             \
        bool small = isp <= INT32_MAX;                                         \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t t = 0; t < tasks; t++) {                                  \
            int64_t c0 = (t % nb) * cb, r = t / nb;                            \
            int64_t n = r / osp, op[3];                                        \
            int64_t nc = C - c0 < cb ? C - c0 : cb;                            \
            cl_pixel(g, r % osp, op);                                          \
            const T *xn = x + n * isp * C + c0;                                \
            int64_t o = r * C + c0;                                            \
            if (avg)                                                           \
                avg_cl_px_##SUFFIX(g, xn, C, op, nc, y + o);                   \
            else if (small)                                                    \
                max_cl_px_##SUFFIX##_i32(g, xn, C, op, nc, y ? y + o : NULL,   \
                                         idx ? idx + o : NULL);                \
            else                                                               \
                max_cl_px_##SUFFIX##_i64(g, xn, C, op, nc, y ? y + o : NULL,   \
                                         idx ? idx + o : NULL);                \
        }                                                                      \
    }                                                                          \
    /* Zero the block's nc channels in rows [r0, r1) (a row: in[2]         \
     * pixels) of one image's gradient. */                                   \
    static void zero_cl_##SUFFIX(T *gn, int64_t r0, int64_t r1, int64_t W,     \
                                 int64_t C, int64_t nc) {                      \
        if (nc == C) {                                                         \
            size_t n = (size_t)((r1 - r0) * W * C);                            \
            memset(gn + r0 * W * C, 0, n * sizeof(T));                         \
            return;                                                            \
        }                                                                      \
        for (int64_t i = r0 * W; i < r1 * W; i++)                              \
            memset(gn + i * C, 0, (size_t)nc * sizeof(T));                     \
    }                                                                          \
    /* Scatter-add by index, output row by output row; the input rows a     \
     * row's windows reach are zeroed just before, so the rows being summed  \
     * stay in cache. */                                                     \
    MM_CPU_CLONES                                                              \
    static void max_bwd_cl_blk_##SUFFIX(const mm_pool_geom *g, int64_t C,      \
                                        int64_t nc, const T *gy,               \
                                        const int64_t *idx, T *gx) {           \
        int64_t W = g->in[2], OW = g->out[2], rows = g->in[0] * g->in[1];     \
        int64_t zeroed = 0;                                                    \
        for (int64_t o0 = 0; o0 < g->out[0]; o0++)                             \
            for (int64_t o1 = 0; o1 < g->out[1]; o1++) {                       \
                int64_t s0, st0, n0, s1, st1, n1;                              \
                mm_pool_max_window(g, 0, o0, &s0, &st0, &n0);                  \
                mm_pool_max_window(g, 1, o1, &s1, &st1, &n1);                  \
                int64_t last = (s0 + (n0 - 1) * st0) * g->in[1] + s1 +         \
                               (n1 - 1) * st1 + 1;                             \
                if (n0 > 0 && n1 > 0 && last > zeroed) {                       \
                    zero_cl_##SUFFIX(gx, zeroed, last, W, C, nc);              \
                    zeroed = last;                                             \
                }                                                              \
                int64_t o = (o0 * g->out[1] + o1) * OW;                        \
                for (int64_t ow = 0; ow < OW; ow++) {                          \
                    const T *gr = gy + (o + ow) * C;                           \
                    const int64_t *ir = idx + (o + ow) * C;                    \
                    for (int64_t c = 0; c < nc; c++)                           \
                        gx[ir[c] * C + c] += gr[c];                            \
                }                                                              \
            }                                                                  \
        if (zeroed < rows)                                                     \
            zero_cl_##SUFFIX(gx, zeroed, rows, W, C, nc);                      \
    }                                                                          \
    static void max_bwd_cl_##SUFFIX(const mm_pool_geom *g, int64_t C,          \
                                    const T *gy, const int64_t *idx, T *gx) {  \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int64_t N = g->planes / C;                                             \
        int64_t cb = cl_block(N, C), nb = (C + cb - 1) / cb;                   \
        int nt = mm_get_num_threads();                                         \
        bool par = N * C * isp > MM_GRAIN;                                     \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t t = 0; t < N * nb; t++) {                                 \
            int64_t n = t / nb, c0 = (t % nb) * cb;                            \
            int64_t nc = C - c0 < cb ? C - c0 : cb;                            \
            max_bwd_cl_blk_##SUFFIX(g, C, nc, gy + n * osp * C + c0,           \
                                    idx + n * osp * C + c0,                    \
                                    gx + n * isp * C + c0);                    \
        }                                                                      \
    }                                                                          \
    MM_CPU_CLONES                                                              \
    static void avg_bwd_cl_blk_##SUFFIX(const mm_pool_geom *g, int64_t C,      \
                                        int64_t nc, const T *gy, T *gx) {      \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        zero_cl_##SUFFIX(gx, 0, g->in[0] * g->in[1], g->in[2], C, nc);         \
        for (int64_t o = 0; o < osp; o++) {                                    \
            int64_t op[3], s[3], e[3];                                         \
            cl_pixel(g, o, op);                                                \
            T div = (T)mm_pool_avg_box(g, op[0], op[1], op[2], s, e);          \
            T v[CL_BLOCK];                                                     \
            _Pragma("omp simd")                                                \
            for (int64_t c = 0; c < nc; c++)                                   \
                v[c] = gy[o * C + c] / div;                                    \
            for (int64_t a = s[0]; a < e[0]; a++)                              \
                for (int64_t b = s[1]; b < e[1]; b++)                          \
                    for (int64_t w = s[2]; w < e[2]; w++) {                    \
                        T *row = gx + IDX3(a, b, w, g->in) * C;                \
                        _Pragma("omp simd")                                    \
                        for (int64_t c = 0; c < nc; c++)                       \
                            row[c] += v[c];                                    \
                    }                                                          \
        }                                                                      \
    }                                                                          \
    static void avg_bwd_cl_##SUFFIX(const mm_pool_geom *g, int64_t C,          \
                                    const T *gy, T *gx) {                      \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int64_t N = g->planes / C;                                             \
        int64_t cb = cl_block(N, C), nb = (C + cb - 1) / cb;                   \
        int nt = mm_get_num_threads();                                         \
        bool par = g->planes * isp > MM_GRAIN;                                 \
        _Pragma("omp parallel for num_threads(nt) if (par)")                   \
        for (int64_t t = 0; t < N * nb; t++) {                                 \
            int64_t n = t / nb, c0 = (t % nb) * cb;                            \
            int64_t nc = C - c0 < cb ? C - c0 : cb;                            \
            avg_bwd_cl_blk_##SUFFIX(g, C, nc, gy + n * osp * C + c0,           \
                                    gx + n * isp * C + c0);                    \
        }                                                                      \
    }
/* clang-format on */

CL_LOOPS(float, f32)
CL_LOOPS(double, f64)

/* t in the layout a kernel reads (channels-last or contiguous): t itself,
 * or a copy when the dispatcher let through the other one. */
static int as_layout(const mm_tensor *t, bool channels_last, mm_tensor **out) {
    if (channels_last ? mm_tensor_is_channels_last(t)
                      : mm_tensor_is_contiguous(t)) {
        *out = mm_tensor_retain((mm_tensor *)t);
        return 0;
    }
    MM_TRY(mm_tensor_new_owned_format(
        t->ndim, t->shape, t->dtype, t->device,
        channels_last ? MM_FORMAT_CHANNELS_LAST : MM_FORMAT_CONTIGUOUS, out));
    int rc = mm_copy_strided(*out, t);
    if (rc < 0)
        mm_tensor_release(*out);
    return rc;
}

/* A channels-last x [N, C, sp...] into the channels-last y: the same
 * kernels, in the same cases, as the planes below, so results match. */
static int pool_channels_last(mm_op_ctx *ctx, const mm_pool_geom *g) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *y = ctx->out;
    int code = ctx->op->code;
    bool f32 = x->dtype == MM_F32, avg = code == MM_POOL_AVG;
    int64_t C = x->shape[1];
    if (y->numel == 0)
        return 0;
    /* where the planes run avg_plain, this runs the loop (same sums) */
    bool dnnl = avg ? !((f32 || x->dtype == MM_F64) && avg_plain_ok(g))
                    : code == MM_POOL_MAX && !ctx->recording && !f32 &&
                          x->dtype != MM_F64;
    if (dnnl) {
        int rc = pool_dnnl(g, avg, true, x, y);
        if (rc != MM_EUNSUPPORTED)
            return rc;
        mm_error_clear();
    }
    if (!f32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    if (avg) {
        if (f32)
            pool_cl_f32(g, C, true, MM_DATA(x, float), MM_DATA(y, float), NULL);
        else
            pool_cl_f64(g, C, true, MM_DATA(x, double), MM_DATA(y, double),
                        NULL);
        return 0;
    }
    mm_tensor *idx = NULL;
    if (code == MM_POOL_MAX_INDICES)
        idx = mm_tensor_retain(y);
    else if (ctx->recording)
        MM_TRY(mm_tensor_new_owned_format(y->ndim, y->shape, MM_I64, x->device,
                                          MM_FORMAT_CHANNELS_LAST, &idx));
    int64_t *ip = idx ? MM_DATA(idx, int64_t) : NULL;
    bool vals = code == MM_POOL_MAX;
    if (f32)
        pool_cl_f32(g, C, false, MM_DATA(x, float),
                    vals ? MM_DATA(y, float) : NULL, ip);
    else
        pool_cl_f64(g, C, false, MM_DATA(x, double),
                    vals ? MM_DATA(y, double) : NULL, ip);
    if (!vals)
        mm_tensor_release(idx);
    else if (idx)
        ctx->saved[ctx->n_saved++] = idx;
    return 0;
}

/* A contiguous x: planes [N * C, sp...]. */
static int pool_planes(mm_op_ctx *ctx, const mm_tensor *x,
                       const mm_pool_geom *g) {
    mm_tensor *y = ctx->out;
    int code = ctx->op->code;
    bool f32 = x->dtype == MM_F32;
    if (code == MM_POOL_AVG && (f32 || x->dtype == MM_F64) && avg_plain_ok(g)) {
        if (f32)
            avg_plain_f32(g, MM_DATA(x, float), MM_DATA(y, float));
        else
            avg_plain_f64(g, MM_DATA(x, double), MM_DATA(y, double));
        return 0;
    }
    if (code == MM_POOL_MAX && !ctx->recording && max_plain_ok(g, x->dtype)) {
        if (f32)
            max_plain_f32(g, MM_DATA(x, float), MM_DATA(y, float));
        else
            max_plain_bf16(g, MM_DATA(x, uint16_t), MM_DATA(y, uint16_t));
        return 0;
    }
    if (code == MM_POOL_AVG || (code == MM_POOL_MAX && !ctx->recording)) {
        int rc = pool_dnnl(g, code == MM_POOL_AVG, false, x, y);
        if (rc != MM_EUNSUPPORTED)
            return rc;
        mm_error_clear();
    }
    if (x->dtype != MM_F32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    if (code == MM_POOL_AVG) {
        if (f32)
            avg_pool_f32(g, MM_DATA(x, float), MM_DATA(y, float));
        else
            avg_pool_f64(g, MM_DATA(x, double), MM_DATA(y, double));
        return 0;
    }
    mm_tensor *idx = NULL;
    if (code == MM_POOL_MAX_INDICES) {
        idx = mm_tensor_retain(y);
    } else if (ctx->recording) {
        MM_TRY(mm_tensor_new_owned(y->ndim, y->shape, MM_I64, x->device, &idx));
    }
    int64_t *ip = idx ? MM_DATA(idx, int64_t) : NULL;
    if (code == MM_POOL_MAX_INDICES) {
        if (f32)
            max_pool_f32(g, MM_DATA(x, float), NULL, ip);
        else
            max_pool_f64(g, MM_DATA(x, double), NULL, ip);
        mm_tensor_release(idx);
        return 0;
    }
    if (f32)
        max_pool_f32(g, MM_DATA(x, float), MM_DATA(y, float), ip);
    else
        max_pool_f64(g, MM_DATA(x, double), MM_DATA(y, double), ip);
    if (idx)
        ctx->saved[ctx->n_saved++] = idx;
    return 0;
}

int mm_cpu_pool(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_pool_geom g;
    mm_pool_geom_make(ctx->params, x->ndim, x->shape, ctx->out->shape, &g);
    if (ctx->out_format == MM_FORMAT_CHANNELS_LAST)
        return pool_channels_last(ctx, &g);
    /* an unbatched input whose dims happen to read as channels-last */
    mm_tensor *xc;
    MM_TRY(as_layout(x, false, &xc));
    int rc = pool_planes(ctx, xc, &g);
    mm_tensor_release(xc);
    return rc;
}

int mm_cpu_max_pool_backward(mm_op_ctx *ctx) {
    mm_tensor *gx = ctx->out;
    if (gx->dtype != MM_F32 && gx->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    bool cl = ctx->out_format == MM_FORMAT_CHANNELS_LAST;
    mm_tensor *gy, *idx;
    MM_TRY(as_layout(ctx->inputs[0], cl, &gy));
    int rc = as_layout(ctx->inputs[1], cl, &idx);
    if (rc < 0) {
        mm_tensor_release(gy);
        return rc;
    }
    int nsp = (int)ctx->params->i[0];
    int64_t isp = 1, osp = 1;
    for (int j = 0; j < nsp; j++) {
        isp *= gx->shape[gx->ndim - nsp + j];
        osp *= gy->shape[gy->ndim - nsp + j];
    }
    int64_t planes = isp ? gx->numel / isp : 0;
    bool f32 = gx->dtype == MM_F32;
    if (cl && planes > 0) {
        mm_pool_geom g;
        mm_pool_geom_make(ctx->params, gx->ndim, gx->shape, gy->shape, &g);
        int64_t C = gx->shape[1];
        if (f32)
            max_bwd_cl_f32(&g, C, MM_DATA(gy, float), MM_DATA(idx, int64_t),
                           MM_DATA(gx, float));
        else
            max_bwd_cl_f64(&g, C, MM_DATA(gy, double), MM_DATA(idx, int64_t),
                           MM_DATA(gx, double));
    } else if (f32) {
        max_bwd_f32(planes, isp, osp, MM_DATA(gy, float), MM_DATA(idx, int64_t),
                    MM_DATA(gx, float));
    } else {
        max_bwd_f64(planes, isp, osp, MM_DATA(gy, double),
                    MM_DATA(idx, int64_t), MM_DATA(gx, double));
    }
    mm_tensor_release(gy);
    mm_tensor_release(idx);
    return 0;
}

static void avg_pool_backward_run(const mm_pool_geom *g, bool cl, int64_t C,
                                  const mm_tensor *gy, mm_tensor *gx) {
    bool f32 = gx->dtype == MM_F32;
    if (cl) {
        if (f32)
            avg_bwd_cl_f32(g, C, MM_DATA(gy, float), MM_DATA(gx, float));
        else
            avg_bwd_cl_f64(g, C, MM_DATA(gy, double), MM_DATA(gx, double));
    } else if (avg_plain_ok(g)) {
        if (f32)
            avg_plain_bwd_f32(g, MM_DATA(gy, float), MM_DATA(gx, float));
        else
            avg_plain_bwd_f64(g, MM_DATA(gy, double), MM_DATA(gx, double));
    } else if (f32) {
        avg_bwd_f32(g, MM_DATA(gy, float), MM_DATA(gx, float));
    } else {
        avg_bwd_f64(g, MM_DATA(gy, double), MM_DATA(gx, double));
    }
}

int mm_cpu_avg_pool_backward(mm_op_ctx *ctx) {
    mm_tensor *gx = ctx->out;
    if (gx->dtype != MM_F32 && gx->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    bool cl = ctx->out_format == MM_FORMAT_CHANNELS_LAST;
    mm_tensor *gy;
    MM_TRY(as_layout(ctx->inputs[0], cl, &gy));
    mm_pool_geom g;
    mm_pool_geom_make(ctx->params, gx->ndim, gx->shape, gy->shape, &g);
    if (gx->numel > 0)
        avg_pool_backward_run(&g, cl, cl ? gx->shape[1] : 0, gy, gx);
    mm_tensor_release(gy);
    return 0;
}
