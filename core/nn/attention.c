/* MultiheadAttention: torch.nn.MultiheadAttention's parameters (the packed
 * in_proj_weight (3E, E) and in_proj_bias (3E), or q/k/v_proj_weight when
 * kdim/vdim differ; out_proj a Linear child), its state_dict keys and
 * initialisation, computed with linear + scaled_dot_product_attention. */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

/* A float additive mask from a torch MHA mask: bool true (not allowed) ->
 * -inf, false -> 0; a float mask is used as it is. */
static int additive_mask(const char *what, mm_tensor *mask, mm_dtype dtype,
                         mm_tensor **out) {
    if (mask->dtype != MM_BOOL) {
        if (!mm_dtype_is_float(mask->dtype))
            return mm_error_set(MM_EINVAL,
                                "multi_head_attention: %s must be bool or "
                                "float, got %s",
                                what, mm_dtype_name(mask->dtype));
        return mm_to_dtype(mask, dtype, out);
    }
    mm_tensor *f;
    MM_TRY(mm_empty(mask->ndim, mask->shape, dtype, &f));
    for (int64_t i = 0; i < mask->numel; i++)
        mm_tensor_set_flat(f, i,
                           mm_tensor_get_flat(mask, i) != 0 ? -INFINITY : 0.0);
    *out = f;
    return MM_OK;
}

/* x (N, T, Ein) -> heads (N, H, T, hd) of x W^T + b. */
static int project(mm_tensor *x, mm_tensor *w, mm_tensor *b, int64_t heads,
                   mm_tensor **out) {
    mm_tensor *y;
    MM_TRY(mm_linear(x, w, b, &y)); // (N, T, E)
    int64_t n = y->shape[0], t = y->shape[1], e = y->shape[2];
    MM_TRY(
        mm_reshape(y, MM_SHAPE(n, t, heads, e / heads), &y)); // (N, T, H, hd)
    return mm_transpose(y, 1, 2, out);                        // (N, H, T, hd)
}

int mm_multihead_attention_forward(mm_module *m, mm_tensor *query,
                                   mm_tensor *key, mm_tensor *value,
                                   mm_tensor *key_padding_mask,
                                   mm_tensor *attn_mask, mm_tensor **out) {
    MM_TRY(nn_check_class("multi_head_attention", m,
                          &mm_multihead_attention_class));
    mm_nn_mha *a = (mm_nn_mha *)m;
    key = key ? key : query;
    value = value ? value : key;
    int64_t e = a->embed_dim, h = a->num_heads;
    bool batched = query->ndim == 3;
    if ((query->ndim != 3 && query->ndim != 2) || key->ndim != query->ndim ||
        value->ndim != query->ndim)
        return mm_error_set(MM_EINVAL,
                            "multi_head_attention: query, key and value must "
                            "all be 3-D (batched) or 2-D, got %d, %d, %d dims",
                            query->ndim, key->ndim, value->ndim);
    if (query->shape[query->ndim - 1] != e)
        return mm_error_set(MM_EINVAL,
                            "multi_head_attention: query's last dim is %lld, "
                            "expected embed_dim %lld",
                            (long long)query->shape[query->ndim - 1],
                            (long long)e);
    /* to (N, T, E) */
    mm_tensor *q = query, *k = key, *v = value;
    if (!batched) {
        MM_TRY(mm_unsqueeze(q, 0, &q));
        MM_TRY(mm_unsqueeze(k, 0, &k));
        MM_TRY(mm_unsqueeze(v, 0, &v));
    } else if (!a->batch_first) { // (L, N, E) -> (N, L, E)
        MM_TRY(mm_transpose(q, 0, 1, &q));
        MM_TRY(mm_transpose(k, 0, 1, &k));
        MM_TRY(mm_transpose(v, 0, 1, &v));
    }
    int64_t n = q->shape[0], l = q->shape[1], s = k->shape[1];
    if (k->shape[0] != n || v->shape[0] != n || v->shape[1] != s)
        return mm_error_set(MM_EINVAL,
                            "multi_head_attention: key and value must have "
                            "the query's batch size and one length");
    mm_tensor *wq, *wk, *wv, *bq = NULL, *bk = NULL, *bv = NULL;
    if (a->in_proj_weight) {
        MM_TRY(mm_narrow(a->in_proj_weight, 0, 0, e, &wq));
        MM_TRY(mm_narrow(a->in_proj_weight, 0, e, e, &wk));
        MM_TRY(mm_narrow(a->in_proj_weight, 0, 2 * e, e, &wv));
    } else {
        wq = a->q_proj_weight, wk = a->k_proj_weight, wv = a->v_proj_weight;
    }
    if (a->in_proj_bias) {
        MM_TRY(mm_narrow(a->in_proj_bias, 0, 0, e, &bq));
        MM_TRY(mm_narrow(a->in_proj_bias, 0, e, e, &bk));
        MM_TRY(mm_narrow(a->in_proj_bias, 0, 2 * e, e, &bv));
    }
    mm_tensor *qh, *kh, *vh;
    MM_TRY(project(q, wq, bq, h, &qh)); // (N, H, L, hd)
    MM_TRY(project(k, wk, bk, h, &kh)); // (N, H, S, hd)
    MM_TRY(project(v, wv, bv, h, &vh)); // (N, H, S, hd)

    mm_tensor *mask = NULL; // additive, broadcast to (N, H, L, S)
    if (attn_mask) {
        MM_TRY(additive_mask("attn_mask", attn_mask, qh->dtype, &mask));
        if (mask->ndim == 3) { // (N * H, L, S)
            if (mask->shape[0] != n * h)
                return mm_error_set(MM_EINVAL,
                                    "multi_head_attention: a 3-D attn_mask "
                                    "must have batch * num_heads = %lld "
                                    "rows, got %lld",
                                    (long long)(n * h),
                                    (long long)mask->shape[0]);
            MM_TRY(mm_reshape(mask, MM_SHAPE(n, h, l, s), &mask));
        } else if (mask->ndim != 2) {
            return mm_error_set(MM_EINVAL,
                                "multi_head_attention: attn_mask must be 2-D "
                                "or 3-D, got %d dims",
                                mask->ndim);
        }
    }
    if (key_padding_mask) {
        mm_tensor *kp;
        MM_TRY(additive_mask("key_padding_mask", key_padding_mask, qh->dtype,
                             &kp));
        MM_TRY(mm_reshape(kp, MM_SHAPE(n, 1, 1, s), &kp)); // (N, 1, 1, S)
        if (mask)
            MM_TRY(mm_add(mask, kp, &mask));
        else
            mask = kp;
    }
    double p = m->training ? a->dropout : 0.0;
    mm_tensor *o;
    MM_TRY(mm_scaled_dot_product_attention(qh, kh, vh, mask, p, false, NULL,
                                           NULL, &o)); // (N, H, L, hd)
    MM_TRY(mm_transpose(o, 1, 2, &o));                 // (N, L, H, hd)
    MM_TRY(mm_reshape(o, MM_SHAPE(n, l, e), &o));      // (N, L, E)
    MM_TRY(mm_linear_forward(a->out_proj, o, &o));     // (N, L, E)
    if (!batched)
        return mm_squeeze(o, 0, out);
    if (!a->batch_first)
        return mm_transpose(o, 0, 1, out); // (L, N, E)
    *out = o;
    return MM_OK;
}

