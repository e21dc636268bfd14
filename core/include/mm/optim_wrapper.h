/* mm/optim_wrapper.h - the optimizer wrapper and parameter schedulers.
 *
 * mmengine's OptimWrapper, in C: it owns an optimizer (<mm/optim.h>) whose
 * parameter groups were made from a model by the default constructor with
 * `paramwise_cfg` (lr_mult, decay_mult, bias_lr_mult, bias_decay_mult,
 * norm_decay_mult, dwconv_decay_mult, flat_decay_mult, bypass_duplicate,
 * custom_keys), and one training step's update:
 *
 *     MM_TRY(mm_optim_wrapper_context_enter(ow));   autocast for AMP
 *     ... forward, losses ...
 *     mm_optim_wrapper_context_exit(ow);
 *     MM_TRY(mm_optim_wrapper_update_params(ow, loss));
 *
 * update_params scales the loss by the accumulation window
 * (accumulative_counts, the last window shortened as mmengine does),
 * back-propagates, and on the window's last iteration clips gradients
 * (clip_grad: {max_norm, norm_type} or {type: value, clip_value}; the norm
 * is kept for the logs as grad_norm), steps and zeroes the gradients.
 * AmpOptimWrapper runs the forward under bf16 autocast on the CPU
 * (`dtype: bfloat16`); f16 with a dynamic loss scale joins with CUDA.
 *
 * The registry contracts: OPTIMIZERS builders (SGD, Adam, AdamW, RMSprop,
 * Adagrad) return an mm_optimizer * with no groups (the config's values are
 * its defaults; destroy mm_optimizer_free). OPTIM_WRAPPERS builders
 * (OptimWrapper, AmpOptimWrapper) get the model as mm_build_user(ctx) and
 * return an mm_optim_wrapper * (destroy mm_optim_wrapper_destroy).
 * PARAM_SCHEDULERS builders get an mm_scheduler_args * as mm_build_user and
 * return an mm_param_scheduler * (destroy mm_param_scheduler_destroy).
 *
 * Schedulers follow mmengine's _ParamScheduler: each changes one
 * hyper-parameter (lr or momentum; betas[0] for Adam) of every group,
 * between `begin` and `end` (in epochs or iterations, `by_epoch`), chained
 * by multiplying onto the current value as mmengine does, and
 * `convert_to_iter_based` turns epoch bounds into iterations with the
 * train dataloader's length. The runner's ParamSchedulerHook calls
 * mm_param_scheduler_step after each iteration (iteration-based ones) or
 * epoch (epoch-based ones), and hands ReduceOnPlateau the validation
 * metrics. */
#ifndef MM_OPTIM_WRAPPER_H
#define MM_OPTIM_WRAPPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/error.h"
#include "mm/nn.h"
#include "mm/optim.h"
#include "mm/tensor.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_optim_wrapper mm_optim_wrapper;

/* Build the `optim_wrapper` node (default type OptimWrapper) for `model`:
 * its optimizer, groups from paramwise_cfg, clip_grad, accumulative_counts.
 * `path` names the node in errors ("optim_wrapper"). */
MM_API int mm_optim_wrapper_build(const mm_value *node, const char *path,
                                  const char *default_scope, mm_module *model,
                                  mm_optim_wrapper **out) MM_NODISCARD;
MM_API void mm_optim_wrapper_free(mm_optim_wrapper *ow); /* NULL ok */
MM_API void mm_optim_wrapper_destroy(void *ow);

MM_API mm_optimizer *mm_optim_wrapper_optimizer(const mm_optim_wrapper *ow);

/* Tell the wrapper where training starts and ends, for the accumulation
 * window (mmengine's initialize_count_status). */
MM_API void mm_optim_wrapper_init_counts(mm_optim_wrapper *ow, int64_t cur_iter,
                                         int64_t max_iters);
