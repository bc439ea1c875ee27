/*
 * virtio-blk: the request parser on hand-made chains, then whole requests
 * through a real virtio-mmio transport and a split virtqueue built in guest
 * RAM, on a temporary disk file, with the thread backend (qemu-user has no
 * io_uring). Every bad request must get the right status and leave every
 * byte of guest RAM but its status byte and the used ring alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "board/layout.h"
#include "devices/virtio_blk.h"
#include "irqchip/irqchip.h"
#include "core/state.h"
#include "core/log.h"
#include "core/eventloop.h"
#include "core/mmio.h"
#include "devices/device.h"

#define DISK_SECTORS 64u
#define RAM_SIZE (1u << 20)
#define QSIZE 256u	/* descriptor table 0x1000-0x2000, avail ring 0x2000, used ring 0x3000 */
#define DESC_OFF 0x1000u
#define AVAIL_OFF 0x2000u
#define USED_OFF 0x3000u
#define HDR_OFF 0x4000u		/* 32 bytes per request slot */
#define STATUS_OFF 0x6000u	/* one byte per request slot */
#define DATA_OFF 0x10000u	/* 1 KiB per request slot */
#define CANARY 0xa5u

static int edges;

static int record_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	(void)ic;
	assert_int_equal(spi, BOARD_VIRTIO_FIRST_SPI);
	edges += level;
	return 0;
}

static const struct irqchip_ops recording_ops = { .name = "test", .set_spi = record_spi };

/* What a board gives a virtio device: RAM, a bus, an event loop, an irqchip, a device list. */
struct machine {
	struct guest_mem mem;
	struct mmio_bus bus;
	struct eventloop loop;
	struct irqchip irqchip;
	struct device_list devices;
	int vm_fd;
};

/* virtio_blk_create as the board calls it, in the machine's next virtio slot. */
static int create_disk(struct machine *m, const struct disk_config *cfg)
{
	struct device_ctx ctx = { .mem = &m->mem, .bus = &m->bus, .loop = &m->loop, .irqchip = &m->irqchip,
				  .vm_fd = m->vm_fd, .devices = &m->devices };
	unsigned int n = m->devices.count;

	return virtio_blk_create(&ctx, BOARD_VIRTIO_WINDOW + n * VIRTIO_MMIO_SIZE, BOARD_VIRTIO_FIRST_SPI + n, cfg);
}

static struct virtio_mmio *transport(struct machine *m, unsigned int i)
{
	return m->devices.dev[i].priv;
}

static struct machine vm;
static struct virtio_mmio *t;
static struct virtio_blk *b;
static char path[64];
static const char *disk_dir = "/tmp";
static uint16_t avail_idx, next_desc;
static uint64_t negotiated;

static uint8_t pattern(uint64_t off) { return (uint8_t)(off * 7 + off / 512); }
static uint8_t *ram(uint64_t off) { return vm.mem.host + off; }
static uint64_t gpa(uint64_t off) { return BOARD_RAM_BASE + off; }

static uint32_t rd(uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(t, off, (uint8_t *)&v, 4);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_mmio_write(t, off, (uint8_t *)&v, 4);
}

