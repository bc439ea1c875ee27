/*
 * snap_gic.bin: per-CPU GIC state, a pending SPI and PSCI power states that
 * must all survive whatever happens between "ready" and a 'g' on the UART
 * (the snapshot/restore tests migrate the VM there).  Needs 4 CPUs (-c 4);
 * runs on the GICv2 (memory-mapped CPU interface) or the GICv3 (system
 * registers, Group 1, redistributor SGI frames) the DTB describes.
 *
 *   snap-gic: gic=v2|v3
 *   snap-gic: ready
 *   (waits for a 'g' on the UART)
 *   snap-gic: cpu 0 state ok
 *   snap-gic: cpu 0 delivered ok
 *   snap-gic: cpu 1 state ok
 *   snap-gic: cpu 1 delivered ok
 *   snap-gic: cpu 2 state ok
 *   snap-gic: cpu 2 delivered ok
 *   snap-gic: spi ok
 *   snap-gic: cpu 3 online
 *   snap-gic: psci ok
 *   snap-gic: all ok
 *
 * Before "ready", CPUs 0, 1 and 2 each put their own banked GIC state in a
 * different shape, so that a VMM that saves only CPU 0's state, or restores
 * every CPU's state into one CPU, is caught:
 *   - every SGI gets a priority that differs from CPU to CPU;
 *   - CPU i sends itself SGI i+1 (priority 0x40 + 0x10 i), acknowledges it
 *     and does not end it: it stays active and the running priority is its
 *     priority;
 *   - then SGI i+8 (priority 0x80 + 0x10 i), which cannot preempt and stays
 *     pending;
 *   - PMR 0xc0 + 0x10 i, which lets SGI i+8 through once SGI i+1 is ended.
 * CPU 0 also leaves the highest SPI pending and disabled, edge-triggered,
 * priority 0x30, targeted (GICv2: GICD_ITARGETSR) or routed (GICv3:
 * GICD_IROUTER) to CPU 1.  CPU 1 stays on, waiting for CPU 0's go; CPU 2
 * turns itself off with CPU_OFF; CPU 3 is never started.
 *
 * After 'g': AFFINITY_INFO must say CPU 1 ON, CPUs 2 and 3 OFF.  CPU 0 and
 * CPU 1 in place, and CPU 2 after CPU 0 starts it again with CPU_ON (the
 * entry path touches no GIC state), each check their state (priorities,
 * enables, SGI i+1 active, SGI i+8 pending -- on GICv2 from itself in
 * GICD_SPENDSGIR --, the running priority, HPPIR naming SGI i+8, PMR, the
 * CPU interface's enables and EOI mode) and print "state ok"; then end SGI
 * i+1 (EOImode 0: priority drop and deactivation) and unmask IRQs: SGI i+8
 * must arrive through the IRQ vector, "delivered ok".  CPU 0 checks the SPI.
 * CPU 3 is started and must find its SGIs neither pending nor active.  All
 * secondaries end with CPU_OFF, which AFFINITY_INFO must show.
 *
 * Interrupts stay masked at PSTATE except while waiting for SGI i+8, and
 * every wait is bounded by the virtual counter (WAIT_MS; the wait for 'g'
 * WAIT_G_MS), so a VMM that loses something ends in FAIL, not in a hang.
 */
#include "gic.h"

#define NCPUS 4			/* CPUs this guest uses: 0..3 */
#define SGI_ACTIVE(i) ((unsigned)(i) + 1)
#define SGI_PENDING(i) ((unsigned)(i) + 8)
#define PRIO_ACTIVE(i) (0x40U + 0x10U * (unsigned)(i))
#define PRIO_PENDING(i) (0x80U + 0x10U * (unsigned)(i))
#define PMR_VALUE(i) (0xc0U + 0x10U * (unsigned)(i))
#define PMR_SETUP 0xf0
#define SPI_PRIO 0x30
#define WAIT_MS 10000
#define WAIT_G_MS 600000
#define QUIET_MS 20
#define MAX_SPURIOUS 1000

