/* The registry and the plugin loader through the public API, with the test
 * plugins alpha and beta (MM_TEST_PLUGINDIR) and the plugins broken on
 * purpose (MM_TEST_BROKENDIR). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mm/plugin.h"
#include "mm/registry.h"
#include "mm/transform.h"

#define CHECK_HAS(haystack, needle)                                            \
    do {                                                                       \
        const char *h_ = (haystack), *n_ = (needle);                           \
        if (!h_ || !strstr(h_, n_)) {                                          \
            fprintf(stderr, "%s:%d: missing text:\n  in:   %s\n  want: %s\n",   \
                    __FILE__, __LINE__, h_ ? h_ : "(null)", n_);               \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

static char broken_dir[1024];

static char *broken(const char *name) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s.so", broken_dir, name);
    return path;
}

static mm_value *yaml(const char *text) {
    mm_value *v = NULL;
    if (mm_yaml_parse(text, strlen(text), "test.yaml", &v) != MM_OK) {
        fprintf(stderr, "bad test yaml: %s\n", mm_error_message());
        exit(1);
    }
    return v;
}

/* Build `text` as a MODELS node; returns the recorded build or NULL. */
static mm_value *build(const char *text, const char *scope) {
    mm_value *node = yaml(text);
    void *obj = NULL;
    int rc = mm_registry_build(MM_MODELS, node, scope, "model", NULL, &obj);
    mm_value_release(node);
    return rc ? NULL : obj;
}

static int validate(mm_kind kind, const char *text, const char *scope) {
    mm_value *node = yaml(text);
    int rc = mm_registry_validate(kind, node, scope, "model");
    mm_value_release(node);
    return rc;
}

static const char *str_at(const mm_value *d, const char *key) {
    const mm_value *v = mm_value_dict_get(d, key);
    return v && mm_value_is_string(v) ? mm_value_get_string(v) : "(none)";
}

MM_TEST(scope_loads_on_demand) {
    CHECK(!mm_plugin_is_loaded("alpha"));
    const mm_entry *e = NULL;
    CHECK_OK(mm_registry_lookup(MM_MODELS, "alpha.Net", NULL, NULL, &e));
    CHECK(e && strcmp(e->scope, "alpha") == 0);
    CHECK(mm_plugin_is_loaded("alpha"));
}

MM_TEST(required_scopes_load_first) {
    const mm_entry *e = NULL;
    CHECK_OK(mm_registry_lookup(MM_MODELS, "Head", "beta", NULL, &e));
    CHECK(mm_plugin_is_loaded("beta") && mm_plugin_is_loaded("alpha"));
}

MM_TEST(cross_plugin_reference_builds) {
    /* default_scope beta, the backbone from alpha, its norm bare (alpha's
     * BN is not found in beta or mm, so the explicit scope is needed). */
    mm_value *m = build("type: Net\n"
                        "backbone: {type: alpha.Net, depth: 2,"
                        " norm_cfg: {type: alpha.BN}}\n",
                        "beta");
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_STR(str_at(m, "built"), "beta.Net");
    const mm_value *bb = mm_value_dict_get(m, "backbone");
    CHECK_STR(str_at(bb, "built"), "alpha.Net");
    CHECK_STR(str_at(bb, "path"), "model.backbone");
    CHECK_STR(str_at(mm_value_dict_get(bb, "norm_cfg"), "built"), "alpha.BN");
    mm_value_release(m);
}

MM_TEST(bare_names_resolve_in_default_scope_then_core) {
    const mm_entry *e = NULL;
    CHECK_OK(mm_registry_lookup(MM_MODELS, "Net", "beta", NULL, &e));
    CHECK_STR(e->scope, "beta");
    CHECK_OK(mm_registry_lookup(MM_MODELS, "Net", "alpha", NULL, &e));
    CHECK_STR(e->scope, "alpha");
    CHECK_OK(mm_registry_lookup(MM_TRANSFORMS, "Compose", "alpha", NULL, &e));
    CHECK_STR(e->scope, "mm");
}

MM_TEST(scope_key_switches_scope_for_node_and_children) {
    mm_value *m = build("{type: Net, _scope_: alpha, depth: 1,"
                        " norm_cfg: {type: BN}}",
                        "beta");
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_STR(str_at(m, "built"), "alpha.Net");
    CHECK_STR(str_at(mm_value_dict_get(m, "norm_cfg"), "built"), "alpha.BN");
    mm_value_release(m);
}

MM_TEST(defaults_fill_missing_arguments) {
    mm_value *m = build("{type: alpha.Net, depth: 4}", NULL);
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_INT(mm_value_get_int(mm_value_dict_get(m, "depth")), 4);
    CHECK(mm_value_get_float(mm_value_dict_get(m, "width")) == 1.0);
    CHECK_INT(mm_value_get_int(mm_value_dict_get(m, "kernel_size")), 3);
    CHECK(mm_value_is_null(mm_value_dict_get(m, "norm_cfg")));
    CHECK_INT(mm_value_len(mm_value_dict_get(m, "blocks")), 0);
    mm_value_release(m);
}

MM_TEST(unknown_scope_is_an_error) {
    CHECK_INT(validate(MM_MODELS, "{type: nosuch.Net}", NULL), MM_ENOENT);
    CHECK_HAS(mm_error_message(), "test.yaml:1:8: model: 'nosuch.Net' needs "
                                  "scope 'nosuch': no plugin for scope 'nosuch'");
}

MM_TEST(unknown_name_suggests_the_closest) {
    CHECK_ERR(validate(MM_MODELS, "depth: 2\ntype: Nett\n", "alpha"), MM_ENOENT,
              "test.yaml:2:7: model: no MODELS component 'Nett' in scopes "
              "alpha, mm (did you mean 'Net'?)");
}

MM_TEST(unknown_name_suggests_another_scope) {
    CHECK_ERR(validate(MM_MODELS, "{type: Head}", "alpha"), MM_ENOENT,
              "test.yaml:1:8: model: no MODELS component 'Head' in scopes "
              "alpha, mm (did you mean 'beta.Head'?)");
}

MM_TEST(unknown_parameter_suggests_the_closest) {
    CHECK_ERR(validate(MM_MODELS, "type: alpha.Net\ndept: 3\n", NULL), MM_EINVAL,
              "test.yaml:2:1: model: alpha.Net has no parameter 'dept' (did "
              "you mean 'depth'?)");
}

MM_TEST(wrong_parameter_type_is_an_error) {
    CHECK_ERR(validate(MM_MODELS, "{type: alpha.Net, depth: deep}", NULL),
              MM_ETYPE,
              "test.yaml:1:26: model: alpha.Net expects int for 'depth', got "
              "string 'deep'");
    CHECK_OK(validate(MM_MODELS, "{type: alpha.Net, depth: 1, kernel_size: [3, 5]}",
                      NULL));
    CHECK_OK(validate(MM_MODELS, "{type: alpha.Net, depth: 1, width: 2}", NULL));
}

MM_TEST(missing_required_parameter_is_an_error) {
    CHECK_ERR(validate(MM_MODELS, "{type: alpha.Net, width: 0.5}", NULL),
              MM_EINVAL,
              "test.yaml:1:1: model: alpha.Net needs parameter 'depth' (number "
              "of blocks)");
}

MM_TEST(nested_errors_name_the_full_key_path) {
    CHECK_ERR(validate(MM_MODELS,
                       "type: alpha.Net\ndepth: 1\nblocks:\n"
                       "  - {type: Block}\n  - {type: Block, chanels: 3}\n",
                       "alpha"),
              MM_EINVAL,
              "test.yaml:5:19: model.blocks.1: alpha.Block has no parameter "
              "'chanels' (did you mean 'channels'?)");
    CHECK_ERR(validate(MM_MODELS,
                       "{type: beta.Net, backbone: {type: alpha.Net}}", NULL),
              MM_EINVAL,
              "test.yaml:1:28: model.backbone: alpha.Net needs parameter "
              "'depth' (number of blocks)");
}

MM_TEST(a_component_parameter_must_name_a_type) {
    CHECK_ERR(validate(MM_MODELS, "{type: beta.Net, backbone: {depth: 1}}", NULL),
              MM_EINVAL,
              "test.yaml:1:28: model.backbone: missing 'type' (the component "
              "to build)");
    CHECK_ERR(validate(MM_MODELS, "{type: beta.Net, backbone: 3}", NULL),
              MM_ETYPE,
              "test.yaml:1:28: model: beta.Net expects a MODELS config for "
              "'backbone', got int 3");
}

MM_TEST(builder_errors_name_their_path_once) {
    CHECK_ERR(build("{type: alpha.Net, depth: 1, blocks: [{type: Block},"
                    " {type: Broken}]}", "alpha") ? MM_OK : mm_error_code(),
              MM_EINVAL,
              "test.yaml:1:53: model.blocks.1 (alpha.Broken): refusing to build");
}

MM_TEST(core_compose_builds_and_runs_transforms) {
    mm_value *node = yaml("type: Compose\ntransforms: [{type: Compose, "
                          "transforms: []}]\n");
    void *obj = NULL;
    CHECK_OK(mm_registry_build(MM_TRANSFORMS, node, "alpha", "pipeline", NULL,
                               &obj));
    mm_value *results = yaml("{gt_label: 3}");
    if (obj)
        CHECK_OK(mm_transform_apply(obj, results));
    CHECK_INT(mm_value_get_int(mm_value_dict_get(results, "gt_label")), 3);
    mm_transform_free(obj);
    mm_value_release(results);
    mm_value_release(node);
}

MM_TEST(registration_outside_init_is_refused) {
    static const mm_component c = {.kind = MM_MODELS, .name = "Late",
                                   .build = NULL};
    CHECK_ERR(mm_register(&c), MM_EINVAL,
              "component 'Late' registered outside a plugin's init (register "
              "from the init function given to MM_PLUGIN_DEFINE)");
}

MM_TEST(duplicate_registration_is_refused) {
    CHECK_INT(mm_plugin_load_file(broken("dupreg")), MM_EEXIST);
    CHECK_HAS(mm_error_message(),
              "dupreg.so: init failed: dupreg.Twice is already registered in "
              "MODELS");
    CHECK(!mm_plugin_is_loaded("dupreg"));
    CHECK_INT(mm_registry_count("dupreg"), 0);
}

MM_TEST(bad_magic_is_refused) {
    CHECK_INT(mm_plugin_load_file(broken("badmagic")), MM_EINVAL);
    CHECK_HAS(mm_error_message(), "badmagic.so: bad descriptor magic 0xdeadbeef");
}

MM_TEST(abi_major_mismatch_is_refused) {
    CHECK_INT(mm_plugin_load_file(broken("abinext")), MM_EINVAL);
    CHECK_HAS(mm_error_message(), "abinext.so: built for mm ABI 2.0, this mm is 1.2");
}

MM_TEST(scope_file_name_mismatch_is_refused) {
    CHECK_INT(mm_plugin_load_file(broken("wrongscope")), MM_EINVAL);
    CHECK_HAS(mm_error_message(), "wrongscope.so: the plugin's scope is "
                                  "'rightname' but the file is named "
                                  "wrongscope.so");
}

MM_TEST(missing_descriptor_is_refused) {
    CHECK_INT(mm_plugin_load_file(broken("nodesc")), MM_EINVAL);
    CHECK_HAS(mm_error_message(), "nodesc.so: no plugin descriptor (it exports "
                                  "no mm_plugin_nodesc_get_desc");
}

MM_TEST(not_a_shared_object_is_refused) {
    CHECK_INT(mm_plugin_load_file(broken("notelf")), MM_EINVAL);
    CHECK_HAS(mm_error_message(), "notelf.so: not a shared object (no ELF header)");
}

MM_TEST(missing_required_scope_is_refused) {
    CHECK_INT(mm_plugin_load_file(broken("needsmissing")), MM_ENOENT);
    CHECK_HAS(mm_error_message(), "needsmissing.so requires nosuchscope: no "
                                  "plugin for scope 'nosuchscope'");
    CHECK(!mm_plugin_is_loaded("needsmissing"));
}

MM_TEST(requirement_cycle_is_refused) {
    CHECK_OK(mm_plugin_path_prepend(broken_dir));
    CHECK_INT(mm_plugin_load("cyca"), MM_ECYCLE);
    CHECK_HAS(mm_error_message(), "plugin requirement cycle: cyca -> cycb -> cyca");
    CHECK(!mm_plugin_is_loaded("cyca") && !mm_plugin_is_loaded("cycb"));
}

MM_TEST(crash_in_init_is_refused_by_the_probe) {
    mm_plugin_info info;
    size_t n = 0;
    CHECK(mm_plugin_probe(broken("crashinit"), &info, &n) != MM_OK);
    CHECK_HAS(mm_error_message(), "crashinit.so: ");
    CHECK_HAS(mm_error_message(), ": refused");
    /* ... and this process is still here to check it. */
}

MM_TEST(probe_reports_descriptor_and_component_count) {
    char path[1200];
    snprintf(path, sizeof path, "%s/beta.so", getenv("MM_TEST_PLUGINDIR"));
    mm_plugin_info info;
    size_t n = 0;
    CHECK_OK(mm_plugin_probe(path, &info, &n));
    CHECK_STR(info.scope, "beta");
    CHECK_STR(info.version, "0.9");
    CHECK_STR(info.requires, "alpha");
    CHECK_INT(n, 2);
}

MM_TEST(world_writable_directory_is_skipped) {
    char dir[] = "/tmp/mm-ww-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(chmod(dir, 0777) == 0);
    CHECK_OK(mm_plugin_path_prepend(dir));
    size_t n = 0;
    const char *const *dirs = mm_plugin_search_path(&n);
    for (size_t i = 0; i < n; i++)
        CHECK(strcmp(dirs[i], dir) != 0);
    CHECK(n > 0);
    rmdir(dir);
}

MM_TEST(relative_directory_is_skipped) {
    CHECK_OK(mm_plugin_path_prepend("plugins"));
    size_t n = 0;
    const char *const *dirs = mm_plugin_search_path(&n);
    for (size_t i = 0; i < n; i++)
        CHECK(dirs[i][0] == '/');
}

static void *lookup_many(void *arg) {
    (void)arg;
    static const char *const names[] = {"alpha.Net", "beta.Head", "Net",
                                        "alpha.Block"};
    for (int i = 0; i < 20000; i++) {
        const mm_entry *e = NULL;
        if (mm_registry_lookup(MM_MODELS, names[i % 4], "beta", NULL, &e) ||
            !e)
            return (void *)1;
    }
    return NULL;
}

MM_TEST(concurrent_lookups_agree) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        CHECK(pthread_create(&t[i], NULL, lookup_many, NULL) == 0);
    for (int i = 0; i < 8; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
}

MM_TEST(info_lists_components_by_kind) {
    size_t n = mm_registry_count("alpha");
    CHECK_INT(n, 6);
    CHECK(mm_registry_count("mm") >= 1);
}

MM_TEST(whole_config_validation_finds_component_errors) {
    mm_value *cfg = yaml("default_scope: alpha\n"
                         "model: {type: Net, depth: 2}\n"
                         "train_pipeline:\n"
                         "  - {type: Compose, transforms: [{type: Flip, x: 1}]}\n"
                         "  - {type: Pipe, transforms: [{type: Fllip}]}\n");
    CHECK_ERR(mm_config_validate_components(cfg), MM_ENOENT,
              "test.yaml:5:38: train_pipeline.1.transforms.0: no TRANSFORMS "
              "component 'Fllip' in scopes alpha, mm (did you mean 'Flip'?)");
    mm_value_release(cfg);
}

int main(int argc, char **argv) {
    const char *dir = getenv("MM_TEST_PLUGINDIR");
    const char *bdir = getenv("MM_TEST_BROKENDIR");
    if (!dir || !bdir) {
        fprintf(stderr, "MM_TEST_PLUGINDIR and MM_TEST_BROKENDIR must be set\n");
        return 1;
    }
    snprintf(broken_dir, sizeof broken_dir, "%s", bdir);
    /* Only the test plugins and the in-tree ones: no user directory. */
    setenv("MM_PLUGIN_PATH", dir, 1);
    setenv("XDG_DATA_HOME", "/nonexistent-mm-test", 1);
    static const mm_test_case cases[] = {
        MM_CASE(scope_loads_on_demand),
        MM_CASE(required_scopes_load_first),
        MM_CASE(cross_plugin_reference_builds),
        MM_CASE(bare_names_resolve_in_default_scope_then_core),
        MM_CASE(scope_key_switches_scope_for_node_and_children),
        MM_CASE(defaults_fill_missing_arguments),
        MM_CASE(unknown_scope_is_an_error),
        MM_CASE(unknown_name_suggests_the_closest),
        MM_CASE(unknown_name_suggests_another_scope),
        MM_CASE(unknown_parameter_suggests_the_closest),
        MM_CASE(wrong_parameter_type_is_an_error),
        MM_CASE(missing_required_parameter_is_an_error),
        MM_CASE(nested_errors_name_the_full_key_path),
        MM_CASE(a_component_parameter_must_name_a_type),
        MM_CASE(builder_errors_name_their_path_once),
        MM_CASE(core_compose_builds_and_runs_transforms),
        MM_CASE(registration_outside_init_is_refused),
        MM_CASE(duplicate_registration_is_refused),
        MM_CASE(bad_magic_is_refused),
        MM_CASE(abi_major_mismatch_is_refused),
        MM_CASE(scope_file_name_mismatch_is_refused),
        MM_CASE(missing_descriptor_is_refused),
        MM_CASE(not_a_shared_object_is_refused),
        MM_CASE(missing_required_scope_is_refused),
        MM_CASE(requirement_cycle_is_refused),
        MM_CASE(crash_in_init_is_refused_by_the_probe),
        MM_CASE(probe_reports_descriptor_and_component_count),
        MM_CASE(world_writable_directory_is_skipped),
        MM_CASE(relative_directory_is_skipped),
        MM_CASE(concurrent_lookups_agree),
        MM_CASE(info_lists_components_by_kind),
        MM_CASE(whole_config_validation_finds_component_errors),
    };
    int rc = mm_test_run(cases, sizeof cases / sizeof cases[0], argc, argv);
    mm_plugins_shutdown();
    return rc;
}
