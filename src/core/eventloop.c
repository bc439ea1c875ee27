#include "core/eventloop.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

int eventloop_add(struct eventloop *l, int fd, short events, eventloop_fn *fn, void *opaque)
{
	if (l->count == EVENTLOOP_MAX)
		return -ENOSPC;
	l->e[l->count] = (struct eventloop_entry){ .fd = fd, .events = events, .enabled = true, .fn = fn,
						   .opaque = opaque };
	return (int)l->count++;
}

void eventloop_enable(struct eventloop *l, int id, bool on)
{
	if (id >= 0 && (unsigned int)id < l->count)
		l->e[id].enabled = on;
}

void eventloop_set_fd(struct eventloop *l, int id, int fd)
{
	if (id >= 0 && (unsigned int)id < l->count)
		l->e[id].fd = fd;
}

int eventloop_run(struct eventloop *l)
{
	struct pollfd pfd[EVENTLOOP_MAX];

	while (!l->quit) {
		for (unsigned int i = 0; i < l->count; i++) {
			/* poll() skips negative fds: that is how a disabled entry sits out. */
			pfd[i].fd = l->e[i].enabled ? l->e[i].fd : -1;
			pfd[i].events = l->e[i].events;
			pfd[i].revents = 0;
		}
		if (poll(pfd, l->count, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (unsigned int i = 0; i < l->count && !l->quit; i++)
			if (pfd[i].revents && l->e[i].enabled)
				l->e[i].fn(l->e[i].opaque, pfd[i].fd, pfd[i].revents);
	}
	return 0;
}

int eventfd_drain(int fd)
{
	uint64_t n;
	ssize_t r;

	/* One read takes the whole 8-byte counter; EINTR is the only reason to read again. */
	do {
		r = read(fd, &n, sizeof(n));
	} while (r < 0 && errno == EINTR);
	if (r == sizeof(n))
		return 1;
	if (r >= 0)
		return -EIO;	/* an eventfd never gives less than the whole counter */
	return errno == EAGAIN ? 0 : -errno;
}
