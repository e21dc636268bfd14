/* PyTorch checkpoints: what torch.save writes (torch >= 1.6), read without
 * Python (see <mm/checkpoint.h>, docs/checkpoints.md).
 *
 * The file is a zip of stored (uncompressed) entries: `<archive>/data.pkl`,
 * a pickle of the saved object in which every tensor's storage is a
 * persistent id naming `<archive>/data/<key>`, the raw bytes; plus
 * `<archive>/version` and, since torch 2.1, `<archive>/byteorder`. torch
 * writes local headers with data descriptors and always adds zip64 end
 * records, so the central directory is the only source of sizes here.
 *
 * The pickle is read by a restricted unpickler that executes nothing: it
 * builds a small object graph of its own (numbers, strings, lists, dicts,
 * tensors described by storage/offset/shape/stride) and knows a short list
 * of globals as data constructors (OrderedDict, _rebuild_tensor_v2, the
 * storage classes, and the plain-data pieces of an mmengine checkpoint's
 * meta and message hub). Any other global is refused by name. Every length
 * and offset is checked against the file, and the object graph is walked
 * with depth and work limits, so a hostile file (cycles, shared subgraphs,
 * forged sizes) is one error line. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io_internal.h"
#include "mm/checkpoint.h"
#include "strbuf.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pth.c assumes a little-endian host"
#endif

/* ---- the bytes ------------------------------------------------------------ */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* A string from the file as a message shows it: control characters and
 * bytes above 0x7e escaped (one line, plain ASCII), long ones cut. */
static void shown(const char *s, size_t len, char *buf, size_t size) {
    size_t o = 0, i = 0;
    for (; i < len && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (i < len)
        o += (size_t)snprintf(buf + o, size - o, "...");
    buf[o] = '\0';
}

static int oom(void) { return mm_error_set(MM_ENOMEM, "pth: out of memory"); }

/* ---- the zip container ---------------------------------------------------- */

#define ZIP_LOCAL 0x04034b50u
#define ZIP_CENTRAL 0x02014b50u
#define ZIP_END 0x06054b50u
#define ZIP64_END 0x06064b50u
#define ZIP64_LOCATOR 0x07064b50u

typedef struct zip_entry {
    char *name;
    uint64_t data_off, size; /* stored: compressed size == size */
    uint32_t crc;
    uint16_t method;
    bool crc_checked;
} zip_entry;

typedef struct pth_file {
    mm_io_src src;
    zip_entry *entries; /* sorted by name */
    size_t n;
    char *archive; /* "<archive>/" */
    bool big_endian;
} pth_file;

static void zip_free(pth_file *f) {
    for (size_t i = 0; i < f->n; i++)
        free(f->entries[i].name);
    free(f->entries);
    free(f->archive);
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const zip_entry *)a)->name, ((const zip_entry *)b)->name);
}

static zip_entry *zip_find(pth_file *f, const char *name) {
    zip_entry key = {.name = (char *)name};
    return bsearch(&key, f->entries, f->n, sizeof key, cmp_entry);
}

/* The end of central directory record (and the zip64 one torch always
 * adds): where the central directory is and how many entries it has. */
static int zip_find_directory(const mm_io_src *s, uint64_t *n_entries,
                              uint64_t *cd_off, uint64_t *cd_size) {
    const char *path = s->path;
    if (s->size < 22)
        return mm_error_set(MM_EPARSE, "%s: truncated: %" PRIu64 " bytes, "
                                       "too short for a zip file",
                            path, s->size);
    size_t tail = s->size < 22 + 65535 ? (size_t)s->size : 22 + 65535;
    uint8_t *buf = malloc(tail);
    if (!buf)
        return oom();
    int rc = mm_io_src_read(s, s->size - tail, buf, tail);
    size_t at = tail;
    for (size_t i = tail - 22 + 1; rc == 0 && i-- > 0;)
        if (rd32(buf + i) == ZIP_END && i + 22 + rd16(buf + i + 20) == tail) {
            at = i;
            break;
        }
    if (rc == 0 && at == tail)
        rc = mm_error_set(MM_EPARSE, "%s: truncated or not a zip file: no end "
                                     "of central directory record",
                          path);
    uint64_t end = s->size - tail + at, limit = end;
    if (rc == 0) {
        const uint8_t *p = buf + at;
        *n_entries = rd16(p + 10);
        *cd_size = rd32(p + 12);
        *cd_off = rd32(p + 16);
        if ((rd16(p + 4) != 0 && rd16(p + 4) != 0xffff) ||
            rd16(p + 8) != rd16(p + 10))
            rc = mm_error_set(MM_EUNSUPPORTED, "%s: a multi-disk zip file",
                              path);
    }
    free(buf);
    if (rc)
        return rc;
    uint8_t loc[20], z64[56];
    bool has_loc = false;
    if (end >= 20) {
        MM_TRY(mm_io_src_read(s, end - 20, loc, 20));
        has_loc = rd32(loc) == ZIP64_LOCATOR;
    }
    if (has_loc) {
        uint64_t z = rd64(loc + 8);
        if (z > end - 20 || end - 20 - z < 56)
            return mm_error_set(MM_EPARSE, "%s: corrupt zip: the zip64 end "
                                           "record offset %" PRIu64
                                           " is out of range",
                                path, z);
        MM_TRY(mm_io_src_read(s, z, z64, 56));
        if (rd32(z64) != ZIP64_END)
            return mm_error_set(MM_EPARSE, "%s: corrupt zip: no zip64 end "
                                           "record at byte %" PRIu64,
                                path, z);
        *n_entries = rd64(z64 + 32);
        *cd_size = rd64(z64 + 40);
        *cd_off = rd64(z64 + 48);
        limit = z;
    } else if (*n_entries == 0xffff || *cd_size == 0xffffffffu ||
               *cd_off == 0xffffffffu) {
        return mm_error_set(MM_EPARSE, "%s: corrupt zip: zip64 sizes without "
                                       "a zip64 end record",
                            path);
    }
    if (*cd_off > limit || *cd_size > limit - *cd_off)
        return mm_error_set(MM_EPARSE,
                            "%s: truncated or corrupt zip: the central "
                            "directory (bytes %" PRIu64 "..+%" PRIu64
                            ") runs past its end record at byte %" PRIu64,
                            path, *cd_off, *cd_size, limit);
    if (*n_entries > *cd_size / 46)
        return mm_error_set(MM_EPARSE, "%s: corrupt zip: %" PRIu64 " entries "
                                       "cannot fit a %" PRIu64
                                       "-byte central directory",
                            path, *n_entries, *cd_size);
    return MM_OK;
}

/* One central directory entry at cd[*pos], checked against its local
 * header. */
static int zip_parse_entry(const mm_io_src *s, const uint8_t *cd,
                           uint64_t cd_size, uint64_t *pos, zip_entry *e) {
    const char *path = s->path;
    uint64_t at = *pos;
    if (cd_size - at < 46 || rd32(cd + at) != ZIP_CENTRAL)
        return mm_error_set(MM_EPARSE, "%s: corrupt zip: bad central "
                                       "directory entry at byte %" PRIu64
                                       " of it",
                            path, at);
    const uint8_t *p = cd + at;
    uint16_t flags = rd16(p + 8), method = rd16(p + 10);
    uint64_t csize = rd32(p + 20), usize = rd32(p + 24);
    size_t nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32);
    uint64_t local = rd32(p + 42);
    if (cd_size - at - 46 < (uint64_t)nlen + xlen + clen)
        return mm_error_set(MM_EPARSE, "%s: corrupt zip: central directory "
                                       "entry at byte %" PRIu64
                                       " runs past the directory",
                            path, at);
    const uint8_t *name = p + 46, *x = name + nlen;
    char label[160];
    shown((const char *)name, nlen, label, sizeof label);
    if (nlen == 0 || memchr(name, 0, nlen))
        return mm_error_set(MM_EPARSE, "%s: corrupt zip: entry name '%s' is "
                                       "empty or holds a NUL",
                            path, label);
    /* zip64 extra field: the 64-bit values of the fields set to ~0, in
     * this order. */
    for (size_t i = 0; i + 4 <= xlen;) {
        size_t id = rd16(x + i), sz = rd16(x + i + 2);
        if (i + 4 + sz > xlen)
            return mm_error_set(MM_EPARSE, "%s: corrupt zip: entry '%s': "
                                           "extra field runs past its end",
                                path, label);
        if (id == 1) {
            size_t q = i + 4, qe = i + 4 + sz;
            uint64_t *fields[] = {&usize, &csize, &local};
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != 0xffffffffu)
                    continue;
                if (qe - q < 8)
                    return mm_error_set(MM_EPARSE, "%s: corrupt zip: entry "
                                                   "'%s': short zip64 extra "
                                                   "field",
                                        path, label);
                *fields[k] = rd64(x + q);
                q += 8;
            }
        }
        i += 4 + sz;
    }
    if (flags & 1)
        return mm_error_set(MM_EUNSUPPORTED, "%s: zip entry '%s' is "
                                             "encrypted",
                            path, label);
    /* A compressed entry is refused when read (a TorchScript archive,
     * refused for what it is, has some). */
    if (method == 0 && csize != usize)
        return mm_error_set(MM_EPARSE, "%s: corrupt zip: stored entry '%s' "
                                       "has sizes %" PRIu64 " and %" PRIu64,
                            path, label, csize, usize);
    uint8_t lh[30];
    if (local > s->size || s->size - local < 30)
        return mm_error_set(MM_EPARSE, "%s: truncated: entry '%s' starts at "
                                       "byte %" PRIu64 ", the file has %" PRIu64,
                            path, label, local, s->size);
    MM_TRY(mm_io_src_read(s, local, lh, 30));
    size_t lnlen = rd16(lh + 26), lxlen = rd16(lh + 28);
    if (rd32(lh) != ZIP_LOCAL || lnlen != nlen)
        return mm_error_set(MM_EPARSE, "%s: corrupt zip: no local header for "
                                       "entry '%s' at byte %" PRIu64,
                            path, label, local);
    uint64_t data = local + 30 + lnlen + lxlen;
    if (data > s->size || csize > s->size - data)
        return mm_error_set(MM_EPARSE,
                            "%s: truncated: entry '%s' ends at byte "
                            "%" PRIu64 ", the file has %" PRIu64,
                            path, label, data + csize, s->size);
    char *lname = malloc(lnlen ? lnlen : 1);
    if (!lname)
        return oom();
    int rc = mm_io_src_read(s, local + 30, lname, lnlen);
    if (rc == 0 && memcmp(lname, name, nlen) != 0)
        rc = mm_error_set(MM_EPARSE, "%s: corrupt zip: the local header of "
                                     "entry '%s' names another file",
                          path, label);
    free(lname);
    if (rc)
        return rc;
    if (!(e->name = malloc(nlen + 1)))
        return oom();
    memcpy(e->name, name, nlen);
    e->name[nlen] = '\0';
    e->data_off = data;
    e->size = usize;
    e->crc = rd32(p + 16);
    e->method = method;
    *pos = at + 46 + nlen + xlen + clen;
    return MM_OK;
}

