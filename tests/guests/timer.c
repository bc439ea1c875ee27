/*
 * timer.bin: takes 10 EL1 virtual timer interrupts (PPI 27) through the GIC
 * described in the DTB, each acknowledged and ended at the GIC and re-armed
 * (~1 ms) from the handler.
 *
 *   timer: gic=v2|v3
 *   timer: 10 interrupts via gicv2|gicv3 ok
 */
#include "gic.h"

#define TIMER_IRQS 10
#define VTIMER_INTID 27
#define VTIMER_PRIO 0xa0
#define WAIT_MS 3000
#define MAX_SPURIOUS 1000

#define CNTV_CTL_ENABLE (1ULL << 0)
#define CNTV_CTL_IMASK (1ULL << 1)
#define CNTV_CTL_ISTATUS (1ULL << 2)

static struct gic gic;
static uint64_t ticks;
static volatile unsigned irq_count;
static volatile unsigned spurious;

static void timer_irq(void)
{
	uint32_t iar = gic_ack(&gic);
	unsigned intid = gic_iar_intid(&gic, iar);
	uint64_t ctl;

	if (gic_intid_spurious(intid)) {
		/* Nothing was acknowledged, so nothing to end. */
		if (++spurious > MAX_SPURIOUS)
			fail("timer: more than %d spurious interrupts (last IAR 0x%x)",
			     MAX_SPURIOUS, iar);
		return;
	}
	if (intid != VTIMER_INTID) {
		gic_eoi(&gic, iar);
		fail("timer: acknowledged INTID %u (IAR 0x%x), expected %d",
		     intid, iar, VTIMER_INTID);
	}

	ctl = read_sysreg(cntv_ctl_el0);
	if (!(ctl & CNTV_CTL_ISTATUS)) {
		/*
		 * The timer condition is not met (stale level seen by the
		 * GIC).  Linux tolerates this too; just end it and go on.
		 */
		gic_eoi(&gic, iar);
		if (++spurious > MAX_SPURIOUS)
			fail("timer: more than %d interrupts with CNTV_CTL.ISTATUS clear (CTL 0x%llx)",
			     MAX_SPURIOUS, (unsigned long long)ctl);
		return;
	}

	/* Drop the timer output before EOI so the PPI does not fire again at once. */
	if (irq_count + 1 < TIMER_IRQS)
		write_sysreg(cntv_tval_el0, ticks);
	else
		write_sysreg(cntv_ctl_el0, CNTV_CTL_IMASK);
	isb();
	irq_count = irq_count + 1;
	gic_eoi(&gic, iar);
}


void guest_main(uintptr_t dtb)
{
	const char *what = "";
	uint64_t deadline;
	int err;

	guest_init(dtb, true);

	err = gic_probe(&guest_fdt, &gic, &what);
	if (err < 0)
		fail("timer: interrupt controller: %s: %s", what, fdt_strerror(err));
	kprintf("timer: gic=v%d\n", gic.version);
	gic_check_vtimer_node(&guest_fdt, &gic, "timer");

	ticks = counter_freq() / 1000;	/* ~1 ms */
	if (ticks == 0)
		ticks = 1;

	write_sysreg(cntv_ctl_el0, 0);
	isb();
	gic_init(&gic);
	gic_enable_ppi(&gic, VTIMER_INTID, VTIMER_PRIO);
	irq_handler = timer_irq;

	write_sysreg(cntv_tval_el0, ticks);
	write_sysreg(cntv_ctl_el0, CNTV_CTL_ENABLE);
	isb();
	deadline = counter_deadline_ms(WAIT_MS);

	/*
	 * First interrupt: spin with IRQs unmasked rather than wfi, so that a
	 * GIC/timer setup that never delivers anything ends in FAIL, not in a
	 * vCPU sleeping forever.
	 */
	irq_enable();
	while (irq_count == 0) {
		if (counter_passed(deadline)) {
			irq_disable();
			fail("timer: no interrupt within %d ms (CNTV_CTL=0x%llx, ISR_EL1=0x%llx)",
			     WAIT_MS, (unsigned long long)read_sysreg(cntv_ctl_el0),
			     (unsigned long long)read_sysreg(isr_el1));
		}
	}

	/*
	 * The rest: wfi.  Check-then-sleep runs with IRQs masked so an
	 * interrupt arriving between the check and the wfi still wakes us
	 * (wfi wakes on a pending IRQ even when PSTATE.I is set); unmasking
	 * afterwards lets the handler run.
	 */
	for (;;) {
		irq_disable();
		if (irq_count >= TIMER_IRQS)
			break;
		if (counter_passed(deadline))
			fail("timer: only %u of %d interrupts within %d ms",
			     irq_count, TIMER_IRQS, WAIT_MS);
		wfi();
		irq_enable();
		isb();
	}

	/* IRQs are masked here; the handler already masked the timer. */
	write_sysreg(cntv_ctl_el0, CNTV_CTL_IMASK);
	isb();
	irq_handler = NULL;
	if (irq_count != TIMER_IRQS)
		fail("timer: counted %u interrupts, expected %d", irq_count, TIMER_IRQS);

	kprintf("timer: %d interrupts via gicv%d ok\n", TIMER_IRQS, gic.version);
	psci_system_off();
}
