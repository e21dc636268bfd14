/* mm run train|test: mmengine's tools/train.py and tools/test.py. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm/config.h"
#include "mm/log.h"
#include "mm/registry.h"
#include "mm/runner.h"
#include "mm/tensor.h"

static const char train_usage[] =
    "usage: mm run train CONFIG [key.path=value ...] [--work-dir DIR]\n"
    "                    [--resume [CHECKPOINT]] [--amp] [--auto-scale-lr]\n"
    "                    [--cfg-options key=value ...] [--launcher none]\n"
    "                    [--device cpu]\n"
    "\n"
    "Train a model from a config, as mmengine's tools/train.py.\n"
    "\n"
    "  key.path=value     override a config value (YAML; digits index lists)\n"
    "  --work-dir DIR     where logs and checkpoints go (default: the\n"
    "                     config's work_dir, else work_dirs/<config name>)\n"
    "  --resume [CKPT]    resume from CKPT, or from the work dir's\n"
    "                     last_checkpoint without one\n"
    "  --amp              mixed precision: AmpOptimWrapper (bf16 on the CPU)\n"
    "  --auto-scale-lr    scale the lr by batch size / "
    "auto_scale_lr.base_batch_size\n"
    "  --cfg-options K=V  more overrides (as mmengine's flag)\n"
    "  --launcher none    job launcher (only 'none' for now)\n"
    "  --device cpu       the device (cpu)\n"
    "\n"
    "Ctrl-C finishes the current iteration, saves a checkpoint and exits\n"
    "with 130; run the same command with --resume to go on. A second\n"
    "Ctrl-C stops at once.\n";

static const char test_usage[] =
    "usage: mm run test CONFIG CHECKPOINT [key.path=value ...] [--work-dir "
    "DIR]\n"
    "                   [--out FILE.json] [--cfg-options key=value ...]\n"
    "                   [--launcher none] [--device cpu]\n"
    "\n"
    "Evaluate a checkpoint on the config's test set, as mmengine's\n"
    "tools/test.py.\n"
    "\n"
    "  --out FILE.json    also write every sample's prediction: a JSON list\n"
    "                     of {sample_idx, gt_label, pred_label, pred_score}\n";

static const char run_usage[] =
    "usage: mm run train CONFIG [options]   (see 'mm run train --help')\n"
    "       mm run test CONFIG CHECKPOINT [options]\n";

typedef struct run_args {
    bool test;
    const char *config, *checkpoint, *work_dir, *resume_path, *out;
    bool resume, amp, auto_scale_lr;
    const char **overrides;
    size_t n_overrides;
} run_args;

static int parse(const char *cmd, int argc, char **argv, run_args *a) {
    a->overrides = calloc((size_t)argc + 1, sizeof *a->overrides);
    if (!a->overrides)
        return mm_cli_usage_error(cmd, "out of memory");
    bool cfg_options = false;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char *val = NULL;
#define OPT_VALUE(name)                                                        \
    (strcmp(s, name) == 0 ? (i + 1 < argc ? (val = argv[++i], 1) : -1)         \
                          : (strncmp(s, name "=", sizeof(name)) == 0           \
                                 ? (val = s + sizeof(name), 1)                 \
                                 : 0))
        int m;
        if (strncmp(s, "--", 2) == 0)
            cfg_options = false;
        if ((m = OPT_VALUE("--work-dir"))) {
            if (m < 0)
                return mm_cli_usage_error(cmd, "--work-dir needs a directory");
            a->work_dir = val;
        } else if (!a->test && strcmp(s, "--resume") == 0) {
            a->resume = true;
            if (i + 1 < argc && argv[i + 1][0] != '-' &&
                !strchr(argv[i + 1], '='))
                a->resume_path = argv[++i];
        } else if (!a->test && strncmp(s, "--resume=", 9) == 0) {
            if (!s[9])
                return mm_cli_usage_error(cmd, "--resume= needs a checkpoint "
                                               "(--resume alone: the work "
                                               "dir's last_checkpoint)");
            a->resume = true;
            a->resume_path = s + 9;
        } else if (!a->test && strcmp(s, "--amp") == 0) {
            a->amp = true;
        } else if (!a->test && strcmp(s, "--auto-scale-lr") == 0) {
            a->auto_scale_lr = true;
        } else if (a->test && (m = OPT_VALUE("--out"))) {
            if (m < 0)
                return mm_cli_usage_error(cmd, "--out needs a file name");
            a->out = val;
        } else if ((m = OPT_VALUE("--launcher"))) {
            if (m < 0 || strcmp(val, "none") != 0)
                return mm_cli_usage_error(cmd, "--launcher: only 'none' is "
                                               "supported (distributed "
                                               "launchers are not built)");
        } else if ((m = OPT_VALUE("--device"))) {
            if (m < 0 || strcmp(val, "cpu") != 0)
                return mm_cli_usage_error(cmd, "--device: only 'cpu' is "
                                               "supported in this build");
        } else if (strcmp(s, "--cfg-options") == 0) {
            cfg_options = true;
        } else if (strcmp(s, "--") == 0) {
            continue;
        } else if (s[0] == '-' && s[1] == '-') {
            return mm_cli_usage_error(cmd, "unknown option '%s'", s);
        } else if ((a->config || cfg_options) && strchr(s, '=') &&
                   (!a->test || a->checkpoint || cfg_options)) {
            a->overrides[a->n_overrides++] = s;
        } else if (!a->config) {
            a->config = s;
        } else if (a->test && !a->checkpoint) {
            a->checkpoint = s;
        } else {
            return mm_cli_usage_error(cmd, "unexpected argument '%s'", s);
        }
#undef OPT_VALUE
    }
    if (!a->config)
        return mm_cli_usage_error(cmd, "needs a CONFIG file");
    if (a->test && !a->checkpoint)
        return mm_cli_usage_error(cmd, "needs a CHECKPOINT after the CONFIG");
    return MM_EXIT_OK;
}

static int set_take(mm_value *d, const char *k, mm_value *v) {
    return mm_value_dict_set_take(d, k, v);
}

/* What tools/train.py and tools/test.py change in the config. */
static int apply_args(mm_value *cfg, const run_args *a) {
    int rc = MM_OK;
    if (a->work_dir)
        rc = set_take(cfg, "work_dir", mm_value_new_string(a->work_dir));
    if (!rc && mm_cli_log_level) /* `mm --log-level X run ...` */
        rc = set_take(cfg, "log_level", mm_value_new_string(mm_cli_log_level));
    if (!rc && a->test) /* the checkpoint's weights, nothing to resume */
        rc = set_take(cfg, "load_from", mm_value_new_string(a->checkpoint));
    if (!rc && a->test)
        rc = set_take(cfg, "resume", mm_value_new_bool(false));
    if (!rc && a->resume) {
        rc = set_take(cfg, "resume", mm_value_new_bool(true));
        if (!rc && a->resume_path)
            rc =
                set_take(cfg, "load_from", mm_value_new_string(a->resume_path));
    }
    if (!rc && a->amp) {
        mm_value *ow = mm_value_dict_get(cfg, "optim_wrapper");
        const mm_value *type = ow ? mm_value_dict_get(ow, "type") : NULL;
        const char *t = type && mm_value_is_string(type)
                            ? mm_value_get_string(type)
                            : "OptimWrapper";
        if (!mm_value_is_dict(ow))
            return mm_error_set(MM_EINVAL, "--amp: the config has no "
                                           "optim_wrapper");
        if (strcmp(t, "AmpOptimWrapper") == 0) {
            MM_WARN("AMP training is already enabled in your config.");
        } else if (strcmp(t, "OptimWrapper") != 0) {
            return mm_error_set_at(MM_EINVAL, mm_value_loc(type),
                                   "--amp: `--amp` is only supported when the "
                                   "optimizer wrapper type is `OptimWrapper` "
                                   "but got %s.",
                                   t);
        } else {
            rc = set_take(ow, "type", mm_value_new_string("AmpOptimWrapper"));
            /* loss_scale: 'dynamic' where the wrapper takes one. */
            const mm_entry *e = NULL;
            if (!rc && mm_registry_lookup(MM_OPTIM_WRAPPERS, "AmpOptimWrapper",
                                          NULL, NULL, &e) == MM_OK) {
                for (size_t i = 0; i < e->component->n_params; i++)
                    if (strcmp(e->component->params[i].name, "loss_scale") == 0)
                        rc = set_take(ow, "loss_scale",
                                      mm_value_new_string("dynamic"));
            }
            mm_error_clear();
        }
    }
    if (!rc && a->auto_scale_lr) {
        mm_value *asl = mm_value_dict_get(cfg, "auto_scale_lr");
        if (!mm_value_is_dict(asl) ||
            !mm_value_dict_get(asl, "base_batch_size"))
            return mm_error_set(MM_EINVAL,
                                "--auto-scale-lr: can not find "
                                "\"auto_scale_lr\" or "
                                "\"auto_scale_lr.base_batch_size\" in your "
                                "configuration file");
        rc = set_take(asl, "enable", mm_value_new_bool(true));
    }
    return rc;
}

