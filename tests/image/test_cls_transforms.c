/* mmpretrain's own transforms in the mmcls plugin (RandomResizedCrop,
 * ResizeEdge, RandomErasing, ColorJitter, RandomCrop, EfficientNetCenterCrop,
 * EfficientNetRandomCrop, Lighting)
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
            !strcmp(t, "EfficientNetCenterCrop") ||
            !strcmp(t, "EfficientNetRandomCrop"))
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
    /* Lighting's float32 output is not integral: the recording keeps 7
     * significant digits (lighting_pixels_follow_the_pca_formula checks
     * those pixels exactly) */
    if (!strncmp(name, "lighting_", 9) && img && img->dtype == MM_F32)
        tol = 1e-3;
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

MM_TEST(efficientnet_random_crop_matches_mmpretrain) {
    run_cases("effnet_rrc_", 7);
}
MM_TEST(lighting_matches_mmpretrain) { run_cases("lighting_", 5); }

/* chelsea.png through LoadImageFromFile, u8 or float32. */
static mm_value *load_chelsea(bool to_float32) {
    char path[512];
    mm_value *r = mm_value_new_dict();
    mm_value_dict_set_take(r, "img_path",
                           mm_value_new_string(fixture("chelsea.png", path,
                                                       sizeof path)));
    mm_transform *t = NULL;
    CHECK_OK(build_yaml(to_float32 ? "{type: LoadImageFromFile, "
                                     "to_float32: true}"
                                   : "{type: LoadImageFromFile}",
                        &t));
    if (t)
        CHECK_OK(mm_transform_apply(t, r));
    mm_transform_free(t);
    return r;
}

/* One u in [0, 1) of the data generator, as the transforms draw it (one
 * Philox block, 53 bits): the test replays the stream to pin alpha. */
static double test_draw(void) {
    uint64_t seed, ctr = mm_generator_reserve(mm_data_generator(), 1, &seed);
    uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, o[4];
    mm_philox4x32_10(c, k, o);
    uint64_t bits = ((uint64_t)(o[0] >> 5) << 26) | (o[1] >> 6);
    return (double)bits * (1.0 / 9007199254740992.0);
}

/* mmcv.adjust_lighting by its formula, with alpha taken from the replayed
 * stream: out = img[..., ::-1 if to_rgb] + sum_j eigvec[:, j] * alpha[j] *
 * eigval[j], cast back to the image's dtype (u8: truncate, wrap mod 256). */
static void lighting_formula_case(bool to_float32, bool to_rgb,
                                  double alphastd) {
    static const double val[3] = {0.2175, 0.0188, 0.0045};
    static const double vec[3][3] = {{-0.5836, -0.6948, 0.4203},
                                     {-0.5808, -0.0045, -0.814},
                                     {-0.5675, 0.7192, 0.4009}};
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "{type: Lighting, eigval: [0.2175, 0.0188, 0.0045], eigvec: "
             "[[-0.5836, -0.6948, 0.4203], [-0.5808, -0.0045, -0.814], "
             "[-0.5675, 0.7192, 0.4009]], alphastd: %.17g, to_rgb: %s}",
             alphastd, to_rgb ? "true" : "false");
    mm_transform *t = NULL;
    CHECK_OK(build_yaml(yaml, &t));
    mm_value *r = load_chelsea(to_float32);
    mm_tensor *in = mm_tensor_from_value(mm_value_dict_get(r, "img"));
    if (!t || !in) {
        mm_transform_free(t);
        mm_value_release(r);
        return;
    }
    mm_tensor_retain(in);
    mm_manual_seed(11);
    double alpha[3], alter[3];
    for (int j = 0; j < 3; j++) { /* numpy's normal as Box-Muller */
        double u1 = test_draw(), u2 = test_draw();
        alpha[j] = alphastd * sqrt(-2.0 * log(1.0 - u1)) *
                   cos(2.0 * M_PI * u2);
    }
    for (int c = 0; c < 3; c++)
        alter[c] = vec[c][0] * alpha[0] * val[0] +
                   vec[c][1] * alpha[1] * val[1] +
                   vec[c][2] * alpha[2] * val[2];
    mm_manual_seed(11);
    CHECK_OK(mm_transform_apply(t, r));
    CHECK_INT(mm_generator_get_state(NULL).offset, 6);
    mm_tensor *out = mm_tensor_from_value(mm_value_dict_get(r, "img"));
    CHECK(out && out->dtype == in->dtype && out->numel == in->numel);
    int64_t bad = 0, n = in->shape[0] * in->shape[1];
    for (int64_t i = 0; out && i < n; i++)
        for (int c = 0; c < 3; c++) {
            int64_t src = i * 3 + (to_rgb ? 2 - c : c), at = i * 3 + c;
            if (to_float32) {
                float want = (float)((double)MM_DATA(in, float)[src] +
                                     alter[c]);
                bad += MM_DATA(out, float)[at] != want;
            } else {
                double v = (double)MM_DATA(in, uint8_t)[src] + alter[c];
                uint8_t want = (uint8_t)((int64_t)trunc(v) & 0xff);
                bad += MM_DATA(out, uint8_t)[at] != want;
            }
        }
    CHECK_INT(bad, 0);
    mm_tensor_release(in);
    mm_transform_free(t);
    mm_value_release(r);
}

MM_TEST(lighting_pixels_follow_the_pca_formula) {
    lighting_formula_case(false, false, 25.5);
    lighting_formula_case(false, true, 25.5);
    lighting_formula_case(false, false, 2500.0); /* shifts past 0 and 255 */
    lighting_formula_case(true, true, 300.0);
}

