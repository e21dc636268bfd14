/* mm/registry.h - named components, their parameter schemas and builders.
 *
 * Everything a config can name (`type: ResNet`, `type: mmcls.Accuracy`) is a
 * component registered under a kind (MODELS, DATASETS, ...), a scope (the
 * plugin that registered it, or `mm` for the core) and a name. A component
 * carries a parameter schema and a builder:
 *
 *   - the schema (name, type, default, required, one-line doc per parameter)
 *     validates a config node before anything is built, so a typo is an
 *     error with file:line:col and a did-you-mean, and it is what
 *     `mm plugin info` prints;
 *   - the builder turns a validated node into an object. It reads its
 *     arguments through mm_build_arg() (the node's value or the schema
 *     default) and builds nested components (a backbone inside a model)
 *     with mm_build_child(), which extends the key path used in errors.
 *
 * Names resolve like mmengine's registries: `scope.Name` is explicit; a bare
 * `Name` is looked up in the current default scope (the config's
 * `default_scope`, or a node's `_scope_`, which also applies to its
 * children), then in the core scope `mm`. A scope that is not loaded yet is
 * loaded on demand from the plugin search path (see mm/plugin.h).
 *
 * Registration happens only inside a plugin's init (or the core's own
 * registration at startup) and is scoped to that plugin; registering a name
 * twice is an error. Lookups are thread-safe. Components are stored by
 * pointer: a plugin keeps them in static storage (plugins are never
 * unloaded). */
#ifndef MM_REGISTRY_H
#define MM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/error.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The registry kinds (mmengine's registry names). */
typedef enum mm_kind {
    MM_MODELS,
    MM_DATASETS,
    MM_TRANSFORMS,
    MM_DATA_SAMPLERS,
    MM_COLLATE_FUNCTIONS,
    MM_METRICS,
    MM_EVALUATORS,
    MM_HOOKS,
    MM_LOOPS,
    MM_OPTIMIZERS,
    MM_OPTIM_WRAPPERS,
    MM_PARAM_SCHEDULERS,
    MM_TASK_UTILS,
    MM_VISUALIZERS,
    MM_VIS_BACKENDS,
    MM_INFERENCERS,
    MM_KIND_COUNT
} mm_kind;

/* "MODELS", ...; "?" out of range. */
MM_API const char *mm_kind_name(mm_kind kind);
/* Parse "MODELS" (case-insensitive); MM_EINVAL if unknown. */
MM_API int mm_kind_parse(const char *name, mm_kind *out);

/* Parameter types: a mask, so `kernel_size: 3` or `[3, 3]` is
 * MM_PARAM_INT | MM_PARAM_LIST. MM_PARAM_FLOAT accepts integers too. */
enum {
    MM_PARAM_NULL = 1u << 0,
    MM_PARAM_BOOL = 1u << 1,
    MM_PARAM_INT = 1u << 2,
    MM_PARAM_FLOAT = 1u << 3,
    MM_PARAM_STRING = 1u << 4,
    MM_PARAM_LIST = 1u << 5,
    MM_PARAM_DICT = 1u << 6,
    /* A component config of `kind` (a dict with `type`), validated
     * recursively against the component it names. */
    MM_PARAM_COMPONENT = 1u << 7,
    /* A list of component configs of `kind` (a pipeline, custom hooks). */
    MM_PARAM_COMPONENT_LIST = 1u << 8,
    MM_PARAM_ANY = 0x1ffu,
};

typedef struct mm_param {
    const char *name;
    unsigned type;       /* MM_PARAM_* mask */
    const char *def;     /* default as YAML text ("0.1", "[1, 2]", "null");
                            NULL: no default */
    bool required;       /* must appear in the config */
    mm_kind kind;        /* for MM_PARAM_COMPONENT(_LIST) */
    const char *doc;     /* one line */
} mm_param;

/* The type mask in words ("int or list", "a MODELS config") into buf. */
MM_API const char *mm_param_type_str(const mm_param *p, char *buf,
                                     size_t size);

typedef struct mm_build_ctx mm_build_ctx;

/* Build the object a validated config node describes. `out` receives the
 * object; its type is the kind's contract (an mm_module for MODELS, ...).
 * On failure, set the error without the key path: the registry prefixes
 * "model.backbone (mmcls.ResNet): " itself. */
typedef int (*mm_build_fn)(mm_build_ctx *ctx, void **out);

typedef struct mm_component {
    mm_kind kind;
    const char *name;          /* "ResNet": letters, digits, '_' */
    const char *doc;           /* one line */
    const mm_param *params;    /* array of n_params */
    size_t n_params;
    /* Accept keys the schema does not list (a wrapper passing **kwargs on):
     * they are still type-free, so prefer listing parameters. */
    bool extra_params;
    mm_build_fn build;
    void (*destroy)(void *obj); /* optional: frees what build made */
} mm_component;

/* Register a component in the scope whose init is running on this thread.
 * MM_EINVAL outside a plugin's init, for a malformed name or schema (a
 * default that does not parse or does not match its type); MM_EEXIST for a
 * name already registered in that scope and kind. */
MM_API int mm_register(const mm_component *c);
/* mm_register for each of the n components of an array, in order; stops
 * at the first failure. */
MM_API int mm_register_all(const mm_component *cs, size_t n);

