#include "core/mmio.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"

int mmio_bus_add(struct mmio_bus *bus, const struct mmio_region *r)
{
	if (bus->count == MMIO_MAX_REGIONS || r->size == 0 || r->base + r->size < r->base)
		return -EINVAL;
	for (unsigned int i = 0; i < bus->count; i++) {
		const struct mmio_region *o = &bus->regions[i];
		if (r->base < o->base + o->size && o->base < r->base + r->size) {
			pr_err("MMIO region %s overlaps %s", r->name, o->name);
			return -EEXIST;
		}
	}
	bus->regions[bus->count++] = *r;
	return 0;
}

bool mmio_bus_access(const struct mmio_bus *bus, uint64_t addr, uint8_t *data, unsigned int len,
		     bool is_write)
{
	if (len == 0 || len > 8)
		return false;
	for (unsigned int i = 0; i < bus->count; i++) {
		const struct mmio_region *r = &bus->regions[i];
		/* The whole access must lie inside the region: no straddling into a neighbour. */
		if (addr < r->base || addr - r->base >= r->size || len > r->size - (addr - r->base))
			continue;
		if (is_write)
			r->write(r->dev, addr - r->base, data, len);
		else
			r->read(r->dev, addr - r->base, data, len);
		return true;
	}
	if (!is_write)
		memset(data, 0, len);
	pr_debug("guest %s of %u bytes at unmapped address 0x%llx ignored", is_write ? "write" : "read",
		 len, (unsigned long long)addr);
	return false;
}
