/* The runner: mmengine's Runner.from_cfg, train/val/test, hooks, the work
 * dir, logs, scalars and checkpoints. See docs/runner.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "mm/config.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/rng.h"
#include "mm/tensor.h"
#include "mm/threads.h"
#include "mm_build_config.h"
#include "runner_internal.h"
#include "strbuf.h"

enum { PATH_LEN = 4096 };

double mm_runner_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- small helpers ------------------------------------------------------- */

static int oom(void) { return mm_error_set(MM_ENOMEM, "out of memory"); }

int mm_runner_mkdirs(const char *path) {
    char buf[PATH_LEN];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return mm_error_set(MM_EINVAL, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return mm_error_set(MM_EIO, "cannot create directory '%s': %s", buf,
                                strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return mm_error_set(MM_EIO, "cannot create directory '%s': %s", buf,
                            strerror(errno));
    return MM_OK;
}

static const mm_value *cfg_get(const mm_runner *r, const char *key) {
    const mm_value *v = mm_value_dict_get(r->cfg, key);
    return v && !mm_value_is_null(v) ? v : NULL;
}

/* A config key that must be of a type: the error names file:line. */
static int want(const mm_value *v, bool ok, const char *key, const char *what) {
    if (!v || ok)
        return MM_OK;
    if (mm_value_is_int(v)) /* the right type, a value out of range */
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: must be %s, got %lld", key, what,
                               (long long)mm_value_get_int(v));
    return mm_error_set_at(MM_ETYPE, mm_value_loc(v), "%s: must be %s, not %s",
                           key, what, mm_value_type_name(mm_value_type_of(v)));
}

/* ---- the log file -------------------------------------------------------- */

static void file_sink(mm_log_level level, const char *line, void *user) {
    (void)level;
    mm_runner *r = user;
    if (r->log_file) {
        fputs(line, r->log_file);
        fputc('\n', r->log_file);
        fflush(r->log_file);
    }
}

/* ---- hooks --------------------------------------------------------------- */

int mm_runner_register_hook(mm_runner *r, mm_hook *h) {
    if (!h)
        return mm_error_set(MM_EINVAL, "register_hook: no hook");
    if (r->n_hooks == r->cap_hooks) {
        size_t cap = r->cap_hooks ? r->cap_hooks * 2 : 16;
        mm_hook **n = realloc(r->hooks, cap * sizeof *n);
        if (!n) {
            mm_hook_free(h);
            return oom();
        }
        r->hooks = n;
        r->cap_hooks = cap;
    }
    /* mmengine's register_hook: after the last hook whose priority is not
     * greater, so equal priorities keep registration order. */
    size_t pos = 0;
    for (size_t i = r->n_hooks; i-- > 0;) {
        if (h->priority >= r->hooks[i]->priority) {
            pos = i + 1;
            break;
        }
    }
    memmove(r->hooks + pos + 1, r->hooks + pos,
            (r->n_hooks - pos) * sizeof *r->hooks);
    r->hooks[pos] = h;
    r->n_hooks++;
    return MM_OK;
}

size_t mm_runner_n_hooks(const mm_runner *r) { return r->n_hooks; }

mm_hook *mm_runner_hook_at(const mm_runner *r, size_t i) {
    return i < r->n_hooks ? r->hooks[i] : NULL;
}

int mm_runner_call_hook(mm_runner *r, mm_hook_point p, const hook_args *a) {
    static const hook_args none = {0};
    if (!a)
        a = &none;
    for (size_t i = 0; i < r->n_hooks; i++) {
        mm_hook *h = r->hooks[i];
        const mm_hook_class *c = h->cls;
        int rc = MM_OK;
        switch (p) {
#define PLAIN(P, f)                                                            \
    case P:                                                                    \
        rc = c->f ? c->f(h, r) : MM_OK;                                        \
        break;
#define ITER(P, f)                                                             \
    case P:                                                                    \
        rc = c->f ? c->f(h, r, a->batch_idx, a->data_batch) : MM_OK;           \
        break;
#define AFTER_ITER(P, f)                                                       \
    case P:                                                                    \
        rc = c->f ? c->f(h, r, a->batch_idx, a->data_batch, a->outputs)        \
                  : MM_OK;                                                     \
        break;
#define METRICS(P, f)                                                          \
    case P:                                                                    \
        rc = c->f ? c->f(h, r, a->metrics) : MM_OK;                            \
        break;
#define CKPT(P, f)                                                             \
    case P:                                                                    \
        rc = c->f ? c->f(h, r, a->ck) : MM_OK;                                 \
        break;
            PLAIN(MM_HOOK_BEFORE_RUN, before_run)
            PLAIN(MM_HOOK_AFTER_RUN, after_run)
            PLAIN(MM_HOOK_BEFORE_TRAIN, before_train)
            PLAIN(MM_HOOK_AFTER_TRAIN, after_train)
            PLAIN(MM_HOOK_BEFORE_TRAIN_EPOCH, before_train_epoch)
            PLAIN(MM_HOOK_AFTER_TRAIN_EPOCH, after_train_epoch)
            ITER(MM_HOOK_BEFORE_TRAIN_ITER, before_train_iter)
            AFTER_ITER(MM_HOOK_AFTER_TRAIN_ITER, after_train_iter)
            PLAIN(MM_HOOK_BEFORE_VAL, before_val)
            PLAIN(MM_HOOK_AFTER_VAL, after_val)
            PLAIN(MM_HOOK_BEFORE_VAL_EPOCH, before_val_epoch)
            METRICS(MM_HOOK_AFTER_VAL_EPOCH, after_val_epoch)
            ITER(MM_HOOK_BEFORE_VAL_ITER, before_val_iter)
            AFTER_ITER(MM_HOOK_AFTER_VAL_ITER, after_val_iter)
            PLAIN(MM_HOOK_BEFORE_TEST, before_test)
            PLAIN(MM_HOOK_AFTER_TEST, after_test)
            PLAIN(MM_HOOK_BEFORE_TEST_EPOCH, before_test_epoch)
            METRICS(MM_HOOK_AFTER_TEST_EPOCH, after_test_epoch)
            ITER(MM_HOOK_BEFORE_TEST_ITER, before_test_iter)
            AFTER_ITER(MM_HOOK_AFTER_TEST_ITER, after_test_iter)
            CKPT(MM_HOOK_AFTER_LOAD_CHECKPOINT, after_load_checkpoint)
            CKPT(MM_HOOK_BEFORE_SAVE_CHECKPOINT, before_save_checkpoint)
#undef PLAIN
#undef ITER
#undef AFTER_ITER
#undef METRICS
#undef CKPT
        default:
            break;
        }
        if (rc)
            return mm_error_context(rc, NULL, "%s.%s", c->name,
                                    mm_hook_point_name(p));
    }
    return MM_OK;
}

/* default_hooks merged over mmengine's six defaults (null removes one),
 * then custom_hooks, each in priority order. */
static int register_hooks(mm_runner *r) {
    static const char *const defaults =
        "{runtime_info: {type: RuntimeInfoHook}, timer: {type: IterTimerHook},"
        " sampler_seed: {type: DistSamplerSeedHook}, logger: {type: "
        "LoggerHook},"
        " param_scheduler: {type: ParamSchedulerHook},"
        " checkpoint: {type: CheckpointHook, interval: 1}}";
    mm_value *hooks = NULL;
    int rc =
        mm_yaml_parse(defaults, strlen(defaults), "<default hooks>", &hooks);
    if (rc)
        return rc;
    const mm_value *user = cfg_get(r, "default_hooks");
    if ((rc = want(user, mm_value_is_dict(user), "default_hooks", "a dict"))) {
        mm_value_release(hooks);
        return rc;
    }
    for (size_t i = 0; !rc && i < mm_value_len(user); i++) {
        const char *k = mm_value_dict_key_at(user, i);
        mm_value *v = mm_value_dict_value_at(user, i);
        if (mm_value_is_null(v))
            (void)mm_value_dict_del(hooks, k);
        else
            rc = mm_value_dict_set(hooks, k, v);
    }
    for (size_t i = 0; !rc && i < mm_value_len(hooks); i++) {
        char path[256];
        snprintf(path, sizeof path, "default_hooks.%s",
                 mm_value_dict_key_at(hooks, i));
        mm_hook *h = NULL;
        if (!(rc = mm_hook_build(mm_value_dict_value_at(hooks, i), path,
                                 r->scope, &h)))
            rc = mm_runner_register_hook(r, h);
    }
    mm_value_release(hooks);
    const mm_value *custom = cfg_get(r, "custom_hooks");
    if (!rc)
        rc = want(custom, mm_value_is_list(custom), "custom_hooks", "a list");
    for (size_t i = 0; !rc && i < mm_value_len(custom); i++) {
        char path[256];
        snprintf(path, sizeof path, "custom_hooks.%zu", i);
        mm_hook *h = NULL;
        if (!(rc = mm_hook_build(mm_value_list_get(custom, i), path, r->scope,
                                 &h)))
            rc = mm_runner_register_hook(r, h);
    }
    return rc;
}

static bool hook_has(const mm_hook_class *c, mm_hook_point p) {
    switch (p) {
    case MM_HOOK_BEFORE_RUN:
        return c->before_run;
    case MM_HOOK_AFTER_LOAD_CHECKPOINT:
        return c->after_load_checkpoint;
    case MM_HOOK_BEFORE_TRAIN:
        return c->before_train;
    case MM_HOOK_BEFORE_TRAIN_EPOCH:
        return c->before_train_epoch;
    case MM_HOOK_BEFORE_TRAIN_ITER:
        return c->before_train_iter;
    case MM_HOOK_AFTER_TRAIN_ITER:
        return c->after_train_iter;
    case MM_HOOK_AFTER_TRAIN_EPOCH:
        return c->after_train_epoch;
    case MM_HOOK_BEFORE_VAL:
        return c->before_val;
    case MM_HOOK_BEFORE_VAL_EPOCH:
        return c->before_val_epoch;
    case MM_HOOK_BEFORE_VAL_ITER:
        return c->before_val_iter;
    case MM_HOOK_AFTER_VAL_ITER:
        return c->after_val_iter;
    case MM_HOOK_AFTER_VAL_EPOCH:
        return c->after_val_epoch;
    case MM_HOOK_AFTER_VAL:
        return c->after_val;
    case MM_HOOK_BEFORE_SAVE_CHECKPOINT:
        return c->before_save_checkpoint;
    case MM_HOOK_AFTER_TRAIN:
        return c->after_train;
    case MM_HOOK_BEFORE_TEST:
        return c->before_test;
    case MM_HOOK_BEFORE_TEST_EPOCH:
        return c->before_test_epoch;
    case MM_HOOK_BEFORE_TEST_ITER:
        return c->before_test_iter;
    case MM_HOOK_AFTER_TEST_ITER:
        return c->after_test_iter;
    case MM_HOOK_AFTER_TEST_EPOCH:
        return c->after_test_epoch;
    case MM_HOOK_AFTER_TEST:
        return c->after_test;
    case MM_HOOK_AFTER_RUN:
        return c->after_run;
    default:
        return false;
    }
}

/* Runner.get_hooks_info: per stage, "(PRIORITY    ) ClassName" lines. */
static void log_hooks(const mm_runner *r) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    bool first = true;
    for (int p = 0; p < MM_HOOK_POINT_COUNT; p++) {
        bool any = false;
        for (size_t i = 0; i < r->n_hooks; i++) {
            const mm_hook *h = r->hooks[i];
            if (!hook_has(h->cls, (mm_hook_point)p))
                continue;
            if (!any)
                fprintf(f, "%s%s:", first ? "" : "\n", mm_hook_point_name(p));
            any = true, first = false;
            const char *pn = mm_priority_name(h->priority);
            char num[16];
            snprintf(num, sizeof num, "%d", h->priority);
            fprintf(f, "\n(%-12s) %-35s", pn ? pn : num, h->cls->name);
        }
        if (any)
            fprintf(f, "\n -------------------- ");
    }
    if (fclose(f) == 0)
        MM_INFO("Hooks will be executed in the following order:\n%s", text);
    free(text);
}

