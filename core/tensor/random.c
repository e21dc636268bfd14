/* Random tensors on the Philox stream (layout of counters: <mm/rng.h>).
 * Blocks are independent, so the fill is an OpenMP loop over blocks and the
 * values never depend on the thread count. */
#include "mm/rng.h"
#include "mm/threads.h"
#include "tensor_internal.h"

#include <math.h>
#include <stdlib.h>

typedef enum {
    DIST_UNIFORM,
    DIST_NORMAL,
    DIST_RANDINT,
    DIST_BERNOULLI
} dist_kind;

typedef struct dist {
    dist_kind kind;
    double a, b;    /* uniform [a, b); normal mean a, std b; bernoulli p = a */
    int64_t low;    /* randint */
    uint64_t range; /* randint: high - low */
    const mm_tensor *p; /* bernoulli with a probability tensor */
} dist;

static int per_block(const dist *d, mm_dtype dt) {
    switch (d->kind) {
    case DIST_UNIFORM:
    case DIST_NORMAL:
        return dt == MM_F64 ? 2 : 4;
    case DIST_BERNOULLI:
        return 4;
    default:
        return 2;
    }
}

static inline double u53(uint32_t hi, uint32_t lo) {
    return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1.0p-53;
}

/* Uniform on [0, 1) with as many bits as the dtype holds below 1. */
static inline double u_dtype(const uint32_t *w, int lane, mm_dtype dt) {
    switch (dt) {
    case MM_F64:
        return u53(w[2 * lane], w[2 * lane + 1]);
    case MM_F16:
        return (double)(w[lane] >> 21) * 0x1.0p-11;
    case MM_BF16:
        return (double)(w[lane] >> 24) * 0x1.0p-8;
    default:
        return (double)(w[lane] >> 8) * 0x1.0p-24;
    }
}

static void fill_block(const dist *d, mm_tensor *out, uint64_t seed,
                       uint64_t ctr, int64_t blk, int ppb) {
    uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t w[4];
    mm_philox4x32_10(c, k, w);
    double v[4];
    switch (d->kind) {
    case DIST_UNIFORM:
        for (int l = 0; l < ppb; l++)
            v[l] = d->a + (d->b - d->a) * u_dtype(w, l, out->dtype);
        break;
    case DIST_NORMAL:
        if (out->dtype == MM_F64) {
            double u1 = u53(w[0], w[1]), u2 = u53(w[2], w[3]);
            double r = sqrt(-2.0 * log(1.0 - u1)), th = 2.0 * M_PI * u2;
            v[0] = d->a + d->b * r * cos(th);
            v[1] = d->a + d->b * r * sin(th);
        } else { /* two pairs per block, in float */
            for (int l = 0; l < 2; l++) {
                float u1 =
                    (float)(((double)w[2 * l] + 1.0) * 0x1.0p-32); /* (0, 1] */
                float u2 = (float)((double)w[2 * l + 1] * 0x1.0p-32);
                float r = sqrtf(-2.0f * logf(u1)), th = 2.0f * (float)M_PI * u2;
                v[2 * l] = d->a + d->b * (double)(r * cosf(th));
                v[2 * l + 1] = d->a + d->b * (double)(r * sinf(th));
            }
        }
        break;
    case DIST_RANDINT:
        for (int l = 0; l < 2; l++) {
            uint64_t x = ((uint64_t)w[2 * l] << 32) | w[2 * l + 1];
            int64_t i = (int64_t)((uint64_t)d->low + x % d->range);
            int64_t e = blk * ppb + l;
            if (e < out->numel)
                mm_store_i64((char *)mm_tensor_data(out) +
                                 e * (int64_t)mm_dtype_size(out->dtype),
                             out->dtype, i);
        }
        return;
    case DIST_BERNOULLI:
        for (int l = 0; l < 4; l++) {
            int64_t e = blk * ppb + l;
            double p = d->a;
            if (d->p && e < out->numel)
                p = mm_load_f64((const char *)d->p->storage->data +
                                    mm_tensor_elem_offset(d->p, e),
                                d->p->dtype);
            v[l] = (double)w[l] * 0x1.0p-32 < p ? 1.0 : 0.0;
        }
        break;
    }
    size_t es = mm_dtype_size(out->dtype);
    for (int l = 0; l < ppb; l++) {
        int64_t e = blk * ppb + l;
        if (e >= out->numel)
            break;
        char *o = (char *)mm_tensor_data(out) + e * (int64_t)es;
        if (out->dtype == MM_F32)
            *(float *)o = (float)v[l];
        else
            mm_store_f64(o, out->dtype, v[l]);
    }
}

