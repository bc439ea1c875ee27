/*
 * The vCPUs' PMUv3 (--pmu), kvmtool's "Create PMUv3 device": KVM emulates the
 * performance monitors of every vCPU (KVM_ARM_VCPU_PMU_V3 at vCPU init). On
 * the device list it is the architectural PMU's device-tree node
 * (arm,armv8-pmuv3, its overflow interrupt PPI 7 = INTID 23), the per-vCPU
 * set-up KVM needs once the irqchip is initialised, and the snapshot section
 * that says the VM has one (its registers are vCPU registers, saved with
 * each vCPU).
 *
 * Its interrupt: with an in-kernel GIC, KVM raises INTID 23 itself
 * (KVM_ARM_VCPU_PMU_V3_IRQ); with the userspace GIC, KVM reports the level
 * in kvm_run's device_irq_level (KVM_ARM_DEV_PMU) and gic_user_v2.c drives
 * PPI 23 through the model, like the timers'.
 */
#ifndef ARMVMM_PMU_H
#define ARMVMM_PMU_H

#include "core/state.h"

#define PMU_SNAP_TAG SNAP_TAG('P', 'M', 'U', ' ')	/* one; its presence says the vCPUs have a PMU */

struct device_ctx;
struct vm;

/*
 * Before the vCPUs exist: check that this host's KVM gives guests a PMUv3
 * (KVM_CAP_ARM_PMU_V3) and have every vCPU created with one. 0, or -ENODEV
 * after one error line.
 */
int pmu_setup_vcpus(struct vm *vm);
/* Register the PMU on the device list (its node, its per-vCPU set-up once the irqchip is initialised, its section). */
int pmu_create(struct device_ctx *ctx, struct vm *vm);

#endif
