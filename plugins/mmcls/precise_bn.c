/* mmpretrain's PreciseBNHook (mmpretrain/engine/hooks/precise_bn_hook.py,
 * after pycls): after training (every `interval` epochs of an
 * EpochBasedTrainLoop, every `interval` iterations of an
 * IterBasedTrainLoop) the batch norm statistics are recomputed with the
 * weights fixed: the model runs in train mode, without grad, over
 * num_samples // (batch_size * world_size) batches of the train data
 * (at most one pass), every training BatchNorm with momentum 1.0 so its
 * running_mean / running_var hold the last batch's statistics, and the
 * hook averages those per-batch statistics (sum of stat / num_iter, as
 * mmpretrain) into the running statistics; the momenta are restored.
 *
 * Where the batches come from (docs/mmcls.md): an epoch loop's hook runs
 * after the epoch's last batch, so it restarts the train dataloader on the
 * epoch just trained (mmpretrain's fresh iterator over the same sampler
 * epoch); an iteration loop's hook runs while the loop is inside its
 * dataloader, so it reads a dataloader of its own, built from the same
 * `train_dataloader` config and seed, on the pass the loop is in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mm/autograd.h>
#include <mm/log.h>
#include <mm/model.h>
#include <mm/nn.h>
#include <mm/ops.h>
#include <mm/runner.h>

#include "mmcls.h"

typedef struct precise_bn_hook {
    mm_hook base;
    int64_t num_samples, interval;
    mm_srcloc loc;         /* of num_samples, for the run-time error */
    char *path;            /* "custom_hooks.0" */
    mm_dataloader *own_dl; /* an IterBasedTrainLoop's copy, built on use */
} precise_bn_hook;

/* One training batch norm whose statistics are recomputed. */
typedef struct bn_slot {
    mm_nn_norm *bn;
    mm_tensor *mean, *var; /* the averages (the outer pool's) */
    double momentum;
    bool momentum_none;
} bn_slot;

typedef struct bn_list {
    bn_slot *items;
    size_t n, cap;
    size_t n_other; /* InstanceNorm / GroupNorm in training */
} bn_list;

/* mmpretrain's selection: modules that are training and a _BatchNorm.
 * One without running statistics (track_running_stats false) has none to
 * recompute (mmpretrain fails on it). */
static int collect(const char *name, mm_module *m, void *user) {
    (void)name;
    bn_list *l = user;
    if (!m->training || !mm_module_is_norm(m))
        return MM_OK;
    if (!mm_module_is_batch_norm(m)) {
        if (strncmp(m->cls->name, "InstanceNorm", 12) == 0 ||
            strcmp(m->cls->name, "GroupNorm") == 0)
            l->n_other++;
        return MM_OK;
    }
    mm_nn_norm *bn = (mm_nn_norm *)m;
    if (!bn->running_mean || !bn->running_var)
        return MM_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        bn_slot *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return mm_error_set(MM_ENOMEM, "out of memory");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = (bn_slot){.bn = bn};
    return MM_OK;
}

static void restore_momenta(bn_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        l->items[i].bn->momentum = l->items[i].momentum;
        l->items[i].bn->momentum_none = l->items[i].momentum_none;
    }
}

/* The dataloader and the epoch whose first batches are read. */
static int pick_loader(precise_bn_hook *p, mm_runner *r, mm_dataloader **dl,
                       int64_t *epoch) {
    if (mm_runner_train_by_epoch(r)) {
        *dl = mm_runner_train_dataloader(r);
        *epoch = mm_runner_epoch(r);
    } else {
        if (!p->own_dl) {
            const mm_value *node =
                mm_value_dict_get(mm_runner_cfg(r), "train_dataloader");
            MM_TRY(mm_dataloader_build(node, "train_dataloader",
                                       mm_runner_default_scope(r),
                                       mm_runner_seed(r), &p->own_dl));
        }
        *dl = p->own_dl;
        size_t len = mm_dataloader_len(*dl);
        /* the pass of the loop's dataloader the current iteration is in */
        *epoch = len ? mm_runner_iter(r) / (int64_t)len : 0;
    }
    if (!*dl)
        return mm_error_set(MM_EINVAL,
                            "%s: needs the train dataloader, "
                            "which is not built",
                            p->path);
    return MM_OK;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* acc += stat / n, torch's `running_means[i] += bn.running_mean / n`. */
static int accumulate(mm_tensor *acc, mm_tensor *stat, int64_t n) {
    mm_tensor *part, *sum;
    MM_TRY(mm_div_scalar(stat, (double)n, &part));
    MM_TRY(mm_add(acc, part, &sum));
    return mm_tensor_copy_(acc, sum);
}

/* One batch through the model as mmpretrain's update_bn_stats:
 * data_preprocessor(data, False) then model(**data), mode 'tensor'. */
static int run_batch(mm_module *model, const mm_value *batch, bn_list *l,
                     int64_t num_iter) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *inputs = NULL, *out = NULL;
    mm_value *samples = NULL;
    int rc = mm_model_preprocess(model, batch, false, &inputs, &samples);
    if (!rc)
        rc = mm_module_forward(model, 1, &inputs, &out);
    for (size_t i = 0; !rc && i < l->n; i++) {
        rc = accumulate(l->items[i].mean, l->items[i].bn->running_mean,
                        num_iter);
        if (!rc)
            rc = accumulate(l->items[i].var, l->items[i].bn->running_var,
                            num_iter);
    }
    mm_value_release(samples);
    mm_pool_close(pool);
    return rc;
}

