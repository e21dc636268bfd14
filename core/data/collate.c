/* mmengine's collate functions on mm_value samples.
 *
 * pseudo_collate transposes: a list of dicts becomes a dict of lists, a list
 * of equal-length lists a list of lists, anything else stays a list.
 * default_collate does the same and then stacks what torch's default_collate
 * stacks: tensors (torch.stack) and numbers (ints to i64, floats to f64,
 * bools to bool). A data sample - the dict under `data_samples`, which is a
 * BaseDataElement in mmengine and never a Mapping - is kept whole in both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "mm/tensor.h"
#include "strbuf.h"

/* Key path of the part being collated, for messages ("inputs", "gt[1]"). */
typedef struct keypath {
    char text[256];
} keypath;

static void path_extend(keypath *out, const keypath *in, const char *key,
                        long index) {
    char tail[64];
    if (!key)
        snprintf(tail, sizeof tail, "[%ld]", index);
    mm_strbuf sb = {0};
    mm_strbuf_printf(&sb, "%s%s%s", in->text, key && in->text[0] ? "." : "",
                     key ? key : tail);
    size_t n = sb.len < sizeof out->text ? sb.len : sizeof out->text - 1;
    if (sb.data) /* a long path is cut, not lost */
        memcpy(out->text, sb.data, n);
    out->text[sb.data ? n : 0] = '\0';
    mm_strbuf_free(&sb);
}

static int collate_err(int code, const char *fn, const keypath *p,
                       const char *fmt, const char *detail) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    return mm_error_set(code, "%s: %s%s%s", fn, p->text, p->text[0] ? ": " : "",
                        msg);
}

/* The items as a list (each retained): what both collates do with strings,
 * data samples and, in pseudo_collate, everything that is not a container. */
static int as_list(mm_value *const *items, size_t n, mm_value **out) {
    mm_value *list = mm_value_new_list();
    if (!list)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (mm_value_list_append(list, items[i])) {
            mm_value_release(list);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
    *out = list;
    return MM_OK;
}

static int stack_tensors(mm_value *const *items, size_t n, const keypath *p,
                         mm_value **out) {
    mm_tensor **ts = malloc(n * sizeof *ts);
    if (!ts)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        ts[i] = mm_tensor_from_value(items[i]);
        if (!ts[i]) {
            free(ts);
            char what[32];
            snprintf(what, sizeof what, "%zu", i);
            return collate_err(MM_ETYPE, "default_collate", p,
                               "sample %s is not a tensor like sample 0", what);
        }
    }
    /* A pool of our own, so the stacked tensor lives in the value alone. */
    mm_pool *pool;
    mm_tensor *stacked;
    int rc = mm_pool_open(&pool);
    if (rc) {
        free(ts);
        return rc;
    }
    rc = mm_stack((int)n, ts, 0, &stacked);
    free(ts);
    if (rc) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", mm_error_message());
        mm_pool_close(pool);
        return collate_err(rc, "default_collate", p, "%s", msg);
    }
    mm_value *v = mm_tensor_to_value(stacked);
    mm_pool_close(pool);
    if (!v)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *out = v;
    return MM_OK;
}

/* torch's default_collate on numbers: torch.tensor(batch), float64 when the
 * first is a float; a list of ints and floats gives float32 as
 * torch.tensor infers it. */
static int stack_numbers(mm_value *const *items, size_t n, const keypath *p,
                         mm_value **out) {
    bool any_float = false, any_int = false;
    for (size_t i = 0; i < n; i++) {
        mm_value_type t = mm_value_type_of(items[i]);
        if (t != MM_VALUE_INT && t != MM_VALUE_FLOAT && t != MM_VALUE_BOOL) {
            char what[64];
            snprintf(what, sizeof what, "%zu is %s", i, mm_value_type_name(t));
            return collate_err(MM_ETYPE, "default_collate", p,
                               "sample %s, not a number like sample 0", what);
        }
        any_float |= t == MM_VALUE_FLOAT;
        any_int |= t == MM_VALUE_INT;
    }
    mm_dtype dt = mm_value_is_float(items[0]) ? MM_F64
                  : any_float                 ? MM_F32
                  : any_int                   ? MM_I64
                                              : MM_BOOL;
    mm_pool *pool;
    mm_tensor *t;
    int64_t len = (int64_t)n;
    MM_TRY(mm_pool_open(&pool));
    int rc = mm_empty(1, &len, dt, &t);
    for (size_t i = 0; !rc && i < n; i++) {
        const mm_value *v = items[i];
        if (dt == MM_I64 || dt == MM_BOOL) {
            int64_t x = mm_value_is_bool(v) ? mm_value_get_bool(v)
                                            : mm_value_get_int(v);
            if (dt == MM_I64)
                MM_DATA(t, int64_t)[i] = x;
            else
                MM_DATA(t, bool)[i] = x != 0;
        } else {
            double x = mm_value_is_bool(v)  ? mm_value_get_bool(v)
                       : mm_value_is_int(v) ? (double)mm_value_get_int(v)
                                            : mm_value_get_float(v);
            if (dt == MM_F64)
                MM_DATA(t, double)[i] = x;
            else
                MM_DATA(t, float)[i] = (float)x;
        }
    }
    mm_value *v = rc ? NULL : mm_tensor_to_value(t);
    mm_pool_close(pool);
    if (rc)
        return rc;
    if (!v)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *out = v;
    return MM_OK;
}

