/* mmcls' auto-augmentation transforms (RandAugment, AutoAugment and their
 * sub-transforms) against mmpretrain 1.2.0: every recorded case of
 * tools/parity/autoaug_mmpretrain.py (autoaug_expected.json) is rebuilt
 * from its config in scope mmcls and run on the same 48x40 photograph; the
 * pixels must be mmpretrain's exactly. The random choices are checked by
 * their statistics over many draws of a seeded generator, the preset
 * policy tables by running them against the recorded tables. */
#include "image_testing.h"

/* ---- setup --------------------------------------------------------------- */

static void load_plugin(void) {
    static bool done;
    if (done)
        return;
    done = true;
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/mmcls.so", dir ? dir : "build/plugins");
    if (mm_plugin_load_file(path)) {
        fprintf(stderr, "loading %s: %s\n", path, mm_error_message());
        exit(1);
    }
}

static mm_value *recording(void) {
    const char *path = getenv("MM_AUTOAUG_EXPECTED");
    char *text;
    size_t len;
    mm_value *v = NULL;
    if (!path || mm_file_read(path, &text, &len) ||
        mm_json_parse(text, len, path, &v)) {
        fprintf(stderr, "cannot load the mmpretrain recording: %s\n",
                path ? mm_error_message() : "MM_AUTOAUG_EXPECTED unset");
        exit(1);
    }
    free(text);
    return v;
}

static mm_transform *build_node(const mm_value *node, bool quiet) {
    load_plugin();
    void *obj = NULL;
    if (mm_registry_build(MM_TRANSFORMS, node, "mmcls", "pipeline", NULL,
                          &obj) &&
        !quiet)
        fprintf(stderr, "  build failed: %s\n", mm_error_message());
    return obj;
}

static mm_transform *build_yaml(const char *text) {
    mm_value *v = NULL;
    if (mm_yaml_parse(text, strlen(text), "test.yaml", &v)) {
        fprintf(stderr, "bad yaml: %s\n", mm_error_message());
        exit(1);
    }
    mm_transform *t = build_node(v, false);
    mm_value_release(v);
    return t;
}

/* Build the YAML and return the error code (0 if it built). */
static int build_error(const char *text) {
    load_plugin();
    mm_value *v = NULL;
    if (mm_yaml_parse(text, strlen(text), "test.yaml", &v))
        return -1000;
    void *obj = NULL;
    mm_error_clear();
    int rc = mm_registry_build(MM_TRANSFORMS, v, "mmcls", "pipeline", NULL,
                               &obj);
    mm_transform_free(obj);
    mm_value_release(v);
    return rc;
}

static int b64val(char c) {
    return c >= 'A' && c <= 'Z'   ? c - 'A'
           : c >= 'a' && c <= 'z' ? c - 'a' + 26
           : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+'             ? 62
           : c == '/'             ? 63
                                  : -1;
}

/* The recorded image {shape, png: base64}, decoded. */
static mm_tensor *recorded_image(const mm_value *rec) {
    const char *s = mm_value_get_string(mm_value_dict_get(rec, "png"));
    size_t n = strlen(s), len = 0;
    unsigned char *buf = malloc(n);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            continue; /* padding */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[len++] = (unsigned char)(acc >> bits);
        }
    }
    mm_tensor *img = NULL;
    if (mm_image_decode(buf, len, MM_IMAGE_UNCHANGED, "recording", &img))
        fprintf(stderr, "  %s\n", mm_error_message());
    free(buf);
    return img;
}

static mm_value *results_with(mm_tensor *img) {
    mm_value *r = mm_value_new_dict();
    mm_value_dict_set_take(r, "img", mm_tensor_to_value(img));
    return r;
}

static mm_tensor *results_img(mm_value *r) {
    return mm_tensor_from_value(mm_value_dict_get(r, "img"));
}

/* ---- the recorded cases -------------------------------------------------- */

/* Run every recorded case whose name starts with one of the prefixes
 * (space separated); each must give mmpretrain's pixels exactly. */
