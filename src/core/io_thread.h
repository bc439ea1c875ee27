/*
 * A device's own thread: an event loop (core/eventloop.h) of its file
 * descriptors, run on a thread of its own so that a device's data path is
 * neither a vCPU's nor the main loop's work. The owner adds every entry
 * before the first start; stop ends the thread (joined: nothing of the
 * device's runs after it returns) and start begins a new one on the same
 * entries, so a device stops for a snapshot or a reset and takes up its work
 * again afterwards.
 */
#ifndef ARMVMM_CORE_IO_THREAD_H
#define ARMVMM_CORE_IO_THREAD_H

#include <pthread.h>
#include <stdbool.h>

#include "core/eventloop.h"

struct io_thread {
	char name[16];		/* the thread's name in /proc (15 characters) */
	struct eventloop loop;
	pthread_t thread;
	bool running;
	int stop_fd;		/* eventfd: stop asks the thread to leave its loop */
};

/* The loop with its stop entry; 0 or -errno after one error line. */
int io_thread_init(struct io_thread *t, const char *name);
/* Add an entry (before start); its id for io_thread_enable, or -ENOSPC. */
int io_thread_add(struct io_thread *t, int fd, short events, eventloop_fn *fn, void *opaque);
/* From the thread's own callbacks only (or while it is stopped). */
void io_thread_enable(struct io_thread *t, int id, bool on);
/* Start the thread (every signal blocked in it). 0, or -errno after one error line. */
int io_thread_start(struct io_thread *t);
/* Stop and join the thread; nothing when it is not running. Never from the thread itself. */
void io_thread_stop(struct io_thread *t);
/* Stop it and close what init opened. */
void io_thread_destroy(struct io_thread *t);

#endif
