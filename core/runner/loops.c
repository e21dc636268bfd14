/* mmengine's loops: EpochBasedTrainLoop, IterBasedTrainLoop, ValLoop and
 * TestLoop, calling the hooks at the points mmengine's loops.py does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm/autocast.h"
#include "mm/autograd.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/tensor.h"
#include "runner_internal.h"

void mm_loop_free(mm_loop *l) {
    if (!l)
        return;
    free(l->milestones);
    free(l->intervals);
    free(l);
}

static void loop_destroy(void *l) { mm_loop_free(l); }

/* calc_dynamic_intervals: milestones [0, m1, m2...], intervals [start, i1,
 * ...]; the list is [[milestone, interval], ...] in increasing order. */
static int parse_dynamic(mm_build_ctx *ctx, mm_loop *l) {
    const mm_value *d = mm_build_arg(ctx, "dynamic_intervals");
    size_t n = mm_value_is_list(d) ? mm_value_len(d) : 0;
    l->milestones = calloc(n + 1, sizeof *l->milestones);
    l->intervals = calloc(n + 1, sizeof *l->intervals);
    if (!l->milestones || !l->intervals)
        return mm_error_set(MM_ENOMEM, "out of memory");
    l->milestones[0] = 0;
    l->intervals[0] = l->val_interval;
    l->n_dyn = 1;
    for (size_t i = 0; i < n; i++) {
        const mm_value *e = mm_value_list_get(d, i);
        if (!mm_value_is_list(e) || mm_value_len(e) != 2 ||
            !mm_value_is_int(mm_value_list_get(e, 0)) ||
            !mm_value_is_int(mm_value_list_get(e, 1)))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "dynamic_intervals.%zu: must be [milestone, "
                                   "interval]",
                                   i);
        int64_t m = mm_value_get_int(mm_value_list_get(e, 0));
        if (m <= l->milestones[l->n_dyn - 1] && i > 0)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "dynamic_intervals: milestones must "
                                   "increase");
        int64_t iv = mm_value_get_int(mm_value_list_get(e, 1));
        if (iv <= 0) /* the loop divides by it */
            return mm_error_set_at(MM_EINVAL,
                                   mm_value_loc(mm_value_list_get(e, 1)),
                                   "dynamic_intervals.%zu: the interval must "
                                   "be positive, got %lld",
                                   i, (long long)iv);
        l->milestones[l->n_dyn] = m;
        l->intervals[l->n_dyn++] = iv;
    }
    return MM_OK;
}

/* bisect.bisect(milestones, progress + 1) - 1 */
static void decide_val_interval(mm_loop *l, int64_t progress) {
    size_t step = 0;
    while (step < l->n_dyn && l->milestones[step] <= progress + 1)
        step++;
    if (step > 0)
        l->val_interval = l->intervals[step - 1];
}

static int train_loop_build(mm_build_ctx *ctx, loop_kind kind, void **out) {
    mm_loop *l = calloc(1, sizeof *l);
    if (!l)
        return mm_error_set(MM_ENOMEM, "out of memory");
    l->kind = kind;
    int rc =
        mm_build_int(ctx, kind == LOOP_EPOCH_TRAIN ? "max_epochs" : "max_iters",
                     kind == LOOP_EPOCH_TRAIN ? &l->max_epochs : &l->max_iters);
    if (!rc)
        rc = mm_build_int(ctx, "val_begin", &l->val_begin);
    if (!rc)
        rc = mm_build_int(ctx, "val_interval", &l->val_interval);
    if (!rc && (kind == LOOP_EPOCH_TRAIN ? l->max_epochs : l->max_iters) <= 0)
        rc = mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_node(ctx)), "%s must be positive",
            kind == LOOP_EPOCH_TRAIN ? "max_epochs" : "max_iters");
    if (!rc && l->val_interval <= 0)
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                             "val_interval must be positive");
    if (!rc)
        rc = parse_dynamic(ctx, l);
    if (kind == LOOP_ITER_TRAIN)
        l->max_epochs = 1; /* mmengine's, for compatibility */
    if (rc) {
        mm_loop_free(l);
        return rc;
    }
    *out = l;
    return MM_OK;
}

