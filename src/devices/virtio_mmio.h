/*
 * The virtio-mmio transport (virtio 1.x, section 4.2, register layout version 2).
 * One struct virtio_mmio per device instance; the device type plugs in through
 * struct virtio_device_ops. Register accesses come from vCPU threads; queue
 * notifications come from a vCPU thread or, with ioeventfd, the event loop.
 * The transport lock guards st; device code runs with it held only in the
 * callbacks documented as such below.
 */
#ifndef ARMVMM_VIRTIO_MMIO_H
#define ARMVMM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/state.h"
#include "devices/virtqueue.h"

#define VIRTIO_MMIO_SIZE 0x200u
#define VIRTIO_MAX_QUEUES 4u
#define VIRTIO_MMIO_SNAP_TAG SNAP_TAG('V', 'I', 'R', 'T')

/* Register offsets the transport handles outside its register table (virtio 1.x, 4.2.2). */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050u
#define VIRTIO_MMIO_STATUS 0x070u

/* Device status bits (virtio 1.x, 2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

#define VIRTIO_F_VERSION_1 (1ull << 32)

#define VIRTIO_INT_USED 1u
#define VIRTIO_INT_CONFIG 2u

struct virtio_mmio;
struct irqchip;
struct snap_buf;
struct snap_cursor;

struct virtio_device_ops {
	const char *name;
	uint32_t device_id;
	unsigned int num_queues;
	uint64_t features;	/* offered on top of VIRTIO_F_VERSION_1 */
	uint32_t config_size;
	/* Device config space; off + len <= config_size is checked by the transport. Lock held. */
	void (*config_read)(struct virtio_mmio *t, uint32_t off, uint8_t *data, unsigned int len);
	void (*config_write)(struct virtio_mmio *t, uint32_t off, const uint8_t *data, unsigned int len);
	/* The driver kicked queue q (q < num_queues, the queue is ready, DRIVER_OK set). Lock NOT held. */
	void (*queue_notify)(struct virtio_mmio *t, unsigned int q);
	/* The driver wrote 0 to Status: drop in-flight work before returning. Lock NOT held. */
	void (*reset)(struct virtio_mmio *t);
	/* The VM is going away (every thread that could call the device has stopped): free t->dev. */
	void (*destroy)(struct virtio_mmio *t);
	/*
	 * Snapshots (each may be NULL). quiesce: finish every request in flight
	 * (used entries pushed) before anything is saved; no new work arrives until
	 * the VM resumes. save/restore: the device's own state, after the
	 * transport's; restore validates what it reads (-EINVAL after one error line).
	 * Lock NOT held. restore gets the rest of the payload: it reads all of it,
	 * calls snap_cursor_done() and changes the device only once that and its
	 * own checks passed; the transport commits its state after restore returns 0.
	 */
	void (*quiesce)(struct virtio_mmio *t);
	int (*sync)(struct virtio_mmio *t);	/* as struct device_ops */
	void (*save)(struct virtio_mmio *t, struct snap_buf *b);
	int (*restore)(struct virtio_mmio *t, struct snap_cursor *c);
	/* After quiesce and save: the VM goes on (or ends); take up the work again. Lock NOT held. */
	void (*resume)(struct virtio_mmio *t);
	/*
	 * The driver set DRIVER_OK (every queue it uses is set up, features are
	 * final), or a restore brought back a device with DRIVER_OK set: start
	 * the data path. Lock NOT held. Devices without it work from queue_notify.
	 */
	void (*start)(struct virtio_mmio *t);
	/*
	 * Queues (bit q) whose notifications the device takes itself, on its own
	 * thread or in the kernel (vhost): the main loop leaves their ioeventfds
	 * alone and the device reads them (virtio_mmio_notify_fd). Where KVM gave
	 * no ioeventfd, notifications still arrive through queue_notify.
	 */
	uint32_t own_notify;
	int (*release)(struct virtio_mmio *t);	/* as struct device_ops */
	int (*acquire)(struct virtio_mmio *t);
	int (*track)(struct virtio_mmio *t, bool on);
};

/* Transport state: plain data for snapshots. */
struct virtio_mmio_state {
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	struct virtq queues[VIRTIO_MAX_QUEUES];
};

struct virtio_mmio_ioeventfd {
	struct virtio_mmio *t;
	unsigned int queue;
	int fd;			/* -1: none (notifications exit to userspace) */
};

struct virtio_mmio {
	pthread_mutex_t lock;
	struct virtio_mmio_state st;
	const struct virtio_device_ops *ops;
	void *dev;			/* the device's own state */
	const struct guest_mem *mem;
	struct irqchip *irqchip;
	unsigned int spi;
	int irqfd;			/* eventfd routed to the SPI by KVM_IRQFD, or -1 */
	uint64_t base;
	int vm_fd;			/* for KVM_IRQFD (virtio_mmio_create), or -1 */
	struct virtio_mmio_ioeventfd ioeventfds[VIRTIO_MAX_QUEUES];
	/*
	 * The kernel (vhost) signals used buffers straight into the irqfd, past
	 * InterruptStatus: while set, InterruptStatus reads with the used-buffer
	 * bit on, so the driver's handler always looks at its queues.
	 */
	bool used_bit_sticky;
};