static void run_recorded(const char *prefixes) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_value *rec = recording();
    const mm_value *cases = mm_value_dict_get(rec, "cases");
    int ran = 0;
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *name = mm_value_get_string(mm_value_dict_get(c, "name"));
        bool match = false;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", prefixes);
        for (char *p = strtok(buf, " "); p; p = strtok(NULL, " "))
            match |= !strncmp(name, p, strlen(p));
        if (!match)
            continue;
        ran++;
        const char *file = mm_value_get_string(mm_value_dict_get(c, "file"));
        char path[512];
        mm_tensor *img = NULL;
        CHECK_OK(mm_image_read(fixture(file, path, sizeof path),
                               MM_IMAGE_UNCHANGED, &img));
        if (!img) {
            mm_test_failures++;
            continue;
        }
        mm_value *results = results_with(img);
        const mm_value *pipeline = mm_value_dict_get(c, "pipeline");
        bool ok = true;
        for (size_t s = 0; ok && s < mm_value_len(pipeline); s++) {
            mm_transform *t = build_node(mm_value_list_get(pipeline, s), false);
            int rc = t ? mm_transform_apply(t, results) : MM_EINVAL;
            if (rc) {
                fprintf(stderr, "  %s (%s): step %zu: %s\n", name, file, s,
                        mm_error_message());
                ok = false;
            }
            mm_transform_free(t);
        }
        mm_tensor *want = recorded_image(mm_value_dict_get(c, "img"));
        mm_tensor *got = results_img(results);
        bool same = ok && want && got && got->ndim == want->ndim;
        for (int d = 0; same && d < got->ndim; d++)
            same = got->shape[d] == want->shape[d];
        int64_t ndiff = 0, maxd = 0;
        if (same) {
            mm_tensor *g;
            CHECK_OK(mm_contiguous(got, &g));
            const uint8_t *a = mm_tensor_data(g), *b = mm_tensor_data(want);
            for (int64_t k = 0; k < g->numel; k++) {
                int64_t d = a[k] > b[k] ? a[k] - b[k] : b[k] - a[k];
                ndiff += d != 0;
                maxd = d > maxd ? d : maxd;
            }
        }
        if (!same || ndiff) {
            fprintf(stderr,
                    "  %s (%s): %s; %lld values differ, by up to %lld\n",
                    name, file, same ? "same shape" : "shape differs",
                    (long long)ndiff, (long long)maxd);
            mm_test_failures++;
        }
        mm_value_release(results);
    }
    CHECK(ran > 0);
    mm_value_release(rec);
    mm_pool_close(pool);
}

MM_TEST(shear_matches_mmpretrain_in_every_interpolation) {
    run_recorded("shear_");
}

MM_TEST(translate_matches_mmpretrain) { run_recorded("translate_"); }

MM_TEST(rotate_matches_mmpretrain_with_centre_scale_and_pad) {
    run_recorded("rotate_");
}

MM_TEST(auto_contrast_and_equalize_match_mmpretrain) {
    run_recorded("auto_contrast equalize posterize_equalize");
}

MM_TEST(invert_solarize_posterize_match_mmpretrain) {
    run_recorded("invert solarize posterize_4 posterize_range");
}

MM_TEST(contrast_color_brightness_sharpness_match_mmpretrain) {
    run_recorded("contrast color brightness sharpness");
}

MM_TEST(cutout_covering_the_image_matches_mmpretrain) {
    run_recorded("cutout_");
}

MM_TEST(sequences_and_policies_match_mmpretrain) {
    run_recorded("sequence rand_augment_ auto_augment_");
}

MM_TEST(auto_contrast_cutoff_matches_mmcv) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_value *rec = recording();
    const mm_value *cases = mm_value_dict_get(rec, "auto_contrast_cutoff");
    CHECK(mm_value_len(cases) == 3);
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const mm_value *cut = mm_value_dict_get(c, "cutoff");
        char path[512];
        mm_tensor *img = NULL, *y = NULL;
        CHECK_OK(mm_image_read(
            fixture(mm_value_get_string(mm_value_dict_get(c, "file")), path,
                    sizeof path),
            MM_IMAGE_UNCHANGED, &img));
        CHECK_OK(mm_image_auto_contrast(
            img, mm_value_get_float(mm_value_list_get(cut, 0)),
            mm_value_get_float(mm_value_list_get(cut, 1)), &y));
        mm_tensor *want = recorded_image(mm_value_dict_get(c, "img"));
        CHECK(y && want && y->numel == want->numel &&
              !memcmp(mm_tensor_data(y), mm_tensor_data(want),
                      (size_t)y->numel));
    }
    mm_value_release(rec);
    mm_pool_close(pool);
}

