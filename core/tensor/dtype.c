/* The dtype table, dtype names and promotion, half and bfloat16 conversion. */
#include "mm/tensor.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

const mm_dtype_traits mm_dtype_info[MM_DTYPE_COUNT] = {
    [MM_F32] = {"f32", 4, true, true},  [MM_F64] = {"f64", 8, true, true},
    [MM_F16] = {"f16", 2, true, true},  [MM_BF16] = {"bf16", 2, true, true},
    [MM_I64] = {"i64", 8, false, true}, [MM_I32] = {"i32", 4, false, true},
    [MM_U8] = {"u8", 1, false, false},  [MM_BOOL] = {"bool", 1, false, false},
};
static_assert(sizeof mm_dtype_info / sizeof mm_dtype_info[0] == MM_DTYPE_COUNT,
              "one traits row per dtype");

static const struct {
    const char *name;
    mm_dtype dtype;
} dtype_aliases[] = {
    {"float32", MM_F32},
    {"float", MM_F32},
    {"float64", MM_F64},
    {"double", MM_F64},
    {"float16", MM_F16},
    {"half", MM_F16},
    {"bfloat16", MM_BF16},
    {"int64", MM_I64},
    {"long", MM_I64},
    {"int32", MM_I32},
    {"int", MM_I32},
    {"uint8", MM_U8},
    {"byte", MM_U8},
    {"torch.float32", MM_F32},
    {"torch.float64", MM_F64},
    {"torch.float16", MM_F16},
    {"torch.bfloat16", MM_BF16},
    {"torch.int64", MM_I64},
    {"torch.int32", MM_I32},
    {"torch.uint8", MM_U8},
    {"torch.bool", MM_BOOL},
};

int mm_dtype_parse(const char *name, mm_dtype *out) {
    if (!name)
        return mm_error_set(MM_EINVAL, "dtype: no name given");
    for (int i = 0; i < MM_DTYPE_COUNT; i++) {
        if (strcasecmp(name, mm_dtype_info[i].name) == 0) {
            *out = (mm_dtype)i;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof dtype_aliases / sizeof dtype_aliases[0];
         i++) {
        if (strcasecmp(name, dtype_aliases[i].name) == 0) {
            *out = dtype_aliases[i].dtype;
            return 0;
        }
    }
    return mm_error_set(MM_EINVAL, "dtype: unknown dtype '%s'", name);
}

/* bool < u8 < i32 < i64 < (floats) */
static int int_rank(mm_dtype dt) {
    switch (dt) {
    case MM_BOOL:
        return 0;
    case MM_U8:
        return 1;
    case MM_I32:
        return 2;
    default:
        return 3;
    }
}

mm_dtype mm_dtype_promote(mm_dtype a, mm_dtype b) {
    if (a == b)
        return a;
    bool fa = mm_dtype_is_float(a), fb = mm_dtype_is_float(b);
    if (fa && !fb)
        return a;
    if (fb && !fa)
        return b;
    if (fa && fb) {
        if (a == MM_F64 || b == MM_F64)
            return MM_F64;
        return MM_F32; /* f32 with a half type, or f16 with bf16 */
    }
    return int_rank(a) >= int_rank(b) ? a : b;
}

/* ---- half and bfloat16 -------------------------------------------------- */
/* The float-arithmetic conversions of Marat Dukhan's FP16 library: exact,
 * round to nearest even, correct for subnormals, infinities and NaN. */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t mm_f32_to_f16(float f) {
    const float scale_to_inf = 0x1.0p+112f;
    const float scale_to_zero = 0x1.0p-110f;
    float base = (__builtin_fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = f32_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & UINT32_C(0x80000000);
    uint32_t bias = shl1_w & UINT32_C(0xFF000000);
    if (bias < UINT32_C(0x71000000))
        bias = UINT32_C(0x71000000);
    base = f32_from_bits((bias >> 1) + UINT32_C(0x07800000)) + base;
    const uint32_t bits = f32_bits(base);
    const uint32_t exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
    const uint32_t mantissa_bits = bits & UINT32_C(0x00000FFF);
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (
        uint16_t)((sign >> 16) |
                  (shl1_w > UINT32_C(0xFF000000) ? UINT32_C(0x7E00) : nonsign));
}

float mm_f16_to_f32(uint16_t h) {
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & UINT32_C(0x80000000);
    const uint32_t two_w = w + w;
    const uint32_t exp_offset = UINT32_C(0xE0) << 23;
    const float exp_scale = 0x1.0p-112f;
    const float normalized =
        f32_from_bits((two_w >> 4) + exp_offset) * exp_scale;
    const uint32_t magic_mask = UINT32_C(126) << 23;
    const float magic_bias = 0.5f;
    const float denormalized =
        f32_from_bits((two_w >> 17) | magic_mask) - magic_bias;
    const uint32_t denormalized_cutoff = UINT32_C(1) << 27;
    const uint32_t result =
        sign | (two_w < denormalized_cutoff ? f32_bits(denormalized)
                                            : f32_bits(normalized));
    return f32_from_bits(result);
}

uint16_t mm_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & UINT32_C(0x7fffffff)) > UINT32_C(0x7f800000))
        return (uint16_t)((x >> 16) | 0x40); /* quiet NaN, sign kept */
    x += UINT32_C(0x7fff) + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

float mm_bf16_to_f32(uint16_t b) { return f32_from_bits((uint32_t)b << 16); }
