/* Convolutions: conv1d/2d/3d and conv_transpose1d/2d/3d, with groups
 * (depthwise included), stride, padding, dilation and output_padding, as
 * torch.nn.functional. Three ops do the work, all in the geometry of the
 * forward conv (conv_pool.h):
 *
 *   conv              x [N, C, in...], w [K, C/G, k...], bias [K] -> [N, K,
 * out...] conv_transpose    y [N, K, out...], w, bias [C] -> [N, C, in...] (the
 * conv's backward-data; torch's transposed weight [in, out/groups, k...] is
 * exactly the conv's weight) conv_weight_grad  x, g [N, K, out...] -> [K, C/G,
 * k...] (backward-weights)
 *
 * so the backward of each is the other two, and bias gradients are sums.
 * Params: conv_pool.h. Inputs reach the kernels contiguous or
 * channels-last (MM_OP_FLAG_CHANNELS_LAST); an output follows its
 * activation input's layout, as in PyTorch. */
#include "autocast_internal.h"
#include "conv_pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks and shapes -------------------------------------------------- */

static void op_label(const mm_op_ctx *ctx, char *buf, size_t n) {
    int nsp = (int)ctx->params->i[0];
    if (ctx->op == &mm_op_conv_weight_grad)
        snprintf(buf, n, "conv_weight_grad");
    else
        snprintf(buf, n, "%s%dd", ctx->op->name, nsp);
}

static char *fmt_arr(const int64_t *v, int n, char *buf, size_t size) {
    return mm_shape_format(n, v, buf, size);
}

/* Common checks of x, w and the scalar params. transposed: w is [C_in,
 * C_out/G, k...] from the user's view. */
static int check_conv_args(const mm_op_ctx *ctx, const char *name,
                           const mm_tensor *x, const mm_tensor *w) {
    const mm_op_params *p = ctx->params;
    int nsp = (int)p->i[0];
    char a[128];
    if (nsp < 1 || nsp > 3)
        return mm_error_set(MM_EINVAL, "%s: %d spatial dims (1 to 3)", name,
                            nsp);
    if (x->ndim != nsp + 2)
        return mm_error_set(MM_EINVAL,
                            "%s: expected a %d-D (unbatched) or %d-D (batched) "
                            "input, got %s",
                            name, nsp + 1, nsp + 2,
                            mm_shape_format(x->ndim, x->shape, a, sizeof a));
    if (w->ndim != nsp + 2)
        return mm_error_set(MM_EINVAL, "%s: weight has %d dims, expected %d",
                            name, w->ndim, nsp + 2);
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point input, got %s", name,
                            mm_dtype_name(x->dtype));
    if (x->dtype != w->dtype)
        return mm_error_set(
            MM_ETYPE, "%s: input (%s) and weight (%s) dtypes differ", name,
            mm_dtype_name(x->dtype), mm_dtype_name(w->dtype));
    for (int j = 0; j < nsp; j++) {
        if (p->i[1 + j] <= 0)
            return mm_error_set(MM_EINVAL,
                                "%s: stride must be positive, got %s", name,
                                fmt_arr(p->i + 1, nsp, a, sizeof a));
        if (p->i[4 + j] < 0)
            return mm_error_set(MM_EINVAL,
                                "%s: padding must be non-negative, got %s",
                                name, fmt_arr(p->i + 4, nsp, a, sizeof a));
        if (p->i[7 + j] <= 0)
            return mm_error_set(MM_EINVAL,
                                "%s: dilation must be positive, got %s", name,
                                fmt_arr(p->i + 7, nsp, a, sizeof a));
    }
    if (p->i[10] <= 0)
        return mm_error_set(MM_EINVAL, "%s: groups must be positive, got %lld",
                            name, (long long)p->i[10]);
    return 0;
}

