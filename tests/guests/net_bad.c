/*
 * net_bad.bin: a hostile driver for the first virtio-net device.
 *
 * Sets the device up (receive queue 0 and transmit queue 1, 8 entries each,
 * rings and buffers in an arena filled with a canary pattern), then:
 *   - posts transmit chains that are no valid frame (too short, too long,
 *     device-writable buffers) or whose virtio-net header asks for what was
 *     not negotiated or points outside the frame: each must come back used
 *     with 0 bytes written, and never reach the host (the system test
 *     captures the tap: no frame whose payload starts "bad-" may arrive);
 *   - a transmit chain that loops: the device must ask for a reset;
 *   - receive: a valid buffer must get one of the frames the system test
 *     injects into the tap; a buffer too small for them must stay unused
 *     while they arrive (dropped and counted); a chain with a
 *     device-readable buffer comes back empty;
 *   - one valid frame ("good") last, which the host must see.
 * Nothing outside the used rings and the writable buffers of a case may
 * change. The MAC for the frames is the device's (config space).
 *
 *   net-bad: <case>: refused (...)
 *   net-bad: received a frame of N bytes ok
 *   net-bad: all N cases refused
 */
#include "virtio.h"


#define DEVICE_ID_NET 1

#define ST_ACKNOWLEDGE 1U
#define ST_DRIVER 2U
#define ST_DRIVER_OK 4U
#define ST_FEATURES_OK 8U


/* Feature bits, low word. */
#define F_CSUM (1U << 0)
#define F_HOST_TSO4 (1U << 11)

#define HDR_F_NEEDS_CSUM 1
#define HDR_F_RSC_INFO 4
#define GSO_TCPV4 1
#define GSO_UDP 3
#define GSO_ECN 0x80

#define QSIZE 8
#define RXQ 0
#define TXQ 1

struct net_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

/* The arena: rings of both queues, then buffers; everything else canary. */
#define RING_OFF(q) (0x1000u * (q))	/* desc at +0, avail at +0x400, used at +0x800 */
#define DESC_OFF(q) RING_OFF(q)
#define AVAIL_OFF(q) (RING_OFF(q) + 0x400)
#define USED_OFF(q) (RING_OFF(q) + 0x800)
#define TXHDR_OFF 0x2000
#define TXFRAME_OFF 0x2100
#define RXBUF_OFF 0x3000	/* 2 KiB receive buffer */
#define RXSMALL_OFF 0x3800	/* 64-byte receive buffer */
#define BIG_OFF 0x4000		/* 36 KiB, named twice by the oversized frame */
#define BIG_SIZE 0x9000
#define ARENA_SIZE (BIG_OFF + BIG_SIZE)

#define AVAIL_SIZE (4 + 2 * QSIZE + 2)
#define USED_SIZE (4 + 8 * QSIZE + 2)

static uint8_t arena[ARENA_SIZE] __attribute__((aligned(4096)));
static uint8_t expect[ARENA_SIZE];

static uintptr_t vbase;
static uint8_t mac[6];
static uint32_t offered;	/* the device's feature word 0 */
static uint16_t avail_next[2], used_seen[2];
static int refused;

struct range {
	uint32_t off, len;
};
static struct range writable[4];
static int n_writable;

static uint32_t rd(uint32_t off) { return mmio_read32(vbase + off); }
static void wr(uint32_t off, uint32_t v) { mmio_write32(vbase + off, v); }

static uint8_t canary(uint32_t off) { return (uint8_t)(0x5a ^ (off * 31) ^ (off >> 8)); }
static uint64_t gpa(uint32_t off) { return (uint64_t)(uintptr_t)arena + off; }
static struct desc *descs(int q) { return (struct desc *)(arena + DESC_OFF(q)); }
static volatile uint16_t *avail_idx(int q) { return (volatile uint16_t *)(arena + AVAIL_OFF(q) + 2); }
static volatile uint16_t *avail_ring(int q) { return (volatile uint16_t *)(arena + AVAIL_OFF(q) + 4); }
static volatile uint16_t *used_idx(int q) { return (volatile uint16_t *)(arena + USED_OFF(q) + 2); }
static volatile uint32_t *used_elem(int q, int i) { return (volatile uint32_t *)(arena + USED_OFF(q) + 4 + 8 * i); }

