/* Pooling: max_pool1d/2d/3d (with torch's int64 indices: the flat position in
 * each channel's plane), avg_pool2d/3d (ceil_mode, count_include_pad,
 * divisor_override; avg_pool1d has none), adaptive_avg_pool1d/2d/3d and
 * adaptive_max_pool1d/2d/3d (windows [floor(i In / Out), ceil((i + 1) In /
 * Out))), as torch.nn.functional.
 *
 * Ops (params in conv_pool.h):
 *   max_pool           x -> values; keeps the indices for backward
 *   max_pool_indices   x -> i64 indices (not differentiable)
 *   avg_pool           x -> averages
 *   max_pool_backward  g, indices -> gradient of x (scatter-add)
 *   avg_pool_backward  g -> gradient of x (spread over each window)
 * The leading dims (batch, channels) are planes. A batched input that is
 * channels-last ([N, C, sp...] stored as [N, sp..., C]) is read as it is and
 * gives channels-last outputs (values and indices); the indices are still
 * the flat position in each (n, c) plane, as torch's. The backward ops give
 * the gradient in the forward input's layout (params [13], conv_pool.h). */
#include "conv_pool.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- shapes ------------------------------------------------------------- */

/* Does x take the channels-last path: batched, channels-last and not also
 * contiguous (PyTorch's rule for the output's memory format)? */
static bool pool_channels_last(const mm_tensor *x, int nsp) {
    return x->ndim == nsp + 2 &&
           mm_tensor_layout(x) == MM_FORMAT_CHANNELS_LAST;
}

/* torch's pooling_output_shape. */
static int64_t pool_out_size(int64_t in, int64_t k, int64_t p, int64_t s,
                             int64_t d, bool ceil_mode) {
    int64_t num = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (out - 1) * s >= in + p)
        out--;
    return out;
}

static int pool_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    const mm_op_params *p = ctx->params;
    int nsp = (int)p->i[0];
    bool avg = ctx->op->code == MM_POOL_AVG, adaptive = p->i[14] != 0;
    char name[48], a[128];
    snprintf(name, sizeof name, "%s%s_pool%dd", adaptive ? "adaptive_" : "",
             avg ? "avg" : "max", nsp);
    if (nsp < 1 || nsp > 3)
        return mm_error_set(MM_EINVAL, "%s: %d spatial dims (1 to 3)", name,
                            nsp);
    if (x->ndim != nsp + 1 && x->ndim != nsp + 2)
        return mm_error_set(MM_EINVAL,
                            "%s: expected a %d-D (unbatched) or %d-D (batched) "
                            "input, got %s",
                            name, nsp + 1, nsp + 2,
                            mm_shape_format(x->ndim, x->shape, a, sizeof a));
    if (!mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point input, got %s", name,
                            mm_dtype_name(x->dtype));
    int lead = x->ndim - nsp;
    for (int j = 0; j < nsp; j++) {
        int64_t in = x->shape[lead + j], out;
        if (in == 0)
            return mm_error_set(
                MM_EINVAL, "%s: input %s has an empty spatial dim", name,
                mm_shape_format(x->ndim, x->shape, a, sizeof a));
        if (adaptive) {
            out = p->i[1 + j];
            if (out <= 0)
                return mm_error_set(
                    MM_EINVAL, "%s: output size must be positive, got %s", name,
                    mm_shape_format(nsp, p->i + 1, a, sizeof a));
        } else {
            int64_t k = p->i[1 + j], s = p->i[4 + j], pd = p->i[7 + j],
                    dl = p->i[10 + j];
            if (k <= 0)
                return mm_error_set(
                    MM_EINVAL, "%s: kernel size must be positive, got %s", name,
                    mm_shape_format(nsp, p->i + 1, a, sizeof a));
            if (s <= 0)
                return mm_error_set(
                    MM_EINVAL, "%s: stride must be positive, got %s", name,
                    mm_shape_format(nsp, p->i + 4, a, sizeof a));
            if (dl <= 0)
                return mm_error_set(
                    MM_EINVAL, "%s: dilation must be positive, got %s", name,
                    mm_shape_format(nsp, p->i + 10, a, sizeof a));
            if (pd < 0 || pd > k / 2)
                return mm_error_set(MM_EINVAL,
                                    "%s: pad should be at most half of kernel "
                                    "size, but got pad=%lld and "
                                    "kernel_size=%lld",
                                    name, (long long)pd, (long long)k);
            out = pool_out_size(in, k, pd, s, dl, p->i[13] != 0);
            if (out <= 0) {
                int64_t o[3];
                for (int t = 0; t < nsp; t++)
                    o[t] = pool_out_size(x->shape[lead + t], p->i[1 + t],
                                         p->i[7 + t], p->i[4 + t], p->i[10 + t],
                                         p->i[13] != 0);
                char b[128];
                return mm_error_set(
                    MM_EINVAL,
                    "%s: calculated output size %s is too small (input %s)",
                    name, mm_shape_format(nsp, o, b, sizeof b),
                    mm_shape_format(x->ndim, x->shape, a, sizeof a));
            }
        }
        ctx->out_shape[lead + j] = out;
    }
    if (avg && p->i[16] < 0)
        return mm_error_set(MM_EINVAL, "%s: divisor_override must be positive",
                            name);
    for (int d = 0; d < lead; d++)
        ctx->out_shape[d] = x->shape[d];
    ctx->out_ndim = x->ndim;
    ctx->out_dtype = ctx->op->code == MM_POOL_MAX_INDICES ? MM_I64 : x->dtype;
    if (pool_channels_last(x, nsp))
        ctx->out_format = MM_FORMAT_CHANNELS_LAST;
    return 0;
}

