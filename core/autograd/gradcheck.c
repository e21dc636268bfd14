/* Finite-difference gradient check in float64: the full Jacobian, one
 * backward per output element against central differences per input
 * element. */
#include "tensor_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_OUT = 4096 };

static char *flat_index(const mm_tensor *t, int64_t i, char *buf, size_t size) {
    int64_t idx[MM_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = i % t->shape[d];
        i /= t->shape[d];
    }
    return mm_shape_format(t->ndim, idx, buf, size);
}

static int run_fn(mm_gradcheck_fn fn, void *ctx, mm_tensor *const *inputs,
                  int n, mm_tensor **out) {
    int rc = fn(ctx, inputs, n, out);
    if (rc < 0)
        return mm_error_context(rc, NULL, "gradcheck");
    if (!*out)
        return mm_error_set(MM_EINVAL,
                            "gradcheck: the function returned no tensor");
    if (!mm_dtype_is_float((*out)->dtype))
        return mm_error_set(MM_ETYPE,
                            "gradcheck: the output is %s, not a float tensor",
                            mm_dtype_name((*out)->dtype));
    return 0;
}

/* Forward under no-grad, values into buf (n_out of them). */
static int eval_into(mm_gradcheck_fn fn, void *ctx, mm_tensor *const *inputs,
                     int n, double *buf, int64_t n_out) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *out;
    int rc = run_fn(fn, ctx, inputs, n, &out);
    if (rc == 0 && out->numel != n_out)
        rc = mm_error_set(MM_EINVAL,
                          "gradcheck: the output changed size between calls");
    if (rc == 0)
        rc = mm_tensor_read(out, MM_F64, buf, n_out);
    mm_pool_close(pool);
    return rc;
}

static bool overlaps(const mm_tensor *t) {
    for (int d = 0; d < t->ndim; d++)
        if (t->stride[d] == 0 && t->shape[d] > 1)
            return true;
    return false;
}