/* A disk file of DISK_SECTORS sectors holding pattern(). */
static void make_disk(size_t size)
{
	uint8_t *buf = malloc(size);
	int fd;

	snprintf(path, sizeof(path), "%s/armvmm-vblk-XXXXXX", disk_dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (size_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static void read_disk(uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* The driver side: features, queue 0 of QSIZE entries, DRIVER_OK. */
static void driver_init(void)
{
	uint64_t offered;

	/* Fresh rings: avail flags 0 (interrupts wanted), both indices 0. */
	memset(ram(AVAIL_OFF), 0, 0x2000);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(0x014, 0);
	offered = rd(0x010);
	wr(0x014, 1);
	offered |= (uint64_t)rd(0x010) << 32;
	negotiated = offered;
	wr(0x024, 0);
	wr(0x020, (uint32_t)negotiated);
	wr(0x024, 1);
	wr(0x020, (uint32_t)(negotiated >> 32));
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(rd(0x070) & VIRTIO_STATUS_FEATURES_OK);
	wr(0x030, 0);
	wr(0x038, QSIZE);
	wr(0x080, (uint32_t)gpa(DESC_OFF));
	wr(0x084, (uint32_t)(gpa(DESC_OFF) >> 32));
	wr(0x090, (uint32_t)gpa(AVAIL_OFF));
	wr(0x094, (uint32_t)(gpa(AVAIL_OFF) >> 32));
	wr(0x0a0, (uint32_t)gpa(USED_OFF));
	wr(0x0a4, (uint32_t)(gpa(USED_OFF) >> 32));
	wr(0x044, 1);
	assert_int_equal(rd(0x044), 1);
	wr(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	avail_idx = next_desc = 0;
}

static void create(bool read_only)
{
	struct disk_config cfg = { .path = path, .read_only = read_only, .io = DISK_IO_THREAD };

	assert_int_equal(create_disk(&vm, &cfg), 0);
	assert_int_equal(vm.devices.count, 1);
	t = transport(&vm, 0);
	b = t->dev;
	driver_init();
}

static int setup_common(bool read_only)
{
	memset(&vm, 0, sizeof(vm));
	vm.vm_fd = -1;
	vm.irqchip.ops = &recording_ops;
	assert_int_equal(guest_mem_alloc(&vm.mem, BOARD_RAM_BASE, RAM_SIZE), 0);
	memset(vm.mem.host, CANARY, RAM_SIZE);
	edges = 0;
	make_disk(DISK_SECTORS * 512);
	create(read_only);
	return 0;
}

static int setup(void **state) { (void)state; return setup_common(false); }
static int setup_ro(void **state) { (void)state; return setup_common(true); }

/* A disk on tmpfs, which punches holes but has no FALLOC_FL_ZERO_RANGE (falls back to /tmp). */
static int setup_tmpfs(void **state)
{
	struct stat sb;

	(void)state;
	disk_dir = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	setup_common(false);
	disk_dir = "/tmp";
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	virtio_blk_destroy(b);
	for (unsigned int i = 0; i < vm.devices.count; i++)
		free(transport(&vm, i));
	guest_mem_free(&vm.mem);
	unlink(path);
	b = NULL;
	t = NULL;
	return 0;
}

/* --- building requests in guest RAM ----------------------------------------------- */

struct seg {
	uint64_t off;	/* RAM offset */
	uint32_t len;
	bool writable;
};

static void put_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = ram(DESC_OFF + 16u * i);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Lay a chain out in the descriptor table and make it available (no notification). */
static uint16_t post(const struct seg *s, unsigned int n)
{
	uint16_t head = next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % QSIZE);
		uint16_t flags = (s[i].writable ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		put_desc(idx, gpa(s[i].off), s[i].len, flags, (uint16_t)((idx + 1) % QSIZE));
	}
	next_desc = (uint16_t)((head + n) % QSIZE);
	memcpy(ram(AVAIL_OFF + 4 + 2u * (avail_idx % QSIZE)), &head, 2);
	avail_idx++;
	__atomic_store_n((uint16_t *)ram(AVAIL_OFF + 2), avail_idx, __ATOMIC_RELEASE);
	return head;
}

static void notify(void) { wr(0x050, 0); }

static uint16_t used_idx(void) { return __atomic_load_n((uint16_t *)ram(USED_OFF + 2), __ATOMIC_ACQUIRE); }

static void used_elem(unsigned int i, uint32_t *id, uint32_t *len)
{
	memcpy(id, ram(USED_OFF + 4 + 8u * (i % QSIZE)), 4);
	memcpy(len, ram(USED_OFF + 8 + 8u * (i % QSIZE)), 4);
}

/* Run the main loop's side by hand: wait for the completion eventfd, call the registered callback. */
static void wait_used(uint16_t want)
{
	struct eventloop_entry *e = &vm.loop.e[b->loop_id];

	assert_true(e->enabled);
	for (int tries = 0; used_idx() != want && tries < 1000; tries++) {
		struct pollfd p = { .fd = e->fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 10000), 1);
		e->fn(e->opaque, e->fd, p.revents);
	}
	assert_int_equal(used_idx(), want);
}

static void put_hdr(unsigned int slot, uint32_t type, uint64_t sector)
{
	uint8_t *h = ram(HDR_OFF + 32u * slot);
	uint32_t zero = 0;
	memcpy(h, &type, 4);
	memcpy(h + 4, &zero, 4);
	memcpy(h + 8, &sector, 8);
}

static void put_dwz(unsigned int slot, uint64_t sector, uint32_t num, uint32_t flags)
{
	uint8_t *p = ram(HDR_OFF + 32u * slot + 16);
	memcpy(p, &sector, 8);
	memcpy(p + 8, &num, 4);
	memcpy(p + 12, &flags, 4);
}

static uint8_t status_of(unsigned int slot) { return *ram(STATUS_OFF + slot); }

/* header | data (len bytes, read or written by the device) | status: the common chain. */
static uint16_t post_rw(unsigned int slot, uint32_t type, uint64_t sector, uint32_t len)
{
	struct seg s[3] = {
		{ HDR_OFF + 32u * slot, 16, false },
		{ DATA_OFF + 1024u * slot, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID },
		{ STATUS_OFF + slot, 1, true },
	};
	put_hdr(slot, type, sector);
	if (len == 0) {
		s[1] = s[2];
		return post(s, 2);
	}
	return post(s, 3);
}

/* header + 16-byte segment | status */
static uint16_t post_dwz(unsigned int slot, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct seg s[2] = { { HDR_OFF + 32u * slot, 32, false }, { STATUS_OFF + slot, 1, true } };
	put_hdr(slot, type, sector);
	put_dwz(slot, sector, num, flags);
	return post(s, 2);
}

/* Post, notify, wait, and check the used entry; returns the status byte. */
static uint8_t run(uint16_t head, uint32_t want_len, unsigned int slot)
{
	uint16_t before = (uint16_t)(avail_idx - 1);
	uint32_t id, len;

	notify();
	wait_used((uint16_t)(before + 1));
	used_elem(before, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(len, want_len);
	return status_of(slot);
}

/* --- the parser on hand-made chains -------------------------------------------- */

static struct virtio_blk_state pst = {
	.capacity = DISK_SECTORS,
	.blk_size = 512,
	.max_discard_sectors = 16,
	.max_write_zeroes_sectors = 16,
	.can_punch = true,
	.can_zero_range = true,
	.features = VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES,
};
static struct virtq_chain pc;
static struct virtio_blk_request pr;
static uint8_t hdrbuf[64], databuf[2048], statbuf[4];

static void chain_reset(void)
{
	memset(&pc, 0, sizeof(pc));
	memset(statbuf, CANARY, sizeof(statbuf));
}

static void chain_add(void *p, size_t len, bool writable)
{
	pc.iov[pc.n_out + pc.n_in] = (struct iovec){ p, len };
	if (writable) {
		pc.n_in++;
		pc.in_bytes += len;
	} else {
		assert_int_equal(pc.n_in, 0);
		pc.n_out++;
		pc.out_bytes += len;
	}
}

static void hdr(uint32_t type, uint64_t sector)
{
	memset(hdrbuf, 0, sizeof(hdrbuf));
	memcpy(hdrbuf, &type, 4);
	memcpy(hdrbuf + 8, &sector, 8);
}

static uint8_t parse_read(uint64_t sector, size_t len)
{
	chain_reset();
	hdr(VIRTIO_BLK_T_IN, sector);
	chain_add(hdrbuf, 16, false);
	chain_add(databuf, len, true);
	chain_add(statbuf, 1, true);
	return virtio_blk_parse(&pst, pst.features, &pc, &pr);
}

static void test_parse_rw(void **state)
{
	(void)state;
	/* A two-sector read; the header split over two descriptors is fine (any layout). */
	chain_reset();
	hdr(VIRTIO_BLK_T_IN, 3);
	chain_add(hdrbuf, 5, false);
	chain_add(hdrbuf + 5, 11, false);
	chain_add(databuf, 1000, true);
	chain_add(databuf + 1000, 25, true); /* 24 data bytes and the status byte */
	assert_int_equal(virtio_blk_parse(&pst, 0, &pc, &pr), VIRTIO_BLK_S_OK);
	assert_true(pr.io);
	assert_int_equal(pr.op, BLK_IO_READ);
	assert_int_equal(pr.offset, 3 * 512);
	assert_int_equal(pr.len, 1024);
	assert_int_equal(pr.written, 1025);
	assert_ptr_equal(pr.status, databuf + 1024);
	assert_int_equal(pr.iovcnt, 2);
	assert_int_equal(pr.iov[1].iov_len, 24);

	/* A write: the data follows the header in the same descriptor, empty descriptors are skipped. */
	chain_reset();
	hdr(VIRTIO_BLK_T_OUT, DISK_SECTORS - 1);
	memcpy(databuf, hdrbuf, 16);
	chain_add(databuf, 16 + 500, false);
	chain_add(databuf + 516, 0, false);
	chain_add(databuf + 516, 12, false);
	chain_add(statbuf, 1, true);
	chain_add(statbuf + 1, 0, true); /* a trailing empty writable buffer: the status stays before it */
	assert_int_equal(virtio_blk_parse(&pst, 0, &pc, &pr), VIRTIO_BLK_S_OK);
	assert_int_equal(pr.op, BLK_IO_WRITE);
	assert_int_equal(pr.offset, (DISK_SECTORS - 1) * 512);
	assert_int_equal(pr.len, 512);
	assert_int_equal(pr.iovcnt, 2);
	assert_ptr_equal(pr.iov[0].iov_base, databuf + 16);
	assert_ptr_equal(pr.status, statbuf);
	assert_int_equal(pr.written, 1);

	/* A zero-length read is nothing to do, successfully. */
	assert_int_equal(parse_read(DISK_SECTORS, 0), VIRTIO_BLK_S_OK);
	assert_false(pr.io);
	assert_int_equal(pr.written, 1);
}

static void test_parse_bad(void **state)
{
	(void)state;
	/* Sector range, overflow-safe. */
	assert_int_equal(parse_read(DISK_SECTORS - 1, 512), VIRTIO_BLK_S_OK);
	assert_int_equal(parse_read(DISK_SECTORS, 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_read(DISK_SECTORS - 1, 1024), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_read(UINT64_MAX, 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_read(1ull << 55, 512), VIRTIO_BLK_S_IOERR); /* sector * 512 wraps */
	assert_int_equal(parse_read(UINT64_MAX / 512 + 1, 0), VIRTIO_BLK_S_IOERR);
	/* Lengths that are not whole sectors. */
	assert_int_equal(parse_read(0, 511), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_read(0, 513), VIRTIO_BLK_S_IOERR);
	assert_ptr_equal(pr.status, statbuf); /* the status still has a home */

	/* Header shorter than 16 bytes. */
	chain_reset();
	hdr(VIRTIO_BLK_T_IN, 0);
	chain_add(hdrbuf, 15, false);
	chain_add(databuf, 512, true);
	chain_add(statbuf, 1, true);
	assert_int_equal(virtio_blk_parse(&pst, 0, &pc, &pr), VIRTIO_BLK_S_IOERR);
	assert_ptr_equal(pr.status, statbuf);
	assert_int_equal(pr.written, 1);

	/* No writable byte at all: no status can be given. */
	chain_reset();
	hdr(VIRTIO_BLK_T_IN, 0);
	chain_add(hdrbuf, 16, false);
	chain_add(statbuf, 0, true);
	assert_int_equal(virtio_blk_parse(&pst, 0, &pc, &pr), VIRTIO_BLK_S_IOERR);
	assert_null(pr.status);
	chain_reset();
	assert_int_equal(virtio_blk_parse(&pst, 0, &pc, &pr), VIRTIO_BLK_S_IOERR);
	assert_null(pr.status);

	/* Unknown type; GET_ID with a short buffer. */
	chain_reset();
	hdr(3, 0);
	chain_add(hdrbuf, 16, false);
	chain_add(statbuf, 1, true);
	assert_int_equal(virtio_blk_parse(&pst, 0, &pc, &pr), VIRTIO_BLK_S_UNSUPP);
	chain_reset();
	hdr(VIRTIO_BLK_T_GET_ID, 0);
	chain_add(hdrbuf, 16, false);
	chain_add(databuf, 19, true);
	chain_add(statbuf, 1, true);
	assert_int_equal(virtio_blk_parse(&pst, 0, &pc, &pr), VIRTIO_BLK_S_IOERR);
	/* The status byte never moves into guest data we did not mean to write. */
	assert_int_equal(statbuf[0], CANARY);

	/* Read-only: writes refused, reads fine. */
	pst.read_only = true;
	chain_reset();
	hdr(VIRTIO_BLK_T_OUT, 0);
	chain_add(hdrbuf, 16, false);
	chain_add(databuf, 512, false);
	chain_add(statbuf, 1, true);
	assert_int_equal(virtio_blk_parse(&pst, 0, &pc, &pr), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_read(0, 512), VIRTIO_BLK_S_OK);
	pst.read_only = false;
}

static uint8_t parse_dwz(uint32_t type, uint64_t features, uint64_t sector, uint32_t num, uint32_t flags,
			 size_t payload)
{
	chain_reset();
	hdr(type, 0);
	memcpy(hdrbuf + 16, &sector, 8);
	memcpy(hdrbuf + 24, &num, 4);
	memcpy(hdrbuf + 28, &flags, 4);
	memcpy(hdrbuf + 32, hdrbuf + 16, 16);
	chain_add(hdrbuf, 16 + payload, false);
	chain_add(statbuf, 1, true);
	return virtio_blk_parse(&pst, features, &pc, &pr);
}

static void test_parse_discard_write_zeroes(void **state)
{
	const uint64_t all = VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES;
	const uint32_t D = VIRTIO_BLK_T_DISCARD, W = VIRTIO_BLK_T_WRITE_ZEROES;
	(void)state;

	assert_int_equal(parse_dwz(D, all, 4, 8, 0, 16), VIRTIO_BLK_S_OK);
	assert_true(pr.io);
	assert_int_equal(pr.op, BLK_IO_FALLOCATE);
	assert_int_equal(pr.offset, 4 * 512);
	assert_int_equal(pr.len, 8 * 512);
	assert_int_equal(pr.mode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
	assert_int_equal(parse_dwz(W, all, 4, 8, 0, 16), VIRTIO_BLK_S_OK);
	assert_int_equal(pr.mode, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
	assert_int_equal(parse_dwz(W, all, 4, 8, VIRTIO_BLK_DWZ_F_UNMAP, 16), VIRTIO_BLK_S_OK);
	assert_int_equal(pr.mode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
	/* Without ZERO_RANGE on the host, write-zeroes punches (reads return zeroes either way). */
	pst.can_zero_range = false;
	assert_int_equal(parse_dwz(W, all, 4, 8, 0, 16), VIRTIO_BLK_S_OK);
	assert_int_equal(pr.mode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
	pst.can_zero_range = true;

	/* Not negotiated, unknown flags, unmap on a discard, two segments: UNSUPP. */
	assert_int_equal(parse_dwz(D, VIRTIO_BLK_F_WRITE_ZEROES, 4, 8, 0, 16), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_dwz(W, VIRTIO_BLK_F_DISCARD, 4, 8, 0, 16), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_dwz(W, all, 4, 8, 2, 16), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_dwz(D, all, 4, 8, VIRTIO_BLK_DWZ_F_UNMAP, 16), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(parse_dwz(D, all, 4, 8, 0, 32), VIRTIO_BLK_S_UNSUPP);
	/* Short or ragged payload, out of range, over the maximum: IOERR. */
	assert_int_equal(parse_dwz(D, all, 4, 8, 0, 8), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_dwz(D, all, 4, 8, 0, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_dwz(W, all, 4, 8, 0, 24), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_dwz(D, all, DISK_SECTORS - 4, 8, 0, 16), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_dwz(W, all, UINT64_MAX - 2, 8, 0, 16), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_dwz(D, all, 0, 17, 0, 16), VIRTIO_BLK_S_IOERR);
	/* Read-only wins over everything: IOERR. */
	pst.read_only = true;
	assert_int_equal(parse_dwz(D, all, 4, 8, 0, 16), VIRTIO_BLK_S_IOERR);
	assert_int_equal(parse_dwz(W, 0, 4, 8, 0, 16), VIRTIO_BLK_S_IOERR);
	pst.read_only = false;
}

/* --- whole requests through the transport ------------------------------------------ */

static uint32_t cfg32(uint32_t off)
{
	uint32_t v;
	virtio_mmio_read(t, 0x100 + off, (uint8_t *)&v, 4);
	return v;
}

static void test_config_and_features(void **state)
{
	(void)state;
	assert_int_equal(rd(0x008), VIRTIO_ID_BLOCK);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_CAPACITY), DISK_SECTORS);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_CAPACITY + 4), 0);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_SEG_MAX), VIRTQ_MAX_SIZE - 2);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_BLK_SIZE), 512);
	assert_true(negotiated & VIRTIO_BLK_F_SEG_MAX);
	assert_true(negotiated & VIRTIO_BLK_F_BLK_SIZE);
	assert_true(negotiated & VIRTIO_BLK_F_FLUSH);
	assert_true(negotiated & VIRTIO_F_VERSION_1);
	assert_false(negotiated & VIRTIO_BLK_F_RO);
	assert_int_equal(b->st.capacity, DISK_SECTORS);
	assert_false(b->st.read_only);
	assert_int_equal(b->st.features, negotiated & ~VIRTIO_F_VERSION_1);
	if (negotiated & VIRTIO_BLK_F_DISCARD) {
		assert_int_equal(cfg32(VIRTIO_BLK_CFG_MAX_DISCARD_SEG), 1);
		assert_int_equal(cfg32(VIRTIO_BLK_CFG_MAX_WZ_SEG), 1);
		assert_true(cfg32(VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS) > 0);
		assert_true(cfg32(VIRTIO_BLK_CFG_MAX_WZ_SECTORS) > 0);
		assert_true(cfg32(VIRTIO_BLK_CFG_DISCARD_ALIGNMENT) > 0);
	}
	/* Past the config space: zeroes, no crash. */
	assert_int_equal(cfg32(VIRTIO_BLK_CONFIG_SIZE), 0);
}

static void test_read_write_flush_get_id(void **state)
{
	uint8_t expect[1024], disk[512];
	(void)state;

	/* Read sectors 3-4 into three data buffers (100 + 412 + 512 bytes). */
	struct seg r[5] = {
		{ HDR_OFF, 16, false }, { DATA_OFF, 100, true }, { DATA_OFF + 100, 412, true },
		{ DATA_OFF + 512, 512, true }, { STATUS_OFF, 1, true },
	};
	put_hdr(0, VIRTIO_BLK_T_IN, 3);
	uint16_t head = post(r, 5);
	assert_int_equal(run(head, 1025, 0), VIRTIO_BLK_S_OK);
	for (unsigned int i = 0; i < 1024; i++)
		expect[i] = pattern(3 * 512 + i);
	assert_memory_equal(ram(DATA_OFF), expect, 1024);
	assert_true(edges > 0);

	/* Read sector 7 with the status byte sharing the data buffer. */
	struct seg r2[2] = { { HDR_OFF + 32, 16, false }, { DATA_OFF + 1024, 513, true } };
	put_hdr(1, VIRTIO_BLK_T_IN, 7);
	head = post(r2, 2);
	notify();
	wait_used(2);
	assert_int_equal(*ram(DATA_OFF + 1024 + 512), VIRTIO_BLK_S_OK);
	assert_int_equal(*ram(DATA_OFF + 1024), pattern(7 * 512));

	/* Write sector 5: header and data in one readable buffer. */
	uint8_t *w = ram(HDR_OFF + 64);
	put_hdr(2, VIRTIO_BLK_T_OUT, 5);
	for (unsigned int i = 0; i < 512; i++)
		w[16 + i] = (uint8_t)(0x5a ^ i);
	struct seg ws[2] = { { HDR_OFF + 64, 16 + 512, false }, { STATUS_OFF + 2, 1, true } };
	head = post(ws, 2);
	assert_int_equal(run(head, 1, 2), VIRTIO_BLK_S_OK);
	read_disk(5 * 512, disk, 512);
	assert_memory_equal(disk, w + 16, 512);
	read_disk(6 * 512, disk, 1);
	assert_int_equal(disk[0], pattern(6 * 512)); /* the next sector is untouched */

	/* Flush. */
	head = post_rw(3, VIRTIO_BLK_T_FLUSH, 0, 0);
	assert_int_equal(run(head, 1, 3), VIRTIO_BLK_S_OK);

	/* GET_ID: the file's name, 20 bytes, NUL-padded. */
	head = post_rw(4, VIRTIO_BLK_T_GET_ID, 0, 20);
	assert_int_equal(run(head, 21, 4), VIRTIO_BLK_S_OK);
	char id[21] = { 0 };
	memcpy(id, ram(DATA_OFF + 4 * 1024), 20);
	assert_string_equal(id, strrchr(path, '/') + 1);
	assert_int_equal(*ram(DATA_OFF + 4 * 1024 + 20), CANARY); /* nothing past the 20 bytes */
	assert_int_equal(b->in_flight, 0);
}

static void test_discard_write_zeroes(void **state)
{
	uint8_t zero[1024] = { 0 }, disk[1024];
	struct stat sb;
	(void)state;

	if (!(negotiated & VIRTIO_BLK_F_DISCARD)) {
		/* This file system punches no holes: the requests are unsupported. */
		uint16_t head = post_dwz(0, VIRTIO_BLK_T_DISCARD, 8, 2, 0);
		assert_int_equal(run(head, 1, 0), VIRTIO_BLK_S_UNSUPP);
		print_message("no hole punching on this file system: discard not offered\n");
		return;
	}
	assert_true(negotiated & VIRTIO_BLK_F_WRITE_ZEROES);
	uint16_t head = post_dwz(0, VIRTIO_BLK_T_DISCARD, 8, 2, 0);
	assert_int_equal(run(head, 1, 0), VIRTIO_BLK_S_OK);
	read_disk(8 * 512, disk, 1024);
	assert_memory_equal(disk, zero, 1024);
	head = post_dwz(1, VIRTIO_BLK_T_WRITE_ZEROES, 12, 2, 0);
	assert_int_equal(run(head, 1, 1), VIRTIO_BLK_S_OK);
	read_disk(12 * 512, disk, 1024);
	assert_memory_equal(disk, zero, 1024);
	head = post_dwz(2, VIRTIO_BLK_T_WRITE_ZEROES, 20, 1, VIRTIO_BLK_DWZ_F_UNMAP);
	assert_int_equal(run(head, 1, 2), VIRTIO_BLK_S_OK);
	read_disk(20 * 512, disk, 512);
	assert_memory_equal(disk, zero, 512);
	read_disk(21 * 512, disk, 1);
	assert_int_equal(disk[0], pattern(21 * 512));
	/* Refusals go through the queue too. */
	head = post_dwz(3, VIRTIO_BLK_T_DISCARD, 8, 2, VIRTIO_BLK_DWZ_F_UNMAP);
	assert_int_equal(run(head, 1, 3), VIRTIO_BLK_S_UNSUPP);
	head = post_dwz(4, VIRTIO_BLK_T_WRITE_ZEROES, DISK_SECTORS, 1, 0);
	assert_int_equal(run(head, 1, 4), VIRTIO_BLK_S_IOERR);
	/* The disk keeps its size. */
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, DISK_SECTORS * 512);
}

/* Write-zeroes without unmap where the file system cannot zero a range: punched instead, still zeroes. */
static void test_write_zeroes_fallback(void **state)
{
	uint8_t zero[1024] = { 0 }, disk[1024];
	(void)state;

	if (!(negotiated & VIRTIO_BLK_F_WRITE_ZEROES)) {
		print_message("no hole punching on this file system: write-zeroes not offered\n");
		skip();
	}
	for (unsigned int i = 0; i < 3; i++) {
		uint16_t head = post_dwz(i, VIRTIO_BLK_T_WRITE_ZEROES, 4 + 4 * i, 2, 0);
		assert_int_equal(run(head, 1, i), VIRTIO_BLK_S_OK);
		read_disk((4 + 4 * i) * 512, disk, 1024);
		assert_memory_equal(disk, zero, 1024);
		read_disk((6 + 4 * i) * 512, disk, 1);
		assert_int_equal(disk[0], pattern((6 + 4 * i) * 512));
	}
	if (strncmp(path, "/dev/shm/", 9) == 0)
		print_message("tmpfs: FALLOC_FL_ZERO_RANGE %s\n", b->st.can_zero_range ? "works" : "missing, punched");
	assert_int_equal(b->in_flight, 0);
}

static void test_read_only(void **state)
{
	uint8_t before[DISK_SECTORS * 512], after[DISK_SECTORS * 512];
	(void)state;

	assert_true(negotiated & VIRTIO_BLK_F_RO);
	assert_false(negotiated & (VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES));
	assert_true(b->st.read_only);
	read_disk(0, before, sizeof(before));
	memset(ram(DATA_OFF), 0x77, 512);
	uint16_t head = post_rw(0, VIRTIO_BLK_T_OUT, 0, 512);
	assert_int_equal(run(head, 1, 0), VIRTIO_BLK_S_IOERR);
	head = post_dwz(1, VIRTIO_BLK_T_DISCARD, 0, 1, 0);
	assert_int_equal(run(head, 1, 1), VIRTIO_BLK_S_IOERR);
	head = post_dwz(2, VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0);
	assert_int_equal(run(head, 1, 2), VIRTIO_BLK_S_IOERR);
	head = post_rw(3, VIRTIO_BLK_T_FLUSH, 0, 0);
	assert_int_equal(run(head, 1, 3), VIRTIO_BLK_S_OK);
	head = post_rw(4, VIRTIO_BLK_T_IN, 1, 512);
	assert_int_equal(run(head, 513, 4), VIRTIO_BLK_S_OK);
	assert_int_equal(*ram(DATA_OFF + 4 * 1024), pattern(512));
	read_disk(0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
}

/*
 * Bad requests, all posted at once: each gets its status and nothing else in
 * guest RAM changes except the used ring and the status bytes.
 */
static void test_bad_requests(void **state)
{
	static uint8_t snap[RAM_SIZE];
	uint8_t before[DISK_SECTORS * 512], after[DISK_SECTORS * 512];
	struct want {
		uint16_t head;
		uint8_t status;		/* expected */
		uint32_t len;		/* expected used length */
	} want[12];
	unsigned int n = 0;
	(void)state;

	read_disk(0, before, sizeof(before));
	/* 0: header of 8 bytes */
	struct seg s0[3] = { { HDR_OFF, 8, false }, { DATA_OFF, 512, true }, { STATUS_OFF, 1, true } };
	put_hdr(0, VIRTIO_BLK_T_IN, 0);
	want[n++] = (struct want){ post(s0, 3), VIRTIO_BLK_S_IOERR, 1 };
	/* 1-4: out of range, straddling the end, sector * 512 overflowing, UINT64_MAX */
	want[n++] = (struct want){ post_rw(1, VIRTIO_BLK_T_IN, DISK_SECTORS, 512), VIRTIO_BLK_S_IOERR, 1 };
	want[n++] = (struct want){ post_rw(2, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1024), VIRTIO_BLK_S_IOERR, 1 };
	want[n++] = (struct want){ post_rw(3, VIRTIO_BLK_T_OUT, 1ull << 55, 512), VIRTIO_BLK_S_IOERR, 1 };
	want[n++] = (struct want){ post_rw(4, VIRTIO_BLK_T_IN, UINT64_MAX, 512), VIRTIO_BLK_S_IOERR, 1 };
	/* 5-6: lengths that are not whole sectors */
	want[n++] = (struct want){ post_rw(5, VIRTIO_BLK_T_IN, 0, 500), VIRTIO_BLK_S_IOERR, 1 };
	want[n++] = (struct want){ post_rw(6, VIRTIO_BLK_T_OUT, 0, 100), VIRTIO_BLK_S_IOERR, 1 };
	/* 7: unknown type */
	want[n++] = (struct want){ post_rw(7, 99, 0, 0), VIRTIO_BLK_S_UNSUPP, 1 };
	/* 8: GET_ID into 10 bytes */
	want[n++] = (struct want){ post_rw(8, VIRTIO_BLK_T_GET_ID, 0, 10), VIRTIO_BLK_S_IOERR, 1 };
	/* 9: no writable descriptor: completed with nothing written */
	struct seg s9[1] = { { HDR_OFF + 9 * 32, 16, false } };
	put_hdr(9, VIRTIO_BLK_T_IN, 0);
	want[n++] = (struct want){ post(s9, 1), CANARY, 0 };
	/* 10: a zero-length status descriptor */
	struct seg s10[2] = { { HDR_OFF + 10 * 32, 16, false }, { STATUS_OFF + 10, 0, true } };
	put_hdr(10, VIRTIO_BLK_T_FLUSH, 0);
	want[n++] = (struct want){ post(s10, 2), CANARY, 0 };
	/* 11: a good read after all that */
	want[n++] = (struct want){ post_rw(11, VIRTIO_BLK_T_IN, 2, 512), VIRTIO_BLK_S_OK, 513 };

	memcpy(snap, vm.mem.host, RAM_SIZE);
	notify();
	wait_used((uint16_t)n);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t id, len;
		used_elem(i, &id, &len);
		assert_int_equal(id, want[i].head);
		assert_int_equal(len, want[i].len);
		assert_int_equal(status_of(i), want[i].status);
	}
	assert_int_equal(*ram(DATA_OFF + 11 * 1024), pattern(1024));
	/* Only the used ring, the status bytes and the one good read's buffer changed. */
	for (uint64_t off = 0; off < RAM_SIZE; off++) {
		if (off >= USED_OFF && off < USED_OFF + 6 + 8 * QSIZE)
			continue;
		if (off >= STATUS_OFF && off < STATUS_OFF + n)
			continue;
		if (off >= DATA_OFF + 11 * 1024 && off < DATA_OFF + 11 * 1024 + 512)
			continue;
		if (vm.mem.host[off] != snap[off])
			fail_msg("guest RAM at offset 0x%llx changed", (unsigned long long)off);
	}
	assert_false(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET);
	read_disk(0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
}

/* More requests than the backend's depth in one notification: the rest wait, then all complete. */
static void test_many_in_flight(void **state)
{
	const unsigned int n = 80; /* 3 descriptors each: 240 of the 256 */
	(void)state;

	assert_true(n > BLK_IO_DEFAULT_DEPTH && 3 * n <= QSIZE);
	for (unsigned int i = 0; i < n; i++)
		post_rw(i, VIRTIO_BLK_T_IN, i % DISK_SECTORS, 512);
	notify();
	/* Completions are only taken by the event loop's callback: the first 64 are in flight, the rest wait. */
	assert_int_equal(b->in_flight, BLK_IO_DEFAULT_DEPTH);
	assert_true(b->stalled);
	assert_int_equal(used_idx(), 0);
	wait_used((uint16_t)n);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t id, len;
		used_elem(i, &id, &len);
		assert_int_equal(len, 513);
		assert_int_equal(status_of(i), VIRTIO_BLK_S_OK);
		for (unsigned int j = 0; j < 512; j += 97)
			assert_int_equal(*ram(DATA_OFF + 1024u * i + j), pattern((i % DISK_SECTORS) * 512 + j));
	}
	assert_int_equal(b->in_flight, 0);
	assert_false(b->stalled);
}

/* A reset waits for the I/O and answers nothing afterwards. */
static void test_reset_waits(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < 80; i++)
		post_rw(i, VIRTIO_BLK_T_IN, i % DISK_SECTORS, 512);
	notify();
	wr(0x070, 0);
	assert_int_equal(b->in_flight, 0);
	assert_false(b->stalled);
	assert_int_equal(rd(0x070), 0);
	/* A late completion callback finds nothing to answer. */
	virtio_blk_complete(b);
	assert_int_equal(used_idx(), 0);
	for (unsigned int i = 0; i < 80; i++)
		assert_int_equal(status_of(i), CANARY);
	/* The device works again after the driver sets it up anew. */
	driver_init();
	uint16_t head = post_rw(0, VIRTIO_BLK_T_IN, 1, 512);
	assert_int_equal(run(head, 513, 0), VIRTIO_BLK_S_OK);
}

/* Drain completes everything in flight without the event loop. */
static void test_drain(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < 10; i++)
		post_rw(i, VIRTIO_BLK_T_IN, i, 512);
	notify();
	virtio_blk_drain(b);
	assert_int_equal(b->in_flight, 0);
	assert_int_equal(used_idx(), 10);
	for (unsigned int i = 0; i < 10; i++)
		assert_int_equal(status_of(i), VIRTIO_BLK_S_OK);
}

static void quit_cb(void *opaque, int fd, short revents)
{
	(void)fd;
	(void)revents;
	((struct eventloop *)opaque)->quit = true;
}

/* The real event loop delivers completions. */
static void test_event_loop(void **state)
{
	(void)state;
	/* Registered after the device's entry, so the device's callback runs first in the same round. */
	assert_true(eventloop_add(&vm.loop, b->io->event_fd, POLLIN, quit_cb, &vm.loop) > b->loop_id);
	uint16_t head = post_rw(0, VIRTIO_BLK_T_IN, 9, 512);
	notify();
	for (int i = 0; i < 100 && used_idx() != 1; i++) {
		vm.loop.quit = false;
		assert_int_equal(eventloop_run(&vm.loop), 0);
	}
	uint32_t id, len;
	assert_int_equal(used_idx(), 1);
	used_elem(0, &id, &len);
	assert_int_equal(id, head);
	assert_int_equal(status_of(0), VIRTIO_BLK_S_OK);
}

static void test_create_errors(void **state)
{
	struct disk_config cfg = { .io = DISK_IO_THREAD };
	struct machine other;
	char odd[64] = "/tmp/armvmm-vblk-odd-XXXXXX";
	int fd;
	(void)state;

	memset(&other, 0, sizeof(other));
	other.vm_fd = -1;
	other.irqchip.ops = &recording_ops;
	other.mem = vm.mem;
	cfg.path = "/nonexistent/disk.img";
	assert_int_equal(create_disk(&other, &cfg), -ENOENT);
	cfg.read_only = true;
	assert_int_equal(create_disk(&other, &cfg), -ENOENT);
	/* Not a whole number of sectors. */
	fd = mkstemp(odd);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1000), 0);
	close(fd);
	cfg.path = odd;
	assert_int_equal(create_disk(&other, &cfg), -EINVAL);
	unlink(odd);
	/* A directory. */
	cfg.path = "/tmp";
	assert_int_equal(create_disk(&other, &cfg), -EINVAL);
	/* The fixture's disk is open for writing: a second writer is refused. */
	cfg.path = path;
	cfg.read_only = false;
	assert_int_equal(create_disk(&other, &cfg), -EBUSY);
	assert_int_equal(other.devices.count, 0);
	/* io=uring where there is no io_uring is an error, not a silent fallback. */
	struct blk_io *probe;
	fd = open(path, O_RDONLY);
	int ret = blk_io_uring_create(&probe, fd, 4);
	if (ret == 0) {
		blk_io_destroy(probe);
	} else {
		char other_disk[64] = "/tmp/armvmm-vblk-uring-XXXXXX";
		int ofd = mkstemp(other_disk);
		assert_true(ofd >= 0);
		assert_int_equal(ftruncate(ofd, 4096), 0);
		close(ofd);
		cfg.path = other_disk;
		cfg.io = DISK_IO_URING;
		assert_int_equal(create_disk(&other, &cfg), ret);
		unlink(other_disk);
	}
	close(fd);
	assert_int_equal(other.devices.count, 0);
}

