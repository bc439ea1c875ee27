/*
 * virtio-vsock through vhost-vsock (virtio_vsock.h). Queues: 0 receive and
 * 1 transmit, both the kernel's while running; 2 the event queue, armvmm's
 * (its notifications come through the main loop).
 *
 * Threads: the device's I/O thread owns its state; start, reset, a
 * snapshot's quiesce and resume and teardown run on it (io_thread_call).
 * v->ev_lock guards the event queue, which the main thread (its
 * notifications) and the I/O thread (a restore's CID free at last) fill.
 */
#include "devices/virtio_vsock.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/files.h"
#include "core/io_thread.h"
#include "core/log.h"
#include "core/state.h"
#include "devices/device.h"
#include "devices/vhost.h"
#include "devices/virtio_mmio.h"

#define VSOCK_RXQ 0u
#define VSOCK_TXQ 1u
#define VSOCK_EVQ 2u
#define VSOCK_KERNEL_QUEUES 2u
#define VSOCK_CONFIG_SIZE 8u	/* guest_cid, le64 */
#define VSOCK_F_SEQPACKET (1ull << 1)
#define VSOCK_EVENT_TRANSPORT_RESET 0u	/* struct virtio_vsock_event: le32 id */

struct virtio_vsock {
	struct virtio_mmio *t;
	struct virtio_device_ops ops;	/* its features are what this host's vhost-vsock offers */
	const struct guest_mem *mem;
	uint32_t cid;
	char what[40];
	struct vhost vhost;
	atomic_bool cid_set;		/* VHOST_VSOCK_SET_GUEST_CID done */

	bool running, quiesced;		/* the I/O thread's */
	uint64_t features;

	pthread_mutex_t ev_lock;
	bool reset_pending;		/* a transport reset waits for the CID or an event buffer */
	struct virtq_chain ev_chain;

	struct io_thread io;
	int kick_fd[VSOCK_KERNEL_QUEUES];
	bool own_kick[VSOCK_KERNEL_QUEUES];
	int call_fd[VSOCK_KERNEL_QUEUES];
	int retry_fd;			/* timerfd: try a CID another process holds again */
	int id_call[VSOCK_KERNEL_QUEUES], id_retry;
};

static void vsock_config_read(struct virtio_mmio *t, uint32_t off, uint8_t *data, unsigned int len)
{
	const struct virtio_vsock *v = t->dev;
	uint64_t cid = htole64(v->cid);

	memcpy(data, (const uint8_t *)&cid + off, len);
}

/* --- the event queue ------------------------------------------------------------ */

/* Tell the driver its transport was reset, if an event is owed and it posted a buffer. */
static void vsock_send_reset(struct virtio_vsock *v)
{
	uint32_t ev = htole32(VSOCK_EVENT_TRANSPORT_RESET);

	pthread_mutex_lock(&v->ev_lock);
	while (v->reset_pending && atomic_load(&v->cid_set) && virtio_mmio_pop(v->t, VSOCK_EVQ, &v->ev_chain) > 0) {
		const struct virtq_chain *c = &v->ev_chain;
		if (c->in_bytes < sizeof(ev)) {
			/* The guest posts these: a flood of them must not flood the log. */
			pr_warn_ratelimited("%s: event buffer of %llu bytes is too small for an event", v->what,
					    (unsigned long long)c->in_bytes);
			virtio_mmio_push(v->t, VSOCK_EVQ, c->head, 0);
			continue;
		}
		iov_from_buf(c->iov + c->n_out, c->n_in, 0, &ev, sizeof(ev));
		virtio_mmio_push(v->t, VSOCK_EVQ, c->head, sizeof(ev));
		v->reset_pending = false;
		pr_info("%s: told the guest its vsock transport was reset", v->what);
	}
	pthread_mutex_unlock(&v->ev_lock);
}

/* --- vhost-vsock ------------------------------------------------------------------ */

static int vsock_set_running(struct virtio_vsock *v, int on)
{
	return vhost_vsock_set_running(&v->vhost, on);
}

/* 0, -EADDRINUSE (silent when quiet), or -errno after one line. */
static int vsock_set_cid(struct virtio_vsock *v, bool quiet)
{
	int err = -vhost_vsock_set_cid(&v->vhost, v->cid);

	if (err == 0) {
		atomic_store(&v->cid_set, true);
		return 0;
	}
	if (err == EADDRINUSE && quiet)
		return -err;
	if (err == EADDRINUSE)
		pr_err("vsock CID %u is in use by another VM on this host: choose another --vsock CID", v->cid);
	else
		pr_err("vsock: the kernel refused CID %u: %s", v->cid, strerror(err));
	return -err;
}

