/*
 * The device list. Every device the board creates registers one entry: its
 * name, its device-tree node, its snapshot section and how to save, restore
 * and destroy it. The device tree, snapshots and teardown walk this list; none
 * of them names a device.
 *
 * A device's create function takes a struct device_ctx (what the machine
 * offers it) plus its own parameters, which the board chooses (address, SPI,
 * backing file...), and registers itself with device_register().
 */
#ifndef ARMVMM_DEVICE_H
#define ARMVMM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct device;
struct eventloop;
struct guest_mem;
struct irqchip;
struct mmio_bus;
struct snap_buf;
struct snap_cursor;

struct device_ops {
	const char *name;		/* for messages: "uart", "pl031", "virtio-mmio" */
	/*
	 * The tag (SNAP_TAG) of the device's snapshot section, 0 if it keeps no
	 * state; the section's instance is the device's d->instance.
	 */
	uint32_t snap_tag;
	/* Its node(s) in the guest's device tree, at the root level (NULL: none). */
	int (*fdt_node)(const struct device *d, void *fdt);
	/*
	 * The irqchip is initialised (an in-kernel one's KVM_DEV_ARM_VGIC_CTRL_INIT
	 * done): irqfds may be bound now. 0, or -errno after one error line (the
	 * machine cannot be built).
	 */
	int (*irqchip_ready)(struct device *d);
	/*
	 * Snapshots (each may be NULL). quiesce: finish work in flight, every vCPU
	 * paused, before anything is saved. save: append the state to b. restore:
	 * validate and load, all or nothing (-EINVAL after one error line).
	 * restored: every device's state is back; catch up on anything that may
	 * have been missed at save time (a queue notification, say), start what
	 * runs on its own.
	 */
	void (*quiesce)(struct device *d);
	/* After quiesce: make what the device wrote to host files durable (fdatasync). 0 or -errno after one error line. */
	int (*sync)(struct device *d);
	void (*save)(struct device *d, struct snap_buf *b);
	int (*restore)(struct device *d, struct snap_cursor *c);
	void (*restored)(struct device *d);
	/* After quiesce and save: the VM goes on (or is about to end); take up work again. */
	void (*resume)(struct device *d);
	/*
	 * Handing the VM to another armvmm (migration), each may be NULL.
	 * release: the VM is paused and its state captured; give up what only
	 * one process may hold (a disk's lock). acquire: take it, on the
	 * destination before its state is restored, or on the source again when
	 * the migration failed. 0 or -errno after one error line.
	 */
	int (*release)(struct device *d);
	int (*acquire)(struct device *d);
	/*
	 * A migration's pre-copy tracks writes to guest RAM (on), or stopped (off):
	 * a device whose writes armvmm cannot mark itself (the kernel's vhost)
	 * logs them into the tracking bitmap. 0 or -errno after one error line.
	 */
	int (*track)(struct device *d, bool on);
	/* Every thread that could call the device has stopped: free it. */
	void (*destroy)(struct device *d);
};

struct device {
	const struct device_ops *ops;
	unsigned int instance;	/* how many devices with the same snap_tag registered before this one */
	void *priv;		/* the device's own struct */
};

#define DEVICE_MAX 32u

struct device_list {
	struct device dev[DEVICE_MAX];
	unsigned int count;
};

/* What the machine offers a device being created. */
struct console_out;
struct device_ctx {
	const struct guest_mem *mem;
	struct mmio_bus *bus;
	struct eventloop *loop;		/* the main thread's */
	struct irqchip *irqchip;
	int vm_fd;			/* -1 without KVM (--dump-dtb on a host without /dev/kvm, unit tests) */
	struct device_list *devices;
	struct console_out *console;	/* the guest console's output (never a blocking host write) */
	bool restoring;			/* built for a snapshot: a host resource another process still holds may be taken later */
	bool describe_only;		/* --dump-dtb: the device's node is all that is needed, no host resources (taps, vhost) */
};

/* Add a device; returns its entry, or NULL after one error line when the list is full. */
struct device *device_register(struct device_list *l, const struct device_ops *ops, void *priv);
/* The device whose snapshot section is (tag, instance), or NULL. */
struct device *device_find_section(const struct device_list *l, uint32_t tag, unsigned int instance);
/* Destroy every device, newest first, and empty the list. */
void device_list_destroy(struct device_list *l);

/*
 * Open a device-tree node "name@base" with compatible (compat_len bytes, so
 * lists with embedded NULs work), reg = <base size> and interrupts = <SPI spi
 * type>. The caller adds any further properties and closes it with
 * fdt_end_node(). Returns 0 or -ENOSPC.
 */
int fdt_begin_mmio_device(void *fdt, const char *name, const char *compatible, size_t compat_len, uint64_t base,
			  uint64_t size, unsigned int spi, uint32_t irq_type);
#define IRQ_TYPE_EDGE_RISING 1u
#define IRQ_TYPE_LEVEL_HIGH 4u
/* Interrupt specifier cells for the GIC binding. */
#define GIC_FDT_SPI 0u
#define GIC_FDT_PPI 1u

#endif
