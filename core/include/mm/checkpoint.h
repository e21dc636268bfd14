/* mm/checkpoint.h - checkpoints: safetensors files with metadata.
 *
 * A checkpoint is one safetensors file (DESIGN section 10): an 8-byte
 * little-endian header length, a JSON header mapping each tensor name to
 * its dtype ("F32", "BF16", "I64", ...), shape and data offsets, then the
 * raw little-endian data. The header's `__metadata__` (string -> string, as
 * the format requires) carries everything that is not a tensor, each value
 * a JSON text: `meta` (epoch, iter, seed, config, dataset_meta, mm
 * version, time), `message_hub`, `param_schedulers`, `optimizer` (the
 * param_groups' hyper-parameters) and whatever a hook adds. Tensor names
 * are prefixed by what they belong to: `state_dict.backbone.conv1.weight`,
 * `optimizer.state.0.momentum_buffer`, `ema_state_dict.*`.
 *
 * Files are written atomically (a temporary file beside the target, fsync,
 * rename), so a crash never leaves a torn checkpoint. Reading checks every
 * length, offset, dtype and shape against the file, SQLite-style: a
 * truncated or corrupt file is one line ("ckpt.safetensors: truncated:
 * tensor 'state_dict.fc.weight' ends at byte 4120, the file has 4096"),
 * never a crash. Files written by other safetensors writers (the Python
 * safetensors package) load too.
 *
 *     mm_checkpoint *ck;
 *     MM_TRY(mm_checkpoint_new(&ck));
 *     MM_TRY(mm_checkpoint_add_module(ck, "state_dict.", model));
 *     MM_TRY(mm_checkpoint_set_meta(ck, "meta", meta));
 *     MM_TRY(mm_checkpoint_save(ck, "work_dirs/x/epoch_1.safetensors"));
 *     mm_checkpoint_free(ck);
 */
#ifndef MM_CHECKPOINT_H
#define MM_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "mm/error.h"
#include "mm/nn.h"
#include "mm/tensor.h"
#include "mm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_checkpoint mm_checkpoint;

MM_API int mm_checkpoint_new(mm_checkpoint **out) MM_NODISCARD;
MM_API void mm_checkpoint_free(mm_checkpoint *ck); /* NULL ok */

/* ---- tensors ------------------------------------------------------------ */

/* Add a tensor (retained; saved contiguous, CPU) under `name`; MM_EEXIST for
 * a name present. */
MM_API int mm_checkpoint_add(mm_checkpoint *ck, const char *name,
                             mm_tensor *t) MM_NODISCARD;
/* Every state_dict entry of m, each name prefixed ("state_dict."). */
MM_API int mm_checkpoint_add_module(mm_checkpoint *ck, const char *prefix,
                                    mm_module *m) MM_NODISCARD;
MM_API size_t mm_checkpoint_count(const mm_checkpoint *ck);
/* Entry i in file order: name and tensor (both borrowed). */
MM_API int mm_checkpoint_at(const mm_checkpoint *ck, size_t i,
                            const char **name,
                            mm_tensor **t) MM_NODISCARD;
/* By name (borrowed); NULL when absent. */
MM_API mm_tensor *mm_checkpoint_get(const mm_checkpoint *ck, const char *name);

/* The entries under `prefix` with the prefix removed, as a state dict
 * (references added to `out`, which the caller clears). */
MM_API int mm_checkpoint_state_dict(const mm_checkpoint *ck,
                                    const char *prefix,
                                    mm_state_dict *out) MM_NODISCARD;

/* ---- metadata ----------------------------------------------------------- */

/* Set metadata entry `key` to v (any mm_value without tensors; stored as
 * JSON text). Replaces an existing key. */
MM_API int mm_checkpoint_set_meta(mm_checkpoint *ck, const char *key,
                                  const mm_value *v) MM_NODISCARD;
/* The parsed value of `key` (borrowed), or NULL when absent. An entry that
 * is not JSON (another writer's plain string) reads as a string. */
MM_API const mm_value *mm_checkpoint_get_meta(const mm_checkpoint *ck,
                                              const char *key);
/* All metadata as a dict of key -> parsed value (borrowed). */
MM_API const mm_value *mm_checkpoint_meta(const mm_checkpoint *ck);

/* ---- files -------------------------------------------------------------- */

/* Write atomically: tmp + fsync + rename, mode 0644. */
MM_API int mm_checkpoint_save(const mm_checkpoint *ck,
                              const char *path) MM_NODISCARD;
/* Read and check a whole file. */
MM_API int mm_checkpoint_load(const char *path,
                              mm_checkpoint **out) MM_NODISCARD;

/* The same two in memory (a test driver's pipe, a network message): the
 * bytes of a complete file. `name` (NULL: "<buffer>") starts every error
 * message. *out is malloc'd (free()). */
