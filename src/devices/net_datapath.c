/*
 * virtio-net's own data path: one I/O thread per NIC (virtio_net.h) owns the
 * tap and both queues. Transmit: every chain the driver queued is checked
 * (net_packet.c) and written to the tap, then one interrupt for the batch.
 * Receive: chains are taken ahead into a cache, frames are read from the tap
 * straight into them (several chains per frame with mergeable buffers), one
 * interrupt per batch. While the thread works a ring it tells the driver not
 * to notify (VIRTQ_USED_F_NO_NOTIFY), and it looks again before it sleeps.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "core/log.h"
#include "devices/virtio_net.h"

#define TX_BUDGET 256u		/* chains per pass before the receive side gets a turn */
#define RX_BUDGET 64u		/* frames per pass */
#define RX_NEED (VIRTIO_NET_HDR_LEN + NET_MAX_FRAME)	/* room for any frame the tap can give */
#define RX_MIN (VIRTIO_NET_HDR_LEN + NET_MTU_FRAME)	/* room for a frame without segmentation offload */

void net_guest_error(struct virtio_net *n, unsigned int kind, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!(n->warned & (1u << kind)))
		pr_warn("%s: %s (dropped; further ones are only counted)", n->what, msg);
	else
		pr_debug("%s: %s (dropped)", n->what, msg);
	n->warned |= 1u << kind;
}

enum { WARN_TX_MALFORMED, WARN_TX_HEADER, WARN_TX_TAP, WARN_RX_BUF, WARN_RX_SMALL, WARN_RX_TAP };

static void tap_lost(struct virtio_net *n, int err);

/* --- transmit -------------------------------------------------------------------- */

/* One chain to the tap. false: the tap would block (the chain went back to the ring). */
static bool tx_one(struct virtio_net *n)
{
	const char *why;
	enum net_tx_verdict v = net_tx_check(&n->chain, n->features, &n->tx_hdr, &why);

	if (v == NET_TX_MALFORMED) {
		n->stats.tx_malformed++;
		net_guest_error(n, WARN_TX_MALFORMED, "transmit chain refused: %s", why);
	} else if (v == NET_TX_BAD_HEADER) {
		n->stats.tx_bad_header++;
		net_guest_error(n, WARN_TX_HEADER, "transmit header refused: %s", why);
	} else if (n->tap.fd < 0) {
		n->stats.tx_no_link++;
	} else {
		unsigned int cnt = net_tx_iov(&n->chain, &n->tx_hdr, n->tx_iov);
		ssize_t w = writev(n->tap.fd, n->tx_iov, (int)cnt);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			virtio_mmio_unpop(n->t, NET_TXQ, 1);
			return false;
		}
		if (w < 0 && errno == EBADFD) {
			n->stats.tx_no_link++;
			tap_lost(n, errno);
		} else if (w < 0) {
			n->stats.tx_errors++;
			net_guest_error(n, WARN_TX_TAP, "the tap refused a %llu-byte frame: %s",
					(unsigned long long)(n->chain.out_bytes - VIRTIO_NET_HDR_LEN), strerror(errno));
		} else {
			n->stats.tx_packets++;
			n->stats.tx_bytes += n->chain.out_bytes - VIRTIO_NET_HDR_LEN;
		}
	}
	virtio_mmio_push_quiet(n->t, NET_TXQ, n->chain.head, 0);
	return true;
}

static void net_tx(struct virtio_net *n)
{
	unsigned int done = 0;
	bool more = true;

	while (more && done < TX_BUDGET && !n->tx_blocked) {
		virtio_mmio_want_notify(n->t, NET_TXQ, false);
		while (done < TX_BUDGET && virtio_mmio_pop(n->t, NET_TXQ, &n->chain) > 0) {
			if (!tx_one(n)) {
				n->tx_blocked = true;
				io_thread_enable(&n->io, n->id_tap_out, true);
				break;
			}
			done++;
		}
		/* Notifications back on; a chain queued meanwhile is seen here. */
		more = virtio_mmio_want_notify(n->t, NET_TXQ, true);
	}
	if (done)
		virtio_mmio_kick_used(n->t, NET_TXQ);
	if (more && !n->tx_blocked) {
		/* Budget spent with chains left: come back after the receive side had its turn. */
		uint64_t one = 1;
		if (write(n->kick_fd[NET_TXQ], &one, sizeof(one)) < 0)
			pr_debug("%s: re-arming transmit failed: %s", n->what, strerror(errno));
	}
}

static void tx_kick_cb(void *opaque, int fd, short revents)
{
	(void)revents;
	(void)eventfd_drain(fd);
	net_tx(opaque);
}

