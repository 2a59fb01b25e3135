/* test_validate.c: --validate and the int8-against-float table of
 * --report (compiler/validate.c) on the trained digits model: every
 * tensor measured, fused tensors pointed at the one int8 stores, top-1
 * agreement for the class scores, and data of the wrong size refused
 * before anything is written. */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>

#define DIR "build/tests/validate"
#define DIGITS "models/digits.net -w models/digits.safetensors"

/* The first n and the remaining demo images as raw float32 files. */
static int setup(void **state)
{
    (void)state;
    mkdir("build/tests", 0777);
    mkdir(DIR, 0777);
    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file("demo/digits_test.bin", &len);
    uint32_t n = b[8] | b[9] << 8 | b[10] << 16 | (uint32_t)b[11] << 24, px = b[12] | b[13] << 8;
    assert_true(len >= 16 + (size_t)n * px * 4 && n > 100);
    FILE *c = fopen(DIR "/calib.bin", "wb"), *h = fopen(DIR "/held.bin", "wb"), *bad = fopen(DIR "/bad.bin", "wb");
    assert_true(c && h && bad);
    fwrite(b + 16, 4 * px, 100, c);
    fwrite(b + 16 + 400 * px, 4 * px, n - 100, h);
    fwrite(b + 16, 1, 4 * px + 3, bad);
    fclose(c);
    fclose(h);
    fclose(bad);
    free(b);
    return 0;
}

/* Held-out inputs: a line per tensor, fused ones pointing at the stored
 * tensor, and the class scores' top-1 agreement. */
static void test_validate_held_out(void **state)
{
    (void)state;
    char *out = tu_run_expect("build/cnnc " DIGITS " --quantize=int8 --calibrate " DIR "/calib.bin -o " DIR
                              "/d.c --validate " DIR "/held.bin 2>&1",
                              0);
    assert_non_null(strstr(out, "int8 against float on 260 inputs (--validate):"));
    assert_non_null(strstr(out, "layer      op               max |error|         rmse     cosine"));
    assert_non_null(strstr(out, "conv1      conv2d                     -            -          -  (int8 stores only "
                                "'relu_1')"));
    assert_non_null(strstr(out, "output 'fc': top-1 class agrees on 260 of 260 inputs (100.00%)"));
    /* the input's error is at most half a step of its scale */
    const char *x = strstr(out, "\nx          input");
    assert_non_null(x);
    double max_err, rmse, cosine;
    assert_int_equal(sscanf(x + 17, "%lf %lf %lf", &max_err, &rmse, &cosine), 3);
    assert_true(max_err < 0.0021 && rmse < max_err && cosine > 0.9999);
    free(out);
}

/* --report alone measures on the calibration data. */
static void test_validate_report_calibration(void **state)
{
    (void)state;
    char *out = tu_run_expect("build/cnnc " DIGITS " --quantize=int8 --calibrate " DIR "/calib.bin -o " DIR
                              "/d.c --report 2>&1",
                              0);
    assert_non_null(strstr(out, "int8 against float on 100 inputs (the calibration data):"));
    assert_non_null(strstr(out, "top-1 class agrees on 100 of 100 inputs"));
    free(out);
}

/* A file that is not whole inputs, or validation of float code: an error,
 * exit 1, and nothing written. */
static void test_validate_errors(void **state)
{
    (void)state;
    unlink(DIR "/e.c");
    char *out = tu_run_expect("build/cnnc " DIGITS " --quantize=int8 --calibrate " DIR "/calib.bin -o " DIR
                              "/e.c --validate " DIR "/bad.bin 2>&1",
                              1);
    assert_non_null(strstr(out, DIR "/bad.bin: error: validation data holds 259 bytes, not a whole number of "
                                "1x8x8 float32 inputs (256 bytes each, raw CHW, concatenated)"));
    assert_true(access(DIR "/e.c", F_OK) != 0);
    free(out);
    out = tu_run_expect("build/cnnc " DIGITS " -o " DIR "/e.c --validate " DIR "/held.bin 2>&1", 1);
    assert_non_null(strstr(out, "--validate measures int8 code: give --quantize=int8 (or an int8 model)"));
    assert_true(access(DIR "/e.c", F_OK) != 0);
    free(out);
    out = tu_run_expect("build/cnnc " DIGITS " --quantize=int8 --calibrate " DIR "/calib.bin -o " DIR
                        "/e.c --validate " DIR "/missing.bin 2>&1",
                        1);
    assert_non_null(strstr(out, "missing.bin: error: cannot open validation data"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_held_out),
        cmocka_unit_test(test_validate_report_calibration),
        cmocka_unit_test(test_validate_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
