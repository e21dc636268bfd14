/* mm checkpoint info | convert | maps */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm/checkpoint.h"
#include "mm/plugin.h"
#include "mm_build_config.h"

static const char usage[] =
    "usage: mm checkpoint info FILE [--verbose]\n"
    "       mm checkpoint convert IN OUT.safetensors [--map NAME] "
    "[--prefix P]\n"
    "       mm checkpoint maps\n"
    "\n"
    "info     check the whole file (safetensors, or a PyTorch .pth written\n"
    "         by torch.save), then print its size, the number of tensors,\n"
    "         the training state it records (meta: epoch, iter, mm_version,\n"
    "         seed, experiment_name), the metadata keys present, and one\n"
    "         line per tensor group (state_dict, optimizer, ...) with its\n"
    "         tensor count, bytes and dtypes; --verbose (-v) also lists\n"
    "         every tensor with its dtype and shape\n"
    "convert  read IN (.pth or .safetensors), take the model weights as\n"
    "         mmengine's load_checkpoint finds them (the state_dict, without\n"
    "         a 'module.' prefix), translate their names with the key map\n"
    "         NAME (--map), keep those under P (--prefix, stripped), and\n"
    "         write them to OUT as state_dict.<name> with metadata naming\n"
    "         the source; OUT is written atomically\n"
    "maps     list the registered key maps (plugins on the search path are\n"
    "         loaded first)\n"
    "\n"
    "A truncated, corrupt or refused file is one error line and exit status\n"
    "1. See docs/checkpoints.md.\n";

