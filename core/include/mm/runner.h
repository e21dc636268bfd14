/* mm/runner.h - the runner: loops, hooks, message hub, logs, checkpoints.
 *
 * mmengine's Runner, in C. mm_runner_new takes a merged config (the keys
 * of mmengine's Runner.from_cfg: model, work_dir, *_dataloader, *_cfg,
 * optim_wrapper, param_scheduler, *_evaluator, default_hooks,
 * custom_hooks, load_from, resume, env_cfg, log_processor, log_level,
 * randomness, auto_scale_lr, default_scope, experiment_name), validates it
 * whole, then builds the model, seeds the generators, opens the work dir
 * and the log file and registers the hooks. mm_runner_train /
 * mm_runner_val / mm_runner_test build what their loop needs on first use
 * (dataloaders, optim wrapper, schedulers, evaluators) and run it.
 *
 * Loops are LOOPS components: EpochBasedTrainLoop, IterBasedTrainLoop,
 * ValLoop and TestLoop (`train_cfg: {by_epoch: true, max_epochs: 12}` is
 * mmengine's shorthand). Every iteration runs inside its own autorelease
 * pool; val and test run under no-grad with the model in eval mode.
 *
 * Hooks are objects of a hook class: a table of the 22 points where the
 * loops call them (mmengine's Hook), any of which may be NULL. A HOOKS
 * builder's `*out` is an `mm_hook *` (a struct that starts with the
 * mm_hook base, allocated by the builder; the component's destroy is
 * mm_hook_destroy). Hooks run in priority order (0 = HIGHEST first, equal
 * priorities in registration order), the default hooks first, then the
 * custom ones, exactly as mmengine orders them. A config's `priority`
 * key (a number or a name such as 'VERY_LOW') overrides the class's.
 *
 *     typedef struct count_hook { mm_hook base; int64_t iters; } count_hook;
 *     static int count_after_iter(mm_hook *h, mm_runner *r, int64_t i,
 *                                 const mm_value *batch,
 *                                 const mm_value *outputs) {
 *         ((count_hook *)h)->iters++;
 *         return MM_OK;
 *     }
 *     static const mm_hook_class count_class = {
 *         .name = "CountHook", .priority = MM_PRIORITY_NORMAL,
 *         .after_train_iter = count_after_iter};
 *
 * The message hub carries scalars (with their history, for windowed
 * means) and runtime information between hooks, as mmengine's MessageHub;
 * the log processor turns it into mmengine's log lines. Logs, scalars and
 * checkpoints land in the work dir (docs/runner.md):
 *
 *     work_dirs/<config>/<timestamp>/<timestamp>.log
 *     work_dirs/<config>/<timestamp>/vis_data/scalars.json, config.yaml
 *     work_dirs/<config>/<timestamp>/config.yaml
 *     work_dirs/<config>/epoch_N.safetensors, last_checkpoint */
#ifndef MM_RUNNER_H
#define MM_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/checkpoint.h"
#include "mm/data.h"
#include "mm/error.h"
#include "mm/nn.h"
#include "mm/optim_wrapper.h"
#include "mm/registry.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_runner mm_runner;
typedef struct mm_hook mm_hook;

/* ---- history buffers and the message hub --------------------------------- */

/* mmengine's HistoryBuffer: the values (and counts) a scalar had, the last
 * max_length of them. */
typedef struct mm_history_buffer mm_history_buffer;

MM_API void mm_history_buffer_update(mm_history_buffer *b, double value,
                                     int64_t count);
/* Over the last `window` updates (0 or more than there are: all):
 * mean = sum(values) / sum(counts), as mmengine. */
MM_API double mm_history_buffer_mean(const mm_history_buffer *b,
                                     int64_t window);
MM_API double mm_history_buffer_current(const mm_history_buffer *b);
MM_API double mm_history_buffer_min(const mm_history_buffer *b, int64_t window);
MM_API double mm_history_buffer_max(const mm_history_buffer *b, int64_t window);
/* statistics(method_name, window_size): "mean", "current", "min", "max";
 * another name is MM_EINVAL. */
