/* The dataloader: mmengine's Runner.build_dataloader and torch's DataLoader
 * (batch sampler, prefetching workers, in-order delivery) on threads.
 *
 * Batches are numbered within an epoch. Batch k's sample indices are fixed
 * by the sampler before any worker sees them, and batch k runs with its own
 * generator seeded from (seed, epoch, k), so a batch is the same whichever
 * thread builds it and however many workers there are. With num_workers > 0
 * a ring of prefetch_factor * num_workers slots holds the batches in
 * flight: the consumer schedules batch k into slot k % cap, workers claim
 * batches in order, and mm_dataloader_next waits for its slot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "data_internal.h"
#include "mm/autograd.h"
#include "mm/tensor.h"
#include "strbuf.h"

/* ---- the data generator of this thread ------------------------------------
 */

static _Thread_local mm_generator *data_gen;

mm_generator *mm_data_generator(void) {
    return data_gen ? data_gen : mm_default_generator();
}

void mm_data_set_generator(mm_generator *gen) { data_gen = gen; }

double mm_data_rand_uniform(void) {
    uint64_t seed, ctr = mm_generator_reserve(mm_data_generator(), 1, &seed);
    uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, o[4];
    mm_philox4x32_10(c, k, o);
    uint64_t bits = ((uint64_t)(o[0] >> 5) << 26) | (o[1] >> 6);
    return (double)bits * (1.0 / 9007199254740992.0);
}

/* The seed of batch `batch` of `epoch`: one Philox block keyed by the run's
 * seed, so nearby (epoch, batch) pairs give unrelated streams. */
