/* Models: the generic entry points of <mm/model.h> (preprocess, loss,
 * predict, parse_losses), the image data preprocessing every image model
 * shares, and the MODELS components BaseDataPreprocessor and
 * ImgDataPreprocessor (mmengine.model). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/model.h"
#include "nn_internal.h"

bool mm_model_has_loss(const mm_module *m) {
    return m && m->cls->model && m->cls->model->loss;
}

/* ---- the image data preprocessor ---------------------------------------- */

/* The batch's inputs as n tensors (borrowed). `inputs` is a list of
 * tensors (pseudo_collate) or one stacked tensor (default_collate), whose
 * first dim is then the batch. */
typedef struct batch_inputs {
    size_t n;
    mm_tensor *stacked;      /* default_collate's tensor, or NULL */
    const mm_value *list;    /* pseudo_collate's list, or NULL */
} batch_inputs;

static int batch_inputs_get(const mm_value *batch, batch_inputs *bi) {
    memset(bi, 0, sizeof *bi);
    if (!mm_value_is_dict(batch))
        return mm_error_set(MM_EINVAL,
                            "data_preprocessor: the batch is a %s, not a dict "
                            "with 'inputs' and 'data_samples'",
                            mm_value_type_name(mm_value_type_of(batch)));
    const mm_value *in = mm_value_dict_get(batch, "inputs");
    if (!in)
        return mm_error_set(MM_EINVAL,
                            "data_preprocessor: the batch has no 'inputs'");
    mm_tensor *t = mm_tensor_from_value(in);
    if (t) {
        if (t->ndim < 3 || t->ndim > 4)
            return mm_error_set(MM_EINVAL,
                                "data_preprocessor: inputs: a stacked batch "
                                "must be NCHW or NHW, got %d dims",
                                t->ndim);
        bi->stacked = t;
        bi->n = (size_t)t->shape[0];
        return MM_OK;
    }
    if (!mm_value_is_list(in))
        return mm_error_set(MM_EINVAL,
                            "data_preprocessor: inputs is a %s, not a list "
                            "of tensors",
                            mm_value_type_name(mm_value_type_of(in)));
    bi->list = in;
    bi->n = mm_value_len(in);
    for (size_t i = 0; i < bi->n; i++) {
        mm_tensor *x = mm_tensor_from_value(mm_value_list_get(in, i));
        if (!x)
            return mm_error_set(MM_EINVAL,
                                "data_preprocessor: inputs[%zu] is not a "
                                "tensor",
                                i);
        if (x->ndim != 2 && x->ndim != 3)
            return mm_error_set(MM_EINVAL,
                                "data_preprocessor: inputs[%zu]: expected a "
                                "CHW or HW image, got %d dims",
                                i, x->ndim);
        if (x->device.type != MM_DEVICE_CPU)
            return mm_error_set(MM_EUNSUPPORTED,
                                "data_preprocessor: inputs[%zu]: only CPU "
                                "tensors are preprocessed",
                                i);
    }
    return MM_OK;
}

/* Sample i as a CHW view (HW becomes 1HW); made in the current pool. */
static int batch_inputs_at(const batch_inputs *bi, size_t i, mm_tensor **out) {
    mm_tensor *x;
    if (bi->stacked)
        MM_TRY(mm_select(bi->stacked, 0, (int64_t)i, &x));
    else
        x = mm_tensor_from_value(mm_value_list_get(bi->list, i));
    if (x->ndim == 2)
        return mm_unsqueeze(x, 0, out);
    *out = x;
    return MM_OK;
}

/* The data samples to hand on: the batch's own dicts (updated in place, as
 * mmengine sets metainfo on its data samples), or new empty dicts when the
 * batch has none. */
