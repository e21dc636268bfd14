/* Test plugin `rtest` for the runner suite: a separable toy dataset
 * (rtest.Blobs), a linear classifier with loss and predict modes
 * (rtest.ToyClassifier, optionally drawing noise from the default
 * generator so resuming must restore it), an accuracy metric
 * (rtest.ToyAccuracy) and a hook that records every hook point
 * (rtest.RecordHook). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/data.h>
#include <mm/eval.h>
#include <mm/loss.h>
#include <mm/model.h>
#include <mm/nn.h>
#include <mm/ops.h>
#include <mm/plugin.h>
#include <mm/reduction.h>
#include <mm/registry.h>
#include <mm/rng.h>
#include <mm/runner.h>
#include <mm/tensor.h>

#include "rtest.h"

/* ---- Blobs: sample i is {inputs: f32[dim], data_samples: {gt_label}} ----- */

typedef struct blobs {
    int64_t n, dim, classes;
} blobs;

static int blobs_load(mm_dataset *ds) {
    const mm_value *node = mm_dataset_node(ds);
    blobs *b = mm_dataset_priv(ds);
    b->n = mm_value_get_int(mm_value_dict_get(node, "n"));
    const mm_value *dim = mm_value_dict_get(node, "dim");
    b->dim = dim ? mm_value_get_int(dim) : 4;
    b->classes = 2;
    if (b->n <= 0 || b->dim <= 0)
        return mm_error_set(MM_EINVAL, "n and dim must be positive");
    return MM_OK;
}

static size_t blobs_len(const mm_dataset *ds) {
    return (size_t)((const blobs *)mm_dataset_priv(ds))->n;
}

