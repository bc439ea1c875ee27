/*
 * The sandbox's test hook, linked only into armvmm-sandbox-test (a test
 * binary, never installed): with ARMVMM_TEST_SANDBOX_VIOLATION=vcpu in the
 * environment, a vCPU thread makes a call its filter forbids (opening a file)
 * right after entering the sandbox, and the process must die with the
 * one-line report. The real armvmm links only the empty weak hook in
 * sandbox.c, so no environment variable can make it do this.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sandbox.h"

void sandbox_test_hook(enum sandbox_kind kind)
{
	const char *what = getenv("ARMVMM_TEST_SANDBOX_VIOLATION");

	if (kind == SANDBOX_VCPU && what && strcmp(what, "vcpu") == 0) {
		int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
		/* Not reached: the filter traps the open. */
		if (fd >= 0)
			close(fd);
		_exit(99);
	}
}