/* mmpretrain's update_bn_stats (world size 1). */
static int update_bn_stats(precise_bn_hook *p, mm_runner *r) {
    mm_module *model = mm_runner_model(r);
    mm_dataloader *dl = NULL;
    int64_t epoch = 0;
    MM_TRY(pick_loader(p, r, &dl, &epoch));
    const int64_t world_size = 1;
    int64_t bs = mm_dataloader_batch_size(dl);
    int64_t num_iter = p->num_samples / (bs * world_size);
    int64_t len = (int64_t)mm_dataloader_len(dl);
    if (num_iter > len)
        num_iter = len;

    bn_list l = {0};
    int rc = mm_module_named_modules(model, collect, &l);
    if (!rc && l.n == 0) {
        MM_WARN("No BN found in model");
        free(l.items);
        return MM_OK;
    }
    /* mmpretrain would average zero batches into all-zero statistics. */
    if (!rc && num_iter == 0)
        rc = mm_error_set_at(
            MM_EINVAL, &p->loc,
            "%s.num_samples (%lld) is less than one batch of "
            "train_dataloader (batch_size %lld x world_size %lld), so there "
            "is no batch to compute the BN statistics from; set num_samples "
            "to %lld or more",
            p->path, (long long)p->num_samples, (long long)bs,
            (long long)world_size, (long long)(bs * world_size));
    if (rc) {
        free(l.items);
        return rc;
    }
    MM_INFO("%zu BN found, run %lld iters...", l.n, (long long)num_iter);
    if (l.n_other)
        MM_INFO("IN/GN stats will not be updated in PreciseHook.");

    mm_pool *pool;
    if ((rc = mm_pool_open(&pool))) {
        free(l.items);
        return rc;
    }
    mm_no_grad_push();
    for (size_t i = 0; i < l.n; i++) {
        l.items[i].momentum = l.items[i].bn->momentum;
        l.items[i].momentum_none = l.items[i].bn->momentum_none;
    }
    for (size_t i = 0; !rc && i < l.n; i++) {
        bn_slot *s = &l.items[i];
        rc = mm_zeros_like(s->bn->running_mean, &s->mean);
        if (!rc)
            rc = mm_zeros_like(s->bn->running_var, &s->var);
    }
    /* momentum 1.0: each batch's statistics replace the running ones */
    for (size_t i = 0; !rc && i < l.n; i++) {
        l.items[i].bn->momentum = 1.0;
        l.items[i].bn->momentum_none = false;
    }
    bool bar = isatty(STDOUT_FILENO);
    double t0 = bar ? now() : 0;
    if (!rc)
        rc = mm_dataloader_begin(dl, epoch);
    for (int64_t it = 0; !rc && it < num_iter; it++) {
        mm_value *batch = NULL;
        rc = mm_dataloader_next(dl, &batch);
        if (!rc && !batch)
            rc = mm_error_set(MM_EINVAL,
                              "%s: train_dataloader ended after %lld of %lld "
                              "batches",
                              p->path, (long long)it, (long long)num_iter);
        if (!rc)
            rc = run_batch(model, batch, &l, num_iter);
        mm_value_release(batch);
        if (!rc && bar)
            mm_progress_print(stdout, it + 1, num_iter, now() - t0);
    }
    mm_dataloader_end(dl);
    for (size_t i = 0; !rc && i < l.n; i++) {
        rc = mm_tensor_copy_(l.items[i].bn->running_mean, l.items[i].mean);
        if (!rc)
            rc = mm_tensor_copy_(l.items[i].bn->running_var, l.items[i].var);
    }
    restore_momenta(&l);
    mm_no_grad_pop();
    mm_pool_close(pool);
    free(l.items);
    return rc;
}