MM_API int mm_history_buffer_statistics(const mm_history_buffer *b,
                                        const char *method, int64_t window,
                                        double *out) MM_NODISCARD;
MM_API size_t mm_history_buffer_len(const mm_history_buffer *b);

typedef struct mm_message_hub mm_message_hub;

MM_API int mm_message_hub_new(mm_message_hub **out) MM_NODISCARD;
MM_API void mm_message_hub_free(mm_message_hub *hub); /* NULL ok */

/* update_scalar(key, value, count): creates the buffer on first use. */
MM_API int mm_message_hub_update_scalar(mm_message_hub *hub, const char *key,
                                        double value,
                                        int64_t count) MM_NODISCARD;
/* Borrowed; NULL when the key was never updated. */
MM_API mm_history_buffer *mm_message_hub_get_scalar(const mm_message_hub *hub,
                                                    const char *key);
/* Scalars in first-update order (what the log processor walks). */
MM_API size_t mm_message_hub_n_scalars(const mm_message_hub *hub);
MM_API const char *mm_message_hub_scalar_key(const mm_message_hub *hub,
                                             size_t i);
/* Runtime information: any mm_value (retained). */
MM_API int mm_message_hub_update_info(mm_message_hub *hub, const char *key,
                                      mm_value *value) MM_NODISCARD;
MM_API int mm_message_hub_update_info_take(mm_message_hub *hub, const char *key,
                                           mm_value *value) MM_NODISCARD;
MM_API const mm_value *mm_message_hub_get_info(const mm_message_hub *hub,
                                               const char *key);
MM_API void mm_message_hub_pop_info(mm_message_hub *hub, const char *key);
/* The runtime info dict (borrowed). */
MM_API const mm_value *mm_message_hub_runtime_info(const mm_message_hub *hub);
/* mmengine's state_dict / load_state_dict: {log_scalars: {key:
 * {log_history, count_history, max_length}}, runtime_info: {...}}. */
MM_API int mm_message_hub_state(const mm_message_hub *hub,
                                mm_value **out) MM_NODISCARD;
MM_API int mm_message_hub_load_state(mm_message_hub *hub,
                                     const mm_value *state) MM_NODISCARD;

/* ---- the log processor --------------------------------------------------- */

/* mmengine's LogProcessor(window_size, by_epoch, custom_cfg, num_digits,
 * log_with_hierarchy, mean_pattern). */
typedef struct mm_log_processor mm_log_processor;

/* From the `log_processor` node (NULL or null: the defaults). */
MM_API int mm_log_processor_new(const mm_value *node,
                                mm_log_processor **out) MM_NODISCARD;
MM_API void mm_log_processor_free(mm_log_processor *lp);
MM_API bool mm_log_processor_by_epoch(const mm_log_processor *lp);

/* What a log line is made of, taken from the runner (or a test). */
typedef struct mm_log_state {
    const mm_message_hub *hub;
    int64_t epoch, iter; /* the train loop's (0 without one) */
    int64_t max_epochs, max_iters;
    bool has_train_loop;
    int64_t dataloader_len; /* of the loop of `mode` */
    int64_t memory_mib;     /* < 0: not printed */
} mm_log_state;

/* get_log_after_iter: *tag a new dict (for scalars.json), *line a new
 * string ("Epoch(train) [1][ 50/469]  lr: 1.0000e-02  eta: ..."). `mode`
 * is "train", "val" or "test". */
MM_API int mm_log_processor_after_iter(const mm_log_processor *lp,
                                       const mm_log_state *st,
                                       int64_t batch_idx, const char *mode,
                                       mm_value **tag,
                                       char **line) MM_NODISCARD;
/* get_log_after_epoch for "val" or "test" ("Epoch(val) [1][79/79]    ..."). */
MM_API int mm_log_processor_after_epoch(const mm_log_processor *lp,
                                        const mm_log_state *st,
                                        int64_t batch_idx, const char *mode,
                                        bool with_non_scalar, mm_value **tag,
                                        char **line) MM_NODISCARD;

/* ---- the evaluator ------------------------------------------------------- */

/* mmengine's Evaluator: the metrics of `val_evaluator` (a metric config, a
 * list of them, or {type: Evaluator, metrics: [...]}). */
typedef struct mm_evaluator mm_evaluator;

MM_API int mm_evaluator_build(const mm_value *node, const char *path,
                              const char *default_scope,
                              mm_evaluator **out) MM_NODISCARD;
MM_API void mm_evaluator_free(mm_evaluator *ev);
MM_API void mm_evaluator_destroy(void *ev);
MM_API void mm_evaluator_set_dataset_meta(mm_evaluator *ev, mm_value *meta);
MM_API int mm_evaluator_process(mm_evaluator *ev, const mm_value *data_batch,
                                const mm_value *data_samples) MM_NODISCARD;
/* Every metric's evaluate(size), merged into one new dict; two metrics
 * giving the same key is an error (as mmengine). */
MM_API int mm_evaluator_evaluate(mm_evaluator *ev, size_t size,
                                 mm_value **metrics) MM_NODISCARD;

/* ---- hooks --------------------------------------------------------------- */

/* mmengine's priorities. */
enum {
    MM_PRIORITY_HIGHEST = 0,
    MM_PRIORITY_VERY_HIGH = 10,
    MM_PRIORITY_HIGH = 30,
    MM_PRIORITY_ABOVE_NORMAL = 40,
    MM_PRIORITY_NORMAL = 50,
    MM_PRIORITY_BELOW_NORMAL = 60,
    MM_PRIORITY_LOW = 70,
    MM_PRIORITY_VERY_LOW = 90,
    MM_PRIORITY_LOWEST = 100,
};

/* An integer 0..100 or a name ("VERY_LOW", any case); `loc` for errors. */
MM_API int mm_priority_parse(const mm_value *v, int *out) MM_NODISCARD;
/* "VERY_LOW" for 90, NULL for a number without a name. */
MM_API const char *mm_priority_name(int priority);

/* The 22 points, in mmengine's Hook.stages order. */
typedef enum mm_hook_point {
    MM_HOOK_BEFORE_RUN,
    MM_HOOK_AFTER_LOAD_CHECKPOINT,
    MM_HOOK_BEFORE_TRAIN,
    MM_HOOK_BEFORE_TRAIN_EPOCH,
    MM_HOOK_BEFORE_TRAIN_ITER,
    MM_HOOK_AFTER_TRAIN_ITER,
    MM_HOOK_AFTER_TRAIN_EPOCH,
    MM_HOOK_BEFORE_VAL,
    MM_HOOK_BEFORE_VAL_EPOCH,
    MM_HOOK_BEFORE_VAL_ITER,
    MM_HOOK_AFTER_VAL_ITER,
    MM_HOOK_AFTER_VAL_EPOCH,
    MM_HOOK_AFTER_VAL,
    MM_HOOK_BEFORE_SAVE_CHECKPOINT,
    MM_HOOK_AFTER_TRAIN,
    MM_HOOK_BEFORE_TEST,
    MM_HOOK_BEFORE_TEST_EPOCH,
    MM_HOOK_BEFORE_TEST_ITER,
    MM_HOOK_AFTER_TEST_ITER,
    MM_HOOK_AFTER_TEST_EPOCH,
    MM_HOOK_AFTER_TEST,
    MM_HOOK_AFTER_RUN,
    MM_HOOK_POINT_COUNT
} mm_hook_point;

/* "before_run", ... */
MM_API const char *mm_hook_point_name(mm_hook_point p);

typedef int (*mm_hook_fn)(mm_hook *h, mm_runner *r);
/* batch_idx counts within the epoch (IterBasedTrainLoop: the global iter);
 * data_batch is the dataloader's batch. */
typedef int (*mm_hook_iter_fn)(mm_hook *h, mm_runner *r, int64_t batch_idx,
                               const mm_value *data_batch);
/* outputs: train: the log_vars dict ({loss: 0.69, ...}); val/test: the
 * list of data samples with predictions. */
typedef int (*mm_hook_after_iter_fn)(mm_hook *h, mm_runner *r,
                                     int64_t batch_idx,
                                     const mm_value *data_batch,
                                     const mm_value *outputs);