static int epoch_loop_build(mm_build_ctx *ctx, void **out) {
    return train_loop_build(ctx, LOOP_EPOCH_TRAIN, out);
}

static int iter_loop_build(mm_build_ctx *ctx, void **out) {
    return train_loop_build(ctx, LOOP_ITER_TRAIN, out);
}

static int eval_loop_build(mm_build_ctx *ctx, loop_kind kind, void **out) {
    mm_loop *l = calloc(1, sizeof *l);
    if (!l)
        return mm_error_set(MM_ENOMEM, "out of memory");
    l->kind = kind;
    int rc = mm_build_bool(ctx, "fp16", &l->fp16);
    if (rc) {
        free(l);
        return rc;
    }
    *out = l;
    return MM_OK;
}

static int val_loop_build(mm_build_ctx *ctx, void **out) {
    return eval_loop_build(ctx, LOOP_VAL, out);
}

static int test_loop_build(mm_build_ctx *ctx, void **out) {
    return eval_loop_build(ctx, LOOP_TEST, out);
}

static const mm_param epoch_params[] = {
    {.name = "max_epochs",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "total training epochs"},
    {.name = "val_begin",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "the epoch validation begins at"},
    {.name = "val_interval",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "validate every n epochs (and after the last)"},
    {.name = "dynamic_intervals",
     .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "[[milestone, interval], ...]: val_interval "
            "from each milestone on"},
};

static const mm_param iter_params[] = {
    {.name = "max_iters",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "total training iterations"},
    {.name = "val_begin",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "the iteration validation begins at"},
    {.name = "val_interval",
     .type = MM_PARAM_INT,
     .def = "1000",
     .doc = "validate every n iterations (and after the last)"},
    {.name = "dynamic_intervals",
     .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "[[milestone, interval], ...]: val_interval "
            "from each milestone on"},
};

static const mm_param eval_params[] = {
    {.name = "fp16",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "run the model under autocast (bf16 on the CPU)"},
};

static const mm_component loop_components[] = {
    {.kind = MM_LOOPS,
     .name = "EpochBasedTrainLoop",
     .doc = "train for max_epochs epochs, validating every val_interval",
     .params = epoch_params,
     .n_params = 4,
     .build = epoch_loop_build,
     .destroy = loop_destroy},
    {.kind = MM_LOOPS,
     .name = "IterBasedTrainLoop",
     .doc = "train for max_iters iterations, validating every val_interval",
     .params = iter_params,
     .n_params = 4,
     .build = iter_loop_build,
     .destroy = loop_destroy},
    {.kind = MM_LOOPS,
     .name = "ValLoop",
     .doc = "one pass over val_dataloader into val_evaluator",
     .params = eval_params,
     .n_params = 1,
     .build = val_loop_build,
     .destroy = loop_destroy},
    {.kind = MM_LOOPS,
     .name = "TestLoop",
     .doc = "one pass over test_dataloader into test_evaluator",
     .params = eval_params,
     .n_params = 1,
     .build = test_loop_build,
     .destroy = loop_destroy},
};

int mm_loops_register(void) {
    for (size_t i = 0; i < sizeof loop_components / sizeof loop_components[0];
         i++) {
        int rc = mm_register(&loop_components[i]);
        if (rc)
            return rc;
    }
    return MM_OK;
}

