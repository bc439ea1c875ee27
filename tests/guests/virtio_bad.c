/*
 * virtio_bad.bin: a hostile driver for the first virtio-blk device.
 *
 * Finds the virtio,mmio node with the lowest address (and a device behind it)
 * in the DTB (fallback 0x03000000), checks MagicValue / Version 2 / DeviceID 2, and then, for each
 * malformed request below, resets the device, initialises it again (VERSION_1
 * only, queue 0 of size 8 with its rings in this image's RAM), posts the bad
 * chain and notifies.  Each one must be refused: the device sets
 * DEVICE_NEEDS_RESET (status bit 0x40) or completes the request with a
 * non-OK status.  Whatever the device does, it must not write outside the
 * used ring and the device-writable buffers it was given: the rings and
 * buffers sit in an arena filled with a canary pattern, and every byte the
 * device had no business touching is compared afterwards.
 *
 *   virtio-bad: <case>: refused (needs-reset)      or  (status N)
 *   virtio-bad: sector 0 read ok after the bad chains (used len N)
 *   virtio-bad: all N cases refused
 *
 * The read past the disk's capacity must complete with status IOERR (1).
 * The final valid read of sector 0 must return the pattern the system test
 * wrote there: 32 lines "sector0 line NN\n" (NN = 00..31), 16 bytes each.
 */
#include "virtio.h"

#define VIRTIO_MMIO_FALLBACK 0x03000000UL


#define DEVICE_ID_BLOCK 2

#define ST_ACKNOWLEDGE 1U
#define ST_DRIVER 2U
#define ST_DRIVER_OK 4U
#define ST_FEATURES_OK 8U


#define BLK_T_IN 0
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2

#define QSIZE 8

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/*
 * The arena: every structure the device may see lives here, each in its
 * own 2 KiB slot; everything else is canary.
 */
#define DESC_OFF 0x0800		/* QSIZE descriptors; the slot behind them stays canary */
#define AVAIL_OFF 0x1000	/* flags, idx, ring[QSIZE], used_event */
#define USED_OFF 0x1800		/* flags, idx, ring[QSIZE] of (id, len), avail_event */
#define HDR_OFF 0x2000
#define DATA_OFF 0x2800
#define STATUS_OFF 0x3000
#define EXTRA_OFF 0x3800
#define INDIRECT_OFF 0x4000
#define ARENA_SIZE 0x5000

#define AVAIL_SIZE (4 + 2 * QSIZE + 2)
#define USED_SIZE (4 + 8 * QSIZE + 2)

static uint8_t arena[ARENA_SIZE] __attribute__((aligned(4096)));
static uint8_t expect[ARENA_SIZE];

/* RAM's last bytes, watched by the "straddles the end of RAM" case. */
#define TAIL_SIZE 256
static uint8_t tail_expect[TAIL_SIZE];

static uintptr_t vbase;
static uint64_t ram_base, ram_end;
static uint64_t capacity;	/* in 512-byte sectors */

/* Writable ranges (arena offsets) the current case handed to the device. */
struct range {
	uint32_t off, len;
};
static struct range writable[4];
static int n_writable;

static uint32_t rd(uint32_t off) { return mmio_read32(vbase + off); }
static void wr(uint32_t off, uint32_t v) { mmio_write32(vbase + off, v); }

static uint8_t canary(uint32_t off)
{
	return (uint8_t)(0xa5 ^ (off * 29) ^ (off >> 8));
}

static struct desc *descs(void) { return (struct desc *)(arena + DESC_OFF); }
static volatile uint16_t *avail_idx(void) { return (volatile uint16_t *)(arena + AVAIL_OFF + 2); }
static volatile uint16_t *avail_ring(void) { return (volatile uint16_t *)(arena + AVAIL_OFF + 4); }
static volatile uint16_t *used_idx(void) { return (volatile uint16_t *)(arena + USED_OFF + 2); }
static volatile uint32_t *used_elem(int i) { return (volatile uint32_t *)(arena + USED_OFF + 4 + 8 * i); }

static uint64_t gpa(uint32_t off) { return (uint64_t)(uintptr_t)arena + off; }

