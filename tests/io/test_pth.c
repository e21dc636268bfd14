/* PyTorch .pth files (<mm/checkpoint.h>): what torch.save and mmengine's
 * save_checkpoint wrote (tests/fixtures/checkpoint/pth/, made by
 * tools/make_pth_fixtures.py; the values are that script's formulas), read
 * into checkpoints: every dtype, views, byte order, nesting, an mmengine
 * checkpoint's meta; hostile pickles refused without running anything;
 * legacy, TorchScript, truncated and corrupt files refused in one line;
 * key maps through mm_checkpoint_weights_mapped; and init_cfg Pretrained
 * taken out of MODELS nodes by the builder. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mm/mm.h"

#define CHECK_HAS(haystack, needle)                                            \
    do {                                                                       \
        const char *h_ = (haystack), *n_ = (needle);                           \
        if (!h_ || !strstr(h_, n_)) {                                          \
            fprintf(stderr, "%s:%d: missing text:\n  in:   %s\n  want: %s\n",  \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_);               \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

static char fixture_path[512];

static const char *fixture(const char *name) {
    const char *dir = getenv("MM_FIXTURES");
    snprintf(fixture_path, sizeof fixture_path, "%s/checkpoint/pth/%s",
             dir ? dir : "tests/fixtures", name);
    return fixture_path;
}

static mm_checkpoint *load(const char *name) {
    mm_checkpoint *ck = NULL;
    CHECK_OK(mm_checkpoint_load(fixture(name), &ck));
    return ck;
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*len ? *len : 1);
    if (!buf || fread(buf, 1, *len, f) != *len) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return buf;
}

/* The tensor `name` of ck with its dtype and shape checked; its values as
 * doubles in vals (at most cap). */
static size_t values(const mm_checkpoint *ck, const char *name, mm_dtype dt,
                     int ndim, const int64_t *shape, double *vals,
                     size_t cap) {
    mm_tensor *t = mm_checkpoint_get(ck, name);
    if (!t) {
        fprintf(stderr, "no tensor '%s'\n", name);
        mm_test_failures++;
        return 0;
    }
    CHECK_INT(t->dtype, dt);
    CHECK_INT(t->ndim, ndim);
    for (int d = 0; d < ndim && d < t->ndim; d++)
        CHECK_INT(t->shape[d], shape[d]);
    size_t n = (size_t)t->numel;
    if (n > cap) {
        mm_test_failures++;
        return 0;
    }
    CHECK_OK(mm_tensor_read(t, MM_F64, vals, n));
    return n;
}

static void check_dtypes(const mm_checkpoint *ck, bool all) {
    double v[16];
    const int64_t s23[] = {2, 3}, s6[] = {6}, s03[] = {0, 3};
    const char *fl[] = {"f32", "f64", "f16", "bf16"};
    const mm_dtype fd[] = {MM_F32, MM_F64, MM_F16, MM_BF16};
    for (int k = 0; k < 4; k++) {
        if (!all && (k == 1 || k == 3))
            continue;
        CHECK_INT(values(ck, fl[k], fd[k], 2, s23, v, 16), 6);
        for (int i = 0; i < 6; i++)
            CHECK(v[i] == (i - 2.5) * 0.5); /* (arange(6) - 2.5) * 0.5 */
    }
    /* int64: arange(6) << 40 - 3, exactly (read as int64, not double) */
    mm_tensor *t = mm_checkpoint_get(ck, "i64");
    int64_t iv[6];
    CHECK(t && t->dtype == MM_I64 && t->numel == 6);
    if (t) {
        CHECK_OK(mm_tensor_read(t, MM_I64, iv, 6));
        for (int i = 0; i < 6; i++)
            CHECK_INT(iv[i], (int64_t)i * (INT64_C(1) << 40) - 3);
    }
    CHECK_INT(values(ck, "bool", MM_BOOL, 1, s6, v, 16), 6);
    for (int i = 0; i < 6; i++)
        CHECK(v[i] == (i % 2 == 0));
    if (!all)
        return;
    CHECK_INT(values(ck, "i32", MM_I32, 1, s6, v, 16), 6);
    for (int i = 0; i < 6; i++)
        CHECK(v[i] == i * 1000 - 3);
    CHECK_INT(values(ck, "u8", MM_U8, 1, s6, v, 16), 6);
    for (int i = 0; i < 6; i++)
        CHECK(v[i] == i * 40);
    CHECK_INT(values(ck, "scalar", MM_F32, 0, NULL, v, 16), 1);
    CHECK(v[0] == 2.5);
    CHECK_INT(values(ck, "empty", MM_F32, 2, s03, v, 16), 0);
    CHECK_INT(mm_checkpoint_count(ck), 10);
    /* file order is the dict's order */
    const char *name;
    CHECK_OK(mm_checkpoint_at(ck, 0, &name, NULL));
    CHECK_STR(name, "f32");
    CHECK_OK(mm_checkpoint_at(ck, 9, &name, NULL));
    CHECK_STR(name, "empty");
}

