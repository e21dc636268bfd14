/* mmcls datasets beyond MNIST, on the dataset base of <mm/data.h>, as
 * mmpretrain 1.2.0 defines them:
 *
 *   CIFAR10, CIFAR100   the python version's pickled batches
 *                       (cifar-10-batches-py/data_batch_1..5, test_batch;
 *                       cifar-100-python/train, test), read by the restricted
 *                       reader of pickle.c; sample i is {img: (32, 32, 3)
 *                       u8 view in the file's RGB order, gt_label}.
 *   CustomDataset       an annotation file of "path label" lines (or paths
 *                       only, with_label: false), or class subfolders
 *                       (classes: the sorted folder names); {img_path,
 *                       gt_label}.
 *   ImageNet            CustomDataset with mmpretrain's split logic and
 *                       the 1000 ImageNet classes.
 *   MultiLabelDataset   mmengine's annotation format, a JSON (or YAML) file
 *                       {metainfo: {...}, data_list: [{img_path, gt_label:
 *                       [..]}, ...]}.
 *
 * mm never downloads; missing files are an error naming the directory and
 * where the data comes from. The files' md5 sums are not checked (so that
 * subsets and re-packed copies work); their structure is. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mm/data.h>
#include <mm/log.h>
#include <mm/registry.h>
#include <mm/tensor.h>

#include "categories.h"
#include "mmcls.h"

/* A CIFAR-100 training file is 155 MB. */
#define PICKLE_MAX_BYTES ((size_t)1 << 30)

/* ---- paths ------------------------------------------------------------ */