MM_TEST(warp_affine_matches_cv2_for_any_map_and_size) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_value *rec = recording();
    const mm_value *cases = mm_value_dict_get(rec, "warp_affine");
    CHECK(mm_value_len(cases) == 4);
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const mm_value *m = mm_value_dict_get(c, "matrix");
        const mm_value *size = mm_value_dict_get(c, "size");
        const mm_value *border = mm_value_dict_get(c, "border");
        double mat[6], b[4];
        for (int k = 0; k < 6; k++)
            mat[k] = mm_value_get_float(mm_value_list_get(
                mm_value_list_get(m, (size_t)k / 3), (size_t)k % 3));
        for (int k = 0; k < 4; k++)
            b[k] = mm_value_get_float(mm_value_list_get(border, (size_t)k));
        mm_image_interp interp;
        CHECK_OK(mm_image_interp_parse(
            mm_value_get_string(mm_value_dict_get(c, "interpolation")),
            &interp));
        char path[512];
        mm_tensor *img = NULL, *y = NULL;
        CHECK_OK(mm_image_read(
            fixture(mm_value_get_string(mm_value_dict_get(c, "file")), path,
                    sizeof path),
            MM_IMAGE_UNCHANGED, &img));
        CHECK_OK(mm_image_warp_affine(
            img, mat, mm_value_get_int(mm_value_list_get(size, 0)),
            mm_value_get_int(mm_value_list_get(size, 1)), interp, b, &y));
        mm_tensor *want = recorded_image(mm_value_dict_get(c, "img"));
        bool same = y && want && y->ndim == want->ndim;
        for (int d = 0; same && d < y->ndim; d++)
            same = y->shape[d] == want->shape[d];
        CHECK(same && !memcmp(mm_tensor_data(y), mm_tensor_data(want),
                              (size_t)y->numel));
    }
    mm_value_release(rec);
    mm_pool_close(pool);
}

/* ---- preset tables ------------------------------------------------------- */

/* Run a and b on the same image with the same seed n times: the outputs
 * must be identical each time (and the seeds must make a difference). */
static void same_draws(mm_transform *a, mm_transform *b, int n) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    char path[512];
    mm_tensor *img = NULL;
    CHECK_OK(mm_image_read(fixture("aa_astronaut.png", path, sizeof path),
                           MM_IMAGE_UNCHANGED, &img));
    int changed = 0;
    for (int i = 0; a && b && img && i < n; i++) {
        mm_value *ra = results_with(img), *rb = results_with(img);
        mm_manual_seed(1000 + (uint64_t)i);
        CHECK_OK(mm_transform_apply(a, ra));
        mm_manual_seed(1000 + (uint64_t)i);
        CHECK_OK(mm_transform_apply(b, rb));
        mm_tensor *x = results_img(ra), *y = results_img(rb);
        bool eq = x && y && x->numel == y->numel &&
                  !memcmp(mm_tensor_data(x), mm_tensor_data(y),
                          (size_t)x->numel);
        if (!eq) {
            fprintf(stderr, "  draw %d differs\n", i);
            mm_test_failures++;
        }
        changed += x != img;
        mm_value_release(ra);
        mm_value_release(rb);
    }
    CHECK(changed > n / 2);
    mm_pool_close(pool);
}

static mm_transform *with_recorded_policies(const char *head,
                                            const char *table) {
    mm_value *rec = recording(), *cfg = NULL;
    CHECK_OK(mm_yaml_parse(head, strlen(head), "test.yaml", &cfg));
    mm_value_dict_set(cfg, "policies",
                      mm_value_dict_get(mm_value_dict_get(rec, "policies"),
                                        table));
    mm_transform *t = build_node(cfg, false);
    mm_value_release(cfg);
    mm_value_release(rec);
    return t;
}

MM_TEST(imagenet_policies_are_mmpretrains_table) {
    mm_transform *a = build_yaml("{type: AutoAugment, policies: imagenet}");
    mm_transform *b = with_recorded_policies("{type: AutoAugment}", "imagenet");
    same_draws(a, b, 150);
    mm_transform_free(a);
    mm_transform_free(b);
}

MM_TEST(timm_increasing_policies_are_mmpretrains_table) {
    const char *head = "{type: RandAugment, num_policies: 2, "
                       "magnitude_level: 9, magnitude_std: 0.5}";
    mm_transform *a = build_yaml(
        "{type: RandAugment, policies: timm_increasing, num_policies: 2, "
        "magnitude_level: 9, magnitude_std: 0.5}");
    mm_transform *b = with_recorded_policies(head, "timm_increasing");
    same_draws(a, b, 150);
    mm_transform_free(a);
    mm_transform_free(b);
    a = build_yaml("{type: RandAugment, policies: simple_increasing, "
                   "num_policies: 2, magnitude_level: 9, magnitude_std: 0.5}");
    b = with_recorded_policies(head, "simple_increasing");
    same_draws(a, b, 60);
    mm_transform_free(a);
    mm_transform_free(b);
}

/* ---- the random choices -------------------------------------------------- */

/* A 1x1 BGR image of value v. */
static mm_tensor *pixel(uint8_t v) {
    mm_tensor *t = NULL;
    CHECK_OK(mm_empty(MM_SHAPE(1, 1, 3), MM_U8, &t));
    memset(mm_tensor_data(t), v, 3);
    return t;
}

/* Apply t to a fresh pixel of value v n times; out[i] = the result. */
static void draws(mm_transform *t, uint8_t v, int n, int *out) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    for (int i = 0; t && i < n; i++) {
        mm_value *r = results_with(pixel(v));
        CHECK_OK(mm_transform_apply(t, r));
        out[i] = ((uint8_t *)mm_tensor_data(results_img(r)))[0];
        mm_value_release(r);
        if (i % 256 == 255) { /* keep the pool small */
            mm_pool_close(pool);
            CHECK_OK(mm_pool_open(&pool));
        }
    }
    mm_pool_close(pool);
}

/* |count - n p| within 5 standard deviations of a binomial. */
static void check_freq(const char *what, int count, int n, double p) {
    double sd = sqrt(n * p * (1 - p)), dev = fabs(count - n * p);
    if (dev > 5 * sd + 1) {
        fprintf(stderr, "  %s: %d of %d, expected %.1f (sd %.1f)\n", what,
                count, n, n * p, sd);
        mm_test_failures++;
    }
}

enum { N = 6000 };
static int out_[N];

MM_TEST(rand_augment_applies_num_policies_drawn_with_replacement) {
    /* each policy adds its own amount: the sum tells which ran */
    mm_manual_seed(7);
    mm_transform *t = build_yaml(
        "{type: RandAugment, num_policies: 2, magnitude_level: 0, policies: ["
        "{type: SolarizeAdd, magnitude: 1, thr: 256, prob: 1.0},"
        "{type: SolarizeAdd, magnitude: 10, thr: 256, prob: 1.0},"
        "{type: SolarizeAdd, magnitude: 100, thr: 256, prob: 1.0}]}");
    draws(t, 0, N, out_);
    int count[256] = {0};
    for (int i = 0; i < N; i++)
        count[out_[i]]++;
    check_freq("1+1", count[2], N, 1.0 / 9);
    check_freq("10+10", count[20], N, 1.0 / 9);
    check_freq("100+100", count[200], N, 1.0 / 9);
    check_freq("1+10", count[11], N, 2.0 / 9);
    check_freq("1+100", count[101], N, 2.0 / 9);
    check_freq("10+100", count[110], N, 2.0 / 9);
    CHECK_INT(count[2] + count[20] + count[200] + count[11] + count[101] +
                  count[110],
              N);
    mm_transform_free(t);
}

MM_TEST(rand_augment_scales_magnitude_level_by_total_level) {
    /* level 3 of 12 on [0, 100] is 25 (magnitude_key, of older configs,
     * is dropped); on [100, 0] 75, RandAugment's level and total replacing
     * the policy's own */
    mm_transform *t = build_yaml(
        "{type: RandAugment, num_policies: 1, magnitude_level: 3, "
        "total_level: 12, policies: [{type: SolarizeAdd, magnitude_key: "
        "magnitude, magnitude_range: [0, 100], thr: 256, prob: 1.0}]}");
    draws(t, 0, 20, out_);
    for (int i = 0; i < 20; i++)
        CHECK_INT(out_[i], 25);
    mm_transform_free(t);
    t = build_yaml("{type: RandAugment, num_policies: 1, magnitude_level: 3, "
                   "total_level: 12, policies: [{type: SolarizeAdd, "
                   "magnitude_range: [100, 0], thr: 256, prob: 1.0, "
                   "magnitude_level: 9, total_level: 10}]}");
    draws(t, 0, 20, out_);
    for (int i = 0; i < 20; i++)
        CHECK_INT(out_[i], 75);
    mm_transform_free(t);
}

