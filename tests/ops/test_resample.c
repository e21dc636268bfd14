/* interpolate (nearest, bilinear, bicubic; 1-D nearest and linear, 3-D
 * nearest and trilinear) and grid_sample: optimised
 * kernels against the reference (forward and backward ops), torch's numbers
 * for every mode, float64 gradcheck of every variant, errors. */
#include "ops_testing.h"

/* Produced by torch 1.13 (Debian python3-torch) with
 *   x = (torch.arange(12, dtype=torch.float64).reshape(1, 1, 3, 4) * 0.9).sin()
 *   F.interpolate(x, size=(5, 7) | scale_factor=(1.7, 0.6) | (2.5, 1.5),
 *                 mode=..., align_corners=...)
 *   g = (torch.arange(12, dtype=torch.float64).reshape(1, 2, 3, 2) * 0.77)
 *         .sin() * 1.3
 *   F.grid_sample(x, g, mode, padding_mode, align_corners) for mode in
 *   (bilinear, nearest), padding in (zeros, border, reflection),
 *   align_corners in (False, True), in that order. */
/* clang-format off */
static const double t_near_size[35] = {0.0, 0.0, 0.7833269096274834, 0.7833269096274834, 0.9738476308781951, 0.9738476308781951, 0.4273798802338298, 0.0, 0.0, 0.7833269096274834, 0.7833269096274834, 0.9738476308781951, 0.9738476308781951, 0.4273798802338298, -0.44252044329485246, -0.44252044329485246, -0.977530117665097, -0.977530117665097, -0.7727644875559871, -0.7727644875559871, 0.016813900484349713, -0.44252044329485246, -0.44252044329485246, -0.977530117665097, -0.977530117665097, -0.7727644875559871, -0.7727644875559871, 0.016813900484349713, 0.7936678638491531, 0.7936678638491531, 0.9698898108450863, 0.9698898108450863, 0.4121184852417566, 0.4121184852417566, -0.45753589377532133};
static const double t_near_sf[10] = {0.0, 0.7833269096274834, 0.0, 0.7833269096274834, -0.44252044329485246, -0.977530117665097, -0.44252044329485246, -0.977530117665097, 0.7936678638491531, 0.9698898108450863};
static const double t_bil_f[35] = {0.0, 0.27975961058124404, 0.7273749875112345, 0.8785872702528392, 0.9348142201178835, 0.6225469340353889, 0.4273798802338298, -0.17700817731794097, -0.08558236445065798, 0.06069893613699471, 0.1770934411074869, 0.27434211956377347, 0.26745680803778227, 0.2631534883340378, -0.44252044329485246, -0.6335953269985112, -0.9393151409243652, -0.8751473026105421, -0.7163660312673918, -0.2651783809586278, 0.016813900484349713, 0.2991925409915507, 0.2605244332949301, 0.1986554609803369, 0.06454356778183584, -0.07654622331977758, -0.19423837885927006, -0.2677959760714529, 0.7936678638491531, 0.8566042734905578, 0.9573025289168052, 0.6910041480434214, 0.3500003153119655, -0.14694504412636492, -0.45753589377532133};
static const double t_bil_t[35] = {0.0, 0.3916634548137417, 0.7833269096274834, 0.8785872702528392, 0.9738476308781951, 0.7006137555560125, 0.4273798802338298, -0.22126022164742623, -0.15918091283311653, -0.0971016040188068, 0.001719983821148574, 0.100541571661104, 0.16131923101009688, 0.22209689035908975, -0.44252044329485246, -0.7100252804799747, -0.977530117665097, -0.8751473026105421, -0.7727644875559871, -0.3779752935358187, 0.016813900484349713, 0.17557371027715032, 0.0858767784335725, -0.003820153410005356, -0.09207157728356032, -0.18032300115711528, -0.20034199890130056, -0.2203609966454858, 0.7936678638491531, 0.8817788373471197, 0.9698898108450863, 0.6910041480434215, 0.4121184852417566, -0.02270870426678237, -0.45753589377532133};
static const double t_bil_sf[10] = {0.2611089698758278, 0.9738476308781951, -0.07611331326603209, 0.3060253503004196, -0.5949168257919706, -0.7213935428961584, 0.2024384330245337, -0.11062400275724797, 0.8524085128477975, 0.4121184852417566};
static const double t_bic_f[35] = {-0.047793837773667476, 0.34088755588494285, 0.8915720037909134, 1.195503483152351, 1.1116546264323215, 0.7083359243657165, 0.39985006451077426, -0.28259100488195155, -0.20096714875775598, -0.06431367661866821, 0.09748979477581465, 0.22767091967324335, 0.28652823929835736, 0.3113001552757647, -0.38943867075574906, -0.6374141188112846, -0.9563776121039457, -0.9993274334615342, -0.7181297023742591, -0.23963711727687542, 0.09515308275256461, 0.30147842588455837, 0.23188115324434525, 0.11069712015862611, -0.04902332399977505, -0.1928422828640167, -0.2749060572662643, -0.3159149931657871, 0.8880834957352438, 1.034457349736264, 1.1719986606153507, 0.9607397723657344, 0.43784984575858343, -0.1912722467378296, -0.605161342933584};
static const double t_bic_t[35] = {0.0, 0.37380213719648747, 0.7833269096274834, 1.003255519653325, 0.9738476308781951, 0.7184750731732666, 0.4273798802338298, -0.33715287544217676, -0.33364358156171464, -0.27967222231663647, -0.1656968150667929, -0.01054120703868453, 0.1532440209484327, 0.2665671835709339, -0.44252044329485246, -0.7292220583027038, -0.977530117665097, -0.9993274334615342, -0.7727644875559871, -0.35877851571308966, 0.016813900484349713, 0.1340874187182579, -0.0009845979181851636, -0.16890049971868476, -0.29287834178171446, -0.3440678872603199, -0.317881664835688, -0.2588515572469996, 0.7936678638491531, 0.9340698991224319, 0.9698898108450863, 0.7890550536071412, 0.4121184852417566, -0.07499976604209455, -0.45753589377532133};
static const double t_bic_sf[42] = {-0.03182614178761317, 0.49541055475027346, 1.0972378363524546, 1.2156393811620574, 0.8372422813479876, 0.4124219637517, -0.10282734467126811, 0.2721269324529346, 0.7196283828001376, 0.8429713350877467, 0.6282247723243061, 0.35996115165713677, -0.3421425154704355, -0.33364358156171464, -0.24086820724749594, -0.07222311142908296, 0.1532440209484327, 0.29062173136690783, -0.44052375213488576, -0.7398190606853471, -0.9699415891239103, -0.8133336131048863, -0.28768328046692204, 0.1470766611086694, -0.10457822020454784, -0.38677201973487674, -0.6793165290818308, -0.6833342684507318, -0.3983714527296029, -0.11965296526851811, 0.4351975719254959, 0.41789354976348264, 0.2925684363419229, 0.07678872251901088, -0.20507426927518277, -0.374417954914065, 0.8497186239947905, 1.0351148855360097, 1.0373925059715101, 0.6588492369541388, -0.05776020699958163, -0.5705933355835254};
static const double t_gs[12][6] = {{0.4439952379799769, 0.0, 0.6647915575786791, 0.0, 0.7169457960339958, 0.0},
{0.5421818753653092, -0.2417992785403605, 0.6313154190987427, 0.0, 0.44591895340515814, -0.2461959451998042},
{0.6910041480434215, -0.45753589377532133, 0.9090781427179041, 0.0, 0.8691966849885909, -0.45753589377532133},
{0.5421818753653092, -0.4388972016012676, 0.6313154190987427, 0.0, 0.44591895340515814, -0.45753589377532133},
{0.6910041480434215, -0.3716426009484999, 0.9090781427179041, 0.06964673132910516, 0.8691966849885909, -0.3973232786465822},
{0.5421818753653092, -0.07763496555420113, 0.6313154190987427, 0.3328707589026111, 0.44591895340515814, -0.1005410775332936},
{0.4121184852417566, 0.0, 0.9738476308781951, 0.0, 0.9698898108450863, 0.0},
{0.4121184852417566, -0.45753589377532133, 0.9738476308781951, 0.0, 0.9698898108450863, -0.45753589377532133},
{0.4121184852417566, -0.45753589377532133, 0.9738476308781951, 0.0, 0.9698898108450863, -0.45753589377532133},
{0.4121184852417566, -0.45753589377532133, 0.9738476308781951, 0.0, 0.9698898108450863, -0.45753589377532133},
{0.4121184852417566, -0.45753589377532133, 0.9738476308781951, 0.0, 0.9698898108450863, -0.45753589377532133},
{0.4121184852417566, -0.45753589377532133, 0.9738476308781951, 0.0, 0.9698898108450863, -0.45753589377532133}};
/* clang-format on */

