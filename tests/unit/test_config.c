/* Config semantics: one test per rule of docs/config.md, on the fixtures in
 * tests/fixtures/config (paths are relative to tests/, the working dir). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/config.h"

#define FIX "fixtures/config/"

static mm_value *load(const char *name, const char *const *ov, size_t n) {
    mm_value *cfg = NULL;
    CHECK_OK(mm_config_load(name, ov, n, &cfg));
    return cfg;
}

static const mm_value *at(const mm_value *cfg, const char *path) {
    const mm_value *v = mm_config_get(cfg, path);
    if (!v)
        fprintf(stderr, "missing key %s\n", path);
    return v;
}

static int64_t int_at(const mm_value *cfg, const char *path) {
    const mm_value *v = at(cfg, path);
    return mm_value_is_int(v) ? mm_value_get_int(v) : -999999;
}

static double float_at(const mm_value *cfg, const char *path) {
    const mm_value *v = at(cfg, path);
    return mm_value_is_float(v) ? mm_value_get_float(v) : -999999.0;
}

static const char *str_at(const mm_value *cfg, const char *path) {
    const mm_value *v = at(cfg, path);
    return mm_value_is_string(v) ? mm_value_get_string(v) : "(not a string)";
}

/* The keys of a dict joined by spaces. */
static const char *keys_of(const mm_value *d) {
    static char buf[512];
    buf[0] = '\0';
    for (size_t i = 0; i < mm_value_len(d); i++) {
        strcat(buf, i ? " " : "");
        strcat(buf, mm_value_dict_key_at(d, i));
    }
    return buf;
}

MM_TEST(config_three_level_inheritance_merges_child_over_parent) {
    mm_value *cfg = load(FIX "child.yaml", NULL, 0);
    CHECK_INT(int_at(cfg, "model.backbone.depth"), 50);  /* level 2 */
    CHECK_STR(str_at(cfg, "model.backbone.type"), "ResNet"); /* level 1 */
    CHECK_INT(int_at(cfg, "model.head.num_classes"), 10);
    CHECK(float_at(cfg, "optimizer.lr") == 0.01);  /* level 3 */
    CHECK(float_at(cfg, "optimizer.momentum") == 0.9);
    CHECK_INT(int_at(cfg, "epochs"), 12);
    /* Base keys first in base order, then the child's new keys. */
    CHECK_STR(keys_of(cfg), "model optimizer pipeline lr name work_dir epochs");
    mm_value_release(cfg);
}

MM_TEST(config_delete_at_depth_replaces_inherited_dict) {
    mm_value *cfg = load(FIX "child.yaml", NULL, 0);
    const mm_value *norm = at(cfg, "model.backbone.norm_cfg");
    CHECK_STR(keys_of(norm), "type num_groups");
    CHECK_STR(str_at(cfg, "model.backbone.norm_cfg.type"), "GN");
    mm_value_release(cfg);
}

MM_TEST(config_lists_replace_rather_than_merge) {
    mm_value *cfg = load(FIX "mid.yaml", NULL, 0);
    const mm_value *p = at(cfg, "pipeline");
    CHECK_INT(mm_value_len(p), 3);
    CHECK_STR(str_at(cfg, "pipeline.1.type"), "RandomCrop");
    CHECK(mm_config_get(cfg, "pipeline.1.scale") == NULL);
    mm_value_release(cfg);
}

MM_TEST(config_private_top_level_keys_are_dropped) {
    mm_value *cfg = load(FIX "base_runtime.yaml", NULL, 0);
    CHECK(mm_config_get(cfg, "__private") == NULL);
    CHECK(mm_config_get(cfg, "_base_") == NULL);
    mm_value_release(cfg);
}

MM_TEST(config_sibling_bases_merge_in_order) {
    mm_value *cfg = load(FIX "siblings.yaml", NULL, 0);
    CHECK_STR(keys_of(cfg), "a shared_dict b d");
    CHECK_INT(int_at(cfg, "b"), 20);
    CHECK_INT(int_at(cfg, "a"), 1);
    mm_value_release(cfg);
}

