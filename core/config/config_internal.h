/* Shared between the config files (not public API). */
#ifndef MM_CONFIG_INTERNAL_H
#define MM_CONFIG_INTERNAL_H

#include <stdbool.h>

#include "mm/value.h"

#define MM_CONFIG_BASE_KEY "_base_"
#define MM_CONFIG_DELETE_KEY "_delete_"

/* True for a path segment made only of digits (a list index). */
bool mm_config_is_index(const char *seg);

/* One step down a dotted path: the child of a dict by key, or of a list
 * by a digit segment, with its position in *index; NULL if absent. */
mm_value *mm_config_child(const mm_value *cur, const char *seg, size_t *index);

/* Remove `_delete_` keys from every dict in the tree. */
void mm_config_strip_directives(mm_value *v);

#endif