typedef struct interp_ctx {
    int64_t size[2];
    double scale[2];
    bool by_scale;
    mm_interp_mode mode;
    bool ac;
} interp_ctx;

static int f_interp(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    interp_ctx *c = vctx;
    return mm_interpolate(in[0], c->by_scale ? NULL : c->size,
                          c->by_scale ? c->scale : NULL, c->mode, c->ac, out);
}

/* The input's gradient for a fixed upstream gradient, via backward: checks
 * the backward op's kernel against its reference. */
static int f_interp_grad(void *vctx, mm_tensor *const *in, int n,
                         mm_tensor **out) {
    mm_tensor *x, *y, *g;
    if (mm_detach(in[0], &x) < 0 || mm_tensor_set_requires_grad(x, true) < 0 ||
        f_interp(vctx, &x, n, &y) < 0 || mm_mul(y, y, &g) < 0)
        return -1;
    mm_tensor *loss;
    if (mm_sum(g, 0, NULL, false, &loss) < 0 || mm_backward(loss) < 0)
        return -1;
    return mm_clone(x->grad, out);
}

static const interp_ctx interp_cases[] = {
    {{5, 7}, {0}, false, MM_INTERP_NEAREST, false},
    {{6, 8}, {0}, false, MM_INTERP_NEAREST, false},
    {{2, 3}, {0}, false, MM_INTERP_NEAREST, false},
    {{0}, {1.7, 0.6}, true, MM_INTERP_NEAREST, false},
    {{5, 7}, {0}, false, MM_INTERP_BILINEAR, false},
    {{5, 7}, {0}, false, MM_INTERP_BILINEAR, true},
    {{2, 2}, {0}, false, MM_INTERP_BILINEAR, false},
    {{1, 1}, {0}, false, MM_INTERP_BILINEAR, true},
    {{0}, {1.7, 0.6}, true, MM_INTERP_BILINEAR, false},
    {{5, 7}, {0}, false, MM_INTERP_BICUBIC, false},
    {{5, 7}, {0}, false, MM_INTERP_BICUBIC, true},
    {{2, 3}, {0}, false, MM_INTERP_BICUBIC, false},
    {{0}, {2.5, 1.5}, true, MM_INTERP_BICUBIC, false},
};

