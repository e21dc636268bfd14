/* mmcls metrics. */
#include <mm/registry.h>

#include "mmcls.h"

int mmcls_register_metrics(void) { return MM_OK; }
