/* Leveled logging to stderr in mmengine's format. */
#include "mm/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

enum { MAX_SINKS = 8 };
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    mm_log_sink fn;
    void *user;
} sinks[MAX_SINKS];
static int n_sinks;

int mm_log_add_sink(mm_log_sink fn, void *user) {
    pthread_mutex_lock(&sink_lock);
    int rc = MM_OK;
    if (n_sinks == MAX_SINKS)
        rc = mm_error_set(MM_ERANGE, "log: at most %d sinks", MAX_SINKS);
    else
        sinks[n_sinks].fn = fn, sinks[n_sinks++].user = user;
    pthread_mutex_unlock(&sink_lock);
    return rc;
}

void mm_log_remove_sink(mm_log_sink fn, void *user) {
    pthread_mutex_lock(&sink_lock);
    for (int i = 0; i < n_sinks; i++) {
        if (sinks[i].fn == fn && sinks[i].user == user) {
            for (int j = i + 1; j < n_sinks; j++)
                sinks[j - 1] = sinks[j];
            n_sinks--;
            break;
        }
    }
    pthread_mutex_unlock(&sink_lock);
}

void mm_log(mm_log_level level, const char *fmt, ...) {
    if ((int)level < current_level)
        return;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%m/%d %H:%M:%S", &tm);
    /* Long messages (the config dump at the start of a run) get a heap
     * buffer; short ones the stack. */
    char small[4096], *line = small;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (len >= (int)sizeof small) {
        char *big = malloc((size_t)len + 1);
        if (big) {
            va_start(ap, fmt);
            vsnprintf(big, (size_t)len + 1, fmt, ap);
            va_end(ap);
            line = big;
        }
    }
    char head[96];
    snprintf(head, sizeof head, "%s - mm - %s - ", stamp,
             mm_log_level_name(level));
    pthread_mutex_lock(&sink_lock);
    /* One fprintf per line keeps lines from different threads whole. */
    fprintf(stderr, "%s%s\n", head, line);
    if (n_sinks) {
        size_t hl = strlen(head), ll = strlen(line);
        char *whole = malloc(hl + ll + 1);
        if (whole) {
            memcpy(whole, head, hl);
            memcpy(whole + hl, line, ll + 1);
            for (int i = 0; i < n_sinks; i++)
                sinks[i].fn(level, whole, sinks[i].user);
            free(whole);
        }
    }
    pthread_mutex_unlock(&sink_lock);
    if (line != small)
        free(line);
}

void mm_progress_print(FILE *f, int64_t done, int64_t total, double elapsed) {
    if (total <= 0)
        return;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    int width = 30, fill = (int)(width * done / total);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '>' : ' ';
    bar[width] = 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(f, "\r[%s] %lld/%lld, %.1f task/s, elapsed: %.0fs, ETA: %5.0fs", bar,
            (long long)done, (long long)total, rate, elapsed, eta);
    if (done == total)
        fputc('\n', f);
    fflush(f);
}