/* ---- setup --------------------------------------------------------------- */

static uint64_t random_seed(void) {
    /* sync_random_seed: a random int in [0, 2**31). */
    uint64_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &s, sizeof s) != (ssize_t)sizeof s)
            s = 0;
        close(fd);
    }
    if (!s)
        s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    return s % (UINT64_C(1) << 31);
}

static int setup_randomness(mm_runner *r, const mm_value *seed_override) {
    const mm_value *rnd = cfg_get(r, "randomness");
    int rc = want(rnd, mm_value_is_dict(rnd), "randomness", "a dict");
    if (rc)
        return rc;
    const mm_value *seed = rnd ? mm_value_dict_get(rnd, "seed") : NULL;
    const mm_value *det = rnd ? mm_value_dict_get(rnd, "deterministic") : NULL;
    const mm_value *diff =
        rnd ? mm_value_dict_get(rnd, "diff_rank_seed") : NULL;
    for (size_t i = 0; i < mm_value_len(rnd); i++) {
        const char *k = mm_value_dict_key_at(rnd, i);
        if (strcmp(k, "seed") && strcmp(k, "deterministic") &&
            strcmp(k, "diff_rank_seed"))
            return mm_error_set_at(MM_EINVAL,
                                   mm_value_loc(mm_value_dict_value_at(rnd, i)),
                                   "randomness.%s: unknown key (seed, "
                                   "deterministic, diff_rank_seed)",
                                   k);
    }
    if ((rc = want(seed,
                   mm_value_is_null(seed) ||
                       (mm_value_is_int(seed) && mm_value_get_int(seed) >= 0),
                   "randomness.seed", "a non-negative integer or null")) ||
        (rc = want(det, mm_value_is_bool(det), "randomness.deterministic",
                   "a bool")) ||
        (rc = want(diff, mm_value_is_bool(diff), "randomness.diff_rank_seed",
                   "a bool")))
        return rc;
    if (seed_override)
        r->seed = (uint64_t)mm_value_get_int(seed_override);
    else if (seed && mm_value_is_int(seed))
        r->seed = (uint64_t)mm_value_get_int(seed);
    else
        r->seed = random_seed();
    r->deterministic = det && mm_value_get_bool(det);
    /* diff_rank_seed adds the rank: rank 0 until core/dist lands. */
    mm_manual_seed(r->seed);
    return MM_OK;
}

static int setup_env(mm_runner *r) {
    const mm_value *env = cfg_get(r, "env_cfg");
    int rc = want(env, mm_value_is_dict(env), "env_cfg", "a dict");
    if (rc)
        return rc;
    const mm_value *nt = env ? mm_value_dict_get(env, "num_threads") : NULL;
    if (nt && !mm_value_is_null(nt)) {
        int64_t n = -1;
        if (mm_value_is_int(nt))
            n = mm_value_get_int(nt);
        else if (mm_value_is_string(nt) && mm_value_get_string(nt)[0])
            n = strtoll(mm_value_get_string(nt), NULL, 10);
        if (n < 0 || n > 4096)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(nt),
                                   "env_cfg.num_threads: must be an integer "
                                   ">= 0 (0: every core)");
        /* 0 leaves the default: MM_NUM_THREADS or every core. */
        if (n > 0 && (rc = mm_set_num_threads((int)n)))
            return rc;
    }
    return MM_OK;
}

