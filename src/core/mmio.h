/*
 * The MMIO bus: a fixed table of guest-physical ranges owned by userspace
 * devices. A KVM_EXIT_MMIO is looked up here; nothing else decodes addresses.
 */
#ifndef ARMVMM_MMIO_H
#define ARMVMM_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#define MMIO_MAX_REGIONS 32

/* off is relative to the region base; len is 1, 2, 4 or 8; data is little-endian. */
typedef void mmio_read_fn(void *dev, uint64_t off, uint8_t *data, unsigned int len);
typedef void mmio_write_fn(void *dev, uint64_t off, const uint8_t *data, unsigned int len);

struct mmio_region {
	uint64_t base, size;
	const char *name;
	void *dev;
	mmio_read_fn *read;
	mmio_write_fn *write;
};

struct mmio_bus {
	struct mmio_region regions[MMIO_MAX_REGIONS];
	unsigned int count;
};

int mmio_bus_add(struct mmio_bus *bus, const struct mmio_region *r);
/* Returns false when nothing is mapped there (reads then return zeros). */
bool mmio_bus_access(const struct mmio_bus *bus, uint64_t addr, uint8_t *data, unsigned int len,
		     bool is_write);

#endif
