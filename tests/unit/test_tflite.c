/* test_tflite.c: TensorFlow Lite models in, through tools/cnnc_import.py.
 * Each model is imported as users do, compiled with build/cnnc and the C
 * compiler, and run on random inputs by tests/tflite/check.py, which
 * compares the outputs with tests/tflite/tflite_ref.py (TFLite's reference
 * kernels in numpy): int8 byte for byte, float within 1e-5 of the largest
 * value; with --all-tensors every tensor of the model is an output and
 * each operator is checked from cnnc's own inputs. The small models in
 * tests/tflite/models (made by tests/tflite/make_models.py) are committed;
 * the MLPerf Tiny references come from ../shared and are skipped without
 * it. Python with numpy and flatbuffers (Debian packages make test
 * installs) runs the importer; without them the tests are skipped. */
#include "testutil.h"

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>

#define PY "PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3"
#define IMPORT PY " tools/cnnc_import.py"
#define CHECK PY " tests/tflite/check.py --build build"
#define OUT "build/tflite"
#define MLPERF "../shared/models/mlperf-tiny"

/* Whether the importer's Python packages are there (found once). */
static int setup(void **state)
{
    static bool ok;
    ok = system(PY " -c 'import numpy, flatbuffers' 2>/dev/null") == 0;
    *state = &ok;
    return system("rm -rf " OUT " && mkdir -p " OUT) != 0;
}

/* Skips the test, saying why, without the Python packages. */
static void need_python(void **state)
{
    if (!*(bool *)*state) {
        print_message("skipped: /usr/bin/python3 lacks numpy or flatbuffers (python3-numpy, python3-flatbuffers)\n");
        skip();
    }
}

/* Runs check.py on model with extra arguments; it must print "all match"
 * and exit 0. */
static void expect_match(const char *model, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, CHECK " --work " OUT "/work %s %s 2>&1", args, model);
    char *out = tu_run_expect(cmd, 0);
    if (!strstr(out, "all match"))
        fail_msg("%s\n%s", cmd, out);
    free(out);
}

/* Calls fn on every path in dir ending in ext, in name order; returns how many. */
static int each_file(const char *dir, const char *ext, void (*fn)(const char *path))
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort), count = 0;
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(list[i]->d_name), el = strlen(ext);
        if (len > el && strcmp(list[i]->d_name + len - el, ext) == 0) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            fn(path);
            count++;
        }
        free(list[i]);
    }
    free(list);
    return count;
}

/* One committed model: its outputs, then every tensor op by op. */
static void check_model(const char *path)
{
    expect_match(path, "--inputs 8 --armnn");
    expect_match(path, "--inputs 8 --all-tensors --seed 2");
}

/* Every committed model, float and int8, matches the reference. */
static void test_tflite_models_match_reference(void **state)
{
    need_python(state);
    assert_true(each_file("tests/tflite/models", ".tflite", check_model) >= 8);
}

/* Skips without ../shared's MLPerf Tiny models. */
static void need_mlperf(void)
{
    struct stat st;
    if (stat(MLPERF "/resnet8_int8.tflite", &st) != 0) {
        print_message("skipped: no " MLPERF " (MLPerf Tiny reference models)\n");
        skip();
    }
}

/* MLPerf Tiny's int8 ResNet-8 and DS-CNN: every tensor byte for byte on
 * 20 random inputs, the outputs on 100 more; the float ones within 1e-5,
 * also against Arm NN (the hybrid DS-CNN against its dequantized weights). */
static void test_tflite_mlperf_bit_exact(void **state)
{
    need_python(state);
    need_mlperf();
    expect_match(MLPERF "/resnet8_int8.tflite", "--inputs 20 --all-tensors");
    expect_match(MLPERF "/dscnn_kws_int8.tflite", "--inputs 20 --all-tensors --seed 3");
    expect_match(MLPERF "/resnet8_int8.tflite", "--inputs 100 --seed 4");
    expect_match(MLPERF "/dscnn_kws_int8.tflite", "--inputs 100 --seed 5");
    expect_match(MLPERF "/resnet8_float.tflite", "--inputs 10 --armnn");
    expect_match(MLPERF "/dscnn_kws_float.tflite", "--inputs 10");
}

/* The .net the importer writes for a model is the golden one (comments
 * naming each source operator, Keras layer names, quantization keys). */
static void expect_golden_net(const char *model, const char *name)
{
    char cmd[2048], got[512], want[512];
    snprintf(cmd, sizeof cmd, IMPORT " %s -o " OUT "/golden 2>&1", model);
    free(tu_run_expect(cmd, 0));
    snprintf(got, sizeof got, OUT "/golden/%s.net", name);
    snprintf(want, sizeof want, "tests/golden/tflite/%s.net", name);
    if (getenv("CNNC_UPDATE_GOLDEN")) {
        snprintf(cmd, sizeof cmd, "cp %s %s", got, want);
        assert_int_equal(system(cmd), 0);
    }
    size_t ng, nw;
    char *g = tu_read_file(got, &ng), *w = tu_read_file(want, &nw);
    if (ng != nw || memcmp(g, w, ng) != 0) {
        snprintf(cmd, sizeof cmd, "diff -u %s %s", want, got);
        char *d = NULL;
        tu_run(cmd, &d);
        fail_msg("%s differs from %s:\n%s", got, want, d ? d : "");
    }
    free(g);
    free(w);
}

/* The written .net files read as the golden ones. */
static void test_tflite_net_is_golden(void **state)
{
    need_python(state);
    expect_golden_net("tests/tflite/models/convnet_int8.tflite", "convnet_int8");
    expect_golden_net("tests/tflite/models/acts_float.tflite", "acts_float");
    expect_golden_net("tests/tflite/models/edges_int8.tflite", "edges_int8");
}