MM_TEST(interpolate_matches_reference_forward_and_backward) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (size_t c = 0; c < sizeof interp_cases / sizeof interp_cases[0]; c++)
        for (int t = 0; t < 2; t++)
            POOLED({
                interp_ctx ctx = interp_cases[c];
                mm_tensor *x = randn_t(MM_SHAPE(2, 3, 4, 5), dts[t]);
                char what[64];
                snprintf(what, sizeof what, "interpolate case %zu %s", c,
                         mm_dtype_name(dts[t]));
                CHECK_VS_REFERENCE(what, f_interp, &ctx, &x, 1, 1e-5, 1e-5);
                CHECK_VS_REFERENCE(what, f_interp_grad, &ctx, &x, 1, 1e-5,
                                   1e-5);
                mm_tensor *nc = noncontig(x);
                CHECK_VS_REFERENCE(what, f_interp, &ctx, &nc, 1, 1e-5, 1e-5);
            });
    POOLED({ /* big enough to run in parallel */
             interp_ctx ctx = {{70, 90}, {0}, false, MM_INTERP_BILINEAR, false};
             mm_tensor *x = randn_t(MM_SHAPE(2, 8, 33, 45), MM_F32);
             CHECK_VS_REFERENCE("interpolate big", f_interp, &ctx, &x, 1, 1e-5,
                                1e-5);
             CHECK_VS_REFERENCE("interpolate big grad", f_interp_grad, &ctx, &x,
                                1, 1e-4, 1e-4);
    });
}

