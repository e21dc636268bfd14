/* Shared between the optim wrapper and the parameter schedulers. */
#ifndef MM_OPTIM_INTERNAL_H
#define MM_OPTIM_INTERNAL_H

#include "mm/optim_wrapper.h"
#include "mm/registry.h"

/* mmengine keeps scheduler bookkeeping in the optimizer's param groups
 * (initial_lr, max_lr, min_lr, ...): the first scheduler of a parameter
 * records initial_<name> and every later one reads it. Here the wrapper
 * holds those per-group values under their mmengine key. Returns the array
 * of one value per group, or NULL when `key` is absent and !create (or on
 * no memory, with the error set). */
double *optim_wrapper_extra(mm_optim_wrapper *ow, const char *key,
                            bool create);

/* The param groups schedulers see: the optimizer's, plus mmengine's
 * base_param_settings (the optimizer's defaults, scheduled alongside and
 * logged as base_lr) when the optimizer has more than one group. */
int optim_wrapper_n_groups(const mm_optim_wrapper *ow);
int optim_wrapper_group_get(const mm_optim_wrapper *ow, int g,
                            const char *field, double *out);
int optim_wrapper_group_set(mm_optim_wrapper *ow, int g, const char *field,
                            double value);

int mm_optim_register_optimizers(void);
int mm_optim_register_wrappers(void);
int mm_optim_register_schedulers(void);

#endif
