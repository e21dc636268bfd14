/* Test plugin `datatest`: a small dataset class and transforms that drop,
 * fail, draw random numbers and make tensors, for the data suite. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <mm/data.h>
#include <mm/plugin.h>
#include <mm/registry.h>
#include <mm/tensor.h>

/* ---- Toy: sample i is {x: i, gt_label: labels[i] or i % 3} --------------- */

static int toy_load(mm_dataset *ds) {
    const mm_value *node = mm_dataset_node(ds);
    const mm_value *labels = mm_value_dict_get(node, "labels");
    int64_t n = mm_value_is_list(labels)
                    ? (int64_t)mm_value_len(labels)
                    : mm_value_get_int(mm_value_dict_get(node, "n"));
    mm_value *list = mm_value_new_list();
    if (!list)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        mm_value *item = mm_value_new_dict();
        mm_value *label =
            mm_value_is_list(labels)
                ? mm_value_copy(mm_value_list_get(labels, (size_t)i))
                : mm_value_new_int(i % 3);
        if (mm_value_dict_set_take(item, "x", mm_value_new_int(i)) ||
            mm_value_dict_set_take(item, "gt_label", label) ||
            mm_value_list_append_take(list, item)) {
            mm_value_release(list);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
    }
    mm_dataset_set_data_list(ds, list);
    return MM_OK;
}

static const mm_dataset_class toy_class = {
    .name = "Toy",
    .metainfo = "{classes: [a, b, c], palette: [1, 2]}",
    .load = toy_load,
};

static int toy_build(mm_build_ctx *ctx, void **out) {
    return mm_dataset_from_build(ctx, &toy_class, 0, (mm_dataset **)out);
}

static const mm_param toy_params[] = {
    MM_DATASET_BASE_PARAMS,
    {.name = "n", .type = MM_PARAM_INT, .def = "10", .doc = "samples"},
    {.name = "labels",
     .type = MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "gt_label of each sample (an int or a list of ints)"},
};

/* ---- transforms ------------------------------------------------------------
 */

typedef struct tf {
    mm_transform base;
    mm_value *x; /* the parameter, retained */
} tf;

static void tf_destroy(mm_transform *t) {
    mm_value_release(((tf *)t)->x);
    free(t);
}

static int64_t sample_x(const mm_value *results) {
    return mm_value_get_int(mm_value_dict_get(results, "x"));
}

/* DropIf: drop samples whose x is listed. */
static int drop_apply(mm_transform *t, mm_value *results) {
    const mm_value *xs = ((tf *)t)->x;
    for (size_t i = 0; i < mm_value_len(xs); i++)
        if (mm_value_get_int(mm_value_list_get(xs, i)) == sample_x(results))
            return MM_TRANSFORM_DROP;
    return MM_OK;
}

/* FailIf: an error on the sample with this x. */
static int fail_apply(mm_transform *t, mm_value *results) {
    if (mm_value_get_int(((tf *)t)->x) == sample_x(results))
        return mm_error_set(MM_EIO, "cannot read sample x=%lld",
                            (long long)sample_x(results));
    return MM_OK;
}

/* RandomAdd: r, a uniform draw from the data generator. */
static int random_apply(mm_transform *t, mm_value *results) {
    (void)t;
    mm_pool *pool;
    mm_tensor *r;
    double v;
    MM_TRY(mm_pool_open(&pool));
    int rc = mm_rand(1, (int64_t[]){1}, MM_F64, mm_data_generator(), &r);
    if (!rc)
        rc = mm_tensor_item(r, &v);
    mm_pool_close(pool);
    if (!rc)
        rc = mm_value_dict_set_take(results, "r", mm_value_new_float(v));
    return rc;
}