static int check_bias(const char *name, const mm_tensor *bias,
                      const mm_tensor *x, int64_t channels) {
    char a[128];
    if (bias->ndim != 1 || bias->shape[0] != channels)
        return mm_error_set(
            MM_EINVAL, "%s: bias has shape %s, expected [%lld]", name,
            mm_shape_format(bias->ndim, bias->shape, a, sizeof a),
            (long long)channels);
    if (bias->dtype != x->dtype)
        return mm_error_set(
            MM_ETYPE, "%s: input (%s) and bias (%s) dtypes differ", name,
            mm_dtype_name(x->dtype), mm_dtype_name(bias->dtype));
    return 0;
}

static int conv_infer(mm_op_ctx *ctx) {
    char name[32], a[128], b[128];
    op_label(ctx, name, sizeof name);
    if (ctx->n_inputs != 2 && ctx->n_inputs != 3)
        return mm_error_set(MM_EINVAL, "%s: expects 2 or 3 inputs, got %d",
                            name, ctx->n_inputs);
    const mm_tensor *x = ctx->inputs[0], *w = ctx->inputs[1];
    const mm_op_params *p = ctx->params;
    MM_TRY(check_conv_args(ctx, name, x, w));
    int nsp = (int)p->i[0];
    int64_t G = p->i[10], K = w->shape[0];
    if (K % G != 0)
        return mm_error_set(MM_EINVAL,
                            "%s: weight has %lld output channels, not "
                            "divisible by groups %lld",
                            name, (long long)K, (long long)G);
    if (x->shape[1] != w->shape[1] * G)
        return mm_error_set(
            MM_EINVAL,
            "%s: input %s has %lld channels, expected %lld (weight %s, "
            "groups %lld)",
            name, mm_shape_format(x->ndim, x->shape, a, sizeof a),
            (long long)x->shape[1], (long long)(w->shape[1] * G),
            mm_shape_format(w->ndim, w->shape, b, sizeof b), (long long)G);
    if (ctx->n_inputs == 3)
        MM_TRY(check_bias(name, ctx->inputs[2], x, K));
    int64_t out[3];
    bool ok = true;
    for (int j = 0; j < nsp; j++) {
        int64_t span = p->i[7 + j] * (w->shape[2 + j] - 1) + 1;
        int64_t padded = x->shape[2 + j] + 2 * p->i[4 + j];
        out[j] = padded < span ? 0 : (padded - span) / p->i[1 + j] + 1;
        ok = ok && out[j] > 0;
    }
    if (!ok && w->numel > 0)
        return mm_error_set(
            MM_EINVAL,
            "%s: calculated output size %s is too small (input %s, padding "
            "%s, kernel %s)",
            name, fmt_arr(out, nsp, a, sizeof a),
            mm_shape_format(nsp, x->shape + 2, b, sizeof b),
            fmt_arr(p->i + 4, nsp, (char[64]){0}, 64),
            mm_shape_format(nsp, w->shape + 2, (char[64]){0}, 64));
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = nsp + 2;
    ctx->out_shape[0] = x->shape[0];
    ctx->out_shape[1] = K;
    for (int j = 0; j < nsp; j++)
        ctx->out_shape[2 + j] = out[j];
    ctx->out_format = mm_tensor_layout(x);
    return 0;
}

