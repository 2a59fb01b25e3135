/* test_target.c: the generated code on microcontrollers. For each model
 * of tests/ref that fits one, cnnc writes the C and its self-test
 * (--emit-test, with the PyTorch reference as golden data), and
 *   - gcc builds it for the host, and it passes;
 *   - arm-none-eabi-gcc builds it for a Cortex-M4F with the strict flags
 *     of docs/generated-c.md, links it with no libc and no libm
 *     (-nostdlib, libgcc only) with the firmware template's startup code
 *     and linker script, and qemu's mps2-an386 board runs it: it must
 *     pass, and every output must agree with the host build's within the
 *     reference tolerance;
 *   - the same for a Cortex-M0 (soft float), run on mps2-an385 (a
 *     Cortex-M3, which runs ARMv6-M code);
 *   - riscv64-unknown-elf-gcc builds it for RV32IMAC, freestanding, and
 *     links it with no libc and no libm (not run).
 * The cores without an FPU get the code of --unroll=none (unrolling buys
 * nothing when every multiply-add is a libgcc call, and the unrolled
 * kernels take gcc long for them); CNNC_TARGET_FULL=1 builds them with
 * the default options too.
 * Then the firmware template (examples/firmware) is copied, built, run,
 * and rebuilt only when the weights change.
 *
 * Every build runs first, two at a time (make -j2), then the tests look
 * at the results. The tools come from `make deps` (mk/target.mk); a
 * missing tool fails. */
#include "testutil.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"
#define ARM_M4F "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
#define ARM_M0 "arm-none-eabi-gcc -mcpu=cortex-m0 -mthumb"
#define RV32 "riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -ffreestanding -nostdlib"
#define FIRMWARE "examples/firmware"
/* qemu gets 60 s (and a kill 5 s later) however a run goes wrong. */
#define QEMU "timeout -k 5 60 qemu-system-arm -nographic -semihosting"
#define WORK "build/target"

/* The reference tolerance (docs/references.md). */
#define TOLERANCE 1e-5

/* The models of tests/ref that fit a microcontroller (see mk/target.mk). */
static const char *const model_names[] = {"dscnn", "resnet8", "vww_mobilenetv1", "ad_autoencoder", "lenet5", "digits"};
enum { NMODELS = sizeof model_names / sizeof model_names[0] };

/* One model of tests/ref and what its tests share. */
typedef struct Model {
    const char *name;
    char dir[128];   /* WORK/name: its generated code and builds */
    char *host_dump; /* the host build's output, once it ran */
} Model;

/* A build: which image of a model, and how to make it from the model's
 * generated code (in dir) and its --unroll=none variant (model_nu.c). */
typedef struct Build {
    const char *file;
    const char *recipe; /* printf format: dir, dir, ... */
} Build;

#define SELFTEST_SOURCES(v) "-Iruntime -I%s %s/selftest" v ".c %s/model" v ".c runtime/cnnc_rt.c"
#define ARM_LINK " -O2 -nostdlib -DCNNC_TEST_PUTS=board_puts -DCNNC_TEST_DUMP -T" FIRMWARE "/mps2_an386.ld " \
                 FIRMWARE "/startup.c "
#define RV_LINK " -O2 -DCNNC_TEST_PUTS=rv_puts -Wl,--no-warn-rwx-segments tests/target/rv32_start.c "

static const Build builds[] = {
    {"host", "cc " STRICT " -O1 -DCNNC_TEST_DUMP " SELFTEST_SOURCES("") " -o %s/host"},
    {"m4f.elf", ARM_M4F " " STRICT ARM_LINK SELFTEST_SOURCES("") " -lgcc -o %s/m4f.elf"},
    {"m0.elf", ARM_M0 " " STRICT ARM_LINK SELFTEST_SOURCES("_nu") " -lgcc -o %s/m0.elf"},
    {"rv32.elf", RV32 " " STRICT RV_LINK SELFTEST_SOURCES("_nu") " -lgcc -o %s/rv32.elf"},
};
/* With CNNC_TARGET_FULL=1: the cores without an FPU on the default code too. */
static const Build full_builds[] = {
    {"m0_full.elf", ARM_M0 " " STRICT ARM_LINK SELFTEST_SOURCES("") " -lgcc -o %s/m0_full.elf"},
    {"rv32_full.elf", RV32 " " STRICT RV_LINK SELFTEST_SOURCES("") " -lgcc -o %s/rv32_full.elf"},
};

