/* op_driver: run one mm op (or an optimizer) on tensors from a safetensors
 * file, forward and backward, and write the results as safetensors. The
 * PyTorch parity script (tools/parity/ops_torch.py) runs the same case in
 * torch and compares.
 *
 *   op_driver CASE.safetensors OUT.safetensors   one case ("-": stdin/stdout)
 *   op_driver --stream                           cases on stdin, results on
 *                                                stdout, each framed by an
 *                                                8-byte little-endian length
 *   op_driver --list                             the op names it knows
 *
 * A case: "__metadata__" {"op": name, "args": JSON object text}; tensors
 * "input.0", "input.1", ... and, for backward, "grad_output.0", ... (one per
 * output to differentiate). Args understood by every op: "noncontig": [i, ...]
 * (input i is given a non-contiguous layout holding the same values) and
 * "no_grad": [i, ...] (input i does not require grad; float inputs do
 * otherwise).
 *
 * A result: "output.K" for each output, "grad_input.I" for each input that
 * got a gradient; or, when the op failed, no tensors and "__metadata__"
 * {"error": message}. Exit status: 0, or 1 when a case failed (single mode)
 * or the stream was malformed.
 *
 * Adding an op: a function of the drv_op_fn shape that reads its args with
 * the arg_* helpers and calls the public mm function, and a row in `ops`
 * below (docs/tensors.md, "Parity with PyTorch"). Optimizer cases ("optim")
 * are described in run_optim, module cases ("module": an nn layer with
 * torch's state_dict) in run_module. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/mm.h"

#define MAX_IO 64

/* ---- args --------------------------------------------------------------- */

typedef struct drv_case {
    const char *op;
    const mm_value *args; /* a dict */
} drv_case;

static const mm_value *arg(const drv_case *c, const char *key) {
    const mm_value *v = mm_value_dict_get(c->args, key);
    return v && !mm_value_is_null(v) ? v : NULL;
}

static int arg_i64(const drv_case *c, const char *key, int64_t dflt,
                   int64_t *out) {
    *out = dflt;
    const mm_value *v = arg(c, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!mm_value_is_int(v))
        return mm_error_set(MM_EINVAL, "%s: args.%s: expected an integer",
                            c->op, key);
    *out = mm_value_get_int(v);
    return 0;
}

static int arg_int(const drv_case *c, const char *key, int dflt, int *out) {
    *out = dflt;
    int64_t v;
    MM_TRY(arg_i64(c, key, dflt, &v));
    if (v < -(1 << 30) || v > (1 << 30))
        return mm_error_set(MM_EINVAL, "%s: args.%s: out of range", c->op, key);
    *out = (int)v;
    return 0;
}

static int arg_f64(const drv_case *c, const char *key, double dflt,
                   double *out) {
    *out = dflt;
    const mm_value *v = arg(c, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!mm_value_is_number(v))
        return mm_error_set(MM_EINVAL, "%s: args.%s: expected a number", c->op,
                            key);
    *out = mm_value_get_float(v);
    return 0;
}

static int arg_bool(const drv_case *c, const char *key, bool dflt, bool *out) {
    *out = dflt;
    const mm_value *v = arg(c, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!mm_value_is_bool(v))
        return mm_error_set(MM_EINVAL, "%s: args.%s: expected a boolean", c->op,
                            key);
    *out = mm_value_get_bool(v);
    return 0;
}

/* An integer list (a lone integer counts as a list of one); *n = -1 when
 * absent. */
static int arg_i64s(const drv_case *c, const char *key, int64_t *out, int max,
                    int *n) {
    const mm_value *v = arg(c, key);
    *n = -1;
    if (!v)
        return 0;
    if (mm_value_is_int(v)) {
        out[0] = mm_value_get_int(v);
        *n = 1;
        return 0;
    }
    if (!mm_value_is_list(v) || mm_value_len(v) > (size_t)max)
        return mm_error_set(MM_EINVAL,
                            "%s: args.%s: expected a list of at most %d "
                            "integers",
                            c->op, key, max);
    for (size_t i = 0; i < mm_value_len(v); i++) {
        const mm_value *e = mm_value_list_get(v, i);
        if (!mm_value_is_int(e))
            return mm_error_set(MM_EINVAL, "%s: args.%s[%zu]: expected an integer",
                                c->op, key, i);
        out[i] = mm_value_get_int(e);
    }
    *n = (int)mm_value_len(v);
    return 0;
}

static int arg_ints(const drv_case *c, const char *key, int *out, int max,
                    int *n) {
    int64_t tmp[MAX_IO];
    MM_TRY(arg_i64s(c, key, tmp, max < MAX_IO ? max : MAX_IO, n));
    for (int i = 0; i < *n; i++) {
        if (tmp[i] < -(1 << 30) || tmp[i] > (1 << 30))
            return mm_error_set(MM_EINVAL, "%s: args.%s: out of range", c->op,
                                key);
        out[i] = (int)tmp[i];
    }
    return 0;
}

static bool arg_has_index(const drv_case *c, const char *key, int i) {
    int idx[MAX_IO], n;
    if (arg_ints(c, key, idx, MAX_IO, &n) < 0) {
        mm_error_clear();
        return false;
    }
    for (int k = 0; k < n; k++)
        if (idx[k] == i)
            return true;
    return false;
}

/* ---- the ops ------------------------------------------------------------ *
 * One function per op: unpack the args, call the public function. x: the
 * inputs; y: the outputs, *ny preset to 1 (multi-output ops set it).
 * UNARY(name, fn) and BINARY(name, fn) write the function of an op without
 * args. */

typedef int (*drv_op_fn)(const drv_case *c, mm_tensor *const *x, int nx,
                         mm_tensor **y, int *ny);

#define UNARY(name, fn)                                                        \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)c, (void)nx, (void)ny;                                           \
        return fn(x[0], y);                                                    \
    }
UNARY(neg, mm_neg)
UNARY(exp, mm_exp)
UNARY(ln, mm_ln)
UNARY(relu, mm_relu)
UNARY(sigmoid, mm_sigmoid)
UNARY(tanh, mm_tanh)
UNARY(contiguous, mm_contiguous)
UNARY(clone, mm_clone)

#define BINARY(name, fn)                                                       \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)c, (void)nx, (void)ny;                                           \
        return fn(x[0], x[1], y);                                              \
    }
BINARY(mul, mm_mul)
BINARY(div, mm_div)
BINARY(matmul, mm_matmul)
BINARY(bmm, mm_bmm)

#define WITH_ALPHA(name, fn)                                                   \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        double alpha;                                                          \
        MM_TRY(arg_f64(c, "alpha", 1, &alpha));                                \
        return fn(x[0], x[1], alpha, y);                                       \
    }
WITH_ALPHA(add, mm_add_alpha)
WITH_ALPHA(sub, mm_sub_alpha)
#undef WITH_ALPHA

#define SCALAR(name, fn)                                                       \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        double s;                                                              \
        MM_TRY(arg_f64(c, "scalar", 0, &s));                                   \
        return fn(x[0], s, y);                                                 \
    }
SCALAR(add_scalar, mm_add_scalar)
SCALAR(sub_scalar, mm_sub_scalar)
SCALAR(mul_scalar, mm_mul_scalar)
SCALAR(div_scalar, mm_div_scalar)
#undef SCALAR

#define REDUCE(name, fn)                                                       \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        int dims[MM_MAX_DIMS], nd;                                             \
        bool keep;                                                             \
        MM_TRY(arg_ints(c, "dim", dims, MM_MAX_DIMS, &nd));                    \
        MM_TRY(arg_bool(c, "keepdim", false, &keep));                          \
        return fn(x[0], nd < 0 ? 0 : nd, dims, keep, y);                       \
    }
REDUCE(sum, mm_sum)
REDUCE(mean, mm_mean)
#undef REDUCE

static int op_reshape(const drv_case *c, mm_tensor *const *x, int nx,
                      mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t shape[MM_MAX_DIMS];
    int n;
    MM_TRY(arg_i64s(c, "shape", shape, MM_MAX_DIMS, &n));
    return mm_reshape(x[0], n < 0 ? 0 : n, shape, y);
}

static int op_view(const drv_case *c, mm_tensor *const *x, int nx,
                   mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t shape[MM_MAX_DIMS];
    int n;
    MM_TRY(arg_i64s(c, "shape", shape, MM_MAX_DIMS, &n));
    return mm_view(x[0], n < 0 ? 0 : n, shape, y);
}

static int op_expand(const drv_case *c, mm_tensor *const *x, int nx,
                     mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t shape[MM_MAX_DIMS];
    int n;
    MM_TRY(arg_i64s(c, "shape", shape, MM_MAX_DIMS, &n));
    return mm_expand(x[0], n < 0 ? 0 : n, shape, y);
}

static int op_permute(const drv_case *c, mm_tensor *const *x, int nx,
                      mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dims[MM_MAX_DIMS], n;
    MM_TRY(arg_ints(c, "dims", dims, MM_MAX_DIMS, &n));
    return mm_permute(x[0], n < 0 ? 0 : n, dims, y);
}

static int op_flip(const drv_case *c, mm_tensor *const *x, int nx,
                   mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dims[MM_MAX_DIMS], n;
    MM_TRY(arg_ints(c, "dims", dims, MM_MAX_DIMS, &n));
    return mm_flip(x[0], n < 0 ? 0 : n, dims, y);
}

static int op_repeat(const drv_case *c, mm_tensor *const *x, int nx,
                     mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t reps[MM_MAX_DIMS];
    int n;
    MM_TRY(arg_i64s(c, "reps", reps, MM_MAX_DIMS, &n));
    return mm_repeat(x[0], n < 0 ? 0 : n, reps, y);
}