/* os.path.join(a, b): b when absolute or a empty. */
static void path_join(const char *a, const char *b, char *out, size_t size) {
    size_t n = strlen(a);
    if (b[0] == '/' || n == 0)
        snprintf(out, size, "%s", b);
    else
        snprintf(out, size, "%s%s%s", a, a[n - 1] == '/' ? "" : "/", b);
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *node_string(const mm_dataset *ds, const char *key) {
    const mm_value *v = mmcls_get(mm_dataset_node(ds), key);
    return mm_value_is_string(v) ? mm_value_get_string(v) : "";
}

/* The location of a config key (the node's when the key is absent). */
static const mm_srcloc *loc_of(const mm_dataset *ds, const char *key) {
    const mm_value *v = mmcls_get(mm_dataset_node(ds), key);
    return mm_value_loc(v ? v : mm_dataset_node(ds));
}

/* mmengine: a data_prefix entry relative to data_root is joined with it.
 * `key` is the entry of a dict data_prefix ("img_path", "root"); a string
 * data_prefix is that entry. */
static void prefix_of(const mm_dataset *ds, const char *key, char *out,
                      size_t size) {
    const mm_value *pre = mmcls_get(mm_dataset_node(ds), "data_prefix");
    const char *p = "";
    if (mm_value_is_string(pre))
        p = mm_value_get_string(pre);
    else if (mm_value_is_string(mmcls_get(pre, key)))
        p = mm_value_get_string(mmcls_get(pre, key));
    const char *root = node_string(ds, "data_root");
    if (*root && *p && p[0] != '/')
        path_join(root, p, out, size);
    else if (*root && !*p) /* mmengine's join(root, '') adds only a '/' */
        snprintf(out, size, "%s", root);
    else
        snprintf(out, size, "%s", p);
}

static int read_binary(const char *path, unsigned char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return mm_error_set(errno == ENOENT ? MM_ENOENT : MM_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        (size_t)st.st_size > PICKLE_MAX_BYTES) {
        fclose(f);
        return mm_error_set(MM_EIO, "%s: not a regular file of at most %zu "
                                    "bytes", path, PICKLE_MAX_BYTES);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return mm_error_set(MM_ENOMEM, "out of memory reading %s", path);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return mm_error_set(MM_EIO, "%s: short read", path);
    }
    *data = buf;
    *len = n;
    return MM_OK;
}

/* ---- CIFAR ------------------------------------------------------------ */

typedef struct cifar {
    mm_tensor *images; /* (N, 32, 32, 3) u8, owned */
    int64_t *labels;
    int64_t n;
} cifar;

typedef struct cifar_files {
    const char *folder, *label_key, *url;
    const char *train[5], *test[1];
} cifar_files;

static const cifar_files cifar10_files = {
    "cifar-10-batches-py", "labels",
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    {"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
     "data_batch_5"},
    {"test_batch"}};
static const cifar_files cifar100_files = {
    "cifar-100-python", "fine_labels",
    "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    {"train"},
    {"test"}};

/* One batch file: append its rows (N, 3072) and labels. */
static int cifar_read_batch(const char *path, const char *label_key,
                            int64_t n_classes, unsigned char **rows,
                            int64_t **labels, int64_t *n) {
    unsigned char *buf = NULL;
    size_t len = 0;
    MM_TRY(read_binary(path, &buf, &len));
    mm_value *root = NULL;
    int rc = mmcls_pickle_parse(path, buf, len, &root);
    free(buf);
    MM_TRY(rc);
    const mm_value *data = mmcls_get(root, "data");
    const mm_value *lab = mmcls_get(root, label_key);
    if (!lab && !strcmp(label_key, "labels")) /* mmpretrain's fallback */
        lab = mmcls_get(root, "fine_labels");
    mm_tensor *t = mm_tensor_from_value(data);
    char s[96];
    if (!mm_value_is_dict(root))
        rc = mm_error_set(MM_EINVAL, "%s: the pickle holds a %s, not a dict "
                                     "of 'data' and '%s'",
                          path, mm_value_type_name(mm_value_type_of(root)),
                          label_key);
    else if (!t || t->dtype != MM_U8 || t->ndim != 2 || t->shape[1] != 3072)
        rc = mm_error_set(MM_EINVAL,
                          "%s: 'data' must be a uint8 array of shape (N, "
                          "3072), got %s",
                          path, t ? mm_tensor_describe(t, s, sizeof s)
                                  : "no array");
    else if (!mm_value_is_list(lab) ||
             (int64_t)mm_value_len(lab) != t->shape[0])
        rc = mm_error_set(MM_EINVAL, "%s: '%s' must be a list of %lld ints",
                          path, label_key, (long long)t->shape[0]);
    if (rc) {
        mm_value_release(root);
        return rc;
    }
    int64_t m = t->shape[0];
    unsigned char *r2 = realloc(*rows, (size_t)(*n + m) * 3072 + 1);
    int64_t *l2 = realloc(*labels, (size_t)(*n + m + 1) * sizeof *l2);
    if (r2)
        *rows = r2;
    if (l2)
        *labels = l2;
    if (!r2 || !l2) {
        mm_value_release(root);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    memcpy(*rows + (size_t)*n * 3072, mm_tensor_data(t), (size_t)m * 3072);
    for (int64_t i = 0; i < m; i++) {
        const mm_value *v = mm_value_list_get(lab, (size_t)i);
        int64_t y = mm_value_is_int(v) ? mm_value_get_int(v) : -1;
        if (y < 0 || y >= n_classes) {
            rc = mm_error_set(MM_EINVAL,
                              "%s: %s[%lld] is not a class index in [0, "
                              "%lld)",
                              path, label_key, (long long)i,
                              (long long)n_classes);
            break;
        }
        (*labels)[*n + i] = y;
    }
    mm_value_release(root);
    if (!rc)
        *n += m;
    return rc;
}

static int cifar_load(mm_dataset *ds, const cifar_files *files) {
    cifar *d = mm_dataset_priv(ds);
    char root[1024], dir[1200], path[1400];
    prefix_of(ds, "root", root, sizeof root);
    path_join(root, files->folder, dir, sizeof dir);
    bool test = !strcmp(node_string(ds, "split"), "test");
    const char *const *names = test ? files->test : files->train;
    size_t count = test ? 1 : sizeof files->train / sizeof files->train[0];
    const mm_value *classes = mmcls_get(mm_dataset_metainfo(ds), "classes");
    int64_t n_classes = mm_value_is_list(classes)
                            ? (int64_t)mm_value_len(classes)
                            : 256;
    for (size_t i = 0; i < count; i++) {
        if (!names[i])
            break;
        path_join(dir, names[i], path, sizeof path);
        if (!is_file(path)) {
            bool dl = mm_value_get_bool(
                mmcls_get(mm_dataset_node(ds), "download"));
            return mm_error_set_at(
                MM_ENOENT, loc_of(ds, *node_string(ds, "data_prefix")
                                          ? "data_prefix"
                                          : "data_root"),
                "%s: cannot find %s dataset in '%s' (no %s); mm never "
                "downloads%s: extract %s there",
                "data_root",
                mm_dataset_class_of(ds)->name, root, path,
                dl ? " (download: true is not done)" : "", files->url);
        }
    }
    unsigned char *rows = NULL;
    int64_t *labels = NULL, n = 0;
    int rc = MM_OK;
    for (size_t i = 0; !rc && i < count && names[i]; i++) {
        path_join(dir, names[i], path, sizeof path);
        rc = cifar_read_batch(path, files->label_key, n_classes, &rows,
                              &labels, &n);
    }
    if (!rc) {
        /* (N, 3, 32, 32) -> (N, 32, 32, 3), mmpretrain's transpose */
        mm_pool *pool;
        mm_tensor *chw, *hwc;
        rc = mm_pool_open(&pool);
        if (!rc) {
            rc = mm_from_data(rows ? rows : (unsigned char[1]){0}, 4,
                              (int64_t[]){n, 3, 32, 32}, MM_U8, &chw);
            if (!rc)
                rc = mm_permute(chw, 4, (int[]){0, 2, 3, 1}, &hwc);
            if (!rc)
                rc = mm_contiguous(hwc, &d->images);
            if (!rc)
                mm_tensor_retain(d->images);
            else
                d->images = NULL;
            mm_pool_close(pool);
        }
    }
    free(rows);
    if (rc) {
        free(labels);
        return rc;
    }
    d->labels = labels;
    d->n = n;
    return MM_OK;
}

static int cifar10_load(mm_dataset *ds) {
    return cifar_load(ds, &cifar10_files);
}
static int cifar100_load(mm_dataset *ds) {
    return cifar_load(ds, &cifar100_files);
}

static size_t cifar_len(const mm_dataset *ds) {
    return (size_t)((const cifar *)mm_dataset_priv(ds))->n;
}

static int cifar_get_info(const mm_dataset *ds, size_t i, mm_value **out) {
    const cifar *d = mm_dataset_priv(ds);
    return mmcls_array_sample(d->images, d->labels, d->n, i, out);
}

static void cifar_fini(mm_dataset *ds) {
    cifar *d = mm_dataset_priv(ds);
    mm_tensor_release(d->images);
    free(d->labels);
    d->images = NULL;
    d->labels = NULL;
}

static const mm_dataset_class cifar10_class = {
    .name = "CIFAR10",
    .metainfo = MMCLS_CIFAR10_METAINFO,
    .load = cifar10_load,
    .len = cifar_len,
    .get_info = cifar_get_info,
    .fini = cifar_fini,
};

static const mm_dataset_class cifar100_class = {
    .name = "CIFAR100",
    .metainfo = MMCLS_CIFAR100_METAINFO,
    .load = cifar100_load,
    .len = cifar_len,
    .get_info = cifar_get_info,
    .fini = cifar_fini,
};

/* "split: must be one of ..." with the key's location. */
static int check_choice(mm_build_ctx *ctx, const char *key,
                        const char *const *choices, size_t n) {
    const char *v;
    MM_TRY(mm_build_string(ctx, key, &v));
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v, choices[i]))
            return MM_OK;
    char list[128] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'",
                 i ? ", " : "", choices[i]);
    return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_arg(ctx, key)),
                           "%s: must be one of %s, got '%s'", key, list, v);
}

