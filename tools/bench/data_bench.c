/* The LeNet-5 data path, per sample: a Fashion-MNIST (or MNIST) training
 * epoch through MNIST get_info -> Resize 32 -> PackInputs ->
 * pseudo_collate -> ClsDataPreprocessor, as configs/_base_/datasets/
 * mnist.yaml sets it up, timed with 0 and with N workers. Prints the time
 * per sample of each stage and a checksum of the preprocessed inputs (the
 * same before and after a change to the data path means bit-identical).
 *
 *     build/tools/bench/data_bench build/plugins/mmcls.so \
 *         /usr/share/datasets/fashion-mnist [workers] [epochs] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mm/mm.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHECK(x)                                                             \
    do {                                                                     \
        if ((x) != 0) {                                                      \
            fprintf(stderr, "%s: %s\n", #x, mm_error_message());             \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

static mm_value *parse(const char *yaml) {
    mm_value *v;
    CHECK(mm_yaml_parse(yaml, strlen(yaml), "bench.yaml", &v));
    return v;
}

/* One epoch; returns seconds; *sum: a checksum of every preprocessed
 * input (FNV over the f32 bits) when dp is given. */
static double epoch(mm_dataloader *dl, mm_module *dp, int64_t e,
                    uint64_t *sum, size_t *n_samples) {
    double t0 = now();
    CHECK(mm_dataloader_begin(dl, e));
    for (;;) {
        mm_pool *pool;
        CHECK(mm_pool_open(&pool));
        mm_value *batch;
        CHECK(mm_dataloader_next(dl, &batch));
        if (!batch) {
            mm_pool_close(pool);
            break;
        }
        *n_samples += mm_value_len(mm_value_dict_get(batch, "inputs"));
        if (dp) {
            mm_tensor *x;
            mm_value *samples;
            CHECK(dp->cls->model->preprocess(dp, batch, true, &x, &samples));
            const uint32_t *bits = mm_tensor_data(x);
            for (int64_t i = 0; i < x->numel; i++)
                *sum = (*sum ^ bits[i]) * 1099511628211ull;
            mm_value_release(samples);
        }
        mm_value_release(batch);
        mm_pool_close(pool);
    }
    return now() - t0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: data_bench MMCLS.so DATA_DIR [workers] "
                        "[epochs]\n");
        return 2;
    }
    int workers = argc > 3 ? atoi(argv[3]) : 2;
    int epochs = argc > 4 ? atoi(argv[4]) : 1;
    CHECK(mm_plugin_load_file(argv[1]));
    char yaml[2048];
    const char *type = strstr(argv[2], "fashion") ? "FashionMNIST" : "MNIST";
    mm_value *dpn = parse("{type: ClsDataPreprocessor, mean: [33.46], "
                          "std: [78.87], num_classes: 10}");
    mm_module *dp;
    CHECK(mm_registry_build(MM_MODELS, dpn, "mmcls", "dp", NULL,
                            (void **)&dp));
    for (int pass = 0; pass < 2; pass++) {
        int nw = pass ? workers : 0;
        snprintf(yaml, sizeof yaml,
                 "{batch_size: 128, num_workers: %d, dataset: {type: %s, "
                 "data_root: '%s', pipeline: [{type: Resize, scale: 32}, "
                 "{type: PackInputs}]}, sampler: {type: DefaultSampler, "
                 "shuffle: true}}",
                 nw, type, argv[2]);
        mm_value *node = parse(yaml);
        mm_dataloader *dl;
        CHECK(mm_dataloader_build(node, "train_dataloader", "mmcls", 0, &dl));
        for (int e = 0; e < epochs; e++) {
            uint64_t sum = 1469598103934665603ull;
            size_t n = 0, n2 = 0;
            double t_dp = epoch(dl, dp, e, &sum, &n);
            uint64_t unused = 0;
            double t_load = epoch(dl, NULL, e, &unused, &n2);
            printf("workers %d epoch %d: %zu samples, load %.2f us/sample, "
                   "load+preprocess %.2f us/sample, checksum %016llx\n",
                   nw, e, n, 1e6 * t_load / (double)n2,
                   1e6 * t_dp / (double)n, (unsigned long long)sum);
        }
        mm_dataloader_free(dl);
        mm_value_release(node);
    }
    mm_module_free(dp);
    mm_value_release(dpn);
    return 0;
}