static void log_env(mm_runner *r) {
    struct utsname u;
    if (uname(&u) != 0)
        strcpy(u.sysname, "?"), strcpy(u.machine, "?"), strcpy(u.release, "?");
    char rt[2048] = "";
    const mm_value *env = cfg_get(r, "env_cfg");
    size_t off = 0;
    for (size_t i = 0; i < mm_value_len(env) && off < sizeof rt; i++) {
        char *j = NULL;
        if (mm_json_dump(mm_value_dict_value_at(env, i), 0, &j) == MM_OK)
            off += (size_t)snprintf(rt + off, sizeof rt - off, "\n    %s: %s",
                                    mm_value_dict_key_at(env, i), j);
        free(j);
    }
    MM_INFO("\n------------------------------------------------------------\n"
            "System environment:\n    sys.platform: %s\n    machine: %s\n"
            "    kernel: %s\n    mm: %s\n    CUDA available: False\n"
            "    threads: %d\n\nRuntime environment:%s\n    seed: %llu\n"
            "    deterministic: %s\n    Distributed launcher: none\n"
            "    Distributed training: False\n    GPU number: 1\n"
            "------------------------------------------------------------\n",
            u.sysname, u.machine, u.release, MM_VERSION, mm_get_num_threads(),
            rt, (unsigned long long)r->seed,
            r->deterministic ? "True" : "False");
    MM_INFO("Config:\n%s", r->cfg_text);
}

static int setup_dirs(mm_runner *r, const char *config_path) {
    char stem[256] = "";
    if (config_path) {
        const char *base = strrchr(config_path, '/');
        base = base ? base + 1 : config_path;
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem)
            *dot = 0;
    }
    if (!(r->cfg_name = strdup(stem)))
        return oom();
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%d_%H%M%S", &tm);
    if (!(r->timestamp = strdup(ts)))
        return oom();
    const mm_value *wd = cfg_get(r, "work_dir");
    int rc = want(wd, mm_value_is_string(wd), "work_dir", "a string");
    if (rc)
        return rc;
    /* "" would put the run's files at the root ("/last_checkpoint"). */
    if (wd && !mm_value_get_string(wd)[0])
        return mm_error_set_at(MM_EINVAL, mm_value_loc(wd),
                               "work_dir: must not be empty (give a "
                               "directory, '.' for the current one)");
    char buf[PATH_LEN];
    if (wd)
        snprintf(buf, sizeof buf, "%s", mm_value_get_string(wd));
    else if (stem[0])
        snprintf(buf, sizeof buf, "work_dirs/%s", stem);
    else
        return mm_error_set(MM_EINVAL, "work_dir: not set and no config file "
                                       "name to derive it from");
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    if (!(r->work_dir = strdup(buf)))
        return oom();
    snprintf(buf, sizeof buf, "%s/%s", r->work_dir, ts);
    if (!(r->log_dir = strdup(buf)))
        return oom();
    snprintf(buf, sizeof buf, "%s/vis_data", r->log_dir);
    if (!(r->vis_dir = strdup(buf)))
        return oom();
    const mm_value *en = cfg_get(r, "experiment_name");
    if ((rc = want(en, mm_value_is_string(en), "experiment_name", "a string")))
        return rc;
    if (en) /* mmengine: f'{experiment_name}_{timestamp}' */
        snprintf(buf, sizeof buf, "%s_%s", mm_value_get_string(en), ts);
    else if (stem[0])
        snprintf(buf, sizeof buf, "%s_%s", stem, ts);
    else
        snprintf(buf, sizeof buf, "%s", ts);
    if (!(r->experiment_name = strdup(buf)))
        return oom();
    if ((rc = mm_runner_mkdirs(r->vis_dir)))
        return mm_error_context(rc, mm_value_loc(wd), "work_dir");
    snprintf(buf, sizeof buf, "%s/%s.log", r->log_dir, ts);
    if (!(r->log_file = fopen(buf, "a")))
        return mm_error_set(MM_EIO, "cannot open log file '%s': %s", buf,
                            strerror(errno));
    if ((rc = mm_log_add_sink(file_sink, r)))
        return rc;
    r->sink_added = true;
    return MM_OK;
}

/* The visualizer (mmengine's default: one LocalVisBackend writing under
 * <log_dir>/vis_data). */
static int build_visualizer(mm_runner *r) {
    const mm_value *node = cfg_get(r, "visualizer");
    static const char *const def = "{type: Visualizer, vis_backends: "
                                   "[{type: LocalVisBackend}]}";
    mm_value *d = NULL;
    int rc = MM_OK;
    if (!node) {
        if ((rc = mm_yaml_parse(def, strlen(def), "<default visualizer>", &d)))
            return rc;
        node = d;
    }
    void *obj = NULL;
    rc = mm_registry_build(MM_VISUALIZERS, node, r->scope, "visualizer", NULL,
                           &obj);
    mm_value_release(d);
    if (rc)
        return rc;
    r->vis = obj;
    for (size_t i = 0; !rc && i < r->vis->n; i++)
        if (r->vis->backends[i].save_dir)
            rc = mm_runner_mkdirs(r->vis->backends[i].save_dir);
    return rc;
}

static const char *backend_dir(const mm_runner *r, const mm_vis_backend *b) {
    return b->save_dir ? b->save_dir : r->vis_dir;
}

static int dump_config(mm_runner *r) {
    char path[PATH_LEN];
    size_t len = strlen(r->cfg_text);
    snprintf(path, sizeof path, "%s/config.yaml", r->log_dir);
    int rc = mm_file_write_atomic(path, r->cfg_text, len);
    for (size_t i = 0; !rc && i < r->vis->n; i++) {
        const mm_vis_backend *b = &r->vis->backends[i];
        snprintf(path, sizeof path, "%s/%s", backend_dir(r, b), b->config_file);
        rc = mm_file_write_atomic(path, r->cfg_text, len);
    }
    return rc;
}

/* A checkpoint the config names: a failure says which key named it (at
 * its place in the config) or that it came from last_checkpoint. */
static int load_named_checkpoint(mm_runner *r, const char *path,
                                 mm_checkpoint **ck) {
    int rc = mm_checkpoint_load(path, ck);
    if (!rc)
        return MM_OK;
    const mm_value *lf = cfg_get(r, "load_from");
    if (lf && strcmp(mm_value_get_string(lf), path) == 0)
        return mm_error_context(rc, mm_value_loc(lf), "load_from");
    return mm_error_context(rc, NULL, "resume (%s/last_checkpoint)",
                            r->work_dir);
}

/* The checkpoint `resume` names: a path, or true for the work dir's
 * last_checkpoint (find_latest_checkpoint). NULL: nothing to resume. */
