/*
 * Userspace GICv2 model, written from ARM IHI 0048B: a Distributor and up to
 * 8 CPU interfaces, no Security Extensions, IRQ only (no FIQ).
 *
 * Locking rule: g->lock guards all of struct gicv2_model. Every public entry
 * point takes it for its whole duration. The line callback is called with it
 * held, from gicv2_update_lines(), and only when a CPU's computed IRQ line level
 * differs from the level last reported for that CPU; the callback must not
 * call back into the model (it would deadlock).
 *
 * Register dispatch is two tables (dist_regs[], cpuif_regs[]): one row per
 * register or register array, naming its read and write handler and the
 * access widths it accepts. Anything that matches no row, or matches a row
 * with the wrong width or alignment, or comes from a CPU that does not
 * exist, reads as zero and is ignored on write, with one debug line.
 *
 * Choices the architecture leaves to the implementation:
 *  - 5 priority bits (32 levels): priority fields and GICC_PMR keep bits
 *    [7:3]; bits [2:0] are RAZ/WI. So the minimum binary point is 2, and
 *    GICC_BPR resets to it; writes below it set it.
 *  - GICC_APR0 uses the recommended layout: bit n set means an interrupt of
 *    group priority (n << 3) is active. The running priority (GICC_RPR) is
 *    the priority of its lowest set bit, 0xFF when it is empty. GICC_EOIR's
 *    priority drop clears that lowest bit, whichever INTID is written.
 *    APR0 writes are stored as written (the spec only guarantees restoring a
 *    saved value or zero); APR1-3 and NSAPR0-3 are RAZ/WI.
 *  - GICD_IGROUPR is RAZ/WI: every interrupt is Group 0, signalled as IRQ.
 *    Hence the Group 1 aliases: GICC_ABPR RAZ/WI, GICC_AIAR and GICC_AHPPIR
 *    read 1023 (there is never a Group 1 interrupt), GICC_AEOIR WI.
 *  - GICD_IIDR 0x5600043B: implementer ARM (JEP106 0x43B), product 0x56
 *    ('V': a virtual GIC, so guests apply no GIC-400 errata workarounds),
 *    variant 0, revision 0. GICC_IIDR 0x0562043B: same product, architecture
 *    version 2. Peripheral IDs: part 0x000, JEP106 ARM, PIDR2.ArchRev 2;
 *    component IDs 0x0D 0xF0 0x05 0xB1.
 *  - GICC_CTLR implements Enable (bit 0) and EOImodeNS (bit 9), the rest
 *    RAZ/WI; GICD_CTLR implements Enable (bit 0).
 *  - SGI enable bits are writable. The SGI bits of GICD_ISPENDR0 and
 *    GICD_ICPENDR0 read as "pending from some source" and ignore writes
 *    (GICD_SPENDSGIR / GICD_CPENDSGIR set and clear SGI pending state).
 *  - GICD_ICFGR: bit 2n (reserved) is RAZ/WI, SGIs read edge and are RO,
 *    PPIs (banked) and SPIs are configurable and reset to level.
 *  - Between equal priorities the lowest INTID wins; an SGI pending from
 *    several CPUs is acknowledged for the lowest source first.
 *  - An interrupt that is active (an SPI: on any CPU) is not signalled or
 *    acknowledged again until it is deactivated, even if it is also pending.
 *  - With one CPU, SPIs go to CPU 0 whatever GICD_ITARGETSR holds.
 *  - GICC_HPPIR reports the interrupt GICC_IAR would pick, disregarding
 *    GICC_PMR, the running priority and GICC_CTLR.Enable (but a disabled
 *    Distributor forwards nothing, so it then reads 1023).
 *  - GICC_EOIR/GICC_DIR with an INTID >= nr_irqs are ignored entirely.
 */
#include "irqchip/gicv2_model.h"
#include "irqchip/gicv2_model_internal.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"


/* --- per-interrupt helpers (lock held) ---------------------------------------------- */

static struct gicv2_cpu_state *cpu_st(struct gicv2_model *g, unsigned int cpu)
{
	return &g->st.cpu[cpu];
}

uint32_t gicv2_cpu_mask(const struct gicv2_model *g)
{
	return (1u << g->nr_cpus) - 1u;
}

unsigned int gicv2_nr_words(const struct gicv2_model *g)
{
	return g->nr_irqs / 32u;
}

