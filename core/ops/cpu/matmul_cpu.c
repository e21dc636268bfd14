/* Optimised CPU matmul: oneDNN for f32/bf16/f16 (primitives cached by
 * shapes, strides and dtype), an OpenMP loop nest for f64 and for whatever
 * oneDNN declines. */
#include "dnnl_util.h"
#include "mm/threads.h"

#include <string.h>

/* ---- oneDNN ------------------------------------------------------------- */

typedef struct mm_desc {
    int nd;
    int64_t dims[MM_MAX_DIMS], strides[MM_MAX_DIMS];
} mm_desc;

typedef struct matmul_key {
    char op[8]; /* "matmul" */
    int dtype;
    int nthreads; /* oneDNN fixes its work split when it makes a primitive */
    mm_desc a, b, c;
} matmul_key;

/* A tensor as an nd-dim oneDNN operand: missing or broadcast (stride 0)
 * batch dims become size 1; size-1 dims get dense strides. MM_EUNSUPPORTED
 * when a matrix dim is broadcast (oneDNN cannot read that). */
static int describe(const mm_tensor *t, int nd, mm_desc *d) {
    int lead = nd - t->ndim;
    memset(d, 0, sizeof *d);
    d->nd = nd;
    for (int i = 0; i < nd; i++) {
        int e = i - lead;
        int64_t size = e < 0 ? 1 : t->shape[e], st = e < 0 ? 0 : t->stride[e];
        if (st == 0 && size > 1) {
            if (i >= nd - 2)
                return MM_EUNSUPPORTED;
            size = 1;
        }
        d->dims[i] = size;
        d->strides[i] = st;
    }
    int64_t dense = 1;
    for (int i = nd - 1; i >= 0; i--) {
        if (d->dims[i] == 1)
            d->strides[i] = dense;
        else if (d->strides[i] < 0)
            return MM_EUNSUPPORTED;
        int64_t span = d->strides[i] * d->dims[i];
        if (span > dense)
            dense = span;
    }
    return 0;
}

static int md_init(dnnl_memory_desc_t *md, const mm_desc *d,
                   dnnl_data_type_t dt) {
    dnnl_dims_t dims, strides;
    for (int i = 0; i < d->nd; i++) {
        dims[i] = d->dims[i];
        strides[i] = d->strides[i];
    }
    MM_CHECK_DNNL(
        dnnl_memory_desc_init_by_strides(md, d->nd, dims, dt, strides),
        "memory desc");
    return 0;
}

static int make_matmul(void *vctx, dnnl_primitive_t *out) {
    const matmul_key *k = vctx;
    dnnl_data_type_t dt = (dnnl_data_type_t)k->dtype;
    dnnl_memory_desc_t a_md, b_md, c_md;
    MM_TRY(md_init(&a_md, &k->a, dt));
    MM_TRY(md_init(&b_md, &k->b, dt));
    MM_TRY(md_init(&c_md, &k->c, dt));
    dnnl_matmul_desc_t desc;
    MM_CHECK_DNNL(dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md),
                  "matmul desc");
    dnnl_engine_t eng = NULL;
    MM_TRY(mm_dnnl_engine(&eng));
    dnnl_primitive_desc_t pd;
    MM_CHECK_DNNL(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL),
                  "matmul");
    return mm_dnnl_primitive_take(pd, out, "matmul primitive");
}

static int matmul_dnnl(const mm_tensor *a, const mm_tensor *b, mm_tensor *c) {
    dnnl_data_type_t dt;
    if (!mm_dnnl_dtype(c->dtype, &dt) || c->dtype == MM_I32 ||
        c->dtype == MM_U8)
        return MM_EUNSUPPORTED;
    matmul_key key;
    memset(&key, 0, sizeof key);
    memcpy(key.op, "matmul", 7);
    key.dtype = (int)dt;
    key.nthreads = mm_dnnl_threads();
    int nd = c->ndim;
    /* The Linear case: b has no batch of its own, a carries the output's
     * batch, and a's batch and rows are one dense block: fold them into M
     * for a single 2-D product. */
    bool b_flat = true;
    for (int d = 0; d < b->ndim - 2; d++)
        b_flat = b_flat && (b->shape[d] == 1 || b->stride[d] == 0);
    mm_tensor aw = mm_tensor_window(a), cw = mm_tensor_window(c),
              bw = mm_tensor_window(b);
    bool a_has_batch = mm_shape_numel(a->ndim - 2, a->shape) ==
                       mm_shape_numel(nd - 2, c->shape);
    if (b_flat && a_has_batch && nd > 2 && mm_tensor_is_contiguous(a)) {
        aw.ndim = 2;
        aw.shape[0] = a->numel / a->shape[a->ndim - 1];
        aw.shape[1] = a->shape[a->ndim - 1];
        aw.stride[0] = aw.shape[1];
        aw.stride[1] = 1;
        cw.ndim = 2;
        cw.shape[0] = aw.shape[0];
        cw.shape[1] = c->shape[nd - 1];
        cw.stride[0] = cw.shape[1];
        cw.stride[1] = 1;
        bw.ndim = 2;
        bw.shape[0] = b->shape[b->ndim - 2];
        bw.shape[1] = b->shape[b->ndim - 1];
        bw.stride[0] = b->stride[b->ndim - 2];
        bw.stride[1] = b->stride[b->ndim - 1];
        bw.offset = b->offset;
        nd = 2;
    }
    int rc;
    if ((rc = describe(&aw, nd, &key.a)) < 0 ||
        (rc = describe(&bw, nd, &key.b)) < 0 ||
        (rc = describe(&cw, nd, &key.c)) < 0)
        return rc;
    /* oneDNN broadcasts a batch dim only from one operand to the other */
    for (int d = 0; d < nd - 2; d++) {
        int64_t m =
            key.a.dims[d] > key.b.dims[d] ? key.a.dims[d] : key.b.dims[d];
        if (key.c.dims[d] != m)
            return MM_EUNSUPPORTED;
    }
    mm_dnnl_entry *e;
    MM_TRY(mm_dnnl_acquire(&key, sizeof key, make_matmul, &key, &e));
    dnnl_memory_desc_t a_md, b_md, c_md;
    rc = md_init(&a_md, &key.a, dt);
    if (rc == 0)
        rc = md_init(&b_md, &key.b, dt);
    if (rc == 0)
        rc = md_init(&c_md, &key.c, dt);
    if (rc == 0) {
        mm_dnnl_arg args[3] = {{DNNL_ARG_SRC, &a_md, mm_tensor_data(a)},
                               {DNNL_ARG_WEIGHTS, &b_md, mm_tensor_data(b)},
                               {DNNL_ARG_DST, &c_md, mm_tensor_data(c)}};
        rc = mm_dnnl_run(mm_dnnl_entry_primitive(e), 3, args);
    }
    mm_dnnl_release(e);
    return rc;
}

