/* test_field.c: receptive fields per axis. Every expected figure is worked
 * by hand in the comment with language.md's recurrence
 *   k_eff = dilation*(kernel-1) + 1
 *   rf    = rf_prev + (k_eff-1)*jump_prev
 *   jump  = jump_prev*stride
 *   start = start_prev + ((k_eff-1)/2 - pad_lo)*jump_prev
 * from the input's rf=1, jump=1, start=0. Starts are compared doubled
 * (Field.start2), so 2.5 is written 5. */
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

/* The field along axis a (0 = H, 1 = W): size, jump, twice the start. */
static void assert_field(const Layer *l, int a, int64_t size, int64_t jump, int64_t start2)
{
    const Field *f = &l->rf[a];
    if (l->rf_global || f->size != size || f->jump != jump || f->start2 != start2 || f->den != 1)
        fail_msg("'%s' axis %c: rf %lld jump %lld start %g%s, expected rf %lld jump %lld start %g", l->name,
                 a ? 'W' : 'H', (long long)f->size, (long long)f->jump, f->start2 / 2.0,
                 l->rf_global ? " (global)" : "", (long long)size, (long long)jump, start2 / 2.0);
}

/* The same field on both axes. */
static void assert_field2(const Layer *l, int64_t size, int64_t jump, int64_t start2)
{
    assert_field(l, 0, size, jump, start2);
    assert_field(l, 1, size, jump, start2);
}

/* A fractional field along axis a: size/den, jump/den, start2/(2*den), in lowest terms. */
static void assert_frac(const Layer *l, int a, int64_t size, int64_t jump, int64_t start2, int64_t den)
{
    const Field *f = &l->rf[a];
    if (l->rf_global || f->size != size || f->jump != jump || f->start2 != start2 || f->den != den)
        fail_msg("'%s' axis %c: rf %lld jump %lld start2 %lld over %lld, expected %lld %lld %lld over %lld", l->name,
                 a ? 'W' : 'H', (long long)f->size, (long long)f->jump, (long long)f->start2, (long long)f->den,
                 (long long)size, (long long)jump, (long long)start2, (long long)den);
}

static void assert_global(const Layer *l, int64_t h, int64_t w)
{
    if (!l->rf_global)
        fail_msg("'%s' should see the whole input", l->name);
    assert_int_equal(l->rf[0].size, h);
    assert_int_equal(l->rf[1].size, w);
}

static void test_field_input(void **state)
{
    (void)state;
    Compiled *c = compile_ok("network n\ninput x 1x8x8\nrelu\n");
    assert_field2(tu_layer(c, "x"), 1, 1, 0);
    assert_false(tu_layer(c, "x")->rf_global);
    tu_free(c);
}

static void test_field_conv_basic(void **state)
{
    (void)state;
    /* k3 s1 p0: rf 1+2*1 = 3, jump 1, start 0+(1-0)*1 = 1 */
    Compiled *c = compile_ok("network n\ninput x 1x8x8\nconv2d a out=1 kernel=3\n");
    assert_field2(tu_layer(c, "a"), 3, 1, 2);
    tu_free(c);
}

static void test_field_conv_stride_padding_chain(void **state)
{
    (void)state;
    /* a: k3 s2 p1: rf 3, jump 2, start 0+(1-1)*1 = 0
     * b: k3 s1 p1: rf 3+2*2 = 7, jump 2, start 0+(1-1)*2 = 0
     * p: k2 s2 p0: rf 7+1*2 = 9, jump 4, start 0+(0.5-0)*2 = 1
     * d: k1 s1 p0: rf 9+0 = 9, jump 4, start 1 */
    Compiled *c = compile_ok("network n\ninput x 1x16x16\nconv2d a out=1 kernel=3 stride=2 padding=1\n"
                             "conv2d b out=1 kernel=3 padding=1\nmaxpool2d p kernel=2\nconv2d d out=1 kernel=1\n");
    assert_field2(tu_layer(c, "a"), 3, 2, 0);
    assert_field2(tu_layer(c, "b"), 7, 2, 0);
    assert_field2(tu_layer(c, "p"), 9, 4, 2);
    assert_field2(tu_layer(c, "d"), 9, 4, 2);
    tu_free(c);
}