/* Fill a contiguous tensor. */
static void generate(mm_tensor *out, const dist *d, mm_generator *gen) {
    int ppb = per_block(d, out->dtype);
    int64_t blocks = (out->numel + ppb - 1) / ppb;
    uint64_t seed;
    uint64_t first = mm_generator_reserve(gen, (uint64_t)blocks, &seed);
    int nt = mm_get_num_threads();
#pragma omp parallel for num_threads(nt) if (out->numel > MM_GRAIN / 8)
    for (int64_t b = 0; b < blocks; b++)
        fill_block(d, out, seed, first + (uint64_t)b, b, ppb);
}

/* Generate into t whatever its layout: directly when contiguous, else
 * through a contiguous temporary. */
static int generate_into(mm_tensor *t, const dist *d, mm_generator *gen) {
    if (t->device.type != MM_DEVICE_CPU)
        return mm_error_set(MM_EUNSUPPORTED, "random: only CPU tensors yet");
    if (mm_tensor_is_contiguous(t)) {
        generate(t, d, gen);
        return 0;
    }
    mm_tensor *tmp;
    MM_TRY(mm_tensor_new_owned(t->ndim, t->shape, t->dtype, t->device, &tmp));
    generate(tmp, d, gen);
    int rc = mm_copy_strided(t, tmp);
    mm_tensor_release(tmp);
    return rc;
}

static int check_float(const char *op, mm_dtype dt) {
    if (!mm_dtype_is_float(dt))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point dtype, got %s", op,
                            mm_dtype_name(dt));
    return 0;
}

static int new_random(const char *op, int ndim, const int64_t *shape,
                      mm_dtype dt, const dist *d, mm_generator *gen,
                      mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(mm_check_shape(op, ndim, shape));
    MM_TRY(mm_tensor_new_owned(ndim, shape, dt, MM_CPU, &t));
    generate(t, d, gen);
    return mm_tensor_publish(t, out);
}

int mm_rand(int ndim, const int64_t *shape, mm_dtype dtype, mm_generator *gen,
            mm_tensor **out) {
    MM_TRY(check_float("rand", dtype));
    dist d = {.kind = DIST_UNIFORM, .a = 0, .b = 1};
    return new_random("rand", ndim, shape, dtype, &d, gen, out);
}

int mm_randn(int ndim, const int64_t *shape, mm_dtype dtype, mm_generator *gen,
             mm_tensor **out) {
    MM_TRY(check_float("randn", dtype));
    dist d = {.kind = DIST_NORMAL, .a = 0, .b = 1};
    return new_random("randn", ndim, shape, dtype, &d, gen, out);
}

/* Whether [low, high) fits the dtype. */
static bool int_range_fits(mm_dtype dt, int64_t low, int64_t high) {
    switch (dt) {
    case MM_BOOL:
        return low >= 0 && high <= 2;
    case MM_U8:
        return low >= 0 && high <= 256;
    case MM_I32:
        return low >= INT32_MIN && high - 1 <= INT32_MAX;
    default:
        return true;
    }
}

int mm_randint(int64_t low, int64_t high, int ndim, const int64_t *shape,
               mm_dtype dtype, mm_generator *gen, mm_tensor **out) {
    if (high <= low)
        return mm_error_set(MM_EINVAL, "randint: empty range [%lld, %lld)",
                            (long long)low, (long long)high);
    if (!int_range_fits(dtype, low, high))
        return mm_error_set(
            MM_EINVAL, "randint: [%lld, %lld) does not fit in %s",
            (long long)low, (long long)high, mm_dtype_name(dtype));
    dist d = {.kind = DIST_RANDINT,
              .low = low,
              .range = (uint64_t)high - (uint64_t)low};
    return new_random("randint", ndim, shape, dtype, &d, gen, out);
}

