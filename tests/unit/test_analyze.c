/* test_analyze.c: output shapes, params and MACs. Every expected shape
 * and parameter count below was computed with PyTorch 1.13 (the module
 * named in the comment applied to torch.zeros(1, C, H, W); params are
 * sum(p.numel() for p in m.parameters())); 'same' padding was checked by
 * padding by hand with F.pad(lo, hi) and applying the unpadded module.
 * MACs are language.md's formulas worked by hand in the comment. */
#include "testutil.h"

static void assert_contains(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, text ? text : "(null)");
}

static Compiled *compile_ok(const char *src)
{
    Compiled *c = tu_compile(src);
    if (c->errors)
        fail_msg("unexpected errors:\n%s", c->messages);
    return c;
}

static void assert_shape(const Layer *l, int64_t ch, int64_t h, int64_t w)
{
    if (l->shape.c != ch || l->shape.h != h || l->shape.w != w)
        fail_msg("'%s' is %lldx%lldx%lld, expected %lldx%lldx%lld", l->name, (long long)l->shape.c,
                 (long long)l->shape.h, (long long)l->shape.w, (long long)ch, (long long)h, (long long)w);
}

/* A one-layer model: input of the given shape, then `line` (named l). */
static Compiled *one_layer(const char *input, const char *line)
{
    char src[512];
    snprintf(src, sizeof src, "network n\ninput x %s\n%s\n", input, line);
    return compile_ok(src);
}

/* Shape, params and MACs of the layer named l in a one-layer model. */
static void check_layer(const char *input, const char *line, int64_t ch, int64_t h, int64_t w, int64_t params,
                        int64_t macs)
{
    Compiled *c = one_layer(input, line);
    Layer *l = tu_layer(c, "l");
    assert_shape(l, ch, h, w);
    assert_int_equal(l->params, params);
    assert_int_equal(l->macs, macs);
    tu_free(c);
}

static void test_analyze_conv_basic(void **state)
{
    (void)state;
    /* nn.Conv2d(3,8,3) on 3x32x32: 8x30x30, 224 params;
     * MACs 8*30*30 * 3*3*3 = 194,400 */
    check_layer("3x32x32", "conv2d l out=8 kernel=3", 8, 30, 30, 224, 194400);
}

static void test_analyze_conv_stride_padding(void **state)
{
    (void)state;
    /* nn.Conv2d(3,16,3,2,1) on 3x32x32: 16x16x16, 448 params;
     * MACs 16*16*16 * 27 = 110,592 */
    check_layer("3x32x32", "conv2d l out=16 kernel=3 stride=2 padding=1", 16, 16, 16, 448, 110592);
}

static void test_analyze_conv_rect_everything(void **state)
{
    (void)state;
    /* nn.Conv2d(2,4,(3,5),(2,1),(1,2),(2,1)) on 2x20x17: 4x9x17, 124 params;
     * MACs 4*9*17 * 2*3*5 = 18,360 */
    check_layer("2x20x17", "conv2d l out=4 kernel=3x5 stride=2x1 padding=1x2 dilation=2x1", 4, 9, 17, 124, 18360);
}

static void test_analyze_conv_asymmetric_padding(void **state)
{
    (void)state;
    /* F.pad(x, (0,3,1,2)) (left,right,top,bottom), then nn.Conv2d(1,2,3) on
     * 1x10x10: 2x11x11, 20 params; MACs 2*11*11 * 9 = 2,178 */
    check_layer("1x10x10", "conv2d l out=2 kernel=3 padding=1,2,0,3", 2, 11, 11, 20, 2178);
}

static void test_analyze_conv_groups(void **state)
{
    (void)state;
    /* nn.Conv2d(8,16,3,groups=4) on 8x9x9: 16x7x7, 304 params;
     * MACs 16*7*7 * (8/4)*9 = 14,112 */
    check_layer("8x9x9", "conv2d l out=16 kernel=3 groups=4", 16, 7, 7, 304, 14112);
}

static void test_analyze_conv_depthwise(void **state)
{
    (void)state;
    /* nn.Conv2d(8,16,3,padding=1,groups=8) on 8x9x9: 16x9x9, 160 params;
     * MACs 16*9*9 * 1*9 = 11,664 */
    check_layer("8x9x9", "conv2d l out=16 kernel=3 padding=1 groups=8", 16, 9, 9, 160, 11664);
}

