#include "devices/virtqueue.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "core/log.h"

/* Split ring layout (virtio 1.x 2.7): little-endian, which the arm64 host is too. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define AVAIL_FLAGS 0u
#define AVAIL_IDX 2u
#define AVAIL_RING 4u
#define USED_FLAGS 0u
#define USED_IDX 2u
#define USED_RING 4u

static uint64_t desc_size(uint16_t num) { return 16ull * num; }
static uint64_t avail_size(uint16_t num) { return 6ull + 2ull * num; }
static uint64_t used_size(uint16_t num) { return 6ull + 8ull * num; }

int virtq_check_layout(const struct virtq *q, const struct guest_mem *mem)
{
	if (q->num == 0 || q->num > VIRTQ_MAX_SIZE || (q->num & (q->num - 1)))
		return -EINVAL;
	/* Alignment: descriptors 16, avail 2, used 4 (virtio 1.x 2.7, table "Virtqueue Part Alignment"). */
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return -EINVAL;
	if (!guest_mem_ptr(mem, q->desc_gpa, desc_size(q->num)) ||
	    !guest_mem_ptr(mem, q->avail_gpa, avail_size(q->num)) ||
	    !guest_mem_ptr(mem, q->used_gpa, used_size(q->num)))
		return -EFAULT;
	return 0;
}

/*
 * The ring areas were checked when the queue became ready, but the checks
 * are cheap and the state may come from a snapshot: look every pointer up again.
 */
static uint16_t *avail_idx_ptr(const struct virtq *q, const struct guest_mem *mem)
{
	return guest_mem_ptr(mem, q->avail_gpa + AVAIL_IDX, 2);
}

static bool read_avail_idx(const struct virtq *q, const struct guest_mem *mem, uint16_t *idx)
{
	uint16_t *p = avail_idx_ptr(q, mem);

	if (!p)
		return false;
	/* Acquire: the ring entries and descriptors the driver wrote before idx are visible after it. */
	*idx = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	return true;
}

bool virtq_has_avail(const struct virtq *q, const struct guest_mem *mem)
{
	uint16_t idx;

	return q->ready && read_avail_idx(q, mem, &idx) && idx != q->last_avail_idx;
}

int virtq_pop(struct virtq *q, const struct guest_mem *mem, struct virtq_chain *c)
{
	uint16_t avail_idx, head, i;
	const uint16_t *ring_entry;
	unsigned int count = 0;
	bool seen_writable = false;

	if (!q->ready || virtq_check_layout(q, mem) < 0)
		return -EINVAL;
	if (!read_avail_idx(q, mem, &avail_idx))
		return -EFAULT;
	if (avail_idx == q->last_avail_idx)
		return 0;
	/* The driver can be at most a whole ring ahead of the device. */
	if ((uint16_t)(avail_idx - q->last_avail_idx) > q->num) {
		pr_warn_ratelimited("virtqueue: avail idx %u is more than %u entries ahead of %u", avail_idx, q->num,
			q->last_avail_idx);
		return -EINVAL;
	}
	ring_entry = guest_mem_ptr(mem, q->avail_gpa + AVAIL_RING + 2ull * (q->last_avail_idx % q->num), 2);
	if (!ring_entry)
		return -EFAULT;
	head = __atomic_load_n(ring_entry, __ATOMIC_RELAXED);
	if (head >= q->num) {
		pr_warn_ratelimited("virtqueue: avail ring names descriptor %u of a %u-entry queue", head, q->num);
		return -EINVAL;
	}

	memset(c, 0, offsetof(struct virtq_chain, iov));
	c->head = head;
	i = head;
	for (;;) {
		struct virtq_desc d;
		const void *dp = guest_mem_ptr(mem, q->desc_gpa + 16ull * i, 16);
		void *buf;

		if (!dp)
			return -EFAULT;
		/* One copy: the guest may rewrite the descriptor while we look at it. */
		memcpy(&d, dp, sizeof(d));
		if (++count > q->num) {
			pr_warn_ratelimited("virtqueue: descriptor chain from %u loops or is longer than the queue (%u)", head,
				q->num);
			return -EINVAL;
		}
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			pr_warn_ratelimited("virtqueue: indirect descriptor, but VIRTIO_F_INDIRECT_DESC was not offered");
			return -EINVAL;
		}
		buf = guest_mem_ptr(mem, d.addr, d.len);
		if (!buf) {
			pr_warn_ratelimited("virtqueue: descriptor %u (0x%llx, %u bytes) lies outside guest RAM", i,
				(unsigned long long)d.addr, d.len);
			return -EFAULT;
		}
		if (d.flags & VIRTQ_DESC_F_WRITE) {
			seen_writable = true;
			c->iov[c->n_out + c->n_in].iov_base = buf;
			c->iov[c->n_out + c->n_in].iov_len = d.len;
			c->n_in++;
			c->in_bytes += d.len;
		} else {
			if (seen_writable) {
				pr_warn_ratelimited("virtqueue: device-readable descriptor %u follows a writable one", i);
				return -EINVAL;
			}
			c->iov[c->n_out].iov_base = buf;
			c->iov[c->n_out].iov_len = d.len;
			c->n_out++;
			c->out_bytes += d.len;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= q->num) {
			pr_warn_ratelimited("virtqueue: descriptor %u links to %u in a %u-entry queue", i, d.next, q->num);
			return -EINVAL;
		}
		i = d.next;
	}
	q->last_avail_idx++;
	return 1;
}