/*
 * A transport for device dev at base with SPI spi (the board picks both): MMIO
 * region, an ioeventfd per queue where KVM offers them, and a device list
 * entry, which owns it from then on (its destroy calls ops->destroy). After
 * the irqchip is initialised the entry binds an irqfd to the SPI where it can.
 * NULL after one error line.
 */
struct device_ctx;
struct virtio_mmio *virtio_mmio_create(struct device_ctx *ctx, uint64_t base, unsigned int spi,
				       const struct virtio_device_ops *ops, void *dev);
/* Set up a transport's state (no fds, no bus): what virtio_mmio_create and unit tests start from. */
void virtio_mmio_init(struct virtio_mmio *t, const struct virtio_device_ops *ops, void *dev,
		      const struct guest_mem *mem, struct irqchip *ic, unsigned int spi, uint64_t base);
void virtio_mmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len);
void virtio_mmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len);
/* Deliver a notification for queue q (e.g. from an ioeventfd); same checks as a register write. */
void virtio_mmio_notify(struct virtio_mmio *t, unsigned int q);

/*
 * Device side, any thread. Pop/push take the lock themselves; virtio_mmio_pop()
 * marks the device NEEDS_RESET and returns a negative errno on a malformed ring.
 */
int virtio_mmio_pop(struct virtio_mmio *t, unsigned int q, struct virtq_chain *c);
/* Push one used chain and interrupt the driver if it wants it. */
void virtio_mmio_push(struct virtio_mmio *t, unsigned int q, uint16_t head, uint32_t written);
/* Push without the interrupt, then one interrupt for a batch with virtio_mmio_kick_used(). */
void virtio_mmio_push_quiet(struct virtio_mmio *t, unsigned int q, uint16_t head, uint32_t written);
void virtio_mmio_kick_used(struct virtio_mmio *t, unsigned int q);
void virtio_mmio_config_changed(struct virtio_mmio *t);
/* The device found something it cannot go on with: NEEDS_RESET + config interrupt. */
void virtio_mmio_set_needs_reset(struct virtio_mmio *t, const char *why);
bool virtio_mmio_driver_ok(struct virtio_mmio *t);
uint64_t virtio_mmio_features(struct virtio_mmio *t);	/* negotiated */
/* Give the last n chains taken from queue q back to the avail ring (taken, not used; newest first). */
void virtio_mmio_unpop(struct virtio_mmio *t, unsigned int q, uint16_t n);
/* A copy of queue q's state (false: no such queue). */
bool virtio_mmio_queue(struct virtio_mmio *t, unsigned int q, struct virtq *out);
/*
 * Someone else (vhost) worked the ring: take its next avail index and the
 * used index it wrote to the ring. 0, or -EFAULT when the ring is not in RAM.
 */
int virtio_mmio_sync_queue(struct virtio_mmio *t, unsigned int q, uint16_t last_avail_idx);
/*
 * Ask the driver to notify on queue q (on) or tell it the device is working
 * the ring anyway (off: VIRTQ_USED_F_NO_NOTIFY, a hint). Returns whether
 * avail entries are waiting that the device may take (none while it needs a
 * reset), looked at after the flag is visible: a driver that added one
 * without notifying is not missed.
 */
bool virtio_mmio_want_notify(struct virtio_mmio *t, unsigned int q, bool on);
/* A used buffer was signalled from outside (a vhost call eventfd read by armvmm): interrupt the driver. */
void virtio_mmio_signal_used(struct virtio_mmio *t);
/* Used-buffer interrupts bypass InterruptStatus (vhost into the irqfd): see used_bit_sticky. */
void virtio_mmio_set_used_bit_sticky(struct virtio_mmio *t, bool on);
/* Queue q's ioeventfd (KVM completes the guest's notify write and signals it), or -1. */
int virtio_mmio_notify_fd(const struct virtio_mmio *t, unsigned int q);
/*
 * For a device that takes queues 0..nr-1's notifications itself (own_notify):
 * each queue's ioeventfd, or where KVM gave none an eventfd of the device's
 * own (own[q] true: the device closes it, and its queue_notify writes it).
 * 0, or -errno after one error line.
 */
int virtio_mmio_notify_fds(const struct virtio_mmio *t, unsigned int nr, int *fds, bool *own);
/* An event loop callback (opaque: the transport) for an eventfd that signals used buffers (vhost's call). */
void virtio_mmio_used_signal_cb(void *opaque, int fd, short revents);
/* The eventfd KVM turns into the device's SPI (irqfd), or -1 (no in-kernel irqchip). */
int virtio_mmio_irqfd(const struct virtio_mmio *t);

/*
 * Snapshots: device id, transport state (status, features, selectors,
 * interrupt status, config generation, every queue), then the device's
 * ops->save. Restore checks the device id, queue sizes and ring layouts
 * against guest RAM, then calls ops->restore. -EINVAL after one error line.
 */
void virtio_mmio_save(struct virtio_mmio *t, struct snap_buf *b);
int virtio_mmio_restore(struct virtio_mmio *t, struct snap_cursor *c);
/* After a restore: handle whatever the driver queued (a kick may have been in flight at save time). */
void virtio_mmio_kick_all(struct virtio_mmio *t);

int virtio_mmio_fdt_node(void *fdt, uint64_t base, unsigned int spi);

#endif
