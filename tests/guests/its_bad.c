/*
 * its_bad.bin (--irqchip gicv3-its, one CPU): a hostile guest's ITS. The
 * ITS is KVM's; what this checks is that nothing a guest does to it hurts
 * armvmm, and that the VM is still saved and restored afterwards.
 *
 * Phase A: a good mapping first (DeviceID 5, event 0 -> LPI 8192 on CPU 0),
 * then garbage: 3000 commands with random opcodes and random fields (IDs
 * out of range, INTIDs below 8192 or past the tables, unmapped collections,
 * processor numbers that do not exist; ITT addresses inside a scratch
 * buffer, so that the tables KVM writes on a save land in guest RAM) and
 * 3000 register writes of random widths to random offsets of the ITS frame
 * (read-only and unallocated registers, the translation frame and
 * GITS_TRANSLATER itself, GITS_CWRITER anywhere in the queue, GITS_CTLR off
 * and on). Commands and register writes never name DeviceID 5, collection 0
 * or LPI 8192. Then the good mapping must still work:
 *   its-bad: survived <N> commands and <M> register writes
 *   its-bad: good mapping ok
 *   its-bad: ready				(waits for 'g': the snapshot point)
 *   its-bad: good mapping ok after g
 * Phase B, with "its-bad.broken" on the command line (instead of waiting
 * for 'g'): the ITS disabled, its device table moved outside guest RAM,
 * enabled again and a device mapped there, so KVM cannot write the tables
 * back into RAM:
 *   its-bad: broken ready			(waits for 'g'; a snapshot may now fail, cleanly)
 * Both end with
 *   its-bad: all ok
 */
#include "its.h"

#define GOOD_DEV 5
#define GOOD_LPI LPI_BASE
#define NR_CMDS 3000
#define NR_WRITES 3000
#define WAIT_MS 1000
#define WAIT_G_MS 600000
#define SCRATCH_SIZE 0x100000U
#define OUTSIDE_RAM 0x7f000000ULL	/* below RAM (which starts at 2 GiB), no device there */

static struct gic gic;
static struct its its;
static uint8_t scratch[SCRATCH_SIZE] __attribute__((aligned(0x10000)));
static volatile uint32_t good_taken, stray_taken;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void lpi_irq(void)
{
	uint32_t intid = gicv3_read_iar();

	if (gic_intid_spurious(intid))
		return;
	gicv3_write_eoir(intid);
	if (intid == GOOD_LPI)
		good_taken = good_taken + 1;
	else
		stray_taken = stray_taken + 1;
}

static void expect_good(const char *when)
{
	uint32_t before = good_taken;
	uint64_t deadline;

	its_int(&its, GOOD_DEV, 0, "its-bad");
	deadline = counter_deadline_ms(WAIT_MS);
	irq_enable();
	while (good_taken == before) {
		if (counter_passed(deadline)) {
			irq_disable();
			fail("its-bad: %s: INT of the good mapping brought no LPI %u within %d ms (GITS_CTLR 0x%x, CREADR 0x%llx)",
			     when, GOOD_LPI, WAIT_MS, mmio_read32(its.base + GITS_CTLR),
			     (unsigned long long)mmio_read64(its.base + GITS_CREADR));
		}
	}
	irq_disable();
	kprintf("its-bad: good mapping ok%s%s\n", *when ? " " : "", when);
}

static uint32_t rnd_id(uint32_t avoid, uint32_t instead)
{
	uint32_t v = (rnd() & 3) ? (uint32_t)(rnd() % 64) : (uint32_t)rnd();

	return v == avoid ? instead : v;
}

/* One command of random opcode and fields, never touching the good mapping. */
static void garbage_command(void)
{
	static const uint8_t ops[] = {
		ITS_CMD_MOVI, ITS_CMD_INT, ITS_CMD_CLEAR, ITS_CMD_SYNC, ITS_CMD_MAPD, ITS_CMD_MAPC, ITS_CMD_MAPTI,
		ITS_CMD_MAPI, ITS_CMD_INV, ITS_CMD_INVALL, ITS_CMD_MOVALL, ITS_CMD_DISCARD,
	};
	uint64_t cmd[4] = { rnd(), rnd(), rnd(), rnd() };
	uint8_t op = (rnd() & 7) ? ops[rnd() % ARRAY_SIZE(ops)] : (uint8_t)rnd();
	uint32_t devid = rnd_id(GOOD_DEV, GOOD_DEV + 1), event = rnd_id(~0U, 0);
	uint32_t intid = (rnd() & 1) ? LPI_BASE + (uint32_t)(rnd() % (2 * NR_LPIS)) - 64 : (uint32_t)rnd();
	uint16_t icid = (uint16_t)rnd_id(0, 1);

	if (intid == GOOD_LPI)
		intid++;
	cmd[0] = op | (cmd[0] & 0xffffff00ULL) | (uint64_t)devid << 32;
	cmd[1] = (cmd[1] & 0xffffffff00000000ULL) | event;
	if (op == ITS_CMD_MAPTI || op == ITS_CMD_MAPI)
		cmd[1] = event | (uint64_t)intid << 32;
	if (op == ITS_CMD_MAPD) {
		/* An ITT anywhere in the scratch buffer, for up to 2^16 events of 8 bytes. */
		uintptr_t itt = (uintptr_t)scratch + (uintptr_t)(rnd() % (SCRATCH_SIZE / 2)) / 256 * 256;
		cmd[1] = rnd() & 0x1f;
		cmd[2] = (cmd[2] & (1ULL << 63)) | itt;
	} else {
		cmd[2] = (cmd[2] & ~0xffffULL) | icid;
		if ((cmd[2] >> 16 & 0xffffffff) == 0 && op == ITS_CMD_MAPC)
			cmd[2] |= 1ULL << 16;	/* never remap collection 0 */
	}
	its_send(&its, cmd, "its-bad");
}

