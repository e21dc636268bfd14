/* Checkpoints (<mm/checkpoint.h>): round trips of every dtype and of a
 * module's state dict with metadata, loading into modules with strict and
 * non-strict reports, a file written by Python's safetensors package, every
 * kind of corrupt file refused with its one-line message, truncation at
 * every byte, and atomic writes that keep the old file when writing fails. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mm/mm.h"

#define CHECK_HAS(haystack, needle)                                            \
    do {                                                                       \
        const char *h_ = (haystack), *n_ = (needle);                           \
        if (!h_ || !strstr(h_, n_)) {                                          \
            fprintf(stderr, "%s:%d: missing text:\n  in:   %s\n  want: %s\n",  \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_);               \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

/* ---- helpers ------------------------------------------------------------ */

static char tmp_dir[256];

/* A fresh private directory per case (removed by rm_dir). */
static const char *make_dir(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/mm_ckpt_XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    return tmp_dir;
}

static void rm_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

/* Number of entries in dir other than . and .. */
static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static uint8_t *read_bytes(const char *path, size_t *len) {
    char *text = NULL;
    if (mm_file_read(path, &text, len) != 0)
        return NULL;
    return (uint8_t *)text;
}

/* A file from a JSON header (length field = its length) and data. */
static size_t raw_file(uint8_t *buf, const char *json, const void *data,
                       size_t data_len) {
    uint64_t n = strlen(json);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, json, n);
    if (data_len)
        memcpy(buf + 8 + n, data, data_len);
    return 8 + n + data_len;
}

/* Load a crafted header + data from memory, named "bad.safetensors". */
static int load_raw(const char *json, size_t data_len, mm_checkpoint **ck) {
    static uint8_t buf[4096];
    static const uint8_t zeros[1024];
    size_t n = raw_file(buf, json, zeros, data_len);
    return mm_checkpoint_load_buffer(buf, n, "bad.safetensors", ck);
}

static mm_tensor *filled(mm_dtype dt, int ndim, const int64_t *shape,
                         double scale) {
    mm_tensor *t;
    if (mm_empty(ndim, shape, dt, &t) != 0)
        return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = dt == MM_BOOL ? (double)(i % 3 == 0)
                   : dt == MM_U8 ? (double)((i * 37) % 256)
                                 : ((double)i - 3) * scale;
        mm_tensor_set_flat(t, i, v);
    }
    return t;
}

static bool same_tensor(const mm_tensor *a, const mm_tensor *b) {
    if (!a || !b || a->dtype != b->dtype || !mm_tensor_same_shape(a, b))
        return false;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = mm_tensor_get_flat(a, i), y = mm_tensor_get_flat(b, i);
        if (!(x == y || (isnan(x) && isnan(y))))
            return false;
    }
    return true;
}

static mm_value *sample_meta(void) {
    mm_value *m = NULL;
    const char *json = "{\"epoch\": 3, \"iter\": 1875, \"seed\": 42, "
                       "\"mm_version\": \"0.1.0\", \"experiment_name\": "
                       "\"lenet\", \"lr\": [0.1, 1e-05], \"ok\": true, "
                       "\"none\": null, \"name\": \"caf\\u00e9 \\\"q\\\"\"}";
    if (mm_json_parse(json, strlen(json), "<test>", &m) != 0)
        return NULL;
    return m;
}

/* Every dtype, a scalar, an empty tensor and a non-contiguous view. */
static mm_checkpoint *sample_checkpoint(void) {
    mm_checkpoint *ck;
    if (mm_checkpoint_new(&ck) != 0)
        return NULL;
    for (int d = 0; d < MM_DTYPE_COUNT; d++) {
        char name[64];
        snprintf(name, sizeof name, "x.%s", mm_dtype_name((mm_dtype)d));
        mm_tensor *t = filled((mm_dtype)d, MM_SHAPE(2, 3), 0.5);
        CHECK_OK(mm_checkpoint_add(ck, name, t));
        mm_tensor_release(t);
    }
    mm_tensor *s = filled(MM_F32, 0, NULL, 1.5);
    mm_tensor *e = filled(MM_F32, MM_SHAPE(0, 4), 1);
    mm_tensor *m = filled(MM_F64, MM_SHAPE(3, 4), 0.25), *tr = NULL;
    CHECK_OK(mm_transpose(m, 0, 1, &tr));
    CHECK_OK(mm_checkpoint_add(ck, "scalar", s));
    CHECK_OK(mm_checkpoint_add(ck, "empty", e));
    CHECK_OK(mm_checkpoint_add(ck, "transposed", tr));
    mm_tensor_release(s);
    mm_tensor_release(e);
    mm_tensor_release(m);
    mm_tensor_release(tr);
    mm_value *meta = sample_meta();
    CHECK_OK(mm_checkpoint_set_meta(ck, "meta", meta));
    mm_value_release(meta);
    mm_value *str = mm_value_new_string("plain");
    CHECK_OK(mm_checkpoint_set_meta(ck, "note", str));
    mm_value_release(str);
    return ck;
}

