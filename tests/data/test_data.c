/* The data side (mm/data.h): the dataset base as mmengine's BaseDataset,
 * the wrappers, the samplers, both collates and the dataloader, with the
 * `datatest` plugin's Toy dataset (sample i is {x: i, gt_label}) and its
 * transforms (DropIf, FailIf, RandomAdd, ToTensor, ThreadTag). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mm/autograd.h"
#include "mm/data.h"
#include "mm/plugin.h"
#include "mm/tensor.h"

static void setup(void) {
    static bool done;
    if (done)
        return;
    done = true;
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/datatest.so", dir ? dir : ".");
    if (mm_plugin_load_file(path)) {
        fprintf(stderr, "loading %s: %s\n", path, mm_error_message());
        exit(1);
    }
}

static mm_value *parse(const char *yaml) {
    mm_value *v = NULL;
    if (mm_yaml_parse(yaml, strlen(yaml), "data.yaml", &v)) {
        fprintf(stderr, "bad test YAML: %s\n", mm_error_message());
        exit(1);
    }
    return v;
}

/* Build the DATASETS config `yaml` at key path "ds". */
static int build_ds(const char *yaml, mm_dataset **out) {
    setup();
    mm_value *node = parse(yaml);
    int rc = mm_registry_build(MM_DATASETS, node, "datatest", "ds", NULL,
                               (void **)out);
    mm_value_release(node);
    return rc;
}

static int build_loader(const char *yaml, uint64_t seed, mm_dataloader **out) {
    setup();
    mm_value *node = parse(yaml);
    int rc =
        mm_dataloader_build(node, "train_dataloader", "datatest", seed, out);
    mm_value_release(node);
    return rc;
}

static int64_t get_x(mm_dataset *ds, size_t i) {
    mm_value *s = NULL;
    int rc = mm_dataset_get(ds, i, &s);
    if (rc) {
        fprintf(stderr, "get %zu: %s\n", i, mm_error_message());
        return -1;
    }
    int64_t x = mm_value_get_int(mm_value_dict_get(s, "x"));
    mm_value_release(s);
    return x;
}

static int64_t info_int(mm_dataset *ds, size_t i, const char *key) {
    mm_value *s = NULL;
    if (mm_dataset_get_info(ds, i, &s))
        return -1;
    int64_t v = mm_value_get_int(mm_value_dict_get(s, key));
    mm_value_release(s);
    return v;
}

/* ---- the dataset base ------------------------------------------------------
 */

MM_TEST(dataset_lazy_init_loads_on_first_use) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy, n: 4, lazy_init: true}", &ds));
    if (!ds)
        return;
    CHECK(mm_dataset_data_list(ds) == NULL); /* not loaded yet */
    CHECK_INT(mm_dataset_len(ds), 4);        /* full_init on first use */
    CHECK_INT(mm_value_len(mm_dataset_data_list(ds)), 4);
    mm_dataset_free(ds);

    CHECK_OK(build_ds("{type: Toy, n: 4}", &ds)); /* eager by default */
    CHECK_INT(mm_value_len(mm_dataset_data_list(ds)), 4);
    mm_dataset_free(ds);
}

MM_TEST(dataset_metainfo_config_updates_class_metainfo) {
    /* A string naming a file becomes its lines (mmengine's list_from_file);
     * any other string stays a string. */
    char path[] = "/tmp/mm_classes_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK_INT(write(fd, "cat\ndog\r\nbird", 13), 13);
    close(fd);
    char yaml[256];
    snprintf(yaml, sizeof yaml,
             "{type: Toy, metainfo: {classes: %s, palette: not-a-file, "
             "extra: [1]}}",
             path);
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds(yaml, &ds));
    unlink(path);
    if (!ds)
        return;
    mm_value *meta = mm_dataset_metainfo(ds);
    mm_value *want = parse("{classes: [cat, dog, bird], palette: not-a-file, "
                           "extra: [1]}");
    CHECK(mm_value_equal(meta, want));
    mm_value_release(want);
    mm_dataset_free(ds);

    CHECK_OK(build_ds("{type: Toy}", &ds)); /* the class's METAINFO */
    want = parse("{classes: [a, b, c], palette: [1, 2]}");
    CHECK(mm_value_equal(mm_dataset_metainfo(ds), want));
    mm_value_release(want);
    mm_dataset_free(ds);
}

MM_TEST(dataset_indices_keep_a_subset) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy, indices: 3}", &ds));
    CHECK_INT(mm_dataset_len(ds), 3);
    CHECK_INT(info_int(ds, 2, "x"), 2);
    mm_dataset_free(ds);

    CHECK_OK(build_ds("{type: Toy, indices: -2}", &ds)); /* data_list[-2:] */
    CHECK_INT(mm_dataset_len(ds), 2);
    CHECK_INT(info_int(ds, 0, "x"), 8);
    CHECK_INT(info_int(ds, 0, "sample_idx"), 0); /* the position kept */
    mm_dataset_free(ds);

    /* data_list[-2**63:] is all of it (no overflow negating the int) */
    CHECK_OK(build_ds("{type: Toy, indices: -9223372036854775808}", &ds));
    CHECK_INT(mm_dataset_len(ds), 10);
    mm_dataset_free(ds);

    CHECK_OK(build_ds("{type: Toy, indices: [5, -1, 5]}", &ds));
    CHECK_INT(mm_dataset_len(ds), 3);
    CHECK_INT(get_x(ds, 0), 5);
    CHECK_INT(get_x(ds, 1), 9);
    CHECK_INT(get_x(ds, 2), 5);
    mm_dataset_free(ds);

    ds = NULL;
    CHECK_ERR(build_ds("{type: Toy, indices: [1, 10]}", &ds), MM_ERANGE,
              "data.yaml:1:26: ds (datatest.Toy): indices[1]: index 10 is "
              "out of range for 10 samples");
    CHECK(ds == NULL);
}

