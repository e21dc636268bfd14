/* mm/nn.h - modules: the nn object model, weight initialisation, layers.
 *
 * An mm_module is PyTorch's nn.Module in C: a class pointer (a vtable of
 * forward, init_weights, fini, extra_repr), an instance name, and three
 * ordered lists it owns: named parameters (leaf tensors that require grad),
 * named buffers (BatchNorm's running_mean, running_var,
 * num_batches_tracked) and named children (modules). A concrete layer is a
 * struct whose first member is the mm_module base; its typed fields
 * (`weight`, `bias`) are the same tensors the lists hold, kept up to date by
 * the module when a tensor is replaced (mm_module_to_dtype).
 *
 * Names are PyTorch's: walking the tree gives dotted names in registration
 * order ("layer1.0.conv1.weight"), and mm_module_state_dict lists each
 * module's parameters, then its persistent buffers, then its children's, as
 * torch's state_dict() does, so a torchvision or OpenMMLab checkpoint maps
 * one-to-one onto the same architecture built here.
 *
 * Forward: the generic entry point mm_module_forward(m, n, inputs, &out)
 * calls the class's forward; each layer also has a typed entry point
 * (mm_linear_forward(m, x, &out)) for direct calls. Outputs follow the pool
 * rule of <mm/tensor.h>: borrowed from the innermost pool. A forward
 * function never frees anything.
 *
 * Lifetime: a module owns its parameters, buffers and children;
 * mm_module_free frees the whole tree. Adding a child hands it over (also
 * when adding fails). Constructors (mm_linear_new, ...) initialise the
 * weights as PyTorch's reset_parameters() does, drawing from the default
 * generator (mm_manual_seed).
 *
 * Registry (the MODELS contract): every layer here is a MODELS component of
 * the core scope `mm`, with PyTorch's argument names and defaults as its
 * schema (`{type: Conv2d, in_channels: 3, out_channels: 8, kernel_size: 3}`).
 * A MODELS builder's `*out` is an `mm_module *`, and the component's
 * destroy is mm_module_free; plugins' backbones, necks and heads follow the
 * same contract, so any MODELS config builds into a module tree.
 * mm_nn_register() registers the layers (the core calls it once). */
#ifndef MM_NN_H
#define MM_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/error.h"
#include "mm/ops.h"
#include "mm/rng.h"
#include "mm/tensor.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the module object -------------------------------------------------- */

typedef struct mm_module mm_module;
struct mm_model_ops; /* <mm/model.h> */

/* A module class: static storage, one per layer type. */
typedef struct mm_module_class {
    const char *name; /* "Linear": what the repr and errors print */
    /* Compute the output from n inputs (most layers take one). NULL: the
     * module is a container without forward (ModuleList). */
    int (*forward)(mm_module *m, int n, mm_tensor *const *inputs,
                   mm_tensor **out);
    /* Re-initialise parameters and buffers (PyTorch's reset_parameters);
     * runs with grad mode off. NULL: nothing to do. */
    int (*init_weights)(mm_module *m);
    /* Free what the class added to the struct beyond the lists (may be
     * NULL); parameters, buffers and children are freed by the module. */
    void (*fini)(mm_module *m);
    /* "3, 8, kernel_size=(3, 3)" into buf, as torch's extra_repr (may be
     * NULL). */
    void (*extra_repr)(const mm_module *m, char *buf, size_t size);
    /* Models, heads and data preprocessors: loss / predict / preprocess
     * (<mm/model.h>). NULL for plain layers. */
    const struct mm_model_ops *model;
    /* Modules with several outputs (a backbone's out_indices, a neck
     * applied to each of them): fill outs[0..*n_out) with *n_out <= cap
     * (cap is at least MM_MAX_OUTPUTS). NULL: the module has one output,
     * its forward's. Such a class usually sets .forward to
     * mm_module_forward_last. Added in ABI 1.1. */
    int (*forward_multi)(mm_module *m, int n, mm_tensor *const *inputs,
                         int cap, int *n_out, mm_tensor **outs);
} mm_module_class;

/* The most outputs a module gives (a backbone's out_indices). */
#define MM_MAX_OUTPUTS 8

/* One named tensor slot. `field` (may be NULL) is the typed struct's member
 * that mirrors the tensor; the module keeps it equal to `tensor`. */
typedef struct mm_module_tensor {
    char *name;
    mm_tensor *tensor; /* owned reference */
    mm_tensor **field;
    bool persistent; /* buffers only: saved in state_dict */
} mm_module_tensor;

