/* A minimal test harness: each test file lists its cases in MM_TEST_MAIN;
 * checks record failures with file:line and carry on; the run ends with
 * "N passed, N failed" and exits non-zero on any failure. `prog NAME` runs
 * only the cases whose name contains NAME. */
#ifndef MM_TESTS_HARNESS_H
#define MM_TESTS_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/error.h"

typedef struct mm_test_case {
    const char *name;
    void (*fn)(void);
} mm_test_case;

static int mm_test_failures;

#define MM_TEST(name) static void test_##name(void)
#define MM_CASE(name) {#name, test_##name}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

#define CHECK_INT(a, b)                                                        \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_) {                                                        \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld vs %lld\n",          \
                    __FILE__, __LINE__, #a, #b, a_, b_);                       \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                               \
            fprintf(stderr, "%s:%d: %s == %s failed:\n  got:  %s\n  want: %s\n", \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",             \
                    b_ ? b_ : "(null)");                                       \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

/* The call must succeed; on failure the error message is printed. */
#define CHECK_OK(expr)                                                         \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != 0) {                                                        \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__, __LINE__,  \
                    #expr, rc_, mm_error_message());                           \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

/* The call must fail with `code` and a message equal to `msg`. */
#define CHECK_ERR(expr, code, msg)                                             \
    do {                                                                       \
        mm_error_clear();                                                      \
        int rc_ = (expr);                                                      \
        if (rc_ != (code)) {                                                   \
            fprintf(stderr, "%s:%d: %s returned %d, want %d (%s)\n", __FILE__,  \
                    __LINE__, #expr, rc_, (int)(code), mm_error_message());    \
            mm_test_failures++;                                                \
        } else {                                                               \
            CHECK_STR(mm_error_message(), (msg));                              \
        }                                                                      \
    } while (0)

static inline int mm_test_run(const mm_test_case *cases, size_t n, int argc,
                              char **argv) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && !strstr(cases[i].name, argv[1]))
            continue;
        int before = mm_test_failures;
        mm_error_clear();
        cases[i].fn();
        if (mm_test_failures == before) {
            passed++;
            printf("ok   %s\n", cases[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", cases[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define MM_TEST_MAIN(...)                                                      \
    int main(int argc, char **argv) {                                          \
        static const mm_test_case cases[] = {__VA_ARGS__};                     \
        return mm_test_run(cases, sizeof cases / sizeof cases[0], argc, argv); \
    }

#endif
