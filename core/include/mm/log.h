/* mm/log.h - leveled logging in mmengine's line format.
 *
 *     11/26 12:34:56 - mm - INFO - message
 *
 * Messages below the current level are dropped. The level comes from
 * `--log-level` on the command line or `log_level` in a config, by the same
 * names mmengine uses (DEBUG, INFO, WARNING, ERROR, CRITICAL). Lines go to
 * stderr and to every sink added (the runner's log file). */
#ifndef MM_LOG_H
#define MM_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "mm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mm_log_level {
    MM_LOG_DEBUG = 10,
    MM_LOG_INFO = 20,
    MM_LOG_WARNING = 30,
    MM_LOG_ERROR = 40,
    MM_LOG_CRITICAL = 50,
} mm_log_level;

MM_API void mm_log_set_level(mm_log_level level);
MM_API mm_log_level mm_log_get_level(void);

/* Parse "DEBUG"/"info"/"Warning"/... (case-insensitive; "WARN" too). */
MM_API int mm_log_level_parse(const char *name, mm_log_level *out);
MM_API const char *mm_log_level_name(mm_log_level level);

/* A sink receives every line that passes the level, whole and without the
 * newline ("11/26 12:34:56 - mm - INFO - message"); calls are serialised. */
typedef void (*mm_log_sink)(mm_log_level level, const char *line, void *user);
/* At most 8 sinks; MM_ERANGE beyond. */
MM_API int mm_log_add_sink(mm_log_sink fn, void *user);
MM_API void mm_log_remove_sink(mm_log_sink fn, void *user);

MM_API void mm_log(mm_log_level level, const char *fmt, ...) MM_PRINTF(2, 3);

#define MM_DEBUG(...) mm_log(MM_LOG_DEBUG, __VA_ARGS__)
#define MM_INFO(...) mm_log(MM_LOG_INFO, __VA_ARGS__)
#define MM_WARN(...) mm_log(MM_LOG_WARNING, __VA_ARGS__)
#define MM_ERROR(...) mm_log(MM_LOG_ERROR, __VA_ARGS__)

/* mmengine's ProgressBar line on f (a terminal): "\r[>>>>   ] done/total,
 * rate task/s, elapsed: Ns, ETA: Ns", a newline when done == total. */
MM_API void mm_progress_print(FILE *f, int64_t done, int64_t total,
                              double elapsed);

#ifdef __cplusplus
}
#endif
#endif