static int batch_samples(const mm_value *batch, size_t n, mm_value **out) {
    *out = NULL;
    const mm_value *ds = mm_value_dict_get(batch, "data_samples");
    mm_value *list = mm_value_new_list();
    if (!list)
        return mm_error_set(MM_ENOMEM, "out of memory");
    if (ds && !mm_value_is_null(ds)) {
        if (!mm_value_is_list(ds) || mm_value_len(ds) != n) {
            mm_value_release(list);
            return mm_error_set(MM_EINVAL,
                                "data_preprocessor: data_samples must be a "
                                "list of %zu dicts, one per input",
                                n);
        }
        for (size_t i = 0; i < n; i++) {
            if (mm_value_list_append(list, mm_value_list_get(ds, i))) {
                mm_value_release(list);
                return mm_error_set(MM_ENOMEM, "out of memory");
            }
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (mm_value_list_append_take(list, mm_value_new_dict())) {
                mm_value_release(list);
                return mm_error_set(MM_ENOMEM, "out of memory");
            }
        }
    }
    *out = list;
    return MM_OK;
}

static mm_value *shape_value(int64_t h, int64_t w) {
    mm_value *v = mm_value_new_list();
    if (v && (mm_value_list_append_take(v, mm_value_new_int(h)) ||
              mm_value_list_append_take(v, mm_value_new_int(w)))) {
        mm_value_release(v);
        return NULL;
    }
    return v;
}

static int64_t round_up(int64_t x, int64_t d) { return (x + d - 1) / d * d; }

/* The work of mm_img_preprocess inside its own pool: *out is the batch. */
static int img_preprocess(const mm_img_preprocess_cfg *cfg,
                          const batch_inputs *bi, mm_tensor **out) {
    size_t n = bi->n;
    if (n == 0)
        return mm_error_set(MM_EINVAL, "data_preprocessor: empty batch");
    bool swap = cfg->bgr_to_rgb || cfg->rgb_to_bgr;
    int64_t c0 = 0, hmax = 0, wmax = 0;
    mm_tensor **xs = calloc(n, sizeof *xs);
    if (!xs)
        return mm_error_set(MM_ENOMEM, "out of memory");
    int rc = MM_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        mm_tensor *x;
        rc = batch_inputs_at(bi, i, &x);
        if (rc)
            break;
        if (i == 0)
            c0 = x->shape[0];
        if (x->shape[0] != c0) {
            char a[64], b[64];
            rc = mm_error_set(MM_EINVAL,
                              "data_preprocessor: inputs[%zu]: shape %s has "
                              "another channel count than inputs[0]'s %s",
                              i, mm_shape_format(x->ndim, x->shape, a, 64),
                              mm_shape_format(3, xs[0]->shape, b, 64));
            break;
        }
        if (cfg->n_mean > 1 && x->shape[0] != cfg->n_mean) {
            char a[64];
            rc = mm_error_set(MM_EINVAL,
                              "data_preprocessor: inputs[%zu]: mean has %d "
                              "values, so the input must be (%d, H, W), got "
                              "%s",
                              i, cfg->n_mean, cfg->n_mean,
                              mm_shape_format(x->ndim, x->shape, a, 64));
            break;
        }
        /* u8 and f32 images are read as they are (the cast is fused into
         * the loop below); anything else becomes contiguous f32 first. */
        mm_tensor *c = x;
        if ((x->dtype != MM_U8 && x->dtype != MM_F32) ||
            !mm_tensor_is_contiguous(x)) {
            mm_tensor *f;
            rc = mm_to_dtype(x, MM_F32, &f);
            if (!rc)
                rc = mm_contiguous(f, &c);
            if (rc)
                break;
        }
        xs[i] = c;
        hmax = c->shape[1] > hmax ? c->shape[1] : hmax;
        wmax = c->shape[2] > wmax ? c->shape[2] : wmax;
    }
    int64_t div = cfg->pad_size_divisor > 0 ? cfg->pad_size_divisor : 1;
    int64_t hp = round_up(hmax, div), wp = round_up(wmax, div);
    mm_tensor *y = NULL;
    if (!rc)
        rc = mm_empty(MM_SHAPE((int64_t)n, c0, hp, wp), MM_F32, &y);
    const float pad = (float)cfg->pad_value;
    for (size_t i = 0; i < n && !rc; i++) {
        const mm_tensor *x = xs[i];
        int64_t h = x->shape[1], w = x->shape[2];
        float *dst = MM_DATA(y, float) + (int64_t)i * c0 * hp * wp;
        for (int64_t c = 0; c < c0; c++) {
            /* mmengine swaps channels first, then normalises with the mean
             * of the output channel. */
            int64_t sc = swap && c0 == 3 ? 2 - c : c;
            float mean = 0.0f, std = 1.0f;
            if (cfg->n_mean > 0) {
                int k = cfg->n_mean == 1 ? 0 : (int)c;
                mean = (float)cfg->mean[k];
                std = (float)cfg->std[k];
            }
            for (int64_t r = 0; r < h; r++) {
                float *d = dst + (c * hp + r) * wp;
                if (x->dtype == MM_U8) {
                    const uint8_t *s = MM_DATA(x, uint8_t) + (sc * h + r) * w;
                    if (cfg->n_mean > 0)
                        for (int64_t q = 0; q < w; q++)
                            d[q] = ((float)s[q] - mean) / std;
                    else
                        for (int64_t q = 0; q < w; q++)
                            d[q] = (float)s[q];
                } else {
                    const float *s = MM_DATA(x, float) + (sc * h + r) * w;
                    if (cfg->n_mean > 0)
                        for (int64_t q = 0; q < w; q++)
                            d[q] = (s[q] - mean) / std;
                    else
                        memcpy(d, s, (size_t)w * sizeof *d);
                }
                for (int64_t q = w; q < wp; q++) /* right padding */
                    d[q] = pad;
            }
            for (int64_t r = h; r < hp; r++) /* bottom padding */
                for (int64_t q = 0; q < wp; q++)
                    dst[(c * hp + r) * wp + q] = pad;
        }
    }
    free(xs);
    *out = y;
    return rc;
}

