/*
 * virtio-mmio transport. Register dispatch is the table below: one row per
 * register, naming its read and write handler, so an offset leads straight
 * to its code. Locking rule: t->lock guards t->st; device callbacks that may
 * block (queue_notify, reset) are called without it.
 */
#include "devices/virtio_mmio.h"

#include <errno.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "core/files.h"
#include "core/log.h"
#include "core/mmio.h"
#include "core/state.h"
#include "devices/device.h"
#include "devices/virtio_mmio_internal.h"
#include "irqchip/irqchip.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u	/* "virt" */
#define VIRTIO_MMIO_VERSION 2u
#define VIRTIO_MMIO_VENDOR 0x4d565241u	/* "ARVM" */
#define VIRTIO_MMIO_CONFIG 0x100u

/* The 64-bit queue addresses are written as two 32-bit halves. */
static void set_low(uint64_t *v, uint32_t x) { *v = (*v & ~0xffffffffull) | x; }
static void set_high(uint64_t *v, uint32_t x) { *v = (*v & 0xffffffffull) | (uint64_t)x << 32; }

static struct virtq *cur_queue(struct virtio_mmio *t)
{
	return t->st.queue_sel < t->ops->num_queues ? &t->st.queues[t->st.queue_sel] : NULL;
}

uint64_t virtio_mmio_device_features(const struct virtio_mmio *t)
{
	return t->ops->features | VIRTIO_F_VERSION_1;
}

/* Raise an edge on the device's SPI (the FDT declares it edge-rising). */
void virtio_mmio_signal_irq(struct virtio_mmio *t)
{
	if (t->irqfd >= 0) {
		uint64_t one = 1;
		if (write(t->irqfd, &one, sizeof(one)) == sizeof(one))
			return;
	}
	if (t->irqchip) {
		irqchip_set_spi(t->irqchip, t->spi, true);
		irqchip_set_spi(t->irqchip, t->spi, false);
	}
}

static void raise_interrupt_locked(struct virtio_mmio *t, uint32_t why)
{
	t->st.interrupt_status |= why;
	virtio_mmio_signal_irq(t);
}

/* --- register handlers (lock held) ------------------------------------------- */

typedef uint32_t reg_read_fn(struct virtio_mmio *t);
typedef void reg_write_fn(struct virtio_mmio *t, uint32_t v);

static uint32_t rd_magic(struct virtio_mmio *t) { (void)t; return VIRTIO_MMIO_MAGIC; }
static uint32_t rd_version(struct virtio_mmio *t) { (void)t; return VIRTIO_MMIO_VERSION; }
static uint32_t rd_device_id(struct virtio_mmio *t) { return t->ops->device_id; }
static uint32_t rd_vendor_id(struct virtio_mmio *t) { (void)t; return VIRTIO_MMIO_VENDOR; }

static uint32_t rd_device_features(struct virtio_mmio *t)
{
	uint32_t sel = t->st.device_features_sel;
	return sel < 2 ? (uint32_t)(virtio_mmio_device_features(t) >> (32 * sel)) : 0;
}

static void wr_device_features_sel(struct virtio_mmio *t, uint32_t v) { t->st.device_features_sel = v; }
static void wr_driver_features_sel(struct virtio_mmio *t, uint32_t v) { t->st.driver_features_sel = v; }

static void wr_driver_features(struct virtio_mmio *t, uint32_t v)
{
	/* Features are fixed once FEATURES_OK is set. */
	if (t->st.status & VIRTIO_STATUS_FEATURES_OK)
		return;
	if (t->st.driver_features_sel == 0)
		set_low(&t->st.driver_features, v);
	else if (t->st.driver_features_sel == 1)
		set_high(&t->st.driver_features, v);
}

static void wr_queue_sel(struct virtio_mmio *t, uint32_t v) { t->st.queue_sel = v; }

static uint32_t rd_queue_num_max(struct virtio_mmio *t)
{
	return cur_queue(t) ? VIRTQ_MAX_SIZE : 0;
}