MM_TEST(dataset_get_adds_sample_idx_and_runs_the_pipeline) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy, pipeline: [{type: ToTensor}]}", &ds));
    mm_value *s = NULL;
    CHECK_OK(mm_dataset_get(ds, 7, &s));
    CHECK_INT(mm_value_get_int(mm_value_dict_get(s, "sample_idx")), 7);
    CHECK_INT(mm_value_get_int(mm_value_dict_get(s, "gt_label")), 1);
    mm_tensor *img = mm_tensor_from_value(mm_value_dict_get(s, "img"));
    CHECK(img && mm_tensor_get_flat(img, 0) == 7.0);
    mm_value_release(s);
    CHECK_ERR(mm_dataset_get(ds, 10, &s), MM_ERANGE,
              "ds (datatest.Toy): sample 10 is out of range (10 samples)");
    mm_dataset_free(ds);
}

MM_TEST(dataset_dropped_sample_is_refetched_from_a_random_index) {
    mm_dataset *ds = NULL;
    CHECK_OK(
        build_ds("{type: Toy, pipeline: [{type: DropIf, x: [3, 4]}]}", &ds));
    mm_generator *gen;
    CHECK_OK(mm_generator_new(11, &gen));
    mm_data_set_generator(gen);
    int64_t x = get_x(ds, 3);
    CHECK(x >= 0 && x < 10 && x != 3 && x != 4);
    /* the same generator state gives the same replacement */
    mm_generator_seed(gen, 11);
    CHECK_INT(get_x(ds, 3), x);
    CHECK_INT(get_x(ds, 5), 5); /* kept samples are not touched */
    mm_data_set_generator(NULL);
    mm_generator_free(gen);
    mm_dataset_free(ds);
}

MM_TEST(dataset_drop_in_test_mode_is_an_error) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy, test_mode: true, "
                      "pipeline: [{type: DropIf, x: [3]}]}",
                      &ds));
    mm_value *s = NULL;
    CHECK_ERR(mm_dataset_get(ds, 3, &s), MM_EINVAL,
              "ds (datatest.Toy): sample 3: the pipeline dropped the sample, "
              "which a test-time pipeline must not do (test_mode: true)");
    CHECK(s == NULL);
    CHECK_INT(get_x(ds, 2), 2);
    mm_dataset_free(ds);
}

MM_TEST(dataset_refetch_gives_up_after_max_refetch) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy, n: 2, max_refetch: 5, "
                      "pipeline: [{type: DropIf, x: [0, 1]}]}",
                      &ds));
    mm_value *s = NULL;
    CHECK_ERR(mm_dataset_get(ds, 1, &s), MM_EINVAL,
              "ds (datatest.Toy): cannot find a valid sample after 5 "
              "refetches (starting from sample 1); check the data paths and "
              "the pipeline");
    mm_dataset_free(ds);
}

MM_TEST(dataset_pipeline_error_names_the_sample) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy, pipeline: [{type: FailIf, x: 4}]}", &ds));
    mm_value *s = NULL;
    CHECK_ERR(mm_dataset_get(ds, 4, &s), MM_EIO,
              "ds (datatest.Toy): sample 4: FailIf: cannot read sample x=4");
    mm_dataset_free(ds);
}

/* A class made directly (no config): the data list's dicts, copied. */
static int direct_load(mm_dataset *ds) {
    mm_value *list = parse("[{v: 1}, {v: 2}]");
    mm_dataset_set_data_list(ds, list);
    return MM_OK;
}

MM_TEST(dataset_new_without_config) {
    static const mm_dataset_class cls = {
        .name = "Direct", .metainfo = "{classes: [p]}", .load = direct_load};
    mm_dataset *ds;
    CHECK_OK(mm_dataset_new(&cls, 0, &ds));
    CHECK_STR(mm_dataset_path(ds), "");
    CHECK(mm_dataset_node(ds) == NULL);
    CHECK_OK(mm_dataset_full_init(ds));
    CHECK_INT(mm_dataset_len(ds), 2);
    CHECK_INT(info_int(ds, 1, "v"), 2);
    char buf[64];
    CHECK_STR(mm_dataset_join_root(ds, "a/b", buf, sizeof buf), "a/b");
    mm_dataset_set_test_mode(ds, true);
    CHECK(mm_dataset_test_mode(ds));
    mm_value *s = NULL;
    CHECK_ERR(mm_dataset_get(ds, 2, &s), MM_ERANGE,
              "Direct: sample 2 is out of range (2 samples)");
    mm_dataset_free(ds);
}

MM_TEST(dataset_join_root_keeps_absolute_paths) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy, data_root: data/mnist}", &ds));
    char buf[64];
    CHECK_STR(mm_dataset_join_root(ds, "train", buf, sizeof buf),
              "data/mnist/train");
    CHECK_STR(mm_dataset_join_root(ds, "/abs", buf, sizeof buf), "/abs");
    CHECK_STR(mm_dataset_path(ds), "ds");
    CHECK_INT(mm_value_get_int(mm_value_dict_get(mm_dataset_node(ds), "n")),
              10); /* defaults are filled in */
    mm_dataset_free(ds);
}

/* ---- wrappers
 * ---------------------------------------------------------------- */

