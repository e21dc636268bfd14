/* mm_json_parse / mm_json_dump: the strict grammar, locations, exact error
 * messages, and output byte-for-byte as Python's json.dumps writes it. The
 * "Python writes" literals below were produced with python3's json module. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/value.h"

/* ---- helpers ------------------------------------------------------------ */

static mm_value *parse_ok(const char *text) {
    mm_value *v = NULL;
    CHECK_OK(mm_json_parse(text, strlen(text), "x.json", &v));
    return v;
}

/* Parses text of explicit length (it may hold NUL bytes) expecting failure;
 * checks the out-parameter comes back NULL. */
static int parse_errn(const char *text, size_t len) {
    mm_value *v = (mm_value *)&v; /* a stale pointer the parser must clear */
    int rc = mm_json_parse(text, len, "x.json", &v);
    CHECK(v == NULL);
    if (rc == MM_OK)
        mm_value_release(v);
    return rc;
}

static int parse_err(const char *text) {
    return parse_errn(text, strlen(text));
}

static char *dump(const mm_value *v, int indent) {
    char *s = NULL;
    CHECK_OK(mm_json_dump(v, indent, &s));
    return s;
}

static void check_dump(const mm_value *v, int indent, const char *want) {
    char *s = dump(v, indent);
    CHECK_STR(s, want);
    free(s);
}

static void check_loc(const mm_srcloc *loc, int line, int col) {
    CHECK(loc != NULL);
    if (!loc)
        return;
    CHECK_STR(loc->file, "x.json");
    CHECK_INT(loc->line, line);
    CHECK_INT(loc->col, col);
}

/* The JSON string value of `text`, or NULL on a parse failure. */
static char *parse_string_value(const char *text) {
    mm_value *v = parse_ok(text);
    char *s = NULL;
    if (mm_value_is_string(v))
        s = strdup(mm_value_get_string(v));
    mm_value_release(v);
    return s;
}

