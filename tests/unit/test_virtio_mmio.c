/* The virtio-mmio transport: registers, feature negotiation, queue setup, reset, interrupts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "board/layout.h"
#include "devices/virtio_mmio.h"
#include "irqchip/irqchip.h"
#include "core/state.h"
#include "core/log.h"

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

static bool driver_ok_in_reset;

static void reset(struct virtio_mmio *t)
{
	resets++;
	/* Be the other thread: a kick or a device thread running while the device drops its work. */
	driver_ok_in_reset = virtio_mmio_driver_ok(t);
	virtio_mmio_notify(t, 1);
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
	assert_int_equal(guest_mem_alloc(&mem, BOARD_RAM_BASE, 1 << 20), 0);
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
	setup_queue(1, 16, BOARD_RAM_BASE + 0x1000, BOARD_RAM_BASE + 0x2000, BOARD_RAM_BASE + 0x3000);
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
	assert_int_equal(t.st.queues[1].desc_gpa, BOARD_RAM_BASE + 0x1000);

	wr(0x070, 0);
	assert_int_equal(resets, 1);
	/* The device is seen reset before it is asked to reset: nothing new starts on the old rings. */
	assert_false(driver_ok_in_reset);
	assert_int_equal(notifies, 1);
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
	setup_queue(0, 16, BOARD_RAM_BASE + (1 << 20) - 16, BOARD_RAM_BASE, BOARD_RAM_BASE + 0x1000);
	assert_int_equal(rd(0x044), 0);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(0x060) & VIRTIO_INT_CONFIG);
	assert_int_equal(edges, 1);
	wr(0x064, VIRTIO_INT_CONFIG);
	assert_int_equal(rd(0x060), 0);
	/* Size not a power of two. */
	wr(0x070, 0);
	negotiate(VIRTIO_F_VERSION_1);
	setup_queue(0, 12, BOARD_RAM_BASE, BOARD_RAM_BASE + 0x1000, BOARD_RAM_BASE + 0x2000);
	assert_int_equal(rd(0x044), 0);
}

static void test_pop_push_interrupt(void **state)
{
	(void)state;
	struct virtq_chain c;
	negotiate(VIRTIO_F_VERSION_1);
	setup_queue(0, 8, BOARD_RAM_BASE + 0x1000, BOARD_RAM_BASE + 0x2000, BOARD_RAM_BASE + 0x3000);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	/* One descriptor pointing outside RAM: pop refuses and the device needs a reset. */
	uint64_t bad = 0x10;
	memcpy(guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x1000, 8), &bad, 8);
	uint16_t one = 1;
	memcpy(guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x2002, 2), &one, 2);
	assert_int_equal(virtio_mmio_pop(&t, 0, &c), -EFAULT);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_mmio_driver_ok(&t));
	assert_int_equal(virtio_mmio_pop(&t, 0, &c), 0); /* nothing more until reset */

	wr(0x070, 0);
	negotiate(VIRTIO_F_VERSION_1);
	setup_queue(0, 8, BOARD_RAM_BASE + 0x1000, BOARD_RAM_BASE + 0x2000, BOARD_RAM_BASE + 0x3000);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	uint64_t good = BOARD_RAM_BASE + 0x8000;
	memcpy(guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x1000, 8), &good, 8);
	edges = 0;
	assert_int_equal(virtio_mmio_pop(&t, 0, &c), 1);
	virtio_mmio_push(&t, 0, c.head, 0);
	assert_int_equal(edges, 1);
	assert_int_equal(rd(0x060), VIRTIO_INT_USED);
	wr(0x064, VIRTIO_INT_USED);
	assert_int_equal(rd(0x060), 0);
}

static int starts;

static void count_start(struct virtio_mmio *tr)
{
	(void)tr;
	starts++;
}

/*
 * What devices that work their rings on their own thread (virtio-net) or in
 * the kernel (vhost) use: start at DRIVER_OK, chains taken back, the
 * no-notify hint, a used index written by someone else, used-buffer
 * signals from outside and the sticky used bit.
 */
