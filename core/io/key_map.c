/* Key maps: the table of registered state-dict translators
 * (<mm/checkpoint.h>). Plugins register theirs in their init; lookups may
 * come from any thread. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mm/checkpoint.h"
#include "mm/plugin.h"

static struct {
    pthread_mutex_t lock;
    size_t n, cap;
    const mm_key_map **maps;
} K = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const mm_key_map *find_locked(const char *name) {
    for (size_t i = 0; i < K.n; i++)
        if (strcmp(K.maps[i]->name, name) == 0)
            return K.maps[i];
    return NULL;
}

int mm_key_map_register(const mm_key_map *map) {
    if (!map || !map->name || !*map->name || !map->apply)
        return mm_error_set(MM_EINVAL, "key map: needs a name and a function");
    int rc = MM_OK;
    pthread_mutex_lock(&K.lock);
    if (find_locked(map->name)) {
        rc = mm_error_set(MM_EEXIST, "key map '%s' is already registered",
                          map->name);
    } else if (K.n == K.cap) {
        size_t cap = K.cap ? 2 * K.cap : 32;
        const mm_key_map **m = realloc(K.maps, cap * sizeof *m);
        if (!m)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        else {
            K.maps = m;
            K.cap = cap;
        }
    }
    if (!rc)
        K.maps[K.n++] = map;
    pthread_mutex_unlock(&K.lock);
    return rc;
}

size_t mm_key_map_count(void) {
    pthread_mutex_lock(&K.lock);
    size_t n = K.n;
    pthread_mutex_unlock(&K.lock);
    return n;
}

const mm_key_map *mm_key_map_at(size_t i) {
    pthread_mutex_lock(&K.lock);
    const mm_key_map *m = i < K.n ? K.maps[i] : NULL;
    pthread_mutex_unlock(&K.lock);
    return m;
}

int mm_key_map_find(const char *name, const mm_key_map **out) {
    *out = NULL;
    if (!name)
        return mm_error_set(MM_EINVAL, "mm_key_map_find: NULL name");
    pthread_mutex_lock(&K.lock);
    const mm_key_map *m = find_locked(name);
    pthread_mutex_unlock(&K.lock);
    /* Maps come with the plugins of their architectures: a name not
     * registered yet may be in a plugin nobody has loaded. */
    if (!m)
        MM_TRY(mm_plugin_load_all(NULL));
    pthread_mutex_lock(&K.lock);
    m = find_locked(name);
    char known[512] = "";
    size_t used = 0;
    for (size_t i = 0; !m && i < K.n && used + 2 < sizeof known; i++) {
        size_t len = strlen(K.maps[i]->name);
        if (used + len + 3 >= sizeof known)
            break;
        if (used) {
            memcpy(known + used, ", ", 2);
            used += 2;
        }
        memcpy(known + used, K.maps[i]->name, len + 1);
        used += len;
    }
    pthread_mutex_unlock(&K.lock);
    if (!m)
        return mm_error_set(MM_ENOENT,
                            "no key map '%s' (registered: %s; maps come "
                            "with the plugin of the architecture, e.g. "
                            "mmcls)",
                            name, used ? known : "none");
    *out = m;
    return MM_OK;
}

int mm_key_map_apply(const char *name, const mm_state_dict *in,
                     mm_state_dict *out) {
    const mm_key_map *m;
    MM_TRY(mm_key_map_find(name, &m));
    int rc = m->apply(in, out);
    if (rc)
        return mm_error_context(rc, NULL, "key map %s", name);
    return MM_OK;
}