/* mm_img_preprocess; `record` adds batch_input_shape and pad_shape to the
 * samples (ImgDataPreprocessor does, BaseDataPreprocessor does not). */
static int img_preprocess_batch(const mm_img_preprocess_cfg *cfg,
                                const mm_value *batch, bool record,
                                mm_tensor **inputs, mm_value **data_samples) {
    *inputs = NULL;
    *data_samples = NULL;
    if (cfg->n_mean < 0 || cfg->n_mean > 4)
        return mm_error_set(MM_EINVAL,
                            "data_preprocessor: mean has %d values (1 to 4 "
                            "allowed)",
                            cfg->n_mean);
    if (cfg->bgr_to_rgb && cfg->rgb_to_bgr)
        return mm_error_set(MM_EINVAL,
                            "data_preprocessor: bgr_to_rgb and rgb_to_bgr "
                            "cannot both be true");
    batch_inputs bi;
    MM_TRY(batch_inputs_get(batch, &bi));
    mm_value *samples;
    MM_TRY(batch_samples(batch, bi.n, &samples));
    mm_pool *pool;
    int rc = mm_pool_open(&pool);
    if (rc) {
        mm_value_release(samples);
        return rc;
    }
    mm_tensor *y = NULL;
    rc = img_preprocess(cfg, &bi, &y);
    if (rc) {
        mm_pool_close(pool);
        mm_value_release(samples);
        return rc;
    }
    rc = mm_pool_close_keep(pool, y, &y);
    if (rc) {
        mm_value_release(samples);
        return rc;
    }
    /* mmdet's DetDataPreprocessor records the padded batch shape in every
     * sample (both keys, [H, W]); classification models ignore them. */
    for (size_t i = 0; record && i < bi.n && !rc; i++) {
        mm_value *s = mm_value_list_get(samples, i);
        if (!mm_value_is_dict(s))
            continue;
        if (mm_value_dict_set_take(s, "batch_input_shape",
                                   shape_value(y->shape[2], y->shape[3])) ||
            mm_value_dict_set_take(s, "pad_shape",
                                   shape_value(y->shape[2], y->shape[3])))
            rc = mm_error_set(MM_ENOMEM, "out of memory");
    }
    if (rc) {
        mm_value_release(samples);
        return rc;
    }
    *inputs = y;
    *data_samples = samples;
    return MM_OK;
}