/* ToTensor: img = [x, r] as f32. */
static int tensor_apply(mm_transform *t, mm_value *results) {
    (void)t;
    const mm_value *r = mm_value_dict_get(results, "r");
    float data[2] = {(float)sample_x(results),
                     r ? (float)mm_value_get_float(r) : 0.0f};
    mm_tensor *img;
    MM_TRY(mm_from_data(data, 1, (int64_t[]){2}, MM_F32, &img));
    mm_value *v = mm_tensor_to_value(img);
    if (mm_pool_depth() == 0) /* no pool: we own the reference */
        mm_tensor_release(img);
    return mm_value_dict_set_take(results, "img", v);
}

/* ThreadTag: the thread that ran the pipeline. */
static int thread_apply(mm_transform *t, mm_value *results) {
    (void)t;
    return mm_value_dict_set_take(results, "tid",
                                  mm_value_new_int((int64_t)pthread_self()));
}

static const mm_transform_class drop_class = {"DropIf", drop_apply, tf_destroy};
static const mm_transform_class fail_class = {"FailIf", fail_apply, tf_destroy};
static const mm_transform_class random_class = {"RandomAdd", random_apply,
                                                tf_destroy};
static const mm_transform_class tensor_class = {"ToTensor", tensor_apply,
                                                tf_destroy};
static const mm_transform_class thread_class = {"ThreadTag", thread_apply,
                                                tf_destroy};

static int tf_build(mm_build_ctx *ctx, const mm_transform_class *cls,
                    void **out) {
    tf *t = calloc(1, sizeof *t);
    if (!t)
        return mm_error_set(MM_ENOMEM, "out of memory");
    t->base.cls = cls;
    t->x = mm_value_retain((mm_value *)mm_build_arg(ctx, "x"));
    *out = t;
    return MM_OK;
}

static int drop_build(mm_build_ctx *c, void **o) {
    return tf_build(c, &drop_class, o);
}
static int fail_build(mm_build_ctx *c, void **o) {
    return tf_build(c, &fail_class, o);
}
static int random_build(mm_build_ctx *c, void **o) {
    return tf_build(c, &random_class, o);
}
static int tensor_build(mm_build_ctx *c, void **o) {
    return tf_build(c, &tensor_class, o);
}
static int thread_build(mm_build_ctx *c, void **o) {
    return tf_build(c, &thread_class, o);
}

static void tf_free(void *t) { mm_transform_free(t); }

static const mm_param drop_params[] = {
    {.name = "x",
     .type = MM_PARAM_LIST,
     .required = true,
     .doc = "x of the samples to drop"},
};
static const mm_param fail_params[] = {
    {.name = "x",
     .type = MM_PARAM_INT,
     .required = true,
     .doc = "x of the sample that fails"},
};

static const mm_component components[] = {
    {.kind = MM_DATASETS,
     .name = "Toy",
     .doc = "samples {x: i, gt_label}",
     .params = toy_params,
     .n_params = sizeof toy_params / sizeof toy_params[0],
     .build = toy_build,
     .destroy = mm_dataset_destroy},
    {.kind = MM_TRANSFORMS,
     .name = "DropIf",
     .doc = "drop listed samples",
     .params = drop_params,
     .n_params = 1,
     .build = drop_build,
     .destroy = tf_free},
    {.kind = MM_TRANSFORMS,
     .name = "FailIf",
     .doc = "fail on one sample",
     .params = fail_params,
     .n_params = 1,
     .build = fail_build,
     .destroy = tf_free},
    {.kind = MM_TRANSFORMS,
     .name = "RandomAdd",
     .doc = "r: a uniform draw",
     .build = random_build,
     .destroy = tf_free},
    {.kind = MM_TRANSFORMS,
     .name = "ToTensor",
     .doc = "img: [x, r] f32",
     .build = tensor_build,
     .destroy = tf_free},
    {.kind = MM_TRANSFORMS,
     .name = "ThreadTag",
     .doc = "tid: the thread",
     .build = thread_build,
     .destroy = tf_free},
};

static int datatest_init(void) {
    return mm_register_all(components,
                           sizeof components / sizeof components[0]);
}

MM_PLUGIN_DEFINE(datatest, "0.1.0", "Apache-2.0", "data suite test components",
                 NULL, datatest_init)
