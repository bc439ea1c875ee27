/* The guest's device tree, built with libfdt's sequential-write API. */
#ifndef ARMVMM_FDT_H
#define ARMVMM_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct device_list;
struct irqchip;

struct fdt_params {
	uint64_t ram_base, ram_size;
	unsigned int nr_cpus;
	const uint64_t *mpidrs;		/* MPIDR_EL1 of each vCPU, as KVM reports it */
	const struct irqchip *irqchip;
	const char *bootargs;
	uint64_t initrd_addr, initrd_size;	/* size 0: no initrd */
	uint64_t stdout_base;		/* /chosen/stdout-path: the serial port at this address */
	const struct device_list *devices;	/* each adds its own node(s) */
};

/* Build the DTB into buf (bufsize bytes); returns its size or -errno. */
int fdt_build(const struct fdt_params *p, void *buf, size_t bufsize);

/*
 * The kernel command line: the user's parameters, with default_console
 * ("console=ttyS0 earlycon", or "console=hvc0" for a virtio console) in front
 * unless they already choose a console; default_console NULL (--nodefaults):
 * exactly the user's parameters (NULL: empty). Returns a malloc'd string.
 */
char *fdt_make_bootargs(const char *user_params, const char *default_console);

#endif
