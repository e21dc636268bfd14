/* mm config print|validate|diff */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm/config.h"
#include "mm/log.h"
#include "mm/registry.h"

static const char usage[] =
    "usage: mm config print CONFIG [key.path=value ...] [--format yaml|json]\n"
    "       mm config validate CONFIG [key.path=value ...]\n"
    "       mm config diff CONFIG_A CONFIG_B\n"
    "\n"
    "print     the merged config: _base_ files merged, overrides applied,\n"
    "          ${...} references resolved (YAML by default)\n"
    "validate  load the config and check every component it names against\n"
    "          the registered schemas (loading plugins, building nothing);\n"
    "          prints 'CONFIG: ok'\n"
    "diff      one line per path that differs: '- only in A', '+ only in B',\n"
    "          '~ changed: A -> B'\n"
    "\n"
    "Overrides: 'optim_wrapper.optimizer.lr=0.01', 'train_pipeline.1.scale=[64,64]';\n"
    "values are YAML; digit segments index lists.\n";

/* Splits argv into the config path, overrides (key=value) and options. */
typedef struct config_args {
    const char *paths[2];
    int n_paths;
    const char **overrides;
    size_t n_overrides;
    const char *format;
} config_args;

static int parse_args(const char *cmd, int argc, char **argv, config_args *a) {
    a->format = "yaml";
    a->overrides = calloc((size_t)argc + 1, sizeof *a->overrides);
    if (!a->overrides)
        return mm_cli_usage_error(cmd, "out of memory");
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--format") == 0 || strncmp(s, "--format=", 9) == 0) {
            const char *f = s[8] == '=' ? s + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!f || (strcmp(f, "yaml") != 0 && strcmp(f, "json") != 0))
                return mm_cli_usage_error(cmd, "--format takes 'yaml' or 'json'");
            a->format = f;
        } else if (strcmp(s, "--") == 0) {
            continue;
        } else if (s[0] == '-' && s[1] == '-') {
            return mm_cli_usage_error(cmd, "unknown option '%s'", s);
        } else if (a->n_paths > 0 && strchr(s, '=')) {
            a->overrides[a->n_overrides++] = s;
        } else if (a->n_paths < 2) {
            a->paths[a->n_paths++] = s;
        } else {
            return mm_cli_usage_error(cmd, "unexpected argument '%s'", s);
        }
    }
    return MM_EXIT_OK;
}

static int print_value(const mm_value *cfg, const char *format) {
    char *text = NULL;
    int rc = strcmp(format, "json") == 0 ? mm_json_dump(cfg, 4, &text)
                                         : mm_yaml_dump(cfg, &text);
    if (rc)
        return mm_cli_fail();
    fputs(text, stdout);
    if (strcmp(format, "json") == 0)
        fputc('\n', stdout);
    free(text);
    return fflush(stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
}

/* Checks that need no registry: every `type` anywhere names something.
 * mm_config_validate_components then checks the components against their
 * schemas. */
static int check_types(const mm_value *v, const char *path) {
    if (mm_value_is_dict(v)) {
        const mm_value *type = mm_value_dict_get(v, "type");
        if (type && (!mm_value_is_string(type) || !mm_value_get_string(type)[0]))
            return mm_error_set_at(MM_ETYPE, mm_value_loc(type),
                                   "%s%stype: must be a non-empty component "
                                   "name, not a %s",
                                   path, *path ? "." : "",
                                   mm_value_type_name(mm_value_type_of(type)));
    }
    for (size_t i = 0; i < mm_value_len(v); i++) {
        char sub[1024];
        const mm_value *child;
        if (mm_value_is_dict(v)) {
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "",
                     mm_value_dict_key_at(v, i));
            child = mm_value_dict_value_at(v, i);
        } else {
            snprintf(sub, sizeof sub, "%s%s%zu", path, *path ? "." : "", i);
            child = mm_value_list_get(v, i);
        }
        int rc = check_types(child, sub);
        if (rc)
            return rc;
    }
    return MM_OK;
}

int mm_cli_config(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MM_EXIT_USAGE : MM_EXIT_OK;
    }
    const char *sub = argv[1];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return MM_EXIT_OK;
        }
    }
    config_args a = {0};
    int code = parse_args("config", argc - 2, argv + 2, &a);
    mm_value *cfg = NULL, *other = NULL;
    if (code != MM_EXIT_OK)
        goto out;
    if (strcmp(sub, "print") == 0 || strcmp(sub, "validate") == 0) {
        if (a.n_paths != 1) {
            code = mm_cli_usage_error("config", "%s takes one CONFIG file", sub);
            goto out;
        }
        if (mm_config_load(a.paths[0], a.overrides, a.n_overrides, &cfg)) {
            code = mm_cli_fail();
            goto out;
        }
        if (strcmp(sub, "print") == 0) {
            code = print_value(cfg, a.format);
        } else if (check_types(cfg, "") || mm_config_validate_components(cfg)) {
            code = mm_cli_fail();
        } else {
            printf("%s: ok\n", a.paths[0]);
        }
    } else if (strcmp(sub, "diff") == 0) {
        if (a.n_paths != 2 || a.n_overrides) {
            code = mm_cli_usage_error("config", "diff takes two CONFIG files");
            goto out;
        }
        char *text = NULL;
        if (mm_config_load(a.paths[0], NULL, 0, &cfg) ||
            mm_config_load(a.paths[1], NULL, 0, &other) ||
            mm_config_diff(cfg, other, &text)) {
            code = mm_cli_fail();
            goto out;
        }
        printf("--- %s\n+++ %s\n%s", a.paths[0], a.paths[1], text);
        free(text);
    } else {
        code = mm_cli_usage_error("config", "unknown subcommand '%s'", sub);
    }
out:
    mm_value_release(cfg);
    mm_value_release(other);
    free(a.overrides);
    return code;
}
