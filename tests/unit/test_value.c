/* mm_value: construction, containers, refcounts, copies, equality. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mm/value.h"

MM_TEST(value_scalars_keep_type_and_content) {
    mm_value *b = mm_value_new_bool(true), *i = mm_value_new_int(-7),
             *f = mm_value_new_float(2.5), *s = mm_value_new_string("héllo"),
             *n = mm_value_new_null();
    CHECK(mm_value_is_bool(b) && mm_value_get_bool(b));
    CHECK_INT(mm_value_get_int(i), -7);
    CHECK(mm_value_get_float(f) == 2.5);
    CHECK(mm_value_get_float(i) == -7.0); /* ints read as floats */
    CHECK_STR(mm_value_get_string(s), "héllo");
    CHECK_INT(mm_value_string_len(s), 6);
    CHECK(mm_value_is_null(n));
    CHECK(mm_value_is_number(i) && mm_value_is_number(f) && !mm_value_is_number(s));
    CHECK_STR(mm_value_type_name(mm_value_type_of(f)), "float");
    mm_value *all[] = {b, i, f, s, n};
    for (size_t k = 0; k < 5; k++)
        mm_value_release(all[k]);
}

MM_TEST(value_string_may_hold_explicit_length) {
    mm_value *s = mm_value_new_stringn("abcdef", 3);
    CHECK_STR(mm_value_get_string(s), "abc");
    CHECK_INT(mm_value_string_len(s), 3);
    mm_value_release(s);
}

MM_TEST(value_dict_keeps_insertion_order_and_replaces_in_place) {
    mm_value *d = mm_value_new_dict();
    CHECK_OK(mm_value_dict_set_take(d, "z", mm_value_new_int(1)));
    CHECK_OK(mm_value_dict_set_take(d, "a", mm_value_new_int(2)));
    CHECK_OK(mm_value_dict_set_take(d, "m", mm_value_new_int(3)));
    CHECK_OK(mm_value_dict_set_take(d, "z", mm_value_new_int(4)));
    CHECK_INT(mm_value_len(d), 3);
    CHECK_STR(mm_value_dict_key_at(d, 0), "z");
    CHECK_STR(mm_value_dict_key_at(d, 1), "a");
    CHECK_INT(mm_value_get_int(mm_value_dict_get(d, "z")), 4);
    CHECK_OK(mm_value_dict_del(d, "a"));
    CHECK_INT(mm_value_dict_del(d, "a"), MM_ENOENT);
    CHECK_STR(mm_value_dict_key_at(d, 1), "m");
    CHECK(mm_value_dict_get(d, "missing") == NULL);
    mm_value_release(d);
}

MM_TEST(value_list_appends_gets_and_sets) {
    mm_value *l = mm_value_new_list();
    for (int k = 0; k < 100; k++)
        CHECK_OK(mm_value_list_append_take(l, mm_value_new_int(k)));
    CHECK_INT(mm_value_len(l), 100);
    CHECK_INT(mm_value_get_int(mm_value_list_get(l, 99)), 99);
    CHECK(mm_value_list_get(l, 100) == NULL);
    CHECK_OK(mm_value_list_set_take(l, 5, mm_value_new_string("five")));
    CHECK_STR(mm_value_get_string(mm_value_list_get(l, 5)), "five");
    CHECK_ERR(mm_value_list_set_take(l, 100, mm_value_new_null()), MM_ERANGE,
              "list index 100 out of range");
    mm_value_release(l);
}

MM_TEST(value_setters_retain_and_take_steals) {
    mm_value *d = mm_value_new_dict();
    mm_value *shared = mm_value_new_int(1);
    CHECK_OK(mm_value_dict_set(d, "a", shared));
    CHECK_OK(mm_value_dict_set(d, "b", shared));
    mm_value_release(shared); /* d still holds two references */
    CHECK_INT(mm_value_get_int(mm_value_dict_get(d, "b")), 1);
    mm_value_release(d);
}

MM_TEST(value_wrong_container_is_an_error_not_a_crash) {
    mm_value *i = mm_value_new_int(1);
    CHECK_ERR(mm_value_list_append_take(i, mm_value_new_null()), MM_ETYPE,
              "append to a int, not a list");
    CHECK_ERR(mm_value_dict_set_take(i, "k", mm_value_new_null()), MM_ETYPE,
              "set key 'k' on a int, not a dict");
    CHECK(mm_value_list_get(i, 0) == NULL);
    CHECK(mm_value_dict_get(i, "k") == NULL);
    CHECK_INT(mm_value_len(i), 0);
    mm_value_release(i);
}

