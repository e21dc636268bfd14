/* Image io and resize (<mm/image.h>) against cv2 as mmcv calls it
 * (tests/image/mmcv_expected.json): decoding real PNG, JPEG and BMP files
 * in every color_type, BGR order, broken files refused with one line,
 * writing round trips, and cv2.resize for every interpolation. */
#include <unistd.h>

#include "image_testing.h"

static mm_tensor *read_fixture(const char *name, mm_image_color color) {
    char path[512];
    mm_tensor *t = NULL;
    if (mm_image_read(fixture(name, path, sizeof path), color, &t))
        fprintf(stderr, "  %s: %s\n", name, mm_error_message());
    return t;
}

static bool is_jpeg(const char *file) { return strstr(file, ".jpg") != NULL; }

/* PNG and BMP decode exactly as cv2 does, grey conversion included. A
 * JPEG goes through another decoder than libjpeg-turbo (IDCT and chroma
 * upsampling differ), so pixels may differ by a few levels but agree on
 * average. */
MM_TEST(image_decode_matches_cv2_imread) {
    const mm_value *cases = expected("decode");
    CHECK(mm_value_len(cases) >= 10);
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *file = mm_value_get_string(mm_value_dict_get(c, "file"));
        const char *ct =
            mm_value_get_string(mm_value_dict_get(c, "color_type"));
        mm_image_color color;
        CHECK_OK(mm_image_color_parse(ct, &color));
        mm_tensor *t = read_fixture(file, color);
        double mx = 0, mean = 0;
        if (!rec_compare(t, mm_value_dict_get(c, "img"), &mx, &mean)) {
            fprintf(stderr, "  decode %s as %s: shape differs\n", file, ct);
            mm_test_failures++;
        } else {
            double tol_max = is_jpeg(file) ? 4 : 0;
            double tol_mean = is_jpeg(file) ? 0.5 : tol_max;
            if (is_jpeg(file))
                printf("  %s as %s: max diff %g, mean %.3f from cv2\n", file,
                       ct, mx, mean);
            if (mx > tol_max || mean > tol_mean) {
                fprintf(stderr, "  decode %s as %s: max diff %g, mean %g\n",
                        file, ct, mx, mean);
                mm_test_failures++;
            }
        }
        mm_tensor_release(t);
    }
    expected_free();
}

MM_TEST(image_color_is_bgr_order) {
    /* A 1x2 PNG, red then blue, written with stb (RGB order on disk). */
    uint8_t bgr[] = {0, 0, 255, 255, 0, 0};
    mm_tensor *img = NULL, *back = NULL;
    CHECK_OK(mm_from_data(bgr, MM_SHAPE(1, 2, 3), MM_U8, &img));
    void *png = NULL;
    size_t len = 0;
    CHECK_OK(mm_image_encode(img, "png", 0, &png, &len));
    CHECK_OK(mm_image_decode(png, len, MM_IMAGE_COLOR, "red_blue.png", &back));
    CHECK(back && back->ndim == 3 && back->shape[2] == 3);
    if (back)
        CHECK(memcmp(MM_DATA(back, uint8_t), bgr, sizeof bgr) == 0);
    mm_tensor_release(back);
    /* grayscale of pure red is cv2's 0.299 * 255, rounded */
    CHECK_OK(mm_image_decode(png, len, MM_IMAGE_GRAYSCALE, "red_blue.png",
                             &back));
    CHECK(back && back->ndim == 2);
    if (back) {
        CHECK_INT(MM_DATA(back, uint8_t)[0], 76);
        CHECK_INT(MM_DATA(back, uint8_t)[1], 29);
    }
    mm_tensor_release(back);
    free(png);
    mm_tensor_release(img);
}

MM_TEST(image_grayscale_is_hw_and_unchanged_keeps_alpha) {
    mm_tensor *g = read_fixture("camera.png", MM_IMAGE_GRAYSCALE);
    mm_tensor *c = read_fixture("camera.png", MM_IMAGE_COLOR);
    mm_tensor *u = read_fixture("logo.png", MM_IMAGE_UNCHANGED);
    CHECK(g && g->ndim == 2 && g->shape[0] == 24 && g->shape[1] == 30);
    CHECK(c && c->ndim == 3 && c->shape[2] == 3);
    CHECK(u && u->ndim == 3 && u->shape[2] == 4);
    mm_tensor_release(g);
    mm_tensor_release(c);
    mm_tensor_release(u);
}

