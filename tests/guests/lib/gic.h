/*
 * Minimal GICv2 / GICv3 driver for the test guests: enough to route one
 * PPI to the calling CPU as an IRQ and acknowledge / end it; plus the
 * GICv2 register map and the helpers the GICv2 test guests (sgi, prio,
 * active, level, irqbench) share, and the GICv3 register map and per-CPU
 * helpers snap_gic uses.
 */
#ifndef GUEST_GIC_H
#define GUEST_GIC_H

#include "guest.h"

#define GIC_MAX_REDIST_REGIONS 8

/* GICv2 distributor (GICD_CTLR/ISENABLER/IPRIORITYR are at the same offsets on v3) */
#define GICD_CTLR 0x000
#define GICD_TYPER 0x004
#define GICD_IIDR 0x008
#define GICD_IGROUPR 0x080
#define GICD_ISENABLER 0x100
#define GICD_ICENABLER 0x180
#define GICD_ISPENDR 0x200
#define GICD_ICPENDR 0x280
#define GICD_ISACTIVER 0x300
#define GICD_ICACTIVER 0x380
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR 0x800
#define GICD_ICFGR 0xc00
#define GICD_SGIR 0xf00
#define GICD_CPENDSGIR 0xf10
#define GICD_SPENDSGIR 0xf20

#define GICD_TYPER_ITLINES(v) ((v) & 0x1fU)		/* max INTID = 32 * (N + 1) - 1 */
#define GICD_TYPER_CPUS(v) ((((v) >> 5) & 0x7U) + 1)	/* CPU interfaces */

/* GICD_SGIR: TargetListFilter [25:24], CPUTargetList [23:16], SGIINTID [3:0] */
#define GICD_SGIR_LIST 0U	/* the CPUs in CPUTargetList */
#define GICD_SGIR_OTHERS 1U	/* every CPU but the requester */
#define GICD_SGIR_SELF 2U	/* the requester only */

/* GICv2 CPU interface (the DIR register is in the second 4 KiB page) */
#define GICC_CTLR 0x000
#define GICC_PMR 0x004
#define GICC_BPR 0x008
#define GICC_IAR 0x00c
#define GICC_EOIR 0x010
#define GICC_RPR 0x014
#define GICC_HPPIR 0x018
#define GICC_APR0 0x0d0
#define GICC_IIDR 0x0fc
#define GICC_DIR 0x1000

#define GICC_CTLR_ENABLE (1U << 0)
/* EOImodeNS in the Non-secure view, EOImodeS without Security Extensions, EOImode on a GICV */
#define GICC_CTLR_EOIMODE (1U << 9)

/* GICv3 distributor: one 64-bit routing register per SPI (GICD_IROUTER + 8 * INTID) */
#define GICD_IROUTER 0x6000

/* GICv3 redistributor: the RD_base frame, then the SGI_base frame at +64 KiB */
#define GICR_CTLR 0x0000
#define GICR_TYPER 0x0008
#define GICR_WAKER 0x0014
#define GICR_SGI_BASE 0x10000
/* in the SGI_base frame: the SGI/PPI halves of the GICD_* banks */
#define GICR_IGROUPR0 0x0080
#define GICR_ISENABLER0 0x0100
#define GICR_ICENABLER0 0x0180
#define GICR_ISPENDR0 0x0200
#define GICR_ICPENDR0 0x0280
#define GICR_ISACTIVER0 0x0300
#define GICR_ICACTIVER0 0x0380
#define GICR_IPRIORITYR 0x0400
#define GICR_ICFGR0 0x0c00

/* GICv3 CPU interface system registers, by encoding (no -march flags needed). */
#define ICC_PMR_EL1 S3_0_C4_C6_0
#define ICC_AP1R0_EL1 S3_0_C12_C9_0
#define ICC_RPR_EL1 S3_0_C12_C11_3
#define ICC_SGI1R_EL1 S3_0_C12_C11_5
#define ICC_IAR1_EL1 S3_0_C12_C12_0
#define ICC_EOIR1_EL1 S3_0_C12_C12_1
#define ICC_HPPIR1_EL1 S3_0_C12_C12_2
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

