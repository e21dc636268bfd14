/* Optimizers: single steps checked by hand or against torch.optim (the
 * expression that gave each expected value is beside it), state naming and
 * loading, param groups, zero_grad, and the errors torch raises. The long
 * runs against torch.optim (20 steps of every option) are in the parity
 * suite (tools/parity/ops_torch.py). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops_testing.h"

/* A leaf parameter [a, b] of dtype dt that requires grad. */
static mm_tensor *param2(double a, double b, mm_dtype dt) {
    double v[2] = {a, b};
    mm_tensor *p64, *p;
    if (mm_from_data(v, MM_SHAPE(2), MM_F64, &p64) < 0 ||
        mm_to_dtype(p64, dt, &p) < 0)
        abort();
    return leaf(p);
}

/* Give p the gradient [a, b] the way training does: backward of
 * sum(p * g). */
static void set_grad(mm_tensor *p, double a, double b) {
    double v[2] = {a, b};
    mm_tensor *g64, *g, *prod, *loss;
    mm_tensor_zero_grad(p);
    CHECK_OK(mm_from_data(v, MM_SHAPE(2), MM_F64, &g64));
    CHECK_OK(mm_to_dtype(g64, p->dtype, &g));
    CHECK_OK(mm_mul(p, g, &prod));
    CHECK_OK(mm_sum(prod, 0, NULL, false, &loss));
    CHECK_OK(mm_backward(loss));
}

static mm_optimizer *make(mm_optim_kind kind, mm_tensor *p,
                          void (*tweak)(mm_optim_hparams *)) {
    mm_optim_hparams hp;
    mm_optim_defaults(kind, &hp);
    if (tweak)
        tweak(&hp);
    mm_optimizer *opt = NULL;
    CHECK_OK(mm_optimizer_new(kind, &hp, &opt));
    if (opt)
        CHECK_OK(mm_optimizer_add_param_group(opt, 1, &p, NULL));
    return opt;
}

#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(fabs(a_ - b_) <= (tol) * (1 + fabs(b_)))) {                      \
            fprintf(stderr, "%s:%d: %s = %.17g, want %.17g\n", __FILE__,       \
                    __LINE__, #a, a_, b_);                                     \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

static mm_tensor *state(mm_optimizer *opt, const char *want) {
    size_t n = mm_optimizer_state_count(opt);
    for (size_t i = 0; i < n; i++) {
        char name[64];
        mm_tensor *t;
        CHECK_OK(mm_optimizer_state_at(opt, i, name, sizeof name, &t));
        if (strcmp(name, want) == 0)
            return t;
    }
    fprintf(stderr, "no state %s\n", want);
    mm_test_failures++;
    return NULL;
}

/* ---- single steps ------------------------------------------------------- */

static void lr_01(mm_optim_hparams *hp) { hp->lr = 0.1; }

MM_TEST(sgd_plain_step_is_p_minus_lr_g) {
    POOLED({
        mm_tensor *p = param2(1, 2, MM_F64);
        mm_optimizer *opt = make(MM_OPTIM_SGD, p, lr_01);
        set_grad(p, 0.5, -1);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.95, 1e-15);
        CHECK_NEAR(at(p, 1), 2.1, 1e-15);
        CHECK_INT(mm_optimizer_state_count(opt), 0); /* no momentum: none */
        mm_optimizer_free(opt);
    });
}

static void nesterov(mm_optim_hparams *hp) {
    hp->lr = 0.1;
    hp->momentum = 0.9;
    hp->nesterov = true;
}

MM_TEST(sgd_nesterov_two_steps_by_hand) {
    /* g = 1 twice: buf 1, d = 1 + .9 = 1.9, p = .81; buf 1.9,
     * d = 1 + .9 * 1.9 = 2.71, p = .539 */
    POOLED({
        mm_tensor *p = param2(1, 1, MM_F64);
        mm_optimizer *opt = make(MM_OPTIM_SGD, p, nesterov);
        set_grad(p, 1, 1);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.81, 1e-15);
        set_grad(p, 1, 1);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.539, 1e-15);
        CHECK_NEAR(at(state(opt, "state.0.momentum_buffer"), 0), 1.9, 1e-15);
        mm_optimizer_free(opt);
    });
}

static void sgd_wd(mm_optim_hparams *hp) {
    hp->lr = 0.1;
    hp->momentum = 0.9;
    hp->dampening = 0.5;
    hp->weight_decay = 0.5;
}

