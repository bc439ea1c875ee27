/*
 * The event loop and eventfd_drain: what the loop's callbacks rely on to tell
 * a real wake-up from a spurious one, and the loop woken from other threads
 * (vCPUs, the control thread and the console writer all hand work to it this
 * way). Threaded: the race-check build runs it under ThreadSanitizer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/eventloop.h"

static void test_eventfd_drain(void **state)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t one = 1;
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(eventfd_drain(fd), 0); /* nothing written: EAGAIN is not an error */
	for (int i = 0; i < 3; i++)
		assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(eventfd_drain(fd), 1); /* one read takes all three */
	assert_int_equal(eventfd_drain(fd), 0);
	close(fd);
	assert_int_equal(eventfd_drain(fd), -EBADF);
}

#define WRITERS 4
#define WRITES 2000

struct woken {
	struct eventloop loop;
	int work_fd, quit_fd;
	uint64_t wakeups;	/* loop thread only */
	atomic_uint posted;	/* work items the writers posted */
	unsigned int seen;	/* loop thread only: items it took */
};

/* Another thread's work: bump the shared count, then kick the loop (as devices do). */
static void *writer(void *arg)
{
	struct woken *w = arg;
	uint64_t one = 1;

	for (int i = 0; i < WRITES; i++) {
		atomic_fetch_add(&w->posted, 1);
		assert_int_equal(write(w->work_fd, &one, sizeof(one)), sizeof(one));
	}
	return NULL;
}

static void work_cb(void *opaque, int fd, short revents)
{
	struct woken *w = opaque;

	(void)revents;
	if (eventfd_drain(fd) > 0) {
		w->wakeups++;
		w->seen = atomic_load(&w->posted);	/* everything posted before the kick is visible */
	}
}

static void quit_cb(void *opaque, int fd, short revents)
{
	(void)fd;
	(void)revents;
	((struct woken *)opaque)->loop.quit = true;
}

static void *loop_thread(void *arg)
{
	struct woken *w = arg;

	assert_int_equal(eventloop_run(&w->loop), 0);
	return NULL;
}

static void test_loop_woken_from_threads(void **state)
{
	(void)state;
	static struct woken w;
	pthread_t loop, writers[WRITERS];
	uint64_t one = 1;

	memset(&w, 0, sizeof(w));
	w.work_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w.quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(eventloop_add(&w.loop, w.work_fd, POLLIN, work_cb, &w) >= 0);
	assert_true(eventloop_add(&w.loop, w.quit_fd, POLLIN, quit_cb, &w) >= 0);
	assert_int_equal(pthread_create(&loop, NULL, loop_thread, &w), 0);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&writers[i], NULL, writer, &w), 0);
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_join(writers[i], NULL), 0);
	/* Wait for the loop to have taken the last kick, then stop it from here. */
	for (int tries = 0; tries < 5000; tries++) {
		struct pollfd p = { .fd = w.work_fd, .events = POLLIN };
		if (poll(&p, 1, 0) == 0)
			break;
		usleep(1000);
	}
	assert_int_equal(write(w.quit_fd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(pthread_join(loop, NULL), 0);
	/* Wake-ups coalesce, but none is lost: the last one saw every item. */
	assert_true(w.wakeups >= 1 && w.wakeups <= WRITERS * WRITES);
	assert_int_equal(w.seen, WRITERS * WRITES);
	close(w.work_fd);
	close(w.quit_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eventfd_drain),
		cmocka_unit_test(test_loop_woken_from_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