MM_TEST(config_locations_survive_inheritance) {
    mm_value *cfg = load(FIX "child.yaml", NULL, 0);
    char buf[256];
    mm_srcloc_format(mm_value_loc(at(cfg, "model.backbone.depth")), buf, sizeof buf);
    CHECK_STR(buf, FIX "mid.yaml:4:21");
    mm_srcloc_format(mm_value_loc(at(cfg, "model.backbone.type")), buf, sizeof buf);
    CHECK_STR(buf, FIX "base_runtime.yaml:5:11");
    mm_srcloc_format(mm_value_loc(at(cfg, "optimizer.lr")), buf, sizeof buf);
    CHECK_STR(buf, FIX "child.yaml:6:17");
    mm_value_release(cfg);
}

MM_TEST(config_reference_into_a_base_sees_the_child_value) {
    /* work_dir: work_dirs/${name} is written in level 1; name changes in
     * level 2 and again on the command line. */
    mm_value *cfg = load(FIX "child.yaml", NULL, 0);
    CHECK_STR(str_at(cfg, "work_dir"), "work_dirs/mid");
    mm_value_release(cfg);
    const char *ov[] = {"name=cli"};
    cfg = load(FIX "child.yaml", ov, 1);
    CHECK_STR(str_at(cfg, "work_dir"), "work_dirs/cli");
    mm_value_release(cfg);
}

MM_TEST(config_base_vars_take_values_from_the_bases) {
    mm_value *cfg = load(FIX "base_var.yaml", NULL, 0);
    CHECK(float_at(cfg, "head_lr") == 0.1); /* the base's, not 0.5 */
    CHECK(float_at(cfg, "lr") == 0.5);
    CHECK_INT(mm_value_len(at(cfg, "pipe")), 2);
    CHECK_INT(int_at(cfg, "backbone_copy.depth"), 18);
    CHECK(float_at(cfg, "in_list.0") == 0.1);
    CHECK_INT(int_at(cfg, "in_list.1"), 2);
    mm_value_release(cfg);
}

MM_TEST(config_predefined_variables_name_the_file) {
    setenv("MM_TEST_VAR", "11", 1);
    unsetenv("MM_TEST_UNSET");
    mm_value *cfg = load(FIX "predefined.yaml", NULL, 0);
    const char *dir = str_at(cfg, "dir");
    CHECK(dir[0] == '/');
    CHECK(strstr(dir, "/tests/fixtures/config") != NULL);
    CHECK(dir[strlen(dir) - 1] == 'g');
    CHECK_STR(str_at(cfg, "base"), "predefined.yaml");
    CHECK_STR(str_at(cfg, "stem"), "work_dirs/predefined");
    CHECK_STR(str_at(cfg, "ext"), ".yaml");
    CHECK_INT(int_at(cfg, "env_set"), 11);
    CHECK_STR(str_at(cfg, "env_unset"), "default_value");
    mm_value_release(cfg);
}

MM_TEST(config_references_resolve_with_types) {
    setenv("MM_TEST_VAR", "2.5", 1);
    unsetenv("MM_TEST_UNSET");
    mm_value *cfg = load(FIX "refs.yaml", NULL, 0);
    CHECK_INT(int_at(cfg, "whole"), 1);
    CHECK_STR(str_at(cfg, "text"), "x_1_20");
    CHECK_INT(int_at(cfg, "list_item"), 10);
    CHECK_STR(str_at(cfg, "copy.dict.k"), "v");
    CHECK_INT(int_at(cfg, "chain"), 1);
    CHECK(float_at(cfg, "env_set") == 2.5);
    CHECK_STR(str_at(cfg, "env_default"), "hello");
    CHECK_INT(int_at(cfg, "env_default_int"), 42);
    CHECK_STR(str_at(cfg, "literal"), "${not_a_ref}");
    mm_value_release(cfg);
}

MM_TEST(config_reference_path_may_pass_through_a_reference) {
    mm_value *cfg = load(FIX "ref_through_ref.yaml", NULL, 0);
    CHECK_INT(int_at(cfg, "c"), 1);
    CHECK_INT(int_at(cfg, "a.x"), 1);
    mm_value_release(cfg);
}

MM_TEST(config_override_sets_nested_scalar) {
    const char *ov[] = {"model.backbone.depth=101", "optimizer.lr=0.5"};
    mm_value *cfg = load(FIX "child.yaml", ov, 2);
    CHECK_INT(int_at(cfg, "model.backbone.depth"), 101);
    CHECK(float_at(cfg, "optimizer.lr") == 0.5);
    char buf[256];
    mm_srcloc_format(mm_value_loc(at(cfg, "optimizer.lr")), buf, sizeof buf);
    CHECK_STR(buf, "<command line>:2:14");
    mm_value_release(cfg);
}

