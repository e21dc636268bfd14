/* The OPTIMIZERS components of the core scope (torch's argument names and
 * defaults as schemas) and mm_optim_register, which the core scope's
 * registration (registry/core.c) calls once. A builder returns an
 * mm_optimizer with no groups: the config's values become its defaults, and
 * the optim wrapper's constructor adds the model's parameters. */
#include <math.h>
#include <string.h>

#include "mm/log.h"
#include "optim_internal.h"

static void optimizer_destroy(void *obj) { mm_optimizer_free(obj); }

static int read_betas(mm_build_ctx *ctx, mm_optim_hparams *hp) {
    const mm_value *v = mm_build_arg(ctx, "betas");
    if (!mm_value_is_list(v) || mm_value_len(v) != 2 ||
        !mm_value_is_number(mm_value_list_get(v, 0)) ||
        !mm_value_is_number(mm_value_list_get(v, 1)))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "betas: expected a list of two numbers "
                               "[beta1, beta2]");
    hp->beta1 = mm_value_get_float(mm_value_list_get(v, 0));
    hp->beta2 = mm_value_get_float(mm_value_list_get(v, 1));
    return MM_OK;
}

static int build_optimizer(mm_build_ctx *ctx, void **out) {
    mm_optim_kind kind;
    MM_TRY(mm_optim_kind_parse(mm_build_entry(ctx)->component->name, &kind));
    mm_optim_hparams hp;
    mm_optim_defaults(kind, &hp);
    MM_TRY(mm_build_float(ctx, "lr", &hp.lr));
    MM_TRY(mm_build_float(ctx, "weight_decay", &hp.weight_decay));
    MM_TRY(mm_build_bool(ctx, "maximize", &hp.maximize));
    switch (kind) {
    case MM_OPTIM_SGD:
        MM_TRY(mm_build_float(ctx, "momentum", &hp.momentum));
        MM_TRY(mm_build_float(ctx, "dampening", &hp.dampening));
        MM_TRY(mm_build_bool(ctx, "nesterov", &hp.nesterov));
        break;
    case MM_OPTIM_ADAM:
    case MM_OPTIM_ADAMW:
        MM_TRY(read_betas(ctx, &hp));
        MM_TRY(mm_build_float(ctx, "eps", &hp.eps));
        MM_TRY(mm_build_bool(ctx, "amsgrad", &hp.amsgrad));
        break;
    case MM_OPTIM_RMSPROP:
        MM_TRY(mm_build_float(ctx, "alpha", &hp.alpha));
        MM_TRY(mm_build_float(ctx, "eps", &hp.eps));
        MM_TRY(mm_build_float(ctx, "momentum", &hp.momentum));
        MM_TRY(mm_build_bool(ctx, "centered", &hp.centered));
        break;
    case MM_OPTIM_ADAGRAD:
        MM_TRY(mm_build_float(ctx, "lr_decay", &hp.lr_decay));
        MM_TRY(mm_build_float(ctx, "eps", &hp.eps));
        MM_TRY(mm_build_float(ctx, "initial_accumulator_value",
                              &hp.initial_accumulator_value));
        break;
    default:
        MM_ASSERT(0);
    }
    mm_optimizer *opt;
    MM_TRY(mm_optimizer_new(kind, &hp, &opt));
    *out = opt;
    return MM_OK;
}

#define P_FLOAT(n, d, doc_)                                                    \
    {.name = n, .type = MM_PARAM_FLOAT, .def = d, .doc = doc_}
#define P_BOOL(n, d, doc_)                                                     \
    {.name = n, .type = MM_PARAM_BOOL, .def = d, .doc = doc_}
#define P_MAXIMIZE P_BOOL("maximize", "false", "maximize the objective")
#define P_BETAS                                                                \
    {.name = "betas",                                                          \
     .type = MM_PARAM_LIST,                                                    \
     .def = "[0.9, 0.999]",                                                    \
     .doc = "coefficients of the running averages of the gradient and its "   \
            "square"}

static const mm_param sgd_params[] = {
    P_FLOAT("lr", "0.001", "learning rate (torch 2.x's default)"),
    P_FLOAT("momentum", "0", "momentum factor"),
    P_FLOAT("dampening", "0", "dampening for momentum"),
    P_FLOAT("weight_decay", "0", "L2 penalty"),
    P_BOOL("nesterov", "false", "Nesterov momentum"),
    P_MAXIMIZE,
};
static const mm_param adam_params[] = {
    P_FLOAT("lr", "0.001", "learning rate"),
    P_BETAS,
    P_FLOAT("eps", "1e-08", "term added to the denominator"),
    P_FLOAT("weight_decay", "0", "L2 penalty"),
    P_BOOL("amsgrad", "false", "the AMSGrad variant"),
    P_MAXIMIZE,
};
static const mm_param adamw_params[] = {
    P_FLOAT("lr", "0.001", "learning rate"),
    P_BETAS,
    P_FLOAT("eps", "1e-08", "term added to the denominator"),
    P_FLOAT("weight_decay", "0.01", "decoupled weight decay"),
    P_BOOL("amsgrad", "false", "the AMSGrad variant"),
    P_MAXIMIZE,
};
static const mm_param rmsprop_params[] = {
    P_FLOAT("lr", "0.01", "learning rate"),
    P_FLOAT("alpha", "0.99", "smoothing constant"),
    P_FLOAT("eps", "1e-08", "term added to the denominator"),
    P_FLOAT("weight_decay", "0", "L2 penalty"),
    P_FLOAT("momentum", "0", "momentum factor"),
    P_BOOL("centered", "false", "normalise by the estimated variance"),
    P_MAXIMIZE,
};
static const mm_param adagrad_params[] = {
    P_FLOAT("lr", "0.01", "learning rate"),
    P_FLOAT("lr_decay", "0", "learning rate decay"),
    P_FLOAT("weight_decay", "0", "L2 penalty"),
    P_FLOAT("initial_accumulator_value", "0",
            "initial value of the sum of squares"),
    P_FLOAT("eps", "1e-10", "term added to the denominator"),
    P_MAXIMIZE,
};

#define OPTIMIZER(name_, doc_, params_)                                        \
    {.kind = MM_OPTIMIZERS,                                                    \
     .name = name_,                                                            \
     .doc = doc_,                                                              \
     .params = params_,                                                        \
     .n_params = sizeof params_ / sizeof params_[0],                           \
     .build = build_optimizer,                                                 \
     .destroy = optimizer_destroy}

static const mm_component optimizers[] = {
    OPTIMIZER("SGD", "stochastic gradient descent (torch.optim.SGD)",
              sgd_params),
    OPTIMIZER("Adam", "Adam (torch.optim.Adam)", adam_params),
    OPTIMIZER("AdamW", "Adam with decoupled weight decay (torch.optim.AdamW)",
              adamw_params),
    OPTIMIZER("RMSprop", "RMSprop (torch.optim.RMSprop)", rmsprop_params),
    OPTIMIZER("Adagrad", "Adagrad (torch.optim.Adagrad)", adagrad_params),
};

int mm_optim_register_optimizers(void) {
    return mm_register_all(optimizers,
                           sizeof optimizers / sizeof optimizers[0]);
}

int mm_optim_register(void);
int mm_optim_register(void) {
    MM_TRY(mm_optim_register_optimizers());
    MM_TRY(mm_optim_register_wrappers());
    MM_TRY(mm_optim_register_schedulers());
    return MM_OK;
}
