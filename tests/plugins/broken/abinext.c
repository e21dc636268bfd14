/* Broken on purpose: built for the next ABI major. */
#include <mm/plugin.h>

static int init(void) { return MM_OK; }

static const mm_plugin_desc desc = {
    .magic = MM_PLUGIN_MAGIC,
    .abi_major = MM_ABI_MAJOR + 1,
    .abi_minor = 0,
    .size = sizeof(mm_plugin_desc),
    .scope = "abinext",
    .version = "1.0",
    .license = "MIT",
    .description = "built for the next ABI major",
    .init = init,
};

MM_PLUGIN_EXPORT const mm_plugin_desc *mm_plugin_abinext_get_desc(void);
const mm_plugin_desc *mm_plugin_abinext_get_desc(void) { return &desc; }
