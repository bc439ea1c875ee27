/*
 * pmu.bin (--pmu; any GIC, one CPU): the vCPU's PMUv3 as the DTB describes
 * it, before and after a point where the VM may be snapshotted and restored.
 *
 *   pmu: gic=vN pmuver=0x<v> counters=<N> pmceid0=0x<bits>
 *   pmu: dtb ok (arm,armv8-pmuv3, PPI 7)
 *   pmu: cycles ok delta=<D>			PMCCNTR_EL0 counts
 *   pmu: instructions ok count=<C> expected=<E>	an event counter counts INST_RETIRED
 *     (or, where the host's PMU has no INST_RETIRED, PMCEID0_EL0 bit 8 clear:
 *      "pmu: instructions not counted: ...", a FAIL with pmu.inst=required
 *      in the command line)
 *   pmu: overflow irq ok (sw_incr)		counter 1 (SW_INCR) wraps: PPI 23 (INTID 23)
 *   pmu: overflow irq ok (cycles)		the 64-bit cycle counter wraps: PPI 23
 *   pmu: ready cycles=<X>			(waits for 'g' on the UART)
 *   pmu: state ok after g			PMCR, enables, event types read back; counter 2 still 5
 *   pmu: counting ok after g			the cycle counter and counter 0 went on from where they were
 *   pmu: overflow irq ok (after g)		counter 1 (left at 0xfffffffe) wraps on two SW_INCRs
 *   pmu: all ok
 *
 * Interrupts are taken as IRQ exceptions; each wait is bounded (2 s, 600 s
 * for 'g'). Counter 0 counts CPU cycles (event 0x11) across the snapshot
 * point when INST_RETIRED is not implemented.
 */
#include "gic.h"

#define PMU_INTID 23
#define PMU_PRIO 0xa0
#define WAIT_MS 2000
#define WAIT_G_MS 600000
#define LOOPS 100000ULL		/* two instructions each */

#define PMCR_E (1ULL << 0)
#define PMCR_P (1ULL << 1)
#define PMCR_C (1ULL << 2)
#define PMCR_LC (1ULL << 6)
#define PMCR_N(v) (((v) >> 11) & 0x1f)
#define CYCLE_BIT (1ULL << 31)
#define EV_SW_INCR 0x00
#define EV_INST_RETIRED 0x08
#define EV_CPU_CYCLES 0x11

static struct gic gic;
static volatile uint64_t overflows;	/* PMOVSSET bits seen by the handler */
static volatile unsigned pmu_irqs;

static void pmu_irq(void)
{
	uint32_t iar = gic_ack(&gic);
	unsigned intid = gic_iar_intid(&gic, iar);
	uint64_t ovs;

	if (gic_intid_spurious(intid))
		return;
	if (intid != PMU_INTID) {
		gic_eoi(&gic, iar);
		fail("pmu: took INTID %u, expected the PMU's %d", intid, PMU_INTID);
	}
	ovs = read_sysreg(pmovsset_el0);
	if (!ovs)
		fail("pmu: PMU interrupt with no overflow flag set");
	write_sysreg(pmovsclr_el0, ovs);	/* the level falls with the flags */
	isb();
	overflows = overflows | ovs;
	pmu_irqs = pmu_irqs + 1;
	gic_eoi(&gic, iar);
}

static void spin(uint64_t n)
{
	__asm__ __volatile__("1: subs %0, %0, #1\n\tb.ne 1b" : "+r"(n) : : "cc");
}

static void set_evtype(unsigned n, uint64_t v)
{
	write_sysreg(pmselr_el0, n);
	isb();
	write_sysreg(pmxevtyper_el0, v);
	isb();
}

static uint64_t get_evtype(unsigned n)
{
	write_sysreg(pmselr_el0, n);
	isb();
	return read_sysreg(pmxevtyper_el0);
}

static void set_evcntr(unsigned n, uint64_t v)
{
	write_sysreg(pmselr_el0, n);
	isb();
	write_sysreg(pmxevcntr_el0, v);
	isb();
}

static uint64_t get_evcntr(unsigned n)
{
	write_sysreg(pmselr_el0, n);
	isb();
	return read_sysreg(pmxevcntr_el0);
}

/* Wait (IRQs unmasked, bounded) for the overflow flag `bit` to have come through the PMU interrupt. */
static void expect_overflow(uint64_t bit, const char *what)
{
	uint64_t deadline = counter_deadline_ms(WAIT_MS);

	irq_enable();
	while (!(overflows & bit)) {
		if (counter_passed(deadline)) {
			irq_disable();
			fail("pmu: %s: no overflow interrupt within %d ms (PMOVSSET 0x%llx, PMINTENSET 0x%llx, ISR_EL1 0x%llx)",
			     what, WAIT_MS, (unsigned long long)read_sysreg(pmovsset_el0),
			     (unsigned long long)read_sysreg(pmintenset_el1), (unsigned long long)read_sysreg(isr_el1));
		}
	}
	irq_disable();
	overflows = overflows & ~bit;
	kprintf("pmu: overflow irq ok (%s)\n", what);
}

/* The DTB's PMU node: arm,armv8-pmuv3 with interrupts = <1 7 flags> (a PPI, number 7 = INTID 23). */
static void check_dtb(void)
{
	int node = fdt_find_compatible(&guest_fdt, -1, "arm,armv8-pmuv3");
	const void *irq;
	uint32_t len;

	if (node < 0)
		fail("pmu: no arm,armv8-pmuv3 node in the DTB (%s)", fdt_strerror(node));
	if (fdt_getprop(&guest_fdt, node, "interrupts", &irq, &len) < 0 || len != 12)
		fail("pmu: the PMU node has no 3-cell interrupts property");
	if (fdt_be32(irq) != 1 || fdt_be32((const uint8_t *)irq + 4) != PMU_INTID - 16)
		fail("pmu: the PMU node's interrupt is <%u %u ...>, expected <1 %d ...> (PPI %d)", fdt_be32(irq),
		     fdt_be32((const uint8_t *)irq + 4), PMU_INTID - 16, PMU_INTID - 16);
	kprintf("pmu: dtb ok (arm,armv8-pmuv3, PPI %d)\n", PMU_INTID - 16);
}

