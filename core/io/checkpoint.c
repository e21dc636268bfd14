/* Checkpoints as safetensors files (see <mm/checkpoint.h>,
 * docs/checkpoints.md).
 *
 * Reading validates the whole header against the file size before a single
 * tensor is allocated, then reads each tensor's bytes straight into its own
 * storage (no copy of the whole file in memory). Writing streams the header
 * and each tensor's bytes to a temporary file beside the target, then fsync
 * and rename. Tensors keep the order they were added in; the format allows
 * any order as long as the data is tiled exactly. */
#include "mm/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_internal.h"
#include "strbuf.h"

/* The raw bytes are little-endian; so is every host we build for. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c assumes a little-endian host"
#endif

/* safetensors' own limit on the header (MAX_HEADER_SIZE in the Rust crate). */
#define ST_MAX_HEADER 100000000ull

/* The format's dtype names, indexed by mm_dtype. */
static const char *const st_dtype_names[MM_DTYPE_COUNT] = {
    [MM_F32] = "F32", [MM_F64] = "F64", [MM_F16] = "F16", [MM_BF16] = "BF16",
    [MM_I64] = "I64", [MM_I32] = "I32", [MM_U8] = "U8",   [MM_BOOL] = "BOOL",
};

/* Valid in the format, but with no mm dtype to hold them. */
static const char *const st_unsupported[] = {
    "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0",
    "F6_E2M3", "F6_E3M2", "F4", "C64", "E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
};

typedef struct ck_entry {
    char *name;
    mm_tensor *tensor; /* owned reference */
} ck_entry;

struct mm_checkpoint {
    size_t n, cap;
    ck_entry *entries;
    /* open addressing over entries (index + 1; 0 is empty), for get/add */
    size_t *slots, n_slots;
    mm_value *meta; /* dict: key -> parsed value */
    char *path;     /* the file it was loaded from or saved to, or NULL */
    uint64_t file_size;
};

/* ---- the checkpoint object ---------------------------------------------- */

int mm_checkpoint_new(mm_checkpoint **out) {
    *out = NULL;
    mm_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->meta = mm_value_new_dict())) {
        free(ck);
        return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
    }
    *out = ck;
    return MM_OK;
}

