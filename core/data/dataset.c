/* The dataset base object: mmengine's BaseDataset (metainfo, lazy
 * full_init, indices, the pipeline, test_mode and refetching of dropped
 * samples) around a dataset class that knows its samples. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "data_internal.h"
#include "mm/log.h"
#include "mm/tensor.h"
#include "strbuf.h"

struct mm_dataset {
    const mm_dataset_class *cls;
    void *priv;
    mm_value *metainfo;  /* dict */
    mm_value *data_list; /* NULL until the class sets it */
    mm_value *node;      /* retained config node, NULL without one */
    char *path;          /* "train_dataloader.dataset", "" */
    char *label;         /* "train_dataloader.dataset (mmcls.MNIST)" */
    char *data_root;
    mm_transform *pipeline;
    bool test_mode;
    bool building;
    int64_t max_refetch;
    mm_value *indices; /* the config's `indices`, NULL when null */
    size_t *map;       /* with indices: position -> the class's index */
    size_t n_map;
    bool warned_lazy;
    int initialized; /* atomic: full_init done */
    uv_mutex_t init_lock;
};

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

int mm_dataset_new(const mm_dataset_class *cls, size_t priv_size,
                   mm_dataset **out) {
    *out = NULL;
    mm_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (uv_mutex_init(&ds->init_lock)) {
        free(ds);
        return mm_error_set(MM_ENOMEM, "dataset: cannot create a mutex");
    }
    ds->cls = cls;
    ds->max_refetch = 1000;
    ds->path = dup_str("");
    ds->label = dup_str(cls->name ? cls->name : "dataset");
    ds->data_root = dup_str("");
    ds->priv = calloc(1, priv_size ? priv_size : 1);
    if (!ds->path || !ds->label || !ds->data_root || !ds->priv) {
        mm_dataset_free(ds);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (cls->metainfo) {
        int rc = mm_yaml_parse(cls->metainfo, strlen(cls->metainfo),
                               "<METAINFO>", &ds->metainfo);
        if (!rc && !mm_value_is_dict(ds->metainfo))
            rc = mm_error_set(MM_EINVAL, "METAINFO is not a dict");
        if (rc) {
            rc = mm_error_context(rc, NULL, "%s", ds->label);
            mm_dataset_free(ds);
            return rc;
        }
    } else if (!(ds->metainfo = mm_value_new_dict())) {
        mm_dataset_free(ds);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *out = ds;
    return MM_OK;
}

void mm_dataset_free(mm_dataset *ds) {
    if (!ds)
        return;
    /* fini sees the dataset whole: the class may look at its data list. */
    if (ds->cls->fini && ds->priv)
        ds->cls->fini(ds);
    mm_transform_free(ds->pipeline);
    mm_value_release(ds->metainfo);
    mm_value_release(ds->data_list);
    mm_value_release(ds->node);
    mm_value_release(ds->indices);
    free(ds->map);
    free(ds->path);
    free(ds->label);
    free(ds->data_root);
    free(ds->priv);
    uv_mutex_destroy(&ds->init_lock);
    free(ds);
}

void mm_dataset_destroy(void *ds) { mm_dataset_free(ds); }

const mm_dataset_class *mm_dataset_class_of(const mm_dataset *ds) {
    return ds->cls;
}
void *mm_dataset_priv(const mm_dataset *ds) { return ds->priv; }
const char *mm_dataset_path(const mm_dataset *ds) { return ds->path; }
const mm_value *mm_dataset_node(const mm_dataset *ds) { return ds->node; }
const char *mm_dataset_label(const mm_dataset *ds) { return ds->label; }
mm_value *mm_dataset_metainfo(const mm_dataset *ds) { return ds->metainfo; }
mm_value *mm_dataset_data_list(const mm_dataset *ds) { return ds->data_list; }

void mm_dataset_set_data_list(mm_dataset *ds, mm_value *list) {
    mm_value_release(ds->data_list);
    ds->data_list = list;
}

void mm_dataset_set_pipeline(mm_dataset *ds, mm_transform *pipeline) {
    mm_transform_free(ds->pipeline);
    ds->pipeline = pipeline;
}

void mm_dataset_set_test_mode(mm_dataset *ds, bool test_mode) {
    ds->test_mode = test_mode;
}
bool mm_dataset_test_mode(const mm_dataset *ds) { return ds->test_mode; }

void mm_dataset_set_building(mm_dataset *ds, bool building) {
    ds->building = building;
}

void mm_dataset_share_metainfo(mm_dataset *ds, mm_dataset *from) {
    mm_value *m = mm_value_retain(from->metainfo);
    mm_value_release(ds->metainfo);
    ds->metainfo = m;
}

const char *mm_dataset_join_root(const mm_dataset *ds, const char *path,
                                 char *buf, size_t size) {
    /* mmengine's join_path (os.path.join): an absolute path stays. */
    if (!ds->data_root[0] || path[0] == '/')
        snprintf(buf, size, "%s", path);
    else if (ds->data_root[strlen(ds->data_root) - 1] == '/')
        snprintf(buf, size, "%s%s", ds->data_root, path);
    else
        snprintf(buf, size, "%s/%s", ds->data_root, path);
    return buf;
}

/* Add the dataset's label to an error, except while its builder runs. */
static int ctx_err(const mm_dataset *ds, int rc) {
    if (ds->building)
        return rc;
    return mm_error_context(rc, NULL, "%s", ds->label);
}

static int sample_err(const mm_dataset *ds, int rc, size_t i) {
    if (ds->building)
        return mm_error_context(rc, NULL, "sample %zu", i);
    return mm_error_context(rc, NULL, "%s: sample %zu", ds->label, i);
}

/* ---- building from a config ---------------------------------------------- */

int mm_dataset_attach_build(mm_dataset *ds, mm_build_ctx *ctx) {
    const mm_entry *e = mm_build_entry(ctx);
    const char *path = mm_build_path(ctx);
    mm_strbuf sb = {0};
    mm_strbuf_printf(&sb, "%s (%s.%s)", path, e->scope, e->component->name);
    char *label, *p = dup_str(path);
    if (mm_strbuf_finish(&sb, &label) || !p) {
        free(p);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    free(ds->path);
    free(ds->label);
    ds->path = p;
    ds->label = label;
    /* The node with the schema's defaults filled in, so a class reads its
     * own parameters in load (which may run long after the builder). */
    mm_value *node = mm_value_copy(mm_build_node(ctx));
    for (size_t i = 0; node && i < e->component->n_params; i++) {
        const char *name = e->component->params[i].name;
        if (!mm_value_dict_get(node, name) &&
            mm_value_dict_set_take(node, name,
                                   mm_value_copy(mm_build_arg(ctx, name)))) {
            mm_value_release(node);
            node = NULL;
        }
    }
    if (!node)
        return mm_error_set(MM_ENOMEM, "out of memory");
    mm_value_release(ds->node);
    ds->node = node;
    ds->building = true;
    return MM_OK;
}

/* mmengine's list_from_file: the lines of a text file, without their
 * line ends. MM_ENOENT (no error set) when the file cannot be read. */
static int list_from_file(const char *path, mm_value **out) {
    FILE *f = fopen(path, "r");
    if (!f)
        return MM_ENOENT;
    mm_value *list = mm_value_new_list();
    char line[4096];
    mm_strbuf sb = {0};
    int rc = list ? MM_OK : MM_ENOMEM;
    while (!rc && fgets(line, sizeof line, f)) {
        mm_strbuf_puts(&sb, line);
        size_t n = strlen(line);
        if (n && line[n - 1] != '\n' && !feof(f))
            continue; /* a longer line: keep reading it */
        while (sb.len &&
               (sb.data[sb.len - 1] == '\n' || sb.data[sb.len - 1] == '\r'))
            sb.data[--sb.len] = '\0';
        if (sb.failed)
            rc = MM_ENOMEM;
        else
            rc = mm_value_list_append_take(
                list, mm_value_new_stringn(sb.data ? sb.data : "", sb.len));
        sb.len = 0;
        if (sb.data)
            sb.data[0] = '\0';
    }
    mm_strbuf_free(&sb);
    fclose(f);
    if (rc) {
        mm_value_release(list);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *out = list;
    return MM_OK;
}

/* mmengine's _load_metainfo: the config's keys replace the class's; a string
 * naming a readable file becomes the list of its lines. */
static int merge_metainfo(mm_dataset *ds, const mm_value *cfg) {
    for (size_t i = 0; i < mm_value_len(cfg); i++) {
        const char *key = mm_value_dict_key_at(cfg, i);
        mm_value *v = mm_value_dict_value_at(cfg, i), *lines = NULL;
        int rc;
        if (mm_value_is_string(v) &&
            list_from_file(mm_value_get_string(v), &lines) == MM_OK)
            rc = mm_value_dict_set_take(ds->metainfo, key, lines);
        else
            rc = mm_value_dict_set_take(ds->metainfo, key, mm_value_copy(v));
        if (rc)
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    return MM_OK;
}

static int build_pipeline(mm_dataset *ds, mm_build_ctx *ctx) {
    size_t n = mm_value_len(mm_build_arg(ctx, "pipeline"));
    mm_transform **steps = calloc(n ? n : 1, sizeof *steps);
    if (!steps)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = mm_build_child_at(ctx, "pipeline", i, (void **)&steps[i]);
        if (rc) {
            for (size_t j = 0; j < i; j++)
                mm_transform_free(steps[j]);
            free(steps);
            return rc;
        }
    }
    mm_transform *compose;
    MM_TRY(mm_compose_new(steps, n, &compose));
    mm_dataset_set_pipeline(ds, compose);
    return MM_OK;
}

static int read_base_params(mm_dataset *ds, mm_build_ctx *ctx) {
    const char *root;
    bool lazy;
    MM_TRY(mm_build_string(ctx, "data_root", &root));
    MM_TRY(mm_build_bool(ctx, "test_mode", &ds->test_mode));
    MM_TRY(mm_build_bool(ctx, "lazy_init", &lazy));
    MM_TRY(mm_build_int(ctx, "max_refetch", &ds->max_refetch));
    if (ds->max_refetch < 0)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "max_refetch")),
            "max_refetch: must be >= 0 (got %lld)", (long long)ds->max_refetch);
    char *r = dup_str(root);
    if (!r)
        return mm_error_set(MM_ENOMEM, "out of memory");
    free(ds->data_root);
    ds->data_root = r;

    const mm_value *meta = mm_build_arg(ctx, "metainfo");
    if (mm_value_is_dict(meta))
        MM_TRY(merge_metainfo(ds, meta));

    const mm_value *idx = mm_build_arg(ctx, "indices");
    if (mm_value_is_list(idx)) {
        for (size_t i = 0; i < mm_value_len(idx); i++) {
            const mm_value *v = mm_value_list_get(idx, i);
            if (!mm_value_is_int(v))
                return mm_error_set_at(MM_ETYPE, mm_value_loc(v),
                                       "indices[%zu]: expected an int, got %s",
                                       i,
                                       mm_value_type_name(mm_value_type_of(v)));
        }
    }
    if (!mm_value_is_null(idx))
        ds->indices = mm_value_retain((mm_value *)idx);
    MM_TRY(build_pipeline(ds, ctx));
    return lazy ? MM_OK : mm_dataset_full_init(ds);
}

int mm_dataset_from_build(mm_build_ctx *ctx, const mm_dataset_class *cls,
                          size_t priv_size, mm_dataset **out) {
    mm_dataset *ds;
    MM_TRY(mm_dataset_new(cls, priv_size, &ds));
    int rc = mm_dataset_attach_build(ds, ctx);
    if (!rc)
        rc = read_base_params(ds, ctx);
    if (rc) {
        mm_dataset_free(ds);
        return rc;
    }
    ds->building = false;
    *out = ds;
    return MM_OK;
}

/* ---- full_init ----------------------------------------------------------- */

static size_t raw_len(const mm_dataset *ds) {
    return ds->cls->len ? ds->cls->len(ds) : mm_value_len(ds->data_list);
}

/* mmengine's _get_unserialized_subset: an int keeps the first n samples
 * (the last -n when negative), a list keeps those indices in its order. */
static int apply_indices(mm_dataset *ds) {
    size_t n = raw_len(ds), m;
    const mm_value *idx = ds->indices;
    if (mm_value_is_int(idx)) {
        int64_t k = mm_value_get_int(idx);
        size_t start = 0;
        if (k >= 0) {
            m = (uint64_t)k < n ? (size_t)k : n;
        } else {
            uint64_t back = 0 - (uint64_t)k; /* -k, INT64_MIN included */
            start = back < n ? n - (size_t)back : 0;
            m = n - start;
        }
        free(ds->map);
        if (!(ds->map = malloc((m ? m : 1) * sizeof *ds->map)))
            return mm_error_set(MM_ENOMEM, "out of memory");
        for (size_t i = 0; i < m; i++)
            ds->map[i] = start + i;
    } else {
        m = mm_value_len(idx);
        free(ds->map);
        if (!(ds->map = malloc((m ? m : 1) * sizeof *ds->map)))
            return mm_error_set(MM_ENOMEM, "out of memory");
        for (size_t i = 0; i < m; i++) {
            const mm_value *v = mm_value_list_get(idx, i);
            int64_t k = mm_value_get_int(v);
            int64_t j = k < 0 ? k + (int64_t)n : k;
            if (j < 0 || (uint64_t)j >= n)
                return mm_error_set_at(
                    MM_ERANGE, mm_value_loc(v),
                    "indices[%zu]: index %lld is out of range for %zu samples",
                    i, (long long)k, n);
            ds->map[i] = (size_t)j;
        }
    }
    ds->n_map = m;
    return MM_OK;
}

int mm_dataset_full_init(mm_dataset *ds) {
    if (__atomic_load_n(&ds->initialized, __ATOMIC_ACQUIRE))
        return MM_OK;
    uv_mutex_lock(&ds->init_lock);
    int rc = MM_OK;
    if (!ds->initialized) {
        if (ds->cls->load)
            rc = ds->cls->load(ds);
        if (!rc && ds->cls->filter)
            rc = ds->cls->filter(ds);
        if (!rc && ds->indices)
            rc = apply_indices(ds);
        if (!rc)
            __atomic_store_n(&ds->initialized, 1, __ATOMIC_RELEASE);
        else
            rc = ctx_err(ds, rc);
    }
    uv_mutex_unlock(&ds->init_lock);
    return rc;
}

/* full_init on first use, with mmengine's advice to call it up front. */
static int ensure_init(mm_dataset *ds) {
    if (__atomic_load_n(&ds->initialized, __ATOMIC_ACQUIRE))
        return MM_OK;
    uv_mutex_lock(&ds->init_lock);
    bool warn = !ds->warned_lazy && !ds->initialized;
    ds->warned_lazy = true;
    uv_mutex_unlock(&ds->init_lock);
    if (warn)
        MM_WARN("%s: Please call `full_init()` method manually to accelerate "
                "the speed.",
                ds->label);
    return mm_dataset_full_init(ds);
}

size_t mm_dataset_len(mm_dataset *ds) {
    if (ensure_init(ds))
        return 0;
    return ds->map ? ds->n_map : raw_len(ds);
}

static size_t class_index(const mm_dataset *ds, size_t i) {
    return ds->map ? ds->map[i] : i;
}

static int check_index(mm_dataset *ds, size_t i) {
    MM_TRY(ensure_init(ds));
    size_t n = ds->map ? ds->n_map : raw_len(ds);
    if (i >= n)
        return ctx_err(ds, mm_error_set(MM_ERANGE,
                                        "sample %zu is out of range (%zu "
                                        "samples)",
                                        i, n));
    return MM_OK;
}

/* get_info without the label in errors. */
static int info_raw(mm_dataset *ds, size_t i, mm_value **out) {
    size_t k = class_index(ds, i);
    mm_value *info;
    if (ds->cls->get_info) {
        MM_TRY(ds->cls->get_info(ds, k, &info));
        if (ds->cls->get) /* a wrapper: the inner dataset set sample_idx */
            goto done;
    } else {
        const mm_value *item = mm_value_list_get(ds->data_list, k);
        if (!mm_value_is_dict(item))
            return mm_error_set(MM_ETYPE, "data_list[%zu] is %s, not a dict", k,
                                mm_value_type_name(mm_value_type_of(item)));
        if (!(info = mm_value_copy(item)))
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (!mm_value_is_dict(info)) {
        mm_value_release(info);
        return mm_error_set(MM_ETYPE, "get_info did not give a dict");
    }
    if (mm_value_dict_set_take(info, "sample_idx",
                               mm_value_new_int((int64_t)i))) {
        mm_value_release(info);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
done:
    *out = info;
    return MM_OK;
}

int mm_dataset_get_info(mm_dataset *ds, size_t i, mm_value **out) {
    *out = NULL;
    MM_TRY(check_index(ds, i));
    int rc = info_raw(ds, i, out);
    return rc ? sample_err(ds, rc, i) : MM_OK;
}

/* prepare_data: info through the pipeline; MM_TRANSFORM_DROP when dropped. */
static int prepare(mm_dataset *ds, size_t i, mm_value **out) {
    mm_value *r;
    MM_TRY(info_raw(ds, i, &r));
    if (ds->pipeline) {
        /* The steps name themselves; "Compose" would add nothing. */
        int rc = ds->pipeline->cls->apply(ds->pipeline, r);
        if (rc) {
            mm_value_release(r);
            return rc;
        }
    }
    *out = r;
    return MM_OK;
}

int mm_data_randint(mm_generator *gen, int64_t n, int64_t *out) {
    mm_pool *pool;
    mm_tensor *t;
    MM_TRY(mm_pool_open(&pool));
    int rc = mm_randint(0, n, 0, NULL, MM_I64, gen, &t);
    if (!rc)
        rc = mm_tensor_item_i64(t, out);
    mm_pool_close(pool);
    return rc;
}

int mm_dataset_get(mm_dataset *ds, size_t i, mm_value **out) {
    *out = NULL;
    MM_TRY(check_index(ds, i));
    if (ds->cls->get) /* a wrapper: the inner dataset names itself */
        return ds->cls->get(ds, class_index(ds, i), out);
    int rc;
    if (ds->test_mode) {
        rc = prepare(ds, i, out);
        if (rc == MM_TRANSFORM_DROP)
            rc = mm_error_set(MM_EINVAL,
                              "the pipeline dropped the sample, which a "
                              "test-time pipeline must not do (test_mode: "
                              "true)");
        return rc ? sample_err(ds, rc, i) : MM_OK;
    }
    size_t idx = i, n = mm_dataset_len(ds);
    for (int64_t k = 0; k <= ds->max_refetch; k++) {
        rc = prepare(ds, idx, out);
        if (rc < 0)
            return sample_err(ds, rc, idx);
        if (rc == MM_OK)
            return MM_OK;
        /* mmengine's _rand_another, on the batch's generator */
        int64_t j;
        rc = mm_data_randint(mm_data_generator(), (int64_t)n, &j);
        if (rc)
            return sample_err(ds, rc, idx);
        idx = (size_t)j;
    }
    return ctx_err(ds, mm_error_set(MM_EINVAL,
                                    "cannot find a valid sample after %lld "
                                    "refetches (starting from sample %zu); "
                                    "check the data paths and the pipeline",
                                    (long long)ds->max_refetch, i));
}

int mm_dataset_cat_ids(mm_dataset *ds, size_t i, int64_t *ids, size_t cap,
                       size_t *n) {
    *n = 0;
    MM_TRY(check_index(ds, i));
    size_t k = class_index(ds, i);
    if (ds->cls->cat_ids) {
        int rc = ds->cls->cat_ids(ds, k, ids, cap, n);
        return rc ? sample_err(ds, rc, i) : MM_OK;
    }
    /* mmpretrain's get_cat_ids: the sample's gt_label (an int or a list of
     * ints for multi-label sets). */
    mm_value *info;
    int rc = info_raw(ds, i, &info);
    if (rc)
        return sample_err(ds, rc, i);
    const mm_value *gt = mm_value_dict_get(info, "gt_label");
    if (mm_value_is_int(gt)) {
        if (cap < 1)
            rc = mm_error_set(MM_ERANGE, "more than %zu category ids", cap);
        else
            ids[(*n)++] = mm_value_get_int(gt);
    } else if (mm_value_is_list(gt)) {
        for (size_t j = 0; !rc && j < mm_value_len(gt); j++) {
            const mm_value *v = mm_value_list_get(gt, j);
            if (!mm_value_is_int(v))
                rc = mm_error_set(MM_ETYPE, "gt_label[%zu] is not an int", j);
            else if (*n >= cap)
                rc = mm_error_set(MM_ERANGE, "more than %zu category ids", cap);
            else
                ids[(*n)++] = mm_value_get_int(v);
        }
    } else {
        rc = mm_error_set(MM_EINVAL,
                          "no integer 'gt_label' to take category ids from");
    }
    mm_value_release(info);
    return rc ? sample_err(ds, rc, i) : MM_OK;
}