int mm_loop_build(mm_runner *r, const mm_value *node, const char *path,
                  mm_loop **out) {
    if (!mm_value_is_dict(node))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(node),
                               "%s: must be a dict", path);
    mm_value *copy = mm_value_copy(node);
    if (!copy)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = MM_OK;
    if (!mm_value_dict_get(copy, "type")) {
        const char *type;
        if (strcmp(path, "train_cfg") == 0) {
            const mm_value *by_epoch = mm_value_dict_get(copy, "by_epoch");
            if (!by_epoch) {
                mm_value_release(copy);
                return mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                                       "train_cfg: needs `type` or `by_epoch` "
                                       "(e.g. {by_epoch: true, max_epochs: "
                                       "12})");
            }
            type = mm_value_is_bool(by_epoch) && !mm_value_get_bool(by_epoch)
                       ? "IterBasedTrainLoop"
                       : "EpochBasedTrainLoop";
        } else {
            type = strcmp(path, "val_cfg") == 0 ? "ValLoop" : "TestLoop";
        }
        rc = mm_value_dict_set_take(copy, "type", mm_value_new_string(type));
        if (!rc)
            mm_value_set_srcloc(mm_value_dict_get(copy, "type"),
                                mm_value_loc(node));
        (void)mm_value_dict_del(copy, "by_epoch");
    }
    void *obj = NULL;
    if (!rc)
        rc = mm_registry_build(MM_LOOPS, copy, r->scope, path, r, &obj);
    mm_value_release(copy);
    if (rc)
        return rc;
    *out = obj;
    return MM_OK;
}

/* ---- progress bar (val/test on a terminal) ------------------------------- */

static void progress(mm_runner *r, int64_t done, int64_t total, double t0) {
    if (r->progress)
        mm_progress_print(stdout, done, total, mm_runner_now() - t0);
}

/* ---- the train loops ----------------------------------------------------- */

/* One iteration in its own pool: before_train_iter, train_step,
 * after_train_iter. */
static int train_iter(mm_runner *r, int64_t batch_idx, mm_value *batch) {
    mm_pool *pool;
    int rc = mm_pool_open(&pool);
    if (rc)
        return rc;
    hook_args a = {.batch_idx = batch_idx, .data_batch = batch};
    rc = mm_runner_call_hook(r, MM_HOOK_BEFORE_TRAIN_ITER, &a);
    mm_value *log_vars = NULL;
    if (!rc && (rc = mm_runner_train_step(r, batch, &log_vars)))
        rc = mm_error_context(rc, NULL, "train iteration %lld (epoch %lld): model",
                              (long long)r->iter + 1, (long long)r->epoch + 1);
    if (!rc) {
        a.outputs = log_vars;
        rc = mm_runner_call_hook(r, MM_HOOK_AFTER_TRAIN_ITER, &a);
    }
    mm_value_release(log_vars);
    mm_pool_close(pool);
    if (!rc)
        r->iter++;
    return rc;
}

static bool want_val(mm_runner *r, mm_loop *l, int64_t progress_) {
    return r->val_loop && progress_ >= l->val_begin &&
           (progress_ % l->val_interval == 0 ||
            progress_ ==
                (l->kind == LOOP_EPOCH_TRAIN ? l->max_epochs : l->max_iters));
}

static int run_epoch(mm_runner *r) {
    int rc = mm_runner_call_hook(r, MM_HOOK_BEFORE_TRAIN_EPOCH, NULL);
    if (rc)
        return rc;
    mm_module_train(r->model, true);
    if ((rc = mm_dataloader_begin(r->train_dl, r->epoch)))
        return rc;
    int64_t idx = 0;
    /* Resuming mid-epoch: the batches already trained are drawn again (each
     * batch's randomness depends only on seed, epoch and index) and
     * skipped. */
    for (; idx < r->resume_skip; idx++) {
        mm_value *batch = NULL;
        if ((rc = mm_dataloader_next(r->train_dl, &batch)))
            break;
        if (!batch)
            break;
        mm_value_release(batch);
    }
    r->resume_skip = 0;
    while (!rc) {
        mm_value *batch = NULL;
        if ((rc = mm_dataloader_next(r->train_dl, &batch)) || !batch)
            break;
        rc = train_iter(r, idx++, batch);
        mm_value_release(batch);
        if (!rc && atomic_load(&r->interrupt)) {
            mm_dataloader_end(r->train_dl);
            return mm_runner_save_interrupted(r);
        }
    }
    if (rc) {
        mm_dataloader_end(r->train_dl);
        return rc;
    }
    rc = mm_runner_call_hook(r, MM_HOOK_AFTER_TRAIN_EPOCH, NULL);
    if (!rc)
        r->epoch++;
    return rc;
}

