/* test_q8.c: the int8 back end (compiler/emit_q8.c). Each test takes a
 * case of tests/ref, calibrates it on the case's input and a few
 * perturbed copies, generates int8 C, builds it with the strict flags of
 * generated code, runs it on the input and requires every output to equal
 * the int8 reference (compiler/qref.c) bit for bit: the outputs are
 * dequantized by both, and dequantization is one-to-one, so equal floats
 * mean equal int8 values. Random architectures drawn from a fixed seed
 * (test_oracle.c's approach, in a compact generator of its own) get the
 * same check, their text printed on any failure. The digits demo set
 * checks accuracy against PyTorch's, and the command line's new options
 * their usage errors.
 *
 * The reference is included whole, as test_quant.c does, so every build
 * of the suites links it without rules of its own. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cnnc_q8.h"

#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"

/* ---- helpers ---- */

/* A directory of this process's own under build/q8, so that two runs of
 * the suite never share files. */
static const char *scratch(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "build/q8/%ld", (long)getpid());
        mkdir("build", 0777);
        mkdir("build/q8", 0777);
        mkdir(dir, 0777);
    }
    return dir;
}

/* Generated files are large; a passing run leaves none behind. */
static void scratch_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch());
    tu_run(cmd, NULL);
}

/* Values in a tensor: its int8 bytes, a quarter of its float bytes. */
static int64_t numel(Shape s)
{
    return s.c * s.h * s.w;
}

/* Calibration and input files for the generated programs. */
static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A model of tests/ref (or models/) with its weights bound, and its own
 * diagnostics stream for the phases after analysis. */
typedef struct Case {
    const char *name; /* the C files' stem */
    bool int8_io;
    const char *shown; /* a random model's text, printed with any failure, or NULL */
    Compiled *c;
    Diag d;
    FILE *dout;
    char *msgs;
    size_t len;
} Case;

/* What calibration or emission reported, for a failure message. */
static const char *case_messages(Case *k)
{
    diag_flush(&k->d);
    fflush(k->dout);
    return k->msgs ? k->msgs : "";
}

/* Compiles a model and binds its weights; any error fails the test. */
static void case_open(Case *k, const char *name, const char *model, const char *weights)
{
    k->name = name;
    char *src = tu_read_file(model, NULL);
    k->c = tu_compile(src);
    if (k->c->errors)
        fail_msg("%s does not compile:\n%s", model, k->c->messages);
    k->dout = open_memstream(&k->msgs, &k->len);
    diag_init(&k->d, model, src, strlen(src), k->dout);
    free(src); /* the diagnostics only quote the source on errors, which fail the test first */
    k->d.src = "";
    k->d.srclen = 0;
    if (!weights_load(&k->c->mem, &k->d, k->c->net, weights))
        fail_msg("%s: %s", weights, case_messages(k));
}

/* Everything case_open made, so suites stay clean under ASan. */
static void case_close(Case *k)
{
    fclose(k->dout);
    free(k->msgs);
    tu_free(k->c);
}

/* Calibration data: the input, then copies scaled by 1.1 and 0.8 and one
 * with a small deterministic ripple, so the ranges are not the one
 * input's exactly. Written as raw float32 (the host is little-endian). */
static const char *write_calibration(Case *k, const float *input)
{
    int64_t n = numel(k->c->net->input->shape);
    float *cal = malloc((size_t)(4 * n) * sizeof *cal);
    assert_non_null(cal);
    for (int64_t i = 0; i < n; i++) {
        cal[i] = input[i];
        cal[n + i] = input[i] * 1.1f;
        cal[2 * n + i] = input[i] * 0.8f;
        cal[3 * n + i] = input[i] + 0.05f * (float)((i * 7919) % 13 - 6) / 6.0f;
    }
    char *path = mem_printf(&k->c->mem, "%s/%s_cal.bin", scratch(), k->name);
    write_bytes(path, cal, (size_t)(4 * n) * sizeof *cal);
    free(cal);
    return path;
}

/* Calibrates from the file and writes NAME.c and NAME.h into the scratch directory. */
static void generate(Case *k, const char *calibration)
{
    if (!quant_calibrate(&k->c->mem, &k->d, k->c->net, calibration))
        fail_msg("%s: calibration failed: %s%s", k->name, case_messages(k), k->shown ? k->shown : "");
    char cpath[256], hpath[256], header[128];
    snprintf(cpath, sizeof cpath, "%s/%s.c", scratch(), k->name);
    snprintf(hpath, sizeof hpath, "%s/%s.h", scratch(), k->name);
    snprintf(header, sizeof header, "%s.h", k->name);
    char *argv[] = {"cnnc", "--quantize=int8"};
    EmitOptions eo = {.argc = 2, .argv = argv, .weights_note = "test", .header_name = header};
    FILE *c = fopen(cpath, "w"), *h = fopen(hpath, "w");
    assert_non_null(c);
    assert_non_null(h);
    emit_q8_c(&k->c->mem, &k->d, k->c->net, &eo, calibration, k->int8_io, c, h);
    fclose(c);
    fclose(h);
    if (k->d.errors)
        fail_msg("%s: emission failed: %s%s", k->name, case_messages(k), k->shown ? k->shown : "");
}

/* A driver for the generated code: reads count inputs from argv[1] and
 * writes each one's outputs, in order, to argv[2] (float, or int8 with
 * --int8-io). */
static void write_driver(Case *k)
{
    Net *net = k->c->net;
    const char *type = k->int8_io ? "int8_t" : "float";
    char path[256];
    snprintf(path, sizeof path, "%s/%s_main.c", scratch(), k->name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#include <stdio.h>\n#include \"%s.h\"\n\n", k->name);
    fprintf(f, "static %s in[%lld];\n", type, (long long)numel(net->input->shape));
    for (int i = 0; i < net->noutputs; i++)
        fprintf(f, "static %s out%d[%lld];\n", type, i, (long long)numel(net->outputs[i]->shape));
    fprintf(f, "\nint main(int argc, char **argv)\n{\n    FILE *fi, *fo;\n    if (argc != 3)\n        return 2;\n"
               "    fi = fopen(argv[1], \"rb\");\n    fo = fopen(argv[2], \"wb\");\n    if (!fi || !fo)\n"
               "        return 2;\n    while (fread(in, sizeof in, 1, fi) == 1) {\n        %s_run(in",
            net->name);
    for (int i = 0; i < net->noutputs; i++)
        fprintf(f, ", out%d", i);
    fprintf(f, ");\n");
    for (int i = 0; i < net->noutputs; i++)
        fprintf(f, "        fwrite(out%d, sizeof out%d, 1, fo);\n", i, i);
    fprintf(f, "    }\n    fclose(fi);\n    return fclose(fo) != 0;\n}\n");
    fclose(f);
}

/* Builds the generated code and its driver with the strict flags. */
static void build(Case *k)
{
    write_driver(k);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "cc " STRICT " -O2 -Iruntime -I%1$s %1$s/%2$s.c %1$s/%2$s_main.c -o %1$s/%2$s 2>&1", scratch(),
             k->name);
    if (tu_run(cmd, &out) != 0)
        fail_msg("%s: build failed:\n%s%s", k->name, out, k->shown ? k->shown : "");
    free(out);
}