/* inputs: query [, key, value [, key_padding_mask [, attn_mask]]]; the
 * masks may be NULL. One input is self-attention. */
static int mha_fwd(mm_module *m, int n, mm_tensor *const *in, mm_tensor **out) {
    if (n != 1 && (n < 3 || n > 5))
        return mm_error_set(MM_EINVAL,
                            "MultiheadAttention: expected 1 (query) or 3 to 5 "
                            "inputs (query, key, value, key_padding_mask, "
                            "attn_mask), got %d",
                            n);
    return mm_multihead_attention_forward(
        m, in[0], n > 1 ? in[1] : NULL, n > 2 ? in[2] : NULL,
        n > 3 ? in[3] : NULL, n > 4 ? in[4] : NULL, out);
}

/* _reset_parameters: xavier_uniform_ on the projections, zero biases;
 * out_proj.weight keeps Linear's initialisation. */
static int mha_init(mm_module *m) {
    mm_nn_mha *a = (mm_nn_mha *)m;
    if (a->in_proj_weight)
        MM_TRY(mm_init_xavier_uniform_(a->in_proj_weight, 1.0, NULL));
    else {
        MM_TRY(mm_init_xavier_uniform_(a->q_proj_weight, 1.0, NULL));
        MM_TRY(mm_init_xavier_uniform_(a->k_proj_weight, 1.0, NULL));
        MM_TRY(mm_init_xavier_uniform_(a->v_proj_weight, 1.0, NULL));
    }
    if (a->in_proj_bias) {
        MM_TRY(mm_init_zeros_(a->in_proj_bias));
        mm_nn_linear *o = (mm_nn_linear *)a->out_proj;
        if (o->bias)
            MM_TRY(mm_init_zeros_(o->bias));
    }
    return MM_OK;
}

const mm_module_class mm_multihead_attention_class = {
    .name = "MultiheadAttention", .forward = mha_fwd, .init_weights = mha_init};