void mm_checkpoint_free(mm_checkpoint *ck) {
    if (!ck)
        return;
    for (size_t i = 0; i < ck->n; i++) {
        free(ck->entries[i].name);
        mm_tensor_release(ck->entries[i].tensor);
    }
    free(ck->entries);
    free(ck->slots);
    mm_value_release(ck->meta);
    free(ck->path);
    free(ck);
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot holding `name`, or the empty slot where it would go. */
static size_t find_slot(const mm_checkpoint *ck, const char *name) {
    size_t mask = ck->n_slots - 1, i = (size_t)hash_name(name) & mask;
    while (ck->slots[i] &&
           strcmp(ck->entries[ck->slots[i] - 1].name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

static int grow_index(mm_checkpoint *ck) {
    size_t n_slots = ck->n_slots ? ck->n_slots * 2 : 64;
    size_t *slots = calloc(n_slots, sizeof *slots);
    if (!slots)
        return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
    free(ck->slots);
    ck->slots = slots;
    ck->n_slots = n_slots;
    for (size_t k = 0; k < ck->n; k++)
        ck->slots[find_slot(ck, ck->entries[k].name)] = k + 1;
    return MM_OK;
}

int mm_checkpoint_add(mm_checkpoint *ck, const char *name, mm_tensor *t) {
    if (!ck || !name || !t)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_add: NULL argument");
    if (strcmp(name, "__metadata__") == 0)
        return mm_error_set(MM_EINVAL, "checkpoint: '__metadata__' is "
                                       "reserved for metadata, not a tensor "
                                       "name");
    /* The header is JSON: a name must be text. */
    if (!mm_utf8_valid(name, strlen(name)))
        return mm_error_set(MM_EINVAL, "checkpoint: tensor name is not valid "
                                       "UTF-8");
    if (mm_checkpoint_get(ck, name))
        return mm_error_set(MM_EEXIST, "checkpoint: tensor '%s' is already "
                                       "present",
                            name);
    if ((ck->n + 1) * 2 > ck->n_slots)
        MM_TRY(grow_index(ck));
    if (ck->n == ck->cap) {
        size_t cap = ck->cap ? ck->cap * 2 : 16;
        ck_entry *e = realloc(ck->entries, cap * sizeof *e);
        if (!e)
            return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
        ck->entries = e;
        ck->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
    ck->entries[ck->n] = (ck_entry){copy, mm_tensor_retain(t)};
    ck->slots[find_slot(ck, name)] = ++ck->n;
    return MM_OK;
}

int mm_checkpoint_add_module(mm_checkpoint *ck, const char *prefix,
                             mm_module *m) {
    if (!ck || !m)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_add_module: NULL "
                                       "argument");
    if (!prefix)
        prefix = "";
    mm_state_dict sd = {0};
    int rc = mm_module_state_dict(m, &sd);
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < sd.n && rc == 0; i++) {
        size_t len = plen + strlen(sd.items[i].name) + 1;
        char *name = malloc(len);
        if (!name) {
            rc = mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
            break;
        }
        snprintf(name, len, "%s%s", prefix, sd.items[i].name);
        rc = mm_checkpoint_add(ck, name, sd.items[i].tensor);
        free(name);
    }
    mm_state_dict_clear(&sd);
    return rc;
}

size_t mm_checkpoint_count(const mm_checkpoint *ck) { return ck ? ck->n : 0; }

int mm_checkpoint_at(const mm_checkpoint *ck, size_t i, const char **name,
                     mm_tensor **t) {
    if (!ck || i >= ck->n)
        return mm_error_set(MM_ERANGE, "checkpoint: entry %zu out of range "
                                       "(%zu entries)",
                            i, ck ? ck->n : 0);
    if (name)
        *name = ck->entries[i].name;
    if (t)
        *t = ck->entries[i].tensor;
    return MM_OK;
}

mm_tensor *mm_checkpoint_get(const mm_checkpoint *ck, const char *name) {
    if (!ck || !name || !ck->n_slots)
        return NULL;
    size_t k = ck->slots[find_slot(ck, name)];
    return k ? ck->entries[k - 1].tensor : NULL;
}

int mm_checkpoint_state_dict(const mm_checkpoint *ck, const char *prefix,
                             mm_state_dict *out) {
    if (!ck || !out)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_state_dict: NULL "
                                       "argument");
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < ck->n; i++)
        if (strncmp(ck->entries[i].name, prefix, plen) == 0)
            MM_TRY(mm_state_dict_add(out, ck->entries[i].name + plen,
                                     ck->entries[i].tensor));
    return MM_OK;
}

/* Pretrained's `prefix` as mmengine's _load_checkpoint_with_prefix reads
 * it: "backbone" means "backbone.". */
static int norm_prefix(const char *prefix, char *buf, size_t size,
                       size_t *len) {
    size_t plen = prefix ? strlen(prefix) : 0;
    if (plen + 2 > size)
        return mm_error_set(MM_EINVAL, "checkpoint: prefix too long");
    memcpy(buf, prefix ? prefix : "", plen);
    if (plen && buf[plen - 1] != '.')
        buf[plen++] = '.';
    buf[plen] = 0;
    *len = plen;
    return MM_OK;
}

static int no_prefix_error(const char *prefix) {
    return mm_error_set(MM_ENOENT,
                        "checkpoint: no weights under prefix '%s' (check "
                        "init_cfg.prefix against `mm checkpoint info -v`)",
                        prefix);
}

/* mmengine's _load_checkpoint_to_model: checkpoint['state_dict'] when the
 * file has one, else the whole file; a DataParallel "module." prefix is
 * dropped (its default revise_keys); then Pretrained's `prefix` filter. */
int mm_checkpoint_weights(const mm_checkpoint *ck, const char *prefix,
                          mm_state_dict *out) {
    if (!ck || !out)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_weights: NULL "
                                       "argument");
    static const char sd_prefix[] = "state_dict.";
    bool has_sd = false;
    for (size_t i = 0; i < ck->n && !has_sd; i++)
        has_sd = strncmp(ck->entries[i].name, sd_prefix,
                         sizeof sd_prefix - 1) == 0;
    const char *outer = has_sd ? sd_prefix : "";
    size_t olen = strlen(outer);
    char pbuf[256];
    size_t plen;
    MM_TRY(norm_prefix(prefix, pbuf, sizeof pbuf, &plen));
    for (size_t i = 0; i < ck->n; i++) {
        const char *name = ck->entries[i].name;
        if (strncmp(name, outer, olen) != 0)
            continue;
        name += olen;
        if (strncmp(name, "module.", 7) == 0)
            name += 7;
        if (strncmp(name, pbuf, plen) != 0)
            continue;
        MM_TRY(mm_state_dict_add(out, name + plen, ck->entries[i].tensor));
    }
    if (plen && out->n == 0)
        return no_prefix_error(pbuf);
    return MM_OK;
}

/* The map works on whole-model names ("backbone.layer1..."), so it runs
 * before the prefix picks a sub-module's part. */
int mm_checkpoint_weights_mapped(const mm_checkpoint *ck, const char *map,
                                 const char *prefix, mm_state_dict *out) {
    if (!map || !*map)
        return mm_checkpoint_weights(ck, prefix, out);
    if (!ck || !out)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_weights_mapped: NULL "
                                       "argument");
    char pbuf[256];
    size_t plen;
    MM_TRY(norm_prefix(prefix, pbuf, sizeof pbuf, &plen));
    mm_state_dict all = {0}, mapped = {0};
    int rc = mm_checkpoint_weights(ck, NULL, &all);
    if (rc == 0)
        rc = mm_key_map_apply(map, &all, &mapped);
    size_t found = 0;
    for (size_t i = 0; i < mapped.n && rc == 0; i++)
        if (strncmp(mapped.items[i].name, pbuf, plen) == 0) {
            rc = mm_state_dict_add(out, mapped.items[i].name + plen,
                                   mapped.items[i].tensor);
            found++;
        }
    if (rc == 0 && plen && !found)
        rc = no_prefix_error(pbuf);
    mm_state_dict_clear(&all);
    mm_state_dict_clear(&mapped);
    return rc;
}

