/* Config loading: text substitution, _base_ inheritance, merge, overrides. */
#include "mm/config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "mm/log.h"
#include "strbuf.h"

/* {{_base_.a.b}} becomes this quoted string before YAML parsing, and the
 * string is swapped for the base value after the bases are merged. */
#define BASE_VAR_PREFIX "\x01mm_base:"

enum { MAX_BASE_DEPTH = 64 };

static mm_config_scope_hook scope_hook;
static void *scope_hook_user;

void mm_config_set_scope_hook(mm_config_scope_hook hook, void *user) {
    scope_hook = hook;
    scope_hook_user = user;
}

/* ---- small path helpers ------------------------------------------------- */

static char *path_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static const char *path_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Lexically drop "." segments and "dir/.." pairs, keeping the path
 * relative if it was: "a/./b/../c" -> "a/c", "../x" stays. */
static void path_tidy(char *path) {
    bool absolute = path[0] == '/';
    char *segs[256];
    size_t n = 0;
    char *save = NULL;
    char *copy = strdup(path);
    if (!copy)
        return;
    for (char *seg = strtok_r(copy, "/", &save); seg;
         seg = strtok_r(NULL, "/", &save)) {
        if (n == 256) { /* absurdly deep: keep the path as written */
            free(copy);
            return;
        }
        if (strcmp(seg, ".") == 0)
            continue;
        if (strcmp(seg, "..") == 0 && n > 0 && strcmp(segs[n - 1], "..") != 0) {
            n--;
            continue;
        }
        if (strcmp(seg, "..") == 0 && n == 0 && absolute)
            continue;
        segs[n++] = seg;
    }
    char *out = path;
    if (absolute)
        *out++ = '/';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(segs[i]);
        memmove(out, segs[i], len);
        out += len;
        if (i + 1 < n)
            *out++ = '/';
    }
    if (out == path)
        *out++ = '.';
    *out = '\0';
    free(copy);
}