enum phase { PH_NONE, PH_SET_UP, PH_STATE_OK, PH_DELIVERED, PH_ONLINE };

/* Each field is written by one CPU only (no atomics with the MMU off). */
struct cpu_slot {
	volatile uint64_t phase;	/* by the CPU itself */
	volatile uint64_t go;		/* by CPU 0: CPU 1 may check its state */
	volatile uint64_t restarted;	/* by CPU 0: CPU 2's second start */
	volatile uint64_t rd;		/* GICv3: RD_base */
	volatile uint32_t mask;		/* GICv2: CPU interface bit */
	volatile uint32_t active_iar;	/* IAR value of SGI i+1, to end it later */
	volatile uint32_t delivered;	/* IAR value the IRQ handler took, + 1 */
	volatile uint32_t spurious;
	uint64_t pad[3];
};

static struct gic gic;
static int ncpus;
static uint64_t regs[GUEST_MAX_CPUS];
static struct cpu_slot slot[NCPUS];
static unsigned spi;

static const char *const phase_name[] = {
	"nothing", "state set up", "state ok", "delivered", "online",
};

/* Distinct per CPU for every SGI, top 4 bits only (any GIC implements those). */
static uint8_t sgi_prio(int cpu, unsigned sgi)
{
	if (sgi == SGI_ACTIVE(cpu))
		return (uint8_t)PRIO_ACTIVE(cpu);
	if (sgi == SGI_PENDING(cpu))
		return (uint8_t)PRIO_PENDING(cpu);
	return (uint8_t)((((sgi * 3 + (unsigned)cpu * 5) % 14) + 1) << 4);
}

static int self_index(void)
{
	uint64_t mpidr = read_mpidr();
	int i;

	for (i = 0; i < NCPUS; i++)
		if (regs[i] == mpidr)
			return i;
	fail("snap-gic: running on mpidr 0x%llx, which is not one of the first %d cpu nodes",
	     (unsigned long long)mpidr, NCPUS);
}

static unsigned mask_to_id(uint32_t mask)
{
	unsigned id = 0;

	while (id < 7 && !(mask & (1U << id)))
		id++;
	return id;
}

/* ---- the CPU interface, whichever GIC this is ---- */

/* Base of this CPU's banked SGI/PPI registers: same offsets in the GICD and a GICR SGI frame. */
static uintptr_t private_base(int me)
{
	return gic.version == 2 ? gic.dist : (uintptr_t)slot[me].rd + GICR_SGI_BASE;
}

static uint32_t read_iar(void)
{
	return gic.version == 2 ? gicv2_read_iar(&gic) & 0x1fffU : gicv3_read_iar();
}

static void write_eoir(uint32_t iar)
{
	if (gic.version == 2)
		gicv2_write_eoir(&gic, iar);
	else
		gicv3_write_eoir(iar);
}

static uint32_t rpr(void) { return gic.version == 2 ? gicv2_rpr(&gic) : gicv3_rpr(); }
static uint32_t hppir(void) { return gic.version == 2 ? gicv2_hppir(&gic) : gicv3_hppir(); }

static uint32_t pmr(void)
{
	return gic.version == 2 ? mmio_read32(gic.cpuif + GICC_PMR) & 0xffU : gicv3_pmr();
}

static void set_pmr(uint8_t v)
{
	if (gic.version == 2) {
		mmio_write32(gic.cpuif + GICC_PMR, v);
	} else {
		write_icc(ICC_PMR_EL1, v);
		isb();
	}
}

/* Idle running priority: 0xff, or as a virtual interface may show it, only the implemented bits. */
static bool rpr_idle(uint32_t v)
{
	return (v & 0xf0U) == 0xf0U && (v | (v >> 1) | (v >> 2) | (v >> 3)) == v;
}