/* On the I/O thread: the kernel takes both rings and, once the CID is ours, runs. */
static void start_on_thread(void *arg)
{
	struct virtio_vsock *v = arg;
	int ret;

	if (v->running)
		return;
	v->features = virtio_mmio_features(v->t);
	ret = vhost_set_features(&v->vhost, v->features);
	if (ret == 0)
		ret = vhost_take_queues(&v->vhost, v->t, VSOCK_KERNEL_QUEUES, v->kick_fd, v->call_fd);
	if (ret == 0 && atomic_load(&v->cid_set))
		ret = vsock_set_running(v, 1);
	if (ret) {
		vhost_give_back_queues(&v->vhost, v->t, VSOCK_KERNEL_QUEUES, v->call_fd);
		virtio_mmio_set_needs_reset(v->t, ret == -ENODEV ? "the driver started vsock without its receive and transmit queues"
								 : "vhost-vsock refused the queues");
		return;
	}
	for (unsigned int q = 0; q < VSOCK_KERNEL_QUEUES; q++)
		io_thread_enable(&v->io, v->id_call[q], virtio_mmio_irqfd(v->t) < 0);
	v->running = true;
}

/* On the I/O thread: the kernel stops and gives the rings' positions back to the transport. */
static void stop_on_thread(void *arg)
{
	struct virtio_vsock *v = arg;

	if (!v->running)
		return;
	for (unsigned int q = 0; q < VSOCK_KERNEL_QUEUES; q++)
		io_thread_enable(&v->io, v->id_call[q], false);
	if (atomic_load(&v->cid_set))
		(void)vsock_set_running(v, 0);
	vhost_give_back_queues(&v->vhost, v->t, VSOCK_KERNEL_QUEUES, v->call_fd);
	v->running = false;
}

static void reset_on_thread(void *arg)
{
	struct virtio_vsock *v = arg;

	stop_on_thread(v);
	v->quiesced = false;
}

static void quiesce_on_thread(void *arg)
{
	struct virtio_vsock *v = arg;

	if (v->running) {
		stop_on_thread(v);
		v->quiesced = true;
	}
}

static void resume_on_thread(void *arg)
{
	struct virtio_vsock *v = arg;

	if (v->quiesced && virtio_mmio_driver_ok(v->t))
		start_on_thread(v);
	v->quiesced = false;
}

/* On the I/O thread: try for the CID every 100 ms (on), or stop trying. */
#define VSOCK_RETRY_MS 100

static void vsock_retry(struct virtio_vsock *v, bool on)
{
	int err = io_thread_timer(&v->io, v->id_retry, v->retry_fd, on ? VSOCK_RETRY_MS : 0);

	if (err < 0)
		pr_warn("%s: cannot set the CID retry timer: %s", v->what, strerror(-err));
}

/* I/O thread: is the CID a restore (or a migration) found taken free now? Then run, and tell the guest. */
static void retry_cb(void *opaque, int fd, short revents)
{
	struct virtio_vsock *v = opaque;
	uint64_t ticks;

	(void)revents;
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	if (atomic_load(&v->cid_set)) {
		vsock_retry(v, false); /* a migration's acquire took it meanwhile */
		return;
	}
	int ret = vsock_set_cid(v, true);
	if (ret == -EADDRINUSE)
		return;
	vsock_retry(v, false);
	if (ret < 0)
		return;
	pr_info("%s: CID %u is free now", v->what, v->cid);
	if (v->running && vsock_set_running(v, 1) == 0)
		vsock_send_reset(v);
}

/* --- transport callbacks ------------------------------------------------------------- */

static void vsock_start(struct virtio_mmio *t)
{
	struct virtio_vsock *v = t->dev;

	io_thread_call(&v->io, start_on_thread, v);
	vsock_send_reset(v);
}

static void vsock_reset(struct virtio_mmio *t)
{
	struct virtio_vsock *v = t->dev;

	io_thread_call(&v->io, reset_on_thread, v);
	/* A fresh driver has no connections to lose. */
	pthread_mutex_lock(&v->ev_lock);
	v->reset_pending = false;
	pthread_mutex_unlock(&v->ev_lock);
}

static void vsock_queue_notify(struct virtio_mmio *t, unsigned int q)
{
	struct virtio_vsock *v = t->dev;
	uint64_t one = 1;

	if (q == VSOCK_EVQ)
		vsock_send_reset(v);
	else if (q < VSOCK_KERNEL_QUEUES && write(v->kick_fd[q], &one, sizeof(one)) < 0)
		pr_debug("%s: passing a notification on failed: %s", v->what, strerror(errno));
}

/* A call's argument and result (io_thread_call returns nothing). */
struct vsock_call {
	struct virtio_vsock *v;
	bool on;
	int ret;
};

