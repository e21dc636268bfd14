/* The plugin loader: search path, descriptor checks, requirements, init,
 * and the child-process probe. */
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mm/log.h"
#include "mm_build_config.h"
#include "registry_internal.h"
#include "strbuf.h"

enum { MAX_REQUIRES = 16, PROBE_TIMEOUT_MS = 30000 };

typedef enum { PLUGIN_LOADING, PLUGIN_LOADED } plugin_state;

typedef struct plugin {
    const char *scope; /* interned */
    char *path;
    const mm_plugin_desc *desc;
    plugin_state state;
} plugin;

static struct {
    pthread_mutex_t lock;
    plugin *list;
    size_t n, cap;
    /* search path */
    char **prepend;
    size_t n_prepend;
    char **dirs;
    size_t n_dirs;
    int dirs_valid;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- search path ---------------------------------------------------------- */

static int push_dir(char ***v, size_t *n, const char *dir) {
    char **grown = realloc(*v, (*n + 1) * sizeof **v);
    if (!grown)
        return mm_error_set(MM_ENOMEM, "out of memory");
    *v = grown;
    if (!(grown[*n] = strdup(dir)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    (*n)++;
    return MM_OK;
}

static void free_dirs(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Whether dir may be searched; says why not (once per process and dir). */
static int dir_usable(const char *dir, const char *origin) {
    if (dir[0] != '/') {
        MM_WARN("plugin path entry '%s' (%s) is not an absolute path: skipped "
                "(the current directory is never searched)",
                dir, origin);
        return 0;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return 1; /* absent now; install may create it */
    if (!S_ISDIR(st.st_mode)) {
        MM_WARN("plugin path entry '%s' (%s) is not a directory: skipped", dir,
                origin);
        return 0;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        MM_WARN("plugin directory '%s' (%s) is %s-writable: skipped (chmod "
                "go-w it to use it)",
                dir, origin, st.st_mode & S_IWOTH ? "world" : "group");
        return 0;
    }
    return 1;
}

int mm_plugin_user_dir(char *buf, size_t size) {
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/mm/plugins", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, size, "%s/.local/share/mm/plugins", home);
    else
        return mm_error_set(MM_EINVAL, "neither XDG_DATA_HOME nor HOME is an "
                                       "absolute path: no user plugin directory");
    if (n < 0 || (size_t)n >= size)
        return mm_error_set(MM_ERANGE, "user plugin directory path too long");
    return MM_OK;
}

/* An uninstalled libmm (running from its build tree) also searches the
 * plugins built beside it. */
static int build_tree_dir(char *buf, size_t size) {
    Dl_info info;
    if (!dladdr((void *)build_tree_dir, &info) || !info.dli_fname)
        return 0;
    char *lib = realpath(info.dli_fname, NULL);
    char *root = realpath(MM_BUILD_ROOT, NULL);
    int ok = 0;
    if (lib && root) {
        char *slash = strrchr(lib, '/');
        if (slash) {
            *slash = 0;
            ok = strcmp(lib, root) == 0 &&
                 snprintf(buf, size, "%s/plugins", root) < (int)size;
        }
    }
    free(lib);
    free(root);
    return ok;
}

static int build_search_path_locked(void) {
    if (L.dirs_valid)
        return MM_OK;
    free_dirs(L.dirs, L.n_dirs);
    L.dirs = NULL;
    L.n_dirs = 0;
    int rc = MM_OK;
    for (size_t i = 0; !rc && i < L.n_prepend; i++)
        if (dir_usable(L.prepend[i], "--plugin-path"))
            rc = push_dir(&L.dirs, &L.n_dirs, L.prepend[i]);
    const char *env = getenv("MM_PLUGIN_PATH");
    if (!rc && env) {
        char *copy = strdup(env), *save = NULL;
        if (!copy)
            return mm_error_set(MM_ENOMEM, "out of memory");
        /* strtok_r drops empty entries: an empty entry never means ".". */
        for (char *d = strtok_r(copy, ":", &save); !rc && d;
             d = strtok_r(NULL, ":", &save))
            if (dir_usable(d, "MM_PLUGIN_PATH"))
                rc = push_dir(&L.dirs, &L.n_dirs, d);
        free(copy);
    }
    char buf[4096];
    if (!rc && mm_plugin_user_dir(buf, sizeof buf) == MM_OK &&
        dir_usable(buf, "user directory"))
        rc = push_dir(&L.dirs, &L.n_dirs, buf);
    if (!rc && dir_usable(MM_PLUGINDIR, "installed plugins"))
        rc = push_dir(&L.dirs, &L.n_dirs, MM_PLUGINDIR);
    if (!rc && build_tree_dir(buf, sizeof buf))
        rc = push_dir(&L.dirs, &L.n_dirs, buf);
    L.dirs_valid = !rc;
    return rc;
}

int mm_plugin_path_prepend(const char *dir) {
    pthread_mutex_lock(&L.lock);
    int rc = push_dir(&L.prepend, &L.n_prepend, dir);
    L.dirs_valid = 0;
    pthread_mutex_unlock(&L.lock);
    return rc;
}

const char *const *mm_plugin_search_path(size_t *n) {
    pthread_mutex_lock(&L.lock);
    build_search_path_locked();
    *n = L.n_dirs;
    const char *const *dirs = (const char *const *)L.dirs;
    pthread_mutex_unlock(&L.lock);
    return dirs;
}

static int find_locked(const char *scope, char **path) {
    int rc = build_search_path_locked();
    if (rc)
        return rc;
    for (size_t i = 0; i < L.n_dirs; i++) {
        size_t n = strlen(L.dirs[i]) + strlen(scope) + 5;
        char *p = malloc(n);
        if (!p)
            return mm_error_set(MM_ENOMEM, "out of memory");
        snprintf(p, n, "%s/%s.so", L.dirs[i], scope);
        if (access(p, F_OK) == 0) {
            *path = p;
            return MM_OK;
        }
        free(p);
    }
    mm_strbuf sb = {0};
    for (size_t i = 0; i < L.n_dirs; i++)
        mm_strbuf_printf(&sb, "%s%s", i ? ":" : "", L.dirs[i]);
    rc = mm_error_set(MM_ENOENT,
                      "no plugin for scope '%s': %s.so is not in the plugin "
                      "path (%s); install it with 'mm plugin install' or set "
                      "MM_PLUGIN_PATH",
                      scope, scope, sb.data ? sb.data : "empty");
    mm_strbuf_free(&sb);
    return rc;
}

int mm_plugin_find(const char *scope, char **path) {
    pthread_mutex_lock(&L.lock);
    int rc = find_locked(scope, path);
    pthread_mutex_unlock(&L.lock);
    return rc;
}

/* ---- descriptors ------------------------------------------------------------ */

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The scope a file name promises: "mmdet" for ".../mmdet.so". */
static int file_stem(const char *path, char *stem, size_t size) {
    const char *b = base_name(path);
    size_t n = strlen(b);
    if (n < 4 || strcmp(b + n - 3, ".so") != 0)
        return mm_error_set(MM_EINVAL,
                            "%s: a plugin file is named <scope>.so", path);
    n -= 3;
    if (n >= size)
        n = size - 1;
    memcpy(stem, b, n);
    stem[n] = 0;
    return MM_OK;
}

/* A descriptor getter under another name, found in the object's dynamic
 * string table: tells a renamed file from a file with no descriptor. */
static int other_getter(void *handle, char *scope, size_t size) {
    struct link_map *map = NULL;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map)
        return 0;
    const char *strtab = NULL;
    size_t strsz = 0;
    for (const ElfW(Dyn) *d = map->l_ld; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB)
            strtab = (const char *)d->d_un.d_ptr;
        else if (d->d_tag == DT_STRSZ)
            strsz = d->d_un.d_val;
    }
    if (!strtab || (uintptr_t)strtab < map->l_addr)
        return 0;
    static const char pre[] = "mm_plugin_", post[] = "_get_desc";
    for (size_t i = 0; i < strsz;) {
        const char *s = strtab + i;
        size_t n = strnlen(s, strsz - i);
        if (n > sizeof pre + sizeof post - 2 && strncmp(s, pre, sizeof pre - 1) == 0 &&
            strcmp(s + n - (sizeof post - 1), post) == 0 && dlsym(handle, s)) {
            size_t m = n - (sizeof pre - 1) - (sizeof post - 1);
            if (m >= size)
                m = size - 1;
            memcpy(scope, s + sizeof pre - 1, m);
            scope[m] = 0;
            return 1;
        }
        i += n + 1;
    }
    return 0;
}

static void copy_field(char *dst, size_t size, const char *src) {
    snprintf(dst, size, "%s", src ? src : "");
}

/* Open path and check its descriptor; never runs init. */
static int open_desc(const char *path, const mm_plugin_desc **out) {
    char stem[64];
    int rc = file_stem(path, stem, sizeof stem);
    if (rc)
        return rc;
    struct stat st;
    if (stat(path, &st) != 0)
        return mm_error_set(MM_ENOENT, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return mm_error_set(MM_EINVAL, "%s: not a regular file", path);
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return mm_error_set(MM_EIO, "%s: %s", path, strerror(errno));
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got != 4 || memcmp(magic, ELFMAG, SELFMAG) != 0)
        return mm_error_set(MM_EINVAL, "%s: not a shared object (no ELF header)",
                            path);
    if (!mm_scope_name_valid(stem))
        return mm_error_set(MM_EINVAL,
                            "%s: '%s' is not a scope name (lowercase letters, "
                            "digits and '_', starting with a letter)",
                            path, stem);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        return mm_error_set(MM_EINVAL, "%s: cannot load: %s", path,
                            why ? why : "unknown dlopen error");
    }
    char sym[128];
    snprintf(sym, sizeof sym, "mm_plugin_%s_get_desc", stem);
    const mm_plugin_desc *(*get)(void) =
        (const mm_plugin_desc *(*)(void))dlsym(h, sym);
    if (!get) {
        char other[64];
        if (other_getter(h, other, sizeof other))
            return mm_error_set(MM_EINVAL,
                                "%s: the plugin's scope is '%s' but the file "
                                "is named %s.so (a plugin file must be named "
                                "<scope>.so: rename it to %s.so)",
                                path, other, stem, other);
        return mm_error_set(MM_EINVAL,
                            "%s: no plugin descriptor (it exports no %s; build "
                            "it with MM_PLUGIN_DEFINE)",
                            path, sym);
    }
    const mm_plugin_desc *d = get();
    if (!d)
        return mm_error_set(MM_EINVAL, "%s: %s returned no descriptor", path,
                            sym);
    if (d->magic != MM_PLUGIN_MAGIC)
        return mm_error_set(MM_EINVAL,
                            "%s: bad descriptor magic 0x%08x (expected "
                            "0x%08x): not an mm plugin descriptor",
                            path, d->magic, MM_PLUGIN_MAGIC);
    /* 1.1 grew mm_module_class (forward_multi): a 1.0 plugin's module
     * classes are too short to be read safely. */
    if (d->abi_major != MM_ABI_MAJOR || d->abi_minor > MM_ABI_MINOR ||
        d->abi_minor < 1)
        return mm_error_set(MM_EINVAL,
                            "%s: built for mm ABI %u.%u, this mm is %d.%d "
                            "(rebuild the plugin against this mm)",
                            path, d->abi_major, d->abi_minor, MM_ABI_MAJOR,
                            MM_ABI_MINOR);
    if (d->size < sizeof(mm_plugin_desc))
        return mm_error_set(MM_EINVAL,
                            "%s: descriptor is %u bytes, ABI %d.%d needs %zu",
                            path, d->size, MM_ABI_MAJOR, MM_ABI_MINOR,
                            sizeof(mm_plugin_desc));
    if (!d->scope || strcmp(d->scope, stem) != 0)
        return mm_error_set(MM_EINVAL,
                            "%s: the plugin's scope is '%s' but the file is "
                            "named %s.so (a plugin file must be named "
                            "<scope>.so)",
                            path, d->scope ? d->scope : "(null)", stem);
    size_t n = 0;
    for (; d->requires && d->requires[n]; n++) {
        if (n >= MAX_REQUIRES)
            return mm_error_set(MM_EINVAL, "%s: more than %d required scopes",
                                path, MAX_REQUIRES);
        if (!mm_scope_name_valid(d->requires[n]))
            return mm_error_set(MM_EINVAL, "%s: requires '%s', not a scope name",
                                path, d->requires[n]);
    }
    *out = d;
    return MM_OK;
}

static void fill_info(const mm_plugin_desc *d, mm_plugin_info *info) {
    memset(info, 0, sizeof *info);
    copy_field(info->scope, sizeof info->scope, d->scope);
    copy_field(info->version, sizeof info->version, d->version);
    copy_field(info->license, sizeof info->license, d->license);
    copy_field(info->description, sizeof info->description, d->description);
    size_t len = 0;
    for (size_t i = 0; d->requires && d->requires[i]; i++)
        len += (size_t)snprintf(info->requires + len,
                                len < sizeof info->requires
                                    ? sizeof info->requires - len
                                    : 0,
                                "%s%s", i ? "," : "", d->requires[i]);
    info->abi_major = d->abi_major;
    info->abi_minor = d->abi_minor;
}

int mm_plugin_read_desc(const char *path, mm_plugin_info *out) {
    const mm_plugin_desc *d;
    int rc = open_desc(path, &d);
    if (rc)
        return rc;
    fill_info(d, out);
    return MM_OK;
}

/* ---- loading ------------------------------------------------------------ */

static plugin *plugin_get(const char *scope) {
    for (size_t i = 0; i < L.n; i++)
        if (strcmp(L.list[i].scope, scope) == 0)
            return &L.list[i];
    return NULL;
}

int mm_plugin_is_loaded(const char *scope) {
    if (strcmp(scope, "mm") == 0)
        return 1;
    pthread_mutex_lock(&L.lock);
    plugin *p = plugin_get(scope);
    int loaded = p && p->state == PLUGIN_LOADED;
    pthread_mutex_unlock(&L.lock);
    return loaded;
}

/* `chain` lists the scopes being loaded above this one, for the cycle
 * message. */
static int load_locked(const char *scope, const char *path_in,
                       mm_strbuf *chain) {
    plugin *p = plugin_get(scope);
    if (p && p->state == PLUGIN_LOADED) {
        if (path_in && strcmp(p->path, path_in) != 0) {
            char *a = realpath(p->path, NULL), *b = realpath(path_in, NULL);
            int same = a && b && strcmp(a, b) == 0;
            free(a);
            free(b);
            if (!same)
                return mm_error_set(MM_EEXIST,
                                    "%s: scope '%s' is already loaded from %s",
                                    path_in, scope, p->path);
        }
        return MM_OK;
    }
    if (p)
        return mm_error_set(MM_ECYCLE, "plugin requirement cycle: %s -> %s",
                            chain->data, scope);
    char *path = NULL;
    int rc = path_in ? ((path = strdup(path_in)) ? MM_OK
                                                  : mm_error_set(MM_ENOMEM, "out of memory"))
                     : find_locked(scope, &path);
    if (rc)
        return rc;
    const mm_plugin_desc *d;
    if ((rc = open_desc(path, &d))) {
        free(path);
        return rc;
    }
    if (L.n == L.cap) {
        size_t cap = L.cap ? L.cap * 2 : 16;
        plugin *grown = realloc(L.list, cap * sizeof *grown);
        if (!grown) {
            free(path);
            return mm_error_set(MM_ENOMEM, "out of memory");
        }
        L.list = grown;
        L.cap = cap;
    }
    size_t slot = L.n++;
    L.list[slot] = (plugin){.scope = mm_intern(d->scope), .path = path,
                            .desc = d, .state = PLUGIN_LOADING};
    size_t chain_len = chain->len;
    mm_strbuf_printf(chain, "%s%s", chain_len ? " -> " : "", d->scope);
    for (size_t i = 0; !rc && d->requires && d->requires[i]; i++) {
        rc = load_locked(d->requires[i], NULL, chain);
        if (rc)
            rc = mm_error_context(rc, NULL, "%s requires %s", path,
                                  d->requires[i]);
    }
    chain->len = chain_len;
    if (chain->data)
        chain->data[chain_len] = 0;
    if (!rc && d->init) {
        mm_registry_scope_begin(d->scope);
        rc = d->init();
        mm_registry_scope_end();
        if (rc) {
            mm_registry_scope_discard(d->scope);
            rc = mm_error_context(rc < 0 ? rc : MM_EINTERNAL, NULL,
                                  "%s: init failed", path);
        }
    }
    if (rc) {
        /* Forget the plugin; its code stays mapped (never dlclosed). */
        free(L.list[slot].path);
        L.list[slot] = L.list[--L.n];
        return rc;
    }
    L.list[slot].state = PLUGIN_LOADED;
    MM_DEBUG("loaded plugin %s %s from %s", d->scope,
             d->version ? d->version : "", path);
    return MM_OK;
}

static int load(const char *scope, const char *path) {
    mm_strbuf chain = {0};
    mm_registry_count(NULL); /* the core registers first */
    pthread_mutex_lock(&L.lock);
    int rc = load_locked(scope, path, &chain);
    pthread_mutex_unlock(&L.lock);
    mm_strbuf_free(&chain);
    return rc;
}

int mm_plugin_load(const char *scope) {
    if (!scope || !mm_scope_name_valid(scope))
        return mm_error_set(MM_EINVAL, "'%s' is not a scope name",
                            scope ? scope : "(null)");
    if (strcmp(scope, "mm") == 0)
        return MM_OK;
    return load(scope, NULL);
}

int mm_plugin_load_file(const char *path) {
    char stem[64];
    int rc = file_stem(path, stem, sizeof stem);
    if (rc)
        return rc;
    if (strcmp(stem, "mm") == 0)
        return mm_error_set(MM_EINVAL, "%s: 'mm' is the core's scope", path);
    return load(stem, path);
}

/* Every <scope>.so of the search path, in path order (the first file of a
 * scope wins, as mm_plugin_load finds it). A plugin that fails to load is
 * a warning: one broken file must not hide the others' components. */
int mm_plugin_load_all(size_t *n_loaded) {
    size_t n_dirs = 0, loaded = 0;
    const char *const *dirs0 = mm_plugin_search_path(&n_dirs);
    /* a copy: loading may rebuild the path */
    char **dirs = calloc(n_dirs ? n_dirs : 1, sizeof *dirs);
    if (!dirs)
        return mm_error_set(MM_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_dirs; i++)
        dirs[i] = strdup(dirs0[i]);
    for (size_t i = 0; i < n_dirs; i++) {
        DIR *d = dirs[i] ? opendir(dirs[i]) : NULL;
        struct dirent *ent;
        while (d && (ent = readdir(d))) {
            char stem[64];
            size_t len = strlen(ent->d_name);
            if (len < 4 || len - 3 >= sizeof stem ||
                strcmp(ent->d_name + len - 3, ".so") != 0)
                continue;
            memcpy(stem, ent->d_name, len - 3);
            stem[len - 3] = 0;
            if (!mm_scope_name_valid(stem) || !strcmp(stem, "mm") ||
                mm_plugin_is_loaded(stem))
                continue;
            if (mm_plugin_load(stem) == MM_OK) {
                loaded++;
            } else {
                MM_WARN("plugin %s: %s", stem, mm_error_message());
                mm_error_clear();
            }
        }
        if (d)
            closedir(d);
        free(dirs[i]);
    }
    free(dirs);
    if (n_loaded)
        *n_loaded = loaded;
    return MM_OK;
}

void mm_plugins_shutdown(void) {
    pthread_mutex_lock(&L.lock);
    for (size_t i = L.n; i-- > 0;)
        if (L.list[i].state == PLUGIN_LOADED && L.list[i].desc->fini)
            L.list[i].desc->fini();
    for (size_t i = 0; i < L.n; i++)
        free(L.list[i].path);
    free(L.list);
    L.list = NULL;
    L.n = L.cap = 0;
    free_dirs(L.dirs, L.n_dirs);
    free_dirs(L.prepend, L.n_prepend);
    L.dirs = L.prepend = NULL;
    L.n_dirs = L.n_prepend = 0;
    L.dirs_valid = 0;
    pthread_mutex_unlock(&L.lock);
}

/* ---- the probe ------------------------------------------------------------ */

typedef struct probe_result {
    int rc;
    size_t n_components;
    mm_plugin_info info;
    char message[1024];
} probe_result;

static void probe_child(const char *path, int fd) {
    probe_result r;
    memset(&r, 0, sizeof r);
    const mm_plugin_desc *d;
    r.rc = open_desc(path, &d);
    if (!r.rc) {
        fill_info(d, &r.info);
        r.rc = mm_plugin_load_file(path);
        if (!r.rc)
            r.n_components = mm_registry_count(r.info.scope);
    }
    if (r.rc)
        snprintf(r.message, sizeof r.message, "%s", mm_error_message());
    const char *b = (const char *)&r;
    for (size_t off = 0; off < sizeof r;) {
        ssize_t w = write(fd, b + off, sizeof r - off);
        if (w <= 0 && errno != EINTR)
            break;
        off += w > 0 ? (size_t)w : 0;
    }
    _exit(0);
}

int mm_plugin_probe(const char *path, mm_plugin_info *info,
                    size_t *n_components) {
    int fds[2];
    if (pipe(fds) != 0)
        return mm_error_set(MM_EIO, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return mm_error_set(MM_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The verdict travels through the pipe; what the plugin (or a
         * sanitizer catching its crash) prints would only interleave with
         * the caller's output. */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
            close(null);
        }
        close(fds[0]);
        probe_child(path, fds[1]);
    }
    close(fds[1]);
    probe_result r;
    size_t got = 0;
    int timed_out = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (got < sizeof r) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = PROBE_TIMEOUT_MS - ((now.tv_sec - start.tv_sec) * 1000 +
                                        (now.tv_nsec - start.tv_nsec) / 1000000);
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (pr == 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        if (pr < 0 && errno == EINTR)
            continue;
        ssize_t n = read(fds[0], (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        return mm_error_set(MM_EINVAL,
                            "%s: loading it did not finish within %d s "
                            "(hangs in init?): refused",
                            path, PROBE_TIMEOUT_MS / 1000);
    if (WIFSIGNALED(status))
        return mm_error_set(MM_EINVAL,
                            "%s: crashed while loading (signal %d, %s): "
                            "refused",
                            path, WTERMSIG(status), strsignal(WTERMSIG(status)));
    if (got != sizeof r)
        return mm_error_set(MM_EINVAL,
                            "%s: the probe process exited (status %d) before "
                            "reporting: refused",
                            path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    r.message[sizeof r.message - 1] = 0;
    if (r.rc)
        return mm_error_set(r.rc < 0 && r.rc > -MM_ERROR_COUNT ? r.rc : MM_EINVAL,
                            "%s", r.message);
    if (info)
        *info = r.info;
    if (n_components)
        *n_components = r.n_components;
    return MM_OK;
}
