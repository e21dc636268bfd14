/* The layers over the conv, pool and norm ops: forward against the
 * functional op, torch's repr, default init, running statistics against
 * numbers from torch, a ResNet-style model's state_dict keys, and building
 * from YAML. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mm/autocast.h"
#include "ops/ops_testing.h"

#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (a), b_ = (b);                                             \
        if (!(fabs(a_ - b_) <= (tol))) {                                       \
            fprintf(stderr, "%s:%d: %s = %.9g, want %.9g (tol %g)\n",          \
                    __FILE__, __LINE__, #a, a_, b_, (double)(tol));            \
            mm_test_failures++;                                                \
        }                                                                      \
    } while (0)

static mm_value *yaml(const char *text) {
    mm_value *v = NULL;
    if (mm_yaml_parse(text, strlen(text), "test.yaml", &v) != MM_OK) {
        fprintf(stderr, "bad test yaml: %s\n", mm_error_message());
        exit(1);
    }
    return v;
}

static mm_module *build(const char *text) {
    mm_value *node = yaml(text);
    void *obj = NULL;
    int rc = mm_registry_build(MM_MODELS, node, NULL, "model", NULL, &obj);
    mm_value_release(node);
    if (rc)
        fprintf(stderr, "build failed: %s\n", mm_error_message());
    return obj;
}

static int build_rc(const char *text) {
    mm_value *node = yaml(text);
    void *obj = NULL;
    mm_error_clear();
    int rc = mm_registry_build(MM_MODELS, node, NULL, "model", NULL, &obj);
    mm_value_release(node);
    mm_module_free(obj);
    return rc;
}

static void check_repr(const char *yaml_text, const char *want) {
    mm_module *m = build(yaml_text);
    CHECK(m != NULL);
    if (!m)
        return;
    char *r = mm_module_repr(m);
    CHECK_STR(r, want);
    free(r);
    mm_module_free(m);
}

/* Expected strings: repr(m) in torch 1.13 (Debian's python3-torch) for the
 * same constructor arguments, written beside each. */
MM_TEST(reprs_match_torch) {
    /* nn.Conv2d(3, 8, 3) */
    check_repr(
        "{type: Conv2d, in_channels: 3, out_channels: 8, kernel_size: 3}",
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))");
    /* nn.Conv2d(4, 8, (3, 5), stride=2, padding=(1, 2), dilation=2,
     * groups=2, bias=False) */
    check_repr("{type: Conv2d, in_channels: 4, out_channels: 8, kernel_size:"
               " [3, 5], stride: 2, padding: [1, 2], dilation: 2, groups: 2,"
               " bias: false}",
               "Conv2d(4, 8, kernel_size=(3, 5), stride=(2, 2), padding=(1, "
               "2), dilation=(2, 2), groups=2, bias=False)");
    check_repr(
        "{type: Conv1d, in_channels: 2, out_channels: 4, kernel_size: 3}",
        "Conv1d(2, 4, kernel_size=(3,), stride=(1,))");
    /* nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1) */
    check_repr("{type: ConvTranspose2d, in_channels: 4, out_channels: 2,"
               " kernel_size: 3, stride: 2, output_padding: 1}",
               "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), "
               "output_padding=(1, 1))");
    check_repr(
        "{type: Conv3d, in_channels: 2, out_channels: 2, kernel_size: 1}",
        "Conv3d(2, 2, kernel_size=(1, 1, 1), stride=(1, 1, 1))");
    check_repr("{type: BN, num_features: 8}",
               "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, "
               "track_running_stats=True)");
    /* nn.BatchNorm1d(4, momentum=None, affine=False) */
    check_repr("{type: BatchNorm1d, num_features: 4, momentum: null,"
               " affine: false}",
               "BatchNorm1d(4, eps=1e-05, momentum=None, affine=False, "
               "track_running_stats=True)");
    check_repr("{type: IN, num_features: 3}",
               "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, "
               "track_running_stats=False)");
    check_repr("{type: LN, normalized_shape: 8}",
               "LayerNorm((8,), eps=1e-05, elementwise_affine=True)");
    check_repr("{type: LayerNorm, normalized_shape: [4, 5],"
               " elementwise_affine: false}",
               "LayerNorm((4, 5), eps=1e-05, elementwise_affine=False)");
    check_repr("{type: GN, num_groups: 2, num_channels: 8}",
               "GroupNorm(2, 8, eps=1e-05, affine=True)");
    /* nn.MaxPool2d(3, 2, 1), nn.MaxPool2d((2, 3)), nn.AvgPool2d(2),
     * nn.AvgPool3d(3, stride=2), nn.AdaptiveAvgPool2d(1),
     * nn.AdaptiveAvgPool2d((5, None)), nn.AdaptiveMaxPool2d((2, 3)) */
    check_repr("{type: MaxPool2d, kernel_size: 3, stride: 2, padding: 1}",
               "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, "
               "ceil_mode=False)");
    check_repr("{type: MaxPool2d, kernel_size: [2, 3]}",
               "MaxPool2d(kernel_size=(2, 3), stride=(2, 3), padding=0, "
               "dilation=1, ceil_mode=False)");
    check_repr("{type: AvgPool2d, kernel_size: 2}",
               "AvgPool2d(kernel_size=2, stride=2, padding=0)");
    check_repr("{type: AvgPool3d, kernel_size: 3, stride: 2}",
               "AvgPool3d(kernel_size=3, stride=2, padding=0)");
    check_repr("{type: AdaptiveAvgPool2d, output_size: 1}",
               "AdaptiveAvgPool2d(output_size=1)");
    check_repr("{type: AdaptiveAvgPool2d, output_size: [5, null]}",
               "AdaptiveAvgPool2d(output_size=(5, None))");
    check_repr("{type: AdaptiveMaxPool2d, output_size: [2, 3]}",
               "AdaptiveMaxPool2d(output_size=(2, 3))");
    /* nn.AdaptiveAvgPool1d(4), nn.AdaptiveMaxPool1d(3),
     * nn.AdaptiveAvgPool3d(1), nn.AdaptiveMaxPool3d((2, None, 3)) */
    check_repr("{type: AdaptiveAvgPool1d, output_size: 4}",
               "AdaptiveAvgPool1d(output_size=4)");
    check_repr("{type: AdaptiveMaxPool1d, output_size: 3}",
               "AdaptiveMaxPool1d(output_size=3)");
    check_repr("{type: AdaptiveAvgPool3d, output_size: 1}",
               "AdaptiveAvgPool3d(output_size=1)");
    check_repr("{type: AdaptiveMaxPool3d, output_size: [2, null, 3]}",
               "AdaptiveMaxPool3d(output_size=(2, None, 3))");
    /* nn.Upsample(scale_factor=2), nn.Upsample(size=(4, 5),
     * mode='bilinear', align_corners=True), nn.Upsample(size=4,
     * mode='linear'), nn.Upsample(scale_factor=(2, 1.5, 1),
     * mode='trilinear') */
    check_repr("{type: Upsample, scale_factor: 2}",
               "Upsample(scale_factor=2.0, mode=nearest)");
    check_repr("{type: Upsample, size: [4, 5], mode: bilinear,"
               " align_corners: true}",
               "Upsample(size=(4, 5), mode=bilinear)");
    check_repr("{type: Upsample, size: 4, mode: linear}",
               "Upsample(size=4, mode=linear)");
    check_repr("{type: Upsample, scale_factor: [2, 1.5, 1], mode: trilinear}",
               "Upsample(scale_factor=(2.0, 1.5, 1.0), mode=trilinear)");
}

/* ---- a ResNet-style model -------------------------------------------------
 */

static const mm_module_class net_class = {.name = "Net"};
static const mm_module_class block_class = {.name = "BasicBlock"};

static mm_module *conv(int64_t in, int64_t out, int64_t k, int64_t s,
                       int64_t p) {
    mm_module *m = NULL;
    mm_conv_options o = {.nsp = 2,
                         .in_channels = in,
                         .out_channels = out,
                         .kernel_size = (int64_t[]){k, k},
                         .stride = (int64_t[]){s, s},
                         .padding = (int64_t[]){p, p}};
    CHECK_OK(mm_conv_new(&o, &m));
    return m;
}

static mm_module *bn(int64_t c) {
    mm_module *m = NULL;
    CHECK_OK(mm_batch_norm_new(2, c, 1e-5, 0.1, true, true, &m));
    return m;
}

static mm_module *relu(void) {
    mm_module *m = NULL;
    CHECK_OK(mm_activation_new(&mm_relu_class, &m));
    return m;
}

