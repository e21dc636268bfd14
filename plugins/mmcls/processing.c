#include "mmcls.h"
int mmcls_register_image_transforms(void) { return 0; }