/* Every broken file is one line naming the file and stb's reason. */
static void check_refused(const char *name, const char *reason) {
    char path[512], want[700];
    mm_tensor *t = NULL;
    fixture(name, path, sizeof path);
    mm_error_clear();
    int rc = mm_image_read(path, MM_IMAGE_COLOR, &t);
    CHECK_INT(rc, MM_EPARSE);
    CHECK(t == NULL);
    snprintf(want, sizeof want, "%s: cannot decode image: %s", path, reason);
    CHECK_STR(mm_error_message(), want);
    CHECK(!strchr(mm_error_message(), '\n'));
}

MM_TEST(image_empty_file_is_refused) {
    check_refused("empty.png", "empty file");
}

MM_TEST(image_truncated_jpeg_is_refused) {
    check_refused("truncated.jpg", "Corrupt JPEG");
}

MM_TEST(image_truncated_png_is_refused) {
    check_refused("truncated.png", "Corrupt PNG");
}

MM_TEST(image_text_file_is_refused) {
    check_refused("not_an_image.jpg",
                  "Image not of any known type, or corrupt");
}

MM_TEST(image_forged_huge_header_is_refused) {
    /* chelsea.png claiming 40000 x 40000 pixels in its IHDR */
    char path[512], *buf;
    size_t len;
    CHECK_OK(mm_file_read(fixture("chelsea.png", path, sizeof path), &buf,
                          &len));
    const uint8_t big[8] = {0, 0, 0x9c, 0x40, 0, 0, 0x9c, 0x40};
    memcpy(buf + 16, big, 8);
    mm_tensor *t = NULL;
    /* stb's own size check or ours (2^30 pixels), before allocating */
    mm_error_clear();
    CHECK_INT(mm_image_decode(buf, len, MM_IMAGE_COLOR, "forged.png", &t),
              MM_EPARSE);
    CHECK(t == NULL);
    CHECK(strncmp(mm_error_message(), "forged.png: cannot decode image: ",
                  33) == 0);
    /* a BMP header claiming 32768 x 32769 passes stb's checks, not ours */
    uint8_t bmp[64] = {'B', 'M'};
    bmp[14] = 40;                           /* BITMAPINFOHEADER */
    bmp[19] = 0x80;                         /* width 32768 */
    bmp[22] = 0x01, bmp[23] = 0x80;         /* height 32769 */
    bmp[26] = 1, bmp[28] = 24;              /* planes, bpp */
    bmp[10] = 54;                           /* pixel data offset */
    CHECK_INT(mm_image_decode(bmp, sizeof bmp, MM_IMAGE_COLOR, "forged.bmp",
                              &t),
              MM_EPARSE);
    CHECK(t == NULL);
    CHECK_STR(mm_error_message(), "forged.bmp: cannot decode image: "
                                  "32768x32769 is more than 2^30 pixels");
    free(buf);
}

MM_TEST(image_missing_file_is_enoent) {
    mm_tensor *t = NULL;
    CHECK_INT(mm_image_read("/nonexistent/cat.jpg", MM_IMAGE_COLOR, &t),
              MM_ENOENT);
    CHECK(strstr(mm_error_message(), "/nonexistent/cat.jpg") != NULL);
}

MM_TEST(image_every_truncation_is_refused_or_decoded) {
    /* Every prefix of the PNG and JPEG fixtures: an error or an image,
     * never a crash (ASan watches). */
    const char *files[] = {"chelsea.png", "chelsea.jpg", "camera.bmp"};
    for (int f = 0; f < 3; f++) {
        char path[512], *buf;
        size_t len;
        CHECK_OK(mm_file_read(fixture(files[f], path, sizeof path), &buf,
                              &len));
        for (size_t n = 0; n < len; n += 7) {
            mm_tensor *t = NULL;
            int rc = mm_image_decode(buf, n, MM_IMAGE_UNCHANGED, files[f], &t);
            CHECK(rc == MM_OK || rc == MM_EPARSE);
            CHECK((rc == MM_OK) == (t != NULL));
            mm_tensor_release(t);
        }
        free(buf);
    }
}

