/* m4_main.c: counts the instructions of one inference on the emulated
 * Cortex-M4 (qemu mps2-an386, -icount shift=0) for make bench. NET and
 * NETU name the model. With -icount, SysTick on the processor clock
 * advances once per 40 instructions on that board, so ticks * 40 is the
 * instruction count; the 24-bit counter holds 671M instructions. */
#include <stdint.h>

#include "model.h"

#define P_(a, b) a##b
#define P(a, b) P_(a, b)
#define MODEL_RUN P(NET, _run)
#define MODEL_IN P(NETU, _INPUT_SIZE)
#define MODEL_OUT P(NETU, _OUTPUT_SIZE)

void board_puts(const char *s);

/* The element type of the model's input and output: float, or int8_t
 * for an imported int8 model (-DBENCH_T=int8_t). */
#ifndef BENCH_T
#define BENCH_T float
#endif

/* The input as C, written by bench.py (input.c). */
extern const BENCH_T bench_input[MODEL_IN];

/* SysTick registers (Armv7-M): control, reload, current value. */
typedef struct SysTick {
    volatile uint32_t ctrl, load, val;
} SysTick;

/* Prints an unsigned number: no printf in a build without libc. */
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
    static BENCH_T in[MODEL_IN], out[MODEL_OUT];
    SysTick *st = (SysTick *)0xE000E010u;
    /* The same input the host timings use, copied so the model reads RAM. */
    for (int i = 0; i < MODEL_IN; i++)
        in[i] = bench_input[i];
    st->load = 0xFFFFFFu;
    st->val = 0;
    st->ctrl = 5; /* enabled, processor clock, no interrupt */
    uint32_t t0 = st->val;
    MODEL_RUN(in, out);
    uint32_t t1 = st->val;
    board_puts("ticks ");
    put_u32((t0 - t1) & 0xFFFFFFu);
    board_puts("\n");
    return 0;
}