static void set_desc(int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct desc *d = &descs()[i];

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* A device-writable buffer in the arena: the device may write its bytes. */
static void set_wdesc(int i, uint32_t off, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc(i, gpa(off), len, (uint16_t)(flags | DESC_F_WRITE), next);
	if (n_writable == (int)ARRAY_SIZE(writable))
		fail("virtio-bad: too many writable ranges in one case");
	writable[n_writable].off = off;
	writable[n_writable].len = len;
	n_writable++;
}

static void set_hdr(uint32_t type, uint64_t sector)
{
	struct blk_hdr *h = (struct blk_hdr *)(arena + HDR_OFF);

	h->type = type;
	h->reserved = 0;
	h->sector = sector;
}

/* The usual read request: header, 512-byte data buffer, status byte. */
static void std_read_chain(uint64_t sector)
{
	set_hdr(BLK_T_IN, sector);
	set_desc(0, gpa(HDR_OFF), sizeof(struct blk_hdr), DESC_F_NEXT, 1);
	set_wdesc(1, DATA_OFF, 512, DESC_F_NEXT, 2);
	set_wdesc(2, STATUS_OFF, 1, 0, 0);
}

/* --- device bring-up --------------------------------------------------------- */

static uint32_t wait_status_zero(void)
{
	uint64_t deadline = counter_deadline_ms(1000);
	uint32_t s;

	while ((s = rd(REG_STATUS)) != 0 && !counter_passed(deadline))
		;
	return s;
}

static void device_reset(void)
{
	uint32_t s;

	wr(REG_STATUS, 0);
	s = wait_status_zero();
	if (s != 0)
		fail("virtio-bad: status still 0x%x after a reset", s);
}

/* Reset, negotiate VERSION_1 only, set up queue 0 on the arena's rings, DRIVER_OK. */
static void device_setup(void)
{
	uint32_t s, f1, max;

	device_reset();
	wr(REG_STATUS, ST_ACKNOWLEDGE);
	wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);

	wr(REG_DEVICE_FEATURES_SEL, 1);
	f1 = rd(REG_DEVICE_FEATURES);
	if (!(f1 & 1))
		fail("virtio-bad: device does not offer VIRTIO_F_VERSION_1 (features word 1 = 0x%x)", f1);
	wr(REG_DRIVER_FEATURES_SEL, 0);
	wr(REG_DRIVER_FEATURES, 0);
	wr(REG_DRIVER_FEATURES_SEL, 1);
	wr(REG_DRIVER_FEATURES, 1);	/* bit 32: VERSION_1 */
	wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
	s = rd(REG_STATUS);
	if (!(s & ST_FEATURES_OK))
		fail("virtio-bad: FEATURES_OK did not stick (status 0x%x)", s);

	wr(REG_QUEUE_SEL, 0);
	if (rd(REG_QUEUE_READY) != 0)
		fail("virtio-bad: queue 0 is ready right after a reset");
	max = rd(REG_QUEUE_NUM_MAX);
	if (max < QSIZE)
		fail("virtio-bad: QueueNumMax %u < %u", max, QSIZE);
	wr(REG_QUEUE_NUM, QSIZE);
	wr(REG_QUEUE_DESC_LOW, (uint32_t)gpa(DESC_OFF));
	wr(REG_QUEUE_DESC_HIGH, (uint32_t)(gpa(DESC_OFF) >> 32));
	wr(REG_QUEUE_DRIVER_LOW, (uint32_t)gpa(AVAIL_OFF));
	wr(REG_QUEUE_DRIVER_HIGH, (uint32_t)(gpa(AVAIL_OFF) >> 32));
	wr(REG_QUEUE_DEVICE_LOW, (uint32_t)gpa(USED_OFF));
	wr(REG_QUEUE_DEVICE_HIGH, (uint32_t)(gpa(USED_OFF) >> 32));
	wr(REG_QUEUE_READY, 1);
	if (rd(REG_QUEUE_READY) != 1)
		fail("virtio-bad: QueueReady did not stick (status 0x%x)", rd(REG_STATUS));

	wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	s = rd(REG_STATUS);
	if (s != (ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK))
		fail("virtio-bad: status 0x%x after DRIVER_OK", s);
}

/* --- one request --------------------------------------------------------------- */

