/* Optimised CPU convolutions: oneDNN convolution forward, backward-data (our
 * conv_transpose) and backward-weights for f32/bf16, primitives cached by
 * kind, shapes, strides, dtype and thread count; OpenMP loop nests for f64
 * and for whatever oneDNN declines. Inputs are contiguous or channels-last
 * (MM_OP_FLAG_CHANNELS_LAST): oneDNN reads either layout in place, and a
 * channels-last activation makes the primitive itself run in nhwc, so no
 * activation is reordered at all. */
#include "../conv_pool.h"
#include "dnnl_util.h"
#include "mm/threads.h"

#include <pthread.h>
#include <string.h>

/* CONV_FUSED: the forward for inference (oneDNN's forward_inference),
 * with a sum post-op for the residual (dst holds it on entry) and an
 * eltwise post-op for the activation. */
enum { CONV_FWD, CONV_BWD_DATA, CONV_BWD_WEIGHTS, CONV_FUSED };

/* ---- oneDNN ------------------------------------------------------------- */

typedef struct conv_key {
    char op[8]; /* "conv"; "conv_ro" for the reorders of one conv */
    int kind, dtype, nthreads, has_bias;
    int any; /* oneDNN picks the layouts (blocked); we reorder */
    int cl;  /* the primitive's activations are channels-last (nhwc) */
    int lay; /* which tensors are channels-last: bits src, w, dst, residual */
    int arg; /* reorders: which argument, and which way */
    int act, sum; /* CONV_FUSED: mm_fused_act, residual added */
    mm_conv_geom g;
} conv_key;

/* Plain (row-major) descriptors of src [N, C, sp], weights [K, C/G, k] or
 * [G, K/G, C/G, k], bias [K], dst [N, K, sp] for the real spatial dims. */
typedef struct conv_mds {
    dnnl_memory_desc_t src, w, bias, dst;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
} conv_mds;

static dnnl_format_tag_t plain_tag(int nd) {
    switch (nd) {
    case 1:
        return dnnl_a;
    case 3:
        return dnnl_abc;
    case 4:
        return dnnl_abcd;
    case 5:
        return dnnl_abcde;
    default:
        return dnnl_abcdef;
    }
}

/* The channels-last tag of an activation with nd dims (nwc, nhwc, ndhwc). */
static dnnl_format_tag_t cl_tag(int nd) {
    return nd == 3 ? dnnl_acb : nd == 4 ? dnnl_acdb : dnnl_acdeb;
}

enum { MDS_PLAIN, MDS_ANY, MDS_CL };

/* MDS_PLAIN: row-major src, weights, dst (the user's layouts when the
 * tensors are contiguous); MDS_ANY: oneDNN picks every layout (blocked);
 * MDS_CL: activations channels-last, the weights' layout oneDNN's. */
static int make_mds(const conv_key *k, int mode, conv_mds *m) {
    const mm_conv_geom *g = &k->g;
    dnnl_data_type_t dt = (dnnl_data_type_t)k->dtype;
    int nsp = g->nsp, lead = 3 - nsp;
    dnnl_dims_t src = {g->N, g->C}, dst = {g->N, g->K}, w, b = {g->K};
    int wn = 0;
    if (g->G > 1)
        w[wn++] = g->G;
    w[wn++] = g->K / g->G;
    w[wn++] = g->C / g->G;
    for (int j = 0; j < nsp; j++) {
        int t = lead + j;
        src[2 + j] = g->in[t];
        dst[2 + j] = g->out[t];
        w[wn++] = g->k[t];
        m->strides[j] = g->s[t];
        m->dilates[j] = g->d[t] - 1;
        m->pad_l[j] = m->pad_r[j] = g->p[t];
    }
    dnnl_format_tag_t act = mode == MDS_ANY  ? dnnl_format_tag_any
                            : mode == MDS_CL ? cl_tag(nsp + 2)
                                             : plain_tag(nsp + 2);
    MM_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->src, nsp + 2, src, dt, act),
                  "memory desc");
    MM_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->dst, nsp + 2, dst, dt, act),
                  "memory desc");
    MM_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->w, wn, w, dt,
                                               mode == MDS_PLAIN
                                                   ? plain_tag(wn)
                                                   : dnnl_format_tag_any),
                  "memory desc");
    MM_CHECK_DNNL(dnnl_memory_desc_init_by_tag(&m->bias, 1, b, dt, dnnl_a),
                  "memory desc");
    return 0;
}

static int create_pd(dnnl_primitive_desc_t *pd, const void *desc,
                     const_dnnl_primitive_attr_t attr,
                     const_dnnl_primitive_desc_t hint) {
    dnnl_engine_t eng = NULL;
    MM_TRY(mm_dnnl_engine(&eng));
    MM_CHECK_DNNL(dnnl_primitive_desc_create(pd, desc, attr, eng, hint),
                  "convolution");
    return 0;
}

/* The post-ops of a fused conv: sum (the residual in dst), then the
 * activation. */