static void test_field_dilation(void **state)
{
    (void)state;
    /* a: k3 d2: k_eff 5: rf 5, jump 1, start (4/2 - 0) = 2
     * b: k3 d3 p3: k_eff 7: rf 5+6*1 = 11, jump 1, start 2+(3-3)*1 = 2
     * m: maxpool k2 d2 s1: k_eff 3: rf 11+2 = 13, jump 1, start 2+1 = 3 */
    Compiled *c = compile_ok("network n\ninput x 1x20x20\nconv2d a out=1 kernel=3 dilation=2\n"
                             "conv2d b out=1 kernel=3 dilation=3 padding=3\n"
                             "maxpool2d m kernel=2 stride=1 dilation=2\n");
    assert_field2(tu_layer(c, "a"), 5, 1, 4);
    assert_field2(tu_layer(c, "b"), 11, 1, 4);
    assert_field2(tu_layer(c, "m"), 13, 1, 6);
    tu_free(c);
}

static void test_field_asymmetric_padding(void **state)
{
    (void)state;
    /* padding=1,2,0,3 (top,bottom,left,right), k3 s2x1: only the low side
     * moves the start. H: rf 3, jump 2, start 1-1 = 0; W: rf 3, jump 1,
     * start 1-0 = 1 */
    Compiled *c = compile_ok("network n\ninput x 1x10x10\nconv2d a out=1 kernel=3 stride=2x1 padding=1,2,0,3\n");
    Layer *a = tu_layer(c, "a");
    assert_field(a, 0, 3, 2, 0);
    assert_field(a, 1, 3, 1, 2);
    tu_free(c);
}

static void test_field_per_axis(void **state)
{
    (void)state;
    /* kernel 3x5 stride 2x1 dilation 1x2 padding 1x2:
     * H: k_eff 3, rf 3, jump 2, start 1-1 = 0
     * W: k_eff 9, rf 9, jump 1, start 4-2 = 2
     * then maxpool 2x3 (stride 2x3):
     * H: rf 3+1*2 = 5, jump 4, start 0+0.5*2 = 1
     * W: rf 9+2*1 = 11, jump 3, start 2+1*1 = 3 */
    Compiled *c = compile_ok("network n\ninput x 1x20x20\n"
                             "conv2d a out=1 kernel=3x5 stride=2x1 dilation=1x2 padding=1x2\nmaxpool2d m kernel=2x3\n");
    assert_field(tu_layer(c, "a"), 0, 3, 2, 0);
    assert_field(tu_layer(c, "a"), 1, 9, 1, 4);
    assert_field(tu_layer(c, "m"), 0, 5, 4, 2);
    assert_field(tu_layer(c, "m"), 1, 11, 3, 6);
    tu_free(c);
}

static void test_field_half_and_negative_starts(void **state)
{
    (void)state;
    /* a: k2 p1: rf 2, jump 1, start (0.5-1)*1 = -0.5
     * b: k1 p1 (from x): rf 1, start (0-1) = -1
     * d: k2 s2 from x: rf 2, jump 2, start 0.5 */
    Compiled *c = compile_ok("network n\ninput x 1x8x8\nconv2d a out=1 kernel=2 padding=1\n"
                             "conv2d b out=1 kernel=1 padding=1 from=x\nconv2d d out=1 kernel=2 stride=2 from=x\n"
                             "output a b d\n");
    assert_field2(tu_layer(c, "a"), 2, 1, -1);
    assert_field2(tu_layer(c, "b"), 1, 1, -2);
    assert_field2(tu_layer(c, "d"), 2, 2, 1);
    tu_free(c);
}

static void test_field_same_padding_uses_resolved_low_side(void **state)
{
    (void)state;
    /* 'same' k3 s2: on 8 the total padding is 1, all of it bottom/right, so
     * pad_lo 0 and start 1-0 = 1; on 7 the total is 2, pad_lo 1, start 0.
     * rf 3 and jump 2 either way */
    Compiled *c = compile_ok("network n\ninput x 1x8x7\nconv2d a out=1 kernel=3 stride=2 padding=same\n");
    Layer *a = tu_layer(c, "a");
    assert_field(a, 0, 3, 2, 2);
    assert_field(a, 1, 3, 2, 0);
    tu_free(c);
}

