/* The runner's private parts, shared by runner.c, loops.c and the hooks. */
#ifndef MM_RUNNER_INTERNAL_H
#define MM_RUNNER_INTERNAL_H

#include <stdatomic.h>
#include <stdio.h>

#include "mm/runner.h"

typedef enum loop_kind {
    LOOP_EPOCH_TRAIN,
    LOOP_ITER_TRAIN,
    LOOP_VAL,
    LOOP_TEST
} loop_kind;

/* A built LOOPS component: EpochBasedTrainLoop, IterBasedTrainLoop,
 * ValLoop, TestLoop. */
typedef struct mm_loop {
    loop_kind kind;
    int64_t max_epochs, max_iters;
    int64_t val_begin, val_interval;
    size_t n_dyn; /* dynamic_intervals: after milestone[i], interval[i] */
    int64_t *milestones, *intervals;
    bool fp16;
} mm_loop;

void mm_loop_free(mm_loop *l);
/* Build train_cfg / val_cfg / test_cfg (mmengine's by_epoch shorthand). */
int mm_loop_build(mm_runner *r, const mm_value *node, const char *path,
                  mm_loop **out);
int mm_loop_run_train(mm_runner *r, mm_loop *l);
int mm_loop_run_val(mm_runner *r, mm_loop *l, mm_value **metrics);
int mm_loop_run_test(mm_runner *r, mm_loop *l, mm_value **metrics);

/* Arguments of a hook point; unused ones are ignored. */
typedef struct hook_args {
    int64_t batch_idx;
    const mm_value *data_batch, *outputs, *metrics;
    mm_checkpoint *ck;
} hook_args;

int mm_runner_call_hook(mm_runner *r, mm_hook_point p, const hook_args *a);

/* A built Visualizer: its LocalVisBackends (vis.c). */
typedef struct mm_vis_backend {
    char *scalar_file, *config_file, *save_dir; /* save_dir may be NULL */
} mm_vis_backend;
typedef struct mm_vis {
    size_t n;
    mm_vis_backend *backends;
} mm_vis;
void mm_vis_free(mm_vis *v);
int mm_vis_register(void);

struct mm_runner {
    mm_value *cfg;
    char *scope;    /* default_scope (or "mm") */
    char *cfg_name; /* config file stem, "" without one */
    char *work_dir, *log_dir, *vis_dir, *timestamp, *experiment_name;
    char *cfg_text; /* the config as YAML, for meta and dumps */
    uint64_t seed;
    bool deterministic;

    mm_module *model;
    /* init_cfg {type: Pretrained} entries of the model and its
     * sub-modules, applied by train() (mmengine's _init_model_weights) */
    mm_pretrained_inits inits;
    mm_optim_wrapper *ow;
    mm_param_scheduler **scheds;
    size_t n_scheds;
    mm_dataloader *train_dl, *val_dl, *test_dl;
    mm_evaluator *val_ev, *test_ev;
    mm_loop *train_loop, *val_loop, *test_loop;
    bool val_tried, test_tried; /* loops built (or found absent) */

    int64_t epoch, iter; /* the train loop's counters */
    int64_t resume_skip; /* batches of the current epoch already done */
    bool stop_training;
    atomic_int interrupt; /* set by mm_runner_interrupt */
    bool interrupted;

    mm_message_hub *hub;
    mm_log_processor *lp;
    mm_vis *vis;
    mm_hook **hooks;
    size_t n_hooks, cap_hooks;

    FILE *log_file;
    bool sink_added;
    bool resume;
    char *load_from;
    mm_checkpoint *resume_ck; /* the checkpoint to resume, read early */
    bool has_loaded;
    bool progress; /* stdout is a terminal: progress bars */
};

/* mkdir -p. */
int mm_runner_mkdirs(const char *path);

/* Timing for IterTimerHook-independent progress bars. */
double mm_runner_now(void);

/* The train step: preprocess, loss, parse_losses, update_params; *log_vars
 * a new dict of floats. The val/test step: *out a new list of samples. */
int mm_runner_train_step(mm_runner *r, const mm_value *batch,
                         mm_value **log_vars);
int mm_runner_eval_step(mm_runner *r, const mm_value *batch, mm_value **out);

/* Save the interrupted-run checkpoint and print how to resume. */
int mm_runner_save_interrupted(mm_runner *r);

/* SHA-256 of data as 64 hex digits (published checkpoints' names). */
void mm_sha256_hex(const void *data, size_t len, char out[65]);

/* Registered components. */
extern const mm_component mm_evaluator_component;
int mm_hooks_register(void);
int mm_custom_hooks_register(void);
int mm_loops_register(void);

#endif
