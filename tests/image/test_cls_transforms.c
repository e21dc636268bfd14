/* mmpretrain's own transforms in the mmcls plugin (RandomResizedCrop,
 * ResizeEdge, RandomErasing, ColorJitter, RandomCrop, EfficientNetCenterCrop)
 * and the core Resize with backend pillow against mmpretrain 1.2.0: every
 * recorded case of tools/parity/transforms_mmpretrain.py (which feeds
 * mmpretrain mm's random stream) is rebuilt from its config and run after
 * mm_manual_seed(seed): the same number of draws, the same results keys and
 * values, and the same pixels (within cv2's one level where a resize is
 * involved). Then the behaviours the recording cannot show: determinism
 * under the dataloader's generator, the distribution of crops, and the
 * configuration errors. */
#include <stdlib.h>

#include "image_testing.h"

static void setup(void) {
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/mmcls.so", dir ? dir : "plugins");
    if (mm_plugin_load_file(path)) {
        fprintf(stderr, "loading %s: %s\n", path, mm_error_message());
        exit(1);
    }
}

static mm_transform *build_node(const mm_value *node) {
    void *obj = NULL;
    if (mm_registry_build(MM_TRANSFORMS, node, "mmcls", "pipeline.0", NULL,
                          &obj))
        return NULL;
    return obj;
}

static int build_yaml(const char *text, mm_transform **out) {
    mm_value *v = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(text, strlen(text), "cfg.yaml", &v);
    if (!rc)
        rc = mm_registry_build(MM_TRANSFORMS, v, "mmcls", "pipeline.0", NULL,
                               (void **)out);
    mm_value_release(v);
    return rc;
}

/* got ~ want: numbers within rtol, the rest equal. */
static bool value_close(const mm_value *got, const mm_value *want) {
    if (!got || !want)
        return got == want;
    if (mm_value_is_number(want))
        return mm_value_is_number(got) &&
               fabs(mm_value_get_float(got) - mm_value_get_float(want)) <=
                   1e-9 * fmax(1, fabs(mm_value_get_float(want)));
    if (mm_value_is_list(want)) {
        if (!mm_value_is_list(got) || mm_value_len(got) != mm_value_len(want))
            return false;
        for (size_t i = 0; i < mm_value_len(want); i++)
            if (!value_close(mm_value_list_get(got, i),
                             mm_value_list_get(want, i)))
                return false;
        return true;
    }
    return mm_value_equal(got, want);
}

/* A cv2 resize in the pipeline: u8 within one level of cv2 (its SIMD and
 * scalar paths round differently, docs/transforms.md); Pillow's
 * resampling is integer arithmetic, reproduced exactly. */
static bool has_resize(const mm_value *pipeline) {
    for (size_t i = 0; i < mm_value_len(pipeline); i++) {
        const mm_value *step = mm_value_list_get(pipeline, i);
        const mm_value *b = mm_value_dict_get(step, "backend");
        if (b && !strcmp(mm_value_get_string(b), "pillow"))
            continue;
        const char *t = mm_value_get_string(mm_value_dict_get(step, "type"));
        if (!strcmp(t, "RandomResizedCrop") || !strcmp(t, "ResizeEdge") ||
            !strcmp(t, "EfficientNetCenterCrop"))
            return true;
    }
    return false;
}