static int fused_attr(const conv_key *k, dnnl_primitive_attr_t *out) {
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t st = dnnl_post_ops_create(&po);
    if (st == dnnl_success && k->sum)
        st = dnnl_post_ops_append_sum(po, 1.0f);
    if (st == dnnl_success && k->act != MM_FUSED_NONE) {
        dnnl_alg_kind_t alg = dnnl_eltwise_relu;
        float alpha = 0, beta = 0;
        switch (k->act) {
        case MM_FUSED_RELU6:
            alg = dnnl_eltwise_clip;
            beta = 6;
            break;
        case MM_FUSED_SILU:
            alg = dnnl_eltwise_swish;
            alpha = 1;
            break;
        case MM_FUSED_HARDSWISH:
            alg = dnnl_eltwise_hardswish;
            break;
        default:
            break;
        }
        st = dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, beta);
    }
    if (st == dnnl_success)
        st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_post_ops(attr, po);
    if (po)
        dnnl_post_ops_destroy(po);
    if (st != dnnl_success) {
        if (attr)
            dnnl_primitive_attr_destroy(attr);
        return mm_dnnl_error(st, "convolution post-ops");
    }
    *out = attr;
    return 0;
}

/* The descriptor of tensor t in the role `md` describes in row-major
 * order: md itself when t is contiguous, else md's dims with t's strides
 * (channels-last; a grouped weight [G, K/G, C/G, k...] is t's [K, C/G,
 * k...] with K split). */
static int user_md(dnnl_memory_desc_t *md, const mm_tensor *t) {
    if (mm_tensor_is_contiguous(t))
        return 0;
    dnnl_dims_t st;
    int nd = md->ndims, g = nd - t->ndim; /* 1: grouped weights */
    for (int d = 0; d < t->ndim; d++)
        st[g + d] = t->stride[d];
    if (g)
        st[0] = md->dims[1] * t->stride[0];
    dnnl_dims_t dims;
    memcpy(dims, md->dims, sizeof dims);
    MM_CHECK_DNNL(dnnl_memory_desc_init_by_strides(md, nd, dims,
                                                   md->data_type, st),
                  "memory desc");
    return 0;
}

