/* The error slot (codes, locations, context chain, per-thread) and logging. */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "mm/log.h"

MM_TEST(error_set_returns_its_code_and_formats_the_message) {
    int rc = mm_error_set(MM_EINVAL, "bad %s %d", "thing", 3);
    CHECK_INT(rc, MM_EINVAL);
    CHECK_INT(mm_error_code(), MM_EINVAL);
    CHECK_STR(mm_error_message(), "bad thing 3");
}

MM_TEST(error_location_prefixes_the_message) {
    mm_srcloc loc = {mm_intern("x.yaml"), 12, 5};
    mm_error_set_at(MM_ETYPE, &loc, "wrong");
    CHECK_STR(mm_error_message(), "x.yaml:12:5: wrong");
    mm_srcloc no_line = {mm_intern("x.yaml"), 0, 0};
    mm_error_set_at(MM_ETYPE, &no_line, "wrong");
    CHECK_STR(mm_error_message(), "x.yaml: wrong");
}

MM_TEST(error_context_chain_reads_outermost_first) {
    mm_srcloc loc = {mm_intern("configs/x.yaml"), 12, 5};
    mm_error_set(MM_EINVAL, "has no parameter 'dept' (did you mean 'depth'?)");
    mm_error_context(MM_EINVAL, NULL, "mmcls.ResNet");
    int rc = mm_error_context(MM_EINVAL, &loc, "model.backbone");
    CHECK_INT(rc, MM_EINVAL);
    CHECK_STR(mm_error_message(),
              "configs/x.yaml:12:5: model.backbone: mmcls.ResNet: has no "
              "parameter 'dept' (did you mean 'depth'?)");
}

MM_TEST(error_context_keeps_the_innermost_location) {
    mm_srcloc inner = {mm_intern("a.yaml"), 1, 2}, outer = {mm_intern("b.yaml"), 3, 4};
    mm_error_set_at(MM_ENOENT, &inner, "missing");
    mm_error_context(MM_ENOENT, &outer, "ctx");
    CHECK_STR(mm_error_message(), "a.yaml:1:2: ctx: missing");
}

MM_TEST(error_clear_empties_the_slot) {
    mm_error_set(MM_EIO, "x");
    mm_error_clear();
    CHECK_INT(mm_error_code(), MM_OK);
    CHECK_STR(mm_error_message(), "");
}

MM_TEST(error_very_long_messages_are_truncated_not_overflowed) {
    char big[10000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mm_error_set(MM_EINVAL, "%s", big);
    for (int i = 0; i < 50; i++)
        mm_error_context(MM_EINVAL, NULL, "%s", big);
    CHECK(strlen(mm_error_message()) < 8192);
}

static void *other_thread(void *arg) {
    (void)arg;
    mm_error_set(MM_EIO, "from the other thread");
    return NULL;
}

MM_TEST(error_message_escapes_control_characters_to_stay_one_line) {
    mm_error_set(MM_EINVAL, "override 'a=[\n\t\x01': bad");
    CHECK_STR(mm_error_message(), "override 'a=[\\n\\t\\x01': bad");
    mm_error_set(MM_EINVAL, "ünï \xff\xc3 ok");
    CHECK_STR(mm_error_message(), "ünï \\xff\\xc3 ok");
}

MM_TEST(error_slot_is_per_thread) {
    mm_error_set(MM_EINVAL, "mine");
    pthread_t t;
    CHECK_INT(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, NULL);
    CHECK_STR(mm_error_message(), "mine");
}

MM_TEST(error_codes_have_names) {
    CHECK_STR(mm_strerror(MM_ENOENT), "not found");
    CHECK_STR(mm_strerror(MM_OK), "success");
    CHECK_STR(mm_strerror(-999), "unknown error");
    CHECK_STR(mm_strerror(7), "unknown error");
}

MM_TEST(log_levels_parse_by_mmengine_names) {
    mm_log_level lv;
    CHECK_OK(mm_log_level_parse("warning", &lv));
    CHECK_INT(lv, MM_LOG_WARNING);
    CHECK_OK(mm_log_level_parse("DEBUG", &lv));
    CHECK_INT(lv, MM_LOG_DEBUG);
    CHECK_ERR(mm_log_level_parse("LOUD", &lv), MM_EINVAL,
              "unknown log level 'LOUD' (expected DEBUG, INFO, WARNING, ERROR "
              "or CRITICAL)");
    mm_log_set_level(MM_LOG_ERROR);
    CHECK_INT(mm_log_get_level(), MM_LOG_ERROR);
    MM_INFO("dropped below the level");
    mm_log_set_level(MM_LOG_INFO);
}

MM_TEST_MAIN(MM_CASE(error_set_returns_its_code_and_formats_the_message),
             MM_CASE(error_location_prefixes_the_message),
             MM_CASE(error_context_chain_reads_outermost_first),
             MM_CASE(error_context_keeps_the_innermost_location),
             MM_CASE(error_clear_empties_the_slot),
             MM_CASE(error_very_long_messages_are_truncated_not_overflowed),
             MM_CASE(error_message_escapes_control_characters_to_stay_one_line),
             MM_CASE(error_slot_is_per_thread),
             MM_CASE(error_codes_have_names),
             MM_CASE(log_levels_parse_by_mmengine_names))
