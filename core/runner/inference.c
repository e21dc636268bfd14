/* Inference for embedding programs and `mm infer` (<mm/apis.h>): a model
 * built from a config, weights from a checkpoint, images through the
 * config's test pipeline, predictions with class names. */
#include <stdlib.h>
#include <string.h>

#include "mm/apis.h"
#include "mm/autograd.h"
#include "mm/checkpoint.h"
#include "mm/config.h"
#include "mm/data.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/registry.h"
#include "mm/transform.h"

struct mm_inferencer {
    mm_value *cfg;
    char *scope;
    mm_module *model;
    mm_transform *pipeline;
    mm_value *classes; /* list of strings, or NULL */
};

static int oom(void) { return mm_error_set(MM_ENOMEM, "out of memory"); }

static const mm_value *cfg_path(const mm_value *cfg, const char *path) {
    return mm_config_get(cfg, path);
}

/* The test pipeline: the top-level test_pipeline (mmpretrain's configs
 * define one, and a config made for inference can set it alone), else
 * test_dataloader.dataset.pipeline, as one Compose. */
static int build_pipeline(mm_inferencer *inf) {
    const char *where = "test_pipeline";
    const mm_value *p = cfg_path(inf->cfg, where);
    if (!p) {
        where = "test_dataloader.dataset.pipeline";
        p = cfg_path(inf->cfg, where);
    }
    if (p && !mm_value_is_list(p))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(p),
                               "%s: expected a list of transforms", where);
    if (!p)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(inf->cfg),
                               "the config has no test pipeline "
                               "(test_dataloader.dataset.pipeline or "
                               "test_pipeline): inference needs one to load "
                               "and resize images");
    mm_value *node = mm_value_new_dict(), *steps = mm_value_copy(p);
    if (!node || !steps) {
        mm_value_release(node);
        mm_value_release(steps);
        return oom();
    }
    mm_value_set_srcloc(node, mm_value_loc(p));
    int rc = mm_value_dict_set_take(node, "type",
                                    mm_value_new_string("Compose"));
    /* images come as files: a pipeline that starts from decoded arrays
     * (MNIST's) gets LoadImageFromFile first, as mmpretrain's inferencer
     * loads every input itself */
    const mm_value *first = mm_value_list_get(steps, 0);
    const mm_value *type = first ? mm_value_dict_get(first, "type") : NULL;
    const char *tn = mm_value_is_string(type) ? mm_value_get_string(type) : "";
    const char *dot = strrchr(tn, '.');
    if (!rc && strcmp(dot ? dot + 1 : tn, "LoadImageFromFile") != 0) {
        mm_value *load = mm_value_new_dict();
        rc = load ? mm_value_dict_set_take(load, "type",
                                           mm_value_new_string(
                                               "LoadImageFromFile"))
                  : oom();
        mm_value *with = mm_value_new_list();
        if (!rc && with)
            rc = mm_value_list_append_take(with, load);
        else {
            mm_value_release(load);
            rc = rc ? rc : oom();
        }
        for (size_t i = 0; !rc && i < mm_value_len(steps); i++)
            rc = mm_value_list_append(with, mm_value_list_get(steps, i));
        mm_value_release(steps);
        steps = with;
    }
    if (!rc)
        rc = mm_value_dict_set_take(node, "transforms", steps);
    else
        mm_value_release(steps);
    if (!rc)
        rc = mm_registry_build(MM_TRANSFORMS, node, inf->scope, where, NULL,
                               (void **)&inf->pipeline);
    mm_value_release(node);
    return rc;
}

/* A copy of the list of class names in v's `classes`, or NULL. */
static mm_value *classes_of(const mm_value *meta) {
    const mm_value *c =
        mm_value_is_dict(meta) ? mm_value_dict_get(meta, "classes") : NULL;
    if (!mm_value_is_list(c) || mm_value_len(c) == 0)
        return NULL;
    for (size_t i = 0; i < mm_value_len(c); i++)
        if (!mm_value_is_string(mm_value_list_get(c, i)))
            return NULL;
    return mm_value_copy(c);
}

/* The classes the config's test dataset declares: its metainfo, else what
 * its type defines (built lazily, so its files need not exist). */
