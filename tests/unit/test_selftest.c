/* test_selftest.c: cnnc --emit-test, on the host. The self-test it writes
 * compiles with the strict flags, passes on the reference data, fails
 * (status 1, the worst value named) when the data disagree, takes
 * several samples and outputs, needs no stdio when given a print hook;
 * the options' usage errors exit 2, bad data exit 1 and write nothing. */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>

#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"
#define DIR "build/selftest"
#define REF "tests/ref"

/* The cnnc command for reference case c writing DIR/NAME.c and its self-test. */
static const char *cnnc(char *buf, size_t len, const char *c, const char *name, const char *input,
                        const char *expected, const char *extra)
{
    snprintf(buf, len,
             "build/cnnc " REF "/%s/model.net -w " REF "/%s/weights.safetensors -o " DIR "/%s.c "
             "--emit-test " DIR "/%s_test.c --test-input %s --test-expected %s %s 2>&1",
             c, c, name, name, input, expected, extra);
    return buf;
}

/* Builds DIR/NAME_test.c with the model for the host and runs it; returns what it printed. */
static char *build_and_run(const char *name, int want)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cc " STRICT " -O1 -Iruntime -I" DIR " " DIR "/%s_test.c " DIR "/%s.c runtime/cnnc_rt.c -o " DIR
             "/%s_run 2>&1 && " DIR "/%s_run",
             name, name, name, name);
    return tu_run_expect(cmd, want);
}

/* Writes a file of floats: src's values repeated, scaled, or one changed. */
static void write_floats(const char *path, const char *src, int repeat, long change, float factor)
{
    size_t len;
    char *data = tu_read_file(src, &len);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int r = 0; r < repeat; r++) {
        float *v = (float *)(void *)data;
        if (change >= 0 && r == 0)
            v[change] *= factor;
        assert_int_equal(fwrite(data, 1, len, f), len);
        if (change >= 0 && r == 0)
            v[change] /= factor;
    }
    fclose(f);
    free(data);
}

static int setup(void **state)
{
    (void)state;
    mkdir("build", 0777);
    mkdir(DIR, 0777);
    return 0;
}

static void test_selftest_passes(void **state)
{
    (void)state;
    char cmd[2048];
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "digits", "digits", REF "/digits/input.bin", REF "/digits/expected.bin", ""),
                    0));
    char *out = build_and_run("digits", 0);
    if (!strstr(out, "digits self-test: 1 sample, 10 output values each\n") || !strstr(out, "largest error ") ||
        !strstr(out, "\nPASS\n"))
        fail_msg("unexpected output:\n%s", out);
    free(out);
}

static void test_selftest_fails_beyond_tolerance(void **state)
{
    (void)state;
    char cmd[2048];
    write_floats(DIR "/bad_expected.bin", REF "/digits/expected.bin", 1, 6, 1.0001f);
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "digits", "bad", REF "/digits/input.bin", DIR "/bad_expected.bin", ""), 0));
    char *out = build_and_run("bad", 1);
    if (!strstr(out, "output 0 [6]") || !strstr(out, "1 value(s) outside the tolerance") || !strstr(out, "\nFAIL\n"))
        fail_msg("the wrong value is not reported:\n%s", out);
    free(out);
}

/* The same data fail a tolerance tighter than float rounding allows. */
static void test_selftest_tolerance_option(void **state)
{
    (void)state;
    char cmd[2048];
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "lenet5", "tight", REF "/lenet5/input.bin", REF "/lenet5/expected.bin",
                         "--test-tolerance=1e-9"),
                    0));
    char *src = tu_read_file(DIR "/tight_test.c", NULL);
    assert_non_null(strstr(src, "1e-09 * max(|expected|"));
    free(src);
    free(build_and_run("tight", 1));
}

