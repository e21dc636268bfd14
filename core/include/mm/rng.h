/* mm/rng.h - random numbers: Philox4x32-10 generators and random tensors.
 *
 * A generator is a counter-based Philox4x32-10 stream: its state is a 64-bit
 * seed (the Philox key) and a 64-bit offset (the next unused counter). A
 * random tensor of n elements reserves ceil(n / per-block) counters from the
 * offset, and element i is a pure function of (seed, offset, i). So results
 * are the same for any thread count, and saving (seed, offset) in a
 * checkpoint resumes the stream exactly.
 *
 * Every function taking `mm_generator *gen` uses the process-wide default
 * generator when gen is NULL; mm_manual_seed reseeds that one (PyTorch's
 * torch.manual_seed). Generators are safe to share between threads.
 *
 * How elements use the counters (fixed: changing it changes every seeded
 * run): a block is philox(counter = {lo32(offset+b), hi32(offset+b), 0, 0},
 * key = {lo32(seed), hi32(seed)}) giving four u32 words.
 *   - rand (f32, f16, bf16): 4 elements per block, word >> 8 scaled by 2^-24
 *     (f16: >> 21 and 2^-11; bf16: >> 24 and 2^-8, so values stay < 1);
 *   - rand f64, randint: 2 elements per block, 64 bits from a word pair
 *     (53 bits scaled by 2^-53 for f64, modulo the range for randint);
 *   - randn and normal_, f64: 2 elements per block, Box-Muller in double on
 *     two 53-bit uniforms u1, u2: sqrt(-2 ln(1 - u1)) * (cos, sin)(2 pi u2);
 *     other dtypes: 4 elements per block, Box-Muller in float on the word
 *     pairs (w0, w1) and (w2, w3): u1 = (w0 + 1) 2^-32, u2 = w1 2^-32;
 *   - bernoulli: 4 elements per block, word * 2^-32 < p. */
#ifndef MM_RNG_H
#define MM_RNG_H

#include <stdint.h>

#include "mm/error.h"
#include "mm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The Philox4x32-10 bijection itself (Random123's philox4x32_R(10, ...)). */
MM_API void mm_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                             uint32_t out[4]);

typedef struct mm_generator mm_generator;

typedef struct mm_rng_state {
    uint64_t seed;
    uint64_t offset; /* counters (Philox blocks) used so far */
} mm_rng_state;

/* PyTorch's default seed, so an unseeded run is still reproducible. */
#define MM_DEFAULT_SEED UINT64_C(67280421310721)

MM_API int mm_generator_new(uint64_t seed, mm_generator **out) MM_NODISCARD;
MM_API void mm_generator_free(mm_generator *gen); /* not the default one */
MM_API mm_generator *mm_default_generator(void);
/* Reseed: offset back to 0. */
MM_API void mm_generator_seed(mm_generator *gen, uint64_t seed);
MM_API mm_rng_state mm_generator_get_state(mm_generator *gen);
MM_API void mm_generator_set_state(mm_generator *gen, mm_rng_state state);
/* Reserve n counters: returns the first one and advances the offset. For
 * kernels that draw their own numbers (dropout masks, samplers). */
MM_API uint64_t mm_generator_reserve(mm_generator *gen, uint64_t n,
                                     uint64_t *seed);
/* Reseed the default generator. */
MM_API void mm_manual_seed(uint64_t seed);

/* ---- random tensors (not differentiable) -------------------------------- */

/* Uniform on [0, 1); float dtypes. */
MM_API int mm_rand(int ndim, const int64_t *shape, mm_dtype dtype,
                   mm_generator *gen, mm_tensor **out) MM_NODISCARD;
/* Standard normal; float dtypes. */
MM_API int mm_randn(int ndim, const int64_t *shape, mm_dtype dtype,
                    mm_generator *gen, mm_tensor **out) MM_NODISCARD;
/* Integers uniform on [low, high); any dtype that holds them. */
MM_API int mm_randint(int64_t low, int64_t high, int ndim, const int64_t *shape,
                      mm_dtype dtype, mm_generator *gen,
                      mm_tensor **out) MM_NODISCARD;
/* A random permutation of 0..n-1 (Fisher-Yates on the Philox stream). */
MM_API int mm_randperm(int64_t n, mm_dtype dtype, mm_generator *gen,
                       mm_tensor **out) MM_NODISCARD;
/* out[i] = 1 with probability p[i], else 0; same shape and dtype as p. */
MM_API int mm_bernoulli(mm_tensor *p, mm_generator *gen,
                        mm_tensor **out) MM_NODISCARD;

/* In-place fills, for weight initialisation (any layout, float dtypes). */
MM_API int mm_tensor_uniform_(mm_tensor *t, double low, double high,
                              mm_generator *gen) MM_NODISCARD;
MM_API int mm_tensor_normal_(mm_tensor *t, double mean, double std,
                             mm_generator *gen) MM_NODISCARD;
MM_API int mm_tensor_bernoulli_(mm_tensor *t, double p,
                                mm_generator *gen) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