static void set_desc(int q, int i, uint32_t off, uint32_t len, uint16_t flags, uint16_t next)
{
	struct desc *d = &descs(q)[i];

	d->addr = gpa(off);
	d->len = len;
	d->flags = flags;
	d->next = next;
	if (flags & DESC_F_WRITE) {
		if (n_writable == (int)ARRAY_SIZE(writable))
			fail("net-bad: too many writable ranges");
		writable[n_writable].off = off;
		writable[n_writable].len = len;
		n_writable++;
	}
}

/* --- bring-up ------------------------------------------------------------------ */

static void setup_queue(int q)
{
	wr(REG_QUEUE_SEL, (uint32_t)q);
	if (rd(REG_QUEUE_NUM_MAX) < QSIZE)
		fail("net-bad: queue %d: QueueNumMax %u < %u", q, rd(REG_QUEUE_NUM_MAX), QSIZE);
	wr(REG_QUEUE_NUM, QSIZE);
	wr(REG_QUEUE_DESC_LOW, (uint32_t)gpa(DESC_OFF(q)));
	wr(REG_QUEUE_DESC_HIGH, (uint32_t)(gpa(DESC_OFF(q)) >> 32));
	wr(REG_QUEUE_DRIVER_LOW, (uint32_t)gpa(AVAIL_OFF(q)));
	wr(REG_QUEUE_DRIVER_HIGH, (uint32_t)(gpa(AVAIL_OFF(q)) >> 32));
	wr(REG_QUEUE_DEVICE_LOW, (uint32_t)gpa(USED_OFF(q)));
	wr(REG_QUEUE_DEVICE_HIGH, (uint32_t)(gpa(USED_OFF(q)) >> 32));
	wr(REG_QUEUE_READY, 1);
	if (rd(REG_QUEUE_READY) != 1)
		fail("net-bad: queue %d: QueueReady did not stick", q);
}

/* Fill the arena with canary and clear both queues' rings. */
static void arena_prepare(void)
{
	dcache_sync(arena, ARENA_SIZE);
	for (uint32_t i = 0; i < ARENA_SIZE; i++)
		arena[i] = canary(i);
	for (int q = 0; q < 2; q++) {
		memset(arena + DESC_OFF(q), 0, sizeof(struct desc) * QSIZE);
		memset(arena + AVAIL_OFF(q), 0, AVAIL_SIZE);
		memset(arena + USED_OFF(q), 0, USED_SIZE);
		avail_next[q] = used_seen[q] = 0;
	}
	dcache_sync(arena, ARENA_SIZE);
}

/* Reset, negotiate VERSION_1 and features0, both queues, DRIVER_OK. */
static void device_setup(uint32_t features0)
{
	uint64_t deadline = counter_deadline_ms(1000);

	wr(REG_STATUS, 0);
	while (rd(REG_STATUS) != 0)
		if (counter_passed(deadline))
			fail("net-bad: status 0x%x after a reset", rd(REG_STATUS));
	arena_prepare();
	wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
	wr(REG_DRIVER_FEATURES_SEL, 0);
	wr(REG_DRIVER_FEATURES, features0);
	wr(REG_DRIVER_FEATURES_SEL, 1);
	wr(REG_DRIVER_FEATURES, 1);	/* VERSION_1 */
	wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
	if (!(rd(REG_STATUS) & ST_FEATURES_OK))
		fail("net-bad: features 0x%x refused", features0);
	setup_queue(RXQ);
	setup_queue(TXQ);
	wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	if (rd(REG_STATUS) & ST_NEEDS_RESET)
		fail("net-bad: NEEDS_RESET right after DRIVER_OK");
}

/* --- posting and checking ------------------------------------------------------------ */

static bool may_write(uint32_t off)
{
	for (int q = 0; q < 2; q++)
		if (off >= USED_OFF(q) && off < USED_OFF(q) + USED_SIZE)
			return true;
	for (int i = 0; i < n_writable; i++)
		if (off >= writable[i].off && off - writable[i].off < writable[i].len)
			return true;
	return false;
}

static void check_arena(const char *name)
{
	dcache_sync(arena, ARENA_SIZE);
	for (uint32_t i = 0; i < ARENA_SIZE; i++)
		if (arena[i] != expect[i] && !may_write(i))
			fail("net-bad: %s: the device wrote 0x%x over 0x%x at arena offset 0x%x", name, arena[i],
			     expect[i], i);
}

/* Make chain head visible on queue q and notify. */
static void post(int q, uint16_t head)
{
	avail_ring(q)[avail_next[q] % QSIZE] = head;
	avail_next[q]++;
	*avail_idx(q) = avail_next[q];
	memcpy(expect, arena, ARENA_SIZE);
	dcache_sync(arena, ARENA_SIZE);
	wr(REG_QUEUE_NOTIFY, (uint32_t)q);
}

