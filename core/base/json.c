/* JSON text <-> mm_value: a strict RFC 8259 reader (plus NaN/Infinity as
 * Python writes them) and a writer whose layout matches Python's json.dumps.
 *
 * The reader is recursive descent with an explicit depth limit, so hostile
 * input fails with a message instead of overflowing the stack. Every value
 * and every object key records where it was written (bytes for columns,
 * '\n' ends a line). Decoded strings go through one scratch buffer used as
 * a stack: an object key stays on it while its value is parsed, then is
 * popped, so parsing allocates only the values themselves. */
#include "mm/value.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* Deep enough for any real config or annotation file; shallow enough that
 * the recursion stays far from the stack limit of a worker thread. */
enum { JSON_MAX_DEPTH = 512 };

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    size_t line_start; /* offset of the first byte of the current line */
    int line;
    const char *file; /* interned once, shared by every location */
    mm_strbuf scratch;
} parser;

/* ---- locations and errors ----------------------------------------------- */

static int clamp_int(size_t n) { return n > INT_MAX ? INT_MAX : (int)n; }

/* `pos` must lie on the current line, which holds for every caller: no
 * token (strings included) spans a newline. */
static mm_srcloc loc_at(const parser *p, size_t pos) {
    return (mm_srcloc){p->file, p->line, clamp_int(pos - p->line_start + 1)};
}

static mm_srcloc here(const parser *p) { return loc_at(p, p->pos); }

static int fail_loc(const mm_srcloc *loc, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return mm_error_set_at(MM_EPARSE, loc, "%s", msg);
}

static int fail_at(const parser *p, size_t pos, const char *fmt, ...)
    MM_PRINTF(3, 4);
static int fail_at(const parser *p, size_t pos, const char *fmt, ...) {
    mm_srcloc loc = loc_at(p, pos);
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_loc(&loc, fmt, ap);
    va_end(ap);
    return rc;
}

static int fail_nomem(const parser *p) {
    mm_srcloc loc = here(p);
    return mm_error_set_at(MM_ENOMEM, &loc, "out of memory");
}

/* The end of input and a NUL byte read the same wherever they turn up, so
 * only the ordinary case needs its own message. */
static int fail_expected(const parser *p, const char *what) {
    if (p->pos >= p->len)
        return fail_at(p, p->pos, "unexpected end of input");
    if (p->s[p->pos] == '\0')
        return fail_at(p, p->pos, "NUL byte in input");
    return fail_at(p, p->pos, "%s", what);
}

static int fail_unexpected(const parser *p) {
    if (p->pos >= p->len || p->s[p->pos] == '\0')
        return fail_expected(p, "");
    unsigned char c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        return fail_at(p, p->pos, "unexpected character '%c'", c);
    return fail_at(p, p->pos, "unexpected byte 0x%02x", c);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c == '\n') {
            p->pos++;
            p->line_start = p->pos;
            if (p->line < INT_MAX)
                p->line++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p->pos++;
        } else {
            break;
        }
    }
}

static bool at(const parser *p, char c) {
    return p->pos < p->len && p->s[p->pos] == (unsigned char)c;
}

static bool is_digit_at(const parser *p, size_t pos) {
    return pos < p->len && p->s[pos] >= '0' && p->s[pos] <= '9';
}

/* ---- strings ------------------------------------------------------------ */

static void put_utf8(mm_strbuf *sb, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    mm_strbuf_append(sb, b, n);
}

/* The four hex digits of a \u escape starting at pos, or -1 if any is
 * missing or not hex. */