typedef struct mm_module_child {
    char *name;
    mm_module *module; /* owned */
} mm_module_child;

struct mm_module {
    const mm_module_class *cls;
    char *name;    /* the name in its parent ("conv1"); NULL for a root */
    bool training; /* true after creation, as in PyTorch */
    size_t n_params, n_buffers, n_children;
    mm_module_tensor *params;
    mm_module_tensor *buffers;
    mm_module_child *children;
};

/* Allocate a zeroed module struct of `size` bytes (at least
 * sizeof(mm_module); a layer's struct starts with the base) of class cls. */
MM_API int mm_module_new(const mm_module_class *cls, size_t size,
                         mm_module **out) MM_NODISCARD;
/* Free the module, its parameters, buffers and children. NULL ok. */
MM_API void mm_module_free(mm_module *m);

/* Register a parameter: the module takes its own reference to t (the
 * caller's stays the caller's) and sets requires_grad (t must be a float
 * leaf). `field` (may be NULL) is the struct member that mirrors it; it is
 * set to t. MM_EEXIST for a name already used by a parameter, buffer or
 * child; names must not be empty or contain '.'. */
MM_API int mm_module_add_parameter(mm_module *m, const char *name, mm_tensor *t,
                                   mm_tensor **field) MM_NODISCARD;
/* Register a buffer (no grad). persistent: saved in state_dict. */
MM_API int mm_module_add_buffer(mm_module *m, const char *name, mm_tensor *t,
                                bool persistent,
                                mm_tensor **field) MM_NODISCARD;
/* Append a child: the parent owns it from now on, even when this fails (the
 * child is freed then). Its name becomes `name`. */
MM_API int mm_module_add_child(mm_module *m, const char *name,
                               mm_module *child) MM_NODISCARD;

/* Own parameter / buffer / child by name (not dotted); NULL if none. */
MM_API mm_tensor *mm_module_get_parameter(const mm_module *m, const char *name);
MM_API mm_tensor *mm_module_get_buffer(const mm_module *m, const char *name);
MM_API mm_module *mm_module_get_child(const mm_module *m, const char *name);
/* Any module in the tree by dotted path ("layer1.0"); "" is m itself. */
MM_API mm_module *mm_module_find(mm_module *m, const char *path);
/* Any parameter or buffer by dotted name ("layer1.0.bn1.running_mean"). */
MM_API mm_tensor *mm_module_find_tensor(mm_module *m, const char *name);

/* Is m an instance of cls? */
static inline bool mm_module_is(const mm_module *m,
                                const mm_module_class *cls) {
    return m && m->cls == cls;
}

/* The generic forward: m->cls->forward with an error context naming the
 * module by its name in the
 * parent ("fc2: linear: ..."). */
MM_API int mm_module_forward(mm_module *m, int n, mm_tensor *const *inputs,
                             mm_tensor **out) MM_NODISCARD;
/* One input, one output. */
MM_API int mm_module_forward1(mm_module *m, mm_tensor *x,
                              mm_tensor **out) MM_NODISCARD;
/* Every output: the class's forward_multi, or its forward as one output.
 * outs has room for cap (>= 1) tensors; a module giving more is MM_EINVAL.
 * Errors carry the module's name as mm_module_forward's do. */
MM_API int mm_module_forward_multi(mm_module *m, int n,
                                   mm_tensor *const *inputs, int cap,
                                   int *n_out, mm_tensor **outs) MM_NODISCARD;
/* A forward for classes with forward_multi: the last of the outputs (what
 * a classification head uses, as mmpretrain's heads take feats[-1]). */
MM_API int mm_module_forward_last(mm_module *m, int n,
                                  mm_tensor *const *inputs,
                                  mm_tensor **out) MM_NODISCARD;

/* Per thread: called when mm_module_forward / mm_module_forward_multi
 * enter (enter true) and leave a module, so a tool can attribute the ops in
 * between to it (mm analyze complexity with mm_ops_set_observer). Modules
 * that a parent calls through a typed entry point (mm_conv2d_forward) are
 * not seen; their parameters still name them. NULL: none. */
typedef void (*mm_module_forward_hook)(void *user, mm_module *m, bool enter);
MM_API void mm_module_set_forward_hook(mm_module_forward_hook fn, void *user);

/* train(mode) / eval(): set the flag on m and every descendant. */
MM_API void mm_module_train(mm_module *m, bool mode);
MM_API void mm_module_eval(mm_module *m);