/* b holds a's entries (and `extra` more after them) and a's metadata. */
static void check_same_entries(const mm_checkpoint *a, const mm_checkpoint *b,
                               size_t extra) {
    CHECK_INT(mm_checkpoint_count(a) + extra, mm_checkpoint_count(b));
    for (size_t i = 0; i < mm_checkpoint_count(a); i++) {
        const char *na, *nb;
        mm_tensor *ta, *tb;
        CHECK_OK(mm_checkpoint_at(a, i, &na, &ta));
        if (mm_checkpoint_at(b, i, &nb, &tb) != 0)
            continue;
        CHECK_STR(nb, na); /* insertion order is file order */
        if (!same_tensor(ta, tb))
            fprintf(stderr, "tensor %s differs\n", na), mm_test_failures++;
        CHECK(mm_checkpoint_get(b, na) == tb);
    }
    CHECK(mm_value_equal(mm_checkpoint_meta(a), mm_checkpoint_meta(b)));
}

static void check_same_checkpoint(const mm_checkpoint *a,
                                  const mm_checkpoint *b) {
    check_same_entries(a, b, 0);
}

/* ---- round trips -------------------------------------------------------- */

MM_TEST(checkpoint_every_dtype_round_trips_through_a_file) {
    const char *dir = make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    mm_checkpoint *ck = sample_checkpoint(), *back = NULL;
    CHECK_OK(mm_checkpoint_save(ck, path));
    CHECK_OK(mm_checkpoint_load(path, &back));
    if (back)
        check_same_checkpoint(ck, back);
    /* The transposed view is saved in its logical (row-major) order. */
    mm_tensor *tr = mm_checkpoint_get(back, "transposed");
    CHECK(tr && tr->shape[0] == 4 && tr->shape[1] == 3);
    if (tr)
        CHECK(mm_tensor_get_flat(tr, 1) == (4 - 3) * 0.25);
    const mm_value *meta = mm_checkpoint_get_meta(back, "meta");
    CHECK(meta && mm_value_get_int(mm_value_dict_get(meta, "iter")) == 1875);
    CHECK_STR(mm_value_get_string(mm_checkpoint_get_meta(back, "note")),
              "plain");
    CHECK(mm_checkpoint_get_meta(back, "absent") == NULL);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    CHECK_INT(count_files(dir), 1); /* no temporary left */
    mm_checkpoint_free(ck);
    mm_checkpoint_free(back);
    rm_dir(dir);
}

MM_TEST(checkpoint_buffer_and_file_hold_the_same_bytes) {
    const char *dir = make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/b.safetensors", dir);
    mm_checkpoint *ck = sample_checkpoint(), *back = NULL;
    void *buf = NULL;
    size_t len = 0, flen = 0;
    CHECK_OK(mm_checkpoint_save_buffer(ck, &buf, &len));
    CHECK_OK(mm_checkpoint_save(ck, path));
    uint8_t *file = read_bytes(path, &flen);
    CHECK(file && flen == len && memcmp(file, buf, len) == 0);
    /* Header length is a multiple of 8 and the padding is spaces. */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | ((uint8_t *)buf)[i];
    CHECK(hlen % 8 == 0 && hlen < len);
    CHECK(((char *)buf)[8] == '{');
    CHECK_OK(mm_checkpoint_load_buffer(buf, len, "mem", &back));
    if (back)
        check_same_checkpoint(ck, back);
    free(file);
    free(buf);
    mm_checkpoint_free(ck);
    mm_checkpoint_free(back);
    rm_dir(dir);
}

/* The runner loads inside its per-iteration pool: the tensors must belong
 * to the checkpoint, not to that pool. */
MM_TEST(checkpoint_loaded_inside_a_pool_outlives_it) {
    mm_checkpoint *ck = sample_checkpoint(), *back = NULL;
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(mm_checkpoint_save_buffer(ck, &buf, &len));
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    CHECK_OK(mm_checkpoint_load_buffer(buf, len, "mem", &back));
    mm_tensor *pooled;
    CHECK_OK(mm_ones(MM_SHAPE(3), MM_F32, &pooled)); /* owned by the pool */
    CHECK_OK(mm_checkpoint_add(back, "pooled", pooled));
    mm_pool_close(pool);
    if (back)
        check_same_entries(ck, back, 1);
    mm_tensor *p = mm_checkpoint_get(back, "pooled");
    CHECK(p && p->refs == 1 && mm_tensor_get_flat(p, 2) == 1);
    mm_tensor *x = mm_checkpoint_get(back, "x.f32");
    CHECK(x && x->refs == 1);
    free(buf);
    mm_checkpoint_free(ck);
    mm_checkpoint_free(back);
}

MM_TEST(checkpoint_without_tensors_or_metadata_round_trips) {
    mm_checkpoint *ck, *back = NULL;
    CHECK_OK(mm_checkpoint_new(&ck));
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(mm_checkpoint_save_buffer(ck, &buf, &len));
    CHECK_INT(len, 16); /* "{}" padded to 8 */
    CHECK_OK(mm_checkpoint_load_buffer(buf, len, "mem", &back));
    CHECK_INT(mm_checkpoint_count(back), 0);
    CHECK_INT(mm_value_len(mm_checkpoint_meta(back)), 0);
    free(buf);
    mm_checkpoint_free(ck);
    mm_checkpoint_free(back);
}

static mm_module *new_model(void) {
    /* Sequential(Linear(4, 8), BatchNorm1d(8), Linear(8, 3)) */
    mm_module *l1, *bn, *l2, *seq = NULL;
    if (mm_linear_new(4, 8, true, &l1) || mm_batch_norm_new(1, 8, 1e-5, 0.1,
                                                            true, true, &bn) ||
        mm_linear_new(8, 3, true, &l2))
        return NULL;
    mm_module *mods[3] = {l1, bn, l2};
    if (mm_sequential_new(3, mods, &seq) != 0)
        return NULL;
    return seq;
}