MM_TEST(concat_dataset_joins_datasets_in_order) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: ConcatDataset, datasets: [{type: Toy, n: 3}, "
                      "{type: Toy, n: 4}]}",
                      &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 7);
    CHECK_INT(get_x(ds, 2), 2);
    CHECK_INT(get_x(ds, 3), 0);
    CHECK_INT(get_x(ds, 6), 3);
    CHECK_INT(info_int(ds, 5, "sample_idx"), 2); /* the inner dataset's */
    mm_value *want = parse("{classes: [a, b, c], palette: [1, 2]}");
    CHECK(mm_value_equal(mm_dataset_metainfo(ds), want));
    mm_value_release(want);
    mm_dataset_free(ds);
}

MM_TEST(concat_dataset_checks_metainfo_unless_ignored) {
    mm_dataset *ds = NULL;
    CHECK_ERR(build_ds("{type: ConcatDataset, datasets: [{type: Toy}, "
                       "{type: Toy, metainfo: {classes: [z]}}]}",
                       &ds),
              MM_EINVAL,
              "data.yaml:1:33: ds (mm.ConcatDataset): datasets[1]: metainfo "
              "'classes' does not match the first dataset's (list it in "
              "ignore_keys to skip the check)");
    CHECK_ERR(build_ds("{type: ConcatDataset, datasets: [{type: Toy}, "
                       "{type: Toy, metainfo: {more: 1}}]}",
                       &ds),
              MM_EINVAL,
              "data.yaml:1:33: ds (mm.ConcatDataset): datasets[0]: metainfo "
              "has no 'more' (another dataset has it; list it in ignore_keys "
              "to skip the check)");
    CHECK_OK(build_ds("{type: ConcatDataset, ignore_keys: [classes, more], "
                      "datasets: [{type: Toy}, {type: Toy, metainfo: "
                      "{classes: [z], more: 1}}]}",
                      &ds));
    CHECK_INT(mm_dataset_len(ds), 20);
    mm_dataset_free(ds);
}

MM_TEST(repeat_dataset_repeats_samples) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: RepeatDataset, times: 3, dataset: {type: Toy, "
                      "n: 4}}",
                      &ds));
    CHECK_INT(mm_dataset_len(ds), 12);
    CHECK_INT(get_x(ds, 9), 1);
    CHECK_INT(get_x(ds, 3), 3);
    mm_dataset_free(ds);
    /* a length that would wrap around is refused, not truncated */
    ds = NULL;
    CHECK_ERR(build_ds("{type: RepeatDataset, times: 4611686018427387904, "
                       "dataset: {type: Toy, n: 4}}",
                       &ds),
              MM_EINVAL,
              "data.yaml:1:30: ds (mm.RepeatDataset): times: "
              "4611686018427387904 repeats of "
              "4 samples are more samples than can be indexed");
    CHECK(ds == NULL);
}

static void check_repeat_indices(mm_dataset *ds, const int64_t *want,
                                 size_t n) {
    CHECK_INT(mm_dataset_len(ds), n);
    for (size_t i = 0; i < n && i < mm_dataset_len(ds); i++)
        CHECK_INT(info_int(ds, i, "x"), want[i]);
}

MM_TEST(class_balanced_dataset_matches_mmengine_repeat_indices) {
    /* mmengine's ClassBalancedDataset on the same labels
     * (tools/parity/data_mmengine.py, balanced_single): category 1 is in
     * 2/10 samples, r = sqrt(0.3 / 0.2) = 1.2247 -> 2 copies; category 2 in
     * 1/10, r = sqrt(3) -> 2 copies; category 0 stays at 1. */
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: ClassBalancedDataset, oversample_thr: 0.3, "
                      "dataset: {type: Toy, labels: [0, 0, 0, 0, 0, 0, 1, 1, "
                      "2, 0]}}",
                      &ds));
    static const int64_t single[] = {0, 1, 2, 3, 4, 5, 6, 6, 7, 7, 8, 8, 9};
    check_repeat_indices(ds, single, 13);
    mm_dataset_free(ds);

    /* balanced_multi: multi-label samples take the largest factor of their
     * distinct categories; a sample without categories keeps 1. */
    CHECK_OK(build_ds("{type: ClassBalancedDataset, oversample_thr: 0.5, "
                      "dataset: {type: Toy, labels: [[0, 1], [0], [0, 0], [], "
                      "[2, 0], [0]]}}",
                      &ds));
    static const int64_t multi[] = {0, 0, 1, 2, 3, 4, 4, 5};
    check_repeat_indices(ds, multi, 8);
    mm_dataset_free(ds);
}

MM_TEST(wrapper_lazy_init_defers_the_inner_datasets) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: RepeatDataset, times: 2, lazy_init: true, "
                      "dataset: {type: Toy, n: 3, lazy_init: true}}",
                      &ds));
    CHECK_INT(mm_dataset_len(ds), 6);
    CHECK_INT(get_x(ds, 4), 1);
    mm_dataset_free(ds);
}

/* ---- samplers
 * ------------------------------------------------------------------ */

static mm_sampler *make_sampler(mm_dataset *ds, const char *yaml, int rank,
                                int world, uint64_t seed) {
    mm_value *node = parse(yaml);
    mm_sampler_args args = {
        .dataset = ds, .seed = seed, .rank = rank, .world = world};
    mm_sampler *s = NULL;
    int rc = mm_registry_build(MM_DATA_SAMPLERS, node, NULL, "sampler", &args,
                               (void **)&s);
    if (rc)
        fprintf(stderr, "sampler: %s\n", mm_error_message());
    mm_value_release(node);
    return s;
}

