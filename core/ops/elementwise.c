/* Elementwise math with PyTorch's semantics: pow, maximum/minimum,
 * comparisons, logical ops, where, clamp, and the unary math functions
 * (abs, log1p, sqrt, rsqrt, sin, cos, floor, ceil, round, sign, erf).
 *
 * The unary and binary infer functions and reference kernels here also
 * serve the activations (activation.c): one switch per arity holds the
 * formula of every variant, written the plain way, in double (int64 for
 * integer tensors). Params: see elementwise_internal.h. */
#include "elementwise_internal.h"

#include <math.h>
#include <string.h>

/* ---- dtype promotion (PyTorch's result_type) ---------------------------- */

static int category(mm_dtype dt) {
    return dt == MM_BOOL ? 0 : mm_dtype_is_float(dt) ? 2 : 1;
}

/* Tensors with dims promote among themselves; 0-dim tensors decide only
 * when their category is higher. */
static mm_dtype result_type(int n, mm_tensor *const *ts) {
    int have_dim = 0, have_zero = 0;
    mm_dtype dim = MM_F32, zero = MM_F32;
    for (int i = 0; i < n; i++) {
        if (!ts[i])
            continue;
        if (ts[i]->ndim > 0) {
            dim =
                have_dim++ ? mm_dtype_promote(dim, ts[i]->dtype) : ts[i]->dtype;
        } else {
            zero = have_zero++ ? mm_dtype_promote(zero, ts[i]->dtype)
                               : ts[i]->dtype;
        }
    }
    if (!have_dim)
        return zero;
    if (!have_zero)
        return dim;
    return category(zero) > category(dim) ? zero : dim;
}

static bool scalar_is_int(double s) { return isfinite(s) && s == floor(s); }

/* A tensor of dtype t next to a Python number s: the number only changes
 * the dtype when its category is higher (then the default dtype of its
 * category: i64 or f32). */
static mm_dtype scalar_result_type(mm_dtype t, double s) {
    int cs = scalar_is_int(s) ? 1 : 2;
    if (cs <= category(t))
        return t;
    return cs == 2 ? MM_F32 : MM_I64;
}

static int to_dtype(mm_tensor *x, mm_dtype dt, mm_tensor **out) {
    if (x->dtype == dt) {
        *out = x;
        return 0;
    }
    return mm_to_dtype(x, dt, out);
}

/* Range of an integer dtype, as doubles (exact for all but i64's ends). */
static void int_range(mm_dtype dt, double *lo, double *hi) {
    switch (dt) {
    case MM_U8:
        *lo = 0, *hi = 255;
        break;
    case MM_I32:
        *lo = -2147483648.0, *hi = 2147483647.0;
        break;
    case MM_BOOL:
        *lo = 0, *hi = 1;
        break;
    default:
        *lo = -9223372036854775808.0, *hi = 9223372036854775807.0;
        break;
    }
}

/* An integral s converted to integer dtype dt the way C++ (and so PyTorch)
 * does: wrapping modulo the width. */
static double wrap_int(double s, mm_dtype dt) {
    int64_t v = mm_f64_to_i64_sat(s);
    switch (dt) {
    case MM_U8:
        return (uint8_t)(uint64_t)v;
    case MM_I32:
        return (int32_t)(uint32_t)(uint64_t)v;
    default:
        return (double)v;
    }
}

/* ---- infer -------------------------------------------------------------- */

enum { LAYOUT_NONE, LAYOUT_ROW_MAJOR, LAYOUT_CHANNELS_LAST, LAYOUT_OTHER };

/* Whether the strides of t's dims listed innermost first (size-1 dims
 * skipped) strictly grow. */
static bool strides_grow(const mm_tensor *t, const int *dims) {
    int64_t prev = 0;
    for (int k = 0; k < t->ndim; k++) {
        int d = dims[k];
        if (t->shape[d] == 1)
            continue;
        if (t->stride[d] <= prev)
            return false;
        prev = t->stride[d];
    }
    return true;
}

/* Which order t's strides follow, dense or not (a channel slice of a
 * channels-last tensor is still channels-last ordered); LAYOUT_NONE when
 * they tell nothing: both orders at once, or an expanded (stride 0) dim. */
static int layout_of(const mm_tensor *t) {
    int rm[MM_MAX_DIMS], cl[MM_MAX_DIMS], nd = t->ndim;
    for (int d = 0; d < nd; d++) {
        if (t->shape[d] != 1 && t->stride[d] == 0)
            return LAYOUT_NONE;
        rm[d] = nd - 1 - d; /* W, H, ..., C, N */
    }
    cl[0] = 1; /* C, W, H, ..., N */
    for (int k = 1; k < nd - 1; k++)
        cl[k] = nd - k;
    cl[nd - 1] = 0;
    bool is_rm = strides_grow(t, rm), is_cl = strides_grow(t, cl);
    if (is_rm && is_cl)
        return LAYOUT_NONE;
    return is_cl   ? LAYOUT_CHANNELS_LAST
           : is_rm ? LAYOUT_ROW_MAJOR
                   : LAYOUT_OTHER;
}

