/* zoo_driver: a model-zoo network built from its config, with weights from
 * another library, for tools/parity/zoo_torch.py and zoo_mmpretrain.py,
 * which run the same network in PyTorch and compare.
 *
 *   zoo_driver [--plugin-dir D] [--map NAME] [--cfg-options K=V ...]
 *              forward CONFIG WEIGHTS IN.safetensors OUT.safetensors
 *   zoo_driver ... train CONFIG WEIGHTS IN.safetensors OUT.safetensors
 *   zoo_driver [--plugin-dir D] [--map NAME] map WEIGHTS OUT.safetensors
 *
 * WEIGHTS is any checkpoint mm reads (torch.save's .pth, safetensors); the
 * model's weights are found as mmengine finds them (mm_checkpoint_weights),
 * translated by the key map NAME when given, and loaded strictly into the
 * `model` of CONFIG (every key must match: a missing or unexpected key
 * fails the run).
 *
 * forward: eval mode, IN's `x` through the model in mode 'tensor'; OUT gets
 *          `logits`.
 * train:   train mode; for k = 0, 1, ... while IN has `x<k>` and `y<k>`
 *          (labels, i64): loss = model(x<k>, y<k>, mode='loss'), backward,
 *          SGD step (IN metadata `sgd`: {lr, momentum, weight_decay});
 *          OUT gets `loss<k>` (before step k) and, at the end, the whole
 *          state dict as `sd.<key>` (parameters and buffers).
 * map:     the weights, translated, as `sd.<key>` (to compare a state dict
 *          trained elsewhere with train's result).
 * Exit status 0, or 1 with the error on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/mm.h"

#define MAX_OVERRIDES 16
#define MAX_PARAMS 4096

typedef struct args {
    const char *plugin_dir, *map, *mode, *config, *weights, *in, *out;
    const char *overrides[MAX_OVERRIDES];
    size_t n_overrides;
} args;

/* The checkpoint's weights, translated by the key map when one is named:
 * *sd filled (the caller clears it). */
static int read_weights(const args *a, mm_state_dict *sd) {
    mm_checkpoint *ck;
    MM_TRY(mm_checkpoint_load(a->weights, &ck));
    mm_state_dict raw = {0};
    int rc = mm_checkpoint_weights(ck, NULL, a->map ? &raw : sd);
    if (!rc && a->map)
        rc = mm_key_map_apply(a->map, &raw, sd);
    mm_state_dict_clear(&raw);
    mm_checkpoint_free(ck);
    return rc;
}

static int build_model(const args *a, mm_module **out) {
    mm_value *cfg;
    MM_TRY(mm_config_load(a->config, a->overrides, a->n_overrides, &cfg));
    const mm_value *ds = mm_value_dict_get(cfg, "default_scope");
    const char *scope = mm_value_is_string(ds) ? mm_value_get_string(ds)
                                               : NULL;
    int rc = mm_registry_build(MM_MODELS, mm_value_dict_get(cfg, "model"),
                               scope, "model", NULL, (void **)out);
    mm_value_release(cfg);
    return rc;
}

/* Copy every entry of sd into `res` as "sd.<key>" (contiguous copies). */
static int add_state(mm_checkpoint *res, const mm_state_dict *sd) {
    for (size_t i = 0; i < sd->n; i++) {
        char name[512];
        snprintf(name, sizeof name, "sd.%s", sd->items[i].name);
        mm_tensor *c;
        MM_TRY(mm_contiguous(sd->items[i].tensor, &c));
        MM_TRY(mm_checkpoint_add(res, name, c));
    }
    return MM_OK;
}

