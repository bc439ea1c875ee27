/*
 * The seccomp filters each thread kind gets, run here by a small classic-BPF
 * interpreter (qemu-user cannot load filters, and the point is the exact
 * program): every call the table allows a kind passes that kind's filter,
 * calls it does not allow trap, arguments are checked, other architectures
 * are killed. The system tests (nested KVM) check the installed filters.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/vhost.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sandbox.h"

#define MAX_INSNS 1024u
#define PID 4242u

static struct sock_filter prog[SANDBOX_NR_KINDS][MAX_INSNS];
static int prog_len[SANDBOX_NR_KINDS];

/* The subset of classic BPF sandbox.c emits; anything else fails the test. */
static uint32_t run(enum sandbox_kind kind, const struct seccomp_data *d)
{
	const struct sock_filter *p = prog[kind];
	uint32_t a = 0;
	int pc = 0;

	while (pc >= 0 && pc < prog_len[kind]) {
		const struct sock_filter *f = &p[pc++];
		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(f->k + 4 <= sizeof(*d) && f->k % 4 == 0);
			memcpy(&a, (const uint8_t *)d + f->k, 4);
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & f->k) ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return f->k;
		default:
			fail_msg("instruction 0x%x at %d is not one sandbox.c emits", f->code, pc - 1);
		}
	}
	fail_msg("the %s filter ran off its end", sandbox_kind_name(kind));
	return 0;
}

static uint32_t call(enum sandbox_kind kind, int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct seccomp_data d = { .nr = nr, .arch = AUDIT_ARCH_AARCH64, .args = { a0, a1, a2 } };

	return run(kind, &d);
}

static int setup(void **state)
{
	(void)state;
	for (int k = 0; k < SANDBOX_NR_KINDS; k++) {
		prog_len[k] = sandbox_build_filter((enum sandbox_kind)k, PID, prog[k], MAX_INSNS);
		if (prog_len[k] <= 0)
			return -1;
	}
	return 0;
}

/* Every kind builds (the table is consistent) into a program the kernel takes (< 4096 instructions). */
static void test_every_kind_builds(void **state)
{
	(void)state;
	for (int k = 0; k < SANDBOX_NR_KINDS; k++) {
		assert_true(prog_len[k] > 4 && prog_len[k] < 4096);
		print_message("%-15s %4d instructions\n", sandbox_kind_name((enum sandbox_kind)k), prog_len[k]);
	}
	assert_int_equal(sandbox_build_filter(SANDBOX_NR_KINDS, PID, prog[0], MAX_INSNS), -EINVAL);
	struct sock_filter tiny[8];
	assert_int_equal(sandbox_build_filter(SANDBOX_MAIN, PID, tiny, 8), -E2BIG);
}

/* Each row passes the filter of each kind it names, with the value it names. */
static void test_table_rows_pass(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < sandbox_nr_rules; i++) {
		const struct sandbox_rule *r = &sandbox_rules[i];
		for (int k = 0; k < SANDBOX_NR_KINDS; k++) {
			uint64_t args[6] = { 0 };
			if (!(r->kinds & (1u << k)))
				continue;
			if (r->check == SANDBOX_ARG_EQ)
				args[r->arg] = r->value == SANDBOX_VALUE_PID ? PID : r->value;
			/* NOBITS: an argument without the bits (0) passes. */
			struct seccomp_data d = { .nr = (int)r->nr, .arch = AUDIT_ARCH_AARCH64 };
			memcpy(d.args, args, sizeof(args));
			if (run((enum sandbox_kind)k, &d) != SECCOMP_RET_ALLOW)
				fail_msg("row %u (%s) does not pass the %s filter", i, r->name,
					 sandbox_kind_name((enum sandbox_kind)k));
		}
	}
}