static int zip_open(pth_file *f) {
    const mm_io_src *s = &f->src;
    uint64_t n = 0, cd_off = 0, cd_size = 0;
    MM_TRY(zip_find_directory(s, &n, &cd_off, &cd_size));
    uint8_t *cd = malloc(cd_size ? (size_t)cd_size : 1);
    f->entries = calloc(n ? (size_t)n : 1, sizeof *f->entries);
    if (!cd || !f->entries) {
        free(cd);
        return oom();
    }
    int rc = mm_io_src_read(s, cd_off, cd, (size_t)cd_size);
    uint64_t pos = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        rc = zip_parse_entry(s, cd, cd_size, &pos, &f->entries[i]);
        if (rc == 0)
            f->n++;
    }
    free(cd);
    if (rc)
        return rc;
    qsort(f->entries, f->n, sizeof *f->entries, cmp_entry);
    for (size_t i = 1; i < f->n; i++)
        if (strcmp(f->entries[i - 1].name, f->entries[i].name) == 0) {
            char label[160];
            shown(f->entries[i].name, strlen(f->entries[i].name), label,
                  sizeof label);
            return mm_error_set(MM_EPARSE, "%s: corrupt zip: entry '%s' "
                                           "appears twice",
                                s->path, label);
        }
    return MM_OK;
}

static int entry_stored(const pth_file *f, const zip_entry *e) {
    if (e->method == 0)
        return MM_OK;
    char label[160];
    shown(e->name, strlen(e->name), label, sizeof label);
    return mm_error_set(MM_EUNSUPPORTED, "%s: zip entry '%s' is compressed "
                                         "(method %u); torch.save writes "
                                         "stored entries",
                        f->src.path, label, (unsigned)e->method);
}

static int entry_check_crc(pth_file *f, zip_entry *e, const void *data) {
    uLong crc = crc32_z(0L, Z_NULL, 0);
    int rc = MM_OK;
    if (data) {
        crc = crc32_z(crc, data, (size_t)e->size);
    } else {
        size_t chunk = 1u << 20;
        uint8_t *buf = malloc(chunk);
        if (!buf)
            return oom();
        for (uint64_t at = 0; at < e->size && rc == 0; at += chunk) {
            size_t n = e->size - at < chunk ? (size_t)(e->size - at) : chunk;
            rc = mm_io_src_read(&f->src, e->data_off + at, buf, n);
            if (rc == 0)
                crc = crc32_z(crc, buf, n);
        }
        free(buf);
    }
    if (rc == 0 && (uint32_t)crc != e->crc) {
        char label[160];
        shown(e->name, strlen(e->name), label, sizeof label);
        rc = mm_error_set(MM_EPARSE, "%s: zip entry '%s' is corrupt (CRC-32 "
                                     "%08x, the directory says %08x)",
                          f->src.path, label, (unsigned)crc, (unsigned)e->crc);
    }
    e->crc_checked = rc == 0;
    return rc;
}

/* A small entry read whole (data.pkl, byteorder), CRC checked; NUL
 * terminated. */
static int entry_read_all(pth_file *f, zip_entry *e, char **out) {
    MM_TRY(entry_stored(f, e));
    char *buf = malloc((size_t)e->size + 1);
    if (!buf)
        return oom();
    int rc = mm_io_src_read(&f->src, e->data_off, buf, (size_t)e->size);
    if (rc == 0)
        rc = entry_check_crc(f, e, buf);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[e->size] = '\0';
    *out = buf;
    return MM_OK;
}

/* The archive directory: the one `X/data.pkl` (X without '/'). */
static int zip_find_archive(pth_file *f) {
    const char *path = f->src.path;
    const char *found = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const char *name = f->entries[i].name, *slash = strchr(name, '/');
        if (!slash || strcmp(slash, "/data.pkl") != 0)
            continue;
        if (found)
            return mm_error_set(MM_EPARSE, "%s: several data.pkl in one file "
                                           "(not a torch.save file?)",
                                path);
        found = name;
    }
    if (!found)
        return mm_error_set(MM_EPARSE, "%s: a zip file without "
                                       "<archive>/data.pkl (not a torch.save "
                                       "file)",
                            path);
    size_t len = (size_t)(strchr(found, '/') - found) + 1;
    if (!(f->archive = malloc(len + 1)))
        return oom();
    memcpy(f->archive, found, len);
    f->archive[len] = '\0';
    for (size_t i = 0; i < f->n; i++)
        if (strncmp(f->entries[i].name, f->archive, len) == 0 &&
            (strcmp(f->entries[i].name + len, "constants.pkl") == 0 ||
             strncmp(f->entries[i].name + len, "code/", 5) == 0))
            return mm_error_set(MM_EUNSUPPORTED,
                                "%s: a TorchScript archive (torch.jit.save); "
                                "save the weights with "
                                "torch.save(model.state_dict(), f)",
                                path);
    return MM_OK;
}

static zip_entry *archive_entry(pth_file *f, const char *rel) {
    char name[512];
    if ((size_t)snprintf(name, sizeof name, "%s%s", f->archive, rel) >=
        sizeof name)
        return NULL;
    return zip_find(f, name);
}

static int read_byteorder(pth_file *f) {
    zip_entry *e = archive_entry(f, "byteorder");
    if (!e)
        return MM_OK; /* before torch 2.1: written on little-endian hosts */
    char *text;
    MM_TRY(entry_read_all(f, e, &text));
    int rc = MM_OK;
    if (e->size == 6 && memcmp(text, "little", 6) == 0)
        f->big_endian = false;
    else if (e->size == 3 && memcmp(text, "big", 3) == 0)
        f->big_endian = true;
    else {
        char t[64];
        shown(text, (size_t)e->size, t, sizeof t);
        rc = mm_error_set(MM_EPARSE, "%s: byteorder is '%s', not 'little' or "
                                     "'big'",
                          f->src.path, t);
    }
    free(text);
    return rc;
}

/* ---- the restricted unpickler ------------------------------------------- */

/* What a global becomes: only data constructors; nothing is ever called. */
typedef enum glob_kind {
    G_ORDERED_DICT,
    G_COUNTER,
    G_REBUILD_TENSOR_V2,
    G_REBUILD_TENSOR,
    G_REBUILD_PARAMETER,
    G_STORAGE,
    G_DEVICE,
    G_TORCH_DTYPE,
    G_SET,
    G_CODECS_ENCODE,
    G_NP_SCALAR,
    G_NP_DTYPE,
    G_NP_RECONSTRUCT,
    G_NP_NDARRAY,
    G_HISTORY_BUFFER,
    G_GETATTR,
} glob_kind;

/* torch's storage classes; dtype -1: a valid torch dtype mm has no
 * tensors of (refused when a tensor uses it). */
typedef struct storage_class {
    const char *cls, *torch_name;
    int dtype;
    size_t itemsize;
} storage_class;

static const storage_class storages[] = {
    {"FloatStorage", "torch.float32", MM_F32, 4},
    {"DoubleStorage", "torch.float64", MM_F64, 8},
    {"HalfStorage", "torch.float16", MM_F16, 2},
    {"BFloat16Storage", "torch.bfloat16", MM_BF16, 2},
    {"LongStorage", "torch.int64", MM_I64, 8},
    {"IntStorage", "torch.int32", MM_I32, 4},
    {"ByteStorage", "torch.uint8", MM_U8, 1},
    {"BoolStorage", "torch.bool", MM_BOOL, 1},
    {"ShortStorage", "torch.int16", -1, 2},
    {"CharStorage", "torch.int8", -1, 1},
    {"ComplexFloatStorage", "torch.complex64", -1, 8},
    {"ComplexDoubleStorage", "torch.complex128", -1, 16},
    {"QInt8Storage", "torch.qint8", -1, 1},
    {"QUInt8Storage", "torch.quint8", -1, 1},
    {"QInt32Storage", "torch.qint32", -1, 4},
};
#define N_STORAGES (sizeof storages / sizeof *storages)

static const char *const torch_dtypes[] = {
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16",
    "int8",    "uint8",   "bool",    "float",    "double", "half",  "long",
    "int",     "short",   "complex64", "complex128",
};

typedef struct glob_rule {
    const char *module, *name;
    glob_kind kind;
} glob_rule;

/* Python 2 spellings too: protocol 2 writes __builtin__ and copy_reg. */
static const glob_rule globals_allowed[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT},
    /* a param scheduler's milestones: Counter({3: 1}) */
    {"collections", "Counter", G_COUNTER},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2},
    {"torch._utils", "_rebuild_tensor", G_REBUILD_TENSOR},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER},
    {"torch", "device", G_DEVICE},
    {"__builtin__", "set", G_SET},
    {"builtins", "set", G_SET},
    {"__builtin__", "frozenset", G_SET},
    {"builtins", "frozenset", G_SET},
    {"_codecs", "encode", G_CODECS_ENCODE},
    {"numpy.core.multiarray", "scalar", G_NP_SCALAR},
    {"numpy._core.multiarray", "scalar", G_NP_SCALAR},
    {"numpy", "dtype", G_NP_DTYPE},
    {"numpy.core.multiarray", "_reconstruct", G_NP_RECONSTRUCT},
    {"numpy._core.multiarray", "_reconstruct", G_NP_RECONSTRUCT},
    {"numpy", "ndarray", G_NP_NDARRAY},
    {"mmengine.logging.history_buffer", "HistoryBuffer", G_HISTORY_BUFFER},
    /* only as getattr(HistoryBuffer, 'min'): checked at the call */
    {"__builtin__", "getattr", G_GETATTR},
    {"builtins", "getattr", G_GETATTR},
};

