#include "irqchip/irqchip.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "irqchip/gic_its.h"

const char *irqchip_type_name(enum irqchip_type type)
{
	switch (type) {
	case IRQCHIP_GICV2_KVM: return "in-kernel GICv2";
	case IRQCHIP_GICV3_KVM: return "in-kernel GICv3";
	case IRQCHIP_GICV2_LEGACY: return "in-kernel GICv2 (legacy KVM_CREATE_IRQCHIP)";
	case IRQCHIP_GICV2_USER: return "userspace GICv2";
	case IRQCHIP_GICV3_ITS_KVM: return "in-kernel GICv3 with ITS";
	}
	return "?";
}

void irqchip_layout(struct irqchip *ic, enum irqchip_type type, const struct irqchip_params *p)
{
	uint64_t dist_base = p->dist_base;

	memset(ic, 0, sizeof(*ic));
	ic->type = type;
	ic->nr_cpus = p->nr_cpus;
	ic->vm_fd = -1;
	ic->dev_fd = -1;
	ic->its_fd = -1;
	ic->dist_base = dist_base;
	if (irqchip_is_gicv3(type)) {
		ic->ops = &gic_kvm_v3_ops;
		ic->dist_size = GICV3_DIST_SIZE;
		/* Redistributors sit right below the distributor, one 128 KiB pair per vCPU. */
		ic->cpu_size = GICV3_REDIST_STRIDE * p->nr_cpus;
		ic->cpu_base = ic->dist_base - ic->cpu_size;
		if (irqchip_has_its(type))
			ic->its_base = p->its_base;
		return;
	}
	/* The three GICv2 backends: same addresses, same device tree node. */
	ic->ops = type == IRQCHIP_GICV2_KVM ? &gic_kvm_v2_ops
		  : type == IRQCHIP_GICV2_LEGACY ? &gic_kvm_v2_legacy_ops : &gic_user_v2_ops;
	ic->dist_size = GICV2_DIST_SIZE;
	/* The CPU interface 128 KiB below the distributor (kvmtool's place for it). */
	ic->cpu_base = dist_base - GICV2_CPU_BELOW_DIST;
	ic->cpu_size = GICV2_CPU_SIZE;
}

int irqchip_type_for_request(enum irqchip_request req, enum irqchip_type *type)
{
	switch (req) {
	case IRQCHIP_REQ_GICV2:
	case IRQCHIP_REQ_GICV2_KERNEL: *type = IRQCHIP_GICV2_KVM; return 0;
	case IRQCHIP_REQ_GICV2_LEGACY: *type = IRQCHIP_GICV2_LEGACY; return 0;
	case IRQCHIP_REQ_GICV3: *type = IRQCHIP_GICV3_KVM; return 0;
	case IRQCHIP_REQ_GICV3_ITS: *type = IRQCHIP_GICV3_ITS_KVM; return 0;
	case IRQCHIP_REQ_USER: *type = IRQCHIP_GICV2_USER; return 0;
	case IRQCHIP_REQ_AUTO: break;
	}
	return -EINVAL;
}

/* 0 when KVM could create a vGIC of this type, else -errno (ENODEV: the host cannot emulate it). */
static int kvm_vgic_probe(int vm_fd, uint32_t kvm_dev_type)
{
	struct kvm_create_device cd = { .type = kvm_dev_type, .flags = KVM_CREATE_DEVICE_TEST };

	return ioctl(vm_fd, KVM_CREATE_DEVICE, &cd) == 0 ? 0 : -errno;
}

bool kvm_vgic_available(int vm_fd, uint32_t kvm_dev_type)
{
	return kvm_vgic_probe(vm_fd, kvm_dev_type) == 0;
}

static int create_backend(struct irqchip *ic, enum irqchip_type type, const struct irqchip_params *p, bool quiet)
{
	unsigned int nr_cpus = p->nr_cpus;
	int ret;

	/* The GICv2 architecture has 8 CPU interfaces: every GICv2 backend shares the limit. */
	if (irqchip_is_gicv2(type) && nr_cpus > GICV2_MAX_CPUS) {
		pr_err("GICv2 supports at most %u vCPUs (asked for %u): use --irqchip gicv3 or fewer --cpus",
		       GICV2_MAX_CPUS, nr_cpus);
		return -EINVAL;
	}
	irqchip_layout(ic, type, p);
	ic->vm_fd = p->vm_fd;
	ic->bus = p->bus;
	ic->quiet = quiet;
	ret = ic->ops->create(ic);
	ic->quiet = false;
	if (ret < 0) {
		irqchip_destroy(ic);
		return ret;
	}
	pr_info("irqchip: %s", irqchip_type_name(type));
	return 0;
}

/*
 * An in-kernel GICv2 by any means: the device API, else (when the device API
 * says ENODEV/ENXIO, as kernels without it do) KVM_CREATE_IRQCHIP. quiet: a
 * failure is not an error yet because a fallback follows.
 */
static int create_kernel_gicv2(struct irqchip *ic, const struct irqchip_params *p, bool quiet)
{
	int probe = kvm_vgic_probe(p->vm_fd, KVM_DEV_TYPE_ARM_VGIC_V2);

	if (probe == 0)
		return create_backend(ic, IRQCHIP_GICV2_KVM, p, quiet);
	if (probe != -ENODEV && probe != -ENXIO)
		return probe;
	/* KVM_CREATE_IRQCHIP fails with ENODEV where KVM cannot emulate a GICv2: nothing was created. */
	return create_backend(ic, IRQCHIP_GICV2_LEGACY, p, true);
}

