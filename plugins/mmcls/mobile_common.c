/* Shared pieces of the VGG, MobileNet and ShuffleNet backbones (see
 * mobile.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mm/autograd.h>

#include "mobile.h"

int64_t mobile_make_divisible(double value, int64_t divisor, int64_t min_value,
                              double min_ratio) {
    if (min_value <= 0)
        min_value = divisor;
    /* int(value + divisor / 2) // divisor * divisor, as Python computes it
     * for the non-negative channel counts used here */
    int64_t v = (int64_t)(value + (double)divisor / 2.0) / divisor * divisor;
    if (v < min_value)
        v = min_value;
    if ((double)v < min_ratio * value)
        v += divisor;
    return v;
}

mm_value *mobile_type_cfg(const char *type) {
    mm_value *d = mm_value_new_dict();
    if (d && mm_value_dict_set_take(d, "type", mm_value_new_string(type))) {
        mm_value_release(d);
        return NULL;
    }
    return d;
}

static int set_take(mm_value *d, const char *key, mm_value *v) {
    return !v || mm_value_dict_set_take(d, key, v)
               ? mm_error_set(MM_ENOMEM, "out of memory")
               : MM_OK;
}

/* d[key] = a copy of v, or null for NULL. */
static int set_cfg(mm_value *d, const char *key, const mm_value *v) {
    return set_take(d, key, v ? mm_value_copy(v) : mm_value_new_null());
}

int mobile_conv_module(int64_t in, int64_t out, int64_t k, int64_t stride,
                       int64_t padding, int64_t dilation, int64_t groups,
                       int bias, const mm_value *conv_cfg,
                       const mm_value *norm_cfg, const mm_value *act_cfg,
                       mm_module **m) {
    *m = NULL;
    mm_value *d = mobile_type_cfg("mm.ConvModule");
    if (!d)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = set_take(d, "in_channels", mm_value_new_int(in));
    if (!rc)
        rc = set_take(d, "out_channels", mm_value_new_int(out));
    if (!rc)
        rc = set_take(d, "kernel_size", mm_value_new_int(k));
    if (!rc)
        rc = set_take(d, "stride", mm_value_new_int(stride));
    if (!rc)
        rc = set_take(d, "padding", mm_value_new_int(padding));
    if (!rc)
        rc = set_take(d, "dilation", mm_value_new_int(dilation));
    if (!rc)
        rc = set_take(d, "groups", mm_value_new_int(groups));
    if (!rc)
        rc = set_take(d, "bias", bias < 0 ? mm_value_new_string("auto")
                                          : mm_value_new_bool(bias != 0));
    if (!rc && conv_cfg && !mm_value_is_null(conv_cfg))
        rc = set_cfg(d, "conv_cfg", conv_cfg);
    if (!rc)
        rc = set_cfg(d, "norm_cfg", norm_cfg);
    if (!rc)
        rc = set_cfg(d, "act_cfg", act_cfg);
    if (!rc)
        rc = mm_conv_module_new(d, m);
    mm_value_release(d);
    return rc;
}

int mobile_out_indices(mm_build_ctx *ctx, const char *param, int n_stages,
                       bool mask[MOBILE_MAX_STAGES]) {
    const mm_value *v = mm_build_arg(ctx, param);
    memset(mask, 0, MOBILE_MAX_STAGES * sizeof mask[0]);
    size_t n = mm_value_is_list(v) ? mm_value_len(v) : 1;
    if (n == 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: names no stage (the backbone would have "
                               "no output)", param);
    for (size_t i = 0; i < n; i++) {
        const mm_value *e = mm_value_is_list(v) ? mm_value_list_get(v, i) : v;
        if (!mm_value_is_int(e))
            return mm_error_set_at(MM_ETYPE, mm_value_loc(e),
                                   "%s: expected a list of ints", param);
        int64_t k = mm_value_get_int(e);
        if (k < 0 || k >= n_stages)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s: each item must be in range(0, %d), "
                                   "got %lld",
                                   param, n_stages, (long long)k);
        mask[k] = true;
    }
    return MM_OK;
}

