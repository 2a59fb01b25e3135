/* test_q8.c: the int8 back end (compiler/emit_q8.c). Each test takes a
 * case of tests/ref, calibrates it on the case's input and a few
 * perturbed copies, generates int8 C, builds it with the strict flags of
 * generated code, runs it on the input and requires every output to equal
 * the int8 reference (tests/quantref) bit for bit: the outputs are
 * dequantized by both, and dequantization is one-to-one, so equal floats
 * mean equal int8 values. The digits demo set checks accuracy against
 * PyTorch's, and the command line's new options their usage errors.
 *
 * The reference is included whole, as test_quant.c does, so every build
 * of the suites links it without rules of its own. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../quantref/quantref.c"
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
        fail_msg("%s: calibration failed: %s", k->name, case_messages(k));
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
        fail_msg("%s: emission failed: %s", k->name, case_messages(k));
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
        fail_msg("%s: build failed:\n%s", k->name, out);
    free(out);
}

/* Runs the built program on a file of inputs; returns the outputs (malloc'd). */
static float *run(Case *k, const char *inputs, size_t *nbytes)
{
    char cmd[1024], outpath[256];
    snprintf(outpath, sizeof outpath, "%s/%s_out.bin", scratch(), k->name);
    snprintf(cmd, sizeof cmd, "%s/%s %s %s", scratch(), k->name, inputs, outpath);
    assert_int_equal(tu_run(cmd, NULL), 0);
    return (float *)tu_read_file(outpath, nbytes);
}

/* The whole check on tests/ref/<name>: generated int8 outputs equal the
 * reference's bit for bit. */
static void check_ref(const char *name)
{
    char model[256], weights[256], inpath[256];
    snprintf(model, sizeof model, "tests/ref/%s/model.net", name);
    snprintf(weights, sizeof weights, "tests/ref/%s/weights.safetensors", name);
    snprintf(inpath, sizeof inpath, "tests/ref/%s/input.bin", name);
    Case k = {0};
    case_open(&k, name, model, weights);
    Net *net = k.c->net;
    float *input = (float *)tu_read_file(inpath, NULL);
    generate(&k, write_calibration(&k, input));
    build(&k);
    size_t nbytes;
    float *got = run(&k, inpath, &nbytes);
    int8_t **want = qr_run(net, input);
    size_t off = 0;
    for (int i = 0; i < net->noutputs; i++) {
        const Layer *l = net->outputs[i];
        int64_t n = numel(l->shape);
        assert_true(off + (size_t)n * sizeof(float) <= nbytes);
        float *ref = malloc((size_t)n * sizeof *ref);
        assert_non_null(ref);
        qr_dequantize_tensor(l, want[l->index], ref);
        for (int64_t j = 0; j < n; j++)
            if (memcmp(&got[off / sizeof(float) + (size_t)j], &ref[j], sizeof(float)) != 0)
                fail_msg("%s: output '%s'[%lld] is %.9g, reference %.9g (int8 %d)", name, l->name, (long long)j,
                         (double)got[off / sizeof(float) + (size_t)j], (double)ref[j], want[l->index][j]);
        off += (size_t)n * sizeof(float);
        free(ref);
    }
    assert_int_equal(off, nbytes);
    qr_free(net, want);
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
    build(&k);
    int8_t **want = qr_run(net, input);
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
    qr_free(net, want);
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

/* ---- the Cortex-M4 kernels (SMLAD, SXTB16, SMMLAR, assembly) ---- */

#define M4 "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"

/* Reset handler for qemu's mps2-an386: the FPU on, then newlib's
 * semihosting start-up, which gives printf. */
static const char m4_boot_src[] =
    "extern void _start(void);\nvoid reset(void);\n"
    "void reset(void)\n{\n    *(volatile unsigned *)0xE000ED88u |= 0xFu << 20;\n"
    "    __asm__ volatile(\"dsb\\n isb\");\n    _start();\n}\n"
    "__attribute__((section(\".vectors\"), used)) static void (*const vectors[2])(void) = {\n"
    "    (void (*)(void))0x20400000u, reset};\n";

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
    int8_t **want = qr_run(net, input);
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
    write_bytes(path, m4_boot_src, strlen(m4_boot_src));
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
    qr_free(net, want);
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
    snprintf(cmd, sizeof cmd, "grep -c 'static const int8_t w_' %s/cli.c", scratch());
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
        cmocka_unit_test(test_q8_cortex_m4_matches_reference),
        cmocka_unit_test(test_q8_cortex_m4_pointwise_tails_match_reference),
        cmocka_unit_test(test_q8_sxtab16_adds_bytes_per_lane),
        cmocka_unit_test(test_q8_cortex_m4_builds_every_case),
        cmocka_unit_test(test_q8_builds_for_rv32),
        cmocka_unit_test(test_q8_arena_bytes_suffice),
        cmocka_unit_test(test_q8_digits_accuracy_within_one_point),
        cmocka_unit_test(test_q8_cli_options),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
