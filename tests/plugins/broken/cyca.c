/* Broken on purpose: cyca and cycb require each other. */
#include <mm/plugin.h>

static int init(void) { return MM_OK; }

MM_PLUGIN_DEFINE(cyca, "1.0", "MIT", "requirement cycle",
                 MM_PLUGIN_REQUIRES("cycb"), init)
