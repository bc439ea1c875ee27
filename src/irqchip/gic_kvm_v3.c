/*
 * Backend: the in-kernel GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3). gic_kvm.c does the
 * work, given the description below (device type, address attributes, state
 * table); this file adds the ICC_CTLR_EL1 check on restore and the device
 * tree node's compatible string.
 */
#include <errno.h>
#include <linux/kvm.h>

#include "irqchip/gic_kvm.h"
#include "irqchip/gic_regs.h"
#include "irqchip/irqchip.h"
#include "core/log.h"

/*
 * Snapshot state of the in-kernel GICv3. Facts from
 * Documentation/virt/kvm/devices/arm-vgic-v3.rst:
 *  - DIST_REGS and REDIST_REGS values are u32; a 64-bit register (IROUTER,
 *    PROPBASER, PENDBASER) is accessed as its low word at its offset and its
 *    high word at offset + 4 (rows flagged GKS_64BIT; one u64 in the payload).
 *  - REDIST_REGS, CPU_SYSREGS and LEVEL_INFO name the vCPU by its MPIDR
 *    affinity (Aff3 in attr bits 63:56, Aff2 55:48, Aff1 47:40, Aff0 39:32):
 *    ic->mpidrs[], so the vCPUs' MPIDR_EL1 must be restored before this.
 *  - CPU_SYSREGS values are u64 (never a 32-bit variable); attr bits 15:0
 *    are the op0:op1:CRn:CRm:op2 encoding.
 *  - Through this interface GICD_ISPENDR / GICR_ISPENDR0 read and write the
 *    pending latch itself (a write sets the latch to exactly the bits
 *    written), GICD_ICPENDR / GICR_ICPENDR0 are RAZ/WI, and the input level
 *    of level-triggered lines is separate state in LEVEL_INFO (u32 bitmaps
 *    of 32 lines; PPIs per vCPU, SPIs the same whatever the MPIDR; SGIs
 *    RAZ/WI). So pending rows have no clear register here, and the level
 *    rows come before the pending rows.
 *  - GICD_IIDR is read and written back before any other register.
 *  - ICC_AP0R<n>_EL1 / ICC_AP1R<n>_EL1 exist for n < 1, 2 or 4 with 5, 6 or
 *    7 priority bits (ICC_CTLR_EL1.PRIbits + 1); KVM refuses the others.
 *  - The distributor's words for INTIDs 0-31 are RAZ/WI (affinity routing
 *    is always on): the distributor rows cover the SPIs only, the private
 *    interrupts live in each redistributor's SGI frame (RD base + 64 KiB).
 *
 * Restore order (the rows below, top to bottom; see gic_kvm_state.c):
 * GICD_IIDR; GICD_CTLR with its saved value (ARE and the group enables), so
 * the distributor is enabled before any pending state is written; SPI
 * group, config, priority, routing, group modifier, enables (clear-all then
 * set), line levels, pending latches, active (clear-all then set); per
 * redistributor STATUSR, WAKER, PROPBASER, PENDBASER, then GICR_CTLR, then
 * the SGI frame in the same order as the distributor; per CPU interface
 * ICC_SRE_EL1, ICC_CTLR_EL1 (after checking its read-only fields against
 * this host's), PMR, BPR0, BPR1, the APRs, IGRPEN0 and IGRPEN1 last.
 *
 * LPIs exist only with an ITS (--irqchip gicv3-its; KVM keeps
 * GICR_CTLR.EnableLPIs clear without one). Their configuration and pending
 * state live in guest RAM (the tables GICR_PROPBASER and GICR_PENDBASER
 * point at), so the rows above carry only those two registers and
 * GICR_CTLR, restored in that order before the ITS (gic_its.c); KVM's
 * cached pending bits are flushed into the pending tables on save
 * (KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, gic_kvm.c) and read back when the
 * ITS restores its tables.
 */