void mm_ew_infer_format(mm_op_ctx *ctx) {
    ctx->out_format = MM_FORMAT_CONTIGUOUS;
    int nd = ctx->out_ndim;
    if (nd < 3 || nd > 5)
        return;
    for (int i = 0; i < ctx->n_inputs; i++) {
        const mm_tensor *t = ctx->inputs[i];
        if (t->ndim != nd ||
            memcmp(t->shape, ctx->out_shape, (size_t)nd * sizeof *t->shape))
            continue; /* broadcast: a bias or scale does not decide */
        int layout = layout_of(t);
        if (layout == LAYOUT_NONE)
            continue;
        if (layout == LAYOUT_CHANNELS_LAST)
            ctx->out_format = MM_FORMAT_CHANNELS_LAST;
        return;
    }
}

static bool unary_allows_int(int code) {
    switch (code) {
    case EW_ABS:
    case EW_SIGN:
    case EW_FLOOR:
    case EW_CEIL:
    case EW_ROUND:
    case EW_POW_SCALAR:
    case EW_CLAMP:
    case EW_RELU6:
    case EW_LOGICAL_NOT:
        return true;
    default:
        return false;
    }
}

int mm_ew_unary_infer(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    int code = ctx->op->code;
    const char *name = ctx->op->name;
    if (!unary_allows_int(code) && !mm_dtype_is_float(x->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected a floating-point tensor, got %s",
                            name, mm_dtype_name(x->dtype));
    if (x->dtype == MM_BOOL && code != EW_SIGN && code != EW_LOGICAL_NOT)
        return mm_error_set(MM_ETYPE, "%s: not supported for bool tensors",
                            name);
    ctx->out_dtype = code == EW_LOGICAL_NOT ? MM_BOOL : x->dtype;
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    mm_ew_infer_format(ctx);
    return 0;
}

int mm_ew_binary_infer(mm_op_ctx *ctx) {
    const mm_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    int code = ctx->op->code;
    const char *name = ctx->op->name;
    if (!ew_is_logical(code) && a->dtype != b->dtype)
        return mm_error_set(MM_ETYPE, "%s: dtypes %s and %s differ", name,
                            mm_dtype_name(a->dtype), mm_dtype_name(b->dtype));
    if ((code == EW_PRELU || ew_is_backward(code)) &&
        !mm_dtype_is_float(a->dtype))
        return mm_error_set(MM_ETYPE,
                            "%s: expected floating-point tensors, got %s", name,
                            mm_dtype_name(a->dtype));
    if (code == EW_POW && a->dtype == MM_BOOL)
        return mm_error_set(MM_ETYPE, "%s: not supported for bool tensors",
                            name);
    MM_TRY(mm_broadcast_shapes(name, a->ndim, a->shape, b->ndim, b->shape,
                               &ctx->out_ndim, ctx->out_shape));
    ctx->out_dtype =
        ew_is_compare(code) || ew_is_logical(code) ? MM_BOOL : a->dtype;
    mm_ew_infer_format(ctx);
    return 0;
}

/* ---- reference: the formulas, one element at a time --------------------- */

/* Integer power with wrap-around; negative exponents as PyTorch's integer
 * pow (0 unless the base is 1 or -1). */
static int64_t ipow(int64_t base, int64_t e) {
    if (e < 0)
        return base == 1 ? 1 : base == -1 ? (e & 1 ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)base;
    for (uint64_t k = (uint64_t)e; k; k >>= 1, b *= b)
        if (k & 1)
            r *= b;
    return (int64_t)r;
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }
/* min(max(x, 0), 6), NaN kept */
static double relu6(double x) { return x < 0 ? 0 : x > 6 ? 6 : x; }

static double unary_f64(int code, double x, const mm_op_params *p) {
    double lo = p->f[0], hi = p->f[1];
    switch (code) {
    case EW_ABS:
        return fabs(x);
    case EW_LOG1P:
        return log1p(x);
    case EW_SQRT:
        return sqrt(x);
    case EW_RSQRT:
        return 1 / sqrt(x);
    case EW_SIN:
        return sin(x);
    case EW_COS:
        return cos(x);
    case EW_FLOOR:
        return floor(x);
    case EW_CEIL:
        return ceil(x);
    case EW_ROUND:
        return nearbyint(x); /* half to even in the default rounding mode */
    case EW_SIGN:
        return (x > 0) - (x < 0); /* 0 for NaN, as PyTorch */
    case EW_ERF:
        return erf(x);
    case EW_POW_SCALAR:
        return pow(x, p->f[0]);
    case EW_CLAMP:
        if (isnan(x) || (p->i[0] && isnan(lo)) || (p->i[1] && isnan(hi)))
            return NAN;
        if (p->i[0] && x < lo)
            x = lo;
        if (p->i[1] && x > hi)
            x = hi;
        return x;
    case EW_RELU6:
        return relu6(x);
    case EW_LEAKY_RELU:
        return x > 0 ? x : p->f[0] * x;
    case EW_ELU:
        return x > 0 ? x : p->f[0] * expm1(x);
    case EW_GELU:
        if (p->i[0] == MM_GELU_TANH)
            return 0.5 * x *
                   (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        return 0.5 * x * (1 + erf(x / sqrt(2)));
    case EW_SILU:
        return x * sigmoid(x);
    case EW_HARDSWISH:
        return x * relu6(x + 3) / 6;
    case EW_HARDSIGMOID:
        return relu6(x + 3) / 6;
    case EW_MISH:
        return x * tanh(log1p(exp(x)));
    case EW_SOFTPLUS:
        return x * p->f[0] > p->f[1] ? x : log1p(exp(p->f[0] * x)) / p->f[0];
    default:
        return 0;
    }
}

static int64_t unary_i64(int code, int64_t x, const mm_op_params *p) {
    switch (code) {
    case EW_ABS:
        return x < 0 ? (int64_t)(0 - (uint64_t)x) : x;
    case EW_SIGN:
        return (x > 0) - (x < 0);
    case EW_POW_SCALAR:
        return ipow(x, mm_f64_to_i64_sat(p->f[0]));
    case EW_CLAMP: { /* the wrapper checked the bounds fit the dtype */
        int64_t lo = mm_f64_to_i64_sat(p->f[0]),
                hi = mm_f64_to_i64_sat(p->f[1]);
        if (p->i[0] && x < lo)
            x = lo;
        if (p->i[1] && x > hi)
            x = hi;
        return x;
    }
    case EW_RELU6:
        return x < 0 ? 0 : x > 6 ? 6 : x;
    default: /* floor, ceil, round: integers are already there */
        return x;
    }
}

int mm_ew_unary_reference(mm_op_ctx *ctx) {
    const mm_tensor *x = ctx->inputs[0];
    mm_tensor *y = ctx->out;
    int code = ctx->op->code;
    const mm_op_params *p = ctx->params;
    bool is_float = mm_dtype_is_float(x->dtype);
    for (int64_t i = 0; i < y->numel; i++) {
        const char *px =
            (const char *)x->storage->data + mm_tensor_elem_offset(x, i);
        char *po = mm_ew_out_elem(y, i);
        if (code == EW_LOGICAL_NOT)
            mm_store_i64(po, y->dtype, mm_load_f64(px, x->dtype) == 0);
        else if (is_float)
            mm_store_f64(po, y->dtype,
                         unary_f64(code, mm_load_f64(px, x->dtype), p));
        else
            mm_store_i64(po, y->dtype,
                         unary_i64(code, mm_load_i64(px, x->dtype), p));
    }
    return 0;
}

/* g: the gradient of the output; x: the input. */
static double backward_f64(int code, double g, double x,
                           const mm_op_params *p) {
    switch (code) {
    case EW_RELU6_BW: /* hardtanh's: zero at and beyond the bounds */
        return x <= 0 || x >= 6 ? 0 : g;
    case EW_LEAKY_RELU_BW:
        return x > 0 ? g : g * p->f[0];
    case EW_ELU_BW:
        return x <= 0 ? g * p->f[0] * exp(x) : g;
    case EW_GELU_BW:
        if (p->i[0] == MM_GELU_TANH) {
            double k = sqrt(2 / M_PI), c = 0.044715;
            double t = tanh(k * (x + c * x * x * x));
            return g * (0.5 * (1 + t) +
                        0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x));
        }
        /* Phi(x) + x phi(x) */
        return g * (0.5 * (1 + erf(x / sqrt(2))) +
                    x * exp(-0.5 * x * x) / sqrt(2 * M_PI));
    case EW_SILU_BW: {
        double s = sigmoid(x);
        return g * s * (1 + x * (1 - s));
    }
    case EW_HARDSWISH_BW:
        /* PyTorch's vectorised kernel (its scalar tail gives 1.5 g at 3) */
        return x < -3 ? 0 : x >= 3 ? g : g * (x / 3 + 0.5);
    case EW_HARDSIGMOID_BW:
        return x > -3 && x < 3 ? g / 6 : 0;
    case EW_MISH_BW: {
        double t = tanh(log1p(exp(x)));
        return g * (t + x * sigmoid(x) * (1 - t * t));
    }
    case EW_SOFTPLUS_BW: {
        double z = exp(x * p->f[0]);
        return x * p->f[0] > p->f[1] ? g : g * z / (z + 1);
    }
    default:
        return 0;
    }
}

static double binary_f64(int code, double a, double b, const mm_op_params *p) {
    if (ew_is_backward(code))
        return backward_f64(code, a, b, p);
    switch (code) {
    case EW_POW:
        return pow(a, b);
    case EW_MAXIMUM:
        return isnan(a) || isnan(b) ? NAN : a < b ? b : a;
    case EW_MINIMUM:
        return isnan(a) || isnan(b) ? NAN : b < a ? b : a;
    case EW_PRELU:
        return a > 0 ? a : b * a;
    default:
        return 0;
    }
}

#define DEFINE_COMPARE(T, SFX)                                                 \
    static bool compare_##SFX(int code, T a, T b) {                            \
        switch (code) {                                                        \
        case EW_EQ:                                                            \
            return a == b;                                                     \
        case EW_NE:                                                            \
            return a != b;                                                     \
        case EW_LT:                                                            \
            return a < b;                                                      \
        case EW_LE:                                                            \
            return a <= b;                                                     \
        case EW_GT:                                                            \
            return a > b;                                                      \
        default:                                                               \
            return a >= b;                                                     \
        }                                                                      \
    }
