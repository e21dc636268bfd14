/* mm/autocast.h - bf16 autocast.
 *
 * torch.autocast('cpu', dtype=torch.bfloat16) for matmul, linear and the
 * convolutions: while a thread is inside mm_autocast_push, their f32
 * operands are cast to bf16 by the to-dtype op (so autograd sees the cast
 * and f32 leaves get f32 gradients) and the op runs in bf16 (AMX through
 * oneDNN where the CPU has it); the output is bf16. f64 and other dtypes
 * are left alone. Backward runs with autocast off. */
#ifndef MM_AUTOCAST_H
#define MM_AUTOCAST_H

#include <stdbool.h>

#include "mm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Enter (push) or leave (pop) an autocast region on this thread; regions
 * nest up to 64 deep and the innermost wins. dtype: MM_BF16 turns autocast
 * on, MM_F32 turns it off inside (torch.autocast(enabled=False));
 * anything else is MM_EINVAL. Popping with nothing pushed does nothing. */
MM_API int mm_autocast_push(mm_dtype dtype) MM_NODISCARD;
MM_API void mm_autocast_pop(void);
/* Whether autocast is on for this thread (and to which dtype). */
MM_API bool mm_autocast_enabled(void);
MM_API mm_dtype mm_autocast_dtype(void);

#ifdef __cplusplus
}
#endif
#endif
