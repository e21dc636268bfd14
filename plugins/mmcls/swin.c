/* SwinTransformer (mmpretrain/models/backbones/swin_transformer.py) with
 * SwinBlockSequence, SwinBlock, ShiftWindowMSA / WindowMSA with the
 * relative position bias (models/utils/attention.py) and mmcv's
 * PatchMerging, and the key map "torchvision.swin" from torchvision's
 * swin_t / swin_s / swin_b.
 *
 * Module names are mmpretrain's: patch_embed.{projection, norm},
 * stages.<s>.blocks.<b>.{norm1, attn.w_msa.{relative_position_bias_table,
 * relative_position_index, qkv, proj}, norm2, ffn.layers.0.0,
 * ffn.layers.1}, stages.<s>.downsample.{norm, reduction}, norm<i> for each
 * of out_indices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mm/autograd.h>
#include <mm/checkpoint.h>
#include <mm/nn.h>
#include <mm/ops.h>
#include <mm/reduction.h>
#include <mm/registry.h>

#include "mmcls.h"
#include "transformer.h"

/* ---- WindowMSA ------------------------------------------------------------ */

typedef struct window_msa {
    mm_module base;
    int64_t embed_dims, num_heads, window;
    double attn_drop, proj_drop;
    mm_tensor *table; /* relative_position_bias_table ((2w-1)^2, heads) */
    mm_tensor *index; /* relative_position_index (w*w, w*w) i64 */
    mm_module *qkv, *proj;
} window_msa;

/* x (nW*B, N, C) and mask (nW, N, N) of 0 / -100 or NULL -> (nW*B, N, C).
 * The relative position bias (heads, N, N) and the mask are one additive
 * attention mask; q, k, v are viewed (B, nW, heads, N, d) so it
 * broadcasts. */
static int window_msa_forward(mm_module *m, mm_tensor *x, mm_tensor *mask,
                              mm_tensor **out) {
    window_msa *w = (window_msa *)m;
    int64_t B_ = x->shape[0], N = x->shape[1], C = x->shape[2];
    int64_t h = w->num_heads, d = C / h;
    int64_t nW = mask ? mask->shape[0] : 1;
    mm_tensor *qkv, *q, *k, *v, *bias, *y, *idx;
    MM_TRY(mm_linear_forward(w->qkv, x, &qkv)); /* (B_, N, 3C) */
    MM_TRY(mm_reshape(qkv, MM_SHAPE(B_ / nW, nW, N, 3, h, d), &qkv));
    MM_TRY(mm_permute(qkv, MM_DIMS(3, 0, 1, 4, 2, 5), &qkv));
    MM_TRY(mm_select(qkv, 0, 0, &q)); /* (B, nW, h, N, d) */
    MM_TRY(mm_select(qkv, 0, 1, &k));
    MM_TRY(mm_select(qkv, 0, 2, &v));
    MM_TRY(mm_reshape(w->index, MM_SHAPE(N * N), &idx));
    MM_TRY(mm_index_select(w->table, 0, idx, &bias)); /* (N*N, h) */
    MM_TRY(mm_reshape(bias, MM_SHAPE(N, N, h), &bias));
    MM_TRY(mm_permute(bias, MM_DIMS(2, 0, 1), &bias)); /* (h, N, N) */
    if (mask) {
        mm_tensor *mk;
        MM_TRY(mm_unsqueeze(mask, 1, &mk)); /* (nW, 1, N, N) */
        MM_TRY(mm_add(bias, mk, &bias));    /* (nW, h, N, N) */
    }
    double p = m->training ? w->attn_drop : 0.0;
    MM_TRY(mm_scaled_dot_product_attention(q, k, v, bias, p, false, NULL, NULL,
                                           &y)); /* (B, nW, h, N, d) */
    MM_TRY(mm_transpose(y, 2, 3, &y));           /* (B, nW, N, h, d) */
    MM_TRY(mm_reshape(y, MM_SHAPE(B_, N, C), &y));
    MM_TRY(mm_linear_forward(w->proj, y, &y));
    return mm_dropout(y, w->proj_drop, m->training, NULL, out);
}

static int window_msa_fwd(mm_module *m, int n, mm_tensor *const *in,
                          mm_tensor **out) {
    if (n != 1 && n != 2)
        return mm_error_set(MM_EINVAL, "WindowMSA takes x and a mask");
    return window_msa_forward(m, in[0], n == 2 ? in[1] : NULL, out);
}

static void window_msa_repr(const mm_module *m, char *buf, size_t size) {
    const window_msa *w = (const window_msa *)m;
    snprintf(buf, size, "embed_dims=%lld, window_size=(%lld, %lld), "
             "num_heads=%lld",
             (long long)w->embed_dims, (long long)w->window,
             (long long)w->window, (long long)w->num_heads);
}

static const mm_module_class window_msa_class = {.name = "WindowMSA",
                                                 .forward = window_msa_fwd,
                                                 .extra_repr =
                                                     window_msa_repr};

/* mmpretrain's index: c[i * w + j] = i * (2w - 1) + j, index[a][b] =
 * c[a] + c[N - 1 - b] (double_step_seq, plus its transpose, flipped). */
static int relative_index(int64_t w, mm_tensor **out) {
    int64_t N = w * w;
    int64_t *c = malloc((size_t)N * sizeof *c);
    int64_t *idx = malloc((size_t)(N * N) * sizeof *idx);
    int rc = (!c || !idx) ? mm_error_set(MM_ENOMEM, "out of memory") : MM_OK;
    for (int64_t i = 0; !rc && i < w; i++)
        for (int64_t j = 0; j < w; j++)
            c[i * w + j] = i * (2 * w - 1) + j;
    for (int64_t a = 0; !rc && a < N; a++)
        for (int64_t b = 0; b < N; b++)
            idx[a * N + b] = c[a] + c[N - 1 - b];
    if (!rc)
        rc = mm_from_data(idx, MM_SHAPE(N, N), MM_I64, out);
    free(c);
    free(idx);
    return rc;
}