static mm_module *basic_block(int64_t in, int64_t out, int64_t stride) {
    mm_module *b = NULL;
    CHECK_OK(mm_module_new(&block_class, sizeof(mm_module), &b));
    CHECK_OK(mm_module_add_child(b, "conv1", conv(in, out, 3, stride, 1)));
    CHECK_OK(mm_module_add_child(b, "bn1", bn(out)));
    CHECK_OK(mm_module_add_child(b, "relu", relu()));
    CHECK_OK(mm_module_add_child(b, "conv2", conv(out, out, 3, 1, 1)));
    CHECK_OK(mm_module_add_child(b, "bn2", bn(out)));
    if (stride != 1 || in != out) {
        mm_module *ds[2] = {conv(in, out, 1, stride, 0), bn(out)}, *seq;
        CHECK_OK(mm_sequential_new(2, ds, &seq));
        CHECK_OK(mm_module_add_child(b, "downsample", seq));
    }
    return b;
}

/* torch (python3-torch 1.13): a torchvision-style Net with conv1 (bias
 * False), bn1, relu, maxpool, layer1 = Sequential(BasicBlock(4, 8, 2),
 * BasicBlock(8, 8)), avgpool, fc = Linear(8, 10); list(state_dict().keys())
 * and sum(p.numel() for p in net.parameters()) = 2814. */
MM_TEST(resnet_style_state_dict_keys_match_torch) {
    static const char *const want[] = {
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
        "layer1.0.conv1.weight",
        "layer1.0.bn1.weight",
        "layer1.0.bn1.bias",
        "layer1.0.bn1.running_mean",
        "layer1.0.bn1.running_var",
        "layer1.0.bn1.num_batches_tracked",
        "layer1.0.conv2.weight",
        "layer1.0.bn2.weight",
        "layer1.0.bn2.bias",
        "layer1.0.bn2.running_mean",
        "layer1.0.bn2.running_var",
        "layer1.0.bn2.num_batches_tracked",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.weight",
        "layer1.0.downsample.1.bias",
        "layer1.0.downsample.1.running_mean",
        "layer1.0.downsample.1.running_var",
        "layer1.0.downsample.1.num_batches_tracked",
        "layer1.1.conv1.weight",
        "layer1.1.bn1.weight",
        "layer1.1.bn1.bias",
        "layer1.1.bn1.running_mean",
        "layer1.1.bn1.running_var",
        "layer1.1.bn1.num_batches_tracked",
        "layer1.1.conv2.weight",
        "layer1.1.bn2.weight",
        "layer1.1.bn2.bias",
        "layer1.1.bn2.running_mean",
        "layer1.1.bn2.running_var",
        "layer1.1.bn2.num_batches_tracked",
        "fc.weight",
        "fc.bias"};
    mm_module *net = NULL, *m;
    CHECK_OK(mm_module_new(&net_class, sizeof(mm_module), &net));
    mm_conv_options o = {.nsp = 2,
                         .in_channels = 3,
                         .out_channels = 4,
                         .kernel_size = (int64_t[]){7, 7},
                         .stride = (int64_t[]){2, 2},
                         .padding = (int64_t[]){3, 3}};
    CHECK_OK(mm_conv_new(&o, &m));
    CHECK_OK(mm_module_add_child(net, "conv1", m));
    CHECK_OK(mm_module_add_child(net, "bn1", bn(4)));
    CHECK_OK(mm_module_add_child(net, "relu", relu()));
    CHECK_OK(mm_max_pool_new(2, (int64_t[]){3, 3}, (int64_t[]){2, 2},
                             (int64_t[]){1, 1}, NULL, false, &m));
    CHECK_OK(mm_module_add_child(net, "maxpool", m));
    mm_module *blocks[2] = {basic_block(4, 8, 2), basic_block(8, 8, 1)};
    CHECK_OK(mm_sequential_new(2, blocks, &m));
    CHECK_OK(mm_module_add_child(net, "layer1", m));
    CHECK_OK(mm_adaptive_pool_new(false, (int64_t[]){1, 1}, &m));
    CHECK_OK(mm_module_add_child(net, "avgpool", m));
    CHECK_OK(mm_linear_new(8, 10, true, &m));
    CHECK_OK(mm_module_add_child(net, "fc", m));

    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(net, &sd));
    size_t n = sizeof want / sizeof want[0];
    CHECK_INT(sd.n, n);
    for (size_t i = 0; i < n && i < sd.n; i++)
        CHECK_STR(sd.items[i].name, want[i]);
    CHECK_INT(mm_module_num_parameters(net, false), 2814);
    mm_tensor *nbt = mm_state_dict_get(&sd, "bn1.num_batches_tracked");
    CHECK(nbt && nbt->dtype == MM_I64 && nbt->ndim == 0);
    /* a round trip through load_state_dict */
    CHECK_OK(mm_module_load_state_dict(net, &sd, true, NULL));
    mm_state_dict_clear(&sd);
    mm_module_free(net);
}

/* ---- forward against the functional ops -----------------------------------
 */

MM_TEST(conv_forward_matches_the_op_and_init_bounds) {
    POOLED({
        mm_module *m = build("{type: Conv2d, in_channels: 4, out_channels: 6,"
                             " kernel_size: [3, 2], stride: [2, 1], padding: 1,"
                             " groups: 2}");
        mm_nn_conv *c = (mm_nn_conv *)m;
        CHECK(c->weight->shape[0] == 6 && c->weight->shape[1] == 2 &&
              c->weight->shape[2] == 3 && c->weight->shape[3] == 2);
        mm_tensor *x = randn_t(MM_SHAPE(2, 4, 7, 5), MM_F32), *y, *ref;
        CHECK_OK(mm_conv_forward(m, noncontig(x), &y));
        CHECK_OK(mm_conv2d(x, c->weight, c->bias, (int64_t[]){2, 1},
                           (int64_t[]){1, 1}, NULL, 2, &ref));
        CHECK(mm_allclose(y, ref, 1e-5, 1e-6, NULL));
        /* reset_parameters: every value within 1/sqrt(fan_in), fan_in =
         * in/groups * kh * kw = 12 */
        double bound = 1 / sqrt(12.0), hi = 0;
        for (int64_t i = 0; i < c->weight->numel; i++)
            hi = fmax(hi, fabs(at(c->weight, i)));
        CHECK(hi <= bound && hi > 0.5 * bound);
        for (int64_t i = 0; i < 6; i++)
            CHECK(fabs(at(c->bias, i)) <= bound);
        mm_module_free(m);

        m = build("{type: deconv, in_channels: 4, out_channels: 2,"
                  " kernel_size: 3, stride: 2, output_padding: 1}");
        c = (mm_nn_conv *)m;
        CHECK(c->weight->shape[0] == 4 && c->weight->shape[1] == 2);
        mm_tensor *x2 = randn_t(MM_SHAPE(1, 4, 3, 3), MM_F32);
        CHECK_OK(mm_module_forward1(m, x2, &y));
        CHECK_OK(mm_conv_transpose2d(x2, c->weight, c->bias, (int64_t[]){2, 2},
                                     NULL, (int64_t[]){1, 1}, 1, NULL, &ref));
        CHECK(mm_allclose(y, ref, 1e-5, 1e-6, NULL));
        CHECK(y->shape[2] == 8 && y->shape[3] == 8);
        /* torch's quirk: a transposed weight's fan_in is out/groups * k */
        bound = 1 / sqrt(2 * 9.0), hi = 0;
        for (int64_t i = 0; i < c->weight->numel; i++)
            hi = fmax(hi, fabs(at(c->weight, i)));
        CHECK(hi <= bound && hi > 0.5 * bound);
        mm_module_free(m);

        m = build("{type: Conv1d, in_channels: 2, out_channels: 3,"
                  " kernel_size: 5, padding: same, dilation: 2}");
        mm_tensor *x1 = randn_t(MM_SHAPE(2, 2, 9), MM_F32);
        CHECK_OK(mm_module_forward1(m, x1, &y));
        CHECK(y->ndim == 3 && y->shape[2] == 9);
        mm_module_free(m);
        /* 'same' with an odd dilation * (k - 1): torch pads total / 2
         * before and the rest after (F.pad(x, [1, 2, 1, 2]) here, dims
         * reversed: W gets 3 * 1 = 3 -> 1, 2; H gets 3 -> 1, 2) */
        m = build("{type: Conv2d, in_channels: 2, out_channels: 3,"
                  " kernel_size: [4, 2], dilation: [1, 3], padding: same}");
        mm_tensor *xs = randn_t(MM_SHAPE(1, 2, 6, 5), MM_F32), *xp;
        CHECK_OK(mm_module_forward1(m, xs, &y));
        CHECK(y->ndim == 4 && y->shape[2] == 6 && y->shape[3] == 5);
        CHECK_OK(mm_pad(xs, 4, (int64_t[]){1, 2, 1, 2}, MM_PAD_CONSTANT, 0.0,
                        &xp));
        c = (mm_nn_conv *)m;
        CHECK_OK(mm_conv2d(xp, c->weight, c->bias, NULL, NULL,
                           (int64_t[]){1, 3}, 1, &ref));
        CHECK(mm_allclose(y, ref, 1e-5, 1e-6, NULL));
        mm_module_free(m);
        CHECK(build_rc("{type: Conv1d, in_channels: 2, out_channels: 3,"
                       " kernel_size: 3, stride: 2, padding: same}") ==
              MM_EINVAL);
        m = build("{type: Conv3d, in_channels: 2, out_channels: 3,"
                  " kernel_size: [1, 3, 3], bias: false}");
        mm_tensor *x3 = randn_t(MM_SHAPE(1, 2, 4, 5, 5), MM_F32);
        CHECK_OK(mm_module_forward1(m, x3, &y));
        CHECK_OK(mm_conv3d(x3, ((mm_nn_conv *)m)->weight, NULL, NULL, NULL,
                           NULL, 1, &ref));
        CHECK(mm_allclose(y, ref, 1e-5, 1e-6, NULL));
        mm_module_free(m);
    });
}