static char *path_join(const char *dir, const char *rel) {
    if (rel[0] == '/')
        return strdup(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *out = malloc(n);
    if (out) {
        snprintf(out, n, "%s/%s", dir, rel);
        path_tidy(out);
    }
    return out;
}

/* Absolute, '.'/'..'-free form of a path, without resolving symlinks (so
 * messages show what the user wrote), used for cycle detection. */
static char *path_absolute(const char *path) {
    char cwd[PATH_MAX];
    char *out = path[0] == '/' || !getcwd(cwd, sizeof cwd) ? strdup(path)
                                                           : path_join(cwd, path);
    if (out)
        path_tidy(out);
    return out;
}

/* ---- step 1: text substitution ------------------------------------------ */

static bool is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Try to read a {{ ... }} form at p; on success append its replacement to sb
 * and return the position after "}}", else NULL. */
static const char *substitute_one(const char *p, const char *end,
                                  const char *abs_path, mm_strbuf *sb,
                                  bool *unset) {
    const char *q = skip_space(p + 2, end);
    /* {{$VAR:default}} (optionally quoted inside the braces, as mmengine). */
    const char *r = q;
    if (r < end && (*r == '\'' || *r == '"'))
        r = skip_space(r + 1, end);
    if (r < end && *r == '$') {
        const char *name = ++r;
        while (r < end && is_word(*r))
            r++;
        size_t name_len = (size_t)(r - name);
        r = skip_space(r, end);
        if (name_len == 0 || r >= end || *r != ':')
            return NULL;
        r = skip_space(r + 1, end);
        const char *def = r;
        while (r < end && !isspace((unsigned char)*r) &&
               !(r + 1 < end && r[0] == '}' && r[1] == '}') && *r != '\'' &&
               *r != '"')
            r++;
        size_t def_len = (size_t)(r - def);
        r = skip_space(r, end);
        if (r < end && (*r == '\'' || *r == '"'))
            r++;
        if (r + 1 >= end || r[0] != '}' || r[1] != '}')
            return NULL;
        char var[256];
        if (name_len >= sizeof var)
            return NULL;
        memcpy(var, name, name_len);
        var[name_len] = '\0';
        const char *env = getenv(var);
        if (env)
            mm_strbuf_puts(sb, env);
        else if (def_len > 0)
            mm_strbuf_append(sb, def, def_len);
        else
            *unset = true; /* {{$VAR:}} with VAR unset: mmengine refuses */
        return r + 2;
    }
    const char *word = q;
    while (q < end && (is_word(*q) || *q == '.'))
        q++;
    size_t word_len = (size_t)(q - word);
    q = skip_space(q, end);
    if (word_len == 0 || q + 1 >= end || q[0] != '}' || q[1] != '}')
        return NULL;
    const char *after = q + 2;
    if (word_len > 7 && memcmp(word, "_base_.", 7) == 0) {
        /* A YAML escape, so the raw text stays free of control bytes. */
        mm_strbuf_puts(sb, "\"\\x01mm_base:");
        mm_strbuf_append(sb, word + 7, word_len - 7);
        mm_strbuf_putc(sb, '"');
        return after;
    }
    const char *base = path_basename(abs_path);
    const char *dot = strrchr(base, '.');
    size_t stem = dot ? (size_t)(dot - base) : strlen(base);
#define IS(w) (word_len == strlen(w) && memcmp(word, w, word_len) == 0)
    if (IS("fileDirname")) {
        mm_strbuf_append(sb, abs_path, (size_t)(base - abs_path) - 1);
    } else if (IS("fileBasename")) {
        mm_strbuf_puts(sb, base);
    } else if (IS("fileBasenameNoExtension")) {
        mm_strbuf_append(sb, base, stem);
    } else if (IS("fileExtname")) {
        mm_strbuf_puts(sb, dot ? dot : "");
    } else {
        return NULL;
    }
#undef IS
    return after;
}

/* mmengine substitutes these forms in the raw text before parsing; so do
 * we, so that they work anywhere a YAML value can stand. */
static int substitute_text(const char *text, size_t len, const char *name,
                           const char *abs_path, char **out, size_t *out_len) {
    mm_strbuf sb = {0};
    const char *p = text, *end = text + len, *copied = text;
    while ((p = memmem(p, (size_t)(end - p), "{{", 2)) != NULL) {
        mm_strbuf tmp = {0};
        bool unset = false;
        const char *after = substitute_one(p, end, abs_path, &tmp, &unset);
        if (unset) {
            mm_srcloc loc = {name, 1, 1};
            for (const char *c = text; c < p; c++, loc.col++)
                if (*c == '\n')
                    loc.line++, loc.col = 0;
            mm_strbuf_free(&tmp);
            mm_strbuf_free(&sb);
            *out = NULL;
            *out_len = 0;
            return mm_error_set_at(MM_ENOENT, &loc,
                                   "'%.*s': the environment variable is not "
                                   "set and there is no default",
                                   (int)(after - p), p);
        }
        if (after) {
            mm_strbuf_append(&sb, copied, (size_t)(p - copied));
            mm_strbuf_append(&sb, tmp.data ? tmp.data : "", tmp.len);
            copied = p = after;
        } else {
            p += 2;
        }
        mm_strbuf_free(&tmp);
    }
    mm_strbuf_append(&sb, copied, (size_t)(end - copied));
    int rc = mm_strbuf_finish(&sb, out);
    *out_len = rc == MM_OK ? strlen(*out) : 0;
    return rc;
}

/* ---- step 3: {{_base_.x}} ----------------------------------------------- */

mm_value *mm_config_child(const mm_value *cur, const char *seg, size_t *index) {
    size_t i;
    if (mm_value_is_dict(cur)) {
        long pos = mm_value_dict_index(cur, seg);
        if (pos < 0)
            return NULL;
        i = (size_t)pos;
    } else if (mm_value_is_list(cur) && mm_config_is_index(seg)) {
        i = strtoul(seg, NULL, 10);
        if (i >= mm_value_len(cur))
            return NULL;
    } else {
        return NULL;
    }
    if (index)
        *index = i;
    return mm_value_is_dict(cur) ? mm_value_dict_value_at(cur, i)
                                 : mm_value_list_get(cur, i);
}

mm_value *mm_config_get(const mm_value *cfg, const char *path) {
    const mm_value *cur = cfg;
    for (const char *p = path; cur && *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char seg[256];
        if (n == 0 || n >= sizeof seg)
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        cur = mm_config_child(cur, seg, NULL);
        p += dot ? n + 1 : n;
    }
    return (mm_value *)cur;
}

bool mm_config_is_index(const char *seg) {
    if (!*seg || strlen(seg) > 18)
        return false;
    for (const char *c = seg; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    return true;
}

static int substitute_base_vars(mm_value *node, const mm_value *bases,
                                mm_value **replacement) {
    *replacement = NULL;
    if (mm_value_is_string(node)) {
        const char *s = mm_value_get_string(node);
        if (strncmp(s, BASE_VAR_PREFIX, strlen(BASE_VAR_PREFIX)) != 0) {
            /* Inside a quoted string the placeholder shows up raw (single
             * quotes) or decoded (double quotes): either way it is misuse. */
            if (strstr(s, BASE_VAR_PREFIX) || strstr(s, "\\x01mm_base:"))
                return mm_error_set_at(
                    MM_EINVAL, mm_value_loc(node),
                    "'{{_base_.…}}' must be a whole value, not part of a "
                    "string (use '${…}' to build strings)");
            return MM_OK;
        }
        const char *path = s + strlen(BASE_VAR_PREFIX);
        mm_value *target = mm_config_get(bases, path);
        if (!bases)
            return mm_error_set_at(MM_ENOENT, mm_value_loc(node),
                                   "'{{_base_.%s}}' in a config without "
                                   "_base_",
                                   path);
        if (!target)
            return mm_error_set_at(MM_ENOENT, mm_value_loc(node),
                                   "'{{_base_.%s}}': the base configs have "
                                   "no key '%s'",
                                   path, path);
        *replacement = mm_value_copy(target);
        return *replacement ? MM_OK : MM_ENOMEM;
    }
    size_t n = mm_value_len(node);
    for (size_t i = 0; i < n; i++) {
        bool is_dict = mm_value_is_dict(node);
        mm_value *child = is_dict ? mm_value_dict_value_at(node, i)
                                  : mm_value_list_get(node, i);
        mm_value *rep;
        int rc = substitute_base_vars(child, bases, &rep);
        if (rc)
            return rc;
        if (rep) {
            rc = is_dict ? mm_value_dict_set_take(
                               node, mm_value_dict_key_at(node, i), rep)
                         : mm_value_list_set_take(node, i, rep);
            if (rc)
                return rc;
        }
    }
    return MM_OK;
}

/* ---- step 4: merge ------------------------------------------------------ */

static int delete_flag(const mm_value *dict, bool *out) {
    mm_value *flag = mm_value_dict_get(dict, MM_CONFIG_DELETE_KEY);
    *out = false;
    if (!flag)
        return MM_OK;
    if (!mm_value_is_bool(flag))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(flag),
                               "'_delete_' must be true or false, not a %s",
                               mm_value_type_name(mm_value_type_of(flag)));
    *out = mm_value_get_bool(flag);
    return MM_OK;
}

/* Copy with every `_delete_` directive removed. */
static mm_value *copy_without_directives(const mm_value *v) {
    mm_value *c = mm_value_copy(v);
    if (c)
        mm_config_strip_directives(c);
    return c;
}

void mm_config_strip_directives(mm_value *v) {
    if (mm_value_is_dict(v))
        mm_value_dict_del(v, MM_CONFIG_DELETE_KEY);
    for (size_t i = 0; i < mm_value_len(v); i++)
        mm_config_strip_directives(mm_value_is_dict(v)
                                       ? mm_value_dict_value_at(v, i)
                                       : mm_value_list_get(v, i));
}

static char *describe_loc(const mm_srcloc *loc, char *buf, unsigned size) {
    mm_srcloc_format(loc, buf, size);
    if (!buf[0])
        snprintf(buf, size, "unknown location");
    return buf;
}

/* Merge child dict `a` into `res`, a tree this load owns: dicts merge in
 * place, everything else is replaced by a copy of the child's value. */
static int merge_into(mm_value *res, const mm_value *a, mm_strbuf *path) {
    mm_value_set_srcloc(res, mm_value_loc(a));
    int rc = MM_OK;
    for (size_t i = 0; rc == MM_OK && i < mm_value_len(a); i++) {
        const char *key = mm_value_dict_key_at(a, i);
        const mm_value *av = mm_value_dict_value_at(a, i);
        const mm_srcloc *kloc = mm_value_dict_key_loc_at(a, i);
        if (strcmp(key, MM_CONFIG_DELETE_KEY) == 0)
            continue;
        mm_value *bv = mm_value_dict_get(res, key);
        bool del = false;
        if (mm_value_is_dict(av) && bv && (rc = delete_flag(av, &del)))
            break;
        if (mm_value_is_dict(av) && bv && !del) {
            size_t mark = path->len;
            mm_strbuf_printf(path, "%s%s", mark ? "." : "", key);
            if (!mm_value_is_dict(bv)) {
                char where[512];
                rc = mm_error_set_at(
                    MM_ETYPE, kloc,
                    "'%s' is a dict here but a %s in the base (%s); add "
                    "'_delete_: true' to replace it",
                    path->data, mm_value_type_name(mm_value_type_of(bv)),
                    describe_loc(mm_value_loc(bv), where, sizeof where));
            } else {
                rc = merge_into(bv, av, path);
            }
            path->len = mark;
            if (path->data)
                path->data[mark] = '\0';
        } else {
            rc = mm_value_dict_set_take(res, key, copy_without_directives(av));
        }
        if (rc == MM_OK)
            mm_value_dict_set_key_loc(res, key, kloc);
    }
    return rc;
}

int mm_config_merge(const mm_value *base, const mm_value *child,
                    mm_value **out) {
    mm_strbuf path = {0};
    mm_value *res = mm_value_copy(base);
    int rc = res ? merge_into(res, child, &path) : MM_ENOMEM;
    mm_strbuf_free(&path);
    if (rc) {
        mm_value_release(res);
        res = NULL;
    }
    *out = res;
    return rc;
}

/* ---- step 2: loading a file with its bases ------------------------------ */

typedef struct load_stack {
    const char *paths[MAX_BASE_DEPTH];
    size_t depth;
} load_stack;

static int load_file(const char *path, const mm_srcloc *from, load_stack *st,
                     mm_value **out);

static int cycle_error(const load_stack *st, size_t start, const char *again,
                       const mm_srcloc *from) {
    mm_strbuf sb = {0};
    for (size_t i = start; i < st->depth; i++)
        mm_strbuf_printf(&sb, "%s -> ", path_basename(st->paths[i]));
    mm_strbuf_puts(&sb, path_basename(again));
    int rc = mm_error_set_at(MM_ECYCLE, from, "_base_ cycle: %s",
                             sb.data ? sb.data : again);
    mm_strbuf_free(&sb);
    return rc;
}

/* Resolve one _base_ entry to a file path. */
static int base_path(const mm_value *entry, const char *dir, char **out) {
    const mm_srcloc *loc = mm_value_loc(entry);
    if (!mm_value_is_string(entry))
        return mm_error_set_at(MM_ETYPE, loc,
                               "_base_ entries must be file paths (strings), "
                               "not a %s",
                               mm_value_type_name(mm_value_type_of(entry)));
    const char *s = mm_value_get_string(entry);
    if (!*s)
        return mm_error_set_at(MM_EINVAL, loc, "empty _base_ path");
    const char *sep = strstr(s, "::");
    if (sep) {
        char *scope = strndup(s, (size_t)(sep - s));
        if (!scope)
            return MM_ENOMEM;
        int rc;
        if (!*scope || !sep[2])
            rc = mm_error_set_at(MM_EINVAL, loc,
                                 "'%s': expected 'scope::path/to/config.yaml'",
                                 s);
        else if (!scope_hook)
            rc = mm_error_set_at(MM_ENOENT, loc,
                                 "'%s': no loaded plugin ships configs for "
                                 "scope '%s'",
                                 s, scope);
        else {
            rc = scope_hook(scope, sep + 2, out, scope_hook_user);
            if (rc)
                rc = mm_error_context(rc, loc, "_base_ '%s'", s);
        }
        free(scope);
        return rc;
    }
    *out = path_join(dir, s);
    return *out ? MM_OK : MM_ENOMEM;
}

/* Merge the sibling bases (in order) into one dict; a top-level key in two
 * of them is an error naming both. */
static int load_bases(const mm_value *base_entry, const char *dir,
                      load_stack *st, mm_value **out) {
    mm_value *single = NULL;
    const mm_value *list = base_entry;
    if (!mm_value_is_list(base_entry)) {
        single = mm_value_new_list();
        if (!single || mm_value_list_append(single, (mm_value *)base_entry))
            return MM_ENOMEM;
        list = single;
    }
    mm_value *merged = mm_value_new_dict();
    /* For each key of `merged`, the _base_ entry that brought it. */
    const mm_value **origin = NULL;
    int rc = merged ? MM_OK : MM_ENOMEM;
    for (size_t i = 0; rc == MM_OK && i < mm_value_len(list); i++) {
        const mm_value *entry = mm_value_list_get(list, i);
        char *path = NULL;
        mm_value *cfg = NULL;
        rc = base_path(entry, dir, &path);
        if (rc == MM_OK)
            rc = load_file(path, mm_value_loc(entry), st, &cfg);
        free(path);
        for (size_t k = 0; rc == MM_OK && k < mm_value_len(cfg); k++) {
            const char *key = mm_value_dict_key_at(cfg, k);
            long j = mm_value_dict_index(merged, key);
            if (j >= 0) {
                rc = mm_error_set_at(
                    MM_EEXIST, mm_value_loc(entry),
                    "key '%s' is defined in both base '%s' and base '%s'; "
                    "sibling bases must not share top-level keys",
                    key, mm_value_get_string(origin[j]),
                    mm_value_get_string(entry));
                break;
            }
            const mm_value **grown =
                realloc(origin, (mm_value_len(merged) + 1) * sizeof *origin);
            if (!grown) {
                rc = MM_ENOMEM;
                break;
            }
            origin = grown;
            origin[mm_value_len(merged)] = entry;
            rc = mm_value_dict_set(merged, key, mm_value_dict_value_at(cfg, k));
            if (rc == MM_OK)
                mm_value_dict_set_key_loc(merged, key,
                                          mm_value_dict_key_loc_at(cfg, k));
        }
        mm_value_release(cfg);
    }
    free(origin);
    mm_value_release(single);
    if (rc) {
        mm_value_release(merged);
        return rc;
    }
    *out = merged;
    return MM_OK;
}

static int load_file(const char *path, const mm_srcloc *from, load_stack *st,
                     mm_value **out) {
    *out = NULL;
    char *abs = path_absolute(path);
    if (!abs)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = MM_OK;
    for (size_t i = 0; i < st->depth; i++) {
        if (strcmp(st->paths[i], abs) == 0) {
            rc = cycle_error(st, i, abs, from);
            free(abs);
            return rc;
        }
    }
    if (st->depth == MAX_BASE_DEPTH) {
        free(abs);
        return mm_error_set_at(MM_ERANGE, from,
                               "_base_ chain deeper than %d files",
                               MAX_BASE_DEPTH);
    }
    char *raw = NULL, *text = NULL, *dir = NULL;
    size_t raw_len, text_len;
    mm_value *cfg = NULL, *bases = NULL, *merged = NULL;
    /* Messages show the path as the user or the _base_ entry spelled it. */
    const char *name = mm_intern(path);

    rc = mm_file_read(path, &raw, &raw_len);
    if (rc) {
        if (from && from->file)
            rc = mm_error_context(rc, from, "_base_");
        goto out;
    }
    if (memchr(raw, '\0', raw_len)) {
        mm_srcloc loc = {name, 0, 0};
        rc = mm_error_set_at(MM_EPARSE, &loc,
                             "contains a NUL byte: not a YAML text file");
        goto out;
    }
    rc = substitute_text(raw, raw_len, name, abs, &text, &text_len);
    if (rc == MM_OK)
        rc = mm_yaml_parse(text, text_len, name, &cfg);
    if (rc)
        goto out;
    if (mm_value_is_null(cfg)) {
        /* An empty file is an empty config. */
        mm_value_release(cfg);
        cfg = mm_value_new_dict();
        if (!cfg) {
            rc = MM_ENOMEM;
            goto out;
        }
        mm_value_set_loc(cfg, name, 1, 1);
    }
    if (!mm_value_is_dict(cfg)) {
        rc = mm_error_set_at(MM_ETYPE, mm_value_loc(cfg),
                             "a config must be a mapping at the top level, "
                             "not a %s",
                             mm_value_type_name(mm_value_type_of(cfg)));
        goto out;
    }

    /* mmengine's deprecation notice: warn and drop it. */
    const mm_value *dep = mm_value_dict_get(cfg, "_deprecation_");
    if (dep) {
        const mm_value *expected = mm_value_dict_get(dep, "expected");
        const mm_value *reference = mm_value_dict_get(dep, "reference");
        MM_WARN("The config file %s will be deprecated in the future.%s%s%s%s%s",
                path, mm_value_is_string(expected) ? " Please use " : "",
                mm_value_is_string(expected) ? mm_value_get_string(expected) : "",
                mm_value_is_string(expected) ? " instead." : "",
                mm_value_is_string(reference) ? " More information can be found at " : "",
                mm_value_is_string(reference) ? mm_value_get_string(reference) : "");
        mm_value_dict_del(cfg, "_deprecation_");
    }

    mm_value *base_entry = mm_value_dict_get(cfg, MM_CONFIG_BASE_KEY);
    if (base_entry) {
        dir = path_dirname(path);
        st->paths[st->depth++] = abs;
        rc = dir ? load_bases(base_entry, dir, st, &bases) : MM_ENOMEM;
        st->depth--;
        if (rc)
            goto out;
        mm_value *rep = NULL;
        rc = substitute_base_vars(cfg, bases, &rep);
        mm_value_release(rep); /* the root is a dict, never replaced */
        if (rc)
            goto out;
        mm_value_dict_del(cfg, MM_CONFIG_BASE_KEY);
        rc = mm_config_merge(bases, cfg, &merged);
        if (rc)
            goto out;
    } else {
        mm_value *rep = NULL;
        rc = substitute_base_vars(cfg, NULL, &rep);
        mm_value_release(rep);
        if (rc)
            goto out;
        merged = copy_without_directives(cfg);
        if (!merged) {
            rc = MM_ENOMEM;
            goto out;
        }
    }
    /* Like mmengine, a file's top-level "__private" keys stay in it. */
    for (size_t i = mm_value_len(merged); i-- > 0;) {
        const char *key = mm_value_dict_key_at(merged, i);
        if (key[0] == '_' && key[1] == '_')
            mm_value_dict_del(merged, key);
    }
    *out = merged;
    merged = NULL;
out:
    free(abs);
    free(raw);
    free(text);
    free(dir);
    mm_value_release(cfg);
    mm_value_release(bases);
    mm_value_release(merged);
    return rc;
}

int mm_config_load_merged(const char *path, mm_value **out) {
    load_stack st = {.depth = 0};
    return load_file(path, NULL, &st, out);
}

int mm_config_load(const char *path, const char *const *overrides,
                   size_t n_overrides, mm_value **out) {
    *out = NULL;
    mm_value *cfg;
    int rc = mm_config_load_merged(path, &cfg);
    if (rc)
        return rc;
    for (size_t i = 0; rc == MM_OK && i < n_overrides; i++)
        rc = mm_config_apply_override(cfg, overrides[i], (int)i);
    if (rc == MM_OK)
        rc = mm_config_resolve(cfg);
    if (rc) {
        mm_value_release(cfg);
        *out = NULL;
        return rc;
    }
    *out = cfg;
    return MM_OK;
}

/* ---- step 5: overrides -------------------------------------------------- */

static void relocate(mm_value *v, int line, int col_offset) {
    const mm_srcloc *loc = mm_value_loc(v);
    mm_srcloc moved = {mm_intern(MM_CONFIG_CMDLINE), line, loc->col + col_offset};
    mm_value_set_srcloc(v, &moved);
    for (size_t i = 0; i < mm_value_len(v); i++) {
        if (mm_value_is_dict(v)) {
            mm_srcloc k = *mm_value_dict_key_loc_at(v, i);
            k.file = moved.file;
            k.line = line;
            k.col += col_offset;
            mm_value_dict_set_key_loc(v, mm_value_dict_key_at(v, i), &k);
            relocate(mm_value_dict_value_at(v, i), line, col_offset);
        } else {
            relocate(mm_value_list_get(v, i), line, col_offset);
        }
    }
}

int mm_config_apply_override(mm_value *cfg, const char *override, int index) {
    mm_srcloc loc = {mm_intern(MM_CONFIG_CMDLINE), index + 1, 1};
    if (!mm_utf8_valid(override, strlen(override)))
        return mm_error_set_at(MM_EINVAL, &loc,
                               "override '%s' is not valid UTF-8 text",
                               override);
    const char *eq = strchr(override, '=');
    if (!eq || eq == override)
        return mm_error_set_at(MM_EINVAL, &loc,
                               "override '%s' is not of the form "
                               "key.path=value",
                               override);
    size_t key_len = (size_t)(eq - override);
    char *key = strndup(override, key_len);
    if (!key)
        return MM_ENOMEM;
    mm_value *val = NULL;
    int rc = mm_yaml_parse(eq + 1, strlen(eq + 1), MM_CONFIG_CMDLINE, &val);
    if (rc) {
        /* Re-anchor the YAML error at this argument: drop the reader's own
         * "<command line>:L:C: " prefix and point at the value. */
        const char *msg = mm_error_message();
        const char *inner = strncmp(msg, MM_CONFIG_CMDLINE, strlen(MM_CONFIG_CMDLINE)) == 0
                                ? strstr(msg, ": ")
                                : NULL;
        char text[1024];
        snprintf(text, sizeof text, "%s", inner ? inner + 2 : msg);
        char *line_note = strstr(text, " (line ");
        if (line_note)
            *line_note = '\0'; /* one-line values have no lines to name */
        mm_srcloc vloc = {loc.file, index + 1, (int)key_len + 2};
        rc = mm_error_set_at(rc, &vloc, "override '%s': %s", override, text);
        goto out;
    }
    relocate(val, index + 1, (int)key_len + 1);

    mm_value *cur = cfg;
    char *save = NULL;
    char *seg = strtok_r(key, ".", &save);
    mm_strbuf walked = {0};
    if (!seg || key[0] == '.' || key[key_len - 1] == '.' || strstr(key, "..")) {
        rc = mm_error_set_at(MM_EINVAL, &loc,
                             "override '%s': empty segment in key path",
                             override);
        goto out;
    }
    while (seg) {
        char *next = strtok_r(NULL, ".", &save);
        bool last = next == NULL;
        mm_value *child = NULL;
        size_t idx = 0;
        if (mm_value_is_list(cur)) {
            if (!mm_config_is_index(seg)) {
                rc = mm_error_set_at(MM_ETYPE, &loc,
                                     "override '%s': '%s' is a list; index it "
                                     "with a number, not '%s'",
                                     override, walked.data, seg);
                break;
            }
            idx = strtoul(seg, NULL, 10);
            if (idx >= mm_value_len(cur)) {
                rc = mm_error_set_at(MM_ERANGE, &loc,
                                     "override '%s': index %zu is past the end "
                                     "of '%s' (a list of %zu)",
                                     override, idx, walked.data,
                                     mm_value_len(cur));
                break;
            }
            child = mm_value_list_get(cur, idx);
        } else if (mm_value_is_dict(cur)) {
            child = mm_value_dict_get(cur, seg);
        } else {
            rc = mm_error_set_at(MM_ETYPE, &loc,
                                 "override '%s': '%s' is a %s, not a dict or "
                                 "list; set '%s=...' to replace it",
                                 override, walked.data,
                                 mm_value_type_name(mm_value_type_of(cur)),
                                 walked.data);
            break;
        }
        mm_strbuf_printf(&walked, "%s%s", walked.len ? "." : "", seg);
        if (last) {
            mm_value *nv = NULL;
            bool del = false;
            if (mm_value_is_dict(val) && child &&
                (rc = delete_flag(val, &del)) != MM_OK)
                break;
            if (mm_value_is_dict(val) && child && !del) {
                if (!mm_value_is_dict(child)) {
                    rc = mm_error_set_at(
                        MM_ETYPE, &loc,
                        "override '%s': '%s' is a %s, so a dict cannot merge "
                        "into it; add '_delete_: true' to replace it",
                        override, walked.data,
                        mm_value_type_name(mm_value_type_of(child)));
                    break;
                }
                rc = mm_config_merge(child, val, &nv);
            } else {
                nv = copy_without_directives(val);
                rc = nv ? MM_OK : MM_ENOMEM;
            }
            if (rc)
                break;
            if (mm_value_is_list(cur))
                rc = mm_value_list_set_take(cur, idx, nv);
            else {
                rc = mm_value_dict_set_take(cur, seg, nv);
                if (rc == MM_OK)
                    mm_value_dict_set_key_loc(cur, seg, &loc);
            }
            break;
        }
        if (!child) {
            /* A new key: intermediate dicts are created. */
            mm_value *d = mm_value_new_dict();
            if (!d) {
                rc = MM_ENOMEM;
                break;
            }
            mm_value_set_srcloc(d, &loc);
            rc = mm_value_dict_set_take(cur, seg, d);
            if (rc)
                break;
            mm_value_dict_set_key_loc(cur, seg, &loc);
            child = d;
        }
        cur = child;
        seg = next;
    }
    mm_strbuf_free(&walked);
out:
    free(key);
    mm_value_release(val);
    return rc;
}
