/*
 * snap_timer.bin: guest RAM contents and a periodic EL1 virtual timer that
 * must both survive whatever happens between "ready" and a 'g' on the UART
 * (the snapshot/restore tests migrate the VM there).  Runs on the GICv2 or
 * GICv3 the DTB describes, on one CPU.
 *
 *   snap-timer: gic=v2|v3
 *   snap-timer: memory written bytes=N
 *   snap-timer: ready ticks=N
 *   (waits for a 'g' on the UART, ticking)
 *   snap-timer: ticks ok count=A expected=B
 *   snap-timer: memory ok bytes=N
 *   snap-timer: all ok
 *
 * Memory: REGION_SIZE bytes from the first 2 MiB boundary above the image
 * (and its stacks), in 64 KiB blocks: even blocks hold a pattern derived
 * from each word's address and a seed taken from CNTVCT at start, odd
 * blocks are all zero (a sparse snapshot file keeps zero pages as holes,
 * and those must come back as zeros, not as garbage or as pattern).  Half
 * of the zero blocks are written with zeros, half are not touched at all
 * before the check (fresh RAM reads as zero), so a VMM that finds zero
 * pages by content and one that goes by which pages were ever used are
 * both exercised.
 *
 * Timer: INTID 27 every PERIOD_MS, each CVAL the previous CVAL + period
 * (never "now + period"), so a late interrupt, e.g. one held up by a
 * snapshot, does not move the schedule and every period is one tick.  On
 * every tick: the CVAL that fired is the one this guest armed for that
 * tick (a restored stale CVAL would count a tick twice), CNTVCT >= CVAL
 * (never early); on every tick and every poll: CNTVCT never goes
 * backwards.  After 'g' and TICKS_AFTER more ticks the tick count must be
 * (CNTVCT - base) / period within +-1, base being the CVAL of tick 0 (none
 * lost or doubled).  If the counter jumped ahead over the migration the
 * missed ticks come back to back (their CVALs are all in the past), so the
 * count is allowed to catch up within WAIT_MS.
 */
#include "ticker.h"

#define PERIOD_MS 10
#define TICKS_READY 50
#define TICKS_AFTER 100
#define WAIT_MS 10000		/* any one wait but the one for 'g' */
#define WAIT_G_MS 600000	/* for 'g': the migration happens meanwhile */

#define REGION_SIZE (32ULL << 20)
#define REGION_ALIGN (2ULL << 20)
#define BLOCK_SIZE (64ULL << 10)

extern char __image_start[], _end[];

static struct gic gic;
/* All of this is in guest RAM, so it migrates with the VM. */
static uint64_t seed;
static uint64_t region_base;

static uint64_t pattern(uint64_t addr)
{
	uint64_t v = (addr + seed) * 0x9e3779b97f4a7c15ULL;

	return v ^ (v >> 31);
}

/* Block kinds: pattern, zero written with zeros, zero never written. */
enum block_kind { BLOCK_PATTERN, BLOCK_ZEROED, BLOCK_UNTOUCHED };

static enum block_kind block_kind(uint64_t index)
{
	if (!(index & 1))
		return BLOCK_PATTERN;
	return (index & 2) ? BLOCK_UNTOUCHED : BLOCK_ZEROED;
}