DEFINE_COMPARE(double, f64)
DEFINE_COMPARE(int64_t, i64)

static bool logical(int code, bool a, bool b) {
    return code == EW_LOGICAL_AND  ? a && b
           : code == EW_LOGICAL_OR ? a || b
                                   : a != b;
}

/* Byte offset of the element of t that output element i reads when t
 * broadcasts to out's shape. */
static int64_t bcast_offset(const mm_tensor *t, const mm_tensor *out,
                            int64_t i) {
    int64_t off = t->offset;
    int lead = out->ndim - t->ndim;
    for (int d = out->ndim - 1; d >= 0; d--) {
        int64_t k = i % out->shape[d];
        i /= out->shape[d];
        int e = d - lead;
        if (e >= 0 && t->shape[e] != 1)
            off += k * t->stride[e];
    }
    return off * (int64_t)mm_dtype_size(t->dtype);
}

static const char *elem(const mm_tensor *t, const mm_tensor *out, int64_t i) {
    return (const char *)t->storage->data + bcast_offset(t, out, i);
}

int mm_ew_binary_reference(mm_op_ctx *ctx) {
    const mm_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    mm_tensor *out = ctx->out;
    int code = ctx->op->code;
    const mm_op_params *p = ctx->params;
    bool is_float = mm_dtype_is_float(a->dtype);
    for (int64_t i = 0; i < out->numel; i++) {
        const char *pa = elem(a, out, i), *pb = elem(b, out, i);
        char *po = mm_ew_out_elem(out, i);
        if (ew_is_logical(code)) {
            mm_store_i64(po, MM_BOOL,
                         logical(code, mm_load_f64(pa, a->dtype) != 0,
                                 mm_load_f64(pb, b->dtype) != 0));
        } else if (ew_is_compare(code)) {
            bool r = is_float ? compare_f64(code, mm_load_f64(pa, a->dtype),
                                            mm_load_f64(pb, b->dtype))
                              : compare_i64(code, mm_load_i64(pa, a->dtype),
                                            mm_load_i64(pb, b->dtype));
            mm_store_i64(po, MM_BOOL, r);
        } else if (is_float) {
            mm_store_f64(po, out->dtype,
                         binary_f64(code, mm_load_f64(pa, a->dtype),
                                    mm_load_f64(pb, b->dtype), p));
        } else {
            int64_t x = mm_load_i64(pa, a->dtype),
                    y = mm_load_i64(pb, b->dtype);
            int64_t r = code == EW_POW       ? ipow(x, y)
                        : code == EW_MAXIMUM ? (x < y ? y : x)
                                             : (y < x ? y : x);
            mm_store_i64(po, out->dtype, r);
        }
    }
    return 0;
}

