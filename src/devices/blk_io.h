/*
 * Block I/O backends for virtio-blk: requests go in with a cookie, completions
 * come out with that cookie and a result, and an eventfd becomes readable
 * whenever completions are waiting, so the main event loop can poll it. Two
 * implementations with the same contract:
 *
 *   blk_io_uring.c   io_uring (liburing), up to `depth` requests in flight,
 *                    the ring locked down to the disk file and the four
 *                    opcodes below (IORING_REGISTER_RESTRICTIONS).
 *   blk_io_thread.c  one worker thread doing preadv/pwritev/fdatasync/fallocate,
 *                    for hosts without io_uring (or with it disabled).
 *
 * A backend is not thread-safe: its owner calls it from one thread at a time
 * (virtio-blk holds its device lock). The disk fd stays owned by the caller.
 */
#ifndef ARMVMM_BLK_IO_H
#define ARMVMM_BLK_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLK_IO_DEFAULT_DEPTH 64u

enum blk_io_op {
	BLK_IO_READ,		/* preadv into iov at offset */
	BLK_IO_WRITE,		/* pwritev from iov at offset */
	BLK_IO_FLUSH,		/* fdatasync: done once written data is durable */
	BLK_IO_FALLOCATE,	/* fallocate(mode, offset, len): discard / write-zeroes */
};

/*
 * One request. It belongs to the backend from blk_io_submit() until its
 * completion is reaped: the caller keeps it (and iov) alive and untouched
 * until then. The backend may advance iov / iovcnt (after a short transfer).
 */
struct blk_io_req {
	enum blk_io_op op;
	struct iovec *iov;	/* READ / WRITE */
	unsigned int iovcnt;
	uint64_t offset;	/* bytes into the disk file */
	uint64_t len;		/* READ / WRITE: sum of iov lengths; FALLOCATE: range length */
	int mode;		/* FALLOCATE: FALLOC_FL_* flags */
	void *cookie;		/* handed back in the completion */
	uint64_t done;		/* backend-private: bytes transferred so far */
};

struct blk_io_completion {
	void *cookie;
	int result;		/* 0: all of it done; -errno (a short transfer that cannot go on is -EIO) */
};

struct blk_io;

struct blk_io_ops {
	const char *name;
	/* Queue one request; 0, or -EBUSY when depth requests are already outstanding. */
	int (*submit)(struct blk_io *io, struct blk_io_req *req);
	/*
	 * Start everything queued since the last commit. 0, or -errno when the
	 * kernel took none of it yet: the requests stay queued and retry_fd fires
	 * when they should be offered again, so none is ever stranded.
	 */
	int (*commit)(struct blk_io *io);
	/* Take up to max finished requests without blocking; returns how many. */
	unsigned int (*reap)(struct blk_io *io, struct blk_io_completion *c, unsigned int max);
	/* Block until reap() has something or nothing is outstanding; 0 or -errno. */
	int (*wait)(struct blk_io *io);
	void (*destroy)(struct blk_io *io);
};

struct blk_io {
	const struct blk_io_ops *ops;
	int disk_fd;
	int event_fd;		/* readable (counter > 0) when completions may be waiting */
	int retry_fd;		/* -1, or readable when queued requests wait for blk_io_retry() */
	unsigned int depth;
	unsigned int outstanding;	/* submitted and not yet reaped */
};

/*
 * Create a backend for disk_fd with room for depth outstanding requests.
 * 0 and *out set, or -errno: blk_io_uring_create() passes on what
 * io_uring_queue_init() said (-ENOSYS without io_uring, -EPERM when the
 * kernel disables it, -EINVAL on kernels older than 5.10).
 */
int blk_io_uring_create(struct blk_io **out, int disk_fd, unsigned int depth);
int blk_io_thread_create(struct blk_io **out, int disk_fd, unsigned int depth);

static inline int blk_io_submit(struct blk_io *io, struct blk_io_req *req) { return io->ops->submit(io, req); }
static inline int blk_io_commit(struct blk_io *io) { return io->ops->commit(io); }
static inline unsigned int blk_io_reap(struct blk_io *io, struct blk_io_completion *c, unsigned int max)
{
	return io->ops->reap(io, c, max);
}
static inline int blk_io_wait(struct blk_io *io) { return io->ops->wait(io); }
static inline void blk_io_destroy(struct blk_io *io) { if (io) io->ops->destroy(io); }
/* Read the eventfd's counter back to zero (non-blocking); call before reaping. */
void blk_io_clear_event(struct blk_io *io);
/* retry_fd fired: offer the queued requests to the kernel again (another retry is armed if it still refuses). */
int blk_io_retry(struct blk_io *io);

/*
 * Shared by the backends: account for n more bytes of a READ / WRITE, moving
 * req->iov past them. Returns true when the request still has bytes to go.
 */
bool blk_io_req_advance(struct blk_io_req *req, uint64_t n);

#endif
