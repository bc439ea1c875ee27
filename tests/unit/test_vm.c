/*
 * Pausing without KVM: a vCPU thread that never parks (one blocked somewhere
 * in the host) makes vm_pause give up after VM_PAUSE_TIMEOUT_MS with one line
 * naming it, the VM left running; a stop request during the wait ends it at
 * once.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/vm.h"

struct fake {
	struct vm vm;
	struct vcpu vcpu[2];
	struct kvm_run run[2];
};

/* A VM with two vCPUs whose threads count as live but are never started here: neither parks. */
static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(vm_init(&f->vm), 0);
	for (unsigned int i = 0; i < 2; i++)
		f->vcpu[i] = (struct vcpu){ .vm = &f->vm, .index = i, .fd = -1, .run = &f->run[i] };
	f->vm.vcpus = f->vcpu;
	f->vm.nr_vcpus = 2;
	f->vm.nr_live = 2;
}

static void fake_destroy(struct fake *f)
{
	f->vm.vcpus = NULL;
	f->vm.nr_vcpus = 0;
	vm_destroy(&f->vm);
}

/* Run fn with stderr captured; returns what was written (static buffer). */
static const char *captured(int fd)
{
	static char buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_pause_times_out(void **state)
{
	(void)state;
	struct fake f;
	int p[2], saved = dup(STDERR_FILENO);
	uint64_t ns = 1, t0;

	fake_init(&f);
	f.vcpu[1].parked = true; /* vCPU 1 parked; vCPU 0 never does */
	f.vm.nr_parked = 1;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	dup2(p[1], STDERR_FILENO);
	t0 = clock_monotonic_ms();
	assert_int_equal(vm_pause(&f.vm, &ns), -ETIMEDOUT);
	uint64_t took = clock_monotonic_ms() - t0;
	dup2(saved, STDERR_FILENO);
	assert_true(took >= VM_PAUSE_TIMEOUT_MS && took < VM_PAUSE_TIMEOUT_MS + 3000);
	assert_string_equal(captured(p[0]),
			    "armvmm: error: pausing timed out: vCPU 0 did not stop within 5000 ms (busy in the host); "
			    "the VM runs on\n");
	assert_false(f.vm.paused);
	assert_false(atomic_load(&f.vm.pause_requested)); /* resumed: the parked one may go on */
	assert_int_equal(ns, 0);
	/* The kick asked both vCPUs out of KVM_RUN. */
	assert_int_equal(f.run[0].immediate_exit, 1);
	close(p[0]);
	close(p[1]);
	close(saved);
	fake_destroy(&f);
}

static void *stop_soon(void *arg)
{
	usleep(200 * 1000);
	vm_request_stop(arg, VM_EXIT_POWEROFF);
	return NULL;
}

static void test_stop_ends_a_pause_wait(void **state)
{
	(void)state;
	struct fake f;
	pthread_t t;
	uint64_t ns, t0;

	fake_init(&f);
	assert_int_equal(pthread_create(&t, NULL, stop_soon, &f.vm), 0);
	t0 = clock_monotonic_ms();
	assert_int_equal(vm_pause(&f.vm, &ns), -ESHUTDOWN);
	assert_true(clock_monotonic_ms() - t0 < 2000);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&f.vm.exit_status), VM_EXIT_POWEROFF);
	fake_destroy(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_times_out),
		cmocka_unit_test(test_stop_ends_a_pause_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
