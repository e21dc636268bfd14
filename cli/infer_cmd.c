/* mm infer: classify images with a config and a checkpoint
 * (<mm/apis.h>), as mmpretrain's ImageClassificationInferencer. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mm/apis.h"
#include "mm/image.h"
#include "mm/log.h"
#include "mm/tensor.h"

static const char usage[] =
    "usage: mm infer CONFIG CHECKPOINT INPUT... [--topk K] [--out FILE]\n"
    "                [--out-dir DIR] [--batch-size N] [--device cpu]\n"
    "\n"
    "Classify images with the model of CONFIG and the weights of\n"
    "CHECKPOINT (any checkpoint mm reads; `none` keeps the model's initial\n"
    "weights), through the config's test pipeline. Each INPUT is an image,\n"
    "a folder (searched recursively for .jpg .jpeg .png .bmp .ppm .pgm\n"
    ".tga .gif), or a list file (.txt, .list: one image path per line,\n"
    "relative to the list's folder).\n"
    "\n"
    "  --topk K        print the K best classes per image (default 5)\n"
    "  --out FILE      write the predictions as JSON (default with --out-dir:\n"
    "                  DIR/predictions.json)\n"
    "  --out-dir DIR   also write each image with its top class drawn on it\n"
    "  --batch-size N  images per forward pass (default 1)\n"
    "  --device cpu    where to run (this build: the CPU)\n"
    "\n"
    "Class names come from the checkpoint's dataset_meta or the config's\n"
    "test dataset. See docs/inference.md.\n";

typedef struct paths {
    size_t n, cap;
    char **v;
} paths;

static int push(paths *p, const char *s) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        char **v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return mm_error_set(MM_ENOMEM, "out of memory");
        p->v = v;
        p->cap = cap;
    }
    if (!(p->v[p->n] = strdup(s)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    p->n++;
    return MM_OK;
}

static void paths_free(paths *p) {
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
}

static bool has_ext(const char *name, const char *const *exts) {
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && exts[i]; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return true;
    return false;
}

static const char *const image_exts[] = {"jpg", "jpeg", "png", "bmp", "ppm",
                                         "pgm", "tga", "gif", NULL};
static const char *const list_exts[] = {"txt", "list", NULL};

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every image under dir, sorted within each folder. */
static int walk(const char *dir, paths *out) {
    DIR *d = opendir(dir);
    if (!d)
        return mm_error_set(MM_ENOENT, "%s: cannot open folder: %s", dir,
                            strerror(errno));
    paths here = {0};
    int rc = MM_OK;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char full[PATH_MAX];
        if (snprintf(full, sizeof full, "%s/%s", dir, e->d_name) >=
            (int)sizeof full) {
            rc = mm_error_set(MM_EINVAL, "%s/%s: path too long", dir,
                              e->d_name);
            break;
        }
        rc = push(&here, full);
    }
    closedir(d);
    if (here.n)
        qsort(here.v, here.n, sizeof here.v[0], cmp_str);
    for (size_t i = 0; !rc && i < here.n; i++) {
        struct stat st;
        if (stat(here.v[i], &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = walk(here.v[i], out);
        else if (has_ext(here.v[i], image_exts))
            rc = push(out, here.v[i]);
    }
    paths_free(&here);
    return rc;
}

/* A list file: one path per line (blank lines and #-comments skipped),
 * relative to the list's folder. */
static int read_list(const char *file, paths *out) {
    FILE *f = fopen(file, "r");
    if (!f)
        return mm_error_set(MM_ENOENT, "%s: cannot open: %s", file,
                            strerror(errno));
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s", file);
    char *slash = strrchr(base, '/');
    if (slash)
        slash[1] = 0;
    else
        base[0] = 0;
    char line[PATH_MAX];
    int rc = MM_OK, lineno = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        char full[PATH_MAX];
        if (snprintf(full, sizeof full, "%s%s", *s == '/' ? "" : base, s) >=
            (int)sizeof full)
            rc = mm_error_set(MM_EINVAL, "%s:%d: path too long", file, lineno);
        else
            rc = push(out, full);
    }
    fclose(f);
    return rc;
}