/* inputs: g (the output's shape) [, indices]; output: x's shape, whose
 * spatial sizes are params [17..19]. */
static int pool_backward_infer(mm_op_ctx *ctx) {
    const mm_tensor *g = ctx->inputs[0];
    int nsp = (int)ctx->params->i[0];
    if (nsp < 1 || nsp > 3 || g->ndim < nsp + 1 ||
        (ctx->n_inputs == 2 && (ctx->inputs[1]->dtype != MM_I64 ||
                                !mm_tensor_same_shape(g, ctx->inputs[1]))))
        return mm_error_set(MM_EINVAL, "%s: inputs do not fit the params",
                            ctx->op->name);
    ctx->out_dtype = g->dtype;
    ctx->out_ndim = g->ndim;
    for (int d = 0; d < g->ndim; d++)
        ctx->out_shape[d] = g->shape[d];
    for (int j = 0; j < nsp; j++)
        ctx->out_shape[g->ndim - nsp + j] = ctx->params->i[17 + j];
    if (ctx->params->i[13] && g->ndim == nsp + 2)
        ctx->out_format = MM_FORMAT_CHANNELS_LAST;
    return 0;
}

/* ---- reference kernels -------------------------------------------------- */

#define IDX3(a, b, c, n) (((a) * (n)[1] + (b)) * (n)[2] + (c))

/* Element i (row-major in the logical shape) of a tensor of either layout. */
static char *elem_at(const mm_tensor *t, int64_t i) {
    return (char *)t->storage->data + mm_tensor_elem_offset(t, i);
}

static double ld(const mm_tensor *t, int64_t i) {
    return mm_load_f64(elem_at(t, i), t->dtype);
}

static void st(mm_tensor *t, int64_t i, double v) {
    mm_store_f64(elem_at(t, i), t->dtype, v);
}

static int64_t *i64_at(const mm_tensor *t, int64_t i) {
    return (int64_t *)(void *)elem_at(t, i);
}

/* Values into `val` and indices into `idx` (either may be NULL). The first
 * maximum wins; a NaN beats everything (torch's `val > max || isnan(val)`). */