MM_TEST(checkpoint_module_state_dict_round_trips_with_metadata) {
    const char *dir = make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    mm_module *a = new_model(), *b = new_model();
    CHECK(a && b);
    /* Make the buffers differ from their defaults too. */
    mm_state_dict sa = {0}, sb = {0};
    CHECK_OK(mm_module_state_dict(a, &sa));
    for (size_t i = 0; i < sa.n; i++)
        for (int64_t j = 0; j < sa.items[i].tensor->numel; j++)
            mm_tensor_set_flat(sa.items[i].tensor, j,
                               (double)(i * 10 + (size_t)j) * 0.125);
    mm_checkpoint *ck, *back = NULL;
    CHECK_OK(mm_checkpoint_new(&ck));
    CHECK_OK(mm_checkpoint_add_module(ck, "state_dict.", a));
    mm_value *meta = sample_meta();
    CHECK_OK(mm_checkpoint_set_meta(ck, "meta", meta));
    CHECK_OK(mm_checkpoint_save(ck, path));
    CHECK_OK(mm_checkpoint_load(path, &back));
    CHECK(mm_checkpoint_get(back, "state_dict.1.num_batches_tracked") &&
          mm_checkpoint_get(back, "state_dict.1.num_batches_tracked")->dtype ==
              MM_I64);
    mm_load_report r = {0};
    CHECK_OK(mm_checkpoint_load_module(back, "state_dict.", b, true, &r));
    CHECK_INT(r.n_missing + r.n_unexpected + r.n_mismatched, 0);
    CHECK_OK(mm_module_state_dict(b, &sb));
    CHECK_INT(sa.n, sb.n);
    for (size_t i = 0; i < sa.n && i < sb.n; i++) {
        CHECK_STR(sb.items[i].name, sa.items[i].name);
        CHECK(same_tensor(sa.items[i].tensor, sb.items[i].tensor));
    }
    CHECK(mm_value_equal(mm_checkpoint_get_meta(back, "meta"), meta));
    mm_state_dict sd = {0};
    CHECK_OK(mm_checkpoint_state_dict(back, "state_dict.", &sd));
    CHECK_INT(sd.n, sa.n);
    CHECK(mm_state_dict_get(&sd, "0.weight") != NULL);
    mm_state_dict_clear(&sd);
    mm_load_report_free(&r);
    mm_value_release(meta);
    mm_state_dict_clear(&sa);
    mm_state_dict_clear(&sb);
    mm_checkpoint_free(ck);
    mm_checkpoint_free(back);
    mm_module_free(a);
    mm_module_free(b);
    rm_dir(dir);
}

MM_TEST(checkpoint_load_module_reports_missing_and_unexpected_keys) {
    mm_module *a = new_model(), *b = new_model();
    mm_checkpoint *ck;
    CHECK_OK(mm_checkpoint_new(&ck));
    mm_state_dict sa = {0};
    CHECK_OK(mm_module_state_dict(a, &sa));
    /* Everything but 2.bias, plus a key the model lacks. */
    for (size_t i = 0; i < sa.n; i++) {
        if (strcmp(sa.items[i].name, "2.bias") == 0)
            continue;
        char name[128];
        snprintf(name, sizeof name, "ema_state_dict.%s", sa.items[i].name);
        CHECK_OK(mm_checkpoint_add(ck, name, sa.items[i].tensor));
    }
    mm_tensor *extra = filled(MM_F32, MM_SHAPE(2), 1);
    CHECK_OK(mm_checkpoint_add(ck, "ema_state_dict.head.fc.weight", extra));
    CHECK_OK(mm_checkpoint_add(ck, "state_dict.0.weight", extra));
    mm_load_report r = {0};
    CHECK_OK(mm_checkpoint_load_module(ck, "ema_state_dict.", b, false, &r));
    CHECK_INT(r.n_missing, 1);
    CHECK_INT(r.n_unexpected, 1);
    CHECK_INT(r.n_mismatched, 0);
    if (r.n_missing && r.n_unexpected) {
        CHECK_STR(r.missing[0], "2.bias");
        CHECK_STR(r.unexpected[0], "head.fc.weight");
    }
    mm_load_report_free(&r);
    /* Non-strict loading copied what matched. */
    mm_state_dict sb = {0};
    CHECK_OK(mm_module_state_dict(b, &sb));
    CHECK(same_tensor(mm_state_dict_get(&sa, "0.weight"),
                      mm_state_dict_get(&sb, "0.weight")));
    mm_state_dict_clear(&sb);
    CHECK_ERR(mm_checkpoint_load_module(ck, "ema_state_dict.", b, true, NULL),
              MM_EINVAL,
              "load_state_dict: missing key '2.bias' (and 1 more problem)");
    /* A shape mismatch is an error in both modes. */
    CHECK_ERR(
        mm_checkpoint_load_module(ck, "state_dict.", b, false, &r), MM_EINVAL,
        "load_state_dict: size mismatch for '0.weight': copying a param "
        "with shape [2] from checkpoint, the shape in the current model is "
        "[8, 4]");
    CHECK_INT(r.n_mismatched, 1);
    mm_load_report_free(&r);
    mm_tensor_release(extra);
    mm_state_dict_clear(&sa);
    mm_checkpoint_free(ck);
    mm_module_free(a);
    mm_module_free(b);
}

