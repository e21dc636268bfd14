/* The core transforms against mmcv 2.x: every recorded pipeline of
 * tools/parity/transforms_mmcv.py is rebuilt from its config through the
 * registry and run on the same fixture; the image, every results key and
 * its value must match. Random transforms: determinism under a seeded
 * generator and their draw statistics. LoadImageFromFile: ignore_empty,
 * skip_corrupt and its one-line warning. */
#include <fcntl.h>
#include <unistd.h>

#include "image_testing.h"

static mm_transform *build(const mm_value *node) {
    void *obj = NULL;
    if (mm_registry_build(MM_TRANSFORMS, node, NULL, "pipeline", NULL, &obj))
        fprintf(stderr, "  build failed: %s\n", mm_error_message());
    return obj;
}

static mm_transform *build_yaml(const char *text) {
    mm_value *v = NULL;
    if (mm_yaml_parse(text, strlen(text), "test.yaml", &v)) {
        fprintf(stderr, "bad yaml: %s\n", mm_error_message());
        exit(1);
    }
    mm_transform *t = build(v);
    mm_value_release(v);
    return t;
}

static mm_value *results_for(const char *file) {
    char path[512];
    mm_value *r = mm_value_new_dict();
    mm_value_dict_set_take(r, "img_path",
                           mm_value_new_string(fixture(file, path, 512)));
    return r;
}

/* got ~ want: numbers within rtol (ints and floats alike), the rest equal. */
static bool value_close(const mm_value *got, const mm_value *want,
                        double rtol) {
    if (!got || !want)
        return got == want;
    if (mm_value_is_number(want))
        return mm_value_is_number(got) &&
               fabs(mm_value_get_float(got) - mm_value_get_float(want)) <=
                   rtol * fmax(1, fabs(mm_value_get_float(want)));
    if (mm_value_is_list(want)) {
        if (!mm_value_is_list(got) || mm_value_len(got) != mm_value_len(want))
            return false;
        for (size_t i = 0; i < mm_value_len(want); i++)
            if (!value_close(mm_value_list_get(got, i),
                             mm_value_list_get(want, i), rtol))
                return false;
        return true;
    }
    if (mm_value_is_dict(want)) {
        for (size_t i = 0; i < mm_value_len(want); i++)
            if (!value_close(
                    mm_value_dict_get(got, mm_value_dict_key_at(want, i)),
                    mm_value_dict_value_at(want, i), rtol))
                return false;
        return true;
    }
    return mm_value_equal(got, want);
}

static char *dump(const mm_value *v) {
    char *s = NULL;
    if (!v || mm_json_dump(v, 0, &s))
        return strdup("(none)");
    return s;
}

static bool has_step(const mm_value *pipeline, const char *type) {
    for (size_t i = 0; i < mm_value_len(pipeline); i++)
        if (!strcmp(mm_value_get_string(mm_value_dict_get(
                        mm_value_list_get(pipeline, i), "type")),
                    type))
            return true;
    return false;
}

static void run_pipeline_case(const mm_value *c) {
    const char *name = mm_value_get_string(mm_value_dict_get(c, "name"));
    const char *file = mm_value_get_string(mm_value_dict_get(c, "file"));
    const mm_value *pipeline = mm_value_dict_get(c, "pipeline");
    mm_value *results = results_for(file);
    bool ok = true;
    for (size_t i = 0; ok && i < mm_value_len(pipeline); i++) {
        mm_transform *t = build(mm_value_list_get(pipeline, i));
        int rc = t ? mm_transform_apply(t, results) : MM_EINVAL;
        if (rc) {
            fprintf(stderr, "  %s: step %zu: %d %s\n", name, i, rc,
                    mm_error_message());
            ok = false;
        }
        mm_transform_free(t);
    }
    if (!ok) {
        mm_test_failures++;
        mm_value_release(results);
        return;
    }
    /* the same keys as mmcv's results */
    const mm_value *keys = mm_value_dict_get(c, "keys");
    bool same_keys = mm_value_len(keys) == mm_value_len(results);
    for (size_t i = 0; i < mm_value_len(keys); i++) {
        const char *k = mm_value_get_string(mm_value_list_get(keys, i));
        same_keys &= mm_value_dict_get(results, k) != NULL;
    }
    if (!same_keys) {
        char *a = dump(keys);
        fprintf(stderr, "  %s: keys differ from mmcv's %s:", name, a);
        for (size_t i = 0; i < mm_value_len(results); i++)
            fprintf(stderr, " %s", mm_value_dict_key_at(results, i));
        fprintf(stderr, "\n");
        free(a);
        mm_test_failures++;
    }
    const mm_value *meta = mm_value_dict_get(c, "meta");
    for (size_t i = 0; i < mm_value_len(meta); i++) {
        const char *k = mm_value_dict_key_at(meta, i);
        const mm_value *got = mm_value_dict_get(results, k);
        if (!value_close(got, mm_value_dict_value_at(meta, i), 1e-6)) {
            char *a = dump(got), *b = dump(mm_value_dict_value_at(meta, i));
            fprintf(stderr, "  %s: %s = %s, mmcv: %s\n", name, k, a, b);
            free(a);
            free(b);
            mm_test_failures++;
        }
    }
    /* u8 within one level (cv2.resize's rounding, see test_image);
     * float32 results within float rounding, or one level / std after a
     * Resize. */
    mm_tensor *img = mm_tensor_from_value(mm_value_dict_get(results, "img"));
    const mm_value *rec = mm_value_dict_get(c, "img");
    bool resized = has_step(pipeline, "Resize") ||
                   has_step(pipeline, "RandomResize");
    bool f32 = !strcmp(mm_value_get_string(mm_value_dict_get(rec, "dtype")),
                       "f32");
    double tol = !resized ? (f32 ? 1e-4 : 0)
                 : f32    ? (has_step(pipeline, "Normalize") ? 1.0 / 57 : 1.001)
                          : 1;
    double mx = 0, mean = 0;
    if (!rec_compare(img, rec, &mx, &mean) || mx > tol) {
        fprintf(stderr, "  %s: img max diff %g (tol %g), mean %g\n", name, mx,
                tol, mean);
        mm_test_failures++;
    }
    mm_value_release(results);
}

