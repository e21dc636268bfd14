/* mm_op_apply: infer, allocate, pick a kernel, record autograd, publish. */
#include "tensor_internal.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local int reference_mode =
    -1; /* -1: not read from the env yet */

bool mm_ops_reference(void) {
    if (reference_mode < 0) {
        const char *env = getenv("MM_OPS_REFERENCE");
        reference_mode = env && strcmp(env, "1") == 0;
    }
    return reference_mode == 1;
}

bool mm_ops_set_reference(bool on) {
    bool prev = mm_ops_reference();
    reference_mode = on;
    return prev;
}

static _Thread_local mm_op_observer_fn observer;
static _Thread_local void *observer_user;
static _Thread_local int observe_depth; /* inside a reporting composite */

void mm_ops_set_observer(mm_op_observer_fn fn, void *user) {
    observer = fn;
    observer_user = user;
    observe_depth = 0;
}

bool mm_ops_observing(void) { return observer != NULL; }

void mm_ops_observe_begin(void) {
    if (observer)
        observe_depth++;
}

int mm_ops_observe_end(int rc, const char *name, int n,
                       mm_tensor *const *inputs, mm_tensor *const *out,
                       bool training) {
    if (!observer)
        return rc;
    if (--observe_depth == 0 && rc == 0) {
        mm_op_event ev = {.name = name, .n_inputs = n, .inputs = inputs,
                          .out = *out, .training = training};
        observer(observer_user, &ev);
    }
    return rc;
}

void mm_ops_observe_op(const char *name, int n, mm_tensor *const *inputs,
                       const mm_tensor *out) {
    if (!observer || observe_depth > 0)
        return;
    mm_op_event ev = {.name = name, .n_inputs = n, .inputs = inputs,
                      .out = out};
    observer(observer_user, &ev);
}

void mm_op_ctx_drop_saved(mm_op_ctx *ctx) {
    for (int i = 0; i < ctx->n_saved; i++)
        mm_tensor_release(ctx->saved[i]);
    ctx->n_saved = 0;
}

/* cin[i] = inputs[i] retained when contiguous (or channels-last, with
 * keep_cl), else a contiguous copy; every cin[i] set (NULL on failure) so
 * the caller releases them all. */
static int contiguous_inputs(int n, mm_tensor *const *inputs, bool keep_cl,
                             mm_tensor **cin) {
    int rc = 0;
    for (int i = 0; i < n; i++)
        cin[i] = NULL;
    for (int i = 0; i < n && rc == 0; i++) {
        mm_tensor *x = inputs[i];
        if (mm_tensor_is_contiguous(x) ||
            (keep_cl && mm_tensor_is_channels_last(x))) {
            cin[i] = mm_tensor_retain(x);
            continue;
        }
        rc = mm_tensor_new_owned(x->ndim, x->shape, x->dtype, x->device,
                                 &cin[i]);
        if (rc == 0)
            rc = mm_copy_strided(cin[i], x);
    }
    return rc;
}

int mm_op_run_contiguous(mm_op_ctx *ctx, mm_op_kernel_fn fn) {
    int n = ctx->n_inputs;
    if (n > 8)
        return mm_error_set(MM_EINTERNAL, "%s: too many inputs",
                            ctx->op->name);
    mm_tensor *cin[8], *out = ctx->out, *tmp = NULL;
    int rc = contiguous_inputs(n, ctx->inputs, false, cin);
    bool out_plain = mm_tensor_is_contiguous(out);
    if (rc == 0 && !out_plain)
        rc = mm_tensor_new_owned(out->ndim, out->shape, out->dtype,
                                 out->device, &tmp);
    if (rc == 0) {
        mm_op_ctx sub = *ctx;
        sub.inputs = cin;
        sub.out = out_plain ? out : tmp;
        rc = fn(&sub);
        /* saved tensors move over to the caller's context */
        ctx->n_saved = sub.n_saved;
        memcpy(ctx->saved, sub.saved, sizeof ctx->saved);
    }
    if (rc == 0 && tmp)
        rc = mm_copy_strided(out, tmp);
    mm_tensor_release(tmp);
    for (int i = 0; i < n; i++)
        mm_tensor_release(cin[i]);
    return rc;
}

