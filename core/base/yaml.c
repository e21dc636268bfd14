/* YAML <-> mm_value through libyaml, with PyYAML's YAML 1.1 scalar rules. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "mm/value.h"
#include "strbuf.h"

/* Alias expansion is capped so a "billion laughs" document is an error,
 * not an out-of-memory kill. */
enum { MAX_NODES = 1 << 20, MAX_DEPTH = 512 };

/* ---- plain scalar resolution (PyYAML's implicit resolvers) -------------- */

static bool is_one_of(const char *s, size_t n, const char *const *words) {
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(*words, s, n) == 0)
            return true;
    return false;
}

/* Copies s without '_' into buf (NUL-terminated); false if too long. */
static bool strip_underscores(const char *s, size_t n, char *buf, size_t cap) {
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_')
            continue;
        if (j + 1 >= cap)
            return false;
        buf[j++] = s[i];
    }
    buf[j] = '\0';
    return true;
}

static bool all_in(const char *s, size_t n, const char *set) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i]) || s[i] == '\0')
            return false;
    return true;
}

/* [0-9][0-9_]* */
static size_t scan_digits(const char *s, size_t n, size_t i) {
    if (i >= n || !isdigit((unsigned char)s[i]))
        return i;
    i++;
    while (i < n && (isdigit((unsigned char)s[i]) || s[i] == '_'))
        i++;
    return i;
}

/* (:[0-5]?[0-9])+ ; returns end or `i` if no group matched. */
static size_t scan_sexagesimal_tail(const char *s, size_t n, size_t i) {
    size_t start = i;
    while (i < n && s[i] == ':') {
        size_t j = i + 1;
        if (j + 1 < n && s[j] >= '0' && s[j] <= '5' && isdigit((unsigned char)s[j + 1]))
            j += 2;
        else if (j < n && isdigit((unsigned char)s[j]))
            j += 1;
        else
            return start;
        i = j;
    }
    return i;
}

static mm_value *resolve_int(const char *s, size_t n) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    const char *body = s + i;
    size_t bn = n - i;
    if (bn == 0)
        return NULL;
    int base = 10;
    bool sexagesimal = false;
    if (bn > 2 && body[0] == '0' && body[1] == 'b' && all_in(body + 2, bn - 2, "01_"))
        base = 2, body += 2, bn -= 2;
    else if (bn > 2 && body[0] == '0' && body[1] == 'x' &&
             all_in(body + 2, bn - 2, "0123456789abcdefABCDEF_"))
        base = 16, body += 2, bn -= 2;
    else if (bn > 1 && body[0] == '0' && all_in(body + 1, bn - 1, "01234567_"))
        base = 8, body += 1, bn -= 1;
    else if (bn == 1 && body[0] == '0')
        base = 10;
    else if (body[0] >= '1' && body[0] <= '9') {
        size_t e = scan_digits(body, bn, 0);
        if (e == bn)
            base = 10;
        else if (scan_sexagesimal_tail(body, bn, e) == bn && e < bn)
            sexagesimal = true;
        else
            return NULL;
    } else
        return NULL;

    char buf[128];
    if (!strip_underscores(body, bn, buf, sizeof buf))
        return NULL;
    if (buf[0] == '\0')
        return NULL; /* "0b_" and friends: PyYAML chokes, we keep a string */
    errno = 0;
    if (sexagesimal) {
        int64_t acc = 0;
        for (char *part = strtok(buf, ":"); part; part = strtok(NULL, ":")) {
            long long p = strtoll(part, NULL, 10);
            if (acc > (INT64_MAX - p) / 60)
                return mm_value_new_float(neg ? -INFINITY : INFINITY);
            acc = acc * 60 + p;
        }
        return mm_value_new_int(neg ? -acc : acc);
    }
    unsigned long long u = strtoull(buf, NULL, base);
    if (errno == ERANGE || u > (unsigned long long)INT64_MAX + (neg ? 1u : 0u)) {
        /* Beyond int64: keep the magnitude as a float rather than wrap. */
        double d = strtod(buf, NULL);
        return mm_value_new_float(neg ? -d : d);
    }
    if (neg)
        return mm_value_new_int(u == (unsigned long long)INT64_MAX + 1u
                                    ? INT64_MIN
                                    : -(int64_t)u);
    return mm_value_new_int((int64_t)u);
}

