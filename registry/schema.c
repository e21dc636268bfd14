/* Schema validation of component config nodes, and the build context. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry_internal.h"
#include "schema.h"
#include "strbuf.h"

bool mm_param_accepts(const mm_param *p, const mm_value *v) {
    unsigned t = p->type;
    switch (mm_value_type_of(v)) {
    case MM_VALUE_NULL: return t & MM_PARAM_NULL;
    case MM_VALUE_BOOL: return t & MM_PARAM_BOOL;
    case MM_VALUE_INT: return t & (MM_PARAM_INT | MM_PARAM_FLOAT);
    case MM_VALUE_FLOAT: return t & MM_PARAM_FLOAT;
    case MM_VALUE_STRING: return t & MM_PARAM_STRING;
    case MM_VALUE_LIST: return t & (MM_PARAM_LIST | MM_PARAM_COMPONENT_LIST);
    case MM_VALUE_DICT: return t & (MM_PARAM_DICT | MM_PARAM_COMPONENT);
    default: return t == MM_PARAM_ANY;
    }
}

const char *mm_param_type_str(const mm_param *p, char *buf, size_t size) {
    static const char *const names[] = {"null", "bool", "int", "float",
                                        "string", "list", "dict"};
    if (p->type == MM_PARAM_ANY) {
        snprintf(buf, size, "any value");
        return buf;
    }
    mm_strbuf sb = {0};
    int n = 0;
    for (unsigned bit = 0; bit < 9; bit++) {
        if (!(p->type & (1u << bit)))
            continue;
        mm_strbuf_puts(&sb, n++ ? " or " : "");
        if (bit < 7)
            mm_strbuf_puts(&sb, names[bit]);
        else
            mm_strbuf_printf(&sb, "%s %s config%s",
                             bit == 7 ? "a" : "a list of",
                             mm_kind_name(p->kind), bit == 7 ? "" : "s");
    }
    snprintf(buf, size, "%s", sb.data ? sb.data : "?");
    mm_strbuf_free(&sb);
    return buf;
}

const mm_param *mm_component_param(const mm_component *c, const char *name,
                                   size_t *index) {
    for (size_t i = 0; i < c->n_params; i++) {
        if (strcmp(c->params[i].name, name) == 0) {
            if (index)
                *index = i;
            return &c->params[i];
        }
    }
    return NULL;
}

/* "a.b" + "c" (or "c" alone at the top); caller frees. */
static char *path_join(const char *path, const char *key) {
    size_t n = strlen(path) + strlen(key) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", path, *path ? "." : "", key);
    return s;
}

static char *path_index(const char *path, size_t i) {
    char key[32];
    snprintf(key, sizeof key, "%zu", i);
    return path_join(path, key);
}

static const char *value_brief(const mm_value *v, char *buf, size_t size) {
    if (mm_value_is_string(v))
        snprintf(buf, size, "string '%.40s'", mm_value_get_string(v));
    else if (mm_value_is_number(v) || mm_value_is_bool(v)) {
        mm_strbuf sb = {0};
        mm_strbuf_put_scalar(&sb, v, false);
        snprintf(buf, size, "%s %s", mm_value_type_name(mm_value_type_of(v)),
                 sb.data ? sb.data : "");
        mm_strbuf_free(&sb);
    } else
        snprintf(buf, size, "%s", mm_value_type_name(mm_value_type_of(v)));
    return buf;
}

/* The node's type name and the scope its bare names resolve in. */
static int node_header(const mm_value *node, const char *scope,
                       const char *path, const char **type,
                       const char **node_scope) {
    *node_scope = scope;
    const mm_value *s = mm_value_dict_get(node, "_scope_");
    if (s) {
        if (!mm_value_is_string(s) || !mm_scope_name_valid(mm_value_get_string(s)))
            return mm_error_set_at(MM_ETYPE, mm_value_loc(s),
                                   "%s._scope_: must be a scope name", path);
        *node_scope = mm_value_get_string(s);
    }
    const mm_value *t = mm_value_dict_get(node, "type");
    if (!t)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                               "%s: missing 'type' (the component to build)",
                               path);
    if (!mm_value_is_string(t) || !mm_value_get_string(t)[0])
        return mm_error_set_at(MM_ETYPE, mm_value_loc(t),
                               "%s.type: must be a non-empty component name, "
                               "not a %s",
                               path, mm_value_type_name(mm_value_type_of(t)));
    *type = mm_value_get_string(t);
    return MM_OK;
}