MM_TEST(config_override_indexes_list_elements) {
    const char *ov[] = {"pipeline.1.size=64", "pipeline.2={type: Pack2}"};
    mm_value *cfg = load(FIX "child.yaml", ov, 2);
    CHECK_INT(int_at(cfg, "pipeline.1.size"), 64);
    CHECK_STR(str_at(cfg, "pipeline.1.type"), "RandomCrop");
    CHECK_STR(str_at(cfg, "pipeline.2.type"), "Pack2");
    mm_value_release(cfg);
}

MM_TEST(config_override_parses_yaml_flow_values) {
    const char *ov[] = {"new.deep.list=[1, 2.5, x]", "flag=true",
                        "optimizer={momentum: 0.5}", "name='007'",
                        "empty="};
    mm_value *cfg = load(FIX "child.yaml", ov, 5);
    CHECK_INT(int_at(cfg, "new.deep.list.0"), 1);
    CHECK(float_at(cfg, "new.deep.list.1") == 2.5);
    CHECK_STR(str_at(cfg, "new.deep.list.2"), "x");
    CHECK(mm_value_is_bool(at(cfg, "flag")));
    /* A dict merges into the dict it overrides, as mmengine does. */
    CHECK(float_at(cfg, "optimizer.momentum") == 0.5);
    CHECK(float_at(cfg, "optimizer.lr") == 0.01);
    CHECK_STR(str_at(cfg, "name"), "007");
    CHECK(mm_value_is_null(at(cfg, "empty")));
    mm_value_release(cfg);
}

MM_TEST(config_scope_paths_use_the_scope_hook) {
    mm_value *cfg = NULL;
    CHECK_ERR(mm_config_load(FIX "scope_base.yaml", NULL, 0, &cfg), MM_ENOENT,
              FIX "scope_base.yaml:1:9: 'mmfake::sib_a.yaml': no loaded plugin "
                  "ships configs for scope 'mmfake'");
    mm_value_release(cfg);
}

static int fake_scope(const char *scope, const char *rel, char **path,
                      void *user) {
    (void)user;
    if (strcmp(scope, "mmfake") != 0)
        return mm_error_set(MM_ENOENT, "unknown scope '%s'", scope);
    size_t n = strlen(FIX) + strlen(rel) + 1;
    *path = malloc(n);
    snprintf(*path, n, "%s%s", FIX, rel);
    return MM_OK;
}

MM_TEST(config_scope_hook_resolves_plugin_configs) {
    mm_config_set_scope_hook(fake_scope, NULL);
    mm_value *cfg = load(FIX "scope_base.yaml", NULL, 0);
    CHECK_INT(int_at(cfg, "a"), 1);
    CHECK_INT(int_at(cfg, "extra"), 1);
    mm_value_release(cfg);
    mm_config_set_scope_hook(NULL, NULL);
}

MM_TEST(config_yaml_scalars_follow_pyyaml) {
    mm_value *cfg = load(FIX "scalars.yaml", NULL, 0);
    static const int64_t ints[] = {0, 7, -3, 4, 1000, 31, 15, 5, 90};
    for (size_t i = 0; i < 9; i++) {
        char path[32];
        snprintf(path, sizeof path, "ints.%zu", i);
        CHECK_INT(int_at(cfg, path), ints[i]);
    }
    CHECK(float_at(cfg, "floats.2") == 1.0e-4);
    CHECK(float_at(cfg, "floats.3") == 1e-4);
    CHECK(float_at(cfg, "floats.4") == 3.0);
    CHECK(float_at(cfg, "floats.5") == 0.5);
    CHECK(float_at(cfg, "floats.6") > 1e308);
    CHECK(mm_value_get_bool(at(cfg, "bools.0")));
    CHECK(!mm_value_get_bool(at(cfg, "bools.1")));
    CHECK(mm_value_get_bool(at(cfg, "bools.4")));
    CHECK(mm_value_is_null(at(cfg, "nulls.2")));
    CHECK(mm_value_is_null(at(cfg, "empty")));
    CHECK_STR(str_at(cfg, "strings.0"), "123");
    CHECK_STR(str_at(cfg, "strings.1"), "true");
    CHECK_STR(str_at(cfg, "strings.3"), "plain text");
    CHECK_STR(str_at(cfg, "strings.4"), "0x1g");
    CHECK_STR(str_at(cfg, "strings.5"), "1.2.3");
    CHECK_STR(str_at(cfg, "block"), "line one\nline two\n");
    CHECK_STR(str_at(cfg, "folded"), "folded text\n");
    CHECK_INT(int_at(cfg, "alias.j"), 2);
    CHECK_INT(int_at(cfg, "merged.k"), 1);
    CHECK_INT(int_at(cfg, "merged.j"), 3);
    mm_value_release(cfg);
}