MM_TEST(conv_arguments_are_checked) {
    CHECK_ERR(build_rc("{type: Conv2d, in_channels: 3, out_channels: 8,"
                       " kernel_size: 3, groups: 2}"),
              MM_EINVAL,
              "test.yaml:1:1: model (mm.Conv2d): Conv2d: in_channels 3 and "
              "out_channels 8 must be divisible by groups 2");
    CHECK_ERR(build_rc("{type: Conv2d, in_channels: 3, out_channels: 8,"
                       " kernel_size: [3, 3, 3]}"),
              MM_EINVAL,
              "test.yaml:1:62: model (mm.Conv2d): kernel_size: expected an "
              "int or a list of 2 ints");
    CHECK_ERR(build_rc("{type: Conv2d, in_channels: 3, out_channels: 8,"
                       " kernel_size: 3, padding_mode: circular}"),
              MM_EUNSUPPORTED,
              "test.yaml:1:1: model (mm.Conv2d): Conv2d: padding_mode "
              "'circular' is not supported (zeros, reflect or replicate; "
              "zeros only when transposed)");
    CHECK_ERR(build_rc("{type: Conv2d, in_channels: 3, out_channels: 8,"
                       " kernel_size: 3, paddin: 1}"),
              MM_EINVAL,
              "test.yaml:1:65: model: mm.Conv2d has no parameter 'paddin' "
              "(did you mean 'padding'?)");
    POOLED({
        mm_module *m = build("{type: Conv2d, in_channels: 3, out_channels: 4,"
                             " kernel_size: 1}");
        mm_tensor *x = randn_t(MM_SHAPE(1, 5, 2, 2), MM_F32), *y;
        CHECK(mm_module_forward1(m, x, &y) == MM_EINVAL);
        mm_module_free(m);
    });
}

static void fill_x(mm_tensor *x) {
    /* (torch.arange(16.).reshape(2, 2, 2, 2) / 7 - 1) ** 2 */
    for (int64_t i = 0; i < 16; i++) {
        double v = i / 7.0 - 1;
        mm_tensor_set_flat(x, i, (float)(v * v));
    }
}

/* torch: bn = nn.BatchNorm2d(2); y = bn(x) (training); bn.running_mean,
 * bn.running_var, bn.num_batches_tracked; bn.eval(); bn(x)[:4];
 * b2 = nn.BatchNorm2d(2, momentum=None); b2(x); b2(x * 2); its stats. */
MM_TEST(batch_norm_running_stats_match_torch) {
    mm_module *m = build("{type: BN, num_features: 2}");
    mm_nn_norm *n = (mm_nn_norm *)m;
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *x, *y, *ref;
    CHECK_OK(mm_empty(MM_SHAPE(2, 2, 2, 2), MM_F32, &x));
    fill_x(x);
    CHECK_OK(mm_module_forward1(m, x, &y));
    const double want_y[16] = {
        1.9191726446151733,   1.0734355449676514,  0.3578118681907654,
        -0.22769853472709656, -0.6406441926956177, -0.8615559339523315,
        -0.9941030144691467,  -1.0382853746414185, -1.203548789024353,
        -1.0083788633346558,  -0.6830952167510986, -0.22769853472709656,
        0.06627359241247177,  0.5522792935371399,  1.1266502141952515,
        1.7893853187561035};
    for (int i = 0; i < 16; i++)
        CHECK_NEAR(at(y, i), want_y[i], 2e-6);
    CHECK_NEAR(at(n->running_mean, 0), 0.03979591652750969, 1e-7);
    CHECK_NEAR(at(n->running_mean, 1), 0.04795917868614197, 1e-7);
    CHECK_NEAR(at(n->running_var, 0), 0.9112452864646912, 1e-6);
    CHECK_NEAR(at(n->running_var, 1), 0.9243826866149902, 1e-6);
    CHECK_NEAR(at(n->num_batches_tracked, 0), 1, 0);
    mm_module_eval(m);
    CHECK_OK(mm_module_forward1(m, x, &y));
    const double want_eval[4] = {1.0058739185333252, 0.7279491424560547,
                                 0.49278199672698975, 0.30037251114845276};
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(at(y, i), want_eval[i], 2e-6);
    CHECK_OK(mm_batch_norm(x, n->running_mean, n->running_var, n->weight,
                           n->bias, false, 0.1, 1e-5, &ref));
    CHECK(mm_allclose(y, ref, 0, 0, NULL));
    CHECK_NEAR(at(n->num_batches_tracked, 0), 1, 0); /* eval does not count */
    mm_module_free(m);

    m = build("{type: BatchNorm2d, num_features: 2, momentum: null}");
    n = (mm_nn_norm *)m;
    mm_tensor *x2;
    CHECK_OK(mm_module_forward1(m, x, &y));
    CHECK_OK(mm_mul_scalar(x, 2, &x2));
    CHECK_OK(mm_module_forward1(m, x2, &y));
    CHECK_NEAR(at(n->running_mean, 0), 0.5969387292861938, 1e-6);
    CHECK_NEAR(at(n->running_mean, 1), 0.7193876504898071, 1e-6);
    CHECK_NEAR(at(n->running_var, 0), 0.28113287687301636, 1e-6);
    CHECK_NEAR(at(n->running_var, 1), 0.6095673441886902, 1e-6);
    CHECK_NEAR(at(n->num_batches_tracked, 0), 2, 0);
    mm_module_free(m);

    m = build("{type: BN1d, num_features: 2}");
    CHECK_ERR(mm_module_forward1(m, x, &y), MM_EINVAL,
              "BatchNorm1d: expected 2D or 3D input (got 4D input)");
    mm_module_free(m);
    mm_pool_close(pool);
}