/* metrics: the evaluator's dict (may be empty). */
typedef int (*mm_hook_metrics_fn)(mm_hook *h, mm_runner *r,
                                  const mm_value *metrics);
typedef int (*mm_hook_checkpoint_fn)(mm_hook *h, mm_runner *r,
                                     mm_checkpoint *ck);

/* A hook class: static storage. Each entry may be NULL. A non-zero return
 * stops the run with that error. */
typedef struct mm_hook_class {
    const char *name; /* "CheckpointHook": logs and messages */
    int priority;     /* the default, MM_PRIORITY_* */
    mm_hook_fn before_run, after_run;
    mm_hook_fn before_train, after_train;
    mm_hook_fn before_train_epoch, after_train_epoch;
    mm_hook_iter_fn before_train_iter;
    mm_hook_after_iter_fn after_train_iter;
    mm_hook_fn before_val, after_val;
    mm_hook_fn before_val_epoch;
    mm_hook_metrics_fn after_val_epoch;
    mm_hook_iter_fn before_val_iter;
    mm_hook_after_iter_fn after_val_iter;
    mm_hook_fn before_test, after_test;
    mm_hook_fn before_test_epoch;
    mm_hook_metrics_fn after_test_epoch;
    mm_hook_iter_fn before_test_iter;
    mm_hook_after_iter_fn after_test_iter;
    /* After a checkpoint's weights went into the model (load_from or
     * resume); the hook may read anything else in it. */
    mm_hook_checkpoint_fn after_load_checkpoint;
    /* Before the model's weights are added to a checkpoint being saved:
     * what a hook adds (ema_state_dict.*, its own metadata) is kept, and a
     * `state_dict.*` entry it adds replaces the model's (EMAHook saves the
     * averaged weights there, as mmengine). */
    mm_hook_checkpoint_fn before_save_checkpoint;
    /* Free what the hook holds and the hook itself; NULL: free(h). */
    void (*destroy)(mm_hook *h);
} mm_hook_class;

/* The base every hook struct starts with. */
struct mm_hook {
    const mm_hook_class *cls;
    int priority; /* set from cls->priority or the config's `priority` */
};

/* The base parameter every HOOKS component takes (mmengine pops it before
 * building), for the end of its schema. */
#define MM_HOOK_BASE_PARAMS                                                    \
    {                                                                          \
        .name = "priority",                                                    \
        .type = MM_PARAM_INT | MM_PARAM_STRING | MM_PARAM_NULL, .def = "null", \
        .doc = "0..100 or HIGHEST, VERY_HIGH, HIGH, ABOVE_NORMAL, "            \
               "NORMAL, BELOW_NORMAL, LOW, VERY_LOW, LOWEST"                   \
    }

/* Call h->cls->destroy (or free). NULL ok. */
MM_API void mm_hook_free(mm_hook *h);
MM_API void mm_hook_destroy(void *h); /* for mm_component.destroy */

/* Build a HOOKS config node into a hook with its priority set. */
MM_API int mm_hook_build(const mm_value *node, const char *path,
                         const char *default_scope, mm_hook **out) MM_NODISCARD;

/* ---- the runner ---------------------------------------------------------- */

/* Validate and set up a runner from a merged config. `config_path` (may be
 * NULL) names the config: the work dir defaults to
 * work_dirs/<config name>, and errors refer to it. The config is copied. */
MM_API int mm_runner_new(const mm_value *cfg, const char *config_path,
                         mm_runner **out) MM_NODISCARD;
/* Frees hooks, loops, model, ...; closes the log file. NULL ok. */
MM_API void mm_runner_free(mm_runner *r);

/* Runs: train (with val as train_cfg says), val alone, test. *metrics (may
 * be NULL) receives the loop's new metrics dict. */
MM_API int mm_runner_train(mm_runner *r) MM_NODISCARD;
MM_API int mm_runner_val(mm_runner *r, mm_value **metrics) MM_NODISCARD;
MM_API int mm_runner_test(mm_runner *r, mm_value **metrics) MM_NODISCARD;

/* Add a hook (the runner owns it from now on, also on failure), in
 * priority order after those of equal priority. */
