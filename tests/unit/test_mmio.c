/* The MMIO bus: routing, bounds and accesses that straddle or miss every region. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/mmio.h"

struct dev {
	uint64_t last_off;
	unsigned int last_len, reads, writes;
	uint8_t last_data[8];
};

static void dev_read(void *d, uint64_t off, uint8_t *data, unsigned int len)
{
	struct dev *dev = d;
	dev->last_off = off;
	dev->last_len = len;
	dev->reads++;
	memset(data, 0x5a, len);
}

static void dev_write(void *d, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct dev *dev = d;
	dev->last_off = off;
	dev->last_len = len;
	dev->writes++;
	memcpy(dev->last_data, data, len);
}

static void test_routing_and_bounds(void **state)
{
	(void)state;
	struct mmio_bus bus = { .count = 0 };
	struct dev a = { 0 }, b = { 0 };
	struct mmio_region ra = { .base = 0x1000000, .size = 0x1000, .name = "a", .dev = &a,
				  .read = dev_read, .write = dev_write };
	struct mmio_region rb = { .base = 0x1001000, .size = 0x200, .name = "b", .dev = &b,
				  .read = dev_read, .write = dev_write };
	uint8_t data[8];

	assert_int_equal(mmio_bus_add(&bus, &ra), 0);
	assert_int_equal(mmio_bus_add(&bus, &rb), 0);
	/* Overlaps, empty and wrapping regions are refused. */
	struct mmio_region bad = ra;
	bad.base = 0x1000ff0;
	assert_int_equal(mmio_bus_add(&bus, &bad), -EEXIST);
	bad.size = 0;
	assert_int_equal(mmio_bus_add(&bus, &bad), -EINVAL);
	bad.base = UINT64_MAX - 4;
	bad.size = 16;
	assert_int_equal(mmio_bus_add(&bus, &bad), -EINVAL);

	assert_true(mmio_bus_access(&bus, 0x1000004, data, 4, false));
	assert_int_equal(a.last_off, 4);
	assert_int_equal(data[0], 0x5a);
	memcpy(data, "\x11\x22", 2);
	assert_true(mmio_bus_access(&bus, 0x10011fe, data, 2, true));
	assert_int_equal(b.last_off, 0x1fe);
	assert_int_equal(b.last_data[1], 0x22);

	/* Straddling the end of a region reaches no device; reads come back as zeros. */
	memset(data, 0xff, sizeof(data));
	assert_false(mmio_bus_access(&bus, 0x10011fc, data, 8, false));
	assert_int_equal(data[0] | data[7], 0);
	assert_false(mmio_bus_access(&bus, 0x0fffffc, data, 8, true));
	assert_false(mmio_bus_access(&bus, UINT64_MAX - 3, data, 8, false));
	assert_false(mmio_bus_access(&bus, 0x1000000, data, 0, false));
	assert_false(mmio_bus_access(&bus, 0x1000000, data, 16, false));
	assert_int_equal(a.reads + b.reads, 1);
	assert_int_equal(a.writes + b.writes, 1);
}

static void test_table_full(void **state)
{
	(void)state;
	struct mmio_bus bus = { .count = 0 };
	struct dev d;
	for (unsigned int i = 0; i < MMIO_MAX_REGIONS; i++) {
		struct mmio_region r = { .base = 0x1000000 + i * 0x1000ull, .size = 0x1000, .name = "r",
					 .dev = &d, .read = dev_read, .write = dev_write };
		assert_int_equal(mmio_bus_add(&bus, &r), 0);
	}
	struct mmio_region r = { .base = 0x2000000, .size = 0x1000, .name = "one too many", .dev = &d,
				 .read = dev_read, .write = dev_write };
	assert_int_equal(mmio_bus_add(&bus, &r), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing_and_bounds),
		cmocka_unit_test(test_table_full),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
