/* A device's I/O thread: its loop runs on its own thread, and calls run there while the caller waits. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/io_thread.h"
#include "core/log.h"

static struct io_thread io;
static pthread_t ran_on;
static int calls, nested;
static atomic_int events;	/* the loop's, polled from the test's thread */

static void record(void *arg)
{
	(void)arg;
	ran_on = pthread_self();
	calls++;
}

/* A call made from the thread itself runs at once (no waiting on itself). */
static void calls_again(void *arg)
{
	io_thread_call(&io, record, arg);
	nested++;
}

static void event_cb(void *opaque, int fd, short revents)
{
	(void)opaque;
	(void)revents;
	(void)eventfd_drain(fd);
	atomic_fetch_add(&events, 1);
}

static void test_calls_run_on_the_thread(void **state)
{
	(void)state;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), id;
	uint64_t one = 1;

	assert_int_equal(io_thread_init(&io, "test-io", SANDBOX_NET_IO), 0);
	id = io_thread_add(&io, efd, POLLIN, event_cb, NULL);
	assert_true(id > 0);
	/* Before the thread exists a call runs right here. */
	io_thread_call(&io, record, NULL);
	assert_int_equal(calls, 1);
	assert_true(pthread_equal(ran_on, pthread_self()));

	assert_int_equal(io_thread_start(&io), 0);
	io_thread_call(&io, record, NULL);
	assert_int_equal(calls, 2);
	assert_false(pthread_equal(ran_on, pthread_self()));
	assert_true(pthread_equal(ran_on, io.thread));
	io_thread_call(&io, calls_again, NULL);
	assert_int_equal(calls, 3);
	assert_int_equal(nested, 1);

	/* The loop serves its entries meanwhile: an event, then a call that sees it handled. */
	assert_int_equal(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	for (int i = 0; i < 500 && atomic_load(&events) == 0; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&events), 1);

	io_thread_destroy(&io);
	assert_false(io.running);
	/* After the end, calls run right here again. */
	io_thread_call(&io, record, NULL);
	assert_true(pthread_equal(ran_on, pthread_self()));
	close(efd);
}

static atomic_int ticks;

static void tick_cb(void *opaque, int fd, short revents)
{
	uint64_t n;

	(void)opaque;
	(void)revents;
	if (read(fd, &n, sizeof(n)) == sizeof(n))
		atomic_fetch_add(&ticks, 1);
}

/* Arm the timer from the thread (where the devices' retries do it). */
static int timer_id, timer_fd, timer_ms;
static void set_timer(void *arg)
{
	*(int *)arg = io_thread_timer(&io, timer_id, timer_fd, (unsigned int)timer_ms);
}

/* A periodic timer fires again and again while set, never once set to 0. */
static void test_periodic_timer(void **state)
{
	(void)state;
	int ret = -1;

	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(timer_fd >= 0);
	assert_int_equal(io_thread_init(&io, "test-timer", SANDBOX_NET_IO), 0);
	timer_id = io_thread_add(&io, timer_fd, POLLIN, tick_cb, NULL);
	assert_true(timer_id > 0);
	assert_int_equal(io_thread_start(&io), 0);
	timer_ms = 10;
	io_thread_call(&io, set_timer, &ret);
	assert_int_equal(ret, 0);
	for (int i = 0; i < 500 && atomic_load(&ticks) < 3; i++)
		usleep(10000);
	assert_true(atomic_load(&ticks) >= 3);
	timer_ms = 0;
	io_thread_call(&io, set_timer, &ret);
	assert_int_equal(ret, 0);
	int after = atomic_load(&ticks);
	usleep(100000);
	assert_int_equal(atomic_load(&ticks), after);
	io_thread_destroy(&io);
	close(timer_fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calls_run_on_the_thread),
		cmocka_unit_test(test_periodic_timer),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
