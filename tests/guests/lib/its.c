/*
 * GICv3 LPIs and the ITS for the test guests (see its.h).
 */
#include "its.h"

#define LPI_MAX_CPUS 4
#define TABLE_SIZE 0x10000U	/* 64 KiB: one ITS page */
#define ITT_SIZE 0x1000U	/* up to 512 events of 8 bytes */
#define ITS_WAIT_MS 1000

#define GICR_PENDBASER_PTZ (1ULL << 62)

/* Tables in guest RAM, zeroed with .bss. */
static uint8_t prop_table[TABLE_SIZE] __attribute__((aligned(TABLE_SIZE)));
static uint8_t pend_tables[LPI_MAX_CPUS][TABLE_SIZE] __attribute__((aligned(TABLE_SIZE)));
static uint8_t device_table[TABLE_SIZE] __attribute__((aligned(TABLE_SIZE)));
static uint8_t collection_table[TABLE_SIZE] __attribute__((aligned(TABLE_SIZE)));
static uint64_t cmd_queue[ITS_CMDQ_SIZE / 8] __attribute__((aligned(TABLE_SIZE)));
static uint8_t itts[ITS_MAX_DEVICES][ITT_SIZE] __attribute__((aligned(256)));

void dcache_clean_inval(const void *p, size_t n)
{
	uint64_t ctr = read_sysreg(ctr_el0);
	uintptr_t line = 4UL << ((ctr >> 16) & 0xf);	/* CTR_EL0.DminLine: log2 of words */
	uintptr_t a = (uintptr_t)p & ~(line - 1);

	for (; a < (uintptr_t)p + n; a += line)
		__asm__ __volatile__("dc civac, %0" : : "r"(a) : "memory");
	dsb_sy();
}

void its_probe(const struct fdt *f, const struct gic *g, struct its *its, const char *who)
{
	uint64_t addr, size;
	const void *prop;
	uint32_t pidr2, len;
	int node, err;

	if (g->version != 3)
		fail("%s: the interrupt controller is a GICv%d; an ITS needs a GICv3 (--irqchip gicv3-its)", who,
		     g->version);
	for (node = fdt_first_child(f, g->node); node >= 0; node = fdt_next_sibling(f, node))
		if (fdt_is_compatible(f, node, "arm,gic-v3-its"))
			break;
	if (node < 0)
		fail("%s: no arm,gic-v3-its node under the GIC node (%s)", who, fdt_strerror(node));
	err = fdt_getprop(f, node, "msi-controller", &prop, &len);
	if (err < 0)
		fail("%s: the ITS node has no msi-controller property: %s", who, fdt_strerror(err));
	err = fdt_get_reg(f, node, 0, &addr, &size);
	if (err < 0)
		fail("%s: ITS reg: %s", who, fdt_strerror(err));
	if (addr % 0x10000 || size != 0x20000)
		fail("%s: ITS frame at 0x%llx, 0x%llx bytes: expected 64 KiB aligned, 128 KiB", who,
		     (unsigned long long)addr, (unsigned long long)size);
	its->base = (uintptr_t)addr;
	pidr2 = mmio_read32(its->base + GITS_PIDR2);
	if (((pidr2 >> 4) & 0xf) != 3 && ((pidr2 >> 4) & 0xf) != 4)
		fail("%s: no ITS at 0x%llx (GITS_PIDR2 0x%x)", who, (unsigned long long)addr, pidr2);
	its->typer = mmio_read64(its->base + GITS_TYPER);
	its->cwriter = 0;
}

void lpi_set_config(unsigned intid, uint8_t prio, bool enable)
{
	uint8_t *b = &prop_table[intid - LPI_BASE];

	if (intid < LPI_BASE || intid - LPI_BASE >= NR_LPIS)
		fail("lpi: INTID %u is not an LPI this guest's tables cover", intid);
	*b = (uint8_t)((prio & 0xfc) | (enable ? LPI_ENABLE : 0) | 2 /* RES1 */);
	dcache_clean_inval(b, 1);
}

