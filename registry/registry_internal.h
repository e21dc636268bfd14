/* Between the registry, the schema checks and the plugin loader. */
#ifndef MM_REGISTRY_INTERNAL_H
#define MM_REGISTRY_INTERNAL_H

#include "mm/plugin.h"
#include "mm/registry.h"

/* One registered component with its parsed parameter defaults. */
typedef struct mm_reg_entry {
    mm_entry pub;
    mm_value **defaults; /* n_params; NULL where the schema has none */
} mm_reg_entry;

/* Registration window: the loader opens it around a plugin's init (under
 * its lock), for this thread only. */
void mm_registry_scope_begin(const char *scope);
void mm_registry_scope_end(void);
/* Drop what a scope registered (its init failed). */
void mm_registry_scope_discard(const char *scope);

/* The internal entry behind a public one. */
const mm_reg_entry *mm_registry_entry_of(const mm_entry *e);

/* Parameter `name` of a component, or NULL; *index receives its position. */
const mm_param *mm_component_param(const mm_component *c, const char *name,
                                   size_t *index);

/* A scope name: lowercase letters, digits and '_', starting with a letter,
 * at most 63 characters. */
int mm_scope_name_valid(const char *s);

/* The core's own registrations; run once, before the first lookup. */
void mm_core_register(void);

#endif
