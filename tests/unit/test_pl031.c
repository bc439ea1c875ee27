/* The PL031 RTC model: PrimeCell IDs Linux probes, the counter against a fake clock, load, match interrupt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/pl031.h"
#include "irqchip/irqchip.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primecell_id),
		cmocka_unit_test(test_counter_follows_host_clock_and_load),
		cmocka_unit_test(test_match_interrupt),
		cmocka_unit_test(test_bad_accesses_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
