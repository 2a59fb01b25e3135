/* test_diag.c: what the user sees when a model is wrong. The form is
 * gcc's (file:line:col: error: message, the source line, a caret under the
 * culprit); errors are counted, reported in source order, several per
 * run, without cascades. Every error class of language.md's Errors
 * section has a test here checking its message, and the broken files of
 * tests/golden/diag/ are run through build/cnnc and compared with their
 * .err byte for byte. */
#include "testutil.h"

#include <glob.h>

static void assert_contains(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, text ? text : "(null)");
}

/* Compiles src and checks that its diagnostics are exactly `want`. */
static void expect_messages(const char *src, int errors, const char *want)
{
    Compiled *c = tu_compile(src);
    if (strcmp(c->messages, want) != 0)
        fail_msg("got:\n%s\nexpected:\n%s", c->messages, want);
    assert_int_equal(c->errors, errors);
    tu_free(c);
}

/* Compiles src and checks that `want` is among its diagnostics. */
static void expect_error(const char *src, const char *want)
{
    Compiled *c = tu_compile(src);
    assert_true(c->errors > 0);
    assert_contains(c->messages, want);
    tu_free(c);
}

/* ---- the diag module itself ---- */

/* A Diag over src writing to memory. */
typedef struct Sink {
    Diag d;
    char *text;
    size_t len;
    FILE *out;
} Sink;

static void sink_open(Sink *s, const char *src)
{
    memset(s, 0, sizeof *s);
    s->out = open_memstream(&s->text, &s->len);
    assert_non_null(s->out);
    diag_init(&s->d, "m.net", src, strlen(src), s->out);
}

/* Flushes and returns what was printed (owned by s). */
static const char *sink_close(Sink *s)
{
    diag_flush(&s->d);
    fclose(s->out);
    return s->text;
}

static void test_diag_format_and_caret(void **state)
{
    (void)state;
    Sink s;
    sink_open(&s, "network n\nconv2d c out=6\n");
    diag_error(&s.d, (Loc){2, 8, 9}, "bad %s", "name");
    diag_warning(&s.d, (Loc){2, 10, 15}, "odd key");
    assert_int_equal(s.d.errors, 1);
    assert_int_equal(s.d.warnings, 1);
    assert_string_equal(sink_close(&s), "m.net:2:8: error: bad name\n"
                                        " conv2d c out=6\n"
                                        "        ^\n"
                                        "m.net:2:10: warning: odd key\n"
                                        " conv2d c out=6\n"
                                        "          ^~~~~\n");
    free(s.text);
}

static void test_diag_source_order_with_notes(void **state)
{
    (void)state;
    /* reported out of order, printed by line then column; a note stays
     * with the error it follows, even when it points elsewhere */
    Sink s;
    sink_open(&s, "a\nb\nc\n");
    diag_error(&s.d, (Loc){3, 1, 2}, "third");
    diag_error(&s.d, (Loc){2, 1, 2}, "second");
    diag_note(&s.d, (Loc){1, 1, 2}, "see first");
    diag_error(&s.d, (Loc){1, 1, 2}, "first");
    diag_file_error(&s.d, "w.safetensors", "after the source");
    assert_int_equal(s.d.errors, 4);
    assert_string_equal(sink_close(&s), "m.net:1:1: error: first\n a\n ^\n"
                                        "m.net:2:1: error: second\n b\n ^\n"
                                        "m.net:1:1: note: see first\n a\n ^\n"
                                        "m.net:3:1: error: third\n c\n ^\n"
                                        "w.safetensors: error: after the source\n");
    free(s.text);
}

static void test_diag_tabs_and_control_bytes(void **state)
{
    (void)state;
    /* tabs are kept in the caret's indent so it lines up; other control
     * bytes print as '?'; a CR ends the quoted line */
    Sink s;
    sink_open(&s, "\trelu\x01 r\r\n");
    diag_error(&s.d, (Loc){1, 9, 10}, "here");
    assert_string_equal(sink_close(&s), "m.net:1:9: error: here\n"
                                        " \trelu? r\n"
                                        " \t       ^\n");
    free(s.text);
}