MM_TEST(transforms_match_mmcv_recording) {
    const mm_value *cases = expected("pipelines");
    CHECK(mm_value_len(cases) >= 30);
    for (size_t i = 0; i < mm_value_len(cases); i++)
        run_pipeline_case(mm_value_list_get(cases, i));
    expected_free();
}

/* The flip directions of n draws into out ('h', 'v', 'd' or '-'). */
static void flips(mm_transform *t, int n, char *out) {
    for (int i = 0; i < n; i++) {
        mm_value *r = mm_value_new_dict();
        mm_tensor *img = NULL;
        if (mm_zeros(MM_SHAPE(2, 3), MM_U8, &img) ||
            mm_value_dict_set_take(r, "img", mm_tensor_to_value(img)) ||
            mm_transform_apply(t, r)) {
            fprintf(stderr, "  flip: %s\n", mm_error_message());
            mm_test_failures++;
        }
        mm_tensor_release(img);
        const mm_value *d = mm_value_dict_get(r, "flip_direction");
        out[i] = mm_value_is_string(d) ? mm_value_get_string(d)[0] : '-';
        mm_value_release(r);
    }
    out[n] = 0;
}

MM_TEST(random_flip_is_deterministic_with_a_seeded_generator) {
    mm_transform *t = build_yaml(
        "{type: RandomFlip, prob: 0.75, direction: [horizontal, vertical, "
        "diagonal]}");
    char a[401], b[401], c[401];
    mm_manual_seed(1234);
    flips(t, 400, a);
    mm_manual_seed(1234);
    flips(t, 400, b);
    mm_manual_seed(99);
    flips(t, 400, c);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    /* each direction 1/4 of the time, no flip 1/4 (binomial, 400 draws:
     * 5 standard deviations is 43) */
    const char kinds[] = "hvd-";
    for (int k = 0; k < 4; k++) {
        int n = 0;
        for (int i = 0; i < 400; i++)
            n += a[i] == kinds[k];
        CHECK(abs(n - 100) < 43);
    }
    mm_transform_free(t);
}

MM_TEST(random_flip_keeps_a_given_direction) {
    mm_transform *t = build_yaml("{type: RandomFlip, prob: 0.0}");
    mm_value *r = results_for("camera.png");
    mm_transform *load = build_yaml("{type: LoadImageFromFile, "
                                    "color_type: grayscale}");
    CHECK_OK(mm_transform_apply(load, r));
    mm_tensor *before = mm_tensor_retain(
        mm_tensor_from_value(mm_value_dict_get(r, "img")));
    mm_value_dict_set_take(r, "flip", mm_value_new_bool(true));
    mm_value_dict_set_take(r, "flip_direction",
                           mm_value_new_string("vertical"));
    CHECK_OK(mm_transform_apply(t, r));
    mm_tensor *after = mm_tensor_from_value(mm_value_dict_get(r, "img"));
    CHECK(after && after->ndim == 2);
    if (after && before) /* row 0 is the old last row */
        CHECK(memcmp(MM_DATA(after, uint8_t),
                     MM_DATA(before, uint8_t) + 23 * 30, 30) == 0);
    mm_tensor_release(before);
    mm_value_release(r);
    mm_transform_free(load);
    mm_transform_free(t);
}

