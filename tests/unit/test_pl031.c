/* The PL031 RTC model: PrimeCell IDs Linux probes, the counter against a fake clock, load, match interrupt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/pl031.h"
#include "irqchip/irqchip.h"
#include "core/state.h"

static int64_t fake_now = 1700000000;
static int64_t fake_clock(void) { return fake_now; }

static int line = -1, changes;
static int record_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	(void)ic;
	assert_int_equal(spi, 1);
	line = level;
	changes++;
	return 0;
}
static const struct irqchip_ops recording_ops = { .name = "test", .set_spi = record_spi };
static struct irqchip fake_ic = { .ops = &recording_ops };

static uint32_t rd(struct pl031 *r, uint64_t off)
{
	uint32_t v;
	pl031_mmio_read(r, off, (uint8_t *)&v, 4);
	return v;
}
static void wr(struct pl031 *r, uint64_t off, uint32_t v) { pl031_mmio_write(r, off, (uint8_t *)&v, 4); }

static void make(struct pl031 *r)
{
	pl031_init(r, &fake_ic, 1);
	r->now = fake_clock;
	fake_now = 1700000000;
	line = -1;
	changes = 0;
}

static void test_primecell_id(void **state)
{
	struct pl031 r;
	(void)state;
	make(&r);
	/* AMBA matches 0x00041031 from PeriphID0..3 and needs the PrimeCell ID 0xb105f00d. */
	uint32_t pid = 0, cid = 0;
	for (int i = 0; i < 4; i++) {
		pid |= (rd(&r, 0xfe0 + 4 * i) & 0xff) << (8 * i);
		cid |= (rd(&r, 0xff0 + 4 * i) & 0xff) << (8 * i);
	}
	assert_int_equal(pid, 0x00041031);
	assert_int_equal(cid, 0xb105f00d);
}

static void test_counter_follows_host_clock_and_load(void **state)
{
	struct pl031 r;
	(void)state;
	make(&r);
	assert_int_equal(rd(&r, 0x000), 1700000000u);
	assert_int_equal(rd(&r, 0x00c) & 1, 1); /* running */
	fake_now += 5;
	assert_int_equal(rd(&r, 0x000), 1700000005u);
	wr(&r, 0x008, 1000); /* RTCLR: the guest sets its own time */
	assert_int_equal(rd(&r, 0x000), 1000);
	fake_now += 7;
	assert_int_equal(rd(&r, 0x000), 1007); /* and it keeps counting from there */
	wr(&r, 0x000, 5); /* RTCDR is read-only */
	assert_int_equal(rd(&r, 0x000), 1007);
	wr(&r, 0x00c, 0); /* the counter cannot be stopped */
	assert_int_equal(rd(&r, 0x00c) & 1, 1);
}

static void test_match_interrupt(void **state)
{
	struct pl031 r;
	(void)state;
	make(&r);
	wr(&r, 0x004, 1700000003); /* RTCMR */
	assert_int_equal(rd(&r, 0x004), 1700000003u);
	pl031_match(&r, false);
	assert_int_equal(rd(&r, 0x014), 0); /* not yet */
	fake_now += 3;
	pl031_match(&r, false);
	assert_int_equal(rd(&r, 0x014), 1); /* RIS */
	assert_int_equal(rd(&r, 0x018), 0); /* masked: MIS clear, line never raised */
	assert_int_equal(changes, 0);
	wr(&r, 0x010, 1); /* unmask: the pending match raises the line */
	assert_int_equal(rd(&r, 0x018), 1);
	assert_int_equal(line, 1);
	wr(&r, 0x01c, 1); /* RTCICR clears it */
	assert_int_equal(rd(&r, 0x014), 0);
	assert_int_equal(line, 0);
	assert_int_equal(changes, 2);
}

/* A clock that moves on 10 s at every read, so a second read in one operation is never the same second. */
static int64_t ticking_clock(void)
{
	int64_t t = fake_now;

	fake_now += 10;
	return t;
}

/* The timerfd's clock: time() may read a coarser clock that is still in the previous second. */
static int64_t realtime_seconds(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return ts.tv_sec;
}