MM_TEST(norms_match_their_ops) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(2, 4, 3, 5), MM_F32), *y, *ref;
        mm_module *m = build("{type: GN, num_groups: 2, num_channels: 4}");
        mm_nn_norm *n = (mm_nn_norm *)m;
        CHECK_OK(mm_init_normal_(n->weight, 1, 0.5, NULL));
        CHECK_OK(mm_module_forward1(m, x, &y));
        CHECK_OK(mm_group_norm(x, 2, n->weight, n->bias, 1e-5, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        mm_module_free(m);

        m = build("{type: LN, normalized_shape: [3, 5], eps: 1.0e-6}");
        n = (mm_nn_norm *)m;
        CHECK(n->weight->ndim == 2 && at(n->weight, 14) == 1 &&
              at(n->bias, 0) == 0);
        CHECK_OK(mm_module_forward1(m, x, &y));
        CHECK_OK(mm_layer_norm(x, 2, (int64_t[]){3, 5}, n->weight, n->bias,
                               1e-6, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        mm_module_free(m);

        m = build("{type: IN, num_features: 4, affine: true,"
                  " track_running_stats: true}");
        n = (mm_nn_norm *)m;
        CHECK(n->running_mean && n->num_batches_tracked && n->weight);
        CHECK_OK(mm_module_forward1(m, x, &y));
        mm_tensor *rm, *rv;
        CHECK_OK(mm_zeros(MM_SHAPE(4), MM_F32, &rm));
        CHECK_OK(mm_ones(MM_SHAPE(4), MM_F32, &rv));
        CHECK_OK(mm_instance_norm(x, rm, rv, n->weight, n->bias, true, 0.1,
                                  1e-5, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        CHECK(mm_allclose(n->running_mean, rm, 0, 0, NULL));
        /* unbatched (C, H, W) */
        mm_tensor *x3;
        CHECK_OK(mm_select(x, 0, 1, &x3));
        CHECK_OK(mm_module_forward1(m, x3, &y));
        CHECK(y->ndim == 3 && y->shape[0] == 4);
        mm_module_free(m);

        m = build("{type: BN, num_features: 4, requires_grad: false}");
        CHECK(!((mm_nn_norm *)m)->weight->requires_grad);
        mm_module_free(m);
    });
}

MM_TEST(pools_match_their_ops) {
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(2, 3, 7, 6), MM_F32), *y, *ref, *idx;
        mm_module *m = build("{type: MaxPool2d, kernel_size: 3, stride: 2,"
                             " padding: 1, ceil_mode: true}");
        CHECK_OK(mm_module_forward1(m, x, &y));
        CHECK_OK(mm_max_pool2d(x, (int64_t[]){3, 3}, (int64_t[]){2, 2},
                               (int64_t[]){1, 1}, NULL, true, &ref, NULL));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        CHECK_OK(mm_pooling_forward(m, x, &y, &idx));
        CHECK(idx && idx->dtype == MM_I64);
        mm_module_free(m);

        m = build("{type: AvgPool2d, kernel_size: [2, 3], padding: [1, 0],"
                  " count_include_pad: false}");
        CHECK_OK(mm_module_forward1(m, x, &y));
        CHECK_OK(mm_avg_pool2d(x, (int64_t[]){2, 3}, NULL, (int64_t[]){1, 0},
                               false, false, 0, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        mm_module_free(m);

        m = build("{type: AdaptiveAvgPool2d, output_size: [1, 1]}");
        CHECK_OK(mm_module_forward1(m, x, &y));
        CHECK_OK(mm_mean(x, MM_DIMS(2, 3), true, &ref));
        CHECK(mm_allclose(y, ref, 1e-6, 1e-6, NULL));
        mm_module_free(m);

        m = build("{type: AdaptiveMaxPool2d, output_size: [2, null]}");
        CHECK_OK(mm_module_forward1(m, x, &y));
        CHECK(y->shape[2] == 2 && y->shape[3] == 6);
        mm_module_free(m);

        mm_tensor *x5 = randn_t(MM_SHAPE(1, 2, 4, 4, 4), MM_F32);
        m = build("{type: MaxPool3d, kernel_size: 2}");
        CHECK_OK(mm_module_forward1(m, x5, &y));
        CHECK_OK(mm_max_pool3d(x5, (int64_t[]){2, 2, 2}, NULL, NULL, NULL,
                               false, &ref, NULL));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        mm_module_free(m);
        m = build("{type: AvgPool3d, kernel_size: 2, stride: 1}");
        CHECK_OK(mm_module_forward1(m, x5, &y));
        CHECK_OK(mm_avg_pool3d(x5, (int64_t[]){2, 2, 2}, (int64_t[]){1, 1, 1},
                               NULL, false, true, 0, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        mm_module_free(m);
        /* the video head: global average over (T, H, W) */
        m = build("{type: AdaptiveAvgPool3d, output_size: [1, 1, 1]}");
        CHECK_OK(mm_module_forward1(m, x5, &y));
        CHECK_OK(mm_mean(x5, MM_DIMS(2, 3, 4), true, &ref));
        CHECK(mm_allclose(y, ref, 1e-6, 1e-6, NULL));
        mm_module_free(m);
        m = build("{type: AdaptiveMaxPool3d, output_size: [2, null, 3]}");
        CHECK_OK(mm_module_forward1(m, x5, &y));
        CHECK_OK(mm_adaptive_max_pool3d(x5, (int64_t[]){2, -1, 3}, &ref,
                                        NULL));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        mm_module_free(m);
        mm_tensor *x3 = randn_t(MM_SHAPE(2, 3, 9), MM_F32);
        m = build("{type: AdaptiveMaxPool1d, output_size: 4}");
        CHECK_OK(mm_pooling_forward(m, x3, &y, &idx));
        CHECK_OK(mm_adaptive_max_pool1d(x3, (int64_t[]){4}, &ref, NULL));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        CHECK(idx && idx->dtype == MM_I64 && idx->shape[2] == 4);
        mm_module_free(m);
        m = build("{type: Upsample, scale_factor: 2, mode: linear}");
        CHECK_OK(mm_module_forward1(m, x3, &y));
        CHECK_OK(mm_interpolate(x3, NULL, (double[]){2}, MM_INTERP_LINEAR,
                                false, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        CHECK(mm_module_forward1(m, x5, &y) == MM_EINVAL);
        mm_module_free(m);
        m = build("{type: Upsample, size: [3, 5, 6], mode: trilinear}");
        CHECK_OK(mm_module_forward1(m, x5, &y));
        CHECK(y->ndim == 5 && y->shape[2] == 3 && y->shape[4] == 6);
        CHECK(mm_module_forward1(m, x3, &y) == MM_EINVAL);
        mm_module_free(m);
        mm_module *bad = NULL;
        CHECK_ERR(mm_upsample_new(1, (int64_t[]){2}, 1, (double[]){2},
                                  MM_INTERP_NEAREST, false, false, &bad),
                  MM_EINVAL,
                  "Upsample: exactly one of size and scale_factor must be "
                  "given");
        m = build("{type: AdaptiveAvgPool1d, output_size: 1}");
        CHECK_OK(mm_module_forward1(m, x3, &y));
        CHECK_OK(mm_mean(x3, MM_DIMS(2), true, &ref));
        CHECK(mm_allclose(y, ref, 1e-6, 1e-6, NULL));
        mm_module_free(m);
    });
}

/* gradients reach conv and norm parameters: a float64 gradcheck of
 * conv -> BN (training) -> ReLU through the generic forwards. */
static int g_conv_bn(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    mm_module *seq = c;
    mm_tensor *y;
    MM_TRY(mm_module_forward1(seq, in[0], &y));
    return mm_mul(y, y, out);
}

static int collect(const char *name, mm_tensor *t, void *user) {
    (void)name;
    mm_tensor ***p = user;
    *(*p)++ = t;
    return 0;
}

MM_TEST(gradcheck_conv_batch_norm_relu_in_float64) {
    POOLED({
        mm_module *items[3], *seq;
        mm_conv_options o = {.nsp = 2,
                             .in_channels = 2,
                             .out_channels = 3,
                             .kernel_size = (int64_t[]){2, 2},
                             .bias = true};
        CHECK_OK(mm_conv_new(&o, &items[0]));
        CHECK_OK(mm_batch_norm_new(2, 3, 1e-5, 0.1, true, true, &items[1]));
        CHECK_OK(mm_activation_new(&mm_tanh_class, &items[2]));
        CHECK_OK(mm_sequential_new(3, items, &seq));
        CHECK_OK(mm_module_to_dtype(seq, MM_F64));
        CHECK(((mm_nn_norm *)items[1])->running_mean->dtype == MM_F64);
        CHECK(((mm_nn_norm *)items[1])->num_batches_tracked->dtype == MM_I64);
        CHECK_OK(
            mm_init_normal_(((mm_nn_norm *)items[1])->weight, 1, 0.3, NULL));
        mm_tensor *in[5], **p = in + 1;
        in[0] = leaf(randn_t(MM_SHAPE(2, 2, 3, 3), MM_F64));
        CHECK_OK(mm_module_named_parameters(seq, collect, &p));
        CHECK(p == in + 5);
        CHECK_GRAD(g_conv_bn, seq, in, 5);
        mm_module_free(seq);
    });
}

/* ---- MultiheadAttention ---------------------------------------------------
 */

static void fill_sin(mm_tensor *t, double a) {
    for (int64_t i = 0; i < t->numel; i++)
        mm_tensor_set_flat(t, i, sin(a * (double)(i + 1)));
}

static mm_tensor *seq_tensor(int64_t d0, int64_t d1, int64_t d2, int kind) {
    mm_tensor *t;
    if (mm_empty(MM_SHAPE(d0, d1, d2), MM_F32, &t) < 0)
        abort();
    for (int64_t i = 0; i < t->numel; i++) {
        double x = (double)i;
        mm_tensor_set_flat(t, i,
                           kind == 0   ? cos(0.5 * x)
                           : kind == 1 ? cos(0.9 * x + 1)
                                       : sin(0.3 * x - 1));
    }
    return t;
}

static void check_values(const mm_tensor *y, const double *want, int n) {
    CHECK_INT(y->numel, n);
    for (int i = 0; i < n && i < y->numel; i++) {
        double v = at(y, i);
        if (isnan(want[i]))
            CHECK(isnan(v));
        else
            CHECK_NEAR(v, want[i], 2e-5);
    }
}

/* torch 1.13: m = nn.MultiheadAttention(4, 2) with in_proj_weight,
 * in_proj_bias, out_proj.weight, out_proj.bias filled with sin(a * (i + 1))
 * for a = 0.7, 1.3, 0.4, 2.1; q[i] = cos(0.5 i) (3, 2, 4), k[i] =
 * cos(0.9 i + 1) (2, 2, 4), v[i] = sin(0.3 i - 1) (2, 2, 4);
 * m(q, k, v, need_weights=False)[0].flatten(), then with key_padding_mask
 * [[F, T], [F, F]] and attn_mask [[F, F], [T, F], [F, F]] (one row fully
 * masked: NaN, as torch), then m(q, q, q). */
MM_TEST(multihead_attention_matches_torch) {
    mm_module *m = build("{type: MultiheadAttention, embed_dim: 4,"
                         " num_heads: 2}");
    if (!m)
        return;
    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(m, &sd));
    CHECK_INT(sd.n, 4);
    const char *keys[] = {"in_proj_weight", "in_proj_bias", "out_proj.weight",
                          "out_proj.bias"};
    for (int i = 0; i < 4 && i < (int)sd.n; i++)
        CHECK_STR(sd.items[i].name, keys[i]);
    mm_nn_mha *a = (mm_nn_mha *)m;
    mm_no_grad_push();
    fill_sin(a->in_proj_weight, 0.7);
    fill_sin(a->in_proj_bias, 1.3);
    fill_sin(((mm_nn_linear *)a->out_proj)->weight, 0.4);
    fill_sin(((mm_nn_linear *)a->out_proj)->bias, 2.1);
    mm_no_grad_pop();
    mm_state_dict_clear(&sd);
    POOLED({
        mm_tensor *q = seq_tensor(3, 2, 4, 0), *k = seq_tensor(2, 2, 4, 1),
                  *v = seq_tensor(2, 2, 4, 2), *y;
        CHECK_OK(mm_multihead_attention_forward(m, q, k, v, NULL, NULL, &y));
        CHECK(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 2);
        static const double cross[24] = {
            2.747001886367798,   -2.165001392364502,  -1.791443943977356,
            2.2536253929138184,  1.6724908351898193,  -1.3266074657440186,
            -0.7658941149711609, 1.3553400039672852,  2.2221627235412598,
            -1.9098868370056152, -1.2815032005310059, 1.9687304496765137,
            2.707308292388916,   -1.544029712677002,  -1.788014531135559,
            1.632453203201294,   1.694216012954712,   -0.07574516534805298,
            -0.8606687188148499, 0.1100124716758728,  2.1372342109680176,
            -1.6321386098861694, -1.2127946615219116, 1.6869697570800781};
        check_values(y, cross, 24);
        mm_tensor *kpm, *am;
        CHECK_OK(mm_from_data((uint8_t[]){0, 1, 0, 0}, MM_SHAPE(2, 2), MM_BOOL,
                              &kpm));
        CHECK_OK(mm_from_data((uint8_t[]){0, 0, 1, 0, 0, 0}, MM_SHAPE(3, 2),
                              MM_BOOL, &am));
        mm_tensor *in5[5] = {q, k, v, kpm, am};
        CHECK_OK(mm_module_forward(m, 5, in5, &y));
        const double nan = NAN;
        const double masked[24] = {1.666310429573059,
                                   -0.04728829860687256,
                                   -0.8344247341156006,
                                   0.08002299070358276,
                                   1.6724908351898193,
                                   -1.3266074657440186,
                                   -0.7658941149711609,
                                   1.3553400039672852,
                                   nan,
                                   nan,
                                   nan,
                                   nan,
                                   1.663070559501648,
                                   -1.3208916187286377,
                                   -0.7568077445030212,
                                   1.3490935564041138,
                                   1.666310429573059,
                                   -0.04728829860687256,
                                   -0.8344247341156006,
                                   0.08002299070358276,
                                   2.1372342109680176,
                                   -1.6321386098861694,
                                   -1.2127946615219116,
                                   1.6869697570800781};
        check_values(y, masked, 24);
        CHECK_OK(mm_module_forward1(m, q, &y));
        static const double self[24] = {
            2.251101016998291,    -0.39786988496780396, -1.3987417221069336,
            0.4635601043701172,   1.0161833763122559,   -1.8052418231964111,
            -0.08163484930992126, 1.7940142154693604,   2.263481616973877,
            -0.7148249745368958,  -1.392612338066101,   0.7801572680473328,
            2.086379051208496,    -0.16210216283798218, -1.2477885484695435,
            0.2189769148826599,   1.166038155555725,    -1.8008337020874023,
            -0.2317471206188202,  1.798372507095337,    1.998081922531128,
            -0.5503555536270142,  -1.1368175745010376,  0.6007496118545532};
        check_values(y, self, 24);
        /* unbatched (L, E): the first batch element's result */
        mm_tensor *q0, *y0;
        CHECK_OK(mm_select(q, 1, 0, &q0));
        CHECK_OK(mm_module_forward1(m, q0, &y0));
        CHECK(y0->ndim == 2 && fabs(at(y0, 0) - self[0]) < 2e-5 &&
              fabs(at(y0, 4) - self[8]) < 2e-5);
        CHECK_ERR(mm_module_forward(m, 2, in5, &y), MM_EINVAL,
                  "MultiheadAttention: expected 1 (query) or 3 to 5 inputs "
                  "(query, key, value, key_padding_mask, attn_mask), got 2");
    });
    mm_module_free(m);

    /* nn.MultiheadAttention(4, 2, kdim=3, vdim=5, bias=False,
     * batch_first=True).state_dict().keys() */
    m = build("{type: MultiheadAttention, embed_dim: 4, num_heads: 2,"
              " kdim: 3, vdim: 5, bias: false, batch_first: true}");
    CHECK_OK(mm_module_state_dict(m, &sd));
    const char *keys2[] = {"q_proj_weight", "k_proj_weight", "v_proj_weight",
                           "out_proj.weight"};
    CHECK_INT(sd.n, 4);
    for (int i = 0; i < 4 && i < (int)sd.n; i++)
        CHECK_STR(sd.items[i].name, keys2[i]);
    mm_state_dict_clear(&sd);
    POOLED({
        mm_tensor *q = randn_t(MM_SHAPE(2, 3, 4), MM_F32),
                  *k = randn_t(MM_SHAPE(2, 6, 3), MM_F32),
                  *v = randn_t(MM_SHAPE(2, 6, 5), MM_F32), *y;
        mm_tensor *in3[3] = {q, k, v};
        CHECK_OK(mm_module_forward(m, 3, in3, &y));
        CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 &&
              y->shape[2] == 4);
    });
    mm_module_free(m);
    CHECK_ERR(build_rc("{type: MultiheadAttention, embed_dim: 6,"
                       " num_heads: 4}"),
              MM_EINVAL,
              "test.yaml:1:1: model (mm.MultiheadAttention): "
              "MultiheadAttention: embed_dim 6 must be divisible by num_heads "
              "4");
}

/* torch: c = nn.Conv2d(1, 1, 3, padding=1, padding_mode='reflect',
 * bias=False); c.weight = arange(9).reshape(1, 1, 3, 3) / 10;
 * c(arange(12.).reshape(1, 1, 3, 4)).flatten(); print(c) */
MM_TEST(conv_reflect_padding_matches_torch) {
    mm_module *m = build("{type: Conv2d, in_channels: 1, out_channels: 1,"
                         " kernel_size: 3, padding: 1, padding_mode: reflect,"
                         " bias: false}");
    if (!m)
        return;
    char *r = mm_module_repr(m);
    CHECK_STR(r, "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=(1, "
                 "1), bias=False, padding_mode=reflect)");
    free(r);
    POOLED({
        mm_no_grad_push();
        for (int64_t i = 0; i < 9; i++)
            mm_tensor_set_flat(((mm_nn_conv *)m)->weight, i, i / 10.0);
        mm_no_grad_pop();
        mm_tensor *x, *y;
        CHECK_OK(mm_arange(0, 12, 1, MM_F32, &x));
        CHECK_OK(mm_reshape(x, MM_SHAPE(1, 1, 3, 4), &x));
        CHECK_OK(mm_module_forward1(m, x, &y));
        const double want[12] = {12.0, 13.8, 17.4, 18.0, 24.0, 25.8,
                                 29.4, 30.0, 21.6, 23.4, 27.0, 27.6};
        for (int i = 0; i < 12; i++)
            CHECK_NEAR(at(y, i), want[i], 1e-5);
    });
    mm_module_free(m);
    CHECK_ERR(build_rc("{type: ConvTranspose2d, in_channels: 1,"
                       " out_channels: 1, kernel_size: 3,"
                       " padding_mode: reflect}"),
              MM_EUNSUPPORTED,
              "test.yaml:1:1: model (mm.ConvTranspose2d): ConvTranspose2d: "
              "padding_mode 'reflect' is not supported (zeros, reflect or "
              "replicate; zeros only when transposed)");
}

/* torch: nn.Embedding(10, 3, padding_idx=-1) prints
 * "Embedding(10, 3, padding_idx=9)"; weight ~ N(0, 1) with that row 0. */
MM_TEST(embedding_looks_up_rows_and_keeps_the_padding_row_zero) {
    mm_module *m = build("{type: Embedding, num_embeddings: 10,"
                         " embedding_dim: 3, padding_idx: -1}");
    if (!m)
        return;
    char *r = mm_module_repr(m);
    CHECK_STR(r, "Embedding(10, 3, padding_idx=9)");
    free(r);
    mm_nn_embedding *e = (mm_nn_embedding *)m;
    for (int i = 0; i < 3; i++)
        CHECK(at(e->weight, 27 + i) == 0);
    CHECK(at(e->weight, 0) != 0);
    mm_pool *pool;
    CHECK_OK(mm_pool_open(&pool));
    mm_tensor *idx, *y, *loss;
    CHECK_OK(
        mm_from_data((int64_t[]){2, 9, 2, 0}, MM_SHAPE(2, 2), MM_I64, &idx));
    CHECK_OK(mm_module_forward1(m, idx, &y));
    CHECK(y->ndim == 3 && y->shape[2] == 3);
    CHECK(at(y, 0) == at(e->weight, 6) && at(y, 3) == 0);
    CHECK_OK(mm_sum(y, 0, NULL, false, &loss));
    CHECK_OK(mm_backward(loss));
    mm_tensor *g = mm_tensor_grad(e->weight);
    CHECK(g && at(g, 6) == 2 && at(g, 27) == 0 && at(g, 0) == 1);
    mm_pool_close(pool);
    mm_module_free(m);
    CHECK_ERR(build_rc("{type: Embedding, num_embeddings: 4,"
                       " embedding_dim: 2, max_norm: 1.0}"),
              MM_EUNSUPPORTED,
              "test.yaml:1:1: model (mm.Embedding): Embedding: max_norm, "
              "scale_grad_by_freq and sparse are not supported");
}

/* ---- ConvModule -------------------------------------------------------------
 */

static void check_keys(mm_module *m, const char *const *want, size_t n) {
    mm_state_dict sd = {0};
    CHECK_OK(mm_module_state_dict(m, &sd));
    CHECK_INT(sd.n, n);
    for (size_t i = 0; i < n && i < sd.n; i++)
        CHECK_STR(sd.items[i].name, want[i]);
    mm_state_dict_clear(&sd);
}

/* Keys as mmcv's ConvModule names them: ConvModule(3, 8, 3, padding=1,
 * norm_cfg=dict(type='BN')).state_dict() has conv.weight (bias 'auto': no
 * conv bias) and bn.{weight, bias, running_mean, running_var,
 * num_batches_tracked}; with GN: gn.weight, gn.bias; no norm: conv.weight,
 * conv.bias. */
MM_TEST(conv_module_children_and_keys_follow_mmcv) {
    mm_module *m = build("{type: ConvModule, in_channels: 3, out_channels: 8,"
                         " kernel_size: 3, padding: 1, norm_cfg: {type: BN}}");
    if (!m)
        return;
    static const char *const bn_keys[] = {
        "conv.weight",     "bn.weight",      "bn.bias",
        "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"};
    check_keys(m, bn_keys, 6);
    char *r = mm_module_repr(m);
    CHECK_STR(r, "ConvModule(\n"
                 "  (conv): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), "
                 "padding=(1, 1), bias=False)\n"
                 "  (bn): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, "
                 "track_running_stats=True)\n"
                 "  (activate): ReLU(inplace=True)\n"
                 ")");
    free(r);
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(2, 3, 5, 5), MM_F32), *y, *ref;
        mm_module_eval(m);
        CHECK_OK(mm_conv_module_forward(m, x, &y));
        mm_nn_conv_module *c = (mm_nn_conv_module *)m;
        CHECK_OK(mm_conv_forward(c->conv, x, &ref));
        CHECK_OK(mm_norm_forward(c->norm, ref, &ref));
        CHECK_OK(mm_relu(ref, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
    });
    mm_module_free(m);

    m = build("{type: ConvModule, in_channels: 4, out_channels: 8,"
              " kernel_size: 1, norm_cfg: {type: GN, num_groups: 2},"
              " act_cfg: {type: Tanh}}");
    static const char *const gn_keys[] = {"conv.weight", "gn.weight",
                                          "gn.bias"};
    if (m)
        check_keys(m, gn_keys, 3);
    mm_module_free(m);

    m = build("{type: ConvModule, in_channels: 4, out_channels: 8,"
              " kernel_size: 3, act_cfg: null,"
              " conv_cfg: {type: Conv1d}}");
    static const char *const plain_keys[] = {"conv.weight", "conv.bias"};
    if (m) {
        check_keys(m, plain_keys, 2);
        CHECK(((mm_nn_conv_module *)m)->act == NULL);
        CHECK(((mm_nn_conv *)((mm_nn_conv_module *)m)->conv)->nsp == 1);
    }
    mm_module_free(m);

    /* norm before conv normalises the input channels */
    m = build("{type: ConvModule, in_channels: 4, out_channels: 8,"
              " kernel_size: 3, norm_cfg: {type: IN, affine: true},"
              " order: [norm, conv, act], bias: true}");
    if (m) {
        mm_nn_conv_module *c = (mm_nn_conv_module *)m;
        CHECK_STR(c->norm_name, "in");
        CHECK(((mm_nn_norm *)c->norm)->num_features == 4);
        CHECK(((mm_nn_conv *)c->conv)->bias != NULL);
    }
    mm_module_free(m);

    mm_value *cfg = yaml("{in_channels: 2, out_channels: 2, kernel_size: 3,"
                         " norm_cfg: {type: LN, normalized_shape: 1}}");
    CHECK_OK(mm_conv_module_new(cfg, &m));
    if (m)
        CHECK_STR(((mm_nn_conv_module *)m)->norm_name, "ln");
    mm_value_release(cfg);
    mm_module_free(m);
}

/* mmcv's init: kaiming_normal_(fan_out, relu), i.e. std sqrt(2 / fan_out)
 * with fan_out = 64 * 3 * 3; leaky_relu with its slope for a LeakyReLU. */
MM_TEST(conv_module_initialises_as_mmcv) {
    mm_module *m = build("{type: ConvModule, in_channels: 32, out_channels: 64,"
                         " kernel_size: 3, norm_cfg: {type: BN}}");
    if (!m)
        return;
    mm_nn_conv_module *c = (mm_nn_conv_module *)m;
    mm_tensor *w = ((mm_nn_conv *)c->conv)->weight;
    double s2 = 0;
    for (int64_t i = 0; i < w->numel; i++)
        s2 += at(w, i) * at(w, i);
    CHECK_NEAR(s2 / w->numel, 2.0 / 576, 0.05 * 2.0 / 576);
    CHECK(at(((mm_nn_norm *)c->norm)->weight, 3) == 1);
    /* re-initialising the tree keeps mmcv's init: the children's
     * reset_parameters (variance 1 / (3 fan_in) = 1/864) run first */
    CHECK_OK(mm_module_init_weights(m));
    s2 = 0;
    for (int64_t i = 0; i < w->numel; i++)
        s2 += at(w, i) * at(w, i);
    CHECK_NEAR(s2 / w->numel, 2.0 / 576, 0.05 * 2.0 / 576);
    mm_module_free(m);

    m = build("{type: ConvModule, in_channels: 32, out_channels: 64,"
              " kernel_size: 3, act_cfg: {type: LeakyReLU,"
              " negative_slope: 0.2}}");
    CHECK(m != NULL);
    if (!m)
        return;
    c = (mm_nn_conv_module *)m;
    CHECK(c->leaky && c->negative_slope == 0.2);
    w = ((mm_nn_conv *)c->conv)->weight;
    s2 = 0;
    for (int64_t i = 0; i < w->numel; i++)
        s2 += at(w, i) * at(w, i);
    double want = 2.0 / (1 + 0.04) / 576;
    CHECK_NEAR(s2 / w->numel, want, 0.05 * want);
    mm_tensor *b = ((mm_nn_conv *)c->conv)->bias;
    CHECK(b && at(b, 0) == 0 && at(b, 63) == 0);
    mm_module_free(m);
}

MM_TEST(conv_module_errors_name_the_sub_config) {
    CHECK_ERR(build_rc("{type: ConvModule, in_channels: 4, out_channels: 8,"
                       " kernel_size: 3, norm_cfg: {type: GN}}"),
              MM_EINVAL,
              "test.yaml:1:79: model.norm_cfg: mm.GN needs parameter "
              "'num_groups' (groups the channels are split into)");
    CHECK_ERR(build_rc("{type: ConvModule, in_channels: 4, out_channels: 8,"
                       " kernel_size: 3, act_cfg: {type: ReLU, inplce: true}}"),
              MM_EINVAL,
              "test.yaml:1:91: model.act_cfg: mm.ReLU has no parameter "
              "'inplce' (did you mean 'inplace'?)");
    CHECK_ERR(build_rc("{type: ConvModule, in_channels: 4, out_channels: 8,"
                       " kernel_size: 3, order: [conv, act]}"),
              MM_EINVAL,
              "test.yaml:1:76: model (mm.ConvModule): order: expected the "
              "three names conv, norm, act in some order");
    CHECK_ERR(build_rc("{type: ConvModule, in_channels: 4, out_channels: 8,"
                       " kernel_size: 3, norm_cfg: {type: Linear}}"),
              MM_EINVAL,
              "test.yaml:1:86: model (mm.ConvModule): norm_cfg: mm.Linear "
              "takes none of num_features, num_channels, normalized_shape");
}

/* ---- activations ------------------------------------------------------------
 */

typedef int (*unary_fn)(mm_tensor *, mm_tensor **);

static int g_leaky(mm_tensor *x, mm_tensor **o) {
    return mm_leaky_relu(x, 0.2, o);
}
static int g_elu(mm_tensor *x, mm_tensor **o) { return mm_elu(x, 0.5, o); }
static int g_elu1(mm_tensor *x, mm_tensor **o) { return mm_elu(x, 1, o); }
static int g_leaky01(mm_tensor *x, mm_tensor **o) {
    return mm_leaky_relu(x, 0.01, o);
}
static int g_gelu(mm_tensor *x, mm_tensor **o) {
    return mm_gelu(x, MM_GELU_TANH, o);
}
static int g_softplus(mm_tensor *x, mm_tensor **o) {
    return mm_softplus(x, 2, 10, o);
}

/* reprs: torch 1.13's repr of nn.ReLU6(True), nn.ReLU6(), nn.LeakyReLU(0.01,
 * True), nn.ELU(1.0), nn.LeakyReLU(0.2), nn.PReLU(3),
 * nn.ELU(0.5), nn.GELU(approximate='tanh'), nn.SiLU(), nn.Hardswish(),
 * nn.Hardsigmoid(), nn.Mish(), nn.Softplus(2, 10) */
MM_TEST(activations_match_their_ops_and_torch_reprs) {
    static const struct {
        const char *yaml, *repr;
        unary_fn fn;
    } cases[] = {
        {"{type: ReLU6, inplace: true}", "ReLU6(inplace=True)", mm_relu6},
        {"{type: ReLU6}", "ReLU6()", mm_relu6},
        {"{type: LeakyReLU, inplace: true}",
         "LeakyReLU(negative_slope=0.01, inplace=True)", g_leaky01},
        {"{type: ELU, alpha: 1}", "ELU(alpha=1.0)", g_elu1},
        {"{type: LeakyReLU, negative_slope: 0.2}",
         "LeakyReLU(negative_slope=0.2)", g_leaky},
        {"{type: ELU, alpha: 0.5}", "ELU(alpha=0.5)", g_elu},
        {"{type: GELU, approximate: tanh}", "GELU(approximate='tanh')", g_gelu},
        {"{type: SiLU}", "SiLU()", mm_silu},
        {"{type: Swish}", "SiLU()", mm_silu},
        {"{type: Hardswish}", "Hardswish()", mm_hardswish},
        {"{type: HSwish}", "Hardswish()", mm_hardswish},
        {"{type: Hardsigmoid}", "Hardsigmoid()", mm_hardsigmoid},
        {"{type: Mish}", "Mish()", mm_mish},
        {"{type: Softplus, beta: 2, threshold: 10}",
         "Softplus(beta=2, threshold=10)", g_softplus},
    };
    POOLED({
        mm_tensor *x = randn_t(MM_SHAPE(3, 4, 5), MM_F32), *y, *ref;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            mm_module *m = build(cases[i].yaml);
            CHECK(m != NULL);
            if (!m)
                continue;
            char *r = mm_module_repr(m);
            CHECK_STR(r, cases[i].repr);
            free(r);
            CHECK_OK(mm_module_forward1(m, x, &y));
            CHECK_OK(cases[i].fn(x, &ref));
            CHECK(mm_allclose(y, ref, 0, 0, NULL));
            mm_module_free(m);
        }
        /* mmcv's HSigmoid with its defaults is clamp((x + 3) / 6, 0, 1):
         * torch ((linspace(-4, 4, 9) + 3) / 6).clamp(0, 1) */
        mm_module *m = build("{type: HSigmoid}");
        mm_tensor *l;
        CHECK_OK(mm_linspace(-4, 4, 9, MM_F32, &l));
        CHECK_OK(mm_module_forward1(m, l, &y));
        const double want[9] = {0.0,
                                0.0,
                                0.1666666716337204,
                                0.3333333432674408,
                                0.5,
                                0.6666666865348816,
                                0.8333333134651184,
                                1.0,
                                1.0};
        for (int i = 0; i < 9; i++)
            CHECK_NEAR(at(y, i), want[i], 1e-7);
        mm_module_free(m);
        /* PReLU: a parameter 'weight' (num_parameters) = init */
        m = build("{type: PReLU, num_parameters: 4, init: 0.1}");
        char *r = mm_module_repr(m);
        CHECK_STR(r, "PReLU(num_parameters=4)");
        free(r);
        mm_tensor *w = mm_module_get_parameter(m, "weight");
        CHECK(w && w->numel == 4 && fabs(at(w, 3) - 0.1) < 1e-7 &&
              w->requires_grad);
        CHECK_OK(mm_module_forward1(m, x, &y));
        CHECK_OK(mm_prelu(x, w, &ref));
        CHECK(mm_allclose(y, ref, 0, 0, NULL));
        mm_module_free(m);
        CHECK_ERR(build_rc("{type: GELU, approximate: fast}"), MM_EINVAL,
                  "test.yaml:1:1: model (mm.GELU): GELU: approximate 'fast' "
                  "is not 'none' or 'tanh'");
    });
}

/* gradients reach the packed in_proj_weight through its q/k/v slices */
static int g_mha(void *c, mm_tensor *const *in, int n, mm_tensor **out) {
    (void)n;
    mm_tensor *kpm = NULL;
    if (mm_from_data((uint8_t[]){0, 0, 1, 0, 0, 0}, MM_SHAPE(2, 3), MM_BOOL,
                     &kpm) < 0)
        return -1;
    return mm_multihead_attention_forward(c, in[0], in[1], in[1], kpm, NULL,
                                          out);
}

MM_TEST(gradcheck_multihead_attention_in_float64) {
    POOLED({
        mm_module *m = NULL;
        CHECK_OK(mm_multihead_attention_new(4, 2, 0.0, true, 0, 0, false, &m));
        CHECK_OK(mm_module_to_dtype(m, MM_F64));
        mm_nn_mha *a = (mm_nn_mha *)m;
        mm_nn_linear *o = (mm_nn_linear *)a->out_proj;
        CHECK_OK(mm_init_normal_(a->in_proj_bias, 0, 0.5, NULL));
        mm_tensor *in[6] = {leaf(randn_t(MM_SHAPE(2, 2, 4), MM_F64)),
                            leaf(randn_t(MM_SHAPE(3, 2, 4), MM_F64)),
                            a->in_proj_weight,
                            a->in_proj_bias,
                            o->weight,
                            o->bias};
        CHECK_GRAD(g_mha, m, in, 6);
        mm_module_free(m);
    });
}

/* mm_conv_bn_act: in eval under no-grad the batch norm folds into the
 * conv (one fused op); the result equals the modules run one by one, with
 * and without a residual and a conv bias; in training it is the modules. */
MM_TEST(conv_bn_act_fuses_for_inference_and_equals_the_modules) {
    POOLED({
        const int64_t k[2] = {3, 3}, s[2] = {1, 1}, p[2] = {1, 1};
        for (int bias = 0; bias < 2; bias++) {
            mm_conv_options o = {.nsp = 2, .in_channels = 16,
                                 .out_channels = 32, .kernel_size = k,
                                 .stride = s, .padding = p, .groups = 1,
                                 .bias = bias == 1};
            mm_module *conv, *bn;
            CHECK_OK(mm_conv_new(&o, &conv));
            CHECK_OK(mm_batch_norm_new(2, 32, 1e-5, 0.1, true, true, &bn));
            mm_nn_norm *n = (mm_nn_norm *)bn;
            mm_no_grad_push();
            CHECK_OK(mm_tensor_copy_(n->running_mean,
                                     randn_t(MM_SHAPE(32), MM_F32)));
            mm_tensor *v = randn_t(MM_SHAPE(32), MM_F32), *one;
            CHECK_OK(mm_mul(v, v, &v));
            CHECK_OK(mm_add_scalar(v, 0.5, &one));
            CHECK_OK(mm_tensor_copy_(n->running_var, one));
            CHECK_OK(mm_tensor_copy_(n->weight, randn_t(MM_SHAPE(32), MM_F32)));
            CHECK_OK(mm_tensor_copy_(n->bias, randn_t(MM_SHAPE(32), MM_F32)));
            mm_no_grad_pop();
            mm_module_eval(conv);
            mm_module_eval(bn);
            mm_tensor *x = randn_t(MM_SHAPE(2, 16, 20, 20), MM_F32);
            mm_tensor *r = randn_t(MM_SHAPE(2, 32, 20, 20), MM_F32);
            for (int res = 0; res < 2; res++) {
                mm_tensor *want, *got;
                CHECK_OK(mm_conv_forward(conv, x, &want));
                CHECK_OK(mm_norm_forward(bn, want, &want));
                if (res)
                    CHECK_OK(mm_add(want, r, &want));
                CHECK_OK(mm_relu(want, &want));
                mm_no_grad_push();
                CHECK_OK(mm_conv_bn_act(conv, bn, res ? r : NULL,
                                        MM_FUSED_RELU, x, &got));
                mm_no_grad_pop();
                double err;
                CHECK(mm_allclose(got, want, 1e-4, 1e-4, &err));
                /* with grad on, the modules run: the graph is recorded */
                CHECK_OK(mm_conv_bn_act(conv, bn, res ? r : NULL,
                                        MM_FUSED_RELU, x, &got));
                CHECK(got->requires_grad);
                CHECK(mm_allclose(got, want, 1e-6, 1e-6, NULL));
            }
            mm_module_free(conv);
            mm_module_free(bn);
        }
    });
}

/* Under bf16 autocast the conv runs in bf16 and the modules add an f32
 * residual in f32 (bf16 + f32 is f32): mm_conv_bn_act gives the same
 * dtype and values as the modules, fused or not. */
MM_TEST(conv_bn_act_under_autocast_keeps_the_dtype_of_the_modules) {
    POOLED({
        const int64_t k[2] = {3, 3}, s[2] = {1, 1}, p[2] = {1, 1};
        mm_conv_options o = {.nsp = 2, .in_channels = 8, .out_channels = 16,
                             .kernel_size = k, .stride = s, .padding = p,
                             .groups = 1, .bias = false};
        mm_module *conv, *bn;
        CHECK_OK(mm_conv_new(&o, &conv));
        CHECK_OK(mm_batch_norm_new(2, 16, 1e-5, 0.1, true, true, &bn));
        mm_module_eval(conv);
        mm_module_eval(bn);
        mm_tensor *x = randn_t(MM_SHAPE(2, 8, 9, 9), MM_F32);
        mm_tensor *r32 = randn_t(MM_SHAPE(2, 16, 9, 9), MM_F32), *r16;
        CHECK_OK(mm_to_dtype(r32, MM_BF16, &r16));
        mm_no_grad_push();
        CHECK_OK(mm_autocast_push(MM_BF16));
        mm_tensor *rs[2] = {r32, r16};
        for (int i = 0; i < 2; i++) {
            mm_tensor *want, *got, *w32, *g32;
            CHECK_OK(mm_conv_forward(conv, x, &want));
            CHECK_OK(mm_norm_forward(bn, want, &want));
            CHECK_OK(mm_add(want, rs[i], &want));
            CHECK_OK(mm_relu(want, &want));
            CHECK_OK(mm_conv_bn_act(conv, bn, rs[i], MM_FUSED_RELU, x, &got));
            CHECK(got->dtype == want->dtype);
            CHECK(want->dtype == (i == 0 ? MM_F32 : MM_BF16));
            CHECK_OK(mm_to_dtype(got, MM_F32, &g32));
            CHECK_OK(mm_to_dtype(want, MM_F32, &w32));
            CHECK(mm_allclose(g32, w32, 5e-2, 5e-2, NULL));
        }
        mm_autocast_pop();
        mm_no_grad_pop();
        mm_module_free(conv);
        mm_module_free(bn);
    });
}

/* The eval path caches the folded weights (in oneDNN's layout): every
 * change to the conv or batch norm after a forward shows in the next one,
 * whether made by an op (copy_) or by a store into the data; and bf16
 * autocast agrees with f32 within bf16 rounding. */
static mm_tensor *modules_ref(mm_module *conv, mm_module *bn, mm_tensor *x) {
    mm_tensor *y;
    CHECK_OK(mm_conv_forward(conv, x, &y));
    CHECK_OK(mm_norm_forward(bn, y, &y));
    CHECK_OK(mm_relu(y, &y));
    return y;
}

static mm_tensor *fused_run(mm_module *conv, mm_module *bn, mm_tensor *x,
                            bool bf16) {
    mm_tensor *y;
    mm_no_grad_push();
    if (bf16)
        CHECK_OK(mm_autocast_push(MM_BF16));
    CHECK_OK(mm_conv_bn_act(conv, bn, NULL, MM_FUSED_RELU, x, &y));
    if (bf16)
        mm_autocast_pop();
    mm_no_grad_pop();
    CHECK_OK(mm_to_dtype(y, MM_F32, &y));
    return y;
}

MM_TEST(conv_bn_act_cache_follows_weight_changes) {
    POOLED({
        const int64_t k[2] = {3, 3}, s[2] = {1, 1}, p[2] = {1, 1};
        mm_conv_options o = {.nsp = 2, .in_channels = 16, .out_channels = 32,
                             .kernel_size = k, .stride = s, .padding = p,
                             .groups = 1, .bias = false};
        mm_module *conv, *bn;
        CHECK_OK(mm_conv_new(&o, &conv));
        CHECK_OK(mm_batch_norm_new(2, 32, 1e-5, 0.1, true, true, &bn));
        mm_module_eval(conv);
        mm_module_eval(bn);
        mm_nn_conv *c = (mm_nn_conv *)conv;
        mm_nn_norm *n = (mm_nn_norm *)bn;
        mm_tensor *x = randn_t(MM_SHAPE(2, 16, 20, 20), MM_F32);
        for (int step = 0; step < 4; step++) {
            mm_no_grad_push();
            if (step == 1) /* an op writes the weight */
                CHECK_OK(mm_tensor_copy_(
                    c->weight, randn_t(c->weight->ndim, c->weight->shape,
                                       MM_F32)));
            if (step == 2) /* a store into the data, no op involved */
                MM_DATA(n->running_var, float)[5] = 9.0f;
            if (step == 3)
                CHECK_OK(mm_tensor_copy_(n->bias,
                                         randn_t(MM_SHAPE(32), MM_F32)));
            mm_no_grad_pop();
            mm_tensor *want = modules_ref(conv, bn, x);
            double err;
            /* twice: the second call runs from the cache */
            for (int again = 0; again < 2; again++) {
                CHECK(mm_allclose(fused_run(conv, bn, x, false), want, 1e-4,
                                  1e-4, &err));
                /* outputs reach ~10 once the weights are randn: bf16's
                 * 8-bit mantissa over 144-term sums */
                CHECK(mm_allclose(fused_run(conv, bn, x, true), want, 5e-2,
                                  0.5, &err));
            }
        }
        mm_module_free(conv);
        mm_module_free(bn);
    });
}

MM_TEST_MAIN(MM_CASE(reprs_match_torch),
             MM_CASE(conv_bn_act_fuses_for_inference_and_equals_the_modules),
             MM_CASE(conv_bn_act_under_autocast_keeps_the_dtype_of_the_modules),
             MM_CASE(conv_bn_act_cache_follows_weight_changes),
             MM_CASE(resnet_style_state_dict_keys_match_torch),
             MM_CASE(conv_forward_matches_the_op_and_init_bounds),
             MM_CASE(conv_arguments_are_checked),
             MM_CASE(batch_norm_running_stats_match_torch),
             MM_CASE(norms_match_their_ops), MM_CASE(pools_match_their_ops),
             MM_CASE(gradcheck_conv_batch_norm_relu_in_float64),
             MM_CASE(multihead_attention_matches_torch),
             MM_CASE(gradcheck_multihead_attention_in_float64),
             MM_CASE(conv_reflect_padding_matches_torch),
             MM_CASE(embedding_looks_up_rows_and_keeps_the_padding_row_zero),
             MM_CASE(conv_module_children_and_keys_follow_mmcv),
             MM_CASE(conv_module_initialises_as_mmcv),
             MM_CASE(conv_module_errors_name_the_sub_config),
             MM_CASE(activations_match_their_ops_and_torch_reprs))
