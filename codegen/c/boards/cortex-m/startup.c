/* Startup and semihosting support for the emulated Cortex-M boards (qemu-system-arm
 * mps2-an386 / Cortex-M4, mps2-an500 / Cortex-M7, mps3-an547 / Cortex-M55), built with
 * arm-none-eabi-gcc, newlib-nano and librdimon (semihosting):
 *
 *   -nostartfiles --specs=nano.specs --specs=rdimon.specs -T boards/cortex-m/<board>.ld
 *
 * What it does, in order (newlib's own rdimon crt0 does not do the first two on these boards):
 * 1. The vector table (section .vectors, placed at address 0 by the linker scripts) gives the
 *    initial stack pointer, Reset_Handler, and fault handlers.
 * 2. Reset_Handler enables the FPU / MVE (CP10 and CP11 full access in CPACR) when built with
 *    one, sets the main stack limit (MSPLIM) on Armv8-M so a stack overflow faults, copies
 *    .data from its load address, zeroes .bss, opens the semihosting stdin/stdout/stderr
 *    (initialise_monitor_handles), runs the constructors (__libc_init_array), reads the
 *    command line from the debugger / qemu (semihosting SYS_GET_CMDLINE, split on spaces) and
 *    calls exit(main(argc, argv)); main's return value becomes qemu's exit code.
 * 3. Every fault and unexpected interrupt prints one line on the semihosting console
 *    ("qc_board: HardFault (CFSR=... HFSR=... PC=...)") and exits through semihosting with
 *    code 3, so a crash ends qemu with a non-zero status instead of hanging.
 *
 * Memory comes from the linker script symbols below; the heap (used by newlib's stdio only)
 * runs from __HeapBase to __HeapLimit through the _sbrk defined here.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Linker script symbols. */
extern uint32_t __StackTop;
extern uint32_t __StackLimit;
extern uint32_t __data_load__;
extern uint32_t __data_start__;
extern uint32_t __data_end__;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern char __HeapBase;
extern char __HeapLimit;

/* newlib / librdimon. */
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(int argc, char **argv);

void Reset_Handler(void);
void NMI_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void SecureFault_Handler(void);
void Default_Handler(void);
void _init(void);
void _fini(void);
void *_sbrk(ptrdiff_t incr);

#define QC_BOARD_FAULT_EXIT_CODE 3
#define QC_BOARD_MAX_ARGS 64
#define QC_BOARD_CMDLINE_SIZE 2048

/* ------------------------------------------------------------------------------------------ */
/* Semihosting (Arm "Semihosting for AArch32 and AArch64"; bkpt 0xab on M-profile). */

#define SYS_WRITE0 0x04
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUNTIME_ERROR_UNKNOWN 0x20023

static int qc_semihost(int op, void *arg) {
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void qc_semihost_puts(const char *s) { qc_semihost(SYS_WRITE0, (void *)(uintptr_t)s); }

static void qc_semihost_exit(int code) {
    uint32_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)code;
    qc_semihost(SYS_EXIT_EXTENDED, block);
    /* SYS_EXIT_EXTENDED unsupported: plain SYS_EXIT (AArch32 passes the reason in r1). */
    qc_semihost(SYS_EXIT, (void *)(uintptr_t)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                           : ADP_STOPPED_RUNTIME_ERROR_UNKNOWN));
    for (;;) {
    }
}

/* argv from SYS_GET_CMDLINE: qemu joins the `arg=` values of -semihosting-config with single
 * spaces (so an argument cannot contain a space). Returns argc; argv[argc] is NULL. */
static int qc_board_args(char ***argv_out) {
    static char cmdline[QC_BOARD_CMDLINE_SIZE];
    static char *argv[QC_BOARD_MAX_ARGS + 1];
    static char progname[] = "run_model";
    struct {
        char *buf;
        int len;
    } block;
    int argc = 0;
    char *p;

    block.buf = cmdline;
    block.len = (int)sizeof(cmdline) - 1;
    if (qc_semihost(SYS_GET_CMDLINE, &block) != 0 || block.len < 0) {
        block.len = 0;
    }
    cmdline[block.len < (int)sizeof(cmdline) ? block.len : (int)sizeof(cmdline) - 1] = '\0';
    for (p = cmdline; *p != '\0';) {
        while (*p == ' ') *p++ = '\0';
        if (*p == '\0') break;
        if (argc == QC_BOARD_MAX_ARGS) {
            qc_semihost_puts("qc_board: more than 64 command-line arguments\n");
            qc_semihost_exit(2);
        }
        argv[argc++] = p;
        while (*p != '\0' && *p != ' ') ++p;
    }
    if (argc == 0) argv[argc++] = progname;
    argv[argc] = NULL;
    *argv_out = argv;
    return argc;
}

/* ------------------------------------------------------------------------------------------ */
/* Reset. */

/* Kept out of line so nothing the compiler emits for the copy loops (FP or MVE registers
 * included) runs before the coprocessors are enabled. */
static void __attribute__((noinline)) qc_init_memory(void) {
    uint32_t *src = &__data_load__;
    uint32_t *dst = &__data_start__;
    while (dst < &__data_end__) *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0u;
}

