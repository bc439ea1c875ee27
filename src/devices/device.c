/* The device list (device.h). */
#include "devices/device.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>

#include "core/log.h"

struct device *device_register(struct device_list *l, const struct device_ops *ops, void *priv)
{
	struct device *d;
	unsigned int same = 0;

	if (l->count == DEVICE_MAX) {
		pr_err("%s: too many devices (at most %u)", ops->name, DEVICE_MAX);
		return NULL;
	}
	for (unsigned int i = 0; ops->snap_tag && i < l->count; i++)
		same += l->dev[i].ops->snap_tag == ops->snap_tag;
	d = &l->dev[l->count++];
	*d = (struct device){ .ops = ops, .instance = same, .priv = priv };
	return d;
}

struct device *device_find_section(const struct device_list *l, uint32_t tag, unsigned int instance)
{
	for (unsigned int i = 0; tag && i < l->count; i++) {
		const struct device *d = &l->dev[i];
		if (d->ops->snap_tag == tag && d->instance == instance)
			return (struct device *)d;
	}
	return NULL;
}

void device_list_destroy(struct device_list *l)
{
	while (l->count > 0) {
		struct device *d = &l->dev[--l->count];
		if (d->ops->destroy)
			d->ops->destroy(d);
	}
}

int fdt_begin_mmio_device(void *fdt, const char *name, const char *compatible, size_t compat_len, uint64_t base,
			  uint64_t size, unsigned int spi, uint32_t irq_type)
{
	uint64_t reg[] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
	uint32_t irq[] = { cpu_to_fdt32(GIC_FDT_SPI), cpu_to_fdt32(spi), cpu_to_fdt32(irq_type) };
	char node[64];
	int ret = 0;

	snprintf(node, sizeof(node), "%s@%llx", name, (unsigned long long)base);
	ret |= fdt_begin_node(fdt, node);
	ret |= fdt_property(fdt, "compatible", compatible, (int)compat_len);
	ret |= fdt_property(fdt, "reg", reg, sizeof(reg));
	ret |= fdt_property(fdt, "interrupts", irq, sizeof(irq));
	return ret ? -ENOSPC : 0;
}
