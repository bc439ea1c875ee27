/*
 * GICv2 (memory-mapped CPU interface) and GICv3 (system-register CPU
 * interface, single security state as KVM's vGICv3 provides: DS=1) support
 * for the test guests.
 */
#include "gic.h"

/* Distributor: GICD_CTLR, GICD_ISENABLER, GICD_IPRIORITYR come from gic.h */
#define GICD_PIDR2 0xffe8

#define GICD_CTLR_V2_ENABLE (1U << 0)
#define GICD_CTLR_V3_ENABLE_G1 (1U << 1)
#define GICD_CTLR_V3_ARE (1U << 4)
#define GICD_CTLR_V3_RWP (1U << 31)

/* GICv2 CPU interface: see gic.h */

/* GICv3 redistributor (register offsets in gic.h) */
#define GICR_PIDR2 0xffe8
#define GICR_TYPER_VLPIS (1ULL << 1)
#define GICR_TYPER_LAST (1ULL << 4)
#define GICR_WAKER_PROCESSOR_SLEEP (1U << 1)
#define GICR_WAKER_CHILDREN_ASLEEP (1U << 2)
#define GICR_FRAME_SIZE 0x20000ULL	/* RD + SGI frames */
#define GICR_FRAME_SIZE_VLPI 0x40000ULL	/* GICv4: + VLPI + reserved */
#define GICR_MAX_FRAMES 4096

/* GICv3 CPU interface system registers: see gic.h */

#define GIC_PRIORITY_MASK 0xf0

static const char *const gicv2_compatibles[] = {
	"arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic", "arm,cortex-a7-gic",
};

int gic_probe(const struct fdt *f, struct gic *g, const char **what)
{
	uint64_t addr, size;
	uint32_t nr = 1;
	unsigned i;
	int node, err;

	memset(g, 0, sizeof(*g));

	node = fdt_find_compatible(f, -1, "arm,gic-v3");
	if (node >= 0) {
		g->version = 3;
		g->node = node;
		*what = "arm,gic-v3 reg[0] (distributor)";
		err = fdt_get_reg(f, node, 0, &addr, &size);
		if (err < 0)
			return err;
		g->dist = (uintptr_t)addr;

		*what = "arm,gic-v3 #redistributor-regions";
		err = fdt_getprop_u32(f, node, "#redistributor-regions", &nr);
		if (err == -FDT_ERR_NOTFOUND)
			nr = 1;
		else if (err < 0)
			return err;
		if (nr < 1 || nr > GIC_MAX_REDIST_REGIONS)
			return -FDT_ERR_BADVALUE;

		*what = "arm,gic-v3 reg[1..] (redistributors)";
		for (i = 0; i < nr; i++) {
			err = fdt_get_reg(f, node, 1 + i, &addr, &size);
			if (err < 0)
				return err;
			if (size < GICR_FRAME_SIZE)
				return -FDT_ERR_BADVALUE;
			g->redist_base[i] = (uintptr_t)addr;
			g->redist_size[i] = size;
		}
		g->nr_redist = nr;
		return 0;
	}
	if (node != -FDT_ERR_NOTFOUND) {
		*what = "searching for arm,gic-v3";
		return node;
	}

	for (i = 0; i < ARRAY_SIZE(gicv2_compatibles); i++) {
		node = fdt_find_compatible(f, -1, gicv2_compatibles[i]);
		if (node >= 0)
			break;
		if (node != -FDT_ERR_NOTFOUND) {
			*what = "searching for a GICv2 node";
			return node;
		}
	}
	if (node < 0) {
		*what = "interrupt controller node (arm,gic-v3 / arm,cortex-a15-gic)";
		return node;
	}
	g->version = 2;
	g->node = node;
	*what = "GICv2 reg[0] (distributor)";
	err = fdt_get_reg(f, node, 0, &addr, &size);
	if (err < 0)
		return err;
	g->dist = (uintptr_t)addr;
	g->dist_size = size;
	*what = "GICv2 reg[1] (CPU interface)";
	err = fdt_get_reg(f, node, 1, &addr, &size);
	if (err < 0)
		return err;
	g->cpuif = (uintptr_t)addr;
	g->cpuif_size = size;
	return 0;
}

static void wait_clear32(uintptr_t reg, uint32_t mask, const char *what)
{
	uint64_t deadline = counter_deadline_ms(1000);
	uint32_t v;

	while ((v = mmio_read32(reg)) & mask)
		if (counter_passed(deadline))
			fail("gic: timeout waiting for %s (reg 0x%llx = 0x%x)",
			     what, (unsigned long long)reg, v);
}