static void test_selftest_several_samples(void **state)
{
    (void)state;
    char cmd[2048];
    write_floats(DIR "/in3.bin", REF "/lenet5/input.bin", 3, -1, 1);
    write_floats(DIR "/exp3.bin", REF "/lenet5/expected.bin", 3, -1, 1);
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "lenet5", "three", DIR "/in3.bin", DIR "/exp3.bin", ""), 0));
    char *out = build_and_run("three", 0);
    if (!strstr(out, "lenet5 self-test: 3 samples, 10 output values each\n") || !strstr(out, "\nPASS\n"))
        fail_msg("unexpected output:\n%s", out);
    free(out);
}

static void test_selftest_several_outputs(void **state)
{
    (void)state;
    char cmd[2048];
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "outputs_two", "two", REF "/outputs_two/input.bin",
                         REF "/outputs_two/expected.bin", ""),
                    0));
    char *out = build_and_run("two", 0);
    if (!strstr(out, "147 output values each") || !strstr(out, "\nPASS\n"))
        fail_msg("unexpected output:\n%s", out);
    free(out);
}

/* With a print hook and without main, the object needs nothing of libc. */
static void test_selftest_without_stdio(void **state)
{
    (void)state;
    char cmd[2048];
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "digits", "hooked", REF "/digits/input.bin", REF "/digits/expected.bin", ""),
                    0));
    char *out = tu_run_expect("cc " STRICT " -O2 -DCNNC_TEST_PUTS=my_puts -DCNNC_TEST_NO_MAIN -I" DIR " -c " DIR
                           "/hooked_test.c -o " DIR "/hooked_test.o 2>&1 && nm -u " DIR "/hooked_test.o",
                           0);
    if (!strstr(out, "my_puts") || !strstr(out, "digits_run") || strstr(out, "fputs") || strstr(out, "stdout") ||
        strstr(out, "printf") || strstr(out, "mem"))
        fail_msg("unexpected undefined symbols:\n%s", out);
    free(out);
}

/* The same inputs give the same file, byte for byte. */
static void test_selftest_deterministic(void **state)
{
    (void)state;
    char cmd[2048];
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "digits", "det1", REF "/digits/input.bin", REF "/digits/expected.bin", ""),
                    0));
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "digits", "det2", REF "/digits/input.bin", REF "/digits/expected.bin", ""),
                    0));
    char *a = tu_read_file(DIR "/det1_test.c", NULL), *b = tu_read_file(DIR "/det2_test.c", NULL);
    char *da = strstr(a, "#include \"det1.h\""), *db = strstr(b, "#include \"det2.h\"");
    assert_non_null(da);
    assert_non_null(db);
    assert_string_equal(da + 17, db + 17);
    free(a);
    free(b);
}

static void test_selftest_usage_errors(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"--emit-test " DIR "/u.c --test-input a --test-expected b", "--emit-test needs -o"},
        {"-o " DIR "/u.c --emit-test " DIR "/u_test.c --test-expected b", "needs --test-input FILE and"},
        {"-o " DIR "/u.c --emit-test " DIR "/u_test.c --test-input a", "needs --test-input FILE and"},
        {"-o " DIR "/u.c --test-input a --test-expected b", "need --emit-test FILE.c"},
        {"-o " DIR "/u.c --test-tolerance=1e-3", "need --emit-test FILE.c"},
        {"-o " DIR "/u.c --emit-test " DIR "/u_test.c --test-input a --test-expected b --test-tolerance=x",
         "bad --test-tolerance value 'x'"},
        {"-o " DIR "/u.c --emit-test " DIR "/u_test.c --test-input a --test-expected b --test-tolerance=2",
         "bad --test-tolerance value '2'"},
        {"-o " DIR "/u.c --emit-test", "--emit-test needs a file name"},
        {"-o " DIR "/u.c --emit-test= --test-input a --test-expected b", "--emit-test needs a file name"},
        {"-o " DIR "/u.c --emit-test " DIR "/u.h --test-input a --test-expected b", "ending in .c, not '" DIR "/u.h'"},
        {"-o " DIR "/u.c --emit-test " DIR "/u.c --test-input a --test-expected b", "and -o both name '" DIR "/u.c'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "build/cnnc " REF "/digits/model.net -w " REF "/digits/weights.safetensors %s 2>&1",
                 cases[i][0]);
        char *out = tu_run_expect(cmd, 2);
        if (!strstr(out, cases[i][1]) || !strstr(out, "usage: cnnc"))
            fail_msg("'%s': expected '%s' in:\n%s", cases[i][0], cases[i][1], out);
        free(out);
    }
    assert_int_equal(access(DIR "/u.c", F_OK), -1);
}

