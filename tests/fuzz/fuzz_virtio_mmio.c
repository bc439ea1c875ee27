/*
 * libFuzzer target: the virtio-mmio transport driven by a hostile driver's
 * register sequence. The input is
 *
 *   byte 0       n, the number of accesses (up to 255)
 *   n x 8 bytes  accesses: u8 kind (bit 0 write, bits 1-2 width 1/2/4/8),
 *                u8 queue for notifications (bit 7: notify instead of a
 *                register access), u16 offset into the 0x200 window, u32 value
 *   the rest     guest RAM's contents (rings and buffers for the queues)
 *
 * The device behind the transport has two queues and an 8-byte config space;
 * a notification makes it pop every chain, touch its buffers and push it
 * back, as a real device does. After every access the transport's invariants
 * are checked: a ready queue has a size and rings the layout check accepts,
 * queues the device does not have are never ready or set up, FEATURES_OK only
 * with features that were offered, NEEDS_RESET only the device's doing, and
 * every read of an ID register gives its fixed value. Any stray access into
 * RAM is ASan's (RAM is an exact-size heap buffer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/layout.h"
#include "core/log.h"
#include "fuzz.h"
#include "devices/virtio_mmio.h"
#include "irqchip/irqchip.h"

#define FUZZ_RAM 65536u
#define NUM_QUEUES 2u
#define CONFIG_SIZE 8u


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The transport calls these without KVM: an irqchip that just counts edges. */
static unsigned long irq_edges;
static struct irqchip counting_ic;
int irqchip_set_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	(void)ic;
	(void)spi;
	irq_edges += level;
	return 0;
}

static uint8_t config[CONFIG_SIZE];
static struct virtq_chain chain;

static void dev_config_read(struct virtio_mmio *t, uint32_t off, uint8_t *d, unsigned int len)
{
	(void)t;
	CHECK(off + len <= CONFIG_SIZE);
	memcpy(d, config + off, len);
}

static void dev_config_write(struct virtio_mmio *t, uint32_t off, const uint8_t *d, unsigned int len)
{
	(void)t;
	CHECK(off + len <= CONFIG_SIZE);
	memcpy(config + off, d, len);
}

/* A device: take every chain, read what it offers, fill what it may write, give it back. */
static void dev_notify(struct virtio_mmio *t, unsigned int q)
{
	CHECK(q < NUM_QUEUES);
	for (int i = 0; i < 64 && virtio_mmio_pop(t, q, &chain) > 0; i++) {
		uint64_t sum = 0;
		for (unsigned int j = 0; j < chain.n_out; j++)
			for (size_t k = 0; k < chain.iov[j].iov_len; k++)
				sum += ((const uint8_t *)chain.iov[j].iov_base)[k];
		for (unsigned int j = chain.n_out; j < chain.n_out + chain.n_in; j++)
			memset(chain.iov[j].iov_base, (int)(sum & 0xff), chain.iov[j].iov_len);
		virtio_mmio_push(t, q, chain.head, (uint32_t)chain.in_bytes);
	}
}

static const struct virtio_device_ops dev_ops = {
	.name = "fuzz-device",
	.device_id = 42,
	.num_queues = NUM_QUEUES,
	.features = 1ull << 3,
	.config_size = CONFIG_SIZE,
	.config_read = dev_config_read,
	.config_write = dev_config_write,
	.queue_notify = dev_notify,
};

static void check_invariants(struct virtio_mmio *t, const struct guest_mem *mem)
{
	const struct virtio_mmio_state *st = &t->st;

	CHECK(!(st->status & ~0xffu));
	if (st->status & VIRTIO_STATUS_FEATURES_OK)
		CHECK(!(st->driver_features & ~(dev_ops.features | VIRTIO_F_VERSION_1)) &&
		      (st->driver_features & VIRTIO_F_VERSION_1));
	CHECK(!(st->interrupt_status & ~(VIRTIO_INT_USED | VIRTIO_INT_CONFIG)));
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		const struct virtq *vq = &st->queues[q];
		if (q >= NUM_QUEUES) {
			CHECK(!vq->ready && !vq->num && !vq->desc_gpa && !vq->avail_gpa && !vq->used_gpa);
			continue;
		}
		CHECK(vq->num <= VIRTQ_MAX_SIZE);
		if (vq->ready)
			CHECK(virtq_check_layout(vq, mem) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtio_mmio t;
	unsigned int n;

	if (size < 1)
		return 0;
	n = data[0];
	data++;
	size--;
	if (size < 8u * n)
		n = (unsigned int)(size / 8);
	uint8_t *ram = calloc(1, FUZZ_RAM);
	const uint8_t *acc = data;
	data += 8u * n;
	size -= 8u * n;
	memcpy(ram, data, size < FUZZ_RAM ? size : FUZZ_RAM);
	struct guest_mem mem = { .host = ram, .gpa = BOARD_RAM_BASE, .size = FUZZ_RAM };

	memset(config, 0, sizeof(config));
	virtio_mmio_init(&t, &dev_ops, NULL, &mem, &counting_ic, 16, 0x3000000);
	for (unsigned int i = 0; i < n; i++, acc += 8) {
		static const unsigned int widths[4] = { 1, 2, 4, 8 };
		unsigned int width = widths[(acc[0] >> 1) & 3];
		uint16_t off;
		uint32_t v;
		uint8_t buf[8] = { 0 };

		memcpy(&off, acc + 2, 2);
		memcpy(&v, acc + 4, 4);
		off %= VIRTIO_MMIO_SIZE;
		if (acc[1] & 0x80) {
			virtio_mmio_notify(&t, acc[1] & 0x7f);
		} else if (acc[0] & 1) {
			memcpy(buf, &v, 4);
			virtio_mmio_write(&t, off, buf, width);
		} else {
			memset(buf, 0xaa, sizeof(buf));
			virtio_mmio_read(&t, off, buf, width);
			uint32_t got;
			memcpy(&got, buf, 4);
			/* The identification registers never change, whatever came before. */
			if (width == 4 && off == 0x000)
				CHECK(got == 0x74726976u);
			if (width == 4 && off == 0x004)
				CHECK(got == 2);
			if (width == 4 && off == 0x008)
				CHECK(got == dev_ops.device_id);
			if (width == 4 && off == 0x034)
				CHECK(got == VIRTQ_MAX_SIZE || got == 0);
		}
		check_invariants(&t, &mem);
	}
	pthread_mutex_destroy(&t.lock);
	free(ram);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_threshold = LOG_ERROR;
	return 0;
}