static int op_transpose(const drv_case *c, mm_tensor *const *x, int nx,
                        mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int d0, d1;
    MM_TRY(arg_int(c, "dim0", 0, &d0));
    MM_TRY(arg_int(c, "dim1", 1, &d1));
    return mm_transpose(x[0], d0, d1, y);
}

static int op_narrow(const drv_case *c, mm_tensor *const *x, int nx,
                     mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    int64_t start, length;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    MM_TRY(arg_i64(c, "start", 0, &start));
    MM_TRY(arg_i64(c, "length", 1, &length));
    return mm_narrow(x[0], dim, start, length, y);
}

static int op_slice(const drv_case *c, mm_tensor *const *x, int nx,
                    mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    int64_t start, end, step;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    MM_TRY(arg_i64(c, "start", 0, &start));
    MM_TRY(arg_i64(c, "end", MM_SLICE_END, &end));
    MM_TRY(arg_i64(c, "step", 1, &step));
    return mm_slice(x[0], dim, start, end, step, y);
}

static int op_select(const drv_case *c, mm_tensor *const *x, int nx,
                     mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    int64_t index;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    MM_TRY(arg_i64(c, "index", 0, &index));
    return mm_select(x[0], dim, index, y);
}

static int op_squeeze(const drv_case *c, mm_tensor *const *x, int nx,
                      mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    if (!arg(c, "dim"))
        return mm_squeeze_all(x[0], y);
    int dim;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    return mm_squeeze(x[0], dim, y);
}

static int op_unsqueeze(const drv_case *c, mm_tensor *const *x, int nx,
                        mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    return mm_unsqueeze(x[0], dim, y);
}

static int op_flatten(const drv_case *c, mm_tensor *const *x, int nx,
                      mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int s, e;
    MM_TRY(arg_int(c, "start_dim", 0, &s));
    MM_TRY(arg_int(c, "end_dim", -1, &e));
    return mm_flatten(x[0], s, e, y);
}

static int op_cat(const drv_case *c, mm_tensor *const *x, int nx,
                  mm_tensor **y, int *ny) {
    (void)ny;
    int dim;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    return mm_cat(nx, x, dim, y);
}

static int op_stack(const drv_case *c, mm_tensor *const *x, int nx,
                    mm_tensor **y, int *ny) {
    (void)ny;
    int dim;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    return mm_stack(nx, x, dim, y);
}

static int op_split(const drv_case *c, mm_tensor *const *x, int nx,
                    mm_tensor **y, int *ny) {
    (void)nx;
    int dim;
    int64_t size;
    MM_TRY(arg_i64(c, "split_size", 1, &size));
    MM_TRY(arg_int(c, "dim", 0, &dim));
    return mm_split(x[0], size, dim, y, MAX_IO, ny);
}

static int op_chunk(const drv_case *c, mm_tensor *const *x, int nx,
                    mm_tensor **y, int *ny) {
    (void)nx;
    int dim, chunks;
    MM_TRY(arg_int(c, "chunks", 1, &chunks));
    MM_TRY(arg_int(c, "dim", 0, &dim));
    if (chunks > MAX_IO)
        return mm_error_set(MM_EINVAL, "chunk: the driver takes at most %d "
                                       "chunks", MAX_IO);
    return mm_chunk(x[0], chunks, dim, y, ny);
}

static int op_to_dtype(const drv_case *c, mm_tensor *const *x, int nx,
                       mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    const mm_value *v = arg(c, "dtype");
    mm_dtype dt;
    if (!v || !mm_value_is_string(v))
        return mm_error_set(MM_EINVAL, "to_dtype: args.dtype: expected a "
                                       "dtype name");
    MM_TRY(mm_dtype_parse(mm_value_get_string(v), &dt));
    return mm_to_dtype(x[0], dt, y);
}

/* ---- convolution, pooling, normalisation, resampling, attention,
 * reductions, sorting, indexing, padding ------------------------------------
 * Optional tensor inputs: an input listed in args "none" (or past the end)
 * is passed as NULL; the case still carries a placeholder tensor there. */

static mm_tensor *opt_in(const drv_case *c, mm_tensor *const *x, int nx,
                         int i) {
    return i < nx && !arg_has_index(c, "none", i) ? x[i] : NULL;
}

/* A per-spatial-dim parameter: a list of n integers or one integer for all;
 * absent: *p = NULL (the op's default). */
static int arg_spatial(const drv_case *c, const char *key, int n, int64_t *buf,
                       const int64_t **p) {
    int got;
    *p = NULL;
    MM_TRY(arg_i64s(c, key, buf, MM_MAX_DIMS, &got));
    if (got < 0)
        return 0;
    if (got == 1)
        for (int i = 1; i < n; i++)
            buf[i] = buf[0];
    else if (got != n)
        return mm_error_set(MM_EINVAL, "%s: args.%s: expected %d values",
                            c->op, key, n);
    *p = buf;
    return 0;
}

static int run_conv(const drv_case *c, mm_tensor *const *x, int nx,
                    mm_tensor **y, int nsp) {
    int64_t sb[MM_MAX_DIMS], pb[MM_MAX_DIMS], db[MM_MAX_DIMS], groups;
    const int64_t *s, *p, *d;
    MM_TRY(arg_spatial(c, "stride", nsp, sb, &s));
    MM_TRY(arg_spatial(c, "padding", nsp, pb, &p));
    MM_TRY(arg_spatial(c, "dilation", nsp, db, &d));
    MM_TRY(arg_i64(c, "groups", 1, &groups));
    mm_tensor *b = opt_in(c, x, nx, 2);
    if (nsp == 1)
        return mm_conv1d(x[0], x[1], b, s, p, d, groups, y);
    if (nsp == 2)
        return mm_conv2d(x[0], x[1], b, s, p, d, groups, y);
    return mm_conv3d(x[0], x[1], b, s, p, d, groups, y);
}

static int run_conv_t(const drv_case *c, mm_tensor *const *x, int nx,
                      mm_tensor **y, int nsp) {
    int64_t sb[MM_MAX_DIMS], pb[MM_MAX_DIMS], ob[MM_MAX_DIMS], db[MM_MAX_DIMS];
    int64_t groups;
    const int64_t *s, *p, *o, *d;
    MM_TRY(arg_spatial(c, "stride", nsp, sb, &s));
    MM_TRY(arg_spatial(c, "padding", nsp, pb, &p));
    MM_TRY(arg_spatial(c, "output_padding", nsp, ob, &o));
    MM_TRY(arg_spatial(c, "dilation", nsp, db, &d));
    MM_TRY(arg_i64(c, "groups", 1, &groups));
    mm_tensor *b = opt_in(c, x, nx, 2);
    if (nsp == 1)
        return mm_conv_transpose1d(x[0], x[1], b, s, p, o, groups, d, y);
    if (nsp == 2)
        return mm_conv_transpose2d(x[0], x[1], b, s, p, o, groups, d, y);
    return mm_conv_transpose3d(x[0], x[1], b, s, p, o, groups, d, y);
}

static int run_max_pool(const drv_case *c, mm_tensor *const *x, mm_tensor **y,
                        int *ny, int nsp) {
    int64_t kb[MM_MAX_DIMS], sb[MM_MAX_DIMS], pb[MM_MAX_DIMS], db[MM_MAX_DIMS];
    const int64_t *k, *s, *p, *d;
    bool ceil, ret;
    MM_TRY(arg_spatial(c, "kernel_size", nsp, kb, &k));
    MM_TRY(arg_spatial(c, "stride", nsp, sb, &s));
    MM_TRY(arg_spatial(c, "padding", nsp, pb, &p));
    MM_TRY(arg_spatial(c, "dilation", nsp, db, &d));
    MM_TRY(arg_bool(c, "ceil_mode", false, &ceil));
    MM_TRY(arg_bool(c, "return_indices", false, &ret));
    if (!k)
        return mm_error_set(MM_EINVAL, "%s: args.kernel_size missing", c->op);
    *ny = ret ? 2 : 1;
    mm_tensor **idx = ret ? &y[1] : NULL;
    if (nsp == 1)
        return mm_max_pool1d(x[0], k, s, p, d, ceil, &y[0], idx);
    if (nsp == 2)
        return mm_max_pool2d(x[0], k, s, p, d, ceil, &y[0], idx);
    return mm_max_pool3d(x[0], k, s, p, d, ceil, &y[0], idx);
}

static int run_avg_pool(const drv_case *c, mm_tensor *const *x, mm_tensor **y,
                        int nsp) {
    int64_t kb[MM_MAX_DIMS], sb[MM_MAX_DIMS], pb[MM_MAX_DIMS], div;
    const int64_t *k, *s, *p;
    bool ceil, cip;
    MM_TRY(arg_spatial(c, "kernel_size", nsp, kb, &k));
    MM_TRY(arg_spatial(c, "stride", nsp, sb, &s));
    MM_TRY(arg_spatial(c, "padding", nsp, pb, &p));
    MM_TRY(arg_bool(c, "ceil_mode", false, &ceil));
    MM_TRY(arg_bool(c, "count_include_pad", true, &cip));
    MM_TRY(arg_i64(c, "divisor_override", 0, &div));
    if (!k)
        return mm_error_set(MM_EINVAL, "%s: args.kernel_size missing", c->op);
    if (nsp == 1)
        return mm_avg_pool1d(x[0], k, s, p, ceil, cip, y);
    if (nsp == 2)
        return mm_avg_pool2d(x[0], k, s, p, ceil, cip, div, y);
    return mm_avg_pool3d(x[0], k, s, p, ceil, cip, div, y);
}