/* Re-initialise every module of the tree (each class's init_weights, under
 * no-grad), children before their parent, so that a parent that overrides
 * its children's initialisation (ConvModule) has the last word. */
MM_API int mm_module_init_weights(mm_module *m) MM_NODISCARD;

/* Drop every parameter's gradient (zero_grad(set_to_none=True)). */
MM_API void mm_module_zero_grad(mm_module *m);
/* Number of parameter elements (sum of numel); trainable_only: those that
 * require grad. */
MM_API int64_t mm_module_num_parameters(const mm_module *m,
                                        bool trainable_only);

/* Convert every float parameter and buffer to dtype (module.to(dtype)):
 * parameters stay leaves that require grad; integer buffers stay. */
MM_API int mm_module_to_dtype(mm_module *m, mm_dtype dtype) MM_NODISCARD;

/* ---- walks with dotted names -------------------------------------------- */

/* Called for each tensor with its dotted name; a non-zero return stops
 * the walk and is returned. */
typedef int (*mm_module_tensor_fn)(const char *name, mm_tensor *t, void *user);
typedef int (*mm_module_fn)(const char *name, mm_module *m, void *user);

/* Parameters of the whole tree in registration order, preorder
 * ("0.weight", "0.bias", "2.weight", ...), as named_parameters(). */
MM_API int mm_module_named_parameters(mm_module *m, mm_module_tensor_fn fn,
                                      void *user);
/* Buffers likewise (persistent or not), as named_buffers(). */
MM_API int mm_module_named_buffers(mm_module *m, mm_module_tensor_fn fn,
                                   void *user);
/* Every module, preorder, m itself first with name "" (named_modules()). */
MM_API int mm_module_named_modules(mm_module *m, mm_module_fn fn, void *user);

/* ---- state dicts -------------------------------------------------------- */

/* An ordered list of (name, tensor). */
typedef struct mm_state_dict_item {
    char *name;
    mm_tensor *tensor; /* owned reference */
} mm_state_dict_item;

typedef struct mm_state_dict {
    size_t n, cap;
    mm_state_dict_item *items;
} mm_state_dict;

/* Append (name, t), taking a reference to t; MM_EEXIST for a name present. */
MM_API int mm_state_dict_add(mm_state_dict *sd, const char *name,
                             mm_tensor *t) MM_NODISCARD;
/* Borrowed; NULL if absent. */
MM_API mm_tensor *mm_state_dict_get(const mm_state_dict *sd, const char *name);
/* Release every entry; sd is empty (and reusable) afterwards. */
MM_API void mm_state_dict_clear(mm_state_dict *sd);

/* Fill an empty sd with the module's state: for each module in preorder
 * its parameters, then its persistent buffers, under dotted names. Each
 * entry is a detached view sharing the module's storage (torch's
 * state_dict(keep_vars=False)): writing into it writes into the model. */
MM_API int mm_module_state_dict(mm_module *m, mm_state_dict *out) MM_NODISCARD;

/* What load_state_dict found: each list holds one-line messages or keys. */
typedef struct mm_load_report {
    size_t n_missing, n_unexpected, n_mismatched;
    char **missing;    /* keys of the module absent from the state dict */
    char **unexpected; /* keys of the state dict the module lacks */
    char **mismatched; /* "size mismatch for 'fc.weight': copying a param
                          with shape [3, 4] from checkpoint, the shape in
                          the current model is [4, 4]" */
} mm_load_report;

MM_API void mm_load_report_free(mm_load_report *r);

/* Copy every tensor of sd whose key the module has into it (converted to
 * the module tensor's dtype), as torch's load_state_dict. A shape mismatch
 * is an error in both modes (nothing is copied then); strict: missing or
 * unexpected keys are errors too. The error is one line naming the first
 * problem ("load_state_dict: missing key 'fc.bias' (and 2 more problems)");
 * `report` (may be NULL) gets all of them, also on success. */
MM_API int mm_module_load_state_dict(mm_module *m, const mm_state_dict *sd,
                                     bool strict,
                                     mm_load_report *report) MM_NODISCARD;

/* "Sequential(\n  (0): Linear(in_features=4, out_features=8, bias=True)\n
 * ...)" as print(module) in PyTorch. Caller frees. NULL on no memory. */
MM_API char *mm_module_repr(const mm_module *m);

