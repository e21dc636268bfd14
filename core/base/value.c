/* mm_value: refcounted dynamic values with source locations. */
#include "mm/value.h"

#include "strbuf.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct dict_entry {
    char *key;
    mm_value *val;
    mm_srcloc key_loc;
} dict_entry;

struct mm_value {
    atomic_long refs;
    mm_value_type type;
    mm_srcloc loc;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            char *s;
            size_t len;
        } str;
        struct {
            mm_value **items;
            size_t len, cap;
        } list;
        struct {
            dict_entry *entries;
            size_t len, cap;
            /* Open-addressing index of entry positions + 1 (0 = empty),
             * built once a dict outgrows a linear scan. */
            uint32_t *index;
            size_t index_cap;
        } dict;
        struct {
            void *obj;
            const mm_value_object_class *cls;
        } tensor;
    } u;
};

static const char *const type_names[MM_VALUE_TYPE_COUNT] = {
    [MM_VALUE_NULL] = "null",     [MM_VALUE_BOOL] = "bool",
    [MM_VALUE_INT] = "int",       [MM_VALUE_FLOAT] = "float",
    [MM_VALUE_STRING] = "string", [MM_VALUE_LIST] = "list",
    [MM_VALUE_DICT] = "dict",     [MM_VALUE_TENSOR] = "tensor",
};
_Static_assert(sizeof type_names / sizeof type_names[0] == MM_VALUE_TYPE_COUNT,
               "one name per value type");

const char *mm_value_type_name(mm_value_type t) {
    return (unsigned)t < MM_VALUE_TYPE_COUNT ? type_names[t] : "?";
}

static mm_value *alloc_value(mm_value_type type) {
    mm_value *v = calloc(1, sizeof *v);
    if (!v) {
        mm_error_set(MM_ENOMEM, "out of memory allocating a value");
        return NULL;
    }
    atomic_init(&v->refs, 1);
    v->type = type;
    return v;
}

mm_value *mm_value_new_null(void) { return alloc_value(MM_VALUE_NULL); }

