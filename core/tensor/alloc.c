/* The caching CPU allocator: 64-byte aligned blocks in size classes, freed
 * blocks kept in per-class free lists for reuse, current and peak bytes.
 *
 * Size classes: multiples of 64 up to 1 KiB, then four classes per power of
 * two (so at most 25% is wasted). A block freed while the cache holds more
 * than its limit goes back to the system. Under AddressSanitizer cached
 * blocks are poisoned, so a use after free is still caught. */
#include "tensor_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

enum { ALIGN = 64, N_CLASSES = 16 + 4 * 54 };

/* Free blocks of one size class. The list lives outside the blocks, so a
 * cached block can be poisoned whole and LeakSanitizer still sees it. */
typedef struct bin {
    void **items;
    size_t len, cap;
} bin;

static struct {
    pthread_mutex_t lock;
    bin bins[N_CLASSES];
    size_t allocated, peak, cached, limit;
    uint64_t n_allocs, n_hits;
    bool limit_set;
} cpu = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Class index and size for a request of n bytes. */
static int size_class(size_t n, size_t *size) {
    if (n <= 1024) {
        size_t k = n <= ALIGN ? 1 : (n + ALIGN - 1) / ALIGN;
        *size = k * ALIGN;
        return (int)k - 1;
    }
    int p = 63 - __builtin_clzll(
                     (unsigned long long)(n - 1)); /* 2^p < n <= 2^(p+1) */
    size_t base = (size_t)1 << p, step = base >> 2;
    size_t k = (n - base + step - 1) / step; /* 1..4 */
    *size = base + k * step;
    return 16 + (p - 10) * 4 + (int)k - 1;
}

static size_t cache_limit(void) {
    if (!cpu.limit_set) {
        /* a quarter of the memory, at least 1 GiB: a ResNet-18 training
         * step at batch 32 frees and reallocates ~3 GiB of activations
         * every iteration; giving them back to the system costs a page
         * fault per 4 KiB when they are reused (~6% of the step) */
        cpu.limit = (size_t)1 << 30;
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0 &&
            (size_t)pages / 4 > cpu.limit / (size_t)page)
            cpu.limit = (size_t)pages / 4 * (size_t)page;
        const char *env = getenv("MM_CPU_CACHE_BYTES");
        if (env && *env) {
            char *end;
            unsigned long long v = strtoull(env, &end, 10);
            if (*end == '\0')
                cpu.limit = (size_t)v;
        }
        cpu.limit_set = true;
    }
    return cpu.limit;
}

void *mm_cpu_alloc(size_t n, size_t *block_size) {
    size_t size;
    int c = size_class(n, &size);
    if (c >= N_CLASSES || size < n)
        return NULL;
    void *p = NULL;
    pthread_mutex_lock(&cpu.lock);
    cpu.n_allocs++;
    if (cpu.bins[c].len) {
        p = cpu.bins[c].items[--cpu.bins[c].len];
        UNPOISON(p, size);
        cpu.cached -= size;
        cpu.n_hits++;
    }
    pthread_mutex_unlock(&cpu.lock);
    if (!p) {
        p = aligned_alloc(ALIGN, size);
        if (!p)
            return NULL;
    }
    pthread_mutex_lock(&cpu.lock);
    cpu.allocated += size;
    if (cpu.allocated > cpu.peak)
        cpu.peak = cpu.allocated;
    pthread_mutex_unlock(&cpu.lock);
    *block_size = size;
    return p;
}

void mm_cpu_free(void *p, size_t block_size) {
    if (!p)
        return;
    size_t size;
    int c = size_class(block_size, &size);
    MM_ASSERT(size == block_size);
    pthread_mutex_lock(&cpu.lock);
    cpu.allocated -= size;
    bin *b = &cpu.bins[c];
    if (cpu.cached + size <= cache_limit() && b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        void **items = realloc(b->items, cap * sizeof *items);
        if (items) {
            b->items = items;
            b->cap = cap;
        }
    }
    if (cpu.cached + size <= cache_limit() && b->len < b->cap) {
        b->items[b->len++] = p;
        cpu.cached += size;
        POISON(p, size);
        p = NULL;
    }
    pthread_mutex_unlock(&cpu.lock);
    free(p);
}

static int check_device(mm_device dev) {
    if (dev.type != MM_DEVICE_CPU) {
        char buf[32];
        return mm_error_set(MM_EUNSUPPORTED,
                            "memory: no allocator for device %s",
                            mm_device_format(dev, buf, sizeof buf));
    }
    return 0;
}

int mm_memory_stats_get(mm_device dev, mm_memory_stats *out) {
    MM_TRY(check_device(dev));
    pthread_mutex_lock(&cpu.lock);
    *out = (mm_memory_stats){
        .allocated_bytes = cpu.allocated,
        .peak_bytes = cpu.peak,
        .cached_bytes = cpu.cached,
        .n_allocs = cpu.n_allocs,
        .n_cache_hits = cpu.n_hits,
    };
    pthread_mutex_unlock(&cpu.lock);
    return 0;
}

void mm_memory_reset_peak(mm_device dev) {
    if (dev.type != MM_DEVICE_CPU)
        return;
    pthread_mutex_lock(&cpu.lock);
    cpu.peak = cpu.allocated;
    pthread_mutex_unlock(&cpu.lock);
}

void mm_memory_empty_cache(mm_device dev) {
    if (dev.type != MM_DEVICE_CPU)
        return;
    bin lists[N_CLASSES];
    pthread_mutex_lock(&cpu.lock);
    memcpy(lists, cpu.bins, sizeof lists);
    memset(cpu.bins, 0, sizeof cpu.bins);
    cpu.cached = 0;
    pthread_mutex_unlock(&cpu.lock);
    for (int c = 0; c < N_CLASSES; c++) {
        size_t size = c < 16 ? (size_t)(c + 1) * ALIGN
                             : ((size_t)1 << (10 + (c - 16) / 4)) / 4 *
                                   (size_t)(4 + (c - 16) % 4 + 1);
        for (size_t i = 0; i < lists[c].len; i++) {
            UNPOISON(lists[c].items[i], size);
            free(lists[c].items[i]);
        }
        free(lists[c].items);
    }
}

void mm_memory_set_cache_limit(mm_device dev, size_t bytes) {
    if (dev.type != MM_DEVICE_CPU)
        return;
    pthread_mutex_lock(&cpu.lock);
    cpu.limit = bytes;
    cpu.limit_set = true;
    pthread_mutex_unlock(&cpu.lock);
    if (cpu.cached > bytes)
        mm_memory_empty_cache(dev);
}

size_t mm_memory_peak_mib(mm_device dev) {
    mm_memory_stats st;
    if (mm_memory_stats_get(dev, &st) < 0)
        return 0;
    return (st.peak_bytes + (1u << 20) - 1) >> 20;
}