void guest_main(uintptr_t dtb)
{
	uint64_t dfr0, pmcr, c0, c1, pmceid0, ev0, want_pmcr, want_en, want_int, saved_cyc, saved_ev0;
	const char *what = "";
	bool inst;
	unsigned ver, n;
	int err;

	guest_init(dtb, true);
	err = gic_probe(&guest_fdt, &gic, &what);
	if (err < 0)
		fail("pmu: interrupt controller: %s: %s", what, fdt_strerror(err));
	dfr0 = read_sysreg(id_aa64dfr0_el1);
	ver = (unsigned)((dfr0 >> 8) & 0xf);
	/* Without a PMU its registers are UNDEFINED: look at the ID register first. */
	if (ver == 0 || ver == 0xf)
		fail("pmu: ID_AA64DFR0_EL1.PMUVer is 0x%x: no PMUv3 (was the VM started with --pmu?)", ver);
	pmcr = read_sysreg(pmcr_el0);
	n = (unsigned)PMCR_N(pmcr);
	pmceid0 = read_sysreg(pmceid0_el0);
	kprintf("pmu: gic=v%d pmuver=0x%x counters=%u pmceid0=0x%llx\n", gic.version, ver, n,
		(unsigned long long)pmceid0);
	if (n < 3)
		fail("pmu: PMCR_EL0.N is %u: this guest needs 3 event counters", n);
	check_dtb();

	gic_init(&gic);
	gic_enable_ppi(&gic, PMU_INTID, PMU_PRIO);
	irq_handler = pmu_irq;
	event_stream_enable();

	/* The cycle counter, counting at EL1 and EL0 (PMCCFILTR_EL0 0). */
	write_sysreg(pmcntenclr_el0, ~0ULL);
	write_sysreg(pmintenclr_el1, ~0ULL);
	write_sysreg(pmovsclr_el0, ~0ULL);
	write_sysreg(pmccfiltr_el0, 0);
	write_sysreg(pmcr_el0, PMCR_E | PMCR_LC | PMCR_C | PMCR_P);
	write_sysreg(pmcntenset_el0, CYCLE_BIT);
	isb();
	c0 = read_sysreg(pmccntr_el0);
	spin(LOOPS);
	isb();
	c1 = read_sysreg(pmccntr_el0);
	if (c1 <= c0)
		fail("pmu: the cycle counter did not count: 0x%llx then 0x%llx", (unsigned long long)c0,
		     (unsigned long long)c1);
	kprintf("pmu: cycles ok delta=%llu\n", (unsigned long long)(c1 - c0));

	/* Counter 0: instructions retired, if this PMU has the event. */
	inst = pmceid0 & (1ULL << EV_INST_RETIRED);
	if (inst) {
		set_evtype(0, EV_INST_RETIRED);
		set_evcntr(0, 0);
		write_sysreg(pmcntenset_el0, 1ULL << 0);
		isb();
		spin(LOOPS);
		isb();
		write_sysreg(pmcntenclr_el0, 1ULL << 0);
		isb();
		ev0 = get_evcntr(0);
		/* The loop's 2 * LOOPS instructions, plus the few around it; not a hundred times that. */
		if (ev0 < 2 * LOOPS || ev0 > 3 * LOOPS)
			fail("pmu: INST_RETIRED counted %llu for a loop of %llu instructions", (unsigned long long)ev0,
			     (unsigned long long)(2 * LOOPS));
		kprintf("pmu: instructions ok count=%llu expected=%llu\n", (unsigned long long)ev0,
			(unsigned long long)(2 * LOOPS));
	} else if (dt_bootargs_has(&guest_fdt, "pmu.inst=required")) {
		fail("pmu: INST_RETIRED (event 0x08) is not implemented (PMCEID0_EL0 0x%llx) but pmu.inst=required",
		     (unsigned long long)pmceid0);
	} else {
		kprintf("pmu: instructions not counted: INST_RETIRED not implemented by this host's PMU (PMCEID0_EL0 0x%llx)\n",
			(unsigned long long)pmceid0);
	}

	/* Overflow through KVM's own emulation: SW_INCR on counter 1 from 0xffffffff. */
	set_evtype(1, EV_SW_INCR);
	set_evcntr(1, 0xffffffffULL);
	write_sysreg(pmintenset_el1, 1ULL << 1);
	write_sysreg(pmcntenset_el0, 1ULL << 1);
	isb();
	write_sysreg(pmswinc_el0, 1ULL << 1);
	isb();
	expect_overflow(1ULL << 1, "sw_incr");
	if (get_evcntr(1) != 0)
		fail("pmu: counter 1 is 0x%llx after wrapping, expected 0", (unsigned long long)get_evcntr(1));

	/* Overflow through a host perf event: the 64-bit cycle counter a million cycles before it wraps. */
	write_sysreg(pmcntenclr_el0, CYCLE_BIT);
	isb();
	write_sysreg(pmccntr_el0, -(1ULL << 20));
	write_sysreg(pmintenset_el1, CYCLE_BIT);
	write_sysreg(pmcntenset_el0, CYCLE_BIT);
	isb();
	expect_overflow(CYCLE_BIT, "cycles");
	write_sysreg(pmintenclr_el1, CYCLE_BIT);

	/*
	 * The state the snapshot must keep: the cycle counter and counter 0
	 * (INST_RETIRED, or CPU_CYCLES) running, counter 2 at 5 (five SW_INCRs),
	 * counter 1 at 0xfffffffe with its interrupt enabled.
	 */
	set_evtype(0, inst ? EV_INST_RETIRED : EV_CPU_CYCLES);
	set_evcntr(0, 0);
	set_evtype(2, EV_SW_INCR);
	set_evcntr(2, 0);
	set_evcntr(1, 0xfffffffeULL);
	write_sysreg(pmcntenset_el0, (1ULL << 0) | (1ULL << 2));
	isb();
	for (int i = 0; i < 5; i++)
		write_sysreg(pmswinc_el0, 1ULL << 2);
	isb();
	spin(LOOPS);
	want_pmcr = read_sysreg(pmcr_el0) & (PMCR_E | PMCR_LC);
	want_en = read_sysreg(pmcntenset_el0);
	want_int = read_sysreg(pmintenset_el1);
	saved_cyc = read_sysreg(pmccntr_el0);
	saved_ev0 = get_evcntr(0);
	kprintf("pmu: ready cycles=%llu\n", (unsigned long long)saved_cyc);

	wait_for_go("pmu", WAIT_G_MS / 1000);
	if ((read_sysreg(pmcr_el0) & (PMCR_E | PMCR_LC)) != want_pmcr || read_sysreg(pmcntenset_el0) != want_en ||
	    read_sysreg(pmintenset_el1) != want_int)
		fail("pmu: after 'g': PMCR_EL0 0x%llx, PMCNTENSET 0x%llx, PMINTENSET 0x%llx; before 0x%llx, 0x%llx, 0x%llx",
		     (unsigned long long)read_sysreg(pmcr_el0), (unsigned long long)read_sysreg(pmcntenset_el0),
		     (unsigned long long)read_sysreg(pmintenset_el1), (unsigned long long)want_pmcr,
		     (unsigned long long)want_en, (unsigned long long)want_int);
	if ((get_evtype(0) & 0xffff) != (inst ? EV_INST_RETIRED : EV_CPU_CYCLES) || (get_evtype(1) & 0xffff) != EV_SW_INCR ||
	    (get_evtype(2) & 0xffff) != EV_SW_INCR)
		fail("pmu: after 'g': event types 0x%llx 0x%llx 0x%llx", (unsigned long long)get_evtype(0),
		     (unsigned long long)get_evtype(1), (unsigned long long)get_evtype(2));
	if (get_evcntr(2) != 5 || get_evcntr(1) != 0xfffffffeULL)
		fail("pmu: after 'g': counter 2 is %llu (expected 5), counter 1 0x%llx (expected 0xfffffffe)",
		     (unsigned long long)get_evcntr(2), (unsigned long long)get_evcntr(1));
	kprintf("pmu: state ok after g\n");

	c0 = read_sysreg(pmccntr_el0);
	ev0 = get_evcntr(0);
	if (c0 < saved_cyc || ev0 < saved_ev0)
		fail("pmu: after 'g' the counters went back: cycles %llu -> %llu, counter 0 %llu -> %llu",
		     (unsigned long long)saved_cyc, (unsigned long long)c0, (unsigned long long)saved_ev0,
		     (unsigned long long)ev0);
	spin(LOOPS);
	isb();
	if (read_sysreg(pmccntr_el0) <= c0 || get_evcntr(0) <= ev0)
		fail("pmu: after 'g' the counters stand still (cycles %llu, counter 0 %llu)", (unsigned long long)c0,
		     (unsigned long long)ev0);
	kprintf("pmu: counting ok after g\n");
	write_sysreg(pmswinc_el0, 1ULL << 1);
	write_sysreg(pmswinc_el0, 1ULL << 1);
	isb();
	expect_overflow(1ULL << 1, "after g");
	write_sysreg(pmcr_el0, 0);
	isb();
	kprintf("pmu: all ok\n");
	psci_system_off();
}
