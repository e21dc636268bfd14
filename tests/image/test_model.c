/* The model side (<mm/model.h>): ImgDataPreprocessor against mmengine's
 * recorded output, preprocessing without a preprocessor, dispatch of
 * loss/predict, and parse_losses as mmengine's BaseModel.parse_losses. */
#include "image_testing.h"

static mm_value *yaml(const char *text) {
    mm_value *v = NULL;
    if (mm_yaml_parse(text, strlen(text), "test.yaml", &v) != MM_OK) {
        fprintf(stderr, "bad test yaml: %s\n", mm_error_message());
        exit(1);
    }
    return v;
}

static mm_module *build_model(const mm_value *node) {
    void *obj = NULL;
    if (mm_registry_build(MM_MODELS, node, NULL, "model.data_preprocessor",
                          NULL, &obj))
        fprintf(stderr, "  build failed: %s\n", mm_error_message());
    return obj;
}

/* The recording's input pattern (tools/parity/transforms_mmcv.py). */
static mm_tensor *pattern(int64_t c, int64_t h, int64_t w, int k) {
    mm_tensor *t = NULL;
    if (mm_empty(MM_SHAPE(c, h, w), MM_U8, &t))
        return NULL;
    for (int64_t i = 0; i < t->numel; i++)
        MM_DATA(t, uint8_t)[i] = (uint8_t)((i * (7 + k) + 11 * k) % 256);
    return t;
}

static mm_value *batch_of(int n, mm_tensor *const *xs, bool samples) {
    mm_value *b = mm_value_new_dict(), *in = mm_value_new_list();
    for (int i = 0; i < n; i++)
        mm_value_list_append_take(in, mm_tensor_to_value(xs[i]));
    mm_value_dict_set_take(b, "inputs", in);
    if (samples) {
        mm_value *ds = mm_value_new_list();
        for (int i = 0; i < n; i++) {
            mm_value *s = mm_value_new_dict();
            mm_value_dict_set_take(s, "gt_label", mm_value_new_int(i));
            mm_value_list_append_take(ds, s);
        }
        mm_value_dict_set_take(b, "data_samples", ds);
    }
    return b;
}

MM_TEST(img_data_preprocessor_matches_mmengine) {
    const mm_value *rows = expected("preprocessor");
    CHECK_INT(mm_value_len(rows), 3);
    for (size_t r = 0; r < mm_value_len(rows); r++) {
        const mm_value *row = mm_value_list_get(rows, r);
        mm_value *node = mm_value_copy(mm_value_dict_get(row, "cfg"));
        mm_value_dict_set_take(node, "type",
                               mm_value_new_string("ImgDataPreprocessor"));
        mm_module *dp = build_model(node);
        mm_value_release(node);
        CHECK(dp != NULL);
        if (!dp)
            continue;
        mm_tensor *xs[2] = {pattern(3, 5, 7, 0), pattern(3, 6, 4, 1)};
        mm_value *batch = batch_of(2, xs, true);
        mm_tensor *inputs = NULL;
        mm_value *samples = NULL;
        CHECK_OK(dp->cls->model->preprocess(dp, batch, true, &inputs,
                                            &samples));
        double mx = 0, mean = 0;
        CHECK(rec_compare(inputs, mm_value_dict_get(row, "img"), &mx, &mean));
        CHECK_NEAR(mx, 0, 1e-5);
        /* every sample records the padded batch shape */
        CHECK_INT(mm_value_len(samples), 2);
        const mm_value *s0 = mm_value_list_get(samples, 0);
        const mm_value *bis = mm_value_dict_get(s0, "batch_input_shape");
        CHECK(bis && inputs &&
              mm_value_get_int(mm_value_list_get(bis, 0)) == inputs->shape[2]);
        CHECK(mm_value_get_int(mm_value_dict_get(s0, "gt_label")) == 0);
        mm_tensor_release(inputs);
        mm_value_release(samples);
        mm_value_release(batch);
        mm_tensor_release(xs[0]);
        mm_tensor_release(xs[1]);
        mm_module_free(dp);
    }
    expected_free();
}

