/* Backend: the in-kernel GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3). */
#include <errno.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "fdt/fdt.h"
#include "irqchip/irqchip.h"
#include "vmm/log.h"

static int gic_kvm_v3_create(struct irqchip *ic)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
	uint32_t nr_irqs = IRQCHIP_NR_IRQS;
	int ret;

	if (ioctl(ic->vm_fd, KVM_CREATE_DEVICE, &cd) < 0) {
		int err = errno;
		pr_err("creating the in-kernel GICv3 failed: %s", strerror(err));
		return -err;
	}
	ic->dev_fd = (int)cd.fd;
	ret = kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST,
				&ic->dist_base, "the distributor address");
	/* One contiguous redistributor region; KVM sizes it from the vCPU count at CTRL_INIT. */
	if (!ret)
		ret = kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
					&ic->cpu_base, "the redistributor address");
	if (!ret)
		ret = kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs,
					"the number of interrupts");
	return ret;
}

static int gic_kvm_v3_finalize(struct irqchip *ic)
{
	return kvm_vgic_set_attr(ic->dev_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL,
				 "CTRL_INIT");
}

static int gic_kvm_v3_set_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	return kvm_irq_line_spi(ic->vm_fd, spi, level);
}

static int gic_v3_fdt_node(const struct irqchip *ic, void *fdt)
{
	char name[32];
	uint64_t reg[] = { cpu_to_fdt64(ic->dist_base), cpu_to_fdt64(ic->dist_size),
			   cpu_to_fdt64(ic->cpu_base), cpu_to_fdt64(ic->cpu_size) };
	int ret = 0;

	snprintf(name, sizeof(name), "intc@%llx", (unsigned long long)ic->dist_base);
	ret |= fdt_begin_node(fdt, name);
	ret |= fdt_property_string(fdt, "compatible", "arm,gic-v3");
	ret |= fdt_property_cell(fdt, "#interrupt-cells", 3);
	ret |= fdt_property_cell(fdt, "#address-cells", 0);
	ret |= fdt_property(fdt, "interrupt-controller", NULL, 0);
	ret |= fdt_property_cell(fdt, "#redistributor-regions", 1);
	ret |= fdt_property(fdt, "reg", reg, sizeof(reg));
	ret |= fdt_property_cell(fdt, "phandle", GIC_PHANDLE);
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}

const struct irqchip_ops gic_kvm_v3_ops = {
	.name = "gicv3",
	.create = gic_kvm_v3_create,
	.finalize = gic_kvm_v3_finalize,
	.set_spi = gic_kvm_v3_set_spi,
	.fdt_node = gic_v3_fdt_node,
};