static void test_analyze_conv_without_bias(void **state)
{
    (void)state;
    /* nn.Conv2d(3,8,3,bias=False) on 3x32x32: 8x30x30, 216 params; MACs as with bias */
    check_layer("3x32x32", "conv2d l out=8 kernel=3 bias=false", 8, 30, 30, 216, 194400);
}

static void test_analyze_conv_dilation(void **state)
{
    (void)state;
    /* nn.Conv2d(1,1,3,dilation=3) on 1x16x16: 1x10x10, 10 params; MACs 100*9 = 900 */
    check_layer("1x16x16", "conv2d l out=1 kernel=3 dilation=3", 1, 10, 10, 10, 900);
}

static void test_analyze_conv_stride_larger_than_kernel(void **state)
{
    (void)state;
    /* nn.Conv2d(1,1,2,3) on 1x10x10: 1x3x3, 5 params; MACs 9*4 = 36 */
    check_layer("1x10x10", "conv2d l out=1 kernel=2 stride=3", 1, 3, 3, 5, 36);
}

static void test_analyze_conv_kernel_whole_input(void **state)
{
    (void)state;
    /* nn.Conv2d(3,4,(5,7)) on 3x5x7: 4x1x1, 424 params; MACs 4 * 3*5*7 = 420 */
    check_layer("3x5x7", "conv2d l out=4 kernel=5x7", 4, 1, 1, 424, 420);
}

static void test_analyze_conv_padding_valid(void **state)
{
    (void)state;
    /* nn.Conv2d(1,1,3,padding='valid') on 1x8x8: 1x6x6 */
    Compiled *c = one_layer("1x8x8", "conv2d l out=1 kernel=3 padding=valid");
    Layer *l = tu_layer(c, "l");
    assert_shape(l, 1, 6, 6);
    for (int i = 0; i < 4; i++)
        assert_int_equal(l->pad[i], 0);
    tu_free(c);
}

/* Checks the resolved 'same' padding: top, bottom, left, right. */
static void assert_pad(const Layer *l, int64_t t, int64_t b, int64_t lft, int64_t r)
{
    assert_int_equal(l->pad[0], t);
    assert_int_equal(l->pad[1], b);
    assert_int_equal(l->pad[2], lft);
    assert_int_equal(l->pad[3], r);
}

static void test_analyze_same_stride1(void **state)
{
    (void)state;
    /* nn.Conv2d(5,2,3,padding='same') on 5x7x9: 2x7x9, 92 params;
     * total padding (7-1)*1 + 3 - 7 = 2: 1 and 1 */
    Compiled *c = one_layer("5x7x9", "conv2d l out=2 kernel=3 padding=same");
    Layer *l = tu_layer(c, "l");
    assert_shape(l, 2, 7, 9);
    assert_int_equal(l->params, 92);
    assert_pad(l, 1, 1, 1, 1);
    tu_free(c);
}

static void test_analyze_same_even_kernel(void **state)
{
    (void)state;
    /* nn.Conv2d(1,1,4,padding='same') on 1x8x8 gives 1x8x8 and equals
     * F.pad(x,(1,2,1,2)) then the unpadded conv: total 3, the extra 1 at
     * bottom/right */
    Compiled *c = one_layer("1x8x8", "conv2d l out=1 kernel=4 padding=same");
    Layer *l = tu_layer(c, "l");
    assert_shape(l, 1, 8, 8);
    assert_pad(l, 1, 2, 1, 2);
    tu_free(c);
}

static void test_analyze_same_stride2(void **state)
{
    (void)state;
    /* TF 'same', stride 2, kernel 3 on 7x8: out ceil(7/2)=4, ceil(8/2)=4;
     * H total max(3*2+3-7,0) = 2 -> 1,1; W total 3*2+3-8 = 1 -> 0,1.
     * Checked: F.pad(x,(0,1,1,1)), nn.Conv2d(1,1,3,2) gives 1x4x4. */
    Compiled *c = one_layer("1x7x8", "conv2d l out=1 kernel=3 stride=2 padding=same");
    Layer *l = tu_layer(c, "l");
    assert_shape(l, 1, 4, 4);
    assert_pad(l, 1, 1, 0, 1);
    tu_free(c);
}

