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
#include "gic.h"

#define VTIMER_INTID 27
#define VTIMER_PRIO 0xa0
#define PERIOD_MS 10
#define TICKS_READY 50
#define TICKS_AFTER 100
#define WAIT_MS 10000		/* any one wait but the one for 'g' */
#define WAIT_G_MS 600000	/* for 'g': the migration happens meanwhile */
#define MAX_STALE 1000

#define REGION_SIZE (32ULL << 20)
#define REGION_ALIGN (2ULL << 20)
#define BLOCK_SIZE (64ULL << 10)

#define CNTV_CTL_ENABLE (1ULL << 0)
#define CNTV_CTL_IMASK (1ULL << 1)
#define CNTV_CTL_ISTATUS (1ULL << 2)

extern char __image_start[], _end[];

static struct gic gic;
/* All of this is in guest RAM, so it migrates with the VM. */
static uint64_t seed;
static uint64_t region_base;
static uint64_t period;
static uint64_t cval_base;		/* CVAL of tick 0: tick k fires at base + k * period */
static volatile uint64_t next_cval;	/* the CVAL armed for the next tick */
static volatile uint64_t ticks;
static volatile uint64_t last_count;	/* the latest CNTVCT read, for the backwards check */
static volatile unsigned stale;		/* spurious INTIDs and timer IRQs with ISTATUS clear */

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

/* Must run with IRQs masked: the handler updates last_count too. */
static void counter_check(uint64_t now, const char *where)
{
	if (now < last_count)
		fail("snap-timer: CNTVCT went backwards (%s): 0x%llx after 0x%llx", where,
		     (unsigned long long)now, (unsigned long long)last_count);
	last_count = now;
}

static void timer_irq(void)
{
	uint32_t iar = gic_ack(&gic);
	unsigned intid = gic_iar_intid(&gic, iar);
	uint64_t ctl, cval, now;

	if (gic_intid_spurious(intid)) {
		if (++stale > MAX_STALE)
			fail("snap-timer: more than %d spurious interrupts (last IAR 0x%x)", MAX_STALE, iar);
		return;
	}
	if (intid != VTIMER_INTID) {
		gic_eoi(&gic, iar);
		fail("snap-timer: acknowledged INTID %u (IAR 0x%x), expected %d", intid, iar,
		     VTIMER_INTID);
	}

	ctl = read_sysreg(cntv_ctl_el0);
	cval = read_sysreg(cntv_cval_el0);
	now = counter_now();
	counter_check(now, "timer interrupt");
	if (cval != next_cval)
		fail("snap-timer: tick %llu: CNTV_CVAL_EL0 is 0x%llx, this guest armed 0x%llx "
		     "(CNTV_CTL 0x%llx, CNTVCT 0x%llx)", (unsigned long long)ticks + 1,
		     (unsigned long long)cval, (unsigned long long)next_cval,
		     (unsigned long long)ctl, (unsigned long long)now);
	if ((ctl & (CNTV_CTL_ENABLE | CNTV_CTL_IMASK)) != CNTV_CTL_ENABLE)
		fail("snap-timer: tick %llu: CNTV_CTL_EL0 is 0x%llx, this guest set ENABLE only",
		     (unsigned long long)ticks + 1, (unsigned long long)ctl);
	if (!(ctl & CNTV_CTL_ISTATUS)) {
		/*
		 * The GIC saw a stale level (the previous tick's, before CVAL
		 * moved on): not a tick.  Tolerated, like timer.c does.
		 */
		gic_eoi(&gic, iar);
		if (++stale > MAX_STALE)
			fail("snap-timer: more than %d timer interrupts with CNTV_CTL.ISTATUS clear "
			     "(CVAL 0x%llx, CNTVCT 0x%llx)", MAX_STALE, (unsigned long long)cval,
			     (unsigned long long)now);
		return;
	}
	if (now < cval)
		fail("snap-timer: tick %llu came early: CNTVCT 0x%llx < CVAL 0x%llx",
		     (unsigned long long)ticks + 1, (unsigned long long)now, (unsigned long long)cval);

	ticks = ticks + 1;
	/* The schedule, not "now + period": a late tick does not shift the next one. */
	next_cval = next_cval + period;
	write_sysreg(cntv_cval_el0, next_cval);
	isb();
	gic_eoi(&gic, iar);
}

