/* The userspace GICv2 model: every register group, routing, priorities and the IRQ lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <errno.h>
#include <linux/kvm.h>

#include <cmocka.h>

#include "irqchip/gicv2_model.h"
#include "irqchip/irqchip.h"
#include "core/state.h"

#define NCPUS 4u
#define NIRQS 128u

/* GICD offsets */
#define D_CTLR 0x000
#define D_TYPER 0x004
#define D_IIDR 0x008
#define D_IGROUPR 0x080
#define D_ISENABLER 0x100
#define D_ICENABLER 0x180
#define D_ISPENDR 0x200
#define D_ICPENDR 0x280
#define D_ISACTIVER 0x300
#define D_ICACTIVER 0x380
#define D_IPRIORITYR 0x400
#define D_ITARGETSR 0x800
#define D_ICFGR 0xc00
#define D_SGIR 0xf00
#define D_CPENDSGIR 0xf10
#define D_SPENDSGIR 0xf20
/* GICC offsets */
#define C_CTLR 0x00
#define C_PMR 0x04
#define C_BPR 0x08
#define C_IAR 0x0c
#define C_EOIR 0x10
#define C_RPR 0x14
#define C_HPPIR 0x18
#define C_ABPR 0x1c
#define C_AIAR 0x20
#define C_AEOIR 0x24
#define C_AHPPIR 0x28
#define C_APR0 0xd0
#define C_APR1 0xd4
#define C_IIDR 0xfc
#define C_DIR 0x1000

#define SPURIOUS 1023u

/* Recording line callback: the current level per CPU and how many times it was called. */
static int line_level[GICV2_MAX_CPUS];
static int line_calls[GICV2_MAX_CPUS];
static int total_calls;

static void record_line(void *opaque, unsigned int cpu, bool level)
{
	assert_ptr_equal(opaque, &line_level);
	assert_true(cpu < NCPUS);
	/* Only real changes are reported. */
	assert_int_not_equal(line_level[cpu], level);
	line_level[cpu] = level;
	line_calls[cpu]++;
	total_calls++;
}

static struct gicv2_model gic;

static int setup(void **state)
{
	(void)state;
	memset(line_level, 0, sizeof(line_level));
	memset(line_calls, 0, sizeof(line_calls));
	total_calls = 0;
	gicv2_model_init(&gic, NCPUS, NIRQS, record_line, &line_level);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gicv2_model_destroy(&gic);
	return 0;
}

/* --- accessors ---------------------------------------------------------------------- */

static uint32_t rd_n(bool dist, unsigned int cpu, uint64_t off, unsigned int len)
{
	uint8_t d[8];
	uint32_t v = 0;
	memset(d, 0xaa, sizeof(d));
	if (dist)
		gicv2_dist_read(&gic, cpu, off, d, len);
	else
		gicv2_cpuif_read(&gic, cpu, off, d, len);
	for (unsigned int i = 0; i < len && i < 4; i++)
		v |= (uint32_t)d[i] << (8 * i);
	for (unsigned int i = 4; i < len; i++)
		assert_int_equal(d[i], 0);
	return v;
}

