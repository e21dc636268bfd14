/* mmengine's HistoryBuffer and MessageHub. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm/runner.h"

/* mmengine keeps 1e6 entries per scalar; so do we. */
enum { HISTORY_MAX_LENGTH = 1000000 };

struct mm_history_buffer {
    double *values;
    int64_t *counts;
    size_t len, cap, max_length;
};

static int history_push(mm_history_buffer *b, double v, int64_t c) {
    if (b->len == b->max_length) {
        /* Drop the oldest, as a bounded deque does. */
        memmove(b->values, b->values + 1, (b->len - 1) * sizeof *b->values);
        memmove(b->counts, b->counts + 1, (b->len - 1) * sizeof *b->counts);
        b->len--;
    }
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        if (cap > b->max_length)
            cap = b->max_length;
        double *nv = realloc(b->values, cap * sizeof *nv);
        if (!nv)
            return mm_error_set(MM_ENOMEM, "out of memory");
        b->values = nv;
        int64_t *nc = realloc(b->counts, cap * sizeof *nc);
        if (!nc)
            return mm_error_set(MM_ENOMEM, "out of memory");
        b->counts = nc;
        b->cap = cap;
    }
    b->values[b->len] = v;
    b->counts[b->len++] = c;
    return MM_OK;
}

void mm_history_buffer_update(mm_history_buffer *b, double value,
                              int64_t count) {
    (void)history_push(b, value, count);
}

static size_t window_start(const mm_history_buffer *b, int64_t window) {
    if (window <= 0 || (size_t)window >= b->len)
        return 0;
    return b->len - (size_t)window;
}

double mm_history_buffer_mean(const mm_history_buffer *b, int64_t window) {
    double sum = 0;
    int64_t cnt = 0;
    for (size_t i = window_start(b, window); i < b->len; i++) {
        sum += b->values[i];
        cnt += b->counts[i];
    }
    return cnt ? sum / (double)cnt : NAN;
}

double mm_history_buffer_current(const mm_history_buffer *b) {
    return b->len ? b->values[b->len - 1] : NAN;
}

double mm_history_buffer_min(const mm_history_buffer *b, int64_t window) {
    double m = INFINITY;
    for (size_t i = window_start(b, window); i < b->len; i++)
        if (b->values[i] < m)
            m = b->values[i];
    return b->len ? m : NAN;
}

double mm_history_buffer_max(const mm_history_buffer *b, int64_t window) {
    double m = -INFINITY;
    for (size_t i = window_start(b, window); i < b->len; i++)
        if (b->values[i] > m)
            m = b->values[i];
    return b->len ? m : NAN;
}

int mm_history_buffer_statistics(const mm_history_buffer *b, const char *method,
                                 int64_t window, double *out) {
    if (strcmp(method, "mean") == 0)
        *out = mm_history_buffer_mean(b, window);
    else if (strcmp(method, "current") == 0)
        *out = mm_history_buffer_current(b);
    else if (strcmp(method, "min") == 0)
        *out = mm_history_buffer_min(b, window);
    else if (strcmp(method, "max") == 0)
        *out = mm_history_buffer_max(b, window);
    else
        return mm_error_set(MM_EINVAL,
                            "unknown statistics method '%s' (expected mean, "
                            "current, min or max)",
                            method);
    return MM_OK;
}

size_t mm_history_buffer_len(const mm_history_buffer *b) { return b->len; }

static void history_free(mm_history_buffer *b) {
    if (b) {
        free(b->values);
        free(b->counts);
        free(b);
    }
}

/* ---- the hub ------------------------------------------------------------- */

struct mm_message_hub {
    size_t n, cap;
    char **keys;
    mm_history_buffer **buffers;
    mm_value *info; /* dict */
};