static uint64_t batch_seed(uint64_t seed, int64_t epoch, uint64_t batch) {
    uint64_t e = (uint64_t)epoch;
    uint32_t ctr[4] = {(uint32_t)e, (uint32_t)(e >> 32), (uint32_t)batch,
                       (uint32_t)(batch >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, w[4];
    mm_philox4x32_10(ctr, key, w);
    return ((uint64_t)w[1] << 32) | w[0];
}

/* ---- the object ------------------------------------------------------------
 */

typedef enum { SLOT_FREE, SLOT_PENDING, SLOT_RUNNING, SLOT_DONE } slot_state;

typedef struct slot {
    slot_state state;
    uint64_t batch;
    const int64_t *idx;
    size_t n;
    int64_t *owned_idx; /* an infinite sampler's indices */
    mm_value *result;
    int rc;
    char *msg;
} slot;

struct mm_dataloader {
    mm_dataset *dataset;
    mm_sampler *sampler;
    mm_collate_fn collate;
    char *path;
    uint64_t seed;
    int64_t batch_size;
    int num_workers, prefetch_factor;
    bool persistent, drop_last;

    /* the epoch */
    bool active;
    int64_t epoch;
    int64_t *idx; /* a finite sampler's indices of the epoch */
    size_t n_idx;
    uint64_t n_batches; /* UINT64_MAX for an infinite sampler */
    uint64_t next_out, next_sched, next_claim;
    uint64_t infinite_base; /* batches of earlier epochs (infinite) */

    /* the workers */
    slot *slots;
    size_t cap;
    uv_thread_t *threads;
    int n_threads;
    bool stop;
    uv_mutex_t lock;
    uv_cond_t work, done;
};

mm_dataset *mm_dataloader_dataset(const mm_dataloader *dl) {
    return dl->dataset;
}
mm_sampler *mm_dataloader_sampler(const mm_dataloader *dl) {
    return dl->sampler;
}
int64_t mm_dataloader_batch_size(const mm_dataloader *dl) {
    return dl->batch_size;
}

static uint64_t batches_of(const mm_dataloader *dl, size_t n) {
    uint64_t bs = (uint64_t)dl->batch_size;
    return dl->drop_last ? n / bs : (n + bs - 1) / bs;
}

size_t mm_dataloader_len(const mm_dataloader *dl) {
    return (size_t)batches_of(dl, mm_sampler_len(dl->sampler));
}

/* Samples, collate, in this thread, with the batch's generator, no grad
 * and a pool of its own. */
static int build_batch(mm_dataloader *dl, int64_t epoch, uint64_t batch,
                       const int64_t *idx, size_t n, mm_value **out) {
    *out = NULL;
    mm_generator *gen;
    MM_TRY(mm_generator_new(batch_seed(dl->seed, epoch, batch), &gen));
    mm_generator *saved = data_gen;
    data_gen = gen;
    mm_no_grad_push();
    mm_pool *pool = NULL;
    mm_value **samples = calloc(n ? n : 1, sizeof *samples);
    int rc = samples ? mm_pool_open(&pool)
                     : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++)
        rc = mm_dataset_get(dl->dataset, (size_t)idx[i], &samples[i]);
    if (!rc) {
        rc = dl->collate(samples, n, out);
        if (rc)
            rc = mm_error_context(rc, NULL, "%s: batch %llu", dl->path,
                                  (unsigned long long)batch);
    }
    for (size_t i = 0; samples && i < n; i++)
        mm_value_release(samples[i]);
    free(samples);
    mm_pool_close(pool);
    mm_no_grad_pop();
    data_gen = saved;
    mm_generator_free(gen);
    return rc;
}

/* Batch `b`'s indices: a slice of the epoch's, or drawn from an infinite
 * sampler (owned by the caller then). */
static int batch_indices(mm_dataloader *dl, uint64_t b, const int64_t **idx,
                         size_t *n, int64_t **owned) {
    *owned = NULL;
    if (mm_sampler_is_infinite(dl->sampler)) {
        MM_TRY(mm_sampler_epoch(dl->sampler, (size_t)dl->batch_size, owned, n));
        *idx = *owned;
        return MM_OK;
    }
    size_t start = (size_t)(b * (uint64_t)dl->batch_size);
    size_t left = dl->n_idx - start;
    *idx = dl->idx + start;
    *n = left < (size_t)dl->batch_size ? left : (size_t)dl->batch_size;
    return MM_OK;
}

/* ---- workers
 * ------------------------------------------------------------------ */

static void worker_main(void *arg) {
    mm_dataloader *dl = arg;
    uv_mutex_lock(&dl->lock);
    for (;;) {
        while (!dl->stop && dl->next_claim >= dl->next_sched)
            uv_cond_wait(&dl->work, &dl->lock);
        if (dl->stop)
            break;
        slot *s = &dl->slots[dl->next_claim++ % dl->cap];
        s->state = SLOT_RUNNING;
        int64_t epoch = dl->epoch;
        uint64_t batch = s->batch;
        uv_mutex_unlock(&dl->lock);

        mm_value *result;
        int rc = build_batch(dl, epoch, batch, s->idx, s->n, &result);
        char *msg = NULL;
        if (rc) {
            const char *m = mm_error_message();
            size_t len = strlen(m) + 1;
            if ((msg = malloc(len)))
                memcpy(msg, m, len);
            mm_error_clear();
        }

        uv_mutex_lock(&dl->lock);
        s->result = result;
        s->rc = rc;
        s->msg = msg;
        s->state = SLOT_DONE;
        uv_cond_broadcast(&dl->done);
    }
    uv_mutex_unlock(&dl->lock);
}

static int start_workers(mm_dataloader *dl) {
    if (dl->n_threads)
        return MM_OK;
    for (; dl->n_threads < dl->num_workers; dl->n_threads++) {
        int err =
            uv_thread_create(&dl->threads[dl->n_threads], worker_main, dl);
        if (err)
            return mm_error_set(MM_ENOMEM, "%s: cannot start worker %d: %s",
                                dl->path, dl->n_threads, uv_strerror(err));
    }
    return MM_OK;
}

static void stop_workers(mm_dataloader *dl) {
    if (!dl->n_threads)
        return;
    uv_mutex_lock(&dl->lock);
    dl->stop = true;
    uv_cond_broadcast(&dl->work);
    uv_mutex_unlock(&dl->lock);
    for (int i = 0; i < dl->n_threads; i++)
        uv_thread_join(&dl->threads[i]);
    dl->n_threads = 0;
    dl->stop = false;
}

static void slot_clear(slot *s) {
    mm_value_release(s->result);
    free(s->msg);
    free(s->owned_idx);
    memset(s, 0, sizeof *s);
}

/* Fill free slots with the next batches (lock held). */
static int schedule(mm_dataloader *dl) {
    int rc = MM_OK;
    while (dl->next_sched < dl->n_batches &&
           dl->next_sched < dl->next_out + dl->cap) {
        slot *s = &dl->slots[dl->next_sched % dl->cap];
        MM_ASSERT(s->state == SLOT_FREE);
        rc = batch_indices(dl, dl->next_sched, &s->idx, &s->n, &s->owned_idx);
        if (rc)
            break;
        s->batch = dl->next_sched + dl->infinite_base;
        s->state = SLOT_PENDING;
        dl->next_sched++;
    }
    uv_cond_broadcast(&dl->work);
    return rc;
}

/* ---- epochs
 * ------------------------------------------------------------------- */

void mm_dataloader_end(mm_dataloader *dl) {
    uv_mutex_lock(&dl->lock);
    dl->next_claim = dl->next_sched; /* unclaimed batches are dropped */
    for (;;) {                       /* and claimed ones finish */
        bool running = false;
        for (size_t i = 0; i < dl->cap; i++)
            running |= dl->slots[i].state == SLOT_RUNNING;
        if (!running)
            break;
        uv_cond_wait(&dl->done, &dl->lock);
    }
    for (size_t i = 0; i < dl->cap; i++)
        slot_clear(&dl->slots[i]);
    if (dl->active && mm_sampler_is_infinite(dl->sampler))
        dl->infinite_base += dl->next_sched;
    dl->next_out = dl->next_sched = dl->next_claim = 0;
    free(dl->idx);
    dl->idx = NULL;
    dl->n_idx = 0;
    dl->active = false;
    uv_mutex_unlock(&dl->lock);
    if (!dl->persistent)
        stop_workers(dl);
}

int mm_dataloader_begin(mm_dataloader *dl, int64_t epoch) {
    mm_dataloader_end(dl);
    dl->epoch = epoch;
    mm_sampler_set_epoch(dl->sampler, epoch);
    if (mm_sampler_is_infinite(dl->sampler)) {
        dl->n_batches = UINT64_MAX;
    } else {
        MM_TRY(mm_sampler_epoch(dl->sampler, 0, &dl->idx, &dl->n_idx));
        dl->n_batches = batches_of(dl, dl->n_idx);
    }
    dl->active = true;
    if (!dl->num_workers)
        return MM_OK;
    int rc = start_workers(dl);
    if (!rc) {
        uv_mutex_lock(&dl->lock);
        rc = schedule(dl);
        uv_mutex_unlock(&dl->lock);
    }
    if (rc)
        mm_dataloader_end(dl);
    return rc;
}

int mm_dataloader_next(mm_dataloader *dl, mm_value **batch) {
    *batch = NULL;
    if (!dl->active)
        return MM_OK;
    if (dl->next_out >= dl->n_batches) {
        mm_dataloader_end(dl); /* torch shuts non-persistent workers down */
        return MM_OK;
    }
    if (!dl->num_workers) {
        const int64_t *idx;
        size_t n;
        int64_t *owned;
        MM_TRY(batch_indices(dl, dl->next_out, &idx, &n, &owned));
        int rc = build_batch(dl, dl->epoch, dl->next_out + dl->infinite_base,
                             idx, n, batch);
        free(owned);
        dl->next_out++;
        dl->next_sched = dl->next_out;
        return rc;
    }
    uv_mutex_lock(&dl->lock);
    slot *s = &dl->slots[dl->next_out % dl->cap];
    if (s->state == SLOT_FREE) { /* scheduling it failed last time */
        int src = schedule(dl);
        if (s->state == SLOT_FREE) {
            uv_mutex_unlock(&dl->lock);
            return src ? src
                       : mm_error_set(MM_EINTERNAL,
                                      "%s: batch %llu was not "
                                      "scheduled",
                                      dl->path,
                                      (unsigned long long)dl->next_out);
        }
    }
    while (s->state != SLOT_DONE)
        uv_cond_wait(&dl->done, &dl->lock);
    mm_value *result = s->result;
    int rc = s->rc;
    char *msg = s->msg;
    s->result = NULL;
    s->msg = NULL;
    slot_clear(s);
    dl->next_out++;
    /* A failure to schedule later batches is reported when they are due. */
    (void)schedule(dl);
    uv_mutex_unlock(&dl->lock);
    if (rc) {
        mm_error_set(rc, "%s", msg ? msg : "a dataloader worker failed");
        free(msg);
        mm_value_release(result);
        return rc;
    }
    *batch = result;
    return MM_OK;
}

void mm_dataloader_free(mm_dataloader *dl) {
    if (!dl)
        return;
    mm_dataloader_end(dl);
    stop_workers(dl);
    mm_sampler_free(dl->sampler);
    mm_dataset_free(dl->dataset);
    free(dl->slots);
    free(dl->threads);
    free(dl->path);
    uv_cond_destroy(&dl->work);
    uv_cond_destroy(&dl->done);
    uv_mutex_destroy(&dl->lock);
    free(dl);
}

/* ---- building from a config
 * --------------------------------------------------- */

/* The keys of a dataloader config (torch's DataLoader arguments that mm
 * honours, and mmengine's additions). */
static const char *const loader_keys[] = {
    "batch_size", "num_workers",   "persistent_workers", "prefetch_factor",
    "drop_last",  "shuffle",       "pin_memory",         "dataset",
    "sampler",    "batch_sampler", "collate_fn",         "num_batch_per_epoch",
};
#define N_LOADER_KEYS (sizeof loader_keys / sizeof loader_keys[0])

static int check_keys(const mm_value *node, const char *path) {
    for (size_t i = 0; i < mm_value_len(node); i++) {
        const char *key = mm_value_dict_key_at(node, i);
        bool known = false;
        const char *best = NULL;
        size_t best_d = strlen(key) / 3 + 2; /* as the registry suggests */
        for (size_t k = 0; k < N_LOADER_KEYS && !known; k++) {
            known = strcmp(key, loader_keys[k]) == 0;
            size_t d = mm_edit_distance(loader_keys[k], key);
            if (d < best_d)
                best = loader_keys[k], best_d = d;
        }
        if (known)
            continue;
        char hint[96] = "";
        if (best)
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", best);
        return mm_error_set_at(MM_EINVAL, mm_value_dict_key_loc_at(node, i),
                               "%s: DataLoader has no parameter '%s'%s", path,
                               key, hint);
    }
    return MM_OK;
}

static int type_err(const mm_value *v, const char *path, const char *key,
                    const char *want) {
    return mm_error_set_at(MM_ETYPE, mm_value_loc(v),
                           "%s.%s: expected %s, got %s", path, key, want,
                           mm_value_type_name(mm_value_type_of(v)));
}

/* An optional int (absent or null: *set false). */
static int opt_int(const mm_value *node, const char *path, const char *key,
                   int64_t *out, bool *set) {
    const mm_value *v = mm_value_dict_get(node, key);
    *set = v && !mm_value_is_null(v);
    if (!*set)
        return MM_OK;
    if (!mm_value_is_int(v))
        return type_err(v, path, key, "an int");
    *out = mm_value_get_int(v);
    return MM_OK;
}

static int opt_bool(const mm_value *node, const char *path, const char *key,
                    bool *out) {
    const mm_value *v = mm_value_dict_get(node, key);
    if (!v || mm_value_is_null(v))
        return MM_OK;
    if (!mm_value_is_bool(v))
        return type_err(v, path, key, "a bool");
    *out = mm_value_get_bool(v);
    return MM_OK;
}

static int range_err(const mm_value *node, const char *path, const char *key,
                     const char *why) {
    return mm_error_set_at(MM_EINVAL,
                           mm_value_loc(mm_value_dict_get(node, key)),
                           "%s.%s: %s", path, key, why);
}

/* The scalar options, with torch's DataLoader checks. */
static int read_options(mm_dataloader *dl, const mm_value *node,
                        const char *path) {
    int64_t v;
    bool set, shuffle = false, pin = false;
    dl->batch_size = 1; /* torch's default */
    MM_TRY(opt_int(node, path, "batch_size", &v, &set));
    if (set && v < 1)
        return range_err(node, path, "batch_size",
                         "should be a positive integer");
    if (set)
        dl->batch_size = v;
    MM_TRY(opt_int(node, path, "num_workers", &v, &set));
    if (set && v < 0)
        return range_err(node, path, "num_workers",
                         "should be non-negative; use num_workers=0 to "
                         "load in the calling thread");
    if (set && v > 1024)
        return range_err(node, path, "num_workers", "at most 1024 workers");
    dl->num_workers = set ? (int)v : 0;
    MM_TRY(opt_int(node, path, "prefetch_factor", &v, &set));
    if (set && dl->num_workers == 0)
        return range_err(node, path, "prefetch_factor",
                         "only applies with num_workers > 0 (set it to null)");
    if (set && (v < 1 || v > 1024))
        return range_err(node, path, "prefetch_factor",
                         "should be between 1 and 1024");
    dl->prefetch_factor = set ? (int)v : 2;
    MM_TRY(opt_bool(node, path, "persistent_workers", &dl->persistent));
    if (dl->persistent && dl->num_workers == 0)
        return range_err(node, path, "persistent_workers",
                         "needs num_workers > 0");
    MM_TRY(opt_bool(node, path, "drop_last", &dl->drop_last));
    MM_TRY(opt_bool(node, path, "pin_memory", &pin)); /* CPU: nothing to do */
    MM_TRY(opt_bool(node, path, "shuffle", &shuffle));
    /* mmengine always passes a sampler, which torch will not combine with
     * shuffle: true. */
    if (shuffle)
        return range_err(node, path, "shuffle",
                         "is mutually exclusive with sampler (set "
                         "sampler.shuffle instead)");
    const mm_value *bs = mm_value_dict_get(node, "batch_sampler");
    if (bs && !mm_value_is_null(bs))
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(bs),
                               "%s.batch_sampler: only null is supported (the "
                               "batches are batch_size consecutive sampler "
                               "indices)",
                               path);
    return MM_OK;
}

