#include "irqchip/irqchip.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/log.h"

const char *irqchip_type_name(enum irqchip_type type)
{
	switch (type) {
	case IRQCHIP_GICV2_KVM: return "in-kernel GICv2";
	case IRQCHIP_GICV3_KVM: return "in-kernel GICv3";
	}
	return "?";
}

void irqchip_layout(struct irqchip *ic, enum irqchip_type type, unsigned int nr_cpus)
{
	memset(ic, 0, sizeof(*ic));
	ic->type = type;
	ic->nr_cpus = nr_cpus;
	ic->vm_fd = -1;
	ic->dev_fd = -1;
	ic->dist_base = 0x3fff0000ull;
	switch (type) {
	case IRQCHIP_GICV2_KVM:
		ic->ops = &gic_kvm_v2_ops;
		ic->dist_size = GICV2_DIST_SIZE;
		ic->cpu_base = GICV2_CPU_BASE;
		ic->cpu_size = GICV2_CPU_SIZE;
		break;
	case IRQCHIP_GICV3_KVM:
		ic->ops = &gic_kvm_v3_ops;
		ic->dist_size = GICV3_DIST_SIZE;
		/* Redistributors sit right below the distributor, one 128 KiB pair per vCPU. */
		ic->cpu_size = GICV3_REDIST_STRIDE * nr_cpus;
		ic->cpu_base = ic->dist_base - ic->cpu_size;
		break;
	}
}

bool kvm_vgic_available(int vm_fd, uint32_t kvm_dev_type)
{
	struct kvm_create_device cd = { .type = kvm_dev_type, .flags = KVM_CREATE_DEVICE_TEST };

	return ioctl(vm_fd, KVM_CREATE_DEVICE, &cd) == 0;
}

int kvm_vgic_set_attr(int dev_fd, uint32_t group, uint64_t attr, const void *val, const char *what)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)val };

	if (ioctl(dev_fd, KVM_SET_DEVICE_ATTR, &a) < 0) {
		int err = errno;
		pr_err("vGIC: setting %s failed: %s", what, strerror(err));
		return -err;
	}
	return 0;
}

int kvm_irq_line_spi(int vm_fd, unsigned int spi, bool level)
{
	struct kvm_irq_level irq = {
		.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (GIC_SPI_BASE + spi),
		.level = level,
	};

	if (spi >= IRQCHIP_NR_SPIS)
		return -EINVAL;
	if (ioctl(vm_fd, KVM_IRQ_LINE, &irq) < 0) {
		int err = errno;
		pr_err("KVM_IRQ_LINE for SPI %u failed: %s", spi, strerror(err));
		return -err;
	}
	return 0;
}

int irqchip_create(struct irqchip *ic, int vm_fd, enum irqchip_request req, unsigned int nr_cpus)
{
	bool has_v3 = kvm_vgic_available(vm_fd, KVM_DEV_TYPE_ARM_VGIC_V3);
	bool has_v2 = kvm_vgic_available(vm_fd, KVM_DEV_TYPE_ARM_VGIC_V2);
	enum irqchip_type type;
	int ret;

	switch (req) {
	case IRQCHIP_REQ_AUTO:
		if (!has_v3 && !has_v2) {
			pr_err("this host's KVM offers no in-kernel GIC (neither GICv3 nor GICv2)");
			return -ENODEV;
		}
		type = has_v3 ? IRQCHIP_GICV3_KVM : IRQCHIP_GICV2_KVM;
		break;
	case IRQCHIP_REQ_GICV2:
		if (!has_v2) {
			pr_err("this host's KVM cannot provide an in-kernel GICv2 (GICv3-only host): use --irqchip gicv3 or --irqchip auto");
			return -ENODEV;
		}
		type = IRQCHIP_GICV2_KVM;
		break;
	case IRQCHIP_REQ_GICV3:
		if (!has_v3) {
			pr_err("this host's KVM cannot provide an in-kernel GICv3: use --irqchip gicv2 or --irqchip auto");
			return -ENODEV;
		}
		type = IRQCHIP_GICV3_KVM;
		break;
	default:
		return -EINVAL;
	}
	irqchip_layout(ic, type, nr_cpus);
	ic->vm_fd = vm_fd;
	ret = ic->ops->create(ic);
	if (ret < 0)
		return ret;
	pr_info("irqchip: %s", irqchip_type_name(type));
	return 0;
}

int irqchip_finalize(struct irqchip *ic)
{
	return ic->ops->finalize(ic);
}

int irqchip_set_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	return ic->ops->set_spi(ic, spi, level);
}

int irqchip_fdt_node(const struct irqchip *ic, void *fdt)
{
	return ic->ops->fdt_node(ic, fdt);
}

void irqchip_destroy(struct irqchip *ic)
{
	if (ic->dev_fd >= 0)
		close(ic->dev_fd);
	ic->dev_fd = -1;
}
