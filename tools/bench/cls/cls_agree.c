/* cls_agree: the mm side of tools/bench/cls/bf16_agreement.py. Builds the
 * model of a config (random weights, as mmpretrain's init, seed 0), reads
 * N preprocessed images (raw little-endian f32, [N, 3, S, S], already
 * normalised) and classifies each twice in eval mode under no-grad: in f32
 * and under bf16 autocast.
 *
 *   cls_agree [--plugin-dir D] CONFIG IMAGES N SIZE BATCH
 *
 * Prints one JSON line: {"n": N, "f32": [top-1 per image], "bf16": [..],
 * "agree": count, "max_abs_diff": largest |logit f32 - logit bf16|}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/mm.h"

static int build_model(const char *config, mm_module **out) {
    mm_value *cfg;
    MM_TRY(mm_config_load(config, NULL, 0, &cfg));
    const mm_value *ds = mm_value_dict_get(cfg, "default_scope");
    int rc = mm_registry_build(
        MM_MODELS, mm_value_dict_get(cfg, "model"),
        mm_value_is_string(ds) ? mm_value_get_string(ds) : NULL, "model",
        NULL, (void **)out);
    mm_value_release(cfg);
    return rc;
}

/* The logits of x ([B, classes], f32) in f32 or under bf16 autocast. */
static int logits(mm_module *m, mm_tensor *x, bool bf16, mm_tensor **out) {
    mm_no_grad_push();
    int rc = bf16 ? mm_autocast_push(MM_BF16) : MM_OK;
    mm_tensor *y = NULL;
    if (!rc)
        rc = mm_module_forward1(m, x, &y);
    if (bf16)
        mm_autocast_pop();
    mm_no_grad_pop();
    if (!rc)
        rc = mm_to_dtype(y, MM_F32, &y);
    if (!rc)
        rc = mm_contiguous(y, out);
    return rc;
}

static int run(mm_module *m, const float *images, int64_t n, int64_t size,
               int64_t batch, int64_t *top_f32, int64_t *top_bf16,
               double *max_diff) {
    int64_t per = 3 * size * size;
    for (int64_t s = 0; s < n; s += batch) {
        int64_t b = n - s < batch ? n - s : batch;
        mm_pool *pool;
        MM_TRY(mm_pool_open(&pool));
        mm_tensor *x, *yf = NULL, *yb = NULL;
        int rc = mm_from_data(images + s * per, MM_SHAPE(b, 3, size, size),
                              MM_F32, &x);
        if (!rc)
            rc = logits(m, x, false, &yf);
        if (!rc)
            rc = logits(m, x, true, &yb);
        if (!rc) {
            int64_t classes = yf->shape[1];
            const float *pf = MM_DATA(yf, float), *pb = MM_DATA(yb, float);
            for (int64_t i = 0; i < b; i++) {
                int64_t af = 0, ab = 0;
                for (int64_t c = 0; c < classes; c++) {
                    const float *rf = pf + i * classes, *rb = pb + i * classes;
                    if (rf[c] > rf[af])
                        af = c;
                    if (rb[c] > rb[ab])
                        ab = c;
                    double d = fabs((double)rf[c] - rb[c]);
                    if (d > *max_diff)
                        *max_diff = d;
                }
                top_f32[s + i] = af;
                top_bf16[s + i] = ab;
            }
        }
        mm_pool_close(pool);
        MM_TRY(rc);
    }
    return MM_OK;
}

int main(int argc, char **argv) {
    int a = 1;
    const char *plugin_dir = NULL;
    if (argc > 2 && strcmp(argv[1], "--plugin-dir") == 0) {
        plugin_dir = argv[2];
        a = 3;
    }
    if (argc - a != 5) {
        fprintf(stderr, "usage: cls_agree [--plugin-dir D] CONFIG IMAGES N "
                        "SIZE BATCH\n");
        return 2;
    }
    const char *config = argv[a], *path = argv[a + 1];
    int64_t n = atoll(argv[a + 2]), size = atoll(argv[a + 3]),
            batch = atoll(argv[a + 4]);
    if (n < 1 || size < 1 || batch < 1)
        return fprintf(stderr, "cls_agree: bad N/SIZE/BATCH\n"), 2;
    size_t count = (size_t)(n * 3 * size * size);
    float *images = malloc(count * sizeof(float));
    int64_t *tf = malloc((size_t)n * sizeof(int64_t));
    int64_t *tb = malloc((size_t)n * sizeof(int64_t));
    FILE *f = fopen(path, "rb");
    int ok = images && tf && tb && f &&
             fread(images, sizeof(float), count, f) == count;
    if (f)
        fclose(f);
    if (!ok) {
        fprintf(stderr, "cls_agree: cannot read %zu floats from %s\n", count,
                path);
        free(images);
        free(tf);
        free(tb);
        return 1;
    }
    mm_module *m = NULL;
    mm_pool *pool = NULL;
    double max_diff = 0;
    int rc = plugin_dir ? mm_plugin_path_prepend(plugin_dir) : MM_OK;
    if (!rc)
        rc = mm_pool_open(&pool);
    mm_manual_seed(0);
    if (!rc)
        rc = build_model(config, &m);
    if (!rc) {
        mm_module_eval(m);
        rc = run(m, images, n, size, batch, tf, tb, &max_diff);
    }
    if (rc) {
        fprintf(stderr, "cls_agree: %s\n", mm_error_message());
    } else {
        int64_t agree = 0;
        printf("{\"n\": %lld, \"f32\": [", (long long)n);
        for (int64_t i = 0; i < n; i++)
            printf("%s%lld", i ? ", " : "", (long long)tf[i]);
        printf("], \"bf16\": [");
        for (int64_t i = 0; i < n; i++) {
            printf("%s%lld", i ? ", " : "", (long long)tb[i]);
            agree += tf[i] == tb[i];
        }
        printf("], \"agree\": %lld, \"max_abs_diff\": %.6g}\n",
               (long long)agree, max_diff);
    }
    mm_module_free(m);
    mm_pool_close(pool);
    free(images);
    free(tf);
    free(tb);
    return rc ? 1 : 0;
}
