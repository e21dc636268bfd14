/* Growable text buffer, float formatting and edit distance. */
#include "strbuf.h"

#include <inttypes.h>

#include "mm/value.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(mm_strbuf *sb, size_t extra) {
    if (sb->failed)
        return false;
    if (sb->len + extra + 1 <= sb->cap)
        return true;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            sb->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *data = realloc(sb->data, cap);
    if (!data) {
        sb->failed = true;
        return false;
    }
    sb->data = data;
    sb->cap = cap;
    return true;
}

void mm_strbuf_append(mm_strbuf *sb, const char *s, size_t n) {
    if (!reserve(sb, n))
        return;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void mm_strbuf_puts(mm_strbuf *sb, const char *s) {
    mm_strbuf_append(sb, s, strlen(s));
}

void mm_strbuf_putc(mm_strbuf *sb, char c) { mm_strbuf_append(sb, &c, 1); }

void mm_strbuf_printf(mm_strbuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(sb, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

int mm_strbuf_finish(mm_strbuf *sb, char **out) {
    if (!sb->failed && !reserve(sb, 0))
        sb->failed = true;
    if (sb->failed) {
        mm_strbuf_free(sb);
        *out = NULL;
        return mm_error_set(MM_ENOMEM, "out of memory building text");
    }
    sb->data[sb->len] = '\0';
    *out = sb->data;
    sb->data = NULL;
    sb->len = sb->cap = 0;
    return MM_OK;
}

void mm_strbuf_free(mm_strbuf *sb) {
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

void mm_format_double(double d, bool json, char buf[32]) {
    if (isnan(d)) {
        strcpy(buf, json ? "NaN" : ".nan");
        return;
    }
    if (isinf(d)) {
        strcpy(buf, d > 0 ? (json ? "Infinity" : ".inf")
                          : (json ? "-Infinity" : "-.inf"));
        return;
    }
    /* Shortest digits that read back exactly: a correctly rounded 15-digit
     * form with its trailing zeros stripped is the shortest whenever one of
     * 15 digits or fewer exists; otherwise 16 or 17 digits. */
    char sci[40];
    /* Subnormals carry few significant bits: search from one digit up. */
    int first = fabs(d) < DBL_MIN ? 1 : 15;
    for (int prec = first; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
        if (strtod(sci, NULL) == d)
            break;
    }
    /* sci is "[-]D.DDDDe[+-]XX": split into sign, digits and exponent. */
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    size_t n = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && n < sizeof digits - 1)
            digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    int exp = *p == 'e' ? atoi(p + 1) : 0;

    /* Python's repr layout: fixed for 1e-4 <= |d| < 1e16, else exponent. */
    char *out = buf;
    if (neg)
        *out++ = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out += sprintf(out, "0.");
            for (int z = 0; z < -exp - 1; z++)
                *out++ = '0';
            out += sprintf(out, "%s", digits);
        } else {
            for (int i = 0; i <= exp; i++)
                *out++ = i < (int)n ? digits[i] : '0';
            *out++ = '.';
            if ((int)n > exp + 1)
                out += sprintf(out, "%s", digits + exp + 1);
            else
                *out++ = '0';
        }
        *out = '\0';
        return;
    }
    *out++ = digits[0];
    /* PyYAML only reads an exponent after a '.', so YAML always gets one. */
    if (n > 1 || !json)
        out += sprintf(out, ".%s", n > 1 ? digits + 1 : "0");
    sprintf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

size_t mm_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 256 || lb > 256)
        return (size_t)-1;
    size_t row[257];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

bool mm_strbuf_put_scalar(mm_strbuf *sb, const mm_value *v, bool json) {
    char buf[32];
    switch (mm_value_type_of(v)) {
    case MM_VALUE_NULL:
        mm_strbuf_puts(sb, "null");
        return true;
    case MM_VALUE_BOOL:
        mm_strbuf_puts(sb, mm_value_get_bool(v) ? "true" : "false");
        return true;
    case MM_VALUE_INT:
        mm_strbuf_printf(sb, "%" PRId64, mm_value_get_int(v));
        return true;
    case MM_VALUE_FLOAT:
        mm_format_double(mm_value_get_float(v), json, buf);
        mm_strbuf_puts(sb, buf);
        return true;
    default:
        return false;
    }
}

size_t mm_utf8_seq_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0x01 && c <= 0x7F)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

bool mm_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = mm_utf8_seq_len(u + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

size_t mm_str_hash(const char *s) {
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}