/* The priority used for preemption: the bits above the binary point. */
static uint32_t group_priority(uint32_t bpr, uint32_t prio)
{
	return prio & (0xffu << (bpr + 1u)) & 0xffu;
}

static uint32_t running_priority(const struct gicv2_cpu_state *c)
{
	return c->apr ? (uint32_t)__builtin_ctz(c->apr) << 3 : IDLE_PRIORITY;
}

static uint8_t *priority_byte(struct gicv2_model *g, unsigned int cpu, unsigned int id)
{
	if (id >= g->nr_irqs)
		return NULL;
	return id < 32 ? &cpu_st(g, cpu)->priority[id] : &g->st.priority[id];
}

/* Pending state of INTIDs 32w..32w+31 as CPU cpu sees it: latches, plus high level-sensitive lines. */
static uint32_t pending_word(struct gicv2_model *g, unsigned int cpu, unsigned int w)
{
	if (w == 0) {
		const struct gicv2_cpu_state *c = cpu_st(g, cpu);
		uint32_t v = c->pending | (c->line & ~c->edge);
		for (unsigned int i = 0; i < 16; i++)
			if (c->sgi_pending[i])
				v |= 1u << i;
		return v;
	}
	return g->st.pending[w] | (g->st.line[w] & ~g->st.edge[w]);
}

enum irq_bits { BITS_ENABLED, BITS_ACTIVE };

/* The enable or active word for INTIDs 32n..32n+31 as CPU cpu sees it; NULL past nr_irqs. */
static uint32_t *bits_word(struct gicv2_model *g, unsigned int cpu, enum irq_bits which, unsigned int n)
{
	if (n >= gicv2_nr_words(g))
		return NULL;
	if (n == 0)
		return which == BITS_ENABLED ? &cpu_st(g, cpu)->enabled : &cpu_st(g, cpu)->active;
	return which == BITS_ENABLED ? &g->st.enabled[n] : &g->st.active[n];
}

static bool spi_targets(const struct gicv2_model *g, unsigned int cpu, unsigned int id)
{
	if (g->nr_cpus == 1)
		return cpu == 0;
	return g->st.targets[id] & (1u << cpu);
}

struct candidate {
	unsigned int id;	/* GICV2_SPURIOUS: none */
	unsigned int src;	/* SGIs: the source CPU */
	uint32_t prio;
};

/* The highest-priority pending, enabled, inactive interrupt the Distributor forwards to cpu. */
static struct candidate best_pending(struct gicv2_model *g, unsigned int cpu)
{
	struct candidate best = { .id = GICV2_SPURIOUS, .src = 0, .prio = IDLE_PRIORITY };

	if (!(g->st.ctlr & CTLR_ENABLE))
		return best;
	for (unsigned int w = 0; w < gicv2_nr_words(g); w++) {
		const uint32_t *en = bits_word(g, cpu, BITS_ENABLED, w);
		const uint32_t *act = bits_word(g, cpu, BITS_ACTIVE, w);
		uint32_t cand = pending_word(g, cpu, w) & *en & ~*act;
		while (cand) {
			unsigned int bit = (unsigned int)__builtin_ctz(cand);
			unsigned int id = w * 32 + bit;
			cand &= cand - 1;
			if (id >= 32 && !spi_targets(g, cpu, id))
				continue;
			uint32_t prio = *priority_byte(g, cpu, id);
			if (prio < best.prio) {
				best.id = id;
				best.prio = prio;
			}
		}
	}
	if (best.id < 16)
		best.src = (unsigned int)__builtin_ctz(cpu_st(g, cpu)->sgi_pending[best.id]);
	return best;
}

/* Whether the CPU interface would signal c: enabled, above the mask, and preempting. */
static bool can_signal(struct gicv2_model *g, unsigned int cpu, const struct candidate *c)
{
	const struct gicv2_cpu_state *s = cpu_st(g, cpu);

	return c->id != GICV2_SPURIOUS && (s->ctlr & CTLR_ENABLE) && c->prio < s->pmr &&
	       group_priority(s->bpr, c->prio) < running_priority(s);
}

void gicv2_update_lines(struct gicv2_model *g)
{
	for (unsigned int cpu = 0; cpu < g->nr_cpus; cpu++) {
		struct candidate c = best_pending(g, cpu);
		bool level = can_signal(g, cpu, &c);
		if (level == g->line_level[cpu])
			continue;
		g->line_level[cpu] = level;
		if (g->line_fn)
			g->line_fn(g->opaque, cpu, level);
	}
}

