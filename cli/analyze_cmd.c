/* mm analyze complexity: a model's parameters, FLOPs and activations,
 * counted as mmengine's get_model_complexity_info counts them
 * (mmengine.analysis, fvcore's rules) and printed as mmpretrain's
 * tools/analysis_tools/get_flops.py prints them: mmengine's per-module
 * table, then the totals.
 *
 * Counting is by tracing: the model runs once on a random (1, C, H, W)
 * batch in eval mode with an op observer (mm_ops_set_observer) and a
 * module forward hook (mm_module_set_forward_hook). Each op is charged to
 * the module whose parameter it reads (so typed calls inside a backbone
 * are attributed right), else to the innermost module being run, and to
 * all of that module's ancestors. The FLOP rules (one FLOP = one
 * multiply-add) are fvcore's handles as mmengine registers them:
 *   conv            N * prod(weight) * prod(out spatial) (transposed: in;
 *                   conv_fused called directly counts as a conv: a batch
 *                   norm folded into it is not seen)
 *   matmul/linear   prod(a) * b[-1]   (attention's two products included)
 *   batch_norm      eval: numel * (2 affine | 1); training: numel * (5 | 4)
 *   layer/group_norm, instance_norm   numel * (5 affine | 4)
 *   adaptive_avg_pool2d   input numel;  upsample_nearest2d   output numel
 *   upsample_bilinear2d, grid_sampler  4 * output numel
 * and nothing for activations, element-wise ops, max/avg pooling, softmax.
 * Activations are the output elements of conv and matmul.
 *
 * As get_flops.py does, a model with a backbone is run as extract_feat
 * (backbone, then neck): the head's FLOPs are not counted, its parameters
 * are. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm/autograd.h"
#include "mm/config.h"
#include "mm/nn.h"
#include "mm/ops.h"
#include "mm/registry.h"
#include "mm/rng.h"

static const char usage[] =
    "usage: mm analyze complexity CONFIG [--shape H [W]] [--channels C]\n"
    "                             [--max-depth D] [key=value ...]\n"
    "\n"
    "complexity   build the config's model, run it once on a random\n"
    "             (1, C, H, W) batch and print mmengine's complexity table\n"
    "             (parameters or shape, FLOPs and activations per module,\n"
    "             D levels deep, default 3) and the totals, as mmpretrain's\n"
    "             tools/analysis_tools/get_flops.py does. A model with a\n"
    "             backbone runs backbone + neck (the head's FLOPs are not\n"
    "             counted); one FLOP is one multiply-add.\n"
    "\n"
    "--shape H [W]   input size (default 224 224; one value: square)\n"
    "--channels C    input channels (default: the data_preprocessor's mean\n"
    "                count, else 3)\n"
    "\n"
    "See docs/zoo.md.\n";

/* ---- the module tree ------------------------------------------------------ */

typedef struct mod_info {
    char *name;     /* "" for the root, "backbone.layer1.0" */
    mm_module *m;
    int parent;     /* index, -1 for the root */
    int64_t params; /* parameters of the subtree */
    int64_t flops, acts;
    bool called;
} mod_info;

typedef struct param_info {
    char *name;
    mm_tensor *t;
    int owner; /* module index */
} param_info;

typedef struct analysis {
    mod_info *mods;
    size_t n_mods, cap_mods;
    param_info *params;
    size_t n_params, cap_params;
    int stack[256];
    int depth;
} analysis;

static void analysis_free(analysis *a) {
    for (size_t i = 0; i < a->n_mods; i++)
        free(a->mods[i].name);
    for (size_t i = 0; i < a->n_params; i++)
        free(a->params[i].name);
    free(a->mods);
    free(a->params);
}

static int find_module(const analysis *a, const mm_module *m) {
    for (size_t i = 0; i < a->n_mods; i++)
        if (a->mods[i].m == m)
            return (int)i;
    return -1;
}

static int find_module_name(const analysis *a, const char *name, size_t len) {
    for (size_t i = 0; i < a->n_mods; i++)
        if (strlen(a->mods[i].name) == len &&
            strncmp(a->mods[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

static int add_module(const char *name, mm_module *m, void *user) {
    analysis *a = user;
    if (a->n_mods == a->cap_mods) {
        size_t cap = a->cap_mods ? 2 * a->cap_mods : 64;
        mod_info *p = realloc(a->mods, cap * sizeof *p);
        if (!p)
            return mm_error_set(MM_ENOMEM, "out of memory");
        a->mods = p;
        a->cap_mods = cap;
    }
    mod_info *mi = &a->mods[a->n_mods];
    memset(mi, 0, sizeof *mi);
    if (!(mi->name = strdup(name)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    mi->m = m;
    const char *dot = strrchr(name, '.');
    mi->parent = !*name ? -1
                 : dot  ? find_module_name(a, name, (size_t)(dot - name))
                        : 0;
    a->n_mods++;
    return MM_OK;
}

static int add_param(const char *name, mm_tensor *t, void *user) {
    analysis *a = user;
    if (a->n_params == a->cap_params) {
        size_t cap = a->cap_params ? 2 * a->cap_params : 64;
        param_info *p = realloc(a->params, cap * sizeof *p);
        if (!p)
            return mm_error_set(MM_ENOMEM, "out of memory");
        a->params = p;
        a->cap_params = cap;
    }
    param_info *pi = &a->params[a->n_params];
    if (!(pi->name = strdup(name)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    pi->t = t;
    const char *dot = strrchr(name, '.');
    pi->owner = dot ? find_module_name(a, name, (size_t)(dot - name)) : 0;
    a->n_params++;
    for (int m = pi->owner; m >= 0; m = a->mods[m].parent)
        a->mods[m].params += t->numel;
    return MM_OK;
}

/* ---- tracing -------------------------------------------------------------- */

static void on_forward(void *user, mm_module *m, bool enter) {
    analysis *a = user;
    if (!enter) {
        if (a->depth > 0)
            a->depth--;
        return;
    }
    int i = find_module(a, m);
    if (a->depth < (int)(sizeof a->stack / sizeof a->stack[0]))
        a->stack[a->depth] = i;
    a->depth++;
    for (; i >= 0; i = a->mods[i].parent)
        a->mods[i].called = true;
}

static int64_t numel(const mm_tensor *t) { return t ? t->numel : 0; }

static int64_t prod(const int64_t *s, int n) {
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        p *= s[i];
    return p;
}

/* fvcore's FLOPs and activations of one op (0, 0 for the ops it skips). */
static void op_cost(const mm_op_event *ev, int64_t *flops, int64_t *acts) {
    const char *n = ev->name;
    mm_tensor *const *in = ev->inputs;
    const mm_tensor *out = ev->out;
    *flops = *acts = 0;
    if (!strcmp(n, "conv") || !strcmp(n, "conv_fused") ||
        !strcmp(n, "conv_transpose")) {
        const mm_tensor *x = in[0], *w = in[1];
        const mm_tensor *sp = !strcmp(n, "conv") ? out : x;
        *flops = x->shape[0] * w->numel * prod(sp->shape + 2, sp->ndim - 2);
        *acts = out->numel;
    } else if (!strcmp(n, "matmul")) {
        const mm_tensor *x = in[0], *y = in[1];
        *flops = x->numel * y->shape[y->ndim - 1];
        *acts = out->numel;
    } else if (!strcmp(n, "batch_norm")) {
        bool affine = in[1] != NULL;
        *flops = in[0]->numel *
                 (ev->training ? (affine ? 5 : 4) : (affine ? 2 : 1));
    } else if (!strcmp(n, "layer_norm") || !strcmp(n, "group_norm") ||
               !strcmp(n, "instance_norm")) {
        *flops = in[0]->numel * (in[1] ? 5 : 4);
    } else if (!strcmp(n, "adaptive_avg_pool2d")) {
        *flops = in[0]->numel;
    } else if (!strcmp(n, "upsample_nearest2d")) {
        *flops = numel(out);
    } else if (!strcmp(n, "upsample_bilinear2d") ||
               !strcmp(n, "grid_sampler")) {
        *flops = 4 * numel(out);
    }
}

static void on_op(void *user, const mm_op_event *ev) {
    analysis *a = user;
    int64_t flops, acts;
    op_cost(ev, &flops, &acts);
    if (!flops && !acts)
        return;
    /* the module whose parameter the op reads, else the innermost one
     * running */
    int target = -1;
    for (int k = 0; k < ev->n_inputs && target < 0; k++) {
        const mm_tensor *t = ev->inputs[k];
        for (size_t p = 0; t && p < a->n_params && target < 0; p++)
            if (a->params[p].t->storage == t->storage)
                target = a->params[p].owner;
    }
    /* torch's MultiheadAttention uses out_proj's weight without calling
     * out_proj, so mmengine charges that product to the attention module
     * and leaves out_proj uncalled; mm's MultiheadAttention mirrors it */
    if (target > 0 && a->mods[target].parent >= 0 &&
        mm_module_is(a->mods[a->mods[target].parent].m,
                     &mm_multihead_attention_class))
        target = a->mods[target].parent;
    if (target < 0)
        target = a->depth > 0 ? a->stack[a->depth - 1] : 0;
    if (target < 0)
        target = 0;
    for (int m = target; m >= 0; m = a->mods[m].parent) {
        a->mods[m].flops += flops;
        a->mods[m].acts += acts;
        a->mods[m].called = true;
    }
}

/* mmpretrain's get_flops: extract_feat (backbone, then neck) when the model
 * has a backbone, else the model's forward. */
static int run_model(mm_module *model, mm_tensor *x) {
    mm_module *backbone = mm_module_get_child(model, "backbone");
    if (!backbone) {
        mm_tensor *y;
        return mm_module_forward1(model, x, &y);
    }
    mm_tensor *feats[MM_MAX_OUTPUTS];
    int n;
    MM_TRY(mm_module_forward_multi(backbone, 1, &x, MM_MAX_OUTPUTS, &n,
                                   feats));
    mm_module *neck = mm_module_get_child(model, "neck");
    if (neck) {
        mm_tensor *in[MM_MAX_OUTPUTS];
        memcpy(in, feats, (size_t)n * sizeof *in);
        MM_TRY(mm_module_forward_multi(neck, n, in, MM_MAX_OUTPUTS, &n,
                                       feats));
    }
    return MM_OK;
}

/* ---- mmengine's table ----------------------------------------------------- */

/* mmengine's _format_size: 3 significant decimals, K/M/G/T/P above 1e2,
 * 1e5, 1e8, 1e11, 1e14. */
static void format_size(int64_t x, char *buf, size_t size) {
    static const struct {
        double above, div;
        const char *suffix;
    } units[] = {{1e14, 1e15, "P"}, {1e11, 1e12, "T"}, {1e8, 1e9, "G"},
                 {1e5, 1e6, "M"},   {1e2, 1e3, "K"}};
    double ax = x < 0 ? -(double)x : (double)x;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ax > units[i].above) {
            char num[64];
            snprintf(num, sizeof num, "%.3f", (double)x / units[i].div);
            size_t n = strlen(num);
            while (n > 0 && num[n - 1] == '0')
                num[--n] = '\0';
            if (n > 0 && num[n - 1] == '.')
                num[--n] = '\0';
            snprintf(buf, size, "%s%s", num, units[i].suffix);
            return;
        }
    }
    snprintf(buf, size, "%" PRId64, x);
}

/* One row of statistics: a name and its three columns, each present or
 * not (a missing column prints empty). */
typedef struct stat_row {
    char *name;
    char col[3][64];
    bool has[3];
    bool removed;
} stat_row;

enum { COL_PARAMS, COL_FLOPS, COL_ACTS };
static const char *const headers[3] = {"#parameters or shape", "#flops",
                                       "#activations"};

typedef struct table {
    stat_row *rows; /* mmengine's statistics dict, in its order */
    size_t n;
    char **out[4]; /* printed cells per column (module + 3) */
    size_t n_out, cap_out;
} table;

static size_t dots(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += *s == '.';
    return n;
}

/* Is `mod` a direct child of prefix ("" or "a.b.")? */
static bool is_child(const char *mod, const char *prefix) {
    return *mod && dots(mod) == dots(prefix) &&
           strncmp(mod, prefix, strlen(prefix)) == 0;
}

static int row_index(const table *t, const char *name) {
    for (size_t i = 0; i < t->n; i++)
        if (!t->rows[i].removed && strcmp(t->rows[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* mmengine's _remove_zero_statistics(require_trivial_children=True). */
static void keep_stat(table *t, size_t i, const bool *zero) {
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s%s", t->rows[i].name,
             *t->rows[i].name ? "." : "");
    bool trivial_children = true;
    for (size_t j = 0; j < t->n; j++)
        if (is_child(t->rows[j].name, prefix)) {
            keep_stat(t, j, zero);
            trivial_children &= t->rows[j].removed;
        }
    bool keep = !zero[i] || i == 0 || !trivial_children;
    t->rows[i].removed = !keep;
}

/* The single child of `name` among the rows, or -1. */
static int single_child(const table *t, const char *name) {
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s%s", name, *name ? "." : "");
    int child = -1;
    for (size_t j = 0; j < t->n; j++) {
        if (t->rows[j].removed || !is_child(t->rows[j].name, prefix))
            continue;
        if (child >= 0)
            return -1;
        child = (int)j;
    }
    return child;
}

/* mmengine's _fastforward: merge a module with its single child while their
 * statistics agree; the index of the row to print. */
static int fastforward(table *t, int i) {
    for (;;) {
        int c = single_child(t, t->rows[i].name);
        if (c < 0)
            return i;
        stat_row *a = &t->rows[i], *b = &t->rows[c];
        for (int k = 0; k < 3; k++)
            if (a->has[k] != b->has[k])
                return i;
        for (int k = 0; k < 3; k++)
            if (a->has[k] && *a->col[k] && *b->col[k] &&
                strcmp(a->col[k], b->col[k]) != 0)
                return i;
        for (int k = 0; k < 3; k++)
            if (a->has[k] && !*b->col[k])
                memcpy(b->col[k], a->col[k], sizeof b->col[k]);
        i = c;
    }
}

static int emit(table *t, const char *name, const stat_row *r, int indent) {
    if (t->n_out == t->cap_out) {
        size_t cap = t->cap_out ? 2 * t->cap_out : 64;
        for (int c = 0; c < 4; c++) {
            char **p = realloc(t->out[c], cap * sizeof *p);
            if (!p)
                return mm_error_set(MM_ENOMEM, "out of memory");
            t->out[c] = p;
        }
        t->cap_out = cap;
    }
    size_t len = strlen(name) + (size_t)indent + 1;
    char *cells[4];
    cells[0] = malloc(len);
    if (cells[0])
        snprintf(cells[0], len, "%*s%s", indent, "", name);
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(r->col[k]) + (size_t)indent + 1;
        cells[k + 1] = malloc(l);
        if (cells[k + 1]) {
            if (r->has[k])
                snprintf(cells[k + 1], l, "%*s%s", indent, "", r->col[k]);
            else
                cells[k + 1][0] = '\0';
        }
    }
    for (int c = 0; c < 4; c++)
        t->out[c][t->n_out] = cells[c];
    t->n_out++;
    for (int c = 0; c < 4; c++)
        if (!cells[c])
            return mm_error_set(MM_ENOMEM, "out of memory");
    return MM_OK;
}

static int fill(table *t, int indent, int max_depth, const char *prefix,
                const char *root_prefix) {
    if (indent > max_depth)
        return MM_OK;
    for (size_t j = 0; j < t->n; j++) {
        if (t->rows[j].removed || !is_child(t->rows[j].name, prefix))
            continue;
        int i = fastforward(t, (int)j);
        const char *name = t->rows[i].name;
        size_t rl = strlen(root_prefix);
        const char *pretty = rl && !strncmp(name, root_prefix, rl) ? name + rl
                                                                   : name;
        MM_TRY(emit(t, pretty, &t->rows[i], indent));
        char sub[1024];
        snprintf(sub, sizeof sub, "%s.", name);
        MM_TRY(fill(t, indent + 1, max_depth, sub, root_prefix));
    }
    return MM_OK;
}

static void print_rule(const size_t *w) {
    for (int c = 0; c < 4; c++) {
        putchar('+');
        for (size_t k = 0; k < w[c] + 2; k++)
            putchar('-');
    }
    puts("+");
}

static void print_cells(const size_t *w, const char *const *cells) {
    for (int c = 0; c < 4; c++)
        printf("| %-*s ", (int)w[c], cells[c]);
    puts("|");
}

/* mmengine's complexity_stats_table(show_param_shapes=True) with
 * activations, in rich's ASCII2 box (never wrapped). */
static int print_table(const analysis *a, int max_depth) {
    /* the statistics dict: parameter prefixes in named_parameters order,
     * then the other modules in named_modules order */
    table t = {0};
    size_t cap = a->n_mods + a->n_params + 1;
    t.rows = calloc(cap, sizeof *t.rows);
    bool *zero = calloc(cap, sizeof *zero);
    int rc = t.rows && zero ? MM_OK : mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t p = 0; !rc && p <= a->n_params; p++) {
        /* p == n_params: the modules without parameters */
        size_t np = p < a->n_params ? 1 : a->n_mods;
        for (size_t q = 0; !rc && q < np; q++) {
            const char *name;
            int mod;
            char buf[1024];
            if (p < a->n_params) {
                /* every prefix of the parameter's name, '' first */
                const char *full = a->params[p].name;
                size_t cut[64], nc = 0;
                cut[nc++] = 0;
                for (const char *d = full; *d && nc < 63; d++)
                    if (*d == '.')
                        cut[nc++] = (size_t)(d - full);
                cut[nc++] = strlen(full);
                for (size_t k = 0; !rc && k < nc; k++) {
                    size_t len = cut[k];
                    snprintf(buf, sizeof buf, "%.*s", (int)len, full);
                    if (row_index(&t, buf) >= 0)
                        continue;
                    stat_row *r = &t.rows[t.n++];
                    if (!(r->name = strdup(buf))) {
                        rc = mm_error_set(MM_ENOMEM, "out of memory");
                        break;
                    }
                    r->has[COL_PARAMS] = true;
                    int m = k + 1 < nc ? find_module_name(a, buf, len) : -1;
                    if (m >= 0) {
                        format_size(a->mods[m].params, r->col[COL_PARAMS], 64);
                        r->has[COL_FLOPS] = r->has[COL_ACTS] = true;
                        format_size(a->mods[m].flops, r->col[COL_FLOPS], 64);
                        format_size(a->mods[m].acts, r->col[COL_ACTS], 64);
                        zero[t.n - 1] = !a->mods[m].params &&
                                        !a->mods[m].flops && !a->mods[m].acts;
                        if (!a->mods[m].called)
                            r->col[COL_FLOPS][0] = r->col[COL_ACTS][0] = '\0';
                    } else {
                        /* a parameter: its shape, as a Python tuple */
                        const mm_tensor *pt = a->params[p].t;
                        int o = snprintf(r->col[COL_PARAMS], 64, "(");
                        for (int d = 0; d < pt->ndim && o < 50; d++)
                            o += snprintf(r->col[COL_PARAMS] + o,
                                          (size_t)(64 - o), "%s%" PRId64,
                                          d ? ", " : "", pt->shape[d]);
                        snprintf(r->col[COL_PARAMS] + o, (size_t)(64 - o),
                                 pt->ndim == 1 ? ",)" : ")");
                    }
                }
                continue;
            }
            mod = (int)q;
            name = a->mods[mod].name;
            if (row_index(&t, name) >= 0)
                continue;
            stat_row *r = &t.rows[t.n++];
            if (!(r->name = strdup(name))) {
                rc = mm_error_set(MM_ENOMEM, "out of memory");
                break;
            }
            r->has[COL_FLOPS] = r->has[COL_ACTS] = true;
            format_size(a->mods[mod].flops, r->col[COL_FLOPS], 64);
            format_size(a->mods[mod].acts, r->col[COL_ACTS], 64);
            zero[t.n - 1] = !a->mods[mod].flops && !a->mods[mod].acts;
            if (!a->mods[mod].called)
                r->col[COL_FLOPS][0] = r->col[COL_ACTS][0] = '\0';
        }
    }
    if (!rc && t.n == 0)
        rc = mm_error_set(MM_EINVAL, "the model has no modules");
    if (!rc)
        keep_stat(&t, 0, zero);
    if (!rc) {
        int root = fastforward(&t, 0);
        const char *rn = t.rows[root].name;
        char root_prefix[1024];
        snprintf(root_prefix, sizeof root_prefix, "%s%s", rn, *rn ? "." : "");
        rc = emit(&t, *rn ? rn : "model", &t.rows[root], 0);
        if (!rc)
            rc = fill(&t, 1, max_depth, root_prefix, root_prefix);
    }
    if (!rc) {
        size_t w[4];
        for (int c = 0; c < 4; c++) {
            w[c] = strlen(c ? headers[c - 1] : "module");
            for (size_t i = 0; i < t.n_out; i++)
                if (strlen(t.out[c][i]) > w[c])
                    w[c] = strlen(t.out[c][i]);
        }
        const char *head[4] = {"module", headers[0], headers[1], headers[2]};
        print_rule(w);
        print_cells(w, head);
        print_rule(w);
        for (size_t i = 0; i < t.n_out; i++) {
            const char *cells[4] = {t.out[0][i], t.out[1][i], t.out[2][i],
                                    t.out[3][i]};
            print_cells(w, cells);
        }
        print_rule(w);
    }
    for (size_t i = 0; i < t.n; i++)
        free(t.rows[i].name);
    for (int c = 0; c < 4; c++) {
        for (size_t i = 0; i < t.n_out; i++)
            free(t.out[c][i]);
        free(t.out[c]);
    }
    free(t.rows);
    free(zero);
    return rc;
}

/* ---- the command ---------------------------------------------------------- */

/* The input channels: the data_preprocessor's mean count (the model's, else
 * the config's top-level one), else 3. */
static int64_t default_channels(const mm_value *cfg) {
    static const char *const paths[] = {"model.data_preprocessor.mean",
                                        "data_preprocessor.mean"};
    for (int i = 0; i < 2; i++) {
        const mm_value *m = mm_config_get(cfg, paths[i]);
        if (m && mm_value_is_list(m) && mm_value_len(m) > 0)
            return (int64_t)mm_value_len(m);
    }
    return 3;
}

static int analyze(const char *config, const char *const *overrides,
                   size_t n_overrides, int64_t h, int64_t w, int64_t c,
                   int max_depth) {
    mm_value *cfg = NULL;
    if (mm_config_load(config, overrides, n_overrides, &cfg))
        return mm_cli_fail();
    const mm_value *node = mm_config_get(cfg, "model");
    const mm_value *ds = mm_config_get(cfg, "default_scope");
    if (!node) {
        mm_value_release(cfg);
        mm_error_set(MM_EINVAL, "%s: the config has no 'model'", config);
        return mm_cli_fail();
    }
    if (c <= 0)
        c = default_channels(cfg);
    mm_module *model = NULL;
    int rc = mm_registry_build(MM_MODELS, node,
                               mm_value_is_string(ds) ? mm_value_get_string(ds)
                                                      : "mm",
                               "model", NULL, (void **)&model);
    mm_value_release(cfg);
    if (rc)
        return mm_cli_fail();
    analysis a = {0};
    rc = mm_module_named_modules(model, add_module, &a);
    if (!rc)
        rc = mm_module_named_parameters(model, add_param, &a);
    mm_pool *pool = NULL;
    if (!rc)
        rc = mm_pool_open(&pool);
    if (!rc) {
        mm_module_eval(model);
        mm_no_grad_push();
        mm_tensor *x = NULL;
        rc = mm_randn(MM_SHAPE(1, c, h, w), MM_F32, NULL, &x);
        a.mods[0].called = true;
        mm_ops_set_observer(on_op, &a);
        mm_module_set_forward_hook(on_forward, &a);
        if (!rc)
            rc = run_model(model, x);
        mm_module_set_forward_hook(NULL, NULL);
        mm_ops_set_observer(NULL, NULL);
        mm_no_grad_pop();
        mm_pool_close(pool);
    }
    if (!rc)
        rc = print_table(&a, max_depth);
    if (!rc) {
        char f[32], p[32], ac[32];
        format_size(a.mods[0].flops, f, sizeof f);
        format_size(a.mods[0].params, p, sizeof p);
        format_size(a.mods[0].acts, ac, sizeof ac);
        printf("\n==============================\n"
               "Input shape: (%" PRId64 ", %" PRId64 ", %" PRId64 ")\n"
               "Flops: %s\nParams: %s\nActivation: %s\n"
               "==============================\n",
               c, h, w, f, p, ac);
        if (mm_module_get_child(model, "backbone"))
            printf("!!!Only the backbone network is counted in FLOPs "
                   "analysis.\n");
    }
    analysis_free(&a);
    mm_module_free(model);
    if (rc)
        return mm_cli_fail();
    return fflush(stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
}

static bool parse_pos(const char *s, int64_t *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0 || v > 100000)
        return false;
    *out = v;
    return true;
}

int mm_cli_analyze(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MM_EXIT_USAGE : MM_EXIT_OK;
    }
    if (strcmp(argv[1], "complexity") != 0)
        return mm_cli_usage_error("analyze", "unknown subcommand '%s'",
                                  argv[1]);
    const char *config = NULL;
    const char **overrides = calloc((size_t)argc, sizeof *overrides);
    size_t n_overrides = 0;
    int64_t h = 224, w = 224, c = 0, depth = 3;
    if (!overrides) {
        mm_error_set(MM_ENOMEM, "out of memory");
        return mm_cli_fail();
    }
    int code = -1;
    for (int i = 2; i < argc && code < 0; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(usage, stdout);
            code = MM_EXIT_OK;
        } else if (!strcmp(arg, "--shape")) {
            if (i + 1 >= argc || !parse_pos(argv[i + 1], &h))
                code = mm_cli_usage_error("analyze", "--shape needs one or "
                                                     "two positive sizes");
            else {
                i++;
                w = h;
                if (i + 1 < argc && parse_pos(argv[i + 1], &w))
                    i++;
            }
        } else if (!strcmp(arg, "--channels") || !strcmp(arg, "--max-depth")) {
            int64_t *dst = arg[2] == 'c' ? &c : &depth;
            if (i + 1 >= argc || !parse_pos(argv[i + 1], dst))
                code = mm_cli_usage_error("analyze", "%s needs a positive "
                                                     "integer",
                                          arg);
            else
                i++;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            code = mm_cli_usage_error("analyze", "unknown option '%s'", arg);
        } else if (!config) {
            config = arg;
        } else if (strchr(arg, '=')) {
            overrides[n_overrides++] = arg;
        } else {
            code = mm_cli_usage_error("analyze", "unexpected argument '%s'",
                                      arg);
        }
    }
    if (code < 0 && !config)
        code = mm_cli_usage_error("analyze", "complexity needs a CONFIG");
    if (code < 0)
        code = analyze(config, overrides, n_overrides, h, w, c, (int)depth);
    free(overrides);
    return code;
}
