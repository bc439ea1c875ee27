/*
 * GICv3 LPIs and the ITS for the test guests (its, its_bad): the
 * redistributors' LPI tables, the ITS's device and collection tables and
 * command queue, and the commands (GICv3 architecture specification,
 * IHI 0069, chapter 5 and section 6). All tables are static, 64 KiB aligned,
 * in the guest's .bss; the guest runs with the MMU off, so every write goes
 * straight to memory, and each one is also cleaned to the point of coherency
 * for a hypervisor reading RAM through a cacheable alias.
 */
#ifndef GUEST_ITS_H
#define GUEST_ITS_H

#include "gic.h"

/* ITS registers, from its base (the translation frame is 64 KiB above it). */
#define GITS_CTLR 0x0000
#define GITS_IIDR 0x0004
#define GITS_TYPER 0x0008
#define GITS_CBASER 0x0080
#define GITS_CWRITER 0x0088
#define GITS_CREADR 0x0090
#define GITS_BASER 0x0100	/* + 8n */
#define GITS_PIDR2 0xffe8
#define GITS_TRANSLATER 0x10040

#define GITS_CTLR_ENABLED (1U << 0)
#define GITS_CTLR_QUIESCENT (1U << 31)
#define GITS_BASER_VALID (1ULL << 63)
#define GITS_BASER_TYPE(v) (((v) >> 56) & 7)
#define GITS_BASER_ENTRY_SIZE(v) ((((v) >> 48) & 0x1f) + 1)
#define GITS_BASER_TYPE_DEVICE 1
#define GITS_BASER_TYPE_COLLECTION 4
#define GITS_BASER_PAGE_64K (2ULL << 8)
#define GITS_CBASER_VALID (1ULL << 63)
#define GITS_TYPER_PTA (1ULL << 19)
#define GITS_TYPER_ITT_ENTRY_SIZE(v) ((((v) >> 4) & 0xf) + 1)
#define GITS_TYPER_DEVBITS(v) ((((v) >> 13) & 0x1f) + 1)
#define GITS_TYPER_IDBITS(v) ((((v) >> 8) & 0x1f) + 1)

/* Redistributor LPI registers (RD_base frame). */
#define GICR_PROPBASER 0x0070
#define GICR_PENDBASER 0x0078
#define GICR_CTLR_ENABLE_LPIS (1U << 0)
#define GICR_TYPER_PLPIS (1ULL << 0)
#define GICR_TYPER_PROCNUM(v) (((v) >> 8) & 0xffff)

/* LPIs: INTIDs from 8192; the tables cover 2^LPI_ID_BITS INTIDs. */
#define LPI_BASE 8192U
#define LPI_ID_BITS 14
#define NR_LPIS ((1U << LPI_ID_BITS) - LPI_BASE)
#define LPI_ENABLE 1U

/* Commands. */
#define ITS_CMD_MOVI 0x01
#define ITS_CMD_INT 0x03
#define ITS_CMD_CLEAR 0x04
#define ITS_CMD_SYNC 0x05
#define ITS_CMD_MAPD 0x08
#define ITS_CMD_MAPC 0x09
#define ITS_CMD_MAPTI 0x0a
#define ITS_CMD_MAPI 0x0b
#define ITS_CMD_INV 0x0c
#define ITS_CMD_INVALL 0x0d
#define ITS_CMD_MOVALL 0x0e
#define ITS_CMD_DISCARD 0x0f

#define ITS_CMDQ_SIZE 0x1000U	/* one 4 KiB page: 128 commands */

struct its {
	uintptr_t base;
	uint64_t typer;
	uint32_t cwriter;	/* where the next command goes */
};

/*
 * The msi-controller node under the GICv3 node (compatible arm,gic-v3-its):
 * its frame, checked (GITS_PIDR2 says GICv3/v4, 64 KiB aligned, 128 KiB).
 * FAILs naming who otherwise.
 */
void its_probe(const struct fdt *f, const struct gic *g, struct its *its, const char *who);
/* Every redistributor must use the same property table: set its config byte for an LPI. */
void lpi_set_config(unsigned intid, uint8_t prio, bool enable);
/*
 * This CPU's redistributor (RD_base rd, CPU index cpu < GUEST_MAX_CPUS):
 * GICR_PROPBASER (the shared property table), GICR_PENDBASER (this CPU's
 * pending table), then GICR_CTLR.EnableLPIs. Returns the redistributor's
 * processor number (what MAPC names as RDbase when GITS_TYPER.PTA is 0).
 */
uint32_t lpi_enable_cpu(uintptr_t rd, unsigned cpu, const char *who);
/* Device table (BASER type 1), collection table (type 4), the command queue, then GITS_CTLR.Enabled. */
void its_enable(struct its *its, const char *who);
/* Queue one 32-byte command and wait (bounded) until the ITS has read it. */
void its_send(struct its *its, const uint64_t cmd[4], const char *who);
/* The commands (DeviceID, EventID, ICID, processor number as GITS_TYPER.PTA = 0 wants). */
void its_mapd(struct its *its, uint32_t devid, unsigned event_bits, const char *who);
void its_mapc(struct its *its, uint16_t icid, uint32_t rdbase, const char *who);
void its_mapti(struct its *its, uint32_t devid, uint32_t event, uint32_t intid, uint16_t icid, const char *who);
void its_int(struct its *its, uint32_t devid, uint32_t event, const char *who);
void its_inv(struct its *its, uint32_t devid, uint32_t event, const char *who);
void its_sync(struct its *its, uint32_t rdbase, const char *who);
/* The ITT for a device mapped with its_mapd (one static table per device slot). */
uintptr_t its_itt(unsigned slot);
#define ITS_MAX_DEVICES 4	/* its_mapd takes devids whose slot (devid % 4) is unused */

/* Write back and invalidate [p, p + n) to the point of coherency. */
void dcache_clean_inval(const void *p, size_t n);

#endif