mm_value *mm_value_new_bool(bool b) {
    mm_value *v = alloc_value(MM_VALUE_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

mm_value *mm_value_new_int(int64_t i) {
    mm_value *v = alloc_value(MM_VALUE_INT);
    if (v)
        v->u.i = i;
    return v;
}

mm_value *mm_value_new_float(double d) {
    mm_value *v = alloc_value(MM_VALUE_FLOAT);
    if (v)
        v->u.f = d;
    return v;
}

mm_value *mm_value_new_stringn(const char *s, size_t len) {
    mm_value *v = alloc_value(MM_VALUE_STRING);
    if (!v)
        return NULL;
    v->u.str.s = malloc(len + 1);
    if (!v->u.str.s) {
        free(v);
        mm_error_set(MM_ENOMEM, "out of memory allocating a string");
        return NULL;
    }
    if (len)
        memcpy(v->u.str.s, s, len);
    v->u.str.s[len] = '\0';
    v->u.str.len = len;
    return v;
}

mm_value *mm_value_new_string(const char *s) {
    return mm_value_new_stringn(s, strlen(s));
}

mm_value *mm_value_new_list(void) { return alloc_value(MM_VALUE_LIST); }

mm_value *mm_value_new_dict(void) { return alloc_value(MM_VALUE_DICT); }

mm_value *mm_value_new_tensor(void *obj, const mm_value_object_class *cls) {
    mm_value *v = alloc_value(MM_VALUE_TENSOR);
    if (!v)
        return NULL;
    v->u.tensor.obj = obj;
    v->u.tensor.cls = cls;
    if (cls && cls->retain)
        cls->retain(obj);
    return v;
}

mm_value *mm_value_retain(mm_value *v) {
    if (v)
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
    return v;
}

void mm_value_release(mm_value *v) {
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    switch (v->type) {
    case MM_VALUE_STRING:
        free(v->u.str.s);
        break;
    case MM_VALUE_LIST:
        for (size_t i = 0; i < v->u.list.len; i++)
            mm_value_release(v->u.list.items[i]);
        free(v->u.list.items);
        break;
    case MM_VALUE_DICT:
        for (size_t i = 0; i < v->u.dict.len; i++) {
            free(v->u.dict.entries[i].key);
            mm_value_release(v->u.dict.entries[i].val);
        }
        free(v->u.dict.entries);
        free(v->u.dict.index);
        break;
    case MM_VALUE_TENSOR:
        if (v->u.tensor.cls && v->u.tensor.cls->release)
            v->u.tensor.cls->release(v->u.tensor.obj);
        break;
    default:
        break;
    }
    free(v);
}

mm_value *mm_value_copy(const mm_value *v) {
    if (!v)
        return NULL;
    mm_value *c = NULL;
    switch (v->type) {
    case MM_VALUE_NULL:
        c = mm_value_new_null();
        break;
    case MM_VALUE_BOOL:
        c = mm_value_new_bool(v->u.b);
        break;
    case MM_VALUE_INT:
        c = mm_value_new_int(v->u.i);
        break;
    case MM_VALUE_FLOAT:
        c = mm_value_new_float(v->u.f);
        break;
    case MM_VALUE_STRING:
        c = mm_value_new_stringn(v->u.str.s, v->u.str.len);
        break;
    case MM_VALUE_TENSOR:
        c = mm_value_new_tensor(v->u.tensor.obj, v->u.tensor.cls);
        break;
    case MM_VALUE_LIST:
        c = mm_value_new_list();
        for (size_t i = 0; c && i < v->u.list.len; i++) {
            if (mm_value_list_append_take(c, mm_value_copy(v->u.list.items[i])))
                goto fail;
        }
        break;
    case MM_VALUE_DICT:
        c = mm_value_new_dict();
        for (size_t i = 0; c && i < v->u.dict.len; i++) {
            const dict_entry *e = &v->u.dict.entries[i];
            if (mm_value_dict_set_take(c, e->key, mm_value_copy(e->val)))
                goto fail;
            c->u.dict.entries[i].key_loc = e->key_loc;
        }
        break;
    default:
        break;
    }
    if (c)
        c->loc = v->loc;
    return c;
fail:
    mm_value_release(c);
    return NULL;
}

mm_value_type mm_value_type_of(const mm_value *v) {
    return v ? v->type : MM_VALUE_NULL;
}

bool mm_value_is_null(const mm_value *v) { return !v || v->type == MM_VALUE_NULL; }
bool mm_value_is_bool(const mm_value *v) { return v && v->type == MM_VALUE_BOOL; }
bool mm_value_is_int(const mm_value *v) { return v && v->type == MM_VALUE_INT; }
bool mm_value_is_float(const mm_value *v) { return v && v->type == MM_VALUE_FLOAT; }
bool mm_value_is_number(const mm_value *v) {
    return v && (v->type == MM_VALUE_INT || v->type == MM_VALUE_FLOAT);
}
bool mm_value_is_string(const mm_value *v) { return v && v->type == MM_VALUE_STRING; }
bool mm_value_is_list(const mm_value *v) { return v && v->type == MM_VALUE_LIST; }
bool mm_value_is_dict(const mm_value *v) { return v && v->type == MM_VALUE_DICT; }

bool mm_value_get_bool(const mm_value *v) {
    MM_ASSERT(v && v->type == MM_VALUE_BOOL);
    return v->u.b;
}

int64_t mm_value_get_int(const mm_value *v) {
    MM_ASSERT(v && v->type == MM_VALUE_INT);
    return v->u.i;
}

double mm_value_get_float(const mm_value *v) {
    MM_ASSERT(mm_value_is_number(v));
    return v->type == MM_VALUE_INT ? (double)v->u.i : v->u.f;
}

const char *mm_value_get_string(const mm_value *v) {
    MM_ASSERT(v && v->type == MM_VALUE_STRING);
    return v->u.str.s;
}

size_t mm_value_string_len(const mm_value *v) {
    MM_ASSERT(v && v->type == MM_VALUE_STRING);
    return v->u.str.len;
}

void *mm_value_get_tensor(const mm_value *v) {
    MM_ASSERT(v && v->type == MM_VALUE_TENSOR);
    return v->u.tensor.obj;
}

const mm_value_object_class *mm_value_get_object_class(const mm_value *v) {
    return v && v->type == MM_VALUE_TENSOR ? v->u.tensor.cls : NULL;
}

void mm_value_describe_object(const mm_value *v, char *buf, size_t size) {
    const mm_value_object_class *cls = mm_value_get_object_class(v);
    if (!size)
        return;
    if (cls && cls->describe)
        cls->describe(v->u.tensor.obj, buf, size);
    else
        snprintf(buf, size, "<tensor>");
}

enum { DICT_INDEX_MIN = 16 };

static void index_insert(mm_value *d, size_t pos) {
    size_t mask = d->u.dict.index_cap - 1;
    size_t j = mm_str_hash(d->u.dict.entries[pos].key) & mask;
    while (d->u.dict.index[j])
        j = (j + 1) & mask;
    d->u.dict.index[j] = (uint32_t)(pos + 1);
}

/* (Re)builds the index for the current entries; on allocation failure the
 * dict simply stays without one and lookups scan. */
static void index_rebuild(mm_value *d) {
    free(d->u.dict.index);
    d->u.dict.index = NULL;
    d->u.dict.index_cap = 0;
    if (d->u.dict.len < DICT_INDEX_MIN || d->u.dict.len >= UINT32_MAX / 4)
        return;
    size_t cap = 64;
    while (cap < d->u.dict.len * 2)
        cap *= 2;
    d->u.dict.index = calloc(cap, sizeof *d->u.dict.index);
    if (!d->u.dict.index)
        return;
    d->u.dict.index_cap = cap;
    for (size_t i = 0; i < d->u.dict.len; i++)
        index_insert(d, i);
}

static long dict_find(const mm_value *d, const char *key) {
    if (d->u.dict.index) {
        size_t mask = d->u.dict.index_cap - 1;
        for (size_t j = mm_str_hash(key) & mask; d->u.dict.index[j]; j = (j + 1) & mask) {
            size_t pos = d->u.dict.index[j] - 1;
            if (strcmp(d->u.dict.entries[pos].key, key) == 0)
                return (long)pos;
        }
        return -1;
    }
    for (size_t i = 0; i < d->u.dict.len; i++)
        if (strcmp(d->u.dict.entries[i].key, key) == 0)
            return (long)i;
    return -1;
}

bool mm_value_equal(const mm_value *a, const mm_value *b) {
    if (a == b)
        return true;
    if (!a || !b || a->type != b->type)
        return false;
    switch (a->type) {
    case MM_VALUE_NULL:
        return true;
    case MM_VALUE_BOOL:
        return a->u.b == b->u.b;
    case MM_VALUE_INT:
        return a->u.i == b->u.i;
    case MM_VALUE_FLOAT:
        return a->u.f == b->u.f || (a->u.f != a->u.f && b->u.f != b->u.f);
    case MM_VALUE_STRING:
        return a->u.str.len == b->u.str.len &&
               memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case MM_VALUE_TENSOR:
        return a->u.tensor.obj == b->u.tensor.obj;
    case MM_VALUE_LIST:
        if (a->u.list.len != b->u.list.len)
            return false;
        for (size_t i = 0; i < a->u.list.len; i++)
            if (!mm_value_equal(a->u.list.items[i], b->u.list.items[i]))
                return false;
        return true;
    case MM_VALUE_DICT:
        if (a->u.dict.len != b->u.dict.len)
            return false;
        for (size_t i = 0; i < a->u.dict.len; i++) {
            long j = dict_find(b, a->u.dict.entries[i].key);
            if (j < 0 || !mm_value_equal(a->u.dict.entries[i].val,
                                         b->u.dict.entries[j].val))
                return false;
        }
        return true;
    default:
        return false;
    }
}

const mm_srcloc *mm_value_loc(const mm_value *v) { return v ? &v->loc : NULL; }

void mm_value_set_loc(mm_value *v, const char *file, int line, int col) {
    if (!v)
        return;
    v->loc.file = mm_intern(file);
    v->loc.line = line;
    v->loc.col = col;
}

void mm_value_set_srcloc(mm_value *v, const mm_srcloc *loc) {
    if (v && loc)
        v->loc = *loc;
}

size_t mm_value_len(const mm_value *v) {
    if (!v)
        return 0;
    if (v->type == MM_VALUE_LIST)
        return v->u.list.len;
    if (v->type == MM_VALUE_DICT)
        return v->u.dict.len;
    return 0;
}

mm_value *mm_value_list_get(const mm_value *list, size_t i) {
    if (!mm_value_is_list(list) || i >= list->u.list.len)
        return NULL;
    return list->u.list.items[i];
}

int mm_value_list_append_take(mm_value *list, mm_value *item) {
    if (!item)
        return mm_error_code() ? mm_error_code() : MM_ENOMEM;
    if (!mm_value_is_list(list)) {
        mm_value_release(item);
        return mm_error_set(MM_ETYPE, "append to a %s, not a list",
                            mm_value_type_name(mm_value_type_of(list)));
    }
    if (list->u.list.len == list->u.list.cap) {
        size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        mm_value **items = realloc(list->u.list.items, cap * sizeof *items);
        if (!items) {
            mm_value_release(item);
            return mm_error_set(MM_ENOMEM, "out of memory growing a list");
        }
        list->u.list.items = items;
        list->u.list.cap = cap;
    }
    list->u.list.items[list->u.list.len++] = item;
    return MM_OK;
}

int mm_value_list_append(mm_value *list, mm_value *item) {
    return mm_value_list_append_take(list, mm_value_retain(item));
}

int mm_value_list_set_take(mm_value *list, size_t i, mm_value *item) {
    if (!item)
        return mm_error_code() ? mm_error_code() : MM_ENOMEM;
    if (!mm_value_is_list(list) || i >= list->u.list.len) {
        mm_value_release(item);
        return mm_error_set(MM_ERANGE, "list index %zu out of range", i);
    }
    mm_value_release(list->u.list.items[i]);
    list->u.list.items[i] = item;
    return MM_OK;
}

int mm_value_list_set(mm_value *list, size_t i, mm_value *item) {
    return mm_value_list_set_take(list, i, mm_value_retain(item));
}

mm_value *mm_value_dict_get(const mm_value *dict, const char *key) {
    if (!mm_value_is_dict(dict))
        return NULL;
    long i = dict_find(dict, key);
    return i < 0 ? NULL : dict->u.dict.entries[i].val;
}

long mm_value_dict_index(const mm_value *dict, const char *key) {
    return mm_value_is_dict(dict) ? dict_find(dict, key) : -1;
}

int mm_value_dict_set_take(mm_value *dict, const char *key, mm_value *val) {
    if (!val)
        return mm_error_code() ? mm_error_code() : MM_ENOMEM;
    if (!mm_value_is_dict(dict)) {
        mm_value_release(val);
        return mm_error_set(MM_ETYPE, "set key '%s' on a %s, not a dict", key,
                            mm_value_type_name(mm_value_type_of(dict)));
    }
    long i = dict_find(dict, key);
    if (i >= 0) {
        mm_value_release(dict->u.dict.entries[i].val);
        dict->u.dict.entries[i].val = val;
        return MM_OK;
    }
    if (dict->u.dict.len == dict->u.dict.cap) {
        size_t cap = dict->u.dict.cap ? dict->u.dict.cap * 2 : 4;
        dict_entry *e = realloc(dict->u.dict.entries, cap * sizeof *e);
        if (!e) {
            mm_value_release(val);
            return mm_error_set(MM_ENOMEM, "out of memory growing a dict");
        }
        dict->u.dict.entries = e;
        dict->u.dict.cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        mm_value_release(val);
        return mm_error_set(MM_ENOMEM, "out of memory copying a key");
    }
    dict->u.dict.entries[dict->u.dict.len++] =
        (dict_entry){.key = k, .val = val, .key_loc = val->loc};
    if (dict->u.dict.index && dict->u.dict.len * 2 <= dict->u.dict.index_cap)
        index_insert(dict, dict->u.dict.len - 1);
    else if (dict->u.dict.len >= DICT_INDEX_MIN)
        index_rebuild(dict);
    return MM_OK;
}

int mm_value_dict_set(mm_value *dict, const char *key, mm_value *val) {
    return mm_value_dict_set_take(dict, key, mm_value_retain(val));
}

int mm_value_dict_del(mm_value *dict, const char *key) {
    if (!mm_value_is_dict(dict))
        return MM_ENOENT;
    long i = dict_find(dict, key);
    if (i < 0)
        return MM_ENOENT;
    free(dict->u.dict.entries[i].key);
    mm_value_release(dict->u.dict.entries[i].val);
    memmove(&dict->u.dict.entries[i], &dict->u.dict.entries[i + 1],
            (dict->u.dict.len - (size_t)i - 1) * sizeof(dict_entry));
    dict->u.dict.len--;
    index_rebuild(dict); /* positions after i moved */
    return MM_OK;
}

const char *mm_value_dict_key_at(const mm_value *dict, size_t i) {
    if (!mm_value_is_dict(dict) || i >= dict->u.dict.len)
        return NULL;
    return dict->u.dict.entries[i].key;
}

mm_value *mm_value_dict_value_at(const mm_value *dict, size_t i) {
    if (!mm_value_is_dict(dict) || i >= dict->u.dict.len)
        return NULL;
    return dict->u.dict.entries[i].val;
}

const mm_srcloc *mm_value_dict_key_loc_at(const mm_value *dict, size_t i) {
    if (!mm_value_is_dict(dict) || i >= dict->u.dict.len)
        return NULL;
    return &dict->u.dict.entries[i].key_loc;
}

int mm_value_dict_set_key_loc(mm_value *dict, const char *key,
                              const mm_srcloc *loc) {
    if (!mm_value_is_dict(dict) || !loc)
        return MM_ENOENT;
    long i = dict_find(dict, key);
    if (i < 0)
        return MM_ENOENT;
    dict->u.dict.entries[i].key_loc = *loc;
    return MM_OK;
}
