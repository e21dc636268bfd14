/* The optim wrapper and the parameter schedulers against mmengine 0.10.7:
 * tests/optim/mmengine_expected.json holds what mmengine's schedulers,
 * DefaultOptimWrapperConstructor and OptimWrapper did on the same configs
 * (recorded by tools/parity/schedulers_mmengine.py); the cases here replay
 * them through mm's API. The rest checks what needs no reference:
 * accumulation against one big batch, AMP's bf16 forward, a state round
 * trip, and config errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/autocast.h"
#include "mm/autograd.h"
#include "mm/mm.h"

#define CHECK_CLOSE(a, b, rel)                                                 \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(fabs(a_ - b_) <= (rel) * fmax(1.0, fabs(b_)))) {                 \
            fprintf(stderr, "%s:%d: %s = %.12g, want %.12g\n", __FILE__,       \
                    __LINE__, #a, a_, b_);                                     \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

/* The call fails with `code` and a message containing `msg` (the registry
 * prefixes file:line:col and the key path). */
#define CHECK_ERR_HAS(expr, code, msg)                                         \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        CHECK_INT(rc_, code);                                                  \
        if (!strstr(mm_error_message(), msg)) {                                \
            fprintf(stderr, "%s:%d: error '%s' lacks '%s'\n", __FILE__,        \
                    __LINE__, mm_error_message(), msg);                        \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

static mm_value *expected(void) {
    static mm_value *doc;
    if (doc)
        return doc;
    const char *path = getenv("MM_OPTIM_EXPECTED");
    char *text = NULL;
    size_t len = 0;
    if (!path || mm_file_read(path, &text, &len) != MM_OK ||
        mm_json_parse(text, len, path, &doc) != MM_OK) {
        fprintf(stderr, "cannot read MM_OPTIM_EXPECTED: %s\n",
                mm_error_message());
        exit(1);
    }
    free(text);
    return doc;
}

static double num(const mm_value *v) {
    return mm_value_is_int(v) ? (double)mm_value_get_int(v)
                              : mm_value_get_float(v);
}

static mm_value *yaml(const char *text) {
    mm_value *v = NULL;
    if (mm_yaml_parse(text, strlen(text), "test.yaml", &v) != MM_OK) {
        fprintf(stderr, "bad test yaml: %s\n", mm_error_message());
        exit(1);
    }
    return v;
}

static const mm_value *field(const mm_value *d, const char *k) {
    return mm_value_dict_get(d, k);
}

/* ---- schedulers ---------------------------------------------------------- */

static void check_group_values(const mm_value *want, mm_value *got_lr,
                               mm_optim_wrapper *ow, const mm_value *want_mom,
                               const mm_value *want_wd, const char *name,
                               size_t it) {
    const mm_value *lr = field(got_lr, "lr");
    const mm_value *base = field(got_lr, "base_lr");
    size_t n = mm_value_len(lr);
    CHECK_INT(mm_value_len(want), n + (base ? 1 : 0));
    for (size_t g = 0; g < mm_value_len(want); g++) {
        double got = g < n ? num(mm_value_list_get(lr, g))
                           : num(mm_value_list_get(base, 0));
        double w = num(mm_value_list_get(want, g));
        if (!(fabs(got - w) <= 1e-10 * fmax(1e-3, fabs(w)))) {
            fprintf(stderr, "%s: iteration %zu group %zu: lr %.15g, mmengine "
                            "%.15g\n",
                    name, it, g, got, w);
            mm_test_failures++;
        }
    }
    mm_value *mom = mm_optim_wrapper_get_momentum(ow);
    const mm_value *ml = field(mom, "momentum");
    for (size_t g = 0; g < mm_value_len(ml); g++)
        CHECK_CLOSE(num(mm_value_list_get(ml, g)),
                    num(mm_value_list_get(want_mom, g)), 1e-10);
    mm_value_release(mom);
    mm_optimizer *opt = mm_optim_wrapper_optimizer(ow);
    for (int g = 0; g < mm_optimizer_n_groups(opt); g++)
        CHECK_CLOSE(mm_optimizer_group_hparams(opt, g)->weight_decay,
                    num(mm_value_list_get(want_wd, (size_t)g)), 1e-10);
}

static void replay_scheduler_case(const mm_value *c) {
    const char *name = mm_value_get_string(field(c, "name"));
    int64_t epochs = mm_value_get_int(field(c, "epochs"));
    int64_t len = mm_value_get_int(field(c, "epoch_length"));
    const mm_value *metrics = field(c, "metrics");
    mm_module *model = NULL;
    CHECK_OK(mm_linear_new(2, 2, true, &model));
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(field(c, "optim_wrapper"),
                                    "optim_wrapper", NULL, model, &ow));
    mm_scheduler_args args = {.optim_wrapper = ow,
                              .epoch_length = len,
                              .max_epochs = epochs,
                              .max_iters = epochs * len};
    mm_param_scheduler **s = NULL;
    size_t n = 0;
    int rc = mm_param_schedulers_build(field(c, "param_scheduler"),
                                       "param_scheduler", NULL, &args, &s, &n);
    if (rc != MM_OK) {
        fprintf(stderr, "%s: %s\n", name, mm_error_message());
        mm_test_failures++;
    }
    size_t it = 0;
    for (int64_t e = 0; rc == MM_OK && e < epochs; e++) {
        for (int64_t i = 0; i < len; i++, it++) {
            mm_value *lr = mm_optim_wrapper_get_lr(ow);
            check_group_values(mm_value_list_get(field(c, "lr"), it), lr, ow,
                               mm_value_list_get(field(c, "momentum"), it),
                               mm_value_list_get(field(c, "weight_decay"), it),
                               name, it);
            mm_value_release(lr);
            for (size_t k = 0; k < n; k++)
                if (!mm_param_scheduler_by_epoch(s[k]))
                    CHECK_OK(mm_param_scheduler_step(s[k]));
        }
        for (size_t k = 0; k < n; k++)
            if (mm_param_scheduler_by_epoch(s[k]))
                CHECK_OK(mm_param_scheduler_step(s[k]));
        if (mm_value_is_list(metrics)) {
            mm_value *m = mm_value_new_dict();
            CHECK_OK(mm_value_dict_set_take(
                m, "acc",
                mm_value_new_float(num(mm_value_list_get(metrics, (size_t)e)))));
            for (size_t k = 0; k < n; k++)
                if (mm_param_scheduler_by_epoch(s[k]) &&
                    mm_param_scheduler_needs_metrics(s[k]))
                    CHECK_OK(mm_param_scheduler_step_metrics(s[k], m));
            mm_value_release(m);
        }
    }
    mm_param_schedulers_free(s, n);
    mm_optim_wrapper_free(ow);
    mm_module_free(model);
}

