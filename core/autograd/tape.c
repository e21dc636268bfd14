/* The tape: grad mode, recording nodes, and the backward walk. */
#include "tensor_internal.h"

#include "mm/autocast.h"

#include <stdlib.h>
#include <string.h>

/* ---- grad mode ---------------------------------------------------------- */

static _Thread_local uint64_t mode_bits; /* bit i: the mode pushed at depth i */
static _Thread_local int mode_depth;

bool mm_grad_enabled(void) {
    return mode_depth == 0 || ((mode_bits >> (mode_depth - 1)) & 1);
}

void mm_grad_mode_push(bool enabled) {
    MM_ASSERT(mode_depth < 64);
    if (enabled)
        mode_bits |= UINT64_C(1) << mode_depth;
    else
        mode_bits &= ~(UINT64_C(1) << mode_depth);
    mode_depth++;
}

void mm_grad_mode_pop(void) {
    MM_ASSERT(mode_depth > 0);
    mode_depth--;
}

void mm_no_grad_push(void) { mm_grad_mode_push(false); }
void mm_no_grad_pop(void) { mm_grad_mode_pop(); }

/* ---- leaves ------------------------------------------------------------- */

int mm_tensor_set_requires_grad(mm_tensor *t, bool requires_grad) {
    if (!t)
        return mm_error_set(MM_EINVAL, "requires_grad: tensor is NULL");
    if (t->grad_fn)
        return mm_error_set(
            MM_EINVAL,
            "requires_grad: only leaf tensors can change it (this one "
            "was made by %s; use mm_detach)",
            t->grad_fn->op->name);
    if (requires_grad && !mm_dtype_is_float(t->dtype))
        return mm_error_set(
            MM_ETYPE,
            "requires_grad: only floating-point tensors can require "
            "gradients (got %s)",
            mm_dtype_name(t->dtype));
    t->requires_grad = requires_grad;
    return 0;
}

bool mm_tensor_is_leaf(const mm_tensor *t) { return t && !t->grad_fn; }

mm_tensor *mm_tensor_grad(const mm_tensor *t) { return t ? t->grad : NULL; }

void mm_tensor_zero_grad(mm_tensor *t) {
    if (!t)
        return;
    mm_tensor_release(t->grad);
    t->grad = NULL;
}

int mm_detach(mm_tensor *x, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "detach: tensor is NULL");
    mm_tensor *a = mm_tensor_alias(x);
    if (!a)
        return MM_ENOMEM;
    return mm_tensor_publish(a, out);
}

int mm_check_inplace(const char *op, const mm_tensor *t) {
    if (t->requires_grad && mm_grad_enabled())
        return mm_error_set(
            MM_EINVAL,
            "%s: in-place write to a tensor that requires grad (wrap it in "
            "mm_no_grad_push/pop, or write to a detached view)",
            op);
    return 0;
}

/* ---- recording ---------------------------------------------------------- */

static uint64_t node_seq; /* atomic */

void mm_node_free(mm_node *node) {
    if (!node)
        return;
    for (int i = 0; i < node->n_inputs; i++)
        mm_tensor_release(node->inputs[i]);
    for (int i = 0; i < node->n_saved; i++)
        mm_tensor_release(node->saved[i]);
    mm_tensor_release(node->output);
    mm_tensor_release(node->grad_acc);
    free(node->inputs);
    free(node->needs_grad);
    free(node);
}