static int conv_transpose_infer(mm_op_ctx *ctx) {
    char name[32], a[128], b[128];
    op_label(ctx, name, sizeof name);
    if (ctx->n_inputs != 2 && ctx->n_inputs != 3)
        return mm_error_set(MM_EINVAL, "%s: expects 2 or 3 inputs, got %d",
                            name, ctx->n_inputs);
    const mm_tensor *x = ctx->inputs[0], *w = ctx->inputs[1];
    const mm_op_params *p = ctx->params;
    MM_TRY(check_conv_args(ctx, name, x, w));
    int nsp = (int)p->i[0];
    int64_t G = p->i[10];
    if (x->shape[1] != w->shape[0])
        return mm_error_set(
            MM_EINVAL,
            "%s: input %s has %lld channels, expected %lld (weight %s)", name,
            mm_shape_format(x->ndim, x->shape, a, sizeof a),
            (long long)x->shape[1], (long long)w->shape[0],
            mm_shape_format(w->ndim, w->shape, b, sizeof b));
    if (w->shape[0] % G != 0)
        return mm_error_set(MM_EINVAL,
                            "%s: weight has %lld input channels, not "
                            "divisible by groups %lld",
                            name, (long long)w->shape[0], (long long)G);
    int64_t C = w->shape[1] * G;
    if (ctx->n_inputs == 3)
        MM_TRY(check_bias(name, ctx->inputs[2], x, C));
    int64_t out[3];
    for (int j = 0; j < nsp; j++) {
        int64_t op = p->i[11 + j], s = p->i[1 + j], d = p->i[7 + j];
        if (op < 0 || (op >= s && op >= d))
            return mm_error_set(MM_EINVAL,
                                "%s: output_padding %s must be smaller than "
                                "either stride %s or dilation %s",
                                name, fmt_arr(p->i + 11, nsp, a, sizeof a),
                                fmt_arr(p->i + 1, nsp, b, sizeof b),
                                fmt_arr(p->i + 7, nsp, (char[64]){0}, 64));
        out[j] = (x->shape[2 + j] - 1) * s - 2 * p->i[4 + j] +
                 d * (w->shape[2 + j] - 1) + op + 1;
        if (out[j] <= 0)
            return mm_error_set(MM_EINVAL,
                                "%s: calculated output size %s is too small",
                                name, fmt_arr(out, j + 1, a, sizeof a));
    }
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = nsp + 2;
    ctx->out_shape[0] = x->shape[0];
    ctx->out_shape[1] = C;
    for (int j = 0; j < nsp; j++)
        ctx->out_shape[2 + j] = out[j];
    ctx->out_format = mm_tensor_layout(x);
    return 0;
}

/* inputs: x [N, C, in...], g [N, K, out...]; output [K, C/G, k...]. */
static int conv_weight_grad_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *g = ctx->inputs[1];
    const mm_op_params *p = ctx->params;
    int nsp = (int)p->i[0];
    if (nsp < 1 || nsp > 3 || x->ndim != nsp + 2 || g->ndim != nsp + 2 ||
        x->shape[0] != g->shape[0] || p->i[10] <= 0 ||
        x->shape[1] % p->i[10] != 0 || g->shape[1] % p->i[10] != 0 ||
        x->dtype != g->dtype || !mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_EINVAL,
                            "conv_weight_grad: inputs do not fit the params");
    ctx->out_dtype = x->dtype;
    ctx->out_ndim = nsp + 2;
    ctx->out_shape[0] = g->shape[1];
    ctx->out_shape[1] = x->shape[1] / p->i[10];
    for (int j = 0; j < nsp; j++)
        ctx->out_shape[2 + j] = p->i[14 + j];
    return 0;
}

/* ---- reference kernels: plain loops in double --------------------------- */

#define IDX3(a, b, c, n) (((a) * (n)[1] + (b)) * (n)[2] + (c))

/* The input position (within a plane) that output (o0, o1, o2) reads
 * under kernel tap (k0, k1, k2); false when it falls in the padding. */
static bool tap(const mm_conv_geom *g, int64_t o0, int64_t o1, int64_t o2,
                int64_t k0, int64_t k1, int64_t k2, int64_t *xi) {
    int64_t i0 = o0 * g->s[0] - g->p[0] + k0 * g->d[0];
    int64_t i1 = o1 * g->s[1] - g->p[1] + k1 * g->d[1];
    int64_t i2 = o2 * g->s[2] - g->p[2] + k2 * g->d[2];
    if (i0 < 0 || i0 >= g->in[0] || i1 < 0 || i1 >= g->in[1] || i2 < 0 ||
        i2 >= g->in[2])
        return false;
    *xi = IDX3(i0, i1, i2, g->in);
    return true;
}