static char *nested_lists(size_t depth) {
    char *s = malloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

/* ---- accepted input ----------------------------------------------------- */

MM_TEST(json_parses_literals) {
    mm_value *v = parse_ok("[null, true, false]");
    CHECK_INT(mm_value_len(v), 3);
    CHECK(mm_value_type_of(mm_value_list_get(v, 0)) == MM_VALUE_NULL);
    CHECK(mm_value_get_bool(mm_value_list_get(v, 1)) == true);
    CHECK(mm_value_get_bool(mm_value_list_get(v, 2)) == false);
    mm_value_release(v);
}

MM_TEST(json_allows_surrounding_whitespace) {
    mm_value *v = parse_ok(" \t\r\n {\"a\" : [ 1 , 2 ] } \n\t ");
    CHECK(mm_value_is_dict(v));
    CHECK_INT(mm_value_len(mm_value_dict_get(v, "a")), 2);
    mm_value_release(v);
}

MM_TEST(json_scalar_at_top_level) {
    mm_value *v = parse_ok("\"hi\"");
    CHECK_STR(mm_value_get_string(v), "hi");
    mm_value_release(v);
    v = parse_ok("42");
    CHECK_INT(mm_value_get_int(v), 42);
    mm_value_release(v);
}

MM_TEST(json_int_that_fits_int64_is_int) {
    mm_value *v = parse_ok("[0, -0, 7, 9223372036854775807, "
                           "-9223372036854775808]");
    for (size_t i = 0; i < mm_value_len(v); i++)
        CHECK(mm_value_is_int(mm_value_list_get(v, i)));
    CHECK_INT(mm_value_get_int(mm_value_list_get(v, 1)), 0);
    CHECK(mm_value_get_int(mm_value_list_get(v, 3)) == INT64_MAX);
    CHECK(mm_value_get_int(mm_value_list_get(v, 4)) == INT64_MIN);
    mm_value_release(v);
}

MM_TEST(json_int_overflowing_int64_is_float) {
    mm_value *v = parse_ok("[9223372036854775808, -9223372036854775809, "
                           "100000000000000000000000000000]");
    for (size_t i = 0; i < mm_value_len(v); i++)
        CHECK(mm_value_is_float(mm_value_list_get(v, i)));
    CHECK(mm_value_get_float(mm_value_list_get(v, 0)) == 9223372036854775808.0);
    CHECK(mm_value_get_float(mm_value_list_get(v, 1)) ==
          -9223372036854775808.0);
    CHECK(mm_value_get_float(mm_value_list_get(v, 2)) == 1e29);
    mm_value_release(v);
}

MM_TEST(json_fraction_or_exponent_is_float) {
    mm_value *v = parse_ok("[1.5, -0.0, 1E2, 1e-2, 2e+3, 0.1, 1e400, -1e400, "
                           "1e-400]");
    static const double want[] = {1.5, -0.0,     100.0,     0.01, 2000.0,
                                  0.1, INFINITY, -INFINITY, 0.0};
    CHECK_INT(mm_value_len(v), 9);
    for (size_t i = 0; i < 9; i++) {
        mm_value *x = mm_value_list_get(v, i);
        CHECK(mm_value_is_float(x));
        CHECK(mm_value_get_float(x) == want[i]);
    }
    CHECK(signbit(mm_value_get_float(mm_value_list_get(v, 1))));
    mm_value_release(v);
}

MM_TEST(json_long_number_text_parses) {
    /* Longer than any stack buffer the reader might use for strtod. */
    char text[400] = "1.";
    memset(text + 2, '0', 300);
    strcpy(text + 302, "1e2");
    mm_value *v = parse_ok(text);
    CHECK(mm_value_is_float(v));
    CHECK(mm_value_get_float(v) == 100.0);
    mm_value_release(v);
}

MM_TEST(json_accepts_nan_and_infinity_as_python_writes_them) {
    mm_value *v = parse_ok("[NaN, Infinity, -Infinity]");
    CHECK(isnan(mm_value_get_float(mm_value_list_get(v, 0))));
    CHECK(mm_value_get_float(mm_value_list_get(v, 1)) == INFINITY);
    CHECK(mm_value_get_float(mm_value_list_get(v, 2)) == -INFINITY);
    mm_value_release(v);
}

MM_TEST(json_decodes_simple_escapes) {
    char *s = parse_string_value("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"");
    CHECK_STR(s, "\" \\ / \b \f \n \r \t");
    free(s);
}

MM_TEST(json_u_escape_decodes_to_utf8) {
    char *s = parse_string_value("\"\\u0041\\u00e9\\u20AC\\u007f\"");
    CHECK_STR(s, "A\xc3\xa9\xe2\x82\xac\x7f");
    free(s);
}

MM_TEST(json_surrogate_pair_decodes_to_utf8) {
    char *s = parse_string_value("\"\\ud83d\\uDE00!\"");
    CHECK_STR(s, "\xf0\x9f\x98\x80!");
    free(s);
}

MM_TEST(json_utf8_in_strings_passes_through) {
    const char *text = "{\"caf\xc3\xa9\": \"\xe2\x82\xac \xf0\x9f\x98\x80 "
                       "\xf4\x8f\xbf\xbf\"}";
    mm_value *v = parse_ok(text);
    CHECK_STR(mm_value_dict_key_at(v, 0), "caf\xc3\xa9");
    CHECK_STR(mm_value_get_string(mm_value_dict_value_at(v, 0)),
              "\xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
    mm_value_release(v);
}

MM_TEST(json_string_keeps_its_length) {
    mm_value *v = parse_ok("\"ab\\ncd\"");
    CHECK_INT(mm_value_string_len(v), 5);
    mm_value_release(v);
}

MM_TEST(json_object_keeps_insertion_order) {
    mm_value *v = parse_ok("{\"z\": 1, \"a\": 2, \"m\": 3}");
    CHECK_STR(mm_value_dict_key_at(v, 0), "z");
    CHECK_STR(mm_value_dict_key_at(v, 1), "a");
    CHECK_STR(mm_value_dict_key_at(v, 2), "m");
    mm_value_release(v);
}

MM_TEST(json_same_key_in_sibling_objects_is_fine) {
    mm_value *v = parse_ok("[{\"a\": 1}, {\"a\": {\"a\": 2}}]");
    CHECK_INT(mm_value_len(v), 2);
    mm_value_release(v);
}

MM_TEST(json_nesting_512_deep_is_allowed) {
    char *text = nested_lists(512);
    mm_value *v = parse_ok(text);
    CHECK(mm_value_is_list(v));
    mm_value_release(v);
    free(text);
}

/* ---- locations ---------------------------------------------------------- */

MM_TEST(json_locations_of_nested_values) {
    const char *text = "{\n"
                       "  \"a\": [1, {\"b\": null}],\n"
                       "  \"c\": -2.5\n"
                       "}";
    mm_value *v = parse_ok(text);
    check_loc(mm_value_loc(v), 1, 1);
    mm_value *a = mm_value_dict_get(v, "a");
    check_loc(mm_value_loc(a), 2, 8);
    check_loc(mm_value_loc(mm_value_list_get(a, 0)), 2, 9);
    mm_value *inner = mm_value_list_get(a, 1);
    check_loc(mm_value_loc(inner), 2, 12);
    check_loc(mm_value_loc(mm_value_dict_get(inner, "b")), 2, 18);
    check_loc(mm_value_loc(mm_value_dict_get(v, "c")), 3, 8);
    mm_value_release(v);
}

MM_TEST(json_object_keys_have_their_own_location) {
    const char *text = "{\n"
                       "  \"a\": [1, {\"b\": null}],\n"
                       "  \"c\":\n"
                       "     true\n"
                       "}";
    mm_value *v = parse_ok(text);
    check_loc(mm_value_dict_key_loc_at(v, 0), 2, 3);
    check_loc(mm_value_dict_key_loc_at(v, 1), 3, 3);
    check_loc(mm_value_loc(mm_value_dict_value_at(v, 1)), 4, 6);
    mm_value *inner = mm_value_list_get(mm_value_dict_get(v, "a"), 1);
    check_loc(mm_value_dict_key_loc_at(inner, 0), 2, 13);
    mm_value_release(v);
}

MM_TEST(json_columns_count_bytes_not_characters) {
    /* "é" is two bytes, so the value after it starts one column later than
     * a character count would say. */
    mm_value *v = parse_ok("{\"\xc3\xa9\": \"x\", \"c\": true}");
    check_loc(mm_value_dict_key_loc_at(v, 0), 1, 2);
    check_loc(mm_value_loc(mm_value_dict_value_at(v, 0)), 1, 8);
    check_loc(mm_value_dict_key_loc_at(v, 1), 1, 13);
    check_loc(mm_value_loc(mm_value_dict_value_at(v, 1)), 1, 18);
    mm_value_release(v);
}

MM_TEST(json_crlf_line_endings_count_one_line_each) {
    mm_value *v = parse_ok("[\r\n1,\r\n  2]");
    check_loc(mm_value_loc(mm_value_list_get(v, 0)), 2, 1);
    check_loc(mm_value_loc(mm_value_list_get(v, 1)), 3, 3);
    mm_value_release(v);
}

MM_TEST(json_null_name_reads_as_string_placeholder) {
    mm_value *v = NULL;
    CHECK_OK(mm_json_parse("[1]", 3, NULL, &v));
    CHECK_STR(mm_value_loc(v)->file, "<string>");
    mm_value_release(v);
    CHECK_ERR(mm_json_parse("[", 1, NULL, &v), MM_EPARSE,
              "<string>:1:2: unexpected end of input");
}

MM_TEST(json_parse_reads_only_len_bytes) {
    mm_value *v = NULL;
    CHECK_OK(mm_json_parse("[1, 2] trailing junk", 6, "x.json", &v));
    CHECK_INT(mm_value_len(v), 2);
    mm_value_release(v);
}

/* ---- rejected input, with exact messages -------------------------------- */

MM_TEST(json_rejects_empty_input) {
    CHECK_ERR(parse_err(""), MM_EPARSE, "x.json:1:1: unexpected end of input");
    CHECK_ERR(parse_err("  \n  "), MM_EPARSE,
              "x.json:2:3: unexpected end of input");
}

MM_TEST(json_rejects_truncated_input) {
    CHECK_ERR(parse_err("[1, 2"), MM_EPARSE,
              "x.json:1:6: unexpected end of input");
    CHECK_ERR(parse_err("{\"a\": "), MM_EPARSE,
              "x.json:1:7: unexpected end of input");
    CHECK_ERR(parse_err("{\"a\""), MM_EPARSE,
              "x.json:1:5: unexpected end of input");
    CHECK_ERR(parse_err("{"), MM_EPARSE, "x.json:1:2: unexpected end of input");
    CHECK_ERR(parse_err("[1,"), MM_EPARSE,
              "x.json:1:4: unexpected end of input");
}

MM_TEST(json_rejects_more_than_one_value) {
    CHECK_ERR(parse_err("1 2"), MM_EPARSE,
              "x.json:1:3: extra data after the JSON value");
    CHECK_ERR(parse_err("{}\n[]"), MM_EPARSE,
              "x.json:2:1: extra data after the JSON value");
}

MM_TEST(json_rejects_trailing_comma) {
    CHECK_ERR(parse_err("[1,]"), MM_EPARSE,
              "x.json:1:4: trailing comma before ']'");
    CHECK_ERR(parse_err("{\"a\": 1,\n}"), MM_EPARSE,
              "x.json:2:1: trailing comma before '}'");
}

MM_TEST(json_rejects_missing_comma) {
    CHECK_ERR(parse_err("{\n  \"a\": 1,\n\"b\":1 2\n}"), MM_EPARSE,
              "x.json:3:7: expected ',' or '}' after object member");
    CHECK_ERR(parse_err("[1 2]"), MM_EPARSE,
              "x.json:1:4: expected ',' or ']' after array element");
}

MM_TEST(json_rejects_bad_object_syntax) {
    CHECK_ERR(parse_err("{\"a\" 1}"), MM_EPARSE,
              "x.json:1:6: expected ':' after object key");
    CHECK_ERR(parse_err("{1: 2}"), MM_EPARSE,
              "x.json:1:2: expected a string key");
    CHECK_ERR(parse_err("{'a': 2}"), MM_EPARSE,
              "x.json:1:2: expected a string key");
    CHECK_ERR(parse_err("{\"a\":}"), MM_EPARSE,
              "x.json:1:6: unexpected character '}'");
    CHECK_ERR(parse_err("[,1]"), MM_EPARSE,
              "x.json:1:2: unexpected character ','");
}

MM_TEST(json_rejects_comments) {
    CHECK_ERR(parse_err("// note\n1"), MM_EPARSE,
              "x.json:1:1: unexpected character '/'");
    CHECK_ERR(parse_err("[1 /* note */]"), MM_EPARSE,
              "x.json:1:4: expected ',' or ']' after array element");
    CHECK_ERR(parse_err("# note\n1"), MM_EPARSE,
              "x.json:1:1: unexpected character '#'");
}

MM_TEST(json_rejects_duplicate_keys) {
    CHECK_ERR(parse_err("{\"a\": 1,\n \"b\": 2, \"a\": 3}"), MM_EPARSE,
              "x.json:2:10: duplicate key 'a' (first at line 1, column 2)");
    /* Escapes decode before comparing: "\u0061" is "a". */
    CHECK_ERR(parse_err("{\"a\": 1, \"\\u0061\": 2}"), MM_EPARSE,
              "x.json:1:10: duplicate key 'a' (first at line 1, column 2)");
}

MM_TEST(json_rejects_leading_zeros) {
    CHECK_ERR(parse_err("01"), MM_EPARSE,
              "x.json:1:1: leading zeros are not allowed");
    CHECK_ERR(parse_err("[-007]"), MM_EPARSE,
              "x.json:1:3: leading zeros are not allowed");
}

MM_TEST(json_rejects_plus_sign) {
    CHECK_ERR(parse_err("+1"), MM_EPARSE,
              "x.json:1:1: unexpected character '+'");
}

MM_TEST(json_rejects_fraction_without_integer_part) {
    CHECK_ERR(parse_err(".5"), MM_EPARSE,
              "x.json:1:1: unexpected character '.'");
    CHECK_ERR(parse_err("-.5"), MM_EPARSE,
              "x.json:1:2: expected a digit after '-'");
}

MM_TEST(json_rejects_fraction_without_digits) {
    CHECK_ERR(parse_err("[1.]"), MM_EPARSE,
              "x.json:1:4: expected a digit after '.'");
    CHECK_ERR(parse_err("1."), MM_EPARSE,
              "x.json:1:3: unexpected end of input");
    CHECK_ERR(parse_err("1.e5"), MM_EPARSE,
              "x.json:1:3: expected a digit after '.'");
}

MM_TEST(json_rejects_exponent_without_digits) {
    CHECK_ERR(parse_err("[1e]"), MM_EPARSE,
              "x.json:1:4: expected a digit in the exponent");
    CHECK_ERR(parse_err("[1E+]"), MM_EPARSE,
              "x.json:1:5: expected a digit in the exponent");
}

MM_TEST(json_rejects_lone_minus) {
    CHECK_ERR(parse_err("-"), MM_EPARSE, "x.json:1:2: unexpected end of input");
    CHECK_ERR(parse_err("[-]"), MM_EPARSE,
              "x.json:1:3: expected a digit after '-'");
}

MM_TEST(json_rejects_hex_and_other_number_forms) {
    CHECK_ERR(parse_err("0x10"), MM_EPARSE,
              "x.json:1:2: extra data after the JSON value");
    CHECK_ERR(parse_err("[1.5.2]"), MM_EPARSE,
              "x.json:1:5: expected ',' or ']' after array element");
}

MM_TEST(json_rejects_unknown_literals) {
    CHECK_ERR(parse_err("tru"), MM_EPARSE, "x.json:1:1: invalid literal 'tru'");
    CHECK_ERR(parse_err("[True]"), MM_EPARSE,
              "x.json:1:2: invalid literal 'True'");
    CHECK_ERR(parse_err("nulll"), MM_EPARSE,
              "x.json:1:1: invalid literal 'nulll'");
    CHECK_ERR(parse_err("undefined"), MM_EPARSE,
              "x.json:1:1: invalid literal 'undefined'");
}

MM_TEST(json_rejects_nan_spellings_python_does_not_write) {
    CHECK_ERR(parse_err("nan"), MM_EPARSE, "x.json:1:1: invalid literal 'nan'");
    CHECK_ERR(parse_err("-NaN"), MM_EPARSE,
              "x.json:1:1: invalid literal '-NaN'");
    CHECK_ERR(parse_err("infinity"), MM_EPARSE,
              "x.json:1:1: invalid literal 'infinity'");
    CHECK_ERR(parse_err("-Inf"), MM_EPARSE,
              "x.json:1:1: invalid literal '-Inf'");
}

MM_TEST(json_rejects_unexpected_bytes) {
    CHECK_ERR(parse_err("@"), MM_EPARSE,
              "x.json:1:1: unexpected character '@'");
    CHECK_ERR(parse_err("]"), MM_EPARSE,
              "x.json:1:1: unexpected character ']'");
    CHECK_ERR(parse_err("\xc3\xa9"), MM_EPARSE,
              "x.json:1:1: unexpected byte 0xc3");
    /* A UTF-8 byte order mark is not JSON whitespace (RFC 8259 8.1). */
    CHECK_ERR(parse_err("\xef\xbb\xbf{}"), MM_EPARSE,
              "x.json:1:1: unexpected byte 0xef");
    CHECK_ERR(parse_err("\v1"), MM_EPARSE, "x.json:1:1: unexpected byte 0x0b");
}

MM_TEST(json_rejects_unterminated_string_at_its_quote) {
    CHECK_ERR(parse_err("[\"abc"), MM_EPARSE,
              "x.json:1:2: unterminated string");
    CHECK_ERR(parse_err("{\"a\": \"b\\"), MM_EPARSE,
              "x.json:1:7: unterminated string");
}

MM_TEST(json_rejects_raw_control_chars_in_strings) {
    CHECK_ERR(parse_err("\"a\tb\""), MM_EPARSE,
              "x.json:1:3: unescaped control character U+0009 in string");
    CHECK_ERR(parse_err("\"a\nb\""), MM_EPARSE,
              "x.json:1:3: unescaped control character U+000A in string");
    CHECK_ERR(parse_err("\"\x1f\""), MM_EPARSE,
              "x.json:1:2: unescaped control character U+001F in string");
}

MM_TEST(json_rejects_invalid_escape) {
    CHECK_ERR(parse_err("\"a\\x\""), MM_EPARSE,
              "x.json:1:3: invalid escape '\\x' in string");
    CHECK_ERR(parse_err("\"\\'\""), MM_EPARSE,
              "x.json:1:2: invalid escape '\\'' in string");
    CHECK_ERR(parse_err("\"\\U0041\""), MM_EPARSE,
              "x.json:1:2: invalid escape '\\U' in string");
}

MM_TEST(json_rejects_short_u_escape) {
    CHECK_ERR(parse_err("\"\\u12\""), MM_EPARSE,
              "x.json:1:2: invalid \\u escape (want 4 hex digits)");
    CHECK_ERR(parse_err("\"\\u12g4\""), MM_EPARSE,
              "x.json:1:2: invalid \\u escape (want 4 hex digits)");
    CHECK_ERR(parse_err("\"\\u12"), MM_EPARSE,
              "x.json:1:2: invalid \\u escape (want 4 hex digits)");
}

MM_TEST(json_rejects_lone_high_surrogate) {
    CHECK_ERR(parse_err("\"\\uD83D\""), MM_EPARSE,
              "x.json:1:2: unpaired surrogate \\uD83D in string");
    CHECK_ERR(parse_err("\"\\uD83D\\u0041\""), MM_EPARSE,
              "x.json:1:2: unpaired surrogate \\uD83D in string");
    CHECK_ERR(parse_err("\"\\uD83D\\uD83D\""), MM_EPARSE,
              "x.json:1:2: unpaired surrogate \\uD83D in string");
    CHECK_ERR(parse_err("\"\\uD83Dx\""), MM_EPARSE,
              "x.json:1:2: unpaired surrogate \\uD83D in string");
}

MM_TEST(json_rejects_lone_low_surrogate) {
    CHECK_ERR(parse_err("\"x\\uDE00\""), MM_EPARSE,
              "x.json:1:3: unpaired surrogate \\uDE00 in string");
}

MM_TEST(json_rejects_escaped_nul) {
    CHECK_ERR(parse_err("\"a\\u0000b\""), MM_EPARSE,
              "x.json:1:3: \\u0000 is not allowed in a string");
}

MM_TEST(json_rejects_embedded_nul_bytes) {
    CHECK_ERR(parse_errn("\0", 1), MM_EPARSE, "x.json:1:1: NUL byte in input");
    CHECK_ERR(parse_errn("[1,\0 2]", 7), MM_EPARSE,
              "x.json:1:4: NUL byte in input");
    CHECK_ERR(parse_errn("[1\0]", 4), MM_EPARSE,
              "x.json:1:3: NUL byte in input");
    CHECK_ERR(parse_errn("\"a\0b\"", 5), MM_EPARSE,
              "x.json:1:3: NUL byte in input");
    CHECK_ERR(parse_errn("\"a\\\0\"", 5), MM_EPARSE,
              "x.json:1:4: NUL byte in input");
    /* A terminator counted in len is still a NUL in the text. */
    CHECK_ERR(parse_errn("{}", 3), MM_EPARSE, "x.json:1:3: NUL byte in input");
}

MM_TEST(json_rejects_invalid_utf8) {
    static const char *const bad[] = {
        "\"\x80\"",             /* lone continuation byte */
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xc1\xbf\"",         /* overlong */
        "\"\xe0\x80\xaf\"",     /* overlong, three bytes */
        "\"\xf0\x80\x80\xaf\"", /* overlong, four bytes */
        "\"\xed\xa0\x80\"",     /* UTF-16 surrogate D800 encoded */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf5\x80\x80\x80\"", /* invalid lead byte */
        "\"\xff\"",
        "\"\xe2\x82\"", /* truncated before the quote */
        "\"\xe2\x82",   /* truncated at the end of input */
        "\"\xc3\x61\"", /* continuation missing ("\xc3a") */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERR(parse_err(bad[i]), MM_EPARSE,
                  "x.json:1:2: invalid UTF-8 in string");
}

MM_TEST(json_nesting_513_deep_is_an_error) {
    char *text = nested_lists(513);
    CHECK_ERR(parse_err(text), MM_EPARSE,
              "x.json:1:513: nesting deeper than 512 levels");
    free(text);
}

MM_TEST(json_deep_nesting_of_100000_brackets_fails_cleanly) {
    size_t n = 100000;
    char *text = malloc(n);
    memset(text, '[', n);
    CHECK_ERR(parse_errn(text, n), MM_EPARSE,
              "x.json:1:513: nesting deeper than 512 levels");
    /* Objects count toward the same limit. */
    char *objs = malloc(6 * n);
    for (size_t i = 0; i < n; i++)
        memcpy(objs + 6 * i, "{\"a\": ", 6);
    CHECK_ERR(parse_errn(objs, 6 * n), MM_EPARSE,
              "x.json:1:3073: nesting deeper than 512 levels");
    free(objs);
    free(text);
}

MM_TEST(json_error_in_nested_value_frees_everything) {
    /* Leaks would show up under ASan; the message points inside. */
    CHECK_ERR(parse_err("{\"a\": [1, \"two\", {\"b\": [null, tru]}]}"),
              MM_EPARSE, "x.json:1:31: invalid literal 'tru'");
}

/* ---- dump --------------------------------------------------------------- */

/* Python: json.dumps(obj) with obj parsed from this same text. */
static const char python_doc[] =
    "{\"name\": \"mm\", \"n\": 3, \"ratio\": 0.5, \"ok\": true, "
    "\"none\": null, \"list\": [1, 2.5, \"x\", [], {}], "
    "\"nested\": {\"a\": [1, {\"b\": null}]}}";

MM_TEST(json_dump_compact_matches_python) {
    mm_value *v = parse_ok(python_doc);
    check_dump(v, 0, python_doc);
    mm_value_release(v);
}

MM_TEST(json_dump_matches_python_indent) {
    mm_value *v = parse_ok(python_doc);
    /* json.dumps(obj, indent=2) */
    check_dump(v, 2,
               "{\n  \"name\": \"mm\",\n  \"n\": 3,\n  \"ratio\": 0.5,\n  "
               "\"ok\": true,\n  \"none\": null,\n  \"list\": [\n    1,\n    "
               "2.5,\n    \"x\",\n    [],\n    {}\n  ],\n  \"nested\": {\n    "
               "\"a\": [\n      1,\n      {\n        \"b\": null\n      }\n    "
               "]\n  }\n}");
    /* json.dumps(obj, indent=4) */
    check_dump(v, 4,
               "{\n    \"name\": \"mm\",\n    \"n\": 3,\n    \"ratio\": 0.5,\n"
               "    \"ok\": true,\n    \"none\": null,\n    \"list\": [\n     "
               "   1,\n        2.5,\n        \"x\",\n        [],\n        {}\n"
               "    ],\n    \"nested\": {\n        \"a\": [\n            1,\n "
               "           {\n                \"b\": null\n            }\n    "
               "    ]\n    }\n}");
    mm_value_release(v);
}

MM_TEST(json_dump_empty_containers) {
    mm_value *v = parse_ok("[[], {}]");
    check_dump(v, 0, "[[], {}]");
    check_dump(v, 2, "[\n  [],\n  {}\n]"); /* json.dumps([[], {}], indent=2) */
    mm_value_release(v);
    v = parse_ok("{\"a\": {\"b\": {}}}");
    check_dump(v, 3, "{\n   \"a\": {\n      \"b\": {}\n   }\n}");
    mm_value_release(v);
    v = mm_value_new_list();
    check_dump(v, 4, "[]");
    mm_value_release(v);
}

MM_TEST(json_dump_escapes_strings_like_python) {
    /* json.dumps(s, ensure_ascii=False) */
    mm_value *v = mm_value_new_string("q\"b\\s/\n\r\t\b\f\x01\x1f\x7f"
                                      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    check_dump(v, 0,
               "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f"
               "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    mm_value_release(v);
}

MM_TEST(json_dump_escapes_keys) {
    mm_value *v = mm_value_new_dict();
    CHECK_OK(mm_value_dict_set_take(v, "k\n", mm_value_new_string("v")));
    check_dump(v, 0, "{\"k\\n\": \"v\"}"); /* json.dumps({"k\n": "v"}) */
    mm_value_release(v);
}

MM_TEST(json_dump_floats_like_python) {
    mm_value *v = parse_ok("[0.5, 1.0, -0.0, 0.1, 123456789.125, "
                           "3.141592653589793, NaN, Infinity, -Infinity]");
    /* json.dumps([0.5, 1.0, -0.0, 0.1, 123456789.125, 3.141592653589793,
     *             nan, inf, -inf]) */
    check_dump(v, 0,
               "[0.5, 1.0, -0.0, 0.1, 123456789.125, 3.141592653589793, NaN, "
               "Infinity, -Infinity]");
    mm_value_release(v);
}

MM_TEST(json_dump_float_with_integral_value_stays_float) {
    mm_value *v = mm_value_new_float(3.0);
    char *s = dump(v, 0);
    CHECK_STR(s, "3.0");
    mm_value *back = NULL;
    CHECK_OK(mm_json_parse(s, strlen(s), "x.json", &back));
    CHECK(mm_value_is_float(back));
    mm_value_release(back);
    free(s);
    mm_value_release(v);
}

MM_TEST(json_dump_int64_limits) {
    mm_value *v = mm_value_new_list();
    CHECK_OK(mm_value_list_append_take(v, mm_value_new_int(INT64_MAX)));
    CHECK_OK(mm_value_list_append_take(v, mm_value_new_int(INT64_MIN)));
    CHECK_OK(mm_value_list_append_take(v, mm_value_new_int(0)));
    CHECK_OK(mm_value_list_append_take(v, mm_value_new_int(-1)));
    /* json.dumps([2**63-1, -2**63, 0, -1]) */
    check_dump(v, 0, "[9223372036854775807, -9223372036854775808, 0, -1]");
    mm_value_release(v);
}

MM_TEST(json_dump_scalars_and_null_pointer) {
    mm_value *v = mm_value_new_bool(false);
    check_dump(v, 2, "false");
    mm_value_release(v);
    check_dump(NULL, 0, "null");
}

static int tensor_refs;
static void tensor_retain(void *obj) { (void)obj, tensor_refs++; }
static void tensor_release(void *obj) { (void)obj, tensor_refs--; }

MM_TEST(json_dump_writes_tensor_slot_as_string) {
    static const mm_value_object_class cls = {
        .name = "tensor", .retain = tensor_retain, .release = tensor_release};
    int obj = 0;
    mm_value *v = mm_value_new_dict();
    CHECK_OK(mm_value_dict_set_take(v, "t", mm_value_new_tensor(&obj, &cls)));
    check_dump(v, 0, "{\"t\": \"<tensor>\"}");
    mm_value_release(v);
    CHECK_INT(tensor_refs, 0);
}

MM_TEST(json_dump_rejects_negative_indent) {
    mm_value *v = mm_value_new_null();
    char *s = (char *)&s;
    CHECK_ERR(mm_json_dump(v, -1, &s), MM_EINVAL, "negative JSON indent -1");
    CHECK(s == NULL);
    mm_value_release(v);
}

MM_TEST(json_dump_rejects_nesting_deeper_than_parse_accepts) {
    mm_value *root = mm_value_new_list(), *cur = root;
    for (int i = 1; i < 513; i++) {
        mm_value *next = mm_value_new_list();
        CHECK_OK(mm_value_list_append_take(cur, next));
        cur = next;
    }
    char *s = (char *)&s;
    CHECK_ERR(mm_json_dump(root, 0, &s), MM_EINVAL,
              "cannot write JSON nested deeper than 512 levels (is there a "
              "cycle?)");
    CHECK(s == NULL);
    mm_value *inner = mm_value_list_get(root, 0); /* 512 deep: fine */
    char *want = nested_lists(512);
    check_dump(inner, 0, want);
    free(want);
    mm_value_release(root);
}

MM_TEST(json_dump_of_a_cycle_fails_instead_of_recursing_forever) {
    mm_value *l = mm_value_new_list();
    CHECK_OK(mm_value_list_append(l, l));
    char *s = NULL;
    CHECK_ERR(mm_json_dump(l, 2, &s), MM_EINVAL,
              "cannot write JSON nested deeper than 512 levels (is there a "
              "cycle?)");
    CHECK_OK(mm_value_list_set_take(l, 0, mm_value_new_null())); /* break it */
    mm_value_release(l);
}

/* ---- round trip --------------------------------------------------------- */

static mm_value *everything(void) {
    mm_value *d = mm_value_new_dict();
    mm_value *l = mm_value_new_list();
    static const double floats[] = {
        0.1,    -0.0, 1e-05,      5e-324, 1e22,     1e300,    DBL_MAX,
        2.5e-8, 1e15, 123456.789, NAN,    INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        CHECK_OK(mm_value_list_append_take(l, mm_value_new_float(floats[i])));
    CHECK_OK(mm_value_dict_set_take(d, "floats", l));
    l = mm_value_new_list();
    CHECK_OK(mm_value_list_append_take(l, mm_value_new_int(INT64_MIN)));
    CHECK_OK(mm_value_list_append_take(l, mm_value_new_int(INT64_MAX)));
    CHECK_OK(mm_value_list_append_take(l, mm_value_new_int(-3)));
    CHECK_OK(mm_value_dict_set_take(d, "ints", l));
    CHECK_OK(mm_value_dict_set_take(
        d, "str\t\"key\"",
        mm_value_new_string("\x01\x1f\x7f/\\\"\xc3\xa9\xf0\x9f\x98\x80\n")));
    CHECK_OK(mm_value_dict_set_take(d, "", mm_value_new_string("")));
    CHECK_OK(mm_value_dict_set_take(d, "null", mm_value_new_null()));
    CHECK_OK(mm_value_dict_set_take(d, "yes", mm_value_new_bool(true)));
    CHECK_OK(mm_value_dict_set_take(d, "empty", mm_value_new_dict()));
    mm_value *nested = mm_value_new_list();
    CHECK_OK(mm_value_list_append_take(nested, mm_value_new_list()));
    CHECK_OK(mm_value_list_append_take(nested, mm_value_copy(d)));
    CHECK_OK(mm_value_dict_set_take(d, "nested", nested));
    return d;
}

MM_TEST(json_round_trip_preserves_values) {
    mm_value *v = everything();
    for (int indent = 0; indent <= 4; indent += 2) {
        char *s = dump(v, indent);
        mm_value *back = NULL;
        CHECK_OK(mm_json_parse(s, strlen(s), "x.json", &back));
        CHECK(mm_value_equal(v, back));
        /* And dumping again gives the same text. */
        char *again = dump(back, indent);
        CHECK_STR(again, s);
        free(again);
        mm_value_release(back);
        free(s);
    }
    mm_value_release(v);
}

MM_TEST(json_round_trip_keeps_negative_zero_and_types) {
    mm_value *v = parse_ok("[-0.0, -0, 1.0, 1]");
    char *s = dump(v, 0);
    CHECK_STR(s, "[-0.0, 0, 1.0, 1]");
    mm_value *back = NULL;
    CHECK_OK(mm_json_parse(s, strlen(s), "x.json", &back));
    CHECK(signbit(mm_value_get_float(mm_value_list_get(back, 0))));
    CHECK(mm_value_is_int(mm_value_list_get(back, 1)));
    CHECK(mm_value_is_float(mm_value_list_get(back, 2)));
    CHECK(mm_value_is_int(mm_value_list_get(back, 3)));
    mm_value_release(back);
    mm_value_release(v);
    free(s);
}

/* ---- threads ------------------------------------------------------------ */

typedef struct parse_job {
    const char *text, *want;
    int failures;
} parse_job;

static void *parse_many(void *arg) {
    parse_job *job = arg;
    for (int i = 0; i < 200; i++) {
        mm_value *v = NULL;
        int rc = mm_json_parse(job->text, strlen(job->text), "t.json", &v);
        if (rc != MM_EPARSE || v || strcmp(mm_error_message(), job->want))
            job->failures++;
        mm_value *ok = NULL;
        if (mm_json_parse("{\"a\": [1, 2.5]}", 15, "t.json", &ok))
            job->failures++;
        char *s = NULL;
        if (mm_json_dump(ok, 2, &s) || !s)
            job->failures++;
        free(s);
        mm_value_release(ok);
    }
    return NULL;
}

MM_TEST(json_parse_errors_stay_on_their_own_thread) {
    parse_job jobs[4] = {
        {"[1,]", "t.json:1:4: trailing comma before ']'", 0},
        {"{\"a\" 1}", "t.json:1:6: expected ':' after object key", 0},
        {"\n\n  tru", "t.json:3:3: invalid literal 'tru'", 0},
        {"\"\\uDE00\"", "t.json:1:2: unpaired surrogate \\uDE00 in string", 0},
    };
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK_INT(pthread_create(&th[i], NULL, parse_many, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(jobs[i].failures, 0);
    }
}

MM_TEST_MAIN(
    MM_CASE(json_parses_literals), MM_CASE(json_allows_surrounding_whitespace),
    MM_CASE(json_scalar_at_top_level), MM_CASE(json_int_that_fits_int64_is_int),
    MM_CASE(json_int_overflowing_int64_is_float),
    MM_CASE(json_fraction_or_exponent_is_float),
    MM_CASE(json_long_number_text_parses),
    MM_CASE(json_accepts_nan_and_infinity_as_python_writes_them),
    MM_CASE(json_decodes_simple_escapes),
    MM_CASE(json_u_escape_decodes_to_utf8),
    MM_CASE(json_surrogate_pair_decodes_to_utf8),
    MM_CASE(json_utf8_in_strings_passes_through),
    MM_CASE(json_string_keeps_its_length),
    MM_CASE(json_object_keeps_insertion_order),
    MM_CASE(json_same_key_in_sibling_objects_is_fine),
    MM_CASE(json_nesting_512_deep_is_allowed),
    MM_CASE(json_locations_of_nested_values),
    MM_CASE(json_object_keys_have_their_own_location),
    MM_CASE(json_columns_count_bytes_not_characters),
    MM_CASE(json_crlf_line_endings_count_one_line_each),
    MM_CASE(json_null_name_reads_as_string_placeholder),
    MM_CASE(json_parse_reads_only_len_bytes), MM_CASE(json_rejects_empty_input),
    MM_CASE(json_rejects_truncated_input),
    MM_CASE(json_rejects_more_than_one_value),
    MM_CASE(json_rejects_trailing_comma), MM_CASE(json_rejects_missing_comma),
    MM_CASE(json_rejects_bad_object_syntax), MM_CASE(json_rejects_comments),
    MM_CASE(json_rejects_duplicate_keys), MM_CASE(json_rejects_leading_zeros),
    MM_CASE(json_rejects_plus_sign),
    MM_CASE(json_rejects_fraction_without_integer_part),
    MM_CASE(json_rejects_fraction_without_digits),
    MM_CASE(json_rejects_exponent_without_digits),
    MM_CASE(json_rejects_lone_minus),
    MM_CASE(json_rejects_hex_and_other_number_forms),
    MM_CASE(json_rejects_unknown_literals),
    MM_CASE(json_rejects_nan_spellings_python_does_not_write),
    MM_CASE(json_rejects_unexpected_bytes),
    MM_CASE(json_rejects_unterminated_string_at_its_quote),
    MM_CASE(json_rejects_raw_control_chars_in_strings),
    MM_CASE(json_rejects_invalid_escape), MM_CASE(json_rejects_short_u_escape),
    MM_CASE(json_rejects_lone_high_surrogate),
    MM_CASE(json_rejects_lone_low_surrogate), MM_CASE(json_rejects_escaped_nul),
    MM_CASE(json_rejects_embedded_nul_bytes),
    MM_CASE(json_rejects_invalid_utf8),
    MM_CASE(json_nesting_513_deep_is_an_error),
    MM_CASE(json_deep_nesting_of_100000_brackets_fails_cleanly),
    MM_CASE(json_error_in_nested_value_frees_everything),
    MM_CASE(json_dump_compact_matches_python),
    MM_CASE(json_dump_matches_python_indent),
    MM_CASE(json_dump_empty_containers),
    MM_CASE(json_dump_escapes_strings_like_python),
    MM_CASE(json_dump_escapes_keys), MM_CASE(json_dump_floats_like_python),
    MM_CASE(json_dump_float_with_integral_value_stays_float),
    MM_CASE(json_dump_int64_limits),
    MM_CASE(json_dump_scalars_and_null_pointer),
    MM_CASE(json_dump_writes_tensor_slot_as_string),
    MM_CASE(json_dump_rejects_negative_indent),
    MM_CASE(json_dump_rejects_nesting_deeper_than_parse_accepts),
    MM_CASE(json_dump_of_a_cycle_fails_instead_of_recursing_forever),
    MM_CASE(json_round_trip_preserves_values),
    MM_CASE(json_round_trip_keeps_negative_zero_and_types),
    MM_CASE(json_parse_errors_stay_on_their_own_thread))