typedef enum py_kind {
    PY_NONE,
    PY_BOOL,
    PY_INT,
    PY_FLOAT,
    PY_STR,
    PY_BYTES,
    PY_TUPLE,
    PY_LIST,
    PY_DICT, /* items: key, value, key, value, ... */
    PY_GLOBAL,
    PY_STORAGE,
    PY_TENSOR,
    PY_NP_DTYPE,
    PY_NDARRAY,
    PY_RECORD, /* an instance of an allowed class: its state */
} py_kind;

typedef struct py_obj py_obj;
struct py_obj {
    py_kind kind;
    signed char has_tensor; /* walk cache: 0 unknown, 1 no, 2 yes, 3 busy */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            char *data;
            size_t len;
        } s;
        struct {
            py_obj **items;
            size_t n, cap;
        } seq;
        struct {
            glob_kind kind;
            int aux; /* storage class index; torch dtype index */
        } g;
        struct {
            const char *key;
            int cls; /* index into storages */
            uint64_t numel;
        } st;
        struct {
            py_obj *storage;
            int64_t offset;
            int ndim;
            int64_t shape[MM_MAX_DIMS], stride[MM_MAX_DIMS];
            mm_tensor *made; /* borrowed from the reader's pool */
        } t;
        struct {
            char kind; /* f i u b */
            int size;
            bool big;
        } dt;
        struct {
            py_obj *dtype, *data;
            int ndim;
            bool fortran;
            int64_t shape[MM_MAX_DIMS];
        } nd;
        struct {
            glob_kind cls;
            py_obj *state;
        } rec;
    } u;
};

typedef struct unpickler {
    const char *path;
    const uint8_t *p;
    size_t len, pos, op_at;
    py_obj **objs; /* every object, freed together (cycles are possible) */
    size_t n_objs, cap_objs;
    py_obj **stack;
    size_t sp, cap_stack;
    size_t *marks;
    size_t n_marks, cap_marks;
    py_obj **memo;
    size_t cap_memo, n_memo;
} unpickler;

static void unpickler_free(unpickler *u) {
    for (size_t i = 0; i < u->n_objs; i++) {
        py_obj *o = u->objs[i];
        if (o->kind == PY_STR || o->kind == PY_BYTES)
            free(o->u.s.data);
        else if (o->kind == PY_TUPLE || o->kind == PY_LIST ||
                 o->kind == PY_DICT)
            free(o->u.seq.items);
        free(o);
    }
    free(u->objs);
    free(u->stack);
    free(u->marks);
    free(u->memo);
}

static int perr(unpickler *u, int code, const char *fmt, ...) MM_PRINTF(3, 4);
static int perr(unpickler *u, int code, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mm_error_set(code, "%s: data.pkl byte %zu: %s", u->path, u->op_at,
                        msg);
}

static py_obj *new_obj(unpickler *u, py_kind kind) {
    if (u->n_objs == u->cap_objs) {
        size_t cap = u->cap_objs ? 2 * u->cap_objs : 256;
        py_obj **o = realloc(u->objs, cap * sizeof *o);
        if (!o)
            return NULL;
        u->objs = o;
        u->cap_objs = cap;
    }
    py_obj *o = calloc(1, sizeof *o);
    if (o) {
        o->kind = kind;
        u->objs[u->n_objs++] = o;
    }
    return o;
}

static int push(unpickler *u, py_obj *o) {
    if (!o)
        return oom();
    if (u->sp == u->cap_stack) {
        size_t cap = u->cap_stack ? 2 * u->cap_stack : 64;
        py_obj **s = realloc(u->stack, cap * sizeof *s);
        if (!s)
            return oom();
        u->stack = s;
        u->cap_stack = cap;
    }
    u->stack[u->sp++] = o;
    return MM_OK;
}

static size_t mark_base(unpickler *u) {
    return u->n_marks ? u->marks[u->n_marks - 1] : 0;
}

static int pop(unpickler *u, py_obj **out) {
    if (u->sp <= mark_base(u))
        return perr(u, MM_EPARSE, "stack underflow");
    *out = u->stack[--u->sp];
    return MM_OK;
}

static int top(unpickler *u, py_obj **out) {
    if (u->sp <= mark_base(u))
        return perr(u, MM_EPARSE, "stack underflow");
    *out = u->stack[u->sp - 1];
    return MM_OK;
}

/* The objects above the last mark: [*first, sp); the mark is dropped. */
static int pop_mark(unpickler *u, size_t *first) {
    if (!u->n_marks)
        return perr(u, MM_EPARSE, "no MARK on the stack");
    *first = u->marks[--u->n_marks];
    return MM_OK;
}

static int seq_append(py_obj *o, py_obj *item) {
    if (o->u.seq.n == o->u.seq.cap) {
        size_t cap = o->u.seq.cap ? 2 * o->u.seq.cap : 4;
        py_obj **it = realloc(o->u.seq.items, cap * sizeof *it);
        if (!it)
            return oom();
        o->u.seq.items = it;
        o->u.seq.cap = cap;
    }
    o->u.seq.items[o->u.seq.n++] = item;
    return MM_OK;
}

static int need(unpickler *u, size_t n) {
    if (u->len - u->pos < n)
        return perr(u, MM_EPARSE, "truncated pickle (%zu more bytes needed, "
                                  "%zu left)",
                    n, u->len - u->pos);
    return MM_OK;
}

/* UTF-8 as Python's str holds it: NUL is a character like any other. */
static bool text_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = s[i] ? mm_utf8_seq_len((const unsigned char *)s + i, n - i)
                        : 1;
        if (!k)
            return false;
        i += k;
    }
    return true;
}

static int new_string(unpickler *u, py_kind kind, size_t n, py_obj **out) {
    MM_TRY(need(u, n));
    const char *s = (const char *)u->p + u->pos;
    if (kind == PY_STR && !text_valid(s, n)) {
        /* Python 2 byte strings (SHORT_BINSTRING) that are not text. */
        if (u->p[u->op_at] == 'U' || u->p[u->op_at] == 'T')
            kind = PY_BYTES;
        else
            return perr(u, MM_EPARSE, "string is not valid UTF-8");
    }
    py_obj *o = new_obj(u, kind);
    if (!o || !(o->u.s.data = malloc(n + 1)))
        return oom();
    memcpy(o->u.s.data, s, n);
    o->u.s.data[n] = '\0';
    o->u.s.len = n;
    u->pos += n;
    *out = o;
    return MM_OK;
}

static int read_line(unpickler *u, char *buf, size_t size) {
    const uint8_t *nl = memchr(u->p + u->pos, '\n', u->len - u->pos);
    if (!nl)
        return perr(u, MM_EPARSE, "truncated pickle: GLOBAL without a "
                                  "newline");
    size_t n = (size_t)(nl - (u->p + u->pos));
    if (n >= size)
        return perr(u, MM_EPARSE, "GLOBAL name longer than %zu bytes",
                    size - 1);
    memcpy(buf, u->p + u->pos, n);
    buf[n] = '\0';
    u->pos += n + 1;
    return MM_OK;
}

static int find_global(unpickler *u, const char *module, const char *name,
                       py_obj **out) {
    py_obj *o = new_obj(u, PY_GLOBAL);
    if (!o)
        return oom();
    *out = o;
    for (size_t i = 0; i < sizeof globals_allowed / sizeof *globals_allowed;
         i++)
        if (!strcmp(module, globals_allowed[i].module) &&
            !strcmp(name, globals_allowed[i].name)) {
            o->u.g.kind = globals_allowed[i].kind;
            return MM_OK;
        }
    if (!strcmp(module, "torch")) {
        for (size_t i = 0; i < N_STORAGES; i++)
            if (!strcmp(name, storages[i].cls)) {
                o->u.g.kind = G_STORAGE;
                o->u.g.aux = (int)i;
                return MM_OK;
            }
        for (size_t i = 0; i < sizeof torch_dtypes / sizeof *torch_dtypes;
             i++)
            if (!strcmp(name, torch_dtypes[i])) {
                o->u.g.kind = G_TORCH_DTYPE;
                o->u.g.aux = (int)i;
                return MM_OK;
            }
    }
    char m[160], n[160];
    shown(module, strlen(module), m, sizeof m);
    shown(name, strlen(name), n, sizeof n);
    return mm_error_set(MM_EPARSE,
                        "%s: refused pickle global '%s.%s' (only state-dict "
                        "globals are allowed; this file may be malicious)",
                        u->path, m, n);
}

static bool is_int(const py_obj *o) { return o->kind == PY_INT; }
static bool is_seq(const py_obj *o) {
    return o->kind == PY_TUPLE || o->kind == PY_LIST;
}

static int int_tuple(unpickler *u, const py_obj *o, const char *what,
                     int *ndim, int64_t *vals) {
    if (!is_seq(o))
        return perr(u, MM_EPARSE, "tensor %s is not a tuple", what);
    if (o->u.seq.n > MM_MAX_DIMS)
        return perr(u, MM_EUNSUPPORTED, "a tensor with %zu dimensions (mm "
                                        "tensors have at most %d)",
                    o->u.seq.n, MM_MAX_DIMS);
    for (size_t i = 0; i < o->u.seq.n; i++) {
        const py_obj *v = o->u.seq.items[i];
        if (!is_int(v) || v->u.i < 0)
            return perr(u, MM_EPARSE, "tensor %s[%zu] is not a non-negative "
                                      "integer",
                        what, i);
        vals[i] = v->u.i;
    }
    *ndim = (int)o->u.seq.n;
    return MM_OK;
}