int mm_multihead_attention_new(int64_t embed_dim, int64_t num_heads,
                               double dropout, bool bias, int64_t kdim,
                               int64_t vdim, bool batch_first,
                               mm_module **out) {
    *out = NULL;
    kdim = kdim > 0 ? kdim : embed_dim;
    vdim = vdim > 0 ? vdim : embed_dim;
    if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads)
        return mm_error_set(MM_EINVAL,
                            "MultiheadAttention: embed_dim %lld must be "
                            "divisible by num_heads %lld",
                            (long long)embed_dim, (long long)num_heads);
    if (!(dropout >= 0 && dropout <= 1))
        return mm_error_set(MM_EINVAL,
                            "MultiheadAttention: dropout %g is not in [0, 1]",
                            dropout);
    mm_module *m, *proj;
    MM_TRY(mm_module_new(&mm_multihead_attention_class, sizeof(mm_nn_mha), &m));
    mm_nn_mha *a = (mm_nn_mha *)m;
    a->embed_dim = embed_dim;
    a->num_heads = num_heads;
    a->dropout = dropout;
    a->batch_first = batch_first;
    a->kdim = kdim;
    a->vdim = vdim;
    int rc;
    /* torch's registration order: the projection weights, in_proj_bias,
     * then the out_proj child */
    if (kdim == embed_dim && vdim == embed_dim) {
        rc = nn_add_param(m, "in_proj_weight",
                          MM_SHAPE(3 * embed_dim, embed_dim),
                          &a->in_proj_weight);
    } else {
        rc = nn_add_param(m, "q_proj_weight", MM_SHAPE(embed_dim, embed_dim),
                          &a->q_proj_weight);
        if (!rc)
            rc = nn_add_param(m, "k_proj_weight", MM_SHAPE(embed_dim, kdim),
                              &a->k_proj_weight);
        if (!rc)
            rc = nn_add_param(m, "v_proj_weight", MM_SHAPE(embed_dim, vdim),
                              &a->v_proj_weight);
    }
    if (!rc && bias)
        rc = nn_add_param(m, "in_proj_bias", MM_SHAPE(3 * embed_dim),
                          &a->in_proj_bias);
    if (!rc)
        rc = mm_linear_new(embed_dim, embed_dim, bias, &proj);
    if (!rc) {
        a->out_proj = proj;
        rc = mm_module_add_child(m, "out_proj", proj);
    }
    return nn_finish(m, rc, out);
}

/* ---- MODELS component -------------------------------------------------------
 */

static int mha_build(mm_build_ctx *ctx, void **out) {
    int64_t e, h, kdim = 0, vdim = 0;
    double dropout;
    bool bias, bias_kv, zero_attn, batch_first;
    MM_TRY(mm_build_int(ctx, "embed_dim", &e));
    MM_TRY(mm_build_int(ctx, "num_heads", &h));
    MM_TRY(mm_build_float(ctx, "dropout", &dropout));
    MM_TRY(mm_build_bool(ctx, "bias", &bias));
    MM_TRY(mm_build_bool(ctx, "add_bias_kv", &bias_kv));
    MM_TRY(mm_build_bool(ctx, "add_zero_attn", &zero_attn));
    MM_TRY(mm_build_bool(ctx, "batch_first", &batch_first));
    if (!mm_value_is_null(mm_build_arg(ctx, "kdim")))
        MM_TRY(mm_build_int(ctx, "kdim", &kdim));
    if (!mm_value_is_null(mm_build_arg(ctx, "vdim")))
        MM_TRY(mm_build_int(ctx, "vdim", &vdim));
    if (bias_kv || zero_attn)
        return mm_error_set(MM_EUNSUPPORTED,
                            "MultiheadAttention: add_bias_kv and add_zero_attn "
                            "are not supported yet");
    mm_module *m = NULL;
    int rc = mm_multihead_attention_new(e, h, dropout, bias, kdim, vdim,
                                        batch_first, &m);
    return nn_out(rc, m, out);
}

static const mm_param mha_params[] = {
    {.name = "embed_dim",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "model dimension E"},
    {.name = "num_heads",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "parallel heads (E / num_heads each)"},
    {.name = "dropout",
     .type = MM_PARAM_FLOAT,
     .def = "0.0",
     .doc = "dropout on the attention weights (training)"},
    {.name = "bias",
     .type = MM_PARAM_BOOL,
     .def = "true",
     .doc = "biases on the input and output projections"},
    {.name = "add_bias_kv",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "must be false (not supported yet)"},
    {.name = "add_zero_attn",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "must be false (not supported yet)"},
    {.name = "kdim",
     .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null",
     .doc = "features of key (null: embed_dim)"},
    {.name = "vdim",
     .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null",
     .doc = "features of value (null: embed_dim)"},
    {.name = "batch_first",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "inputs are (N, L, E) instead of (L, N, E)"},
};

NN_COMPONENT(mha_c, "MultiheadAttention",
             "multi-head attention (torch.nn.MultiheadAttention)", mha_params,
             mha_build);

int mm_nn_register_attention(void) { return mm_register(&mha_c); }
