/* mm: the command-line front end. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm/error.h"
#include "mm/log.h"
#include "mm/plugin.h"
#include "mm_build_config.h"

static const char usage[] =
    "usage: mm [--log-level LEVEL] <command> [<args>]\n"
    "\n"
    "commands:\n"
    "  analyze complexity           count a model's parameters and FLOPs\n"
    "  checkpoint info              check a checkpoint and summarise it\n"
    "  config print|validate|diff   show, check or compare merged configs\n"
    "  infer                        classify images with a config and a\n"
    "                               checkpoint\n"
    "  plugin list|info|install|remove\n"
    "                               manage plugins (mmcls.so, your own ...)\n"
    "  run train|test               train a model from a config, or test a\n"
    "                               checkpoint\n"
    "  zoo list|show                the model zoo (configs/**/metafile.yaml)\n"
    "\n"
    "options:\n"
    "  --log-level LEVEL   DEBUG, INFO (default), WARNING, ERROR, CRITICAL\n"
    "  --plugin-path DIR   search DIR for plugins first (repeatable)\n"
    "  --version           print the version\n"
    "  -h, --help          show this help\n"
    "\n"
    "Run 'mm <command> --help' for a command's options.\n";

int mm_cli_fail(void) {
    const char *msg = mm_error_message();
    fprintf(stderr, "mm: %s\n", msg[0] ? msg : "failed");
    return MM_EXIT_FAILURE;
}

int mm_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mm %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'mm %s --help')\n", cmd);
    va_end(ap);
    return MM_EXIT_USAGE;
}

const char *mm_cli_log_level;

int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return MM_EXIT_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf("mm %s\n", MM_VERSION);
            return MM_EXIT_OK;
        }
        const char *dir = NULL;
        if (strcmp(a, "--plugin-path") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strncmp(a, "--plugin-path=", 14) == 0)
            dir = a + 14;
        else if (strcmp(a, "--plugin-path") == 0) {
            fprintf(stderr, "mm: --plugin-path needs a directory\n");
            return MM_EXIT_USAGE;
        }
        if (dir) {
            if (mm_plugin_path_prepend(dir) != MM_OK)
                return mm_cli_fail();
            continue;
        }
        const char *level = NULL;
        if (strcmp(a, "--log-level") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mm: --log-level needs a value\n");
                return MM_EXIT_USAGE;
            }
            level = argv[++i];
        } else if (strncmp(a, "--log-level=", 12) == 0) {
            level = a + 12;
        } else {
            fprintf(stderr, "mm: unknown option '%s' (see 'mm --help')\n", a);
            return MM_EXIT_USAGE;
        }
        mm_log_level lv;
        if (mm_log_level_parse(level, &lv) != MM_OK) {
            fprintf(stderr, "mm: %s\n", mm_error_message());
            return MM_EXIT_USAGE;
        }
        mm_log_set_level(lv);
        mm_cli_log_level = level;
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return MM_EXIT_USAGE;
    }
    const char *cmd = argv[i];
    int code = -1;
    if (strcmp(cmd, "checkpoint") == 0)
        code = mm_cli_checkpoint(argc - i, argv + i);
    else if (strcmp(cmd, "config") == 0)
        code = mm_cli_config(argc - i, argv + i);
    else if (strcmp(cmd, "infer") == 0)
        code = mm_cli_infer(argc - i, argv + i);
    else if (strcmp(cmd, "plugin") == 0)
        code = mm_cli_plugin(argc - i, argv + i);
    else if (strcmp(cmd, "run") == 0)
        code = mm_cli_run(argc - i, argv + i);
    else if (strcmp(cmd, "zoo") == 0)
        code = mm_cli_zoo(argc - i, argv + i);
    else if (strcmp(cmd, "analyze") == 0)
        code = mm_cli_analyze(argc - i, argv + i);
    if (code >= 0) {
        mm_plugins_shutdown();
        return code;
    }
    fprintf(stderr, "mm: unknown command '%s' (see 'mm --help')\n", cmd);
    return MM_EXIT_USAGE;
}