/* ---- where -------------------------------------------------------------- */

static int where_infer(mm_op_ctx *ctx) {
    const mm_tensor *c = ctx->inputs[0], *a = ctx->inputs[1],
                    *b = ctx->inputs[2];
    if (c->dtype != MM_BOOL)
        return mm_error_set(MM_ETYPE,
                            "where: expected a bool condition, got %s",
                            mm_dtype_name(c->dtype));
    if (a->dtype != b->dtype)
        return mm_error_set(MM_ETYPE, "where: dtypes %s and %s differ",
                            mm_dtype_name(a->dtype), mm_dtype_name(b->dtype));
    int n;
    int64_t s[MM_MAX_DIMS];
    MM_TRY(mm_broadcast_shapes("where", c->ndim, c->shape, a->ndim, a->shape,
                               &n, s));
    MM_TRY(mm_broadcast_shapes("where", n, s, b->ndim, b->shape, &ctx->out_ndim,
                               ctx->out_shape));
    ctx->out_dtype = a->dtype;
    mm_ew_infer_format(ctx);
    return 0;
}

static int where_reference(mm_op_ctx *ctx) {
    const mm_tensor *c = ctx->inputs[0], *a = ctx->inputs[1],
                    *b = ctx->inputs[2];
    mm_tensor *out = ctx->out;
    size_t es = mm_dtype_size(out->dtype);
    for (int64_t i = 0; i < out->numel; i++) {
        bool take_a = mm_load_i64(elem(c, out, i), MM_BOOL) != 0;
        memcpy(mm_ew_out_elem(out, i),
               take_a ? elem(a, out, i) : elem(b, out, i), es);
    }
    return 0;
}

static int where_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *cond = n->inputs[0], *zero, *t;
    MM_TRY(mm_scalar(0, g->dtype, &zero));
    if (n->needs_grad[1]) {
        MM_TRY(mm_where(cond, g, zero, &t));
        MM_TRY(mm_sum_to_shape(t, n->inputs[1]->ndim, n->inputs[1]->shape,
                               &gin[1]));
    }
    if (n->needs_grad[2]) {
        MM_TRY(mm_where(cond, zero, g, &t));
        MM_TRY(mm_sum_to_shape(t, n->inputs[2]->ndim, n->inputs[2]->shape,
                               &gin[2]));
    }
    return 0;
}

const mm_op mm_op_where = {
    .name = "where",
    .n_inputs = 3,
    .code = EW_WHERE,
    .infer = where_infer,
    .reference = where_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_where},
    .backward = where_backward,
};

int mm_where(mm_tensor *cond, mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    if (!cond || !a || !b)
        return mm_error_set(MM_EINVAL, "where: tensor is NULL");
    mm_dtype dt = result_type(2, (mm_tensor *[]){a, b});
    if (cond->dtype == MM_BOOL) { /* else infer says what is wrong */
        MM_TRY(to_dtype(a, dt, &a));
        MM_TRY(to_dtype(b, dt, &b));
    }
    return mm_op_apply(&mm_op_where, 3, (mm_tensor *[]){cond, a, b}, NULL, out);
}

/* ---- clamp with tensor bounds ------------------------------------------- */

/* Inputs (x, [min], [max]) of one dtype; params i[0] = has min, i[1] = has
 * max. */