#define SPATIAL(name, run, n)                                                  \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)ny;                                                              \
        return run(c, x, nx, y, n);                                            \
    }
SPATIAL(conv1d, run_conv, 1)
SPATIAL(conv2d, run_conv, 2)
SPATIAL(conv3d, run_conv, 3)
SPATIAL(conv_transpose1d, run_conv_t, 1)
SPATIAL(conv_transpose2d, run_conv_t, 2)
SPATIAL(conv_transpose3d, run_conv_t, 3)
#undef SPATIAL
#define POOL(name, stmt)                                                       \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        return stmt;                                                           \
    }
POOL(max_pool1d, run_max_pool(c, x, y, ny, 1))
POOL(max_pool2d, run_max_pool(c, x, y, ny, 2))
POOL(max_pool3d, run_max_pool(c, x, y, ny, 3))
POOL(avg_pool1d, run_avg_pool(c, x, y, 1))
POOL(avg_pool2d, run_avg_pool(c, x, y, 2))
POOL(avg_pool3d, run_avg_pool(c, x, y, 3))
#undef POOL

/* output_size: an entry -1 (or null in torch) keeps the input's size. */
static int run_adaptive_avg(const drv_case *c, mm_tensor *const *x,
                            mm_tensor **y, int nsp) {
    int64_t ob[MM_MAX_DIMS];
    const int64_t *o;
    MM_TRY(arg_spatial(c, "output_size", nsp, ob, &o));
    if (!o)
        return mm_error_set(MM_EINVAL, "%s: args.output_size missing", c->op);
    return nsp == 1   ? mm_adaptive_avg_pool1d(x[0], o, y)
           : nsp == 2 ? mm_adaptive_avg_pool2d(x[0], o, y)
                      : mm_adaptive_avg_pool3d(x[0], o, y);
}

static int run_adaptive_max(const drv_case *c, mm_tensor *const *x,
                            mm_tensor **y, int *ny, int nsp) {
    int64_t ob[MM_MAX_DIMS];
    const int64_t *o;
    bool ret;
    MM_TRY(arg_spatial(c, "output_size", nsp, ob, &o));
    MM_TRY(arg_bool(c, "return_indices", false, &ret));
    if (!o)
        return mm_error_set(MM_EINVAL, "%s: args.output_size missing", c->op);
    *ny = ret ? 2 : 1;
    mm_tensor **i = ret ? &y[1] : NULL;
    return nsp == 1   ? mm_adaptive_max_pool1d(x[0], o, &y[0], i)
           : nsp == 2 ? mm_adaptive_max_pool2d(x[0], o, &y[0], i)
                      : mm_adaptive_max_pool3d(x[0], o, &y[0], i);
}

#define ADAPTIVE(name, call)                                                   \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        return call;                                                           \
    }
ADAPTIVE(adaptive_avg_pool1d, run_adaptive_avg(c, x, y, 1))
ADAPTIVE(adaptive_avg_pool2d, run_adaptive_avg(c, x, y, 2))
ADAPTIVE(adaptive_avg_pool3d, run_adaptive_avg(c, x, y, 3))
ADAPTIVE(adaptive_max_pool1d, run_adaptive_max(c, x, y, ny, 1))
ADAPTIVE(adaptive_max_pool2d, run_adaptive_max(c, x, y, ny, 2))
ADAPTIVE(adaptive_max_pool3d, run_adaptive_max(c, x, y, ny, 3))
#undef ADAPTIVE

#define DIM_OP(name, fn)                                                       \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        int dim;                                                               \
        MM_TRY(arg_int(c, "dim", -1, &dim));                                   \
        return fn(x[0], dim, y);                                               \
    }
DIM_OP(softmax, mm_softmax)
DIM_OP(log_softmax, mm_log_softmax)
DIM_OP(cumsum, mm_cumsum)
#undef DIM_OP

/* Inputs x, running_mean, running_var, weight, bias (any but x may be
 * "none"); outputs: the result and, when given, the running stats after the
 * call (updated in place). */
static int run_stat_norm(const drv_case *c, mm_tensor *const *x, int nx,
                         mm_tensor **y, int *ny, bool instance) {
    bool training;
    double momentum, eps;
    MM_TRY(arg_bool(c, instance ? "use_input_stats" : "training", instance,
                    &training));
    MM_TRY(arg_f64(c, "momentum", 0.1, &momentum));
    MM_TRY(arg_f64(c, "eps", 1e-5, &eps));
    mm_tensor *rm = opt_in(c, x, nx, 1), *rv = opt_in(c, x, nx, 2);
    mm_tensor *w = opt_in(c, x, nx, 3), *b = opt_in(c, x, nx, 4);
    MM_TRY(instance ? mm_instance_norm(x[0], rm, rv, w, b, training, momentum,
                                       eps, &y[0])
                    : mm_batch_norm(x[0], rm, rv, w, b, training, momentum,
                                    eps, &y[0]));
    *ny = 1;
    if (rm)
        y[(*ny)++] = rm;
    if (rv)
        y[(*ny)++] = rv;
    return 0;
}

static int op_batch_norm(const drv_case *c, mm_tensor *const *x, int nx,
                         mm_tensor **y, int *ny) {
    return run_stat_norm(c, x, nx, y, ny, false);
}

static int op_instance_norm(const drv_case *c, mm_tensor *const *x, int nx,
                            mm_tensor **y, int *ny) {
    return run_stat_norm(c, x, nx, y, ny, true);
}

static int op_layer_norm(const drv_case *c, mm_tensor *const *x, int nx,
                         mm_tensor **y, int *ny) {
    (void)ny;
    int64_t shape[MM_MAX_DIMS];
    int n;
    double eps;
    MM_TRY(arg_i64s(c, "normalized_shape", shape, MM_MAX_DIMS, &n));
    MM_TRY(arg_f64(c, "eps", 1e-5, &eps));
    return mm_layer_norm(x[0], n < 0 ? 0 : n, shape, opt_in(c, x, nx, 1),
                         opt_in(c, x, nx, 2), eps, y);
}

static int op_group_norm(const drv_case *c, mm_tensor *const *x, int nx,
                         mm_tensor **y, int *ny) {
    (void)ny;
    int64_t groups;
    double eps;
    MM_TRY(arg_i64(c, "num_groups", 1, &groups));
    MM_TRY(arg_f64(c, "eps", 1e-5, &eps));
    return mm_group_norm(x[0], groups, opt_in(c, x, nx, 1),
                         opt_in(c, x, nx, 2), eps, y);
}

static int op_linear(const drv_case *c, mm_tensor *const *x, int nx,
                     mm_tensor **y, int *ny) {
    (void)ny;
    return mm_linear(x[0], x[1], opt_in(c, x, nx, 2), y);
}

/* Only p = 0 or eval mode: the RNGs differ from torch's. */
static int op_dropout(const drv_case *c, mm_tensor *const *x, int nx,
                      mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    double p;
    bool training;
    MM_TRY(arg_f64(c, "p", 0.5, &p));
    MM_TRY(arg_bool(c, "training", true, &training));
    return mm_dropout(x[0], p, training, NULL, y);
}

/* Inputs q, k, v and optionally attn_mask; args dropout_p (0 only: the
 * RNGs differ), is_causal, scale. */
static int op_sdpa(const drv_case *c, mm_tensor *const *x, int nx,
                   mm_tensor **y, int *ny) {
    (void)ny;
    double p, scale;
    bool causal;
    MM_TRY(arg_f64(c, "dropout_p", 0, &p));
    MM_TRY(arg_bool(c, "is_causal", false, &causal));
    MM_TRY(arg_f64(c, "scale", 0, &scale));
    return mm_scaled_dot_product_attention(x[0], x[1], x[2],
                                           opt_in(c, x, nx, 3), p, causal,
                                           arg(c, "scale") ? &scale : NULL,
                                           NULL, y);
}

static int arg_name(const drv_case *c, const char *key, const char *dflt,
                    const char *const *names, int n, int *out) {
    const mm_value *v = arg(c, key);
    const char *s = dflt;
    if (v && !mm_value_is_string(v))
        return mm_error_set(MM_EINVAL, "%s: args.%s: expected a string", c->op,
                            key);
    if (v)
        s = mm_value_get_string(v);
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
    return mm_error_set(MM_EINVAL, "%s: %s '%s' is not supported", c->op, key,
                        s);
}

static int op_interpolate(const drv_case *c, mm_tensor *const *x, int nx,
                          mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    static const char *const modes[] = {"nearest", "bilinear", "bicubic",
                                        "linear", "trilinear"};
    int mode, n;
    bool ac;
    int64_t size[MM_MAX_DIMS];
    double scale[3];
    MM_TRY(arg_name(c, "mode", "nearest", modes, 5, &mode));
    MM_TRY(arg_bool(c, "align_corners", false, &ac));
    MM_TRY(arg_i64s(c, "size", size, MM_MAX_DIMS, &n));
    if (n == 1)
        size[1] = size[2] = size[0];
    const mm_value *sf = arg(c, "scale_factor");
    if (sf && mm_value_is_number(sf)) {
        scale[0] = scale[1] = scale[2] = mm_value_get_float(sf);
    } else if (sf) {
        size_t len = mm_value_is_list(sf) ? mm_value_len(sf) : 0;
        if (len < 1 || len > 3)
            return mm_error_set(MM_EINVAL, "interpolate: args.scale_factor: "
                                           "expected 1 to 3 numbers");
        for (size_t i = 0; i < len; i++)
            scale[i] = mm_value_get_float(mm_value_list_get(sf, i));
    }
    return mm_interpolate(x[0], n < 0 ? NULL : size, sf ? scale : NULL,
                          (mm_interp_mode)mode, ac, y);
}

