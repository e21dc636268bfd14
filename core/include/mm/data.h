/* mm/data.h - datasets, samplers, collate and the dataloader.
 *
 * The data side of mmengine, in C. A dataset is an object of a dataset
 * class: the class says how many samples there are and what each one's raw
 * information is (`get_info`: a results dict such as `{img_path, gt_label}`
 * or `{img: tensor, gt_label}`); the base object adds what every dataset
 * has - metainfo, lazy initialisation, the transform pipeline, test_mode -
 * exactly as mmengine's BaseDataset does:
 *
 *   - mm_dataset_full_init runs the class's `load` once (lazy_init: false
 *     runs it at build time, true on first use), then the class's `filter`;
 *   - mm_dataset_get(ds, i) = get_info(i), add `sample_idx`, run the
 *     pipeline; a sample the pipeline drops is refetched from another
 *     random index when not in test_mode (mmengine's max_refetch, 1000),
 *     and is an error in test_mode;
 *   - metainfo is the class's METAINFO (`classes`, ...) updated by the
 *     config's `metainfo`.
 *
 * Dataset classes live in plugins (mmcls.MNIST); wrappers (ConcatDataset,
 * RepeatDataset, ClassBalancedDataset) are core components that hold other
 * datasets. The DATASETS contract: a builder's `*out` is an `mm_dataset *`
 * (made with mm_dataset_new / mm_dataset_from_build), destroy is
 * mm_dataset_destroy.
 *
 * Samplers (DATA_SAMPLERS: DefaultSampler, InfiniteSampler) yield dataset
 * indices for one epoch; collate functions (COLLATE_FUNCTIONS:
 * pseudo_collate, default_collate) join a list of samples into a batch.
 * The dataloader ties them together with worker threads and prefetching.
 *
 * Threads: once full_init has run, mm_dataset_get may be called from
 * several worker threads at once; classes must keep get_info read-only.
 * Randomness inside transforms comes from mm_data_generator(): the
 * dataloader sets it per batch, derived from (seed, epoch, batch index),
 * so results do not depend on how many workers there are or which one ran
 * the batch. */
#ifndef MM_DATA_H
#define MM_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/error.h"
#include "mm/registry.h"
#include "mm/rng.h"
#include "mm/transform.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- datasets ----------------------------------------------------------- */

typedef struct mm_dataset mm_dataset;

typedef struct mm_dataset_class {
    const char *name; /* "MNIST": used in messages */
    /* mmengine's METAINFO as YAML flow text ("{classes: [a, b]}"), or NULL. */
    const char *metainfo;
    /* Load the annotations (read files, fill the class's private state or
     * mm_dataset_data_list). Called once by full_init. NULL: nothing. */
    int (*load)(mm_dataset *ds);
    /* Optional: drop samples after load (filter_cfg); may rewrite the data
     * list. */
    int (*filter)(mm_dataset *ds);
    /* Number of samples. NULL: the length of the data list. */
    size_t (*len)(const mm_dataset *ds);
    /* The raw results dict of sample i (a new dict the caller owns). NULL:
     * a copy of data_list[i]. */
    int (*get_info)(const mm_dataset *ds, size_t i, mm_value **out);
    /* Optional: sample i from start to finish (wrappers delegate to the
     * dataset they wrap). NULL: the base's get_info + pipeline. */
    int (*get)(mm_dataset *ds, size_t i, mm_value **out);
    /* Optional: the category ids in sample i (ClassBalancedDataset), into
     * ids[0..*n) with at most `cap`; NULL: `gt_label` of get_info. */
    int (*cat_ids)(const mm_dataset *ds, size_t i, int64_t *ids, size_t cap,
                   size_t *n);
    void (*fini)(mm_dataset *ds); /* free the private area's contents */
} mm_dataset_class;

/* The base parameters of every dataset (mmengine's BaseDataset), for the
 * start of a DATASETS component's schema: ann_file, metainfo, data_root,
 * data_prefix, filter_cfg, indices, serialize_data, pipeline, test_mode,
 * lazy_init, max_refetch. */