MM_TEST(value_copy_is_deep_and_keeps_locations) {
    mm_value *d = mm_value_new_dict();
    mm_value *inner = mm_value_new_list();
    mm_value_list_append_take(inner, mm_value_new_float(0.5));
    mm_value_set_loc(inner, "a.yaml", 3, 4);
    mm_value_dict_set_take(d, "l", inner);
    mm_value *c = mm_value_copy(d);
    CHECK(mm_value_equal(c, d));
    mm_value_list_append_take(inner, mm_value_new_int(1)); /* change original */
    CHECK(!mm_value_equal(c, d));
    const mm_srcloc *loc = mm_value_loc(mm_value_dict_get(c, "l"));
    CHECK_STR(loc->file, "a.yaml");
    CHECK_INT(loc->line, 3);
    CHECK_INT(loc->col, 4);
    mm_value_release(c);
    mm_value_release(d);
}

MM_TEST(value_equality_is_typed_and_ignores_dict_order) {
    mm_value *a = mm_value_new_dict(), *b = mm_value_new_dict();
    mm_value_dict_set_take(a, "x", mm_value_new_int(1));
    mm_value_dict_set_take(a, "y", mm_value_new_int(2));
    mm_value_dict_set_take(b, "y", mm_value_new_int(2));
    mm_value_dict_set_take(b, "x", mm_value_new_int(1));
    CHECK(mm_value_equal(a, b));
    mm_value_dict_set_take(b, "x", mm_value_new_float(1.0));
    CHECK(!mm_value_equal(a, b)); /* 1 and 1.0 differ in type */
    mm_value *n1 = mm_value_new_float(NAN), *n2 = mm_value_new_float(NAN);
    CHECK(mm_value_equal(n1, n2));
    mm_value *values[] = {a, b, n1, n2};
    for (size_t k = 0; k < 4; k++)
        mm_value_release(values[k]);
}

static int retains, releases;
static void fake_retain(void *obj) { (void)obj; retains++; }
static void fake_release(void *obj) { (void)obj; releases++; }

MM_TEST(value_tensor_slot_retains_and_releases_its_object) {
    static const mm_value_object_class cls = {"tensor", fake_retain, fake_release, NULL};
    int payload = 0;
    retains = releases = 0;
    mm_value *t = mm_value_new_tensor(&payload, &cls);
    mm_value *c = mm_value_copy(t);
    CHECK(mm_value_get_tensor(c) == &payload);
    CHECK_INT(retains, 2);
    mm_value_release(t);
    mm_value_release(c);
    CHECK_INT(releases, 2);
}

MM_TEST(value_intern_gives_one_pointer_per_string) {
    char a[] = "configs/x.yaml", b[] = "configs/x.yaml";
    CHECK(mm_intern(a) == mm_intern(b));
    CHECK(mm_intern("other") != mm_intern(a));
    for (int k = 0; k < 1000; k++) { /* forces the table to grow */
        char name[32];
        snprintf(name, sizeof name, "file%d", k);
        CHECK_STR(mm_intern(name), name);
    }
    CHECK(mm_intern(a) == mm_intern("configs/x.yaml"));
}

MM_TEST(value_file_write_is_atomic_and_readable) {
    char dir[] = "/tmp/mm_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof path, "%s/out.json", dir);
    CHECK_OK(mm_file_write_atomic(path, "{\"a\": 1}", 8));
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(mm_file_read(path, &text, &len));
    CHECK_INT(len, 8);
    CHECK_STR(text, "{\"a\": 1}");
    free(text);
    CHECK_OK(mm_file_write_atomic(path, "x", 1)); /* replaces */
    CHECK_OK(mm_file_read(path, &text, &len));
    CHECK_STR(text, "x");
    free(text);
    remove(path);
    remove(dir);
}

MM_TEST_MAIN(MM_CASE(value_scalars_keep_type_and_content),
             MM_CASE(value_string_may_hold_explicit_length),
             MM_CASE(value_dict_keeps_insertion_order_and_replaces_in_place),
             MM_CASE(value_list_appends_gets_and_sets),
             MM_CASE(value_setters_retain_and_take_steals),
             MM_CASE(value_wrong_container_is_an_error_not_a_crash),
             MM_CASE(value_copy_is_deep_and_keeps_locations),
             MM_CASE(value_equality_is_typed_and_ignores_dict_order),
             MM_CASE(value_tensor_slot_retains_and_releases_its_object),
             MM_CASE(value_intern_gives_one_pointer_per_string),
             MM_CASE(value_file_write_is_atomic_and_readable))
