/* Transforms: the generic entry points and the core's Compose. */
#include <stdlib.h>

#include "data_internal.h"
#include "mm/registry.h"
#include "mm/tensor.h"
#include "mm/transform.h"

/* Each transform runs in a pool of its own: what it keeps goes into
 * results (values hold references), its temporaries go with the pool. */
int mm_transform_apply(mm_transform *t, mm_value *results) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    int rc = t->cls->apply(t, results);
    mm_pool_close(pool);
    if (rc < 0)
        return mm_error_context(rc, NULL, "%s", t->cls->name);
    return rc;
}

void mm_transform_free(mm_transform *t) {
    if (t)
        t->cls->destroy(t);
}

/* Compose: mmcv's Compose, the transforms in order; a dropped sample stops
 * the pipeline. */
typedef struct compose {
    mm_transform base;
    size_t n;
    mm_transform **steps;
} compose;

static int compose_apply(mm_transform *t, mm_value *results) {
    compose *c = (compose *)t;
    for (size_t i = 0; i < c->n; i++) {
        int rc = mm_transform_apply(c->steps[i], results);
        if (rc)
            return rc;
    }
    return MM_OK;
}

static void compose_destroy(mm_transform *t) {
    compose *c = (compose *)t;
    for (size_t i = 0; i < c->n; i++)
        mm_transform_free(c->steps[i]);
    free(c->steps);
    free(c);
}

static const mm_transform_class compose_class = {
    .name = "Compose", .apply = compose_apply, .destroy = compose_destroy};

int mm_compose_new(mm_transform **steps, size_t n, mm_transform **out) {
    compose *c = calloc(1, sizeof *c);
    if (!c) {
        for (size_t i = 0; i < n; i++)
            mm_transform_free(steps[i]);
        free(steps);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    c->base.cls = &compose_class;
    c->n = n;
    c->steps = steps;
    *out = &c->base;
    return MM_OK;
}

static int compose_build(mm_build_ctx *ctx, void **out) {
    const mm_value *list = mm_build_arg(ctx, "transforms");
    compose *c = calloc(1, sizeof *c);
    size_t n = mm_value_len(list);
    if (!c || !(c->steps = calloc(n ? n : 1, sizeof *c->steps))) {
        free(c);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    c->base.cls = &compose_class;
    for (; c->n < n; c->n++) {
        int rc = mm_build_child_at(ctx, "transforms", c->n,
                                   (void **)&c->steps[c->n]);
        if (rc) {
            compose_destroy(&c->base);
            return rc;
        }
    }
    *out = c;
    return MM_OK;
}

static void transform_destroy(void *t) { mm_transform_free(t); }

static const mm_param compose_params[] = {
    {.name = "transforms", .type = MM_PARAM_COMPONENT_LIST,
     .kind = MM_TRANSFORMS, .required = true,
     .doc = "the transforms, applied in order"},
};

static const mm_component compose_component = {
    .kind = MM_TRANSFORMS,
    .name = "Compose",
    .doc = "apply transforms in order; a dropped sample stops the pipeline",
    .params = compose_params,
    .n_params = 1,
    .build = compose_build,
    .destroy = transform_destroy,
};

int mm_data_register(void) {
    int rc = mm_register(&compose_component);
    if (!rc)
        rc = mm_data_register_datasets();
    if (!rc)
        rc = mm_data_register_samplers();
    if (!rc)
        rc = mm_data_register_collate();
    return rc;
}