static int resolve(mm_kind kind, const mm_value *node, const char *scope,
                   const char *path, const mm_entry **entry,
                   const char **node_scope) {
    if (!mm_value_is_dict(node))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(node),
                               "%s: expected a %s config (a dict with 'type'), "
                               "got a %s",
                               path, mm_kind_name(kind),
                               mm_value_type_name(mm_value_type_of(node)));
    const char *type = NULL;
    int rc = node_header(node, scope, path, &type, node_scope);
    if (rc)
        return rc;
    const mm_srcloc *loc = mm_value_loc(mm_value_dict_get(node, "type"));
    rc = mm_registry_lookup(kind, type, *node_scope, loc, entry);
    if (rc)
        return mm_error_context(rc, loc, "%s", path);
    return MM_OK;
}

static int validate_node(mm_kind kind, const mm_value *node, const char *scope,
                         const char *path, int depth);

static int validate_param(const mm_entry *e, const mm_param *p,
                          const mm_value *v, const mm_srcloc *key_loc,
                          const char *scope, const char *path, int depth) {
    if (!mm_param_accepts(p, v)) {
        char want[128], got[80];
        const mm_srcloc *loc = mm_value_loc(v) ? mm_value_loc(v) : key_loc;
        return mm_error_set_at(MM_ETYPE, loc,
                               "%s: %s.%s expects %s for '%s', got %s", path,
                               e->scope, e->component->name,
                               mm_param_type_str(p, want, sizeof want), p->name,
                               value_brief(v, got, sizeof got));
    }
    int rc = MM_OK;
    char *sub = path_join(path, p->name);
    if (!sub)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if ((p->type & MM_PARAM_COMPONENT) && mm_value_is_dict(v) &&
        !(p->type & MM_PARAM_DICT && !mm_value_dict_get(v, "type")))
        rc = validate_node(p->kind, v, scope, sub, depth + 1);
    if ((p->type & MM_PARAM_COMPONENT_LIST) && mm_value_is_list(v)) {
        for (size_t i = 0; !rc && i < mm_value_len(v); i++) {
            char *item = path_index(sub, i);
            rc = item ? validate_node(p->kind, mm_value_list_get(v, i), scope,
                                      item, depth + 1)
                      : mm_error_set(MM_ENOMEM, "out of memory");
            free(item);
        }
    }
    free(sub);
    return rc;
}

static bool is_pretrained(const mm_value *v) {
    const mm_value *t = mm_value_is_dict(v) ? mm_value_dict_get(v, "type")
                                            : NULL;
    return t && mm_value_is_string(t) &&
           strcmp(mm_value_get_string(t), "Pretrained") == 0;
}

/* init_cfg entries of type Pretrained (mmengine's PretrainedInit, plus
 * mm's `map`): applied by the runner, so checked here rather than by each
 * component's schema. */
static int validate_pretrained(const mm_value *node, const char *path) {
    static const char *const keys[] = {"type", "checkpoint", "prefix", "map",
                                       "map_location"};
    const mm_value *ic = mm_value_dict_get(node, "init_cfg");
    size_t n = mm_value_is_list(ic) ? mm_value_len(ic) : 1;
    for (size_t i = 0; ic && i < n; i++) {
        const mm_value *v = mm_value_is_list(ic) ? mm_value_list_get(ic, i)
                                                 : ic;
        if (!is_pretrained(v))
            continue;
        for (size_t k = 0; k < mm_value_len(v); k++) {
            const char *key = mm_value_dict_key_at(v, k);
            const mm_value *x = mm_value_dict_value_at(v, k);
            size_t j = 0;
            while (j < sizeof keys / sizeof *keys && strcmp(keys[j], key))
                j++;
            if (j == sizeof keys / sizeof *keys)
                return mm_error_set_at(MM_EINVAL, mm_value_dict_key_loc_at(v, k),
                                       "%s.init_cfg: Pretrained has no "
                                       "parameter '%s' (it takes checkpoint, "
                                       "prefix, map, map_location)",
                                       path, key);
            bool str = mm_value_is_string(x) && mm_value_get_string(x)[0];
            if (j == 1 && !str)
                return mm_error_set_at(MM_ETYPE, mm_value_loc(x),
                                       "%s.init_cfg.checkpoint: expected a "
                                       "file path",
                                       path);
            if (j > 1 && !str && !mm_value_is_null(x))
                return mm_error_set_at(MM_ETYPE, mm_value_loc(x),
                                       "%s.init_cfg.%s: expected a string or "
                                       "null",
                                       path, key);
        }
        if (!mm_value_dict_get(v, "checkpoint"))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                                   "%s.init_cfg: Pretrained needs "
                                   "'checkpoint' (the file to load)",
                                   path);
    }
    return MM_OK;
}

