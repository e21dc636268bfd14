/* ops_bench - time one mm op case and print the timings as one JSON line.
 *
 *     ops_bench [--threads N] [--runs R] [--min-time S] [--warmup W]
 *               CASE ARGS...
 *
 * Cases (f32 unless said; shapes as in PyTorch):
 *     conv2d_fwd  N C H W K KH KW STRIDE PAD   x [N,C,H,W], w [K,C,KH,KW], no bias
 *     conv2d_bwd  N C H W K KH KW STRIDE PAD   input grad + weight grad of the same
 *     matmul      M K N [f32|bf16]             [M,K] @ [K,N]
 *     linear      M K N                        x [M,K], weight [N,K], bias [N]
 *     batch_norm  N C H W                      training, running stats, affine
 *     softmax     R C                          along the last dim
 *     add         NUMEL [f32|bf16|f16]         a + b, same shape
 *     relu        NUMEL [f32|bf16|f16]
 *
 * --reference 1 times the reference kernels instead of the optimised ones.
 *
 * Each case runs W warm-up calls (oneDNN builds and caches its primitives on
 * the first), then R timed calls, or more until S seconds have passed (at
 * most 200; a first call over 3 s gets no second warm-up and one timed
 * call), each inside its own autorelease pool so outputs are freed as a
 * user's loop frees them. Times come from clock_gettime(CLOCK_MONOTONIC).
 * The JSON gives the median, the minimum and every time in milliseconds.
 *
 * A benchmark, not a test: tools/bench/ops.py runs it beside PyTorch. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/mm.h"

#define MAX_ARGS 12
#define MAX_TIMED 200

typedef struct bench {
    const char *name;
    int n_args;
    int64_t a[MAX_ARGS];
    mm_dtype dtype;
    /* set up once, outside the timing */
    mm_tensor *t[6];
    /* what one call computes, for GFLOP/s (0: not reported) */
    double flops;
} bench;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int randn(int ndim, const int64_t *shape, mm_dtype dt, bool grad,
                 mm_tensor **out) {
    MM_TRY(mm_randn(ndim, shape, dt, NULL, out));
    if (grad)
        MM_TRY(mm_tensor_set_requires_grad(*out, true));
    return 0;
}

static int conv_setup(bench *b, bool backward) {
    const int64_t *a = b->a;
    int64_t n = a[0], c = a[1], h = a[2], w = a[3], k = a[4], kh = a[5],
            kw = a[6], s = a[7], p = a[8];
    MM_TRY(randn(MM_SHAPE(n, c, h, w), MM_F32, backward, &b->t[0]));
    MM_TRY(randn(MM_SHAPE(k, c, kh, kw), MM_F32, backward, &b->t[1]));
    int64_t ho = (h + 2 * p - kh) / s + 1, wo = (w + 2 * p - kw) / s + 1;
    b->flops = 2.0 * (double)(n * k * ho * wo) * (double)(c * kh * kw);
    if (!backward)
        return 0;
    /* the graph stays after backward (retain_graph), so one forward
     * serves every timed backward */
    int64_t stride[2] = {s, s}, pad[2] = {p, p};
    MM_TRY(mm_conv2d(b->t[0], b->t[1], NULL, stride, pad, NULL, 1, &b->t[2]));
    MM_TRY(randn(MM_SHAPE(n, k, ho, wo), MM_F32, false, &b->t[3]));
    b->flops *= 2.0; /* input grad and weight grad, each a conv's work */
    return 0;
}

