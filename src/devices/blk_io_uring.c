/*
 * The io_uring block backend (liburing). Up to `depth` requests in flight;
 * the kernel signals every completion on an eventfd registered with the ring.
 *
 * The ring is locked down before it is used: created disabled
 * (IORING_SETUP_R_DISABLED), the disk registered as fixed file 0, the
 * completion eventfd registered, then IORING_REGISTER_RESTRICTIONS allows only
 * READV, WRITEV, FSYNC and FALLOCATE, only on fixed files, and no register
 * operation at all; IORING_REGISTER_ENABLE_RINGS makes that final. Whatever a bug
 * in the device did with an SQE, the ring can touch nothing but the disk.
 *
 * Submission never gives up: when io_uring_enter refuses (EAGAIN, EBUSY:
 * the kernel is short of memory or the completion ring is full), the SQEs
 * stay in the ring and a timerfd (retry_fd) is armed, backing off from 1 ms to
 * 100 ms; the owner's event loop calls blk_io_retry() when it fires. So a
 * request is never left queued with nothing to send it.
 */
#include "devices/blk_io.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define DISK_FIXED_FILE 0	/* index of the disk in the registered file table */
#define RETRY_FIRST_NS 1000000ull	/* 1 ms */
#define RETRY_MAX_NS 100000000ull	/* 100 ms */

/*
 * IORING_REGISTER_RESTRICTIONS and IORING_REGISTER_ENABLE_RINGS go straight to
 * io_uring_register(2): liburing 2.3 (Debian bookworm) declares wrappers for
 * them but leaves them out of its shared library's symbol map.
 */
static int ring_register(struct io_uring *ring, unsigned int opcode, const void *arg, unsigned int nr)
{
	long ret = syscall(__NR_io_uring_register, ring->ring_fd, opcode, arg, nr);

	return ret < 0 ? -errno : 0;
}

struct blk_io_uring {
	struct blk_io io;
	struct io_uring ring;
	uint64_t retry_ns;	/* next back-off; 0 when the last submit took everything */
};

/* Fill an SQE for req (from req->done on, for a partly done transfer); false when the SQ is full. */
static bool prep(struct blk_io_uring *u, struct blk_io_req *req)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe)
		return false;
	switch (req->op) {
	case BLK_IO_READ:
		io_uring_prep_readv(sqe, DISK_FIXED_FILE, req->iov, req->iovcnt, req->offset + req->done);
		break;
	case BLK_IO_WRITE:
		io_uring_prep_writev(sqe, DISK_FIXED_FILE, req->iov, req->iovcnt, req->offset + req->done);
		break;
	case BLK_IO_FLUSH:
		io_uring_prep_fsync(sqe, DISK_FIXED_FILE, IORING_FSYNC_DATASYNC);
		break;
	case BLK_IO_FALLOCATE:
		io_uring_prep_fallocate(sqe, DISK_FIXED_FILE, req->mode, (off_t)req->offset, (off_t)req->len);
		break;
	}
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data(sqe, req);
	return true;
}

static int uring_submit(struct blk_io *io, struct blk_io_req *req)
{
	struct blk_io_uring *u = (struct blk_io_uring *)io;

	if (io->outstanding >= io->depth)
		return -EBUSY;
	req->done = 0;
	if (!prep(u, req))
		return -EBUSY;
	io->outstanding++;
	return 0;
}

