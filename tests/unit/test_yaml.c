/* YAML reading (PyYAML's scalar rules, aliases, merge keys, hostile input)
 * and writing (quoting that reads back the same). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/value.h"
#include "strbuf.h"

static mm_value *parse(const char *text) {
    mm_value *v = NULL;
    CHECK_OK(mm_yaml_parse(text, strlen(text), "t.yaml", &v));
    return v;
}

static void expect_type(const char *plain, mm_value_type type) {
    mm_value *v = mm_yaml_resolve_plain(plain, strlen(plain));
    if (mm_value_type_of(v) != type)
        fprintf(stderr, "'%s' resolved to %s, want %s\n", plain,
                mm_value_type_name(mm_value_type_of(v)), mm_value_type_name(type));
    CHECK(mm_value_type_of(v) == type);
    mm_value_release(v);
}

MM_TEST(yaml_plain_scalars_resolve_like_pyyaml) {
    const char *ints[] = {"0", "12", "-3", "+4", "1_000", "0x1F", "017", "0b11",
                          "1:30", "-0x10", NULL};
    const char *floats[] = {"0.5", "-2.5", "1.0e-4", "3.", ".5", ".inf", "-.Inf",
                            ".NaN", "1.5e+3", "1:30.5", NULL};
    const char *bools[] = {"yes", "No", "TRUE", "false", "on", "OFF", NULL};
    const char *nulls[] = {"~", "null", "Null", "NULL", "", NULL};
    const char *strings[] = {"abc", "0x1g", "1.2.3", "0b12", "08", "yes!",
                             "--1", "1:60", "True_", "nan", "inf", "0o17", NULL};
    for (const char **s = ints; *s; s++) expect_type(*s, MM_VALUE_INT);
    for (const char **s = floats; *s; s++) expect_type(*s, MM_VALUE_FLOAT);
    for (const char **s = bools; *s; s++) expect_type(*s, MM_VALUE_BOOL);
    for (const char **s = nulls; *s; s++) expect_type(*s, MM_VALUE_NULL);
    for (const char **s = strings; *s; s++) expect_type(*s, MM_VALUE_STRING);
}

MM_TEST(yaml_exponents_without_dot_are_floats) {
    /* PyYAML reads these as strings; mm reads them as the floats meant. */
    expect_type("1e-4", MM_VALUE_FLOAT);
    expect_type("1.0e5", MM_VALUE_FLOAT);
    expect_type("-.5", MM_VALUE_FLOAT);
    mm_value *v = mm_yaml_resolve_plain("2e-3", 4);
    CHECK(mm_value_get_float(v) == 2e-3);
    mm_value_release(v);
}

