/* The mmaction plugin: action recognition and video understanding (mmaction2).
 * Components register in init; each area of the plugin adds its
 * registration call here as it lands (see docs/status.md). */
#include <mm/plugin.h>
#include <mm/registry.h>

static int mmaction_init(void) { return MM_OK; }

/* Requires mmcls: its 2D backbones come from mmcls. */
MM_PLUGIN_DEFINE(mmaction, MM_PLUGIN_VERSION, "Apache-2.0",
                 "Action recognition and video understanding (mmaction2)",
                 MM_PLUGIN_REQUIRES("mmcls"), mmaction_init)