static void test_analyze_same_stride3_dilated(void **state)
{
    (void)state;
    /* kernel 3 dilation 2 (k_eff 5), stride 3 on 10: out ceil(10/3) = 4,
     * total 3*3+5-10 = 4 -> 2,2. F.pad(x,(2,2,2,2)), nn.Conv2d(1,1,3,3,
     * dilation=2) gives 1x4x4. */
    Compiled *c = one_layer("1x10x10", "conv2d l out=1 kernel=3 stride=3 dilation=2 padding=same");
    Layer *l = tu_layer(c, "l");
    assert_shape(l, 1, 4, 4);
    assert_pad(l, 2, 2, 2, 2);
    tu_free(c);
}

static void test_analyze_same_needs_no_padding(void **state)
{
    (void)state;
    /* kernel 2 stride 4 on 8: out 2, total max(1*4+2-8, 0) = 0;
     * nn.Conv2d(1,1,2,4) on 1x8x8 gives 1x2x2 */
    Compiled *c = one_layer("1x8x8", "conv2d l out=1 kernel=2 stride=4 padding=same");
    Layer *l = tu_layer(c, "l");
    assert_shape(l, 1, 2, 2);
    assert_pad(l, 0, 0, 0, 0);
    tu_free(c);
}

static void test_analyze_same_per_axis(void **state)
{
    (void)state;
    /* HxW stride 1x2, kernel 3x2 on 5x9: H out 5, total 2 -> 1,1;
     * W out ceil(9/2)=5, total 4*2+2-9 = 1 -> 0,1. F.pad(x,(0,1,1,1)),
     * nn.MaxPool2d((3,2),(1,2)) gives 1x5x5. */
    Compiled *c = one_layer("1x5x9", "maxpool2d l kernel=3x2 stride=1x2 padding=same");
    Layer *l = tu_layer(c, "l");
    assert_shape(l, 1, 5, 5);
    assert_pad(l, 1, 1, 0, 1);
    tu_free(c);
}

static void test_analyze_maxpool_default_stride(void **state)
{
    (void)state;
    /* nn.MaxPool2d(2) on 6x28x28: 6x14x14; pools have no params or MACs */
    check_layer("6x28x28", "maxpool2d l kernel=2", 6, 14, 14, 0, 0);
    /* nn.MaxPool2d((2,3)) on 2x8x9: 2x4x3 */
    check_layer("2x8x9", "maxpool2d l kernel=2x3", 2, 4, 3, 0, 0);
    /* nn.MaxPool2d((3,2),(1,2)) on 2x8x9: 2x6x4 */
    check_layer("2x8x9", "maxpool2d l kernel=3x2 stride=1x2", 2, 6, 4, 0, 0);
}

static void test_analyze_pool_ceil_mode(void **state)
{
    (void)state;
    /* nn.MaxPool2d(3,2) on 1x6x6: 1x2x2; with ceil_mode=True: 1x3x3 */
    check_layer("1x6x6", "maxpool2d l kernel=3 stride=2", 1, 2, 2, 0, 0);
    check_layer("1x6x6", "maxpool2d l kernel=3 stride=2 ceil_mode=true", 1, 3, 3, 0, 0);
    /* nn.MaxPool2d(3,2,1,ceil_mode=True) on 1x10x10: 1x6x6 */
    check_layer("1x10x10", "maxpool2d l kernel=3 stride=2 padding=1 ceil_mode=true", 1, 6, 6, 0, 0);
    /* nn.AvgPool2d(3,3,ceil_mode=True) on 1x10x10: 1x4x4 */
    check_layer("1x10x10", "avgpool2d l kernel=3 ceil_mode=true", 1, 4, 4, 0, 0);
    /* nn.MaxPool2d(2,ceil_mode=True) on 3x5x5: 3x3x3 (min and sum pools
     * follow the same size rule as max and avg) */
    check_layer("3x5x5", "minpool2d l kernel=2 ceil_mode=true", 3, 3, 3, 0, 0);
}

