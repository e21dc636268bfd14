/* Optimised CPU kernels of the elementwise family: typed loops on the
 * strided iterator for f32 and f64 (comparisons also i64, logical ops also
 * bool, where any dtype), with the contiguous and scalar-broadcast cases
 * written out so the compiler vectorises them (`omp simd`: -O2 alone
 * vectorises almost nothing). f32 computes in float, as
 * PyTorch's kernels do; bf16 and f16 run the f32 loops on converted blocks
 * (half_cpu.h). Other cases go to the reference (MM_EUNSUPPORTED).
 *
 * <tgmath.h>: exp, erf, tanh, ... pick the float or double function from
 * the argument, so one expression serves both dtypes. */
#include "../elementwise_internal.h"
#include "half_cpu.h"

#include <tgmath.h>

typedef struct ew_params {
    double p0, p1;
} ew_params;

/* The formulas, once per type (S: f32 / f64). They match the reference's
 * (elementwise.c) and PyTorch's CPU kernels. */
#define EW_MATH(T, S)                                                          \
    static inline T fn_sigmoid_##S(T x) { return (T)1 / ((T)1 + exp(-x)); }    \
    static inline T fn_relu6_##S(T x) {                                        \
        return x < (T)0 ? (T)0 : x > (T)6 ? (T)6 : x;                          \
    }                                                                          \
    static inline T fn_gelu_##S(T x) {                                         \
        return (T)0.5 * x * ((T)1 + erf(x * (T)M_SQRT1_2));                    \
    }                                                                          \
    static inline T fn_gelu_tanh_##S(T x) {                                    \
        const T k = (T)(M_SQRT2 * M_2_SQRTPI * 0.5), c = (T)0.044715;          \
        return (T)0.5 * x * ((T)1 + tanh(k * (x + c * x * x * x)));            \
    }                                                                          \
    static inline T fn_gelu_bw_##S(T g, T x) {                                 \
        const T a = (T)(M_2_SQRTPI * M_SQRT1_2 * 0.5);                         \
        T cdf = (T)0.5 * ((T)1 + erf(x * (T)M_SQRT1_2));                       \
        return g * (cdf + x * a * exp((T)-0.5 * x * x));                       \
    }                                                                          \
    static inline T fn_gelu_tanh_bw_##S(T g, T x) {                            \
        const T k = (T)(M_SQRT2 * M_2_SQRTPI * 0.5), c = (T)0.044715;          \
        T t = tanh(k * (x + c * x * x * x));                                   \
        return g * ((T)0.5 * ((T)1 + t) + (T)0.5 * x * ((T)1 - t * t) * k *    \
                                              ((T)1 + (T)3 * c * x * x));      \
    }                                                                          \
    static inline T fn_silu_bw_##S(T g, T x) {                                 \
        T s = fn_sigmoid_##S(x);                                               \
        return g * s * ((T)1 + x * ((T)1 - s));                                \
    }                                                                          \
    static inline T fn_mish_##S(T x) { return x * tanh(log1p(exp(x))); }       \
    static inline T fn_mish_bw_##S(T g, T x) {                                 \
        T t = tanh(log1p(exp(x)));                                             \
        return g * (t + x * fn_sigmoid_##S(x) * ((T)1 - t * t));               \
    }                                                                          \
    static inline T fn_softplus_bw_##S(T g, T x, T beta, T threshold) {        \
        T z = exp(x * beta);                                                   \
        return x * beta > threshold ? g : g * z / (z + (T)1);                  \
    }                                                                          \
    /* x > 0 ? x : x slope, as x (x > 0 ? one : slope) with one == 1 at        \
     * run time: GCC neither vectorises a conditional multiply (it may         \
     * trap) nor, with a literal 1, keeps the multiply unconditional.          \
     * x 1 == x exactly, NaN and -0 included. */                               \
    static inline T fn_leaky_##S(T x, T slope, T one) {                        \
        return x * (x > (T)0 ? one : slope);                                   \
    }                                                                          \
    static inline T fn_hardswish_bw_##S(T g, T x) {                            \
        T mid = g * (x / (T)3 + (T)0.5);                                       \
        return x < (T)-3 ? (T)0 : x >= (T)3 ? g : mid;                         \
    }                                                                          \
    static inline T fn_hardsigmoid_bw_##S(T g, T x) {                          \
        T mid = g / (T)6;                                                      \
        return x > (T)-3 && x < (T)3 ? mid : (T)0;                             \
    }                                                                          \
    static inline T fn_clamp_##S(T x, T lo, T hi) {                            \
        T v = x < lo ? lo : x;                                                 \
        return v > hi ? hi : v;                                                \
    }                                                                          \
    static inline T fn_maximum_##S(T a, T b) {                                 \
        return a != a ? a : b != b ? b : a < b ? b : a;                        \
    }                                                                          \
    static inline T fn_minimum_##S(T a, T b) {                                 \
        return a != a ? a : b != b ? b : b < a ? b : a;                        \
    }

