/* A device's own thread around an event loop (io_thread.h). */
#include "core/io_thread.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/files.h"
#include "core/log.h"

static void stop_cb(void *opaque, int fd, short revents)
{
	struct io_thread *t = opaque;

	(void)revents;
	(void)eventfd_drain(fd);
	t->loop.quit = true;
}

int io_thread_init(struct io_thread *t, const char *name)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->stop_fd < 0) {
		int err = errno;
		pr_err("%s: cannot create an eventfd: %s", name, strerror(err));
		return -err;
	}
	return eventloop_add(&t->loop, t->stop_fd, POLLIN, stop_cb, t) < 0 ? -ENOSPC : 0;
}

int io_thread_add(struct io_thread *t, int fd, short events, eventloop_fn *fn, void *opaque)
{
	return eventloop_add(&t->loop, fd, events, fn, opaque);
}

void io_thread_enable(struct io_thread *t, int id, bool on)
{
	eventloop_enable(&t->loop, id, on);
}

static void *io_thread_main(void *opaque)
{
	struct io_thread *t = opaque;

	if (eventloop_run(&t->loop) < 0)
		pr_err("%s: its event loop failed: %s; the device stops working", t->name, strerror(errno));
	return NULL;
}

int io_thread_start(struct io_thread *t)
{
	sigset_t all, old;
	int ret;

	if (t->running)
		return 0;
	(void)eventfd_drain(t->stop_fd);
	t->loop.quit = false;
	/* Signals belong to the main thread's signalfd and the vCPUs' kicks, never to this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&t->thread, NULL, io_thread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		pr_err("%s: cannot start its thread: %s", t->name, strerror(ret));
		return -ret;
	}
	pthread_setname_np(t->thread, t->name);
	t->running = true;
	return 0;
}

void io_thread_stop(struct io_thread *t)
{
	uint64_t one = 1;

	if (!t->running)
		return;
	if (write(t->stop_fd, &one, sizeof(one)) != sizeof(one))
		pr_err("%s: cannot signal its thread to stop: %s", t->name, strerror(errno));
	pthread_join(t->thread, NULL);
	t->running = false;
}

void io_thread_destroy(struct io_thread *t)
{
	io_thread_stop(t);
	close_fd(&t->stop_fd);
}