static int run_epoch_loop(mm_runner *r, mm_loop *l) {
    int rc = mm_runner_call_hook(r, MM_HOOK_BEFORE_TRAIN, NULL);
    while (!rc && r->epoch < l->max_epochs && !r->stop_training) {
        rc = run_epoch(r);
        if (rc || r->interrupted)
            return rc;
        decide_val_interval(l, r->epoch);
        if (want_val(r, l, r->epoch)) {
            mm_value *m = NULL;
            rc = mm_loop_run_val(r, r->val_loop, &m);
            mm_value_release(m);
        }
        if (!rc && atomic_load(&r->interrupt))
            return mm_runner_save_interrupted(r);
    }
    if (!rc)
        rc = mm_runner_call_hook(r, MM_HOOK_AFTER_TRAIN, NULL);
    return rc;
}

static int run_iter_loop(mm_runner *r, mm_loop *l) {
    int rc = mm_runner_call_hook(r, MM_HOOK_BEFORE_TRAIN, NULL);
    if (!rc)
        rc = mm_runner_call_hook(r, MM_HOOK_BEFORE_TRAIN_EPOCH, NULL);
    if (rc)
        return rc;
    /* _InfiniteDataloaderIterator: restart the dataloader (next epoch of the
     * sampler) when it runs out. */
    int64_t dl_epoch = 0, left = (int64_t)mm_dataloader_len(r->train_dl);
    if (left <= 0)
        return mm_error_set(MM_EINVAL, "train_dataloader: no batches");
    /* Resuming: an epoch-based sampler's finished epochs are skipped whole
     * (each batch depends only on seed, epoch and index); an infinite one
     * is a single stream, advanced by every iteration done. */
    mm_sampler *sampler = mm_dataloader_sampler(r->train_dl);
    bool infinite = sampler && mm_sampler_is_infinite(sampler);
    int64_t skip = infinite ? r->iter : r->iter % left;
    if (r->iter > 0) {
        MM_WARN("Advance dataloader %lld steps to skip data that has already "
                "been trained",
                (long long)r->iter);
        if (!infinite)
            dl_epoch = r->iter / left;
    }
    if ((rc = mm_dataloader_begin(r->train_dl, dl_epoch)))
        return rc;
    for (int64_t i = 0; i < skip; i++) {
        mm_value *b = NULL;
        if ((rc = mm_dataloader_next(r->train_dl, &b)))
            return rc;
        mm_value_release(b);
    }
    while (r->iter < l->max_iters && !r->stop_training) {
        mm_module_train(r->model, true);
        mm_value *batch = NULL;
        if ((rc = mm_dataloader_next(r->train_dl, &batch)))
            break;
        if (!batch) {
            dl_epoch++; /* mm_dataloader_begin sets the sampler's epoch */
            if ((rc = mm_dataloader_begin(r->train_dl, dl_epoch)) ||
                (rc = mm_dataloader_next(r->train_dl, &batch)))
                break;
            if (!batch) {
                rc = mm_error_set(MM_EINVAL, "train_dataloader: no batches");
                break;
            }
        }
        rc = train_iter(r, r->iter, batch);
        mm_value_release(batch);
        if (rc)
            break;
        if (atomic_load(&r->interrupt)) {
            mm_dataloader_end(r->train_dl);
            return mm_runner_save_interrupted(r);
        }
        decide_val_interval(l, r->iter);
        if (want_val(r, l, r->iter)) {
            mm_value *m = NULL;
            rc = mm_loop_run_val(r, r->val_loop, &m);
            mm_value_release(m);
            if (rc)
                break;
        }
    }
    mm_dataloader_end(r->train_dl);
    if (!rc)
        rc = mm_runner_call_hook(r, MM_HOOK_AFTER_TRAIN_EPOCH, NULL);
    if (!rc)
        rc = mm_runner_call_hook(r, MM_HOOK_AFTER_TRAIN, NULL);
    return rc;
}