static void max_pool_ref(const mm_pool_geom *g, const mm_tensor *x,
                         mm_tensor *val, mm_tensor *idx) {
    int64_t in_sp = g->in[0] * g->in[1] * g->in[2];
    int64_t out_sp = g->out[0] * g->out[1] * g->out[2];
    for (int64_t pl = 0; pl < g->planes; pl++)
        for (int64_t o0 = 0; o0 < g->out[0]; o0++)
            for (int64_t o1 = 0; o1 < g->out[1]; o1++)
                for (int64_t o2 = 0; o2 < g->out[2]; o2++) {
                    int64_t s[3], step[3], cnt[3];
                    mm_pool_max_window(g, 0, o0, &s[0], &step[0], &cnt[0]);
                    mm_pool_max_window(g, 1, o1, &s[1], &step[1], &cnt[1]);
                    mm_pool_max_window(g, 2, o2, &s[2], &step[2], &cnt[2]);
                    double best = -INFINITY;
                    int64_t bi = IDX3(s[0], s[1], s[2], g->in);
                    for (int64_t a = 0; a < cnt[0]; a++)
                        for (int64_t b = 0; b < cnt[1]; b++)
                            for (int64_t c = 0; c < cnt[2]; c++) {
                                int64_t i =
                                    IDX3(s[0] + a * step[0], s[1] + b * step[1],
                                         s[2] + c * step[2], g->in);
                                double v = ld(x, pl * in_sp + i);
                                if (v > best || isnan(v)) {
                                    best = v;
                                    bi = i;
                                }
                            }
                    int64_t o = pl * out_sp + IDX3(o0, o1, o2, g->out);
                    if (val)
                        st(val, o, best);
                    if (idx)
                        *i64_at(idx, o) = bi;
                }
}

static void avg_pool_ref(const mm_pool_geom *g, const mm_tensor *x,
                         mm_tensor *y) {
    int64_t in_sp = g->in[0] * g->in[1] * g->in[2];
    int64_t out_sp = g->out[0] * g->out[1] * g->out[2];
    for (int64_t pl = 0; pl < g->planes; pl++)
        for (int64_t o0 = 0; o0 < g->out[0]; o0++)
            for (int64_t o1 = 0; o1 < g->out[1]; o1++)
                for (int64_t o2 = 0; o2 < g->out[2]; o2++) {
                    int64_t s[3], e[3];
                    int64_t div = mm_pool_avg_box(g, o0, o1, o2, s, e);
                    double acc = 0;
                    for (int64_t a = s[0]; a < e[0]; a++)
                        for (int64_t b = s[1]; b < e[1]; b++)
                            for (int64_t c = s[2]; c < e[2]; c++)
                                acc += ld(x, pl * in_sp + IDX3(a, b, c, g->in));
                    st(y, pl * out_sp + IDX3(o0, o1, o2, g->out),
                       acc / (double)div);
                }
}

static int pool_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_pool_geom g;
    mm_pool_geom_make(ctx->params, x->ndim, x->shape, ctx->out->shape, &g);
    if (ctx->op->code == MM_POOL_AVG) {
        avg_pool_ref(&g, x, ctx->out);
        return 0;
    }
    if (ctx->op->code == MM_POOL_MAX_INDICES) {
        max_pool_ref(&g, x, NULL, ctx->out);
        return 0;
    }
    mm_tensor *idx = NULL;
    if (ctx->recording)
        MM_TRY(mm_tensor_new_owned_format(ctx->out->ndim, ctx->out->shape,
                                          MM_I64, x->device, ctx->out_format,
                                          &idx));
    max_pool_ref(&g, x, ctx->out, idx);
    if (idx)
        ctx->saved[ctx->n_saved++] = idx;
    return 0;
}

static int max_pool_backward_reference(mm_op_ctx *ctx) {
    const mm_tensor *gy = ctx->inputs[0], *idx = ctx->inputs[1];
    mm_tensor *gx = ctx->out;
    int nsp = (int)ctx->params->i[0];
    int64_t in_sp = 1, out_sp = 1;
    for (int j = 0; j < nsp; j++) {
        in_sp *= gx->shape[gx->ndim - nsp + j];
        out_sp *= gy->shape[gy->ndim - nsp + j];
    }
    for (int64_t i = 0; i < gx->numel; i++)
        st(gx, i, 0);
    for (int64_t i = 0; i < gy->numel; i++) {
        int64_t o = (i / out_sp) * in_sp + *i64_at(idx, i);
        st(gx, o, ld(gx, o) + ld(gy, i));
    }
    return 0;
}