int mm_tape_record(mm_op_ctx *ctx, mm_tensor *const *inputs, mm_tensor *out) {
    const mm_op *op = ctx->op;
    if (!ctx->recording) {
        mm_op_ctx_drop_saved(ctx);
        return 0;
    }
    mm_node *node = calloc(1, sizeof *node);
    if (node) {
        node->inputs = calloc((size_t)ctx->n_inputs, sizeof *node->inputs);
        node->needs_grad =
            calloc((size_t)ctx->n_inputs, sizeof *node->needs_grad);
    }
    if (node && (op->flags & MM_OP_FLAG_SAVE_OUTPUT))
        node->output = mm_tensor_alias(out);
    if (!node || !node->inputs || !node->needs_grad ||
        ((op->flags & MM_OP_FLAG_SAVE_OUTPUT) && !node->output)) {
        mm_node_free(node);
        mm_op_ctx_drop_saved(ctx);
        return mm_error_set(MM_ENOMEM, "%s: out of memory recording autograd",
                            op->name);
    }
    node->op = op;
    node->n_inputs = ctx->n_inputs;
    for (int i = 0; i < ctx->n_inputs; i++) {
        node->inputs[i] = mm_tensor_retain(inputs[i]);
        node->needs_grad[i] = inputs[i]->requires_grad;
    }
    node->params = *ctx->params;
    node->n_saved = ctx->n_saved;
    memcpy(node->saved, ctx->saved, sizeof node->saved);
    ctx->n_saved = 0;
    node->out_dtype = out->dtype;
    node->out_ndim = out->ndim;
    memcpy(node->out_shape, out->shape, sizeof node->out_shape);
    node->seq = __atomic_add_fetch(&node_seq, 1, __ATOMIC_RELAXED);
    out->grad_fn = node;
    out->requires_grad = true;
    return 0;
}

/* ---- backward ----------------------------------------------------------- */

static uint64_t mark_epoch; /* atomic */

typedef struct node_list {
    mm_node **items;
    size_t len, cap;
} node_list;

static int list_push(node_list *l, mm_node *n) {
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        mm_node **items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return mm_error_set(MM_ENOMEM, "backward: out of memory");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = n;
    return 0;
}

