#include "board/fdt.h"

#include <errno.h>
#include <stdbool.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "devices/device.h"
#include "irqchip/irqchip.h"

/* The affinity fields of MPIDR_EL1 (Aff3 in 39:32, Aff2..0 in 23:0), as cpu reg. */
#define MPIDR_AFFINITY_MASK 0xff00ffffffull

char *fdt_make_bootargs(const char *user_params, const char *defaults)
{
	const char *user = user_params ? user_params : "";
	bool has_console = strstr(user, "console=") != NULL;
	size_t len = (defaults ? strlen(defaults) : 0) + strlen(user) + 2;
	char *s = malloc(len);

	if (!s)
		return NULL;
	/* No defaults (--nodefaults): the user's line byte for byte, as kvmtool passes it. */
	if (has_console || !defaults)
		snprintf(s, len, "%s", user);
	else
		snprintf(s, len, "%s%s%s", defaults, *user ? " " : "", user);
	return s;
}

static int fdt_cpus(void *fdt, const struct fdt_params *p)
{
	bool wide = false;
	int ret = 0;

	for (unsigned int i = 0; i < p->nr_cpus; i++)
		wide |= (p->mpidrs[i] & MPIDR_AFFINITY_MASK) >> 32 != 0;
	ret |= fdt_begin_node(fdt, "cpus");
	ret |= fdt_property_cell(fdt, "#address-cells", wide ? 2 : 1);
	ret |= fdt_property_cell(fdt, "#size-cells", 0);
	for (unsigned int i = 0; i < p->nr_cpus; i++) {
		uint64_t aff = p->mpidrs[i] & MPIDR_AFFINITY_MASK;
		char name[32];

		snprintf(name, sizeof(name), "cpu@%llx", (unsigned long long)aff);
		ret |= fdt_begin_node(fdt, name);
		ret |= fdt_property_string(fdt, "device_type", "cpu");
		ret |= fdt_property_string(fdt, "compatible", "arm,arm-v8");
		ret |= fdt_property_string(fdt, "enable-method", "psci");
		if (wide)
			ret |= fdt_property_u64(fdt, "reg", aff);
		else
			ret |= fdt_property_cell(fdt, "reg", (uint32_t)aff);
		ret |= fdt_end_node(fdt);
	}
	ret |= fdt_end_node(fdt);
	return ret;
}

static int fdt_timer(void *fdt, const struct fdt_params *p)
{
	/* GICv2 PPI specifiers carry a mask of the CPUs the PPI is wired to (bits 15:8). */
	uint32_t flags = IRQ_TYPE_LEVEL_HIGH;
	if (irqchip_is_gicv2(p->irqchip->type))
		flags |= ((1u << (p->nr_cpus > GICV2_MAX_CPUS ? GICV2_MAX_CPUS : p->nr_cpus)) - 1) << 8;
	/* Secure physical, non-secure physical, virtual, hypervisor physical timer PPIs. */
	const uint32_t ppis[] = { 13, 14, 11, 10 };
	uint32_t irqs[12];
	int ret = 0;

	for (unsigned int i = 0; i < 4; i++) {
		irqs[i * 3] = cpu_to_fdt32(GIC_FDT_PPI);
		irqs[i * 3 + 1] = cpu_to_fdt32(ppis[i]);
		irqs[i * 3 + 2] = cpu_to_fdt32(flags);
	}
	ret |= fdt_begin_node(fdt, "timer");
	ret |= fdt_property_string(fdt, "compatible", "arm,armv8-timer");
	ret |= fdt_property(fdt, "interrupts", irqs, sizeof(irqs));
	ret |= fdt_property(fdt, "always-on", NULL, 0);
	ret |= fdt_end_node(fdt);
	return ret;
}

static int fdt_psci(void *fdt)
{
	static const char compat[] = "arm,psci-0.2\0arm,psci";
	int ret = 0;

	ret |= fdt_begin_node(fdt, "psci");
	ret |= fdt_property(fdt, "compatible", compat, sizeof(compat));
	ret |= fdt_property_string(fdt, "method", "hvc");
	ret |= fdt_end_node(fdt);
	return ret;
}

static int fdt_chosen(void *fdt, const struct fdt_params *p)
{
	char stdout_path[48];
	int ret = 0;

	snprintf(stdout_path, sizeof(stdout_path), "/serial@%llx", (unsigned long long)p->stdout_base);
	ret |= fdt_begin_node(fdt, "chosen");
	ret |= fdt_property_string(fdt, "bootargs", p->bootargs ? p->bootargs : "");
	ret |= fdt_property_string(fdt, "stdout-path", stdout_path);
	if (p->initrd_size) {
		ret |= fdt_property_u64(fdt, "linux,initrd-start", p->initrd_addr);
		ret |= fdt_property_u64(fdt, "linux,initrd-end", p->initrd_addr + p->initrd_size);
	}
	ret |= fdt_end_node(fdt);
	return ret;
}

static int fdt_memory(void *fdt, const struct fdt_params *p)
{
	uint64_t reg[] = { cpu_to_fdt64(p->ram_base), cpu_to_fdt64(p->ram_size) };
	char name[32];
	int ret = 0;

	snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)p->ram_base);
	ret |= fdt_begin_node(fdt, name);
	ret |= fdt_property_string(fdt, "device_type", "memory");
	ret |= fdt_property(fdt, "reg", reg, sizeof(reg));
	ret |= fdt_end_node(fdt);
	return ret;
}

int fdt_build(const struct fdt_params *p, void *buf, size_t bufsize)
{
	void *fdt = buf;
	int ret = 0;

	if (fdt_create(fdt, (int)bufsize) != 0)
		return -ENOSPC;
	ret |= fdt_finish_reservemap(fdt);
	ret |= fdt_begin_node(fdt, "");
	ret |= fdt_property_string(fdt, "compatible", "linux,dummy-virt");
	ret |= fdt_property_string(fdt, "model", "armvmm");
	ret |= fdt_property_cell(fdt, "#address-cells", 2);
	ret |= fdt_property_cell(fdt, "#size-cells", 2);
	ret |= fdt_property_cell(fdt, "interrupt-parent", GIC_PHANDLE);
	ret |= fdt_chosen(fdt, p);
	ret |= fdt_memory(fdt, p);
	ret |= fdt_cpus(fdt, p);
	ret |= fdt_psci(fdt);
	ret |= fdt_timer(fdt, p);
	ret |= irqchip_fdt_node(p->irqchip, fdt);
	for (unsigned int i = 0; p->devices && i < p->devices->count; i++) {
		const struct device *d = &p->devices->dev[i];
		if (d->ops->fdt_node)
			ret |= d->ops->fdt_node(d, fdt);
	}
	ret |= fdt_end_node(fdt);
	ret |= fdt_finish(fdt);
	if (ret) {
		pr_err("building the device tree failed: it does not fit in %zu bytes", bufsize);
		return -ENOSPC;
	}
	return (int)fdt_totalsize(fdt);
}