static int make_conv(void *vctx, dnnl_primitive_t *out) {
    const conv_key *k = vctx;
    conv_mds m;
    MM_TRY(make_mds(k, k->cl ? MDS_CL : k->any ? MDS_ANY : MDS_PLAIN, &m));
    dnnl_convolution_desc_t fwd;
    MM_CHECK_DNNL(dnnl_dilated_convolution_forward_desc_init(
                      &fwd,
                      k->kind == CONV_FUSED ? dnnl_forward_inference
                                            : dnnl_forward_training,
                      dnnl_convolution_direct, &m.src, &m.w,
                      k->has_bias ? &m.bias : NULL, &m.dst, m.strides,
                      m.dilates, m.pad_l, m.pad_r),
                  "convolution desc");
    dnnl_primitive_desc_t fpd = NULL, pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (k->kind == CONV_FUSED)
        MM_TRY(fused_attr(k, &attr));
    int rc = create_pd(&fpd, &fwd, attr, NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    MM_TRY(rc);
    if (k->kind == CONV_FWD || k->kind == CONV_FUSED) {
        pd = fpd;
        fpd = NULL;
    } else {
        dnnl_convolution_desc_t bwd;
        dnnl_status_t st =
            k->kind == CONV_BWD_DATA
                ? dnnl_dilated_convolution_backward_data_desc_init(
                      &bwd, dnnl_convolution_direct, &m.src, &m.w, &m.dst,
                      m.strides, m.dilates, m.pad_l, m.pad_r)
                : dnnl_dilated_convolution_backward_weights_desc_init(
                      &bwd, dnnl_convolution_direct, &m.src, &m.w, NULL, &m.dst,
                      m.strides, m.dilates, m.pad_l, m.pad_r);
        rc = st == dnnl_success ? create_pd(&pd, &bwd, NULL, fpd)
                                : mm_dnnl_error(st, "convolution desc");
    }
    if (fpd)
        dnnl_primitive_desc_destroy(fpd);
    if (rc < 0)
        return rc;
    return mm_dnnl_primitive_take(pd, out, "convolution primitive");
}

/* One argument of a conv primitive: the user's plain memory, and when
 * the primitive wants another layout, a temporary in that layout with the
 * reorders between them (cached under the conv's key): in, user -> mem
 * (what the primitive reads), and back, mem -> user (what it writes). */
typedef struct conv_arg {
    dnnl_memory_t mem;  /* what the primitive reads or writes */
    dnnl_memory_t user; /* the tensor's memory when mem is a temporary */
    void *buf;
    size_t block;
    mm_dnnl_entry *in, *back;
} conv_arg;

typedef struct reorder_ctx {
    const dnnl_memory_desc_t *from, *to;
} reorder_ctx;

static int make_reorder(void *vctx, dnnl_primitive_t *out) {
    const reorder_ctx *r = vctx;
    dnnl_engine_t eng = NULL;
    MM_TRY(mm_dnnl_engine(&eng));
    dnnl_primitive_desc_t pd;
    MM_CHECK_DNNL(
        dnnl_reorder_primitive_desc_create(&pd, r->from, eng, r->to, eng, NULL),
        "reorder");
    return mm_dnnl_primitive_take(pd, out, "reorder primitive");
}

static int reorder_run(mm_dnnl_entry *r, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return mm_dnnl_execute(mm_dnnl_entry_primitive(r), 2, a);
}

/* The cached reorder of argument i of conv, one way (back: mem -> user). */
static int acquire_reorder(const conv_key *conv, int i, bool back,
                           const dnnl_memory_desc_t *plain,
                           const dnnl_memory_desc_t *want,
                           mm_dnnl_entry **out) {
    conv_key rk;
    memcpy(&rk, conv, sizeof rk); /* padding bytes included: a cache key */
    memcpy(rk.op, "conv_ro", 8);
    rk.arg = i + (back ? 8 : 0);
    reorder_ctx rc = {back ? want : plain, back ? plain : want};
    return mm_dnnl_acquire(&rk, sizeof rk, make_reorder, &rc, out);
}

/* read: the primitive reads the argument; write: it writes it (both for a
 * fused conv's dst, which holds the residual on entry). `from` (NULL: t)
 * is what a read argument starts from: a fused conv's residual, in its own
 * layout from_md, reordered (or copied) straight into the primitive's
 * dst. */
static int arg_open(conv_arg *a, const conv_key *conv, int i, dnnl_engine_t eng,
                    const dnnl_memory_desc_t *plain,
                    const dnnl_memory_desc_t *want, mm_tensor *t, bool read,
                    bool write, const mm_tensor *from,
                    const dnnl_memory_desc_t *from_md) {
    dnnl_status_t st;
    if (!from) {
        from = t;
        from_md = plain;
    }
    if (!want || dnnl_memory_desc_equal(plain, want)) {
        st = dnnl_memory_create(&a->mem, plain, eng, mm_tensor_data(t));
        if (st != dnnl_success)
            return mm_dnnl_error(st, "memory");
        if (!read || from == t)
            return 0;
        if (dnnl_memory_desc_equal(from_md, plain)) {
            memcpy(mm_tensor_data(t), mm_tensor_data(from),
                   (size_t)t->numel * mm_dtype_size(t->dtype));
            return 0;
        }
        return mm_copy_strided(t, from);
    }
    a->buf = mm_cpu_alloc(dnnl_memory_desc_get_size(want), &a->block);
    if (!a->buf)
        return mm_error_set(MM_ENOMEM, "conv: out of memory");
    st = dnnl_memory_create(&a->mem, want, eng, a->buf);
    if (st == dnnl_success)
        st = dnnl_memory_create(&a->user, plain, eng, mm_tensor_data(t));
    if (st != dnnl_success)
        return mm_dnnl_error(st, "memory");
    if (write)
        MM_TRY(acquire_reorder(conv, i, true, plain, want, &a->back));
    if (!read)
        return 0;
    MM_TRY(acquire_reorder(conv, i, false, from_md, want, &a->in));
    if (from == t)
        return reorder_run(a->in, a->user, a->mem);
    dnnl_memory_t src;
    st = dnnl_memory_create(&src, from_md, eng, mm_tensor_data(from));
    if (st != dnnl_success)
        return mm_dnnl_error(st, "memory");
    int rc = reorder_run(a->in, src, a->mem);
    dnnl_memory_destroy(src);
    return rc;
}

/* ---- pinned weights ------------------------------------------------------
 * A pinned weight tensor (mm_conv_weight_pin) is immutable until unpinned,
 * so its reorders into the layouts primitives want are made once and kept
 * here, keyed by the tensor's first element and the wanted layout. */

enum { MAX_PINS = 1024, MAX_PREPS = 4 };

typedef struct pinned {
    const void *data; /* NULL: a free slot */
    int pins;
    int n;
    struct {
        dnnl_memory_desc_t md;
        void *buf;
        size_t block;
    } prep[MAX_PREPS];
} pinned;

static pinned pin_table[MAX_PINS];
static pthread_mutex_t pin_lock = PTHREAD_MUTEX_INITIALIZER;

static pinned *pin_find(const void *data) {
    for (int i = 0; i < MAX_PINS; i++)
        if (pin_table[i].data == data)
            return &pin_table[i];
    return NULL;
}

void mm_conv_weight_pin(const mm_tensor *w) {
    if (!w)
        return;
    pthread_mutex_lock(&pin_lock);
    pinned *p = pin_find(mm_tensor_data(w));
    if (!p && (p = pin_find(NULL)) != NULL)
        p->data = mm_tensor_data(w);
    if (p)
        p->pins++; /* a full table: the tensor is just not pinned */
    pthread_mutex_unlock(&pin_lock);
}

void mm_conv_weight_unpin(const mm_tensor *w) {
    if (!w)
        return;
    pthread_mutex_lock(&pin_lock);
    pinned *p = pin_find(mm_tensor_data(w));
    if (p && --p->pins == 0) {
        for (int i = 0; i < p->n; i++)
            mm_cpu_free(p->prep[i].buf, p->prep[i].block);
        memset(p, 0, sizeof *p);
    }
    pthread_mutex_unlock(&pin_lock);
}

/* The weights argument of a primitive from the pinned copy in layout want
 * (made now on first use). 1: not pinned (the caller reorders). */
static int arg_open_pinned(conv_arg *a, const conv_key *conv, dnnl_engine_t eng,
                           const dnnl_memory_desc_t *plain,
                           const dnnl_memory_desc_t *want, mm_tensor *t) {
    int rc = 1;
    pthread_mutex_lock(&pin_lock);
    pinned *p = pin_find(mm_tensor_data(t));
    void *buf = NULL;
    for (int i = 0; p && i < p->n && !buf; i++)
        if (dnnl_memory_desc_equal(&p->prep[i].md, want))
            buf = p->prep[i].buf;
    if (p && !buf && p->n < MAX_PREPS) {
        size_t block;
        buf = mm_cpu_alloc(dnnl_memory_desc_get_size(want), &block);
        dnnl_memory_t from = NULL, to = NULL;
        mm_dnnl_entry *r = NULL;
        rc = buf ? 0 : mm_error_set(MM_ENOMEM, "conv: out of memory");
        if (rc == 0 &&
            (dnnl_memory_create(&from, plain, eng, mm_tensor_data(t)) !=
                 dnnl_success ||
             dnnl_memory_create(&to, want, eng, buf) != dnnl_success))
            rc = mm_error_set(MM_EINTERNAL, "oneDNN: memory");
        if (rc == 0)
            rc = acquire_reorder(conv, 1, false, plain, want, &r);
        if (rc == 0)
            rc = reorder_run(r, from, to);
        mm_dnnl_release(r);
        if (from)
            dnnl_memory_destroy(from);
        if (to)
            dnnl_memory_destroy(to);
        if (rc == 0) {
            p->prep[p->n].md = *want;
            p->prep[p->n].buf = buf;
            p->prep[p->n].block = block;
            p->n++;
        } else if (buf) {
            mm_cpu_free(buf, block);
            buf = NULL;
        }
    }
    pthread_mutex_unlock(&pin_lock);
    if (rc < 0)
        return rc;
    if (!buf)
        return 1;
    if (dnnl_memory_create(&a->mem, want, eng, buf) != dnnl_success)
        return mm_error_set(MM_EINTERNAL, "oneDNN: memory");
    return 0;
}

static int arg_write_back(conv_arg *a) {
    return a->user ? reorder_run(a->back, a->mem, a->user) : 0;
}

static void arg_close(conv_arg *a) {
    if (a->mem)
        dnnl_memory_destroy(a->mem);
    if (a->user)
        dnnl_memory_destroy(a->user);
    if (a->buf)
        mm_cpu_free(a->buf, a->block);
    mm_dnnl_release(a->in);
    mm_dnnl_release(a->back);
}

/* src, w, dst: the forward conv's roles (for backward-data src is written,
 * for backward-weights w). */
static int conv_dnnl(int kind, const mm_conv_geom *g, mm_tensor *src,
                     mm_tensor *w, mm_tensor *bias, mm_tensor *dst, int act,
                     const mm_tensor *residual) {
    bool sum = residual != NULL;
    dnnl_data_type_t dt;
    if (!mm_dnnl_dtype(src->dtype, &dt) ||
        (src->dtype != MM_F32 && src->dtype != MM_BF16))
        return MM_EUNSUPPORTED;
    /* oneDNN wants (in + 2p - span) / s + 1 == out with pad_r = pad_l */
    for (int j = 0; j < 3; j++)
        if ((g->in[j] + 2 * g->p[j] - (g->k[j] - 1) * g->d[j] - 1) / g->s[j] +
                1 !=
            g->out[j])
            return MM_EUNSUPPORTED;
    conv_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.op, "conv", 5);
    key.kind = kind;
    key.dtype = (int)dt;
    key.nthreads = mm_dnnl_threads();
    key.has_bias = bias != NULL;
    key.act = act;
    key.sum = sum;
    memcpy(&key.g, g, sizeof key.g);
    /* oneDNN's blocked layouts pay (with reorders in and out) on convs
     * with enough channels and work; small ones stay plain, where oneDNN
     * runs im2col + GEMM. Spatial kernels with few channels (LeNet's
     * 1->6 and 6->16 5x5, a 3->16 3x3 stem) run 1.3-3x faster blocked
     * forward and for the weight gradient, but the data gradient with
     * under 6 input channels runs 3x slower blocked (tools/bench/ops.py
     * conv cases). */
    int64_t Cg = g->C / g->G, Kg = g->K / g->G;
    int64_t ksp = g->k[0] * g->k[1] * g->k[2];
    int64_t work =
        g->N * g->K * Cg * g->out[0] * g->out[1] * g->out[2] * ksp;
    bool few = ksp > 1 && Kg >= 6 && (kind != CONV_BWD_DATA || Cg >= 6);
    key.any = work >= (INT64_C(1) << 20) &&
              ((Cg >= 16 && Kg >= 16) || (Cg == 1 && Kg == 1) || few);
    /* a channels-last activation: the primitive runs in nhwc, reading and
     * writing the tensors in place */
    const mm_tensor *act_in = kind == CONV_BWD_DATA ? dst : src;
    key.cl = mm_tensor_layout(act_in) == MM_FORMAT_CHANNELS_LAST;
    const mm_tensor *lay_of[4] = {src, w, dst, residual};
    for (int i = 0; i < 4; i++)
        if (lay_of[i] && !mm_tensor_is_contiguous(lay_of[i]))
            key.lay |= 1 << i;
    mm_dnnl_entry *e;
    int rc = mm_dnnl_acquire(&key, sizeof key, make_conv, &key, &e);
    if (rc == MM_EUNSUPPORTED && key.cl) {
        mm_error_clear();
        key.cl = 0;
        rc = mm_dnnl_acquire(&key, sizeof key, make_conv, &key, &e);
    }
    if (rc == MM_EUNSUPPORTED && key.any) {
        mm_error_clear();
        key.any = 0;
        rc = mm_dnnl_acquire(&key, sizeof key, make_conv, &key, &e);
    }
    MM_TRY(rc);
    /* the three roles in the order (src, weights, dst) of the forward conv,
     * which of them the primitive writes, and their queries */
    static const dnnl_query_t queries[4][3] = {
        {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md},
        {dnnl_query_diff_src_md, dnnl_query_weights_md, dnnl_query_diff_dst_md},
        {dnnl_query_src_md, dnnl_query_diff_weights_md,
         dnnl_query_diff_dst_md},
        {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md}};
    static const int roles[4][3] = {
        {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
        {DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST},
        {DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_DST},
        {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}};
    int written = kind == CONV_FWD || kind == CONV_FUSED ? 2
                  : kind == CONV_BWD_DATA              ? 0
                                                       : 1;
    mm_tensor *ts[3] = {src, w, dst};
    dnnl_engine_t eng = NULL;
    conv_mds m;
    conv_arg args[3];
    memset(args, 0, sizeof args);
    dnnl_memory_t bias_mem = NULL;
    dnnl_memory_desc_t res_md;
    rc = mm_dnnl_engine(&eng);
    if (rc == 0)
        rc = make_mds(&key, MDS_PLAIN, &m);
    /* the tensors' own layouts */
    res_md = m.dst;
    if (rc == 0 && residual)
        rc = user_md(&res_md, residual);
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = user_md(i == 0 ? &m.src : i == 1 ? &m.w : &m.dst, ts[i]);
    const dnnl_memory_desc_t *plain[3] = {&m.src, &m.w, &m.dst};
    const_dnnl_primitive_desc_t pd = NULL;
    if (rc == 0 && dnnl_primitive_get_primitive_desc(mm_dnnl_entry_primitive(e),
                                                     &pd) != dnnl_success)
        rc = mm_error_set(MM_EINTERNAL, "oneDNN: no primitive desc");
    for (int i = 0; i < 3 && rc == 0; i++) {
        const dnnl_memory_desc_t *want =
            dnnl_primitive_desc_query_md(pd, queries[kind][i], 0);
        if (kind == CONV_FUSED && i == 1 && want &&
            !dnnl_memory_desc_equal(plain[i], want)) {
            rc = arg_open_pinned(&args[i], &key, eng, plain[i], want, ts[i]);
            if (rc <= 0)
                continue;
        }
        /* a fused sum reads dst (the residual) before writing it */
        rc = arg_open(&args[i], &key, i, eng, plain[i], want, ts[i],
                      i != written || (kind == CONV_FUSED && sum),
                      i == written, i == written ? residual : NULL, &res_md);
    }
    if (rc == 0 && bias) {
        dnnl_status_t st =
            dnnl_memory_create(&bias_mem, &m.bias, eng, mm_tensor_data(bias));
        if (st != dnnl_success)
            rc = mm_dnnl_error(st, "memory");
    }
    if (rc == 0) {
        dnnl_exec_arg_t ea[4];
        int n = 0;
        for (int i = 0; i < 3; i++)
            ea[n++] = (dnnl_exec_arg_t){roles[kind][i], args[i].mem};
        if (bias)
            ea[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bias_mem};
        rc = mm_dnnl_execute(mm_dnnl_entry_primitive(e), n, ea);
    }
    if (rc == 0)
        rc = arg_write_back(&args[written]);
    for (int i = 0; i < 3; i++)
        arg_close(&args[i]);
    if (bias_mem)
        dnnl_memory_destroy(bias_mem);
    mm_dnnl_release(e);
    return rc;
}

/* ---- OpenMP loop nests (f64; f32 when oneDNN declines) ------------------ */

/* The valid output range [lo, hi) along dim j for kernel tap kk: those o
 * with 0 <= o s - p + kk d < in. */
static void tap_range(const mm_conv_geom *g, int j, int64_t kk, int64_t *lo,
                      int64_t *hi) {
    int64_t off = kk * g->d[j] - g->p[j], s = g->s[j];
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = g->in[j] - off <= 0 ? 0 : (g->in[j] - off + s - 1) / s;
    if (b > g->out[j])
        b = g->out[j];
    *lo = a;
    *hi = b < a ? a : b;
}

/* Visit every (output position, input position) pair of one kernel tap:
 * BODY sees yo (flat output index) and xi (flat input index). */
#define FOR_TAP(g, k0, k1, k2, BODY)                                           \
    do {                                                                       \
        int64_t lo0, hi0, lo1, hi1, lo2, hi2;                                  \
        tap_range(g, 0, k0, &lo0, &hi0);                                       \
        tap_range(g, 1, k1, &lo1, &hi1);                                       \
        tap_range(g, 2, k2, &lo2, &hi2);                                       \
        for (int64_t o0 = lo0; o0 < hi0; o0++)                                 \
            for (int64_t o1 = lo1; o1 < hi1; o1++) {                           \
                int64_t i0 = o0 * (g)->s[0] - (g)->p[0] + k0 * (g)->d[0];      \
                int64_t i1 = o1 * (g)->s[1] - (g)->p[1] + k1 * (g)->d[1];      \
                int64_t yrow = (o0 * (g)->out[1] + o1) * (g)->out[2];          \
                int64_t xrow = (i0 * (g)->in[1] + i1) * (g)->in[2] -           \
                               (g)->p[2] + k2 * (g)->d[2];                     \
                int64_t s2 = (g)->s[2];                                        \
                for (int64_t o2 = lo2; o2 < hi2; o2++) {                       \
                    int64_t yo = yrow + o2, xi = xrow + o2 * s2;               \
                    BODY;                                                      \
                }                                                              \
            }                                                                  \
    } while (0)

/* clang-format off */
#define CONV_LOOPS(T, SUFFIX)                                                  \
    static void conv_fwd_##SUFFIX(const mm_conv_geom *g, const T *x,           \
                                  const T *w, const T *b, T *y) {              \
        int64_t Cg = g->C / g->G, Kg = g->K / g->G;                            \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int64_t ksp = g->k[0] * g->k[1] * g->k[2];                             \
        bool par = g->N * g->K * osp * Cg * ksp > MM_GRAIN;                    \
        int nt = mm_get_num_threads();                                         \
        _Pragma("omp parallel for collapse(2) num_threads(nt) if (par)")       \
        for (int64_t n = 0; n < g->N; n++)                                     \
            for (int64_t k = 0; k < g->K; k++) {                               \
                T *yp = y + (n * g->K + k) * osp;                              \
                for (int64_t o = 0; o < osp; o++)                              \
                    yp[o] = b ? b[k] : 0;                                      \
                for (int64_t c = 0; c < Cg; c++) {                             \
                    const T *xp = x + (n * g->C + (k / Kg) * Cg + c) * isp;    \
                    const T *wp = w + (k * Cg + c) * ksp;                      \
                    for (int64_t k0 = 0; k0 < g->k[0]; k0++)                   \
                        for (int64_t k1 = 0; k1 < g->k[1]; k1++)               \
                            for (int64_t k2 = 0; k2 < g->k[2]; k2++) {         \
                                T wv = wp[(k0 * g->k[1] + k1) * g->k[2] + k2]; \
                                FOR_TAP(g, k0, k1, k2, yp[yo] += wv * xp[xi]); \
                            }                                                  \
                }                                                              \
            }                                                                  \
    }                                                                          \
    /* x = conv_transpose(y): each thread owns a plane of x */                 \
    static void conv_bwd_data_##SUFFIX(const mm_conv_geom *g, T *x,            \
                                       const T *w, const T *b, const T *y) {   \
        int64_t Cg = g->C / g->G, Kg = g->K / g->G;                            \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int64_t ksp = g->k[0] * g->k[1] * g->k[2];                             \
        bool par = g->N * g->C * osp * Kg * ksp > MM_GRAIN;                    \
        int nt = mm_get_num_threads();                                         \
        _Pragma("omp parallel for collapse(2) num_threads(nt) if (par)")       \
        for (int64_t n = 0; n < g->N; n++)                                     \
            for (int64_t c = 0; c < g->C; c++) {                               \
                T *xp = x + (n * g->C + c) * isp;                              \
                for (int64_t i = 0; i < isp; i++)                              \
                    xp[i] = b ? b[c] : 0;                                      \
                int64_t grp = c / Cg, cc = c % Cg;                             \
                for (int64_t k = grp * Kg; k < (grp + 1) * Kg; k++) {          \
                    const T *yp = y + (n * g->K + k) * osp;                    \
                    const T *wp = w + (k * Cg + cc) * ksp;                     \
                    for (int64_t k0 = 0; k0 < g->k[0]; k0++)                   \
                        for (int64_t k1 = 0; k1 < g->k[1]; k1++)               \
                            for (int64_t k2 = 0; k2 < g->k[2]; k2++) {         \
                                T wv = wp[(k0 * g->k[1] + k1) * g->k[2] + k2]; \
                                FOR_TAP(g, k0, k1, k2, xp[xi] += wv * yp[yo]); \
                            }                                                  \
                }                                                              \
            }                                                                  \
    }                                                                          \
    static void conv_bwd_weights_##SUFFIX(const mm_conv_geom *g, const T *x,  \
                                          T *dw, const T *y) {                 \
        int64_t Cg = g->C / g->G, Kg = g->K / g->G;                            \
        int64_t isp = g->in[0] * g->in[1] * g->in[2];                          \
        int64_t osp = g->out[0] * g->out[1] * g->out[2];                       \
        int64_t ksp = g->k[0] * g->k[1] * g->k[2];                             \
        bool par = g->N * g->K * osp * Cg * ksp > MM_GRAIN;                    \
        int nt = mm_get_num_threads();                                         \
        _Pragma("omp parallel for collapse(2) num_threads(nt) if (par)")       \
        for (int64_t k = 0; k < g->K; k++)                                     \
            for (int64_t c = 0; c < Cg; c++) {                                 \
                T *wp = dw + (k * Cg + c) * ksp;                               \
                for (int64_t k0 = 0; k0 < g->k[0]; k0++)                       \
                    for (int64_t k1 = 0; k1 < g->k[1]; k1++)                   \
                        for (int64_t k2 = 0; k2 < g->k[2]; k2++) {             \
                            T acc = 0;                                         \
                            for (int64_t n = 0; n < g->N; n++) {               \
                                const T *xp =                                  \
                                    x + (n * g->C + (k / Kg) * Cg + c) * isp;  \
                                const T *yp = y + (n * g->K + k) * osp;        \
                                FOR_TAP(g, k0, k1, k2,                         \
                                        acc += yp[yo] * xp[xi]);               \
                            }                                                  \
                            wp[(k0 * g->k[1] + k1) * g->k[2] + k2] = acc;      \
                        }                                                      \
            }                                                                  \
    }