MM_TEST(sgd_weight_decay_dampening_matches_torch) {
    /* p = torch.tensor([1., -2.], dtype=float64); SGD([p], lr=.1,
     * momentum=.9, dampening=.5, weight_decay=.5); grads [1, .5] then
     * [.01, -2] */
    POOLED({
        mm_tensor *p = param2(1, -2, MM_F64);
        mm_optimizer *opt = make(MM_OPTIM_SGD, p, sgd_wd);
        set_grad(p, 1, 0.5);
        CHECK_OK(mm_optimizer_step(opt));
        set_grad(p, 0.01, -2);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.6932499999999999, 1e-14);
        CHECK_NEAR(at(p, 1), -1.7562499999999999, 1e-14);
        mm_tensor *buf = state(opt, "state.0.momentum_buffer");
        CHECK_NEAR(at(buf, 0), 1.5675000000000001, 1e-14);
        CHECK_NEAR(at(buf, 1), -1.9375, 1e-14);
        mm_optimizer_free(opt);
    });
}

MM_TEST(adam_first_step_moves_by_lr) {
    /* m = .05, v = .00025, bias corrections .1 and .001: the step is
     * lr * g / |g| (up to eps) */
    POOLED({
        mm_tensor *p = param2(1, -2, MM_F32);
        mm_optimizer *opt = make(MM_OPTIM_ADAM, p, lr_01);
        set_grad(p, 0.5, -1);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.9, 1e-7);
        CHECK_NEAR(at(p, 1), -1.9, 1e-7);
        CHECK_INT(mm_optimizer_state_count(opt), 3);
        CHECK_NEAR(at(state(opt, "state.0.step"), 0), 1, 0);
        CHECK_INT(state(opt, "state.0.step")->dtype, MM_F32);
        CHECK_NEAR(at(state(opt, "state.0.exp_avg"), 0), 0.05, 1e-7);
        CHECK_NEAR(at(state(opt, "state.0.exp_avg_sq"), 1), 0.001, 1e-7);
        mm_optimizer_free(opt);
    });
}

static void amsgrad(mm_optim_hparams *hp) {
    hp->lr = 0.1;
    hp->amsgrad = true;
}

MM_TEST(adam_amsgrad_keeps_the_maximum_matches_torch) {
    /* Adam([p], lr=.1, amsgrad=True), p = [1, -2] f64, grads [1, .5] then
     * [.01, -2]: element 0's second moment shrinks, its maximum stays */
    POOLED({
        mm_tensor *p = param2(1, -2, MM_F64);
        mm_optimizer *opt = make(MM_OPTIM_ADAM, p, amsgrad);
        set_grad(p, 1, 0.5);
        CHECK_OK(mm_optimizer_step(opt));
        set_grad(p, 0.01, -2);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.8322835510128204, 1e-14);
        CHECK_NEAR(at(p, 1), -2.0440496489799442, 1e-14);
        CHECK_NEAR(at(state(opt, "state.0.exp_avg_sq"), 0),
                   0.000999100000000001, 1e-14);
        CHECK_NEAR(at(state(opt, "state.0.max_exp_avg_sq"), 0),
                   0.0010000000000000009, 1e-14);
        CHECK_NEAR(at(state(opt, "state.0.step"), 0), 2, 0);
        mm_optimizer_free(opt);
    });
}

static void adamw(mm_optim_hparams *hp) {
    hp->lr = 0.1;
    hp->weight_decay = 0.01;
}

MM_TEST(adamw_decays_the_weight_before_the_step) {
    /* AdamW([p], lr=.1, weight_decay=.01), grad [.5, -1]: p * (1 - .001)
     * then -lr * sign(g): [0.899000002, -1.898000001] */
    POOLED({
        mm_tensor *p = param2(1, -2, MM_F64);
        mm_optimizer *opt = make(MM_OPTIM_ADAMW, p, adamw);
        set_grad(p, 0.5, -1);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.899000002, 1e-15);
        CHECK_NEAR(at(p, 1), -1.898000001, 1e-15);
        mm_optimizer_free(opt);
    });
}

