/* The `rtest` test plugin's hook, shared with the runner tests, which find
 * it among the runner's hooks and read what it recorded. */
#ifndef MM_TESTS_RTEST_H
#define MM_TESTS_RTEST_H

#include <mm/runner.h>

/* rtest.RecordHook: appends the name of every hook point it is called at
 * (and, for checkpoints, what the file held) to `events`. */
typedef struct rtest_record_hook {
    mm_hook base;
    char *tag;            /* the config's `tag` */
    int64_t interrupt_at; /* mm_runner_interrupt after this many iters */
    int64_t signal_at;    /* raise(SIGINT) after this many iters */
    int64_t signals;      /* how many times (2: the second aborts) */
    char *watch;          /* a model tensor whose element 0 is recorded
                             after each train iteration ("w:%a") */
    size_t n, cap;
    char **events;
} rtest_record_hook;

#endif
