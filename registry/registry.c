/* The component tables: registration, lookup, did-you-mean. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "registry_internal.h"
#include "schema.h"
#include "strbuf.h"

static const char *const kind_names[MM_KIND_COUNT] = {
    [MM_MODELS] = "MODELS",
    [MM_DATASETS] = "DATASETS",
    [MM_TRANSFORMS] = "TRANSFORMS",
    [MM_DATA_SAMPLERS] = "DATA_SAMPLERS",
    [MM_COLLATE_FUNCTIONS] = "COLLATE_FUNCTIONS",
    [MM_METRICS] = "METRICS",
    [MM_EVALUATORS] = "EVALUATORS",
    [MM_HOOKS] = "HOOKS",
    [MM_LOOPS] = "LOOPS",
    [MM_OPTIMIZERS] = "OPTIMIZERS",
    [MM_OPTIM_WRAPPERS] = "OPTIM_WRAPPERS",
    [MM_PARAM_SCHEDULERS] = "PARAM_SCHEDULERS",
    [MM_TASK_UTILS] = "TASK_UTILS",
    [MM_VISUALIZERS] = "VISUALIZERS",
    [MM_VIS_BACKENDS] = "VIS_BACKENDS",
    [MM_INFERENCERS] = "INFERENCERS",
};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == MM_KIND_COUNT,
               "a name for every registry kind");

const char *mm_kind_name(mm_kind kind) {
    return (unsigned)kind < MM_KIND_COUNT ? kind_names[kind] : "?";
}

int mm_kind_parse(const char *name, mm_kind *out) {
    for (int k = 0; k < MM_KIND_COUNT; k++) {
        if (name && strcasecmp(name, kind_names[k]) == 0) {
            *out = (mm_kind)k;
            return MM_OK;
        }
    }
    return mm_error_set(MM_EINVAL, "unknown registry kind '%s'",
                        name ? name : "(null)");
}

/* ---- the table ---------------------------------------------------------- */

/* Entries in registration order, indexed by (kind, scope, name) in an
 * open-addressing table of entry positions + 1 (0: empty slot). */
static struct {
    pthread_rwlock_t lock;
    mm_reg_entry **entries;
    size_t n, cap;
    size_t *index;
    size_t index_cap; /* power of two */
} reg = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static _Thread_local const char *registering_scope;

static size_t key_hash(mm_kind kind, const char *scope, const char *name) {
    return (mm_str_hash(scope) * 31u + mm_str_hash(name)) * 17u + (size_t)kind;
}

static int entry_is(const mm_reg_entry *e, mm_kind kind, const char *scope,
                    const char *name) {
    return e->pub.component->kind == kind && strcmp(e->pub.scope, scope) == 0 &&
           strcmp(e->pub.component->name, name) == 0;
}

/* Caller holds the lock. */
static mm_reg_entry *find_locked(mm_kind kind, const char *scope,
                                 const char *name) {
    if (!reg.index_cap)
        return NULL;
    size_t mask = reg.index_cap - 1;
    for (size_t h = key_hash(kind, scope, name) & mask;; h = (h + 1) & mask) {
        size_t slot = reg.index[h];
        if (!slot)
            return NULL;
        if (entry_is(reg.entries[slot - 1], kind, scope, name))
            return reg.entries[slot - 1];
    }
}

static void index_put(size_t *index, size_t cap, const mm_reg_entry *e,
                      size_t pos) {
    size_t mask = cap - 1;
    size_t h = key_hash(e->pub.component->kind, e->pub.scope,
                        e->pub.component->name) & mask;
    while (index[h])
        h = (h + 1) & mask;
    index[h] = pos + 1;
}

static int index_rebuild(size_t cap) {
    size_t *index = calloc(cap, sizeof *index);
    if (!index)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < reg.n; i++)
        index_put(index, cap, reg.entries[i], i);
    free(reg.index);
    reg.index = index;
    reg.index_cap = cap;
    return MM_OK;
}

static void entry_free(mm_reg_entry *e) {
    if (!e)
        return;
    for (size_t i = 0; e->defaults && i < e->pub.component->n_params; i++)
        mm_value_release(e->defaults[i]);
    free(e->defaults);
    free(e);
}

