/* Optimised CPU pooling: oneDNN pooling (v2) for f32 and bf16 forward
 * where its semantics are torch's (max without indices; averages whose
 * windows never cross the right padding, no divisor_override, not
 * adaptive), primitives cached; OpenMP loops over planes for the rest
 * (max with indices, adaptive, f64) and for both backward ops. */
#include "../conv_pool.h"
#include "dnnl_util.h"
#include "mm/threads.h"

#include <math.h>
#include <string.h>

/* ---- oneDNN ------------------------------------------------------------- */

typedef struct pool_key {
    char op[8]; /* "pool" */
    int alg, dtype, nthreads;
    mm_pool_geom g;
    int64_t pad_r[3];
} pool_key;

static int pool_mds(const pool_key *k, dnnl_memory_desc_t *src,
                    dnnl_memory_desc_t *dst) {
    const mm_pool_geom *g = &k->g;
    int nsp = g->nsp, lead = 3 - nsp;
    dnnl_dims_t s = {g->planes, 1}, d = {g->planes, 1};
    for (int j = 0; j < nsp; j++) {
        s[2 + j] = g->in[lead + j];
        d[2 + j] = g->out[lead + j];
    }
    static const dnnl_format_tag_t tags[] = {dnnl_abc, dnnl_abcd, dnnl_abcde};
    dnnl_data_type_t dt = (dnnl_data_type_t)k->dtype;
    MM_CHECK_DNNL(
        dnnl_memory_desc_init_by_tag(src, nsp + 2, s, dt, tags[nsp - 1]),
        "memory desc");
    MM_CHECK_DNNL(
        dnnl_memory_desc_init_by_tag(dst, nsp + 2, d, dt, tags[nsp - 1]),
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

static int pool_dnnl(const mm_pool_geom *g, bool avg, const mm_tensor *x,
                     mm_tensor *y) {
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

int mm_cpu_pool(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *y = ctx->out;
    mm_pool_geom g;
    mm_pool_geom_make(ctx->params, x->ndim, x->shape, y->shape, &g);
    int code = ctx->op->code;
    bool f32 = x->dtype == MM_F32;
    if (code == MM_POOL_AVG && (f32 || x->dtype == MM_F64) &&
        avg_plain_ok(&g)) {
        if (f32)
            avg_plain_f32(&g, MM_DATA(x, float), MM_DATA(y, float));
        else
            avg_plain_f64(&g, MM_DATA(x, double), MM_DATA(y, double));
        return 0;
    }
    if (code == MM_POOL_MAX && !ctx->recording &&
        max_plain_ok(&g, x->dtype)) {
        if (f32)
            max_plain_f32(&g, MM_DATA(x, float), MM_DATA(y, float));
        else
            max_plain_bf16(&g, MM_DATA(x, uint16_t), MM_DATA(y, uint16_t));
        return 0;
    }
    if (code == MM_POOL_AVG || (code == MM_POOL_MAX && !ctx->recording)) {
        int rc = pool_dnnl(&g, code == MM_POOL_AVG, x, y);
        if (rc != MM_EUNSUPPORTED)
            return rc;
        mm_error_clear();
    }
    if (x->dtype != MM_F32 && x->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    if (code == MM_POOL_AVG) {
        if (f32)
            avg_pool_f32(&g, MM_DATA(x, float), MM_DATA(y, float));
        else
            avg_pool_f64(&g, MM_DATA(x, double), MM_DATA(y, double));
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
            max_pool_f32(&g, MM_DATA(x, float), NULL, ip);
        else
            max_pool_f64(&g, MM_DATA(x, double), NULL, ip);
        mm_tensor_release(idx);
        return 0;
    }
    if (f32)
        max_pool_f32(&g, MM_DATA(x, float), MM_DATA(y, float), ip);
    else
        max_pool_f64(&g, MM_DATA(x, double), MM_DATA(y, double), ip);
    if (idx)
        ctx->saved[ctx->n_saved++] = idx;
    return 0;
}

int mm_cpu_max_pool_backward(mm_op_ctx *ctx) {
    const mm_tensor *gy = ctx->inputs[0], *idx = ctx->inputs[1];
    mm_tensor *gx = ctx->out;
    if (gx->dtype != MM_F32 && gx->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    int nsp = (int)ctx->params->i[0];
    int64_t isp = 1, osp = 1;
    for (int j = 0; j < nsp; j++) {
        isp *= gx->shape[gx->ndim - nsp + j];
        osp *= gy->shape[gy->ndim - nsp + j];
    }
    int64_t planes = isp ? gx->numel / isp : 0;
    if (gx->dtype == MM_F32)
        max_bwd_f32(planes, isp, osp, MM_DATA(gy, float), MM_DATA(idx, int64_t),
                    MM_DATA(gx, float));
    else
        max_bwd_f64(planes, isp, osp, MM_DATA(gy, double),
                    MM_DATA(idx, int64_t), MM_DATA(gx, double));
    return 0;
}

int mm_cpu_avg_pool_backward(mm_op_ctx *ctx) {
    const mm_tensor *gy = ctx->inputs[0];
    mm_tensor *gx = ctx->out;
    if (gx->dtype != MM_F32 && gx->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    mm_pool_geom g;
    mm_pool_geom_make(ctx->params, gx->ndim, gx->shape, gy->shape, &g);
    if (avg_plain_ok(&g)) {
        if (gx->dtype == MM_F32)
            avg_plain_bwd_f32(&g, MM_DATA(gy, float), MM_DATA(gx, float));
        else
            avg_plain_bwd_f64(&g, MM_DATA(gy, double), MM_DATA(gx, double));
        return 0;
    }
    if (gx->dtype == MM_F32)
        avg_bwd_f32(&g, MM_DATA(gy, float), MM_DATA(gx, float));
    else
        avg_bwd_f64(&g, MM_DATA(gy, double), MM_DATA(gx, double));
    return 0;
}
