/* A restricted pickle reader for the batch files of CIFAR's python version
 * (cifar-10-batches-py, cifar-100-python): a dict of strings, ints, lists
 * and numpy arrays. Pickles can run arbitrary code; this one understands
 * only the opcodes of protocols 0-4 that such files use and exactly three
 * callables - numpy's _reconstruct, numpy.dtype and _codecs.encode (how
 * Python 3 writes bytes at protocol 2) - and builds mm_values, never
 * calling anything. Anything else is refused in one line naming the file,
 * the offset and the opcode or global. Every length is checked against
 * the buffer (the file is hostile input).
 *
 * Results: None, bools, ints, floats, str and bytes (both as strings; a
 * Python 2 str arrives as bytes, read as latin-1 like mmpretrain's
 * `encoding='latin1'`), lists and tuples (lists), dicts with string keys,
 * and C-ordered arrays of u1, i1, i4 or i8 (tensors of u8, i32, i64). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/tensor.h>

#include "mmcls.h"

enum {
    K_VALUE,   /* v */
    K_MARK,
    K_GLOBAL,  /* which */
    K_DTYPE,   /* dtype, itemsize */
    K_ARRAY,   /* an ndarray waiting for BUILD (v set after it) */
    K_BYTES,   /* raw bytes (data, len); v made on demand */
};

enum { G_RECONSTRUCT, G_NDARRAY, G_DTYPE, G_ENCODE };

typedef struct item {
    int kind, which;
    mm_value *v;
    const unsigned char *data; /* K_BYTES: into the buffer or owned */
    unsigned char *owned;
    size_t len;
    mm_dtype dtype;
    int64_t itemsize;
    bool tuple;          /* a K_VALUE list made by TUPLE*: elems kept */
    struct item **elems;
    size_t n_elems;
} item;

typedef struct reader {
    const char *name;
    const unsigned char *buf;
    size_t len, pos;
    item **all; /* every item, freed at the end */
    size_t n_all, cap_all;
    item **stack;
    size_t sp, cap_stack;
    item **memo;
    size_t cap_memo, n_memo; /* n_memo: entries set (MEMOIZE's index) */
} reader;

static int fail(reader *r, const char *what) {
    return mm_error_set(MM_EINVAL, "%s: not a CIFAR batch pickle: %s at byte "
                                   "%zu (only numpy arrays, lists, dicts, "
                                   "strings and numbers are read)",
                        r->name, what, r->pos);
}

static item *new_item(reader *r, int kind) {
    if (r->n_all == r->cap_all) {
        size_t cap = r->cap_all ? r->cap_all * 2 : 64;
        item **a = realloc(r->all, cap * sizeof *a);
        if (!a)
            return NULL;
        r->all = a;
        r->cap_all = cap;
    }
    item *it = calloc(1, sizeof *it);
    if (it) {
        it->kind = kind;
        r->all[r->n_all++] = it;
    }
    return it;
}

static int push(reader *r, item *it) {
    if (!it)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (r->sp == r->cap_stack) {
        size_t cap = r->cap_stack ? r->cap_stack * 2 : 64;
        item **s = realloc(r->stack, cap * sizeof *s);
        if (!s)
            return mm_error_set(MM_ENOMEM, "out of memory");
        r->stack = s;
        r->cap_stack = cap;
    }
    r->stack[r->sp++] = it;
    return MM_OK;
}