/* ---- metadata ----------------------------------------------------------- */

static int check_no_tensor(const mm_value *v, const char *key) {
    if (mm_value_type_of(v) == MM_VALUE_TENSOR)
        return mm_error_set(MM_ETYPE, "checkpoint: metadata '%s' holds a "
                                      "tensor (add tensors with "
                                      "mm_checkpoint_add)",
                            key);
    if (mm_value_is_list(v) || mm_value_is_dict(v))
        for (size_t i = 0; i < mm_value_len(v); i++)
            MM_TRY(check_no_tensor(mm_value_is_list(v)
                                       ? mm_value_list_get(v, i)
                                       : mm_value_dict_value_at(v, i),
                                   key));
    return MM_OK;
}

int mm_checkpoint_set_meta(mm_checkpoint *ck, const char *key,
                           const mm_value *v) {
    if (!ck || !key || !v)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_set_meta: NULL "
                                       "argument");
    MM_TRY(check_no_tensor(v, key));
    /* What is saved is the JSON text, which must be UTF-8 to parse back. */
    char *text = NULL;
    MM_TRY(mm_json_dump(v, 0, &text));
    bool ok = mm_utf8_valid(key, strlen(key)) &&
              mm_utf8_valid(text, strlen(text));
    free(text);
    if (!ok)
        return mm_error_set(MM_EINVAL, "checkpoint: metadata key or value "
                                       "is not valid UTF-8");
    /* A copy: the caller may go on changing its value. */
    mm_value *copy = mm_value_copy(v);
    if (!copy)
        return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
    return mm_value_dict_set_take(ck->meta, key, copy);
}

const mm_value *mm_checkpoint_get_meta(const mm_checkpoint *ck,
                                       const char *key) {
    return ck && key ? mm_value_dict_get(ck->meta, key) : NULL;
}

const mm_value *mm_checkpoint_meta(const mm_checkpoint *ck) {
    return ck ? ck->meta : NULL;
}

/* ---- writing ------------------------------------------------------------ */

static size_t entry_nbytes(const mm_tensor *t) {
    return (size_t)t->numel * mm_dtype_size(t->dtype);
}

/* The JSON header, padded with spaces to a multiple of 8 bytes so that the
 * data starts aligned (as the Python package writes it). */
static int build_header(const mm_checkpoint *ck, char **out, size_t *len,
                        uint64_t *data_len) {
    mm_strbuf sb = {0};
    mm_strbuf_putc(&sb, '{');
    int rc = MM_OK;
    bool first = true;
    if (mm_value_len(ck->meta) > 0) {
        /* __metadata__ is string -> string: each value as one-line JSON. */
        mm_value *md = mm_value_new_dict();
        rc = md ? MM_OK : MM_ENOMEM;
        for (size_t i = 0; i < mm_value_len(ck->meta) && rc == 0; i++) {
            char *text = NULL;
            rc = mm_json_dump(mm_value_dict_value_at(ck->meta, i), 0, &text);
            if (rc == 0)
                rc = mm_value_dict_set_take(md,
                                            mm_value_dict_key_at(ck->meta, i),
                                            mm_value_new_string(text));
            free(text);
        }
        char *text = NULL;
        if (rc == 0)
            rc = mm_json_dump(md, 0, &text);
        mm_value_release(md);
        if (rc == 0) {
            mm_strbuf_puts(&sb, "\"__metadata__\":");
            mm_strbuf_puts(&sb, text);
            first = false;
        }
        free(text);
    }
    uint64_t at = 0;
    for (size_t i = 0; i < ck->n && rc == 0; i++) {
        const mm_tensor *t = ck->entries[i].tensor;
        /* The name as a JSON string: dump a string value. */
        mm_value *s = mm_value_new_string(ck->entries[i].name);
        char *name = NULL;
        rc = s ? mm_json_dump(s, 0, &name) : MM_ENOMEM;
        mm_value_release(s);
        if (rc < 0)
            break;
        if (!first)
            mm_strbuf_putc(&sb, ',');
        first = false;
        mm_strbuf_printf(&sb, "%s:{\"dtype\":\"%s\",\"shape\":[", name,
                         st_dtype_names[t->dtype]);
        free(name);
        for (int d = 0; d < t->ndim; d++)
            mm_strbuf_printf(&sb, "%s%" PRId64, d ? "," : "", t->shape[d]);
        uint64_t nb = entry_nbytes(t);
        mm_strbuf_printf(&sb, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                         at, at + nb);
        at += nb;
    }
    mm_strbuf_putc(&sb, '}');
    while (sb.len % 8)
        mm_strbuf_putc(&sb, ' ');
    if (rc == 0 && sb.failed)
        rc = MM_ENOMEM;
    if (rc < 0) {
        mm_strbuf_free(&sb);
        return rc == MM_ENOMEM
                   ? mm_error_set(MM_ENOMEM, "checkpoint: out of memory")
                   : rc;
    }
    *len = sb.len;
    *data_len = at;
    return mm_strbuf_finish(&sb, out);
}

