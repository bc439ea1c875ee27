/*
 * level.bin: the EL1 virtual timer's PPI (INTID 27) is level-sensitive: the
 * GIC must deliver it again as long as the timer output stays high, and not
 * once it is low.  One CPU, interrupts masked at PSTATE, GICC_IAR polled.
 *
 *   level: icfgr ok      GICD_ICFGR1 shows INTID 27 as level-sensitive
 *   level: reassert ok   CVAL in the past, ENABLE: INTID 27 comes; acknowledged
 *                        and ended 5 times without touching the timer, it comes
 *                        back every time (active while acknowledged)
 *   level: masked ok     CNTV_CTL.IMASK set before the EOI: nothing more, and
 *                        INTID 27 is neither pending nor active
 *   level: unmask ok     IMASK cleared again (condition still met): it comes
 *   level: rearm ok      CVAL moved 100 ms ahead before the EOI: quiet until
 *                        then, delivered after CVAL
 *   level: all ok
 */
#include "gic.h"

#define VTIMER_INTID 27
#define PRIO 0xa0
#define REASSERTS 5
#define WAIT_MS 1000
#define QUIET_MS 100
#define REARM_MS 100

#define CNTV_CTL_ENABLE (1ULL << 0)
#define CNTV_CTL_IMASK (1ULL << 1)
#define CNTV_CTL_ISTATUS (1ULL << 2)

static struct gic gic;


static uint64_t ctl(void) { return read_sysreg(cntv_ctl_el0); }

static void set_ctl(uint64_t v)
{
	write_sysreg(cntv_ctl_el0, v);
	isb();
}

static void set_cval(uint64_t v)
{
	write_sysreg(cntv_cval_el0, v);
	isb();
}

static uint32_t ack(const char *what)
{
	return gicv2_expect_iar(&gic, VTIMER_INTID, WAIT_MS, what);
}

static void expect_state(bool want_pending, bool want_active, const char *what)
{
	bool p = gicv2_bit(&gic, GICD_ISPENDR, VTIMER_INTID);
	bool a = gicv2_bit(&gic, GICD_ISACTIVER, VTIMER_INTID);

	if (p != want_pending || a != want_active)
		fail("level: %s: INTID 27 is pending=%d active=%d, expected pending=%d active=%d "
		     "(CNTV_CTL 0x%llx)", what, p, a, want_pending, want_active,
		     (unsigned long long)ctl());
}