static void test_field_every_window_op(void **state)
{
    (void)state;
    /* k3 s2 p1 from the input: rf 3, jump 2, start 0 for every windowed op;
     * ceil_mode changes the output size, not the recurrence */
    const char *lines[] = {
        "conv2d l out=2 kernel=3 stride=2 padding=1",
        "maxpool2d l kernel=3 stride=2 padding=1",
        "maxpool2d l kernel=3 stride=2 padding=1 ceil_mode=true",
        "minpool2d l kernel=3 stride=2 padding=1",
        "avgpool2d l kernel=3 stride=2 padding=1 count_include_pad=false",
        "sumpool2d l kernel=3 stride=2 padding=1 ceil_mode=true",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, "network n\ninput x 2x9x9\n%s\n", lines[i]);
        Compiled *c = compile_ok(src);
        assert_field2(tu_layer(c, "l"), 3, 2, 0);
        tu_free(c);
    }
}

static void test_field_elementwise_ops_keep_field(void **state)
{
    (void)state;
    /* after a: k3 s2 p0: rf 3, jump 2, start 1; every elementwise op keeps it */
    const char *ops[] = {"relu", "relu6", "sigmoid", "tanh", "hardswish", "leakyrelu", "softmax", "dropout",
                         "batchnorm2d", "silu", "gelu", "elu", "prelu", "hardtanh"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, "network n\ninput x 2x9x9\nconv2d a out=2 kernel=3 stride=2\n%s l\n", ops[i]);
        Compiled *c = compile_ok(src);
        assert_field2(tu_layer(c, "l"), 3, 2, 2);
        tu_free(c);
    }
}

static void test_field_mul_gate_keeps_gated_field(void **state)
{
    (void)state;
    /* squeeze-excitation: the Cx1x1 gate comes from a global pool, but it
     * only scales channels, so x * gate (either order) has a's field, not
     * the whole input's; a mul of equal shapes takes the larger field */
    Compiled *c = compile_ok("network n\ninput x 2x9x9\nconv2d a out=2 kernel=3 stride=2\n"
                             "globalavgpool2d g\nconv2d f out=2 kernel=1\nsigmoid s\n"
                             "mul m from=a,s\nmul m2 from=s,a\n"
                             "conv2d b out=2 kernel=5 stride=2 padding=1 from=x\nmul e from=a,b\noutput m m2 e\n");
    assert_global(tu_layer(c, "s"), 9, 9);
    assert_field2(tu_layer(c, "m"), 3, 2, 2);
    assert_false(tu_layer(c, "m")->rf_global);
    assert_field2(tu_layer(c, "m2"), 3, 2, 2);
    assert_field2(tu_layer(c, "e"), 5, 2, 2);
    tu_free(c);
}

static void test_field_upsampling_makes_jumps_fractional(void **state)
{
    (void)state;
    /* output pixel i of a x2 nearest upsample sits at input (i + 0.5)/2 - 0.5:
     * jump 1/2, start -1/4, rf 1 = (2, 1, -1) over 2 */
    Compiled *c = compile_ok("network n\ninput x 1x4x6\nupsample a factor=2\n"
                             "upsample b factor=2 mode=bilinear from=x\n"
                             "upsample d factor=2 mode=bilinear align_corners=true from=x\n"
                             "upsample e factor=3x1 from=x\nconv2d k out=1 kernel=3 from=a\n"
                             "conv2d s out=1 kernel=3 stride=2 from=x\nupsample u factor=2 from=s\n"
                             "output b d e k u\n");
    assert_frac(tu_layer(c, "a"), 0, 2, 1, -1, 2);
    /* bilinear reads one more input pixel: rf 2 */
    assert_frac(tu_layer(c, "b"), 0, 4, 1, -1, 2);
    /* align_corners: output 0 on input 0, jump (in-1)/(out-1): 3/7 along H, 5/11 along W */
    assert_frac(tu_layer(c, "d"), 0, 14, 3, 0, 7);
    assert_frac(tu_layer(c, "d"), 1, 22, 5, 0, 11);
    /* factor 3 along H: jump 1/3, start (0.5/3 - 0.5) = -1/3; W untouched */
    assert_frac(tu_layer(c, "e"), 0, 3, 1, -2, 3);
    assert_field(tu_layer(c, "e"), 1, 1, 1, 0);
    /* a 3x3 conv after x2: rf 1 + 2 * 1/2 = 2, start -1/4 + 1/2 = 1/4 */
    assert_frac(tu_layer(c, "k"), 0, 4, 1, 1, 2);
    /* after a stride-2 conv (rf 3, jump 2, start 1) a x2 upsample is back on
     * whole pixels: jump 1, start 1 - 1/2 = 0.5 */
    assert_field2(tu_layer(c, "u"), 3, 1, 1);
    tu_free(c);
}