MM_TEST(checkpoint_load_module_error_names_the_file) {
    const char *dir = make_dir();
    char path[512], want[700];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    mm_module *a = new_model();
    mm_checkpoint *ck, *back = NULL;
    CHECK_OK(mm_checkpoint_new(&ck));
    CHECK_OK(mm_checkpoint_save(ck, path));
    CHECK_OK(mm_checkpoint_load(path, &back));
    snprintf(want, sizeof want,
             "%s: load_state_dict: missing key '0.weight' (and 8 more "
             "problems)",
             path);
    CHECK_ERR(mm_checkpoint_load_module(back, "state_dict.", a, true, NULL),
              MM_EINVAL, want);
    mm_checkpoint_free(ck);
    mm_checkpoint_free(back);
    mm_module_free(a);
    rm_dir(dir);
}

MM_TEST(checkpoint_add_refuses_duplicates_and_reserved_names) {
    mm_checkpoint *ck;
    CHECK_OK(mm_checkpoint_new(&ck));
    mm_tensor *t = filled(MM_F32, MM_SHAPE(2), 1);
    CHECK_OK(mm_checkpoint_add(ck, "a", t));
    CHECK_ERR(mm_checkpoint_add(ck, "a", t), MM_EEXIST,
              "checkpoint: tensor 'a' is already present");
    CHECK_ERR(mm_checkpoint_add(ck, "bad\xff", t), MM_EINVAL,
              "checkpoint: tensor name is not valid UTF-8");
    CHECK_ERR(mm_checkpoint_add(ck, "__metadata__", t), MM_EINVAL,
              "checkpoint: '__metadata__' is reserved for metadata, not a "
              "tensor name");
    /* Many names: the index grows and still finds each. */
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof name, "layer.%d", i);
        CHECK_OK(mm_checkpoint_add(ck, name, t));
    }
    CHECK_INT(mm_checkpoint_count(ck), 301);
    CHECK(mm_checkpoint_get(ck, "layer.299") == t);
    CHECK(mm_checkpoint_get(ck, "layer.300") == NULL);
    const char *name;
    CHECK_OK(mm_checkpoint_at(ck, 150, &name, NULL));
    CHECK_STR(name, "layer.149");
    CHECK_ERR(mm_checkpoint_at(ck, 301, &name, NULL), MM_ERANGE,
              "checkpoint: entry 301 out of range (301 entries)");
    mm_tensor_release(t);
    mm_checkpoint_free(ck);
}

MM_TEST(checkpoint_metadata_refuses_tensors_and_replaces_keys) {
    mm_checkpoint *ck;
    CHECK_OK(mm_checkpoint_new(&ck));
    mm_tensor *t = filled(MM_F32, MM_SHAPE(2), 1);
    mm_value *d = mm_value_new_dict();
    CHECK_OK(mm_value_dict_set_take(d, "w", mm_tensor_to_value(t)));
    CHECK_ERR(mm_checkpoint_set_meta(ck, "bad", d), MM_ETYPE,
              "checkpoint: metadata 'bad' holds a tensor (add tensors with "
              "mm_checkpoint_add)");
    mm_value *bad = mm_value_new_string("caf\xe9");
    CHECK_ERR(mm_checkpoint_set_meta(ck, "k", bad), MM_EINVAL,
              "checkpoint: metadata key or value is not valid UTF-8");
    mm_value_release(bad);
    mm_value *one = mm_value_new_int(1), *two = mm_value_new_int(2);
    CHECK_OK(mm_checkpoint_set_meta(ck, "k", one));
    CHECK_OK(mm_checkpoint_set_meta(ck, "k", two));
    CHECK_INT(mm_value_get_int(mm_checkpoint_get_meta(ck, "k")), 2);
    CHECK_INT(mm_value_len(mm_checkpoint_meta(ck)), 1);
    mm_value_release(one);
    mm_value_release(two);
    mm_value_release(d);
    mm_tensor_release(t);
    mm_checkpoint_free(ck);
}

/* ---- interop ------------------------------------------------------------ */