static int op_grid_sample(const drv_case *c, mm_tensor *const *x, int nx,
                          mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    static const char *const modes[] = {"bilinear", "nearest"};
    static const char *const pads[] = {"zeros", "border", "reflection"};
    int mode, pad;
    bool ac;
    MM_TRY(arg_name(c, "mode", "bilinear", modes, 2, &mode));
    MM_TRY(arg_name(c, "padding_mode", "zeros", pads, 3, &pad));
    MM_TRY(arg_bool(c, "align_corners", false, &ac));
    return mm_grid_sample(x[0], x[1], (mm_grid_sample_mode)mode,
                          (mm_grid_sample_padding)pad, ac, y);
}

/* Reductions with dims and keepdim (the REDUCE shape of sum and mean). */
#define REDUCE(name, fn)                                                       \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        int dims[MM_MAX_DIMS], nd;                                             \
        bool keep;                                                             \
        MM_TRY(arg_ints(c, "dim", dims, MM_MAX_DIMS, &nd));                    \
        MM_TRY(arg_bool(c, "keepdim", false, &keep));                          \
        return fn(x[0], nd < 0 ? 0 : nd, dims, keep, y);                       \
    }
REDUCE(amax, mm_amax)
REDUCE(amin, mm_amin)
REDUCE(logsumexp, mm_logsumexp)
REDUCE(prod, mm_prod)
REDUCE(all, mm_all)
REDUCE(any, mm_any)
#undef REDUCE

#define VAR(name, fn)                                                          \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        int dims[MM_MAX_DIMS], nd;                                             \
        bool keep;                                                             \
        double corr;                                                           \
        MM_TRY(arg_ints(c, "dim", dims, MM_MAX_DIMS, &nd));                    \
        MM_TRY(arg_bool(c, "keepdim", false, &keep));                          \
        MM_TRY(arg_f64(c, "correction", 1, &corr));                            \
        return fn(x[0], nd < 0 ? 0 : nd, dims, corr, keep, y);                 \
    }
VAR(var, mm_var)
VAR(std, mm_std)
#undef VAR

static int op_norm(const drv_case *c, mm_tensor *const *x, int nx,
                   mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dims[MM_MAX_DIMS], nd;
    bool keep;
    double p;
    MM_TRY(arg_ints(c, "dim", dims, MM_MAX_DIMS, &nd));
    MM_TRY(arg_bool(c, "keepdim", false, &keep));
    MM_TRY(arg_f64(c, "p", 2, &p));
    return mm_norm(x[0], p, nd < 0 ? 0 : nd, dims, keep, y);
}

#define MAXMIN(name, fn)                                                       \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx;                                                              \
        int dim;                                                               \
        bool keep;                                                             \
        MM_TRY(arg_int(c, "dim", 0, &dim));                                    \
        MM_TRY(arg_bool(c, "keepdim", false, &keep));                          \
        *ny = 2;                                                               \
        return fn(x[0], dim, keep, &y[0], &y[1]);                              \
    }
MAXMIN(max_dim, mm_max_dim)
MAXMIN(min_dim, mm_min_dim)
#undef MAXMIN

#define ARGM(name, fn)                                                         \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        int dim;                                                               \
        bool keep;                                                             \
        MM_TRY(arg_int(c, "dim", 0, &dim));                                    \
        MM_TRY(arg_bool(c, "keepdim", false, &keep));                          \
        return fn(x[0], arg(c, "dim") ? &dim : NULL, keep, y);                 \
    }
ARGM(argmax, mm_argmax)
ARGM(argmin, mm_argmin)
#undef ARGM

static int op_sort(const drv_case *c, mm_tensor *const *x, int nx,
                   mm_tensor **y, int *ny) {
    (void)nx;
    int dim;
    bool desc, stable;
    MM_TRY(arg_int(c, "dim", -1, &dim));
    MM_TRY(arg_bool(c, "descending", false, &desc));
    MM_TRY(arg_bool(c, "stable", false, &stable));
    *ny = 2;
    return mm_sort(x[0], dim, desc, stable, &y[0], &y[1]);
}

static int op_argsort(const drv_case *c, mm_tensor *const *x, int nx,
                      mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    bool desc, stable;
    MM_TRY(arg_int(c, "dim", -1, &dim));
    MM_TRY(arg_bool(c, "descending", false, &desc));
    MM_TRY(arg_bool(c, "stable", false, &stable));
    return mm_argsort(x[0], dim, desc, stable, y);
}

static int op_topk(const drv_case *c, mm_tensor *const *x, int nx,
                   mm_tensor **y, int *ny) {
    (void)nx;
    int dim;
    int64_t k;
    bool largest, sorted;
    MM_TRY(arg_i64(c, "k", 1, &k));
    MM_TRY(arg_int(c, "dim", -1, &dim));
    MM_TRY(arg_bool(c, "largest", true, &largest));
    MM_TRY(arg_bool(c, "sorted", true, &sorted));
    *ny = 2;
    return mm_topk(x[0], k, dim, largest, sorted, &y[0], &y[1]);
}

static int op_gather(const drv_case *c, mm_tensor *const *x, int nx,
                     mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    return mm_gather(x[0], dim, x[1], y);
}

static int op_index_select(const drv_case *c, mm_tensor *const *x, int nx,
                           mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    return mm_index_select(x[0], dim, x[1], y);
}

#define SCATTER(name, fn)                                                      \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        int dim;                                                               \
        MM_TRY(arg_int(c, "dim", 0, &dim));                                    \
        return fn(x[0], dim, x[1], x[2], y);                                   \
    }
SCATTER(scatter, mm_scatter)
SCATTER(scatter_add, mm_scatter_add)
#undef SCATTER

static int op_scatter_value(const drv_case *c, mm_tensor *const *x, int nx,
                            mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    double value;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    MM_TRY(arg_f64(c, "value", 0, &value));
    return mm_scatter_value(x[0], dim, x[1], value, y);
}

static int op_index_add(const drv_case *c, mm_tensor *const *x, int nx,
                        mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int dim;
    double alpha;
    MM_TRY(arg_int(c, "dim", 0, &dim));
    MM_TRY(arg_f64(c, "alpha", 1, &alpha));
    return mm_index_add(x[0], dim, x[1], x[2], alpha, y);
}

static int op_masked_fill(const drv_case *c, mm_tensor *const *x, int nx,
                          mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    double value;
    MM_TRY(arg_f64(c, "value", 0, &value));
    return mm_masked_fill(x[0], x[1], value, y);
}

BINARY(masked_select, mm_masked_select)
UNARY(nonzero, mm_nonzero)

static int op_one_hot(const drv_case *c, mm_tensor *const *x, int nx,
                      mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t n;
    MM_TRY(arg_i64(c, "num_classes", -1, &n));
    return mm_one_hot(x[0], n, y);
}

/* Inputs: weight, indices (F.embedding(indices, weight) in torch). */
static int op_embedding(const drv_case *c, mm_tensor *const *x, int nx,
                        mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t pad;
    MM_TRY(arg_i64(c, "padding_idx", 0, &pad));
    return mm_embedding(x[0], x[1], pad, arg(c, "padding_idx") != NULL, y);
}

/* Outputs: values, then inverse and counts when asked. */
static int op_unique(const drv_case *c, mm_tensor *const *x, int nx,
                     mm_tensor **y, int *ny) {
    (void)nx;
    bool sorted, inv, cnt;
    MM_TRY(arg_bool(c, "sorted", true, &sorted));
    MM_TRY(arg_bool(c, "return_inverse", false, &inv));
    MM_TRY(arg_bool(c, "return_counts", false, &cnt));
    mm_tensor *vi = NULL, *vc = NULL;
    MM_TRY(mm_unique(x[0], sorted, &y[0], inv ? &vi : NULL,
                     cnt ? &vc : NULL));
    *ny = 1;
    if (inv)
        y[(*ny)++] = vi;
    if (cnt)
        y[(*ny)++] = vc;
    return 0;
}

static int op_pad(const drv_case *c, mm_tensor *const *x, int nx,
                  mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    static const char *const modes[] = {"constant", "reflect", "replicate"};
    int64_t pads[2 * MM_MAX_DIMS];
    int n, mode;
    double value;
    MM_TRY(arg_i64s(c, "pad", pads, 2 * MM_MAX_DIMS, &n));
    MM_TRY(arg_name(c, "mode", "constant", modes, 3, &mode));
    MM_TRY(arg_f64(c, "value", 0, &value));
    return mm_pad(x[0], n < 0 ? 0 : n, pads, (mm_pad_mode)mode, value, y);
}

static int op_roll(const drv_case *c, mm_tensor *const *x, int nx,
                   mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t shifts[MM_MAX_DIMS];
    int dims[MM_MAX_DIMS], ns, nd;
    MM_TRY(arg_i64s(c, "shifts", shifts, MM_MAX_DIMS, &ns));
    MM_TRY(arg_ints(c, "dims", dims, MM_MAX_DIMS, &nd));
    return mm_roll(x[0], ns < 0 ? 0 : ns, shifts, nd < 0 ? 0 : nd, dims, y);
}

static int op_pixel_shuffle(const drv_case *c, mm_tensor *const *x, int nx,
                            mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t r;
    MM_TRY(arg_i64(c, "factor", 2, &r));
    return mm_pixel_shuffle(x[0], r, y);
}

static int op_pixel_unshuffle(const drv_case *c, mm_tensor *const *x, int nx,
                              mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    int64_t r;
    MM_TRY(arg_i64(c, "factor", 2, &r));
    return mm_pixel_unshuffle(x[0], r, y);
}