static int setup(bench *b) {
    const int64_t *a = b->a;
    const char *c = b->name;
    if (!strcmp(c, "conv2d_fwd") || !strcmp(c, "conv2d_bwd"))
        return conv_setup(b, !strcmp(c, "conv2d_bwd"));
    if (!strcmp(c, "matmul") || !strcmp(c, "linear")) {
        bool lin = !strcmp(c, "linear");
        MM_TRY(randn(MM_SHAPE(a[0], a[1]), b->dtype, false, &b->t[0]));
        if (lin) {
            MM_TRY(randn(MM_SHAPE(a[2], a[1]), b->dtype, false, &b->t[1]));
            MM_TRY(randn(MM_SHAPE(a[2]), b->dtype, false, &b->t[2]));
        } else {
            MM_TRY(randn(MM_SHAPE(a[1], a[2]), b->dtype, false, &b->t[1]));
        }
        b->flops = 2.0 * (double)a[0] * (double)a[1] * (double)a[2];
        return 0;
    }
    if (!strcmp(c, "batch_norm")) {
        MM_TRY(randn(MM_SHAPE(a[0], a[1], a[2], a[3]), MM_F32, false,
                     &b->t[0]));
        MM_TRY(mm_zeros(MM_SHAPE(a[1]), MM_F32, &b->t[1]));
        MM_TRY(mm_ones(MM_SHAPE(a[1]), MM_F32, &b->t[2]));
        MM_TRY(mm_ones(MM_SHAPE(a[1]), MM_F32, &b->t[3]));
        MM_TRY(mm_zeros(MM_SHAPE(a[1]), MM_F32, &b->t[4]));
        return 0;
    }
    if (!strcmp(c, "softmax"))
        return randn(MM_SHAPE(a[0], a[1]), MM_F32, false, &b->t[0]);
    if (!strcmp(c, "add")) {
        MM_TRY(randn(MM_SHAPE(a[0]), b->dtype, false, &b->t[0]));
        return randn(MM_SHAPE(a[0]), b->dtype, false, &b->t[1]);
    }
    if (!strcmp(c, "relu"))
        return randn(MM_SHAPE(a[0]), b->dtype, false, &b->t[0]);
    return mm_error_set(MM_EINVAL, "ops_bench: unknown case '%s'", c);
}

/* One timed call; its tensors go to the caller's pool. */
static int call(bench *b) {
    const int64_t *a = b->a;
    const char *c = b->name;
    mm_tensor *y;
    if (!strcmp(c, "conv2d_fwd")) {
        int64_t stride[2] = {a[7], a[7]}, pad[2] = {a[8], a[8]};
        return mm_conv2d(b->t[0], b->t[1], NULL, stride, pad, NULL, 1, &y);
    }
    if (!strcmp(c, "conv2d_bwd")) {
        MM_TRY(mm_backward_with_grad(b->t[2], b->t[3]));
        /* torch's x.grad = None: the next backward writes a fresh grad
         * rather than adding to this one */
        mm_tensor_zero_grad(b->t[0]);
        mm_tensor_zero_grad(b->t[1]);
        return 0;
    }
    if (!strcmp(c, "matmul"))
        return mm_matmul(b->t[0], b->t[1], &y);
    if (!strcmp(c, "linear"))
        return mm_linear(b->t[0], b->t[1], b->t[2], &y);
    if (!strcmp(c, "batch_norm"))
        return mm_batch_norm(b->t[0], b->t[1], b->t[2], b->t[3], b->t[4], true,
                             0.1, 1e-5, &y);
    if (!strcmp(c, "softmax"))
        return mm_softmax(b->t[0], -1, &y);
    if (!strcmp(c, "add"))
        return mm_add(b->t[0], b->t[1], &y);
    return mm_relu(b->t[0], &y);
}

static int timed_call(bench *b, double *seconds) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    double t0 = now_s();
    int rc = call(b);
    *seconds = now_s() - t0;
    mm_pool_close(pool);
    return rc;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static int n_args_of(const char *c) {
    if (!strcmp(c, "conv2d_fwd") || !strcmp(c, "conv2d_bwd"))
        return 9;
    if (!strcmp(c, "matmul") || !strcmp(c, "linear"))
        return 3;
    if (!strcmp(c, "batch_norm"))
        return 4;
    if (!strcmp(c, "softmax"))
        return 2;
    if (!strcmp(c, "add") || !strcmp(c, "relu"))
        return 1;
    return -1;
}