static int avg_pool_backward_reference(mm_op_ctx *ctx) {
    const mm_tensor *gy = ctx->inputs[0];
    mm_tensor *gx = ctx->out;
    mm_pool_geom g;
    mm_pool_geom_make(ctx->params, gx->ndim, gx->shape, gy->shape, &g);
    int64_t in_sp = g.in[0] * g.in[1] * g.in[2];
    int64_t out_sp = g.out[0] * g.out[1] * g.out[2];
    for (int64_t i = 0; i < gx->numel; i++)
        st(gx, i, 0);
    for (int64_t pl = 0; pl < g.planes; pl++)
        for (int64_t o0 = 0; o0 < g.out[0]; o0++)
            for (int64_t o1 = 0; o1 < g.out[1]; o1++)
                for (int64_t o2 = 0; o2 < g.out[2]; o2++) {
                    int64_t s[3], e[3];
                    int64_t div = mm_pool_avg_box(&g, o0, o1, o2, s, e);
                    double v = ld(gy, pl * out_sp + IDX3(o0, o1, o2, g.out)) /
                               (double)div;
                    for (int64_t a = s[0]; a < e[0]; a++)
                        for (int64_t b = s[1]; b < e[1]; b++)
                            for (int64_t c = s[2]; c < e[2]; c++) {
                                int64_t i = pl * in_sp + IDX3(a, b, c, g.in);
                                st(gx, i, ld(gx, i) + v);
                            }
                }
    return 0;
}

/* ---- backward ----------------------------------------------------------- */

/* The backward op's params: the forward's, x's spatial size and layout. */
static void with_input_size(const mm_node *n, mm_op_params *q) {
    const mm_tensor *x = n->inputs[0];
    int nsp = (int)n->params.i[0];
    *q = n->params;
    for (int j = 0; j < nsp; j++)
        q->i[17 + j] = x->shape[x->ndim - nsp + j];
    q->i[13] = pool_channels_last(x, nsp);
}

static int max_pool_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_op_params q;
    with_input_size(n, &q);
    MM_ASSERT(n->n_saved == 1);
    return mm_apply2(&mm_op_max_pool_backward, g, n->saved[0], &q, &gin[0]);
}

static int avg_pool_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_op_params q;
    with_input_size(n, &q);
    return mm_apply1(&mm_op_avg_pool_backward, g, &q, &gin[0]);
}

const mm_op mm_op_max_pool = {
    .name = "max_pool",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .code = MM_POOL_MAX,
    .infer = pool_infer,
    .reference = pool_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_pool},
    .backward = max_pool_backward,
};

const mm_op mm_op_max_pool_indices = {
    .name = "max_pool_indices",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .code = MM_POOL_MAX_INDICES,
    .infer = pool_infer,
    .reference = pool_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_pool},
};

const mm_op mm_op_avg_pool = {
    .name = "avg_pool",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .code = MM_POOL_AVG,
    .infer = pool_infer,
    .reference = pool_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_pool},
    .backward = avg_pool_backward,
};

const mm_op mm_op_max_pool_backward = {
    .name = "max_pool_backward",
    .n_inputs = 2,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .infer = pool_backward_infer,
    .reference = max_pool_backward_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_max_pool_backward},
};

const mm_op mm_op_avg_pool_backward = {
    .name = "avg_pool_backward",
    .n_inputs = 1,
    .flags = MM_OP_FLAG_CONTIGUOUS | MM_OP_FLAG_CHANNELS_LAST,
    .infer = pool_backward_infer,
    .reference = avg_pool_backward_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_avg_pool_backward},
};

/* ---- public wrappers ---------------------------------------------------- */

