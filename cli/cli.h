/* The `mm` executable: one file per subcommand, dispatched from main.c.
 * A subcommand returns the process exit code: 0 ok, 1 failure, 2 usage. */
#ifndef MM_CLI_H
#define MM_CLI_H

enum { MM_EXIT_OK = 0, MM_EXIT_FAILURE = 1, MM_EXIT_USAGE = 2 };

int mm_cli_checkpoint(int argc, char **argv);
int mm_cli_config(int argc, char **argv);
int mm_cli_infer(int argc, char **argv);
int mm_cli_plugin(int argc, char **argv);
int mm_cli_run(int argc, char **argv);
int mm_cli_zoo(int argc, char **argv);     /* zoo_cmd.c */
int mm_cli_analyze(int argc, char **argv); /* analyze_cmd.c */

/* The value of the global --log-level option, NULL when not given: it
 * wins over a config's log_level. */
extern const char *mm_cli_log_level;

/* Print "mm: <message>" for the current error; returns MM_EXIT_FAILURE. */
int mm_cli_fail(void);
/* Print "mm <cmd>: <message>" and a hint to --help; returns MM_EXIT_USAGE. */
int mm_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