MM_TEST(img_data_preprocessor_mean_std_are_not_persistent) {
    mm_value *node = yaml("{type: ImgDataPreprocessor, mean: [1, 2, 3], "
                          "std: [4, 5, 6]}");
    mm_module *dp = build_model(node);
    CHECK(dp && mm_module_get_buffer(dp, "mean") &&
          mm_module_get_buffer(dp, "std"));
    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(dp, &sd));
    CHECK(mm_state_dict_get(&sd, "mean") == NULL);
    mm_state_dict_clear(&sd);
    mm_tensor *m = mm_module_get_buffer(dp, "mean");
    CHECK(m && m->ndim == 3 && m->shape[0] == 3 && m->shape[1] == 1);
    mm_module_free(dp);
    mm_value_release(node);
}

MM_TEST(img_data_preprocessor_rejects_bad_configs) {
    const char *bad[] = {
        "{type: ImgDataPreprocessor, mean: [1, 2, 3]}",
        "{type: ImgDataPreprocessor, bgr_to_rgb: true, rgb_to_bgr: true}",
        "{type: ImgDataPreprocessor, mean: [1, 2], std: [1, 2]}",
        "{type: ImgDataPreprocessor, mean: [1], std: [0]}",
        "{type: ImgDataPreprocessor, pad_size_divisor: 0}",
    };
    const char *want[] = {
        "mean and std should be both null or both set",
        "bgr_to_rgb and rgb_to_bgr cannot both be true",
        "mean: expected 1 or 3 values, got 2",
        "std[0] is 0 (division by zero)",
        "pad_size_divisor must be at least 1, got 0",
    };
    for (int i = 0; i < 5; i++) {
        mm_value *node = yaml(bad[i]);
        void *obj = NULL;
        mm_error_clear();
        CHECK_INT(mm_registry_build(MM_MODELS, node, NULL, "model.dp", NULL,
                                    &obj),
                  MM_EINVAL);
        if (!strstr(mm_error_message(), want[i])) {
            fprintf(stderr, "  %s: got '%s'\n", bad[i], mm_error_message());
            mm_test_failures++;
        }
        mm_value_release(node);
    }
}

MM_TEST(img_preprocess_takes_hw_images_as_one_channel) {
    /* MNIST-style (H, W) u8 images, normalised with one mean/std */
    mm_tensor *xs[2] = {pattern(1, 4, 4, 0), pattern(1, 4, 4, 1)};
    mm_tensor *hw[2];
    CHECK_OK(mm_squeeze(xs[0], 0, &hw[0]));
    CHECK_OK(mm_squeeze(xs[1], 0, &hw[1]));
    mm_value *batch = batch_of(2, hw, false);
    mm_img_preprocess_cfg cfg = {.n_mean = 1, .mean = {33}, .std = {78},
                                 .pad_size_divisor = 1};
    mm_tensor *out = NULL;
    mm_value *samples = NULL;
    CHECK_OK(mm_img_preprocess(&cfg, batch, &out, &samples));
    CHECK(out && out->ndim == 4 && out->shape[0] == 2 && out->shape[1] == 1 &&
          out->shape[2] == 4 && out->shape[3] == 4);
    if (out)
        for (int64_t i = 0; i < 32; i++) {
            double x = MM_DATA(i < 16 ? xs[0] : xs[1], uint8_t)[i % 16];
            CHECK_NEAR(MM_DATA(out, float)[i], (float)((x - 33.f) / 78.f),
                       1e-6);
        }
    /* without data_samples in the batch: one new dict per image */
    CHECK_INT(mm_value_len(samples), 2);
    mm_tensor_release(out);
    mm_value_release(samples);
    mm_value_release(batch);
    for (int i = 0; i < 2; i++) {
        mm_tensor_release(hw[i]);
        mm_tensor_release(xs[i]);
    }
}