/* The queue's layout may change only while it is not ready. */
static struct virtq *cur_queue_unready(struct virtio_mmio *t)
{
	struct virtq *q = cur_queue(t);
	return q && !q->ready ? q : NULL;
}

static void wr_queue_num(struct virtio_mmio *t, uint32_t v)
{
	struct virtq *q = cur_queue_unready(t);
	if (q)
		q->num = v <= VIRTQ_MAX_SIZE ? (uint16_t)v : 0; /* checked again at QueueReady */
}

static uint32_t rd_queue_ready(struct virtio_mmio *t)
{
	struct virtq *q = cur_queue(t);
	return q ? q->ready : 0;
}

static void needs_reset_locked(struct virtio_mmio *t, const char *why)
{
	if (!(t->st.status & VIRTIO_STATUS_NEEDS_RESET))
		pr_warn_ratelimited("%s at 0x%llx: %s; device needs a reset", t->ops->name, (unsigned long long)t->base, why);
	t->st.status |= VIRTIO_STATUS_NEEDS_RESET;
	if (t->st.status & VIRTIO_STATUS_DRIVER_OK)
		raise_interrupt_locked(t, VIRTIO_INT_CONFIG);
}

static void wr_queue_ready(struct virtio_mmio *t, uint32_t v)
{
	struct virtq *q = cur_queue(t);

	if (!q)
		return;
	if (!(v & 1)) {
		q->ready = false;
		return;
	}
	if (virtq_check_layout(q, t->mem) < 0) {
		needs_reset_locked(t, "queue size or ring addresses invalid");
		return;
	}
	q->ready = true;
}

static void wr_queue_desc_lo(struct virtio_mmio *t, uint32_t v) { struct virtq *q = cur_queue_unready(t); if (q) set_low(&q->desc_gpa, v); }
static void wr_queue_desc_hi(struct virtio_mmio *t, uint32_t v) { struct virtq *q = cur_queue_unready(t); if (q) set_high(&q->desc_gpa, v); }
static void wr_queue_avail_lo(struct virtio_mmio *t, uint32_t v) { struct virtq *q = cur_queue_unready(t); if (q) set_low(&q->avail_gpa, v); }
static void wr_queue_avail_hi(struct virtio_mmio *t, uint32_t v) { struct virtq *q = cur_queue_unready(t); if (q) set_high(&q->avail_gpa, v); }
static void wr_queue_used_lo(struct virtio_mmio *t, uint32_t v) { struct virtq *q = cur_queue_unready(t); if (q) set_low(&q->used_gpa, v); }
static void wr_queue_used_hi(struct virtio_mmio *t, uint32_t v) { struct virtq *q = cur_queue_unready(t); if (q) set_high(&q->used_gpa, v); }

static uint32_t rd_interrupt_status(struct virtio_mmio *t)
{
	return t->st.interrupt_status | (t->used_bit_sticky ? VIRTIO_INT_USED : 0);
}
static void wr_interrupt_ack(struct virtio_mmio *t, uint32_t v) { t->st.interrupt_status &= ~v; }
static uint32_t rd_status(struct virtio_mmio *t) { return t->st.status; }