/* The IAR value SGI `sgi` sent by CPU `me` to itself must show. */
static uint32_t self_sgi_iar(int me, unsigned sgi)
{
	return gic.version == 2 ? (mask_to_id(slot[me].mask) << 10) | sgi : sgi;
}

static void send_self(int me, unsigned sgi)
{
	if (gic.version == 2)
		gicv2_send_sgi(&gic, GICD_SGIR_SELF, 0, sgi);
	else
		gicv3_send_sgi(regs[me], sgi);
}

/* First non-spurious IAR value within `ms`, or 1023. */
static uint32_t wait_iar(uint64_t ms)
{
	uint64_t deadline = counter_deadline_ms(ms);
	uint32_t iar;

	for (;;) {
		iar = read_iar();
		if (!gic_intid_spurious(iar))
			return iar;
		if (counter_passed(deadline))
			return GICV2_SPURIOUS;
	}
}

static void sgi_irq(void)
{
	int me = self_index();
	uint32_t iar = read_iar(), want = self_sgi_iar(me, SGI_PENDING(me));

	if (gic_intid_spurious(iar)) {
		if (++slot[me].spurious > MAX_SPURIOUS)
			fail("snap-gic: cpu %d: more than %d spurious interrupts", me, MAX_SPURIOUS);
		return;
	}
	write_eoir(iar);
	if (iar != want)
		fail("snap-gic: cpu %d: IRQ handler acknowledged IAR 0x%x, expected 0x%x (SGI %u from itself)",
		     me, iar, want, SGI_PENDING(me));
	if (slot[me].delivered)
		fail("snap-gic: cpu %d: SGI %u delivered twice", me, SGI_PENDING(me));
	slot[me].delivered = iar + 1;
}

/* ---- per-CPU state ---- */

static void check_state(int me, const char *when)
{
	uintptr_t priv = private_base(me);
	uint32_t a = 1U << SGI_ACTIVE(me), p = 1U << SGI_PENDING(me), v;
	unsigned s;

	for (s = 0; s < 16; s++) {
		uint8_t got = mmio_read8(priv + GICD_IPRIORITYR + s);

		if (got != sgi_prio(me, s))
			fail("snap-gic: cpu %d %s: SGI %u priority 0x%x, set 0x%x", me, when, s, got,
			     sgi_prio(me, s));
	}
	v = mmio_read32(priv + GICD_ISENABLER);
	if ((v & (a | p)) != (a | p))
		fail("snap-gic: cpu %d %s: SGIs %u and %u not both enabled (ISENABLER0 0x%x)", me, when,
		     SGI_ACTIVE(me), SGI_PENDING(me), v);
	v = mmio_read32(priv + GICD_ISACTIVER);
	if ((v & (a | p)) != a)
		fail("snap-gic: cpu %d %s: ISACTIVER0 0x%x: SGI %u must be active, SGI %u not", me, when,
		     v, SGI_ACTIVE(me), SGI_PENDING(me));
	v = mmio_read32(priv + GICD_ISPENDR);
	if ((v & (a | p)) != p)
		fail("snap-gic: cpu %d %s: ISPENDR0 0x%x: SGI %u must be pending, SGI %u not", me, when,
		     v, SGI_PENDING(me), SGI_ACTIVE(me));
	if (gic.version == 2) {
		uint8_t sp = mmio_read8(gic.dist + GICD_SPENDSGIR + SGI_PENDING(me));
		uint8_t sa = mmio_read8(gic.dist + GICD_SPENDSGIR + SGI_ACTIVE(me));

		if (sp != slot[me].mask || sa != 0)
			fail("snap-gic: cpu %d %s: GICD_SPENDSGIR: SGI %u sources 0x%x (expected 0x%x, itself), "
			     "SGI %u sources 0x%x (expected 0)", me, when, SGI_PENDING(me), sp,
			     slot[me].mask, SGI_ACTIVE(me), sa);
		v = mmio_read32(gic.cpuif + GICC_CTLR);
		if ((v & (GICC_CTLR_ENABLE | GICC_CTLR_EOIMODE)) != GICC_CTLR_ENABLE)
			fail("snap-gic: cpu %d %s: GICC_CTLR 0x%x, expected Enable and EOImode 0", me, when, v);
	} else {
		uint64_t ctlr = read_icc(ICC_CTLR_EL1), grpen = read_icc(ICC_IGRPEN1_EL1);

		v = mmio_read32(priv + GICR_IGROUPR0);
		if ((v & 0xffffU) != 0xffffU)
			fail("snap-gic: cpu %d %s: GICR_IGROUPR0 0x%x: SGIs not all Group 1", me, when, v);
		if (!(grpen & 1) || (ctlr & ICC_CTLR_EOIMODE))
			fail("snap-gic: cpu %d %s: ICC_IGRPEN1_EL1 0x%llx, ICC_CTLR_EL1 0x%llx: expected "
			     "Group 1 enabled and EOImode 0", me, when, (unsigned long long)grpen,
			     (unsigned long long)ctlr);
	}
	v = rpr();
	if (v != PRIO_ACTIVE(me))
		fail("snap-gic: cpu %d %s: running priority 0x%x, expected 0x%x (SGI %u active)", me,
		     when, v, PRIO_ACTIVE(me), SGI_ACTIVE(me));
	/*
	 * GICv2: the source CPU ID [12:10] may read as 0 (QEMU's GICv2 models,
	 * which the nested test bench's vGICv2 runs on, leave it out of
	 * HPPIR); GICD_SPENDSGIR above names the source strictly.
	 */
	v = hppir();
	if (v != self_sgi_iar(me, SGI_PENDING(me)) && (gic.version == 3 || v != SGI_PENDING(me)))
		fail("snap-gic: cpu %d %s: HPPIR 0x%x, expected 0x%x (SGI %u pending)", me, when, v,
		     self_sgi_iar(me, SGI_PENDING(me)), SGI_PENDING(me));
	v = pmr();
	if (v != PMR_VALUE(me))
		fail("snap-gic: cpu %d %s: PMR 0x%x, set 0x%x", me, when, v, PMR_VALUE(me));
}

