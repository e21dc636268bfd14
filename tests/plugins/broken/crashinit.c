/* Broken on purpose: its init crashes. */
#include <signal.h>

#include <mm/plugin.h>

static int init(void) {
    raise(SIGSEGV);
    return MM_OK;
}

MM_PLUGIN_DEFINE(crashinit, "1.0", "MIT", "crashes in init", NULL, init)