static mm_value *config_classes(mm_inferencer *inf) {
    const mm_value *ds = cfg_path(inf->cfg, "test_dataloader.dataset");
    if (!mm_value_is_dict(ds))
        return NULL;
    mm_value *c = classes_of(mm_value_dict_get(ds, "metainfo"));
    if (c)
        return c;
    mm_value *node = mm_value_copy(ds);
    mm_dataset *d = NULL;
    if (node && !mm_value_dict_set_take(node, "lazy_init",
                                        mm_value_new_bool(true)) &&
        !mm_registry_build(MM_DATASETS, node, inf->scope,
                           "test_dataloader.dataset", NULL, (void **)&d)) {
        c = classes_of(mm_dataset_metainfo(d)); /* borrowed */
    }
    mm_error_clear(); /* no classes: predictions carry labels only */
    mm_dataset_free(d);
    mm_value_release(node);
    return c;
}

static int load_weights(mm_inferencer *inf, const char *path) {
    mm_checkpoint *ck;
    MM_TRY(mm_checkpoint_load(path, &ck));
    mm_state_dict sd = {0};
    mm_load_report rep = {0};
    int rc = mm_checkpoint_weights(ck, NULL, &sd);
    if (!rc)
        rc = mm_module_load_state_dict(inf->model, &sd, false, &rep);
    if (rc) /* which file: a size mismatch names only the key */
        rc = mm_error_context(rc, NULL, "%s", path);
    if (!rc && rep.n_missing)
        rc = mm_error_set(MM_EINVAL,
                          "%s: lacks %zu of the model's weights, the first "
                          "'%s' (a checkpoint of another library needs "
                          "`mm checkpoint convert --map NAME` first)",
                          path, rep.n_missing, rep.missing[0]);
    if (!rc && rep.n_unexpected)
        MM_WARN("%s: %zu weights the model does not have, the first '%s'",
                path, rep.n_unexpected, rep.unexpected[0]);
    if (!rc) {
        const mm_value *meta = mm_checkpoint_get_meta(ck, "meta");
        inf->classes = classes_of(
            mm_value_is_dict(meta) ? mm_value_dict_get(meta, "dataset_meta")
                                   : NULL);
    }
    mm_load_report_free(&rep);
    mm_state_dict_clear(&sd);
    mm_checkpoint_free(ck);
    return rc;
}

int mm_init_model(const char *config, const char *checkpoint,
                  const char *device, mm_inferencer **out) {
    *out = NULL;
    if (device && strcmp(device, "cpu") != 0)
        return mm_error_set(MM_EUNSUPPORTED,
                            "device '%s': this build runs on the CPU only "
                            "(use --device cpu)",
                            device);
    mm_inferencer *inf = calloc(1, sizeof *inf);
    if (!inf)
        return oom();
    int rc = mm_config_load(config, NULL, 0, &inf->cfg);
    if (!rc) {
        const mm_value *ds = mm_value_dict_get(inf->cfg, "default_scope");
        if (mm_value_is_string(ds) &&
            !(inf->scope = strdup(mm_value_get_string(ds))))
            rc = oom();
    }
    const mm_value *model = rc ? NULL : mm_value_dict_get(inf->cfg, "model");
    if (!rc && !mm_value_is_dict(model))
        rc = mm_error_set(MM_EINVAL, "%s: the config has no `model`", config);
    if (!rc)
        rc = mm_registry_build(MM_MODELS, model, inf->scope, "model", NULL,
                               (void **)&inf->model);
    if (!rc && !mm_model_has_loss(inf->model))
        rc = mm_error_set(MM_EINVAL,
                          "model (%s): not a model with predict (an "
                          "ImageClassifier or the like)",
                          inf->model->cls->name);
    if (!rc && checkpoint)
        rc = load_weights(inf, checkpoint);
    if (!rc)
        rc = build_pipeline(inf);
    if (!rc && !inf->classes)
        inf->classes = config_classes(inf);
    if (rc) {
        mm_inferencer_free(inf);
        return rc;
    }
    mm_module_eval(inf->model);
    *out = inf;
    return MM_OK;
}

void mm_inferencer_free(mm_inferencer *inf) {
    if (!inf)
        return;
    mm_transform_free(inf->pipeline);
    mm_module_free(inf->model);
    mm_value_release(inf->classes);
    mm_value_release(inf->cfg);
    free(inf->scope);
    free(inf);
}

