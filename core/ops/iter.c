/* The N-operand strided iterator behind elementwise kernels. */
#include "mm/threads.h"
#include "tensor_internal.h"

#include <omp.h>
#include <string.h>

/* Whether dim a should be walked inside dim b (b is inner now): the first
 * operand, output first, that is not broadcast along either dim and whose
 * strides differ decides; with none, the order stays. */
static bool goes_inner(int64_t (*stride)[MM_MAX_DIMS], int n, int a, int b) {
    for (int k = 0; k < n; k++) {
        int64_t sa = stride[k][a], sb = stride[k][b];
        if (sa == 0 || sb == 0 || sa == sb)
            continue;
        return sa < sb;
    }
    return false;
}

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
    /* The dims that are not size 1, innermost first in the output's memory
     * order (PyTorch's reorder_dimensions): a channels-last or transposed
     * output is walked in the order it is stored, so writes stay sequential
     * and dims that are dense in every operand merge below. Insertion sort:
     * ndim is at most MM_MAX_DIMS. */
    int order[MM_MAX_DIMS], m0 = 0;
    for (int d = ndim - 1; d >= 0; d--)
        if (out->shape[d] != 1)
            order[m0++] = d;
    for (int i = 1; i < m0; i++)
        for (int j = i; j > 0 && goes_inner(stride, n, order[j], order[j - 1]);
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    /* Merge neighbouring dims contiguous in every operand (inner dim of
     * extent e and stride s, outer dim of stride s e); the result is stored
     * outer to inner. */
    int m = 0;
    int64_t shape[MM_MAX_DIMS], st[MM_ITER_MAX_OPERANDS][MM_MAX_DIMS];
    for (int i = 0; i < m0; i++) {
        int d = order[i];
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

/* Elements [begin, end) as blocks of whole rows of the innermost dim
 * (bounded by the next dim's extent), with partial rows at the ends. */
static void run_range_2d(const mm_iter *it, mm_iter_loop2d_fn fn, void *ctx,
                         int64_t begin, int64_t end) {
    int nd = it->ndim, n = it->n;
    int64_t idx[MM_MAX_DIMS], inner = it->shape[nd - 1];
    int64_t rem = begin;
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = rem % it->shape[d];
        rem /= it->shape[d];
    }
    char *ptr[MM_ITER_MAX_OPERANDS];
    int64_t strides[2 * MM_ITER_MAX_OPERANDS] = {0};
    for (int k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < nd; d++)
            off += idx[d] * it->stride[k][d];
        ptr[k] = it->data[k] + off;
        strides[k] = it->stride[k][nd - 1];
        if (nd >= 2)
            strides[MM_ITER_MAX_OPERANDS + k] = it->stride[k][nd - 2];
    }
    for (;;) {
        int64_t cnt = inner - idx[nd - 1], rows = 1;
        if (cnt > end - begin) {
            cnt = end - begin;
        } else if (cnt == inner && nd >= 2) {
            rows = (end - begin) / inner;
            if (rows > it->shape[nd - 2] - idx[nd - 2])
                rows = it->shape[nd - 2] - idx[nd - 2];
        }
        char *row[MM_ITER_MAX_OPERANDS];
        for (int k = 0; k < n; k++)
            row[k] = ptr[k];
        fn(row, strides, cnt, rows, ctx);
        begin += cnt * rows;
        if (begin >= end)
            return;
        /* to the start of the row after the block: idx[nd - 1] + cnt is
         * the row's end, and rows never run past the next dim's extent */
        for (int k = 0; k < n; k++)
            ptr[k] -= idx[nd - 1] * strides[k];
        idx[nd - 1] = 0;
        int64_t step = rows;
        for (int d = nd - 2; d >= 0; d--) {
            for (int k = 0; k < n; k++)
                ptr[k] += step * it->stride[k][d];
            idx[d] += step;
            if (idx[d] < it->shape[d])
                break;
            for (int k = 0; k < n; k++)
                ptr[k] -= it->shape[d] * it->stride[k][d];
            idx[d] = 0;
            step = 1;
        }
    }
}

/* The thread split of mm_iter_run: ranges of at least `grain` elements. */
static int64_t thread_count(int64_t numel, int64_t grain) {
    if (grain < 1)
        grain = 1;
    int64_t nt = mm_get_num_threads();
    if (nt > numel / grain)
        nt = numel / grain;
    return nt < 1 ? 1 : nt;
}

void mm_iter_run_2d(const mm_iter *it, mm_iter_loop2d_fn fn, void *ctx,
                    int64_t grain) {
    int64_t numel = it->numel;
    if (numel <= 0)
        return;
    int64_t nt = thread_count(numel, grain);
    if (nt <= 1) {
        run_range_2d(it, fn, ctx, 0, numel);
        return;
    }
#pragma omp parallel num_threads((int)nt)
    {
        int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t q = numel / T, r = numel % T;
        int64_t b = t * q + (t < r ? t : r), e = b + q + (t < r);
        if (b < e)
            run_range_2d(it, fn, ctx, b, e);
    }
}

/* mm_iter_run's 1-D loop, called row by row. */
typedef struct rows_ctx {
    mm_iter_loop_fn fn;
    void *ctx;
    int n;
} rows_ctx;

static void each_row(char **data, const int64_t *strides, int64_t n,
                     int64_t rows, void *vctx) {
    const rows_ctx *c = vctx;
    char *row[MM_ITER_MAX_OPERANDS];
    for (int64_t r = 0; r < rows; r++) {
        for (int k = 0; k < c->n; k++)
            row[k] = data[k] + r * strides[MM_ITER_MAX_OPERANDS + k];
        c->fn(row, strides, n, c->ctx);
    }
}

void mm_iter_run(const mm_iter *it, mm_iter_loop_fn fn, void *ctx,
                 int64_t grain) {
    rows_ctx c = {fn, ctx, it->n};
    mm_iter_run_2d(it, each_row, &c, grain);
}
