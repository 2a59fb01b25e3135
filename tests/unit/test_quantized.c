/* test_quantized.c: models that bring their own interface and int8
 * quantization (docs/language.md, "Imported models"): the layout=,
 * dtype=, scale= and zero_point= keys and their errors, int8 weights
 * files, the constants quant_import derives (TFLite's), and HWC inputs
 * and outputs computing exactly what the CHW model computes, in float
 * and in int8, at no arena cost where the arena has room. */
#include "testutil.h"


#include <math.h>
#include <sys/stat.h>

#define DIR "build/tests/quantized"
#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"

/* A tensor for write_safetensors: name, dtype, shape, little-endian bytes. */
typedef struct Tensor {
    const char *name, *dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
    size_t bytes;
} Tensor;

/* A safetensors file of any dtypes, by hand: the format is a JSON header. */
static void write_safetensors(const char *path, const Tensor *t, int n)
{
    char header[4096];
    size_t o = 0, off = 0;
    o += (size_t)snprintf(header + o, sizeof header - o, "{");
    for (int i = 0; i < n; i++) {
        o += (size_t)snprintf(header + o, sizeof header - o, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                              t[i].name, t[i].dtype);
        for (int k = 0; k < t[i].ndim; k++)
            o += (size_t)snprintf(header + o, sizeof header - o, "%s%lld", k ? "," : "", (long long)t[i].shape[k]);
        o += (size_t)snprintf(header + o, sizeof header - o, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].bytes);
        off += t[i].bytes;
    }
    o += (size_t)snprintf(header + o, sizeof header - o, "}");
    while ((8 + o) % 8)
        header[o++] = ' ';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t len = o;
    unsigned char le[8];
    for (int k = 0; k < 8; k++)
        le[k] = (unsigned char)(len >> (8 * k));
    fwrite(le, 1, 8, f);
    fwrite(header, 1, o, f);
    for (int i = 0; i < n; i++)
        fwrite(t[i].data, 1, t[i].bytes, f);
    fclose(f);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A small imported int8 model: conv + relu, avgpool, linear, softmax,
 * its input in layout `layout` (CHW or HWC). */
static const char *model_text(const char *name, const char *layout)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "network %s\n"
             "input x 3x6x5 layout=%s scale=0.0235 zero_point=-5\n"
             "conv2d c1 out=4 kernel=3 padding=same scale=0.05 zero_point=-20\n"
             "relu\n"
             "conv2d c2 out=4 kernel=3 stride=2 padding=1 scale=0.04 zero_point=3\n"
             "avgpool2d p kernel=3x3 count_include_pad=false\n"
             "flatten\n"
             "linear fc out=5 scale=0.1 zero_point=3\n"
             "softmax sm scale=0.00390625 zero_point=-128\n",
             name, layout);
    return buf;
}

/* Its weights: int8, per-channel scales for the convs, one for the linear. */
static void write_model_weights(const char *path)
{
    static int8_t w1[4 * 3 * 9], w2[4 * 4 * 9], wf[5 * 4];
    static int32_t b1[4], b2[4], bf[5];
    static float s1[4], s2[4], sf[1] = {0.0125f};
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof w1; i++)
        w1[i] = (int8_t)((r = r * 1103515245u + 12345u) >> 24) % 127;
    for (size_t i = 0; i < sizeof w2; i++)
        w2[i] = (int8_t)((r = r * 1103515245u + 12345u) >> 24) % 127;
    for (size_t i = 0; i < sizeof wf; i++)
        wf[i] = (int8_t)((r = r * 1103515245u + 12345u) >> 24) % 127;
    for (int c = 0; c < 4; c++) {
        s1[c] = 0.004f + 0.001f * (float)c;
        s2[c] = 0.003f + 0.002f * (float)c;
        b1[c] = 100 * c - 150;
        b2[c] = -40 * c + 20;
    }
    for (int c = 0; c < 5; c++)
        bf[c] = 30 * c - 60;
    Tensor t[] = {
        {"c1.weight", "I8", 4, {4, 3, 3, 3}, w1, sizeof w1},  {"c1.weight_scale", "F32", 1, {4}, s1, sizeof s1},
        {"c1.bias", "I32", 1, {4}, b1, sizeof b1},            {"c2.weight", "I8", 4, {4, 4, 3, 3}, w2, sizeof w2},
        {"c2.weight_scale", "F32", 1, {4}, s2, sizeof s2},     {"c2.bias", "I32", 1, {4}, b2, sizeof b2},
        {"fc.weight", "I8", 2, {5, 4}, wf, sizeof wf},          {"fc.weight_scale", "F32", 1, {1}, sf, sizeof sf},
        {"fc.bias", "I32", 1, {5}, bf, sizeof bf},
    };
    write_safetensors(path, t, (int)(sizeof t / sizeof t[0]));
}