/* ---- registration ------------------------------------------------------- */

void mm_registry_scope_begin(const char *scope) {
    registering_scope = mm_intern(scope);
}

void mm_registry_scope_end(void) { registering_scope = NULL; }

void mm_registry_scope_discard(const char *scope) {
    pthread_rwlock_wrlock(&reg.lock);
    size_t kept = 0;
    for (size_t i = 0; i < reg.n; i++) {
        if (strcmp(reg.entries[i]->pub.scope, scope) == 0)
            entry_free(reg.entries[i]);
        else
            reg.entries[kept++] = reg.entries[i];
    }
    reg.n = kept;
    /* Re-index in place: same size, nothing to allocate. */
    if (reg.index_cap) {
        memset(reg.index, 0, reg.index_cap * sizeof *reg.index);
        for (size_t i = 0; i < reg.n; i++)
            index_put(reg.index, reg.index_cap, reg.entries[i], i);
    }
    pthread_rwlock_unlock(&reg.lock);
}

static int name_valid(const char *s) {
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

int mm_scope_name_valid(const char *s) {
    size_t n = 0;
    if (!s || !islower((unsigned char)*s))
        return 0;
    for (; s[n]; n++)
        if (!(islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) ||
              s[n] == '_'))
            return 0;
    return n < 64;
}

/* Check the schema of c and parse its defaults into e->defaults. */
static int schema_prepare(const mm_component *c, mm_reg_entry *e) {
    if (c->n_params && !c->params)
        return mm_error_set(MM_EINVAL, "n_params is %zu but params is NULL",
                            c->n_params);
    e->defaults = calloc(c->n_params ? c->n_params : 1, sizeof *e->defaults);
    if (!e->defaults)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_params; i++) {
        const mm_param *p = &c->params[i];
        if (!name_valid(p->name) || strcmp(p->name, "type") == 0 ||
            strcmp(p->name, "_scope_") == 0)
            return mm_error_set(MM_EINVAL, "parameter %zu: bad name '%s'", i,
                                p->name ? p->name : "(null)");
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->params[j].name, p->name) == 0)
                return mm_error_set(MM_EINVAL, "parameter '%s' listed twice",
                                    p->name);
        if (!p->type || (p->type & ~(unsigned)MM_PARAM_ANY))
            return mm_error_set(MM_EINVAL, "parameter '%s': bad type mask 0x%x",
                                p->name, p->type);
        if ((p->type & (MM_PARAM_COMPONENT | MM_PARAM_COMPONENT_LIST)) &&
            (unsigned)p->kind >= MM_KIND_COUNT)
            return mm_error_set(MM_EINVAL, "parameter '%s': bad kind %d",
                                p->name, (int)p->kind);
        if (!p->def)
            continue;
        if (p->required)
            return mm_error_set(MM_EINVAL,
                                "parameter '%s' is required and has a default",
                                p->name);
        int rc = mm_yaml_parse(p->def, strlen(p->def), "<default>",
                               &e->defaults[i]);
        if (rc)
            return mm_error_context(rc, NULL, "parameter '%s': default '%s'",
                                    p->name, p->def);
        if (!mm_param_accepts(p, e->defaults[i])) {
            char want[128];
            return mm_error_set(MM_EINVAL,
                                "parameter '%s': default '%s' is not %s",
                                p->name, p->def,
                                mm_param_type_str(p, want, sizeof want));
        }
    }
    return MM_OK;
}