static void deactivate(struct gicv2_model *g, unsigned int cpu, unsigned int id)
{
	if (id >= g->nr_irqs)
		return;
	if (id < 32)
		cpu_st(g, cpu)->active &= ~(1u << id);
	else
		g->st.active[id / 32] &= ~(1u << (id % 32));
}

/* --- Distributor registers (lock held; rel is the offset into the row) ------------- */

typedef uint32_t reg_read_fn(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len);
typedef void reg_write_fn(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len);

static uint32_t rd_dist_ctlr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)cpu, (void)rel, (void)len;
	return g->st.ctlr;
}

static void wr_dist_ctlr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)cpu, (void)rel, (void)len;
	g->st.ctlr = v & CTLR_ENABLE;
}

static uint32_t rd_typer(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)cpu, (void)rel, (void)len;
	/* ITLinesNumber [4:0], CPUNumber [7:5]; SecurityExtn (10) and LSPI are 0. */
	return (gicv2_nr_words(g) - 1u) | (g->nr_cpus - 1u) << 5;
}

static uint32_t rd_dist_iidr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)g, (void)cpu, (void)rel, (void)len;
	return GICD_IIDR_VALUE;
}

static uint32_t rd_enable(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)len;
	const uint32_t *p = bits_word(g, cpu, BITS_ENABLED, rel / 4);
	return p ? *p : 0;
}

static void wr_set_enable(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)len;
	uint32_t *p = bits_word(g, cpu, BITS_ENABLED, rel / 4);
	if (p)
		*p |= v;
}

static void wr_clear_enable(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)len;
	uint32_t *p = bits_word(g, cpu, BITS_ENABLED, rel / 4);
	if (p)
		*p &= ~v;
}

static uint32_t rd_pending(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)len;
	return rel / 4 < gicv2_nr_words(g) ? pending_word(g, cpu, rel / 4) : 0;
}

/* The pending latches; SGI bits are not writable here (see GICD_[SC]PENDSGIR). */
static uint32_t *latch_word(struct gicv2_model *g, unsigned int cpu, unsigned int n, uint32_t *v)
{
	if (n >= gicv2_nr_words(g))
		return NULL;
	if (n == 0) {
		*v &= 0xffff0000u;
		return &cpu_st(g, cpu)->pending;
	}
	return &g->st.pending[n];
}

static void wr_set_pending(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)len;
	uint32_t *p = latch_word(g, cpu, rel / 4, &v);
	if (p)
		*p |= v;
}

/* Clears the latch only: a level-sensitive interrupt whose line is high stays pending. */
static void wr_clear_pending(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)len;
	uint32_t *p = latch_word(g, cpu, rel / 4, &v);
	if (p)
		*p &= ~v;
}

static uint32_t rd_active(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)len;
	const uint32_t *p = bits_word(g, cpu, BITS_ACTIVE, rel / 4);
	return p ? *p : 0;
}

static void wr_set_active(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)len;
	uint32_t *p = bits_word(g, cpu, BITS_ACTIVE, rel / 4);
	if (p)
		*p |= v;
}

static void wr_clear_active(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)len;
	uint32_t *p = bits_word(g, cpu, BITS_ACTIVE, rel / 4);
	if (p)
		*p &= ~v;
}

/* Byte-per-INTID registers: byte i of the access is INTID rel + i. */
static uint32_t rd_priority(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	uint32_t v = 0;
	for (unsigned int i = 0; i < len; i++) {
		const uint8_t *p = priority_byte(g, cpu, rel + i);
		if (p)
			v |= (uint32_t)*p << (8 * i);
	}
	return v;
}

static void wr_priority(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++) {
		uint8_t *p = priority_byte(g, cpu, rel + i);
		if (p)
			*p = (uint8_t)((v >> (8 * i)) & PRIO_MASK);
	}
}

/* INTIDs 0-31 target only the accessing CPU and are read-only. */
static uint32_t rd_targets(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	uint32_t v = 0;
	for (unsigned int i = 0; i < len; i++) {
		unsigned int id = rel + i;
		uint32_t t = 0;
		if (id < 32)
			t = 1u << cpu;
		else if (id < g->nr_irqs)
			t = g->st.targets[id];
		v |= t << (8 * i);
	}
	return v;
}

