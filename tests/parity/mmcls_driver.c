/* mmcls_driver: the mmcls plugin's LeNet-5 training step, heads and losses
 * on tensors from a safetensors file, for tools/parity/mmcls_torch.py,
 * which runs the same in PyTorch and compares.
 *
 *   mmcls_driver MMCLS.so IN.safetensors OUT.safetensors
 *
 * IN (written by the script):
 *   sd.<key>       the LeNet-5 ImageClassifier's state_dict (mmpretrain's
 *                  names), loaded strictly into the model built from the
 *                  `model` metadata (YAML);
 *   x, y           a batch (N, 1, 32, 32) and its labels (N);
 *   scores, labels, soft, multi
 *                  fixed (N, C) scores and targets for the loss cases of
 *                  the `cases` metadata (JSON [[name, loss YAML, kind]]);
 *   feat, fc.weight, fc.bias
 *                  a feature map and the weights of LinearClsHead on
 *                  GlobalAveragePooling (the `linear` metadata, YAML).
 * OUT:
 *   logits, loss, grad.<key>       mode tensor, mode loss and every
 *                                  parameter's gradient at the start;
 *   step<k>.loss, step<k>.<key>    the loss before and the parameters after
 *                                  SGD step k (k = 1, 2; `sgd` metadata
 *                                  JSON: lr, momentum, weight_decay);
 *   case.<name>, case.<name>.grad  each loss case's value and its gradient
 *                                  in the scores;
 *   linear.logits, linear.loss, linear.grad.fc.weight, linear.grad.fc.bias.
 * The files are read and written with <mm/checkpoint.h>. Exit status 0, or
 * 1 with the error on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/mm.h"

#define MAX_OUT 128

typedef struct outs {
    int n;
    char *names[MAX_OUT];
    mm_tensor *t[MAX_OUT];
} outs;

/* Record a copy of t (detached) under a printf-style name. */
static int put(outs *o, mm_tensor *t, const char *fmt, const char *a) {
    if (o->n >= MAX_OUT)
        return mm_error_set(MM_ERANGE, "too many outputs");
    char name[256];
    snprintf(name, sizeof name, fmt, a);
    mm_tensor *c;
    mm_no_grad_push();
    int rc = mm_detach(t, &c);
    if (!rc)
        rc = mm_clone(c, &c);
    mm_no_grad_pop();
    MM_TRY(rc);
    o->names[o->n] = strdup(name);
    o->t[o->n++] = c; /* in the run's pool, which outlives the write */
    return o->names[o->n - 1] ? MM_OK
                              : mm_error_set(MM_ENOMEM, "out of memory");
}

/* The input tensor `name` (borrowed from the checkpoint). */
static mm_tensor *need(const mm_checkpoint *f, const char *name) {
    mm_tensor *t = mm_checkpoint_get(f, name);
    if (!t)
        mm_error_set(MM_ENOENT, "input has no '%s'", name);
    return t;
}

/* Metadata `key` as a string (YAML text), or NULL. */
static const char *meta_str(const mm_checkpoint *f, const char *key) {
    const mm_value *v = mm_checkpoint_get_meta(f, key);
    return mm_value_is_string(v) ? mm_value_get_string(v) : NULL;
}

static int build(const char *yaml, const char *key, mm_module **out) {
    mm_value *doc = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), key, &doc);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, mm_value_dict_get(doc, key), "mmcls",
                               key, NULL, (void **)out);
    mm_value_release(doc);
    return rc;
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
            mm_value_release(l);
            return NULL;
        }
    }
    return l;
}

static mm_value *score_samples(mm_tensor *s) {
    mm_value *l = mm_value_new_list();
    for (int64_t i = 0; l && i < s->shape[0]; i++) {
        mm_value *d = mm_value_new_dict();
        mm_tensor *row;
        if (!d || mm_select(s, 0, i, &row) ||
            mm_value_dict_set_take(d, "gt_score", mm_tensor_to_value(row)) ||
            mm_value_list_append_take(l, d)) {
            mm_value_release(d);
            mm_value_release(l);
            return NULL;
        }
    }
    return l;
}

/* losses["loss"] of model/head m on inputs. */
static int loss_of(mm_module *m, mm_tensor *x, mm_value *samples,
                   mm_tensor **loss) {
    mm_value *losses;
    MM_TRY(mm_model_loss(m, 1, &x, samples, &losses));
    *loss = mm_tensor_from_value(mm_value_dict_get(losses, "loss"));
    mm_tensor_retain(*loss);
    mm_value_release(losses);
    return mm_tensor_autorelease(*loss);
}