static void check_vals(const mm_tensor *t, const double *want, int64_t n) {
    CHECK_INT(t->numel, n);
    for (int64_t i = 0; i < n && i < t->numel; i++)
        if (!(fabs(at(t, i) - want[i]) < 1e-9)) {
            fprintf(stderr, "  element %lld: got %.12g, want %.12g\n",
                    (long long)i, at(t, i), want[i]);
            mm_test_failures++;
            return;
        }
}

static mm_tensor *torch_x(void) {
    double v[12];
    for (int i = 0; i < 12; i++)
        v[i] = sin(i * 0.9);
    mm_tensor *x;
    if (mm_from_data(v, MM_SHAPE(1, 1, 3, 4), MM_F64, &x) < 0)
        abort();
    return x;
}

MM_TEST(interpolate_matches_torch) {
    for (int ref = 0; ref < 2; ref++) {
        bool prev = mm_ops_set_reference(ref);
        POOLED({
            mm_tensor *x = torch_x(), *y;
            const int64_t sz[2] = {5, 7};
            const double sf[2] = {1.7, 0.6}, sf2[2] = {2.5, 1.5};
            CHECK_OK(mm_interpolate(x, sz, NULL, MM_INTERP_NEAREST, false, &y));
            check_vals(y, t_near_size, 35);
            CHECK_OK(mm_interpolate(x, NULL, sf, MM_INTERP_NEAREST, false, &y));
            check_vals(y, t_near_sf, 10);
            CHECK_OK(
                mm_interpolate(x, sz, NULL, MM_INTERP_BILINEAR, false, &y));
            check_vals(y, t_bil_f, 35);
            CHECK_OK(mm_interpolate(x, sz, NULL, MM_INTERP_BILINEAR, true, &y));
            check_vals(y, t_bil_t, 35);
            CHECK_OK(
                mm_interpolate(x, NULL, sf, MM_INTERP_BILINEAR, false, &y));
            check_vals(y, t_bil_sf, 10);
            CHECK_OK(mm_interpolate(x, sz, NULL, MM_INTERP_BICUBIC, false, &y));
            check_vals(y, t_bic_f, 35);
            CHECK_OK(mm_interpolate(x, sz, NULL, MM_INTERP_BICUBIC, true, &y));
            check_vals(y, t_bic_t, 35);
            CHECK_OK(
                mm_interpolate(x, NULL, sf2, MM_INTERP_BICUBIC, false, &y));
            check_vals(y, t_bic_sf, 42);
        });
        mm_ops_set_reference(prev);
    }
}

MM_TEST(interpolate_gradcheck) {
    for (size_t c = 0; c < sizeof interp_cases / sizeof interp_cases[0]; c++)
        POOLED({
            interp_ctx ctx = interp_cases[c];
            mm_tensor *x = leaf(randn_t(MM_SHAPE(1, 2, 4, 5), MM_F64));
            CHECK_GRAD(f_interp, &ctx, &x, 1);
        });
}

typedef struct gs_ctx {
    mm_grid_sample_mode mode;
    mm_grid_sample_padding pad;
    bool ac;
} gs_ctx;

static int f_gs(void *vctx, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    gs_ctx *c = vctx;
    return mm_grid_sample(in[0], in[1], c->mode, c->pad, c->ac, out);
}

/* Both gradients for a fixed upstream gradient, concatenated. */
static int f_gs_grads(void *vctx, mm_tensor *const *in, int n,
                      mm_tensor **out) {
    mm_tensor *x, *g, *y, *loss, *a, *b;
    if (mm_detach(in[0], &x) < 0 || mm_detach(in[1], &g) < 0 ||
        mm_tensor_set_requires_grad(x, true) < 0 ||
        mm_tensor_set_requires_grad(g, true) < 0 ||
        f_gs(vctx, (mm_tensor *[]){x, g}, n, &y) < 0 || mm_mul(y, y, &y) < 0 ||
        mm_sum(y, 0, NULL, false, &loss) < 0 || mm_backward(loss) < 0 ||
        mm_reshape(x->grad, 1, (int64_t[]){-1}, &a) < 0 ||
        mm_reshape(g->grad, 1, (int64_t[]){-1}, &b) < 0)
        return -1;
    return mm_cat(2, (mm_tensor *[]){a, b}, 0, out);
}