int mm_message_hub_new(mm_message_hub **out) {
    mm_message_hub *h = calloc(1, sizeof *h);
    if (!h || !(h->info = mm_value_new_dict())) {
        free(h);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *out = h;
    return MM_OK;
}

void mm_message_hub_free(mm_message_hub *hub) {
    if (!hub)
        return;
    for (size_t i = 0; i < hub->n; i++) {
        free(hub->keys[i]);
        history_free(hub->buffers[i]);
    }
    free(hub->keys);
    free(hub->buffers);
    mm_value_release(hub->info);
    free(hub);
}

mm_history_buffer *mm_message_hub_get_scalar(const mm_message_hub *hub,
                                             const char *key) {
    for (size_t i = 0; i < hub->n; i++)
        if (strcmp(hub->keys[i], key) == 0)
            return hub->buffers[i];
    return NULL;
}

static int hub_add_buffer(mm_message_hub *hub, const char *key,
                          mm_history_buffer **out) {
    if (hub->n == hub->cap) {
        size_t cap = hub->cap ? hub->cap * 2 : 16;
        char **nk = realloc(hub->keys, cap * sizeof *nk);
        if (!nk)
            return mm_error_set(MM_ENOMEM, "out of memory");
        hub->keys = nk;
        mm_history_buffer **nb = realloc(hub->buffers, cap * sizeof *nb);
        if (!nb)
            return mm_error_set(MM_ENOMEM, "out of memory");
        hub->buffers = nb;
        hub->cap = cap;
    }
    mm_history_buffer *b = calloc(1, sizeof *b);
    char *k = strdup(key);
    if (!b || !k) {
        free(b);
        free(k);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    b->max_length = HISTORY_MAX_LENGTH;
    hub->keys[hub->n] = k;
    hub->buffers[hub->n++] = b;
    *out = b;
    return MM_OK;
}

int mm_message_hub_update_scalar(mm_message_hub *hub, const char *key,
                                 double value, int64_t count) {
    mm_history_buffer *b = mm_message_hub_get_scalar(hub, key);
    if (!b) {
        int rc = hub_add_buffer(hub, key, &b);
        if (rc)
            return rc;
    }
    return history_push(b, value, count);
}

size_t mm_message_hub_n_scalars(const mm_message_hub *hub) { return hub->n; }

const char *mm_message_hub_scalar_key(const mm_message_hub *hub, size_t i) {
    return i < hub->n ? hub->keys[i] : NULL;
}

int mm_message_hub_update_info(mm_message_hub *hub, const char *key,
                               mm_value *value) {
    return mm_value_dict_set(hub->info, key, value);
}

int mm_message_hub_update_info_take(mm_message_hub *hub, const char *key,
                                    mm_value *value) {
    if (!value)
        return mm_error_set(MM_ENOMEM, "out of memory");
    return mm_value_dict_set_take(hub->info, key, value);
}

const mm_value *mm_message_hub_get_info(const mm_message_hub *hub,
                                        const char *key) {
    return mm_value_dict_get(hub->info, key);
}

void mm_message_hub_pop_info(mm_message_hub *hub, const char *key) {
    (void)mm_value_dict_del(hub->info, key);
}

const mm_value *mm_message_hub_runtime_info(const mm_message_hub *hub) {
    return hub->info;
}

/* Runtime info that is not plain data (tensors) cannot go into a JSON
 * checkpoint entry; mmengine pickles it, we leave it out. */
static bool plain(const mm_value *v) {
    switch (mm_value_type_of(v)) {
    case MM_VALUE_TENSOR:
        return false;
    case MM_VALUE_LIST:
        for (size_t i = 0; i < mm_value_len(v); i++)
            if (!plain(mm_value_list_get(v, i)))
                return false;
        return true;
    case MM_VALUE_DICT:
        for (size_t i = 0; i < mm_value_len(v); i++)
            if (!plain(mm_value_dict_value_at(v, i)))
                return false;
        return true;
    default:
        return true;
    }
}

int mm_message_hub_state(const mm_message_hub *hub, mm_value **out) {
    mm_value *st = mm_value_new_dict(), *scalars = mm_value_new_dict(),
             *info = mm_value_new_dict();
    int rc = st && scalars && info ? MM_OK : MM_ENOMEM;
    for (size_t i = 0; !rc && i < hub->n; i++) {
        const mm_history_buffer *b = hub->buffers[i];
        mm_value *e = mm_value_new_dict(), *vals = mm_value_new_list(),
                 *cnts = mm_value_new_list();
        rc = e && vals && cnts ? MM_OK : MM_ENOMEM;
        for (size_t j = 0; !rc && j < b->len; j++) {
            rc = mm_value_list_append_take(vals,
                                           mm_value_new_float(b->values[j]));
            if (!rc)
                rc = mm_value_list_append_take(cnts,
                                               mm_value_new_int(b->counts[j]));
        }
        if (!rc)
            rc = mm_value_dict_set_take(e, "log_history", vals);
        else
            mm_value_release(vals);
        if (!rc)
            rc = mm_value_dict_set_take(e, "count_history", cnts);
        else
            mm_value_release(cnts);
        if (!rc)
            rc = mm_value_dict_set_take(
                e, "max_length", mm_value_new_int((int64_t)b->max_length));
        if (!rc)
            rc = mm_value_dict_set_take(scalars, hub->keys[i], e);
        else
            mm_value_release(e);
    }
    for (size_t i = 0; !rc && i < mm_value_len(hub->info); i++) {
        mm_value *v = mm_value_dict_value_at(hub->info, i);
        if (plain(v))
            rc = mm_value_dict_set(info, mm_value_dict_key_at(hub->info, i), v);
    }
    if (!rc)
        rc = mm_value_dict_set(st, "log_scalars", scalars);
    if (!rc)
        rc = mm_value_dict_set(st, "runtime_info", info);
    mm_value_release(scalars);
    mm_value_release(info);
    if (rc) {
        mm_value_release(st);
        return rc == MM_ENOMEM ? mm_error_set(MM_ENOMEM, "out of memory") : rc;
    }
    *out = st;
    return MM_OK;
}

static int bad_state(const char *what) {
    return mm_error_set(MM_EINVAL, "message_hub: malformed state: %s", what);
}

int mm_message_hub_load_state(mm_message_hub *hub, const mm_value *state) {
    if (!mm_value_is_dict(state))
        return bad_state("not a dict");
    const mm_value *scalars = mm_value_dict_get(state, "log_scalars");
    const mm_value *info = mm_value_dict_get(state, "runtime_info");
    if (scalars && !mm_value_is_dict(scalars))
        return bad_state("log_scalars is not a dict");
    if (info && !mm_value_is_dict(info))
        return bad_state("runtime_info is not a dict");
    for (size_t i = 0; i < mm_value_len(scalars); i++) {
        const char *key = mm_value_dict_key_at(scalars, i);
        const mm_value *e = mm_value_dict_value_at(scalars, i);
        const mm_value *vals = mm_value_dict_get(e, "log_history");
        const mm_value *cnts = mm_value_dict_get(e, "count_history");
        if (!mm_value_is_list(vals) || !mm_value_is_list(cnts) ||
            mm_value_len(vals) != mm_value_len(cnts))
            return bad_state(key);
        mm_history_buffer *b = mm_message_hub_get_scalar(hub, key);
        int rc;
        if (b)
            b->len = 0;
        else if ((rc = hub_add_buffer(hub, key, &b)))
            return rc;
        for (size_t j = 0; j < mm_value_len(vals); j++) {
            const mm_value *v = mm_value_list_get(vals, j);
            const mm_value *c = mm_value_list_get(cnts, j);
            if (!mm_value_is_number(v) || !mm_value_is_int(c))
                return bad_state(key);
            if ((rc = history_push(b, mm_value_get_float(v),
                                   mm_value_get_int(c))))
                return rc;
        }
    }
    for (size_t i = 0; i < mm_value_len(info); i++) {
        int rc = mm_value_dict_set(hub->info, mm_value_dict_key_at(info, i),
                                   mm_value_dict_value_at(info, i));
        if (rc)
            return rc;
    }
    return MM_OK;
}
