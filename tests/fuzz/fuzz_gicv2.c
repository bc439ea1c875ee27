/*
 * libFuzzer target: a hostile guest (and hostile devices) driving the userspace
 * GICv2 model. The input is two bytes choosing the number of CPUs and INTIDs,
 * then 8-byte operations:
 *
 *   byte 0   bits 0-1: 0 distributor, 1 CPU interface, 2 PPI level, 3 SPI level
 *            bit 2: write (MMIO ops)   bits 3-4: width 4, 1, 2 or 8   bit 7: far offset
 *   byte 1   the CPU (0-8: 8 and anything >= nr_cpus do not exist)
 *   byte 2-3 offset (MMIO) or INTID / SPI number (levels)
 *   byte 4-7 value (little-endian; an 8-byte write repeats it), bit 0 the line level
 *
 * After every operation the target checks the model against a plain
 * per-INTID re-derivation of the architecture's rules: each CPU's IRQ line as
 * last reported equals what it should be, IAR and HPPIR pick what they should,
 * and no state exists outside nr_cpus / nr_irqs. Any mismatch aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irqchip/gicv2_model.h"
#include "core/log.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_gicv2: check failed: %s (line %d)\n", #cond, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

static struct gicv2_model gic;
static struct gicv2_cpu_state reset_cpu;
static bool reported[GICV2_MAX_CPUS];

static void line_changed(void *opaque, unsigned int cpu, bool level)
{
	CHECK(opaque == &gic);
	CHECK(cpu < gic.nr_cpus);
	CHECK(reported[cpu] != level);	/* only real changes */
	reported[cpu] = level;
}

/* --- the reference: the rules restated one INTID at a time --------------------------- */

struct ref_pick {
	unsigned int id, src, prio;
};

static bool bit(uint32_t w, unsigned int n) { return (w >> n) & 1u; }

static struct ref_pick ref_best(const struct gicv2_model *g, unsigned int c)
{
	const struct gicv2_state *s = &g->st;
	const struct gicv2_cpu_state *cs = &s->cpu[c];
	struct ref_pick best = { 1023, 0, 256 };

	if (!(s->ctlr & 1))
		return best;
	for (unsigned int id = 0; id < g->nr_irqs; id++) {
		bool en, pend, act, tgt;
		unsigned int prio;
		if (id < 16) {
			en = bit(cs->enabled, id);
			pend = cs->sgi_pending[id] != 0;
			act = bit(cs->active, id);
			prio = cs->priority[id];
			tgt = true;
		} else if (id < 32) {
			en = bit(cs->enabled, id);
			pend = bit(cs->pending, id) || (bit(cs->line, id) && !bit(cs->edge, id));
			act = bit(cs->active, id);
			prio = cs->priority[id];
			tgt = true;
		} else {
			unsigned int w = id / 32, b = id % 32;
			en = bit(s->enabled[w], b);
			pend = bit(s->pending[w], b) || (bit(s->line[w], b) && !bit(s->edge[w], b));
			act = bit(s->active[w], b);
			prio = s->priority[id];
			tgt = g->nr_cpus == 1 ? c == 0 : bit(s->targets[id], c);
		}
		if (en && pend && !act && tgt && prio < best.prio) {
			best.id = id;
			best.prio = prio;
		}
	}
	if (best.id < 16) {
		unsigned int src = 0;
		while (!bit(cs->sgi_pending[best.id], src))
			src++;
		best.src = src;
	}
	return best;
}

static bool ref_can_signal(const struct gicv2_model *g, unsigned int c, const struct ref_pick *p)
{
	const struct gicv2_cpu_state *cs = &g->st.cpu[c];
	unsigned int running = 256, group_mask = (0xffu << (cs->bpr + 1)) & 0xffu;

	for (unsigned int i = 0; i < 32; i++) {
		if (bit(cs->apr, i)) {
			running = i * 8;
			break;
		}
	}
	return p->id != 1023 && (cs->ctlr & 1) && p->prio < cs->pmr && (p->prio & group_mask) < running;
}

