/* test_onnx.c: tools/import_onnx.py, from ONNX to .net and safetensors.
 * Each committed model (tests/onnx/cases, built by tests/onnx/gen.py with
 * onnx.helper, expected outputs from tests/onnx/ref.py) is imported as
 * users do, compiled by cnnc and gcc with the strict flags, and must give
 * the expected outputs within the e2e tolerance,
 *   |got - exp| <= 1e-5 * max(|exp|, 0.1 * max|exp over the output|).
 * Then the diagnostics (golden messages, exit status, nothing written),
 * damaged files, and ONNX's own backend tests (Debian's libonnx-testdata)
 * through tests/onnx/conformance.py. Without onnx at /usr/bin/python3
 * every test is skipped, saying so; without libonnx-testdata, the
 * conformance test. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>

#ifndef ONNX_PYTHON
#define ONNX_PYTHON "/usr/bin/python3"
#endif
#define RUNPY "PYTHONDONTWRITEBYTECODE=1 " ONNX_PYTHON
#define IMPORT RUNPY " tools/cnnc_import.py"
#define OUT "build/onnx"
#define CASES "tests/onnx/cases"
#define BAD "tests/onnx/bad"
#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"

/* What the machine has, found once for the suite. */
typedef struct Env {
    bool onnx; /* /usr/bin/python3 has onnx and numpy */
} Env;

/* Every test's state: the machine, and the committed case it runs (if any). */
typedef struct Test {
    const Env *env;
    char name[128];
} Test;

/* Skips the test, saying why, when onnx is absent; returns its state. */
static const Test *need_onnx(void **state)
{
    const Test *t = *state;
    if (!t->env->onnx) {
        print_message("skipped: no onnx at " ONNX_PYTHON " (Debian: python3-onnx)\n");
        skip();
    }
    return t;
}

/* Runs cmd with stderr joined to stdout; fails unless it exits with want. */
static char *run_expect(const char *cmd, int want)
{
    char full[8192];
    snprintf(full, sizeof full, "(%s) 2>&1", cmd);
    return tu_run_expect(full, want);
}

/* Fails unless text holds want. */
static void expect_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("no\n  %s\nin\n%s", want, text);
}

/* Prints text whole: cmocka's print_message cuts at 1 kB. */
static void print_long(const char *text)
{
    for (size_t n = strlen(text); n > 0;) {
        int k = n > 900 ? 900 : (int)n;
        print_message("%.*s", k, text);
        text += k;
        n -= (size_t)k;
    }
}

/* The number of entries in dir, -1 when it does not exist. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* cnnc compiles DIR/NAME.net with its weights, gcc builds it with a
 * harness, and each input_K.bin (or input.bin when batches is 0) must
 * give expected_K.bin. Returns the log; *ok says whether all passed.
 * With gen_only, cnnc alone runs (the sanitized pass: see main). */
static char *compile_and_run(const char *dir, const char *name, const char *ref, int batches, int noutputs,
                             const char *opt, bool gen_only, bool *ok)
{
    char path[600], header[300], cmd[8192];
    snprintf(path, sizeof path, "%s/harness.c", dir);
    snprintf(header, sizeof header, "%s.h", name);
    tu_write_harness(path, header, name, noutputs);
    int n = snprintf(cmd, sizeof cmd,
                     "(build/cnnc %s/%s.net -w %s/%s.safetensors -o %s/%s.c && "
                     "cc " STRICT " %s -Iruntime -I%s %s/harness.c %s/%s.c runtime/cnnc_rt.c -lm -o %s/run",
                     dir, name, dir, name, dir, name, opt, dir, dir, dir, name, dir);
    if (gen_only)
        n = snprintf(cmd, sizeof cmd, "(build/cnnc %s/%s.net -w %s/%s.safetensors -o %s/%s.c", dir, name, dir, name,
                     dir, name);
    else if (batches == 0)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " && %s/run %s/input.bin %s/expected.bin", dir, ref, ref);
    for (int k = 0; k < batches && !gen_only && n < (int)sizeof cmd; k++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " && %s/run %s/input_%d.bin %s/expected_%d.bin", dir, ref, k,
                      ref, k);
    snprintf(cmd + n, sizeof cmd - (size_t)n, ") 2>&1");
    char *log = NULL;
    *ok = tu_run(cmd, &log) == 0;
    return log;
}