static void wr_targets(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)cpu;
	for (unsigned int i = 0; i < len; i++) {
		unsigned int id = rel + i;
		if (id >= 32 && id < g->nr_irqs)
			g->st.targets[id] = (uint8_t)((v >> (8 * i)) & gicv2_cpu_mask(g));
	}
}

/* GICD_ICFGRn: INTIDs 16n..16n+15, bit 2i+1 set = edge-triggered. */
static uint32_t *edge_word(struct gicv2_model *g, unsigned int cpu, unsigned int id)
{
	return id < 32 ? &cpu_st(g, cpu)->edge : &g->st.edge[id / 32];
}

static uint32_t rd_config(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)len;
	uint32_t v = 0;
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int id = rel / 4 * 16 + i;
		if (id < g->nr_irqs && (*edge_word(g, cpu, id) & (1u << (id % 32))))
			v |= 2u << (2 * i);
	}
	return v;
}

static void wr_config(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)len;
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int id = rel / 4 * 16 + i;
		if (id < 16 || id >= g->nr_irqs)
			continue;	/* SGIs are always edge-triggered */
		uint32_t *e = edge_word(g, cpu, id);
		if (v & (2u << (2 * i)))
			*e |= 1u << (id % 32);
		else
			*e &= ~(1u << (id % 32));
	}
}

static void wr_sgir(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)rel, (void)len;
	unsigned int sgi = v & 0xfu;
	uint32_t targets;

	switch ((v >> 24) & 3u) {
	case 0: targets = (v >> 16) & 0xffu; break;	/* CPUTargetList */
	case 1: targets = ~(1u << cpu); break;		/* all but self */
	case 2: targets = 1u << cpu; break;		/* self only */
	default: return;				/* reserved */
	}
	targets &= gicv2_cpu_mask(g);
	for (unsigned int t = 0; t < g->nr_cpus; t++)
		if (targets & (1u << t))
			cpu_st(g, t)->sgi_pending[sgi] |= (uint8_t)(1u << cpu);
}

/* GICD_[SC]PENDSGIRn: byte i is SGI rel + i, bit s = pending from source CPU s; banked per target. */
static uint32_t rd_sgi_pending(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	uint32_t v = 0;
	for (unsigned int i = 0; i < len; i++)
		v |= (uint32_t)cpu_st(g, cpu)->sgi_pending[rel + i] << (8 * i);
	return v;
}

static void wr_set_sgi_pending(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v,
			       unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		cpu_st(g, cpu)->sgi_pending[rel + i] |= (uint8_t)((v >> (8 * i)) & gicv2_cpu_mask(g));
}

static void wr_clear_sgi_pending(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v,
				 unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		cpu_st(g, cpu)->sgi_pending[rel + i] &= (uint8_t)~(v >> (8 * i));
}

/* 0xFD0..0xFFC: PIDR4-7, PIDR0-3, CIDR0-3. */
static uint32_t rd_id(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	static const uint8_t ids[12] = {
		0x04, 0x00, 0x00, 0x00,	/* PIDR4: JEP106 continuation 4; PIDR5-7 */
		0x00, 0xb0, 0x2b, 0x00,	/* PIDR0-3: part 0x000, JEP106 0x3B, JEDEC, ArchRev 2 */
		0x0d, 0xf0, 0x05, 0xb1,	/* CIDR0-3 */
	};
	(void)g, (void)cpu, (void)len;
	return ids[rel / 4];
}

/* --- CPU interface registers (lock held) -------------------------------------------- */

static uint32_t rd_cpu_ctlr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)rel, (void)len;
	return cpu_st(g, cpu)->ctlr;
}

static void wr_cpu_ctlr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)rel, (void)len;
	cpu_st(g, cpu)->ctlr = v & (CTLR_ENABLE | CTLR_EOIMODE_NS);
}

static uint32_t rd_pmr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)rel, (void)len;
	return cpu_st(g, cpu)->pmr;
}

static void wr_pmr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)rel, (void)len;
	cpu_st(g, cpu)->pmr = v & PRIO_MASK;
}

static uint32_t rd_bpr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)rel, (void)len;
	return cpu_st(g, cpu)->bpr;
}

static void wr_bpr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)rel, (void)len;
	v &= 7u;
	cpu_st(g, cpu)->bpr = v < BPR_MIN ? BPR_MIN : v;
}

