/* What the VGG, MobileNetV2/V3 and ShuffleNetV2 backbones (vgg.c,
 * mobilenet.c, shufflenet.c) share: ConvModules made from C arguments,
 * mmpretrain's argument checks (out_indices, frozen_stages, init_cfg),
 * freezing and norm_eval, and the rename tables their torchvision key maps
 * are written with. Private to the plugin. */
#ifndef MMCLS_MOBILE_H
#define MMCLS_MOBILE_H

#include <stdbool.h>
#include <stdint.h>

#include <mm/checkpoint.h>
#include <mm/nn.h>
#include <mm/registry.h>
#include <mm/value.h>

/* The most stages an out_indices may name (MobileNetV3 large: 17). */
#define MOBILE_MAX_STAGES 24

/* mmpretrain's make_divisible(value, divisor, min_value=None,
 * min_ratio=0.9): round to the nearest multiple of divisor, at least
 * min_value (<= 0: divisor), and never below min_ratio * value. */
int64_t mobile_make_divisible(double value, int64_t divisor,
                              int64_t min_value, double min_ratio);

/* mmcv's ConvModule(in, out, k, stride, padding, dilation, groups, bias,
 * conv_cfg, norm_cfg, act_cfg); bias < 0: 'auto'; the cfgs may be NULL
 * (null: no norm / no activation; conv_cfg NULL: Conv2d). */
int mobile_conv_module(int64_t in_ch, int64_t out_ch, int64_t k, int64_t stride,
                       int64_t padding, int64_t dilation, int64_t groups,
                       int bias, const mm_value *conv_cfg,
                       const mm_value *norm_cfg, const mm_value *act_cfg,
                       mm_module **res);
/* {type: <type>} as a new value (NULL on no memory). */
mm_value *mobile_type_cfg(const char *type);

/* The stages an out_indices names, into mask[0..n_stages); each entry an
 * int in [0, n_stages) (mmpretrain's range check; a negative index would
 * silently name nothing there). A bare int is one index. Errors name the
 * config location of `param`. */
int mobile_out_indices(mm_build_ctx *ctx, const char *param, int n_stages,
                       bool mask[MOBILE_MAX_STAGES]);
/* frozen_stages in [lo, hi] (mmpretrain's range check), else MM_EINVAL at
 * the value's location. */
int mobile_frozen_stages(mm_build_ctx *ctx, int lo, int hi, int *out);
/* init_cfg: null (mmpretrain's default initialisation), or a dict or a
 * list of dicts of type Pretrained (loaded later by the core, over the
 * default initialisation); any other is MM_EUNSUPPORTED. */
int mobile_check_init_cfg(mm_build_ctx *ctx, const char *backbone);

/* Every parameter of m stops requiring grad (mmpretrain's frozen
 * stages). */
int mobile_freeze(mm_module *m);
/* The batch norms in m's tree to eval mode (norm_eval). */
void mobile_norm_eval(mm_module *m);

/* outs[(*n_out)++] = x, or MM_EINVAL when cap outputs are there already
 * (more out_indices than the caller takes). */
int mobile_output(int *n_out, int cap, mm_tensor **outs, mm_tensor *x);

/* A rename table for key maps: module paths of the other library
 * ("features.0") to the mm module paths ("backbone.features.0.conv"). */
typedef struct mobile_renames {
    size_t n, cap;
    char **from, **to;
} mobile_renames;
/* Add one pair (copied). */
int mobile_rename(mobile_renames *r, const char *from, const char *to);
void mobile_renames_free(mobile_renames *r);
/* Each key of `in` is "<module path>.<tensor name>"; its module path must
 * be in the table (else MM_EINVAL naming the key; mm_key_map_apply adds
 * the map's name), and it is added to `out` under the renamed path. */
int mobile_renames_apply(const mobile_renames *r, const mm_state_dict *in,
                         mm_state_dict *out);
/* Does `in` hold a key that starts with prefix? */
bool mobile_has_prefix(const mm_state_dict *in, const char *prefix);

#endif
