/* mm_conv_bn_act: a conv net's conv -> batch norm -> (+ residual) ->
 * activation, fused into one oneDNN convolution for inference. The batch
 * norm in eval mode is an affine map per channel, so it folds into the
 * conv: w' = w * s, b' = (b - mean) * s + beta with s = gamma /
 * sqrt(var + eps). */
#include <math.h>
#include <string.h>

#include "mm/autocast.h"
#include "mm/autograd.h"
#include "mm/elementwise.h"
#include "nn_internal.h"

/* The unfused sequence: what training runs, and the reference. */
static int unfused(mm_module *conv, mm_module *bn, mm_tensor *residual,
                   mm_fused_act act, mm_tensor *x, mm_tensor **out) {
    MM_TRY(mm_conv_forward(conv, x, &x));
    if (bn)
        MM_TRY(mm_norm_forward(bn, x, &x));
    if (residual)
        MM_TRY(mm_add(x, residual, &x));
    switch (act) {
    case MM_FUSED_RELU:
        return mm_relu(x, out);
    case MM_FUSED_RELU6:
        return mm_relu6(x, out);
    case MM_FUSED_SILU:
        return mm_silu(x, out);
    case MM_FUSED_HARDSWISH:
        return mm_hardswish(x, out);
    default:
        *out = x;
        return MM_OK;
    }
}

static bool f32_contig(const mm_tensor *t) {
    return !t || (t->dtype == MM_F32 && mm_tensor_is_contiguous(t));
}

/* Whether the fused inference path computes what the modules would. */
static bool can_fuse(const mm_nn_conv *c, const mm_nn_norm *n,
                     const mm_tensor *x, const mm_tensor *residual) {
    if (mm_grad_enabled() || c->transposed ||
        strcmp(c->padding_mode, "zeros") != 0 || c->nsp != x->ndim - 2)
        return false;
    for (int j = 0; j < c->nsp; j++)
        if (c->same_extra[j])
            return false;
    if (!f32_contig(c->weight) || !f32_contig(c->bias))
        return false;
    /* the modules add the residual to the conv's output, in that dtype
     * only when they share it (bf16 + f32 is f32) */
    mm_dtype y = mm_autocast_enabled() && x->dtype == MM_F32
                     ? mm_autocast_dtype()
                     : x->dtype;
    if (residual && residual->dtype != y)
        return false;
    if (!n)
        return true;
    /* eval-mode batch norm with running statistics: a fixed affine map */
    return mm_module_is_batch_norm(&n->base) && !n->base.training &&
           n->running_mean && n->running_var && f32_contig(n->running_mean) &&
           f32_contig(n->running_var) && f32_contig(n->weight) &&
           f32_contig(n->bias) && n->num_features == c->out_channels;
}

/* The folded weight and bias of conv c followed by batch norm n. */
static int fold(const mm_nn_conv *c, const mm_nn_norm *n, mm_tensor **w,
                mm_tensor **b) {
    const mm_tensor *cw = c->weight;
    int64_t K = c->out_channels, per = cw->numel / K;
    MM_TRY(mm_empty(cw->ndim, cw->shape, MM_F32, w));
    MM_TRY(mm_empty(MM_SHAPE(K), MM_F32, b));
    const float *src = MM_DATA(cw, float);
    const float *cb = c->bias ? MM_DATA(c->bias, float) : NULL;
    const float *mean = MM_DATA(n->running_mean, float);
    const float *var = MM_DATA(n->running_var, float);
    const float *gamma = n->weight ? MM_DATA(n->weight, float) : NULL;
    const float *beta = n->bias ? MM_DATA(n->bias, float) : NULL;
    float *dw = MM_DATA(*w, float), *db = MM_DATA(*b, float);
    for (int64_t k = 0; k < K; k++) {
        /* in double, as the unfused batch norm's 1 / sqrt(var + eps) */
        double s = 1.0 / sqrt((double)var[k] + n->eps);
        if (gamma)
            s *= gamma[k];
        for (int64_t i = 0; i < per; i++)
            dw[k * per + i] = (float)(src[k * per + i] * s);
        db[k] = (float)(((cb ? cb[k] : 0.0) - mean[k]) * s +
                        (beta ? beta[k] : 0.0));
    }
    return MM_OK;
}

int mm_conv_bn_act(mm_module *conv, mm_module *bn, mm_tensor *residual,
                   mm_fused_act act, mm_tensor *x, mm_tensor **out) {
    *out = NULL;
    if (!mm_module_is_conv(conv))
        return mm_error_set(MM_EINVAL, "conv_bn_act: %s is not a conv",
                            conv ? conv->cls->name : "NULL");
    if (bn && !mm_module_is_norm(bn))
        return mm_error_set(MM_EINVAL, "conv_bn_act: %s is not a norm",
                            bn->cls->name);
    mm_nn_conv *c = (mm_nn_conv *)conv;
    mm_nn_norm *n = (mm_nn_norm *)bn;
    /* an op observer (mm analyze complexity) must see the conv and the
     * batch norm that the model defines, not their folded form */
    if (mm_ops_observing() || !can_fuse(c, n, x, residual))
        return unfused(conv, bn, residual, act, x, out);
    mm_tensor *w = c->weight, *b = c->bias;
    if (n)
        MM_TRY(fold(c, n, &w, &b));
    return mm_conv_fused(x, w, b, residual, act, c->stride, c->padding,
                         c->dilation, c->groups, out);
}