int mm_register(const mm_component *c) {
    const char *scope = registering_scope;
    const char *name = c && c->name ? c->name : "(null)";
    if (!scope)
        return mm_error_set(MM_EINVAL,
                            "component '%s' registered outside a plugin's "
                            "init (register from the init function given to "
                            "MM_PLUGIN_DEFINE)",
                            name);
    if (!c || !name_valid(c->name))
        return mm_error_set(MM_EINVAL,
                            "%s: bad component name '%s' (letters, digits and "
                            "'_', not starting with a digit)",
                            scope, name);
    if ((unsigned)c->kind >= MM_KIND_COUNT)
        return mm_error_set(MM_EINVAL, "%s.%s: bad registry kind %d", scope,
                            name, (int)c->kind);
    if (!c->build)
        return mm_error_set(MM_EINVAL, "%s.%s: no build function", scope,
                            name);
    mm_reg_entry *e = calloc(1, sizeof *e);
    if (!e)
        return mm_error_set(MM_ENOMEM, "out of memory");
    e->pub.component = c;
    e->pub.scope = scope;
    int rc = schema_prepare(c, e);
    if (rc) {
        entry_free(e);
        return mm_error_context(rc, NULL, "%s.%s", scope, name);
    }

    pthread_rwlock_wrlock(&reg.lock);
    if (find_locked(c->kind, scope, c->name)) {
        pthread_rwlock_unlock(&reg.lock);
        entry_free(e);
        return mm_error_set(MM_EEXIST, "%s.%s is already registered in %s",
                            scope, name, mm_kind_name(c->kind));
    }
    rc = MM_OK;
    if (reg.n == reg.cap) {
        size_t cap = reg.cap ? reg.cap * 2 : 64;
        mm_reg_entry **grown = realloc(reg.entries, cap * sizeof *grown);
        if (!grown)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        else
            reg.entries = grown, reg.cap = cap;
    }
    if (!rc && (reg.n + 1) * 2 > reg.index_cap)
        rc = index_rebuild(reg.index_cap ? reg.index_cap * 2 : 128);
    if (!rc) {
        reg.entries[reg.n] = e;
        index_put(reg.index, reg.index_cap, e, reg.n);
        reg.n++;
    }
    pthread_rwlock_unlock(&reg.lock);
    if (rc)
        entry_free(e);
    return rc;
}

int mm_register_all(const mm_component *cs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int rc = mm_register(&cs[i]);
        if (rc)
            return rc;
    }
    return MM_OK;
}

/* ---- lookup ------------------------------------------------------------- */

static pthread_once_t core_once = PTHREAD_ONCE_INIT;

static void core_init(void) {
    mm_registry_scope_begin("mm");
    mm_core_register();
    mm_registry_scope_end();
}

const mm_reg_entry *mm_registry_entry_of(const mm_entry *e) {
    return (const mm_reg_entry *)e; /* pub is the first member */
}

/* Closest names of `kind` in the searched scopes (and the exact name in any
 * other loaded scope), appended to sb as " (did you mean 'a', 'b'?)". */
static void suggest(mm_strbuf *sb, mm_kind kind, const char *name,
                    const char *const *scopes, size_t n_scopes) {
    enum { MAX = 3 };
    const mm_reg_entry *best[MAX] = {0};
    size_t dist[MAX];
    size_t limit = strlen(name) / 3 + 1;
    pthread_rwlock_rdlock(&reg.lock);
    for (size_t i = 0; i < reg.n; i++) {
        const mm_reg_entry *e = reg.entries[i];
        if (e->pub.component->kind != kind)
            continue;
        int searched = 0;
        for (size_t s = 0; s < n_scopes; s++)
            searched |= strcmp(e->pub.scope, scopes[s]) == 0;
        size_t d = strcasecmp(e->pub.component->name, name) == 0
                       ? 0
                       : mm_edit_distance(e->pub.component->name, name);
        if (!searched && d != 0)
            continue;
        if (d > limit)
            continue;
        for (int k = 0; k < MAX; k++) {
            if (!best[k] || d < dist[k]) {
                for (int j = MAX - 1; j > k; j--)
                    best[j] = best[j - 1], dist[j] = dist[j - 1];
                best[k] = e, dist[k] = d;
                break;
            }
        }
    }
    for (int k = 0; k < MAX && best[k]; k++) {
        int searched = 0;
        for (size_t s = 0; s < n_scopes; s++)
            searched |= strcmp(best[k]->pub.scope, scopes[s]) == 0;
        mm_strbuf_printf(sb, "%s'%s%s%s'", k ? ", " : " (did you mean ",
                         searched ? "" : best[k]->pub.scope,
                         searched ? "" : ".", best[k]->pub.component->name);
    }
    pthread_rwlock_unlock(&reg.lock);
    if (best[0])
        mm_strbuf_puts(sb, "?)");
}