static int collate(mm_value *const *items, size_t n, bool stack,
                   const keypath *p, mm_value **out);

static int collate_lists(mm_value *const *items, size_t n, bool stack,
                         const keypath *p, mm_value **out) {
    const char *fn = stack ? "default_collate" : "pseudo_collate";
    size_t len = mm_value_len(items[0]);
    for (size_t i = 1; i < n; i++)
        if (!mm_value_is_list(items[i]) || mm_value_len(items[i]) != len)
            return collate_err(MM_EINVAL, fn, p, "%s",
                               "each element in list of batch should be of "
                               "equal size");
    mm_value *list = mm_value_new_list();
    mm_value **column = malloc(n * sizeof *column);
    int rc = list && column ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t j = 0; !rc && j < len; j++) {
        keypath sub;
        path_extend(&sub, p, NULL, (long)j);
        for (size_t i = 0; i < n; i++)
            column[i] = mm_value_list_get(items[i], j);
        mm_value *c;
        rc = collate(column, n, stack, &sub, &c);
        if (!rc && mm_value_list_append_take(list, c))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    free(column);
    if (rc) {
        mm_value_release(list);
        return rc;
    }
    *out = list;
    return MM_OK;
}

static int collate_dicts(mm_value *const *items, size_t n, bool stack,
                         const keypath *p, mm_value **out) {
    const char *fn = stack ? "default_collate" : "pseudo_collate";
    for (size_t i = 1; i < n; i++)
        if (!mm_value_is_dict(items[i])) {
            char what[64];
            snprintf(what, sizeof what, "%zu is %s", i,
                     mm_value_type_name(mm_value_type_of(items[i])));
            return collate_err(MM_ETYPE, fn, p,
                               "sample %s, not a dict like sample 0", what);
        }
    mm_value *dict = mm_value_new_dict();
    mm_value **column = malloc(n * sizeof *column);
    int rc = dict && column ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t k = 0; !rc && k < mm_value_len(items[0]); k++) {
        const char *key = mm_value_dict_key_at(items[0], k);
        keypath sub;
        path_extend(&sub, p, key, 0);
        for (size_t i = 0; !rc && i < n; i++) {
            column[i] = mm_value_dict_get(items[i], key);
            if (!column[i]) {
                char what[320];
                snprintf(what, sizeof what, "%zu has no key '%s'", i, key);
                rc = collate_err(MM_EINVAL, fn, p, "sample %s", what);
            }
        }
        mm_value *c = NULL;
        if (!rc)
            rc = strcmp(key, "data_samples") == 0
                     ? as_list(column, n, &c) /* data elements stay whole */
                     : collate(column, n, stack, &sub, &c);
        if (!rc && mm_value_dict_set_take(dict, key, c))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    free(column);
    if (rc) {
        mm_value_release(dict);
        return rc;
    }
    *out = dict;
    return MM_OK;
}

static int collate(mm_value *const *items, size_t n, bool stack,
                   const keypath *p, mm_value **out) {
    switch (mm_value_type_of(items[0])) {
    case MM_VALUE_LIST:
        return collate_lists(items, n, stack, p, out);
    case MM_VALUE_DICT:
        return collate_dicts(items, n, stack, p, out);
    case MM_VALUE_TENSOR:
        return stack ? stack_tensors(items, n, p, out) : as_list(items, n, out);
    case MM_VALUE_INT:
    case MM_VALUE_FLOAT:
    case MM_VALUE_BOOL:
        return stack ? stack_numbers(items, n, p, out) : as_list(items, n, out);
    case MM_VALUE_NULL:
        if (stack)
            return collate_err(MM_ETYPE, "default_collate", p, "%s",
                               "batch must contain tensors, numbers, dicts "
                               "or lists; found null");
        return as_list(items, n, out);
    default: /* strings */
        return as_list(items, n, out);
    }
}

static int collate_top(mm_value *const *samples, size_t n, bool stack,
                       mm_value **batch) {
    *batch = NULL;
    if (!n)
        return mm_error_set(MM_EINVAL, "%s: no samples to collate",
                            stack ? "default_collate" : "pseudo_collate");
    keypath root = {{0}};
    return collate(samples, n, stack, &root, batch);
}

int mm_pseudo_collate(mm_value *const *samples, size_t n, mm_value **batch) {
    return collate_top(samples, n, false, batch);
}

int mm_default_collate(mm_value *const *samples, size_t n, mm_value **batch) {
    return collate_top(samples, n, true, batch);
}

/* ---- COLLATE_FUNCTIONS ----------------------------------------------------
 */

static int pseudo_build(mm_build_ctx *ctx, void **out) {
    (void)ctx;
    *out = (void *)mm_pseudo_collate;
    return MM_OK;
}

static int default_build(mm_build_ctx *ctx, void **out) {
    (void)ctx;
    *out = (void *)mm_default_collate;
    return MM_OK;
}

static const mm_component collates[] = {
    {.kind = MM_COLLATE_FUNCTIONS,
     .name = "pseudo_collate",
     .doc = "samples into a dict of lists, nothing stacked (mmengine's "
            "default)",
     .build = pseudo_build},
    {.kind = MM_COLLATE_FUNCTIONS,
     .name = "default_collate",
     .doc = "like pseudo_collate, and tensors and numbers stacked into "
            "tensors",
     .build = default_build},
};

int mm_data_register_collate(void) {
    return mm_register_all(collates, sizeof collates / sizeof collates[0]);
}