/* The timerfd is armed to fire at host second when (it runs on the real clock). */
static void assert_fires_at(const struct pl031 *r, int64_t when)
{
	struct itimerspec its;
	int64_t before = realtime_seconds();

	assert_int_equal(timerfd_gettime(r->timer_fd, &its), 0);
	int64_t after = realtime_seconds();
	assert_true(its.it_value.tv_sec > 0 || its.it_value.tv_nsec > 0);
	/* gettime reports what is left, truncated, at a moment between before and after + 1. */
	assert_true(its.it_value.tv_sec >= when - after - 1 && its.it_value.tv_sec <= when - before);
}

static void test_match_armed_from_one_clock_read(void **state)
{
	struct pl031 r;
	int64_t written_at, match;
	(void)state;

	make(&r);
	r.timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	assert_true(r.timer_fd >= 0);
	r.now = ticking_clock;
	fake_now = realtime_seconds();
	/* RTCMR 1000 s ahead of the counter: it matches 1000 s after the second it was written in. */
	written_at = fake_now;
	match = written_at + 1000;
	wr(&r, 0x004, (uint32_t)match);
	assert_fires_at(&r, written_at + 1000);
	/* RTCLR 2000 s before the match: loading and arming see the same second. */
	written_at = fake_now;
	wr(&r, 0x008, (uint32_t)(match - 2000));
	assert_fires_at(&r, written_at + 2000);
	pl031_destroy(&r);
}

/* Do what the event loop does when the match timer fires; false if it did not within wait_ms. */
static bool timer_fired(struct pl031 *r, int wait_ms)
{
	struct pollfd p = { .fd = r->timer_fd, .events = POLLIN };
	uint64_t expirations;

	if (poll(&p, 1, wait_ms) != 1)
		return false;
	assert_int_equal(read(r->timer_fd, &expirations, sizeof(expirations)), sizeof(expirations));
	pl031_match(r, true);
	return true;
}

static void test_imsc_write_does_not_rearm(void **state)
{
	struct pl031 r;
	(void)state;

	make(&r);
	r.timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	assert_true(r.timer_fd >= 0);
	wr(&r, 0x004, 1700000000); /* RTCMR: matches this very second */
	assert_true(timer_fired(&r, 5000));
	assert_int_equal(rd(&r, 0x014), 1);
	wr(&r, 0x01c, 1); /* the guest clears it within the match second */
	/* IMSC only masks: it must not make the match that already happened fire again. */
	wr(&r, 0x010, 1);
	assert_false(timer_fired(&r, 200));
	wr(&r, 0x010, 0);
	assert_false(timer_fired(&r, 200));
	assert_int_equal(rd(&r, 0x014), 0);
	assert_int_equal(changes, 0); /* the line never went up */
	pl031_destroy(&r);
}

static void test_bad_accesses_ignored(void **state)
{
	struct pl031 r;
	uint8_t b[8];
	(void)state;
	make(&r);
	memset(b, 0xaa, sizeof(b));
	pl031_mmio_read(&r, 0x000, b, 1); /* byte and misaligned accesses read as zero */
	assert_int_equal(b[0], 0);
	pl031_mmio_read(&r, 0x002, b, 4);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	pl031_mmio_read(&r, 0x800, b, 4); /* unknown register */
	assert_int_equal(b[0], 0);
	b[0] = 1;
	pl031_mmio_write(&r, 0x010, b, 1); /* a byte write to IMSC changes nothing */
	assert_int_equal(rd(&r, 0x010), 0);
	pl031_mmio_write(&r, 0xffc, b, 8);
	assert_int_equal(rd(&r, 0x000), 1700000000u);
}

/* --- snapshots ------------------------------------------------------------------------ */

static struct snap_cursor cursor(const struct snap_buf *b)
{
	return (struct snap_cursor){ .p = b->data, .len = b->len };
}

/* An RTC the guest has set, with a match pending and unmasked (the line is high). */
static void busy_rtc(struct pl031 *r)
{
	wr(r, 0x008, 500000);	/* RTCLR */
	wr(r, 0x004, 500000);	/* RTCMR: matches now */
	pl031_match(r, false);
	wr(r, 0x010, 1);	/* IMSC */
	wr(r, 0x004, 500100);	/* the next match, 100 s away */
	assert_int_equal(line, 1);
}

