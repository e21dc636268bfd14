/* safetensors reading and writing for the parity driver (see st.h). */
#include "st.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* safetensors' dtype names, indexed by mm_dtype. */
static const char *const st_dtype_names[MM_DTYPE_COUNT] = {
    [MM_F32] = "F32", [MM_F64] = "F64", [MM_F16] = "F16", [MM_BF16] = "BF16",
    [MM_I64] = "I64", [MM_I32] = "I32", [MM_U8] = "U8",   [MM_BOOL] = "BOOL",
};

/* A header larger than this is refused (safetensors' own limit). */
#define ST_MAX_HEADER (100u << 20)

static int bad(const char *fmt, const char *what) {
    return mm_error_set(MM_EPARSE, fmt, what);
}

static bool get_u64(const mm_value *v, uint64_t *out) {
    if (!v || !mm_value_is_int(v) || mm_value_get_int(v) < 0)
        return false;
    *out = (uint64_t)mm_value_get_int(v);
    return true;
}

static int parse_entry(const char *name, const mm_value *v, const uint8_t *data,
                       size_t data_len, st_entry *e) {
    if (!mm_value_is_dict(v))
        return bad("safetensors: entry '%s' is not an object", name);
    e->name = name;
    const mm_value *dt = mm_value_dict_get(v, "dtype");
    const mm_value *shape = mm_value_dict_get(v, "shape");
    const mm_value *offs = mm_value_dict_get(v, "data_offsets");
    if (!dt || !mm_value_is_string(dt))
        return bad("safetensors: entry '%s' has no dtype string", name);
    int k = -1;
    for (int i = 0; i < MM_DTYPE_COUNT; i++)
        if (strcmp(mm_value_get_string(dt), st_dtype_names[i]) == 0)
            k = i;
    if (k < 0)
        return bad("safetensors: entry '%s' has an unsupported dtype", name);
    e->dtype = (mm_dtype)k;
    if (!shape || !mm_value_is_list(shape) ||
        mm_value_len(shape) > MM_MAX_DIMS)
        return bad("safetensors: entry '%s' has no valid shape (a list of at "
                   "most 8 sizes)",
                   name);
    e->ndim = (int)mm_value_len(shape);
    uint64_t numel = 1;
    bool overflow = false;
    for (int d = 0; d < e->ndim; d++) {
        uint64_t s;
        if (!get_u64(mm_value_list_get(shape, (size_t)d), &s) ||
            s > (uint64_t)INT64_MAX)
            return bad("safetensors: entry '%s' has a bad size in its shape",
                       name);
        e->shape[d] = (int64_t)s;
        if (s && numel > UINT64_MAX / s)
            overflow = true;
        numel *= s;
    }
    uint64_t b, end;
    if (!offs || !mm_value_is_list(offs) || mm_value_len(offs) != 2 ||
        !get_u64(mm_value_list_get(offs, 0), &b) ||
        !get_u64(mm_value_list_get(offs, 1), &end) || b > end ||
        end > data_len)
        return bad("safetensors: entry '%s' has data_offsets outside the data",
                   name);
    size_t es = mm_dtype_size(e->dtype);
    if (overflow || numel > UINT64_MAX / es || numel * es != end - b)
        return bad("safetensors: entry '%s': data_offsets do not match its "
                   "dtype and shape",
                   name);
    e->data = data + b;
    e->nbytes = (size_t)(end - b);
    return 0;
}

static int cmp_entry(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a;
    const st_entry *y = *(const st_entry *const *)b;
    if (x->data != y->data)
        return x->data < y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

int st_parse(const uint8_t *buf, size_t len, st_file *f) {
    memset(f, 0, sizeof *f);
    if (len < 8)
        return bad("safetensors: %s", "truncated (no header length)");
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > ST_MAX_HEADER || hlen > len - 8)
        return bad("safetensors: %s",
                   "header length exceeds the file (truncated?)");
    const char *text = (const char *)buf + 8;
    if (hlen < 2 || text[0] != '{')
        return bad("safetensors: %s", "header is not a JSON object");
    int rc = mm_json_parse(text, (size_t)hlen, "<safetensors header>",
                           &f->header);
    if (rc < 0)
        return rc;
    if (!mm_value_is_dict(f->header)) {
        st_file_free(f);
        return bad("safetensors: %s", "header is not a JSON object");
    }
    const uint8_t *data = buf + 8 + hlen;
    size_t data_len = len - 8 - (size_t)hlen;
    size_t n = mm_value_len(f->header);
    f->entries = calloc(n ? n : 1, sizeof *f->entries);
    st_entry **sorted = calloc(n ? n : 1, sizeof *sorted);
    if (!f->entries || !sorted) {
        free(sorted);
        st_file_free(f);
        return mm_error_set(MM_ENOMEM, "safetensors: out of memory");
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *key = mm_value_dict_key_at(f->header, i);
        const mm_value *v = mm_value_dict_value_at(f->header, i);
        if (strcmp(key, "__metadata__") == 0) {
            if (!mm_value_is_dict(v)) {
                rc = bad("safetensors: %s", "__metadata__ is not an object");
                break;
            }
            for (size_t j = 0; j < mm_value_len(v); j++)
                if (!mm_value_is_string(mm_value_dict_value_at(v, j)))
                    rc = bad("safetensors: __metadata__ value '%s' is not a "
                             "string",
                             mm_value_dict_key_at(v, j));
            f->metadata = (mm_value *)v;
            continue;
        }
        rc = parse_entry(key, v, data, data_len, &f->entries[f->n]);
        if (rc == 0) {
            sorted[f->n] = &f->entries[f->n];
            f->n++;
        }
    }
    /* The entries must tile the data: no overlap, no hole, nothing after. */
    if (rc == 0) {
        qsort(sorted, f->n, sizeof *sorted, cmp_entry);
        size_t at = 0;
        for (size_t i = 0; i < f->n && rc == 0; i++) {
            if ((size_t)(sorted[i]->data - data) != at)
                rc = bad("safetensors: entry '%s' overlaps another or leaves "
                         "a hole in the data",
                         sorted[i]->name);
            at += sorted[i]->nbytes;
        }
        if (rc == 0 && at != data_len)
            rc = bad("safetensors: %s",
                     "the data is longer than its tensors");
    }
    free(sorted);
    if (rc < 0)
        st_file_free(f);
    return rc;
}

