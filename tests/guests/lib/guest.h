/*
 * Tiny runtime for the armvmm bare-metal test guests.
 *
 * Everything runs with the MMU off, so every data access is to Device
 * memory: no unaligned accesses (-mstrict-align), no exclusives/atomics,
 * no dc zva.  MMIO goes through the single-instruction accessors below so
 * that the hypervisor always gets a valid syndrome (ISV=1) to emulate.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_config.h"
#include "fdt.h"

#define NORETURN __attribute__((noreturn))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* MPIDR_EL1 affinity fields: Aff3 (39:32) and Aff2..Aff0 (23:0). */
#define MPIDR_AFF_MASK 0xff00ffffffULL

/* ---- MMIO accessors (one plain ldr/str each, no writeback) ---- */

static inline uint8_t mmio_read8(uintptr_t addr)
{
	uint32_t v;
	__asm__ __volatile__("ldrb %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
	return (uint8_t)v;
}

static inline void mmio_write8(uintptr_t addr, uint8_t v)
{
	__asm__ __volatile__("strb %w0, [%1]" : : "r"((uint32_t)v), "r"(addr) : "memory");
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
	uint32_t v;
	__asm__ __volatile__("ldr %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
	__asm__ __volatile__("str %w0, [%1]" : : "r"(v), "r"(addr) : "memory");
}

static inline uint64_t mmio_read64(uintptr_t addr)
{
	uint64_t v;
	__asm__ __volatile__("ldr %x0, [%1]" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

static inline void mmio_write64(uintptr_t addr, uint64_t v)
{
	__asm__ __volatile__("str %x0, [%1]" : : "r"(v), "r"(addr) : "memory");
}

/* ---- barriers and system registers ---- */

static inline void isb(void) { __asm__ __volatile__("isb" : : : "memory"); }
static inline void dsb_sy(void) { __asm__ __volatile__("dsb sy" : : : "memory"); }
static inline void irq_enable(void) { __asm__ __volatile__("msr daifclr, #2" : : : "memory"); }
static inline void irq_disable(void) { __asm__ __volatile__("msr daifset, #2" : : : "memory"); }
static inline void wfi(void) { __asm__ __volatile__("wfi" : : : "memory"); }

/* Register names are passed as text so the S3_x_Cn_Cm_y forms work too. */
#define read_sysreg(reg) __extension__({				\
	uint64_t __val;							\
	__asm__ __volatile__("mrs %0, " #reg : "=r"(__val) : : "memory"); \
	__val;								\
})

#define write_sysreg(reg, val) do {					\
	uint64_t __val = (uint64_t)(val);				\
	__asm__ __volatile__("msr " #reg ", %0" : : "r"(__val) : "memory"); \
} while (0)

static inline uint64_t read_mpidr(void) { return read_sysreg(mpidr_el1) & MPIDR_AFF_MASK; }

/* ---- generic timer ---- */

static inline uint64_t counter_now(void)
{
	isb();
	return read_sysreg(cntvct_el0);
}

/* CNTFRQ_EL0 in Hz; FAILs if the VMM/firmware left it at 0. */
uint64_t counter_freq(void);
/* Busy-wait helper: counter value `ms` milliseconds from now. */
uint64_t counter_deadline_ms(uint64_t ms);
static inline bool counter_passed(uint64_t deadline) { return counter_now() >= deadline; }

/* ---- UART / printing ---- */

#define UART_DEFAULT_BASE 0x01000000UL

void uart_set_16550(uintptr_t base, unsigned reg_shift);
void uart_set_pl011(uintptr_t base);	/* debug builds under QEMU virt only */
void uart_putc(char c);
int uart_getc(void);	/* the next received byte, or -1 if there is none (never waits) */
void kputs(const char *s);	/* no newline added */
void kprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
void kvprintf(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);

/* ---- PSCI ---- */

long psci_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
long psci_cpu_on(uint64_t mpidr, uintptr_t entry, uint64_t context);
/*
 * CPU_ON for cpus 1..n-1 (mpidrs[i], context i) at secondary_entry, which
 * calls secondary_handler; FAILs naming who if the firmware refuses one.
 */
void psci_start_secondaries(const uint64_t *mpidrs, int n, const char *who);
long psci_cpu_off(void);	/* returns only on failure */
/* AFFINITY_INFO of one CPU (level 0): 0 ON, 1 OFF, 2 ON_PENDING, or an error. */
long psci_affinity_info(uint64_t mpidr);
#define PSCI_AFFINITY_ON 0
#define PSCI_AFFINITY_OFF 1
#define PSCI_AFFINITY_ON_PENDING 2
NORETURN void psci_system_off(void);	/* FAILs if the call returns */
NORETURN void psci_system_reset(void);
const char *psci_strerror(long ret);

/* ---- failure / exceptions / IRQs ---- */

/* Prints "FAIL: <message>\n" and requests SYSTEM_RESET. */
NORETURN void fail(const char *fmt, ...) PRINTF_LIKE(1, 2);
NORETURN void park(void);

/* Called from the IRQ vector (+0x280); NULL means an IRQ is a failure. */
extern void (*volatile irq_handler)(void);
/* Called on a secondary CPU after its stack/VBAR are set; then CPU_OFF. */
extern void (*volatile secondary_handler)(unsigned long ctx);
/* Set by start.S when a secondary starts with an unusable context id. */
extern volatile uint64_t secondary_bad_ctx;
/* PSCI CPU_ON entry point for secondaries (physical == virtual here). */
void secondary_entry(void);

/* ---- start-up ---- */

extern struct fdt guest_fdt;	/* valid if guest_init() returned true */

/*
 * Opens the DTB and points the UART at the "ns16550a" node (fallback
 * 0x01000000).  With need_dtb, a missing/broken DTB is a FAIL; otherwise
 * it returns false and the fallback UART is used.
 */
bool guest_init(uintptr_t dtb, bool need_dtb);

/* Each guest provides this; returning from it is a FAIL. */
void guest_main(uintptr_t dtb);

/* ---- device-tree helpers built on fdt.h (return 0 or -FDT_ERR_*) ---- */

/*
 * Counts cpu / cpu@N children of /cpus; stores up to `max` reg values (the
 * MPIDR affinity) in regs (may be NULL).  *count gets the total.
 */
int dt_cpus(const struct fdt *f, uint64_t *regs, int max, int *count);
/* First reg entry of the first device_type = "memory" node. */
int dt_memory(const struct fdt *f, uint64_t *base, uint64_t *size);
/* /chosen/bootargs holds word (a whole blank-separated word). */
bool dt_bootargs_has(const struct fdt *f, const char *word);

/* ---- freestanding libc bits (the compiler may emit calls to these) ---- */

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
