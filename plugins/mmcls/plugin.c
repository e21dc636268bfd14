/* The mmcls plugin: image classification (mmpretrain): models, datasets,
 * transforms, metrics. Components register in init. */
#include <mm/plugin.h>
#include <mm/registry.h>

#include "mmcls.h"

static int mmcls_init(void) {
    MM_TRY(mmcls_register_models());
    MM_TRY(mmcls_register_vgg());
    MM_TRY(mmcls_register_mobilenet());
    MM_TRY(mmcls_register_shufflenet());
    MM_TRY(mmcls_register_vit());
    MM_TRY(mmcls_register_vit_head());
    MM_TRY(mmcls_register_swin());
    MM_TRY(mmcls_register_effconv());
    MM_TRY(mmcls_register_datasets());
    MM_TRY(mmcls_register_transforms());
    MM_TRY(mmcls_register_auto_augment());
    MM_TRY(mmcls_register_image_datasets());
    MM_TRY(mmcls_register_image_transforms());
    MM_TRY(mmcls_register_precise_bn());
    return mmcls_register_metrics();
}

MM_PLUGIN_DEFINE(mmcls, MM_PLUGIN_VERSION, "Apache-2.0",
                 "Image classification (mmpretrain): models, datasets, "
                 "transforms, metrics",
                 NULL, mmcls_init)
