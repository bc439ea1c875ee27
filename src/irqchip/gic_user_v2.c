/*
 * Backend: the userspace GICv2. The model itself (registers, priorities,
 * routing) is gicv2_model.c; this file connects it to KVM:
 *   - guest accesses to the distributor and CPU interface arrive as MMIO
 *     exits on the accessing vCPU's thread (vcpu_current_index() says which);
 *   - the arch timers and the PMU have no GIC in the kernel to signal, so KVM
 *     reports their output levels in kvm_run->s.regs.device_irq_level
 *     (KVM_CAP_ARM_USER_IRQ), read after every KVM_RUN (vcpu_sync);
 *   - the model's per-vCPU IRQ output drives KVM_IRQ_LINE type CPU, issued
 *     only by that vCPU's own thread just before KVM_RUN (vcpu_enter); any
 *     other thread that changes it kicks the vCPU out of KVM_RUN instead (see
 *     gic_user_line for why).
 * Devices raise SPIs through irqchip_set_spi() as with every backend.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "irqchip/gicv2_model.h"
#include "irqchip/irqchip.h"
#include "core/state.h"
#include "core/log.h"
#include "core/mmio.h"
#include "core/vcpu.h"

/* The PPIs the kernel's device_irq_level bits stand for (the timer node in the DTB names the same). */
#define PPI_VTIMER 27u
#define PPI_PTIMER 30u
#define PPI_PMU 23u

/* device_irq_level bits and the PPI each one drives. */
static const struct {
	uint32_t bit;
	unsigned int ppi;
} user_lines[] = {
	{ KVM_ARM_DEV_EL1_VTIMER, PPI_VTIMER },
	{ KVM_ARM_DEV_EL1_PTIMER, PPI_PTIMER },
	{ KVM_ARM_DEV_PMU, PPI_PMU },
};
#define NR_USER_LINES (sizeof(user_lines) / sizeof(user_lines[0]))

/*
 * The model's output for vCPU cpu changed (called with the model's lock held,
 * from whichever thread changed it). KVM_IRQ_LINE keeps the level as the VI
 * bit of the vCPU's saved HCR_EL2, set with an atomic bit operation; but KVM
 * (6.1, among others) also rewrites that word without one each time the vCPU
 * is loaded on a physical CPU (its WFI/WFE trap bits). A KVM_IRQ_LINE from
 * another thread at that moment is lost: the model believes the line is high
 * and never raises it again, and the vCPU takes no interrupt ever after (seen
 * in the nested bench: a Linux guest's CPU 1 stopped taking timer interrupts
 * and SGIs, one boot in ten). So only the vCPU's own thread, outside KVM_RUN,
 * calls KVM_IRQ_LINE for it (gic_user_vcpu_enter); the vCPU is not loaded then.
 * Any other thread records the level and kicks the vCPU out of KVM_RUN.
 */
static void gic_user_line(void *opaque, unsigned int cpu, bool level)
{
	struct irqchip *ic = opaque;

	atomic_store(&ic->user_line_want[cpu], level);
	/* The vCPU's own thread is between two KVM_RUNs and passes vcpu_enter next. */
	if (vcpu_current_index() != cpu && ic->kick_vcpu)
		ic->kick_vcpu(ic->kick_opaque, cpu);
}

/* On vCPU cpu's thread, just before KVM_RUN: give KVM the level the model wants. */
static void gic_user_vcpu_enter(struct irqchip *ic, unsigned int cpu)
{
	if (cpu >= ic->nr_cpus)
		return;
	bool want = atomic_load(&ic->user_line_want[cpu]);
	struct kvm_irq_level irq = {
		.irq = (KVM_ARM_IRQ_TYPE_CPU << KVM_ARM_IRQ_TYPE_SHIFT) | (cpu << KVM_ARM_IRQ_VCPU_SHIFT) |
		       KVM_ARM_IRQ_CPU_IRQ,
		.level = want,
	};

	if (want == ic->user_line_set[cpu])
		return;
	/* Recorded even on failure: one error line per change, not one per KVM_RUN. */
	ic->user_line_set[cpu] = want;
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
	uint32_t now = (uint32_t)run->s.regs.device_irq_level;
	uint32_t changed;

	if (cpu >= ic->nr_cpus) /* at most GICV2_MAX_CPUS: irqchip_create checked */
		return;
	changed = now ^ ic->user_irq_levels[cpu]; /* only this vCPU's thread touches its slot */
	if (!changed)
		return;
	ic->user_irq_levels[cpu] = now;
	for (size_t i = 0; i < NR_USER_LINES; i++)
		if (changed & user_lines[i].bit)
			gicv2_set_ppi_level(ic->model, cpu, user_lines[i].ppi, now & user_lines[i].bit);
}

/*
 * Snapshot payload: nr_cpus, nr_irqs (u32); GICD_CTLR (u32); the SPI bitmaps
 * enabled, pending, active, line, edge (GICV2_IRQ_WORDS u32 each, word 0
 * unused); priority and targets (GICV2_IRQ_WORDS * 32 u8 each); then per CPU
 * 0..nr_cpus-1: enabled, pending, active, line, edge (u32), priority (32 u8),
 * sgi_pending (16 u8, bit s = from source CPU s), GICC_CTLR, PMR, BPR, APR0 (u32).
 */
static void put_words(struct snap_buf *b, const uint32_t *w, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		snap_put_u32(b, w[i]);
}

static void get_words(struct snap_cursor *c, uint32_t *w, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		w[i] = snap_get_u32(c);
}

