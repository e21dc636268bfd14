/* A growable byte buffer for building text inside libmm (not public API).
 * On allocation failure the buffer latches `failed`, later appends are
 * no-ops, and mm_strbuf_finish reports MM_ENOMEM once. */
#ifndef MM_BASE_STRBUF_H
#define MM_BASE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/error.h"

typedef struct mm_strbuf {
    char *data;
    size_t len, cap;
    bool failed;
} mm_strbuf;

void mm_strbuf_append(mm_strbuf *sb, const char *s, size_t n);
void mm_strbuf_puts(mm_strbuf *sb, const char *s);
void mm_strbuf_putc(mm_strbuf *sb, char c);
void mm_strbuf_printf(mm_strbuf *sb, const char *fmt, ...) MM_PRINTF(2, 3);
/* Hands the NUL-terminated text to *out (caller frees), or MM_ENOMEM. */
int mm_strbuf_finish(mm_strbuf *sb, char **out);
void mm_strbuf_free(mm_strbuf *sb);

/* Shortest decimal text that reads back as the same double, laid out as
 * Python's repr() ("0.1", "1e-05", "1e+16"), so it never reads back as an
 * integer. `json` selects Infinity/NaN over YAML's .inf/.nan; YAML output
 * also writes "1.0e-05", since PyYAML reads exponents only after a '.'.
 * Writes at most 32 bytes. */
void mm_format_double(double d, bool json, char buf[32]);

/* Appends null/bool/int/float as text ("null", "true", "42", "0.1");
 * returns false (appending nothing) for strings, containers and tensors. */
struct mm_value;
bool mm_strbuf_put_scalar(mm_strbuf *sb, const struct mm_value *v, bool json);

/* Length of the well-formed UTF-8 sequence at s (Unicode Table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. */
size_t mm_utf8_seq_len(const unsigned char *s, size_t avail);
/* True when all n bytes are well-formed UTF-8 without NUL. */
bool mm_utf8_valid(const char *s, size_t n);

/* FNV-1a hash of a C string, for the hash tables inside libmm. */
size_t mm_str_hash(const char *s);

/* Edit distance, for did-you-mean suggestions. */
size_t mm_edit_distance(const char *a, const char *b);

#endif