static int expand(const char *in, paths *out) {
    struct stat st;
    if (stat(in, &st) != 0)
        return mm_error_set(MM_ENOENT, "%s: no such file or folder", in);
    if (S_ISDIR(st.st_mode)) {
        size_t before = out->n;
        MM_TRY(walk(in, out));
        if (out->n == before)
            return mm_error_set(MM_ENOENT, "%s: no images in this folder", in);
        return MM_OK;
    }
    if (has_ext(in, list_exts)) {
        size_t before = out->n;
        MM_TRY(read_list(in, out));
        if (out->n == before)
            return mm_error_set(MM_ENOENT, "%s: lists no images", in);
        return MM_OK;
    }
    return push(out, in);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct topk_item {
    int64_t label;
    double score;
} topk_item;

static int cmp_topk(const void *a, const void *b) {
    const topk_item *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->label > y->label) - (x->label < y->label);
}

static const char *class_name(const mm_value *classes, int64_t k) {
    if (!classes || k < 0 || (size_t)k >= mm_value_len(classes))
        return NULL;
    return mm_value_get_string(mm_value_list_get(classes, (size_t)k));
}

/* The result as the JSON entry: {img_path, pred_label, pred_score,
 * pred_class?, topk: [{label, score, class?}]}, and the printed line. */
static int describe(const char *path, const mm_value *res, int topk,
                    const mm_value *classes, mm_value **entry) {
    mm_tensor *scores =
        mm_tensor_from_value(mm_value_dict_get(res, "pred_scores"));
    int64_t n = scores->numel;
    if (topk > n)
        topk = (int)n;
    topk_item *items = malloc((size_t)n * sizeof *items);
    mm_value *e = mm_value_new_dict(), *list = mm_value_new_list();
    if (!items || !e || !list) {
        free(items);
        mm_value_release(e);
        mm_value_release(list);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        items[i] = (topk_item){i, mm_tensor_get_flat(scores, i)};
    qsort(items, (size_t)n, sizeof *items, cmp_topk);
    printf("%s:", path);
    int rc = mm_value_dict_set_take(e, "img_path", mm_value_new_string(path));
    for (int i = 0; !rc && i < topk; i++) {
        const char *name = class_name(classes, items[i].label);
        if (name)
            printf("  %s (%lld) %.4f", name, (long long)items[i].label,
                   items[i].score);
        else
            printf("  %lld %.4f", (long long)items[i].label, items[i].score);
        mm_value *t = mm_value_new_dict();
        rc = t ? mm_value_dict_set_take(t, "label",
                                        mm_value_new_int(items[i].label))
               : mm_error_set(MM_ENOMEM, "out of memory");
        if (!rc)
            rc = mm_value_dict_set_take(t, "score",
                                        mm_value_new_float(items[i].score));
        if (!rc && name)
            rc = mm_value_dict_set_take(t, "class", mm_value_new_string(name));
        if (!rc)
            rc = mm_value_list_append_take(list, t);
        else
            mm_value_release(t);
    }
    printf("\n");
    static const char *const keys[] = {"pred_label", "pred_score",
                                       "pred_class"};
    for (int i = 0; !rc && i < 3; i++) {
        mm_value *v = mm_value_dict_get(res, keys[i]);
        if (v)
            rc = mm_value_dict_set(e, keys[i], v);
    }
    if (!rc)
        rc = mm_value_dict_set_take(e, "topk", list);
    else
        mm_value_release(list);
    free(items);
    if (rc) {
        mm_value_release(e);
        return rc;
    }
    *entry = e;
    return MM_OK;
}

/* DIR/<name of path> with the top class drawn at the top left. */
static int draw(const char *dir, const char *path, const mm_value *entry,
                int index) {
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *img;
    int rc = mm_image_read(path, MM_IMAGE_COLOR, &img);
    char text[256];
    const mm_value *cls = mm_value_dict_get(entry, "pred_class");
    double score =
        mm_value_get_float(mm_value_dict_get(entry, "pred_score"));
    if (cls)
        snprintf(text, sizeof text, "%s: %.2f", mm_value_get_string(cls),
                 score);
    else
        snprintf(text, sizeof text, "%lld: %.2f",
                 (long long)mm_value_get_int(
                     mm_value_dict_get(entry, "pred_label")),
                 score);
    if (!rc) {
        int h = (int)(img->shape[0] / 16);
        static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
        rc = mm_image_draw_text(img, 8, 8, text, h < 14 ? 14 : h, white,
                                black);
    }
    /* the name of the input, numbered so that same-named inputs from
     * different folders do not collide; .png unless the input is a jpeg */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    bool jpg = dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
    char out[PATH_MAX];
    int stem = dot ? (int)(dot - base) : (int)strlen(base);
    if (!rc && snprintf(out, sizeof out, "%s/%04d_%.*s.%s", dir, index, stem,
                        base, jpg ? "jpg" : "png") >= (int)sizeof out)
        rc = mm_error_set(MM_EINVAL, "%s: output path too long", dir);
    if (!rc)
        rc = mm_image_write(out, img, 95);
    mm_pool_close(pool);
    return rc;
}

typedef struct opts {
    const char *config, *checkpoint, *out, *out_dir, *device;
    int topk, batch;
    paths inputs;
} opts;

static int run(opts *o) {
    mm_inferencer *inf = NULL;
    paths imgs = {0};
    mm_value *all = mm_value_new_list();
    int rc = all ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < o->inputs.n; i++)
        rc = expand(o->inputs.v[i], &imgs);
    if (!rc && o->out_dir && mkdir(o->out_dir, 0755) != 0 && errno != EEXIST)
        rc = mm_error_set(MM_EINVAL, "--out-dir %s: cannot create: %s",
                          o->out_dir, strerror(errno));
    if (!rc)
        rc = mm_init_model(o->config,
                           strcmp(o->checkpoint, "none") ? o->checkpoint
                                                         : NULL,
                           o->device, &inf);
    bool bar = imgs.n > 1 && isatty(STDERR_FILENO);
    double t0 = now_s();
    for (size_t i = 0; !rc && i < imgs.n; i += (size_t)o->batch) {
        size_t n = imgs.n - i < (size_t)o->batch ? imgs.n - i
                                                 : (size_t)o->batch;
        mm_value *res = NULL;
        rc = mm_inference_batch(inf, n, (const char *const *)imgs.v + i,
                                &res);
        if (bar && !rc)
            fputs("\r\033[K", stderr);
        for (size_t j = 0; !rc && j < n; j++) {
            mm_value *e = NULL;
            rc = describe(imgs.v[i + j], mm_value_list_get(res, j), o->topk,
                          mm_inferencer_classes(inf), &e);
            if (!rc && o->out_dir)
                rc = draw(o->out_dir, imgs.v[i + j], e, (int)(i + j));
            if (!rc)
                rc = mm_value_list_append_take(all, e);
        }
        mm_value_release(res);
        fflush(stdout);
        if (bar && !rc)
            mm_progress_print(stderr, (int64_t)(i + n), (int64_t)imgs.n,
                              now_s() - t0);
    }
    char def[PATH_MAX];
    const char *out = o->out;
    if (!out && o->out_dir) {
        snprintf(def, sizeof def, "%s/predictions.json", o->out_dir);
        out = def;
    }
    if (!rc && out) {
        char *text = NULL;
        rc = mm_json_dump(all, 2, &text);
        if (!rc)
            rc = mm_file_write_atomic(out, text, strlen(text));
        free(text);
    }
    mm_value_release(all);
    mm_inferencer_free(inf);
    paths_free(&imgs);
    return rc;
}