/* ---- elementwise math, comparisons, selection, activations
 * (mm/elementwise.h) ------------------------------------------------------- */
UNARY(abs, mm_abs)
UNARY(sign, mm_sign)
UNARY(floor, mm_floor)
UNARY(ceil, mm_ceil)
UNARY(round, mm_round)
UNARY(log1p, mm_log1p)
UNARY(sqrt, mm_sqrt)
UNARY(rsqrt, mm_rsqrt)
UNARY(sin, mm_sin)
UNARY(cos, mm_cos)
UNARY(erf, mm_erf)
UNARY(logical_not, mm_logical_not)
UNARY(relu6, mm_relu6)
UNARY(silu, mm_silu)
UNARY(hardswish, mm_hardswish)
UNARY(hardsigmoid, mm_hardsigmoid)
UNARY(mish, mm_mish)
BINARY(pow, mm_pow)
BINARY(maximum, mm_maximum)
BINARY(minimum, mm_minimum)
BINARY(eq, mm_eq)
BINARY(ne, mm_ne)
BINARY(lt, mm_lt)
BINARY(le, mm_le)
BINARY(gt, mm_gt)
BINARY(ge, mm_ge)
BINARY(logical_and, mm_logical_and)
BINARY(logical_or, mm_logical_or)
BINARY(logical_xor, mm_logical_xor)
BINARY(prelu, mm_prelu)

#define SCALAR_ARG(name, fn, key, dflt)                                        \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        double s;                                                              \
        MM_TRY(arg_f64(c, key, dflt, &s));                                     \
        return fn(x[0], s, y);                                                 \
    }
SCALAR_ARG(pow_scalar, mm_pow_scalar, "exponent", 1)
SCALAR_ARG(eq_scalar, mm_eq_scalar, "scalar", 0)
SCALAR_ARG(ne_scalar, mm_ne_scalar, "scalar", 0)
SCALAR_ARG(lt_scalar, mm_lt_scalar, "scalar", 0)
SCALAR_ARG(le_scalar, mm_le_scalar, "scalar", 0)
SCALAR_ARG(gt_scalar, mm_gt_scalar, "scalar", 0)
SCALAR_ARG(ge_scalar, mm_ge_scalar, "scalar", 0)
SCALAR_ARG(leaky_relu, mm_leaky_relu, "negative_slope", 0.01)
SCALAR_ARG(elu, mm_elu, "alpha", 1)
#undef SCALAR_ARG

static int op_where(const drv_case *c, mm_tensor *const *x, int nx,
                    mm_tensor **y, int *ny) {
    (void)c, (void)nx, (void)ny;
    return mm_where(x[0], x[1], x[2], y);
}

/* args min and/or max: clamp, clamp_min or clamp_max. */
static int op_clamp(const drv_case *c, mm_tensor *const *x, int nx,
                    mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    double lo, hi;
    MM_TRY(arg_f64(c, "min", 0, &lo));
    MM_TRY(arg_f64(c, "max", 0, &hi));
    if (arg(c, "min") && arg(c, "max"))
        return mm_clamp(x[0], lo, hi, y);
    if (arg(c, "min"))
        return mm_clamp_min(x[0], lo, y);
    if (arg(c, "max"))
        return mm_clamp_max(x[0], hi, y);
    return mm_error_set(MM_EINVAL, "clamp: at least one of min and max");
}

/* Inputs x, min, max (either bound may be "none"). */
static int op_clamp_tensor(const drv_case *c, mm_tensor *const *x, int nx,
                           mm_tensor **y, int *ny) {
    (void)ny;
    return mm_clamp_tensor(x[0], opt_in(c, x, nx, 1), opt_in(c, x, nx, 2), y);
}

static int op_gelu(const drv_case *c, mm_tensor *const *x, int nx,
                   mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    static const char *const approx[] = {"none", "tanh"};
    int a;
    MM_TRY(arg_name(c, "approximate", "none", approx, 2, &a));
    return mm_gelu(x[0], (mm_gelu_approximate)a, y);
}

static int op_softplus(const drv_case *c, mm_tensor *const *x, int nx,
                       mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    double beta, threshold;
    MM_TRY(arg_f64(c, "beta", 1, &beta));
    MM_TRY(arg_f64(c, "threshold", 20, &threshold));
    return mm_softplus(x[0], beta, threshold, y);
}

/* ---- losses (mm/loss.h) ----------------------------------------------------
 * args reduction: "none", "mean" (default) or "sum". */
static int arg_reduction(const drv_case *c, mm_loss_reduction *out) {
    static const char *const names[] = {"none", "mean", "sum"};
    int r;
    MM_TRY(arg_name(c, "reduction", "mean", names, 3, &r));
    *out = (mm_loss_reduction)r;
    return 0;
}

/* Inputs input, target, weight (optional). */
static int op_cross_entropy(const drv_case *c, mm_tensor *const *x, int nx,
                            mm_tensor **y, int *ny) {
    (void)ny;
    mm_loss_reduction red;
    int64_t ignore;
    double ls;
    MM_TRY(arg_reduction(c, &red));
    MM_TRY(arg_i64(c, "ignore_index", MM_IGNORE_INDEX, &ignore));
    MM_TRY(arg_f64(c, "label_smoothing", 0, &ls));
    return mm_cross_entropy(x[0], x[1], opt_in(c, x, nx, 2), ignore, red, ls,
                            y);
}

static int op_nll_loss(const drv_case *c, mm_tensor *const *x, int nx,
                       mm_tensor **y, int *ny) {
    (void)ny;
    mm_loss_reduction red;
    int64_t ignore;
    MM_TRY(arg_reduction(c, &red));
    MM_TRY(arg_i64(c, "ignore_index", MM_IGNORE_INDEX, &ignore));
    return mm_nll_loss(x[0], x[1], opt_in(c, x, nx, 2), ignore, red, y);
}

static int op_binary_cross_entropy(const drv_case *c, mm_tensor *const *x,
                                   int nx, mm_tensor **y, int *ny) {
    (void)ny;
    mm_loss_reduction red;
    MM_TRY(arg_reduction(c, &red));
    return mm_binary_cross_entropy(x[0], x[1], opt_in(c, x, nx, 2), red, y);
}

/* Inputs input, target, weight, pos_weight (the last two optional). */
static int op_bce_with_logits(const drv_case *c, mm_tensor *const *x, int nx,
                              mm_tensor **y, int *ny) {
    (void)ny;
    mm_loss_reduction red;
    MM_TRY(arg_reduction(c, &red));
    return mm_binary_cross_entropy_with_logits(
        x[0], x[1], opt_in(c, x, nx, 2), opt_in(c, x, nx, 3), red, y);
}

#define POINT_LOSS(name, fn)                                                   \
    static int op_##name(const drv_case *c, mm_tensor *const *x, int nx,      \
                         mm_tensor **y, int *ny) {                             \
        (void)nx, (void)ny;                                                    \
        mm_loss_reduction red;                                                 \
        MM_TRY(arg_reduction(c, &red));                                        \
        return fn(x[0], x[1], red, y);                                         \
    }
POINT_LOSS(mse_loss, mm_mse_loss)
POINT_LOSS(l1_loss, mm_l1_loss)
#undef POINT_LOSS

static int op_smooth_l1_loss(const drv_case *c, mm_tensor *const *x, int nx,
                             mm_tensor **y, int *ny) {
    (void)nx, (void)ny;
    mm_loss_reduction red;
    double beta;
    MM_TRY(arg_reduction(c, &red));
    MM_TRY(arg_f64(c, "beta", 1, &beta));
    return mm_smooth_l1_loss(x[0], x[1], red, beta, y);
}

/* The dispatch table: name (the case's "op"), number of inputs (-1: any
 * number >= 1), function. Keep it sorted by family; one row per op. */
typedef struct drv_op {
    const char *name;
    int n_inputs;
    drv_op_fn fn;
} drv_op;

