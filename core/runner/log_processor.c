/* mmengine's LogProcessor: message hub scalars -> one log line and a tag
 * dict for scalars.json, character for character (docs/runner.md). */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/runner.h"
#include "strbuf.h"

typedef struct custom_cfg {
    char *data_src, *log_name, *method;
    int64_t window;  /* > 0: that many */
    int window_kind; /* 0: int (or none), 1: 'epoch', 2: 'global' */
} custom_cfg;

struct mm_log_processor {
    int64_t window_size;
    bool by_epoch;
    int num_digits;
    bool log_with_hierarchy;
    regex_t mean_pattern;
    size_t n_custom;
    custom_cfg *custom;
};

static int cfg_err(const mm_value *v, const char *fmt, const char *key) {
    return mm_error_set_at(MM_EINVAL, mm_value_loc(v), fmt, key);
}

static void custom_free(custom_cfg *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(c[i].data_src);
        free(c[i].log_name);
        free(c[i].method);
    }
    free(c);
}

void mm_log_processor_free(mm_log_processor *lp) {
    if (!lp)
        return;
    regfree(&lp->mean_pattern);
    custom_free(lp->custom, lp->n_custom);
    free(lp);
}

bool mm_log_processor_by_epoch(const mm_log_processor *lp) {
    return lp->by_epoch;
}

static int parse_custom(mm_log_processor *lp, const mm_value *list) {
    if (!list || mm_value_is_null(list))
        return MM_OK;
    if (!mm_value_is_list(list))
        return cfg_err(list, "%s: must be a list of dicts",
                       "log_processor.custom_cfg");
    size_t n = mm_value_len(list);
    lp->custom = calloc(n ? n : 1, sizeof *lp->custom);
    if (!lp->custom)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const mm_value *e = mm_value_list_get(list, i);
        custom_cfg *c = &lp->custom[lp->n_custom++];
        const mm_value *src = mm_value_dict_get(e, "data_src");
        if (!mm_value_is_dict(e) || !src || !mm_value_is_string(src))
            return cfg_err(e, "%s: each entry needs a string 'data_src'",
                           "log_processor.custom_cfg");
        const mm_value *name = mm_value_dict_get(e, "log_name");
        const mm_value *method = mm_value_dict_get(e, "method_name");
        const mm_value *win = mm_value_dict_get(e, "window_size");
        c->data_src = strdup(mm_value_get_string(src));
        c->log_name =
            strdup(name && mm_value_is_string(name) ? mm_value_get_string(name)
                                                    : mm_value_get_string(src));
        c->method = strdup(method && mm_value_is_string(method)
                               ? mm_value_get_string(method)
                               : "mean");
        if (!c->data_src || !c->log_name || !c->method)
            return mm_error_set(MM_ENOMEM, "out of memory");
        if (strcmp(c->method, "mean") && strcmp(c->method, "current") &&
            strcmp(c->method, "min") && strcmp(c->method, "max"))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(method),
                                   "log_processor.custom_cfg.%zu.method_name: "
                                   "'%s' is not mean, current, min or max",
                                   i, c->method);
        if (win && mm_value_is_int(win)) {
            c->window = mm_value_get_int(win);
        } else if (win && mm_value_is_string(win) &&
                   strcmp(mm_value_get_string(win), "epoch") == 0) {
            c->window_kind = 1;
            if (!lp->by_epoch)
                return mm_error_set_at(MM_EINVAL, mm_value_loc(win),
                                       "log_processor.custom_cfg.%zu: "
                                       "window_size cannot be 'epoch' when "
                                       "by_epoch is false",
                                       i);
        } else if (win && mm_value_is_string(win) &&
                   strcmp(mm_value_get_string(win), "global") == 0) {
            c->window_kind = 2;
        } else if (win && !mm_value_is_null(win)) {
            return mm_error_set_at(MM_EINVAL, mm_value_loc(win),
                                   "log_processor.custom_cfg.%zu.window_size: "
                                   "must be an int, 'epoch' or 'global'",
                                   i);
        }
        for (size_t j = 0; j + 1 < lp->n_custom; j++)
            if (strcmp(lp->custom[j].log_name, c->log_name) == 0)
                return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                       "log_processor.custom_cfg: duplicate "
                                       "log_name '%s'",
                                       c->log_name);
    }
    return MM_OK;
}

