/* The mmcls image datasets (CIFAR10, CIFAR100, CustomDataset, ImageNet,
 * MultiLabelDataset) on small datasets cut from real photographs, which
 * tests/mmcls/make_cls_data.py writes into a temporary directory with
 * /usr/bin/python3 (numpy, PIL: Debian's python3-skimage brings both and
 * the photographs); skipped (77) without them. Every expectation follows
 * mmpretrain 1.2.0's code: file lists, sorting, labels, metainfo, prefixes
 * and its error cases; hostile pickles are refused in one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mm/mm.h"

static char tmpdir[256];

static void cleanup(void) {
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

static void setup(void) {
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/mmcls.so", dir ? dir : "plugins");
    if (mm_plugin_load_file(path)) {
        fprintf(stderr, "loading %s: %s\n", path, mm_error_message());
        exit(1);
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mm-clsdata-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(cleanup);
    char cmd[700];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import numpy, PIL' 2>/dev/null && "
             "test -f /usr/lib/python3/dist-packages/skimage/data/chelsea.png");
    if (system(cmd) != 0) {
        printf("skipped: /usr/bin/python3 with numpy and PIL, and Debian's "
               "python3-skimage photographs, are needed\n");
        exit(77);
    }
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 tests/mmcls/make_cls_data.py '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "make_cls_data.py failed\n");
        exit(1);
    }
}

/* Build a DATASETS config given as YAML flow text, with @ replaced by the
 * data directory. */
static int build(const char *fmt, mm_dataset **out) {
    char yaml[2048], *o = yaml;
    for (const char *p = fmt; *p && o < yaml + sizeof yaml - 300; p++) {
        if (*p == '@')
            o += snprintf(o, 300, "%s", tmpdir);
        else
            *o++ = *p;
    }
    *o = 0;
    mm_value *doc = NULL;
    *out = NULL;
    int rc = mm_yaml_parse(yaml, strlen(yaml), "cfg.yaml", &doc);
    if (!rc)
        rc = mm_registry_build(MM_DATASETS, mm_value_dict_get(doc, "dataset"),
                               "mmcls", "train_dataloader.dataset", NULL,
                               (void **)out);
    mm_value_release(doc);
    return rc;
}

static mm_value *info(mm_dataset *ds, size_t i) {
    mm_value *v = NULL;
    if (mm_dataset_get(ds, i, &v))
        fprintf(stderr, "  get %zu: %s\n", i, mm_error_message());
    return v;
}

static int64_t label_of(mm_dataset *ds, size_t i) {
    mm_value *v = info(ds, i);
    int64_t y = v ? mm_value_get_int(mm_value_dict_get(v, "gt_label")) : -99;
    mm_value_release(v);
    return y;
}

/* img_path of sample i, less the data directory. */
static void rel_path(mm_dataset *ds, size_t i, char *out, size_t size) {
    mm_value *v = info(ds, i);
    const char *p = v ? mm_value_get_string(mm_value_dict_get(v, "img_path"))
                      : NULL;
    snprintf(out, size, "%s",
             p && !strncmp(p, tmpdir, strlen(tmpdir)) ? p + strlen(tmpdir) + 1
                                                      : "?");
    mm_value_release(v);
}

static const char *class_name(mm_dataset *ds, size_t i) {
    const mm_value *c = mm_value_dict_get(mm_dataset_metainfo(ds), "classes");
    return i < mm_value_len(c) ? mm_value_get_string(mm_value_list_get(c, i))
                               : "?";
}

static size_t n_classes(mm_dataset *ds) {
    return mm_value_len(
        mm_value_dict_get(mm_dataset_metainfo(ds), "classes"));
}

static void check_refused(const char *cfg, const char *want) {
    mm_dataset *ds = NULL;
    int rc = build(cfg, &ds);
    CHECK(rc < 0);
    CHECK(ds == NULL);
    const char *msg = mm_error_message();
    if (!strstr(msg, want))
        fprintf(stderr, "  message: %s\n  want: %s\n", msg, want);
    CHECK(strstr(msg, want) != NULL);
    CHECK(strchr(msg, '\n') == NULL);
    mm_dataset_free(ds);
}