/* PyYAML's float forms, plus exponents without '.' or sign (1e-4, 1.0e5)
 * and a signed leading dot (-.5), which PyYAML leaves as strings. */
static mm_value *resolve_float(const char *s, size_t n) {
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    const char *body = s + i;
    size_t bn = n - i;
    static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    if (is_one_of(body, bn, infs))
        return mm_value_new_float(neg ? -INFINITY : INFINITY);
    if (i == 0 && is_one_of(body, bn, nans))
        return mm_value_new_float(NAN);

    size_t j = 0;
    bool sexagesimal = false, dot = false, digits = false;
    if (j < bn && isdigit((unsigned char)body[j])) {
        j = scan_digits(body, bn, j);
        digits = true;
        size_t e = scan_sexagesimal_tail(body, bn, j);
        if (e > j && e < bn && body[e] == '.') {
            sexagesimal = body[0] != '0';
            j = e;
        }
    }
    if (j < bn && body[j] == '.') {
        dot = true;
        j++;
        if (j < bn && isdigit((unsigned char)body[j])) {
            digits = true;
            j = scan_digits(body, bn, j);
        } else if (!digits)
            return NULL;
        while (j < bn && (isdigit((unsigned char)body[j]) || body[j] == '_'))
            j++;
    }
    if (!digits)
        return NULL;
    bool exponent = false;
    if (!sexagesimal && j < bn && (body[j] == 'e' || body[j] == 'E')) {
        size_t k = j + 1;
        if (k < bn && (body[k] == '-' || body[k] == '+'))
            k++;
        if (k >= bn || !isdigit((unsigned char)body[k]))
            return NULL;
        while (k < bn && isdigit((unsigned char)body[k]))
            k++;
        j = k;
        exponent = true;
    }
    if (j != bn || (!dot && !exponent))
        return NULL;

    char buf[128];
    if (!strip_underscores(body, bn, buf, sizeof buf))
        return NULL;
    double d;
    if (sexagesimal) {
        d = 0;
        char *save = NULL;
        for (char *part = strtok_r(buf, ":", &save); part;
             part = strtok_r(NULL, ":", &save))
            d = d * 60 + strtod(part, NULL);
    } else {
        d = strtod(buf, NULL);
    }
    return mm_value_new_float(neg ? -d : d);
}

mm_value *mm_yaml_resolve_plain(const char *text, size_t len) {
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"yes", "Yes", "YES", "true", "True",
                                        "TRUE", "on", "On", "ON", NULL};
    static const char *const falses[] = {"no", "No", "NO", "false", "False",
                                         "FALSE", "off", "Off", "OFF", NULL};
    if (len == 0 || is_one_of(text, len, nulls))
        return mm_value_new_null();
    if (is_one_of(text, len, trues))
        return mm_value_new_bool(true);
    if (is_one_of(text, len, falses))
        return mm_value_new_bool(false);
    if (strchr("-+0123456789.", text[0]) && len < 100) {
        mm_value *v = resolve_int(text, len);
        if (!v)
            v = resolve_float(text, len);
        if (v)
            return v;
    }
    return mm_value_new_stringn(text, len);
}

/* ---- loading ------------------------------------------------------------ */

typedef struct loader {
    yaml_document_t *doc;
    const char *text; /* the source, to tell `!!str x` from a plain `x` */
    size_t len;
    const char *name; /* interned */
    size_t nodes_made;
    unsigned char *active; /* per node: being converted (alias cycle check) */
} loader;

static mm_srcloc mark_loc(const loader *ld, yaml_mark_t m) {
    return (mm_srcloc){ld->name, (int)m.line + 1, (int)m.column + 1};
}