static void memory_write(uint64_t dtb)
{
	uint64_t mem_base, mem_size, mem_end, dtb_end, start, end, b;
	int err;

	err = dt_memory(&guest_fdt, &mem_base, &mem_size);
	if (err < 0)
		fail("snap-timer: no usable memory node: %s", fdt_strerror(err));
	mem_end = mem_base + mem_size;
	start = ((uint64_t)(uintptr_t)_end + REGION_ALIGN - 1) & ~(REGION_ALIGN - 1);
	end = start + REGION_SIZE;
	dtb_end = dtb + guest_fdt.totalsize;
	if ((uint64_t)(uintptr_t)__image_start < mem_base || end > mem_end)
		fail("snap-timer: memory [0x%llx, 0x%llx) has no room for 0x%llx bytes above the image "
		     "at 0x%llx (give the VM more RAM)", (unsigned long long)mem_base,
		     (unsigned long long)mem_end, (unsigned long long)REGION_SIZE,
		     (unsigned long long)start);
	if (dtb < end && dtb_end > start)
		fail("snap-timer: the DTB [0x%llx, 0x%llx) lies in the test region [0x%llx, 0x%llx) "
		     "(give the VM more RAM)", (unsigned long long)dtb, (unsigned long long)dtb_end,
		     (unsigned long long)start, (unsigned long long)end);
	region_base = start;

	for (b = 0; b < REGION_SIZE / BLOCK_SIZE; b++) {
		uint64_t addr = start + b * BLOCK_SIZE, i;
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)addr;
		enum block_kind k = block_kind(b);

		if (k == BLOCK_UNTOUCHED)
			continue;
		for (i = 0; i < BLOCK_SIZE / 8; i++)
			p[i] = k == BLOCK_PATTERN ? pattern(addr + 8 * i) : 0;
	}
	dsb_sy();
}

static void memory_verify(void)
{
	uint64_t b, bad = 0, first = 0, got = 0, want = 0;

	for (b = 0; b < REGION_SIZE / BLOCK_SIZE; b++) {
		uint64_t addr = region_base + b * BLOCK_SIZE, i;
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)addr;
		bool pat = block_kind(b) == BLOCK_PATTERN;

		for (i = 0; i < BLOCK_SIZE / 8; i++) {
			uint64_t v = p[i], w = pat ? pattern(addr + 8 * i) : 0;

			if (v != w) {
				if (!bad) {
					first = addr + 8 * i;
					got = v;
					want = w;
				}
				bad++;
			}
		}
	}
	if (bad)
		fail("snap-timer: memory: %llu of %llu words wrong, the first at 0x%llx (%s block): "
		     "0x%llx, expected 0x%llx", (unsigned long long)bad,
		     (unsigned long long)(REGION_SIZE / 8), (unsigned long long)first,
		     block_kind((first - region_base) / BLOCK_SIZE) == BLOCK_PATTERN ? "pattern" : "zero",
		     (unsigned long long)got, (unsigned long long)want);
}

void guest_main(uintptr_t dtb)
{
	const char *what = "";
	uint64_t deadline, expected, t;
	int err, c;

	guest_init(dtb, true);
	err = gic_probe(&guest_fdt, &gic, &what);
	if (err < 0)
		fail("snap-timer: interrupt controller: %s: %s", what, fdt_strerror(err));
	kprintf("snap-timer: gic=v%d\n", gic.version);
	gic_check_vtimer_node(&guest_fdt, &gic, "snap-timer");

	seed = counter_now();
	memory_write(dtb);
	kprintf("snap-timer: memory written bytes=%llu\n", (unsigned long long)REGION_SIZE);

	ticker_start(&gic, "snap-timer", PERIOD_MS);
	ticker_wait_ready(TICKS_READY, WAIT_MS);
	kprintf("snap-timer: ready ticks=%llu\n", (unsigned long long)ticker_ticks());

	/* Ticking on while polling the UART: this is where the VM may be migrated. */
	deadline = counter_deadline_ms(WAIT_G_MS);
	for (;;) {
		if (ticker_poll("waiting for 'g'") >= deadline)
			fail("snap-timer: no 'g' on the UART within %d s", WAIT_G_MS / 1000);
		c = uart_getc();
		if (c == 'g')
			break;
	}

	/* TICKS_AFTER more, and (if the counter jumped) caught up with the schedule. */
	ticker_finish(TICKS_AFTER, WAIT_MS, &t, &expected);
	kprintf("snap-timer: ticks ok count=%llu expected=%llu\n", (unsigned long long)t,
		(unsigned long long)expected);

	memory_verify();
	kprintf("snap-timer: memory ok bytes=%llu\n", (unsigned long long)REGION_SIZE);
	kprintf("snap-timer: all ok\n");
	psci_system_off();
}