MM_TEST(checkpoint_reads_a_file_written_by_python_safetensors) {
    char path[512];
    const char *fx = getenv("MM_FIXTURES");
    snprintf(path, sizeof path, "%s/checkpoint/python_written.safetensors",
             fx ? fx : "tests/fixtures");
    mm_checkpoint *ck = NULL;
    CHECK_OK(mm_checkpoint_load(path, &ck));
    if (!ck)
        return;
    CHECK_INT(mm_checkpoint_count(ck), 9);
    mm_tensor *w = mm_checkpoint_get(ck, "state_dict.conv.weight");
    CHECK(w && w->dtype == MM_F32 && w->ndim == 4 && w->shape[1] == 3);
    for (int64_t i = 0; w && i < 24; i++)
        CHECK(mm_tensor_get_flat(w, i) == (double)i * 0.25 - 1);
    mm_tensor *b = mm_checkpoint_get(ck, "state_dict.conv.bias");
    CHECK(b && b->dtype == MM_F64 && mm_tensor_get_flat(b, 0) == 0.1 &&
          mm_tensor_get_flat(b, 1) == -0.2);
    mm_tensor *n = mm_checkpoint_get(ck, "state_dict.bn.num_batches_tracked");
    CHECK(n && n->dtype == MM_I64 && n->ndim == 0 &&
          MM_DATA(n, int64_t)[0] == 7);
    mm_tensor *h = mm_checkpoint_get(ck, "x.f16");
    CHECK(h && h->dtype == MM_F16 && mm_tensor_get_flat(h, 0) == 0.5 &&
          mm_tensor_get_flat(h, 1) == -1.5 &&
          mm_tensor_get_flat(h, 2) == 65504);
    mm_tensor *bf = mm_checkpoint_get(ck, "x.bf16");
    CHECK(bf && bf->dtype == MM_BF16 && mm_tensor_get_flat(bf, 2) == 3.5 &&
          mm_tensor_get_flat(bf, 3) == 256);
    mm_tensor *i32 = mm_checkpoint_get(ck, "x.i32");
    CHECK(i32 && MM_DATA(i32, int32_t)[0] == INT32_MIN &&
          MM_DATA(i32, int32_t)[3] == INT32_MAX);
    mm_tensor *u8 = mm_checkpoint_get(ck, "x.u8");
    CHECK(u8 && MM_DATA(u8, uint8_t)[1] == 128 &&
          MM_DATA(u8, uint8_t)[2] == 255);
    mm_tensor *bo = mm_checkpoint_get(ck, "x.bool");
    CHECK(bo && bo->dtype == MM_BOOL && MM_DATA(bo, bool)[0] &&
          !MM_DATA(bo, bool)[1]);
    mm_tensor *e = mm_checkpoint_get(ck, "empty");
    CHECK(e && e->numel == 0 && e->shape[1] == 3);
    /* "pt" is not JSON: it reads as the string. */
    CHECK_STR(mm_value_get_string(mm_checkpoint_get_meta(ck, "format")), "pt");
    const mm_value *meta = mm_checkpoint_get_meta(ck, "meta");
    CHECK(meta && mm_value_get_int(mm_value_dict_get(meta, "epoch")) == 3);
    mm_checkpoint_free(ck);
}

/* ---- corrupt files ------------------------------------------------------ */

#define F32_2 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

MM_TEST(checkpoint_short_file_is_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(mm_checkpoint_load_buffer("\x08\0\0", 3, "bad.safetensors", &ck),
              MM_EPARSE,
              "bad.safetensors: truncated: 3 bytes, a safetensors file starts "
              "with an 8-byte header length");
    CHECK(ck == NULL);
}

MM_TEST(checkpoint_header_longer_than_the_file_is_refused) {
    uint8_t buf[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    mm_checkpoint *ck = NULL;
    CHECK_ERR(mm_checkpoint_load_buffer(buf, 10, "bad.safetensors", &ck),
              MM_EPARSE,
              "bad.safetensors: truncated: the header length is 100 bytes, the "
              "file has 2 after it");
}

MM_TEST(checkpoint_absurd_header_length_is_refused) {
    uint8_t buf[16] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}'};
    mm_checkpoint *ck = NULL;
    CHECK_ERR(mm_checkpoint_load_buffer(buf, 10, "bad.safetensors", &ck),
              MM_EPARSE,
              "bad.safetensors: header length 9223372036854775808 is larger "
              "than the 100000000 bytes allowed (not a safetensors file?)");
}

MM_TEST(checkpoint_invalid_json_header_is_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw("{\"a\": }", 0, &ck), MM_EPARSE,
              "bad.safetensors:1:7: safetensors header: unexpected character "
              "'}'");
    CHECK_ERR(load_raw("[1, 2]  ", 0, &ck), MM_EPARSE,
              "bad.safetensors: the header is not a JSON object");
    CHECK_ERR(load_raw("{} x", 0, &ck), MM_EPARSE,
              "bad.safetensors:1:4: safetensors header: extra data after the "
              "JSON value");
}

MM_TEST(checkpoint_entry_with_missing_or_wrong_keys_is_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw("{\"a\":[1]}", 0, &ck), MM_EPARSE,
              "bad.safetensors: tensor 'a': expected an object with dtype, "
              "shape and data_offsets, got a list");
    CHECK_ERR(load_raw("{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                       &ck),
              MM_EPARSE, "bad.safetensors: tensor 'a': missing 'dtype'");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
                       &ck),
              MM_EPARSE, "bad.safetensors: tensor 'a': missing 'shape'");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[]}}", 4, &ck),
              MM_EPARSE, "bad.safetensors: tensor 'a': missing 'data_offsets'");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":5,\"shape\":[],\"data_offsets\":"
                       "[0,4]}}",
                       4, &ck),
              MM_EPARSE, "bad.safetensors: tensor 'a': dtype is not a string");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":"
                       "[0,4]}}",
                       4, &ck),
              MM_EPARSE, "bad.safetensors: tensor 'a': shape is not a list");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],"
                       "\"data_offsets\":[0,4]}}",
                       4, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'a': shape[0] is not a non-negative "
              "integer");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],"
                       "\"data_offsets\":[0,4]}}",
                       4, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'a': shape[0] is not a non-negative "
              "integer");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[],"
                       "\"data_offsets\":[0]}}",
                       4, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'a': data_offsets is not a list of two "
              "non-negative integers");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,"
                       "1],\"data_offsets\":[0,4]}}",
                       4, &ck),
              MM_EUNSUPPORTED,
              "bad.safetensors: tensor 'a': 9 dimensions (mm tensors have at "
              "most 8)");
    CHECK_ERR(load_raw("{\"__metadata__\":[]}", 0, &ck), MM_EPARSE,
              "bad.safetensors: __metadata__ is not an object");
    CHECK_ERR(load_raw("{\"__metadata__\":{\"k\":1}}", 0, &ck), MM_EPARSE,
              "bad.safetensors: __metadata__ value 'k' is not a string");
    CHECK(ck == NULL);
}

