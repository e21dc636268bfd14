/* mm_conv_bn_act: a conv net's conv -> batch norm -> (+ residual) ->
 * activation, fused into one oneDNN convolution for inference. The batch
 * norm in eval mode is an affine map per channel, so it folds into the
 * conv: w' = w * s, b' = (b - mean) * s + beta with s = gamma /
 * sqrt(var + eps). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mm/autocast.h"
#include "mm/autograd.h"
#include "mm/threads.h"
#include "mm/elementwise.h"
#include "nn_internal.h"
#include "../ops/ops_internal.h"

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

/* ---- the folded weights, cached ------------------------------------------
 * Folding and oneDNN's weight reorder cost a pass over every weight per
 * call, which at batch 1 is a large share of a ResNet's forward. An entry
 * keeps a copy of what the fold read (conv weight and bias, the batch
 * norm's statistics and affine parameters, eps) and is used only while
 * that copy still equals the modules' tensors byte for byte: any write to
 * a parameter or buffer (optimizer step, load_state_dict, init, a direct
 * store through MM_DATA) makes the entry miss and refold. The folded
 * tensors are pinned for the conv kernel (mm_conv_weight_pin), which then
 * keeps them in oneDNN's layout across calls. MM_FUSED_CACHE=0 turns the
 * cache off. */

enum { FOLD_SLOTS = 512 };
#define FOLD_MAX_BYTES ((size_t)1 << 30) /* all entries together */

typedef struct fold_entry {
    const mm_module *conv, *bn; /* the key; freeing either drops the entry */
    int ndim;
    int64_t shape[MM_MAX_DIMS];
    bool has[6];      /* conv bias, mean, var, gamma, beta present */
    double eps;
    void *src;        /* the fold's inputs, concatenated */
    size_t src_bytes;
    mm_tensor *w, *b; /* folded, f32 */
    mm_tensor *w16, *b16; /* their bf16 casts, made on first autocast use */
    uint64_t used;
} fold_entry;

static fold_entry folds[FOLD_SLOTS];
static size_t fold_bytes;
static uint64_t fold_clock;
static pthread_mutex_t fold_lock = PTHREAD_MUTEX_INITIALIZER;

/* An on-by-default switch: off when the environment sets it to "0"
 * (read once into *cached, -1 until then). */
static bool env_switch_on(const char *name, int *cached) {
    if (*cached < 0) {
        const char *e = getenv(name);
        *cached = !(e && strcmp(e, "0") == 0);
    }
    return *cached;
}

static bool fold_cache_on(void) {
    static int on = -1;
    return env_switch_on("MM_FUSED_CACHE", &on);
}

/* The fold's inputs in a fixed order (absent ones NULL). */
static void fold_inputs(const mm_nn_conv *c, const mm_nn_norm *n,
                        const mm_tensor *in[6]) {
    in[0] = c->weight;
    in[1] = c->bias;
    in[2] = n->running_mean;
    in[3] = n->running_var;
    in[4] = n->weight;
    in[5] = n->bias;
}

/* Byte equality of two large buffers, split over the threads. */
static bool same_bytes(const char *a, const char *b, size_t n) {
    enum { CHUNK = 1 << 18 };
    int64_t chunks = (int64_t)((n + CHUNK - 1) / CHUNK);
    int diff = 0;
    int nt = mm_get_num_threads();
#pragma omp parallel for num_threads(nt) reduction(| : diff) if (chunks > 4)
    for (int64_t i = 0; i < chunks; i++) {
        size_t off = (size_t)i * CHUNK, len = n - off < CHUNK ? n - off : CHUNK;
        diff |= memcmp(a + off, b + off, len) != 0;
    }
    return !diff;
}

static bool entry_matches(const fold_entry *e, const mm_tensor *in[6],
                          double eps) {
    const mm_tensor *cw = in[0];
    if (!e->src || e->eps != eps || e->ndim != cw->ndim ||
        memcmp(e->shape, cw->shape, (size_t)cw->ndim * sizeof(int64_t)) != 0)
        return false;
    size_t off = 0;
    for (int i = 0; i < 6; i++) {
        if (e->has[i] != (in[i] != NULL))
            return false;
        if (!in[i])
            continue;
        size_t nb = (size_t)in[i]->numel * sizeof(float);
        if (off + nb > e->src_bytes ||
            !same_bytes((const char *)e->src + off, mm_tensor_data(in[i]), nb))
            return false;
        off += nb;
    }
    return off == e->src_bytes;
}

static void entry_clear(fold_entry *e) {
    mm_conv_weight_unpin(e->w);
    mm_conv_weight_unpin(e->w16);
    mm_tensor_release(e->w);
    mm_tensor_release(e->b);
    mm_tensor_release(e->w16);
    mm_tensor_release(e->b16);
    free(e->src);
    fold_bytes -= e->src_bytes * 3;
    memset(e, 0, sizeof *e);
}

/* A new entry for the fold (w, b) of inputs in; false when it does not
 * fit (the caller then uses w and b once). */
