/* Test plugin `beta`: requires alpha and has its own `Net` and a `Head`
 * whose backbone may come from any scope. */
#include <stdio.h>

#include <mm/plugin.h>
#include <mm/registry.h>

#include "testcomp.h"

static const mm_param net_params[] = {
    {.name = "backbone", .type = MM_PARAM_COMPONENT, .kind = MM_MODELS,
     .required = true, .doc = "any model"},
};
static const mm_component net = {
    .kind = MM_MODELS, .name = "Net", .doc = "beta's own Net",
    .params = net_params, .n_params = 1,
    .build = record_build, .destroy = record_destroy,
};
static const mm_param head_params[] = {
    {.name = "num_classes", .type = MM_PARAM_INT, .required = true, .doc = "classes"},
};
static const mm_component head = {
    .kind = MM_MODELS, .name = "Head", .doc = "a test head",
    .params = head_params, .n_params = 1,
    .build = record_build, .destroy = record_destroy,
};

static int fini_calls;
static void beta_fini(void) { fini_calls++; }

static int beta_init(void) {
    int rc = mm_register(&net);
    return rc ? rc : mm_register(&head);
}

MM_PLUGIN_DEFINE_FULL(beta, "0.9", "Apache-2.0", "test components on alpha",
                      MM_PLUGIN_REQUIRES("alpha"), beta_init, beta_fini)
