/* The compute thread count: MM_NUM_THREADS, else every available core. */
#include "mm/threads.h"
#include "mm/log.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

static int num_threads;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void) {
    int n = omp_get_num_procs();
    const char *env = getenv("MM_NUM_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 4096)
            n = (int)v;
        else
            MM_WARN(
                "MM_NUM_THREADS=%s is not a positive integer; using %d threads",
                env, n);
    }
    __atomic_store_n(&num_threads, n < 1 ? 1 : n, __ATOMIC_RELAXED);
}

int mm_get_num_threads(void) {
    pthread_once(&once, init);
    return __atomic_load_n(&num_threads, __ATOMIC_RELAXED);
}

int mm_set_num_threads(int n) {
    if (n < 1)
        return mm_error_set(MM_EINVAL,
                            "threads: %d is not a valid thread count", n);
    pthread_once(&once, init);
    __atomic_store_n(&num_threads, n, __ATOMIC_RELAXED);
    /* oneDNN reads the OpenMP setting of the calling thread; kernels that
     * call it refresh it per thread too (mm_dnnl_threads in ops/cpu). */
    omp_set_num_threads(n);
    return 0;
}