static void tap_writable_cb(void *opaque, int fd, short revents)
{
	struct virtio_net *n = opaque;

	(void)fd;
	(void)revents;
	n->tx_blocked = false;
	io_thread_enable(&n->io, n->id_tap_out, false);
	net_tx(n);
}

/* --- receive ---------------------------------------------------------------------- */

/* The cached chains' iovecs from the first one on (nothing has been consumed ahead of rx_buf[0]). */
static struct iovec *rx_iov_first(struct virtio_net *n)
{
	return &n->rx_iov[n->rx_buf[0].iov_first];
}

/* Forget the first k cached chains (used, or given back). */
static void rx_consume(struct virtio_net *n, unsigned int k)
{
	unsigned int iov_end = k < n->rx_count ? n->rx_buf[k].iov_first : n->rx_iov_used;

	for (unsigned int i = 0; i < k; i++)
		n->rx_bytes_cached -= n->rx_buf[i].len;
	n->rx_count -= k;
	memmove(n->rx_buf, n->rx_buf + k, n->rx_count * sizeof(n->rx_buf[0]));
	if (n->rx_count == 0) {
		n->rx_iov_used = 0;
		return;
	}
	/* Keep the iovecs packed from 0: a frame reads into one contiguous run of them. */
	unsigned int shift = iov_end;
	memmove(n->rx_iov, n->rx_iov + shift, (n->rx_iov_used - shift) * sizeof(n->rx_iov[0]));
	n->rx_iov_used -= shift;
	for (unsigned int i = 0; i < n->rx_count; i++)
		n->rx_buf[i].iov_first -= shift;
}

/*
 * Take chains until there is room for any frame, the cache is full or the
 * ring is empty. true when it stopped with the cache (or its iovecs) full:
 * the guest cannot give more room than the cache holds now.
 */
static bool rx_fill(struct virtio_net *n)
{
	if (n->rx_count == NET_RX_CACHE)
		return true;
	while (n->rx_bytes_cached < RX_NEED && n->rx_count < NET_RX_CACHE) {
		struct virtq_chain *c = &n->chain;
		if (virtio_mmio_pop(n->t, NET_RXQ, c) <= 0)
			return false;
		if (c->n_out || c->n_in == 0 || c->in_bytes < VIRTIO_NET_HDR_LEN) {
			/* Spec: writable buffers only, at least a header. Give it back empty. */
			net_guest_error(n, WARN_RX_BUF, "receive chain with %u readable and %u writable buffers (%llu bytes)",
					c->n_out, c->n_in, (unsigned long long)c->in_bytes);
			virtio_mmio_push_quiet(n->t, NET_RXQ, c->head, 0);
			n->rx_pushed_empty = true;
			continue;
		}
		if (n->rx_iov_used + c->n_in > NET_RX_IOV_MAX) {
			virtio_mmio_unpop(n->t, NET_RXQ, 1);
			return true;
		}
		struct net_rx_buf *b = &n->rx_buf[n->rx_count++];
		*b = (struct net_rx_buf){ .head = c->head, .len = (uint32_t)c->in_bytes, .iov_first = n->rx_iov_used,
					  .iov_n = c->n_in };
		memcpy(&n->rx_iov[n->rx_iov_used], c->iov + c->n_out, c->n_in * sizeof(c->iov[0]));
		n->rx_iov_used += c->n_in;
		n->rx_bytes_cached += b->len;
	}
	return n->rx_count == NET_RX_CACHE;
}

/* The cached chains' writable iovecs a frame goes into: all of them (mergeable), or the first chain's. */
static unsigned int rx_iov_count(struct virtio_net *n, bool merge)
{
	return merge ? n->rx_iov_used - n->rx_buf[0].iov_first : n->rx_buf[0].iov_n;
}

/* Give a frame of len bytes in the first cached chains to the driver. */
static void rx_deliver(struct virtio_net *n, bool merge, uint64_t len)
{
	uint16_t nbufs = 0, le;
	uint64_t left = len;

	do {
		uint32_t take = left < n->rx_buf[nbufs].len ? (uint32_t)left : n->rx_buf[nbufs].len;
		left -= take;
		nbufs++;
	} while (merge && left && nbufs < n->rx_count);
	/* num_buffers, the header's last field: how many chains the frame spans. */
	le = htole16(nbufs);
	iov_from_buf(rx_iov_first(n), n->rx_buf[0].iov_n, offsetof(struct virtio_net_hdr_v1, num_buffers), &le,
		     sizeof(le));
	left = len;
	for (unsigned int i = 0; i < nbufs; i++) {
		uint32_t take = left < n->rx_buf[i].len ? (uint32_t)left : n->rx_buf[i].len;
		virtio_mmio_push_quiet(n->t, NET_RXQ, n->rx_buf[i].head, take);
		left -= take;
	}
	rx_consume(n, nbufs);
	n->stats.rx_packets++;
	n->stats.rx_bytes += len - VIRTIO_NET_HDR_LEN;
}

