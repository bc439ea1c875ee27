/*
 * The GICv3 ITS of the in-kernel GICv3 (see gic_its.h). Facts from
 * Documentation/virt/kvm/devices/arm-vgic-its.rst:
 *  - the ITS is its own KVM device (KVM_DEV_TYPE_ARM_VGIC_ITS), its 128 KiB
 *    frame 64 KiB aligned (KVM_VGIC_ITS_ADDR_TYPE), then CTRL_INIT;
 *  - KVM_DEV_ARM_VGIC_GRP_ITS_REGS: attr = the register's offset, addr
 *    points at a u64 whatever the register's width; EBUSY while a vCPU runs;
 *  - writes to read-only registers are ignored except GITS_CREADR (restored
 *    after GITS_CBASER, whose write resets it, and before GITS_CTLR) and
 *    GITS_IIDR (its Revision is the table ABI: restored before the tables);
 *  - the ITS tables (device table, ITTs, collection table) live in guest RAM
 *    where the guest put them; KVM_DEV_ARM_ITS_SAVE_TABLES writes KVM's view
 *    into them, KVM_DEV_ARM_ITS_RESTORE_TABLES reads them back;
 *  - restore sequence: guest RAM and vCPUs, the redistributors, the ITS
 *    address, then GITS_CBASER, every other GITS_ register but GITS_CTLR,
 *    the tables, GITS_CTLR.
 *
 * Guest writes to the ITS frame never reach armvmm: KVM handles the whole
 * frame, commands included (a hostile guest's commands are KVM's to refuse).
 * KVM does not emulate GITS_TRANSLATER for the vCPUs (its register table
 * has no such row: a vCPU's store there is ignored); MSIs come from devices,
 * which userspace sends with KVM_SIGNAL_MSI naming their DeviceID.
 *
 * Payload (appended to the GICv3's, all u64, little-endian), the rows below
 * in order: GITS_IIDR, GITS_TYPER, GITS_CBASER, GITS_CREADR, GITS_CWRITER,
 * GITS_BASER0-7, GITS_CTLR. The order is also the restore order; GITS_TYPER
 * is not written back but compared with this host's (its fields size the
 * tables in guest RAM).
 */
#include "irqchip/gic_its.h"

#include <errno.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/state.h"
#include "irqchip/gic_regs.h"

#define ITS_TYPER_ROW 1u	/* compared, not written */
#define ITS_CBASER_ROW 2u
#define ITS_CREADR_ROW 3u
#define ITS_CWRITER_ROW 4u
#define ITS_CTLR_ROW (GIC_ITS_NR_REGS - 1u)

static const struct {
	const char *name;
	uint32_t off;
} its_regs[GIC_ITS_NR_REGS] = {
	{ "GITS_IIDR", GITS_IIDR },
	{ "GITS_TYPER", GITS_TYPER },
	{ "GITS_CBASER", GITS_CBASER },
	{ "GITS_CREADR", GITS_CREADR },
	{ "GITS_CWRITER", GITS_CWRITER },
	{ "GITS_BASER0", GITS_BASER + 0 * 8 }, { "GITS_BASER1", GITS_BASER + 1 * 8 },
	{ "GITS_BASER2", GITS_BASER + 2 * 8 }, { "GITS_BASER3", GITS_BASER + 3 * 8 },
	{ "GITS_BASER4", GITS_BASER + 4 * 8 }, { "GITS_BASER5", GITS_BASER + 5 * 8 },
	{ "GITS_BASER6", GITS_BASER + 6 * 8 }, { "GITS_BASER7", GITS_BASER + 7 * 8 },
	{ "GITS_CTLR", GITS_CTLR },
};

/* Why an attribute failed, as far as the error says. */
enum its_op { ITS_CREATE, ITS_SAVE, ITS_RESTORE };

static const char *its_hint(enum its_op op, uint32_t group, int err)
{
	bool tables = group == KVM_DEV_ARM_VGIC_GRP_CTRL;

	if (err == EBUSY)
		return " (a vCPU is still running)";
	if (op == ITS_SAVE && tables && (err == EFAULT || err == EINVAL))
		return " (the guest put its ITS tables outside guest RAM or out of their bounds: this guest cannot be saved now)";
	if (op == ITS_RESTORE && tables && (err == EFAULT || err == EINVAL))
		return " (the ITS tables in the snapshot's guest RAM are not what KVM wrote: corrupt snapshot?)";
	if (op == ITS_RESTORE && err == EINVAL)
		return " (KVM refused the saved value: snapshot from an incompatible host?)";
	return "";
}

/* One attribute of the ITS device; on failure one error line saying what and, where known, why. */
static int its_attr(const struct irqchip *ic, enum its_op op, bool set, uint32_t group, uint64_t attr, void *val,
		    const char *what)
{
	static const char *const doing[] = { "creating", "saving", "restoring" };
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)val };

	if (ioctl(ic->its_fd, set ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR, &a) == 0)
		return 0;
	int err = errno;
	pr_err("%s the GICv3 ITS: %s failed: %s%s", doing[op], what, strerror(err), its_hint(op, group, err));
	return -err;
}

int gic_its_create(struct irqchip *ic)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_ITS };
	uint64_t base = ic->its_base;
	int ret;

	if (ioctl(ic->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
		int err = errno;
		pr_err("creating the in-kernel GICv3 ITS failed: %s", strerror(err));
		return -err;
	}
	ic->its_fd = (int)cd.fd;
	ret = its_attr(ic, ITS_CREATE, true, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &base,
		       "setting its address");
	if (!ret)
		ret = its_attr(ic, ITS_CREATE, true, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL,
			       "CTRL_INIT");
	return ret;
}