MM_TEST(rmsprop_first_step_by_hand) {
    /* sq = .01 * g^2, avg = sqrt(sq) + eps = .1 |g| + eps: p -= lr * 10 */
    POOLED({
        mm_tensor *p = param2(1, -2, MM_F64);
        mm_optimizer *opt = make(MM_OPTIM_RMSPROP, p, NULL);
        set_grad(p, 0.5, -1);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.900000019999996, 1e-14);
        CHECK_NEAR(at(p, 1), -1.900000009999999, 1e-14);
        CHECK_INT(mm_optimizer_state_count(opt), 2); /* step, square_avg */
        mm_optimizer_free(opt);
    });
}

static void rms_centered(mm_optim_hparams *hp) {
    hp->lr = 0.01;
    hp->centered = true;
    hp->momentum = 0.9;
}

MM_TEST(rmsprop_centered_momentum_matches_torch) {
    /* RMSprop([p], lr=.01, centered=True, momentum=.9), grads [.5, -1]
     * then [.25, 2] */
    POOLED({
        mm_tensor *p = param2(1, -2, MM_F64);
        mm_optimizer *opt = make(MM_OPTIM_RMSPROP, p, rms_centered);
        set_grad(p, 0.5, -1);
        CHECK_OK(mm_optimizer_step(opt));
        set_grad(p, 0.25, 2);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.7637340994926962, 1e-13);
        CHECK_NEAR(at(p, 1), -1.8986667819604688, 1e-13);
        CHECK_NEAR(at(state(opt, "state.0.momentum_buffer"), 0),
                   13.576213918339873, 1e-12);
        CHECK_NEAR(at(state(opt, "state.0.grad_avg"), 1), 0.0101, 1e-14);
        CHECK_INT(mm_optimizer_state_count(opt), 4);
        mm_optimizer_free(opt);
    });
}

static void adagrad_decay(mm_optim_hparams *hp) {
    hp->lr = 0.1;
    hp->lr_decay = 0.5;
    hp->initial_accumulator_value = 0.1;
}

MM_TEST(adagrad_lr_decay_matches_torch) {
    /* Adagrad([p], lr=.1, lr_decay=.5, initial_accumulator_value=.1),
     * grads [.5, -1] then [.25, 2]; the sum exists before the first step */
    POOLED({
        mm_tensor *p = param2(1, -2, MM_F64);
        mm_optimizer *opt = make(MM_OPTIM_ADAGRAD, p, adagrad_decay);
        CHECK_INT(mm_optimizer_state_count(opt), 2);
        CHECK_NEAR(at(state(opt, "state.0.sum"), 1), 0.1, 0);
        set_grad(p, 0.5, -1);
        CHECK_OK(mm_optimizer_step(opt));
        set_grad(p, 0.25, 2);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(p, 0), 0.8895346097400904, 1e-14);
        CHECK_NEAR(at(p, 1), -1.963694733451257, 1e-14);
        CHECK_NEAR(at(state(opt, "state.0.sum"), 1), 5.1, 1e-14);
        mm_optimizer_free(opt);
    });
}

/* ---- groups, state, grads ----------------------------------------------- */

MM_TEST(a_parameter_without_grad_is_skipped) {
    POOLED({
        mm_tensor *a = param2(1, 2, MM_F32), *b = param2(3, 4, MM_F32);
        mm_tensor *ps[2] = {a, b};
        mm_optimizer *opt;
        CHECK_OK(mm_optimizer_new(MM_OPTIM_ADAM, NULL, &opt));
        CHECK_OK(mm_optimizer_add_param_group(opt, 2, ps, NULL));
        set_grad(b, 1, 1);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(a, 0), 1, 0);
        CHECK_NEAR(at(b, 0), 3 - 1e-3, 1e-6);
        /* state only for parameter 1 */
        char name[64];
        mm_tensor *t;
        CHECK_INT(mm_optimizer_state_count(opt), 3);
        CHECK_OK(mm_optimizer_state_at(opt, 0, name, sizeof name, &t));
        CHECK_STR(name, "state.1.step");
        CHECK_OK(mm_optimizer_state_at(opt, 2, name, sizeof name, &t));
        CHECK_STR(name, "state.1.exp_avg_sq");
        CHECK_ERR(mm_optimizer_state_at(opt, 3, name, sizeof name, &t),
                  MM_ERANGE, "adam: no state entry 3 (of 3)");
        mm_optimizer_free(opt);
    });
}