MM_TEST(magnitude_std_draws_a_clipped_normal_level) {
    /* level ~ N(5, 2) clipped to [0, 10], mapped to [0, 100]; SolarizeAdd
     * truncates, so the pixel is floor(10 * level) */
    mm_manual_seed(11);
    mm_transform *t = build_yaml(
        "{type: SolarizeAdd, magnitude_range: [0, 100], magnitude_level: 5, "
        "magnitude_std: 2, thr: 256, prob: 1.0}");
    draws(t, 0, N, out_);
    double sum = 0, sq = 0;
    int lo = 255, hi = 0;
    for (int i = 0; i < N; i++) {
        sum += out_[i];
        sq += (double)out_[i] * out_[i];
        lo = out_[i] < lo ? out_[i] : lo;
        hi = out_[i] > hi ? out_[i] : hi;
    }
    double mean = sum / N, sd = sqrt(sq / N - mean * mean);
    /* the clipped normal: mean 50 - 0.5 (truncation), sd ~ 19.7 */
    CHECK_NEAR(mean, 49.5, 1.5);
    CHECK_NEAR(sd, 19.7, 1.0);
    CHECK(lo == 0 && hi == 100); /* clipped at both ends, ~0.6% each */
    mm_transform_free(t);
}

MM_TEST(magnitude_std_inf_draws_a_uniform_level) {
    mm_manual_seed(12);
    mm_transform *t = build_yaml(
        "{type: SolarizeAdd, magnitude_range: [0, 100], magnitude_level: 6, "
        "magnitude_std: inf, thr: 256, prob: 1.0}");
    draws(t, 0, N, out_);
    int count[60] = {0};
    for (int i = 0; i < N; i++) {
        CHECK(out_[i] >= 0 && out_[i] < 60);
        if (out_[i] >= 0 && out_[i] < 60)
            count[out_[i]]++;
    }
    for (int v = 0; v < 60; v += 7)
        check_freq("uniform bucket", count[v], N, 1.0 / 60);
    mm_transform_free(t);
}

MM_TEST(prob_applies_the_transform_that_often) {
    mm_manual_seed(13);
    mm_transform *t = build_yaml("{type: Invert, prob: 0.3}");
    draws(t, 10, N, out_);
    int inverted = 0;
    for (int i = 0; i < N; i++) {
        CHECK(out_[i] == 10 || out_[i] == 245);
        inverted += out_[i] == 245;
    }
    check_freq("inverted", inverted, N, 0.3);
    mm_transform_free(t);
}

MM_TEST(random_negative_prob_flips_the_magnitude_that_often) {
    mm_manual_seed(14);
    mm_transform *t = build_yaml(
        "{type: Brightness, magnitude: 0.5, prob: 1.0, "
        "random_negative_prob: 0.25}");
    draws(t, 100, N, out_);
    int darker = 0;
    for (int i = 0; i < N; i++) {
        CHECK(out_[i] == 150 || out_[i] == 50);
        darker += out_[i] == 50;
    }
    check_freq("negated", darker, N, 0.25);
    mm_transform_free(t);
}

MM_TEST(auto_augment_applies_one_sub_policy_in_order) {
    mm_manual_seed(15);
    /* sub-policies: +1; +10; (+100 then invert) */
    mm_transform *t = build_yaml(
        "{type: AutoAugment, policies: ["
        "[{type: SolarizeAdd, magnitude: 1, thr: 256, prob: 1.0}],"
        "[{type: SolarizeAdd, magnitude: 10, thr: 256, prob: 1.0}],"
        "[{type: SolarizeAdd, magnitude: 100, thr: 256, prob: 1.0},"
        " {type: Invert, prob: 1.0}]]}");
    draws(t, 0, N, out_);
    int count[256] = {0};
    for (int i = 0; i < N; i++)
        count[out_[i]]++;
    check_freq("first", count[1], N, 1.0 / 3);
    check_freq("second", count[10], N, 1.0 / 3);
    check_freq("third", count[155], N, 1.0 / 3);
    CHECK_INT(count[1] + count[10] + count[155], N);
    mm_transform_free(t);
}