int mm_log_processor_new(const mm_value *node, mm_log_processor **out) {
    mm_log_processor *lp = calloc(1, sizeof *lp);
    if (!lp)
        return mm_error_set(MM_ENOMEM, "out of memory");
    lp->window_size = 10;
    lp->by_epoch = true;
    lp->num_digits = 4;
    const char *pattern = ".*(loss|time|data_time|grad_norm).*";
    const mm_value *custom = NULL, *pattern_v = NULL;
    int rc = MM_OK;
    if (node && !mm_value_is_null(node)) {
        if (!mm_value_is_dict(node)) {
            free(lp);
            return cfg_err(node, "%s: must be a dict", "log_processor");
        }
        for (size_t i = 0; i < mm_value_len(node); i++) {
            const char *k = mm_value_dict_key_at(node, i);
            const mm_value *v = mm_value_dict_value_at(node, i);
            if (strcmp(k, "type") == 0 && mm_value_is_string(v) &&
                (strcmp(mm_value_get_string(v), "LogProcessor") == 0 ||
                 strcmp(mm_value_get_string(v), "mm.LogProcessor") == 0))
                continue;
            if (strcmp(k, "window_size") == 0 && mm_value_is_int(v) &&
                mm_value_get_int(v) > 0)
                lp->window_size = mm_value_get_int(v);
            else if (strcmp(k, "by_epoch") == 0 && mm_value_is_bool(v))
                lp->by_epoch = mm_value_get_bool(v);
            else if (strcmp(k, "num_digits") == 0 && mm_value_is_int(v) &&
                     mm_value_get_int(v) >= 0 && mm_value_get_int(v) < 17)
                lp->num_digits = (int)mm_value_get_int(v);
            else if (strcmp(k, "log_with_hierarchy") == 0 &&
                     mm_value_is_bool(v))
                lp->log_with_hierarchy = mm_value_get_bool(v);
            else if (strcmp(k, "mean_pattern") == 0 && mm_value_is_string(v))
                pattern = mm_value_get_string(pattern_v = v);
            else if (strcmp(k, "custom_cfg") == 0)
                custom = v;
            else {
                free(lp);
                return mm_error_set_at(
                    MM_EINVAL, mm_value_loc(v),
                    "log_processor.%s: unknown key or bad value (keys: "
                    "window_size (a positive int), by_epoch, custom_cfg, "
                    "num_digits, log_with_hierarchy, mean_pattern)",
                    k);
            }
        }
    }
    if (regcomp(&lp->mean_pattern, pattern, REG_EXTENDED | REG_NOSUB)) {
        free(lp);
        return mm_error_set_at(MM_EINVAL, mm_value_loc(pattern_v),
                               "log_processor.mean_pattern: '%s' is not a "
                               "regular expression (POSIX extended syntax)",
                               pattern);
    }
    rc = parse_custom(lp, custom);
    if (rc) {
        mm_log_processor_free(lp);
        return rc;
    }
    *out = lp;
    return MM_OK;
}

/* ---- helpers ------------------------------------------------------------- */

static const char *strip_prefix(const char *s, const char *mode) {
    size_t n = strlen(mode);
    return strncmp(s, mode, n) == 0 && s[n] == '/' ? s + n + 1 : s;
}

static int64_t custom_window(const custom_cfg *c, const mm_log_state *st,
                             int64_t batch_idx) {
    if (c->window_kind == 1)
        return batch_idx + 1;
    if (c->window_kind == 2)
        return st->iter + 1;
    return c->window;
}

/* _collect_scalars: a new dict of name -> float, in the hub's order, then
 * the custom entries. */