MM_TEST(image_png_write_round_trips) {
    mm_tensor *a = read_fixture("chelsea.png", MM_IMAGE_COLOR), *b = NULL;
    char path[] = "/tmp/mm_image_test_XXXXXX";
    CHECK(mkdtemp(path) != NULL);
    char file[600];
    snprintf(file, sizeof file, "%s/out.png", path);
    CHECK_OK(mm_image_write(file, a, 0));
    CHECK_OK(mm_image_read(file, MM_IMAGE_COLOR, &b));
    CHECK(a && b && mm_tensor_same_shape(a, b));
    if (a && b)
        CHECK(memcmp(MM_DATA(a, uint8_t), MM_DATA(b, uint8_t),
                     (size_t)a->numel) == 0);
    mm_tensor_release(b);
    /* a JPEG at quality 95 stays close */
    snprintf(file, sizeof file, "%s/out.jpg", path);
    CHECK_OK(mm_image_write(file, a, 95));
    CHECK_OK(mm_image_read(file, MM_IMAGE_COLOR, &b));
    if (a && b) {
        double sum = 0;
        for (int64_t i = 0; i < a->numel; i++)
            sum += abs(MM_DATA(a, uint8_t)[i] - MM_DATA(b, uint8_t)[i]);
        CHECK(sum / (double)a->numel < 4);
    }
    CHECK(remove(file) == 0);
    snprintf(file, sizeof file, "%s/out.png", path);
    CHECK(remove(file) == 0);
    CHECK(rmdir(path) == 0);
    mm_tensor_release(b);
    mm_tensor_release(a);
}

MM_TEST(image_write_without_extension_is_an_error) {
    mm_tensor *a = read_fixture("camera.png", MM_IMAGE_GRAYSCALE);
    CHECK_ERR(mm_image_write("/tmp/noext", a, 95), MM_EINVAL,
              "/tmp/noext: no file extension to choose the image format "
              "(.png, .jpg, .bmp)");
    CHECK_ERR(mm_image_write("/tmp/x.gif", a, 95), MM_EINVAL,
              "/tmp/x.gif: cannot encode image as 'gif': png, jpg or bmp");
    mm_tensor_release(a);
}

/* cv2.resize: nearest and area exact or within one level, bilinear and
 * bicubic within one level (cv2's SIMD and scalar paths round the last
 * fixed-point step differently), f32 within float rounding. */
MM_TEST(image_resize_matches_cv2) {
    const mm_value *cases = expected("resize");
    CHECK(mm_value_len(cases) >= 40);
    int exact = 0, total = 0;
    for (size_t i = 0; i < mm_value_len(cases); i++) {
        const mm_value *c = mm_value_list_get(cases, i);
        const char *file = mm_value_get_string(mm_value_dict_get(c, "file"));
        const char *dt = mm_value_get_string(mm_value_dict_get(c, "dtype"));
        const char *ip =
            mm_value_get_string(mm_value_dict_get(c, "interpolation"));
        const mm_value *size = mm_value_dict_get(c, "size");
        int64_t w = mm_value_get_int(mm_value_list_get(size, 0));
        int64_t h = mm_value_get_int(mm_value_list_get(size, 1));
        mm_image_interp interp;
        CHECK_OK(mm_image_interp_parse(ip, &interp));
        mm_tensor *src = read_fixture(file, MM_IMAGE_UNCHANGED), *x = src;
        mm_tensor *y = NULL;
        bool f32 = strcmp(dt, "f32") == 0;
        if (f32) {
            CHECK_OK(mm_to_dtype(src, MM_F32, &x));
            CHECK_OK(mm_tensor_mul_scalar_(x, 0.75));
        }
        CHECK_OK(mm_image_resize(x, w, h, interp, &y));
        double mx = 0, mean = 0;
        bool same = rec_compare(y, mm_value_dict_get(c, "img"), &mx, &mean);
        double tol = f32 ? 1e-3 : 1;
        if (!same || mx > tol) {
            fprintf(stderr, "  resize %s %s to %lldx%lld %s: max diff %g\n",
                    file, dt, (long long)w, (long long)h, ip, mx);
            mm_test_failures++;
        }
        if (getenv("MM_IMAGE_VERBOSE"))
            printf("  %s %s %lldx%lld %s: max %g mean %g\n", file, dt,
                   (long long)w, (long long)h, ip, mx, mean);
        exact += !f32 && same && mx == 0;
        total += !f32;
        if (f32)
            mm_tensor_release(x);
        mm_tensor_release(y);
        mm_tensor_release(src);
    }
    printf("  resize: %d of %d u8 cases bit-exact with cv2\n", exact, total);
    expected_free();
}

MM_TEST(image_resize_refuses_bad_sizes) {
    mm_tensor *a = read_fixture("camera.png", MM_IMAGE_GRAYSCALE), *y = NULL;
    CHECK_ERR(mm_image_resize(a, 0, 5, MM_IMAGE_BILINEAR, &y), MM_EINVAL,
              "resize: cannot resize 30x24 to 0x5");
    mm_image_interp ip;
    CHECK_ERR(mm_image_interp_parse("lanczos", &ip), MM_EUNSUPPORTED,
              "interpolation 'lanczos' is not supported (nearest, bilinear, "
              "bicubic, area)");
    mm_tensor_release(a);
}

/* Text lands inside its box, in its colour, on its background, clipped
 * to the image; a non-u8 image is refused. */
MM_TEST(draw_text_fills_its_box_and_clips) {
    mm_tensor *img;
    CHECK_OK(mm_zeros(MM_SHAPE(40, 120, 3), MM_U8, &img));
    const uint8_t white[3] = {255, 255, 255}, grey[3] = {50, 60, 70};
    CHECK_OK(mm_image_draw_text(img, 4, 4, "cat: 0.93", 14, white, grey));
    const uint8_t *p = mm_tensor_data(img);
    int64_t fg = 0, bg = 0, other = 0, outside = 0;
    for (int64_t y = 0; y < 40; y++)
        for (int64_t x = 0; x < 120; x++) {
            const uint8_t *q = p + (y * 120 + x) * 3;
            bool inbox = y >= 2 && y < 30 && x >= 2 && x < 120;
            if (q[0] == 255 && q[1] == 255 && q[2] == 255)
                fg++;
            else if (q[0] == 50 && q[1] == 60 && q[2] == 70)
                bg++;
            else if (q[0] || q[1] || q[2])
                other++;
            if (!inbox && (q[0] || q[1] || q[2]))
                outside++;
        }
    CHECK(fg > 100 && bg > fg && other == 0 && outside == 0);
    /* clipped at the right and bottom edges: no crash, pixels drawn */
    CHECK_OK(mm_image_draw_text(img, 100, 30, "long text here", 14, white,
                                NULL));
    mm_tensor *f;
    CHECK_OK(mm_zeros(MM_SHAPE(8, 8, 3), MM_F32, &f));
    CHECK_ERR(mm_image_draw_text(f, 0, 0, "x", 14, white, NULL), MM_EINVAL,
              "draw_text: needs a contiguous u8 (H, W, 3) image");
    mm_tensor_release(f);
    mm_tensor_release(img);
}

MM_TEST_MAIN(MM_CASE(image_decode_matches_cv2_imread),
             MM_CASE(draw_text_fills_its_box_and_clips),
             MM_CASE(image_color_is_bgr_order),
             MM_CASE(image_grayscale_is_hw_and_unchanged_keeps_alpha),
             MM_CASE(image_empty_file_is_refused),
             MM_CASE(image_truncated_jpeg_is_refused),
             MM_CASE(image_truncated_png_is_refused),
             MM_CASE(image_text_file_is_refused),
             MM_CASE(image_forged_huge_header_is_refused),
             MM_CASE(image_missing_file_is_enoent),
             MM_CASE(image_every_truncation_is_refused_or_decoded),
             MM_CASE(image_png_write_round_trips),
             MM_CASE(image_write_without_extension_is_an_error),
             MM_CASE(image_resize_matches_cv2),
             MM_CASE(image_resize_refuses_bad_sizes))