int mm_img_preprocess(const mm_img_preprocess_cfg *cfg, const mm_value *batch,
                      mm_tensor **inputs, mm_value **data_samples) {
    return img_preprocess_batch(cfg, batch, true, inputs, data_samples);
}

/* ---- the generic entry points ------------------------------------------- */

int mm_model_preprocess(mm_module *model, const mm_value *batch,
                        bool training, mm_tensor **inputs,
                        mm_value **data_samples) {
    *inputs = NULL;
    *data_samples = NULL;
    mm_module *dp = model ? mm_module_get_child(model, "data_preprocessor")
                          : NULL;
    if (dp && dp->cls->model && dp->cls->model->preprocess)
        return dp->cls->model->preprocess(dp, batch, training, inputs,
                                          data_samples);
    /* No preprocessor: BaseDataPreprocessor's stack and cast. */
    mm_img_preprocess_cfg cfg = {.pad_size_divisor = 1};
    batch_inputs bi;
    MM_TRY(batch_inputs_get(batch, &bi));
    for (size_t i = 1; bi.list && i < bi.n; i++) {
        mm_tensor *a = mm_tensor_from_value(mm_value_list_get(bi.list, 0));
        mm_tensor *b = mm_tensor_from_value(mm_value_list_get(bi.list, i));
        if (!mm_tensor_same_shape(a, b)) {
            char sa[64], sb[64];
            return mm_error_set(MM_EINVAL,
                                "data_preprocessor: inputs[%zu]: shape %s "
                                "differs from %s",
                                i, mm_shape_format(b->ndim, b->shape, sb, 64),
                                mm_shape_format(a->ndim, a->shape, sa, 64));
        }
    }
    return img_preprocess_batch(&cfg, batch, false, inputs, data_samples);
}

int mm_model_loss(mm_module *m, int n, mm_tensor *const *inputs,
                  mm_value *data_samples, mm_value **losses) {
    *losses = NULL;
    if (!mm_model_has_loss(m))
        return mm_error_set(MM_EINVAL, "%s has no mode 'loss'",
                            m ? m->cls->name : "(null model)");
    int rc = m->cls->model->loss(m, n, inputs, data_samples, losses);
    return rc && m->name ? mm_error_context(rc, NULL, "%s", m->name) : rc;
}

int mm_model_predict(mm_module *m, int n, mm_tensor *const *inputs,
                     mm_value *data_samples, mm_value **out) {
    *out = NULL;
    if (!m || !m->cls->model || !m->cls->model->predict)
        return mm_error_set(MM_EINVAL, "%s has no mode 'predict'",
                            m ? m->cls->name : "(null model)");
    int rc = m->cls->model->predict(m, n, inputs, data_samples, out);
    return rc && m->name ? mm_error_context(rc, NULL, "%s", m->name) : rc;
}

/* The mean of one loss entry: a tensor's mean, or the sum of the means of
 * a list of tensors (mmengine's parse_losses). */
static int loss_entry_mean(const char *key, const mm_value *v,
                           mm_tensor **out) {
    mm_tensor *t = mm_tensor_from_value(v);
    if (t)
        return mm_mean(t, 0, NULL, false, out);
    if (!mm_value_is_list(v) || mm_value_len(v) == 0)
        return mm_error_set(MM_ETYPE,
                            "parse_losses: %s is not a tensor or list of "
                            "tensors",
                            key);
    mm_tensor *sum = NULL;
    for (size_t i = 0; i < mm_value_len(v); i++) {
        mm_tensor *e = mm_tensor_from_value(mm_value_list_get(v, i)), *m;
        if (!e)
            return mm_error_set(MM_ETYPE,
                                "parse_losses: %s is not a tensor or list of "
                                "tensors",
                                key);
        MM_TRY(mm_mean(e, 0, NULL, false, &m));
        if (sum)
            MM_TRY(mm_add(sum, m, &sum));
        else
            sum = m;
    }
    *out = sum;
    return MM_OK;
}

