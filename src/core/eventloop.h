/*
 * The main thread's event loop: console input, signals, stop requests,
 * ioeventfds and device completion eventfds, each a file descriptor with a
 * callback. Callbacks run on the main thread, one at a time.
 */
#ifndef ARMVMM_EVENTLOOP_H
#define ARMVMM_EVENTLOOP_H

#include <stdbool.h>

#define EVENTLOOP_MAX 64

typedef void eventloop_fn(void *opaque, int fd, short revents);

struct eventloop_entry {
	int fd;
	short events;
	bool enabled;
	eventloop_fn *fn;
	void *opaque;
};

struct eventloop {
	struct eventloop_entry e[EVENTLOOP_MAX];
	unsigned int count;
	bool quit;
};

/* Returns an id for eventloop_enable(), or -ENOSPC. */
int eventloop_add(struct eventloop *l, int fd, short events, eventloop_fn *fn, void *opaque);
void eventloop_enable(struct eventloop *l, int id, bool on);
/* Point entry id at another fd (-1: none; poll skips it), from the loop's own thread. */
void eventloop_set_fd(struct eventloop *l, int id, int fd);
/* Poll and dispatch until something sets l->quit. Returns 0, or -errno if poll fails. */
int eventloop_run(struct eventloop *l);
/*
 * Read a non-blocking eventfd's counter back to zero, so poll() stops
 * reporting it until the next write. Returns 1 if it had been written, 0 if
 * it was already zero (EAGAIN: a spurious or already handled wake-up), or
 * -errno.
 */
int eventfd_drain(int fd);

#endif