static void test_device_owned_rings(void **state)
{
	(void)state;
	static const struct virtio_device_ops start_ops = {
		.name = "test-start", .device_id = 42, .num_queues = 2, .start = count_start,
	};
	struct virtq_chain c1, c2;
	uint16_t idx;

	virtio_mmio_init(&t, &start_ops, NULL, &mem, &fake_ic, 17, 0x3000000);
	starts = 0;
	/* DRIVER_OK without FEATURES_OK: no start, the device asks for a reset. */
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(starts, 0);
	assert_true(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	wr(0x070, 0);

	negotiate(VIRTIO_F_VERSION_1);
	setup_queue(0, 8, BOARD_RAM_BASE + 0x1000, BOARD_RAM_BASE + 0x2000, BOARD_RAM_BASE + 0x3000);
	assert_int_equal(starts, 0);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(starts, 1);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(starts, 1); /* once per DRIVER_OK */

	/* Two chains (descriptors 0 and 1) in the avail ring; take both, give both back. */
	uint64_t buf = BOARD_RAM_BASE + 0x8000;
	uint32_t len = 64;
	for (uint16_t i = 0; i < 2; i++) {
		memcpy(guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x1000 + 16 * i, 8), &buf, 8);
		memcpy(guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x1000 + 16 * i + 8, 4), &len, 4);
		memcpy(guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x2004 + 2 * i, 2), &i, 2);
	}
	idx = 2;
	memcpy(guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x2002, 2), &idx, 2);
	assert_int_equal(virtio_mmio_pop(&t, 0, &c1), 1);
	assert_int_equal(virtio_mmio_pop(&t, 0, &c2), 1);
	assert_int_equal(c2.head, 1);
	virtio_mmio_unpop(&t, 0, 2);
	assert_int_equal(virtio_mmio_pop(&t, 0, &c2), 1);
	assert_int_equal(c2.head, c1.head);

	/* The hint lands in the used ring's flags; with it cleared, waiting chains are reported. */
	assert_true(virtio_mmio_want_notify(&t, 0, false));
	assert_int_equal(*(uint16_t *)guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x3000, 2), VIRTQ_USED_F_NO_NOTIFY);
	assert_true(virtio_mmio_want_notify(&t, 0, true));
	assert_int_equal(*(uint16_t *)guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x3000, 2), 0);
	assert_false(virtio_mmio_want_notify(&t, 1, true)); /* not ready */

	/* vhost pushed 5 and took up to 7: the transport learns both. */
	idx = 5;
	memcpy(guest_mem_ptr(&mem, BOARD_RAM_BASE + 0x3002, 2), &idx, 2);
	assert_int_equal(virtio_mmio_sync_queue(&t, 0, 7), 0);
	assert_int_equal(t.st.queues[0].last_avail_idx, 7);
	assert_int_equal(t.st.queues[0].used_idx, 5);
	assert_int_equal(virtio_mmio_sync_queue(&t, 1, 7), -EFAULT); /* queue 1 has no ring */

	/* A call eventfd read by armvmm: one edge, the used bit set. */
	edges = 0;
	virtio_mmio_signal_used(&t);
	assert_int_equal(edges, 1);
	assert_int_equal(rd(0x060), VIRTIO_INT_USED);
	wr(0x064, VIRTIO_INT_USED);
	/* Calls straight into the irqfd: the used bit reads set, whatever is acknowledged. */
	virtio_mmio_set_used_bit_sticky(&t, true);
	assert_int_equal(rd(0x060), VIRTIO_INT_USED);
	wr(0x064, VIRTIO_INT_USED);
	assert_int_equal(rd(0x060), VIRTIO_INT_USED);
	virtio_mmio_set_used_bit_sticky(&t, false);
	assert_int_equal(rd(0x060), 0);
	assert_int_equal(edges, 1);

	/* Once the device needs a reset, nothing is reported waiting. */
	virtio_mmio_set_needs_reset(&t, "test");
	assert_false(virtio_mmio_want_notify(&t, 0, true));
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

/* --- snapshots ------------------------------------------------------------------------ */

#define DESC BOARD_RAM_BASE + 0x1000
#define AVAIL BOARD_RAM_BASE + 0x2000
#define USED BOARD_RAM_BASE + 0x3000
#define ALL_STATUS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK | \
		    VIRTIO_STATUS_DRIVER_OK)

static uint32_t rd_on(struct virtio_mmio *tt, uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(tt, off, (uint8_t *)&v, 4);
	return v;
}

static void wr_on(struct virtio_mmio *tt, uint64_t off, uint32_t v)
{
	virtio_mmio_write(tt, off, (uint8_t *)&v, 4);
}

static struct snap_cursor cursor(const struct snap_buf *b)
{
	return (struct snap_cursor){ .p = b->data, .len = b->len };
}

