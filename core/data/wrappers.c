/* mmengine's dataset wrappers: ConcatDataset, RepeatDataset and
 * ClassBalancedDataset, DATASETS components of the core scope holding the
 * datasets they wrap. Their samples come from the inner datasets whole
 * (pipeline, refetching and all), so they define `get`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "strbuf.h"

/* Build the wrapper dataset of `cls` for ctx, with its inner datasets built
 * by fill(), then full_init unless lazy_init. */
static int wrapper_build(mm_build_ctx *ctx, const mm_dataset_class *cls,
                         size_t priv_size,
                         int (*fill)(mm_dataset *ds, mm_build_ctx *ctx),
                         void **out) {
    mm_dataset *ds;
    bool lazy;
    MM_TRY(mm_dataset_new(cls, priv_size, &ds));
    int rc = mm_dataset_attach_build(ds, ctx);
    if (!rc)
        rc = mm_build_bool(ctx, "lazy_init", &lazy);
    if (!rc)
        rc = fill(ds, ctx);
    if (!rc && !lazy)
        rc = mm_dataset_full_init(ds);
    if (rc) {
        mm_dataset_free(ds);
        return rc;
    }
    mm_dataset_set_building(ds, false);
    *out = ds;
    return MM_OK;
}

/* ---- ConcatDataset --------------------------------------------------------
 */

typedef struct concat {
    mm_dataset **datasets;
    size_t n;
    size_t *cumulative; /* torch's cumulative_sizes */
} concat;

static int concat_load(mm_dataset *ds) {
    concat *c = mm_dataset_priv(ds);
    size_t total = 0;
    for (size_t i = 0; i < c->n; i++) {
        MM_TRY(mm_dataset_full_init(c->datasets[i]));
        total += mm_dataset_len(c->datasets[i]);
        c->cumulative[i] = total;
    }
    return MM_OK;
}

static size_t concat_len(const mm_dataset *ds) {
    concat *c = mm_dataset_priv(ds);
    return c->n ? c->cumulative[c->n - 1] : 0;
}