MM_TEST(yaml_int_values_are_exact) {
    struct { const char *text; int64_t want; } cases[] = {
        {"0x1F", 31}, {"017", 15}, {"0b101", 5}, {"1:30", 90}, {"-1:00:00", -3600},
        {"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mm_value *v = mm_yaml_resolve_plain(cases[i].text, strlen(cases[i].text));
        CHECK(mm_value_is_int(v));
        if (mm_value_is_int(v))
            CHECK_INT(mm_value_get_int(v), cases[i].want);
        mm_value_release(v);
    }
    /* Beyond int64 the magnitude survives as a float instead of wrapping. */
    expect_type("9223372036854775808", MM_VALUE_FLOAT);
}

MM_TEST(yaml_quoted_scalars_stay_strings) {
    mm_value *v = parse("a: '1'\nb: \"true\"\nc: !!str 5\nd: !!float 3\ne: !!int '7'\n");
    CHECK(mm_value_is_string(mm_value_dict_get(v, "a")));
    CHECK(mm_value_is_string(mm_value_dict_get(v, "b")));
    CHECK_STR(mm_value_get_string(mm_value_dict_get(v, "c")), "5");
    CHECK(mm_value_get_float(mm_value_dict_get(v, "d")) == 3.0);
    CHECK(mm_value_is_float(mm_value_dict_get(v, "d")));
    CHECK_INT(mm_value_get_int(mm_value_dict_get(v, "e")), 7);
    mm_value_release(v);
}

MM_TEST(yaml_unsupported_tag_is_an_error) {
    mm_value *v = NULL;
    const char *t = "a: !!python/tuple [1, 2]\n";
    CHECK_ERR(mm_yaml_parse(t, strlen(t), "t.yaml", &v), MM_EUNSUPPORTED,
              "t.yaml:1:4: unsupported YAML tag 'tag:yaml.org,2002:python/tuple'");
    const char *bad = "a: !!int abc\n";
    CHECK_ERR(mm_yaml_parse(bad, strlen(bad), "t.yaml", &v), MM_EPARSE,
              "t.yaml:1:4: 'abc' is not a valid int");
}

MM_TEST(yaml_locations_are_one_based) {
    mm_value *v = parse("top:\n  inner: [1, 22]\n");
    const mm_value *l = mm_value_dict_get(mm_value_dict_get(v, "top"), "inner");
    CHECK_INT(mm_value_loc(l)->line, 2);
    CHECK_INT(mm_value_loc(l)->col, 10);
    CHECK_INT(mm_value_loc(mm_value_list_get(l, 1))->col, 14);
    CHECK_STR(mm_value_loc(l)->file, "t.yaml");
    mm_value_release(v);
}

MM_TEST(yaml_aliases_copy_the_anchored_node) {
    mm_value *v = parse("a: &x {k: [1, 2]}\nb: *x\n");
    CHECK(mm_value_equal(mm_value_dict_get(v, "a"), mm_value_dict_get(v, "b")));
    CHECK(mm_value_dict_get(v, "a") != mm_value_dict_get(v, "b"));
    mm_value_release(v);
}

MM_TEST(yaml_merge_keys_follow_pyyaml_precedence) {
    mm_value *v = parse("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\n"
                        "c:\n  <<: [*a, *b]\n  z: 3\n");
    const mm_value *c = mm_value_dict_get(v, "c");
    CHECK_INT(mm_value_get_int(mm_value_dict_get(c, "x")), 1);
    CHECK_INT(mm_value_get_int(mm_value_dict_get(c, "y")), 1); /* earlier wins */
    CHECK_INT(mm_value_get_int(mm_value_dict_get(c, "z")), 3); /* explicit wins */
    mm_value_release(v);
}

MM_TEST(yaml_recursive_alias_is_an_error) {
    mm_value *v = NULL;
    const char *t = "a: &x [1, *x]\n";
    int rc = mm_yaml_parse(t, strlen(t), "t.yaml", &v);
    CHECK(rc < 0);
    CHECK(v == NULL);
}

MM_TEST(yaml_alias_bomb_is_an_error_not_an_oom) {
    const char *t = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    mm_value *v = NULL;
    CHECK_ERR(mm_yaml_parse(t, strlen(t), "t.yaml", &v), MM_EPARSE,
              "t.yaml:1:23: document expands to more than 1048576 nodes "
              "(aliases nested too deeply?)");
}

MM_TEST(yaml_merge_key_bomb_is_an_error_not_a_hang) {
    /* Each level merges the previous one ten times: 10^8 pairs unchecked. */
    mm_strbuf sb = {0};
    mm_strbuf_puts(&sb, "x:\n  ? [&m0 {x: 1}");
    for (int i = 1; i < 9; i++) {
        mm_strbuf_printf(&sb, ", &m%d {<<: [", i);
        for (int k = 0; k < 10; k++)
            mm_strbuf_printf(&sb, "%s*m%d", k ? ", " : "", i - 1);
        mm_strbuf_puts(&sb, "]}");
    }
    mm_strbuf_puts(&sb, "]\n  : 1\n  <<: *m8\n");
    mm_value *v = NULL;
    CHECK_INT(mm_yaml_parse(sb.data, sb.len, "t.yaml", &v), MM_EPARSE);
    CHECK(strstr(mm_error_message(), "merge keys nested too deeply") != NULL);
    mm_strbuf_free(&sb);
}

MM_TEST(yaml_deep_nesting_is_an_error) {
    size_t n = 2000;
    char *t = malloc(2 * n + 1);
    memset(t, '[', n);
    memset(t + n, ']', n);
    t[2 * n] = '\0';
    mm_value *v = NULL;
    int rc = mm_yaml_parse(t, 2 * n, "t.yaml", &v);
    CHECK_INT(rc, MM_EPARSE);
    CHECK(strstr(mm_error_message(), "nesting deeper than 512 levels") != NULL);
    free(t);
}

MM_TEST(yaml_second_document_is_an_error) {
    mm_value *v = NULL;
    const char *t = "a: 1\n---\nb: 2\n";
    CHECK_ERR(mm_yaml_parse(t, strlen(t), "t.yaml", &v), MM_EPARSE,
              "t.yaml:3:1: more than one YAML document in the file");
}

MM_TEST(yaml_invalid_utf8_is_an_error) {
    mm_value *v = NULL;
    const char t[] = "a: \xff\xfe\n";
    int rc = mm_yaml_parse(t, sizeof t - 1, "t.yaml", &v);
    CHECK_INT(rc, MM_EPARSE);
    CHECK(strncmp(mm_error_message(), "t.yaml: YAML error:", 19) == 0);
}

MM_TEST(yaml_empty_document_is_null) {
    mm_value *v = parse("# only a comment\n");
    CHECK(mm_value_is_null(v));
    mm_value_release(v);
}

MM_TEST(yaml_dump_writes_block_style_with_inline_scalar_lists) {
    mm_value *v = parse("model: {type: Net, depth: 50}\nmean: [1.5, 2, 3]\n"
                        "pipeline: [{type: A}, {type: B, p: 0.5}]\nempty: {}\nnone: []\n");
    char *out = NULL;
    CHECK_OK(mm_yaml_dump(v, &out));
    CHECK_STR(out, "model:\n  type: Net\n  depth: 50\nmean: [1.5, 2, 3]\n"
                   "pipeline:\n- type: A\n- type: B\n  p: 0.5\nempty: {}\nnone: []\n");
    free(out);
    mm_value_release(v);
}

MM_TEST(yaml_dump_quotes_strings_that_would_change_type) {
    mm_value *d = mm_value_new_dict();
    const char *tricky[] = {"123", "true", "no", "", "null", "~", "1.5", "0x10",
                            "a: b", "- x", "#c", "line\nbreak", " pad", "ünï",
                            "1e-4", "{x}", "*star", NULL};
    for (size_t i = 0; tricky[i]; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%zu", i);
        mm_value_dict_set_take(d, key, mm_value_new_string(tricky[i]));
    }
    mm_value_dict_set_take(d, "yes", mm_value_new_float(1e-5));
    mm_value_dict_set_take(d, "f", mm_value_new_float(3.0));
    char *out = NULL;
    CHECK_OK(mm_yaml_dump(d, &out));
    mm_value *back = NULL;
    CHECK_OK(mm_yaml_parse(out, strlen(out), "dump", &back));
    CHECK(mm_value_equal(d, back));
    if (!mm_value_equal(d, back))
        fprintf(stderr, "dump was:\n%s", out);
    CHECK(strstr(out, "f: 3.0\n") != NULL);
    CHECK(strstr(out, "k14: 'ünï'") == NULL); /* unicode stays readable */
    free(out);
    mm_value_release(back);
    mm_value_release(d);
}

MM_TEST(yaml_float_text_round_trips_and_stays_float) {
    double values[] = {0.1, 1e-5, 1e22, 123456789.125, -0.0, 5e-324, 0.3};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[32];
        mm_format_double(values[i], false, buf);
        mm_value *v = mm_yaml_resolve_plain(buf, strlen(buf));
        CHECK(mm_value_is_float(v));
        if (mm_value_is_float(v))
            CHECK(mm_value_get_float(v) == values[i]);
        mm_value_release(v);
    }
    char buf[32];
    mm_format_double(0.1, false, buf);
    CHECK_STR(buf, "0.1");
    mm_format_double(1e-5, false, buf);
    CHECK_STR(buf, "1.0e-05");
    mm_format_double(2.0, true, buf);
    CHECK_STR(buf, "2.0");
}