/* The expectations make_cls_data.py wrote. */
static mm_value *expected(void) {
    char path[512], *text;
    size_t len;
    mm_value *v = NULL;
    snprintf(path, sizeof path, "%s/cifar10_test.json", tmpdir);
    if (mm_file_read(path, &text, &len) == 0) {
        if (mm_json_parse(text, len, path, &v))
            v = NULL;
        free(text);
    }
    return v;
}

/* ---- CIFAR --------------------------------------------------------------- */

MM_TEST(cifar10_reads_the_five_training_batches) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: CIFAR10, data_root: '@/cifar10', "
                   "split: train}}", &ds));
    if (!ds)
        return;
    /* data_batch_1 as cPickle wrote it, 2..5 at protocols 2, 3, 4, 4 */
    CHECK_INT(mm_dataset_len(ds), 120);
    CHECK_INT(n_classes(ds), 10);
    CHECK_STR(class_name(ds, 0), "airplane");
    CHECK_STR(class_name(ds, 9), "truck");
    mm_value *s = info(ds, 30);
    mm_tensor *img = s ? mm_tensor_from_value(mm_value_dict_get(s, "img"))
                       : NULL;
    CHECK(img && img->dtype == MM_U8 && img->ndim == 3 &&
          img->shape[0] == 32 && img->shape[1] == 32 && img->shape[2] == 3);
    mm_value_release(s);
    /* the photographs in turn: cat 3, airplane 0, automobile 1, ship 8 */
    static const int64_t want[] = {3, 0, 1, 8};
    for (size_t i = 0; i < 120; i += 13)
        CHECK_INT(label_of(ds, i), want[i % 24 % 4]);
    mm_dataset_free(ds);
}

MM_TEST(cifar10_test_split_gives_the_written_pixels_in_hwc_rgb) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: CIFAR10, data_root: '@/cifar10', "
                   "split: test, test_mode: true}}", &ds));
    mm_value *want = expected();
    CHECK(want != NULL);
    if (!ds || !want) {
        mm_dataset_free(ds);
        mm_value_release(want);
        return;
    }
    const mm_value *labels = mm_value_dict_get(want, "labels");
    CHECK_INT(mm_dataset_len(ds), mm_value_len(labels));
    for (size_t i = 0; i < mm_value_len(labels); i++)
        CHECK_INT(label_of(ds, i),
                  mm_value_get_int(mm_value_list_get(labels, i)));
    mm_value *s = info(ds, 0);
    mm_tensor *img = s ? mm_tensor_from_value(mm_value_dict_get(s, "img"))
                       : NULL;
    const mm_value *img0 = mm_value_dict_get(want, "img0");
    int bad = 0;
    for (int64_t k = 0; img && k < 32 * 32 * 3; k++)
        bad += mm_tensor_get_flat(img, k) !=
               (double)mm_value_get_int(mm_value_list_get(img0, (size_t)k));
    CHECK(img != NULL);
    CHECK_INT(bad, 0);
    mm_value_release(s);
    mm_value_release(want);
    mm_dataset_free(ds);
}

MM_TEST(cifar100_reads_fine_labels_and_its_100_classes) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: CIFAR100, data_prefix: '@/cifar100'}}",
                   &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 30);
    CHECK_INT(n_classes(ds), 100);
    CHECK_STR(class_name(ds, 0), "apple");
    CHECK_STR(class_name(ds, 99), "worm");
    for (size_t i = 0; i < 30; i++)
        CHECK_INT(label_of(ds, i), (int64_t)(i % 5) * 7);
    mm_dataset_free(ds);
}