/* One committed case: import, compile, compare. */
static void test_onnx_case(void **state)
{
    const char *name = need_onnx(state)->name;
    char dir[300], ref[300], cmd[2048], path[400];
    snprintf(dir, sizeof dir, OUT "/cases/%s", name);
    snprintf(ref, sizeof ref, CASES "/%s", name);
    snprintf(cmd, sizeof cmd, "rm -rf %s && " IMPORT " %s/model.onnx -o %s --name %s", dir, ref, dir, name);
    char *log = run_expect(cmd, 0);
    expect_has(log, "wrote ");
    free(log);
    snprintf(path, sizeof path, "%s/outputs.txt", ref);
    char *text = tu_read_file(path, NULL);
    int noutputs = atoi(text);
    free(text);
    bool ok;
    log = compile_and_run(dir, name, ref, 0, noutputs, "-O1", false, &ok);
    if (!ok)
        fail_msg("%s:\n%s", name, log);
    print_message("%s", log);
    free(log);
}

static void test_onnx_net_names_layers_and_source_nodes(void **state)
{
    need_onnx(state);
    free(run_expect("rm -rf " OUT "/names && " IMPORT " " CASES "/residual/model.onnx -o " OUT "/names", 0));
    char *net = tu_read_file(OUT "/names/model.net", NULL);
    /* The name is the file's stem; the header says where it came from. */
    expect_has(net, "# Imported from model.onnx by tools/cnnc_import.py (docs/onnx.md).\n"
                    "# ONNX opset 17, IR version 8, made by cnnc tests/onnx/gen.py. ONNX is NCHW: the input is "
                    "CxHxW, batch 1.\n\nnetwork model\n");
    expect_has(net, "\ninput           x                4x8x8\n");
    /* Weights named like a state_dict name their layers; others the node. */
    expect_has(net, "\nconv2d          a                out=4 kernel=3 padding=1  # node 0 'Conv_1' (Conv -> 't1')\n");
    expect_has(net, "\nadd             Add_4            from=b,Relu_2  ");
    expect_has(net, "\nadd             Sum_7            from=Relu_2,Relu_5,b  ");
    expect_has(net, "\nconcat          Concat_8         from=c,Sum_7  ");
    /* Identity is no layer, nor Flatten of Cx1x1; Dropout is, with its ratio. */
    expect_has(net, "\ndropout         Dropout_10       p=0.25  ");
    expect_has(net, "\nglobalmaxpool2d GlobalMaxPool_11   ");
    expect_has(net, "\nlinear          fc               out=5                     # node 12 'Gemm_13' (Gemm -> 't13')\n");
    expect_has(net, "\n\noutput fc Dropout_10\n");
    free(net);
    /* MatMul then Add: one linear whose comment names both nodes. */
    free(run_expect("rm -rf " OUT "/names && " IMPORT " " CASES "/matmul_add/model.onnx -o " OUT "/names", 0));
    net = tu_read_file(OUT "/names/model.net", NULL);
    expect_has(net, "\nlinear      MatMul_2  out=16     # node 1 'MatMul_2' (MatMul -> 't2'); bias from node 2 (Add -> "
                    "'t3')\n");
    /* BatchNormalization of a [1,N] tensor (BatchNorm1d), named by its weight */
    expect_has(net, "\nbatchnorm2d bn        eps=1e-05  # node 4 'BatchNormalization_5' ");
    free(net);
    /* Pads taken as a Conv's or pool's padding: the comment names the Pad. */
    free(run_expect("rm -rf " OUT "/names && " IMPORT " " CASES "/pad_fold/model.onnx -o " OUT "/names", 0));
    net = tu_read_file(OUT "/names/model.net", NULL);
    expect_has(net, "\nconv2d    c2            from=x out=2 kernel=3 padding=1 padding_mode=reflect                   "
                    "# node 3 'Conv_4' (Conv -> 't4'); padding from node 2 (Pad -> 't3')\n");
    expect_has(net, "\nmaxpool2d MaxPool_10    from=x kernel=2 stride=2 padding=1   ");
    free(net);
}