static int cifar_build(mm_build_ctx *ctx, const mm_dataset_class *cls,
                       void **out) {
    static const char *const splits[] = {"train", "test"};
    const char *path = mm_build_path(ctx), *split, *root, *prefix;
    bool test_mode;
    MM_TRY(check_choice(ctx, "split", splits, 2));
    MM_TRY(mm_build_string(ctx, "split", &split));
    MM_TRY(mm_build_bool(ctx, "test_mode", &test_mode));
    MM_TRY(mm_build_string(ctx, "data_root", &root));
    /* a string, as mmpretrain's; the base's default {} reads as '' */
    const mm_value *pre = mm_build_arg(ctx, "data_prefix");
    if (!mm_value_is_string(pre) && mm_value_len(pre) != 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(pre),
                               "data_prefix: %s takes a string (the "
                               "directory holding %s)",
                               cls->name,
                               cls == &cifar10_class ? "cifar-10-batches-py"
                                                     : "cifar-100-python");
    prefix = mm_value_is_string(pre) ? mm_value_get_string(pre) : "";
    if (!strcmp(split, "train") && test_mode)
        MM_WARN("%s: split=\"train\" but test_mode=True. The training set "
                "will be used.", *path ? path : cls->name);
    if (!*root && !*prefix)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "set data_root to the directory holding %s",
                               cls == &cifar10_class ? "cifar-10-batches-py"
                                                     : "cifar-100-python");
    mm_dataset *ds;
    MM_TRY(mm_dataset_from_build(ctx, cls, sizeof(cifar), &ds));
    *out = ds;
    return MM_OK;
}

static int cifar10_build(mm_build_ctx *ctx, void **out) {
    return cifar_build(ctx, &cifar10_class, out);
}
static int cifar100_build(mm_build_ctx *ctx, void **out) {
    return cifar_build(ctx, &cifar100_class, out);
}

/* ---- CustomDataset, ImageNet ------------------------------------------ */

typedef struct custom {
    bool imagenet;
} custom;

typedef struct str_list {
    char **v;
    size_t n, cap;
} str_list;