/* Around the forward pass: AMP's autocast (a no-op for OptimWrapper). */
MM_API int mm_optim_wrapper_context_enter(mm_optim_wrapper *ow) MM_NODISCARD;
MM_API void mm_optim_wrapper_context_exit(mm_optim_wrapper *ow);
/* backward + (on the window's last iteration) clip, step, zero_grad. */
MM_API int mm_optim_wrapper_update_params(mm_optim_wrapper *ow,
                                          mm_tensor *loss) MM_NODISCARD;
/* The last clipped gradient norm (NAN when clip_grad by norm is off or no
 * step has clipped yet). */
MM_API double mm_optim_wrapper_grad_norm(const mm_optim_wrapper *ow);
/* {lr: [per group]} and {momentum: [per group]} (Adam's beta1), new dicts,
 * as mmengine's get_lr / get_momentum. */
MM_API mm_value *mm_optim_wrapper_get_lr(const mm_optim_wrapper *ow);
MM_API mm_value *mm_optim_wrapper_get_momentum(const mm_optim_wrapper *ow);

/* State for checkpoints: the optimizer's state tensors (torch's names,
 * "state.0.momentum_buffer"; added to `tensors`) and a new value with the
 * param groups' hyper-parameters and the wrapper's own state (loss scale,
 * counters). Loading checks the groups match (count and sizes). */
MM_API int mm_optim_wrapper_state_dict(const mm_optim_wrapper *ow,
                                       mm_state_dict *tensors,
                                       mm_value **state) MM_NODISCARD;
MM_API int mm_optim_wrapper_load_state_dict(mm_optim_wrapper *ow,
                                            const mm_state_dict *tensors,
                                            const mm_value *state) MM_NODISCARD;

/* ---- parameter schedulers ----------------------------------------------- */

typedef struct mm_param_scheduler mm_param_scheduler;

typedef struct mm_scheduler_args {
    mm_optim_wrapper *optim_wrapper;
    int64_t epoch_length; /* iterations per epoch (convert_to_iter_based) */
    /* A scheduler without `end` ends with training, as in mmengine's
     * Runner: max_epochs for by_epoch ones, else max_iters (0: unknown,
     * mmengine's INF). */
    int64_t max_epochs, max_iters;
} mm_scheduler_args;

/* Build `param_scheduler` (a dict or a list of dicts; null: none) into a
 * new array *out of *n schedulers (free with mm_param_schedulers_free). */
MM_API int mm_param_schedulers_build(const mm_value *node, const char *path,
                                     const char *default_scope,
                                     const mm_scheduler_args *args,
                                     mm_param_scheduler ***out,
                                     size_t *n) MM_NODISCARD;
MM_API void mm_param_schedulers_free(mm_param_scheduler **s, size_t n);
MM_API void mm_param_scheduler_free(mm_param_scheduler *s);
MM_API void mm_param_scheduler_destroy(void *s);

MM_API const char *mm_param_scheduler_name(const mm_param_scheduler *s);
MM_API bool mm_param_scheduler_by_epoch(const mm_param_scheduler *s);
/* True for ReduceOnPlateau*: it steps on validation metrics. */
MM_API bool mm_param_scheduler_needs_metrics(const mm_param_scheduler *s);
/* One step (an epoch or an iteration, per by_epoch). */
MM_API int mm_param_scheduler_step(mm_param_scheduler *s) MM_NODISCARD;
/* ReduceOnPlateau: one step with the validation metrics dict (the monitored
 * key missing is a one-line error naming the keys there are). */
MM_API int mm_param_scheduler_step_metrics(mm_param_scheduler *s,
                                           const mm_value *metrics) MM_NODISCARD;
/* The value each group got last ({lr: [..]} style list). */
MM_API mm_value *mm_param_scheduler_last_values(const mm_param_scheduler *s);
/* mmengine's state_dict / load_state_dict (last_step, base values, ...). */
MM_API mm_value *mm_param_scheduler_state(const mm_param_scheduler *s);
MM_API int mm_param_scheduler_load_state(mm_param_scheduler *s,
                                         const mm_value *state) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
