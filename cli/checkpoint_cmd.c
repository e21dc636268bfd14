/* mm checkpoint info */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mm/checkpoint.h"

static const char usage[] =
    "usage: mm checkpoint info FILE.safetensors [--verbose]\n"
    "\n"
    "info   check the whole file, then print its size, the number of\n"
    "       tensors, the training state it records (meta: epoch, iter,\n"
    "       mm_version, seed, experiment_name), the metadata keys present,\n"
    "       and one line per tensor group (state_dict, optimizer,\n"
    "       ema_state_dict, ...) with its tensor count, bytes and dtypes;\n"
    "       --verbose (-v) also lists every tensor with its dtype and shape\n"
    "\n"
    "A truncated or corrupt file is one error line and exit status 1.\n"
    "See docs/checkpoints.md.\n";

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

int mm_cli_checkpoint(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MM_EXIT_USAGE : MM_EXIT_OK;
    }
    const char *sub = argv[1], *file = NULL;
    bool verbose = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return MM_EXIT_OK;
        } else if (strcmp(argv[i], "--verbose") == 0 ||
                   strcmp(argv[i], "-v") == 0) {
            verbose = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return mm_cli_usage_error("checkpoint", "unknown option '%s'",
                                      argv[i]);
        } else if (!file) {
            file = argv[i];
        } else {
            return mm_cli_usage_error("checkpoint", "unexpected argument '%s'",
                                      argv[i]);
        }
    }
    if (strcmp(sub, "info") == 0) {
        if (!file)
            return mm_cli_usage_error("checkpoint", "info needs a FILE");
        return cmd_info(file, verbose);
    }
    return mm_cli_usage_error("checkpoint", "unknown subcommand '%s'", sub);
}