/* io=auto: io_uring where the kernel has it, else the worker thread, and the disk works either way. */
static void test_auto_backend(void **state)
{
	struct disk_config cfg = { .io = DISK_IO_AUTO };
	struct blk_io *probe;
	struct machine other;
	char p2[64] = "/tmp/armvmm-vblk-auto-XXXXXX";
	int fd = mkstemp(p2), ret;
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	ret = blk_io_uring_create(&probe, fd, 4);
	if (ret == 0)
		blk_io_destroy(probe);
	close(fd);
	memset(&other, 0, sizeof(other));
	other.vm_fd = -1;
	other.irqchip.ops = &recording_ops;
	other.mem = vm.mem;
	cfg.path = p2;
	assert_int_equal(create_disk(&other, &cfg), 0);
	struct virtio_blk *ob = transport(&other, 0)->dev;
	assert_string_equal(ob->io->ops->name, ret == 0 ? "io_uring" : "thread");
	assert_int_equal(ob->st.capacity, 16);
	/* The same image a second time: refused, the first holds its lock. */
	assert_int_equal(create_disk(&other, &cfg), -EBUSY);
	virtio_blk_destroy(ob);
	free(transport(&other, 0));
	unlink(p2);
}

/* --- snapshots ---------------------------------------------------------------------- */