static int collect_scalars(const mm_log_processor *lp, const custom_cfg *custom,
                           size_t n_custom, const mm_log_state *st,
                           int64_t batch_idx, const char *mode, bool reserve,
                           mm_value **out) {
    mm_value *tag = mm_value_new_dict();
    if (!tag)
        return mm_error_set(MM_ENOMEM, "out of memory");
    const mm_message_hub *hub = st->hub;
    size_t mlen = strlen(mode);
    int rc = MM_OK;
    for (size_t i = 0; !rc && i < mm_message_hub_n_scalars(hub); i++) {
        const char *full = mm_message_hub_scalar_key(hub, i);
        if (strncmp(full, mode, mlen) != 0)
            continue;
        const char *key = reserve ? full : strip_prefix(full, mode);
        const mm_history_buffer *b = mm_message_hub_get_scalar(hub, full);
        double v = regexec(&lp->mean_pattern, key, 0, NULL, 0) == 0
                       ? mm_history_buffer_mean(b, lp->window_size)
                       : mm_history_buffer_current(b);
        rc = mm_value_dict_set_take(tag, key, mm_value_new_float(v));
    }
    for (size_t i = 0; !rc && i < n_custom; i++) {
        const custom_cfg *c = &custom[i];
        char src[512], name[512];
        snprintf(src, sizeof src, "%s/%s", mode, c->data_src);
        snprintf(name, sizeof name, "%s%s%s", reserve ? mode : "",
                 reserve ? "/" : "", c->log_name);
        /* data_src may be given with or without the mode prefix. */
        const mm_history_buffer *b = mm_message_hub_get_scalar(hub, src);
        if (!b && strncmp(c->data_src, mode, mlen) == 0)
            b = mm_message_hub_get_scalar(hub, c->data_src);
        if (!b)
            continue;
        double v;
        rc = mm_history_buffer_statistics(b, c->method,
                                          custom_window(c, st, batch_idx), &v);
        if (!rc)
            rc = mm_value_dict_set_take(tag, name, mm_value_new_float(v));
    }
    if (rc) {
        mm_value_release(tag);
        return rc;
    }
    *out = tag;
    return MM_OK;
}

/* str(datetime.timedelta(seconds=int(eta))): "0:01:02", "1 day, 2:03:04". */
static void format_eta(double eta, char *buf, size_t size) {
    int64_t s = (int64_t)eta;
    if (s < 0)
        s = 0;
    int64_t days = s / 86400;
    s %= 86400;
    if (days)
        snprintf(buf, size, "%lld day%s, %lld:%02lld:%02lld", (long long)days,
                 days == 1 ? "" : "s", (long long)(s / 3600),
                 (long long)(s / 60 % 60), (long long)(s % 60));
    else
        snprintf(buf, size, "%lld:%02lld:%02lld", (long long)(s / 3600),
                 (long long)(s / 60 % 60), (long long)(s % 60));
}

static int num_width(int64_t n) {
    char b[32];
    return snprintf(b, sizeof b, "%lld", (long long)n);
}