static void setup_state(int me)
{
	uint32_t a = 1U << SGI_ACTIVE(me), p = 1U << SGI_PENDING(me), iar, want;
	uint64_t deadline;
	uintptr_t priv;
	unsigned s;

	if (gic.version == 2) {
		gicv2_cpu_enable(&gic, PMR_SETUP);
		slot[me].mask = gicv2_cpu_mask(&gic);
	} else {
		slot[me].rd = gicv3_cpu_enable(&gic, PMR_SETUP);
	}
	priv = private_base(me);
	if (gic.version == 3)
		mmio_write32(priv + GICR_IGROUPR0, mmio_read32(priv + GICR_IGROUPR0) | 0xffffU);
	for (s = 0; s < 16; s++)
		mmio_write8(priv + GICD_IPRIORITYR + s, sgi_prio(me, s));
	mmio_write32(priv + GICD_ISENABLER, a | p);
	if ((mmio_read32(priv + GICD_ISPENDR) | mmio_read32(priv + GICD_ISACTIVER)) & (a | p))
		fail("snap-gic: cpu %d: SGI %u or %u pending or active before it was sent", me,
		     SGI_ACTIVE(me), SGI_PENDING(me));

	/* The one that stays active: acknowledged, never ended (until 'g'). */
	send_self(me, SGI_ACTIVE(me));
	want = self_sgi_iar(me, SGI_ACTIVE(me));
	iar = wait_iar(WAIT_MS);
	if (iar != want)
		fail("snap-gic: cpu %d: IAR 0x%x after sending itself SGI %u, expected 0x%x", me, iar,
		     SGI_ACTIVE(me), want);
	slot[me].active_iar = iar;

	/* The one that stays pending: lower priority, so it cannot preempt. */
	send_self(me, SGI_PENDING(me));
	deadline = counter_deadline_ms(WAIT_MS);
	while (!(mmio_read32(priv + GICD_ISPENDR) & p))
		if (counter_passed(deadline))
			fail("snap-gic: cpu %d: SGI %u not pending %d ms after sending it", me,
			     SGI_PENDING(me), WAIT_MS);
	iar = wait_iar(QUIET_MS);
	if (iar != GICV2_SPURIOUS)
		fail("snap-gic: cpu %d: IAR gave 0x%x while SGI %u (priority 0x%x) was active, "
		     "expected nothing", me, iar, SGI_ACTIVE(me), PRIO_ACTIVE(me));

	set_pmr((uint8_t)PMR_VALUE(me));
	check_state(me, "after set-up");
}

