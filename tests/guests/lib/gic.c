/*
 * GICv2 (memory-mapped CPU interface) and GICv3 (system-register CPU
 * interface, single security state as KVM's vGICv3 provides: DS=1) support
 * for the test guests.
 */
#include "gic.h"

/* Distributor (both versions) */
#define GICD_CTLR 0x000
#define GICD_ISENABLER 0x100
#define GICD_IPRIORITYR 0x400
#define GICD_PIDR2 0xffe8

#define GICD_CTLR_V2_ENABLE (1U << 0)
#define GICD_CTLR_V3_ENABLE_G1 (1U << 1)
#define GICD_CTLR_V3_ARE (1U << 4)
#define GICD_CTLR_V3_RWP (1U << 31)

/* GICv2 CPU interface */
#define GICC_CTLR 0x000
#define GICC_PMR 0x004
#define GICC_IAR 0x00c
#define GICC_EOIR 0x010
#define GICC_CTLR_ENABLE (1U << 0)

/* GICv3 redistributor: RD_base frame, then the SGI_base frame at +64 KiB */
#define GICR_TYPER 0x0008
#define GICR_WAKER 0x0014
#define GICR_PIDR2 0xffe8
#define GICR_TYPER_VLPIS (1ULL << 1)
#define GICR_TYPER_LAST (1ULL << 4)
#define GICR_WAKER_PROCESSOR_SLEEP (1U << 1)
#define GICR_WAKER_CHILDREN_ASLEEP (1U << 2)
#define GICR_SGI_BASE 0x10000
#define GICR_IGROUPR0 0x0080
#define GICR_ISENABLER0 0x0100
#define GICR_IPRIORITYR 0x0400
#define GICR_FRAME_SIZE 0x20000ULL	/* RD + SGI frames */
#define GICR_FRAME_SIZE_VLPI 0x40000ULL	/* GICv4: + VLPI + reserved */
#define GICR_MAX_FRAMES 4096

/* GICv3 CPU interface system registers, by encoding (no -march flags needed). */
#define ICC_PMR_EL1 S3_0_C4_C6_0
#define ICC_IAR1_EL1 S3_0_C12_C12_0
#define ICC_EOIR1_EL1 S3_0_C12_C12_1
#define ICC_BPR1_EL1 S3_0_C12_C12_3
#define ICC_CTLR_EL1 S3_0_C12_C12_4
#define ICC_SRE_EL1 S3_0_C12_C12_5
#define ICC_IGRPEN1_EL1 S3_0_C12_C12_7
/*
 * read_sysreg/write_sysreg stringify their argument; going through one more
 * macro level expands ICC_* to the S3_... encoding first.
 */
#define read_icc(reg) read_sysreg(reg)
#define write_icc(reg, v) write_sysreg(reg, v)

#define ICC_SRE_SRE (1ULL << 0)
#define ICC_CTLR_EOIMODE (1ULL << 1)

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
	*what = "GICv2 reg[1] (CPU interface)";
	err = fdt_get_reg(f, node, 1, &addr, &size);
	if (err < 0)
		return err;
	g->cpuif = (uintptr_t)addr;
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

static uintptr_t gicv3_find_rd(const struct gic *g)
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

static void gicv3_init(struct gic *g)
{
	uint32_t v, pidr2;
	uint64_t sre;

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

	/* This CPU's redistributor: wake it up. */
	g->rd = gicv3_find_rd(g);
	v = mmio_read32(g->rd + GICR_WAKER);
	mmio_write32(g->rd + GICR_WAKER, v & ~GICR_WAKER_PROCESSOR_SLEEP);
	wait_clear32(g->rd + GICR_WAKER, GICR_WAKER_CHILDREN_ASLEEP, "GICR_WAKER.ChildrenAsleep");

	/* System-register CPU interface. */
	sre = read_icc(ICC_SRE_EL1);
	write_icc(ICC_SRE_EL1, sre | ICC_SRE_SRE);
	isb();
	sre = read_icc(ICC_SRE_EL1);
	if (!(sre & ICC_SRE_SRE))
		fail("gic: ICC_SRE_EL1.SRE does not stick (0x%llx)", (unsigned long long)sre);
	write_icc(ICC_PMR_EL1, GIC_PRIORITY_MASK);
	write_icc(ICC_BPR1_EL1, 0);
	write_icc(ICC_CTLR_EL1, read_icc(ICC_CTLR_EL1) & ~ICC_CTLR_EOIMODE);
	write_icc(ICC_IGRPEN1_EL1, 1);
	isb();
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