static void check_epoch(mm_sampler *s, const int64_t *want, size_t n) {
    int64_t *idx = NULL;
    size_t m = 0;
    CHECK_OK(mm_sampler_epoch(s, 0, &idx, &m));
    CHECK_INT(m, n);
    for (size_t i = 0; i < n && i < m; i++)
        CHECK_INT(idx[i], want[i]);
    free(idx);
}

MM_TEST(default_sampler_round_up_matches_mmengine) {
    /* tools/parity/data_mmengine.py: sampler_10_3_round_up,
     * sampler_10_3_no_round_up and sampler_2_4_round_up. */
    setup();
    mm_dataset *ds = NULL, *two = NULL;
    CHECK_OK(build_ds("{type: Toy}", &ds));
    CHECK_OK(build_ds("{type: Toy, n: 2}", &two));
    static const int64_t up[3][4] = {{0, 3, 6, 9}, {1, 4, 7, 0}, {2, 5, 8, 1}};
    for (int r = 0; r < 3; r++) {
        mm_sampler *s =
            make_sampler(ds, "{type: DefaultSampler, shuffle: false}", r, 3, 0);
        CHECK_INT(mm_sampler_len(s), 4);
        check_epoch(s, up[r], 4);
        mm_sampler_free(s);
        s = make_sampler(
            ds, "{type: DefaultSampler, shuffle: false, round_up: false}", r, 3,
            0);
        CHECK_INT(mm_sampler_len(s), r == 0 ? 4 : 3);
        check_epoch(s, up[r], r == 0 ? 4 : 3);
        mm_sampler_free(s);
    }
    for (int r = 0; r < 4; r++) {
        mm_sampler *s = make_sampler(
            two, "{type: DefaultSampler, shuffle: false}", r, 4, 0);
        int64_t want = r % 2;
        CHECK_INT(mm_sampler_len(s), 1);
        check_epoch(s, &want, 1);
        mm_sampler_free(s);
    }
    mm_dataset_free(ds);
    mm_dataset_free(two);
}

/* randperm(n) on a generator seeded `seed` (torch.Generator.manual_seed). */
static void randperm(int64_t n, uint64_t seed, int64_t *out) {
    mm_generator *g;
    mm_tensor *t;
    CHECK_OK(mm_generator_new(seed, &g));
    CHECK_OK(mm_randperm(n, MM_I64, g, &t));
    CHECK_OK(mm_tensor_read(t, MM_I64, out, n));
    mm_tensor_release(t);
    mm_generator_free(g);
}

MM_TEST(default_sampler_shuffles_by_seed_plus_epoch) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy}", &ds));
    mm_sampler *s = make_sampler(ds, "{type: DefaultSampler}", 0, 1, 7);
    int64_t want[10];
    randperm(10, 7, want);
    check_epoch(s, want, 10);
    check_epoch(s, want, 10); /* the same epoch again: the same order */
    mm_sampler_set_epoch(s, 2);
    randperm(10, 9, want);
    check_epoch(s, want, 10);
    mm_sampler_free(s);

    /* an explicit seed wins over the run's */
    s = make_sampler(ds, "{type: DefaultSampler, seed: 3}", 0, 1, 7);
    randperm(10, 3, want);
    check_epoch(s, want, 10);
    CHECK(!mm_sampler_is_infinite(s));
    mm_sampler_free(s);
    mm_dataset_free(ds);
}

MM_TEST(infinite_sampler_continues_where_it_left_off) {
    mm_dataset *ds = NULL;
    CHECK_OK(build_ds("{type: Toy, n: 5}", &ds));
    /* the stream: permutations drawn one after another from one generator */
    int64_t stream[15];
    mm_generator *g;
    CHECK_OK(mm_generator_new(3, &g));
    for (int b = 0; b < 3; b++) {
        mm_tensor *t;
        CHECK_OK(mm_randperm(5, MM_I64, g, &t));
        CHECK_OK(mm_tensor_read(t, MM_I64, stream + 5 * b, 5));
        mm_tensor_release(t);
    }
    mm_generator_free(g);

    mm_sampler *s =
        make_sampler(ds, "{type: InfiniteSampler, seed: 3}", 0, 1, 0);
    CHECK(mm_sampler_is_infinite(s));
    CHECK_INT(mm_sampler_len(s), 5);
    int64_t *a, *b;
    size_t na, nb;
    CHECK_OK(mm_sampler_epoch(s, 3, &a, &na));
    mm_sampler_set_epoch(s, 1); /* no effect, as in mmengine */
    CHECK_OK(mm_sampler_epoch(s, 12, &b, &nb));
    CHECK_INT(na + nb, 15);
    for (size_t i = 0; i < 3; i++)
        CHECK_INT(a[i], stream[i]);
    for (size_t i = 0; i < 12; i++)
        CHECK_INT(b[i], stream[3 + i]);
    free(a);
    free(b);
    mm_sampler_free(s);

    /* rank 1 of 2: islice(stream, 1, None, 2) */
    s = make_sampler(ds, "{type: InfiniteSampler}", 1, 2, 3);
    CHECK_OK(mm_sampler_epoch(s, 7, &a, &na));
    for (size_t i = 0; i < 7; i++)
        CHECK_INT(a[i], stream[1 + 2 * i]);
    free(a);
    mm_sampler_free(s);

    /* without shuffle: 0..n-1 over and over */
    s = make_sampler(ds, "{type: InfiniteSampler, shuffle: false}", 0, 1, 3);
    CHECK_OK(mm_sampler_epoch(s, 7, &a, &na));
    for (size_t i = 0; i < 7; i++)
        CHECK_INT(a[i], (int64_t)(i % 5));
    free(a);
    mm_sampler_free(s);
    mm_dataset_free(ds);
}