static int put_grad(const char *name, mm_tensor *t, void *user) {
    mm_tensor *g = mm_tensor_grad(t);
    if (!g)
        return mm_error_set(MM_EINVAL, "%s has no gradient", name);
    return put(user, g, "grad.%s", name);
}

typedef struct step_ctx {
    outs *o;
    const char *step;
} step_ctx;

static int put_param(const char *name, mm_tensor *t, void *user) {
    step_ctx *c = user;
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%s.%%s", c->step);
    return put(c->o, t, fmt, name);
}

typedef struct params {
    int n;
    mm_tensor *t[64];
} params;

static int collect(const char *name, mm_tensor *t, void *user) {
    (void)name;
    params *p = user;
    if (p->n >= 64)
        return mm_error_set(MM_ERANGE, "too many parameters");
    p->t[p->n++] = t;
    return MM_OK;
}

static double meta_num(const mm_value *d, const char *key) {
    return mm_value_get_float(mm_value_dict_get(d, key));
}

/* The LeNet-5 model: logits, loss, gradients, two SGD steps. */
static int run_lenet(const mm_checkpoint *f, outs *o) {
    const char *yaml = meta_str(f, "model");
    const mm_value *sgd = mm_checkpoint_get_meta(f, "sgd");
    if (!yaml || !mm_value_is_dict(sgd))
        return mm_error_set(MM_EINVAL, "metadata needs 'model' and 'sgd'");
    mm_module *m = NULL;
    mm_value *samples = NULL;
    mm_optimizer *opt = NULL;
    int rc = build(yaml, "model", &m);
    if (!rc)
        rc = mm_checkpoint_load_module(f, "sd.", m, true, NULL);
    mm_tensor *x = rc ? NULL : need(f, "x"), *y = x ? need(f, "y") : NULL;
    if (!rc && !y)
        rc = mm_error_code();
    if (!rc && !(samples = label_samples(y)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    mm_tensor *logits, *loss;
    if (!rc)
        rc = mm_module_forward1(m, x, &logits);
    if (!rc)
        rc = put(o, logits, "%s", "logits");
    if (!rc)
        rc = loss_of(m, x, samples, &loss);
    if (!rc)
        rc = put(o, loss, "%s", "loss");
    if (!rc)
        rc = mm_backward(loss);
    if (!rc)
        rc = mm_module_named_parameters(m, put_grad, o);
    params p = {0};
    if (!rc)
        rc = mm_module_named_parameters(m, collect, &p);
    if (!rc) {
        mm_optim_hparams hp;
        mm_optim_defaults(MM_OPTIM_SGD, &hp);
        hp.lr = meta_num(sgd, "lr");
        hp.momentum = meta_num(sgd, "momentum");
        hp.weight_decay = meta_num(sgd, "weight_decay");
        rc = mm_optimizer_new(MM_OPTIM_SGD, &hp, &opt);
        if (!rc)
            rc = mm_optimizer_add_param_group(opt, p.n, p.t, NULL);
    }
    /* step 1 uses the gradients above; step 2 a fresh loss */
    for (int k = 1; !rc && k <= 2; k++) {
        char step[16];
        snprintf(step, sizeof step, "step%d", k);
        if (k > 1) {
            mm_optimizer_zero_grad(opt, true);
            rc = loss_of(m, x, samples, &loss);
            if (!rc)
                rc = mm_backward(loss);
        }
        char fmt[32];
        snprintf(fmt, sizeof fmt, "%s.loss", step);
        if (!rc)
            rc = put(o, loss, "%s", fmt);
        if (!rc)
            rc = mm_optimizer_step(opt);
        step_ctx c = {o, step};
        if (!rc)
            rc = mm_module_named_parameters(m, put_param, &c);
    }
    mm_optimizer_free(opt);
    mm_value_release(samples);
    mm_module_free(m);
    return rc;
}

/* Each loss case through ClsHead: value and d loss / d scores. */
static int run_cases(const mm_checkpoint *f, outs *o) {
    const mm_value *cases = mm_checkpoint_get_meta(f, "cases");
    if (!mm_value_is_list(cases))
        return mm_error_set(MM_EINVAL, "metadata needs 'cases'");
    mm_tensor *scores = need(f, "scores"), *labels = need(f, "labels");
    mm_tensor *soft = need(f, "soft"), *multi = need(f, "multi");
    int rc = scores && labels && soft && multi ? MM_OK : mm_error_code();
    mm_value *by_kind[3] = {0};
    if (!rc) {
        by_kind[0] = label_samples(labels);
        by_kind[1] = score_samples(soft);
        by_kind[2] = score_samples(multi);
        if (!by_kind[0] || !by_kind[1] || !by_kind[2])
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *name = mm_value_get_string(mm_value_list_get(c, 0));
        const char *text = mm_value_get_string(mm_value_list_get(c, 1));
        const char *kind = mm_value_get_string(mm_value_list_get(c, 2));
        int k = !strcmp(kind, "index") ? 0 : !strcmp(kind, "soft") ? 1 : 2;
        char yaml[512];
        snprintf(yaml, sizeof yaml, "head: {type: ClsHead, loss: %s}\n", text);
        mm_module *h = NULL;
        mm_tensor *s, *loss;
        rc = build(yaml, "head", &h);
        if (!rc)
            rc = mm_clone(scores, &s);
        if (!rc)
            rc = mm_tensor_set_requires_grad(s, true);
        if (!rc)
            rc = loss_of(h, s, by_kind[k], &loss);
        if (!rc)
            rc = put(o, loss, "case.%s", name);
        if (!rc)
            rc = mm_backward(loss);
        char gname[128];
        snprintf(gname, sizeof gname, "case.%s.grad", name);
        if (!rc)
            rc = put(o, mm_tensor_grad(s), "%s", gname);
        if (rc)
            mm_error_context(rc, NULL, "case %s", name);
        mm_module_free(h);
    }
    for (int k = 0; k < 3; k++)
        mm_value_release(by_kind[k]);
    return rc;
}

/* GlobalAveragePooling + LinearClsHead on a feature map. */
static int run_linear(const mm_checkpoint *f, outs *o) {
    const char *yaml = meta_str(f, "linear");
    if (!yaml)
        return mm_error_set(MM_EINVAL, "metadata needs 'linear'");
    mm_module *neck = NULL, *head = NULL;
    mm_state_dict sd = {0};
    mm_value *samples = NULL;
    mm_tensor *feat = need(f, "feat"), *y = need(f, "labels");
    mm_tensor *w = need(f, "fc.weight"), *b = need(f, "fc.bias");
    int rc = feat && y && w && b ? MM_OK : mm_error_code();
    if (!rc)
        rc = build("neck: {type: GlobalAveragePooling}\n", "neck", &neck);
    if (!rc)
        rc = build(yaml, "head", &head);
    if (!rc)
        rc = mm_state_dict_add(&sd, "fc.weight", w);
    if (!rc)
        rc = mm_state_dict_add(&sd, "fc.bias", b);
    if (!rc)
        rc = mm_module_load_state_dict(head, &sd, true, NULL);
    if (!rc && !(samples = label_samples(y)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    mm_tensor *pooled, *logits, *loss;
    if (!rc)
        rc = mm_module_forward1(neck, feat, &pooled);
    if (!rc)
        rc = mm_module_forward1(head, pooled, &logits);
    if (!rc)
        rc = put(o, logits, "%s", "linear.logits");
    if (!rc)
        rc = loss_of(head, pooled, samples, &loss);
    if (!rc)
        rc = put(o, loss, "%s", "linear.loss");
    if (!rc)
        rc = mm_backward(loss);
    mm_tensor *gw = mm_module_find_tensor(head, "fc.weight");
    mm_tensor *gb = mm_module_find_tensor(head, "fc.bias");
    if (!rc)
        rc = put(o, mm_tensor_grad(gw), "%s", "linear.grad.fc.weight");
    if (!rc)
        rc = put(o, mm_tensor_grad(gb), "%s", "linear.grad.fc.bias");
    mm_state_dict_clear(&sd);
    mm_value_release(samples);
    mm_module_free(neck);
    mm_module_free(head);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: mmcls_driver MMCLS.so IN.safetensors "
                        "OUT.safetensors\n");
        return 2;
    }
    mm_checkpoint *f = NULL, *res = NULL;
    outs o = {0};
    mm_pool *pool = NULL;
    int rc = mm_plugin_load_file(argv[1]);
    if (!rc)
        rc = mm_checkpoint_load(argv[2], &f);
    if (!rc)
        rc = mm_pool_open(&pool);
    if (!rc)
        rc = run_lenet(f, &o);
    if (!rc)
        rc = run_cases(f, &o);
    if (!rc)
        rc = run_linear(f, &o);
    if (!rc)
        rc = mm_checkpoint_new(&res);
    for (int i = 0; !rc && i < o.n; i++)
        rc = mm_checkpoint_add(res, o.names[i], o.t[i]);
    if (!rc)
        rc = mm_checkpoint_save(res, argv[3]);
    if (rc)
        fprintf(stderr, "mmcls_driver: %s\n", mm_error_message());
    for (int i = 0; i < o.n; i++)
        free(o.names[i]);
    mm_checkpoint_free(res);
    mm_pool_close(pool);
    mm_checkpoint_free(f);
    return rc ? 1 : 0;
}