/* The file a build left, or the test fails with the build's log. */
static void assert_built(const Model *m, const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", m->dir, file);
    if (access(path, R_OK) == 0)
        return;
    char log[300];
    snprintf(log, sizeof log, "%s.log", path);
    FILE *f = fopen(log, "r");
    char text[8192] = "(no log: was it generated?)";
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
    }
    fail_msg("%s was not built:\n%s", path, text);
}

/* The self-test's verdict must be PASS, as its last line. */
static void assert_passed(const char *out, const char *where)
{
    size_t n = strlen(out);
    if (n < 5 || strcmp(out + n - 5, "PASS\n") != 0)
        fail_msg("%s: the self-test did not pass:\n%s", where, out);
}

/* The values of a dump ("dump SAMPLE OUTPUT bits..."), and per value
 * which output of which sample it belongs to. */
typedef struct Dump {
    float *v;
    long *tag;
    long n;
} Dump;

static Dump parse_dump(const char *text)
{
    Dump d = {0};
    size_t cap = 0;
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned sample, output;
        int used;
        if (sscanf(line, "dump %u %u%n", &sample, &output, &used) != 2)
            continue;
        const char *p = line + used;
        unsigned long bits;
        int k;
        while (*p == ' ' && sscanf(p, " %8lx%n", &bits, &k) == 1) {
            if ((size_t)d.n == cap) {
                cap = cap ? 2 * cap : 256;
                d.v = realloc(d.v, cap * sizeof *d.v);
                d.tag = realloc(d.tag, cap * sizeof *d.tag);
                assert_non_null(d.v);
                assert_non_null(d.tag);
            }
            uint32_t u = (uint32_t)bits;
            memcpy(&d.v[d.n], &u, sizeof u);
            d.tag[d.n++] = (long)sample * 1000 + (long)output;
            p += k;
        }
    }
    return d;
}

/* Every value of got within the tolerance of ref, output by output:
 * |got - ref| <= 1e-5 * max(|ref|, 0.1 * max |ref| of that output). */
static void assert_agrees(const char *got_text, const char *ref_text, const char *what)
{
    Dump got = parse_dump(got_text), ref = parse_dump(ref_text);
    if (got.n != ref.n || ref.n == 0)
        fail_msg("%s: %ld values against the host's %ld", what, got.n, ref.n);
    for (long i = 0; i < ref.n; i++) {
        double peak = 0;
        for (long j = 0; j < ref.n; j++)
            if (ref.tag[j] == ref.tag[i] && fabs(ref.v[j]) > peak)
                peak = fabs(ref.v[j]);
        double scale = fabs(ref.v[i]) > 0.1 * peak ? fabs(ref.v[i]) : 0.1 * peak;
        double err = fabs((double)got.v[i] - ref.v[i]);
        if (got.tag[i] != ref.tag[i] || !(err <= TOLERANCE * scale || err == 0))
            fail_msg("%s: value %ld is %.9g, the host build gives %.9g", what, i, (double)got.v[i], (double)ref.v[i]);
    }
    free(got.v);
    free(got.tag);
    free(ref.v);
    free(ref.tag);
}

/* The host build's output: the reference for the boards. */
static const char *host_dump(Model *m)
{
    if (m->host_dump)
        return m->host_dump;
    assert_built(m, "host");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s/host", m->dir);
    char *out = tu_run_expect(cmd, 0);
    assert_passed(out, "host");
    m->host_dump = out;
    return out;
}

/* Runs an Arm image on a qemu board: it must pass and agree with the host. */
static void run_arm(Model *m, const char *machine, const char *elf)
{
    const char *ref = host_dump(m);
    assert_built(m, elf);
    char cmd[512];
    snprintf(cmd, sizeof cmd, QEMU " -M %s -kernel %s/%s </dev/null 2>&1", machine, m->dir, elf);
    char *out = tu_run_expect(cmd, 0);
    assert_passed(out, machine);
    assert_agrees(out, ref, machine);
    free(out);
}

static void test_target_host(void **state)
{
    host_dump(*state);
}

static void test_target_m4f(void **state)
{
    run_arm(*state, "mps2-an386", "m4f.elf");
}

static void test_target_m0(void **state)
{
    Model *m = *state;
    run_arm(m, "mps2-an385", "m0.elf");
    if (getenv("CNNC_TARGET_FULL"))
        run_arm(m, "mps2-an385", "m0_full.elf");
}