/* The VM a restore builds: same RAM, the device re-created from the same disk configuration. */
static struct machine vm2;
static struct virtio_mmio *t2;
static struct virtio_blk *b2;

/* The identity the snapshot recorded (in CONF), as a restore hands it to the disk. */
static struct disk_identity recorded;

/* The disk created again in vm2 from cfg, sharing vm's RAM. */
static void create_in_vm2(const struct disk_config *cfg)
{
	memset(&vm2, 0, sizeof(vm2));
	vm2.vm_fd = -1;
	vm2.irqchip.ops = &recording_ops;
	vm2.mem = vm.mem;
	assert_int_equal(create_disk(&vm2, cfg), 0);
	t2 = transport(&vm2, 0);
	b2 = t2->dev;
}

/* Close the fixture's device (its flock goes with it) and create the disk again in vm2, as a restore does. */
static void recreate(bool read_only)
{
	struct disk_config cfg = { .path = recorded.path, .read_only = read_only, .io = DISK_IO_THREAD,
				   .untrusted_path = true, .check = DISK_CHECK_SAME, .recorded = &recorded };

	assert_int_equal(virtio_blk_identity(b, &recorded), 0);
	virtio_blk_destroy(b);
	b = NULL;
	create_in_vm2(&cfg);
}

static void drop_recreated(void)
{
	virtio_blk_destroy(b2);
	free(transport(&vm2, 0));
	b2 = NULL;
	t2 = NULL;
}