static int set_float(mm_value *d, const char *key, mm_tensor *t) {
    double x;
    MM_TRY(mm_tensor_item(t, &x));
    if (mm_value_dict_set_take(d, key, mm_value_new_float(x)))
        return mm_error_set(MM_ENOMEM, "out of memory");
    return MM_OK;
}

/* In the caller's pool: the means, the total, and log_vars filled. */
static int parse_losses(const mm_value *losses, mm_value *log_vars,
                        mm_tensor **loss) {
    size_t n = mm_value_len(losses);
    mm_tensor **means = calloc(n ? n : 1, sizeof *means);
    if (!means)
        return mm_error_set(MM_ENOMEM, "out of memory");
    mm_tensor *total = NULL;
    int rc = MM_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *key = mm_value_dict_key_at(losses, i);
        rc = loss_entry_mean(key, mm_value_dict_value_at(losses, i),
                             &means[i]);
        if (rc || !strstr(key, "loss"))
            continue;
        if (total)
            rc = mm_add(total, means[i], &total);
        else
            total = means[i];
    }
    if (!rc && !total)
        rc = mm_error_set(MM_EINVAL,
                          "parse_losses: no entry's key contains 'loss'");
    /* "loss" first, then every entry (an entry named "loss" overwrites the
     * total's value in place, as mmengine's OrderedDict does). */
    if (!rc)
        rc = set_float(log_vars, "loss", total);
    for (size_t i = 0; i < n && !rc; i++)
        rc = set_float(log_vars, mm_value_dict_key_at(losses, i), means[i]);
    free(means);
    *loss = total;
    return rc;
}

int mm_model_parse_losses(const mm_value *losses, mm_tensor **loss,
                          mm_value **log_vars) {
    *loss = NULL;
    *log_vars = NULL;
    if (!mm_value_is_dict(losses))
        return mm_error_set(MM_ETYPE, "parse_losses: losses is a %s, not a "
                            "dict",
                            mm_value_type_name(mm_value_type_of(losses)));
    mm_value *lv = mm_value_new_dict();
    if (!lv)
        return mm_error_set(MM_ENOMEM, "out of memory");
    mm_pool *pool;
    int rc = mm_pool_open(&pool);
    if (rc) {
        mm_value_release(lv);
        return rc;
    }
    mm_tensor *total = NULL;
    rc = parse_losses(losses, lv, &total);
    if (rc) {
        mm_pool_close(pool);
        mm_value_release(lv);
        return rc;
    }
    rc = mm_pool_close_keep(pool, total, loss);
    if (rc) {
        mm_value_release(lv);
        return rc;
    }
    *log_vars = lv;
    return MM_OK;
}

/* ---- MODELS: BaseDataPreprocessor, ImgDataPreprocessor ------------------- */

typedef struct img_dp {
    mm_module base;
    mm_img_preprocess_cfg cfg;
    mm_tensor *mean, *std; /* (C, 1, 1), non-persistent buffers */
    bool non_blocking;
} img_dp;

static int img_dp_preprocess(mm_module *m, const mm_value *batch,
                             bool training, mm_tensor **inputs,
                             mm_value **data_samples) {
    (void)training; /* ImgDataPreprocessor has no batch augments */
    return mm_img_preprocess(&((img_dp *)m)->cfg, batch, inputs,
                             data_samples);
}

static int base_dp_preprocess(mm_module *m, const mm_value *batch,
                              bool training, mm_tensor **inputs,
                              mm_value **data_samples) {
    (void)m;
    return mm_model_preprocess(NULL, batch, training, inputs, data_samples);
}

/* The data preprocessor as a plain module: forward(x) preprocesses one
 * stacked batch, so `tensor` mode and exporters can call it. */
