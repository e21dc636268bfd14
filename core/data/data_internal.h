/* Between the files of core/data (not public API). */
#ifndef MM_DATA_INTERNAL_H
#define MM_DATA_INTERNAL_H

#include "mm/data.h"

/* A Compose of already built steps (takes them, also on failure). */
int mm_compose_new(mm_transform **steps, size_t n, mm_transform **out);

/* Record the config node a dataset comes from (its key path and its
 * "path (scope.Name)" label for messages); for builders of wrappers, which
 * have no base parameters. */
int mm_dataset_attach_build(mm_dataset *ds, mm_build_ctx *ctx);
/* While a builder runs, errors must not carry the dataset's label (the
 * registry adds the node's path itself). */
void mm_dataset_set_building(mm_dataset *ds, bool building);
/* Share another dataset's metainfo (wrappers: mmengine's
 * `self._metainfo = self.dataset.metainfo`). */
void mm_dataset_share_metainfo(mm_dataset *ds, mm_dataset *from);
/* "train_dataloader.dataset (mm.ConcatDataset)", or the class name. */
const char *mm_dataset_label(const mm_dataset *ds);

/* A uniform integer in [0, n) from gen (n > 0), on the Philox stream the
 * way mm_randint draws it. */
int mm_data_randint(mm_generator *gen, int64_t n, int64_t *out);

int mm_data_register_datasets(void);
int mm_data_register_samplers(void);
int mm_data_register_collate(void);

#endif