static void test_diag_tildes_stop_at_line_end(void **state)
{
    (void)state;
    Sink s;
    sink_open(&s, "relu\n");
    diag_error(&s.d, (Loc){1, 3, 40}, "long");
    assert_string_equal(sink_close(&s), "m.net:1:3: error: long\n relu\n   ^~\n");
    free(s.text);
}

static void test_diag_file_warning(void **state)
{
    (void)state;
    Sink s;
    sink_open(&s, "x\n");
    diag_file_warning(&s.d, "w.safetensors", "tensor '%s' is not used", "fc.weight");
    assert_int_equal(s.d.warnings, 1);
    assert_int_equal(s.d.errors, 0);
    assert_string_equal(sink_close(&s), "w.safetensors: warning: tensor 'fc.weight' is not used\n");
    free(s.text);
}

/* ---- every error class of language.md ---- */

static void test_diag_unknown_op(void **state)
{
    (void)state;
    expect_messages("network n\ninput x 1x8x8\nconv2 c out=4 kernel=3\n", 1,
                    "t.net:3:1: error: unknown op 'conv2'; did you mean 'conv2d'?\n"
                    " conv2 c out=4 kernel=3\n"
                    " ^~~~~\n");
    expect_error("network n\ninput x 1x8x8\nfrobnicate\n",
                 "t.net:3:1: error: unknown op 'frobnicate'; see the op table in docs/language.md\n");
}

static void test_diag_unknown_key(void **state)
{
    (void)state;
    expect_messages("network n\ninput x 1x8x8\nconv2d c out=4 kernal=3 kernel=3\n", 1,
                    "t.net:3:16: error: conv2d has no key 'kernal'; did you mean 'kernel'?\n"
                    " conv2d c out=4 kernal=3 kernel=3\n"
                    "                ^~~~~~\n");
    /* a key of another op: the keys this one takes are listed */
    expect_error("network n\ninput x 1x8x8\nmaxpool2d m kernel=2 groups=2\n",
                 "t.net:3:22: error: maxpool2d has no key 'groups'; it takes kernel, stride, padding, dilation, "
                 "ceil_mode\n");
    expect_error("network n\ninput x 1x8x8\nrelu r slope=0.1\n",
                 "t.net:3:8: error: relu has no key 'slope'; it takes none but from=\n");
}

static void test_diag_missing_required_key(void **state)
{
    (void)state;
    /* the caret is under the layer's name (or its op word when unnamed;
     * conv2d_2 because c is the first conv2d) */
    expect_messages("network n\ninput x 1x8x8\nconv2d c kernel=3\nmaxpool2d p\nadd s\nlinear out=3 from=x\n"
                    "conv2d out=2\n",
                    5,
                    "t.net:3:8: error: conv2d 'c' needs out=, as in 'out=16'\n"
                    " conv2d c kernel=3\n"
                    "        ^\n"
                    "t.net:4:11: error: maxpool2d 'p' needs kernel=, as in 'kernel=3'\n"
                    " maxpool2d p\n"
                    "           ^\n"
                    "t.net:5:5: error: add 's' needs from=, as in 'from=a,b'\n"
                    " add s\n"
                    "     ^\n"
                    "t.net:6:1: error: linear 'linear_1' needs a flattened input (Nx1x1), but 'x' is 1x8x8; add "
                    "'flatten' before it\n"
                    " linear out=3 from=x\n"
                    " ^~~~~~\n"
                    "t.net:7:1: error: conv2d 'conv2d_2' needs kernel=, as in 'kernel=3'\n"
                    " conv2d out=2\n"
                    " ^~~~~~\n");
}