/* Acknowledge: the pending interrupt becomes active (or active and pending). */
static uint32_t rd_iar(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)rel, (void)len;
	struct gicv2_cpu_state *s = cpu_st(g, cpu);
	struct candidate c = best_pending(g, cpu);

	if (!can_signal(g, cpu, &c))
		return GICV2_SPURIOUS;
	if (c.id < 16) {
		s->sgi_pending[c.id] &= (uint8_t)~(1u << c.src);
		s->active |= 1u << c.id;
	} else if (c.id < 32) {
		s->pending &= ~(1u << c.id);	/* a high level line keeps it pending */
		s->active |= 1u << c.id;
	} else {
		g->st.pending[c.id / 32] &= ~(1u << (c.id % 32));
		g->st.active[c.id / 32] |= 1u << (c.id % 32);
	}
	s->apr |= 1u << (group_priority(s->bpr, c.prio) >> 3);
	return c.id | (c.id < 16 ? c.src << 10 : 0);
}

static void wr_eoir(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)rel, (void)len;
	struct gicv2_cpu_state *s = cpu_st(g, cpu);
	unsigned int id = v & 0x3ffu;

	if (id >= g->nr_irqs)
		return;
	s->apr &= s->apr - 1u;	/* drop the highest active priority */
	if (!(s->ctlr & CTLR_EOIMODE_NS))
		deactivate(g, cpu, id);
}

static void wr_dir(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)rel, (void)len;
	if (cpu_st(g, cpu)->ctlr & CTLR_EOIMODE_NS)
		deactivate(g, cpu, v & 0x3ffu);
}

static uint32_t rd_rpr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)rel, (void)len;
	uint32_t r = running_priority(cpu_st(g, cpu));
	return r == IDLE_PRIORITY ? 0xffu : r;
}

static uint32_t rd_hppir(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)rel, (void)len;
	struct candidate c = best_pending(g, cpu);
	return c.id | (c.id < 16 ? c.src << 10 : 0);
}

static uint32_t rd_spurious(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)g, (void)cpu, (void)rel, (void)len;
	return GICV2_SPURIOUS;
}

static uint32_t rd_apr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)rel, (void)len;
	return cpu_st(g, cpu)->apr;
}

static void wr_apr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, uint32_t v, unsigned int len)
{
	(void)rel, (void)len;
	cpu_st(g, cpu)->apr = v;
}

static uint32_t rd_cpu_iidr(struct gicv2_model *g, unsigned int cpu, uint32_t rel, unsigned int len)
{
	(void)g, (void)cpu, (void)rel, (void)len;
	return GICC_IIDR_VALUE;
}

/* --- dispatch ------------------------------------------------------------------------ */

#define W1 (1u << 1)
#define W4 (1u << 4)

/* A NULL read handler is RAZ, a NULL write handler WI. */
struct gic_reg {
	uint32_t off, size;
	const char *name;
	reg_read_fn *read;
	reg_write_fn *write;
	unsigned int widths;	/* W1 and/or W4 */
};

static const struct gic_reg dist_regs[] = {
	{ 0x000, 4, "GICD_CTLR", rd_dist_ctlr, wr_dist_ctlr, W4 },
	{ 0x004, 4, "GICD_TYPER", rd_typer, NULL, W4 },
	{ 0x008, 4, "GICD_IIDR", rd_dist_iidr, NULL, W4 },
	{ 0x080, 0x80, "GICD_IGROUPR", NULL, NULL, W4 },
	{ 0x100, 0x80, "GICD_ISENABLER", rd_enable, wr_set_enable, W4 },
	{ 0x180, 0x80, "GICD_ICENABLER", rd_enable, wr_clear_enable, W4 },
	{ 0x200, 0x80, "GICD_ISPENDR", rd_pending, wr_set_pending, W4 },
	{ 0x280, 0x80, "GICD_ICPENDR", rd_pending, wr_clear_pending, W4 },
	{ 0x300, 0x80, "GICD_ISACTIVER", rd_active, wr_set_active, W4 },
	{ 0x380, 0x80, "GICD_ICACTIVER", rd_active, wr_clear_active, W4 },
	{ 0x400, 0x3fc, "GICD_IPRIORITYR", rd_priority, wr_priority, W1 | W4 },
	{ 0x800, 0x3fc, "GICD_ITARGETSR", rd_targets, wr_targets, W1 | W4 },
	{ 0xc00, 0x100, "GICD_ICFGR", rd_config, wr_config, W4 },
	{ 0xe00, 0x100, "GICD_NSACR", NULL, NULL, W4 },
	{ 0xf00, 4, "GICD_SGIR", NULL, wr_sgir, W4 },
	{ 0xf10, 0x10, "GICD_CPENDSGIR", rd_sgi_pending, wr_clear_sgi_pending, W1 | W4 },
	{ 0xf20, 0x10, "GICD_SPENDSGIR", rd_sgi_pending, wr_set_sgi_pending, W1 | W4 },
	{ 0xfd0, 0x30, "GICD_PIDR/CIDR", rd_id, NULL, W4 },
};