/*
 * Falling back to the userspace model is only safe when no in-kernel vGIC
 * was created (a VM cannot get rid of one): -ENODEV from the paths above.
 */
static bool no_kernel_gicv2(int ret) { return ret == -ENODEV || ret == -ENXIO; }

int irqchip_create(struct irqchip *ic, enum irqchip_request req, const struct irqchip_params *p)
{
	int vm_fd = p->vm_fd;
	unsigned int nr_cpus = p->nr_cpus;
	int ret;

	switch (req) {
	case IRQCHIP_REQ_AUTO:
		if (kvm_vgic_available(vm_fd, KVM_DEV_TYPE_ARM_VGIC_V3))
			return create_backend(ic, IRQCHIP_GICV3_KVM, p, false);
		if (nr_cpus > GICV2_MAX_CPUS) {
			pr_err("this host's KVM has no in-kernel GICv3, and a GICv2 takes at most %u vCPUs (asked for %u)",
			       GICV2_MAX_CPUS, nr_cpus);
			return -EINVAL;
		}
		ret = create_kernel_gicv2(ic, p, true);
		if (!no_kernel_gicv2(ret))
			return ret;
		pr_info("this host's KVM offers no in-kernel GIC: using the userspace GICv2 model");
		return create_backend(ic, IRQCHIP_GICV2_USER, p, false);
	case IRQCHIP_REQ_GICV2:
		ret = create_kernel_gicv2(ic, p, true);
		if (!no_kernel_gicv2(ret))
			return ret;
		/* Shown at the default log level: the user asked for the kernel's GICv2 and gets the model. */
		pr_warn("this host's KVM cannot provide an in-kernel GICv2: using the userspace GICv2 model");
		return create_backend(ic, IRQCHIP_GICV2_USER, p, false);
	case IRQCHIP_REQ_GICV2_KERNEL:
		ret = create_kernel_gicv2(ic, p, false);
		if (!no_kernel_gicv2(ret))
			return ret;
		pr_err("this host's KVM cannot provide an in-kernel GICv2 (GICv3-only host?): use --irqchip gicv2 (falls back to the userspace model), user, gicv3 or auto");
		return -ENODEV;
	case IRQCHIP_REQ_GICV2_LEGACY:
		return create_backend(ic, IRQCHIP_GICV2_LEGACY, p, false);
	case IRQCHIP_REQ_GICV3:
		if (!kvm_vgic_available(vm_fd, KVM_DEV_TYPE_ARM_VGIC_V3)) {
			pr_err("this host's KVM cannot provide an in-kernel GICv3: use --irqchip gicv2, user or auto");
			return -ENODEV;
		}
		return create_backend(ic, IRQCHIP_GICV3_KVM, p, false);
	case IRQCHIP_REQ_GICV3_ITS:
		if (!kvm_vgic_available(vm_fd, KVM_DEV_TYPE_ARM_VGIC_V3)) {
			pr_err("this host's KVM cannot provide an in-kernel GICv3, so no ITS either: use --irqchip gicv2, user or auto");
			return -ENODEV;
		}
		if (!kvm_vgic_available(vm_fd, KVM_DEV_TYPE_ARM_VGIC_ITS)) {
			pr_err("this host's KVM cannot provide an in-kernel GICv3 ITS: use --irqchip gicv3 (no ITS)");
			return -ENODEV;
		}
		return create_backend(ic, IRQCHIP_GICV3_ITS_KVM, p, false);
	case IRQCHIP_REQ_USER:
		return create_backend(ic, IRQCHIP_GICV2_USER, p, false);
	}
	return -EINVAL;
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

void irqchip_vcpu_sync(struct irqchip *ic, unsigned int cpu, const struct kvm_run *run)
{
	if (ic->ops && ic->ops->vcpu_sync)
		ic->ops->vcpu_sync(ic, cpu, run);
}

void irqchip_vcpu_enter(struct irqchip *ic, unsigned int cpu)
{
	if (ic->ops && ic->ops->vcpu_enter)
		ic->ops->vcpu_enter(ic, cpu);
}

void irqchip_destroy(struct irqchip *ic)
{
	if (ic->ops && ic->ops->destroy)
		ic->ops->destroy(ic);
	if (ic->its_fd >= 0)
		close(ic->its_fd);
	ic->its_fd = -1;
	if (ic->dev_fd >= 0)
		close(ic->dev_fd);
	ic->dev_fd = -1;
}

int irqchip_signal_msi(struct irqchip *ic, uint32_t devid, uint32_t event_id)
{
	if (!irqchip_has_its(ic->type) || ic->its_fd < 0) {
		pr_err("an MSI needs an ITS: this VM has the %s (use --irqchip gicv3-its)", irqchip_type_name(ic->type));
		return -ENODEV;
	}
	return gic_its_signal_msi(ic, devid, event_id);
}

int irqchip_save(struct irqchip *ic, struct snap_buf *b)
{
	if (!ic->ops || !ic->ops->save) {
		pr_err("snapshots are not supported with the %s irqchip (use --irqchip gicv2, gicv3 or user)",
		       irqchip_type_name(ic->type));
		return -EOPNOTSUPP;
	}
	return ic->ops->save(ic, b);
}

int irqchip_restore(struct irqchip *ic, struct snap_cursor *c)
{
	if (!ic->ops || !ic->ops->restore) {
		pr_err("the %s irqchip cannot be restored from a snapshot", irqchip_type_name(ic->type));
		return -EOPNOTSUPP;
	}
	return ic->ops->restore(ic, c);
}
