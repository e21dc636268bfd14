/* Leveled logging to stderr in mmengine's format. */
#include "mm/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

static _Atomic int current_level = MM_LOG_INFO;

void mm_log_set_level(mm_log_level level) { current_level = (int)level; }

mm_log_level mm_log_get_level(void) { return (mm_log_level)current_level; }

static const struct {
    const char *name;
    mm_log_level level;
} level_names[] = {
    {"DEBUG", MM_LOG_DEBUG},     {"INFO", MM_LOG_INFO},
    {"WARNING", MM_LOG_WARNING}, {"WARN", MM_LOG_WARNING},
    {"ERROR", MM_LOG_ERROR},     {"CRITICAL", MM_LOG_CRITICAL},
};

int mm_log_level_parse(const char *name, mm_log_level *out) {
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (name && strcasecmp(name, level_names[i].name) == 0) {
            *out = level_names[i].level;
            return MM_OK;
        }
    }
    return mm_error_set(MM_EINVAL,
                        "unknown log level '%s' (expected DEBUG, INFO, "
                        "WARNING, ERROR or CRITICAL)",
                        name ? name : "");
}

const char *mm_log_level_name(mm_log_level level) {
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (level_names[i].level == level)
            return level_names[i].name;
    return "LOG";
}

void mm_log(mm_log_level level, const char *fmt, ...) {
    if ((int)level < current_level)
        return;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%m/%d %H:%M:%S", &tm);
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fprintf per line keeps lines from different threads whole. */
    fprintf(stderr, "%s - mm - %s - %s\n", stamp, mm_log_level_name(level),
            line);
}