static long read_hex4(const parser *p, size_t pos) {
    if (pos > p->len || p->len - pos < 4)
        return -1;
    long v = 0;
    for (size_t i = 0; i < 4; i++) {
        unsigned char c = p->s[pos + i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* At the backslash *pos: decodes one escape onto the scratch stack and
 * moves *pos past it. `quote` is where the string began. */
static int decode_escape(parser *p, size_t *pos, size_t quote) {
    size_t bs = *pos;
    if (bs + 1 >= p->len)
        return fail_at(p, quote, "unterminated string");
    unsigned char c = p->s[bs + 1];
    static const char simple_from[] = "\"\\/bfnrt";
    static const char simple_to[] = "\"\\/\b\f\n\r\t";
    const char *hit = c ? strchr(simple_from, c) : NULL;
    if (hit) {
        mm_strbuf_putc(&p->scratch, simple_to[hit - simple_from]);
        *pos = bs + 2;
        return MM_OK;
    }
    if (c == 0)
        return fail_at(p, bs + 1, "NUL byte in input");
    if (c != 'u') {
        if (c >= 0x20 && c < 0x7f)
            return fail_at(p, bs, "invalid escape '\\%c' in string", c);
        return fail_at(p, bs, "invalid escape: byte 0x%02x after '\\'", c);
    }
    long cp = read_hex4(p, bs + 2);
    if (cp < 0)
        return fail_at(p, bs, "invalid \\u escape (want 4 hex digits)");
    size_t end = bs + 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = -1;
        if (end + 1 < p->len && p->s[end] == '\\' && p->s[end + 1] == 'u')
            lo = read_hex4(p, end + 2);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            end += 6;
        }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return fail_at(p, bs, "unpaired surrogate \\u%04lX in string", cp);
    if (cp == 0)
        return fail_at(p, bs, "\\u0000 is not allowed in a string");
    put_utf8(&p->scratch, (uint32_t)cp);
    *pos = end;
    return MM_OK;
}

/* At an opening quote: pushes the decoded, NUL-terminated string onto the
 * scratch stack and stores its offset there in *off. The caller pops it by
 * resetting scratch.len to *off. */
static int parse_string(parser *p, size_t *off) {
    size_t quote = p->pos, pos = quote + 1;
    *off = p->scratch.len;
    for (;;) {
        size_t run = pos;
        while (pos < p->len && p->s[pos] >= 0x20 && p->s[pos] < 0x80 &&
               p->s[pos] != '"' && p->s[pos] != '\\')
            pos++;
        mm_strbuf_append(&p->scratch, (const char *)p->s + run, pos - run);
        if (pos >= p->len)
            return fail_at(p, quote, "unterminated string");
        unsigned char c = p->s[pos];
        if (c == '"')
            break;
        if (c == '\\') {
            int rc = decode_escape(p, &pos, quote);
            if (rc)
                return rc;
        } else if (c == 0) {
            return fail_at(p, pos, "NUL byte in input");
        } else if (c < 0x20) {
            return fail_at(p, pos,
                           "unescaped control character U+%04X in string", c);
        } else {
            size_t n = mm_utf8_seq_len((const unsigned char *)p->s + pos,
                                       p->len - pos);
            if (!n)
                return fail_at(p, pos, "invalid UTF-8 in string");
            mm_strbuf_append(&p->scratch, (const char *)p->s + pos, n);
            pos += n;
        }
    }
    mm_strbuf_putc(&p->scratch, '\0');
    if (p->scratch.failed)
        return fail_nomem(p);
    p->pos = pos + 1;
    return MM_OK;
}

/* ---- numbers and literals ----------------------------------------------- */

static bool is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_word_byte(unsigned char c) {
    return is_alpha(c) || c == '_' || (c >= '0' && c <= '9');
}

/* true/false/null and Python's NaN/Infinity; `start` is the '-' of
 * -Infinity or p->pos. A whole word is taken so "nulll" and "True" are
 * reported as what they are rather than as trailing garbage. */
static int parse_word(parser *p, size_t start, mm_value **out) {
    size_t end = p->pos;
    while (end < p->len && is_word_byte(p->s[end]))
        end++;
    const char *w = (const char *)p->s + p->pos;
    size_t n = end - p->pos;
    bool neg = start != p->pos;
#define IS(lit) (n == sizeof lit - 1 && memcmp(w, lit, n) == 0)
    enum { BAD, NUL_, TRUE_, FALSE_, NAN_, INF_ } kind = BAD;
    if (IS("Infinity"))
        kind = INF_;
    else if (neg)
        kind = BAD;
    else if (IS("null"))
        kind = NUL_;
    else if (IS("true"))
        kind = TRUE_;
    else if (IS("false"))
        kind = FALSE_;
    else if (IS("NaN"))
        kind = NAN_;
#undef IS
    mm_value *v = NULL;
    switch (kind) {
    case BAD: {
        size_t shown = end - start > 40 ? 40 : end - start;
        return fail_at(p, start, "invalid literal '%.*s'", (int)shown,
                       (const char *)p->s + start);
    }
    case NUL_:
        v = mm_value_new_null();
        break;
    case TRUE_:
        v = mm_value_new_bool(true);
        break;
    case FALSE_:
        v = mm_value_new_bool(false);
        break;
    case NAN_:
        v = mm_value_new_float(NAN);
        break;
    case INF_:
        v = mm_value_new_float(neg ? -INFINITY : INFINITY);
        break;
    }
    if (!v)
        return fail_nomem(p);
    p->pos = end;
    *out = v;
    return MM_OK;
}

/* The JSON number grammar, checked by hand so that "01", "+1", ".5", "1."
 * and "1e" are errors rather than whatever strtod makes of them. */
static int parse_number(parser *p, mm_value **out) {
    size_t start = p->pos, pos = start;
    bool neg = false;
    if (p->s[pos] == '-') {
        neg = true;
        pos++;
        /* "-Infinity", and a clear message for "-NaN" or "-inf". */
        if (pos < p->len && is_alpha(p->s[pos])) {
            p->pos = pos;
            return parse_word(p, start, out);
        }
        if (!is_digit_at(p, pos)) {
            p->pos = pos;
            return fail_expected(p, "expected a digit after '-'");
        }
    }
    size_t int_start = pos;
    if (p->s[pos] == '0') {
        pos++;
        if (is_digit_at(p, pos))
            return fail_at(p, int_start, "leading zeros are not allowed");
    } else {
        while (is_digit_at(p, pos))
            pos++;
    }
    size_t int_end = pos;
    bool is_float = false;
    if (pos < p->len && p->s[pos] == '.') {
        is_float = true;
        pos++;
        if (!is_digit_at(p, pos)) {
            p->pos = pos;
            return fail_expected(p, "expected a digit after '.'");
        }
        while (is_digit_at(p, pos))
            pos++;
    }
    if (pos < p->len && (p->s[pos] == 'e' || p->s[pos] == 'E')) {
        is_float = true;
        pos++;
        if (pos < p->len && (p->s[pos] == '+' || p->s[pos] == '-'))
            pos++;
        if (!is_digit_at(p, pos)) {
            p->pos = pos;
            return fail_expected(p, "expected a digit in the exponent");
        }
        while (is_digit_at(p, pos))
            pos++;
    }

    mm_value *v = NULL;
    bool fits = !is_float;
    uint64_t mag = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (size_t i = int_start; fits && i < int_end; i++) {
        unsigned d = p->s[i] - '0';
        if (mag > (limit - d) / 10)
            fits = false;
        else
            mag = mag * 10 + d;
    }
    if (fits) {
        /* 2^63 itself has no int64, only its negation does. */
        int64_t i = !neg                             ? (int64_t)mag
                    : mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN
                                                     : -(int64_t)mag;
        v = mm_value_new_int(i);
    } else {
        /* The text is not NUL-terminated at the number's end, and numbers
         * may be long ("1" followed by a thousand zeros), so copy it. */
        char small[64], *buf = small;
        size_t n = pos - start;
        if (n >= sizeof small && !(buf = malloc(n + 1)))
            return fail_nomem(p);
        memcpy(buf, p->s + start, n);
        buf[n] = '\0';
        double d = strtod(buf, NULL); /* overflow gives +-inf, as in Python */
        if (buf != small)
            free(buf);
        v = mm_value_new_float(d);
    }
    if (!v)
        return fail_nomem(p);
    p->pos = pos;
    *out = v;
    return MM_OK;
}

/* ---- containers --------------------------------------------------------- */

static int parse_value(parser *p, int depth, mm_value **out);

static int parse_array(parser *p, int depth, mm_value **out) {
    mm_srcloc loc = here(p);
    if (depth >= JSON_MAX_DEPTH)
        return fail_at(p, p->pos, "nesting deeper than %d levels",
                       JSON_MAX_DEPTH);
    mm_value *list = mm_value_new_list();
    if (!list)
        return fail_nomem(p);
    mm_value_set_srcloc(list, &loc);
    p->pos++;
    skip_ws(p);
    int rc = MM_OK;
    if (at(p, ']')) {
        p->pos++;
        goto done;
    }
    for (;;) {
        mm_value *item = NULL;
        if ((rc = parse_value(p, depth + 1, &item)))
            goto done;
        if (mm_value_list_append_take(list, item)) {
            rc = fail_nomem(p);
            goto done;
        }
        skip_ws(p);
        if (at(p, ']')) {
            p->pos++;
            break;
        }
        if (!at(p, ',')) {
            rc = fail_expected(p, "expected ',' or ']' after array element");
            goto done;
        }
        p->pos++;
        skip_ws(p);
        if (at(p, ']')) {
            rc = fail_at(p, p->pos, "trailing comma before ']'");
            goto done;
        }
    }
done:
    if (rc) {
        mm_value_release(list);
        return rc;
    }
    *out = list;
    return MM_OK;
}

static int duplicate_key(const mm_value *dict, long first, const char *key,
                         const mm_srcloc *loc) {
    const mm_srcloc *at_first = mm_value_dict_key_loc_at(dict, (size_t)first);
    return mm_error_set_at(MM_EPARSE, loc,
                           "duplicate key '%.200s' (first at line %d, "
                           "column %d)",
                           key, at_first->line, at_first->col);
}

static int parse_object(parser *p, int depth, mm_value **out) {
    mm_srcloc loc = here(p);
    if (depth >= JSON_MAX_DEPTH)
        return fail_at(p, p->pos, "nesting deeper than %d levels",
                       JSON_MAX_DEPTH);
    mm_value *dict = mm_value_new_dict();
    if (!dict)
        return fail_nomem(p);
    mm_value_set_srcloc(dict, &loc);
    p->pos++;
    skip_ws(p);
    int rc = MM_OK;
    if (at(p, '}')) {
        p->pos++;
        goto done;
    }
    for (;;) {
        if (!at(p, '"')) {
            rc = fail_expected(p, "expected a string key");
            goto done;
        }
        mm_srcloc key_loc = here(p);
        size_t key_off;
        if ((rc = parse_string(p, &key_off)))
            goto done;
        /* Checked before the value is read so errors come in text order. */
        long first = mm_value_dict_index(dict, p->scratch.data + key_off);
        if (first >= 0) {
            rc = duplicate_key(dict, first, p->scratch.data + key_off, &key_loc);
            goto done;
        }
        skip_ws(p);
        if (!at(p, ':')) {
            rc = fail_expected(p, "expected ':' after object key");
            goto done;
        }
        p->pos++;
        skip_ws(p);
        mm_value *val = NULL;
        if ((rc = parse_value(p, depth + 1, &val)))
            goto done;
        /* The scratch buffer may have moved while the value was parsed. */
        const char *key = p->scratch.data + key_off;
        if (mm_value_dict_set_take(dict, key, val) ||
            mm_value_dict_set_key_loc(dict, key, &key_loc)) {
            rc = fail_nomem(p);
            goto done;
        }
        p->scratch.len = key_off;
        skip_ws(p);
        if (at(p, '}')) {
            p->pos++;
            break;
        }
        if (!at(p, ',')) {
            rc = fail_expected(p, "expected ',' or '}' after object member");
            goto done;
        }
        p->pos++;
        skip_ws(p);
        if (at(p, '}')) {
            rc = fail_at(p, p->pos, "trailing comma before '}'");
            goto done;
        }
    }
done:
    if (rc) {
        mm_value_release(dict);
        return rc;
    }
    *out = dict;
    return MM_OK;
}

/* At the first byte of a value (whitespace already skipped). */
static int parse_value(parser *p, int depth, mm_value **out) {
    if (p->pos >= p->len)
        return fail_unexpected(p);
    unsigned char c = p->s[p->pos];
    if (c == '{')
        return parse_object(p, depth, out);
    if (c == '[')
        return parse_array(p, depth, out);
    mm_srcloc loc = here(p);
    int rc;
    if (c == '"') {
        size_t off;
        if ((rc = parse_string(p, &off)))
            return rc;
        mm_value *v = mm_value_new_stringn(p->scratch.data + off,
                                           p->scratch.len - off - 1);
        p->scratch.len = off;
        if (!v)
            return fail_nomem(p);
        *out = v;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        if ((rc = parse_number(p, out)))
            return rc;
    } else if (is_alpha(c)) {
        if ((rc = parse_word(p, p->pos, out)))
            return rc;
    } else {
        return fail_unexpected(p);
    }
    mm_value_set_srcloc(*out, &loc);
    return MM_OK;
}

int mm_json_parse(const char *text, size_t len, const char *name,
                  mm_value **out) {
    *out = NULL;
    parser p = {.s = (const unsigned char *)text, .len = len, .line = 1};
    /* Interned once here rather than per value by mm_value_set_loc: the
     * intern table takes a process-wide lock. */
    p.file = mm_intern(name ? name : "<string>");
    if (!p.file)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (!text && len)
        return mm_error_set(MM_EINVAL, "mm_json_parse: NULL text");
    mm_value *v = NULL;
    skip_ws(&p);
    int rc = parse_value(&p, 0, &v);
    if (!rc) {
        skip_ws(&p);
        if (p.pos < p.len)
            rc = fail_expected(&p, "extra data after the JSON value");
    }
    mm_strbuf_free(&p.scratch);
    if (rc) {
        mm_value_release(v);
        return rc;
    }
    *out = v;
    return MM_OK;
}

/* ---- writing ------------------------------------------------------------ */

/* Python's json.dumps(ensure_ascii=False): only '"', '\\' and control
 * characters are escaped; other bytes (UTF-8 included) pass through. */
static void dump_string(mm_strbuf *sb, const char *s, size_t n) {
    mm_strbuf_putc(sb, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        mm_strbuf_append(sb, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            mm_strbuf_puts(sb, "\\\"");
            break;
        case '\\':
            mm_strbuf_puts(sb, "\\\\");
            break;
        case '\n':
            mm_strbuf_puts(sb, "\\n");
            break;
        case '\r':
            mm_strbuf_puts(sb, "\\r");
            break;
        case '\t':
            mm_strbuf_puts(sb, "\\t");
            break;
        case '\b':
            mm_strbuf_puts(sb, "\\b");
            break;
        case '\f':
            mm_strbuf_puts(sb, "\\f");
            break;
        default:
            mm_strbuf_printf(sb, "\\u%04x", c);
            break;
        }
    }
    mm_strbuf_append(sb, s + run, n - run);
    mm_strbuf_putc(sb, '"');
}

static void newline_indent(mm_strbuf *sb, int indent, int depth) {
    static const char spaces[] = "                                ";
    mm_strbuf_putc(sb, '\n');
    size_t n = (size_t)indent * (size_t)depth;
    while (n > 0 && !sb->failed) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        mm_strbuf_append(sb, spaces, k);
        n -= k;
    }
}

/* Between items: Python writes ", " on one line, and "," then a newline
 * when indenting. */
static void item_sep(mm_strbuf *sb, size_t i, int indent, int depth) {
    if (i > 0)
        mm_strbuf_puts(sb, indent ? "," : ", ");
    if (indent)
        newline_indent(sb, indent, depth);
}

static int dump_value(mm_strbuf *sb, const mm_value *v, int indent, int depth) {
    if (mm_strbuf_put_scalar(sb, v, true))
        return MM_OK;
    switch (mm_value_type_of(v)) {
    case MM_VALUE_STRING:
        dump_string(sb, mm_value_get_string(v), mm_value_string_len(v));
        break;
    case MM_VALUE_TENSOR: {
        char desc[128];
        mm_value_describe_object(v, desc, sizeof desc);
        dump_string(sb, desc, strlen(desc));
        break;
    }
    case MM_VALUE_LIST:
    case MM_VALUE_DICT: {
        bool is_list = mm_value_is_list(v);
        size_t n = mm_value_len(v);
        if (depth >= JSON_MAX_DEPTH)
            return mm_error_set(MM_EINVAL,
                                "cannot write JSON nested deeper than %d "
                                "levels (is there a cycle?)",
                                JSON_MAX_DEPTH);
        mm_strbuf_putc(sb, is_list ? '[' : '{');
        for (size_t i = 0; i < n && !sb->failed; i++) {
            item_sep(sb, i, indent, depth + 1);
            const mm_value *item;
            if (is_list) {
                item = mm_value_list_get(v, i);
            } else {
                const char *key = mm_value_dict_key_at(v, i);
                dump_string(sb, key, strlen(key));
                mm_strbuf_puts(sb, ": ");
                item = mm_value_dict_value_at(v, i);
            }
            int rc = dump_value(sb, item, indent, depth + 1);
            if (rc)
                return rc;
        }
        if (indent && n)
            newline_indent(sb, indent, depth);
        mm_strbuf_putc(sb, is_list ? ']' : '}');
        break;
    }
    default:
        return mm_error_set(MM_EINTERNAL, "unknown value type %d",
                            (int)mm_value_type_of(v));
    }
    return MM_OK;
}

int mm_json_dump(const mm_value *v, int indent, char **out) {
    *out = NULL;
    if (indent < 0)
        return mm_error_set(MM_EINVAL, "negative JSON indent %d", indent);
    mm_strbuf sb = {0};
    int rc = dump_value(&sb, v, indent, 0);
    if (rc) {
        mm_strbuf_free(&sb);
        return rc;
    }
    return mm_strbuf_finish(&sb, out);
}