MM_API int mm_checkpoint_save_buffer(const mm_checkpoint *ck, void **out,
                                     size_t *len) MM_NODISCARD;
MM_API int mm_checkpoint_load_buffer(const void *data, size_t len,
                                     const char *name,
                                     mm_checkpoint **out) MM_NODISCARD;

/* Load the entries under `prefix` into m (non-strict unless `strict`),
 * converting dtypes; *report (may be NULL) receives the missing and
 * unexpected keys and shape mismatches, as mmengine's load_state_dict
 * reports them. Strict loading with any of those is MM_EINVAL listing
 * them. */
MM_API int mm_checkpoint_load_module(const mm_checkpoint *ck,
                                     const char *prefix, mm_module *m,
                                     bool strict,
                                     mm_load_report *report) MM_NODISCARD;

/* What `mm checkpoint info FILE` prints: the metadata summary (epoch,
 * iter, mm version, config name), then one line per tensor group with
 * counts, bytes and dtypes; `verbose` lists every tensor. A new string
 * (free()). */
MM_API int mm_checkpoint_describe(const mm_checkpoint *ck, bool verbose,
                                  char **out) MM_NODISCARD;

/* ---- PyTorch files -------------------------------------------------------
 *
 * mm_checkpoint_load also reads what torch.save writes (the zip format,
 * torch >= 1.6): the pickle is read by a restricted unpickler that accepts
 * only the globals a state dict needs (torch._utils._rebuild_tensor_v2 and
 * its kin, the storage classes, collections.OrderedDict) and refuses any
 * other global with one line naming it, so a malicious file never runs
 * code. Nested dicts are flattened with '.' (an mmengine checkpoint's
 * `state_dict` dict becomes `state_dict.backbone.conv1.weight`; a bare
 * torchvision state dict keeps its keys); non-tensor leaves (`meta`) go to
 * the metadata. Legacy (pre-zip) files are MM_EUNSUPPORTED with a hint. */
MM_API int mm_pth_load(const char *path, mm_checkpoint **out) MM_NODISCARD;
/* Does the file start like a torch zip (or legacy pickle) file? */
MM_API bool mm_pth_sniff(const void *head, size_t len);

/* The model weights of a loaded checkpoint as mmengine's load_checkpoint
 * finds them: the entries under "state_dict." when there are any, else
 * every tensor (a bare state dict), without a DataParallel "module."; then
 * the entries under `prefix` ("backbone", read as "backbone."; NULL or ""
 * for all) with it stripped (MM_ENOENT when none is). References are added to `out`. */
MM_API int mm_checkpoint_weights(const mm_checkpoint *ck, const char *prefix,
                                 mm_state_dict *out) MM_NODISCARD;
/* The same through a key map: every weight (no prefix), the map `map`
 * applied (NULL or "": none, then this is mm_checkpoint_weights), then the
 * entries under `prefix` with it stripped. What init_cfg Pretrained with
 * `map` and `mm checkpoint convert --map` use. */
MM_API int mm_checkpoint_weights_mapped(const mm_checkpoint *ck,
                                        const char *map, const char *prefix,
                                        mm_state_dict *out) MM_NODISCARD;

/* ---- key maps ------------------------------------------------------------
 *
 * A key map turns another library's state dict (torchvision's
 * `layer1.0.conv1.weight`, `fc.weight`) into the names of the mm model
 * that implements the same architecture (mmpretrain's names, the native
 * ones: `backbone.layer1.0.conv1.weight`, `head.fc.weight`). It may rename,
 * drop, split or merge tensors. A key it does not know is MM_EINVAL naming
 * the key, never a silent drop. Plugins register theirs in their init (the
 * table lives in static storage; plugins are never unloaded); the names
 * are "<library>.<family>": "torchvision.resnet". */
typedef int (*mm_key_map_fn)(const mm_state_dict *in, mm_state_dict *out);

typedef struct mm_key_map {
    const char *name; /* "torchvision.resnet" */
    const char *doc;  /* one line: which models it covers */
    mm_key_map_fn apply;
} mm_key_map;

/* MM_EEXIST for a name already registered. Thread-safe. */
MM_API int mm_key_map_register(const mm_key_map *map) MM_NODISCARD;
/* By name; MM_ENOENT listing the registered names when unknown. Loads the
 * plugins on the search path first if the name is not registered yet. */
MM_API int mm_key_map_find(const char *name,
                           const mm_key_map **out) MM_NODISCARD;
/* Registered maps in registration order (i < mm_key_map_count()). */
MM_API size_t mm_key_map_count(void);
MM_API const mm_key_map *mm_key_map_at(size_t i);
/* Apply the named map (find + apply): *out an empty state dict filled. */
MM_API int mm_key_map_apply(const char *name, const mm_state_dict *in,
                            mm_state_dict *out) MM_NODISCARD;

#ifdef __cplusplus
}
#endif
#endif
