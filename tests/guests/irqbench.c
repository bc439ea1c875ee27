/*
 * irqbench.bin: interrupt delivery cost through a GICv2 (a benchmark, not a
 * test; it still FAILs if an interrupt goes missing).
 *
 *   - timer: N EL1 virtual timer interrupts (INTID 27) taken as IRQ
 *     exceptions; the handler acknowledges, re-arms CVAL one tick ahead,
 *     ends it.
 *   - SGI round trips: CPU 0 sends SGI 1 to CPU 1 (GICD_SGIR target list),
 *     CPU 1's handler answers with SGI 2 to CPU 0.
 * Waiting CPUs sleep in wfi (wait=wfi, the default: what an idle guest does,
 * so the figures include waking the vCPU), or with irqbench.wait=spin spin
 * with IRQs unmasked.  Every wfi wait is bounded by the EL1 physical timer
 * (INTID 30) armed as a watchdog: if it fires, the guest FAILs.
 * Times come from CNTVCT_EL0 / CNTFRQ_EL0.  N is irqbench.n=<N> from
 * /chosen/bootargs (1..1000000), default 2000.
 *
 *   irqbench: n=N cpus=C wait=wfi|spin
 *   irqbench: timer irqs=N ns_per_irq=X
 *   irqbench: sgi roundtrips=N ns_per_roundtrip=Y
 *     (or "irqbench: sgi skipped (1 cpu)" when the VM has one vCPU)
 */
#include "gic.h"

#define DEFAULT_N 2000
#define MAX_N 1000000
#define VTIMER_INTID 27
#define PTIMER_INTID 30	/* EL1 physical timer: the watchdog */
#define SGI_PING 1
#define SGI_PONG 2
#define SGI_STOP 3	/* wakes CPU 1 at the end */
#define PRIO 0xa0

#define CNT_CTL_ENABLE (1ULL << 0)	/* CNTV_CTL_EL0 and CNTP_CTL_EL0 */
#define CNT_CTL_IMASK (1ULL << 1)

static struct gic gic;
static uint32_t n = DEFAULT_N;
static uint8_t mask0, mask1;
static volatile uint32_t timer_irqs, pings, pongs, spurious;
static volatile uint64_t timer_last;
static volatile uint32_t cpu1_ready, bench_done, cpu1_done;
static bool use_wfi = true;

static void bench_irq(void)
{
	uint32_t iar = gicv2_read_iar(&gic);
	unsigned intid = GICV2_IAR_INTID(iar);
	uint32_t t;

	if (gic_intid_spurious(intid)) {
		if (++spurious > n + 1000)
			fail("irqbench: more than %u spurious interrupts", n + 1000);
		return;
	}
	switch (intid) {
	case PTIMER_INTID:
		write_sysreg(cntp_ctl_el0, CNT_CTL_IMASK);
		isb();
		gicv2_write_eoir(&gic, iar);
		fail("irqbench: watchdog on cpu 0x%llx: %u of %u timer interrupts, %u of %u SGI round trips (%u pings seen)",
		     (unsigned long long)read_mpidr(), timer_irqs, n, pongs, n, pings);
	case VTIMER_INTID:
		t = timer_irqs + 1;
		if (t < n)
			write_sysreg(cntv_cval_el0, read_sysreg(cntvct_el0) + 1);
		else
			write_sysreg(cntv_ctl_el0, CNT_CTL_IMASK);
		isb();
		timer_last = counter_now();
		timer_irqs = t;
		break;
	case SGI_PING:
		pings = pings + 1;
		gicv2_send_sgi(&gic, GICD_SGIR_LIST, mask0, SGI_PONG);
		break;
	case SGI_PONG:
		pongs = pongs + 1;
		break;
	case SGI_STOP:
		break;
	default:
		gicv2_write_eoir(&gic, iar);
		fail("irqbench: unexpected IAR 0x%x on cpu 0x%llx", iar, (unsigned long long)read_mpidr());
	}
	gicv2_write_eoir(&gic, iar);
}

static uint64_t ticks_to_ns(uint64_t ticks)
{
	uint64_t f = counter_freq();

	return ticks / f * 1000000000ULL + ticks % f * 1000000000ULL / f;
}

static bool word_is(const char *p, const char *w)
{
	while (*w && *p == *w) {
		p++;
		w++;
	}
	return !*w && (!*p || *p == ' ');
}

static void parse_bootargs(void)
{
	const char *p;
	uint64_t v = 0;
	size_t i;

	p = dt_bootarg(&guest_fdt, "irqbench.n=");
	if (p) {
		for (i = 0; p[i] >= '0' && p[i] <= '9' && v <= MAX_N; i++)
			v = v * 10 + (uint64_t)(p[i] - '0');
		if (i == 0 || (p[i] && p[i] != ' ') || v < 1 || v > MAX_N)
			fail("irqbench: irqbench.n= takes a number from 1 to %d", MAX_N);
		n = (uint32_t)v;
	}
	p = dt_bootarg(&guest_fdt, "irqbench.wait=");
	if (p) {
		if (word_is(p, "spin"))
			use_wfi = false;
		else if (!word_is(p, "wfi"))
			fail("irqbench: irqbench.wait= takes wfi or spin");
	}
}

/*
 * Waits with IRQs unmasked until *what >= want or the deadline.  wfi mode:
 * the check runs with IRQs masked so an interrupt between it and the wfi
 * still wakes the wfi; the caller must have a wake-up armed for the deadline.
 */
static bool wait_for(volatile uint32_t *what, uint32_t want, uint64_t deadline)
{
	if (!use_wfi) {
		irq_enable();
		while (*what < want)
			if (counter_passed(deadline)) {
				irq_disable();
				return false;
			}
		irq_disable();
		return true;
	}
	for (;;) {
		irq_disable();
		if (*what >= want)
			return true;
		if (counter_passed(deadline))
			return false;
		wfi();
		irq_enable();
		isb();
	}
}

/*
 * wfi mode: this CPU's EL1 physical timer fires shortly after `deadline`
 * (virtual counter) and the handler FAILs.  CNTPCT - CNTVCT converts.
 */
static void arm_watchdog(uint64_t deadline)
{
	uint64_t off;

	if (!use_wfi)
		return;
	isb();
	off = read_sysreg(cntpct_el0) - read_sysreg(cntvct_el0);
	gicv2_set_priority(&gic, PTIMER_INTID, PRIO);
	gicv2_enable(&gic, PTIMER_INTID);
	write_sysreg(cntp_cval_el0, deadline + off + counter_freq() / 10);
	write_sysreg(cntp_ctl_el0, CNT_CTL_ENABLE);
	isb();
}

static void disarm_watchdog(void)
{
	write_sysreg(cntp_ctl_el0, CNT_CTL_IMASK);
	isb();
}

static void cpu1_main(unsigned long ctx)
{
	uint64_t deadline;

	(void)ctx;
	gicv2_cpu_enable(&gic, 0xf0);
	mask1 = gicv2_cpu_mask(&gic);
	gicv2_set_priority(&gic, SGI_PING, PRIO);
	gicv2_enable(&gic, SGI_PING);
	gicv2_set_priority(&gic, SGI_STOP, PRIO);
	gicv2_enable(&gic, SGI_STOP);
	deadline = counter_deadline_ms(60000 + (uint64_t)n * 10);
	arm_watchdog(deadline);
	dsb_sy();
	cpu1_ready = 1;
	/* CPU 0 stops us with bench_done; the deadline only bounds a lost CPU 0. */
	if (!wait_for(&bench_done, 1, deadline))
		fail("irqbench: cpu 1 still waiting for the end after %llu ms",
		     (unsigned long long)(60000 + (uint64_t)n * 10));
	disarm_watchdog();
	cpu1_done = 1;
	dsb_sy();
}

void guest_main(uintptr_t dtb)
{
	uint64_t t0, t1, deadline, regs[2];
	uint32_t i;
	int ncpus, err;

	guest_init(dtb, true);
	gicv2_test_probe(&gic, "irqbench");
	parse_bootargs();
	err = dt_cpus(&guest_fdt, regs, 2, &ncpus);
	if (err < 0 || ncpus < 1)
		fail("irqbench: cannot read /cpus: %s", fdt_strerror(err));
	kprintf("irqbench: n=%u cpus=%d wait=%s\n", n, ncpus, use_wfi ? "wfi" : "spin");

	write_sysreg(cntv_ctl_el0, 0);
	write_sysreg(cntp_ctl_el0, 0);
	isb();
	gicv2_dist_enable(&gic);
	gicv2_cpu_enable(&gic, 0xf0);
	mask0 = gicv2_cpu_mask(&gic);
	gicv2_set_priority(&gic, VTIMER_INTID, PRIO);
	gicv2_enable(&gic, VTIMER_INTID);
	gicv2_set_priority(&gic, SGI_PONG, PRIO);
	gicv2_enable(&gic, SGI_PONG);
	irq_handler = bench_irq;

	/* Timer interrupts, back to back. */
	deadline = counter_deadline_ms(10000 + (uint64_t)n * 5);
	arm_watchdog(deadline);
	t0 = counter_now();
	write_sysreg(cntv_cval_el0, t0 + 1);
	write_sysreg(cntv_ctl_el0, CNT_CTL_ENABLE);
	isb();
	if (!wait_for(&timer_irqs, n, deadline))
		fail("irqbench: %u of %u timer interrupts before the deadline", timer_irqs, n);
	disarm_watchdog();
	t1 = timer_last;
	write_sysreg(cntv_ctl_el0, CNT_CTL_IMASK);
	isb();
	kprintf("irqbench: timer irqs=%u ns_per_irq=%llu\n", n,
		(unsigned long long)(ticks_to_ns(t1 - t0) / n));

	if (ncpus < 2) {
		kprintf("irqbench: sgi skipped (1 cpu)\n");
		psci_system_off();
	}

	/* SGI round trips with CPU 1. */
	secondary_handler = cpu1_main;
	psci_start_secondaries(regs, 2, "irqbench");
	deadline = counter_deadline_ms(10000);
	while (!cpu1_ready)
		if (counter_passed(deadline))
			fail("irqbench: cpu 1 not ready within 10 s");
	deadline = counter_deadline_ms(10000 + (uint64_t)n * 10);
	arm_watchdog(deadline);
	t0 = counter_now();
	for (i = 0; i < n; i++) {
		gicv2_send_sgi(&gic, GICD_SGIR_LIST, mask1, SGI_PING);
		if (!wait_for(&pongs, i + 1, deadline))
			fail("irqbench: %u of %u SGI round trips before the deadline (cpu 1 saw %u pings)",
			     pongs, n, pings);
	}
	t1 = counter_now();
	disarm_watchdog();
	bench_done = 1;
	gicv2_send_sgi(&gic, GICD_SGIR_LIST, mask1, SGI_STOP);
	if (pongs != n || pings != n)
		fail("irqbench: %u pings and %u pongs for %u round trips", pings, pongs, n);
	kprintf("irqbench: sgi roundtrips=%u ns_per_roundtrip=%llu\n", n,
		(unsigned long long)(ticks_to_ns(t1 - t0) / n));

	deadline = counter_deadline_ms(5000);
	while (!cpu1_done)
		if (counter_passed(deadline))
			fail("irqbench: cpu 1 did not stop");
	psci_system_off();
}