static void replay_named(const char *prefix) {
    const mm_value *cases = field(expected(), "schedulers");
    int seen = 0;
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        if (strncmp(mm_value_get_string(field(c, "name")), prefix,
                    strlen(prefix)) == 0) {
            replay_scheduler_case(c);
            seen++;
        }
    }
    CHECK(seen > 0);
}

/* The cases whose curves the recording script also drew with
 * torch.optim.lr_scheduler and found equal (MultiStepLR, StepLR,
 * ConstantLR, OneCycleLR, LinearLR, ExponentialLR, CosineAnnealingLR,
 * PolynomialLR). */
MM_TEST(schedulers_torch_also_has_match_torch) {
    const mm_value *cases = field(expected(), "schedulers");
    int seen = 0;
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        if (mm_value_get_bool(field(c, "torch_checked"))) {
            replay_scheduler_case(c);
            seen++;
        }
    }
    CHECK(seen == 8);
}

MM_TEST(scheduler_multistep_matches_mmengine) { replay_named("multistep"); }
MM_TEST(scheduler_step_by_iteration_matches_mmengine) {
    replay_named("step_iter");
}
MM_TEST(scheduler_linear_warmup_then_cosine_matches_mmengine) {
    replay_named("linear_warmup_cosine");
}
MM_TEST(scheduler_cosine_past_t_max_matches_mmengine) {
    replay_named("cosine_beyond_tmax");
}
MM_TEST(scheduler_constant_matches_mmengine) { replay_named("constant"); }
MM_TEST(scheduler_exponential_in_begin_end_range_matches_mmengine) {
    replay_named("exponential_range");
}
MM_TEST(scheduler_poly_matches_mmengine) { replay_named("poly"); }
MM_TEST(scheduler_onecycle_matches_mmengine) { replay_named("onecycle"); }
MM_TEST(scheduler_cosine_restart_matches_mmengine) {
    replay_named("cosine_restart");
}
MM_TEST(scheduler_reduce_on_plateau_matches_mmengine) {
    replay_named("reduce_on_plateau");
}
MM_TEST(scheduler_momentum_variants_match_mmengine) {
    replay_named("momentum_");
}
MM_TEST(scheduler_generic_param_scheduler_matches_mmengine) {
    replay_named("generic_");
}