/* ---- weight initialisation (torch.nn.init) ------------------------------ *
 * In place, under no-grad (parameters may be passed directly), any float
 * dtype and layout; gen NULL: the default generator. An empty tensor is
 * left as it is. */

/* torch.nn.init.calculate_gain: linear, conv1d/2d/3d,
 * conv_transpose1d/2d/3d, sigmoid: 1; tanh: 5/3; relu: sqrt(2);
 * leaky_relu: sqrt(2 / (1 + param^2)) with param the negative slope (NAN:
 * the default 0.01); selu: 3/4. MM_EINVAL for another name. */
MM_API int mm_init_calculate_gain(const char *nonlinearity, double param,
                                  double *out) MM_NODISCARD;
/* fan_in = size(1) * receptive field, fan_out = size(0) * receptive field
 * (receptive field: product of dims 2..); at least 2 dims. */
MM_API int mm_init_calculate_fan(const mm_tensor *t, int64_t *fan_in,
                                 int64_t *fan_out) MM_NODISCARD;

MM_API int mm_init_uniform_(mm_tensor *t, double a, double b,
                            mm_generator *gen) MM_NODISCARD;
MM_API int mm_init_normal_(mm_tensor *t, double mean, double std,
                           mm_generator *gen) MM_NODISCARD;
MM_API int mm_init_constant_(mm_tensor *t, double value) MM_NODISCARD;
MM_API int mm_init_zeros_(mm_tensor *t) MM_NODISCARD;
MM_API int mm_init_ones_(mm_tensor *t) MM_NODISCARD;
/* U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)). */
MM_API int mm_init_xavier_uniform_(mm_tensor *t, double gain,
                                   mm_generator *gen) MM_NODISCARD;
/* N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)). */
MM_API int mm_init_xavier_normal_(mm_tensor *t, double gain,
                                  mm_generator *gen) MM_NODISCARD;
/* mode "fan_in" or "fan_out"; nonlinearity as calculate_gain, with `a`
 * the negative slope of leaky_relu (torch's defaults: a 0, "fan_in",
 * "leaky_relu"). std = gain / sqrt(fan); uniform bound sqrt(3) * std. */
MM_API int mm_init_kaiming_uniform_(mm_tensor *t, double a, const char *mode,
                                    const char *nonlinearity,
                                    mm_generator *gen) MM_NODISCARD;
MM_API int mm_init_kaiming_normal_(mm_tensor *t, double a, const char *mode,
                                   const char *nonlinearity,
                                   mm_generator *gen) MM_NODISCARD;
/* N(mean, std^2) truncated to [a, b] by inverse-CDF sampling, as torch's
 * trunc_normal_ (defaults mean 0, std 1, a -2, b 2). */
MM_API int mm_init_trunc_normal_(mm_tensor *t, double mean, double std,
                                 double a, double b,
                                 mm_generator *gen) MM_NODISCARD;

/* ---- layers ------------------------------------------------------------- *
 * Each: a constructor (f32 parameters, PyTorch's default initialisation),
 * a typed forward that checks the module's class, and its class. The
 * structs are mm_nn_<layer> (the plain names belong to the functional ops:
 * mm_nn_linear is the module, a linear op would be mm_linear). */

/* Linear: y = x W^T + b. x (*, in_features) -> (*, out_features). */
typedef struct mm_nn_linear {
    mm_module base;
    int64_t in_features, out_features;
    mm_tensor *weight; /* (out_features, in_features) */
    mm_tensor *bias;   /* (out_features) or NULL */
} mm_nn_linear;
MM_API extern const mm_module_class mm_linear_class;
MM_API int mm_linear_new(int64_t in_features, int64_t out_features, bool bias,
                         mm_module **out) MM_NODISCARD;
MM_API int mm_linear_forward(mm_module *m, mm_tensor *x,
                             mm_tensor **out) MM_NODISCARD;

/* Identity: returns its input. */
MM_API extern const mm_module_class mm_identity_class;
MM_API int mm_identity_new(mm_module **out) MM_NODISCARD;

/* Flatten: mm_flatten(x, start_dim, end_dim); torch's defaults 1, -1. */
typedef struct mm_nn_flatten {
    mm_module base;
    int start_dim, end_dim;
} mm_nn_flatten;
MM_API extern const mm_module_class mm_flatten_class;
MM_API int mm_flatten_new(int start_dim, int end_dim,
                          mm_module **out) MM_NODISCARD;