/* Fill the arena with canary, clear the rings; the case then builds its chain. */
static void arena_prepare(void)
{
	dcache_sync(arena, ARENA_SIZE);	/* no dirty host lines may land on what we write */
	for (uint32_t i = 0; i < ARENA_SIZE; i++)
		arena[i] = canary(i);
	memset(arena + DESC_OFF, 0, sizeof(struct desc) * QSIZE);
	memset(arena + AVAIL_OFF, 0, AVAIL_SIZE);
	memset(arena + USED_OFF, 0, USED_SIZE);
	memset(arena + HDR_OFF, 0, sizeof(struct blk_hdr));
	memset(arena + DATA_OFF, 0xdd, 512);
	arena[STATUS_OFF] = 0xff;
	n_writable = 0;
}

static bool may_write(uint32_t off)
{
	if (off >= USED_OFF && off < USED_OFF + USED_SIZE)
		return true;
	for (int i = 0; i < n_writable; i++)
		if (off >= writable[i].off && off - writable[i].off < writable[i].len)
			return true;
	return false;
}

static void check_arena(const char *name)
{
	dcache_sync(arena, ARENA_SIZE);
	for (uint32_t i = 0; i < ARENA_SIZE; i++) {
		if (arena[i] != expect[i] && !may_write(i))
			fail("virtio-bad: %s: the device wrote 0x%x over 0x%x at arena offset 0x%x (%s)",
			     name, arena[i], expect[i], i,
			     i >= DESC_OFF && i < DESC_OFF + 16 * QSIZE ? "descriptor table" :
			     i >= AVAIL_OFF && i < AVAIL_OFF + AVAIL_SIZE ? "avail ring" : "outside its buffers");
	}
}

enum outcome { NEEDS_RESET, COMPLETED, NO_REACTION };

/*
 * Publish `count` heads (ring[0..] already written) by setting avail idx to
 * `idx`, notify, and wait up to 3 s for NEEDS_RESET or a used entry.
 */
static enum outcome post(const char *name, uint16_t idx)
{
	uint64_t deadline;

	*avail_idx() = idx;
	memcpy(expect, arena, ARENA_SIZE);
	dcache_sync(arena, ARENA_SIZE);
	wr(REG_QUEUE_NOTIFY, 0);

	deadline = counter_deadline_ms(3000);
	for (;;) {
		uint32_t s = rd(REG_STATUS);

		if (s & ST_NEEDS_RESET) {
			/* Give a buggy device a moment to do damage before we look. */
			uint64_t settle = counter_deadline_ms(20);
			while (!counter_passed(settle))
				;
			check_arena(name);
			return NEEDS_RESET;
		}
		dcache_sync(arena + USED_OFF, USED_SIZE);
		if (*used_idx() != 0) {
			check_arena(name);
			return COMPLETED;
		}
		if (counter_passed(deadline))
			break;
	}
	check_arena(name);
	return NO_REACTION;
}

static int refused;

/*
 * The verdict for a malformed request: NEEDS_RESET, or a completion of `head`
 * with status IOERR / UNSUPP (status_off < 0: the chain has no status byte,
 * so a completion must report 0 bytes written).
 */
static void expect_refusal(const char *name, uint16_t head, int status_off)
{
	enum outcome o = post(name, 1);
	uint32_t id, len;
	uint8_t st;

	if (o == NO_REACTION)
		fail("virtio-bad: %s: neither NEEDS_RESET nor a used entry within 3 s (status 0x%x)",
		     name, rd(REG_STATUS));
	if (o == NEEDS_RESET) {
		kprintf("virtio-bad: %s: refused (needs-reset)\n", name);
		refused++;
		return;
	}
	id = used_elem(0)[0];
	len = used_elem(0)[1];
	if (*used_idx() != 1)
		fail("virtio-bad: %s: used idx %u after one request", name, *used_idx());
	if (id != head)
		fail("virtio-bad: %s: used entry names descriptor %u, the request's head is %u", name, id, head);
	if (status_off < 0) {
		if (len != 0)
			fail("virtio-bad: %s: completed with %u bytes written into no writable space", name, len);
		kprintf("virtio-bad: %s: refused (completed, nothing written)\n", name);
		refused++;
		return;
	}
	st = arena[status_off];
	if (st == BLK_S_OK)
		fail("virtio-bad: %s: the device accepted it (status OK, used len %u)", name, len);
	if (st != BLK_S_IOERR && st != BLK_S_UNSUPP)
		fail("virtio-bad: %s: completed without a valid status byte (0x%x, used len %u)", name, st, len);
	kprintf("virtio-bad: %s: refused (status %u)\n", name, st);
	refused++;
}

/* --- the cases ----------------------------------------------------------------- */