static void fill_params(mm_op_params *p, int nsp, const int64_t *kernel,
                        const int64_t *stride, const int64_t *padding,
                        const int64_t *dilation, bool ceil_mode) {
    memset(p, 0, sizeof *p);
    p->i[0] = nsp;
    for (int j = 0; j < nsp; j++) {
        p->i[1 + j] = kernel[j];
        p->i[4 + j] = stride ? stride[j] : kernel[j];
        p->i[7 + j] = padding ? padding[j] : 0;
        p->i[10 + j] = dilation ? dilation[j] : 1;
    }
    p->i[13] = ceil_mode;
}

static int run_max(const char *name, const mm_op_params *p, mm_tensor *x,
                   mm_tensor **out, mm_tensor **indices) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", name);
    if (!out && !indices)
        return mm_error_set(MM_EINVAL, "%s: no output asked for", name);
    mm_tensor *v = NULL, *i = NULL;
    if (out)
        MM_TRY(mm_apply1(&mm_op_max_pool, x, p, &v));
    if (indices)
        MM_TRY(mm_apply1(&mm_op_max_pool_indices, x, p, &i));
    if (out)
        *out = v;
    if (indices)
        *indices = i;
    return 0;
}

static int check_kernel_arg(const char *name, const int64_t *kernel) {
    if (!kernel)
        return mm_error_set(MM_EINVAL, "%s: kernel_size is NULL", name);
    return 0;
}

int mm_max_pool1d(mm_tensor *x, const int64_t kernel_size[1],
                  const int64_t stride[1], const int64_t padding[1],
                  const int64_t dilation[1], bool ceil_mode, mm_tensor **out,
                  mm_tensor **indices) {
    MM_TRY(check_kernel_arg("max_pool1d", kernel_size));
    mm_op_params p;
    fill_params(&p, 1, kernel_size, stride, padding, dilation, ceil_mode);
    return run_max("max_pool1d", &p, x, out, indices);
}

int mm_max_pool2d(mm_tensor *x, const int64_t kernel_size[2],
                  const int64_t stride[2], const int64_t padding[2],
                  const int64_t dilation[2], bool ceil_mode, mm_tensor **out,
                  mm_tensor **indices) {
    MM_TRY(check_kernel_arg("max_pool2d", kernel_size));
    mm_op_params p;
    fill_params(&p, 2, kernel_size, stride, padding, dilation, ceil_mode);
    return run_max("max_pool2d", &p, x, out, indices);
}

int mm_max_pool3d(mm_tensor *x, const int64_t kernel_size[3],
                  const int64_t stride[3], const int64_t padding[3],
                  const int64_t dilation[3], bool ceil_mode, mm_tensor **out,
                  mm_tensor **indices) {
    MM_TRY(check_kernel_arg("max_pool3d", kernel_size));
    mm_op_params p;
    fill_params(&p, 3, kernel_size, stride, padding, dilation, ceil_mode);
    return run_max("max_pool3d", &p, x, out, indices);
}

static int run_avg(const char *name, int nsp, mm_tensor *x,
                   const int64_t *kernel_size, const int64_t *stride,
                   const int64_t *padding, bool ceil_mode,
                   bool count_include_pad, int64_t divisor_override,
                   mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", name);
    MM_TRY(check_kernel_arg(name, kernel_size));
    if (divisor_override < 0)
        return mm_error_set(MM_EINVAL,
                            "%s: divisor_override must be positive, got %lld",
                            name, (long long)divisor_override);
    mm_op_params p;
    fill_params(&p, nsp, kernel_size, stride, padding, NULL, ceil_mode);
    p.i[15] = count_include_pad;
    p.i[16] = divisor_override;
    return mm_apply1(&mm_op_avg_pool, x, &p, out);
}

int mm_avg_pool1d(mm_tensor *x, const int64_t kernel_size[1],
                  const int64_t stride[1], const int64_t padding[1],
                  bool ceil_mode, bool count_include_pad, mm_tensor **out) {
    return run_avg("avg_pool1d", 1, x, kernel_size, stride, padding, ceil_mode,
                   count_include_pad, 0, out);
}