/* Sequential: children "0", "1", ... called in order, one tensor through.
 * ModuleList: the same container without forward. */
MM_API extern const mm_module_class mm_sequential_class;
MM_API extern const mm_module_class mm_module_list_class;
/* From n modules (owned from now on, also on failure; n may be 0). */
MM_API int mm_sequential_new(int n, mm_module *const *modules,
                             mm_module **out) MM_NODISCARD;
MM_API int mm_module_list_new(int n, mm_module *const *modules,
                              mm_module **out) MM_NODISCARD;
/* Append a child named by its index (owned from now on). */
MM_API int mm_sequential_append(mm_module *seq, mm_module *child) MM_NODISCARD;
MM_API int mm_sequential_forward(mm_module *m, mm_tensor *x,
                                 mm_tensor **out) MM_NODISCARD;

/* Dropout: training: x * mask / (1 - p), mask ~ Bernoulli(1 - p) from the
 * default generator; eval, or p == 0: x. p in [0, 1]. */
typedef struct mm_nn_dropout {
    mm_module base;
    double p;
    bool inplace; /* kept for the repr; results are never in place */
} mm_nn_dropout;
MM_API extern const mm_module_class mm_dropout_class;
MM_API int mm_dropout_new(double p, mm_module **out) MM_NODISCARD;
MM_API int mm_dropout_forward(mm_module *m, mm_tensor *x,
                              mm_tensor **out) MM_NODISCARD;

/* DropPath (stochastic depth, timm's drop_path): training: each sample of
 * the batch (dim 0) is zeroed with probability drop_prob, the others scaled
 * by 1 / (1 - drop_prob) when scale_by_keep; eval or drop_prob 0: x. */
typedef struct mm_nn_drop_path {
    mm_module base;
    double drop_prob;
    bool scale_by_keep;
} mm_nn_drop_path;
MM_API extern const mm_module_class mm_drop_path_class;
MM_API int mm_drop_path_new(double drop_prob, bool scale_by_keep,
                            mm_module **out) MM_NODISCARD;
/* The function itself (mmcv/timm drop_path). */
MM_API int mm_drop_path(mm_tensor *x, double drop_prob, bool training,
                        bool scale_by_keep, mm_generator *gen,
                        mm_tensor **out) MM_NODISCARD;

/* Activations: one struct for all of them (and Identity); `inplace` is
 * PyTorch's argument, kept for the repr (results are never in place);
 * args[] holds the class's scalars (LeakyReLU: negative_slope; ELU: alpha;
 * GELU: 1 for tanh; Softplus: beta, threshold; HSigmoid: bias, divisor,
 * min_value, max_value; PReLU: init). */
typedef struct mm_nn_activation {
    mm_module base;
    bool inplace;
    double args[4];
    mm_tensor *weight; /* PReLU: (num_parameters) */
} mm_nn_activation;

/* Activations without parameters: one class per function (the ops of
 * <mm/ops.h> and <mm/elementwise.h>). */
MM_API extern const mm_module_class mm_relu_class;
MM_API extern const mm_module_class mm_sigmoid_class;
MM_API extern const mm_module_class mm_tanh_class;
MM_API extern const mm_module_class mm_relu6_class;
MM_API extern const mm_module_class mm_silu_class;
MM_API extern const mm_module_class mm_hardswish_class;
MM_API extern const mm_module_class mm_hardsigmoid_class;
MM_API extern const mm_module_class mm_mish_class;
/* A parameter-free module of `cls` (an activation, Identity). */
MM_API int mm_activation_new(const mm_module_class *cls,
                             mm_module **out) MM_NODISCARD;

/* Activations with arguments (torch's defaults in brackets). */
MM_API extern const mm_module_class mm_leaky_relu_class;
MM_API extern const mm_module_class mm_elu_class;
MM_API extern const mm_module_class mm_gelu_class;
MM_API extern const mm_module_class mm_softplus_class;
MM_API extern const mm_module_class mm_hsigmoid_class;
MM_API extern const mm_module_class mm_prelu_class;
MM_API int mm_leaky_relu_new(double negative_slope /* 0.01 */,
                             mm_module **out) MM_NODISCARD;
MM_API int mm_elu_new(double alpha /* 1 */, mm_module **out) MM_NODISCARD;
/* approximate: "none" (NULL) or "tanh". */
MM_API int mm_gelu_new(const char *approximate, mm_module **out) MM_NODISCARD;
MM_API int mm_softplus_new(double beta /* 1 */, double threshold /* 20 */,
                           mm_module **out) MM_NODISCARD;