/* Where the bytes go: a file descriptor or a memory buffer. */
typedef struct sink {
    int fd;
    uint8_t *buf;
    size_t at;
    const char *path; /* for messages */
} sink;

static int sink_write(sink *s, const void *data, size_t n) {
    if (s->buf) {
        memcpy(s->buf + s->at, data, n);
        s->at += n;
        return MM_OK;
    }
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return mm_error_set(MM_EIO, "%s: cannot write: %s", s->path,
                                strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return MM_OK;
}

static int write_all(const mm_checkpoint *ck, const char *header,
                     size_t header_len, sink *s) {
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    MM_TRY(sink_write(s, len8, 8));
    MM_TRY(sink_write(s, header, header_len));
    for (size_t i = 0; i < ck->n; i++) {
        const mm_tensor *t = ck->entries[i].tensor;
        size_t nb = entry_nbytes(t);
        if (nb == 0)
            continue;
        if (mm_tensor_is_contiguous(t) && t->device.type == MM_DEVICE_CPU) {
            /* The common case: straight from the tensor's memory. */
            MM_TRY(sink_write(s, mm_tensor_data(t), nb));
            continue;
        }
        void *tmp = malloc(nb);
        if (!tmp)
            return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
        int rc = mm_tensor_read(t, t->dtype, tmp, t->numel);
        if (rc == 0)
            rc = sink_write(s, tmp, nb);
        free(tmp);
        if (rc < 0)
            return mm_error_context(rc, NULL, "tensor '%s'",
                                    ck->entries[i].name);
    }
    return MM_OK;
}

int mm_checkpoint_set_origin(mm_checkpoint *ck, const char *path,
                             uint64_t size) {
    char *copy = strdup(path);
    if (!copy)
        return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
    free(ck->path);
    ck->path = copy;
    ck->file_size = size;
    return MM_OK;
}

int mm_checkpoint_save_buffer(const mm_checkpoint *ck, void **out,
                              size_t *len) {
    if (!ck || !out || !len)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_save_buffer: NULL "
                                       "argument");
    *out = NULL;
    *len = 0;
    char *header;
    size_t header_len;
    uint64_t data_len;
    MM_TRY(build_header(ck, &header, &header_len, &data_len));
    size_t total = 8 + header_len + (size_t)data_len;
    sink s = {.fd = -1, .buf = malloc(total), .path = "<buffer>"};
    int rc = s.buf ? write_all(ck, header, header_len, &s)
                   : mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
    free(header);
    if (rc < 0) {
        free(s.buf);
        return rc;
    }
    *out = s.buf;
    *len = total;
    return MM_OK;
}