static int resume_path(mm_runner *r, char **out) {
    *out = NULL;
    if (!r->resume)
        return MM_OK;
    if (r->load_from)
        return (*out = strdup(r->load_from)) ? MM_OK : oom();
    char p[PATH_LEN];
    snprintf(p, sizeof p, "%s/last_checkpoint", r->work_dir);
    char *text = NULL;
    size_t len = 0;
    if (mm_file_read(p, &text, &len) != MM_OK) {
        mm_error_clear();
        MM_WARN("resume: no last_checkpoint in %s; training starts from "
                "scratch",
                r->work_dir);
        return MM_OK;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = 0;
    *out = text;
    return MM_OK;
}

int mm_runner_new(const mm_value *cfg_in, const char *config_path,
                  mm_runner **out) {
    if (!mm_value_is_dict(cfg_in))
        return mm_error_set_at(MM_ETYPE, mm_value_loc(cfg_in),
                               "a config is a mapping");
    mm_runner *r = calloc(1, sizeof *r);
    if (!r)
        return oom();
    int rc = MM_OK;
    if (!(r->cfg = mm_value_copy(cfg_in)))
        rc = oom();
    /* Runner.__init__: model.setdefault('data_preprocessor', ...). */
    mm_value *model = mm_value_dict_get(r->cfg, "model");
    mm_value *dp = mm_value_dict_get(r->cfg, "data_preprocessor");
    if (!rc && mm_value_is_dict(model) && dp && !mm_value_is_null(dp) &&
        !mm_value_dict_get(model, "data_preprocessor"))
        rc = mm_value_dict_set(model, "data_preprocessor", dp);
    if (!rc)
        (void)mm_value_dict_del(r->cfg, "data_preprocessor");
    const mm_value *ds = cfg_get(r, "default_scope");
    if (!rc)
        rc = want(ds, mm_value_is_string(ds), "default_scope", "a string");
    if (!rc && !(r->scope = strdup(ds ? mm_value_get_string(ds) : "mm")))
        rc = oom();
    /* Every component is checked before anything is built. */
    if (!rc)
        rc = mm_config_validate_components(r->cfg);
    if (!rc && !model)
        rc = mm_error_set(MM_EINVAL, "%s: no `model` in the config",
                          config_path ? config_path : "config");
    const mm_value *lv = cfg_get(r, "log_level");
    if (!rc && lv) {
        mm_log_level level;
        if (!mm_value_is_string(lv) ||
            mm_log_level_parse(mm_value_get_string(lv), &level))
            rc = mm_error_set_at(MM_EINVAL, mm_value_loc(lv),
                                 "log_level: expected DEBUG, INFO, WARNING, "
                                 "ERROR or CRITICAL");
        else
            mm_log_set_level(level);
    }
    const mm_value *res = cfg_get(r, "resume");
    const mm_value *lf = cfg_get(r, "load_from");
    if (!rc)
        rc = want(res, mm_value_is_bool(res), "resume", "a bool");
    if (!rc)
        rc = want(lf, mm_value_is_string(lf), "load_from", "a string");
    r->resume = !rc && res && mm_value_get_bool(res);
    if (!rc && lf && !(r->load_from = strdup(mm_value_get_string(lf))))
        rc = oom();
    const mm_value *seed_override = NULL;
    if (!rc)
        rc = setup_env(r);
    if (!rc)
        rc = setup_dirs(r, config_path);
    /* Resuming runs on with the checkpoint's seed (mmengine's resume
     * resets the randomness with it), so the data order continues. */
    char *rpath = NULL;
    if (!rc)
        rc = resume_path(r, &rpath);
    mm_checkpoint *ck = NULL;
    if (!rc && rpath) {
        rc = load_named_checkpoint(r, rpath, &ck);
        const mm_value *meta = ck ? mm_checkpoint_get_meta(ck, "meta") : NULL;
        const mm_value *s = meta ? mm_value_dict_get(meta, "seed") : NULL;
        if (s && mm_value_is_int(s))
            seed_override = s;
        free(r->load_from);
        r->load_from = rpath;
        rpath = NULL;
    }
    free(rpath);
    if (!rc)
        rc = setup_randomness(r, seed_override);
    if (!rc && (rc = mm_yaml_dump(r->cfg, &r->cfg_text)) == MM_OK)
        log_env(r);
    if (!rc)
        rc = mm_log_processor_new(mm_value_dict_get(r->cfg, "log_processor"),
                                  &r->lp);
    if (!rc)
        rc = mm_message_hub_new(&r->hub);
    if (!rc) {
        void *m = NULL;
        rc = mm_registry_build_with_inits(MM_MODELS, model, r->scope, "model",
                                          NULL, &m, &r->inits);
        r->model = m;
        if (!rc && !mm_model_has_loss(r->model))
            MM_WARN("model: %s has no loss mode; it can be tested but not "
                    "trained",
                    r->model->cls->name);
    }
    if (!rc)
        rc = build_visualizer(r);
    if (!rc)
        rc = register_hooks(r);
    if (!rc)
        log_hooks(r);
    if (!rc)
        rc = dump_config(r);
    if (rc) {
        mm_checkpoint_free(ck);
        mm_runner_free(r);
        return rc;
    }
    r->resume_ck = ck; /* read early for its seed; loaded by load_or_resume */
    r->progress = isatty(STDOUT_FILENO);
    *out = r;
    return MM_OK;
}

void mm_runner_free(mm_runner *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->n_hooks; i++)
        mm_hook_free(r->hooks[i]);
    free(r->hooks);
    mm_loop_free(r->train_loop);
    mm_loop_free(r->val_loop);
    mm_loop_free(r->test_loop);
    mm_evaluator_free(r->val_ev);
    mm_evaluator_free(r->test_ev);
    mm_dataloader_free(r->train_dl);
    mm_dataloader_free(r->val_dl);
    mm_dataloader_free(r->test_dl);
    mm_param_schedulers_free(r->scheds, r->n_scheds);
    mm_optim_wrapper_free(r->ow);
    mm_module_free(r->model);
    mm_pretrained_inits_clear(&r->inits);
    mm_message_hub_free(r->hub);
    mm_log_processor_free(r->lp);
    mm_vis_free(r->vis);
    if (r->sink_added)
        mm_log_remove_sink(file_sink, r);
    if (r->log_file)
        fclose(r->log_file);
    mm_checkpoint_free(r->resume_ck);
    mm_value_release(r->cfg);
    free(r->scope);
    free(r->cfg_name);
    free(r->work_dir);
    free(r->log_dir);
    free(r->vis_dir);
    free(r->timestamp);
    free(r->experiment_name);
    free(r->cfg_text);
    free(r->load_from);
    free(r);
}

/* ---- building what the loops need ---------------------------------------- */

static int build_dataloader(mm_runner *r, const char *key,
                            mm_dataloader **out) {
    const mm_value *node = cfg_get(r, key);
    if (!node)
        return mm_error_set(MM_EINVAL, "%s: not in the config", key);
    return mm_dataloader_build(node, key, r->scope, r->seed, out);
}

static int build_eval_loop(mm_runner *r, bool val) {
    const char *dl_key = val ? "val_dataloader" : "test_dataloader";
    const char *cfg_key = val ? "val_cfg" : "test_cfg";
    const char *ev_key = val ? "val_evaluator" : "test_evaluator";
    const mm_value *dl = cfg_get(r, dl_key), *lc = cfg_get(r, cfg_key),
                   *ev = cfg_get(r, ev_key);
    if (!dl && !lc && !ev)
        return MM_OK; /* no val (test) loop: mmengine's all-None case */
    if (!dl || !lc || !ev) /* at one that is set: the others are absent */
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(dl ? dl : lc ? lc : ev),
            "%s, %s and %s should be either all set or all null "
            "(missing: %s); set it, or set all three to null to skip %s",
            dl_key, cfg_key, ev_key,
            !dl   ? dl_key
            : !lc ? cfg_key
                  : ev_key,
            val ? "validation" : "testing");
    mm_loop **loop = val ? &r->val_loop : &r->test_loop;
    mm_dataloader **d = val ? &r->val_dl : &r->test_dl;
    mm_evaluator **e = val ? &r->val_ev : &r->test_ev;
    int rc = mm_loop_build(r, lc, cfg_key, loop);
    if (!rc)
        rc = build_dataloader(r, dl_key, d);
    if (!rc)
        rc = mm_evaluator_build(ev, ev_key, r->scope, e);
    if (!rc)
        mm_evaluator_set_dataset_meta(
            *e, mm_dataset_metainfo(mm_dataloader_dataset(*d)));
    return rc;
}