void guest_main(uintptr_t dtb)
{
	uint64_t cval, now, t;
	uint32_t icfgr, iar;
	int i;

	guest_init(dtb, true);
	gicv2_test_probe(&gic, "level");
	gic_check_vtimer_node(&guest_fdt, &gic, "level");

	set_ctl(0);
	gicv2_dist_enable(&gic);
	gicv2_cpu_enable(&gic, 0xf0);
	gicv2_set_priority(&gic, VTIMER_INTID, PRIO);
	gicv2_enable(&gic, VTIMER_INTID);
	if (gicv2_get_priority(&gic, VTIMER_INTID) != PRIO || !gicv2_bit(&gic, GICD_ISENABLER, VTIMER_INTID))
		fail("level: INTID 27 priority/enable do not read back");
	gicv2_expect_quiet(&gic, 10, "level: timer disabled");

	/* Int_config[1] of INTID 27 (GICD_ICFGR1 bit 23): 0 = level-sensitive. */
	icfgr = mmio_read32(gic.dist + GICD_ICFGR + 4);
	if (icfgr & (2U << (2 * (VTIMER_INTID % 16))))
		fail("level: GICD_ICFGR1 is 0x%x: INTID 27 configured edge-triggered", icfgr);
	kprintf("level: icfgr ok\n");

	/* Timer condition met, output unmasked: the line is high. */
	set_cval(counter_now());
	set_ctl(CNTV_CTL_ENABLE);
	if (!(ctl() & CNTV_CTL_ISTATUS))
		fail("level: CNTV_CTL.ISTATUS clear with CVAL in the past (CTL 0x%llx)",
		     (unsigned long long)ctl());
	for (i = 0; i < REASSERTS; i++) {
		ack(i ? "level: INTID 27 again after EOI, timer untouched" : "level: first INTID 27");
		if (!(ctl() & CNTV_CTL_ISTATUS))
			fail("level: CNTV_CTL.ISTATUS clear after delivery %d", i + 1);
		if (i == 0 && !gicv2_bit(&gic, GICD_ISACTIVER, VTIMER_INTID))
			fail("level: INTID 27 not active in GICD_ISACTIVER0 after acknowledge (0x%x)",
			     mmio_read32(gic.dist + GICD_ISACTIVER));
		gicv2_write_eoir(&gic, VTIMER_INTID);
	}
	kprintf("level: reassert ok\n");

	/* Mask the timer output, then EOI: the line is low, nothing comes back. */
	ack("level: INTID 27 before masking");
	set_ctl(CNTV_CTL_ENABLE | CNTV_CTL_IMASK);
	gicv2_write_eoir(&gic, VTIMER_INTID);
	gicv2_expect_quiet(&gic, QUIET_MS, "level: timer output masked (CNTV_CTL.IMASK) before EOI");
	expect_state(false, false, "timer output masked");
	if (!gicv2_rpr_idle(gicv2_rpr(&gic), gicv2_priority_mask(&gic)))
		fail("level: GICC_RPR is 0x%x with nothing active", gicv2_rpr(&gic));
	kprintf("level: masked ok\n");

	/* Unmask: the condition still holds, so the line goes high again. */
	set_ctl(CNTV_CTL_ENABLE);
	ack("level: INTID 27 after clearing CNTV_CTL.IMASK");
	kprintf("level: unmask ok\n");

	/* Re-arm for the future before the EOI: quiet until CVAL, then delivered. */
	cval = counter_now() + counter_freq() * REARM_MS / 1000;
	set_cval(cval);
	if (ctl() & CNTV_CTL_ISTATUS)
		fail("level: CNTV_CTL.ISTATUS set with CVAL in the future");
	gicv2_write_eoir(&gic, VTIMER_INTID);
	/*
	 * Quiet until CVAL. Each observation is judged by the counter read after
	 * it: a GIC access is an exit to the VMM and may take milliseconds on a
	 * loaded host, so an interrupt seen after CVAL has passed is not early.
	 */
	expect_state(false, false, "timer re-armed, CVAL not reached");
	if (counter_now() >= cval)
		fail("level: the re-armed check took over %d ms: the host is too slow to tell early from on time",
		     REARM_MS);
	t = cval - counter_freq() / 500;	/* until 2 ms before CVAL */
	iar = 1023;
	while (counter_now() < t) {
		iar = gicv2_read_iar(&gic);
		now = counter_now();
		if (gic_intid_spurious(GICV2_IAR_INTID(iar)))
			continue;
		if (GICV2_IAR_INTID(iar) != VTIMER_INTID)
			fail("level: IAR gave 0x%x while waiting for the re-armed CVAL", iar);
		if (now < cval)
			fail("level: IAR gave 0x%x %llu us before the re-armed CVAL", iar,
			     (unsigned long long)((cval - now) * 1000000 / counter_freq()));
		break; /* acknowledged on time, by a slow access that ended after CVAL */
	}
	if (gic_intid_spurious(GICV2_IAR_INTID(iar)))
		ack("level: INTID 27 at the re-armed CVAL");
	now = counter_now();
	if (now < cval)
		fail("level: INTID 27 acknowledged %llu ticks before CVAL", (unsigned long long)(cval - now));
	if (!(ctl() & CNTV_CTL_ISTATUS))
		fail("level: CNTV_CTL.ISTATUS clear at the re-armed interrupt");
	set_ctl(CNTV_CTL_IMASK);
	gicv2_write_eoir(&gic, VTIMER_INTID);
	gicv2_expect_quiet(&gic, QUIET_MS, "level: timer disabled at the end");
	kprintf("level: rearm ok\n");

	kprintf("level: all ok\n");
	psci_system_off();
}