/* An int8 model compiles with no option to int8 code taking and returning
 * int8, with the model's own scale and zero point in the header. */
static void test_tflite_int8_interface(void **state)
{
    need_python(state);
    free(tu_run_expect(IMPORT " tests/tflite/models/convnet_int8.tflite -o " OUT "/if 2>&1", 0));
    free(tu_run_expect("build/cnnc " OUT "/if/convnet_int8.net -w " OUT "/if/convnet_int8.safetensors -o " OUT
                       "/if/convnet_int8.c 2>&1", 0));
    size_t n;
    char *h = tu_read_file(OUT "/if/convnet_int8.h", &n);
    assert_non_null(strstr(h, "void convnet_int8_run(const int8_t *input, int8_t *output);"));
    assert_non_null(strstr(h, "#define CONVNET_INT8_INPUT_ZERO_POINT"));
    assert_non_null(strstr(h, "#define CONVNET_INT8_OUTPUT0_SCALE 0.00390625f"));
    free(h);
}

/* A model the importer refuses: exit 1, the golden message naming the
 * operator, and nothing written. */
static void check_bad(const char *path)
{
    char cmd[1024], want[512];
    const char *base = strrchr(path, '/') + 1;
    snprintf(cmd, sizeof cmd, "rm -rf " OUT "/bad && " IMPORT " %s -o " OUT "/bad 2>&1", path);
    char *out = tu_run_expect(cmd, 1);
    snprintf(want, sizeof want, "tests/golden/tflite/%.*s.err", (int)(strlen(base) - 7), base);
    if (getenv("CNNC_UPDATE_GOLDEN")) {
        FILE *f = fopen(want, "w");
        assert_non_null(f);
        fputs(out, f);
        fclose(f);
    }
    size_t n;
    char *w = tu_read_file(want, &n);
    if (strcmp(out, w) != 0)
        fail_msg("%s: got\n%swant\n%s", path, out, w);
    struct stat st;
    assert_int_not_equal(stat(OUT "/bad/batch.net", &st), 0);
    free(w);
    free(out);
}

/* Each bad model gives its own message. */
static void test_tflite_bad_models_refused(void **state)
{
    need_python(state);
    assert_true(each_file("tests/tflite/bad", ".tflite", check_bad) >= 4);
}

/* Damaged copies of small models (cut at every offset, bytes changed,
 * bits flipped, words set to huge counts and offsets past the end) are
 * imported or refused with the importer's own error: no traceback, no hang. */
static void test_tflite_damaged_files_refused_cleanly(void **state)
{
    need_python(state);
    const char *models[] = {"convnet_int8", "pools_float", "edges_int8", "acts_int8"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, PY " tests/tflite/damage.py tests/tflite/models/%s.tflite --flips 1000 2>&1",
                 models[i]);
        char *out = tu_run_expect(cmd, 0);
        assert_non_null(strstr(out, " 0 failures"));
        free(out);
    }
}

/* Arm NN's reference backend against TFLite's int8 semantics, operator
 * by operator: reported (docs/import.md explains each difference), not
 * judged, since Arm NN rounds differently on purpose. */
static void test_tflite_armnn_differences_reported(void **state)
{
    need_python(state);
    if (system(PY " -c 'import pyarmnn' 2>/dev/null") != 0) {
        print_message("skipped: no python3-pyarmnn\n");
        skip();
    }
    char *out = tu_run_expect(PY " tests/tflite/armnn_ops.py --inputs 20 2>/dev/null", 0);
    print_message("%s", out);
    assert_non_null(strstr(out, "MEAN over H,W"));
    free(out);
}

/* Exit status 2 for usage, 1 for a file that is not a model. */
static void test_tflite_cli_errors(void **state)
{
    need_python(state);
    char *out = tu_run_expect(IMPORT " 2>&1", 2);
    free(out);
    out = tu_run_expect(IMPORT " " OUT "/missing.tflite 2>&1", 2);
    assert_non_null(strstr(out, "cannot read"));
    free(out);
    out = tu_run_expect(IMPORT " tests/tflite/models/acts_int8.tflite --name 9x 2>&1", 2);
    assert_non_null(strstr(out, "C identifier"));
    free(out);
    /* a .net renamed: no TFL3 identifier */
    assert_int_equal(system("cp models/lenet5.net " OUT "/lenet5.tflite"), 0);
    out = tu_run_expect(IMPORT " " OUT "/lenet5.tflite -o " OUT "/x 2>&1", 1);
    assert_non_null(strstr(out, "not a TensorFlow Lite file"));
    free(out);
    /* a damaged flatbuffer: cut in half */
    assert_int_equal(system("head -c 1500 tests/tflite/models/convnet_int8.tflite > " OUT "/cut.tflite"), 0);
    out = tu_run_expect(IMPORT " " OUT "/cut.tflite -o " OUT "/x 2>&1", 1);
    assert_non_null(strstr(out, "cnnc_import: error:"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tflite_models_match_reference),
        cmocka_unit_test(test_tflite_mlperf_bit_exact),
        cmocka_unit_test(test_tflite_net_is_golden),
        cmocka_unit_test(test_tflite_int8_interface),
        cmocka_unit_test(test_tflite_bad_models_refused),
        cmocka_unit_test(test_tflite_damaged_files_refused_cleanly),
        cmocka_unit_test(test_tflite_armnn_differences_reported),
        cmocka_unit_test(test_tflite_cli_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
