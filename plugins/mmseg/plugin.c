/* The mmseg plugin: semantic segmentation (mmsegmentation).
 * Components register in init; each area of the plugin adds its
 * registration call here as it lands (see docs/status.md). */
#include <mm/plugin.h>
#include <mm/registry.h>

static int mmseg_init(void) { return MM_OK; }

/* Requires mmcls: its backbones come from mmcls. */
MM_PLUGIN_DEFINE(mmseg, MM_PLUGIN_VERSION, "Apache-2.0",
                 "Semantic segmentation (mmsegmentation)",
                 MM_PLUGIN_REQUIRES("mmcls"), mmseg_init)
