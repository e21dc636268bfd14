/* cls_bench: the mm side of tools/bench/cls/bench.py. Builds the model of
 * a config (random weights, as mmpretrain's init), and times
 *
 *   infer  eval-mode forward (mode 'tensor') under no-grad, f32 or bf16
 *          (bf16: autocast, conv/linear on AMX where the CPU has it);
 *   train  a training step: forward (mode 'loss', cross entropy),
 *          backward and an SGD step (lr 0.1, momentum 0.9, wd 1e-4).
 *
 *   cls_bench [--plugin-dir D] CONFIG MODE BATCH SIZE DTYPE ITERS
 *
 * Prints one JSON line: {"ms": [per iteration], "median_ms": ..,
 * "img_s": batch / median}. Threads: MM_NUM_THREADS. Two warm-up
 * iterations are not timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/mm.h"

#define MAX_ITERS 256
#define MAX_PARAMS 4096

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct params {
    int n;
    mm_tensor *t[MAX_PARAMS];
} params;

static int collect(const char *name, mm_tensor *t, void *user) {
    (void)name;
    params *p = user;
    if (p->n >= MAX_PARAMS)
        return mm_error_set(MM_ERANGE, "too many parameters");
    p->t[p->n++] = t;
    return MM_OK;
}

static int build_model(const char *config, mm_module **out) {
    mm_value *cfg;
    MM_TRY(mm_config_load(config, NULL, 0, &cfg));
    const mm_value *ds = mm_value_dict_get(cfg, "default_scope");
    int rc = mm_registry_build(
        MM_MODELS, mm_value_dict_get(cfg, "model"),
        mm_value_is_string(ds) ? mm_value_get_string(ds) : NULL, "model",
        NULL, (void **)out);
    mm_value_release(cfg);
    return rc;
}

static mm_value *samples_for(int64_t n) {
    mm_value *l = mm_value_new_list();
    for (int64_t i = 0; l && i < n; i++) {
        mm_value *d = mm_value_new_dict();
        if (!d || mm_value_dict_set_take(d, "gt_label",
                                         mm_value_new_int(i % 10)) ||
            mm_value_list_append_take(l, d)) {
            mm_value_release(d);
            mm_value_release(l);
            return NULL;
        }
    }
    return l;
}

/* One timed iteration in its own pool. */
static int iterate(mm_module *m, bool train, bool bf16, mm_tensor *x,
                   mm_value *samples, mm_optimizer *opt) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    int rc = MM_OK;
    if (train) {
        mm_value *losses = NULL;
        if (bf16)
            rc = mm_autocast_push(MM_BF16);
        if (!rc)
            rc = mm_model_loss(m, 1, &x, samples, &losses);
        if (bf16)
            mm_autocast_pop();
        mm_tensor *loss = rc ? NULL : mm_tensor_from_value(
                                          mm_value_dict_get(losses, "loss"));
        mm_optimizer_zero_grad(opt, true);
        if (!rc)
            rc = loss ? mm_backward(loss)
                      : mm_error_set(MM_EINVAL, "no 'loss'");
        if (!rc)
            rc = mm_optimizer_step(opt);
        mm_value_release(losses);
    } else {
        mm_tensor *y;
        mm_no_grad_push();
        if (bf16)
            rc = mm_autocast_push(MM_BF16);
        if (!rc)
            rc = mm_module_forward1(m, x, &y);
        if (bf16)
            mm_autocast_pop();
        mm_no_grad_pop();
    }
    mm_pool_close(pool);
    return rc;
}

int main(int argc, char **argv) {
    int a = 1;
    const char *plugin_dir = NULL;
    if (argc > 2 && strcmp(argv[1], "--plugin-dir") == 0) {
        plugin_dir = argv[2];
        a = 3;
    }
    if (argc - a != 6) {
        fprintf(stderr, "usage: cls_bench [--plugin-dir D] CONFIG "
                        "infer|train BATCH SIZE f32|bf16 ITERS\n");
        return 2;
    }
    const char *config = argv[a], *mode = argv[a + 1];
    int64_t batch = atoll(argv[a + 2]), size = atoll(argv[a + 3]);
    bool bf16 = strcmp(argv[a + 4], "bf16") == 0;
    int iters = atoi(argv[a + 5]);
    bool train = strcmp(mode, "train") == 0;
    if (batch < 1 || size < 1 || iters < 1 || iters > MAX_ITERS)
        return fprintf(stderr, "cls_bench: bad batch/size/iters\n"), 2;
    mm_module *m = NULL;
    mm_optimizer *opt = NULL;
    mm_value *samples = NULL;
    mm_pool *pool = NULL;
    static params p;
    double ms[MAX_ITERS];
    int rc = plugin_dir ? mm_plugin_path_prepend(plugin_dir) : MM_OK;
    if (!rc)
        rc = mm_pool_open(&pool);
    mm_manual_seed(0);
    if (!rc)
        rc = build_model(config, &m);
    mm_tensor *x = NULL;
    if (!rc)
        rc = mm_randn(MM_SHAPE(batch, 3, size, size), MM_F32, NULL, &x);
    if (!rc && !(samples = samples_for(batch)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc && train) {
        mm_module_train(m, true);
        rc = mm_module_named_parameters(m, collect, &p);
        mm_optim_hparams hp;
        mm_optim_defaults(MM_OPTIM_SGD, &hp);
        hp.lr = 0.1;
        hp.momentum = 0.9;
        hp.weight_decay = 1e-4;
        if (!rc)
            rc = mm_optimizer_new(MM_OPTIM_SGD, &hp, &opt);
        if (!rc)
            rc = mm_optimizer_add_param_group(opt, p.n, p.t, NULL);
    } else if (!rc) {
        mm_module_eval(m);
    }
    for (int i = 0; !rc && i < iters + 2; i++) {
        double t0 = now_ms();
        rc = iterate(m, train, bf16, x, samples, opt);
        if (i >= 2)
            ms[i - 2] = now_ms() - t0;
    }
    if (rc) {
        fprintf(stderr, "cls_bench: %s\n", mm_error_message());
    } else {
        printf("{\"ms\": [");
        for (int i = 0; i < iters; i++)
            printf("%s%.3f", i ? ", " : "", ms[i]);
        qsort(ms, (size_t)iters, sizeof ms[0], cmp_double);
        double med = iters % 2 ? ms[iters / 2]
                               : (ms[iters / 2 - 1] + ms[iters / 2]) / 2;
        printf("], \"median_ms\": %.3f, \"img_s\": %.3f}\n", med,
               batch * 1e3 / med);
    }
    mm_optimizer_free(opt);
    mm_value_release(samples);
    mm_module_free(m);
    mm_pool_close(pool);
    return rc ? 1 : 0;
}
