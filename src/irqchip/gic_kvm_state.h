/*
 * Snapshot save/restore of the in-kernel vGIC (called from gic_kvm.c; the
 * tables are in gic_kvm_v2.c and gic_kvm_v3.c) through KVM_GET_DEVICE_ATTR /
 * KVM_SET_DEVICE_ATTR on the vGIC device fd.
 *
 * Each backend describes its state as ONE table of rows (struct gks_reg):
 * a register or an array of registers, the attribute space it lives in,
 * whether it is banked (once per vCPU) and, for set/clear pairs, the clear
 * register. The same table drives saving, the payload layout and restoring:
 *
 *   payload = u32 nr_cpus, u32 nr_irqs, then for each row in table order,
 *             for each vCPU (banked rows) or once, for each register of the
 *             row: its value (u32, or u64 for 64-bit rows), little-endian.
 *
 * Restore writes the rows in table order (banked rows once per vCPU), each
 * row with a clear register by writing all-ones to it first: so a table
 * lists GICD_CTLR before every pending row. The rules and their reasons are
 * at the top of gic_kvm_state.c.
 */
#ifndef ARMVMM_GIC_KVM_STATE_H
#define ARMVMM_GIC_KVM_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "irqchip/irqchip.h"

/* Which attribute group a row lives in, and how its attr is built. */
enum gks_space {
	GKS_V2_DIST,	/* GRP_DIST_REGS: vCPU index << 32 | offset; u32 */
	GKS_V2_CPU,	/* GRP_CPU_REGS: vCPU index << 32 | offset; u32 */
	GKS_V3_DIST,	/* GRP_DIST_REGS: offset (the MPIDR field is ignored); u32 */
	GKS_V3_REDIST,	/* GRP_REDIST_REGS: MPIDR affinity << 32 | offset; u32 */
	GKS_V3_SYSREG,	/* GRP_CPU_SYSREGS: MPIDR affinity << 32 | op0:op1:CRn:CRm:op2; u64 */
	GKS_V3_LEVEL,	/* GRP_LEVEL_INFO: MPIDR affinity << 32 | LINE_LEVEL << 10 | INTID; u32 bitmap */
};

#define GKS_BANKED (1u << 0)	/* one set of values per vCPU, accessed with that vCPU's id */
#define GKS_64BIT (1u << 1)	/* 64-bit register behind a 32-bit attr: low word at +0, high at +4; u64 in the payload */
#define GKS_NO_SGI (1u << 2)	/* GICv2 GICD_ISPENDR0: SGI bits (15:0) restored through GICD_SPENDSGIR only */
#define GKS_APR (1u << 3)	/* ICC_AP<g>R<n>_EL1: exists only for n < gks_nr_aprs(ICC_CTLR_EL1); else 0 */
#define GKS_PRIBITS (1u << 4)	/* ICC_CTLR_EL1: its PRIbits field says how many APRs exist */

/*
 * One row. Register number n (first <= n < first + count) is at
 * base + n * 4 (32-bit), base + n * 8 (GKS_64BIT), base + n (GKS_V3_SYSREG:
 * the APRs are consecutive encodings), or covers INTIDs 32n..32n+31
 * (GKS_V3_LEVEL). In names, '#' stands for n.
 */
struct gks_reg {
	const char *name;
	const char *clear_name;	/* the clear register of a set/clear pair, or NULL */
	enum gks_space space;
	uint32_t base;
	uint32_t clear_base;
	unsigned int first, count;
	unsigned int flags;
};

struct gks_gic {
	const char *name;		/* "GICv2" / "GICv3", for messages */
	const struct gks_reg *regs;
	unsigned int nr_regs;
};

/* Per-interrupt register arrays of 32-bit words, bpi bits per interrupt: which words hold what. */
#define GKS_PRIVATE_WORDS(bpi) (GIC_SPI_BASE * (bpi) / 32u)	/* INTIDs 0-31: words 0.. */
#define GKS_SPI_FIRST(bpi) GKS_PRIVATE_WORDS(bpi)		/* the SPIs start right after them */
#define GKS_SPI_WORDS(bpi) (IRQCHIP_NR_SPIS * (bpi) / 32u)

/*
 * Save: read every row (APRs beyond PRIbits are stored as 0) and append the
 * payload to b. ic->dev_fd is the vGIC device (gic_kvm.c checks) and every
 * vCPU is out of KVM_RUN. 0, or -errno after one error line.
 */
int gks_save(const struct gks_gic *g, struct irqchip *ic, struct snap_buf *b);
/*
 * Parse and check a payload for a VM with nr_cpus vCPUs; no KVM involved.
 * 0 and *out (malloc'ed, one value per register of the table), or -EINVAL /
 * -ENOMEM after one error line. The cursor is left after the table's values
 * (the caller reads what follows, e.g. an ITS, and checks the end).
 */
int gks_parse(const struct gks_gic *g, unsigned int nr_cpus, struct snap_cursor *c, uint64_t **out);
/* Write parsed values into the vGIC (ic->dev_fd), rows in table order. 0, or -errno after one error line. */
int gks_apply(const struct gks_gic *g, struct irqchip *ic, const uint64_t *values);

/* Read register n of row r for vCPU cpu from KVM. 0, or -errno after one error line. */
int gks_get(const struct gks_gic *g, const struct irqchip *ic, const struct gks_reg *r, unsigned int cpu,
	    unsigned int n, uint64_t *val);
/* Where ICC_CTLR_EL1 of vCPU cpu sits among the parsed values (SIZE_MAX: this GIC has no such row). */
size_t gks_pribits_index(const struct gks_gic *g, unsigned int nr_cpus, unsigned int cpu);

#endif