/* ---- interpolate on (N, C, L) and (N, C, D, H, W) ----------------------- */

typedef struct interp_nd {
    int nsp;
    int64_t size[3];
    double scale[3]; /* used when size[0] == 0 */
    mm_interp_mode mode;
    bool ac;
    int64_t x[5];      /* input shape (nsp + 2 dims) */
    double sum, sum2;  /* torch's checksums of the output */
    int64_t y[5];      /* the output's shape */
} interp_nd;

static int f_interp_nd(void *vctx, mm_tensor *const *in, int n,
                       mm_tensor **out) {
    (void)n;
    const interp_nd *c = vctx;
    return mm_interpolate(in[0], c->size[0] ? c->size : NULL,
                          c->size[0] ? NULL : c->scale, c->mode, c->ac, out);
}

static int f_interp_nd_grad(void *vctx, mm_tensor *const *in, int n,
                            mm_tensor **out) {
    mm_tensor *x, *y, *g, *loss;
    if (mm_detach(in[0], &x) < 0 || mm_tensor_set_requires_grad(x, true) < 0 ||
        f_interp_nd(vctx, &x, n, &y) < 0 || mm_mul(y, y, &g) < 0 ||
        mm_sum(g, 0, NULL, false, &loss) < 0 || mm_backward(loss) < 0)
        return -1;
    return mm_clone(x->grad, out);
}

/* torch.set_default_dtype(torch.float64); ar(shape, mul) =
 * torch.sin(torch.arange(numel) * mul).reshape(shape); x1 = ar((2, 3, 7),
 * 0.37), x3 = ar((1, 2, 3, 4, 5), 0.21); F.interpolate(x, size= |
 * scale_factor=, mode=, align_corners=) reduced to (y.sum(), (y * y * (1 +
 * torch.arange(numel) % 7)).sum()). */
/* clang-format off */
static const interp_nd nd_cases[] = {
    {1, {11}, {0}, MM_INTERP_NEAREST, false, {2, 3, 7}, 7.892751025, 133.889263, {2, 3, 11}},
    {1, {0}, {1.7}, MM_INTERP_NEAREST, false, {2, 3, 7}, 8.065552656, 132.3102718, {2, 3, 11}},
    {1, {11}, {0}, MM_INTERP_LINEAR, false, {2, 3, 7}, 8.217331422, 131.3834574, {2, 3, 11}},
    {1, {11}, {0}, MM_INTERP_LINEAR, true, {2, 3, 7}, 8.377956757, 131.0473272, {2, 3, 11}},
    {1, {0}, {0.6}, MM_INTERP_LINEAR, false, {2, 3, 7}, 3.01186516, 42.75099966, {2, 3, 4}},
    {1, {0}, {2.5}, MM_INTERP_LINEAR, true, {2, 3, 7}, 13.16771732, 202.2645092, {2, 3, 17}},
    {3, {5, 6, 7}, {0}, MM_INTERP_NEAREST, false, {1, 2, 3, 4, 5}, 23.24274281, 839.2831543, {1, 2, 5, 6, 7}},
    {3, {0}, {1.5, 0.6, 2.0}, MM_INTERP_NEAREST, false, {1, 2, 3, 4, 5}, 26.56958796, 328.1588025, {1, 2, 4, 2, 10}},
    {3, {5, 6, 7}, {0}, MM_INTERP_TRILINEAR, false, {1, 2, 3, 4, 5}, -0.5701512447, 498.3842539, {1, 2, 5, 6, 7}},
    {3, {5, 6, 7}, {0}, MM_INTERP_TRILINEAR, true, {1, 2, 3, 4, 5}, -1.396150633, 499.8279635, {1, 2, 5, 6, 7}},
    {3, {0}, {1.5, 0.6, 2.0}, MM_INTERP_TRILINEAR, false, {1, 2, 3, 4, 5}, 7.200166689, 162.6346775, {1, 2, 4, 2, 10}},
    {3, {2, 3, 9}, {0}, MM_INTERP_TRILINEAR, true, {1, 2, 3, 4, 5}, 1.036575491, 156.1321485, {1, 2, 2, 3, 9}},
};
/* clang-format on */
enum { N_ND = sizeof nd_cases / sizeof nd_cases[0] };

