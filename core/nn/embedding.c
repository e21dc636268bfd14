/* Embedding: a lookup table (torch.nn.Embedding) over mm_embedding. */
#include <string.h>

#include "mm/reduction.h"
#include "nn_internal.h"

int mm_embedding_forward(mm_module *m, mm_tensor *indices, mm_tensor **out) {
    MM_TRY(nn_check_class("embedding", m, &mm_embedding_class));
    mm_nn_embedding *e = (mm_nn_embedding *)m;
    // indices (*) of i64/i32 -> (*, embedding_dim)
    return mm_embedding(e->weight, indices, e->padding_idx, e->has_padding_idx,
                        out);
}

static int embedding_fwd(mm_module *m, int n, mm_tensor *const *in,
                         mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    return mm_embedding_forward(m, in[0], out);
}

/* reset_parameters: normal_(0, 1), then the padding row zeroed. */
static int embedding_init(mm_module *m) {
    mm_nn_embedding *e = (mm_nn_embedding *)m;
    MM_TRY(mm_init_normal_(e->weight, 0.0, 1.0, NULL));
    if (!e->has_padding_idx)
        return MM_OK;
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *row = NULL;
    int rc = mm_select(e->weight, 0, e->padding_idx, &row);
    if (!rc)
        rc = mm_init_zeros_(row);
    mm_pool_close(pool);
    return rc;
}

static void embedding_repr(const mm_module *m, char *buf, size_t size) {
    const mm_nn_embedding *e = (const mm_nn_embedding *)m;
    int w = snprintf(buf, size, "%lld, %lld", (long long)e->num_embeddings,
                     (long long)e->embedding_dim);
    if (e->has_padding_idx && w >= 0 && (size_t)w < size)
        snprintf(buf + w, size - (size_t)w, ", padding_idx=%lld",
                 (long long)e->padding_idx);
}

const mm_module_class mm_embedding_class = {.name = "Embedding",
                                            .forward = embedding_fwd,
                                            .init_weights = embedding_init,
                                            .extra_repr = embedding_repr};

int mm_embedding_new(int64_t num_embeddings, int64_t embedding_dim,
                     int64_t padding_idx, bool has_padding_idx,
                     mm_module **out) {
    *out = NULL;
    if (num_embeddings <= 0 || embedding_dim <= 0)
        return mm_error_set(MM_EINVAL,
                            "Embedding: num_embeddings %lld and embedding_dim "
                            "%lld must be positive",
                            (long long)num_embeddings,
                            (long long)embedding_dim);
    if (has_padding_idx) {
        if (padding_idx >= num_embeddings || padding_idx < -num_embeddings)
            return mm_error_set(MM_EINVAL,
                                "Embedding: padding_idx %lld must be within "
                                "num_embeddings %lld",
                                (long long)padding_idx,
                                (long long)num_embeddings);
        if (padding_idx < 0) /* torch stores it non-negative */
            padding_idx += num_embeddings;
    }
    mm_module *m;
    MM_TRY(mm_module_new(&mm_embedding_class, sizeof(mm_nn_embedding), &m));
    mm_nn_embedding *e = (mm_nn_embedding *)m;
    e->num_embeddings = num_embeddings;
    e->embedding_dim = embedding_dim;
    e->padding_idx = has_padding_idx ? padding_idx : 0;
    e->has_padding_idx = has_padding_idx;
    int rc = nn_add_param(m, "weight", MM_SHAPE(num_embeddings, embedding_dim),
                          &e->weight);
    return nn_finish(m, rc, out);
}

static int embedding_build(mm_build_ctx *ctx, void **out) {
    int64_t n, d, pad = 0;
    bool has_pad, sgbf, sparse;
    MM_TRY(mm_build_int(ctx, "num_embeddings", &n));
    MM_TRY(mm_build_int(ctx, "embedding_dim", &d));
    has_pad = !mm_value_is_null(mm_build_arg(ctx, "padding_idx"));
    if (has_pad)
        MM_TRY(mm_build_int(ctx, "padding_idx", &pad));
    MM_TRY(mm_build_bool(ctx, "scale_grad_by_freq", &sgbf));
    MM_TRY(mm_build_bool(ctx, "sparse", &sparse));
    if (!mm_value_is_null(mm_build_arg(ctx, "max_norm")) || sgbf || sparse)
        return mm_error_set(MM_EUNSUPPORTED,
                            "Embedding: max_norm, scale_grad_by_freq and "
                            "sparse are not supported");
    mm_module *m = NULL;
    int rc = mm_embedding_new(n, d, pad, has_pad, &m);
    return nn_out(rc, m, out);
}

static const mm_param embedding_params[] = {
    {.name = "num_embeddings",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "size of the dictionary"},
    {.name = "embedding_dim",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "size of each embedding vector"},
    {.name = "padding_idx",
     .type = MM_PARAM_INT | MM_PARAM_NULL,
     .def = "null",
     .doc = "row that stays zero and gets no gradient"},
    {.name = "max_norm",
     .type = MM_PARAM_FLOAT | MM_PARAM_NULL,
     .def = "null",
     .doc = "must be null (renormalisation is not supported)"},
    {.name = "norm_type",
     .type = MM_PARAM_FLOAT,
     .def = "2.0",
     .doc = "p of the max_norm norm (unused)"},
    {.name = "scale_grad_by_freq",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "must be false"},
    {.name = "sparse",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "must be false"},
};

NN_COMPONENT(embedding_c, "Embedding",
             "a lookup table of embedding vectors (torch.nn.Embedding)",
             embedding_params, embedding_build);

int mm_nn_register_embedding(void) { return mm_register(&embedding_c); }