static void case_past_ram(void)
{
	device_setup();
	arena_prepare();
	std_read_chain(0);
	n_writable = 1;	/* only the status byte stays in the arena */
	writable[0].off = STATUS_OFF;
	writable[0].len = 1;
	set_desc(1, ram_end, 512, DESC_F_WRITE | DESC_F_NEXT, 2);
	avail_ring()[0] = 0;
	expect_refusal("data-past-end-of-ram", 0, STATUS_OFF);
}

static void case_straddle_ram(void)
{
	volatile uint8_t *tail = (volatile uint8_t *)(uintptr_t)(ram_end - TAIL_SIZE);

	dcache_sync(tail, TAIL_SIZE);
	for (int i = 0; i < TAIL_SIZE; i++)
		tail[i] = tail_expect[i] = canary((uint32_t)i + 7);
	dcache_sync(tail, TAIL_SIZE);
	device_setup();
	arena_prepare();
	std_read_chain(0);
	n_writable = 1;
	writable[0].off = STATUS_OFF;
	writable[0].len = 1;
	set_desc(1, ram_end - TAIL_SIZE, 512, DESC_F_WRITE | DESC_F_NEXT, 2);
	avail_ring()[0] = 0;
	expect_refusal("data-straddles-end-of-ram", 0, STATUS_OFF);
	dcache_sync(tail, TAIL_SIZE);
	for (int i = 0; i < TAIL_SIZE; i++)
		if (tail[i] != tail_expect[i])
			fail("virtio-bad: data-straddles-end-of-ram: the device wrote the last %d bytes of RAM "
			     "(offset %d: 0x%x)", TAIL_SIZE, i, tail[i]);
}

static void case_wrap(void)
{
	device_setup();
	arena_prepare();
	std_read_chain(0);
	n_writable = 1;
	writable[0].off = STATUS_OFF;
	writable[0].len = 1;
	/* 0xffff_ffff_ffff_ff00 + 0x200 wraps to 0x100. */
	set_desc(1, 0xffffffffffffff00ULL, 0x200, DESC_F_WRITE | DESC_F_NEXT, 2);
	avail_ring()[0] = 0;
	expect_refusal("addr-plus-len-wraps", 0, STATUS_OFF);
}

static void case_loop_to_head(void)
{
	device_setup();
	arena_prepare();
	std_read_chain(0);
	descs()[2].flags |= DESC_F_NEXT;
	descs()[2].next = 0;
	avail_ring()[0] = 0;
	expect_refusal("chain-loops-to-head", 0, STATUS_OFF);
}

static void case_too_long(void)
{
	device_setup();
	arena_prepare();
	set_hdr(BLK_T_IN, 0);
	set_desc(0, gpa(HDR_OFF), sizeof(struct blk_hdr), DESC_F_NEXT, 1);
	/* 1 -> 2 -> ... -> 7 -> 1: never ends, never returns to the head. */
	for (int i = 1; i < QSIZE; i++)
		set_desc(i, gpa(DATA_OFF) + 64 * (i - 1), 64, DESC_F_WRITE | DESC_F_NEXT,
			 (uint16_t)(i == QSIZE - 1 ? 1 : i + 1));
	writable[0].off = DATA_OFF;
	writable[0].len = 64 * (QSIZE - 1);
	n_writable = 1;
	avail_ring()[0] = 0;
	expect_refusal("chain-longer-than-queue", 0, -1);
}

static void case_next_out_of_range(void)
{
	device_setup();
	arena_prepare();
	std_read_chain(0);
	descs()[1].next = QSIZE;	/* descriptor 8 of an 8-entry table */
	avail_ring()[0] = 0;
	expect_refusal("next-index-out-of-range", 0, STATUS_OFF);
}

static void case_head_out_of_range(void)
{
	device_setup();
	arena_prepare();
	std_read_chain(0);
	avail_ring()[0] = QSIZE + 3;
	expect_refusal("avail-head-out-of-range", QSIZE + 3, STATUS_OFF);
}

static void case_readable_after_writable(void)
{
	device_setup();
	arena_prepare();
	set_hdr(BLK_T_IN, 0);
	set_desc(0, gpa(HDR_OFF), sizeof(struct blk_hdr), DESC_F_NEXT, 1);
	set_wdesc(1, DATA_OFF, 512, DESC_F_NEXT, 2);
	set_desc(2, gpa(EXTRA_OFF), 16, DESC_F_NEXT, 3);
	set_wdesc(3, STATUS_OFF, 1, 0, 0);
	avail_ring()[0] = 0;
	expect_refusal("readable-after-writable", 0, STATUS_OFF);
}