/* One poll step with IRQs unmasked around it; returns the counter value read. */
static uint64_t poll_counter(const char *where)
{
	uint64_t now;

	irq_disable();
	now = counter_now();
	counter_check(now, where);
	irq_enable();
	return now;
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
	uint64_t deadline, now, target, expected, t, diff;
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

	period = counter_freq() * PERIOD_MS / 1000;
	if (period == 0)
		fail("snap-timer: CNTFRQ_EL0 %llu Hz is too low for a %d ms period",
		     (unsigned long long)counter_freq(), PERIOD_MS);

	write_sysreg(cntv_ctl_el0, 0);
	isb();
	gic_init(&gic);
	gic_enable_ppi(&gic, VTIMER_INTID, VTIMER_PRIO);
	irq_handler = timer_irq;

	last_count = counter_now();
	cval_base = last_count;
	next_cval = cval_base + period;
	write_sysreg(cntv_cval_el0, next_cval);
	write_sysreg(cntv_ctl_el0, CNTV_CTL_ENABLE);
	isb();
	irq_enable();

	/* Spin (no wfi): a timer that never fires must end in FAIL, not in sleep. */
	deadline = counter_deadline_ms(WAIT_MS);
	while (ticks < TICKS_READY)
		if (poll_counter("waiting for the first ticks") >= deadline)
			fail("snap-timer: only %llu of %d ticks within %d ms (CNTV_CTL 0x%llx, ISR_EL1 0x%llx)",
			     (unsigned long long)ticks, TICKS_READY, WAIT_MS,
			     (unsigned long long)read_sysreg(cntv_ctl_el0),
			     (unsigned long long)read_sysreg(isr_el1));
	kprintf("snap-timer: ready ticks=%llu\n", (unsigned long long)ticks);

	/* Ticking on while polling the UART: this is where the VM may be migrated. */
	deadline = counter_deadline_ms(WAIT_G_MS);
	for (;;) {
		if (poll_counter("waiting for 'g'") >= deadline)
			fail("snap-timer: no 'g' on the UART within %d s", WAIT_G_MS / 1000);
		c = uart_getc();
		if (c == 'g')
			break;
	}

	/* TICKS_AFTER more, and (if the counter jumped) caught up with the schedule. */
	target = ticks + TICKS_AFTER;
	deadline = counter_deadline_ms(WAIT_MS);
	for (;;) {
		irq_disable();
		now = counter_now();
		counter_check(now, "after 'g'");
		t = ticks;
		expected = (now - cval_base) / period;
		diff = expected > t ? expected - t : t - expected;
		if (t >= target && diff <= 1)
			break;
		if (now >= deadline)
			fail("snap-timer: %llu ticks, expected %llu (CNTVCT 0x%llx, base 0x%llx, period %llu, "
			     "CVAL 0x%llx, CNTV_CTL 0x%llx) %d ms after 'g'", (unsigned long long)t,
			     (unsigned long long)expected, (unsigned long long)now,
			     (unsigned long long)cval_base, (unsigned long long)period,
			     (unsigned long long)read_sysreg(cntv_cval_el0),
			     (unsigned long long)read_sysreg(cntv_ctl_el0), WAIT_MS);
		irq_enable();
	}
	/* IRQs stay masked from here on: stop the timer. */
	write_sysreg(cntv_ctl_el0, CNTV_CTL_IMASK);
	isb();
	irq_handler = NULL;
	kprintf("snap-timer: ticks ok count=%llu expected=%llu\n", (unsigned long long)t,
		(unsigned long long)expected);

	memory_verify();
	kprintf("snap-timer: memory ok bytes=%llu\n", (unsigned long long)REGION_SIZE);
	kprintf("snap-timer: all ok\n");
	psci_system_off();
}
