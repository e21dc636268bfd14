/* What RegNet (regnet.c), EfficientNet (efficientnet.c) and ConvNeXt
 * (convnext.c) share (effconv_common.c): building sub-layers from mmcv
 * style configs in the mmcls scope, mmpretrain's drop-path schedule, the
 * init_cfg rule, out_indices parsing, and two layers mmpretrain and mmcv
 * register under their own names: LN2d (mmpretrain's LayerNorm2d) and
 * Conv2dAdaptivePadding (mmcv's TensorFlow-"SAME" convolution). Internal
 * to the plugin. */
#ifndef MMCLS_EFFCONV_H
#define MMCLS_EFFCONV_H

#include <stdbool.h>
#include <stdint.h>

#include <mm/nn.h>
#include <mm/registry.h>
#include <mm/value.h>

/* Registration of each family (components and key maps). */
int mmcls_register_regnet(void);
int mmcls_register_efficientnet(void);
int mmcls_register_convnext(void);
int mmcls_register_effconv_layers(void); /* LN2d, Conv2dAdaptivePadding */

/* ---- layers ---------------------------------------------------------- */

/* mmpretrain's LayerNorm2d ('LN2d'): a LayerNorm over C with weight and
 * bias (C); channel-first forward on (N, C, H, W) as mmpretrain's, and a
 * channel-last one on (N, H, W, C) for ConvNeXt's block. */
typedef struct mmcls_ln2d {
    mm_module base;
    int64_t num_channels;
    double eps;
    mm_tensor *weight, *bias; /* NULL without elementwise_affine */
} mmcls_ln2d;
extern const mm_module_class mmcls_ln2d_class;
int mmcls_ln2d_new(int64_t num_channels, double eps, bool affine,
                   mm_module **out);
int mmcls_ln2d_forward(mm_module *m, mm_tensor *x, bool channel_last,
                       mm_tensor **out);

/* mmcv's Conv2dAdaptivePadding: a Conv2d (weight, bias: torch's names and
 * initialisation) whose padding is TensorFlow's "SAME", computed from each
 * input's size (any `padding` argument is ignored, as in mmcv). */
extern const mm_module_class mmcls_conv2d_adaptive_class;

/* ---- building ----------------------------------------------------------- */

/* Build node (a dict with `type`; not consumed) as a MODELS component
 * resolved in the mmcls scope, `key` extending ctx's path in errors. */
int effconv_build(mm_build_ctx *ctx, const char *key, const mm_value *node,
                  mm_module **out);

/* A norm layer from an mmcv norm_cfg (null: BN) for `channels`, the
 * channel count passed under the name its schema uses (num_features,
 * num_channels, normalized_shape). */
int effconv_norm_new(mm_build_ctx *ctx, const char *key, const mm_value *cfg,
                     int64_t channels, mm_module **out);
/* mmcv's infer_abbr: "bn", "gn", "ln", "in" or "norm_layer". */
const char *effconv_norm_abbr(const mm_module *norm);

/* A Conv2d (conv_cfg null) or the conv conv_cfg names. */
int effconv_conv_new(mm_build_ctx *ctx, const char *key,
                     const mm_value *conv_cfg, int64_t in, int64_t out,
                     int64_t kernel, int64_t stride, int64_t padding,
                     int64_t dilation, int64_t groups, bool bias,
                     mm_module **m);

/* An mmcv ConvModule (conv, norm, activate) with these arguments; any of
 * the three cfgs may be NULL (null). bias 'auto'. */
int effconv_conv_module_new(mm_build_ctx *ctx, const char *key,
                            int64_t in, int64_t out, int64_t kernel,
                            int64_t stride, int64_t padding, int64_t groups,
                            const mm_value *conv_cfg,
                            const mm_value *norm_cfg,
                            const mm_value *act_cfg, mm_module **m);

/* Identity, or DropPath(rate) when rate > threshold (mmpretrain's blocks
 * use 0; ResNet's 1e-5). */
int effconv_drop_path_new(double rate, double threshold, mm_module **out);

/* torch.linspace(0, rate, n) in float32, read back as doubles (the
 * stochastic depth decay rule every mmpretrain backbone uses). */
void effconv_linspace_f32(double end, int n, double *out);

/* out_indices (int or list of ints; negatives count from n) into idx[]
 * (at most MM_MAX_OUTPUTS), each checked to lie in [0, n). */
int effconv_out_indices(mm_build_ctx *ctx, int n, bool allow_negative,
                        int *idx, int *n_idx);

/* The init_cfg rule of these backbones: null gives PyTorch's default
 * initialisation (*use_default false); mmpretrain's default (the schema's)
 * or a list holding only `Pretrained` entries (loaded by the core) keeps
 * mmpretrain's default initialisation; anything else is refused. */
int effconv_init_cfg(mm_build_ctx *ctx, const char *default_yaml,
                     bool *use_default);

/* Set requires_grad false on every parameter of m's tree. */
int effconv_freeze(mm_module *m);
/* train(False) on every BatchNorm of m's tree (norm_eval). */
void effconv_bn_eval(mm_module *m);

#endif