/* Compiles src as t.net with the weights file bound and quant_import run. */
static Compiled *import_compile(const char *src, const char *weights)
{
    Compiled *c = tu_compile(src);
    if (c->errors)
        return c;
    free(c->messages); /* the compile's (empty) messages give way to the import's */
    c->messages = NULL;
    FILE *out = open_memstream(&c->messages, &c->messages_len);
    assert_non_null(out);
    c->diag.out = out;
    bool ok = weights_load(&c->mem, &c->diag, c->net, weights) && quant_import(&c->mem, &c->diag, c->net);
    diag_flush(&c->diag);
    fclose(out);
    c->errors = c->diag.errors + !ok;
    return c;
}

static int setup(void **state)
{
    (void)state;
    mkdir("build/tests", 0777);
    mkdir(DIR, 0777);
    write_model_weights(DIR "/m.safetensors");
    return 0;
}

/* The keys land where the back ends look for them. */
static void test_quantized_keys(void **state)
{
    (void)state;
    Compiled *c = tu_compile(model_text("m", "hwc"));
    assert_int_equal(c->errors, 0);
    Net *net = c->net;
    assert_true(net->hwc && net->quantized && !net->float_io);
    assert_true(net->input->qgiven && net->input->qscale == 0.0235f && net->input->qzero == -5);
    Layer *relu = tu_layer(c, "relu_1");
    assert_false(relu->qgiven);
    assert_true(tu_layer(c, "c2")->qgiven && tu_layer(c, "c2")->qzero == 3);
    tu_free(c);
    c = tu_compile("network f\ninput x 1x4x4 layout=chw dtype=float32\nrelu\n");
    assert_int_equal(c->errors, 0);
    assert_true(!c->net->hwc && !c->net->quantized && c->net->float_io);
    tu_free(c);
}