/* After 'g': the state as left, then SGI i+1 ended and SGI i+8 taken as an IRQ. */
static void finish_state(int me, const char *when)
{
	uintptr_t priv = private_base(me);
	uint32_t a = 1U << SGI_ACTIVE(me), p = 1U << SGI_PENDING(me), v;
	uint64_t deadline;

	check_state(me, when);
	kprintf("snap-gic: cpu %d state ok\n", me);
	slot[me].phase = PH_STATE_OK;

	/* EOImode 0: the EOI drops the running priority and deactivates. */
	write_eoir(slot[me].active_iar);
	v = mmio_read32(priv + GICD_ISACTIVER);
	if (v & a)
		fail("snap-gic: cpu %d: SGI %u still active after its EOI (ISACTIVER0 0x%x)", me,
		     SGI_ACTIVE(me), v);

	deadline = counter_deadline_ms(WAIT_MS);
	irq_enable();
	while (!slot[me].delivered) {
		if (counter_passed(deadline)) {
			irq_disable();
			fail("snap-gic: cpu %d: SGI %u not delivered within %d ms of ending SGI %u "
			     "(RPR 0x%x HPPIR 0x%x PMR 0x%x ISPENDR0 0x%x ISR_EL1 0x%llx)", me,
			     SGI_PENDING(me), WAIT_MS, SGI_ACTIVE(me), rpr(), hppir(), pmr(),
			     mmio_read32(priv + GICD_ISPENDR), (unsigned long long)read_sysreg(isr_el1));
		}
	}
	irq_disable();

	v = rpr();
	if (!rpr_idle(v))
		fail("snap-gic: cpu %d: running priority 0x%x after both SGIs ended, expected idle", me, v);
	if ((mmio_read32(priv + GICD_ISPENDR) | mmio_read32(priv + GICD_ISACTIVER)) & (a | p))
		fail("snap-gic: cpu %d: SGI %u or %u still pending or active at the end (ISPENDR0 0x%x "
		     "ISACTIVER0 0x%x)", me, SGI_ACTIVE(me), SGI_PENDING(me),
		     mmio_read32(priv + GICD_ISPENDR), mmio_read32(priv + GICD_ISACTIVER));
	kprintf("snap-gic: cpu %d delivered ok\n", me);
	slot[me].phase = PH_DELIVERED;
}

/* CPU 3: never started before, so nothing may be pending or active on it. */
static void check_clean(int me)
{
	uintptr_t priv;
	uint32_t pend, act;
	unsigned s;

	if (gic.version == 2) {
		priv = gic.dist;
		for (s = 0; s < 16; s += 4)
			if (mmio_read32(gic.dist + GICD_SPENDSGIR + s))
				fail("snap-gic: cpu %d: GICD_SPENDSGIR%u 0x%x on a cpu nobody sent SGIs to",
				     me, s / 4, mmio_read32(gic.dist + GICD_SPENDSGIR + s));
		if (!rpr_idle(gicv2_rpr(&gic)))
			fail("snap-gic: cpu %d: GICC_RPR 0x%x on a fresh cpu, expected idle", me,
			     gicv2_rpr(&gic));
	} else {
		priv = gicv3_find_rd(&gic) + GICR_SGI_BASE;
	}
	pend = mmio_read32(priv + GICD_ISPENDR) & 0xffffU;
	act = mmio_read32(priv + GICD_ISACTIVER) & 0xffffU;
	if (pend || act)
		fail("snap-gic: cpu %d: SGIs pending 0x%x active 0x%x on a cpu nobody sent SGIs to", me,
		     pend, act);
}