static mm_value *label_samples(mm_tensor *y) {
    mm_value *l = mm_value_new_list();
    for (int64_t i = 0; l && i < y->numel; i++) {
        mm_value *d = mm_value_new_dict();
        if (!d ||
            mm_value_dict_set_take(d, "gt_label",
                                   mm_value_new_int(
                                       (int64_t)mm_tensor_get_flat(y, i))) ||
            mm_value_list_append_take(l, d)) {
            mm_value_release(d);
            mm_value_release(l);
            return NULL;
        }
    }
    return l;
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

static double meta_num(const mm_value *d, const char *key, double def) {
    const mm_value *v = mm_value_dict_get(d, key);
    return v ? mm_value_get_float(v) : def;
}

static int run_forward(mm_module *m, const mm_checkpoint *in,
                       mm_checkpoint *res) {
    mm_tensor *x = mm_checkpoint_get(in, "x"), *logits;
    if (!x)
        return mm_error_set(MM_ENOENT, "input has no 'x'");
    mm_module_eval(m);
    mm_no_grad_push();
    int rc = mm_module_forward1(m, x, &logits);
    mm_no_grad_pop();
    MM_TRY(rc);
    MM_TRY(mm_contiguous(logits, &logits));
    return mm_checkpoint_add(res, "logits", logits);
}

static int run_train(mm_module *m, const mm_checkpoint *in,
                     mm_checkpoint *res) {
    const mm_value *sgd = mm_checkpoint_get_meta(in, "sgd");
    if (!mm_value_is_dict(sgd))
        return mm_error_set(MM_EINVAL, "input metadata needs 'sgd'");
    static params p;
    p.n = 0;
    MM_TRY(mm_module_named_parameters(m, collect, &p));
    mm_optim_hparams hp;
    mm_optim_defaults(MM_OPTIM_SGD, &hp);
    hp.lr = meta_num(sgd, "lr", 0.01);
    hp.momentum = meta_num(sgd, "momentum", 0);
    hp.weight_decay = meta_num(sgd, "weight_decay", 0);
    mm_optimizer *opt;
    MM_TRY(mm_optimizer_new(MM_OPTIM_SGD, &hp, &opt));
    int rc = mm_optimizer_add_param_group(opt, p.n, p.t, NULL);
    mm_module_train(m, true);
    for (int k = 0; !rc; k++) {
        char xn[32], yn[32], ln[32];
        snprintf(xn, sizeof xn, "x%d", k);
        snprintf(yn, sizeof yn, "y%d", k);
        snprintf(ln, sizeof ln, "loss%d", k);
        mm_tensor *x = mm_checkpoint_get(in, xn);
        mm_tensor *y = mm_checkpoint_get(in, yn);
        if (!x || !y)
            break;
        mm_pool *pool;
        rc = mm_pool_open(&pool);
        if (rc)
            break;
        mm_value *samples = label_samples(y), *losses = NULL;
        mm_tensor *loss = NULL, *keep;
        if (!samples)
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        if (!rc)
            rc = mm_model_loss(m, 1, &x, samples, &losses);
        if (!rc) {
            loss = mm_tensor_from_value(mm_value_dict_get(losses, "loss"));
            if (!loss)
                rc = mm_error_set(MM_EINVAL, "the model gave no 'loss'");
        }
        mm_optimizer_zero_grad(opt, true);
        if (!rc)
            rc = mm_backward(loss);
        if (!rc)
            rc = mm_optimizer_step(opt);
        mm_no_grad_push();
        if (!rc)
            rc = mm_detach(loss, &keep);
        if (!rc)
            rc = mm_clone(keep, &keep);
        if (!rc) {
            mm_tensor_retain(keep);
            mm_pool_close(pool);
            pool = NULL;
            rc = mm_checkpoint_add(res, ln, keep);
            mm_tensor_release(keep);
        }
        mm_no_grad_pop();
        mm_value_release(losses);
        mm_value_release(samples);
        mm_pool_close(pool);
    }
    mm_optimizer_free(opt);
    if (rc)
        return rc;
    mm_state_dict sd = {0};
    rc = mm_module_state_dict(m, &sd);
    if (!rc)
        rc = add_state(res, &sd);
    mm_state_dict_clear(&sd);
    return rc;
}

static int run(const args *a) {
    mm_checkpoint *res = NULL, *in = NULL;
    mm_state_dict sd = {0};
    mm_module *m = NULL;
    int rc = mm_checkpoint_new(&res);
    if (!rc)
        rc = read_weights(a, &sd);
    if (!rc && strcmp(a->mode, "map") == 0) {
        rc = add_state(res, &sd);
    } else if (!rc) {
        rc = build_model(a, &m);
        if (!rc)
            rc = mm_module_load_state_dict(m, &sd, true, NULL);
        if (!rc)
            rc = mm_checkpoint_load(a->in, &in);
        if (!rc)
            rc = strcmp(a->mode, "forward") == 0 ? run_forward(m, in, res)
                                                 : run_train(m, in, res);
    }
    if (!rc)
        rc = mm_checkpoint_save(res, a->out);
    mm_state_dict_clear(&sd);
    mm_module_free(m);
    mm_checkpoint_free(in);
    mm_checkpoint_free(res);
    return rc;
}

static int usage(void) {
    fprintf(stderr,
            "usage: zoo_driver [--plugin-dir D] [--map NAME] "
            "[--cfg-options K=V ...] forward|train CONFIG WEIGHTS IN OUT\n"
            "       zoo_driver [--plugin-dir D] [--map NAME] map WEIGHTS "
            "OUT\n");
    return 2;
}

int main(int argc, char **argv) {
    args a = {0};
    const char *pos[5];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--plugin-dir") == 0 && i + 1 < argc)
            a.plugin_dir = argv[++i];
        else if (strcmp(argv[i], "--map") == 0 && i + 1 < argc)
            a.map = argv[++i];
        else if (strcmp(argv[i], "--cfg-options") == 0) {
            while (i + 1 < argc && strchr(argv[i + 1], '=') &&
                   a.n_overrides < MAX_OVERRIDES)
                a.overrides[a.n_overrides++] = argv[++i];
        } else if (np < 5)
            pos[np++] = argv[i];
        else
            return usage();
    }
    if (np < 1)
        return usage();
    a.mode = pos[0];
    if (strcmp(a.mode, "map") == 0) {
        if (np != 3)
            return usage();
        a.weights = pos[1];
        a.out = pos[2];
    } else if (strcmp(a.mode, "forward") == 0 ||
               strcmp(a.mode, "train") == 0) {
        if (np != 5)
            return usage();
        a.config = pos[1];
        a.weights = pos[2];
        a.in = pos[3];
        a.out = pos[4];
    } else {
        return usage();
    }
    mm_pool *pool = NULL;
    int rc = a.plugin_dir ? mm_plugin_path_prepend(a.plugin_dir) : MM_OK;
    /* the key maps come with the plugin of the architectures */
    if (!rc && a.map)
        rc = mm_plugin_load("mmcls");
    if (!rc)
        rc = mm_pool_open(&pool);
    if (!rc)
        rc = run(&a);
    if (rc)
        fprintf(stderr, "zoo_driver: %s\n", mm_error_message());
    mm_pool_close(pool);
    return rc ? 1 : 0;
}