uint32_t lpi_enable_cpu(uintptr_t rd, unsigned cpu, const char *who)
{
	uint64_t typer = mmio_read64(rd + GICR_TYPER), v;

	if (cpu >= LPI_MAX_CPUS)
		fail("%s: cpu %u: this guest has LPI tables for %d cpus", who, cpu, LPI_MAX_CPUS);
	if (!(typer & GICR_TYPER_PLPIS))
		fail("%s: cpu %u: GICR_TYPER 0x%llx says no LPIs (is there an ITS?)", who, cpu,
		     (unsigned long long)typer);
	dcache_clean_inval(prop_table, sizeof(prop_table));
	dcache_clean_inval(pend_tables[cpu], sizeof(pend_tables[cpu]));
	mmio_write64(rd + GICR_PROPBASER, (uintptr_t)prop_table | (LPI_ID_BITS - 1));
	mmio_write64(rd + GICR_PENDBASER, (uintptr_t)pend_tables[cpu] | GICR_PENDBASER_PTZ);
	v = mmio_read64(rd + GICR_PROPBASER);
	if ((v & 0xfffffffff000ULL) != (uintptr_t)prop_table || (v & 0x1f) != LPI_ID_BITS - 1)
		fail("%s: cpu %u: GICR_PROPBASER reads 0x%llx", who, cpu, (unsigned long long)v);
	mmio_write32(rd + GICR_CTLR, mmio_read32(rd + GICR_CTLR) | GICR_CTLR_ENABLE_LPIS);
	if (!(mmio_read32(rd + GICR_CTLR) & GICR_CTLR_ENABLE_LPIS))
		fail("%s: cpu %u: GICR_CTLR.EnableLPIs does not stick", who, cpu);
	return (uint32_t)GICR_TYPER_PROCNUM(typer);
}

static void set_baser(struct its *its, unsigned n, unsigned type, const void *table, const char *who)
{
	uintptr_t reg = its->base + GITS_BASER + 8 * n;
	uint64_t v = mmio_read64(reg);

	if (GITS_BASER_TYPE(v) != type)
		fail("%s: GITS_BASER%u has type %llu, expected %u", who, n, (unsigned long long)GITS_BASER_TYPE(v),
		     type);
	mmio_write64(reg, GITS_BASER_VALID | (uintptr_t)table | GITS_BASER_PAGE_64K);
	v = mmio_read64(reg);
	if (!(v & GITS_BASER_VALID) || (v & 0xffffffff0000ULL) != (uintptr_t)table)
		fail("%s: GITS_BASER%u reads 0x%llx after setting table 0x%llx", who, n, (unsigned long long)v,
		     (unsigned long long)(uintptr_t)table);
}

void its_enable(struct its *its, const char *who)
{
	uint64_t v;

	set_baser(its, 0, GITS_BASER_TYPE_DEVICE, device_table, who);
	set_baser(its, 1, GITS_BASER_TYPE_COLLECTION, collection_table, who);
	dcache_clean_inval(device_table, sizeof(device_table));
	dcache_clean_inval(collection_table, sizeof(collection_table));
	mmio_write64(its->base + GITS_CBASER, GITS_CBASER_VALID | (uintptr_t)cmd_queue);	/* Size 0: one page */
	v = mmio_read64(its->base + GITS_CBASER);
	if (!(v & GITS_CBASER_VALID) || (v & 0xfffffffff000ULL) != (uintptr_t)cmd_queue)
		fail("%s: GITS_CBASER reads 0x%llx", who, (unsigned long long)v);
	mmio_write64(its->base + GITS_CWRITER, 0);
	its->cwriter = 0;
	mmio_write32(its->base + GITS_CTLR, GITS_CTLR_ENABLED);
	if (!(mmio_read32(its->base + GITS_CTLR) & GITS_CTLR_ENABLED))
		fail("%s: GITS_CTLR.Enabled does not stick (0x%x)", who, mmio_read32(its->base + GITS_CTLR));
}