static const struct gic_reg cpuif_regs[] = {
	{ 0x000, 4, "GICC_CTLR", rd_cpu_ctlr, wr_cpu_ctlr, W4 },
	{ 0x004, 4, "GICC_PMR", rd_pmr, wr_pmr, W4 },
	{ 0x008, 4, "GICC_BPR", rd_bpr, wr_bpr, W4 },
	{ 0x00c, 4, "GICC_IAR", rd_iar, NULL, W4 },
	{ 0x010, 4, "GICC_EOIR", NULL, wr_eoir, W4 },
	{ 0x014, 4, "GICC_RPR", rd_rpr, NULL, W4 },
	{ 0x018, 4, "GICC_HPPIR", rd_hppir, NULL, W4 },
	{ 0x01c, 4, "GICC_ABPR", NULL, NULL, W4 },
	{ 0x020, 4, "GICC_AIAR", rd_spurious, NULL, W4 },
	{ 0x024, 4, "GICC_AEOIR", NULL, NULL, W4 },
	{ 0x028, 4, "GICC_AHPPIR", rd_spurious, NULL, W4 },
	{ 0x0d0, 4, "GICC_APR0", rd_apr, wr_apr, W4 },
	{ 0x0d4, 0xc, "GICC_APR1-3", NULL, NULL, W4 },
	{ 0x0e0, 0x10, "GICC_NSAPR", NULL, NULL, W4 },
	{ 0x0fc, 4, "GICC_IIDR", rd_cpu_iidr, NULL, W4 },
	{ 0x1000, 4, "GICC_DIR", NULL, wr_dir, W4 },
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The row covering an access of len bytes at off, if the row allows that width and alignment. */
static const struct gic_reg *find_reg(const struct gic_reg *tab, size_t n, uint64_t off, unsigned int len)
{
	if (len != 1 && len != 4)
		return NULL;
	if (off & (len - 1u))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (off >= tab[i].off && off - tab[i].off < tab[i].size)
			return (tab[i].widths & (1u << len)) ? &tab[i] : NULL;
	}
	return NULL;
}

static void mmio_read(struct gicv2_model *g, const struct gic_reg *tab, size_t n, const char *what,
		      unsigned int cpu, uint64_t off, uint8_t *data, unsigned int len)
{
	memset(data, 0, len);
	pthread_mutex_lock(&g->lock);
	const struct gic_reg *r = cpu < g->nr_cpus ? find_reg(tab, n, off, len) : NULL;
	if (r) {
		uint32_t v = r->read ? r->read(g, cpu, (uint32_t)(off - r->off), len) : 0;
		for (unsigned int i = 0; i < len; i++)
			data[i] = (uint8_t)(v >> (8 * i));
		gicv2_update_lines(g);
	} else {
		pr_debug("gicv2: %s: ignored %u-byte read at 0x%llx from cpu %u", what, len,
			 (unsigned long long)off, cpu);
	}
	pthread_mutex_unlock(&g->lock);
}

static void mmio_write(struct gicv2_model *g, const struct gic_reg *tab, size_t n, const char *what,
		       unsigned int cpu, uint64_t off, const uint8_t *data, unsigned int len)
{
	pthread_mutex_lock(&g->lock);
	const struct gic_reg *r = cpu < g->nr_cpus ? find_reg(tab, n, off, len) : NULL;
	if (r && r->write) {
		uint32_t v = 0;
		for (unsigned int i = 0; i < len; i++)
			v |= (uint32_t)data[i] << (8 * i);
		r->write(g, cpu, (uint32_t)(off - r->off), v, len);
		gicv2_update_lines(g);
	} else {
		pr_debug("gicv2: %s: ignored %u-byte write at 0x%llx from cpu %u", what, len,
			 (unsigned long long)off, cpu);
	}
	pthread_mutex_unlock(&g->lock);
}