/* Make avail entry n name descriptor 0 (a 64-byte buffer in RAM). */
static void post_one(uint16_t n)
{
	uint64_t addr = BOARD_RAM_BASE + 0x8000;
	uint32_t len = 64;
	uint16_t head = 0, idx = (uint16_t)(n + 1);
	memcpy(guest_mem_ptr(&mem, DESC, 8), &addr, 8);
	memcpy(guest_mem_ptr(&mem, DESC + 8, 4), &len, 4);
	memcpy(guest_mem_ptr(&mem, AVAIL + 4 + 2u * (n % 8), 2), &head, 2);
	memcpy(guest_mem_ptr(&mem, AVAIL + 2, 2), &idx, 2);
}

/*
 * A driver mid-life: features negotiated, queue 0 ready and used once, queue 1
 * half set up, odd selectors, a config change not acknowledged yet.
 */
static void busy_transport(void)
{
	struct virtq_chain c;

	negotiate(VIRTIO_F_VERSION_1 | 1ull << 3);
	setup_queue(0, 8, DESC, AVAIL, USED);
	wr(0x070, ALL_STATUS);
	post_one(0);
	assert_int_equal(virtio_mmio_pop(&t, 0, &c), 1);
	virtio_mmio_push(&t, 0, c.head, 7);
	wr(0x064, VIRTIO_INT_USED);
	wr(0x030, 1);
	wr(0x038, 16);
	wr(0x080, 0x5000);
	wr(0x014, 1);
	virtio_mmio_config_changed(&t);
}

/* Every register a driver can read, for every queue selector, reads the same on both. */
static void assert_same_view(struct virtio_mmio *a, struct virtio_mmio *b)
{
	static const uint32_t regs[] = { 0x000, 0x004, 0x008, 0x00c, 0x010, 0x034, 0x044, 0x060, 0x070, 0x0fc };
	uint32_t sel_a = rd_on(a, 0x030), sel_b = rd_on(b, 0x030); /* write-only: reads 0 on both */

	assert_int_equal(sel_a, sel_b);
	for (uint32_t q = 0; q < VIRTIO_MAX_QUEUES + 1; q++) {
		wr_on(a, 0x030, q);
		wr_on(b, 0x030, q);
		for (uint32_t fs = 0; fs < 2; fs++) {
			wr_on(a, 0x014, fs);
			wr_on(b, 0x014, fs);
			for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
				assert_int_equal(rd_on(a, regs[i]), rd_on(b, regs[i]));
		}
	}
	assert_int_equal(virtio_mmio_features(a), virtio_mmio_features(b));
}

static void test_snapshot_round_trip(void **state)
{
	struct snap_buf buf = { 0 };
	struct virtio_mmio t2;
	struct virtq_chain c;
	(void)state;

	busy_transport();
	virtio_mmio_save(&t, &buf);
	assert_false(buf.err);
	assert_int_equal(buf.len, 36 + VIRTIO_MAX_QUEUES * 31 + 1);
	assert_int_equal(buf.data[buf.len - 1], 0); /* no device part: the ops have no save hook */

	virtio_mmio_init(&t2, &dev_ops, NULL, &mem, &fake_ic, 17, 0x3000000);
	edges = 0;
	struct snap_cursor cur = cursor(&buf);
	assert_int_equal(virtio_mmio_restore(&t2, &cur), 0);
	assert_int_equal(edges, 1); /* the unacknowledged config interrupt is signalled again */
	assert_memory_equal(&t2.st.queues, &t.st.queues, sizeof(t.st.queues));
	assert_int_equal(t2.st.queue_sel, 1);
	assert_int_equal(t2.st.device_features_sel, 1);
	assert_same_view(&t, &t2);

	/* A kick that was in flight at save time: only the ready queue is notified. */
	virtio_mmio_kick_all(&t2);
	assert_int_equal(notifies, 1);
	assert_int_equal(last_notify_q, 0);
	/* The restored queue goes on where the saved one stopped. */
	assert_int_equal(virtio_mmio_pop(&t2, 0, &c), 0);
	post_one(1);
	assert_int_equal(virtio_mmio_pop(&t2, 0, &c), 1);
	virtio_mmio_push(&t2, 0, c.head, 5);
	uint16_t used_idx;
	memcpy(&used_idx, guest_mem_ptr(&mem, USED + 2, 2), 2);
	assert_int_equal(used_idx, 2);
	snap_buf_free(&buf);
}