static bool entry_add(const mm_module *conv, const mm_module *bn,
                      const mm_tensor *in[6], double eps, mm_tensor *w,
                      mm_tensor *b) {
    size_t bytes = 0;
    for (int i = 0; i < 6; i++)
        bytes += in[i] ? (size_t)in[i]->numel * sizeof(float) : 0;
    if (bytes * 3 > FOLD_MAX_BYTES)
        return false;
    fold_entry *slot = NULL;
    for (int i = 0; i < FOLD_SLOTS; i++)
        if (!folds[i].src) {
            slot = &folds[i];
            break;
        }
    /* evict the least recently used until it fits */
    while (!slot || fold_bytes + bytes * 3 > FOLD_MAX_BYTES) {
        fold_entry *old = NULL;
        for (int i = 0; i < FOLD_SLOTS; i++)
            if (folds[i].src && (!old || folds[i].used < old->used))
                old = &folds[i];
        if (!old)
            return false;
        entry_clear(old);
        if (!slot)
            slot = old;
    }
    void *src = malloc(bytes);
    if (!src)
        return false;
    size_t off = 0;
    for (int i = 0; i < 6; i++) {
        slot->has[i] = in[i] != NULL;
        if (!in[i])
            continue;
        size_t nb = (size_t)in[i]->numel * sizeof(float);
        memcpy((char *)src + off, mm_tensor_data(in[i]), nb);
        off += nb;
    }
    slot->conv = conv;
    slot->bn = bn;
    slot->ndim = in[0]->ndim;
    memcpy(slot->shape, in[0]->shape, sizeof slot->shape);
    slot->eps = eps;
    slot->src = src;
    slot->src_bytes = bytes;
    slot->w = mm_tensor_retain(w);
    slot->b = mm_tensor_retain(b);
    slot->used = ++fold_clock;
    mm_conv_weight_pin(w);
    /* the copy, the folded pair and room for their bf16 casts */
    fold_bytes += bytes * 3;
    return true;
}

void mm_fused_forget(const mm_module *m) {
    pthread_mutex_lock(&fold_lock);
    for (int i = 0; fold_bytes && i < FOLD_SLOTS; i++)
        if (folds[i].src && (folds[i].conv == m || folds[i].bn == m))
            entry_clear(&folds[i]);
    pthread_mutex_unlock(&fold_lock);
}

/* The folded weight and bias for conv c and batch norm n in dtype dt (f32,
 * or bf16 under autocast), from the cache or folded now. */
static int folded(const mm_nn_conv *c, const mm_nn_norm *n, mm_dtype dt,
                  mm_tensor **w, mm_tensor **b) {
    if (!fold_cache_on())
        return fold(c, n, w, b);
    const mm_tensor *in[6];
    fold_inputs(c, n, in);
    pthread_mutex_lock(&fold_lock);
    int rc = MM_OK;
    fold_entry *hit = NULL;
    for (int i = 0; i < FOLD_SLOTS && !hit; i++)
        if (folds[i].src && folds[i].conv == &c->base &&
            folds[i].bn == &n->base) {
            hit = &folds[i];
            if (!entry_matches(hit, in, n->eps)) {
                entry_clear(hit); /* a parameter changed: fold again */
                hit = NULL;
                break;
            }
        }
    if (!hit) {
        rc = fold(c, n, w, b);
        if (rc == MM_OK && entry_add(&c->base, &n->base, in, n->eps, *w, *b)) {
            for (int i = 0; i < FOLD_SLOTS && !hit; i++)
                if (folds[i].w == *w)
                    hit = &folds[i];
        }
    }
    if (hit) {
        hit->used = ++fold_clock;
        if (dt == MM_BF16 && !hit->w16) {
            mm_tensor *w16 = NULL, *b16 = NULL;
            rc = mm_to_dtype(hit->w, MM_BF16, &w16);
            if (rc == MM_OK)
                rc = mm_to_dtype(hit->b, MM_BF16, &b16);
            if (rc == MM_OK) {
                hit->w16 = mm_tensor_retain(w16);
                hit->b16 = mm_tensor_retain(b16);
                mm_conv_weight_pin(w16);
            }
        }
        if (rc == MM_OK) {
            bool low = dt == MM_BF16;
            *w = low ? hit->w16 : hit->w;
            *b = low ? hit->b16 : hit->b;
        }
    }
    pthread_mutex_unlock(&fold_lock);
    return rc;
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
        MM_TRY(folded(c, n, mm_autocast_dtype(), &w, &b));
    return mm_conv_fused(x, w, b, residual, act, c->stride, c->padding,
                         c->dilation, c->groups, out);
}

static bool channels_last_on(void) {
    static int on = -1;
    return env_switch_on("MM_CHANNELS_LAST", &on);
}

int mm_nn_backbone_layout(mm_tensor *x, mm_tensor **out) {
    if (!x)
        return mm_error_set(MM_EINVAL, "backbone_layout: tensor is NULL");
    if (!channels_last_on() || (x->ndim != 4 && x->ndim != 5) ||
        !mm_dtype_is_float(x->dtype))
        return mm_return_same(x, out);
    return mm_to_memory_format(x, MM_FORMAT_CHANNELS_LAST, out);
}
