/* The N-operand strided iterator behind elementwise kernels. */
#include "mm/threads.h"
#include "tensor_internal.h"

#include <omp.h>
#include <string.h>

int mm_iter_init(mm_iter *it, int n, mm_tensor *const *operands) {
    MM_ASSERT(n >= 1 && n <= MM_ITER_MAX_OPERANDS);
    const mm_tensor *out = operands[0];
    int ndim = out->ndim;
    int64_t stride[MM_ITER_MAX_OPERANDS][MM_MAX_DIMS];
    memset(it, 0, sizeof *it);
    it->n = n;
    it->numel = out->numel;
    for (int k = 0; k < n; k++) {
        const mm_tensor *t = operands[k];
        int lead = ndim - t->ndim;
        if (lead < 0)
            goto mismatch;
        int64_t es = (int64_t)mm_dtype_size(t->dtype);
        for (int d = 0; d < ndim; d++) {
            int e = d - lead;
            if (e < 0)
                stride[k][d] = 0;
            else if (t->shape[e] == out->shape[d])
                stride[k][d] = t->shape[e] == 1 ? 0 : t->stride[e] * es;
            else if (t->shape[e] == 1)
                stride[k][d] = 0;
            else
                goto mismatch;
        }
        it->data[k] = mm_tensor_data(t);
    }
    /* Drop size-1 dims and merge dims contiguous in every operand, inner
     * dims first; the result is stored outer to inner. */
    int m = 0;
    int64_t shape[MM_MAX_DIMS], st[MM_ITER_MAX_OPERANDS][MM_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        if (out->shape[d] == 1)
            continue;
        if (m > 0) {
            bool merge = true;
            for (int k = 0; k < n && merge; k++)
                merge = stride[k][d] == st[k][m - 1] * shape[m - 1];
            if (merge) {
                shape[m - 1] *= out->shape[d];
                continue;
            }
        }
        shape[m] = out->shape[d];
        for (int k = 0; k < n; k++)
            st[k][m] = stride[k][d];
        m++;
    }
    if (m == 0) {
        shape[0] = out->numel == 0 ? 0 : 1;
        for (int k = 0; k < n; k++)
            st[k][0] = 0;
        m = 1;
    }
    it->ndim = m;
    for (int i = 0; i < m; i++) {
        it->shape[i] = shape[m - 1 - i];
        for (int k = 0; k < n; k++)
            it->stride[k][i] = st[k][m - 1 - i];
    }
    return 0;

mismatch:;
    char a[256], b[256];
    for (int k = 1; k < n; k++) {
        const mm_tensor *t = operands[k];
        bool ok = t->ndim <= ndim;
        for (int d = 0; ok && d < t->ndim; d++) {
            int64_t s = t->shape[d], o = out->shape[d + ndim - t->ndim];
            ok = s == o || s == 1;
        }
        if (!ok)
            return mm_error_set(MM_EINVAL, "shape %s does not broadcast to %s",
                                mm_shape_format(t->ndim, t->shape, a, sizeof a),
                                mm_shape_format(ndim, out->shape, b, sizeof b));
    }
    return mm_error_set(MM_EINVAL, "iterator: operand shapes do not broadcast");
}

/* Elements [begin, end) in row-major order of the merged shape. */
static void run_range(const mm_iter *it, mm_iter_loop_fn fn, void *ctx,
                      int64_t begin, int64_t end) {
    int nd = it->ndim, n = it->n;
    int64_t idx[MM_MAX_DIMS], inner = it->shape[nd - 1];
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = rem % it->shape[d];
        rem /= it->shape[d];
    }
    int64_t strides[MM_ITER_MAX_OPERANDS];
    for (int k = 0; k < n; k++)
        strides[k] = it->stride[k][nd - 1];
    while (begin < end) {
        char *ptr[MM_ITER_MAX_OPERANDS];
        for (int k = 0; k < n; k++) {
            int64_t off = 0;
            for (int d = 0; d < nd; d++)
                off += idx[d] * it->stride[k][d];
            ptr[k] = it->data[k] + off;
        }
        int64_t cnt = inner - idx[nd - 1];
        if (cnt > end - begin)
            cnt = end - begin;
        fn(ptr, strides, cnt, ctx);
        begin += cnt;
        idx[nd - 1] += cnt;
        for (int d = nd - 1; d > 0 && idx[d] == it->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

void mm_iter_run(const mm_iter *it, mm_iter_loop_fn fn, void *ctx,
                 int64_t grain) {
    int64_t numel = it->numel;
    if (numel <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int64_t nt = mm_get_num_threads();
    if (nt > numel / grain)
        nt = numel / grain;
    if (nt <= 1) {
        run_range(it, fn, ctx, 0, numel);
        return;
    }
#pragma omp parallel num_threads((int)nt)
    {
        int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t q = numel / T, r = numel % T;
        int64_t b = t * q + (t < r ? t : r), e = b + q + (t < r);
        if (b < e)
            run_range(it, fn, ctx, b, e);
    }
}