MM_TEST(pth_every_dtype_reads_as_torch_wrote_it) {
    mm_checkpoint *ck = load("dtypes.pth");
    if (ck)
        check_dtypes(ck, true);
    mm_checkpoint_free(ck);
}

MM_TEST(pth_pickle_protocol_4_reads_the_same) {
    mm_checkpoint *ck = load("protocol4.pth");
    if (ck)
        check_dtypes(ck, true);
    mm_checkpoint_free(ck);
}

/* torch 2's layout (byteorder, .format_version, .storage_alignment,
 * .data/serialization_id) and an nn.Parameter (_rebuild_parameter). */
MM_TEST(pth_torch2_file_reads_the_same) {
    mm_checkpoint *ck = load("torch2.pth");
    if (ck)
        check_dtypes(ck, true);
    mm_checkpoint_free(ck);
}

MM_TEST(pth_big_endian_data_is_swapped) {
    mm_checkpoint *ck = load("big_endian.pth");
    if (ck)
        check_dtypes(ck, false);
    mm_checkpoint_free(ck);
}

MM_TEST(pth_views_with_offsets_and_strides_read_as_their_values) {
    mm_checkpoint *ck = load("views.pth");
    if (!ck)
        return;
    double v[32];
    const int64_t s46[] = {4, 6}, s6[] = {6}, s4[] = {4}, s64[] = {6, 4},
                  s23[] = {2, 3}, s32[] = {3, 2};
    /* base = arange(24).reshape(4, 6) */
    CHECK_INT(values(ck, "base", MM_F32, 2, s46, v, 32), 24);
    for (int i = 0; i < 24; i++)
        CHECK(v[i] == i);
    CHECK_INT(values(ck, "alias", MM_F32, 2, s46, v, 32), 24);
    CHECK(v[23] == 23);
    CHECK_INT(values(ck, "row", MM_F32, 1, s6, v, 32), 6); /* base[1] */
    for (int i = 0; i < 6; i++)
        CHECK(v[i] == 6 + i);
    CHECK_INT(values(ck, "col", MM_F32, 1, s4, v, 32), 4); /* base[:, 2] */
    for (int i = 0; i < 4; i++)
        CHECK(v[i] == 6 * i + 2);
    CHECK_INT(values(ck, "t", MM_F32, 2, s64, v, 32), 24); /* base.t() */
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++)
            CHECK(v[i * 4 + j] == j * 6 + i);
    CHECK_INT(values(ck, "step", MM_F32, 2, s23, v, 32), 6);
    for (int i = 0; i < 2; i++) /* base[::2, 1::2] */
        for (int j = 0; j < 3; j++)
            CHECK(v[i * 3 + j] == 12 * i + 1 + 2 * j);
    CHECK_INT(values(ck, "expand", MM_F32, 2, s32, v, 32), 6);
    for (int i = 0; i < 3; i++) /* base[0:1, :2].expand(3, 2) */
        for (int j = 0; j < 2; j++)
            CHECK(v[i * 2 + j] == j);
    /* tensors are contiguous copies: saving writes what was read */
    void *buf;
    size_t len;
    mm_checkpoint *back = NULL;
    CHECK_OK(mm_checkpoint_save_buffer(ck, &buf, &len));
    CHECK_OK(mm_checkpoint_load_buffer(buf, len, "views.safetensors", &back));
    CHECK_INT(values(back, "step", MM_F32, 2, s23, v, 32), 6);
    CHECK(v[5] == 17);
    free(buf);
    mm_checkpoint_free(back);
    mm_checkpoint_free(ck);
}

MM_TEST(pth_nested_dicts_flatten_with_dots_and_the_rest_is_metadata) {
    mm_checkpoint *ck = load("nested.pth");
    if (!ck)
        return;
    double v[8];
    const int64_t s4[] = {4};
    CHECK_INT(mm_checkpoint_count(ck), 4);
    CHECK_INT(values(ck, "a.b.c", MM_F32, 1, s4, v, 8), 4);
    CHECK(v[3] == 6);
    CHECK_INT(values(ck, "list.0", MM_F32, 1, s4, v, 8), 4);
    CHECK(v[0] == 1);
    CHECK_INT(values(ck, "list.1", MM_F32, 1, s4, v, 8), 4);
    CHECK(v[0] == 2);
    /* an int key (optimizer state index) as its decimal text */
    CHECK_INT(values(ck, "optimizer.state.0.momentum_buffer", MM_F32, 1, s4,
                     v, 8),
              4);
    CHECK(v[1] == 3);
    const mm_value *opt = mm_checkpoint_get_meta(ck, "optimizer");
    CHECK(opt && mm_value_is_dict(opt) && mm_value_len(opt) == 1);
    const mm_value *pg = mm_config_get(opt, "param_groups.0.lr");
    CHECK(pg && mm_value_is_number(pg) && mm_value_get_float(pg) == 0.1);
    const mm_value *nest = mm_config_get(opt, "param_groups.0.nesterov");
    CHECK(nest && mm_value_is_bool(nest) && !mm_value_get_bool(nest));
    const mm_value *ep = mm_checkpoint_get_meta(ck, "epoch");
    CHECK(ep && mm_value_is_int(ep) && mm_value_get_int(ep) == 7);
    const mm_value *note = mm_checkpoint_get_meta(ck, "note");
    CHECK(note && mm_value_is_null(note));
    CHECK(!mm_checkpoint_get_meta(ck, "a")); /* nothing but tensors */
    mm_checkpoint_free(ck);
}