MM_TEST(img_preprocess_pads_to_the_largest_then_the_divisor) {
    mm_tensor *xs[2] = {pattern(3, 5, 7, 0), pattern(3, 9, 2, 1)};
    mm_value *batch = batch_of(2, xs, true);
    mm_img_preprocess_cfg cfg = {.pad_size_divisor = 4, .pad_value = -2};
    mm_tensor *out = NULL;
    mm_value *samples = NULL;
    CHECK_OK(mm_img_preprocess(&cfg, batch, &out, &samples));
    CHECK(out && out->shape[2] == 12 && out->shape[3] == 8);
    if (out) {
        /* sample 0, channel 2, row 4, col 6 is the input; col 7 is padding */
        CHECK_NEAR(MM_DATA(out, float)[(2 * 12 + 4) * 8 + 6],
                   MM_DATA(xs[0], uint8_t)[(2 * 5 + 4) * 7 + 6], 0);
        CHECK_NEAR(MM_DATA(out, float)[(2 * 12 + 4) * 8 + 7], -2, 0);
        CHECK_NEAR(MM_DATA(out, float)[3 * 12 * 8 + 11 * 8 + 1], -2, 0);
    }
    const mm_value *ps =
        mm_value_dict_get(mm_value_list_get(samples, 1), "pad_shape");
    CHECK(ps && mm_value_get_int(mm_value_list_get(ps, 0)) == 12 &&
          mm_value_get_int(mm_value_list_get(ps, 1)) == 8);
    mm_tensor_release(out);
    mm_value_release(samples);
    mm_value_release(batch);
    mm_tensor_release(xs[0]);
    mm_tensor_release(xs[1]);
}

MM_TEST(img_preprocess_takes_a_stacked_batch) {
    /* default_collate hands one (N, C, H, W) tensor */
    mm_tensor *xs[2] = {pattern(3, 4, 5, 0), pattern(3, 4, 5, 1)}, *st = NULL;
    CHECK_OK(mm_stack(2, xs, 0, &st));
    mm_value *list = batch_of(2, xs, false), *stacked = mm_value_new_dict();
    mm_value_dict_set_take(stacked, "inputs", mm_tensor_to_value(st));
    mm_img_preprocess_cfg cfg = {.n_mean = 3, .mean = {1, 2, 3},
                                 .std = {2, 4, 8}, .bgr_to_rgb = true,
                                 .pad_size_divisor = 8};
    mm_tensor *a = NULL, *b = NULL;
    mm_value *sa = NULL, *sb = NULL;
    CHECK_OK(mm_img_preprocess(&cfg, list, &a, &sa));
    CHECK_OK(mm_img_preprocess(&cfg, stacked, &b, &sb));
    CHECK(a && b && mm_tensor_same_shape(a, b) && a->shape[2] == 8);
    if (a && b)
        CHECK(memcmp(MM_DATA(a, float), MM_DATA(b, float),
                     (size_t)a->numel * sizeof(float)) == 0);
    mm_tensor_release(a);
    mm_tensor_release(b);
    mm_value_release(sa);
    mm_value_release(sb);
    mm_value_release(list);
    mm_value_release(stacked);
    mm_tensor_release(st);
    mm_tensor_release(xs[0]);
    mm_tensor_release(xs[1]);
}

/* u8 and contiguous f32 images are read in place, anything else is cast
 * first: every route gives the same bits as casting to f32, then
 * (x - mean) / std in f32. */
MM_TEST(img_preprocess_gives_the_same_bits_for_every_dtype_and_layout) {
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *u8 = pattern(3, 5, 6, 2), *f32 = NULL, *f64 = NULL,
              *hwc = NULL, *chw = NULL;
    CHECK_OK(mm_to_dtype(u8, MM_F32, &f32));
    CHECK_OK(mm_to_dtype(u8, MM_F64, &f64));
    /* a non-contiguous CHW view of an HWC copy */
    CHECK_OK(mm_permute(u8, MM_DIMS(1, 2, 0), &hwc));
    CHECK_OK(mm_contiguous(hwc, &hwc));
    CHECK_OK(mm_permute(hwc, MM_DIMS(2, 0, 1), &chw));
    CHECK(!mm_tensor_is_contiguous(chw));
    mm_img_preprocess_cfg cfg = {.n_mean = 3, .mean = {1.5, 2, 127.25},
                                 .std = {2, 57.3, 8}, .bgr_to_rgb = true,
                                 .pad_size_divisor = 4, .pad_value = 7};
    float want[3 * 8 * 8];
    for (int64_t c = 0; c < 3; c++)
        for (int64_t r = 0; r < 8; r++)
            for (int64_t q = 0; q < 8; q++) {
                float v = (float)cfg.pad_value;
                if (r < 5 && q < 6)
                    v = ((float)MM_DATA(u8, uint8_t)[((2 - c) * 5 + r) * 6 + q] -
                         (float)cfg.mean[c]) /
                        (float)cfg.std[c];
                want[(c * 8 + r) * 8 + q] = v;
            }
    mm_tensor *ins[4] = {u8, f32, f64, chw};
    for (int k = 0; k < 4; k++) {
        mm_value *batch = batch_of(1, &ins[k], false), *samples = NULL;
        mm_tensor *out = NULL;
        CHECK_OK(mm_img_preprocess(&cfg, batch, &out, &samples));
        CHECK(out && out->numel == 3 * 8 * 8);
        if (out && out->numel == 3 * 8 * 8)
            CHECK(memcmp(MM_DATA(out, float), want, sizeof want) == 0);
        mm_value_release(samples);
        mm_value_release(batch);
    }
    mm_pool_close(pool);
}