/* auto_scale_lr: lr * (world size * batch size) / base_batch_size. */
static int scale_lr(mm_runner *r, bool force) {
    const mm_value *a = cfg_get(r, "auto_scale_lr");
    int rc = want(a, mm_value_is_dict(a), "auto_scale_lr", "a dict");
    if (rc)
        return rc;
    const mm_value *en = a ? mm_value_dict_get(a, "enable") : NULL;
    if (en && !mm_value_is_null(en) &&
        (rc = want(en, mm_value_is_bool(en), "auto_scale_lr.enable",
                   "a bool")))
        return rc;
    if (!force && !(en && mm_value_is_bool(en) && mm_value_get_bool(en)))
        return MM_OK;
    const mm_value *base = a ? mm_value_dict_get(a, "base_batch_size") : NULL;
    if (!base || !mm_value_is_int(base) || mm_value_get_int(base) <= 0)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(a ? a : r->cfg),
                               "auto_scale_lr: needs a positive "
                               "`base_batch_size`");
    int64_t real = mm_dataloader_batch_size(r->train_dl);
    double ratio = (double)real / (double)mm_value_get_int(base);
    char ratio_text[32]; /* Python's float repr, as mmengine prints it */
    mm_format_double(ratio, false, ratio_text);
    if (!strpbrk(ratio_text, ".en"))
        strcat(ratio_text, ".0");
    MM_INFO("LR is set based on batch size of %lld and the current batch size "
            "is %lld. Scaling the original LR by %s.",
            (long long)mm_value_get_int(base), (long long)real, ratio_text);
    mm_optimizer *opt = mm_optim_wrapper_optimizer(r->ow);
    for (int g = 0; g < mm_optimizer_n_groups(opt); g++)
        if ((rc = mm_optimizer_set_lr(opt, g,
                                      mm_optimizer_get_lr(opt, g) * ratio)))
            return rc;
    return MM_OK;
}

static int build_train(mm_runner *r) {
    const mm_value *tc = cfg_get(r, "train_cfg");
    if (!tc)
        return mm_error_set(MM_EINVAL, "train_cfg: not in the config (e.g. "
                                       "train_cfg: {by_epoch: true, "
                                       "max_epochs: 12})");
    if (!mm_model_has_loss(r->model))
        return mm_error_set(MM_EINVAL,
                            "model: %s has no loss mode and cannot "
                            "be trained",
                            r->model->cls->name);
    int rc = mm_loop_build(r, tc, "train_cfg", &r->train_loop);
    if (!rc)
        rc = build_dataloader(r, "train_dataloader", &r->train_dl);
    int64_t len = r->train_dl ? (int64_t)mm_dataloader_len(r->train_dl) : 0;
    if (!rc && len <= 0)
        rc = mm_error_set(MM_EINVAL, "train_dataloader: the dataset gives no "
                                     "batches");
    if (!rc && r->train_loop->kind == LOOP_EPOCH_TRAIN)
        r->train_loop->max_iters = r->train_loop->max_epochs * len;
    const mm_value *ow = cfg_get(r, "optim_wrapper");
    if (!rc && !ow)
        rc = mm_error_set(MM_EINVAL, "optim_wrapper: not in the config");
    if (!rc)
        rc = mm_optim_wrapper_build(ow, "optim_wrapper", r->scope, r->model,
                                    &r->ow);
    if (!rc)
        rc = scale_lr(r, false);
    mm_scheduler_args sa = {.optim_wrapper = r->ow, .epoch_length = len};
    if (!rc)
        rc = mm_param_schedulers_build(
            mm_value_dict_get(r->cfg, "param_scheduler"), "param_scheduler",
            r->scope, &sa, &r->scheds, &r->n_scheds);
    if (!rc && !r->val_tried) {
        r->val_tried = true;
        rc = build_eval_loop(r, true);
    }
    return rc;
}

/* ---- steps --------------------------------------------------------------- */

int mm_runner_train_step(mm_runner *r, const mm_value *batch,
                         mm_value **log_vars) {
    mm_tensor *inputs = NULL, *loss = NULL;
    mm_value *samples = NULL, *losses = NULL;
    int rc = mm_optim_wrapper_context_enter(r->ow);
    if (rc)
        return rc;
    rc = mm_model_preprocess(r->model, batch, true, &inputs, &samples);
    if (!rc)
        rc = mm_model_loss(r->model, 1, &inputs, samples, &losses);
    mm_optim_wrapper_context_exit(r->ow);
    if (!rc)
        rc = mm_model_parse_losses(losses, &loss, log_vars);
    if (!rc) {
        rc = mm_optim_wrapper_update_params(r->ow, loss);
        if (rc) {
            mm_value_release(*log_vars);
            *log_vars = NULL;
        }
    }
    double gn = mm_optim_wrapper_grad_norm(r->ow);
    if (!rc && gn == gn) /* clip_grad by norm: logged as grad_norm */
        rc = mm_value_dict_set_take(*log_vars, "grad_norm",
                                    mm_value_new_float(gn));
    mm_value_release(samples);
    mm_value_release(losses);
    return rc;
}

int mm_runner_eval_step(mm_runner *r, const mm_value *batch, mm_value **out) {
    mm_tensor *inputs = NULL;
    mm_value *samples = NULL;
    int rc = mm_model_preprocess(r->model, batch, false, &inputs, &samples);
    if (!rc)
        rc = mm_model_predict(r->model, 1, &inputs, samples, out);
    mm_value_release(samples);
    return rc;
}

/* ---- checkpoints --------------------------------------------------------- */

static int add_model_weights(mm_runner *r, mm_checkpoint *ck) {
    mm_state_dict sd = {0};
    int rc = mm_module_state_dict(r->model, &sd);
    for (size_t i = 0; !rc && i < sd.n; i++) {
        char name[1024];
        snprintf(name, sizeof name, "state_dict.%s", sd.items[i].name);
        if (!mm_checkpoint_get(ck, name)) /* a hook's entry wins (EMA) */
            rc = mm_checkpoint_add(ck, name, sd.items[i].tensor);
    }
    mm_state_dict_clear(&sd);
    free(sd.items);
    return rc;
}

static int set_meta_take(mm_checkpoint *ck, const char *key, mm_value *v) {
    if (!v)
        return oom();
    int rc = mm_checkpoint_set_meta(ck, key, v);
    mm_value_release(v);
    return rc;
}

static int dict_set_int(mm_value *d, const char *k, int64_t v) {
    return mm_value_dict_set_take(d, k, mm_value_new_int(v));
}

