/* Shared by the reduction family's reference kernels (reduction.c) and CPU
 * kernels (cpu/reduction_cpu.c): the function of one group of reduced
 * values, forward and backward, and the walk over a tensor's dims split by
 * a mask. Both kernel columns call the same per-group maths; they differ in
 * how they read the group (generic strided loads one by one, or typed rows
 * in parallel). */
#ifndef MM_OPS_REDUCTION_IMPL_H
#define MM_OPS_REDUCTION_IMPL_H

#include "ops_internal.h"

#include <math.h>

/* Variants of the dim-reduction op (mm_op.code). */
enum {
    MM_DR_AMAX,
    MM_DR_AMIN,
    MM_DR_VAR, /* f[0] = correction */
    MM_DR_STD, /* f[0] = correction */
    MM_DR_LOGSUMEXP,
    MM_DR_NORM, /* f[0] = p (>= 0 or +-inf) */
    MM_DR_PROD,
    MM_DR_ALL,
    MM_DR_ANY,
};

extern const mm_op mm_op_amax, mm_op_amin, mm_op_var, mm_op_std,
    mm_op_logsumexp, mm_op_norm, mm_op_prod, mm_op_all, mm_op_any,
    mm_op_dimred_backward, mm_op_argmax, mm_op_argmin, mm_op_cumsum,
    mm_op_sort;

int mm_cpu_dimred(mm_op_ctx *ctx);
int mm_cpu_dimred_backward(mm_op_ctx *ctx);
int mm_cpu_arg(mm_op_ctx *ctx);
int mm_cpu_cumsum(mm_op_ctx *ctx);
int mm_cpu_sort(mm_op_ctx *ctx);

/* The dims of t selected by mask (want == true) or not, merged where the
 * strides allow, outer to inner; size-1 dims dropped. */
typedef struct mm_dimset {
    int n;
    int64_t shape[MM_MAX_DIMS], stride[MM_MAX_DIMS];
} mm_dimset;

static inline void mm_dimset_pick(const mm_tensor *t, int64_t mask, bool want,
                                  mm_dimset *out) {
    out->n = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (((mask >> d & 1) != 0) != want || t->shape[d] == 1)
            continue;
        if (out->n > 0 &&
            out->stride[out->n - 1] == t->stride[d] * t->shape[d]) {
            out->shape[out->n - 1] *= t->shape[d];
            out->stride[out->n - 1] = t->stride[d];
            continue;
        }
        out->shape[out->n] = t->shape[d];
        out->stride[out->n] = t->stride[d];
        out->n++;
    }
}

static inline int64_t mm_dimset_offset(const mm_dimset *ds, int64_t i) {
    int64_t off = 0;
    for (int d = ds->n - 1; d >= 0; d--) {
        off += (i % ds->shape[d]) * ds->stride[d];
        i /= ds->shape[d];
    }
    return off;
}

static inline int64_t mm_dimset_numel(const mm_dimset *ds) {
    int64_t n = 1;
    for (int d = 0; d < ds->n; d++)
        n *= ds->shape[d];
    return n;
}

/* The reduction of v[0..n-1]. */
static inline double mm_dr_eval(int code, const double *v, int64_t n,
                                double f) {
    double acc;
    switch (code) {
    case MM_DR_AMAX:
    case MM_DR_AMIN:
        acc = code == MM_DR_AMAX ? -INFINITY : INFINITY;
        for (int64_t i = 0; i < n; i++) {
            if (isnan(v[i]))
                return NAN; /* NaN propagates, as in torch */
            if (code == MM_DR_AMAX ? v[i] > acc : v[i] < acc)
                acc = v[i];
        }
        return acc;
    case MM_DR_VAR:
    case MM_DR_STD: {
        double mean = 0, ss = 0;
        for (int64_t i = 0; i < n; i++)
            mean += v[i];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++)
            ss += (v[i] - mean) * (v[i] - mean);
        double d = (double)n - f;
        acc = ss / (d > 0 ? d : 0);
        return code == MM_DR_STD ? sqrt(acc) : acc;
    }
    case MM_DR_LOGSUMEXP: {
        double m = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            if (v[i] > m || isnan(v[i]))
                m = v[i];
        if (isnan(m) || isinf(m))
            return m;
        acc = 0;
        for (int64_t i = 0; i < n; i++)
            acc += exp(v[i] - m);
        return m + log(acc);
    }
    case MM_DR_NORM:
        acc = 0;
        if (isinf(f)) { /* max |v| (inf) or min |v| (-inf) */
            acc = f > 0 ? 0 : INFINITY;
            for (int64_t i = 0; i < n; i++) {
                if (isnan(v[i]))
                    return NAN;
                if (f > 0 ? fabs(v[i]) > acc : fabs(v[i]) < acc)
                    acc = fabs(v[i]);
            }
            return acc;
        }
        if (f == 0) { /* the number of non-zeros */
            for (int64_t i = 0; i < n; i++)
                acc += v[i] != 0;
            return acc;
        }
        for (int64_t i = 0; i < n; i++)
            acc += f == 1   ? fabs(v[i])
                   : f == 2 ? v[i] * v[i]
                            : pow(fabs(v[i]), f);
        return f == 1 ? acc : f == 2 ? sqrt(acc) : pow(acc, 1 / f);
    case MM_DR_PROD:
        acc = 1;
        for (int64_t i = 0; i < n; i++)
            acc *= v[i];
        return acc;
    case MM_DR_ALL:
        for (int64_t i = 0; i < n; i++)
            if (v[i] == 0)
                return 0;
        return 1;
    case MM_DR_ANY:
        for (int64_t i = 0; i < n; i++)
            if (v[i] != 0)
                return 1;
        return 0;
    default:
        return 0;
    }
}

static inline double mm_dr_sgn(double x) { return (x > 0) - (x < 0); }

/* Gradient of the reduction: gx[i] = g * d y / d v[i], as torch's backward
 * formulas (ties of amax/amin and of the inf norm share the gradient
 * evenly; std and the 2- and p-norms give 0 where the result is 0). */
static inline void mm_dr_grad(int code, const double *v, int64_t n, double f,
                              double y, double g, double *gx) {
    switch (code) {
    case MM_DR_AMAX:
    case MM_DR_AMIN: {
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++)
            c += v[i] == y;
        for (int64_t i = 0; i < n; i++)
            gx[i] = v[i] == y ? g / (double)c : 0;
        return;
    }
    case MM_DR_VAR:
    case MM_DR_STD: {
        double mean = 0;
        for (int64_t i = 0; i < n; i++)
            mean += v[i];
        mean /= (double)n;
        double gv = g;
        if (code == MM_DR_STD)
            gv = y == 0 ? 0 : g / (2 * y);
        for (int64_t i = 0; i < n; i++)
            gx[i] = 2.0 / ((double)n - f) * gv * (v[i] - mean);
        return;
    }
    case MM_DR_LOGSUMEXP:
        for (int64_t i = 0; i < n; i++)
            gx[i] = g * exp(v[i] - y);
        return;
    case MM_DR_NORM:
        if (isinf(f)) {
            int64_t c = 0;
            for (int64_t i = 0; i < n; i++)
                c += fabs(v[i]) == y || isnan(v[i]);
            for (int64_t i = 0; i < n; i++)
                gx[i] = fabs(v[i]) == y || isnan(v[i])
                            ? mm_dr_sgn(v[i]) * g / (double)c
                            : 0;
        } else if (f == 0) {
            for (int64_t i = 0; i < n; i++)
                gx[i] = 0;
        } else if (f == 1) {
            for (int64_t i = 0; i < n; i++)
                gx[i] = mm_dr_sgn(v[i]) * g;
        } else {
            double s = y == 0 ? 0 : g / (f == 2 ? y : pow(y, f - 1));
            for (int64_t i = 0; i < n; i++)
                gx[i] = f == 2 ? v[i] * s
                               : v[i] * pow(fabs(v[i]), f - 2) * s;
        }
        return;
    case MM_DR_PROD: {
        /* product of the others: prefix times suffix, exact with zeros */
        double pre = 1;
        for (int64_t i = 0; i < n; i++) {
            gx[i] = pre;
            pre *= v[i];
        }
        double suf = 1;
        for (int64_t i = n - 1; i >= 0; i--) {
            gx[i] *= suf * g;
            suf *= v[i];
        }
        return;
    }
    default:
        for (int64_t i = 0; i < n; i++)
            gx[i] = 0;
        return;
    }
}

/* Sort keys: NaN sorts above everything, as in torch. Returns <0, 0, >0. */
static inline int mm_sort_cmp(double a, double b, bool descending) {
    int c;
    if (isnan(a) || isnan(b))
        c = isnan(a) - isnan(b);
    else
        c = (a > b) - (a < b);
    return descending ? -c : c;
}

#endif