#define GICV2_SPURIOUS 1023U
#define GICV2_IAR_INTID(iar) ((iar) & 0x3ffU)
#define GICV2_IAR_CPUID(iar) (((iar) >> 10) & 0x7U)
#define GICV2_IDLE_PRIORITY 0xffU	/* GICC_RPR with nothing active */

struct gic {
	int version;		/* 2 or 3 */
	int node;		/* DT node of the interrupt controller */
	uintptr_t dist;		/* GICD */
	uintptr_t cpuif;	/* v2: GICC */
	uint64_t dist_size;	/* sizes of the two "reg" entries (v2) */
	uint64_t cpuif_size;
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

/* ---- GICv3 helpers for guests that drive several CPUs (v3 only) ---- */

/* GICD_PIDR2 must say GICv3/v4; then ARE + EnableGrp1, checked.  FAILs otherwise. */
void gicv3_dist_enable(const struct gic *g);
/* This CPU's RD_base: the redistributor whose GICR_TYPER affinity matches MPIDR_EL1. */
uintptr_t gicv3_find_rd(const struct gic *g);
/*
 * This CPU's redistributor woken and its system-register CPU interface on
 * (SRE, PMR, BPR1 0, EOImode 0, Group 1 enabled).  Returns its RD_base.
 */
uintptr_t gicv3_cpu_enable(const struct gic *g, uint8_t pmr);
/* ICC_SGI1R_EL1: SGI `sgi` (Group 1) to the one CPU with this MPIDR affinity. */
void gicv3_send_sgi(uint64_t mpidr, unsigned sgi);

static inline uint32_t gicv3_read_iar(void)
{
	uint32_t iar = (uint32_t)read_icc(ICC_IAR1_EL1);

	dsb_sy();
	return iar & 0xffffffU;
}

static inline void gicv3_write_eoir(uint32_t iar)
{
	write_icc(ICC_EOIR1_EL1, iar);
	isb();
}

static inline uint32_t gicv3_rpr(void) { return (uint32_t)read_icc(ICC_RPR_EL1) & 0xffU; }
static inline uint32_t gicv3_hppir(void) { return (uint32_t)read_icc(ICC_HPPIR1_EL1) & 0xffffffU; }
static inline uint32_t gicv3_pmr(void) { return (uint32_t)read_icc(ICC_PMR_EL1) & 0xffU; }

/* ---- GICv2 test-guest helpers (FAIL on misuse; v2 only) ---- */

/*
 * guest_init() must have run.  Probes the DT's interrupt controller; on a
 * GICv3 prints "<name>: SKIP gicv3" and powers off.  FAILs unless a GICv2
 * with a distributor of at least 4 KiB and a CPU interface of at least
 * 8 KiB (GICC_DIR) is found.
 */
void gicv2_test_probe(struct gic *g, const char *name);
/* Distributor on (GICD_CTLR.Enable) and checked. */
void gicv2_dist_enable(const struct gic *g);
/* This CPU's interface on: GICC_CTLR = Enable (normal EOI mode), PMR, BPR 0. */
void gicv2_cpu_enable(const struct gic *g, uint8_t pmr);
/*
 * This CPU's bit in CPU target lists: the GICD_ITARGETSR0 byte (banked,
 * read-only).  With a single CPU interface (which may leave it RAZ) 0 reads
 * as bit 0.  FAILs unless exactly one bit is set.
 */
uint8_t gicv2_cpu_mask(const struct gic *g);
/*
 * The implemented priority bits: 0xff written to SGI 15's GICD_IPRIORITYR
 * byte, read back (the byte is restored).  FAILs unless at least the top 4
 * bits, and only top bits, are implemented.
 */
uint8_t gicv2_priority_mask(const struct gic *g);
/*
 * GICC_RPR with nothing active (or everything priority-dropped) is the idle
 * priority: 0xff on a GICC; a GICV may instead report it with only the
 * implemented bits set (e.g. 0xf8).
 */
static inline bool gicv2_rpr_idle(uint32_t rpr, uint8_t pmask)
{
	return rpr == GICV2_IDLE_PRIORITY || rpr == pmask;
}
/* Largest implemented INTID, from GICD_TYPER.ITLinesNumber (capped at 1019). */
unsigned gicv2_max_intid(const struct gic *g);

/* Per-interrupt configuration through the byte / bit registers. */
void gicv2_set_priority(const struct gic *g, unsigned intid, uint8_t prio);
uint8_t gicv2_get_priority(const struct gic *g, unsigned intid);
void gicv2_set_target(const struct gic *g, unsigned intid, uint8_t cpu_mask);	/* SPIs */
void gicv2_enable(const struct gic *g, unsigned intid);
void gicv2_disable(const struct gic *g, unsigned intid);
void gicv2_set_pending(const struct gic *g, unsigned intid);		/* GICD_ISPENDR */
void gicv2_clear_pending(const struct gic *g, unsigned intid);	/* GICD_ICPENDR */
/* One bit of a GICD_IS*R-style bank, e.g. gicv2_bit(g, GICD_ISACTIVER, 40). */
bool gicv2_bit(const struct gic *g, uintptr_t bank, unsigned intid);
void gicv2_set_bit(const struct gic *g, uintptr_t bank, unsigned intid);

/* GICD_SGIR write; the dsb first makes earlier memory writes visible to the target. */
void gicv2_send_sgi(const struct gic *g, unsigned filter, uint8_t targets, unsigned sgi);

static inline uint32_t gicv2_read_iar(const struct gic *g) { return mmio_read32(g->cpuif + GICC_IAR); }
static inline void gicv2_write_eoir(const struct gic *g, uint32_t iar) { mmio_write32(g->cpuif + GICC_EOIR, iar); }
static inline void gicv2_write_dir(const struct gic *g, uint32_t iar) { mmio_write32(g->cpuif + GICC_DIR, iar); }
static inline uint32_t gicv2_rpr(const struct gic *g) { return mmio_read32(g->cpuif + GICC_RPR) & 0xffU; }
static inline uint32_t gicv2_hppir(const struct gic *g) { return mmio_read32(g->cpuif + GICC_HPPIR) & 0x1fffU; }

/*
 * Polls GICC_IAR (PSTATE.I should be set) for up to `ms` milliseconds and
 * returns the first non-spurious value, or GICV2_SPURIOUS on timeout.
 */
uint32_t gicv2_wait_iar(const struct gic *g, uint64_t ms);
/*
 * Polls GICC_IAR for `ms` milliseconds expecting nothing: returns
 * GICV2_SPURIOUS if IAR stayed spurious, else the (now acknowledged) value.
 */
uint32_t gicv2_quiet(const struct gic *g, uint64_t ms);
/*
 * wait_iar that must yield exactly `want` (INTID and, for SGIs, source CPU
 * bits); FAILs with `what` in the message otherwise.  Returns the IAR value.
 */
uint32_t gicv2_expect_iar(const struct gic *g, uint32_t want, uint64_t ms, const char *what);
/* quiet() that FAILs with `what` if anything is acknowledged. */
void gicv2_expect_quiet(const struct gic *g, uint64_t ms, const char *what);

/*
 * Waiting without hogging the CPU: cpu_relax() is a wfe, woken at the latest
 * by the generic timer's event stream, which event_stream_enable() turns on
 * (an event about every 100 us of the virtual counter).  Under KVM a trapped
 * wfe is a yield to another vCPU.
 */
void event_stream_enable(void);
/*
 * The snapshot point of the snapshot/restore guests: wait (bounded by
 * seconds of the virtual counter, cpu_relax between looks) until a 'g'
 * arrives on the UART; FAILs naming who otherwise.
 */
void wait_for_go(const char *who, unsigned seconds);
static inline void cpu_relax(void) { __asm__ __volatile__("wfe" : : : "memory"); }
static inline void cpu_sev(void) { __asm__ __volatile__("dsb sy\n\tsev" : : : "memory"); }

/*
 * The DTB's arm,armv8-timer node must name PPI 11 (INTID 27) as the virtual
 * timer, in the GIC binding's 3-cell form. FAILs naming who otherwise.
 */
struct fdt;
void gic_check_vtimer_node(const struct fdt *f, const struct gic *g, const char *who);

#endif