MM_TEST(checkpoint_unknown_and_unsupported_dtypes_are_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F17\",\"shape\":[],"
                       "\"data_offsets\":[0,4]}}",
                       4, &ck),
              MM_EPARSE, "bad.safetensors: tensor 'a': unknown dtype 'F17'");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"I8\",\"shape\":[4],"
                       "\"data_offsets\":[0,4]}}",
                       4, &ck),
              MM_EUNSUPPORTED,
              "bad.safetensors: tensor 'a': unsupported dtype 'I8' (mm reads "
              "F64 F32 F16 BF16 I64 I32 U8 BOOL)");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"U16\",\"shape\":[2],"
                       "\"data_offsets\":[0,4]}}",
                       4, &ck),
              MM_EUNSUPPORTED,
              "bad.safetensors: tensor 'a': unsupported dtype 'U16' (mm reads "
              "F64 F32 F16 BF16 I64 I32 U8 BOOL)");
}

MM_TEST(checkpoint_shape_overflow_is_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,"
                       "4294967296],\"data_offsets\":[0,8]}}",
                       8, &ck),
              MM_EPARSE, "bad.safetensors: tensor 'a': shape has too many "
                         "elements");
    CHECK_ERR(
        load_raw("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952"
                 "],\"data_offsets\":[0,8]}}",
                 8, &ck),
        MM_EPARSE,
        "bad.safetensors: tensor 'a': shape has too many "
        "elements");
}

/* A zero dimension makes the byte count 0 whatever the others are, but
 * the strides of such a shape would still overflow. */
MM_TEST(checkpoint_empty_tensor_with_huge_dims_is_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,"
                       "4611686018427387904,4611686018427387904],"
                       "\"data_offsets\":[0,0]}}",
                       0, &ck),
              MM_EPARSE, "bad.safetensors: tensor 'a': shape has too many "
                         "elements");
    CHECK(ck == NULL);
    /* an honest empty tensor still loads */
    CHECK_OK(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[0,3],"
                      "\"data_offsets\":[0,0]}}",
                      0, &ck));
    if (ck)
        CHECK_INT(mm_checkpoint_get(ck, "a")->shape[1], 3);
    mm_checkpoint_free(ck);
}

MM_TEST(checkpoint_bad_offsets_are_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
                       "\"data_offsets\":[4,0]}}",
                       4, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'a': data_offsets [4, 0] end before "
              "they begin");
    /* 8-byte length + 54-byte header + 4 data bytes = 66 */
    CHECK_ERR(load_raw(F32_2 "}", 4, &ck), MM_EPARSE,
              "bad.safetensors: truncated: tensor 'a' ends at byte 70, the "
              "file has 66");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                       "\"data_offsets\":[0,12]}}",
                       12, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'a': data_offsets [0, 12] hold 12 "
              "bytes, F32 [2] needs 8");
    CHECK_ERR(load_raw(F32_2 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[4,12]}}",
                       12, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'b' (data bytes 4..12) overlaps tensor "
              "'a' (..8)");
    CHECK_ERR(load_raw(F32_2 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[12,20]}}",
                       20, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'b' starts at data byte 12, leaving a "
              "hole after byte 8");
    CHECK_ERR(load_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                       "\"data_offsets\":[4,12]}}",
                       12, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'a' starts at data byte 4, leaving a "
              "hole after byte 0");
    /* Two names for the same bytes. */
    CHECK_ERR(load_raw(F32_2 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[0,8]}}",
                       8, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'b' (data bytes 0..8) overlaps tensor "
              "'a' (..8)");
}