static void wr_n(bool dist, unsigned int cpu, uint64_t off, uint64_t v, unsigned int len)
{
	uint8_t d[8];
	for (unsigned int i = 0; i < 8; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	if (dist)
		gicv2_dist_write(&gic, cpu, off, d, len);
	else
		gicv2_cpuif_write(&gic, cpu, off, d, len);
}

static uint32_t drd(unsigned int cpu, uint64_t off) { return rd_n(true, cpu, off, 4); }
static void dwr(unsigned int cpu, uint64_t off, uint32_t v) { wr_n(true, cpu, off, v, 4); }
static uint32_t crd(unsigned int cpu, uint64_t off) { return rd_n(false, cpu, off, 4); }
static void cwr(unsigned int cpu, uint64_t off, uint32_t v) { wr_n(false, cpu, off, v, 4); }

static void set_bit_reg(unsigned int cpu, uint64_t base, unsigned int id)
{
	dwr(cpu, base + id / 32 * 4, 1u << (id % 32));
}

static void set_prio(unsigned int cpu, unsigned int id, uint8_t prio)
{
	wr_n(true, cpu, D_IPRIORITYR + id, prio, 1);
}

/* Distributor and every CPU interface enabled, everything unmasked. */
static void enable_all(void)
{
	dwr(0, D_CTLR, 1);
	for (unsigned int c = 0; c < NCPUS; c++) {
		cwr(c, C_CTLR, 1);
		cwr(c, C_PMR, 0xff);
	}
}

/* Enable INTID id (as seen from cpu), with a priority, and for SPIs a target mask. */
static void setup_irq(unsigned int cpu, unsigned int id, uint8_t prio, uint8_t targets)
{
	set_prio(cpu, id, prio);
	if (id >= 32)
		wr_n(true, cpu, D_ITARGETSR + id, targets, 1);
	set_bit_reg(cpu, D_ISENABLER, id);
}

static void eoi(unsigned int cpu, uint32_t iar) { cwr(cpu, C_EOIR, iar); }

/* --- tests ---------------------------------------------------------------------------- */

static void test_dist_identification(void **state)
{
	(void)state;
	assert_int_equal(drd(0, D_TYPER), (NIRQS / 32 - 1) | (NCPUS - 1) << 5);
	assert_int_equal(drd(0, D_IIDR), 0x5600043b);
	assert_int_equal(drd(0, D_IIDR) & 0xfff, 0x43b); /* ARM */
	assert_int_equal((drd(0, 0xfe8) >> 4) & 0xf, 2); /* PIDR2.ArchRev */
	assert_int_equal(drd(0, 0xfe4), 0xb0);
	assert_int_equal(drd(0, 0xfd0), 0x04);
	assert_int_equal(drd(0, 0xff0), 0x0d);
	assert_int_equal(drd(0, 0xff4), 0xf0);
	assert_int_equal(drd(0, 0xff8), 0x05);
	assert_int_equal(drd(0, 0xffc), 0xb1);
	/* Read-only: writes change nothing. */
	dwr(0, D_TYPER, 0xffffffff);
	assert_int_equal(drd(0, D_TYPER), 0x63);
	/* CTLR keeps only Enable. */
	assert_int_equal(drd(0, D_CTLR), 0);
	dwr(0, D_CTLR, 0xffffffff);
	assert_int_equal(drd(0, D_CTLR), 1);
	dwr(0, D_CTLR, 0);
	assert_int_equal(drd(0, D_CTLR), 0);
	/* IGROUPR RAZ/WI. */
	dwr(0, D_IGROUPR, 0xffffffff);
	dwr(1, D_IGROUPR + 4, 0xffffffff);
	assert_int_equal(drd(0, D_IGROUPR), 0);
	assert_int_equal(drd(1, D_IGROUPR + 4), 0);
	assert_int_equal(total_calls, 0);
}

static void test_typer_other_sizes(void **state)
{
	(void)state;
	struct gicv2_model g2;
	uint8_t d[4];

	gicv2_model_init(&g2, 1, 992, NULL, NULL);
	gicv2_dist_read(&g2, 0, D_TYPER, d, 4);
	assert_int_equal(d[0], 30);	/* ITLinesNumber 30, CPUNumber 0 */
	gicv2_model_destroy(&g2);
	/* Out-of-range sizes are clamped, not trusted. */
	gicv2_model_init(&g2, 0, 2000, NULL, NULL);
	assert_int_equal(g2.nr_cpus, 1);
	assert_int_equal(g2.nr_irqs, 992);
	gicv2_model_destroy(&g2);
	gicv2_model_init(&g2, 9, 100, NULL, NULL);
	assert_int_equal(g2.nr_cpus, 8);
	assert_int_equal(g2.nr_irqs, 96);
	gicv2_dist_read(&g2, 0, D_TYPER, d, 4);
	assert_int_equal(d[0], 2 | 7 << 5);
	gicv2_model_destroy(&g2);
}

static void test_enable_banked_and_shared(void **state)
{
	(void)state;
	/* A PPI enabled on CPU 0 is not enabled on CPU 1. */
	dwr(0, D_ISENABLER, 1u << 27 | 1u << 3);
	assert_int_equal(drd(0, D_ISENABLER), 1u << 27 | 1u << 3);
	assert_int_equal(drd(1, D_ISENABLER), 0);
	assert_int_equal(drd(0, D_ICENABLER), 1u << 27 | 1u << 3);
	/* SPIs are shared. */
	dwr(2, D_ISENABLER + 4, 0x80000001);
	assert_int_equal(drd(0, D_ISENABLER + 4), 0x80000001);
	assert_int_equal(drd(3, D_ICENABLER + 4), 0x80000001);
	dwr(1, D_ICENABLER + 4, 0x00000001);
	assert_int_equal(drd(0, D_ISENABLER + 4), 0x80000000);
	dwr(0, D_ICENABLER, 1u << 3);
	assert_int_equal(drd(0, D_ISENABLER), 1u << 27);
	/* Beyond nr_irqs (128: words 0-3): RAZ/WI. */
	dwr(0, D_ISENABLER + 16, 0xffffffff);
	assert_int_equal(drd(0, D_ISENABLER + 16), 0);
	assert_int_equal(drd(0, D_ISENABLER + 0x7c), 0);
}

static void test_pending_and_active_registers(void **state)
{
	(void)state;
	/* PPI pending is banked; SGI bits ignore ISPENDR writes. */
	dwr(1, D_ISPENDR, 0xffffffff);
	assert_int_equal(drd(1, D_ISPENDR), 0xffff0000);
	assert_int_equal(drd(0, D_ISPENDR), 0);
	dwr(1, D_ICPENDR, 0x00ff0000);
	assert_int_equal(drd(1, D_ICPENDR), 0xff000000);
	/* SPI pending is shared. */
	dwr(0, D_ISPENDR + 8, 0x12345678);
	assert_int_equal(drd(3, D_ISPENDR + 8), 0x12345678);
	dwr(3, D_ICPENDR + 8, 0x02305070);
	assert_int_equal(drd(0, D_ICPENDR + 8), 0x10040608);
	/* An SGI pending from another CPU shows in ISPENDR0; ICPENDR0 cannot clear it. */
	dwr(2, D_SGIR, 0x00020005); /* SGI 5 to CPU 1 */
	assert_int_equal(drd(1, D_ISPENDR) & 0xffff, 1u << 5);
	dwr(1, D_ICPENDR, 0xffff);
	assert_int_equal(drd(1, D_ISPENDR) & 0xffff, 1u << 5);
	/* Active: banked for 0-31, shared above. */
	dwr(2, D_ISACTIVER, 0x80000004);
	assert_int_equal(drd(2, D_ISACTIVER), 0x80000004);
	assert_int_equal(drd(0, D_ISACTIVER), 0);
	dwr(2, D_ICACTIVER, 0x80000000);
	assert_int_equal(drd(2, D_ICACTIVER), 0x00000004);
	dwr(0, D_ISACTIVER + 12, 0xf0000000);
	assert_int_equal(drd(1, D_ISACTIVER + 12), 0xf0000000);
	dwr(1, D_ICACTIVER + 12, 0x30000000);
	assert_int_equal(drd(0, D_ISACTIVER + 12), 0xc0000000);
	/* Past nr_irqs. */
	dwr(0, D_ISPENDR + 16, 0xffffffff);
	dwr(0, D_ISACTIVER + 16, 0xffffffff);
	assert_int_equal(drd(0, D_ISPENDR + 16), 0);
	assert_int_equal(drd(0, D_ISACTIVER + 16), 0);
}

static void test_priority_bytes_and_words(void **state)
{
	(void)state;
	/* 5 priority bits: the low 3 read as zero. */
	dwr(0, D_IPRIORITYR + 32, 0xff7f0801);
	assert_int_equal(drd(0, D_IPRIORITYR + 32), 0xf8780800);
	/* Byte reads and writes. */
	wr_n(true, 0, D_IPRIORITYR + 34, 0x47, 1);
	assert_int_equal(rd_n(true, 0, D_IPRIORITYR + 34, 1), 0x40);
	assert_int_equal(rd_n(true, 1, D_IPRIORITYR + 35, 1), 0xf8);
	assert_int_equal(drd(2, D_IPRIORITYR + 32), 0xf8400800);
	/* SGI/PPI priorities are banked. */
	wr_n(true, 1, D_IPRIORITYR + 27, 0xa0, 1);
	dwr(1, D_IPRIORITYR + 0, 0x10203040);
	assert_int_equal(rd_n(true, 1, D_IPRIORITYR + 27, 1), 0xa0);
	assert_int_equal(rd_n(true, 0, D_IPRIORITYR + 27, 1), 0);
	assert_int_equal(drd(1, D_IPRIORITYR), 0x10203040);
	assert_int_equal(drd(0, D_IPRIORITYR), 0);
	/* Halfword and misaligned word accesses are ignored. */
	wr_n(true, 0, D_IPRIORITYR + 40, 0xffff, 2);
	wr_n(true, 0, D_IPRIORITYR + 41, 0xffffffff, 4);
	assert_int_equal(drd(0, D_IPRIORITYR + 40), 0);
	assert_int_equal(rd_n(true, 0, D_IPRIORITYR + 40, 2), 0);
	/* Past nr_irqs: RAZ/WI. */
	dwr(0, D_IPRIORITYR + NIRQS, 0xffffffff);
	assert_int_equal(drd(0, D_IPRIORITYR + NIRQS), 0);
	assert_int_equal(drd(0, D_IPRIORITYR + 0x3f8), 0);
}

static void test_itargetsr(void **state)
{
	(void)state;
	/* 0-31 read as the accessing CPU's bit, in every byte, and ignore writes. */
	for (unsigned int c = 0; c < NCPUS; c++) {
		uint32_t b = 1u << c;
		assert_int_equal(drd(c, D_ITARGETSR), b | b << 8 | b << 16 | b << 24);
		assert_int_equal(drd(c, D_ITARGETSR + 28), b | b << 8 | b << 16 | b << 24);
		assert_int_equal(rd_n(true, c, D_ITARGETSR + 27, 1), b);
	}
	dwr(0, D_ITARGETSR + 4, 0x0f0f0f0f);
	assert_int_equal(drd(1, D_ITARGETSR + 4), 0x02020202);
	/* SPIs: writable, bits above nr_cpus (4) dropped, byte access. */
	dwr(0, D_ITARGETSR + 32, 0xff080402);
	assert_int_equal(drd(3, D_ITARGETSR + 32), 0x0f080402);
	wr_n(true, 0, D_ITARGETSR + 33, 0x31, 1);
	assert_int_equal(rd_n(true, 2, D_ITARGETSR + 33, 1), 0x01);
	assert_int_equal(drd(0, D_ITARGETSR + 32), 0x0f080102);
	dwr(0, D_ITARGETSR + NIRQS, 0x01010101);
	assert_int_equal(drd(0, D_ITARGETSR + NIRQS), 0);
}

static void test_spi_routing(void **state)
{
	(void)state;
	enable_all();
	setup_irq(0, 40, 0x80, 0x04);	/* CPU 2 only */
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(line_level[2], 1);
	assert_int_equal(line_level[0] + line_level[1] + line_level[3], 0);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	assert_int_equal(crd(1, C_HPPIR), SPURIOUS);
	/* Retarget to CPUs 0 and 3: both see it, the first to acknowledge takes it. */
	wr_n(true, 1, D_ITARGETSR + 40, 0x09, 1);
	assert_int_equal(line_level[2], 0);
	assert_int_equal(line_level[0], 1);
	assert_int_equal(line_level[3], 1);
	assert_int_equal(crd(3, C_IAR), 40);
	assert_int_equal(line_level[0], 0);	/* active (and pending: level high) - not signalled */
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	gicv2_set_spi_level(&gic, 8, false);
	eoi(3, 40);
	assert_int_equal(drd(0, D_ISACTIVER + 4), 0);
	assert_int_equal(total_calls, 6); /* 2 up, 2 down, 0 up, 3 up, 0 down, 3 down */
	/* Targeted at nobody: pending but never signalled. */
	wr_n(true, 0, D_ITARGETSR + 40, 0, 1);
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(drd(0, D_ISPENDR + 4), 1u << 8);
	for (unsigned int c = 0; c < NCPUS; c++)
		assert_int_equal(line_level[c], 0);
}

static void test_single_cpu_routes_spis_to_cpu0(void **state)
{
	(void)state;
	struct gicv2_model g1;
	uint8_t d[4] = { 1, 0, 0, 0 };

	gicv2_model_init(&g1, 1, 64, NULL, NULL);
	gicv2_dist_write(&g1, 0, D_CTLR, d, 4);
	gicv2_cpuif_write(&g1, 0, C_CTLR, d, 4);
	d[0] = 0xf0;
	gicv2_cpuif_write(&g1, 0, C_PMR, d, 4);
	d[0] = 1;
	gicv2_dist_write(&g1, 0, D_ISENABLER + 4, d, 4);
	gicv2_set_spi_level(&g1, 0, true);	/* ITARGETSR left at 0 */
	gicv2_cpuif_read(&g1, 0, C_IAR, d, 4);
	assert_int_equal(d[0] | d[1] << 8, 32);
	/* SGIs to "all but self" reach nobody. */
	d[0] = 0; d[1] = 0; d[2] = 0; d[3] = 1;
	gicv2_dist_write(&g1, 0, D_SGIR, d, 4);
	assert_int_equal(g1.st.cpu[0].sgi_pending[0], 0);
	gicv2_model_destroy(&g1);
}

static void test_icfgr(void **state)
{
	(void)state;
	/* SGIs: edge, read-only. */
	assert_int_equal(drd(0, D_ICFGR), 0xaaaaaaaa);
	dwr(0, D_ICFGR, 0);
	assert_int_equal(drd(0, D_ICFGR), 0xaaaaaaaa);
	/* PPIs reset to level, configurable, banked; bit 2n RAZ/WI. */
	assert_int_equal(drd(1, D_ICFGR + 4), 0);
	dwr(1, D_ICFGR + 4, 0xffffffff);
	assert_int_equal(drd(1, D_ICFGR + 4), 0xaaaaaaaa);
	assert_int_equal(drd(0, D_ICFGR + 4), 0);
	dwr(1, D_ICFGR + 4, 0x80000000);
	assert_int_equal(drd(1, D_ICFGR + 4), 0x80000000);
	/* SPIs: shared. */
	dwr(2, D_ICFGR + 8, 0x0000000a);
	assert_int_equal(drd(3, D_ICFGR + 8), 0x0000000a);
	assert_true(gic.st.edge[1] == 0x3);
	dwr(2, D_ICFGR + 28, 0xffffffff);	/* INTIDs 112-127 */
	assert_int_equal(drd(0, D_ICFGR + 28), 0xaaaaaaaa);
	dwr(2, D_ICFGR + 32, 0xffffffff);	/* INTIDs 128+: none */
	assert_int_equal(drd(0, D_ICFGR + 32), 0);
}

static void test_sgi_target_filters(void **state)
{
	(void)state;
	enable_all();
	for (unsigned int c = 0; c < NCPUS; c++)
		setup_irq(c, 1, 0x40, 0);
	/* Filter 0: the list (bits above nr_cpus ignored). */
	dwr(2, D_SGIR, 0x00f50001);	/* CPUs 0, 2 (+4..7 ignored) */
	assert_int_equal(line_level[0], 1);
	assert_int_equal(line_level[1], 0);
	assert_int_equal(line_level[2], 1);
	assert_int_equal(line_level[3], 0);
	assert_int_equal(crd(0, C_HPPIR), 1 | 2 << 10);
	assert_int_equal(crd(0, C_IAR), 1 | 2 << 10);	/* source CPU 2 in [12:10] */
	assert_int_equal(crd(2, C_IAR), 1 | 2 << 10);
	eoi(0, 1 | 2 << 10);
	eoi(2, 1 | 2 << 10);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	/* Filter 1: all but self. */
	dwr(3, D_SGIR, 0x01000001);
	assert_int_equal(line_level[3], 0);
	for (unsigned int c = 0; c < 3; c++) {
		assert_int_equal(line_level[c], 1);
		assert_int_equal(crd(c, C_IAR), 1 | 3 << 10);
		eoi(c, 1 | 3 << 10);
	}
	assert_int_equal(crd(3, C_IAR), SPURIOUS);
	/* Filter 2: self only (the list is ignored). */
	dwr(1, D_SGIR, 0x020f0001);
	assert_int_equal(line_level[1], 1);
	assert_int_equal(line_level[0] + line_level[2] + line_level[3], 0);
	assert_int_equal(crd(1, C_IAR), 1 | 1 << 10);
	eoi(1, 1 | 1 << 10);
	/* Filter 3: reserved, ignored. */
	dwr(0, D_SGIR, 0x030f0001);
	for (unsigned int c = 0; c < NCPUS; c++) {
		assert_int_equal(line_level[c], 0);
		assert_int_equal(drd(c, D_SPENDSGIR), 0);
	}
}

static void test_sgi_several_sources(void **state)
{
	(void)state;
	enable_all();
	setup_irq(0, 7, 0x40, 0);
	dwr(3, D_SGIR, 0x00010007);
	dwr(1, D_SGIR, 0x00010007);
	/* One pending state per source: lowest source first, still pending after. */
	assert_int_equal(rd_n(true, 0, D_SPENDSGIR + 7, 1), 0x0a);
	assert_int_equal(crd(0, C_IAR), 7 | 1 << 10);
	assert_int_equal(rd_n(true, 0, D_SPENDSGIR + 7, 1), 0x08);
	assert_int_equal(drd(0, D_ISACTIVER), 1u << 7);
	assert_int_equal(drd(0, D_ISPENDR), 1u << 7);	/* active and pending */
	assert_int_equal(line_level[0], 0);
	eoi(0, 7 | 1 << 10);
	assert_int_equal(line_level[0], 1);
	assert_int_equal(crd(0, C_IAR), 7 | 3 << 10);
	eoi(0, 7 | 3 << 10);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	assert_int_equal(line_level[0], 0);
}

static void test_sgi_pend_registers(void **state)
{
	(void)state;
	enable_all();
	/* SPENDSGIR sets pending for (this CPU, source) pairs; banked per CPU; sources >= nr_cpus dropped. */
	dwr(2, D_SPENDSGIR + 4, 0xff000300);	/* SGI 5 from CPUs 0,1; SGI 7 from 0-3 */
	assert_int_equal(drd(2, D_SPENDSGIR + 4), 0x0f000300);
	assert_int_equal(drd(2, D_CPENDSGIR + 4), 0x0f000300);
	assert_int_equal(drd(1, D_SPENDSGIR + 4), 0);
	wr_n(true, 2, D_SPENDSGIR + 12, 0x81, 1);	/* SGI 12 from CPU 0 */
	assert_int_equal(drd(2, D_SPENDSGIR + 12), 0x01);
	assert_int_equal(drd(2, D_ISPENDR), 1u << 5 | 1u << 7 | 1u << 12);
	/* CPENDSGIR clears per source, byte and word. */
	wr_n(true, 2, D_CPENDSGIR + 7, 0x05, 1);
	assert_int_equal(drd(2, D_SPENDSGIR + 4), 0x0a000300);
	dwr(2, D_CPENDSGIR + 4, 0xffffffff);
	assert_int_equal(drd(2, D_SPENDSGIR + 4), 0);
	dwr(2, D_CPENDSGIR + 12, 1);
	assert_int_equal(drd(2, D_ISPENDR), 0);
	/* A set SGI is signalled once enabled, with its source. */
	wr_n(true, 2, D_SPENDSGIR + 3, 0x08, 1);
	assert_int_equal(line_level[2], 0);	/* not enabled yet */
	setup_irq(2, 3, 0x00, 0);
	assert_int_equal(line_level[2], 1);
	assert_int_equal(crd(2, C_IAR), 3 | 3 << 10);
}

static void test_level_semantics(void **state)
{
	(void)state;
	enable_all();
	setup_irq(0, 50, 0x80, 0x01);
	/* Level (the reset configuration): pending while the line is high. */
	gicv2_set_spi_level(&gic, 18, true);
	assert_int_equal(line_level[0], 1);
	assert_int_equal(drd(0, D_ISPENDR + 4), 1u << 18);
	/* Acknowledged with the line still high: active and pending. */
	assert_int_equal(crd(0, C_IAR), 50);
	assert_int_equal(drd(0, D_ISACTIVER + 4), 1u << 18);
	assert_int_equal(drd(0, D_ISPENDR + 4), 1u << 18);
	assert_int_equal(line_level[0], 0);
	/* EOI with the line still high: pending again, line up again. */
	eoi(0, 50);
	assert_int_equal(drd(0, D_ISACTIVER + 4), 0);
	assert_int_equal(line_level[0], 1);
	/* ICPENDR cannot clear a level interrupt whose line is high. */
	dwr(0, D_ICPENDR + 4, 1u << 18);
	assert_int_equal(drd(0, D_ISPENDR + 4), 1u << 18);
	assert_int_equal(line_level[0], 1);
	/* Lowering the line clears it. */
	gicv2_set_spi_level(&gic, 18, false);
	assert_int_equal(drd(0, D_ISPENDR + 4), 0);
	assert_int_equal(line_level[0], 0);
	/* ISPENDR latches a level interrupt with its line low; ICPENDR clears the latch. */
	dwr(0, D_ISPENDR + 4, 1u << 18);
	assert_int_equal(line_level[0], 1);
	dwr(0, D_ICPENDR + 4, 1u << 18);
	assert_int_equal(line_level[0], 0);
	/* The latch survives the line going up and down, and acknowledge clears it. */
	dwr(0, D_ISPENDR + 4, 1u << 18);
	gicv2_set_spi_level(&gic, 18, true);
	gicv2_set_spi_level(&gic, 18, false);
	assert_int_equal(drd(0, D_ISPENDR + 4), 1u << 18);
	assert_int_equal(crd(0, C_IAR), 50);
	assert_int_equal(drd(0, D_ISPENDR + 4), 0);
	eoi(0, 50);
	assert_int_equal(line_level[0], 0);
}

static void test_ppi_level_banked(void **state)
{
	(void)state;
	enable_all();
	setup_irq(1, 27, 0xa0, 0);	/* the virtual timer on CPU 1 */
	gicv2_set_ppi_level(&gic, 0, 27, true);	/* CPU 0 has it disabled */
	assert_int_equal(line_level[0], 0);
	assert_int_equal(drd(0, D_ISPENDR), 1u << 27);
	gicv2_set_ppi_level(&gic, 1, 27, true);
	assert_int_equal(line_level[1], 1);
	assert_int_equal(crd(1, C_IAR), 27);
	assert_int_equal(crd(1, C_RPR), 0xa0);
	gicv2_set_ppi_level(&gic, 1, 27, false);
	eoi(1, 27);
	assert_int_equal(line_level[1], 0);
	assert_int_equal(drd(1, D_ISPENDR), 0);
	assert_int_equal(drd(0, D_ISPENDR), 1u << 27);
	/* Bad inputs: ignored. */
	gicv2_set_ppi_level(&gic, 1, 15, true);
	gicv2_set_ppi_level(&gic, 1, 32, true);
	gicv2_set_ppi_level(&gic, NCPUS, 27, true);
	gicv2_set_spi_level(&gic, NIRQS - 32, true);
	gicv2_set_spi_level(&gic, 0xffffffffu, true);
	assert_int_equal(drd(1, D_ISPENDR), 0);
	assert_int_equal(line_level[1], 0);
}

static void test_edge_semantics(void **state)
{
	(void)state;
	enable_all();
	setup_irq(0, 33, 0x80, 0x02);
	dwr(0, D_ICFGR + 8, 2u << 2);	/* INTID 33 edge */
	/* A rising edge latches; the line staying high adds nothing. */
	gicv2_set_spi_level(&gic, 1, true);
	assert_int_equal(line_level[1], 1);
	assert_int_equal(crd(1, C_IAR), 33);
	assert_int_equal(drd(0, D_ISPENDR + 4), 0);	/* ack cleared pending */
	assert_int_equal(line_level[1], 0);
	gicv2_set_spi_level(&gic, 1, true);		/* still high: no edge */
	assert_int_equal(drd(0, D_ISPENDR + 4), 0);
	/* A new edge while active: active and pending. */
	gicv2_set_spi_level(&gic, 1, false);
	gicv2_set_spi_level(&gic, 1, true);
	assert_int_equal(drd(0, D_ISPENDR + 4), 2);
	assert_int_equal(drd(0, D_ISACTIVER + 4), 2);
	assert_int_equal(line_level[1], 0);
	eoi(1, 33);
	assert_int_equal(line_level[1], 1);
	assert_int_equal(crd(1, C_IAR), 33);
	eoi(1, 33);
	/* The line dropping does not clear an edge latch; ICPENDR does. */
	gicv2_set_spi_level(&gic, 1, false);
	gicv2_set_spi_level(&gic, 1, true);
	gicv2_set_spi_level(&gic, 1, false);
	assert_int_equal(drd(0, D_ISPENDR + 4), 2);
	dwr(0, D_ICPENDR + 4, 2);
	assert_int_equal(drd(0, D_ISPENDR + 4), 0);
	assert_int_equal(line_level[1], 0);
}

static void test_preemption(void **state)
{
	(void)state;
	enable_all();
	setup_irq(0, 40, 0x80, 0x01);
	setup_irq(0, 41, 0x40, 0x01);
	setup_irq(0, 42, 0x88, 0x01);
	assert_int_equal(crd(0, C_BPR), 2);	/* the minimum binary point */
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(crd(0, C_IAR), 40);
	assert_int_equal(crd(0, C_RPR), 0x80);
	assert_int_equal(crd(0, C_APR0), 1u << (0x80 >> 3));
	/* A lower priority one does not preempt; a higher one does. */
	gicv2_set_spi_level(&gic, 10, true);
	assert_int_equal(line_level[0], 0);
	assert_int_equal(crd(0, C_HPPIR), 42);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	gicv2_set_spi_level(&gic, 9, true);
	assert_int_equal(line_level[0], 1);
	assert_int_equal(crd(0, C_IAR), 41);
	assert_int_equal(crd(0, C_RPR), 0x40);
	assert_int_equal(crd(0, C_APR0), 1u << 8 | 1u << 16);
	/* EOIR drops the highest active priority. */
	gicv2_set_spi_level(&gic, 9, false);
	eoi(0, 41);
	assert_int_equal(crd(0, C_RPR), 0x80);
	assert_int_equal(line_level[0], 0);	/* 42 (0x88) still below 40 (0x80) */
	gicv2_set_spi_level(&gic, 8, false);
	eoi(0, 40);
	assert_int_equal(crd(0, C_RPR), 0xff);
	assert_int_equal(crd(0, C_APR0), 0);
	assert_int_equal(line_level[0], 1);
	assert_int_equal(crd(0, C_IAR), 42);
	gicv2_set_spi_level(&gic, 10, false);
	eoi(0, 42);
	assert_int_equal(line_level[0], 0);
}

static void test_binary_point_grouping(void **state)
{
	(void)state;
	enable_all();
	setup_irq(0, 40, 0x48, 0x01);
	setup_irq(0, 41, 0x40, 0x01);
	/* BPR below the minimum reads back as the minimum. */
	cwr(0, C_BPR, 0);
	assert_int_equal(crd(0, C_BPR), 2);
	/* BPR 3: group priority [7:4], so 0x40 and 0x48 are the same group: no preemption. */
	cwr(0, C_BPR, 3);
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(crd(0, C_IAR), 40);
	assert_int_equal(crd(0, C_RPR), 0x40);	/* the group priority */
	gicv2_set_spi_level(&gic, 9, true);
	assert_int_equal(line_level[0], 0);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	/* Back to BPR 2: the running priority stays 0x40 (fixed at acknowledge): still no preemption. */
	cwr(0, C_BPR, 2);
	assert_int_equal(line_level[0], 0);
	gicv2_set_spi_level(&gic, 8, false);
	eoi(0, 40);
	assert_int_equal(line_level[0], 1);
	/* With BPR 2 taken at 0x48 first, 0x40 preempts. */
	gicv2_set_spi_level(&gic, 9, false);
	assert_int_equal(line_level[0], 0);
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(crd(0, C_IAR), 40);
	assert_int_equal(crd(0, C_RPR), 0x48);
	gicv2_set_spi_level(&gic, 9, true);
	assert_int_equal(line_level[0], 1);
	assert_int_equal(crd(0, C_IAR), 41);
	/* BPR 7: no group priority bits, nothing preempts anything. */
	gicv2_set_spi_level(&gic, 8, false);
	gicv2_set_spi_level(&gic, 9, false);
	eoi(0, 41);
	eoi(0, 40);
	cwr(0, C_BPR, 7);
	assert_int_equal(crd(0, C_BPR), 7);
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(crd(0, C_IAR), 40);
	assert_int_equal(crd(0, C_RPR), 0x00);
	gicv2_set_spi_level(&gic, 9, true);
	assert_int_equal(line_level[0], 0);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	/* The pending interrupt's group priority uses the BPR of now, not of the acknowledge. */
	gicv2_set_spi_level(&gic, 8, false);
	gicv2_set_spi_level(&gic, 9, false);
	eoi(0, 40);
	cwr(0, C_BPR, 2);
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(crd(0, C_IAR), 40);
	assert_int_equal(crd(0, C_RPR), 0x48);
	set_prio(0, 41, 0x50);
	gicv2_set_spi_level(&gic, 9, true);
	assert_int_equal(line_level[0], 0);
	cwr(0, C_BPR, 4);	/* group priority [7:5]: 0x50 is in group 0x40, above 0x48 */
	assert_int_equal(line_level[0], 1);
	assert_int_equal(crd(0, C_IAR), 41);
	assert_int_equal(crd(0, C_RPR), 0x40);
}

static void test_pmr_masks(void **state)
{
	(void)state;
	enable_all();
	setup_irq(0, 40, 0x80, 0x01);
	cwr(0, C_PMR, 0x80);	/* only priorities < 0x80 pass */
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(line_level[0], 0);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	assert_int_equal(crd(0, C_HPPIR), 40);	/* HPPIR ignores the mask */
	cwr(0, C_PMR, 0x88);
	assert_int_equal(line_level[0], 1);
	cwr(0, C_PMR, 0x00);
	assert_int_equal(line_level[0], 0);
	/* PMR keeps 5 bits. */
	cwr(0, C_PMR, 0xff);
	assert_int_equal(crd(0, C_PMR), 0xf8);
	assert_int_equal(line_level[0], 1);
	/* Priority 0xf8 (the lowest) is masked even by PMR 0xff, which reads as 0xf8. */
	set_prio(0, 40, 0xff);
	assert_int_equal(line_level[0], 0);
}

static void test_spurious_cases(void **state)
{
	(void)state;
	/* Nothing pending. */
	enable_all();
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	assert_int_equal(crd(0, C_HPPIR), SPURIOUS);
	setup_irq(0, 60, 0x10, 0x01);
	gicv2_set_spi_level(&gic, 28, true);
	/* CPU interface disabled. */
	cwr(0, C_CTLR, 0);
	assert_int_equal(line_level[0], 0);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	cwr(0, C_CTLR, 1);
	assert_int_equal(line_level[0], 1);
	/* Distributor disabled. */
	dwr(0, D_CTLR, 0);
	assert_int_equal(line_level[0], 0);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	assert_int_equal(crd(0, C_HPPIR), SPURIOUS);
	dwr(0, D_CTLR, 1);
	/* Masked by PMR. */
	cwr(0, C_PMR, 0x10);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	/* Disabled interrupt. */
	cwr(0, C_PMR, 0xff);
	dwr(0, D_ICENABLER + 4, 1u << 28);
	assert_int_equal(crd(0, C_IAR), SPURIOUS);
	dwr(0, D_ISENABLER + 4, 1u << 28);
	/* All the failed reads changed nothing. */
	assert_int_equal(drd(0, D_ISACTIVER + 4), 0);
	assert_int_equal(crd(0, C_RPR), 0xff);
	assert_int_equal(crd(0, C_IAR), 60);
	/* Spurious EOI is harmless. */
	eoi(0, SPURIOUS);
	assert_int_equal(crd(0, C_RPR), 0x10);
	eoi(0, 60);
	assert_int_equal(crd(0, C_RPR), 0xff);
}

static void test_hppir_rpr_and_ties(void **state)
{
	(void)state;
	enable_all();
	assert_int_equal(crd(0, C_RPR), 0xff);
	setup_irq(0, 70, 0x20, 0x01);
	setup_irq(0, 65, 0x20, 0x01);
	setup_irq(0, 20, 0x30, 0);
	dwr(0, D_ISPENDR, 1u << 20);
	assert_int_equal(crd(0, C_HPPIR), 20);
	gicv2_set_spi_level(&gic, 70 - 32, true);
	assert_int_equal(crd(0, C_HPPIR), 70);
	gicv2_set_spi_level(&gic, 65 - 32, true);
	assert_int_equal(crd(0, C_HPPIR), 65);	/* equal priority: the lower INTID */
	/* HPPIR reads have no side effects. */
	assert_int_equal(crd(0, C_HPPIR), 65);
	assert_int_equal(crd(0, C_IAR), 65);
	assert_int_equal(crd(0, C_RPR), 0x20);
	assert_int_equal(crd(0, C_HPPIR), 70);
	/* CPU 1 sees none of them. */
	assert_int_equal(crd(1, C_HPPIR), SPURIOUS);
	assert_int_equal(crd(1, C_RPR), 0xff);
}

static void test_split_eoi(void **state)
{
	(void)state;
	enable_all();
	cwr(0, C_CTLR, 1u | 1u << 9);	/* EOImodeNS */
	assert_int_equal(crd(0, C_CTLR), 1u | 1u << 9);
	setup_irq(0, 45, 0x60, 0x01);
	setup_irq(0, 46, 0x70, 0x01);
	dwr(0, D_ICFGR + 8, 0xffffffff);	/* edge */
	gicv2_set_spi_level(&gic, 13, true);
	assert_int_equal(crd(0, C_IAR), 45);
	/* EOIR drops the priority only: still active. */
	eoi(0, 45);
	assert_int_equal(crd(0, C_RPR), 0xff);
	assert_int_equal(drd(0, D_ISACTIVER + 4), 1u << 13);
	/* A new edge stays pending, not signalled, while active. */
	gicv2_set_spi_level(&gic, 13, false);
	gicv2_set_spi_level(&gic, 13, true);
	assert_int_equal(line_level[0], 0);
	/* Another interrupt can be taken meanwhile. */
	gicv2_set_spi_level(&gic, 14, true);
	assert_int_equal(line_level[0], 1);
	assert_int_equal(crd(0, C_IAR), 46);
	eoi(0, 46);
	cwr(0, C_DIR, 46);
	/* DIR deactivates: 45 comes again. */
	cwr(0, C_DIR, 45);
	assert_int_equal(drd(0, D_ISACTIVER + 4), 0);
	assert_int_equal(line_level[0], 1);
	assert_int_equal(crd(0, C_IAR), 45);
	/* EOImodeNS 0: EOIR deactivates, DIR is ignored. */
	cwr(0, C_CTLR, 1);
	cwr(0, C_DIR, 45);
	assert_int_equal(drd(0, D_ISACTIVER + 4), 1u << 13);
	eoi(0, 45);
	assert_int_equal(drd(0, D_ISACTIVER + 4), 0);
	assert_int_equal(crd(0, C_RPR), 0xff);
}

static void test_cpuif_misc(void **state)
{
	(void)state;
	assert_int_equal(crd(0, C_IIDR), 0x0562043b);
	assert_int_equal((crd(0, C_IIDR) >> 16) & 0xf, 2);
	/* CTLR keeps Enable and EOImodeNS only; banked. */
	cwr(1, C_CTLR, 0xffffffff);
	assert_int_equal(crd(1, C_CTLR), 0x201);
	assert_int_equal(crd(0, C_CTLR), 0);
	/* Group 1 aliases: no Group 1 interrupts exist. */
	cwr(0, C_ABPR, 5);
	assert_int_equal(crd(0, C_ABPR), 0);
	assert_int_equal(crd(0, C_AIAR), SPURIOUS);
	assert_int_equal(crd(0, C_AHPPIR), SPURIOUS);
	cwr(0, C_AEOIR, 3);
	/* APR0 is readable and restorable; APR1 RAZ/WI. */
	cwr(2, C_APR0, 1u << 4);
	assert_int_equal(crd(2, C_APR0), 1u << 4);
	assert_int_equal(crd(2, C_RPR), 0x20);
	cwr(2, C_APR0, 0);
	assert_int_equal(crd(2, C_RPR), 0xff);
	cwr(2, C_APR1, 0xffffffff);
	assert_int_equal(crd(2, C_APR1), 0);
	/* Write-only and read-only registers. */
	assert_int_equal(crd(0, C_EOIR), 0);
	assert_int_equal(crd(0, C_DIR), 0);
	cwr(0, C_RPR, 0);
	assert_int_equal(crd(0, C_RPR), 0xff);
	assert_int_equal(drd(0, D_SGIR), 0);
	/* BPR keeps 3 bits. */
	cwr(3, C_BPR, 0xfd);
	assert_int_equal(crd(3, C_BPR), 5);
	assert_int_equal(total_calls, 0);
}

static void test_bad_accesses_change_nothing(void **state)
{
	(void)state;
	struct gicv2_state before;
	enable_all();
	setup_irq(0, 40, 0x80, 0x01);
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(line_level[0], 1);
	memcpy(&before, &gic.st, sizeof(before));
	int calls = total_calls;

	static const uint64_t dist_offs[] = { D_CTLR, D_ISENABLER + 4, D_ISPENDR + 4, D_ICPENDR + 4,
		D_ICENABLER + 4, D_ICACTIVER + 4, D_IPRIORITYR + 40, D_ITARGETSR + 40, D_ICFGR + 8, D_SGIR,
		D_SPENDSGIR, D_CPENDSGIR, 0x1000, 0x2000, 0xfffffffffffffff0ull, 0xd00, 0xe00, 0x00c };
	static const uint64_t cpu_offs[] = { C_CTLR, C_PMR, C_BPR, C_IAR, C_EOIR, C_APR0, C_DIR, 0x2000,
		0x1004, 0x100, 0x800, 0xfffffffffffffffcull };
	for (size_t i = 0; i < sizeof(dist_offs) / sizeof(dist_offs[0]); i++) {
		uint64_t off = dist_offs[i];
		/* 8-byte, 2-byte and misaligned word accesses, and a cpu that does not exist. */
		assert_int_equal(rd_n(true, 0, off, 8), 0);
		assert_int_equal(rd_n(true, 0, off, 2), 0);
		assert_int_equal(rd_n(true, 0, off + 1, 4), 0);
		assert_int_equal(rd_n(true, NCPUS, off, 4), 0);
		assert_int_equal(rd_n(true, 0xffffffffu, off, 1), 0);
		wr_n(true, 0, off, 0xffffffffffffffffull, 8);
		wr_n(true, 0, off, 0, 8);
		wr_n(true, 0, off, 0xffff, 2);
		wr_n(true, 0, off, 0, 2);
		wr_n(true, 0, off + 2, 0, 4);
		wr_n(true, 0, off + 1, 0xffffffff, 4);
		wr_n(true, NCPUS, off, 0xffffffff, 4);
		wr_n(true, NCPUS, off, 0, 4);
		wr_n(true, 0xffffffffu, off, 0, 1);
	}
	/* Byte access where the spec does not allow it. */
	wr_n(true, 0, D_CTLR, 0, 1);
	wr_n(true, 0, D_ICENABLER + 5, 0xff, 1);
	wr_n(true, 0, D_ICFGR + 8, 0, 1);
	for (size_t i = 0; i < sizeof(cpu_offs) / sizeof(cpu_offs[0]); i++) {
		uint64_t off = cpu_offs[i];
		assert_int_equal(rd_n(false, 0, off, 8), 0);
		assert_int_equal(rd_n(false, 0, off, 2), 0);
		assert_int_equal(rd_n(false, 0, off, 1), 0);
		assert_int_equal(rd_n(false, 0, off + 2, 4), 0);
		assert_int_equal(rd_n(false, NCPUS, off, 4), 0);
		wr_n(false, 0, off, 0, 8);
		wr_n(false, 0, off, 0, 2);
		wr_n(false, 0, off, 0, 1);
		wr_n(false, 0, off + 1, 0, 4);
		wr_n(false, NCPUS, off, 0, 4);
		wr_n(false, 0xffffffffu, off, 0, 4);
	}
	/* Writes to RAZ/WI space and reserved CPU interface offsets. */
	cwr(0, 0x100, 0);
	cwr(0, 0x1ffc, 0);
	/* EOIR/DIR with INTIDs past nr_irqs. */
	cwr(0, C_EOIR, NIRQS);
	cwr(0, C_EOIR, 1022);
	cwr(0, C_DIR, 1020);
	/* Zero-length and odd lengths. */
	uint8_t b[16] = { 0xff };
	gicv2_dist_read(&gic, 0, D_CTLR, b, 0);
	gicv2_dist_write(&gic, 0, D_CTLR, b, 0);
	gicv2_dist_read(&gic, 0, D_CTLR, b, 3);
	assert_int_equal(b[0] | b[1] | b[2], 0);
	gicv2_cpuif_write(&gic, 0, C_CTLR, b, 16);
	assert_memory_equal(&before, &gic.st, sizeof(before));
	assert_int_equal(total_calls, calls);
	assert_int_equal(line_level[0], 1);
}

static void test_line_callback_exact(void **state)
{
	(void)state;
	enable_all();
	assert_int_equal(total_calls, 0);	/* nothing pending: no call */
	setup_irq(0, 35, 0x80, 0x03);
	gicv2_set_spi_level(&gic, 3, true);
	assert_int_equal(line_calls[0], 1);
	assert_int_equal(line_calls[1], 1);
	/* Repeating the same level, or unrelated changes, report nothing. */
	gicv2_set_spi_level(&gic, 3, true);
	cwr(0, C_PMR, 0xf0);
	dwr(0, D_ISPENDR + 4, 1u << 3);
	set_prio(0, 35, 0x70);
	drd(0, D_ISPENDR + 4);
	crd(0, C_HPPIR);
	assert_int_equal(total_calls, 2);
	/* Disabling the interrupt lowers both lines, once each. */
	dwr(0, D_ICENABLER + 4, 1u << 3);
	assert_int_equal(line_calls[0], 2);
	assert_int_equal(line_calls[1], 2);
	dwr(0, D_ICENABLER + 4, 1u << 3);
	assert_int_equal(total_calls, 4);
	dwr(0, D_ISENABLER + 4, 1u << 3);
	assert_int_equal(total_calls, 6);
	/* Acknowledge on CPU 1 lowers both (now active). */
	assert_int_equal(crd(1, C_IAR), 35);
	assert_int_equal(total_calls, 8);
	assert_int_equal(line_level[0] + line_level[1], 0);
	/* A PPI on CPU 2 touches CPU 2 only. */
	setup_irq(2, 30, 0x10, 0);
	gicv2_set_ppi_level(&gic, 2, 30, true);
	assert_int_equal(line_calls[2], 1);
	assert_int_equal(total_calls, 9);
	assert_int_equal(line_calls[3], 0);
}

/* --- snapshots ------------------------------------------------------------------------ */

/* A second model, the one a restore loads, with its own recording line callback. */
static struct gicv2_model gic2;
static int line_level2[GICV2_MAX_CPUS], line_calls2[GICV2_MAX_CPUS];

static void record_line2(void *opaque, unsigned int cpu, bool level)
{
	assert_ptr_equal(opaque, &line_level2);
	assert_true(cpu < NCPUS);
	assert_int_not_equal(line_level2[cpu], level);
	line_level2[cpu] = level;
	line_calls2[cpu]++;
}

static void init_gic2(void)
{
	memset(line_level2, 0, sizeof(line_level2));
	memset(line_calls2, 0, sizeof(line_calls2));
	gicv2_model_init(&gic2, NCPUS, NIRQS, record_line2, &line_level2);
}

static uint32_t mrd(struct gicv2_model *g, bool dist, unsigned int cpu, uint64_t off)
{
	uint8_t d[4];
	if (dist)
		gicv2_dist_read(g, cpu, off, d, 4);
	else
		gicv2_cpuif_read(g, cpu, off, d, 4);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void mwr(struct gicv2_model *g, bool dist, unsigned int cpu, uint64_t off, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	if (dist)
		gicv2_dist_write(g, cpu, off, d, 4);
	else
		gicv2_cpuif_write(g, cpu, off, d, 4);
}

/*
 * Every CPU in a different state: its own PMR, BPR and PPI priorities; CPU 0
 * has SGI 5 from CPU 3 active; CPU 1 has SPI 40 active, EOImode split and a
 * high timer PPI; CPU 2 has SGI 1 pending from CPUs 0 and 1; CPU 3 has SGI 1
 * pending from CPU 0, a high (disabled) PPI 30 and a hand-written APR; SPIs
 * with distinct ITARGETSR and an edge SPI latched for CPUs 2 and 3.
 */
static void busy_gic(void)
{
	static const uint8_t pmr[NCPUS] = { 0xf0, 0xe0, 0xc0, 0x80 };

	dwr(0, D_CTLR, 1);
	for (unsigned int c = 0; c < NCPUS; c++) {
		cwr(c, C_CTLR, c == 1 ? 1u | 1u << 9 : 1u);
		cwr(c, C_PMR, pmr[c]);
		cwr(c, C_BPR, 2 + c);
		set_prio(c, 20, (uint8_t)(0x10 * (c + 1)));
	}
	setup_irq(0, 5, 0x20, 0);
	dwr(3, D_SGIR, 1u << 16 | 5);
	assert_int_equal(crd(0, C_IAR), 5 | 3 << 10);
	setup_irq(2, 1, 0xa0, 0);
	setup_irq(3, 1, 0x70, 0);
	dwr(0, D_SGIR, 1u << 18 | 1u << 19 | 1);
	dwr(1, D_SGIR, 1u << 18 | 1);
	setup_irq(0, 40, 0x30, 0x02);
	gicv2_set_spi_level(&gic, 8, true);
	assert_int_equal(crd(1, C_IAR), 40);
	setup_irq(1, 27, 0x10, 0);
	gicv2_set_ppi_level(&gic, 1, 27, true);
	gicv2_set_ppi_level(&gic, 3, 30, true);
	gicv2_set_ppi_level(&gic, 0, 23, true);
	dwr(0, D_ICFGR + 8, 2u << 18);	/* INTID 41 edge-triggered */
	setup_irq(0, 41, 0x50, 0x0c);
	gicv2_set_spi_level(&gic, 9, true);
	gicv2_set_spi_level(&gic, 9, false);
	wr_n(true, 0, D_ITARGETSR + 42, 0x05, 1);
	wr_n(true, 0, D_ITARGETSR + 100, 0x08, 1);
	set_prio(0, 100, 0xe8);
	cwr(3, C_APR0, 1u << 20);
}

/* Same reads on both models, for every CPU, then the same acknowledge/EOI sequence and lines. */
static void assert_same_behaviour(struct gicv2_model *a, struct gicv2_model *b, const int *la, const int *lb)
{
	static const uint32_t cpuif[] = { C_CTLR, C_PMR, C_BPR, C_RPR, C_HPPIR, C_APR0 };

	for (unsigned int c = 0; c < NCPUS; c++) {
		for (uint32_t off = 0; off < 0x1000; off += 4) {
			if (off == D_SGIR)
				continue;
			assert_int_equal(mrd(a, true, c, off), mrd(b, true, c, off));
		}
		for (size_t i = 0; i < sizeof(cpuif) / sizeof(cpuif[0]); i++)
			assert_int_equal(mrd(a, false, c, cpuif[i]), mrd(b, false, c, cpuif[i]));
		assert_int_equal(la[c], lb[c]);
	}
	for (unsigned int c = 0; c < NCPUS; c++) {
		for (int n = 0; n < 8; n++) {
			uint32_t ia = mrd(a, false, c, C_IAR), ib = mrd(b, false, c, C_IAR);
			assert_int_equal(ia, ib);
			assert_int_equal(la[c], lb[c]);
			if (ia == SPURIOUS)
				break;
			mwr(a, false, c, C_EOIR, ia);
			mwr(b, false, c, C_EOIR, ib);
			mwr(a, false, c, C_DIR, ia);
			mwr(b, false, c, C_DIR, ib);
			assert_int_equal(la[c], lb[c]);
		}
	}
}

static void test_state_round_trip_every_cpu_differs(void **state)
{
	static struct gicv2_state s1, s2;
	(void)state;

	busy_gic();
	gicv2_model_get_state(&gic, &s1);
	/* The setup did what it says: each CPU's banked state differs. */
	assert_int_equal(s1.cpu[2].sgi_pending[1], 0x03);
	assert_int_equal(s1.cpu[3].sgi_pending[1], 0x01);
	assert_int_equal(s1.cpu[0].active, 1u << 5);
	assert_int_equal(s1.active[1], 1u << 8);
	assert_int_equal(s1.cpu[1].line, 1u << 27);
	assert_int_equal(s1.targets[42], 0x05);
	for (unsigned int c = 1; c < NCPUS; c++) {
		assert_int_not_equal(s1.cpu[c].pmr, s1.cpu[0].pmr);
		assert_int_not_equal(s1.cpu[c].bpr, s1.cpu[0].bpr);
	}
	init_gic2();
	assert_int_equal(gicv2_model_set_state(&gic2, &s1), 0);
	gicv2_model_get_state(&gic2, &s2);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	/* Lines came up exactly where the original's are up, once each. */
	for (unsigned int c = 0; c < NCPUS; c++) {
		assert_int_equal(line_level2[c], line_level[c]);
		assert_int_equal(line_calls2[c], line_level[c]);
	}
	assert_true(line_level[2] && line_level[3]);
	assert_same_behaviour(&gic, &gic2, line_level, line_level2);
	gicv2_model_destroy(&gic2);
}

static void test_set_state_sanitises(void **state)
{
	static struct gicv2_state st, out;
	(void)state;

	gicv2_model_get_state(&gic, &st);
	st.ctlr = 0xffffffffu;
	st.enabled[0] = 1;		/* INTIDs 0-31 live in cpu[] */
	st.enabled[5] = 0xffffffffu;	/* INTIDs 160-191: this GIC has 128 */
	st.pending[2] = 1u << 4;	/* a real SPI: kept */
	st.line[31] = 1;
	st.edge[4] = 1;
	st.priority[40] = 0xff;
	st.priority[5] = 0x80;
	st.priority[200] = 0x80;
	st.targets[40] = 0xff;		/* CPUs 4-7 do not exist */
	st.targets[10] = 0x01;
	st.cpu[0].sgi_pending[3] = 0xff;
	st.cpu[0].pending = 0xffffffffu;
	st.cpu[0].line = 0x0000ffffu;
	st.cpu[0].edge = 0;
	st.cpu[0].priority[3] = 0x07;
	st.cpu[0].ctlr = 0xffffffffu;
	st.cpu[0].pmr = 0xff;
	st.cpu[0].bpr = 0;
	st.cpu[1].bpr = 9;
	st.cpu[2].apr = 0xffffffffu;	/* 32 group priorities: every bit is one */
	st.cpu[5].pmr = 0xf0;		/* a CPU this GIC does not have */
	st.cpu[7].sgi_pending[0] = 1;
	assert_int_equal(gicv2_model_set_state(&gic, &st), 0);
	gicv2_model_get_state(&gic, &out);
	assert_int_equal(out.ctlr, 1);
	assert_int_equal(out.enabled[0], 0);
	assert_int_equal(out.enabled[5], 0);
	assert_int_equal(out.pending[2], 1u << 4);
	assert_int_equal(out.line[31], 0);
	assert_int_equal(out.edge[4], 0);
	assert_int_equal(out.priority[40], 0xf8);
	assert_int_equal(out.priority[5], 0);
	assert_int_equal(out.priority[200], 0);
	assert_int_equal(out.targets[40], 0x0f);
	assert_int_equal(out.targets[10], 0);
	assert_int_equal(out.cpu[0].sgi_pending[3], 0x0f);
	assert_int_equal(out.cpu[0].pending, 0xffff0000u);
	assert_int_equal(out.cpu[0].line, 0);
	assert_int_equal(out.cpu[0].edge, 0xffffu);
	assert_int_equal(out.cpu[0].priority[3], 0);
	assert_int_equal(out.cpu[0].ctlr, 0x201);
	assert_int_equal(out.cpu[0].pmr, 0xf8);
	assert_int_equal(out.cpu[0].bpr, 2);
	assert_int_equal(out.cpu[1].bpr, 2);
	assert_int_equal(out.cpu[2].apr, 0xffffffffu);
	assert_int_equal(out.cpu[5].pmr, 0);
	assert_int_equal(out.cpu[5].bpr, 2);
	assert_int_equal(out.cpu[5].edge, 0xffffu);
	assert_int_equal(out.cpu[7].sgi_pending[0], 0);
	/* Registers show the sanitised values. */
	assert_int_equal(drd(0, D_ITARGETSR + 40), 0x0f);
	assert_int_equal(crd(0, C_PMR), 0xf8);
	assert_int_equal(drd(0, D_SPENDSGIR), 0x0f000000);
}

static void test_set_state_raises_and_lowers_lines(void **state)
{
	static struct gicv2_state st, quiet;
	(void)state;

	gicv2_model_get_state(&gic, &quiet);
	st = quiet;
	st.ctlr = 1;
	/* CPU 2: SPI 45, latched pending, enabled, routed to it. */
	st.cpu[2].ctlr = 1;
	st.cpu[2].pmr = 0xf8;
	st.enabled[1] = 1u << 13;
	st.pending[1] = 1u << 13;
	st.priority[45] = 0x40;
	st.targets[45] = 1u << 2;
	/* CPU 1: the level-sensitive timer PPI, its line high. */
	st.cpu[1].ctlr = 1;
	st.cpu[1].pmr = 0xf8;
	st.cpu[1].enabled = 1u << 27;
	st.cpu[1].line = 1u << 27;
	/* CPU 3: something pending but masked by its PMR. */
	st.cpu[3].ctlr = 1;
	st.cpu[3].pmr = 0x10;
	st.cpu[3].enabled = 1u << 2;
	st.cpu[3].sgi_pending[2] = 1;
	st.cpu[3].priority[2] = 0x80;
	assert_int_equal(gicv2_model_set_state(&gic, &st), 0);
	assert_int_equal(line_level[1], 1);
	assert_int_equal(line_level[2], 1);
	assert_int_equal(line_level[3], 0);
	assert_int_equal(total_calls, 2);
	assert_int_equal(crd(2, C_IAR), 45);
	assert_int_equal(crd(1, C_IAR), 27);
	assert_int_equal(total_calls, 4);
	/* Loading the same state again raises both again; a quiet state lowers them. */
	assert_int_equal(gicv2_model_set_state(&gic, &st), 0);
	assert_int_equal(total_calls, 6);
	assert_int_equal(gicv2_model_set_state(&gic, &quiet), 0);
	assert_int_equal(line_level[1] + line_level[2], 0);
	assert_int_equal(total_calls, 8);
}

static void test_set_state_bad_model(void **state)
{
	static struct gicv2_model bad;
	static struct gicv2_state st;
	(void)state;

	memset(&bad, 0, sizeof(bad));
	assert_int_equal(gicv2_model_set_state(&bad, &st), -EINVAL);
	bad.nr_cpus = 2;
	bad.nr_irqs = 100;
	assert_int_equal(gicv2_model_set_state(&bad, &st), -EINVAL);
	bad.nr_irqs = 1024;
	assert_int_equal(gicv2_model_set_state(&bad, &st), -EINVAL);
	bad.nr_irqs = 128;
	bad.nr_cpus = 9;
	assert_int_equal(gicv2_model_set_state(&bad, &st), -EINVAL);
}

/* --- the userspace GIC backend's save/restore (gic_user_v2.c) ------------------------- */

#define GIC_PAYLOAD_SIZE (4u * 3 + 5u * 4 * GICV2_IRQ_WORDS + 2u * 32 * GICV2_IRQ_WORDS + NCPUS * 84u)

static void user_ic(struct irqchip *ic, struct gicv2_model *g)
{
	memset(ic, 0, sizeof(*ic));
	ic->type = IRQCHIP_GICV2_USER;
	ic->ops = &gic_user_v2_ops;
	ic->nr_cpus = NCPUS;
	ic->vm_fd = -1;
	ic->model = g;
}

static void test_user_backend_round_trip(void **state)
{
	static struct gicv2_state s1, s2;
	static struct kvm_run run;
	struct irqchip a, b;
	struct snap_buf buf = { 0 };
	(void)state;

	busy_gic();
	user_ic(&a, &gic);
	init_gic2();
	user_ic(&b, &gic2);
	memset(b.user_irq_levels, 0xff, sizeof(b.user_irq_levels));
	assert_int_equal(a.ops->save(&a, &buf), 0);
	assert_false(buf.err);
	assert_int_equal(buf.len, GIC_PAYLOAD_SIZE);
	struct snap_cursor c = { .p = buf.data, .len = buf.len };
	assert_int_equal(b.ops->restore(&b, &c), 0);
	gicv2_model_get_state(&gic, &s1);
	gicv2_model_get_state(&gic2, &s2);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	/* device_irq_level bits as vcpu_sync will compare them: the restored PPI lines. */
	assert_int_equal(b.user_irq_levels[0], KVM_ARM_DEV_PMU);
	assert_int_equal(b.user_irq_levels[1], KVM_ARM_DEV_EL1_VTIMER);
	assert_int_equal(b.user_irq_levels[2], 0);
	assert_int_equal(b.user_irq_levels[3], KVM_ARM_DEV_EL1_PTIMER);
	/* The first exit after the restore: the timer still high changes nothing, a low one lowers it. */
	run.s.regs.device_irq_level = KVM_ARM_DEV_EL1_VTIMER;
	b.ops->vcpu_sync(&b, 1, &run);
	gicv2_model_get_state(&gic2, &s2);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	run.s.regs.device_irq_level = 0;
	b.ops->vcpu_sync(&b, 3, &run);
	gicv2_model_get_state(&gic2, &s2);
	assert_int_equal(s2.cpu[3].line, 0);
	gicv2_set_ppi_level(&gic, 3, 30, false);	/* the same on the original, to compare the rest */
	assert_same_behaviour(&gic, &gic2, line_level, line_level2);
	snap_buf_free(&buf);
	gicv2_model_destroy(&gic2);
}

static void test_user_backend_rejects_hostile(void **state)
{
	static const struct {
		const char *what;
		size_t off;
		uint32_t value;
		int len_delta;
	} m[] = {
		{ "fewer CPUs", 0, NCPUS - 1, 0 },
		{ "more CPUs", 0, NCPUS + 1, 0 },
		{ "more IRQs", 4, NIRQS + 32, 0 },
		{ "IRQs not a multiple of 32", 4, NIRQS - 1, 0 },
		{ "truncated", SIZE_MAX, 0, -1 },
		{ "truncated in the sizes", SIZE_MAX, 0, -(int)GIC_PAYLOAD_SIZE + 6 },
		{ "a CPU short", SIZE_MAX, 0, -84 },
		{ "a byte left over", SIZE_MAX, 0, 1 },
	};
	static struct gicv2_state before, after;
	static uint8_t bytes[GIC_PAYLOAD_SIZE + 8];
	struct irqchip a, b;
	struct snap_buf good = { 0 };
	uint32_t levels[GICV2_MAX_CPUS];
	(void)state;

	busy_gic();
	user_ic(&a, &gic);
	assert_int_equal(a.ops->save(&a, &good), 0);
	init_gic2();
	user_ic(&b, &gic2);
	mwr(&gic2, false, 1, C_PMR, 0x40);
	memset(b.user_irq_levels, 0x5a, sizeof(b.user_irq_levels));
	memcpy(levels, b.user_irq_levels, sizeof(levels));
	gicv2_model_get_state(&gic2, &before);
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		memset(bytes, 0, sizeof(bytes));
		memcpy(bytes, good.data, good.len);
		if (m[i].off != SIZE_MAX)
			memcpy(bytes + m[i].off, &m[i].value, 4);
		struct snap_cursor c = { .p = bytes, .len = (size_t)((int)good.len + m[i].len_delta) };
		print_message("hostile GIC payload: %s\n", m[i].what);
		assert_int_equal(b.ops->restore(&b, &c), -EINVAL);
		gicv2_model_get_state(&gic2, &after);
		assert_memory_equal(&before, &after, sizeof(before));
		assert_memory_equal(b.user_irq_levels, levels, sizeof(levels));
		for (unsigned int cpu = 0; cpu < NCPUS; cpu++)
			assert_int_equal(line_calls2[cpu], 0);
	}
	/* Bits for CPUs this GIC lacks are dropped, not loaded: SPI 41 aimed at CPUs 0-7. */
	memcpy(bytes, good.data, good.len);
	bytes[4 * 3 + 5 * 4 * GICV2_IRQ_WORDS + 32 * GICV2_IRQ_WORDS + 41] = 0xff;
	struct snap_cursor c = { .p = bytes, .len = good.len };
	assert_int_equal(b.ops->restore(&b, &c), 0);
	gicv2_model_get_state(&gic2, &after);
	assert_int_equal(after.targets[41], 0x0f);
	snap_buf_free(&good);
	gicv2_model_destroy(&gic2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dist_identification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_typer_other_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_banked_and_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_and_active_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_bytes_and_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_itargetsr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spi_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_cpu_routes_spis_to_cpu0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icfgr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sgi_target_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sgi_several_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sgi_pend_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ppi_level_banked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_semantics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preemption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_point_grouping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pmr_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spurious_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hppir_rpr_and_ties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpuif_misc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_accesses_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_line_callback_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_round_trip_every_cpu_differs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_state_sanitises, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_state_raises_and_lowers_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_state_bad_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_backend_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_backend_rejects_hostile, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