mm_module *mm_inferencer_model(const mm_inferencer *inf) { return inf->model; }
const mm_value *mm_inferencer_classes(const mm_inferencer *inf) {
    return inf->classes;
}

/* The packed sample of one image through the pipeline. */
static int load_one(mm_inferencer *inf, const char *path, size_t i,
                    mm_value **out) {
    mm_value *r = mm_value_new_dict();
    if (!r)
        return oom();
    int rc = mm_value_dict_set_take(r, "img_path", mm_value_new_string(path));
    if (!rc)
        rc = mm_value_dict_set_take(r, "sample_idx",
                                    mm_value_new_int((int64_t)i));
    if (!rc)
        rc = mm_transform_apply(inf->pipeline, r);
    if (rc == MM_TRANSFORM_DROP)
        rc = mm_error_set(MM_EINVAL, "the test pipeline dropped the image");
    if (rc) {
        mm_value_release(r);
        return mm_error_context(rc, NULL, "%s", path);
    }
    *out = r;
    return MM_OK;
}

/* A data sample with predictions -> the result dict. */
static int result_of(mm_inferencer *inf, const mm_value *sample,
                     mm_value **out) {
    mm_tensor *scores =
        mm_tensor_from_value(mm_value_dict_get(sample, "pred_score"));
    const mm_value *label = mm_value_dict_get(sample, "pred_label");
    if (!scores || !mm_value_is_int(label))
        return mm_error_set(MM_EINVAL, "the model's predictions have no "
                                       "pred_score tensor and pred_label");
    int64_t k = mm_value_get_int(label);
    mm_value *r = mm_value_new_dict();
    if (!r)
        return oom();
    int rc = mm_value_dict_set_take(r, "pred_label", mm_value_new_int(k));
    if (!rc && k >= 0 && k < scores->numel)
        rc = mm_value_dict_set_take(
            r, "pred_score",
            mm_value_new_float(mm_tensor_get_flat(scores, k)));
    if (!rc && inf->classes && k >= 0 &&
        (size_t)k < mm_value_len(inf->classes))
        rc = mm_value_dict_set(r, "pred_class",
                               mm_value_list_get(inf->classes, (size_t)k));
    if (!rc)
        rc = mm_value_dict_set_take(r, "pred_scores",
                                    mm_tensor_to_value(scores));
    if (rc) {
        mm_value_release(r);
        return rc;
    }
    *out = r;
    return MM_OK;
}

int mm_inference_batch(mm_inferencer *inf, size_t n,
                       const char *const *paths, mm_value **results) {
    *results = NULL;
    if (n == 0)
        return mm_error_set(MM_EINVAL, "inference: no images");
    mm_value **samples = calloc(n, sizeof *samples);
    if (!samples)
        return oom();
    mm_pool *pool = NULL;
    mm_value *batch = NULL, *data_samples = NULL, *preds = NULL;
    mm_value *list = mm_value_new_list();
    int rc = list ? mm_pool_open(&pool) : oom();
    for (size_t i = 0; !rc && i < n; i++)
        rc = load_one(inf, paths[i], i, &samples[i]);
    if (!rc)
        rc = mm_pseudo_collate(samples, n, &batch);
    mm_tensor *inputs = NULL;
    mm_no_grad_push();
    if (!rc)
        rc = mm_model_preprocess(inf->model, batch, false, &inputs,
                                 &data_samples);
    if (!rc)
        rc = mm_model_predict(inf->model, 1, &inputs, data_samples, &preds);
    mm_no_grad_pop();
    for (size_t i = 0; !rc && i < n; i++) {
        mm_value *r = NULL;
        rc = result_of(inf, mm_value_list_get(preds, i), &r);
        if (!rc)
            rc = mm_value_list_append_take(list, r);
    }
    mm_value_release(preds);
    mm_value_release(data_samples);
    mm_value_release(batch);
    for (size_t i = 0; i < n; i++)
        mm_value_release(samples[i]);
    free(samples);
    mm_pool_close(pool);
    if (rc) {
        mm_value_release(list);
        return rc;
    }
    *results = list;
    return MM_OK;
}

int mm_inference(mm_inferencer *inf, const char *path, mm_value **result) {
    mm_value *list;
    MM_TRY(mm_inference_batch(inf, 1, &path, &list));
    *result = mm_value_retain(mm_value_list_get(list, 0));
    mm_value_release(list);
    return MM_OK;
}
