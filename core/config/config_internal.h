/* Shared between the config files (not public API). */
#ifndef MM_CONFIG_INTERNAL_H
#define MM_CONFIG_INTERNAL_H

#include <stdbool.h>

#include "mm/value.h"

#define MM_CONFIG_BASE_KEY "_base_"
#define MM_CONFIG_DELETE_KEY "_delete_"

/* True for a path segment made only of digits (a list index). */
bool mm_config_is_index(const char *seg);

/* Remove `_delete_` keys from every dict in the tree. */
void mm_config_strip_directives(mm_value *v);

#endif