/* ---- lookup ------------------------------------------------------------- */

/* A resolved entry: the component and the scope that registered it. Entries
 * live as long as the process. */
typedef struct mm_entry {
    const mm_component *component;
    const char *scope;
} mm_entry;

/* Resolve `name` ("Name" or "scope.Name") of `kind`, with `default_scope`
 * (may be NULL) searched before `mm`. Loads scopes on demand. An unknown
 * name is MM_ENOENT with the closest registered names and the scopes
 * searched in the message; `loc` (may be NULL) prefixes it. */
MM_API int mm_registry_lookup(mm_kind kind, const char *name,
                              const char *default_scope, const mm_srcloc *loc,
                              const mm_entry **out);

/* Call fn for every entry of `scope` (all scopes if NULL), kind by kind,
 * in registration order. */
MM_API void mm_registry_foreach(const char *scope,
                                void (*fn)(const mm_entry *e, void *user),
                                void *user);
MM_API size_t mm_registry_count(const char *scope);

/* ---- validation and building -------------------------------------------- */

/* Check a component config node (a dict with `type`) of `kind` against the
 * schema of the component it names, recursively through component-typed
 * parameters. `path` ("model.backbone") names the node in errors. */
MM_API int mm_registry_validate(mm_kind kind, const mm_value *node,
                                const char *default_scope, const char *path);

/* Validate, then build. `user` is handed to every builder in the tree
 * (the runner, say); *out receives the object. */
MM_API int mm_registry_build(mm_kind kind, const mm_value *node,
                             const char *default_scope, const char *path,
                             void *user, void **out);

/* ---- init_cfg of type Pretrained ----------------------------------------
 *
 * mmengine applies a module's `init_cfg` in init_weights(), which its
 * Runner calls in train() (not in val() or test()); an entry of type
 * Pretrained ({type: Pretrained, checkpoint: PATH, prefix: P, map: NAME},
 * `map` being mm's key map) loads weights from a file. Loading files is
 * the runner's business, not a component's, so the builder takes the
 * Pretrained entries out of every MODELS node's init_cfg before the
 * component's build runs: the component sees the other entries (or null
 * when none is left) and never has to handle Pretrained. Validation checks
 * their keys. mm_registry_build_with_inits also records each with the
 * object built from its node, children before their parents (the order in
 * which mmengine applies them, so an outer module's Pretrained has the
 * last word); plain mm_registry_build drops them. */
typedef struct mm_pretrained_init {
    void *obj;     /* the object built (an mm_module) */
    char *path;    /* its config key path ("model.backbone") */
    mm_value *cfg; /* the Pretrained dict (a reference) */
} mm_pretrained_init;

typedef struct mm_pretrained_inits {
    size_t n, cap;
    mm_pretrained_init *items;
} mm_pretrained_inits;

/* mm_registry_build recording the Pretrained init_cfg entries of every
 * MODELS node built, nested builds included, into *inits (appended; the
 * caller clears it). On failure nothing is appended. */
MM_API int mm_registry_build_with_inits(mm_kind kind, const mm_value *node,
                                        const char *default_scope,
                                        const char *path, void *user,
                                        void **out,
                                        mm_pretrained_inits *inits);
MM_API void mm_pretrained_inits_clear(mm_pretrained_inits *inits);

/* Inside a builder: the node's value for `param`, or the schema's default
 * (a null value if the parameter has neither). Borrowed. */
MM_API const mm_value *mm_build_arg(mm_build_ctx *ctx, const char *param);
/* Typed shortcuts; MM_ETYPE with the key path if the value is not of the
 * type (validation makes that an internal error, not a user one). */
MM_API int mm_build_int(mm_build_ctx *ctx, const char *param, int64_t *out);
MM_API int mm_build_float(mm_build_ctx *ctx, const char *param, double *out);
MM_API int mm_build_bool(mm_build_ctx *ctx, const char *param, bool *out);
MM_API int mm_build_string(mm_build_ctx *ctx, const char *param,
                           const char **out);
/* Build the component-typed parameter `param` (its kind comes from the
 * schema). *out is NULL when the value is null. For a component list,
 * `index` picks the element. */
MM_API int mm_build_child(mm_build_ctx *ctx, const char *param, void **out);
MM_API int mm_build_child_at(mm_build_ctx *ctx, const char *param,
                             size_t index, void **out);
/* The node being built, its key path, its entry, the scope bare names
 * resolve in, and the `user` pointer given to mm_registry_build. */
MM_API const mm_value *mm_build_node(const mm_build_ctx *ctx);
MM_API const char *mm_build_path(const mm_build_ctx *ctx);
MM_API const mm_entry *mm_build_entry(const mm_build_ctx *ctx);
MM_API const char *mm_build_scope(const mm_build_ctx *ctx);
MM_API void *mm_build_user(const mm_build_ctx *ctx);

/* Validate every component a whole (merged) config names: model,
 * *_dataloader.{dataset,sampler,batch_sampler,collate_fn}, *_evaluator,
 * optim_wrapper, param_scheduler, default_hooks, custom_hooks, *_cfg loops,
 * visualizer, and top-level *_pipeline lists of transforms. Uses the
 * config's default_scope. */
MM_API int mm_config_validate_components(const mm_value *cfg);

#ifdef __cplusplus
}
#endif
#endif
