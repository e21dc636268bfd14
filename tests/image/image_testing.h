/* Shared by the image suite: the mmcv recording (mmcv_expected.json, made
 * by tools/parity/transforms_mmcv.py), fixture paths, and comparing a
 * tensor with a recorded image. */
#ifndef MM_TESTS_IMAGE_TESTING_H
#define MM_TESTS_IMAGE_TESTING_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/mm.h"

#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(fabs(a_ - b_) <= (tol))) {                                       \
            fprintf(stderr, "%s:%d: %s = %.9g, want %.9g (tol %g)\n",          \
                    __FILE__, __LINE__, #a, a_, b_, (double)(tol));            \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

/* tests/fixtures/image/NAME into buf. */
static inline const char *fixture(const char *name, char *buf, size_t size) {
    const char *dir = getenv("MM_IMAGE_FIXTURES");
    snprintf(buf, size, "%s/%s", dir ? dir : "tests/fixtures/image", name);
    return buf;
}

/* The recording, parsed once (released at exit by the OS: the suite is
 * leak-checked per case, and this is the process's one long-lived value). */
static mm_value *expected_json;

static inline const mm_value *expected(const char *section) {
    if (!expected_json) {
        const char *path = getenv("MM_IMAGE_EXPECTED");
        char *text;
        size_t len;
        if (!path || mm_file_read(path, &text, &len) ||
            mm_json_parse(text, len, path, &expected_json)) {
            fprintf(stderr, "cannot load the mmcv recording: %s\n",
                    path ? mm_error_message() : "MM_IMAGE_EXPECTED unset");
            exit(1);
        }
        free(text);
    }
    return mm_value_dict_get(expected_json, section);
}

static inline void expected_free(void) {
    mm_value_release(expected_json);
    expected_json = NULL;
}

static inline int hexval(char c) {
    return c <= '9' ? c - '0' : (c | 32) - 'a' + 10;
}

/* Recorded element i of {shape, dtype, hex | data}. */
static inline double rec_at(const mm_value *rec, size_t i) {
    const mm_value *hex = mm_value_dict_get(rec, "hex");
    if (hex) {
        const char *s = mm_value_get_string(hex);
        return hexval(s[2 * i]) * 16 + hexval(s[2 * i + 1]);
    }
    return mm_value_get_float(
        mm_value_list_get(mm_value_dict_get(rec, "data"), i));
}

/* Compare t with a recorded image: same shape and dtype, every element
 * within tol; *max_diff and *mean_diff report how close. False on a
 * mismatch of shape or dtype (printed). */
static inline bool rec_compare(const mm_tensor *t, const mm_value *rec,
                               double *max_diff, double *mean_diff) {
    const mm_value *shape = mm_value_dict_get(rec, "shape");
    const char *dtype = mm_value_get_string(mm_value_dict_get(rec, "dtype"));
    bool ok = t && (size_t)t->ndim == mm_value_len(shape) &&
              t->dtype == (strcmp(dtype, "u8") == 0 ? MM_U8 : MM_F32);
    for (int d = 0; ok && d < t->ndim; d++)
        ok = t->shape[d] == mm_value_get_int(mm_value_list_get(shape, d));
    if (!ok) {
        char a[128] = "NULL";
        if (t)
            mm_tensor_describe(t, a, sizeof a);
        fprintf(stderr, "  got %s, recorded %s of %zu dims\n", a, dtype,
                mm_value_len(shape));
        return false;
    }
    mm_tensor *c = NULL;
    if (mm_contiguous((mm_tensor *)t, &c))
        return false;
    double mx = 0, sum = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = t->dtype == MM_U8 ? MM_DATA(c, uint8_t)[i]
                                     : MM_DATA(c, float)[i];
        double d = fabs(v - rec_at(rec, (size_t)i));
        mx = d > mx ? d : mx;
        sum += d;
    }
    mm_tensor_release(c);
    *max_diff = mx;
    *mean_diff = t->numel ? sum / (double)t->numel : 0;
    return true;
}

#endif