/* _rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...) */
static int rebuild_tensor(unpickler *u, const py_obj *args, py_obj **out) {
    if (args->u.seq.n < 4 || args->u.seq.items[0]->kind != PY_STORAGE ||
        !is_int(args->u.seq.items[1]) || args->u.seq.items[1]->u.i < 0)
        return perr(u, MM_EPARSE, "_rebuild_tensor needs (storage, offset, "
                                  "size, stride, ...)");
    py_obj *t = new_obj(u, PY_TENSOR);
    if (!t)
        return oom();
    int nstride = 0;
    t->u.t.storage = args->u.seq.items[0];
    t->u.t.offset = args->u.seq.items[1]->u.i;
    MM_TRY(int_tuple(u, args->u.seq.items[2], "size", &t->u.t.ndim,
                     t->u.t.shape));
    MM_TRY(int_tuple(u, args->u.seq.items[3], "stride", &nstride,
                     t->u.t.stride));
    if (nstride != t->u.t.ndim)
        return perr(u, MM_EPARSE, "tensor size has %d dimensions, stride %d",
                    t->u.t.ndim, nstride);
    *out = t;
    return MM_OK;
}

/* UTF-8 text whose code points are all < 256 -> those bytes (what
 * protocol 2 writes for a bytes object: _codecs.encode(s, 'latin1')). */
static int latin1_bytes(unpickler *u, const py_obj *s, py_obj **out) {
    py_obj *b = new_obj(u, PY_BYTES);
    if (!b || !(b->u.s.data = malloc(s->u.s.len + 1)))
        return oom();
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s->u.s.data;
    for (size_t i = 0; i < s->u.s.len;) {
        if (p[i] < 0x80) {
            b->u.s.data[n++] = (char)p[i++];
        } else if ((p[i] == 0xc2 || p[i] == 0xc3) && i + 1 < s->u.s.len) {
            b->u.s.data[n++] = (char)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3f));
            i += 2;
        } else {
            return perr(u, MM_EPARSE, "_codecs.encode: a character above "
                                      "U+00FF is not latin-1");
        }
    }
    b->u.s.data[n] = '\0';
    b->u.s.len = n;
    *out = b;
    return MM_OK;
}

static int np_dtype_parse(unpickler *u, const py_obj *s, py_obj **out) {
    if (s->kind != PY_STR || s->u.s.len < 2 || s->u.s.len > 3)
        return perr(u, MM_EUNSUPPORTED, "numpy dtype other than a plain "
                                        "number type");
    char k = s->u.s.data[0];
    int size = atoi(s->u.s.data + 1);
    bool ok = (k == 'f' && (size == 2 || size == 4 || size == 8)) ||
              ((k == 'i' || k == 'u') &&
               (size == 1 || size == 2 || size == 4 || size == 8)) ||
              (k == 'b' && size == 1);
    if (!ok) {
        char t[16];
        shown(s->u.s.data, s->u.s.len, t, sizeof t);
        return perr(u, MM_EUNSUPPORTED, "numpy dtype '%s' (mm reads numbers "
                                        "and bools in metadata)",
                    t);
    }
    py_obj *d = new_obj(u, PY_NP_DTYPE);
    if (!d)
        return oom();
    d->u.dt.kind = k;
    d->u.dt.size = size;
    *out = d;
    return MM_OK;
}

static double half_to_double(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0    ? ldexp(m, -24)
               : e == 31 ? (m ? NAN : INFINITY)
                         : ldexp(m | 0x400, e - 25);
    return h & 0x8000 ? -v : v;
}

/* One numpy element decoded: a float, an int or a bool. */
typedef struct np_scalar {
    py_kind kind; /* PY_FLOAT, PY_INT, PY_BOOL */
    double f;
    int64_t i;
} np_scalar;

static np_scalar np_decode(const py_obj *dt, const uint8_t *p) {
    uint8_t b[8];
    int n = dt->u.dt.size;
    for (int i = 0; i < n; i++)
        b[i] = dt->u.dt.big ? p[n - 1 - i] : p[i];
    np_scalar v = {PY_INT, 0, 0};
    if (dt->u.dt.kind == 'f') {
        v.kind = PY_FLOAT;
        if (n == 2) {
            v.f = half_to_double(rd16(b));
        } else if (n == 4) {
            float f;
            memcpy(&f, b, 4);
            v.f = f;
        } else {
            memcpy(&v.f, b, 8);
        }
    } else if (dt->u.dt.kind == 'b') {
        v.kind = PY_BOOL;
        v.i = b[0] != 0;
    } else {
        uint64_t x = 0;
        for (int i = n - 1; i >= 0; i--)
            x = x << 8 | b[i];
        if (dt->u.dt.kind == 'i' && n < 8 && (x >> (8 * n - 1)) & 1)
            x |= ~0ull << (8 * n); /* sign-extend */
        if (dt->u.dt.kind == 'u' && n == 8 && x > (uint64_t)INT64_MAX) {
            v.kind = PY_FLOAT;
            v.f = (double)x;
        } else {
            v.i = (int64_t)x;
        }
    }
    return v;
}

/* numpy.core.multiarray.scalar(dtype, bytes) as an object. */
static int np_element(unpickler *u, const py_obj *dt, const uint8_t *p,
                      py_obj **out) {
    np_scalar v = np_decode(dt, p);
    py_obj *o = new_obj(u, v.kind);
    if (!o)
        return oom();
    if (v.kind == PY_FLOAT)
        o->u.f = v.f;
    else if (v.kind == PY_BOOL)
        o->u.b = v.i != 0;
    else
        o->u.i = v.i;
    *out = o;
    return MM_OK;
}

/* REDUCE: callable(*args) for the allowed globals; everything is data. */
static int call_global(unpickler *u, const py_obj *fn, const py_obj *args,
                       py_obj **out) {
    size_t n = args->u.seq.n;
    py_obj *const *a = args->u.seq.items;
    py_obj *o = NULL;
    switch (fn->u.g.kind) {
    case G_ORDERED_DICT:
        if (!(o = new_obj(u, PY_DICT)))
            return oom();
        if (n == 1 && is_seq(a[0])) {
            for (size_t i = 0; i < a[0]->u.seq.n; i++) {
                const py_obj *kv = a[0]->u.seq.items[i];
                if (!is_seq(kv) || kv->u.seq.n != 2)
                    return perr(u, MM_EPARSE, "OrderedDict item %zu is not "
                                              "a pair",
                                i);
                MM_TRY(seq_append(o, kv->u.seq.items[0]));
                MM_TRY(seq_append(o, kv->u.seq.items[1]));
            }
        } else if (n != 0) {
            return perr(u, MM_EPARSE, "OrderedDict takes a list of pairs");
        }
        break;
    case G_COUNTER:
        if (!(o = new_obj(u, PY_DICT)))
            return oom();
        if (n == 1 && a[0]->kind == PY_DICT) {
            for (size_t i = 0; i < a[0]->u.seq.n; i++)
                MM_TRY(seq_append(o, a[0]->u.seq.items[i]));
        } else if (n != 0) {
            return perr(u, MM_EPARSE, "Counter takes a dict");
        }
        break;
    case G_REBUILD_TENSOR_V2:
    case G_REBUILD_TENSOR:
        MM_TRY(rebuild_tensor(u, args, &o));
        break;
    case G_REBUILD_PARAMETER: /* (data, requires_grad, backward_hooks) */
        if (n < 1 || a[0]->kind != PY_TENSOR)
            return perr(u, MM_EPARSE, "_rebuild_parameter needs a tensor");
        o = a[0];
        break;
    case G_DEVICE: {
        if (n < 1 || n > 2 || a[0]->kind != PY_STR ||
            (n == 2 && !is_int(a[1])) || a[0]->u.s.len > 32)
            return perr(u, MM_EPARSE, "torch.device takes (type[, index])");
        char buf[64];
        if (n == 2)
            snprintf(buf, sizeof buf, "%s:%" PRId64, a[0]->u.s.data, a[1]->u.i);
        else
            snprintf(buf, sizeof buf, "%s", a[0]->u.s.data);
        if (!(o = new_obj(u, PY_STR)) || !(o->u.s.data = strdup(buf)))
            return oom();
        o->u.s.len = strlen(buf);
        break;
    }
    case G_SET:
        if (!(o = new_obj(u, PY_LIST)))
            return oom();
        if (n == 1 && is_seq(a[0])) {
            for (size_t i = 0; i < a[0]->u.seq.n; i++)
                MM_TRY(seq_append(o, a[0]->u.seq.items[i]));
        } else if (n != 0) {
            return perr(u, MM_EPARSE, "set takes a list");
        }
        break;
    case G_CODECS_ENCODE: {
        const char *enc = n == 2 && a[1]->kind == PY_STR ? a[1]->u.s.data : "";
        if (n != 2 || a[0]->kind != PY_STR ||
            (strcmp(enc, "latin1") && strcmp(enc, "latin-1") &&
             strcmp(enc, "iso-8859-1")))
            return perr(u, MM_EPARSE, "_codecs.encode: only (str, 'latin1') "
                                      "is allowed");
        MM_TRY(latin1_bytes(u, a[0], &o));
        break;
    }
    case G_NP_DTYPE:
        if (n < 1)
            return perr(u, MM_EPARSE, "numpy.dtype needs a type string");
        MM_TRY(np_dtype_parse(u, a[0], &o));
        break;
    case G_NP_SCALAR:
        if (n != 2 || a[0]->kind != PY_NP_DTYPE || a[1]->kind != PY_BYTES ||
            a[1]->u.s.len != (size_t)a[0]->u.dt.size)
            return perr(u, MM_EPARSE, "numpy scalar: needs (dtype, bytes of "
                                      "its size)");
        MM_TRY(np_element(u, a[0], (const uint8_t *)a[1]->u.s.data, &o));
        break;
    case G_NP_RECONSTRUCT:
        if (n != 3 || a[0]->kind != PY_GLOBAL ||
            a[0]->u.g.kind != G_NP_NDARRAY)
            return perr(u, MM_EPARSE, "numpy _reconstruct: only ndarray");
        if (!(o = new_obj(u, PY_NDARRAY)))
            return oom();
        break;
    case G_GETATTR:
        /* HistoryBuffer's statistics_methods: getattr(HistoryBuffer,
         * 'mean'), kept as the text "HistoryBuffer.mean". */
        if (n != 2 || a[0]->kind != PY_GLOBAL ||
            a[0]->u.g.kind != G_HISTORY_BUFFER || a[1]->kind != PY_STR ||
            a[1]->u.s.len > 64) {
            return mm_error_set(MM_EPARSE,
                                "%s: refused pickle call getattr() on "
                                "anything but mmengine's HistoryBuffer (only "
                                "state-dict globals are allowed; this file "
                                "may be malicious)",
                                u->path);
        }
        if (!(o = new_obj(u, PY_STR)) ||
            !(o->u.s.data = malloc(a[1]->u.s.len + 16)))
            return oom();
        o->u.s.len = (size_t)sprintf(o->u.s.data, "HistoryBuffer.%s",
                                     a[1]->u.s.data);
        break;
    default:
        return perr(u, MM_EPARSE, "this global cannot be called");
    }
    *out = o;
    return MM_OK;
}

