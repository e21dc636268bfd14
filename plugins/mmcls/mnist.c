/* mmcls datasets: MNIST and FashionMNIST (mmpretrain/datasets/mnist.py) on
 * the dataset base of <mm/data.h>.
 *
 * The files are the idx ("SN3") files of LeCun's distribution, each raw or
 * gzip-compressed: train-images-idx3-ubyte, train-labels-idx1-ubyte and
 * t10k-... (test_mode picks t10k, as mmpretrain; `split` is checked but,
 * as in mmpretrain 1.2.0, does not pick the files). They are read once, every
 * header field and length checked (a file is hostile input), into one u8
 * tensor N x H x W and a label array; sample i is `{img: (H, W) u8 view,
 * gt_label: int}`, mmpretrain's `{img: ndarray, gt_label}`.
 *
 * The files live in data_root joined with data_prefix (a string, or a dict
 * with `root`, as mmpretrain's data_prefix). mm never downloads: download
 * must be false. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <mm/data.h>
#include <mm/log.h>
#include <mm/registry.h>
#include <mm/tensor.h>

#include "mmcls.h"

/* Larger files are refused (MNIST's biggest, uncompressed, is 47 MB). */
#define IDX_MAX_BYTES ((size_t)1 << 31)

typedef struct mnist {
    mm_tensor *images; /* (N, H, W) u8, owned */
    int64_t *labels;   /* N */
    int64_t n;
} mnist;

/* ---- idx files -------------------------------------------------------- */