int mobile_frozen_stages(mm_build_ctx *ctx, int lo, int hi, int *out) {
    int64_t f;
    MM_TRY(mm_build_int(ctx, "frozen_stages", &f));
    if (f < lo || f > hi)
        return mm_error_set_at(MM_EINVAL,
                               mm_value_loc(mm_build_arg(ctx, "frozen_stages")),
                               "frozen_stages: must be in range(%d, %d), got "
                               "%lld", lo, hi + 1, (long long)f);
    *out = (int)f;
    return MM_OK;
}

static bool is_pretrained(const mm_value *d) {
    const mm_value *t = mm_value_is_dict(d) ? mm_value_dict_get(d, "type")
                                            : NULL;
    return t && mm_value_is_string(t) &&
           strcmp(mm_value_get_string(t), "Pretrained") == 0;
}

int mobile_check_init_cfg(mm_build_ctx *ctx, const char *backbone) {
    const mm_value *ic = mm_build_arg(ctx, "init_cfg");
    if (mm_value_is_null(ic) || is_pretrained(ic))
        return MM_OK;
    size_t n = mm_value_is_list(ic) ? mm_value_len(ic) : 1;
    for (size_t i = 0; i < n; i++) {
        const mm_value *e = mm_value_is_list(ic) ? mm_value_list_get(ic, i)
                                                 : ic;
        if (!is_pretrained(e))
            return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(e),
                                   "init_cfg: only type Pretrained is "
                                   "supported for %s (leave it out for "
                                   "mmpretrain's default initialisation)",
                                   backbone);
    }
    return MM_OK;
}

static int freeze_one(const char *name, mm_tensor *t, void *user) {
    (void)name, (void)user;
    return mm_tensor_set_requires_grad(t, false);
}

int mobile_freeze(mm_module *m) {
    return mm_module_named_parameters(m, freeze_one, NULL);
}

void mobile_norm_eval(mm_module *m) {
    if (mm_module_is_batch_norm(m))
        m->training = false;
    for (size_t i = 0; i < m->n_children; i++)
        mobile_norm_eval(m->children[i].module);
}

int mobile_output(int *n_out, int cap, mm_tensor **outs, mm_tensor *x) {
    if (*n_out >= cap)
        return mm_error_set(MM_EINVAL,
                            "out_indices names more stages than the caller "
                            "takes (%d)", cap);
    outs[(*n_out)++] = x;
    return MM_OK;
}

/* ---- rename tables ------------------------------------------------------ */

int mobile_rename(mobile_renames *r, const char *from, const char *to) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        char **f = realloc(r->from, cap * sizeof *f);
        if (!f)
            return mm_error_set(MM_ENOMEM, "out of memory");
        r->from = f;
        char **t = realloc(r->to, cap * sizeof *t);
        if (!t)
            return mm_error_set(MM_ENOMEM, "out of memory");
        r->to = t;
        r->cap = cap;
    }
    char *a = strdup(from), *b = strdup(to);
    if (!a || !b) {
        free(a);
        free(b);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    r->from[r->n] = a;
    r->to[r->n++] = b;
    return MM_OK;
}

void mobile_renames_free(mobile_renames *r) {
    for (size_t i = 0; i < r->n; i++) {
        free(r->from[i]);
        free(r->to[i]);
    }
    free(r->from);
    free(r->to);
    memset(r, 0, sizeof *r);
}

int mobile_renames_apply(const mobile_renames *r, const mm_state_dict *in,
                         mm_state_dict *out) {
    for (size_t i = 0; i < in->n; i++) {
        const char *key = in->items[i].name;
        const char *dot = strrchr(key, '.');
        size_t plen = dot ? (size_t)(dot - key) : 0;
        size_t j = 0;
        for (; dot && j < r->n; j++)
            if (strlen(r->from[j]) == plen &&
                memcmp(r->from[j], key, plen) == 0)
                break;
        if (!dot || j == r->n)
            return mm_error_set(MM_EINVAL,
                                "unknown key '%s' (not part of the "
                                "architecture this map covers)", key);
        char name[512];
        int len = snprintf(name, sizeof name, "%s%s", r->to[j], dot);
        if (len < 0 || (size_t)len >= sizeof name)
            return mm_error_set(MM_EINVAL, "key '%s' is too long", key);
        MM_TRY(mm_state_dict_add(out, name, in->items[i].tensor));
    }
    return MM_OK;
}

bool mobile_has_prefix(const mm_state_dict *in, const char *prefix) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < in->n; i++)
        if (strncmp(in->items[i].name, prefix, n) == 0)
            return true;
    return false;
}