enum outcome { NEEDS_RESET, USED, NOTHING };

/* Wait up to ms for a new used entry on q (its length in *len) or NEEDS_RESET. */
static enum outcome wait_used(int q, uint32_t ms, uint32_t *len)
{
	uint64_t deadline = counter_deadline_ms(ms);

	for (;;) {
		if (rd(REG_STATUS) & ST_NEEDS_RESET)
			return NEEDS_RESET;
		dcache_sync(arena + USED_OFF(q), USED_SIZE);
		if (*used_idx(q) != used_seen[q]) {
			*len = used_elem(q, used_seen[q] % QSIZE)[1];
			used_seen[q]++;
			return USED;
		}
		if (counter_passed(deadline))
			return NOTHING;
	}
}

/* An Ethernet frame of len bytes at TXFRAME_OFF: broadcast, our MAC, 0x88b5, payload "tag ...". */
static void make_frame(const char *tag, uint32_t len)
{
	uint8_t *f = arena + TXFRAME_OFF;

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memset(f + 14, ' ', len > 14 ? len - 14 : 0);
	memcpy(f + 14, tag, strlen(tag) < len - 14 ? strlen(tag) : len - 14);
}

static void make_hdr(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size, uint16_t cstart, uint16_t coff)
{
	struct net_hdr *h = (struct net_hdr *)(arena + TXHDR_OFF);

	*h = (struct net_hdr){ .flags = flags, .gso_type = gso, .hdr_len = hdr_len, .gso_size = gso_size,
			       .csum_start = cstart, .csum_offset = coff };
}

/* A transmit chain of header and frame (descriptors 0 and 1), posted; it must come back unsent. */
static void tx_refused(const char *name, uint32_t frame_len)
{
	uint32_t len;
	enum outcome o;

	n_writable = 0;
	set_desc(TXQ, 0, TXHDR_OFF, sizeof(struct net_hdr), DESC_F_NEXT, 1);
	set_desc(TXQ, 1, TXFRAME_OFF, frame_len, 0, 0);
	post(TXQ, 0);
	o = wait_used(TXQ, 3000, &len);
	check_arena(name);
	if (o != USED)
		fail("net-bad: %s: %s within 3 s", name, o == NEEDS_RESET ? "NEEDS_RESET" : "not given back");
	if (len != 0)
		fail("net-bad: %s: given back with %u bytes written", name, len);
	kprintf("net-bad: %s: refused (given back, nothing sent)\n", name);
	refused++;
}

/* --- the cases ----------------------------------------------------------------------- */

static void tx_cases_plain(void)
{
	device_setup(0);
	make_frame("bad-unknown-flags", 64);
	make_hdr(HDR_F_RSC_INFO, 0, 0, 0, 0, 0);
	tx_refused("tx-unknown-header-flags", 64);

	make_frame("bad-csum", 64);
	make_hdr(HDR_F_NEEDS_CSUM, 0, 0, 0, 14, 16);
	tx_refused("tx-checksum-not-negotiated", 64);

	make_frame("bad-tso4", 64);
	make_hdr(HDR_F_NEEDS_CSUM, GSO_TCPV4, 54, 1000, 34, 16);
	tx_refused("tx-tso4-not-negotiated", 64);

	make_frame("bad-udp", 64);
	make_hdr(HDR_F_NEEDS_CSUM, GSO_UDP, 42, 1000, 34, 6);
	tx_refused("tx-udp-segmentation", 64);

	make_frame("bad-ecn", 64);
	make_hdr(0, GSO_ECN, 0, 0, 0, 0);
	tx_refused("tx-ecn-without-segmentation", 64);

	make_frame("bad-short", 64);
	make_hdr(0, 0, 0, 0, 0, 0);
	tx_refused("tx-shorter-than-ethernet-header", 10);

	/* The frame in a device-writable buffer. */
	{
		uint32_t len;
		make_frame("bad-writable", 64);
		n_writable = 0;
		set_desc(TXQ, 0, TXHDR_OFF, sizeof(struct net_hdr), DESC_F_NEXT, 1);
		set_desc(TXQ, 1, TXFRAME_OFF, 64, DESC_F_WRITE, 0);
		post(TXQ, 0);
		enum outcome o = wait_used(TXQ, 3000, &len);
		check_arena("tx-writable-buffer");
		if (o == NOTHING || (o == USED && len != 0))
			fail("net-bad: tx-writable-buffer: not refused (outcome %d, len %u)", o, len);
		kprintf("net-bad: tx-writable-buffer: refused (%s)\n", o == USED ? "given back" : "needs-reset");
		refused++;
		if (o == NEEDS_RESET)
			device_setup(0);
	}

	/* 72 KiB of frame: the big buffer named twice. */
	{
		uint32_t len;
		make_hdr(0, 0, 0, 0, 0, 0);
		memcpy(arena + BIG_OFF, "bad-oversized", 13);
		n_writable = 0;
		set_desc(TXQ, 0, TXHDR_OFF, sizeof(struct net_hdr), DESC_F_NEXT, 1);
		set_desc(TXQ, 1, BIG_OFF, BIG_SIZE, DESC_F_NEXT, 2);
		set_desc(TXQ, 2, BIG_OFF, BIG_SIZE, 0, 0);
		post(TXQ, 0);
		if (wait_used(TXQ, 3000, &len) != USED || len != 0)
			fail("net-bad: tx-longer-than-65550: not given back unsent");
		check_arena("tx-longer-than-65550");
		kprintf("net-bad: tx-longer-than-65550: refused (given back, nothing sent)\n");
		refused++;
	}
}