/* clang-format on */

CONV_LOOPS(float, f32)
CONV_LOOPS(double, f64)

static int conv_loops(int kind, const mm_conv_geom *g, mm_tensor *src,
                      mm_tensor *w, mm_tensor *bias, mm_tensor *dst) {
    if (src->dtype == MM_F32) {
        const float *b = bias ? MM_DATA(bias, float) : NULL;
        if (kind == CONV_FWD)
            conv_fwd_f32(g, MM_DATA(src, float), MM_DATA(w, float), b,
                         MM_DATA(dst, float));
        else if (kind == CONV_BWD_DATA)
            conv_bwd_data_f32(g, MM_DATA(src, float), MM_DATA(w, float), b,
                              MM_DATA(dst, float));
        else
            conv_bwd_weights_f32(g, MM_DATA(src, float), MM_DATA(w, float),
                                 MM_DATA(dst, float));
        return 0;
    }
    if (src->dtype == MM_F64) {
        const double *b = bias ? MM_DATA(bias, double) : NULL;
        if (kind == CONV_FWD)
            conv_fwd_f64(g, MM_DATA(src, double), MM_DATA(w, double), b,
                         MM_DATA(dst, double));
        else if (kind == CONV_BWD_DATA)
            conv_bwd_data_f64(g, MM_DATA(src, double), MM_DATA(w, double), b,
                              MM_DATA(dst, double));
        else
            conv_bwd_weights_f64(g, MM_DATA(src, double), MM_DATA(w, double),
                                 MM_DATA(dst, double));
        return 0;
    }
    return MM_EUNSUPPORTED;
}

