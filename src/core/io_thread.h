/*
 * A device's own thread: an event loop (core/eventloop.h) of its file
 * descriptors, run on a thread of its own from the device's creation to its
 * destruction, so that a device's data path is neither a vCPU's nor the main
 * loop's work. The owner adds every entry before starting it; afterwards
 * only the thread touches the loop. Other threads ask it to do things with
 * io_thread_call (the device's start, reset, snapshot quiesce...), so a
 * device's state has one owner and a vCPU thread never does a device's
 * host-side work itself (it waits, and needs no system calls but futex and
 * write for that).
 */
#ifndef ARMVMM_CORE_IO_THREAD_H
#define ARMVMM_CORE_IO_THREAD_H

#include <pthread.h>
#include <stdbool.h>

#include "core/eventloop.h"
#include "core/sandbox.h"

typedef void io_thread_fn(void *arg);

struct io_thread {
	char name[16];		/* the thread's name in /proc (15 characters) */
	enum sandbox_kind kind;	/* the sandbox the thread enters before its loop */
	struct eventloop loop;
	pthread_t thread;
	bool running;
	int call_fd;		/* eventfd: a call is waiting */
	pthread_mutex_t call_lock;	/* one caller at a time */
	pthread_mutex_t lock;		/* guards the call below */
	pthread_cond_t done_cond;
	io_thread_fn *fn;		/* the waiting call, NULL once done */
	void *arg;
};

/* The loop with its call entry, for a thread of sandbox kind; 0 or -errno after one error line. */
int io_thread_init(struct io_thread *t, const char *name, enum sandbox_kind kind);
/* Add an entry (before start); its id for io_thread_enable, or -ENOSPC. */
int io_thread_add(struct io_thread *t, int fd, short events, eventloop_fn *fn, void *opaque);
/* On the thread (its callbacks and calls), or before it starts. */
void io_thread_enable(struct io_thread *t, int id, bool on);
/*
 * A periodic timer: entry id (a timerfd, timer_fd) enabled and the timer
 * firing every period_ms, or (0) disabled and disarmed. Where
 * io_thread_enable may be called. 0 or -errno (timerfd_settime's).
 */
int io_thread_timer(struct io_thread *t, int id, int timer_fd, unsigned int period_ms);
/*
 * Start the thread (every signal blocked in it); it enters the sandbox of its
 * kind before it serves anything, so it must be started before the thread
 * that starts it is sandboxed. 0, or -errno after one error line.
 */
int io_thread_start(struct io_thread *t);
/*
 * Run fn(arg) on the thread and return once it has run: directly when called
 * on the thread itself or when the thread is not running.
 */
void io_thread_call(struct io_thread *t, io_thread_fn *fn, void *arg);
/* Stop and join the thread (never from the thread itself) and close what init opened. */
void io_thread_destroy(struct io_thread *t);

#endif