static void test_onnx_unsupported_op_names_node_and_writes_nothing(void **state)
{
    need_onnx(state);
    /* An older import stands in the directory: it must stay untouched. */
    free(run_expect("rm -rf " OUT "/bad && mkdir -p " OUT "/bad && echo old > " OUT "/bad/unsupported.net", 0));
    char *log = run_expect(IMPORT " " BAD "/unsupported.onnx -o " OUT "/bad", 1);
    assert_string_equal(
        log, "cnnc_import: error: node 2 'Erf_3' (Erf -> 'up'): Erf is not supported (supported: Add, "
             "AveragePool, BatchNormalization, Clip, Concat, Conv, Div, Dropout, Elu, Flatten, Gemm, GlobalAveragePool, "
             "GlobalMaxPool, HardSigmoid, HardSwish, Identity, LeakyRelu, MatMul, MaxPool, Mul, PRelu, Pad, ReduceMean, "
             "Relu, Reshape, Resize, Sigmoid, Softmax, Squeeze, Sub, Sum, Tanh, Unsqueeze; on constants also Cast, "
             "Constant, ConstantOfShape, Gather, Range, Shape, Size, Slice, Transpose)\n");
    free(log);
    assert_int_equal(entries(OUT "/bad"), 1);
    char *old = tu_read_file(OUT "/bad/unsupported.net", NULL);
    assert_string_equal(old, "old\n");
    free(old);
    /* A Clip whose bounds cross, and a reshape that does not flatten. */
    free(run_expect("rm -rf " OUT "/bad", 0));
    log = run_expect(IMPORT " " BAD "/bad_clip.onnx -o " OUT "/bad", 1);
    assert_string_equal(log, "cnnc_import: error: node 1 (Clip -> 'clipped'): Clip to [2, 1]: min above max\n");
    free(log);
    log = run_expect(IMPORT " " BAD "/not_flatten.onnx -o " OUT "/bad", 1);
    assert_string_equal(log, "cnnc_import: error: node 1 'reshape' (Reshape -> 't2'): reshapes 1x1x8x8 to 1x4x16, "
                             "which is not a flatten\n");
    free(log);
    assert_int_equal(entries(OUT "/bad"), -1);
}

static void test_onnx_dynamic_and_batch_inputs_are_errors_old_opsets_warnings(void **state)
{
    need_onnx(state);
    char *log = run_expect(IMPORT " " BAD "/dynamic.onnx -o " OUT "/bad", 1);
    assert_string_equal(log, "cnnc_import: error: input 'x' dimension 0 is 'N' (dynamic); cnnc needs static shapes\n");
    free(log);
    log = run_expect(IMPORT " " BAD "/batch2.onnx -o " OUT "/bad", 1);
    assert_string_equal(log, "cnnc_import: error: input 'x' has batch 2; cnnc models take one input at a time "
                             "(batch 1)\n");
    free(log);
    assert_int_equal(entries(OUT "/bad"), -1);
    /* An opset before 7 is read, with a warning. */
    log = run_expect(IMPORT " " BAD "/opset6.onnx -o " OUT "/old", 0);
    assert_string_equal(log, "cnnc_import: warning: opset6.onnx: opset 6 is older than 7; its ops are read with "
                             "opset 7's rules (docs/onnx.md)\n"
                             "wrote " OUT "/old/opset6.net (2 layers) and " OUT "/old/opset6.safetensors (2 tensors)\n");
    free(log);
}

static void test_onnx_bad_files_exit_1_and_usage_2(void **state)
{
    need_onnx(state);
    char *log = run_expect(IMPORT " " BAD "/garbage.onnx -o " OUT "/bad", 1);
    assert_string_equal(log, "cnnc_import: error: garbage.onnx is not an ONNX model (Error parsing message with type 'onnx.ModelProto')\n");
    free(log);
    /* Cut in the middle of the weights. */
    free(run_expect("mkdir -p " OUT " && head -c 1000 " CASES "/bn_acts/model.onnx > " OUT "/cut.onnx", 0));
    log = run_expect(IMPORT " " OUT "/cut.onnx -o " OUT "/bad", 1);
    expect_has(log, "cnnc_import: error: cut.onnx is not an ONNX model (");
    free(log);
    log = run_expect(IMPORT " " BAD "/no_such.onnx -o " OUT "/bad", 2);
    expect_has(log, "cnnc_import: error: cannot read " BAD "/no_such.onnx: No such file or directory\n");
    free(log);
    log = run_expect(IMPORT " " BAD "/tiny.onnx --name 2x -o " OUT "/bad", 2);
    expect_has(log, "cnnc_import: error: --name must be a C identifier, got '2x'\n");
    free(log);
    assert_int_equal(entries(OUT "/bad"), -1);
}

