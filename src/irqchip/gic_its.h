/*
 * The GICv3 ITS (Interrupt Translation Service) of the in-kernel GICv3, for
 * --irqchip gicv3-its. It is part of the irqchip, not a device: it exists
 * only with an in-kernel GICv3, KVM ties it to that vGIC (LPIs, the
 * redistributors' property and pending tables), its state travels in the
 * irqchip's snapshot payload, and its node sits under the GIC's. gic_kvm.c
 * calls these at the GICv3's create, save and restore.
 */
#ifndef ARMVMM_GIC_ITS_H
#define ARMVMM_GIC_ITS_H

#include <stdint.h>

#include "irqchip/irqchip.h"

struct snap_buf;
struct snap_cursor;

/* The ITS registers a snapshot holds (gic_its.c lists them). */
#define GIC_ITS_NR_REGS 14u

struct gic_its_state {
	uint64_t regs[GIC_ITS_NR_REGS];
};

/* KVM_CREATE_DEVICE (KVM_DEV_TYPE_ARM_VGIC_ITS), its frame at ic->its_base, CTRL_INIT. */
int gic_its_create(struct irqchip *ic);
/*
 * Every vCPU out of KVM_RUN, before guest RAM is saved: flush the ITS tables
 * into guest RAM (KVM_DEV_ARM_ITS_SAVE_TABLES), then append the registers.
 * The redistributors' LPI pending tables are the GICv3's to flush
 * (KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, gic_kvm.c).
 */
int gic_its_save(struct irqchip *ic, struct snap_buf *b);
/* Read and check the ITS part of a payload; no KVM involved. 0 or -EINVAL after one error line. */
int gic_its_parse(struct snap_cursor *c, struct gic_its_state *st);
/*
 * On a fresh ITS of a restored GICv3 whose redistributors hold their state
 * (and guest RAM its tables): the registers in the documented order, the
 * tables (KVM_DEV_ARM_ITS_RESTORE_TABLES), GITS_CTLR last.
 */
int gic_its_restore(struct irqchip *ic, const struct gic_its_state *st);
/* The msi-controller node, inside the GIC's node. 0 or -ENOSPC. */
int gic_its_fdt_node(const struct irqchip *ic, void *fdt);
/* See irqchip_signal_msi(). */
int gic_its_signal_msi(struct irqchip *ic, uint32_t devid, uint32_t event_id);

#endif