static int window_msa_new(int64_t E, int64_t window, int64_t heads,
                          bool qkv_bias, double attn_drop, double proj_drop,
                          mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&window_msa_class, sizeof(window_msa), &m));
    window_msa *w = (window_msa *)m;
    w->embed_dims = E;
    w->num_heads = heads;
    w->window = window;
    w->attn_drop = attn_drop;
    w->proj_drop = proj_drop;
    mm_pool *pool;
    mm_tensor *t;
    int rc = mm_pool_open(&pool);
    if (!rc) {
        rc = mm_zeros(MM_SHAPE((2 * window - 1) * (2 * window - 1), heads),
                      MM_F32, &t);
        if (!rc)
            rc = mm_module_add_parameter(m, "relative_position_bias_table", t,
                                         &w->table);
        if (!rc)
            rc = relative_index(window, &t);
        if (!rc)
            rc = mm_module_add_buffer(m, "relative_position_index", t, true,
                                      &w->index);
        mm_pool_close(pool);
    }
    if (!rc && !(rc = mm_linear_new(E, 3 * E, qkv_bias, &c))) {
        w->qkv = c;
        rc = mm_module_add_child(m, "qkv", c);
    }
    if (!rc && !(rc = mm_linear_new(E, E, true, &c))) {
        w->proj = c;
        rc = mm_module_add_child(m, "proj", c);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- ShiftWindowMSA ------------------------------------------------------- */

typedef struct shift_msa {
    mm_module base;
    int64_t window, shift;
    double drop_path;
    bool pad_small_map;
    mm_module *w_msa; /* child */
    /* the attention mask of the last padded size (constant per size) */
    mm_tensor *mask;
    int64_t mask_hw[2];
} shift_msa;

/* mmpretrain's get_attn_mask: the padded map split into 3 x 3 regions by
 * the last window and the shift; in each window, 0 between tokens of one
 * region and -100 between regions. (nW, ws*ws, ws*ws) f32. */
int mmcls_swin_attn_mask(int64_t Hp, int64_t Wp, int64_t ws, int64_t shift,
                         mm_tensor **out) {
    int64_t nh = Hp / ws, nw = Wp / ws, N = ws * ws, nW = nh * nw;
    int *region = malloc((size_t)(Hp * Wp) * sizeof *region);
    float *mask = malloc((size_t)(nW * N * N) * sizeof *mask);
    if (!region || !mask) {
        free(region);
        free(mask);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    for (int64_t y = 0; y < Hp; y++)
        for (int64_t x = 0; x < Wp; x++) {
            int ry = y < Hp - ws ? 0 : y < Hp - shift ? 1 : 2;
            int rx = x < Wp - ws ? 0 : x < Wp - shift ? 1 : 2;
            region[y * Wp + x] = ry * 3 + rx;
        }
    for (int64_t wy = 0; wy < nh; wy++)
        for (int64_t wx = 0; wx < nw; wx++) {
            float *mw = mask + (wy * nw + wx) * N * N;
            for (int64_t a = 0; a < N; a++) {
                int ra = region[(wy * ws + a / ws) * Wp + wx * ws + a % ws];
                for (int64_t b = 0; b < N; b++) {
                    int rb = region[(wy * ws + b / ws) * Wp + wx * ws +
                                    b % ws];
                    mw[a * N + b] = ra == rb ? 0.0f : -100.0f;
                }
            }
        }
    int rc = mm_from_data(mask, MM_SHAPE(nW, N, N), MM_F32, out);
    free(region);
    free(mask);
    return rc;
}

/* (B, H, W, C) -> (B * nW, ws * ws, C) */
static int window_partition(mm_tensor *x, int64_t ws, mm_tensor **out) {
    int64_t B = x->shape[0], H = x->shape[1], W = x->shape[2],
            C = x->shape[3];
    MM_TRY(mm_reshape(x, MM_SHAPE(B, H / ws, ws, W / ws, ws, C), &x));
    MM_TRY(mm_permute(x, MM_DIMS(0, 1, 3, 2, 4, 5), &x));
    return mm_reshape(x, MM_SHAPE(B * (H / ws) * (W / ws), ws * ws, C), out);
}

/* (B * nW, ws * ws, C) -> (B, H, W, C) */
static int window_reverse(mm_tensor *x, int64_t B, int64_t H, int64_t W,
                          int64_t ws, mm_tensor **out) {
    int64_t C = x->shape[2];
    MM_TRY(mm_reshape(x, MM_SHAPE(B, H / ws, W / ws, ws, ws, C), &x));
    MM_TRY(mm_permute(x, MM_DIMS(0, 1, 3, 2, 4, 5), &x));
    return mm_reshape(x, MM_SHAPE(B, H, W, C), out);
}

static int shift_msa_forward(mm_module *m, mm_tensor *query,
                             const int64_t hw[2], mm_tensor **out) {
    shift_msa *s = (shift_msa *)m;
    int64_t B = query->shape[0], L = query->shape[1], C = query->shape[2];
    int64_t H = hw[0], W = hw[1], ws = s->window, shift = s->shift;
    if (L != H * W)
        return mm_error_set(MM_EINVAL,
                            "The query length %lld doesn't match the input "
                            "shape (%lld, %lld).",
                            (long long)L, (long long)H, (long long)W);
    int64_t mn = H < W ? H : W;
    if (mn == ws)
        shift = s->pad_small_map ? shift : 0;
    else if (mn < ws && !s->pad_small_map)
        return mm_error_set(MM_EINVAL,
                            "The input shape (%lld, %lld) is smaller than "
                            "the window size (%lld). Please set "
                            "`pad_small_map=True`, or decrease the "
                            "`window_size`.",
                            (long long)H, (long long)W, (long long)ws);
    mm_tensor *x, *mask = NULL;
    MM_TRY(mm_reshape(query, MM_SHAPE(B, H, W, C), &x));
    int64_t pr = (ws - W % ws) % ws, pb = (ws - H % ws) % ws;
    if (pr || pb) {
        const int64_t pads[6] = {0, 0, 0, pr, 0, pb};
        MM_TRY(mm_pad(x, 6, pads, MM_PAD_CONSTANT, 0.0, &x));
    }
    int64_t Hp = H + pb, Wp = W + pr;
    if (shift > 0) {
        MM_TRY(mm_roll(x, MM_SHAPE(-shift, -shift), MM_DIMS(1, 2), &x));
        if (!s->mask || s->mask_hw[0] != Hp || s->mask_hw[1] != Wp) {
            mm_tensor *mk;
            mm_pool *pool;
            MM_TRY(mm_pool_open(&pool));
            int rc = mmcls_swin_attn_mask(Hp, Wp, ws, shift, &mk);
            if (!rc) {
                mm_tensor_release(s->mask);
                s->mask = mm_tensor_retain(mk);
                s->mask_hw[0] = Hp;
                s->mask_hw[1] = Wp;
            }
            mm_pool_close(pool);
            MM_TRY(rc);
        }
        mask = s->mask;
    }
    MM_TRY(window_partition(x, ws, &x));
    MM_TRY(window_msa_forward(s->w_msa, x, mask, &x));
    MM_TRY(window_reverse(x, B, Hp, Wp, ws, &x));
    if (shift > 0)
        MM_TRY(mm_roll(x, MM_SHAPE(shift, shift), MM_DIMS(1, 2), &x));
    if (pr || pb) {
        MM_TRY(mm_narrow(x, 1, 0, H, &x));
        MM_TRY(mm_narrow(x, 2, 0, W, &x));
    }
    MM_TRY(mm_reshape(x, MM_SHAPE(B, H * W, C), &x));
    return mm_drop_path(x, s->drop_path, m->training, true, NULL, out);
}

static void shift_msa_fini(mm_module *m) {
    mm_tensor_release(((shift_msa *)m)->mask);
}

/* The generic forward: mmpretrain's forward(query, hw_shape) with hw_shape
 * as an integer tensor of two values. */
static int shift_msa_fwd(mm_module *m, int n, mm_tensor *const *in,
                         mm_tensor **out) {
    if (n != 2 || in[1]->numel != 2 || mm_dtype_is_float(in[1]->dtype))
        return mm_error_set(MM_EINVAL,
                            "ShiftWindowMSA takes the query (B, H*W, C) and "
                            "an integer tensor [H, W]");
    int64_t hw[2] = {(int64_t)mm_tensor_get_flat(in[1], 0),
                     (int64_t)mm_tensor_get_flat(in[1], 1)};
    return shift_msa_forward(m, in[0], hw, out);
}

static const mm_module_class shift_msa_class = {.name = "ShiftWindowMSA",
                                                .forward = shift_msa_fwd,
                                                .fini = shift_msa_fini};

static int shift_msa_new(int64_t E, int64_t heads, int64_t window,
                         int64_t shift, double drop_path, bool pad_small_map,
                         mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&shift_msa_class, sizeof(shift_msa), &m));
    shift_msa *s = (shift_msa *)m;
    s->window = window;
    s->shift = shift;
    s->drop_path = drop_path;
    s->pad_small_map = pad_small_map;
    int rc = window_msa_new(E, window, heads, true, 0.0, 0.0, &c);
    if (!rc) {
        s->w_msa = c;
        rc = mm_module_add_child(m, "w_msa", c);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- SwinBlock ------------------------------------------------------------ */

typedef struct swin_block {
    mm_module base;
    mm_module *norm1, *attn, *norm2, *ffn;
} swin_block;

static int swin_block_forward(mm_module *m, mm_tensor *x, const int64_t hw[2],
                              mm_tensor **out) {
    swin_block *b = (swin_block *)m;
    mm_tensor *y;
    MM_TRY(mm_norm_forward(b->norm1, x, &y));
    MM_TRY(shift_msa_forward(b->attn, y, hw, &y));
    MM_TRY(mm_add(x, y, &x));
    MM_TRY(mm_norm_forward(b->norm2, x, &y));
    return mmcls_ffn_forward(b->ffn, y, x, out);
}

static const mm_module_class swin_block_class = {.name = "SwinBlock"};

static int swin_block_new(int64_t E, int64_t heads, int64_t window, bool shift,
                          double drop_path, bool pad_small_map,
                          mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&swin_block_class, sizeof(swin_block), &m));
    swin_block *b = (swin_block *)m;
    int rc = mmcls_ln_new(E, 1e-5, &c);
    if (!rc) {
        b->norm1 = c;
        rc = mm_module_add_child(m, "norm1", c);
    }
    if (!rc && !(rc = shift_msa_new(E, heads, window, shift ? window / 2 : 0,
                                    drop_path, pad_small_map, &c))) {
        b->attn = c;
        rc = mm_module_add_child(m, "attn", c);
    }
    if (!rc && !(rc = mmcls_ln_new(E, 1e-5, &c))) {
        b->norm2 = c;
        rc = mm_module_add_child(m, "norm2", c);
    }
    if (!rc && !(rc = mmcls_ffn_new(E, 4 * E, 0.0, drop_path, &c))) {
        b->ffn = c;
        rc = mm_module_add_child(m, "ffn", c);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- PatchMerging (mmcv) -------------------------------------------------- */

typedef struct patch_merging {
    mm_module base;
    mm_module *norm, *reduction;
} patch_merging;

/* x (B, H*W, C) -> (B, ceil(H/2)*ceil(W/2), 2C). nn.Unfold(2, stride 2)
 * orders the 4C features channel-major: c * 4 + kh * 2 + kw. */
static int patch_merging_forward(mm_module *m, mm_tensor *x, int64_t hw[2],
                                 mm_tensor **out) {
    patch_merging *p = (patch_merging *)m;
    int64_t B = x->shape[0], C = x->shape[2], H = hw[0], W = hw[1];
    MM_TRY(mm_reshape(x, MM_SHAPE(B, H, W, C), &x));
    if (H % 2 || W % 2) { /* AdaptivePadding 'corner' */
        const int64_t pads[6] = {0, 0, 0, W % 2, 0, H % 2};
        MM_TRY(mm_pad(x, 6, pads, MM_PAD_CONSTANT, 0.0, &x));
        H += H % 2;
        W += W % 2;
    }
    MM_TRY(mm_reshape(x, MM_SHAPE(B, H / 2, 2, W / 2, 2, C), &x));
    MM_TRY(mm_permute(x, MM_DIMS(0, 1, 3, 5, 2, 4), &x)); /* kh, kw last */
    MM_TRY(mm_reshape(x, MM_SHAPE(B, (H / 2) * (W / 2), 4 * C), &x));
    hw[0] = H / 2;
    hw[1] = W / 2;
    MM_TRY(mm_norm_forward(p->norm, x, &x));
    return mm_linear_forward(p->reduction, x, out);
}

static const mm_module_class patch_merging_class = {.name = "PatchMerging"};

static int patch_merging_new(int64_t in, int64_t out_ch, mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&patch_merging_class, sizeof(patch_merging), &m));
    patch_merging *p = (patch_merging *)m;
    int rc = mmcls_ln_new(4 * in, 1e-5, &c);
    if (!rc) {
        p->norm = c;
        rc = mm_module_add_child(m, "norm", c);
    }
    if (!rc && !(rc = mm_linear_new(4 * in, out_ch, false, &c))) {
        p->reduction = c;
        rc = mm_module_add_child(m, "reduction", c);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- SwinBlockSequence ---------------------------------------------------- */

typedef struct swin_stage {
    mm_module base;
    int64_t embed_dims;
    mm_module *blocks, *downsample; /* downsample may be NULL */
} swin_stage;

static const mm_module_class swin_stage_class = {.name = "SwinBlockSequence"};

static int swin_stage_new(int64_t E, int64_t depth, int64_t heads,
                          int64_t window, bool downsample, const double *dpr,
                          bool pad_small_map, mm_module **out) {
    mm_module *m, *c;
    MM_TRY(mm_module_new(&swin_stage_class, sizeof(swin_stage), &m));
    swin_stage *s = (swin_stage *)m;
    s->embed_dims = E;
    int rc = mm_module_list_new(0, NULL, &c);
    if (!rc) {
        s->blocks = c;
        rc = mm_module_add_child(m, "blocks", c);
    }
    for (int64_t i = 0; !rc && i < depth; i++)
        if (!(rc = swin_block_new(E, heads, window, i % 2 == 1, dpr[i],
                                  pad_small_map, &c)))
            rc = mm_sequential_append(s->blocks, c);
    if (!rc && downsample && !(rc = patch_merging_new(E, 2 * E, &c))) {
        s->downsample = c;
        rc = mm_module_add_child(m, "downsample", c);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

/* ---- SwinTransformer ------------------------------------------------------ */

typedef struct swin {
    mm_module base;
    int64_t embed_dims, depths[4], num_heads[4], num_features[4];
    int64_t patch_res[2];
    int n_out;
    int64_t out_indices[4];
    bool out_after_downsample;
    double drop_rate;
    mm_interp_mode interp;
    int64_t frozen_stages;
    mm_value *init_cfg;
    mm_tensor *abs_pos_embed; /* absolute_pos_embed or NULL */
    mm_module *patch_embed, *stages, *norms[4];
} swin;

static int swin_forward_multi(mm_module *m, int n, mm_tensor *const *in,
                              int cap, int *n_out, mm_tensor **outs) {
    swin *s = (swin *)m;
    if (n != 1)
        return mm_error_set(MM_EINVAL, "SwinTransformer takes one input");
    mm_tensor *x;
    int64_t hw[2];
    MM_TRY(mmcls_patch_embed_forward(s->patch_embed, in[0], &x, hw));
    if (s->abs_pos_embed) {
        mm_tensor *pos;
        MM_TRY(mmcls_resize_pos_embed(s->abs_pos_embed, s->patch_res, hw,
                                      s->interp, 0, &pos));
        MM_TRY(mm_add(x, pos, &x));
    }
    MM_TRY(mm_dropout(x, s->drop_rate, m->training, NULL, &x));
    int k = 0;
    for (int i = 0; i < 4; i++) {
        swin_stage *st = (swin_stage *)s->stages->children[i].module;
        for (size_t b = 0; b < st->blocks->n_children; b++)
            MM_TRY(swin_block_forward(st->blocks->children[b].module, x, hw,
                                      &x));
        if (st->downsample && s->out_after_downsample)
            MM_TRY(patch_merging_forward(st->downsample, x, hw, &x));
        if (s->norms[i]) {
            if (k >= cap)
                return mm_error_set(MM_EINVAL, "more outputs than %d", cap);
            mm_tensor *o;
            MM_TRY(mm_norm_forward(s->norms[i], x, &o));
            MM_TRY(mm_reshape(o, MM_SHAPE(-1, hw[0], hw[1],
                                          s->num_features[i]), &o));
            MM_TRY(mm_permute(o, MM_DIMS(0, 3, 1, 2), &o));
            MM_TRY(mm_contiguous(o, &outs[k++])); /* (B, C, h, w) */
        }
        if (st->downsample && !s->out_after_downsample)
            MM_TRY(patch_merging_forward(st->downsample, x, hw, &x));
    }
    *n_out = k;
    return MM_OK;
}

static int init_tables(const char *name, mm_module *m, void *user) {
    (void)name;
    (void)user;
    if (m->cls != &window_msa_class)
        return MM_OK;
    return mm_init_trunc_normal_(((window_msa *)m)->table, 0.0, 0.02, -2.0,
                                 2.0, NULL);
}

/* init_cfg on the whole backbone, then each WindowMSA's table
 * trunc_normal(0.02) (WindowMSA.init_weights) and absolute_pos_embed
 * trunc_normal(0.02) unless Pretrained. */
static int swin_init_weights(mm_module *m) {
    swin *s = (swin *)m;
    MM_TRY(mmcls_apply_init_cfg(m, s->init_cfg));
    MM_TRY(mm_module_named_modules(m, init_tables, NULL));
    const mm_value *type = s->init_cfg && mm_value_is_dict(s->init_cfg)
                               ? mm_value_dict_get(s->init_cfg, "type")
                               : NULL;
    if (s->abs_pos_embed && !(mm_value_is_string(type) &&
                              !strcmp(mm_value_get_string(type),
                                      "Pretrained")))
        MM_TRY(mm_init_trunc_normal_(s->abs_pos_embed, 0.0, 0.02, -2.0, 2.0,
                                     NULL));
    return MM_OK;
}

static void swin_fini(mm_module *m) { mm_value_release(((swin *)m)->init_cfg); }

static void swin_repr(const mm_module *m, char *buf, size_t size) {
    const swin *s = (const swin *)m;
    snprintf(buf, size, "embed_dims=%lld, depths=(%lld, %lld, %lld, %lld)",
             (long long)s->embed_dims, (long long)s->depths[0],
             (long long)s->depths[1], (long long)s->depths[2],
             (long long)s->depths[3]);
}

const mm_module_class mmcls_swin_class = {
    .name = "SwinTransformer",
    .forward = mm_module_forward_last,
    .init_weights = swin_init_weights,
    .fini = swin_fini,
    .extra_repr = swin_repr,
    .forward_multi = swin_forward_multi,
};

typedef struct swin_arch {
    const char *names[2];
    int64_t embed_dims, depths[4], heads[4];
} swin_arch;

static const swin_arch swin_archs[] = {
    {{"t", "tiny"}, 96, {2, 2, 6, 2}, {3, 6, 12, 24}},
    {{"s", "small"}, 96, {2, 2, 18, 2}, {3, 6, 12, 24}},
    {{"b", "base"}, 128, {2, 2, 18, 2}, {4, 8, 16, 32}},
    {{"l", "large"}, 192, {2, 2, 18, 2}, {6, 12, 24, 48}},
};

static int int4(const mm_value *v, int64_t out[4]) {
    if (!mm_value_is_list(v) || mm_value_len(v) != 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        const mm_value *e = mm_value_list_get(v, (size_t)i);
        if (!mm_value_is_int(e) || mm_value_get_int(e) <= 0)
            return -1;
        out[i] = mm_value_get_int(e);
    }
    return 0;
}

static int parse_swin_arch(mm_build_ctx *ctx, swin_arch *out) {
    const mm_value *a = mm_build_arg(ctx, "arch");
    if (mm_value_is_string(a)) {
        const char *s = mm_value_get_string(a);
        for (size_t i = 0; i < sizeof swin_archs / sizeof *swin_archs; i++)
            for (int j = 0; j < 2; j++)
                if (!strcasecmp(s, swin_archs[i].names[j])) {
                    *out = swin_archs[i];
                    return MM_OK;
                }
        return mm_error_set_at(MM_EINVAL, mm_value_loc(a),
                               "arch: '%s' is not tiny, small, base or large",
                               s);
    }
    const mm_value *e = mm_value_dict_get(a, "embed_dims");
    if (mm_value_len(a) != 3 || !mm_value_is_int(e) ||
        mm_value_get_int(e) <= 0 ||
        int4(mm_value_dict_get(a, "depths"), out->depths) ||
        int4(mm_value_dict_get(a, "num_heads"), out->heads))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(a),
                               "arch: a custom arch needs a dict with keys "
                               "embed_dims, depths (4 ints), num_heads (4 "
                               "ints)");
    out->embed_dims = mm_value_get_int(e);
    return MM_OK;
}

/* stage_cfgs: a dict for every stage or a list of 4, each with at most
 * `window_size` and `block_cfgs: {window_size}` (the 384px models' window
 * 12); the block's window wins over the stage's, which wins over
 * window_size. Other keys are refused. */
static int parse_stage_windows(mm_build_ctx *ctx, int64_t window,
                               int64_t out[4]) {
    const mm_value *v = mm_build_arg(ctx, "stage_cfgs");
    if (mm_value_is_list(v) && mm_value_len(v) != 4)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "stage_cfgs: a dict or a list of 4 dicts");
    for (int i = 0; i < 4; i++) {
        const mm_value *d = mm_value_is_list(v)
                                ? mm_value_list_get(v, (size_t)i)
                                : v;
        out[i] = window;
        if (mm_value_is_null(d))
            continue;
        if (!mm_value_is_dict(d))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                                   "stage_cfgs: a dict or a list of 4 dicts");
        for (size_t k = 0; k < mm_value_len(d); k++) {
            const char *key = mm_value_dict_key_at(d, k);
            const mm_value *x = mm_value_dict_value_at(d, k);
            if (!strcmp(key, "window_size") && mm_value_is_int(x)) {
                if (!mm_value_dict_get(mm_value_dict_get(d, "block_cfgs"),
                                       "window_size"))
                    out[i] = mm_value_get_int(x);
                continue;
            }
            const mm_value *bw = mm_value_is_dict(x)
                                     ? mm_value_dict_get(x, "window_size")
                                     : NULL;
            if (!strcmp(key, "block_cfgs") && mm_value_len(x) == 1 &&
                mm_value_is_int(bw)) {
                out[i] = mm_value_get_int(bw);
                continue;
            }
            return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(x),
                                   "stage_cfgs.%s: not supported (only "
                                   "window_size and block_cfgs: "
                                   "{window_size: N})",
                                   key);
        }
        if (out[i] <= 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(d),
                                   "stage_cfgs: window_size must be positive");
    }
    return MM_OK;
}