MM_TEST(pth_mmengine_checkpoint_keeps_meta_and_finds_the_weights) {
    mm_checkpoint *ck = load("mmengine.pth");
    if (!ck)
        return;
    const mm_value *meta = mm_checkpoint_get_meta(ck, "meta");
    const mm_value *x = mm_config_get(meta, "epoch");
    CHECK(x && mm_value_get_int(x) == 1);
    x = mm_config_get(meta, "iter");
    CHECK(x && mm_value_get_int(x) == 2);
    x = mm_config_get(meta, "dataset_meta.classes.1");
    CHECK(x && mm_value_is_string(x) && !strcmp(mm_value_get_string(x), "dog"));
    x = mm_config_get(meta, "np_int"); /* numpy.int64(3) */
    CHECK(x && mm_value_is_int(x) && mm_value_get_int(x) == 3);
    /* the message hub's numpy float and HistoryBuffer arrays */
    const mm_value *hub = mm_checkpoint_get_meta(ck, "message_hub");
    x = mm_config_get(hub, "runtime_info.loss_scale");
    CHECK(x && mm_value_get_float(x) == 2.5);
    x = mm_config_get(hub, "log_scalars.train/loss._log_history");
    CHECK(x && mm_value_is_list(x) && mm_value_len(x) == 1 &&
          mm_value_get_float(mm_value_list_get(x, 0)) == 0.5);
    x = mm_config_get(mm_checkpoint_get_meta(ck, "param_schedulers"),
                      "0.milestones.3"); /* Counter({3: 1}) */
    CHECK(x && mm_value_get_int(x) == 1);
    /* the weights as mmengine's load_checkpoint takes them */
    mm_state_dict sd = {0};
    CHECK_OK(mm_checkpoint_weights(ck, NULL, &sd));
    CHECK_INT(sd.n, 7);
    mm_tensor *w = mm_state_dict_get(&sd, "0.weight");
    float f[18];
    CHECK(w && w->numel == 18);
    if (w && w->numel == 18) {
        CHECK_OK(mm_tensor_read(w, MM_F32, f, 18));
        /* printed by tools/make_pth_fixtures.py */
        CHECK(f[0] == (float)-0.0024956045672297478);
        CHECK(f[1] == (float)0.17881451547145844);
        CHECK(f[2] == (float)-0.27434834837913513);
    }
    mm_tensor *nb = mm_state_dict_get(&sd, "1.num_batches_tracked");
    int64_t n = 0;
    CHECK(nb && nb->dtype == MM_I64 && nb->ndim == 0);
    if (nb)
        CHECK_OK(mm_tensor_read(nb, MM_I64, &n, 1));
    CHECK_INT(n, 1);
    mm_state_dict_clear(&sd);
    CHECK(mm_checkpoint_get(ck, "optimizer.state.3.momentum_buffer"));
    mm_checkpoint_free(ck);
}

/* Each hostile file is refused by name and its command never runs: the
 * marker it would create (in the working directory) does not appear. */
MM_TEST(pth_hostile_pickles_are_refused_without_running_anything) {
    static const struct {
        const char *file, *msg;
    } cases[] = {
        {"evil_system.pth", "refused pickle global 'posix.system' (only "
                            "state-dict globals are allowed; this file may "
                            "be malicious)"},
        {"evil_eval.pth", "refused pickle global 'builtins.eval' (only "
                          "state-dict globals are allowed; this file may be "
                          "malicious)"},
        {"evil_inst.pth", "refused pickle opcode INST (it calls a class; "
                          "torch.save never writes it; this file may be "
                          "malicious)"},
        {"evil_obj.pth", "refused pickle global 'posix.system' (only "
                         "state-dict globals are allowed; this file may be "
                         "malicious)"},
        {"evil_newobj.pth", "refused pickle global 'subprocess.Popen' (only "
                            "state-dict globals are allowed; this file may "
                            "be malicious)"},
        {"evil_getattr.pth", "refused pickle call getattr() on anything but "
                             "mmengine's HistoryBuffer (only state-dict "
                             "globals are allowed; this file may be "
                             "malicious)"},
    };
    char cwd[1024], dir[] = "/tmp/mm_pth_XXXXXX";
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(mkdtemp(dir) != NULL);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[2048], want[2400];
        const char *f = fixture(cases[i].file);
        /* relative to the old working directory */
        snprintf(path, sizeof path, "%s%s%s", f[0] == '/' ? "" : cwd,
                 f[0] == '/' ? "" : "/", f);
        CHECK_INT(chdir(dir), 0);
        mm_checkpoint *ck = NULL;
        snprintf(want, sizeof want, "%s: %s", path, cases[i].msg);
        CHECK_ERR(mm_checkpoint_load(path, &ck), MM_EPARSE, want);
        CHECK(ck == NULL);
        CHECK(access("mm_pth_pwned", F_OK) != 0);
        CHECK_INT(chdir(cwd), 0);
    }
    rmdir(dir);
}

MM_TEST(pth_legacy_format_is_refused_with_a_hint) {
    mm_checkpoint *ck = NULL;
    char want[700];
    snprintf(want, sizeof want, "%s: legacy torch format; re-save with "
                                "torch>=1.6 (torch.save(obj, f))",
             fixture("legacy.pth"));
    CHECK_ERR(mm_checkpoint_load(fixture("legacy.pth"), &ck), MM_EUNSUPPORTED,
              want);
}