/* mmengine's _get_ori_dataset_idx: bisect_right on the cumulative sizes. */
static mm_dataset *concat_locate(const mm_dataset *ds, size_t i, size_t *j) {
    concat *c = mm_dataset_priv(ds);
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (i < c->cumulative[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    *j = lo ? i - c->cumulative[lo - 1] : i;
    return c->datasets[lo];
}

static int concat_get(mm_dataset *ds, size_t i, mm_value **out) {
    size_t j;
    mm_dataset *d = concat_locate(ds, i, &j);
    return mm_dataset_get(d, j, out);
}

static int concat_get_info(const mm_dataset *ds, size_t i, mm_value **out) {
    size_t j;
    mm_dataset *d = concat_locate(ds, i, &j);
    return mm_dataset_get_info(d, j, out);
}

static int concat_cat_ids(const mm_dataset *ds, size_t i, int64_t *ids,
                          size_t cap, size_t *n) {
    size_t j;
    mm_dataset *d = concat_locate(ds, i, &j);
    return mm_dataset_cat_ids(d, j, ids, cap, n);
}

static void concat_fini(mm_dataset *ds) {
    concat *c = mm_dataset_priv(ds);
    for (size_t i = 0; i < c->n; i++)
        mm_dataset_free(c->datasets[i]);
    free(c->datasets);
    free(c->cumulative);
}

static const mm_dataset_class concat_class = {
    .name = "ConcatDataset",
    .load = concat_load,
    .len = concat_len,
    .get_info = concat_get_info,
    .get = concat_get,
    .cat_ids = concat_cat_ids,
    .fini = concat_fini,
};

static bool key_ignored(const mm_value *ignore, const char *key) {
    if (mm_value_is_string(ignore))
        return strcmp(mm_value_get_string(ignore), key) == 0;
    for (size_t i = 0; i < mm_value_len(ignore); i++) {
        const mm_value *v = mm_value_list_get(ignore, i);
        if (mm_value_is_string(v) && strcmp(mm_value_get_string(v), key) == 0)
            return true;
    }
    return false;
}

/* mmengine's check: every key any dataset's metainfo has (less ignore_keys)
 * must be in each dataset's metainfo, of the first one's type and value. */
static int concat_check_metainfo(concat *c, const mm_value *ignore,
                                 const mm_srcloc *loc) {
    const mm_value *first = mm_dataset_metainfo(c->datasets[0]);
    for (size_t i = 0; i < c->n; i++) {
        const mm_value *keys = mm_dataset_metainfo(c->datasets[i]);
        for (size_t k = 0; k < mm_value_len(keys); k++) {
            const char *key = mm_value_dict_key_at(keys, k);
            if (key_ignored(ignore, key))
                continue;
            for (size_t d = 0; d < c->n; d++) {
                const mm_value *meta = mm_dataset_metainfo(c->datasets[d]);
                const mm_value *a = mm_value_dict_get(first, key);
                const mm_value *b = mm_value_dict_get(meta, key);
                if (!b) /* d == 0 comes first: `a` exists after it */
                    return mm_error_set_at(
                        MM_EINVAL, loc,
                        "datasets[%zu]: metainfo has no '%s' (another "
                        "dataset has it; list it in ignore_keys to skip the "
                        "check)",
                        d, key);
                if (mm_value_type_of(a) != mm_value_type_of(b))
                    return mm_error_set_at(
                        MM_ETYPE, loc,
                        "datasets[%zu]: metainfo '%s' is %s but %s in the "
                        "first dataset",
                        d, key, mm_value_type_name(mm_value_type_of(b)),
                        mm_value_type_name(mm_value_type_of(a)));
                if (!mm_value_equal(a, b))
                    return mm_error_set_at(
                        MM_EINVAL, loc,
                        "datasets[%zu]: metainfo '%s' does not match the "
                        "first dataset's (list it in ignore_keys to skip the "
                        "check)",
                        d, key);
            }
        }
    }
    return MM_OK;
}

static int concat_fill(mm_dataset *ds, mm_build_ctx *ctx) {
    concat *c = mm_dataset_priv(ds);
    const mm_value *list = mm_build_arg(ctx, "datasets");
    const mm_value *ignore = mm_build_arg(ctx, "ignore_keys");
    size_t n = mm_value_len(list);
    if (!n)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(list),
                               "datasets: should not be an empty list");
    for (size_t i = 0; i < mm_value_len(ignore); i++)
        if (!mm_value_is_string(mm_value_list_get(ignore, i)))
            return mm_error_set_at(MM_ETYPE,
                                   mm_value_loc(mm_value_list_get(ignore, i)),
                                   "ignore_keys[%zu]: expected a string", i);
    c->datasets = calloc(n, sizeof *c->datasets);
    c->cumulative = calloc(n, sizeof *c->cumulative);
    if (!c->datasets || !c->cumulative)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (; c->n < n; c->n++)
        MM_TRY(mm_build_child_at(ctx, "datasets", c->n,
                                 (void **)&c->datasets[c->n]));
    MM_TRY(concat_check_metainfo(c, ignore, mm_value_loc(list)));
    /* Only the first dataset's metainfo is used. */
    mm_dataset_share_metainfo(ds, c->datasets[0]);
    return MM_OK;
}

static int concat_build(mm_build_ctx *ctx, void **out) {
    return wrapper_build(ctx, &concat_class, sizeof(concat), concat_fill, out);
}

/* ---- RepeatDataset --------------------------------------------------------
 */

typedef struct repeat {
    mm_dataset *dataset;
    int64_t times;
    size_t ori_len;
} repeat;

static int repeat_load(mm_dataset *ds) {
    repeat *r = mm_dataset_priv(ds);
    MM_TRY(mm_dataset_full_init(r->dataset));
    r->ori_len = mm_dataset_len(r->dataset);
    if (r->ori_len && (uint64_t)r->times > SIZE_MAX / r->ori_len)
        return mm_error_set_at(
            MM_EINVAL,
            mm_value_loc(mm_value_dict_get(mm_dataset_node(ds), "times")),
            "times: %lld repeats of %zu samples are more samples than can "
            "be indexed",
            (long long)r->times, r->ori_len);
    return MM_OK;
}

static size_t repeat_len(const mm_dataset *ds) {
    repeat *r = mm_dataset_priv(ds);
    return (size_t)r->times * r->ori_len;
}

static int repeat_get(mm_dataset *ds, size_t i, mm_value **out) {
    repeat *r = mm_dataset_priv(ds);
    return mm_dataset_get(r->dataset, i % r->ori_len, out);
}

static int repeat_get_info(const mm_dataset *ds, size_t i, mm_value **out) {
    repeat *r = mm_dataset_priv(ds);
    return mm_dataset_get_info(r->dataset, i % r->ori_len, out);
}

static int repeat_cat_ids(const mm_dataset *ds, size_t i, int64_t *ids,
                          size_t cap, size_t *n) {
    repeat *r = mm_dataset_priv(ds);
    return mm_dataset_cat_ids(r->dataset, i % r->ori_len, ids, cap, n);
}

static void repeat_fini(mm_dataset *ds) {
    repeat *r = mm_dataset_priv(ds);
    mm_dataset_free(r->dataset);
}

static const mm_dataset_class repeat_class = {
    .name = "RepeatDataset",
    .load = repeat_load,
    .len = repeat_len,
    .get_info = repeat_get_info,
    .get = repeat_get,
    .cat_ids = repeat_cat_ids,
    .fini = repeat_fini,
};

static int repeat_fill(mm_dataset *ds, mm_build_ctx *ctx) {
    repeat *r = mm_dataset_priv(ds);
    MM_TRY(mm_build_int(ctx, "times", &r->times));
    if (r->times < 0)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "times")),
            "times: must be >= 0 (got %lld)", (long long)r->times);
    MM_TRY(mm_build_child(ctx, "dataset", (void **)&r->dataset));
    mm_dataset_share_metainfo(ds, r->dataset);
    return MM_OK;
}

