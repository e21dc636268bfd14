/* mmcls batch augments: mmpretrain's RandomBatchAugment, Mixup and CutMix
 * (mmpretrain/models/utils/batch_augments/), applied by
 * ClsDataPreprocessor in training to the batch and its (N, C) scores.
 *
 * The randomness (which augment, lam ~ Beta(alpha, alpha), the batch
 * permutation, CutMix's box) comes from mm's default generator, so a seeded
 * run is reproducible; the numbers differ from numpy's stream, but given
 * the same lam, permutation and box the results are mmpretrain's. The
 * drawing and the mixing are separate functions so tests can check the
 * mixing against mmpretrain's recorded outputs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mm/elementwise.h>
#include <mm/reduction.h>
#include <mm/rng.h>

#include "mmcls.h"

/* ---- random draws ------------------------------------------------------- */

/* A uniform double on [0, 1): 53 bits of one Philox block. */
static double uniform01(mm_generator *gen) {
    uint64_t seed, ctr = mm_generator_reserve(gen, 1, &seed);
    uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t w[4];
    mm_philox4x32_10(c, k, w);
    uint64_t bits = ((uint64_t)w[0] << 32 | w[1]) >> 11;
    return (double)bits * 0x1.0p-53;
}

static double normal01(mm_generator *gen) {
    double u1 = uniform01(gen), u2 = uniform01(gen);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

/* Gamma(a, 1) by Marsaglia and Tsang; a < 1 through Gamma(a + 1) U^(1/a). */
static double gamma_sample(mm_generator *gen, double a) {
    if (a < 1.0) {
        double u = uniform01(gen);
        return gamma_sample(gen, a + 1.0) * pow(1.0 - u, 1.0 / a);
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = normal01(gen), v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = 1.0 - uniform01(gen); /* (0, 1] */
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

double mmcls_beta_sample(mm_generator *gen, double alpha) {
    double x = gamma_sample(gen, alpha), y = gamma_sample(gen, alpha);
    return x + y > 0 ? x / (x + y) : 0.5;
}

/* numpy's randint(low, high): uniform on [low, high). */
static int randint(mm_generator *gen, int64_t low, int64_t high,
                   int64_t *out) {
    if (low >= high)
        return mm_error_set(MM_EINVAL, "CutMix: empty range [%lld, %lld) "
                                       "for a box coordinate",
                            (long long)low, (long long)high);
    *out = low + (int64_t)(uniform01(gen) * (double)(high - low));
    return MM_OK;
}

/* ---- mixing ------------------------------------------------------------- */

/* lam * a + (1 - lam) * a[perm] */
static int mix_rows(mm_tensor *a, double lam, mm_tensor *perm,
                    mm_tensor **out) {
    mm_tensor *shuffled, *x, *y;
    MM_TRY(mm_index_select(a, 0, perm, &shuffled));
    MM_TRY(mm_mul_scalar(a, lam, &x));
    MM_TRY(mm_mul_scalar(shuffled, 1.0 - lam, &y));
    return mm_add(x, y, out);
}

static int perm_tensor(const int64_t *perm, int64_t n, mm_tensor **out) {
    return mm_from_data(perm, MM_SHAPE(n), MM_I64, out);
}

int mmcls_mixup(mm_tensor *inputs, mm_tensor *scores, double lam,
                const int64_t *perm, mm_tensor **inputs_out,
                mm_tensor **scores_out) {
    mm_tensor *p, *s;
    MM_TRY(perm_tensor(perm, inputs->shape[0], &p));
    MM_TRY(mm_to_dtype(scores, MM_F32, &s));
    MM_TRY(mix_rows(inputs, lam, p, inputs_out));
    return mix_rows(s, lam, p, scores_out);
}

int mmcls_cutmix_box(int64_t h, int64_t w, double lam,
                     const mmcls_batch_aug *a, mm_generator *gen,
                     int64_t box[4], double *lam_out) {
    int64_t yl = 0, yu = 0, xl = 0, xu = 0;
    if (a->has_minmax) {
        int64_t ch = 0, cw = 0;
        MM_TRY(randint(gen, (int64_t)((double)h * a->minmax[0]),
                       (int64_t)((double)h * a->minmax[1]), &ch));
        MM_TRY(randint(gen, (int64_t)((double)w * a->minmax[0]),
                       (int64_t)((double)w * a->minmax[1]), &cw));
        MM_TRY(randint(gen, 0, h - ch, &yl));
        MM_TRY(randint(gen, 0, w - cw, &xl));
        yu = yl + ch;
        xu = xl + cw;
    } else {
        int64_t cy = 0, cx = 0;
        MM_TRY(randint(gen, 0, h, &cy));
        MM_TRY(randint(gen, 0, w, &cx));
        mmcls_cutmix_center_box(h, w, lam, cy, cx, box);
        yl = box[0], yu = box[1], xl = box[2], xu = box[3];
    }
    box[0] = yl, box[1] = yu, box[2] = xl, box[3] = xu;
    if (a->correct_lam || a->has_minmax)
        lam = 1.0 - (double)((yu - yl) * (xu - xl)) / (double)(h * w);
    *lam_out = lam;
    return MM_OK;
}

static int64_t clip64(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

void mmcls_cutmix_center_box(int64_t h, int64_t w, double lam, int64_t cy,
                             int64_t cx, int64_t box[4]) {
    double ratio = sqrt(1.0 - lam);
    int64_t ch = (int64_t)((double)h * ratio), cw = (int64_t)((double)w * ratio);
    box[0] = clip64(cy - ch / 2, 0, h);
    box[1] = clip64(cy + ch / 2, 0, h);
    box[2] = clip64(cx - cw / 2, 0, w);
    box[3] = clip64(cx + cw / 2, 0, w);
}

int mmcls_cutmix(mm_tensor *inputs, mm_tensor *scores, double lam,
                 const int64_t *perm, const int64_t box[4],
                 mm_tensor **inputs_out, mm_tensor **scores_out) {
    if (inputs->ndim != 4)
        return mm_error_set(MM_EINVAL, "CutMix needs (N, C, H, W) inputs, "
                                       "got %d dims",
                            inputs->ndim);
    mm_tensor *p, *s, *out;
    MM_TRY(perm_tensor(perm, inputs->shape[0], &p));
    MM_TRY(mm_clone(inputs, &out));
    int64_t dy = box[1] - box[0], dx = box[3] - box[2];
    if (dy > 0 && dx > 0) {
        /* out[:, :, y1:y2, x1:x2] = inputs[perm, :, y1:y2, x1:x2] */
        mm_tensor *src, *dst;
        MM_TRY(mm_index_select(inputs, 0, p, &src));
        MM_TRY(mm_narrow(src, 2, box[0], dy, &src));
        MM_TRY(mm_narrow(src, 3, box[2], dx, &src));
        MM_TRY(mm_narrow(out, 2, box[0], dy, &dst));
        MM_TRY(mm_narrow(dst, 3, box[2], dx, &dst));
        MM_TRY(mm_tensor_copy_(dst, src));
    }
    MM_TRY(mm_to_dtype(scores, MM_F32, &s));
    MM_TRY(mix_rows(s, lam, p, scores_out));
    *inputs_out = out;
    return MM_OK;
}

/* ---- RandomBatchAugment ------------------------------------------------- */

int mmcls_batch_augments_apply(const mmcls_batch_augments *b,
                               mm_generator *gen, mm_tensor *inputs,
                               mm_tensor *scores, mm_tensor **inputs_out,
                               mm_tensor **scores_out) {
    if (!gen)
        gen = mm_default_generator();
    if (scores->ndim != 2 || scores->shape[0] != inputs->shape[0])
        return mm_error_set(MM_EINVAL,
                            "The input `batch_score` should be a one-hot "
                            "format tensor, which shape should be "
                            "``(N, num_classes)``.");
    /* np.random.choice(len(augments), p=probs): the first augment whose
     * cumulative probability exceeds u; past the last one: none */
    double u = uniform01(gen);
    int pick = b->n;
    if (b->has_probs) {
        double cdf = 0;
        for (int i = 0; i < b->n; i++) {
            cdf += b->probs[i];
            if (u < cdf) {
                pick = i;
                break;
            }
        }
    } else {
        pick = (int)(u * b->n);
    }
    if (pick >= b->n) {
        *inputs_out = inputs;
        return mm_to_dtype(scores, MM_F32, scores_out);
    }
    const mmcls_batch_aug *a = &b->augs[pick];
    double lam = mmcls_beta_sample(gen, a->alpha);
    int64_t n = inputs->shape[0];
    mm_tensor *perm;
    MM_TRY(mm_randperm(n, MM_I64, gen, &perm));
    MM_TRY(mm_contiguous(perm, &perm));
    const int64_t *idx = MM_DATA(perm, int64_t);
    if (a->kind == MMCLS_MIXUP)
        return mmcls_mixup(inputs, scores, lam, idx, inputs_out, scores_out);
    int64_t box[4];
    MM_TRY(mmcls_cutmix_box(inputs->shape[inputs->ndim - 2],
                            inputs->shape[inputs->ndim - 1], lam, a, gen, box,
                            &lam));
    return mmcls_cutmix(inputs, scores, lam, idx, box, inputs_out, scores_out);
}

static const mm_value *get(const mm_value *d, const char *k) {
    return mm_value_is_dict(d) ? mm_value_dict_get(d, k) : NULL;
}

static int parse_aug(const mm_value *v, size_t i, mmcls_batch_aug *a) {
    const mm_value *type = get(v, "type");
    if (!type || !mm_value_is_string(type))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "batch_augments.augments.%zu: expected a dict "
                               "with a 'type' (Mixup or CutMix)",
                               i);
    const char *t = mm_value_get_string(type);
    if (!strncmp(t, "mmcls.", 6))
        t += 6;
    memset(a, 0, sizeof *a);
    a->correct_lam = true;
    if (!strcmp(t, "Mixup"))
        a->kind = MMCLS_MIXUP;
    else if (!strcmp(t, "CutMix"))
        a->kind = MMCLS_CUTMIX;
    else
        return mm_error_set_at(MM_EINVAL, mm_value_loc(type),
                               "batch_augments.augments.%zu.type: '%s' is not "
                               "a batch augment (Mixup, CutMix)",
                               i, t);
    for (size_t k = 0; k < mm_value_len(v); k++) {
        const char *key = mm_value_dict_key_at(v, k);
        const mm_value *x = mm_value_dict_value_at(v, k);
        const mm_srcloc *loc = mm_value_loc(x);
        if (!strcmp(key, "type"))
            continue;
        if (!strcmp(key, "alpha")) {
            if (!mm_value_is_number(x) || !(mm_value_get_float(x) > 0))
                return mm_error_set_at(MM_EINVAL, loc,
                                       "batch_augments.augments.%zu.alpha: "
                                       "expected a number > 0",
                                       i);
            a->alpha = mm_value_get_float(x);
        } else if (a->kind == MMCLS_CUTMIX && !strcmp(key, "correct_lam")) {
            if (!mm_value_is_bool(x))
                return mm_error_set_at(MM_EINVAL, loc,
                                       "batch_augments.augments.%zu."
                                       "correct_lam: expected true or false",
                                       i);
            a->correct_lam = mm_value_get_bool(x);
        } else if (a->kind == MMCLS_CUTMIX && !strcmp(key, "cutmix_minmax")) {
            if (mm_value_is_null(x))
                continue;
            if (!mm_value_is_list(x) || mm_value_len(x) != 2 ||
                !mm_value_is_number(mm_value_list_get(x, 0)) ||
                !mm_value_is_number(mm_value_list_get(x, 1)))
                return mm_error_set_at(MM_EINVAL, loc,
                                       "batch_augments.augments.%zu."
                                       "cutmix_minmax: expected [min, max] "
                                       "ratios or null",
                                       i);
            a->has_minmax = true;
            a->minmax[0] = mm_value_get_float(mm_value_list_get(x, 0));
            a->minmax[1] = mm_value_get_float(mm_value_list_get(x, 1));
            if (!(a->minmax[0] < a->minmax[1] && a->minmax[0] >= 0 &&
                  a->minmax[1] <= 1))
                return mm_error_set_at(MM_EINVAL, loc,
                                       "batch_augments.augments.%zu."
                                       "cutmix_minmax: need 0 <= min < max "
                                       "<= 1",
                                       i);
        } else {
            return mm_error_set_at(MM_EINVAL, loc,
                                   "batch_augments.augments.%zu: %s has no "
                                   "parameter '%s'",
                                   i, t, key);
        }
    }
    if (!(a->alpha > 0))
        return mm_error_set_at(MM_EINVAL, mm_value_loc(v),
                               "batch_augments.augments.%zu: %s needs alpha",
                               i, t);
    return MM_OK;
}

int mmcls_batch_augments_parse(const mm_value *cfg,
                               mmcls_batch_augments *out) {
    memset(out, 0, sizeof *out);
    const mm_value *augs = get(cfg, "augments");
    const mm_value *probs = get(cfg, "probs");
    if (!augs)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(cfg),
                               "batch_augments: needs 'augments' (a Mixup or "
                               "CutMix dict, or a list of them)");
    for (size_t k = 0; k < mm_value_len(cfg); k++) {
        const char *key = mm_value_dict_key_at(cfg, k);
        if (strcmp(key, "augments") && strcmp(key, "probs"))
            return mm_error_set_at(MM_EINVAL,
                                   mm_value_loc(mm_value_dict_value_at(cfg, k)),
                                   "batch_augments: unknown key '%s' "
                                   "(augments, probs)",
                                   key);
    }
    size_t n = mm_value_is_list(augs) ? mm_value_len(augs) : 1;
    if (n == 0 || n > MMCLS_MAX_BATCH_AUGS)
        return mm_error_set_at(MM_EINVAL, mm_value_loc(augs),
                               "batch_augments.augments: expected 1 to %d "
                               "augments, got %zu",
                               MMCLS_MAX_BATCH_AUGS, n);
    for (size_t i = 0; i < n; i++)
        MM_TRY(parse_aug(mm_value_is_list(augs) ? mm_value_list_get(augs, i)
                                                : augs,
                         i, &out->augs[i]));
    out->n = (int)n;
    if (probs && !mm_value_is_null(probs)) {
        size_t np = mm_value_is_list(probs) ? mm_value_len(probs) : 1;
        if (np != n)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(probs),
                                   "batch_augments.probs: ``augments`` and "
                                   "``probs`` must have same lengths. Got %zu "
                                   "vs %zu.",
                                   n, np);
        double sum = 0;
        for (size_t i = 0; i < np; i++) {
            const mm_value *e = mm_value_is_list(probs)
                                    ? mm_value_list_get(probs, i)
                                    : probs;
            if (!mm_value_is_number(e) || mm_value_get_float(e) < 0)
                return mm_error_set_at(MM_EINVAL, mm_value_loc(e),
                                       "batch_augments.probs.%zu: expected a "
                                       "probability",
                                       i);
            out->probs[i] = mm_value_get_float(e);
            sum += out->probs[i];
        }
        if (sum > 1 + 1e-12)
            return mm_error_set_at(MM_EINVAL, mm_value_loc(probs),
                                   "batch_augments.probs: The total "
                                   "probability of batch augments exceeds 1 "
                                   "(%g).",
                                   sum);
        out->has_probs = true;
    }
    return MM_OK;
}
