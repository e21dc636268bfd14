/* mmengine's samplers: DefaultSampler (one epoch of indices per rank, with
 * round_up padding) and InfiniteSampler (an endless stream of permutations).
 * Permutations come from the Philox generator (mm_randperm) seeded the way
 * mmengine seeds torch.Generator: seed + epoch for DefaultSampler, seed
 * once for InfiniteSampler. The index order differs from torch's randperm;
 * the structure (what is padded, which rank gets which position) does not. */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "mm/tensor.h"

struct mm_sampler {
    mm_dataset *dataset; /* borrowed: the dataloader owns it */
    bool infinite, shuffle, round_up;
    uint64_t seed;
    int rank, world;
    int64_t epoch;
    /* InfiniteSampler: the stream position of this rank's next index and
     * the permutation of the block it falls in. */
    mm_generator *gen;
    uint64_t pos;
    int64_t *block;
    uint64_t block_no; /* the block `block` holds, +1 (0: none yet) */
};

void mm_sampler_free(mm_sampler *s) {
    if (!s)
        return;
    mm_generator_free(s->gen);
    free(s->block);
    free(s);
}

void mm_sampler_destroy(void *s) { mm_sampler_free(s); }

void mm_sampler_set_epoch(mm_sampler *s, int64_t epoch) {
    if (!s->infinite) /* InfiniteSampler.set_epoch does nothing */
        s->epoch = epoch;
}

bool mm_sampler_is_infinite(const mm_sampler *s) { return s->infinite; }

size_t mm_sampler_len(const mm_sampler *s) {
    size_t n = mm_dataset_len(s->dataset), w = (size_t)s->world;
    if (s->infinite)
        return n;
    if (s->round_up)
        return (n + w - 1) / w;
    /* ceil((len - rank) / world) */
    return n > (size_t)s->rank ? (n - (size_t)s->rank + w - 1) / w : 0;
}

/* 0..n-1, shuffled by randperm on gen when shuffle is on, into a new array. */
static int order(int64_t n, bool shuffle, mm_generator *gen, int64_t **out) {
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (!shuffle) {
        for (int64_t i = 0; i < n; i++)
            idx[i] = i;
        *out = idx;
        return MM_OK;
    }
    mm_pool *pool;
    mm_tensor *perm;
    int rc = mm_pool_open(&pool);
    if (!rc) {
        rc = mm_randperm(n, MM_I64, gen, &perm);
        if (!rc)
            rc = mm_tensor_read(perm, MM_I64, idx, n ? n : 1);
        mm_pool_close(pool);
    }
    if (rc) {
        free(idx);
        return rc;
    }
    *out = idx;
    return MM_OK;
}

static int default_epoch(mm_sampler *s, int64_t **idx, size_t *n) {
    size_t len = mm_dataset_len(s->dataset), w = (size_t)s->world;
    size_t r = (size_t)s->rank;
    int64_t *all;
    mm_generator *gen = NULL;
    if (s->shuffle)
        MM_TRY(mm_generator_new(s->seed + (uint64_t)s->epoch, &gen));
    int rc = order((int64_t)len, s->shuffle, gen, &all);
    mm_generator_free(gen);
    MM_TRY(rc);
    /* round_up repeats the order until it fills num_samples * world
     * (mmengine: (indices * (total // len + 1))[:total]); then this rank
     * takes indices[rank:total:world]. */
    size_t total = s->round_up ? (len + w - 1) / w * w : len;
    if (!len)
        total = 0;
    size_t m = total > r ? (total - r + w - 1) / w : 0;
    int64_t *mine = malloc((m ? m : 1) * sizeof *mine);
    if (!mine) {
        free(all);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    for (size_t k = 0, p = r; k < m; k++, p += w)
        mine[k] = all[p % len];
    free(all);
    *idx = mine;
    *n = m;
    return MM_OK;
}

/* islice(stream, rank, None, world) of the endless stream of permutations
 * drawn one after the other from one generator seeded once. */
static int infinite_take(mm_sampler *s, size_t want, int64_t **idx, size_t *n) {
    uint64_t len = mm_dataset_len(s->dataset);
    if (!len)
        return mm_error_set(MM_EINVAL, "InfiniteSampler: the dataset is empty");
    int64_t *out = malloc((want ? want : 1) * sizeof *out);
    if (!out)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t k = 0; k < want; k++) {
        uint64_t b = s->pos / len;
        while (s->block_no < b + 1) { /* draw the blocks in stream order */
            int64_t *next;
            int rc = order((int64_t)len, s->shuffle, s->gen, &next);
            if (rc) {
                free(out);
                return rc;
            }
            free(s->block);
            s->block = next;
            s->block_no++;
        }
        out[k] = s->block[s->pos % len];
        s->pos += (uint64_t)s->world;
    }
    *idx = out;
    *n = want;
    return MM_OK;
}