static int convert(loader *ld, int index, int depth, mm_value **out);

static int convert_scalar(loader *ld, yaml_node_t *node, mm_value **out) {
    const char *text = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    mm_srcloc loc = mark_loc(ld, node->start_mark);
    if (!mm_utf8_valid(text, len))
        return mm_error_set_at(MM_EPARSE, &loc,
                               "not valid UTF-8 text (NUL, or an escaped "
                               "surrogate such as \\uD800)");
    const char *tag = (const char *)node->tag;
    bool plain = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    /* libyaml gives untagged scalars the str tag; only a '!' written in
     * the source (after an optional &anchor) makes the tag explicit. */
    size_t at = node->start_mark.index;
    if (at < ld->len && ld->text[at] == '&') {
        while (at < ld->len && !isspace((unsigned char)ld->text[at]))
            at++;
        while (at < ld->len && isspace((unsigned char)ld->text[at]))
            at++;
    }
    bool explicit_tag = at < ld->len && ld->text[at] == '!';
    bool default_tag = !tag || !explicit_tag;
    mm_value *v;
    if (default_tag && plain)
        v = mm_yaml_resolve_plain(text, len);
    else if (default_tag || strcmp(tag, YAML_STR_TAG) == 0 ||
             strcmp(tag, "!") == 0)
        v = mm_value_new_stringn(text, len);
    else {
        static const struct {
            const char *tag;
            mm_value_type type;
        } typed[] = {{YAML_INT_TAG, MM_VALUE_INT},
                     {YAML_FLOAT_TAG, MM_VALUE_FLOAT},
                     {YAML_BOOL_TAG, MM_VALUE_BOOL},
                     {YAML_NULL_TAG, MM_VALUE_NULL}};
        size_t k = 0;
        while (k < 4 && strcmp(tag, typed[k].tag) != 0)
            k++;
        if (k == 4)
            return mm_error_set_at(MM_EUNSUPPORTED, &loc,
                                   "unsupported YAML tag '%s'", tag);
        v = mm_yaml_resolve_plain(text, len);
        if (v && typed[k].type == MM_VALUE_FLOAT && mm_value_is_int(v)) {
            mm_value *f = mm_value_new_float((double)mm_value_get_int(v));
            mm_value_release(v);
            v = f;
        }
        if (v && mm_value_type_of(v) != typed[k].type) {
            mm_value_release(v);
            return mm_error_set_at(MM_EPARSE, &loc, "'%.*s' is not a valid %s",
                                   (int)(len > 60 ? 60 : len), text,
                                   mm_value_type_name(typed[k].type));
        }
    }
    if (!v)
        return MM_ENOMEM;
    mm_value_set_srcloc(v, &loc);
    *out = v;
    return MM_OK;
}

static int convert_sequence(loader *ld, yaml_node_t *node, int depth,
                            mm_value **out) {
    mm_value *list = mm_value_new_list();
    if (!list)
        return MM_ENOMEM;
    mm_srcloc loc = mark_loc(ld, node->start_mark);
    mm_value_set_srcloc(list, &loc);
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        mm_value *item;
        int rc = convert(ld, *it, depth + 1, &item);
        if (rc == MM_OK)
            rc = mm_value_list_append_take(list, item);
        if (rc != MM_OK) {
            mm_value_release(list);
            return rc;
        }
    }
    *out = list;
    return MM_OK;
}

/* One key/value pair of a mapping, after `<<` merges are flattened. */
typedef struct pair {
    int key, value;
    bool merged;
} pair;

typedef struct pair_list {
    pair *items;
    size_t len, cap;
} pair_list;

static int pairs_push(pair_list *pl, pair p) {
    if (pl->len == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 8;
        pair *items = realloc(pl->items, cap * sizeof *items);
        if (!items)
            return mm_error_set(MM_ENOMEM, "out of memory reading YAML");
        pl->items = items;
        pl->cap = cap;
    }
    pl->items[pl->len++] = p;
    return MM_OK;
}

static bool is_merge_key(const yaml_node_t *k) {
    return k->type == YAML_SCALAR_NODE &&
           k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           k->data.scalar.length == 2 &&
           memcmp(k->data.scalar.value, "<<", 2) == 0;
}

/* PyYAML's flatten_mapping: merged pairs go first (later sources of a
 * `<<: [a, b]` list first, so earlier ones win), explicit pairs after. */
static int flatten(loader *ld, yaml_node_t *map, int depth, pair_list *merged,
                   pair_list *explicit_pairs) {
    if (depth > MAX_DEPTH) {
        mm_srcloc loc = mark_loc(ld, map->start_mark);
        return mm_error_set_at(MM_EPARSE, &loc, "merge keys nested too deeply");
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
        if (!is_merge_key(k)) {
            int rc = pairs_push(explicit_pairs, (pair){p->key, p->value, false});
            if (rc)
                return rc;
            continue;
        }
        yaml_node_t *sources[1] = {v};
        yaml_node_t **src = sources;
        size_t nsrc = 1;
        if (v->type == YAML_SEQUENCE_NODE) {
            nsrc = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            src = NULL;
        }
        for (size_t s = nsrc; s-- > 0;) {
            yaml_node_t *m = src ? src[s]
                                 : yaml_document_get_node(
                                       ld->doc, v->data.sequence.items.start[s]);
            if (m->type != YAML_MAPPING_NODE) {
                mm_srcloc loc = mark_loc(ld, m->start_mark);
                return mm_error_set_at(MM_EPARSE, &loc,
                                       "'<<' merge expects a mapping or a list "
                                       "of mappings");
            }
            pair_list sub_merged = {0}, sub_explicit = {0};
            int rc = flatten(ld, m, depth + 1, &sub_merged, &sub_explicit);
            /* Merges of merges multiply like aliases do: same budget. */
            ld->nodes_made += sub_merged.len + sub_explicit.len;
            if (rc == MM_OK && ld->nodes_made > MAX_NODES) {
                mm_srcloc loc = mark_loc(ld, m->start_mark);
                rc = mm_error_set_at(MM_EPARSE, &loc,
                                     "document expands to more than %d nodes "
                                     "(merge keys nested too deeply?)",
                                     MAX_NODES);
            }
            for (size_t i = 0; rc == MM_OK && i < sub_merged.len; i++)
                rc = pairs_push(merged, (pair){sub_merged.items[i].key,
                                               sub_merged.items[i].value, true});
            for (size_t i = 0; rc == MM_OK && i < sub_explicit.len; i++)
                rc = pairs_push(merged, (pair){sub_explicit.items[i].key,
                                               sub_explicit.items[i].value, true});
            free(sub_merged.items);
            free(sub_explicit.items);
            if (rc)
                return rc;
        }
    }
    return MM_OK;
}

