/* bf16 / f16 on the optimised f32 loops: a strided-iterator loop that
 * converts a block of each half input to f32 (on the stack, in L1), runs the
 * op's f32 loop on the block, and rounds the f32 result back to nearest even.
 * This is PyTorch's CPU arithmetic for these dtypes: load as float, compute
 * in float, round once on store. The conversions are the branchless ones of
 * core/tensor/dtype.c, inlined here so `omp simd` vectorises them; they
 * give the same bits as mm_f32_to_bf16 / mm_f16_to_f32 and friends. */
#ifndef MM_OPS_CPU_HALF_CPU_H
#define MM_OPS_CPU_HALF_CPU_H

#include "ops_internal.h"

#include <string.h>

static inline uint32_t mm_h_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float mm_h_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float mm_h_bf16_to_f32(uint16_t b) {
    return mm_h_float((uint32_t)b << 16);
}

static inline uint16_t mm_h_f32_to_bf16(float f) {
    uint32_t x = mm_h_bits(f);
    uint32_t r = (x + UINT32_C(0x7fff) + ((x >> 16) & 1)) >> 16;
    uint32_t nan = (x >> 16) | 0x40; /* quiet NaN, sign kept */
    return (uint16_t)((x & UINT32_C(0x7fffffff)) > UINT32_C(0x7f800000) ? nan
                                                                        : r);
}

static inline float mm_h_f16_to_f32(uint16_t h) {
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & UINT32_C(0x80000000);
    const uint32_t two_w = w + w;
    const float normalized =
        mm_h_float((two_w >> 4) + (UINT32_C(0xE0) << 23)) * 0x1.0p-112f;
    const float denormalized =
        mm_h_float((two_w >> 17) | (UINT32_C(126) << 23)) - 0.5f;
    /* a mask, not ?:, so the loops calling this vectorise */
    const uint32_t m = UINT32_C(0) - (uint32_t)(two_w < (UINT32_C(1) << 27));
    return mm_h_float(sign | (mm_h_bits(denormalized) & m) |
                      (mm_h_bits(normalized) & ~m));
}

static inline uint16_t mm_h_f32_to_f16(float f) {
    float base = (__builtin_fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = mm_h_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & UINT32_C(0x80000000);
    uint32_t bias = shl1_w & UINT32_C(0xFF000000);
    bias = bias < UINT32_C(0x71000000) ? UINT32_C(0x71000000) : bias;
    base = mm_h_float((bias >> 1) + UINT32_C(0x07800000)) + base;
    const uint32_t bits = mm_h_bits(base);
    const uint32_t nonsign =
        ((bits >> 13) & UINT32_C(0x00007C00)) + (bits & UINT32_C(0x00000FFF));
    const uint32_t nan =
        UINT32_C(0) - (uint32_t)(shl1_w > UINT32_C(0xFF000000));
    return (uint16_t)((sign >> 16) | (UINT32_C(0x7E00) & nan) |
                      (nonsign & ~nan));
}

static inline bool mm_is_half(mm_dtype dt) {
    return dt == MM_BF16 || dt == MM_F16;
}

/* n elements at stride s (bytes) to contiguous f32, and back. */
static inline void mm_half_load(float *dst, const char *src, int64_t s,
                                int64_t n, bool bf16) {
    if (s == 2) {
        const uint16_t *p = (const uint16_t *)src;
        if (bf16) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                dst[i] = mm_h_bf16_to_f32(p[i]);
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                dst[i] = mm_h_f16_to_f32(p[i]);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        uint16_t v;
        memcpy(&v, src + i * s, 2);
        dst[i] = bf16 ? mm_h_bf16_to_f32(v) : mm_h_f16_to_f32(v);
    }
}

static inline void mm_half_store(char *dst, int64_t s, const float *src,
                                 int64_t n, bool bf16) {
    if (s == 2) {
        uint16_t *p = (uint16_t *)dst;
        if (bf16) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                p[i] = mm_h_f32_to_bf16(src[i]);
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                p[i] = mm_h_f32_to_f16(src[i]);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        uint16_t v = bf16 ? mm_h_f32_to_bf16(src[i]) : mm_h_f32_to_f16(src[i]);
        memcpy(dst + i * s, &v, 2);
    }
}

/* The wrapped loop's context: run `loop` (an f32 loop of nin inputs, ctx
 * `loop_ctx`) on operands 1..nin converted from `half` (bf16 or f16); the
 * output is rounded back when out_half, else written as is (comparisons'
 * bool). Broadcast (stride-0) inputs convert once and stay stride 0, so the
 * f32 loop's scalar-operand fast paths still apply. */
typedef struct mm_half_ctx {
    mm_iter_loop_fn loop;
    void *loop_ctx;
    int nin;
    bool bf16, out_half;
} mm_half_ctx;

enum { MM_HALF_BLOCK = 512 };

static void mm_half_loop(char **d, const int64_t *s, int64_t n, void *vctx) {
    const mm_half_ctx *h = vctx;
    float in[3][MM_HALF_BLOCK], out[MM_HALF_BLOCK];
    char *pd[4];
    int64_t ps[4];
    for (int64_t b = 0; b < n; b += MM_HALF_BLOCK) {
        int64_t m = n - b < MM_HALF_BLOCK ? n - b : MM_HALF_BLOCK;
        for (int k = 1; k <= h->nin; k++) {
            pd[k] = (char *)in[k - 1];
            ps[k] = s[k] == 0 ? 0 : 4;
            mm_half_load(in[k - 1], d[k] + b * s[k], s[k], s[k] == 0 ? 1 : m,
                         h->bf16);
        }
        pd[0] = h->out_half ? (char *)out : d[0] + b * s[0];
        ps[0] = h->out_half ? 4 : s[0];
        h->loop(pd, ps, m, h->loop_ctx);
        if (h->out_half)
            mm_half_store(d[0] + b * s[0], s[0], out, m, h->bf16);
    }
}

/* Run f32 `loop` over `ops` (ops[0] the output, n - 1 <= 3 half inputs). */
static inline int mm_half_run(int n, mm_tensor **ops, mm_iter_loop_fn loop,
                              void *loop_ctx, int64_t grain) {
    mm_iter it;
    MM_TRY(mm_iter_init(&it, n, ops));
    mm_half_ctx h = {loop, loop_ctx, n - 1, ops[1]->dtype == MM_BF16,
                     mm_is_half(ops[0]->dtype)};
    mm_iter_run(&it, mm_half_loop, &h, grain);
    return 0;
}

#endif