static void test_analyze_pool_ceil_mode_drops_window_in_padding(void **state)
{
    (void)state;
    /* nn.MaxPool2d(2,2,1,ceil_mode=True) on 1x5x5: 1x3x3. ceil((5+2-2)/2)+1
     * would be 4, but that window would start in the right padding
     * ((4-1)*2 = 6 >= 5+1), and PyTorch drops it. */
    check_layer("1x5x5", "maxpool2d l kernel=2 padding=1 ceil_mode=true", 1, 3, 3, 0, 0);
    /* nn.AvgPool2d(3,2,1,ceil_mode=True,count_include_pad=False) on 1x8x8: 1x5x5 */
    check_layer("1x8x8", "avgpool2d l kernel=3 stride=2 padding=1 ceil_mode=true count_include_pad=false", 1, 5, 5, 0,
                0);
}

static void test_analyze_pool_ceil_mode_window_larger_than_input(void **state)
{
    (void)state;
    /* F.avg_pool2d(x, 2, 2, ceil_mode=True) of a 1x2 input is 1x1: under
     * ceil_mode a window that overhangs a short input by less than a
     * stride still counts (PyTorch: floor((1-2+1)/2)+1 = 1) */
    check_layer("2x1x2", "avgpool2d l kernel=2 ceil_mode=true", 2, 1, 1, 0, 0);
    check_layer("2x1x2", "maxpool2d l kernel=2 ceil_mode=true", 2, 1, 1, 0, 0);
    /* kernel 3 stride 3 on 1x1: one window; kernel 3 stride 2 on 1x1 and
     * kernel 2 stride 1 on 1x1 have none, and PyTorch rejects them too */
    check_layer("1x1x1", "avgpool2d l kernel=3 ceil_mode=true", 1, 1, 1, 0, 0);
    Compiled *c = tu_compile("network n\ninput x 1x1x1\navgpool2d l kernel=3 stride=2 ceil_mode=true\n");
    assert_int_equal(c->errors, 1);
    assert_contains(c->messages, "kernel 3x3 does not fit");
    tu_free(c);
    c = tu_compile("network n\ninput x 1x1x1\nmaxpool2d l kernel=2 stride=1 ceil_mode=true\n");
    assert_int_equal(c->errors, 1);
    tu_free(c);
    /* without ceil_mode it is still an error */
    c = tu_compile("network n\ninput x 2x1x2\navgpool2d l kernel=2\n");
    assert_int_equal(c->errors, 1);
    assert_contains(c->messages, "kernel 2x2 does not fit the 2x1x2 input");
    tu_free(c);
}

static void test_analyze_pool_dilation(void **state)
{
    (void)state;
    /* nn.MaxPool2d(3,1,dilation=2) on 1x9x9: 1x5x5 */
    check_layer("1x9x9", "maxpool2d l kernel=3 stride=1 dilation=2", 1, 5, 5, 0, 0);
    /* nn.MaxPool2d(3,2,1,dilation=2) on 1x9x9: 1x4x4 */
    check_layer("1x9x9", "maxpool2d l kernel=3 stride=2 padding=1 dilation=2", 1, 4, 4, 0, 0);
}

static void test_analyze_sumpool_and_avgpool(void **state)
{
    (void)state;
    /* nn.AvgPool2d(2) on 3x5x5: 3x2x2 (sumpool has avgpool's sizes) */
    check_layer("3x5x5", "sumpool2d l kernel=2", 3, 2, 2, 0, 0);
    check_layer("3x5x5", "avgpool2d l kernel=2", 3, 2, 2, 0, 0);
    /* F.pad(x,(1,1,1,1)), nn.MaxPool2d(3,2) on 1x7x7: 1x4x4 (Keras same) */
    check_layer("1x7x7", "sumpool2d l kernel=3 stride=2 padding=same", 1, 4, 4, 0, 0);
}

static void test_analyze_global_pools(void **state)
{
    (void)state;
    /* nn.AdaptiveAvgPool2d(1) on 7x5x3: 7x1x1 */
    check_layer("7x5x3", "globalavgpool2d l", 7, 1, 1, 0, 0);
    check_layer("7x5x3", "globalmaxpool2d l", 7, 1, 1, 0, 0);
}