MM_TEST(scheduler_plateau_missing_monitor_names_the_metrics) {
    mm_module *model = NULL;
    CHECK_OK(mm_linear_new(2, 2, true, &model));
    mm_value *cfg = yaml("optimizer: {type: SGD, lr: 0.1}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, model, &ow));
    mm_value *sc = yaml("{type: ReduceOnPlateauLR, monitor: loss}");
    mm_scheduler_args args = {.optim_wrapper = ow};
    mm_param_scheduler **s = NULL;
    size_t n = 0;
    CHECK_OK(mm_param_schedulers_build(sc, "param_scheduler", NULL, &args, &s,
                                       &n));
    mm_value *m = yaml("{accuracy/top1: 0.5}");
    CHECK_ERR_HAS(mm_param_scheduler_step_metrics(s[0], m), MM_ENOENT,
              "monitor 'loss' is not among the metrics ['accuracy/top1']");
    mm_value_release(m);
    mm_param_schedulers_free(s, n);
    mm_value_release(sc);
    mm_value_release(cfg);
    mm_optim_wrapper_free(ow);
    mm_module_free(model);
}

MM_TEST(linear_lr_starting_at_zero_is_refused_at_config_time) {
    mm_module *model = NULL;
    CHECK_OK(mm_linear_new(2, 2, true, &model));
    mm_value *cfg = yaml("optimizer: {type: SGD, lr: 0.1}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, model, &ow));
    mm_value *sc = yaml("[{type: LinearLR, start_factor: 0, by_epoch: false, "
                        "end: 10}]");
    mm_scheduler_args args = {.optim_wrapper = ow};
    mm_param_scheduler **s = NULL;
    size_t n = 0;
    CHECK_ERR_HAS(mm_param_schedulers_build(sc, "param_scheduler", NULL, &args,
                                            &s, &n),
                  MM_EINVAL, "start_factor 0 makes the chained update divide");
    mm_value_release(sc);
    mm_value_release(cfg);
    mm_optim_wrapper_free(ow);
    mm_module_free(model);
}

MM_TEST(scheduler_momentum_on_adagrad_is_refused) {
    mm_module *model = NULL;
    CHECK_OK(mm_linear_new(2, 2, true, &model));
    mm_value *cfg = yaml("optimizer: {type: Adagrad}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, model, &ow));
    mm_value *sc = yaml("[{type: StepMomentum, step_size: 2}]");
    mm_scheduler_args args = {.optim_wrapper = ow};
    mm_param_scheduler **s = NULL;
    size_t n = 0;
    CHECK_ERR_HAS(mm_param_schedulers_build(sc, "param_scheduler", NULL, &args, &s,
                                        &n),
              MM_EINVAL, "must support momentum");
    mm_value_release(sc);
    mm_value_release(cfg);
    mm_optim_wrapper_free(ow);
    mm_module_free(model);
}

/* ---- paramwise_cfg -------------------------------------------------------- */

static const mm_module_class net_class = {.name = "Net"};

/* The model of schedulers_mmengine.py's Net. */
static mm_module *build_net(void) {
    mm_module *net = NULL, *conv = NULL, *bn = NULL, *dw = NULL, *fc = NULL,
              *ln = NULL, *head = NULL, *frozen = NULL;
    int64_t k3[] = {3, 3};
    mm_conv_options co = {.nsp = 2, .in_channels = 3, .out_channels = 4,
                          .kernel_size = k3, .bias = true};
    mm_conv_options dwo = {.nsp = 2, .in_channels = 4, .out_channels = 4,
                           .kernel_size = k3, .groups = 4, .bias = true};
    int64_t three = 3;
    if (mm_module_new(&net_class, sizeof(mm_module), &net) ||
        mm_conv_new(&co, &conv) || mm_module_add_child(net, "conv", conv) ||
        mm_batch_norm_new(2, 4, 1e-5, 0.1, true, true, &bn) ||
        mm_module_add_child(net, "bn", bn) || mm_conv_new(&dwo, &dw) ||
        mm_module_add_child(net, "dw", dw) || mm_linear_new(4, 3, true, &fc) ||
        mm_layer_norm_new(1, &three, 1e-5, true, true, &ln) ||
        mm_sequential_new(2, (mm_module *[]){fc, ln}, &head) ||
        mm_module_add_child(net, "head", head) ||
        mm_linear_new(3, 2, true, &frozen) ||
        mm_module_add_child(net, "frozen", frozen) ||
        mm_tensor_set_requires_grad(mm_module_get_parameter(frozen, "weight"),
                                    false)) {
        fprintf(stderr, "build_net: %s\n", mm_error_message());
        exit(1);
    }
    return net;
}

typedef struct find_name {
    const mm_tensor *t;
    const char *name;
    char buf[128];
} find_name;

static int match_param(const char *name, mm_tensor *t, void *user) {
    find_name *f = user;
    if (t == f->t) {
        snprintf(f->buf, sizeof f->buf, "%s", name);
        f->name = f->buf;
    }
    return 0;
}

MM_TEST(paramwise_groups_match_mmengine_constructor) {
    const mm_value *cases = field(expected(), "paramwise");
    CHECK(mm_value_len(cases) >= 4);
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *name = mm_value_get_string(field(c, "name"));
        mm_module *net = build_net();
        mm_value *cfg = mm_value_new_dict();
        CHECK_OK(mm_value_dict_set(cfg, "optimizer",
                                   (mm_value *)field(c, "optimizer")));
        if (!mm_value_is_null(field(c, "paramwise_cfg")))
            CHECK_OK(mm_value_dict_set(cfg, "paramwise_cfg",
                                       (mm_value *)field(c, "paramwise_cfg")));
        mm_optim_wrapper *ow = NULL;
        if (mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, net, &ow)) {
            fprintf(stderr, "%s: %s\n", name, mm_error_message());
            mm_test_failures++;
        } else {
            mm_optimizer *opt = mm_optim_wrapper_optimizer(ow);
            const mm_value *groups = field(c, "groups");
            CHECK_INT(mm_optimizer_n_groups(opt), (int)mm_value_len(groups));
            for (int g = 0; g < mm_optimizer_n_groups(opt) &&
                            g < (int)mm_value_len(groups);
                 g++) {
                const mm_value *w = mm_value_list_get(groups, (size_t)g);
                int n;
                mm_tensor *const *params;
                CHECK_OK(mm_optimizer_group_params(opt, g, &n, &params));
                const mm_value *names = field(w, "params");
                CHECK_INT(n, (int)mm_value_len(names));
                for (int p = 0; p < n && p < (int)mm_value_len(names); p++) {
                    find_name f = {.t = params[p]};
                    CHECK_OK(mm_module_named_parameters(net, match_param, &f));
                    CHECK_STR(f.name ? f.name : "?",
                              mm_value_get_string(
                                  mm_value_list_get(names, (size_t)p)));
                }
                const mm_optim_hparams *hp = mm_optimizer_group_hparams(opt, g);
                CHECK_CLOSE(hp->lr, num(field(w, "lr")), 1e-12);
                CHECK_CLOSE(hp->weight_decay, num(field(w, "weight_decay")),
                            1e-12);
                if (!mm_value_is_null(field(w, "momentum")))
                    CHECK_CLOSE(hp->momentum, num(field(w, "momentum")), 1e-12);
                if (!mm_value_is_null(field(w, "eps")))
                    CHECK_CLOSE(hp->eps, num(field(w, "eps")), 1e-15);
            }
        }
        mm_optim_wrapper_free(ow);
        mm_value_release(cfg);
        mm_module_free(net);
    }
}

MM_TEST(paramwise_decay_mult_without_weight_decay_is_an_error) {
    mm_module *net = build_net();
    mm_value *cfg = yaml("optimizer: {type: SGD, lr: 0.1}\n"
                         "paramwise_cfg: {norm_decay_mult: 0}\n");
    mm_optim_wrapper *ow = NULL;
    CHECK_ERR_HAS(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, net, &ow),
              MM_EINVAL, "norm_decay_mult needs optimizer.weight_decay");
    mm_value_release(cfg);
    mm_module_free(net);
}