/* With no attempt left (or none that fits) the crop is EfficientNet's centre
 * crop: the same pixels as EfficientNetCenterCrop of the same size. */
MM_TEST(efficientnet_random_crop_falls_back_to_the_center_crop) {
    static const char *cfg[] = {
        "{type: EfficientNetRandomCrop, scale: 20, crop_padding: 6, "
        "max_attempts: 0}",
        "{type: EfficientNetRandomCrop, scale: 20, crop_padding: 6, "
        "min_covered: 1.0}",
        "{type: EfficientNetCenterCrop, crop_size: 20, crop_padding: 6}",
    };
    mm_tensor *got[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        mm_transform *t = NULL;
        CHECK_OK(build_yaml(cfg[k], &t));
        mm_value *r = load_chelsea(false);
        mm_manual_seed(3);
        if (t)
            CHECK_OK(mm_transform_apply(t, r));
        /* min_covered 1.0: ten attempts of two draws, all refused */
        if (k < 2)
            CHECK_INT(mm_generator_get_state(NULL).offset, k ? 20 : 0);
        got[k] = mm_tensor_from_value(mm_value_dict_get(r, "img"));
        if (got[k])
            mm_tensor_retain(got[k]);
        mm_transform_free(t);
        mm_value_release(r);
    }
    for (int k = 0; k < 2; k++) {
        CHECK(got[k] && got[2] && got[k]->numel == 20 * 20 * 3);
        if (got[k] && got[2] && got[k]->numel == got[2]->numel)
            CHECK(memcmp(MM_DATA(got[k], uint8_t), MM_DATA(got[2], uint8_t),
                         (size_t)got[k]->numel) == 0);
    }
    for (int k = 0; k < 3; k++)
        mm_tensor_release(got[k]);
}

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
    refused("{type: EfficientNetRandomCrop, scale: [224, 200]}",
            "expects int for 'scale', got list");
    refused("{type: EfficientNetRandomCrop, scale: 224, min_covered: -0.1}",
            "min_covered should be no less than 0.");
    refused("{type: EfficientNetRandomCrop, scale: 224, crop_padding: -1}",
            "crop_padding should be no less than 0.");
    refused("{type: EfficientNetRandomCrop, scale: 224, aspect_ratio_range: "
            "[2.0, 1.0]}",
            "range should be of kind (min, max)");
    refused("{type: EfficientNetRandomCrop, scale: 224, backend: pil}",
            "backend: 'pil' is not supported; use cv2 or pillow");
    refused("{type: Lighting, eigval: [1, 2, 3]}", "eigvec");
    refused("{type: Lighting, eigval: [1, 2], eigvec: [[1, 2], [3, 4]]}",
            "eigvec: expected 3 rows (one per channel) of 2 numbers each");
    refused("{type: Lighting, eigval: [1, 2], eigvec: [[1, 2], [3, 4], [5]]}",
            "eigvec[2]: has 1 numbers but eigval has 2");
    refused("{type: Lighting, eigval: [1, x], eigvec: [[1, 2], [3, 4], [5, "
            "6]]}",
            "eigval[1]: expected a number");
    refused("{type: Lighting, eigval: [1], eigvec: [[1], [2], [3]], "
            "alphastd: -1.0}",
            "alphastd: must be a finite number >= 0");
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

/* keep_ratio on a 1x1000 image gives a height of 0: refused as cv2 and
 * Pillow refuse it, not resized out of bounds. */
MM_TEST(pillow_resize_to_an_empty_size_is_refused) {
    mm_transform *t;
    CHECK_OK(build_yaml("{type: Resize, scale: [224, 224], keep_ratio: true, "
                        "backend: pillow}",
                        &t));
    mm_tensor *img = NULL;
    CHECK_OK(mm_zeros(MM_SHAPE(1, 1000, 3), MM_U8, &img));
    mm_value *r = mm_value_new_dict();
    mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
    mm_tensor_release(img);
    CHECK_ERR(mm_transform_apply(t, r), MM_EINVAL,
              "Resize: resize: cannot resize 1000x1 to 224x0");
    mm_transform_free(t);
    mm_value_release(r);
    CHECK_OK(mm_zeros(MM_SHAPE(4, 4), MM_U8, &img));
    mm_tensor *y = NULL;
    CHECK_ERR(mm_image_resize_pillow(img, 0, 3, MM_PIL_BILINEAR, &y),
              MM_EINVAL, "resize: cannot resize 4x4 to 0x3");
    CHECK(y == NULL);
    mm_tensor_release(img);
}

int main(int argc, char **argv) {
    setup();
    static const mm_test_case cases[] = {
        MM_CASE(random_resized_crop_matches_mmpretrain),
        MM_CASE(resize_edge_matches_mmpretrain),
        MM_CASE(random_crop_matches_mmpretrain),
        MM_CASE(core_resize_with_pillow_backend_matches_mmcv),
        MM_CASE(pillow_resize_to_an_empty_size_is_refused),
        MM_CASE(efficientnet_center_crop_matches_mmpretrain),
        MM_CASE(random_erasing_matches_mmpretrain),
        MM_CASE(color_jitter_matches_mmpretrain_pillow),
        MM_CASE(efficientnet_random_crop_matches_mmpretrain),
        MM_CASE(lighting_matches_mmpretrain),
        MM_CASE(lighting_pixels_follow_the_pca_formula),
        MM_CASE(efficientnet_random_crop_falls_back_to_the_center_crop),
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
