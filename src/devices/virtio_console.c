/*
 * virtio console. Output: every transmitq chain goes into the console output
 * buffer (core/console_out.h) as it arrives (on whichever thread notified);
 * a chain that does not fit is held, the rest of the queue left alone, until
 * the buffer's writer makes room and calls back. Input: the main loop reads in_fd
 * into st.pending only when it is empty, then hands it to receive buffers;
 * when the guest has no buffer posted, reading in_fd stops until it posts
 * one (its notification comes through wake_fd, since it may arrive on a vCPU
 * thread and the event loop belongs to the main thread). So typed or piped
 * input is never dropped, and never read faster than the guest consumes it.
 */
#include "devices/virtio_console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/console_out.h"
#include "core/state.h"
#include "core/eventloop.h"
#include "core/log.h"
#include "devices/device.h"

/* tx_lock held: put the rest of the held chain's device-readable bytes into the buffer. True when all went. */
static bool console_copy_out(struct virtio_console *con)
{
	const struct virtq_chain *c = &con->tx_chain;
	uint64_t skip = con->tx_off;

	for (unsigned int i = 0; i < c->n_out; i++) {
		const struct iovec *v = &c->iov[i];
		if (skip >= v->iov_len) {
			skip -= v->iov_len;
			continue;
		}
		size_t want = v->iov_len - (size_t)skip;
		size_t took = console_out_write(con->out, (const uint8_t *)v->iov_base + skip, want);
		con->tx_off += took;
		if (took < want)
			return false;
		skip = 0;
	}
	return true;
}

/* tx_lock held: the held chain is done with (all of it out, or dropped): give it back. */
static void console_release(struct virtio_console *con)
{
	virtio_mmio_push_quiet(con->t, VIRTIO_CONSOLE_TXQ, con->tx_chain.head, 0);
	con->tx_held = false;
	con->tx_off = 0;
}

/* Any thread: move transmit chains into the console buffer while it has room. */
static void console_transmit(struct virtio_console *con)
{
	bool pushed = false;

	pthread_mutex_lock(&con->tx_lock);
	for (;;) {
		if (!con->tx_held) {
			if (virtio_mmio_pop(con->t, VIRTIO_CONSOLE_TXQ, &con->tx_chain) <= 0)
				break;
			con->tx_held = true;
			con->tx_off = 0;
		}
		if (con->out && !console_copy_out(con))
			break;	/* full: the writer calls console_room when it made room */
		console_release(con);
		pushed = true;
	}
	if (pushed)
		virtio_mmio_kick_used(con->t, VIRTIO_CONSOLE_TXQ);
	pthread_mutex_unlock(&con->tx_lock);
	if (con->out)
		console_out_report_full(con->out);
}

/* The console output buffer made room (its writer thread): carry on transmitting. */
static void console_room(void *opaque)
{
	console_transmit(opaque);
}

/*
 * Snapshot or reset: a held chain cannot stay half-sent across either. Its
 * rest is dropped and the chain used: the queue state saved (or cleared) then
 * matches what the driver sees.
 */
static void console_drop_held(struct virtio_console *con, bool kick)
{
	pthread_mutex_lock(&con->tx_lock);
	if (con->tx_held) {
		console_release(con);
		if (kick)
			virtio_mmio_kick_used(con->t, VIRTIO_CONSOLE_TXQ);
	}
	pthread_mutex_unlock(&con->tx_lock);
}

static void console_quiesce(struct virtio_mmio *t)
{
	console_drop_held(t->dev, true);
}

static void console_reset(struct virtio_mmio *t)
{
	struct virtio_console *con = t->dev;

	/* The transport already refuses pushes to a reset queue: just forget the chain. */
	pthread_mutex_lock(&con->tx_lock);
	con->tx_held = false;
	con->tx_off = 0;
	pthread_mutex_unlock(&con->tx_lock);
}