MM_TEST(paramwise_unknown_key_suggests_the_closest) {
    mm_module *net = build_net();
    mm_value *cfg = yaml("optimizer: {type: SGD, lr: 0.1, weight_decay: 1}\n"
                         "paramwise_cfg: {bias_decay_mul: 0}\n");
    mm_optim_wrapper *ow = NULL;
    CHECK_ERR_HAS(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, net, &ow),
              MM_EINVAL, "did you mean 'bias_decay_mult'");
    mm_value_release(cfg);
    mm_module_free(net);
}

/* Two children holding the same tensor (tied weights). */
static mm_module *tied_model(void) {
    mm_module *root = NULL, *a = NULL, *b = NULL;
    mm_tensor *w = NULL;
    if (mm_module_new(&net_class, sizeof(mm_module), &root) ||
        mm_module_new(&net_class, sizeof(mm_module), &a) ||
        mm_module_add_child(root, "a", a) ||
        mm_module_new(&net_class, sizeof(mm_module), &b) ||
        mm_module_add_child(root, "b", b) ||
        mm_zeros(MM_SHAPE(2, 2), MM_F32, &w) ||
        mm_module_add_parameter(a, "weight", w, NULL) ||
        mm_module_add_parameter(b, "weight", w, NULL)) {
        fprintf(stderr, "tied_model: %s\n", mm_error_message());
        exit(1);
    }
    mm_tensor_release(w); /* no pool open: ours to release */
    return root;
}

MM_TEST(paramwise_bypass_duplicate_skips_a_shared_parameter) {
    mm_module *m = tied_model();
    mm_value *on = yaml("{optimizer: {type: SGD, lr: 0.1}, "
                        "paramwise_cfg: {bypass_duplicate: true}}");
    mm_value *off = yaml("{optimizer: {type: SGD, lr: 0.1}, "
                         "paramwise_cfg: {bias_lr_mult: 2}}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(on, "optim_wrapper", NULL, m, &ow));
    CHECK_INT(mm_optimizer_n_groups(mm_optim_wrapper_optimizer(ow)), 1);
    mm_optim_wrapper_free(ow);
    ow = NULL;
    CHECK_ERR_HAS(mm_optim_wrapper_build(off, "optim_wrapper", NULL, m, &ow),
                  MM_EINVAL, "appears more than once");
    mm_value_release(on);
    mm_value_release(off);
    mm_module_free(m);
}

/* ---- the wrapper's step --------------------------------------------------- */

static void set_data(mm_tensor *t, const mm_value *list) {
    float *d = MM_DATA(t, float);
    for (int64_t i = 0; i < t->numel; i++)
        d[i] = (float)num(mm_value_list_get(list, (size_t)i));
}

/* loss = mean((W x + b)^2) * 3, as the script's loss_of. */
static int loss_of(mm_module *fc, mm_tensor *x, mm_tensor **loss) {
    mm_tensor *y, *sq, *m;
    MM_TRY(mm_linear_forward(fc, x, &y));
    MM_TRY(mm_mul(y, y, &sq));
    MM_TRY(mm_mean(sq, 0, NULL, false, &m));
    return mm_mul_scalar(m, 3.0, loss);
}

static mm_module *reference_linear(const mm_value *c) {
    mm_module *fc = NULL;
    if (mm_linear_new(4, 3, true, &fc))
        exit(1);
    set_data(mm_module_get_parameter(fc, "weight"), field(c, "init_weight"));
    set_data(mm_module_get_parameter(fc, "bias"), field(c, "init_bias"));
    return fc;
}

static void replay_wrapper_case(const char *name) {
    const mm_value *cases = field(expected(), "wrapper"), *c = NULL;
    for (size_t i = 0; i < mm_value_len(cases); i++)
        if (!strcmp(mm_value_get_string(
                        field(mm_value_list_get(cases, i), "name")),
                    name))
            c = mm_value_list_get(cases, i);
    CHECK(c != NULL);
    if (!c)
        return;
    mm_module *fc = reference_linear(c);
    mm_value *cfg = mm_value_copy(field(c, "config"));
    mm_value *opt = yaml("{type: SGD, lr: 0.1, momentum: 0.9}");
    CHECK_OK(mm_value_dict_set_take(cfg, "optimizer", opt));
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, fc, &ow));
    int64_t iters = mm_value_get_int(field(c, "iters"));
    mm_optim_wrapper_init_counts(ow, 0, iters);
    for (int64_t it = 0; ow && it < iters; it++) {
        mm_pool *pool;
        CHECK_OK(mm_pool_open(&pool));
        mm_tensor *x, *loss;
        CHECK_OK(mm_zeros(MM_SHAPE(2, 4), MM_F32, &x));
        set_data(x, mm_value_list_get(field(c, "inputs"), (size_t)it));
        CHECK_OK(loss_of(fc, x, &loss));
        CHECK_OK(mm_optim_wrapper_update_params(ow, loss));
        mm_pool_close(pool);
        const mm_value *w = mm_value_list_get(field(c, "weight"), (size_t)it);
        const mm_value *b = mm_value_list_get(field(c, "bias"), (size_t)it);
        mm_tensor *W = mm_module_get_parameter(fc, "weight");
        mm_tensor *B = mm_module_get_parameter(fc, "bias");
        for (int64_t i = 0; i < W->numel; i++)
            CHECK_CLOSE(MM_DATA(W, float)[i],
                        num(mm_value_list_get(w, (size_t)i)), 2e-5);
        for (int64_t i = 0; i < B->numel; i++)
            CHECK_CLOSE(MM_DATA(B, float)[i],
                        num(mm_value_list_get(b, (size_t)i)), 2e-5);
        const mm_value *gn =
            mm_value_list_get(field(c, "grad_norm"), (size_t)it);
        if (mm_value_is_null(gn))
            CHECK(isnan(mm_optim_wrapper_grad_norm(ow)));
        else
            CHECK_CLOSE(mm_optim_wrapper_grad_norm(ow), num(gn), 1e-5);
    }
    mm_optim_wrapper_free(ow);
    mm_value_release(cfg);
    mm_module_free(fc);
}