static int validate_node(mm_kind kind, const mm_value *node, const char *scope,
                         const char *path, int depth) {
    if (depth > 64)
        return mm_error_set_at(MM_ERANGE, mm_value_loc(node),
                               "%s: components nested more than 64 deep", path);
    const mm_entry *e;
    const char *node_scope;
    int rc = resolve(kind, node, scope, path, &e, &node_scope);
    if (rc)
        return rc;
    const mm_component *c = e->component;
    for (size_t i = 0; i < mm_value_len(node); i++) {
        const char *key = mm_value_dict_key_at(node, i);
        const mm_srcloc *key_loc = mm_value_dict_key_loc_at(node, i);
        if (strcmp(key, "type") == 0 || strcmp(key, "_scope_") == 0)
            continue;
        const mm_param *p = mm_component_param(c, key, NULL);
        if (!p) {
            if (c->extra_params)
                continue;
            mm_strbuf sb = {0};
            const char *best = NULL;
            size_t best_d = strlen(key) / 3 + 2; /* strictly below */
            for (size_t j = 0; j < c->n_params; j++) {
                size_t d = mm_edit_distance(c->params[j].name, key);
                if (d < best_d)
                    best = c->params[j].name, best_d = d;
            }
            if (best)
                mm_strbuf_printf(&sb, " (did you mean '%s'?)", best);
            else if (!c->n_params)
                mm_strbuf_puts(&sb, " (it takes no parameters)");
            rc = mm_error_set_at(MM_EINVAL, key_loc,
                                 "%s: %s.%s has no parameter '%s'%s", path,
                                 e->scope, c->name, key, sb.data ? sb.data : "");
            mm_strbuf_free(&sb);
            return rc;
        }
        rc = validate_param(e, p, mm_value_dict_value_at(node, i), key_loc,
                            node_scope, path, depth);
        if (rc)
            return rc;
    }
    if (kind == MM_MODELS && (rc = validate_pretrained(node, path)))
        return rc;
    for (size_t j = 0; j < c->n_params; j++) {
        if (c->params[j].required && !mm_value_dict_get(node, c->params[j].name))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                                   "%s: %s.%s needs parameter '%s' (%s)", path,
                                   e->scope, c->name, c->params[j].name,
                                   c->params[j].doc ? c->params[j].doc
                                                    : "required");
    }
    return MM_OK;
}

int mm_registry_validate(mm_kind kind, const mm_value *node,
                         const char *default_scope, const char *path) {
    return validate_node(kind, node, default_scope, path ? path : "", 0);
}

/* ---- building ------------------------------------------------------------ */

struct mm_build_ctx {
    const mm_entry *entry;
    const mm_value *node;
    const char *scope;
    const char *path;
    void *user;
};

/* Set once the innermost failing build has named its path, so the levels
 * above do not repeat theirs. */
static _Thread_local int path_reported;

/* Where mm_registry_build_with_inits collects; NULL: Pretrained entries
 * are dropped. */
static _Thread_local mm_pretrained_inits *recording;

void mm_pretrained_inits_clear(mm_pretrained_inits *inits) {
    if (!inits)
        return;
    for (size_t i = 0; i < inits->n; i++) {
        free(inits->items[i].path);
        mm_value_release(inits->items[i].cfg);
    }
    free(inits->items);
    *inits = (mm_pretrained_inits){0};
}

static int record_pretrained(void *obj, const char *path,
                             const mm_value *cfg) {
    mm_pretrained_inits *r = recording;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 4;
        mm_pretrained_init *it = realloc(r->items, cap * sizeof *it);
        if (!it)
            return mm_error_set(MM_ENOMEM, "out of memory");
        r->items = it;
        r->cap = cap;
    }
    char *p = strdup(path);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    r->items[r->n++] = (mm_pretrained_init){obj, p,
                                            mm_value_copy(cfg)};
    return r->items[r->n - 1].cfg ? MM_OK
                                  : mm_error_set(MM_ENOMEM, "out of memory");
}