static int perform(precise_bn_hook *p, mm_runner *r) {
    MM_INFO("Running Precise BN for %lld samples...",
            (long long)p->num_samples);
    MM_TRY(update_bn_stats(p, r));
    MM_INFO("Finish Precise BN, BN stats updated.");
    return MM_OK;
}

/* every_n_epochs / every_n_train_iters: (progress + 1) % interval == 0. */
static int pbn_after_train_epoch(mm_hook *h, mm_runner *r) {
    precise_bn_hook *p = (precise_bn_hook *)h;
    if (!mm_runner_train_by_epoch(r) ||
        (mm_runner_epoch(r) + 1) % p->interval != 0)
        return MM_OK;
    return perform(p, r);
}

static int pbn_after_train_iter(mm_hook *h, mm_runner *r, int64_t batch_idx,
                                const mm_value *batch, const mm_value *out) {
    (void)batch_idx, (void)batch, (void)out;
    precise_bn_hook *p = (precise_bn_hook *)h;
    if (!mm_runner_has_train_loop(r) || mm_runner_train_by_epoch(r) ||
        (mm_runner_iter(r) + 1) % p->interval != 0)
        return MM_OK;
    return perform(p, r);
}

static void pbn_destroy(mm_hook *h) {
    precise_bn_hook *p = (precise_bn_hook *)h;
    mm_dataloader_free(p->own_dl);
    free(p->path);
    free(p);
}

static const mm_hook_class precise_bn_class = {
    .name = "PreciseBNHook",
    .priority = MM_PRIORITY_NORMAL, /* mmengine's Hook default */
    .after_train_epoch = pbn_after_train_epoch,
    .after_train_iter = pbn_after_train_iter,
    .destroy = pbn_destroy,
};

static int pbn_build(mm_build_ctx *ctx, void **out) {
    precise_bn_hook *p = calloc(1, sizeof *p);
    if (!p)
        return mm_error_set(MM_ENOMEM, "out of memory");
    p->base.cls = &precise_bn_class;
    p->base.priority = precise_bn_class.priority;
    int rc = mm_build_int(ctx, "num_samples", &p->num_samples);
    if (!rc)
        rc = mm_build_int(ctx, "interval", &p->interval);
    const mm_value *node = mm_build_node(ctx);
    if (!rc && (p->interval <= 0 || p->num_samples <= 0))
        rc = mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                             "'interval' and 'num_samples' must be bigger "
                             "than 0 (got interval %lld, num_samples %lld)",
                             (long long)p->interval, (long long)p->num_samples);
    if (!rc && !(p->path = strdup(mm_build_path(ctx))))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (rc) {
        pbn_destroy(&p->base);
        return rc;
    }
    const mm_value *ns = mm_value_dict_get(node, "num_samples");
    const mm_srcloc *loc = mm_value_loc(ns ? ns : node);
    if (loc)
        p->loc = *loc;
    *out = p;
    return MM_OK;
}

static const mm_param precise_bn_params[] = {
    {.name = "num_samples",
     .type = MM_PARAM_INT,
     .def = "8192",
     .doc = "samples to recompute the BN statistics from: num_samples // "
            "batch_size batches (at most the whole train data)"},
    {.name = "interval",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "every n epochs (EpochBasedTrainLoop) or iterations "
            "(IterBasedTrainLoop)"},
    MM_HOOK_BASE_PARAMS,
};

static const mm_component precise_bn_component = {
    .kind = MM_HOOKS,
    .name = "PreciseBNHook",
    .doc = "recomputes the BatchNorm running statistics as the average of "
           "per-batch statistics over training data, with the weights fixed",
    .params = precise_bn_params,
    .n_params = sizeof precise_bn_params / sizeof precise_bn_params[0],
    .build = pbn_build,
    .destroy = mm_hook_destroy,
};

int mmcls_register_precise_bn(void) {
    return mm_register(&precise_bn_component);
}