/* Main thread: move pending input into receive buffers; pause reading while some is left. */
static void console_deliver(struct virtio_console *con)
{
	struct virtio_console_state *st = &con->st;
	bool pushed = false;

	while (st->pending_len && virtio_mmio_pop(con->t, VIRTIO_CONSOLE_RXQ, &con->rx_chain) > 0) {
		const struct virtq_chain *c = &con->rx_chain;
		size_t n = iov_from_buf(c->iov + c->n_out, c->n_in, 0, st->pending + st->pending_off,
					st->pending_len);
		st->pending_off += (uint32_t)n;
		st->pending_len -= (uint32_t)n;
		virtio_mmio_push_quiet(con->t, VIRTIO_CONSOLE_RXQ, c->head, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_mmio_kick_used(con->t, VIRTIO_CONSOLE_RXQ);
	if (con->in_id >= 0)
		eventloop_enable(con->loop, con->in_id, !con->in_eof && st->pending_len == 0);
}

static void console_input_cb(void *opaque, int fd, short revents)
{
	struct virtio_console *con = opaque;
	ssize_t n;

	if (con->st.pending_len == 0) {
		n = read(fd, con->st.pending, sizeof(con->st.pending));
		if (n > 0) {
			con->st.pending_off = 0;
			con->st.pending_len = (uint32_t)n;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN) || (revents & (POLLERR | POLLNVAL))) {
			con->in_eof = true; /* end of input: the guest keeps running */
		}
	}
	console_deliver(con);
}

static void console_wake_cb(void *opaque, int fd, short revents)
{
	struct virtio_console *con = opaque;
	int ret = eventfd_drain(fd);

	(void)revents;
	if (ret < 0)
		pr_debug("virtio-console: wake eventfd read failed: %s", strerror(-ret));
	console_deliver(con);
}

static void console_notify(struct virtio_mmio *t, unsigned int q)
{
	struct virtio_console *con = t->dev;
	uint64_t one = 1;

	if (q == VIRTIO_CONSOLE_TXQ) {
		console_transmit(con);
	} else if (write(con->wake_fd, &one, sizeof(one)) < 0) {
		pr_debug("virtio-console: wake eventfd write failed: %s", strerror(errno));
	}
}

static void console_config_read(struct virtio_mmio *t, uint32_t off, uint8_t *data, unsigned int len)
{
	/* No size or multiport feature is offered: the config space reads as zeros. */
	(void)t;
	(void)off;
	memset(data, 0, len);
}

static void console_destroy(struct virtio_mmio *t)
{
	struct virtio_console *con = t->dev;

	close(con->wake_fd);
	pthread_mutex_destroy(&con->tx_lock);
	free(con);
}

/*
 * Snapshot payload: pending_len (u32), then the pending_len bytes of host
 * input not yet given to the guest, oldest first. Main thread only, like st.
 */
static void console_save(struct virtio_mmio *t, struct snap_buf *b)
{
	const struct virtio_console *con = t->dev;

	snap_put_u32(b, con->st.pending_len);
	snap_put_bytes(b, con->st.pending + con->st.pending_off, con->st.pending_len);
}

static int console_restore(struct virtio_mmio *t, struct snap_cursor *c)
{
	struct virtio_console *con = t->dev;
	uint8_t pending[VIRTIO_CONSOLE_PENDING];
	uint32_t len;
	char what[64];
	uint64_t one = 1;
	int ret;

	snprintf(what, sizeof(what), "virtio-console at 0x%llx", (unsigned long long)t->base);
	len = snap_get_u32(c);
	if (!c->err && len > VIRTIO_CONSOLE_PENDING) {
		pr_err("%s: snapshot pending_len %u exceeds the %u-byte input buffer", what, len,
		       VIRTIO_CONSOLE_PENDING);
		return -EINVAL;
	}
	snap_get_bytes(c, pending, len);
	ret = snap_cursor_done(c, what);
	if (ret < 0)
		return ret;
	memcpy(con->st.pending, pending, len);
	con->st.pending_off = 0;
	con->st.pending_len = len;
	/*
	 * Let the main loop deliver it once the driver has buffers posted: the
	 * wake callback runs console_deliver, which also stops reading the host
	 * input while anything is pending.
	 */
	if (write(con->wake_fd, &one, sizeof(one)) < 0)
		pr_debug("%s: wake eventfd write failed: %s", what, strerror(errno));
	return 0;
}

static const struct virtio_device_ops virtio_console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = 2,
	.config_size = VIRTIO_CONSOLE_CONFIG_SIZE,
	.config_read = console_config_read,
	.queue_notify = console_notify,
	.reset = console_reset,
	.quiesce = console_quiesce,
	.destroy = console_destroy,
	.save = console_save,
	.restore = console_restore,
};

int virtio_console_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, int in_fd)
{
	struct virtio_console *con = calloc(1, sizeof(*con));

	if (!con) {
		pr_err("virtio-console: out of memory");
		return -ENOMEM;
	}
	con->loop = ctx->loop;
	con->in_fd = in_fd;
	con->out = ctx->console;
	con->in_id = -1;
	con->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&con->tx_lock, NULL);
	if (con->wake_fd < 0) {
		int err = errno;
		pr_err("virtio-console: cannot create an eventfd: %s", strerror(err));
		pthread_mutex_destroy(&con->tx_lock);
		free(con);
		return -err;
	}
	con->t = virtio_mmio_create(ctx, base, spi, &virtio_console_ops, con);
	if (!con->t) {
		close(con->wake_fd);
		pthread_mutex_destroy(&con->tx_lock);
		free(con);
		return -ENOSPC;
	}
	/* From here on the transport owns con: vm teardown calls console_destroy. */
	if (eventloop_add(ctx->loop, con->wake_fd, POLLIN, console_wake_cb, con) < 0)
		goto no_room;
	if (con->out && console_out_add_waiter(con->out, console_room, con) < 0)
		goto no_room;
	/* A closed in_fd (no stdin) leaves the console output only. */
	if (fcntl(in_fd, F_GETFD) >= 0) {
		con->in_id = eventloop_add(ctx->loop, in_fd, POLLIN, console_input_cb, con);
		if (con->in_id < 0)
			goto no_room;
	}
	return 0;

no_room:
	pr_err("virtio-console: no room in the event loop");
	return -ENOSPC;
}