/* y = conv(x, w) + b */
static int conv_reference_plain(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *w = ctx->inputs[1];
    const mm_tensor *b = ctx->n_inputs == 3 ? ctx->inputs[2] : NULL;
    mm_tensor *y = ctx->out;
    mm_conv_geom g;
    mm_conv_geom_make(ctx->params, x, w, y, &g);
    int64_t Cg = g.C / g.G, Kg = g.K / g.G;
    int64_t in_sp = g.in[0] * g.in[1] * g.in[2];
    int64_t out_sp = g.out[0] * g.out[1] * g.out[2];
    int64_t k_sp = g.k[0] * g.k[1] * g.k[2];
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t k = 0; k < g.K; k++)
            for (int64_t o0 = 0; o0 < g.out[0]; o0++)
                for (int64_t o1 = 0; o1 < g.out[1]; o1++)
                    for (int64_t o2 = 0; o2 < g.out[2]; o2++) {
                        double acc = b ? mm_ld(b, k) : 0;
                        for (int64_t c = 0; c < Cg; c++) {
                            int64_t xc = (k / Kg) * Cg + c;
                            for (int64_t k0 = 0; k0 < g.k[0]; k0++)
                                for (int64_t k1 = 0; k1 < g.k[1]; k1++)
                                    for (int64_t k2 = 0; k2 < g.k[2]; k2++) {
                                        int64_t xi;
                                        if (!tap(&g, o0, o1, o2, k0, k1, k2,
                                                 &xi))
                                            continue;
                                        acc +=
                                            mm_ld(x,
                                                  (n * g.C + xc) * in_sp + xi) *
                                            mm_ld(w, (k * Cg + c) * k_sp +
                                                         IDX3(k0, k1, k2, g.k));
                                    }
                        }
                        mm_st(y,
                              (n * g.K + k) * out_sp + IDX3(o0, o1, o2, g.out),
                              acc);
                    }
    return 0;
}

/* x = conv_transpose(y, w) + b: every y element scatters through w. */
static int conv_transpose_reference_plain(mm_op_ctx *ctx) {
    const mm_tensor *y = ctx->inputs[0], *w = ctx->inputs[1];
    const mm_tensor *b = ctx->n_inputs == 3 ? ctx->inputs[2] : NULL;
    mm_tensor *x = ctx->out;
    mm_conv_geom g;
    mm_conv_geom_make(ctx->params, x, w, y, &g);
    int64_t Cg = g.C / g.G, Kg = g.K / g.G;
    int64_t in_sp = g.in[0] * g.in[1] * g.in[2];
    int64_t out_sp = g.out[0] * g.out[1] * g.out[2];
    int64_t k_sp = g.k[0] * g.k[1] * g.k[2];
    double *acc = calloc((size_t)(x->numel ? x->numel : 1), sizeof *acc);
    if (!acc)
        return mm_error_set(MM_ENOMEM, "conv_transpose: out of memory");
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t k = 0; k < g.K; k++)
            for (int64_t o0 = 0; o0 < g.out[0]; o0++)
                for (int64_t o1 = 0; o1 < g.out[1]; o1++)
                    for (int64_t o2 = 0; o2 < g.out[2]; o2++) {
                        double v = mm_ld(y, (n * g.K + k) * out_sp +
                                                IDX3(o0, o1, o2, g.out));
                        for (int64_t c = 0; c < Cg; c++) {
                            int64_t xc = (k / Kg) * Cg + c;
                            for (int64_t k0 = 0; k0 < g.k[0]; k0++)
                                for (int64_t k1 = 0; k1 < g.k[1]; k1++)
                                    for (int64_t k2 = 0; k2 < g.k[2]; k2++) {
                                        int64_t xi;
                                        if (!tap(&g, o0, o1, o2, k0, k1, k2,
                                                 &xi))
                                            continue;
                                        acc[(n * g.C + xc) * in_sp + xi] +=
                                            v *
                                            mm_ld(w, (k * Cg + c) * k_sp +
                                                         IDX3(k0, k1, k2, g.k));
                                    }
                        }
                    }
    for (int64_t i = 0; i < x->numel; i++)
        mm_st(x, i, acc[i] + (b ? mm_ld(b, (i / in_sp) % g.C) : 0));
    free(acc);
    return 0;
}