int mm_runner_save_checkpoint(mm_runner *r, const char *dir,
                              const char *filename, bool save_optimizer,
                              bool save_param_scheduler, int64_t meta_epoch,
                              int64_t meta_iter) {
    char path[PATH_LEN], ts[32];
    if (snprintf(path, sizeof path, "%s/%s", dir, filename) >= (int)sizeof path)
        return mm_error_set(MM_EINVAL, "checkpoint path too long");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%d_%H%M%S", &tm);
    mm_checkpoint *ck = NULL;
    int rc = mm_checkpoint_new(&ck);
    if (rc)
        return rc;
    mm_value *meta = mm_value_new_dict();
    if (!meta)
        rc = oom();
    if (!rc)
        rc = dict_set_int(meta, "epoch", meta_epoch);
    if (!rc)
        rc = dict_set_int(meta, "iter", meta_iter);
    if (!rc)
        rc = mm_value_dict_set_take(meta, "cfg",
                                    mm_value_new_string(r->cfg_text));
    if (!rc)
        rc = dict_set_int(meta, "seed", (int64_t)r->seed);
    if (!rc)
        rc = mm_value_dict_set_take(meta, "experiment_name",
                                    mm_value_new_string(r->experiment_name));
    if (!rc)
        rc = mm_value_dict_set_take(meta, "time", mm_value_new_string(ts));
    if (!rc)
        rc = mm_value_dict_set_take(meta, "mm_version",
                                    mm_value_new_string(MM_VERSION));
    if (!rc && r->train_dl)
        rc = mm_value_dict_set(
            meta, "dataset_meta",
            mm_dataset_metainfo(mm_dataloader_dataset(r->train_dl)));
    if (!rc && atomic_load(&r->interrupt))
        rc = mm_value_dict_set_take(meta, "interrupted",
                                    mm_value_new_bool(true));
    if (!rc)
        rc = mm_checkpoint_set_meta(ck, "meta", meta);
    mm_value_release(meta);
    mm_value *hub = NULL;
    if (!rc && !(rc = mm_message_hub_state(r->hub, &hub)))
        rc = set_meta_take(ck, "message_hub", hub);
    /* The generators: the default one (dropout, init) and the data seed the
     * dataloader derives every batch's generator from. */
    if (!rc) {
        mm_rng_state st = mm_generator_get_state(mm_default_generator());
        mm_value *rng = mm_value_new_dict();
        if (!rng)
            rc = oom();
        if (!rc)
            rc = dict_set_int(rng, "seed", (int64_t)st.seed);
        if (!rc)
            rc = dict_set_int(rng, "offset", (int64_t)st.offset);
        if (!rc)
            rc = dict_set_int(rng, "data_seed", (int64_t)r->seed);
        if (!rc)
            rc = set_meta_take(ck, "rng_state", rng);
        else
            mm_value_release(rng);
    }
    if (!rc && save_optimizer && r->ow) {
        mm_state_dict sd = {0};
        mm_value *st = NULL;
        rc = mm_optim_wrapper_state_dict(r->ow, &sd, &st);
        for (size_t i = 0; !rc && i < sd.n; i++) {
            char name[1024];
            snprintf(name, sizeof name, "optimizer.%s", sd.items[i].name);
            rc = mm_checkpoint_add(ck, name, sd.items[i].tensor);
        }
        mm_state_dict_clear(&sd);
        free(sd.items);
        if (!rc)
            rc = set_meta_take(ck, "optimizer", st);
        else
            mm_value_release(st);
    }
    if (!rc && save_param_scheduler && r->n_scheds) {
        mm_value *list = mm_value_new_list();
        if (!list)
            rc = oom();
        for (size_t i = 0; !rc && i < r->n_scheds; i++)
            rc = mm_value_list_append_take(
                list, mm_param_scheduler_state(r->scheds[i]));
        if (!rc)
            rc = set_meta_take(ck, "param_schedulers", list);
        else
            mm_value_release(list);
    }
    hook_args a = {.ck = ck};
    if (!rc)
        rc = mm_runner_call_hook(r, MM_HOOK_BEFORE_SAVE_CHECKPOINT, &a);
    if (!rc)
        rc = add_model_weights(r, ck);
    if (!rc)
        rc = mm_checkpoint_save(ck, path);
    mm_checkpoint_free(ck);
    return rc;
}

int mm_runner_write_last_checkpoint(mm_runner *r, const char *path) {
    char p[PATH_LEN];
    snprintf(p, sizeof p, "%s/last_checkpoint", r->work_dir);
    return mm_file_write_atomic(p, path, strlen(path));
}

static void log_report(const mm_load_report *rep) {
    if (!rep->n_missing && !rep->n_unexpected && !rep->n_mismatched)
        return;
    size_t cap = 256;
    for (size_t i = 0; i < rep->n_missing; i++)
        cap += strlen(rep->missing[i]) + 2;
    for (size_t i = 0; i < rep->n_unexpected; i++)
        cap += strlen(rep->unexpected[i]) + 2;
    for (size_t i = 0; i < rep->n_mismatched; i++)
        cap += strlen(rep->mismatched[i]) + 2;
    char *s = malloc(cap);
    if (!s)
        return;
    size_t off = (size_t)sprintf(s, "The model and loaded state dict do not "
                                    "match exactly\n");
    if (rep->n_unexpected) {
        off +=
            (size_t)sprintf(s + off, "\nunexpected key in source state_dict: ");
        for (size_t i = 0; i < rep->n_unexpected; i++)
            off += (size_t)sprintf(s + off, "%s%s", i ? ", " : "",
                                   rep->unexpected[i]);
        s[off++] = '\n';
    }
    if (rep->n_missing) {
        off +=
            (size_t)sprintf(s + off, "\nmissing keys in source state_dict: ");
        for (size_t i = 0; i < rep->n_missing; i++)
            off += (size_t)sprintf(s + off, "%s%s", i ? ", " : "",
                                   rep->missing[i]);
        s[off++] = '\n';
    }
    for (size_t i = 0; i < rep->n_mismatched; i++)
        off += (size_t)sprintf(s + off, "\n%s", rep->mismatched[i]);
    s[off] = 0;
    MM_WARN("%s", s);
    free(s);
}

/* Runner.load_checkpoint: weights (non-strict, mismatches logged), then
 * after_load_checkpoint. The weights are found as mmengine's
 * load_checkpoint finds them: the state_dict entries, or the whole file
 * when it has none (a bare state dict: torchvision's .pth, another tool's
 * safetensors), without DataParallel's "module.". */
static int load_weights(mm_runner *r, const char *path, mm_checkpoint *ck) {
    mm_state_dict sd = {0};
    mm_load_report rep = {0};
    int rc = mm_checkpoint_weights(ck, NULL, &sd);
    if (!rc)
        rc = mm_module_load_state_dict(r->model, &sd, false, &rep);
    mm_state_dict_clear(&sd);
    if (!rc)
        log_report(&rep);
    mm_load_report_free(&rep);
    if (rc)
        return mm_error_context(rc, NULL, "%s", path);
    hook_args a = {.ck = ck};
    rc = mm_runner_call_hook(r, MM_HOOK_AFTER_LOAD_CHECKPOINT, &a);
    if (!rc)
        MM_INFO("Load checkpoint from %s", path);
    return rc;
}

static int find_module(const char *name, mm_module *m, void *user) {
    (void)name;
    return m == user ? 1 : 0;
}

/* One init_cfg {type: Pretrained, checkpoint, prefix, map} on module m:
 * mmengine's PretrainedInit (load_checkpoint / _load_checkpoint_with_prefix
 * + load_state_dict, non-strict, mismatches logged), with mm's key map
 * applied to the whole state dict before the prefix is taken. */