/* mmcv's HSigmoid: clamp((x + bias) / divisor, min_value, max_value)
 * [3, 6, 0, 1]. */
MM_API int mm_hsigmoid_new(double bias, double divisor, double min_value,
                           double max_value, mm_module **out) MM_NODISCARD;
/* PReLU: parameter `weight` (num_parameters) [1] filled with init [0.25]. */
MM_API int mm_prelu_new(int64_t num_parameters, double init,
                        mm_module **out) MM_NODISCARD;

/* ---- convolutions -------------------------------------------------------- */

/* Conv1d/2d/3d and ConvTranspose1d/2d/3d: one struct, a class per kind (the
 * repr prints torch's name). weight (out, in/groups, *k) or, transposed,
 * (in, out/groups, *k); bias (out) or NULL. */
typedef struct mm_nn_conv {
    mm_module base;
    int nsp; /* spatial dims: 1, 2, 3 */
    bool transposed;
    int64_t in_channels, out_channels, groups;
    int64_t kernel_size[3], stride[3], padding[3], dilation[3];
    int64_t output_padding[3]; /* transposed only */
    char padding_mode[12];     /* "zeros", "reflect", "replicate" */
    mm_tensor *weight, *bias;
    /* padding 'same' with an odd dilation * (kernel_size - 1): one more
     * element after the input than before (torch's split) */
    int64_t same_extra[3];
} mm_nn_conv;

/* Arguments of mm_conv_new: arrays have nsp entries; NULL gives torch's
 * defaults (stride 1, padding 0, dilation 1, output_padding 0). groups 0 is
 * taken as 1. */
typedef struct mm_conv_options {
    int nsp;
    bool transposed;
    int64_t in_channels, out_channels;
    const int64_t *kernel_size;
    const int64_t *stride, *padding, *dilation, *output_padding;
    int64_t groups;
    bool bias;
    /* NULL or "zeros"; "reflect" and "replicate" pad with mm_pad first
     * (torch's way; not for transposed convs) */
    const char *padding_mode;
} mm_conv_options;

MM_API int mm_conv_new(const mm_conv_options *opts,
                       mm_module **out) MM_NODISCARD;
/* x (N, C_in, *in) -> (N, C_out, *out), through mm_conv<n>d or
 * mm_conv_transpose<n>d. */
MM_API int mm_conv_forward(mm_module *m, mm_tensor *x,
                           mm_tensor **out) MM_NODISCARD;
MM_API bool mm_module_is_conv(const mm_module *m);

/* conv -> norm -> (+ residual) -> activation, as the blocks of conv nets
 * run them (ResNet's conv, bn, relu; MobileNet's conv, bn, relu6). norm
 * (may be NULL) and residual (may be NULL, the conv output's shape) as
 * the modules would apply them. In training, or while autograd records,
 * the modules run one after the other; in eval under no-grad, with an f32
 * conv and an eval-mode BatchNorm, the norm is folded into the conv's
 * weights and the whole runs as one mm_conv_fused (same results within
 * float rounding). */
MM_API int mm_conv_bn_act(mm_module *conv, mm_module *norm,
                          mm_tensor *residual, mm_fused_act act, mm_tensor *x,
                          mm_tensor **out) MM_NODISCARD;

/* The layout a conv backbone runs in: x laid out channels-last (NHWC) when
 * it is a float [N, C, H, W] (or 5-D) tensor, else x itself. Convolution,
 * batch norm, pooling and the elementwise ops keep the layout, so oneDNN
 * reads and writes every activation in place instead of reordering it
 * around each convolution (docs/performance.md). On by default;
 * MM_CHANNELS_LAST=0 in the environment keeps everything contiguous
 * (NCHW). The results are the same either way, within float rounding.
 * A backbone hands its outputs back contiguous (mm_contiguous), so what
 * follows it never sees the difference. */
MM_API int mm_nn_backbone_layout(mm_tensor *x, mm_tensor **out) MM_NODISCARD;

/* ---- normalisation ---------------------------------------------------------
 */

/* BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, LayerNorm, GroupNorm: one struct.
 * Parameters weight and bias (affine); buffers running_mean, running_var,
 * num_batches_tracked (i64, 0-dim) when tracking running stats, in torch's
 * registration order. */
