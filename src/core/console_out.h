/*
 * The guest console's output path: a bounded buffer between the devices that
 * transmit (the UART on vCPU threads, the virtio console on whichever thread
 * notified) and the host fd (a terminal, a pipe, a file), drained by a writer
 * thread of its own. Whoever reads the host side may stop reading: then only
 * the writer thread blocks, the buffer fills, and the devices show the guest
 * a busy transmitter (the UART's LSR, the virtio console's queue left
 * unconsumed) until space frees up. No vCPU, no device lock and no event loop
 * ever waits on the host fd.
 *
 * Devices that want to know when space frees up register a waiter; it is
 * called on the writer thread, with no console_out lock held, after an append
 * fell short or filled the buffer and the writer then made room.
 */
#ifndef ARMVMM_CORE_CONSOLE_OUT_H
#define ARMVMM_CORE_CONSOLE_OUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_OUT_SIZE 65536u
#define CONSOLE_OUT_MAX_WAITERS 4u
/* At teardown the writer gets this long to empty the buffer; then the rest is dropped. */
#define CONSOLE_OUT_FLUSH_MS 2000u
/*
 * Before armvmm prints a log line, the guest's output so far gets this long
 * to go out first, so the two do not interleave mid-line (a reader who has
 * stopped reading costs each log line this much, no more).
 */
#define CONSOLE_OUT_LOG_FLUSH_MS 100u

typedef void console_out_space_fn(void *opaque);

struct console_out {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* data or stop for the writer; progress for console_out_flush */
	uint8_t *buf;
	size_t head, len;		/* the ring: len bytes from head */
	int fd;
	bool broken;			/* fd failed (EPIPE, EIO...): output is dropped from now on */
	bool stop;
	bool want_space;		/* an append filled the buffer: call the waiters when room appears */
	bool in_waiters;		/* the writer runs the waiters (without the lock) */
	bool filled, full_reported;	/* the buffer filled (once is enough); console_out_report_full said so */
	struct {
		console_out_space_fn *fn;
		void *opaque;
	} waiters[CONSOLE_OUT_MAX_WAITERS];
	unsigned int nr_waiters;
	pthread_t thread;
	bool started;
	uint64_t written, dropped;	/* bytes, for tests and the log */
};

/*
 * A console output on fd (not owned) and its writer thread; log lines wait
 * for it (CONSOLE_OUT_LOG_FLUSH_MS) until console_out_destroy. 0 or -errno
 * after one error line.
 */
int console_out_init(struct console_out *co, int fd);
/* Any thread, never blocks: append up to n bytes; returns how many were taken. */
size_t console_out_write(struct console_out *co, const void *p, size_t n);
/*
 * A device, holding none of its locks, after it wrote: the first time the
 * buffer filled, say so once (info level; a log line first waits, at most
 * CONSOLE_OUT_LOG_FLUSH_MS, for the buffer to drain).
 */
void console_out_report_full(struct console_out *co);
/* Any thread: free bytes in the buffer now. */
size_t console_out_space(struct console_out *co);
/* Call fn(opaque) on the writer thread whenever room appears after the buffer filled. 0 or -ENOSPC. */
int console_out_add_waiter(struct console_out *co, console_out_space_fn *fn, void *opaque);
/* Wait until everything appended so far is written (or dropped), at most timeout_ms. True when empty. */
bool console_out_flush(struct console_out *co, unsigned int timeout_ms);
/*
 * Flush for up to CONSOLE_OUT_FLUSH_MS, then tell the writer to end (cancelled
 * if the host fd still blocks it) without waiting for it: no waiter runs or is
 * called after this returns, so the devices behind them may go, while the
 * thread leaves. Later appends are dropped.
 */
void console_out_stop(struct console_out *co);
/*
 * console_out_stop if not done yet, then join the writer and free the buffer.
 * Safe on a console_out that was never initialised (zeroed) or failed to.
 */
void console_out_destroy(struct console_out *co);

#endif
