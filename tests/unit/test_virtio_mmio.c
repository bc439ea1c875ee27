/* The virtio-mmio transport: registers, feature negotiation, queue setup, reset, interrupts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio_mmio.h"
#include "irqchip/irqchip.h"
#include "vmm/log.h"

static int edges, notifies, resets, last_notify_q = -1;
static uint8_t config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static int record_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	(void)ic;
	assert_int_equal(spi, 17);
	edges += level;
	return 0;
}

static const struct irqchip_ops fake_ops = { .name = "test", .set_spi = record_spi };
static struct irqchip fake_ic = { .ops = &fake_ops };

static void cfg_read(struct virtio_mmio *t, uint32_t off, uint8_t *data, unsigned int len)
{
	(void)t;
	memcpy(data, config + off, len);
}

static void notify(struct virtio_mmio *t, unsigned int q)
{
	(void)t;
	notifies++;
	last_notify_q = (int)q;
}

static void reset(struct virtio_mmio *t)
{
	(void)t;
	resets++;
}

static const struct virtio_device_ops dev_ops = {
	.name = "test-dev", .device_id = 42, .num_queues = 2, .features = 1ull << 3 | 1ull << 40,
	.config_size = sizeof(config), .config_read = cfg_read, .queue_notify = notify, .reset = reset,
};

static struct guest_mem mem;
static struct virtio_mmio t;

static uint32_t rd(uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(&t, off, (uint8_t *)&v, 4);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_mmio_write(&t, off, (uint8_t *)&v, 4);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(guest_mem_alloc(&mem, GUEST_RAM_BASE, 1 << 20), 0);
	virtio_mmio_init(&t, &dev_ops, NULL, &mem, &fake_ic, 17, 0x3000000);
	edges = notifies = resets = 0;
	last_notify_q = -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	guest_mem_free(&mem);
	return 0;
}

static void negotiate(uint64_t features)
{
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(0x024, 0);
	wr(0x020, (uint32_t)features);
	wr(0x024, 1);
	wr(0x020, (uint32_t)(features >> 32));
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(uint32_t q, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used)
{
	wr(0x030, q);
	wr(0x038, num);
	wr(0x080, (uint32_t)desc);
	wr(0x084, (uint32_t)(desc >> 32));
	wr(0x090, (uint32_t)avail);
	wr(0x094, (uint32_t)(avail >> 32));
	wr(0x0a0, (uint32_t)used);
	wr(0x0a4, (uint32_t)(used >> 32));
	wr(0x044, 1);
}

static void test_identity_and_features(void **state)
{
	(void)state;
	assert_int_equal(rd(0x000), 0x74726976);
	assert_int_equal(rd(0x004), 2);
	assert_int_equal(rd(0x008), 42);
	wr(0x014, 0);
	assert_int_equal(rd(0x010), 1u << 3);
	wr(0x014, 1);
	assert_int_equal(rd(0x010), (1u << 8) | 1u); /* bit 40 and VERSION_1 (bit 32) */
	wr(0x014, 7);
	assert_int_equal(rd(0x010), 0);

	/* Accepted: a subset with VERSION_1. */
	negotiate(VIRTIO_F_VERSION_1 | 1ull << 3);
	assert_true(rd(0x070) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(virtio_mmio_features(&t), VIRTIO_F_VERSION_1 | 1ull << 3);
	/* Features are frozen after FEATURES_OK. */
	wr(0x024, 0);
	wr(0x020, 0);
	assert_int_equal(virtio_mmio_features(&t), VIRTIO_F_VERSION_1 | 1ull << 3);
}