/* ---- the SPI ---- */

static uint8_t spi_targets(void) { return (uint8_t)slot[1].mask; }
static uint64_t spi_route(void) { return regs[1] & MPIDR_AFF_MASK; }

static void wait_rwp(void)
{
	uint64_t deadline = counter_deadline_ms(WAIT_MS);

	while (mmio_read32(gic.dist + GICD_CTLR) & (1U << 31))
		if (counter_passed(deadline))
			fail("snap-gic: GICD_CTLR.RWP stuck");
}

static void spi_setup(void)
{
	unsigned n = 32 * (GICD_TYPER_ITLINES(mmio_read32(gic.dist + GICD_TYPER)) + 1) - 1;
	uintptr_t word, cfg;
	uint32_t bit;

	spi = n > 1019 ? 1019 : n;
	if (spi < 32)
		fail("snap-gic: GICD_TYPER 0x%x: no SPIs", mmio_read32(gic.dist + GICD_TYPER));
	word = 4 * (spi / 32);
	bit = 1U << (spi % 32);
	cfg = gic.dist + GICD_ICFGR + 4 * (spi / 16);

	mmio_write32(gic.dist + GICD_ICENABLER + word, bit);
	if (gic.version == 3) {
		wait_rwp();
		mmio_write32(gic.dist + GICD_IGROUPR + word, mmio_read32(gic.dist + GICD_IGROUPR + word) | bit);
		mmio_write64(gic.dist + GICD_IROUTER + 8 * spi, spi_route());
	} else {
		mmio_write8(gic.dist + GICD_ITARGETSR + spi, spi_targets());
	}
	mmio_write8(gic.dist + GICD_IPRIORITYR + spi, SPI_PRIO);
	mmio_write32(cfg, mmio_read32(cfg) | (2U << (2 * (spi % 16))));	/* edge-triggered */
	mmio_write32(gic.dist + GICD_ISPENDR + word, bit);
}

static void spi_check(const char *when)
{
	uintptr_t word = 4 * (spi / 32);
	uint32_t bit = 1U << (spi % 32), cfg;
	uint8_t prio;

	if (!(mmio_read32(gic.dist + GICD_ISPENDR + word) & bit))
		fail("snap-gic: SPI %u %s: not pending (ISPENDR 0x%x)", spi, when,
		     mmio_read32(gic.dist + GICD_ISPENDR + word));
	if (mmio_read32(gic.dist + GICD_ISENABLER + word) & bit)
		fail("snap-gic: SPI %u %s: enabled (ISENABLER 0x%x)", spi, when,
		     mmio_read32(gic.dist + GICD_ISENABLER + word));
	if (mmio_read32(gic.dist + GICD_ISACTIVER + word) & bit)
		fail("snap-gic: SPI %u %s: active (ISACTIVER 0x%x)", spi, when,
		     mmio_read32(gic.dist + GICD_ISACTIVER + word));
	prio = mmio_read8(gic.dist + GICD_IPRIORITYR + spi);
	if (prio != SPI_PRIO)
		fail("snap-gic: SPI %u %s: priority 0x%x, set 0x%x", spi, when, prio, SPI_PRIO);
	cfg = mmio_read32(gic.dist + GICD_ICFGR + 4 * (spi / 16));
	if (!(cfg & (2U << (2 * (spi % 16)))))
		fail("snap-gic: SPI %u %s: level-sensitive (ICFGR 0x%x), set edge", spi, when, cfg);
	if (gic.version == 3) {
		uint64_t route = mmio_read64(gic.dist + GICD_IROUTER + 8 * spi);

		if (route != spi_route())
			fail("snap-gic: SPI %u %s: GICD_IROUTER 0x%llx, set 0x%llx (cpu 1)", spi, when,
			     (unsigned long long)route, (unsigned long long)spi_route());
		if (!(mmio_read32(gic.dist + GICD_IGROUPR + word) & bit))
			fail("snap-gic: SPI %u %s: not Group 1 (IGROUPR 0x%x)", spi, when,
			     mmio_read32(gic.dist + GICD_IGROUPR + word));
	} else {
		uint8_t t = mmio_read8(gic.dist + GICD_ITARGETSR + spi);

		if (t != spi_targets())
			fail("snap-gic: SPI %u %s: GICD_ITARGETSR 0x%x, set 0x%x (cpu 1)", spi, when, t,
			     spi_targets());
	}
}