static int apply_pretrained(mm_runner *r, const mm_pretrained_init *p) {
    const mm_value *cfg = p->cfg;
    const mm_value *ckv = mm_value_dict_get(cfg, "checkpoint");
    const mm_value *pv = mm_value_dict_get(cfg, "prefix");
    const mm_value *mv = mm_value_dict_get(cfg, "map");
    const char *file = mm_value_get_string(ckv);
    const char *prefix = pv && mm_value_is_string(pv) ? mm_value_get_string(pv)
                                                      : NULL;
    const char *map = mv && mm_value_is_string(mv) ? mm_value_get_string(mv)
                                                   : NULL;
    if (mm_module_named_modules(r->model, find_module, p->obj) != 1)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(cfg),
                               "%s.init_cfg: the module built from this "
                               "config is not part of the model",
                               p->path);
    if (strstr(file, "://"))
        return mm_error_set_at(MM_EUNSUPPORTED, mm_value_loc(ckv),
                               "%s.init_cfg.checkpoint: '%s' is a URL; mm "
                               "does not download: fetch the file and give "
                               "its path",
                               p->path, file);
    mm_checkpoint *ck = NULL;
    mm_state_dict sd = {0};
    mm_load_report rep = {0};
    int rc = mm_checkpoint_load(file, &ck);
    if (!rc)
        rc = mm_checkpoint_weights_mapped(ck, map, prefix, &sd);
    if (!rc)
        rc = mm_module_load_state_dict(p->obj, &sd, false, &rep);
    mm_state_dict_clear(&sd);
    mm_checkpoint_free(ck);
    if (!rc) {
        if (prefix)
            MM_INFO("load %s in model from: %s", prefix, file);
        else
            MM_INFO("load model from: %s", file);
        log_report(&rep);
    }
    mm_load_report_free(&rep);
    if (rc)
        return mm_error_context(rc, mm_value_loc(cfg),
                                "%s.init_cfg (Pretrained)", p->path);
    return MM_OK;
}

/* Runner._init_model_weights: the Pretrained entries, inner modules
 * first (recorded in build order), once. */
static int init_model_weights(mm_runner *r) {
    int rc = MM_OK;
    for (size_t i = 0; i < r->inits.n && !rc; i++)
        rc = apply_pretrained(r, &r->inits.items[i]);
    mm_pretrained_inits_clear(&r->inits);
    return rc;
}

static int get_meta_int(const mm_value *meta, const char *k, int64_t *out) {
    const mm_value *v = meta ? mm_value_dict_get(meta, k) : NULL;
    if (!v || !mm_value_is_int(v))
        return mm_error_set(MM_EINVAL,
                            "checkpoint meta has no integer '%s' "
                            "(not a training checkpoint?)",
                            k);
    if (mm_value_get_int(v) < 0) /* the loops would count up from it */
        return mm_error_set(MM_EINVAL, "checkpoint meta '%s' is %lld, not a "
                                       "count",
                            k, (long long)mm_value_get_int(v));
    *out = mm_value_get_int(v);
    return MM_OK;
}

static int resume(mm_runner *r, const char *path, mm_checkpoint *ck) {
    int rc = load_weights(r, path, ck);
    if (rc)
        return rc;
    const mm_value *meta = mm_checkpoint_get_meta(ck, "meta");
    int64_t epoch = 0, iter = 0;
    if ((rc = get_meta_int(meta, "epoch", &epoch)) ||
        (rc = get_meta_int(meta, "iter", &iter)))
        return mm_error_context(rc, NULL, "%s", path);
    if (r->train_loop) {
        r->epoch = epoch;
        r->iter = iter;
        if (r->train_loop->kind == LOOP_EPOCH_TRAIN) {
            int64_t len = (int64_t)mm_dataloader_len(r->train_dl);
            r->resume_skip = iter - epoch * len;
            if (r->resume_skip < 0 || r->resume_skip > len)
                return mm_error_set(MM_EINVAL,
                                    "%s: epoch %lld and iter %lld do not fit "
                                    "an epoch of %lld iterations (was the "
                                    "batch size changed?)",
                                    path, (long long)epoch, (long long)iter,
                                    (long long)len);
        }
    }
    const mm_value *dm = meta ? mm_value_dict_get(meta, "dataset_meta") : NULL;
    if (r->train_dl && dm &&
        !mm_value_equal(
            dm, mm_dataset_metainfo(mm_dataloader_dataset(r->train_dl))))
        MM_WARN("The dataset metainfo from the resumed checkpoint is different "
                "from the current training dataset, please check the "
                "correctness of the checkpoint or the training dataset.");
    const mm_value *hub = mm_checkpoint_get_meta(ck, "message_hub");
    if (hub && (rc = mm_message_hub_load_state(r->hub, hub)))
        return mm_error_context(rc, NULL, "%s", path);
    const mm_value *opt = mm_checkpoint_get_meta(ck, "optimizer");
    if (opt && r->ow) {
        mm_state_dict sd = {0};
        rc = mm_checkpoint_state_dict(ck, "optimizer.", &sd);
        if (!rc)
            rc = mm_optim_wrapper_load_state_dict(r->ow, &sd, opt);
        mm_state_dict_clear(&sd);
        free(sd.items);
        if (rc)
            return mm_error_context(rc, NULL, "%s: optimizer", path);
    }
    const mm_value *ps = mm_checkpoint_get_meta(ck, "param_schedulers");
    if (ps && r->n_scheds) {
        if (!mm_value_is_list(ps) || mm_value_len(ps) != r->n_scheds)
            return mm_error_set(MM_EINVAL,
                                "%s: the checkpoint has %zu parameter "
                                "schedulers, the config %zu",
                                path, mm_value_len(ps), r->n_scheds);
        for (size_t i = 0; i < r->n_scheds; i++)
            if ((rc = mm_param_scheduler_load_state(r->scheds[i],
                                                    mm_value_list_get(ps, i))))
                return mm_error_context(rc, NULL, "%s: param_scheduler %zu",
                                        path, i);
    }
    const mm_value *rng = mm_checkpoint_get_meta(ck, "rng_state");
    const mm_value *s = rng ? mm_value_dict_get(rng, "seed") : NULL;
    const mm_value *o = rng ? mm_value_dict_get(rng, "offset") : NULL;
    if (s && o && mm_value_is_int(s) && mm_value_is_int(o))
        mm_generator_set_state(
            mm_default_generator(),
            (mm_rng_state){.seed = (uint64_t)mm_value_get_int(s),
                           .offset = (uint64_t)mm_value_get_int(o)});
    MM_INFO("resumed epoch: %lld, iter: %lld", (long long)r->epoch,
            (long long)r->iter);
    return MM_OK;
}

static int load_or_resume(mm_runner *r) {
    if (r->has_loaded)
        return MM_OK;
    int rc = MM_OK;
    if (r->resume && r->load_from) {
        mm_checkpoint *ck = r->resume_ck;
        r->resume_ck = NULL;
        if (!ck)
            rc = load_named_checkpoint(r, r->load_from, &ck);
        if (!rc) {
            MM_INFO("Auto resumed from the latest checkpoint %s.",
                    r->load_from);
            rc = resume(r, r->load_from, ck);
        }
        mm_checkpoint_free(ck);
    } else if (r->load_from) {
        mm_checkpoint *ck = NULL;
        rc = load_named_checkpoint(r, r->load_from, &ck);
        if (!rc)
            rc = load_weights(r, r->load_from, ck);
        mm_checkpoint_free(ck);
    }
    if (!rc)
        r->has_loaded = true;
    return rc;
}

int mm_runner_save_interrupted(mm_runner *r) {
    r->interrupted = true;
    char name[64];
    int64_t len = r->train_dl ? (int64_t)mm_dataloader_len(r->train_dl) : 0;
    bool at_epoch_end =
        r->train_loop->kind == LOOP_EPOCH_TRAIN && r->iter == r->epoch * len;
    if (at_epoch_end)
        snprintf(name, sizeof name, "epoch_%lld.safetensors",
                 (long long)r->epoch);
    else
        snprintf(name, sizeof name, "iter_%lld.safetensors",
                 (long long)r->iter);
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/%s", r->work_dir, name);
    int rc = mm_runner_save_checkpoint(r, r->work_dir, name, true, true,
                                       r->epoch, r->iter);
    if (!rc)
        rc = mm_runner_write_last_checkpoint(r, path);
    if (!rc)
        MM_INFO("Interrupted at epoch %lld, iter %lld: saved %s",
                (long long)r->epoch, (long long)r->iter, path);
    return rc;
}

