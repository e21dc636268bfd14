/* The module object: registration of parameters, buffers and children,
 * walks with dotted names, train/eval, state dicts, repr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/autograd.h"
#include "mm/nn.h"
#include "mm/ops.h"
#include "nn_internal.h"

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int mm_module_new(const mm_module_class *cls, size_t size, mm_module **out) {
    *out = NULL;
    if (!cls || size < sizeof(mm_module))
        return mm_error_set(MM_EINVAL, "module_new: bad class or size");
    mm_module *m = calloc(1, size);
    if (!m)
        return mm_error_set(MM_ENOMEM, "out of memory");
    m->cls = cls;
    m->training = true;
    *out = m;
    return MM_OK;
}

static void free_tensors(mm_module_tensor *ts, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (ts[i].field)
            *ts[i].field = NULL;
        mm_tensor_release(ts[i].tensor);
        free(ts[i].name);
    }
    free(ts);
}

void mm_module_free(mm_module *m) {
    if (!m)
        return;
    if (m->cls->fini)
        m->cls->fini(m);
    mm_fused_forget(m);
    for (size_t i = m->n_children; i-- > 0;) {
        mm_module_free(m->children[i].module);
        free(m->children[i].name);
    }
    free(m->children);
    free_tensors(m->params, m->n_params);
    free_tensors(m->buffers, m->n_buffers);
    free(m->name);
    free(m);
}

/* ---- registration -------------------------------------------------------- */

static const mm_module_tensor *find_tensor(const mm_module_tensor *ts, size_t n,
                                           const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(ts[i].name, name) == 0)
            return &ts[i];
    return NULL;
}

static int check_name(const mm_module *m, const char *what, const char *name) {
    if (!name || !*name || strchr(name, '.'))
        return mm_error_set(MM_EINVAL,
                            "%s: %s name '%s' must be non-empty and contain "
                            "no '.'",
                            m->cls->name, what, name ? name : "");
    if (find_tensor(m->params, m->n_params, name) ||
        find_tensor(m->buffers, m->n_buffers, name) ||
        mm_module_get_child(m, name))
        return mm_error_set(MM_EEXIST, "%s: attribute '%s' already exists",
                            m->cls->name, name);
    return MM_OK;
}

static int add_tensor(mm_module *m, mm_module_tensor **list, size_t *n,
                      const char *name, mm_tensor *t, bool persistent,
                      mm_tensor **field) {
    mm_module_tensor *grown = realloc(*list, (*n + 1) * sizeof **list);
    if (!grown)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *list = grown;
    char *nm = dup_str(name);
    if (!nm)
        return mm_error_set(MM_ENOMEM, "out of memory");
    (void)m;
    grown[*n] = (mm_module_tensor){.name = nm,
                                   .tensor = mm_tensor_retain(t),
                                   .field = field,
                                   .persistent = persistent};
    (*n)++;
    if (field)
        *field = t;
    return MM_OK;
}

int mm_module_add_parameter(mm_module *m, const char *name, mm_tensor *t,
                            mm_tensor **field) {
    MM_TRY(check_name(m, "parameter", name));
    if (!t)
        return mm_error_set(MM_EINVAL, "%s: parameter '%s' is NULL",
                            m->cls->name, name);
    if (!mm_tensor_is_leaf(t))
        return mm_error_set(MM_EINVAL,
                            "%s: parameter '%s' must be a leaf tensor (made "
                            "by no recorded op)",
                            m->cls->name, name);
    int rc = mm_tensor_set_requires_grad(t, true);
    if (rc)
        return mm_error_context(rc, NULL, "%s: parameter '%s'", m->cls->name,
                                name);
    return add_tensor(m, &m->params, &m->n_params, name, t, true, field);
}

int mm_module_add_buffer(mm_module *m, const char *name, mm_tensor *t,
                         bool persistent, mm_tensor **field) {
    MM_TRY(check_name(m, "buffer", name));
    if (!t)
        return mm_error_set(MM_EINVAL, "%s: buffer '%s' is NULL", m->cls->name,
                            name);
    return add_tensor(m, &m->buffers, &m->n_buffers, name, t, persistent,
                      field);
}