typedef struct mm_nn_norm {
    mm_module base;
    int kind;             /* internal */
    int nsp;              /* batch and instance norms: 1, 2, 3 */
    int64_t num_features; /* C (GroupNorm: num_channels) */
    int64_t num_groups;   /* GroupNorm */
    int n_norm;           /* LayerNorm: normalized_shape */
    int64_t normalized_shape[MM_MAX_DIMS];
    double eps, momentum;
    bool momentum_none; /* torch's momentum=None: cumulative average */
    bool affine, track_running_stats;
    mm_tensor *weight, *bias;
    mm_tensor *running_mean, *running_var, *num_batches_tracked;
} mm_nn_norm;

/* momentum NAN: None. torch's defaults: eps 1e-5, momentum 0.1; batch norm
 * affine and tracking, instance norm neither. */
MM_API int mm_batch_norm_new(int nsp, int64_t num_features, double eps,
                             double momentum, bool affine,
                             bool track_running_stats,
                             mm_module **out) MM_NODISCARD;
MM_API int mm_instance_norm_new(int nsp, int64_t num_features, double eps,
                                double momentum, bool affine,
                                bool track_running_stats,
                                mm_module **out) MM_NODISCARD;
MM_API int mm_layer_norm_new(int n_norm, const int64_t *normalized_shape,
                             double eps, bool elementwise_affine, bool bias,
                             mm_module **out) MM_NODISCARD;
MM_API int mm_group_norm_new(int64_t num_groups, int64_t num_channels,
                             double eps, bool affine,
                             mm_module **out) MM_NODISCARD;
/* Batch norm in training: batch statistics, running stats updated (and
 * num_batches_tracked counted); in eval: the running stats. */
MM_API int mm_norm_forward(mm_module *m, mm_tensor *x,
                           mm_tensor **out) MM_NODISCARD;
MM_API bool mm_module_is_norm(const mm_module *m);
MM_API bool mm_module_is_batch_norm(const mm_module *m);

/* ---- pooling ---------------------------------------------------------------
 */

/* MaxPool2d/3d, AvgPool2d/3d, AdaptiveAvgPool1d/2d/3d,
 * AdaptiveMaxPool1d/2d/3d. */
typedef struct mm_nn_pooling {
    mm_module base;
    int kind; /* internal */
    int nsp;
    int64_t kernel_size[3], stride[3], padding[3], dilation[3];
    int64_t output_size[3]; /* adaptive: < 0 keeps the input's size */
    bool ceil_mode, count_include_pad;
    int64_t divisor_override; /* 0: none */
} mm_nn_pooling;

/* stride NULL: kernel_size; padding NULL: 0; dilation NULL: 1. */
MM_API int mm_max_pool_new(int nsp, const int64_t *kernel_size,
                           const int64_t *stride, const int64_t *padding,
                           const int64_t *dilation, bool ceil_mode,
                           mm_module **out) MM_NODISCARD;
MM_API int mm_avg_pool_new(int nsp, const int64_t *kernel_size,
                           const int64_t *stride, const int64_t *padding,
                           bool ceil_mode, bool count_include_pad,
                           int64_t divisor_override,
                           mm_module **out) MM_NODISCARD;
MM_API int mm_adaptive_pool_new(bool max, const int64_t output_size[2],
                                mm_module **out) MM_NODISCARD;
/* AdaptiveAvgPool1d/2d/3d or AdaptiveMaxPool1d/2d/3d: nsp output sizes. */
MM_API int mm_adaptive_pool_nd_new(int nsp, bool max,
                                   const int64_t *output_size,
                                   mm_module **out) MM_NODISCARD;
/* The pooled tensor, and for max pools the indices (may be NULL; the
 * generic forward gives the values only). */
MM_API int mm_pooling_forward(mm_module *m, mm_tensor *x, mm_tensor **out,
                              mm_tensor **indices) MM_NODISCARD;
MM_API bool mm_module_is_pooling(const mm_module *m);

/* Upsample (torch.nn.Upsample) over mm_interpolate: n_size sizes or n_scale
 * scale factors (exactly one of the two > 0; 1 entry repeats over every
 * spatial dim, else one per spatial dim of the input). */
MM_API int mm_upsample_new(int n_size, const int64_t *size, int n_scale,
                           const double *scale_factor, mm_interp_mode mode,
                           bool align_corners, bool recompute_scale_factor,
                           mm_module **out) MM_NODISCARD;

/* ---- attention ------------------------------------------------------------
 */