static int clamp_tensor_infer(mm_op_ctx *ctx) {
    const mm_op_params *p = ctx->params;
    int want = 1 + (p->i[0] != 0) + (p->i[1] != 0);
    if (want == 1 || ctx->n_inputs != want)
        return mm_error_set(MM_EINVAL,
                            "clamp_tensor: %d inputs do not match the bounds "
                            "given (min %s, max %s)",
                            ctx->n_inputs, p->i[0] ? "yes" : "no",
                            p->i[1] ? "yes" : "no");
    const mm_tensor *x = ctx->inputs[0];
    if (x->dtype == MM_BOOL)
        return mm_error_set(MM_ETYPE, "clamp: not supported for bool tensors");
    ctx->out_ndim = x->ndim;
    memcpy(ctx->out_shape, x->shape, sizeof ctx->out_shape);
    for (int i = 1; i < ctx->n_inputs; i++) {
        const mm_tensor *t = ctx->inputs[i];
        if (t->dtype != x->dtype)
            return mm_error_set(MM_ETYPE, "clamp: dtypes %s and %s differ",
                                mm_dtype_name(x->dtype),
                                mm_dtype_name(t->dtype));
        MM_TRY(mm_broadcast_shapes("clamp", ctx->out_ndim, ctx->out_shape,
                                   t->ndim, t->shape, &ctx->out_ndim,
                                   ctx->out_shape));
    }
    ctx->out_dtype = x->dtype;
    mm_ew_infer_format(ctx);
    return 0;
}

static int clamp_tensor_reference(mm_op_ctx *ctx) {
    const mm_op_params *p = ctx->params;
    const mm_tensor *x = ctx->inputs[0];
    const mm_tensor *lo = p->i[0] ? ctx->inputs[1] : NULL;
    const mm_tensor *hi = p->i[1] ? ctx->inputs[1 + (p->i[0] != 0)] : NULL;
    mm_tensor *out = ctx->out;
    bool is_float = mm_dtype_is_float(x->dtype);
    for (int64_t i = 0; i < out->numel; i++) {
        char *po = mm_ew_out_elem(out, i);
        if (is_float) {
            double v = mm_load_f64(elem(x, out, i), x->dtype);
            double l = lo ? mm_load_f64(elem(lo, out, i), x->dtype) : 0;
            double h = hi ? mm_load_f64(elem(hi, out, i), x->dtype) : 0;
            if (isnan(v) || isnan(l) || isnan(h)) {
                v = NAN;
            } else {
                if (lo && v < l)
                    v = l;
                if (hi && v > h)
                    v = h;
            }
            mm_store_f64(po, out->dtype, v);
        } else {
            int64_t v = mm_load_i64(elem(x, out, i), x->dtype);
            if (lo) {
                int64_t l = mm_load_i64(elem(lo, out, i), x->dtype);
                v = v < l ? l : v;
            }
            if (hi) {
                int64_t h = mm_load_i64(elem(hi, out, i), x->dtype);
                v = v > h ? h : v;
            }
            mm_store_i64(po, out->dtype, v);
        }
    }
    return 0;
}

/* where(mask, g, 0) summed down to t's shape. */
static int masked_grad(mm_tensor *mask, mm_tensor *g, const mm_tensor *t,
                       mm_tensor **out) {
    mm_tensor *zero, *w;
    MM_TRY(mm_scalar(0, g->dtype, &zero));
    MM_TRY(mm_where(mask, g, zero, &w));
    return mm_sum_to_shape(w, t->ndim, t->shape, out);
}

/* PyTorch's clamp_backward_min_max: x passes the gradient where
 * min <= x <= max; min takes it where x < min (and min < max), max where
 * x > max or max < min. */
static int clamp_tensor_backward(const mm_node *n, mm_tensor *g,
                                 mm_tensor **gin) {
    const mm_op_params *p = &n->params;
    int i_lo = p->i[0] ? 1 : 0, i_hi = p->i[1] ? 1 + (p->i[0] != 0) : 0;
    mm_tensor *x = n->inputs[0];
    mm_tensor *lo = i_lo ? n->inputs[i_lo] : NULL;
    mm_tensor *hi = i_hi ? n->inputs[i_hi] : NULL;
    mm_tensor *m, *m2;
    if (n->needs_grad[0]) {
        if (lo && hi) {
            MM_TRY(mm_ge(x, lo, &m));
            MM_TRY(mm_le(x, hi, &m2));
            MM_TRY(mm_logical_and(m, m2, &m));
        } else if (lo) {
            MM_TRY(mm_ge(x, lo, &m));
        } else {
            MM_TRY(mm_le(x, hi, &m));
        }
        MM_TRY(masked_grad(m, g, x, &gin[0]));
    }
    if (lo && n->needs_grad[i_lo]) {
        MM_TRY(mm_lt(x, lo, &m));
        if (hi) {
            MM_TRY(mm_lt(lo, hi, &m2));
            MM_TRY(mm_logical_and(m, m2, &m));
        }
        MM_TRY(masked_grad(m, g, lo, &gin[i_lo]));
    }
    if (hi && n->needs_grad[i_hi]) {
        MM_TRY(mm_gt(x, hi, &m));
        if (lo) {
            MM_TRY(mm_lt(hi, lo, &m2));
            MM_TRY(mm_logical_or(m, m2, &m));
        }
        MM_TRY(masked_grad(m, g, hi, &gin[i_hi]));
    }
    return 0;
}