MM_TEST(pth_torchscript_and_non_dicts_are_refused) {
    mm_checkpoint *ck = NULL;
    char want[700];
    snprintf(want, sizeof want, "%s: a TorchScript archive (torch.jit.save); "
                                "save the weights with "
                                "torch.save(model.state_dict(), f)",
             fixture("torchscript.pth"));
    CHECK_ERR(mm_checkpoint_load(fixture("torchscript.pth"), &ck),
              MM_EUNSUPPORTED, want);
    snprintf(want, sizeof want, "%s: the file holds a tensor, not a dict (a "
                                "state dict or a checkpoint)",
             fixture("tensor_only.pth"));
    CHECK_ERR(mm_pth_load(fixture("tensor_only.pth"), &ck), MM_EUNSUPPORTED,
              want);
}

MM_TEST(pth_truncated_at_every_byte_is_refused_in_one_line) {
    size_t len;
    uint8_t *buf = read_file(fixture("dtypes.pth"), &len);
    for (size_t n = 0; n < len; n++) {
        mm_checkpoint *ck = NULL;
        int rc = mm_checkpoint_load_buffer(buf, n, "cut.pth", &ck);
        const char *msg = mm_error_message();
        if (rc >= 0 || ck || strncmp(msg, "cut.pth", 7) != 0 ||
            strchr(msg, '\n')) {
            fprintf(stderr, "prefix of %zu bytes: rc %d: %s\n", n, rc, msg);
            mm_test_failures++;
            mm_checkpoint_free(ck);
            break;
        }
    }
    mm_checkpoint *ck = NULL;
    CHECK_OK(mm_checkpoint_load_buffer(buf, len, "whole.pth", &ck));
    mm_checkpoint_free(ck);
    /* the same through a file: the end record is missing */
    char path[] = "/tmp/mm_pth_cut_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, buf, len - 30) == (ssize_t)(len - 30));
    close(fd);
    char want[300];
    snprintf(want, sizeof want, "%s: truncated or not a zip file: no end of "
                                "central directory record",
             path);
    CHECK_ERR(mm_checkpoint_load(path, &ck), MM_EPARSE, want);
    unlink(path);
    free(buf);
}

/* A flipped byte in a tensor's data is caught by the zip's CRC-32. */
MM_TEST(pth_corrupt_tensor_data_fails_the_crc) {
    size_t len;
    uint8_t *buf = read_file(fixture("dtypes.pth"), &len);
    /* f32 = (arange(6) - 2.5) * 0.5: its first element -1.25f */
    const uint8_t pattern[] = {0x00, 0x00, 0xa0, 0xbf};
    uint8_t *at = memmem(buf, len, pattern, sizeof pattern);
    CHECK(at != NULL);
    if (at) {
        at[0] ^= 1;
        mm_checkpoint *ck = NULL;
        CHECK_INT(mm_checkpoint_load_buffer(buf, len, "x.pth", &ck),
                  MM_EPARSE);
        CHECK_HAS(mm_error_message(), "x.pth: zip entry 'dtypes/data/0' is "
                                      "corrupt (CRC-32");
    }
    free(buf);
}

MM_TEST(pth_sniff_tells_torch_files_from_safetensors) {
    size_t len;
    uint8_t *buf = read_file(fixture("dtypes.pth"), &len);
    CHECK(mm_pth_sniff(buf, len));
    free(buf);
    buf = read_file(fixture("legacy.pth"), &len);
    CHECK(mm_pth_sniff(buf, len));
    free(buf);
    /* a safetensors file whose header length spells "PK\3\4" */
    const uint8_t st[] = {'P', 'K', 3, 4, 0, 0, 0, 0, '{', '}'};
    CHECK(!mm_pth_sniff(st, sizeof st));
    CHECK(!mm_pth_sniff("\x10\0\0\0\0\0\0\0{", 9));
    CHECK(!mm_pth_sniff(NULL, 0));
}

