/*
 * What the in-kernel GICv2 and GICv3 do alike (see gic_kvm.h): create the
 * KVM device and set its two regions and NR_IRQS, CTRL_INIT, raise SPIs
 * with KVM_IRQ_LINE, save/restore through the backend's state table, and
 * the shape of the device tree node.
 */
#include "irqchip/gic_kvm.h"

#include <errno.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/state.h"
#include "irqchip/gic_its.h"

static int kvm_vgic_set_attr(int dev_fd, uint32_t group, uint64_t attr, const void *val, const char *what)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)val };

	if (ioctl(dev_fd, KVM_SET_DEVICE_ATTR, &a) < 0) {
		int err = errno;
		pr_err("vGIC: setting %s failed: %s", what, strerror(err));
		return -err;
	}
	return 0;
}

static int set_region(struct irqchip *ic, const struct gic_kvm_region *r, const uint64_t *addr)
{
	char what[48];

	snprintf(what, sizeof(what), "the %s address", r->name);
	return kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, r->attr, addr, what);
}

/* ic's version; only the in-kernel GICv2 and GICv3 backends' ops come here. */
static const struct gic_kvm_desc *desc_of(const struct irqchip *ic)
{
	return irqchip_is_gicv3(ic->type) ? &gic_kvm_v3_desc : &gic_kvm_v2_desc;
}

int gic_kvm_create(struct irqchip *ic)
{
	const struct gic_kvm_desc *d = desc_of(ic);
	struct kvm_create_device cd = { .type = d->dev_type };
	uint32_t nr_irqs = IRQCHIP_NR_IRQS;
	int ret;

	if (ioctl(ic->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
		int err = errno;
		if (!ic->quiet)
			pr_err("creating the in-kernel %s failed: %s", d->state.name, strerror(err));
		return -err;
	}
	ic->dev_fd = (int)cd.fd;
	ret = set_region(ic, &d->dist, &ic->dist_base);
	if (!ret)
		ret = set_region(ic, &d->cpu, &ic->cpu_base);
	if (!ret)
		ret = kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs,
					"the number of interrupts");
	/* The ITS is its own KVM device, made once the GICv3 it belongs to has its regions. */
	if (!ret && irqchip_has_its(ic->type))
		ret = gic_its_create(ic);
	return ret;
}

int gic_kvm_finalize(struct irqchip *ic)
{
	return kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL,
				 "CTRL_INIT");
}

int gic_kvm_set_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	struct kvm_irq_level irq = {
		.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (GIC_SPI_BASE + spi),
		.level = level,
	};

	if (spi >= IRQCHIP_NR_SPIS)
		return -EINVAL;
	if (ioctl(ic->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
		int err = errno;
		pr_err("KVM_IRQ_LINE for SPI %u failed: %s", spi, strerror(err));
		return -err;
	}
	return 0;
}

/* Save and restore check these before touching KVM: 0, or -errno after one error line. */
static int check_mpidrs(const struct irqchip *ic, const struct gic_kvm_desc *d, const char *doing)
{
	if (d->by_mpidr && !ic->mpidrs) {
		pr_err("%s %s: the vCPUs' MPIDRs are unknown", doing, d->state.name);
		return -EINVAL;
	}
	return 0;
}

static int check_device(const struct irqchip *ic, const struct gic_kvm_desc *d, const char *doing)
{
	if (ic->dev_fd < 0) {
		pr_err("%s %s: the vGIC device does not exist", doing, d->state.name);
		return -ENODEV;
	}
	return 0;
}

/*
 * Every vCPU is out of KVM_RUN (see irqchip_ops.save), and guest RAM is saved
 * after this: with an ITS, the LPI pending bits (into the redistributors'
 * pending tables) and the ITS tables are flushed into guest RAM here, and the
 * ITS registers follow the GIC's in the payload.
 */
int gic_kvm_save(struct irqchip *ic, struct snap_buf *b)
{
	const struct gic_kvm_desc *d = desc_of(ic);
	int ret = check_mpidrs(ic, d, "saving");

	if (!ret)
		ret = check_device(ic, d, "saving");
	if (!ret)
		ret = gks_save(&d->state, ic, b);
	if (!ret && irqchip_has_its(ic->type)) {
		ret = kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, NULL,
					"SAVE_PENDING_TABLES (writing the LPI pending tables into guest RAM)");
		if (!ret)
			ret = gic_its_save(ic, b);
	}
	return ret;
}

/*
 * The whole payload (with an ITS, its part too) is parsed and checked before
 * the first value is written. Guest RAM is already in place (the snapshot's
 * memory file is mapped when the machine is built): the GIC's state goes
 * back, redistributors included, then the ITS's, which reads its tables from
 * guest RAM and the LPIs' pending bits from the restored pending tables.
 */
int gic_kvm_restore(struct irqchip *ic, struct snap_cursor *c)
{
	const struct gic_kvm_desc *d = desc_of(ic);
	struct gic_its_state its;
	uint64_t *values;
	int ret = check_mpidrs(ic, d, "restoring");

	if (ret < 0)
		return ret;
	ret = gks_parse(&d->state, ic->nr_cpus, c, &values);
	if (ret < 0)
		return ret;
	if (irqchip_has_its(ic->type))
		ret = gic_its_parse(c, &its);
	if (!ret) {
		char what[48];
		snprintf(what, sizeof(what), "snapshot %s%s state", d->state.name,
			 irqchip_has_its(ic->type) ? " and ITS" : "");
		if (snap_cursor_done(c, what) < 0)
			ret = -EINVAL;
	}
	if (!ret)
		ret = check_device(ic, d, "restoring");
	if (!ret && d->check)
		ret = d->check(ic, values);
	if (!ret)
		ret = gks_apply(&d->state, ic, values);
	if (!ret && irqchip_has_its(ic->type))
		ret = gic_its_restore(ic, &its);
	free(values);
	return ret;
}

int gic_fdt_node(const struct irqchip *ic, void *fdt, const char *compatible, uint32_t redist_regions)
{
	char name[32];
	uint64_t reg[] = { cpu_to_fdt64(ic->dist_base), cpu_to_fdt64(ic->dist_size),
			   cpu_to_fdt64(ic->cpu_base), cpu_to_fdt64(ic->cpu_size) };
	bool its = irqchip_has_its(ic->type);
	int ret = 0;

	snprintf(name, sizeof(name), "intc@%llx", (unsigned long long)ic->dist_base);
	ret |= fdt_begin_node(fdt, name);
	ret |= fdt_property_string(fdt, "compatible", compatible);
	ret |= fdt_property_cell(fdt, "#interrupt-cells", 3);
	/* An ITS is a child node with a reg: the GIC then needs the root's address space ("ranges"). */
	ret |= fdt_property_cell(fdt, "#address-cells", its ? 2 : 0);
	if (its) {
		ret |= fdt_property_cell(fdt, "#size-cells", 2);
		ret |= fdt_property(fdt, "ranges", NULL, 0);
	}
	ret |= fdt_property(fdt, "interrupt-controller", NULL, 0);
	if (redist_regions)
		ret |= fdt_property_cell(fdt, "#redistributor-regions", redist_regions);
	ret |= fdt_property(fdt, "reg", reg, sizeof(reg));
	ret |= fdt_property_cell(fdt, "phandle", GIC_PHANDLE);
	if (its && !ret)
		ret = gic_its_fdt_node(ic, fdt);
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}
