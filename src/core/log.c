#include "core/log.h"

#include "core/clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

enum log_level log_threshold = LOG_WARN;

/* This thread's last error line: a control request failing on the VM's side returns it to the client. */
static _Thread_local char last_error[512];

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	char line[1024];
	va_list ap;

	if (level > log_threshold && level != LOG_ERROR)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level == LOG_ERROR) {
		size_t n = strnlen(line, sizeof(last_error) - 1);
		memcpy(last_error, line, n);
		last_error[n] = '\0';
	}
	if (level > log_threshold)
		return;
	fprintf(stderr, "armvmm: %s%s\n", prefix[level], line);
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
