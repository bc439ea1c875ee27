/* A device's own thread around an event loop (io_thread.h). */
#include "core/io_thread.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/files.h"
#include "core/log.h"
#include "core/threads.h"

/* On the thread: run the waiting call, then tell its caller. */
static void call_cb(void *opaque, int fd, short revents)
{
	struct io_thread *t = opaque;
	io_thread_fn *fn;
	void *arg;

	(void)revents;
	(void)eventfd_drain(fd);
	pthread_mutex_lock(&t->lock);
	fn = t->fn;
	arg = t->arg;
	pthread_mutex_unlock(&t->lock);
	if (!fn)
		return;
	fn(arg);
	pthread_mutex_lock(&t->lock);
	t->fn = NULL;
	pthread_cond_broadcast(&t->done_cond);
	pthread_mutex_unlock(&t->lock);
}

int io_thread_init(struct io_thread *t, const char *name, enum sandbox_kind kind)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->kind = kind;
	pthread_mutex_init(&t->call_lock, NULL);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->done_cond, NULL);
	t->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->call_fd < 0) {
		int err = errno;
		pr_err("%s: cannot create an eventfd: %s", name, strerror(err));
		return -err;
	}
	return eventloop_add(&t->loop, t->call_fd, POLLIN, call_cb, t) < 0 ? -ENOSPC : 0;
}

int io_thread_add(struct io_thread *t, int fd, short events, eventloop_fn *fn, void *opaque)
{
	return eventloop_add(&t->loop, fd, events, fn, opaque);
}

void io_thread_enable(struct io_thread *t, int id, bool on)
{
	eventloop_enable(&t->loop, id, on);
}

int io_thread_timer(struct io_thread *t, int id, int timer_fd, unsigned int period_ms)
{
	struct itimerspec its = { .it_interval = { period_ms / 1000, (period_ms % 1000) * 1000000l } };

	its.it_value = its.it_interval;
	io_thread_enable(t, id, period_ms != 0);
	return timerfd_settime(timer_fd, 0, &its, NULL) < 0 ? -errno : 0;
}

static void *io_thread_main(void *opaque)
{
	struct io_thread *t = opaque;

	sandbox_enter(t->kind);
	if (eventloop_run(&t->loop) < 0)
		pr_err("%s: its event loop failed: %s; the device stops working", t->name, strerror(errno));
	return NULL;
}

int io_thread_start(struct io_thread *t)
{
	/* Signals belong to the control thread's signalfd and the vCPUs' kicks, never to this thread. */
	int ret = thread_start_unsignalled(&t->thread, io_thread_main, t);

	if (ret) {
		pr_err("%s: cannot start its thread: %s", t->name, strerror(ret));
		return -ret;
	}
	pthread_setname_np(t->thread, t->name);
	t->running = true;
	return 0;
}

void io_thread_call(struct io_thread *t, io_thread_fn *fn, void *arg)
{
	uint64_t one = 1;

	if (!t->running || pthread_equal(pthread_self(), t->thread)) {
		fn(arg);
		return;
	}
	pthread_mutex_lock(&t->call_lock);
	pthread_mutex_lock(&t->lock);
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_unlock(&t->lock);
	if (write(t->call_fd, &one, sizeof(one)) != sizeof(one))
		pr_err("%s: cannot signal its thread: %s", t->name, strerror(errno));
	pthread_mutex_lock(&t->lock);
	while (t->fn)
		pthread_cond_wait(&t->done_cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_unlock(&t->call_lock);
}

static void quit(void *arg)
{
	((struct io_thread *)arg)->loop.quit = true;
}

void io_thread_destroy(struct io_thread *t)
{
	if (t->running) {
		io_thread_call(t, quit, t);
		pthread_join(t->thread, NULL);
		t->running = false;
	}
	if (t->call_fd >= 0) {
		close_fd(&t->call_fd);
		pthread_mutex_destroy(&t->call_lock);
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->done_cond);
	}
}