uintptr_t gicv3_find_rd(const struct gic *g)
{
	uint64_t mpidr = read_mpidr();
	uint64_t aff = (((mpidr >> 32) & 0xff) << 24) | (mpidr & 0xffffff);
	unsigned r, frames = 0;

	for (r = 0; r < g->nr_redist; r++) {
		uint64_t off = 0;

		while (off + GICR_FRAME_SIZE <= g->redist_size[r] && frames < GICR_MAX_FRAMES) {
			uintptr_t rd = g->redist_base[r] + (uintptr_t)off;
			uint32_t pidr2 = mmio_read32(rd + GICR_PIDR2);
			uint64_t typer;
			unsigned arch = (pidr2 >> 4) & 0xf;

			if (arch != 3 && arch != 4)
				fail("gic: no GICv3 redistributor at 0x%llx (GICR_PIDR2=0x%x)",
				     (unsigned long long)rd, pidr2);
			typer = mmio_read64(rd + GICR_TYPER);
			frames++;
			if ((typer >> 32) == aff)
				return rd;
			if (typer & GICR_TYPER_LAST)
				break;
			off += (typer & GICR_TYPER_VLPIS) ? GICR_FRAME_SIZE_VLPI : GICR_FRAME_SIZE;
		}
	}
	fail("gic: no redistributor with affinity 0x%llx (MPIDR 0x%llx) among %u frames",
	     (unsigned long long)aff, (unsigned long long)mpidr, frames);
}

static void gicv2_init(struct gic *g)
{
	mmio_write32(g->dist + GICD_CTLR, GICD_CTLR_V2_ENABLE);
	mmio_write32(g->cpuif + GICC_PMR, GIC_PRIORITY_MASK);
	mmio_write32(g->cpuif + GICC_CTLR, GICC_CTLR_ENABLE);
	if (!(mmio_read32(g->dist + GICD_CTLR) & GICD_CTLR_V2_ENABLE))
		fail("gic: GICD_CTLR.Enable does not stick (0x%x)", mmio_read32(g->dist + GICD_CTLR));
}

void gicv3_dist_enable(const struct gic *g)
{
	uint32_t v, pidr2;

	pidr2 = mmio_read32(g->dist + GICD_PIDR2);
	if (((pidr2 >> 4) & 0xf) != 3 && ((pidr2 >> 4) & 0xf) != 4)
		fail("gic: no GICv3 distributor at 0x%llx (GICD_PIDR2=0x%x)",
		     (unsigned long long)g->dist, pidr2);

	/* Affinity routing + Group 1 (DS=1: no Secure/Non-secure split). */
	mmio_write32(g->dist + GICD_CTLR, GICD_CTLR_V3_ARE | GICD_CTLR_V3_ENABLE_G1);
	wait_clear32(g->dist + GICD_CTLR, GICD_CTLR_V3_RWP, "GICD_CTLR.RWP");
	v = mmio_read32(g->dist + GICD_CTLR);
	if (!(v & GICD_CTLR_V3_ARE) || !(v & GICD_CTLR_V3_ENABLE_G1))
		fail("gic: GICD_CTLR reads 0x%x after enabling ARE|EnableGrp1", v);
}

uintptr_t gicv3_cpu_enable(const struct gic *g, uint8_t pmr)
{
	uintptr_t rd;
	uint32_t v;
	uint64_t sre;

	/* This CPU's redistributor: wake it up. */
	rd = gicv3_find_rd(g);
	v = mmio_read32(rd + GICR_WAKER);
	mmio_write32(rd + GICR_WAKER, v & ~GICR_WAKER_PROCESSOR_SLEEP);
	wait_clear32(rd + GICR_WAKER, GICR_WAKER_CHILDREN_ASLEEP, "GICR_WAKER.ChildrenAsleep");

	/* System-register CPU interface. */
	sre = read_icc(ICC_SRE_EL1);
	write_icc(ICC_SRE_EL1, sre | ICC_SRE_SRE);
	isb();
	sre = read_icc(ICC_SRE_EL1);
	if (!(sre & ICC_SRE_SRE))
		fail("gic: ICC_SRE_EL1.SRE does not stick (0x%llx)", (unsigned long long)sre);
	write_icc(ICC_PMR_EL1, pmr);
	write_icc(ICC_BPR1_EL1, 0);
	write_icc(ICC_CTLR_EL1, read_icc(ICC_CTLR_EL1) & ~ICC_CTLR_EOIMODE);
	write_icc(ICC_IGRPEN1_EL1, 1);
	isb();
	return rd;
}