/* dw[k, c, kk] = sum over n and out of g[n, k, o] x[n, c', o s - p + kk d] */
static int conv_weight_grad_reference_plain(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0], *gy = ctx->inputs[1];
    mm_tensor *dw = ctx->out;
    mm_conv_geom g;
    mm_conv_geom_make(ctx->params, x, NULL, gy, &g);
    int64_t Cg = g.C / g.G, Kg = g.K / g.G;
    int64_t in_sp = g.in[0] * g.in[1] * g.in[2];
    int64_t out_sp = g.out[0] * g.out[1] * g.out[2];
    int64_t k_sp = g.k[0] * g.k[1] * g.k[2];
    for (int64_t k = 0; k < g.K; k++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t k0 = 0; k0 < g.k[0]; k0++)
                for (int64_t k1 = 0; k1 < g.k[1]; k1++)
                    for (int64_t k2 = 0; k2 < g.k[2]; k2++) {
                        int64_t xc = (k / Kg) * Cg + c;
                        double acc = 0;
                        for (int64_t n = 0; n < g.N; n++)
                            for (int64_t o0 = 0; o0 < g.out[0]; o0++)
                                for (int64_t o1 = 0; o1 < g.out[1]; o1++)
                                    for (int64_t o2 = 0; o2 < g.out[2]; o2++) {
                                        int64_t xi;
                                        if (!tap(&g, o0, o1, o2, k0, k1, k2,
                                                 &xi))
                                            continue;
                                        acc +=
                                            mm_ld(gy,
                                                  (n * g.K + k) * out_sp +
                                                      IDX3(o0, o1, o2, g.out)) *
                                            mm_ld(x,
                                                  (n * g.C + xc) * in_sp + xi);
                                    }
                        mm_st(dw, (k * Cg + c) * k_sp + IDX3(k0, k1, k2, g.k),
                              acc);
                    }
    return 0;
}

/* ---- backward ----------------------------------------------------------- */

/* Sum of g over every dim but the channels: the bias gradient. */
static int bias_grad(mm_tensor *g, mm_tensor **out) {
    int dims[MM_MAX_DIMS], n = 0;
    for (int d = 0; d < g->ndim; d++)
        if (d != 1)
            dims[n++] = d;
    return mm_sum(g, n, dims, false, out);
}

static int weight_grad(const mm_op_params *p, mm_tensor *x, mm_tensor *g,
                       const mm_tensor *w, mm_tensor **out) {
    mm_op_params q = *p;
    for (int j = 0; j < (int)p->i[0]; j++)
        q.i[14 + j] = w->shape[2 + j];
    return mm_apply2(&mm_op_conv_weight_grad, x, g, &q, out);
}

/* conv: dx = conv_transpose(g, w) with the output padding that gives back
 * x's size; dw = conv_weight_grad(x, g); db = sum(g). */
static int conv_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *x = n->inputs[0], *w = n->inputs[1];
    const mm_op_params *p = &n->params;
    /* x's gradient in x's layout, as PyTorch; and oneDNN then runs every
     * backward primitive in nhwc with nothing to reorder */
    if (mm_tensor_layout(x) == MM_FORMAT_CHANNELS_LAST)
        MM_TRY(mm_to_memory_format(g, MM_FORMAT_CHANNELS_LAST, &g));
    if (n->needs_grad[0]) {
        mm_op_params q = *p;
        for (int j = 0; j < (int)p->i[0]; j++)
            q.i[11 + j] =
                x->shape[2 + j] -
                ((g->shape[2 + j] - 1) * p->i[1 + j] - 2 * p->i[4 + j] +
                 p->i[7 + j] * (w->shape[2 + j] - 1) + 1);
        MM_TRY(mm_apply2(&mm_op_conv_transpose, g, w, &q, &gin[0]));
    }
    if (n->needs_grad[1])
        MM_TRY(weight_grad(p, x, g, w, &gin[1]));
    if (n->n_inputs == 3 && n->needs_grad[2])
        MM_TRY(bias_grad(g, &gin[2]));
    return 0;
}