/* BUILD: set an object's state. */
static int build(unpickler *u, py_obj *obj, py_obj *state) {
    switch (obj->kind) {
    case PY_DICT:
        /* An OrderedDict's attributes (a state_dict's `_metadata`, the
         * versions of its modules): nothing mm needs. */
        return MM_OK;
    case PY_RECORD:
        obj->u.rec.state = state;
        return MM_OK;
    case PY_NP_DTYPE:
        /* (version, byteorder, subarray, names, fields, elsize, align,
         * flags) */
        if (is_seq(state) && state->u.seq.n >= 2 &&
            state->u.seq.items[1]->kind == PY_STR)
            obj->u.dt.big = !strcmp(state->u.seq.items[1]->u.s.data, ">");
        if (is_seq(state) && state->u.seq.n >= 5 &&
            (state->u.seq.items[2]->kind != PY_NONE ||
             state->u.seq.items[4]->kind != PY_NONE))
            return perr(u, MM_EUNSUPPORTED, "structured numpy dtypes are not "
                                            "read");
        return MM_OK;
    case PY_NDARRAY: {
        /* (version, shape, dtype, is_fortran, raw bytes) */
        py_obj *const *s = is_seq(state) ? state->u.seq.items : NULL;
        if (!s || state->u.seq.n != 5 || s[2]->kind != PY_NP_DTYPE ||
            s[3]->kind != PY_BOOL || s[4]->kind != PY_BYTES)
            return perr(u, MM_EUNSUPPORTED, "numpy array state other than "
                                            "(version, shape, dtype, "
                                            "fortran, bytes)");
        MM_TRY(int_tuple(u, s[1], "shape", &obj->u.nd.ndim, obj->u.nd.shape));
        uint64_t numel = 1;
        for (int d = 0; d < obj->u.nd.ndim; d++) {
            uint64_t k = (uint64_t)obj->u.nd.shape[d];
            if (k && numel > UINT64_MAX / 16 / k)
                return perr(u, MM_EPARSE, "numpy array too large");
            numel *= k;
        }
        if (numel * (uint64_t)s[2]->u.dt.size != s[4]->u.s.len)
            return perr(u, MM_EPARSE, "numpy array: %zu bytes of data, the "
                                      "shape needs %" PRIu64,
                        s[4]->u.s.len, numel * (uint64_t)s[2]->u.dt.size);
        obj->u.nd.dtype = s[2];
        obj->u.nd.fortran = s[3]->u.b;
        obj->u.nd.data = s[4];
        return MM_OK;
    }
    default:
        return perr(u, MM_EPARSE, "BUILD on an object that has no state");
    }
}

/* BINPERSID: ('storage', storage class, key, location, numel) */
static int persistent_load(unpickler *u, const py_obj *pid, py_obj **out) {
    py_obj *const *a = is_seq(pid) ? pid->u.seq.items : NULL;
    if (!a || pid->u.seq.n != 5 || a[0]->kind != PY_STR ||
        strcmp(a[0]->u.s.data, "storage") || a[1]->kind != PY_GLOBAL ||
        a[1]->u.g.kind != G_STORAGE || a[2]->kind != PY_STR ||
        !is_int(a[4]) || a[4]->u.i < 0)
        return perr(u, MM_EPARSE, "persistent id is not ('storage', class, "
                                  "key, location, numel)");
    /* The key names a zip entry: no path tricks. */
    const char *key = a[2]->u.s.data;
    if (!*key || a[2]->u.s.len > 64 || strchr(key, '/'))
        return perr(u, MM_EPARSE, "bad storage key");
    py_obj *o = new_obj(u, PY_STORAGE);
    if (!o)
        return oom();
    o->u.st.key = key;
    o->u.st.cls = a[1]->u.g.aux;
    o->u.st.numel = (uint64_t)a[4]->u.i;
    *out = o;
    return MM_OK;
}

static int memo_put(unpickler *u, size_t idx) {
    py_obj *o;
    MM_TRY(top(u, &o));
    if (idx >= u->len + 16 || idx >= (1u << 26))
        return perr(u, MM_EPARSE, "memo index %zu out of range", idx);
    if (idx >= u->cap_memo) {
        size_t cap = u->cap_memo ? u->cap_memo : 64;
        while (cap <= idx)
            cap *= 2;
        py_obj **m = realloc(u->memo, cap * sizeof *m);
        if (!m)
            return oom();
        memset(m + u->cap_memo, 0, (cap - u->cap_memo) * sizeof *m);
        u->memo = m;
        u->cap_memo = cap;
    }
    if (!u->memo[idx])
        u->n_memo++;
    u->memo[idx] = o;
    return MM_OK;
}

static int memo_get(unpickler *u, size_t idx) {
    if (idx >= u->cap_memo || !u->memo[idx])
        return perr(u, MM_EPARSE, "memo entry %zu was never stored", idx);
    return push(u, u->memo[idx]);
}

static int new_tuple_from(unpickler *u, size_t first, py_kind kind) {
    py_obj *o = new_obj(u, kind);
    if (!o)
        return oom();
    for (size_t i = first; i < u->sp; i++)
        MM_TRY(seq_append(o, u->stack[i]));
    u->sp = first;
    return push(u, o);
}

static int pop_n_tuple(unpickler *u, size_t n) {
    if (u->sp - mark_base(u) < n)
        return perr(u, MM_EPARSE, "stack underflow");
    return new_tuple_from(u, u->sp - n, PY_TUPLE);
}

static int refuse_opcode(unpickler *u, const char *name) {
    return mm_error_set(MM_EPARSE,
                        "%s: refused pickle opcode %s (it calls a class; "
                        "torch.save never writes it; this file may be "
                        "malicious)",
                        u->path, name);
}