int mm_module_add_child(mm_module *m, const char *name, mm_module *child) {
    int rc = child ? check_name(m, "child", name)
                   : mm_error_set(MM_EINVAL, "%s: child '%s' is NULL",
                                  m->cls->name, name ? name : "");
    char *nm = rc ? NULL : dup_str(name);
    mm_module_child *grown = NULL;
    if (!rc && nm)
        grown = realloc(m->children, (m->n_children + 1) * sizeof *grown);
    if (!rc && !grown)
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (rc) {
        free(nm);
        mm_module_free(child);
        return rc;
    }
    m->children = grown;
    char *cn = dup_str(name);
    free(child->name);
    child->name = cn;
    grown[m->n_children++] = (mm_module_child){.name = nm, .module = child};
    return MM_OK;
}

mm_tensor *mm_module_get_parameter(const mm_module *m, const char *name) {
    const mm_module_tensor *t = find_tensor(m->params, m->n_params, name);
    return t ? t->tensor : NULL;
}

mm_tensor *mm_module_get_buffer(const mm_module *m, const char *name) {
    const mm_module_tensor *t = find_tensor(m->buffers, m->n_buffers, name);
    return t ? t->tensor : NULL;
}

mm_module *mm_module_get_child(const mm_module *m, const char *name) {
    for (size_t i = 0; i < m->n_children; i++)
        if (strcmp(m->children[i].name, name) == 0)
            return m->children[i].module;
    return NULL;
}

/* Walk `path` through children; *rest gets what follows the last module
 * reached (NULL when the whole path named modules). */
static mm_module *descend(mm_module *m, const char *path, const char **rest) {
    *rest = NULL;
    while (m && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        mm_module *next = NULL;
        for (size_t i = 0; i < m->n_children; i++)
            if (strlen(m->children[i].name) == len &&
                memcmp(m->children[i].name, path, len) == 0)
                next = m->children[i].module;
        if (!next) {
            *rest = path;
            return m;
        }
        m = next;
        path = dot ? dot + 1 : path + len;
    }
    return m;
}

mm_module *mm_module_find(mm_module *m, const char *path) {
    const char *rest;
    mm_module *r = descend(m, path, &rest);
    return rest ? NULL : r;
}

mm_tensor *mm_module_find_tensor(mm_module *m, const char *name) {
    const char *rest;
    mm_module *owner = descend(m, name, &rest);
    if (!rest || strchr(rest, '.'))
        return NULL;
    mm_tensor *t = mm_module_get_parameter(owner, rest);
    return t ? t : mm_module_get_buffer(owner, rest);
}

/* ---- forward, modes, init ----------------------------------------------- */

static _Thread_local mm_module_forward_hook forward_hook;
static _Thread_local void *forward_hook_user;

void mm_module_set_forward_hook(mm_module_forward_hook fn, void *user) {
    forward_hook = fn;
    forward_hook_user = user;
}

int mm_module_forward(mm_module *m, int n, mm_tensor *const *inputs,
                      mm_tensor **out) {
    *out = NULL;
    if (!m)
        return mm_error_set(MM_EINVAL, "forward: module is NULL");
    if (!m->cls->forward)
        return mm_error_set(MM_EUNSUPPORTED, "%s%s%s has no forward",
                            m->name ? m->name : "", m->name ? " " : "",
                            m->cls->name);
    if (forward_hook)
        forward_hook(forward_hook_user, m, true);
    int rc = m->cls->forward(m, n, inputs, out);
    if (forward_hook)
        forward_hook(forward_hook_user, m, false);
    if (rc < 0 && m->name)
        return mm_error_context(rc, NULL, "%s", m->name);
    return rc;
}

int mm_module_forward1(mm_module *m, mm_tensor *x, mm_tensor **out) {
    return mm_module_forward(m, 1, &x, out);
}

