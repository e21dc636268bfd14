/* Shared by the test plugins: a builder that records what it built as an
 * mm_value dict ({"built": "scope.Name", <args>..., <children>...}), so
 * tests can check arguments, defaults and nested builds. */
#ifndef MM_TESTS_TESTCOMP_H
#define MM_TESTS_TESTCOMP_H

#include <mm/registry.h>

static int record_build(mm_build_ctx *ctx, void **out) {
    const mm_entry *e = mm_build_entry(ctx);
    const mm_component *c = e->component;
    mm_value *d = mm_value_new_dict();
    char name[128];
    int rc = MM_OK;
    snprintf(name, sizeof name, "%s.%s", e->scope, c->name);
    if (!d || mm_value_dict_set_take(d, "built", mm_value_new_string(name)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    mm_value_dict_set_take(d, "path", mm_value_new_string(mm_build_path(ctx)));
    for (size_t i = 0; !rc && i < c->n_params; i++) {
        const mm_param *p = &c->params[i];
        const mm_value *arg = mm_build_arg(ctx, p->name);
        if ((p->type & MM_PARAM_COMPONENT) && mm_value_is_dict(arg)) {
            void *child = NULL;
            rc = mm_build_child(ctx, p->name, &child);
            if (!rc)
                rc = mm_value_dict_set_take(d, p->name, child);
        } else if ((p->type & MM_PARAM_COMPONENT_LIST) && mm_value_is_list(arg)) {
            mm_value *list = mm_value_new_list();
            for (size_t j = 0; !rc && j < mm_value_len(arg); j++) {
                void *child = NULL;
                rc = mm_build_child_at(ctx, p->name, j, &child);
                if (!rc)
                    rc = mm_value_list_append_take(list, child);
            }
            if (!rc)
                rc = mm_value_dict_set(d, p->name, list);
            mm_value_release(list);
        } else {
            rc = mm_value_dict_set(d, p->name, (mm_value *)arg);
        }
    }
    if (rc) {
        mm_value_release(d);
        return rc;
    }
    *out = d;
    return MM_OK;
}

static void record_destroy(void *obj) { mm_value_release(obj); }

#endif