void its_send(struct its *its, const uint64_t cmd[4], const char *who)
{
	uint64_t *slot = &cmd_queue[its->cwriter / 8], deadline;
	uint64_t creadr = 0;

	for (int i = 0; i < 4; i++)
		slot[i] = cmd[i];
	dcache_clean_inval(slot, 32);
	its->cwriter = (its->cwriter + 32) % ITS_CMDQ_SIZE;
	mmio_write64(its->base + GITS_CWRITER, its->cwriter);
	deadline = counter_deadline_ms(ITS_WAIT_MS);
	while ((creadr = mmio_read64(its->base + GITS_CREADR)) != its->cwriter) {
		if (creadr & 1)
			fail("%s: the ITS stalled on command 0x%llx (GITS_CREADR 0x%llx)", who,
			     (unsigned long long)(cmd[0] & 0xff), (unsigned long long)creadr);
		if (counter_passed(deadline))
			fail("%s: the ITS did not read command 0x%llx within %d ms (GITS_CREADR 0x%llx, CWRITER 0x%x)",
			     who, (unsigned long long)(cmd[0] & 0xff), ITS_WAIT_MS, (unsigned long long)creadr,
			     its->cwriter);
	}
}

uintptr_t its_itt(unsigned slot)
{
	return (uintptr_t)itts[slot % ITS_MAX_DEVICES];
}

void its_mapd(struct its *its, uint32_t devid, unsigned event_bits, const char *who)
{
	uintptr_t itt = its_itt(devid);
	uint64_t cmd[4] = {
		ITS_CMD_MAPD | (uint64_t)devid << 32,
		(uint64_t)(event_bits - 1) & 0x1f,
		(1ULL << 63) | (itt & 0xffffffffff00ULL),
		0,
	};

	if (event_bits < 1 || ((1ULL << event_bits) * GITS_TYPER_ITT_ENTRY_SIZE(its->typer)) > ITT_SIZE)
		fail("%s: MAPD of device %u with %u event bits needs more ITT than this guest has", who, devid,
		     event_bits);
	dcache_clean_inval((void *)itt, ITT_SIZE);
	its_send(its, cmd, who);
}

void its_mapc(struct its *its, uint16_t icid, uint32_t rdbase, const char *who)
{
	uint64_t cmd[4] = { ITS_CMD_MAPC, 0, (1ULL << 63) | (uint64_t)rdbase << 16 | icid, 0 };

	if (its->typer & GITS_TYPER_PTA)
		fail("%s: GITS_TYPER.PTA is 1: this guest names redistributors by processor number", who);
	its_send(its, cmd, who);
}

void its_mapti(struct its *its, uint32_t devid, uint32_t event, uint32_t intid, uint16_t icid, const char *who)
{
	uint64_t cmd[4] = { ITS_CMD_MAPTI | (uint64_t)devid << 32, event | (uint64_t)intid << 32, icid, 0 };

	its_send(its, cmd, who);
}

void its_int(struct its *its, uint32_t devid, uint32_t event, const char *who)
{
	uint64_t cmd[4] = { ITS_CMD_INT | (uint64_t)devid << 32, event, 0, 0 };

	its_send(its, cmd, who);
}

void its_inv(struct its *its, uint32_t devid, uint32_t event, const char *who)
{
	uint64_t cmd[4] = { ITS_CMD_INV | (uint64_t)devid << 32, event, 0, 0 };

	its_send(its, cmd, who);
}

void its_sync(struct its *its, uint32_t rdbase, const char *who)
{
	uint64_t cmd[4] = { ITS_CMD_SYNC, 0, (uint64_t)rdbase << 16, 0 };

	its_send(its, cmd, who);
}
