/* mm/optim.h - optimizers: SGD, Adam, AdamW, RMSprop, Adagrad.
 *
 * An optimizer holds parameter groups, as torch.optim does: a group is a
 * list of parameters (leaf tensors, f32 or f64, retained by the optimizer)
 * with its own hyper-parameters (mm_optim_hparams, the fields of one torch
 * param_groups dict). mm_optimizer_step updates every parameter that has a
 * gradient (a NULL grad is skipped, as in torch) in place, under no-grad,
 * with PyTorch's single-tensor (for-loop) update rules, computed in the
 * parameter's dtype. Per-parameter state (momentum buffers, moment
 * estimates, step counts) belongs to the optimizer and is created on the
 * first step that sees a gradient (Adagrad's sum at construction), as in
 * torch.
 *
 * Schedulers and paramwise_cfg read and change hyper-parameters per group:
 * mm_optimizer_get_lr / set_lr, or any field by name with
 * mm_optimizer_group_get / group_set ("lr", "momentum", "beta1", ...).
 *
 * State is named as in torch's state_dict, with the parameter index counted
 * over all groups in order: "state.0.exp_avg", "state.3.momentum_buffer",
 * "state.1.step" (a 0-dim f32 tensor). mm_optimizer_state_at enumerates the
 * existing entries; mm_optimizer_state_load writes one back (a checkpoint).
 *
 *     mm_optim_hparams hp;
 *     mm_optim_defaults(MM_OPTIM_SGD, &hp);
 *     hp.lr = 0.1; hp.momentum = 0.9;
 *     mm_optimizer *opt;
 *     MM_TRY(mm_optimizer_new(MM_OPTIM_SGD, &hp, &opt));
 *     MM_TRY(mm_optimizer_add_param_group(opt, n, params, NULL));
 *     ... per iteration: forward, mm_backward(loss),
 *     MM_TRY(mm_optimizer_step(opt));
 *     mm_optimizer_zero_grad(opt, true);
 *     ...
 *     mm_optimizer_free(opt);
 */
#ifndef MM_OPTIM_H
#define MM_OPTIM_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mm_optim_kind {
    MM_OPTIM_SGD,
    MM_OPTIM_ADAM,
    MM_OPTIM_ADAMW,
    MM_OPTIM_RMSPROP,
    MM_OPTIM_ADAGRAD,
    MM_OPTIM_KIND_COUNT
} mm_optim_kind;

/* "sgd", "adam", "adamw", "rmsprop", "adagrad". */
MM_API const char *mm_optim_kind_name(mm_optim_kind kind);
/* By name, case-insensitive ("SGD", "AdamW"); MM_EINVAL when unknown. */
MM_API int mm_optim_kind_parse(const char *name, mm_optim_kind *out);

/* The hyper-parameters of one group. Each optimizer reads its own fields
 * (named as torch's arguments) and ignores the rest. */
typedef struct mm_optim_hparams {
    double lr;
    double weight_decay;
    bool maximize;
    double momentum;  /* sgd, rmsprop */
    double dampening; /* sgd */
    bool nesterov;    /* sgd */
    double beta1;     /* adam, adamw: betas[0] */
    double beta2;     /* adam, adamw: betas[1] */
    double eps;       /* adam, adamw, rmsprop, adagrad */
    bool amsgrad;     /* adam, adamw */
    double alpha;     /* rmsprop */
    bool centered;    /* rmsprop */
    double lr_decay;  /* adagrad */
    double initial_accumulator_value; /* adagrad */
} mm_optim_hparams;

/* torch's defaults for `kind` (SGD has no default lr in torch 1.13; ours is
 * 2.x's 1e-3; AdamW's weight_decay is 1e-2). */
MM_API void mm_optim_defaults(mm_optim_kind kind, mm_optim_hparams *out);

typedef struct mm_optimizer mm_optimizer;

/* An optimizer with no groups yet; `defaults` (NULL: mm_optim_defaults)
 * are what a group added without its own hyper-parameters gets. Invalid
 * values are refused as torch refuses them ("adam: invalid beta parameter
 * at index 0: 1"). */
MM_API int mm_optimizer_new(mm_optim_kind kind, const mm_optim_hparams *defaults,
                            mm_optimizer **out) MM_NODISCARD;
MM_API void mm_optimizer_free(mm_optimizer *opt); /* NULL ok */

/* Add a group of n parameters (retained) with hyper-parameters `hp` (NULL:
 * the optimizer's defaults). Parameters must be leaf f32/f64 CPU tensors,
 * contiguous, each in one group only. */
MM_API int mm_optimizer_add_param_group(mm_optimizer *opt, int n,
                                        mm_tensor *const *params,
                                        const mm_optim_hparams *hp) MM_NODISCARD;

MM_API mm_optim_kind mm_optimizer_kind(const mm_optimizer *opt);
/* The hyper-parameters a group added without its own gets (torch's
 * optimizer.defaults; borrowed). */
MM_API const mm_optim_hparams *mm_optimizer_defaults(const mm_optimizer *opt);

/* One update of every parameter with a gradient. */
MM_API int mm_optimizer_step(mm_optimizer *opt) MM_NODISCARD;
/* Drop the gradients (set_to_none, torch 2.x's default) or fill them with
 * zeros (torch 1.13's default). */
MM_API void mm_optimizer_zero_grad(mm_optimizer *opt, bool set_to_none);

/* ---- groups ------------------------------------------------------------- */

MM_API int mm_optimizer_n_groups(const mm_optimizer *opt);
/* Parameters of group g (borrowed array of n). */
MM_API int mm_optimizer_group_params(const mm_optimizer *opt, int g, int *n,
                                     mm_tensor *const **params) MM_NODISCARD;
/* The hyper-parameters of group g (borrowed; change them with the setters,
 * which validate). NULL when g is out of range. */
MM_API const mm_optim_hparams *mm_optimizer_group_hparams(const mm_optimizer *opt,
                                                          int g);
MM_API int mm_optimizer_set_group_hparams(mm_optimizer *opt, int g,
                                          const mm_optim_hparams *hp) MM_NODISCARD;
/* lr of group g (NAN when g is out of range) and its setter. */
MM_API double mm_optimizer_get_lr(const mm_optimizer *opt, int g);
MM_API int mm_optimizer_set_lr(mm_optimizer *opt, int g, double lr) MM_NODISCARD;
/* Any field by its name in mm_optim_hparams ("momentum", "beta1",
 * "nesterov": booleans read as 0/1). */
MM_API int mm_optimizer_group_get(const mm_optimizer *opt, int g,
                                  const char *key, double *out) MM_NODISCARD;
MM_API int mm_optimizer_group_set(mm_optimizer *opt, int g, const char *key,
                                  double value) MM_NODISCARD;

/* ---- state -------------------------------------------------------------- */

/* Number of state entries that exist now. */
MM_API size_t mm_optimizer_state_count(const mm_optimizer *opt);
/* Entry i (0 <= i < count), ordered by parameter index then torch's key
 * order: its name ("state.2.exp_avg_sq") into name[size] and the tensor
 * (borrowed, owned by the optimizer). */
MM_API int mm_optimizer_state_at(const mm_optimizer *opt, size_t i, char *name,
                                 size_t size, mm_tensor **tensor) MM_NODISCARD;
/* Set one entry from a tensor of the right shape (the parameter's; 0-dim
 * for "step"), converting the dtype; creates the entry when missing.
 * MM_ENOENT for a name this optimizer does not keep. */
MM_API int mm_optimizer_state_load(mm_optimizer *opt, const char *name,
                                   const mm_tensor *value) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
