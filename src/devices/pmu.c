/*
 * The vCPUs' PMUv3 (see pmu.h). Facts from Documentation/virt/kvm/api.rst
 * (KVM_ARM_VCPU_INIT) and devices/vcpu.rst (KVM_ARM_VCPU_PMU_V3_CTRL):
 *  - the feature bit KVM_ARM_VCPU_PMU_V3 is given at KVM_ARM_VCPU_INIT;
 *  - per vCPU, KVM_ARM_VCPU_PMU_V3_IRQ sets the overflow interrupt (an int,
 *    the INTID; a PPI must be the same on every vCPU) and only exists with an
 *    in-kernel irqchip (EINVAL without one);
 *  - KVM_ARM_VCPU_PMU_V3_INIT, with an in-kernel GIC only after the GIC is
 *    initialised (ENODEV before); without one it is still required, and KVM
 *    then reports the overflow level in device_irq_level instead.
 * The PMU registers (PMCR_EL0, the counters, their event types, enables and
 * overflow flags) are in every vCPU's KVM_GET_REG_LIST once the feature is
 * on: the vCPU sections carry them; KVM reloads its counters from them at
 * the first KVM_RUN.
 *
 * Snapshot section payload: u32 the overflow interrupt's INTID (23).
 */
#include "devices/pmu.h"

#include <errno.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/vm.h"
#include "devices/device.h"
#include "irqchip/irqchip.h"

#define PMU_INTID (GIC_PPI_BASE + GIC_PPI_PMU)

struct pmu {
	struct vm *vm;
	struct irqchip *irqchip;
};

int pmu_setup_vcpus(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PMU_V3) <= 0) {
		pr_err("%s: this host's KVM cannot give guests a PMU (no KVM_CAP_ARM_PMU_V3: the host has no PMUv3 KVM can use)",
		       vm->restoring ? "the snapshot's vCPUs have a PMU" : "--pmu");
		return -ENODEV;
	}
	vm->vcpu_features |= 1u << KVM_ARM_VCPU_PMU_V3;
	return 0;
}

static int pmu_vcpu_attr(struct vcpu *v, uint64_t attr, const void *val, const char *what)
{
	struct kvm_device_attr a = {
		.group = KVM_ARM_VCPU_PMU_V3_CTRL, .attr = attr, .addr = (uint64_t)(uintptr_t)val,
	};

	if (ioctl(v->fd, KVM_SET_DEVICE_ATTR, &a) == 0)
		return 0;
	int err = errno;
	pr_err("PMU of vCPU %u: %s failed: %s", v->index, what, strerror(err));
	return -err;
}

/* KVM's GIC is initialised: name the overflow interrupt (in-kernel GIC only), then initialise each vCPU's PMU. */
static int pmu_irqchip_ready(struct device *d)
{
	struct pmu *p = d->priv;
	bool in_kernel = p->irqchip->type != IRQCHIP_GICV2_USER;
	int intid = PMU_INTID, ret = 0;

	if (p->irqchip->type == IRQCHIP_GICV2_LEGACY) {
		/* Its vGIC is initialised at the first KVM_RUN; KVM wants the PMU set up before that. */
		pr_err("--pmu needs a vGIC created through the device API: use --irqchip gicv2, gicv3 or user, not gicv2-legacy");
		return -EINVAL;
	}
	for (unsigned int i = 0; !ret && i < p->vm->nr_vcpus; i++) {
		struct vcpu *v = &p->vm->vcpus[i];
		if (in_kernel)
			ret = pmu_vcpu_attr(v, KVM_ARM_VCPU_PMU_V3_IRQ, &intid, "setting its interrupt (PPI 7)");
		if (!ret)
			ret = pmu_vcpu_attr(v, KVM_ARM_VCPU_PMU_V3_INIT, NULL, "KVM_ARM_VCPU_PMU_V3_INIT");
	}
	return ret;
}

/* pmu { compatible = "arm,armv8-pmuv3"; interrupts = <PPI 7 level-high>; }, with GICv2's CPU mask. */
static int pmu_fdt_node(const struct device *d, void *fdt)
{
	const struct pmu *p = d->priv;
	unsigned int cpus = p->irqchip->nr_cpus;
	uint32_t flags = IRQ_TYPE_LEVEL_HIGH;
	int ret = 0;

	if (irqchip_is_gicv2(p->irqchip->type))
		flags |= ((1u << (cpus > GICV2_MAX_CPUS ? GICV2_MAX_CPUS : cpus)) - 1) << 8;
	uint32_t irq[] = { cpu_to_fdt32(GIC_FDT_PPI), cpu_to_fdt32(GIC_PPI_PMU), cpu_to_fdt32(flags) };
	ret |= fdt_begin_node(fdt, "pmu");
	ret |= fdt_property_string(fdt, "compatible", "arm,armv8-pmuv3");
	ret |= fdt_property(fdt, "interrupts", irq, sizeof(irq));
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}

static void pmu_save(struct device *d, struct snap_buf *b)
{
	(void)d;
	snap_put_u32(b, PMU_INTID);
}

static int pmu_restore(struct device *d, struct snap_cursor *c)
{
	uint32_t intid = snap_get_u32(c);

	(void)d;
	if (snap_cursor_done(c, "PMU") < 0)
		return -EINVAL;
	if (intid != PMU_INTID) {
		pr_err("snapshot PMU: its overflow interrupt is INTID %u; armvmm's PMU uses INTID %u", intid, PMU_INTID);
		return -EINVAL;
	}
	return 0;
}

static void pmu_destroy(struct device *d)
{
	free(d->priv);
}

static const struct device_ops pmu_device_ops = {
	.name = "pmu",
	.snap_tag = PMU_SNAP_TAG,
	.fdt_node = pmu_fdt_node,
	.irqchip_ready = pmu_irqchip_ready,
	.save = pmu_save,
	.restore = pmu_restore,
	.destroy = pmu_destroy,
};

int pmu_create(struct device_ctx *ctx, struct vm *vm)
{
	struct pmu *p = calloc(1, sizeof(*p));

	if (!p) {
		pr_err("pmu: out of memory");
		return -ENOMEM;
	}
	p->vm = vm;
	p->irqchip = ctx->irqchip;
	if (!device_register(ctx->devices, &pmu_device_ops, p)) {
		free(p);
		return -ENOSPC;
	}
	return 0;
}