/* A test key map: torchvision-like bare names into "backbone.<name>"; the
 * key "bad" is unknown. */
static int prefix_map(const mm_state_dict *in, mm_state_dict *out) {
    for (size_t i = 0; i < in->n; i++) {
        char name[256];
        if (!strcmp(in->items[i].name, "1.running_var"))
            continue; /* a map may drop what the model does not have */
        snprintf(name, sizeof name, "backbone.%s", in->items[i].name);
        MM_TRY(mm_state_dict_add(out, name, in->items[i].tensor));
    }
    return MM_OK;
}

static const mm_key_map test_map = {
    .name = "iotest.prefixed",
    .doc = "bare names under backbone.",
    .apply = prefix_map,
};

MM_TEST(pth_weights_go_through_a_key_map_then_the_prefix) {
    int rc = mm_key_map_register(&test_map);
    CHECK(rc == MM_OK || rc == MM_EEXIST);
    mm_checkpoint *ck = load("mmengine.pth");
    if (!ck)
        return;
    mm_state_dict sd = {0};
    CHECK_OK(mm_checkpoint_weights_mapped(ck, "iotest.prefixed", "backbone",
                                          &sd));
    CHECK_INT(sd.n, 6);
    CHECK(mm_state_dict_get(&sd, "0.weight") ==
          mm_checkpoint_get(ck, "state_dict.0.weight"));
    CHECK(!mm_state_dict_get(&sd, "1.running_var"));
    mm_state_dict_clear(&sd);
    /* the whole mapped dict without a prefix */
    CHECK_OK(mm_checkpoint_weights_mapped(ck, "iotest.prefixed", NULL, &sd));
    CHECK(mm_state_dict_get(&sd, "backbone.1.bias") != NULL);
    mm_state_dict_clear(&sd);
    CHECK_ERR(mm_checkpoint_weights_mapped(ck, "iotest.prefixed", "head", &sd),
              MM_ENOENT,
              "checkpoint: no weights under prefix 'head.' (check "
              "init_cfg.prefix against `mm checkpoint info -v`)");
    mm_state_dict_clear(&sd);
    CHECK_INT(mm_checkpoint_weights_mapped(ck, "no.such_map", NULL, &sd),
              MM_ENOENT);
    CHECK_HAS(mm_error_message(), "no key map 'no.such_map' (registered: ");
    CHECK_HAS(mm_error_message(), "iotest.prefixed");
    mm_state_dict_clear(&sd);
    mm_checkpoint_free(ck);
}

/* ---- init_cfg {type: Pretrained} in the builder ------------------------- */

static mm_value *yaml(const char *text) {
    mm_value *v = NULL;
    CHECK_OK(mm_yaml_parse(text, strlen(text), "model.yaml", &v));
    return v;
}

static const char classifier_yaml[] =
    "type: mmcls.ImageClassifier\n"
    "backbone:\n"
    "  type: mmcls.LeNet5\n"
    "  num_classes: 10\n"
    "  init_cfg: {type: Pretrained, checkpoint: a.pth, prefix: backbone}\n"
    "head: {type: mmcls.ClsHead}\n"
    "init_cfg:\n"
    "  - {type: Pretrained, checkpoint: b.pth, map: torchvision.lenet}\n";