/* Each misuse gets its own message at the culprit. */
static void test_quantized_key_errors(void **state)
{
    (void)state;
    static const struct {
        const char *src, *message;
    } cases[] = {
        {"network a\ninput x 1x4x4 layout=nhwc\nrelu\n", "t.net:2:22: error: layout expects chw or hwc, got 'nhwc'"},
        {"network a\ninput x 1x4x4 dtype=int16\nrelu\n", "t.net:2:21: error: dtype expects int8 or float32, got 'int16'"},
        {"network a\ninput x 1x4x4 dtype=int8\nrelu\n",
         "t.net:2:15: error: dtype=int8 is for int8 models: give the input's scale= and zero_point= too"},
        {"network a\ninput x 1x4x4\nrelu scale=0.5 zero_point=0\n",
         "t.net:3:6: error: scale= and zero_point= are for int8 models, whose input gives them too"},
        {"network a\ninput x 1x4x4 scale=0.5\nrelu\n",
         "t.net:2:15: error: scale= needs zero_point= beside it: an int8 tensor has both"},
        {"network a\ninput x 1x4x4 scale=0.5 zero_point=200\nrelu\n",
         "t.net:2:36: error: zero_point expects an integer from -128 to 127, got '200'"},
        {"network a\ninput x 1x4x4 scale=-1 zero_point=0\nrelu\n",
         "t.net:2:21: error: scale must be a positive number that fits a float, got '-1'"},
        {"network a\ninput x 1x4x4 scale=1e60 zero_point=0\nrelu\n",
         "t.net:2:21: error: scale must be a positive number that fits a float, got '1e60'"},
        {"network a\ninput x 1x4x4\nconv2d c out=1 kernel=1 layout=hwc\n", "t.net:3:25: error: layout= describes the caller's buffers: it goes on the input statement"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Compiled *c = tu_compile(cases[i].src);
        if (c->errors == 0 || !strstr(c->messages, cases[i].message))
            fail_msg("case %zu: expected '%s' in:\n%s", i, cases[i].message, c->messages);
        tu_free(c);
    }
}

/* Multipliers are TFLite's: in_scale * weight_scale / out_scale in double,
 * per channel; params pass through pools, relu and flatten; a fused relu
 * narrows the conv's clamp to the zero point. */
static void test_quantized_constants(void **state)
{
    (void)state;
    Compiled *c = import_compile(model_text("m", "chw"), DIR "/m.safetensors");
    if (c->errors)
        fail_msg("%s", c->messages);
    const Layer *c1 = tu_layer(c, "c1"), *c2 = tu_layer(c, "c2");
    for (int k = 0; k < 4; k++) {
        int32_t mult, shift;
        quant_multiplier((double)0.0235f * (double)(0.004f + 0.001f * (float)k) / (double)0.05f, &mult, &shift);
        assert_int_equal(c1->quant->mult[k], mult);
        assert_int_equal(c1->quant->shift[k], shift);
        assert_int_equal(c1->quant->bias[k], 100 * k - 150);
    }
    assert_int_equal(c1->quant->act_min, -20); /* the relu: real 0 */
    assert_true(tu_layer(c, "relu_1")->quant->kind == QK_FUSED);
    assert_true(c2->quant->weight_scale[3] == 0.003f + 0.002f * 3.0f);
    const Layer *p = tu_layer(c, "p"), *fc = tu_layer(c, "fc");
    assert_true(p->quant->out.scale == 0.04f && p->quant->out.zero_point == 3);
    assert_true(fc->quant->weight_scale[4] == 0.0125f); /* one scale for every channel */
    /* the float weights they stand for, for the float interpreter */
    assert_true(fc->tensor[0][0] == (float)(0.0125 * fc->quant->weight[0]));
    tu_free(c);
}

/* TFLite's rules for params, and weights of the wrong dtype, are errors. */
static void test_quantized_rules(void **state)
{
    (void)state;
    const char *pool = "network a\ninput x 2x4x4 scale=0.5 zero_point=0\nmaxpool2d p kernel=2 scale=0.25 zero_point=0\n";
    Compiled *c = import_compile(pool, DIR "/m.safetensors");
    assert_non_null(strstr(c->messages, "int8 maxpool2d 'p' must keep its input's scale and zero point"));
    tu_free(c);
    const char *sm = "network a\ninput x 4x1x1 scale=0.5 zero_point=0\nsoftmax s scale=0.5 zero_point=0\n";
    c = import_compile(sm, DIR "/m.safetensors");
    assert_non_null(strstr(c->messages, "int8 softmax 's' must have scale 0.00390625 and zero point -128"));
    tu_free(c);
    const char *bn = "network a\ninput x 2x4x4 scale=0.5 zero_point=0\nbatchnorm2d b\n";
    float ones[2] = {1, 1};
    Tensor t[] = {{"b.weight", "F32", 1, {2}, ones, 8}, {"b.bias", "F32", 1, {2}, ones, 8},
                  {"b.running_mean", "F32", 1, {2}, ones, 8}, {"b.running_var", "F32", 1, {2}, ones, 8}};
    write_safetensors(DIR "/bn.safetensors", t, 4);
    c = import_compile(bn, DIR "/bn.safetensors");
    assert_non_null(strstr(c->messages, "batchnorm2d 'b' has no int8 form of its own"));
    tu_free(c);
    /* float weights where int8 ones belong */
    const char *conv = "network a\ninput x 1x4x4 scale=0.5 zero_point=0\nconv2d c out=1 kernel=1 bias=false\n";
    float w[1] = {0.5f};
    Tensor f[] = {{"c.weight", "F32", 4, {1, 1, 1, 1}, w, 4}, {"c.weight_scale", "F32", 1, {1}, w, 4}};
    write_safetensors(DIR "/f.safetensors", f, 2);
    c = import_compile(conv, DIR "/f.safetensors");
    assert_non_null(
        strstr(c->messages, "tensor 'c.weight' has dtype F32, but conv2d 'c' (line 3) of an int8 model needs I8"));
    tu_free(c);
    int8_t q[1] = {3};
    Tensor g[] = {{"c.weight", "I8", 4, {1, 1, 1, 1}, q, 1}};
    write_safetensors(DIR "/g.safetensors", g, 1);
    c = import_compile(conv, DIR "/g.safetensors");
    assert_non_null(strstr(c->messages, "tensor 'c.weight_scale' is missing; int8 conv2d 'c' (line 3) needs F32 "
                                        "weight_scale of shape [1] or [1]"));
    tu_free(c);
}

/* A whole program around NAME_run: reads inputs (int8 or float, count of
 * them) from argv[1], writes the outputs to argv[2]. */
static void write_driver(const char *path, const char *name, const char *type, long long in_n, long long out_n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "#include <stdio.h>\n#include <stdint.h>\n#include \"%s.h\"\n"
            "static %s in[%lld], out[%lld];\n"
            "int main(int argc, char **argv)\n{\n    FILE *fi = fopen(argv[1], \"rb\"), *fo = fopen(argv[2], \"wb\");\n"
            "    (void)argc;\n    if (!fi || !fo)\n        return 2;\n"
            "    while (fread(in, sizeof in, 1, fi) == 1) {\n        %s_run(in, out);\n"
            "        fwrite(out, sizeof out, 1, fo);\n    }\n    fclose(fi);\n    return fclose(fo) != 0;\n}\n",
            name, type, in_n, out_n, name);
    fclose(f);
}

