/*
 * Backend: the userspace GICv2. The model itself (registers, priorities,
 * routing) is gicv2_model.c; this file connects it to KVM:
 *   - guest accesses to the distributor and CPU interface arrive as MMIO
 *     exits on the accessing vCPU's thread (vcpu_current_index() says which);
 *   - the arch timers and the PMU have no GIC in the kernel to signal, so KVM
 *     reports their output levels in kvm_run->s.regs.device_irq_level
 *     (KVM_CAP_ARM_USER_IRQ), read after every KVM_RUN (vcpu_sync);
 *   - the model's per-vCPU IRQ output drives KVM_IRQ_LINE type CPU, which
 *     also kicks that vCPU out of WFI.
 * Devices raise SPIs through irqchip_set_spi() as with every backend.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "irqchip/gicv2_model.h"
#include "irqchip/irqchip.h"
#include "vmm/log.h"
#include "vmm/mmio.h"
#include "vmm/vm.h"

/* The PPIs the kernel's device_irq_level bits stand for (the timer node in the DTB names the same). */
#define PPI_VTIMER 27u
#define PPI_PTIMER 30u
#define PPI_PMU 23u

static void gic_user_line(void *opaque, unsigned int cpu, bool level)
{
	struct irqchip *ic = opaque;
	struct kvm_irq_level irq = {
		.irq = (KVM_ARM_IRQ_TYPE_CPU << KVM_ARM_IRQ_TYPE_SHIFT) | (cpu << KVM_ARM_IRQ_VCPU_SHIFT) |
		       KVM_ARM_IRQ_CPU_IRQ,
		.level = level,
	};

	if (ic->vm_fd >= 0 && ioctl(ic->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		pr_err("userspace GIC: KVM_IRQ_LINE for vCPU %u failed: %s", cpu, strerror(errno));
}

static void gic_user_dist_read(void *dev, uint64_t off, uint8_t *data, unsigned int len)
{
	struct irqchip *ic = dev;
	gicv2_dist_read(ic->model, vcpu_current_index(), off, data, len);
}

static void gic_user_dist_write(void *dev, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct irqchip *ic = dev;
	gicv2_dist_write(ic->model, vcpu_current_index(), off, data, len);
}

static void gic_user_cpuif_read(void *dev, uint64_t off, uint8_t *data, unsigned int len)
{
	struct irqchip *ic = dev;
	gicv2_cpuif_read(ic->model, vcpu_current_index(), off, data, len);
}

static void gic_user_cpuif_write(void *dev, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct irqchip *ic = dev;
	gicv2_cpuif_write(ic->model, vcpu_current_index(), off, data, len);
}

static int gic_user_create(struct irqchip *ic)
{
	struct mmio_region dist = {
		.base = ic->dist_base, .size = GICV2_DIST_SIZE, .name = "gicv2-dist", .dev = ic,
		.read = gic_user_dist_read, .write = gic_user_dist_write,
	};
	struct mmio_region cpuif = {
		.base = ic->cpu_base, .size = GICV2_CPU_SIZE, .name = "gicv2-cpuif", .dev = ic,
		.read = gic_user_cpuif_read, .write = gic_user_cpuif_write,
	};
	int ret;

	if (ioctl(ic->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_USER_IRQ) <= 0) {
		pr_err("this host's KVM lacks KVM_CAP_ARM_USER_IRQ, so a userspace GIC would never see timer interrupts: use an in-kernel --irqchip");
		return -ENODEV;
	}
	ic->model = calloc(1, sizeof(*ic->model));
	if (!ic->model) {
		pr_err("userspace GIC: out of memory");
		return -ENOMEM;
	}
	gicv2_model_init(ic->model, ic->nr_cpus, IRQCHIP_NR_IRQS, gic_user_line, ic);
	ret = mmio_bus_add(ic->bus, &dist);
	if (!ret)
		ret = mmio_bus_add(ic->bus, &cpuif);
	return ret;
}

static int gic_user_finalize(struct irqchip *ic)
{
	(void)ic;
	return 0;
}

static int gic_user_set_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	if (spi >= IRQCHIP_NR_SPIS)
		return -EINVAL;
	gicv2_set_spi_level(ic->model, spi, level);
	return 0;
}

/* On the vCPU's own thread after KVM_RUN: feed the model the timer and PMU levels that changed. */
static void gic_user_vcpu_sync(struct irqchip *ic, unsigned int cpu, const struct kvm_run *run)
{
	static const struct { uint32_t bit; unsigned int ppi; } lines[] = {
		{ KVM_ARM_DEV_EL1_VTIMER, PPI_VTIMER },
		{ KVM_ARM_DEV_EL1_PTIMER, PPI_PTIMER },
		{ KVM_ARM_DEV_PMU, PPI_PMU },
	};
	uint32_t now = (uint32_t)run->s.regs.device_irq_level;
	uint32_t changed;

	if (cpu >= ic->nr_cpus) /* at most GICV2_MAX_CPUS: irqchip_create checked */
		return;
	changed = now ^ ic->user_irq_levels[cpu]; /* only this vCPU's thread touches its slot */
	if (!changed)
		return;
	ic->user_irq_levels[cpu] = now;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if (changed & lines[i].bit)
			gicv2_set_ppi_level(ic->model, cpu, lines[i].ppi, now & lines[i].bit);
}

static void gic_user_destroy(struct irqchip *ic)
{
	if (ic->model) {
		gicv2_model_destroy(ic->model);
		free(ic->model);
		ic->model = NULL;
	}
}

const struct irqchip_ops gic_user_v2_ops = {
	.name = "gicv2-user",
	.create = gic_user_create,
	.finalize = gic_user_finalize,
	.set_spi = gic_user_set_spi,
	.fdt_node = gic_v2_fdt_node,
	.vcpu_sync = gic_user_vcpu_sync,
	.destroy = gic_user_destroy,
};
