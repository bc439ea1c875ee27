/* The fixed-schedule virtual timer of ticker.h. */
#include "ticker.h"

#define VTIMER_INTID 27
#define VTIMER_PRIO 0xa0
#define MAX_STALE 1000

#define CNTV_CTL_ENABLE (1ULL << 0)
#define CNTV_CTL_IMASK (1ULL << 1)
#define CNTV_CTL_ISTATUS (1ULL << 2)

static struct gic *gic;
static const char *who;
static uint64_t period;
static uint64_t cval_base;		/* CVAL of tick 0: tick k fires at base + k * period */
static volatile uint64_t next_cval;	/* the CVAL armed for the next tick */
static volatile uint64_t ticks;
static volatile uint64_t last_count;	/* the latest CNTVCT read, for the backwards check */
static volatile unsigned stale;		/* spurious INTIDs and timer IRQs with ISTATUS clear */

/* Must run with IRQs masked: the handler updates last_count too. */
static void counter_check(uint64_t now, const char *where)
{
	if (now < last_count)
		fail("%s: CNTVCT went backwards (%s): 0x%llx after 0x%llx", who, where, (unsigned long long)now,
		     (unsigned long long)last_count);
	last_count = now;
}

static void timer_irq(void)
{
	uint32_t iar = gic_ack(gic);
	unsigned intid = gic_iar_intid(gic, iar);
	uint64_t ctl, cval, now;

	if (gic_intid_spurious(intid)) {
		if (++stale > MAX_STALE)
			fail("%s: more than %d spurious interrupts (last IAR 0x%x)", who, MAX_STALE, iar);
		return;
	}
	if (intid != VTIMER_INTID) {
		gic_eoi(gic, iar);
		fail("%s: acknowledged INTID %u (IAR 0x%x), expected %d", who, intid, iar, VTIMER_INTID);
	}

	ctl = read_sysreg(cntv_ctl_el0);
	cval = read_sysreg(cntv_cval_el0);
	now = counter_now();
	counter_check(now, "timer interrupt");
	if (cval != next_cval)
		fail("%s: tick %llu: CNTV_CVAL_EL0 is 0x%llx, this guest armed 0x%llx (CNTV_CTL 0x%llx, CNTVCT 0x%llx)",
		     who, (unsigned long long)ticks + 1, (unsigned long long)cval, (unsigned long long)next_cval,
		     (unsigned long long)ctl, (unsigned long long)now);
	if ((ctl & (CNTV_CTL_ENABLE | CNTV_CTL_IMASK)) != CNTV_CTL_ENABLE)
		fail("%s: tick %llu: CNTV_CTL_EL0 is 0x%llx, this guest set ENABLE only", who,
		     (unsigned long long)ticks + 1, (unsigned long long)ctl);
	if (!(ctl & CNTV_CTL_ISTATUS)) {
		/* The GIC saw a stale level (the previous tick's, before CVAL moved on): not a tick. */
		gic_eoi(gic, iar);
		if (++stale > MAX_STALE)
			fail("%s: more than %d timer interrupts with CNTV_CTL.ISTATUS clear (CVAL 0x%llx, CNTVCT 0x%llx)",
			     who, MAX_STALE, (unsigned long long)cval, (unsigned long long)now);
		return;
	}
	if (now < cval)
		fail("%s: tick %llu came early: CNTVCT 0x%llx < CVAL 0x%llx", who, (unsigned long long)ticks + 1,
		     (unsigned long long)now, (unsigned long long)cval);

	ticks = ticks + 1;
	next_cval = next_cval + period;
	write_sysreg(cntv_cval_el0, next_cval);
	isb();
	gic_eoi(gic, iar);
}

void ticker_start(struct gic *g, const char *name, unsigned int period_ms)
{
	gic = g;
	who = name;
	period = counter_freq() * period_ms / 1000;
	if (period == 0)
		fail("%s: CNTFRQ_EL0 %llu Hz is too low for a %u ms period", who, (unsigned long long)counter_freq(),
		     period_ms);
	write_sysreg(cntv_ctl_el0, 0);
	isb();
	gic_init(gic);
	gic_enable_ppi(gic, VTIMER_INTID, VTIMER_PRIO);
	irq_handler = timer_irq;

	last_count = counter_now();
	cval_base = last_count;
	next_cval = cval_base + period;
	write_sysreg(cntv_cval_el0, next_cval);
	write_sysreg(cntv_ctl_el0, CNTV_CTL_ENABLE);
	isb();
	irq_enable();
}

uint64_t ticker_ticks(void)
{
	return ticks;
}

uint64_t ticker_poll(const char *where)
{
	uint64_t now;

	irq_disable();
	now = counter_now();
	counter_check(now, where);
	irq_enable();
	return now;
}

void ticker_wait_ready(uint64_t n, unsigned int wait_ms)
{
	uint64_t deadline = counter_deadline_ms(wait_ms);

	while (ticks < n)
		if (ticker_poll("waiting for the first ticks") >= deadline)
			fail("%s: only %llu of %llu ticks within %u ms (CNTV_CTL 0x%llx, ISR_EL1 0x%llx)", who,
			     (unsigned long long)ticks, (unsigned long long)n, wait_ms,
			     (unsigned long long)read_sysreg(cntv_ctl_el0), (unsigned long long)read_sysreg(isr_el1));
}

void ticker_finish(uint64_t more, unsigned int wait_ms, uint64_t *count, uint64_t *expected)
{
	uint64_t target = ticks + more, deadline = counter_deadline_ms(wait_ms), now, t, e, diff;

	for (;;) {
		irq_disable();
		now = counter_now();
		counter_check(now, "after 'g'");
		t = ticks;
		e = (now - cval_base) / period;
		diff = e > t ? e - t : t - e;
		if (t >= target && diff <= 1)
			break;
		if (now >= deadline)
			fail("%s: %llu ticks, expected %llu (CNTVCT 0x%llx, base 0x%llx, period %llu, CVAL 0x%llx, "
			     "CNTV_CTL 0x%llx) %u ms after 'g'", who, (unsigned long long)t, (unsigned long long)e,
			     (unsigned long long)now, (unsigned long long)cval_base, (unsigned long long)period,
			     (unsigned long long)read_sysreg(cntv_cval_el0), (unsigned long long)read_sysreg(cntv_ctl_el0),
			     wait_ms);
		irq_enable();
	}
	/* IRQs stay masked from here on: stop the timer. */
	write_sysreg(cntv_ctl_el0, CNTV_CTL_IMASK);
	isb();
	irq_handler = NULL;
	*count = t;
	*expected = e;
}
