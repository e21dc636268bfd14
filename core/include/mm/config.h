/* mm/config.h - OpenMMLab-style configs in YAML.
 *
 * A config is a YAML mapping, read into an mm_value dict whose every node
 * remembers its file:line:col. Loading follows mmengine's Config:
 *
 *   1. text substitution of {{fileDirname}}, {{fileBasename}},
 *      {{fileBasenameNoExtension}}, {{fileExtname}} and {{$ENV:default}};
 *   2. `_base_` (a path or a list of paths relative to the file, or
 *      `scope::path` resolved by the scope hook) loaded recursively; sibling
 *      bases must not share a top-level key; a cycle is an error;
 *   3. {{_base_.a.b}} replaced by the value at a.b of the merged bases;
 *   4. the file merged over its bases: dicts merge recursively, the child
 *      wins, lists and scalars replace, `_delete_: true` drops the inherited
 *      dict; top-level keys starting with "__" are dropped;
 *   5. command-line overrides (`a.b.0.c=value`) merged in;
 *   6. `${a.b.c}` references and `${env:VAR,default}` resolved over the
 *      final tree, so a changed key propagates to every reference.
 *
 * Every error is one line with the location it is about. See docs/config.md. */
#ifndef MM_CONFIG_H
#define MM_CONFIG_H

#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The name given to values that came from overrides. */
#define MM_CONFIG_CMDLINE "<command line>"

/* Resolve `scope::relpath` in a _base_ entry to a file path (malloc'd into
 * *path). Plugins that ship configs answer for their scope; the default
 * hook knows no scopes. Return MM_ENOENT with an error set if unknown. */
typedef int (*mm_config_scope_hook)(const char *scope, const char *relpath,
                                    char **path, void *user);
MM_API void mm_config_set_scope_hook(mm_config_scope_hook hook, void *user);

/* Load, merge and resolve a config file, with overrides applied before
 * references are resolved. overrides may be NULL when n_overrides is 0. */
MM_API int mm_config_load(const char *path, const char *const *overrides,
                          size_t n_overrides, mm_value **out) MM_NODISCARD;

/* The steps of mm_config_load, for callers that need them separately. */
/* Steps 1-4: the merged tree, references not yet resolved. */
MM_API int mm_config_load_merged(const char *path,
                                 mm_value **out) MM_NODISCARD;
/* Step 5: apply one `key.path=value` override in place. `index` (0-based)
 * numbers the override in error locations. */
MM_API int mm_config_apply_override(mm_value *cfg, const char *override,
                                    int index) MM_NODISCARD;
/* Step 6: replace every ${...} reference in place. */
MM_API int mm_config_resolve(mm_value *cfg) MM_NODISCARD;

/* Merge `child` over `base` (step 4 semantics) into a new tree. `base_name`
 * names the base in error messages. */
MM_API int mm_config_merge(const mm_value *base, const mm_value *child,
                           mm_value **out) MM_NODISCARD;

/* Look up a dotted path ("model.backbone.depth", digits index lists);
 * borrowed, NULL if absent. */
MM_API mm_value *mm_config_get(const mm_value *cfg, const char *path);

/* Describe what differs between two configs, one line per changed path:
 * "- a.b: 1", "+ a.b: 2". Empty text when equal. */
MM_API int mm_config_diff(const mm_value *a, const mm_value *b,
                          char **out) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
