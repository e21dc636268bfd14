/* Losses (core/ops/loss.c, cpu/loss_cpu.c): op definitions and the
 * per-element maths both kernel columns share, written once in double. */
#ifndef MM_LOSS_IMPL_H
#define MM_LOSS_IMPL_H

#include "ops_internal.h"

#include <math.h>

extern const mm_op mm_op_loss_pointwise, mm_op_loss_pointwise_grad,
    mm_op_nll_loss, mm_op_nll_loss_backward, mm_op_cross_entropy,
    mm_op_cross_entropy_backward;

int mm_cpu_loss_pointwise(mm_op_ctx *ctx);
int mm_cpu_nll_loss(mm_op_ctx *ctx);
int mm_cpu_nll_loss_backward(mm_op_ctx *ctx);
int mm_cpu_cross_entropy(mm_op_ctx *ctx);
int mm_cpu_cross_entropy_backward(mm_op_ctx *ctx);
/* Allocate the saved log-sum-exp when recording (*lse NULL otherwise). */
int mm_loss_ce_save_lse(mm_op_ctx *ctx, double **lse);

/* Pointwise losses (params i[0]); their gradient op takes i[1] = which
 * input (0 input, 1 target, 2 pos_weight); f[0] = beta. */
enum { LOSS_MSE, LOSS_L1, LOSS_SMOOTH_L1, LOSS_BCE, LOSS_BCE_LOGITS };

static inline double loss_sign(double z) { return (z > 0) - (z < 0); }

/* log(1 + exp(-x)) without overflow: max(-x, 0) + log(exp(-m) + exp(-x - m))
 * (torch's form). */
static inline double loss_softplus_neg(double x) {
    double m = x < 0 ? -x : 0;
    return m + log(exp(-m) + exp(-x - m));
}

static inline double loss_sigmoid(double x) {
    if (x >= 0)
        return 1 / (1 + exp(-x));
    double e = exp(x);
    return e / (1 + e);
}

/* The loss of one element; pw is 1 without pos_weight. */
static inline double loss_pointwise_value(int kind, double x, double t,
                                          double pw, double beta) {
    switch (kind) {
    case LOSS_MSE:
        return (x - t) * (x - t);
    case LOSS_L1:
        return fabs(x - t);
    case LOSS_SMOOTH_L1: {
        double z = fabs(x - t);
        return z < beta ? 0.5 * z * z / beta : z - 0.5 * beta;
    }
    case LOSS_BCE:
        return (t - 1) * fmax(log1p(-x), -100) - t * fmax(log(x), -100);
    default: /* LOSS_BCE_LOGITS */
        return (1 - t) * x + (1 + (pw - 1) * t) * loss_softplus_neg(x);
    }
}

/* d loss / d (input `which`) of one element, torch's formulas. */
static inline double loss_pointwise_grad(int kind, int which, double x,
                                         double t, double pw, double beta) {
    double s = which == 0 ? 1 : -1;
    switch (kind) {
    case LOSS_MSE:
        return s * 2 * (x - t);
    case LOSS_L1:
        return s * loss_sign(x - t);
    case LOSS_SMOOTH_L1: {
        double z = x - t;
        return s * (z < -beta ? -1 : z > beta ? 1 : beta > 0 ? z / beta : 0);
    }
    case LOSS_BCE:
        if (which == 0)
            return (x - t) / fmax((1 - x) * x, 1e-12);
        return log1p(-x) - log(x);
    default: /* LOSS_BCE_LOGITS */
        if (which == 0)
            return (pw * t + 1 - t) * loss_sigmoid(x) - pw * t;
        if (which == 1)
            return -x + (pw - 1) * loss_softplus_neg(x);
        return t * loss_softplus_neg(x);
    }
}

/* (N, C, inner) around the class dim of a contiguous input. */
static inline void loss_class_dims(const mm_tensor *x, int64_t *n, int64_t *c,
                                   int64_t *inner) {
    *n = x->shape[0];
    *c = x->shape[1];
    *inner = 1;
    for (int d = 2; d < x->ndim; d++)
        *inner *= x->shape[d];
}

#endif
