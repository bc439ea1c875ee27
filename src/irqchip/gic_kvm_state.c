/*
 * The engine behind gic_kvm_state.h: one table of rows (struct gks_reg)
 * drives saving, the payload layout and restoring of the in-kernel vGIC.
 *
 * The payload carries values only, never offsets or attribute numbers: a
 * hostile snapshot can supply values but cannot choose which attributes get
 * written. Restore parses and checks the whole payload first (gks_parse, no
 * KVM involved), then writes it (gks_apply):
 *   - rows in table order, each written once; banked rows once per vCPU
 *     with that vCPU's id;
 *   - GICD_CTLR thus gets its saved value (enables included) once, at its
 *     row, which both backends put before every pending row. The enables
 *     must come first: KVM puts a pending interrupt on a vCPU's list only
 *     while the distributor is enabled (vgic_target_oracle), and enabling it
 *     later does not look for interrupts that became pending meanwhile, so
 *     pending state written into a disabled distributor would never be
 *     delivered (seen on KVM 6.1: a restored pending SGI never reached
 *     ICC_HPPIR1_EL1). Nothing is delivered early: no vCPU runs during a
 *     restore;
 *   - a row with a clear register writes all-ones to the clear register
 *     first, then the saved bits to the set register (set registers only
 *     ever add bits: the fresh vGIC's state must be cleared first).
 * A register KVM does not implement reads as zero and ignores writes (KVM
 * treats unknown offsets that way for userspace accesses); an error from any
 * attribute is one error line naming the GIC, the register and the vCPU.
 */
#include "irqchip/gic_kvm_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/state.h"
#include "irqchip/gic_regs.h"

/* The number of ICC_AP0R<n>_EL1 (and AP1R) registers: 1, 2 or 4 for 5, 6 or 7 priority bits. */
static unsigned int gks_nr_aprs(uint64_t icc_ctlr)
{
	unsigned int pribits = (unsigned int)((icc_ctlr >> ICC_CTLR_PRIBITS_SHIFT) & ICC_CTLR_PRIBITS_MASK) + 1u;

	return pribits >= 7 ? ICC_MAX_APRS : pribits == 6 ? 2u : 1u;
}

static bool gks_is_u64(const struct gks_reg *r)
{
	return r->space == GKS_V3_SYSREG || (r->flags & GKS_64BIT);
}

static unsigned int gks_copies(const struct gks_reg *r, unsigned int nr_cpus)
{
	return (r->flags & GKS_BANKED) ? nr_cpus : 1u;
}

/* Index of row ri's first value in the flat value array. */
static size_t gks_row_start(const struct gks_gic *g, unsigned int nr_cpus, unsigned int ri)
{
	size_t k = 0;

	for (unsigned int r = 0; r < ri; r++)
		k += (size_t)gks_copies(&g->regs[r], nr_cpus) * g->regs[r].count;
	return k;
}

static size_t gks_nr_values(const struct gks_gic *g, unsigned int nr_cpus)
{
	return gks_row_start(g, nr_cpus, g->nr_regs);
}

size_t gks_pribits_index(const struct gks_gic *g, unsigned int nr_cpus, unsigned int cpu)
{
	for (unsigned int r = 0; r < g->nr_regs; r++)
		if (g->regs[r].flags & GKS_PRIBITS)
			return gks_row_start(g, nr_cpus, r) + (size_t)cpu * g->regs[r].count;
	return SIZE_MAX;
}

/* Register number n of row r exists (only APRs beyond PRIbits do not). */
static bool gks_exists(const struct gks_gic *g, unsigned int nr_cpus, const uint64_t *values,
		       const struct gks_reg *r, unsigned int cpu, unsigned int n)
{
	size_t ci;

	if (!(r->flags & GKS_APR))
		return true;
	ci = gks_pribits_index(g, nr_cpus, cpu);
	return ci != SIZE_MAX && n < gks_nr_aprs(values[ci]);
}

/* The register's name with '#' replaced by n ("GICD_ISENABLER#", 3 -> "GICD_ISENABLER3"). */
static const char *gks_name(const struct gks_reg *r, bool clear, unsigned int n, char *buf, size_t cap)
{
	const char *t = clear ? r->clear_name : r->name;
	const char *hash = strchr(t, '#');

	if (r->space == GKS_V3_LEVEL)
		snprintf(buf, cap, "line levels of INTIDs %u-%u", n * 32u, n * 32u + 31u);
	else if (hash)
		snprintf(buf, cap, "%.*s%u%s", (int)(hash - t), t, n, hash + 1);
	else
		snprintf(buf, cap, "%s", t);
	return buf;
}

