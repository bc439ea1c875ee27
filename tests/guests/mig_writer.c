/*
 * mig_writer.bin: a guest that keeps rewriting its memory and ticking its
 * timer while it is migrated live, then checks that nothing it wrote before
 * or during the migration was lost and that no tick went missing.  One CPU,
 * on the GICv2 or GICv3 the DTB describes.
 *
 *   mig-writer: gic=v2|v3
 *   mig-writer: ready pages=P rate=R
 *   (rewrites pages at R pages per second, ticking, until a 'g' on the UART)
 *   mig-writer: ticks ok count=A expected=B
 *   mig-writer: before ok bytes=N
 *   mig-writer: during ok pages=P rewrites=W
 *   mig-writer: all ok
 *
 * Bootargs: mig.mib=N, the rewritten region in MiB (1..1024, default 16);
 * mig.rate=N, pages rewritten per second (0 = as fast as it can, default
 * 2000).
 *
 * Memory, from the first 2 MiB boundary above the image: BEFORE_SIZE bytes
 * written once at start with a pattern of each word's address and a seed
 * from CNTVCT (checked at the end: memory written before the migration);
 * a table of one {generation, checksum} pair per rewritten page; the
 * rewritten region itself.  A rewrite of page i writes every word from
 * (address, seed, generation), then the table entry with the checksum of
 * what it wrote.  At the end every page must hold exactly what its table
 * entry says (the checksum of its contents and the pattern of its
 * generation): a page whose last rewrite did not make it across, or whose
 * table entry did not, is caught.
 *
 * Timer: lib/ticker.c's fixed schedule (as snap_timer's), every PERIOD_MS;
 * after 'g' the tick count must match the counter within one.
 */
#include "ticker.h"

#define PERIOD_MS 10
#define TICKS_READY 20
#define TICKS_AFTER 50
#define WAIT_MS 20000
#define WAIT_G_MS 900000

#define BEFORE_SIZE (4ULL << 20)
#define PAGE 4096ULL
#define WORDS (PAGE / 8)
#define REGION_ALIGN (2ULL << 20)
#define DEFAULT_MIB 16
#define MAX_MIB 1024
#define DEFAULT_RATE 2000

extern char _end[];

struct page_entry {
	uint64_t gen;
	uint64_t sum;
};

static struct gic gic;
static uint64_t seed;
static uint64_t before_base, table_base, region_base, npages, rate = DEFAULT_RATE, mib = DEFAULT_MIB;

static uint64_t mix(uint64_t v)
{
	v *= 0x9e3779b97f4a7c15ULL;
	return v ^ (v >> 29);
}

static uint64_t word_of(uint64_t addr, uint64_t gen)
{
	return mix(addr + seed + gen * 0x100000001b3ULL);
}

static uint64_t number(const char *p, const char *key, uint64_t max)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; p[i] >= '0' && p[i] <= '9' && v <= max; i++)
		v = v * 10 + (uint64_t)(p[i] - '0');
	if (i == 0 || (p[i] && p[i] != ' ') || v > max)
		fail("mig-writer: %s takes a number from 0 to %llu", key, (unsigned long long)max);
	return v;
}

static void parse_bootargs(void)
{
	const char *p;

	if ((p = dt_bootarg(&guest_fdt, "mig.mib=")))
		mib = number(p, "mig.mib=", MAX_MIB);
	if ((p = dt_bootarg(&guest_fdt, "mig.rate=")))
		rate = number(p, "mig.rate=", 1000000);
	if (mib == 0)
		fail("mig-writer: mig.mib= must be at least 1");
}

static void layout(uintptr_t dtb)
{
	uint64_t mem_base, mem_size, start, end, dtb_end = dtb + guest_fdt.totalsize;
	int err = dt_memory(&guest_fdt, &mem_base, &mem_size);

	if (err < 0)
		fail("mig-writer: no usable memory node: %s", fdt_strerror(err));
	npages = mib * (1ULL << 20) / PAGE;
	start = ((uint64_t)(uintptr_t)_end + REGION_ALIGN - 1) & ~(REGION_ALIGN - 1);
	before_base = start;
	table_base = start + BEFORE_SIZE;
	region_base = (table_base + npages * sizeof(struct page_entry) + PAGE - 1) & ~(PAGE - 1);
	end = region_base + npages * PAGE;
	if (end > mem_base + mem_size)
		fail("mig-writer: %llu MiB of test memory do not fit below 0x%llx (give the VM more RAM)",
		     (unsigned long long)((end - start) >> 20), (unsigned long long)(mem_base + mem_size));
	if (dtb < end && dtb_end > start)
		fail("mig-writer: the DTB lies in the test memory (give the VM more RAM)");
}