MM_TEST(groups_have_their_own_lr_and_hyper_parameters) {
    POOLED({
        mm_tensor *a = param2(1, 1, MM_F64), *b = param2(1, 1, MM_F64);
        mm_optimizer *opt;
        mm_optim_hparams hp;
        mm_optim_defaults(MM_OPTIM_SGD, &hp);
        hp.lr = 0.1;
        CHECK_OK(mm_optimizer_new(MM_OPTIM_SGD, &hp, &opt));
        CHECK_OK(mm_optimizer_add_param_group(opt, 1, &a, NULL));
        hp.lr = 0.01;
        hp.momentum = 0.5;
        CHECK_OK(mm_optimizer_add_param_group(opt, 1, &b, &hp));
        CHECK_INT(mm_optimizer_n_groups(opt), 2);
        CHECK_NEAR(mm_optimizer_get_lr(opt, 0), 0.1, 0);
        CHECK_NEAR(mm_optimizer_get_lr(opt, 1), 0.01, 0);
        CHECK(isnan(mm_optimizer_get_lr(opt, 2)));
        CHECK_OK(mm_optimizer_set_lr(opt, 0, 0.5));
        double v;
        CHECK_OK(mm_optimizer_group_get(opt, 1, "momentum", &v));
        CHECK_NEAR(v, 0.5, 0);
        CHECK_OK(mm_optimizer_group_set(opt, 1, "nesterov", 1));
        CHECK(mm_optimizer_group_hparams(opt, 1)->nesterov);
        set_grad(a, 1, 1);
        set_grad(b, 1, 1);
        CHECK_OK(mm_optimizer_step(opt));
        CHECK_NEAR(at(a, 0), 0.5, 1e-15);
        CHECK_NEAR(at(b, 0), 1 - 0.01 * 1.5, 1e-15); /* nesterov: d + .5 buf */
        int n;
        mm_tensor *const *ps;
        CHECK_OK(mm_optimizer_group_params(opt, 1, &n, &ps));
        CHECK_INT(n, 1);
        CHECK(ps[0] == b);
        CHECK_ERR(mm_optimizer_group_set(opt, 0, "nesterov", 1), MM_EINVAL,
                  "sgd: nesterov momentum requires a momentum and zero "
                  "dampening");
        CHECK_ERR(mm_optimizer_group_set(opt, 0, "betas", 1), MM_ENOENT,
                  "sgd: no hyper-parameter 'betas'");
        CHECK_ERR(mm_optimizer_set_lr(opt, 3, 1), MM_ERANGE,
                  "sgd: no parameter group 3 (of 2)");
        CHECK_ERR(mm_optimizer_set_lr(opt, 0, -1), MM_EINVAL,
                  "sgd: invalid learning rate: -1");
        CHECK_NEAR(mm_optimizer_get_lr(opt, 0), 0.5, 0); /* unchanged */
        mm_optimizer_free(opt);
    });
}

MM_TEST(loaded_state_continues_the_same_run) {
    /* Two Adam runs: one uninterrupted, one that loads the first's state
     * after step 1 into a fresh optimizer (a resumed checkpoint). */
    POOLED({
        mm_tensor *a = param2(1, -2, MM_F64), *b = param2(1, -2, MM_F64);
        mm_optimizer *oa = make(MM_OPTIM_ADAM, a, amsgrad);
        set_grad(a, 0.5, -1);
        CHECK_OK(mm_optimizer_step(oa));
        mm_no_grad_push();
        CHECK_OK(mm_tensor_copy_(b, a));
        mm_no_grad_pop();
        mm_optimizer *ob = make(MM_OPTIM_ADAM, b, amsgrad);
        for (size_t i = 0; i < mm_optimizer_state_count(oa); i++) {
            char name[64];
            mm_tensor *t;
            CHECK_OK(mm_optimizer_state_at(oa, i, name, sizeof name, &t));
            CHECK_OK(mm_optimizer_state_load(ob, name, t));
        }
        CHECK_INT(mm_optimizer_state_count(ob), 4);
        set_grad(a, 0.25, 3);
        set_grad(b, 0.25, 3);
        CHECK_OK(mm_optimizer_step(oa));
        CHECK_OK(mm_optimizer_step(ob));
        CHECK_NEAR(at(b, 0), at(a, 0), 0);
        CHECK_NEAR(at(b, 1), at(a, 1), 0);
        mm_tensor *s;
        CHECK_OK(mm_scalar(1, MM_F32, &s));
        CHECK_ERR(mm_optimizer_state_load(ob, "state.0.momentum_buffer", s),
                  MM_ENOENT, "adam: no state 'state.0.momentum_buffer'");
        CHECK_ERR(mm_optimizer_state_load(ob, "state.1.step", s), MM_ENOENT,
                  "adam: no state 'state.1.step'");
        CHECK_ERR(mm_optimizer_state_load(ob, "state.0.exp_avg", s), MM_EINVAL,
                  "adam: state 'state.0.exp_avg' is tensor(f32, []), expected "
                  "[2]");
        mm_optimizer_free(oa);
        mm_optimizer_free(ob);
    });
}