static int repeat_build(mm_build_ctx *ctx, void **out) {
    return wrapper_build(ctx, &repeat_class, sizeof(repeat), repeat_fill, out);
}

/* ---- ClassBalancedDataset -------------------------------------------------
 */

typedef struct balanced {
    mm_dataset *dataset;
    double thr;
    size_t *repeat_indices;
    size_t n;
} balanced;

/* Category id -> number of samples containing it, sorted by id. */
typedef struct cat_count {
    int64_t id;
    double count; /* then the category's repeat factor */
} cat_count;

static cat_count *cat_find(cat_count *cats, size_t n, int64_t id, size_t *pos) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cats[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return lo < n && cats[lo].id == id ? &cats[lo] : NULL;
}

/* The distinct category ids of sample i (mmengine takes set(get_cat_ids)). */
static int sample_cats(mm_dataset *d, size_t i, int64_t *ids, size_t cap,
                       size_t *n) {
    size_t m;
    MM_TRY(mm_dataset_cat_ids(d, i, ids, cap, &m));
    size_t k = 0;
    for (size_t a = 0; a < m; a++) {
        bool seen = false;
        for (size_t b = 0; b < k && !seen; b++)
            seen = ids[b] == ids[a];
        if (!seen)
            ids[k++] = ids[a];
    }
    *n = k;
    return MM_OK;
}

#define MAX_CATS_PER_SAMPLE 4096

/* mmengine's _get_repeat_factors: f(c) the fraction of samples containing
 * category c, r(c) = max(1, sqrt(thr / f(c))), r(I) = max over I's
 * categories (1 without any); then sample I appears ceil(r(I)) times, in
 * order (the same deterministic repeat_indices). */
static int balanced_load(mm_dataset *ds) {
    balanced *b = mm_dataset_priv(ds);
    MM_TRY(mm_dataset_full_init(b->dataset));
    size_t n = mm_dataset_len(b->dataset), n_cats = 0, cap_cats = 0;
    cat_count *cats = NULL;
    int64_t *ids = malloc(MAX_CATS_PER_SAMPLE * sizeof *ids);
    double *factors = malloc((n ? n : 1) * sizeof *factors);
    int rc = ids && factors ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        size_t m;
        rc = sample_cats(b->dataset, i, ids, MAX_CATS_PER_SAMPLE, &m);
        for (size_t k = 0; !rc && k < m; k++) {
            size_t pos;
            cat_count *c = cat_find(cats, n_cats, ids[k], &pos);
            if (c) {
                c->count += 1;
                continue;
            }
            if (n_cats == cap_cats) {
                size_t cap = cap_cats ? 2 * cap_cats : 64;
                cat_count *grown = realloc(cats, cap * sizeof *cats);
                if (!grown) {
                    rc = mm_error_set(MM_ENOMEM, "out of memory");
                    break;
                }
                cats = grown;
                cap_cats = cap;
            }
            memmove(&cats[pos + 1], &cats[pos], (n_cats - pos) * sizeof *cats);
            cats[pos] = (cat_count){ids[k], 1};
            n_cats++;
        }
    }
    for (size_t k = 0; !rc && k < n_cats; k++) {
        double freq = cats[k].count / (double)n;
        double r = sqrt(b->thr / freq);
        cats[k].count = r > 1.0 ? r : 1.0;
    }
    size_t total = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t m, pos;
        double f = 1.0;
        rc = sample_cats(b->dataset, i, ids, MAX_CATS_PER_SAMPLE, &m);
        for (size_t k = 0; !rc && k < m; k++) {
            double r = cat_find(cats, n_cats, ids[k], &pos)->count;
            f = k == 0 || r > f ? r : f;
        }
        factors[i] = f;
        total += (size_t)ceil(f);
    }
    if (!rc) {
        free(b->repeat_indices);
        b->repeat_indices = malloc((total ? total : 1) * sizeof(size_t));
        if (!b->repeat_indices)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (!rc) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < (size_t)ceil(factors[i]); t++)
                b->repeat_indices[k++] = i;
        b->n = total;
    }
    free(ids);
    free(factors);
    free(cats);
    return rc;
}