static void test_onnx_damaged_files_are_errors_not_crashes(void **state)
{
    need_onnx(state);
    /* Every truncation and three flips of every byte, in one process:
     * each imports or is a model error; any exception fails. */
    char *log = run_expect(RUNPY " tests/onnx/gen.py fuzz " BAD "/tiny.onnx && " RUNPY
                                 " tests/onnx/gen.py fuzz " CASES "/pools/model.onnx",
                           0);
    expect_has(log, "fuzz: 900 damaged files: ");
    expect_has(log, "fuzz: 2868 damaged files: ");
    print_message("%s", log);
    free(log);
}

static void test_onnx_generated_c_builds_for_cortex_m4_and_riscv(void **state)
{
    need_onnx(state);
    if (!tu_cross_checks() || tu_run("command -v arm-none-eabi-gcc && command -v riscv64-unknown-elf-gcc", NULL)) {
        print_message("skipped: no cross compilers, or the sanitized pass\n");
        skip();
    }
    /* What the case tests wrote, for the reference MCU and freestanding RISC-V. */
    char *log = run_expect("n=0; for f in " OUT "/cases/*/*.c; do case $f in */harness.c) continue;; esac; "
                           "d=$(dirname $f); n=$((n+1)); "
                           "arm-none-eabi-gcc " STRICT " -O2 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard "
                           "-mfpu=fpv4-sp-d16 -Iruntime -I$d -c $f -o $d/m4.o || exit 1; "
                           "riscv64-unknown-elf-gcc " STRICT " -O2 -ffreestanding -nostdlib -Iruntime -I$d "
                           "-c $f -o $d/rv.o || exit 1; done; echo \"$n models built for both\"",
                           0);
    print_message("%s", log);
    free(log);
}

/* torchvision's NAME exported by torch.onnx at opset: it imports, and cnnc
 * counts PyTorch's parameters less one per BatchNorm channel (torch.onnx
 * folds each BatchNorm into the conv before it: its weight and bias, two
 * parameters a channel, become that conv's bias, one). */
static void torchvision_export(void **state, const char *name, int opset, const char *params)
{
    need_onnx(state);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, RUNPY " -c 'import torch, torchvision' 2>&1");
    char *log = NULL;
    if (tu_run(cmd, &log) != 0) {
        free(log);
        print_message("skipped: no PyTorch or torchvision at " ONNX_PYTHON "\n");
        skip();
    }
    free(log);
    snprintf(cmd, sizeof cmd,
             "rm -rf " OUT "/tv && mkdir -p " OUT "/tv && " RUNPY " tests/onnx/torch_export.py torchvision %s %d " OUT
             "/tv/%s.onnx && " IMPORT " " OUT "/tv/%s.onnx -o " OUT "/tv && build/cnnc " OUT "/tv/%s.net -w " OUT
             "/tv/%s.safetensors --report; status=$?; rm -f " OUT "/tv/*.onnx " OUT "/tv/*.safetensors; exit $status",
             name, opset, name, name, name, name);
    log = run_expect(cmd, 0);
    expect_has(log, params);
    free(log);
}

static void test_onnx_torchvision_resnet18_imports(void **state)
{
    /* 11,689,512 in PyTorch, 9,600 of them in 20 BatchNorms' 4,800 channels */
    torchvision_export(state, "resnet18", 13, "\ntotal                                                          11,684,712  ");
}

static void test_onnx_torchvision_mobilenet_v2_imports(void **state)
{
    /* 3,504,872 in PyTorch, 34,112 of them in 52 BatchNorms' 17,056 channels */
    torchvision_export(state, "mobilenet_v2", 11, "\ntotal                                                          3,487,816  ");
}

/* One line of conformance.py's list. */
typedef struct Conf {
    char kind[16], label[200], dir[300], name[200], why[600];
    int batches, outputs;
} Conf;