MM_TEST(sampler_outside_a_dataloader_is_refused) {
    setup();
    mm_value *node = parse("{type: DefaultSampler}");
    void *s = NULL;
    CHECK_ERR(
        mm_registry_build(MM_DATA_SAMPLERS, node, NULL, "sampler", NULL, &s),
        MM_EINVAL,
        "data.yaml:1:1: sampler (mm.DefaultSampler): a sampler is built "
        "by a dataloader, which hands it the dataset");
    mm_value_release(node);
}

/* ---- collate
 * -------------------------------------------------------------------- */

static mm_value *tensor_value(float a, float b) {
    mm_tensor *t;
    if (mm_from_data((float[]){a, b}, 1, (int64_t[]){2}, MM_F32, &t))
        return NULL;
    mm_value *v = mm_tensor_to_value(t);
    mm_tensor_release(t);
    return v;
}

static mm_value *sample(int i) {
    char yaml[160];
    snprintf(yaml, sizeof yaml,
             "{data_samples: {gt_label: %d, sample_idx: %d}, score: %d.5, "
             "flag: %s, name: n%d, pair: [%d, x]}",
             i, i, i, i ? "true" : "false", i, i);
    mm_value *s = parse(yaml);
    mm_value_dict_set_take(s, "inputs", tensor_value((float)i, 10.0f + i));
    return s;
}

MM_TEST(pseudo_collate_transposes_into_lists) {
    mm_value *s[2] = {sample(0), sample(1)};
    mm_value *b = NULL;
    CHECK_OK(mm_pseudo_collate(s, 2, &b));
    mm_value *inputs = mm_value_dict_get(b, "inputs");
    CHECK_INT(mm_value_len(inputs), 2);
    /* the very tensors of the samples, retained */
    CHECK(mm_tensor_from_value(mm_value_list_get(inputs, 1)) ==
          mm_tensor_from_value(mm_value_dict_get(s[1], "inputs")));
    mm_value_dict_del(b, "inputs");
    mm_value *want =
        parse("{data_samples: [{gt_label: 0, sample_idx: 0}, {gt_label: 1, "
              "sample_idx: 1}], score: [0.5, 1.5], flag: [false, true], "
              "name: [n0, n1], pair: [[0, 1], [x, x]]}");
    CHECK(mm_value_equal(b, want));
    mm_value_release(want);
    mm_value_release(b);
    mm_value_release(s[0]);
    mm_value_release(s[1]);
}

MM_TEST(default_collate_stacks_tensors_and_numbers) {
    mm_value *s[2] = {sample(0), sample(1)};
    mm_value *b = NULL;
    CHECK_OK(mm_default_collate(s, 2, &b));
    mm_tensor *in = mm_tensor_from_value(mm_value_dict_get(b, "inputs"));
    CHECK(in && in->ndim == 2 && in->shape[0] == 2 && in->shape[1] == 2);
    CHECK(in && mm_tensor_get_flat(in, 2) == 1.0 &&
          mm_tensor_get_flat(in, 3) == 11.0);
    mm_tensor *score = mm_tensor_from_value(mm_value_dict_get(b, "score"));
    CHECK(score && score->dtype == MM_F64 &&
          mm_tensor_get_flat(score, 1) == 1.5);
    mm_tensor *flag = mm_tensor_from_value(mm_value_dict_get(b, "flag"));
    CHECK(flag && flag->dtype == MM_BOOL && mm_tensor_get_flat(flag, 1) == 1.0);
    mm_value *pair = mm_value_dict_get(b, "pair");
    mm_tensor *p0 = mm_tensor_from_value(mm_value_list_get(pair, 0));
    CHECK(p0 && p0->dtype == MM_I64 && mm_tensor_get_flat(p0, 1) == 1.0);
    mm_value *want = parse("[x, x]");
    CHECK(mm_value_equal(mm_value_list_get(pair, 1), want));
    mm_value_release(want);
    want =
        parse("[{gt_label: 0, sample_idx: 0}, {gt_label: 1, sample_idx: 1}]");
    CHECK(mm_value_equal(mm_value_dict_get(b, "data_samples"), want));
    mm_value_release(want);
    mm_value_release(b);

    /* what torch's default_collate refuses */
    mm_value_dict_set_take(s[1], "inputs", tensor_value(1, 2));
    mm_value_dict_del(s[1], "pair");
    CHECK_ERR(mm_default_collate(s, 2, &b), MM_EINVAL,
              "default_collate: sample 1 has no key 'pair'");
    mm_value_dict_set_take(s[1], "pair", parse("[1]"));
    CHECK_ERR(mm_default_collate(s, 2, &b), MM_EINVAL,
              "default_collate: pair: each element in list of batch should be "
              "of equal size");
    mm_value_dict_set_take(s[1], "pair", parse("[1, y]"));
    mm_value_dict_set_take(s[0], "score", mm_value_new_null());
    CHECK_ERR(mm_default_collate(s, 2, &b), MM_ETYPE,
              "default_collate: score: batch must contain tensors, numbers, "
              "dicts or lists; found null");
    CHECK_ERR(mm_pseudo_collate(s, 0, &b), MM_EINVAL,
              "pseudo_collate: no samples to collate");
    mm_value_release(s[0]);
    mm_value_release(s[1]);
}

/* ---- the dataloader
 * ---------------------------------------------------------- */