/* Runs the built program on a file of inputs; returns the outputs (malloc'd). */
static float *run(Case *k, const char *inputs, size_t *nbytes)
{
    char cmd[1024], outpath[256];
    snprintf(outpath, sizeof outpath, "%s/%s_out.bin", scratch(), k->name);
    snprintf(cmd, sizeof cmd, "%s/%s %s %s", scratch(), k->name, inputs, outpath);
    if (tu_run(cmd, NULL) != 0)
        fail_msg("%s: the generated program failed\n%s", k->name, k->shown ? k->shown : "");
    return (float *)tu_read_file(outpath, nbytes);
}

/* The value of "#define NAME_<suffix> V" in a header's text, or -1. */
static long long header_define(const char *h, const char *suffix)
{
    char key[96];
    snprintf(key, sizeof key, "_%s ", suffix);
    for (const char *p = strstr(h, "#define "); p; p = strstr(p + 1, "#define ")) {
        const char *sp = strchr(p + 8, ' ');
        size_t n = strlen(key);
        if (sp && (size_t)(sp - (p + 8)) >= n - 1 && strncmp(sp - (n - 1), key, n) == 0)
            return atoll(sp + 1);
    }
    return -1;
}

/* The number after key in text, thousands separators dropped, or -1. */
static long long text_number(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p)
        return -1;
    long long v = 0;
    for (p += strlen(key); (*p >= '0' && *p <= '9') || *p == ','; p++)
        if (*p != ',')
            v = 10 * v + (*p - '0');
    return v;
}

/* The generated header, the text report and the JSON report give the
 * same int8 memory: arena, constants by kind, and per layer the tensors
 * and scratch the arena holds. */
static void check_figures(Case *k)
{
    Net *net = k->c->net;
    const Q8Plan *p = net->q8;
    assert_non_null(p);
    char hpath[256];
    snprintf(hpath, sizeof hpath, "%s/%s.h", scratch(), k->name);
    char *h = tu_read_file(hpath, NULL);
    char *text = NULL, *json = NULL;
    size_t tlen, jlen;
    FILE *f = open_memstream(&text, &tlen);
    report_text(net, f);
    fclose(f);
    f = open_memstream(&json, &jlen);
    report_json(net, f);
    fclose(f);
    long long arena = header_define(h, "ARENA_BYTES"), consts = header_define(h, "CONST_BYTES");
    assert_int_equal(arena, p->arena);
    assert_int_equal(consts, q8_constant_bytes(p));
    assert_non_null(strstr(h, "_OUTPUT_SCALE "));
    assert_non_null(strstr(h, "_OUTPUT_ZERO_POINT "));
    if (text_number(text, "\narena ") != arena || text_number(text, "int8 constants ") != consts ||
        text_number(text, "weights ") != header_define(h, "CONST_WEIGHT_BYTES") ||
        text_number(text, "biases ") != header_define(h, "CONST_BIAS_BYTES") ||
        text_number(text, "multipliers ") != header_define(h, "CONST_MULT_BYTES") ||
        text_number(text, "tables ") != header_define(h, "CONST_TABLE_BYTES"))
        fail_msg("%s: the text report disagrees with the header:\n%s\n%s", k->name, text, h);
    const char *totals = strstr(json, "\"totals\"");
    assert_non_null(totals);
    if (text_number(totals, "\"arena_bytes\": ") != arena || text_number(totals, "\"weight_bytes\": ") != consts ||
        text_number(totals, "\"int8\": {\"arena_bytes\": ") != arena ||
        text_number(totals, "\"constant_bytes\": ") != consts ||
        text_number(totals, "\"bias_bytes\": ") != header_define(h, "CONST_BIAS_BYTES") ||
        text_number(totals, "\"multiplier_bytes\": ") != header_define(h, "CONST_MULT_BYTES") ||
        text_number(totals, "\"table_bytes\": ") != header_define(h, "CONST_TABLE_BYTES"))
        fail_msg("%s: the JSON report disagrees with the header:\n%s\n%s", k->name, json, h);
    /* every tensor and scratch lies inside the arena; layers' constants add up */
    int64_t sum = 0;
    for (int i = 0; i < net->nlayers; i++) {
        if (p->at[i] >= 0)
            assert_true(p->at[i] + p->tensor[i] <= p->arena);
        assert_true(p->scratch[i] <= p->arena);
        sum += p->constants[i];
    }
    assert_int_equal(sum, q8_constant_bytes(p));
    assert_true(p->bound <= p->arena);
    free(text);
    free(json);
    free(h);
}

/* Whether the net has an op with no int8 form yet (quantizing it is refused). */
static bool float_only(const Net *net)
{
    for (int i = 0; i < net->nlayers; i++)
        if (!quant_has_int8(net->layers[i]))
            return true;
    return false;
}

/* The whole check on tests/ref/<name>: generated int8 outputs equal the
 * reference's bit for bit, and the header and reports give one memory. */
static void check_ref(const char *name)
{
    char model[256], weights[256], inpath[256];
    snprintf(model, sizeof model, "tests/ref/%s/model.net", name);
    snprintf(weights, sizeof weights, "tests/ref/%s/weights.safetensors", name);
    snprintf(inpath, sizeof inpath, "tests/ref/%s/input.bin", name);
    Case k = {0};
    case_open(&k, name, model, weights);
    Net *net = k.c->net;
    if (float_only(net)) {
        print_message("%s: float only, no int8 form yet\n", name);
        case_close(&k);
        return;
    }
    float *input = (float *)tu_read_file(inpath, NULL);
    generate(&k, write_calibration(&k, input));
    check_figures(&k);
    build(&k);
    size_t nbytes;
    float *got = run(&k, inpath, &nbytes);
    int8_t **want = qref_run(net, input);
    size_t off = 0;
    for (int i = 0; i < net->noutputs; i++) {
        const Layer *l = net->outputs[i];
        int64_t n = numel(l->shape);
        assert_true(off + (size_t)n * sizeof(float) <= nbytes);
        float *ref = malloc((size_t)n * sizeof *ref);
        assert_non_null(ref);
        qref_dequantize_tensor(l, want[l->index], ref);
        for (int64_t j = 0; j < n; j++)
            if (memcmp(&got[off / sizeof(float) + (size_t)j], &ref[j], sizeof(float)) != 0)
                fail_msg("%s: output '%s'[%lld] is %.9g, reference %.9g (int8 %d)", name, l->name, (long long)j,
                         (double)got[off / sizeof(float) + (size_t)j], (double)ref[j], want[l->index][j]);
        off += (size_t)n * sizeof(float);
        free(ref);
    }
    assert_int_equal(off, nbytes);
    qref_free(net, want);
    free(got);
    free(input);
    case_close(&k);
}

/* ---- bit-exact against the reference, one family of kernels at a time ---- */