MM_TEST(cifar_missing_files_name_the_directory_and_the_source) {
    char want[1200];
    snprintf(want, sizeof want,
             "train_dataloader.dataset (mmcls.CIFAR10): data_root: cannot find CIFAR10 "
             "dataset in '%s/folders' (no %s/folders/cifar-10-batches-py/"
             "data_batch_1); mm never downloads (download: true is not "
             "done): extract https://www.cs.toronto.edu/~kriz/"
             "cifar-10-python.tar.gz there",
             tmpdir, tmpdir);
    check_refused("{dataset: {type: CIFAR10, data_root: '@/folders'}}", want);
    check_refused("{dataset: {type: CIFAR10}}",
                  "cfg.yaml:1:11: train_dataloader.dataset (mmcls.CIFAR10): set data_root");
    check_refused("{dataset: {type: CIFAR10, data_root: '@', split: val}}",
                  "cfg.yaml:1:71: train_dataloader.dataset (mmcls.CIFAR10): "
                  "split: must be one of 'train', 'test', got 'val'");
}

/* A CIFAR-10 directory whose test_batch is these `len` bytes. */
static void hostile_test_batch(const void *data, size_t len) {
    char path[600];
    snprintf(path, sizeof path, "%s/bad", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/bad/cifar-10-batches-py", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/bad/cifar-10-batches-py/test_batch",
             tmpdir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f))
        abort();
}

static void refused_test_batch(const void *data, size_t len,
                               const char *want) {
    hostile_test_batch(data, len);
    check_refused("{dataset: {type: CIFAR10, data_root: '@/bad', split: "
                  "test}}", want);
}

MM_TEST(cifar_pickles_that_call_other_code_are_refused) {
    /* os.system('ls') */
    static const char evil[] = "\x80\x02" "cos\nsystem\nq\x00X\x02\x00\x00"
                               "\x00lsq\x01\x85q\x02Rq\x03.";
    refused_test_batch(evil, sizeof evil - 1,
                       "test_batch: not a CIFAR batch pickle: the global "
                       "os.system at byte 13");
    /* builtins.eval via STACK_GLOBAL (protocol 4) */
    static const char evil4[] = "\x80\x04\x8c\x08" "builtins\x8c\x04" "eval"
                                "\x93\x8c\x01" "1\x85R.";
    refused_test_batch(evil4, sizeof evil4 - 1, "the global builtins.eval");
    /* protocol 5 */
    refused_test_batch("\x80\x05}.", 4, "pickle protocol 5 or later");
    /* not a dict */
    refused_test_batch("\x80\x02]q\x00.", 6,
                       "the pickle holds a list, not a dict of 'data' and "
                       "'labels'");
}

MM_TEST(cifar_every_truncation_of_a_batch_is_refused) {
    char path[600];
    snprintf(path, sizeof path, "%s/cifar10/cifar-10-batches-py/data_batch_1",
             tmpdir);
    char *buf;
    size_t len;
    CHECK_OK(mm_file_read(path, &buf, &len));
    if (!buf)
        return;
    int accepted = 0, multi_line = 0;
    for (size_t n = 0; n < len; n += n < 300 ? 1 : 997) {
        hostile_test_batch(buf, n);
        mm_dataset *ds = NULL;
        if (build("{dataset: {type: CIFAR10, data_root: '@/bad', split: "
                  "test}}", &ds) == 0)
            accepted++;
        else
            multi_line += strchr(mm_error_message(), '\n') != NULL;
        mm_dataset_free(ds);
    }
    CHECK_INT(accepted, 0);
    CHECK_INT(multi_line, 0);
    /* the whole file is read */
    hostile_test_batch(buf, len);
    mm_dataset *ds = NULL;
    CHECK_OK(build("{dataset: {type: CIFAR10, data_root: '@/bad', split: "
                   "test}}", &ds));
    CHECK_INT(mm_dataset_len(ds), 24);
    mm_dataset_free(ds);
    free(buf);
}

MM_TEST(cifar_data_of_the_wrong_shape_is_refused) {
    char path[600], *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/hostile/shape.pkl", tmpdir);
    CHECK_OK(mm_file_read(path, &buf, &len));
    if (buf)
        refused_test_batch(buf, len,
                           "test_batch: 'data' must be a uint8 array of "
                           "shape (N, 3072), got tensor(u8, [2, 3000])");
    free(buf);
    snprintf(path, sizeof path, "%s/hostile/short.pkl", tmpdir);
    CHECK_OK(mm_file_read(path, &buf, &len));
    if (buf)
        refused_test_batch(buf, len, "a numpy array whose data does not "
                                     "fill its shape");
    free(buf);
}

