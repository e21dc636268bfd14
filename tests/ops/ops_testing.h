/* Helpers shared by the ops suite: random inputs, comparison of an op's
 * optimised kernel against its reference kernel, gradcheck wrappers. Every
 * op test builds its output with a function of the mm_gradcheck_fn shape,
 * so the same function serves both checks. */
#ifndef MM_TESTS_OPS_TESTING_H
#define MM_TESTS_OPS_TESTING_H

#include <math.h>
#include <stdio.h>

#include "harness.h"
#include "mm/mm.h"

/* One generator for the whole test program: inputs are reproducible. */
static inline mm_generator *test_gen(void) {
    static mm_generator *g;
    if (!g && mm_generator_new(1234, &g) < 0)
        abort();
    return g;
}

/* Standard-normal values (as f64, then converted to dtype). */
static inline mm_tensor *randn_t(int ndim, const int64_t *shape,
                                 mm_dtype dtype) {
    mm_tensor *t = NULL, *c = NULL;
    if (mm_randn(ndim, shape, MM_F64, test_gen(), &t) < 0 ||
        mm_to_dtype(t, dtype, &c) < 0) {
        fprintf(stderr, "randn_t: %s\n", mm_error_message());
        abort();
    }
    return c;
}

/* Positive values in [lo, hi). */
static inline mm_tensor *uniform_t(int ndim, const int64_t *shape,
                                   mm_dtype dtype, double lo, double hi) {
    mm_tensor *t = NULL;
    if (mm_empty(ndim, shape, dtype, &t) < 0 ||
        mm_tensor_uniform_(t, lo, hi, test_gen()) < 0) {
        fprintf(stderr, "uniform_t: %s\n", mm_error_message());
        abort();
    }
    return t;
}

/* A leaf that requires grad. */
static inline mm_tensor *leaf(mm_tensor *t) {
    if (mm_tensor_set_requires_grad(t, true) < 0)
        abort();
    return t;
}

/* The same values in a non-contiguous layout: stored transposed (last two
 * dims swapped) and read back through a transpose view. */
static inline mm_tensor *noncontig(mm_tensor *t) {
    if (t->ndim < 2)
        return t;
    mm_tensor *tt, *c, *v;
    if (mm_transpose(t, -1, -2, &tt) < 0 || mm_contiguous(tt, &c) < 0 ||
        mm_transpose(c, -1, -2, &v) < 0)
        abort();
    return v;
}

typedef int (*op_fn)(void *ctx, mm_tensor *const *in, int n, mm_tensor **out);

/* Run fn with the optimised kernels and with the reference kernels; the
 * results must agree. Returns whether they did. */
static inline bool check_vs_reference_at(const char *file, int line,
                                         const char *what, op_fn fn, void *ctx,
                                         mm_tensor *const *in, int n,
                                         double rtol, double atol) {
    mm_tensor *fast = NULL, *ref = NULL;
    int rc1 = fn(ctx, in, n, &fast);
    bool prev = mm_ops_set_reference(true);
    int rc2 = fn(ctx, in, n, &ref);
    mm_ops_set_reference(prev);
    if (rc1 < 0 || rc2 < 0) {
        fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, what,
                mm_error_message());
        mm_test_failures++;
        return false;
    }
    double err;
    if (!mm_allclose(fast, ref, rtol, atol, &err) ||
        fast->dtype != ref->dtype) {
        char a[128], b[128];
        fprintf(
            stderr,
            "%s:%d: %s: optimised %s and reference %s differ (max error %g)\n",
            file, line, what, mm_tensor_describe(fast, a, sizeof a),
            mm_tensor_describe(ref, b, sizeof b), err);
        mm_test_failures++;
        return false;
    }
    return true;
}
#define CHECK_VS_REFERENCE(what, fn, ctx, in, n, rtol, atol)                   \
    check_vs_reference_at(__FILE__, __LINE__, what, fn, ctx, in, n, rtol, atol)

#define CHECK_GRAD(fn, ctx, in, n)                                             \
    do {                                                                       \
        int rc_ = mm_gradcheck(fn, ctx, in, n, 1e-6, 1e-6, 1e-4);              \
        if (rc_ < 0) {                                                         \
            fprintf(stderr, "%s:%d: gradcheck of %s failed: %s\n", __FILE__,   \
                    __LINE__, #fn, mm_error_message());                        \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

/* Each test case runs inside a pool and checks that the tensors it made are
 * gone afterwards (nothing leaked out of the pool, no graph kept alive). */
#define POOLED(...)                                                            \
    do {                                                                       \
        mm_memory_stats before_, after_;                                       \
        mm_memory_stats_get(MM_CPU, &before_);                                 \
        mm_pool *pool_;                                                        \
        CHECK_OK(mm_pool_open(&pool_));                                        \
        __VA_ARGS__;                                                           \
        mm_pool_close(pool_);                                                  \
        mm_memory_stats_get(MM_CPU, &after_);                                  \
        CHECK_INT(after_.allocated_bytes, before_.allocated_bytes);            \
    } while (0)

static inline double at(const mm_tensor *t, int64_t i) {
    return mm_tensor_get_flat(t, i);
}

#endif