/*
 * While guest RAM writes are tracked (a migration's pre-copy), record the
 * device-writable buffers of the chain at head: the device has filled them
 * by the time it pushes, and KVM's dirty log never sees armvmm's writes.
 * The descriptors are read again from guest RAM with the same checks as
 * virtq_pop; a guest that rewrote them meanwhile only spoils its own copy.
 */
static void mark_chain_written(const struct virtq *q, const struct guest_mem *mem, uint16_t head)
{
	uint16_t i = head;

	for (unsigned int count = 0; i < q->num && count < q->num; count++) {
		struct virtq_desc d;
		const void *dp = guest_mem_ptr(mem, q->desc_gpa + 16ull * i, 16);
		void *buf;

		if (!dp)
			return;
		memcpy(&d, dp, sizeof(d));
		buf = guest_mem_ptr(mem, d.addr, d.len);
		if (buf && (d.flags & VIRTQ_DESC_F_WRITE))
			guest_mem_mark(mem, buf, d.len);
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return;
		i = d.next;
	}
}

int virtq_push(struct virtq *q, const struct guest_mem *mem, uint16_t head, uint32_t written)
{
	uint8_t *elem;
	uint16_t *idx;
	uint32_t id = head;

	if (!q->ready || q->num == 0)
		return -EINVAL;
	elem = guest_mem_ptr(mem, q->used_gpa + USED_RING + 8ull * (q->used_idx % q->num), 8);
	idx = guest_mem_ptr(mem, q->used_gpa + USED_IDX, 2);
	if (!elem || !idx)
		return -EFAULT;
	memcpy(elem, &id, 4);
	memcpy(elem + 4, &written, 4);
	q->used_idx++;
	/* Release: the element (and the data the device wrote) before the index the driver reads. */
	__atomic_store_n(idx, q->used_idx, __ATOMIC_RELEASE);
	if (atomic_load_explicit(&mem->tracking, memory_order_relaxed)) {
		mark_chain_written(q, mem, head);
		guest_mem_mark(mem, elem, 8);
		guest_mem_mark(mem, idx, 2);
	}
	return 0;
}

int virtq_read_used_idx(const struct virtq *q, const struct guest_mem *mem, uint16_t *idx)
{
	const uint16_t *p = q->num ? guest_mem_ptr(mem, q->used_gpa + USED_IDX, 2) : NULL;

	if (!p)
		return -EFAULT;
	*idx = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	return 0;
}

void virtq_set_notify(const struct virtq *q, const struct guest_mem *mem, bool on)
{
	uint16_t *flags = q->ready ? guest_mem_ptr(mem, q->used_gpa + USED_FLAGS, 2) : NULL;

	if (!flags)
		return;
	__atomic_store_n(flags, on ? 0 : VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
	/* The flag before the device's next look at avail idx: a driver that saw it set must be seen. */
	atomic_thread_fence(memory_order_seq_cst);
}

bool virtq_wants_interrupt(const struct virtq *q, const struct guest_mem *mem)
{
	const uint16_t *flags = guest_mem_ptr(mem, q->avail_gpa + AVAIL_FLAGS, 2);

	/* Full barrier: our used idx store must be visible before we sample the driver's flags. */
	atomic_thread_fence(memory_order_seq_cst);
	return !flags || !(__atomic_load_n(flags, __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Copy between a flat buffer and an iovec array, starting skip bytes into the iovecs. */
static size_t iov_copy(const struct iovec *iov, unsigned int n, size_t skip, uint8_t *buf, size_t len,
		       bool into_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - skip;
		if (chunk > len - done)
			chunk = len - done;
		uint8_t *p = (uint8_t *)iov[i].iov_base + skip;
		if (into_iov)
			memcpy(p, buf + done, chunk);
		else
			memcpy(buf + done, p, chunk);
		done += chunk;
		skip = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t skip, void *buf, size_t len)
{
	return iov_copy(iov, n, skip, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t skip, const void *buf, size_t len)
{
	return iov_copy(iov, n, skip, (uint8_t *)buf, len, true);
}