const mm_op mm_op_clamp_tensor = {
    .name = "clamp_tensor",
    .n_inputs = -1,
    .code = EW_CLAMP_TENSOR,
    .infer = clamp_tensor_infer,
    .reference = clamp_tensor_reference,
    .kernel = {[MM_DEVICE_CPU] = mm_cpu_clamp_tensor},
    .backward = clamp_tensor_backward,
};

int mm_clamp_tensor(mm_tensor *x, mm_tensor *min, mm_tensor *max,
                    mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "clamp: tensor is NULL");
    if (!min && !max)
        return mm_error_set(
            MM_EINVAL, "clamp: at least one of 'min' or 'max' must be given");
    mm_dtype dt = result_type(3, (mm_tensor *[]){x, min, max});
    mm_tensor *in[3];
    int n = 0;
    MM_TRY(to_dtype(x, dt, &in[n++]));
    if (min)
        MM_TRY(to_dtype(min, dt, &in[n++]));
    if (max)
        MM_TRY(to_dtype(max, dt, &in[n++]));
    mm_op_params p = {.i = {min != NULL, max != NULL}};
    return mm_op_apply(&mm_op_clamp_tensor, n, in, &p, out);
}

/* ---- backward of the unary and binary math ------------------------------ */

static int zero_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    (void)n;
    return mm_zeros_like(g, &gin[0]);
}

static int abs_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *s;
    MM_TRY(mm_sign(n->inputs[0], &s)); /* abs'(0) = sign(0) = 0 */
    return mm_mul(g, s, &gin[0]);
}

static int log1p_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *t;
    MM_TRY(mm_add_scalar(n->inputs[0], 1, &t));
    return mm_div(g, t, &gin[0]);
}

static int sqrt_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *t;
    MM_TRY(mm_mul_scalar(n->output, 2, &t)); /* g / (2 sqrt(x)) */
    return mm_div(g, t, &gin[0]);
}

static int rsqrt_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *t;
    MM_TRY(mm_pow_scalar(n->output, 3, &t)); /* -g y^3 / 2 */
    MM_TRY(mm_mul(g, t, &t));
    return mm_mul_scalar(t, -0.5, &gin[0]);
}

static int sin_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *t;
    MM_TRY(mm_cos(n->inputs[0], &t));
    return mm_mul(g, t, &gin[0]);
}

static int cos_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *t;
    MM_TRY(mm_sin(n->inputs[0], &t));
    MM_TRY(mm_neg(t, &t));
    return mm_mul(g, t, &gin[0]);
}

static int erf_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *t; /* 2 / sqrt(pi) exp(-x^2) */
    MM_TRY(mm_mul(n->inputs[0], n->inputs[0], &t));
    MM_TRY(mm_neg(t, &t));
    MM_TRY(mm_exp(t, &t));
    MM_TRY(mm_mul_scalar(t, M_2_SQRTPI, &t));
    return mm_mul(g, t, &gin[0]);
}

/* d x^e = e x^(e-1), and 0 when e == 0 (PyTorch's pow_backward). */
static int pow_scalar_backward(const mm_node *n, mm_tensor *g,
                               mm_tensor **gin) {
    double e = n->params.f[0];
    if (e == 0)
        return mm_zeros_like(n->inputs[0], &gin[0]);
    mm_tensor *t;
    MM_TRY(mm_pow_scalar(n->inputs[0], e - 1, &t));
    MM_TRY(mm_mul_scalar(t, e, &t));
    return mm_mul(g, t, &gin[0]);
}

/* clamp_backward: the gradient passes where min <= x <= max, bounds
 * included. */
static int clamp_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    const mm_op_params *p = &n->params;
    mm_tensor *x = n->inputs[0], *m = NULL, *m2;
    if (p->i[0])
        MM_TRY(mm_ge_scalar(x, p->f[0], &m));
    if (p->i[1]) {
        MM_TRY(mm_le_scalar(x, p->f[1], &m2));
        if (m)
            MM_TRY(mm_logical_and(m, m2, &m));
        else
            m = m2;
    }
    if (!m)
        return mm_return_same(g, &gin[0]);
    return masked_grad(m, g, x, &gin[0]);
}

/* PyTorch's pow_backward_self / pow_backward_exponent:
 * da = where(b == 0, 0, g b a^(b-1)),
 * db = g where(a == 0 & b >= 0, 0, y log a). */
static int pow_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *a = n->inputs[0], *b = n->inputs[1], *zero, *t, *m, *m2;
    MM_TRY(mm_scalar(0, g->dtype, &zero));
    if (n->needs_grad[0]) {
        MM_TRY(mm_sub_scalar(b, 1, &t));
        MM_TRY(mm_pow(a, t, &t));
        MM_TRY(mm_mul(t, b, &t));
        MM_TRY(mm_mul(g, t, &t));
        MM_TRY(mm_eq_scalar(b, 0, &m));
        MM_TRY(mm_where(m, zero, t, &t));
        MM_TRY(mm_sum_to_shape(t, a->ndim, a->shape, &gin[0]));
    }
    if (n->needs_grad[1]) {
        MM_TRY(mm_ln(a, &t));
        MM_TRY(mm_mul(n->output, t, &t));
        MM_TRY(mm_eq_scalar(a, 0, &m));
        MM_TRY(mm_ge_scalar(b, 0, &m2));
        MM_TRY(mm_logical_and(m, m2, &m));
        MM_TRY(mm_where(m, zero, t, &t));
        MM_TRY(mm_mul(g, t, &t));
        MM_TRY(mm_sum_to_shape(t, b->ndim, b->shape, &gin[1]));
    }
    return 0;
}