int mm_gradcheck(mm_gradcheck_fn fn, void *ctx, mm_tensor *const *inputs, int n,
                 double eps, double atol, double rtol) {
    if (!fn || n < 1 || !inputs)
        return mm_error_set(MM_EINVAL, "gradcheck: no function or inputs");
    if (!(eps > 0))
        return mm_error_set(MM_EINVAL, "gradcheck: eps must be positive");
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const mm_tensor *x = inputs[i];
        if (!x)
            return mm_error_set(MM_EINVAL, "gradcheck: input %d is NULL", i);
        if (!x->requires_grad)
            continue;
        if (x->dtype != MM_F64)
            return mm_error_set(
                MM_ETYPE, "gradcheck: input %d is %s; gradcheck needs f64", i,
                mm_dtype_name(x->dtype));
        if (x->grad_fn)
            return mm_error_set(MM_EINVAL, "gradcheck: input %d is not a leaf",
                                i);
        if (overlaps(x))
            return mm_error_set(
                MM_EINVAL, "gradcheck: input %d overlaps itself (stride 0)", i);
        total += x->numel;
    }
    if (total == 0)
        return mm_error_set(MM_EINVAL, "gradcheck: no input requires grad");

    mm_tensor **old_grads = calloc((size_t)n, sizeof *old_grads);
    if (!old_grads)
        return mm_error_set(MM_ENOMEM, "gradcheck: out of memory");
    for (int i = 0; i < n; i++) {
        old_grads[i] = inputs[i]->grad;
        inputs[i]->grad = NULL;
    }
    mm_pool *pool;
    int rc = mm_pool_open(&pool);
    if (rc < 0) {
        for (int i = 0; i < n; i++)
            inputs[i]->grad = old_grads[i];
        free(old_grads);
        return rc;
    }
    mm_tensor *out = NULL;
    double *ana = NULL, *num = NULL, *plus = NULL, *minus = NULL;
    int64_t n_out = 0;
    mm_grad_mode_push(true);
    rc = run_fn(fn, ctx, inputs, n, &out);
    mm_grad_mode_pop();
    if (rc == 0) {
        n_out = out->numel;
        if (n_out > MAX_OUT)
            rc = mm_error_set(
                MM_EINVAL,
                "gradcheck: output of %lld elements is too large (%d at most)",
                (long long)n_out, MAX_OUT);
        else if (!out->requires_grad)
            rc = mm_error_set(MM_EINVAL,
                              "gradcheck: the output does not require grad");
    }
    if (rc == 0) {
        size_t cells = (size_t)(total * n_out) + 1;
        ana = calloc(cells, sizeof *ana);
        num = calloc(cells, sizeof *num);
        plus = calloc((size_t)n_out + 1, sizeof *plus);
        minus = calloc((size_t)n_out + 1, sizeof *minus);
        if (!ana || !num || !plus || !minus)
            rc = mm_error_set(MM_ENOMEM, "gradcheck: out of memory");
    }
    /* analytic: row j of the Jacobian from the backward of a one-hot */
    for (int64_t j = 0; rc == 0 && j < n_out; j++) {
        mm_pool *inner;
        if ((rc = mm_pool_open(&inner)) < 0)
            break;
        mm_tensor *onehot;
        rc = mm_zeros_like(out, &onehot);
        if (rc == 0) {
            mm_tensor_set_flat(onehot, j, 1.0);
            rc = mm_backward_with_grad(out, onehot);
        }
        int64_t base = 0;
        for (int i = 0; rc == 0 && i < n; i++) {
            mm_tensor *x = inputs[i];
            if (!x->requires_grad)
                continue;
            for (int64_t k = 0; k < x->numel; k++)
                ana[(base + k) * n_out + j] =
                    x->grad ? mm_tensor_get_flat(x->grad, k) : 0.0;
            mm_tensor_zero_grad(x);
            base += x->numel;
        }
        mm_pool_close(inner);
    }
    /* numeric: column (i, k) from central differences */
    mm_no_grad_push();
    int64_t base = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        mm_tensor *x = inputs[i];
        if (!x->requires_grad)
            continue;
        for (int64_t k = 0; rc == 0 && k < x->numel; k++) {
            double orig = mm_tensor_get_flat(x, k);
            mm_tensor_set_flat(x, k, orig + eps);
            rc = eval_into(fn, ctx, inputs, n, plus, n_out);
            mm_tensor_set_flat(x, k, orig - eps);
            if (rc == 0)
                rc = eval_into(fn, ctx, inputs, n, minus, n_out);
            mm_tensor_set_flat(x, k, orig);
            for (int64_t j = 0; rc == 0 && j < n_out; j++)
                num[(base + k) * n_out + j] = (plus[j] - minus[j]) / (2 * eps);
        }
        base += x->numel;
    }
    mm_no_grad_pop();
    /* compare */
    base = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        mm_tensor *x = inputs[i];
        if (!x->requires_grad)
            continue;
        for (int64_t k = 0; rc == 0 && k < x->numel; k++) {
            for (int64_t j = 0; j < n_out; j++) {
                double a = ana[(base + k) * n_out + j],
                       u = num[(base + k) * n_out + j];
                if (!(fabs(a - u) <= atol + rtol * fabs(u))) {
                    char oi[256], xi[256];
                    rc = mm_error_set(MM_EINVAL,
                                      "gradcheck: d out%s / d input %d %s: "
                                      "analytic %.9g, numeric %.9g",
                                      flat_index(out, j, oi, sizeof oi), i,
                                      flat_index(x, k, xi, sizeof xi), a, u);
                    break;
                }
            }
        }
        base += x->numel;
    }
    free(ana);
    free(num);
    free(plus);
    free(minus);
    mm_pool_close(pool);
    for (int i = 0; i < n; i++) {
        mm_tensor_release(inputs[i]->grad);
        inputs[i]->grad = old_grads[i];
    }
    free(old_grads);
    return rc;
}
