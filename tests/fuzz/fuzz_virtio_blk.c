/*
 * libFuzzer target: virtio-blk's request parser (virtio_blk_parse) on hostile
 * chains. The input is
 *
 *   byte 0       flags: bit 0 read-only disk, bit 1 DISCARD and bit 2
 *                WRITE_ZEROES negotiated, bit 3 the host can punch holes,
 *                bit 4 can zero ranges
 *   bytes 1-4    capacity in sectors (u32)
 *   byte 5       n_out, byte 6 n_in (each taken modulo 17)
 *   then         per buffer: u16 offset, u16 length into guest RAM (readable
 *                buffers first)
 *   the rest     guest RAM's contents (the header, the discard segment...)
 *
 * What the parser promises is checked: a status byte only inside the last
 * writable buffer; for work handed to the backend, an operation the request
 * type allows, a byte range inside the disk, data iovecs inside the chain's
 * buffers of the right direction and adding up to the length; nothing for a
 * read-only disk that would change it. Any stray access is ASan's (RAM is an
 * exact-size heap buffer).
 */
#include <linux/falloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "fuzz.h"
#include "devices/virtio_blk.h"
#include "irqchip/irqchip.h"

#define FUZZ_RAM 65536u
#define MAX_BUFS 16u


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The device's transport interrupts through the irqchip, which is not linked: never reached from the parser. */
int irqchip_set_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	(void)ic;
	(void)spi;
	(void)level;
	abort();
}

/* Is [p, p + n) inside one of bufs[first, first + count)? */
static int inside(const struct iovec *bufs, unsigned int first, unsigned int count, const void *p, size_t n)
{
	for (unsigned int i = first; i < first + count; i++) {
		const uint8_t *b = bufs[i].iov_base;
		if ((const uint8_t *)p >= b && n <= bufs[i].iov_len &&
		    (size_t)((const uint8_t *)p - b) <= bufs[i].iov_len - n)
			return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain c;
	static struct virtio_blk_request r;
	struct virtio_blk_state st = { .blk_size = 512, .seg_max = 254 };
	uint64_t features = 0;
	uint32_t cap;

	if (size < 7)
		return 0;
	st.read_only = data[0] & 1;
	features |= (data[0] & 2) ? VIRTIO_BLK_F_DISCARD : 0;
	features |= (data[0] & 4) ? VIRTIO_BLK_F_WRITE_ZEROES : 0;
	st.can_punch = data[0] & 8;
	st.can_zero_range = data[0] & 16;
	memcpy(&cap, data + 1, 4);
	st.capacity = cap;
	st.max_discard_sectors = st.max_write_zeroes_sectors = VIRTIO_BLK_MAX_DWZ_SECTORS;
	memset(&c, 0, offsetof(struct virtq_chain, iov));
	c.n_out = data[5] % (MAX_BUFS + 1);
	c.n_in = data[6] % (MAX_BUFS + 1);
	data += 7;
	size -= 7;
	if (size < 4u * (c.n_out + c.n_in))
		return 0;

	uint8_t *ram = calloc(1, FUZZ_RAM);
	for (unsigned int i = 0; i < c.n_out + c.n_in; i++) {
		uint16_t off, len;
		memcpy(&off, data + 4 * i, 2);
		memcpy(&len, data + 4 * i + 2, 2);
		if ((uint32_t)off + len > FUZZ_RAM)
			len = (uint16_t)(FUZZ_RAM - off);	/* the walker only hands out buffers inside RAM */
		c.iov[i] = (struct iovec){ .iov_base = ram + off, .iov_len = len };
		if (i < c.n_out)
			c.out_bytes += len;
		else
			c.in_bytes += len;
	}
	data += 4u * (c.n_out + c.n_in);
	size -= 4u * (c.n_out + c.n_in);
	memcpy(ram, data, size < FUZZ_RAM ? size : FUZZ_RAM);

	uint8_t status = virtio_blk_parse(&st, features, &c, &r);
	CHECK(status == VIRTIO_BLK_S_OK || status == VIRTIO_BLK_S_IOERR || status == VIRTIO_BLK_S_UNSUPP);
	if (r.status)
		CHECK(inside(c.iov, c.n_out, c.n_in, r.status, 1));
	if (status != VIRTIO_BLK_S_OK) {
		goto out;
	}
	CHECK(r.status); /* an answered request has somewhere to put its status */
	if (r.type == VIRTIO_BLK_T_GET_ID) {
		uint64_t n = 0;
		for (unsigned int i = 0; i < r.iovcnt; i++) {
			CHECK(inside(c.iov, c.n_out, c.n_in, r.iov[i].iov_base, r.iov[i].iov_len));
			n += r.iov[i].iov_len;
		}
		CHECK(n == VIRTIO_BLK_ID_BYTES);
	}
	if (!r.io)
		goto out;
	switch (r.op) {
	case BLK_IO_READ:
	case BLK_IO_WRITE: {
		uint64_t n = 0;
		CHECK(r.type == (r.op == BLK_IO_READ ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT));
		CHECK(r.op == BLK_IO_READ || !st.read_only);
		CHECK(r.len % 512 == 0 && r.len <= VIRTIO_BLK_MAX_DATA);
		CHECK(r.offset % 512 == 0 && r.offset / 512 <= st.capacity && r.len / 512 <= st.capacity - r.offset / 512);
		for (unsigned int i = 0; i < r.iovcnt; i++) {
			CHECK(r.iov[i].iov_len > 0);
			/*
			 * Reads land in writable buffers, writes come from readable ones. (A guest may
			 * alias its buffers, the status byte included: its own data, its own problem.)
			 */
			if (r.op == BLK_IO_READ)
				CHECK(inside(c.iov, c.n_out, c.n_in, r.iov[i].iov_base, r.iov[i].iov_len));
			else
				CHECK(inside(c.iov, 0, c.n_out, r.iov[i].iov_base, r.iov[i].iov_len));
			n += r.iov[i].iov_len;
		}
		CHECK(n == r.len);
		break;
	}
	case BLK_IO_FLUSH:
		CHECK(r.type == VIRTIO_BLK_T_FLUSH && !st.read_only);
		break;
	case BLK_IO_FALLOCATE:
		CHECK(r.type == VIRTIO_BLK_T_DISCARD || r.type == VIRTIO_BLK_T_WRITE_ZEROES);
		CHECK(!st.read_only);
		CHECK(features & (r.type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES));
		CHECK(r.offset / 512 <= st.capacity && r.len / 512 <= st.capacity - r.offset / 512);
		CHECK(r.mode & FALLOC_FL_KEEP_SIZE);
		/* A discard never zero-ranges (it may not write), and punching needs the host's support. */
		CHECK(r.type != VIRTIO_BLK_T_DISCARD || (r.mode & FALLOC_FL_PUNCH_HOLE));
		break;
	}
out:
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
