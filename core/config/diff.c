/* A path-by-path description of what differs between two configs. */
#include <stdlib.h>
#include <string.h>

#include "mm/config.h"
#include "strbuf.h"

static void put_value(mm_strbuf *sb, const mm_value *v) {
    char *json = NULL;
    if (mm_json_dump(v, 0, &json) == MM_OK) {
        mm_strbuf_puts(sb, json);
        free(json);
    } else {
        sb->failed = true;
    }
}

static void line(mm_strbuf *sb, char mark, const char *path, const mm_value *a,
                 const mm_value *b) {
    mm_strbuf_printf(sb, "%c %s: ", mark, *path ? path : "(root)");
    put_value(sb, a);
    if (b) {
        mm_strbuf_puts(sb, " -> ");
        put_value(sb, b);
    }
    mm_strbuf_putc(sb, '\n');
}

static void diff(mm_strbuf *sb, mm_strbuf *path, const mm_value *a,
                 const mm_value *b) {
    size_t mark = path->len;
    if (mm_value_is_dict(a) && mm_value_is_dict(b)) {
        for (size_t i = 0; i < mm_value_len(a); i++) {
            const char *key = mm_value_dict_key_at(a, i);
            mm_strbuf_printf(path, "%s%s", mark ? "." : "", key);
            const mm_value *bv = mm_value_dict_get(b, key);
            if (bv)
                diff(sb, path, mm_value_dict_value_at(a, i), bv);
            else
                line(sb, '-', path->data, mm_value_dict_value_at(a, i), NULL);
            path->len = mark;
            path->data[mark] = '\0';
        }
        for (size_t i = 0; i < mm_value_len(b); i++) {
            const char *key = mm_value_dict_key_at(b, i);
            if (mm_value_dict_get(a, key))
                continue;
            mm_strbuf_printf(path, "%s%s", mark ? "." : "", key);
            line(sb, '+', path->data, mm_value_dict_value_at(b, i), NULL);
            path->len = mark;
            path->data[mark] = '\0';
        }
        return;
    }
    if (mm_value_is_list(a) && mm_value_is_list(b) &&
        mm_value_len(a) == mm_value_len(b)) {
        for (size_t i = 0; i < mm_value_len(a); i++) {
            mm_strbuf_printf(path, "%s%zu", mark ? "." : "", i);
            diff(sb, path, mm_value_list_get(a, i), mm_value_list_get(b, i));
            path->len = mark;
            path->data[mark] = '\0';
        }
        return;
    }
    if (!mm_value_equal(a, b))
        line(sb, '~', path->data ? path->data : "", a, b);
}

int mm_config_diff(const mm_value *a, const mm_value *b, char **out) {
    mm_strbuf sb = {0}, path = {0};
    mm_strbuf_puts(&sb, ""); /* an empty diff is "", not NULL */
    mm_strbuf_puts(&path, "");
    diff(&sb, &path, a, b);
    int rc = path.failed ? mm_error_set(MM_ENOMEM, "out of memory") : MM_OK;
    mm_strbuf_free(&path);
    if (rc) {
        mm_strbuf_free(&sb);
        return rc;
    }
    return mm_strbuf_finish(&sb, out);
}