/* Add bias[c] to every element of channel c of x [N, C, sp...],
 * contiguous or channels-last. */
static void add_bias_f32(mm_tensor *x, const mm_tensor *bias) {
    int64_t N = x->shape[0], C = x->shape[1], sp = x->numel / (N * C);
    float *xp = MM_DATA(x, float);
    const float *b = MM_DATA(bias, float);
    int nt = mm_get_num_threads();
    if (!mm_tensor_is_contiguous(x)) {
#pragma omp parallel for num_threads(nt) if (x->numel > MM_GRAIN)
        for (int64_t r = 0; r < N * sp; r++)
            for (int64_t c = 0; c < C; c++)
                xp[r * C + c] += b[c];
        return;
    }
#pragma omp parallel for collapse(2) num_threads(nt) if (x->numel > MM_GRAIN)
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            float *p = xp + (n * C + c) * sp;
            for (int64_t i = 0; i < sp; i++)
                p[i] += b[c];
        }
}

/* Every tensor of ctx row-major: the loop nests need that. */
static bool all_contiguous(const mm_op_ctx *ctx) {
    for (int i = 0; i < ctx->n_inputs; i++)
        if (!mm_tensor_is_contiguous(ctx->inputs[i]))
            return false;
    return mm_tensor_is_contiguous(ctx->out);
}

