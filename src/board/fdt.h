/* The guest's device tree, built with libfdt's sequential-write API. */
#ifndef ARMVMM_FDT_H
#define ARMVMM_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct irqchip;

struct fdt_params {
	uint64_t ram_base, ram_size;
	unsigned int nr_cpus;
	const uint64_t *mpidrs;		/* MPIDR_EL1 of each vCPU, as KVM reports it */
	const struct irqchip *irqchip;
	const char *bootargs;
	uint64_t initrd_addr, initrd_size;	/* size 0: no initrd */
	uint64_t uart_base;
	unsigned int uart_spi;
	bool rtc;			/* a PL031 at rtc_base */
	uint64_t rtc_base;
	unsigned int rtc_spi;
	unsigned int nr_virtio;		/* virtio-mmio transports */
	const uint64_t *virtio_bases;
	const unsigned int *virtio_spis;
};

/*
 * Open a device node "name@base" with compatible (compat_len bytes, so lists
 * with embedded NULs work), reg = <base size> and interrupts = <SPI spi type>.
 * The caller adds any further properties and closes it with fdt_end_node().
 * Returns 0 or -ENOSPC.
 */
int fdt_begin_mmio_device(void *fdt, const char *name, const char *compatible, size_t compat_len, uint64_t base,
			  uint64_t size, unsigned int spi, uint32_t irq_type);
#define IRQ_TYPE_EDGE_RISING 1u
#define IRQ_TYPE_LEVEL_HIGH 4u

/* Build the DTB into buf (bufsize bytes); returns its size or -errno. */
int fdt_build(const struct fdt_params *p, void *buf, size_t bufsize);

/*
 * The kernel command line: the user's parameters, with default_console
 * ("console=ttyS0 earlycon", or "console=hvc0" for a virtio console) in front
 * unless they already choose a console. Returns a malloc'd string.
 */
char *fdt_make_bootargs(const char *user_params, const char *default_console);

#endif
