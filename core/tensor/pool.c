/* Autorelease pools: a per-thread stack; each pool holds references to the
 * tensors created while it was the innermost, and releases them (newest
 * first, so chains of autograd nodes unwind without recursion) on close. */
#include "tensor_internal.h"

#include <stdlib.h>

struct mm_pool {
    mm_pool *parent;
    mm_tensor **items;
    size_t len, cap;
};

static _Thread_local mm_pool *top;
static _Thread_local int depth;

int mm_pool_open(mm_pool **out) {
    mm_pool *p = calloc(1, sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "pool: out of memory");
    p->parent = top;
    top = p;
    depth++;
    *out = p;
    return 0;
}

static void close_top(void) {
    mm_pool *p = top;
    top = p->parent;
    depth--;
    while (p->len)
        mm_tensor_release(p->items[--p->len]);
    free(p->items);
    free(p);
}

void mm_pool_close(mm_pool *pool) {
    if (!pool)
        return;
    mm_pool *q = top;
    while (q && q != pool)
        q = q->parent;
    MM_ASSERT(q == pool); /* a pool closed twice, or closed on another thread */
    while (top != pool)
        close_top();
    close_top();
}

int mm_pool_close_keep(mm_pool *pool, mm_tensor *keep, mm_tensor **out) {
    mm_tensor_retain(keep);
    mm_pool_close(pool);
    if (!keep) {
        *out = NULL;
        return 0;
    }
    return mm_tensor_publish(keep, out);
}

int mm_pool_depth(void) { return depth; }

size_t mm_pool_size(const mm_pool *pool) { return pool ? pool->len : 0; }

int mm_tensor_autorelease(mm_tensor *t) {
    if (!t || !top)
        return 0;
    mm_pool *p = top;
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        mm_tensor **items = realloc(p->items, cap * sizeof *items);
        if (!items) {
            mm_tensor_release(t);
            return mm_error_set(MM_ENOMEM, "pool: out of memory");
        }
        p->items = items;
        p->cap = cap;
    }
    p->items[p->len++] = t;
    return 0;
}