MM_TEST(checkpoint_bool_bytes_other_than_0_or_1_are_refused) {
    static uint8_t buf[256];
    const char *json = "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],"
                       "\"data_offsets\":[0,3]}}";
    size_t n = raw_file(buf, json, "\1\0\2", 3);
    mm_checkpoint *ck = NULL;
    CHECK_ERR(mm_checkpoint_load_buffer(buf, n, "bad.safetensors", &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'm': BOOL element 2 is 2, not 0 or 1");
    n = raw_file(buf, json, "\1\0\1", 3);
    CHECK_OK(mm_checkpoint_load_buffer(buf, n, "ok.safetensors", &ck));
    mm_checkpoint_free(ck);
}

MM_TEST(checkpoint_errors_stay_on_one_line_for_hostile_names) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw("{\"a\\nb\":{\"dtype\":\"X\\r\",\"shape\":[],"
                       "\"data_offsets\":[0,4]}}",
                       4, &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'a\\x0ab': unknown dtype 'X\\x0d'");
    CHECK_ERR(load_raw("{\"a\\nb\":1,\"a\\nb\":2}", 0, &ck), MM_EPARSE,
              "bad.safetensors:1:11: safetensors header: duplicate key "
              "'a\\nb' (first at line 1, column 2)");
    CHECK_ERR(load_raw("{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[]}}", 0,
                       &ck),
              MM_EPARSE,
              "bad.safetensors: tensor 'a\\x0ab': missing 'data_offsets'");
    char json[700];
    snprintf(json, sizeof json, "{\"%0300d\":1}", 7);
    mm_error_clear();
    CHECK(load_raw(json, 0, &ck) == MM_EPARSE);
    CHECK_HAS(mm_error_message(), "...': expected an object");
    CHECK(strlen(mm_error_message()) < 250);
}

MM_TEST(checkpoint_duplicate_names_are_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw(F32_2 ",\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[8,16]}}",
                       16, &ck),
              MM_EPARSE,
              "bad.safetensors:1:55: safetensors header: duplicate key 'a' "
              "(first at line 1, column 2)");
}

MM_TEST(checkpoint_trailing_bytes_are_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(load_raw(F32_2 "}", 12, &ck), MM_EPARSE,
              "bad.safetensors: 4 trailing bytes after the last tensor (the "
              "data ends at byte 70, the file has 74)");
}

MM_TEST(checkpoint_missing_file_is_refused) {
    mm_checkpoint *ck = NULL;
    CHECK_ERR(mm_checkpoint_load("/nonexistent/x.safetensors", &ck), MM_ENOENT,
              "/nonexistent/x.safetensors: cannot open: No such file or "
              "directory");
    CHECK_ERR(mm_checkpoint_load("/", &ck), MM_EIO,
              "/: cannot read: is a directory");
}

/* Every proper prefix of a valid file is refused with one line naming the
 * file; only the whole file loads. */
MM_TEST(checkpoint_truncated_at_every_byte_is_refused) {
    const char *dir = make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    mm_checkpoint *ck = sample_checkpoint();
    void *buf = NULL;
    size_t len = 0;
    CHECK_OK(mm_checkpoint_save_buffer(ck, &buf, &len));
    mm_checkpoint_free(ck);
    int refused = 0;
    for (size_t n = 0; n <= len; n++) {
        mm_checkpoint *back = NULL;
        /* Through a real file for a sample of lengths, memory for all. */
        int rc;
        if (n % 97 == 0 || n == len) {
            write_bytes(path, buf, n);
            rc = mm_checkpoint_load(path, &back);
        } else {
            /* An exact-size copy: ASan sees any read past the end. */
            void *copy = malloc(n ? n : 1);
            memcpy(copy, buf, n);
            rc = mm_checkpoint_load_buffer(copy, n, path, &back);
            free(copy);
        }
        if (n == len) {
            CHECK_OK(rc);
        } else {
            refused += rc < 0;
            const char *msg = mm_error_message();
            if (rc >= 0 || back || strncmp(msg, path, strlen(path)) != 0 ||
                strchr(msg, '\n')) {
                fprintf(stderr, "length %zu: rc %d: %s\n", n, rc, msg);
                mm_test_failures++;
            }
        }
        mm_checkpoint_free(back);
    }
    CHECK_INT(refused, len);
    free(buf);
    rm_dir(dir);
}

/* ---- atomic writes ------------------------------------------------------ */

MM_TEST(checkpoint_save_into_a_missing_directory_fails_cleanly) {
    const char *dir = make_dir();
    char path[512], want[700];
    snprintf(path, sizeof path, "%s/no/such/x.safetensors", dir);
    mm_checkpoint *ck = sample_checkpoint();
    snprintf(want, sizeof want,
             "%s: cannot create a temporary file beside it: No such file or "
             "directory",
             path);
    CHECK_ERR(mm_checkpoint_save(ck, path), MM_EIO, want);
    CHECK_INT(count_files(dir), 0);
    mm_checkpoint_free(ck);
    rm_dir(dir);
}

/* A write that fails halfway (the file size limit stands in for a full
 * disk) leaves the old checkpoint and no temporary file. */
MM_TEST(checkpoint_failed_write_keeps_the_old_file) {
    const char *dir = make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/keep.safetensors", dir);
    mm_checkpoint *small, *big;
    CHECK_OK(mm_checkpoint_new(&small));
    CHECK_OK(mm_checkpoint_new(&big));
    mm_tensor *a = filled(MM_F32, MM_SHAPE(4), 1);
    mm_tensor *b = filled(MM_F32, MM_SHAPE(64, 1024), 1); /* 256 KiB */
    CHECK_OK(mm_checkpoint_add(small, "a", a));
    CHECK_OK(mm_checkpoint_add(big, "b", b));
    CHECK_OK(mm_checkpoint_save(small, path));
    size_t before_len = 0, after_len = 0;
    uint8_t *before = read_bytes(path, &before_len);

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 << 10;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    mm_error_clear();
    int rc = mm_checkpoint_save(big, path);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK_INT(rc, MM_EIO);
    CHECK_HAS(mm_error_message(), "keep.safetensors: cannot write: File too "
                                  "large");

    uint8_t *after = read_bytes(path, &after_len);
    CHECK(before && after && before_len == after_len &&
          memcmp(before, after, before_len) == 0);
    CHECK_INT(count_files(dir), 1);
    mm_checkpoint *back = NULL;
    CHECK_OK(mm_checkpoint_load(path, &back));
    CHECK(back && same_tensor(mm_checkpoint_get(back, "a"), a));
    /* A read-only directory (meaningless for root, who may write anyway). */
    if (geteuid() != 0) {
        CHECK(chmod(dir, 0555) == 0);
        CHECK(mm_checkpoint_save(big, path) == MM_EIO);
        CHECK_HAS(mm_error_message(), "cannot create a temporary file");
        chmod(dir, 0755);
        CHECK_INT(count_files(dir), 1);
    }
    free(before);
    free(after);
    mm_tensor_release(a);
    mm_tensor_release(b);
    mm_checkpoint_free(small);
    mm_checkpoint_free(big);
    mm_checkpoint_free(back);
    rm_dir(dir);
}

MM_TEST(checkpoint_save_replaces_an_existing_file) {
    const char *dir = make_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/r.safetensors", dir);
    write_bytes(path, "old", 3);
    mm_checkpoint *ck = sample_checkpoint(), *back = NULL;
    CHECK_OK(mm_checkpoint_save(ck, path));
    CHECK_OK(mm_checkpoint_load(path, &back));
    CHECK_INT(mm_checkpoint_count(back), mm_checkpoint_count(ck));
    CHECK_INT(count_files(dir), 1);
    mm_checkpoint_free(ck);
    mm_checkpoint_free(back);
    rm_dir(dir);
}

/* ---- describe ----------------------------------------------------------- */

MM_TEST(checkpoint_describe_groups_tensors_and_summarises_meta) {
    mm_module *a = new_model();
    mm_checkpoint *ck, *back = NULL;
    CHECK_OK(mm_checkpoint_new(&ck));
    CHECK_OK(mm_checkpoint_add_module(ck, "state_dict.", a));
    CHECK_OK(mm_checkpoint_add_module(ck, "ema_state_dict.", a));
    mm_value *meta = sample_meta();
    CHECK_OK(mm_checkpoint_set_meta(ck, "meta", meta));
    CHECK_OK(mm_checkpoint_set_meta(ck, "message_hub", meta));
    void *buf;
    size_t len;
    CHECK_OK(mm_checkpoint_save_buffer(ck, &buf, &len));
    CHECK_OK(mm_checkpoint_load_buffer(buf, len, "e.safetensors", &back));
    char *text = NULL, *verbose = NULL;
    CHECK_OK(mm_checkpoint_describe(back, false, &text));
    CHECK_OK(mm_checkpoint_describe(back, true, &verbose));
    char want[256];
    snprintf(want, sizeof want, "file: e.safetensors\nsize: %zu bytes", len);
    CHECK_HAS(text, want);
    CHECK_HAS(text, "tensors: 18 (");
    CHECK_HAS(text, "meta: epoch: 3\n");
    CHECK_HAS(text, "      iter: 1875\n");
    CHECK_HAS(text, "      mm_version: 0.1.0\n");
    CHECK_HAS(text, "      seed: 42\n");
    CHECK_HAS(text, "      experiment_name: lenet\n");
    CHECK_HAS(text, "metadata keys: meta message_hub\n");
    CHECK_HAS(
        text,
        "  state_dict            9 tensors          404 bytes  F32 I64\n");
    CHECK_HAS(text, "  ema_state_dict        9 tensors  ");
    CHECK_HAS(text, "bytes  F32 I64\n");
    CHECK(!strstr(text, "0.weight"));
    CHECK_HAS(verbose, "  state_dict.0.weight                   F32  [8, 4]\n");
    CHECK_HAS(verbose, "  ema_state_dict.1.num_batches_tracked  I64  []\n");
    free(text);
    free(verbose);
    free(buf);
    mm_value_release(meta);
    mm_checkpoint_free(ck);
    mm_checkpoint_free(back);
    mm_module_free(a);
}

MM_TEST_MAIN(
    MM_CASE(checkpoint_every_dtype_round_trips_through_a_file),
    MM_CASE(checkpoint_buffer_and_file_hold_the_same_bytes),
    MM_CASE(checkpoint_loaded_inside_a_pool_outlives_it),
    MM_CASE(checkpoint_without_tensors_or_metadata_round_trips),
    MM_CASE(checkpoint_module_state_dict_round_trips_with_metadata),
    MM_CASE(checkpoint_load_module_reports_missing_and_unexpected_keys),
    MM_CASE(checkpoint_load_module_error_names_the_file),
    MM_CASE(checkpoint_add_refuses_duplicates_and_reserved_names),
    MM_CASE(checkpoint_metadata_refuses_tensors_and_replaces_keys),
    MM_CASE(checkpoint_reads_a_file_written_by_python_safetensors),
    MM_CASE(checkpoint_short_file_is_refused),
    MM_CASE(checkpoint_header_longer_than_the_file_is_refused),
    MM_CASE(checkpoint_absurd_header_length_is_refused),
    MM_CASE(checkpoint_invalid_json_header_is_refused),
    MM_CASE(checkpoint_entry_with_missing_or_wrong_keys_is_refused),
    MM_CASE(checkpoint_unknown_and_unsupported_dtypes_are_refused),
    MM_CASE(checkpoint_shape_overflow_is_refused),
    MM_CASE(checkpoint_empty_tensor_with_huge_dims_is_refused),
    MM_CASE(checkpoint_bad_offsets_are_refused),
    MM_CASE(checkpoint_bool_bytes_other_than_0_or_1_are_refused),
    MM_CASE(checkpoint_errors_stay_on_one_line_for_hostile_names),
    MM_CASE(checkpoint_duplicate_names_are_refused),
    MM_CASE(checkpoint_trailing_bytes_are_refused),
    MM_CASE(checkpoint_missing_file_is_refused),
    MM_CASE(checkpoint_truncated_at_every_byte_is_refused),
    MM_CASE(checkpoint_save_into_a_missing_directory_fails_cleanly),
    MM_CASE(checkpoint_failed_write_keeps_the_old_file),
    MM_CASE(checkpoint_save_replaces_an_existing_file),
    MM_CASE(checkpoint_describe_groups_tensors_and_summarises_meta))