static void run_case(const mm_value *c) {
    const char *name = mm_value_get_string(mm_value_dict_get(c, "name"));
    const char *file = mm_value_get_string(mm_value_dict_get(c, "file"));
    const mm_value *pipeline = mm_value_dict_get(c, "pipeline");
    char path[512];
    mm_value *results = mm_value_new_dict();
    mm_value_dict_set_take(results, "img_path",
                           mm_value_new_string(fixture(file, path, 512)));
    /* LoadImageFromFile with the recorded options */
    mm_value *load = mm_value_copy(mm_value_dict_get(c, "load"));
    mm_value_dict_set_take(load, "type",
                           mm_value_new_string("LoadImageFromFile"));
    mm_transform *t = build_node(load);
    int rc = t ? mm_transform_apply(t, results) : MM_EINVAL;
    mm_transform_free(t);
    mm_value_release(load);
    mm_manual_seed((uint64_t)mm_value_get_int(mm_value_dict_get(c, "seed")));
    for (size_t i = 0; !rc && i < mm_value_len(pipeline); i++) {
        t = build_node(mm_value_list_get(pipeline, i));
        rc = t ? mm_transform_apply(t, results) : MM_EINVAL;
        mm_transform_free(t);
    }
    if (rc) {
        fprintf(stderr, "  %s: %s\n", name, mm_error_message());
        mm_test_failures++;
        mm_value_release(results);
        return;
    }
    uint64_t draws = mm_generator_get_state(NULL).offset;
    if ((int64_t)draws != mm_value_get_int(mm_value_dict_get(c, "draws"))) {
        fprintf(stderr, "  %s: %llu draws, mmpretrain %lld\n", name,
                (unsigned long long)draws,
                (long long)mm_value_get_int(mm_value_dict_get(c, "draws")));
        mm_test_failures++;
    }
    const mm_value *keys = mm_value_dict_get(c, "keys");
    bool same = mm_value_len(keys) == mm_value_len(results);
    for (size_t i = 0; i < mm_value_len(keys); i++)
        same &= mm_value_dict_get(results, mm_value_get_string(
                                               mm_value_list_get(keys, i))) !=
                NULL;
    if (!same) {
        fprintf(stderr, "  %s: keys differ from mmpretrain's\n", name);
        mm_test_failures++;
    }
    const mm_value *meta = mm_value_dict_get(c, "meta");
    for (size_t i = 0; i < mm_value_len(meta); i++) {
        const char *k = mm_value_dict_key_at(meta, i);
        if (!value_close(mm_value_dict_get(results, k),
                         mm_value_dict_value_at(meta, i))) {
            fprintf(stderr, "  %s: %s differs from mmpretrain's\n", name, k);
            mm_test_failures++;
        }
    }
    mm_tensor *img = mm_tensor_from_value(mm_value_dict_get(results, "img"));
    double mx = 0, mean = 0, tol = has_resize(pipeline) ? 1 : 0;
    if (!rec_compare(img, mm_value_dict_get(c, "img"), &mx, &mean) ||
        mx > tol) {
        fprintf(stderr, "  %s: img max diff %g (tol %g), mean %g\n", name, mx,
                tol, mean);
        mm_test_failures++;
    }
    mm_value_release(results);
}

static void run_cases(const char *prefix, int at_least) {
    const mm_value *cases = expected("pipelines");
    int n = 0;
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *name = mm_value_get_string(mm_value_dict_get(c, "name"));
        if (strncmp(name, prefix, strlen(prefix)))
            continue;
        run_case(c);
        n++;
    }
    CHECK(n >= at_least);
}

MM_TEST(random_resized_crop_matches_mmpretrain) { run_cases("rrc_", 10); }
MM_TEST(resize_edge_matches_mmpretrain) { run_cases("resize_edge_", 4); }
MM_TEST(random_crop_matches_mmpretrain) { run_cases("crop_", 10); }
/* the core Resize with backend pillow, against mmcv's */
MM_TEST(core_resize_with_pillow_backend_matches_mmcv) {
    run_cases("pillow_resize_", 3);
}
MM_TEST(efficientnet_center_crop_matches_mmpretrain) {
    run_cases("effnet_center", 3);
}
MM_TEST(random_erasing_matches_mmpretrain) { run_cases("erasing_", 7); }
MM_TEST(color_jitter_matches_mmpretrain_pillow) { run_cases("jitter_", 10); }

/* The same generator state gives the same crop, and a crop takes four draws
 * when its first try fits. */