/* A copy of node whose init_cfg lacks the Pretrained entries (null when
 * none is left), and those entries; both NULL when there are none. */
static int split_init_cfg(const mm_value *node, mm_value **stripped,
                          mm_value **pretrained) {
    *stripped = *pretrained = NULL;
    const mm_value *ic = mm_value_dict_get(node, "init_cfg");
    size_t n = mm_value_is_list(ic) ? mm_value_len(ic) : 1, found = 0;
    for (size_t i = 0; ic && i < n; i++)
        found += is_pretrained(mm_value_is_list(ic) ? mm_value_list_get(ic, i)
                                                    : ic);
    if (!found)
        return MM_OK;
    mm_value *rest = mm_value_is_list(ic) && found < n ? mm_value_new_list()
                                                       : mm_value_new_null();
    mm_value *pre = mm_value_new_list(), *copy = mm_value_copy(node);
    int rc = rest && pre && copy ? MM_OK : MM_ENOMEM;
    for (size_t i = 0; ic && i < n && !rc; i++) {
        mm_value *v = mm_value_is_list(ic) ? mm_value_list_get(ic, i)
                                           : (mm_value *)ic;
        rc = mm_value_list_append(is_pretrained(v) ? pre : rest, v);
    }
    if (!rc) {
        mm_value_set_srcloc(rest, mm_value_loc(ic));
        rc = mm_value_dict_set_take(copy, "init_cfg", rest);
        rest = NULL;
    }
    mm_value_release(rest);
    if (rc) {
        mm_value_release(pre);
        mm_value_release(copy);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *stripped = copy;
    *pretrained = pre;
    return MM_OK;
}

static int build_node(mm_kind kind, const mm_value *node, const char *scope,
                      const char *path, void *user, void **out) {
    mm_build_ctx ctx = {.node = node, .path = path, .user = user};
    int rc = resolve(kind, node, scope, path, &ctx.entry, &ctx.scope);
    if (rc) {
        path_reported = 1;
        return rc;
    }
    *out = NULL;
    mm_value *stripped = NULL, *pretrained = NULL;
    if (kind == MM_MODELS &&
        (rc = split_init_cfg(node, &stripped, &pretrained)) != MM_OK) {
        path_reported = 1;
        return rc;
    }
    if (stripped)
        ctx.node = stripped;
    rc = ctx.entry->component->build(&ctx, out);
    if (rc && !path_reported) {
        path_reported = 1;
        rc = mm_error_context(rc, mm_value_loc(node), "%s (%s.%s)", path,
                              ctx.entry->scope, ctx.entry->component->name);
    }
    /* After the build: the node's children are recorded already. */
    for (size_t i = 0; !rc && recording && i < mm_value_len(pretrained); i++)
        if ((rc = record_pretrained(*out, path,
                                    mm_value_list_get(pretrained, i))) &&
            ctx.entry->component->destroy) {
            ctx.entry->component->destroy(*out);
            *out = NULL;
        }
    mm_value_release(stripped);
    mm_value_release(pretrained);
    return rc;
}

int mm_registry_build_with_inits(mm_kind kind, const mm_value *node,
                                 const char *default_scope, const char *path,
                                 void *user, void **out,
                                 mm_pretrained_inits *inits) {
    if (!inits)
        return mm_registry_build(kind, node, default_scope, path, user, out);
    mm_pretrained_inits *outer = recording;
    size_t n0 = inits->n;
    recording = inits;
    int rc = mm_registry_build(kind, node, default_scope, path, user, out);
    recording = outer;
    if (rc) {
        /* what was recorded points into objects freed by now */
        for (size_t i = n0; i < inits->n; i++) {
            free(inits->items[i].path);
            mm_value_release(inits->items[i].cfg);
        }
        inits->n = n0;
    }
    return rc;
}

int mm_registry_build(mm_kind kind, const mm_value *node,
                      const char *default_scope, const char *path, void *user,
                      void **out) {
    *out = NULL;
    int rc = mm_registry_validate(kind, node, default_scope, path);
    if (rc) {
        path_reported = 1; /* named already, also when a builder nests us */
        return rc;
    }
    path_reported = 0;
    return build_node(kind, node, default_scope, path ? path : "", user, out);
}

const mm_value *mm_build_arg(mm_build_ctx *ctx, const char *param) {
    static mm_value *null_value;
    const mm_value *v = mm_value_dict_get(ctx->node, param);
    if (v)
        return v;
    size_t i;
    if (mm_component_param(ctx->entry->component, param, &i)) {
        const mm_reg_entry *e = mm_registry_entry_of(ctx->entry);
        if (e->defaults[i])
            return e->defaults[i];
    }
    if (!__atomic_load_n(&null_value, __ATOMIC_ACQUIRE)) {
        mm_value *n = mm_value_new_null(), *expected = NULL;
        if (!__atomic_compare_exchange_n(&null_value, &expected, n, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            mm_value_release(n);
    }
    return null_value;
}

static int arg_type_error(mm_build_ctx *ctx, const char *param,
                          const char *want) {
    const mm_value *v = mm_build_arg(ctx, param);
    return mm_error_set_at(MM_ETYPE, mm_value_loc(v), "%s: expected %s, got %s",
                           param, want, mm_value_type_name(mm_value_type_of(v)));
}

int mm_build_int(mm_build_ctx *ctx, const char *param, int64_t *out) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (!mm_value_is_int(v))
        return arg_type_error(ctx, param, "an int");
    *out = mm_value_get_int(v);
    return MM_OK;
}

int mm_build_float(mm_build_ctx *ctx, const char *param, double *out) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (!mm_value_is_number(v))
        return arg_type_error(ctx, param, "a number");
    *out = mm_value_is_int(v) ? (double)mm_value_get_int(v) : mm_value_get_float(v);
    return MM_OK;
}

int mm_build_bool(mm_build_ctx *ctx, const char *param, bool *out) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (!mm_value_is_bool(v))
        return arg_type_error(ctx, param, "a bool");
    *out = mm_value_get_bool(v);
    return MM_OK;
}