MM_TEST(clip_grad_norm_2_matches_torch) { replay_wrapper_case("clip_norm_2"); }
MM_TEST(clip_grad_norm_1_matches_torch) { replay_wrapper_case("clip_norm_1"); }
MM_TEST(clip_grad_norm_inf_matches_torch) {
    replay_wrapper_case("clip_norm_inf");
}
MM_TEST(clip_grad_value_matches_torch) { replay_wrapper_case("clip_value"); }
MM_TEST(accumulation_with_short_last_window_matches_mmengine) {
    replay_wrapper_case("accumulate_3_of_7");
}

static void linear_weights(mm_module *fc, float *out) {
    mm_tensor *W = mm_module_get_parameter(fc, "weight");
    mm_tensor *B = mm_module_get_parameter(fc, "bias");
    memcpy(out, MM_DATA(W, float), 12 * sizeof(float));
    memcpy(out + 12, MM_DATA(B, float), 3 * sizeof(float));
}

static mm_module *seeded_linear(void) {
    mm_manual_seed(7);
    mm_module *fc = NULL;
    if (mm_linear_new(4, 3, true, &fc))
        exit(1);
    return fc;
}

static void step_on(mm_optim_wrapper *ow, mm_module *fc, int64_t rows,
                    int64_t first_row) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x, *loss;
    CHECK_OK(mm_zeros(MM_SHAPE(rows, 4), MM_F32, &x));
    for (int64_t i = 0; i < rows * 4; i++)
        MM_DATA(x, float)[i] = (float)cos(0.3 * (double)(first_row * 4 + i));
    CHECK_OK(loss_of(fc, x, &loss));
    CHECK_OK(mm_optim_wrapper_update_params(ow, loss));
    mm_pool_close(pool);
}

MM_TEST(accumulation_equals_one_big_batch_step) {
    mm_module *a = seeded_linear(), *b = seeded_linear();
    mm_value *ca = yaml("{optimizer: {type: SGD, lr: 0.1}, "
                        "accumulative_counts: 2}");
    mm_value *cb = yaml("{optimizer: {type: SGD, lr: 0.1}}");
    mm_optim_wrapper *wa = NULL, *wb = NULL;
    CHECK_OK(mm_optim_wrapper_build(ca, "optim_wrapper", NULL, a, &wa));
    CHECK_OK(mm_optim_wrapper_build(cb, "optim_wrapper", NULL, b, &wb));
    step_on(wa, a, 2, 0); /* two halves of the batch */
    float mid[15], wa_out[15], wb_out[15], init[15];
    linear_weights(b, init);
    linear_weights(a, mid);
    CHECK(memcmp(mid, init, sizeof mid) == 0); /* no step mid-window */
    step_on(wa, a, 2, 2);
    step_on(wb, b, 4, 0); /* the whole batch at once */
    linear_weights(a, wa_out);
    linear_weights(b, wb_out);
    for (int i = 0; i < 15; i++)
        CHECK_CLOSE(wa_out[i], wb_out[i], 1e-6);
    CHECK(memcmp(wa_out, init, sizeof init) != 0);
    mm_optim_wrapper_free(wa);
    mm_optim_wrapper_free(wb);
    mm_value_release(ca);
    mm_value_release(cb);
    mm_module_free(a);
    mm_module_free(b);
}

/* torch's clip_grad_norm_ multiplies by clamp(max_norm / (norm + 1e-6),
 * max=1): a NaN in one gradient makes the norm NaN and every gradient NaN
 * (checked with torch 1.13), so the bias, whose own gradient is finite,
 * ends NaN too. */
