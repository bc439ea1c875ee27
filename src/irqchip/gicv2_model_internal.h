/* What gicv2_model.c shares with gicv2_model_state.c (the model's snapshots), nobody else. */
#ifndef ARMVMM_GICV2_MODEL_INTERNAL_H
#define ARMVMM_GICV2_MODEL_INTERNAL_H

#include <stdint.h>

#include "irqchip/gicv2_model.h"

#define PRIO_MASK 0xf8u		/* 5 implemented priority bits */
#define BPR_MIN 2u
#define IDLE_PRIORITY 0x100u	/* lower than any real priority; RPR shows 0xFF */
#define CTLR_ENABLE (1u << 0)
#define CTLR_EOIMODE_NS (1u << 9)
#define GICD_IIDR_VALUE 0x5600043bu
#define GICC_IIDR_VALUE 0x0562043bu

/* One bit per CPU this GIC has. */
uint32_t gicv2_cpu_mask(const struct gicv2_model *g);
/* 32-interrupt words the configured number of lines needs. */
unsigned int gicv2_nr_words(const struct gicv2_model *g);
/* Recompute every CPU's IRQ output and signal the changes (lock held). */
void gicv2_update_lines(struct gicv2_model *g);
/* A CPU interface and its banked state as after reset. */
void gicv2_reset_cpu(struct gicv2_cpu_state *c);

#endif