static void check_invariants(const struct gicv2_model *g)
{
	const struct gicv2_state *s = &g->st;
	uint32_t cpus = (1u << g->nr_cpus) - 1u;

	CHECK((s->ctlr & ~1u) == 0);
	for (unsigned int w = 0; w < GICV2_IRQ_WORDS; w++) {
		if (w == 0 || w >= g->nr_irqs / 32) {
			CHECK(s->enabled[w] == 0 && s->pending[w] == 0 && s->active[w] == 0);
			CHECK(s->line[w] == 0 && s->edge[w] == 0);
		}
	}
	for (unsigned int id = 0; id < GICV2_IRQ_WORDS * 32; id++) {
		CHECK((s->priority[id] & 7u) == 0);
		if (id < 32 || id >= g->nr_irqs)
			CHECK(s->priority[id] == 0 && s->targets[id] == 0);
		CHECK((s->targets[id] & ~cpus) == 0);
	}
	for (unsigned int c = 0; c < GICV2_MAX_CPUS; c++) {
		const struct gicv2_cpu_state *cs = &s->cpu[c];
		if (c >= g->nr_cpus) {
			CHECK(memcmp(cs, &reset_cpu, sizeof(*cs)) == 0);
			CHECK(!g->line_level[c] && !reported[c]);
			continue;
		}
		for (unsigned int i = 0; i < 16; i++)
			CHECK((cs->sgi_pending[i] & ~cpus) == 0);
		for (unsigned int i = 0; i < 32; i++)
			CHECK((cs->priority[i] & 7u) == 0);
		CHECK((cs->pending & 0xffffu) == 0 && (cs->line & 0xffffu) == 0);
		CHECK((cs->edge & 0xffffu) == 0xffffu);
		CHECK(cs->bpr >= 2 && cs->bpr <= 7);
		CHECK((cs->pmr & ~0xf8u) == 0);
		CHECK((cs->ctlr & ~0x201u) == 0);
		/* The line as last reported is the line the rules give. */
		struct ref_pick p = ref_best(g, c);
		CHECK(g->line_level[c] == ref_can_signal(g, c, &p));
		CHECK(reported[c] == g->line_level[c]);
	}
}

/* --- the operations ------------------------------------------------------------------- */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void run_op(const uint8_t *op)
{
	static const unsigned int widths[4] = { 4, 1, 2, 8 };
	unsigned int kind = op[0] & 3u, len = widths[(op[0] >> 3) & 3u];
	bool write = op[0] & 4u, far = op[0] & 0x80u;
	unsigned int cpu = op[1] % (GICV2_MAX_CPUS + 1u);
	unsigned int arg = (unsigned int)op[2] | (unsigned int)op[3] << 8;
	uint32_t v = le32(op + 4);
	uint8_t data[8], before[8];
	uint64_t off;

	for (unsigned int i = 0; i < 8; i++)
		data[i] = (uint8_t)(v >> (8 * (i % 4)));
	memcpy(before, data, sizeof(before));

	switch (kind) {
	case 0:
		off = far ? (uint64_t)arg << 16 | 0xf00 : arg % (GICV2_DIST_SIZE + 0x10u);
		if (write) {
			gicv2_dist_write(&gic, cpu, off, data, len);
			CHECK(memcmp(before, data, sizeof(data)) == 0);
		} else {
			gicv2_dist_read(&gic, cpu, off, data, len);
			if (cpu >= gic.nr_cpus || off >= GICV2_DIST_SIZE || (len != 1 && len != 4))
				for (unsigned int i = 0; i < len; i++)
					CHECK(data[i] == 0);
		}
		break;
	case 1:
		off = far ? (uint64_t)arg << 20 : (arg & 0x8000u) ? 0x1000u + (arg & 0x1fu) : arg & 0x1ffu;
		if (write) {
			gicv2_cpuif_write(&gic, cpu, off, data, len);
			CHECK(memcmp(before, data, sizeof(data)) == 0);
		} else if ((off == 0x0c || off == 0x18) && len == 4 && cpu < gic.nr_cpus) {
			/* IAR / HPPIR: what the rules say should come back. */
			struct ref_pick p = ref_best(&gic, cpu);
			uint32_t want = p.id | (p.id < 16 ? p.src << 10 : 0);
			if (off == 0x0c && !ref_can_signal(&gic, cpu, &p))
				want = 1023;
			gicv2_cpuif_read(&gic, cpu, off, data, len);
			uint32_t got = le32(data);
			CHECK(got == want);
			CHECK((got & 0x3ffu) < gic.nr_irqs || (got & 0x3ffu) == 1023);
			if (off == 0x0c && got != 1023) {
				unsigned int id = got & 0x3ffu;
				CHECK(id < 32 ? bit(gic.st.cpu[cpu].active, id) : bit(gic.st.active[id / 32], id % 32));
			}
		} else {
			gicv2_cpuif_read(&gic, cpu, off, data, len);
		}
		break;
	case 2:
		gicv2_set_ppi_level(&gic, cpu, arg % 40u, v & 1u);
		break;
	default:
		gicv2_set_spi_level(&gic, far ? arg : arg % (gic.nr_irqs - 32u + 4u), v & 1u);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned int nr_cpus = (data[0] & 7u) + 1u;
	unsigned int nr_irqs = (data[1] % 31u + 1u) * 32u;
	data += 2;
	size -= 2;

	memset(reported, 0, sizeof(reported));
	gicv2_model_init(&gic, nr_cpus, nr_irqs, line_changed, &gic);
	CHECK(gic.nr_cpus == nr_cpus && gic.nr_irqs == nr_irqs);
	reset_cpu = gic.st.cpu[GICV2_MAX_CPUS - 1];
	check_invariants(&gic);
	for (size_t n = 0; size >= 8 && n < 4096; n++, data += 8, size -= 8) {
		run_op(data);
		check_invariants(&gic);
	}
	gicv2_model_destroy(&gic);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_threshold = LOG_ERROR; /* ignored accesses are expected; keep the fuzzer's output readable */
	return 0;
}
