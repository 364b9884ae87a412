/* models/zoo_cnn.c — the image CNNs Checkmate (Jain et al. 2020) evaluated, so the
 * solvers have real DAGs with skip connections: `vgg16` and `resnet50` in
 * torchvision's layout and module names (features.N / classifier.N; conv1, bn1,
 * layer1.0.conv1, layer1.0.downsample.0, fc), and a `unet` (Ronneberger et al.
 * 2015, with batchnorm and same-padding as in common PyTorch ports). Where the op
 * set cannot express torchvision exactly the builder says so here and in
 * docs/model-format.md (zoo notes):
 *  - vgg16 has no AdaptiveAvgPool2d((7,7)): at 224 it is the identity; at other
 *    sizes classifier.0 takes 512*(image/32)^2 inputs.
 *  - resnet50's stem maxpool (3x3, stride 2, padding 1) is a 2x2 stride-2 maxpool,
 *    which gives the same output size (the maxpool op has no padding).
 *  - unet's up path is nearest upsampling + 3x3 conv (for a transposed conv), and
 *    the loss reads the [B,classes,H,W] logits by rows of the last dimension, the
 *    loss op's convention (there is no transpose op). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "models/zoo_internal.h"

/* Common CNN prologue: keys, sizes, the image input and the targets. */
static int cnn_begin(zoo_ctx *z, const model_spec *spec, int64_t multiple, int64_t in_channels,
                     int *images)
{
    graph *g = z->g;
    g->seq = 1;
    if (g->image % multiple || g->image < multiple)
        return z->rc = remat_fail(z->err, -EINVAL, "%s: image size %lld must be a positive "
                                  "multiple of %lld", spec->name, (long long)g->image,
                                  (long long)multiple);
    *images = zt(z, "images", ROLE_INPUT, g->dtype, 4, g->batch, in_channels, g->image, g->image);
    return z->rc;
}

/* ---------------------------------------------------------------- vgg16 */

int zoo_build_vgg16(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"classes", NULL};
    static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0,
                              512, 512, 512, 0, 512, 512, 512, 0}; /* 0: maxpool */
    (void)preset;
    zoo_check_keys(z, spec, spec->name, keys);
    int64_t classes = zoo_int(z, spec, "classes", 1000, 2, INT64_C(1) << 24);
    zoo_common(z, spec, 1, 224);
    int x;
    if (z->rc || cnn_begin(z, spec, 32, 3, &x))
        return z->rc;
    int targets = zt(z, "targets", ROLE_INPUT, DT_I32, 1, z->g->batch);
    int idx = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        if (cfg[i] == 0) {
            x = zl_maxpool(z, zname("features.%d", idx), x, 2, 2);
            idx++;
        } else {
            x = zl_conv(z, zname("features.%d", idx), x, cfg[i], 3, 1, 1, true);
            x = zl_unary(z, OP_RELU, zname("features.%d", idx + 1), NULL, x);
            idx += 2;
        }
    }
    double p = z->g->dropout;
    x = zl_flatten_linear(z, "classifier.0", x, 4096);
    x = zl_unary(z, OP_RELU, "classifier.1", NULL, x);
    x = zl_dropout(z, "classifier.2", x, p);
    x = zl_linear(z, "classifier.3", NULL, x, 4096, true, -1);
    x = zl_unary(z, OP_RELU, "classifier.4", NULL, x);
    x = zl_dropout(z, "classifier.5", x, p);
    x = zl_linear(z, "classifier.6", NULL, x, classes, true, -1);
    zl_loss(z, x, targets);
    return zl_finish(z);
}

/* ---------------------------------------------------------------- resnet50 */

/* conv (no bias) + batchnorm (+ relu when relu_name): torchvision's unit. */
static int conv_bn(zoo_ctx *z, const char *conv, const char *bn, const char *relu_name,
                   const char *relu_module, int x, int64_t cout, int64_t k, int64_t stride,
                   int64_t pad)
{
    x = zl_conv(z, conv, x, cout, k, stride, pad, false);
    x = zl_batchnorm(z, bn, x);
    if (relu_name)
        x = zl_unary(z, OP_RELU, relu_name, relu_module, x);
    return x;
}

