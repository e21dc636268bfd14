/* Per-thread autocast regions: a small stack of dtypes (MM_F32 means off),
 * and the cast the autocast ops apply to their operands, as
 * torch.autocast('cpu', dtype=torch.bfloat16) does for its lower-precision
 * ops (f32 operands cast, f64 and integer ones left alone). */
#include "autocast_internal.h"

#include "mm/autocast.h"
#include "ops_internal.h"

enum { AUTOCAST_MAX_DEPTH = 64 };

static _Thread_local mm_dtype stack[AUTOCAST_MAX_DEPTH];
static _Thread_local int depth;

int mm_autocast_push(mm_dtype dtype) {
    if (dtype != MM_BF16 && dtype != MM_F32)
        return mm_error_set(
            MM_EINVAL, "autocast: dtype must be bf16 (or f32 for off), got %s",
            mm_dtype_name(dtype));
    if (depth == AUTOCAST_MAX_DEPTH)
        return mm_error_set(MM_EINVAL, "autocast: nested more than %d deep",
                            AUTOCAST_MAX_DEPTH);
    stack[depth++] = dtype;
    return 0;
}

void mm_autocast_pop(void) {
    if (depth > 0)
        depth--;
}

mm_dtype mm_autocast_dtype(void) { return depth ? stack[depth - 1] : MM_F32; }

bool mm_autocast_enabled(void) { return mm_autocast_dtype() != MM_F32; }

int mm_autocast_inputs(int n, mm_tensor **ts) {
    if (!mm_autocast_enabled())
        return 0;
    mm_dtype dt = mm_autocast_dtype();
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->dtype == MM_F32)
            MM_TRY(mm_to_dtype(ts[i], dt, &ts[i]));
    return 0;
}
