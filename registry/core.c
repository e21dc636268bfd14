/* The core scope `mm`: the components libmm itself provides (generic layers,
 * losses, optimizers, hooks, ...). Each layer adds its registration call
 * here as it lands; this runs once, before the first lookup. */
#include "registry_internal.h"

void mm_core_register(void) {}
