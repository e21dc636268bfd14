/* Step 6 of loading: ${a.b.c} and ${env:VAR,default} references.
 *
 * A string that is exactly one reference becomes a copy of the target value
 * (any type); a reference inside a longer string is replaced by the target's
 * text, which must then be a scalar. Targets are resolved first, on demand,
 * so references may chain; a chain that comes back to itself is an error
 * naming the cycle. `$${` writes a literal `${`. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "mm/config.h"
#include "strbuf.h"

enum { MAX_ACTIVE = 1024 }; /* above the YAML reader's 512 levels */

typedef struct resolver {
    mm_value *root;
    /* Paths being resolved, outermost first; borrowed from the callers,
     * whose strings outlive the resolution they name. */
    const char *active[MAX_ACTIVE];
    size_t n_active;
    /* Nodes already resolved, never to be read again: an open-addressing
     * pointer set, since every node of the tree passes through it. */
    const mm_value **done;
    size_t n_done, cap_done;
} resolver;

static int resolve_slot(resolver *r, mm_value *parent, size_t i,
                        const char *path);

static size_t hash_ptr(const void *p, size_t mask) {
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15u) & mask;
}

static int mark_done(resolver *r, const mm_value *v) {
    if ((r->n_done + 1) * 2 > r->cap_done) {
        size_t cap = r->cap_done ? r->cap_done * 2 : 256;
        const mm_value **set = calloc(cap, sizeof *set);
        if (!set)
            return mm_error_set(MM_ENOMEM, "out of memory");
        for (size_t i = 0; i < r->cap_done; i++) {
            if (!r->done[i])
                continue;
            size_t j = hash_ptr(r->done[i], cap - 1);
            while (set[j])
                j = (j + 1) & (cap - 1);
            set[j] = r->done[i];
        }
        free(r->done);
        r->done = set;
        r->cap_done = cap;
    }
    size_t mask = r->cap_done - 1;
    size_t j = hash_ptr(v, mask);
    while (r->done[j] && r->done[j] != v)
        j = (j + 1) & mask;
    if (!r->done[j]) {
        r->done[j] = v;
        r->n_done++;
    }
    return MM_OK;
}

static bool is_done(const resolver *r, const mm_value *v) {
    if (!r->cap_done)
        return false;
    size_t mask = r->cap_done - 1;
    for (size_t j = hash_ptr(v, mask); r->done[j]; j = (j + 1) & mask)
        if (r->done[j] == v)
            return true;
    return false;
}

static mm_value *slot_get(const mm_value *parent, size_t i) {
    return mm_value_is_dict(parent) ? mm_value_dict_value_at(parent, i)
                                    : mm_value_list_get(parent, i);
}

static int slot_set_take(mm_value *parent, size_t i, mm_value *v) {
    if (mm_value_is_dict(parent))
        return mm_value_dict_set_take(parent, mm_value_dict_key_at(parent, i), v);
    return mm_value_list_set_take(parent, i, v);
}

static char *child_path(const char *path, const mm_value *parent, size_t i) {
    mm_strbuf sb = {0};
    if (*path)
        mm_strbuf_printf(&sb, "%s.", path);
    if (mm_value_is_dict(parent))
        mm_strbuf_puts(&sb, mm_value_dict_key_at(parent, i));
    else
        mm_strbuf_printf(&sb, "%zu", i);
    char *out;
    return mm_strbuf_finish(&sb, &out) == MM_OK ? out : NULL;
}

static bool has_prefix_path(const char *path, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '.');
}

static int cycle_error(const resolver *r, size_t from, const char *target,
                       const mm_srcloc *loc) {
    mm_strbuf sb = {0};
    for (size_t i = from; i < r->n_active; i++)
        mm_strbuf_printf(&sb, "%s -> ", r->active[i]);
    mm_strbuf_puts(&sb, target);
    int rc = mm_error_set_at(MM_ECYCLE, loc, "reference cycle: %s",
                             sb.data ? sb.data : target);
    mm_strbuf_free(&sb);
    return rc;
}