static void test_field_transposed_conv_and_pixelshuffle(void **state)
{
    (void)state;
    /* convtranspose2d k2 s2: outputs 1/2 apart, output 0 at (0 - 1/2)/2 = -1/4,
     * rf 1 + 1/2; k3 s2 p1: jump 1/2, start (1 - 1)/2 = 0, rf 1 + 2/2 = 2 */
    Compiled *c = compile_ok("network n\ninput x 4x4x6\nconvtranspose2d a out=1 kernel=2 stride=2\n"
                             "convtranspose2d b out=1 kernel=3 stride=2 padding=1 output_padding=1 from=x\n"
                             "pixelshuffle p factor=2 from=x\npad q padding=2,0,1,3 from=x\n"
                             "conv2d s out=4 kernel=2 stride=2 from=x\nconvtranspose2d t out=1 kernel=2 stride=2\n"
                             "output a b p q t\n");
    assert_frac(tu_layer(c, "a"), 0, 3, 1, -1, 2);
    assert_frac(tu_layer(c, "b"), 0, 4, 1, 0, 2);
    /* pixelshuffle is a nearest x2 upsample for the field */
    assert_frac(tu_layer(c, "p"), 0, 2, 1, -1, 2);
    /* pad: the start moves by the low side, per axis */
    assert_field(tu_layer(c, "q"), 0, 1, 1, -4);
    assert_field(tu_layer(c, "q"), 1, 1, 1, -2);
    /* a stride-2 2x2 conv and the transposed conv that undoes it: jump 1 again,
     * output 0 centred on input 0 (0.5 - 1/2), rf 2 + 1 */
    assert_field2(tu_layer(c, "t"), 3, 1, 0);
    tu_free(c);
}

static void test_field_fractions_in_the_report(void **state)
{
    (void)state;
    Compiled *c = compile_ok("network n\ninput x 1x4x6\nupsample a factor=3x2\n");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    report_text(c->net, f);
    fclose(f);
    /* rf 1x1, jump 1/3x0.5, start -1/3,-1/4 */
    assert_contains(text, "1x1  1/3x0.5  -1/3,-1/4");
    free(text);
    f = open_memstream(&text, &len);
    report_json(c->net, f);
    fclose(f);
    assert_contains(text, "\"jump\": [0.33333333333333331, 0.5], \"start\": [-0.33333333333333331, -0.25]");
    free(text);
    tu_free(c);
}

