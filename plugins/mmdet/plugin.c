/* The mmdet plugin: object detection and instance segmentation (mmdetection).
 * Components register in init; each area of the plugin adds its
 * registration call here as it lands (see docs/status.md). */
#include <mm/plugin.h>
#include <mm/registry.h>

static int mmdet_init(void) { return MM_OK; }

/* Requires mmcls: its backbones come from mmcls. */
MM_PLUGIN_DEFINE(mmdet, MM_PLUGIN_VERSION, "Apache-2.0",
                 "Object detection and instance segmentation (mmdetection)",
                 MM_PLUGIN_REQUIRES("mmcls"), mmdet_init)