static void test_refuses_bad_features(void **state)
{
	(void)state;
	negotiate(VIRTIO_F_VERSION_1 | 1ull << 5); /* not offered */
	assert_false(rd(0x070) & VIRTIO_STATUS_FEATURES_OK);
	wr(0x070, 0);
	negotiate(1ull << 3); /* legacy driver: no VERSION_1 */
	assert_false(rd(0x070) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_queue_setup_notify_reset(void **state)
{
	(void)state;
	negotiate(VIRTIO_F_VERSION_1);
	wr(0x030, 1);
	assert_int_equal(rd(0x034), VIRTQ_MAX_SIZE);
	wr(0x030, 2); /* no such queue */
	assert_int_equal(rd(0x034), 0);
	setup_queue(1, 16, GUEST_RAM_BASE + 0x1000, GUEST_RAM_BASE + 0x2000, GUEST_RAM_BASE + 0x3000);
	assert_int_equal(rd(0x044), 1);
	/* Notifications before DRIVER_OK, for unknown queues or unready ones do nothing. */
	wr(0x050, 1);
	assert_int_equal(notifies, 0);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	wr(0x050, 1);
	assert_int_equal(notifies, 1);
	assert_int_equal(last_notify_q, 1);
	wr(0x050, 0); /* queue 0 is not ready */
	wr(0x050, 99);
	assert_int_equal(notifies, 1);
	/* A ready queue's layout cannot be changed under the device. */
	wr(0x080, 0x5000);
	assert_int_equal(t.st.queues[1].desc_gpa, GUEST_RAM_BASE + 0x1000);

	wr(0x070, 0);
	assert_int_equal(resets, 1);
	assert_int_equal(rd(0x070), 0);
	wr(0x030, 1);
	assert_int_equal(rd(0x044), 0);
}

static void test_bad_queue_layout_needs_reset(void **state)
{
	(void)state;
	negotiate(VIRTIO_F_VERSION_1);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	/* Rings past the end of RAM: the queue never becomes ready, the device asks for a reset. */
	setup_queue(0, 16, GUEST_RAM_BASE + (1 << 20) - 16, GUEST_RAM_BASE, GUEST_RAM_BASE + 0x1000);
	assert_int_equal(rd(0x044), 0);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(0x060) & VIRTIO_INT_CONFIG);
	assert_int_equal(edges, 1);
	wr(0x064, VIRTIO_INT_CONFIG);
	assert_int_equal(rd(0x060), 0);
	/* Size not a power of two. */
	wr(0x070, 0);
	negotiate(VIRTIO_F_VERSION_1);
	setup_queue(0, 12, GUEST_RAM_BASE, GUEST_RAM_BASE + 0x1000, GUEST_RAM_BASE + 0x2000);
	assert_int_equal(rd(0x044), 0);
}

static void test_pop_push_interrupt(void **state)
{
	(void)state;
	struct virtq_chain c;
	negotiate(VIRTIO_F_VERSION_1);
	setup_queue(0, 8, GUEST_RAM_BASE + 0x1000, GUEST_RAM_BASE + 0x2000, GUEST_RAM_BASE + 0x3000);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	/* One descriptor pointing outside RAM: pop refuses and the device needs a reset. */
	uint64_t bad = 0x10;
	memcpy(guest_mem_ptr(&mem, GUEST_RAM_BASE + 0x1000, 8), &bad, 8);
	uint16_t one = 1;
	memcpy(guest_mem_ptr(&mem, GUEST_RAM_BASE + 0x2002, 2), &one, 2);
	assert_int_equal(virtio_mmio_pop(&t, 0, &c), -EFAULT);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_mmio_driver_ok(&t));
	assert_int_equal(virtio_mmio_pop(&t, 0, &c), 0); /* nothing more until reset */

	wr(0x070, 0);
	negotiate(VIRTIO_F_VERSION_1);
	setup_queue(0, 8, GUEST_RAM_BASE + 0x1000, GUEST_RAM_BASE + 0x2000, GUEST_RAM_BASE + 0x3000);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	uint64_t good = GUEST_RAM_BASE + 0x8000;
	memcpy(guest_mem_ptr(&mem, GUEST_RAM_BASE + 0x1000, 8), &good, 8);
	edges = 0;
	assert_int_equal(virtio_mmio_pop(&t, 0, &c), 1);
	virtio_mmio_push(&t, 0, c.head, 0);
	assert_int_equal(edges, 1);
	assert_int_equal(rd(0x060), VIRTIO_INT_USED);
	wr(0x064, VIRTIO_INT_USED);
	assert_int_equal(rd(0x060), 0);
}

static void test_config_and_odd_accesses(void **state)
{
	(void)state;
	uint8_t b[8];
	virtio_mmio_read(&t, 0x102, b, 2);
	assert_int_equal(b[0], 3);
	assert_int_equal(b[1], 4);
	memset(b, 0xee, sizeof(b));
	virtio_mmio_read(&t, 0x106, b, 4); /* runs past the config space: reads zero */
	assert_int_equal(b[0] | b[3], 0);
	virtio_mmio_read(&t, 0x1f8, b, 8);
	virtio_mmio_read(&t, 0x000, b, 1); /* registers are 32-bit only */
	assert_int_equal(b[0], 0);
	virtio_mmio_read(&t, 0x0e0, b, 4); /* hole */
	assert_int_equal(b[0], 0);
	uint8_t w[8] = { 0 };
	virtio_mmio_write(&t, 0x070, w, 2); /* wrong width: ignored, no reset */
	virtio_mmio_write(&t, 0x000, w, 4); /* read-only register */
	virtio_mmio_write(&t, 0x104, w, 4); /* config without a write handler */
	assert_int_equal(resets, 0);
	assert_int_equal(rd(0x000), 0x74726976);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_setup_notify_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_queue_layout_needs_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pop_push_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_and_odd_accesses, setup, teardown),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
