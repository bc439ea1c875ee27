/*
 * active.bin: the GICv2 active state, priority drop and deactivation, on
 * one CPU with interrupts masked at PSTATE and GICC_IAR polled.
 *
 * Sources: three SPIs at the top of the implemented range (X, Y, Z, set
 * pending with GICD_ISPENDR) and SGI 1 sent to itself, all at priority 0xa0.
 *
 *   active: isactiver/icactiver ok   GICD_ISACTIVER sets X active (visible in
 *                                    ISACTIVER and ICACTIVER, nothing else
 *                                    changes, nothing is delivered),
 *                                    GICD_ICACTIVER clears it
 *   active: ack/eoi ok               IAR moves X from pending to active, EOIR
 *                                    makes it inactive
 *   active: active+pending ok        X and SGI 1, pended again while active:
 *                                    active and pending, not delivered until
 *                                    the EOI, then delivered once more
 *   active: split eoi ok             GICC_CTLR.EOImode (bit 9): EOIR drops the
 *                                    priority (RPR idle, another 0xa0
 *                                    interrupt is taken) but X stays active
 *                                    and, pended again, is not delivered until
 *                                    GICC_DIR deactivates it
 *   active: icactiver deactivates ok with EOImode, GICD_ICACTIVER instead of
 *                                    GICC_DIR ends Z, which can then be taken
 *                                    again
 *   active: all ok
 */
#include "gic.h"

#define PRIO 0xa0
#define SGI 1
#define WAIT_MS 2000
#define QUIET_MS 20

static struct gic gic;
static uint8_t pmask;
static unsigned myid;
static unsigned x, y, z;

static unsigned mask_to_id(uint8_t mask)
{
	unsigned id = 0;

	while (id < 7 && !(mask & (1U << id)))
		id++;
	return id;
}

static bool active(unsigned intid) { return gicv2_bit(&gic, GICD_ISACTIVER, intid); }
static bool pending(unsigned intid) { return gicv2_bit(&gic, GICD_ISPENDR, intid); }

/* The state of one interrupt, as GICD_ISPENDR and GICD_ISACTIVER show it. */
static void expect_state(unsigned intid, bool want_pending, bool want_active, const char *what)
{
	bool p = pending(intid), a = active(intid);

	if (p != want_pending || a != want_active)
		fail("active: %s: INTID %u is pending=%d active=%d, expected pending=%d active=%d",
		     what, intid, p, a, want_pending, want_active);
}

static void expect_rpr(uint32_t want, const char *what)
{
	uint32_t rpr = gicv2_rpr(&gic);

	if (rpr != want)
		fail("active: %s: GICC_RPR is 0x%x, expected 0x%x", what, rpr, want);
}

static void expect_rpr_idle(const char *what)
{
	uint32_t rpr = gicv2_rpr(&gic);

	if (!gicv2_rpr_idle(rpr, pmask))
		fail("active: %s: GICC_RPR is 0x%x, expected the idle priority (0xff or 0x%x)", what,
		     rpr, pmask);
}

static uint32_t ack(uint32_t want, const char *what)
{
	return gicv2_expect_iar(&gic, want, WAIT_MS, what);
}

static void quiet(const char *what)
{
	gicv2_expect_quiet(&gic, QUIET_MS, what);
}

static void check_idle(const char *what)
{
	expect_state(x, false, false, what);
	expect_state(y, false, false, what);
	expect_state(z, false, false, what);
	expect_state(SGI, false, false, what);
	expect_rpr_idle(what);
	quiet(what);
}

/* The 32-bit GICD bank word holding `intid`. */
static uint32_t bank(uintptr_t reg, unsigned intid)
{
	return mmio_read32(gic.dist + reg + 4 * (intid / 32));
}

static void set_eoimode(bool split)
{
	uint32_t want = GICC_CTLR_ENABLE | (split ? GICC_CTLR_EOIMODE : 0), v;

	mmio_write32(gic.cpuif + GICC_CTLR, want);
	v = mmio_read32(gic.cpuif + GICC_CTLR);
	if ((v & (GICC_CTLR_ENABLE | GICC_CTLR_EOIMODE)) != want)
		fail("active: GICC_CTLR reads 0x%x after writing 0x%x", v, want);
}