/* With checksum and TSO4 negotiated: headers pointing outside the frame or inconsistent. */
static void tx_cases_offload(void)
{
	if ((offered & (F_CSUM | F_HOST_TSO4)) != (F_CSUM | F_HOST_TSO4)) {
		kprintf("net-bad: the device offers no checksum/TSO offload: skipping those cases\n");
		return;
	}
	device_setup(F_CSUM | F_HOST_TSO4);
	make_frame("bad-csum-outside", 64);
	make_hdr(HDR_F_NEEDS_CSUM, 0, 0, 0, 60, 10);
	tx_refused("tx-checksum-outside-frame", 64);

	make_frame("bad-gso-size-0", 64);
	make_hdr(HDR_F_NEEDS_CSUM, GSO_TCPV4, 54, 0, 34, 16);
	tx_refused("tx-segment-size-zero", 64);

	make_frame("bad-gso-no-csum", 64);
	make_hdr(0, GSO_TCPV4, 54, 1000, 0, 0);
	tx_refused("tx-segmentation-without-checksum", 64);

	make_frame("bad-hdr-len", 64);
	make_hdr(HDR_F_NEEDS_CSUM, GSO_TCPV4, 2000, 1000, 34, 16);
	tx_refused("tx-header-length-beyond-frame", 64);
}

static void tx_loop(void)
{
	uint32_t len;

	device_setup(0);
	make_frame("bad-loop", 64);
	make_hdr(0, 0, 0, 0, 0, 0);
	n_writable = 0;
	set_desc(TXQ, 0, TXHDR_OFF, sizeof(struct net_hdr), DESC_F_NEXT, 1);
	set_desc(TXQ, 1, TXFRAME_OFF, 64, DESC_F_NEXT, 0);
	post(TXQ, 0);
	if (wait_used(TXQ, 3000, &len) != NEEDS_RESET)
		fail("net-bad: tx-chain-loops: the device did not ask for a reset");
	check_arena("tx-chain-loops");
	kprintf("net-bad: tx-chain-loops: refused (needs-reset)\n");
	refused++;
}