MM_TEST(clip_grad_norm_nan_spreads_to_every_gradient_as_torch) {
    mm_module *fc = seeded_linear();
    mm_value *c = yaml("{optimizer: {type: SGD, lr: 0.1}, "
                       "clip_grad: {max_norm: 1.0}}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(c, "optim_wrapper", NULL, fc, &ow));
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x, *y, *loss;
    CHECK_OK(mm_ones(MM_SHAPE(2, 4), MM_F32, &x));
    MM_DATA(x, float)[1] = NAN; /* only W[:, 1]'s gradient is NaN */
    CHECK_OK(mm_linear_forward(fc, x, &y));
    CHECK_OK(mm_sum(y, 0, NULL, false, &loss)); /* d loss / d bias = 2 */
    if (ow)
        CHECK_OK(mm_optim_wrapper_update_params(ow, loss));
    mm_pool_close(pool);
    float w[15];
    linear_weights(fc, w);
    for (int i = 0; i < 15; i++)
        CHECK(isnan(w[i]));
    CHECK(isnan(mm_optim_wrapper_grad_norm(ow)));
    mm_optim_wrapper_free(ow);
    mm_value_release(c);
    mm_module_free(fc);
}

/* torch.nn.utils.clip_grad_value_ (clamp) keeps a NaN gradient NaN. */
MM_TEST(clip_grad_value_keeps_nan_gradients_nan) {
    mm_module *fc = seeded_linear();
    mm_value *c = yaml("{optimizer: {type: SGD, lr: 0.1}, "
                       "clip_grad: {type: value, clip_value: 0.5}}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(c, "optim_wrapper", NULL, fc, &ow));
    float before[15], after[15];
    linear_weights(fc, before);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x, *y, *loss;
    CHECK_OK(mm_ones(MM_SHAPE(2, 4), MM_F32, &x));
    MM_DATA(x, float)[1] = NAN; /* W[:, 1]'s gradient is NaN */
    CHECK_OK(mm_linear_forward(fc, x, &y));
    CHECK_OK(mm_sum(y, 0, NULL, false, &loss));
    if (ow)
        CHECK_OK(mm_optim_wrapper_update_params(ow, loss));
    mm_pool_close(pool);
    linear_weights(fc, after);
    for (int o = 0; o < 3; o++) {
        CHECK(isnan(after[o * 4 + 1]));
        /* the others: grad 2 clipped to 0.5, times lr 0.1 */
        CHECK_CLOSE(after[o * 4 + 0], before[o * 4 + 0] - 0.05f, 1e-6);
        CHECK_CLOSE(after[12 + o], before[12 + o] - 0.05f, 1e-6);
    }
    mm_optim_wrapper_free(ow);
    mm_value_release(c);
    mm_module_free(fc);
}

/* ---- AMP ------------------------------------------------------------------ */

MM_TEST(amp_wrapper_runs_the_forward_in_bf16) {
    mm_module *fc = seeded_linear();
    mm_value *cfg = yaml("{type: AmpOptimWrapper, dtype: bfloat16, "
                         "optimizer: {type: SGD, lr: 0.1}}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, fc, &ow));
    float before[15], after[15];
    linear_weights(fc, before);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x, *y, *y32, *sq, *loss;
    CHECK_OK(mm_ones(MM_SHAPE(2, 4), MM_F32, &x));
    CHECK_OK(mm_optim_wrapper_context_enter(ow));
    CHECK(mm_autocast_enabled());
    CHECK_OK(mm_linear_forward(fc, x, &y));
    mm_optim_wrapper_context_exit(ow);
    CHECK(!mm_autocast_enabled());
    CHECK_INT(y->dtype, MM_BF16);
    CHECK_OK(mm_to_dtype(y, MM_F32, &y32));
    CHECK_OK(mm_mul(y32, y32, &sq));
    CHECK_OK(mm_mean(sq, 0, NULL, false, &loss));
    CHECK_OK(mm_optim_wrapper_update_params(ow, loss));
    mm_pool_close(pool);
    linear_weights(fc, after);
    CHECK_INT(mm_module_get_parameter(fc, "weight")->dtype, MM_F32);
    CHECK(memcmp(before, after, sizeof before) != 0);
    mm_optim_wrapper_free(ow);
    mm_value_release(cfg);
    mm_module_free(fc);
}

MM_TEST(amp_float16_on_the_cpu_is_a_one_line_error) {
    mm_module *fc = seeded_linear();
    mm_value *cfg = yaml("{type: AmpOptimWrapper, dtype: float16, "
                         "optimizer: {type: SGD, lr: 0.1}}");
    mm_optim_wrapper *ow = NULL;
    CHECK_ERR_HAS(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, fc, &ow),
              MM_EINVAL,
              "float16 AMP needs CUDA; use dtype: bfloat16 on the CPU");
    CHECK(strchr(mm_error_message(), '\n') == NULL);
    mm_value_release(cfg);
    mm_module_free(fc);
}

/* ---- state ---------------------------------------------------------------- */

static const char *const resume_cfg =
    "{optimizer: {type: Adam, lr: 0.01, weight_decay: 0.001}, "
    "paramwise_cfg: {bias_lr_mult: 2.0}, clip_grad: {max_norm: 1.0}}";
static const char *const resume_sched =
    "[{type: LinearLR, start_factor: 0.1, by_epoch: false, end: 3}, "
    "{type: CosineAnnealingLR, by_epoch: false, begin: 3, end: 10}]";

MM_TEST(state_round_trip_gives_the_same_next_step) {
    mm_module *a = seeded_linear(), *b = NULL;
    CHECK_OK(mm_linear_new(4, 3, true, &b));
    mm_value *cfg = yaml(resume_cfg), *scfg = yaml(resume_sched);
    mm_optim_wrapper *wa = NULL, *wb = NULL;
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, a, &wa));
    mm_scheduler_args args = {.optim_wrapper = wa};
    mm_param_scheduler **sa = NULL, **sb = NULL;
    size_t na = 0, nb = 0;
    CHECK_OK(mm_param_schedulers_build(scfg, "param_scheduler", NULL, &args,
                                       &sa, &na));
    for (int i = 0; i < 4; i++) {
        step_on(wa, a, 2, i);
        for (size_t k = 0; k < na; k++)
            CHECK_OK(mm_param_scheduler_step(sa[k]));
    }
    /* save: model, optimizer (through JSON, as a checkpoint carries it),
     * schedulers */
    mm_state_dict msd = {0}, osd = {0};
    mm_value *ost = NULL;
    CHECK_OK(mm_module_state_dict(a, &msd));
    CHECK_OK(mm_optim_wrapper_state_dict(wa, &osd, &ost));
    CHECK(osd.n == 6); /* step, exp_avg, exp_avg_sq for 2 params */
    CHECK(mm_state_dict_get(&osd, "state.1.exp_avg_sq") != NULL);
    char *json = NULL;
    CHECK_OK(mm_json_dump(ost, 0, &json));
    mm_value *ost2 = NULL;
    CHECK_OK(mm_json_parse(json, strlen(json), "state", &ost2));
    free(json);
    mm_value *sst[2] = {mm_param_scheduler_state(sa[0]),
                        mm_param_scheduler_state(sa[1])};
    /* a fresh run resumes: build, then load as mmengine's Runner does */
    CHECK_OK(mm_module_load_state_dict(b, &msd, true, NULL));
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, b, &wb));
    args.optim_wrapper = wb;
    CHECK_OK(mm_param_schedulers_build(scfg, "param_scheduler", NULL, &args,
                                       &sb, &nb));
    CHECK_OK(mm_optim_wrapper_load_state_dict(wb, &osd, ost2));
    for (size_t k = 0; k < nb; k++)
        CHECK_OK(mm_param_scheduler_load_state(sb[k], sst[k]));
    for (int i = 4; i < 7; i++) {
        step_on(wa, a, 2, i);
        step_on(wb, b, 2, i);
        for (size_t k = 0; k < na; k++) {
            CHECK_OK(mm_param_scheduler_step(sa[k]));
            CHECK_OK(mm_param_scheduler_step(sb[k]));
        }
        float wa_out[15], wb_out[15];
        linear_weights(a, wa_out);
        linear_weights(b, wb_out);
        CHECK(memcmp(wa_out, wb_out, sizeof wa_out) == 0);
        mm_value *la = mm_optim_wrapper_get_lr(wa),
                 *lb = mm_optim_wrapper_get_lr(wb);
        CHECK(mm_value_equal(la, lb));
        mm_value_release(la);
        mm_value_release(lb);
    }
    mm_value_release(sst[0]);
    mm_value_release(sst[1]);
    mm_value_release(ost);
    mm_value_release(ost2);
    mm_state_dict_clear(&msd);
    mm_state_dict_clear(&osd);
    mm_param_schedulers_free(sa, na);
    mm_param_schedulers_free(sb, nb);
    mm_optim_wrapper_free(wa);
    mm_optim_wrapper_free(wb);
    mm_value_release(cfg);
    mm_value_release(scfg);
    mm_module_free(a);
    mm_module_free(b);
}