static const char *closest_key(const mm_value *dict, const char *key) {
    const char *best = NULL;
    size_t best_d = strlen(key) / 3 + 2;
    for (size_t i = 0; i < mm_value_len(dict); i++) {
        const char *k = mm_value_dict_key_at(dict, i);
        size_t d = mm_edit_distance(k, key);
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    return best;
}

/* A cycle if a reference in progress sits at `path` or inside it. */
static int check_cycle(const resolver *r, const char *path, const char *target,
                       const mm_srcloc *loc) {
    for (size_t i = 0; i < r->n_active; i++)
        if (has_prefix_path(r->active[i], path))
            return cycle_error(r, i, target, loc);
    return MM_OK;
}

static int unknown_target(const mm_value *cur, const char *seg,
                          const char *target, const char *walked,
                          const mm_srcloc *loc) {
    if (mm_value_is_dict(cur)) {
        const char *hint = closest_key(cur, seg);
        char suggestion[300] = "";
        if (hint)
            snprintf(suggestion, sizeof suggestion, " (did you mean '%s'?)",
                     hint);
        if (*walked)
            return mm_error_set_at(MM_ENOENT, loc,
                                   "unknown reference '${%s}': '%s' has no "
                                   "key '%s'%s",
                                   target, walked, seg, suggestion);
        return mm_error_set_at(MM_ENOENT, loc,
                               "unknown reference '${%s}': no top-level key "
                               "'%s'%s",
                               target, seg, suggestion);
    }
    if (mm_value_is_list(cur) && mm_config_is_index(seg))
        return mm_error_set_at(MM_ERANGE, loc,
                               "unknown reference '${%s}': index %s is past "
                               "the end of '%s' (a list of %zu)",
                               target, seg, walked, mm_value_len(cur));
    return mm_error_set_at(MM_ETYPE, loc,
                           "unknown reference '${%s}': '%s' is a %s, it has "
                           "no '%s'",
                           target, walked,
                           mm_value_type_name(mm_value_type_of(cur)), seg);
}

/* Resolve the value at `target` (a dotted path) in place and return it
 * (borrowed). Strings met on the way are resolved first, since a reference
 * there may stand for the dict or list the path goes on into. */
static int resolve_target(resolver *r, const char *target,
                          const mm_srcloc *loc, mm_value **out) {
    int rc = check_cycle(r, target, target, loc);
    if (rc)
        return rc;
    char *copy = strdup(target);
    if (!copy)
        return MM_ENOMEM;
    mm_value *parent = NULL, *cur = r->root;
    size_t index = 0;
    mm_strbuf walked = {0};
    mm_strbuf_puts(&walked, "");
    char *save = NULL;
    for (char *seg = strtok_r(copy, ".", &save); seg && rc == MM_OK;
         seg = strtok_r(NULL, ".", &save)) {
        size_t at;
        mm_value *next = mm_config_child(cur, seg, &at);
        if (!next) {
            rc = unknown_target(cur, seg, target, walked.data, loc);
            break;
        }
        mm_strbuf_printf(&walked, "%s%s", walked.len ? "." : "", seg);
        parent = cur;
        index = at;
        if (mm_value_is_string(next)) {
            rc = check_cycle(r, walked.data, target, loc);
            if (rc == MM_OK)
                rc = resolve_slot(r, parent, index, walked.data);
            next = slot_get(parent, index);
        }
        cur = next;
    }
    if (rc == MM_OK && !parent)
        rc = mm_error_set_at(MM_EINVAL, loc, "empty reference '${}'");
    if (rc == MM_OK) {
        rc = resolve_slot(r, parent, index, walked.data);
        if (rc == MM_OK)
            *out = slot_get(parent, index);
    }
    mm_strbuf_free(&walked);
    free(copy);
    return rc;
}

/* Evaluate one reference body (between "${" and "}"). `whole` asks for a
 * value of any type; otherwise text is appended to sb. */
static int eval_ref(resolver *r, const char *body, size_t len, bool whole,
                    const mm_srcloc *loc, mm_value **value, mm_strbuf *sb) {
    char *ref = strndup(body, len);
    if (!ref)
        return MM_ENOMEM;
    int rc = MM_OK;
    if (strncmp(ref, "env:", 4) == 0) {
        char *name = ref + 4;
        char *comma = strchr(name, ',');
        const char *def = NULL;
        if (comma) {
            *comma = '\0';
            def = comma + 1;
        }
        const char *env = *name ? getenv(name) : NULL;
        const char *text = env ? env : def;
        if (!*name)
            rc = mm_error_set_at(MM_EINVAL, loc,
                                 "'${env:}' needs a variable name");
        else if (!text)
            rc = mm_error_set_at(MM_ENOENT, loc,
                                 "environment variable '%s' is not set (write "
                                 "'${env:%s,default}' to give a default)",
                                 name, name);
        else if (!mm_utf8_valid(text, strlen(text)))
            rc = mm_error_set_at(MM_EINVAL, loc,
                                 "environment variable '%s' is not valid "
                                 "UTF-8 text",
                                 name);
        else if (whole) {
            *value = mm_yaml_resolve_plain(text, strlen(text));
            rc = *value ? MM_OK : MM_ENOMEM;
        } else
            mm_strbuf_puts(sb, text);
        free(ref);
        return rc;
    }
    mm_value *target = NULL;
    rc = resolve_target(r, ref, loc, &target);
    if (rc == MM_OK) {
        if (whole) {
            *value = mm_value_copy(target);
            rc = *value ? MM_OK : MM_ENOMEM;
        } else if (mm_value_is_list(target) || mm_value_is_dict(target) ||
                   mm_value_type_of(target) == MM_VALUE_TENSOR) {
            rc = mm_error_set_at(MM_ETYPE, loc,
                                 "'${%s}' is a %s and cannot be part of a "
                                 "string; make the reference the whole value",
                                 ref, mm_value_type_name(mm_value_type_of(target)));
        } else if (!mm_strbuf_put_scalar(sb, target, false)) {
            mm_strbuf_append(sb, mm_value_get_string(target),
                             mm_value_string_len(target));
        }
    }
    free(ref);
    return rc;
}

/* Resolve a string; *out is NULL when it holds no reference. */
static int resolve_string(resolver *r, const mm_value *str, mm_value **out) {
    *out = NULL;
    const char *s = mm_value_get_string(str);
    if (!strchr(s, '$'))
        return MM_OK;
    const mm_srcloc *loc = mm_value_loc(str);
    size_t n = mm_value_string_len(str);
    /* The whole string is one reference: keep the target's type. */
    if (n > 3 && s[0] == '$' && s[1] == '{' && s[n - 1] == '}' &&
        !memchr(s + 2, '}', n - 3) && !memchr(s + 2, '$', n - 3)) {
        int rc = eval_ref(r, s + 2, n - 3, true, loc, out, NULL);
        if (rc == MM_OK)
            mm_value_set_srcloc(*out, loc);
        return rc;
    }
    mm_strbuf sb = {0};
    bool changed = false;
    int rc = MM_OK;
    for (size_t i = 0; i < n && rc == MM_OK;) {
        if (s[i] == '$' && i + 2 < n && s[i + 1] == '$' && s[i + 2] == '{') {
            mm_strbuf_puts(&sb, "${");
            i += 3;
            changed = true;
        } else if (s[i] == '$' && i + 1 < n && s[i + 1] == '{') {
            const char *close = memchr(s + i + 2, '}', n - i - 2);
            if (!close) {
                rc = mm_error_set_at(MM_EPARSE, loc,
                                     "unterminated '${' in '%s'", s);
                break;
            }
            rc = eval_ref(r, s + i + 2, (size_t)(close - s - i - 2), false, loc,
                          NULL, &sb);
            i = (size_t)(close - s) + 1;
            changed = true;
        } else {
            mm_strbuf_putc(&sb, s[i++]);
        }
    }
    if (rc == MM_OK && changed) {
        char *text;
        rc = mm_strbuf_finish(&sb, &text);
        if (rc == MM_OK) {
            *out = mm_value_new_string(text);
            free(text);
            rc = *out ? MM_OK : MM_ENOMEM;
            if (*out)
                mm_value_set_srcloc(*out, loc);
        }
    }
    mm_strbuf_free(&sb);
    return rc;
}

static int resolve_children(resolver *r, mm_value *v, const char *path) {
    for (size_t i = 0; i < mm_value_len(v); i++) {
        char *cp = child_path(path, v, i);
        if (!cp)
            return mm_error_set(MM_ENOMEM, "out of memory");
        int rc = resolve_slot(r, v, i, cp);
        free(cp);
        if (rc)
            return rc;
    }
    return MM_OK;
}

static int resolve_slot(resolver *r, mm_value *parent, size_t i,
                        const char *path) {
    mm_value *v = slot_get(parent, i);
    if (is_done(r, v))
        return MM_OK;
    if (!mm_value_is_string(v) && !mm_value_is_list(v) && !mm_value_is_dict(v))
        return MM_OK;
    if (r->n_active == MAX_ACTIVE)
        return mm_error_set_at(MM_ERANGE, mm_value_loc(v),
                               "references nested more than %d deep",
                               MAX_ACTIVE);
    r->active[r->n_active++] = path;
    int rc;
    /* Only what could be misread or re-walked is remembered: a replaced
     * string (a `$${` escape leaves a literal `${` in it) and containers
     * (resolved on demand, then met again by the tree walk). */
    mm_value *done = mm_value_is_string(v) ? NULL : v;
    if (mm_value_is_string(v)) {
        rc = resolve_string(r, v, &done);
        if (rc == MM_OK && done)
            rc = slot_set_take(parent, i, done);
        if (rc && rc != MM_ENOMEM && path[0])
            rc = mm_error_context(rc, NULL, "%s", path);
    } else {
        rc = resolve_children(r, v, path);
    }
    r->n_active--;
    return rc || !done ? rc : mark_done(r, done);
}

int mm_config_resolve(mm_value *cfg) {
    resolver r = {.root = cfg};
    int rc = resolve_children(&r, cfg, "");
    free((void *)r.done);
    return rc;
}