int mm_checkpoint_save(const mm_checkpoint *ck, const char *path) {
    if (!ck || !path)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_save: NULL argument");
    char *header;
    size_t header_len;
    uint64_t data_len;
    MM_TRY(build_header(ck, &header, &header_len, &data_len));
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dir = strdup(path);
    int rc = MM_OK, fd = -1;
    if (!tmp || !dir) {
        rc = mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
        goto out;
    }
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = mm_error_set(MM_EIO, "%s: cannot create a temporary file beside "
                                  "it: %s",
                          path, strerror(errno));
        goto out;
    }
    sink s = {.fd = fd, .path = path};
    rc = write_all(ck, header, header_len, &s);
    if (rc == 0 && fchmod(fd, 0644) != 0)
        rc = mm_error_set(MM_EIO, "%s: cannot chmod: %s", path,
                          strerror(errno));
    if (rc == 0 && fsync(fd) != 0)
        rc = mm_error_set(MM_EIO, "%s: cannot sync: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = mm_error_set(MM_EIO, "%s: cannot close: %s", path,
                          strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = mm_error_set(MM_EIO, "%s: cannot rename the temporary file into "
                                  "place: %s",
                          path, strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        goto out;
    }
    /* Make the rename itself durable. */
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out:
    free(header);
    free(tmp);
    free(dir);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Where the bytes come from: a file descriptor or a memory buffer. */
int mm_io_src_read(const mm_io_src *s, uint64_t at, void *dst, size_t n) {
    if (at > s->size || n > s->size - at)
        return mm_error_set(MM_EPARSE,
                            "%s: truncated: bytes %" PRIu64 "..%" PRIu64
                            " lie past the end of the file (%" PRIu64
                            " bytes)",
                            s->path, at, at + (uint64_t)n, s->size);
    if (s->buf) {
        if (n)
            memcpy(dst, s->buf + at, n);
        return MM_OK;
    }
    char *p = dst;
    while (n > 0) {
        ssize_t r = pread(s->fd, p, n, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mm_error_set(MM_EIO, "%s: cannot read: %s", s->path,
                                strerror(errno));
        if (r == 0)
            return mm_error_set(MM_EIO, "%s: truncated while reading (the "
                                        "file shrank)",
                                s->path);
        p += r;
        n -= (size_t)r;
        at += (uint64_t)r;
    }
    return MM_OK;
}

int mm_io_src_open(const char *path, mm_io_src *out) {
    *out = (mm_io_src){.fd = -1, .path = path};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mm_error_set(errno == ENOENT ? MM_ENOENT : MM_EIO,
                            "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int st_rc = fstat(fd, &st), err = errno;
    if (st_rc != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mm_error_set(MM_EIO, "%s: cannot read: %s", path,
                            st_rc != 0            ? strerror(err)
                            : S_ISDIR(st.st_mode) ? "is a directory"
                                                  : "not a regular file");
    }
    out->fd = fd;
    out->size = (uint64_t)st.st_size;
    return MM_OK;
}

void mm_io_src_close(mm_io_src *s) {
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* One tensor of the header, checked. */
typedef struct st_info {
    const char *name;
    char label[128]; /* the name as error messages show it */
    mm_dtype dtype;
    int ndim;
    int64_t shape[MM_MAX_DIMS];
    uint64_t begin, end; /* relative to the data */
} st_info;

/* A name from the file as a message may show it: control characters
 * escaped (the message stays one line), long names cut. */
static void shown(const char *s, char *buf, size_t size) {
    size_t o = 0;
    for (; *s && o + 8 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (*s)
        o += (size_t)snprintf(buf + o, size - o, "...");
    buf[o] = '\0';
}

static bool get_u64(const mm_value *v, uint64_t *out) {
    if (!v || !mm_value_is_int(v) || mm_value_get_int(v) < 0)
        return false;
    *out = (uint64_t)mm_value_get_int(v);
    return true;
}

static int parse_dtype(const mm_io_src *s, const char *name, const char *dt,
                       mm_dtype *out) {
    for (int i = 0; i < MM_DTYPE_COUNT; i++)
        if (strcmp(dt, st_dtype_names[i]) == 0) {
            *out = (mm_dtype)i;
            return MM_OK;
        }
    char dts[48];
    shown(dt, dts, sizeof dts);
    for (size_t i = 0; i < sizeof st_unsupported / sizeof *st_unsupported; i++)
        if (strcmp(dt, st_unsupported[i]) == 0)
            return mm_error_set(MM_EUNSUPPORTED,
                                "%s: tensor '%s': unsupported dtype '%s' (mm "
                                "reads F64 F32 F16 BF16 I64 I32 U8 BOOL)",
                                s->path, name, dts);
    return mm_error_set(MM_EPARSE, "%s: tensor '%s': unknown dtype '%s'",
                        s->path, name, dts);
}

static int parse_info(const mm_io_src *s, const char *name, const mm_value *v,
                      uint64_t data_len, st_info *e) {
    const char *path = s->path;
    e->name = name;
    shown(name, e->label, sizeof e->label);
    if (!mm_value_is_dict(v))
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': expected an object "
                                       "with dtype, shape and data_offsets, "
                                       "got a %s",
                            path, e->label,
                            mm_value_type_name(mm_value_type_of(v)));
    const mm_value *dt = mm_value_dict_get(v, "dtype");
    const mm_value *shape = mm_value_dict_get(v, "shape");
    const mm_value *offs = mm_value_dict_get(v, "data_offsets");
    const char *missing = !dt      ? "dtype"
                          : !shape ? "shape"
                          : !offs  ? "data_offsets"
                                   : NULL;
    if (missing)
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': missing '%s'", path,
                            e->label, missing);
    if (!mm_value_is_string(dt))
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': dtype is not a "
                                       "string",
                            path, e->label);
    MM_TRY(parse_dtype(s, e->label, mm_value_get_string(dt), &e->dtype));
    if (!mm_value_is_list(shape))
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': shape is not a list",
                            path, e->label);
    if (mm_value_len(shape) > MM_MAX_DIMS)
        return mm_error_set(MM_EUNSUPPORTED, "%s: tensor '%s': %zu "
                                             "dimensions (mm tensors have at "
                                             "most %d)",
                            path, e->label, mm_value_len(shape), MM_MAX_DIMS);
    e->ndim = (int)mm_value_len(shape);
    /* numel * itemsize must fit (and fit the file, checked below); so
     * must the product of the non-zero dims, which the strides of an empty
     * tensor still multiply out. */
    uint64_t nbytes = mm_dtype_size(e->dtype), span = nbytes;
    bool overflow = false;
    for (int d = 0; d < e->ndim; d++) {
        uint64_t n;
        if (!get_u64(mm_value_list_get(shape, (size_t)d), &n))
            return mm_error_set(MM_EPARSE, "%s: tensor '%s': shape[%d] is not "
                                           "a non-negative integer",
                                path, e->label, d);
        e->shape[d] = (int64_t)n;
        if (n && span > (uint64_t)INT64_MAX / n)
            overflow = true;
        else if (n)
            span *= n;
        nbytes = n ? nbytes * n : 0; /* no overflow: nbytes <= span */
    }
    if (overflow)
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': shape has too many "
                                       "elements",
                            path, e->label);
    if (!mm_value_is_list(offs) || mm_value_len(offs) != 2 ||
        !get_u64(mm_value_list_get(offs, 0), &e->begin) ||
        !get_u64(mm_value_list_get(offs, 1), &e->end))
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': data_offsets is not "
                                       "a list of two non-negative integers",
                            path, e->label);
    if (e->begin > e->end)
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': data_offsets [%" PRIu64
                                       ", %" PRIu64 "] end before they begin",
                            path, e->label, e->begin, e->end);
    if (e->end > data_len)
        return mm_error_set(MM_EPARSE,
                            "%s: truncated: tensor '%s' ends at "
                            "byte %" PRIu64 ", the file has %" PRIu64,
                            path, e->label, s->size - data_len + e->end,
                            s->size);
    if (e->end - e->begin != nbytes) {
        char sh[160];
        mm_shape_format(e->ndim, e->shape, sh, sizeof sh);
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': data_offsets [%" PRIu64
                                       ", %" PRIu64 "] hold %" PRIu64
                                       " bytes, %s %s needs %" PRIu64,
                            path, e->label, e->begin, e->end, e->end - e->begin,
                            st_dtype_names[e->dtype], sh, nbytes);
    }
    return MM_OK;
}