static const drv_op ops[] = {
    /* elementwise */
    {"add", 2, op_add},
    {"sub", 2, op_sub},
    {"mul", 2, op_mul},
    {"div", 2, op_div},
    {"add_scalar", 1, op_add_scalar},
    {"sub_scalar", 1, op_sub_scalar},
    {"mul_scalar", 1, op_mul_scalar},
    {"div_scalar", 1, op_div_scalar},
    {"neg", 1, op_neg},
    {"exp", 1, op_exp},
    {"ln", 1, op_ln},
    {"relu", 1, op_relu},
    {"sigmoid", 1, op_sigmoid},
    {"tanh", 1, op_tanh},
    /* reductions */
    {"sum", 1, op_sum},
    {"mean", 1, op_mean},
    /* linear algebra */
    {"matmul", 2, op_matmul},
    {"bmm", 2, op_bmm},
    /* views, shapes, copies */
    {"reshape", 1, op_reshape},
    {"view", 1, op_view},
    {"permute", 1, op_permute},
    {"transpose", 1, op_transpose},
    {"narrow", 1, op_narrow},
    {"slice", 1, op_slice},
    {"select", 1, op_select},
    {"expand", 1, op_expand},
    {"squeeze", 1, op_squeeze},
    {"unsqueeze", 1, op_unsqueeze},
    {"flatten", 1, op_flatten},
    {"cat", -1, op_cat},
    {"stack", -1, op_stack},
    {"split", 1, op_split},
    {"chunk", 1, op_chunk},
    {"flip", 1, op_flip},
    {"repeat", 1, op_repeat},
    {"contiguous", 1, op_contiguous},
    {"clone", 1, op_clone},
    {"to_dtype", 1, op_to_dtype},
    /* losses (optional weight / pos_weight inputs) */
    {"cross_entropy", -1, op_cross_entropy},
    {"nll_loss", -1, op_nll_loss},
    {"binary_cross_entropy", -1, op_binary_cross_entropy},
    {"binary_cross_entropy_with_logits", -1, op_bce_with_logits},
    {"mse_loss", 2, op_mse_loss},
    {"l1_loss", 2, op_l1_loss},
    {"smooth_l1_loss", 2, op_smooth_l1_loss},
    /* elementwise math, comparisons, selection, activations */
    {"pow", 2, op_pow},
    {"pow_scalar", 1, op_pow_scalar},
    {"maximum", 2, op_maximum},
    {"minimum", 2, op_minimum},
    {"eq", 2, op_eq},
    {"ne", 2, op_ne},
    {"lt", 2, op_lt},
    {"le", 2, op_le},
    {"gt", 2, op_gt},
    {"ge", 2, op_ge},
    {"eq_scalar", 1, op_eq_scalar},
    {"ne_scalar", 1, op_ne_scalar},
    {"lt_scalar", 1, op_lt_scalar},
    {"le_scalar", 1, op_le_scalar},
    {"gt_scalar", 1, op_gt_scalar},
    {"ge_scalar", 1, op_ge_scalar},
    {"logical_and", 2, op_logical_and},
    {"logical_or", 2, op_logical_or},
    {"logical_xor", 2, op_logical_xor},
    {"logical_not", 1, op_logical_not},
    {"where", 3, op_where},
    {"clamp", 1, op_clamp},
    {"clamp_tensor", 3, op_clamp_tensor},
    {"abs", 1, op_abs},
    {"sign", 1, op_sign},
    {"floor", 1, op_floor},
    {"ceil", 1, op_ceil},
    {"round", 1, op_round},
    {"log1p", 1, op_log1p},
    {"sqrt", 1, op_sqrt},
    {"rsqrt", 1, op_rsqrt},
    {"sin", 1, op_sin},
    {"cos", 1, op_cos},
    {"erf", 1, op_erf},
    {"relu6", 1, op_relu6},
    {"leaky_relu", 1, op_leaky_relu},
    {"prelu", 2, op_prelu},
    {"elu", 1, op_elu},
    {"gelu", 1, op_gelu},
    {"silu", 1, op_silu},
    {"hardswish", 1, op_hardswish},
    {"hardsigmoid", 1, op_hardsigmoid},
    {"mish", 1, op_mish},
    {"softplus", 1, op_softplus},
    /* convolution and pooling (optional bias: input 2, or "none") */
    {"conv1d", -1, op_conv1d},
    {"conv2d", -1, op_conv2d},
    {"conv3d", -1, op_conv3d},
    {"conv_transpose1d", -1, op_conv_transpose1d},
    {"conv_transpose2d", -1, op_conv_transpose2d},
    {"conv_transpose3d", -1, op_conv_transpose3d},
    {"max_pool1d", 1, op_max_pool1d},
    {"max_pool2d", 1, op_max_pool2d},
    {"max_pool3d", 1, op_max_pool3d},
    {"avg_pool1d", 1, op_avg_pool1d},
    {"avg_pool2d", 1, op_avg_pool2d},
    {"avg_pool3d", 1, op_avg_pool3d},
    {"adaptive_avg_pool2d", 1, op_adaptive_avg_pool2d},
    {"adaptive_max_pool2d", 1, op_adaptive_max_pool2d},
    {"adaptive_avg_pool1d", 1, op_adaptive_avg_pool1d},
    {"adaptive_avg_pool3d", 1, op_adaptive_avg_pool3d},
    {"adaptive_max_pool1d", 1, op_adaptive_max_pool1d},
    {"adaptive_max_pool3d", 1, op_adaptive_max_pool3d},
    /* normalisation, linear, attention, resampling */
    {"softmax", 1, op_softmax},
    {"log_softmax", 1, op_log_softmax},
    {"batch_norm", 5, op_batch_norm},
    {"instance_norm", 5, op_instance_norm},
    {"layer_norm", 3, op_layer_norm},
    {"group_norm", 3, op_group_norm},
    {"linear", -1, op_linear},
    {"dropout", 1, op_dropout},
    {"scaled_dot_product_attention", -1, op_sdpa},
    {"interpolate", 1, op_interpolate},
    {"grid_sample", 2, op_grid_sample},
    /* reductions (mm/reduction.h) */
    {"amax", 1, op_amax},
    {"amin", 1, op_amin},
    {"var", 1, op_var},
    {"std", 1, op_std},
    {"logsumexp", 1, op_logsumexp},
    {"norm", 1, op_norm},
    {"prod", 1, op_prod},
    {"all", 1, op_all},
    {"any", 1, op_any},
    {"max_dim", 1, op_max_dim},
    {"min_dim", 1, op_min_dim},
    {"argmax", 1, op_argmax},
    {"argmin", 1, op_argmin},
    {"cumsum", 1, op_cumsum},
    /* sorting */
    {"sort", 1, op_sort},
    {"argsort", 1, op_argsort},
    {"topk", 1, op_topk},
    /* indexing */
    {"gather", 2, op_gather},
    {"index_select", 2, op_index_select},
    {"scatter", 3, op_scatter},
    {"scatter_value", 2, op_scatter_value},
    {"scatter_add", 3, op_scatter_add},
    {"index_add", 3, op_index_add},
    {"masked_fill", 2, op_masked_fill},
    {"masked_select", 2, op_masked_select},
    {"nonzero", 1, op_nonzero},
    {"one_hot", 1, op_one_hot},
    {"embedding", 2, op_embedding},
    {"unique", 1, op_unique},
    /* copying shape ops */
    {"pad", 1, op_pad},
    {"roll", 1, op_roll},
    {"pixel_shuffle", 1, op_pixel_shuffle},
    {"pixel_unshuffle", 1, op_pixel_unshuffle},
};

static const drv_op *find_op(const char *name) {
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, name) == 0)
            return &ops[i];
    return NULL;
}

/* ---- results ------------------------------------------------------------ */

typedef struct results {
    int n;
    char names[4 * MAX_IO][64];
    mm_tensor *t[4 * MAX_IO]; /* borrowed from the case's pool */
} results;

static int put(results *r, const char *name, mm_tensor *t) {
    if (r->n >= 4 * MAX_IO)
        return mm_error_set(MM_ERANGE, "driver: too many results");
    snprintf(r->names[r->n], sizeof r->names[0], "%s", name);
    r->t[r->n++] = t;
    return 0;
}

/* ---- running a case ----------------------------------------------------- */

/* The same values in a non-contiguous layout: stored with the last two dims
 * swapped (2-D and up) or every other element of a [n, 2] tensor (1-D). */
static int make_noncontig(mm_tensor *x, mm_tensor **out) {
    mm_tensor *a, *b;
    if (x->ndim >= 2) {
        MM_TRY(mm_transpose(x, -1, -2, &a));
        MM_TRY(mm_contiguous(a, &b));
        return mm_transpose(b, -1, -2, out);
    }
    if (x->ndim == 1) {
        mm_tensor *pair[2] = {x, x};
        MM_TRY(mm_stack(2, pair, 1, &a));
        return mm_select(a, 1, 0, out);
    }
    *out = x;
    return 0;
}

static int load_inputs(const drv_case *c, const mm_checkpoint *f,
                       const char *prefix, mm_tensor **x, int *n) {
    *n = 0;
    for (;;) {
        char name[64];
        snprintf(name, sizeof name, "%s.%d", prefix, *n);
        mm_tensor *e = mm_checkpoint_get(f, name);
        if (!e)
            return 0;
        if (*n >= MAX_IO)
            return mm_error_set(MM_ERANGE, "%s: more than %d %s tensors",
                                c->op, MAX_IO, prefix);
        /* A copy in the case's pool: the op may change it in place. */
        MM_TRY(mm_clone(e, &x[*n]));
        (*n)++;
    }
}

static int run_op(const drv_case *c, const drv_op *op, const mm_checkpoint *f,
                  results *r) {
    mm_tensor *x[MAX_IO], *g[MAX_IO], *y[MAX_IO] = {0};
    int nx, ng, ny = 1;
    MM_TRY(load_inputs(c, f, "input", x, &nx));
    MM_TRY(load_inputs(c, f, "grad_output", g, &ng));
    if (op->n_inputs >= 0 ? nx != op->n_inputs : nx < 1)
        return mm_error_set(MM_EINVAL, "%s: the case has %d inputs, the op "
                                       "takes %d",
                            c->op, nx, op->n_inputs);
    mm_no_grad_push();
    int rc = 0;
    for (int i = 0; i < nx && rc == 0; i++) {
        if (arg_has_index(c, "noncontig", i))
            rc = make_noncontig(x[i], &x[i]);
        if (rc == 0 && mm_dtype_is_float(x[i]->dtype) &&
            !arg_has_index(c, "no_grad", i))
            rc = mm_tensor_set_requires_grad(x[i], true);
    }
    mm_no_grad_pop();
    if (rc < 0)
        return rc;
    MM_TRY(op->fn(c, x, nx, y, &ny));
    if (ny < 0 || ny > MAX_IO)
        return mm_error_set(MM_EINTERNAL, "%s: bad output count", c->op);
    for (int k = 0; k < ng && k < ny; k++)
        if (y[k]->requires_grad)
            MM_TRY(mm_backward_with_grad(y[k], g[k]));
    char name[64];
    for (int k = 0; k < ny; k++) {
        snprintf(name, sizeof name, "output.%d", k);
        MM_TRY(put(r, name, y[k]));
    }
    for (int i = 0; i < nx; i++) {
        if (!x[i]->grad)
            continue;
        snprintf(name, sizeof name, "grad_input.%d", i);
        MM_TRY(put(r, name, x[i]->grad));
    }
    return 0;
}

