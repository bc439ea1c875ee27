/*
 * The userspace GICv2 model's state for snapshots: a copy out, and a copy in
 * that first masks every value into what this GIC can hold (a snapshot is
 * untrusted input). The model itself is gicv2_model.c.
 */
#include "irqchip/gicv2_model.h"
#include "irqchip/gicv2_model_internal.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"

void gicv2_model_get_state(struct gicv2_model *g, struct gicv2_state *out)
{
	pthread_mutex_lock(&g->lock);
	*out = g->st;
	pthread_mutex_unlock(&g->lock);
}

/* Masks bits into what this GIC can hold, remembering the first field that had more. */
struct sanitiser {
	const struct gicv2_model *g;
	const char *first_bad;
};

static uint32_t keep(struct sanitiser *s, const char *field, uint32_t v, uint32_t mask)
{
	if ((v & ~mask) && !s->first_bad)
		s->first_bad = field;
	return v & mask;
}

static void sanitise_cpu(struct sanitiser *s, struct gicv2_cpu_state *c)
{
	uint32_t sources = gicv2_cpu_mask(s->g);

	/* INTIDs 0-31 always exist: every enable and active bit is real. */
	c->pending = keep(s, "cpu pending (SGI bits live in sgi_pending)", c->pending, 0xffff0000u);
	c->line = keep(s, "cpu line (only PPIs have input lines)", c->line, 0xffff0000u);
	if ((c->edge & 0xffffu) != 0xffffu && !s->first_bad)
		s->first_bad = "cpu edge (SGIs are always edge-triggered)";
	c->edge |= 0xffffu;
	for (unsigned int i = 0; i < 32; i++)
		c->priority[i] = (uint8_t)keep(s, "cpu priority", c->priority[i], PRIO_MASK);
	for (unsigned int i = 0; i < 16; i++)
		c->sgi_pending[i] = (uint8_t)keep(s, "sgi_pending (source CPU)", c->sgi_pending[i], sources);
	c->ctlr = keep(s, "GICC_CTLR", c->ctlr, CTLR_ENABLE | CTLR_EOIMODE_NS);
	c->pmr = keep(s, "GICC_PMR", c->pmr, PRIO_MASK);
	c->bpr = keep(s, "GICC_BPR", c->bpr, 7u);
	if (c->bpr < BPR_MIN) {
		if (!s->first_bad)
			s->first_bad = "GICC_BPR (below the minimum binary point)";
		c->bpr = BPR_MIN;
	}
	/* APR0: 32 group priorities (5 priority bits), one bit each: all bits are valid. */
}

static void sanitise(struct sanitiser *s, struct gicv2_state *st)
{
	const struct gicv2_model *g = s->g;
	uint32_t targets = gicv2_cpu_mask(g);

	st->ctlr = keep(s, "GICD_CTLR", st->ctlr, CTLR_ENABLE);
	/* Word 0 (INTIDs 0-31) is banked in cpu[]; words past nr_irqs do not exist. */
	for (unsigned int w = 0; w < GICV2_IRQ_WORDS; w++) {
		uint32_t m = w >= 1 && w < gicv2_nr_words(g) ? 0xffffffffu : 0;
		st->enabled[w] = keep(s, "enabled (no such INTID)", st->enabled[w], m);
		st->pending[w] = keep(s, "pending (no such INTID)", st->pending[w], m);
		st->active[w] = keep(s, "active (no such INTID)", st->active[w], m);
		st->line[w] = keep(s, "line (no such INTID)", st->line[w], m);
		st->edge[w] = keep(s, "edge (no such INTID)", st->edge[w], m);
	}
	for (unsigned int id = 0; id < GICV2_IRQ_WORDS * 32; id++) {
		bool spi = id >= 32 && id < g->nr_irqs;
		st->priority[id] = (uint8_t)keep(s, "priority", st->priority[id], spi ? PRIO_MASK : 0);
		st->targets[id] = (uint8_t)keep(s, "GICD_ITARGETSR (no such CPU)", st->targets[id], spi ? targets : 0);
	}
	for (unsigned int cpu = 0; cpu < GICV2_MAX_CPUS; cpu++) {
		struct gicv2_cpu_state blank;
		gicv2_reset_cpu(&blank);
		if (cpu < g->nr_cpus) {
			sanitise_cpu(s, &st->cpu[cpu]);
		} else if (memcmp(&st->cpu[cpu], &blank, sizeof(blank))) {
			if (!s->first_bad)
				s->first_bad = "cpu (state for a CPU this GIC does not have)";
			st->cpu[cpu] = blank;
		}
	}
}

int gicv2_model_set_state(struct gicv2_model *g, const struct gicv2_state *in)
{
	struct sanitiser s = { .g = g, .first_bad = NULL };
	struct gicv2_state st = *in;

	/* A model gicv2_model_init did not set up (or a corrupted one): nothing to size the state by. */
	if (g->nr_cpus < 1 || g->nr_cpus > GICV2_MAX_CPUS || g->nr_irqs < 32 || g->nr_irqs > GICV2_MAX_IRQS ||
	    g->nr_irqs % 32)
		return -EINVAL;
	sanitise(&s, &st);
	if (s.first_bad)
		pr_warn("gicv2: loaded state had bits this GIC cannot hold (first in %s): dropped", s.first_bad);
	pthread_mutex_lock(&g->lock);
	g->st = st;
	/* Whatever is pending and enabled now reaches its CPU, exactly once per change. */
	gicv2_update_lines(g);
	pthread_mutex_unlock(&g->lock);
	return 0;
}