/* ---- every error case prints its one line ------------------------------- */

static void expect_error(const char *file, const char *const *ov, size_t n,
                         int code, const char *msg) {
    mm_value *cfg = NULL;
    CHECK_ERR(mm_config_load(file, ov, n, &cfg), code, msg);
    CHECK(cfg == NULL);
    CHECK(strchr(mm_error_message(), '\n') == NULL);
}

MM_TEST(config_sibling_bases_sharing_a_key_is_an_error) {
    expect_error(FIX "dup_siblings.yaml", NULL, 0, MM_EEXIST,
                 FIX "dup_siblings.yaml:3:5: key 'shared_dict' is defined in "
                     "both base 'sib_a.yaml' and base 'sib_c.yaml'; sibling "
                     "bases must not share top-level keys");
}

MM_TEST(config_base_cycle_is_an_error) {
    expect_error(FIX "cycle_a.yaml", NULL, 0, MM_ECYCLE,
                 FIX "cycle_b.yaml:1:22: _base_ cycle: cycle_a.yaml -> "
                     "cycle_b.yaml -> cycle_a.yaml");
}

MM_TEST(config_dict_over_scalar_is_an_error_suggesting_delete) {
    expect_error(FIX "dict_over_scalar.yaml", NULL, 0, MM_ETYPE,
                 FIX "dict_over_scalar.yaml:4:5: 'model.head.num_classes' is a "
                     "dict here but a int in the base (" FIX
                     "base_runtime.yaml:8:35); add '_delete_: true' to replace "
                     "it");
}

MM_TEST(config_delete_over_scalar_replaces_it) {
    mm_value *cfg = load(FIX "delete_over_scalar.yaml", NULL, 0);
    CHECK_STR(keys_of(at(cfg, "lr")), "value");
    mm_value_release(cfg);
}

MM_TEST(config_delete_must_be_a_bool) {
    expect_error(FIX "bad_delete_type.yaml", NULL, 0, MM_ETYPE,
                 FIX "bad_delete_type.yaml:2:23: '_delete_' must be true or "
                     "false, not a string");
}

MM_TEST(config_missing_base_file_is_an_error) {
    expect_error(FIX "missing_base.yaml", NULL, 0, MM_ENOENT,
                 FIX "missing_base.yaml:2:22: _base_: cannot open '" FIX
                     "does_not_exist.yaml': No such file or directory");
}

MM_TEST(config_missing_file_is_an_error) {
    expect_error(FIX "nope.yaml", NULL, 0, MM_ENOENT,
                 "cannot open '" FIX "nope.yaml': No such file or directory");
}

MM_TEST(config_unreadable_file_is_an_error) {
    expect_error(FIX, NULL, 0, MM_EIO,
                 "cannot read '" FIX "': is a directory");
}

MM_TEST(config_malformed_yaml_is_an_error) {
    expect_error(FIX "malformed.yaml", NULL, 0, MM_EPARSE,
                 FIX "malformed.yaml:3:2: YAML syntax error: did not find "
                     "expected ',' or ']' while parsing a flow sequence (line 2)");
}

MM_TEST(config_top_level_must_be_a_mapping) {
    expect_error(FIX "toplevel_list.yaml", NULL, 0, MM_ETYPE,
                 FIX "toplevel_list.yaml:1:1: a config must be a mapping at "
                     "the top level, not a list");
}

MM_TEST(config_duplicate_key_is_an_error) {
    expect_error(FIX "duplicate_key.yaml", NULL, 0, MM_EEXIST,
                 FIX "duplicate_key.yaml:3:1: duplicate key 'a' (first "
                     "defined at line 1)");
}

