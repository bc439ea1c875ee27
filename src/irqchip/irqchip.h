/*
 * The one irqchip interface. A backend is a file in this directory with a
 * const struct irqchip_ops; the VM calls the irqchip_* wrappers below in this
 * order: irqchip_create (after the vCPUs exist), irqchip_finalize (before the
 * first KVM_RUN), then irqchip_set_spi from devices and irqchip_fdt_node from
 * the device-tree builder.
 */
#ifndef ARMVMM_IRQCHIP_H
#define ARMVMM_IRQCHIP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "irqchip/gicv2_model.h"

enum irqchip_request {
	IRQCHIP_REQ_AUTO,		/* in-kernel GICv3 → in-kernel GICv2 (device, then legacy) → userspace GICv2 */
	IRQCHIP_REQ_GICV2,		/* in-kernel GICv2, else the userspace model (said at info level) */
	IRQCHIP_REQ_GICV2_KERNEL,	/* in-kernel GICv2 or fail */
	IRQCHIP_REQ_GICV2_LEGACY,	/* in-kernel GICv2 through KVM_CREATE_IRQCHIP */
	IRQCHIP_REQ_GICV3,
	IRQCHIP_REQ_USER,		/* the userspace GICv2 model */
	IRQCHIP_REQ_GICV3_ITS,		/* in-kernel GICv3 with an ITS (kvmtool's gicv3-its) */
};

enum irqchip_type {
	IRQCHIP_GICV2_KVM,	/* in-kernel GICv2 (KVM_DEV_TYPE_ARM_VGIC_V2) */
	IRQCHIP_GICV3_KVM,	/* in-kernel GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3) */
	IRQCHIP_GICV2_LEGACY,	/* in-kernel GICv2 via KVM_CREATE_IRQCHIP + KVM_ARM_SET_DEVICE_ADDR */
	IRQCHIP_GICV2_USER,	/* the userspace GICv2 model (gicv2_model.c), fed by KVM_CAP_ARM_USER_IRQ */
	IRQCHIP_GICV3_ITS_KVM,	/* in-kernel GICv3 and an ITS (KVM_DEV_TYPE_ARM_VGIC_ITS, gic_its.c) */
};
/*
 * The number of types, which bounds a snapshot's irqchip type: keep it one past
 * the last. A define rather than an enum value, so switches need no case for it.
 */
#define IRQCHIP_NR_TYPES (IRQCHIP_GICV3_ITS_KVM + 1u)

static inline bool irqchip_is_gicv3(enum irqchip_type t) { return t == IRQCHIP_GICV3_KVM || t == IRQCHIP_GICV3_ITS_KVM; }
/* Every type but the GICv3 ones shows the guest a GICv2 at the same addresses with the same node. */
static inline bool irqchip_is_gicv2(enum irqchip_type t) { return !irqchip_is_gicv3(t); }
/* The GICv3 with an ITS: LPIs, MSIs (irqchip_signal_msi) and an msi-controller node. */
static inline bool irqchip_has_its(enum irqchip_type t) { return t == IRQCHIP_GICV3_ITS_KVM; }

#define IRQCHIP_NR_IRQS 128u	/* total lines incl. the 32 private ones */
#define IRQCHIP_NR_SPIS (IRQCHIP_NR_IRQS - 32u)
#define GIC_SPI_BASE 32u
#define GIC_PHANDLE 1u
#define GIC_ITS_PHANDLE 3u	/* 2 is the RTC clock's (devices/pl031.h) */
/* The PMU's overflow interrupt: PPI 7, INTID 23 (the architecture's recommendation, kvmtool's and QEMU's). */
#define GIC_PPI_PMU 7u
#define GIC_PPI_BASE 16u

/* Frame sizes (GICV2_DIST_SIZE is in gicv2_model.h); where the frames go is the board's (board/layout.h). */
#define GICV2_CPU_SIZE 0x2000ull
#define GICV2_CPU_BELOW_DIST 0x20000ull	/* the GICv2 CPU interface sits this far below the distributor */
#define GICV3_DIST_SIZE 0x10000ull
#define GICV3_REDIST_STRIDE 0x20000ull	/* RD_base + SGI_base frames per vCPU */
#define GICV3_ITS_SIZE 0x20000ull	/* the ITS control frame and its translation frame (GITS_TRANSLATER) */

struct irqchip;
struct kvm_run;
struct snap_buf;
struct snap_cursor;
struct mmio_bus;

struct irqchip_ops {
	const char *name;
	int (*create)(struct irqchip *ic);	/* make the device, set its regions and NR_IRQS */
	int (*finalize)(struct irqchip *ic);	/* KVM_DEV_ARM_VGIC_CTRL_INIT */
	int (*set_spi)(struct irqchip *ic, unsigned int spi, bool level);
	int (*fdt_node)(const struct irqchip *ic, void *fdt);
	/* After every KVM_RUN return on vCPU cpu's thread (userspace model only: device_irq_level). */
	void (*vcpu_sync)(struct irqchip *ic, unsigned int cpu, const struct kvm_run *run);
	/* Before every KVM_RUN on vCPU cpu's thread (userspace model only: its IRQ line into KVM). */
	void (*vcpu_enter)(struct irqchip *ic, unsigned int cpu);
	void (*destroy)(struct irqchip *ic);
	/*
	 * Snapshots (NULL: this backend cannot be saved). save runs with every vCPU
	 * out of KVM_RUN and appends the whole GIC state to b; restore runs on a
	 * freshly created and finalized irqchip of the same type, after the vCPU
	 * registers (MPIDR included) were written and before the first KVM_RUN, and
	 * validates every value it reads (-EINVAL after one error line).
	 */
	int (*save)(struct irqchip *ic, struct snap_buf *b);
	int (*restore)(struct irqchip *ic, struct snap_cursor *c);
};