/* NEEDS_CONTIGUOUS: oneDNN declined and the loop nests want row-major
 * tensors; the caller reruns on contiguous copies. */
enum { NEEDS_CONTIGUOUS = 1 };

static int run(int kind, const mm_op_ctx *ctx, const mm_conv_geom *g,
               mm_tensor *src, mm_tensor *w, mm_tensor *bias, mm_tensor *dst) {
    MM_ASSERT(kind != CONV_FUSED);
    mm_tensor *out = kind == CONV_FWD ? dst : kind == CONV_BWD_DATA ? src : w;
    if (out->numel == 0 || src->numel == 0 || w->numel == 0 || dst->numel == 0)
        return MM_EUNSUPPORTED; /* the reference fills zeros and biases */
    /* oneDNN's backward-data has no bias: it runs without and adds it */
    bool dnnl_bias = kind == CONV_FWD;
    if (src->dtype == MM_F32 || src->dtype == MM_BF16) {
        int rc = conv_dnnl(kind, g, src, w, dnnl_bias ? bias : NULL, dst,
                           MM_FUSED_NONE, NULL);
        if (rc == 0 && bias && !dnnl_bias) {
            if (src->dtype != MM_F32)
                return MM_EUNSUPPORTED;
            add_bias_f32(out, bias);
        }
        if (rc != MM_EUNSUPPORTED)
            return rc;
        mm_error_clear();
    }
    if (!all_contiguous(ctx))
        return NEEDS_CONTIGUOUS;
    return conv_loops(kind, g, src, w, bias, dst);
}