/* ---- PSCI and waiting ---- */

static const char *affinity_name(long v)
{
	switch (v) {
	case PSCI_AFFINITY_ON: return "ON";
	case PSCI_AFFINITY_OFF: return "OFF";
	case PSCI_AFFINITY_ON_PENDING: return "ON_PENDING";
	default: return psci_strerror(v);
	}
}

static void expect_affinity(int cpu, long want, const char *when)
{
	long v = psci_affinity_info(regs[cpu]);

	if (v != want)
		fail("snap-gic: %s: AFFINITY_INFO(cpu %d) is %ld (%s), expected %s", when, cpu, v,
		     affinity_name(v), affinity_name(want));
}

/* Waits (bounded) until AFFINITY_INFO of `cpu` reports OFF. */
static void wait_off(int cpu, const char *when)
{
	uint64_t deadline = counter_deadline_ms(WAIT_MS);
	long v;

	while ((v = psci_affinity_info(regs[cpu])) != PSCI_AFFINITY_OFF) {
		if (counter_passed(deadline))
			fail("snap-gic: %s: AFFINITY_INFO(cpu %d) still %ld (%s) after %d ms, expected OFF",
			     when, cpu, v, affinity_name(v), WAIT_MS);
		cpu_relax();
	}
}

static void wait_phase(int cpu, enum phase want)
{
	uint64_t deadline = counter_deadline_ms(WAIT_MS);

	while (slot[cpu].phase < (uint64_t)want) {
		if (secondary_bad_ctx)
			fail("snap-gic: a secondary cpu started with context id 0x%llx (x0)",
			     (unsigned long long)(secondary_bad_ctx & ~(1ULL << 63)));
		if (counter_passed(deadline))
			fail("snap-gic: cpu %d did not reach '%s' within %d ms (it is at '%s')", cpu,
			     phase_name[want], WAIT_MS, phase_name[slot[cpu].phase]);
		cpu_relax();
	}
}

static void cpu_on(int cpu)
{
	long ret = psci_cpu_on(regs[cpu], (uintptr_t)secondary_entry, (uint64_t)cpu);

	if (ret != 0)
		fail("snap-gic: CPU_ON(cpu %d, mpidr 0x%llx) returned %ld (%s)", cpu,
		     (unsigned long long)regs[cpu], ret, psci_strerror(ret));
}

static void snap_secondary(unsigned long ctx)
{
	int me = self_index();
	uint64_t deadline;

	if ((unsigned long)me != ctx)
		fail("snap-gic: cpu %d started with context id %lu", me, ctx);
	switch (me) {
	case 1:
		setup_state(me);
		slot[me].phase = PH_SET_UP;
		cpu_sev();
		/* Stay on: this is where the VM may be migrated. */
		event_stream_enable();
		deadline = counter_deadline_ms(WAIT_G_MS + WAIT_MS);
		while (!slot[me].go) {
			if (counter_passed(deadline))
				fail("snap-gic: cpu 1 got no go from cpu 0 within %d s", (WAIT_G_MS + WAIT_MS) / 1000);
			cpu_relax();
		}
		finish_state(me, "after 'g'");
		break;
	case 2:
		if (!slot[me].restarted) {
			setup_state(me);
			slot[me].phase = PH_SET_UP;
			/* returning turns this cpu off (CPU_OFF), its GIC state set up */
		} else {
			finish_state(me, "after CPU_OFF and CPU_ON again");
		}
		break;
	case 3:
		check_clean(me);
		kprintf("snap-gic: cpu 3 online\n");
		slot[me].phase = PH_ONLINE;
		break;
	default:
		fail("snap-gic: cpu %d was never meant to start", me);
	}
	cpu_sev();
}