/* mmengine's _SlicedDataset (num_batch_per_epoch): the first `len` samples
 * of a dataset, for quick runs. */
typedef struct sliced {
    mm_dataset *dataset;
    size_t len;
} sliced;

static size_t sliced_len(const mm_dataset *ds) {
    return ((sliced *)mm_dataset_priv(ds))->len;
}
static int sliced_get(mm_dataset *ds, size_t i, mm_value **out) {
    return mm_dataset_get(((sliced *)mm_dataset_priv(ds))->dataset, i, out);
}
static int sliced_get_info(const mm_dataset *ds, size_t i, mm_value **out) {
    return mm_dataset_get_info(((sliced *)mm_dataset_priv(ds))->dataset, i,
                               out);
}
static int sliced_cat_ids(const mm_dataset *ds, size_t i, int64_t *ids,
                          size_t cap, size_t *n) {
    return mm_dataset_cat_ids(((sliced *)mm_dataset_priv(ds))->dataset, i, ids,
                              cap, n);
}
static void sliced_fini(mm_dataset *ds) {
    mm_dataset_free(((sliced *)mm_dataset_priv(ds))->dataset);
}

static const mm_dataset_class sliced_class = {
    .name = "num_batch_per_epoch",
    .len = sliced_len,
    .get_info = sliced_get_info,
    .get = sliced_get,
    .cat_ids = sliced_cat_ids,
    .fini = sliced_fini,
};