int mm_module_forward_multi(mm_module *m, int n, mm_tensor *const *inputs,
                            int cap, int *n_out, mm_tensor **outs) {
    *n_out = 0;
    if (!m)
        return mm_error_set(MM_EINVAL, "forward: module is NULL");
    if (cap < 1)
        return mm_error_set(MM_EINVAL, "forward: no room for outputs");
    if (!m->cls->forward_multi) {
        MM_TRY(mm_module_forward(m, n, inputs, &outs[0]));
        *n_out = 1;
        return MM_OK;
    }
    if (forward_hook)
        forward_hook(forward_hook_user, m, true);
    int rc = m->cls->forward_multi(m, n, inputs, cap, n_out, outs);
    if (forward_hook)
        forward_hook(forward_hook_user, m, false);
    if (!rc && (*n_out < 1 || *n_out > cap))
        rc = mm_error_set(MM_EINVAL, "%s gave %d outputs (room for 1 to %d)",
                          m->cls->name, *n_out, cap);
    if (rc < 0 && m->name)
        return mm_error_context(rc, NULL, "%s", m->name);
    return rc;
}

int mm_module_forward_last(mm_module *m, int n, mm_tensor *const *inputs,
                           mm_tensor **out) {
    mm_tensor *outs[MM_MAX_OUTPUTS];
    int k;
    *out = NULL;
    if (!m->cls->forward_multi)
        return mm_error_set(MM_EINVAL, "%s has no forward_multi",
                            m->cls->name);
    MM_TRY(m->cls->forward_multi(m, n, inputs, MM_MAX_OUTPUTS, &k, outs));
    if (k < 1 || k > MM_MAX_OUTPUTS)
        return mm_error_set(MM_EINVAL, "%s gave %d outputs", m->cls->name, k);
    *out = outs[k - 1];
    return MM_OK;
}

void mm_module_train(mm_module *m, bool mode) {
    if (!m)
        return;
    m->training = mode;
    for (size_t i = 0; i < m->n_children; i++)
        mm_module_train(m->children[i].module, mode);
}

void mm_module_eval(mm_module *m) { mm_module_train(m, false); }

/* Children first: a parent's own init_weights (ConvModule's kaiming init of
 * its conv) has the last word, as mmcv's overriding init_weights has. */
static int init_tree(mm_module *m) {
    for (size_t i = 0; i < m->n_children; i++)
        MM_TRY(init_tree(m->children[i].module));
    if (m->cls->init_weights) {
        int rc = m->cls->init_weights(m);
        if (rc < 0)
            return m->name ? mm_error_context(rc, NULL, "%s", m->name) : rc;
    }
    return MM_OK;
}

int mm_module_init_weights(mm_module *m) {
    mm_no_grad_push();
    int rc = init_tree(m);
    mm_no_grad_pop();
    return rc;
}

void mm_module_zero_grad(mm_module *m) {
    for (size_t i = 0; i < m->n_params; i++)
        mm_tensor_zero_grad(m->params[i].tensor);
    for (size_t i = 0; i < m->n_children; i++)
        mm_module_zero_grad(m->children[i].module);
}

int64_t mm_module_num_parameters(const mm_module *m, bool trainable_only) {
    int64_t n = 0;
    for (size_t i = 0; i < m->n_params; i++)
        if (!trainable_only || m->params[i].tensor->requires_grad)
            n += m->params[i].tensor->numel;
    for (size_t i = 0; i < m->n_children; i++)
        n += mm_module_num_parameters(m->children[i].module, trainable_only);
    return n;
}

/* Replace slot's tensor by a converted copy (called under no-grad, so the
 * copy is a fresh leaf). */
static int convert_slot(mm_module_tensor *s, mm_dtype dtype, bool param) {
    if (!mm_dtype_is_float(s->tensor->dtype) || s->tensor->dtype == dtype)
        return MM_OK;
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *c = NULL;
    int rc = mm_to_dtype(s->tensor, dtype, &c);
    if (!rc)
        mm_tensor_retain(c);
    mm_pool_close(pool);
    if (!rc && param)
        rc = mm_tensor_set_requires_grad(c, true);
    if (rc) {
        mm_tensor_release(c);
        return rc;
    }
    mm_tensor_release(s->tensor);
    s->tensor = c;
    if (s->field)
        *s->field = c;
    return MM_OK;
}