/* RV32: compiled and linked freestanding with no libc and no libm. */
static void test_target_rv32(void **state)
{
    Model *m = *state;
    assert_built(m, "rv32.elf");
    if (getenv("CNNC_TARGET_FULL"))
        assert_built(m, "rv32_full.elf");
}

/* The tools the suite needs, named with their Debian package. */
static void test_target_tools(void **state)
{
    (void)state;
    static const char *const tools[][2] = {
        {"arm-none-eabi-gcc", "gcc-arm-none-eabi"},
        {"arm-none-eabi-size", "binutils-arm-none-eabi"},
        {"riscv64-unknown-elf-gcc", "gcc-riscv64-unknown-elf"},
        {"qemu-system-arm", "qemu-system-arm"},
        {"timeout", "coreutils"},
    };
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "command -v %s >/dev/null", tools[i][0]);
        if (tu_run(cmd, NULL) != 0)
            fail_msg("%s is missing: run make deps (Debian package %s)", tools[i][0], tools[i][1]);
    }
    if (access("/usr/lib/arm-none-eabi/newlib/rdimon.specs", R_OK) != 0)
        fail_msg("newlib's rdimon.specs is missing: run make deps (Debian package libnewlib-arm-none-eabi)");
}

/* A firmware crash (here: the FPU left off) ends qemu with a message and
 * status 3 from the fault handler, quickly, not at the timeout. */
static void test_target_fault_exits(void **state)
{
    (void)state;
    mkdir(WORK "/fault", 0777);
    FILE *f = fopen(WORK "/fault/fault.c", "w");
    assert_non_null(f);
    fputs("void board_puts(const char *s);\n"
          "static volatile unsigned *const cpacr = (volatile unsigned *)0xE000ED88u;\n"
          "static volatile float x = 2.0f;\n"
          "int main(void)\n{\n    *cpacr = 0; /* FPU off: the next float instruction faults */\n"
          "    __asm__ volatile(\"dsb\\n\\tisb\");\n"
          "    board_puts(x * x > 3.0f ? \"no fault\\n\" : \"no fault?\\n\");\n    return 0;\n}\n",
          f);
    fclose(f);
    char *out = tu_run_expect(ARM_M4F " " STRICT " -O2 -nostdlib -T" FIRMWARE "/mps2_an386.ld " FIRMWARE
                                   "/startup.c " WORK "/fault/fault.c -lgcc -o " WORK "/fault/fault.elf 2>&1 && " QEMU
                                   " -M mps2-an386 -kernel " WORK "/fault/fault.elf </dev/null 2>&1",
                           3);
    if (!strstr(out, "fault: "))
        fail_msg("no fault message:\n%s", out);
    free(out);
}

/* The template as a user gets it: copied, pointed at a model, built,
 * run; built again only when the weights change (cnnc -MD). */
static void test_target_firmware_template(void **state)
{
    (void)state;
    char root[1024], cmd[4096], make[2048];
    assert_non_null(getcwd(root, sizeof root));
    free(tu_run_expect("rm -rf " WORK "/firmware && cp -r " FIRMWARE " " WORK "/firmware && mkdir " WORK
                    "/firmware/model && cp models/digits.net models/digits.safetensors " WORK "/firmware/model/",
                    0));
    snprintf(make, sizeof make,
             "make --no-print-directory -C " WORK "/firmware CNNC_ROOT=%s MODEL=model/digits.net "
             "WEIGHTS=model/digits.safetensors",
             root);
    snprintf(cmd, sizeof cmd, "%s all run 2>&1", make);
    char *out = tu_run_expect(cmd, 0);
    if (!strstr(out, "\nPASS\n") || !strstr(out, "flash ") || !strstr(out, "RAM ") ||
        !strstr(out, "digits: on an all-zero input"))
        fail_msg("the template's build or run is not as expected:\n%s", out);
    free(out);

    snprintf(cmd, sizeof cmd, "%s all 2>&1", make);
    out = tu_run_expect(cmd, 0);
    if (strstr(out, "build/cnnc ") || strstr(out, " -c "))
        fail_msg("nothing changed, yet make rebuilt:\n%s", out);
    free(out);

    free(tu_run_expect("touch " WORK "/firmware/model/digits.safetensors", 0));
    out = tu_run_expect(cmd, 0);
    if (!strstr(out, "build/cnnc ") || !strstr(out, "model.o"))
        fail_msg("the weights changed, yet make did not regenerate:\n%s", out);
    free(out);
}

