/* Broken on purpose: a descriptor with the wrong magic. */
#include <mm/plugin.h>

static int init(void) { return MM_OK; }

static const mm_plugin_desc desc = {
    .magic = 0xdeadbeefu,
    .abi_major = MM_ABI_MAJOR,
    .abi_minor = 0,
    .size = sizeof(mm_plugin_desc),
    .scope = "badmagic",
    .version = "1.0",
    .license = "MIT",
    .description = "a descriptor with the wrong magic",
    .init = init,
};

MM_PLUGIN_EXPORT const mm_plugin_desc *mm_plugin_badmagic_get_desc(void);
const mm_plugin_desc *mm_plugin_badmagic_get_desc(void) { return &desc; }