static int by_seq_desc(const void *a, const void *b) {
    uint64_t x = (*(mm_node *const *)a)->seq, y = (*(mm_node *const *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Every node reachable from root, newest first: a valid reverse
 * topological order since a node's inputs were made before it. */
static int collect(mm_node *root, node_list *order) {
    uint64_t epoch = __atomic_add_fetch(&mark_epoch, 1, __ATOMIC_RELAXED);
    node_list stack = {0};
    int rc = list_push(&stack, root);
    root->mark = epoch;
    while (rc == 0 && stack.len) {
        mm_node *n = stack.items[--stack.len];
        rc = list_push(order, n);
        for (int i = 0; rc == 0 && i < n->n_inputs; i++) {
            mm_node *in = n->inputs[i]->grad_fn;
            if (in && n->needs_grad[i] && in->mark != epoch) {
                in->mark = epoch;
                rc = list_push(&stack, in);
            }
        }
    }
    free(stack.items);
    if (rc == 0)
        qsort(order->items, order->len, sizeof *order->items, by_seq_desc);
    return rc;
}

/* leaf->grad += g (the first gradient is copied: grads are written in place
 * later and g may alias another tensor). The gradient is laid out as its
 * leaf (contiguous or channels-last), so an optimizer walks both alike. */
static int accumulate_leaf(mm_tensor *leaf, mm_tensor *g) {
    if (!leaf->grad) {
        mm_tensor *copy;
        MM_TRY(mm_tensor_new_owned_format(leaf->ndim, leaf->shape, leaf->dtype,
                                          leaf->device, mm_tensor_layout(leaf),
                                          &copy));
        int rc = mm_copy_strided(copy, g);
        if (rc < 0) {
            mm_tensor_release(copy);
            return rc;
        }
        leaf->grad = copy;
        return 0;
    }
    return mm_binary_into(MM_OP_ADD, leaf->grad, leaf->grad, g, 1.0);
}

static int accumulate_node(mm_node *n, mm_tensor *g) {
    if (!n->grad_acc) {
        n->grad_acc = mm_tensor_retain(g);
        return 0;
    }
    mm_tensor *sum;
    MM_TRY(mm_add(n->grad_acc, g, &sum)); /* lives in backward's pool */
    mm_tensor_release(n->grad_acc);
    n->grad_acc = mm_tensor_retain(sum);
    return 0;
}

static int run_node(mm_node *n) {
    mm_tensor *g = n->grad_acc;
    if (!g)
        return 0; /* no gradient reached it */
    mm_tensor *small[8], **gin = n->n_inputs <= 8
                                     ? small
                                     : calloc((size_t)n->n_inputs, sizeof *gin);
    if (!gin)
        return mm_error_set(MM_ENOMEM, "backward: out of memory");
    memset(gin, 0, (size_t)n->n_inputs * sizeof *gin);
    int rc = n->op->backward(n, g, gin);
    if (rc < 0)
        mm_error_context(rc, NULL, "backward of %s", n->op->name);
    for (int i = 0; rc == 0 && i < n->n_inputs; i++) {
        mm_tensor *x = n->inputs[i], *gi = gin[i];
        if (!n->needs_grad[i] || !gi)
            continue;
        if (!mm_tensor_same_shape(x, gi)) {
            char a[256], b[256];
            rc = mm_error_set(MM_EINTERNAL,
                              "backward of %s: gradient of input %d has shape "
                              "%s, the input %s",
                              n->op->name, i,
                              mm_shape_format(gi->ndim, gi->shape, a, sizeof a),
                              mm_shape_format(x->ndim, x->shape, b, sizeof b));
            break;
        }
        if (gi->dtype != x->dtype && (rc = mm_to_dtype(gi, x->dtype, &gi)) < 0)
            break;
        if (x->grad_fn)
            rc = accumulate_node(x->grad_fn, gi);
        else if (x->requires_grad)
            rc = accumulate_leaf(x, gi);
    }
    if (gin != small)
        free(gin);
    mm_tensor_release(n->grad_acc);
    n->grad_acc = NULL;
    return rc;
}

int mm_backward_with_grad(mm_tensor *out, mm_tensor *grad) {
    if (!out || !grad)
        return mm_error_set(MM_EINVAL, "backward: tensor is NULL");
    if (!out->requires_grad)
        return mm_error_set(MM_EINVAL,
                            "backward: the tensor does not require grad");
    if (!mm_tensor_same_shape(out, grad)) {
        char a[256], b[256];
        return mm_error_set(
            MM_EINVAL,
            "backward: gradient shape %s does not match output shape %s",
            mm_shape_format(grad->ndim, grad->shape, a, sizeof a),
            mm_shape_format(out->ndim, out->shape, b, sizeof b));
    }
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_no_grad_push();
    /* backward ops run in the dtypes of the forward, autocast or not */
    int rc = mm_autocast_push(MM_F32);
    bool autocast_off = rc == 0;
    node_list order = {0};
    if (rc == 0 && grad->dtype != out->dtype)
        rc = mm_to_dtype(grad, out->dtype, &grad);
    if (rc == 0 && !out->grad_fn) {
        rc = accumulate_leaf(out, grad);
    } else if (rc == 0) {
        rc = collect(out->grad_fn, &order);
        if (rc == 0)
            out->grad_fn->grad_acc = mm_tensor_retain(grad);
        for (size_t i = 0; rc == 0 && i < order.len; i++)
            rc = run_node(order.items[i]);
        for (size_t i = 0; i < order.len; i++) { /* after an error */
            mm_tensor_release(order.items[i]->grad_acc);
            order.items[i]->grad_acc = NULL;
        }
    }
    free(order.items);
    if (autocast_off)
        mm_autocast_pop();
    mm_no_grad_pop();
    mm_pool_close(pool);
    return rc;
}

int mm_backward(mm_tensor *loss) {
    if (!loss)
        return mm_error_set(MM_EINVAL, "backward: tensor is NULL");
    if (loss->numel != 1) {
        char buf[256];
        return mm_error_set(
            MM_EINVAL,
            "backward: the loss must have one element (got shape %s); give "
            "a gradient with mm_backward_with_grad",
            mm_shape_format(loss->ndim, loss->shape, buf, sizeof buf));
    }
    if (!loss->requires_grad)
        return mm_error_set(MM_EINVAL,
                            "backward: the tensor does not require grad");
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *one;
    int rc = mm_ones_like(loss, &one);
    if (rc == 0)
        rc = mm_backward_with_grad(loss, one);
    mm_pool_close(pool);
    return rc;
}