int mm_avg_pool2d(mm_tensor *x, const int64_t kernel_size[2],
                  const int64_t stride[2], const int64_t padding[2],
                  bool ceil_mode, bool count_include_pad,
                  int64_t divisor_override, mm_tensor **out) {
    return run_avg("avg_pool2d", 2, x, kernel_size, stride, padding, ceil_mode,
                   count_include_pad, divisor_override, out);
}

int mm_avg_pool3d(mm_tensor *x, const int64_t kernel_size[3],
                  const int64_t stride[3], const int64_t padding[3],
                  bool ceil_mode, bool count_include_pad,
                  int64_t divisor_override, mm_tensor **out) {
    return run_avg("avg_pool3d", 3, x, kernel_size, stride, padding, ceil_mode,
                   count_include_pad, divisor_override, out);
}

/* output_size entries < 0 keep the input's size (torch's None). */
static int adaptive_params(const char *name, int nsp, mm_tensor *x,
                           const int64_t *output_size, mm_op_params *p) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", name);
    if (!output_size)
        return mm_error_set(MM_EINVAL, "%s: output_size is NULL", name);
    memset(p, 0, sizeof *p);
    p->i[0] = nsp;
    for (int j = 0; j < nsp; j++) {
        int64_t o = output_size[j];
        if (o < 0 && x->ndim >= nsp)
            o = x->shape[x->ndim - nsp + j];
        p->i[1 + j] = o;
        p->i[4 + j] = p->i[10 + j] = 1;
    }
    p->i[14] = 1;
    return 0;
}

static int run_adaptive_avg(const char *name, int nsp, mm_tensor *x,
                            const int64_t *output_size, mm_tensor **out) {
    mm_op_params p;
    MM_TRY(adaptive_params(name, nsp, x, output_size, &p));
    return mm_apply1(&mm_op_avg_pool, x, &p, out);
}

static int run_adaptive_max(const char *name, int nsp, mm_tensor *x,
                            const int64_t *output_size, mm_tensor **out,
                            mm_tensor **indices) {
    mm_op_params p;
    MM_TRY(adaptive_params(name, nsp, x, output_size, &p));
    return run_max(name, &p, x, out, indices);
}

int mm_adaptive_avg_pool1d(mm_tensor *x, const int64_t output_size[1],
                           mm_tensor **out) {
    return run_adaptive_avg("adaptive_avg_pool1d", 1, x, output_size, out);
}

static int adaptive_avg_pool2d_impl(mm_tensor *x, const int64_t output_size[2],
                           mm_tensor **out) {
    return run_adaptive_avg("adaptive_avg_pool2d", 2, x, output_size, out);
}

int mm_adaptive_avg_pool3d(mm_tensor *x, const int64_t output_size[3],
                           mm_tensor **out) {
    return run_adaptive_avg("adaptive_avg_pool3d", 3, x, output_size, out);
}

int mm_adaptive_max_pool1d(mm_tensor *x, const int64_t output_size[1],
                           mm_tensor **out, mm_tensor **indices) {
    return run_adaptive_max("adaptive_max_pool1d", 1, x, output_size, out,
                            indices);
}

int mm_adaptive_max_pool2d(mm_tensor *x, const int64_t output_size[2],
                           mm_tensor **out, mm_tensor **indices) {
    return run_adaptive_max("adaptive_max_pool2d", 2, x, output_size, out,
                            indices);
}

int mm_adaptive_max_pool3d(mm_tensor *x, const int64_t output_size[3],
                           mm_tensor **out, mm_tensor **indices) {
    return run_adaptive_max("adaptive_max_pool3d", 3, x, output_size, out,
                            indices);
}

/* Reported whole to an op observer (mm_ops_set_observer). */
int mm_adaptive_avg_pool2d(mm_tensor *x, const int64_t output_size[2],
                           mm_tensor **out) {
    if (!mm_ops_observing())
        return adaptive_avg_pool2d_impl(x, output_size, out);
    mm_ops_observe_begin();
    int rc = adaptive_avg_pool2d_impl(x, output_size, out);
    return mm_ops_observe_end(rc, "adaptive_avg_pool2d", 1, &x, out, false);
}
