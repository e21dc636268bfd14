/* linear, dropout and scaled_dot_product_attention: compositions of
 * matmul, softmax, elementwise ops and the Philox generator, so their
 * backward comes from the ops they are made of. */
#include "autocast_internal.h"
#include "norm_internal.h"

#include "mm/rng.h"

#include <math.h>

int mm_linear(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
              mm_tensor **out) {
    if (!x || !weight)
        return mm_error_set(MM_EINVAL, "linear: %s is NULL",
                            x ? "weight" : "input");
    if (weight->ndim != 2)
        return mm_error_set(MM_EINVAL, "linear: weight has %d dims, expected 2",
                            weight->ndim);
    if (x->ndim < 1 || x->shape[x->ndim - 1] != weight->shape[1])
        return mm_error_set(
            MM_EINVAL, "linear: input has %lld features, weight expects %lld",
            (long long)(x->ndim ? x->shape[x->ndim - 1] : 0),
            (long long)weight->shape[1]);
    if (bias && (bias->ndim != 1 || bias->shape[0] != weight->shape[0])) {
        char a[128];
        return mm_error_set(
            MM_EINVAL, "linear: bias has shape %s, expected [%lld]",
            mm_shape_format(bias->ndim, bias->shape, a, sizeof a),
            (long long)weight->shape[0]);
    }
    mm_tensor *xwb[3] = {x, weight, bias};
    MM_TRY(mm_autocast_inputs(3, xwb));
    x = xwb[0], weight = xwb[1], bias = xwb[2];
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *wt, *y = NULL;
    int rc = mm_transpose(weight, 0, 1, &wt); /* (in, out) */
    if (rc == 0)
        rc = mm_matmul(x, wt, &y); /* (..., out) */
    if (rc == 0 && bias)
        rc = mm_add(y, bias, &y);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, y, out);
}

int mm_dropout(mm_tensor *x, double p, bool training, mm_generator *gen,
               mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "dropout: input is NULL");
    if (!(p >= 0 && p <= 1))
        return mm_error_set(
            MM_EINVAL, "dropout: probability has to be between 0 and 1, got %g",
            p);
    if (!training || p == 0)
        return mm_return_same(x, out);
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "dropout: expected a floating-point tensor, got %s",
                            mm_dtype_name(x->dtype));
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *mask, *y = NULL;
    int rc = mm_empty(x->ndim, x->shape, x->dtype, &mask);
    if (rc == 0) {
        /* keep with probability 1 - p, scaled by 1 / (1 - p); p = 1 keeps
         * nothing (the mask is all zeros) */
        rc = p < 1 ? mm_tensor_bernoulli_(mask, 1 - p, gen)
                   : mm_tensor_zero_(mask);
        if (rc == 0 && p < 1)
            rc = mm_tensor_mul_scalar_(mask, 1 / (1 - p));
    }
    if (rc == 0)
        rc = mm_mul(x, mask, &y);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, y, out);
}

/* A bool mask as an additive one: 0 where true, -inf where false. */
static int bool_to_additive(mm_tensor *m, mm_dtype dt, mm_tensor **out) {
    mm_tensor *t;
    MM_TRY(mm_empty(m->ndim, m->shape, dt, &t));
    for (int64_t i = 0; i < m->numel; i++)
        mm_tensor_set_flat(t, i, mm_tensor_get_flat(m, i) != 0 ? 0 : -INFINITY);
    return mm_return_same(t, out);
}

static int sdpa(mm_tensor *q, mm_tensor *k, mm_tensor *v, mm_tensor *mask,
                double dropout_p, bool is_causal, const double *scale,
                mm_generator *gen, mm_tensor **out) {
    int64_t L = q->shape[q->ndim - 2], S = k->shape[k->ndim - 2],
            E = q->shape[q->ndim - 1];
    double sc = scale ? *scale : 1 / sqrt((double)E);
    mm_tensor *kt, *a;
    MM_TRY(mm_transpose(k, -1, -2, &kt));
    MM_TRY(mm_matmul(q, kt, &a)); /* (..., L, S) */
    MM_TRY(mm_mul_scalar(a, sc, &a));
    if (is_causal) { /* keep j <= i: torch.ones(L, S).tril() */
        mm_tensor *c;
        MM_TRY(mm_empty(2, (int64_t[]){L, S}, q->dtype, &c));
        for (int64_t i = 0; i < L; i++)
            for (int64_t j = 0; j < S; j++)
                mm_tensor_set_flat(c, i * S + j, j <= i ? 0 : -INFINITY);
        MM_TRY(mm_add(a, c, &a));
    }
    if (mask) {
        if (mask->dtype == MM_BOOL)
            MM_TRY(bool_to_additive(mask, q->dtype, &mask));
        MM_TRY(mm_add(a, mask, &a));
    }
    MM_TRY(mm_softmax(a, -1, &a));
    if (dropout_p > 0)
        MM_TRY(mm_dropout(a, dropout_p, true, gen, &a));
    return mm_matmul(a, v, out); /* (..., L, Ev) */
}

int mm_scaled_dot_product_attention(mm_tensor *q, mm_tensor *k, mm_tensor *v,
                                    mm_tensor *attn_mask, double dropout_p,
                                    bool is_causal, const double *scale,
                                    mm_generator *gen, mm_tensor **out) {
    const char *op = "scaled_dot_product_attention";
    if (!q || !k || !v)
        return mm_error_set(MM_EINVAL, "%s: query, key and value are needed",
                            op);
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2)
        return mm_error_set(
            MM_EINVAL, "%s: query, key and value need at least 2 dims", op);
    if (!mm_dtype_is_float(q->dtype) || k->dtype != q->dtype ||
        v->dtype != q->dtype)
        return mm_error_set(
            MM_ETYPE,
            "%s: expected query, key and value of one float dtype, "
            "got %s, %s and %s",
            op, mm_dtype_name(q->dtype), mm_dtype_name(k->dtype),
            mm_dtype_name(v->dtype));
    if (q->shape[q->ndim - 1] != k->shape[k->ndim - 1] ||
        k->shape[k->ndim - 2] != v->shape[v->ndim - 2]) {
        char a[128], b[128], c[128];
        return mm_error_set(MM_EINVAL, "%s: shapes %s, %s and %s do not fit",
                            op, mm_shape_format(q->ndim, q->shape, a, sizeof a),
                            mm_shape_format(k->ndim, k->shape, b, sizeof b),
                            mm_shape_format(v->ndim, v->shape, c, sizeof c));
    }
    if (is_causal && attn_mask)
        return mm_error_set(
            MM_EINVAL, "%s: attn_mask must be NULL when is_causal is set", op);
    if (attn_mask && attn_mask->dtype != MM_BOOL &&
        attn_mask->dtype != q->dtype)
        return mm_error_set(
            MM_ETYPE, "%s: attn_mask must be bool or %s, got %s", op,
            mm_dtype_name(q->dtype), mm_dtype_name(attn_mask->dtype));
    if (!(dropout_p >= 0 && dropout_p <= 1))
        return mm_error_set(MM_EINVAL, "%s: dropout_p %g is not in [0, 1]", op,
                            dropout_p);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *y = NULL;
    int rc = sdpa(q, k, v, attn_mask, dropout_p, is_causal, scale, gen, &y);
    if (rc < 0) {
        mm_pool_close(pool);
        return rc;
    }
    return mm_pool_close_keep(pool, y, out);
}