/* Strides, dilation, padding rules, folded batchnorm, fused relu. */
static void test_q8_conv_matches_reference(void **state)
{
    (void)state;
    const char *cases[] = {"conv_basic", "conv_stride2", "conv_dilation", "conv_pad_asym", "conv_same_s2",
                           "conv_nobias", "conv_kernel_rect", "bn_after_conv", "act_after_conv"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_ref(cases[i]);
}

/* Reflect, replicate and circular taps read the folded cell. */
static void test_q8_padding_modes_match_reference(void **state)
{
    (void)state;
    const char *cases[] = {"conv_mode_reflect", "conv_mode_replicate", "conv_mode_circular", "conv_mode_reflect_asym",
                           "conv_mode_circular_asym"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_ref(cases[i]);
}

/* Grouped weights index the right slice of the input. */
static void test_q8_depthwise_and_groups_match_reference(void **state)
{
    (void)state;
    const char *cases[] = {"conv_depthwise", "conv_depthwise_mult", "conv_groups", "bn_after_depthwise"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_ref(cases[i]);
}

/* The dual-MAC loop and its tail, with and without bias. */
static void test_q8_linear_matches_reference(void **state)
{
    (void)state;
    const char *cases[] = {"linear_flatten", "linear_nobias", "linear_input", "linear_gap", "bn_after_linear"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_ref(cases[i]);
}

/* Padding counted or not, ceil mode, dilation, sum requantized, global. */
static void test_q8_pools_match_reference(void **state)
{
    (void)state;
    const char *cases[] = {"pool_max_basic",     "pool_max_pad",      "pool_max_ceil",      "pool_max_dilation",
                           "pool_min_pad",       "pool_avg_basic",    "pool_avg_pad_incl",  "pool_avg_pad_excl",
                           "pool_avg_ceil_incl", "pool_avg_ceil_excl", "pool_sum_basic",    "pool_sum_pad_ceil",
                           "pool_global_avg",    "pool_global_max",   "bn_after_pool"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_ref(cases[i]);
}

/* Inputs with different params: rescaled (add) or requantized (concat). */
static void test_q8_add_and_concat_match_reference(void **state)
{
    (void)state;
    const char *cases[] = {"add_two", "add_three", "concat_two", "concat_three", "residual_block", "bn_after_add"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_ref(cases[i]);
}

/* Relu clamps, lookup tables, softmax, and ops that only rename buffers. */
static void test_q8_activations_match_reference(void **state)
{
    (void)state;
    const char *cases[] = {"act_relu", "act_relu6", "act_sigmoid", "act_tanh", "act_hardswish", "act_leakyrelu",
                           "softmax_chw", "softmax_linear", "dropout", "flatten_out"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_ref(cases[i]);
}

/* Whole networks: branches, residuals, several outputs, dotted names. */
static void test_q8_models_match_reference(void **state)
{
    (void)state;
    const char *cases[] = {"digits", "lenet5", "mixed_small_cnn", "mixed_inception", "mixed_mobilenet_block",
                           "mixed_resnet_down", "outputs_two", "outputs_order", "names_dotted", "dscnn"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_ref(cases[i]);
}

/* With --int8-io the caller's int8 input is read in place and the int8
 * outputs are the reference's bytes. */
static void check_int8_io(const char *name)
{
    char model[256], weights[256], inpath[256], qpath[256];
    snprintf(model, sizeof model, "tests/ref/%s/model.net", name);
    snprintf(weights, sizeof weights, "tests/ref/%s/weights.safetensors", name);
    snprintf(inpath, sizeof inpath, "tests/ref/%s/input.bin", name);
    char stem[128];
    snprintf(stem, sizeof stem, "io_%s", name);
    Case k = {.int8_io = true};
    case_open(&k, stem, model, weights);
    Net *net = k.c->net;
    float *input = (float *)tu_read_file(inpath, NULL);
    generate(&k, write_calibration(&k, input));
    check_figures(&k);
    /* the last kernels write the caller's outputs: no copy out of the arena */
    char cpath[256];
    snprintf(cpath, sizeof cpath, "%s/%s.c", scratch(), k.name);
    char *code = tu_read_file(cpath, NULL);
    if (strstr(code, "[i] = (a + "))
        fail_msg("%s: an output is copied out of the arena", name);
    free(code);
    build(&k);
    int8_t **want = qref_run(net, input);
    snprintf(qpath, sizeof qpath, "%s/%s_q.bin", scratch(), k.name);
    write_bytes(qpath, want[0], (size_t)numel(net->input->shape));
    size_t nbytes, off = 0;
    int8_t *got = (int8_t *)run(&k, qpath, &nbytes);
    for (int i = 0; i < net->noutputs; i++) {
        const Layer *l = net->outputs[i];
        size_t n = (size_t)numel(l->shape);
        assert_true(off + n <= nbytes);
        assert_memory_equal(got + off, want[l->index], n);
        off += n;
    }
    assert_int_equal(off, nbytes);
    qref_free(net, want);
    free(got);
    free(input);
    case_close(&k);
}

/* Cases whose output is fused, multiple, softmax, or a 1x1 input. */
static void test_q8_int8_io_matches_reference(void **state)
{
    (void)state;
    const char *cases[] = {"digits", "mixed_resnet_down", "outputs_two", "softmax_chw", "input_1x1"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_int8_io(cases[i]);
}

/* Every case of tests/ref, whatever it exercises. */
static void test_q8_every_ref_case_matches_reference(void **state)
{
    (void)state;
    struct dirent **names;
    int n = scandir("tests/ref", &names, NULL, alphasort);
    assert_true(n > 0);
    int done = 0;
    for (int i = 0; i < n; i++) {
        char path[400];
        struct stat st;
        snprintf(path, sizeof path, "tests/ref/%s/expected.bin", names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0) {
            check_ref(names[i]->d_name);
            done++;
        }
        free(names[i]);
    }
    free(names);
    print_message("%d cases of tests/ref bit-exact\n", done);
    assert_true(done > 100);
}

/* ---- the one-multiply requantization ---- */

/* A deterministic pseudo-random sequence (xorshift), so failures repeat. */
static uint32_t next_u32(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* cnnc_q_requant2 on the doubled accumulator gives TFLite's two roundings
 * (cnnc_q_output_rs) bit for bit under the conditions the back end checks:
 * multiplier above 2^30, right shift 1..30, |acc| + |ra| below 2^29; ties
 * of both roundings and the sign edge included. */
static void test_q8_requant2_matches_two_roundings(void **state)
{
    (void)state;
    uint32_t seed = 12345u;
    for (int n = 0; n < 2000000; n++) {
        int32_t mult = (int32_t)((1u << 30) + 1u + next_u32(&seed) % ((1u << 30) - 1u));
        int32_t rs = 1 + (int32_t)(next_u32(&seed) % 22);
        int32_t zp = (int32_t)(next_u32(&seed) % 256) - 128;
        int64_t ra = ((int64_t)1 << (rs - 1)) + (int64_t)zp * ((int64_t)1 << rs);
        int64_t room = ((int64_t)1 << 29) - 2 - (ra < 0 ? -ra : ra);
        int32_t acc;
        switch (n % 4) {
        case 0: acc = (int32_t)(next_u32(&seed) % 2001) - 1000; break; /* near zero: the sign edge */
        case 1: acc = (int32_t)((int64_t)next_u32(&seed) % (2 * room + 1) - room); break;
        default: {
            /* an accumulator whose high product lies next to a tie of the second rounding */
            int64_t lim = (int64_t)1 << (26 - rs); /* |v| below 2^27: v * 2^31 fits */
            int64_t q = (int64_t)(next_u32(&seed) % (uint32_t)(2 * lim + 1)) - lim;
            int64_t v = q * ((int64_t)1 << rs) + ((int64_t)1 << (rs - 1));
            int64_t a = v * ((int64_t)1 << 31) / mult + (int64_t)(next_u32(&seed) % 3) - 1;
            acc = a > room || -a > room ? 0 : (int32_t)a;
        }
        }
        int32_t want = cnnc_q_rdbpot(cnnc_q_srdhm(acc, mult), (int)rs) + zp;
        int32_t got = cnnc_q_requant2(2 * acc, mult, (int32_t)ra, rs);
        if (got != want)
            fail_msg("acc %d mult %d shift -%d zp %d: %d, want %d", acc, mult, rs, zp, got, want);
    }
}

/* ---- random architectures against the reference ---- */

enum { ARCH_TENSORS = 40, ARCH_TEXT = 8192, ARCH_LINE = 512 };

/* A model being drawn: its text so far and the tensors later lines may read. */
typedef struct Arch {
    uint32_t seed;
    char text[ARCH_TEXT];
    size_t len;
    char names[ARCH_TENSORS][16];
    Shape shapes[ARCH_TENSORS];
    OpKind ops[ARCH_TENSORS];
    int n;
} Arch;

/* Uniform integer in [lo, hi], from the model's own sequence. */
static int arch_pick(Arch *a, int lo, int hi)
{
    return lo + (int)(next_u32(&a->seed) % (uint32_t)(hi - lo + 1));
}

/* True percent times in a hundred. */
static bool arch_chance(Arch *a, int percent)
{
    return arch_pick(a, 0, 99) < percent;
}

/* Appends to a line being drawn. */
static void arch_put(char *line, const char *fmt, ...) PRINTF(2, 3);
static void arch_put(char *line, const char *fmt, ...)
{
    size_t n = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, ARCH_LINE - n, fmt, ap);
    va_end(ap);
}

/* N or HxW for a spatial option. */
static void arch_pair(Arch *a, char *line, const char *key, int lo, int hi)
{
    if (arch_chance(a, 30))
        arch_put(line, " %s=%dx%d", key, arch_pick(a, lo, hi), arch_pick(a, lo, hi));
    else
        arch_put(line, " %s=%d", key, arch_pick(a, lo, hi));
}

/* Every padding form the language has, up to most on each side. */
static void arch_padding(Arch *a, char *line, int most)
{
    int r = arch_pick(a, 0, 99);
    if (r < 25)
        return;
    if (r < 45)
        arch_put(line, " padding=%d", arch_pick(a, 0, most));
    else if (r < 55)
        arch_put(line, " padding=%dx%d", arch_pick(a, 0, most), arch_pick(a, 0, most));
    else if (r < 70)
        arch_put(line, " padding=%d,%d,%d,%d", arch_pick(a, 0, most), arch_pick(a, 0, most), arch_pick(a, 0, most),
                 arch_pick(a, 0, most));
    else if (r < 92)
        arch_put(line, " padding=same");
    else
        arch_put(line, " padding=valid");
}

/* One layer (or a branch and its join, or flatten and linear) reading
 * tensor src, as .net lines; the names it defines go to defs. */
static int arch_draw(Arch *a, int src, char *line, char defs[2][16])
{
    Shape s = a->shapes[src];
    bool spatial = s.h > 1 || s.w > 1;
    int r = arch_pick(a, 0, 99);
    snprintf(defs[0], 16, "l%d", a->n);
    snprintf(defs[1], 16, "j%d", a->n);
    if (a->ops[src] == OP_CONV2D && arch_chance(a, 30)) { /* folded into the conv */
        arch_put(line, "batchnorm2d %s from=%s\n", defs[0], a->names[src]);
    } else if (r < (spatial ? 35 : 10)) {
        int groups = 1, out = arch_pick(a, 1, 12), g = arch_pick(a, 0, 99);
        if (g < 25) { /* depthwise, sometimes with a multiplier */
            groups = (int)s.c;
            out = groups * arch_pick(a, 1, 2);
        } else if (g < 40) { /* grouped: a divisor of the channels */
            do
                groups = arch_pick(a, 1, (int)s.c);
            while (s.c % groups);
            out = groups * arch_pick(a, 1, 3);
        }
        arch_put(line, "conv2d %s out=%d", defs[0], out);
        arch_pair(a, line, "kernel", 1, spatial ? 5 : 1);
        if (arch_chance(a, 35))
            arch_pair(a, line, "stride", 1, 3);
        if (arch_chance(a, 20))
            arch_pair(a, line, "dilation", 1, 3);
        if (groups > 1)
            arch_put(line, " groups=%d", groups);
        arch_padding(a, line, 3);
        if (arch_chance(a, 30) && !strstr(line, "padding=valid")) {
            static const char *const modes[] = {"zeros", "reflect", "replicate", "circular"};
            arch_put(line, " padding_mode=%s", modes[arch_pick(a, 0, 3)]);
        }
        arch_put(line, "%s from=%s\n", arch_chance(a, 20) ? " bias=false" : "", a->names[src]);
    } else if (spatial && r < 55) {
        static const char *const pools[] = {"maxpool2d", "minpool2d", "avgpool2d", "sumpool2d"};
        int op = arch_pick(a, 0, 3), k = arch_pick(a, 1, 4);
        arch_put(line, "%s %s kernel=%d", pools[op], defs[0], k);
        if (arch_chance(a, 50))
            arch_pair(a, line, "stride", 1, 3);
        arch_padding(a, line, k / 2);
        if (op < 2 && arch_chance(a, 25))
            arch_put(line, " dilation=2");
        if (arch_chance(a, 35))
            arch_put(line, " ceil_mode=true");
        if (op == 2 && arch_chance(a, 45))
            arch_put(line, " count_include_pad=false");
        arch_put(line, " from=%s\n", a->names[src]);
    } else if (spatial && r < 60) {
        arch_put(line, "%s %s from=%s\n", arch_chance(a, 50) ? "globalavgpool2d" : "globalmaxpool2d", defs[0],
                 a->names[src]);
    } else if (r < 68) {
        if (spatial || arch_chance(a, 30)) {
            arch_put(line, "flatten %s from=%s\n", defs[1], a->names[src]);
            arch_put(line, "linear %s out=%d%s\n", defs[0], arch_pick(a, 1, 12),
                     arch_chance(a, 20) ? " bias=false" : "");
            return 2;
        }
        arch_put(line, "linear %s out=%d from=%s\n", defs[0], arch_pick(a, 1, 12), a->names[src]);
    } else if (r < 86) {
        static const char *const ops[] = {"relu",      "relu6",   "sigmoid", "tanh",       "hardswish",
                                          "leakyrelu", "softmax", "dropout", "batchnorm2d"};
        int op = arch_pick(a, 0, 8);
        arch_put(line, "%s %s%s from=%s\n", ops[op], defs[0], op == 5 && arch_chance(a, 50) ? " slope=0.2" : "",
                 a->names[src]);
    } else {
        /* add or concat of src and a branch from it (or an earlier tensor that fits) */
        bool add = arch_chance(a, 55);
        const char *other = defs[1];
        for (int i = 0; i < a->n && arch_chance(a, 40); i++) {
            int t = arch_pick(a, 0, a->n - 1);
            Shape o = a->shapes[t];
            if (t != src && o.h == s.h && o.w == s.w && (!add || o.c == s.c)) {
                other = a->names[t];
                break;
            }
        }
        if (other == defs[1] && spatial && arch_chance(a, 70))
            arch_put(line, "conv2d %s out=%d kernel=%d padding=same%s from=%s\n", defs[1],
                     add ? (int)s.c : arch_pick(a, 1, 6), 2 * arch_pick(a, 0, 2) + 1,
                     arch_chance(a, 30) ? " padding_mode=reflect" : "", a->names[src]);
        else if (other == defs[1])
            arch_put(line, "%s %s from=%s\n", arch_chance(a, 50) ? "relu" : "tanh", defs[1], a->names[src]);
        bool swap = arch_chance(a, 50);
        arch_put(line, "%s %s from=%s,%s\n", add ? "add" : "concat", defs[0], swap ? other : a->names[src],
                 swap ? a->names[src] : other);
        return other == defs[1] ? 2 : 1;
    }
    return 1;
}

/* Adds one drawn step if cnnc accepts it; records the new tensors' shapes. */
static void arch_step(Arch *a)
{
    char line[ARCH_LINE] = "", defs[2][16];
    int src = arch_chance(a, 20) ? arch_pick(a, 0, a->n - 1) : a->n - 1;
    int ndefs = arch_draw(a, src, line, defs);
    size_t n = strlen(line);
    if (a->len + n + 1 >= ARCH_TEXT || a->n + ndefs > ARCH_TENSORS)
        return;
    memcpy(a->text + a->len, line, n + 1);
    Compiled *c = tu_compile(a->text);
    if (c->errors) {
        a->text[a->len] = '\0';
        tu_free(c);
        return;
    }
    a->len += n;
    for (int i = ndefs - 1; i >= 0; i--) { /* the layer last, so the chain goes on from it */
        Layer *l = ir_find(c->net, defs[i]);
        assert_non_null(l);
        snprintf(a->names[a->n], 16, "%s", defs[i]);
        a->shapes[a->n] = l->shape;
        a->ops[a->n++] = l->op;
    }
    tu_free(c);
}

/* Model k of the seed: an input, 2 to 10 steps, sometimes several outputs. */
static void arch_model(Arch *a, int k)
{
    Shape in = {arch_pick(a, 1, 6), arch_pick(a, 3, 14), arch_pick(a, 3, 14)};
    if (arch_chance(a, 8))
        in.h = in.w = 1;
    a->len = (size_t)snprintf(a->text, ARCH_TEXT, "network r%d\ninput x %lldx%lldx%lld\n", k, (long long)in.c,
                              (long long)in.h, (long long)in.w);
    snprintf(a->names[0], 16, "x");
    a->shapes[0] = in;
    a->ops[0] = OP_INPUT;
    a->n = 1;
    int want = arch_pick(a, 2, 10);
    for (int tries = 0; a->n - 1 < want && tries < 20 * want; tries++)
        arch_step(a);
    if (a->n > 2 && arch_chance(a, 30)) { /* the last tensor and an earlier one */
        char line[64];
        int t = arch_pick(a, 1, a->n - 2);
        snprintf(line, sizeof line, "output %s %s\n", a->names[t], a->names[a->n - 1]);
        if (a->len + strlen(line) < ARCH_TEXT) {
            memcpy(a->text + a->len, line, strlen(line) + 1);
            a->len += strlen(line);
        }
    }
}

/* Batchnorms far from the identity, so folding and requantizing them shows. */
static void arch_batchnorms(Arch *a, Net *net)
{
    for (int i = 1; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        for (int64_t c = 0; l->op == OP_BATCHNORM2D && c < l->shape.c; c++) {
            l->tensor[0][c] = (float)arch_pick(a, 50, 150) / 100.0f * (arch_chance(a, 20) ? -1.0f : 1.0f);
            l->tensor[1][c] = (float)arch_pick(a, -50, 50) / 100.0f;
            l->tensor[2][c] = (float)arch_pick(a, -50, 50) / 100.0f;
            l->tensor[3][c] = (float)arch_pick(a, 30, 200) / 100.0f;
        }
    }
}

/* n floats uniform in [-lim, lim]. */
static void arch_floats(Arch *a, float *v, int64_t n, float lim)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = lim * (float)arch_pick(a, -10000, 10000) / 10000.0f;
}

/* Model k through the int8 back end and the reference: random weights, a
 * calibration set of random inputs, an input that may leave its ranges. */
static void check_random(Arch *a, int k, bool int8_io)
{
    arch_model(a, k);
    Case c = {.int8_io = int8_io, .shown = a->text};
    char name[32], spec[32], inpath[256], calpath[256];
    snprintf(name, sizeof name, "rand%d", k);
    c.name = name;
    c.c = tu_compile(a->text);
    assert_int_equal(c.c->errors, 0);
    c.dout = open_memstream(&c.msgs, &c.len);
    diag_init(&c.d, name, "", 0, c.dout);
    Net *net = c.c->net;
    snprintf(spec, sizeof spec, "random:%d", arch_pick(a, 1, 1000000));
    assert_true(weights_init(&c.c->mem, net, spec));
    arch_batchnorms(a, net);
    int64_t n = numel(net->input->shape), ncal = arch_pick(a, 1, 4);
    float *cal = malloc((size_t)(n * ncal) * sizeof *cal), *input = malloc((size_t)n * sizeof *input);
    assert_true(cal && input);
    arch_floats(a, cal, n * ncal, 1.0f);
    arch_floats(a, input, n, 1.2f);
    snprintf(calpath, sizeof calpath, "%s/%s_cal.bin", scratch(), name);
    write_bytes(calpath, cal, (size_t)(n * ncal) * sizeof *cal);
    generate(&c, calpath);
    build(&c);
    int8_t **want = qref_run(net, input);
    snprintf(inpath, sizeof inpath, "%s/%s_in.bin", scratch(), name);
    if (int8_io)
        write_bytes(inpath, want[0], (size_t)n);
    else
        write_bytes(inpath, input, (size_t)n * sizeof *input);
    size_t nbytes, off = 0, size = int8_io ? 1 : sizeof(float);
    unsigned char *got = (unsigned char *)run(&c, inpath, &nbytes);
    for (int i = 0; i < net->noutputs; i++) {
        const Layer *l = net->outputs[i];
        int64_t m = numel(l->shape);
        assert_true(off + (size_t)m * size <= nbytes);
        float *ref = malloc((size_t)m * sizeof *ref);
        assert_non_null(ref);
        qref_dequantize_tensor(l, want[l->index], ref);
        for (int64_t j = 0; j < m; j++)
            if (memcmp(got + off + (size_t)j * size, int8_io ? (void *)&want[l->index][j] : (void *)&ref[j], size))
                fail_msg("random model %d%s: output '%s'[%lld] differs from the reference (int8 %d, %.9g)\n%s", k,
                         int8_io ? " (--int8-io)" : "", l->name, (long long)j, want[l->index][j], (double)ref[j],
                         a->text);
        off += (size_t)m * size;
        free(ref);
    }
    assert_int_equal(off, nbytes);
    qref_free(net, want);
    free(got);
    free(cal);
    free(input);
    case_close(&c);
}

/* Random architectures over every op the int8 back end has (convs of
 * every kernel, stride, dilation, padding form and mode, groups and
 * depthwise; linear, the pools, add, concat, activations, batchnorm,
 * flatten, softmax; branches and several outputs), every third with
 * --int8-io: the generated code gives the reference's bytes on each.
 * CNNC_Q8_RANDOM_COUNT and CNNC_Q8_RANDOM_SEED (environment) widen the hunt. */
static void test_q8_random_architectures_match_reference(void **state)
{
    (void)state;
    const char *count = getenv("CNNC_Q8_RANDOM_COUNT"), *seed = getenv("CNNC_Q8_RANDOM_SEED");
    int models = count ? atoi(count) : 80;
    Arch *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->seed = seed ? (uint32_t)strtoul(seed, NULL, 10) | 1u : 20261124u;
    for (int k = 0; k < models; k++)
        check_random(a, k, k % 3 == 2);
    print_message("%d random architectures bit-exact\n", models);
    free(a);
}

/* ---- the Cortex-M4 kernels (SMLAD, SXTB16, SMMLAR, assembly) ---- */

#define M4 "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"

/* Whether the Cortex-M4 toolchain, newlib's semihosting and qemu are here. */
static bool have_m4(void)
{
    return tu_cross_checks() && tu_run("command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null && "
                  "test -f \"$(arm-none-eabi-gcc -print-file-name=rdimon.specs)\"",
                  NULL) == 0;
}

/* tests/ref/<name> with --int8-io built for the emulated Cortex-M4 with
 * flags (the assembly kernels at -O2, the intrinsics in C at -O0): its
 * int8 outputs, printed in hex, are the reference's bytes. */
static void check_m4_model(const char *name, const char *model, const char *weights, const char *inpath,
                           const char *flags)
{
    char stem[128], path[256];
    snprintf(stem, sizeof stem, "m4_%s", name);
    Case k = {.int8_io = true};
    case_open(&k, stem, model, weights);
    Net *net = k.c->net;
    float *input = (float *)tu_read_file(inpath, NULL);
    generate(&k, write_calibration(&k, input));
    int8_t **want = qref_run(net, input);
    snprintf(path, sizeof path, "%s/%s_main.c", scratch(), stem);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#include <stdio.h>\n#include \"%s.h\"\n\nstatic const int8_t in[%lld] = {", stem,
            (long long)numel(net->input->shape));
    for (int64_t i = 0; i < numel(net->input->shape); i++)
        fprintf(f, "%s%d", i ? ", " : "", want[0][i]);
    fprintf(f, "};\n");
    for (int i = 0; i < net->noutputs; i++)
        fprintf(f, "static int8_t out%d[%lld];\n", i, (long long)numel(net->outputs[i]->shape));
    fprintf(f, "\nint main(void)\n{\n    int i;\n    %s_run(in", net->name);
    for (int i = 0; i < net->noutputs; i++)
        fprintf(f, ", out%d", i);
    fprintf(f, ");\n");
    for (int i = 0; i < net->noutputs; i++)
        fprintf(f, "    for (i = 0; i < (int)sizeof out%d; i++)\n        printf(\"%%02x\", (unsigned char)out%d[i]);\n", i, i);
    fprintf(f, "    printf(\"\\n\");\n    return 0;\n}\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/boot.c", scratch());
    write_bytes(path, tu_m4_boot_src, strlen(tu_m4_boot_src));
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "arm-none-eabi-gcc " STRICT " " M4 " %3$s -Iruntime -I%1$s -c %1$s/%2$s.c -o %1$s/%2$s_m4.o 2>&1 && "
             "arm-none-eabi-gcc " M4 " -O2 --specs=rdimon.specs -Iruntime -I%1$s %1$s/boot.c %1$s/%2$s_main.c "
             "%1$s/%2$s_m4.o -Wl,--section-start=.vectors=0x0 -o %1$s/%2$s.elf 2>&1 && "
             "timeout 120 qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel %1$s/%2$s.elf 2>&1",
             scratch(), stem, flags);
    if (tu_run(cmd, &out) != 0)
        fail_msg("%s: cortex-m4 build or run failed:\n%s", name, out);
    char *p = out;
    for (int i = 0; i < net->noutputs; i++) {
        const Layer *l = net->outputs[i];
        for (int64_t j = 0; j < numel(l->shape); j++, p += 2) {
            unsigned v;
            if (sscanf(p, "%2x", &v) != 1 || (int8_t)(uint8_t)v != want[l->index][j])
                fail_msg("%s %s: output '%s'[%lld] differs from the reference (%d)", name, flags, l->name,
                         (long long)j, want[l->index][j]);
        }
    }
    free(out);
    qref_free(net, want);
    free(input);
    case_close(&k);
}

/* check_m4_model on tests/ref/<name>. */
static void check_m4(const char *name, const char *flags)
{
    char model[256], weights[256], inpath[256];
    snprintf(model, sizeof model, "tests/ref/%s/model.net", name);
    snprintf(weights, sizeof weights, "tests/ref/%s/weights.safetensors", name);
    snprintf(inpath, sizeof inpath, "tests/ref/%s/input.bin", name);
    check_m4_model(name, model, weights, inpath, flags);
}

/* The Cortex-M4 code paths give the reference's bytes: plane convs (1x1,
 * 3x3, strides, dilation, padding modes, odd channel counts, narrow
 * outputs), depthwise, linear, pools, add and the whole benchmarks. */
static void test_q8_cortex_m4_matches_reference(void **state)
{
    (void)state;
    if (!have_m4())
        skip();
    const char *cases[] = {"dscnn", "resnet8", "lenet5", "mixed_mobilenet_block", "mixed_resnet_down",
                           "conv_kernel_full", "conv_kernel_1x1", "conv_stride2", "conv_dilation", "conv_pad_asym",
                           "conv_mode_reflect", "conv_mode_circular_asym", "conv_depthwise", "conv_groups",
                           "conv_same_s3_dil", "input_1x1", "act_relu6", "nonsquare", "vww_mobilenetv1",
                           "digits", "conv_depthwise_mult", "bn_after_depthwise", "residual_block"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_m4(cases[i], "-O2");
    check_m4("resnet8", "-O0");
    check_m4("dscnn", "-Os");
}

/* A pointwise conv's last block of positions, which overlaps the one
 * before it, computes only its new positions in the assembly: every
 * remainder of the positions by the block (none, one, two, three) and
 * planes smaller than a block give the reference's bytes. */
static void test_q8_cortex_m4_pointwise_tails_match_reference(void **state)
{
    (void)state;
    if (!have_m4())
        skip();
    const int hw[][2] = {{5, 4}, {3, 3}, {3, 2}, {5, 3}, {7, 9}, {1, 3}, {1, 1}};
    for (size_t i = 0; i < sizeof hw / sizeof *hw; i++) {
        char name[64], model[256], inpath[256], text[128];
        snprintf(name, sizeof name, "pw_tail_%dx%d", hw[i][0], hw[i][1]);
        snprintf(model, sizeof model, "%s/%s.net", scratch(), name);
        snprintf(inpath, sizeof inpath, "%s/%s_in.bin", scratch(), name);
        snprintf(text, sizeof text, "network %s\ninput x 8x%dx%d\nconv2d pw out=6 kernel=1\n", name, hw[i][0],
                 hw[i][1]);
        write_bytes(model, text, strlen(text));
        float in[8 * 7 * 9];
        uint32_t seed = 99u + (uint32_t)i;
        for (int j = 0; j < 8 * hw[i][0] * hw[i][1]; j++)
            in[j] = (float)((int32_t)(next_u32(&seed) % 2001u) - 1000) / 400.0f;
        write_bytes(inpath, in, (size_t)(8 * hw[i][0] * hw[i][1]) * sizeof *in);
        check_m4_model(name, model, "tests/ref/conv_kernel_1x1/weights.safetensors", inpath, "-O2");
    }
}

/* The portable SXTAB16 (the pools' sums) adds each sign-extended byte to
 * its 16-bit lane, wrapping within the lane as the instruction does. */
static void test_q8_sxtab16_adds_bytes_per_lane(void **state)
{
    (void)state;
    uint32_t seed = 7u;
    for (int n = 0; n < 100000; n++) {
        uint32_t acc = next_u32(&seed), x = next_u32(&seed);
        uint32_t lo = (acc + (uint32_t)(int32_t)(int8_t)(x & 0xffu)) & 0xffffu;
        uint32_t hi = ((acc >> 16) + (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xffu)) & 0xffffu;
        assert_int_equal(cnnc_q_sxtab16(acc, x), lo | hi << 16);
        lo = (acc + (uint32_t)(int32_t)(int8_t)((x >> 8) & 0xffu)) & 0xffffu;
        hi = ((acc >> 16) + (uint32_t)(int32_t)(int8_t)(x >> 24)) & 0xffffu;
        assert_int_equal(cnnc_q_sxtab16_ror8(acc, x), lo | hi << 16);
    }
}

/* Every case of tests/ref builds warning-free for the Cortex-M4 at -O2
 * (the assembly blocks take 14 registers: the compiler must find them in
 * every kernel), and the benchmark models at every optimization level. */
static void test_q8_cortex_m4_builds_every_case(void **state)
{
    (void)state;
    if (!tu_cross_checks() || tu_run("command -v arm-none-eabi-gcc >/dev/null", NULL) != 0)
        skip();
    struct dirent **names;
    int n = scandir("tests/ref", &names, NULL, alphasort);
    assert_true(n > 0);
    int done = 0;
    for (int i = 0; i < n; i++) {
        char model[400], weights[400], inpath[400], stem[300], cmd[2048], *out = NULL;
        const char *name = names[i]->d_name;
        struct stat st;
        snprintf(inpath, sizeof inpath, "tests/ref/%s/input.bin", name);
        if (name[0] == '.' || stat(inpath, &st) != 0) {
            free(names[i]);
            continue;
        }
        snprintf(model, sizeof model, "tests/ref/%s/model.net", name);
        snprintf(weights, sizeof weights, "tests/ref/%s/weights.safetensors", name);
        snprintf(stem, sizeof stem, "b_%s", name);
        Case k = {0};
        case_open(&k, stem, model, weights);
        if (float_only(k.c->net)) {
            case_close(&k);
            free(names[i]);
            continue;
        }
        float *input = (float *)tu_read_file(inpath, NULL);
        generate(&k, write_calibration(&k, input));
        bool bench = strcmp(name, "dscnn") == 0 || strcmp(name, "resnet8") == 0 || strcmp(name, "lenet5") == 0 ||
                     strcmp(name, "digits") == 0 || strcmp(name, "vww_mobilenetv1") == 0;
        const char *levels[] = {"-O2", "-Os", "-O3", "-O1", "-Og"};
        for (size_t j = 0; j < (bench ? sizeof levels / sizeof *levels : 1); j++) {
            snprintf(cmd, sizeof cmd,
                     "arm-none-eabi-gcc " STRICT " " M4 " %3$s -Iruntime -I%1$s -c %1$s/%2$s.c -o %1$s/%2$s.o 2>&1",
                     scratch(), stem, levels[j]);
            if (tu_run(cmd, &out) != 0)
                fail_msg("%s %s: cortex-m4 build failed:\n%s", name, levels[j], out);
            free(out);
        }
        free(input);
        case_close(&k);
        free(names[i]);
        done++;
    }
    free(names);
    assert_true(done > 100);
}

/* Generated int8 code builds warning-free with the strict flags for
 * freestanding RV32 too (the portable C of every kernel). */
static void test_q8_builds_for_rv32(void **state)
{
    (void)state;
    if (!tu_cross_checks() || tu_run("command -v riscv64-unknown-elf-gcc >/dev/null", NULL) != 0)
        skip();
    const char *cases[] = {"dscnn", "resnet8", "conv_mode_reflect", "conv_kernel_full"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char model[256], weights[256], inpath[256], stem[128], cmd[1024], *out = NULL;
        snprintf(model, sizeof model, "tests/ref/%s/model.net", cases[i]);
        snprintf(weights, sizeof weights, "tests/ref/%s/weights.safetensors", cases[i]);
        snprintf(inpath, sizeof inpath, "tests/ref/%s/input.bin", cases[i]);
        snprintf(stem, sizeof stem, "rv_%s", cases[i]);
        Case k = {0};
        case_open(&k, stem, model, weights);
        float *input = (float *)tu_read_file(inpath, NULL);
        generate(&k, write_calibration(&k, input));
        snprintf(cmd, sizeof cmd,
                 "riscv64-unknown-elf-gcc " STRICT " -march=rv32imac -mabi=ilp32 -ffreestanding -nostdlib -O2 "
                 "-Iruntime -I%1$s -c %1$s/%2$s.c -o %1$s/%2$s.o 2>&1",
                 scratch(), stem);
        if (tu_run(cmd, &out) != 0)
            fail_msg("%s: rv32 build failed:\n%s", cases[i], out);
        free(out);
        free(input);
        case_close(&k);
    }
}

/* ---- the arena ---- */

/* NAME_ARENA_BYTES is what the code touches: run_arena on a buffer of
 * exactly that size, fenced by guard bytes, leaves the guards alone and
 * gives what run gives. */
static void test_q8_arena_bytes_suffice(void **state)
{
    (void)state;
    Case k = {0};
    case_open(&k, "arena", "tests/ref/mixed_inception/model.net", "tests/ref/mixed_inception/weights.safetensors");
    float *input = (float *)tu_read_file("tests/ref/mixed_inception/input.bin", NULL);
    generate(&k, write_calibration(&k, input));
    char path[256];
    snprintf(path, sizeof path, "%s/arena_guard.c", scratch());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const char *n = k.c->net->name;
    char up[128];
    size_t i;
    for (i = 0; n[i] && i + 1 < sizeof up; i++)
        up[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 'a' + 'A' : n[i]);
    up[i] = '\0';
    fprintf(f,
            "#include <stdio.h>\n#include <string.h>\n#include \"arena.h\"\n\n"
            "static float in[%1$s_INPUT_SIZE], a[%1$s_OUTPUT_SIZE], b[%1$s_OUTPUT_SIZE];\n"
            "static unsigned char mem[%1$s_ARENA_BYTES + 64];\n\n"
            "int main(void)\n{\n    int i;\n    for (i = 0; i < %1$s_INPUT_SIZE; i++)\n"
            "        in[i] = (float)((i * 37) %% 11) / 5.0f - 1.0f;\n"
            "    memset(mem, 0x5a, sizeof mem);\n    %2$s_run(in, a);\n"
            "    %2$s_run_arena(in, b, mem + 32);\n"
            "    for (i = 0; i < 32; i++)\n"
            "        if (mem[i] != 0x5a || mem[sizeof mem - 1 - i] != 0x5a)\n            return 1;\n"
            "    return memcmp(a, b, sizeof a) != 0;\n}\n",
            up, n);
    fclose(f);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "cc " STRICT " -O2 -Iruntime -I%1$s %1$s/arena.c %1$s/arena_guard.c -o %1$s/arena_guard "
             "2>&1 && %1$s/arena_guard", scratch());
    if (tu_run(cmd, &out) != 0)
        fail_msg("arena guard failed: %s", out);
    free(out);
    free(input);
    case_close(&k);
}

/* The arena of issue 13's models (calibrated on their input.bin, planned
 * without writing the code): DS-CNN and MobileNetV1-0.25 within the
 * targets (a quarter of float: 16,000 and 55,296 B), LeNet-5 within
 * float's arena (6,304 B; 12,904 before the int8 arena work), ResNet-8
 * within three quarters of its 72,384 B before; every one at least its
 * tensors' bound. */
static void test_q8_arena_within_targets(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t most;
    } models[] = {{"lenet5", 6304}, {"dscnn", 16000}, {"resnet8", 72384 * 3 / 4}, {"vww_mobilenetv1", 55296}};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char model[256], weights[256], input[256];
        snprintf(model, sizeof model, "tests/ref/%s/model.net", models[i].name);
        snprintf(weights, sizeof weights, "tests/ref/%s/weights.safetensors", models[i].name);
        snprintf(input, sizeof input, "tests/ref/%s/input.bin", models[i].name);
        Case k = {0};
        case_open(&k, models[i].name, model, weights);
        if (!quant_calibrate(&k.c->mem, &k.d, k.c->net, input))
            fail_msg("%s: calibration failed: %s", models[i].name, case_messages(&k));
        EmitOptions eo = {.header_name = "x.h"};
        const Q8Plan *p = emit_q8_plan(&k.c->mem, &k.d, k.c->net, &eo, false);
        assert_non_null(p);
        print_message("%s: int8 arena %lld B (bound %lld B, float %lld B)\n", models[i].name, (long long)p->arena,
                      (long long)p->bound, (long long)k.c->net->arena_bytes);
        assert_true(p->arena <= models[i].most);
        assert_true(p->arena >= p->bound);
        case_close(&k);
    }
}

/* ---- the digits demo set: accuracy next to PyTorch's ---- */

/* The demo file's counts are little-endian whatever the host. */
static uint32_t u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The argmax of n values, the first on ties. */
static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Calibrated on the first 100 test images (the demo set is all there is),
 * the int8 build classifies the 360 within a point of PyTorch's float. */
static void test_q8_digits_accuracy_within_one_point(void **state)
{
    (void)state;
    size_t len;
    unsigned char *set = (unsigned char *)tu_read_file("demo/digits_test.bin", &len);
    assert_true(len >= 16 && memcmp(set, "CNNCDIG1", 8) == 0);
    uint32_t count = u32le(set + 8), pixels = u32le(set + 12);
    assert_int_equal(len, 16 + (size_t)count * pixels * 4 + 2 * (size_t)count);
    const unsigned char *labels = set + 16 + (size_t)count * pixels * 4, *torch = labels + count;
    char inputs[256], calib[256];
    snprintf(inputs, sizeof inputs, "%s/digits_inputs.bin", scratch());
    snprintf(calib, sizeof calib, "%s/digits_calib.bin", scratch());
    write_bytes(inputs, set + 16, (size_t)count * pixels * 4);
    write_bytes(calib, set + 16, (size_t)(count < 100 ? count : 100) * pixels * 4);

    Case k = {0};
    case_open(&k, "digits_q8", "models/digits.net", "models/digits.safetensors");
    assert_int_equal(numel(k.c->net->input->shape), pixels);
    generate(&k, calib);
    build(&k);
    size_t nbytes;
    float *out = run(&k, inputs, &nbytes);
    assert_int_equal(nbytes, (size_t)count * 10 * sizeof(float));
    int q8_right = 0, torch_right = 0, agree = 0;
    for (uint32_t i = 0; i < count; i++) {
        int p = argmax(out + 10 * (size_t)i, 10);
        q8_right += p == labels[i];
        torch_right += torch[i] == labels[i];
        agree += p == torch[i];
    }
    double q8_acc = 100.0 * q8_right / count, torch_acc = 100.0 * torch_right / count;
    print_message("digits: int8 %d/%u = %.2f%%, pytorch float %d/%u = %.2f%%, agree %d/%u\n", q8_right, count, q8_acc,
                  torch_right, count, torch_acc, agree, count);
    assert_true(fabs(q8_acc - torch_acc) <= 1.0);
    free(out);
    free(set);
    case_close(&k);
}

/* ---- the command line ---- */

/* --quantize needs --calibrate, takes only int8, and the pair generates
 * code whose report lists the int8 params. */
static void test_q8_cli_options(void **state)
{
    (void)state;
    char *out = NULL, cmd[1024];
    const char *base = "build/cnnc models/digits.net -w models/digits.safetensors";
    snprintf(cmd, sizeof cmd, "%s --quantize=int8 -o %s/cli.c 2>&1", base, scratch());
    assert_int_equal(tu_run(cmd, &out), 2);
    assert_non_null(strstr(out, "--calibrate"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s --quantize=int4 --calibrate tests/ref/digits/input.bin -o %s/cli.c 2>&1", base,
             scratch());
    assert_int_equal(tu_run(cmd, &out), 2);
    assert_non_null(strstr(out, "int4"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s --calibrate tests/ref/digits/input.bin -o %s/cli.c 2>&1", base, scratch());
    assert_int_equal(tu_run(cmd, &out), 2);
    free(out);
    snprintf(cmd, sizeof cmd, "%s --int8-io -o %s/cli.c 2>&1", base, scratch());
    assert_int_equal(tu_run(cmd, &out), 2);
    free(out);
    snprintf(cmd, sizeof cmd, "%s --quantize=int8 --calibrate %s/missing.bin -o %s/cli.c 2>&1", base, scratch(),
             scratch());
    assert_int_equal(tu_run(cmd, &out), 1);
    free(out);
    snprintf(cmd, sizeof cmd, "%s --quantize=int8 --calibrate tests/ref/digits/input.bin -o %s/cli.c --report", base,
             scratch());
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_non_null(strstr(out, "zp"));
    assert_non_null(strstr(out, "int8 constants"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s --quantize=int8 --calibrate tests/ref/digits/input.bin --report", base);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_non_null(strstr(out, "int8 memory of the generated code"));
    assert_non_null(strstr(out, " B int8 ("));
    free(out);
    snprintf(cmd, sizeof cmd, "%s --quantize=int8 --calibrate tests/ref/digits/input.bin --report=json", base);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"int8\": {\"arena_bytes\": "));
    free(out);
    snprintf(cmd, sizeof cmd, "build/cnnc models/digits.net --quantize=int8 --calibrate tests/ref/digits/input.bin "
             "--report 2>&1");
    assert_int_equal(tu_run(cmd, &out), 2); /* no weights to quantize */
    assert_non_null(strstr(out, "needs weights"));
    free(out);
    snprintf(cmd, sizeof cmd, "grep -c 'static const u*int[0-9]*_t w_' %s/cli.c", scratch());
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_int_equal(atoi(out), 3);
    free(out);
}

/* Runs once after the suite, pass or fail. */
static int teardown(void **state)
{
    (void)state;
    scratch_remove();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_conv_matches_reference),
        cmocka_unit_test(test_q8_padding_modes_match_reference),
        cmocka_unit_test(test_q8_depthwise_and_groups_match_reference),
        cmocka_unit_test(test_q8_linear_matches_reference),
        cmocka_unit_test(test_q8_pools_match_reference),
        cmocka_unit_test(test_q8_add_and_concat_match_reference),
        cmocka_unit_test(test_q8_activations_match_reference),
        cmocka_unit_test(test_q8_models_match_reference),
        cmocka_unit_test(test_q8_every_ref_case_matches_reference),
        cmocka_unit_test(test_q8_int8_io_matches_reference),
        cmocka_unit_test(test_q8_requant2_matches_two_roundings),
        cmocka_unit_test(test_q8_random_architectures_match_reference),
        cmocka_unit_test(test_q8_cortex_m4_matches_reference),
        cmocka_unit_test(test_q8_cortex_m4_pointwise_tails_match_reference),
        cmocka_unit_test(test_q8_sxtab16_adds_bytes_per_lane),
        cmocka_unit_test(test_q8_cortex_m4_builds_every_case),
        cmocka_unit_test(test_q8_builds_for_rv32),
        cmocka_unit_test(test_q8_arena_bytes_suffice),
        cmocka_unit_test(test_q8_arena_within_targets),
        cmocka_unit_test(test_q8_digits_accuracy_within_one_point),
        cmocka_unit_test(test_q8_cli_options),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
