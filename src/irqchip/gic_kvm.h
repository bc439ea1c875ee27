/*
 * The in-kernel vGIC through the KVM device API, GICv2 or GICv3: one create,
 * finalize, set_spi, save and restore for both. A backend (gic_kvm_v2.c,
 * gic_kvm_v3.c) is a struct gic_kvm_desc, which says which KVM device, which
 * address attributes and which state table, plus what only its version has
 * (the device tree node; GICv2's legacy path; GICv3's ICC_CTLR_EL1 check).
 */
#ifndef ARMVMM_GIC_KVM_H
#define ARMVMM_GIC_KVM_H

#include <stdbool.h>
#include <stdint.h>

#include "irqchip/gic_kvm_state.h"
#include "irqchip/irqchip.h"

/* A guest-physical region the vGIC is told about (KVM_DEV_ARM_VGIC_GRP_ADDR). */
struct gic_kvm_region {
	uint64_t attr;		/* KVM_VGIC_V2_ADDR_TYPE_DIST, ... */
	const char *name;	/* "distributor", for messages */
};

/*
 * One in-kernel GIC version. Not described here because it is the same for
 * every version: NR_IRQS (IRQCHIP_NR_IRQS, which also sizes the state tables)
 * and the guest addresses (irqchip_layout() puts them in ic).
 */
struct gic_kvm_desc {
	uint32_t dev_type;		/* KVM_DEV_TYPE_ARM_VGIC_V2 / _V3 */
	struct gic_kvm_region dist;	/* at ic->dist_base */
	struct gic_kvm_region cpu;	/* at ic->cpu_base: GICv2 CPU interface, GICv3 redistributors */
	struct gks_gic state;		/* the save/restore table; state.name ("GICv2") is for messages */
	bool by_mpidr;			/* state attributes name vCPUs by MPIDR: save/restore need ic->mpidrs */
	/* Restore: check the parsed values against this host before writing any (NULL: no check). */
	int (*check)(struct irqchip *ic, const uint64_t *values);
};

/* The two descriptions (gic_kvm_v2.c, gic_kvm_v3.c); the ops below pick one by ic->type. */
extern const struct gic_kvm_desc gic_kvm_v2_desc;
extern const struct gic_kvm_desc gic_kvm_v3_desc;

/* Operations for both backends' struct irqchip_ops; each returns 0 or -errno after one error line. */
int gic_kvm_create(struct irqchip *ic);					/* the device, its regions, NR_IRQS */
int gic_kvm_finalize(struct irqchip *ic);				/* KVM_DEV_ARM_VGIC_CTRL_INIT */
int gic_kvm_set_spi(struct irqchip *ic, unsigned int spi, bool level);	/* KVM_IRQ_LINE (the legacy vGIC too) */
int gic_kvm_save(struct irqchip *ic, struct snap_buf *b);
int gic_kvm_restore(struct irqchip *ic, struct snap_cursor *c);
/*
 * The GIC's device tree node, for every backend (gic_user_v2.c's too, through
 * gic_v2_fdt_node): intc@<distributor>, reg = distributor then CPU interface
 * or redistributors, phandle GIC_PHANDLE; redist_regions 0 leaves out
 * #redistributor-regions (GICv2). 0, or -ENOSPC.
 */
int gic_fdt_node(const struct irqchip *ic, void *fdt, const char *compatible, uint32_t redist_regions);

#endif
