/* The mmocr plugin: text detection and recognition (mmocr).
 * Components register in init; each area of the plugin adds its
 * registration call here as it lands (see docs/status.md). */
#include <mm/plugin.h>
#include <mm/registry.h>

static int mmocr_init(void) { return MM_OK; }

/* Requires mmdet: text detection builds on mmdet. */
MM_PLUGIN_DEFINE(mmocr, MM_PLUGIN_VERSION, "Apache-2.0",
                 "Text detection and recognition (mmocr)",
                 MM_PLUGIN_REQUIRES("mmdet"), mmocr_init)