/* --- entry points ----------------------------------------------------------------- */

/* A CPU's banked state at reset: gicv2_model_init's, and what a CPU that does not exist keeps. */
void gicv2_reset_cpu(struct gicv2_cpu_state *c)
{
	memset(c, 0, sizeof(*c));
	c->edge = 0xffffu;	/* SGIs */
	c->bpr = BPR_MIN;
}

void gicv2_model_init(struct gicv2_model *g, unsigned int nr_cpus, unsigned int nr_irqs,
		      gicv2_line_fn *fn, void *opaque)
{
	unsigned int cpus = nr_cpus < 1 ? 1 : nr_cpus > GICV2_MAX_CPUS ? GICV2_MAX_CPUS : nr_cpus;
	unsigned int irqs = nr_irqs < 32 ? 32 : nr_irqs > GICV2_MAX_IRQS ? GICV2_MAX_IRQS : nr_irqs & ~31u;

	if (cpus != nr_cpus || irqs != nr_irqs)
		pr_warn("gicv2: %u cpus / %u irqs out of range, using %u / %u", nr_cpus, nr_irqs, cpus, irqs);
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	g->nr_cpus = cpus;
	g->nr_irqs = irqs;
	g->line_fn = fn;
	g->opaque = opaque;
	for (unsigned int i = 0; i < GICV2_MAX_CPUS; i++)
		gicv2_reset_cpu(&g->st.cpu[i]);
}

void gicv2_model_destroy(struct gicv2_model *g)
{
	pthread_mutex_destroy(&g->lock);
}

void gicv2_dist_read(struct gicv2_model *g, unsigned int cpu, uint64_t off, uint8_t *data, unsigned int len)
{
	mmio_read(g, dist_regs, ARRAY_LEN(dist_regs), "distributor", cpu, off, data, len);
}

void gicv2_dist_write(struct gicv2_model *g, unsigned int cpu, uint64_t off, const uint8_t *data,
		      unsigned int len)
{
	mmio_write(g, dist_regs, ARRAY_LEN(dist_regs), "distributor", cpu, off, data, len);
}

void gicv2_cpuif_read(struct gicv2_model *g, unsigned int cpu, uint64_t off, uint8_t *data, unsigned int len)
{
	mmio_read(g, cpuif_regs, ARRAY_LEN(cpuif_regs), "cpu interface", cpu, off, data, len);
}

void gicv2_cpuif_write(struct gicv2_model *g, unsigned int cpu, uint64_t off, const uint8_t *data,
		       unsigned int len)
{
	mmio_write(g, cpuif_regs, ARRAY_LEN(cpuif_regs), "cpu interface", cpu, off, data, len);
}

/* An input line: a rising edge latches an edge-triggered interrupt; a level one is pending while high. */
static void set_line(uint32_t *line, uint32_t *latch, uint32_t edge, uint32_t bit, bool level)
{
	if (level && !(*line & bit) && (edge & bit))
		*latch |= bit;
	if (level)
		*line |= bit;
	else
		*line &= ~bit;
}

void gicv2_set_ppi_level(struct gicv2_model *g, unsigned int cpu, unsigned int intid, bool level)
{
	pthread_mutex_lock(&g->lock);
	if (cpu < g->nr_cpus && intid >= 16 && intid < 32) {
		struct gicv2_cpu_state *s = cpu_st(g, cpu);
		set_line(&s->line, &s->pending, s->edge, 1u << intid, level);
		gicv2_update_lines(g);
	} else {
		pr_debug("gicv2: ignored PPI %u level on cpu %u", intid, cpu);
	}
	pthread_mutex_unlock(&g->lock);
}

void gicv2_set_spi_level(struct gicv2_model *g, unsigned int spi, bool level)
{
	pthread_mutex_lock(&g->lock);
	if (spi < g->nr_irqs - 32u) {
		unsigned int id = spi + 32u, w = id / 32;
		set_line(&g->st.line[w], &g->st.pending[w], g->st.edge[w], 1u << (id % 32), level);
		gicv2_update_lines(g);
	} else {
		pr_debug("gicv2: ignored level of SPI %u", spi);
	}
	pthread_mutex_unlock(&g->lock);
}
