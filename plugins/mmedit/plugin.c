/* The mmedit plugin: image and video editing and restoration (mmagic).
 * Components register in init; each area of the plugin adds its
 * registration call here as it lands (see docs/status.md). */
#include <mm/plugin.h>
#include <mm/registry.h>

static int mmedit_init(void) { return MM_OK; }

MM_PLUGIN_DEFINE(mmedit, MM_PLUGIN_VERSION, "Apache-2.0",
                 "Image and video editing and restoration (mmagic)",
                 NULL, mmedit_init)
