/* Between the checkpoint readers of core/io (not public API). */
#ifndef MM_IO_INTERNAL_H
#define MM_IO_INTERNAL_H

#include <stdint.h>

#include "mm/checkpoint.h"

/* Record the file a checkpoint came from (what describe prints). */
int mm_checkpoint_set_origin(mm_checkpoint *ck, const char *path,
                             uint64_t size);

/* mm_pth_load on the bytes of a whole file in memory (`name` starts every
 * error message); what mm_checkpoint_load_buffer dispatches to. */
int mm_pth_load_buffer(const void *data, size_t len, const char *name,
                       mm_checkpoint **out);

#endif