static void resize_scales(mm_transform *t, int n, int64_t *w, int64_t *h) {
    for (int i = 0; i < n; i++) {
        mm_value *r = mm_value_new_dict();
        mm_tensor *img = NULL;
        CHECK_OK(mm_zeros(MM_SHAPE(20, 40, 3), MM_U8, &img));
        mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
        CHECK_OK(mm_transform_apply(t, r));
        mm_tensor *y = mm_tensor_from_value(mm_value_dict_get(r, "img"));
        w[i] = y ? y->shape[1] : 0;
        h[i] = y ? y->shape[0] : 0;
        mm_tensor_release(img);
        mm_value_release(r);
    }
}

MM_TEST(random_resize_is_deterministic_and_in_range) {
    mm_transform *t = build_yaml(
        "{type: RandomResize, scale: [60, 30], ratio_range: [0.5, 2.0]}");
    int64_t w1[50], h1[50], w2[50], h2[50];
    mm_manual_seed(7);
    resize_scales(t, 50, w1, h1);
    mm_manual_seed(7);
    resize_scales(t, 50, w2, h2);
    bool varied = false;
    for (int i = 0; i < 50; i++) {
        CHECK(w1[i] == w2[i] && h1[i] == h2[i]);
        CHECK(w1[i] >= 30 && w1[i] <= 120 && h1[i] >= 15 && h1[i] <= 60);
        /* one ratio scales both edges: int(60 r), int(30 r) */
        CHECK(llabs(w1[i] - 2 * h1[i]) <= 1);
        varied |= w1[i] != w1[0];
    }
    CHECK(varied);
    mm_transform_free(t);
    /* two scales: each edge drawn on its own between them, inclusive */
    t = build_yaml("{type: RandomResize, scale: [[20, 10], [22, 12]]}");
    mm_manual_seed(8);
    resize_scales(t, 50, w1, h1);
    int seen_w[3] = {0}, seen_h[3] = {0};
    for (int i = 0; i < 50; i++) {
        CHECK(w1[i] >= 20 && w1[i] <= 22 && h1[i] >= 10 && h1[i] <= 12);
        if (w1[i] >= 20 && w1[i] <= 22 && h1[i] >= 10 && h1[i] <= 12) {
            seen_w[w1[i] - 20]++;
            seen_h[h1[i] - 10]++;
        }
    }
    for (int k = 0; k < 3; k++)
        CHECK(seen_w[k] > 0 && seen_h[k] > 0);
    mm_transform_free(t);
}

/* Run apply with stderr captured into buf. */
static int apply_capturing_stderr(mm_transform *t, mm_value *r, char *buf,
                                  size_t size) {
    char path[] = "/tmp/mm_image_log_XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    fflush(stderr);
    dup2(fd, 2);
    int rc = mm_transform_apply(t, r);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, buf, size - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return rc;
}

MM_TEST(load_image_skip_corrupt_drops_with_one_warning) {
    mm_transform *t = build_yaml("{type: LoadImageFromFile, "
                                 "skip_corrupt: true}");
    mm_value *r = results_for("truncated.png");
    char log[2048];
    CHECK_INT(apply_capturing_stderr(t, r, log, sizeof log),
              MM_TRANSFORM_DROP);
    CHECK(strstr(log, " - mm - WARNING - LoadImageFromFile: skipping a "
                      "corrupt image: ") != NULL);
    CHECK(strstr(log, "truncated.png: cannot decode image: Corrupt PNG") !=
          NULL);
    CHECK(strchr(log, '\n') == log + strlen(log) - 1); /* one line */
    CHECK(mm_value_dict_get(r, "img") == NULL);
    mm_value_release(r);
    mm_transform_free(t);
}

MM_TEST(load_image_corrupt_is_an_error_naming_the_file) {
    mm_transform *t = build_yaml("{type: LoadImageFromFile}");
    mm_value *r = results_for("not_an_image.jpg");
    char path[512], want[700];
    snprintf(want, sizeof want,
             "LoadImageFromFile: %s: cannot decode image: Image not of any "
             "known type, or corrupt",
             fixture("not_an_image.jpg", path, sizeof path));
    CHECK_ERR(mm_transform_apply(t, r), MM_EPARSE, want);
    mm_value_release(r);
    mm_transform_free(t);
}

MM_TEST(load_image_ignore_empty_drops_missing_files) {
    mm_transform *keep = build_yaml("{type: LoadImageFromFile}");
    mm_transform *drop = build_yaml("{type: LoadImageFromFile, "
                                    "ignore_empty: true}");
    mm_value *r = results_for("no_such_file.png");
    CHECK_INT(mm_transform_apply(drop, r), MM_TRANSFORM_DROP);
    mm_error_clear();
    CHECK_INT(mm_transform_apply(keep, r), MM_ENOENT);
    CHECK(strstr(mm_error_message(), "no_such_file.png") != NULL);
    mm_value_release(r);
    r = results_for("empty.png");
    CHECK_INT(mm_transform_apply(drop, r), MM_TRANSFORM_DROP);
    CHECK_INT(mm_transform_apply(keep, r), MM_EPARSE);
    mm_value_release(r);
    mm_transform_free(keep);
    mm_transform_free(drop);
}

