/*
 * The block I/O backends on a temporary file: vectored reads and writes,
 * flush, fallocate, errors, the depth limit and the completion eventfd. The
 * same checks run on the thread backend and on io_uring; the io_uring ones
 * are skipped where the kernel (or qemu-user) has no io_uring.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/blk_io.h"
#include "core/log.h"

#define FILE_SIZE (64 * 1024)

struct fixture {
	char path[64];
	int fd;
	struct blk_io *io;
};

static int setup(void **state)
{
	static struct fixture f;
	uint8_t buf[FILE_SIZE];

	strcpy(f.path, "/tmp/armvmm-blkio-XXXXXX");
	f.fd = mkstemp(f.path);
	assert_true(f.fd >= 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	assert_int_equal(pwrite(f.fd, buf, sizeof(buf), 0), sizeof(buf));
	f.io = NULL;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	blk_io_destroy(f->io);
	close(f->fd);
	unlink(f->path);
	return 0;
}

/* Wait for the eventfd, clear it and take exactly one completion. */
static struct blk_io_completion one_completion(struct blk_io *io)
{
	struct blk_io_completion c[4];
	struct pollfd p = { .fd = io->event_fd, .events = POLLIN };
	unsigned int n = 0;

	for (int tries = 0; n == 0 && tries < 500; tries++) {
		assert_true(poll(&p, 1, 10000) == 1); /* the eventfd says something finished */
		blk_io_clear_event(io);
		n = blk_io_reap(io, c, 4);
	}
	assert_int_equal(n, 1);
	return c[0];
}

static int run_one(struct blk_io *io, struct blk_io_req *req)
{
	assert_int_equal(blk_io_submit(io, req), 0);
	assert_int_equal(blk_io_commit(io), 0);
	struct blk_io_completion c = one_completion(io);
	assert_ptr_equal(c.cookie, req->cookie);
	return c.result;
}

/* The checks every backend must pass. */
static void battery(struct fixture *f)
{
	struct blk_io *io = f->io;
	uint8_t a[1000], b[3096], c[4096], back[4096];
	struct iovec wv[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, 0 } };
	struct iovec rv[2] = { { back, 512 }, { back + 512, 3584 } };
	int cookie;

	/* Write 4 KiB from three iovecs (one empty) at 8 KiB, read it back split differently. */
	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	struct blk_io_req w = { .op = BLK_IO_WRITE, .iov = wv, .iovcnt = 3, .offset = 8192, .len = 4096,
				.cookie = &cookie };
	assert_int_equal(run_one(io, &w), 0);
	memset(back, 0, sizeof(back));
	struct blk_io_req r = { .op = BLK_IO_READ, .iov = rv, .iovcnt = 2, .offset = 8192, .len = 4096, .cookie = &r };
	assert_int_equal(run_one(io, &r), 0);
	assert_memory_equal(back, a, sizeof(a));
	assert_memory_equal(back + sizeof(a), b, sizeof(b));
	/* The file itself holds it; the bytes around it are untouched. */
	assert_int_equal(pread(f->fd, back, 4096, 8192), 4096);
	assert_memory_equal(back + sizeof(a), b, sizeof(b));
	assert_int_equal(pread(f->fd, back, 1, 8191), 1);
	assert_int_equal(back[0], (uint8_t)(8191 * 7 + 8191 / 512));

	/* Flush. */
	struct blk_io_req fl = { .op = BLK_IO_FLUSH, .cookie = &fl };
	assert_int_equal(run_one(io, &fl), 0);

	/* Punch a hole: it reads back as zeroes (or the file system cannot, and says so). */
	struct blk_io_req p = { .op = BLK_IO_FALLOCATE, .offset = 8192, .len = 4096,
				.mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, .cookie = &p };
	int res = run_one(io, &p);
	if (res == 0) {
		uint8_t zero[4096] = { 0 };
		assert_int_equal(pread(f->fd, back, 4096, 8192), 4096);
		assert_memory_equal(back, zero, 4096);
		assert_int_equal(lseek(f->fd, 0, SEEK_END), FILE_SIZE); /* KEEP_SIZE */
	} else {
		assert_int_equal(res, -EOPNOTSUPP);
	}

	/* A read running past the end of the file cannot be completed: -EIO, never a silent short read. */
	struct iovec big = { back, 4096 };
	struct blk_io_req past = { .op = BLK_IO_READ, .iov = &big, .iovcnt = 1, .offset = FILE_SIZE - 512,
				   .len = 4096, .cookie = &past };
	assert_int_equal(run_one(io, &past), -EIO);

	/* Nothing outstanding: wait returns at once and reap finds nothing. */
	assert_int_equal(blk_io_wait(io), 0);
	struct blk_io_completion none[2];
	assert_int_equal(blk_io_reap(io, none, 2), 0);
	assert_int_equal(io->outstanding, 0);
}

/* Several requests in flight, more than the depth refused, wait() blocks until one is done. */
static void depth_battery(struct fixture *f, struct blk_io *io, unsigned int depth)
{
	uint8_t bufs[8][512];
	struct iovec iov[8];
	struct blk_io_req req[8];
	unsigned int got = 0;
	bool seen[8] = { false };

	(void)f;
	assert_true(depth < 8);
	for (unsigned int i = 0; i <= depth; i++) {
		iov[i] = (struct iovec){ bufs[i], 512 };
		req[i] = (struct blk_io_req){ .op = BLK_IO_READ, .iov = &iov[i], .iovcnt = 1,
					      .offset = 512ull * i, .len = 512, .cookie = &req[i] };
		assert_int_equal(blk_io_submit(io, &req[i]), i < depth ? 0 : -EBUSY);
	}
	assert_int_equal(blk_io_commit(io), 0);
	while (got < depth) {
		struct blk_io_completion c[8];
		assert_int_equal(blk_io_wait(io), 0);
		unsigned int n = blk_io_reap(io, c, 8);
		for (unsigned int k = 0; k < n; k++) {
			struct blk_io_req *rq = c[k].cookie;
			unsigned int i = (unsigned int)(rq - req);
			assert_true(i < depth);
			assert_false(seen[i]);
			seen[i] = true;
			assert_int_equal(c[k].result, 0);
			for (unsigned int j = 0; j < 512; j++)
				assert_int_equal(bufs[i][j], (uint8_t)((512 * i + j) * 7 + i));
		}
		got += n;
	}
	assert_int_equal(io->outstanding, 0);
	/* Room again. */
	assert_int_equal(blk_io_submit(io, &req[depth]), 0);
	assert_int_equal(blk_io_commit(io), 0);
	assert_int_equal(one_completion(io).result, 0);
}

static void test_thread_backend(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(blk_io_thread_create(&f->io, f->fd, 4), 0);
	assert_string_equal(f->io->ops->name, "thread");
	battery(f);
}

static void test_thread_depth(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(blk_io_thread_create(&f->io, f->fd, 3), 0);
	depth_battery(f, f->io, 3);
}

static void test_thread_errors(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	int rofd = open(f->path, O_RDONLY);

	assert_true(rofd >= 0);
	assert_int_equal(blk_io_thread_create(&f->io, rofd, 2), 0);
	/* Writing through a read-only descriptor fails with the kernel's error. */
	struct blk_io_req w = { .op = BLK_IO_WRITE, .iov = &iov, .iovcnt = 1, .offset = 0, .len = 512, .cookie = &w };
	assert_int_equal(run_one(f->io, &w), -EBADF);
	struct blk_io_req z = { .op = BLK_IO_FALLOCATE, .offset = 0, .len = 512,
				.mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, .cookie = &z };
	assert_int_equal(run_one(f->io, &z), -EBADF);
	blk_io_destroy(f->io);
	f->io = NULL;
	close(rofd);
	assert_int_equal(blk_io_thread_create(&f->io, f->fd, 0), -EINVAL);
}

/* io_uring where the kernel has it; qemu-user answers io_uring_setup with ENOSYS. */
static struct blk_io *uring_or_skip(struct fixture *f, unsigned int depth)
{
	int ret = blk_io_uring_create(&f->io, f->fd, depth);

	if (ret == -ENOSYS || ret == -EPERM) {
		print_message("io_uring unavailable here (%s): skipped\n", strerror(-ret));
		skip();
	}
	assert_int_equal(ret, 0);
	assert_string_equal(f->io->ops->name, "io_uring");
	return f->io;
}

static void test_uring_backend(void **state)
{
	struct fixture *f = *state;

	uring_or_skip(f, 4);
	battery(f);
}

static void test_uring_depth(void **state)
{
	struct fixture *f = *state;

	depth_battery(f, uring_or_skip(f, 3), 3);
}

/*
 * The kernel refusing submissions (io_uring_enter's EAGAIN: short of memory,
 * or the completion ring full) must not strand a request. This test binary
 * links with -Wl,--wrap=io_uring_submit, so the backend's submissions come
 * here first: refuse the next `refusals` of them.
 */
struct io_uring;
int __real_io_uring_submit(struct io_uring *ring);
int __wrap_io_uring_submit(struct io_uring *ring);
static int refusals;

int __wrap_io_uring_submit(struct io_uring *ring)
{
	if (refusals > 0) {
		refusals--;
		return -EAGAIN;
	}
	return __real_io_uring_submit(ring);
}

static bool fd_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static void test_uring_refused_submission_retried(void **state)
{
	struct fixture *f = *state;
	struct blk_io *io = uring_or_skip(f, 4);
	uint8_t buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	struct blk_io_req r = { .op = BLK_IO_READ, .iov = &iov, .iovcnt = 1, .offset = 1024, .len = 512, .cookie = &r };
	struct blk_io_completion c;
	int retries = 0;

	assert_true(io->retry_fd >= 0);
	refusals = 3;
	assert_int_equal(blk_io_submit(io, &r), 0);
	assert_int_equal(blk_io_commit(io), -EAGAIN);	/* refused, queued, the timer armed */
	assert_false(fd_readable(io->event_fd, 0));
	/* Nobody submits anything else: the retry timer alone gets it through. */
	while (!fd_readable(io->event_fd, 0)) {
		assert_true(fd_readable(io->retry_fd, 2000));
		blk_io_retry(io);
		assert_true(++retries <= 4);
	}
	assert_int_equal(retries, 3);
	assert_int_equal(refusals, 0);
	blk_io_clear_event(io);
	assert_int_equal(blk_io_reap(io, &c, 1), 1);
	assert_ptr_equal(c.cookie, &r);
	assert_int_equal(c.result, 0);
	for (int i = 0; i < 512; i++)
		assert_int_equal(buf[i], (uint8_t)((1024 + i) * 7 + (1024 + i) / 512));
	assert_false(fd_readable(io->retry_fd, 150));	/* nothing left to retry: the timer stays quiet */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_thread_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_refused_submission_retried, setup, teardown),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