/* ---- the loop nest (f64, and f32 when oneDNN declines) ------------------ */

/* One row of C: c[:] = sum_k a[k * ak] * B[k, :], B's rows contiguous so
 * the j loop vectorises. */
static void gemm_row_f32(float *c, const float *a, int64_t ak, const float *b,
                         int64_t bk, int64_t K, int64_t N) {
    for (int64_t j = 0; j < N; j++)
        c[j] = 0;
    for (int64_t k = 0; k < K; k++) {
        const float aik = a[k * ak], *brow = b + k * bk;
#pragma omp simd
        for (int64_t j = 0; j < N; j++)
            c[j] += aik * brow[j];
    }
}

static void gemm_row_f64(double *c, const double *a, int64_t ak,
                         const double *b, int64_t bk, int64_t K, int64_t N) {
    for (int64_t j = 0; j < N; j++)
        c[j] = 0;
    for (int64_t k = 0; k < K; k++) {
        const double aik = a[k * ak], *brow = b + k * bk;
#pragma omp simd
        for (int64_t j = 0; j < N; j++)
            c[j] += aik * brow[j];
    }
}

/* Rows of every batch in parallel; sa, sb: batch strides (0: broadcast). */
static void gemm(const mm_tensor *a, const mm_tensor *b, mm_tensor *c,
                 const int64_t *sa, const int64_t *sb) {
    int nb = c->ndim - 2;
    int64_t M = c->shape[nb], N = c->shape[nb + 1], K = a->shape[a->ndim - 1];
    int64_t am = a->stride[a->ndim - 2], ak = a->stride[a->ndim - 1];
    int64_t bk = b->stride[b->ndim - 2];
    int64_t rows = mm_shape_numel(nb, c->shape) * M;
    bool f32 = c->dtype == MM_F32, par = rows * N * K > MM_GRAIN;
    int nt = mm_get_num_threads();
#pragma omp parallel for num_threads(nt) if (par)
    for (int64_t r = 0; r < rows; r++) {
        int64_t i = r % M, oa = a->offset, ob = b->offset, rem = r / M;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t k = rem % c->shape[d];
            rem /= c->shape[d];
            oa += k * sa[d];
            ob += k * sb[d];
        }
        if (f32)
            gemm_row_f32(MM_DATA(c, float) + r * N,
                         (const float *)a->storage->data + oa + i * am, ak,
                         (const float *)b->storage->data + ob, bk, K, N);
        else
            gemm_row_f64(MM_DATA(c, double) + r * N,
                         (const double *)a->storage->data + oa + i * am, ak,
                         (const double *)b->storage->data + ob, bk, K, N);
    }
}

static void batch_strides(const mm_tensor *t, const mm_tensor *out,
                          int64_t *st) {
    int nb = out->ndim - 2, lead = nb - (t->ndim - 2);
    for (int d = 0; d < nb; d++) {
        int e = d - lead;
        st[d] = e < 0 || t->shape[e] == 1 ? 0 : t->stride[e];
    }
}

int mm_cpu_matmul(mm_op_ctx *ctx) {
    const mm_tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    mm_tensor *c = ctx->out;
    if (c->numel == 0)
        return MM_EUNSUPPORTED;
    if (c->dtype != MM_F64) {
        int rc =
            a->shape[a->ndim - 1] == 0 ? MM_EUNSUPPORTED : matmul_dnnl(a, b, c);
        if (rc != MM_EUNSUPPORTED)
            return rc;
        mm_error_clear();
    }
    if (c->dtype != MM_F32 && c->dtype != MM_F64)
        return MM_EUNSUPPORTED;
    /* the loop nest wants B's rows contiguous */
    mm_tensor *bc = NULL;
    if (b->stride[b->ndim - 1] != 1 && b->shape[b->ndim - 1] > 1) {
        MM_TRY(
            mm_tensor_new_owned(b->ndim, b->shape, b->dtype, b->device, &bc));
        int rc = mm_copy_strided(bc, b);
        if (rc < 0) {
            mm_tensor_release(bc);
            return rc;
        }
        b = bc;
    }
    int64_t sa[MM_MAX_DIMS], sb[MM_MAX_DIMS];
    batch_strides(a, c, sa);
    batch_strides(b, c, sb);
    gemm(a, b, c, sa, sb);
    mm_tensor_release(bc);
    return 0;
}