/* Optimizer cases. op "optim"; args {"kind": "sgd", "steps": S, "groups":
 * [{"params": [indices], hyper-parameter: value, ...}, ...], "set_lr":
 * [[step, group, lr], ...] (before that step), "skip": [[step, param], ...]
 * (no gradient for that parameter at that step)}; tensors "param.I" (the
 * initial values) and "grad.I" ([S, *shape]: the gradient at each step).
 * Results: "param.I" ([S, *shape]: the values after each step) and every
 * state entry by its name ("state.I.exp_avg"). */
static bool pair_listed(const mm_value *list, int64_t a, int64_t b) {
    for (size_t i = 0; list && i < mm_value_len(list); i++) {
        const mm_value *p = mm_value_list_get(list, i);
        if (mm_value_is_list(p) && mm_value_len(p) >= 2 &&
            mm_value_get_int(mm_value_list_get(p, 0)) == a &&
            mm_value_get_int(mm_value_list_get(p, 1)) == b)
            return true;
    }
    return false;
}

static int run_optim_with(const drv_case *c, mm_optimizer *opt,
                          const mm_checkpoint *f, results *r) {
    mm_tensor *p[MAX_IO], *g[MAX_IO], *traj[MAX_IO];
    int np, ng;
    MM_TRY(load_inputs(c, f, "param", p, &np));
    MM_TRY(load_inputs(c, f, "grad", g, &ng));
    int64_t steps;
    MM_TRY(arg_i64(c, "steps", 1, &steps));
    if (ng != np || np == 0)
        return mm_error_set(MM_EINVAL, "optim: %d params but %d grads", np, ng);
    for (int i = 0; i < np; i++) {
        if (g[i]->ndim != p[i]->ndim + 1 || g[i]->shape[0] != steps)
            return mm_error_set(MM_EINVAL, "optim: grad.%d is not [steps, "
                                           "*param.shape]",
                                i);
        MM_TRY(mm_tensor_set_requires_grad(p[i], true));
        int64_t shape[MM_MAX_DIMS + 1];
        shape[0] = steps;
        memcpy(shape + 1, p[i]->shape, sizeof(int64_t) * (size_t)p[i]->ndim);
        MM_TRY(mm_empty(p[i]->ndim + 1, shape, p[i]->dtype, &traj[i]));
    }
    const mm_value *groups = arg(c, "groups");
    if (!groups || !mm_value_is_list(groups) || mm_value_len(groups) == 0)
        return mm_error_set(MM_EINVAL, "optim: args.groups: expected a list");
    for (size_t gi = 0; gi < mm_value_len(groups); gi++) {
        const mm_value *grp = mm_value_list_get(groups, gi);
        if (!mm_value_is_dict(grp))
            return mm_error_set(MM_EINVAL, "optim: group %zu is not a dict",
                                gi);
        const mm_value *idx = mm_value_dict_get(grp, "params");
        mm_tensor *gp[MAX_IO];
        int n = 0;
        for (size_t k = 0; idx && mm_value_is_list(idx) &&
                           k < mm_value_len(idx) && n < MAX_IO;
             k++) {
            int64_t j = mm_value_get_int(mm_value_list_get(idx, k));
            if (j < 0 || j >= np)
                return mm_error_set(MM_EINVAL, "optim: no param %lld",
                                    (long long)j);
            gp[n++] = p[j];
        }
        MM_TRY(mm_optimizer_add_param_group(opt, n, gp, NULL));
        int gidx = mm_optimizer_n_groups(opt) - 1;
        for (size_t k = 0; k < mm_value_len(grp); k++) {
            const char *key = mm_value_dict_key_at(grp, k);
            const mm_value *v = mm_value_dict_value_at(grp, k);
            if (strcmp(key, "params") == 0)
                continue;
            if (!mm_value_is_bool(v) && !mm_value_is_number(v))
                return mm_error_set(MM_EINVAL, "optim: group key '%s': "
                                               "expected a number or boolean",
                                    key);
            double d = mm_value_is_bool(v) ? mm_value_get_bool(v)
                                           : mm_value_get_float(v);
            MM_TRY(mm_optimizer_group_set(opt, gidx, key, d));
        }
    }
    const mm_value *skip = arg(c, "skip"), *set_lr = arg(c, "set_lr");
    for (int64_t s = 0; s < steps; s++) {
        for (size_t k = 0; set_lr && k < mm_value_len(set_lr); k++) {
            const mm_value *e = mm_value_list_get(set_lr, k);
            if (!mm_value_is_list(e) || mm_value_len(e) != 3)
                return mm_error_set(MM_EINVAL, "optim: args.set_lr: expected "
                                               "[step, group, lr] triples");
            if (mm_value_get_int(mm_value_list_get(e, 0)) == s)
                MM_TRY(mm_optimizer_set_lr(
                    opt, (int)mm_value_get_int(mm_value_list_get(e, 1)),
                    mm_value_get_float(mm_value_list_get(e, 2))));
        }
        mm_pool *pool;
        MM_TRY(mm_pool_open(&pool));
        int rc = 0;
        /* The gradient arrives through backward, as in training: the loss
         * sum(param * g) has exactly g as its gradient. */
        for (int i = 0; i < np && rc == 0; i++) {
            mm_tensor_zero_grad(p[i]);
            if (pair_listed(skip, s, i))
                continue;
            mm_tensor *gs, *prod, *loss;
            rc = mm_select(g[i], 0, s, &gs);
            if (rc == 0)
                rc = mm_mul(p[i], gs, &prod);
            if (rc == 0)
                rc = mm_sum(prod, 0, NULL, false, &loss);
            if (rc == 0)
                rc = mm_backward(loss);
        }
        mm_no_grad_push();
        if (rc == 0)
            rc = mm_optimizer_step(opt);
        for (int i = 0; i < np && rc == 0; i++) {
            mm_tensor *row;
            rc = mm_select(traj[i], 0, s, &row);
            if (rc == 0)
                rc = mm_tensor_copy_(row, p[i]);
        }
        mm_no_grad_pop();
        mm_pool_close(pool);
        MM_TRY(rc);
    }
    char name[64];
    for (int i = 0; i < np; i++) {
        snprintf(name, sizeof name, "param.%d", i);
        MM_TRY(put(r, name, traj[i]));
    }
    size_t ns = mm_optimizer_state_count(opt);
    for (size_t i = 0; i < ns; i++) {
        mm_tensor *t;
        MM_TRY(mm_optimizer_state_at(opt, i, name, sizeof name, &t));
        MM_TRY(put(r, name, t));
    }
    return 0;
}

static int run_optim(const drv_case *c, const mm_checkpoint *f, results *r) {
    const mm_value *k = arg(c, "kind");
    mm_optim_kind kind;
    if (!k || !mm_value_is_string(k))
        return mm_error_set(MM_EINVAL, "optim: args.kind: expected a name");
    MM_TRY(mm_optim_kind_parse(mm_value_get_string(k), &kind));
    mm_optimizer *opt;
    MM_TRY(mm_optimizer_new(kind, NULL, &opt));
    int rc = run_optim_with(c, opt, f, r);
    /* The optimizer's state goes with it: keep what the results show. */
    for (int i = 0; rc == 0 && i < r->n; i++)
        rc = mm_tensor_autorelease(mm_tensor_retain(r->t[i]));
    mm_optimizer_free(opt);
    return rc;
}

/* Module cases: op "module"; args {"module": the layer's config with
 * torch's argument names ({"type": "Conv2d", "in_channels": 3, ...}, built
 * through the MODELS registry), "training": bool (default true), and the
 * ops' "no_grad" / "none"}; tensors "state.NAME" (torch's state_dict, loaded
 * strictly after the module is converted to input.0's float dtype),
 * "input.I", "grad_output.0". Results: "output.0", "grad_input.I",
 * "grad.NAME" for each parameter with a gradient and "state.NAME" for each
 * buffer after the call (running stats, num_batches_tracked).
 * MultiheadAttention takes query, key, value, key_padding_mask, attn_mask
 * (any of the last four may be "none"); a ModuleList runs its children in
 * order. With an integer input.0 (Embedding) the module takes the float
 * dtype of the state. */
typedef struct module_walk {
    results *r;
    const char *prefix;
    bool grads;
} module_walk;

static int put_named(const char *name, mm_tensor *t, void *user) {
    module_walk *w = user;
    char full[64];
    if (w->grads) {
        if (!t->grad)
            return 0;
        t = t->grad;
    }
    snprintf(full, sizeof full, "%s%s", w->prefix, name);
    MM_TRY(put(w->r, full, t));
    return mm_tensor_autorelease(mm_tensor_retain(t));
}

