/* test_cycles.c: the Cortex-M4 cycle model of make bench
 * (bench/m4cycles.py) against what it must reproduce.
 *   - It rebuilds the executed instruction stream from qemu's trace; the
 *     count must equal qemu's own -icount over the same region exactly.
 *     The firmware (tests/cycles/cycles_main.c) times one inference of the
 *     digits model with SysTick 40 times, each time clearing its count
 *     (restarting the tick phase) and padding by one more instruction;
 *     SysTick advances once per 40 instructions, so the 40 tick counts
 *     sum to exactly the instructions between the two reads.
 *   - Microbenchmarks in assembly (tests/cycles/micro.S) must cost exactly
 *     what the Cortex-M4 TRM's table (docs/performance.md) predicts: VFMA
 *     chains, VMUL then VADD, pipelined and dependent loads, VLDM, PUSH and
 *     POP, taken and untaken branches, IT folding, SDIV; and flash wait
 *     states per fetch line.
 * The firmware is built and modelled once, for all tests; they skip with a
 * message when arm-none-eabi-gcc, qemu-system-arm or python3 is missing. */
#include "testutil.h"

#include <sys/stat.h>

#define WORK "build/cycles"
#define ARM_M4F "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
#define FIRMWARE "examples/firmware"
#define MODEL "tests/ref/digits/"

/* What the model printed for the firmware (NULL: skipped, with why);
 * ws: the same with 3 flash wait states per 16-byte fetch line. */
typedef struct Run {
    char *out, *ws;
    const char *skip_why;
} Run;

/* One region the model reported: how often it ran and its totals. */
typedef struct Region {
    long count, instructions, cycles;
} Region;

/* A microbenchmark of micro.S and the cycles the table predicts for it. */
typedef struct Micro {
    const char *name;
    long instructions, cycles;
} Micro;

static const Micro fp_micros[] = {
    {"vfma_chain", 8, 8 * 3},             /* the accumulator feeds the next: no stall */
    {"vfma_operand", 2, 3 + 3 + 1},       /* the result as the next multiplicand: +1 */
    {"vmul_vadd", 8, 4 * (1 + 1 + 1)},    /* each VADD waits for its product */
    {"vmul_vadd_interleaved", 8, 8 * 1}, /* two products, then two sums */
    {"vadd_vstr", 2, 1 + 2 + 1},          /* the sum stored next waits one */
    {"vldm", 4, (1 + 8) + 1 + 2 + 1},     /* VLDM 1+N; VLDR 2, then 1 pipelined */
};
static const Micro load_micros[] = {
    {"ldr_pipelined", 4, 2 + 1 + 1 + 1},
    {"str_ldr", 2, 1 + 2},            /* nothing pipelines after a store */
    {"ldr_dependent", 2, 2 + 2 + 1},  /* address from the load before */
    {"alu_ldr", 2, 1 + 2 + 1},        /* base from the ALU op before */
    {"ldrd_str", 3, 3 + 2 + 1},       /* LDRD 3; LDR after it 2; STR reg pipelined 1 */
    {"push_pop", 3, (1 + 4) + 1 + (1 + 4)},
};
static const Micro branch_micros[] = {
    {"branch_untaken", 2, 1 + 1},
    {"branch_taken", 3, 1 + (1 + 1) + 1},
    {"branch_unaligned", 2, (1 + 2) + 1}, /* to a 32-bit instruction at an odd halfword */
    {"it_fold", 6, 1 + 0 + 1 + 1 + 1 + 1},
    {"sdiv", 1, 12},
};
static const Micro fetch_micros[] = {
    {"fetch_lines", 8, 8},
};

static Run run;

/* The tools the suite needs; NULL when all are there. */
static const char *missing_tool(void)
{
    static const char *const tools[][2] = {
        {"arm-none-eabi-gcc", "skipped: no arm-none-eabi-gcc (Debian package gcc-arm-none-eabi)"},
        {"qemu-system-arm", "skipped: no qemu-system-arm (Debian package qemu-system-arm)"},
        {"python3", "skipped: no python3 for bench/m4cycles.py"},
    };
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tools[i][0]);
        if (tu_run(cmd, NULL) != 0)
            return tools[i][1];
    }
    return NULL;
}

