/* Logging: one line per message on stderr, prefixed "armvmm: ". */
#ifndef ARMVMM_LOG_H
#define ARMVMM_LOG_H

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

#define pr_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