/* ---- Ctrl-C -------------------------------------------------------------- */

static mm_runner *volatile active_runner;
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig) {
    if (signals_seen++ == 0 && active_runner) {
        mm_runner_interrupt(active_runner);
        return;
    }
    /* The second one: stop at once, as the default action would. */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_signals(bool on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    /* The first signal only sets a flag: system calls it interrupts (a
     * data file being read, the log being written) go on rather than fail
     * with EINTR, so the iteration finishes and the checkpoint is saved. */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* An argument as the shell reads it back: bare when it is plain, else in
 * single quotes. */
static void put_shell_word(FILE *f, const char *s) {
    bool plain = *s != 0;
    for (const char *p = s; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789_./=:,+-@%",
                       *p) != NULL;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (const char *p = s; *p; p++)
        fputs(*p == '\'' ? "'\\''" : (char[]){*p, 0}, f);
    fputc('\'', f);
}

/* The command that goes on: the same config, overrides and flags, so the
 * resumed run trains what the interrupted one did. */
static void print_resume_hint(const run_args *a) {
    fputs("mm: interrupted; resume with: mm run train ", stderr);
    put_shell_word(stderr, a->config);
    for (size_t i = 0; i < a->n_overrides; i++) {
        fputc(' ', stderr);
        put_shell_word(stderr, a->overrides[i]);
    }
    if (a->amp)
        fputs(" --amp", stderr);
    if (a->auto_scale_lr)
        fputs(" --auto-scale-lr", stderr);
    fputs(" --resume", stderr);
    if (a->work_dir) {
        fputs(" --work-dir ", stderr);
        put_shell_word(stderr, a->work_dir);
    }
    fputc('\n', stderr);
}

/* ---- --out: predictions -------------------------------------------------- */

typedef struct dump_hook {
    mm_hook base;
    mm_value *list;
} dump_hook;

static int tensor_to_list(mm_tensor *t, mm_value **out) {
    mm_value *l = mm_value_new_list();
    if (!l)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (int64_t i = 0; i < t->numel; i++) {
        int rc = mm_value_list_append_take(
            l, mm_value_new_float(mm_tensor_get_flat(t, i)));
        if (rc) {
            mm_value_release(l);
            return rc;
        }
    }
    *out = l;
    return MM_OK;
}

static int copy_field(mm_value *dst, const mm_value *sample, const char *key) {
    const mm_value *v = mm_value_dict_get(sample, key);
    if (!v)
        return MM_OK;
    if (mm_value_type_of(v) == MM_VALUE_TENSOR) {
        mm_tensor *t = mm_value_get_tensor(v);
        mm_value *l = NULL;
        int rc = t->numel == 1 && strcmp(key, "pred_score") != 0
                     ? ((l = mm_value_new_float(mm_tensor_get_flat(t, 0)))
                            ? MM_OK
                            : MM_ENOMEM)
                     : tensor_to_list(t, &l);
        return rc ? rc : mm_value_dict_set_take(dst, key, l);
    }
    return mm_value_dict_set(dst, key, (mm_value *)v);
}

static int dump_after_test_iter(mm_hook *h, mm_runner *r, int64_t i,
                                const mm_value *batch,
                                const mm_value *outputs) {
    (void)r, (void)i, (void)batch;
    dump_hook *d = (dump_hook *)h;
    static const char *const keys[] = {"sample_idx", "gt_label", "pred_label",
                                       "pred_score"};
    for (size_t k = 0; k < mm_value_len(outputs); k++) {
        const mm_value *s = mm_value_list_get(outputs, k);
        mm_value *e = mm_value_new_dict();
        if (!e)
            return mm_error_set(MM_ENOMEM, "out of memory");
        int rc = MM_OK;
        for (size_t j = 0; !rc && j < 4; j++)
            rc = copy_field(e, s, keys[j]);
        if (!rc)
            rc = mm_value_list_append_take(d->list, e);
        else
            mm_value_release(e);
        if (rc)
            return rc;
    }
    return MM_OK;
}

static void dump_destroy(mm_hook *h) {
    mm_value_release(((dump_hook *)h)->list);
    free(h);
}

static const mm_hook_class dump_class = {
    .name = "DumpResults",
    .priority = MM_PRIORITY_NORMAL,
    .after_test_iter = dump_after_test_iter,
    .destroy = dump_destroy,
};

/* ---- the command --------------------------------------------------------- */

int mm_cli_run(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(run_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MM_EXIT_USAGE : MM_EXIT_OK;
    }
    run_args a = {0};
    const char *sub = argv[1];
    if (strcmp(sub, "train") == 0)
        a.test = false;
    else if (strcmp(sub, "test") == 0)
        a.test = true;
    else
        return mm_cli_usage_error(
            "run", "unknown subcommand '%s' (train or test)", sub);
    const char *cmd = a.test ? "run test" : "run train";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(a.test ? test_usage : train_usage, stdout);
            return MM_EXIT_OK;
        }
    }
    int code = parse(cmd, argc - 2, argv + 2, &a);
    mm_value *cfg = NULL, *metrics = NULL;
    mm_runner *r = NULL;
    mm_value *predictions = NULL; /* --out: the dump hook's list */
    if (code != MM_EXIT_OK)
        goto out;
    code = MM_EXIT_FAILURE;
    if (mm_config_load(a.config, a.overrides, a.n_overrides, &cfg) ||
        apply_args(cfg, &a) || mm_runner_new(cfg, a.config, &r)) {
        code = mm_cli_fail();
        goto out;
    }
    if (a.out) {
        dump_hook *dump = calloc(1, sizeof *dump);
        if (!dump || !(predictions = mm_value_new_list())) {
            free(dump);
            mm_error_set(MM_ENOMEM, "out of memory");
            code = mm_cli_fail();
            goto out;
        }
        dump->base.cls = &dump_class;
        dump->base.priority = dump_class.priority;
        dump->list = mm_value_retain(predictions);
        if (mm_runner_register_hook(r, &dump->base)) { /* owns it from now */
            code = mm_cli_fail();
            goto out;
        }
    }
    active_runner = r;
    catch_signals(!a.test);
    int rc = a.test ? mm_runner_test(r, &metrics) : mm_runner_train(r);
    catch_signals(false);
    active_runner = NULL;
    if (rc) {
        code = mm_cli_fail();
        goto out;
    }
    if (!a.test && mm_runner_interrupted(r)) {
        print_resume_hint(&a);
        code = 130;
        goto out;
    }
    if (a.out) {
        char *json = NULL;
        if (mm_json_dump(predictions, 2, &json) ||
            mm_file_write_atomic(a.out, json, strlen(json))) {
            free(json);
            code = mm_cli_fail();
            goto out;
        }
        free(json);
        MM_INFO("Results has been saved to %s.", a.out);
    }
    code = MM_EXIT_OK;
out:
    mm_value_release(predictions);
    mm_runner_free(r);
    mm_value_release(metrics);
    mm_value_release(cfg);
    free(a.overrides);
    return code;
}