/* Builds the firmware and runs the model over it, once. */
static int setup(void **state)
{
    (void)state;
    if (!tu_cross_checks()) {
        run.skip_why = "skipped: cross checks are off in this pass";
        return 0;
    }
    if ((run.skip_why = missing_tool()))
        return 0;
    mkdir("build", 0777);
    mkdir(WORK, 0777);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "build/cnnc " MODEL "model.net -w " MODEL "weights.safetensors -o " WORK "/model.c 2>&1 && " ARM_M4F
             " -O2 -std=c99 -Wall -Wextra -Werror -I" WORK " -Iruntime tests/cycles/cycles_main.c tests/cycles/micro.S "
             WORK "/model.c " FIRMWARE "/startup.c -T " FIRMWARE "/mps2_an386.ld -nostartfiles --specs=nosys.specs "
             "-Wl,--gc-sections -o " WORK "/cycles.elf 2>&1 && "
             "python3 bench/m4cycles.py " WORK "/cycles.elf --start icount_begin --end icount_end");
    size_t n = strlen(cmd);
    const Micro *const sets[] = {fp_micros, load_micros, branch_micros, fetch_micros};
    const size_t sizes[] = {sizeof fp_micros / sizeof *fp_micros, sizeof load_micros / sizeof *load_micros,
                            sizeof branch_micros / sizeof *branch_micros, sizeof fetch_micros / sizeof *fetch_micros};
    for (size_t s = 0; s < 4; s++)
        for (size_t i = 0; i < sizes[s]; i++)
            n += (size_t)snprintf(cmd + n, sizeof cmd - n, " --region %s", sets[s][i].name);
    snprintf(cmd + n, sizeof cmd - n, " 2>&1");
    run.out = tu_run_expect(cmd, 0);
    run.ws = tu_run_expect("python3 bench/m4cycles.py " WORK "/cycles.elf --wait-states 3 --line 16 "
                           "--region fetch_lines --region vfma_chain 2>&1",
                           0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(run.out);
    free(run.ws);
    return 0;
}

/* Skips the test when setup did. */
static void need_run(void)
{
    if (run.skip_why) {
        print_message("%s\n", run.skip_why);
        skip();
    }
}

/* The figures for region name in the model's output out; fails when it has none. */
static Region region_in(const char *out, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "region %s count ", name);
    const char *p = strstr(out, key);
    if (!p)
        fail_msg("no region %s in the model's output:\n%s", name, out);
    Region r;
    if (sscanf(p + strlen(key), "%ld instructions %ld cycles %ld", &r.count, &r.instructions, &r.cycles) != 3)
        fail_msg("region %s unreadable in:\n%s", name, out);
    return r;
}

/* The same in the zero-wait-state run. */
static Region region(const char *name)
{
    return region_in(run.out, name);
}

/* The firmware's own line "key N". */
static long console_value(const char *key)
{
    const char *p = strstr(run.out, key);
    if (!p)
        fail_msg("no \"%s\" in the output:\n%s", key, run.out);
    return atol(p + strlen(key));
}

/* Every microbenchmark of the set costs what the table predicts. */
static void check_micros(const Micro *m, size_t n)
{
    need_run();
    for (size_t i = 0; i < n; i++) {
        Region r = region(m[i].name);
        if (r.count != 1 || r.instructions != m[i].instructions || r.cycles != m[i].cycles)
            fail_msg("%s: %ld run(s), %ld instructions, %ld cycles; the table says 1, %ld, %ld\n%s", m[i].name,
                     r.count, r.instructions, r.cycles, m[i].instructions, m[i].cycles, run.out);
    }
}

static void test_cycles_icount_exact(void **state)
{
    (void)state;
    need_run();
    Region r = region("icount_begin");
    long icount = console_value("icount_sum ");
    assert_int_equal(r.count, 40);
    if (r.instructions != 40 * icount)
        fail_msg("the model counts %ld instructions over 40 inferences, qemu's -icount %ld x 40 = %ld", r.instructions,
                 icount, 40 * icount);
    /* a real kernel, not a toy: tens of thousands of instructions */
    assert_true(icount > 50000);
    assert_true(r.cycles > r.instructions);
}

static void test_cycles_fpu(void **state)
{
    (void)state;
    check_micros(fp_micros, sizeof fp_micros / sizeof *fp_micros);
}

static void test_cycles_loads(void **state)
{
    (void)state;
    check_micros(load_micros, sizeof load_micros / sizeof *load_micros);
}

static void test_cycles_branches(void **state)
{
    (void)state;
    check_micros(branch_micros, sizeof branch_micros / sizeof *branch_micros);
}

/* N wait states add N cycles per fetch line entered: 2 lines of 8
 * NOP.W cost 8 + 2 * 3; the VFMA chain (32 bytes at any alignment
 * but a nop's) enters at least 2 lines, at most 3. */
static void test_cycles_wait_states(void **state)
{
    (void)state;
    check_micros(fetch_micros, sizeof fetch_micros / sizeof *fetch_micros);
    Region r = region_in(run.ws, "fetch_lines");
    if (r.instructions != 8 || r.cycles != 8 + 2 * 3)
        fail_msg("fetch_lines with 3 wait states: %ld instructions, %ld cycles, not 8, 14\n%s", r.instructions,
                 r.cycles, run.ws);
    Region v = region_in(run.ws, "vfma_chain");
    if (v.cycles < 24 + 2 * 3 || v.cycles > 24 + 3 * 3)
        fail_msg("vfma_chain with 3 wait states: %ld cycles, not 30 to 33\n%s", v.cycles, run.ws);
}

/* No mnemonic of the inference falls back to the default cost unknown. */
static void test_cycles_known_mnemonics(void **state)
{
    (void)state;
    need_run();
    if (strstr(run.out, "unknown mnemonics"))
        fail_msg("the model met instructions it has no cost for:\n%s", run.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cycles_icount_exact),
        cmocka_unit_test(test_cycles_fpu),
        cmocka_unit_test(test_cycles_loads),
        cmocka_unit_test(test_cycles_branches),
        cmocka_unit_test(test_cycles_wait_states),
        cmocka_unit_test(test_cycles_known_mnemonics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