static void case_indirect(void)
{
	struct desc *ind = (struct desc *)(arena + INDIRECT_OFF);

	device_setup();
	arena_prepare();
	set_hdr(BLK_T_IN, 0);
	set_desc(0, gpa(HDR_OFF), sizeof(struct blk_hdr), DESC_F_NEXT, 1);
	set_desc(1, gpa(INDIRECT_OFF), 2 * sizeof(struct desc), DESC_F_INDIRECT, 0);
	ind[0].addr = gpa(DATA_OFF);
	ind[0].len = 512;
	ind[0].flags = DESC_F_WRITE | DESC_F_NEXT;
	ind[0].next = 1;
	ind[1].addr = gpa(STATUS_OFF);
	ind[1].len = 1;
	ind[1].flags = DESC_F_WRITE;
	ind[1].next = 0;
	/* A device that wrongly follows the table would write these. */
	writable[0].off = DATA_OFF;
	writable[0].len = 512;
	writable[1].off = STATUS_OFF;
	writable[1].len = 1;
	n_writable = 2;
	avail_ring()[0] = 0;
	expect_refusal("indirect-not-negotiated", 0, STATUS_OFF);
}

static void case_avail_jump(void)
{
	device_setup();
	arena_prepare();
	std_read_chain(0);
	/* All ring entries name a valid chain; only idx is absurd. */
	for (int i = 0; i < QSIZE; i++)
		avail_ring()[i] = 0;
	if (post("avail-idx-jumps-ahead", QSIZE + 5) == NEEDS_RESET) {
		kprintf("virtio-bad: avail-idx-jumps-ahead: refused (needs-reset)\n");
		refused++;
		return;
	}
	fail("virtio-bad: avail-idx-jumps-ahead: avail idx %u with a %u-entry queue was not refused "
	     "(used idx %u, status 0x%x)", QSIZE + 5, QSIZE, *used_idx(), rd(REG_STATUS));
}

static void case_zero_length(void)
{
	device_setup();
	arena_prepare();
	set_hdr(BLK_T_IN, 0);
	set_desc(0, gpa(HDR_OFF), 0, DESC_F_NEXT, 1);
	set_desc(1, gpa(DATA_OFF), 0, DESC_F_WRITE | DESC_F_NEXT, 2);
	set_desc(2, gpa(STATUS_OFF), 0, DESC_F_WRITE, 0);
	avail_ring()[0] = 0;
	expect_refusal("zero-length-descriptors", 0, -1);
}

static void case_short_header(void)
{
	device_setup();
	arena_prepare();
	std_read_chain(0);
	descs()[0].len = 8;
	avail_ring()[0] = 0;
	expect_refusal("header-shorter-than-16", 0, STATUS_OFF);
}

static void case_past_capacity(void)
{
	const char *name = "read-past-capacity";
	enum outcome o;
	uint8_t st;

	device_setup();
	arena_prepare();
	std_read_chain(capacity);
	avail_ring()[0] = 0;
	o = post(name, 1);
	if (o != COMPLETED)
		fail("virtio-bad: %s: expected a completion with IOERR, got %s (status 0x%x)", name,
		     o == NEEDS_RESET ? "NEEDS_RESET" : "no reaction", rd(REG_STATUS));
	st = arena[STATUS_OFF];
	if (used_elem(0)[0] != 0)
		fail("virtio-bad: %s: used entry names descriptor %u", name, used_elem(0)[0]);
	if (st != BLK_S_IOERR)
		fail("virtio-bad: %s: sector %llu of %llu completed with status %u, expected IOERR (1)",
		     name, (unsigned long long)capacity, (unsigned long long)capacity, st);
	kprintf("virtio-bad: %s: refused (status %u)\n", name, st);
	refused++;
}