/* Wait for the driver's kick before reading more: too few buffers posted. */
static void rx_wait(struct virtio_net *n)
{
	n->rx_waiting = true;
	io_thread_enable(&n->io, n->id_tap_in, false);
}

/*
 * A frame read into the bounce buffer that the cached chains cannot hold yet:
 * delivered once they can; dropped (and counted) when they never will: one
 * chain without mergeable buffers, or a cache full of chains too small
 * together. true: done with it (delivered or dropped), go on; false: wait.
 */
static bool rx_pending_frame(struct virtio_net *n, bool merge, bool cache_full, uint64_t cap)
{
	uint32_t len = n->rx_pending;

	if (n->rx_count && len <= cap) {
		iov_from_buf(rx_iov_first(n), rx_iov_count(n, merge), 0, n->rx_bounce, len);
		rx_deliver(n, merge, len);
	} else if (n->rx_count && (!merge || cache_full)) {
		n->stats.rx_dropped++;
		net_guest_error(n, WARN_RX_SMALL, "a %u-byte frame does not fit the %llu bytes of receive buffers posted",
				len, (unsigned long long)cap);
	} else {
		return false;
	}
	n->rx_pending = 0;
	return true;
}

/*
 * Receive: frames from the tap into the chains the guest posted. Straight
 * into them when the cached chains can hold any frame (the usual case: the
 * driver keeps its ring full); otherwise through the bounce buffer, so a
 * frame is seen whole before it is placed, and waits there for more buffers.
 */
static void net_rx(struct virtio_net *n)
{
	bool merge = n->features & NET_F_MRG_RXBUF, delivered = false;

	for (unsigned int i = 0; i < RX_BUDGET && n->tap.fd >= 0; i++) {
		bool cache_full = rx_fill(n);
		uint64_t cap = merge ? n->rx_bytes_cached : n->rx_count ? n->rx_buf[0].len : 0;
		ssize_t len;

		if (n->rx_pending ? !rx_pending_frame(n, merge, cache_full, cap) : n->rx_count == 0) {
			/* Ask for the kick, then look once more: the driver may have posted meanwhile. */
			if (virtio_mmio_want_notify(n->t, NET_RXQ, true))
				continue;
			rx_wait(n);
			break;
		}
		if (!n->rx_count)
			continue;	/* the pending frame took every chain */
		virtio_mmio_want_notify(n->t, NET_RXQ, false);
		if (cap >= RX_NEED)
			len = readv(n->tap.fd, rx_iov_first(n), (int)rx_iov_count(n, merge));
		else
			len = read(n->tap.fd, n->rx_bounce, RX_NEED);
		if (len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (len < 0 && errno == EBADFD) {
			tap_lost(n, errno);
			break;
		}
		if (len < 0) {
			net_guest_error(n, WARN_RX_TAP, "reading the tap failed: %s", strerror(errno));
			break;
		}
		if (len < (ssize_t)VIRTIO_NET_HDR_LEN)
			continue;	/* nothing a guest could use */
		if (cap < RX_NEED) {
			n->rx_pending = (uint32_t)len;
			if (!rx_pending_frame(n, merge, cache_full, cap))
				continue;	/* kept: the next round asks for buffers */
		} else {
			rx_deliver(n, merge, (uint64_t)len);
		}
		delivered = true;
	}
	if (delivered || n->rx_pushed_empty)
		virtio_mmio_kick_used(n->t, NET_RXQ);
	n->rx_pushed_empty = false;
}

static void tap_readable_cb(void *opaque, int fd, short revents)
{
	struct virtio_net *n = opaque;

	(void)fd;
	/* The interface was deleted under us: poll says so for good (and reads fail with EBADFD). */
	if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
		tap_lost(n, EBADFD);
		return;
	}
	net_rx(n);
}

static void rx_kick_cb(void *opaque, int fd, short revents)
{
	struct virtio_net *n = opaque;

	(void)revents;
	(void)eventfd_drain(fd);
	if (n->rx_waiting) {
		n->rx_waiting = false;
		io_thread_enable(&n->io, n->id_tap_in, n->tap.fd >= 0);
	}
	net_rx(n);
}

/* --- a busy tap, attached later; vhost's used-buffer signals ----------------------------- */

