/* Whole-file reads with clear errors, and atomic writes. */
#include "mm/value.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_TEXT_FILE = 64 << 20 }; /* configs and JSON, not datasets */

int mm_file_read(const char *path, char **text, size_t *len) {
    *text = NULL;
    if (len)
        *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mm_error_set(errno == ENOENT ? MM_ENOENT : MM_EIO,
                            "cannot open '%s': %s", path, strerror(errno));
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int err = errno;
        close(fd);
        return mm_error_set(MM_EIO, "cannot read '%s': %s", path,
                            S_ISDIR(st.st_mode) ? "is a directory"
                            : S_ISREG(st.st_mode) ? strerror(err)
                                                  : "not a regular file");
    }
    if (st.st_size > MAX_TEXT_FILE) {
        close(fd);
        return mm_error_set(MM_EIO, "cannot read '%s': larger than %d MiB",
                            path, MAX_TEXT_FILE >> 20);
    }
    size_t size = (size_t)st.st_size, used = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return mm_error_set(MM_ENOMEM, "out of memory reading '%s'", path);
    }
    while (used < size) {
        ssize_t n = read(fd, buf + used, size - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(buf);
            close(fd);
            return mm_error_set(MM_EIO, "cannot read '%s': %s", path,
                                strerror(err));
        }
        if (n == 0)
            break; /* the file shrank under us: take what is there */
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    *text = buf;
    if (len)
        *len = used;
    return MM_OK;
}

int mm_file_write_atomic(const char *path, const void *data, size_t len) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dir_copy = strdup(path);
    if (!tmp || !dir_copy) {
        free(tmp);
        free(dir_copy);
        return mm_error_set(MM_ENOMEM, "out of memory writing '%s'", path);
    }
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int rc = MM_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = mm_error_set(MM_EIO, "cannot create '%s': %s", tmp,
                          strerror(errno));
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = mm_error_set(MM_EIO, "cannot write '%s': %s", tmp,
                              strerror(errno));
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == MM_OK && fchmod(fd, 0644) != 0)
        rc = mm_error_set(MM_EIO, "cannot chmod '%s': %s", tmp, strerror(errno));
    if (rc == MM_OK && fsync(fd) != 0)
        rc = mm_error_set(MM_EIO, "cannot sync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == MM_OK)
        rc = mm_error_set(MM_EIO, "cannot close '%s': %s", tmp, strerror(errno));
    if (rc == MM_OK && rename(tmp, path) != 0)
        rc = mm_error_set(MM_EIO, "cannot rename '%s' to '%s': %s", tmp, path,
                          strerror(errno));
    if (rc != MM_OK) {
        unlink(tmp);
        goto out;
    }
    /* Make the rename itself durable. */
    int dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out:
    free(tmp);
    free(dir_copy);
    return rc;
}
