/* mmcls.PreciseBNHook through the runner, against mmpretrain's own
 * update_bn_stats recorded by tools/parity/precise_bn_mmpretrain.py
 * (mmpretrain_precise_bn.safetensors): a small ResNet-18 classifier with
 * random weights and statistics (load_from the recording) trains on the
 * recording's 12 images, written as MNIST idx files, in batches of 4 with
 * lr 0, so the weights the hook sees are the recorded ones; its running
 * statistics after the hook must be mmpretrain's average over the same
 * batches. num_batches_tracked counts the train-mode forwards, which shows
 * when the hook ran (interval) and how many batches it read. Also: too few
 * samples, bad arguments, and the RegNet configs that name the hook. */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mm/mm.h"

static const char *const rec_file =
    "tests/mmcls/mmpretrain_precise_bn.safetensors";
static char tmpdir[256];
static mm_checkpoint *rec;

static void cleanup(void) {
    mm_checkpoint_free(rec);
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

/* idx file: big-endian magic and sizes, then the bytes. */
static void write_idx(const char *name, uint32_t magic, const uint32_t *dims,
                      int ndim, const unsigned char *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    uint32_t head[4] = {magic};
    for (int i = 0; i < ndim; i++)
        head[i + 1] = dims[i];
    for (int i = 0; i <= ndim; i++) {
        unsigned char b[4] = {
            (unsigned char)(head[i] >> 24), (unsigned char)(head[i] >> 16),
            (unsigned char)(head[i] >> 8), (unsigned char)head[i]};
        if (fwrite(b, 1, 4, f) != 4)
            abort();
    }
    if (fwrite(data, 1, n, f) != n || fclose(f))
        abort();
}

/* The plugin, the recording, and its images as MNIST's training split. */
static void setup(void) {
    static bool done;
    if (done)
        return;
    done = true;
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/mmcls.so", dir ? dir : "plugins");
    if (mm_plugin_load_file(path) || mm_checkpoint_load(rec_file, &rec)) {
        fprintf(stderr, "setup: %s\n", mm_error_message());
        exit(1);
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mm-precise-bn-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(cleanup);
    mm_log_set_level(MM_LOG_WARNING);
    mm_tensor *images = mm_checkpoint_get(rec, "images");
    mm_tensor *labels = mm_checkpoint_get(rec, "labels");
    if (!images || !labels || images->dtype != MM_U8 || images->ndim != 3 ||
        labels->numel != images->shape[0]) {
        fprintf(stderr, "setup: %s lacks images and labels\n", rec_file);
        exit(1);
    }
    uint32_t dims[3] = {(uint32_t)images->shape[0], (uint32_t)images->shape[1],
                        (uint32_t)images->shape[2]};
    write_idx("train-images-idx3-ubyte", 0x803, dims, 3,
              MM_DATA(images, unsigned char), (size_t)images->numel);
    unsigned char lab[64];
    for (int64_t i = 0; i < labels->numel && i < 64; i++)
        lab[i] = (unsigned char)mm_tensor_get_flat(labels, i);
    write_idx("train-labels-idx1-ubyte", 0x801, dims, 1, lab,
              (size_t)labels->numel);
}

/* The model of the recording, trained with lr 0 (the weights stay the
 * recorded ones); `extra` is YAML merged over it. */
static mm_runner *new_runner(const char *name, const char *extra) {
    setup();
    char text[4096];
    snprintf(text, sizeof text,
             "default_scope: mmcls\n"
             "work_dir: %s/%s\n"
             "load_from: %s\n"
             "model:\n"
             "  type: ImageClassifier\n"
             "  data_preprocessor: {type: ClsDataPreprocessor, mean: [33.46],\n"
             "    std: [78.87], num_classes: 10}\n"
             "  backbone: {type: ResNet, depth: 18, in_channels: 1,\n"
             "    stem_channels: 4, base_channels: 2, num_stages: 3,\n"
             "    strides: [1, 2, 2], dilations: [1, 1, 1], out_indices: [2],\n"
             "    frozen_stages: 1}\n"
             "  neck: {type: GlobalAveragePooling}\n"
             "  head: {type: LinearClsHead, num_classes: 10, in_channels: 8,\n"
             "    loss: {type: CrossEntropyLoss}}\n"
             "train_dataloader:\n"
             "  batch_size: 4\n"
             "  num_workers: 0\n"
             "  sampler: {type: DefaultSampler, shuffle: false}\n"
             "  dataset: {type: MNIST, data_root: '%s',\n"
             "    pipeline: [{type: PackInputs}]}\n"
             "train_cfg: {by_epoch: true, max_epochs: 1}\n"
             "optim_wrapper: {optimizer: {type: SGD, lr: 0.0}}\n"
             "default_hooks: {checkpoint: null}\n"
             "custom_hooks: [{type: PreciseBNHook, num_samples: 12}]\n"
             "randomness: {seed: 0}\n",
             tmpdir, name, rec_file, tmpdir);
    mm_value *cfg = NULL, *over = NULL, *merged = NULL;
    if (mm_yaml_parse(text, strlen(text), "precise_bn.yaml", &cfg) ||
        mm_yaml_parse(extra, strlen(extra), "extra.yaml", &over) ||
        mm_config_merge(cfg, over, &merged)) {
        fprintf(stderr, "bad YAML: %s\n", mm_error_message());
        exit(1);
    }
    mm_runner *r = NULL;
    int rc = mm_runner_new(merged, "precise_bn.yaml", &r);
    mm_value_release(cfg);
    mm_value_release(over);
    mm_value_release(merged);
    if (rc) {
        fprintf(stderr, "mm_runner_new: %s\n", mm_error_message());
        mm_test_failures++;
        return NULL;
    }
    return r;
}

/* Every running_mean / running_var of the model against the recording's
 * after<k>.*, and num_batches_tracked against the recorded count (7 and
 * the k forwards of mmpretrain's pass) plus `more` train-mode forwards
 * before the last pass (batch norms of the frozen stages: none). */
static void check_stats(mm_runner *r, int k, int64_t more) {
    mm_module *model = mm_runner_model(r);
    char prefix[16];
    int len = snprintf(prefix, sizeof prefix, "after%d.", k);
    size_t checked = 0, frozen = 0;
    double worst = 0, worst_got = 0, worst_want = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < mm_checkpoint_count(rec); i++) {
        const char *name;
        mm_tensor *want;
        CHECK_OK(mm_checkpoint_at(rec, i, &name, &want));
        if (strncmp(name, prefix, (size_t)len) != 0)
            continue;
        mm_tensor *got = mm_module_find_tensor(model, name + len);
        CHECK(got && got->numel == want->numel);
        if (!got || got->numel != want->numel)
            continue;
        if (strstr(name, "num_batches_tracked")) {
            int64_t w = (int64_t)mm_tensor_get_flat(want, 0);
            bool is_frozen = w == 7; /* mmpretrain's pass left it alone */
            frozen += is_frozen;
            CHECK_INT(mm_tensor_get_flat(got, 0), w + (is_frozen ? 0 : more));
            continue;
        }
        for (int64_t j = 0; j < want->numel; j++) {
            double a = mm_tensor_get_flat(got, j),
                   b = mm_tensor_get_flat(want, j);
            double err = fabs(a - b) / (1e-3 + fabs(b));
            if (err > worst) {
                worst = err;
                worst_name = name;
                worst_got = a;
                worst_want = b;
            }
        }
        checked++;
    }
    /* 16 batch norms; the stem's and layer1's 6 are frozen */
    CHECK_INT(checked, 32);
    CHECK_INT(frozen, 6);
    if (worst > 1e-4)
        fprintf(stderr, "%s: %.9g, mmpretrain %.9g\n", worst_name, worst_got,
                worst_want);
    CHECK(worst <= 1e-4);
}

static int check_momentum(const char *name, mm_module *m, void *user) {
    (void)name, (void)user;
    if (mm_module_is_batch_norm(m)) {
        CHECK(((mm_nn_norm *)m)->momentum == 0.1);
        CHECK(!((mm_nn_norm *)m)->momentum_none);
    }
    return MM_OK;
}

MM_TEST(precise_bn_averages_the_batch_statistics_as_mmpretrain) {
    mm_runner *r = new_runner("epoch", "{}");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    /* the hook's 3 forwards after the epoch's 3 */
    check_stats(r, 3, 3);
    CHECK_OK(mm_module_named_modules(mm_runner_model(r), check_momentum, NULL));
    mm_runner_free(r);
}

MM_TEST(precise_bn_reads_num_samples_over_batch_size_batches) {
    /* 11 // 4 = 2 batches */
    mm_runner *r = new_runner(
        "two", "custom_hooks: [{type: PreciseBNHook, num_samples: 11}]");
    if (r) {
        CHECK_OK(mm_runner_train(r));
        check_stats(r, 2, 3);
        mm_runner_free(r);
    }
    /* the default 8192: at most the 3 batches there are (with workers) */
    r = new_runner("all", "custom_hooks: [{type: PreciseBNHook}]\n"
                          "train_dataloader: {num_workers: 2}");
    if (r) {
        CHECK_OK(mm_runner_train(r));
        check_stats(r, 3, 3);
        mm_runner_free(r);
    }
}

MM_TEST(precise_bn_runs_every_interval_epochs) {
    /* after epoch 2 only: 9 training forwards and 3 of the hook */
    mm_runner *r =
        new_runner("interval2", "train_cfg: {max_epochs: 3}\n"
                                "custom_hooks: [{type: PreciseBNHook, "
                                "num_samples: 12, interval: 2}]");
    if (r) {
        CHECK_OK(mm_runner_train(r));
        mm_tensor *t = mm_module_find_tensor(
            mm_runner_model(r), "backbone.layer2.0.bn1.num_batches_tracked");
        CHECK(t && mm_tensor_get_flat(t, 0) == 7 + 9 + 3);
        mm_runner_free(r);
    }
    /* interval 3 over 3 epochs: the statistics of the end are the hook's */
    r = new_runner("interval3", "train_cfg: {max_epochs: 3}\n"
                                "custom_hooks: [{type: PreciseBNHook, "
                                "num_samples: 12, interval: 3}]");
    if (r) {
        CHECK_OK(mm_runner_train(r));
        check_stats(r, 3, 9);
        mm_runner_free(r);
    }
}

MM_TEST(precise_bn_runs_every_interval_iterations_of_an_iter_loop) {
    /* after iterations 2 and 4: the last pass follows 4 training forwards
     * and the first pass's 3 */
    mm_runner *r = new_runner(
        "iters", "train_cfg: {_delete_: true, type: IterBasedTrainLoop, "
                 "max_iters: 4}\n"
                 "custom_hooks: [{type: PreciseBNHook, num_samples: 12, "
                 "interval: 2}]");
    if (!r)
        return;
    CHECK_OK(mm_runner_train(r));
    check_stats(r, 3, 4 + 3);
    mm_runner_free(r);
}

MM_TEST(precise_bn_fewer_samples_than_a_batch_is_an_error) {
    mm_runner *r = new_runner(
        "few", "custom_hooks: [{type: PreciseBNHook, num_samples: 3}]");
    if (!r)
        return;
    mm_error_clear();
    CHECK(mm_runner_train(r) == MM_EINVAL);
    const char *msg = mm_error_message();
    CHECK_STR(msg, "extra.yaml:1:51: PreciseBNHook.after_train_epoch: "
                   "custom_hooks.0.num_samples (3) is less than one batch "
                   "of train_dataloader (batch_size 4 x world_size 1), so "
                   "there is no batch to compute the BN statistics from; "
                   "set num_samples to 4 or more");
    /* the statistics are untouched: still the recorded ones updated by
     * the epoch's 3 forwards (not zeros, as mmpretrain would leave) */
    mm_tensor *t = mm_module_find_tensor(mm_runner_model(r),
                                         "backbone.layer2.0.bn1.running_var");
    CHECK(t && mm_tensor_get_flat(t, 0) > 0);
    mm_runner_free(r);
}

MM_TEST(precise_bn_nonpositive_arguments_are_refused) {
    setup();
    const char *bad[] = {"custom_hooks: [{type: PreciseBNHook, "
                         "num_samples: 0}]",
                         "custom_hooks: [{type: PreciseBNHook, "
                         "interval: -1}]"};
    for (int i = 0; i < 2; i++) {
        mm_value *cfg = NULL;
        CHECK_OK(mm_yaml_parse(bad[i], strlen(bad[i]), "bad.yaml", &cfg));
        const mm_value *node =
            mm_value_list_get(mm_value_dict_get(cfg, "custom_hooks"), 0);
        mm_hook *h = NULL;
        mm_error_clear();
        CHECK(mm_hook_build(node, "custom_hooks.0", "mmcls", &h) == MM_EINVAL);
        CHECK(strstr(mm_error_message(), "bad.yaml:1:") != NULL);
        CHECK(strstr(mm_error_message(), "'interval' and 'num_samples' must "
                                         "be bigger than 0") != NULL);
        mm_value_release(cfg);
    }
}

MM_TEST(regnet_configs_validate_with_precise_bn_hook) {
    setup();
    glob_t g;
    CHECK(glob("configs/mmcls/regnet/regnetx-*.yaml", 0, NULL, &g) == 0);
    CHECK(g.gl_pathc == 8);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        mm_value *cfg = NULL;
        CHECK_OK(mm_config_load(g.gl_pathv[i], NULL, 0, &cfg));
        if (!cfg)
            continue;
        CHECK_OK(mm_config_validate_components(cfg));
        const mm_value *h = mm_config_get(cfg, "custom_hooks.0");
        CHECK(h && strcmp(mm_value_get_string(mm_value_dict_get(h, "type")),
                          "PreciseBNHook") == 0);
        mm_hook *hook = NULL;
        CHECK_OK(mm_hook_build(h, "custom_hooks.0", "mmcls", &hook));
        CHECK(hook && hook->priority == MM_PRIORITY_ABOVE_NORMAL);
        mm_hook_free(hook);
        mm_value_release(cfg);
    }
    globfree(&g);
}

MM_TEST_MAIN(MM_CASE(precise_bn_averages_the_batch_statistics_as_mmpretrain),
             MM_CASE(precise_bn_reads_num_samples_over_batch_size_batches),
             MM_CASE(precise_bn_runs_every_interval_epochs),
             MM_CASE(precise_bn_runs_every_interval_iterations_of_an_iter_loop),
             MM_CASE(precise_bn_fewer_samples_than_a_batch_is_an_error),
             MM_CASE(precise_bn_nonpositive_arguments_are_refused),
             MM_CASE(regnet_configs_validate_with_precise_bn_hook))
