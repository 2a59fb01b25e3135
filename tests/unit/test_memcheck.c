/* test_memcheck.c: valgrind over the demo (docs/demo.md): the digits
 * classifier cnnc generates, built as make demo builds it, must run
 * valgrind-clean over the held-out test set, and cnnc itself must be clean
 * generating it and refusing damaged input. Valgrind's own exit status
 * (99) is kept apart from the programs', and definite leaks count. */
#include "testutil.h"

#define DIR "build/tests/memcheck"
#define VALGRIND "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "
#define GENFLAGS "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"

/* Runs cmd; fails with its output unless it exits with status. */
static char *expect(const char *cmd, int status)
{
    char *log = NULL;
    int got = tu_run(cmd, &log);
    if (got != status)
        fail_msg("exit %d (expected %d%s): %s\n%s", got, status, got == 99 ? ", valgrind found errors" : "", cmd,
                 log);
    return log;
}

static void test_memcheck_demo_program(void **state)
{
    (void)state;
    free(expect("mkdir -p " DIR " && build/cnnc models/digits.net -w models/digits.safetensors -o " DIR
                "/digits.c 2>&1 && cc " GENFLAGS " -O2 -g -I" DIR " -Iruntime demo/main.c " DIR
                "/digits.c runtime/cnnc_rt.c -lm -o " DIR "/digits_demo 2>&1",
                0));
    char *log = expect(VALGRIND DIR "/digits_demo demo/digits_test.bin 2>&1", 0);
    assert_non_null(strstr(log, "agree:   360/360"));
    print_message("%s", log);
    free(log);
}

static void test_memcheck_cnnc_generating_the_demo(void **state)
{
    (void)state;
    free(expect("mkdir -p " DIR " && " VALGRIND "build/cnnc models/digits.net -w models/digits.safetensors -o " DIR
                "/again.c --report 2>&1",
                0));
}

static void test_memcheck_cnnc_refusing_damaged_input(void **state)
{
    (void)state;
    const char *const cases[] = {
        "tests/bad/weights.net -w tests/bad/w_truncated_data.safetensors",
        "tests/bad/weights.net -w tests/bad/w_overlap.safetensors",
        "tests/bad/weights.net -w tests/bad/w_garbage.safetensors",
        "tests/bad/unknown_op.net --init=zeros",
        "tests/bad/binary_garbage.net --init=zeros",
        "tests/bad/truncated.net --init=zeros",
        "tests/bad/too_large_for_c.net --init=zeros",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "mkdir -p " DIR " && " VALGRIND "build/cnnc %s -o " DIR "/bad.c 2>&1", cases[i]);
        free(expect(cmd, 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memcheck_demo_program),
        cmocka_unit_test(test_memcheck_cnnc_generating_the_demo),
        cmocka_unit_test(test_memcheck_cnnc_refusing_damaged_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