static int convert_mapping(loader *ld, yaml_node_t *node, int depth,
                           mm_value **out) {
    pair_list merged = {0}, explicit_pairs = {0};
    mm_value *dict = mm_value_new_dict();
    mm_value *seen = mm_value_new_dict();
    int rc = dict && seen ? flatten(ld, node, depth, &merged, &explicit_pairs)
                          : MM_ENOMEM;
    if (rc == MM_OK) {
        mm_srcloc loc = mark_loc(ld, node->start_mark);
        mm_value_set_srcloc(dict, &loc);
    }
    for (size_t pass = 0; rc == MM_OK && pass < 2; pass++) {
        pair_list *pl = pass == 0 ? &merged : &explicit_pairs;
        for (size_t i = 0; rc == MM_OK && i < pl->len; i++) {
            yaml_node_t *k = yaml_document_get_node(ld->doc, pl->items[i].key);
            mm_srcloc kloc = mark_loc(ld, k->start_mark);
            if (k->type != YAML_SCALAR_NODE) {
                rc = mm_error_set_at(MM_EPARSE, &kloc,
                                     "mapping keys must be scalars, not a %s",
                                     k->type == YAML_MAPPING_NODE ? "mapping"
                                                                  : "sequence");
                break;
            }
            const char *key = (const char *)k->data.scalar.value;
            if (!mm_utf8_valid(key, k->data.scalar.length)) {
                rc = mm_error_set_at(MM_EPARSE, &kloc,
                                     "key is not valid UTF-8 text (NUL, or an "
                                     "escaped surrogate such as \\uD800)");
                break;
            }
            if (pass == 1) {
                /* Duplicates among explicit keys are mistakes; PyYAML keeps
                 * the last silently, we refuse. `seen` maps each explicit key
                 * to the line that wrote it. */
                const mm_value *first = mm_value_dict_get(seen, key);
                if (first) {
                    rc = mm_error_set_at(
                        MM_EEXIST, &kloc,
                        "duplicate key '%s' (first defined at line %d)", key,
                        (int)mm_value_get_int(first));
                    break;
                }
                rc = mm_value_dict_set_take(seen, key,
                                            mm_value_new_int(kloc.line));
                if (rc)
                    break;
            }
            mm_value *val;
            rc = convert(ld, pl->items[i].value, depth + 1, &val);
            if (rc == MM_OK)
                rc = mm_value_dict_set_take(dict, key, val);
            if (rc == MM_OK)
                mm_value_dict_set_key_loc(dict, key, &kloc);
        }
    }
    free(merged.items);
    free(explicit_pairs.items);
    mm_value_release(seen);
    if (rc != MM_OK) {
        mm_value_release(dict);
        return rc;
    }
    *out = dict;
    return MM_OK;
}

/* Collections only take their standard tags (!!python/tuple, !!set ... are
 * refused rather than silently read as plain lists and dicts). */
static int check_collection_tag(const yaml_node_t *node, const char *standard,
                                const mm_srcloc *loc) {
    const char *tag = (const char *)node->tag;
    if (!tag || strcmp(tag, standard) == 0 || strcmp(tag, "!") == 0)
        return MM_OK;
    return mm_error_set_at(MM_EUNSUPPORTED, loc, "unsupported YAML tag '%s'",
                           tag);
}

static int convert(loader *ld, int index, int depth, mm_value **out) {
    yaml_node_t *node = yaml_document_get_node(ld->doc, index);
    MM_ASSERT(node);
    mm_srcloc loc = mark_loc(ld, node->start_mark);
    if (depth > MAX_DEPTH)
        return mm_error_set_at(MM_EPARSE, &loc,
                               "nesting deeper than %d levels", MAX_DEPTH);
    if (++ld->nodes_made > MAX_NODES)
        return mm_error_set_at(MM_EPARSE, &loc,
                               "document expands to more than %d nodes "
                               "(aliases nested too deeply?)",
                               MAX_NODES);
    if (ld->active[index])
        return mm_error_set_at(MM_ECYCLE, &loc,
                               "alias refers to a node that contains it");
    ld->active[index] = 1;
    int rc;
    switch (node->type) {
    case YAML_SCALAR_NODE:
        rc = convert_scalar(ld, node, out);
        break;
    case YAML_SEQUENCE_NODE:
        rc = check_collection_tag(node, YAML_SEQ_TAG, &loc);
        if (rc == MM_OK)
            rc = convert_sequence(ld, node, depth, out);
        break;
    case YAML_MAPPING_NODE:
        rc = check_collection_tag(node, YAML_MAP_TAG, &loc);
        if (rc == MM_OK)
            rc = convert_mapping(ld, node, depth, out);
        break;
    default:
        rc = mm_error_set_at(MM_EPARSE, &loc, "empty YAML node");
    }
    ld->active[index] = 0;
    return rc;
}