static int unpickle(unpickler *u, py_obj **result) {
    while (u->pos < u->len) {
        u->op_at = u->pos;
        uint8_t op = u->p[u->pos++];
        py_obj *o = NULL, *a = NULL, *b = NULL;
        size_t first = 0, n;
        switch (op) {
        case 0x80: /* PROTO */
            MM_TRY(need(u, 1));
            if (u->p[u->pos] > 5)
                return perr(u, MM_EUNSUPPORTED, "pickle protocol %d",
                            u->p[u->pos]);
            u->pos++;
            break;
        case 0x95: /* FRAME */
            MM_TRY(need(u, 8));
            u->pos += 8;
            break;
        case '.': /* STOP */
            MM_TRY(pop(u, result));
            return MM_OK;
        case '(': /* MARK */
            if (u->n_marks == u->cap_marks) {
                size_t cap = u->cap_marks ? 2 * u->cap_marks : 16;
                size_t *m = realloc(u->marks, cap * sizeof *m);
                if (!m)
                    return oom();
                u->marks = m;
                u->cap_marks = cap;
            }
            u->marks[u->n_marks++] = u->sp;
            break;
        case '0': /* POP */
            MM_TRY(pop(u, &o));
            break;
        case '1': /* POP_MARK */
            MM_TRY(pop_mark(u, &first));
            u->sp = first;
            break;
        case '2': /* DUP */
            MM_TRY(top(u, &o));
            MM_TRY(push(u, o));
            break;
        case 'N':
            MM_TRY(push(u, new_obj(u, PY_NONE)));
            break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            if (!(o = new_obj(u, PY_BOOL)))
                return oom();
            o->u.b = op == 0x88;
            MM_TRY(push(u, o));
            break;
        case 'J': /* BININT */
        case 'K': /* BININT1 */
        case 'M': /* BININT2 */
            n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
            MM_TRY(need(u, n));
            if (!(o = new_obj(u, PY_INT)))
                return oom();
            o->u.i = op == 'J'   ? (int32_t)rd32(u->p + u->pos)
                     : op == 'K' ? u->p[u->pos]
                                 : rd16(u->p + u->pos);
            u->pos += n;
            MM_TRY(push(u, o));
            break;
        case 0x8a: /* LONG1 */
        case 0x8b: /* LONG4 */
            MM_TRY(need(u, op == 0x8a ? 1 : 4));
            n = op == 0x8a ? u->p[u->pos] : rd32(u->p + u->pos);
            u->pos += op == 0x8a ? 1 : 4;
            MM_TRY(need(u, n));
            if (!(o = new_obj(u, PY_INT)))
                return oom();
            if (n <= 8) {
                uint64_t v = 0;
                for (size_t i = n; i-- > 0;)
                    v = v << 8 | u->p[u->pos + i];
                if (n && n < 8 && (u->p[u->pos + n - 1] & 0x80))
                    v |= ~0ull << (8 * n);
                o->u.i = (int64_t)v;
            } else {
                /* Beyond int64: kept as the nearest double. */
                double v = 0;
                bool neg = u->p[u->pos + n - 1] & 0x80;
                for (size_t i = n; i-- > 0;)
                    v = v * 256 + (neg ? (uint8_t)~u->p[u->pos + i]
                                       : u->p[u->pos + i]);
                o->kind = PY_FLOAT;
                o->u.f = neg ? -(v + 1) : v;
            }
            u->pos += n;
            MM_TRY(push(u, o));
            break;
        case 'G': /* BINFLOAT, big-endian */
            MM_TRY(need(u, 8));
            if (!(o = new_obj(u, PY_FLOAT)))
                return oom();
            {
                uint64_t v = 0;
                for (int i = 0; i < 8; i++)
                    v = v << 8 | u->p[u->pos + i];
                memcpy(&o->u.f, &v, 8);
            }
            u->pos += 8;
            MM_TRY(push(u, o));
            break;
        case 'X':    /* BINUNICODE */
        case 0x8c:   /* SHORT_BINUNICODE */
        case 0x8d:   /* BINUNICODE8 */
        case 'U':    /* SHORT_BINSTRING */
        case 'T':    /* BINSTRING */
        case 'C':    /* SHORT_BINBYTES */
        case 'B':    /* BINBYTES */
        case 0x8e: { /* BINBYTES8 */
            size_t w = (op == 0x8c || op == 'U' || op == 'C')   ? 1
                       : (op == 0x8d || op == 0x8e)             ? 8
                                                                : 4;
            MM_TRY(need(u, w));
            uint64_t len = w == 1 ? u->p[u->pos]
                           : w == 4 ? rd32(u->p + u->pos)
                                    : rd64(u->p + u->pos);
            u->pos += w;
            if (len > u->len - u->pos)
                return perr(u, MM_EPARSE, "truncated pickle: a %" PRIu64
                                          "-byte string, %zu bytes left",
                            len, u->len - u->pos);
            MM_TRY(new_string(u,
                              (op == 'C' || op == 'B' || op == 0x8e) ? PY_BYTES
                                                                     : PY_STR,
                              (size_t)len, &o));
            MM_TRY(push(u, o));
            break;
        }
        case ')': /* EMPTY_TUPLE */
            MM_TRY(push(u, new_obj(u, PY_TUPLE)));
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: /* TUPLE3 */
            MM_TRY(pop_n_tuple(u, (size_t)(op - 0x84)));
            break;
        case 't': /* TUPLE */
            MM_TRY(pop_mark(u, &first));
            MM_TRY(new_tuple_from(u, first, PY_TUPLE));
            break;
        case ']': /* EMPTY_LIST */
            MM_TRY(push(u, new_obj(u, PY_LIST)));
            break;
        case 'l': /* LIST */
            MM_TRY(pop_mark(u, &first));
            MM_TRY(new_tuple_from(u, first, PY_LIST));
            break;
        case 0x8f: /* EMPTY_SET */
            MM_TRY(push(u, new_obj(u, PY_LIST)));
            break;
        case 0x91: /* FROZENSET */
            MM_TRY(pop_mark(u, &first));
            MM_TRY(new_tuple_from(u, first, PY_LIST));
            break;
        case '}': /* EMPTY_DICT */
            MM_TRY(push(u, new_obj(u, PY_DICT)));
            break;
        case 'd': /* DICT */
            MM_TRY(pop_mark(u, &first));
            if ((u->sp - first) % 2)
                return perr(u, MM_EPARSE, "DICT with an odd number of items");
            MM_TRY(new_tuple_from(u, first, PY_DICT));
            break;
        case 'a': /* APPEND */
            MM_TRY(pop(u, &a));
            MM_TRY(top(u, &o));
            if (o->kind != PY_LIST)
                return perr(u, MM_EPARSE, "APPEND to a non-list");
            MM_TRY(seq_append(o, a));
            break;
        case 'e':    /* APPENDS */
        case 0x90:   /* ADDITEMS */
        case 'u': {  /* SETITEMS */
            MM_TRY(pop_mark(u, &first));
            if (first == 0 || first <= mark_base(u))
                return perr(u, MM_EPARSE, "stack underflow");
            o = u->stack[first - 1];
            if (o->kind != (op == 'u' ? PY_DICT : PY_LIST))
                return perr(u, MM_EPARSE, "%s on the wrong kind of object",
                            op == 'u' ? "SETITEMS" : "APPENDS");
            if (op == 'u' && (u->sp - first) % 2)
                return perr(u, MM_EPARSE, "SETITEMS with an odd number of "
                                          "items");
            for (size_t i = first; i < u->sp; i++)
                MM_TRY(seq_append(o, u->stack[i]));
            u->sp = first;
            break;
        }
        case 's': /* SETITEM */
            MM_TRY(pop(u, &b));
            MM_TRY(pop(u, &a));
            MM_TRY(top(u, &o));
            if (o->kind != PY_DICT)
                return perr(u, MM_EPARSE, "SETITEM on a non-dict");
            MM_TRY(seq_append(o, a));
            MM_TRY(seq_append(o, b));
            break;
        case 'q': /* BINPUT */
            MM_TRY(need(u, 1));
            MM_TRY(memo_put(u, u->p[u->pos++]));
            break;
        case 'r': /* LONG_BINPUT */
            MM_TRY(need(u, 4));
            MM_TRY(memo_put(u, rd32(u->p + u->pos)));
            u->pos += 4;
            break;
        case 0x94: /* MEMOIZE */
            MM_TRY(memo_put(u, u->n_memo));
            break;
        case 'h': /* BINGET */
            MM_TRY(need(u, 1));
            MM_TRY(memo_get(u, u->p[u->pos++]));
            break;
        case 'j': /* LONG_BINGET */
            MM_TRY(need(u, 4));
            MM_TRY(memo_get(u, rd32(u->p + u->pos)));
            u->pos += 4;
            break;
        case 'c': { /* GLOBAL */
            char module[256], name[256];
            MM_TRY(read_line(u, module, sizeof module));
            MM_TRY(read_line(u, name, sizeof name));
            MM_TRY(find_global(u, module, name, &o));
            MM_TRY(push(u, o));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            MM_TRY(pop(u, &b));
            MM_TRY(pop(u, &a));
            if (a->kind != PY_STR || b->kind != PY_STR)
                return perr(u, MM_EPARSE, "STACK_GLOBAL needs two strings");
            MM_TRY(find_global(u, a->u.s.data, b->u.s.data, &o));
            MM_TRY(push(u, o));
            break;
        case 'R': /* REDUCE */
            MM_TRY(pop(u, &a));
            MM_TRY(pop(u, &b));
            if (b->kind != PY_GLOBAL || a->kind != PY_TUPLE)
                return perr(u, MM_EPARSE, "REDUCE needs a global and a "
                                          "tuple");
            MM_TRY(call_global(u, b, a, &o));
            MM_TRY(push(u, o));
            break;
        case 0x81: /* NEWOBJ: cls.__new__(cls, *args) */
            MM_TRY(pop(u, &a));
            MM_TRY(pop(u, &b));
            if (b->kind != PY_GLOBAL || a->kind != PY_TUPLE)
                return perr(u, MM_EPARSE, "NEWOBJ needs a class and a tuple");
            if (b->u.g.kind == G_ORDERED_DICT || b->u.g.kind == G_COUNTER) {
                o = new_obj(u, PY_DICT);
            } else if (b->u.g.kind == G_HISTORY_BUFFER) {
                if ((o = new_obj(u, PY_RECORD)))
                    o->u.rec.cls = G_HISTORY_BUFFER;
            } else {
                return perr(u, MM_EPARSE, "NEWOBJ of something that is not "
                                          "a plain-data class");
            }
            MM_TRY(push(u, o));
            break;
        case 'b': /* BUILD */
            MM_TRY(pop(u, &a));
            MM_TRY(top(u, &o));
            MM_TRY(build(u, o, a));
            break;
        case 'Q': /* BINPERSID */
            MM_TRY(pop(u, &a));
            MM_TRY(persistent_load(u, a, &o));
            MM_TRY(push(u, o));
            break;
        case 'i':
            return refuse_opcode(u, "INST");
        case 'o':
            return refuse_opcode(u, "OBJ");
        case 0x92:
            return refuse_opcode(u, "NEWOBJ_EX");
        default:
            return perr(u, MM_EPARSE, "unsupported pickle opcode 0x%02x "
                                      "(torch.save does not write it)",
                        op);
        }
    }
    return perr(u, MM_EPARSE, "truncated pickle: no STOP");
}

/* ---- the object graph into a checkpoint ---------------------------------- */

typedef struct walker {
    pth_file *f;
    unpickler *u;
    mm_checkpoint *ck;
    uint64_t budget; /* node visits left: shared subgraphs cannot explode */
} walker;

#define MAX_DEPTH 200

static int visit(walker *w, int depth) {
    if (depth > MAX_DEPTH)
        return mm_error_set(MM_EPARSE, "%s: the pickle nests more than %d "
                                       "levels deep",
                            w->f->src.path, MAX_DEPTH);
    if (w->budget-- == 0)
        return mm_error_set(MM_EPARSE, "%s: the pickle's objects are shared "
                                       "too often (a hostile file?)",
                            w->f->src.path);
    return MM_OK;
}

/* Does o hold a tensor? Memoized per object; depth as walk's, so a
 * nesting too deep to walk is refused here before it can exhaust the
 * C stack. */
static int has_tensor(walker *w, py_obj *o, int depth, bool *out) {
    if (o->has_tensor) {
        *out = o->has_tensor == 2;
        return MM_OK;
    }
    if (depth > MAX_DEPTH)
        return mm_error_set(MM_EPARSE, "%s: the pickle nests more than %d "
                                       "levels deep",
                            w->f->src.path, MAX_DEPTH);
    o->has_tensor = 3; /* a cycle back here adds nothing */
    bool any = o->kind == PY_TENSOR;
    if (o->kind == PY_TUPLE || o->kind == PY_LIST || o->kind == PY_DICT)
        for (size_t i = 0; i < o->u.seq.n && !any; i++)
            MM_TRY(has_tensor(w, o->u.seq.items[i], depth + 1, &any));
    if (o->kind == PY_RECORD && o->u.rec.state)
        MM_TRY(has_tensor(w, o->u.rec.state, depth + 1, &any));
    o->has_tensor = any ? 2 : 1;
    *out = any;
    return MM_OK;
}

/* A dict key as text: str, or Python's str() of int / bool / None. */
static int key_text(walker *w, const py_obj *k, char *buf, size_t size,
                    const char **out) {
    switch (k->kind) {
    case PY_STR:
        if (strlen(k->u.s.data) != k->u.s.len)
            return mm_error_set(MM_EPARSE, "%s: a dict key holds a NUL",
                                w->f->src.path);
        *out = k->u.s.data;
        return MM_OK;
    case PY_INT:
        snprintf(buf, size, "%" PRId64, k->u.i);
        break;
    case PY_BOOL:
        snprintf(buf, size, "%s", k->u.b ? "True" : "False");
        break;
    case PY_NONE:
        snprintf(buf, size, "None");
        break;
    case PY_FLOAT:
        mm_format_double(k->u.f, true, buf);
        break;
    default:
        return mm_error_set(MM_EPARSE, "%s: a dict key that is not a string "
                                       "or a number",
                            w->f->src.path);
    }
    *out = buf;
    return MM_OK;
}

static int np_to_value(walker *w, const py_obj *nd, mm_value **out);

/* Plain data (no tensors inside) as an mm_value. */
static int to_value(walker *w, py_obj *o, int depth, mm_value **out) {
    *out = NULL;
    MM_TRY(visit(w, depth));
    mm_value *v = NULL;
    switch (o->kind) {
    case PY_NONE:
        v = mm_value_new_null();
        break;
    case PY_BOOL:
        v = mm_value_new_bool(o->u.b);
        break;
    case PY_INT:
        v = mm_value_new_int(o->u.i);
        break;
    case PY_FLOAT:
        v = mm_value_new_float(o->u.f);
        break;
    case PY_STR:
        if (strlen(o->u.s.data) != o->u.s.len) {
            /* text with NULs: shown with U+FFFD (mm strings are C strings) */
            mm_strbuf sb = {0};
            for (size_t i = 0; i < o->u.s.len; i++)
                if (o->u.s.data[i])
                    mm_strbuf_putc(&sb, o->u.s.data[i]);
                else
                    mm_strbuf_puts(&sb, "\xef\xbf\xbd");
            char *t = NULL;
            if (mm_strbuf_finish(&sb, &t) == MM_OK) {
                v = mm_value_new_string(t);
                free(t);
            }
            break;
        }
        v = mm_value_new_string(o->u.s.data);
        break;
    case PY_BYTES: {
        /* bytes as latin-1 text (JSON has no bytes) */
        char *t = malloc(2 * o->u.s.len + 1);
        size_t n = 0;
        for (size_t i = 0; t && i < o->u.s.len; i++) {
            unsigned char c = (unsigned char)o->u.s.data[i];
            if (c == 0) {
                t[n++] = '?';
            } else if (c < 0x80) {
                t[n++] = (char)c;
            } else {
                t[n++] = (char)(0xc0 | c >> 6);
                t[n++] = (char)(0x80 | (c & 0x3f));
            }
        }
        if (t) {
            t[n] = '\0';
            v = mm_value_new_string(t);
            free(t);
        }
        break;
    }
    case PY_TUPLE:
    case PY_LIST:
        v = mm_value_new_list();
        for (size_t i = 0; v && i < o->u.seq.n; i++) {
            mm_value *item;
            int rc = to_value(w, o->u.seq.items[i], depth + 1, &item);
            if (rc == 0)
                rc = mm_value_list_append_take(v, item);
            if (rc) {
                mm_value_release(v);
                return rc;
            }
        }
        break;
    case PY_DICT:
        v = mm_value_new_dict();
        for (size_t i = 0; v && i + 1 < o->u.seq.n; i += 2) {
            char kb[40];
            const char *key;
            mm_value *item = NULL;
            int rc = key_text(w, o->u.seq.items[i], kb, sizeof kb, &key);
            if (rc == 0)
                rc = to_value(w, o->u.seq.items[i + 1], depth + 1, &item);
            if (rc == 0)
                rc = mm_value_dict_set_take(v, key, item);
            if (rc) {
                mm_value_release(v);
                return rc;
            }
        }
        break;
    case PY_RECORD:
        if (o->u.rec.state)
            return to_value(w, o->u.rec.state, depth + 1, out);
        v = mm_value_new_dict();
        break;
    case PY_GLOBAL:
        if (o->u.g.kind == G_TORCH_DTYPE) {
            char t[40];
            snprintf(t, sizeof t, "torch.%s", torch_dtypes[o->u.g.aux]);
            v = mm_value_new_string(t);
        } else if (o->u.g.kind == G_HISTORY_BUFFER) {
            v = mm_value_new_string("HistoryBuffer");
        } else {
            return mm_error_set(MM_EPARSE, "%s: a function or class as a "
                                           "value",
                                w->f->src.path);
        }
        break;
    case PY_NP_DTYPE: {
        char t[16];
        const char *k = o->u.dt.kind == 'f'   ? "float"
                        : o->u.dt.kind == 'i' ? "int"
                        : o->u.dt.kind == 'u' ? "uint"
                                              : "bool";
        if (o->u.dt.kind == 'b')
            snprintf(t, sizeof t, "bool");
        else
            snprintf(t, sizeof t, "%s%d", k, 8 * o->u.dt.size);
        v = mm_value_new_string(t);
        break;
    }
    case PY_NDARRAY:
        return np_to_value(w, o, out);
    case PY_STORAGE:
        return mm_error_set(MM_EPARSE, "%s: a storage outside a tensor",
                            w->f->src.path);
    case PY_TENSOR:
        return mm_error_set(MM_EPARSE, "%s: a tensor inside a dict key or a "
                                       "numpy object",
                            w->f->src.path);
    }
    if (!v)
        return oom();
    *out = v;
    return MM_OK;
}

/* A numpy array as nested lists (metadata such as a message hub's
 * history). */
static int np_nest(walker *w, const py_obj *nd, int d, uint64_t off,
                   const uint64_t *strides, mm_value **out) {
    if (d == nd->u.nd.ndim) {
        /* elements straight to values: a long training run's history
         * arrays are large, and they are not objects of the pickle */
        np_scalar v = np_decode(nd->u.nd.dtype,
                                (const uint8_t *)nd->u.nd.data->u.s.data +
                                    off * (uint64_t)nd->u.nd.dtype->u.dt.size);
        *out = v.kind == PY_FLOAT  ? mm_value_new_float(v.f)
               : v.kind == PY_BOOL ? mm_value_new_bool(v.i != 0)
                                   : mm_value_new_int(v.i);
        return *out ? MM_OK : oom();
    }
    mm_value *l = mm_value_new_list();
    if (!l)
        return oom();
    for (int64_t i = 0; i < nd->u.nd.shape[d]; i++) {
        mm_value *item;
        int rc = np_nest(w, nd, d + 1, off + (uint64_t)i * strides[d], strides,
                         &item);
        if (rc == 0)
            rc = mm_value_list_append_take(l, item);
        if (rc) {
            mm_value_release(l);
            return rc;
        }
    }
    *out = l;
    return MM_OK;
}

static int np_to_value(walker *w, const py_obj *nd, mm_value **out) {
    if (!nd->u.nd.data)
        return mm_error_set(MM_EPARSE, "%s: a numpy array without data",
                            w->f->src.path);
    uint64_t strides[MM_MAX_DIMS], s = 1;
    int n = nd->u.nd.ndim;
    for (int i = 0; i < n; i++) {
        int d = nd->u.nd.fortran ? i : n - 1 - i;
        strides[d] = s;
        s *= (uint64_t)nd->u.nd.shape[d];
    }
    if (s > ((uint64_t)1 << 24))
        return mm_error_set(MM_EUNSUPPORTED, "%s: a numpy array of %" PRIu64
                                             " elements in the metadata",
                            w->f->src.path, s);
    return np_nest(w, nd, 0, 0, strides, out);
}

static int name_error(walker *w, int rc, const char *name) {
    char label[160];
    shown(name, strlen(name), label, sizeof label);
    return mm_error_context(rc, NULL, "%s: tensor '%s'", w->f->src.path, label);
}

/* Read a tensor's elements out of its storage entry. */
static int make_tensor(walker *w, py_obj *o, const char *name,
                       mm_tensor **out) {
    const char *path = w->f->src.path;
    char label[160];
    shown(name, strlen(name), label, sizeof label);
    const py_obj *st = o->u.t.storage;
    const storage_class *sc = &storages[st->u.st.cls];
    if (sc->dtype < 0)
        return mm_error_set(MM_EUNSUPPORTED,
                            "%s: tensor '%s' is %s (mm reads float64 float32 "
                            "float16 bfloat16 int64 int32 uint8 bool)",
                            path, label, sc->torch_name);
    char rel[80];
    snprintf(rel, sizeof rel, "data/%s", st->u.st.key);
    zip_entry *e = archive_entry(w->f, rel);
    if (!e)
        return mm_error_set(MM_EPARSE, "%s: tensor '%s': its storage '%s' is "
                                       "not in the file",
                            path, label, st->u.st.key);
    MM_TRY(entry_stored(w->f, e));
    size_t isz = sc->itemsize;
    uint64_t snumel = st->u.st.numel;
    if (snumel > UINT64_MAX / isz || snumel * isz != e->size)
        return mm_error_set(MM_EPARSE,
                            "%s: tensor '%s': storage '%s' holds %" PRIu64
                            " bytes, %" PRIu64 " elements of %s need %s",
                            path, label, st->u.st.key, e->size, snumel,
                            sc->torch_name,
                            snumel > UINT64_MAX / isz ? "more" : "another size");
    int nd = o->u.t.ndim;
    /* span: the product of the non-zero sizes, which must fit even when
     * another size is 0 (an mm tensor's strides multiply it out) */
    uint64_t numel = 1, span = isz, last = (uint64_t)o->u.t.offset;
    bool contiguous = true, empty = false;
    for (int d = nd - 1; d >= 0; d--) {
        uint64_t k = (uint64_t)o->u.t.shape[d], s = (uint64_t)o->u.t.stride[d];
        if (k == 0) {
            empty = true;
            continue;
        }
        if (span > (uint64_t)INT64_MAX / k ||
            (k > 1 && s > ((uint64_t)INT64_MAX - last) / (k - 1)))
            return mm_error_set(MM_EPARSE, "%s: tensor '%s': shape has too "
                                           "many elements",
                                path, label);
        span *= k;
        last += (k - 1) * s;
        if (k > 1 && s != numel)
            contiguous = false;
        numel *= k;
    }
    if (empty)
        numel = 0;
    /* A view with zero strides (expand) holds more elements than its
     * storage; beyond a generous bound that is a file built to exhaust
     * memory. */
    if (numel > snumel &&
        numel * isz > ((uint64_t)64 << 20) + 16 * w->f->src.size)
        return mm_error_set(MM_EPARSE,
                            "%s: tensor '%s' expands %" PRIu64
                            " stored elements to %" PRIu64
                            " (a hostile file?)",
                            path, label, snumel, numel);
    if (numel && last >= snumel)
        return mm_error_set(MM_EPARSE,
                            "%s: tensor '%s': offset %" PRId64
                            " with this size and stride reaches element "
                            "%" PRIu64 " of a %" PRIu64 "-element storage",
                            path, label, o->u.t.offset, last, snumel);
    mm_tensor *t;
    MM_TRY(mm_empty(nd, o->u.t.shape, (mm_dtype)sc->dtype, &t));
    uint8_t *dst = mm_tensor_data(t);
    int rc = MM_OK;
    uint64_t first = (uint64_t)o->u.t.offset;
    if (numel && contiguous) {
        rc = mm_io_src_read(&w->f->src, e->data_off + first * isz, dst,
                      (size_t)(numel * isz));
        if (rc == 0 && !e->crc_checked && first == 0 && numel == snumel)
            rc = entry_check_crc(w->f, e, dst);
    } else if (numel) {
        /* A view: read its span of the storage and gather. */
        uint64_t nbytes = (last - first + 1) * isz;
        uint8_t *tmp = malloc((size_t)nbytes);
        rc = tmp ? mm_io_src_read(&w->f->src, e->data_off + first * isz, tmp,
                            (size_t)nbytes)
                 : oom();
        int64_t idx[MM_MAX_DIMS] = {0};
        for (uint64_t k = 0; rc == 0 && k < numel; k++) {
            uint64_t off = 0;
            for (int d = 0; d < nd; d++)
                off += (uint64_t)idx[d] * (uint64_t)o->u.t.stride[d];
            memcpy(dst + k * isz, tmp + off * isz, isz);
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < o->u.t.shape[d])
                    break;
                idx[d] = 0;
            }
        }
        free(tmp);
    }
    if (rc == 0 && !e->crc_checked)
        rc = entry_check_crc(w->f, e, NULL);
    if (rc == 0 && w->f->big_endian && isz > 1)
        for (uint64_t k = 0; k < numel; k++)
            for (size_t i = 0; i < isz / 2; i++) {
                uint8_t c = dst[k * isz + i];
                dst[k * isz + i] = dst[k * isz + isz - 1 - i];
                dst[k * isz + isz - 1 - i] = c;
            }
    for (uint64_t k = 0; rc == 0 && sc->dtype == MM_BOOL && k < numel; k++)
        if (dst[k] > 1)
            rc = mm_error_set(MM_EPARSE, "%s: tensor '%s': bool element "
                                         "%" PRIu64 " is %u, not 0 or 1",
                              path, label, k, (unsigned)dst[k]);
    if (rc)
        return rc; /* the reader's pool releases t */
    *out = t; /* the reader's pool holds it; the checkpoint retains it */
    return MM_OK;
}