/* cnnc on DIR/name.net (with weights, or opts), then the strict build of
 * the code and its driver. */
static void generate_and_build(const char *name, const char *opts, const char *type, long long in_n, long long out_n)
{
    char cmd[1024], path[256];
    snprintf(cmd, sizeof cmd, "build/cnnc " DIR "/%1$s.net %2$s -o " DIR "/%1$s.c 2>&1", name, opts);
    free(tu_run_expect(cmd, 0));
    snprintf(path, sizeof path, DIR "/%s_main.c", name);
    write_driver(path, name, type, in_n, out_n);
    snprintf(cmd, sizeof cmd, "cc " STRICT " -O2 -Iruntime -I" DIR " " DIR "/%1$s.c " DIR "/%1$s_main.c "
             "runtime/cnnc_rt.c -lm -o " DIR "/%1$s 2>&1", name);
    free(tu_run_expect(cmd, 0));
}

/* Runs DIR/name on DIR/inputs; returns the outputs (malloc'd). */
static unsigned char *run_program(const char *name, const char *inputs, size_t *n)
{
    char cmd[512], out[256];
    snprintf(out, sizeof out, DIR "/%s.out", name);
    snprintf(cmd, sizeof cmd, DIR "/%s %s %s 2>&1", name, inputs, out);
    free(tu_run_expect(cmd, 0));
    return (unsigned char *)tu_read_file(out, n);
}

/* Writes count inputs of CHW elements of size `size` (random bytes from
 * a fixed seed, or floats in [-1, 1)) to chw_path and the same inputs in
 * HWC order to hwc_path. */
static void write_inputs(const char *chw_path, const char *hwc_path, Shape s, int count, bool floats)
{
    FILE *a = fopen(chw_path, "wb"), *b = fopen(hwc_path, "wb");
    assert_true(a && b);
    int64_t hw = s.h * s.w, n = s.c * hw;
    size_t size = floats ? 4 : 1;
    unsigned char *x = malloc((size_t)n * size), *y = malloc((size_t)n * size);
    assert_true(x && y);
    uint32_t r = 99;
    for (int k = 0; k < count; k++) {
        for (int64_t i = 0; i < n; i++) {
            r = r * 1664525u + 1013904223u;
            if (floats) {
                float v = (float)(r >> 8) / 8388608.0f - 1.0f;
                memcpy(x + i * 4, &v, 4);
            } else
                x[i] = (unsigned char)(r >> 24);
        }
        for (int64_t c = 0; c < s.c; c++)
            for (int64_t p = 0; p < hw; p++)
                memcpy(y + (p * s.c + c) * size, x + (c * hw + p) * size, size);
        fwrite(x, size, (size_t)n, a);
        fwrite(y, size, (size_t)n, b);
    }
    free(x);
    free(y);
    fclose(a);
    fclose(b);
}