static int slice_dataset(mm_dataloader *dl, const mm_value *node) {
    int64_t n;
    bool set;
    MM_TRY(opt_int(node, dl->path, "num_batch_per_epoch", &n, &set));
    if (!set)
        return MM_OK;
    size_t len = mm_dataset_len(dl->dataset);
    /* num_batch_per_epoch * batch_size * world_size samples (world 1) */
    if (n < 1)
        return range_err(node, dl->path, "num_batch_per_epoch",
                         "should be a positive integer");
    if ((uint64_t)n > len / (uint64_t)dl->batch_size)
        return mm_error_set_at(
            MM_EINVAL,
            mm_value_loc(mm_value_dict_get(node, "num_batch_per_epoch")),
            "%s.num_batch_per_epoch: %lld batches of %lld need more samples "
            "than the dataset's %zu",
            dl->path, (long long)n, (long long)dl->batch_size, len);
    mm_dataset *w;
    MM_TRY(mm_dataset_new(&sliced_class, sizeof(sliced), &w));
    sliced *s = mm_dataset_priv(w);
    s->dataset = dl->dataset;
    s->len = (size_t)n * (size_t)dl->batch_size;
    mm_dataset_share_metainfo(w, dl->dataset);
    dl->dataset = w;
    return mm_dataset_full_init(w);
}