/* VGIC MPIDR field: Aff3 in 31:24, Aff2 23:16, Aff1 15:8, Aff0 7:0, shifted to attr bits 63:32. */
static uint64_t gks_mpidr_attr(uint64_t mpidr)
{
	uint64_t aff = (mpidr & 0xffffffull) | ((mpidr >> 32) & 0xffull) << 24;

	return aff << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

static uint32_t gks_group(enum gks_space s)
{
	switch (s) {
	case GKS_V2_DIST:
	case GKS_V3_DIST: return KVM_DEV_ARM_VGIC_GRP_DIST_REGS;
	case GKS_V2_CPU: return KVM_DEV_ARM_VGIC_GRP_CPU_REGS;
	case GKS_V3_REDIST: return KVM_DEV_ARM_VGIC_GRP_REDIST_REGS;
	case GKS_V3_SYSREG: return KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS;
	case GKS_V3_LEVEL: return KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO;
	}
	return 0;
}

/* The attr of register n of row r for vCPU cpu (word: 0 low, 1 high word of a 64-bit register). */
static uint64_t gks_attr(const struct irqchip *ic, const struct gks_reg *r, bool clear, unsigned int cpu,
			 unsigned int n, unsigned int word)
{
	uint64_t base = clear ? r->clear_base : r->base;

	switch (r->space) {
	case GKS_V2_DIST:
	case GKS_V2_CPU:
		return (uint64_t)cpu << KVM_DEV_ARM_VGIC_CPUID_SHIFT | (base + n * 4ull);
	case GKS_V3_DIST:
		return (r->flags & GKS_64BIT) ? base + n * 8ull + word * 4ull : base + n * 4ull;
	case GKS_V3_REDIST:
		return gks_mpidr_attr(ic->mpidrs[cpu]) |
		       ((r->flags & GKS_64BIT) ? base + n * 8ull + word * 4ull : base + n * 4ull);
	case GKS_V3_SYSREG:
		return gks_mpidr_attr(ic->mpidrs[cpu]) | ((base + n) & KVM_DEV_ARM_VGIC_SYSREG_INSTR_MASK);
	case GKS_V3_LEVEL:
		return gks_mpidr_attr(ic->mpidrs[cpu]) |
		       (uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT | (n * 32ull);
	}
	return 0;
}

/* One attribute access; on failure one error line naming GIC, register and vCPU. */
static int gks_access(const struct gks_gic *g, const struct irqchip *ic, bool set, const struct gks_reg *r,
		      bool clear, unsigned int cpu, unsigned int n, unsigned int word, void *val)
{
	struct kvm_device_attr a = {
		.group = gks_group(r->space),
		.attr = gks_attr(ic, r, clear, cpu, n, word),
		.addr = (uint64_t)(uintptr_t)val,
	};
	char name[64], of_cpu[24] = "";

	if (ioctl(ic->dev_fd, set ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR, &a) == 0)
		return 0;
	int err = errno;
	if (r->flags & GKS_BANKED)
		snprintf(of_cpu, sizeof(of_cpu), " of vCPU %u", cpu);
	pr_err("%s %s %s%s%s failed: %s%s", set ? "restoring" : "saving", g->name,
	       gks_name(r, clear, n, name, sizeof(name)), (r->flags & GKS_64BIT) ? (word ? " (high word)" : " (low word)") : "",
	       of_cpu, strerror(err),
	       err == EBUSY ? " (a vCPU is still running, or the vGIC is not initialised)"
	       : err == ENXIO ? " (this host's KVM does not offer this register)"
	       : err == EINVAL && set ? " (KVM refused the saved value: snapshot from an incompatible host?)"
	       : "");
	return -err;
}

int gks_get(const struct gks_gic *g, const struct irqchip *ic, const struct gks_reg *r, unsigned int cpu,
	    unsigned int n, uint64_t *val)
{
	uint32_t w[2] = { 0, 0 };
	int ret;

	if (r->space == GKS_V3_SYSREG) {
		*val = 0;
		return gks_access(g, ic, false, r, false, cpu, n, 0, val);	/* a u64 attribute */
	}
	ret = gks_access(g, ic, false, r, false, cpu, n, 0, &w[0]);
	if (!ret && (r->flags & GKS_64BIT))
		ret = gks_access(g, ic, false, r, false, cpu, n, 1, &w[1]);
	*val = (uint64_t)w[1] << 32 | w[0];
	return ret;
}

static int gks_set(const struct gks_gic *g, const struct irqchip *ic, const struct gks_reg *r, bool clear,
		   unsigned int cpu, unsigned int n, uint64_t val)
{
	uint32_t lo = (uint32_t)val, hi = (uint32_t)(val >> 32);
	int ret;

	if (r->space == GKS_V3_SYSREG)
		return gks_access(g, ic, true, r, clear, cpu, n, 0, &val);
	ret = gks_access(g, ic, true, r, clear, cpu, n, 0, &lo);
	if (!ret && (r->flags & GKS_64BIT))
		ret = gks_access(g, ic, true, r, clear, cpu, n, 1, &hi);
	return ret;
}

int gks_save(const struct gks_gic *g, struct irqchip *ic, struct snap_buf *b)
{
	size_t nr = gks_nr_values(g, ic->nr_cpus), k = 0;
	uint64_t *values;
	int ret = 0;

	values = calloc(nr ? nr : 1, sizeof(*values));
	if (!values) {
		pr_err("saving %s: out of memory", g->name);
		return -ENOMEM;
	}
	for (unsigned int ri = 0; ri < g->nr_regs && !ret; ri++) {
		const struct gks_reg *r = &g->regs[ri];
		for (unsigned int cpu = 0; cpu < gks_copies(r, ic->nr_cpus) && !ret; cpu++)
			for (unsigned int i = 0; i < r->count && !ret; i++, k++)
				if (gks_exists(g, ic->nr_cpus, values, r, cpu, r->first + i))
					ret = gks_get(g, ic, r, cpu, r->first + i, &values[k]);
	}
	if (!ret) {
		snap_put_u32(b, ic->nr_cpus);
		snap_put_u32(b, IRQCHIP_NR_IRQS);
		k = 0;
		for (unsigned int ri = 0; ri < g->nr_regs; ri++) {
			const struct gks_reg *r = &g->regs[ri];
			size_t n = (size_t)gks_copies(r, ic->nr_cpus) * r->count;
			for (size_t j = 0; j < n; j++, k++) {
				if (gks_is_u64(r))
					snap_put_u64(b, values[k]);
				else
					snap_put_u32(b, (uint32_t)values[k]);
			}
		}
	}
	free(values);
	return ret;
}

int gks_parse(const struct gks_gic *g, unsigned int nr_cpus, struct snap_cursor *c, uint64_t **out)
{
	char what[48];
	uint32_t saved_cpus = snap_get_u32(c), saved_irqs = snap_get_u32(c);
	size_t nr = gks_nr_values(g, nr_cpus), k = 0;
	uint64_t *values;

	*out = NULL;
	snprintf(what, sizeof(what), "snapshot %s state", g->name);
	if (c->err) {
		snap_cursor_done(c, what);
		return -EINVAL;
	}
	if (saved_cpus != nr_cpus) {
		pr_err("snapshot %s state is for %u vCPUs, this VM has %u", g->name, saved_cpus, nr_cpus);
		return -EINVAL;
	}
	if (saved_irqs != IRQCHIP_NR_IRQS) {
		pr_err("snapshot %s state has %u interrupt lines, armvmm's GIC has %u", g->name, saved_irqs,
		       IRQCHIP_NR_IRQS);
		return -EINVAL;
	}
	values = calloc(nr ? nr : 1, sizeof(*values));
	if (!values) {
		pr_err("restoring %s: out of memory", g->name);
		return -ENOMEM;
	}
	for (unsigned int ri = 0; ri < g->nr_regs && !c->err; ri++) {
		const struct gks_reg *r = &g->regs[ri];
		size_t n = (size_t)gks_copies(r, nr_cpus) * r->count;
		for (size_t j = 0; j < n && !c->err; j++, k++)
			values[k] = gks_is_u64(r) ? snap_get_u64(c) : snap_get_u32(c);
	}
	if (c->err) {
		snap_cursor_done(c, what);	/* says the payload is cut short */
		free(values);
		return -EINVAL;
	}
	/* A register that does not exist (an APR beyond PRIbits) must have been saved as 0. */
	k = 0;
	for (unsigned int ri = 0; ri < g->nr_regs; ri++) {
		const struct gks_reg *r = &g->regs[ri];
		for (unsigned int cpu = 0; cpu < gks_copies(r, nr_cpus); cpu++)
			for (unsigned int i = 0; i < r->count; i++, k++) {
				char name[64];
				if (values[k] == 0 || gks_exists(g, nr_cpus, values, r, cpu, r->first + i))
					continue;
				pr_err("snapshot %s state: %s of vCPU %u is set, but its priority bits give it no such register",
				       g->name, gks_name(r, false, r->first + i, name, sizeof(name)), cpu);
				free(values);
				return -EINVAL;
			}
	}
	*out = values;
	return 0;
}

/* In the order described at the top. */
int gks_apply(const struct gks_gic *g, struct irqchip *ic, const uint64_t *values)
{
	size_t k = 0;
	int ret = 0;

	for (unsigned int ri = 0; ri < g->nr_regs && !ret; ri++) {
		const struct gks_reg *r = &g->regs[ri];
		for (unsigned int cpu = 0; cpu < gks_copies(r, ic->nr_cpus) && !ret; cpu++)
			for (unsigned int i = 0; i < r->count && !ret; i++, k++) {
				unsigned int n = r->first + i;
				uint64_t v = values[k];
				if (!gks_exists(g, ic->nr_cpus, values, r, cpu, n))
					continue;
				if (r->clear_name)
					ret = gks_set(g, ic, r, true, cpu, n, 0xffffffffu);
				if (!ret && (r->flags & GKS_NO_SGI) && n == 0)
					v &= ~((1ull << GIC_NR_SGIS) - 1u);
				if (!ret)
					ret = gks_set(g, ic, r, false, cpu, n, v);
			}
	}
	return ret;
}
