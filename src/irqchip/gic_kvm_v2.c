/*
 * Backends: the in-kernel GICv2, through the device API (KVM_DEV_TYPE_ARM_VGIC_V2)
 * or through the legacy KVM_CREATE_IRQCHIP + KVM_ARM_SET_DEVICE_ADDR pair that
 * kernels before the device API offered. Same guest view either way. The
 * device API path is gic_kvm.c's, given the description below.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "irqchip/gic_kvm.h"
#include "irqchip/gic_regs.h"
#include "irqchip/irqchip.h"
#include "core/log.h"

/*
 * Snapshot state of the in-kernel GICv2 (device API only: the legacy
 * KVM_CREATE_IRQCHIP vGIC has no device fd, so it has no save/restore and
 * irqchip_save() reports it unsupported). Facts from
 * Documentation/virt/kvm/devices/arm-vgic.rst:
 *  - DIST_REGS and CPU_REGS take the vCPU index in attr bits 39:32; every
 *    value is a u32; EBUSY while any vCPU is in KVM_RUN.
 *  - GICD_IIDR is read and written back before any other register: until
 *    userspace writes it, KVM ignores writes to GICD_IGROUPR.
 *  - GICC_APR0-3 are KVM's own format (one bit per active preemption
 *    level), always four registers; GICC_PMR is in GICH_VMCR.VMPriMask
 *    format (5 bits). Both are stored as read and written back as stored.
 *  - Banked per vCPU: GICD_IGROUPR0, ISENABLER0, ISPENDR0, ISACTIVER0,
 *    IPRIORITYR0-7, ITARGETSR0-7 and ICFGR0-1 (SGIs and PPIs), the SGI
 *    pending state per source (GICD_SPENDSGIR0-3) and the whole CPU
 *    interface. KVM keeps ITARGETSR0-7 and ICFGR0-1 read-only (it ignores
 *    the writes); they are saved so the table covers the private interrupts
 *    whole.
 *
 * Restore order (the rows below, top to bottom; see gic_kvm_state.c):
 * GICD_IIDR; GICD_CTLR with its saved value, so the distributor is enabled
 * before any pending state is written; the SPI rows (group, config,
 * priority, targets, then enable, pending and active, each by writing
 * all-ones to the clear register and then the saved bits to the set
 * register); the banked rows per vCPU the same way, SGI pending state via
 * GICD_CPENDSGIR all-ones then GICD_SPENDSGIR (the SGI bits of
 * GICD_ISPENDR0 are masked on restore: written from userspace they would
 * mark the SGI pending from the vCPU itself, a source that may be wrong);
 * the CPU interface per vCPU last.
 *
 * The pending bits read through DIST_REGS include the input level of
 * level-triggered lines (the GICv2 device has no LEVEL_INFO group); restored,
 * such a line is latched pending, so the guest sees at most one extra
 * interrupt from a device that lowered its line meanwhile.
 */