/* maximum: a takes g where a > b, b where b > a, each half of it on a tie
 * (and both all of it where a NaN is involved, as PyTorch). minimum
 * mirrors it. */
static int max_min_backward(const mm_node *n, mm_tensor *g, mm_tensor **gin) {
    mm_tensor *a = n->inputs[0], *b = n->inputs[1], *zero, *half, *tie, *m, *t;
    bool is_max = n->op->code == EW_MAXIMUM;
    MM_TRY(mm_scalar(0, g->dtype, &zero));
    MM_TRY(mm_mul_scalar(g, 0.5, &half));
    MM_TRY(mm_eq(a, b, &tie));
    for (int k = 0; k < 2; k++) {
        if (!n->needs_grad[k])
            continue;
        /* input k loses where it is below (max) / above (min) the other */
        mm_tensor *self = k == 0 ? a : b, *other = k == 0 ? b : a;
        MM_TRY((is_max ? mm_lt : mm_gt)(self, other, &m));
        MM_TRY(mm_where(m, zero, g, &t));
        MM_TRY(mm_where(tie, half, t, &t));
        MM_TRY(mm_sum_to_shape(t, self->ndim, self->shape, &gin[k]));
    }
    return 0;
}

/* ---- op definitions ----------------------------------------------------- */

#define EW_OP(NAME, CODE, FLAGS, BACKWARD, N, KIND)                            \
    const mm_op mm_op_##NAME = {                                               \
        .name = #NAME,                                                         \
        .n_inputs = N,                                                         \
        .flags = FLAGS,                                                        \
        .code = CODE,                                                          \
        .infer = mm_ew_##KIND##_infer,                                         \
        .reference = mm_ew_##KIND##_reference,                                 \
        .kernel = {[MM_DEVICE_CPU] = mm_cpu_ew_##KIND},                        \
        .backward = BACKWARD,                                                  \
    };
#define EW_UNARY_OP(NAME, CODE, FLAGS, BACKWARD)                               \
    EW_OP(NAME, CODE, FLAGS, BACKWARD, 1, unary)
#define EW_BINARY_OP(NAME, CODE, FLAGS, BACKWARD)                              \
    EW_OP(NAME, CODE, FLAGS, BACKWARD, 2, binary)

EW_UNARY_OP(abs, EW_ABS, 0, abs_backward)
EW_UNARY_OP(log1p, EW_LOG1P, 0, log1p_backward)
EW_UNARY_OP(sqrt, EW_SQRT, MM_OP_FLAG_SAVE_OUTPUT, sqrt_backward)
EW_UNARY_OP(rsqrt, EW_RSQRT, MM_OP_FLAG_SAVE_OUTPUT, rsqrt_backward)
EW_UNARY_OP(sin, EW_SIN, 0, sin_backward)
EW_UNARY_OP(cos, EW_COS, 0, cos_backward)
EW_UNARY_OP(floor, EW_FLOOR, 0, zero_backward)
EW_UNARY_OP(ceil, EW_CEIL, 0, zero_backward)
EW_UNARY_OP(round, EW_ROUND, 0, zero_backward)
EW_UNARY_OP(sign, EW_SIGN, 0, zero_backward)
EW_UNARY_OP(erf, EW_ERF, 0, erf_backward)
EW_UNARY_OP(pow_scalar, EW_POW_SCALAR, 0, pow_scalar_backward)
EW_UNARY_OP(clamp, EW_CLAMP, 0, clamp_backward)
EW_UNARY_OP(logical_not, EW_LOGICAL_NOT, 0, NULL)

EW_BINARY_OP(pow, EW_POW, MM_OP_FLAG_SAVE_OUTPUT, pow_backward)
EW_BINARY_OP(maximum, EW_MAXIMUM, 0, max_min_backward)
EW_BINARY_OP(minimum, EW_MINIMUM, 0, max_min_backward)
EW_BINARY_OP(eq, EW_EQ, 0, NULL)
EW_BINARY_OP(ne, EW_NE, 0, NULL)
EW_BINARY_OP(lt, EW_LT, 0, NULL)
EW_BINARY_OP(le, EW_LE, 0, NULL)
EW_BINARY_OP(gt, EW_GT, 0, NULL)
EW_BINARY_OP(ge, EW_GE, 0, NULL)
EW_BINARY_OP(logical_and, EW_LOGICAL_AND, 0, NULL)
EW_BINARY_OP(logical_or, EW_LOGICAL_OR, 0, NULL)
EW_BINARY_OP(logical_xor, EW_LOGICAL_XOR, 0, NULL)

/* ---- public wrappers ---------------------------------------------------- */

/* Both operands converted to their result type, then the op. */
static int apply_promoted(const mm_op *op, mm_tensor *a, mm_tensor *b,
                          mm_tensor **out) {
    if (!a || !b)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    mm_dtype dt = result_type(2, (mm_tensor *[]){a, b});
    if (op->code == EW_POW && dt == MM_BOOL)
        return mm_error_set(MM_ETYPE, "pow: not supported for bool tensors");
    MM_TRY(to_dtype(a, dt, &a));
    MM_TRY(to_dtype(b, dt, &b));
    return mm_apply2(op, a, b, NULL, out);
}