/* The imported int8 model: the HWC build gives the CHW build's bytes, and
 * the CHW build gives the int8 reference's (compiler/qref.c). */
static void test_quantized_hwc_int8(void **state)
{
    (void)state;
    write_text(DIR "/qchw.net", model_text("qchw", "chw"));
    write_text(DIR "/qhwc.net", model_text("qhwc", "hwc"));
    generate_and_build("qchw", "-w " DIR "/m.safetensors", "int8_t", 90, 5);
    generate_and_build("qhwc", "-w " DIR "/m.safetensors", "int8_t", 90, 5);
    write_inputs(DIR "/qchw.in", DIR "/qhwc.in", (Shape){3, 6, 5}, 20, false);
    size_t na, nb;
    unsigned char *a = run_program("qchw", DIR "/qchw.in", &na), *b = run_program("qhwc", DIR "/qhwc.in", &nb);
    assert_int_equal(na, 20 * 5);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    /* the reference, on the same int8 inputs given as the floats they stand for */
    Compiled *c = import_compile(model_text("qchw", "chw"), DIR "/m.safetensors");
    assert_int_equal(c->errors, 0);
    size_t nin;
    unsigned char *in = (unsigned char *)tu_read_file(DIR "/qchw.in", &nin);
    float x[90];
    for (int k = 0; k < 20; k++) {
        for (int i = 0; i < 90; i++)
            x[i] = 0.0235f * (float)((int8_t)in[k * 90 + i] + 5);
        int8_t **t = qref_run(c->net, x);
        const Layer *o = c->net->outputs[0];
        for (int i = 0; i < 5; i++)
            if (t[o->index][i] != (int8_t)a[k * 5 + i])
                fail_msg("input %d output %d: generated %d, reference %d", k, i, (int8_t)a[k * 5 + i],
                         t[o->index][i]);
        qref_free(c->net, t);
    }
    free(in);
    free(a);
    free(b);
    tu_free(c);
}

/* --report on an imported int8 model gives the int8 code's memory, with
 * -o or without, and the header's figures. */
