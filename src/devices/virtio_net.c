/*
 * virtio-net: the device (config space, features, start and stop, snapshots)
 * and its vhost-net mode. The userspace data path is net_datapath.c; the tap
 * net_tap.c; see virtio_net.h for the threads.
 *
 * Threads: the NIC's I/O thread owns its state. Start (a vCPU writing
 * DRIVER_OK), reset, a snapshot's quiesce and resume, and teardown all run
 * on it (io_thread_call), one at a time, while the caller waits.
 */
#include "devices/virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "core/files.h"
#include "core/log.h"
#include "core/state.h"
#include "devices/device.h"

/* Offloads between the guest and the tap's header, offered only when the tap takes them. */
#define NET_OFFLOAD_FEATURES                                                                                   \
	(NET_F_CSUM | NET_F_GUEST_CSUM | NET_F_HOST_TSO4 | NET_F_HOST_TSO6 | NET_F_HOST_ECN | NET_F_GUEST_TSO4 | \
	 NET_F_GUEST_TSO6 | NET_F_GUEST_ECN)
/* What vhost-net must have and know of the negotiated features: the header's size follows from them. */
#define NET_VHOST_FEATURES (VIRTIO_F_VERSION_1 | NET_F_MRG_RXBUF)
/*
 * Ring features only the kernel's rings offer (armvmm's own virtqueue code
 * has neither): with vhost=1 every ring of the NIC is the kernel's, so the
 * NIC offers them when vhost-net does (fewer notifications both ways).
 */
#define VIRTIO_RING_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_RING_F_EVENT_IDX (1ull << 29)
#define NET_VHOST_RING_FEATURES (VIRTIO_RING_F_INDIRECT_DESC | VIRTIO_RING_F_EVENT_IDX)

/*
 * A MAC when none was given: locally administered, unicast (02:...), then
 * "ar", then 24 bits of FNV-1a over the tap's name and the NIC's number, so a
 * NIC keeps its address from run to run on the same tap.
 */