MM_TEST(transforms_refuse_bad_configs) {
    const char *bad[] = {
        "{type: Resize}",
        "{type: Resize, scale: 10, interpolation: cubic}",
        "{type: RandomFlip, prob: 1.5}",
        "{type: RandomFlip, prob: [0.5, 0.6], direction: [horizontal, "
        "vertical]}",
        "{type: RandomFlip, prob: 0.5, direction: sideways}",
        "{type: Pad, size: [4, 4], size_divisor: 8}",
        "{type: Pad, pad_to_square: true, size: [4, 4]}",
        "{type: Pad, size: [4, 4], padding_mode: wrap}",
        "{type: Normalize, mean: [1, 2, 3], std: [1, 2]}",
        "{type: LoadImageFromFile, color_type: colour}",
        "{type: CenterCrop, crop_size: 8, auto_pad: true, "
        "pad_cfg: {type: Pad, size_divisor: 4}}",
        "{type: RandomResize, scale: [10, 10]}",
    };
    const char *want[] = {
        "scale and scale_factor cannot both be null",
        "interpolation 'cubic' is not one of nearest, bilinear, bicubic, area",
        "prob: probabilities must be in [0, 1] and sum to at most 1",
        "prob: probabilities must be in [0, 1] and sum to at most 1",
        "direction 'sideways' is not horizontal, vertical or diagonal",
        "give exactly one of size and size_divisor",
        "size must be null when pad_to_square is true",
        "padding_mode 'wrap' is not constant, edge, reflect or symmetric",
        "std has 2 values but mean has 3",
        "color_type 'colour' is not one of color, grayscale, unchanged",
        "pad_cfg: 'size_divisor' is not allowed",
        "ratio_range: expected [min, max] when scale is one [w, h]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mm_value *v = NULL;
        CHECK_OK(mm_yaml_parse(bad[i], strlen(bad[i]), "t.yaml", &v));
        void *obj = NULL;
        mm_error_clear();
        CHECK(mm_registry_build(MM_TRANSFORMS, v, NULL, "pipeline.0", NULL,
                                &obj) < 0);
        if (!strstr(mm_error_message(), want[i]) ||
            strchr(mm_error_message(), '\n')) {
            fprintf(stderr, "  %s:\n    got  %s\n    want %s\n", bad[i],
                    mm_error_message(), want[i]);
            mm_test_failures++;
        }
        mm_value_release(v);
    }
}

MM_TEST(transforms_accept_hw_and_float_images) {
    /* (H, W) f32 through every geometric transform */
    mm_transform *ts[] = {
        build_yaml("{type: Resize, scale: [7, 5], interpolation: bicubic}"),
        build_yaml("{type: RandomFlip, prob: 1.0, direction: diagonal}"),
        build_yaml("{type: Pad, size_divisor: 4, padding_mode: symmetric}"),
        build_yaml("{type: CenterCrop, crop_size: [6, 3]}"),
        build_yaml("{type: Normalize, mean: 0.5, std: 2, to_rgb: false}"),
    };
    mm_value *r = mm_value_new_dict();
    mm_tensor *img = NULL;
    CHECK_OK(mm_full(MM_SHAPE(10, 14), 1.5, MM_F32, &img));
    mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
    for (int i = 0; i < 5; i++)
        CHECK_OK(mm_transform_apply(ts[i], r));
    mm_tensor *y = mm_tensor_from_value(mm_value_dict_get(r, "img"));
    CHECK(y && y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 6 &&
          y->dtype == MM_F32);
    if (y)
        CHECK_NEAR(MM_DATA(y, float)[0], (1.5 - 0.5) / 2, 1e-6);
    for (int i = 0; i < 5; i++)
        mm_transform_free(ts[i]);
    mm_tensor_release(img);
    mm_value_release(r);
}

MM_TEST_MAIN(MM_CASE(transforms_match_mmcv_recording),
             MM_CASE(random_flip_is_deterministic_with_a_seeded_generator),
             MM_CASE(random_flip_keeps_a_given_direction),
             MM_CASE(random_resize_is_deterministic_and_in_range),
             MM_CASE(load_image_skip_corrupt_drops_with_one_warning),
             MM_CASE(load_image_corrupt_is_an_error_naming_the_file),
             MM_CASE(load_image_ignore_empty_drops_missing_files),
             MM_CASE(transforms_refuse_bad_configs),
             MM_CASE(transforms_accept_hw_and_float_images))