/* ---- runs ---------------------------------------------------------------- */

int mm_runner_train(mm_runner *r) {
    int rc = build_train(r);
    if (!rc)
        rc = mm_runner_call_hook(r, MM_HOOK_BEFORE_RUN, NULL);
    if (!rc)
        rc = init_model_weights(r);
    if (!rc)
        rc = load_or_resume(r);
    if (!rc)
        mm_optim_wrapper_init_counts(r->ow, r->iter, r->train_loop->max_iters);
    if (!rc)
        rc = mm_loop_run_train(r, r->train_loop);
    if (!rc && !r->interrupted)
        rc = mm_runner_call_hook(r, MM_HOOK_AFTER_RUN, NULL);
    return rc;
}

/* Runner.val / Runner.test: the loop built on first use, before_run, the
 * weights, the loop, after_run. */
static int run_eval(mm_runner *r, bool val, mm_value **metrics) {
    int rc = MM_OK;
    bool *tried = val ? &r->val_tried : &r->test_tried;
    if (!*tried) {
        *tried = true;
        rc = build_eval_loop(r, val);
    }
    mm_loop *loop = val ? r->val_loop : r->test_loop;
    if (!rc && !loop)
        rc = mm_error_set(MM_EINVAL,
                          val ? "val: the config has no val_dataloader, "
                                "val_cfg and val_evaluator"
                              : "test: the config has no test_dataloader, "
                                "test_cfg and test_evaluator");
    if (!rc)
        rc = mm_runner_call_hook(r, MM_HOOK_BEFORE_RUN, NULL);
    if (!rc)
        rc = load_or_resume(r);
    mm_value *m = NULL;
    if (!rc)
        rc = val ? mm_loop_run_val(r, loop, &m) : mm_loop_run_test(r, loop, &m);
    if (!rc)
        rc = mm_runner_call_hook(r, MM_HOOK_AFTER_RUN, NULL);
    if (!rc && metrics)
        *metrics = m;
    else
        mm_value_release(m);
    return rc;
}

int mm_runner_val(mm_runner *r, mm_value **metrics) {
    return run_eval(r, true, metrics);
}

int mm_runner_test(mm_runner *r, mm_value **metrics) {
    return run_eval(r, false, metrics);
}

/* ---- scalars.json -------------------------------------------------------- */

static int append_line(const char *path, const char *line) {
    FILE *f = fopen(path, "a");
    if (!f)
        return mm_error_set(MM_EIO, "cannot open '%s': %s", path,
                            strerror(errno));
    bool ok = fputs(line, f) >= 0 && fputc('\n', f) != EOF;
    ok = fclose(f) == 0 && ok;
    return ok ? MM_OK : mm_error_set(MM_EIO, "cannot write '%s'", path);
}

int mm_runner_add_scalars(mm_runner *r, const mm_value *tag, int64_t step) {
    mm_value *d = mm_value_copy(tag);
    if (!d)
        return oom();
    int rc =
        mm_value_dict_get(d, "step") ? MM_OK : dict_set_int(d, "step", step);
    char *json = NULL;
    if (!rc)
        rc = mm_json_dump(d, 0, &json);
    mm_value_release(d);
    char path[PATH_LEN];
    for (size_t i = 0; !rc && i < r->vis->n; i++) {
        const mm_vis_backend *b = &r->vis->backends[i];
        snprintf(path, sizeof path, "%s/%s.json", backend_dir(r, b),
                 r->timestamp);
        rc = append_line(path, json);
        snprintf(path, sizeof path, "%s/%s", backend_dir(r, b), b->scalar_file);
        if (!rc)
            rc = append_line(path, json);
    }
    free(json);
    return rc;
}

/* ---- accessors ----------------------------------------------------------- */

void mm_runner_interrupt(mm_runner *r) { atomic_store(&r->interrupt, 1); }
bool mm_runner_interrupted(const mm_runner *r) { return r->interrupted; }
void mm_runner_stop_training(mm_runner *r) { r->stop_training = true; }
int64_t mm_runner_epoch(const mm_runner *r) { return r->epoch; }
int64_t mm_runner_iter(const mm_runner *r) { return r->iter; }
int64_t mm_runner_max_epochs(const mm_runner *r) {
    return r->train_loop ? r->train_loop->max_epochs : 0;
}
int64_t mm_runner_max_iters(const mm_runner *r) {
    return r->train_loop ? r->train_loop->max_iters : 0;
}
bool mm_runner_has_train_loop(const mm_runner *r) {
    return r->train_loop != NULL;
}
bool mm_runner_train_by_epoch(const mm_runner *r) {
    return r->train_loop && r->train_loop->kind == LOOP_EPOCH_TRAIN;
}
const mm_value *mm_runner_cfg(const mm_runner *r) { return r->cfg; }
const char *mm_runner_default_scope(const mm_runner *r) { return r->scope; }
mm_module *mm_runner_model(const mm_runner *r) { return r->model; }
mm_optim_wrapper *mm_runner_optim_wrapper(const mm_runner *r) { return r->ow; }
mm_param_scheduler *const *mm_runner_param_schedulers(const mm_runner *r,
                                                      size_t *n) {
    *n = r->n_scheds;
    return r->scheds;
}
mm_dataloader *mm_runner_train_dataloader(const mm_runner *r) {
    return r->train_dl;
}
mm_dataloader *mm_runner_val_dataloader(const mm_runner *r) {
    return r->val_dl;
}
mm_dataloader *mm_runner_test_dataloader(const mm_runner *r) {
    return r->test_dl;
}
mm_message_hub *mm_runner_message_hub(const mm_runner *r) { return r->hub; }
const mm_log_processor *mm_runner_log_processor(const mm_runner *r) {
    return r->lp;
}
const char *mm_runner_work_dir(const mm_runner *r) { return r->work_dir; }
const char *mm_runner_log_dir(const mm_runner *r) { return r->log_dir; }
const char *mm_runner_timestamp(const mm_runner *r) { return r->timestamp; }
const char *mm_runner_experiment_name(const mm_runner *r) {
    return r->experiment_name;
}
uint64_t mm_runner_seed(const mm_runner *r) { return r->seed; }
bool mm_runner_resuming(const mm_runner *r) { return r->resume; }

void mm_runner_log_state(const mm_runner *r, const char *mode,
                         mm_log_state *st) {
    mm_dataloader *dl = strcmp(mode, "train") == 0 ? r->train_dl
                        : strcmp(mode, "val") == 0 ? r->val_dl
                                                   : r->test_dl;
    *st = (mm_log_state){
        .hub = r->hub,
        .epoch = r->epoch,
        .iter = r->iter,
        .max_epochs = mm_runner_max_epochs(r),
        .max_iters = mm_runner_max_iters(r),
        .has_train_loop = r->train_loop != NULL,
        .dataloader_len = dl ? (int64_t)mm_dataloader_len(dl) : 0,
        .memory_mib = (int64_t)mm_memory_peak_mib(MM_CPU),
    };
    /* mmengine reads the peak since the last log line. */
    mm_memory_reset_peak(MM_CPU);
}

/* The core scope's runner components. */
int mm_runner_register(void);
int mm_runner_register(void) {
    int rc = mm_loops_register();
    if (!rc)
        rc = mm_hooks_register();
    if (!rc)
        rc = mm_custom_hooks_register();
    if (!rc)
        rc = mm_register(&mm_evaluator_component);
    if (!rc)
        rc = mm_vis_register();
    return rc;
}