static int blobs_get_info(const mm_dataset *ds, size_t i, mm_value **out) {
    const blobs *b = mm_dataset_priv(ds);
    float x[64];
    int64_t label = (int64_t)(i % 2);
    for (int64_t j = 0; j < b->dim && j < 64; j++) {
        /* A fixed scatter around +-1 on the first axis. */
        uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(j * 40503u);
        x[j] = (float)((h % 1000) / 500.0 - 1.0);
    }
    x[0] += label ? 1.5f : -1.5f;
    /* A pool of our own: the value keeps the only reference. (HW, as the
     * data preprocessor wants images.) */
    mm_pool *pool;
    int rc = mm_pool_open(&pool);
    if (rc)
        return rc;
    mm_tensor *t = NULL;
    if ((rc = mm_from_data(x, MM_SHAPE(1, b->dim), MM_F32, &t))) {
        mm_pool_close(pool);
        return rc;
    }
    mm_value *d = mm_value_new_dict(), *s = mm_value_new_dict();
    mm_value *tv = mm_tensor_to_value(t);
    mm_pool_close(pool);
    if (!d || !s || !tv ||
        mm_value_dict_set_take(s, "gt_label", mm_value_new_int(label)) ||
        mm_value_dict_set_take(s, "sample_idx", mm_value_new_int((int64_t)i)) ||
        mm_value_dict_set(d, "inputs", tv) ||
        mm_value_dict_set(d, "data_samples", s)) {
        mm_value_release(d);
        mm_value_release(s);
        mm_value_release(tv);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    mm_value_release(s);
    mm_value_release(tv);
    *out = d;
    return MM_OK;
}

static const mm_dataset_class blobs_class = {
    .name = "Blobs",
    .metainfo = "{classes: [neg, pos]}",
    .load = blobs_load,
    .len = blobs_len,
    .get_info = blobs_get_info,
};

static int blobs_build(mm_build_ctx *ctx, void **out) {
    return mm_dataset_from_build(ctx, &blobs_class, sizeof(blobs),
                                 (mm_dataset **)out);
}

static const mm_param blobs_params[] = {
    MM_DATASET_BASE_PARAMS,
    {.name = "n", .type = MM_PARAM_INT, .def = "64", .doc = "samples"},
    {.name = "dim", .type = MM_PARAM_INT, .def = "4", .doc = "features"},
};

/* ---- ToyClassifier: Linear(dim, 2), cross-entropy ------------------------ */

typedef struct toy_net {
    mm_module base;
    double noise;
} toy_net;

static int labels_of(const mm_value *samples, mm_tensor **out) {
    size_t n = mm_value_len(samples);
    int64_t buf[512];
    if (n > 512)
        return mm_error_set(MM_EINVAL, "batch too large");
    for (size_t i = 0; i < n; i++) {
        const mm_value *l =
            mm_value_dict_get(mm_value_list_get(samples, i), "gt_label");
        if (!l || !mm_value_is_int(l))
            return mm_error_set(MM_EINVAL, "data_samples[%zu]: no gt_label", i);
        buf[i] = mm_value_get_int(l);
    }
    return mm_from_data(buf, MM_SHAPE((int64_t)n), MM_I64, out);
}

static int toy_logits(mm_module *m, mm_tensor *x, bool train, mm_tensor **out) {
    toy_net *t = (toy_net *)m;
    /* (B, 1, 1, dim) images -> (B, dim) */
    int rc0 = mm_reshape(x, MM_SHAPE(x->shape[0], -1), &x);
    if (rc0)
        return rc0;
    if (train && t->noise > 0) {
        mm_tensor *z = NULL, *zs = NULL, *xn = NULL;
        int rc = mm_randn(x->ndim, x->shape, MM_F32, NULL, &z);
        if (!rc)
            rc = mm_mul_scalar(z, t->noise, &zs);
        if (!rc)
            rc = mm_add(x, zs, &xn);
        if (rc)
            return rc;
        x = xn;
    }
    return mm_linear_forward(mm_module_get_child(m, "fc"), x, out);
}

static int toy_loss(mm_module *m, int n, mm_tensor *const *inputs,
                    mm_value *samples, mm_value **losses) {
    (void)n;
    mm_tensor *logits = NULL, *target = NULL, *loss = NULL;
    int rc = toy_logits(m, inputs[0], true, &logits);
    if (!rc)
        rc = labels_of(samples, &target);
    if (!rc)
        rc = mm_cross_entropy(logits, target, NULL, -100, MM_LOSS_MEAN, 0,
                              &loss);
    if (rc)
        return rc;
    mm_value *d = mm_value_new_dict();
    if (!d || mm_value_dict_set_take(d, "loss", mm_tensor_to_value(loss))) {
        mm_value_release(d);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *losses = d;
    return MM_OK;
}

static int toy_predict(mm_module *m, int n, mm_tensor *const *inputs,
                       mm_value *samples, mm_value **out) {
    (void)n;
    mm_tensor *logits = NULL, *probs = NULL;
    int rc = toy_logits(m, inputs[0], false, &logits);
    if (!rc)
        rc = mm_softmax(logits, 1, &probs);
    if (rc)
        return rc;
    mm_value *list = mm_value_new_list();
    if (!list)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (int64_t i = 0; !rc && i < probs->shape[0]; i++) {
        mm_tensor *row = NULL, *c = NULL;
        rc = mm_select(probs, 0, i, &row);
        if (!rc)
            rc = mm_clone(row, &c);
        if (rc)
            break;
        int64_t best =
            mm_tensor_get_flat(c, 1) > mm_tensor_get_flat(c, 0) ? 1 : 0;
        mm_value *s = samples
                          ? mm_value_copy(mm_value_list_get(samples, (size_t)i))
                          : mm_value_new_dict();
        if (!s ||
            mm_value_dict_set_take(s, "pred_score", mm_tensor_to_value(c)) ||
            mm_value_dict_set_take(s, "pred_label", mm_value_new_int(best)) ||
            mm_value_list_append_take(list, s))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (rc) {
        mm_value_release(list);
        return rc;
    }
    *out = list;
    return MM_OK;
}

static int toy_forward(mm_module *m, int n, mm_tensor *const *inputs,
                       mm_tensor **out) {
    (void)n;
    return toy_logits(m, inputs[0], false, out);
}

static const struct mm_model_ops toy_ops = {.loss = toy_loss,
                                            .predict = toy_predict};
static const mm_module_class toy_class = {
    .name = "ToyClassifier", .forward = toy_forward, .model = &toy_ops};

static int toy_build(mm_build_ctx *ctx, void **out) {
    int64_t in;
    double noise;
    int rc = mm_build_int(ctx, "in_features", &in);
    if (!rc)
        rc = mm_build_float(ctx, "noise", &noise);
    if (rc)
        return rc;
    mm_module *m, *fc;
    if ((rc = mm_module_new(&toy_class, sizeof(toy_net), &m)))
        return rc;
    ((toy_net *)m)->noise = noise;
    if (!(rc = mm_linear_new(in, 2, true, &fc)))
        rc = mm_module_add_child(m, "fc", fc);
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static void module_destroy(void *m) { mm_module_free(m); }

static const mm_param toy_params[] = {
    {.name = "in_features", .type = MM_PARAM_INT, .def = "4", .doc = "inputs"},
    {.name = "noise",
     .type = MM_PARAM_FLOAT,
     .def = "0.0",
     .doc = "std of gaussian noise added to the inputs when training"},
    {.name = "data_preprocessor",
     .type = MM_PARAM_DICT | MM_PARAM_NULL,
     .def = "null",
     .doc = "accepted (inputs are stacked as they are)"},
};

/* ---- ToyAccuracy --------------------------------------------------------- */

static int acc_process(mm_metric *m, const mm_value *batch,
                       const mm_value *samples) {
    (void)batch;
    for (size_t i = 0; i < mm_value_len(samples); i++) {
        const mm_value *s = mm_value_list_get(samples, i);
        const mm_value *p = mm_value_dict_get(s, "pred_label");
        const mm_value *g = mm_value_dict_get(s, "gt_label");
        if (!p || !g)
            return mm_error_set(MM_EINVAL,
                                "data_samples[%zu]: no pred_label "
                                "or gt_label",
                                i);
        int rc = mm_value_list_append_take(
            mm_metric_results(m),
            mm_value_new_int(mm_value_get_int(p) == mm_value_get_int(g)));
        if (rc)
            return rc;
    }
    return MM_OK;
}

static int acc_compute(mm_metric *m, const mm_value *results, mm_value **out) {
    (void)m;
    int64_t ok = 0, n = (int64_t)mm_value_len(results);
    for (int64_t i = 0; i < n; i++)
        ok += mm_value_get_int(mm_value_list_get(results, (size_t)i));
    mm_value *d = mm_value_new_dict();
    if (!d || mm_value_dict_set_take(
                  d, "accuracy",
                  mm_value_new_float(n ? 100.0 * (double)ok / (double)n : 0))) {
        mm_value_release(d);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    *out = d;
    return MM_OK;
}

static const mm_metric_class acc_class = {.name = "ToyAccuracy",
                                          .default_prefix = "toy",
                                          .process = acc_process,
                                          .compute = acc_compute};

static int acc_build(mm_build_ctx *ctx, void **out) {
    return mm_metric_from_build(ctx, &acc_class, 0, (mm_metric **)out);
}

static const mm_param acc_params[] = {
    MM_METRIC_BASE_PARAMS("key prefix; null means 'toy'")};

/* ---- RecordHook ---------------------------------------------------------- */

static int record(mm_hook *h, const char *what) {
    rtest_record_hook *r = (rtest_record_hook *)h;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        char **e = realloc(r->events, cap * sizeof *e);
        if (!e)
            return mm_error_set(MM_ENOMEM, "out of memory");
        r->events = e;
        r->cap = cap;
    }
    if (!(r->events[r->n] = strdup(what)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    r->n++;
    return MM_OK;
}

#define REC_PLAIN(f)                                                           \
    static int rec_##f(mm_hook *h, mm_runner *r) {                             \
        (void)r;                                                               \
        return record(h, #f);                                                  \
    }
#define REC_ITER(f)                                                            \
    static int rec_##f(mm_hook *h, mm_runner *r, int64_t i,                    \
                       const mm_value *b) {                                    \
        (void)r, (void)i, (void)b;                                             \
        return record(h, #f);                                                  \
    }
#define REC_AFTER_ITER(f)                                                      \
    static int rec_##f(mm_hook *h, mm_runner *r, int64_t i, const mm_value *b, \
                       const mm_value *o) {                                    \
        (void)r, (void)i, (void)b, (void)o;                                    \
        return record(h, #f);                                                  \
    }
#define REC_METRICS(f)                                                         \
    static int rec_##f(mm_hook *h, mm_runner *r, const mm_value *m) {          \
        (void)r, (void)m;                                                      \
        return record(h, #f);                                                  \
    }
#define REC_CKPT(f)                                                            \
    static int rec_##f(mm_hook *h, mm_runner *r, mm_checkpoint *c) {           \
        (void)r, (void)c;                                                      \
        return record(h, #f);                                                  \
    }
REC_PLAIN(before_run)
REC_PLAIN(after_run)
REC_PLAIN(before_train)
REC_PLAIN(after_train)
REC_PLAIN(before_train_epoch)
REC_PLAIN(after_train_epoch)
REC_ITER(before_train_iter)
static int rec_after_train_iter(mm_hook *h, mm_runner *r, int64_t i,
                                const mm_value *b, const mm_value *o) {
    (void)i, (void)b, (void)o;
    /* What Ctrl-C does, at a chosen iteration. */
    if (mm_runner_iter(r) + 1 == ((rtest_record_hook *)h)->interrupt_at)
        mm_runner_interrupt(r);
    /* Ctrl-C itself, through the CLI's handler (the e2e test). */
    if (mm_runner_iter(r) + 1 == ((rtest_record_hook *)h)->signal_at)
        for (int64_t k = 0; k < ((rtest_record_hook *)h)->signals; k++)
            raise(SIGINT);
    const char *watch = ((rtest_record_hook *)h)->watch;
    if (watch && *watch) {
        mm_tensor *t = mm_module_find_tensor(mm_runner_model(r), watch);
        if (!t)
            return mm_error_set(MM_EINVAL, "watch: no tensor '%s'", watch);
        char buf[64];
        snprintf(buf, sizeof buf, "w:%a", mm_tensor_get_flat(t, 0));
        int rc = record(h, buf);
        if (rc)
            return rc;
    }
    return record(h, "after_train_iter");
}
REC_PLAIN(before_val)
REC_PLAIN(after_val)
REC_PLAIN(before_val_epoch)
REC_METRICS(after_val_epoch)
REC_ITER(before_val_iter)
REC_AFTER_ITER(after_val_iter)
REC_PLAIN(before_test)
REC_PLAIN(after_test)
REC_PLAIN(before_test_epoch)
REC_METRICS(after_test_epoch)
REC_ITER(before_test_iter)
REC_AFTER_ITER(after_test_iter)
REC_CKPT(after_load_checkpoint)
REC_CKPT(before_save_checkpoint)

static void rec_destroy(mm_hook *h) {
    rtest_record_hook *r = (rtest_record_hook *)h;
    for (size_t i = 0; i < r->n; i++)
        free(r->events[i]);
    free(r->events);
    free(r->tag);
    free(r->watch);
    free(r);
}

static const mm_hook_class record_class = {
    .name = "RecordHook",
    .priority = MM_PRIORITY_NORMAL,
    .before_run = rec_before_run,
    .after_run = rec_after_run,
    .before_train = rec_before_train,
    .after_train = rec_after_train,
    .before_train_epoch = rec_before_train_epoch,
    .after_train_epoch = rec_after_train_epoch,
    .before_train_iter = rec_before_train_iter,
    .after_train_iter = rec_after_train_iter,
    .before_val = rec_before_val,
    .after_val = rec_after_val,
    .before_val_epoch = rec_before_val_epoch,
    .after_val_epoch = rec_after_val_epoch,
    .before_val_iter = rec_before_val_iter,
    .after_val_iter = rec_after_val_iter,
    .before_test = rec_before_test,
    .after_test = rec_after_test,
    .before_test_epoch = rec_before_test_epoch,
    .after_test_epoch = rec_after_test_epoch,
    .before_test_iter = rec_before_test_iter,
    .after_test_iter = rec_after_test_iter,
    .after_load_checkpoint = rec_after_load_checkpoint,
    .before_save_checkpoint = rec_before_save_checkpoint,
    .destroy = rec_destroy,
};

static int record_build(mm_build_ctx *ctx, void **out) {
    const char *tag = NULL;
    int64_t at = -1, sig_at = -1;
    const char *watch = NULL;
    int rc = mm_build_string(ctx, "tag", &tag);
    if (!rc)
        rc = mm_build_string(ctx, "watch", &watch);
    if (!rc)
        rc = mm_build_int(ctx, "interrupt_at", &at);
    int64_t signals = 1;
    if (!rc)
        rc = mm_build_int(ctx, "signal_at", &sig_at);
    if (!rc)
        rc = mm_build_int(ctx, "signals", &signals);
    if (rc)
        return rc;
    rtest_record_hook *h = calloc(1, sizeof *h);
    if (!h || !(h->tag = strdup(tag)) || !(h->watch = strdup(watch))) {
        if (h)
            free(h->tag);
        free(h);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    h->interrupt_at = at;
    h->signal_at = sig_at;
    h->signals = signals;
    h->base.cls = &record_class;
    *out = h;
    return MM_OK;
}

static const mm_param record_params[] = {
    {.name = "tag",
     .type = MM_PARAM_STRING,
     .def = "''",
     .doc = "a name to tell hooks apart"},
    {.name = "interrupt_at",
     .type = MM_PARAM_INT,
     .def = "-1",
     .doc = "interrupt the run after this many iterations"},
    {.name = "signal_at",
     .type = MM_PARAM_INT,
     .def = "-1",
     .doc = "raise SIGINT after this many iterations"},
    {.name = "signals",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "how many SIGINTs to raise then"},
    {.name = "watch",
     .type = MM_PARAM_STRING,
     .def = "''",
     .doc = "record element 0 of this model tensor after each iteration"},
    MM_HOOK_BASE_PARAMS,
};

/* ---- registration -------------------------------------------------------- */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const mm_component components[] = {
    {.kind = MM_DATASETS,
     .name = "Blobs",
     .doc = "two separable blobs",
     .params = blobs_params,
     .n_params = N(blobs_params),
     .build = blobs_build,
     .destroy = mm_dataset_destroy},
    {.kind = MM_MODELS,
     .name = "ToyClassifier",
     .doc = "a linear two-class classifier with loss and predict modes",
     .params = toy_params,
     .n_params = N(toy_params),
     .build = toy_build,
     .destroy = module_destroy},
    {.kind = MM_METRICS,
     .name = "ToyAccuracy",
     .doc = "accuracy in percent",
     .params = acc_params,
     .n_params = N(acc_params),
     .build = acc_build,
     .destroy = mm_metric_destroy},
    {.kind = MM_HOOKS,
     .name = "RecordHook",
     .doc = "records every hook point",
     .params = record_params,
     .n_params = N(record_params),
     .build = record_build,
     .destroy = mm_hook_destroy},
};

static int rtest_init(void) {
    for (size_t i = 0; i < N(components); i++) {
        int rc = mm_register(&components[i]);
        if (rc)
            return rc;
    }
    return MM_OK;
}

MM_PLUGIN_DEFINE(rtest, "0.1.0", "Apache-2.0", "runner suite test components",
                 NULL, rtest_init)
