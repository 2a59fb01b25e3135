/* test_cmake.c: the CMake package (cmake/cnncConfig.cmake) from an
 * installed cnnc (make install into a temporary DESTDIR), with Debian's
 * cmake and ninja:
 *   - a host project of three lines of CMake builds the digits model with
 *     its self-test and passes; a no-op rebuild runs nothing (no cnnc);
 *     touching the model (or the weights) reruns cnnc and rebuilds only
 *     the model's objects; int8 through QUANTIZE/CALIBRATE;
 *   - a missing model fails at configure time naming it; an unknown cnnc
 *     option fails the build with cnnc's own message;
 *   - the firmware template (examples/firmware/CMakeLists.txt) with the
 *     package's arm-none-eabi toolchain file builds a Cortex-M4F image
 *     that passes its self-test under qemu-system-arm (mps2-an386); a
 *     no-op rebuild does nothing, touching its model rebuilds only the
 *     model's objects (skipped in the sanitized pass, as test_target).
 * Skipped with a message when cmake or ninja is missing (make deps
 * installs both). */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "/usr/local"

/* What the tests share: the install and the host project. */
typedef struct Env {
    char root[512];  /* the source tree, for examples/firmware */
    char *tmp;       /* everything else lives under it */
    char stage[600]; /* DESTDIR PREFIX */
    char host[600];  /* the host project */
    bool ready;
} Env;

static bool have(const char *cmd)
{
    char buf[160];
    snprintf(buf, sizeof buf, "command -v %s >/dev/null 2>&1", cmd);
    return tu_run(buf, NULL) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* printf into a new string, the caller's to free. */
PRINTF(1, 2) static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

/* Runs a shell command in dir; the output (stdout and stderr) is the
 * caller's, the status must be want. */
static char *in_dir(const char *dir, const char *cmd, int want)
{
    char *buf = fmt("cd '%s' && (%s) 2>&1", dir, cmd);
    char *out = tu_run_expect(buf, want);
    free(buf);
    return out;
}

static const char host_cmake[] =
    "cmake_minimum_required(VERSION 3.20)\n"
    "project(host C)\n"
    "find_package(cnnc 0.1 REQUIRED)\n"
    "cnnc_add_model(digits digits.net WEIGHTS digits.safetensors TEST_INPUT input.bin TEST_EXPECTED expected.bin)\n"
    "add_executable(app main.c)\n"
    "target_link_libraries(app PRIVATE digits)\n"
    "cnnc_add_model(digits8 digits.net WEIGHTS digits.safetensors QUANTIZE int8 CALIBRATE input.bin)\n"
    "add_executable(app8 main8.c)\n"
    "target_link_libraries(app8 PRIVATE digits8)\n";

static const char host_main[] = "#include <stdio.h>\n#include \"digits.h\"\n"
                                "int digits_selftest(void);\n"
                                "int main(void) { return digits_selftest(); }\n";

/* The int8 model on the self-test's input: its class. */
static const char host_main8[] =
    "#include <stdio.h>\n#include \"digits8.h\"\n"
    "int main(void)\n{\n    static float in[DIGITS_INPUT_SIZE], out[DIGITS_OUTPUT_SIZE];\n"
    "    FILE *f = fopen(\"input.bin\", \"rb\");\n"
    "    if (!f || fread(in, sizeof in, 1, f) != 1) return 2;\n    fclose(f);\n"
    "    digits_run(in, out);\n    int best = 0;\n"
    "    for (int i = 1; i < DIGITS_OUTPUT_SIZE; i++) if (out[i] > out[best]) best = i;\n"
    "    printf(\"class %d arena %d\\n\", best, DIGITS_ARENA_BYTES);\n    return 0;\n}\n";

static int setup(void **state)
{
    Env *e = calloc(1, sizeof *e);
    *state = e;
    if (!have("cmake") || !have("ninja"))
        return 0;
    if (!getcwd(e->root, sizeof e->root))
        return -1;
    e->tmp = strdup("/tmp/cnnc-test-cmake-XXXXXX");
    if (!e->tmp || !mkdtemp(e->tmp))
        return -1;
    snprintf(e->stage, sizeof e->stage, "%s/stage" PREFIX, e->tmp);
    snprintf(e->host, sizeof e->host, "%s/host", e->tmp);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "make --no-print-directory -s -o build/cnnc install DESTDIR='%s/stage' PREFIX=" PREFIX " >/dev/null 2>&1 && "
             "mkdir -p '%s' && cp models/digits.net models/digits.safetensors tests/ref/digits/input.bin "
             "tests/ref/digits/expected.bin '%s'",
             e->tmp, e->host, e->host);
    if (system(cmd) != 0)
        return -1;
    char path[700];
    snprintf(path, sizeof path, "%s/CMakeLists.txt", e->host);
    write_file(path, host_cmake);
    snprintf(path, sizeof path, "%s/main.c", e->host);
    write_file(path, host_main);
    snprintf(path, sizeof path, "%s/main8.c", e->host);
    write_file(path, host_main8);
    e->ready = true;
    return 0;
}

