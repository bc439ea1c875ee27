/*
 * A userspace model of a GICv2 (ARM IHI 0048B) without the Security
 * Extensions: a Distributor and up to 8 CPU interfaces, IRQ only. It knows
 * nothing of KVM: the glue feeds it MMIO accesses and device line levels and
 * is told, through the line callback, when a CPU's IRQ line goes up or down.
 *
 * Every argument except nr_cpus/nr_irqs may come from the guest; nonsense
 * (bad offsets, widths, CPUs, INTIDs) reads as zero and is otherwise ignored.
 * Locking: see the top of gicv2_model.c.
 */
#ifndef ARMVMM_GICV2_MODEL_H
#define ARMVMM_GICV2_MODEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define GICV2_MAX_CPUS 8u		/* CPU interfaces a GICv2 has */
#define GICV2_DIST_SIZE 0x1000ull	/* the Distributor's register frame */

#define GICV2_MAX_IRQS 992u		/* largest multiple of 32 below the 1020 limit */
#define GICV2_IRQ_WORDS 32u		/* bitmap words for INTIDs 0..1023 */
#define GICV2_SPURIOUS 1023u

/* A CPU's IRQ line changed. Called with the model's lock held: it must not call into the model. */
typedef void gicv2_line_fn(void *opaque, unsigned int cpu, bool level);

/* What one CPU sees banked: INTIDs 0-31 in the Distributor, and its CPU interface. */
struct gicv2_cpu_state {
	uint32_t enabled;		/* bit n: INTID n enabled */
	uint32_t pending;		/* PPI pending latches (SGI pending is sgi_pending) */
	uint32_t active;
	uint32_t line;			/* PPI input levels (bits 16-31) */
	uint32_t edge;			/* 1: edge-triggered; SGIs always are */
	uint8_t priority[32];
	uint8_t sgi_pending[16];	/* per SGI: bit s set = pending from source CPU s */
	/* CPU interface */
	uint32_t ctlr;			/* GICC_CTLR: Enable (0), EOImodeNS (9) */
	uint32_t pmr;			/* GICC_PMR */
	uint32_t bpr;			/* GICC_BPR */
	uint32_t apr;			/* GICC_APR0: bit n = group priority n << 3 is active */
};

/* All guest-visible state (plus device line levels): a snapshot copies this. */
struct gicv2_state {
	uint32_t ctlr;				/* GICD_CTLR.Enable */
	/* SPIs; word 0 (INTIDs 0-31) is unused here, it lives in cpu[] */
	uint32_t enabled[GICV2_IRQ_WORDS];
	uint32_t pending[GICV2_IRQ_WORDS];	/* pending latches */
	uint32_t active[GICV2_IRQ_WORDS];
	uint32_t line[GICV2_IRQ_WORDS];		/* input levels */
	uint32_t edge[GICV2_IRQ_WORDS];		/* 1: edge-triggered */
	uint8_t priority[GICV2_IRQ_WORDS * 32];
	uint8_t targets[GICV2_IRQ_WORDS * 32];	/* GICD_ITARGETSR CPU masks */
	struct gicv2_cpu_state cpu[GICV2_MAX_CPUS];
};

struct gicv2_model {
	pthread_mutex_t lock;		/* guards everything below */
	unsigned int nr_cpus;
	unsigned int nr_irqs;		/* incl. the 32 private INTIDs */
	gicv2_line_fn *line_fn;
	void *opaque;
	bool line_level[GICV2_MAX_CPUS];	/* last level passed to line_fn */
	struct gicv2_state st;
};

/*
 * nr_cpus 1..8; nr_irqs a multiple of 32 in 32..992 (armvmm uses 128). Other
 * values are clamped into range (with a warning). fn may be NULL.
 */
void gicv2_model_init(struct gicv2_model *g, unsigned int nr_cpus, unsigned int nr_irqs,
		      gicv2_line_fn *fn, void *opaque);
void gicv2_model_destroy(struct gicv2_model *g);

/* MMIO: off relative to the region base, len 1/2/4/8, little-endian data, cpu = accessing vCPU. */
void gicv2_dist_read(struct gicv2_model *g, unsigned int cpu, uint64_t off, uint8_t *data, unsigned int len);
void gicv2_dist_write(struct gicv2_model *g, unsigned int cpu, uint64_t off, const uint8_t *data,
		      unsigned int len);
void gicv2_cpuif_read(struct gicv2_model *g, unsigned int cpu, uint64_t off, uint8_t *data, unsigned int len);
void gicv2_cpuif_write(struct gicv2_model *g, unsigned int cpu, uint64_t off, const uint8_t *data,
		       unsigned int len);

/* Snapshots: copy the state out; load one (sanitised to nr_cpus/nr_irqs, lines re-evaluated). */
void gicv2_model_get_state(struct gicv2_model *g, struct gicv2_state *out);
int gicv2_model_set_state(struct gicv2_model *g, const struct gicv2_state *in);

/* Device inputs. PPIs: intid 16..31 of CPU cpu. SPIs: 0-based, INTID 32 + spi. */
void gicv2_set_ppi_level(struct gicv2_model *g, unsigned int cpu, unsigned int intid, bool level);
void gicv2_set_spi_level(struct gicv2_model *g, unsigned int spi, bool level);

#endif