/* Read the whole file at `path` (gzip or raw: zlib reads both) into *data. */
static int read_maybe_gz(const char *path, unsigned char **data, size_t *len) {
    gzFile f = gzopen(path, "rb");
    if (!f)
        return mm_error_set(MM_EIO, "%s: cannot open: %s", path,
                            strerror(errno ? errno : ENOMEM));
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    while (!rc) {
        if (n == cap) {
            if (cap >= IDX_MAX_BYTES) {
                rc = mm_error_set(MM_EINVAL,
                                  "%s: larger than %zu bytes, not an MNIST "
                                  "file", path, IDX_MAX_BYTES);
                break;
            }
            unsigned char *b = realloc(buf, cap * 2);
            if (!b) {
                rc = mm_error_set(MM_ENOMEM, "out of memory");
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
        int got = gzread(f, buf + n, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            rc = mm_error_set(MM_EIO, "%s: corrupt or truncated gzip data "
                                      "(%s)", path, msg ? msg : "?");
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    /* gzread reports a gzip stream cut short as end of file; gzclose_r
     * then says Z_BUF_ERROR. */
    int zc = gzclose(f);
    if (!rc && zc != Z_OK)
        rc = mm_error_set(MM_EIO, "%s: truncated gzip data", path);
    if (rc) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = n;
    return MM_OK;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* Parse an idx file of u8 with `ndim` dims: magic 0x0000 08 ndim, then the
 * dims, then exactly their product of bytes. *payload points into data. */
static int parse_idx(const char *path, const unsigned char *data, size_t len,
                     int ndim, int64_t *dims, const unsigned char **payload) {
    size_t head = 4 + 4 * (size_t)ndim;
    if (len < 4)
        return mm_error_set(MM_EINVAL, "%s: %zu bytes, too short for an idx "
                                       "file", path, len);
    uint32_t magic = be32(data);
    if (magic != (0x800u | (uint32_t)ndim))
        return mm_error_set(MM_EINVAL,
                            "%s: magic 0x%08x, want 0x%08x (idx%d of unsigned "
                            "bytes): not an MNIST %s file",
                            path, magic, 0x800u | (uint32_t)ndim, ndim,
                            ndim == 1 ? "label" : "image");
    if (len < head)
        return mm_error_set(MM_EINVAL, "%s: truncated header (%zu bytes)",
                            path, len);
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(data + 4 + 4 * i);
        if (i > 0 && dims[i] == 0)
            return mm_error_set(MM_EINVAL, "%s: dimension %d is 0", path, i);
        total *= (uint64_t)dims[i];
        if (total > IDX_MAX_BYTES)
            return mm_error_set(MM_EINVAL, "%s: dimensions too large", path);
    }
    if (len - head != total)
        return mm_error_set(MM_EINVAL,
                            "%s: %zu bytes of data, the header says %llu "
                            "(%s file)",
                            path, len - head, (unsigned long long)total,
                            len - head < total ? "truncated" : "wrong");
    *payload = data + head;
    return MM_OK;
}

/* Find `name` or `name.gz` in dir; *found false when neither exists. */
static void find_file(const char *dir, const char *name, char *path,
                      size_t size, bool *found) {
    struct stat st;
    snprintf(path, size, "%s%s%s", dir, *dir ? "/" : "", name);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        *found = true;
        return;
    }
    snprintf(path, size, "%s%s%s.gz", dir, *dir ? "/" : "", name);
    *found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- the dataset class -------------------------------------------------- */

/* The directory: data_root joined with data_prefix (string or {root}), and
 * the config key that names it, for messages. */
static void data_dir(const mm_dataset *ds, char *buf, size_t size,
                     const char **key, const mm_value **val) {
    const mm_value *node = mm_dataset_node(ds);
    const mm_value *pre = mmcls_get(node, "data_prefix");
    const char *prefix = "";
    if (mm_value_is_string(pre))
        prefix = mm_value_get_string(pre);
    else if (mm_value_is_string(mmcls_get(pre, "root")))
        prefix = mm_value_get_string(mmcls_get(pre, "root"));
    *key = *prefix ? "data_prefix" : "data_root";
    *val = *prefix ? pre : mmcls_get(node, "data_root");
    if (!*val)
        *val = node;
    if (*prefix) {
        mm_dataset_join_root(ds, prefix, buf, size);
    } else {
        const mm_value *root = mmcls_get(node, "data_root");
        snprintf(buf, size, "%s",
                 mm_value_is_string(root) ? mm_value_get_string(root) : "");
    }
}

static int mnist_load(mm_dataset *ds) {
    mnist *d = mm_dataset_priv(ds);
    const char *cname = mm_dataset_class_of(ds)->name;
    const char *split = mm_dataset_test_mode(ds) ? "t10k" : "train";
    char dir[1024], img_name[64], lbl_name[64];
    char img_path[1200], lbl_path[1200];
    const char *key;
    const mm_value *kv;
    data_dir(ds, dir, sizeof dir, &key, &kv);
    snprintf(img_name, sizeof img_name, "%s-images-idx3-ubyte", split);
    snprintf(lbl_name, sizeof lbl_name, "%s-labels-idx1-ubyte", split);
    bool has_img, has_lbl;
    find_file(dir, img_name, img_path, sizeof img_path, &has_img);
    find_file(dir, lbl_name, lbl_path, sizeof lbl_path, &has_lbl);
    if (!has_img || !has_lbl)
        return mm_error_set_at(
            MM_ENOENT, mm_value_loc(kv),
            "%s: no %s files in '%s' (want %s[.gz]); point %s (or "
            "MM_DATA_ROOT) at the idx files",
            key, cname, dir,
            has_img ? lbl_name : img_name, key);
    unsigned char *idata = NULL, *ldata = NULL;
    size_t ilen, llen;
    int64_t idims[3], ldims[1];
    const unsigned char *ipay, *lpay;
    int rc = read_maybe_gz(img_path, &idata, &ilen);
    if (!rc)
        rc = read_maybe_gz(lbl_path, &ldata, &llen);
    if (!rc)
        rc = parse_idx(img_path, idata, ilen, 3, idims, &ipay);
    if (!rc)
        rc = parse_idx(lbl_path, ldata, llen, 1, ldims, &lpay);
    if (!rc && ldims[0] != idims[0])
        rc = mm_error_set(MM_EINVAL, "%s: %lld labels for %lld images in %s",
                          lbl_path, (long long)ldims[0], (long long)idims[0],
                          img_path);
    const mm_value *classes = mmcls_get(mm_dataset_metainfo(ds), "classes");
    int64_t n_classes = mm_value_is_list(classes)
                            ? (int64_t)mm_value_len(classes)
                            : 256;
    for (int64_t i = 0; !rc && i < ldims[0]; i++)
        if (lpay[i] >= n_classes)
            rc = mm_error_set(MM_EINVAL,
                              "%s: label %u of sample %lld is not one of the "
                              "%lld classes",
                              lbl_path, lpay[i], (long long)i,
                              (long long)n_classes);
    if (!rc) {
        d->n = idims[0];
        d->labels = malloc((size_t)(d->n ? d->n : 1) * sizeof *d->labels);
        if (!d->labels)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        for (int64_t i = 0; !rc && i < d->n; i++)
            d->labels[i] = lpay[i];
    }
    if (!rc) {
        /* Created outside any pool of the caller's: the dataset owns it. */
        mm_pool *pool;
        rc = mm_pool_open(&pool);
        if (!rc) {
            rc = mm_from_data(ipay, 3, idims, MM_U8, &d->images);
            if (!rc)
                mm_tensor_retain(d->images);
            mm_pool_close(pool);
        }
        if (rc)
            d->images = NULL;
    }
    free(idata);
    free(ldata);
    return rc;
}

static size_t mnist_len(const mm_dataset *ds) {
    return (size_t)((const mnist *)mm_dataset_priv(ds))->n;
}

/* {img: a view of image i of images (N, ...), gt_label: labels[i]}. */
int mmcls_array_sample(mm_tensor *images, const int64_t *labels, int64_t n,
                       size_t i, mm_value **out) {
    if ((int64_t)i >= n)
        return mm_error_set(MM_ERANGE, "index %zu out of range for %lld "
                                       "samples", i, (long long)n);
    mm_value *info = mm_value_new_dict();
    if (!info)
        return mm_error_set(MM_ENOMEM, "out of memory");
    mm_pool *pool;
    mm_tensor *img;
    int rc = mm_pool_open(&pool);
    if (rc) {
        mm_value_release(info);
        return rc;
    }
    rc = mm_select(images, 0, (int64_t)i, &img); /* a view of one image */
    if (!rc)
        rc = mm_value_dict_set_take(info, "img", mm_tensor_to_value(img));
    mm_pool_close(pool);
    if (!rc)
        rc = mm_value_dict_set_take(info, "gt_label",
                                    mm_value_new_int(labels[i]));
    if (rc) {
        mm_value_release(info);
        return rc;
    }
    *out = info;
    return MM_OK;
}

static int mnist_get_info(const mm_dataset *ds, size_t i, mm_value **out) {
    const mnist *d = mm_dataset_priv(ds);
    return mmcls_array_sample(d->images, d->labels, d->n, i, out);
}

static void mnist_fini(mm_dataset *ds) {
    mnist *d = mm_dataset_priv(ds);
    mm_tensor_release(d->images);
    free(d->labels);
    d->images = NULL;
    d->labels = NULL;
}

static const mm_dataset_class mnist_class = {
    .name = "MNIST",
    .metainfo = "{classes: ['0 - zero', '1 - one', '2 - two', '3 - three', "
                "'4 - four', '5 - five', '6 - six', '7 - seven', '8 - eight', "
                "'9 - nine']}",
    .load = mnist_load,
    .len = mnist_len,
    .get_info = mnist_get_info,
    .fini = mnist_fini,
};

static const mm_dataset_class fashion_mnist_class = {
    .name = "FashionMNIST",
    .metainfo = "{classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', "
                "'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']}",
    .load = mnist_load,
    .len = mnist_len,
    .get_info = mnist_get_info,
    .fini = mnist_fini,
};

/* mmpretrain 1.2.0's `split`: 'train' or 'test', checked, but the files
 * are still chosen by test_mode (a split that disagrees gets a warning). */
static int check_split(mm_build_ctx *ctx) {
    const char *split, *path = mm_build_path(ctx);
    bool test_mode;
    MM_TRY(mm_build_string(ctx, "split", &split));
    MM_TRY(mm_build_bool(ctx, "test_mode", &test_mode));
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "split")),
                               "%s%ssplit: must be 'train' or 'test', got "
                               "'%s' (test_mode: true picks the t10k files)",
                               path, *path ? "." : "", split);
    /* mmpretrain also warns on its own default (split 'train') beside
     * test_mode: true, i.e. on every test set of its configs; only a split
     * the config sets is worth a warning. */
    bool given = mm_value_dict_get(mm_build_node(ctx), "split") != NULL;
    if (given && test_mode != (strcmp(split, "test") == 0))
        MM_WARN("%s: split='%s' but test_mode=%s: the %s files are used "
                "(test_mode decides, as in mmpretrain)",
                path, split, test_mode ? "True" : "False",
                test_mode ? "t10k" : "train");
    return MM_OK;
}

static int build_common(mm_build_ctx *ctx, const mm_dataset_class *cls,
                        void **out) {
    bool download;
    const char *path = mm_build_path(ctx);
    MM_TRY(mm_build_bool(ctx, "download", &download));
    if (download)
        return mm_error_set_at(MM_EUNSUPPORTED,
                               mm_value_loc(mm_build_arg(ctx, "download")),
                               "%s%sdownload: mm never downloads; put the idx "
                               "files in data_root and set download: false",
                               path, *path ? "." : "");
    MM_TRY(check_split(ctx));
    /* mmpretrain: "Please set data_root to specify the dataset path" (the
     * files are never looked for in the working directory). */
    const mm_value *root = mm_build_arg(ctx, "data_root");
    const mm_value *pre = mm_build_arg(ctx, "data_prefix");
    const mm_value *pre_root = mm_value_is_dict(pre)
                                   ? mm_value_dict_get(pre, "root")
                                   : pre;
    bool has_root = mm_value_is_string(root) && *mm_value_get_string(root);
    bool has_pre = mm_value_is_string(pre_root) &&
                   *mm_value_get_string(pre_root);
    if (!has_root && !has_pre)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                               "%s: set data_root (or data_prefix) to the "
                               "directory of the idx files",
                               *path ? path : cls->name);
    mm_dataset *ds;
    MM_TRY(mm_dataset_from_build(ctx, cls, sizeof(mnist), &ds));
    *out = ds;
    return MM_OK;
}