/* mmpretrain's _freeze_stages: frozen_stages >= 0 freezes patch_embed,
 * then stages [0, frozen_stages] and the norms of those stages' outputs. */
static int swin_freeze(swin *s) {
    if (s->frozen_stages >= 0)
        MM_TRY(mmcls_freeze_module(s->patch_embed));
    for (int64_t i = 0; i <= s->frozen_stages && i < 4; i++) {
        MM_TRY(mmcls_freeze_module(s->stages->children[i].module));
        if (s->norms[i])
            MM_TRY(mmcls_freeze_module(s->norms[i]));
    }
    return MM_OK;
}

static int swin_build(mm_build_ctx *ctx, void **out) {
    swin_arch arch;
    int64_t img[2], patch, in_ch, window, frozen;
    double drop_rate, dpr_max, eps;
    bool after_ds, abs_pos, with_cp, norm_eval, pad_small;
    mm_interp_mode interp;
    MM_TRY(parse_swin_arch(ctx, &arch));
    const mm_value *iv = mm_build_arg(ctx, "img_size");
    if (mm_value_is_int(iv))
        img[0] = img[1] = mm_value_get_int(iv);
    else if (mm_value_len(iv) != 2 ||
             !mm_value_is_int(mm_value_list_get(iv, 0)) ||
             !mm_value_is_int(mm_value_list_get(iv, 1)))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(iv),
                               "img_size: an int or [height, width]");
    else {
        img[0] = mm_value_get_int(mm_value_list_get(iv, 0));
        img[1] = mm_value_get_int(mm_value_list_get(iv, 1));
    }
    MM_TRY(mm_build_int(ctx, "patch_size", &patch));
    MM_TRY(mm_build_int(ctx, "in_channels", &in_ch));
    MM_TRY(mm_build_int(ctx, "window_size", &window));
    MM_TRY(mm_build_float(ctx, "drop_rate", &drop_rate));
    MM_TRY(mm_build_float(ctx, "drop_path_rate", &dpr_max));
    MM_TRY(mm_build_bool(ctx, "out_after_downsample", &after_ds));
    MM_TRY(mm_build_bool(ctx, "use_abs_pos_embed", &abs_pos));
    MM_TRY(mmcls_parse_interp_mode(ctx, "interpolate_mode", &interp));
    MM_TRY(mm_build_bool(ctx, "with_cp", &with_cp));
    MM_TRY(mm_build_int(ctx, "frozen_stages", &frozen));
    MM_TRY(mm_build_bool(ctx, "norm_eval", &norm_eval));
    MM_TRY(mm_build_bool(ctx, "pad_small_map", &pad_small));
    MM_TRY(mmcls_parse_ln_cfg(ctx, "norm_cfg", 1e-5, &eps));
    MM_TRY(mmcls_refuse_nonempty(ctx, "patch_cfg"));
    MM_TRY(mmcls_check_init_cfg(ctx, "init_cfg"));
    const mm_srcloc *here = mm_value_loc(mm_build_node(ctx));
    if (img[0] <= 0 || img[1] <= 0 || patch <= 0 || in_ch <= 0 || window <= 0)
        return mm_error_set_at(MM_EINVAL, here,
                               "img_size, patch_size, in_channels and "
                               "window_size must be positive");
    int64_t windows[4];
    MM_TRY(parse_stage_windows(ctx, window, windows));
    for (int i = 0; i < 4; i++)
        if ((arch.embed_dims << i) % arch.heads[i])
            return mm_error_set_at(MM_EINVAL,
                                   mm_value_loc(mm_build_arg(ctx, "arch")),
                                   "arch: stage %d has %lld channels, not a "
                                   "multiple of its %lld heads",
                                   i, (long long)(arch.embed_dims << i),
                                   (long long)arch.heads[i]);
    /* with_cp trades memory for time (torch.utils.checkpoint); the results
     * are the same, so it is accepted and ignored. norm_eval concerns
     * batch norms, which Swin has none of. */
    (void)with_cp;
    (void)norm_eval;
    mm_module *m, *c;
    MM_TRY(mm_module_new(&mmcls_swin_class, sizeof(swin), &m));
    swin *s = (swin *)m;
    s->embed_dims = arch.embed_dims;
    memcpy(s->depths, arch.depths, sizeof s->depths);
    memcpy(s->num_heads, arch.heads, sizeof s->num_heads);
    s->out_after_downsample = after_ds;
    s->drop_rate = drop_rate;
    s->interp = interp;
    s->frozen_stages = frozen;
    const mm_value *ic = mm_build_arg(ctx, "init_cfg");
    s->init_cfg = mm_value_is_null(ic) ? NULL : mm_value_retain((mm_value *)ic);
    int64_t E = arch.embed_dims;
    int rc = mmcls_parse_out_indices(ctx, 4, 3, s->out_indices, &s->n_out);
    if (!rc && !(rc = mmcls_patch_embed_new(in_ch, E, patch, true, 1e-5,
                                            &c))) {
        s->patch_embed = c;
        mmcls_patch_embed_out_size(c, img, s->patch_res);
        rc = mm_module_add_child(m, "patch_embed", c);
    }
    if (!rc && abs_pos) {
        mm_pool *pool;
        mm_tensor *t;
        if (!(rc = mm_pool_open(&pool))) {
            rc = mm_zeros(MM_SHAPE(1, s->patch_res[0] * s->patch_res[1], E),
                          MM_F32, &t);
            if (!rc)
                rc = mm_module_add_parameter(m, "absolute_pos_embed", t,
                                             &s->abs_pos_embed);
            mm_pool_close(pool);
        }
    }
    if (!rc && !(rc = mm_module_list_new(0, NULL, &c))) {
        s->stages = c;
        rc = mm_module_add_child(m, "stages", c);
    }
    int64_t total = 0;
    for (int i = 0; i < 4; i++)
        total += arch.depths[i];
    double *dpr = malloc((size_t)total * sizeof *dpr);
    if (!rc && !dpr)
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc) /* torch.linspace, as float32 values */
        for (int64_t i = 0; i < total; i++)
            dpr[i] = (double)(float)(total > 1 ? dpr_max * (double)i /
                                                     (double)(total - 1)
                                               : 0.0);
    int64_t dims[5] = {E}, off = 0;
    for (int i = 0; !rc && i < 4; i++) {
        rc = swin_stage_new(dims[i], arch.depths[i], arch.heads[i],
                            windows[i], i < 3, dpr + off, pad_small, &c);
        off += arch.depths[i];
        if (!rc)
            rc = mm_sequential_append(s->stages, c);
        dims[i + 1] = i < 3 ? 2 * dims[i] : dims[i];
    }
    free(dpr);
    for (int i = 0; i < 4; i++)
        s->num_features[i] = after_ds ? dims[i + 1] : dims[i];
    for (int j = 0; !rc && j < s->n_out; j++) {
        int i = (int)s->out_indices[j];
        char name[16];
        snprintf(name, sizeof name, "norm%d", i);
        if (s->norms[i])
            continue;
        if (!(rc = mmcls_ln_new(s->num_features[i], eps, &c))) {
            s->norms[i] = c;
            rc = mm_module_add_child(m, name, c);
        }
    }
    if (!rc)
        rc = mm_module_init_weights(m);
    if (!rc)
        rc = swin_freeze(s);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static const mm_param swin_params[] = {
    {.name = "arch", .type = MM_PARAM_STRING | MM_PARAM_DICT, .def = "tiny",
     .doc = "tiny, small, base, large or {embed_dims, depths, num_heads}"},
    {.name = "img_size", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "224",
     .doc = "the usual input size (absolute position embedding size)"},
    {.name = "patch_size", .type = MM_PARAM_INT, .def = "4",
     .doc = "patch (and stride) of the patch embedding"},
    {.name = "in_channels", .type = MM_PARAM_INT, .def = "3",
     .doc = "input channels"},
    {.name = "window_size", .type = MM_PARAM_INT, .def = "7",
     .doc = "attention window (height and width)"},
    {.name = "drop_rate", .type = MM_PARAM_FLOAT, .def = "0.0",
     .doc = "dropout after the patch embedding"},
    {.name = "drop_path_rate", .type = MM_PARAM_FLOAT, .def = "0.1",
     .doc = "stochastic depth, linearly increasing to this rate"},
    {.name = "out_indices", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "[3]",
     .doc = "stages whose (normed) output is returned"},
    {.name = "out_after_downsample", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "output each stage after its patch merging"},
    {.name = "use_abs_pos_embed", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "add an absolute position embedding"},
    {.name = "interpolate_mode", .type = MM_PARAM_STRING, .def = "bicubic",
     .doc = "how absolute_pos_embed is resized"},
    {.name = "with_cp", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "checkpointing (accepted; same results)"},
    {.name = "frozen_stages", .type = MM_PARAM_INT, .def = "-1",
     .doc = "stages to freeze (with the patch embedding); -1: none"},
    {.name = "norm_eval", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "batch norms in eval mode (Swin has none)"},
    {.name = "pad_small_map", .type = MM_PARAM_BOOL, .def = "false",
     .doc = "pad maps smaller than the window instead of refusing them"},
    {.name = "norm_cfg", .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "{type: LN}", .doc = "norm of the outputs (LN only)"},
    {.name = "stage_cfgs", .type = MM_PARAM_DICT | MM_PARAM_LIST, .def = "{}",
     .doc = "per-stage window_size / block_cfgs: {window_size} (dict for "
            "all stages or list of 4)"},
    {.name = "patch_cfg", .type = MM_PARAM_DICT, .def = "{}",
     .doc = "extra PatchEmbed arguments (must be empty)"},
    {.name = "init_cfg", .type = MM_PARAM_DICT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null", .doc = "initialisers (TruncNormal, ...) or Pretrained"},
};

static const mm_component swin_component = {
    .kind = MM_MODELS,
    .name = "SwinTransformer",
    .doc = "Swin Transformer backbone as mmpretrain's",
    .params = swin_params,
    .n_params = sizeof swin_params / sizeof swin_params[0],
    .build = swin_build,
    .destroy = mmcls_module_destroy,
};

/* ---- key map: torchvision's SwinTransformer -------------------------------- */

/* torchvision's PatchMerging concatenates x[0::2, 0::2], x[1::2, 0::2],
 * x[0::2, 1::2], x[1::2, 1::2]: feature p * C + c with p = kh + 2 kw;
 * mmcv's unfold gives c * 4 + kh * 2 + kw. Reorder the last dim (4C). */
static int merge_order(mm_tensor *t, mm_tensor **out) {
    int64_t C4 = t->shape[t->ndim - 1], C = C4 / 4;
    if (C4 % 4)
        return mm_error_set(MM_EINVAL,
                            "PatchMerging tensor with %lld "
                            "features (not 4C)",
                            (long long)C4);
    mm_tensor *x;
    if (t->ndim == 1) {
        MM_TRY(mm_reshape(t, MM_SHAPE(2, 2, C), &x)); /* (kw, kh, c) */
        MM_TRY(mm_permute(x, MM_DIMS(2, 1, 0), &x));
        MM_TRY(mm_contiguous(x, &x));
        return mm_reshape(x, MM_SHAPE(C4), out);
    }
    int64_t O = t->shape[0];
    MM_TRY(mm_reshape(t, MM_SHAPE(O, 2, 2, C), &x));
    MM_TRY(mm_permute(x, MM_DIMS(0, 3, 2, 1), &x));
    MM_TRY(mm_contiguous(x, &x));
    return mm_reshape(x, MM_SHAPE(O, C4), out);
}

static int map_tv_swin_block(const char *key, int stage, long blk,
                             const char *rest, mm_tensor *t,
                             mm_state_dict *out) {
    static const char *const from[] = {
        "norm1.", "norm2.", "attn.relative_position_bias_table",
        "attn.qkv.", "attn.proj.", "mlp.0.", "mlp.3."};
    static const char *const to[] = {
        "norm1.", "norm2.", "attn.w_msa.relative_position_bias_table",
        "attn.w_msa.qkv.", "attn.w_msa.proj.", "ffn.layers.0.0.",
        "ffn.layers.1."};
    if (!strcmp(rest, "attn.relative_position_index")) {
        /* torchvision keeps it flat (N*N); mmpretrain (N, N) */
        int64_t N = 1;
        while (N * N < t->numel)
            N++;
        if (t->ndim != 1 || N * N != t->numel)
            return mm_error_set(MM_EINVAL,
                                "'%s' is not a flat N*N "
                                "index",
                                key);
        mm_tensor *v;
        MM_TRY(mm_reshape(t, MM_SHAPE(N, N), &v));
        return mmcls_sd_addf(out, v,
                       "backbone.stages.%d.blocks.%ld.attn.w_msa."
                       "relative_position_index",
                       stage, blk);
    }
    for (size_t k = 0; k < sizeof from / sizeof *from; k++) {
        const char *tail = mmcls_key_rest(rest, from[k]);
        if (tail)
            return mmcls_sd_addf(out, t, "backbone.stages.%d.blocks.%ld.%s%s",
                           stage, blk, to[k], tail);
    }
    return mm_error_set(MM_EINVAL, "unknown key '%s'", key);
}

static int map_tv_swin_key(const char *k, mm_tensor *t, mm_state_dict *out) {
    const char *r;
    if ((r = mmcls_key_rest(k, "features.0.0.")))
        return mmcls_sd_addf(out, t, "backbone.patch_embed.projection.%s", r);
    if ((r = mmcls_key_rest(k, "features.0.2.")))
        return mmcls_sd_addf(out, t, "backbone.patch_embed.norm.%s", r);
    if ((r = mmcls_key_rest(k, "norm.")))
        return mmcls_sd_addf(out, t, "backbone.norm3.%s", r);
    if ((r = mmcls_key_rest(k, "head.")))
        return mmcls_sd_addf(out, t, "head.fc.%s", r);
    if ((r = mmcls_key_rest(k, "features."))) {
        char *end;
        long f = strtol(r, &end, 10);
        if (end != r && *end == '.' && f >= 1 && f <= 7) {
            const char *rest = end + 1;
            if (f % 2 == 1) { /* stage (f - 1) / 2: features.f.<block>.x */
                long blk = strtol(rest, &end, 10);
                if (end != rest && *end == '.' && blk >= 0)
                    return map_tv_swin_block(k, (int)(f - 1) / 2, blk,
                                             end + 1, t, out);
            } else { /* PatchMerging of stage f / 2 - 1 */
                int st = (int)(f / 2 - 1);
                if (!strcmp(rest, "reduction.weight") ||
                    !strcmp(rest, "norm.weight") ||
                    !strcmp(rest, "norm.bias")) {
                    mm_tensor *v;
                    MM_TRY(merge_order(t, &v));
                    return mmcls_sd_addf(out, v,
                                   "backbone.stages.%d.downsample.%s", st,
                                   rest);
                }
            }
        }
    }
    return mm_error_set(MM_EINVAL, "unknown key '%s'", k);
}

/* A pool per key: the reordered and reshaped tensors live on in `out`
 * only. */
static int map_tv_swin(const mm_state_dict *in, mm_state_dict *out) {
    for (size_t i = 0; i < in->n; i++) {
        mm_pool *pool;
        MM_TRY(mm_pool_open(&pool));
        int rc = map_tv_swin_key(in->items[i].name, in->items[i].tensor, out);
        mm_pool_close(pool);
        MM_TRY(rc);
    }
    return MM_OK;
}

static const mm_key_map tv_swin_map = {
    .name = "torchvision.swin",
    .doc = "torchvision swin_t, swin_s, swin_b -> SwinTransformer + "
           "GlobalAveragePooling + LinearClsHead",
    .apply = map_tv_swin,
};

int mmcls_register_swin(void) {
    MM_TRY(mm_register(&swin_component));
    return mm_key_map_register(&tv_swin_map);
}