/* One line per batch: x, gt_label, r and img of every sample. */
static char *epoch_text(mm_dataloader *dl, int64_t epoch, size_t max) {
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    CHECK_OK(mm_dataloader_begin(dl, epoch));
    for (size_t k = 0; k < max; k++) {
        mm_value *b = NULL;
        CHECK_OK(mm_dataloader_next(dl, &b));
        if (!b)
            break;
        mm_tensor *img = mm_tensor_from_value(mm_value_dict_get(b, "img"));
        mm_value *x = mm_value_dict_get(b, "x");
        mm_value *r = mm_value_dict_get(b, "r");
        CHECK(img && x && r);
        for (int64_t i = 0; img && i < img->shape[0]; i++)
            len += (size_t)snprintf(
                out + len, cap - len, "x%g,%.17g,%g,%g ",
                mm_tensor_get_flat(x ? mm_tensor_from_value(x) : img, i),
                r ? mm_tensor_get_flat(mm_tensor_from_value(r), i) : 0,
                mm_tensor_get_flat(img, 2 * i),
                mm_tensor_get_flat(img, 2 * i + 1));
        len += (size_t)snprintf(out + len, cap - len, "\n");
        mm_value_release(b);
    }
    return out;
}

static const char *loader_yaml =
    "{batch_size: 3, num_workers: %d, %s"
    "dataset: {type: Toy, n: 11, pipeline: [{type: DropIf, x: [4]}, "
    "{type: RandomAdd}, {type: ToTensor}]}, "
    "sampler: {type: DefaultSampler, shuffle: true}, "
    "collate_fn: {type: default_collate}}";

static mm_dataloader *loader(int workers, const char *extra) {
    char yaml[512];
    snprintf(yaml, sizeof yaml, loader_yaml, workers, extra);
    mm_dataloader *dl = NULL;
    CHECK_OK(build_loader(yaml, 42, &dl));
    return dl;
}

MM_TEST(dataloader_batches_identical_for_0_1_2_workers) {
    mm_dataloader *dl[3] = {loader(0, ""), loader(1, ""),
                            loader(2, "prefetch_factor: 1, ")};
    if (!dl[0] || !dl[1] || !dl[2])
        return;
    CHECK_INT(mm_dataloader_len(dl[0]), 4);
    CHECK_INT(mm_dataloader_batch_size(dl[0]), 3);
    for (int64_t epoch = 0; epoch < 2; epoch++) {
        char *t[3];
        for (int w = 0; w < 3; w++)
            t[w] = epoch_text(dl[w], epoch, 100);
        CHECK_INT(strlen(t[0]) > 0, 1);
        CHECK_STR(t[1], t[0]);
        CHECK_STR(t[2], t[0]);
        CHECK(strchr(t[0], '\n') && !strstr(t[0], "x4,")); /* 4 refetched */
        for (int w = 0; w < 3; w++)
            free(t[w]);
    }
    for (int w = 0; w < 3; w++)
        mm_dataloader_free(dl[w]);
}

MM_TEST(dataloader_epochs_differ_and_repeat) {
    mm_dataloader *dl = loader(2, "");
    if (!dl)
        return;
    char *a = epoch_text(dl, 0, 100), *b = epoch_text(dl, 1, 100),
         *c = epoch_text(dl, 0, 100);
    CHECK(strcmp(a, b) != 0);
    CHECK_STR(c, a);
    free(a);
    free(b);
    free(c);
    mm_dataloader_free(dl);
}

/* The thread ids of one epoch's samples. */
static size_t epoch_tids(mm_dataloader *dl, int64_t epoch, int64_t *tids,
                         size_t cap) {
    size_t n = 0;
    CHECK_OK(mm_dataloader_begin(dl, epoch));
    mm_value *b;
    while (!mm_dataloader_next(dl, &b) && b) {
        mm_value *t = mm_value_dict_get(b, "tid");
        for (size_t i = 0; i < mm_value_len(t) && n < cap; i++)
            tids[n++] = mm_value_get_int(mm_value_list_get(t, i));
        mm_value_release(b);
    }
    return n;
}

MM_TEST(dataloader_persistent_workers_serve_every_epoch) {
    mm_dataloader *dl = NULL;
    CHECK_OK(build_loader("{batch_size: 2, num_workers: 2, persistent_workers: "
                          "true, dataset: {type: Toy, n: 12, pipeline: "
                          "[{type: ThreadTag}]}, sampler: {type: "
                          "DefaultSampler}}",
                          0, &dl));
    if (!dl)
        return;
    int64_t first[12], again[12];
    size_t n0 = epoch_tids(dl, 0, first, 12);
    size_t n1 = epoch_tids(dl, 1, again, 12);
    CHECK_INT(n0, 12);
    CHECK_INT(n1, 12);
    /* the same two threads, not this one: every tid of epoch 1 was seen in
     * epoch 0 or is one of the two workers (a worker may idle an epoch) */
    int64_t self = (int64_t)pthread_self();
    for (size_t i = 0; i < n1; i++)
        CHECK(again[i] != self);
    int64_t seen[4];
    size_t n_seen = 0;
    for (size_t i = 0; i < n0 + n1; i++) {
        int64_t t = i < n0 ? first[i] : again[i - n0];
        bool known = false;
        for (size_t k = 0; k < n_seen; k++)
            known |= seen[k] == t;
        if (!known && n_seen < 4)
            seen[n_seen++] = t;
    }
    CHECK(n_seen <= 2);
    mm_dataloader_free(dl);
}

