/* Parameter type checks shared by registration and validation. */
#ifndef MM_REGISTRY_SCHEMA_H
#define MM_REGISTRY_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/registry.h"

/* True if v has a type the parameter allows (component-typed parameters
 * check only the container here; validation recurses into it). */
bool mm_param_accepts(const mm_param *p, const mm_value *v);

#endif