MM_TEST(zero_grad_drops_or_zeroes) {
    POOLED({
        mm_tensor *p = param2(1, 2, MM_F32);
        mm_optimizer *opt = make(MM_OPTIM_SGD, p, NULL);
        set_grad(p, 3, 4);
        mm_optimizer_zero_grad(opt, false);
        CHECK(mm_tensor_grad(p) != NULL);
        if (mm_tensor_grad(p))
            CHECK_NEAR(at(mm_tensor_grad(p), 1), 0, 0);
        mm_optimizer_zero_grad(opt, true);
        CHECK(mm_tensor_grad(p) == NULL);
        CHECK_OK(mm_optimizer_step(opt)); /* no grads: nothing happens */
        CHECK_NEAR(at(p, 1), 2, 0);
        mm_optimizer_free(opt);
    });
}

static void all_options(mm_optim_hparams *hp) {
    hp->momentum = 0.9;
    hp->weight_decay = 0.01;
    hp->amsgrad = true;
    hp->centered = true;
}

MM_TEST(big_parameters_update_the_same_on_any_thread_count) {
    /* 100k elements runs the OpenMP loop; elementwise, so one thread and
     * two give identical bits. */
    for (int k = 0; k < MM_OPTIM_KIND_COUNT; k++) {
        POOLED({
            mm_tensor *x = randn_t(MM_SHAPE(100000), MM_F32);
            mm_tensor *g = randn_t(MM_SHAPE(100000), MM_F32);
            mm_tensor *p[2];
            mm_optimizer *opt[2];
            int prev = mm_get_num_threads();
            for (int t = 0; t < 2; t++) {
                CHECK_OK(mm_clone(x, &p[t]));
                leaf(p[t]);
                opt[t] = make((mm_optim_kind)k, p[t], all_options);
                mm_set_num_threads(t + 1);
                for (int s = 0; s < 3; s++) {
                    mm_tensor *prod, *loss;
                    mm_tensor_zero_grad(p[t]);
                    CHECK_OK(mm_mul(p[t], g, &prod));
                    CHECK_OK(mm_sum(prod, 0, NULL, false, &loss));
                    CHECK_OK(mm_backward(loss));
                    CHECK_OK(mm_optimizer_step(opt[t]));
                }
            }
            mm_set_num_threads(prev);
            double err;
            CHECK(mm_allclose(p[0], p[1], 0, 0, &err));
            CHECK(!mm_allclose(p[0], x, 0, 1e-6, NULL)); /* it moved */
            mm_optimizer_free(opt[0]);
            mm_optimizer_free(opt[1]);
        });
    }
}

/* ---- errors ------------------------------------------------------------- */