/* Ten reads in flight and one more queued behind the last notification: quiesce, then save. */
static void save_busy(struct snap_buf *buf)
{
	for (unsigned int i = 0; i < 10; i++)
		post_rw(i, VIRTIO_BLK_T_IN, i, 512);
	notify();
	post_rw(10, VIRTIO_BLK_T_IN, 33, 512);
	t->ops->quiesce(t);
	assert_int_equal(b->in_flight, 0);
	assert_int_equal(used_idx(), 10);
	assert_int_equal(status_of(10), CANARY);
	virtio_mmio_save(t, buf);
	assert_false(buf->err);
}

static void test_snapshot_round_trip(void **state)
{
	struct snap_buf buf = { 0 };
	uint32_t regs[4];
	(void)state;

	save_busy(&buf);
	regs[0] = rd(0x070);
	regs[1] = rd(0x060);
	regs[2] = rd(0x010);
	recreate(false);
	edges = 0;
	struct snap_cursor c = { .p = buf.data, .len = buf.len };
	assert_int_equal(virtio_mmio_restore(t2, &c), 0);
	assert_int_equal(edges, 1); /* INT_USED was never acknowledged: signalled again */
	t = t2;
	assert_int_equal(rd(0x070), regs[0]);
	assert_int_equal(rd(0x060), regs[1]);
	assert_int_equal(rd(0x010), regs[2]);
	assert_int_equal(virtio_mmio_features(t2), negotiated);

	/* The request queued behind the last kick is served after the restore's kick_all. */
	virtio_mmio_kick_all(t2);
	virtio_blk_drain(b2);
	assert_int_equal(used_idx(), 11);
	assert_int_equal(status_of(10), VIRTIO_BLK_S_OK);
	for (unsigned int j = 0; j < 512; j += 61)
		assert_int_equal(*ram(DATA_OFF + 1024u * 10 + j), pattern(33 * 512 + j));
	t = transport(&vm, 0);
	drop_recreated();
	snap_buf_free(&buf);
}