static void rewrite(uint64_t i, uint64_t gen)
{
	uint64_t addr = region_base + i * PAGE, sum = 0;
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)addr;
	volatile struct page_entry *e = (volatile struct page_entry *)(uintptr_t)table_base + i;

	for (uint64_t w = 0; w < WORDS; w++) {
		uint64_t v = word_of(addr + 8 * w, gen);
		p[w] = v;
		sum = mix(sum ^ v);
	}
	dsb_sy();
	e->gen = gen;
	e->sum = sum;
	dsb_sy();
}

static void check_before(void)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)before_base;

	for (uint64_t w = 0; w < BEFORE_SIZE / 8; w++)
		if (p[w] != mix(before_base + 8 * w + seed))
			fail("mig-writer: memory written before the migration changed at 0x%llx: 0x%llx, expected 0x%llx",
			     (unsigned long long)(before_base + 8 * w), (unsigned long long)p[w],
			     (unsigned long long)mix(before_base + 8 * w + seed));
}

static void check_during(void)
{
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t addr = region_base + i * PAGE, sum = 0;
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)addr;
		volatile struct page_entry *e = (volatile struct page_entry *)(uintptr_t)table_base + i;
		uint64_t gen = e->gen;

		for (uint64_t w = 0; w < WORDS; w++) {
			uint64_t v = p[w];
			if (v != word_of(addr + 8 * w, gen))
				fail("mig-writer: page %llu at 0x%llx: word %llu is 0x%llx, generation %llu wrote 0x%llx",
				     (unsigned long long)i, (unsigned long long)addr, (unsigned long long)w,
				     (unsigned long long)v, (unsigned long long)gen,
				     (unsigned long long)word_of(addr + 8 * w, gen));
			sum = mix(sum ^ v);
		}
		if (sum != e->sum)
			fail("mig-writer: page %llu: checksum 0x%llx, the table says 0x%llx", (unsigned long long)i,
			     (unsigned long long)sum, (unsigned long long)e->sum);
	}
}

void guest_main(uintptr_t dtb)
{
	const char *what = "";
	uint64_t rewrites = 0, i = 0, t0, now, expected, count, deadline, step;
	int err, c;

	guest_init(dtb, true);
	err = gic_probe(&guest_fdt, &gic, &what);
	if (err < 0)
		fail("mig-writer: interrupt controller: %s: %s", what, fdt_strerror(err));
	kprintf("mig-writer: gic=v%d\n", gic.version);
	gic_check_vtimer_node(&guest_fdt, &gic, "mig-writer");
	parse_bootargs();
	layout(dtb);

	seed = counter_now();
	for (uint64_t w = 0; w < BEFORE_SIZE / 8; w++)
		((volatile uint64_t *)(uintptr_t)before_base)[w] = mix(before_base + 8 * w + seed);
	for (uint64_t p = 0; p < npages; p++)
		rewrite(p, 1);

	ticker_start(&gic, "mig-writer", PERIOD_MS);
	ticker_wait_ready(TICKS_READY, WAIT_MS);
	kprintf("mig-writer: ready pages=%llu rate=%llu\n", (unsigned long long)npages, (unsigned long long)rate);

	/* Rewriting on a fixed schedule (rate pages a second) until 'g': the migration happens meanwhile. */
	step = rate ? counter_freq() / rate : 0;
	t0 = counter_now();
	deadline = counter_deadline_ms(WAIT_G_MS);
	for (;;) {
		now = ticker_poll("rewriting");
		if (now >= deadline)
			fail("mig-writer: no 'g' on the UART within %d s", WAIT_G_MS / 1000);
		if (!step || now - t0 >= rewrites * step) {
			i = (i + 617) % npages;
			rewrite(i, rewrites + 2);
			rewrites++;
		}
		c = uart_getc();
		if (c == 'g')
			break;
	}

	ticker_finish(TICKS_AFTER, WAIT_MS, &count, &expected);
	kprintf("mig-writer: ticks ok count=%llu expected=%llu\n", (unsigned long long)count,
		(unsigned long long)expected);
	check_before();
	kprintf("mig-writer: before ok bytes=%llu\n", (unsigned long long)BEFORE_SIZE);
	check_during();
	kprintf("mig-writer: during ok pages=%llu rewrites=%llu\n", (unsigned long long)npages,
		(unsigned long long)rewrites);
	kprintf("mig-writer: all ok\n");
	psci_system_off();
}