/* Migration, the source: paused and captured; the CID goes to the destination with the vhost fd closed. */
static void release_on_thread(void *arg)
{
	struct virtio_vsock *v = ((struct vsock_call *)arg)->v;

	vsock_retry(v, false);
	vhost_close(&v->vhost);
	atomic_store(&v->cid_set, false);
}

/* Migration: the destination before its state goes back, or the source taking the VM back. */
static void acquire_on_thread(void *arg)
{
	struct vsock_call *c = arg;
	struct virtio_vsock *v = c->v;

	c->ret = 0;
	if (v->vhost.fd < 0) {
		c->ret = vhost_open(&v->vhost, "/dev/vhost-vsock", v->what, v->mem);
		if (c->ret < 0) {
			pr_err("%s: cannot open /dev/vhost-vsock again: %s", v->what, strerror(-c->ret));
			return;
		}
		/* A new kernel side: the connections the guest had are gone. */
		pthread_mutex_lock(&v->ev_lock);
		v->reset_pending = true;
		pthread_mutex_unlock(&v->ev_lock);
	}
	if (atomic_load(&v->cid_set)) {
		vsock_retry(v, false); /* the timer a restore armed, when the CID came meanwhile */
		return;
	}
	c->ret = vsock_set_cid(v, true);
	if (c->ret == -EADDRINUSE) {
		/* The other side still has it: as soon as it is free. */
		vsock_retry(v, true);
		c->ret = 0;
	} else {
		vsock_retry(v, false);
	}
}

/* Migration pre-copy: vhost logs what it writes into guest RAM. */
static void track_on_thread(void *arg)
{
	struct vsock_call *c = arg;
	struct virtio_vsock *v = c->v;

	c->ret = v->vhost.fd < 0 ? 0
				: vhost_track(&v->vhost, v->t, VSOCK_KERNEL_QUEUES, v->features, v->running, c->on);
}

static int vsock_release(struct virtio_mmio *t)
{
	struct vsock_call c = { .v = t->dev };

	io_thread_call(&c.v->io, release_on_thread, &c);
	return 0;
}

static int vsock_acquire(struct virtio_mmio *t)
{
	struct vsock_call c = { .v = t->dev };

	io_thread_call(&c.v->io, acquire_on_thread, &c);
	return c.ret;
}

static int vsock_track(struct virtio_mmio *t, bool on)
{
	struct vsock_call c = { .v = t->dev, .on = on };

	io_thread_call(&c.v->io, track_on_thread, &c);
	return c.ret;
}

static void vsock_quiesce(struct virtio_mmio *t)
{
	struct virtio_vsock *v = t->dev;

	io_thread_call(&v->io, quiesce_on_thread, v);
}

static void vsock_resume(struct virtio_mmio *t)
{
	struct virtio_vsock *v = t->dev;

	io_thread_call(&v->io, resume_on_thread, v);
	vsock_send_reset(v);
}

/*
 * Payload: cid (u32), reset_pending (u8 0/1). A restore always owes the guest
 * a transport reset: the kernel's connections did not come along.
 */
static void vsock_save(struct virtio_mmio *t, struct snap_buf *b)
{
	struct virtio_vsock *v = t->dev;

	snap_put_u32(b, v->cid);
	pthread_mutex_lock(&v->ev_lock);
	snap_put_u8(b, v->reset_pending);
	pthread_mutex_unlock(&v->ev_lock);
}

static int vsock_restore(struct virtio_mmio *t, struct snap_cursor *c)
{
	struct virtio_vsock *v = t->dev;
	uint32_t cid = snap_get_u32(c);
	int ret;

	(void)snap_get_bool(c);
	ret = snap_cursor_done(c, v->what);
	if (ret < 0)
		return ret;
	if (cid != v->cid) {
		pr_err("%s: the snapshot's vsock state is for CID %u, its configuration says %u", v->what, cid, v->cid);
		return -EINVAL;
	}
	pthread_mutex_lock(&v->ev_lock);
	v->reset_pending = true;
	pthread_mutex_unlock(&v->ev_lock);
	return 0;
}

static void vsock_free(struct virtio_vsock *v)
{
	io_thread_destroy(&v->io);
	for (unsigned int q = 0; q < VSOCK_KERNEL_QUEUES; q++) {
		if (v->own_kick[q])
			close_fd(&v->kick_fd[q]);
		close_fd(&v->call_fd[q]);
	}
	close_fd(&v->retry_fd);
	vhost_close(&v->vhost);
	pthread_mutex_destroy(&v->ev_lock);
	free(v);
}

static void vsock_destroy(struct virtio_mmio *t)
{
	struct virtio_vsock *v = t->dev;

	io_thread_call(&v->io, stop_on_thread, v);
	vsock_free(v);
}