MM_TEST(dataloader_worker_error_comes_back_with_its_message) {
    for (int workers = 0; workers <= 2; workers += 2) {
        char yaml[400];
        snprintf(yaml, sizeof yaml,
                 "{batch_size: 2, num_workers: %d, dataset: {type: Toy, n: 8, "
                 "pipeline: [{type: FailIf, x: 5}]}, "
                 "sampler: {type: DefaultSampler, shuffle: false}}",
                 workers);
        mm_dataloader *dl = NULL;
        CHECK_OK(build_loader(yaml, 0, &dl));
        if (!dl)
            return;
        CHECK_OK(mm_dataloader_begin(dl, 0));
        mm_value *b = NULL;
        CHECK_OK(mm_dataloader_next(dl, &b));
        mm_value_release(b);
        CHECK_OK(mm_dataloader_next(dl, &b));
        mm_value_release(b);
        CHECK_ERR(mm_dataloader_next(dl, &b), MM_EIO,
                  "train_dataloader.dataset (datatest.Toy): sample 5: "
                  "FailIf: cannot read sample x=5");
        CHECK(b == NULL);
        mm_dataloader_free(dl);
    }
}

MM_TEST(dataloader_free_mid_epoch_joins_the_workers) {
    mm_dataloader *dl = loader(2, "prefetch_factor: 3, ");
    if (!dl)
        return;
    CHECK_OK(mm_dataloader_begin(dl, 0));
    mm_value *b = NULL;
    CHECK_OK(mm_dataloader_next(dl, &b));
    CHECK(b != NULL);
    mm_value_release(b);
    mm_dataloader_free(dl); /* batches in flight are dropped, nothing leaks */

    dl = loader(2, "persistent_workers: true, ");
    CHECK_OK(mm_dataloader_begin(dl, 0));
    CHECK_OK(mm_dataloader_next(dl, &b));
    mm_value_release(b);
    mm_dataloader_end(dl); /* stop early; the next epoch starts whole */
    char *t = epoch_text(dl, 0, 100);
    mm_dataloader *ref = loader(0, "");
    char *u = epoch_text(ref, 0, 100);
    CHECK_STR(t, u);
    free(t);
    free(u);
    mm_dataloader_free(ref);
    mm_dataloader_free(dl);
}

static size_t count_batches(mm_dataloader *dl, size_t *last) {
    size_t n = 0;
    CHECK_OK(mm_dataloader_begin(dl, 0));
    mm_value *b;
    while (!mm_dataloader_next(dl, &b) && b) {
        *last = mm_value_len(mm_value_dict_get(b, "x"));
        n++;
        mm_value_release(b);
    }
    return n;
}

MM_TEST(dataloader_drop_last_drops_the_short_batch) {
    mm_dataloader *dl = NULL;
    size_t last = 0;
    CHECK_OK(build_loader("{batch_size: 4, dataset: {type: Toy}, "
                          "sampler: {type: DefaultSampler}}",
                          0, &dl));
    CHECK_INT(mm_dataloader_len(dl), 3);
    CHECK_INT(count_batches(dl, &last), 3);
    CHECK_INT(last, 2);
    mm_dataloader_free(dl);
    CHECK_OK(build_loader("{batch_size: 4, drop_last: true, num_workers: 1, "
                          "dataset: {type: Toy}, sampler: {type: "
                          "DefaultSampler}}",
                          0, &dl));
    CHECK_INT(mm_dataloader_len(dl), 2);
    CHECK_INT(count_batches(dl, &last), 2);
    CHECK_INT(last, 4);
    mm_dataloader_free(dl);
}

MM_TEST(dataloader_num_batch_per_epoch_slices_the_dataset) {
    mm_dataloader *dl = NULL;
    size_t last = 0;
    CHECK_OK(build_loader("{batch_size: 3, num_batch_per_epoch: 2, dataset: "
                          "{type: Toy}, sampler: {type: DefaultSampler}}",
                          0, &dl));
    CHECK_INT(mm_dataloader_len(dl), 2);
    CHECK_INT(mm_dataset_len(mm_dataloader_dataset(dl)), 6);
    CHECK_INT(count_batches(dl, &last), 2);
    mm_value *want = parse("{classes: [a, b, c], palette: [1, 2]}");
    CHECK(mm_value_equal(mm_dataset_metainfo(mm_dataloader_dataset(dl)), want));
    mm_value_release(want);
    mm_dataloader_free(dl);
    CHECK_ERR(build_loader("{batch_size: 3, num_batch_per_epoch: 4, dataset: "
                           "{type: Toy}, sampler: {type: DefaultSampler}}",
                           0, &dl),
              MM_EINVAL,
              "data.yaml:1:38: train_dataloader.num_batch_per_epoch: 4 "
              "batches of 3 need more samples than the dataset's 10");
}

MM_TEST(dataloader_infinite_sampler_never_ends) {
    mm_dataloader *dl = NULL;
    CHECK_OK(build_loader("{batch_size: 4, num_workers: 2, dataset: {type: "
                          "Toy, n: 5}, sampler: {type: InfiniteSampler}}",
                          0, &dl));
    CHECK_INT(mm_dataloader_len(dl), 2);
    CHECK_OK(mm_dataloader_begin(dl, 0));
    for (int k = 0; k < 7; k++) {
        mm_value *b = NULL;
        CHECK_OK(mm_dataloader_next(dl, &b));
        CHECK_INT(mm_value_len(mm_value_dict_get(b, "x")), 4);
        mm_value_release(b);
    }
    CHECK(mm_sampler_is_infinite(mm_dataloader_sampler(dl)));
    CHECK_INT(mm_dataset_len(mm_dataloader_dataset(dl)), 5);
    mm_dataloader_free(dl);
}

MM_TEST(dataloader_unknown_key_suggests_the_nearest) {
    mm_dataloader *dl = NULL;
    CHECK_ERR(build_loader("batch_szie: 4\nsampler: {type: DefaultSampler}\n",
                           0, &dl),
              MM_EINVAL,
              "data.yaml:1:1: train_dataloader: DataLoader has no parameter "
              "'batch_szie' (did you mean 'batch_size'?)");
    CHECK(dl == NULL);
}

