/* cycles_main.c: the firmware tests/unit/test_cycles.c runs under qemu
 * mps2-an386 -icount shift=0 and models with bench/m4cycles.py: the
 * microbenchmarks of micro.S, then one inference of the digits model
 * timed by SysTick 40 times, each time after clearing SysTick's count
 * (which restarts its tick phase) and one more padding instruction.
 * SysTick advances once per 40 instructions there, so over the 40
 * phases the ticks sum to exactly the instructions between the two
 * reads (Hermite's identity: sum over k<40 of floor((x+k)/40) = x).
 * Prints "icount_sum N". */
#include <stdint.h>

#include "model.h"

void board_puts(const char *s);
void cycles_micro(uint32_t *scratch);
uint32_t cycles_icount(uint32_t pad, void (*fn)(void));

static float in[DIGITS_INPUT_SIZE], out[DIGITS_OUTPUT_SIZE];

/* The region timed: one inference. */
static void infer(void)
{
    digits_run(in, out);
}

/* Prints an unsigned number: no printf without libc. */
static void put_u32(uint32_t v)
{
    char b[12];
    int i = 11;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    board_puts(b + i);
}

int main(void)
{
    static uint32_t scratch[16];
    volatile uint32_t *st = (volatile uint32_t *)0xE000E010u;
    for (int i = 0; i < DIGITS_INPUT_SIZE; i++)
        in[i] = (float)(i % 7) * 0.25f;
    cycles_micro(scratch);
    st[1] = 0xFFFFFFu;
    st[2] = 0;
    st[0] = 5; /* enabled, processor clock, no interrupt */
    uint32_t sum = 0;
    for (uint32_t k = 0; k < 40; k++)
        sum += cycles_icount(k, infer);
    board_puts("icount_sum ");
    put_u32(sum);
    board_puts("\n");
    return 0;
}