int mm_cpu_conv(mm_op_ctx *ctx) {
    mm_tensor *x = ctx->inputs[0], *w = ctx->inputs[1];
    mm_tensor *b = ctx->n_inputs == 3 ? ctx->inputs[2] : NULL;
    mm_conv_geom g;
    mm_conv_geom_make(ctx->params, x, w, ctx->out, &g);
    int rc = run(CONV_FWD, ctx, &g, x, w, b, ctx->out);
    return rc == NEEDS_CONTIGUOUS ? mm_op_run_contiguous(ctx, mm_cpu_conv) : rc;
}

int mm_cpu_conv_transpose(mm_op_ctx *ctx) {
    mm_tensor *y = ctx->inputs[0], *w = ctx->inputs[1];
    mm_tensor *b = ctx->n_inputs == 3 ? ctx->inputs[2] : NULL;
    mm_conv_geom g;
    mm_conv_geom_make(ctx->params, ctx->out, w, y, &g);
    int rc = run(CONV_BWD_DATA, ctx, &g, ctx->out, w, b, y);
    return rc == NEEDS_CONTIGUOUS
               ? mm_op_run_contiguous(ctx, mm_cpu_conv_transpose)
               : rc;
}

int mm_cpu_conv_weight_grad(mm_op_ctx *ctx) {
    mm_tensor *x = ctx->inputs[0], *gy = ctx->inputs[1];
    mm_conv_geom g;
    mm_conv_geom_make(ctx->params, x, ctx->out, gy, &g);
    int rc = run(CONV_BWD_WEIGHTS, ctx, &g, x, ctx->out, NULL, gy);
    return rc == NEEDS_CONTIGUOUS
               ? mm_op_run_contiguous(ctx, mm_cpu_conv_weight_grad)
               : rc;
}