static int run_module_with(const drv_case *c, mm_module *m,
                           const mm_checkpoint *f, results *r) {
    mm_tensor *x[MAX_IO], *g[MAX_IO], *y = NULL;
    int nx, ng;
    bool training;
    MM_TRY(load_inputs(c, f, "input", x, &nx));
    MM_TRY(load_inputs(c, f, "grad_output", g, &ng));
    MM_TRY(arg_bool(c, "training", true, &training));
    if (nx < 1)
        return mm_error_set(MM_EINVAL, "module: the case has no inputs");
    /* The case's float dtype: input.0's, or the state's for an integer
     * input (Embedding). */
    mm_dtype dt = x[0]->dtype;
    for (size_t i = 0; i < mm_checkpoint_count(f) && !mm_dtype_is_float(dt);
         i++) {
        const char *name;
        mm_tensor *t;
        MM_TRY(mm_checkpoint_at(f, i, &name, &t));
        if (strncmp(name, "state.", 6) == 0 && mm_dtype_is_float(t->dtype))
            dt = t->dtype;
    }
    if (mm_dtype_is_float(dt))
        MM_TRY(mm_module_to_dtype(m, dt));
    int rc = 0;
    MM_TRY(mm_checkpoint_load_module(f, "state.", m, true, NULL));
    mm_module_train(m, training);
    mm_no_grad_push();
    for (int i = 0; i < nx && rc == 0; i++) {
        if (arg_has_index(c, "noncontig", i))
            rc = make_noncontig(x[i], &x[i]);
        if (rc == 0 && mm_dtype_is_float(x[i]->dtype) &&
            !arg_has_index(c, "no_grad", i))
            rc = mm_tensor_set_requires_grad(x[i], true);
    }
    mm_no_grad_pop();
    MM_TRY(rc);
    if (mm_module_is(m, &mm_multihead_attention_class))
        MM_TRY(mm_multihead_attention_forward(
            m, x[0], opt_in(c, x, nx, 1), opt_in(c, x, nx, 2),
            opt_in(c, x, nx, 3), opt_in(c, x, nx, 4), &y));
    else if (mm_module_is(m, &mm_module_list_class)) {
        /* A ModuleList has no forward: its children in order (the torch
         * side does the same). */
        y = x[0];
        for (size_t i = 0; i < m->n_children; i++)
            MM_TRY(mm_module_forward1(m->children[i].module, y, &y));
    } else
        MM_TRY(mm_module_forward(m, nx, x, &y));
    if (ng > 0 && y->requires_grad)
        MM_TRY(mm_backward_with_grad(y, g[0]));
    MM_TRY(put(r, "output.0", y));
    char name[64];
    for (int i = 0; i < nx; i++) {
        if (!x[i]->grad)
            continue;
        snprintf(name, sizeof name, "grad_input.%d", i);
        MM_TRY(put(r, name, x[i]->grad));
    }
    /* The module's tensors go with it: the results keep a reference. */
    module_walk wg = {r, "grad.", true}, wb = {r, "state.", false};
    MM_TRY(mm_module_named_parameters(m, put_named, &wg));
    return mm_module_named_buffers(m, put_named, &wb);
}

static int run_module(const drv_case *c, const mm_checkpoint *f, results *r) {
    const mm_value *cfg = arg(c, "module");
    if (!cfg || !mm_value_is_dict(cfg))
        return mm_error_set(MM_EINVAL, "module: args.module: expected a "
                                       "config dict");
    void *obj = NULL;
    MM_TRY(mm_registry_build(MM_MODELS, cfg, NULL, "module", NULL, &obj));
    int rc = run_module_with(c, obj, f, r);
    mm_module_free(obj);
    return rc;
}

/* One case: parse, run inside a pool, serialise. Never fails without a
 * result: an error becomes {"error": message}. */
static int run_case(const uint8_t *buf, size_t len, uint8_t **out,
                    size_t *out_len) {
    mm_checkpoint *f = NULL;
    results *r = calloc(1, sizeof *r);
    mm_value *args = NULL;
    mm_pool *pool = NULL;
    if (!r)
        return mm_error_set(MM_ENOMEM, "driver: out of memory");
    int rc = mm_checkpoint_load_buffer(buf, len, "<case>", &f);
    if (rc == 0)
        rc = mm_pool_open(&pool);
    if (rc == 0) {
        /* Metadata values are JSON text; a bare op name reads as itself. */
        const mm_value *opv = mm_checkpoint_get_meta(f, "op");
        const mm_value *a = mm_checkpoint_get_meta(f, "args");
        const char *op = opv && mm_value_is_string(opv)
                             ? mm_value_get_string(opv)
                             : NULL;
        if (!op)
            rc = mm_error_set(MM_EINVAL, "driver: the case has no "
                                         "__metadata__.op");
        else if (a)
            args = mm_value_copy(a);
        else
            args = mm_value_new_dict();
        if (rc == 0 && !mm_value_is_dict(args))
            rc = mm_error_set(MM_EINVAL, "driver: args is not a JSON object");
        drv_case c = {op, args};
        if (rc == 0) {
            const drv_op *o = find_op(op);
            if (strcmp(op, "optim") == 0)
                rc = run_optim(&c, f, r);
            else if (strcmp(op, "module") == 0)
                rc = run_module(&c, f, r);
            else if (o)
                rc = run_op(&c, o, f, r);
            else
                rc = mm_error_set(MM_ENOENT, "driver: unknown op '%s'", op);
        }
    }
    /* The results, or {"error": message} (as JSON text, like every
     * metadata value). */
    mm_checkpoint *res = NULL;
    int wrc = mm_checkpoint_new(&res);
    if (wrc == 0 && rc < 0) {
        mm_value *msg = mm_value_new_string(mm_error_message());
        wrc = msg ? mm_checkpoint_set_meta(res, "error", msg) : MM_ENOMEM;
        mm_value_release(msg);
    }
    for (int i = 0; wrc == 0 && rc == 0 && i < r->n; i++)
        wrc = mm_checkpoint_add(res, r->names[i], r->t[i]);
    void *bytes = NULL;
    if (wrc == 0)
        wrc = mm_checkpoint_save_buffer(res, &bytes, out_len);
    *out = bytes;
    if (wrc < 0)
        rc = wrc;
    mm_checkpoint_free(res);
    mm_value_release(args);
    mm_pool_close(pool);
    mm_checkpoint_free(f);
    free(r);
    return rc;
}

/* ---- main --------------------------------------------------------------- */

static int read_all(FILE *in, uint8_t **buf, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, in);
        if (n < cap)
            break;
        uint8_t *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    if (!b)
        return mm_error_set(MM_ENOMEM, "driver: out of memory");
    if (ferror(in)) {
        free(b);
        return mm_error_set(MM_EIO, "driver: read failed: %s", strerror(errno));
    }
    *buf = b;
    *len = n;
    return 0;
}

static int read_file(const char *path, uint8_t **buf, size_t *len) {
    if (strcmp(path, "-") == 0)
        return read_all(stdin, buf, len);
    FILE *f = fopen(path, "rb");
    if (!f)
        return mm_error_set(MM_EIO, "%s: %s", path, strerror(errno));
    int rc = read_all(f, buf, len);
    fclose(f);
    return rc;
}

static int write_file(const char *path, const uint8_t *buf, size_t len) {
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f)
        return mm_error_set(MM_EIO, "%s: %s", path, strerror(errno));
    bool ok = fwrite(buf, 1, len, f) == len;
    ok = (f == stdout ? fflush(f) : fclose(f)) == 0 && ok;
    return ok ? 0 : mm_error_set(MM_EIO, "%s: write failed", path);
}

/* Frames of the stream mode: an 8-byte little-endian length, then that
 * many bytes. Returns 1 at a clean end of input. */
static int read_frame(uint8_t **buf, size_t *len) {
    uint8_t h[8];
    size_t got = fread(h, 1, 8, stdin);
    if (got == 0 && feof(stdin))
        return 1;
    if (got != 8)
        return mm_error_set(MM_EIO, "driver: truncated frame header");
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | h[i];
    if (n > (1ull << 32))
        return mm_error_set(MM_EIO, "driver: frame of %llu bytes is too big",
                            (unsigned long long)n);
    uint8_t *b = malloc(n ? (size_t)n : 1);
    if (!b)
        return mm_error_set(MM_ENOMEM, "driver: out of memory");
    if (fread(b, 1, (size_t)n, stdin) != (size_t)n) {
        free(b);
        return mm_error_set(MM_EIO, "driver: truncated frame");
    }
    *buf = b;
    *len = (size_t)n;
    return 0;
}

static int write_frame(const uint8_t *buf, size_t len) {
    uint8_t h[8];
    for (int i = 0; i < 8; i++)
        h[i] = (uint8_t)((uint64_t)len >> (8 * i));
    if (fwrite(h, 1, 8, stdout) != 8 || fwrite(buf, 1, len, stdout) != len ||
        fflush(stdout) != 0)
        return mm_error_set(MM_EIO, "driver: write failed");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
            printf("%s\n", ops[i].name);
        printf("optim\nmodule\n");
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--stream") == 0) {
        for (;;) {
            uint8_t *in = NULL, *out = NULL;
            size_t len = 0, out_len = 0;
            int rc = read_frame(&in, &len);
            if (rc == 1)
                return 0;
            if (rc < 0) {
                fprintf(stderr, "op_driver: %s\n", mm_error_message());
                return 1;
            }
            run_case(in, len, &out, &out_len);
            free(in);
            rc = out ? write_frame(out, out_len) : -1;
            free(out);
            if (rc < 0) {
                fprintf(stderr, "op_driver: %s\n", mm_error_message());
                return 1;
            }
        }
    }
    if (argc != 3) {
        fprintf(stderr, "usage: op_driver CASE.safetensors OUT.safetensors "
                        "(- for stdin/stdout)\n"
                        "       op_driver --stream | --list\n");
        return 2;
    }
    uint8_t *in, *out = NULL;
    size_t len, out_len = 0;
    if (read_file(argv[1], &in, &len) < 0) {
        fprintf(stderr, "op_driver: %s\n", mm_error_message());
        return 1;
    }
    int rc = run_case(in, len, &out, &out_len);
    free(in);
    if (rc < 0)
        fprintf(stderr, "op_driver: %s\n", mm_error_message());
    int wrc = out ? write_file(argv[2], out, out_len) : -1;
    if (wrc < 0 && out)
        fprintf(stderr, "op_driver: %s\n", mm_error_message());
    free(out);
    return rc < 0 || wrc < 0 ? 1 : 0;
}
