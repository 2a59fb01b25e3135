/* startup.c: reset and exception handling for a Cortex-M board, and a
 * console and exit over semihosting (the debugger, or qemu -semihosting).
 *
 * Written for Arm's MPS2 AN386 image (Cortex-M4F) as qemu models it, with
 * mps2_an386.ld; it also runs Cortex-M0/M3 builds (no FPU) unchanged.
 * Nothing here needs libc: build with -DSTARTUP_RDIMON to set up newlib's
 * semihosting stdio (--specs=rdimon.specs) so printf works too.
 *
 * On a real board without a debugger attached, semihosting traps: replace
 * board_puts() with your UART and board_exit() with what your firmware
 * does when done (sleep, reset). */
#include <stdint.h>

/* From the linker script. */
extern uint32_t _sidata[];          /* .data's initial values, in flash */
extern uint32_t _sdata[], _edata[]; /* .data in RAM */
extern uint32_t _sbss[], _ebss[];   /* .bss in RAM */
extern const char _estack[];        /* top of the stack */

int main(void);
void Reset_Handler(void);
void board_puts(const char *s);
void board_exit(int status);

#ifdef STARTUP_RDIMON
#include <stdio.h>
void initialise_monitor_handles(void); /* newlib's librdimon: opens stdin/stdout/stderr */
#endif

/* Semihosting operations (Arm "Semihosting for AArch32 and AArch64"). */
enum {
    SYS_WRITE0 = 0x04,
    SYS_EXIT = 0x18,
    SYS_EXIT_EXTENDED = 0x20,
    ADP_STOPPED_APPLICATION_EXIT = 0x20026,
    ADP_STOPPED_RUNTIME_ERROR = 0x20023,
};

/* Status board_exit() reports when the program crashed. */
enum { STATUS_FAULT = 3 };

/* One semihosting call: on M-profile, BKPT 0xAB with the operation in r0
 * and its argument in r1; the host's answer comes back in r0. */
static uintptr_t semihost(uintptr_t op, uintptr_t arg)
{
    register uintptr_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Writes a NUL-terminated string to the host's console. */
void board_puts(const char *s)
{
    semihost(SYS_WRITE0, (uintptr_t)s);
}

/* Ends the program with an exit status the host sees (qemu's own exit
 * status). Plain SYS_EXIT on 32-bit Arm can only say "success" or
 * "error", so other statuses go through SYS_EXIT_EXTENDED, which carries
 * the number; a host without it gets a plain error exit. */
void board_exit(int status)
{
    if (status == 0)
        semihost(SYS_EXIT, ADP_STOPPED_APPLICATION_EXIT);
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    semihost(SYS_EXIT_EXTENDED, (uintptr_t)block);
    semihost(SYS_EXIT, ADP_STOPPED_RUNTIME_ERROR);
    for (;;) {
    }
}

/* Copies .data's initial values to RAM and clears .bss. Volatile stores,
 * so the compiler cannot turn the loops into memcpy/memset calls that a
 * build without libc does not have. */
static void init_memory(void)
{
    const uint32_t *src = _sidata;
    for (volatile uint32_t *dst = _sdata; dst < _edata;)
        *dst++ = *src++;
    for (volatile uint32_t *dst = _sbss; dst < _ebss;)
        *dst++ = 0;
}

/* Runs at reset with the stack from the vector table. The FPU is off at
 * reset and any float instruction before enabling it faults, so that
 * comes first, before anything that might use a float register. */
void Reset_Handler(void)
{
#if defined(__ARM_FP)
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20; /* CP10 and CP11: full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    init_memory();
#ifdef STARTUP_RDIMON
    initialise_monitor_handles();
    int status = main();
    fflush(NULL); /* what stdio still holds, before the host stops us */
    board_exit(status);
#else
    board_exit(main());
#endif
}

/* A crash ends the run with a message and STATUS_FAULT rather than
 * hanging until a timeout. */
static void fault(const char *what)
{
    board_puts("fault: ");
    board_puts(what);
    board_puts("\n");
    board_exit(STATUS_FAULT);
}

static void NMI_Handler(void)
{
    fault("NMI");
}

static void HardFault_Handler(void)
{
    fault("hard fault");
}

static void MemManage_Handler(void)
{
    fault("memory management fault");
}

static void BusFault_Handler(void)
{
    fault("bus fault");
}

static void UsageFault_Handler(void)
{
    fault("usage fault (an undefined instruction, or the FPU off?)");
}

static void Default_Handler(void)
{
    fault("unexpected exception or interrupt");
}

/* The vector table: the initial stack pointer, then handlers. The linker
 * script puts it at address 0, where the core reads it at reset. */
typedef union Vector {
    void (*handler)(void);
    const void *stack;
} Vector;

__attribute__((section(".vectors"), used)) static const Vector vectors[16] = {
    {.stack = _estack},
    {Reset_Handler},
    {NMI_Handler},
    {HardFault_Handler},
    {MemManage_Handler},
    {BusFault_Handler},
    {UsageFault_Handler},
    {0},
    {0},
    {0},
    {0},
    {Default_Handler}, /* SVCall */
    {Default_Handler}, /* debug monitor */
    {0},
    {Default_Handler}, /* PendSV */
    {Default_Handler}, /* SysTick */
};