/* act(conv(x, w) + b + residual): one oneDNN inference primitive with
 * post-ops; otherwise the plain conv and a pass over the output. */
int mm_cpu_conv_fused(mm_op_ctx *ctx) {
    const mm_op_params *p = ctx->params;
    int nb = p->i[18] != 0, nr = p->i[19] != 0, act = (int)p->i[17];
    mm_tensor *x = ctx->inputs[0], *w = ctx->inputs[1], *y = ctx->out;
    mm_tensor *b = nb ? ctx->inputs[2] : NULL;
    mm_tensor *r = nr ? ctx->inputs[2 + nb] : NULL;
    mm_conv_geom g;
    mm_conv_geom_make(p, x, w, y, &g);
    if (y->numel == 0 || x->numel == 0 || w->numel == 0)
        return MM_EUNSUPPORTED;
    if (x->dtype == MM_F32 || x->dtype == MM_BF16) {
        /* the residual goes straight into the primitive's dst */
        int rc = conv_dnnl(CONV_FUSED, &g, x, w, b, y, act, r);
        if (rc != MM_EUNSUPPORTED)
            return rc;
        mm_error_clear();
    }
    if (x->dtype != MM_F32)
        return MM_EUNSUPPORTED; /* the reference does the rest */
    if (!all_contiguous(ctx))
        return mm_op_run_contiguous(ctx, mm_cpu_conv_fused);
    /* the loops overwrite y: keep the residual aside */
    float *res = NULL;
    size_t block = 0;
    if (r) {
        res = mm_cpu_alloc((size_t)y->numel * sizeof(float), &block);
        if (!res)
            return mm_error_set(MM_ENOMEM, "conv_fused: out of memory");
        memcpy(res, mm_tensor_data(r), (size_t)y->numel * sizeof(float));
    }
    int rc = conv_loops(CONV_FWD, &g, x, w, b, y);
    if (rc == 0) {
        float *yp = MM_DATA(y, float);
        for (int64_t i = 0; i < y->numel; i++)
            yp[i] = (float)mm_fused_act_apply(act, yp[i] + (res ? res[i] : 0));
    }
    if (res)
        mm_cpu_free(res, block);
    return rc;
}
