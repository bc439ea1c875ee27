/*
 * The small file helpers every save goes through, and the rate limit on
 * guest-triggered warnings. write() is wrapped (-Wl,--wrap=write) so that a
 * test can make the kernel take a few bytes at a time, fail with EINTR, or
 * take nothing, as pipes, signals and full disks do.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"

#include "core/files.h"
#include "core/log.h"

/* --- write(), as a slow or interrupted kernel would do it ---------------------------------- */

ssize_t __real_write(int fd, const void *buf, size_t n);
static int wrapped_fd = -1;		/* only this fd is played with */
static size_t max_per_write;		/* 0: whole writes */
static int eintr_every;			/* every Nth call fails with EINTR (0: never) */
static int zero_after;			/* after N calls, writes take nothing (0: never) */
static int calls;

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	if (fd != wrapped_fd)
		return __real_write(fd, buf, n);
	calls++;
	if (zero_after && calls > zero_after)
		return 0;
	if (eintr_every && calls % eintr_every == 0) {
		errno = EINTR;
		return -1;
	}
	if (max_per_write && n > max_per_write)
		n = max_per_write;
	return __real_write(fd, buf, n);
}

static char dir[] = "/tmp/armvmm-files-XXXXXX";

static int setup(void **state)
{
	(void)state;
	wrapped_fd = -1;
	max_per_write = 0;
	eintr_every = zero_after = calls = 0;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return -1;
	memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
	return 0;
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 9));
	return p;
}

static void assert_file_is(const char *path, const uint8_t *want, size_t n)
{
	uint8_t *got = malloc(n + 1);
	int fd = open(path, O_RDONLY);

	assert_non_null(got);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, n + 1), (ssize_t)n);
	assert_memory_equal(got, want, n);
	close(fd);
	free(got);
}

/* Seven bytes at a time, and an EINTR every third call: every byte still arrives, in order. */
static void test_write_all_short_and_interrupted(void **state)
{
	char path[PATH_MAX];
	size_t n = 100000;
	uint8_t *data = pattern(n);
	(void)state;

	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	wrapped_fd = fd;
	max_per_write = 7;
	eintr_every = 3;
	assert_int_equal(write_all(fd, data, n), 0);
	assert_true(calls > (int)(n / 7));
	close(fd);
	wrapped_fd = -1;
	assert_file_is(path, data, n);
	free(data);
}

/* A write that takes nothing (a full disk's way of saying so) is an error, not a loop forever. */
static void test_write_all_no_progress(void **state)
{
	char path[PATH_MAX];
	uint8_t data[4096] = { 1 };
	(void)state;

	snprintf(path, sizeof(path), "%s/g", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	wrapped_fd = fd;
	max_per_write = 100;
	zero_after = 3;
	assert_int_equal(write_all(fd, data, sizeof(data)), -ENOSPC);
	close(fd);
}

/* write_file_atomic: the whole content under the final name and no temporary left; on failure, nothing at all. */
static void test_write_file_atomic(void **state)
{
	char path[PATH_MAX], bad[PATH_MAX];
	size_t n = 70000;
	uint8_t *data = pattern(n);
	struct stat st;
	(void)state;

	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(write_file_atomic(path, data, n), 0);
	assert_file_is(path, data, n);
	/* Only the file itself is in the directory. */
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);

	/* Its directory does not exist: an error, and no file anywhere. */
	snprintf(bad, sizeof(bad), "%s/missing/state", dir);
	assert_true(write_file_atomic(bad, data, n) < 0);
	assert_int_equal(stat(bad, &st), -1);
	free(data);
}

/* --- the rate limit --------------------------------------------------------------------------- */

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A guest that triggers a warning a thousand times gets LOG_RATELIMIT_BURST lines, then a count of the rest. */
static void test_ratelimit(void **state)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT;
	(void)state;

	capture_begin();
	for (int i = 0; i < 1000; i++)
		log_msg_ratelimited(&rl, LOG_WARN, "bad feature write %d", i);
	const char *out = capture_end();
	assert_int_equal(count_lines(out), LOG_RATELIMIT_BURST);
	assert_non_null(strstr(out, "bad feature write 0"));
	assert_null(strstr(out, "bad feature write 5"));

	/* The window passed (moved back here rather than waited for): the next line says how many were dropped. */
	rl.window_start_ms -= LOG_RATELIMIT_WINDOW_MS + 1;
	capture_begin();
	log_msg_ratelimited(&rl, LOG_WARN, "bad feature write again");
	out = capture_end();
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "bad feature write again (995 similar messages suppressed)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_all_short_and_interrupted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_all_no_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
