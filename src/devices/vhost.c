/* vhost: guest RAM and virtqueues handed to the kernel (vhost.h). */
#include "devices/vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
/* The uapi header names VIRTIO_F_VERSION_1 by its bit number; the transport names it by its mask. */
#undef VIRTIO_F_VERSION_1
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "core/files.h"
#include "core/log.h"
#include "devices/virtio_mmio.h"

static int set_mem_table(struct vhost *v, const struct guest_mem *mem)
{
	struct vhost_memory *m = calloc(1, sizeof(*m) + sizeof(m->regions[0]));
	int ret = 0;

	if (!m)
		return -ENOMEM;
	m->nregions = 1;
	m->regions[0] = (struct vhost_memory_region){
		.guest_phys_addr = mem->gpa,
		.memory_size = mem->size,
		.userspace_addr = (uint64_t)(uintptr_t)mem->host,
	};
	if (ioctl(v->fd, VHOST_SET_MEM_TABLE, m) < 0)
		ret = -errno;
	free(m);
	return ret;
}

int vhost_open(struct vhost *v, const char *dev, const char *what, const struct guest_mem *mem)
{
	int ret;

	v->what = what;
	v->log = false;
	/* O_NONBLOCK only touches the device's read() (IOTLB messages, unused): the flags the sandbox pins. */
	v->fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (v->fd < 0)
		return -errno;
	if (ioctl(v->fd, VHOST_SET_OWNER) < 0 || ioctl(v->fd, VHOST_GET_FEATURES, &v->features) < 0) {
		ret = -errno;
		close_fd(&v->fd);
		return ret;
	}
	ret = set_mem_table(v, mem);
	if (ret < 0)
		close_fd(&v->fd);
	return ret;
}

int vhost_set_features(struct vhost *v, uint64_t features)
{
	if (v->log)
		features |= 1ull << VHOST_F_LOG_ALL;
	if (ioctl(v->fd, VHOST_SET_FEATURES, &features) < 0) {
		int err = errno;
		pr_err("%s: vhost refused features 0x%llx: %s", v->what, (unsigned long long)features, strerror(err));
		return -err;
	}
	return 0;
}

/* Host address of a ring area the transport checked (virtq_check_layout) when the queue became ready. */
static uint64_t host_addr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	return (uint64_t)(uintptr_t)guest_mem_ptr(mem, gpa, len);
}

/* Queue idx's ring addresses (and the used ring's log address while logging); 0 or -errno after one line. */
static int vhost_vring_addr(struct vhost *v, unsigned int idx, const struct virtq *q, const struct guest_mem *mem)
{
	struct vhost_vring_addr addr = {
		.index = idx,
		.flags = v->log ? 1u << VHOST_VRING_F_LOG : 0,
		.desc_user_addr = host_addr(mem, q->desc_gpa, 16ull * q->num),
		.avail_user_addr = host_addr(mem, q->avail_gpa, 6ull + 2ull * q->num),
		.used_user_addr = host_addr(mem, q->used_gpa, 6ull + 8ull * q->num),
		.log_guest_addr = q->used_gpa,
	};

	/* The layout check sets no errno: its own result says why. */
	int ret = virtq_check_layout(q, mem);

	if (ret == 0 && ioctl(v->fd, VHOST_SET_VRING_ADDR, &addr) < 0)
		ret = -errno;
	if (ret < 0)
		pr_err("%s: VHOST_SET_VRING_ADDR of queue %u failed: %s", v->what, idx, strerror(-ret));
	return ret;
}

int vhost_start_vring(struct vhost *v, unsigned int idx, const struct virtq *q, const struct guest_mem *mem,
		      int kick_fd, int call_fd)
{
	struct vhost_vring_state num = { .index = idx, .num = q->num };
	struct vhost_vring_state base = { .index = idx, .num = q->last_avail_idx };
	struct vhost_vring_file kick = { .index = idx, .fd = kick_fd };
	struct vhost_vring_file call = { .index = idx, .fd = call_fd };
	const char *step = NULL;

	errno = EINVAL;
	if (virtq_check_layout(q, mem) < 0)
		step = "its layout";
	else if (ioctl(v->fd, VHOST_SET_VRING_NUM, &num) < 0)
		step = "VHOST_SET_VRING_NUM";
	else if (ioctl(v->fd, VHOST_SET_VRING_BASE, &base) < 0)
		step = "VHOST_SET_VRING_BASE";
	else if (vhost_vring_addr(v, idx, q, mem) < 0)
		return -EINVAL; /* said why */
	else if (ioctl(v->fd, VHOST_SET_VRING_KICK, &kick) < 0)
		step = "VHOST_SET_VRING_KICK";
	else if (ioctl(v->fd, VHOST_SET_VRING_CALL, &call) < 0)
		step = "VHOST_SET_VRING_CALL";
	if (!step)
		return 0;
	int err = errno;
	/* The guest's ring values reach this on every start it asks for: rate-limited. */
	pr_warn_ratelimited("%s: handing queue %u to vhost failed at %s: %s", v->what, idx, step, strerror(err));
	return -err;
}