static void test_analyze_flatten_and_linear(void **state)
{
    (void)state;
    /* nn.Flatten() on 16x5x5: 400; nn.Linear(400,120): 48,120 params,
     * MACs 400*120 = 48,000; without bias 48,000 params */
    Compiled *c = compile_ok("network n\ninput x 16x5x5\nflatten f\nlinear l out=120\nlinear m out=7 bias=false\n");
    assert_shape(tu_layer(c, "f"), 400, 1, 1);
    assert_int_equal(tu_layer(c, "f")->params, 0);
    Layer *l = tu_layer(c, "l");
    assert_shape(l, 120, 1, 1);
    assert_int_equal(l->params, 48120);
    assert_int_equal(l->macs, 48000);
    assert_int_equal(tu_layer(c, "m")->params, 840);
    assert_int_equal(tu_layer(c, "m")->macs, 840);
    tu_free(c);
}

static void test_analyze_linear_after_global_pool(void **state)
{
    (void)state;
    /* global pooling gives Nx1x1, which linear takes as it is */
    Compiled *c = compile_ok("network n\ninput x 32x7x7\nglobalavgpool2d g\nlinear l out=10\n");
    assert_shape(tu_layer(c, "l"), 10, 1, 1);
    assert_int_equal(tu_layer(c, "l")->params, 330); /* nn.Linear(32,10) */
    tu_free(c);
}

static void test_analyze_batchnorm(void **state)
{
    (void)state;
    /* nn.BatchNorm2d(6): 12 params (weight, bias), running stats are buffers; no MACs */
    check_layer("6x4x4", "batchnorm2d l", 6, 4, 4, 12, 0);
}

static void test_analyze_elementwise_ops_keep_shape(void **state)
{
    (void)state;
    const char *ops[] = {"relu", "relu6", "sigmoid", "tanh", "hardswish", "leakyrelu", "softmax", "dropout"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "%s l", ops[i]);
        check_layer("3x5x7", line, 3, 5, 7, 0, 0);
    }
}

static void test_analyze_add_and_concat(void **state)
{
    (void)state;
    /* torch.cat of 4+6+2 channels; add keeps the shape */
    const char src[] = "network n\ninput x 3x8x8\n"
                       "conv2d a out=4 kernel=3 padding=1 from=x\n"
                       "conv2d b out=6 kernel=1 from=x\n"
                       "conv2d c out=2 kernel=3 padding=1 from=x\n"
                       "concat cat from=a,b,c\n"
                       "conv2d d out=12 kernel=1 from=x\n"
                       "add sum from=cat,d\n";
    Compiled *c = compile_ok(src);
    assert_shape(tu_layer(c, "cat"), 12, 8, 8);
    assert_shape(tu_layer(c, "sum"), 12, 8, 8);
    assert_int_equal(tu_layer(c, "cat")->params, 0);
    assert_int_equal(tu_layer(c, "sum")->macs, 0);
    tu_free(c);
}

static void test_analyze_totals_are_sums(void **state)
{
    (void)state;
    /* the lenet5 of language.md: params 156 + 2,416 + 48,120 + 10,164 + 850
     * = 61,706; MACs 117,600 + 240,000 + 48,000 + 10,080 + 840 = 416,520 (c1:
     * 6*28*28*25, c3: 16*10*10*6*25, then in*out); weights 4 bytes each */
    size_t n;
    char *src = tu_read_file("models/lenet5.net", &n);
    Compiled *c = compile_ok(src);
    const struct {
        const char *name;
        int64_t params, macs;
    } want[] = {{"c1", 156, 117600}, {"c3", 2416, 240000}, {"f5", 48120, 48000}, {"f6", 10164, 10080},
                {"f7", 850, 840}};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(tu_layer(c, want[i].name)->params, want[i].params);
        assert_int_equal(tu_layer(c, want[i].name)->macs, want[i].macs);
    }
    assert_int_equal(c->net->params, 61706);
    assert_int_equal(c->net->macs, 416520);
    assert_int_equal(c->net->weight_bytes, 61706 * 4);
    assert_shape(tu_layer(c, "s2"), 6, 14, 14);
    assert_shape(tu_layer(c, "s4"), 16, 5, 5);
    assert_shape(tu_layer(c, "flatten_1"), 400, 1, 1);
    tu_free(c);
    free(src);
}