int mm_build_string(mm_build_ctx *ctx, const char *param, const char **out) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (!mm_value_is_string(v))
        return arg_type_error(ctx, param, "a string");
    *out = mm_value_get_string(v);
    return MM_OK;
}

static int build_child(mm_build_ctx *ctx, const char *param, const mm_value *v,
                       const char *path, void **out) {
    const mm_param *p = mm_component_param(ctx->entry->component, param, NULL);
    if (!p || !(p->type & (MM_PARAM_COMPONENT | MM_PARAM_COMPONENT_LIST)))
        return mm_error_set(MM_EINVAL, "%s.%s has no component parameter '%s'",
                            ctx->entry->scope, ctx->entry->component->name,
                            param);
    *out = NULL;
    if (mm_value_is_null(v))
        return MM_OK;
    return build_node(p->kind, v, ctx->scope, path, ctx->user, out);
}

int mm_build_child(mm_build_ctx *ctx, const char *param, void **out) {
    char *path = path_join(ctx->path, param);
    if (!path)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = build_child(ctx, param, mm_build_arg(ctx, param), path, out);
    free(path);
    return rc;
}

int mm_build_child_at(mm_build_ctx *ctx, const char *param, size_t index,
                      void **out) {
    const mm_value *list = mm_build_arg(ctx, param);
    if (!mm_value_is_list(list) || index >= mm_value_len(list))
        return mm_error_set(MM_ERANGE, "%s: no element %zu", param, index);
    char *sub = path_join(ctx->path, param);
    char *path = sub ? path_index(sub, index) : NULL;
    int rc = path ? build_child(ctx, param, mm_value_list_get(list, index),
                                path, out)
                  : mm_error_set(MM_ENOMEM, "out of memory");
    free(sub);
    free(path);
    return rc;
}

const mm_value *mm_build_node(const mm_build_ctx *ctx) { return ctx->node; }
const char *mm_build_path(const mm_build_ctx *ctx) { return ctx->path; }
const mm_entry *mm_build_entry(const mm_build_ctx *ctx) { return ctx->entry; }
const char *mm_build_scope(const mm_build_ctx *ctx) { return ctx->scope; }
void *mm_build_user(const mm_build_ctx *ctx) { return ctx->user; }