static void test_snapshot_round_trip(void **state)
{
	struct pl031 a, b;
	struct snap_buf buf = { 0 };
	struct itimerspec its;
	(void)state;

	make(&a);
	fake_now = time(NULL); /* the restored timerfd is armed against the real clock */
	busy_rtc(&a);
	pl031_save(&a, &buf);
	assert_false(buf.err);
	assert_int_equal(buf.len, 8 + 4 * 4);

	make(&b);
	fake_now = time(NULL) + 30; /* the VM stayed saved for 30 s */
	b.timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	assert_true(b.timer_fd >= 0);
	struct snap_cursor c = cursor(&buf);
	assert_int_equal(pl031_restore(&b, &c), 0);
	assert_int_equal(line, 1);	/* RIS & IMSC: driven on restore */
	assert_int_equal(changes, 1);
	/* Guest-visible: the registers, and a counter that shows the 30 s that passed meanwhile. */
	assert_int_equal(rd(&b, 0x000), 500030u);
	assert_int_equal(rd(&b, 0x004), 500100u);
	assert_int_equal(rd(&b, 0x00c), 1u);
	assert_int_equal(rd(&b, 0x010), 1u);
	assert_int_equal(rd(&b, 0x014), 1u);
	assert_int_equal(rd(&b, 0x018), 1u);
	/* The match timer is armed for counter 500100: 70 s after the fake "now", which runs 30 s ahead of the real clock. */
	assert_int_equal(timerfd_gettime(b.timer_fd, &its), 0);
	assert_true(its.it_value.tv_sec > 0 || its.it_value.tv_nsec > 0);
	assert_true(its.it_value.tv_sec >= 60 && its.it_value.tv_sec <= 100);
	wr(&b, 0x01c, 1);	/* RTCICR */
	assert_int_equal(line, 0);
	pl031_destroy(&b);
	snap_buf_free(&buf);
}

static void test_snapshot_lowers_line(void **state)
{
	struct pl031 a, b;
	struct snap_buf buf = { 0 };
	(void)state;

	make(&a);
	wr(&a, 0x004, 1700000000);
	pl031_match(&a, false);	/* RIS set, but masked */
	pl031_save(&a, &buf);
	make(&b);
	busy_rtc(&b);		/* this one's line is high */
	struct snap_cursor c = cursor(&buf);
	assert_int_equal(pl031_restore(&b, &c), 0);
	assert_int_equal(line, 0);
	assert_int_equal(rd(&b, 0x014), 1u);
	assert_int_equal(rd(&b, 0x018), 0u);
	snap_buf_free(&buf);
}

/* Payload: offset (u64) | match | control | imsc | ris (u32 each). */
static void test_snapshot_rejects_hostile(void **state)
{
	static const struct {
		const char *what;
		size_t off;
		uint8_t value;
		int len_delta;
	} m[] = {
		{ "offset beyond any RTCLR", 5, 0x10, 0 },
		{ "offset hugely negative", 7, 0x80, 0 },
		{ "control bit 1", 12, 2, 0 },
		{ "imsc bit 1", 16, 2, 0 },
		{ "imsc high bit", 19, 0x80, 0 },
		{ "ris bit 4", 20, 0x11, 0 },
		{ "truncated", SIZE_MAX, 0, -1 },
		{ "empty", SIZE_MAX, 0, -24 },
		{ "a byte left over", SIZE_MAX, 0, 1 },
	};
	struct pl031 a, victim;
	struct snap_buf good = { 0 };
	(void)state;

	make(&a);
	busy_rtc(&a);
	pl031_save(&a, &good);
	make(&victim);
	wr(&victim, 0x004, 77);
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		uint8_t bytes[32] = { 0 };
		struct pl031_state before = victim.st;
		int calls = changes;

		memcpy(bytes, good.data, good.len);
		if (m[i].off != SIZE_MAX)
			bytes[m[i].off] = m[i].value;
		struct snap_cursor c = { .p = bytes, .len = (size_t)((int)good.len + m[i].len_delta) };
		print_message("hostile RTC payload: %s\n", m[i].what);
		assert_int_equal(pl031_restore(&victim, &c), -EINVAL);
		assert_memory_equal(&victim.st, &before, sizeof(before));
		assert_int_equal(changes, calls);
	}
	snap_buf_free(&good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primecell_id),
		cmocka_unit_test(test_counter_follows_host_clock_and_load),
		cmocka_unit_test(test_match_interrupt),
		cmocka_unit_test(test_match_armed_from_one_clock_read),
		cmocka_unit_test(test_imsc_write_does_not_rearm),
		cmocka_unit_test(test_bad_accesses_ignored),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_snapshot_lowers_line),
		cmocka_unit_test(test_snapshot_rejects_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