static void test_analyze_batchnorm_folds_into_conv(void **state)
{
    (void)state;
    /* conv with bias + bn: params count both (PyTorch: 3*3*3*4+4 = 112, bn 8),
     * but the generated code stores only the folded conv: 112 floats */
    Compiled *c = compile_ok("network n\ninput x 3x6x6\nconv2d a out=4 kernel=3\nbatchnorm2d bn\nrelu\n");
    Layer *bn = tu_layer(c, "bn");
    assert_ptr_equal(bn->fold_into, tu_layer(c, "a"));
    assert_int_equal(bn->params, 8);
    assert_int_equal(bn->weight_floats, 0);
    assert_int_equal(c->net->params, 120);
    assert_int_equal(c->net->weight_bytes, 112 * 4);
    tu_free(c);
    /* a conv without bias gains one when a batchnorm folds into it */
    c = compile_ok("network n\ninput x 3x6x6\nconv2d a out=4 kernel=3 bias=false\nbatchnorm2d bn\n");
    assert_int_equal(c->net->params, 108 + 8);
    assert_int_equal(tu_layer(c, "bn")->weight_floats, 4);
    assert_int_equal(c->net->weight_bytes, (108 + 4) * 4);
    tu_free(c);
}

static void test_analyze_batchnorm_not_folded(void **state)
{
    (void)state;
    /* after a pool, or after a conv whose output is also read elsewhere or
     * returned, the batchnorm stays: scale and shift per channel */
    Compiled *c = compile_ok("network n\ninput x 3x6x6\nmaxpool2d p kernel=2\nbatchnorm2d bn\n");
    assert_null(tu_layer(c, "bn")->fold_into);
    assert_int_equal(tu_layer(c, "bn")->weight_floats, 6);
    tu_free(c);
    c = compile_ok("network n\ninput x 3x6x6\nconv2d a out=3 kernel=1\nbatchnorm2d bn\nadd s from=a,bn\n");
    assert_null(tu_layer(c, "bn")->fold_into);
    tu_free(c);
    c = compile_ok("network n\ninput x 3x6x6\nconv2d a out=3 kernel=1\nbatchnorm2d bn\noutput a bn\n");
    assert_null(tu_layer(c, "bn")->fold_into);
    tu_free(c);
}

static void test_analyze_error_stops_downstream_only(void **state)
{
    (void)state;
    /* a layer that fails leaves its consumers unanalysed (no cascade of
     * errors), while an independent branch is still analysed */
    Compiled *c = tu_compile("network n\ninput x 1x4x4\nconv2d a out=2 kernel=5\nrelu r\n"
                             "conv2d b out=2 kernel=3 from=x\noutput r b\n");
    assert_int_equal(c->errors, 1);
    assert_contains(c->messages, "kernel 5x5 does not fit");
    assert_false(tu_layer(c, "a")->ok);
    assert_false(tu_layer(c, "r")->ok);
    assert_true(tu_layer(c, "b")->ok);
    assert_shape(tu_layer(c, "b"), 2, 2, 2);
    tu_free(c);
}

static void test_analyze_new_elementwise_ops(void **state)
{
    (void)state;
    /* nn.PReLU(): 1 parameter; nn.PReLU(num_parameters=C): C; no MACs
     * (only conv and linear count, as fvcore); the others have none */
    check_layer("3x4x4", "prelu l", 3, 4, 4, 1, 0);
    check_layer("3x4x4", "prelu l num_parameters=3", 3, 4, 4, 3, 0);
    check_layer("3x4x4", "silu l", 3, 4, 4, 0, 0);
    check_layer("3x4x4", "gelu l approximate=tanh", 3, 4, 4, 0, 0);
    check_layer("3x4x4", "elu l", 3, 4, 4, 0, 0);
    check_layer("3x4x4", "hardtanh l min=-2 max=2", 3, 4, 4, 0, 0);
    Compiled *c = compile_ok("network n\ninput x 3x4x4\nelu a\nelu b alpha=0.5\nhardsigmoid h\nhardtanh t\n"
                             "gelu g\noutput a b h t g\n");
    assert_true(tu_layer(c, "a")->alpha == 1.0);
    assert_true(tu_layer(c, "b")->alpha == 0.5);
    assert_true(tu_layer(c, "h")->alpha == 1.0 / 6.0);
    assert_true(tu_layer(c, "t")->min_val == -1.0 && tu_layer(c, "t")->max_val == 1.0);
    assert_false(tu_layer(c, "g")->gelu_tanh);
    tu_free(c);
    c = tu_compile("network n\ninput x 3x4x4\nprelu p num_parameters=2\n");
    assert_int_equal(c->errors, 1);
    assert_contains(c->messages, "prelu 'p' has 2 slopes but its input has 3 channels");
    tu_free(c);
    c = tu_compile("network n\ninput x 3x4x4\ngelu g approximate=fast\nhardtanh h min=2 max=1 from=x\n");
    assert_int_equal(c->errors, 2);
    assert_contains(c->messages, "approximate expects none or tanh, got 'fast'");
    assert_contains(c->messages, "hardtanh needs min <= max");
    tu_free(c);
}