int mm_module_to_dtype(mm_module *m, mm_dtype dtype) {
    if (!mm_dtype_is_float(dtype))
        return mm_error_set(MM_EINVAL,
                            "to_dtype: modules convert to float dtypes only, "
                            "not %s",
                            mm_dtype_name(dtype));
    mm_no_grad_push();
    int rc = MM_OK;
    for (size_t i = 0; !rc && i < m->n_params; i++)
        rc = convert_slot(&m->params[i], dtype, true);
    for (size_t i = 0; !rc && i < m->n_buffers; i++)
        rc = convert_slot(&m->buffers[i], dtype, false);
    mm_no_grad_pop();
    for (size_t i = 0; !rc && i < m->n_children; i++)
        rc = mm_module_to_dtype(m->children[i].module, dtype);
    return rc;
}

/* ---- walks --------------------------------------------------------------- */

/* The dotted prefix grows in one buffer as the walk descends. */
typedef struct walk {
    char *buf;
    size_t len, cap;
} walk;

static int walk_push(walk *w, const char *name, size_t *saved) {
    *saved = w->len;
    size_t add = strlen(name) + (w->len ? 1 : 0);
    if (w->len + add + 1 > w->cap) {
        size_t cap = (w->len + add + 1) * 2;
        char *b = realloc(w->buf, cap);
        if (!b)
            return mm_error_set(MM_ENOMEM, "out of memory");
        w->buf = b;
        w->cap = cap;
    }
    if (w->len)
        w->buf[w->len++] = '.';
    memcpy(w->buf + w->len, name, strlen(name) + 1);
    w->len += strlen(name);
    return MM_OK;
}

static void walk_pop(walk *w, size_t saved) {
    w->len = saved;
    if (w->buf)
        w->buf[saved] = '\0';
}

enum { WALK_PARAMS = 1, WALK_BUFFERS = 2, WALK_PERSISTENT_ONLY = 4 };

static int walk_tensors(mm_module *m, walk *w, unsigned what,
                        mm_module_tensor_fn fn, void *user) {
    size_t saved;
    int rc;
    if (what & WALK_PARAMS)
        for (size_t i = 0; i < m->n_params; i++) {
            MM_TRY(walk_push(w, m->params[i].name, &saved));
            rc = fn(w->buf, m->params[i].tensor, user);
            walk_pop(w, saved);
            if (rc)
                return rc;
        }
    if (what & WALK_BUFFERS)
        for (size_t i = 0; i < m->n_buffers; i++) {
            if ((what & WALK_PERSISTENT_ONLY) && !m->buffers[i].persistent)
                continue;
            MM_TRY(walk_push(w, m->buffers[i].name, &saved));
            rc = fn(w->buf, m->buffers[i].tensor, user);
            walk_pop(w, saved);
            if (rc)
                return rc;
        }
    for (size_t i = 0; i < m->n_children; i++) {
        MM_TRY(walk_push(w, m->children[i].name, &saved));
        rc = walk_tensors(m->children[i].module, w, what, fn, user);
        walk_pop(w, saved);
        if (rc)
            return rc;
    }
    return MM_OK;
}

static int walk_run(mm_module *m, unsigned what, mm_module_tensor_fn fn,
                    void *user) {
    walk w = {0};
    int rc = walk_push(&w, "", &(size_t){0});
    if (!rc)
        rc = walk_tensors(m, &w, what, fn, user);
    free(w.buf);
    return rc;
}

int mm_module_named_parameters(mm_module *m, mm_module_tensor_fn fn,
                               void *user) {
    return walk_run(m, WALK_PARAMS, fn, user);
}

int mm_module_named_buffers(mm_module *m, mm_module_tensor_fn fn, void *user) {
    return walk_run(m, WALK_BUFFERS, fn, user);
}