MM_TEST(cutout_places_its_patch_as_mmcv_does) {
    /* mmcv draws the centre as np.random.uniform(h): in (1, h], then
     * starts the (4, 2) patch at int(max(0, c - size / 2)) */
    mm_manual_seed(16);
    mm_transform *t =
        build_yaml("{type: Cutout, shape: [4, 2], pad_val: 0, prob: 1.0}");
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    int starts[10] = {0}, xstarts[10] = {0};
    for (int i = 0; t && i < 3000; i++) {
        mm_tensor *img = NULL;
        CHECK_OK(mm_empty(MM_SHAPE(10, 10), MM_U8, &img));
        memset(mm_tensor_data(img), 200, 100);
        mm_value *r = results_with(img);
        CHECK_OK(mm_transform_apply(t, r));
        const uint8_t *p = mm_tensor_data(results_img(r));
        int y1 = -1, x1 = -1, zeros = 0;
        for (int k = 0; k < 100; k++)
            if (!p[k]) {
                zeros++;
                if (y1 < 0)
                    y1 = k / 10, x1 = k % 10;
            }
        /* a whole rectangle, cut at the bottom and right edges only */
        int hh = y1 + 4 > 10 ? 10 - y1 : 4, ww = x1 + 2 > 10 ? 10 - x1 : 2;
        CHECK(y1 >= 0 && zeros == hh * ww);
        for (int y = 0; y1 >= 0 && y < hh; y++)
            for (int x = 0; x < ww; x++)
                CHECK(p[(y1 + y) * 10 + x1 + x] == 0);
        if (y1 >= 0) {
            starts[y1]++;
            xstarts[x1]++;
        }
        mm_value_release(r);
        if (i % 256 == 255) {
            mm_pool_close(pool);
            CHECK_OK(mm_pool_open(&pool));
        }
    }
    mm_pool_close(pool);
    /* y1 = int(max(0, c - 2)) with c uniform on (1, 10]: 0 for c < 3 (p
     * 2/9), k for c in [k + 2, k + 3) (1/9 each, k = 1..7), 8 only at
     * c = 10 exactly; x1 = int(c - 1): 0..8 with 1/9 each */
    check_freq("row 0", starts[0], 3000, 2.0 / 9);
    check_freq("row 4", starts[4], 3000, 1.0 / 9);
    check_freq("row 7", starts[7], 3000, 1.0 / 9);
    CHECK(starts[8] <= 1);
    CHECK_INT(starts[9], 0);
    CHECK_INT(xstarts[9], 0);
    check_freq("col 8", xstarts[8], 3000, 1.0 / 9);
    mm_transform_free(t);
}

MM_TEST(a_seeded_generator_repeats_the_same_augmentations) {
    mm_transform *t = build_yaml(
        "{type: RandAugment, policies: timm_increasing, num_policies: 2, "
        "magnitude_level: 9, magnitude_std: 0.5}");
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    char path[512];
    mm_tensor *img = NULL;
    CHECK_OK(mm_image_read(fixture("aa_coffee.png", path, sizeof path),
                           MM_IMAGE_UNCHANGED, &img));
    int differ = 0;
    for (int i = 0; t && img && i < 40; i++) {
        mm_value *r[3];
        for (int k = 0; k < 3; k++) {
            r[k] = results_with(img);
            mm_manual_seed(k == 2 ? 99 + (uint64_t)i : 5 + (uint64_t)i);
            CHECK_OK(mm_transform_apply(t, r[k]));
        }
        mm_tensor *a = results_img(r[0]), *b = results_img(r[1]),
                  *c = results_img(r[2]);
        CHECK(!memcmp(mm_tensor_data(a), mm_tensor_data(b), (size_t)a->numel));
        differ += !!memcmp(mm_tensor_data(a), mm_tensor_data(c),
                           (size_t)a->numel);
        for (int k = 0; k < 3; k++)
            mm_value_release(r[k]);
    }
    CHECK(differ > 30);
    mm_pool_close(pool);
    mm_transform_free(t);
}