static int ensure_scope(const char *scope, const char *name,
                        const mm_srcloc *loc) {
    if (mm_plugin_is_loaded(scope))
        return MM_OK;
    int rc = mm_plugin_load(scope);
    if (rc)
        return mm_error_context(rc, loc, "'%s' needs scope '%s'", name, scope);
    return MM_OK;
}

int mm_registry_lookup(mm_kind kind, const char *name,
                       const char *default_scope, const mm_srcloc *loc,
                       const mm_entry **out) {
    pthread_once(&core_once, core_init);
    if ((unsigned)kind >= MM_KIND_COUNT)
        return mm_error_set(MM_EINVAL, "bad registry kind %d", (int)kind);
    if (!name || !*name)
        return mm_error_set_at(MM_EINVAL, loc, "empty component name");

    const char *scopes[2];
    size_t n_scopes = 0;
    char scope_buf[64];
    const char *bare = name;
    const char *dot = strrchr(name, '.');
    if (dot) {
        size_t n = (size_t)(dot - name);
        if (n >= sizeof scope_buf)
            n = sizeof scope_buf - 1;
        memcpy(scope_buf, name, n);
        scope_buf[n] = 0;
        bare = dot + 1;
        if (!mm_scope_name_valid(scope_buf) || strchr(scope_buf, '.'))
            return mm_error_set_at(MM_EINVAL, loc,
                                   "'%s': '%s' is not a scope name (lowercase "
                                   "letters, digits, '_')",
                                   name, scope_buf);
        scopes[n_scopes++] = mm_intern(scope_buf);
    } else {
        if (default_scope && *default_scope && strcmp(default_scope, "mm"))
            scopes[n_scopes++] = mm_intern(default_scope);
        scopes[n_scopes++] = "mm";
    }
    for (size_t s = 0; s < n_scopes; s++) {
        int rc = ensure_scope(scopes[s], name, loc);
        if (rc)
            return rc;
    }

    pthread_rwlock_rdlock(&reg.lock);
    const mm_reg_entry *found = NULL;
    for (size_t s = 0; s < n_scopes && !found; s++)
        found = find_locked(kind, scopes[s], bare);
    pthread_rwlock_unlock(&reg.lock);
    if (found) {
        *out = &found->pub;
        return MM_OK;
    }

    mm_strbuf sb = {0};
    mm_strbuf_printf(&sb, "no %s component '%s' in scope%s ",
                     mm_kind_name(kind), bare, n_scopes > 1 ? "s" : "");
    for (size_t s = 0; s < n_scopes; s++)
        mm_strbuf_printf(&sb, "%s%s", s ? ", " : "", scopes[s]);
    suggest(&sb, kind, bare, scopes, n_scopes);
    int rc = mm_error_set_at(MM_ENOENT, loc, "%s", sb.data ? sb.data : "");
    mm_strbuf_free(&sb);
    return rc;
}

void mm_registry_foreach(const char *scope,
                         void (*fn)(const mm_entry *e, void *user),
                         void *user) {
    pthread_once(&core_once, core_init);
    /* Snapshot under the lock, call outside it: fn may look things up. */
    pthread_rwlock_rdlock(&reg.lock);
    size_t n = 0;
    const mm_entry **list = malloc((reg.n ? reg.n : 1) * sizeof *list);
    for (int k = 0; list && k < MM_KIND_COUNT; k++)
        for (size_t i = 0; i < reg.n; i++) {
            const mm_reg_entry *e = reg.entries[i];
            if ((int)e->pub.component->kind == k &&
                (!scope || strcmp(scope, e->pub.scope) == 0))
                list[n++] = &e->pub;
        }
    pthread_rwlock_unlock(&reg.lock);
    for (size_t i = 0; i < n; i++)
        fn(list[i], user);
    free(list);
}

size_t mm_registry_count(const char *scope) {
    pthread_once(&core_once, core_init);
    size_t n = 0;
    pthread_rwlock_rdlock(&reg.lock);
    for (size_t i = 0; i < reg.n; i++)
        n += !scope || strcmp(scope, reg.entries[i]->pub.scope) == 0;
    pthread_rwlock_unlock(&reg.lock);
    return n;
}