/* ---- CustomDataset, ImageNet --------------------------------------------- */

MM_TEST(custom_dataset_class_folders_sorted_recursive_by_extension) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: CustomDataset, data_root: "
                   "'@/folders', data_prefix: train}}", &ds));
    if (!ds)
        return;
    /* every subfolder is a class, the empty one too (mmpretrain warns) */
    CHECK_INT(n_classes(ds), 4);
    CHECK_STR(class_name(ds, 0), "cat");
    CHECK_STR(class_name(ds, 1), "empty");
    CHECK_STR(class_name(ds, 3), "rocket");
    /* hidden files and other extensions are skipped; .PNG is taken */
    CHECK_INT(mm_dataset_len(ds), 12);
    char p[512];
    rel_path(ds, 0, p, sizeof p);
    CHECK_STR(p, "folders/train/cat/cat0.png");
    rel_path(ds, 3, p, sizeof p);
    CHECK_STR(p, "folders/train/cat/more/cat3.PNG");
    /* sorted as mmpretrain sorts the relative paths: 'more/' < 'mot' */
    rel_path(ds, 4, p, sizeof p);
    CHECK_STR(p, "folders/train/motorcycle/more/motorcycle3.PNG");
    CHECK_INT(label_of(ds, 3), 0);
    CHECK_INT(label_of(ds, 4), 2);
    CHECK_INT(label_of(ds, 11), 3);
    mm_dataset_free(ds);
}

MM_TEST(custom_dataset_with_label_false_lists_every_image) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: CustomDataset, data_prefix: "
                   "'@/folders/train', with_label: false}}", &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 12);
    char p[512];
    rel_path(ds, 0, p, sizeof p);
    CHECK_STR(p, "folders/train/cat/cat0.png");
    mm_value *s = info(ds, 0);
    CHECK(s && !mm_value_dict_get(s, "gt_label"));
    mm_value_release(s);
    CHECK_INT(n_classes(ds), 0);
    mm_dataset_free(ds);
    /* the extensions decide which files are samples */
    CHECK_OK(build("{dataset: {type: CustomDataset, data_prefix: "
                   "'@/folders/train', with_label: false, extensions: "
                   "['.TXT']}}", &ds));
    CHECK_INT(mm_dataset_len(ds), 2);
    if (ds) {
        rel_path(ds, 0, p, sizeof p);
        CHECK_STR(p, "folders/train/empty/readme.txt");
    }
    mm_dataset_free(ds);
}

MM_TEST(custom_dataset_reads_ann_file_with_and_without_labels) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: CustomDataset, data_root: "
                   "'@/folders', ann_file: meta/train.txt, data_prefix: "
                   "train, classes: [cat, motorcycle, rocket]}}", &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 12);
    char p[512];
    rel_path(ds, 7, p, sizeof p);
    CHECK_STR(p, "folders/train/motorcycle/more/motorcycle3.PNG");
    CHECK_INT(label_of(ds, 7), 1);
    CHECK_STR(class_name(ds, 2), "rocket");
    mm_dataset_free(ds);
    /* with_label false: each whole line is a path */
    CHECK_OK(build("{dataset: {type: CustomDataset, data_root: "
                   "'@/folders', ann_file: meta/val.txt, with_label: false}}",
                   &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 3);
    rel_path(ds, 2, p, sizeof p);
    CHECK_STR(p, "folders/v2.png 2");
    mm_dataset_free(ds);
}