int mm_loop_run_train(mm_runner *r, mm_loop *l) {
    return l->kind == LOOP_EPOCH_TRAIN ? run_epoch_loop(r, l)
                                       : run_iter_loop(r, l);
}

/* ---- val and test -------------------------------------------------------- */

static int eval_loop(mm_runner *r, mm_loop *l, bool val, mm_value **metrics) {
    mm_dataloader *dl = val ? r->val_dl : r->test_dl;
    mm_evaluator *ev = val ? r->val_ev : r->test_ev;
    mm_hook_point before = val ? MM_HOOK_BEFORE_VAL : MM_HOOK_BEFORE_TEST;
    int rc = mm_runner_call_hook(r, before, NULL);
    if (!rc)
        rc = mm_runner_call_hook(
            r, val ? MM_HOOK_BEFORE_VAL_EPOCH : MM_HOOK_BEFORE_TEST_EPOCH,
            NULL);
    if (rc)
        return rc;
    mm_module_eval(r->model);
    if ((rc = mm_dataloader_begin(dl, 0)))
        return rc;
    int64_t total = (int64_t)mm_dataloader_len(dl), idx = 0;
    double t0 = mm_runner_now();
    while (!rc) {
        mm_value *batch = NULL;
        if ((rc = mm_dataloader_next(dl, &batch)) || !batch)
            break;
        mm_pool *pool;
        if ((rc = mm_pool_open(&pool))) {
            mm_value_release(batch);
            break;
        }
        hook_args a = {.batch_idx = idx, .data_batch = batch};
        rc = mm_runner_call_hook(
            r, val ? MM_HOOK_BEFORE_VAL_ITER : MM_HOOK_BEFORE_TEST_ITER, &a);
        mm_value *out = NULL;
        if (!rc) {
            mm_no_grad_push();
            /* fp16: autocast, which is bf16 on the CPU. */
            rc = l->fp16 ? mm_autocast_push(MM_BF16) : MM_OK;
            if (!rc) {
                rc = mm_runner_eval_step(r, batch, &out);
                if (l->fp16) /* only a push that succeeded is popped */
                    mm_autocast_pop();
            }
            mm_no_grad_pop();
        }
        if (!rc)
            rc = mm_evaluator_process(ev, batch, out);
        if (!rc) {
            a.outputs = out;
            rc = mm_runner_call_hook(
                r, val ? MM_HOOK_AFTER_VAL_ITER : MM_HOOK_AFTER_TEST_ITER, &a);
        }
        mm_value_release(out);
        mm_pool_close(pool);
        mm_value_release(batch);
        idx++;
        if (!rc)
            progress(r, idx, total, t0);
    }
    if (rc) {
        mm_dataloader_end(dl);
        return rc;
    }
    mm_value *m = NULL;
    rc = mm_evaluator_evaluate(ev, mm_dataset_len(mm_dataloader_dataset(dl)),
                               &m);
    hook_args a = {.metrics = m};
    if (!rc)
        rc = mm_runner_call_hook(
            r, val ? MM_HOOK_AFTER_VAL_EPOCH : MM_HOOK_AFTER_TEST_EPOCH, &a);
    if (!rc)
        rc = mm_runner_call_hook(
            r, val ? MM_HOOK_AFTER_VAL : MM_HOOK_AFTER_TEST, NULL);
    if (rc) {
        mm_value_release(m);
        return rc;
    }
    *metrics = m;
    return MM_OK;
}

int mm_loop_run_val(mm_runner *r, mm_loop *l, mm_value **metrics) {
    return eval_loop(r, l, true, metrics);
}

int mm_loop_run_test(mm_runner *r, mm_loop *l, mm_value **metrics) {
    return eval_loop(r, l, false, metrics);
}
