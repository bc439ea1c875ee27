/* The receiving side of a live migration (recv.h). */
#include "migration/recv.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "board/board.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/log.h"
#include "migration/stream.h"
#include "snapshot/snapshot.h"

/* The source pauses at most for the stop step between frames; a silence this long means it is gone. */
#define FRAME_TIMEOUT_MS 120000
#define REPLY_TIMEOUT_MS 10000
#define DRAIN_MS 2000

static int send_reply(struct mig_incoming *in, bool yes, const char *reason)
{
	struct snap_buf b = { 0 };
	int err;

	mig_reply_payload(&b, yes, reason);
	err = b.err ? -ENOMEM : mig_send_frame(in->fd, MIG_TAG_REPLY, 0, b.data, b.len, REPLY_TIMEOUT_MS);
	snap_buf_free(&b);
	return err;
}

/*
 * Tell the source no (with this process's last error line) and hang up
 * cleanly: closing with its frames unread would reset the connection and
 * lose the reason, so they are read and dropped until it closes too.
 */
static void refuse(struct mig_incoming *in)
{
	char buf[65536];
	uint64_t end = clock_monotonic_ms() + DRAIN_MS;

	if (in->fd < 0)
		return;
	if (send_reply(in, false, *log_last_error() ? log_last_error() : "the destination failed") == 0) {
		shutdown(in->fd, SHUT_WR);
		while (clock_monotonic_ms() < end) {
			struct pollfd p = { .fd = in->fd, .events = POLLIN };
			if (poll(&p, 1, 100) > 0 && recv(in->fd, buf, sizeof(buf), MSG_DONTWAIT) == 0)
				break;
		}
	}
	close_fd(&in->fd);
}

/* The next frame into rx; *buf is reused (and grown) across frames. 0, or -errno after one error line. */
static int next_frame(struct mig_incoming *in, struct mig_rx *rx, uint8_t **buf, size_t *cap)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE];
	uint32_t tag, instance, crc;
	uint64_t len;
	int err = mig_reader_read(&in->in, hdr, sizeof(hdr));

	if (!err)
		err = mig_parse_frame_header(hdr, rx->h.page_size, &tag, &instance, &len, &crc);
	if (err == -EPROTO && *log_last_error())
		return err;
	if (!err && len > *cap) {
		uint8_t *nb = realloc(*buf, (size_t)len);
		if (!nb) {
			pr_err("out of memory receiving a migration");
			return -ENOMEM;
		}
		*buf = nb;
		*cap = (size_t)len;
	}
	if (!err)
		err = mig_reader_read(&in->in, *buf, (size_t)len);
	if (err == -ENODATA || err == -EPROTO || err == -ECONNRESET) {
		pr_err("the source went away in the middle of the migration");
		return -EPIPE;
	}
	if (err == -ETIMEDOUT) {
		pr_err("the source sent nothing for %d s: giving up the migration", FRAME_TIMEOUT_MS / 1000);
		return err;
	}
	if (err) {
		pr_err("receiving the migration failed: %s", strerror(-err));
		return err;
	}
	return mig_rx_frame(rx, tag, instance, *buf, (size_t)len, crc);
}

static int wait_for_source(struct mig_incoming *in, const struct vm_config *req)
{
	int lfd;

	if (mig_addr_parse(req->incoming, &in->addr) < 0 || mig_addr_resolve(&in->addr) < 0)
		return -EINVAL;
	lfd = mig_listen(&in->addr);
	if (lfd < 0)
		return lfd;
	pr_info("waiting for an incoming VM on %s", in->addr.text);
	in->fd = mig_accept(lfd, &in->addr);
	/* Exactly one VM comes in: nobody else may connect now. */
	mig_unlisten(lfd, &in->addr);
	if (in->fd < 0)
		return in->fd;
	if (mig_reader_init(&in->in, in->fd, FRAME_TIMEOUT_MS) < 0) {
		pr_err("out of memory receiving a migration");
		return -ENOMEM;
	}
	return 0;
}

/* The handshake's decision: build the machine the source describes, or say why not. */
static int accept_vm(struct board *b, struct mig_rx *rx, const struct vm_config *req, struct vm_config *restored,
		     struct board_conf_expect *expect)
{
	struct snap_cursor c = mig_rx_conf(rx);
	int ret = board_conf_load(&c, req, rx->h.nr_vcpus, rx->h.mem_gpa, rx->h.mem_size, rx->h.irqchip_type,
				  restored, expect);