/* The tensor converted to its result type with the Python number s, and s
 * as a 0-dim tensor of that type (an integer wraps into an integer dtype,
 * as PyTorch converts scalars). */
static int with_scalar(const char *name, mm_tensor **x, double s,
                       mm_tensor **st) {
    if (!*x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", name);
    mm_dtype dt = scalar_result_type((*x)->dtype, s);
    MM_TRY(to_dtype(*x, dt, x));
    if (!mm_dtype_is_float(dt))
        s = wrap_int(s, dt);
    return mm_scalar(s, dt, st);
}

int mm_pow(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    return apply_promoted(&mm_op_pow, a, b, out);
}
int mm_maximum(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    return apply_promoted(&mm_op_maximum, a, b, out);
}
int mm_minimum(mm_tensor *a, mm_tensor *b, mm_tensor **out) {
    return apply_promoted(&mm_op_minimum, a, b, out);
}

int mm_pow_scalar(mm_tensor *x, double e, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "pow: tensor is NULL");
    MM_TRY(to_dtype(x, scalar_result_type(x->dtype, e), &x));
    if (!mm_dtype_is_float(x->dtype) && e < 0)
        return mm_error_set(MM_EINVAL,
                            "pow: integers to negative integer powers are not "
                            "allowed");
    mm_op_params p = {.f = {e}};
    return mm_apply1(&mm_op_pow_scalar, x, &p, out);
}

#define COMPARE(NAME)                                                          \
    int mm_##NAME(mm_tensor *a, mm_tensor *b, mm_tensor **out) {               \
        return apply_promoted(&mm_op_##NAME, a, b, out);                       \
    }                                                                          \
    int mm_##NAME##_scalar(mm_tensor *a, double s, mm_tensor **out) {          \
        mm_tensor *st;                                                         \
        MM_TRY(with_scalar(#NAME, &a, s, &st));                                \
        return mm_apply2(&mm_op_##NAME, a, st, NULL, out);                     \
    }
COMPARE(eq)
COMPARE(ne)
COMPARE(lt)
COMPARE(le)
COMPARE(gt)
COMPARE(ge)

#define LOGICAL(NAME)                                                          \
    int mm_##NAME(mm_tensor *a, mm_tensor *b, mm_tensor **out) {               \
        if (!a || !b)                                                          \
            return mm_error_set(MM_EINVAL, #NAME ": tensor is NULL");          \
        return mm_apply2(&mm_op_##NAME, a, b, NULL, out);                      \
    }
LOGICAL(logical_and)
LOGICAL(logical_or)
LOGICAL(logical_xor)

static int apply_unary(const mm_op *op, mm_tensor *x, bool float_only,
                       mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "%s: tensor is NULL", op->name);
    if (float_only && !mm_dtype_is_float(x->dtype))
        MM_TRY(mm_to_dtype(x, MM_F32, &x));
    return mm_apply1(op, x, NULL, out);
}

int mm_logical_not(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_logical_not, x, false, out);
}
int mm_abs(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_abs, x, false, out);
}
int mm_sign(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_sign, x, false, out);
}
int mm_floor(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_floor, x, false, out);
}
int mm_ceil(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_ceil, x, false, out);
}
int mm_round(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_round, x, false, out);
}
int mm_log1p(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_log1p, x, true, out);
}
int mm_sqrt(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_sqrt, x, true, out);
}
int mm_rsqrt(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_rsqrt, x, true, out);
}
int mm_sin(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_sin, x, true, out);
}
int mm_cos(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_cos, x, true, out);
}
int mm_erf(mm_tensor *x, mm_tensor **out) {
    return apply_unary(&mm_op_erf, x, true, out);
}

/* Scalar bounds promote x like a binary op would with each of them; an
 * integral bound must fit an integer dtype. */
static int clamp_scalar(mm_tensor *x, bool has_min, double min, bool has_max,
                        double max, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "clamp: tensor is NULL");
    mm_dtype dt = x->dtype;
    if (has_min)
        dt = scalar_result_type(dt, min);
    if (has_max)
        dt = mm_dtype_promote(dt, scalar_result_type(x->dtype, max));
    if (!mm_dtype_is_float(dt)) {
        double lo, hi;
        int_range(dt, &lo, &hi);
        const double v[2] = {min, max};
        const bool has[2] = {has_min, has_max};
        for (int k = 0; k < 2; k++)
            if (has[k] && (v[k] < lo || v[k] > hi))
                return mm_error_set(MM_EINVAL,
                                    "clamp: %s %.17g is out of range for %s",
                                    k ? "max" : "min", v[k], mm_dtype_name(dt));
    }
    MM_TRY(to_dtype(x, dt, &x));
    mm_op_params p = {.i = {has_min, has_max}, .f = {min, max}};
    return mm_apply1(&mm_op_clamp, x, &p, out);
}

int mm_clamp(mm_tensor *x, double min, double max, mm_tensor **out) {
    return clamp_scalar(x, true, min, true, max, out);
}
int mm_clamp_min(mm_tensor *x, double min, mm_tensor **out) {
    return clamp_scalar(x, true, min, false, 0, out);
}
int mm_clamp_max(mm_tensor *x, double max, mm_tensor **out) {
    return clamp_scalar(x, false, 0, true, max, out);
}
