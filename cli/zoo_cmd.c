/* mm zoo list|show: the model zoo index, read from every
 * configs/<scope>/<algo>/metafile.yaml (mmpretrain's metafile format:
 * Collections + Models, each model with Name, In Collection, Metadata
 * (FLOPs, Parameters), Results, Weights and Config). A config root is a
 * directory holding configs/, found as `mm run` finds configs: relative
 * to the current directory (the source tree), or given with --root. Config
 * paths in metafiles are relative to the root, and must exist. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <sys/stat.h>

#include "cli.h"
#include "mm/error.h"
#include "mm/tensor.h"
#include "mm/value.h"

static const char usage[] =
    "usage: mm zoo list [--scope S] [--task T] [--root DIR]\n"
    "       mm zoo show NAME [--root DIR]\n"
    "\n"
    "list   one line per model of every configs/**/metafile.yaml: name,\n"
    "       collection, parameters (M), FLOPs (G) and config; --scope keeps\n"
    "       the models of configs/<S>/ (mmcls, mmdet, ...), --task those of\n"
    "       a task (Image Classification, ...; case-insensitive substring)\n"
    "show   one model's entry: its metafile, collection, metadata, config,\n"
    "       weights and results\n"
    "\n"
    "--root DIR   the directory holding configs/ (default: the current\n"
    "             directory, as 'mm run' resolves config paths)\n"
    "\n"
    "A malformed metafile is one error line naming its file:line.\n"
    "See docs/zoo.md.\n";

/* One metafile: its path, scope (configs/<scope>/...) and parsed text. */
typedef struct metafile {
    char *path;
    char *scope;
    mm_value *doc;
} metafile;

typedef struct zoo {
    const char *root;
    metafile *files;
    size_t n, cap;
} zoo;

