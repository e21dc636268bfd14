/* mmengine's Visualizer and LocalVisBackend, the part the runner uses:
 * scalars as JSON lines and the config dump under <log_dir>/vis_data.
 * (Drawing images joins with core/vis.) */
#include <stdlib.h>
#include <string.h>

#include "runner_internal.h"

void mm_vis_free(mm_vis *v) {
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->backends[i].scalar_file);
        free(v->backends[i].config_file);
        free(v->backends[i].save_dir);
    }
    free(v->backends);
    free(v);
}

static void backend_destroy(void *b) {
    mm_vis_backend *vb = b;
    free(vb->scalar_file);
    free(vb->config_file);
    free(vb->save_dir);
    free(vb);
}

static void vis_destroy(void *v) { mm_vis_free(v); }

static char *dup_arg(mm_build_ctx *ctx, const char *name, int *rc) {
    const mm_value *v = mm_build_arg(ctx, name);
    if (*rc || !v || !mm_value_is_string(v))
        return NULL;
    char *s = strdup(mm_value_get_string(v));
    if (!s)
        *rc = mm_error_set(MM_ENOMEM, "out of memory");
    return s;
}

static int local_backend_build(mm_build_ctx *ctx, void **out) {
    mm_vis_backend *b = calloc(1, sizeof *b);
    if (!b)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = MM_OK;
    b->scalar_file = dup_arg(ctx, "scalar_save_file", &rc);
    b->config_file = dup_arg(ctx, "config_save_file", &rc);
    b->save_dir = dup_arg(ctx, "save_dir", &rc);
    for (const char *f = b->scalar_file; !rc && f && *f; f++)
        if (*f == '/')
            rc = mm_error_set_at(MM_EINVAL, mm_value_loc(mm_build_node(ctx)),
                                 "scalar_save_file must be a file name");
    if (!rc && (!b->scalar_file || !b->config_file))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (rc) {
        backend_destroy(b);
        return rc;
    }
    *out = b;
    return MM_OK;
}

static int visualizer_build(mm_build_ctx *ctx, void **out) {
    const mm_value *list = mm_build_arg(ctx, "vis_backends");
    size_t n = mm_value_is_list(list) ? mm_value_len(list) : 0;
    mm_vis *v = calloc(1, sizeof *v);
    if (!v || !(v->backends = calloc(n ? n : 1, sizeof *v->backends))) {
        free(v);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    int rc = MM_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        void *b = NULL;
        rc = mm_build_child_at(ctx, "vis_backends", i, &b);
        if (!rc && b) {
            v->backends[v->n++] = *(mm_vis_backend *)b;
            free(b); /* the fields moved into the array */
        }
    }
    if (rc) {
        mm_vis_free(v);
        return rc;
    }
    *out = v;
    return MM_OK;
}

static const mm_param local_params[] = {
    {.name = "save_dir",
     .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null",
     .doc = "where files go (default: <log_dir>/vis_data)"},
    {.name = "img_save_dir",
     .type = MM_PARAM_STRING,
     .def = "vis_image",
     .doc = "accepted for mmengine configs (images are not drawn yet)"},
    {.name = "config_save_file",
     .type = MM_PARAM_STRING,
     .def = "config.yaml",
     .doc = "the config dump's file name"},
    {.name = "scalar_save_file",
     .type = MM_PARAM_STRING,
     .def = "scalars.json",
     .doc = "the scalars' file name (JSON lines)"},
};

static const mm_param visualizer_params[] = {
    {.name = "name",
     .type = MM_PARAM_STRING,
     .def = "visualizer",
     .doc = "accepted for mmengine configs"},
    {.name = "vis_backends",
     .type = MM_PARAM_COMPONENT_LIST | MM_PARAM_NULL,
     .kind = MM_VIS_BACKENDS,
     .def = "null",
     .doc = "where scalars and configs go"},
    {.name = "save_dir",
     .type = MM_PARAM_STRING | MM_PARAM_NULL,
     .def = "null",
     .doc = "accepted for mmengine configs (the runner's log dir is used)"},
    {.name = "image",
     .type = MM_PARAM_NULL,
     .def = "null",
     .doc = "accepted for mmengine configs"},
    {.name = "fig_save_cfg",
     .type = MM_PARAM_DICT,
     .def = "{}",
     .doc = "accepted for mmengine configs"},
    {.name = "fig_show_cfg",
     .type = MM_PARAM_DICT,
     .def = "{}",
     .doc = "accepted for mmengine configs"},
};

static const mm_component vis_components[] = {
    {.kind = MM_VIS_BACKENDS,
     .name = "LocalVisBackend",
     .doc = "scalars as JSON lines and the config, in <log_dir>/vis_data",
     .params = local_params,
     .n_params = 4,
     .build = local_backend_build,
     .destroy = backend_destroy},
    {.kind = MM_VISUALIZERS,
     .name = "Visualizer",
     .doc = "hands scalars and configs to its vis backends",
     .params = visualizer_params,
     .n_params = 6,
     .build = visualizer_build,
     .destroy = vis_destroy},
};

int mm_vis_register(void) {
    for (size_t i = 0; i < 2; i++) {
        int rc = mm_register(&vis_components[i]);
        if (rc)
            return rc;
    }
    return MM_OK;
}