MM_TEST(interpolate_1d_3d_match_torch_and_reference) {
    const mm_dtype dts[] = {MM_F64, MM_F32};
    for (int c = 0; c < N_ND; c++)
        for (int t = 0; t < 2; t++)
            POOLED({
                const interp_nd *nc = &nd_cases[c];
                int nd = nc->nsp + 2;
                mm_tensor *x, *y;
                CHECK_OK(mm_empty(nd, nc->x, dts[t], &x));
                for (int64_t i = 0; i < x->numel; i++)
                    mm_tensor_set_flat(
                        x, i, sin((double)i * (nc->nsp == 1 ? 0.37 : 0.21)));
                CHECK_OK(f_interp_nd((void *)nc, &x, 1, &y));
                CHECK_INT(y->ndim, nd);
                for (int d = 0; d < nd && d < y->ndim; d++)
                    CHECK_INT(y->shape[d], nc->y[d]);
                double s = 0, s2 = 0, rtol = t == 0 ? 1e-9 : 1e-5;
                for (int64_t i = 0; i < y->numel; i++) {
                    double v = at(y, i);
                    s += v;
                    s2 += v * v * (double)(1 + i % 7);
                }
                if (!(fabs(s - nc->sum) <= rtol * (1 + fabs(nc->sum)) &&
                      fabs(s2 - nc->sum2) <= rtol * fabs(nc->sum2))) {
                    fprintf(stderr, "  nd case %d: %.10g %.10g, torch %.10g "
                            "%.10g\n", c, s, s2, nc->sum, nc->sum2);
                    mm_test_failures++;
                }
                char what[64];
                snprintf(what, sizeof what, "interpolate nd case %d %s", c,
                         mm_dtype_name(dts[t]));
                mm_tensor *r = randn_t(nd, nc->x, dts[t]);
                CHECK_VS_REFERENCE(what, f_interp_nd, (void *)nc, &r, 1, 1e-5,
                                   1e-5);
                CHECK_VS_REFERENCE(what, f_interp_nd_grad, (void *)nc, &r, 1,
                                   1e-5, 1e-5);
                mm_tensor *rn = noncontig(r);
                CHECK_VS_REFERENCE(what, f_interp_nd, (void *)nc, &rn, 1, 1e-5,
                                   1e-5);
            });
}

MM_TEST(interpolate_1d_3d_gradcheck) {
    for (int c = 0; c < N_ND; c++)
        POOLED({
            const interp_nd *nc = &nd_cases[c];
            mm_tensor *x = leaf(randn_t(nc->nsp + 2, nc->x, MM_F64));
            CHECK_GRAD(f_interp_nd, (void *)nc, &x, 1);
        });
}