/* Calls no row gives a kind trap: the sandbox's point. */
static void test_unlisted_calls_trap(void **state)
{
	(void)state;
	for (int k = 0; k < SANDBOX_NR_KINDS; k++) {
		enum sandbox_kind kind = (enum sandbox_kind)k;
		/* No kind may start a process or a thread, exec, or open a socket after set-up. */
		assert_int_equal(call(kind, __NR_execve, 0, 0, 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, __NR_clone, 0, 0, 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, __NR_clone3, 0, 0, 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, __NR_socket, 0, 0, 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, __NR_ptrace, 0, 0, 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, __NR_kill, 0, 0, 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, __NR_mount, 0, 0, 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, __NR_bpf, 0, 0, 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, 999, 0, 0, 0), SECCOMP_RET_TRAP);
	}
	/* Only the main thread opens files (snapshots)... */
	assert_int_equal(call(SANDBOX_MAIN, __NR_openat, 0, 0, 0), SECCOMP_RET_ALLOW);
	for (int k = 1; k < SANDBOX_NR_KINDS; k++)
		assert_int_equal(call((enum sandbox_kind)k, __NR_openat, 0, 0, 0), SECCOMP_RET_TRAP);
	/*
	 * ...and the network I/O threads their device (/dev/net/tun, /dev/vhost-vsock
	 * again after a failed migration), with exactly the flags net_tap_open and
	 * vhost_open give.
	 */
	const uint64_t dev_flags = O_RDWR | O_NONBLOCK | O_CLOEXEC;
	for (int k = 0; k < SANDBOX_NR_KINDS; k++) {
		enum sandbox_kind kind = (enum sandbox_kind)k;
		bool io = kind == SANDBOX_NET_IO || kind == SANDBOX_VSOCK_IO;
		assert_int_equal(call(kind, __NR_openat, (uint64_t)AT_FDCWD, 0, dev_flags),
				 io || kind == SANDBOX_MAIN ? SECCOMP_RET_ALLOW : SECCOMP_RET_TRAP);
	}
	assert_int_equal(call(SANDBOX_NET_IO, __NR_openat, (uint64_t)AT_FDCWD, 0, O_RDONLY | O_CLOEXEC), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_openat, (uint64_t)AT_FDCWD, 0, dev_flags | O_CREAT), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_openat, (uint64_t)AT_FDCWD, 0, dev_flags | O_CREAT), SECCOMP_RET_TRAP);
}

/* The devices' I/O threads: each its own device's ioctls, no other thread theirs. */
static void test_io_thread_kinds(void **state)
{
	(void)state;
	static const unsigned long vhost_rings[] = {
		VHOST_SET_FEATURES, VHOST_SET_VRING_NUM, VHOST_SET_VRING_BASE, VHOST_SET_VRING_ADDR,
		VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_GET_VRING_BASE,
	};
	for (unsigned int i = 0; i < sizeof(vhost_rings) / sizeof(vhost_rings[0]); i++) {
		assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, vhost_rings[i], 0), SECCOMP_RET_ALLOW);
		assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_ioctl, 7, vhost_rings[i], 0), SECCOMP_RET_ALLOW);
		assert_int_equal(call(SANDBOX_VCPU, __NR_ioctl, 7, vhost_rings[i], 0), SECCOMP_RET_TRAP);
		assert_int_equal(call(SANDBOX_MAIN, __NR_ioctl, 7, vhost_rings[i], 0), SECCOMP_RET_TRAP);
	}
	assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, VHOST_NET_SET_BACKEND, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_ioctl, 7, VHOST_NET_SET_BACKEND, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_ioctl, 7, VHOST_VSOCK_SET_RUNNING, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, VHOST_VSOCK_SET_RUNNING, 0), SECCOMP_RET_TRAP);
	/* A NIC's vhost device is set up once: guest RAM and ownership are never handed over again. */
	assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, VHOST_SET_MEM_TABLE, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, VHOST_SET_OWNER, 0), SECCOMP_RET_TRAP);
	/* vsock's is opened again when a failed migration's source takes its CID back. */
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_ioctl, 7, VHOST_SET_OWNER, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_ioctl, 7, VHOST_SET_MEM_TABLE, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_MIGRATION, __NR_ioctl, 7, VHOST_SET_OWNER, 0), SECCOMP_RET_TRAP);
	/* A migration's pre-copy: each device's thread points vhost's log at the dirty bitmap. */
	assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, VHOST_SET_LOG_BASE, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_ioctl, 7, VHOST_SET_LOG_BASE, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_MIGRATION, __NR_ioctl, 7, VHOST_SET_LOG_BASE, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, TUNSETIFF, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_ioctl, 7, TUNSETIFF, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, KVM_RUN, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_writev, 7, 0, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_writev, 7, 0, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_sendto, 7, 0, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_preadv, 7, 0, 0), SECCOMP_RET_TRAP);
	/* The migration sender and the I/O threads: neither has the other's calls. */
	assert_int_equal(call(SANDBOX_MIGRATION, __NR_ioctl, 7, TUNSETIFF, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_MIGRATION, __NR_ioctl, 7, VHOST_NET_SET_BACKEND, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_MIGRATION, __NR_ioctl, 7, VHOST_VSOCK_SET_RUNNING, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_MIGRATION, __NR_ioctl, 7, KVM_GET_DIRTY_LOG, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_ioctl, 7, KVM_GET_DIRTY_LOG, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_VSOCK_IO, __NR_ioctl, 7, KVM_GET_DIRTY_LOG, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_NET_IO, __NR_connect, 7, 0, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_MIGRATION, __NR_connect, 7, 0, 0), SECCOMP_RET_ALLOW);
}