static int teardown(void **state)
{
    Env *e = *state;
    if (e->tmp) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->tmp);
        if (system(cmd) != 0)
            return -1;
    }
    free(e->tmp);
    free(e);
    return 0;
}

static Env *env(void **state)
{
    Env *e = *state;
    if (!e->ready) {
        print_message("skipped: cmake or ninja not found (Debian cmake, ninja-build; make deps installs them)\n");
        skip();
    }
    return e;
}

/* Configures dir's project into dir/build with Ninja; extra are more
 * -D arguments. */
static char *configure(const Env *e, const char *dir, const char *src, const char *extra, int want)
{
    char *cmd = fmt("cmake -G Ninja -S '%s' -B build -DCMAKE_PREFIX_PATH='%s' %s", src, e->stage, extra);
    char *out = in_dir(dir, cmd, want);
    free(cmd);
    return out;
}

static void test_cmake_host_project(void **state)
{
    Env *e = env(state);
    free(configure(e, e->host, ".", "", 0));
    char *out = in_dir(e->host, "nice ninja -C build", 0);
    assert_non_null(strstr(out, "cnnc: generating digits.c"));
    free(out);
    out = in_dir(e->host, "./build/app", 0);
    assert_non_null(strstr(out, "PASS"));
    free(out);
    /* int8: the header's arena is the int8 back end's */
    out = in_dir(e->host, "./build/app8", 0);
    assert_non_null(strstr(out, "class "));
    free(out);
    out = in_dir(e->host, "grep -c 'int8' build/cnnc/digits8/digits8.h", 0);
    free(out);
}

/* Nothing changed: ninja has nothing to do, and says why not. */
static void test_cmake_noop_rebuild_runs_no_cnnc(void **state)
{
    Env *e = env(state);
    char *out = in_dir(e->host, "ninja -C build -d explain", 0);
    if (!strstr(out, "no work to do") || strstr(out, "cnnc"))
        fail_msg("a rebuild with nothing changed did work:\n%s", out);
    free(out);
}

/* Lines of ninja's output that name an object built. */
static bool built(const char *out, const char *what)
{
    return strstr(out, what) != NULL;
}

static void test_cmake_touch_model_rebuilds_only_model(void **state)
{
    Env *e = env(state);
    char *out = in_dir(e->host, "sleep 1 && touch digits.net && ninja -C build", 0);
    if (!built(out, "cnnc: generating digits.c") || !built(out, "digits.c.o") || !built(out, "digits_selftest.c.o") ||
        built(out, "main.c.o") || built(out, "cnnc_rt.c.o"))
        fail_msg("touching the model should regenerate and rebuild only the model's objects:\n%s", out);
    /* the int8 model reads the same file: it is regenerated too */
    assert_true(built(out, "cnnc: generating digits8.c"));
    free(out);
    out = in_dir(e->host, "ninja -C build", 0);
    assert_non_null(strstr(out, "no work to do"));
    free(out);
    /* the weights are a dependency too (through the depfile) */
    out = in_dir(e->host, "sleep 1 && touch digits.safetensors && ninja -C build", 0);
    if (!built(out, "cnnc: generating digits.c") || built(out, "main.c.o"))
        fail_msg("touching the weights:\n%s", out);
    free(out);
    /* the application's own source: no cnnc */
    out = in_dir(e->host, "sleep 1 && touch main.c && ninja -C build", 0);
    if (built(out, "cnnc:") || !built(out, "main.c.o"))
        fail_msg("touching main.c should rebuild main.c.o alone:\n%s", out);
    free(out);
    out = in_dir(e->host, "./build/app", 0);
    assert_non_null(strstr(out, "PASS"));
    free(out);
}