static void gicv3_init(struct gic *g)
{
	gicv3_dist_enable(g);
	g->rd = gicv3_cpu_enable(g, GIC_PRIORITY_MASK);
}

void gic_init(struct gic *g)
{
	if (g->version == 2)
		gicv2_init(g);
	else if (g->version == 3)
		gicv3_init(g);
	else
		fail("gic: gic_init without a probed GIC");
}

void gic_enable_ppi(struct gic *g, unsigned intid, uint8_t prio)
{
	uint32_t bit = 1U << (intid % 32);
	uintptr_t base;
	uint8_t p;

	if (intid < 16 || intid > 31)
		fail("gic: INTID %u is not a PPI", intid);

	if (g->version == 3) {
		base = g->rd + GICR_SGI_BASE;
		/* Group 1 (with DS=1 that is the only non-FIQ group) */
		mmio_write32(base + GICR_IGROUPR0, mmio_read32(base + GICR_IGROUPR0) | bit);
		mmio_write8(base + GICR_IPRIORITYR + intid, prio);
		mmio_write32(base + GICR_ISENABLER0, bit);
		if (!(mmio_read32(base + GICR_IGROUPR0) & bit))
			fail("gic: GICR_IGROUPR0 bit %u does not stick", intid);
	} else {
		base = g->dist;
		mmio_write8(base + GICD_IPRIORITYR + intid, prio);
		mmio_write32(base + GICD_ISENABLER, bit);
	}

	p = mmio_read8(base + (g->version == 3 ? GICR_IPRIORITYR : GICD_IPRIORITYR) + intid);
	if (p != prio)
		fail("gic: priority of INTID %u reads 0x%x after writing 0x%x", intid, p, prio);
	if (!(mmio_read32(base + (g->version == 3 ? GICR_ISENABLER0 : GICD_ISENABLER)) & bit))
		fail("gic: INTID %u does not read back as enabled", intid);
}

uint32_t gic_ack(const struct gic *g)
{
	uint32_t iar;

	if (g->version == 2)
		return mmio_read32(g->cpuif + GICC_IAR);
	iar = (uint32_t)read_icc(ICC_IAR1_EL1);
	dsb_sy();
	return iar;
}

void gic_eoi(const struct gic *g, uint32_t iar)
{
	if (g->version == 2) {
		mmio_write32(g->cpuif + GICC_EOIR, iar);
	} else {
		write_icc(ICC_EOIR1_EL1, iar);
		isb();
	}
}

void gicv3_send_sgi(uint64_t mpidr, unsigned sgi)
{
	uint64_t aff0 = mpidr & 0xff, v;

	if (sgi > 15)
		fail("gic: bad SGI number %u", sgi);
	/*
	 * ICC_SGI1R_EL1: Aff3 [55:48], RS [47:44] (Aff0 / 16), Aff2 [39:32],
	 * INTID [27:24], Aff1 [23:16], TargetList [15:0] (bit Aff0 % 16);
	 * IRM (bit 40) = 0: just the CPUs named.
	 */
	v = (((mpidr >> 32) & 0xff) << 48) | ((aff0 >> 4) << 44) | (((mpidr >> 16) & 0xff) << 32) |
	    ((uint64_t)sgi << 24) | (((mpidr >> 8) & 0xff) << 16) | (1ULL << (aff0 & 0xf));
	/* Earlier memory writes must be visible to the target before it takes the SGI. */
	dsb_sy();
	write_icc(ICC_SGI1R_EL1, v);
	isb();
}

/* ---- GICv2 test-guest helpers ---- */

void gicv2_test_probe(struct gic *g, const char *name)
{
	const char *what = "";
	int err;

	err = gic_probe(&guest_fdt, g, &what);
	if (err < 0)
		fail("%s: interrupt controller: %s: %s", name, what, fdt_strerror(err));
	if (g->version == 3) {
		kprintf("%s: SKIP gicv3\n", name);
		psci_system_off();
	}
	if (g->version != 2)
		fail("%s: unknown GIC version %d", name, g->version);
	if (g->dist_size < 0x1000)
		fail("%s: GICv2 distributor region is only 0x%llx bytes (need 0x1000)", name,
		     (unsigned long long)g->dist_size);
	if (g->cpuif_size < 0x2000)
		fail("%s: GICv2 CPU interface region is only 0x%llx bytes (need 0x2000 for GICC_DIR)",
		     name, (unsigned long long)g->cpuif_size);
}