static void put_cpu(struct snap_buf *b, const struct gicv2_cpu_state *s)
{
	snap_put_u32(b, s->enabled);
	snap_put_u32(b, s->pending);
	snap_put_u32(b, s->active);
	snap_put_u32(b, s->line);
	snap_put_u32(b, s->edge);
	snap_put_bytes(b, s->priority, sizeof(s->priority));
	snap_put_bytes(b, s->sgi_pending, sizeof(s->sgi_pending));
	snap_put_u32(b, s->ctlr);
	snap_put_u32(b, s->pmr);
	snap_put_u32(b, s->bpr);
	snap_put_u32(b, s->apr);
}

static void get_cpu(struct snap_cursor *c, struct gicv2_cpu_state *s)
{
	s->enabled = snap_get_u32(c);
	s->pending = snap_get_u32(c);
	s->active = snap_get_u32(c);
	s->line = snap_get_u32(c);
	s->edge = snap_get_u32(c);
	snap_get_bytes(c, s->priority, sizeof(s->priority));
	snap_get_bytes(c, s->sgi_pending, sizeof(s->sgi_pending));
	s->ctlr = snap_get_u32(c);
	s->pmr = snap_get_u32(c);
	s->bpr = snap_get_u32(c);
	s->apr = snap_get_u32(c);
}

static int gic_user_save(struct irqchip *ic, struct snap_buf *b)
{
	struct gicv2_state *st = malloc(sizeof(*st));

	if (!st) {
		pr_err("userspace GIC: out of memory saving its state");
		return -ENOMEM;
	}
	gicv2_model_get_state(ic->model, st);
	snap_put_u32(b, ic->model->nr_cpus);
	snap_put_u32(b, ic->model->nr_irqs);
	snap_put_u32(b, st->ctlr);
	put_words(b, st->enabled, GICV2_IRQ_WORDS);
	put_words(b, st->pending, GICV2_IRQ_WORDS);
	put_words(b, st->active, GICV2_IRQ_WORDS);
	put_words(b, st->line, GICV2_IRQ_WORDS);
	put_words(b, st->edge, GICV2_IRQ_WORDS);
	snap_put_bytes(b, st->priority, sizeof(st->priority));
	snap_put_bytes(b, st->targets, sizeof(st->targets));
	for (unsigned int cpu = 0; cpu < ic->model->nr_cpus; cpu++)
		put_cpu(b, &st->cpu[cpu]);
	free(st);
	return 0;
}

/* Everything after nr_cpus/nr_irqs; CPUs past nr_cpus keep what st holds. */
static void get_state(struct snap_cursor *c, struct gicv2_state *st, unsigned int nr_cpus)
{
	st->ctlr = snap_get_u32(c);
	get_words(c, st->enabled, GICV2_IRQ_WORDS);
	get_words(c, st->pending, GICV2_IRQ_WORDS);
	get_words(c, st->active, GICV2_IRQ_WORDS);
	get_words(c, st->line, GICV2_IRQ_WORDS);
	get_words(c, st->edge, GICV2_IRQ_WORDS);
	snap_get_bytes(c, st->priority, sizeof(st->priority));
	snap_get_bytes(c, st->targets, sizeof(st->targets));
	for (unsigned int cpu = 0; cpu < nr_cpus; cpu++)
		get_cpu(c, &st->cpu[cpu]);
}

/*
 * vcpu_sync feeds the model only the device_irq_level bits that changed
 * since user_irq_levels: start from the restored PPI lines, so a timer line
 * that was high at save time and is low after the restore gets lowered.
 * Restore runs before any vCPU thread, which own these slots afterwards.
 */
static void sync_user_levels(struct irqchip *ic, const struct gicv2_state *st)
{
	for (unsigned int cpu = 0; cpu < ic->model->nr_cpus; cpu++) {
		uint32_t levels = 0;
		for (size_t i = 0; i < NR_USER_LINES; i++)
			if (st->cpu[cpu].line & (1u << user_lines[i].ppi))
				levels |= user_lines[i].bit;
		ic->user_irq_levels[cpu] = levels;
	}
}

static int gic_user_restore(struct irqchip *ic, struct snap_cursor *c)
{
	struct gicv2_model *g = ic->model;
	struct gicv2_state *st;
	uint32_t nr_cpus = snap_get_u32(c), nr_irqs = snap_get_u32(c);
	int ret;

	if (c->err)
		return snap_cursor_done(c, "GIC");
	if (nr_cpus != g->nr_cpus || nr_irqs != g->nr_irqs) {
		pr_err("GIC: the snapshot's userspace GIC has %u CPUs and %u IRQs, this one %u and %u", nr_cpus,
		       nr_irqs, g->nr_cpus, g->nr_irqs);
		return -EINVAL;
	}
	st = malloc(sizeof(*st));
	if (!st) {
		pr_err("userspace GIC: out of memory restoring its state");
		return -ENOMEM;
	}
	gicv2_model_get_state(g, st);	/* CPUs the payload does not cover keep their reset state */
	get_state(c, st, nr_cpus);
	ret = snap_cursor_done(c, "GIC");
	if (ret == 0) {
		/* Masks what this GIC cannot hold (PPI line bits are always kept). */
		ret = gicv2_model_set_state(g, st);
		if (ret < 0)
			pr_err("GIC: the userspace GIC model refused the state");
		else
			sync_user_levels(ic, st);
	}
	free(st);
	return ret;
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
	.vcpu_enter = gic_user_vcpu_enter,
	.destroy = gic_user_destroy,
	.save = gic_user_save,
	.restore = gic_user_restore,
};