int mm_cli_infer(int argc, char **argv) {
    opts o = {.topk = 5, .batch = 1, .device = "cpu"};
    const char *pos[2];
    int np = 0, code = MM_EXIT_OK;
    for (int i = 1; i < argc && code == MM_EXIT_OK; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            paths_free(&o.inputs);
            return MM_EXIT_OK;
        } else if (!strcmp(a, "--topk") && has) {
            o.topk = atoi(argv[++i]);
            if (o.topk < 1)
                code = mm_cli_usage_error("infer", "--topk must be >= 1");
        } else if (!strcmp(a, "--batch-size") && has) {
            o.batch = atoi(argv[++i]);
            if (o.batch < 1)
                code = mm_cli_usage_error("infer", "--batch-size must be >= 1");
        } else if (!strcmp(a, "--out") && has) {
            o.out = argv[++i];
        } else if (!strcmp(a, "--out-dir") && has) {
            o.out_dir = argv[++i];
        } else if (!strcmp(a, "--device") && has) {
            o.device = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            code = mm_cli_usage_error("infer", "unknown option '%s'", a);
        } else if (np < 2) {
            pos[np++] = a;
        } else if (push(&o.inputs, a) != MM_OK) {
            code = mm_cli_fail();
        }
    }
    if (code == MM_EXIT_OK && (np < 2 || o.inputs.n == 0))
        code = mm_cli_usage_error("infer", "needs CONFIG, CHECKPOINT and at "
                                           "least one INPUT");
    if (code == MM_EXIT_OK) {
        o.config = pos[0];
        o.checkpoint = pos[1];
        code = run(&o) == MM_OK ? MM_EXIT_OK : mm_cli_fail();
    }
    paths_free(&o.inputs);
    return code;
}