static void test_snapshot_disk_changed(void **state)
{
	struct snap_buf buf = { 0 };
	(void)state;

	save_busy(&buf);
	virtio_blk_destroy(b);
	b = NULL;
	assert_int_equal(truncate(path, (DISK_SECTORS + 8) * 512), 0);
	struct disk_config cfg = { .path = path, .io = DISK_IO_THREAD };
	create_in_vm2(&cfg);
	struct virtio_mmio_state before = t2->st;
	edges = 0;
	struct snap_cursor c = { .p = buf.data, .len = buf.len };
	assert_int_equal(virtio_mmio_restore(t2, &c), -EINVAL);
	assert_memory_equal(&t2->st, &before, sizeof(before));
	assert_int_equal(edges, 0);
	drop_recreated();
	snap_buf_free(&buf);
}

/*
 * The disk part follows the 161 transport bytes: the disk's identity (path
 * length u32 and path, dev u64, ino u64, size u64, mtime seconds u64 and
 * nanoseconds u32), read_only (u8), capacity (u64), features (u64), serial
 * (20 bytes).
 */
static void test_snapshot_identity_checked(void **state)
{
	enum { PATH_LEN = 161, PATH = 165 };
	struct snap_buf good = { 0 };
	size_t plen = strlen(path), dev = PATH + plen, ino = dev + 8, size = ino + 8, msec = size + 8,
	       mnsec = msec + 8, ro = mnsec + 4, cap = ro + 1, feat = cap + 8, serial = feat + 8;
	/* flip: XOR the field with value (a different value, whatever it was); else set it to value. */
	const struct {
		const char *what;
		size_t off;
		unsigned int width;
		uint64_t value;
		bool flip;
		int len_delta;
	} m[] = {
		{ "another path", PATH + plen - 1, 1, 0x20, true, 0 },
		{ "path with a NUL", PATH + 1, 1, 0, false, 0 },
		{ "path length past the payload", PATH_LEN, 4, 1000, false, 0 },
		{ "path length beyond PATH_MAX", PATH_LEN, 4, 0x7fffffff, false, 0 },
		{ "another device", dev, 1, 0x5a, true, 0 },
		{ "another inode", ino, 1, 0x5a, true, 0 },
		{ "another size then", size, 2, 0x200, true, 0 },
		{ "modified since", msec, 2, 0x3039, true, 0 },
		{ "modified since, nanoseconds", mnsec, 1, 1, true, 0 },
		{ "nanoseconds out of range", mnsec, 4, 1000000000u, false, 0 },
		{ "read-only then", ro, 1, 1, false, 0 },
		{ "read_only not a bool", ro, 1, 3, false, 0 },
		{ "fewer sectors then", cap, 8, DISK_SECTORS - 1, false, 0 },
		{ "other features then", feat, 8, 0, false, 0 },
		{ "truncated", 0, 0, 0, false, -1 },
		{ "no serial", 0, 0, 0, false, -20 },
		{ "a byte left over", 0, 0, 0, false, 1 },
	};
	(void)state;

	save_busy(&good);
	assert_int_equal(good.len, serial + 20);
	recreate(false);
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		uint8_t bytes[512] = { 0 };
		struct virtio_mmio_state before = t2->st;
		struct virtio_blk_state bst = b2->st;
		int e = edges;

		memcpy(bytes, good.data, good.len);
		for (unsigned int k = 0; k < m[i].width; k++) {
			uint8_t v = (uint8_t)(m[i].value >> (8 * k));
			bytes[m[i].off + k] = m[i].flip ? bytes[m[i].off + k] ^ v : v;
		}
		struct snap_cursor c = { .p = bytes, .len = (size_t)((int)good.len + m[i].len_delta) };
		print_message("hostile virtio-blk payload: %s\n", m[i].what);
		assert_int_equal(virtio_mmio_restore(t2, &c), -EINVAL);
		assert_memory_equal(&t2->st, &before, sizeof(before));
		assert_memory_equal(&b2->st, &bst, sizeof(bst));
		assert_int_equal(edges, e);
	}
	/* The unchanged payload still restores, and with it the serial the guest knew. */
	memset(b2->st.serial, 0, sizeof(b2->st.serial));
	struct snap_cursor c = { .p = good.data, .len = good.len };
	assert_int_equal(virtio_mmio_restore(t2, &c), 0);
	assert_memory_equal(b2->st.serial, good.data + serial, 20);
	drop_recreated();
	snap_buf_free(&good);
}