static void test_analyze_mul_shapes(void **state)
{
    (void)state;
    /* equal shapes; a Cx1x1 gate on either side broadcasts over H and W */
    Compiled *c = compile_ok("network n\ninput x 4x5x6\nglobalavgpool2d g\nmul a from=x,x\nmul b from=x,g\n"
                             "mul d from=g,x\nmul e from=g,g\noutput a b d e\n");
    assert_shape(tu_layer(c, "a"), 4, 5, 6);
    assert_shape(tu_layer(c, "b"), 4, 5, 6);
    assert_shape(tu_layer(c, "d"), 4, 5, 6);
    assert_shape(tu_layer(c, "e"), 4, 1, 1);
    assert_int_equal(tu_layer(c, "b")->macs, 0);
    tu_free(c);
    c = tu_compile("network n\ninput x 4x5x6\nconv2d k out=2 kernel=1\nglobalavgpool2d g\nmul b from=x,g\n");
    assert_int_equal(c->errors, 1);
    assert_contains(c->messages, "mul 'b': 'x' is 4x5x6 but 'g' is 2x1x1; mul needs equal shapes or a Cx1x1 gate");
    tu_free(c);
    c = tu_compile("network n\ninput x 4x5x6\nmul b from=x,x,x\n");
    assert_int_equal(c->errors, 1);
    assert_contains(c->messages, "mul takes two inputs");
    tu_free(c);
}

static void test_analyze_one_d_network(void **state)
{
    (void)state;
    /* input CxL is Cx1xL; nn.Conv1d(40, 16, 5, stride=2, padding=2) on L=49:
     * L 25, params 16*40*5 + 16, MACs 16*25*40*5 */
    Compiled *c = compile_ok("network n\ninput x 40x49\nconv1d c out=16 kernel=5 stride=2 padding=2\n"
                             "batchnorm1d bn\nmaxpool1d p kernel=3 stride=2 padding=1\n"
                             "conv1d s out=8 kernel=4 padding=same dilation=2 groups=8 bias=false\n"
                             "conv1d a out=8 kernel=3 padding=0,2 from=s\navgpool1d q kernel=2 ceil_mode=true\n"
                             "globalavgpool1d g\nglobalmaxpool1d m from=a\noutput g m\n");
    assert_true(c->net->one_d);
    assert_shape(tu_layer(c, "x"), 40, 1, 49);
    assert_shape(tu_layer(c, "c"), 16, 1, 25);
    assert_int_equal(tu_layer(c, "c")->params, 16 * 40 * 5 + 16);
    assert_int_equal(tu_layer(c, "c")->macs, 16 * 25 * 40 * 5);
    assert_string_equal(ir_layer_op(tu_layer(c, "c")), "conv1d");
    assert_int_equal(tu_layer(c, "c")->op, OP_CONV2D);
    assert_int_equal(tu_layer(c, "bn")->params, 32);
    assert_shape(tu_layer(c, "p"), 16, 1, 13);
    /* same along L: total padding (13-1)*1 + 2*3 + 1 - 13 = 6, 3 each side */
    assert_shape(tu_layer(c, "s"), 8, 1, 13);
    assert_int_equal(tu_layer(c, "s")->pad[2], 3);
    assert_int_equal(tu_layer(c, "s")->pad[0], 0);
    assert_int_equal(tu_layer(c, "s")->params, 8 * 2 * 4);
    /* left,right padding: 13 + 0 + 2 - 2 = 13 */
    assert_shape(tu_layer(c, "a"), 8, 1, 13);
    assert_int_equal(tu_layer(c, "a")->pad[3], 2);
    assert_shape(tu_layer(c, "q"), 8, 1, 7);
    assert_shape(tu_layer(c, "g"), 8, 1, 1);
    tu_free(c);
    /* a 1-D op on a 2-D tensor, and HxW values, are errors */
    c = tu_compile("network n\ninput x 3x8x8\nconv1d c out=2 kernel=3\n");
    assert_int_equal(c->errors, 1);
    assert_contains(c->messages, "conv1d 'c' needs a CxL input (a 1-D network), but 'x' is 3x8x8");
    tu_free(c);
    c = tu_compile("network n\ninput x 3x8\nconv1d c out=2 kernel=3x3\nmaxpool1d p kernel=2 padding=1,0,0,1\n");
    assert_int_equal(c->errors, 2);
    assert_contains(c->messages, "conv1d takes one number for kernel along L, not HxW");
    assert_contains(c->messages, "padding of maxpool1d takes 2 numbers left,right, got 4");
    tu_free(c);
}

