/* The core scope `mm`: the components libmm itself provides (generic layers,
 * losses, optimizers, hooks, transforms, ...). Each layer adds its
 * registration call here as it lands; this runs once, before the first
 * lookup. A failure here is a broken build, not a user error. */
#include "mm/log.h"
#include "registry_internal.h"

int mm_data_register(void); /* core/data/transform.c */
int mm_nn_register(void);   /* core/nn/register.c */
int mm_optim_register(void); /* core/optim/register.c */
int mm_image_register(void); /* core/data/image_transforms.c */

void mm_core_register(void) {
    int (*const areas[])(void) = {mm_data_register, mm_nn_register,
                                  mm_optim_register, mm_image_register};
    for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++)
        if (areas[i]() != MM_OK)
            MM_ERROR("core registration failed: %s", mm_error_message());
}