/* Tensors go into the checkpoint under their dotted names; what is left
 * (the non-tensor leaves) comes back in *meta, NULL when nothing is. */
static int walk(walker *w, py_obj *o, mm_strbuf *name, int depth,
                mm_value **meta) {
    *meta = NULL;
    MM_TRY(visit(w, depth));
    if (o->kind == PY_RECORD && o->u.rec.state)
        return walk(w, o->u.rec.state, name, depth + 1, meta);
    bool tensors;
    MM_TRY(has_tensor(w, o, depth, &tensors));
    if (!tensors)
        return to_value(w, o, depth, meta);
    if (name->failed)
        return oom();
    if (o->kind == PY_TENSOR) {
        if (!o->u.t.made)
            MM_TRY(make_tensor(w, o, name->data, &o->u.t.made));
        int rc = mm_checkpoint_add(w->ck, name->data, o->u.t.made);
        return rc ? name_error(w, rc, name->data) : MM_OK;
    }
    bool dict = o->kind == PY_DICT;
    mm_value *rest = mm_value_new_dict();
    if (!rest)
        return oom();
    size_t step = dict ? 2 : 1, base = name->len;
    int rc = MM_OK;
    for (size_t i = 0; i + step - 1 < o->u.seq.n && rc == 0; i += step) {
        char kb[40];
        const char *key = kb;
        if (dict)
            rc = key_text(w, o->u.seq.items[i], kb, sizeof kb, &key);
        else
            snprintf(kb, sizeof kb, "%zu", i);
        if (rc)
            break;
        if (base)
            mm_strbuf_putc(name, '.');
        mm_strbuf_puts(name, key);
        mm_value *sub = NULL;
        rc = walk(w, o->u.seq.items[i + step - 1], name, depth + 1, &sub);
        if (rc == 0 && sub)
            rc = mm_value_dict_set_take(rest, key, sub);
        name->len = base;
        if (name->data)
            name->data[base] = '\0';
    }
    if (rc || mm_value_len(rest) == 0) {
        mm_value_release(rest);
        return rc;
    }
    *meta = rest;
    return MM_OK;
}