/* conv_transpose: dx = conv(g, w); dw = conv_weight_grad(g, x). */
static int conv_transpose_backward(const mm_node *n, mm_tensor *g,
                                   mm_tensor **gin) {
    mm_tensor *x = n->inputs[0], *w = n->inputs[1];
    if (n->needs_grad[0]) {
        /* with output_padding >= stride (allowed below the dilation) the
         * conv reaches past x: the extra outputs touch nothing of x */
        mm_tensor *gx;
        MM_TRY(mm_apply2(&mm_op_conv, g, w, &n->params, &gx));
        for (int d = 2; d < x->ndim; d++)
            if (gx->shape[d] != x->shape[d])
                MM_TRY(mm_narrow(gx, d, 0, x->shape[d], &gx));
        gin[0] = gx;
    }
    if (n->needs_grad[1])
        MM_TRY(weight_grad(&n->params, g, x, w, &gin[1]));
    if (n->n_inputs == 3 && n->needs_grad[2])
        MM_TRY(bias_grad(g, &gin[2]));
    return 0;
}

/* The reference kernels index row-major tensors: channels-last ones go
 * through contiguous copies. */
static int conv_reference(mm_op_ctx *ctx) {
    return mm_op_run_contiguous(ctx, conv_reference_plain);
}
static int conv_transpose_reference(mm_op_ctx *ctx) {
    return mm_op_run_contiguous(ctx, conv_transpose_reference_plain);
}
static int conv_weight_grad_reference(mm_op_ctx *ctx) {
    return mm_op_run_contiguous(ctx, conv_weight_grad_reference_plain);
}

const mm_op mm_op_conv = {
    .name = "conv",
    .n_inputs = -1,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .infer = conv_infer,
    .reference = conv_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_conv},
    .backward = conv_backward,
};

const mm_op mm_op_conv_transpose = {
    .name = "conv_transpose",
    .n_inputs = -1,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .infer = conv_transpose_infer,
    .reference = conv_transpose_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_conv_transpose},
    .backward = conv_transpose_backward,
};

const mm_op mm_op_conv_weight_grad = {
    .name = "conv_weight_grad",
    .n_inputs = 2,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .infer = conv_weight_grad_infer,
    .reference = conv_weight_grad_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_conv_weight_grad},
};

/* ---- conv_fused: inference conv + bias + residual + activation ----------
 * params as conv, plus [17] activation (mm_fused_act), [18] has bias,
 * [19] has residual; inputs x, w, then the bias and the residual when
 * present. */

static int conv_fused_infer(mm_op_ctx *ctx) {
    const mm_op_params *p = ctx->params;
    int nb = p->i[18] != 0, nr = p->i[19] != 0;
    if (ctx->n_inputs != 2 + nb + nr)
        return mm_error_set(MM_EINVAL, "conv_fused: expects %d inputs, got %d",
                            2 + nb + nr, ctx->n_inputs);
    if (p->i[17] < MM_FUSED_NONE || p->i[17] > MM_FUSED_HARDSWISH)
        return mm_error_set(MM_EINVAL, "conv_fused: unknown activation %lld",
                            (long long)p->i[17]);
    mm_op_ctx sub = *ctx;
    sub.n_inputs = 2 + nb;
    MM_TRY(conv_infer(&sub));
    ctx->out_dtype = sub.out_dtype;
    ctx->out_format = sub.out_format;
    ctx->out_ndim = sub.out_ndim;
    memcpy(ctx->out_shape, sub.out_shape, sizeof ctx->out_shape);
    if (nr) {
        const mm_tensor *r = ctx->inputs[2 + nb];
        char a[128], b[128];
        if (r->dtype != sub.out_dtype || r->ndim != sub.out_ndim ||
            memcmp(r->shape, sub.out_shape, (size_t)r->ndim * sizeof r->shape[0]))
            return mm_error_set(MM_EINVAL,
                                "conv_fused: residual %s %s differs from the "
                                "output %s %s",
                                mm_dtype_name(r->dtype),
                                mm_shape_format(r->ndim, r->shape, a, sizeof a),
                                mm_dtype_name(sub.out_dtype),
                                mm_shape_format(sub.out_ndim, sub.out_shape, b,
                                                sizeof b));
    }
    return 0;
}