/* Writes one make rule per build, logging to FILE.log. */
static void write_rules(FILE *mk, const Model *m, const Build *b, size_t n, char *all, size_t all_len)
{
    for (size_t k = 0; k < n; k++) {
        char recipe[2048];
        snprintf(recipe, sizeof recipe, b[k].recipe, m->dir, m->dir, m->dir, m->dir);
        fprintf(mk, "%s/%s:\n\t@%s >%s/%s.log 2>&1\n", m->dir, b[k].file, recipe, m->dir, b[k].file);
        size_t used = strlen(all);
        snprintf(all + used, all_len - used, " %s/%s", m->dir, b[k].file);
    }
}

/* Generates every model's C (both variants) and builds every image, two
 * at a time; what fails shows in its test. */
static void build_all(Model *models, bool full)
{
    FILE *mk = fopen(WORK "/builds.mk", "w");
    if (!mk) {
        perror(WORK "/builds.mk");
        return;
    }
    char all[8192] = "";
    for (int i = 0; i < NMODELS; i++) {
        Model *m = &models[i];
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", m->dir, m->dir);
        tu_run(cmd, NULL);
        static const char *const variants[][2] = {{"", ""}, {"_nu", "--unroll=none"}};
        for (int v = 0; v < 2; v++) {
            snprintf(cmd, sizeof cmd,
                     "build/cnnc tests/ref/%s/model.net -w tests/ref/%s/weights.safetensors %s -o %s/model%s.c "
                     "--emit-test %s/selftest%s.c --test-input tests/ref/%s/input.bin "
                     "--test-expected tests/ref/%s/expected.bin >%s/model%s.log 2>&1",
                     m->name, m->name, variants[v][1], m->dir, variants[v][0], m->dir, variants[v][0], m->name, m->name,
                     m->dir, variants[v][0]);
            tu_run(cmd, NULL);
        }
        write_rules(mk, m, builds, sizeof builds / sizeof builds[0], all, sizeof all);
        if (full)
            write_rules(mk, m, full_builds, sizeof full_builds / sizeof full_builds[0], all, sizeof all);
    }
    fprintf(mk, "all:%s\n.DEFAULT_GOAL := all\n", all);
    fclose(mk);
    tu_run("make --no-print-directory -k -j2 -f " WORK "/builds.mk >/dev/null 2>&1", NULL);
}

int main(void)
{
    mkdir("build", 0777);
    mkdir(WORK, 0777);
    /* gcc's temporary files here, not in a /tmp others may clean */
    char tmp[1100];
    if (!getcwd(tmp, 1024))
        return 1;
    strcat(tmp, "/" WORK "/tmp");
    mkdir(tmp, 0777);
    setenv("TMPDIR", tmp, 1);

    Model models[NMODELS] = {{0}};
    for (int i = 0; i < NMODELS; i++) {
        models[i].name = model_names[i];
        snprintf(models[i].dir, sizeof models[i].dir, WORK "/%s", model_names[i]);
    }
    build_all(models, getenv("CNNC_TARGET_FULL") != NULL);

    struct CMUnitTest tests[3 + 4 * NMODELS];
    char names[4 * NMODELS][96];
    int n = 0;
    tests[n++] = (struct CMUnitTest){"test_target_tools", test_target_tools, NULL, NULL, NULL};
    static const struct {
        const char *name;
        CMUnitTestFunction fn;
    } kinds[] = {
        {"host", test_target_host},
        {"m4f", test_target_m4f},
        {"m0", test_target_m0},
        {"rv32", test_target_rv32},
    };
    for (int i = 0; i < NMODELS; i++)
        for (int k = 0; k < 4; k++) {
            char *name = names[4 * i + k];
            snprintf(name, sizeof names[0], "test_target_%s_%s", kinds[k].name, model_names[i]);
            tests[n++] = (struct CMUnitTest){name, kinds[k].fn, NULL, NULL, &models[i]};
        }
    tests[n++] = (struct CMUnitTest){"test_target_fault_exits", test_target_fault_exits, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"test_target_firmware_template", test_target_firmware_template, NULL, NULL, NULL};
    int failed = _cmocka_run_group_tests("target", tests, (size_t)n, NULL, NULL);
    for (int i = 0; i < NMODELS; i++)
        free(models[i].host_dump);
    return failed;
}