/* The disk written after the save: refused, with the way to override it. */
static void test_snapshot_disk_written_since(void **state)
{
	struct snap_buf buf = { 0 };
	struct timespec later[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 2000000000 } };
	(void)state;

	save_busy(&buf);
	assert_int_equal(utimensat(AT_FDCWD, path, later, 0), 0);
	recreate(false);
	struct snap_cursor c = { .p = buf.data, .len = buf.len };
	assert_int_equal(virtio_mmio_restore(t2, &c), -EINVAL);
	drop_recreated();
	/* --allow-changed-disk: the size is all that is checked. */
	struct disk_config cfg = { .path = path, .io = DISK_IO_THREAD, .untrusted_path = true,
				   .check = DISK_CHECK_SIZE, .recorded = &recorded };
	create_in_vm2(&cfg);
	c = (struct snap_cursor){ .p = buf.data, .len = buf.len };
	assert_int_equal(virtio_mmio_restore(t2, &c), 0);
	drop_recreated();
	snap_buf_free(&buf);
}

/* A recorded path that is a symbolic link now, or leads through one: refused before anything is opened. */
static void test_recorded_path_symlink(void **state)
{
	char link[80], dir[80], via[160];
	struct disk_identity id;
	(void)state;

	assert_int_equal(virtio_blk_identity(b, &id), 0);
	snprintf(link, sizeof(link), "%s.link", path);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(disk_open(link, false, false, DISK_CHECK_NONE, NULL, &id), -ELOOP);
	/* A directory symlink on the way: ELOOP from openat2 (or the lstat check where it is missing). */
	snprintf(dir, sizeof(dir), "%s.dir", path);
	assert_int_equal(symlink("/tmp", dir), 0);
	snprintf(via, sizeof(via), "%s/%s", dir, strrchr(path, '/') + 1);
	int fd = disk_open(via, true, false, DISK_CHECK_NONE, NULL, &id);
	assert_true(fd == -ELOOP);
	/* Relative: refused as well. */
	assert_int_equal(disk_open("disk.img", true, false, DISK_CHECK_NONE, NULL, &id), -EINVAL);
	/* The user's own path may be a symlink: it is made canonical. */
	fd = disk_open(link, true, true, DISK_CHECK_NONE, NULL, &id);
	assert_true(fd >= 0);
	assert_string_equal(id.path, path);
	close(fd);
	unlink(link);
	unlink(dir);
}

/* Re-created read-only from a snapshot of a writable disk: refused. */
static void test_snapshot_read_only_changed(void **state)
{
	struct snap_buf buf = { 0 };
	(void)state;

	save_busy(&buf);
	recreate(true);
	struct virtio_mmio_state before = t2->st;
	struct snap_cursor c = { .p = buf.data, .len = buf.len };
	assert_int_equal(virtio_mmio_restore(t2, &c), -EINVAL);
	assert_memory_equal(&t2->st, &before, sizeof(before));
	drop_recreated();
	snap_buf_free(&buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rw),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_discard_write_zeroes),
		cmocka_unit_test_setup_teardown(test_config_and_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_flush_get_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes_fallback, setup_tmpfs, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_disk_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_identity_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_read_only_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_disk_written_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recorded_path_symlink, setup, teardown),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