EW_MATH(float, f32)
EW_MATH(double, f64)

/* ---- loops -------------------------------------------------------------- */

/* x: the input element (TI), p0/p1: the params as TP; EXPR gives TO. */
#define LOOP1(NAME, TI, TO, TP, EXPR)                                          \
    static void NAME(char **d, const int64_t *s, int64_t n, void *vctx) {      \
        const ew_params *c_ = vctx;                                            \
        const TP p0 = (TP)c_->p0, p1 = (TP)c_->p1;                             \
        (void)p0;                                                              \
        (void)p1;                                                              \
        if (s[0] == (int64_t)sizeof(TO) && s[1] == (int64_t)sizeof(TI)) {      \
            TO *o = (TO *)d[0];                                                \
            const TI *px = (const TI *)d[1];                                   \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {              \
                TI x = px[i];                                                  \
                o[i] = (TO)(EXPR);                                             \
            }                                                                  \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++) {                                  \
                TI x = *(const TI *)(d[1] + i * s[1]);                         \
                *(TO *)(d[0] + i * s[0]) = (TO)(EXPR);                         \
            }                                                                  \
        }                                                                      \
    }

/* a, b: the input elements (TI). */
#define LOOP2(NAME, TI, TO, TP, EXPR)                                          \
    static void NAME(char **d, const int64_t *s, int64_t n, void *vctx) {      \
        const ew_params *c_ = vctx;                                            \
        const TP p0 = (TP)c_->p0, p1 = (TP)c_->p1;                             \
        (void)p0;                                                              \
        (void)p1;                                                              \
        const int64_t zo = (int64_t)sizeof(TO), zi = (int64_t)sizeof(TI);      \
        TO *o = (TO *)d[0];                                                    \
        if (s[0] == zo && s[1] == zi && s[2] == zi) {                          \
            const TI *pa = (const TI *)d[1], *pb = (const TI *)d[2];           \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {              \
                TI a = pa[i], b = pb[i];                                       \
                o[i] = (TO)(EXPR);                                             \
            }                                                                  \
        } else if (s[0] == zo && s[1] == zi && s[2] == 0) {                    \
            const TI *pa = (const TI *)d[1];                                   \
            const TI b = *(const TI *)d[2];                                    \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {              \
                TI a = pa[i];                                                  \
                o[i] = (TO)(EXPR);                                             \
            }                                                                  \
        } else if (s[0] == zo && s[1] == 0 && s[2] == zi) {                    \
            const TI a = *(const TI *)d[1];                                    \
            const TI *pb = (const TI *)d[2];                                   \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {              \
                TI b = pb[i];                                                  \
                o[i] = (TO)(EXPR);                                             \
            }                                                                  \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++) {                                  \
                TI a = *(const TI *)(d[1] + i * s[1]),                         \
                   b = *(const TI *)(d[2] + i * s[2]);                         \
                *(TO *)(d[0] + i * s[0]) = (TO)(EXPR);                         \
            }                                                                  \
        }                                                                      \
    }

