/*
 * GIC register offsets and CPU interface system register encodings that
 * armvmm names, one definition each, named as in the GIC architecture
 * specifications (GICv2: ARM IHI 0048B; GICv3: ARM IHI 0069). An array of
 * registers (GICD_ISENABLER<n>, ...) is named without its n and defined as
 * the offset of register 0; the save/restore tables (gic_kvm_v2.c,
 * gic_kvm_v3.c) say where each one's register n lives.
 */
#ifndef ARMVMM_GIC_REGS_H
#define ARMVMM_GIC_REGS_H

#include <linux/kvm.h>
#include <stdint.h>

/* Distributor, from its base (both versions unless noted). */
#define GICD_CTLR	0x0000u
#define GICD_IIDR	0x0008u
#define GICD_IGROUPR	0x0080u
#define GICD_ISENABLER	0x0100u
#define GICD_ICENABLER	0x0180u
#define GICD_ISPENDR	0x0200u
#define GICD_ICPENDR	0x0280u
#define GICD_ISACTIVER	0x0300u
#define GICD_ICACTIVER	0x0380u
#define GICD_IPRIORITYR	0x0400u
#define GICD_ITARGETSR	0x0800u		/* GICv2 */
#define GICD_ICFGR	0x0c00u
#define GICD_IGRPMODR	0x0d00u		/* GICv3 */
#define GICD_CPENDSGIR	0x0f10u		/* GICv2 */
#define GICD_SPENDSGIR	0x0f20u		/* GICv2 */
#define GICD_IROUTER	0x6000u		/* GICv3; 64-bit registers, one per INTID */

/* GICv2 CPU interface, from its base. */
#define GICC_CTLR	0x0000u
#define GICC_PMR	0x0004u
#define GICC_BPR	0x0008u
#define GICC_ABPR	0x001cu
#define GICC_APR	0x00d0u

/* GICv3 redistributor, from its RD_base; the SGI frame (SGIs and PPIs) is 64 KiB above. */
#define GICR_CTLR	0x0000u
#define GICR_STATUSR	0x0010u
#define GICR_WAKER	0x0014u
#define GICR_PROPBASER	0x0070u		/* 64-bit */
#define GICR_PENDBASER	0x0078u		/* 64-bit */
#define GICR_SGI_FRAME	0x10000u
#define GICR_IGROUPR0	(GICR_SGI_FRAME + 0x0080u)
#define GICR_ISENABLER0	(GICR_SGI_FRAME + 0x0100u)
#define GICR_ICENABLER0	(GICR_SGI_FRAME + 0x0180u)
#define GICR_ISPENDR0	(GICR_SGI_FRAME + 0x0200u)
#define GICR_ISACTIVER0	(GICR_SGI_FRAME + 0x0300u)
#define GICR_ICACTIVER0	(GICR_SGI_FRAME + 0x0380u)
#define GICR_IPRIORITYR	(GICR_SGI_FRAME + 0x0400u)
#define GICR_ICFGR	(GICR_SGI_FRAME + 0x0c00u)
#define GICR_IGRPMODR0	(GICR_SGI_FRAME + 0x0d00u)

/* GICv3 ITS, from its base: the control frame, then 64 KiB above it the translation frame. */
#define GITS_CTLR	0x0000u		/* 32-bit */
#define GITS_IIDR	0x0004u		/* 32-bit */
#define GITS_TYPER	0x0008u		/* 64-bit, like the rest */
#define GITS_CBASER	0x0080u
#define GITS_CWRITER	0x0088u
#define GITS_CREADR	0x0090u
#define GITS_BASER	0x0100u		/* GITS_BASER<n> at + 8n, n < 8 */
#define GITS_TRANSLATER	0x10040u	/* 32-bit, written by a device: its EventID */
#define GITS_NR_BASERS	8u
#define GITS_CTLR_ENABLED	(1u << 0)
#define GITS_CTLR_QUIESCENT	(1u << 31)
#define GITS_CBASER_SIZE_MASK	0xffull		/* command queue pages (4 KiB) - 1 */
#define GITS_CMD_OFFSET_MASK	0xfffe0ull	/* CREADR/CWRITER: the offset, bits 19:5 */

/* GICv3 CPU interface registers by their op0:op1:CRn:CRm:op2 encoding, as KVM's CPU_SYSREGS attr takes it. */
#define GIC_SYSREG(op0, op1, crn, crm, op2) \
	((uint32_t)(op0) << KVM_REG_ARM64_SYSREG_OP0_SHIFT | (uint32_t)(op1) << KVM_REG_ARM64_SYSREG_OP1_SHIFT | \
	 (uint32_t)(crn) << KVM_REG_ARM64_SYSREG_CRN_SHIFT | (uint32_t)(crm) << KVM_REG_ARM64_SYSREG_CRM_SHIFT | \
	 (uint32_t)(op2) << KVM_REG_ARM64_SYSREG_OP2_SHIFT)
#define ICC_PMR_EL1	GIC_SYSREG(3, 0, 4, 6, 0)
#define ICC_BPR0_EL1	GIC_SYSREG(3, 0, 12, 8, 3)
#define ICC_AP0R0_EL1	GIC_SYSREG(3, 0, 12, 8, 4)	/* ICC_AP0R<n>_EL1 is at + n */
#define ICC_AP1R0_EL1	GIC_SYSREG(3, 0, 12, 9, 0)	/* ICC_AP1R<n>_EL1 is at + n */
#define ICC_BPR1_EL1	GIC_SYSREG(3, 0, 12, 12, 3)
#define ICC_CTLR_EL1	GIC_SYSREG(3, 0, 12, 12, 4)
#define ICC_SRE_EL1	GIC_SYSREG(3, 0, 12, 12, 5)
#define ICC_IGRPEN0_EL1	GIC_SYSREG(3, 0, 12, 12, 6)
#define ICC_IGRPEN1_EL1	GIC_SYSREG(3, 0, 12, 12, 7)

/* ICC_CTLR_EL1 fields: PRIbits 10:8 (priority bits - 1), IDbits 13:11, SEIS 14, A3V 15 are read-only. */
#define ICC_CTLR_PRIBITS_SHIFT	8u
#define ICC_CTLR_PRIBITS_MASK	7u
#define ICC_CTLR_RO_MASK	0xff00ull

/* Counts the architecture fixes. */
#define GIC_NR_SGIS	16u				/* INTIDs 0-15 */
#define GICD_NR_SPENDSGIR (GIC_NR_SGIS * 8u / 32u)	/* one byte of source CPUs per SGI */
#define GICC_NR_APRS	4u				/* GICC_APR0-3 (KVM always has four) */
#define ICC_MAX_APRS	4u				/* ICC_AP<g>R<n>_EL1, n < 4 with 7 priority bits */

#endif
