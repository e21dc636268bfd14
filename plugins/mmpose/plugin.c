/* The mmpose plugin: pose estimation (mmpose).
 * Components register in init; each area of the plugin adds its
 * registration call here as it lands (see docs/status.md). */
#include <mm/plugin.h>
#include <mm/registry.h>

static int mmpose_init(void) { return MM_OK; }

/* Requires mmcls: its backbones come from mmcls. */
MM_PLUGIN_DEFINE(mmpose, MM_PLUGIN_VERSION, "Apache-2.0",
                 "Pose estimation (mmpose)",
                 MM_PLUGIN_REQUIRES("mmcls"), mmpose_init)
