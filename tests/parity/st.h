/* A small safetensors reader and writer for the parity driver.
 *
 * The format: an 8-byte little-endian header length N, N bytes of JSON
 * ({name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
 * "__metadata__": {string: string}}), then the raw little-endian data; the
 * offsets are relative to the data and tile it exactly. The reader checks
 * every length and offset against the buffer (hostile input is normal) and
 * never reads outside it. The checkpoint code of core/io will have its own;
 * this one only serves tests and tools. */
#ifndef MM_TESTS_PARITY_ST_H
#define MM_TESTS_PARITY_ST_H

#include <stddef.h>
#include <stdint.h>

#include "mm/mm.h"

typedef struct st_entry {
    const char *name; /* borrowed from the header */
    mm_dtype dtype;
    int ndim;
    int64_t shape[MM_MAX_DIMS];
    const uint8_t *data; /* into the parsed buffer */
    size_t nbytes;
} st_entry;

typedef struct st_file {
    mm_value *header;   /* the parsed JSON (owned) */
    mm_value *metadata; /* "__metadata__" (borrowed from header) or NULL */
    size_t n;
    st_entry *entries; /* in header order */
} st_file;

/* Parse buf[len]; the entries point into buf, which must outlive f.
 * MM_EPARSE with "safetensors: ..." on anything malformed. */
int st_parse(const uint8_t *buf, size_t len, st_file *f);
void st_file_free(st_file *f);
/* The entry called name, or NULL. */
const st_entry *st_find(const st_file *f, const char *name);
/* A new contiguous tensor holding a copy of the entry's data. */
int st_to_tensor(const st_entry *e, mm_tensor **out);
/* The metadata string under key, or NULL. */
const char *st_meta(const st_file *f, const char *key);

/* Serialise n named tensors (any layout; written row-major) and a metadata
 * dict of strings (may be NULL) into a malloc'd buffer. */
int st_write(size_t n, const char *const *names, mm_tensor *const *tensors,
             const mm_value *metadata, uint8_t **out, size_t *len);

#endif