MM_TEST(config_base_entries_must_be_strings) {
    expect_error(FIX "bad_base_type.yaml", NULL, 0, MM_ETYPE,
                 FIX "bad_base_type.yaml:1:22: _base_ entries must be file "
                     "paths (strings), not a int");
}

MM_TEST(config_unknown_base_var_is_an_error) {
    expect_error(FIX "base_var_missing.yaml", NULL, 0, MM_ENOENT,
                 FIX "base_var_missing.yaml:2:4: '{{_base_.model.neck}}': the "
                     "base configs have no key 'model.neck'");
}

MM_TEST(config_base_var_inside_a_string_is_an_error) {
    expect_error(FIX "base_var_in_string.yaml", NULL, 0, MM_EINVAL,
                 FIX "base_var_in_string.yaml:2:11: '{{_base_.…}}' must be a "
                     "whole value, not part of a string (use '${…}' to build "
                     "strings)");
}

MM_TEST(config_unknown_reference_is_an_error_with_suggestion) {
    expect_error(FIX "ref_unknown.yaml", NULL, 0, MM_ENOENT,
                 FIX "ref_unknown.yaml:3:8: depth: unknown reference "
                     "'${model.backbon.depth}': 'model' has no key 'backbon' "
                     "(did you mean 'backbone'?)");
}

MM_TEST(config_reference_cycle_is_an_error) {
    expect_error(FIX "ref_cycle.yaml", NULL, 0, MM_ECYCLE,
                 FIX "ref_cycle.yaml:4:6: a: b: c.x: reference cycle: a -> b "
                     "-> c.x -> a");
}

MM_TEST(config_reference_to_own_container_is_a_cycle) {
    expect_error(FIX "ref_self.yaml", NULL, 0, MM_ECYCLE,
                 FIX "ref_self.yaml:2:10: node.child: reference cycle: "
                     "node -> node.child -> node");
}

MM_TEST(config_reference_into_its_own_string_is_a_cycle) {
    expect_error(FIX "ref_into_itself.yaml", NULL, 0, MM_ECYCLE,
                 FIX "ref_into_itself.yaml:1:4: a: reference cycle: a -> a.x");
}

MM_TEST(config_unset_env_without_default_is_an_error) {
    unsetenv("MM_TEST_UNSET");
    expect_error(FIX "ref_env_unset.yaml", NULL, 0, MM_ENOENT,
                 FIX "ref_env_unset.yaml:1:7: root: environment variable "
                     "'MM_TEST_UNSET' is not set (write "
                     "'${env:MM_TEST_UNSET,default}' to give a default)");
}

MM_TEST(config_mmengine_env_without_default_is_an_error) {
    unsetenv("MM_TEST_UNSET");
    expect_error(FIX "env_no_default.yaml", NULL, 0, MM_ENOENT,
                 FIX "env_no_default.yaml:2:7: '{{$MM_TEST_UNSET:}}': the "
                     "environment variable is not set and there is no default");
}

MM_TEST(config_container_inside_a_string_is_an_error) {
    expect_error(FIX "ref_embed_dict.yaml", NULL, 0, MM_ETYPE,
                 FIX "ref_embed_dict.yaml:2:4: s: '${d}' is a dict and cannot "
                     "be part of a string; make the reference the whole value");
}

MM_TEST(config_override_past_list_end_is_an_error) {
    const char *ov[] = {"name=x", "pipeline.9.size=1"};
    expect_error(FIX "child.yaml", ov, 2, MM_ERANGE,
                 "<command line>:2:1: override 'pipeline.9.size=1': index 9 "
                 "is past the end of 'pipeline' (a list of 3)");
}

MM_TEST(config_override_without_equals_is_an_error) {
    const char *ov[] = {"model.depth"};
    expect_error(FIX "child.yaml", ov, 1, MM_EINVAL,
                 "<command line>:1:1: override 'model.depth' is not of the "
                 "form key.path=value");
}

MM_TEST(config_override_into_a_scalar_is_an_error) {
    const char *ov[] = {"lr.value=1"};
    expect_error(FIX "child.yaml", ov, 1, MM_ETYPE,
                 "<command line>:1:1: override 'lr.value=1': 'lr' is a float, "
                 "not a dict or list; set 'lr=...' to replace it");
}

