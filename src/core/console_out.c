/*
 * The guest console's output buffer and its writer thread (see console_out.h).
 *
 * The writer runs with cancellation disabled except around its write(): a
 * terminal or pipe nobody reads can hold that write forever, and teardown then
 * cancels the thread there, never while it holds the lock or calls a device.
 */
#include "core/console_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/threads.h"

/* Called with the lock held; returns with it held. Runs the waiters without it. */
static void call_waiters(struct console_out *co)
{
	unsigned int n = co->nr_waiters;

	co->want_space = false;
	co->in_waiters = true;
	pthread_mutex_unlock(&co->lock);
	for (unsigned int i = 0; i < n; i++)
		co->waiters[i].fn(co->waiters[i].opaque);
	pthread_mutex_lock(&co->lock);
	co->in_waiters = false;
	pthread_cond_broadcast(&co->cond);	/* console_out_stop may wait for this */
}

static _Thread_local bool is_writer;	/* this thread is a console writer: never wait for itself */

/* log.c's hook: what the guest printed before goes out before armvmm's line (bounded). */
static void flush_before_log(void *opaque)
{
	if (!is_writer)
		(void)console_out_flush(opaque, CONSOLE_OUT_LOG_FLUSH_MS);
}

static void *writer_thread(void *arg)
{
	struct console_out *co = arg;
	int old;

	is_writer = true;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	sandbox_enter(SANDBOX_CONSOLE);
	pthread_mutex_lock(&co->lock);
	for (;;) {
		while (!co->len && !co->stop)
			pthread_cond_wait(&co->cond, &co->lock);
		if (!co->len)
			break;	/* stopping, and everything is out */
		size_t chunk = co->len < CONSOLE_OUT_SIZE - co->head ? co->len : CONSOLE_OUT_SIZE - co->head;
		const uint8_t *p = co->buf + co->head;
		bool broken = co->broken;
		ssize_t n = (ssize_t)chunk;

		pthread_mutex_unlock(&co->lock);
		if (!broken) {
			/* The one place this thread may be cancelled (a reader that never reads again). */
			pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
			n = write(co->fd, p, chunk);
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
		}
		pthread_mutex_lock(&co->lock);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			/* A closed or failing output must not stall the guest: drop from now on. */
			if (!co->broken)
				pr_debug("console output: writing failed (%s): output is dropped from now on",
					 n < 0 ? strerror(errno) : "nothing written");
			co->broken = true;
			continue;
		}
		if (broken)
			co->dropped += (uint64_t)n;
		else
			co->written += (uint64_t)n;
		co->head = (co->head + (size_t)n) % CONSOLE_OUT_SIZE;
		co->len -= (size_t)n;
		pthread_cond_broadcast(&co->cond);
		if (co->want_space && !co->stop)
			call_waiters(co);
	}
	pthread_mutex_unlock(&co->lock);
	return NULL;
}