static int img_dp_forward(mm_module *m, int n, mm_tensor *const *in,
                          mm_tensor **out) {
    MM_TRY(nn_one_input(m, n, in));
    mm_value *batch = mm_value_new_dict();
    if (!batch || mm_value_dict_set_take(batch, "inputs",
                                         mm_tensor_to_value(in[0]))) {
        mm_value_release(batch);
        return mm_error_set(MM_ENOMEM, "out of memory");
    }
    mm_value *samples = NULL;
    int rc = m->cls->model->preprocess(m, batch, false, out, &samples);
    mm_value_release(samples);
    mm_value_release(batch);
    return rc;
}

static void img_dp_repr(const mm_module *m, char *buf, size_t size) {
    const mm_img_preprocess_cfg *c = &((const img_dp *)m)->cfg;
    snprintf(buf, size, "pad_size_divisor=%lld, pad_value=%g%s%s",
             (long long)c->pad_size_divisor, c->pad_value,
             c->bgr_to_rgb ? ", bgr_to_rgb=True" : "",
             c->rgb_to_bgr ? ", rgb_to_bgr=True" : "");
}

static const struct mm_model_ops img_dp_ops = {.preprocess = img_dp_preprocess};
static const struct mm_model_ops base_dp_ops = {
    .preprocess = base_dp_preprocess};

static const mm_module_class img_dp_class = {.name = "ImgDataPreprocessor",
                                             .forward = img_dp_forward,
                                             .extra_repr = img_dp_repr,
                                             .model = &img_dp_ops};
static const mm_module_class base_dp_class = {.name = "BaseDataPreprocessor",
                                              .forward = img_dp_forward,
                                              .model = &base_dp_ops};

/* A list of numbers (mean, std) into out[0..*n); null: *n = 0. */
static int read_numbers(mm_build_ctx *ctx, const char *param, double *out,
                        int *n) {
    const mm_value *v = mm_build_arg(ctx, param);
    *n = 0;
    if (mm_value_is_null(v))
        return MM_OK;
    if (mm_value_is_number(v)) {
        out[0] = mm_value_get_float(v);
        *n = 1;
        return MM_OK;
    }
    size_t len = mm_value_len(v);
    if (len != 1 && len != 3)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "%s: expected 1 or 3 values, got %zu "
                               "(mmengine: `mean` should have 1 or 3 values)",
                               param, len);
    for (size_t i = 0; i < len; i++) {
        const mm_value *e = mm_value_list_get(v, i);
        if (!mm_value_is_number(e))
            return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                   "%s[%zu]: expected a number", param, i);
        out[i] = mm_value_get_float(e);
    }
    *n = (int)len;
    return MM_OK;
}

static int add_stat_buffer(mm_module *m, const char *name, const double *v,
                           int n, mm_tensor **field) {
    float f[4];
    for (int i = 0; i < n; i++)
        f[i] = (float)v[i];
    mm_pool *pool;
    MM_TRY(mm_pool_open(&pool));
    mm_tensor *t = NULL;
    int rc = mm_from_data(f, MM_SHAPE(n, 1, 1), MM_F32, &t);
    if (!rc)
        rc = mm_module_add_buffer(m, name, t, false, field);
    mm_pool_close(pool);
    return rc;
}