MM_TEST(model_preprocess_without_preprocessor_stacks_and_casts) {
    mm_module *lin = NULL;
    CHECK_OK(mm_linear_new(4, 2, true, &lin));
    mm_tensor *xs[2] = {pattern(1, 2, 2, 0), pattern(1, 2, 2, 1)};
    mm_value *batch = batch_of(2, xs, true);
    mm_tensor *out = NULL;
    mm_value *samples = NULL;
    CHECK_OK(mm_model_preprocess(lin, batch, true, &out, &samples));
    CHECK(out && out->dtype == MM_F32 && out->ndim == 4 && out->shape[0] == 2);
    if (out)
        CHECK_NEAR(MM_DATA(out, float)[5], MM_DATA(xs[1], uint8_t)[1], 0);
    /* BaseDataPreprocessor leaves the samples as they were */
    CHECK(mm_value_len(samples) == 2 &&
          !mm_value_dict_get(mm_value_list_get(samples, 0), "pad_shape"));
    mm_tensor_release(out);
    mm_value_release(samples);
    mm_value_release(batch);
    mm_tensor_release(xs[1]);
    xs[1] = pattern(1, 3, 2, 1);
    batch = batch_of(2, xs, true);
    CHECK_ERR(mm_model_preprocess(lin, batch, true, &out, &samples),
              MM_EINVAL,
              "data_preprocessor: inputs[1]: shape [1, 3, 2] differs from "
              "[1, 2, 2]");
    mm_value_release(batch);
    mm_tensor_release(xs[0]);
    mm_tensor_release(xs[1]);
    mm_module_free(lin);
}

MM_TEST(model_preprocess_runs_the_data_preprocessor_child) {
    mm_module *seq = NULL;
    CHECK_OK(mm_sequential_new(0, NULL, &seq));
    mm_value *node = yaml("{type: ImgDataPreprocessor, mean: [10], std: [2]}");
    CHECK_OK(mm_module_add_child(seq, "data_preprocessor", build_model(node)));
    mm_value_release(node);
    mm_tensor *xs[1] = {pattern(1, 2, 2, 0)};
    mm_value *batch = batch_of(1, xs, false);
    mm_tensor *out = NULL;
    mm_value *samples = NULL;
    CHECK_OK(mm_model_preprocess(seq, batch, false, &out, &samples));
    if (out)
        CHECK_NEAR(MM_DATA(out, float)[1], (7 - 10) / 2.0, 1e-6);
    mm_tensor_release(out);
    mm_value_release(samples);
    mm_value_release(batch);
    mm_tensor_release(xs[0]);
    mm_module_free(seq);
}

MM_TEST(model_loss_on_a_plain_layer_names_the_class) {
    mm_module *lin = NULL;
    CHECK_OK(mm_linear_new(4, 2, true, &lin));
    CHECK(!mm_model_has_loss(lin));
    mm_value *out = NULL;
    CHECK_ERR(mm_model_loss(lin, 0, NULL, NULL, &out), MM_EINVAL,
              "Linear has no mode 'loss'");
    CHECK_ERR(mm_model_predict(lin, 0, NULL, NULL, &out), MM_EINVAL,
              "Linear has no mode 'predict'");
    mm_module_free(lin);
}

static mm_tensor *vec(int n, const float *v, bool grad) {
    mm_tensor *t = NULL;
    if (mm_from_data(v, n ? 1 : 0, n ? (const int64_t[]){n} : NULL, MM_F32,
                     &t))
        return NULL;
    if (grad && mm_tensor_set_requires_grad(t, true))
        return NULL;
    return t;
}

