/* Broken on purpose: cycb and cyca require each other. */
#include <mm/plugin.h>

static int init(void) { return MM_OK; }

MM_PLUGIN_DEFINE(cycb, "1.0", "MIT", "requirement cycle",
                 MM_PLUGIN_REQUIRES("cyca"), init)
