#include "core/log.h"

#include "core/clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/clock.h"

enum log_level log_threshold = LOG_WARN;

static void (*before_line)(void *opaque);
static void *before_line_opaque;

/* This thread's last error line: a control request failing on the VM's side returns it to the client. */
static _Thread_local char last_error[512];

static void log_vmsg(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	char line[1024];

	if (level > log_threshold && level != LOG_ERROR)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (level == LOG_ERROR) {
		size_t n = strnlen(line, sizeof(last_error) - 1);
		memcpy(last_error, line, n);
		last_error[n] = '\0';
	}
	if (level > log_threshold)
		return;
	void (*fn)(void *) = __atomic_load_n(&before_line, __ATOMIC_ACQUIRE);
	void *opaque = __atomic_load_n(&before_line_opaque, __ATOMIC_ACQUIRE);
	if (fn && opaque)
		fn(opaque);
	fprintf(stderr, "armvmm: %s%s%s\n", prefix[level], line, suffix);
}

void log_set_before_line(void (*fn)(void *opaque), void *opaque)
{
	/* Any thread may be logging meanwhile: it sees the old pair, the new one, or a NULL. */
	__atomic_store_n(&before_line_opaque, NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&before_line, fn, __ATOMIC_RELEASE);
	__atomic_store_n(&before_line_opaque, opaque, __ATOMIC_RELEASE);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, "", fmt, ap);
	va_end(ap);
}

void log_msg_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	uint64_t now = clock_monotonic_ms();
	unsigned long long dropped = 0;
	char suffix[96] = "";
	bool print;
	va_list ap;

	if (level > log_threshold && level != LOG_ERROR)
		return;
	pthread_mutex_lock(&rl->lock);
	if (rl->printed == 0 || now - rl->window_start_ms >= LOG_RATELIMIT_WINDOW_MS) {
		rl->window_start_ms = now;
		rl->printed = 0;
	}
	print = rl->printed < LOG_RATELIMIT_BURST;
	if (print) {
		rl->printed++;
		dropped = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&rl->lock);
	if (!print)
		return;
	if (dropped)
		snprintf(suffix, sizeof(suffix), " (%llu similar message%s suppressed)", dropped, dropped == 1 ? "" : "s");
	va_start(ap, fmt);
	log_vmsg(level, suffix, fmt, ap);
	va_end(ap);
}

const char *log_last_error(void)
{
	return last_error;
}

void log_clear_error(void)
{
	last_error[0] = '\0';
}

int log_level_parse(const char *name, enum log_level *out)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_step(const char *what)
{
	static uint64_t first, prev;
	static long prev_faults;
	struct rusage ru;
	uint64_t now;

	if (log_threshold < LOG_DEBUG)
		return;
	now = clock_monotonic_ns();
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		ru.ru_minflt = ru.ru_majflt = 0;
	if (!first)
		first = prev = now;
	log_msg(LOG_DEBUG, "step %s: %llu us, %ld page faults (at %llu us)", what,
		(unsigned long long)((now - prev) / 1000), ru.ru_minflt + ru.ru_majflt - prev_faults,
		(unsigned long long)((now - first) / 1000));
	prev = now;
	prev_faults = ru.ru_minflt + ru.ru_majflt;
}