static void valid_read(void)
{
	const char *name = "valid-read";
	char line[17];
	uint32_t len;

	device_setup();
	arena_prepare();
	std_read_chain(0);
	avail_ring()[0] = 0;
	if (post(name, 1) != COMPLETED)
		fail("virtio-bad: the valid read of sector 0 after the bad chains did not complete (status 0x%x)",
		     rd(REG_STATUS));
	len = used_elem(0)[1];
	if (arena[STATUS_OFF] != BLK_S_OK)
		fail("virtio-bad: the valid read of sector 0 failed with status %u", arena[STATUS_OFF]);
	if (len < 1 || len > 513)
		fail("virtio-bad: the valid read of sector 0 reports %u bytes written (at most 513 expected)", len);
	for (int i = 0; i < 32; i++) {
		memcpy(line, "sector0 line 00\n", 17);
		line[13] = (char)('0' + i / 10);
		line[14] = (char)('0' + i % 10);
		if (memcmp(arena + DATA_OFF + 16 * i, line, 16) != 0)
			fail("virtio-bad: sector 0 does not hold the test pattern at byte %d", 16 * i);
	}
	kprintf("virtio-bad: sector 0 read ok after the bad chains (used len %u)\n", len);
}

/* --- discovery -------------------------------------------------------------------- */

static void find_device(void)
{
	const struct fdt *f = &guest_fdt;
	uint64_t best = ~0ULL, base, size;
	int node = -1, err;

	/* The lowest transport with a device behind it (DeviceID 0: an empty slot). */
	while ((node = fdt_find_compatible(f, node, "virtio,mmio")) >= 0) {
		err = fdt_get_reg(f, node, 0, &base, &size);
		if (err < 0)
			fail("virtio-bad: virtio,mmio node without a usable reg: %s", fdt_strerror(err));
		if (base < best && mmio_read32((uintptr_t)base + REG_DEVICE_ID) != 0)
			best = base;
	}
	if (best == ~0ULL) {
		kprintf("virtio-bad: no virtio,mmio node in the DTB, trying 0x%lx\n", VIRTIO_MMIO_FALLBACK);
		best = VIRTIO_MMIO_FALLBACK;
	}
	vbase = (uintptr_t)best;

	if (rd(REG_MAGIC) != VIRTIO_MAGIC)
		fail("virtio-bad: MagicValue at 0x%lx is 0x%x", (unsigned long)vbase, rd(REG_MAGIC));
	if (rd(REG_VERSION) != 2)
		fail("virtio-bad: Version is %u, expected 2", rd(REG_VERSION));
	if (rd(REG_DEVICE_ID) != DEVICE_ID_BLOCK)
		fail("virtio-bad: DeviceID at 0x%lx is %u, expected %u (block)", (unsigned long)vbase,
		     rd(REG_DEVICE_ID), DEVICE_ID_BLOCK);
}

static uint64_t read_capacity(void)
{
	uint32_t gen, lo, hi;
	int tries = 0;

	do {
		if (++tries > 100)
			fail("virtio-bad: ConfigGeneration never settles");
		gen = rd(REG_CONFIG_GENERATION);
		lo = rd(REG_CONFIG);
		hi = rd(REG_CONFIG + 4);
	} while (rd(REG_CONFIG_GENERATION) != gen);
	return (uint64_t)hi << 32 | lo;
}

void guest_main(uintptr_t dtb)
{
	uint64_t size;
	int err;

	guest_init(dtb, true);

	err = dt_memory(&guest_fdt, &ram_base, &size);
	if (err < 0)
		fail("virtio-bad: no usable memory node: %s", fdt_strerror(err));
	ram_end = ram_base + size;
	if ((uint64_t)(uintptr_t)arena < ram_base || gpa(ARENA_SIZE) > ram_end)
		fail("virtio-bad: the arena is outside RAM");

	find_device();
	device_setup();
	capacity = read_capacity();
	kprintf("virtio-bad: virtio-blk at 0x%lx, %llu sectors, RAM [0x%llx, 0x%llx)\n",
		(unsigned long)vbase, (unsigned long long)capacity,
		(unsigned long long)ram_base, (unsigned long long)ram_end);
	if (capacity < 1)
		fail("virtio-bad: the disk is empty; the test needs sector 0");

	case_past_ram();
	case_straddle_ram();
	case_wrap();
	case_loop_to_head();
	case_too_long();
	case_next_out_of_range();
	case_head_out_of_range();
	case_readable_after_writable();
	case_indirect();
	case_avail_jump();
	case_zero_length();
	case_short_header();
	case_past_capacity();

	valid_read();
	device_reset();
	kprintf("virtio-bad: all %d cases refused\n", refused);
	psci_system_off();
}