/* ---- schemas and errors -------------------------------------------------- */

MM_TEST(transforms_are_registered_in_scope_mmcls_with_schemas) {
    load_plugin();
    static const char *const names[] = {
        "RandAugment", "AutoAugment",    "Shear",      "Translate",
        "Rotate",      "AutoContrast",   "Invert",     "Equalize",
        "Solarize",    "SolarizeAdd",    "Posterize",  "Contrast",
        "ColorTransform", "Brightness", "Sharpness", "Cutout"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char full[64];
        snprintf(full, sizeof full, "mmcls.%s", names[i]);
        const mm_entry *e = NULL;
        CHECK_OK(mm_registry_lookup(MM_TRANSFORMS, full, NULL, NULL, &e));
        if (!e)
            continue;
        CHECK_STR(e->scope, "mmcls");
        CHECK(e->component->n_params >= 2);
        for (size_t k = 0; k < e->component->n_params; k++)
            CHECK(e->component->params[k].doc != NULL);
    }
}

MM_TEST(bad_configs_are_refused_in_one_line) {
    struct {
        const char *yaml, *msg;
    } bad[] = {
        {"{type: Shear, magnitude: 0.1, magnitude_range: [0, 0.3]}",
         "give exactly one of magnitude and magnitude_range"},
        {"{type: Rotate}", "give exactly one of angle and magnitude_range"},
        {"{type: Posterize, bits: 9}", "bits: must be in 0..8"},
        {"{type: Shear, magnitude: 0.1, direction: diagonal}",
         "direction: expected horizontal or vertical"},
        {"{type: Rotate, angle: 3, interpolation: lanczos}", "lanczos"},
        {"{type: Brightness, magnitude_range: [0, 1], magnitude_std: wide}",
         "magnitude_std: expected a number or \"inf\""},
        {"{type: RandAugment, policies: imagenet, num_policies: 1, "
         "magnitude_level: 3}",
         "unknown preset 'imagenet'"},
        {"{type: RandAugment, policies: [], num_policies: 1, "
         "magnitude_level: 3}",
         "non-empty list"},
        {"{type: RandAugment, policies: timm_increasing, num_policies: 0, "
         "magnitude_level: 3}",
         "num_policies: must be in 1..64"},
        {"{type: RandAugment, policies: [{type: Rotate, angle: 3, "
         "magnitude_range: [0, 30]}], num_policies: 1, magnitude_level: 3}",
         "policies.0"},
        {"{type: AutoAugment, policies: [[{type: Sharpnes, magnitude: 1}]]}",
         "Sharpnes"},
        {"{type: Solarize, thr: 10, random_negative_prob: 0.5}",
         "random_negative_prob"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = build_error(bad[i].yaml);
        const char *m = mm_error_message();
        if (!rc || !strstr(m, bad[i].msg) || strchr(m, '\n')) {
            fprintf(stderr, "  %s: rc %d, message '%s', want '%s'\n",
                    bad[i].yaml, rc, m, bad[i].msg);
            mm_test_failures++;
        }
    }
}

MM_TEST(unsupported_images_are_errors_not_crashes) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    struct {
        const char *yaml, *msg;
        int kind; /* 0 grey u8, 1 BGR f32, 2 BGRA u8 */
    } cases[] = {
        {"{type: Contrast, magnitude: 0.3, prob: 1.0}", "3-channel", 0},
        {"{type: ColorTransform, magnitude: 0.3, prob: 1.0}", "3-channel", 2},
        {"{type: Equalize, prob: 1.0}", "needs a u8", 1},
        {"{type: Shear, magnitude: 0.3, prob: 1.0, pad_val: [1, 2, 3]}",
         "pad_val has 3 values", 2},
        {"{type: Cutout, shape: 3, pad_val: [1, 2], prob: 1.0}",
         "pad_val has 2 values", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mm_transform *t = build_yaml(cases[i].yaml);
        mm_tensor *img = NULL;
        if (cases[i].kind == 0)
            CHECK_OK(mm_zeros(MM_SHAPE(4, 5), MM_U8, &img));
        else
            CHECK_OK(mm_zeros(MM_SHAPE(4, 5, cases[i].kind == 1 ? 3 : 4),
                              cases[i].kind == 1 ? MM_F32 : MM_U8, &img));
        mm_value *r = results_with(img);
        int rc = t ? mm_transform_apply(t, r) : 0;
        if (!rc || !strstr(mm_error_message(), cases[i].msg)) {
            fprintf(stderr, "  %s: rc %d, '%s'\n", cases[i].yaml, rc,
                    mm_error_message());
            mm_test_failures++;
        }
        mm_value_release(r);
        mm_transform_free(t);
    }
    mm_pool_close(pool);
}

MM_TEST(extreme_magnitudes_give_an_image_not_a_crash) {
    static const char *const cfgs[] = {
        "{type: Shear, magnitude: 1.0e30, prob: 1.0}",
        "{type: Shear, magnitude: .nan, prob: 1.0, interpolation: bicubic}",
        "{type: Translate, magnitude: -1.0e30, prob: 1.0}",
        "{type: Rotate, angle: 1.0e20, scale: 1.0e300, prob: 1.0, "
        "interpolation: bilinear}",
        "{type: Rotate, angle: 10, scale: 0, prob: 1.0}",
        "{type: Contrast, magnitude: .nan, prob: 1.0}",
        "{type: Brightness, magnitude: .inf, prob: 1.0}",
        "{type: Sharpness, magnitude: -1.0e300, prob: 1.0}",
        "{type: ColorTransform, magnitude: 1.0e30, prob: 1.0}",
        "{type: SolarizeAdd, magnitude: .nan, prob: 1.0}",
        "{type: SolarizeAdd, magnitude: -300, prob: 1.0}",
        "{type: Solarize, thr: .nan, prob: 1.0}",
        "{type: Cutout, magnitude_range: [0, 1.0e300], prob: 1.0}",
        "{type: Cutout, shape: 4611686018427387904, prob: 1.0}",
    };
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        mm_transform *t = build_yaml(cfgs[i]);
        mm_tensor *img = NULL;
        CHECK_OK(mm_zeros(MM_SHAPE(6, 7, 3), MM_U8, &img));
        mm_value *r = results_with(img);
        CHECK(t != NULL);
        if (t)
            CHECK_OK(mm_transform_apply(t, r));
        mm_tensor *y = results_img(r);
        CHECK(y && y->dtype == MM_U8 && y->numel == 6 * 7 * 3);
        mm_value_release(r);
        mm_transform_free(t);
    }
    mm_pool_close(pool);
}