static size_t balanced_len(const mm_dataset *ds) {
    return ((balanced *)mm_dataset_priv(ds))->n;
}

static int balanced_get(mm_dataset *ds, size_t i, mm_value **out) {
    balanced *b = mm_dataset_priv(ds);
    return mm_dataset_get(b->dataset, b->repeat_indices[i], out);
}

static int balanced_get_info(const mm_dataset *ds, size_t i, mm_value **out) {
    balanced *b = mm_dataset_priv(ds);
    return mm_dataset_get_info(b->dataset, b->repeat_indices[i], out);
}

static int balanced_cat_ids(const mm_dataset *ds, size_t i, int64_t *ids,
                            size_t cap, size_t *n) {
    balanced *b = mm_dataset_priv(ds);
    return mm_dataset_cat_ids(b->dataset, b->repeat_indices[i], ids, cap, n);
}

static void balanced_fini(mm_dataset *ds) {
    balanced *b = mm_dataset_priv(ds);
    mm_dataset_free(b->dataset);
    free(b->repeat_indices);
}

static const mm_dataset_class balanced_class = {
    .name = "ClassBalancedDataset",
    .load = balanced_load,
    .len = balanced_len,
    .get_info = balanced_get_info,
    .get = balanced_get,
    .cat_ids = balanced_cat_ids,
    .fini = balanced_fini,
};

static int balanced_fill(mm_dataset *ds, mm_build_ctx *ctx) {
    balanced *b = mm_dataset_priv(ds);
    MM_TRY(mm_build_float(ctx, "oversample_thr", &b->thr));
    MM_TRY(mm_build_child(ctx, "dataset", (void **)&b->dataset));
    mm_dataset_share_metainfo(ds, b->dataset);
    return MM_OK;
}

static int balanced_build(mm_build_ctx *ctx, void **out) {
    return wrapper_build(ctx, &balanced_class, sizeof(balanced), balanced_fill,
                         out);
}

/* ---- registration ---------------------------------------------------------
 */

#define LAZY_PARAM                                                             \
    {                                                                          \
        .name = "lazy_init", .type = MM_PARAM_BOOL, .def = "false",            \
        .doc = "initialise the wrapped datasets on first use"                  \
    }

static const mm_param concat_params[] = {
    {.name = "datasets",
     .type = MM_PARAM_COMPONENT_LIST,
     .required = true,
     .kind = MM_DATASETS,
     .doc = "the datasets, joined in order"},
    LAZY_PARAM,
    {.name = "ignore_keys",
     .type = MM_PARAM_STRING | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "metainfo keys that may differ between the datasets"},
};

static const mm_param repeat_params[] = {
    {.name = "dataset",
     .type = MM_PARAM_COMPONENT,
     .required = true,
     .kind = MM_DATASETS,
     .doc = "the dataset to repeat"},
    {.name = "times",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "how many times the samples repeat"},
    LAZY_PARAM,
};

static const mm_param balanced_params[] = {
    {.name = "dataset",
     .type = MM_PARAM_COMPONENT,
     .required = true,
     .kind = MM_DATASETS,
     .doc = "the dataset to rebalance"},
    {.name = "oversample_thr",
     .type = MM_PARAM_FLOAT,
     .required = true,
     .doc = "category frequency below which samples are repeated"},
    LAZY_PARAM,
};

static const mm_component wrappers[] = {
    {.kind = MM_DATASETS,
     .name = "ConcatDataset",
     .doc = "datasets joined one after the other (the first one's metainfo)",
     .params = concat_params,
     .n_params = sizeof concat_params / sizeof concat_params[0],
     .build = concat_build,
     .destroy = mm_dataset_destroy},
    {.kind = MM_DATASETS,
     .name = "RepeatDataset",
     .doc = "a dataset repeated `times` times (one epoch sees each sample "
            "`times` times)",
     .params = repeat_params,
     .n_params = sizeof repeat_params / sizeof repeat_params[0],
     .build = repeat_build,
     .destroy = mm_dataset_destroy},
    {.kind = MM_DATASETS,
     .name = "ClassBalancedDataset",
     .doc = "samples of rare categories repeated (LVIS repeat factor "
            "sampling)",
     .params = balanced_params,
     .n_params = sizeof balanced_params / sizeof balanced_params[0],
     .build = balanced_build,
     .destroy = mm_dataset_destroy},
};

int mm_data_register_datasets(void) {
    return mm_register_all(wrappers, sizeof wrappers / sizeof wrappers[0]);
}