static void test_field_one_d_along_l(void **state)
{
    (void)state;
    /* a 1-D network's field is along L (W); H stays the 1 pixel it is.
     * conv1d k5 s2 p2: rf 5, jump 2, start 0; maxpool1d k3 s2 p1: rf 9, jump 4, start 0 */
    Compiled *c = compile_ok("network n\ninput x 4x49\nconv1d c out=4 kernel=5 stride=2 padding=2\n"
                             "maxpool1d p kernel=3 stride=2 padding=1\n");
    assert_field(tu_layer(c, "c"), 1, 5, 2, 0);
    assert_field(tu_layer(c, "c"), 0, 1, 1, 0);
    assert_field(tu_layer(c, "p"), 1, 9, 4, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    report_text(c->net, f);
    fclose(f);
    /* reports in 1-D terms: shape CxL, one rf, jump and start */
    assert_contains(text, "c      conv1d     4x25        84  2,000  5   2     0\n");
    assert_contains(text, "p      maxpool1d  4x13         0      0  9   4     0\n");
    free(text);
    tu_free(c);
}

static void test_field_global_ops(void **state)
{
    (void)state;
    /* after flatten, linear and global pooling the field is the whole
     * input (13x9), whatever came before, and stays so downstream */
    Compiled *c = compile_ok("network n\ninput x 2x13x9\nconv2d a out=2 kernel=3\nflatten f\nlinear l out=4\n"
                             "relu r\nglobalavgpool2d g from=a\nglobalmaxpool2d h from=a\n"
                             "conv2d k out=1 kernel=1 from=g\n"
                             "output r h k\n");
    assert_field2(tu_layer(c, "a"), 3, 1, 2);
    const char *names[] = {"f", "l", "r", "g", "h", "k"};
    for (int i = 0; i < 6; i++)
        assert_global(tu_layer(c, names[i]), 13, 9);
    tu_free(c);
}

static void test_field_linear_on_input(void **state)
{
    (void)state;
    /* an Nx1x1 input read by linear: the whole input is 1x1 */
    Compiled *c = compile_ok("network n\ninput x 8x1x1\nlinear l out=2\n");
    assert_global(tu_layer(c, "l"), 1, 1);
    tu_free(c);
}

static void test_field_add_aligned_takes_largest(void **state)
{
    (void)state;
    /* a: k3 p1: rf 3, jump 1, start 0; b: k5 p2: rf 5, jump 1, start 0.
     * Both centred alike: no warning, the add's field is b's 5 */
    Compiled *c = compile_ok("network n\ninput x 2x8x8\nconv2d a out=2 kernel=3 padding=1 from=x\n"
                             "conv2d b out=2 kernel=5 padding=2 from=x\nadd s from=a,b\n");
    assert_field2(tu_layer(c, "s"), 5, 1, 0);
    assert_int_equal(c->warnings, 0);
    tu_free(c);
}

static void test_field_add_misaligned_warns(void **state)
{
    (void)state;
    /* Keras-style downsampling: a: k3 s2 same on 8: padding 0 top, 1 bottom,
     * so rf 3, jump 2, start 1. The shortcut sc: k1 s2: rf 1, jump 2,
     * start 0. Jumps agree, starts do not: warned at the second name, and
     * the field is a's (the larger) */
    const char src[] = "network n\ninput x 2x8x8\n"
                       "conv2d a out=2 kernel=3 stride=2 padding=same from=x\n"
                       "conv2d sc out=2 kernel=1 stride=2 from=x\n"
                       "add s from=a,sc\n";
    Compiled *c = tu_compile(src);
    assert_int_equal(c->errors, 0);
    assert_int_equal(c->warnings, 1);
    assert_contains(c->messages, "t.net:5:14: warning: inputs of add 's' are not aligned: 'sc' has jump 2x2 start 0,0 "
                                 "but 'a' has jump 2x2 start 1,1; the receptive field is not centred\n"
                                 " add s from=a,sc\n"
                                 "              ^~\n");
    assert_field2(tu_layer(c, "s"), 3, 2, 2);
    tu_free(c);
}

static void test_field_torchvision_downsample_is_aligned(void **state)
{
    (void)state;
    /* PyTorch-style: a: k3 s2 p1: rf 3, jump 2, start 0; b: k3 p1: rf 7,
     * jump 2, start 0; sc: k1 s2: rf 1, jump 2, start 0. Aligned: no warning */
    Compiled *c = compile_ok("network n\ninput x 2x8x8\nconv2d a out=2 kernel=3 stride=2 padding=1 from=x\n"
                             "conv2d b out=2 kernel=3 padding=1\nconv2d sc out=2 kernel=1 stride=2 from=x\n"
                             "add s from=b,sc\n");
    assert_int_equal(c->warnings, 0);
    assert_field2(tu_layer(c, "s"), 7, 2, 0);
    tu_free(c);
}

static void test_field_concat_misaligned_takes_largest(void **state)
{
    (void)state;
    /* p: maxpool k2 s1 padding 0,1,0,1 keeps 8x8: rf 2, jump 1,
     * start 0+(0.5-0)*1 = 0.5; r: k3 p1: rf 3, jump 1, start 0. The concat
     * takes r's 3 although r comes last, and warns: the starts differ */
    Compiled *c = tu_compile("network n\ninput x 1x8x8\nmaxpool2d p kernel=2 stride=1 padding=0,1,0,1 from=x\n"
                             "conv2d r out=1 kernel=3 padding=1 from=x\nconcat c from=p,r\n");
    assert_int_equal(c->errors, 0);
    assert_int_equal(c->warnings, 1);
    assert_contains(c->messages, "warning: inputs of concat 'c' are not aligned: 'r' has jump 1x1 start 0,0 but 'p' "
                                 "has jump 1x1 start 0.5,0.5");
    assert_field2(tu_layer(c, "p"), 2, 1, 1);
    assert_field2(tu_layer(c, "c"), 3, 1, 0);
    tu_free(c);
}

static void test_field_multi_path_strided(void **state)
{
    (void)state;
    /* a: k2 s2: rf 2, jump 2, start 0.5, 4x4; b: k4 s2 p1: rf 4, jump 2,
     * start (1.5-1) = 0.5, 4x4 -- aligned, largest 4.
     * d: k1 s2 (on 8): rf 1, jump 2, start 0; e: maxpool k2 (stride 2) of
     * d: rf 1+1*2 = 3, jump 4, start 0+0.5*2 = 1, 2x2; f: k5 s4 p1 on 8: rf 5,
     * jump 4, start 2-1 = 1, 2x2 -- aligned; then g = conv k3 s4 p1 on 8:
     * 2x2, rf 3, jump 4, start 0: misaligned with e */
    Compiled *c = tu_compile("network n\ninput x 1x8x8\nconv2d a out=1 kernel=2 stride=2 from=x\n"
                             "conv2d b out=1 kernel=4 stride=2 padding=1 from=x\nconcat ab from=a,b\n"
                             "conv2d d out=1 kernel=1 stride=2 from=x\nmaxpool2d e kernel=2\n"
                             "conv2d f out=1 kernel=5 stride=4 padding=1 from=x\nconcat ef from=e,f\n"
                             "conv2d g out=1 kernel=3 stride=4 padding=1 from=x\nadd eg from=e,g\n"
                             "output ab ef eg\n");
    assert_int_equal(c->errors, 0);
    assert_field2(tu_layer(c, "ab"), 4, 2, 1);
    assert_field2(tu_layer(c, "e"), 3, 4, 2);
    assert_field2(tu_layer(c, "ef"), 5, 4, 2);
    assert_field2(tu_layer(c, "g"), 3, 4, 0);
    assert_field2(tu_layer(c, "eg"), 3, 4, 2); /* equal sizes: the first input's */
    assert_int_equal(c->warnings, 1);
    assert_contains(c->messages, "inputs of add 'eg' are not aligned: 'g' has jump 4x4 start 0,0 but 'e' has jump "
                                 "4x4 start 1,1");
    tu_free(c);
    /* jumps that differ: a: k2 s2 on 8: 4x4, rf 2, jump 2, start 0.5;
     * d: k1 s4: 2x2, rf 1, jump 4, start 0; e: k1 p1 on d: 4x4, rf 1,
     * jump 4, start 0+(0-1)*4 = -4 */
    c = tu_compile("network n\ninput x 1x8x8\nconv2d a out=1 kernel=2 stride=2 from=x\n"
                   "conv2d d out=1 kernel=1 stride=4 from=x\nconv2d e out=1 kernel=1 padding=1\nconcat ae from=a,e\n");
    assert_int_equal(c->errors, 0);
    assert_field2(tu_layer(c, "e"), 1, 4, -8);
    assert_field2(tu_layer(c, "ae"), 2, 2, 1);
    assert_contains(c->messages, "inputs of concat 'ae' are not aligned: 'e' has jump 4x4 start -4,-4 but 'a' has "
                                 "jump 2x2 start 0.5,0.5");
    tu_free(c);
}

static void test_field_add_largest_per_axis(void **state)
{
    (void)state;
    /* a: k3x1 p1x0: H rf 3, W rf 1; b: k1x5 p0x2: H rf 1, W rf 5; both
     * start 0, jump 1. The add takes the largest on each axis: 3 and 5 */
    Compiled *c = compile_ok("network n\ninput x 1x6x6\nconv2d a out=1 kernel=3x1 padding=1x0 from=x\n"
                             "conv2d b out=1 kernel=1x5 padding=0x2 from=x\nadd s from=a,b\n");
    assert_field(tu_layer(c, "s"), 0, 3, 1, 0);
    assert_field(tu_layer(c, "s"), 1, 5, 1, 0);
    assert_int_equal(c->warnings, 0);
    tu_free(c);
}

static void test_field_add_with_global_input(void **state)
{
    (void)state;
    /* a linear branch sees the whole input, so the add does too */
    Compiled *c = compile_ok("network n\ninput x 4x1x1\nlinear a out=4\nconv2d b out=4 kernel=1 from=x\n"
                             "add s from=b,a\n");
    assert_global(tu_layer(c, "s"), 1, 1);
    assert_field2(tu_layer(c, "b"), 1, 1, 0);
    tu_free(c);
}

static void test_field_lenet(void **state)
{
    (void)state;
    /* c1 k5: rf 5, jump 1, start 2; s2 k2 s2: rf 5+1 = 6, jump 2,
     * start 2+0.5 = 2.5; c3 k5: rf 6+4*2 = 14, jump 2, start 2.5+2*2 = 6.5;
     * s4: rf 14+1*2 = 16, jump 4, start 6.5+0.5*2 = 7.5; then global 32x32 */
    size_t n;
    char *src = tu_read_file("models/lenet5.net", &n);
    Compiled *c = compile_ok(src);
    assert_field2(tu_layer(c, "c1"), 5, 1, 4);
    assert_field2(tu_layer(c, "relu_1"), 5, 1, 4);
    assert_field2(tu_layer(c, "s2"), 6, 2, 5);
    assert_field2(tu_layer(c, "c3"), 14, 2, 13);
    assert_field2(tu_layer(c, "s4"), 16, 4, 15);
    assert_global(tu_layer(c, "flatten_1"), 32, 32);
    assert_global(tu_layer(c, "softmax_1"), 32, 32);
    tu_free(c);
    free(src);
}

static void test_field_larger_than_input(void **state)
{
    (void)state;
    /* three k3 p1 convs on 4x4: rf 3, 5, 7 -- a field may exceed the input */
    Compiled *c = compile_ok("network n\ninput x 1x4x4\nconv2d a out=1 kernel=3 padding=1\n"
                             "conv2d b out=1 kernel=3 padding=1\nconv2d d out=1 kernel=3 padding=1\n");
    assert_field2(tu_layer(c, "d"), 7, 1, 0);
    tu_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_input),
        cmocka_unit_test(test_field_conv_basic),
        cmocka_unit_test(test_field_conv_stride_padding_chain),
        cmocka_unit_test(test_field_dilation),
        cmocka_unit_test(test_field_asymmetric_padding),
        cmocka_unit_test(test_field_per_axis),
        cmocka_unit_test(test_field_half_and_negative_starts),
        cmocka_unit_test(test_field_same_padding_uses_resolved_low_side),
        cmocka_unit_test(test_field_every_window_op),
        cmocka_unit_test(test_field_elementwise_ops_keep_field),
        cmocka_unit_test(test_field_mul_gate_keeps_gated_field),
        cmocka_unit_test(test_field_upsampling_makes_jumps_fractional),
        cmocka_unit_test(test_field_transposed_conv_and_pixelshuffle),
        cmocka_unit_test(test_field_fractions_in_the_report),
        cmocka_unit_test(test_field_one_d_along_l),
        cmocka_unit_test(test_field_global_ops),
        cmocka_unit_test(test_field_linear_on_input),
        cmocka_unit_test(test_field_add_aligned_takes_largest),
        cmocka_unit_test(test_field_add_misaligned_warns),
        cmocka_unit_test(test_field_torchvision_downsample_is_aligned),
        cmocka_unit_test(test_field_concat_misaligned_takes_largest),
        cmocka_unit_test(test_field_multi_path_strided),
        cmocka_unit_test(test_field_add_largest_per_axis),
        cmocka_unit_test(test_field_add_with_global_input),
        cmocka_unit_test(test_field_lenet),
        cmocka_unit_test(test_field_larger_than_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
