/* ckpt_sample FILE: write the checkpoint that tests/io/st_read.py checks with
 * an independent reader and checkpoint_cli.sh feeds to `mm checkpoint info`.
 * Values are formulas the reader recomputes: tensor k (in insertion order)
 * holds element i = (i - 3) * 0.5 + k for float dtypes, (i * 7 + k) % 256
 * for U8, i % 2 == 0 for BOOL, (i - 3) * 1000003 + k for I64/I32. */
#include <stdio.h>
#include <string.h>

#include "mm/mm.h"

static int fill(mm_tensor *t, int k) {
    for (int64_t i = 0; i < t->numel; i++) {
        double v;
        switch (t->dtype) {
        case MM_U8: v = (double)((i * 7 + k) % 256); break;
        case MM_BOOL: v = i % 2 == 0; break;
        case MM_I64:
        case MM_I32: v = (double)((i - 3) * 1000003 + k); break;
        default: v = (double)(i - 3) * 0.5 + k;
        }
        mm_tensor_set_flat(t, i, v);
    }
    return 0;
}

static int run(const char *path) {
    mm_checkpoint *ck;
    MM_TRY(mm_checkpoint_new(&ck));
    static const struct {
        const char *name;
        mm_dtype dt;
        int ndim;
        int64_t shape[4];
    } items[] = {
        {"state_dict.backbone.conv1.weight", MM_F32, 4, {6, 1, 5, 5}},
        {"state_dict.backbone.conv1.bias", MM_F32, 1, {6}},
        {"state_dict.backbone.bn.num_batches_tracked", MM_I64, 0, {0}},
        {"state_dict.head.fc.weight", MM_F64, 2, {3, 7}},
        {"state_dict.head.fc.half", MM_F16, 1, {5}},
        {"state_dict.head.fc.bhalf", MM_BF16, 2, {2, 3}},
        {"state_dict.head.index", MM_I32, 1, {9}},
        {"state_dict.head.mask", MM_BOOL, 1, {5}},
        {"state_dict.head.lut", MM_U8, 1, {11}},
        {"state_dict.head.empty", MM_F32, 2, {0, 4}},
        {"optimizer.state.0.momentum_buffer", MM_F32, 4, {6, 1, 5, 5}},
        {"ema_state_dict.backbone.conv1.bias", MM_F32, 1, {6}},
    };
    int rc = 0;
    for (int k = 0; k < (int)(sizeof items / sizeof *items) && rc == 0; k++) {
        mm_tensor *t;
        rc = mm_empty(items[k].ndim, items[k].shape, items[k].dt, &t);
        if (rc == 0) {
            fill(t, k);
            rc = mm_checkpoint_add(ck, items[k].name, t);
            mm_tensor_release(t);
        }
    }
    const char *meta = "{\"epoch\": 2, \"iter\": 3750, \"seed\": 1234, "
                       "\"mm_version\": \"0.1.0\", \"experiment_name\": "
                       "\"lenet5_fashion-mnist\", \"lr\": 0.01}";
    mm_value *v = NULL;
    if (rc == 0)
        rc = mm_json_parse(meta, strlen(meta), "<meta>", &v);
    if (rc == 0)
        rc = mm_checkpoint_set_meta(ck, "meta", v);
    mm_value_release(v);
    mm_value *hub = mm_value_new_dict();
    if (rc == 0)
        rc = mm_value_dict_set_take(hub, "log_scalars",
                                    mm_value_new_string("train/loss"));
    if (rc == 0)
        rc = mm_checkpoint_set_meta(ck, "message_hub", hub);
    mm_value_release(hub);
    if (rc == 0)
        rc = mm_checkpoint_save(ck, path);
    mm_checkpoint_free(ck);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: ckpt_sample FILE\n");
        return 2;
    }
    if (run(argv[1]) != 0) {
        fprintf(stderr, "ckpt_sample: %s\n", mm_error_message());
        return 1;
    }
    return 0;
}