static void default_mac(const char *tapif, unsigned int index, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *p = tapif; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ index) * 16777619u;
	mac[0] = 0x02;
	mac[1] = 'a';
	mac[2] = 'r';
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* The TUN_F_* offloads the guest receives: what it negotiated to take. */
static unsigned int tun_offloads(uint64_t features)
{
	unsigned int f = 0;

	if (!(features & NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (features & NET_F_GUEST_TSO4)
		f |= TUN_F_TSO4;
	if (features & NET_F_GUEST_TSO6)
		f |= TUN_F_TSO6;
	if ((features & NET_F_GUEST_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
		f |= TUN_F_TSO_ECN;
	return f;
}

static void net_config_read(struct virtio_mmio *t, uint32_t off, uint8_t *data, unsigned int len)
{
	const struct virtio_net *n = t->dev;
	uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];
	uint16_t status = htole16(atomic_load(&n->link_up) ? VIRTIO_NET_S_LINK_UP_BIT : 0), pairs = htole16(1);

	memcpy(cfg, n->mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memset(cfg + 10, 0, 2);
	memcpy(data, cfg + off, len); /* the transport checked off + len <= config_size */
}

/* --- vhost-net ------------------------------------------------------------------- */

static int vhost_backend(struct virtio_net *n, int fd)
{
	int ret = vhost_net_set_backend(&n->vhost, NET_NR_QUEUES, fd);

	if (ret == 0)
		n->vhost_backend = fd >= 0;
	return ret;
}

/* What the driver negotiated that vhost-net takes. */
static uint64_t vhost_features(const struct virtio_net *n)
{
	return n->features & (NET_VHOST_FEATURES | NET_VHOST_RING_FEATURES);
}

/* The kernel takes both rings: features, then the rings, then the tap as backend. */
static int vhost_run(struct virtio_net *n)
{
	int ret = vhost_set_features(&n->vhost, vhost_features(n));

	if (ret == 0)
		ret = vhost_take_queues(&n->vhost, n->t, NET_NR_QUEUES, n->kick_fd, n->call_fd);
	if (ret == 0 && n->tap.fd >= 0)
		ret = vhost_backend(n, n->tap.fd);
	return ret;
}

/* Take the rings back: the kernel stops, and the transport learns where it got to. */
static void vhost_halt(struct virtio_net *n)
{
	if (n->vhost_backend)
		(void)vhost_backend(n, -1);
	vhost_give_back_queues(&n->vhost, n->t, NET_NR_QUEUES, n->call_fd);
}

/* --- start and stop ------------------------------------------------------------------- */

int net_try_attach(struct virtio_net *n)
{
	int ret;

	/*
	 * Attached already (a migration's acquire and the retry timer both try):
	 * opening the tap again would find it busy with our own fd, and lose it.
	 */
	if (n->tap.fd >= 0)
		return 0;
	ret = net_tap_open(&n->tap, n->tapif, true);
	if (ret < 0)
		return ret;
	if (net_tap_set_offload(&n->tap, tun_offloads(n->features)) < 0)
		pr_warn_ratelimited("%s: the tap refused the offloads the guest negotiated", n->what);
	if (n->use_vhost && n->running)
		(void)vhost_backend(n, n->tap.fd);
	net_datapath_set_tap(n);
	atomic_store(&n->link_up, true);
	virtio_mmio_config_changed(n->t);
	pr_info("%s: tap attached, link up", n->what);
	return 0;
}

static void net_kick_queues(struct virtio_net *n)
{
	uint64_t one = 1;

	for (unsigned int q = 0; q < NET_NR_QUEUES; q++)
		if (write(n->kick_fd[q], &one, sizeof(one)) < 0)
			pr_debug("%s: kicking queue %u failed: %s", n->what, q, strerror(errno));
}

/* On the I/O thread: the driver set DRIVER_OK (or a restore or resume): take up the queues. */
static void start_on_thread(void *arg)
{
	struct virtio_net *n = arg;
	struct virtq rx, tx;

	if (n->running)
		return;
	virtio_mmio_queue(n->t, NET_RXQ, &rx);
	virtio_mmio_queue(n->t, NET_TXQ, &tx);
	if (!rx.ready || !tx.ready) {
		virtio_mmio_set_needs_reset(n->t, "the driver started the NIC without its receive and transmit queues");
		return;
	}
	n->features = virtio_mmio_features(n->t);
	if (n->tap.fd >= 0 && net_tap_set_offload(&n->tap, tun_offloads(n->features)) < 0)
		pr_warn_ratelimited("%s: the tap refused the offloads the guest negotiated", n->what);
	if (n->use_vhost && vhost_run(n) < 0) {
		vhost_halt(n);
		virtio_mmio_set_needs_reset(n->t, "vhost-net refused the queues");
		return;
	}
	n->running = true;
	net_datapath_start(n);
	/* Whatever the driver queued while the NIC was stopped. */
	net_kick_queues(n);
}

/* On the I/O thread: let go of the queues, leaving their state whole in the transport. */
static void stop_on_thread(void *arg)
{
	struct virtio_net *n = arg;

	if (!n->running)
		return;
	net_datapath_stop(n);
	if (n->use_vhost)
		vhost_halt(n);
	n->running = false;
}

static void reset_on_thread(void *arg)
{
	struct virtio_net *n = arg;

	stop_on_thread(n);
	n->quiesced = false;
	n->rx_pending = 0;	/* a frame for the old driver */
}

static void quiesce_on_thread(void *arg)
{
	struct virtio_net *n = arg;

	if (n->running) {
		stop_on_thread(n);
		n->quiesced = true;
	}
}

static void resume_on_thread(void *arg)
{
	struct virtio_net *n = arg;

	if (n->quiesced && virtio_mmio_driver_ok(n->t))
		start_on_thread(n);
	n->quiesced = false;
}

/* A call's argument and result (io_thread_call returns nothing). */
struct net_call {
	struct virtio_net *n;
	bool on;
	int ret;
};

/* Migration, the source: the VM is paused and captured; let go of the tap for the destination. */
static void release_on_thread(void *arg)
{
	struct virtio_net *n = ((struct net_call *)arg)->n;

	if (n->vhost_backend)
		(void)vhost_backend(n, -1);
	net_tap_close(&n->tap);
	net_datapath_set_tap(n);
	net_datapath_retry(n, 0);
}

/* Migration: the destination before its state goes back, or the source taking the VM back. */
static void acquire_on_thread(void *arg)
{
	struct net_call *c = arg;
	struct virtio_net *n = c->n;

	c->ret = net_try_attach(n);
	if (c->ret == -EBUSY) {
		/* Still held (the source has not let go yet, or a destination took it): as soon as it is free. */
		atomic_store(&n->link_up, false);
		net_datapath_retry(n, 100);
		c->ret = 0;
	} else {
		net_datapath_retry(n, 0); /* attached (or failed, said why): the timer a restore armed stops */
	}
}

/* Migration pre-copy: vhost logs what it writes into guest RAM (armvmm's own writes are marked at push). */
static void track_on_thread(void *arg)
{
	struct net_call *c = arg;
	struct virtio_net *n = c->n;

	c->ret = n->use_vhost ? vhost_track(&n->vhost, n->t, NET_NR_QUEUES, vhost_features(n), n->running, c->on) : 0;
}

static int net_release(struct virtio_mmio *t)
{
	struct net_call c = { .n = t->dev };

	io_thread_call(&c.n->io, release_on_thread, &c);
	return 0;
}

static int net_acquire(struct virtio_mmio *t)
{
	struct net_call c = { .n = t->dev };

	io_thread_call(&c.n->io, acquire_on_thread, &c);
	return c.ret;
}

static int net_track(struct virtio_mmio *t, bool on)
{
	struct net_call c = { .n = t->dev, .on = on };

	io_thread_call(&c.n->io, track_on_thread, &c);
	return c.ret;
}

static void net_start(struct virtio_mmio *t)
{
	struct virtio_net *n = t->dev;

	io_thread_call(&n->io, start_on_thread, n);
}

static void net_reset(struct virtio_mmio *t)
{
	struct virtio_net *n = t->dev;

	io_thread_call(&n->io, reset_on_thread, n);
}

/* Without an ioeventfd the notification arrives here (a vCPU thread): pass it to the data path. */
static void net_queue_notify(struct virtio_mmio *t, unsigned int q)
{
	struct virtio_net *n = t->dev;
	uint64_t one = 1;

	if (q < NET_NR_QUEUES && write(n->kick_fd[q], &one, sizeof(one)) < 0)
		pr_debug("%s: passing a notification on failed: %s", n->what, strerror(errno));
}

/* --- snapshots ------------------------------------------------------------------------- */

static void net_quiesce(struct virtio_mmio *t)
{
	struct virtio_net *n = t->dev;

	io_thread_call(&n->io, quiesce_on_thread, n);
}

static void net_resume(struct virtio_mmio *t)
{
	struct virtio_net *n = t->dev;

	io_thread_call(&n->io, resume_on_thread, n);
}

/*
 * Payload: tap name (str), vhost (u8 0/1), MAC (6 bytes). The queues are the
 * transport's (vhost gave its indices back at quiesce; cached receive chains
 * went back to the ring); what remains is to check, at restore, that the
 * network configuration rebuilt this NIC as it was.
 */
static void net_save(struct virtio_mmio *t, struct snap_buf *b)
{
	const struct virtio_net *n = t->dev;

	snap_put_str(b, n->tapif);
	snap_put_u8(b, n->use_vhost);
	snap_put_bytes(b, n->mac, sizeof(n->mac));
}

static int net_restore(struct virtio_mmio *t, struct snap_cursor *c)
{
	struct virtio_net *n = t->dev;
	char tapif[IFNAMSIZ];
	uint8_t mac[6];
	bool vhost;
	int ret;

	snap_get_str(c, tapif, sizeof(tapif));
	vhost = snap_get_bool(c);
	snap_get_bytes(c, mac, sizeof(mac));
	ret = snap_cursor_done(c, n->what);
	if (ret < 0)
		return ret;
	if (strcmp(tapif, n->tapif) || vhost != n->use_vhost || memcmp(mac, n->mac, sizeof(mac))) {
		pr_err("%s: the snapshot's state for this NIC (tap '%s'%s) disagrees with its network configuration",
		       n->what, tapif, vhost ? ", vhost" : "");
		return -EINVAL;
	}
	return 0;
}

/* --- the device ------------------------------------------------------------------------ */

static void net_report(const struct virtio_net *n)
{
	const struct net_stats *s = &n->stats;

	if (n->use_vhost) {
		pr_info("%s: frames moved by vhost-net", n->what);
		return;
	}
	pr_info("%s: received %llu frames (%llu bytes), sent %llu (%llu bytes); dropped: %llu malformed, %llu bad headers, %llu refused by the tap, %llu without a link, %llu too large for the receive buffers",
		n->what, (unsigned long long)s->rx_packets, (unsigned long long)s->rx_bytes,
		(unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes, (unsigned long long)s->tx_malformed,
		(unsigned long long)s->tx_bad_header, (unsigned long long)s->tx_errors,
		(unsigned long long)s->tx_no_link, (unsigned long long)s->rx_dropped);
}

static void net_free(struct virtio_net *n)
{
	io_thread_destroy(&n->io);
	for (unsigned int q = 0; q < NET_NR_QUEUES; q++) {
		if (n->own_kick[q])
			close_fd(&n->kick_fd[q]);
		close_fd(&n->call_fd[q]);
	}
	close_fd(&n->retry_fd);
	vhost_close(&n->vhost);
	net_tap_release(&n->tap);
	free(n->rx_bounce);
	free(n);
}

static void net_destroy(struct virtio_mmio *t)
{
	struct virtio_net *n = t->dev;

	io_thread_call(&n->io, stop_on_thread, n);
	net_report(n);
	net_free(n);
}

static const struct virtio_device_ops virtio_net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.num_queues = NET_NR_QUEUES,
	.config_size = VIRTIO_NET_CONFIG_SIZE,
	.config_read = net_config_read,
	.queue_notify = net_queue_notify,
	.reset = net_reset,
	.destroy = net_destroy,
	.quiesce = net_quiesce,
	.save = net_save,
	.restore = net_restore,
	.resume = net_resume,
	.release = net_release,
	.acquire = net_acquire,
	.track = net_track,
	.start = net_start,
	.own_notify = (1u << NET_RXQ) | (1u << NET_TXQ),
};

static int open_vhost(struct virtio_net *n)
{
	int ret = vhost_open(&n->vhost, "/dev/vhost-net", n->what, n->mem);

	if (ret == -ENOENT || ret == -ENODEV)
		pr_err("%s: no /dev/vhost-net on this host: load the vhost_net module (modprobe vhost_net) or drop vhost=1",
		       n->what);
	else if (ret < 0)
		pr_err("%s: cannot use /dev/vhost-net: %s", n->what, strerror(-ret));
	else if ((n->vhost.features & NET_VHOST_FEATURES) != NET_VHOST_FEATURES) {
		pr_err("%s: this host's vhost-net lacks virtio 1.0 or mergeable receive buffers (features 0x%llx)", n->what,
		       (unsigned long long)n->vhost.features);
		ret = -ENOTSUP;
	}
	return ret;
}

/* Everything but the transport: tap, vhost, eventfds, the I/O thread's loop. */
static int net_setup(struct virtio_net *n, const struct net_config *cfg, bool restoring)
{
	int ret = net_tap_open(&n->tap, cfg->tapif, restoring);

	if (ret == -EBUSY) {
		pr_warn("virtio-net %u: tap '%s' is still held by another process (a live migration's source on this host?): the link stays down until it lets go",
			n->index, cfg->tapif);
		snprintf(n->tapif, sizeof(n->tapif), "%s", cfg->tapif);
	} else if (ret < 0) {
		return ret;
	} else {
		snprintf(n->tapif, sizeof(n->tapif), "%s", n->tap.name);
		atomic_store(&n->link_up, true);
	}
	snprintf(n->what, sizeof(n->what), "virtio-net %u (%s)", n->index, n->tapif);
	if (cfg->has_mac)
		memcpy(n->mac, cfg->mac, sizeof(n->mac));
	else
		default_mac(n->tapif, n->index, n->mac);
	n->use_vhost = cfg->vhost;
	if (n->use_vhost && (ret = open_vhost(n)) < 0)
		return ret;
	n->ops.features = NET_F_MAC | NET_F_STATUS | NET_F_MRG_RXBUF;
	if (n->use_vhost)
		n->ops.features |= n->vhost.features & NET_VHOST_RING_FEATURES;
	/* A busy tap's offloads are unknown yet: a restore checks the guest's against the saved device's. */
	if (n->tap.offloads || n->tap.fd < 0)
		n->ops.features |= NET_OFFLOAD_FEATURES;
	n->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	n->rx_bounce = malloc(VIRTIO_NET_HDR_LEN + NET_MAX_FRAME);
	for (unsigned int q = 0; n->use_vhost && q < NET_NR_QUEUES; q++)
		n->call_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->retry_fd < 0 || !n->rx_bounce || (n->use_vhost && (n->call_fd[0] < 0 || n->call_fd[1] < 0))) {
		pr_err("%s: out of memory or file descriptors", n->what);
		return -ENOMEM;
	}
	char name[16];
	snprintf(name, sizeof(name), "net%u-io", n->index);
	return io_thread_init(&n->io, name, SANDBOX_NET_IO);
}

int virtio_net_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, const struct net_config *cfg,
		      unsigned int index, struct net_identity *id)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	int ret;

	if (!n) {
		pr_err("virtio-net: out of memory");
		return -ENOMEM;
	}
	n->index = index;
	n->mem = ctx->mem;
	n->ops = virtio_net_ops;
	n->retry_fd = n->io.call_fd = n->vhost.fd = n->tap.fd = n->tap.sock = -1;
	for (unsigned int q = 0; q < NET_NR_QUEUES; q++)
		n->kick_fd[q] = n->call_fd[q] = -1;
	if (ctx->describe_only) {
		/* --dump-dtb: the transport and its node, no tap. */
		snprintf(n->what, sizeof(n->what), "virtio-net %u", index);
		n->t = virtio_mmio_create(ctx, base, spi, &n->ops, n);
		if (!n->t)
			net_free(n);
		return n->t ? 0 : -ENOSPC;
	}
	ret = net_setup(n, cfg, ctx->restoring);
	if (ret == 0) {
		n->t = virtio_mmio_create(ctx, base, spi, &n->ops, n);
		ret = n->t ? 0 : -ENOSPC;
	}
	if (ret < 0) {
		net_free(n);
		return ret;
	}
	/* From here on the transport owns n: VM teardown calls net_destroy. */
	ret = virtio_mmio_notify_fds(n->t, NET_NR_QUEUES, n->kick_fd, n->own_kick);
	if (ret == 0)
		ret = net_datapath_init(n);
	if (ret < 0) {
		pr_err("%s: no room in its I/O thread's loop", n->what);
		return ret;
	}
	ret = io_thread_start(&n->io);
	if (ret < 0)
		return ret;
	snprintf(id->tapif, sizeof(id->tapif), "%s", n->tapif);
	id->vhost = n->use_vhost;
	memcpy(id->mac, n->mac, sizeof(id->mac));
	pr_info("%s: MAC %02x:%02x:%02x:%02x:%02x:%02x, %s", n->what, n->mac[0], n->mac[1], n->mac[2], n->mac[3],
		n->mac[4], n->mac[5], n->use_vhost ? "vhost-net" : "armvmm's I/O thread");
	return 0;
}