MM_TEST(init_cfg_pretrained_is_taken_out_and_recorded_inner_first) {
    if (mm_plugin_load("mmcls") != MM_OK) {
        fprintf(stderr, "mmcls plugin: %s\n", mm_error_message());
        mm_test_failures++;
        return;
    }
    mm_value *node = yaml(classifier_yaml);
    mm_pretrained_inits inits = {0};
    void *obj = NULL;
    /* LeNet5 and ImageClassifier refuse any init_cfg they would have to
     * apply themselves: building at all shows they saw null */
    CHECK_OK(mm_registry_build_with_inits(MM_MODELS, node, "mmcls", "model",
                                          NULL, &obj, &inits));
    mm_module *m = obj;
    CHECK_INT(inits.n, 2);
    if (m && inits.n == 2) {
        CHECK_STR(inits.items[0].path, "model.backbone");
        CHECK(inits.items[0].obj == mm_module_get_child(m, "backbone"));
        CHECK_STR(mm_value_get_string(
                      mm_value_dict_get(inits.items[0].cfg, "prefix")),
                  "backbone");
        CHECK_STR(inits.items[1].path, "model");
        CHECK(inits.items[1].obj == m);
        CHECK_STR(mm_value_get_string(
                      mm_value_dict_get(inits.items[1].cfg, "map")),
                  "torchvision.lenet");
    }
    mm_pretrained_inits_clear(&inits);
    mm_module_free(m);
    /* plain mm_registry_build drops them (mmengine's test() never runs
     * init_weights) */
    CHECK_OK(mm_registry_build(MM_MODELS, node, "mmcls", "model", NULL, &obj));
    mm_module_free(obj);
    mm_value_release(node);
}

MM_TEST(init_cfg_pretrained_keys_are_validated) {
    if (mm_plugin_load("mmcls") != MM_OK)
        return;
    mm_value *node = yaml("type: mmcls.LeNet5\n"
                          "init_cfg: {type: Pretrained, checkpoint: a.pth,\n"
                          "           prefx: backbone}\n");
    void *obj = NULL;
    CHECK_ERR(mm_registry_validate(MM_MODELS, node, "mmcls", "model"),
              MM_EINVAL,
              "model.yaml:3:12: model.init_cfg: Pretrained has no parameter "
              "'prefx' (it takes checkpoint, prefix, map, map_location)");
    mm_value_release(node);
    node = yaml("type: mmcls.LeNet5\n"
                "init_cfg: [{type: Pretrained, prefix: backbone}]\n");
    CHECK_ERR(mm_registry_build(MM_MODELS, node, "mmcls", "model", NULL, &obj),
              MM_EINVAL,
              "model.yaml:2:12: model.init_cfg: Pretrained needs "
              "'checkpoint' (the file to load)");
    mm_value_release(node);
    node = yaml("type: mmcls.LeNet5\n"
                "init_cfg: {type: Pretrained, checkpoint: 3}\n");
    CHECK_ERR(mm_registry_validate(MM_MODELS, node, "mmcls", "model"),
              MM_ETYPE,
              "model.yaml:2:42: model.init_cfg.checkpoint: expected a file "
              "path");
    mm_value_release(node);
}

MM_TEST_MAIN(MM_CASE(pth_every_dtype_reads_as_torch_wrote_it),
             MM_CASE(pth_pickle_protocol_4_reads_the_same),
             MM_CASE(pth_torch2_file_reads_the_same),
             MM_CASE(pth_big_endian_data_is_swapped),
             MM_CASE(pth_views_with_offsets_and_strides_read_as_their_values),
             MM_CASE(pth_nested_dicts_flatten_with_dots_and_the_rest_is_metadata),
             MM_CASE(pth_mmengine_checkpoint_keeps_meta_and_finds_the_weights),
             MM_CASE(pth_hostile_pickles_are_refused_without_running_anything),
             MM_CASE(pth_legacy_format_is_refused_with_a_hint),
             MM_CASE(pth_torchscript_and_non_dicts_are_refused),
             MM_CASE(pth_truncated_at_every_byte_is_refused_in_one_line),
             MM_CASE(pth_corrupt_tensor_data_fails_the_crc),
             MM_CASE(pth_sniff_tells_torch_files_from_safetensors),
             MM_CASE(pth_weights_go_through_a_key_map_then_the_prefix),
             MM_CASE(init_cfg_pretrained_is_taken_out_and_recorded_inner_first),
             MM_CASE(init_cfg_pretrained_keys_are_validated))