static int cmp_info(const void *a, const void *b) {
    const st_info *x = *(const st_info *const *)a;
    const st_info *y = *(const st_info *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors must tile the data: sorted by offset, each starts where the
 * one before ends, and the last ends at the end of the file. */
static int check_tiling(const mm_io_src *s, st_info *infos, size_t n,
                        uint64_t data_len) {
    st_info **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
    for (size_t i = 0; i < n; i++)
        sorted[i] = &infos[i];
    qsort(sorted, n, sizeof *sorted, cmp_info);
    uint64_t at = 0;
    int rc = MM_OK;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const st_info *e = sorted[i];
        if (e->begin < at)
            rc = mm_error_set(MM_EPARSE, "%s: tensor '%s' (data bytes %" PRIu64
                                         "..%" PRIu64 ") overlaps tensor '%s' "
                                         "(..%" PRIu64 ")",
                              s->path, e->label, e->begin, e->end,
                              sorted[i - 1]->label, at);
        else if (e->begin > at)
            rc = mm_error_set(MM_EPARSE, "%s: tensor '%s' starts at data byte "
                                         "%" PRIu64 ", leaving a hole after "
                                         "byte %" PRIu64,
                              s->path, e->label, e->begin, at);
        at = e->end;
    }
    if (rc == 0 && at != data_len)
        rc = mm_error_set(MM_EPARSE,
                          "%s: %" PRIu64 " trailing bytes after the "
                          "last tensor (the data ends at byte %" PRIu64
                          ", the file has %" PRIu64 ")",
                          s->path, data_len - at, s->size - data_len + at,
                          s->size);
    free(sorted);
    return rc;
}

/* __metadata__: string -> string; each value parsed as JSON when it is
 * JSON, kept as a string otherwise (another writer's "format": "pt"). */
static int read_metadata(const mm_io_src *s, const mm_value *md,
                         mm_checkpoint *ck) {
    if (!mm_value_is_dict(md))
        return mm_error_set(MM_EPARSE, "%s: __metadata__ is not an object",
                            s->path);
    for (size_t i = 0; i < mm_value_len(md); i++) {
        const char *key = mm_value_dict_key_at(md, i);
        const mm_value *v = mm_value_dict_value_at(md, i);
        if (!mm_value_is_string(v)) {
            char k[128];
            shown(key, k, sizeof k);
            return mm_error_set(MM_EPARSE, "%s: __metadata__ value '%s' is "
                                           "not a string",
                                s->path, k);
        }
        mm_value *parsed = NULL;
        if (mm_json_parse(mm_value_get_string(v), mm_value_string_len(v),
                          "<metadata>", &parsed) < 0) {
            mm_error_clear();
            parsed = mm_value_copy(v);
            if (!parsed)
                return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
        }
        MM_TRY(mm_value_dict_set_take(ck->meta, key, parsed));
    }
    return MM_OK;
}

static int read_tensors(const mm_io_src *s, const st_info *infos, size_t n,
                        uint64_t data_start, mm_checkpoint *ck) {
    /* A pool of our own: whether or not the caller has one open (a runner
     * iteration), new tensors belong to it, and the checkpoint keeps the
     * only reference once it closes. */
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    int rc = MM_OK;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const st_info *e = &infos[i];
        mm_tensor *t;
        rc = mm_empty(e->ndim, e->shape, e->dtype, &t);
        if (rc < 0)
            break;
        /* Into the tensor's own (aligned) storage: no staging copy. */
        if (e->end > e->begin)
            rc = mm_io_src_read(s, data_start + e->begin, mm_tensor_data(t),
                             (size_t)(e->end - e->begin));
        /* A bool byte other than 0 or 1 is no value of C's bool. */
        if (rc == 0 && e->dtype == MM_BOOL) {
            const uint8_t *b = mm_tensor_data(t);
            for (int64_t j = 0; j < t->numel && rc == 0; j++)
                if (b[j] > 1)
                    rc = mm_error_set(MM_EPARSE, "%s: tensor '%s': BOOL "
                                                 "element %" PRId64 " is %u, "
                                                 "not 0 or 1",
                                      s->path, e->label, j, (unsigned)b[j]);
        }
        if (rc == 0)
            rc = mm_checkpoint_add(ck, e->name, t);
    }
    mm_pool_close(pool);
    return rc;
}

