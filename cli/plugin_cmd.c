/* mm plugin list|info|install|remove */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "mm_build_config.h"
#include "mm/plugin.h"
#include "mm/registry.h"

static const char usage[] =
    "usage: mm plugin list\n"
    "       mm plugin info SCOPE\n"
    "       mm plugin install FILE.so [--force]\n"
    "       mm plugin remove SCOPE\n"
    "\n"
    "list     every plugin on the search path: scope, version, license,\n"
    "         number of components, file (each is loaded in a child process)\n"
    "info     a plugin's components, by kind, with their parameters\n"
    "install  check FILE.so in a child process, then copy it into the user\n"
    "         plugin directory ($XDG_DATA_HOME/mm/plugins); --force replaces\n"
    "         a plugin of the same scope\n"
    "remove   delete SCOPE.so from the user plugin directory\n"
    "\n"
    "The search path: --plugin-path DIR (before the command), MM_PLUGIN_PATH,\n"
    "the user directory, the installed plugin directory.\n";

static int mkdir_p(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return mm_error_set(MM_EIO, "cannot create %s: %s", path,
                                    strerror(errno));
            *p = c;
            if (!c)
                return MM_OK;
        }
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every <scope>.so of dir, sorted; *names malloc'd. */
static size_t list_dir(const char *dir, char ***names) {
    *names = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        if (len < 4 || strcmp(ent->d_name + len - 3, ".so") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown)
                break;
            *names = grown;
        }
        if (!((*names)[n] = strdup(ent->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(*names, n, sizeof **names, cmp_str);
    return n;
}

static int cmd_list(void) {
    size_t n_dirs;
    const char *const *dirs = mm_plugin_search_path(&n_dirs);
    char **seen = NULL;
    size_t n_seen = 0;
    int any = 0;
    printf("%-12s %-9s %-12s %10s  %s\n", "SCOPE", "VERSION", "LICENSE",
           "COMPONENTS", "FILE");
    printf("%-12s %-9s %-12s %10zu  %s\n", "mm", MM_VERSION, "Apache-2.0",
           mm_registry_count("mm"), "(the core, libmm)");
    for (size_t i = 0; i < n_dirs; i++) {
        char **names;
        size_t n = list_dir(dirs[i], &names);
        for (size_t j = 0; j < n; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dirs[i], names[j]);
            int shadowed = 0;
            for (size_t k = 0; k < n_seen; k++)
                shadowed |= strcmp(seen[k], names[j]) == 0;
            if (shadowed) {
                printf("%-12.*s %-9s %-12s %10s  %s (shadowed by an earlier "
                       "directory)\n",
                       (int)(strlen(names[j]) - 3), names[j], "-", "-", "-",
                       path);
                free(names[j]);
                continue;
            }
            char **grown = realloc(seen, (n_seen + 1) * sizeof *seen);
            if (grown) {
                seen = grown;
                seen[n_seen++] = names[j];
            } else {
                free(names[j]);
            }
            mm_plugin_info info;
            size_t count = 0;
            any = 1;
            if (mm_plugin_probe(path, &info, &count) == MM_OK)
                printf("%-12s %-9s %-12s %10zu  %s\n", info.scope, info.version,
                       info.license, count, path);
            else
                fprintf(stderr, "mm plugin list: refused: %s\n",
                        mm_error_message());
        }
        free(names);
    }
    for (size_t k = 0; k < n_seen; k++)
        free(seen[k]);
    free(seen);
    if (!any)
        fprintf(stderr, "mm plugin list: no plugins on the search path\n");
    return MM_EXIT_OK;
}

typedef struct info_state {
    int last_kind;
} info_state;

static void print_entry(const mm_entry *e, void *user) {
    info_state *st = user;
    const mm_component *c = e->component;
    if ((int)c->kind != st->last_kind) {
        printf("\n%s\n", mm_kind_name(c->kind));
        st->last_kind = (int)c->kind;
    }
    printf("  %s.%s%s%s\n", e->scope, c->name, c->doc ? ": " : "",
           c->doc ? c->doc : "");
    for (size_t i = 0; i < c->n_params; i++) {
        const mm_param *p = &c->params[i];
        char type[160];
        mm_param_type_str(p, type, sizeof type);
        char def[96];
        if (p->required)
            snprintf(def, sizeof def, "required");
        else if (p->def)
            snprintf(def, sizeof def, "= %s", p->def);
        else
            snprintf(def, sizeof def, "optional");
        printf("      %-18s %-30s %-14s %s\n", p->name, type, def,
               p->doc ? p->doc : "");
    }
    if (c->extra_params)
        printf("      %-18s %-30s %-14s %s\n", "...", "any value", "optional",
               "further keys are passed on");
}

static int cmd_info(const char *scope) {
    char *path = NULL;
    mm_plugin_info info;
    size_t count = 0;
    if (strcmp(scope, "mm") == 0) {
        printf("Scope mm: the core (libmm)\n");
        printf("  Components: %zu\n", mm_registry_count("mm"));
    } else {
        if (mm_plugin_find(scope, &path) ||
            mm_plugin_probe(path, &info, &count) || mm_plugin_load(scope)) {
            free(path);
            return mm_cli_fail();
        }
        printf("Plugin %s %s\n", info.scope, info.version);
        printf("  %s\n", info.description);
        printf("  File:       %s\n", path);
        printf("  License:    %s\n", info.license);
        printf("  ABI:        %u.%u\n", info.abi_major, info.abi_minor);
        printf("  Requires:   %s\n", info.requires[0] ? info.requires : "-");
        printf("  Components: %zu\n", count);
        free(path);
    }
    info_state st = {.last_kind = -1};
    mm_registry_foreach(scope, print_entry, &st);
    return MM_EXIT_OK;
}

static int cmd_install(const char *file, int force) {
    mm_plugin_info info;
    size_t count = 0;
    char dir[4096];
    if (mm_plugin_probe(file, &info, &count) || mm_plugin_user_dir(dir, sizeof dir))
        return mm_cli_fail();
    if (strcmp(info.scope, "mm") == 0) {
        mm_error_set(MM_EINVAL, "%s: 'mm' is the core's scope", file);
        return mm_cli_fail();
    }
    char dest[4200];
    snprintf(dest, sizeof dest, "%s/%s.so", dir, info.scope);
    char *existing = NULL;
    if (mm_plugin_find(info.scope, &existing) == MM_OK) {
        char *a = realpath(existing, NULL), *b = realpath(file, NULL);
        int same = a && b && strcmp(a, b) == 0;
        free(a);
        free(b);
        if (same) {
            fprintf(stderr, "mm plugin install: %s is already installed\n",
                    existing);
            free(existing);
            return MM_EXIT_OK;
        }
        if (!force) {
            mm_error_set(MM_EEXIST,
                         "%s: scope '%s' is already installed at %s (use "
                         "--force to replace it)",
                         file, info.scope, existing);
            free(existing);
            return mm_cli_fail();
        }
        free(existing);
    }
    mm_error_clear();
    char *data = NULL;
    size_t len = 0;
    FILE *f = fopen(file, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (size >= 0 && (data = malloc((size_t)size + 1)))
            len = fread(data, 1, (size_t)size, f);
        if (size < 0 || !data || len != (size_t)size) {
            free(data);
            data = NULL;
        }
        fclose(f);
    }
    if (!data) {
        mm_error_set(MM_EIO, "cannot read %s: %s", file, strerror(errno));
        return mm_cli_fail();
    }
    int rc = mkdir_p(dir);
    if (!rc)
        rc = mm_file_write_atomic(dest, data, len);
    free(data);
    if (rc)
        return mm_cli_fail();
    printf("installed %s %s (%zu component%s) as %s\n", info.scope,
           info.version, count, count == 1 ? "" : "s", dest);
    return MM_EXIT_OK;
}

static int cmd_remove(const char *scope) {
    char dir[4096], path[4200];
    if (mm_plugin_user_dir(dir, sizeof dir))
        return mm_cli_fail();
    snprintf(path, sizeof path, "%s/%s.so", dir, scope);
    if (unlink(path) == 0) {
        printf("removed %s\n", path);
        return MM_EXIT_OK;
    }
    if (errno != ENOENT) {
        mm_error_set(MM_EIO, "cannot remove %s: %s", path, strerror(errno));
        return mm_cli_fail();
    }
    char *other = NULL;
    if (mm_plugin_find(scope, &other) == MM_OK) {
        mm_error_set(MM_ENOENT,
                     "%s is not in the user plugin directory %s (it is at %s, "
                     "which 'mm plugin remove' does not touch)",
                     scope, dir, other);
        free(other);
    } else {
        mm_error_set(MM_ENOENT, "no plugin '%s' in the user plugin directory %s",
                     scope, dir);
    }
    return mm_cli_fail();
}

int mm_cli_plugin(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MM_EXIT_USAGE : MM_EXIT_OK;
    }
    const char *sub = argv[1];
    const char *arg = NULL;
    int force = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return MM_EXIT_OK;
        } else if (strcmp(argv[i], "--force") == 0 && strcmp(sub, "install") == 0) {
            force = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return mm_cli_usage_error("plugin", "unknown option '%s'", argv[i]);
        } else if (!arg) {
            arg = argv[i];
        } else {
            return mm_cli_usage_error("plugin", "unexpected argument '%s'",
                                      argv[i]);
        }
    }
    if (strcmp(sub, "list") == 0) {
        if (arg)
            return mm_cli_usage_error("plugin", "list takes no arguments");
        return cmd_list();
    }
    if (strcmp(sub, "info") == 0 || strcmp(sub, "install") == 0 ||
        strcmp(sub, "remove") == 0) {
        if (!arg)
            return mm_cli_usage_error("plugin", "%s needs %s", sub,
                                      strcmp(sub, "install") ? "a SCOPE"
                                                             : "a FILE.so");
        if (strcmp(sub, "info") == 0)
            return cmd_info(arg);
        if (strcmp(sub, "install") == 0)
            return cmd_install(arg, force);
        return cmd_remove(arg);
    }
    return mm_cli_usage_error("plugin", "unknown subcommand '%s'", sub);
}