int gic_its_save(struct irqchip *ic, struct snap_buf *b)
{
	uint64_t v[GIC_ITS_NR_REGS];
	int ret = its_attr(ic, ITS_SAVE, true, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_SAVE_TABLES, NULL,
			   "writing its tables into guest RAM (KVM_DEV_ARM_ITS_SAVE_TABLES)");

	for (unsigned int i = 0; !ret && i < GIC_ITS_NR_REGS; i++) {
		v[i] = 0;
		ret = its_attr(ic, ITS_SAVE, false, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, its_regs[i].off, &v[i],
			       its_regs[i].name);
	}
	for (unsigned int i = 0; !ret && i < GIC_ITS_NR_REGS; i++)
		snap_put_u64(b, v[i]);
	return ret;
}

/* A command queue offset (GITS_CREADR/CWRITER) inside the queue GITS_CBASER describes. */
static bool cmd_offset_ok(uint64_t off, uint64_t cbaser)
{
	return (off & ~GITS_CMD_OFFSET_MASK) == 0 && off < ((cbaser & GITS_CBASER_SIZE_MASK) + 1) * 4096u;
}

int gic_its_parse(struct snap_cursor *c, struct gic_its_state *st)
{
	uint64_t cbaser, ctlr;

	for (unsigned int i = 0; i < GIC_ITS_NR_REGS; i++)
		st->regs[i] = snap_get_u64(c);
	if (c->err) {
		pr_err("snapshot GICv3 state: the ITS registers are missing or cut short");
		return -EINVAL;
	}
	cbaser = st->regs[ITS_CBASER_ROW];
	ctlr = st->regs[ITS_CTLR_ROW];
	for (unsigned int r = ITS_CREADR_ROW; r <= ITS_CWRITER_ROW; r++)
		if (!cmd_offset_ok(st->regs[r], cbaser)) {
			pr_err("snapshot GICv3 state: %s 0x%llx is not a command offset inside the queue GITS_CBASER 0x%llx describes",
			       its_regs[r].name, (unsigned long long)st->regs[r], (unsigned long long)cbaser);
			return -EINVAL;
		}
	if (ctlr & ~(uint64_t)(GITS_CTLR_ENABLED | GITS_CTLR_QUIESCENT)) {
		pr_err("snapshot GICv3 state: GITS_CTLR 0x%llx has bits an ITS does not have",
		       (unsigned long long)ctlr);
		return -EINVAL;
	}
	return 0;
}

int gic_its_restore(struct irqchip *ic, const struct gic_its_state *st)
{
	uint64_t typer = 0;
	int ret = its_attr(ic, ITS_RESTORE, false, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, GITS_TYPER, &typer, "GITS_TYPER");

	if (ret < 0)
		return ret;
	if (typer != st->regs[ITS_TYPER_ROW]) {
		pr_err("snapshot from an incompatible host: GITS_TYPER differs (snapshot 0x%llx, this host 0x%llx)",
		       (unsigned long long)st->regs[ITS_TYPER_ROW], (unsigned long long)typer);
		return -EINVAL;
	}
	/* Everything but GITS_TYPER and GITS_CTLR, in table order (GITS_IIDR and GITS_CBASER first). */
	for (unsigned int i = 0; !ret && i < ITS_CTLR_ROW; i++) {
		uint64_t v = st->regs[i];
		if (i != ITS_TYPER_ROW)
			ret = its_attr(ic, ITS_RESTORE, true, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, its_regs[i].off, &v,
				       its_regs[i].name);
	}
	if (!ret)
		ret = its_attr(ic, ITS_RESTORE, true, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_RESTORE_TABLES, NULL,
			       "reading its tables from guest RAM (KVM_DEV_ARM_ITS_RESTORE_TABLES)");
	if (!ret) {
		uint64_t ctlr = st->regs[ITS_CTLR_ROW];
		ret = its_attr(ic, ITS_RESTORE, true, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, GITS_CTLR, &ctlr, "GITS_CTLR");
	}
	return ret;
}

int gic_its_fdt_node(const struct irqchip *ic, void *fdt)
{
	uint64_t reg[] = { cpu_to_fdt64(ic->its_base), cpu_to_fdt64(GICV3_ITS_SIZE) };
	char name[40];
	int ret = 0;

	snprintf(name, sizeof(name), "msi-controller@%llx", (unsigned long long)ic->its_base);
	ret |= fdt_begin_node(fdt, name);
	ret |= fdt_property_string(fdt, "compatible", "arm,gic-v3-its");
	ret |= fdt_property(fdt, "msi-controller", NULL, 0);
	ret |= fdt_property_cell(fdt, "#msi-cells", 1);	/* the DeviceID */
	ret |= fdt_property(fdt, "reg", reg, sizeof(reg));
	ret |= fdt_property_cell(fdt, "phandle", GIC_ITS_PHANDLE);
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}

int gic_its_signal_msi(struct irqchip *ic, uint32_t devid, uint32_t event_id)
{
	uint64_t doorbell = ic->its_base + GITS_TRANSLATER;
	struct kvm_msi msi = {
		.address_lo = (uint32_t)doorbell,
		.address_hi = (uint32_t)(doorbell >> 32),
		.data = event_id,
		.flags = KVM_MSI_VALID_DEVID,
		.devid = devid,
	};
	int r = ioctl(ic->vm_fd, KVM_SIGNAL_MSI, &msi);

	if (r < 0) {
		int err = errno;
		pr_err("MSI from DeviceID %u, EventID %u: KVM_SIGNAL_MSI failed: %s", devid, event_id, strerror(err));
		return -err;
	}
	return r > 0 ? 1 : 0;
}
