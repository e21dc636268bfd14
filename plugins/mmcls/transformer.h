/* The pieces the mmcls transformers share (vit.c, swin.c, vit_head.c):
 * mmcv's FFN and PatchEmbed, LayerNorm from a norm_cfg, mmengine's
 * init_cfg initialisers (Constant, Normal, TruncNormal, Uniform, Kaiming,
 * Xavier by layer class name) and mmpretrain's resize_pos_embed. Private to
 * the plugin. */
#ifndef MMCLS_TRANSFORMER_H
#define MMCLS_TRANSFORMER_H

#include <mm/nn.h>
#include <mm/registry.h>

/* norm_cfg: null (default_eps) or {type: LN | LayerNorm, eps: x,
 * requires_grad: true}; anything else is refused naming the key. */
int mmcls_parse_ln_cfg(mm_build_ctx *ctx, const char *param,
                       double default_eps, double *eps);
/* LayerNorm(dim, eps) with affine weight and bias. */
int mmcls_ln_new(int64_t dim, double eps, mm_module **out);

/* mmcv's FFN with num_fcs 2 and GELU: children `layers` = Sequential(
 * Sequential(Linear(E, F), GELU, Dropout(ffn_drop)), Linear(F, E),
 * Dropout(ffn_drop)); forward(x, identity) = identity + drop_path(layers(x))
 * (add_identity). */
extern const mm_module_class mmcls_ffn_class;
int mmcls_ffn_new(int64_t embed_dims, int64_t feedforward_channels,
                  double ffn_drop, double drop_path, mm_module **out);
int mmcls_ffn_forward(mm_module *m, mm_tensor *x, mm_tensor *identity,
                      mm_tensor **out);
/* The two Linear layers of an FFN (for initialisers). */
void mmcls_ffn_linears(mm_module *m, mm_module **fc1, mm_module **fc2);

/* mmcv's PatchEmbed with conv_type Conv2d, padding 'corner' (adaptive
 * padding to a multiple of the stride), dilation 1: child `projection`
 * and, with norm_eps > 0, `norm` (LayerNorm). (B, C, H, W) -> (B, L, E) and
 * the output grid size. */
extern const mm_module_class mmcls_patch_embed_class;
int mmcls_patch_embed_new(int64_t in_channels, int64_t embed_dims,
                          int64_t patch_size, bool bias, double norm_eps,
                          mm_module **out);
int mmcls_patch_embed_forward(mm_module *m, mm_tensor *x, mm_tensor **out,
                              int64_t hw[2]);
/* init_out_size of an img_size input. */
void mmcls_patch_embed_out_size(mm_module *m, const int64_t img[2],
                                int64_t out[2]);

/* mmpretrain's resize_pos_embed: pos (1, extra + sh * sw, C) -> (1, extra +
 * dh * dw, C), the grid resized with F.interpolate (mode: "bicubic",
 * "bilinear", "nearest"; align_corners false); pos itself when the sizes
 * agree. */
int mmcls_resize_pos_embed(mm_tensor *pos, const int64_t src[2],
                           const int64_t dst[2], mm_interp_mode mode,
                           int64_t num_extra_tokens, mm_tensor **out);
/* "bicubic" | "bilinear" | "nearest" -> mode; MM_EINVAL otherwise. */
int mmcls_parse_interp_mode(mm_build_ctx *ctx, const char *param,
                            mm_interp_mode *out);

/* Check an init_cfg (null, a dict or a list of dicts) before building:
 * types Constant, Normal, TruncNormal, Uniform, Kaiming, Xavier with a
 * `layer`, and Pretrained (loaded by the core, skipped here). */
int mmcls_check_init_cfg(mm_build_ctx *ctx, const char *param);
/* Apply the initialisers of init_cfg to every module of m whose class name
 * is in their `layer`, in order, as mmengine's initialize(). */
int mmcls_apply_init_cfg(mm_module *m, const mm_value *init_cfg);

/* out_indices: an int or a list; negative entries count from n; each must
 * be in [0, max]. */
int mmcls_parse_out_indices(mm_build_ctx *ctx, int64_t n, int64_t max,
                            int64_t *out, int *n_out);

/* The argument must be null or empty (mmpretrain features not supported
 * yet): MM_EUNSUPPORTED naming it otherwise. */
int mmcls_refuse_nonempty(mm_build_ctx *ctx, const char *param);
/* Eval mode and no gradients for every parameter of m (_freeze_stages). */
int mmcls_freeze_module(mm_module *m);

/* out[i] = start + (end - start) * i / (n - 1) (np.linspace). */
void mmcls_linspace(double start, double end, int n, double *out);

/* Key maps: the rest of key s after prefix p, else NULL; and
 * mm_state_dict_add under a printf-formatted name. */
const char *mmcls_key_rest(const char *s, const char *p);
int mmcls_sd_addf(mm_state_dict *out, mm_tensor *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