void guest_main(uintptr_t dtb)
{
	uint32_t sgi_iar, before_s, before_c, v, want;
	unsigned max;
	uint8_t mask;

	guest_init(dtb, true);
	gicv2_test_probe(&gic, "active");
	gicv2_dist_enable(&gic);
	gicv2_cpu_enable(&gic, 0xf0);
	mask = gicv2_cpu_mask(&gic);
	myid = mask_to_id(mask);
	pmask = gicv2_priority_mask(&gic);
	max = gicv2_max_intid(&gic);
	if (max < 35)
		fail("active: GICD_TYPER (0x%x) reports too few SPIs", mmio_read32(gic.dist + GICD_TYPER));
	x = max - 1;
	y = max - 2;
	z = max - 3;
	sgi_iar = (myid << 10) | SGI;

	gicv2_set_priority(&gic, SGI, PRIO);
	gicv2_enable(&gic, SGI);
	gicv2_set_priority(&gic, x, PRIO);
	gicv2_set_priority(&gic, y, PRIO);
	gicv2_set_priority(&gic, z, PRIO);
	gicv2_set_target(&gic, x, mask);
	gicv2_set_target(&gic, y, mask);
	gicv2_set_target(&gic, z, mask);
	gicv2_enable(&gic, x);
	gicv2_enable(&gic, y);
	gicv2_enable(&gic, z);
	check_idle("idle");

	/* ISACTIVER / ICACTIVER read-back; X is neither pending nor delivered. */
	before_s = bank(GICD_ISACTIVER, x);
	before_c = bank(GICD_ICACTIVER, x);
	if (before_s != before_c)
		fail("active: GICD_ISACTIVER 0x%x and GICD_ICACTIVER 0x%x differ (INTIDs %u..%u)",
		     before_s, before_c, x & ~31U, (x & ~31U) + 31);
	gicv2_set_bit(&gic, GICD_ISACTIVER, x);
	want = before_s | (1U << (x % 32));
	v = bank(GICD_ISACTIVER, x);
	if (v != want)
		fail("active: GICD_ISACTIVER reads 0x%x after setting INTID %u active, expected 0x%x",
		     v, x, want);
	v = bank(GICD_ICACTIVER, x);
	if (v != want)
		fail("active: GICD_ICACTIVER reads 0x%x with INTID %u active, expected 0x%x", v, x, want);
	expect_state(x, false, true, "set active by GICD_ISACTIVER");
	quiet("active: INTID active (not pending) after GICD_ISACTIVER");
	gicv2_set_bit(&gic, GICD_ICACTIVER, x);
	v = bank(GICD_ISACTIVER, x);
	if (v != before_s)
		fail("active: GICD_ISACTIVER reads 0x%x after GICD_ICACTIVER, expected 0x%x", v, before_s);
	check_idle("after GICD_ICACTIVER");
	kprintf("active: isactiver/icactiver ok\n");

	/* Pending -> (IAR) active -> (EOIR) inactive. */
	gicv2_set_pending(&gic, x);
	expect_state(x, true, false, "set pending by GICD_ISPENDR");
	ack(x, "active: X set pending");
	expect_state(x, false, true, "acknowledged");
	expect_rpr(PRIO, "X acknowledged");
	gicv2_write_eoir(&gic, x);
	check_idle("after EOI of X");
	kprintf("active: ack/eoi ok\n");

	/* Active + pending: not delivered again until the EOI. */
	gicv2_set_pending(&gic, x);
	ack(x, "active: X");
	gicv2_set_pending(&gic, x);
	expect_state(x, true, true, "pended again while active");
	quiet("active: X active and pending, before its EOI");
	gicv2_write_eoir(&gic, x);
	expect_rpr_idle("after EOI of active+pending X");
	ack(x, "active: X again after its EOI");
	expect_state(x, false, true, "X taken the second time");
	gicv2_write_eoir(&gic, x);
	gicv2_send_sgi(&gic, GICD_SGIR_SELF, 0, SGI);
	ack(sgi_iar, "active: SGI 1");
	expect_state(SGI, false, true, "SGI 1 acknowledged");
	gicv2_send_sgi(&gic, GICD_SGIR_SELF, 0, SGI);
	expect_state(SGI, true, true, "SGI 1 sent again while active");
	quiet("active: SGI 1 active and pending, before its EOI");
	gicv2_write_eoir(&gic, sgi_iar);
	ack(sgi_iar, "active: SGI 1 again after its EOI");
	gicv2_write_eoir(&gic, sgi_iar);
	check_idle("after active+pending");
	kprintf("active: active+pending ok\n");

	/* Split EOI: EOIR drops the priority, DIR deactivates. */
	set_eoimode(true);
	gicv2_set_pending(&gic, x);
	ack(x, "active: X with EOImode 1");
	expect_rpr(PRIO, "X acknowledged with EOImode 1");
	gicv2_write_eoir(&gic, x);
	expect_rpr_idle("after EOIR of X with EOImode 1 (priority drop)");
	expect_state(x, false, true, "EOIR with EOImode 1 (still active)");
	quiet("active: nothing pending after the priority drop of X");
	gicv2_set_pending(&gic, x);
	expect_state(x, true, true, "X pended again after its priority drop");
	quiet("active: X active+pending after its priority drop (must wait for GICC_DIR)");
	/* The priority really dropped: another 0xa0 interrupt is taken. */
	gicv2_set_pending(&gic, y);
	ack(y, "active: Y (same priority as X) after the priority drop of X");
	expect_rpr(PRIO, "Y active");
	gicv2_write_eoir(&gic, y);
	expect_state(y, false, true, "EOIR of Y with EOImode 1");
	gicv2_write_dir(&gic, y);
	expect_state(y, false, false, "GICC_DIR of Y");
	expect_state(x, true, true, "X while Y was taken and deactivated");
	gicv2_write_dir(&gic, x);
	expect_state(x, true, false, "GICC_DIR of active+pending X");
	ack(x, "active: X after GICC_DIR");
	gicv2_write_eoir(&gic, x);
	expect_state(x, false, true, "X after the second EOIR");
	gicv2_write_dir(&gic, x);
	check_idle("after split EOI");
	kprintf("active: split eoi ok\n");

	/* Split EOI, deactivated through the distributor instead. */
	gicv2_set_pending(&gic, z);
	ack(z, "active: Z with EOImode 1");
	gicv2_write_eoir(&gic, z);
	expect_state(z, false, true, "EOIR of Z with EOImode 1");
	gicv2_set_bit(&gic, GICD_ICACTIVER, z);
	expect_state(z, false, false, "GICD_ICACTIVER of Z");
	gicv2_set_pending(&gic, z);
	ack(z, "active: Z again after GICD_ICACTIVER");
	gicv2_write_eoir(&gic, z);
	gicv2_write_dir(&gic, z);
	set_eoimode(false);
	check_idle("after GICD_ICACTIVER with EOImode 1");
	kprintf("active: icactiver deactivates ok\n");

	kprintf("active: all ok\n");
	psci_system_off();
}