MM_TEST(random_resized_crop_is_deterministic_per_generator) {
    mm_transform *t;
    CHECK_OK(build_yaml("{type: RandomResizedCrop, scale: 8}", &t));
    if (!t)
        return;
    mm_generator *g1, *g2;
    CHECK_OK(mm_generator_new(42, &g1));
    CHECK_OK(mm_generator_new(42, &g2));
    uint8_t a[64 * 3], b[64 * 3];
    for (int k = 0; k < 2; k++) {
        mm_data_set_generator(k ? g2 : g1);
        mm_value *r = mm_value_new_dict();
        mm_tensor *img = NULL;
        CHECK_OK(mm_empty(MM_SHAPE(50, 70, 3), MM_U8, &img));
        for (int64_t i = 0; img && i < img->numel; i++)
            MM_DATA(img, uint8_t)[i] = (uint8_t)(i * 7 % 251);
        mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
        mm_tensor_release(img);
        CHECK_OK(mm_transform_apply(t, r));
        mm_tensor *o = mm_tensor_from_value(mm_value_dict_get(r, "img"));
        memcpy(k ? b : a, MM_DATA(o, uint8_t), sizeof a);
        mm_value_release(r);
    }
    mm_data_set_generator(NULL);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK_INT(mm_generator_get_state(g1).offset, 4);
    mm_generator_free(g1);
    mm_generator_free(g2);
    mm_transform_free(t);
}

/* erase_prob is the chance of a patch (a half-area black patch on white). */
MM_TEST(random_erasing_erases_with_erase_prob) {
    mm_transform *t;
    CHECK_OK(build_yaml("{type: RandomErasing, erase_prob: 0.3, "
                        "fill_color: 0, min_area_ratio: 0.5, "
                        "max_area_ratio: 0.5}",
                        &t));
    if (!t)
        return;
    mm_manual_seed(7);
    int erased = 0;
    for (int i = 0; i < 1000; i++) {
        mm_value *r = mm_value_new_dict();
        mm_tensor *img = NULL;
        CHECK_OK(mm_full(MM_SHAPE(10, 10, 3), 255, MM_U8, &img));
        mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
        mm_tensor_release(img);
        CHECK_OK(mm_transform_apply(t, r));
        mm_tensor *o = mm_tensor_from_value(mm_value_dict_get(r, "img"));
        int zeros = 0;
        for (int64_t k = 0; k < o->numel; k++)
            zeros += MM_DATA(o, uint8_t)[k] == 0;
        erased += zeros > 0;
        mm_value_release(r);
    }
    /* binomial(1000, 0.3): sd 14.5, 5 sd */
    CHECK(abs(erased - 300) < 73);
    mm_transform_free(t);
}

MM_TEST(color_jitter_leaves_the_dataset_image_alone) {
    /* the transform works on a copy: a view into a dataset's memory (CIFAR)
     * must not change */
    mm_transform *t;
    CHECK_OK(build_yaml("{type: ColorJitter, brightness: [1.5, 1.5]}", &t));
    mm_tensor *img = NULL;
    CHECK_OK(mm_full(MM_SHAPE(4, 4, 3), 100, MM_U8, &img));
    mm_value *r = mm_value_new_dict();
    mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
    CHECK_OK(mm_transform_apply(t, r));
    mm_tensor *o = mm_tensor_from_value(mm_value_dict_get(r, "img"));
    CHECK_INT(MM_DATA(o, uint8_t)[5], 150);
    CHECK_INT(MM_DATA(img, uint8_t)[5], 100);
    mm_value_release(r);
    mm_tensor_release(img);
    mm_transform_free(t);
}