static int to_checkpoint(pth_file *f, unpickler *u, py_obj *root,
                         mm_checkpoint *ck) {
    if (root->kind == PY_RECORD && root->u.rec.state)
        root = root->u.rec.state;
    if (root->kind != PY_DICT) {
        static const char *const names[] = {
            [PY_NONE] = "None",         [PY_BOOL] = "bool",
            [PY_INT] = "int",           [PY_FLOAT] = "float",
            [PY_STR] = "str",           [PY_BYTES] = "bytes",
            [PY_TUPLE] = "tuple",       [PY_LIST] = "list",
            [PY_DICT] = "dict",         [PY_GLOBAL] = "global",
            [PY_STORAGE] = "storage",   [PY_TENSOR] = "tensor",
            [PY_NP_DTYPE] = "np.dtype", [PY_NDARRAY] = "numpy array",
            [PY_RECORD] = "object",
        };
        return mm_error_set(MM_EUNSUPPORTED,
                            "%s: the file holds a %s, not a dict (a state "
                            "dict or a checkpoint)",
                            f->src.path, names[root->kind]);
    }
    walker w = {.f = f, .u = u, .ck = ck,
                .budget = 8 * (uint64_t)u->n_objs + 100000};
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    int rc = MM_OK;
    for (size_t i = 0; i + 1 < root->u.seq.n && rc == 0; i += 2) {
        char kb[40];
        const char *key;
        rc = key_text(&w, root->u.seq.items[i], kb, sizeof kb, &key);
        if (rc)
            break;
        mm_strbuf name = {0};
        mm_strbuf_puts(&name, key);
        mm_value *meta = NULL;
        rc = walk(&w, root->u.seq.items[i + 1], &name, 0, &meta);
        mm_strbuf_free(&name);
        if (rc == 0 && meta)
            rc = mm_checkpoint_set_meta(ck, key, meta);
        mm_value_release(meta);
    }
    mm_pool_close(pool);
    return rc;
}

/* ---- entry points ------------------------------------------------------- */

/* Legacy (pre-1.6) files start with a pickle of this magic number. */
static const uint8_t legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c,
                                       0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                       0x6a, 0xa8, 0x50, 0x19};

static bool is_zip(const uint8_t *p, size_t len) {
    /* Byte 8 is '{' in a safetensors file whose header length happens to
     * spell "PK\3\4"; a zip has its compression method there. */
    return len >= 4 && memcmp(p, "PK\x03\x04", 4) == 0 &&
           (len < 9 || p[8] != '{');
}

bool mm_pth_sniff(const void *head, size_t len) {
    const uint8_t *p = head;
    if (!p)
        return false;
    return is_zip(p, len) ||
           (len >= 4 && memcmp(p, legacy_magic, 4) == 0);
}

static int pth_load(const mm_io_src *s, mm_checkpoint **out) {
    *out = NULL;
    uint8_t head[sizeof legacy_magic];
    size_t hn = s->size < sizeof head ? (size_t)s->size : sizeof head;
    MM_TRY(mm_io_src_read(s, 0, head, hn));
    if (hn >= 4 && memcmp(head, legacy_magic, 4) == 0)
        return mm_error_set(MM_EUNSUPPORTED,
                            "%s: legacy torch format; re-save with "
                            "torch>=1.6 (torch.save(obj, f))",
                            s->path);
    if (!is_zip(head, hn))
        return mm_error_set(MM_EPARSE, "%s: not a torch.save file (no zip "
                                       "signature)",
                            s->path);
    pth_file f = {.src = *s};
    unpickler u = {.path = s->path};
    mm_checkpoint *ck = NULL;
    char *pkl = NULL;
    int rc = zip_open(&f);
    if (rc == 0)
        rc = zip_find_archive(&f);
    if (rc == 0)
        rc = read_byteorder(&f);
    zip_entry *e = rc == 0 ? archive_entry(&f, "data.pkl") : NULL;
    if (rc == 0)
        rc = entry_read_all(&f, e, &pkl);
    py_obj *root = NULL;
    if (rc == 0) {
        u.p = (const uint8_t *)pkl;
        u.len = (size_t)e->size;
        rc = unpickle(&u, &root);
    }
    if (rc == 0)
        rc = mm_checkpoint_new(&ck);
    if (rc == 0)
        rc = to_checkpoint(&f, &u, root, ck);
    if (rc == 0)
        rc = mm_checkpoint_set_origin(ck, s->path, s->size);
    unpickler_free(&u);
    free(pkl);
    zip_free(&f);
    if (rc) {
        mm_checkpoint_free(ck);
        return rc;
    }
    *out = ck;
    return MM_OK;
}

int mm_pth_load_src(const mm_io_src *s, mm_checkpoint **out) {
    *out = NULL;
    return pth_load(s, out);
}

int mm_pth_load(const char *path, mm_checkpoint **out) {
    if (!path || !out)
        return mm_error_set(MM_EINVAL, "mm_pth_load: NULL argument");
    *out = NULL;
    mm_io_src s;
    MM_TRY(mm_io_src_open(path, &s));
    int rc = pth_load(&s, out);
    mm_io_src_close(&s);
    return rc;
}