/* Some SQEs are still in the ring: have retry_fd fire after the next back-off step. */
static void arm_retry(struct blk_io_uring *u)
{
	struct itimerspec its = { 0 };

	u->retry_ns = u->retry_ns ? u->retry_ns * 2 : RETRY_FIRST_NS;
	if (u->retry_ns > RETRY_MAX_NS)
		u->retry_ns = RETRY_MAX_NS;
	its.it_value.tv_sec = (time_t)(u->retry_ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(u->retry_ns % 1000000000ull);
	if (timerfd_settime(u->io.retry_fd, 0, &its, NULL) < 0)
		pr_warn_ratelimited("io_uring: cannot arm the submission retry timer: %s", strerror(errno));
}

static int uring_commit(struct blk_io *io)
{
	struct blk_io_uring *u = (struct blk_io_uring *)io;
	int ret = 0;

	while (io_uring_sq_ready(&u->ring)) {
		ret = io_uring_submit(&u->ring);
		if (ret == -EINTR)
			continue;
		if (ret <= 0)
			break;	/* refused (or nothing taken): retry_fd sends the rest later */
	}
	if (!io_uring_sq_ready(&u->ring)) {
		u->retry_ns = 0;
		return 0;
	}
	arm_retry(u);
	return ret < 0 ? ret : -EAGAIN;
}

static unsigned int uring_reap(struct blk_io *io, struct blk_io_completion *c, unsigned int max)
{
	struct blk_io_uring *u = (struct blk_io_uring *)io;
	struct io_uring_cqe *cqe;
	unsigned int n = 0;
	bool resubmitted = false;

	while (n < max && io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct blk_io_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		if (res == -EAGAIN || res == -EINTR) {
			/* Nothing was done: try again. */
			if (prep(u, req)) {
				resubmitted = true;
				continue;
			}
		} else if (res > 0 && (req->op == BLK_IO_READ || req->op == BLK_IO_WRITE)) {
			/* A short transfer goes on from where it stopped. */
			if (!blk_io_req_advance(req, (uint64_t)res)) {
				res = req->done == req->len ? 0 : -EIO;
			} else if (prep(u, req)) {
				resubmitted = true;
				continue;
			} else {
				res = -EIO;
			}
		} else if (res == 0 && (req->op == BLK_IO_READ || req->op == BLK_IO_WRITE) && req->done < req->len) {
			res = -EIO; /* end of file inside the disk: the file shrank under us */
		} else if (res > 0) {
			res = 0;
		}
		c[n++] = (struct blk_io_completion){ .cookie = req->cookie, .result = res };
	}
	io->outstanding -= n;
	if (resubmitted)
		(void)uring_commit(io); /* a refusal arms retry_fd: the request is not lost */
	return n;
}

static int uring_wait(struct blk_io *io)
{
	struct blk_io_uring *u = (struct blk_io_uring *)io;
	int ret;

	if (io->outstanding == 0)
		return 0;
	/* Submits anything still queued and returns once a completion is there. */
	for (;;) {
		ret = io_uring_submit_and_wait(&u->ring, 1);
		if (ret == -EAGAIN || ret == -EBUSY) {
			/* The kernel is short of something: give it a moment instead of spinning. */
			struct timespec ms = { .tv_nsec = 1000000 };
			nanosleep(&ms, NULL);
			continue;
		}
		if (ret != -EINTR)
			break;
	}
	return ret < 0 ? ret : 0;
}

static void uring_destroy(struct blk_io *io)
{
	struct blk_io_uring *u = (struct blk_io_uring *)io;

	io_uring_queue_exit(&u->ring);
	close(io->event_fd);
	close(io->retry_fd);
	free(u);
}

static const struct blk_io_ops uring_ops = {
	.name = "io_uring",
	.submit = uring_submit,
	.commit = uring_commit,
	.reap = uring_reap,
	.wait = uring_wait,
	.destroy = uring_destroy,
};

static int restrict_ring(struct io_uring *ring)
{
	static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE };
	struct io_uring_restriction res[sizeof(ops) + 2];
	unsigned int n = 0;

	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < sizeof(ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = ops[i];
	}
	/* Every SQE must name a registered file, i.e. the disk, and may set no other flag. */
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	/* No IORING_RESTRICTION_REGISTER_OP entry: once enabled, nothing can be registered or changed. */
	return ring_register(ring, IORING_REGISTER_RESTRICTIONS, res, n);
}

int blk_io_uring_create(struct blk_io **out, int disk_fd, unsigned int depth)
{
	struct blk_io_uring *u;
	const char *step;
	int ret;

	if (depth == 0)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->io = (struct blk_io){ .ops = &uring_ops, .disk_fd = disk_fd, .depth = depth, .event_fd = -1,
				 .retry_fd = -1 };
	/* Depth SQ entries and (liburing's default) twice that many CQ entries: the CQ never overflows. */
	ret = io_uring_queue_init(depth, &u->ring, IORING_SETUP_R_DISABLED);
	if (ret < 0) {
		free(u);
		return ret; /* no ring: the caller decides whether to fall back */
	}
	u->io.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->io.retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (u->io.event_fd < 0 || u->io.retry_fd < 0) {
		ret = -errno;
		step = "eventfd / timerfd";
		goto fail;
	}
	step = "registering the disk";
	ret = io_uring_register_files(&u->ring, &disk_fd, 1);
	if (ret < 0)
		goto fail;
	step = "registering the eventfd";
	ret = io_uring_register_eventfd(&u->ring, u->io.event_fd);
	if (ret < 0)
		goto fail;
	step = "restricting the ring";
	ret = restrict_ring(&u->ring);
	if (ret < 0)
		goto fail;
	step = "enabling the ring";
	ret = ring_register(&u->ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret < 0)
		goto fail;
	*out = &u->io;
	return 0;

fail:
	pr_debug("io_uring: %s failed: %s", step, strerror(-ret));
	if (u->io.event_fd >= 0)
		close(u->io.event_fd);
	if (u->io.retry_fd >= 0)
		close(u->io.retry_fd);
	io_uring_queue_exit(&u->ring);
	free(u);
	return ret;
}