/* ONNX's backend tests that the importer reads, compiled and run. */
static void test_onnx_conformance_backend_tests(void **state)
{
    need_onnx(state);
    char *log = NULL;
    int status = tu_run(RUNPY " tests/onnx/conformance.py " OUT "/conf 2>&1", &log);
    if (status == 77) {
        print_message("skipped: %s", log);
        free(log);
        skip();
    }
    if (status != 0)
        fail_msg("conformance.py: status %d\n%s", status, log);
    print_long(log);
    free(log);
    FILE *f = fopen(OUT "/conf/list.txt", "r");
    assert_non_null(f);
    int ran = 0, passed = 0, refused = 0, skipped = 0;
    char line[1200];
    char *failures = calloc(1, 1);
    size_t flen = 0;
    while (fgets(line, sizeof line, f)) {
        Conf c = {0};
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%15s %199s", c.kind, c.label) != 2)
            continue;
        if (strcmp(c.kind, "run") != 0) {
            const char *why = line + strlen(c.kind) + 1 + strlen(c.label) + 1;
            if (strcmp(c.kind, "refused") == 0) {
                refused++;
                print_message("refused %s: %s\n", c.label, why);
            } else
                skipped++;
            continue;
        }
        if (sscanf(line, "%*s %*s %299s %199s %d %d", c.dir, c.name, &c.batches, &c.outputs) != 4)
            fail_msg("bad line in list.txt: %s", line);
        ran++;
        bool ok;
        /* the sanitized pass checks what its cnnc does with each; building
         * and running each program again there would check nothing new */
        char *out = compile_and_run(c.dir, c.name, c.dir, c.batches, c.outputs, "-O0", !tu_cross_checks(), &ok);
        if (ok)
            passed++;
        else {
            size_t add = strlen(c.label) + strlen(out) + 16;
            failures = realloc(failures, flen + add);
            flen += (size_t)snprintf(failures + flen, add, "FAILED %s:\n%s\n", c.label, out);
        }
        free(out);
    }
    fclose(f);
    print_message("conformance: %d of %d applicable ONNX backend tests passed%s; %d refused by the importer "
                  "(listed above, with its reason); %d skipped (ops or forms outside the language)\n",
                  passed, ran, tu_cross_checks() ? "" : " (generated only: the sanitized pass)", refused, skipped);
    if (passed != ran)
        fail_msg("%s", failures);
    free(failures);
}

/* The cases in name order. */
static int by_name(const void *a, const void *b)
{
    return strcmp(((const Test *)a)->name, ((const Test *)b)->name);
}

/* Finds out whether onnx is there and lists the cases. */
int main(void)
{
    mkdir("build", 0777);
    mkdir(OUT, 0777);
    mkdir(OUT "/cases", 0777);
    Env env = {0};
    char *log = NULL;
    env.onnx = tu_run(RUNPY " -c 'import onnx, numpy' 2>&1", &log) == 0;
    free(log);
    if (!env.onnx)
        fprintf(stderr, "test_onnx: no onnx at " ONNX_PYTHON " (Debian: python3-onnx): the tests are skipped\n");
    static const struct {
        const char *name;
        CMUnitTestFunction fn;
    } fixed[] = {
#define T(f) {#f, f}
        T(test_onnx_net_names_layers_and_source_nodes),
        T(test_onnx_unsupported_op_names_node_and_writes_nothing),
        T(test_onnx_dynamic_and_batch_inputs_are_errors_old_opsets_warnings),
        T(test_onnx_bad_files_exit_1_and_usage_2),
        T(test_onnx_damaged_files_are_errors_not_crashes),
        T(test_onnx_generated_c_builds_for_cortex_m4_and_riscv),
        T(test_onnx_torchvision_resnet18_imports),
        T(test_onnx_torchvision_mobilenet_v2_imports),
        T(test_onnx_conformance_backend_tests),
#undef T
    };
    size_t nf = sizeof fixed / sizeof *fixed, n = 0;
    DIR *d = opendir(CASES);
    if (!d) {
        fprintf(stderr, "run from the repository root: no " CASES "\n");
        return 1;
    }
    Test *cases = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof cases->name)
            continue;
        cases = realloc(cases, (n + 1) * sizeof *cases);
        cases[n].env = &env;
        memcpy(cases[n++].name, e->d_name, strlen(e->d_name) + 1); /* fits: checked above */
    }
    closedir(d);
    qsort(cases, n, sizeof *cases, by_name);
    char (*titles)[160] = calloc(n + 1, sizeof *titles);
    struct CMUnitTest *tests = calloc(n + nf, sizeof *tests);
    Test plain = {&env, ""};
    for (size_t i = 0; i < n; i++) {
        snprintf(titles[i], sizeof *titles, "test_onnx_case_%s", cases[i].name);
        tests[i] = (struct CMUnitTest){titles[i], test_onnx_case, NULL, NULL, &cases[i]};
    }
    for (size_t i = 0; i < nf; i++)
        tests[n + i] = (struct CMUnitTest){fixed[i].name, fixed[i].fn, NULL, NULL, &plain};
    int failed = _cmocka_run_group_tests("onnx", tests, n + nf, NULL, NULL);
    free(tests);
    free(titles);
    free(cases);
    return failed;
}