/* MultiheadAttention as torch.nn.MultiheadAttention: parameters
 * in_proj_weight (3E, E) and in_proj_bias (3E) packed q, k, v (or
 * q_proj_weight, k_proj_weight (E, kdim), v_proj_weight (E, vdim) when kdim
 * or vdim differ from E), and the child out_proj (Linear(E, E)); so the
 * state_dict keys are torch's. */
typedef struct mm_nn_mha {
    mm_module base;
    int64_t embed_dim, num_heads, kdim, vdim;
    double dropout;
    bool batch_first;
    mm_tensor *in_proj_weight, *in_proj_bias;
    mm_tensor *q_proj_weight, *k_proj_weight, *v_proj_weight;
    mm_module *out_proj; /* the child */
} mm_nn_mha;
MM_API extern const mm_module_class mm_multihead_attention_class;
/* kdim, vdim <= 0: embed_dim. */
MM_API int mm_multihead_attention_new(int64_t embed_dim, int64_t num_heads,
                                      double dropout, bool bias, int64_t kdim,
                                      int64_t vdim, bool batch_first,
                                      mm_module **out) MM_NODISCARD;
/* query (L, N, E) (batch_first: (N, L, E); or unbatched (L, E)), key and
 * value (S, N, kdim / vdim) (NULL: the query, self-attention) -> (L, N, E).
 * key_padding_mask (N, S) and attn_mask (L, S) or (N * num_heads, L, S)
 * may be NULL; bool true means "do not attend", float masks are added.
 * The attention weights are not returned (torch's need_weights=False). The
 * generic forward takes 1 (query) or 3 to 5 inputs in this order. */
MM_API int mm_multihead_attention_forward(mm_module *m, mm_tensor *query,
                                          mm_tensor *key, mm_tensor *value,
                                          mm_tensor *key_padding_mask,
                                          mm_tensor *attn_mask,
                                          mm_tensor **out) MM_NODISCARD;

/* ---- embedding ------------------------------------------------------------
 */

/* Embedding: weight (num_embeddings, embedding_dim) ~ N(0, 1), the
 * padding_idx row zero (and without gradient). */
typedef struct mm_nn_embedding {
    mm_module base;
    int64_t num_embeddings, embedding_dim;
    int64_t padding_idx; /* non-negative; valid when has_padding_idx */
    bool has_padding_idx;
    mm_tensor *weight;
} mm_nn_embedding;
MM_API extern const mm_module_class mm_embedding_class;
/* padding_idx may be negative (from the end) when has_padding_idx. */
MM_API int mm_embedding_new(int64_t num_embeddings, int64_t embedding_dim,
                            int64_t padding_idx, bool has_padding_idx,
                            mm_module **out) MM_NODISCARD;
/* indices (*) i64 or i32 -> (*, embedding_dim). */
MM_API int mm_embedding_forward(mm_module *m, mm_tensor *indices,
                                mm_tensor **out) MM_NODISCARD;

/* ---- ConvModule (mmcv) ------------------------------------------------------
 */

/* conv -> norm -> activation in `order`; the children are named conv, the
 * norm's abbreviation (bn, gn, ln, in; mmcv's infer_abbr) and activate, each
 * built through the registry from conv_cfg (default Conv2d), norm_cfg and
 * act_cfg (default ReLU) with the channel arguments filled in. bias 'auto'
 * means no conv bias when there is a norm. Initialisation as mmcv's:
 * kaiming_normal_(fan_out, relu; leaky_relu with its negative_slope for a
 * LeakyReLU), conv bias 0, norm weight 1 and bias 0. */
typedef struct mm_nn_conv_module {
    mm_module base;
    mm_module *conv, *norm, *act; /* children; norm and act may be NULL */
    char norm_name[16];
    int order[3]; /* 0 conv, 1 norm, 2 act */
    bool leaky;
    double negative_slope;
} mm_nn_conv_module;
MM_API extern const mm_module_class mm_conv_module_class;
/* From a config dict with ConvModule's parameters (`type` may be left out):
 * the same path as `{type: ConvModule, ...}` through mm_registry_build. */
MM_API int mm_conv_module_new(const mm_value *cfg,
                              mm_module **out) MM_NODISCARD;
MM_API int mm_conv_module_forward(mm_module *m, mm_tensor *x,
                                  mm_tensor **out) MM_NODISCARD;

/* Register the layers in the core scope (called once by the registry). */
MM_API int mm_nn_register(void);

#ifdef __cplusplus
}
#endif
#endif