int zoo_build_resnet50(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"classes", NULL};
    static const int blocks[4] = {3, 4, 6, 3};
    (void)preset;
    zoo_check_keys(z, spec, spec->name, keys);
    int64_t classes = zoo_int(z, spec, "classes", 1000, 2, INT64_C(1) << 24);
    zoo_common(z, spec, 1, 224);
    int x;
    if (z->rc || cnn_begin(z, spec, 32, 3, &x))
        return z->rc;
    int targets = zt(z, "targets", ROLE_INPUT, DT_I32, 1, z->g->batch);
    x = conv_bn(z, "conv1", "bn1", "relu", NULL, x, 64, 7, 2, 3);
    x = zl_maxpool(z, "maxpool", x, 2, 2);
    for (int layer = 0; layer < 4 && !z->rc; layer++) {
        int64_t width = INT64_C(64) << layer, out_c = 4 * width;
        for (int b = 0; b < blocks[layer] && !z->rc; b++) {
            int64_t stride = (b == 0 && layer > 0) ? 2 : 1;
            char blk[32], n1[48], n2[48], rm[48], rn[48];
            snprintf(blk, sizeof blk, "layer%d.%d", layer + 1, b);
            snprintf(rm, sizeof rm, "%s.relu", blk);
            int identity = x;
            snprintf(n1, sizeof n1, "%s.conv1", blk);
            snprintf(n2, sizeof n2, "%s.bn1", blk);
            snprintf(rn, sizeof rn, "%s.relu1", blk);
            int y = conv_bn(z, n1, n2, rn, rm, x, width, 1, 1, 0);
            snprintf(n1, sizeof n1, "%s.conv2", blk);
            snprintf(n2, sizeof n2, "%s.bn2", blk);
            snprintf(rn, sizeof rn, "%s.relu2", blk);
            y = conv_bn(z, n1, n2, rn, rm, y, width, 3, stride, 1);
            snprintf(n1, sizeof n1, "%s.conv3", blk);
            snprintf(n2, sizeof n2, "%s.bn3", blk);
            y = conv_bn(z, n1, n2, NULL, NULL, y, out_c, 1, 1, 0);
            if (b == 0) {
                snprintf(n1, sizeof n1, "%s.downsample.0", blk);
                snprintf(n2, sizeof n2, "%s.downsample.1", blk);
                identity = conv_bn(z, n1, n2, NULL, NULL, x, out_c, 1, stride, 0);
            }
            snprintf(n1, sizeof n1, "%s.add", blk);
            y = zl_binary(z, OP_ADD, n1, blk, y, identity);
            snprintf(rn, sizeof rn, "%s.relu3", blk);
            x = zl_unary(z, OP_RELU, rn, rm, y);
        }
    }
    int pooled = z->rc ? -1 : zt(z, "avgpool.out", ROLE_ACT, z->g->dtype, 2, z->g->batch,
                                 (int64_t)2048);
    zop(z, &(zoo_op){.kind = OP_AVGPOOL, .name = "avgpool", .in = ZL(x), .out = pooled});
    x = zl_linear(z, "fc", NULL, pooled, classes, true, -1);
    zl_loss(z, x, targets);
    return zl_finish(z);
}

/* ---------------------------------------------------------------- unet */

/* (conv3x3 no bias => BN => ReLU) * 2 as prefix.conv.0 .. prefix.conv.5 */
static int double_conv(zoo_ctx *z, const char *prefix, int x, int64_t cout)
{
    char c[64], b[64], r[64];
    for (int i = 0; i < 2; i++) {
        snprintf(c, sizeof c, "%s.conv.%d", prefix, 3 * i);
        snprintf(b, sizeof b, "%s.conv.%d", prefix, 3 * i + 1);
        snprintf(r, sizeof r, "%s.conv.%d", prefix, 3 * i + 2);
        x = conv_bn(z, c, b, r, NULL, x, cout, 3, 1, 1);
    }
    return x;
}

int zoo_build_unet(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"depth", "base", "in_channels", "classes", NULL};
    (void)preset;
    zoo_check_keys(z, spec, spec->name, keys);
    int64_t depth = zoo_int(z, spec, "depth", 4, 1, 8);
    int64_t base = zoo_int(z, spec, "base", 64, 1, 4096);
    int64_t in_ch = zoo_int(z, spec, "in_channels", 3, 1, 4096);
    int64_t classes = zoo_int(z, spec, "classes", 2, 2, 4096);
    zoo_common(z, spec, 1, 224);
    int x;
    if (z->rc || cnn_begin(z, spec, INT64_C(1) << depth, in_ch, &x))
        return z->rc;
    graph *g = z->g;
    int skips[9];
    x = double_conv(z, "inc", x, base);
    for (int64_t d = 1; d <= depth; d++) {
        skips[d - 1] = x;
        char m[16], n[32];
        snprintf(m, sizeof m, "down%lld", (long long)d);
        snprintf(n, sizeof n, "%s.pool", m);
        x = zl_maxpool(z, n, x, 2, 2);
        x = double_conv(z, m, x, base << d);
    }
    for (int64_t u = 1; u <= depth; u++) {
        int64_t c = base << (depth - u); /* channels after this up block */
        char m[16], n[32];
        snprintf(m, sizeof m, "up%lld", (long long)u);
        snprintf(n, sizeof n, "%s.up", m);
        if (z->rc)
            break;
        int64_t xc = g->tensors[x].shape[1], xh = g->tensors[x].shape[2];
        int up = zt(z, zname("%s.out", n), ROLE_ACT, g->dtype, 4, g->batch, xc, 2 * xh, 2 * xh);
        zop(z, &(zoo_op){.kind = OP_UPSAMPLE, .name = n, .in = ZL(x), .out = up});
        snprintf(n, sizeof n, "%s.up_conv", m);
        up = zl_conv(z, n, up, c, 3, 1, 1, true);
        snprintf(n, sizeof n, "%s.concat", m);
        int skip = skips[depth - u];
        int cat = z->rc ? -1 : zt(z, zname("%s.out", n), ROLE_ACT, g->dtype, 4, g->batch, 2 * c,
                                  g->tensors[skip].shape[2], g->tensors[skip].shape[3]);
        zop(z, &(zoo_op){.kind = OP_CONCAT, .name = n, .in = ZL(skip, up), .out = cat});
        x = double_conv(z, m, cat, c);
    }
    x = zl_conv(z, "outc", x, classes, 1, 1, 0, true);
    int targets = z->rc ? -1 : zt(z, "targets", ROLE_INPUT, DT_I32, 3, g->batch, classes,
                                  g->image);
    zl_loss(z, x, targets);
    return zl_finish(z);
}