MM_TEST(dataloader_refuses_torch_conflicts) {
    mm_dataloader *dl = NULL;
    CHECK_ERR(build_loader("{shuffle: true, dataset: {type: Toy}, sampler: "
                           "{type: DefaultSampler}}",
                           0, &dl),
              MM_EINVAL,
              "data.yaml:1:11: train_dataloader.shuffle: is mutually "
              "exclusive with sampler (set sampler.shuffle instead)");
    CHECK_ERR(build_loader("{persistent_workers: true, dataset: {type: Toy}, "
                           "sampler: {type: DefaultSampler}}",
                           0, &dl),
              MM_EINVAL,
              "data.yaml:1:22: train_dataloader.persistent_workers: needs "
              "num_workers > 0");
    CHECK_ERR(build_loader("{prefetch_factor: 2, dataset: {type: Toy}, "
                           "sampler: {type: DefaultSampler}}",
                           0, &dl),
              MM_EINVAL,
              "data.yaml:1:19: train_dataloader.prefetch_factor: only applies "
              "with num_workers > 0 (set it to null)");
    CHECK_ERR(build_loader("{batch_size: 0, dataset: {type: Toy}, "
                           "sampler: {type: DefaultSampler}}",
                           0, &dl),
              MM_EINVAL,
              "data.yaml:1:14: train_dataloader.batch_size: should be a "
              "positive integer");
    CHECK_ERR(build_loader("{dataset: {type: Toy}}", 0, &dl), MM_EINVAL,
              "data.yaml:1:1: train_dataloader: needs a 'sampler' (e.g. "
              "sampler: {type: DefaultSampler, shuffle: true})");
    CHECK_ERR(build_loader("{batch_sampler: {type: X}, dataset: {type: Toy}, "
                           "sampler: {type: DefaultSampler}}",
                           0, &dl),
              MM_EUNSUPPORTED,
              "data.yaml:1:17: train_dataloader.batch_sampler: only null is "
              "supported (the batches are batch_size consecutive sampler "
              "indices)");
    CHECK_ERR(build_loader("{dataset: {type: Toy, n: 2, nn: 3}, sampler: "
                           "{type: DefaultSampler}}",
                           0, &dl),
              MM_EINVAL,
              "data.yaml:1:29: train_dataloader.dataset: datatest.Toy has no "
              "parameter 'nn' (did you mean 'n'?)");
    CHECK(dl == NULL);
    /* accepted: shuffle false, pin_memory, explicit nulls */
    CHECK_OK(build_loader("{shuffle: false, pin_memory: true, prefetch_factor: "
                          "null, batch_sampler: null, dataset: {type: Toy}, "
                          "sampler: {type: DefaultSampler}, collate_fn: null}",
                          0, &dl));
    mm_dataloader_free(dl);
}

MM_TEST(data_generator_is_per_thread_and_resets) {
    CHECK(mm_data_generator() == mm_default_generator());
    mm_generator *g;
    CHECK_OK(mm_generator_new(5, &g));
    mm_data_set_generator(g);
    CHECK(mm_data_generator() == g);
    mm_data_set_generator(NULL);
    CHECK(mm_data_generator() == mm_default_generator());
    mm_generator_free(g);
}

MM_TEST_MAIN(MM_CASE(dataset_lazy_init_loads_on_first_use),
             MM_CASE(dataset_metainfo_config_updates_class_metainfo),
             MM_CASE(dataset_indices_keep_a_subset),
             MM_CASE(dataset_get_adds_sample_idx_and_runs_the_pipeline),
             MM_CASE(dataset_dropped_sample_is_refetched_from_a_random_index),
             MM_CASE(dataset_drop_in_test_mode_is_an_error),
             MM_CASE(dataset_refetch_gives_up_after_max_refetch),
             MM_CASE(dataset_pipeline_error_names_the_sample),
             MM_CASE(dataset_new_without_config),
             MM_CASE(dataset_join_root_keeps_absolute_paths),
             MM_CASE(concat_dataset_joins_datasets_in_order),
             MM_CASE(concat_dataset_checks_metainfo_unless_ignored),
             MM_CASE(repeat_dataset_repeats_samples),
             MM_CASE(class_balanced_dataset_matches_mmengine_repeat_indices),
             MM_CASE(wrapper_lazy_init_defers_the_inner_datasets),
             MM_CASE(default_sampler_round_up_matches_mmengine),
             MM_CASE(default_sampler_shuffles_by_seed_plus_epoch),
             MM_CASE(infinite_sampler_continues_where_it_left_off),
             MM_CASE(sampler_outside_a_dataloader_is_refused),
             MM_CASE(pseudo_collate_transposes_into_lists),
             MM_CASE(default_collate_stacks_tensors_and_numbers),
             MM_CASE(dataloader_batches_identical_for_0_1_2_workers),
             MM_CASE(dataloader_epochs_differ_and_repeat),
             MM_CASE(dataloader_persistent_workers_serve_every_epoch),
             MM_CASE(dataloader_worker_error_comes_back_with_its_message),
             MM_CASE(dataloader_free_mid_epoch_joins_the_workers),
             MM_CASE(dataloader_drop_last_drops_the_short_batch),
             MM_CASE(dataloader_num_batch_per_epoch_slices_the_dataset),
             MM_CASE(dataloader_infinite_sampler_never_ends),
             MM_CASE(dataloader_unknown_key_suggests_the_nearest),
             MM_CASE(dataloader_refuses_torch_conflicts),
             MM_CASE(data_generator_is_per_thread_and_resets))