static int str_list_add(str_list *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return mm_error_set(MM_ENOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    l->n++;
    return MM_OK;
}

static void str_list_free(str_list *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (str_list){0};
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* mmengine's LocalBackend.list_dir_or_file: entries of `dir` relative to
 * `rel` ("" at the top); files not starting with '.', directories always
 * (their files when recursive). */
static int list_dir(const char *dir, const char *rel, bool want_dirs,
                    bool want_files, bool recursive, str_list *out) {
    DIR *d = opendir(dir);
    if (!d)
        return mm_error_set(MM_ENOENT, "cannot list '%s': %s", dir,
                            strerror(errno));
    int rc = MM_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char full[4096], r[4096];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        if (e->d_name[0] != '.' && is_file(full)) {
            if (want_files)
                rc = str_list_add(out, r);
        } else if (is_dir(full)) {
            if (want_dirs)
                rc = str_list_add(out, r);
            if (!rc && recursive)
                rc = list_dir(full, r, want_dirs, want_files, true, out);
        }
    }
    closedir(d);
    return rc;
}

/* filename.lower().endswith(one of the extensions) */
static bool valid_ext(const char *name, const mm_value *exts) {
    size_t n = strlen(name);
    for (size_t i = 0; i < mm_value_len(exts); i++) {
        const char *e = mm_value_get_string(mm_value_list_get(exts, i));
        size_t k = strlen(e);
        if (k > n)
            continue;
        bool ok = true;
        for (size_t j = 0; ok && j < k; j++) {
            char c = name[n - k + j], x = e[j];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (x >= 'A' && x <= 'Z')
                x = (char)(x - 'A' + 'a');
            ok = c == x;
        }
        if (ok)
            return true;
    }
    return false;
}

static int add_sample(mm_value *list, const char *prefix, const char *file,
                      bool with_label, int64_t label) {
    char p[4096];
    path_join(prefix, file, p, sizeof p);
    mm_value *info = mm_value_new_dict();
    if (!info ||
        mm_value_dict_set_take(info, "img_path", mm_value_new_string(p)) ||
        (with_label &&
         mm_value_dict_set_take(info, "gt_label", mm_value_new_int(label))) ||
        mm_value_list_append_take(list, info)) {
        mm_value_release(info);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    return MM_OK;
}

static void ext_list(const mm_value *exts, char *buf, size_t size) {
    buf[0] = 0;
    for (size_t i = 0; i < mm_value_len(exts); i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "," : "",
                 mm_value_get_string(mm_value_list_get(exts, i)));
}

/* mmpretrain's _find_samples: class folders (with_label) or all files. */
static int find_samples(mm_dataset *ds, const char *prefix, bool with_label,
                        const mm_value *exts, mm_value *list) {
    char el[512];
    if (!is_dir(prefix))
        return mm_error_set_at(MM_ENOENT, loc_of(ds, "data_prefix"),
                               "%s: no such directory '%s' (and no ann_file)",
                               "data_prefix",
                               prefix);
    ext_list(exts, el, sizeof el);
    str_list folders = {0}, files = {0};
    int rc = MM_OK;
    if (!with_label) {
        rc = list_dir(prefix, "", false, true, true, &files);
        if (!rc)
            qsort(files.v, files.n, sizeof *files.v, cmp_str);
        for (size_t i = 0; !rc && i < files.n; i++)
            if (valid_ext(files.v[i], exts))
                rc = add_sample(list, prefix, files.v[i], false, 0);
        str_list_free(&files);
        if (!rc && mm_value_len(list) == 0)
            rc = mm_error_set(MM_ENOENT,
                              "%s: found 0 files in subfolders of: %s. "
                              "Supported extensions are: %s",
                              "data_prefix",
                              prefix, el);
        return rc;
    }
    rc = list_dir(prefix, "", true, false, false, &folders);
    if (rc) {
        str_list_free(&folders);
        return rc;
    }
    qsort(folders.v, folders.n, sizeof *folders.v, cmp_str);
    mm_value *meta = mm_dataset_metainfo(ds);
    const mm_value *classes = mmcls_get(meta, "classes");
    if (classes && mm_value_len(classes) != folders.n)
        rc = mm_error_set(MM_EINVAL,
                          "%s: the number of subfolders (%zu) doesn't match "
                          "the number of specified classes (%zu). Please "
                          "check the data folder.",
                          "data_prefix",
                          folders.n, mm_value_len(classes));
    char empty[1024] = "";
    for (size_t c = 0; !rc && c < folders.n; c++) {
        char dir[4096];
        path_join(prefix, folders.v[c], dir, sizeof dir);
        rc = list_dir(dir, "", false, true, true, &files);
        if (!rc)
            qsort(files.v, files.n, sizeof *files.v, cmp_str);
        size_t before = mm_value_len(list);
        for (size_t i = 0; !rc && i < files.n; i++)
            if (valid_ext(files.v[i], exts)) {
                char rel[4096];
                snprintf(rel, sizeof rel, "%s/%s", folders.v[c], files.v[i]);
                rc = add_sample(list, prefix, rel, true, (int64_t)c);
            }
        str_list_free(&files);
        if (!rc && mm_value_len(list) == before)
            snprintf(empty + strlen(empty), sizeof empty - strlen(empty),
                     "%s%s", *empty ? ", " : "", folders.v[c]);
    }
    if (!rc && !classes) {
        mm_value *names = mm_value_new_list();
        for (size_t c = 0; names && c < folders.n; c++)
            if (mm_value_list_append_take(names,
                                          mm_value_new_string(folders.v[c]))) {
                mm_value_release(names);
                names = NULL;
            }
        if (!names || mm_value_dict_set_take(meta, "classes", names))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    str_list_free(&folders);
    if (!rc && mm_value_len(list) == 0)
        return mm_error_set(MM_ENOENT,
                            "%s: found 0 files in subfolders of: %s. "
                            "Supported extensions are: %s",
                            "data_prefix", prefix,
                            el);
    if (!rc && *empty)
        MM_WARN("Found no valid file in the folder %s. Supported extensions "
                "are: %s", empty, el);
    return rc;
}

/* mmengine's list_from_file: the lines without their line ends. */
static int read_lines(const char *path, str_list *out) {
    char *text;
    size_t len;
    MM_TRY(mm_file_read(path, &text, &len));
    int rc = MM_OK;
    size_t start = 0;
    for (size_t i = 0; !rc && i <= len; i++) {
        if (i < len && text[i] != '\n')
            continue;
        if (i == len && start == len)
            break;
        size_t end = i;
        while (end > start && (text[end - 1] == '\r' || text[end - 1] == '\n'))
            end--;
        char save = text[end];
        text[end] = 0;
        rc = str_list_add(out, text + start);
        text[end] = save;
        start = i + 1;
    }
    free(text);
    if (rc)
        str_list_free(out);
    return rc;
}

/* "path label" lines (rsplit on the last space, as mmpretrain). */
static int read_ann(mm_dataset *ds, const char *ann, const char *prefix,
                    bool with_label, mm_value *list) {
    str_list lines = {0};
    MM_TRY(read_lines(ann, &lines));
    const mm_value *classes = mmcls_get(mm_dataset_metainfo(ds), "classes");
    int rc = MM_OK;
    for (size_t i = 0; !rc && i < lines.n; i++) {
        char *line = lines.v[i];
        if (!with_label) {
            rc = add_sample(list, prefix, line, false, 0);
            continue;
        }
        /* x.strip().rsplit(' ', 1) */
        char *s = line, *e = line + strlen(line);
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        *e = 0;
        char *sp = strrchr(s, ' '), *end = NULL;
        long long y = 0;
        if (sp) {
            errno = 0;
            y = strtoll(sp + 1, &end, 10);
        }
        if (!sp || sp == s || end == sp + 1 || *end || errno) {
            rc = mm_error_set(MM_EINVAL,
                              "%s:%zu: expected 'path label' (with_label: "
                              "true), got '%s'",
                              ann, i + 1, line);
            break;
        }
        if (y < 0 || (classes && (size_t)y >= mm_value_len(classes))) {
            rc = mm_error_set(MM_EINVAL,
                              "%s:%zu: label %lld is not a class index in "
                              "[0, %zu)",
                              ann, i + 1, y,
                              classes ? mm_value_len(classes) : (size_t)0);
            break;
        }
        *sp = 0;
        rc = add_sample(list, prefix, s, true, y);
    }
    str_list_free(&lines);
    return rc;
}

/* metainfo from the `classes` argument (a list, or a file of names) unless
 * metainfo sets classes; `categories` [{id, name}] gives classes sorted by
 * id (mmpretrain's BaseDataset). */
static int compat_classes(mm_dataset *ds) {
    const mm_value *node = mm_dataset_node(ds);
    mm_value *meta = mm_dataset_metainfo(ds);
    const mm_value *cfg_meta = mmcls_get(node, "metainfo");
    const mm_value *classes = mmcls_get(node, "classes");
    if (classes && !mm_value_is_null(classes) &&
        !mmcls_get(cfg_meta, "classes")) {
        mm_value *names = NULL;
        if (mm_value_is_string(classes)) {
            str_list l = {0};
            int rc = read_lines(mm_value_get_string(classes), &l);
            if (rc) {
                str_list_free(&l);
                return mm_error_context(rc, mm_value_loc(classes), "classes");
            }
            names = mm_value_new_list();
            for (size_t i = 0; names && i < l.n; i++)
                if (mm_value_list_append_take(names,
                                              mm_value_new_string(l.v[i]))) {
                    mm_value_release(names);
                    names = NULL;
                }
            str_list_free(&l);
        } else {
            names = mm_value_copy(classes);
        }
        if (!names || mm_value_dict_set_take(meta, "classes", names))
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    const mm_value *cats = mmcls_get(meta, "categories");
    if (mm_value_is_list(cats) && !mmcls_get(meta, "classes")) {
        size_t n = mm_value_len(cats);
        mm_value *names = mm_value_new_list();
        /* sorted by id: a selection sort over the few categories */
        int64_t last = INT64_MIN;
        for (size_t k = 0; names && k < n; k++) {
            const mm_value *best = NULL;
            int64_t best_id = 0;
            for (size_t i = 0; i < n; i++) {
                const mm_value *c = mm_value_list_get(cats, i);
                const mm_value *id = mmcls_get(c, "id");
                if (!mm_value_is_int(id) ||
                    !mm_value_is_string(mmcls_get(c, "name"))) {
                    mm_value_release(names);
                    return mm_error_set(MM_EINVAL,
                                        "metainfo.categories[%zu]: expected "
                                        "{id: int, name: str}", i);
                }
                int64_t v = mm_value_get_int(id);
                if (v > last && (!best || v < best_id)) {
                    best = c;
                    best_id = v;
                }
            }
            if (!best)
                break;
            last = best_id;
            if (mm_value_list_append(names, mmcls_get(best, "name"))) {
                mm_value_release(names);
                names = NULL;
            }
        }
        if (!names || mm_value_dict_set_take(meta, "classes", names))
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    return MM_OK;
}

/* ImageNet's split: data_prefix defaults to the split, ann_file to
 * meta/<split>.txt when that file exists; 'test' has no labels. */
static void imagenet_defaults(mm_dataset *ds, char *prefix, size_t psize,
                              char *ann, size_t asize, bool *with_label) {
    const char *split = node_string(ds, "split");
    if (!*split)
        return;
    if (!strcmp(split, "test"))
        *with_label = false;
    const mm_value *pre = mmcls_get(mm_dataset_node(ds), "data_prefix");
    const char *root = node_string(ds, "data_root");
    if (mm_value_is_string(pre) ? !*mm_value_get_string(pre)
                                : mm_value_len(pre) == 0)
        path_join(root, split, prefix, psize);
    if (!*node_string(ds, "ann_file")) {
        char rel[64], full[2048];
        snprintf(rel, sizeof rel, "meta/%s.txt", split);
        path_join(root, rel, full, sizeof full);
        if (is_file(full))
            snprintf(ann, asize, "%s", full);
    }
}

static int custom_load(mm_dataset *ds) {
    custom *c = mm_dataset_priv(ds);
    MM_TRY(compat_classes(ds));
    char prefix[2048], ann[2048] = "";
    prefix_of(ds, "img_path", prefix, sizeof prefix);
    const char *ann_cfg = node_string(ds, "ann_file");
    if (*ann_cfg)
        path_join(node_string(ds, "data_root"), ann_cfg, ann, sizeof ann);
    bool with_label = mm_value_get_bool(
        mmcls_get(mm_dataset_node(ds), "with_label"));
    if (c->imagenet)
        imagenet_defaults(ds, prefix, sizeof prefix, ann, sizeof ann,
                          &with_label);
    const mm_value *exts = mmcls_get(mm_dataset_node(ds), "extensions");
    mm_value *list = mm_value_new_list();
    if (!list)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = *ann ? read_ann(ds, ann, prefix, with_label, list)
                  : find_samples(ds, prefix, with_label, exts, list);
    if (rc) {
        mm_value_release(list);
        return rc;
    }
    mm_dataset_set_data_list(ds, list);
    return MM_OK;
}

static const mm_dataset_class custom_class = {
    .name = "CustomDataset",
    .load = custom_load,
};

/* Checks shared by CustomDataset and ImageNet at build time. */
static int custom_check(mm_build_ctx *ctx) {
    const mm_value *exts = mm_build_arg(ctx, "extensions");
    for (size_t i = 0; i < mm_value_len(exts); i++)
        if (!mm_value_is_string(mm_value_list_get(exts, i)))
            return mm_error_set_at(
                MM_ETYPE, mm_value_loc(mm_value_list_get(exts, i)),
                "extensions[%zu]: expected a string such as '.jpg'", i);
    const mm_value *pre = mm_build_arg(ctx, "data_prefix");
    if (mm_value_is_dict(pre))
        for (size_t i = 0; i < mm_value_len(pre); i++)
            if (!mm_value_is_string(mm_value_dict_value_at(pre, i)))
                return mm_error_set_at(
                    MM_ETYPE, mm_value_loc(mm_value_dict_value_at(pre, i)),
                    "data_prefix.%s: prefix should be a string",
                    mm_value_dict_key_at(pre, i));
    const mm_value *cl = mm_build_arg(ctx, "classes");
    if (mm_value_is_list(cl))
        for (size_t i = 0; i < mm_value_len(cl); i++)
            if (!mm_value_is_string(mm_value_list_get(cl, i)))
                return mm_error_set_at(
                    MM_ETYPE, mm_value_loc(mm_value_list_get(cl, i)),
                    "classes[%zu]: expected a class name", i);
    return MM_OK;
}

static int custom_build(mm_build_ctx *ctx, void **out) {
    MM_TRY(custom_check(ctx));
    const char *ann, *root;
    MM_TRY(mm_build_string(ctx, "ann_file", &ann));
    MM_TRY(mm_build_string(ctx, "data_root", &root));
    const mm_value *pre = mm_build_arg(ctx, "data_prefix");
    bool has_pre = mm_value_is_string(pre) ? *mm_value_get_string(pre) != 0
                                           : mm_value_len(pre) > 0;
    if (!*ann && !*root && !has_pre)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "One of `ann_file`, `data_root` and "
                               "`data_prefix` must be specified.");
    mm_dataset *ds;
    MM_TRY(mm_dataset_from_build(ctx, &custom_class, sizeof(custom), &ds));
    *out = ds;
    return MM_OK;
}

/* mm_dataset_from_build runs full_init before the builder could mark the
 * private state, so ImageNet is told apart by its class. */
static int imagenet_load(mm_dataset *ds) {
    ((custom *)mm_dataset_priv(ds))->imagenet = true;
    return custom_load(ds);
}

static const mm_dataset_class imagenet_class = {
    .name = "ImageNet",
    .metainfo = MMCLS_IMAGENET_METAINFO,
    .load = imagenet_load,
};

static int imagenet_build(mm_build_ctx *ctx, void **out) {
    static const char *const splits[] = {"", "train", "val", "test"};
    MM_TRY(check_choice(ctx, "split", splits, 4));
    MM_TRY(custom_check(ctx));
    const char *split;
    MM_TRY(mm_build_string(ctx, "split", &split));
    if (!strcmp(split, "test"))
        MM_INFO("Since the ImageNet1k test set does not provide label "
                "annotations, `with_label` is set to False");
    mm_dataset *ds;
    MM_TRY(mm_dataset_from_build(ctx, &imagenet_class, sizeof(custom),
                                 &ds));
    *out = ds;
    return MM_OK;
}

/* ---- MultiLabelDataset (mmengine's annotation format) ------------------ */

static int multilabel_load(mm_dataset *ds) {
    MM_TRY(compat_classes(ds));
    char ann[2048];
    const char *ann_cfg = node_string(ds, "ann_file");
    if (!*ann_cfg)
        return mm_error_set_at(MM_EINVAL, loc_of(ds, "ann_file"),
                               "%s: MultiLabelDataset needs an annotation file "
                               "({metainfo, data_list} as JSON or YAML)",
                               "ann_file");
    path_join(node_string(ds, "data_root"), ann_cfg, ann, sizeof ann);
    char *text;
    size_t len;
    MM_TRY(mm_file_read(ann, &text, &len));
    size_t n = strlen(ann);
    bool yaml = (n > 5 && !strcmp(ann + n - 5, ".yaml")) ||
                (n > 4 && !strcmp(ann + n - 4, ".yml"));
    bool json = n > 5 && !strcmp(ann + n - 5, ".json");
    mm_value *doc = NULL;
    int rc = !yaml && !json
                 ? mm_error_set(MM_EUNSUPPORTED,
                                "%s: annotation files are read as .json or "
                                ".yaml (pickles are not read)",
                                ann)
             : yaml ? mm_yaml_parse(text, len, ann, &doc)
                    : mm_json_parse(text, len, ann, &doc);
    free(text);
    MM_TRY(rc);
    const mm_value *meta = mmcls_get(doc, "metainfo");
    const mm_value *list = mmcls_get(doc, "data_list");
    if (!mm_value_is_dict(doc))
        rc = mm_error_set(MM_ETYPE, "%s: The annotations loaded from "
                                    "annotation file should be a dict, but "
                                    "got %s!",
                          ann, mm_value_type_name(mm_value_type_of(doc)));
    else if (!meta || !list)
        rc = mm_error_set(MM_EINVAL, "%s: Annotation must have data_list and "
                                     "metainfo keys", ann);
    else if (!mm_value_is_dict(meta) || !mm_value_is_list(list))
        rc = mm_error_set(MM_ETYPE, "%s: metainfo must be a dict and "
                                    "data_list a list", ann);
    /* the file's metainfo fills what the class and the config leave */
    mm_value *dmeta = mm_dataset_metainfo(ds);
    for (size_t i = 0; !rc && i < mm_value_len(meta); i++)
        if (!mm_value_dict_get(dmeta, mm_value_dict_key_at(meta, i)) &&
            mm_value_dict_set(dmeta, mm_value_dict_key_at(meta, i),
                              mm_value_dict_value_at(meta, i)))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc)
        rc = compat_classes(ds);
    const mm_value *classes = mmcls_get(dmeta, "classes");
    char prefix[2048];
    prefix_of(ds, "img_path", prefix, sizeof prefix);
    mm_value *out = rc ? NULL : mm_value_new_list();
    if (!rc && !out)
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < mm_value_len(list); i++) {
        const mm_value *s = mm_value_list_get(list, i);
        const mm_value *img = mmcls_get(s, "img_path");
        const mm_value *gt = mmcls_get(s, "gt_label");
        if (!mm_value_is_dict(s) || !mm_value_is_string(img)) {
            rc = mm_error_set(MM_EINVAL, "%s: data_list[%zu]: expected a dict "
                                         "with an img_path string", ann, i);
            break;
        }
        if (gt && !mm_value_is_list(gt) && !mm_value_is_int(gt)) {
            rc = mm_error_set(MM_ETYPE, "%s: data_list[%zu].gt_label: "
                                        "expected a list of class indices",
                              ann, i);
            break;
        }
        for (size_t j = 0; gt && !rc && j < (mm_value_is_list(gt)
                                                  ? mm_value_len(gt)
                                                  : 1);
             j++) {
            const mm_value *y = mm_value_is_list(gt)
                                    ? mm_value_list_get(gt, j)
                                    : gt;
            if (!mm_value_is_int(y) || mm_value_get_int(y) < 0 ||
                (classes &&
                 (size_t)mm_value_get_int(y) >= mm_value_len(classes)))
                rc = mm_error_set(MM_EINVAL,
                                  "%s: data_list[%zu].gt_label: %s is not a "
                                  "class index in [0, %zu)",
                                  ann, i,
                                  mm_value_is_int(y) ? "a label" : "an item",
                                  classes ? mm_value_len(classes) : 0);
        }
        if (rc)
            break;
        /* mmengine's parse_data_info: prefixed keys joined with prefix */
        mm_value *info = mm_value_copy(s);
        char p[4096];
        path_join(prefix, mm_value_get_string(img), p, sizeof p);
        if (!info || mm_value_dict_set_take(info, "img_path",
                                            mm_value_new_string(p)) ||
            mm_value_list_append_take(out, info)) {
            mm_value_release(info);
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        }
    }
    mm_value_release(doc);
    if (rc) {
        mm_value_release(out);
        return rc;
    }
    mm_dataset_set_data_list(ds, out);
    return MM_OK;
}

static const mm_dataset_class multilabel_class = {
    .name = "MultiLabelDataset",
    .load = multilabel_load,
};

static int multilabel_build(mm_build_ctx *ctx, void **out) {
    MM_TRY(custom_check(ctx));
    mm_dataset *ds;
    MM_TRY(mm_dataset_from_build(ctx, &multilabel_class, 1, &ds));
    *out = ds;
    return MM_OK;
}

/* ---- registration ------------------------------------------------------ */

static const mm_param cifar_params[] = {
    MM_DATASET_BASE_PARAMS,
    {.name = "split", .type = MM_PARAM_STRING, .def = "train",
     .doc = "'train' (data_batch_1..5 / train) or 'test' (test_batch / "
            "test)"},
    {.name = "download", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "accepted; mm never downloads, missing files are an error"},
};

#define CLASSES_PARAM                                                          \
    {.name = "classes", .type = MM_PARAM_LIST | MM_PARAM_STRING |              \
                                MM_PARAM_NULL,                                 \
     .def = "null",                                                            \
     .doc = "class names, or a file of one name a line (metainfo wins)"}
#define EXTENSIONS_DEFAULT "['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif']"

static const mm_param custom_params[] = {
    MM_DATASET_BASE_PARAMS,
    {.name = "with_label", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "ann_file lines carry labels / subfolders are the classes"},
    {.name = "extensions", .type = MM_PARAM_LIST, .def = EXTENSIONS_DEFAULT,
     .doc = "file name endings taken from folders (case-insensitive)"},
    CLASSES_PARAM,
};

static const mm_param imagenet_params[] = {
    MM_DATASET_BASE_PARAMS,
    {.name = "split", .type = MM_PARAM_STRING, .def = "''",
     .doc = "'', 'train', 'val' or 'test': default data_prefix and "
            "meta/<split>.txt"},
    {.name = "with_label", .type = MM_PARAM_BOOL, .def = "true",
     .doc = "as CustomDataset (split 'test' sets it false)"},
    {.name = "extensions", .type = MM_PARAM_LIST, .def = EXTENSIONS_DEFAULT,
     .doc = "file name endings taken from folders (case-insensitive)"},
    CLASSES_PARAM,
};

static const mm_param multilabel_params[] = {
    MM_DATASET_BASE_PARAMS,
    CLASSES_PARAM,
};

static const mm_component dataset_components[] = {
    {.kind = MM_DATASETS, .name = "CIFAR10",
     .doc = "CIFAR-10 from the python version's pickled batches",
     .params = cifar_params,
     .n_params = sizeof cifar_params / sizeof cifar_params[0],
     .build = cifar10_build, .destroy = mm_dataset_destroy},
    {.kind = MM_DATASETS, .name = "CIFAR100",
     .doc = "CIFAR-100 (fine labels) from the python version's pickles",
     .params = cifar_params,
     .n_params = sizeof cifar_params / sizeof cifar_params[0],
     .build = cifar100_build, .destroy = mm_dataset_destroy},
    {.kind = MM_DATASETS, .name = "CustomDataset",
     .doc = "images from an annotation file or class subfolders",
     .params = custom_params,
     .n_params = sizeof custom_params / sizeof custom_params[0],
     .build = custom_build, .destroy = mm_dataset_destroy},
    {.kind = MM_DATASETS, .name = "ImageNet",
     .doc = "ImageNet-1k: meta/<split>.txt lists or class folders",
     .params = imagenet_params,
     .n_params = sizeof imagenet_params / sizeof imagenet_params[0],
     .build = imagenet_build, .destroy = mm_dataset_destroy},
    {.kind = MM_DATASETS, .name = "MultiLabelDataset",
     .doc = "multi-label images from mmengine's JSON annotation format",
     .params = multilabel_params,
     .n_params = sizeof multilabel_params / sizeof multilabel_params[0],
     .build = multilabel_build, .destroy = mm_dataset_destroy},
};

int mmcls_register_image_datasets(void) {
    for (size_t i = 0;
         i < sizeof dataset_components / sizeof dataset_components[0]; i++)
        MM_TRY(mm_register(&dataset_components[i]));
    return MM_OK;
}