MM_API int mm_runner_register_hook(mm_runner *r, mm_hook *h) MM_NODISCARD;
MM_API size_t mm_runner_n_hooks(const mm_runner *r);
MM_API mm_hook *mm_runner_hook_at(const mm_runner *r, size_t i);

/* Ask a training run to stop after the current iteration and save a
 * checkpoint (flagged `interrupted` in its meta). Safe to call from a
 * signal handler. */
MM_API void mm_runner_interrupt(mm_runner *r);
/* True once a run stopped because of mm_runner_interrupt. */
MM_API bool mm_runner_interrupted(const mm_runner *r);
/* EarlyStoppingHook: the train loop stops after this epoch / iteration. */
MM_API void mm_runner_stop_training(mm_runner *r);

/* State, for hooks. epoch and iter are the train loop's counters
 * (completed epochs and iterations; 0 without a train loop). */
MM_API int64_t mm_runner_epoch(const mm_runner *r);
MM_API int64_t mm_runner_iter(const mm_runner *r);
MM_API int64_t mm_runner_max_epochs(const mm_runner *r);
MM_API int64_t mm_runner_max_iters(const mm_runner *r);
MM_API bool mm_runner_has_train_loop(const mm_runner *r);
/* True when the train loop is an EpochBasedTrainLoop; false for an
 * IterBasedTrainLoop or without one (hooks that act per epoch or per
 * iteration by the loop's kind, as mmengine's isinstance checks). */
MM_API bool mm_runner_train_by_epoch(const mm_runner *r);
MM_API const mm_value *mm_runner_cfg(const mm_runner *r);
MM_API const char *mm_runner_default_scope(const mm_runner *r);
MM_API mm_module *mm_runner_model(const mm_runner *r);
/* NULL until training built it. */
MM_API mm_optim_wrapper *mm_runner_optim_wrapper(const mm_runner *r);
MM_API mm_param_scheduler *const *mm_runner_param_schedulers(const mm_runner *r,
                                                             size_t *n);
/* NULL when the config has none or the loop is not built yet. */
MM_API mm_dataloader *mm_runner_train_dataloader(const mm_runner *r);
MM_API mm_dataloader *mm_runner_val_dataloader(const mm_runner *r);
MM_API mm_dataloader *mm_runner_test_dataloader(const mm_runner *r);
MM_API mm_message_hub *mm_runner_message_hub(const mm_runner *r);
MM_API const mm_log_processor *mm_runner_log_processor(const mm_runner *r);
/* Fill a log state for `mode` ("train", "val", "test"). */
MM_API void mm_runner_log_state(const mm_runner *r, const char *mode,
                                mm_log_state *st);
MM_API const char *mm_runner_work_dir(const mm_runner *r);
MM_API const char *mm_runner_log_dir(const mm_runner *r); /* work_dir/<ts> */
MM_API const char *mm_runner_timestamp(const mm_runner *r);
MM_API const char *mm_runner_experiment_name(const mm_runner *r);
MM_API uint64_t mm_runner_seed(const mm_runner *r);
/* True when this run resumes (resume: true or a path). */
MM_API bool mm_runner_resuming(const mm_runner *r);

/* LocalVisBackend.add_scalars: one JSON line {...tag, step} appended to
 * vis_data/scalars.json (and vis_data/<timestamp>.json). */
MM_API int mm_runner_add_scalars(mm_runner *r, const mm_value *tag,
                                 int64_t step) MM_NODISCARD;

/* Runner.save_checkpoint: weights, meta (epoch and iter from `meta_epoch`
 * and `meta_iter`, seed, config, dataset_meta, mm version, time,
 * experiment_name), message hub, RNG state, and optionally the optimizer
 * and the schedulers; hooks' before_save_checkpoint first. Written
 * atomically to <dir>/<filename>. */
MM_API int mm_runner_save_checkpoint(mm_runner *r, const char *dir,
                                     const char *filename, bool save_optimizer,
                                     bool save_param_scheduler,
                                     int64_t meta_epoch,
                                     int64_t meta_iter) MM_NODISCARD;
/* Write <work_dir>/last_checkpoint (atomically) with `path`. */
MM_API int mm_runner_write_last_checkpoint(mm_runner *r,
                                           const char *path) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
