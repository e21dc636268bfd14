/* Broken on purpose: registers one name twice, so its init fails. */
#include <mm/plugin.h>
#include <mm/registry.h>

static int build(mm_build_ctx *ctx, void **out) {
    (void)ctx;
    *out = NULL;
    return MM_OK;
}

static const mm_component first = {.kind = MM_MODELS, .name = "Twice",
                                   .build = build};
static const mm_component second = {.kind = MM_MODELS, .name = "Twice",
                                    .build = build};

static int init(void) {
    int rc = mm_register(&first);
    return rc ? rc : mm_register(&second);
}

MM_PLUGIN_DEFINE(dupreg, "1.0", "MIT", "duplicate registration", NULL, init)