int mm_sampler_epoch(mm_sampler *s, size_t want, int64_t **idx, size_t *n) {
    *idx = NULL;
    *n = 0;
    return s->infinite ? infinite_take(s, want, idx, n)
                       : default_epoch(s, idx, n);
}

/* ---- building --------------------------------------------------------------
 */

static int sampler_build(mm_build_ctx *ctx, bool infinite, void **out) {
    const mm_sampler_args *args = mm_build_user(ctx);
    if (!args || !args->dataset)
        return mm_error_set(MM_EINVAL,
                            "a sampler is built by a dataloader, which hands "
                            "it the dataset");
    if (args->world < 1 || args->rank < 0 || args->rank >= args->world)
        return mm_error_set(MM_EINVAL, "rank %d of world %d is invalid",
                            args->rank, args->world);
    mm_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return mm_error_set(MM_ENOMEM, "out of memory");
    s->dataset = args->dataset;
    s->infinite = infinite;
    s->rank = args->rank;
    s->world = args->world;
    s->seed = args->seed;
    s->pos = (uint64_t)args->rank; /* islice(stream, rank, None, world) */
    int rc = mm_build_bool(ctx, "shuffle", &s->shuffle);
    const mm_value *seed = mm_build_arg(ctx, "seed");
    if (!rc && mm_value_is_int(seed)) /* null: the run's seed */
        s->seed = (uint64_t)mm_value_get_int(seed);
    if (!rc && !infinite)
        rc = mm_build_bool(ctx, "round_up", &s->round_up);
    if (!rc && infinite)
        rc = mm_generator_new(s->seed, &s->gen);
    if (rc) {
        mm_sampler_free(s);
        return rc;
    }
    *out = s;
    return MM_OK;
}

static int default_build(mm_build_ctx *ctx, void **out) {
    return sampler_build(ctx, false, out);
}

static int infinite_build(mm_build_ctx *ctx, void **out) {
    return sampler_build(ctx, true, out);
}

static const mm_param default_params[] = {
    {.name = "shuffle",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "a new permutation every epoch (seeded by seed + epoch)"},
    {.name = "seed",
     .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null",
     .doc = "permutation seed; null: the run's seed"},
    {.name = "round_up",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "pad with repeated indices so every rank gets as many"},
};

static const mm_param infinite_params[] = {
    {.name = "shuffle",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "draw a new permutation each time the dataset is exhausted"},
    {.name = "seed",
     .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null",
     .doc = "permutation seed; null: the run's seed"},
};

static const mm_component samplers[] = {
    {.kind = MM_DATA_SAMPLERS,
     .name = "DefaultSampler",
     .doc = "indices of one epoch for this rank, optionally shuffled",
     .params = default_params,
     .n_params = sizeof default_params / sizeof default_params[0],
     .build = default_build,
     .destroy = mm_sampler_destroy},
    {.kind = MM_DATA_SAMPLERS,
     .name = "InfiniteSampler",
     .doc = "an endless stream of indices for iteration-based training",
     .params = infinite_params,
     .n_params = sizeof infinite_params / sizeof infinite_params[0],
     .build = infinite_build,
     .destroy = mm_sampler_destroy},
};

int mm_data_register_samplers(void) {
    return mm_register_all(samplers, sizeof samplers / sizeof samplers[0]);
}