int console_out_init(struct console_out *co, int fd)
{
	int ret;

	memset(co, 0, sizeof(*co));
	co->fd = fd;
	co->buf = malloc(CONSOLE_OUT_SIZE);
	if (!co->buf) {
		pr_err("out of memory for the console output buffer");
		return -ENOMEM;
	}
	pthread_mutex_init(&co->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&co->cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = thread_start_unsignalled(&co->thread, writer_thread, co);
	if (ret) {
		pr_err("cannot start the console output thread: %s", strerror(ret));
		pthread_cond_destroy(&co->cond);
		pthread_mutex_destroy(&co->lock);
		free(co->buf);
		co->buf = NULL;
		return -ret;
	}
	co->started = true;
	log_set_before_line(flush_before_log, co);
	return 0;
}

size_t console_out_write(struct console_out *co, const void *p, size_t n)
{
	size_t taken = 0;

	pthread_mutex_lock(&co->lock);
	while (taken < n && co->len < CONSOLE_OUT_SIZE) {
		size_t tail = (co->head + co->len) % CONSOLE_OUT_SIZE;
		size_t room = CONSOLE_OUT_SIZE - co->len;
		size_t k = n - taken;

		if (k > room)
			k = room;
		if (k > CONSOLE_OUT_SIZE - tail)
			k = CONSOLE_OUT_SIZE - tail;
		memcpy(co->buf + tail, (const uint8_t *)p + taken, k);
		co->len += k;
		taken += k;
	}
	if (co->len == CONSOLE_OUT_SIZE) {
		co->want_space = true;	/* short, or now full: the transmitter is busy until the writer makes room */
		co->filled = true;
	}
	if (taken)
		pthread_cond_broadcast(&co->cond);
	pthread_mutex_unlock(&co->lock);
	return taken;
}

void console_out_report_full(struct console_out *co)
{
	bool report;

	pthread_mutex_lock(&co->lock);
	report = co->filled && !co->full_reported;
	co->full_reported |= report;
	pthread_mutex_unlock(&co->lock);
	if (report)
		pr_info("console output: the %u KiB buffer is full and nobody reads the host side: the guest "
			"sees a busy transmitter until someone does", CONSOLE_OUT_SIZE >> 10);
}

size_t console_out_space(struct console_out *co)
{
	pthread_mutex_lock(&co->lock);
	size_t room = CONSOLE_OUT_SIZE - co->len;
	pthread_mutex_unlock(&co->lock);
	return room;
}

int console_out_add_waiter(struct console_out *co, console_out_space_fn *fn, void *opaque)
{
	int ret = 0;

	pthread_mutex_lock(&co->lock);
	if (co->nr_waiters == CONSOLE_OUT_MAX_WAITERS) {
		ret = -ENOSPC;
	} else {
		co->waiters[co->nr_waiters].fn = fn;
		co->waiters[co->nr_waiters].opaque = opaque;
		co->nr_waiters++;
	}
	pthread_mutex_unlock(&co->lock);
	return ret;
}

bool console_out_flush(struct console_out *co, unsigned int timeout_ms)
{
	struct timespec deadline = clock_monotonic_deadline(timeout_ms);
	bool empty;

	pthread_mutex_lock(&co->lock);
	while (co->len && !co->broken)
		if (pthread_cond_timedwait(&co->cond, &co->lock, &deadline) == ETIMEDOUT)
			break;
	empty = co->len == 0 || co->broken;
	pthread_mutex_unlock(&co->lock);
	return empty;
}

void console_out_stop(struct console_out *co)
{
	if (!co->started || co->stop)
		return;
	log_set_before_line(NULL, NULL);
	if (!console_out_flush(co, CONSOLE_OUT_FLUSH_MS))
		pr_info("console output: nobody read the last %zu bytes within %u ms: dropped", co->len,
			CONSOLE_OUT_FLUSH_MS);
	pthread_mutex_lock(&co->lock);
	co->stop = true;
	co->dropped += co->len;
	co->len = 0;
	co->nr_waiters = 0;
	pthread_cond_broadcast(&co->cond);
	/* A waiter already running finishes before its device may go (none starts once stop is set). */
	while (co->in_waiters)
		pthread_cond_wait(&co->cond, &co->lock);
	pthread_mutex_unlock(&co->lock);
	/* Idle, it leaves on the broadcast (the cancel stays pending, disabled); blocked in write(), the cancel ends it. */
	pthread_cancel(co->thread);
}

void console_out_destroy(struct console_out *co)
{
	if (!co->started)
		return;
	console_out_stop(co);
	pthread_join(co->thread, NULL);
	pthread_mutex_lock(&co->lock);
	co->started = false;
	free(co->buf);
	co->buf = NULL;
	pthread_mutex_unlock(&co->lock);
	/*
	 * The lock and condition variable stay as they are (they hold nothing): a
	 * thread that began logging just before the hook went away may still
	 * flush, and finds an empty, stopped buffer.
	 */
}