static int walk_modules(mm_module *m, walk *w, mm_module_fn fn, void *user) {
    int rc = fn(w->buf, m, user);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n_children; i++) {
        size_t saved;
        MM_TRY(walk_push(w, m->children[i].name, &saved));
        rc = walk_modules(m->children[i].module, w, fn, user);
        walk_pop(w, saved);
        if (rc)
            return rc;
    }
    return MM_OK;
}

int mm_module_named_modules(mm_module *m, mm_module_fn fn, void *user) {
    walk w = {0};
    int rc = walk_push(&w, "", &(size_t){0});
    if (!rc)
        rc = walk_modules(m, &w, fn, user);
    free(w.buf);
    return rc;
}

/* ---- state dicts ----------------------------------------------------------
 */

int mm_state_dict_add(mm_state_dict *sd, const char *name, mm_tensor *t) {
    if (mm_state_dict_get(sd, name))
        return mm_error_set(MM_EEXIST, "state_dict: key '%s' already present",
                            name);
    if (sd->n == sd->cap) {
        size_t cap = sd->cap ? sd->cap * 2 : 16;
        mm_state_dict_item *items = realloc(sd->items, cap * sizeof *items);
        if (!items)
            return mm_error_set(MM_ENOMEM, "out of memory");
        sd->items = items;
        sd->cap = cap;
    }
    char *nm = dup_str(name);
    if (!nm)
        return mm_error_set(MM_ENOMEM, "out of memory");
    sd->items[sd->n++] =
        (mm_state_dict_item){.name = nm, .tensor = mm_tensor_retain(t)};
    return MM_OK;
}

mm_tensor *mm_state_dict_get(const mm_state_dict *sd, const char *name) {
    for (size_t i = 0; i < sd->n; i++)
        if (strcmp(sd->items[i].name, name) == 0)
            return sd->items[i].tensor;
    return NULL;
}

void mm_state_dict_clear(mm_state_dict *sd) {
    for (size_t i = 0; i < sd->n; i++) {
        free(sd->items[i].name);
        mm_tensor_release(sd->items[i].tensor);
    }
    free(sd->items);
    *sd = (mm_state_dict){0};
}

static int sd_collect(const char *name, mm_tensor *t, void *user) {
    mm_tensor *d = NULL;
    MM_TRY(mm_detach(t, &d)); /* into the pool state_dict opened */
    return mm_state_dict_add(user, name, d);
}

int mm_module_state_dict(mm_module *m, mm_state_dict *out) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    /* Per module: parameters, then persistent buffers, then children. */
    int rc = walk_run(m, WALK_PARAMS | WALK_BUFFERS | WALK_PERSISTENT_ONLY,
                      sd_collect, out);
    mm_pool_close(pool);
    if (rc)
        mm_state_dict_clear(out);
    return rc;
}

void mm_load_report_free(mm_load_report *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n_missing; i++)
        free(r->missing[i]);
    for (size_t i = 0; i < r->n_unexpected; i++)
        free(r->unexpected[i]);
    for (size_t i = 0; i < r->n_mismatched; i++)
        free(r->mismatched[i]);
    free(r->missing);
    free(r->unexpected);
    free(r->mismatched);
    *r = (mm_load_report){0};
}