static bool parse_i64(const char *s, int64_t min, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min)
        return false;
    *out = v;
    return true;
}

static int usage(void) {
    fprintf(stderr,
            "usage: ops_bench [--threads N] [--runs R] [--min-time S] "
            "[--warmup W] CASE ARGS...\n"
            "cases: conv2d_fwd|conv2d_bwd N C H W K KH KW STRIDE PAD; "
            "matmul M K N [f32|bf16]; linear M K N; batch_norm N C H W; "
            "softmax R C; add NUMEL [dtype]; relu NUMEL [dtype]; "
            "--reference 1: reference kernels\n");
    return 2;
}

int main(int argc, char **argv) {
    int64_t threads = 1, runs = 5, warmup = 2, reference = 0;
    double min_time = 1.0;
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *opt = argv[i], *v = argv[i + 1];
        bool ok = true;
        if (!strcmp(opt, "--threads"))
            ok = parse_i64(v, 1, &threads);
        else if (!strcmp(opt, "--runs"))
            ok = parse_i64(v, 1, &runs);
        else if (!strcmp(opt, "--reference"))
            ok = parse_i64(v, 0, &reference);
        else if (!strcmp(opt, "--warmup"))
            ok = parse_i64(v, 0, &warmup);
        else if (!strcmp(opt, "--min-time"))
            min_time = strtod(v, NULL);
        else
            ok = false;
        if (!ok)
            return usage();
    }
    if (i >= argc)
        return usage();
    bench b = {.name = argv[i++], .dtype = MM_F32};
    b.n_args = n_args_of(b.name);
    if (b.n_args < 0)
        return usage();
    for (int k = 0; k < b.n_args; k++)
        /* conv's PAD (the ninth) may be 0, no size may */
        if (i >= argc || !parse_i64(argv[i++], k == 8 ? 0 : 1, &b.a[k]))
            return usage();
    if (i < argc &&
        (!strcmp(b.name, "matmul") || !strcmp(b.name, "add") ||
         !strcmp(b.name, "relu")) &&
        mm_dtype_parse(argv[i++], &b.dtype) != 0)
        return usage();
    if (i != argc)
        return usage();
    if (runs > MAX_TIMED)
        runs = MAX_TIMED;

    mm_ops_set_reference(reference != 0);
    int rc = mm_set_num_threads((int)threads);
    mm_manual_seed(0);
    if (!rc)
        rc = setup(&b);
    double times[MAX_TIMED], t, total = 0;
    for (int64_t k = 0; !rc && k < warmup; k++) {
        rc = timed_call(&b, &t);
        if (k == 0 && t > 3.0) { /* a slow call: one warm-up, one timed */
            runs = 1;
            min_time = 0;
            break;
        }
    }
    int n = 0;
    while (!rc && n < MAX_TIMED && (n < runs || total < min_time)) {
        rc = timed_call(&b, &t);
        times[n++] = t;
        total += t;
    }
    for (int k = 0; k < 6; k++)
        mm_tensor_release(b.t[k]);
    if (rc) {
        fprintf(stderr, "ops_bench: %s\n", mm_error_message());
        return 1;
    }
    double sorted[MAX_TIMED];
    memcpy(sorted, times, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(double), cmp_double);
    double median = n % 2 ? sorted[n / 2]
                          : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    printf("{\"case\": \"%s\", \"dtype\": \"%s\", \"threads\": %d, "
           "\"runs\": %d, \"median_ms\": %.6g, \"min_ms\": %.6g, "
           "\"flops\": %.6g, \"times_ms\": [",
           b.name, mm_dtype_info[b.dtype].name, mm_get_num_threads(), n,
           median * 1e3, sorted[0] * 1e3, b.flops);
    for (int k = 0; k < n; k++)
        printf("%s%.6g", k ? ", " : "", times[k] * 1e3);
    printf("]}\n");
    return 0;
}
