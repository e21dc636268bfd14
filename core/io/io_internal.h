/* Between the checkpoint readers of core/io (not public API). */
#ifndef MM_IO_INTERNAL_H
#define MM_IO_INTERNAL_H

#include <stdint.h>

#include "mm/checkpoint.h"

/* The bytes a checkpoint reader reads: an open regular file (fd) or a
 * buffer in memory (buf), `path` naming it in errors. */
typedef struct mm_io_src {
    int fd;
    const uint8_t *buf;
    uint64_t size;
    const char *path;
} mm_io_src;

/* Open a regular file for reading (errors name the path: missing,
 * unreadable, a directory); close with mm_io_src_close. */
int mm_io_src_open(const char *path, mm_io_src *out);
void mm_io_src_close(mm_io_src *s);
/* n bytes at `at`: MM_EPARSE "truncated" past the end, MM_EIO when the
 * file cannot be read or shrank. */
int mm_io_src_read(const mm_io_src *s, uint64_t at, void *dst, size_t n);

/* Record the file a checkpoint came from (what describe prints). */
int mm_checkpoint_set_origin(mm_checkpoint *ck, const char *path,
                             uint64_t size);

/* The .pth reader on any source (mm_pth_load is it on a file); what
 * mm_checkpoint_load(_buffer) dispatch to after sniffing. */
int mm_pth_load_src(const mm_io_src *s, mm_checkpoint **out);

#endif