static int cmd_info(const char *path, bool verbose) {
    mm_checkpoint *ck;
    if (mm_checkpoint_load(path, &ck) != MM_OK)
        return mm_cli_fail();
    char *text = NULL;
    int rc = mm_checkpoint_describe(ck, verbose, &text);
    mm_checkpoint_free(ck);
    if (rc != MM_OK)
        return mm_cli_fail();
    fputs(text, stdout);
    free(text);
    return fflush(stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
}

static bool is_pth(const char *path) {
    unsigned char head[16];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    return mm_pth_sniff(head, n);
}

static mm_value *str_or_null(const char *s) {
    return s ? mm_value_new_string(s) : mm_value_new_null();
}

/* meta: {mm_version, source: {file, format, map, prefix}} */
static int source_meta(const char *in, const char *map, const char *prefix,
                       mm_value **out) {
    mm_value *meta = mm_value_new_dict(), *src = mm_value_new_dict();
    int rc = meta && src ? MM_OK : MM_ENOMEM;
    if (!rc)
        rc = mm_value_dict_set_take(meta, "mm_version",
                                    mm_value_new_string(MM_VERSION));
    if (!rc)
        rc = mm_value_dict_set_take(src, "file", mm_value_new_string(in));
    if (!rc)
        rc = mm_value_dict_set_take(
            src, "format",
            mm_value_new_string(is_pth(in) ? "pth" : "safetensors"));
    if (!rc)
        rc = mm_value_dict_set_take(src, "map", str_or_null(map));
    if (!rc)
        rc = mm_value_dict_set_take(src, "prefix", str_or_null(prefix));
    if (!rc) {
        rc = mm_value_dict_set_take(meta, "source", src);
        src = NULL;
    }
    mm_value_release(src);
    if (rc) {
        mm_value_release(meta);
        return rc == MM_ENOMEM ? mm_error_set(MM_ENOMEM, "out of memory")
                               : rc;
    }
    *out = meta;
    return MM_OK;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int cmd_convert(const char *in, const char *out, const char *map,
                       const char *prefix) {
    if (has_suffix(out, ".pth") || has_suffix(out, ".pt"))
        return mm_cli_usage_error("checkpoint",
                                  "convert writes safetensors; name the "
                                  "output .safetensors, not '%s'",
                                  out);
    mm_checkpoint *ck = NULL, *dst = NULL;
    if (mm_checkpoint_load(in, &ck) != MM_OK)
        return mm_cli_fail();
    mm_state_dict sd = {0};
    mm_value *meta = NULL;
    int rc = mm_checkpoint_weights_mapped(ck, map, prefix, &sd);
    if (rc)
        rc = mm_error_context(rc, NULL, "%s", in);
    if (!rc && sd.n == 0)
        rc = mm_error_set(MM_EINVAL, "%s: no weights to convert", in);
    if (!rc)
        rc = mm_checkpoint_new(&dst);
    for (size_t i = 0; i < sd.n && !rc; i++) {
        size_t len = strlen(sd.items[i].name) + sizeof "state_dict.";
        char *name = malloc(len);
        if (!name) {
            rc = mm_error_set(MM_ENOMEM, "out of memory");
            break;
        }
        snprintf(name, len, "state_dict.%s", sd.items[i].name);
        rc = mm_checkpoint_add(dst, name, sd.items[i].tensor);
        free(name);
    }
    if (!rc)
        rc = source_meta(in, map, prefix, &meta);
    if (!rc)
        rc = mm_checkpoint_set_meta(dst, "meta", meta);
    if (!rc)
        rc = mm_checkpoint_save(dst, out);
    size_t n = sd.n;
    mm_value_release(meta);
    mm_state_dict_clear(&sd);
    mm_checkpoint_free(dst);
    mm_checkpoint_free(ck);
    if (rc)
        return mm_cli_fail();
    printf("%s: %zu tensors from %s%s%s\n", out, n, in,
           map ? " through key map " : "", map ? map : "");
    return fflush(stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
}

static int cmd_maps(void) {
    if (mm_plugin_load_all(NULL) != MM_OK)
        return mm_cli_fail();
    size_t n = mm_key_map_count(), w = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(mm_key_map_at(i)->name) > w)
            w = strlen(mm_key_map_at(i)->name);
    for (size_t i = 0; i < n; i++) {
        const mm_key_map *m = mm_key_map_at(i);
        printf("%-*s  %s\n", (int)w, m->name, m->doc ? m->doc : "");
    }
    if (n == 0)
        puts("no key maps registered (they come with the plugins of their "
             "architectures)");
    return fflush(stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
}

int mm_cli_checkpoint(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MM_EXIT_USAGE : MM_EXIT_OK;
    }
    const char *sub = argv[1], *files[2] = {NULL, NULL};
    const char *map = NULL, *prefix = NULL;
    size_t n_files = 0;
    bool verbose = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return MM_EXIT_OK;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            verbose = true;
        } else if (strcmp(a, "--map") == 0 || strcmp(a, "--prefix") == 0) {
            if (i + 1 >= argc)
                return mm_cli_usage_error("checkpoint", "%s needs a value", a);
            *(strcmp(a, "--map") == 0 ? &map : &prefix) = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return mm_cli_usage_error("checkpoint", "unknown option '%s'", a);
        } else if (n_files < 2) {
            files[n_files++] = a;
        } else {
            return mm_cli_usage_error("checkpoint", "unexpected argument '%s'",
                                      a);
        }
    }
    bool is_convert = strcmp(sub, "convert") == 0;
    if ((map || prefix) && !is_convert)
        return mm_cli_usage_error("checkpoint", "--map and --prefix belong to "
                                                "convert");
    if (verbose && strcmp(sub, "info") != 0)
        return mm_cli_usage_error("checkpoint", "--verbose belongs to info");
    if (strcmp(sub, "info") == 0) {
        if (n_files == 2)
            return mm_cli_usage_error("checkpoint", "unexpected argument '%s'",
                                      files[1]);
        if (n_files == 0)
            return mm_cli_usage_error("checkpoint", "info needs a FILE");
        return cmd_info(files[0], verbose);
    }
    if (is_convert) {
        if (n_files != 2)
            return mm_cli_usage_error("checkpoint", "convert needs IN and OUT");
        return cmd_convert(files[0], files[1], map, prefix);
    }
    if (strcmp(sub, "maps") == 0) {
        if (n_files)
            return mm_cli_usage_error("checkpoint", "unexpected argument '%s'",
                                      files[0]);
        return cmd_maps();
    }
    return mm_cli_usage_error("checkpoint", "unknown subcommand '%s'", sub);
}