	/* NICs and vsock: built now, their taps and CID taken as the source lets go of them (retried until then). */
	if (ret == 0 && mig_rx_netconf(rx, &c))
		ret = snapshot_netconf_load(&c, req, restored);
	if (ret < 0)
		return ret;
	/* The source still has the disks: they are locked once it lets go (DONE). */
	for (unsigned int i = 0; i < restored->nr_disks; i++)
		restored->disks[i].defer_lock = true;
	b->cfg = restored;
	b->vm.restoring = true;
	ret = board_build(b, -1);
	if (ret == 0 && b->irqchip.type != (enum irqchip_type)rx->h.irqchip_type) {
		pr_err("the VM needs the %s, but this host gave the %s",
		       irqchip_type_name((enum irqchip_type)rx->h.irqchip_type), irqchip_type_name(b->irqchip.type));
		ret = -ENODEV;
	}
	if (ret == 0 && b->vm.mem.page_size != rx->h.page_size) {
		pr_err("the VM comes from a host with %u-byte pages, this one has %llu-byte pages", rx->h.page_size,
		       (unsigned long long)b->vm.mem.page_size);
		ret = -EINVAL;
	}
	return ret;
}

/* Take the disks; *n says how many devices got theirs (to let go again on failure). */
static int acquire_devices(struct board *b, unsigned int *n)
{
	for (*n = 0; *n < b->devices.count; (*n)++) {
		struct device *d = &b->devices.dev[*n];
		int ret = d->ops->acquire ? d->ops->acquire(d) : 0;
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* A failed restore lets go of the disks before it says no: the source takes them back at once. */
static void release_devices(struct board *b, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct device *d = &b->devices.dev[i];
		if (d->ops->release)
			d->ops->release(d);
	}
}

int mig_receive(struct board *b, const struct vm_config *req, struct vm_config *restored, struct mig_incoming *in)
{
	struct board_conf_expect expect = { 0 };
	struct mig_rx rx;
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t t0;
	int ret;

	in->fd = -1;
	in->in.buf = NULL;
	mig_rx_init(&rx, board_snap_kinds, board_nr_snap_kinds);
	log_clear_error();
	ret = wait_for_source(in, req);
	if (ret < 0)
		return ret;
	t0 = clock_monotonic_ns();
	while (ret == 0 && rx.phase < MIG_RX_ACCEPT)
		ret = next_frame(in, &rx, &buf, &cap);
	if (ret == 0)
		ret = accept_vm(b, &rx, req, restored, &expect);
	if (ret == 0)
		ret = send_reply(in, true, "");
	if (ret == 0) {
		pr_info("accepted a VM from %s: %u vCPU(s), %llu MiB RAM, %s", in->addr.text, rx.h.nr_vcpus,
			(unsigned long long)(rx.h.mem_size >> 20), irqchip_type_name(b->irqchip.type));
		mig_rx_set_ram(&rx, b->vm.mem.host);
	}
	while (ret == 0 && rx.phase != MIG_RX_DONE)
		ret = next_frame(in, &rx, &buf, &cap);
	/* The source has let go of the disks: take them, then the state goes in as a snapshot's would. */
	uint64_t t_done = clock_monotonic_ns();
	unsigned int acquired = 0;
	if (ret == 0)
		ret = acquire_devices(b, &acquired);
	if (ret == 0)
		ret = snapshot_load(b, &rx.state, &expect);
	if (ret < 0)
		release_devices(b, acquired);
	if (ret == 0)
		pr_info("received the VM from %s: %llu pages, %llu zero pages, in %llu ms; state loaded in %llu ms",
			in->addr.text, (unsigned long long)rx.pages, (unsigned long long)rx.zero_pages,
			(unsigned long long)((t_done - t0) / 1000000),
			(unsigned long long)((clock_monotonic_ns() - t_done) / 1000000));
	in->pages = rx.pages;
	mig_reader_free(&in->in);
	free(buf);
	mig_rx_free(&rx);
	if (ret < 0)
		refuse(in);
	return ret;
}

int mig_confirm(struct mig_incoming *in)
{
	int ret = send_reply(in, true, "");

	pr_info("migration: the VM runs here, confirmed to %s", in->addr.text);
	if (ret < 0)
		pr_err("the source did not take the confirmation (%s): it may be running the VM still, so this copy stops",
		       strerror(-ret));
	close_fd(&in->fd);
	return ret;
}

void mig_incoming_close(struct mig_incoming *in)
{
	close_fd(&in->fd);
}
