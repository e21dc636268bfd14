/* Batched matrix product with broadcast batch dims: a [..., M, K] times
 * b [..., K, N] gives [broadcast(...), M, N]. mm_matmul adds torch.matmul's
 * 1-D rules on top. No params. */
#include "autocast_internal.h"
#include "ops_internal.h"

#include <string.h>

static int matmul_infer(mm_op_ctx *ctx) {
    const mm_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    char x[256], y[256];
    if (a->ndim < 2 || b->ndim < 2)
        return mm_error_set(
            MM_EINVAL, "matmul: inputs need at least 2 dims (got %d and %d)",
            a->ndim, b->ndim);
    if (a->dtype != b->dtype)
        return mm_error_set(MM_ETYPE, "matmul: dtypes %s and %s differ",
                            mm_dtype_name(a->dtype), mm_dtype_name(b->dtype));
    if (a->dtype == MM_BOOL)
        return mm_error_set(MM_ETYPE, "matmul: not supported for bool tensors");
    if (a->shape[a->ndim - 1] != b->shape[b->ndim - 2])
        return mm_error_set(
            MM_EINVAL,
            "matmul: shapes %s and %s cannot be multiplied (%lld != %lld)",
            mm_shape_format(a->ndim, a->shape, x, sizeof x),
            mm_shape_format(b->ndim, b->shape, y, sizeof y),
            (long long)a->shape[a->ndim - 1], (long long)b->shape[b->ndim - 2]);
    int nb;
    MM_TRY(mm_broadcast_shapes("matmul", a->ndim - 2, a->shape, b->ndim - 2,
                               b->shape, &nb, ctx->out_shape));
    ctx->out_shape[nb] = a->shape[a->ndim - 2];
    ctx->out_shape[nb + 1] = b->shape[b->ndim - 1];
    ctx->out_ndim = nb + 2;
    ctx->out_dtype = a->dtype;
    return 0;
}

/* Element strides of t's batch dims against the output's batch dims (0 on
 * broadcast ones). */
static void batch_strides(const mm_tensor *t, const mm_tensor *out,
                          int64_t *st) {
    int nb = out->ndim - 2, lead = nb - (t->ndim - 2);
    for (int d = 0; d < nb; d++) {
        int e = d - lead;
        st[d] = e < 0 || t->shape[e] == 1 ? 0 : t->stride[e];
    }
}

static int matmul_reference(mm_op_ctx *ctx) {
    const mm_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    mm_tensor *c = ctx->out;
    int nb = c->ndim - 2;
    int64_t M = c->shape[nb], N = c->shape[nb + 1], K = a->shape[a->ndim - 1];
    int64_t sa[MM_MAX_DIMS], sb[MM_MAX_DIMS];
    batch_strides(a, c, sa);
    batch_strides(b, c, sb);
    int64_t am = a->stride[a->ndim - 2], ak = a->stride[a->ndim - 1];
    int64_t bk = b->stride[b->ndim - 2], bn = b->stride[b->ndim - 1];
    int64_t batches = mm_shape_numel(nb, c->shape);
    size_t es = mm_dtype_size(c->dtype);
    bool is_float = mm_dtype_is_float(c->dtype);
    const char *ad = a->storage->data, *bd = b->storage->data;
    char *cd = mm_tensor_data(c);
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t oa = a->offset, ob = b->offset, rem = bi;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t k = rem % c->shape[d];
            rem /= c->shape[d];
            oa += k * sa[d];
            ob += k * sb[d];
        }
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                uint64_t iacc = 0;
                for (int64_t k = 0; k < K; k++) {
                    const char *pa = ad + (oa + i * am + k * ak) * (int64_t)es;
                    const char *pb = bd + (ob + k * bk + j * bn) * (int64_t)es;
                    if (is_float)
                        acc += mm_load_f64(pa, a->dtype) *
                               mm_load_f64(pb, b->dtype);
                    else
                        iacc += (uint64_t)mm_load_i64(pa, a->dtype) *
                                (uint64_t)mm_load_i64(pb, b->dtype);
                }
                char *pc = cd + ((bi * M + i) * N + j) * (int64_t)es;
                if (is_float)
                    mm_store_f64(pc, c->dtype, acc);
                else
                    mm_store_i64(pc, c->dtype, (int64_t)iacc);
            }
        }
    }
    return 0;
}

/* dA = dC B^T, dB = A^T dC, each summed over the batch dims it was
 * broadcast along. */
static int matmul_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *a = n->inputs[0], *b = n->inputs[1], *t, *p;
    if (n->needs_grad[0]) {
        MM_TRY(mm_transpose(b, -1, -2, &t));
        MM_TRY(mm_matmul(g, t, &p));
        MM_TRY(mm_sum_to_shape(p, a->ndim, a->shape, &gin[0]));
    }
    if (n->needs_grad[1]) {
        MM_TRY(mm_transpose(a, -1, -2, &t));
        MM_TRY(mm_matmul(t, g, &p));
        MM_TRY(mm_sum_to_shape(p, b->ndim, b->shape, &gin[1]));
    }
    return 0;
}

const mm_op mm_op_matmul = {
    .name = "matmul",
    .n_inputs = 2,
    .infer = matmul_infer,
    .reference = matmul_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_matmul},
    .backward = matmul_backward,
};

int mm_matmul(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    if (!a || !b)
        return mm_error_set(MM_EINVAL, "matmul: tensor is NULL");
    mm_tensor *ab[2] = {a, b};
    MM_TRY(mm_autocast_inputs(2, ab));
    a = ab[0], b = ab[1];
    if (a->ndim == 0 || b->ndim == 0)
        return mm_error_set(
            MM_EINVAL,
            "matmul: both arguments need at least 1 dimension (got %d and %d)",
            a->ndim, b->ndim);
    if (a->ndim >= 2 && b->ndim >= 2)
        return mm_apply2(&mm_op_matmul, a, b, NULL, out);
    bool a1 = a->ndim == 1, b1 = b->ndim == 1;
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *c = NULL;
    int rc = 0;
    if (a1)
        rc = mm_unsqueeze(a, 0, &a);
    if (rc == 0 && b1)
        rc = mm_unsqueeze(b, -1, &b);
    if (rc == 0)
        rc = mm_apply2(&mm_op_matmul, a, b, NULL, &c);
    if (rc == 0 && b1)
        rc = mm_squeeze(c, -1, &c);
    if (rc == 0 && a1)
        rc = mm_squeeze(c, b1 ? -1 : -2, &c);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, c, out);
}

int mm_bmm(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    if (!a || !b)
        return mm_error_set(MM_EINVAL, "bmm: tensor is NULL");
    if (a->ndim != 3 || b->ndim != 3)
        return mm_error_set(MM_EINVAL,
                            "bmm: both arguments must be 3-D (got %d and %d)",
                            a->ndim, b->ndim);
    if (a->shape[0] != b->shape[0] || a->shape[2] != b->shape[1])
        return mm_error_set(MM_EINVAL,
                            "bmm: shapes [%lld, %lld, %lld] and [%lld, %lld, "
                            "%lld] do not multiply (batch sizes must match, "
                            "no broadcasting)",
                            (long long)a->shape[0], (long long)a->shape[1],
                            (long long)a->shape[2], (long long)b->shape[0],
                            (long long)b->shape[1], (long long)b->shape[2]);
    return mm_matmul(a, b, out);
}