static void test_quantized_report_int8_memory(void **state)
{
    (void)state;
    write_text(DIR "/qr.net", model_text("qr", "chw"));
    generate_and_build("qr", "-w " DIR "/m.safetensors", "int8_t", 90, 5);
    char *h = tu_read_file(DIR "/qr.h", NULL);
    const char *at = strstr(h, "QR_ARENA_BYTES "), *k = strstr(h, "QR_CONST_BYTES ");
    assert_true(at && k);
    char want[128], n[32];
    snprintf(want, sizeof want, "arena %s B int8", report_thousands(atol(at + strlen("QR_ARENA_BYTES ")), n, sizeof n));
    char *out = tu_run_expect("build/cnnc " DIR "/qr.net -w " DIR "/m.safetensors --report 2>&1", 0);
    assert_non_null(strstr(out, "int8 memory of the generated code"));
    if (!strstr(out, want))
        fail_msg("no '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, "int8 constants %s B\n", report_thousands(atol(k + strlen("QR_CONST_BYTES ")), n, sizeof n));
    if (!strstr(out, want))
        fail_msg("no '%s' in:\n%s", want, out);
    free(out);
    out = tu_run_expect("build/cnnc " DIR "/qr.net -w " DIR "/m.safetensors --report=json 2>&1", 0);
    snprintf(want, sizeof want, "\"int8\": {\"arena_bytes\": %ld,", atol(at + strlen("QR_ARENA_BYTES ")));
    if (!strstr(out, want))
        fail_msg("no '%s' in:\n%s", want, out);
    free(out);
    free(h);
}

/* Float: a ResNet-style model takes its input HWC and gives the CHW
 * build's outputs bit for bit, in the same arena (the reordered input
 * fits where the later layers need more). */
static void test_quantized_hwc_float(void **state)
{
    (void)state;
    static const char body[] = "conv2d c1 out=8 kernel=3 padding=1\nrelu r1\n"
                               "conv2d c2 out=8 kernel=3 padding=1\nrelu\nconv2d c3 out=8 kernel=3 padding=1\n"
                               "add a from=c3,r1\nrelu\nconv2d d out=4 kernel=3 stride=2\n";
    char text[1024];
    snprintf(text, sizeof text, "network fchw\ninput x 3x9x9\n%s", body);
    write_text(DIR "/fchw.net", text);
    snprintf(text, sizeof text, "network fhwc\ninput x 3x9x9 layout=hwc\n%s", body);
    write_text(DIR "/fhwc.net", text);
    generate_and_build("fchw", "--init=random:7", "float", 243, 64);
    generate_and_build("fhwc", "--init=random:7", "float", 243, 64);
    write_inputs(DIR "/fchw.in", DIR "/fhwc.in", (Shape){3, 9, 9}, 3, true);
    size_t na, nb;
    unsigned char *a = run_program("fchw", DIR "/fchw.in", &na), *b = run_program("fhwc", DIR "/fhwc.in", &nb);
    assert_int_equal(na, 3 * 64 * 4);
    assert_int_equal(na, nb);
    /* the spatial output comes back HWC: compare it reordered */
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 4; c++)
            for (int p = 0; p < 16; p++)
                assert_memory_equal(a + (size_t)(k * 64 + c * 16 + p) * 4, b + (size_t)(k * 64 + p * 4 + c) * 4, 4);
    free(a);
    free(b);
    char *ha = tu_read_file(DIR "/fchw.h", NULL), *hb = tu_read_file(DIR "/fhwc.h", NULL);
    const char *sa = strstr(ha, "FCHW_ARENA_BYTES "), *sb = strstr(hb, "FHWC_ARENA_BYTES ");
    assert_true(sa && sb);
    assert_int_equal(atol(sa + strlen("FCHW_ARENA_BYTES ")), atol(sb + strlen("FHWC_ARENA_BYTES ")));
    assert_non_null(strstr(hb, "float32 HWC"));
    free(ha);
    free(hb);
}

/* dtype=float32: a float interface around int8 inside, and no option
 * that would quantize again. */
static void test_quantized_float_io(void **state)
{
    (void)state;
    char text[1024];
    snprintf(text, sizeof text, "%s", model_text("qf", "chw"));
    char *at = strstr(text, "zero_point=-5");
    memmove(at + strlen("zero_point=-5 dtype=float32"), at + strlen("zero_point=-5"),
            strlen(at + strlen("zero_point=-5")) + 1);
    memcpy(at, "zero_point=-5 dtype=float32", strlen("zero_point=-5 dtype=float32"));
    write_text(DIR "/qf.net", text);
    generate_and_build("qf", "-w " DIR "/m.safetensors", "float", 90, 5);
    char *h = tu_read_file(DIR "/qf.h", NULL);
    assert_non_null(strstr(h, "void qf_run(const float *input, float *output);"));
    assert_non_null(strstr(h, "#define QF_INPUT_SCALE 0.0234999992f"));
    free(h);
    char *out = tu_run_expect("build/cnnc " DIR "/qf.net -w " DIR "/m.safetensors --quantize=int8 --calibrate "
                              DIR "/qchw.in -o " DIR "/qf2.c 2>&1", 1);
    assert_non_null(strstr(out, "the model is int8 already"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantized_keys),         cmocka_unit_test(test_quantized_key_errors),
        cmocka_unit_test(test_quantized_constants),    cmocka_unit_test(test_quantized_rules),
        cmocka_unit_test(test_quantized_hwc_int8),     cmocka_unit_test(test_quantized_hwc_float),
        cmocka_unit_test(test_quantized_float_io),     cmocka_unit_test(test_quantized_report_int8_memory),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
