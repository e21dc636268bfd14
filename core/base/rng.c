/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11) and seedable generators over it. */
#include "mm/rng.h"

#include <pthread.h>
#include <stdlib.h>

enum {
    PHILOX_M0 = 0xD2511F53u,
    PHILOX_M1 = 0xCD9E8D57u,
    PHILOX_W0 = 0x9E3779B9u,
    PHILOX_W1 = 0xBB67AE85u,
};

void mm_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                      uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

struct mm_generator {
    pthread_mutex_t lock;
    uint64_t seed, offset;
};

static mm_generator default_gen = {PTHREAD_MUTEX_INITIALIZER, MM_DEFAULT_SEED,
                                   0};

int mm_generator_new(uint64_t seed, mm_generator **out) {
    mm_generator *g = calloc(1, sizeof *g);
    if (!g)
        return mm_error_set(MM_ENOMEM, "generator: out of memory");
    pthread_mutex_init(&g->lock, NULL);
    g->seed = seed;
    *out = g;
    return 0;
}

void mm_generator_free(mm_generator *gen) {
    if (!gen || gen == &default_gen)
        return;
    pthread_mutex_destroy(&gen->lock);
    free(gen);
}

mm_generator *mm_default_generator(void) { return &default_gen; }

void mm_generator_seed(mm_generator *gen, uint64_t seed) {
    if (!gen)
        gen = &default_gen;
    pthread_mutex_lock(&gen->lock);
    gen->seed = seed;
    gen->offset = 0;
    pthread_mutex_unlock(&gen->lock);
}

mm_rng_state mm_generator_get_state(mm_generator *gen) {
    if (!gen)
        gen = &default_gen;
    pthread_mutex_lock(&gen->lock);
    mm_rng_state st = {gen->seed, gen->offset};
    pthread_mutex_unlock(&gen->lock);
    return st;
}

void mm_generator_set_state(mm_generator *gen, mm_rng_state state) {
    if (!gen)
        gen = &default_gen;
    pthread_mutex_lock(&gen->lock);
    gen->seed = state.seed;
    gen->offset = state.offset;
    pthread_mutex_unlock(&gen->lock);
}

uint64_t mm_generator_reserve(mm_generator *gen, uint64_t n, uint64_t *seed) {
    if (!gen)
        gen = &default_gen;
    pthread_mutex_lock(&gen->lock);
    uint64_t first = gen->offset;
    gen->offset += n;
    if (seed)
        *seed = gen->seed;
    pthread_mutex_unlock(&gen->lock);
    return first;
}

void mm_manual_seed(uint64_t seed) { mm_generator_seed(&default_gen, seed); }