/* Python's str() of a value in a log line: floats with num_digits. */
static void append_value(mm_strbuf *sb, const mm_value *v, int digits) {
    if (mm_value_is_float(v)) {
        mm_strbuf_printf(sb, "%.*f", digits, mm_value_get_float(v));
    } else if (mm_value_is_int(v)) {
        mm_strbuf_printf(sb, "%lld", (long long)mm_value_get_int(v));
    } else if (mm_value_is_string(v)) {
        mm_strbuf_puts(sb, mm_value_get_string(v));
    } else {
        char *j = NULL;
        if (mm_json_dump(v, 0, &j) == MM_OK)
            mm_strbuf_puts(sb, j);
        free(j);
    }
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The end of both get_log_after_*: on success the line and the tag go to
 * the caller, else both are freed. */
static int hand_out(int rc, mm_strbuf *sb, char **line, mm_value *tag,
                    mm_value **tag_out) {
    if (rc) {
        mm_value_release(tag);
        mm_strbuf_free(sb);
        return rc;
    }
    if ((rc = mm_strbuf_finish(sb, line))) {
        mm_value_release(tag);
        return rc;
    }
    *tag_out = tag;
    return MM_OK;
}

int mm_log_processor_after_iter(const mm_log_processor *lp,
                                const mm_log_state *st, int64_t batch_idx,
                                const char *mode, mm_value **tag_out,
                                char **line) {
    mm_value *log_tag = NULL, *tag = NULL;
    int rc = collect_scalars(lp, lp->custom, lp->n_custom, st, batch_idx, mode,
                             false, &log_tag);
    if (rc)
        return rc;
    if (lp->log_with_hierarchy)
        rc = collect_scalars(lp, lp->custom, lp->n_custom, st, batch_idx, mode,
                             true, &tag);
    else if (!(tag = mm_value_copy(log_tag)))
        rc = mm_error_set(MM_ENOMEM, "out of memory");
    if (rc) {
        mm_value_release(log_tag);
        return rc;
    }
    mm_strbuf sb = {0}, lr = {0};
    /* Learning rates: "lr: 1.0000e-02" (space-separated), out of the rest. */
    for (size_t i = 0; i < mm_value_len(tag); i++) {
        const char *key = mm_value_dict_key_at(tag, i);
        if (!ends_with(key, "lr"))
            continue;
        const char *k = strip_prefix(key, mode);
        if (lr.len)
            mm_strbuf_puts(&lr, " ");
        mm_strbuf_printf(&lr, "%s: %.*e", k, lp->num_digits,
                         mm_value_get_float(mm_value_dict_value_at(tag, i)));
        (void)mm_value_dict_del(log_tag, k);
    }
    bool train_or_val = strcmp(mode, "train") == 0 || strcmp(mode, "val") == 0;
    if (lp->by_epoch) {
        int64_t len = st->dataloader_len;
        int64_t cur = batch_idx + 1;
        if (train_or_val) {
            int64_t epoch = strcmp(mode, "train") == 0
                                ? st->epoch + 1
                                : (st->has_train_loop ? st->epoch : 0);
            char ep[48];
            snprintf(ep, sizeof ep, "[%lld]", (long long)epoch);
            int width = st->has_train_loop ? num_width(st->max_epochs) + 3 : 0;
            mm_strbuf_printf(&sb, "Epoch(%s)%*s[%*lld/%lld]  ", mode, width, ep,
                             num_width(len), (long long)cur, (long long)len);
            rc = mm_value_dict_set_take(tag, "epoch", mm_value_new_int(epoch));
        } else {
            mm_strbuf_printf(&sb, "Epoch(%s) [%*lld/%lld]  ", mode,
                             num_width(len), (long long)cur, (long long)len);
        }
    } else if (strcmp(mode, "train") == 0) {
        mm_strbuf_printf(&sb, "Iter(%s) [%*lld/%lld]  ", mode,
                         num_width(st->max_iters), (long long)(st->iter + 1),
                         (long long)st->max_iters);
    } else {
        int64_t len = st->dataloader_len;
        mm_strbuf_printf(&sb, "Iter(%s) [%*lld/%lld]  ", mode, num_width(len),
                         (long long)(batch_idx + 1), (long long)len);
    }
    if (!rc)
        rc = mm_value_dict_set_take(
            tag, "iter",
            mm_value_new_int(st->has_train_loop ? st->iter + 1 : 0));
    mm_strbuf_printf(&sb, "%s  ", lr.data ? lr.data : "");
    const mm_value *eta = mm_message_hub_get_info(st->hub, "eta");
    const mm_value *t = mm_value_dict_get(log_tag, "time");
    const mm_value *dt = mm_value_dict_get(log_tag, "data_time");
    if (t && dt && eta && mm_value_is_number(eta)) {
        char e[64];
        format_eta(mm_value_get_float(eta), e, sizeof e);
        mm_strbuf_printf(&sb, "eta: %s  time: %.*f  data_time: %.*f  ", e,
                         lp->num_digits, mm_value_get_float(t), lp->num_digits,
                         mm_value_get_float(dt));
        (void)mm_value_dict_del(log_tag, "time");
        (void)mm_value_dict_del(log_tag, "data_time");
    }
    if (st->memory_mib >= 0) {
        mm_strbuf_printf(&sb, "memory: %lld  ", (long long)st->memory_mib);
        if (!rc)
            rc = mm_value_dict_set_take(tag, "memory",
                                        mm_value_new_int(st->memory_mib));
    }
    if (train_or_val) {
        bool first = true;
        for (size_t i = 0; i < mm_value_len(log_tag); i++) {
            const char *name = mm_value_dict_key_at(log_tag, i);
            if (strcmp(mode, "val") == 0 && strncmp(name, "val/loss", 8) != 0)
                continue;
            if (!first)
                mm_strbuf_puts(&sb, "  ");
            first = false;
            mm_strbuf_printf(&sb, "%s: ", name);
            append_value(&sb, mm_value_dict_value_at(log_tag, i),
                         lp->num_digits);
        }
    }
    mm_value_release(log_tag);
    mm_strbuf_free(&lr);
    return hand_out(rc, &sb, line, tag, tag_out);
}

int mm_log_processor_after_epoch(const mm_log_processor *lp,
                                 const mm_log_state *st, int64_t batch_idx,
                                 const char *mode, bool with_non_scalar,
                                 mm_value **tag_out, char **line) {
    if (strcmp(mode, "val") != 0 && strcmp(mode, "test") != 0)
        return mm_error_set(MM_EINVAL,
                            "log processor: after_epoch takes 'val' or "
                            "'test', not '%s'",
                            mode);
    int64_t len = st->dataloader_len;
    mm_strbuf sb = {0};
    if (lp->by_epoch) {
        if (strcmp(mode, "val") == 0)
            mm_strbuf_printf(&sb, "Epoch(%s) [%lld][%lld/%lld]  ", mode,
                             (long long)(st->has_train_loop ? st->epoch : 0),
                             (long long)len, (long long)len);
        else
            mm_strbuf_printf(&sb, "Epoch(%s) [%lld/%lld]  ", mode,
                             (long long)len, (long long)len);
    } else {
        mm_strbuf_printf(&sb, "Iter(%s) [%lld/%lld]  ", mode, (long long)len,
                         (long long)len);
    }
    /* time and data_time over the whole epoch unless custom_cfg says. */
    custom_cfg *cc = calloc(lp->n_custom + 2, sizeof *cc);
    if (!cc) {
        mm_strbuf_free(&sb);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    size_t nc = lp->n_custom;
    bool has_time = false, has_data_time = false;
    for (size_t i = 0; i < nc; i++) {
        cc[i] = lp->custom[i];
        const char *k = strip_prefix(cc[i].data_src, mode);
        has_time |= strcmp(k, "time") == 0;
        has_data_time |= strcmp(k, "data_time") == 0;
    }
    if (!has_time)
        cc[nc++] = (custom_cfg){.data_src = "time",
                                .log_name = "time",
                                .method = "mean",
                                .window_kind = 1};
    if (!has_data_time)
        cc[nc++] = (custom_cfg){.data_src = "data_time",
                                .log_name = "data_time",
                                .method = "mean",
                                .window_kind = 1};
    mm_value *ori = NULL;
    int rc = collect_scalars(lp, cc, nc, st, batch_idx, mode,
                             lp->log_with_hierarchy, &ori);
    free(cc);
    if (rc) {
        mm_strbuf_free(&sb);
        return rc;
    }
    mm_value *tag = mm_value_new_dict(), *time_tag = mm_value_new_dict(),
             *non_scalar = mm_value_new_dict();
    rc = tag && time_tag && non_scalar
             ? MM_OK
             : mm_error_set(MM_ENOMEM, "out of memory");
    char mt[64], mdt[64];
    snprintf(mt, sizeof mt, "%s/time", mode);
    snprintf(mdt, sizeof mdt, "%s/data_time", mode);
    for (size_t i = 0; !rc && i < mm_value_len(ori); i++) {
        const char *k = mm_value_dict_key_at(ori, i);
        mm_value *v = mm_value_dict_value_at(ori, i);
        bool is_time = !strcmp(k, mt) || !strcmp(k, mdt) ||
                       !strcmp(k, "time") || !strcmp(k, "data_time");
        rc = mm_value_dict_set(is_time ? time_tag : tag, k, v);
    }
    /* _collect_non_scalars: runtime info of this mode. */
    const mm_value *info = mm_message_hub_runtime_info(st->hub);
    size_t mlen = strlen(mode);
    for (size_t i = 0; !rc && i < mm_value_len(info); i++) {
        const char *k = mm_value_dict_key_at(info, i);
        if (strncmp(k, mode, mlen) != 0)
            continue;
        rc = mm_value_dict_set(
            non_scalar, lp->log_with_hierarchy ? k : strip_prefix(k, mode),
            mm_value_dict_value_at(info, i));
    }
    mm_strbuf_puts(&sb, "  ");
    const mm_value *parts[3] = {tag, non_scalar, time_tag};
    bool first = true;
    for (int p = 0; !rc && p < 3; p++) {
        for (size_t i = 0; i < mm_value_len(parts[p]); i++) {
            if (!first)
                mm_strbuf_puts(&sb, "  ");
            first = false;
            mm_strbuf_printf(&sb, "%s: ", mm_value_dict_key_at(parts[p], i));
            append_value(&sb, mm_value_dict_value_at(parts[p], i),
                         lp->num_digits);
        }
    }
    for (size_t i = 0; !rc && with_non_scalar && i < mm_value_len(non_scalar);
         i++)
        rc = mm_value_dict_set(tag, mm_value_dict_key_at(non_scalar, i),
                               mm_value_dict_value_at(non_scalar, i));
    for (size_t i = 0; !rc && i < mm_value_len(time_tag); i++)
        rc = mm_value_dict_set(tag, mm_value_dict_key_at(time_tag, i),
                               mm_value_dict_value_at(time_tag, i));
    mm_value_release(ori);
    mm_value_release(time_tag);
    mm_value_release(non_scalar);
    return hand_out(rc, &sb, line, tag, tag_out);
}