static int push_value(reader *r, mm_value *v) {
    if (!v)
        return mm_error_set(MM_ENOMEM, "out of memory");
    item *it = new_item(r, K_VALUE);
    if (!it) {
        mm_value_release(v);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    it->v = v;
    return push(r, it);
}

static int pop(reader *r, item **out) {
    if (r->sp == 0 || r->stack[r->sp - 1]->kind == K_MARK)
        return fail(r, "stack underflow");
    *out = r->stack[--r->sp];
    return MM_OK;
}

/* The index of the topmost mark. */
static int find_mark(reader *r, size_t *at) {
    for (size_t i = r->sp; i-- > 0;)
        if (r->stack[i]->kind == K_MARK) {
            *at = i;
            return MM_OK;
        }
    return fail(r, "no mark on the stack");
}

static int need(reader *r, size_t n) {
    if (r->len - r->pos < n)
        return fail(r, "truncated data");
    return MM_OK;
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* An item as a value (borrowed): bytes become a string on first use. */
static int as_value(reader *r, item *it, mm_value **out) {
    if (it->kind == K_BYTES && !it->v) {
        it->v = mm_value_new_stringn((const char *)it->data, it->len);
        if (!it->v)
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    if ((it->kind != K_VALUE && it->kind != K_BYTES &&
         it->kind != K_ARRAY) || !it->v)
        return fail(r, it->kind == K_ARRAY ? "an array without its state"
                       : it->kind == K_MARK ? "a stray mark"
                                            : "a callable used as a value");
    *out = it->v;
    return MM_OK;
}

/* A tuple is a list value that also remembers its items (for REDUCE and
 * BUILD, which need the callables and dtypes inside). */
static int make_tuple(reader *r, item **elems, size_t n) {
    item *t = new_item(r, K_VALUE);
    if (!t || !(t->v = mm_value_new_list()))
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (n) {
        t->elems = malloc(n * sizeof *t->elems);
        if (!t->elems)
            return mm_error_set(MM_ENOMEM, "out of memory");
        memcpy(t->elems, elems, n * sizeof *elems);
    }
    t->n_elems = n;
    t->tuple = true;
    for (size_t i = 0; i < n; i++) {
        mm_value *v;
        /* callables and dtypes stay only in elems */
        if (elems[i]->kind == K_GLOBAL || elems[i]->kind == K_DTYPE ||
            (elems[i]->kind == K_ARRAY && !elems[i]->v))
            v = mm_value_new_null();
        else {
            MM_TRY(as_value(r, elems[i], &v));
            v = mm_value_retain(v);
        }
        if (mm_value_list_append_take(t->v, v))
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    return push(r, t);
}

static bool is_tuple(const item *it) {
    return it->kind == K_VALUE && it->tuple;
}

static int global(reader *r, const char *mod, const char *name) {
    static const struct {
        const char *mod, *name;
        int which;
    } ok[] = {
        {"numpy.core.multiarray", "_reconstruct", G_RECONSTRUCT},
        {"numpy._core.multiarray", "_reconstruct", G_RECONSTRUCT},
        {"numpy", "ndarray", G_NDARRAY},
        {"numpy", "dtype", G_DTYPE},
        {"_codecs", "encode", G_ENCODE},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(mod, ok[i].mod) && !strcmp(name, ok[i].name)) {
            item *it = new_item(r, K_GLOBAL);
            if (it)
                it->which = ok[i].which;
            return push(r, it);
        }
    char what[300];
    snprintf(what, sizeof what, "the global %.120s.%.120s", mod, name);
    return fail(r, what);
}

static const char *str_of(const item *it) {
    return (it->kind == K_VALUE && mm_value_is_string(it->v)) ||
                   it->kind == K_BYTES
               ? (it->v ? mm_value_get_string(it->v) : NULL)
               : NULL;
}

/* UTF-8 text of code points < 256 -> latin-1 bytes (_codecs.encode). */
static int latin1(reader *r, const char *s, size_t n, item **out) {
    item *b = new_item(r, K_BYTES);
    if (!b || !(b->owned = malloc(n ? n : 1)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            b->owned[k++] = c;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < n && c <= 0xC3) {
            b->owned[k++] = (unsigned char)((c & 0x1F) << 6 |
                                            ((unsigned char)s[++i] & 0x3F));
        } else {
            return fail(r, "a non-latin-1 string in _codecs.encode");
        }
    }
    b->data = b->owned;
    b->len = k;
    *out = b;
    return MM_OK;
}

static int reduce(reader *r) {
    item *args, *fn;
    MM_TRY(pop(r, &args));
    MM_TRY(pop(r, &fn));
    if (fn->kind != K_GLOBAL || !is_tuple(args))
        return fail(r, "REDUCE of something other than an allowed global");
    size_t n = args->n_elems;
    item **a = args->elems;
    if (fn->which == G_ENCODE) {
        /* _codecs.encode(text, 'latin1') */
        if (n != 2 || !str_of(a[0]) || !str_of(a[1]) ||
            (strcmp(str_of(a[1]), "latin1") && strcmp(str_of(a[1]), "latin-1")))
            return fail(r, "_codecs.encode other than (str, 'latin1')");
        item *b = NULL;
        MM_TRY(latin1(r, str_of(a[0]), mm_value_string_len(a[0]->v), &b));
        return push(r, b);
    }
    if (fn->which == G_DTYPE) {
        const char *d = n >= 1 ? str_of(a[0]) : NULL;
        static const struct {
            const char *name;
            mm_dtype dt;
            int64_t size;
        } dts[] = {{"u1", MM_U8, 1}, {"i4", MM_I32, 4}, {"i8", MM_I64, 8}};
        for (size_t i = 0; d && i < sizeof dts / sizeof dts[0]; i++)
            if (!strcmp(d, dts[i].name)) {
                item *it = new_item(r, K_DTYPE);
                if (it) {
                    it->dtype = dts[i].dt;
                    it->itemsize = dts[i].size;
                }
                return push(r, it);
            }
        return fail(r, "a numpy dtype other than u1, i4, i8");
    }
    if (fn->which == G_RECONSTRUCT) {
        if (n < 1 || a[0]->kind != K_GLOBAL || a[0]->which != G_NDARRAY)
            return fail(r, "_reconstruct of something other than ndarray");
        return push(r, new_item(r, K_ARRAY));
    }
    return fail(r, "a call of numpy.ndarray");
}

/* BUILD: a dtype's state is checked for its byte order; an array's state
 * (version, shape, dtype, is_fortran, data) becomes its tensor. */
static int build(reader *r) {
    item *state, *obj;
    MM_TRY(pop(r, &state));
    MM_TRY(pop(r, &obj));
    if (obj->kind == K_DTYPE) {
        const char *order = is_tuple(state) && state->n_elems >= 2
                                ? str_of(state->elems[1])
                                : NULL;
        if (!order || (strcmp(order, "|") && strcmp(order, "<") &&
                       strcmp(order, "=")))
            return fail(r, "a big-endian or unknown numpy dtype");
        return push(r, obj);
    }
    if (obj->kind != K_ARRAY || obj->v || !is_tuple(state) ||
        state->n_elems != 5)
        return fail(r, "BUILD of something other than a numpy array");
    item **s = state->elems;
    const mm_value *shape = s[1]->kind == K_VALUE ? s[1]->v : NULL;
    if (s[2]->kind != K_DTYPE || !mm_value_is_list(shape) ||
        mm_value_len(shape) > 8 || s[4]->kind != K_BYTES)
        return fail(r, "a numpy array state that is not (version, shape, "
                       "dtype, fortran, bytes)");
    if (s[3]->kind != K_VALUE || !mm_value_is_bool(s[3]->v) ||
        mm_value_get_bool(s[3]->v))
        return fail(r, "a Fortran-ordered numpy array");
    int64_t dims[8];
    uint64_t total = 1;
    int nd = (int)mm_value_len(shape);
    for (int i = 0; i < nd; i++) {
        const mm_value *d = mm_value_list_get(shape, (size_t)i);
        if (!mm_value_is_int(d) || mm_value_get_int(d) < 0 ||
            mm_value_get_int(d) > ((int64_t)1 << 40))
            return fail(r, "a bad numpy array shape");
        dims[i] = mm_value_get_int(d);
        total *= (uint64_t)dims[i];
        if (total > ((uint64_t)1 << 40))
            return fail(r, "a bad numpy array shape");
    }
    if (total * (uint64_t)s[2]->itemsize != s[4]->len)
        return fail(r, "a numpy array whose data does not fill its shape");
    mm_pool *pool;
    mm_tensor *t = NULL;
    MM_TRY(mm_pool_open(&pool));
    int rc = mm_from_data(s[4]->data, nd, dims, s[2]->dtype, &t);
    if (!rc && !(obj->v = mm_tensor_to_value(t)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    mm_pool_close(pool);
    MM_TRY(rc);
    return push(r, obj);
}

static int memo_put(reader *r, size_t idx) {
    if (r->sp == 0)
        return fail(r, "memo of an empty stack");
    if (idx > ((size_t)1 << 20))
        return fail(r, "a memo index too large");
    if (idx >= r->cap_memo) {
        size_t cap = idx * 2 + 16;
        item **m = realloc(r->memo, cap * sizeof *m);
        if (!m)
            return mm_error_set(MM_ENOMEM, "out of memory");
        memset(m + r->cap_memo, 0, (cap - r->cap_memo) * sizeof *m);
        r->memo = m;
        r->cap_memo = cap;
    }
    if (!r->memo[idx])
        r->n_memo++;
    r->memo[idx] = r->stack[r->sp - 1];
    return MM_OK;
}

static int memo_get(reader *r, size_t idx) {
    if (idx >= r->cap_memo || !r->memo[idx])
        return fail(r, "a memo reference to nothing");
    return push(r, r->memo[idx]);
}

static int append_items(reader *r, item *list, item **elems, size_t n) {
    if (list->kind != K_VALUE || !mm_value_is_list(list->v) || is_tuple(list))
        return fail(r, "APPEND to something other than a list");
    for (size_t i = 0; i < n; i++) {
        mm_value *v;
        MM_TRY(as_value(r, elems[i], &v));
        if (mm_value_list_append(list->v, v))
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    return MM_OK;
}

static int set_items(reader *r, item *dict, item **kv, size_t n) {
    if (dict->kind != K_VALUE || !mm_value_is_dict(dict->v) || n % 2)
        return fail(r, "SETITEMS on something other than a dict");
    for (size_t i = 0; i < n; i += 2) {
        const char *key = str_of(kv[i]);
        if (!key || strlen(key) != (kv[i]->v ? mm_value_string_len(kv[i]->v)
                                             : kv[i]->len))
            return fail(r, "a dict key that is not a string");
        mm_value *v;
        MM_TRY(as_value(r, kv[i + 1], &v));
        if (mm_value_dict_set(dict->v, key, v))
            return mm_error_set(MM_ENOMEM, "out of memory");
    }
    return MM_OK;
}

/* A length-prefixed string at pos: bytes (K_BYTES) or text (a string). */
static int read_counted(reader *r, int width, bool text) {
    MM_TRY(need(r, (size_t)width));
    uint64_t n = le(r->buf + r->pos, width);
    r->pos += (size_t)width;
    if (n > r->len - r->pos)
        return fail(r, "truncated data");
    const unsigned char *p = r->buf + r->pos;
    r->pos += (size_t)n;
    if (text)
        return push_value(r, mm_value_new_stringn((const char *)p, n));
    item *b = new_item(r, K_BYTES);
    if (!b)
        return mm_error_set(MM_ENOMEM, "out of memory");
    b->data = p;
    b->len = (size_t)n;
    /* keys and short strings are wanted as text (latin-1 of ASCII) */
    if (n < 256)
        MM_TRY(as_value(r, b, &(mm_value *){0}));
    return push(r, b);
}

/* A newline-terminated line (GLOBAL's module and name). */
static int read_line(reader *r, char *out, size_t size) {
    const unsigned char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
    if (!nl)
        return fail(r, "truncated data");
    size_t n = (size_t)(nl - (r->buf + r->pos));
    if (n >= size)
        return fail(r, "a global name too long");
    memcpy(out, r->buf + r->pos, n);
    out[n] = 0;
    r->pos += n + 1;
    return MM_OK;
}

static int run(reader *r, mm_value **out) {
    for (;;) {
        MM_TRY(need(r, 1));
        unsigned char op = r->buf[r->pos++];
        item *a, *b;
        size_t m;
        switch (op) {
        case 0x80: /* PROTO */
            MM_TRY(need(r, 1));
            if (r->buf[r->pos] > 4)
                return fail(r, "pickle protocol 5 or later");
            r->pos++;
            break;
        case 0x95: /* FRAME: a hint only */
            MM_TRY(need(r, 8));
            r->pos += 8;
            break;
        case '.': /* STOP */
            MM_TRY(pop(r, &a));
            if (r->sp)
                return fail(r, "items left on the stack at STOP");
            MM_TRY(as_value(r, a, out));
            mm_value_retain(*out);
            return MM_OK;
        case '(':
            MM_TRY(push(r, new_item(r, K_MARK)));
            break;
        case '}':
            MM_TRY(push_value(r, mm_value_new_dict()));
            break;
        case ']':
            MM_TRY(push_value(r, mm_value_new_list()));
            break;
        case ')':
            MM_TRY(make_tuple(r, NULL, 0));
            break;
        case 'N':
            MM_TRY(push_value(r, mm_value_new_null()));
            break;
        case 0x88:
        case 0x89:
            MM_TRY(push_value(r, mm_value_new_bool(op == 0x88)));
            break;
        case 'K':
            MM_TRY(need(r, 1));
            MM_TRY(push_value(r, mm_value_new_int(r->buf[r->pos++])));
            break;
        case 'M':
            MM_TRY(need(r, 2));
            MM_TRY(push_value(r, mm_value_new_int((int64_t)le(r->buf + r->pos,
                                                              2))));
            r->pos += 2;
            break;
        case 'J':
            MM_TRY(need(r, 4));
            MM_TRY(push_value(r, mm_value_new_int(
                                     (int32_t)(uint32_t)le(r->buf + r->pos,
                                                           4))));
            r->pos += 4;
            break;
        case 0x8a: { /* LONG1: little-endian two's complement, up to 8 */
            MM_TRY(need(r, 1));
            size_t n = r->buf[r->pos++];
            MM_TRY(need(r, n));
            if (n > 8)
                return fail(r, "an integer larger than 64 bits");
            uint64_t v = n ? le(r->buf + r->pos, (int)n) : 0;
            if (n && n < 8 && (r->buf[r->pos + n - 1] & 0x80))
                v |= ~(uint64_t)0 << (8 * n);
            r->pos += n;
            MM_TRY(push_value(r, mm_value_new_int((int64_t)v)));
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            MM_TRY(need(r, 8));
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++)
                bits = bits << 8 | r->buf[r->pos + i];
            r->pos += 8;
            double d;
            memcpy(&d, &bits, sizeof d);
            MM_TRY(push_value(r, mm_value_new_float(d)));
            break;
        }
        case 'U': /* SHORT_BINSTRING (Python 2 str: bytes) */
        case 'C': /* SHORT_BINBYTES */
            MM_TRY(read_counted(r, 1, false));
            break;
        case 'T': /* BINSTRING */
        case 'B': /* BINBYTES */
            MM_TRY(read_counted(r, 4, false));
            break;
        case 0x8e: /* BINBYTES8 */
            MM_TRY(read_counted(r, 8, false));
            break;
        case 0x8c: /* SHORT_BINUNICODE */
            MM_TRY(read_counted(r, 1, true));
            break;
        case 'X': /* BINUNICODE */
            MM_TRY(read_counted(r, 4, true));
            break;
        case 0x8d: /* BINUNICODE8 */
            MM_TRY(read_counted(r, 8, true));
            break;
        case 'q': /* BINPUT */
            MM_TRY(need(r, 1));
            MM_TRY(memo_put(r, r->buf[r->pos++]));
            break;
        case 'r': /* LONG_BINPUT */
            MM_TRY(need(r, 4));
            MM_TRY(memo_put(r, (size_t)le(r->buf + r->pos, 4)));
            r->pos += 4;
            break;
        case 0x94: /* MEMOIZE: memo[len(memo)] */
            MM_TRY(memo_put(r, r->n_memo));
            break;
        case 'h': /* BINGET */
            MM_TRY(need(r, 1));
            MM_TRY(memo_get(r, r->buf[r->pos++]));
            break;
        case 'j': /* LONG_BINGET */
            MM_TRY(need(r, 4));
            MM_TRY(memo_get(r, (size_t)le(r->buf + r->pos, 4)));
            r->pos += 4;
            break;
        case 't': /* TUPLE */
            MM_TRY(find_mark(r, &m));
            {
                size_t n = r->sp - m - 1;
                item **el = malloc((n ? n : 1) * sizeof *el);
                if (!el)
                    return mm_error_set(MM_ENOMEM, "out of memory");
                memcpy(el, r->stack + m + 1, n * sizeof *el);
                r->sp = m;
                int rc = make_tuple(r, el, n);
                free(el);
                MM_TRY(rc);
            }
            break;
        case 0x85:
        case 0x86:
        case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            if (r->sp < n)
                return fail(r, "stack underflow");
            for (size_t i = r->sp - n; i < r->sp; i++)
                if (r->stack[i]->kind == K_MARK)
                    return fail(r, "a stray mark");
            item *el[3];
            memcpy(el, r->stack + r->sp - n, n * sizeof *el);
            r->sp -= n;
            MM_TRY(make_tuple(r, el, n));
            break;
        }
        case 'a': /* APPEND */
            MM_TRY(pop(r, &a));
            MM_TRY(pop(r, &b));
            MM_TRY(append_items(r, b, &a, 1));
            MM_TRY(push(r, b));
            break;
        case 'e': /* APPENDS */
            MM_TRY(find_mark(r, &m));
            if (m == 0)
                return fail(r, "stack underflow");
            MM_TRY(append_items(r, r->stack[m - 1], r->stack + m + 1,
                                r->sp - m - 1));
            r->sp = m;
            break;
        case 's': { /* SETITEM */
            item *kv[2];
            MM_TRY(pop(r, &kv[1]));
            MM_TRY(pop(r, &kv[0]));
            MM_TRY(pop(r, &b));
            MM_TRY(set_items(r, b, kv, 2));
            MM_TRY(push(r, b));
            break;
        }
        case 'u': /* SETITEMS */
            MM_TRY(find_mark(r, &m));
            if (m == 0)
                return fail(r, "stack underflow");
            MM_TRY(set_items(r, r->stack[m - 1], r->stack + m + 1,
                             r->sp - m - 1));
            r->sp = m;
            break;
        case 'c': { /* GLOBAL */
            char mod[128], name[128];
            MM_TRY(read_line(r, mod, sizeof mod));
            MM_TRY(read_line(r, name, sizeof name));
            MM_TRY(global(r, mod, name));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            MM_TRY(pop(r, &b));
            MM_TRY(pop(r, &a));
            if (!str_of(a) || !str_of(b))
                return fail(r, "STACK_GLOBAL of non-strings");
            MM_TRY(global(r, str_of(a), str_of(b)));
            break;
        case 'R':
            MM_TRY(reduce(r));
            break;
        case 'b':
            MM_TRY(build(r));
            break;
        default: {
            char what[64];
            r->pos--;
            snprintf(what, sizeof what, "the opcode 0x%02x", op);
            return fail(r, what);
        }
        }
    }
}

int mmcls_pickle_parse(const char *name, const void *data, size_t len,
                       mm_value **out) {
    reader r = {.name = name, .buf = data, .len = len};
    *out = NULL;
    int rc = run(&r, out);
    for (size_t i = 0; i < r.n_all; i++) {
        mm_value_release(r.all[i]->v);
        free(r.all[i]->owned);
        free(r.all[i]->elems);
        free(r.all[i]);
    }
    free(r.all);
    free(r.stack);
    free(r.memo);
    return rc;
}
