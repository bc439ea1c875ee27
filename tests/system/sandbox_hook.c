/*
 * The test hook, linked only into armvmm-sandbox-test (a test binary, never
 * installed), and run right after a thread's filter is in (the main thread's
 * once the VM runs, just before its event loop):
 *   ARMVMM_TEST_HOOK=vcpu-forbidden-syscall  a vCPU opens a file, which its
 *                       filter forbids: the process must die with the
 *                       one-line report;
 *   ARMVMM_TEST_HOOK=main-stuck  the main thread never reaches its event
 *                       loop (as if stuck in the host): pause must give a
 *                       clear timeout error and stop must still end the VM.
 * The real armvmm links only the empty weak hook in sandbox.c, so no
 * environment variable can make it do either.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/sandbox.h"

void sandbox_test_hook(enum sandbox_kind kind)
{
	const char *what = getenv("ARMVMM_TEST_HOOK");

	if (!what)
		return;
	if (kind == SANDBOX_VCPU && strcmp(what, "vcpu-forbidden-syscall") == 0) {
		int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
		/* Not reached: the filter traps the open. */
		if (fd >= 0)
			close(fd);
		_exit(99);
	}
	if (kind == SANDBOX_MAIN && strcmp(what, "main-stuck") == 0) {
		for (;;) {
			struct timespec t = { .tv_sec = 1000 };
			clock_nanosleep(CLOCK_MONOTONIC, 0, &t, NULL);
		}
	}
}