static void test_diag_value_of_wrong_kind(void **state)
{
    (void)state;
    const char src[] = "network n\ninput x 3x8x8\n"
                       "conv2d a out=1.5 kernel=same stride=0 dilation=3x3x3\n"
                       "conv2d b out=0 kernel=3 padding=1,2,3 groups=x from=x\n"
                       "conv2d c out=4 kernel=3 padding=1,x,1,1 bias=1 padding_mode=mirror from=x\n"
                       "conv2d d out=4 kernel=3 padding=-1 from=x\n"
                       "maxpool2d e kernel=2 ceil_mode=yes padding=full from=x\n"
                       "avgpool2d f kernel=2 count_include_pad=0 from=x\n"
                       "batchnorm2d g eps=small from=x\n"
                       "batchnorm2d h eps=-1e-5 from=x\n"
                       "leakyrelu i slope=true from=x\n"
                       "dropout j p=1.5 from=x\n"
                       "relu k from=3\n"
                       "conv2d l out=4 kernel=3 padding=1,2,3,-4 from=x\n"
                       "conv2d m out=4 kernel=0x3 from=x\n";
    Compiled *c = tu_compile(src);
    static const char *const want[] = {
        "t.net:3:14: error: out expects a positive integer, got '1.5'\n",
        "t.net:3:25: error: kernel expects a positive integer or HxW, got 'same'\n"
        " conv2d a out=1.5 kernel=same stride=0 dilation=3x3x3\n"
        "                         ^~~~\n",
        "t.net:3:37: error: stride must be at least 1, got '0'\n",
        "t.net:3:48: error: dilation expects a positive integer or HxW, got '3x3x3'; give one number for both axes "
        "or HxW\n",
        "t.net:4:14: error: out must be at least 1, got '0'\n",
        "t.net:4:33: error: padding takes 4 numbers top,bottom,left,right, got 3\n"
        " conv2d b out=0 kernel=3 padding=1,2,3 groups=x from=x\n"
        "                                 ^~~~~\n",
        "t.net:4:46: error: groups expects a positive integer, got 'x'\n",
        "t.net:5:35: error: padding expects integers in top,bottom,left,right, got 'x'\n",
        "t.net:5:46: error: bias expects true or false, got '1'\n",
        "t.net:5:61: error: padding_mode expects zeros, reflect, replicate or circular, got 'mirror'\n",
        "t.net:6:33: error: padding must be zero or more, got '-1'\n",
        "t.net:7:32: error: ceil_mode expects true or false, got 'yes'\n",
        "t.net:7:44: error: padding expects N, HxW, top,bottom,left,right, 'same' or 'valid', got 'full'\n",
        "t.net:8:40: error: count_include_pad expects true or false, got '0'\n",
        "t.net:9:19: error: eps expects a number, got 'small'\n",
        "t.net:10:19: error: eps must be zero or more, got '-1e-5'\n",
        "t.net:11:19: error: slope expects a number, got 'true'\n",
        "t.net:12:13: error: p is a probability between 0 and 1, got '1.5'\n",
        "t.net:13:13: error: from expects a layer name or names separated by commas, got '3'\n",
        "t.net:14:39: error: padding must be zero or more, got '-4'\n",
        "t.net:15:23: error: kernel must be at least 1, got '0x3'\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_contains(c->messages, want[i]);
    assert_int_equal(c->errors, (int)(sizeof want / sizeof want[0]));
    tu_free(c);
}

static void test_diag_key_given_twice(void **state)
{
    (void)state;
    expect_messages("network n\ninput x 1x8x8\nconv2d c out=1 kernel=1 out=2\n", 1,
                    "t.net:3:25: error: key 'out' given twice\n"
                    " conv2d c out=1 kernel=1 out=2\n"
                    "                         ^~~\n"
                    "t.net:3:10: note: first given here\n"
                    " conv2d c out=1 kernel=1 out=2\n"
                    "          ^~~\n");
}

static void test_diag_name_used_twice(void **state)
{
    (void)state;
    /* the note points at the first definition; the input's name counts */
    expect_messages("network n\ninput x 1x8x8\nrelu a\nrelu a\nrelu x\n", 2,
                    "t.net:4:6: error: name 'a' is already used\n"
                    " relu a\n"
                    "      ^\n"
                    "t.net:3:6: note: 'a' was defined here\n"
                    " relu a\n"
                    "      ^\n"
                    "t.net:5:6: error: name 'x' is already used\n"
                    " relu x\n"
                    "      ^\n"
                    "t.net:2:7: note: 'x' was defined here\n"
                    " input x 1x8x8\n"
                    "       ^\n");
    /* an auto-name can clash with an explicit one */
    expect_error("network n\ninput x 1x8x8\nrelu relu_2\nrelu\n", "t.net:4:1: error: name 'relu_2' is already used\n");
}

static void test_diag_from_names_nothing_before(void **state)
{
    (void)state;
    /* a name defined later, a name never defined, the layer itself */
    expect_messages("network n\ninput x 1x8x8\nrelu a from=b\nrelu b from=nothing\nrelu c from=c\n", 3,
                    "t.net:3:13: error: from= names 'b', but no layer of that name comes before 'a'\n"
                    " relu a from=b\n"
                    "             ^\n"
                    "t.net:4:13: error: from= names 'nothing', but no layer of that name comes before 'b'\n"
                    " relu b from=nothing\n"
                    "             ^~~~~~~\n"
                    "t.net:5:13: error: layer 'c' cannot read its own output\n"
                    " relu c from=c\n"
                    "             ^\n");
    /* each unknown name of a list is reported */
    expect_messages("network n\ninput x 1x8x8\nconcat f from=x,zz,yy\n", 2,
                    "t.net:3:17: error: from= names 'zz', but no layer of that name comes before 'f'\n"
                    " concat f from=x,zz,yy\n"
                    "                 ^~\n"
                    "t.net:3:20: error: from= names 'yy', but no layer of that name comes before 'f'\n"
                    " concat f from=x,zz,yy\n"
                    "                    ^~\n");
}

static void test_diag_from_count(void **state)
{
    (void)state;
    expect_error("network n\ninput x 1x8x8\nadd d from=x\n",
                 "t.net:3:12: error: add needs at least two inputs, as in 'from=a,b'\n");
    expect_error("network n\ninput x 1x8x8\nrelu e from=x,x\n",
                 "t.net:3:13: error: relu takes one input, but from= names 2\n"
                 " relu e from=x,x\n"
                 "             ^~~\n");
}

static void test_diag_kernel_does_not_fit(void **state)
{
    (void)state;
    expect_messages("network n\ninput x 3x8x8\nconv2d a out=4 kernel=9\n", 1,
                    "t.net:3:16: error: kernel 9x9 does not fit the 3x8x8 input of 'a' padded to 8x8; use a smaller "
                    "kernel or more padding\n"
                    " conv2d a out=4 kernel=9\n"
                    "                ^~~~~~\n");
    /* dilated: 5 taps 2 apart span 9 */
    expect_error("network n\ninput x 3x8x8\nconv2d b out=4 kernel=5 dilation=2\n",
                 "t.net:3:16: error: kernel 5x5 (dilated) does not fit the 3x8x8 input of 'b' padded to 8x8;");
    /* padding counts: 8+2 rows fit 9, but 8 columns do not */
    expect_error("network n\ninput x 3x8x8\nconv2d c out=4 kernel=9 padding=1x0\n",
                 "t.net:3:16: error: kernel 9x9 does not fit the 3x8x8 input of 'c' padded to 10x8;");
    expect_error("network n\ninput x 3x8x8\nmaxpool2d d kernel=3x9\n",
                 "t.net:3:13: error: kernel 3x9 does not fit the 3x8x8 input of 'd' padded to 8x8;");
    /* deeper in a network: the input of the layer, not the network's */
    expect_error("network n\ninput x 1x28x28\nconv2d a out=2 kernel=5\nmaxpool2d p kernel=2\n"
                 "conv2d b out=2 kernel=13\n",
                 "t.net:5:16: error: kernel 13x13 does not fit the 2x12x12 input of 'b' padded to 12x12;");
}

static void test_diag_pool_padding_limits(void **state)
{
    (void)state;
    expect_messages("network n\ninput x 1x8x8\nmaxpool2d a kernel=3 padding=2\n", 1,
                    "t.net:3:22: error: maxpool2d padding 2x2 is more than half the kernel 3x3, which PyTorch "
                    "rejects\n"
                    " maxpool2d a kernel=3 padding=2\n"
                    "                      ^~~~~~~\n");
    expect_error("network n\ninput x 1x8x8\navgpool2d b kernel=2x4 padding=1x3\n",
                 "t.net:3:24: error: avgpool2d padding 1x3 is more than half the kernel 2x4, which PyTorch rejects\n");
    /* asymmetric: the last window would lie wholly in the padding */
    expect_error("network n\ninput x 1x8x8\nmaxpool2d f kernel=2 padding=0,3,0,0\n",
                 "t.net:3:22: error: maxpool2d padding 0,3,0,0 is more than half the kernel 2x2, which PyTorch "
                 "rejects\n");
    /* reflect needs padding < size, circular padding <= size (as PyTorch) */
    expect_error("network n\ninput x 1x8x8\nconv2d c out=1 kernel=3 padding=8 padding_mode=reflect\n",
                 "t.net:3:35: error: reflect padding of 8 needs an input larger than 8 along H, but 'c' gets 8\n");
    expect_error("network n\ninput x 1x8x8\nconv2d d out=1 kernel=3 padding=9,0,0,0 padding_mode=circular\n",
                 "t.net:3:41: error: circular padding of 9 needs an input no smaller than 9 along H, but 'd' gets 8\n");
    Compiled *c = tu_compile("network n\ninput x 1x8x8\nconv2d e out=1 kernel=3 padding=8 padding_mode=circular\n"
                             "conv2d f out=1 kernel=3 padding=7 padding_mode=reflect from=x\noutput e f\n");
    assert_int_equal(c->errors, 0);
    tu_free(c);
}

static void test_diag_groups_must_divide(void **state)
{
    (void)state;
    expect_messages("network n\ninput x 6x8x8\nconv2d a out=4 kernel=1 groups=3\n", 1,
                    "t.net:3:25: error: groups=3 must divide both the input channels (6) and out (4) of 'a'\n"
                    " conv2d a out=4 kernel=1 groups=3\n"
                    "                         ^~~~~~\n");
    expect_error("network n\ninput x 6x8x8\nconv2d b out=8 kernel=1 groups=4\n",
                 "groups=4 must divide both the input channels (6) and out (8) of 'b'");
}

static void test_diag_linear_needs_flatten(void **state)
{
    (void)state;
    expect_messages("network n\ninput x 6x8x8\nconv2d c out=2 kernel=3\nlinear a out=4\n", 1,
                    "t.net:4:1: error: linear 'a' needs a flattened input (Nx1x1), but 'c' is 2x6x6; add 'flatten' "
                    "before it\n"
                    " linear a out=4\n"
                    " ^~~~~~\n");
}

static void test_diag_add_concat_shape_mismatch(void **state)
{
    (void)state;
    const char src[] = "network n\ninput x 2x8x8\n"
                       "conv2d a out=4 kernel=1\n"
                       "conv2d b out=2 kernel=1 from=x\n"
                       "add s from=a,b\n"
                       "conv2d c out=4 kernel=3 from=x\n"
                       "concat t from=a,c\n"
                       "concat u from=a,b\n"
                       "add v from=a,a,c\n"
                       "output s t u v\n";
    expect_messages(src, 3,
                    "t.net:5:14: error: add 's': 'b' is 2x8x8 but 'a' is 4x8x8; add needs equal shapes\n"
                    " add s from=a,b\n"
                    "              ^\n"
                    "t.net:7:17: error: concat 't': 'c' is 4x6x6 but 'a' is 4x8x8; concat needs equal H and W\n"
                    " concat t from=a,c\n"
                    "                 ^\n"
                    "t.net:9:16: error: add 'v': 'c' is 4x6x6 but 'a' is 4x8x8; add needs equal shapes\n"
                    " add v from=a,a,c\n"
                    "                ^\n");
}

static void test_diag_integer_too_large(void **state)
{
    (void)state;
    expect_error("network n\ninput x 1x8x8\nconv2d a out=99999999999999999999 kernel=1\n",
                 "t.net:3:14: error: integer '99999999999999999999' is too large\n");
    expect_error("network n\ninput x 1x99999999999999999999x1\nrelu\n",
                 "t.net:2:9: error: integer in '1x99999999999999999999x1' is too large\n");
    expect_error("network n\ninput x 1x8x8\nconv2d a out=1 kernel=3x99999999999999999999\n",
                 "t.net:3:23: error: integer in '3x99999999999999999999' is too large\n");
    expect_error("network n\ninput x 1x8x8\nconv2d a out=1 kernel=3 padding=1,1,1,99999999999999999999\n",
                 "t.net:3:39: error: integer '99999999999999999999' is too large\n");
}

static void test_diag_sizes_overflow(void **state)
{
    (void)state;
    /* 1e8^3 values: the input alone needs 4e24 bytes */
    expect_messages("network n\ninput x 100000000x100000000x100000000\nrelu\n", 1,
                    "t.net:2:1: error: input size overflows\n"
                    " input x 100000000x100000000x100000000\n"
                    " ^~~~~\n");
    /* 3e18 channels of 4 bytes; 2^62 * 2 values; padded span 1 + 2^63;
     * dilation 2^62 * (3-1) */
    const char src[] = "network n\ninput x 1x1x1\n"
                       "conv2d a out=3000000000000000000 kernel=1 bias=false\n"
                       "conv2d b out=4611686018427387904 kernel=1 bias=false from=x\n"
                       "conv2d c out=4 kernel=4611686018427387904 padding=4611686018427387904 from=x\n"
                       "conv2d d out=4 kernel=3 dilation=4611686018427387904 from=x\n"
                       "output a b c d\n";
    Compiled *c = tu_compile(src);
    assert_int_equal(c->errors, 4);
    const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        char want[128];
        snprintf(want, sizeof want, "t.net:%d:8: error: sizes of '%s' overflow 64-bit arithmetic; the model is far "
                 "too large\n", 3 + i, names[i]);
        assert_contains(c->messages, want);
    }
    tu_free(c);
    /* each layer fits, the totals do not: 2 * 2e18 params (8e18 bytes of
     * each tensor, 1.6e19 bytes together) */
    expect_messages("network n\ninput x 1x1x1\nconv2d a out=2000000000000000000 kernel=1 bias=false\n"
                    "conv2d b out=2000000000000000000 kernel=1 bias=false from=x\noutput a b\n",
                    2,
                    "t.net:1:9: error: total parameters or MACs of 'n' overflow 64-bit arithmetic\n"
                    " network n\n"
                    "         ^\n"
                    "t.net:1:9: error: activations of 'n' total more bytes than 64-bit arithmetic holds; the model is "
                    "far too large\n"
                    " network n\n"
                    "         ^\n");
    /* params fit (2e18), but a, b and their concat (4e18 + 4e18 + 8e18
     * bytes) are live together: the arena could not be sized */
    expect_messages("network n\ninput x 1x1x1\nconv2d a out=1000000000000000000 kernel=1 bias=false\n"
                    "conv2d b out=1000000000000000000 kernel=1 bias=false from=x\nconcat c from=a,b\n"
                    "maxpool2d p kernel=1\n",
                    1,
                    "t.net:1:9: error: activations of 'n' total more bytes than 64-bit arithmetic holds; the model is "
                    "far too large\n"
                    " network n\n"
                    "         ^\n");
}

