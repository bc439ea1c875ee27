/*
 * Minimal GICv2 / GICv3 driver for the test guests: enough to route one
 * PPI to the calling CPU as an IRQ and acknowledge / end it.
 */
#ifndef GUEST_GIC_H
#define GUEST_GIC_H

#include "guest.h"

#define GIC_MAX_REDIST_REGIONS 8

struct gic {
	int version;		/* 2 or 3 */
	int node;		/* DT node of the interrupt controller */
	uintptr_t dist;		/* GICD */
	uintptr_t cpuif;	/* v2: GICC */
	unsigned nr_redist;	/* v3: redistributor regions */
	uintptr_t redist_base[GIC_MAX_REDIST_REGIONS];
	uint64_t redist_size[GIC_MAX_REDIST_REGIONS];
	uintptr_t rd;		/* v3: this CPU's RD_base (after gic_init_cpu) */
};

/*
 * Finds the interrupt controller in the DT ("arm,gic-v3", or one of the
 * GICv2 compatibles such as "arm,cortex-a15-gic").  Returns 0 or
 * -FDT_ERR_*; *what says which step failed.
 */
int gic_probe(const struct fdt *f, struct gic *g, const char **what);

/* Distributor on, then this CPU's interface on (PMR 0xf0).  FAILs on error. */
void gic_init(struct gic *g);
/* Enables a PPI for this CPU at the given priority (group 1 on v3). */
void gic_enable_ppi(struct gic *g, unsigned intid, uint8_t prio);

uint32_t gic_ack(const struct gic *g);		/* raw IAR value */
void gic_eoi(const struct gic *g, uint32_t iar);	/* pass the IAR value back */

static inline unsigned gic_iar_intid(const struct gic *g, uint32_t iar)
{
	return g->version == 2 ? (iar & 0x3ffU) : (iar & 0xffffffU);
}

static inline bool gic_intid_spurious(unsigned intid)
{
	return intid >= 1020 && intid <= 1023;
}

#endif
