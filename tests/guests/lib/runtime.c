/*
 * C side of start-up, failure reporting, exception/IRQ dispatch and the
 * freestanding libc bits of the test guests.
 */
#include "guest.h"

/* Entry points used from start.S (no prototypes elsewhere). */
NORETURN void guest_c_entry(uintptr_t dtb);
NORETURN void secondary_c_entry(unsigned long ctx);
NORETURN void exception_fail(uint64_t vector, uint64_t esr, uint64_t elr,
			     uint64_t far, uint64_t spsr);
void irq_dispatch(void);

struct fdt guest_fdt;
void (*volatile irq_handler)(void);
void (*volatile secondary_handler)(unsigned long ctx);
volatile uint64_t secondary_bad_ctx;

static volatile int in_exception;

void park(void)
{
	irq_disable();
	for (;;)
		wfi();
}

void fail(const char *fmt, ...)
{
	va_list ap;

	irq_disable();
	kputs("FAIL: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kputs("\n");
	psci_system_reset();
}

static const char *vector_name(uint64_t vector)
{
	static const char *const kind[4] = { "sync", "IRQ", "FIQ", "SError" };

	return kind[(vector >> 7) & 3];
}

static const char *vector_origin(uint64_t vector)
{
	static const char *const from[4] = {
		"current EL/SP0", "current EL/SPx", "lower EL/AArch64", "lower EL/AArch32"
	};

	return from[(vector >> 9) & 3];
}

void exception_fail(uint64_t vector, uint64_t esr, uint64_t elr, uint64_t far, uint64_t spsr)
{
	if (in_exception) {
		/* Faulted while reporting a fault: just get out. */
		psci_call(PSCI_SYSTEM_RESET, 0, 0, 0);
		park();
	}
	in_exception = 1;
	fail("exception ESR=0x%llx ELR=0x%llx FAR=0x%llx SPSR=0x%llx vector=0x%llx (%s, %s) EC=0x%llx cpu=0x%llx",
	     (unsigned long long)esr, (unsigned long long)elr, (unsigned long long)far,
	     (unsigned long long)spsr, (unsigned long long)vector, vector_name(vector),
	     vector_origin(vector), (unsigned long long)((esr >> 26) & 0x3f),
	     (unsigned long long)read_mpidr());
}

void irq_dispatch(void)
{
	void (*handler)(void) = irq_handler;

	if (!handler)
		fail("unexpected IRQ (no handler installed)");
	handler();
}

void guest_c_entry(uintptr_t dtb)
{
	guest_main(dtb);
	fail("guest_main returned");
}

void secondary_c_entry(unsigned long ctx)
{
	void (*handler)(unsigned long) = secondary_handler;
	long ret;

	if (handler)
		handler(ctx);
	ret = psci_cpu_off();
	fail("cpu 0x%llx: PSCI CPU_OFF returned %ld (%s)",
	     (unsigned long long)read_mpidr(), ret, psci_strerror(ret));
}

uint64_t counter_freq(void)
{
	uint64_t freq = read_sysreg(cntfrq_el0) & 0xffffffffULL;

	if (freq == 0)
		fail("CNTFRQ_EL0 is 0, cannot time anything");
	return freq;
}

uint64_t counter_deadline_ms(uint64_t ms)
{
	return counter_now() + counter_freq() * ms / 1000;
}

bool guest_init(uintptr_t dtb, bool need_dtb)
{
	uint64_t base, size;
	uint32_t shift = 0;
	int node, err;

	uart_set_16550(UART_DEFAULT_BASE, 0);

	err = fdt_open(&guest_fdt, dtb);
	if (err < 0) {
		if (need_dtb)
			fail("dtb: cannot use DTB at 0x%llx: %s",
			     (unsigned long long)dtb, fdt_strerror(err));
		return false;
	}

	node = fdt_find_compatible(&guest_fdt, -1, "ns16550a");
	if (node >= 0) {
		err = fdt_get_reg(&guest_fdt, node, 0, &base, &size);
		if (err < 0)
			fail("dtb: ns16550a node has no usable reg: %s", fdt_strerror(err));
		err = fdt_getprop_u32(&guest_fdt, node, "reg-shift", &shift);
		if (err == -FDT_ERR_NOTFOUND)
			shift = 0;
		else if (err < 0 || shift > 4)
			fail("dtb: ns16550a node has a bad reg-shift");
		uart_set_16550((uintptr_t)base, shift);
	} else if (node != -FDT_ERR_NOTFOUND) {
		fail("dtb: error looking for the ns16550a node: %s", fdt_strerror(node));
	}
#ifdef GUEST_QEMU_VIRT
	else {
		/* Debug aid only: QEMU's virt machine has a PL011, no 16550. */
		node = fdt_find_compatible(&guest_fdt, -1, "arm,pl011");
		if (node >= 0 && fdt_get_reg(&guest_fdt, node, 0, &base, &size) == 0)
			uart_set_pl011((uintptr_t)base);
	}
#endif
	return true;
}

/* ---- freestanding libc: plain byte loops (nothing clever on Device memory) ---- */

void *memset(void *s, int c, size_t n)
{
	unsigned char *p = s;

	while (n--)
		*p++ = (unsigned char)c;
	return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}