static const struct gks_reg gic_v3_state_regs[] = {
	{ "GICD_IIDR", NULL, GKS_V3_DIST, GICD_IIDR, 0, 0, 1, 0 },
	{ "GICD_CTLR", NULL, GKS_V3_DIST, GICD_CTLR, 0, 0, 1, 0 },
	/* Distributor: SPIs */
	{ "GICD_IGROUPR#", NULL, GKS_V3_DIST, GICD_IGROUPR, 0, GKS_SPI_FIRST(1), GKS_SPI_WORDS(1), 0 },
	{ "GICD_ICFGR#", NULL, GKS_V3_DIST, GICD_ICFGR, 0, GKS_SPI_FIRST(2), GKS_SPI_WORDS(2), 0 },
	{ "GICD_IPRIORITYR#", NULL, GKS_V3_DIST, GICD_IPRIORITYR, 0, GKS_SPI_FIRST(8), GKS_SPI_WORDS(8), 0 },
	{ "GICD_IROUTER#", NULL, GKS_V3_DIST, GICD_IROUTER, 0, GIC_SPI_BASE, IRQCHIP_NR_SPIS, GKS_64BIT },
	{ "GICD_IGRPMODR#", NULL, GKS_V3_DIST, GICD_IGRPMODR, 0, GKS_SPI_FIRST(1), GKS_SPI_WORDS(1), 0 },
	{ "GICD_ISENABLER#", "GICD_ICENABLER#", GKS_V3_DIST, GICD_ISENABLER, GICD_ICENABLER, GKS_SPI_FIRST(1),
	  GKS_SPI_WORDS(1), 0 },
	{ "LEVEL_INFO", NULL, GKS_V3_LEVEL, 0, 0, GKS_SPI_FIRST(1), GKS_SPI_WORDS(1), 0 },
	{ "GICD_ISPENDR#", NULL, GKS_V3_DIST, GICD_ISPENDR, 0, GKS_SPI_FIRST(1), GKS_SPI_WORDS(1), 0 },
	{ "GICD_ISACTIVER#", "GICD_ICACTIVER#", GKS_V3_DIST, GICD_ISACTIVER, GICD_ICACTIVER, GKS_SPI_FIRST(1),
	  GKS_SPI_WORDS(1), 0 },
	/* Redistributors: RD frame */
	{ "GICR_STATUSR", NULL, GKS_V3_REDIST, GICR_STATUSR, 0, 0, 1, GKS_BANKED },
	{ "GICR_WAKER", NULL, GKS_V3_REDIST, GICR_WAKER, 0, 0, 1, GKS_BANKED },
	{ "GICR_PROPBASER", NULL, GKS_V3_REDIST, GICR_PROPBASER, 0, 0, 1, GKS_BANKED | GKS_64BIT },
	{ "GICR_PENDBASER", NULL, GKS_V3_REDIST, GICR_PENDBASER, 0, 0, 1, GKS_BANKED | GKS_64BIT },
	{ "GICR_CTLR", NULL, GKS_V3_REDIST, GICR_CTLR, 0, 0, 1, GKS_BANKED },
	/* Redistributors: SGI frame (SGIs and PPIs) */
	{ "GICR_IGROUPR0", NULL, GKS_V3_REDIST, GICR_IGROUPR0, 0, 0, 1, GKS_BANKED },
	{ "GICR_ICFGR#", NULL, GKS_V3_REDIST, GICR_ICFGR, 0, 0, GKS_PRIVATE_WORDS(2), GKS_BANKED },
	{ "GICR_IPRIORITYR#", NULL, GKS_V3_REDIST, GICR_IPRIORITYR, 0, 0, GKS_PRIVATE_WORDS(8), GKS_BANKED },
	{ "GICR_IGRPMODR0", NULL, GKS_V3_REDIST, GICR_IGRPMODR0, 0, 0, 1, GKS_BANKED },
	{ "GICR_ISENABLER0", "GICR_ICENABLER0", GKS_V3_REDIST, GICR_ISENABLER0, GICR_ICENABLER0, 0, 1, GKS_BANKED },
	{ "LEVEL_INFO", NULL, GKS_V3_LEVEL, 0, 0, 0, 1, GKS_BANKED },
	{ "GICR_ISPENDR0", NULL, GKS_V3_REDIST, GICR_ISPENDR0, 0, 0, 1, GKS_BANKED },
	{ "GICR_ISACTIVER0", "GICR_ICACTIVER0", GKS_V3_REDIST, GICR_ISACTIVER0, GICR_ICACTIVER0, 0, 1, GKS_BANKED },
	/* CPU interfaces */
	{ "ICC_SRE_EL1", NULL, GKS_V3_SYSREG, ICC_SRE_EL1, 0, 0, 1, GKS_BANKED },
	{ "ICC_CTLR_EL1", NULL, GKS_V3_SYSREG, ICC_CTLR_EL1, 0, 0, 1, GKS_BANKED | GKS_PRIBITS },
	{ "ICC_PMR_EL1", NULL, GKS_V3_SYSREG, ICC_PMR_EL1, 0, 0, 1, GKS_BANKED },
	{ "ICC_BPR0_EL1", NULL, GKS_V3_SYSREG, ICC_BPR0_EL1, 0, 0, 1, GKS_BANKED },
	{ "ICC_BPR1_EL1", NULL, GKS_V3_SYSREG, ICC_BPR1_EL1, 0, 0, 1, GKS_BANKED },
	{ "ICC_AP0R#_EL1", NULL, GKS_V3_SYSREG, ICC_AP0R0_EL1, 0, 0, ICC_MAX_APRS, GKS_BANKED | GKS_APR },
	{ "ICC_AP1R#_EL1", NULL, GKS_V3_SYSREG, ICC_AP1R0_EL1, 0, 0, ICC_MAX_APRS, GKS_BANKED | GKS_APR },
	{ "ICC_IGRPEN0_EL1", NULL, GKS_V3_SYSREG, ICC_IGRPEN0_EL1, 0, 0, 1, GKS_BANKED },
	{ "ICC_IGRPEN1_EL1", NULL, GKS_V3_SYSREG, ICC_IGRPEN1_EL1, 0, 0, 1, GKS_BANKED },
};