MM_TEST(config_override_that_is_not_utf8_is_an_error) {
    const char *ov[] = {"a.b\xff=1"};
    expect_error(FIX "child.yaml", ov, 1, MM_EINVAL,
                 "<command line>:1:1: override 'a.b\\xff=1' is not valid "
                 "UTF-8 text");
}

MM_TEST(config_override_with_bad_yaml_is_an_error) {
    const char *ov[] = {"a=[1,"};
    expect_error(FIX "child.yaml", ov, 1, MM_EPARSE,
                 "<command line>:1:3: override 'a=[1,': YAML syntax error: did "
                 "not find expected node content while parsing a flow node");
}

MM_TEST(config_diff_lists_changed_paths) {
    mm_value *a = load(FIX "mid.yaml", NULL, 0);
    mm_value *b = load(FIX "child.yaml", NULL, 0);
    char *text = NULL;
    CHECK_OK(mm_config_diff(a, b, &text));
    CHECK_STR(text,
              "~ model.backbone.norm_cfg.type: \"BN\" -> \"GN\"\n"
              "- model.backbone.norm_cfg.requires_grad: true\n"
              "+ model.backbone.norm_cfg.num_groups: 32\n"
              "~ optimizer.lr: 0.1 -> 0.01\n"
              "+ epochs: 12\n");
    free(text);
    CHECK_OK(mm_config_diff(a, a, &text));
    CHECK_STR(text, "");
    free(text);
    mm_value_release(a);
    mm_value_release(b);
}

MM_TEST_MAIN(MM_CASE(config_three_level_inheritance_merges_child_over_parent),
             MM_CASE(config_delete_at_depth_replaces_inherited_dict),
             MM_CASE(config_lists_replace_rather_than_merge),
             MM_CASE(config_private_top_level_keys_are_dropped),
             MM_CASE(config_sibling_bases_merge_in_order),
             MM_CASE(config_locations_survive_inheritance),
             MM_CASE(config_reference_into_a_base_sees_the_child_value),
             MM_CASE(config_base_vars_take_values_from_the_bases),
             MM_CASE(config_predefined_variables_name_the_file),
             MM_CASE(config_references_resolve_with_types),
             MM_CASE(config_reference_path_may_pass_through_a_reference),
             MM_CASE(config_override_sets_nested_scalar),
             MM_CASE(config_override_indexes_list_elements),
             MM_CASE(config_override_parses_yaml_flow_values),
             MM_CASE(config_scope_paths_use_the_scope_hook),
             MM_CASE(config_scope_hook_resolves_plugin_configs),
             MM_CASE(config_yaml_scalars_follow_pyyaml),
             MM_CASE(config_sibling_bases_sharing_a_key_is_an_error),
             MM_CASE(config_base_cycle_is_an_error),
             MM_CASE(config_dict_over_scalar_is_an_error_suggesting_delete),
             MM_CASE(config_delete_over_scalar_replaces_it),
             MM_CASE(config_delete_must_be_a_bool),
             MM_CASE(config_missing_base_file_is_an_error),
             MM_CASE(config_missing_file_is_an_error),
             MM_CASE(config_unreadable_file_is_an_error),
             MM_CASE(config_malformed_yaml_is_an_error),
             MM_CASE(config_top_level_must_be_a_mapping),
             MM_CASE(config_duplicate_key_is_an_error),
             MM_CASE(config_base_entries_must_be_strings),
             MM_CASE(config_unknown_base_var_is_an_error),
             MM_CASE(config_base_var_inside_a_string_is_an_error),
             MM_CASE(config_unknown_reference_is_an_error_with_suggestion),
             MM_CASE(config_reference_cycle_is_an_error),
             MM_CASE(config_reference_to_own_container_is_a_cycle),
             MM_CASE(config_reference_into_its_own_string_is_a_cycle),
             MM_CASE(config_unset_env_without_default_is_an_error),
             MM_CASE(config_mmengine_env_without_default_is_an_error),
             MM_CASE(config_container_inside_a_string_is_an_error),
             MM_CASE(config_override_past_list_end_is_an_error),
             MM_CASE(config_override_without_equals_is_an_error),
             MM_CASE(config_override_into_a_scalar_is_an_error),
             MM_CASE(config_override_that_is_not_utf8_is_an_error),
             MM_CASE(config_override_with_bad_yaml_is_an_error),
             MM_CASE(config_diff_lists_changed_paths))
