/* The mmcls plugin: image classification (mmpretrain): backbones, heads, datasets, metrics.
 * Components register in init; each area of the plugin adds its
 * registration call here as it lands (see docs/status.md). */
#include <mm/plugin.h>
#include <mm/registry.h>

#include "mmcls.h"

static int mmcls_init(void) { return mmcls_register_metrics(); }

MM_PLUGIN_DEFINE(mmcls, MM_PLUGIN_VERSION, "Apache-2.0",
                 "Image classification (mmpretrain): backbones, heads, datasets, metrics",
                 NULL, mmcls_init)