static void test_analyze_large_sizes_exact(void **state)
{
    (void)state;
    /* big but representable: 1e6 channels of 1e3x1e3 floats = 4e12 bytes;
     * the conv's MACs 1e6*1e3*1e3 * 1*1 = 1e12 */
    Compiled *c = compile_ok("network n\ninput x 1x1000x1000\nconv2d l out=1000000 kernel=1 bias=false\n");
    assert_int_equal(tu_layer(c, "l")->macs, 1000000000000LL);
    assert_int_equal(ir_bytes(tu_layer(c, "l")->shape), 4000000000000LL);
    tu_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analyze_conv_basic),
        cmocka_unit_test(test_analyze_conv_stride_padding),
        cmocka_unit_test(test_analyze_conv_rect_everything),
        cmocka_unit_test(test_analyze_conv_asymmetric_padding),
        cmocka_unit_test(test_analyze_conv_groups),
        cmocka_unit_test(test_analyze_conv_depthwise),
        cmocka_unit_test(test_analyze_conv_without_bias),
        cmocka_unit_test(test_analyze_conv_dilation),
        cmocka_unit_test(test_analyze_conv_stride_larger_than_kernel),
        cmocka_unit_test(test_analyze_conv_kernel_whole_input),
        cmocka_unit_test(test_analyze_conv_padding_valid),
        cmocka_unit_test(test_analyze_same_stride1),
        cmocka_unit_test(test_analyze_same_even_kernel),
        cmocka_unit_test(test_analyze_same_stride2),
        cmocka_unit_test(test_analyze_same_stride3_dilated),
        cmocka_unit_test(test_analyze_same_needs_no_padding),
        cmocka_unit_test(test_analyze_same_per_axis),
        cmocka_unit_test(test_analyze_maxpool_default_stride),
        cmocka_unit_test(test_analyze_pool_ceil_mode),
        cmocka_unit_test(test_analyze_pool_ceil_mode_drops_window_in_padding),
        cmocka_unit_test(test_analyze_pool_ceil_mode_window_larger_than_input),
        cmocka_unit_test(test_analyze_pool_dilation),
        cmocka_unit_test(test_analyze_sumpool_and_avgpool),
        cmocka_unit_test(test_analyze_global_pools),
        cmocka_unit_test(test_analyze_flatten_and_linear),
        cmocka_unit_test(test_analyze_linear_after_global_pool),
        cmocka_unit_test(test_analyze_batchnorm),
        cmocka_unit_test(test_analyze_elementwise_ops_keep_shape),
        cmocka_unit_test(test_analyze_add_and_concat),
        cmocka_unit_test(test_analyze_totals_are_sums),
        cmocka_unit_test(test_analyze_batchnorm_folds_into_conv),
        cmocka_unit_test(test_analyze_batchnorm_not_folded),
        cmocka_unit_test(test_analyze_error_stops_downstream_only),
        cmocka_unit_test(test_analyze_new_elementwise_ops),
        cmocka_unit_test(test_analyze_mul_shapes),
        cmocka_unit_test(test_analyze_one_d_network),
        cmocka_unit_test(test_analyze_large_sizes_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