int mm_randperm(int64_t n, mm_dtype dtype, mm_generator *gen, mm_tensor **out) {
    if (n < 0)
        return mm_error_set(MM_EINVAL,
                            "randperm: n must be non-negative (got %lld)",
                            (long long)n);
    if (n > 0 && !int_range_fits(dtype, 0, n))
        return mm_error_set(MM_EINVAL, "randperm: %lld values do not fit in %s",
                            (long long)n, mm_dtype_name(dtype));
    mm_tensor *t;
    MM_TRY(mm_tensor_new_owned(1, &n, dtype, MM_CPU, &t));
    int64_t *perm = malloc((size_t)(n ? n : 1) * sizeof *perm);
    if (!perm) {
        mm_tensor_release(t);
        return mm_error_set(MM_ENOMEM, "randperm: out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    uint64_t seed,
        first = mm_generator_reserve(gen, n > 1 ? (uint64_t)(n - 1) : 0, &seed);
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates, one block per step */
        uint64_t ctr = first + (uint64_t)(n - 1 - i);
        uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0}, w[4];
        mm_philox4x32_10(c, k, w);
        int64_t j =
            (int64_t)(((((uint64_t)w[0] << 32) | w[1])) % (uint64_t)(i + 1));
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    size_t es = mm_dtype_size(dtype);
    for (int64_t i = 0; i < n; i++)
        mm_store_i64((char *)t->storage->data + i * (int64_t)es, dtype,
                     perm[i]);
    free(perm);
    return mm_tensor_publish(t, out);
}

int mm_bernoulli(mm_tensor *p, mm_generator *gen, mm_tensor **out) {
    if (!p)
        return mm_error_set(MM_EINVAL, "bernoulli: tensor is NULL");
    MM_TRY(check_float("bernoulli", p->dtype));
    if (p->device.type != MM_DEVICE_CPU)
        return mm_error_set(MM_EUNSUPPORTED, "bernoulli: only CPU tensors yet");
    for (int64_t i = 0; i < p->numel; i++) {
        double v = mm_tensor_get_flat(p, i);
        if (!(v >= 0 && v <= 1))
            return mm_error_set(
                MM_EINVAL, "bernoulli: probability %g is not in [0, 1]", v);
    }
    dist d = {.kind = DIST_BERNOULLI, .p = p};
    return new_random("bernoulli", p->ndim, p->shape, p->dtype, &d, gen, out);
}

int mm_tensor_uniform_(mm_tensor *t, double low, double high,
                       mm_generator *gen) {
    if (!t)
        return mm_error_set(MM_EINVAL, "uniform_: tensor is NULL");
    MM_TRY(check_float("uniform_", t->dtype));
    MM_TRY(mm_check_inplace("uniform_", t));
    if (!(low <= high))
        return mm_error_set(MM_EINVAL, "uniform_: low %g is above high %g", low,
                            high);
    dist d = {.kind = DIST_UNIFORM, .a = low, .b = high};
    return generate_into(t, &d, gen);
}

int mm_tensor_normal_(mm_tensor *t, double mean, double std,
                      mm_generator *gen) {
    if (!t)
        return mm_error_set(MM_EINVAL, "normal_: tensor is NULL");
    MM_TRY(check_float("normal_", t->dtype));
    MM_TRY(mm_check_inplace("normal_", t));
    if (!(std >= 0))
        return mm_error_set(MM_EINVAL, "normal_: std %g must be non-negative",
                            std);
    dist d = {.kind = DIST_NORMAL, .a = mean, .b = std};
    return generate_into(t, &d, gen);
}

int mm_tensor_bernoulli_(mm_tensor *t, double p, mm_generator *gen) {
    if (!t)
        return mm_error_set(MM_EINVAL, "bernoulli_: tensor is NULL");
    MM_TRY(mm_check_inplace("bernoulli_", t));
    if (!(p >= 0 && p <= 1))
        return mm_error_set(MM_EINVAL,
                            "bernoulli_: probability %g is not in [0, 1]", p);
    dist d = {.kind = DIST_BERNOULLI, .a = p};
    return generate_into(t, &d, gen);
}