MM_TEST(invalid_hyper_parameters_are_refused_as_torch_does) {
    mm_optimizer *opt = NULL;
    mm_optim_hparams hp;
    mm_optim_defaults(MM_OPTIM_ADAM, &hp);
    hp.beta1 = 1;
    CHECK_ERR(mm_optimizer_new(MM_OPTIM_ADAM, &hp, &opt), MM_EINVAL,
              "adam: invalid beta parameter at index 0: 1");
    mm_optim_defaults(MM_OPTIM_ADAMW, &hp);
    hp.beta2 = -0.5;
    CHECK_ERR(mm_optimizer_new(MM_OPTIM_ADAMW, &hp, &opt), MM_EINVAL,
              "adamw: invalid beta parameter at index 1: -0.5");
    mm_optim_defaults(MM_OPTIM_SGD, &hp);
    hp.nesterov = true;
    CHECK_ERR(mm_optimizer_new(MM_OPTIM_SGD, &hp, &opt), MM_EINVAL,
              "sgd: nesterov momentum requires a momentum and zero dampening");
    hp.nesterov = false;
    hp.lr = NAN;
    CHECK_ERR(mm_optimizer_new(MM_OPTIM_SGD, &hp, &opt), MM_EINVAL,
              "sgd: invalid learning rate: nan");
    mm_optim_defaults(MM_OPTIM_RMSPROP, &hp);
    hp.alpha = -1;
    CHECK_ERR(mm_optimizer_new(MM_OPTIM_RMSPROP, &hp, &opt), MM_EINVAL,
              "rmsprop: invalid alpha value: -1");
    mm_optim_defaults(MM_OPTIM_ADAGRAD, &hp);
    hp.initial_accumulator_value = -1;
    CHECK_ERR(mm_optimizer_new(MM_OPTIM_ADAGRAD, &hp, &opt), MM_EINVAL,
              "adagrad: invalid initial_accumulator_value value: -1");
    hp.initial_accumulator_value = 0;
    hp.weight_decay = -0.1;
    CHECK_ERR(mm_optimizer_new(MM_OPTIM_ADAGRAD, &hp, &opt), MM_EINVAL,
              "adagrad: invalid weight_decay value: -0.1");
    CHECK(opt == NULL);
    mm_optim_kind kind;
    CHECK_OK(mm_optim_kind_parse("AdamW", &kind));
    CHECK_INT(kind, MM_OPTIM_ADAMW);
    CHECK_ERR(mm_optim_kind_parse("Lion", &kind), MM_EINVAL,
              "optim: unknown optimizer 'Lion'");
}

MM_TEST(bad_parameters_are_refused) {
    POOLED({
        mm_optimizer *opt;
        CHECK_OK(mm_optimizer_new(MM_OPTIM_SGD, NULL, &opt));
        mm_tensor *p = param2(1, 2, MM_F32), *q, *i, *nc;
        CHECK_OK(mm_mul_scalar(p, 2, &q));
        mm_tensor *two[2] = {p, p};
        CHECK_ERR(mm_optimizer_add_param_group(opt, 1, &q, NULL), MM_EINVAL,
                  "sgd: can't optimize a non-leaf tensor (parameter 0)");
        CHECK_ERR(mm_optimizer_add_param_group(opt, 2, two, NULL), MM_EINVAL,
                  "sgd: parameter 1 appears more than once in the parameter "
                  "groups");
        CHECK_OK(mm_zeros(MM_SHAPE(2), MM_I64, &i));
        CHECK_ERR(mm_optimizer_add_param_group(opt, 1, &i, NULL), MM_EINVAL,
                  "sgd: parameter 0 is i64, expected f32 or f64");
        CHECK_OK(mm_transpose(randn_t(MM_SHAPE(2, 3), MM_F32), 0, 1, &nc));
        CHECK_ERR(mm_optimizer_add_param_group(opt, 1, &nc, NULL), MM_EINVAL,
                  "sgd: parameter 0 is not contiguous");
        CHECK_ERR(mm_optimizer_add_param_group(opt, 0, &p, NULL), MM_EINVAL,
                  "sgd: a parameter group needs parameters");
        CHECK_INT(mm_optimizer_n_groups(opt), 0);
        CHECK_OK(mm_optimizer_add_param_group(opt, 1, &p, NULL));
        CHECK_ERR(mm_optimizer_add_param_group(opt, 1, &p, NULL), MM_EINVAL,
                  "sgd: parameter 1 appears more than once in the parameter "
                  "groups");
        mm_optimizer_free(opt);
    });
}

MM_TEST_MAIN(MM_CASE(sgd_plain_step_is_p_minus_lr_g),
             MM_CASE(sgd_nesterov_two_steps_by_hand),
             MM_CASE(sgd_weight_decay_dampening_matches_torch),
             MM_CASE(adam_first_step_moves_by_lr),
             MM_CASE(adam_amsgrad_keeps_the_maximum_matches_torch),
             MM_CASE(adamw_decays_the_weight_before_the_step),
             MM_CASE(rmsprop_first_step_by_hand),
             MM_CASE(rmsprop_centered_momentum_matches_torch),
             MM_CASE(adagrad_lr_decay_matches_torch),
             MM_CASE(a_parameter_without_grad_is_skipped),
             MM_CASE(groups_have_their_own_lr_and_hyper_parameters),
             MM_CASE(loaded_state_continues_the_same_run),
             MM_CASE(zero_grad_drops_or_zeroes),
             MM_CASE(big_parameters_update_the_same_on_any_thread_count),
             MM_CASE(invalid_hyper_parameters_are_refused_as_torch_does),
             MM_CASE(bad_parameters_are_refused))