#define MM_DATASET_BASE_PARAMS                                                 \
    {.name = "ann_file", .type = MM_PARAM_STRING, .def = "''",                \
     .doc = "annotation file, relative to data_root"},                       \
    {.name = "metainfo", .type = MM_PARAM_DICT | MM_PARAM_NULL,               \
     .def = "null", .doc = "overrides the class's metainfo (classes, ...)"},  \
    {.name = "data_root", .type = MM_PARAM_STRING, .def = "''",               \
     .doc = "root the other paths are relative to"},                         \
    {.name = "data_prefix", .type = MM_PARAM_DICT | MM_PARAM_STRING,          \
     .def = "{}", .doc = "prefixes of data paths, e.g. {img_path: train}"},  \
    {.name = "filter_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,             \
     .def = "null", .doc = "how to filter samples after loading"},           \
    {.name = "indices", .type = MM_PARAM_INT | MM_PARAM_LIST | MM_PARAM_NULL, \
     .def = "null", .doc = "keep the first n samples, or these indices"},    \
    {.name = "serialize_data", .type = MM_PARAM_BOOL, .def = "true",          \
     .doc = "accepted for mmengine configs; data lists are shared anyway"},  \
    {.name = "pipeline", .type = MM_PARAM_COMPONENT_LIST, .def = "[]",        \
     .kind = MM_TRANSFORMS, .doc = "transforms applied to each sample"},     \
    {.name = "test_mode", .type = MM_PARAM_BOOL, .def = "false",              \
     .doc = "a test split: no refetch of dropped samples"},                  \
    {.name = "lazy_init", .type = MM_PARAM_BOOL, .def = "false",              \
     .doc = "load annotations on first use"},                                \
    {.name = "max_refetch", .type = MM_PARAM_INT, .def = "1000",              \
     .doc = "tries to replace a dropped sample"}

/* Create a dataset of `cls` with priv_size zeroed bytes of private state.
 * No pipeline, empty metainfo (the class's), not initialised. */
MM_API int mm_dataset_new(const mm_dataset_class *cls, size_t priv_size,
                          mm_dataset **out) MM_NODISCARD;
/* The same inside a DATASETS builder: reads the MM_DATASET_BASE_PARAMS,
 * builds the pipeline, merges metainfo, runs full_init unless lazy_init.
 * Errors keep the node's key path ("train_dataloader.dataset (mmcls.MNIST)"). */
MM_API int mm_dataset_from_build(mm_build_ctx *ctx, const mm_dataset_class *cls,
                                 size_t priv_size,
                                 mm_dataset **out) MM_NODISCARD;
MM_API void mm_dataset_free(mm_dataset *ds); /* NULL ok */
MM_API void mm_dataset_destroy(void *ds);    /* for mm_component.destroy */

MM_API const mm_dataset_class *mm_dataset_class_of(const mm_dataset *ds);
MM_API void *mm_dataset_priv(const mm_dataset *ds);
/* The config's data_root joined with a relative path into buf ("" root:
 * the path as is). Absolute paths are kept. */
MM_API const char *mm_dataset_join_root(const mm_dataset *ds, const char *path,
                                        char *buf, size_t size);
/* The key path of the config node ("train_dataloader.dataset"), for
 * messages such as "train_dataloader.dataset.data_root: no such directory
 * '/data/mnist'"; "" when made with mm_dataset_new. */
MM_API const char *mm_dataset_path(const mm_dataset *ds);
/* The node the dataset was built from (borrowed; NULL without one), so a
 * class can point errors at file:line (mm_value_loc). Parameters the config
 * leaves out hold their schema defaults, so `load` reads the class's own
 * parameters here. */
MM_API const mm_value *mm_dataset_node(const mm_dataset *ds);

/* metainfo dict (borrowed, never NULL) and the data list the class may
 * fill in load (borrowed list; NULL until set). */
MM_API mm_value *mm_dataset_metainfo(const mm_dataset *ds);
MM_API mm_value *mm_dataset_data_list(const mm_dataset *ds);
MM_API void mm_dataset_set_data_list(mm_dataset *ds, mm_value *list); /* takes */
/* Set the pipeline (takes it; NULL: none) and test_mode. */
MM_API void mm_dataset_set_pipeline(mm_dataset *ds, mm_transform *pipeline);
MM_API void mm_dataset_set_test_mode(mm_dataset *ds, bool test_mode);
MM_API bool mm_dataset_test_mode(const mm_dataset *ds);

MM_API int mm_dataset_full_init(mm_dataset *ds) MM_NODISCARD; /* idempotent */
/* Length after full_init (runs it if needed; 0 on failure, error set). */
MM_API size_t mm_dataset_len(mm_dataset *ds);
/* Sample i through the pipeline; a new dict. Errors name the index:
 * "train_dataloader.dataset (mmcls.MNIST): sample 17: ...". */
MM_API int mm_dataset_get(mm_dataset *ds, size_t i,
                          mm_value **out) MM_NODISCARD;
MM_API int mm_dataset_get_info(mm_dataset *ds, size_t i,
                               mm_value **out) MM_NODISCARD;
MM_API int mm_dataset_cat_ids(mm_dataset *ds, size_t i, int64_t *ids,
                              size_t cap, size_t *n) MM_NODISCARD;

/* ---- samplers ----------------------------------------------------------- */

typedef struct mm_sampler mm_sampler;

/* DefaultSampler(shuffle, seed, round_up) and InfiniteSampler(shuffle,
 * seed), built through DATA_SAMPLERS by the dataloader, which hands the
 * builder an mm_sampler_args as mm_build_user(ctx). A null `seed` in the
 * config means the run's seed. */
typedef struct mm_sampler_args {
    mm_dataset *dataset;
    uint64_t seed; /* the run's seed */
    int rank, world; /* 0 and 1 without distributed training */
} mm_sampler_args;

MM_API void mm_sampler_free(mm_sampler *s);
MM_API void mm_sampler_destroy(void *s);
/* Indices of one epoch of this rank, into a new array *idx of *n (free()
 * it). An infinite sampler gives `want` indices continuing where it left
 * off. */
MM_API int mm_sampler_epoch(mm_sampler *s, size_t want, int64_t **idx,
                            size_t *n) MM_NODISCARD;
/* The epoch the next permutation is drawn for (DistSamplerSeedHook). */
MM_API void mm_sampler_set_epoch(mm_sampler *s, int64_t epoch);
MM_API bool mm_sampler_is_infinite(const mm_sampler *s);
/* Samples per epoch for this rank (DefaultSampler: ceil(len/world) with
 * round_up; InfiniteSampler: the dataset length). */
MM_API size_t mm_sampler_len(const mm_sampler *s);

/* ---- collate ------------------------------------------------------------ */

/* A collate function: n samples (dicts) -> a new batch dict. pseudo_collate
 * transposes into lists (`{inputs: [t0, t1], data_samples: [s0, s1]}`);
 * default_collate also stacks tensors and numbers into tensors. Registered
 * as COLLATE_FUNCTIONS; the builder's *out is an mm_collate_fn (a function
 * pointer, no destroy). */
typedef int (*mm_collate_fn)(mm_value *const *samples, size_t n,
                             mm_value **batch);
MM_API int mm_pseudo_collate(mm_value *const *samples, size_t n,
                             mm_value **batch) MM_NODISCARD;
MM_API int mm_default_collate(mm_value *const *samples, size_t n,
                              mm_value **batch) MM_NODISCARD;

/* ---- the dataloader ----------------------------------------------------- */

typedef struct mm_dataloader mm_dataloader;

/* Build from a dataloader config node (`train_dataloader`: batch_size,
 * num_workers, persistent_workers, prefetch_factor, drop_last, shuffle,
 * pin_memory (accepted), dataset, sampler, batch_sampler (accepted when
 * null), collate_fn (default pseudo_collate)); `path` names the node
 * ("train_dataloader"); `seed` is the run's seed, from which every batch's
 * generator is derived. Unknown keys are errors with a did-you-mean. */
MM_API int mm_dataloader_build(const mm_value *node, const char *path,
                               const char *default_scope, uint64_t seed,
                               mm_dataloader **out) MM_NODISCARD;
MM_API void mm_dataloader_free(mm_dataloader *dl); /* joins the workers */

MM_API mm_dataset *mm_dataloader_dataset(const mm_dataloader *dl);
MM_API mm_sampler *mm_dataloader_sampler(const mm_dataloader *dl);
MM_API int64_t mm_dataloader_batch_size(const mm_dataloader *dl);
/* Batches per epoch (len(dataloader)). */
MM_API size_t mm_dataloader_len(const mm_dataloader *dl);

/* Start an epoch: draws the sampler's indices for `epoch` and starts the
 * workers prefetching. */
MM_API int mm_dataloader_begin(mm_dataloader *dl, int64_t epoch) MM_NODISCARD;
/* The next batch (a new dict), in order; *batch NULL at the end of the
 * epoch (an infinite sampler never ends). A worker's error comes back here
 * with its message. */
MM_API int mm_dataloader_next(mm_dataloader *dl,
                              mm_value **batch) MM_NODISCARD;
/* Stop the epoch early (workers drain; persistent workers stay). */
MM_API void mm_dataloader_end(mm_dataloader *dl);

/* The generator transforms draw from on this thread: the batch's, inside a
 * dataloader worker; the default generator elsewhere. */
MM_API mm_generator *mm_data_generator(void);
/* Set this thread's data generator (NULL: back to the default). For
 * dataloaders and tests. */
MM_API void mm_data_set_generator(mm_generator *gen);
/* One uniform double in [0, 1) from mm_data_generator(): 53 bits of one
 * Philox block per draw, so draws never share counters. Every random
 * transform (core and plugins) draws through it, so a recorded sequence
 * of draws replays the same way everywhere. */
MM_API double mm_data_rand_uniform(void);

#ifdef __cplusplus
}
#endif
#endif