static int mnist_build(mm_build_ctx *ctx, void **out) {
    return build_common(ctx, &mnist_class, out);
}
static int fashion_mnist_build(mm_build_ctx *ctx, void **out) {
    return build_common(ctx, &fashion_mnist_class, out);
}

static const mm_param mnist_params[] = {
    MM_DATASET_BASE_PARAMS,
    {.name = "download", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "accepted for mmpretrain configs; must be false (no network)"},
    {.name = "split", .type = MM_PARAM_STRING, .def = "train",
     .doc = "'train' or 'test', as mmpretrain; test_mode picks the files"},
};

static const mm_component mnist_component = {
    .kind = MM_DATASETS,
    .name = "MNIST",
    .doc = "MNIST handwritten digits from idx files (raw or .gz)",
    .params = mnist_params,
    .n_params = sizeof mnist_params / sizeof mnist_params[0],
    .build = mnist_build,
    .destroy = mm_dataset_destroy,
};

static const mm_component fashion_mnist_component = {
    .kind = MM_DATASETS,
    .name = "FashionMNIST",
    .doc = "Fashion-MNIST from idx files (raw or .gz)",
    .params = mnist_params,
    .n_params = sizeof mnist_params / sizeof mnist_params[0],
    .build = fashion_mnist_build,
    .destroy = mm_dataset_destroy,
};

int mmcls_register_datasets(void) {
    MM_TRY(mm_register(&mnist_component));
    MM_TRY(mm_register(&fashion_mnist_component));
    return MM_OK;
}