MM_TEST(custom_dataset_bad_inputs_are_one_line_errors) {
    check_refused("{dataset: {type: CustomDataset}}",
                  "cfg.yaml:1:11: train_dataloader.dataset (mmcls.CustomDataset): One of "
                  "`ann_file`, `data_root` and `data_prefix` must be "
                  "specified.");
    check_refused("{dataset: {type: CustomDataset, data_root: '@/folders', "
                  "ann_file: meta/train.txt, classes: [a, b]}}",
                  "meta/train.txt:9: label 2 is not a class index in [0, 2)");
    check_refused("{dataset: {type: CustomDataset, data_root: '@/folders', "
                  "data_prefix: train, classes: [a, b]}}",
                  "the number of subfolders (4) doesn't match the number "
                  "of specified classes (2)");
    check_refused("{dataset: {type: CustomDataset, data_prefix: '@/nope'}}",
                  "data_prefix: no such directory");
    check_refused("{dataset: {type: CustomDataset, data_prefix: "
                  "'@/folders/val', with_label: false, extensions: [.gif]}}",
                  "found 0 files in subfolders of");
}

MM_TEST(imagenet_split_picks_meta_list_and_prefix) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: ImageNet, data_root: '@/folders', "
                   "split: train}}", &ds));
    if (!ds)
        return;
    CHECK_INT(n_classes(ds), 1000);
    CHECK_STR(class_name(ds, 0), "tench, Tinca tinca");
    CHECK_INT(mm_dataset_len(ds), 12);
    char p[512];
    rel_path(ds, 11, p, sizeof p);
    CHECK_STR(p, "folders/train/rocket/more/rocket3.PNG");
    CHECK_INT(label_of(ds, 11), 2);
    mm_dataset_free(ds);
    CHECK_OK(build("{dataset: {type: ImageNet, data_root: '@/folders', "
                   "split: val}}", &ds));
    CHECK_INT(mm_dataset_len(ds), 3);
    if (ds) {
        rel_path(ds, 1, p, sizeof p);
        CHECK_STR(p, "folders/val/v1.png");
    }
    mm_dataset_free(ds);
    /* class folders against the 1000 ImageNet classes */
    check_refused("{dataset: {type: ImageNet, data_prefix: "
                  "'@/folders/train'}}",
                  "the number of subfolders (4) doesn't match the number of "
                  "specified classes (1000)");
    check_refused("{dataset: {type: ImageNet, data_root: '@', split: dev}}",
                  "split: must be one of '', 'train', 'val', 'test', got "
                  "'dev'");
}

MM_TEST(imagenet_test_split_has_no_labels) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: ImageNet, data_root: '@/folders', "
                   "data_prefix: val, split: test}}", &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 3);
    mm_value *s = info(ds, 0);
    CHECK(s && !mm_value_dict_get(s, "gt_label"));
    mm_value_release(s);
    mm_dataset_free(ds);
}

MM_TEST(classes_from_a_file_and_metainfo_override) {
    char path[512];
    snprintf(path, sizeof path, "%s/names.txt", tmpdir);
    CHECK_OK(mm_file_write_atomic(path, "a\nb\nc\nd\n", 8));
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: CustomDataset, data_prefix: "
                   "'@/folders/train', classes: '@/names.txt'}}", &ds));
    CHECK_INT(ds ? n_classes(ds) : 0, 4);
    if (ds)
        CHECK_STR(class_name(ds, 3), "d");
    mm_dataset_free(ds);
    /* metainfo's classes win over `classes` */
    CHECK_OK(build("{dataset: {type: CustomDataset, data_prefix: "
                   "'@/folders/train', classes: [a, b, c, d], metainfo: "
                   "{classes: [w, x, y, z]}}}", &ds));
    if (ds)
        CHECK_STR(class_name(ds, 0), "w");
    mm_dataset_free(ds);
}

/* ---- MultiLabelDataset --------------------------------------------------- */