static void test_diag_statement_errors(void **state)
{
    (void)state;
    expect_messages("input x 1x8x8\nnetwork n\nnetwork m\ninput y 1x8x8\nrelu\noutput relu_1\noutput relu_1\n", 4,
                    "t.net:2:1: error: 'network NAME' must be the first statement\n"
                    " network n\n"
                    " ^~~~~~~\n"
                    "t.net:3:1: error: 'network' given twice\n"
                    " network m\n"
                    " ^~~~~~~\n"
                    "t.net:2:9: note: first given here\n"
                    " network n\n"
                    "         ^\n"
                    "t.net:4:1: error: a network has one input; this is the second\n"
                    " input y 1x8x8\n"
                    " ^~~~~\n"
                    "t.net:1:1: note: the first is here\n"
                    " input x 1x8x8\n"
                    " ^~~~~\n"
                    "t.net:7:1: error: 'output' given twice; list every output in one statement\n"
                    " output relu_1\n"
                    " ^~~~~~\n"
                    "t.net:6:1: note: first given here\n"
                    " output relu_1\n"
                    " ^~~~~~\n");
    expect_error("network n\ninput x 1x8x8\nrelu a\noutput a x zz a\n",
                 "t.net:4:10: error: the input cannot be an output; add a layer after it\n");
    expect_error("network n\ninput x 1x8x8\nrelu a\noutput a x zz a\n",
                 "t.net:4:12: error: output names 'zz', but no layer has that name\n");
    expect_error("network n\ninput x 1x8x8\nrelu a\noutput a x zz a\n",
                 "t.net:4:15: error: 'a' is named twice in output\n");
    expect_error("network a.b\ninput x 1x4x4\nrelu\n",
                 "t.net:1:9: error: network name 'a.b' must be a C identifier (letters, digits, _): it prefixes every "
                 "generated symbol\n");
    expect_error("input x 1x4x4\nrelu\n", "t.net:1:1: error: missing 'network NAME' as the first statement\n");
    expect_error("network n\nrelu\n", "t.net:1:1: error: missing 'input [NAME] CxHxW', as in 'input x 1x32x32'\n");
    expect_error("network n\nrelu\ninput x 1x4x4\n",
                 "t.net:2:1: error: layer 'relu_1' comes before 'input'; declare the input first, as in 'input x "
                 "1x32x32'\n");
    expect_error("network n\nrelu\ninput x 1x4x4\n", "t.net:3:1: error: 'input' must come before the layers\n");
    expect_error("network n\ninput x 1x2x8x8\nrelu\n", "t.net:2:9: error: input shape must be CxHxW, or CxL for a "
                 "1-D network, as in 1x32x32 or 40x49, got '1x2x8x8'\n");
    expect_error("network n\ninput x 0x8x8\nrelu\n", "t.net:2:9: error: input sizes must be at least 1, got '0x8x8'\n");
    expect_error("network n\ninput x 1x8x8\n", "t.net:2:1: error: the network has no layers after its input\n");
}