static void test_snapshot_no_interrupt_no_edge(void **state)
{
	struct snap_buf buf = { 0 };
	struct virtio_mmio t2;
	(void)state;

	negotiate(VIRTIO_F_VERSION_1);
	setup_queue(0, 8, DESC, AVAIL, USED);
	virtio_mmio_save(&t, &buf);
	virtio_mmio_init(&t2, &dev_ops, NULL, &mem, &fake_ic, 17, 0x3000000);
	edges = 0;
	struct snap_cursor cur = cursor(&buf);
	assert_int_equal(virtio_mmio_restore(&t2, &cur), 0);
	assert_int_equal(edges, 0);
	/* No DRIVER_OK yet: kick_all leaves the device alone. */
	virtio_mmio_kick_all(&t2);
	assert_int_equal(notifies, 0);
	/* NEEDS_RESET: neither. */
	wr_on(&t2, 0x070, ALL_STATUS);
	virtio_mmio_set_needs_reset(&t2, "test");
	virtio_mmio_kick_all(&t2);
	assert_int_equal(notifies, 0);
	snap_buf_free(&buf);
}

/* A device with its own state: a u32 that must be 0x5eed and a byte it stores. */
static uint8_t dev_byte;
static int dev_restores;

static void dev_save(struct virtio_mmio *tt, struct snap_buf *b)
{
	(void)tt;
	snap_put_u32(b, 0x5eed);
	snap_put_u8(b, dev_byte);
}

static int dev_restore(struct virtio_mmio *tt, struct snap_cursor *c)
{
	uint32_t magic = snap_get_u32(c);
	uint8_t v = snap_get_u8(c);
	int ret = snap_cursor_done(c, "test-dev");

	(void)tt;
	if (ret < 0)
		return ret;
	if (magic != 0x5eed)
		return -EINVAL;
	dev_byte = v;
	dev_restores++;
	return 0;
}

static const struct virtio_device_ops dev_ops_saved = {
	.name = "test-dev", .device_id = 42, .num_queues = 2, .features = 1ull << 3 | 1ull << 40,
	.config_size = sizeof(config), .config_read = cfg_read, .queue_notify = notify, .reset = reset,
	.save = dev_save, .restore = dev_restore,
};

static void test_snapshot_device_part(void **state)
{
	struct snap_buf buf = { 0 };
	struct virtio_mmio a, b;
	(void)state;

	virtio_mmio_init(&a, &dev_ops_saved, NULL, &mem, &fake_ic, 17, 0x3000000);
	virtio_mmio_init(&b, &dev_ops_saved, NULL, &mem, &fake_ic, 17, 0x3000000);
	wr_on(&a, 0x070, VIRTIO_STATUS_ACKNOWLEDGE);
	dev_byte = 0x42;
	virtio_mmio_save(&a, &buf);
	size_t dev_off = 36 + VIRTIO_MAX_QUEUES * 31;
	assert_int_equal(buf.len, dev_off + 1 + 5);
	assert_int_equal(buf.data[dev_off], 1);

	/* The device refuses its part: the transport stays as it was. */
	struct virtio_mmio_state before = b.st;
	buf.data[dev_off + 1] ^= 1;
	struct snap_cursor cur = cursor(&buf);
	dev_restores = 0;
	assert_int_equal(virtio_mmio_restore(&b, &cur), -EINVAL);
	assert_memory_equal(&b.st, &before, sizeof(before));
	assert_int_equal(dev_restores, 0);
	/* A byte too many after the device part: caught by the device's snap_cursor_done. */
	buf.data[dev_off + 1] ^= 1;
	uint8_t longer[256];
	memcpy(longer, buf.data, buf.len);
	longer[buf.len] = 0;
	cur = (struct snap_cursor){ .p = longer, .len = buf.len + 1 };
	assert_int_equal(virtio_mmio_restore(&b, &cur), -EINVAL);
	assert_memory_equal(&b.st, &before, sizeof(before));
	/* A snapshot without the device part, for a device that has one. */
	longer[dev_off] = 0;
	cur = (struct snap_cursor){ .p = longer, .len = dev_off + 1 };
	assert_int_equal(virtio_mmio_restore(&b, &cur), -EINVAL);
	assert_int_equal(dev_restores, 0);

	dev_byte = 0;
	cur = cursor(&buf);
	assert_int_equal(virtio_mmio_restore(&b, &cur), 0);
	assert_int_equal(dev_restores, 1);
	assert_int_equal(dev_byte, 0x42);
	assert_int_equal(rd_on(&b, 0x070), VIRTIO_STATUS_ACKNOWLEDGE);
	snap_buf_free(&buf);
}