static char *join_key(const char *path, const char *key) {
    mm_strbuf sb = {0};
    mm_strbuf_printf(&sb, "%s%s%s", path, path[0] ? "." : "", key);
    char *s;
    return mm_strbuf_finish(&sb, &s) ? NULL : s;
}

static int build_parts(mm_dataloader *dl, const mm_value *node,
                       const char *scope) {
    const char *path = dl->path;
    const mm_value *dsn = mm_value_dict_get(node, "dataset");
    const mm_value *smn = mm_value_dict_get(node, "sampler");
    if (!dsn)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                               "%s: needs a 'dataset'", path);
    if (!smn || mm_value_is_null(smn))
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(node),
            "%s: needs a 'sampler' (e.g. sampler: {type: DefaultSampler, "
            "shuffle: true})",
            path);
    char *sub = join_key(path, "dataset");
    if (!sub)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = mm_registry_build(MM_DATASETS, dsn, scope, sub, NULL,
                               (void **)&dl->dataset);
    free(sub);
    MM_TRY(rc);
    /* build_dataloader runs full_init before the sampler looks at it */
    MM_TRY(mm_dataset_full_init(dl->dataset));
    MM_TRY(slice_dataset(dl, node));

    mm_sampler_args args = {
        .dataset = dl->dataset, .seed = dl->seed, .rank = 0, .world = 1};
    if (!(sub = join_key(path, "sampler")))
        return mm_error_set(MM_ENOMEM, "out of memory");
    rc = mm_registry_build(MM_DATA_SAMPLERS, smn, scope, sub, &args,
                           (void **)&dl->sampler);
    free(sub);
    MM_TRY(rc);

    const mm_value *cfn = mm_value_dict_get(node, "collate_fn");
    mm_value *def = NULL;
    if (!cfn || mm_value_is_null(cfn)) {
        def = mm_value_new_dict();
        if (!def || mm_value_dict_set_take(
                        def, "type", mm_value_new_string("pseudo_collate"))) {
            mm_value_release(def);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
        cfn = def;
    }
    void *fn = NULL;
    if (!(sub = join_key(path, "collate_fn"))) {
        mm_value_release(def);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    rc = mm_registry_build(MM_COLLATE_FUNCTIONS, cfn, scope, sub, NULL, &fn);
    free(sub);
    mm_value_release(def);
    MM_TRY(rc);
    dl->collate = (mm_collate_fn)fn;
    return MM_OK;
}

int mm_dataloader_build(const mm_value *node, const char *path,
                        const char *default_scope, uint64_t seed,
                        mm_dataloader **out) {
    *out = NULL;
    if (!path)
        path = "";
    if (!mm_value_is_dict(node))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(node),
                               "%s: expected a dataloader dict, got %s", path,
                               mm_value_type_name(mm_value_type_of(node)));
    MM_TRY(check_keys(node, path));
    mm_dataloader *dl = calloc(1, sizeof *dl);
    if (!dl)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (uv_mutex_init(&dl->lock)) {
        free(dl);
        return mm_error_set(MM_ENOMEM, "dataloader: cannot create a mutex");
    }
    if (uv_cond_init(&dl->work)) {
        uv_mutex_destroy(&dl->lock);
        free(dl);
        return mm_error_set(MM_ENOMEM, "dataloader: cannot create a condition");
    }
    if (uv_cond_init(&dl->done)) {
        uv_cond_destroy(&dl->work);
        uv_mutex_destroy(&dl->lock);
        free(dl);
        return mm_error_set(MM_ENOMEM, "dataloader: cannot create a condition");
    }
    dl->seed = seed;
    dl->path = join_key(path, "");
    if (dl->path) /* join_key(path, "") wrote "path." */
        dl->path[strlen(path)] = '\0';
    int rc = dl->path ? read_options(dl, node, path)
                      : mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc) {
        dl->cap = dl->num_workers
                      ? (size_t)dl->prefetch_factor * (size_t)dl->num_workers
                      : 1;
        dl->slots = calloc(dl->cap, sizeof *dl->slots);
        dl->threads = calloc(dl->num_workers ? (size_t)dl->num_workers : 1,
                             sizeof *dl->threads);
        if (!dl->slots || !dl->threads)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (!rc)
        rc = build_parts(dl, node, default_scope);
    if (rc) {
        mm_dataloader_free(dl);
        return rc;
    }
    *out = dl;
    return MM_OK;
}