void gicv2_dist_enable(const struct gic *g)
{
	uint32_t v;

	mmio_write32(g->dist + GICD_CTLR, GICD_CTLR_V2_ENABLE);
	v = mmio_read32(g->dist + GICD_CTLR);
	if (!(v & GICD_CTLR_V2_ENABLE))
		fail("gic: GICD_CTLR.Enable does not stick (0x%x)", v);
}

void gicv2_cpu_enable(const struct gic *g, uint8_t pmr)
{
	uint32_t v;

	mmio_write32(g->cpuif + GICC_PMR, pmr);
	mmio_write32(g->cpuif + GICC_BPR, 0);
	mmio_write32(g->cpuif + GICC_CTLR, GICC_CTLR_ENABLE);
	v = mmio_read32(g->cpuif + GICC_CTLR);
	if ((v & (GICC_CTLR_ENABLE | GICC_CTLR_EOIMODE)) != GICC_CTLR_ENABLE)
		fail("gic: GICC_CTLR reads 0x%x after writing 0x%x", v, GICC_CTLR_ENABLE);
}

uint8_t gicv2_cpu_mask(const struct gic *g)
{
	uint8_t m = mmio_read8(g->dist + GICD_ITARGETSR);
	uint32_t typer = mmio_read32(g->dist + GICD_TYPER);

	if (m == 0 && GICD_TYPER_CPUS(typer) == 1)
		m = 1;
	if (m == 0 || (m & (m - 1)))
		fail("gic: GICD_ITARGETSR0 byte 0 reads 0x%x on cpu 0x%llx: not one CPU interface bit",
		     m, (unsigned long long)read_mpidr());
	return m;
}

uint8_t gicv2_priority_mask(const struct gic *g)
{
	uint8_t old = gicv2_get_priority(g, 15), pmask, low;

	gicv2_set_priority(g, 15, 0xff);
	pmask = gicv2_get_priority(g, 15);
	gicv2_set_priority(g, 15, old);
	low = (uint8_t)~pmask;
	if ((pmask & 0xf0) != 0xf0 || (low & (low + 1)) != 0)
		fail("gic: GICD_IPRIORITYR reads 0x%x after writing 0xff: fewer than 4 bits, or not the top bits",
		     pmask);
	return pmask;
}

unsigned gicv2_max_intid(const struct gic *g)
{
	unsigned n = 32 * (GICD_TYPER_ITLINES(mmio_read32(g->dist + GICD_TYPER)) + 1) - 1;

	return n > 1019 ? 1019 : n;
}

static void check_intid(unsigned intid)
{
	if (intid > 1019)
		fail("gic: INTID %u out of range", intid);
}

void gicv2_set_priority(const struct gic *g, unsigned intid, uint8_t prio)
{
	check_intid(intid);
	mmio_write8(g->dist + GICD_IPRIORITYR + intid, prio);
}

uint8_t gicv2_get_priority(const struct gic *g, unsigned intid)
{
	check_intid(intid);
	return mmio_read8(g->dist + GICD_IPRIORITYR + intid);
}

void gicv2_set_target(const struct gic *g, unsigned intid, uint8_t cpu_mask)
{
	if (intid < 32 || intid > 1019)
		fail("gic: INTID %u is not an SPI", intid);
	mmio_write8(g->dist + GICD_ITARGETSR + intid, cpu_mask);
}

bool gicv2_bit(const struct gic *g, uintptr_t bank, unsigned intid)
{
	check_intid(intid);
	return (mmio_read32(g->dist + bank + 4 * (intid / 32)) >> (intid % 32)) & 1;
}

void gicv2_set_bit(const struct gic *g, uintptr_t bank, unsigned intid)
{
	check_intid(intid);
	mmio_write32(g->dist + bank + 4 * (intid / 32), 1U << (intid % 32));
}

void gicv2_enable(const struct gic *g, unsigned intid) { gicv2_set_bit(g, GICD_ISENABLER, intid); }
void gicv2_disable(const struct gic *g, unsigned intid) { gicv2_set_bit(g, GICD_ICENABLER, intid); }
void gicv2_set_pending(const struct gic *g, unsigned intid) { gicv2_set_bit(g, GICD_ISPENDR, intid); }
void gicv2_clear_pending(const struct gic *g, unsigned intid) { gicv2_set_bit(g, GICD_ICPENDR, intid); }

void gicv2_send_sgi(const struct gic *g, unsigned filter, uint8_t targets, unsigned sgi)
{
	if (sgi > 15 || filter > 2)
		fail("gic: bad SGI request (filter %u, SGI %u)", filter, sgi);
	dsb_sy();
	mmio_write32(g->dist + GICD_SGIR, (filter << 24) | ((uint32_t)targets << 16) | sgi);
}