static int push_str(char ***list, size_t *n, const char *s) {
    char **grown = realloc(*list, (*n + 1) * sizeof **list);
    if (!grown)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *list = grown;
    if (!(grown[*n] = dup_str(s)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    (*n)++;
    return MM_OK;
}

typedef struct load_ctx {
    const mm_state_dict *sd;
    mm_load_report *r;
    bool *used; /* per sd item */
    bool copy;  /* second pass: copy (first pass only checks) */
} load_ctx;

static int load_one(const char *name, mm_tensor *t, void *user) {
    load_ctx *lc = user;
    size_t idx = lc->sd->n;
    for (size_t i = 0; i < lc->sd->n; i++)
        if (strcmp(lc->sd->items[i].name, name) == 0)
            idx = i;
    if (idx == lc->sd->n)
        return lc->copy ? MM_OK
                        : push_str(&lc->r->missing, &lc->r->n_missing, name);
    mm_tensor *src = lc->sd->items[idx].tensor;
    lc->used[idx] = true;
    if (!mm_tensor_same_shape(src, t)) {
        if (lc->copy)
            return MM_OK;
        char a[96], b[96], line[512];
        snprintf(line, sizeof line,
                 "size mismatch for '%s': copying a param with shape %s from "
                 "checkpoint, the shape in the current model is %s",
                 name, mm_shape_format(src->ndim, src->shape, a, sizeof a),
                 mm_shape_format(t->ndim, t->shape, b, sizeof b));
        return push_str(&lc->r->mismatched, &lc->r->n_mismatched, line);
    }
    if (!lc->copy)
        return MM_OK;
    int rc = mm_tensor_copy_(t, src);
    return rc ? mm_error_context(rc, NULL, "load_state_dict: '%s'", name) : rc;
}

int mm_module_load_state_dict(mm_module *m, const mm_state_dict *sd,
                              bool strict, mm_load_report *report) {
    mm_load_report local = {0};
    mm_load_report *r = report ? report : &local;
    *r = (mm_load_report){0};
    load_ctx lc = {.sd = sd, .r = r, .used = calloc(sd->n ? sd->n : 1, 1)};
    if (!lc.used)
        return mm_error_set(MM_ENOMEM, "out of memory");
    unsigned what = WALK_PARAMS | WALK_BUFFERS | WALK_PERSISTENT_ONLY;
    int rc = walk_run(m, what, load_one, &lc);
    for (size_t i = 0; !rc && i < sd->n; i++)
        if (!lc.used[i])
            rc = push_str(&r->unexpected, &r->n_unexpected, sd->items[i].name);
    if (!rc) {
        size_t problems =
            r->n_mismatched + (strict ? r->n_missing + r->n_unexpected : 0);
        char first[600] = "";
        if (r->n_mismatched)
            snprintf(first, sizeof first, "%s", r->mismatched[0]);
        else if (strict && r->n_missing)
            snprintf(first, sizeof first, "missing key '%s'", r->missing[0]);
        else if (strict && r->n_unexpected)
            snprintf(first, sizeof first, "unexpected key '%s'",
                     r->unexpected[0]);
        if (problems > 1)
            rc = mm_error_set(MM_EINVAL,
                              "load_state_dict: %s (and %zu more problem%s)",
                              first, problems - 1, problems > 2 ? "s" : "");
        else if (problems == 1)
            rc = mm_error_set(MM_EINVAL, "load_state_dict: %s", first);
    }
    if (!rc) {
        lc.copy = true;
        mm_no_grad_push();
        rc = walk_run(m, what, load_one, &lc);
        mm_no_grad_pop();
    }
    free(lc.used);
    mm_load_report_free(&local);
    return rc;
}

/* ---- repr ---------------------------------------------------------------- */

typedef struct sbuf {
    char *data;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *s, const char *text) {
    size_t n = strlen(text);
    if (s->oom)
        return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *d = realloc(s->data, cap);
        if (!d) {
            s->oom = true;
            return;
        }
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, text, n + 1);
    s->len += n;
}

static void sb_indent(sbuf *s, int depth) {
    for (int i = 0; i < depth; i++)
        sb_put(s, "  ");
}

static void repr_into(const mm_module *m, sbuf *s, int depth) {
    char extra[512] = "";
    if (m->cls->extra_repr)
        m->cls->extra_repr(m, extra, sizeof extra);
    sb_put(s, m->cls->name);
    sb_put(s, "(");
    sb_put(s, extra);
    if (m->n_children) {
        sb_put(s, "\n");
        for (size_t i = 0; i < m->n_children; i++) {
            sb_indent(s, depth + 1);
            sb_put(s, "(");
            sb_put(s, m->children[i].name);
            sb_put(s, "): ");
            repr_into(m->children[i].module, s, depth + 1);
            sb_put(s, "\n");
        }
        sb_indent(s, depth);
    }
    sb_put(s, ")");
}

char *mm_module_repr(const mm_module *m) {
    sbuf s = {0};
    repr_into(m, &s, 0);
    if (s.oom) {
        free(s.data);
        return NULL;
    }
    return s.data;
}