double mm_fused_act_apply(int act, double v) {
    switch (act) {
    case MM_FUSED_RELU:
        return v > 0 ? v : 0;
    case MM_FUSED_RELU6:
        return v < 0 ? 0 : v > 6 ? 6 : v;
    case MM_FUSED_SILU:
        return v / (1 + exp(-v));
    case MM_FUSED_HARDSWISH:
        return v * (v <= -3 ? 0 : v >= 3 ? 1 : (v + 3) / 6);
    default:
        return v;
    }
}

/* The plain conv, then the residual and the activation, in double. */
static int conv_fused_reference_plain(mm_op_ctx *ctx) {
    const mm_op_params *p = ctx->params;
    int nb = p->i[18] != 0, nr = p->i[19] != 0;
    mm_op_ctx sub = *ctx;
    sub.n_inputs = 2 + nb;
    MM_TRY(conv_reference_plain(&sub));
    const mm_tensor *r = nr ? ctx->inputs[2 + nb] : NULL;
    mm_tensor *y = ctx->out;
    for (int64_t i = 0; i < y->numel; i++)
        mm_st(y, i, mm_fused_act_apply((int)p->i[17],
                                       mm_ld(y, i) + (r ? mm_ld(r, i) : 0)));
    return 0;
}

static int conv_fused_reference(mm_op_ctx *ctx) {
    return mm_op_run_contiguous(ctx, conv_fused_reference_plain);
}

const mm_op mm_op_conv_fused = {
    .name = "conv_fused",
    .n_inputs = -1,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .infer = conv_fused_infer,
    .reference = conv_fused_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_conv_fused},
};

/* ---- public wrappers ---------------------------------------------------- */

/* Fill params from the user's arrays (NULL: torch's defaults) and run op;
 * an unbatched input (nsp + 1 dims) gains and loses the batch dim. */
static int run_conv(const mm_op *op, const char *name, int nsp, mm_tensor *x,
                    mm_tensor *w, mm_tensor *b, const int64_t *stride,
                    const int64_t *padding, const int64_t *dilation,
                    int64_t groups, const int64_t *output_padding,
                    mm_tensor **out) {
    if (!x || !w)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", name);
    mm_tensor *xwb[3] = {x, w, b};
    MM_TRY(mm_autocast_inputs(3, xwb));
    x = xwb[0], w = xwb[1], b = xwb[2];
    mm_op_params p;
    memset(&p, 0, sizeof p);
    p.i[0] = nsp;
    for (int j = 0; j < nsp; j++) {
        p.i[1 + j] = stride ? stride[j] : 1;
        p.i[4 + j] = padding ? padding[j] : 0;
        p.i[7 + j] = dilation ? dilation[j] : 1;
        p.i[11 + j] = output_padding ? output_padding[j] : 0;
    }
    p.i[10] = groups;
    mm_tensor *in[3] = {x, w, b};
    int n = b ? 3 : 2;
    if (x->ndim != nsp + 1)
        return mm_op_apply(op, n, in, &p, out);
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *y = NULL;
    int rc = mm_unsqueeze(x, 0, &in[0]);
    if (rc == 0)
        rc = mm_op_apply(op, n, in, &p, &y);
    if (rc == 0)
        rc = mm_squeeze(y, 0, &y);
    return mm_pool_finish(pool, rc, y, out);
}

