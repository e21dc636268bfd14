/* mm/threads.h - how many threads compute kernels use.
 *
 * Kernels parallelise with OpenMP (and oneDNN, which shares the OpenMP
 * runtime). The count is MM_NUM_THREADS when set to a positive integer,
 * otherwise every core the process may run on; mm_set_num_threads changes
 * it for the whole process. Results do not depend on it: random numbers are
 * a function of (seed, offset, element index) and reductions split their
 * work into fixed-size chunks, not per-thread ones. */
#ifndef MM_THREADS_H
#define MM_THREADS_H

#include "mm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* n >= 1; MM_EINVAL otherwise. */
MM_API int mm_set_num_threads(int n);
MM_API int mm_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