static void refused(const char *yaml, const char *want) {
    mm_transform *t = NULL;
    int rc = build_yaml(yaml, &t);
    CHECK(rc < 0);
    CHECK(t == NULL);
    const char *msg = mm_error_message();
    if (!strstr(msg, want))
        fprintf(stderr, "  message: %s\n  want: %s\n", msg, want);
    CHECK(strstr(msg, want) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    mm_transform_free(t);
}

MM_TEST(cls_transform_configuration_errors_are_one_line) {
    refused("{type: RandomResizedCrop, scale: 224, backend: pil}",
            "backend: 'pil' is not supported; use cv2 or pillow");
    refused("{type: ResizeEdge, scale: 224, backend: pillow, "
            "interpolation: nearest}",
            "interpolation: 'nearest' with backend pillow: bilinear, "
            "bicubic, box, hamming or lanczos (Pillow's nearest is not "
            "implemented)");
    refused("{type: RandomResizedCrop, scale: 224, interpolation: lanczos}",
            "interpolation");
    refused("{type: RandomResizedCrop, scale: 224, crop_ratio_range: [1.0, "
            "0.5]}",
            "range should be of kind (min, max)");
    refused("{type: RandomResizedCrop}", "scale");
    refused("{type: ResizeEdge, scale: 256, edge: longest}",
            "Invalid edge \"longest\", please specify from ['short', 'long', "
            "'width', 'height'].");
    refused("{type: RandomErasing, mode: noise}",
            "Please select `mode` from [\"const\", \"rand\"].");
    refused("{type: RandomErasing, min_area_ratio: 0.5, max_area_ratio: 0.1}",
            "min_area_ratio should be smaller than max_area_ratio");
    refused("{type: RandomErasing, fill_color: [1, 2]}",
            "fill_color should be a float or Sequence with three int.");
    refused("{type: ColorJitter, brightness: -0.1}",
            "If brightness is a single number, it must be non negative.");
    refused("{type: ColorJitter, hue: [0.1, 0.2, 0.3]}",
            "hue should be a single number or a list/tuple with length 2.");
    refused("{type: ColorJitter, brightness: 0.4, backend: cv2}",
            "backend: 'cv2' is not supported; ColorJitter implements "
            "Pillow's arithmetic");
}

MM_TEST(cls_transforms_refuse_images_they_cannot_take) {
    mm_transform *t;
    CHECK_OK(build_yaml("{type: ColorJitter, brightness: 0.4}", &t));
    mm_tensor *img = NULL;
    CHECK_OK(mm_zeros(MM_SHAPE(4, 4), MM_U8, &img));
    mm_value *r = mm_value_new_dict();
    mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
    CHECK_ERR(mm_transform_apply(t, r), MM_EINVAL,
              "ColorJitter: ColorJitter (Pillow backend) needs a u8 (H, W, 3) "
              "image, got tensor(u8, [4, 4])");
    mm_transform_free(t);
    CHECK_OK(build_yaml("{type: RandomErasing, erase_prob: 1.0}", &t));
    CHECK_ERR(mm_transform_apply(t, r), MM_EINVAL,
              "RandomErasing: RandomErasing fills 3 channels: img must be (H, "
              "W, 3), got tensor(u8, [4, 4])");
    mm_transform_free(t);
    CHECK_OK(build_yaml("{type: ResizeEdge, scale: 8, backend: pillow}", &t));
    mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
    mm_tensor *f = NULL;
    CHECK_OK(mm_zeros(MM_SHAPE(4, 4), MM_F32, &f));
    mm_value_dict_set_take(r, "img", mm_tensor_to_value(f));
    CHECK_ERR(mm_transform_apply(t, r), MM_EINVAL,
              "ResizeEdge: the pillow backend resizes u8 grey or 3-channel "
              "images (mmcv: 'Pillow backend only support uint8 type'), got "
              "tensor(f32, [4, 4])");
    mm_tensor_release(f);
    mm_transform_free(t);
    mm_value_dict_del(r, "img");
    CHECK_OK(build_yaml("{type: ResizeEdge, scale: 8}", &t));
    CHECK_ERR(mm_transform_apply(t, r), MM_EINVAL,
              "ResizeEdge: No `img` field in the input (load the image "
              "first)");
    mm_transform_free(t);
    mm_value_release(r);
    mm_tensor_release(img);
}

int main(int argc, char **argv) {
    setup();
    static const mm_test_case cases[] = {
        MM_CASE(random_resized_crop_matches_mmpretrain),
        MM_CASE(resize_edge_matches_mmpretrain),
        MM_CASE(random_crop_matches_mmpretrain),
        MM_CASE(core_resize_with_pillow_backend_matches_mmcv),
        MM_CASE(efficientnet_center_crop_matches_mmpretrain),
        MM_CASE(random_erasing_matches_mmpretrain),
        MM_CASE(color_jitter_matches_mmpretrain_pillow),
        MM_CASE(random_resized_crop_is_deterministic_per_generator),
        MM_CASE(random_erasing_erases_with_erase_prob),
        MM_CASE(color_jitter_leaves_the_dataset_image_alone),
        MM_CASE(cls_transform_configuration_errors_are_one_line),
        MM_CASE(cls_transforms_refuse_images_they_cannot_take),
    };
    int rc = mm_test_run(cases, sizeof cases / sizeof cases[0], argc, argv);
    expected_free();
    return rc;
}