MM_TEST(grid_sample_matches_reference_and_torch) {
    const mm_dtype dts[] = {MM_F32, MM_F64};
    for (int m = 0; m < 2; m++)
        for (int p = 0; p < 3; p++)
            for (int ac = 0; ac < 2; ac++) {
                gs_ctx ctx = {m, p, ac != 0};
                for (int t = 0; t < 2; t++)
                    POOLED({
                        mm_tensor *in[2] = {
                            randn_t(MM_SHAPE(2, 3, 5, 6), dts[t]),
                            uniform_t(MM_SHAPE(2, 4, 7, 2), dts[t], -1.3, 1.3)};
                        CHECK_VS_REFERENCE("grid_sample", f_gs, &ctx, in, 2,
                                           1e-5, 1e-5);
                        CHECK_VS_REFERENCE("grid_sample grads", f_gs_grads,
                                           &ctx, in, 2, 1e-5, 1e-5);
                        mm_tensor *nc[2] = {noncontig(in[0]), in[1]};
                        CHECK_VS_REFERENCE("grid_sample noncontig", f_gs, &ctx,
                                           nc, 2, 1e-5, 1e-5);
                    });
                for (int ref = 0; ref < 2; ref++) {
                    bool prev = mm_ops_set_reference(ref);
                    POOLED({
                        double gv[12];
                        for (int i = 0; i < 12; i++)
                            gv[i] = sin(i * 0.77) * 1.3;
                        mm_tensor *g, *y;
                        CHECK_OK(
                            mm_from_data(gv, MM_SHAPE(1, 2, 3, 2), MM_F64, &g));
                        CHECK_OK(
                            f_gs(&ctx, (mm_tensor *[]){torch_x(), g}, 2, &y));
                        check_vals(y, t_gs[(m * 3 + p) * 2 + ac], 6);
                    });
                    mm_ops_set_reference(prev);
                }
            }
    POOLED({
        gs_ctx ctx = {MM_GRID_SAMPLE_BILINEAR, MM_GRID_SAMPLE_ZEROS, false};
        mm_tensor *in[2] = {randn_t(MM_SHAPE(2, 16, 40, 40), MM_F32),
                            uniform_t(MM_SHAPE(2, 32, 32, 2), MM_F32, -1, 1)};
        CHECK_VS_REFERENCE("grid_sample big", f_gs_grads, &ctx, in, 2, 1e-4,
                           1e-4);
    });
}

MM_TEST(grid_sample_gradients_match_torch) {
    /* x, g as above, both requiring grad;
     * y = F.grid_sample(x, g, 'bilinear', padding, align_corners=False)
     * (y * torch.arange(6.).reshape(1, 1, 2, 3).cos()).sum().backward() */
    static const double want_grid[3][12] = {
        {-0.7167766305046719, -1.0365062220651322, 0, 0, -0.11595863374385738,
         -0.5674649898993112, 0, 0, 0.601444375528189, 0.8522173026278863, 0,
         0},
        {-1.1155426512066593, 0, 0, 0, -0.15856919089032723, 0, 0, 0,
         0.7291673377625141, 0, 0, 0},
        {-1.1155426512066593, 0, 0.9397525325825047, 0, -0.15856919089032723, 0,
         1.5509755258328475, 0, 0.7291673377625141, 0, 0.4933761234992984, 0}};
    static const double want_x[3][12] = {
        {0, -0.10345682001953933, -0.20086344756769084, 0, 0, 0, 0, 0, 0,
         -0.12055006846276012, 0.22393675193176993, 0},
        {-0.9899924966004454, -0.1414734178295161, -0.2746734187176263, 0, 0, 0,
         0, 0, 0, -0.03564289841750612, 0.3819992775538942, 0.823964491331366},
        {-0.9019708282763599, -0.22949508615360165, -0.2746734187176263, 0, 0,
         0, 0, 0, 0, -0.03564289841750612, 0.45500343610774474,
         0.7509603327775154}};
    for (int ref = 0; ref < 2; ref++)
        for (int p = 0; p < 3; p++) {
            bool prev = mm_ops_set_reference(ref);
            POOLED({
                double gv[12], cv[6];
                for (int i = 0; i < 12; i++)
                    gv[i] = sin(i * 0.77) * 1.3;
                for (int i = 0; i < 6; i++)
                    cv[i] = cos(i);
                mm_tensor *g, *c, *y, *x = leaf(torch_x());
                CHECK_OK(mm_from_data(gv, MM_SHAPE(1, 2, 3, 2), MM_F64, &g));
                CHECK_OK(mm_from_data(cv, MM_SHAPE(1, 1, 2, 3), MM_F64, &c));
                leaf(g);
                CHECK_OK(mm_grid_sample(x, g, MM_GRID_SAMPLE_BILINEAR, p, false,
                                        &y));
                CHECK_OK(mm_backward_with_grad(y, c));
                check_vals(g->grad, want_grid[p], 12);
                check_vals(x->grad, want_x[p], 12);
            });
            mm_ops_set_reference(prev);
        }
}