void Reset_Handler(void) {
    char **argv;
    int argc;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR: CP10 and CP11 (FPU and MVE) full access. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    /* Stack overflow raises a UsageFault (STKOF) instead of corrupting memory. */
    __asm__ volatile("msr msplim, %0" : : "r"(&__StackLimit));
#endif
    qc_init_memory();
    initialise_monitor_handles();
    __libc_init_array();
    argc = qc_board_args(&argv);
    exit(main(argc, argv));
}

/* ------------------------------------------------------------------------------------------ */
/* Faults: one line on the semihosting console, then exit code 3. */

static void qc_hex(char *out, uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    int i;
    out[0] = '0';
    out[1] = 'x';
    for (i = 0; i < 8; ++i) out[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
    out[10] = '\0';
}

void qc_fault_entry(int which, const uint32_t *frame);

void qc_fault_entry(int which, const uint32_t *frame) {
    static const char *const names[] = {"NMI",        "HardFault",   "MemManage fault",
                                        "BusFault",   "UsageFault",  "SecureFault",
                                        "unexpected exception or interrupt"};
    char hex[11];
    qc_semihost_puts("qc_board: ");
    qc_semihost_puts(names[which]);
    qc_semihost_puts(" (CFSR=");
    qc_hex(hex, *(volatile uint32_t *)0xE000ED28u);
    qc_semihost_puts(hex);
    qc_semihost_puts(" HFSR=");
    qc_hex(hex, *(volatile uint32_t *)0xE000ED2Cu);
    qc_semihost_puts(hex);
    /* The exception frame (r0-r3, r12, lr, pc, xpsr) is readable only if the stack was fine. */
    if ((uintptr_t)frame >= (uintptr_t)&__StackLimit &&
        (uintptr_t)(frame + 8) <= (uintptr_t)&__StackTop) {
        qc_semihost_puts(" PC=");
        qc_hex(hex, frame[6]);
        qc_semihost_puts(hex);
    }
    qc_semihost_puts(")\n");
    qc_semihost_exit(QC_BOARD_FAULT_EXIT_CODE);
}

/* Naked: pass the handler's index and the faulting stack pointer (the exception frame; only
 * the main stack is used), then restart from a fresh stack, since the old one may be the
 * cause (an overflow). */
#define QC_FAULT_HANDLER(fn, which)                                                            \
    __attribute__((naked)) void fn(void) {                                                     \
        __asm__ volatile("movs r0, #" #which "\n\t"                                            \
                         "mov r1, sp\n\t"                                                      \
                         "ldr r2, =__StackTop\n\t"                                             \
                         "mov sp, r2\n\t"                                                      \
                         "b qc_fault_entry\n\t"                                                \
                         ".ltorg");                                                            \
    }

QC_FAULT_HANDLER(NMI_Handler, 0)
QC_FAULT_HANDLER(HardFault_Handler, 1)
QC_FAULT_HANDLER(MemManage_Handler, 2)
QC_FAULT_HANDLER(BusFault_Handler, 3)
QC_FAULT_HANDLER(UsageFault_Handler, 4)
QC_FAULT_HANDLER(SecureFault_Handler, 5)
QC_FAULT_HANDLER(Default_Handler, 6)

/* ------------------------------------------------------------------------------------------ */
/* Vector table: 16 system entries and 32 interrupt lines (none is enabled). A union keeps the
 * stack pointer and the handlers in one ISO C array. */

typedef union {
    void (*handler)(void);
    const void *address;
} qc_vector_t;

__attribute__((section(".vectors"), used)) const qc_vector_t qc_vectors[16 + 32] = {
    {.address = &__StackTop},
    {Reset_Handler},
    {NMI_Handler},
    {HardFault_Handler},
    {MemManage_Handler},
    {BusFault_Handler},
    {UsageFault_Handler},
    {SecureFault_Handler}, /* Armv8-M; reserved on v7-M */
    {0},
    {0},
    {0},
    {Default_Handler}, /* SVCall */
    {Default_Handler}, /* DebugMonitor */
    {0},
    {Default_Handler}, /* PendSV */
    {Default_Handler}, /* SysTick */
#define QC_IRQ8                                                                                \
    {Default_Handler}, {Default_Handler}, {Default_Handler}, {Default_Handler},                \
        {Default_Handler}, {Default_Handler}, {Default_Handler}, {Default_Handler}
    QC_IRQ8,
    QC_IRQ8,
    QC_IRQ8,
    QC_IRQ8,
#undef QC_IRQ8
};

/* ------------------------------------------------------------------------------------------ */
/* newlib hooks. */

/* -nostartfiles leaves out crti/crtn; __libc_init_array still calls these. */
void _init(void) {}
void _fini(void) {}

/* Heap between __HeapBase and __HeapLimit (librdimon's weak _sbrk compares with the stack
 * pointer, which is wrong when the stack sits below the heap). */
void *_sbrk(ptrdiff_t incr) {
    static char *heap_end = &__HeapBase;
    char *prev = heap_end;
    if (incr < 0 ? (&__HeapBase - heap_end) > incr : (&__HeapLimit - heap_end) < incr) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_end += incr;
    return prev;
}
