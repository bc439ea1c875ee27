/* Logging: one line per message on stderr, prefixed "armvmm: ". */
#ifndef ARMVMM_LOG_H
#define ARMVMM_LOG_H

#include <pthread.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern enum log_level log_threshold;

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread's last error message ("" after log_clear_error or if none). */
const char *log_last_error(void);
void log_clear_error(void);
int log_level_parse(const char *name, enum log_level *out);
/*
 * Start-up cost, at debug level: "step WHAT: N us, F page faults (at T us)":
 * N and F since the previous step, T since the first. Main thread only;
 * below debug it does nothing.
 */
void log_step(const char *what);

/*
 * Messages a guest can trigger at will (a bad feature write, a malformed
 * ring) go through a rate limit, one per call site: at most
 * LOG_RATELIMIT_BURST lines per LOG_RATELIMIT_WINDOW_MS, and the first line
 * after a quiet spell says how many were suppressed. Any thread.
 */
#define LOG_RATELIMIT_BURST 5u
#define LOG_RATELIMIT_WINDOW_MS 5000u

struct log_ratelimit {
	pthread_mutex_t lock;
	uint64_t window_start_ms;
	unsigned int printed;		/* lines printed in this window */
	unsigned long long suppressed;	/* dropped since the last printed line */
};
#define LOG_RATELIMIT_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define pr_warn_ratelimited(...)                                               \
	do {                                                                   \
		static struct log_ratelimit rl_ = LOG_RATELIMIT_INIT;          \
		log_msg_ratelimited(&rl_, LOG_WARN, __VA_ARGS__);              \
	} while (0)

/*
 * Called before each line goes to stderr (NULL: nothing): the console output
 * buffer uses it to write out what the guest printed before, so a log line
 * never lands in the middle of the guest's line. Set before any thread logs.
 */
void log_set_before_line(void (*fn)(void *opaque), void *opaque);

#define pr_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
