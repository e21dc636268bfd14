/* Broken on purpose: built as wrongscope.so, but its scope is rightname. */
#include <mm/plugin.h>

static int init(void) { return MM_OK; }

MM_PLUGIN_DEFINE(rightname, "1.0", "MIT", "file named after another scope",
                 NULL, init)
