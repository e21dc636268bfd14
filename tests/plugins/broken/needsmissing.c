/* Broken on purpose: requires a scope nobody ships. */
#include <mm/plugin.h>

static int init(void) { return MM_OK; }

MM_PLUGIN_DEFINE(needsmissing, "1.0", "MIT", "requires a missing scope",
                 MM_PLUGIN_REQUIRES("nosuchscope"), init)