static int parser_error(const yaml_parser_t *p, const char *name) {
    if (p->error == YAML_MEMORY_ERROR)
        return mm_error_set(MM_ENOMEM, "out of memory reading YAML");
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors report a byte offset, not a line. */
        mm_srcloc loc = {mm_intern(name), 0, 0};
        return mm_error_set_at(MM_EPARSE, &loc,
                               "YAML error: %s at byte %zu",
                               p->problem ? p->problem : "unreadable text",
                               p->problem_offset);
    }
    mm_srcloc loc = {mm_intern(name), (int)m.line + 1, (int)m.column + 1};
    if (p->context) {
        return mm_error_set_at(MM_EPARSE, &loc,
                               "YAML syntax error: %s %s (line %d)",
                               p->problem ? p->problem : "invalid YAML",
                               p->context, (int)p->context_mark.line + 1);
    }
    return mm_error_set_at(MM_EPARSE, &loc, "YAML syntax error: %s",
                           p->problem ? p->problem : "invalid YAML");
}

int mm_yaml_parse(const char *text, size_t len, const char *name,
                  mm_value **out) {
    *out = NULL;
    if (!name)
        name = "<string>";
    const char *iname = mm_intern(name);
    if (!iname)
        return mm_error_set(MM_ENOMEM, "out of memory");
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return mm_error_set(MM_ENOMEM, "out of memory starting the YAML reader");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = parser_error(&parser, iname);
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = MM_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        /* An empty file is an empty mapping-less document: null. */
        *out = mm_value_new_null();
        if (*out)
            mm_value_set_loc(*out, iname, 1, 1);
        else
            rc = MM_ENOMEM;
    } else {
        /* A second document in the stream is not allowed. */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            rc = parser_error(&parser, iname);
        } else {
            yaml_node_t *extra = yaml_document_get_root_node(&next);
            if (extra) {
                mm_srcloc loc = {iname, (int)extra->start_mark.line + 1,
                                 (int)extra->start_mark.column + 1};
                rc = mm_error_set_at(MM_EPARSE, &loc,
                                     "more than one YAML document in the file");
            }
            yaml_document_delete(&next);
        }
        if (rc == MM_OK) {
            size_t n = (size_t)(doc.nodes.top - doc.nodes.start);
            loader ld = {.doc = &doc, .name = iname, .text = text, .len = len,
                         .active = calloc(n + 1, 1)};
            if (!ld.active)
                rc = mm_error_set(MM_ENOMEM, "out of memory reading YAML");
            else
                rc = convert(&ld, 1, 0, out);
            free(ld.active);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- dumping ------------------------------------------------------------ */

static int write_handler(void *data, unsigned char *buffer, size_t size) {
    mm_strbuf_append(data, (const char *)buffer, size);
    return !((mm_strbuf *)data)->failed;
}

static bool is_scalar(const mm_value *v) {
    mm_value_type t = mm_value_type_of(v);
    return t != MM_VALUE_LIST && t != MM_VALUE_DICT;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev) {
    if (!yaml_emitter_emit(em, ev))
        return mm_error_set(em->error == YAML_MEMORY_ERROR ? MM_ENOMEM
                                                           : MM_EINTERNAL,
                            "YAML writer: %s",
                            em->problem ? em->problem : "failed");
    return MM_OK;
}

static int emit_scalar_n(yaml_emitter_t *em, const char *text, size_t len,
                         bool quote) {
    yaml_event_t ev;
    if (len > INT32_MAX ||
        !yaml_scalar_event_initialize(
            &ev, NULL, NULL, (yaml_char_t *)text, (int)len, !quote, 1,
            quote ? YAML_SINGLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE))
        return mm_error_set(MM_EINVAL,
                            "cannot write a string as YAML: not valid UTF-8 "
                            "or too long");
    return emit(em, &ev);
}

static int emit_scalar(yaml_emitter_t *em, const char *text, bool quote) {
    return emit_scalar_n(em, text, strlen(text), quote);
}

static int emit_string(yaml_emitter_t *em, const char *s, size_t len) {
    /* A string that would read back as another type must be quoted. */
    mm_value *probe = mm_yaml_resolve_plain(s, len);
    if (!probe)
        return MM_ENOMEM;
    bool quote = !mm_value_is_string(probe) || len == 0;
    mm_value_release(probe);
    if (!mm_utf8_valid(s, len))
        return mm_error_set(MM_EINVAL,
                            "cannot write a string as YAML: not valid UTF-8");
    return emit_scalar_n(em, s, len, quote);
}

static int emit_value(yaml_emitter_t *em, const mm_value *v) {
    yaml_event_t ev;
    int rc = MM_OK;
    mm_strbuf text = {0};
    if (mm_strbuf_put_scalar(&text, v, false)) { /* null, bool, int, float */
        char *plain;
        rc = mm_strbuf_finish(&text, &plain);
        if (rc == MM_OK)
            rc = emit_scalar(em, plain, false);
        free(plain);
        return rc;
    }
    switch (mm_value_type_of(v)) {
    case MM_VALUE_STRING:
        return emit_string(em, mm_value_get_string(v), mm_value_string_len(v));
    case MM_VALUE_TENSOR: {
        char desc[128];
        mm_value_describe_object(v, desc, sizeof desc);
        return emit_scalar(em, desc, true);
    }
    case MM_VALUE_LIST: {
        /* Short lists of scalars read best inline: mean: [123.675, ...] */
        bool flow = true;
        for (size_t i = 0; i < mm_value_len(v); i++)
            flow = flow && is_scalar(mm_value_list_get(v, i));
        flow = flow && mm_value_len(v) <= 16;
        if (!yaml_sequence_start_event_initialize(
                &ev, NULL, NULL, 1,
                flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE))
            return mm_error_set(MM_ENOMEM, "out of memory writing YAML");
        rc = emit(em, &ev);
        for (size_t i = 0; rc == MM_OK && i < mm_value_len(v); i++)
            rc = emit_value(em, mm_value_list_get(v, i));
        if (rc == MM_OK) {
            yaml_sequence_end_event_initialize(&ev);
            rc = emit(em, &ev);
        }
        return rc;
    }
    case MM_VALUE_DICT:
        if (!yaml_mapping_start_event_initialize(
                &ev, NULL, NULL, 1,
                mm_value_len(v) ? YAML_BLOCK_MAPPING_STYLE
                                : YAML_FLOW_MAPPING_STYLE))
            return mm_error_set(MM_ENOMEM, "out of memory writing YAML");
        rc = emit(em, &ev);
        for (size_t i = 0; rc == MM_OK && i < mm_value_len(v); i++) {
            const char *key = mm_value_dict_key_at(v, i);
            rc = emit_string(em, key, strlen(key));
            if (rc == MM_OK)
                rc = emit_value(em, mm_value_dict_value_at(v, i));
        }
        if (rc == MM_OK) {
            yaml_mapping_end_event_initialize(&ev);
            rc = emit(em, &ev);
        }
        return rc;
    default:
        return mm_error_set(MM_EINTERNAL, "unknown value type");
    }
}

int mm_yaml_dump(const mm_value *v, char **out) {
    *out = NULL;
    mm_strbuf sb = {0};
    yaml_emitter_t em;
    if (!yaml_emitter_initialize(&em))
        return mm_error_set(MM_ENOMEM, "out of memory starting the YAML writer");
    yaml_emitter_set_output(&em, write_handler, &sb);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_indent(&em, 2);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    int rc = emit(&em, &ev);
    if (rc == MM_OK) {
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        rc = emit(&em, &ev);
    }
    if (rc == MM_OK)
        rc = emit_value(&em, v);
    if (rc == MM_OK) {
        yaml_document_end_event_initialize(&ev, 1);
        rc = emit(&em, &ev);
    }
    if (rc == MM_OK) {
        yaml_stream_end_event_initialize(&ev);
        rc = emit(&em, &ev);
    }
    yaml_emitter_delete(&em);
    if (rc != MM_OK) {
        mm_strbuf_free(&sb);
        return rc;
    }
    return mm_strbuf_finish(&sb, out);
}