MM_TEST_MAIN(MM_CASE(shear_matches_mmpretrain_in_every_interpolation),
             MM_CASE(translate_matches_mmpretrain),
             MM_CASE(rotate_matches_mmpretrain_with_centre_scale_and_pad),
             MM_CASE(auto_contrast_and_equalize_match_mmpretrain),
             MM_CASE(invert_solarize_posterize_match_mmpretrain),
             MM_CASE(contrast_color_brightness_sharpness_match_mmpretrain),
             MM_CASE(cutout_covering_the_image_matches_mmpretrain),
             MM_CASE(sequences_and_policies_match_mmpretrain),
             MM_CASE(auto_contrast_cutoff_matches_mmcv),
             MM_CASE(warp_affine_matches_cv2_for_any_map_and_size),
             MM_CASE(imagenet_policies_are_mmpretrains_table),
             MM_CASE(timm_increasing_policies_are_mmpretrains_table),
             MM_CASE(rand_augment_applies_num_policies_drawn_with_replacement),
             MM_CASE(rand_augment_scales_magnitude_level_by_total_level),
             MM_CASE(magnitude_std_draws_a_clipped_normal_level),
             MM_CASE(magnitude_std_inf_draws_a_uniform_level),
             MM_CASE(prob_applies_the_transform_that_often),
             MM_CASE(random_negative_prob_flips_the_magnitude_that_often),
             MM_CASE(auto_augment_applies_one_sub_policy_in_order),
             MM_CASE(cutout_places_its_patch_as_mmcv_does),
             MM_CASE(a_seeded_generator_repeats_the_same_augmentations),
             MM_CASE(transforms_are_registered_in_scope_mmcls_with_schemas),
             MM_CASE(bad_configs_are_refused_in_one_line),
             MM_CASE(unsupported_images_are_errors_not_crashes),
             MM_CASE(extreme_magnitudes_give_an_image_not_a_crash))
