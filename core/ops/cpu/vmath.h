/* Vectorisable float exp and tanh for the hot elementwise loops.
 *
 * libm's expf and tanhf are scalar calls the compiler cannot vectorise
 * without -ffast-math, and LeNet-style nets spend half their time in them.
 * These are branch-free (both sides of every choice are computed, then
 * selected), so an `omp simd` loop around them becomes SSE/AVX code.
 *
 * Accuracy (checked against the double functions in tests/ops): mm_vexpf
 * is within 2 ulp over [-87, 88]; mm_vtanhf within 4 ulp. exp: range
 * reduction x = n ln2 + r with |r| <= ln2/2, r split in two parts of ln2
 * (Cody-Waite), e^r by its Taylor polynomial to r^7, 2^n built in the
 * exponent bits. tanh: odd Taylor series to a^15 for |x| < 0.5 (truncation
 * below 1e-8 relative there), 1 - 2 / (e^{2|x|} + 1) above, +-1 beyond
 * 9.1 where the float result is exactly 1. */
#ifndef MM_CPU_VMATH_H
#define MM_CPU_VMATH_H

#include <stdint.h>
#include <string.h>

/* Compile a hot loop for AVX-512, AVX2 and the baseline, picked at load
 * time (an ifunc): the build targets baseline x86-64, so without this the
 * loops above run 4 floats at a time on CPUs that take 16. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&         \
    !defined(__SANITIZE_ADDRESS__)
#define MM_CPU_CLONES                                                          \
    __attribute__((                                                            \
        target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MM_CPU_CLONES
#endif

/* A 2-D loop (mm_iter_loop2d_fn) NAME over the rows of ROW, a
 * `static inline` 1-D loop body of NOPS operands (mm_iter_loop_fn's
 * arguments): the body is inlined, so a block of short rows costs one call
 * and no per-row dispatch. Prefix MM_CPU_CLONES for compute-bound bodies. */
#define MM_CPU_LOOP2D(NAME, ROW, NOPS)                                         \
    static void NAME(char **d, const int64_t *s, int64_t n, int64_t rows,      \
                     void *ctx) {                                              \
        char *p[NOPS];                                                         \
        for (int64_t r = 0; r < rows; r++) {                                   \
            for (int k = 0; k < (NOPS); k++)                                   \
                p[k] = d[k] + r * s[MM_ITER_MAX_OPERANDS + k];                 \
            ROW(p, s, n, ctx);                                                 \
        }                                                                      \
    }

static inline float mm_vexpf(float x) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: round to nearest */
    x = x < -87.33654f ? -87.33654f : x;
    x = x > 88.72283f ? 88.72283f : x;
    float t = x * log2e + round_magic;
    float n = t - round_magic;
    float r = x - n * ln2_hi;
    r = r - n * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n in two halves, so that n = 128 (x near 88.7) does not overflow
     * the exponent field */
    int32_t ni = (int32_t)n;
    int32_t h = ni >> 1;
    int32_t b1 = (h + 127) << 23, b2 = (ni - h + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2;
}

static inline float mm_vtanhf(float x) {
    float a = x < 0 ? -x : x;
    /* small |x|: a + a^3 c3 + ... + a^15 c15 */
    float a2 = a * a;
    float q = -929569.0f / 638512875.0f;
    q = q * a2 + 21844.0f / 6081075.0f;
    q = q * a2 + -1382.0f / 155925.0f;
    q = q * a2 + 62.0f / 2835.0f;
    q = q * a2 + -17.0f / 315.0f;
    q = q * a2 + 2.0f / 15.0f;
    q = q * a2 + -1.0f / 3.0f;
    float small = a + a * a2 * q;
    float big = 1.0f - 2.0f / (mm_vexpf(2.0f * (a < 9.1f ? a : 9.1f)) + 1.0f);
    float y = a < 0.5f ? small : big;
    y = a >= 9.1f ? 1.0f : y;
    y = x != x ? x : y; /* NaN stays NaN */
    return x < 0 ? -y : y;
}

#endif
