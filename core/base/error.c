/* The thread-local error slot and the string intern table. */
#include "mm/error.h"

#include "strbuf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LOC_MAX = 1024, CTX_MAX = 2048, MSG_MAX = 4096, FULL_MAX = 8192 };

typedef struct error_slot {
    int code;
    char loc[LOC_MAX];
    char ctx[CTX_MAX];
    char msg[MSG_MAX];
    char full[FULL_MAX];
} error_slot;

static _Thread_local error_slot slot;

static const char *const error_names[MM_ERROR_COUNT] = {
    [0] = "success",
    [-MM_EINVAL] = "invalid argument",
    [-MM_ENOMEM] = "out of memory",
    [-MM_EIO] = "input/output error",
    [-MM_ENOENT] = "not found",
    [-MM_EPARSE] = "parse error",
    [-MM_ETYPE] = "wrong type",
    [-MM_ERANGE] = "out of range",
    [-MM_ECYCLE] = "cycle",
    [-MM_EEXIST] = "already exists",
    [-MM_EUNSUPPORTED] = "unsupported",
    [-MM_EINTERNAL] = "internal error",
};
_Static_assert(sizeof error_names / sizeof error_names[0] == MM_ERROR_COUNT,
               "one name per status code");

const char *mm_strerror(int code) {
    if (code > 0 || -code >= MM_ERROR_COUNT)
        return "unknown error";
    return error_names[-code];
}

char *mm_srcloc_format(const mm_srcloc *loc, char *buf, unsigned size) {
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (!loc || !loc->file)
        return buf;
    if (loc->line > 0)
        snprintf(buf, size, "%s:%d:%d", loc->file, loc->line,
                 loc->col > 0 ? loc->col : 1);
    else
        snprintf(buf, size, "%s", loc->file);
    return buf;
}

int mm_error_setv(int code, const char *fmt, va_list ap) {
    slot.code = code;
    slot.loc[0] = '\0';
    slot.ctx[0] = '\0';
    vsnprintf(slot.msg, sizeof slot.msg, fmt, ap);
    return code;
}

int mm_error_set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mm_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int mm_error_set_at(int code, const mm_srcloc *loc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mm_error_setv(code, fmt, ap);
    va_end(ap);
    mm_srcloc_format(loc, slot.loc, sizeof slot.loc);
    return code;
}

int mm_error_context(int code, const mm_srcloc *loc, const char *fmt, ...) {
    char outer[CTX_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(outer, sizeof outer, fmt, ap);
    va_end(ap);
    if (n > 0) {
        /* Prepend: "outer: inner", truncated to the slot. */
        char joined[CTX_MAX];
        size_t olen = strnlen(outer, CTX_MAX - 1);
        memcpy(joined, outer, olen);
        size_t used = olen;
        if (slot.ctx[0] && used + 2 < CTX_MAX) {
            memcpy(joined + used, ": ", 2);
            used += 2;
            size_t ilen = strnlen(slot.ctx, CTX_MAX - 1 - used);
            memcpy(joined + used, slot.ctx, ilen);
            used += ilen;
        }
        joined[used] = '\0';
        memcpy(slot.ctx, joined, used + 1);
    }
    if (!slot.loc[0])
        mm_srcloc_format(loc, slot.loc, sizeof slot.loc);
    if (slot.code == MM_OK)
        slot.code = code;
    return code;
}

/* Appends text to the full message, escaping control characters so the
 * message stays one line whatever user text it quotes. */
static size_t append_escaped(size_t used, const char *text) {
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        char esc[8];
        const char *piece = esc;
        if (*c == '\n')
            piece = "\\n";
        else if (*c == '\r')
            piece = "\\r";
        else if (*c == '\t')
            piece = "\\t";
        else if (*c < 0x20 || *c == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", *c);
        else if (*c < 0x80)
            esc[0] = (char)*c, esc[1] = '\0';
        else {
            /* Whole UTF-8 sequences pass; stray bytes are shown as \xNN. */
            size_t n = mm_utf8_seq_len(c, strlen((const char *)c));
            if (n == 0) {
                snprintf(esc, sizeof esc, "\\x%02x", *c);
            } else {
                memcpy(esc, c, n);
                esc[n] = '\0';
                c += n - 1;
            }
        }
        size_t n = strlen(piece);
        if (used + n >= sizeof slot.full)
            break;
        memcpy(slot.full + used, piece, n);
        used += n;
    }
    slot.full[used] = '\0';
    return used;
}

const char *mm_error_message(void) {
    if (slot.code == MM_OK && !slot.msg[0])
        return "";
    const char *parts[3] = {slot.loc, slot.ctx, slot.msg};
    size_t used = 0;
    slot.full[0] = '\0';
    for (int i = 0; i < 3; i++) {
        if (!parts[i][0])
            continue;
        if (used)
            used = append_escaped(used, ": ");
        used = append_escaped(used, parts[i]);
    }
    return slot.full;
}

int mm_error_code(void) { return slot.code; }

void mm_error_clear(void) {
    slot.code = MM_OK;
    slot.loc[0] = slot.ctx[0] = slot.msg[0] = '\0';
}

void mm_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "mm: internal invariant broken at %s:%d: %s\n", file, line,
            expr);
    abort();
}

/* Interned strings: a small open-addressing set, never shrunk. The table is
 * reachable from a static for the process lifetime, so leak checkers do not
 * report it. */
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static char **intern_slots;
static size_t intern_cap, intern_len;

static int intern_grow(void) {
    size_t cap = intern_cap ? intern_cap * 2 : 64;
    char **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return MM_ENOMEM;
    for (size_t i = 0; i < intern_cap; i++) {
        if (!intern_slots[i])
            continue;
        size_t j = mm_str_hash(intern_slots[i]) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = intern_slots[i];
    }
    free(intern_slots);
    intern_slots = slots;
    intern_cap = cap;
    return MM_OK;
}

const char *mm_intern(const char *s) {
    if (!s)
        return NULL;
    const char *found = NULL;
    pthread_mutex_lock(&intern_lock);
    if ((intern_len + 1) * 2 > intern_cap && intern_grow() != MM_OK)
        goto out;
    size_t j = mm_str_hash(s) & (intern_cap - 1);
    while (intern_slots[j]) {
        if (strcmp(intern_slots[j], s) == 0) {
            found = intern_slots[j];
            goto out;
        }
        j = (j + 1) & (intern_cap - 1);
    }
    char *copy = strdup(s);
    if (copy) {
        intern_slots[j] = copy;
        intern_len++;
        found = copy;
    }
out:
    pthread_mutex_unlock(&intern_lock);
    return found;
}