static void wr_status(struct virtio_mmio *t, uint32_t v)
{
	/* Writing 0 (reset) is handled by virtio_mmio_write, outside the lock. */
	v &= 0xff;
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(t->st.status & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t f = t->st.driver_features;
		/* Refuse features we did not offer, and legacy drivers: FEATURES_OK then reads back clear. */
		if ((f & ~virtio_mmio_device_features(t)) || !(f & VIRTIO_F_VERSION_1)) {
			pr_warn_ratelimited("%s: driver asked for unsupported features 0x%llx", t->ops->name,
				(unsigned long long)f);
			v &= ~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	/* The driver only adds bits; NEEDS_RESET is the device's. */
	t->st.status |= v & ~VIRTIO_STATUS_NEEDS_RESET;
}

static uint32_t rd_shm_len(struct virtio_mmio *t) { (void)t; return 0xffffffffu; } /* no shared memory regions */
static uint32_t rd_config_generation(struct virtio_mmio *t) { return t->st.config_generation; }
static void wr_ignore(struct virtio_mmio *t, uint32_t v) { (void)t; (void)v; }

/* QueueNotify and Status need work outside the lock: see virtio_mmio_write. */
static const struct virtio_mmio_reg {
	uint32_t off;
	const char *name;
	reg_read_fn *read;
	reg_write_fn *write;
} virtio_mmio_regs[] = {
	{ 0x000, "MagicValue", rd_magic, NULL },
	{ 0x004, "Version", rd_version, NULL },
	{ 0x008, "DeviceID", rd_device_id, NULL },
	{ 0x00c, "VendorID", rd_vendor_id, NULL },
	{ 0x010, "DeviceFeatures", rd_device_features, NULL },
	{ 0x014, "DeviceFeaturesSel", NULL, wr_device_features_sel },
	{ 0x020, "DriverFeatures", NULL, wr_driver_features },
	{ 0x024, "DriverFeaturesSel", NULL, wr_driver_features_sel },
	{ 0x030, "QueueSel", NULL, wr_queue_sel },
	{ 0x034, "QueueNumMax", rd_queue_num_max, NULL },
	{ 0x038, "QueueNum", NULL, wr_queue_num },
	{ 0x044, "QueueReady", rd_queue_ready, wr_queue_ready },
	{ VIRTIO_MMIO_QUEUE_NOTIFY, "QueueNotify", NULL, wr_ignore },
	{ 0x060, "InterruptStatus", rd_interrupt_status, NULL },
	{ 0x064, "InterruptACK", NULL, wr_interrupt_ack },
	{ VIRTIO_MMIO_STATUS, "Status", rd_status, wr_status },
	{ 0x080, "QueueDescLow", NULL, wr_queue_desc_lo },
	{ 0x084, "QueueDescHigh", NULL, wr_queue_desc_hi },
	{ 0x090, "QueueDriverLow", NULL, wr_queue_avail_lo },
	{ 0x094, "QueueDriverHigh", NULL, wr_queue_avail_hi },
	{ 0x0a0, "QueueDeviceLow", NULL, wr_queue_used_lo },
	{ 0x0a4, "QueueDeviceHigh", NULL, wr_queue_used_hi },
	{ 0x0ac, "SHMSel", NULL, wr_ignore },
	{ 0x0b0, "SHMLenLow", rd_shm_len, NULL },
	{ 0x0b4, "SHMLenHigh", rd_shm_len, NULL },
	{ 0x0fc, "ConfigGeneration", rd_config_generation, NULL },
};

static const struct virtio_mmio_reg *find_reg(uint64_t off)
{
	for (size_t i = 0; i < sizeof(virtio_mmio_regs) / sizeof(virtio_mmio_regs[0]); i++)
		if (virtio_mmio_regs[i].off == off)
			return &virtio_mmio_regs[i];
	return NULL;
}

/* --- MMIO entry points (vCPU threads) ------------------------------------------ */

void virtio_mmio_init(struct virtio_mmio *t, const struct virtio_device_ops *ops, void *dev,
		      const struct guest_mem *mem, struct irqchip *ic, unsigned int spi, uint64_t base)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->ops = ops;
	t->dev = dev;
	t->mem = mem;
	t->irqchip = ic;
	t->spi = spi;
	t->irqfd = -1;
	t->base = base;
	t->vm_fd = -1;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->ioeventfds[q].fd = -1;
}

void virtio_mmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len)
{
	struct virtio_mmio *t = opaque;

	memset(data, 0, len);
	pthread_mutex_lock(&t->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		if (c < t->ops->config_size && len <= t->ops->config_size - c && t->ops->config_read)
			t->ops->config_read(t, (uint32_t)c, data, len);
	} else {
		const struct virtio_mmio_reg *r = find_reg(off);
		if (r && r->read && len == 4) {
			uint32_t v = r->read(t);
			memcpy(data, &v, 4);
		} else {
			pr_debug("%s: ignored %u-byte read at register offset 0x%llx", t->ops->name, len,
				 (unsigned long long)off);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

static void virtio_mmio_reset(struct virtio_mmio *t)
{
	/*
	 * Clear the status first: notify and pop check DRIVER_OK under the lock,
	 * so from here on no kick reaches the device and no device thread takes a
	 * new chain from the rings ops->reset is about to let go of.
	 */
	pthread_mutex_lock(&t->lock);
	t->st.status = 0;
	pthread_mutex_unlock(&t->lock);
	/* Then the device: it must stop touching the rings before they are forgotten. */
	if (t->ops->reset)
		t->ops->reset(t);
	pthread_mutex_lock(&t->lock);
	memset(&t->st, 0, sizeof(t->st));
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct virtio_mmio *t = opaque;
	uint32_t v = 0;

	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		pthread_mutex_lock(&t->lock);
		if (c < t->ops->config_size && len <= t->ops->config_size - c && t->ops->config_write)
			t->ops->config_write(t, (uint32_t)c, data, len);
		pthread_mutex_unlock(&t->lock);
		return;
	}
	const struct virtio_mmio_reg *r = find_reg(off);
	if (!r || !r->write || len != 4) {
		pr_debug("%s: ignored %u-byte write at register offset 0x%llx", t->ops->name, len,
			 (unsigned long long)off);
		return;
	}
	memcpy(&v, data, 4);
	if (off == VIRTIO_MMIO_STATUS && v == 0) {
		virtio_mmio_reset(t);
		return;
	}
	if (off == VIRTIO_MMIO_QUEUE_NOTIFY) {
		virtio_mmio_notify(t, v);
		return;
	}
	pthread_mutex_lock(&t->lock);
	uint32_t before = t->st.status;
	r->write(t, v);
	bool start = off == VIRTIO_MMIO_STATUS && t->ops->start && !(before & VIRTIO_STATUS_DRIVER_OK) &&
		     (t->st.status & VIRTIO_STATUS_DRIVER_OK) && !(t->st.status & VIRTIO_STATUS_NEEDS_RESET);
	if (start && !(t->st.status & VIRTIO_STATUS_FEATURES_OK)) {
		needs_reset_locked(t, "the driver set DRIVER_OK without FEATURES_OK");
		start = false;
	}
	pthread_mutex_unlock(&t->lock);
	if (start)
		t->ops->start(t);
}

void virtio_mmio_notify(struct virtio_mmio *t, unsigned int q)
{
	bool go;

	pthread_mutex_lock(&t->lock);
	go = q < t->ops->num_queues && t->st.queues[q].ready &&
	     (t->st.status & VIRTIO_STATUS_DRIVER_OK) && !(t->st.status & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_unlock(&t->lock);
	if (go && t->ops->queue_notify)
		t->ops->queue_notify(t, q);
}

/* --- device side ------------------------------------------------------------------ */

int virtio_mmio_pop(struct virtio_mmio *t, unsigned int q, struct virtq_chain *c)
{
	int ret;

	pthread_mutex_lock(&t->lock);
	if (q >= t->ops->num_queues || !(t->st.status & VIRTIO_STATUS_DRIVER_OK) ||
	    (t->st.status & VIRTIO_STATUS_NEEDS_RESET)) {
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	ret = virtq_pop(&t->st.queues[q], t->mem, c);
	if (ret < 0)
		needs_reset_locked(t, ret == -EFAULT ? "descriptor outside guest RAM" : "malformed descriptor ring");
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static void push_locked(struct virtio_mmio *t, unsigned int q, uint16_t head, uint32_t written)
{
	if (q >= t->ops->num_queues || virtq_push(&t->st.queues[q], t->mem, head, written) < 0)
		needs_reset_locked(t, "used ring outside guest RAM");
}

void virtio_mmio_push(struct virtio_mmio *t, unsigned int q, uint16_t head, uint32_t written)
{
	pthread_mutex_lock(&t->lock);
	push_locked(t, q, head, written);
	if (q < t->ops->num_queues && virtq_wants_interrupt(&t->st.queues[q], t->mem))
		raise_interrupt_locked(t, VIRTIO_INT_USED);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_push_quiet(struct virtio_mmio *t, unsigned int q, uint16_t head, uint32_t written)
{
	pthread_mutex_lock(&t->lock);
	push_locked(t, q, head, written);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_kick_used(struct virtio_mmio *t, unsigned int q)
{
	pthread_mutex_lock(&t->lock);
	if (q < t->ops->num_queues && virtq_wants_interrupt(&t->st.queues[q], t->mem))
		raise_interrupt_locked(t, VIRTIO_INT_USED);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	t->st.config_generation++;
	if (t->st.status & VIRTIO_STATUS_DRIVER_OK)
		raise_interrupt_locked(t, VIRTIO_INT_CONFIG);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_set_needs_reset(struct virtio_mmio *t, const char *why)
{
	pthread_mutex_lock(&t->lock);
	needs_reset_locked(t, why);
	pthread_mutex_unlock(&t->lock);
}

bool virtio_mmio_driver_ok(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	bool ok = (t->st.status & VIRTIO_STATUS_DRIVER_OK) && !(t->st.status & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_unlock(&t->lock);
	return ok;
}

uint64_t virtio_mmio_features(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	uint64_t f = t->st.driver_features & virtio_mmio_device_features(t);
	pthread_mutex_unlock(&t->lock);
	return f;
}

void virtio_mmio_unpop(struct virtio_mmio *t, unsigned int q, uint16_t n)
{
	pthread_mutex_lock(&t->lock);
	if (q < t->ops->num_queues)
		t->st.queues[q].last_avail_idx -= n;
	pthread_mutex_unlock(&t->lock);
}

bool virtio_mmio_queue(struct virtio_mmio *t, unsigned int q, struct virtq *out)
{
	if (q >= t->ops->num_queues)
		return false;
	pthread_mutex_lock(&t->lock);
	*out = t->st.queues[q];
	pthread_mutex_unlock(&t->lock);
	return true;
}

int virtio_mmio_sync_queue(struct virtio_mmio *t, unsigned int q, uint16_t last_avail_idx)
{
	int ret = -EINVAL;

	pthread_mutex_lock(&t->lock);
	if (q < t->ops->num_queues) {
		ret = virtq_read_used_idx(&t->st.queues[q], t->mem, &t->st.queues[q].used_idx);
		if (ret == 0)
			t->st.queues[q].last_avail_idx = last_avail_idx;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

bool virtio_mmio_want_notify(struct virtio_mmio *t, unsigned int q, bool on)
{
	bool avail = false;

	pthread_mutex_lock(&t->lock);
	if (q < t->ops->num_queues && t->st.queues[q].ready) {
		virtq_set_notify(&t->st.queues[q], t->mem, on);
		/* Only what the device may take: nothing once it needs a reset. */
		avail = (t->st.status & VIRTIO_STATUS_DRIVER_OK) && !(t->st.status & VIRTIO_STATUS_NEEDS_RESET) &&
			virtq_has_avail(&t->st.queues[q], t->mem);
	}
	pthread_mutex_unlock(&t->lock);
	return avail;
}

void virtio_mmio_signal_used(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	raise_interrupt_locked(t, VIRTIO_INT_USED);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_set_used_bit_sticky(struct virtio_mmio *t, bool on)
{
	pthread_mutex_lock(&t->lock);
	t->used_bit_sticky = on;
	pthread_mutex_unlock(&t->lock);
}

int virtio_mmio_notify_fd(const struct virtio_mmio *t, unsigned int q)
{
	return q < VIRTIO_MAX_QUEUES ? t->ioeventfds[q].fd : -1;
}

int virtio_mmio_notify_fds(const struct virtio_mmio *t, unsigned int nr, int *fds, bool *own)
{
	for (unsigned int q = 0; q < nr; q++) {
		fds[q] = virtio_mmio_notify_fd(t, q);
		own[q] = fds[q] < 0;
		if (own[q])
			fds[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fds[q] < 0) {
			int err = errno;
			pr_err("%s: cannot create an eventfd: %s", t->ops->name, strerror(err));
			return -err;
		}
	}
	return 0;
}

void virtio_mmio_used_signal_cb(void *opaque, int fd, short revents)
{
	(void)revents;
	if (eventfd_drain(fd) > 0)
		virtio_mmio_signal_used(opaque);
}

int virtio_mmio_irqfd(const struct virtio_mmio *t)
{
	return t->irqfd;
}

void virtio_mmio_kick_all(struct virtio_mmio *t)
{
	/* virtio_mmio_notify checks ready, DRIVER_OK and NEEDS_RESET as for a guest kick. */
	for (unsigned int q = 0; q < t->ops->num_queues; q++)
		virtio_mmio_notify(t, q);
}

int virtio_mmio_fdt_node(void *fdt, uint64_t base, unsigned int spi)
{
	static const char compat[] = "virtio,mmio";
	/* Edge-rising: every used-buffer notification is a fresh edge, so irqfd pulses are never lost. */
	int ret = fdt_begin_mmio_device(fdt, "virtio", compat, sizeof(compat), base, VIRTIO_MMIO_SIZE, spi,
					IRQ_TYPE_EDGE_RISING);

	ret |= fdt_property(fdt, "dma-coherent", NULL, 0);
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}

/* --- a transport in the VM --------------------------------------------------------- */

static void ioeventfd_cb(void *opaque, int fd, short revents)
{
	struct virtio_mmio_ioeventfd *io = opaque;

	(void)revents;
	if (eventfd_drain(fd) > 0)
		virtio_mmio_notify(io->t, io->queue);
}

/*
 * QueueNotify through an ioeventfd per queue: KVM completes the guest's write
 * without leaving the kernel and the main thread handles the queue. Without
 * KVM support the write arrives as an MMIO exit and is handled on the vCPU.
 */
static void add_ioeventfds(struct virtio_mmio *t, struct device_ctx *ctx)
{
	for (unsigned int q = 0; ctx->vm_fd >= 0 && q < t->ops->num_queues; q++) {
		struct virtio_mmio_ioeventfd *io = &t->ioeventfds[q];
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct kvm_ioeventfd ioe = {
			.datamatch = q, .addr = t->base + VIRTIO_MMIO_QUEUE_NOTIFY, .len = 4, .fd = efd,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		if (efd < 0 || ioctl(ctx->vm_fd, KVM_IOEVENTFD, &ioe) < 0) {
			pr_debug("%s: no ioeventfd for queue %u (%s): notifications exit to userspace", t->ops->name, q,
				 strerror(errno));
			if (efd >= 0)
				close(efd);
			break;
		}
		*io = (struct virtio_mmio_ioeventfd){ .t = t, .queue = q, .fd = efd };
		/* The device reads its own (an I/O thread, or vhost in the kernel). */
		if (!(t->ops->own_notify & (1u << q)))
			eventloop_add(ctx->loop, efd, POLLIN, ioeventfd_cb, io);
	}
}

/*
 * After CTRL_INIT (KVM refuses irqfds before the vGIC is initialised): the SPI
 * through an irqfd. Never fails: without one, interrupts take KVM_IRQ_LINE.
 */
static int transport_irqchip_ready(struct device *d)
{
	struct virtio_mmio *t = d->priv;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kvm_irqfd irqfd = { .fd = (uint32_t)efd, .gsi = t->spi };

	if (efd < 0 || t->vm_fd < 0 || ioctl(t->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		pr_debug("%s: no irqfd (%s): interrupts go through KVM_IRQ_LINE", t->ops->name, strerror(errno));
		if (efd >= 0)
			close(efd);
		return 0;
	}
	t->irqfd = efd;
	return 0;
}

static int transport_fdt_node(const struct device *d, void *fdt)
{
	struct virtio_mmio *t = d->priv;

	return virtio_mmio_fdt_node(fdt, t->base, t->spi);
}

static void transport_quiesce(struct device *d)
{
	struct virtio_mmio *t = d->priv;

	if (t->ops->quiesce)
		t->ops->quiesce(t);
}

static int transport_sync(struct device *d)
{
	struct virtio_mmio *t = d->priv;

	return t->ops->sync ? t->ops->sync(t) : 0;
}

static int transport_release(struct device *d)
{
	struct virtio_mmio *t = d->priv;

	return t->ops->release ? t->ops->release(t) : 0;
}

static int transport_acquire(struct device *d)
{
	struct virtio_mmio *t = d->priv;

	return t->ops->acquire ? t->ops->acquire(t) : 0;
}

static int transport_track(struct device *d, bool on)
{
	struct virtio_mmio *t = d->priv;

	return t->ops->track ? t->ops->track(t, on) : 0;
}

static void transport_save(struct device *d, struct snap_buf *b)
{
	virtio_mmio_save(d->priv, b);
}

static int transport_restore(struct device *d, struct snap_cursor *c)
{
	return virtio_mmio_restore(d->priv, c);
}

static void transport_restored(struct device *d)
{
	struct virtio_mmio *t = d->priv;

	if (t->ops->start && virtio_mmio_driver_ok(t))
		t->ops->start(t);
	virtio_mmio_kick_all(t);
}

static void transport_resume(struct device *d)
{
	struct virtio_mmio *t = d->priv;

	if (t->ops->resume)
		t->ops->resume(t);
}

static void transport_destroy(struct device *d)
{
	struct virtio_mmio *t = d->priv;

	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		close_fd(&t->ioeventfds[q].fd);
	close_fd(&t->irqfd);
	if (t->ops->destroy)
		t->ops->destroy(t);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static const struct device_ops virtio_mmio_device_ops = {
	.name = "virtio-mmio",
	.snap_tag = VIRTIO_MMIO_SNAP_TAG,
	.fdt_node = transport_fdt_node,
	.irqchip_ready = transport_irqchip_ready,
	.quiesce = transport_quiesce,
	.sync = transport_sync,
	.save = transport_save,
	.restore = transport_restore,
	.restored = transport_restored,
	.resume = transport_resume,
	.release = transport_release,
	.acquire = transport_acquire,
	.track = transport_track,
	.destroy = transport_destroy,
};

struct virtio_mmio *virtio_mmio_create(struct device_ctx *ctx, uint64_t base, unsigned int spi,
				       const struct virtio_device_ops *ops, void *dev)
{
	struct virtio_mmio *t;
	struct mmio_region r = {
		.base = base, .size = VIRTIO_MMIO_SIZE, .name = ops->name,
		.read = virtio_mmio_read, .write = virtio_mmio_write,
	};

	if (ops->num_queues > VIRTIO_MAX_QUEUES) {
		pr_err("%s: %u queues (at most %u)", ops->name, ops->num_queues, VIRTIO_MAX_QUEUES);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	virtio_mmio_init(t, ops, dev, ctx->mem, ctx->irqchip, spi, base);
	t->vm_fd = ctx->vm_fd;
	r.dev = t;
	if (mmio_bus_add(ctx->bus, &r) < 0 || !device_register(ctx->devices, &virtio_mmio_device_ops, t)) {
		pthread_mutex_destroy(&t->lock);
		free(t);
		return NULL;
	}
	add_ioeventfds(t, ctx);
	pr_info("%s at 0x%llx, SPI %u", ops->name, (unsigned long long)base, spi);
	return t;
}