/* On the thread: the tap changed (attached, or closed: fd -1); its entries follow. */
void net_datapath_set_tap(struct virtio_net *n)
{
	eventloop_set_fd(&n->io.loop, n->id_tap_in, n->tap.fd);
	eventloop_set_fd(&n->io.loop, n->id_tap_out, n->tap.fd);
	n->tx_blocked = false;
	io_thread_enable(&n->io, n->id_tap_out, false);
	if (n->running && !n->use_vhost)
		io_thread_enable(&n->io, n->id_tap_in, n->tap.fd >= 0 && !n->rx_waiting);
}

/* On the thread: try to attach the tap every ms milliseconds until it is attached (ms 0: stop trying). */
void net_datapath_retry(struct virtio_net *n, unsigned int ms)
{
	int err = io_thread_timer(&n->io, n->id_retry, n->retry_fd, ms);

	if (err < 0)
		pr_warn("%s: cannot set the tap retry timer: %s", n->what, strerror(-err));
}

/* The tap's interface went away (deleted by someone): link down, and look for a tap of its name again. */
static void tap_lost(struct virtio_net *n, int err)
{
	pr_warn("%s: the tap went away (%s): link down until a tap named '%s' can be attached again", n->what,
		strerror(err), n->tapif);
	net_tap_close(&n->tap);
	net_datapath_set_tap(n);
	atomic_store(&n->link_up, false);
	virtio_mmio_config_changed(n->t);
	net_datapath_retry(n, 1000);
}

static void retry_cb(void *opaque, int fd, short revents)
{
	struct virtio_net *n = opaque;
	uint64_t ticks;
	int ret;

	(void)revents;
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	ret = net_try_attach(n);
	if (ret == -EBUSY)
		return;
	net_datapath_retry(n, 0); /* attached, or failed for good (said why; the link stays down) */
	if (ret == 0 && n->running && !n->use_vhost)
		net_tx(n);
}

int net_datapath_init(struct virtio_net *n)
{
	struct io_thread *io = &n->io;

	n->id_tx_kick = io_thread_add(io, n->kick_fd[NET_TXQ], POLLIN, tx_kick_cb, n);
	n->id_rx_kick = io_thread_add(io, n->kick_fd[NET_RXQ], POLLIN, rx_kick_cb, n);
	n->id_tap_in = io_thread_add(io, n->tap.fd, POLLIN, tap_readable_cb, n);
	n->id_tap_out = io_thread_add(io, n->tap.fd, POLLOUT, tap_writable_cb, n);
	n->id_retry = io_thread_add(io, n->retry_fd, POLLIN, retry_cb, n);
	for (unsigned int q = 0; q < NET_NR_QUEUES; q++)
		n->id_call[q] = io_thread_add(io, n->call_fd[q], POLLIN, virtio_mmio_used_signal_cb, n->t);
	if (n->id_call[NET_NR_QUEUES - 1] < 0)
		return -ENOSPC;
	net_datapath_stop(n);
	/* A tap a restore found busy: look again every 100 ms until it is ours. */
	net_datapath_retry(n, n->tap.fd < 0 ? 100 : 0);
	return 0;
}

/* On the thread: serve the entries of the mode the NIC runs in. */
void net_datapath_start(struct virtio_net *n)
{
	struct io_thread *io = &n->io;
	bool user = !n->use_vhost, tap = n->tap.fd >= 0;

	n->tx_blocked = false;
	n->rx_waiting = false;
	io_thread_enable(io, n->id_tx_kick, user);
	io_thread_enable(io, n->id_rx_kick, user);
	io_thread_enable(io, n->id_tap_in, user && tap);
	io_thread_enable(io, n->id_tap_out, false);
	for (unsigned int q = 0; q < NET_NR_QUEUES; q++)
		io_thread_enable(io, n->id_call[q], n->use_vhost && n->call_fd[q] >= 0 && virtio_mmio_irqfd(n->t) < 0);
}

/* On the thread: serve nothing of the queues; cached receive chains go back, so the ring's state is whole. */
void net_datapath_stop(struct virtio_net *n)
{
	struct io_thread *io = &n->io;

	io_thread_enable(io, n->id_tx_kick, false);
	io_thread_enable(io, n->id_rx_kick, false);
	io_thread_enable(io, n->id_tap_in, false);
	io_thread_enable(io, n->id_tap_out, false);
	for (unsigned int q = 0; q < NET_NR_QUEUES; q++)
		io_thread_enable(io, n->id_call[q], false);
	if (n->rx_count)
		virtio_mmio_unpop(n->t, NET_RXQ, (uint16_t)n->rx_count);
	n->rx_count = 0;
	n->rx_iov_used = 0;
	n->rx_bytes_cached = 0;
}
