/* The MODELS components of the nn layer and the builder helpers they share.
 * mm_nn_register runs once, from the core scope's registration
 * (registry/core.c). */
#include <string.h>

#include "nn_internal.h"

void nn_destroy(void *obj) { mm_module_free(obj); }

int nn_register_all(const mm_component *const *cs, size_t n) {
    for (size_t i = 0; i < n; i++)
        MM_TRY(mm_register(cs[i]));
    return MM_OK;
}

int nn_build_ints(mm_build_ctx *ctx, const char *param, int n, int64_t *out) {
    const mm_value *v = mm_build_arg(ctx, param);
    if (mm_value_is_int(v)) {
        for (int i = 0; i < n; i++)
            out[i] = mm_value_get_int(v);
        return MM_OK;
    }
    size_t len = mm_value_is_list(v) ? mm_value_len(v) : 0;
    if (!mm_value_is_list(v) || (len != (size_t)n && len != 1))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected an int or a list of %d ints",
                               param, n);
    for (int i = 0; i < n; i++) {
        const mm_value *e = mm_value_list_get(v, len == 1 ? 0 : (size_t)i);
        if (!mm_value_is_int(e))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s: expected an int or a list of %d ints",
                                   param, n);
        out[i] = mm_value_get_int(e);
    }
    return MM_OK;
}

int nn_build_opt_float(mm_build_ctx *ctx, const char *param, double *out,
                       bool *is_null) {
    const mm_value *v = mm_build_arg(ctx, param);
    *is_null = mm_value_is_null(v);
    if (*is_null)
        return MM_OK;
    return mm_build_float(ctx, param, out);
}

int mm_nn_register(void) {
    int (*const files[])(void) = {
        mm_nn_register_basic,      mm_nn_register_conv,
        mm_nn_register_norm,       mm_nn_register_pool,
        mm_nn_register_attention,  mm_nn_register_embedding,
        mm_nn_register_activation, mm_nn_register_conv_module,
        mm_nn_register_model};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        MM_TRY(files[i]());
    return MM_OK;
}
