/* oneDNN glue: engine, error mapping, primitive cache, execution. */
#include "dnnl_util.h"
#include "mm/threads.h"

#include <dnnl_debug.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int mm_dnnl_error(dnnl_status_t st, const char *what) {
    int code = st == dnnl_unimplemented       ? MM_EUNSUPPORTED
               : st == dnnl_out_of_memory     ? MM_ENOMEM
               : st == dnnl_invalid_arguments ? MM_EINVAL
                                              : MM_EINTERNAL;
    return mm_error_set(code, "oneDNN %s: %s", what, dnnl_status2str(st));
}

static dnnl_engine_t engine;
static dnnl_status_t engine_status;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void) {
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
}

int mm_dnnl_engine(dnnl_engine_t *out) {
    pthread_once(&engine_once, engine_init);
    MM_CHECK_DNNL(engine_status, "engine");
    *out = engine;
    return 0;
}

bool mm_dnnl_dtype(mm_dtype dt, dnnl_data_type_t *out) {
    switch (dt) {
    case MM_F32:
        *out = dnnl_f32;
        return true;
    case MM_BF16:
        *out = dnnl_bf16;
        return true;
    case MM_F16:
        *out = dnnl_f16;
        return true;
    case MM_I32:
        *out = dnnl_s32;
        return true;
    case MM_U8:
        *out = dnnl_u8;
        return true;
    default:
        return false;
    }
}

/* ---- the primitive cache: LRU list, entries refcounted so that an entry
 * in use is never destroyed by eviction ----------------------------------- */

enum { CACHE_CAPACITY = 256 };

struct mm_dnnl_entry {
    mm_dnnl_entry *prev, *next; /* most recently used first */
    int refs;                   /* users + 1 while in the cache */
    size_t len;
    unsigned char key[MM_DNNL_KEY_MAX];
    dnnl_primitive_t prim;
};

static struct {
    pthread_mutex_t lock;
    mm_dnnl_entry *head, *tail;
    int count;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void unlink_entry(mm_dnnl_entry *e) {
    if (e->prev)
        e->prev->next = e->next;
    else
        cache.head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        cache.tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(mm_dnnl_entry *e) {
    e->prev = NULL;
    e->next = cache.head;
    if (cache.head)
        cache.head->prev = e;
    cache.head = e;
    if (!cache.tail)
        cache.tail = e;
}

static void entry_unref_locked(mm_dnnl_entry *e, mm_dnnl_entry **dead) {
    if (--e->refs == 0) {
        e->next = *dead;
        *dead = e;
    }
}

static void destroy_list(mm_dnnl_entry *dead) {
    while (dead) {
        mm_dnnl_entry *next = dead->next;
        dnnl_primitive_destroy(dead->prim);
        free(dead);
        dead = next;
    }
}

static mm_dnnl_entry *find_locked(const void *key, size_t len) {
    for (mm_dnnl_entry *e = cache.head; e; e = e->next)
        if (e->len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

int mm_dnnl_acquire(const void *key, size_t len, mm_dnnl_make_fn make,
                    void *ctx, mm_dnnl_entry **out) {
    MM_ASSERT(len <= MM_DNNL_KEY_MAX);
    pthread_mutex_lock(&cache.lock);
    mm_dnnl_entry *e = find_locked(key, len);
    if (e) {
        unlink_entry(e);
        push_front(e);
        e->refs++;
        pthread_mutex_unlock(&cache.lock);
        *out = e;
        return 0;
    }
    pthread_mutex_unlock(&cache.lock);

    mm_dnnl_entry *fresh = calloc(1, sizeof *fresh);
    if (!fresh)
        return mm_error_set(MM_ENOMEM, "oneDNN: out of memory");
    int rc = make(ctx, &fresh->prim);
    if (rc < 0) {
        free(fresh);
        return rc;
    }
    fresh->len = len;
    memcpy(fresh->key, key, len);
    fresh->refs = 2; /* the cache and the caller */

    mm_dnnl_entry *dead = NULL;
    pthread_mutex_lock(&cache.lock);
    e = find_locked(key, len); /* another thread may have made it meanwhile */
    if (e) {
        e->refs++;
        fresh->refs = 1;
        entry_unref_locked(fresh, &dead);
        fresh = e;
    } else {
        push_front(fresh);
        cache.count++;
        for (mm_dnnl_entry *v = cache.tail;
             v && cache.count > CACHE_CAPACITY;) {
            mm_dnnl_entry *prev = v->prev;
            if (v != fresh) {
                unlink_entry(v);
                cache.count--;
                entry_unref_locked(v, &dead);
            }
            v = prev;
        }
    }
    pthread_mutex_unlock(&cache.lock);
    destroy_list(dead);
    *out = fresh;
    return 0;
}

dnnl_primitive_t mm_dnnl_entry_primitive(const mm_dnnl_entry *e) {
    return e->prim;
}

void mm_dnnl_release(mm_dnnl_entry *e) {
    if (!e)
        return;
    mm_dnnl_entry *dead = NULL;
    pthread_mutex_lock(&cache.lock);
    entry_unref_locked(e, &dead);
    pthread_mutex_unlock(&cache.lock);
    destroy_list(dead);
}

int mm_dnnl_threads(void) {
    int nt = mm_get_num_threads();
    if (omp_get_max_threads() != nt)
        omp_set_num_threads(nt);
    return nt;
}

int mm_dnnl_execute(dnnl_primitive_t prim, int nargs,
                    const dnnl_exec_arg_t *args) {
    dnnl_engine_t eng = NULL;
    MM_TRY(mm_dnnl_engine(&eng));
    mm_dnnl_threads();
    dnnl_stream_t stream;
    MM_CHECK_DNNL(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags),
                  "stream");
    dnnl_status_t st = dnnl_primitive_execute(prim, stream, nargs, args);
    if (st == dnnl_success)
        st = dnnl_stream_wait(stream);
    dnnl_stream_destroy(stream);
    MM_CHECK_DNNL(st, "execute");
    return 0;
}

int mm_dnnl_run(dnnl_primitive_t prim, int n, const mm_dnnl_arg *args) {
    if (n > MM_DNNL_ARGS_MAX)
        return mm_error_set(MM_EINTERNAL, "oneDNN: %d arguments", n);
    dnnl_engine_t eng = NULL;
    MM_TRY(mm_dnnl_engine(&eng));
    dnnl_exec_arg_t ea[MM_DNNL_ARGS_MAX];
    int made = 0, rc = 0;
    for (; made < n; made++) {
        dnnl_status_t st = dnnl_memory_create(&ea[made].memory, args[made].md,
                                              eng, args[made].data);
        if (st != dnnl_success) {
            rc = mm_dnnl_error(st, "memory");
            break;
        }
        ea[made].arg = args[made].arg;
    }
    if (rc == 0)
        rc = mm_dnnl_execute(prim, n, ea);
    for (int i = 0; i < made; i++)
        dnnl_memory_destroy(ea[i].memory);
    return rc;
}

int mm_dnnl_primitive_take(dnnl_primitive_desc_t pd, dnnl_primitive_t *out,
                           const char *what) {
    dnnl_status_t st = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    MM_CHECK_DNNL(st, what);
    return 0;
}