static void zoo_free(zoo *z) {
    for (size_t i = 0; i < z->n; i++) {
        free(z->files[i].path);
        free(z->files[i].scope);
        mm_value_release(z->files[i].doc);
    }
    free(z->files);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_file(zoo *z, const char *path, const char *scope) {
    if (z->n == z->cap) {
        size_t cap = z->cap ? 2 * z->cap : 16;
        metafile *f = realloc(z->files, cap * sizeof *f);
        if (!f)
            return mm_error_set(MM_ENOMEM, "out of memory");
        z->files = f;
        z->cap = cap;
    }
    metafile *f = &z->files[z->n];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->scope = strdup(scope);
    if (!f->path || !f->scope) {
        free(f->path);
        free(f->scope);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    char *text = NULL;
    size_t len = 0;
    int rc = mm_file_read(path, &text, &len);
    if (!rc)
        rc = mm_yaml_parse(text, len, f->path, &f->doc);
    free(text);
    z->n++; /* freed by zoo_free even when the parse failed */
    return rc;
}

/* Every metafile.yaml under dir (sorted names, so the order is stable);
 * scope: the first directory below configs/. */
static int walk(zoo *z, const char *dir, const char *scope, int depth) {
    if (depth > 8)
        return MM_OK;
    DIR *d = opendir(dir);
    if (!d)
        return mm_error_set(MM_ENOENT, "%s: cannot read the directory", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = MM_OK;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = mm_error_set(MM_ENOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
        else
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && strcmp(names[i], "_base_") != 0)
            rc = walk(z, path, scope ? scope : names[i], depth + 1);
        else if (S_ISREG(st.st_mode) && scope &&
                 strcmp(names[i], "metafile.yaml") == 0)
            rc = add_file(z, path, scope);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static const mm_value *get(const mm_value *d, const char *k) {
    return mm_value_is_dict(d) ? mm_value_dict_get(d, k) : NULL;
}

static const char *get_str(const mm_value *d, const char *k) {
    const mm_value *v = get(d, k);
    return mm_value_is_string(v) ? mm_value_get_string(v) : NULL;
}

static const mm_srcloc *loc_or(const mm_value *v, const mm_value *parent) {
    return v ? mm_value_loc(v) : mm_value_loc(parent);
}

/* The collection named `name` of the metafile, or NULL. */
static const mm_value *find_collection(const mm_value *doc,
                                       const char *name) {
    const mm_value *cs = get(doc, "Collections");
    for (size_t i = 0; name && i < mm_value_len(cs); i++) {
        const mm_value *c = mm_value_list_get(cs, i);
        const char *n = get_str(c, "Name");
        if (n && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

/* The metafile's structure: Collections (optional, each with a Name) and
 * Models, each with Name, Config (an existing file under the root),
 * In Collection (one of Collections when given), Metadata with numeric or
 * null FLOPs / Parameters. */
static int check_metafile(const zoo *z, const metafile *f) {
    const mm_value *doc = f->doc;
    if (!mm_value_is_dict(doc))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(doc),
                               "a metafile is a mapping with Collections and "
                               "Models");
    const mm_value *cs = get(doc, "Collections");
    if (cs && !mm_value_is_null(cs) && !mm_value_is_list(cs))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(cs),
                               "Collections: expected a list");
    for (size_t i = 0; i < mm_value_len(cs); i++) {
        const mm_value *c = mm_value_list_get(cs, i);
        if (!get_str(c, "Name"))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(c),
                                   "Collections.%zu: needs a Name", i);
    }
    const mm_value *models = get(doc, "Models");
    if (!mm_value_is_list(models))
        return mm_error_set_at(MM_EINVAL, loc_or(models, doc),
                               "Models: expected a list of models");
    for (size_t i = 0; i < mm_value_len(models); i++) {
        const mm_value *m = mm_value_list_get(models, i);
        const char *name = get_str(m, "Name");
        if (!mm_value_is_dict(m) || !name)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(m),
                                   "Models.%zu: needs a Name", i);
        const char *coll = get_str(m, "In Collection");
        if (get(m, "In Collection") && (!coll || !find_collection(doc, coll)))
            return mm_error_set_at(MM_EINVAL,
                                   mm_value_loc(get(m, "In Collection")),
                                   "Models.%zu (%s): In Collection names no "
                                   "collection of this metafile",
                                   i, name);
        const mm_value *md = get(m, "Metadata");
        if (md && !mm_value_is_null(md) && !mm_value_is_dict(md))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(md),
                                   "Models.%zu (%s): Metadata: expected a "
                                   "mapping",
                                   i, name);
        static const char *const nums[] = {"FLOPs", "Parameters"};
        for (int k = 0; k < 2; k++) {
            const mm_value *v = get(md, nums[k]);
            if (v && !mm_value_is_null(v) && !mm_value_is_number(v))
                return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                                       "Models.%zu (%s): Metadata.%s: "
                                       "expected a number",
                                       i, name, nums[k]);
        }
        const mm_value *cfg = get(m, "Config");
        if (!mm_value_is_string(cfg))
            return mm_error_set_at(MM_EINVAL, loc_or(cfg, m),
                                   "Models.%zu (%s): needs a Config (the "
                                   "config's path from the root)",
                                   i, name);
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", z->root, mm_value_get_string(cfg));
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            return mm_error_set_at(MM_ENOENT, mm_value_loc(cfg),
                                   "Models.%zu (%s): Config '%s' does not "
                                   "exist",
                                   i, name, mm_value_get_string(cfg));
    }
    return MM_OK;
}

/* Read and check every metafile of the root; a model name must be unique
 * across them. */
static int zoo_load(zoo *z, const char *root) {
    memset(z, 0, sizeof *z);
    z->root = root;
    char dir[4096];
    struct stat st;
    if (strcmp(root, ".") == 0)
        snprintf(dir, sizeof dir, "configs");
    else
        snprintf(dir, sizeof dir, "%s/configs", root);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mm_error_set(MM_ENOENT,
                            "%s: no configs/ directory (run mm from the "
                            "source tree or give --root DIR)",
                            root);
    MM_TRY(walk(z, dir, NULL, 0));
    for (size_t i = 0; i < z->n; i++)
        MM_TRY(check_metafile(z, &z->files[i]));
    for (size_t i = 0; i < z->n; i++) {
        const mm_value *ms = get(z->files[i].doc, "Models");
        for (size_t a = 0; a < mm_value_len(ms); a++) {
            const mm_value *m = mm_value_list_get(ms, a);
            const char *name = get_str(m, "Name");
            for (size_t j = 0; j <= i; j++) {
                const mm_value *os = get(z->files[j].doc, "Models");
                size_t end = j == i ? a : mm_value_len(os);
                for (size_t b = 0; b < end; b++) {
                    const mm_value *o = mm_value_list_get(os, b);
                    if (strcmp(get_str(o, "Name"), name) == 0) {
                        char where[512];
                        return mm_error_set_at(
                            MM_EEXIST, mm_value_loc(get(m, "Name")),
                            "model '%s' is also defined at %s", name,
                            mm_srcloc_format(mm_value_loc(get(o, "Name")),
                                             where, sizeof where));
                    }
                }
            }
        }
    }
    return MM_OK;
}

/* The task of a model: its first Results entry's Task, else its scope's. */
static const char *model_task(const mm_value *m, const char *scope) {
    const mm_value *r = get(m, "Results");
    const char *t = mm_value_is_list(r) && mm_value_len(r)
                        ? get_str(mm_value_list_get(r, 0), "Task")
                        : NULL;
    if (t)
        return t;
    static const char *const tasks[][2] = {
        {"mmcls", "Image Classification"},
        {"mmdet", "Object Detection"},
        {"mmseg", "Semantic Segmentation"},
        {"mmpose", "Pose Estimation"},
        {"mmocr", "Text Recognition"},
        {"mmaction", "Action Recognition"},
        {"mmedit", "Image Restoration"},
    };
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
        if (strcmp(scope, tasks[i][0]) == 0)
            return tasks[i][1];
    return "-";
}

/* Does s contain sub, ignoring ASCII case? */
static bool contains_ci(const char *s, const char *sub) {
    size_t n = strlen(sub);
    for (; *s; s++) {
        size_t k = 0;
        while (k < n && s[k] &&
               tolower((unsigned char)s[k]) == tolower((unsigned char)sub[k]))
            k++;
        if (k == n)
            return true;
    }
    return n == 0;
}

/* mmengine's _format_size (3 decimals, K/M/G/T above 1e2/1e5/1e8/1e11),
 * or "-" when the metafile gives no number. */
static void fmt_num(const mm_value *v, char *buf, size_t size) {
    if (!v || !mm_value_is_number(v)) {
        snprintf(buf, size, "-");
        return;
    }
    static const struct {
        double above, div;
        const char *suffix;
    } units[] = {{1e11, 1e12, "T"}, {1e8, 1e9, "G"}, {1e5, 1e6, "M"},
                 {1e2, 1e3, "K"}};
    double x = mm_value_get_float(v);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (x > units[i].above) {
            char num[64];
            snprintf(num, sizeof num, "%.3f", x / units[i].div);
            size_t n = strlen(num);
            while (n > 0 && num[n - 1] == '0')
                num[--n] = '\0';
            if (n > 0 && num[n - 1] == '.')
                num[--n] = '\0';
            snprintf(buf, size, "%s%s", num, units[i].suffix);
            return;
        }
    snprintf(buf, size, "%.0f", x);
}

static int cmd_list(const char *root, const char *scope, const char *task) {
    zoo z;
    int rc = zoo_load(&z, root);
    if (rc) {
        zoo_free(&z);
        return mm_cli_fail();
    }
    /* column widths over the rows that pass the filters */
    size_t wn = strlen("Name"), wc = strlen("Collection"), rows = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            printf("%-*s  %-*s  %10s  %9s  %s\n", (int)wn, "Name", (int)wc,
                   "Collection", "Params", "FLOPs", "Config");
        for (size_t i = 0; i < z.n; i++) {
            const metafile *f = &z.files[i];
            if (scope && strcmp(scope, f->scope) != 0)
                continue;
            const mm_value *ms = get(f->doc, "Models");
            for (size_t k = 0; k < mm_value_len(ms); k++) {
                const mm_value *m = mm_value_list_get(ms, k);
                if (task && !contains_ci(model_task(m, f->scope), task))
                    continue;
                const char *name = get_str(m, "Name");
                const char *coll = get_str(m, "In Collection");
                if (pass == 0) {
                    size_t a = strlen(name), b = coll ? strlen(coll) : 1;
                    wn = a > wn ? a : wn;
                    wc = b > wc ? b : wc;
                    rows++;
                    continue;
                }
                const mm_value *md = get(m, "Metadata");
                char params[32], flops[32];
                fmt_num(get(md, "Parameters"), params, sizeof params);
                fmt_num(get(md, "FLOPs"), flops, sizeof flops);
                printf("%-*s  %-*s  %10s  %9s  %s\n", (int)wn, name, (int)wc,
                       coll ? coll : "-", params, flops,
                       get_str(m, "Config"));
            }
        }
    }
    printf("%zu model%s\n", rows, rows == 1 ? "" : "s");
    zoo_free(&z);
    return fflush(stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
}

/* YAML of v, indented by `indent` spaces after the first line. */
static int print_yaml(const char *key, const mm_value *v) {
    mm_value *d = mm_value_new_dict();
    char *text = NULL;
    int rc = d ? mm_value_dict_set(d, key, (mm_value *)v)
               : mm_error_set(MM_ENOMEM, "out of memory");
    if (!rc)
        rc = mm_yaml_dump(d, &text);
    if (!rc)
        fputs(text, stdout);
    free(text);
    mm_value_release(d);
    return rc;
}

static int cmd_show(const char *root, const char *name) {
    zoo z;
    int rc = zoo_load(&z, root);
    for (size_t i = 0; !rc && i < z.n; i++) {
        const mm_value *ms = get(z.files[i].doc, "Models");
        for (size_t k = 0; k < mm_value_len(ms); k++) {
            const mm_value *m = mm_value_list_get(ms, k);
            if (strcmp(get_str(m, "Name"), name) != 0)
                continue;
            const char *coll = get_str(m, "In Collection");
            printf("Metafile: %s:%d\n", z.files[i].path,
                   mm_value_loc(m) ? mm_value_loc(m)->line : 0);
            printf("Task: %s\n", model_task(m, z.files[i].scope));
            rc = print_yaml("Model", m);
            const mm_value *c = find_collection(z.files[i].doc, coll);
            if (!rc && c)
                rc = print_yaml("Collection", c);
            zoo_free(&z);
            if (rc)
                return mm_cli_fail();
            return fflush(stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
        }
    }
    if (!rc)
        mm_error_set(MM_ENOENT,
                     "zoo: no model named '%s' (see 'mm zoo list')", name);
    zoo_free(&z);
    return mm_cli_fail();
}

int mm_cli_zoo(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MM_EXIT_USAGE : MM_EXIT_OK;
    }
    const char *sub = argv[1], *root = ".", *scope = NULL, *task = NULL,
               *name = NULL;
    for (int i = 2; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "--root")    ? &root
                           : !strcmp(argv[i], "--scope") ? &scope
                           : !strcmp(argv[i], "--task")  ? &task
                                                         : NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return MM_EXIT_OK;
        } else if (dst) {
            if (i + 1 >= argc)
                return mm_cli_usage_error("zoo", "%s needs a value", argv[i]);
            *dst = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return mm_cli_usage_error("zoo", "unknown option '%s'", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            return mm_cli_usage_error("zoo", "unexpected argument '%s'",
                                      argv[i]);
        }
    }
    if (strcmp(sub, "list") == 0) {
        if (name)
            return mm_cli_usage_error("zoo", "unexpected argument '%s'", name);
        return cmd_list(root, scope, task);
    }
    if (strcmp(sub, "show") == 0) {
        if (!name)
            return mm_cli_usage_error("zoo", "show needs a model NAME");
        if (scope || task)
            return mm_cli_usage_error("zoo", "show takes no --scope/--task");
        return cmd_show(root, name);
    }
    return mm_cli_usage_error("zoo", "unknown subcommand '%s'", sub);
}