static void test_cmake_missing_model_fails_at_configure(void **state)
{
    Env *e = env(state);
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s/missing", e->tmp);
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(path, sizeof path, "%s/CMakeLists.txt", dir);
    write_file(path, "cmake_minimum_required(VERSION 3.20)\nproject(missing C)\nfind_package(cnnc REQUIRED)\n"
                     "cnnc_add_model(net no_such_model.net WEIGHTS w.safetensors)\n");
    char *out = configure(e, dir, ".", "", 1);
    if (!strstr(out, "cnnc_add_model(net): model 'no_such_model.net' not found"))
        fail_msg("configure should name the missing model:\n%s", out);
    free(out);
}

static void test_cmake_unknown_option_fails_with_cnnc_message(void **state)
{
    Env *e = env(state);
    char dir[700], cmd[3000];
    snprintf(dir, sizeof dir, "%s/badopt", e->tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/digits.net '%s'/digits.safetensors '%s'", dir, e->host, e->host,
             dir);
    assert_int_equal(system(cmd), 0);
    char path[800];
    snprintf(path, sizeof path, "%s/CMakeLists.txt", dir);
    write_file(path, "cmake_minimum_required(VERSION 3.20)\nproject(badopt C)\nfind_package(cnnc REQUIRED)\n"
                     "cnnc_add_model(net digits.net WEIGHTS digits.safetensors OPTIONS --frobnicate)\n");
    free(configure(e, dir, ".", "", 0));
    char *out = in_dir(dir, "ninja -C build", 1);
    if (!strstr(out, "cnnc: error: unknown option '--frobnicate'"))
        fail_msg("the build should fail with cnnc's message:\n%s", out);
    free(out);
}

/* The firmware template with the shipped toolchain file, run under qemu;
 * its model (copies, so that the test may touch them) rebuilt alone. */
static void test_cmake_cortex_m4_firmware(void **state)
{
    Env *e = env(state);
    if (!tu_cross_checks())
        skip();
    char dir[700], src[600], extra[4000];
    snprintf(dir, sizeof dir, "%s/fw", e->tmp);
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(src, sizeof src, "%s/examples/firmware", e->root);
    snprintf(extra, sizeof extra,
             "-DCMAKE_TOOLCHAIN_FILE='%s/lib/cmake/cnnc/arm-none-eabi.cmake' -DMODEL='%s/digits.net' "
             "-DWEIGHTS='%s/digits.safetensors' -DTEST_INPUT='%s/input.bin' -DTEST_EXPECTED='%s/expected.bin'",
             e->stage, e->host, e->host, e->host, e->host);
    free(configure(e, dir, src, extra, 0));
    char *out = in_dir(dir, "nice ninja -C build", 0);
    assert_non_null(strstr(out, "cnnc: generating model.c"));
    free(out);
    out = in_dir(dir, "arm-none-eabi-readelf -h build/firmware.elf | grep -c 'ARM'", 0);
    free(out);
    out = in_dir(dir, "ninja -C build run </dev/null", 0);
    if (!strstr(out, "\nPASS\n") || !strstr(out, "digits: on an all-zero input"))
        fail_msg("the firmware did not pass under qemu:\n%s", out);
    free(out);
    out = in_dir(dir, "ninja -C build -d explain firmware.elf", 0);
    if (!strstr(out, "no work to do") || strstr(out, "cnnc"))
        fail_msg("a rebuild with nothing changed did work:\n%s", out);
    free(out);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sleep 1 && touch '%s/digits.net' && ninja -C build firmware.elf", e->host);
    out = in_dir(dir, cmd, 0);
    if (!built(out, "cnnc: generating model.c") || !built(out, "model.c.obj") || !built(out, "model_selftest.c.obj") ||
        built(out, "main.c.obj") || built(out, "startup.c.obj") || built(out, "cnnc_rt.c.obj"))
        fail_msg("touching the model should rebuild only the model's objects:\n%s", out);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmake_host_project),
        cmocka_unit_test(test_cmake_noop_rebuild_runs_no_cnnc),
        cmocka_unit_test(test_cmake_touch_model_rebuilds_only_model),
        cmocka_unit_test(test_cmake_missing_model_fails_at_configure),
        cmocka_unit_test(test_cmake_unknown_option_fails_with_cnnc_message),
        cmocka_unit_test(test_cmake_cortex_m4_firmware),
    };
    return cmocka_run_group_tests_name("cmake", tests, setup, teardown);
}