static int load_from(const mm_io_src *s, mm_checkpoint **out) {
    *out = NULL;
    const char *path = s->path;
    if (s->size < 8)
        return mm_error_set(MM_EPARSE, "%s: truncated: %" PRIu64 " bytes, a "
                                       "safetensors file starts with an "
                                       "8-byte header length",
                            path, s->size);
    uint8_t len8[8];
    MM_TRY(mm_io_src_read(s, 0, len8, 8));
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    if (hlen > ST_MAX_HEADER)
        return mm_error_set(MM_EPARSE, "%s: header length %" PRIu64 " is "
                                       "larger than the %llu bytes allowed "
                                       "(not a safetensors file?)",
                            path, hlen, ST_MAX_HEADER);
    if (hlen > s->size - 8)
        return mm_error_set(MM_EPARSE,
                            "%s: truncated: the header length is "
                            "%" PRIu64 " bytes, the file has %" PRIu64
                            " after it",
                            path, hlen, s->size - 8);
    char *text = malloc(hlen ? (size_t)hlen : 1);
    if (!text)
        return mm_error_set(MM_ENOMEM, "%s: out of memory for the header",
                            path);
    int rc = mm_io_src_read(s, 8, text, (size_t)hlen);
    mm_value *h = NULL;
    if (rc == 0 && hlen == 0)
        rc = mm_error_set(MM_EPARSE, "%s: the header is not a JSON object",
                          path);
    if (rc == 0 && mm_json_parse(text, (size_t)hlen, path, &h) < 0)
        rc = mm_error_context(mm_error_code(), NULL, "safetensors header");
    free(text);
    if (rc == 0 && !mm_value_is_dict(h))
        rc = mm_error_set(MM_EPARSE, "%s: the header is not a JSON object",
                          path);
    size_t n_entries = mm_value_len(h);
    st_info *infos = NULL;
    mm_checkpoint *ck = NULL;
    size_t n = 0;
    uint64_t data_len = s->size - 8 - hlen;
    if (rc == 0) {
        infos = calloc(n_entries ? n_entries : 1, sizeof *infos);
        rc = infos ? mm_checkpoint_new(&ck)
                   : mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
    }
    for (size_t i = 0; i < n_entries && rc == 0; i++) {
        const char *key = mm_value_dict_key_at(h, i);
        const mm_value *v = mm_value_dict_value_at(h, i);
        if (strcmp(key, "__metadata__") == 0)
            rc = read_metadata(s, v, ck);
        else
            rc = parse_info(s, key, v, data_len, &infos[n++]);
    }
    if (rc == 0)
        rc = check_tiling(s, infos, n, data_len);
    if (rc == 0)
        rc = read_tensors(s, infos, n, 8 + hlen, ck);
    if (rc == 0)
        rc = mm_checkpoint_set_origin(ck, path, s->size);
    free(infos);
    mm_value_release(h);
    if (rc < 0) {
        mm_checkpoint_free(ck);
        return rc;
    }
    *out = ck;
    return MM_OK;
}

int mm_checkpoint_load_buffer(const void *data, size_t len, const char *name,
                              mm_checkpoint **out) {
    if (!out || (!data && len))
        return mm_error_set(MM_EINVAL, "mm_checkpoint_load_buffer: NULL "
                                       "argument");
    *out = NULL;
    static const uint8_t empty[1];
    mm_io_src s = {.fd = -1, .buf = data ? data : empty, .size = len,
                   .path = name ? name : "<buffer>"};
    if (mm_pth_sniff(data, len))
        return mm_pth_load_src(&s, out);
    return load_from(&s, out);
}

int mm_checkpoint_load(const char *path, mm_checkpoint **out) {
    if (!path || !out)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_load: NULL argument");
    *out = NULL;
    mm_io_src s;
    MM_TRY(mm_io_src_open(path, &s));
    /* torch.save's zip (or a legacy torch file): the .pth reader. */
    uint8_t head[16];
    size_t hn = s.size < sizeof head ? (size_t)s.size : sizeof head;
    int rc = mm_io_src_read(&s, 0, head, hn);
    if (rc == 0)
        rc = mm_pth_sniff(head, hn) ? mm_pth_load_src(&s, out)
                                    : load_from(&s, out);
    mm_io_src_close(&s);
    return rc;
}

/* ---- loading into a module ---------------------------------------------- */

int mm_checkpoint_load_module(const mm_checkpoint *ck, const char *prefix,
                              mm_module *m, bool strict,
                              mm_load_report *report) {
    if (!ck || !m)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_load_module: NULL "
                                       "argument");
    mm_state_dict sd = {0};
    int rc = mm_checkpoint_state_dict(ck, prefix, &sd);
    if (rc == 0)
        rc = mm_module_load_state_dict(m, &sd, strict, report);
    mm_state_dict_clear(&sd);
    if (rc < 0 && ck->path)
        return mm_error_context(rc, NULL, "%s", ck->path);
    return rc;
}

/* ---- describe ----------------------------------------------------------- */

typedef struct group {
    char name[64];
    size_t count;
    uint64_t bytes;
    bool dtypes[MM_DTYPE_COUNT];
} group;