/* Arguments: ioctl requests per kind, no executable memory, signals only within the process. */
static void test_argument_checks(void **state)
{
	(void)state;
	assert_int_equal(call(SANDBOX_VCPU, __NR_ioctl, 7, KVM_RUN, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_MAIN, __NR_ioctl, 7, KVM_RUN, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_VCPU, __NR_ioctl, 7, KVM_CREATE_VCPU, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_VCPU, __NR_ioctl, 7, KVM_SET_USER_MEMORY_REGION, 0), SECCOMP_RET_TRAP);
	assert_int_equal(call(SANDBOX_MAIN, __NR_ioctl, 7, KVM_GET_ONE_REG, 0), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_BLK_IO, __NR_ioctl, 7, KVM_GET_ONE_REG, 0), SECCOMP_RET_TRAP);
	/* The kernel reads the request as an unsigned int: the filter looks at the same 32 bits. */
	assert_int_equal(call(SANDBOX_VCPU, __NR_ioctl, 7, (1ull << 32) | KVM_RUN, 0), SECCOMP_RET_ALLOW);

	for (int k = 0; k < SANDBOX_NR_KINDS; k++) {
		enum sandbox_kind kind = (enum sandbox_kind)k;
		assert_int_equal(call(kind, __NR_mmap, 0, 4096, PROT_READ | PROT_WRITE), SECCOMP_RET_ALLOW);
		assert_int_equal(call(kind, __NR_mmap, 0, 4096, PROT_READ | PROT_EXEC), SECCOMP_RET_TRAP);
		assert_int_equal(call(kind, __NR_mprotect, 0, 4096, PROT_READ), SECCOMP_RET_ALLOW);
		assert_int_equal(call(kind, __NR_mprotect, 0, 4096, PROT_EXEC), SECCOMP_RET_TRAP);
	}
	assert_int_equal(call(SANDBOX_VCPU, __NR_tgkill, PID, 77, 10), SECCOMP_RET_ALLOW);
	assert_int_equal(call(SANDBOX_VCPU, __NR_tgkill, 1, 77, 10), SECCOMP_RET_TRAP);	/* another process */
	assert_int_equal(call(SANDBOX_BLK_IO, __NR_tgkill, PID, 77, 10), SECCOMP_RET_TRAP);
}

/* Another architecture's calling convention is not filtered by number: the process dies. */
static void test_other_arch_killed(void **state)
{
	(void)state;
	struct seccomp_data d = { .nr = __NR_read, .arch = AUDIT_ARCH_X86_64 };

	for (int k = 0; k < SANDBOX_NR_KINDS; k++)
		assert_int_equal(run((enum sandbox_kind)k, &d), SECCOMP_RET_KILL_PROCESS);
}

/* The SIGSYS report's names come from this build's <asm/unistd.h>. */
static void test_syscall_names(void **state)
{
	(void)state;
	assert_true(sandbox_nr_syscall_names > __NR_openat);
	assert_string_equal(sandbox_syscall_names[__NR_openat], "openat");
	assert_string_equal(sandbox_syscall_names[__NR_ioctl], "ioctl");
	assert_string_equal(sandbox_syscall_names[__NR_io_uring_enter], "io_uring_enter");
	for (unsigned int i = 0; i < sandbox_nr_rules; i++)
		assert_non_null(sandbox_syscall_names[sandbox_rules[i].nr]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind_builds),
		cmocka_unit_test(test_table_rows_pass),
		cmocka_unit_test(test_unlisted_calls_trap),
		cmocka_unit_test(test_argument_checks),
		cmocka_unit_test(test_io_thread_kinds),
		cmocka_unit_test(test_other_arch_killed),
		cmocka_unit_test(test_syscall_names),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
