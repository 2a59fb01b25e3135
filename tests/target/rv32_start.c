/* rv32_start.c: the least a bare-metal RV32 image needs, so that the test
 * suite can link generated code with no libc and no libm (-nostdlib):
 * a stack, a cleared .bss, a call to main and somewhere to print. The
 * image is linked with the toolchain's default layout and not run. */
#include <stdint.h>

int main(void);
void _start(void);
void rv_puts(const char *s);

/* The default linker script's bounds of .bss. */
extern uint32_t __bss_start[], _end[];

/* Where _start points the stack. */
__attribute__((aligned(16))) static uint8_t stack[8192];

/* A 16550 UART's transmit register, as on qemu's riscv virt board. */
#define UART_THR ((volatile uint8_t *)0x10000000u)

/* Writes s to the UART, byte by byte. */
void rv_puts(const char *s)
{
    while (*s)
        *UART_THR = (uint8_t)*s++;
}

/* Clears .bss and runs main; volatile stores so that the loop cannot
 * become a memset call, which there is no libc to provide. */
static void run(void)
{
    for (volatile uint32_t *p = __bss_start; p < _end;)
        *p++ = 0;
    (void)main();
    for (;;) {
    }
}

/* The entry: no stack yet, so only set one up and jump to C. */
__attribute__((naked)) void _start(void)
{
    __asm__ volatile(".option push\n\t"
                     ".option norelax\n\t"
                     "la gp, __global_pointer$\n\t"
                     ".option pop\n\t"
                     "la sp, %0 + %1\n\t"
                     "j %2"
                     :
                     : "i"(stack), "i"(sizeof stack), "i"(run));
}
