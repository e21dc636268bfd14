/* Test plugin `alpha`: a model with nested components, a block, a transform
 * pipeline holder and a builder that fails. */
#include <stdio.h>

#include <mm/plugin.h>
#include <mm/registry.h>

#include "testcomp.h"

static const mm_param net_params[] = {
    {.name = "depth", .type = MM_PARAM_INT, .required = true,
     .doc = "number of blocks"},
    {.name = "width", .type = MM_PARAM_FLOAT, .def = "1.0", .doc = "width multiplier"},
    {.name = "kernel_size", .type = MM_PARAM_INT | MM_PARAM_LIST, .def = "3",
     .doc = "an int or [kh, kw]"},
    {.name = "norm_cfg", .type = MM_PARAM_COMPONENT | MM_PARAM_NULL,
     .kind = MM_MODELS, .def = "null", .doc = "normalisation layer"},
    {.name = "blocks", .type = MM_PARAM_COMPONENT_LIST, .kind = MM_MODELS,
     .def = "[]", .doc = "extra blocks"},
};
static const mm_component net = {
    .kind = MM_MODELS, .name = "Net", .doc = "a test network",
    .params = net_params, .n_params = 5,
    .build = record_build, .destroy = record_destroy,
};

static const mm_param block_params[] = {
    {.name = "channels", .type = MM_PARAM_INT, .def = "8", .doc = "channels"},
};
static const mm_component block = {
    .kind = MM_MODELS, .name = "Block", .doc = "a test block",
    .params = block_params, .n_params = 1,
    .build = record_build, .destroy = record_destroy,
};

static const mm_component norm = {
    .kind = MM_MODELS, .name = "BN", .doc = "a parameterless norm",
    .build = record_build, .destroy = record_destroy,
};

static int fail_build(mm_build_ctx *ctx, void **out) {
    (void)out;
    return mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                           "refusing to build");
}
static const mm_component broken = {
    .kind = MM_MODELS, .name = "Broken", .doc = "its builder fails",
    .build = fail_build,
};

static const mm_param pipe_params[] = {
    {.name = "transforms", .type = MM_PARAM_COMPONENT_LIST,
     .kind = MM_TRANSFORMS, .required = true, .doc = "the steps"},
};
static const mm_component pipe = {
    .kind = MM_TRANSFORMS, .name = "Pipe", .doc = "runs transforms in order",
    .params = pipe_params, .n_params = 1,
    .build = record_build, .destroy = record_destroy,
};
static const mm_component flip = {
    .kind = MM_TRANSFORMS, .name = "Flip", .doc = "a test transform",
    .extra_params = true, .build = record_build, .destroy = record_destroy,
};

static int alpha_init(void) {
    const mm_component *all[] = {&net, &block, &norm, &broken, &pipe, &flip};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int rc = mm_register(all[i]);
        if (rc)
            return rc;
    }
    return MM_OK;
}

MM_PLUGIN_DEFINE(alpha, "1.2.3", "MIT", "test components", NULL, alpha_init)