struct irqchip {
	enum irqchip_type type;
	const struct irqchip_ops *ops;
	int vm_fd;
	int dev_fd;
	unsigned int nr_cpus;
	uint64_t dist_base, dist_size;
	uint64_t cpu_base, cpu_size;	/* GICv2 CPU interface, or GICv3 redistributors */
	uint64_t its_base;		/* the ITS frame (GICV3_ITS_SIZE), when irqchip_has_its(type) */
	int its_fd;			/* the ITS device, or -1 */
	struct mmio_bus *bus;		/* where the userspace model registers its regions */
	struct gicv2_model *model;	/* the userspace model's state, or NULL */
	uint32_t user_irq_levels[GICV2_MAX_CPUS];	/* userspace model: last device_irq_level seen per vCPU */
	atomic_bool user_line_want[GICV2_MAX_CPUS];	/* userspace model: each vCPU's IRQ output (any thread) */
	bool user_line_set[GICV2_MAX_CPUS];	/* userspace model: the level KVM has (that vCPU's thread only) */
	/* Make vCPU cpu leave KVM_RUN and come back through vcpu_enter (NULL: no vCPU threads yet). */
	void (*kick_vcpu)(void *opaque, unsigned int cpu);
	void *kick_opaque;
	bool quiet;			/* create(): failure is not an error yet (a fallback follows) */
	const uint64_t *mpidrs;		/* MPIDR_EL1 of each vCPU (the VM's array; GICv3 addresses by it) */
};

extern const struct irqchip_ops gic_kvm_v2_ops;
extern const struct irqchip_ops gic_kvm_v3_ops;
extern const struct irqchip_ops gic_kvm_v2_legacy_ops;
extern const struct irqchip_ops gic_user_v2_ops;

/* What the board gives the irqchip it creates. */
struct irqchip_params {
	int vm_fd;
	unsigned int nr_cpus;
	struct mmio_bus *bus;	/* where the userspace model registers its regions */
	uint64_t dist_base;	/* the distributor's guest-physical base (the board's map) */
	uint64_t its_base;	/* the ITS frame's base (the board's map; used when the type has an ITS) */
};

/*
 * Fill type, ops and guest addresses for a GIC whose distributor the board put
 * at p->dist_base: the GICv2 CPU interface sits GICV2_CPU_BELOW_DIST below it,
 * the GICv3 redistributors (one 128 KiB pair per vCPU) right below it; an ITS
 * at p->its_base. No KVM involved (used by --dump-dtb and tests; p->vm_fd and
 * p->bus are not looked at).
 */
void irqchip_layout(struct irqchip *ic, enum irqchip_type type, const struct irqchip_params *p);
/*
 * Choose a backend for req, probing the host's KVM, and create it. The
 * userspace model registers its MMIO regions on bus. 0, or -errno after one
 * error line naming the alternatives.
 */
int irqchip_create(struct irqchip *ic, enum irqchip_request req, const struct irqchip_params *p);
/* Map a request to the type --dump-dtb uses without KVM (auto has no answer: -EINVAL). */
int irqchip_type_for_request(enum irqchip_request req, enum irqchip_type *type);
void irqchip_vcpu_sync(struct irqchip *ic, unsigned int cpu, const struct kvm_run *run);
void irqchip_vcpu_enter(struct irqchip *ic, unsigned int cpu);
int irqchip_finalize(struct irqchip *ic);
/* spi counts from 0 (INTID 32). Level semantics: call with false to lower. */
int irqchip_set_spi(struct irqchip *ic, unsigned int spi, bool level);
int irqchip_fdt_node(const struct irqchip *ic, void *fdt);
void irqchip_destroy(struct irqchip *ic);
const char *irqchip_type_name(enum irqchip_type type);
/*
 * An MSI as a device would send it: DeviceID devid writing event_id to the
 * ITS's GITS_TRANSLATER (KVM_SIGNAL_MSI). 1 delivered, 0 the guest's ITS
 * dropped it (no mapping, ITS disabled), or -errno after one error line
 * (-ENODEV: no ITS).
 */
int irqchip_signal_msi(struct irqchip *ic, uint32_t devid, uint32_t event_id);
/* Snapshot wrappers: -EOPNOTSUPP with one error line when the backend has no save/restore. */
int irqchip_save(struct irqchip *ic, struct snap_buf *b);
int irqchip_restore(struct irqchip *ic, struct snap_cursor *c);

/* Whether this host's KVM can create a vGIC of this KVM_DEV_TYPE_ARM_VGIC_* type (nothing is created). */
bool kvm_vgic_available(int vm_fd, uint32_t kvm_dev_type);
/* The GICv2 device tree node (arm,cortex-a15-gic), shared by the three GICv2 backends. */
int gic_v2_fdt_node(const struct irqchip *ic, void *fdt);

#endif
