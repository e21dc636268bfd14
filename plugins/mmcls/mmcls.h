/* Registration entry points of the mmcls plugin's areas. */
#ifndef MMCLS_MMCLS_H
#define MMCLS_MMCLS_H

int mmcls_register_metrics(void); /* metrics.c */

#endif
