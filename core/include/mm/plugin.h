/* mm/plugin.h - the plugin ABI and the plugin loader.
 *
 * A plugin is a shared object `<scope>.so` that exports exactly one symbol,
 * `const mm_plugin_desc *mm_plugin_<scope>_get_desc(void)`, written by
 * MM_PLUGIN_DEFINE:
 *
 *     static int init(void) {
 *         return mm_register(&tiny_net);   // registration only inside init
 *     }
 *     MM_PLUGIN_DEFINE(ext, "0.1.0", "Apache-2.0", "Tiny example components",
 *                      MM_PLUGIN_REQUIRES("mmcls"), init)
 *
 * The loader opens it with RTLD_NOW|RTLD_LOCAL and checks, before running
 * anything of it but the getter: the magic, the ABI (major equal, minor not
 * newer than the host's), the descriptor size, and that the scope equals the
 * file stem. It then loads the required scopes (a cycle is an error) and
 * calls init under the loader lock; what init registers belongs to the
 * scope. Plugins are never unloaded; fini runs at mm_plugins_shutdown().
 *
 * Search path, first match wins: --plugin-path entries
 * (mm_plugin_path_prepend), MM_PLUGIN_PATH (colon list), the user directory
 * $XDG_DATA_HOME/mm/plugins (~/.local/share/mm/plugins), the installed
 * ${libdir}/mm/plugins; an uninstalled build also searches its own build
 * tree. Never the current directory: relative entries are skipped, and so
 * are group- or world-writable directories, with a warning. */
#ifndef MM_PLUGIN_H
#define MM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "mm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MM_PLUGIN_MAGIC 0x6d6d706cu /* "mmpl" */
#define MM_ABI_MAJOR 1
#define MM_ABI_MINOR 2

typedef struct mm_plugin_desc {
    uint32_t magic;          /* MM_PLUGIN_MAGIC */
    uint16_t abi_major;      /* MM_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;
    uint32_t size;           /* sizeof(mm_plugin_desc) as built */
    const char *scope;       /* == file stem: mmdet for mmdet.so */
    const char *version;
    const char *license;     /* SPDX identifier */
    const char *description; /* one line */
    const char *const *requires; /* NULL-terminated scope list, or NULL */
    int (*init)(void);       /* registers the components; 0 or MM_E* */
    void (*fini)(void);      /* may be NULL */
} mm_plugin_desc;

#define MM_PLUGIN_EXPORT __attribute__((visibility("default")))

/* A required-scopes list for MM_PLUGIN_DEFINE: MM_PLUGIN_REQUIRES("mmcls").
 * Use NULL for none. */
#define MM_PLUGIN_REQUIRES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The descriptor lives at file scope, so a MM_PLUGIN_REQUIRES list (a
 * compound literal) has static storage too. */
#define MM_PLUGIN_DEFINE_FULL(scope_, version_, license_, description_,        \
                              requires_, init_, fini_)                         \
    static const mm_plugin_desc mm_plugin_desc_##scope_ = {                    \
        .magic = MM_PLUGIN_MAGIC,                                              \
        .abi_major = MM_ABI_MAJOR,                                             \
        .abi_minor = MM_ABI_MINOR,                                             \
        .size = sizeof(mm_plugin_desc),                                        \
        .scope = #scope_,                                                      \
        .version = version_,                                                   \
        .license = license_,                                                   \
        .description = description_,                                           \
        .requires = requires_,                                                 \
        .init = init_,                                                         \
        .fini = fini_,                                                         \
    };                                                                         \
    MM_PLUGIN_EXPORT const mm_plugin_desc *mm_plugin_##scope_##_get_desc(void);\
    const mm_plugin_desc *mm_plugin_##scope_##_get_desc(void) {                \
        return &mm_plugin_desc_##scope_;                                       \
    }

#define MM_PLUGIN_DEFINE(scope_, version_, license_, description_, requires_, \
                         init_)                                                \
    MM_PLUGIN_DEFINE_FULL(scope_, version_, license_, description_,           \
                          requires_, init_, NULL)

/* ---- the loader ---------------------------------------------------------- */

/* Put a directory in front of the search path (--plugin-path). */
MM_API int mm_plugin_path_prepend(const char *dir);
/* The search path as it will be used, directories that are skipped left out
 * (with a warning logged once). Owned by the loader; valid until the next
 * call that changes the path. n receives the count. */
MM_API const char *const *mm_plugin_search_path(size_t *n);

/* Load scope `scope` (and what it requires) from the search path, running
 * its init; a no-op if loaded. `mm` is the core and always loaded. */
MM_API int mm_plugin_load(const char *scope);
/* Load a plugin file by path (its stem must be its scope). */
MM_API int mm_plugin_load_file(const char *path);
/* Load every plugin on the search path that is not loaded yet (what a
 * lookup across all scopes needs: `mm checkpoint maps`, a key map by
 * name). A plugin that fails to load is logged as a warning and skipped.
 * n_loaded (may be NULL) receives how many were loaded now. */
MM_API int mm_plugin_load_all(size_t *n_loaded);
/* True if scope is loaded (or is `mm`). */
MM_API int mm_plugin_is_loaded(const char *scope);

/* What a plugin file says about itself, read without running its init. */
typedef struct mm_plugin_info {
    char scope[64];
    char version[64];
    char license[64];
    char description[256];
    char requires[256];   /* comma-separated */
    unsigned abi_major, abi_minor;
} mm_plugin_info;

/* Open `path`, find and check its descriptor, and fill *out; never calls
 * init. Each refusal is one line: not a shared object, no descriptor, bad
 * magic, ABI mismatch, scope/file-name mismatch. */
MM_API int mm_plugin_read_desc(const char *path, mm_plugin_info *out);

/* Load `path` in a child process (its requirements from the search path)
 * and run its init there, so a plugin that crashes cannot take the caller
 * down. On success *n_components is what init registered. */
MM_API int mm_plugin_probe(const char *path, mm_plugin_info *info,
                           size_t *n_components);

/* Find `<scope>.so` on the search path; *path is malloc'd. MM_ENOENT if
 * no directory has it. */
MM_API int mm_plugin_find(const char *scope, char **path);

/* The user plugin directory ($XDG_DATA_HOME/mm/plugins, else
 * ~/.local/share/mm/plugins), where `mm plugin install` copies to. */
MM_API int mm_plugin_user_dir(char *buf, size_t size);

/* Run every loaded plugin's fini, in reverse load order. */
MM_API void mm_plugins_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif
