/*
 * The fallback block backend: one worker thread doing the system calls,
 * requests taken in submission order. Completions are signalled on an eventfd
 * exactly like the io_uring backend's, so virtio-blk cannot tell them apart.
 * Also home of the helpers both backends share (blk_io.h).
 */
#include "devices/blk_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/threads.h"

/* --- shared helpers ---------------------------------------------------------- */

void blk_io_clear_event(struct blk_io *io)
{
	/* Nothing to do on failure: the reap that follows finds whatever completed. */
	(void)eventfd_drain(io->event_fd);
}

int blk_io_retry(struct blk_io *io)
{
	if (io->retry_fd >= 0)
		(void)eventfd_drain(io->retry_fd); /* a timerfd reads like an eventfd: expirations, or EAGAIN */
	return blk_io_commit(io);
}

bool blk_io_req_advance(struct blk_io_req *req, uint64_t n)
{
	req->done += n;
	while (n && req->iovcnt) {
		if (n < req->iov->iov_len) {
			req->iov->iov_base = (uint8_t *)req->iov->iov_base + n;
			req->iov->iov_len -= n;
			n = 0;
			break;
		}
		n -= req->iov->iov_len;
		req->iov++;
		req->iovcnt--;
	}
	/* Drop empty iovecs so a retry never starts with a zero-length one. */
	while (req->iovcnt && req->iov->iov_len == 0) {
		req->iov++;
		req->iovcnt--;
	}
	return req->done < req->len && req->iovcnt > 0;
}

/* --- the worker thread backend ----------------------------------------------- */

struct blk_io_thread {
	struct blk_io io;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work_cv;		/* worker: something was submitted, or stop */
	pthread_cond_t done_cv;		/* waiters: a completion was posted */
	/* Rings of depth entries each; the outstanding limit keeps them from overflowing. */
	struct blk_io_req **sq;
	unsigned int sq_head, sq_count;
	struct blk_io_completion *cq;
	unsigned int cq_head, cq_count;
	unsigned int unfinished;	/* submitted, completion not yet posted */
	bool stop;
};

/* Do one request to the end (retrying short transfers); 0 or -errno. */
static int do_request(int fd, struct blk_io_req *req)
{
	switch (req->op) {
	case BLK_IO_READ:
	case BLK_IO_WRITE:
		while (req->done < req->len && req->iovcnt) {
			int cnt = req->iovcnt > IOV_MAX ? IOV_MAX : (int)req->iovcnt;
			off_t off = (off_t)(req->offset + req->done);
			ssize_t n = req->op == BLK_IO_READ ? preadv(fd, req->iov, cnt, off)
							   : pwritev(fd, req->iov, cnt, off);
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				return -errno;
			}
			if (n == 0)
				return -EIO; /* end of file inside the disk: the file shrank under us */
			blk_io_req_advance(req, (uint64_t)n);
		}
		return req->done == req->len ? 0 : -EIO;
	case BLK_IO_FLUSH:
		return fdatasync(fd) < 0 ? -errno : 0;
	case BLK_IO_FALLOCATE:
		while (fallocate(fd, req->mode, (off_t)req->offset, (off_t)req->len) < 0) {
			if (errno != EINTR)
				return -errno;
		}
		return 0;
	}
	return -EINVAL;
}

static void *worker(void *opaque)
{
	struct blk_io_thread *th = opaque;
	uint64_t one = 1;

	sandbox_enter(SANDBOX_BLK_IO);
	pthread_mutex_lock(&th->lock);
	for (;;) {
		while (!th->stop && th->sq_count == 0)
			pthread_cond_wait(&th->work_cv, &th->lock);
		if (th->sq_count == 0) /* stopping with nothing left */
			break;
		struct blk_io_req *req = th->sq[th->sq_head];
		th->sq_head = (th->sq_head + 1) % th->io.depth;
		th->sq_count--;
		pthread_mutex_unlock(&th->lock);

		int result = do_request(th->io.disk_fd, req);

		pthread_mutex_lock(&th->lock);
		th->cq[(th->cq_head + th->cq_count) % th->io.depth] =
			(struct blk_io_completion){ .cookie = req->cookie, .result = result };
		th->cq_count++;
		th->unfinished--;
		pthread_cond_broadcast(&th->done_cv);
		if (write(th->io.event_fd, &one, sizeof(one)) < 0)
			(void)0; /* the counter is saturated: it is readable anyway */
	}
	pthread_mutex_unlock(&th->lock);
	return NULL;
}

static int thread_submit(struct blk_io *io, struct blk_io_req *req)
{
	struct blk_io_thread *th = (struct blk_io_thread *)io;

	if (io->outstanding >= io->depth)
		return -EBUSY;
	req->done = 0;
	pthread_mutex_lock(&th->lock);
	th->sq[(th->sq_head + th->sq_count) % io->depth] = req;
	th->sq_count++;
	th->unfinished++;
	pthread_mutex_unlock(&th->lock);
	io->outstanding++;
	return 0;
}

static int thread_commit(struct blk_io *io)
{
	struct blk_io_thread *th = (struct blk_io_thread *)io;

	pthread_mutex_lock(&th->lock);
	if (th->sq_count)
		pthread_cond_signal(&th->work_cv);
	pthread_mutex_unlock(&th->lock);
	return 0;
}

static unsigned int thread_reap(struct blk_io *io, struct blk_io_completion *c, unsigned int max)
{
	struct blk_io_thread *th = (struct blk_io_thread *)io;
	unsigned int n = 0;

	pthread_mutex_lock(&th->lock);
	while (n < max && th->cq_count) {
		c[n++] = th->cq[th->cq_head];
		th->cq_head = (th->cq_head + 1) % io->depth;
		th->cq_count--;
	}
	pthread_mutex_unlock(&th->lock);
	io->outstanding -= n;
	return n;
}

static int thread_wait(struct blk_io *io)
{
	struct blk_io_thread *th = (struct blk_io_thread *)io;

	pthread_mutex_lock(&th->lock);
	if (th->sq_count) /* queued but not committed: the worker must see it or we wait forever */
		pthread_cond_signal(&th->work_cv);
	while (th->cq_count == 0 && th->unfinished > 0)
		pthread_cond_wait(&th->done_cv, &th->lock);
	pthread_mutex_unlock(&th->lock);
	return 0;
}

static void thread_destroy(struct blk_io *io)
{
	struct blk_io_thread *th = (struct blk_io_thread *)io;

	/* The worker finishes what was submitted, then leaves. */
	pthread_mutex_lock(&th->lock);
	th->stop = true;
	pthread_cond_signal(&th->work_cv);
	pthread_mutex_unlock(&th->lock);
	pthread_join(th->thread, NULL);
	pthread_cond_destroy(&th->work_cv);
	pthread_cond_destroy(&th->done_cv);
	pthread_mutex_destroy(&th->lock);
	close(io->event_fd);
	free(th->sq);
	free(th->cq);
	free(th);
}

static const struct blk_io_ops thread_ops = {
	.name = "thread",
	.submit = thread_submit,
	.commit = thread_commit,
	.reap = thread_reap,
	.wait = thread_wait,
	.destroy = thread_destroy,
};

int blk_io_thread_create(struct blk_io **out, int disk_fd, unsigned int depth)
{
	struct blk_io_thread *th;
	int ret;

	if (depth == 0)
		return -EINVAL;
	th = calloc(1, sizeof(*th));
	if (!th)
		return -ENOMEM;
	th->sq = calloc(depth, sizeof(*th->sq));
	th->cq = calloc(depth, sizeof(*th->cq));
	th->io = (struct blk_io){ .ops = &thread_ops, .disk_fd = disk_fd, .depth = depth, .retry_fd = -1 };
	th->io.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!th->sq || !th->cq || th->io.event_fd < 0) {
		ret = th->io.event_fd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&th->lock, NULL);
	pthread_cond_init(&th->work_cv, NULL);
	pthread_cond_init(&th->done_cv, NULL);
	/* The worker takes no signals: they belong to the main thread and the vCPUs. */
	ret = -thread_start_unsignalled(&th->thread, worker, th);
	if (ret < 0) {
		pthread_cond_destroy(&th->work_cv);
		pthread_cond_destroy(&th->done_cv);
		pthread_mutex_destroy(&th->lock);
		goto fail;
	}
	*out = &th->io;
	return 0;

fail:
	if (th->io.event_fd >= 0)
		close(th->io.event_fd);
	free(th->sq);
	free(th->cq);
	free(th);
	return ret;
}