static void rx_cases(void)
{
	uint32_t len;

	device_setup(0);
	/* A valid 2 KiB buffer: the first injected frame lands in it. */
	n_writable = 0;
	set_desc(RXQ, 0, RXBUF_OFF, 2048, DESC_F_WRITE, 0);
	post(RXQ, 0);
	kprintf("net-bad: waiting for frames\n");
	for (int tries = 0;; tries++) {
		if (wait_used(RXQ, 30000, &len) != USED)
			fail("net-bad: rx-valid: no frame within 30 s (is the host injecting?)");
		check_arena("rx-valid");
		/* The host's own traffic (IPv6 neighbour discovery, say) may come first: take the next. */
		const uint8_t *type = arena + RXBUF_OFF + sizeof(struct net_hdr) + 12;
		if ((len >= sizeof(struct net_hdr) + 14 && type[0] == 0x88 && type[1] == 0xb5) || tries == 20)
			break;
		post(RXQ, 0);
	}
	if (len < sizeof(struct net_hdr) + 60 || len > 2048)
		fail("net-bad: rx-valid: used length %u", len);
	if (memcmp(arena + RXBUF_OFF + sizeof(struct net_hdr), mac, 6) ||
	    memcmp(arena + RXBUF_OFF + sizeof(struct net_hdr) + 14, "armvmm-net-test", 15))
		fail("net-bad: rx-valid: the frame is not one the host injected");
	if (((struct net_hdr *)(arena + RXBUF_OFF))->num_buffers != 1)
		fail("net-bad: rx-valid: num_buffers %u, expected 1", ((struct net_hdr *)(arena + RXBUF_OFF))->num_buffers);
	kprintf("net-bad: received a frame of %u bytes ok\n", len);

	/* 64 bytes cannot take the injected frames: they are dropped, the buffer stays posted. */
	n_writable = 0;
	set_desc(RXQ, 1, RXSMALL_OFF, 64, DESC_F_WRITE, 0);
	post(RXQ, 1);
	if (wait_used(RXQ, 2000, &len) != NOTHING)
		fail("net-bad: rx-buffer-too-small: the device used a 64-byte buffer (length %u)", len);
	check_arena("rx-buffer-too-small");
	kprintf("net-bad: rx-buffer-too-small: refused (frames dropped, buffer left alone)\n");
	refused++;

	/* A receive chain that starts device-readable: given back empty. */
	device_setup(0);
	n_writable = 0;
	set_desc(RXQ, 0, RXSMALL_OFF, 32, DESC_F_NEXT, 1);
	set_desc(RXQ, 1, RXBUF_OFF, 2048, DESC_F_WRITE, 0);
	post(RXQ, 0);
	enum outcome o = wait_used(RXQ, 3000, &len);
	check_arena("rx-readable-buffer");
	if (o == NOTHING || (o == USED && len != 0))
		fail("net-bad: rx-readable-buffer: not refused (outcome %d, length %u)", o, len);
	kprintf("net-bad: rx-readable-buffer: refused (%s)\n", o == USED ? "given back empty" : "needs-reset");
	refused++;
}

static void tx_good(void)
{
	uint32_t len;

	device_setup(0);
	make_frame("good", 64);
	make_hdr(0, 0, 0, 0, 0, 0);
	n_writable = 0;
	set_desc(TXQ, 0, TXHDR_OFF, sizeof(struct net_hdr), DESC_F_NEXT, 1);
	set_desc(TXQ, 1, TXFRAME_OFF, 64, 0, 0);
	post(TXQ, 0);
	if (wait_used(TXQ, 3000, &len) != USED)
		fail("net-bad: the valid frame was not sent");
	kprintf("net-bad: sent a valid frame\n");
}

static void find_device(void)
{
	uint64_t base, size;
	int node = -1;

	while ((node = fdt_find_compatible(&guest_fdt, node, "virtio,mmio")) >= 0) {
		if (fdt_get_reg(&guest_fdt, node, 0, &base, &size) < 0)
			continue;
		if (mmio_read32((uintptr_t)base + REG_DEVICE_ID) == DEVICE_ID_NET) {
			vbase = (uintptr_t)base;
			break;
		}
	}
	if (!vbase)
		fail("net-bad: no virtio-net device in the DTB");
	if (rd(REG_MAGIC) != VIRTIO_MAGIC || rd(REG_VERSION) != 2)
		fail("net-bad: not a virtio-mmio version 2 device at 0x%lx", (unsigned long)vbase);
	for (int i = 0; i < 6; i++)
		mac[i] = mmio_read8(vbase + REG_CONFIG + (uintptr_t)i);
	wr(REG_DEVICE_FEATURES_SEL, 0);
	offered = rd(REG_DEVICE_FEATURES);
}

void guest_main(uintptr_t dtb)
{
	uint64_t ram_base, size;

	guest_init(dtb, true);
	if (dt_memory(&guest_fdt, &ram_base, &size) < 0 || (uint64_t)(uintptr_t)arena < ram_base ||
	    gpa(ARENA_SIZE) > ram_base + size)
		fail("net-bad: the arena is outside RAM");
	find_device();
	kprintf("net-bad: virtio-net at 0x%lx, MAC %02x:%02x:%02x:%02x:%02x:%02x, features 0x%x\n",
		(unsigned long)vbase, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], offered);
	rx_cases();
	tx_cases_plain();
	tx_cases_offload();
	tx_loop();
	tx_good();
	wr(REG_STATUS, 0);
	kprintf("net-bad: all %d cases refused\n", refused);
	psci_system_off();
}