void guest_main(uintptr_t dtb)
{
	const char *what = "";
	uint64_t deadline;
	int err, i;

	guest_init(dtb, true);
	err = gic_probe(&guest_fdt, &gic, &what);
	if (err < 0)
		fail("snap-gic: interrupt controller: %s: %s", what, fdt_strerror(err));
	if (gic.version == 2 && (gic.dist_size < 0x1000 || gic.cpuif_size < 0x1000))
		fail("snap-gic: GICv2 regions too small (distributor 0x%llx, CPU interface 0x%llx bytes)",
		     (unsigned long long)gic.dist_size, (unsigned long long)gic.cpuif_size);
	kprintf("snap-gic: gic=v%d\n", gic.version);

	err = dt_cpus(&guest_fdt, regs, GUEST_MAX_CPUS, &ncpus);
	if (err < 0)
		fail("snap-gic: cannot read /cpus: %s", fdt_strerror(err));
	if (ncpus < NCPUS || ncpus > GUEST_MAX_CPUS)
		fail("snap-gic: %d cpus in the DTB, this guest needs %d (run it with -c %d)", ncpus,
		     NCPUS, NCPUS);
	if (regs[0] != read_mpidr())
		fail("snap-gic: boot cpu mpidr 0x%llx != reg 0x%llx of the first cpu node",
		     (unsigned long long)read_mpidr(), (unsigned long long)regs[0]);
	for (i = 1; i < NCPUS; i++)
		expect_affinity(i, PSCI_AFFINITY_OFF, "at start");

	event_stream_enable();
	irq_handler = sgi_irq;
	secondary_handler = snap_secondary;
	if (gic.version == 2)
		gicv2_dist_enable(&gic);
	else
		gicv3_dist_enable(&gic);

	cpu_on(1);
	cpu_on(2);
	setup_state(0);
	slot[0].phase = PH_SET_UP;
	wait_phase(1, PH_SET_UP);
	wait_phase(2, PH_SET_UP);
	wait_off(2, "before ready");
	expect_affinity(1, PSCI_AFFINITY_ON, "before ready");
	expect_affinity(3, PSCI_AFFINITY_OFF, "before ready");
	spi_setup();
	spi_check("after set-up");
	kprintf("snap-gic: ready\n");

	/* This is where the VM may be migrated. */
	deadline = counter_deadline_ms(WAIT_G_MS);
	while (uart_getc() != 'g') {
		if (counter_passed(deadline))
			fail("snap-gic: no 'g' on the UART within %d s", WAIT_G_MS / 1000);
		cpu_relax();
	}

	expect_affinity(1, PSCI_AFFINITY_ON, "after 'g'");
	expect_affinity(2, PSCI_AFFINITY_OFF, "after 'g'");
	expect_affinity(3, PSCI_AFFINITY_OFF, "after 'g'");

	finish_state(0, "after 'g'");
	slot[1].go = 1;
	cpu_sev();
	wait_phase(1, PH_DELIVERED);
	slot[2].restarted = 1;
	cpu_on(2);
	wait_phase(2, PH_DELIVERED);

	spi_check("after 'g'");
	kprintf("snap-gic: spi ok\n");

	cpu_on(3);
	wait_phase(3, PH_ONLINE);
	for (i = 1; i < NCPUS; i++)
		wait_off(i, "at the end");
	kprintf("snap-gic: psci ok\n");
	kprintf("snap-gic: all ok\n");
	psci_system_off();
}