MM_TEST(state_with_other_group_sizes_is_refused) {
    mm_module *a = seeded_linear(), *b = seeded_linear();
    mm_value *ca = yaml("{optimizer: {type: SGD, lr: 0.1}}");
    mm_value *cb = yaml("{optimizer: {type: SGD, lr: 0.1}, "
                        "paramwise_cfg: {bias_lr_mult: 2}}");
    mm_optim_wrapper *wa = NULL, *wb = NULL;
    CHECK_OK(mm_optim_wrapper_build(ca, "optim_wrapper", NULL, a, &wa));
    CHECK_OK(mm_optim_wrapper_build(cb, "optim_wrapper", NULL, b, &wb));
    mm_state_dict sd = {0};
    mm_value *st = NULL;
    CHECK_OK(mm_optim_wrapper_state_dict(wa, &sd, &st));
    CHECK_ERR_HAS(mm_optim_wrapper_load_state_dict(wb, &sd, st), MM_EINVAL,
              "has 1 parameter groups, the optimizer has 2");
    mm_value_release(st);
    mm_state_dict_clear(&sd);
    mm_optim_wrapper_free(wa);
    mm_optim_wrapper_free(wb);
    mm_value_release(ca);
    mm_value_release(cb);
    mm_module_free(a);
    mm_module_free(b);
}

MM_TEST(state_with_malformed_groups_is_refused) {
    mm_module *fc = seeded_linear();
    mm_value *cfg = yaml("{optimizer: {type: Adam}}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, fc, &ow));
    mm_state_dict none = {0};
    const char *bad[] = {
        "{}",
        "{param_groups: [3]}",
        "{param_groups: [{params: [0, 1], lr: 0.1, betas: [a, b]}]}",
        "{param_groups: [{params: [0, 1], lr: x, betas: [0.9, 0.99]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mm_value *st = yaml(bad[i]);
        CHECK(mm_optim_wrapper_load_state_dict(ow, &none, st) == MM_EINVAL);
        mm_value_release(st);
    }
    mm_optim_wrapper_free(ow);
    mm_value_release(cfg);
    mm_module_free(fc);
}

/* ---- config errors -------------------------------------------------------- */

static void expect_build_error(const char *text, const char *msg) {
    mm_module *fc = seeded_linear();
    mm_value *cfg = yaml(text);
    mm_optim_wrapper *ow = NULL;
    int rc = mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, fc, &ow);
    CHECK(rc < 0);
    if (rc < 0 && !strstr(mm_error_message(), msg)) {
        fprintf(stderr, "error '%s' lacks '%s'\n", mm_error_message(), msg);
        mm_test_failures++;
    }
    mm_optim_wrapper_free(ow);
    mm_value_release(cfg);
    mm_module_free(fc);
}

MM_TEST(unknown_optimizer_key_suggests_the_closest) {
    expect_build_error("optimizer: {type: SGD, lr: 0.1, momentun: 0.9}",
                       "did you mean 'momentum'");
}

MM_TEST(unknown_optimizer_type_is_named) {
    expect_build_error("optimizer: {type: Adamm, lr: 0.1}", "Adamm");
}

MM_TEST(invalid_optimizer_value_is_refused_as_torch_does) {
    expect_build_error("optimizer: {type: Adam, betas: [1.0, 0.999]}",
                       "invalid beta parameter at index 0");
}

MM_TEST(clip_grad_with_an_unknown_key_is_an_error) {
    expect_build_error("{optimizer: {type: SGD}, clip_grad: {max_norm: 1, "
                       "norm: 2}}",
                       "clip_grad: 'norm' is not a clip_grad_norm_ argument");
    expect_build_error("{optimizer: {type: SGD}, clip_grad: {clip_value: 1}}",
                       "clip_grad: 'clip_value' is not a clip_grad_norm_ "
                       "argument (max_norm: number, norm_type: number or "
                       "'inf', error_if_nonfinite: bool); clipping by value "
                       "needs type: value");
}

MM_TEST(clip_grad_empty_is_an_error) {
    expect_build_error("{optimizer: {type: SGD}, clip_grad: {type: norm}}",
                       "clip_grad should be a non-empty dict");
}

MM_TEST(scheduler_end_before_begin_is_an_error) {
    mm_module *fc = seeded_linear();
    mm_value *cfg = yaml("optimizer: {type: SGD, lr: 0.1}");
    mm_optim_wrapper *ow = NULL;
    CHECK_OK(mm_optim_wrapper_build(cfg, "optim_wrapper", NULL, fc, &ow));
    mm_value *sc = yaml("{type: LinearLR, begin: 5, end: 2}");
    mm_scheduler_args args = {.optim_wrapper = ow};
    mm_param_scheduler **s = NULL;
    size_t n = 0;
    CHECK_ERR_HAS(mm_param_schedulers_build(sc, "param_scheduler", NULL, &args, &s,
                                        &n),
              MM_EINVAL, "end should be larger than begin");
    mm_value_release(sc);
    mm_value_release(cfg);
    mm_optim_wrapper_free(ow);
    mm_module_free(fc);
}

MM_TEST_MAIN(MM_CASE(schedulers_torch_also_has_match_torch),
    MM_CASE(scheduler_multistep_matches_mmengine),
    MM_CASE(linear_lr_starting_at_zero_is_refused_at_config_time),
             MM_CASE(scheduler_step_by_iteration_matches_mmengine),
             MM_CASE(scheduler_linear_warmup_then_cosine_matches_mmengine),
             MM_CASE(scheduler_cosine_past_t_max_matches_mmengine),
             MM_CASE(scheduler_constant_matches_mmengine),
             MM_CASE(scheduler_exponential_in_begin_end_range_matches_mmengine),
             MM_CASE(scheduler_poly_matches_mmengine),
             MM_CASE(scheduler_onecycle_matches_mmengine),
             MM_CASE(scheduler_cosine_restart_matches_mmengine),
             MM_CASE(scheduler_reduce_on_plateau_matches_mmengine),
             MM_CASE(scheduler_momentum_variants_match_mmengine),
             MM_CASE(scheduler_generic_param_scheduler_matches_mmengine),
             MM_CASE(scheduler_plateau_missing_monitor_names_the_metrics),
             MM_CASE(scheduler_momentum_on_adagrad_is_refused),
             MM_CASE(paramwise_groups_match_mmengine_constructor),
             MM_CASE(paramwise_decay_mult_without_weight_decay_is_an_error),
             MM_CASE(paramwise_unknown_key_suggests_the_closest),
             MM_CASE(paramwise_bypass_duplicate_skips_a_shared_parameter),
             MM_CASE(clip_grad_norm_2_matches_torch),
             MM_CASE(clip_grad_norm_1_matches_torch),
             MM_CASE(clip_grad_norm_inf_matches_torch),
             MM_CASE(clip_grad_value_matches_torch),
             MM_CASE(accumulation_with_short_last_window_matches_mmengine),
             MM_CASE(accumulation_equals_one_big_batch_step),
             MM_CASE(clip_grad_norm_nan_spreads_to_every_gradient_as_torch),
             MM_CASE(clip_grad_value_keeps_nan_gradients_nan),
             MM_CASE(amp_wrapper_runs_the_forward_in_bf16),
             MM_CASE(amp_float16_on_the_cpu_is_a_one_line_error),
             MM_CASE(state_round_trip_gives_the_same_next_step),
             MM_CASE(state_with_other_group_sizes_is_refused),
             MM_CASE(state_with_malformed_groups_is_refused),
             MM_CASE(unknown_optimizer_key_suggests_the_closest),
             MM_CASE(unknown_optimizer_type_is_named),
             MM_CASE(invalid_optimizer_value_is_refused_as_torch_does),
             MM_CASE(clip_grad_with_an_unknown_key_is_an_error),
             MM_CASE(clip_grad_empty_is_an_error),
             MM_CASE(scheduler_end_before_begin_is_an_error))
