/*
 * The kernel's vhost devices (/dev/vhost-net, /dev/vhost-vsock) working a
 * device's virtqueues in the kernel (Documentation: include/uapi/linux/vhost.h).
 * armvmm owns the vhost fd and tells it where guest RAM is (one region) and
 * where each ring lies; the kernel then takes the queue's kicks from an
 * eventfd (KVM's ioeventfd for the notify register) and signals used buffers
 * on another (KVM's irqfd for the device's SPI, or one armvmm reads when the
 * irqchip is the userspace model). Shared by virtio-net and virtio-vsock.
 */
#ifndef ARMVMM_VHOST_H
#define ARMVMM_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/memory.h"
#include "devices/virtqueue.h"

struct vhost {
	int fd;			/* -1: not open */
	const char *what;	/* for messages: "virtio-net 0 (tap0)" */
	uint64_t features;	/* what the kernel offers (VHOST_GET_FEATURES) */
	bool log;		/* the kernel logs its writes to guest RAM (a migration's pre-copy) */
};

/*
 * Open dev (/dev/vhost-net...), become its owner (VHOST_SET_OWNER), read its
 * features and give it guest RAM (VHOST_SET_MEM_TABLE). 0, or -errno with
 * errno's reason for the caller's one line (nothing printed: the caller knows
 * what to advise).
 */
int vhost_open(struct vhost *v, const char *dev, const char *what, const struct guest_mem *mem);
/* VHOST_SET_FEATURES (with VHOST_F_LOG_ALL while logging). 0 or -errno after one error line. */
int vhost_set_features(struct vhost *v, uint64_t features);
/*
 * Hand queue idx to the kernel: size, next avail index (q->last_avail_idx),
 * ring addresses (host virtual, looked up in mem), kick and call eventfds.
 * 0, or -errno after one error line.
 */
int vhost_start_vring(struct vhost *v, unsigned int idx, const struct virtq *q, const struct guest_mem *mem,
		      int kick_fd, int call_fd);
/* The next avail index the kernel would take (VHOST_GET_VRING_BASE); 0 or -errno after one error line. */
int vhost_vring_base(struct vhost *v, unsigned int idx, uint16_t *base);

/*
 * A virtio device's queues 0..nr-1 to the kernel and back. take: every
 * queue must be ready (-ENODEV, no message, when one is not: the caller says
 * what it needed); each ring goes to the kernel with kick_fds[q], and as its
 * call the transport's irqfd when there is one (InterruptStatus then reads
 * the used bit set: the kernel signals past it) or call_fds[q], which the
 * caller reads (virtio_mmio_used_signal_cb). give_back: the transport learns
 * where the kernel got to (VHOST_GET_VRING_BASE and the used index in the
 * ring), and a call the caller had not read yet is raised, so it is not
 * lost. The kernel must have stopped working the rings first (a vhost-net
 * backend detached, vhost-vsock not running).
 */
struct virtio_mmio;
int vhost_take_queues(struct vhost *v, struct virtio_mmio *t, unsigned int nr, const int *kick_fds,
		      const int *call_fds);
void vhost_give_back_queues(struct vhost *v, struct virtio_mmio *t, unsigned int nr, const int *call_fds);
/*
 * Logging for a migration (on), or its end: the kernel marks every page of
 * guest RAM it writes (buffers, used rings) in the tracking bitmap of t's
 * memory (guest_mem_track: one bit per 4 KiB page from mem->gpa, u64 words,
 * updated atomically on both sides), which the migration collects with its
 * own marks. on: the bitmap must exist; 4 KiB host pages only (-ENOTSUP after
 * one line otherwise). When the kernel has the nr rings (running), features
 * (the driver's, VHOST_F_LOG_ALL added while logging) and ring addresses are
 * set again at once; otherwise they take effect at the next start. 0 or
 * -errno after one error line.
 */
int vhost_track(struct vhost *v, struct virtio_mmio *t, unsigned int nr, uint64_t features, bool running, bool on);
/* vhost-net: the tap (fd, or -1 to detach) both queues move frames to and from. 0 or -errno after one line. */
int vhost_net_set_backend(struct vhost *v, unsigned int nr_queues, int fd);
/* vhost-vsock: the guest's CID (-errno, no message: EADDRINUSE means another VM has it) and running or not. */
int vhost_vsock_set_cid(struct vhost *v, uint64_t cid);
int vhost_vsock_set_running(struct vhost *v, bool on);
void vhost_close(struct vhost *v);

#endif