MM_TEST_MAIN(MM_CASE(yaml_plain_scalars_resolve_like_pyyaml),
             MM_CASE(yaml_exponents_without_dot_are_floats),
             MM_CASE(yaml_int_values_are_exact),
             MM_CASE(yaml_quoted_scalars_stay_strings),
             MM_CASE(yaml_unsupported_tag_is_an_error),
             MM_CASE(yaml_locations_are_one_based),
             MM_CASE(yaml_aliases_copy_the_anchored_node),
             MM_CASE(yaml_merge_keys_follow_pyyaml_precedence),
             MM_CASE(yaml_recursive_alias_is_an_error),
             MM_CASE(yaml_alias_bomb_is_an_error_not_an_oom),
             MM_CASE(yaml_merge_key_bomb_is_an_error_not_a_hang),
             MM_CASE(yaml_deep_nesting_is_an_error),
             MM_CASE(yaml_second_document_is_an_error),
             MM_CASE(yaml_invalid_utf8_is_an_error),
             MM_CASE(yaml_empty_document_is_null),
             MM_CASE(yaml_dump_writes_block_style_with_inline_scalar_lists),
             MM_CASE(yaml_dump_quotes_strings_that_would_change_type),
             MM_CASE(yaml_float_text_round_trips_and_stays_float))