/*
 * Payload offsets: device_id 0, status 4, device_features_sel 8,
 * driver_features_sel 12, driver_features 16, queue_sel 24,
 * interrupt_status 28, config_generation 32; queue i at 36 + 31 i: num +0,
 * ready +2, desc +3, avail +11, used +19, last_avail_idx +27, used_idx +29;
 * has_device_state 160.
 */
#define QOFF(i, field) (36u + 31u * (i) + (field))

static void test_snapshot_rejects_hostile(void **state)
{
	static const struct {
		const char *what;
		size_t off;
		unsigned int width;	/* 0: cut or extend instead */
		uint64_t value;
		int len_delta;
	} m[] = {
		{ "another device type", 0, 4, 2, 0 },
		{ "status above the low byte", 4, 4, 0x100 | ALL_STATUS, 0 },
		{ "FEATURES_OK with a feature not offered", 16, 8, VIRTIO_F_VERSION_1 | 1ull << 3 | 1ull << 5, 0 },
		{ "FEATURES_OK without VERSION_1", 16, 8, 1ull << 3, 0 },
		{ "interrupt_status unknown bit", 28, 4, 4, 0 },
		{ "queue 0 larger than QueueNumMax", QOFF(0, 0), 2, VIRTQ_MAX_SIZE * 2, 0 },
		{ "ready queue 0 size not a power of two", QOFF(0, 0), 2, 12, 0 },
		{ "ready queue 0 size 0", QOFF(0, 0), 2, 0, 0 },
		{ "ready queue 0 descriptors past RAM", QOFF(0, 3), 8, BOARD_RAM_BASE + (1 << 20) - 16, 0 },
		{ "ready queue 0 descriptors below RAM", QOFF(0, 3), 8, 0x1000, 0 },
		{ "ready queue 0 descriptors misaligned", QOFF(0, 3), 8, DESC + 8, 0 },
		{ "ready queue 0 used ring wraps", QOFF(0, 19), 8, UINT64_MAX - 3, 0 },
		{ "ready not a bool", QOFF(0, 2), 1, 2, 0 },
		{ "unready queue 1 larger than QueueNumMax", QOFF(1, 0), 2, VIRTQ_MAX_SIZE + 1, 0 },
		{ "queue 2 of a 2-queue device", QOFF(2, 0), 2, 8, 0 },
		{ "queue 3 of a 2-queue device, used_idx", QOFF(3, 29), 2, 1, 0 },
		{ "device state for a device without", 160, 1, 1, 0 },
		{ "has_device_state not a bool", 160, 1, 7, 0 },
		{ "truncated", 0, 0, 0, -1 },
		{ "only the device id", 0, 0, 0, -157 },
		{ "a byte left over", 0, 0, 0, 1 },
	};
	struct snap_buf good = { 0 };
	struct virtio_mmio victim;
	(void)state;

	busy_transport();
	virtio_mmio_save(&t, &good);
	assert_int_equal(good.len, 161);
	virtio_mmio_init(&victim, &dev_ops, NULL, &mem, &fake_ic, 17, 0x3000000);
	wr_on(&victim, 0x070, VIRTIO_STATUS_ACKNOWLEDGE);
	wr_on(&victim, 0x030, 1);
	wr_on(&victim, 0x038, 4);
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		uint8_t bytes[256] = { 0 };
		struct virtio_mmio_state before = victim.st;
		int e = edges;

		memcpy(bytes, good.data, good.len);
		for (unsigned int k = 0; k < m[i].width; k++)
			bytes[m[i].off + k] = (uint8_t)(m[i].value >> (8 * k));
		struct snap_cursor c = { .p = bytes, .len = (size_t)((int)good.len + m[i].len_delta) };
		print_message("hostile virtio payload: %s\n", m[i].what);
		assert_int_equal(virtio_mmio_restore(&victim, &c), -EINVAL);
		assert_memory_equal(&victim.st, &before, sizeof(before));
		assert_int_equal(edges, e);
	}
	snap_buf_free(&good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_setup_notify_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_queue_layout_needs_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pop_push_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_owned_rings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_and_odd_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_no_interrupt_no_edge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_device_part, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_rejects_hostile, setup, teardown),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