MM_TEST(multilabel_dataset_reads_mmengine_annotations) {
    mm_dataset *ds;
    CHECK_OK(build("{dataset: {type: MultiLabelDataset, data_root: '@', "
                   "ann_file: multilabel/ann.json, data_prefix: "
                   "folders/train}}", &ds));
    if (!ds)
        return;
    CHECK_INT(mm_dataset_len(ds), 3);
    CHECK_INT(n_classes(ds), 4);
    CHECK_STR(class_name(ds, 3), "mug");
    mm_value *s = info(ds, 1);
    const mm_value *gt = s ? mm_value_dict_get(s, "gt_label") : NULL;
    CHECK_INT(mm_value_len(gt), 2);
    CHECK_INT(mm_value_get_int(mm_value_list_get(gt, 1)), 3);
    mm_value_release(s);
    char p[512];
    rel_path(ds, 1, p, sizeof p);
    CHECK_STR(p, "folders/train/motorcycle/motorcycle1.png");
    /* ClassBalancedDataset reads the label lists as category ids */
    int64_t ids[4];
    size_t n = 0;
    CHECK_OK(mm_dataset_cat_ids(ds, 1, ids, 4, &n));
    CHECK_INT(n, 2);
    mm_dataset_free(ds);
    /* the config's metainfo wins over the file's */
    CHECK_OK(build("{dataset: {type: MultiLabelDataset, data_root: '@', "
                   "ann_file: multilabel/ann.json, metainfo: {classes: [a, "
                   "b, c, d, e]}}}", &ds));
    CHECK_INT(ds ? n_classes(ds) : 0, 5);
    mm_dataset_free(ds);
}

MM_TEST(multilabel_dataset_bad_annotations_are_refused) {
    char path[512];
    snprintf(path, sizeof path, "%s/ml_bad.json", tmpdir);
    CHECK_OK(mm_file_write_atomic(path, "[1, 2]", 6));
    check_refused("{dataset: {type: MultiLabelDataset, ann_file: "
                  "'@/ml_bad.json'}}",
                  "ml_bad.json: The annotations loaded from annotation file "
                  "should be a dict, but got list!");
    CHECK_OK(mm_file_write_atomic(path, "{\"data_list\": []}", 17));
    check_refused("{dataset: {type: MultiLabelDataset, ann_file: "
                  "'@/ml_bad.json'}}",
                  "Annotation must have data_list and metainfo keys");
    static const char bad_label[] =
        "{\"metainfo\": {\"classes\": [\"a\"]}, \"data_list\": [{\"img_path\":"
        " \"x.png\", \"gt_label\": [0, 1]}]}";
    CHECK_OK(mm_file_write_atomic(path, bad_label, sizeof bad_label - 1));
    check_refused("{dataset: {type: MultiLabelDataset, ann_file: "
                  "'@/ml_bad.json'}}",
                  "data_list[0].gt_label: a label is not a class index in "
                  "[0, 1)");
    check_refused("{dataset: {type: MultiLabelDataset, data_root: '@'}}",
                  "MultiLabelDataset needs an annotation file");
}

int main(int argc, char **argv) {
    setup();
    static const mm_test_case cases[] = {
        MM_CASE(cifar10_reads_the_five_training_batches),
        MM_CASE(cifar10_test_split_gives_the_written_pixels_in_hwc_rgb),
        MM_CASE(cifar100_reads_fine_labels_and_its_100_classes),
        MM_CASE(cifar_missing_files_name_the_directory_and_the_source),
        MM_CASE(cifar_pickles_that_call_other_code_are_refused),
        MM_CASE(cifar_every_truncation_of_a_batch_is_refused),
        MM_CASE(cifar_data_of_the_wrong_shape_is_refused),
        MM_CASE(custom_dataset_class_folders_sorted_recursive_by_extension),
        MM_CASE(custom_dataset_with_label_false_lists_every_image),
        MM_CASE(custom_dataset_reads_ann_file_with_and_without_labels),
        MM_CASE(custom_dataset_bad_inputs_are_one_line_errors),
        MM_CASE(imagenet_split_picks_meta_list_and_prefix),
        MM_CASE(imagenet_test_split_has_no_labels),
        MM_CASE(classes_from_a_file_and_metainfo_override),
        MM_CASE(multilabel_dataset_reads_mmengine_annotations),
        MM_CASE(multilabel_dataset_bad_annotations_are_refused),
    };
    return mm_test_run(cases, sizeof cases / sizeof cases[0], argc, argv);
}