static int img_dp_build(mm_build_ctx *ctx, void **out) {
    *out = NULL;
    mm_img_preprocess_cfg cfg = {0};
    int n_std;
    bool non_blocking;
    MM_TRY(read_numbers(ctx, "mean", cfg.mean, &cfg.n_mean));
    MM_TRY(read_numbers(ctx, "std", cfg.std, &n_std));
    MM_TRY(mm_build_int(ctx, "pad_size_divisor", &cfg.pad_size_divisor));
    MM_TRY(mm_build_float(ctx, "pad_value", &cfg.pad_value));
    MM_TRY(mm_build_bool(ctx, "bgr_to_rgb", &cfg.bgr_to_rgb));
    MM_TRY(mm_build_bool(ctx, "rgb_to_bgr", &cfg.rgb_to_bgr));
    MM_TRY(mm_build_bool(ctx, "non_blocking", &non_blocking));
    const mm_value *node = mm_build_node(ctx);
    if ((cfg.n_mean == 0) != (n_std == 0))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                               "mean and std should be both null or both "
                               "set");
    if (cfg.n_mean && cfg.n_mean != n_std)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                               "mean has %d values but std has %d",
                               cfg.n_mean, n_std);
    for (int i = 0; i < n_std; i++)
        if (cfg.std[i] == 0.0)
            return mm_error_set_at(
                MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "std")),
                "std[%d] is 0 (division by zero)", i);
    if (cfg.bgr_to_rgb && cfg.rgb_to_bgr)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(node),
                               "bgr_to_rgb and rgb_to_bgr cannot both be "
                               "true");
    if (cfg.pad_size_divisor < 1)
        return mm_error_set_at(
            MM_EINVAL, mm_value_loc(mm_build_arg(ctx, "pad_size_divisor")),
            "pad_size_divisor must be at least 1, got %lld",
            (long long)cfg.pad_size_divisor);
    mm_module *m;
    MM_TRY(mm_module_new(&img_dp_class, sizeof(img_dp), &m));
    img_dp *d = (img_dp *)m;
    d->cfg = cfg;
    d->non_blocking = non_blocking;
    int rc = MM_OK;
    if (cfg.n_mean) {
        rc = add_stat_buffer(m, "mean", cfg.mean, cfg.n_mean, &d->mean);
        if (!rc)
            rc = add_stat_buffer(m, "std", cfg.std, n_std, &d->std);
    }
    if (rc) {
        mm_module_free(m);
        return rc;
    }
    *out = m;
    return MM_OK;
}

static int base_dp_build(mm_build_ctx *ctx, void **out) {
    bool non_blocking;
    MM_TRY(mm_build_bool(ctx, "non_blocking", &non_blocking));
    mm_module *m = NULL;
    int rc = mm_module_new(&base_dp_class, sizeof(mm_module), &m);
    return nn_out(rc, m, out);
}

#define NON_BLOCKING_PARAM                                                     \
    {.name = "non_blocking", .type = MM_PARAM_BOOL, .def = "false",            \
     .doc = "accepted for mmengine configs (copies are synchronous)"}

static const mm_param base_dp_params[] = {NON_BLOCKING_PARAM};

static const mm_param img_dp_params[] = {
    {.name = "mean",
     .type = MM_PARAM_FLOAT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "per-channel mean subtracted after the channel swap (1 or 3)"},
    {.name = "std",
     .type = MM_PARAM_FLOAT | MM_PARAM_LIST | MM_PARAM_NULL,
     .def = "null",
     .doc = "per-channel std divided by (1 or 3 values)"},
    {.name = "pad_size_divisor",
     .type = MM_PARAM_INT,
     .def = "1",
     .doc = "pad height and width up to a multiple of this"},
    {.name = "pad_value",
     .type = MM_PARAM_FLOAT,
     .def = "0",
     .doc = "value of padded pixels (after normalisation)"},
    {.name = "bgr_to_rgb",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "swap channels 0 and 2 of 3-channel inputs"},
    {.name = "rgb_to_bgr",
     .type = MM_PARAM_BOOL,
     .def = "false",
     .doc = "swap channels 0 and 2 of 3-channel inputs"},
    NON_BLOCKING_PARAM,
};

NN_COMPONENT(base_dp_c, "BaseDataPreprocessor",
             "stack a batch's inputs and cast them to float32",
             base_dp_params, base_dp_build);
NN_COMPONENT(img_dp_c, "ImgDataPreprocessor",
             "stack, channel swap, normalise and pad a batch of images",
             img_dp_params, img_dp_build);

int mm_nn_register_model(void) {
    static const mm_component *const cs[] = {&base_dp_c, &img_dp_c};
    return nn_register_all(cs, sizeof cs / sizeof cs[0]);
}