uint32_t gicv2_wait_iar(const struct gic *g, uint64_t ms)
{
	uint64_t deadline = counter_deadline_ms(ms);
	uint32_t iar;

	for (;;) {
		iar = gicv2_read_iar(g);
		if (!gic_intid_spurious(GICV2_IAR_INTID(iar)))
			return iar;
		if (counter_passed(deadline))
			return GICV2_SPURIOUS;
	}
}

uint32_t gicv2_quiet(const struct gic *g, uint64_t ms)
{
	return gicv2_wait_iar(g, ms);
}

uint32_t gicv2_expect_iar(const struct gic *g, uint32_t want, uint64_t ms, const char *what)
{
	uint32_t iar = gicv2_wait_iar(g, ms);

	if (iar == GICV2_SPURIOUS)
		fail("%s: nothing acknowledged within %llu ms, expected IAR 0x%x (RPR 0x%x HPPIR 0x%x PMR 0x%x)",
		     what, (unsigned long long)ms, want, gicv2_rpr(g), gicv2_hppir(g),
		     mmio_read32(g->cpuif + GICC_PMR));
	if ((iar & 0x1fffU) != want)
		fail("%s: IAR 0x%x (INTID %u cpu %u), expected 0x%x (INTID %u cpu %u)", what, iar,
		     GICV2_IAR_INTID(iar), GICV2_IAR_CPUID(iar), want, GICV2_IAR_INTID(want),
		     GICV2_IAR_CPUID(want));
	return iar;
}

void gicv2_expect_quiet(const struct gic *g, uint64_t ms, const char *what)
{
	uint32_t iar = gicv2_quiet(g, ms);

	if (iar != GICV2_SPURIOUS)
		fail("%s: IAR gave 0x%x (INTID %u cpu %u), expected nothing (1023) (RPR now 0x%x)",
		     what, iar, GICV2_IAR_INTID(iar), GICV2_IAR_CPUID(iar), gicv2_rpr(g));
}

void event_stream_enable(void)
{
	uint64_t freq = counter_freq(), ctl;
	unsigned bit = 0;

	/* An event each time bit EVNTI of CNTVCT goes 0 -> 1: every 2^(bit+1) ticks. */
	while (bit < 15 && (2ULL << (bit + 1)) * 10000 <= freq)
		bit++;
	ctl = read_sysreg(cntkctl_el1);
	ctl &= ~((0xfULL << 4) | (1ULL << 3));	/* EVNTI, EVNTDIR */
	ctl |= ((uint64_t)bit << 4) | (1ULL << 2);	/* EVNTEN */
	write_sysreg(cntkctl_el1, ctl);
	isb();
}

void gic_check_vtimer_node(const struct fdt *f, const struct gic *g, const char *who)
{
	uint32_t cells = 3, len, type, num;
	const void *val;
	int node, err;

	node = fdt_find_compatible(f, -1, "arm,armv8-timer");
	if (node < 0)
		fail("%s: no arm,armv8-timer node in the DTB: %s", who, fdt_strerror(node));
	err = fdt_getprop_u32(f, g->node, "#interrupt-cells", &cells);
	if ((err < 0 && err != -FDT_ERR_NOTFOUND) || cells != 3)
		fail("%s: GIC #interrupt-cells unusable (%s, %u), expected 3", who, fdt_strerror(err), cells);
	err = fdt_getprop(f, node, "interrupts", &val, &len);
	if (err < 0)
		fail("%s: arm,armv8-timer has no interrupts property: %s", who, fdt_strerror(err));
	/* <secure phys> <non-secure phys> <virtual> <hyp>: we want entry 2. */
	if (len < 3 * 4 * cells)
		fail("%s: arm,armv8-timer interrupts property too short (%u bytes)", who, len);
	type = fdt_be32((const uint8_t *)val + 2 * 4 * cells);
	num = fdt_be32((const uint8_t *)val + 2 * 4 * cells + 4);
	if (type != 1 || num + 16 != 27)
		fail("%s: DTB virtual timer interrupt is <%u %u>, expected PPI <1 11> (INTID 27)", who, type, num);
}

void wait_for_go(const char *who, unsigned seconds)
{
	uint64_t deadline = counter_deadline_ms(seconds * 1000ULL);

	while (uart_getc() != 'g') {
		if (counter_passed(deadline))
			fail("%s: no 'g' on the UART within %u s", who, seconds);
		cpu_relax();
	}
}