MM_TEST(grid_sample_gradcheck) {
    for (int m = 0; m < 2; m++)
        for (int p = 0; p < 3; p++)
            for (int ac = 0; ac < 2; ac++)
                POOLED({
                    gs_ctx ctx = {m, p, ac != 0};
                    mm_tensor *in[2] = {
                        leaf(randn_t(MM_SHAPE(2, 2, 3, 4), MM_F64)),
                        leaf(uniform_t(MM_SHAPE(2, 3, 2, 2), MM_F64, -1.4,
                                       1.4))};
                    CHECK_GRAD(f_gs, &ctx, in, 2);
                });
}

MM_TEST(resample_errors) {
    POOLED({
        mm_tensor *x, *x3, *g, *y;
        CHECK_OK(mm_zeros(MM_SHAPE(1, 2, 3, 4), MM_F32, &x));
        CHECK_OK(mm_zeros(MM_SHAPE(2, 3, 4), MM_F32, &x3));
        CHECK_OK(mm_zeros(MM_SHAPE(1, 2, 2, 3), MM_F32, &g));
        const int64_t sz[2] = {4, 4}, zero[2] = {0, 4};
        const double sf[2] = {2, -1};
        mm_tensor *x2;
        CHECK_OK(mm_zeros(MM_SHAPE(3, 4), MM_F32, &x2));
        CHECK_ERR(mm_interpolate(x2, sz, NULL, MM_INTERP_NEAREST, false, &y),
                  MM_EINVAL,
                  "interpolate: input has 2 dims, expected 3, 4 or 5");
        CHECK_ERR(mm_interpolate(x3, sz, NULL, MM_INTERP_BILINEAR, false, &y),
                  MM_EINVAL,
                  "interpolate: got 3-D input, but bilinear mode needs 4-D "
                  "input");
        CHECK_ERR(mm_interpolate(x, sz, NULL, MM_INTERP_TRILINEAR, false, &y),
                  MM_EINVAL,
                  "interpolate: got 4-D input, but trilinear mode needs 5-D "
                  "input");
        CHECK_ERR(mm_interpolate(x3, (int64_t[]){0}, NULL, MM_INTERP_LINEAR,
                                 true, &y),
                  MM_EINVAL,
                  "interpolate: input and output sizes must be positive, got "
                  "input [4] and output [0]");
        CHECK_ERR(mm_interpolate(x, sz, NULL, MM_INTERP_NEAREST, true, &y),
                  MM_EINVAL,
                  "interpolate: align_corners can only be set with the "
                  "bilinear and bicubic modes");
        CHECK_ERR(mm_interpolate(x, NULL, NULL, MM_INTERP_BILINEAR, false, &y),
                  MM_EINVAL,
                  "interpolate: exactly one of size and scale_factor must be "
                  "given");
        CHECK_ERR(mm_interpolate(x, NULL, sf, MM_INTERP_BILINEAR, false, &y),
                  MM_EINVAL, "interpolate: scale_factor -1 must be positive");
        CHECK_ERR(mm_interpolate(x, zero, NULL, MM_INTERP_BILINEAR, false, &y),
                  MM_EINVAL,
                  "interpolate: input and output sizes must be positive, got "
                  "input [3, 4] and output [0, 4]");
        CHECK_ERR(mm_grid_sample(x, g, MM_GRID_SAMPLE_BILINEAR,
                                 MM_GRID_SAMPLE_ZEROS, false, &y),
                  MM_EINVAL,
                  "grid_sample: grid of shape [1, 2, 2, 3] does not fit input "
                  "[1, 2, 3, 4] (expected [1, H, W, 2])");
    });
}

MM_TEST_MAIN(MM_CASE(interpolate_matches_reference_forward_and_backward),
             MM_CASE(interpolate_matches_torch), MM_CASE(interpolate_gradcheck),
             MM_CASE(grid_sample_matches_reference_and_torch),
             MM_CASE(grid_sample_gradients_match_torch),
             MM_CASE(grid_sample_gradcheck), MM_CASE(resample_errors),
             MM_CASE(interpolate_1d_3d_match_torch_and_reference),
             MM_CASE(interpolate_1d_3d_gradcheck))
