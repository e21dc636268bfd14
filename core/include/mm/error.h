/* mm/error.h - status codes and the thread-local error slot.
 *
 * Every fallible mm function returns an int: 0 (MM_OK) on success or a
 * negative MM_E* code on failure, with objects coming back through
 * out-parameters. The human-readable reason lives in a thread-local slot:
 * the function that detects the problem sets it (mm_error_set, or
 * mm_error_set_at when it knows a source location), and callers on the way
 * up may add context (mm_error_context), so the user reads one precise line:
 *
 *     configs/x.yaml:12:5: model.backbone: unknown reference '${a.b}'
 *
 * The slot is per thread, so worker threads never clobber each other. */
#ifndef MM_ERROR_H
#define MM_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define MM_NODISCARD __attribute__((warn_unused_result))
#else
#define MM_PRINTF(fmt, args)
#define MM_NODISCARD
#endif

#if defined(__GNUC__) && !defined(MM_STATIC)
#define MM_API __attribute__((visibility("default")))
#else
#define MM_API
#endif

enum {
    MM_OK = 0,
    MM_EINVAL = -1,        /* bad argument or bad user input */
    MM_ENOMEM = -2,        /* out of memory */
    MM_EIO = -3,           /* read/write failure */
    MM_ENOENT = -4,        /* file or key not found */
    MM_EPARSE = -5,        /* malformed text (YAML, JSON, ...) */
    MM_ETYPE = -6,         /* value of the wrong type */
    MM_ERANGE = -7,        /* index or number out of range */
    MM_ECYCLE = -8,        /* inheritance or reference cycle */
    MM_EEXIST = -9,        /* duplicate name or key */
    MM_EUNSUPPORTED = -10, /* valid but not supported (yet) */
    MM_EINTERNAL = -11,    /* broken internal invariant */
    MM_ERROR_COUNT = 12,
};

/* A source location: the file a value came from, 1-based line and column.
 * `file` is interned (see mm_intern) and lives as long as the process. A
 * zero line means "unknown". */
typedef struct mm_srcloc {
    const char *file;
    int line;
    int col;
} mm_srcloc;

/* The name of a status code ("MM_ENOENT"-style short text). */
MM_API const char *mm_strerror(int code);

/* Set the thread-local error: returns `code`, so `return mm_error_set(...)`
 * reads naturally. Clears any earlier context. */
MM_API int mm_error_set(int code, const char *fmt, ...) MM_PRINTF(2, 3);
MM_API int mm_error_setv(int code, const char *fmt, va_list ap);

/* Same, with the location the message is about; loc may be NULL. */
MM_API int mm_error_set_at(int code, const mm_srcloc *loc, const char *fmt,
                           ...) MM_PRINTF(3, 4);

/* Add an outer context ("model.backbone") to the current error; returns
 * `code`. Contexts read outermost first. If the error has no location yet
 * and loc is given, the location is attached too. */
MM_API int mm_error_context(int code, const mm_srcloc *loc, const char *fmt,
                            ...) MM_PRINTF(3, 4);

/* The full one-line message: "file:line:col: ctx: ctx: message". Valid until
 * the next mm_error_* call on this thread. Empty string when no error. */
MM_API const char *mm_error_message(void);

/* The code of the last error set on this thread (MM_OK after clear). */
MM_API int mm_error_code(void);

MM_API void mm_error_clear(void);

/* Format a location as "file:line:col" (or "file" when line is unknown)
 * into buf; returns buf. */
MM_API char *mm_srcloc_format(const mm_srcloc *loc, char *buf, unsigned size);

/* Intern a string: equal strings give the same pointer, valid until exit.
 * Used for file names carried by every config node. NULL on no memory. */
MM_API const char *mm_intern(const char *s);

/* Internal invariants only, never for user input. */
#define MM_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond))                                                           \
            mm_assert_fail(#cond, __FILE__, __LINE__);                         \
    } while (0)
MM_API _Noreturn void mm_assert_fail(const char *expr, const char *file,
                                     int line);

#ifdef __cplusplus
}
#endif
#endif
