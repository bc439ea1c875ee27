/*
 * Split virtqueues (virtio 1.x, section 2.7), shared by every virtio device.
 *
 * The guest is hostile: every descriptor is copied out of guest memory once,
 * then checked (address and length inside RAM, index below the queue size,
 * chain no longer than the queue, device-readable before device-writable,
 * no indirect descriptors since VIRTIO_F_INDIRECT_DESC is never offered).
 * A malformed ring makes virtq_pop() fail; the device then marks itself
 * NEEDS_RESET. Buffers are handed out as host iovecs into guest RAM; their
 * contents may change under the device at any time, so devices copy headers
 * before trusting them.
 */
#ifndef ARMVMM_VIRTQUEUE_H
#define ARMVMM_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/memory.h"

#define VIRTQ_MAX_SIZE 256u	/* QueueNumMax offered to drivers */
#define VIRTQ_MAX_CHAIN VIRTQ_MAX_SIZE

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY 1u

/* One queue's state: plain data, owned by the virtio-mmio transport, saved in snapshots. */
struct virtq {
	uint16_t num;		/* size the driver chose (power of two, <= VIRTQ_MAX_SIZE) */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail_idx;	/* next avail ring entry the device will take */
	uint16_t used_idx;		/* next used ring entry the device will fill */
};

/* A descriptor chain taken from the avail ring. */
struct virtq_chain {
	uint16_t head;		/* give this back to virtq_push() */
	unsigned int n_out;	/* device-readable buffers: iov[0 .. n_out) */
	unsigned int n_in;	/* device-writable buffers: iov[n_out .. n_out + n_in) */
	uint64_t out_bytes, in_bytes;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Are the three ring areas of a queue inside RAM and aligned? (checked when the driver sets QueueReady) */
int virtq_check_layout(const struct virtq *q, const struct guest_mem *mem);
/* Is there an avail entry the device has not taken? (false on a bad ring too) */
bool virtq_has_avail(const struct virtq *q, const struct guest_mem *mem);
/*
 * Take the next chain: 1 when one was taken, 0 when the ring is empty,
 * -EFAULT / -EINVAL when the ring or a chain is malformed (nothing is taken).
 */
int virtq_pop(struct virtq *q, const struct guest_mem *mem, struct virtq_chain *c);
/* Return a chain with the number of bytes the device wrote into its writable buffers. */
int virtq_push(struct virtq *q, const struct guest_mem *mem, uint16_t head, uint32_t written);
/* The used index in the ring itself (someone else, vhost, may have been pushing). 0 or -EFAULT. */
int virtq_read_used_idx(const struct virtq *q, const struct guest_mem *mem, uint16_t *idx);
/*
 * Tell the driver whether the device wants notifications (VIRTQ_USED_F_NO_NOTIFY
 * clear) while it works the ring on its own: a hint the driver may ignore.
 */
void virtq_set_notify(const struct virtq *q, const struct guest_mem *mem, bool on);
/* After pushing: does the driver want an interrupt (VIRTQ_AVAIL_F_NO_INTERRUPT clear)? */
bool virtq_wants_interrupt(const struct virtq *q, const struct guest_mem *mem);

/* Copy helpers across a chain's iovecs (bounded by what the chain holds). */
size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t skip, const void *buf, size_t len);

#endif