static uintptr_t garbage_offset(void)
{
	static const uint32_t hot[] = {
		GITS_IIDR, GITS_TYPER, GITS_TYPER + 4, GITS_CREADR, GITS_BASER + 16, GITS_BASER + 56, GITS_PIDR2,
		0x0010, 0x0040, 0x00a0, 0xc000, 0xfff0, GITS_TRANSLATER, GITS_TRANSLATER, 0x10000, 0x1fffc,
	};

	return (rnd() & 1) ? hot[rnd() % ARRAY_SIZE(hot)] : (uintptr_t)(rnd() % 0x20000);
}

/* One register write (or read) of random width at a random offset; CWRITER and CTLR moves kept sane. */
static void garbage_write(void)
{
	unsigned kind = (unsigned)(rnd() % 16);
	uintptr_t off = garbage_offset();
	uint64_t v = rnd();

	if (off >= GITS_CBASER && off < GITS_BASER + 16 && off != GITS_CREADR && off != GITS_CREADR + 4)
		off = GITS_TYPER;	/* CBASER, CWRITER, BASER0/1 get their own cases below */
	if (off < 4)
		off = GITS_IIDR;
	switch (kind) {
	case 0:	/* the command queue's writer anywhere in the queue: the ITS runs whatever is there */
		mmio_write64(its.base + GITS_CWRITER, v % ITS_CMDQ_SIZE);
		break;
	case 1:	/* off and on again */
		mmio_write32(its.base + GITS_CTLR, 0);
		mmio_write32(its.base + GITS_CTLR, GITS_CTLR_ENABLED);
		break;
	case 2:
		mmio_write8(its.base + off, (uint8_t)v);
		break;
	case 3:
		(void)mmio_read8(its.base + off);
		break;
	case 4:
	case 5:
		mmio_write64(its.base + (off & ~7UL), v);
		break;
	default:
		mmio_write32(its.base + (off & ~3UL), (uint32_t)v);
		break;
	}
}

/* The device table moved outside guest RAM, and a device mapped into it. */
static void break_tables(void)
{
	mmio_write32(its.base + GITS_CTLR, 0);
	mmio_write64(its.base + GITS_BASER, GITS_BASER_VALID | OUTSIDE_RAM | GITS_BASER_PAGE_64K);
	mmio_write32(its.base + GITS_CTLR, GITS_CTLR_ENABLED);
	its.cwriter = (uint32_t)mmio_read64(its.base + GITS_CREADR);
	its_mapd(&its, GOOD_DEV + 2, 2, "its-bad");
	its_mapti(&its, GOOD_DEV + 2, 1, GOOD_LPI + 1, 0, "its-bad");
	kprintf("its-bad: device table moved to 0x%llx (GITS_BASER0 0x%llx)\n", (unsigned long long)OUTSIDE_RAM,
		(unsigned long long)mmio_read64(its.base + GITS_BASER));
}

void guest_main(uintptr_t dtb)
{
	const char *what = "";
	uint32_t procnum;
	int err;

	guest_init(dtb, true);
	err = gic_probe(&guest_fdt, &gic, &what);
	if (err < 0)
		fail("its-bad: interrupt controller: %s: %s", what, fdt_strerror(err));
	its_probe(&guest_fdt, &gic, &its, "its-bad");
	kprintf("its-bad: gic=v3 its=0x%llx\n", (unsigned long long)its.base);
	irq_handler = lpi_irq;
	lpi_set_config(GOOD_LPI, 0xa0, true);
	gicv3_dist_enable(&gic);
	procnum = lpi_enable_cpu(gicv3_cpu_enable(&gic, 0xf0), 0, "its-bad");
	its_enable(&its, "its-bad");
	its_mapc(&its, 0, procnum, "its-bad");
	its_mapd(&its, GOOD_DEV, 1, "its-bad");
	its_mapti(&its, GOOD_DEV, 0, GOOD_LPI, 0, "its-bad");
	expect_good("");

	for (int i = 0; i < NR_CMDS; i++)
		garbage_command();
	for (int i = 0; i < NR_WRITES; i++)
		garbage_write();
	/* Whatever the garbage left: enabled, and the writer where the reader is. */
	mmio_write32(its.base + GITS_CTLR, GITS_CTLR_ENABLED);
	its.cwriter = (uint32_t)mmio_read64(its.base + GITS_CREADR);
	mmio_write64(its.base + GITS_CWRITER, its.cwriter);
	kprintf("its-bad: survived %d commands and %d register writes\n", NR_CMDS, NR_WRITES);
	expect_good("");

	if (dt_bootargs_has(&guest_fdt, "its-bad.broken")) {
		break_tables();
		kprintf("its-bad: broken ready\n");
		wait_for_go("its-bad", WAIT_G_MS / 1000);
	} else {
		kprintf("its-bad: ready\n");
		wait_for_go("its-bad", WAIT_G_MS / 1000);
		expect_good("after g");
	}
	kprintf("its-bad: all ok (%u stray LPIs)\n", stray_taken);
	psci_system_off();
}