/* clang-format off */
#define UNARY_LOOPS(T, S)                                                      \
    LOOP1(abs_##S, T, T, T, fabs(x))                                           \
    LOOP1(log1p_##S, T, T, T, log1p(x))                                        \
    LOOP1(sqrt_##S, T, T, T, sqrt(x))                                          \
    LOOP1(rsqrt_##S, T, T, T, (T)1 / sqrt(x))                                  \
    LOOP1(sin_##S, T, T, T, sin(x))                                            \
    LOOP1(cos_##S, T, T, T, cos(x))                                            \
    LOOP1(floor_##S, T, T, T, floor(x))                                        \
    LOOP1(ceil_##S, T, T, T, ceil(x))                                          \
    LOOP1(round_##S, T, T, T, nearbyint(x))                                    \
    LOOP1(sign_##S, T, T, T, (x > (T)0) - (x < (T)0))                          \
    LOOP1(erf_##S, T, T, T, erf(x))                                            \
    LOOP1(pow_##S, T, T, T, pow(x, p0))                                        \
    LOOP1(pow1_##S, T, T, T, x)                                                \
    LOOP1(pow2_##S, T, T, T, x * x)                                            \
    LOOP1(pow3_##S, T, T, T, x * x * x)                                        \
    LOOP1(pow_half_##S, T, T, T, sqrt(x))                                      \
    LOOP1(pow_mhalf_##S, T, T, T, (T)1 / sqrt(x))                              \
    LOOP1(pow_m1_##S, T, T, T, (T)1 / x)                                       \
    LOOP1(pow_m2_##S, T, T, T, (T)1 / (x * x))                                 \
    LOOP1(clamp_##S, T, T, T, fn_clamp_##S(x, p0, p1))                         \
    LOOP1(clamp_min_##S, T, T, T, x < p0 ? p0 : x)                             \
    LOOP1(clamp_max_##S, T, T, T, x > p1 ? p1 : x)                             \
    LOOP1(relu6_##S, T, T, T, fn_relu6_##S(x))                                 \
    LOOP1(leaky_relu_##S, T, T, T, fn_leaky_##S(x, p0, p1))                    \
    LOOP1(elu_##S, T, T, T, x > (T)0 ? x : p0 * expm1(x))                      \
    LOOP1(gelu_##S, T, T, T, fn_gelu_##S(x))                                   \
    LOOP1(gelu_tanh_##S, T, T, T, fn_gelu_tanh_##S(x))                         \
    LOOP1(silu_##S, T, T, T, x / ((T)1 + exp(-x)))                             \
    LOOP1(hardswish_##S, T, T, T, x * fn_relu6_##S(x + (T)3) / (T)6)           \
    LOOP1(hardsigmoid_##S, T, T, T, fn_relu6_##S(x + (T)3) / (T)6)             \
    LOOP1(mish_##S, T, T, T, fn_mish_##S(x))                                   \
    LOOP1(softplus_##S, T, T, T, x * p0 > p1 ? x : log1p(exp(x * p0)) / p0)    \
    LOOP1(logical_not_##S, T, uint8_t, T, x == (T)0)                           \
    LOOP2(powt_##S, T, T, T, pow(a, b))                                        \
    LOOP2(maximum_##S, T, T, T, fn_maximum_##S(a, b))                          \
    LOOP2(minimum_##S, T, T, T, fn_minimum_##S(a, b))                          \
    LOOP2(prelu_##S, T, T, T, fn_leaky_##S(a, b, p1))                          \
    LOOP2(relu6_bw_##S, T, T, T, b <= (T)0 || b >= (T)6 ? (T)0 : a)            \
    LOOP2(leaky_relu_bw_##S, T, T, T, a * (b > (T)0 ? p1 : p0))                \
    LOOP2(elu_bw_##S, T, T, T, b <= (T)0 ? a * p0 * exp(b) : a)                \
    LOOP2(gelu_bw_##S, T, T, T, fn_gelu_bw_##S(a, b))                          \
    LOOP2(gelu_tanh_bw_##S, T, T, T, fn_gelu_tanh_bw_##S(a, b))                \
    LOOP2(silu_bw_##S, T, T, T, fn_silu_bw_##S(a, b))                          \
    LOOP2(hardswish_bw_##S, T, T, T, fn_hardswish_bw_##S(a, b))                \
    LOOP2(hardsigmoid_bw_##S, T, T, T, fn_hardsigmoid_bw_##S(a, b))            \
    LOOP2(mish_bw_##S, T, T, T, fn_mish_bw_##S(a, b))                          \
    LOOP2(softplus_bw_##S, T, T, T, fn_softplus_bw_##S(a, b, p0, p1))
/* clang-format on */

UNARY_LOOPS(float, f32)
UNARY_LOOPS(double, f64)

/* clang-format off */
#define COMPARE_LOOPS(T, S)                                                    \
    LOOP2(eq_##S, T, uint8_t, T, a == b)                                       \
    LOOP2(ne_##S, T, uint8_t, T, a != b)                                       \
    LOOP2(lt_##S, T, uint8_t, T, a < b)                                        \
    LOOP2(le_##S, T, uint8_t, T, a <= b)                                       \
    LOOP2(gt_##S, T, uint8_t, T, a > b)                                        \
    LOOP2(ge_##S, T, uint8_t, T, a >= b)                                       \
    static const mm_iter_loop_fn compare_##S[] = {                             \
        eq_##S, ne_##S, lt_##S, le_##S, gt_##S, ge_##S};

#define LOGICAL_LOOPS(T, S)                                                    \
    LOOP2(and_##S, T, uint8_t, T, (a != (T)0) & (b != (T)0))                   \
    LOOP2(or_##S, T, uint8_t, T, (a != (T)0) | (b != (T)0))                    \
    LOOP2(xor_##S, T, uint8_t, T, (a != (T)0) ^ (b != (T)0))                   \
    static const mm_iter_loop_fn logical_##S[] = {and_##S, or_##S, xor_##S};
/* clang-format on */

COMPARE_LOOPS(float, f32)
COMPARE_LOOPS(double, f64)
COMPARE_LOOPS(int64_t, i64)
LOGICAL_LOOPS(float, f32)
LOGICAL_LOOPS(double, f64)
LOGICAL_LOOPS(uint8_t, b8)
LOOP1(logical_not_b8, uint8_t, uint8_t, int, x == 0)

/* where: elements are copied, so one loop per element size serves every
 * dtype. The condition is bool (0 or 1). */
#define WHERE_LOOP(T)                                                          \
    static void where_##T(char **d, const int64_t *s, int64_t n, void *vctx) { \
        (void)vctx;                                                            \
        const int64_t z = (int64_t)sizeof(T);                                  \
        if (s[0] == z && s[1] == 1 && s[2] == z && s[3] == z) {                \
            T *o = (T *)d[0];                                                  \
            const uint8_t *c = (const uint8_t *)d[1];                          \
            const T *a = (const T *)d[2], *b = (const T *)d[3];                \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {              \
                T va = a[i], vb = b[i];                                        \
                o[i] = c[i] ? va : vb;                                         \
            }                                                                  \
        } else if (s[0] == z && s[1] == 1 && s[2] == z && s[3] == 0) {         \
            T *o = (T *)d[0];                                                  \
            const uint8_t *c = (const uint8_t *)d[1];                          \
            const T *a = (const T *)d[2], b = *(const T *)d[3];                \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {              \
                T va = a[i];                                                   \
                o[i] = c[i] ? va : b;                                          \
            }                                                                  \
        } else if (s[0] == z && s[1] == 1 && s[2] == 0 && s[3] == z) {         \
            T *o = (T *)d[0];                                                  \
            const uint8_t *c = (const uint8_t *)d[1];                          \
            const T a = *(const T *)d[2], *b = (const T *)d[3];                \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {              \
                T vb = b[i];                                                   \
                o[i] = c[i] ? a : vb;                                          \
            }                                                                  \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++)                                    \
                *(T *)(d[0] + i * s[0]) = d[1][i * s[1]]                       \
                                              ? *(const T *)(d[2] + i * s[2])  \
                                              : *(const T *)(d[3] + i * s[3]); \
        }                                                                      \
    }
WHERE_LOOP(uint8_t)
WHERE_LOOP(uint16_t)
WHERE_LOOP(uint32_t)
WHERE_LOOP(uint64_t)

/* clamp with both tensor bounds: NaN in any operand propagates. */
#define CLAMP3_LOOP(T, S)                                                      \
    static inline T clamp3_##S(T x, T lo, T hi) {                              \
        return x != x     ? x                                                  \
               : lo != lo ? lo                                                 \
               : hi != hi ? hi                                                 \
                          : fn_clamp_##S(x, lo, hi);                           \
    }                                                                          \
    static void clamp3_loop_##S(char **d, const int64_t *s, int64_t n,         \
                                void *vctx) {                                  \
        (void)vctx;                                                            \
        const int64_t z = (int64_t)sizeof(T);                                  \
        if (s[0] == z && s[1] == z && s[2] == z && s[3] == z) {                \
            T *o = (T *)d[0];                                                  \
            const T *x = (const T *)d[1], *lo = (const T *)d[2],               \
                    *hi = (const T *)d[3];                                     \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] =         \
                clamp3_##S(x[i], lo[i], hi[i]);                                \
        } else if (s[0] == z && s[1] == z && s[2] == 0 && s[3] == 0) {         \
            T *o = (T *)d[0];                                                  \
            const T *x = (const T *)d[1], lo = *(const T *)d[2],               \
                    hi = *(const T *)d[3];                                     \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] =         \
                clamp3_##S(x[i], lo, hi);                                      \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++)                                    \
                *(T *)(d[0] + i * s[0]) =                                      \
                    clamp3_##S(*(const T *)(d[1] + i * s[1]),                  \
                               *(const T *)(d[2] + i * s[2]),                  \
                               *(const T *)(d[3] + i * s[3]));                 \
        }                                                                      \
    }
CLAMP3_LOOP(float, f32)
CLAMP3_LOOP(double, f64)

/* ---- dispatch ----------------------------------------------------------- */

/* Transcendental loops are compute-bound: split them finer. */
static int64_t grain_for(int code) {
    switch (code) {
    case EW_ABS:
    case EW_FLOOR:
    case EW_CEIL:
    case EW_ROUND:
    case EW_SIGN:
    case EW_CLAMP:
    case EW_RELU6:
    case EW_LEAKY_RELU:
    case EW_HARDSWISH:
    case EW_HARDSIGMOID:
    case EW_LOGICAL_NOT:
    case EW_MAXIMUM:
    case EW_MINIMUM:
    case EW_PRELU:
    case EW_RELU6_BW:
    case EW_LEAKY_RELU_BW:
    case EW_HARDSWISH_BW:
    case EW_HARDSIGMOID_BW:
    case EW_WHERE:
    case EW_CLAMP_TENSOR:
        return MM_GRAIN;
    default:
        return ew_is_compare(code) || ew_is_logical(code) ? MM_GRAIN
                                                          : MM_GRAIN / 8;
    }
}

#define PICK(NAME) (f32 ? NAME##_f32 : NAME##_f64)

static mm_iter_loop_fn pick_pow_scalar(bool f32, double e) {
    if (e == 1)
        return PICK(pow1);
    if (e == 2)
        return PICK(pow2);
    if (e == 3)
        return PICK(pow3);
    if (e == 0.5)
        return PICK(pow_half);
    if (e == -0.5)
        return PICK(pow_mhalf);
    if (e == -1)
        return PICK(pow_m1);
    if (e == -2)
        return PICK(pow_m2);
    return PICK(pow);
}

static mm_iter_loop_fn pick_unary(int code, bool f32, const mm_op_params *p) {
    switch (code) {
    case EW_ABS:
        return PICK(abs);
    case EW_LOG1P:
        return PICK(log1p);
    case EW_SQRT:
        return PICK(sqrt);
    case EW_RSQRT:
        return PICK(rsqrt);
    case EW_SIN:
        return PICK(sin);
    case EW_COS:
        return PICK(cos);
    case EW_FLOOR:
        return PICK(floor);
    case EW_CEIL:
        return PICK(ceil);
    case EW_ROUND:
        return PICK(round);
    case EW_SIGN:
        return PICK(sign);
    case EW_ERF:
        return PICK(erf);
    case EW_POW_SCALAR:
        return pick_pow_scalar(f32, p->f[0]);
    case EW_CLAMP:
        if ((p->i[0] && isnan(p->f[0])) || (p->i[1] && isnan(p->f[1])))
            return NULL; /* a NaN bound: the reference fills NaN */
        return p->i[0] && p->i[1] ? PICK(clamp)
               : p->i[0]          ? PICK(clamp_min)
                                  : PICK(clamp_max);
    case EW_RELU6:
        return PICK(relu6);
    case EW_LEAKY_RELU:
        return PICK(leaky_relu);
    case EW_ELU:
        return PICK(elu);
    case EW_GELU:
        return p->i[0] == MM_GELU_TANH ? PICK(gelu_tanh) : PICK(gelu);
    case EW_SILU:
        return PICK(silu);
    case EW_HARDSWISH:
        return PICK(hardswish);
    case EW_HARDSIGMOID:
        return PICK(hardsigmoid);
    case EW_MISH:
        return PICK(mish);
    case EW_SOFTPLUS:
        return PICK(softplus);
    default:
        return NULL;
    }
}

static mm_iter_loop_fn pick_binary(int code, bool f32, const mm_op_params *p) {
    switch (code) {
    case EW_POW:
        return PICK(powt);
    case EW_MAXIMUM:
        return PICK(maximum);
    case EW_MINIMUM:
        return PICK(minimum);
    case EW_PRELU:
        return PICK(prelu);
    case EW_RELU6_BW:
        return PICK(relu6_bw);
    case EW_LEAKY_RELU_BW:
        return PICK(leaky_relu_bw);
    case EW_ELU_BW:
        return PICK(elu_bw);
    case EW_GELU_BW:
        return p->i[0] == MM_GELU_TANH ? PICK(gelu_tanh_bw) : PICK(gelu_bw);
    case EW_SILU_BW:
        return PICK(silu_bw);
    case EW_HARDSWISH_BW:
        return PICK(hardswish_bw);
    case EW_HARDSIGMOID_BW:
        return PICK(hardsigmoid_bw);
    case EW_MISH_BW:
        return PICK(mish_bw);
    case EW_SOFTPLUS_BW:
        return PICK(softplus_bw);
    default:
        return NULL;
    }
}

static int run(mm_op_ctx *ctx, int n, mm_tensor **operands,
               mm_iter_loop_fn loop, const ew_params *params) {
    if (!loop)
        return MM_EUNSUPPORTED;
    mm_dtype in = operands[1]->dtype, out = operands[0]->dtype;
    if (mm_is_half(in)) {
        for (int k = 2; k < n; k++)
            if (operands[k]->dtype != in)
                return MM_EUNSUPPORTED;
        if (out != in && out != MM_BOOL)
            return MM_EUNSUPPORTED;
        return mm_half_run(n, operands, loop, (void *)params,
                           grain_for(ctx->op->code));
    }
    mm_iter it;
    MM_TRY(mm_iter_init(&it, n, operands));
    mm_iter_run(&it, loop, (void *)params, grain_for(ctx->op->code));
    return 0;
}

int mm_cpu_ew_unary(mm_op_ctx *ctx) {
    mm_tensor *x = ctx->inputs[0];
    const mm_op_params *p = ctx->params;
    int code = ctx->op->code;
    bool f32 = x->dtype == MM_F32 || mm_is_half(x->dtype);
    mm_iter_loop_fn loop = NULL;
    if (code == EW_LOGICAL_NOT) {
        loop = x->dtype == MM_BOOL  ? logical_not_b8
               : x->dtype == MM_F32 ? logical_not_f32
               : x->dtype == MM_F64 ? logical_not_f64
                                    : NULL;
    } else if (f32 || x->dtype == MM_F64) {
        loop = pick_unary(code, f32, p);
    }
    ew_params params = {p->f[0], p->f[1]};
    if (code == EW_LEAKY_RELU)
        params.p1 = 1; /* fn_leaky's `one` */
    return run(ctx, 2, (mm_tensor *[]){ctx->out, x}, loop, &params);
}

int mm_cpu_ew_binary(mm_op_ctx *ctx) {
    mm_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    const mm_op_params *p = ctx->params;
    int code = ctx->op->code;
    mm_dtype dt = a->dtype;
    mm_iter_loop_fn loop = NULL;
    if (ew_is_logical(code)) {
        int k = code - EW_LOGICAL_AND;
        if (b->dtype == dt)
            loop = dt == MM_BOOL  ? logical_b8[k]
                   : dt == MM_F32 ? logical_f32[k]
                   : dt == MM_F64 ? logical_f64[k]
                                  : NULL;
    } else if (ew_is_compare(code)) {
        int k = code - EW_EQ;
        loop = dt == MM_F32 || mm_is_half(dt) ? compare_f32[k]
               : dt == MM_F64 ? compare_f64[k]
               : dt == MM_I64 ? compare_i64[k]
                              : NULL;
    } else if (dt == MM_F32 || dt == MM_F64 || mm_is_half(dt)) {
        loop = pick_binary(code, dt != MM_F64, p);
    }
    ew_params params = {p->f[0], p->f[1]};
    if (code == EW_PRELU || code == EW_LEAKY_RELU_BW)
        params.p1 = 1; /* fn_leaky's `one` */
    return run(ctx, 3, (mm_tensor *[]){ctx->out, a, b}, loop, &params);
}

int mm_cpu_where(mm_op_ctx *ctx) {
    mm_iter_loop_fn loop;
    switch (mm_dtype_size(ctx->out->dtype)) {
    case 1:
        loop = where_uint8_t;
        break;
    case 2:
        loop = where_uint16_t;
        break;
    case 4:
        loop = where_uint32_t;
        break;
    case 8:
        loop = where_uint64_t;
        break;
    default:
        loop = NULL;
        break;
    }
    mm_tensor *ops[4] = {ctx->out, ctx->inputs[0], ctx->inputs[1],
                         ctx->inputs[2]};
    return run(ctx, 4, ops, loop, NULL);
}

int mm_cpu_clamp_tensor(mm_op_ctx *ctx) {
    mm_dtype dt = ctx->out->dtype;
    if (dt != MM_F32 && dt != MM_F64 && !mm_is_half(dt))
        return MM_EUNSUPPORTED;
    bool f32 = dt != MM_F64;
    const mm_op_params *p = ctx->params;
    mm_tensor *ops[4] = {ctx->out, ctx->inputs[0], ctx->inputs[1],
                         ctx->n_inputs > 2 ? ctx->inputs[2] : NULL};
    ew_params params = {0, 0};
    if (p->i[0] && p->i[1])
        return run(ctx, 4, ops, PICK(clamp3_loop), &params);
    /* one bound: clamp_min is maximum, clamp_max is minimum (NaN included) */
    return run(ctx, 3, ops, p->i[0] ? PICK(maximum) : PICK(minimum), &params);
}