static int vhost_set_log(struct vhost *v, const struct guest_mem *mem, bool on)
{
	if (!on) {
		v->log = false;
		return 0;
	}
	/* vhost's log: one bit per 4 KiB page of guest-physical address, from address 0. */
	if (mem->page_size != VHOST_PAGE_SIZE || !mem->written || mem->gpa % (8ull * VHOST_PAGE_SIZE)) {
		pr_err("%s: migrating a vhost device needs 4 KiB host pages (this host has %llu)", v->what,
		       (unsigned long long)mem->page_size);
		return -ENOTSUP;
	}
	uint64_t base = (uint64_t)(uintptr_t)mem->written - mem->gpa / VHOST_PAGE_SIZE / 8;
	if (ioctl(v->fd, VHOST_SET_LOG_BASE, &base) < 0) {
		int err = errno;
		pr_err("%s: VHOST_SET_LOG_BASE failed: %s", v->what, strerror(err));
		return -err;
	}
	v->log = true;
	return 0;
}

int vhost_track(struct vhost *v, struct virtio_mmio *t, unsigned int nr, uint64_t features, bool running, bool on)
{
	int ret = vhost_set_log(v, t->mem, on);

	/* Rings the kernel has now take the change at once: features (VHOST_F_LOG_ALL) and log addresses. */
	if (ret == 0 && running)
		ret = vhost_set_features(v, features);
	for (unsigned int q = 0; ret == 0 && running && q < nr; q++) {
		struct virtq vq;
		virtio_mmio_queue(t, q, &vq);
		ret = vhost_vring_addr(v, q, &vq, t->mem);
	}
	return ret;
}

int vhost_vring_base(struct vhost *v, unsigned int idx, uint16_t *base)
{
	struct vhost_vring_state s = { .index = idx };

	if (ioctl(v->fd, VHOST_GET_VRING_BASE, &s) < 0) {
		int err = errno;
		pr_err("%s: VHOST_GET_VRING_BASE of queue %u failed: %s", v->what, idx, strerror(err));
		return -err;
	}
	*base = (uint16_t)s.num;
	return 0;
}

int vhost_take_queues(struct vhost *v, struct virtio_mmio *t, unsigned int nr, const int *kick_fds,
		      const int *call_fds)
{
	int irqfd = virtio_mmio_irqfd(t);
	struct virtq vq;

	for (unsigned int q = 0; q < nr; q++)
		if (!virtio_mmio_queue(t, q, &vq) || !vq.ready)
			return -ENODEV;
	for (unsigned int q = 0; q < nr; q++) {
		int ret;
		virtio_mmio_queue(t, q, &vq);
		ret = vhost_start_vring(v, q, &vq, t->mem, kick_fds[q], irqfd >= 0 ? irqfd : call_fds[q]);
		if (ret < 0)
			return ret;
	}
	virtio_mmio_set_used_bit_sticky(t, irqfd >= 0);
	return 0;
}

void vhost_give_back_queues(struct vhost *v, struct virtio_mmio *t, unsigned int nr, const int *call_fds)
{
	for (unsigned int q = 0; q < nr; q++) {
		uint16_t base;
		if (vhost_vring_base(v, q, &base) == 0 && virtio_mmio_sync_queue(t, q, base) < 0)
			pr_err("%s: queue %u's used ring is outside guest RAM", v->what, q);
		if (call_fds[q] >= 0 && eventfd_drain(call_fds[q]) > 0 && virtio_mmio_irqfd(t) < 0)
			virtio_mmio_signal_used(t);
	}
	virtio_mmio_set_used_bit_sticky(t, false);
}

int vhost_net_set_backend(struct vhost *v, unsigned int nr_queues, int fd)
{
	for (unsigned int q = 0; q < nr_queues; q++) {
		struct vhost_vring_file b = { .index = q, .fd = fd };
		if (ioctl(v->fd, VHOST_NET_SET_BACKEND, &b) < 0) {
			int err = errno;
			pr_err("%s: VHOST_NET_SET_BACKEND of queue %u failed: %s", v->what, q, strerror(err));
			return -err;
		}
	}
	return 0;
}

int vhost_vsock_set_cid(struct vhost *v, uint64_t cid)
{
	return ioctl(v->fd, VHOST_VSOCK_SET_GUEST_CID, &cid) < 0 ? -errno : 0;
}

int vhost_vsock_set_running(struct vhost *v, bool on)
{
	int run = on;

	if (ioctl(v->fd, VHOST_VSOCK_SET_RUNNING, &run) < 0) {
		int err = errno;
		pr_err("%s: VHOST_VSOCK_SET_RUNNING %d failed: %s", v->what, run, strerror(err));
		return -err;
	}
	return 0;
}

void vhost_close(struct vhost *v)
{
	close_fd(&v->fd);
}