int mm_conv1d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
              const int64_t stride[1], const int64_t padding[1],
              const int64_t dilation[1], int64_t groups, mm_tensor **out) {
    return run_conv(&mm_op_conv, "conv1d", 1, x, weight, bias, stride, padding,
                    dilation, groups, NULL, out);
}

int mm_conv2d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
              const int64_t stride[2], const int64_t padding[2],
              const int64_t dilation[2], int64_t groups, mm_tensor **out) {
    return run_conv(&mm_op_conv, "conv2d", 2, x, weight, bias, stride, padding,
                    dilation, groups, NULL, out);
}

int mm_conv3d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
              const int64_t stride[3], const int64_t padding[3],
              const int64_t dilation[3], int64_t groups, mm_tensor **out) {
    return run_conv(&mm_op_conv, "conv3d", 3, x, weight, bias, stride, padding,
                    dilation, groups, NULL, out);
}

int mm_conv_transpose1d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                        const int64_t stride[1], const int64_t padding[1],
                        const int64_t output_padding[1], int64_t groups,
                        const int64_t dilation[1], mm_tensor **out) {
    return run_conv(&mm_op_conv_transpose, "conv_transpose1d", 1, x, weight,
                    bias, stride, padding, dilation, groups, output_padding,
                    out);
}

int mm_conv_transpose2d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                        const int64_t stride[2], const int64_t padding[2],
                        const int64_t output_padding[2], int64_t groups,
                        const int64_t dilation[2], mm_tensor **out) {
    return run_conv(&mm_op_conv_transpose, "conv_transpose2d", 2, x, weight,
                    bias, stride, padding, dilation, groups, output_padding,
                    out);
}

int mm_conv_transpose3d(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                        const int64_t stride[3], const int64_t padding[3],
                        const int64_t output_padding[3], int64_t groups,
                        const int64_t dilation[3], mm_tensor **out) {
    return run_conv(&mm_op_conv_transpose, "conv_transpose3d", 3, x, weight,
                    bias, stride, padding, dilation, groups, output_padding,
                    out);
}

int mm_conv_fused(mm_tensor *x, mm_tensor *weight, mm_tensor *bias,
                  mm_tensor *residual, mm_fused_act act,
                  const int64_t *stride, const int64_t *padding,
                  const int64_t *dilation, int64_t groups, mm_tensor **out) {
    if (!x || !weight)
        return mm_error_set(MM_EINVAL, "conv_fused: tensor is NULL");
    if (mm_grad_enabled() &&
        (x->requires_grad || weight->requires_grad ||
         (bias && bias->requires_grad) ||
         (residual && residual->requires_grad)))
        return mm_error_set(MM_EINVAL,
                            "conv_fused: has no backward; run it under "
                            "no-grad (inference) or use the unfused ops");
    int nsp = weight->ndim - 2;
    if (nsp < 1 || nsp > 3)
        return mm_error_set(MM_EINVAL,
                            "conv_fused: weight must have 3 to 5 dims, got %d",
                            weight->ndim);
    mm_tensor *xwbr[4] = {x, weight, bias, residual};
    MM_TRY(mm_autocast_inputs(4, xwbr));
    mm_op_params p;
    memset(&p, 0, sizeof p);
    p.i[0] = nsp;
    for (int j = 0; j < nsp; j++) {
        p.i[1 + j] = stride ? stride[j] : 1;
        p.i[4 + j] = padding ? padding[j] : 0;
        p.i[7 + j] = dilation ? dilation[j] : 1;
    }
    p.i[10] = groups;
    p.i[17] = act;
    p.i[18] = bias != NULL;
    p.i[19] = residual != NULL;
    mm_tensor *in[4];
    int n = 0;
    in[n++] = xwbr[0];
    in[n++] = xwbr[1];
    if (bias)
        in[n++] = xwbr[2];
    if (residual)
        in[n++] = xwbr[3];
    return mm_op_apply(&mm_op_conv_fused, n, in, &p, out);
}