static const struct gks_reg gic_v2_state_regs[] = {
	{ "GICD_IIDR", NULL, GKS_V2_DIST, GICD_IIDR, 0, 0, 1, 0 },
	{ "GICD_CTLR", NULL, GKS_V2_DIST, GICD_CTLR, 0, 0, 1, 0 },
	/* SPIs (not banked: accessed through vCPU 0) */
	{ "GICD_IGROUPR#", NULL, GKS_V2_DIST, GICD_IGROUPR, 0, GKS_SPI_FIRST(1), GKS_SPI_WORDS(1), 0 },
	{ "GICD_ICFGR#", NULL, GKS_V2_DIST, GICD_ICFGR, 0, GKS_SPI_FIRST(2), GKS_SPI_WORDS(2), 0 },
	{ "GICD_IPRIORITYR#", NULL, GKS_V2_DIST, GICD_IPRIORITYR, 0, GKS_SPI_FIRST(8), GKS_SPI_WORDS(8), 0 },
	{ "GICD_ITARGETSR#", NULL, GKS_V2_DIST, GICD_ITARGETSR, 0, GKS_SPI_FIRST(8), GKS_SPI_WORDS(8), 0 },
	{ "GICD_ISENABLER#", "GICD_ICENABLER#", GKS_V2_DIST, GICD_ISENABLER, GICD_ICENABLER, GKS_SPI_FIRST(1),
	  GKS_SPI_WORDS(1), 0 },
	{ "GICD_ISPENDR#", "GICD_ICPENDR#", GKS_V2_DIST, GICD_ISPENDR, GICD_ICPENDR, GKS_SPI_FIRST(1), GKS_SPI_WORDS(1),
	  0 },
	{ "GICD_ISACTIVER#", "GICD_ICACTIVER#", GKS_V2_DIST, GICD_ISACTIVER, GICD_ICACTIVER, GKS_SPI_FIRST(1),
	  GKS_SPI_WORDS(1), 0 },
	/* SGIs and PPIs, banked */
	{ "GICD_IGROUPR#", NULL, GKS_V2_DIST, GICD_IGROUPR, 0, 0, GKS_PRIVATE_WORDS(1), GKS_BANKED },
	{ "GICD_ICFGR#", NULL, GKS_V2_DIST, GICD_ICFGR, 0, 0, GKS_PRIVATE_WORDS(2), GKS_BANKED },
	{ "GICD_IPRIORITYR#", NULL, GKS_V2_DIST, GICD_IPRIORITYR, 0, 0, GKS_PRIVATE_WORDS(8), GKS_BANKED },
	{ "GICD_ITARGETSR#", NULL, GKS_V2_DIST, GICD_ITARGETSR, 0, 0, GKS_PRIVATE_WORDS(8), GKS_BANKED },
	{ "GICD_ISENABLER#", "GICD_ICENABLER#", GKS_V2_DIST, GICD_ISENABLER, GICD_ICENABLER, 0, GKS_PRIVATE_WORDS(1),
	  GKS_BANKED },
	{ "GICD_ISPENDR#", "GICD_ICPENDR#", GKS_V2_DIST, GICD_ISPENDR, GICD_ICPENDR, 0, GKS_PRIVATE_WORDS(1),
	  GKS_BANKED | GKS_NO_SGI },
	{ "GICD_SPENDSGIR#", "GICD_CPENDSGIR#", GKS_V2_DIST, GICD_SPENDSGIR, GICD_CPENDSGIR, 0, GICD_NR_SPENDSGIR,
	  GKS_BANKED },
	{ "GICD_ISACTIVER#", "GICD_ICACTIVER#", GKS_V2_DIST, GICD_ISACTIVER, GICD_ICACTIVER, 0, GKS_PRIVATE_WORDS(1),
	  GKS_BANKED },
	/* CPU interfaces */
	{ "GICC_CTLR", NULL, GKS_V2_CPU, GICC_CTLR, 0, 0, 1, GKS_BANKED },
	{ "GICC_PMR", NULL, GKS_V2_CPU, GICC_PMR, 0, 0, 1, GKS_BANKED },
	{ "GICC_BPR", NULL, GKS_V2_CPU, GICC_BPR, 0, 0, 1, GKS_BANKED },
	{ "GICC_ABPR", NULL, GKS_V2_CPU, GICC_ABPR, 0, 0, 1, GKS_BANKED },
	{ "GICC_APR#", NULL, GKS_V2_CPU, GICC_APR, 0, 0, GICC_NR_APRS, GKS_BANKED },
};

const struct gic_kvm_desc gic_kvm_v2_desc = {
	.dev_type = KVM_DEV_TYPE_ARM_VGIC_V2,
	.dist = { KVM_VGIC_V2_ADDR_TYPE_DIST, "distributor" },
	.cpu = { KVM_VGIC_V2_ADDR_TYPE_CPU, "CPU interface" },
	.state = { "GICv2", gic_v2_state_regs, sizeof(gic_v2_state_regs) / sizeof(gic_v2_state_regs[0]) },
	.by_mpidr = false,	/* DIST_REGS and CPU_REGS name a vCPU by its index */
};

/* Shared by every GICv2 backend (gic_user_v2.c too): the guest must see the same node. */
int gic_v2_fdt_node(const struct irqchip *ic, void *fdt)
{
	return gic_fdt_node(ic, fdt, "arm,cortex-a15-gic", 0);
}

/* KVM_ARM_SET_DEVICE_ADDR for one GICv2 region; the errors are the ones the KVM API documents. */
static int legacy_set_addr(struct irqchip *ic, const struct gic_kvm_region *r, uint64_t addr)
{
	struct kvm_arm_device_addr a = {
		.id = ((uint64_t)KVM_ARM_DEVICE_VGIC_V2 << KVM_ARM_DEVICE_ID_SHIFT) | r->attr,
		.addr = addr,
	};
	const char *what = r->name;

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
	int ret = legacy_set_addr(ic, &gic_kvm_v2_desc.dist, ic->dist_base);
	if (!ret)
		ret = legacy_set_addr(ic, &gic_kvm_v2_desc.cpu, ic->cpu_base);
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
	.set_spi = gic_kvm_set_spi,
	.fdt_node = gic_v2_fdt_node,
};

const struct irqchip_ops gic_kvm_v2_ops = {
	.name = "gicv2",
	.create = gic_kvm_create,
	.finalize = gic_kvm_finalize,
	.set_spi = gic_kvm_set_spi,
	.fdt_node = gic_v2_fdt_node,
	.save = gic_kvm_save,
	.restore = gic_kvm_restore,
};
