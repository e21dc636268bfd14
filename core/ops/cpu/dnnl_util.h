/* oneDNN glue for CPU kernels: one engine, errors turned into mm statuses,
 * and a primitive cache keyed by bytes (op, shapes, strides, dtype). */
#ifndef MM_DNNL_UTIL_H
#define MM_DNNL_UTIL_H

#include <dnnl.h>

#include "ops_internal.h"

/* oneDNN status -> mm status with "oneDNN <what>: <status>";
 * dnnl_unimplemented becomes MM_EUNSUPPORTED (the caller falls back). */
int mm_dnnl_error(dnnl_status_t st, const char *what);

#define MM_CHECK_DNNL(call, what)                                              \
    do {                                                                       \
        dnnl_status_t mm_dnnl_st_ = (call);                                    \
        if (mm_dnnl_st_ != dnnl_success)                                       \
            return mm_dnnl_error(mm_dnnl_st_, what);                           \
    } while (0)

/* The CPU engine (created once). */
int mm_dnnl_engine(dnnl_engine_t *out);

/* The primitive of pd (which it destroys); errors read "oneDNN <what>". */
int mm_dnnl_primitive_take(dnnl_primitive_desc_t pd, dnnl_primitive_t *out,
                           const char *what);

/* Map an mm dtype to oneDNN's; false when oneDNN has none (f64, i64). */
bool mm_dnnl_dtype(mm_dtype dt, dnnl_data_type_t *out);

typedef struct mm_dnnl_entry mm_dnnl_entry;
typedef int (*mm_dnnl_make_fn)(void *ctx, dnnl_primitive_t *out);

enum { MM_DNNL_KEY_MAX = 512 };

/* The cached primitive for `key`, made by make(ctx) on a miss. Release it
 * after executing. Put the thread count in the key: oneDNN fixes a
 * primitive's work split when it makes it. Make the primitive after
 * mm_dnnl_threads(). */
int mm_dnnl_acquire(const void *key, size_t len, mm_dnnl_make_fn make,
                    void *ctx, mm_dnnl_entry **out);
dnnl_primitive_t mm_dnnl_entry_primitive(const mm_dnnl_entry *e);
void mm_dnnl_release(mm_dnnl_entry *e);

/* Set this thread's OpenMP count to mm_get_num_threads() (oneDNN reads
 * it when it makes and runs primitives); returns the count. */
int mm_dnnl_threads(void);

/* Execute on a fresh stream of the engine and wait; sets the OpenMP thread
 * count of this thread to mm_get_num_threads() first. */
int mm_dnnl_execute(dnnl_primitive_t prim, int nargs,
                    const dnnl_exec_arg_t *args);

/* One argument of mm_dnnl_run: a user buffer laid out as md. */
typedef struct mm_dnnl_arg {
    int arg; /* DNNL_ARG_SRC, ... */
    const dnnl_memory_desc_t *md;
    void *data;
} mm_dnnl_arg;

enum { MM_DNNL_ARGS_MAX = 8 };

/* mm_dnnl_execute with n (<= MM_DNNL_ARGS_MAX) user buffers, each wrapped
 * in a memory of the engine for the call. */
int mm_dnnl_run(dnnl_primitive_t prim, int n, const mm_dnnl_arg *args);

#endif
