/* test_limits.c: sizes at and beyond what cnnc and its generated C can
 * count, models no microcontroller can hold, and inputs large enough to
 * make a quadratic implementation hang (100,000-layer chains, 100,000-wide
 * from= lists, 10 MB lines, 10,000 outputs, 100,000 errors). cnnc must
 * answer each in linear time: the bound asserted is on CPU time, which a
 * loaded machine does not stretch, and generous (5 s, times
 * ROBUST_TIME_SCALE under sanitizers); the times measured are printed for
 * docs/robustness.md. */
#include "testutil.h"

#include <sys/resource.h>
#include <time.h>

#define DIR "build/tests/limits"

/* Seconds allowed for one run of cnnc on a large input. */
static double time_bound(void)
{
    const char *scale = getenv("ROBUST_TIME_SCALE");
    return 5.0 * (scale && atof(scale) > 0 ? atof(scale) : 1.0);
}

/* A generated model, written to DIR/name. */
static FILE *model_file(const char *name)
{
    char path[256];
    assert_int_equal(tu_run("mkdir -p " DIR, NULL), 0);
    snprintf(path, sizeof path, DIR "/%s", name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    return f;
}

/* What one run of build/cnnc did: its status, stderr, how long it took
 * (wall clock, and CPU time, which a loaded machine does not inflate). */
typedef struct Run {
    int status;
    double seconds, cpu;
    char *err; /* stderr, whole */
    size_t err_len;
} Run;

static Run run_cnnc(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "build/cnnc %s 2>" DIR "/stderr >/dev/null", args);
    struct timespec t0, t1;
    struct rusage u0, u1;
    getrusage(RUSAGE_CHILDREN, &u0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Run r = {.status = tu_run(cmd, NULL)};
    clock_gettime(CLOCK_MONOTONIC, &t1);
    getrusage(RUSAGE_CHILDREN, &u1);
    r.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    r.cpu = (double)(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec + u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) +
            (double)(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec + u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) / 1e6;
    r.err = tu_read_file(DIR "/stderr", &r.err_len);
    return r;
}

/* Runs cnnc, prints the time, and checks status and time bound. */
static Run timed(const char *what, const char *args, int status)
{
    Run r = run_cnnc(args);
    print_message("%-44s %5.2f s wall %5.2f s cpu  (exit %d, %zu bytes on stderr)\n", what, r.seconds, r.cpu,
                  r.status, r.err_len);
    if (r.status != status)
        fail_msg("%s: exit %d, expected %d\n%.2000s", what, r.status, status, r.err);
    /* CPU time: a loaded machine stretches the wall clock, not this */
    if (r.cpu > time_bound())
        fail_msg("%s took %.2f s of CPU (bound %.0f s): something is not linear", what, r.cpu, time_bound());
    return r;
}

static void test_limits_chain_100000_layers(void **state)
{
    (void)state;
    FILE *f = model_file("chain.net");
    fprintf(f, "network chain\ninput x 4x8x8\n");
    for (int i = 0; i < 100000; i++)
        fprintf(f, i % 2 ? "relu r%d\n" : "conv2d c%d out=4 kernel=3 padding=1\n", i);
    fclose(f);
    free(timed("100,000-layer chain, --check", DIR "/chain.net --check", 0).err);
    free(timed("100,000-layer chain, --report=json", DIR "/chain.net --report=json", 0).err);
    /* code for an elementwise chain (fused in groups) and a conv chain */
    f = model_file("chain_act.net");
    fprintf(f, "network chain_act\ninput x 4x8x8\n");
    for (int i = 0; i < 100000; i++)
        fprintf(f, i % 2 ? "relu r%d\n" : "sigmoid s%d\n", i);
    fclose(f);
    free(timed("100,000-layer chain, -o", DIR "/chain_act.net --init=zeros -o " DIR "/chain_act.c", 0).err);
    f = model_file("chain_conv.net");
    fprintf(f, "network chain_conv\ninput x 1x2x2\n");
    for (int i = 0; i < 10000; i++)
        fprintf(f, "conv2d c%d out=1 kernel=1\n", i);
    fclose(f);
    free(timed("10,000-conv chain, -o", DIR "/chain_conv.net --init=zeros -o " DIR "/chain_conv.c", 0).err);
    assert_int_equal(tu_run("rm -f " DIR "/chain_*.[ch]", NULL), 0);
}

static void test_limits_from_list_100000_wide(void **state)
{
    (void)state;
    FILE *f = model_file("wide.net");
    fprintf(f, "network wide\ninput x 2x4x4\n");
    for (int i = 0; i < 100000; i++)
        fprintf(f, "relu r%d from=x\n", i);
    fprintf(f, "concat all from=");
    for (int i = 0; i < 100000; i++)
        fprintf(f, "%sr%d", i ? "," : "", i);
    fprintf(f, "\nadd sum from=");
    for (int i = 0; i < 100000; i++)
        fprintf(f, "%sr%d", i ? "," : "", i);
    fprintf(f, "\noutput all sum\n");
    fclose(f);
    free(timed("100,000-wide concat and add, --check", DIR "/wide.net --check", 0).err);
    free(timed("100,000-wide concat and add, --report=json", DIR "/wide.net --report=json", 0).err);
    free(timed("100,000-wide concat and add, -o", DIR "/wide.net --init=zeros -o " DIR "/wide.c", 0).err);
    assert_int_equal(tu_run("rm -f " DIR "/wide.[ch]", NULL), 0);
}

static void test_limits_line_10mb(void **state)
{
    (void)state;
    /* a 10 MB comment, then a 10 MB layer name */
    FILE *f = model_file("line.net");
    fprintf(f, "network line\ninput x 1x8x8\n# ");
    for (int i = 0; i < 10 * 1000 * 1000; i++)
        fputc('c', f);
    fprintf(f, "\nrelu ");
    for (int i = 0; i < 10 * 1000 * 1000; i++)
        fputc('n', f);
    fprintf(f, "\n");
    fclose(f);
    free(timed("10 MB comment and 10 MB name, --check", DIR "/line.net --check", 0).err);
}

static void test_limits_outputs_10000(void **state)
{
    (void)state;
    FILE *f = model_file("outputs.net");
    fprintf(f, "network outs\ninput x 1x4x4\n");
    for (int i = 0; i < 10000; i++)
        fprintf(f, "relu r%d from=x\n", i);
    fprintf(f, "output");
    for (int i = 0; i < 10000; i++)
        fprintf(f, " r%d", i);
    fprintf(f, "\n");
    fclose(f);
    free(timed("10,000 outputs, --report=json", DIR "/outputs.net --report=json", 0).err);
    free(timed("10,000 outputs, -o", DIR "/outputs.net --init=zeros -o " DIR "/outputs.c", 0).err);
}

/* Parameter lists, sums and argument lists as long as the graph is wide
 * are whole: a fixed buffer once cut a 100-input add's sum short. */
static void test_limits_wide_graphs_generate_whole_c(void **state)
{
    (void)state;
    FILE *f = model_file("wide_c.net");
    fprintf(f, "network wide_c\ninput x 1x2x2\n");
    for (int i = 0; i < 300; i++)
        fprintf(f, "conv2d c%d out=1 kernel=1 from=x\n", i);
    fprintf(f, "add sum from=");
    for (int i = 0; i < 300; i++)
        fprintf(f, "%sc%d", i ? "," : "", i);
    fprintf(f, "\nconcat cat from=");
    for (int i = 0; i < 300; i++)
        fprintf(f, "%sc%d", i ? "," : "", i);
    fprintf(f, "\noutput sum cat\n");
    fclose(f);
    free(timed("300-input add and concat, -o", DIR "/wide_c.net --init=random:1 -o " DIR "/wide_c.c", 0).err);
    char *log = NULL;
    int status = tu_run("cc -std=c99 -Wall -Wextra -Werror -fsyntax-only -Iruntime -I" DIR " " DIR "/wide_c.c 2>&1",
                        &log);
    if (status != 0)
        fail_msg("generated C does not compile:\n%.3000s", log);
    free(log);
    /* and 10,000 outputs make a header and entry points the compiler takes */
    status = tu_run("cc -std=c99 -Wall -Wextra -Werror -fsyntax-only -Iruntime -I" DIR " " DIR "/outputs.c 2>&1", &log);
    if (status != 0)
        fail_msg("generated C for 10,000 outputs does not compile:\n%.3000s", log);
    free(log);
}

static void test_limits_errors_100000(void **state)
{
    (void)state;
    /* one error per line, and one line with 100,000 errors: each quote of
     * the long line is cut to a window, so stderr stays linear */
    FILE *f = model_file("errors.net");
    fprintf(f, "network errors\ninput x 1x4x4\n");
    for (int i = 0; i < 100000; i++)
        fprintf(f, "bogus%d\n", i);
    fclose(f);
    Run r = timed("100,000 unknown ops, one per line", DIR "/errors.net --check", 1);
    assert_true(r.err_len < 100000 * 200u);
    free(r.err);
    f = model_file("errors_line.net");
    fprintf(f, "network errors\ninput x 1x4x4\nrelu r");
    for (int i = 0; i < 100000; i++)
        fprintf(f, " k%d=1", i);
    fprintf(f, "\n");
    fclose(f);
    r = timed("100,000 unknown keys on one 1 MB line", DIR "/errors_line.net --check", 1);
    assert_true(r.err_len < 100000 * 400u);
    free(r.err);
}

static void test_limits_error_after_100000_layers(void **state)
{
    (void)state;
    /* deep in a long file, the one mistake is found and named, alone */
    FILE *f = model_file("late.net");
    fprintf(f, "network late\ninput x 1x4x4\n");
    for (int i = 0; i < 100000; i++)
        fprintf(f, "relu r%d\n", i);
    fprintf(f, "add s from=r99999,r100000\n");
    fclose(f);
    Run r = timed("error on line 100,003", DIR "/late.net --check", 1);
    const char *want = DIR "/late.net:100003:19: error: from= names 'r100000', but no layer of that name "
                           "comes before 's'\n add s from=r99999,r100000\n                   ^~~~~~~\n";
    if (strcmp(r.err, want) != 0)
        fail_msg("got:\n%s", r.err);
    free(r.err);
}

/* Names that meet as one C name ('a.b' and 'a_b', names alike in their
 * first 240 characters) and a path holding a comment closer still make C
 * that compiles, each layer with a symbol of its own. */
static void test_limits_names_that_meet_in_c(void **state)
{
    (void)state;
    assert_int_equal(tu_run("mkdir -p '" DIR "/odd*/'", NULL), 0);
    FILE *f = fopen(DIR "/odd*/names.net", "w");
    assert_non_null(f);
    fprintf(f, "network names\ninput x 1x4x4\nconv2d a.b out=1 kernel=1\nconv2d a_b out=1 kernel=1\n"
               "conv2d a_b_2 out=1 kernel=1\nconv2d a.b_2 out=1 kernel=1\n");
    for (int k = 0; k < 3; k++) {
        fprintf(f, "conv2d ");
        for (int i = 0; i < 300; i++)
            fputc('n', f);
        fprintf(f, "%d out=1 kernel=1\n", k);
    }
    fclose(f);
    free(timed("names alike in C, -o", "'" DIR "/odd*/names.net' --init=random:1 -o '" DIR "/odd*/names.c'", 0).err);
    char *log = NULL;
    int status = tu_run("cc -std=c99 -Wall -Wextra -Werror -fsyntax-only -Iruntime '-I" DIR "/odd*' '" DIR
                        "/odd*/names.c' 2>&1",
                        &log);
    if (status != 0)
        fail_msg("names alike in C: the generated C does not compile:\n%.3000s", log);
    free(log);
    /* seven layers, seven functions */
    assert_int_equal(tu_run("test $(grep -c '^static void layer_' '" DIR "/odd*/names.c') = 7", NULL), 0);
}

/* The generated C indexes tensors with int: 2^29 floats (2 GiB) is the
 * most it takes; one more value is refused before anything is written. */
static void test_limits_generated_c_refuses_2_29_values(void **state)
{
    (void)state;
    FILE *f = model_file("at_limit.net");
    /* 233 * 1103 * 2089 = 2^29 - 1 */
    fprintf(f, "network at_limit\ninput x 233x1103x2089\nrelu r\n");
    fclose(f);
    f = model_file("past_limit.net");
    fprintf(f, "network past_limit\ninput x 1x16384x32768\nrelu r\n");
    fclose(f);
    free(timed("2^29 - 1 values, -o", DIR "/at_limit.net --init=zeros -o " DIR "/at_limit.c", 0).err);
    assert_int_equal(tu_run("test -s " DIR "/at_limit.c && test -s " DIR "/at_limit.h", NULL), 0);
    assert_int_equal(tu_run("rm -f " DIR "/past_limit.*c " DIR "/past_limit.h", NULL), 0);
    Run r = timed("2^29 values, -o", DIR "/past_limit.net --init=zeros -o " DIR "/past_limit.c", 1);
    assert_non_null(strstr(r.err, "error: 'x' is too large for generated code (more than 2^29 values)"));
    free(r.err);
    assert_int_not_equal(tu_run("test -e " DIR "/past_limit.c", NULL), 0);
    /* weights past the limit are refused before they are made: a linear
     * of 2*10^12 weights must not be allocated first */
    f = model_file("huge_linear.net");
    fprintf(f, "network huge\ninput x 1x1x1\nflatten\nlinear f out=2000000000000\n");
    fclose(f);
    r = timed("2*10^12 weights, --init=zeros -o", DIR "/huge_linear.net --init=zeros -o " DIR "/huge.c", 1);
    assert_non_null(strstr(r.err, "error: 'f' is too large for generated code"));
    assert_null(strstr(r.err, "internal error"));
    free(r.err);
}

/* Sizes past 32 bits are counted exactly: the analysis is 64-bit. */
static void test_limits_counts_past_32_bits(void **state)
{
    (void)state;
    FILE *f = model_file("wide_linear.net");
    fprintf(f, "network wide\ninput x 1x1x1\nflatten\nlinear a out=100000\nlinear b out=100000\n");
    fclose(f);
    char *out = NULL;
    assert_int_equal(tu_run("build/cnnc " DIR "/wide_linear.net --report=json 2>/dev/null", &out), 0);
    /* b: 100000 * 100000 + 100000 params, past 2^32 */
    assert_non_null(strstr(out, "\"params\": 10000100000,"));
    assert_non_null(strstr(out, "\"params\": 10000300000, \"macs\": 10000100000"));
    free(out);
}

/* A model no microcontroller holds gets a warning with the figure; it
 * still compiles, for a larger machine or to compare. */
static void test_limits_warns_beyond_a_microcontroller(void **state)
{
    (void)state;
    FILE *f = model_file("mcu_arena.net");
    fprintf(f, "network big_arena\ninput x 3x512x512\nconv2d c out=32 kernel=3 padding=1\nconv2d d out=8 kernel=1\n");
    fclose(f);
    Run r = timed("32x512x512 activations, --check", DIR "/mcu_arena.net --check", 0);
    assert_non_null(strstr(r.err, "mcu_arena.net:1:9: warning: arena of 32.0 MiB will not fit a microcontroller "
                                  "(more than 16 MiB of RAM)\n network big_arena\n"));
    free(r.err);
    f = model_file("mcu_weights.net");
    fprintf(f, "network big_weights\ninput x 1x1x1\nflatten\nlinear a out=4200\nlinear b out=4200\n");
    fclose(f);
    r = timed("17.7 million weights, --check", DIR "/mcu_weights.net --check", 0);
    assert_non_null(strstr(r.err, "warning: weights of 67.3 MiB will not fit a microcontroller (more than 64 MiB of "
                                  "flash)\n"));
    free(r.err);
    /* and the models that do fit say nothing */
    r = timed("lenet5, --check", "models/lenet5.net --check", 0);
    assert_int_equal(r.err_len, 0);
    free(r.err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_chain_100000_layers),
        cmocka_unit_test(test_limits_from_list_100000_wide),
        cmocka_unit_test(test_limits_line_10mb),
        cmocka_unit_test(test_limits_outputs_10000),
        cmocka_unit_test(test_limits_wide_graphs_generate_whole_c),
        cmocka_unit_test(test_limits_errors_100000),
        cmocka_unit_test(test_limits_error_after_100000_layers),
        cmocka_unit_test(test_limits_names_that_meet_in_c),
        cmocka_unit_test(test_limits_generated_c_refuses_2_29_values),
        cmocka_unit_test(test_limits_counts_past_32_bits),
        cmocka_unit_test(test_limits_warns_beyond_a_microcontroller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