void st_file_free(st_file *f) {
    mm_value_release(f->header);
    free(f->entries);
    memset(f, 0, sizeof *f);
}

const st_entry *st_find(const st_file *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->entries[i].name, name) == 0)
            return &f->entries[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key) {
    if (!f->metadata)
        return NULL;
    const mm_value *v = mm_value_dict_get(f->metadata, key);
    return v && mm_value_is_string(v) ? mm_value_get_string(v) : NULL;
}

int st_to_tensor(const st_entry *e, mm_tensor **out) {
    /* The data may be unaligned in the buffer: copy it into a new tensor. */
    mm_tensor *t;
    MM_TRY(mm_empty(e->ndim, e->shape, e->dtype, &t));
    if (e->nbytes)
        memcpy(mm_tensor_data(t), e->data, e->nbytes);
    *out = t;
    return 0;
}

int st_write(size_t n, const char *const *names, mm_tensor *const *tensors,
             const mm_value *metadata, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    mm_value *h = mm_value_new_dict();
    if (!h)
        return mm_error_set(MM_ENOMEM, "safetensors: out of memory");
    int rc = 0;
    if (metadata)
        rc = mm_value_dict_set(h, "__metadata__", (mm_value *)metadata);
    size_t total = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const mm_tensor *t = tensors[i];
        size_t nb = (size_t)t->numel * mm_dtype_size(t->dtype);
        mm_value *e = mm_value_new_dict(), *shape = mm_value_new_list(),
                 *offs = mm_value_new_list();
        rc = e && shape && offs ? 0 : MM_ENOMEM;
        for (int d = 0; d < t->ndim && rc == 0; d++)
            rc = mm_value_list_append_take(shape, mm_value_new_int(t->shape[d]));
        if (rc == 0)
            rc = mm_value_list_append_take(offs, mm_value_new_int((int64_t)total));
        if (rc == 0)
            rc = mm_value_list_append_take(
                offs, mm_value_new_int((int64_t)(total + nb)));
        if (rc == 0)
            rc = mm_value_dict_set_take(
                e, "dtype", mm_value_new_string(st_dtype_names[t->dtype]));
        if (rc == 0) {
            rc = mm_value_dict_set_take(e, "shape", shape);
            shape = NULL;
        }
        if (rc == 0) {
            rc = mm_value_dict_set_take(e, "data_offsets", offs);
            offs = NULL;
        }
        if (rc == 0) {
            rc = mm_value_dict_set_take(h, names[i], e);
            e = NULL;
        }
        mm_value_release(e);
        mm_value_release(shape);
        mm_value_release(offs);
        total += nb;
    }
    char *json = NULL;
    if (rc == 0)
        rc = mm_json_dump(h, 0, &json);
    mm_value_release(h);
    if (rc < 0)
        return rc;
    /* Pad the header with spaces so the data starts 8-byte aligned. */
    size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
    uint8_t *buf = malloc(8 + hl + total);
    if (!buf) {
        free(json);
        return mm_error_set(MM_ENOMEM, "safetensors: out of memory");
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, json, jl);
    memset(buf + 8 + jl, ' ', hl - jl);
    free(json);
    uint8_t *p = buf + 8 + hl;
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* Offsets in the file need not be aligned for the dtype: read into
         * an aligned buffer, then copy the bytes. */
        const mm_tensor *t = tensors[i];
        size_t nb = (size_t)t->numel * mm_dtype_size(t->dtype);
        void *tmp = malloc(nb ? nb : 1);
        rc = tmp ? mm_tensor_read(t, t->dtype, tmp, t->numel)
                 : mm_error_set(MM_ENOMEM, "safetensors: out of memory");
        if (rc == 0)
            memcpy(p, tmp, nb);
        free(tmp);
        p += nb;
    }
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = 8 + hl + total;
    return 0;
}