static void put_size(mm_strbuf *sb, uint64_t bytes) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        mm_strbuf_printf(sb, "%" PRIu64 " B", bytes);
        return;
    }
    double v = (double)bytes;
    int u = -1;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    mm_strbuf_printf(sb, "%.1f %s", v, units[u]);
}

static void put_meta_summary(mm_strbuf *sb, const mm_checkpoint *ck) {
    const mm_value *meta = mm_checkpoint_get_meta(ck, "meta");
    static const char *const keys[] = {"epoch", "iter", "mm_version", "seed",
                                       "experiment_name"};
    bool any = false;
    if (meta && mm_value_is_dict(meta))
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            const mm_value *v = mm_value_dict_get(meta, keys[i]);
            if (!v)
                continue;
            char *text = NULL;
            if (mm_value_is_string(v))
                text = strdup(mm_value_get_string(v));
            else if (mm_json_dump(v, 0, &text) < 0)
                mm_error_clear();
            mm_strbuf_printf(sb, "%s %s: %s\n", any ? "     " : "meta:",
                             keys[i], text ? text : "?");
            free(text);
            any = true;
        }
    if (!any)
        mm_strbuf_puts(sb, "meta: none\n");
    mm_strbuf_puts(sb, "metadata keys:");
    for (size_t i = 0; i < mm_value_len(ck->meta); i++)
        mm_strbuf_printf(sb, " %s", mm_value_dict_key_at(ck->meta, i));
    if (mm_value_len(ck->meta) == 0)
        mm_strbuf_puts(sb, " none");
    mm_strbuf_putc(sb, '\n');
}

int mm_checkpoint_describe(const mm_checkpoint *ck, bool verbose, char **out) {
    if (!ck || !out)
        return mm_error_set(MM_EINVAL, "mm_checkpoint_describe: NULL "
                                       "argument");
    *out = NULL;
    mm_strbuf sb = {0};
    group *groups = NULL;
    size_t n_groups = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < ck->n; i++) {
        const char *name = ck->entries[i].name;
        const mm_tensor *t = ck->entries[i].tensor;
        /* The group is the name's first component ("state_dict"). */
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        if (len >= sizeof groups->name)
            len = sizeof groups->name - 1;
        size_t g = 0;
        while (g < n_groups && (strlen(groups[g].name) != len ||
                                strncmp(groups[g].name, name, len) != 0))
            g++;
        if (g == n_groups) {
            group *ng = realloc(groups, (n_groups + 1) * sizeof *ng);
            if (!ng) {
                free(groups);
                mm_strbuf_free(&sb);
                return mm_error_set(MM_ENOMEM, "checkpoint: out of memory");
            }
            groups = ng;
            memset(&groups[g], 0, sizeof *groups);
            memcpy(groups[g].name, name, len);
            n_groups++;
        }
        groups[g].count++;
        groups[g].bytes += entry_nbytes(t);
        groups[g].dtypes[t->dtype] = true;
        total += entry_nbytes(t);
    }
    if (ck->path) {
        mm_strbuf_printf(&sb, "file: %s\nsize: %" PRIu64 " bytes", ck->path,
                         ck->file_size);
        if (ck->file_size >= 1024) {
            mm_strbuf_puts(&sb, " (");
            put_size(&sb, ck->file_size);
            mm_strbuf_putc(&sb, ')');
        }
        mm_strbuf_putc(&sb, '\n');
    }
    mm_strbuf_printf(&sb, "tensors: %zu (%" PRIu64 " bytes of data)\n", ck->n,
                     total);
    put_meta_summary(&sb, ck);
    if (n_groups)
        mm_strbuf_puts(&sb, "groups:\n");
    size_t name_w = 16;
    for (size_t g = 0; g < n_groups; g++)
        if (strlen(groups[g].name) > name_w)
            name_w = strlen(groups[g].name);
    for (size_t g = 0; g < n_groups; g++) {
        mm_strbuf_printf(&sb, "  %-*s %6zu tensor%s %12" PRIu64 " bytes  ",
                         (int)name_w, groups[g].name, groups[g].count,
                         groups[g].count == 1 ? " " : "s", groups[g].bytes);
        bool first = true;
        for (int d = 0; d < MM_DTYPE_COUNT; d++)
            if (groups[g].dtypes[d]) {
                mm_strbuf_printf(&sb, "%s%s", first ? "" : " ",
                                 st_dtype_names[d]);
                first = false;
            }
        mm_strbuf_putc(&sb, '\n');
    }
    free(groups);
    if (verbose && ck->n) {
        mm_strbuf_puts(&sb, "tensors:\n");
        size_t w = 0;
        for (size_t i = 0; i < ck->n; i++)
            if (strlen(ck->entries[i].name) > w)
                w = strlen(ck->entries[i].name);
        if (w > 60)
            w = 60; /* a very long name shifts its own line only */
        for (size_t i = 0; i < ck->n; i++) {
            const mm_tensor *t = ck->entries[i].tensor;
            char sh[160];
            mm_shape_format(t->ndim, t->shape, sh, sizeof sh);
            mm_strbuf_printf(&sb, "  %-*s  %-4s %s\n", (int)w,
                             ck->entries[i].name, st_dtype_names[t->dtype], sh);
        }
    }
    return mm_strbuf_finish(&sb, out);
}
