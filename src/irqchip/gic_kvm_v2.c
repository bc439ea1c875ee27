/*
 * Backends: the in-kernel GICv2, through the device API (KVM_DEV_TYPE_ARM_VGIC_V2)
 * or through the legacy KVM_CREATE_IRQCHIP + KVM_ARM_SET_DEVICE_ADDR pair that
 * kernels before the device API offered. Same guest view either way.
 */
#include <errno.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "fdt/fdt.h"
#include "irqchip/irqchip.h"
#include "vmm/log.h"

static int gic_kvm_v2_create(struct irqchip *ic)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V2 };
	uint32_t nr_irqs = IRQCHIP_NR_IRQS;
	int ret;

	if (ioctl(ic->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
		int err = errno;
		if (!ic->quiet)
			pr_err("creating the in-kernel GICv2 failed: %s", strerror(err));
		return -err;
	}
	ic->dev_fd = (int)cd.fd;
	ret = kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST,
				&ic->dist_base, "the distributor address");
	if (!ret)
		ret = kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU,
					&ic->cpu_base, "the CPU interface address");
	if (!ret)
		ret = kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs,
					"the number of interrupts");
	return ret;
}

static int gic_kvm_v2_finalize(struct irqchip *ic)
{
	return kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL,
				 "CTRL_INIT");
}

static int gic_kvm_v2_set_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	return kvm_irq_line_spi(ic->vm_fd, spi, level);
}

/* Shared by every GICv2 backend (gic_user_v2.c too): the guest must see the same node. */
int gic_v2_fdt_node(const struct irqchip *ic, void *fdt)
{
	char name[32];
	uint64_t reg[] = { cpu_to_fdt64(ic->dist_base), cpu_to_fdt64(ic->dist_size),
			   cpu_to_fdt64(ic->cpu_base), cpu_to_fdt64(ic->cpu_size) };
	int ret = 0;

	snprintf(name, sizeof(name), "intc@%llx", (unsigned long long)ic->dist_base);
	ret |= fdt_begin_node(fdt, name);
	ret |= fdt_property_string(fdt, "compatible", "arm,cortex-a15-gic");
	ret |= fdt_property_cell(fdt, "#interrupt-cells", 3);
	ret |= fdt_property_cell(fdt, "#address-cells", 0);
	ret |= fdt_property(fdt, "interrupt-controller", NULL, 0);
	ret |= fdt_property(fdt, "reg", reg, sizeof(reg));
	ret |= fdt_property_cell(fdt, "phandle", GIC_PHANDLE);
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}

/* KVM_ARM_SET_DEVICE_ADDR for one GICv2 region; the errors are the ones the KVM API documents. */
static int legacy_set_addr(struct irqchip *ic, uint64_t type, uint64_t addr, const char *what)
{
	struct kvm_arm_device_addr a = {
		.id = ((uint64_t)KVM_ARM_DEVICE_VGIC_V2 << KVM_ARM_DEVICE_ID_SHIFT) | type,
		.addr = addr,
	};

	if (ioctl(ic->vm_fd, KVM_ARM_SET_DEVICE_ADDR, &a) == 0)
		return 0;
	int err = errno;
	switch (err) {
	case EEXIST:
		pr_err("legacy vGIC: the %s address was already set for this VM", what);
		break;
	case E2BIG:
		pr_err("legacy vGIC: the %s at 0x%llx is beyond the VM's physical address space", what,
		       (unsigned long long)addr);
		break;
	case ENXIO:
	case ENODEV:
		pr_err("legacy vGIC: KVM does not know the GICv2 %s region: use --irqchip gicv2 or user", what);
		break;
	default:
		pr_err("legacy vGIC: KVM_ARM_SET_DEVICE_ADDR for the %s failed: %s", what, strerror(err));
		break;
	}
	return -err;
}

static int gic_kvm_v2_legacy_create(struct irqchip *ic)
{
	if (ioctl(ic->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int err = errno;
		if (ic->quiet && (err == ENODEV || err == ENXIO))
			return -err;
		switch (err) {
		case EEXIST:
			pr_err("legacy vGIC: this VM already has an in-kernel interrupt controller");
			break;
		case ENODEV:
		case ENXIO:
		case EINVAL:
			pr_err("legacy vGIC: this host's KVM cannot emulate a GICv2 (KVM_CREATE_IRQCHIP: %s): use --irqchip user, gicv3 or auto",
			       strerror(err));
			break;
		case EBUSY:
			pr_err("legacy vGIC: KVM_CREATE_IRQCHIP refused because a vCPU already ran");
			break;
		default:
			pr_err("legacy vGIC: KVM_CREATE_IRQCHIP failed: %s", strerror(err));
			break;
		}
		return -err;
	}
	/* Both regions before the first KVM_RUN: KVM initialises this vGIC lazily when a vCPU first runs. */
	int ret = legacy_set_addr(ic, KVM_VGIC_V2_ADDR_TYPE_DIST, ic->dist_base, "distributor");
	if (!ret)
		ret = legacy_set_addr(ic, KVM_VGIC_V2_ADDR_TYPE_CPU, ic->cpu_base, "CPU interface");
	return ret;
}

static int gic_kvm_v2_legacy_finalize(struct irqchip *ic)
{
	(void)ic; /* nothing to do: there is no CTRL_INIT in the legacy API */
	return 0;
}

const struct irqchip_ops gic_kvm_v2_legacy_ops = {
	.name = "gicv2-legacy",
	.create = gic_kvm_v2_legacy_create,
	.finalize = gic_kvm_v2_legacy_finalize,
	.set_spi = gic_kvm_v2_set_spi,
	.fdt_node = gic_v2_fdt_node,
};

const struct irqchip_ops gic_kvm_v2_ops = {
	.name = "gicv2",
	.create = gic_kvm_v2_create,
	.finalize = gic_kvm_v2_finalize,
	.set_spi = gic_kvm_v2_set_spi,
	.fdt_node = gic_v2_fdt_node,
};
