/* Creation from ranges and buffers: arange, linspace, eye, from_data. */
#include "tensor_internal.h"

#include <math.h>
#include <string.h>

int mm_arange(double start, double end, double step, mm_dtype dtype,
              mm_tensor **out) {
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step))
        return mm_error_set(MM_EINVAL,
                            "arange: step must be non-zero and bounds finite");
    if ((end - start) / step < 0)
        return mm_error_set(
            MM_EINVAL,
            "arange: the bounds [%g, %g) are inconsistent with step %g", start,
            end, step);
    double n = ceil((end - start) / step);
    if (n > (double)(INT64_MAX / 16))
        return mm_error_set(MM_EINVAL, "arange: too many elements");
    int64_t len = (int64_t)n;
    mm_tensor *t;
    MM_TRY(mm_tensor_new_owned(1, &len, dtype, MM_CPU, &t));
    char *d = t->storage->data;
    size_t es = mm_dtype_size(dtype);
    for (int64_t i = 0; i < len; i++)
        mm_store_f64(d + (size_t)i * es, dtype, start + (double)i * step);
    return mm_tensor_publish(t, out);
}

int mm_linspace(double start, double end, int64_t steps, mm_dtype dtype,
                mm_tensor **out) {
    if (steps < 0)
        return mm_error_set(
            MM_EINVAL,
            "linspace: number of steps must be non-negative (got %lld)",
            (long long)steps);
    mm_tensor *t;
    MM_TRY(mm_tensor_new_owned(1, &steps, dtype, MM_CPU, &t));
    char *d = t->storage->data;
    size_t es = mm_dtype_size(dtype);
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
    int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; i++) /* symmetric, as PyTorch computes it */
        mm_store_f64(d + (size_t)i * es, dtype,
                     i < half || steps == 1
                         ? start + step * (double)i
                         : end - step * (double)(steps - 1 - i));
    return mm_tensor_publish(t, out);
}

int mm_eye(int64_t n, int64_t m, mm_dtype dtype, mm_tensor **out) {
    if (m < 0)
        m = n;
    mm_tensor *t;
    MM_TRY(mm_zeros(MM_SHAPE(n, m), dtype, &t));
    char *d = t->storage->data;
    size_t es = mm_dtype_size(dtype);
    for (int64_t i = 0; i < n && i < m; i++)
        mm_store_f64(d + (size_t)(i * m + i) * es, dtype, 1.0);
    *out = t;
    return 0;
}

int mm_from_data(const void *data, int ndim, const int64_t *shape,
                 mm_dtype dtype, mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(mm_tensor_new_owned(ndim, shape, dtype, MM_CPU, &t));
    if (t->numel) {
        if (!data) {
            mm_tensor_release(t);
            return mm_error_set(MM_EINVAL, "from_data: no data given");
        }
        memcpy(t->storage->data, data, (size_t)t->numel * mm_dtype_size(dtype));
    }
    return mm_tensor_publish(t, out);
}