static int run_kernel(mm_op_ctx *ctx, mm_device dev) {
    const mm_op *op = ctx->op;
    mm_op_kernel_fn k = op->kernel[dev.type];
    if (!k || mm_ops_reference())
        k = op->reference;
    if (!k) {
        char buf[32];
        return mm_error_set(MM_EUNSUPPORTED, "%s: no kernel for device %s",
                            op->name, mm_device_format(dev, buf, sizeof buf));
    }
    int rc = k(ctx);
    if (rc == MM_EUNSUPPORTED && k != op->reference && op->reference &&
        dev.type == MM_DEVICE_CPU) {
        /* the optimised kernel leaves this case to the reference */
        mm_error_clear();
        mm_op_ctx_drop_saved(ctx);
        rc = op->reference(ctx);
    }
    return rc;
}

int mm_op_apply(const mm_op *op, int n, mm_tensor *const *inputs,
                const mm_op_params *params, mm_tensor **out) {
    static const mm_op_params no_params;
    if (!op)
        return mm_error_set(MM_EINVAL, "op: no op given");
    if (n < 1 || (op->n_inputs >= 0 && n != op->n_inputs))
        return mm_error_set(MM_EINVAL, "%s: expects %d inputs, got %d",
                            op->name, op->n_inputs, n);
    for (int i = 0; i < n; i++) {
        if (!inputs[i])
            return mm_error_set(MM_EINVAL, "%s: input %d is NULL", op->name, i);
        if (!mm_device_equal(inputs[i]->device, inputs[0]->device)) {
            char a[32], b[32];
            return mm_error_set(
                MM_EINVAL, "%s: inputs on different devices (%s and %s)",
                op->name, mm_device_format(inputs[0]->device, a, sizeof a),
                mm_device_format(inputs[i]->device, b, sizeof b));
        }
    }
    mm_op_ctx ctx = {.op = op,
                     .n_inputs = n,
                     .inputs = inputs,
                     .params = params ? params : &no_params};
    MM_TRY(op->infer(&ctx));
    if (op->backward && mm_dtype_is_float(ctx.out_dtype) && mm_grad_enabled())
        for (int i = 0; i < n && !ctx.recording; i++)
            ctx.recording = inputs[i]->requires_grad;

    mm_tensor *t;
    int rc = 0;
    if (op->flags & MM_OP_FLAG_VIEW) {
        t = mm_tensor_alias(inputs[0]);
        if (!t)
            return MM_ENOMEM;
        t->ndim = ctx.out_ndim;
        memcpy(t->shape, ctx.out_shape, sizeof t->shape);
        memcpy(t->stride, ctx.out_stride, sizeof t->stride);
        t->offset = ctx.out_offset;
        t->numel = mm_shape_numel(t->ndim, t->shape);
    } else {
        MM_TRY(mm_tensor_new_owned_format(ctx.out_ndim, ctx.out_shape,
                                          ctx.out_dtype, inputs[0]->device,
                                          ctx.out_format, &t));
        ctx.out = t;
        mm_tensor *contig[8], **cin = NULL;
        if (op->flags & MM_OP_FLAG_CONTIGUOUS) {
            cin = n <= 8 ? contig : calloc((size_t)n, sizeof *cin);
            if (!cin) {
                mm_tensor_release(t);
                return mm_error_set(MM_ENOMEM, "%s: out of memory", op->name);
            }
            rc = contiguous_inputs(n, inputs,
                                   op->flags & MM_OP_FLAG_CHANNELS_LAST, cin);
            ctx.inputs = cin;
        }
        if (rc == 0)
            rc = run_kernel(&ctx, inputs[0]->device);
        ctx.inputs = inputs;
        if (cin) {
            for (int i = 0; i < n; i++)
                mm_tensor_release(cin[i]);
            if (cin != contig)
                free(cin);
        }
        if (rc < 0) {
            mm_op_ctx_drop_saved(&ctx);
            mm_tensor_release(t);
            return rc;
        }
    }
    rc = mm_tape_record(&ctx, inputs, t);
    if (rc < 0) {
        mm_tensor_release(t);
        return rc;
    }
    if (observer)
        mm_ops_observe_op(op->name, n, inputs, t);
    return mm_tensor_publish(t, out);
}