/* mmengine: loss = loss_cls.mean() + sum(t.mean() for t in loss_list);
 * acc is logged, not summed; log_vars = {loss, loss_cls, acc, loss_list}. */
MM_TEST(parse_losses_sums_only_keys_containing_loss) {
    mm_tensor *cls = vec(2, (const float[]){1, 2}, true);
    mm_tensor *acc = vec(0, (const float[]){0.75f}, false);
    mm_tensor *l1 = vec(2, (const float[]){3, 5}, true);
    mm_tensor *l2 = vec(0, (const float[]){0.25f}, true);
    mm_value *losses = mm_value_new_dict(), *list = mm_value_new_list();
    mm_value_dict_set_take(losses, "loss_cls", mm_tensor_to_value(cls));
    mm_value_dict_set_take(losses, "acc", mm_tensor_to_value(acc));
    mm_value_list_append_take(list, mm_tensor_to_value(l1));
    mm_value_list_append_take(list, mm_tensor_to_value(l2));
    mm_value_dict_set_take(losses, "loss_list", list);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *loss = NULL;
    mm_value *lv = NULL;
    CHECK_OK(mm_model_parse_losses(losses, &loss, &lv));
    double x = 0;
    CHECK_OK(mm_tensor_item(loss, &x));
    CHECK_NEAR(x, 1.5 + 4 + 0.25, 1e-6);
    CHECK_INT(mm_value_len(lv), 4);
    CHECK_STR(mm_value_dict_key_at(lv, 0), "loss");
    CHECK_STR(mm_value_dict_key_at(lv, 2), "acc");
    CHECK_NEAR(mm_value_get_float(mm_value_dict_get(lv, "acc")), 0.75, 1e-7);
    CHECK_NEAR(mm_value_get_float(mm_value_dict_get(lv, "loss_list")), 4.25,
               1e-6);
    /* the total is differentiable: d loss / d loss_cls = 1/2 each */
    CHECK_OK(mm_backward(loss));
    CHECK(mm_tensor_grad(cls) &&
          MM_DATA(mm_tensor_grad(cls), float)[1] == 0.5f);
    CHECK(mm_tensor_grad(l2) && MM_DATA(mm_tensor_grad(l2), float)[0] == 1.f);
    mm_pool_close(pool);
    mm_value_release(lv);
    mm_value_release(losses);
    mm_tensor_release(cls);
    mm_tensor_release(acc);
    mm_tensor_release(l1);
    mm_tensor_release(l2);
}

MM_TEST(parse_losses_refuses_non_tensors_and_no_loss) {
    mm_value *losses = yaml("{loss_cls: 1.5}");
    mm_tensor *loss = NULL;
    mm_value *lv = NULL;
    CHECK_ERR(mm_model_parse_losses(losses, &loss, &lv), MM_ETYPE,
              "parse_losses: loss_cls is not a tensor or list of tensors");
    mm_value_release(losses);
    mm_tensor *acc = vec(0, (const float[]){0.5f}, false);
    losses = mm_value_new_dict();
    mm_value_dict_set_take(losses, "acc", mm_tensor_to_value(acc));
    CHECK_ERR(mm_model_parse_losses(losses, &loss, &lv), MM_EINVAL,
              "parse_losses: no entry's key contains 'loss'");
    CHECK(loss == NULL && lv == NULL);
    mm_value_release(losses);
    mm_tensor_release(acc);
}

MM_TEST_MAIN(MM_CASE(img_data_preprocessor_matches_mmengine),
             MM_CASE(img_data_preprocessor_mean_std_are_not_persistent),
             MM_CASE(img_data_preprocessor_rejects_bad_configs),
             MM_CASE(img_preprocess_takes_hw_images_as_one_channel),
             MM_CASE(img_preprocess_pads_to_the_largest_then_the_divisor),
             MM_CASE(img_preprocess_takes_a_stacked_batch),
             MM_CASE(img_preprocess_gives_the_same_bits_for_every_dtype_and_layout),
             MM_CASE(model_preprocess_without_preprocessor_stacks_and_casts),
             MM_CASE(model_preprocess_runs_the_data_preprocessor_child),
             MM_CASE(model_loss_on_a_plain_layer_names_the_class),
             MM_CASE(parse_losses_sums_only_keys_containing_loss),
             MM_CASE(parse_losses_refuses_non_tensors_and_no_loss))