static const struct virtio_device_ops virtio_vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.num_queues = 3,
	.config_size = VSOCK_CONFIG_SIZE,
	.config_read = vsock_config_read,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
	.destroy = vsock_destroy,
	.quiesce = vsock_quiesce,
	.save = vsock_save,
	.restore = vsock_restore,
	.resume = vsock_resume,
	.release = vsock_release,
	.acquire = vsock_acquire,
	.track = vsock_track,
	.start = vsock_start,
	.own_notify = (1u << VSOCK_RXQ) | (1u << VSOCK_TXQ),
};

/* vhost-vsock, the CID, eventfds and the I/O thread's loop. */
static int vsock_setup(struct virtio_vsock *v, bool restoring)
{
	int ret = vhost_open(&v->vhost, "/dev/vhost-vsock", v->what, v->mem);

	if (ret == -ENOENT || ret == -ENODEV) {
		pr_err("no /dev/vhost-vsock on this host: load the vhost_vsock module (modprobe vhost_vsock) to use --vsock");
		return ret;
	}
	if (ret < 0) {
		pr_err("cannot use /dev/vhost-vsock for --vsock: %s", strerror(-ret));
		return ret;
	}
	if (!(v->vhost.features & VIRTIO_F_VERSION_1)) {
		pr_err("this host's vhost-vsock lacks virtio 1.0 (features 0x%llx)", (unsigned long long)v->vhost.features);
		return -ENOTSUP;
	}
	/* Offer virtio 1.0 (the transport adds it) and the socket types the kernel has. */
	v->ops.features = v->vhost.features & VSOCK_F_SEQPACKET;
	ret = vsock_set_cid(v, restoring);
	if (ret == -EADDRINUSE && restoring)
		pr_warn("%s: CID %u is still held by another process (a live migration's source on this host?): vsock waits until it lets go",
			v->what, v->cid);
	else if (ret < 0)
		return ret;
	v->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	for (unsigned int q = 0; q < VSOCK_KERNEL_QUEUES; q++)
		v->call_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (v->retry_fd < 0 || v->call_fd[0] < 0 || v->call_fd[1] < 0) {
		pr_err("%s: out of file descriptors", v->what);
		return -EMFILE;
	}
	ret = io_thread_init(&v->io, "vsock-io", SANDBOX_VSOCK_IO);
	if (ret < 0)
		return ret;
	v->id_retry = io_thread_add(&v->io, v->retry_fd, POLLIN, retry_cb, v);
	if (v->id_retry < 0)
		return -ENOSPC;
	/* A CID another process holds: tried again until it is ours. */
	return io_thread_timer(&v->io, v->id_retry, v->retry_fd, atomic_load(&v->cid_set) ? 0 : VSOCK_RETRY_MS);
}

int virtio_vsock_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, uint32_t cid)
{
	struct virtio_vsock *v = calloc(1, sizeof(*v));
	int ret;

	if (!v) {
		pr_err("virtio-vsock: out of memory");
		return -ENOMEM;
	}
	v->cid = cid;
	v->mem = ctx->mem;
	v->ops = virtio_vsock_ops;
	v->retry_fd = v->io.call_fd = v->vhost.fd = -1;
	for (unsigned int q = 0; q < VSOCK_KERNEL_QUEUES; q++)
		v->kick_fd[q] = v->call_fd[q] = -1;
	snprintf(v->what, sizeof(v->what), "virtio-vsock (CID %u)", cid);
	pthread_mutex_init(&v->ev_lock, NULL);
	if (ctx->describe_only) {
		/* --dump-dtb: the transport and its node, no vhost. */
		v->t = virtio_mmio_create(ctx, base, spi, &v->ops, v);
		if (!v->t)
			vsock_free(v);
		return v->t ? 0 : -ENOSPC;
	}
	ret = vsock_setup(v, ctx->restoring);
	if (ret == 0) {
		v->t = virtio_mmio_create(ctx, base, spi, &v->ops, v);
		ret = v->t ? 0 : -ENOSPC;
	}
	if (ret < 0) {
		vsock_free(v);
		return ret;
	}
	/* From here on the transport owns v: VM teardown calls vsock_destroy. */
	ret = virtio_mmio_notify_fds(v->t, VSOCK_KERNEL_QUEUES, v->kick_fd, v->own_kick);
	for (unsigned int q = 0; !ret && q < VSOCK_KERNEL_QUEUES; q++) {
		v->id_call[q] = io_thread_add(&v->io, v->call_fd[q], POLLIN, virtio_mmio_used_signal_cb, v->t);
		io_thread_enable(&v->io, v->id_call[q], false);
		ret = v->id_call[q] < 0 ? -ENOSPC : 0;
	}
	if (ret == 0)
		ret = io_thread_start(&v->io);
	if (ret < 0)
		return ret;
	pr_info("%s: through vhost-vsock", v->what);
	return 0;
}