/* Data that do not fit the model: status 1, a message, and no file at all. */
static void test_selftest_bad_data(void **state)
{
    (void)state;
    static const float nan_input[64] = {[5] = __builtin_nanf("")};
    FILE *f = fopen(DIR "/nan.bin", "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(nan_input, sizeof nan_input, 1, f), 1);
    fclose(f);
    write_floats(DIR "/in2.bin", REF "/digits/input.bin", 2, -1, 1);
    static const char *const cases[][3] = {
        {REF "/lenet5/expected.bin", REF "/digits/expected.bin", "10 floats is not a whole number of 1x8x8 inputs (64 floats each)"},
        {DIR "/in2.bin", REF "/digits/expected.bin", "10 floats, but 2 samples of 10 output values each need 20"},
        {DIR "/missing.bin", REF "/digits/expected.bin", "missing.bin: error: cannot read: No such file"},
        {DIR "/nan.bin", REF "/digits/expected.bin", "nan.bin: error: value 5 is not a finite number"},
        {REF "/digits/meta.json", REF "/digits/expected.bin", "is not a whole number of float32 values"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[2048];
        unlink(DIR "/none.c");
        unlink(DIR "/none_test.c");
        char *out = tu_run_expect(cnnc(cmd, sizeof cmd, "digits", "none", cases[i][0], cases[i][1], "-MD"), 1);
        if (!strstr(out, cases[i][2]))
            fail_msg("expected '%s' in:\n%s", cases[i][2], out);
        free(out);
        assert_int_equal(access(DIR "/none.c", F_OK), -1);
        assert_int_equal(access(DIR "/none.h", F_OK), -1);
        assert_int_equal(access(DIR "/none.d", F_OK), -1);
        assert_int_equal(access(DIR "/none_test.c", F_OK), -1);
    }
}

/* -MD: the self-test is a target too, and the data are prerequisites. */
static void test_selftest_depfile(void **state)
{
    (void)state;
    char cmd[2048];
    free(tu_run_expect(cnnc(cmd, sizeof cmd, "digits", "dep", REF "/digits/input.bin", REF "/digits/expected.bin", "-MD"),
                    0));
    char *d = tu_read_file(DIR "/dep.d", NULL);
    assert_non_null(strstr(d, DIR "/dep.c " DIR "/dep.h " DIR "/dep_test.c: " REF "/digits/model.net " REF
                              "/digits/weights.safetensors " REF "/digits/input.bin " REF "/digits/expected.bin\n"));
    assert_non_null(strstr(d, "\n" REF "/digits/expected.bin:\n"));
    free(d);
}

static void test_selftest_help(void **state)
{
    (void)state;
    char *out = tu_run_expect("build/cnnc --help", 0);
    assert_non_null(strstr(out, "--emit-test FILE.c"));
    assert_non_null(strstr(out, "--test-input FILE"));
    assert_non_null(strstr(out, "--test-expected FILE"));
    assert_non_null(strstr(out, "--test-tolerance=REL"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selftest_passes),
        cmocka_unit_test(test_selftest_fails_beyond_tolerance),
        cmocka_unit_test(test_selftest_tolerance_option),
        cmocka_unit_test(test_selftest_several_samples),
        cmocka_unit_test(test_selftest_several_outputs),
        cmocka_unit_test(test_selftest_without_stdio),
        cmocka_unit_test(test_selftest_deterministic),
        cmocka_unit_test(test_selftest_usage_errors),
        cmocka_unit_test(test_selftest_bad_data),
        cmocka_unit_test(test_selftest_depfile),
        cmocka_unit_test(test_selftest_help),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