static void test_diag_syntax_errors(void **state)
{
    (void)state;
    const char src[] = "network\ninput x\noutput\nconv2d c1 c2 out=4\nconv2d out=4 c1\nadd a from=x,\n"
                       "relu r @\nnetwork n-1\n";
    Compiled *c = tu_compile(src);
    static const char *const want[] = {
        "t.net:1:8: error: unexpected end of line; expected a network name, as in 'network lenet5'\n"
        " network\n"
        "        ^\n",
        "t.net:2:8: error: unexpected end of line; expected 'input [NAME] CxHxW', as in 'input x 1x32x32'\n",
        "t.net:3:7: error: unexpected end of line; expected the names of the tensors to return, as in 'output f7'\n",
        "t.net:4:11: error: unexpected name; expected key=value after the layer's name, as in 'conv2d c1 out=6 "
        "kernel=5'\n"
        " conv2d c1 c2 out=4\n"
        "           ^~\n",
        "t.net:5:14: error: unexpected name; expected a layer name or key=value, as in 'conv2d c1 out=6 kernel=5'\n",
        "t.net:6:14: error: unexpected end of line; expected key=value after the layer's name",
        "t.net:7:8: error: unexpected character '@'\n",
        "t.net:8:10: error: unexpected integer, expecting end of line\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_contains(c->messages, want[i]);
    tu_free(c);
}

static void test_diag_several_errors_in_source_order(void **state)
{
    (void)state;
    /* five independent mistakes, found by three phases (parse, ir,
     * analyze), each reported once, in line order */
    const char src[] = "network n\n"
                       "input x 3x8x8\n"
                       "conv2d a out=4 kernel=9 from=x\n"  /* analyze */
                       "relu b from=x oops\n"              /* parse */
                       "convv c out=4 kernel=3 from=x\n"   /* ir */
                       "conv2d d out=4 kernel=3 groups=2 from=x\n"
                       "relu e from=x\n"
                       "linear f out=2 from=x\n"
                       "output e\n";
    Compiled *c = tu_compile(src);
    assert_int_equal(c->errors, 5);
    const char *at[] = {"t.net:3:16: error:", "t.net:4:15: error:", "t.net:5:1: error:", "t.net:6:25: error:",
                        "t.net:8:1: error:"};
    const char *prev = c->messages;
    for (int i = 0; i < 5; i++) {
        const char *p = strstr(c->messages, at[i]);
        if (!p || p < prev)
            fail_msg("'%s' missing or out of order in:\n%s", at[i], c->messages);
        prev = p;
    }
    tu_free(c);
}

static void test_diag_no_cascade(void **state)
{
    (void)state;
    /* a broken layer is reported once: the layers reading it (directly or
     * through others, through add and linear) say nothing more */
    const char src[] = "network n\ninput x 3x8x8\n"
                       "conv2d a out=4 kernel=3 strid=2\n"
                       "relu\n"
                       "conv2d b out=4 kernel=3\n"
                       "add s from=b,b\n"
                       "flatten\n"
                       "linear out=2\n"
                       "convv\n"
                       "relu\n"
                       "add t from=relu_2,relu_2\n";
    Compiled *c = tu_compile(src);
    assert_int_equal(c->errors, 2);
    assert_int_equal(c->warnings, 0);
    assert_contains(c->messages, "t.net:3:25: error: conv2d has no key 'strid'; did you mean 'stride'?\n");
    assert_contains(c->messages, "t.net:9:1: error: unknown op 'convv'; did you mean 'conv2d'?\n");
    tu_free(c);
}

/* ---- tests/golden/diag: cnnc's stderr byte for byte ---- */

static void test_diag_golden_files(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob("tests/golden/diag/*.net", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 10);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *net = g.gl_pathv[i];
        char errpath[512], cmd[1100];
        snprintf(errpath, sizeof errpath, "%.*s.err", (int)(strlen(net) - 4), net);
        char *want = tu_read_file(errpath, NULL);
        /* stderr only; stdout must stay empty under --check */
        snprintf(cmd, sizeof cmd, "build/cnnc --check %s 2>&1 >/dev/null", net);
        char *got = NULL;
        int status = tu_run(cmd, &got);
        if (strcmp(got, want) != 0)
            fail_msg("%s: cnnc printed:\n%s\nexpected (%s):\n%s", net, got, errpath, want);
        /* exit 1 when there is an error, 0 with warnings only */
        assert_int_equal(status, strstr(want, ": error: ") ? 1 : 0);
        snprintf(cmd, sizeof cmd, "build/cnnc --check %s 2>/dev/null", net);
        char *out = NULL;
        tu_run(cmd, &out);
        assert_string_equal(out, "");
        free(out);
        free(got);
        free(want);
    }
    globfree(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag_format_and_caret),
        cmocka_unit_test(test_diag_source_order_with_notes),
        cmocka_unit_test(test_diag_tabs_and_control_bytes),
        cmocka_unit_test(test_diag_tildes_stop_at_line_end),
        cmocka_unit_test(test_diag_file_warning),
        cmocka_unit_test(test_diag_unknown_op),
        cmocka_unit_test(test_diag_unknown_key),
        cmocka_unit_test(test_diag_missing_required_key),
        cmocka_unit_test(test_diag_value_of_wrong_kind),
        cmocka_unit_test(test_diag_key_given_twice),
        cmocka_unit_test(test_diag_name_used_twice),
        cmocka_unit_test(test_diag_from_names_nothing_before),
        cmocka_unit_test(test_diag_from_count),
        cmocka_unit_test(test_diag_kernel_does_not_fit),
        cmocka_unit_test(test_diag_pool_padding_limits),
        cmocka_unit_test(test_diag_groups_must_divide),
        cmocka_unit_test(test_diag_linear_needs_flatten),
        cmocka_unit_test(test_diag_add_concat_shape_mismatch),
        cmocka_unit_test(test_diag_integer_too_large),
        cmocka_unit_test(test_diag_sizes_overflow),
        cmocka_unit_test(test_diag_statement_errors),
        cmocka_unit_test(test_diag_syntax_errors),
        cmocka_unit_test(test_diag_several_errors_in_source_order),
        cmocka_unit_test(test_diag_no_cascade),
        cmocka_unit_test(test_diag_golden_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