static int check_icc_ctlr(struct irqchip *ic, const uint64_t *values);

const struct gic_kvm_desc gic_kvm_v3_desc = {
	.dev_type = KVM_DEV_TYPE_ARM_VGIC_V3,
	.dist = { KVM_VGIC_V3_ADDR_TYPE_DIST, "distributor" },
	/* One contiguous redistributor region; KVM sizes it from the vCPU count at CTRL_INIT. */
	.cpu = { KVM_VGIC_V3_ADDR_TYPE_REDIST, "redistributor" },
	.state = { "GICv3", gic_v3_state_regs, sizeof(gic_v3_state_regs) / sizeof(gic_v3_state_regs[0]) },
	.by_mpidr = true,
	.check = check_icc_ctlr,
};

/*
 * The read-only fields of ICC_CTLR_EL1 (priority and ID bits, SEIS, A3V)
 * describe the host's GIC: a snapshot is only restorable where they match.
 * KVM would refuse some mismatches with EINVAL; checking first, for every
 * vCPU before anything is written, gives one clear error.
 */
static int check_icc_ctlr(struct irqchip *ic, const uint64_t *values)
{
	const struct gks_gic *g = &gic_kvm_v3_desc.state;
	const struct gks_reg *row = NULL;

	for (unsigned int r = 0; r < g->nr_regs; r++)
		if (g->regs[r].flags & GKS_PRIBITS)
			row = &g->regs[r];
	for (unsigned int cpu = 0; row && cpu < ic->nr_cpus; cpu++) {
		uint64_t here, saved = values[gks_pribits_index(g, ic->nr_cpus, cpu)];
		int ret = gks_get(g, ic, row, cpu, 0, &here);
		if (ret < 0)
			return ret;
		if ((here ^ saved) & ICC_CTLR_RO_MASK) {
			pr_err("snapshot from an incompatible host: ICC_CTLR_EL1 PRIbits/IDbits differ (vCPU %u: snapshot 0x%llx, this host 0x%llx)",
			       cpu, (unsigned long long)saved, (unsigned long long)here);
			return -EINVAL;
		}
	}
	return 0;
}

/* With an ITS, gic_fdt_node adds its msi-controller node inside this one. */
static int gic_v3_fdt_node(const struct irqchip *ic, void *fdt)
{
	return gic_fdt_node(ic, fdt, "arm,gic-v3", 1);	/* the one redistributor region gic_kvm_v3_desc sets */
}

const struct irqchip_ops gic_kvm_v3_ops = {
	.name = "gicv3",
	.create = gic_kvm_create,
	.finalize = gic_kvm_finalize,
	.set_spi = gic_kvm_set_spi,
	.fdt_node = gic_v3_fdt_node,
	.save = gic_kvm_save,
	.restore = gic_kvm_restore,
};
