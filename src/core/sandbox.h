/*
 * The process sandbox: a seccomp-BPF filter per kind of thread, with
 * no_new_privs. Each thread installs its own filter once its set-up is done
 * and before it does anything the guest can steer (a vCPU before its first
 * KVM_RUN, the main thread before its event loop); from then on a system call
 * outside its kind's allow-list (sandbox_policy.c, the one table) traps, and
 * the SIGSYS handler prints one line naming the thread kind and the call and
 * ends the process with status 128 + SIGSYS (159).
 *
 * Filters are per thread and stack: a thread created after its creator
 * entered the sandbox runs under both filters. armvmm creates every thread
 * before the main thread enters; a thread created later (say by the main
 * thread during migration) needs its calls in its creator's list too.
 */
#ifndef ARMVMM_CORE_SANDBOX_H
#define ARMVMM_CORE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kinds of thread; sandbox_policy.c lists what each may call. Keep SANDBOX_NR_KINDS last. */
enum sandbox_kind {
	SANDBOX_MAIN,		/* the event loop: devices' main-thread work, snapshots, teardown */
	SANDBOX_VCPU,		/* one per vCPU: KVM_RUN and MMIO exits */
	SANDBOX_BLK_IO,		/* virtio-blk's worker thread (the fallback without io_uring) */
	SANDBOX_CONSOLE,	/* the console output writer */
	SANDBOX_CONTROL,	/* signals, the control socket, the stop watchdog */
	SANDBOX_SCRIPT,		/* a --script's runner */
	SANDBOX_MIGRATION,	/* a live migration's sender: its connection, KVM's dirty-page log, guest RAM */
	SANDBOX_NET_IO,		/* a virtio-net NIC's I/O thread: its tap, its vhost-net rings */
	SANDBOX_VSOCK_IO,	/* virtio-vsock's I/O thread: vhost-vsock's rings, its CID */
	SANDBOX_NR_KINDS
};

/* One allow-list row (sandbox_policy.c). */
enum sandbox_check {
	SANDBOX_ANY,		/* the call, whatever its arguments */
	SANDBOX_ARG_EQ,		/* low 32 bits of argument arg equal value (rows with the same call form a set) */
	SANDBOX_ARG_NOBITS,	/* low 32 bits of argument arg have none of the bits in value */
};
#define SANDBOX_VALUE_PID 0xffffffffu	/* ARG_EQ: this process's pid, filled in when the filter is built */

struct sandbox_rule {
	uint32_t nr;		/* system call number */
	const char *name;	/* for messages and tests */
	enum sandbox_check check;
	uint8_t arg;
	uint32_t value;
	uint32_t kinds;		/* bit (1 << enum sandbox_kind) for each kind allowed */
};

extern const struct sandbox_rule sandbox_rules[];
extern const unsigned int sandbox_nr_rules;
/* System call names by number (generated from <asm/unistd.h>); NULL where none. */
extern const char *const sandbox_syscall_names[];
extern const unsigned int sandbox_nr_syscall_names;

/*
 * Turn the sandbox on or off for this process (--sandbox): with it off,
 * sandbox_enter does nothing. On, the kernel must offer seccomp filters with
 * SECCOMP_RET_TRAP: 0, or -errno after one error line. Also installs the
 * SIGSYS handler. Main thread, before any thread is created.
 */
int sandbox_configure(bool on);
bool sandbox_enabled(void);
/*
 * The calling thread enters the sandbox of its kind: no_new_privs, then its
 * filter. Does nothing when the sandbox is off. A failure cannot be lived
 * with (the thread would run unfiltered): it prints one line and ends the
 * process with status 1.
 */
void sandbox_enter(enum sandbox_kind kind);
const char *sandbox_kind_name(enum sandbox_kind kind);
/* Called in the SIGSYS handler before the process ends (async-signal-safe; e.g. restore the terminal). */
void sandbox_set_violation_hook(void (*fn)(void));

/*
 * The classic BPF program for kind, for pid (SANDBOX_VALUE_PID rows): at most
 * cap instructions into prog (struct sock_filter). Returns the length, or
 * -E2BIG / -EINVAL when the table cannot be expressed (tests check every kind).
 */
struct sock_filter;
int sandbox_build_filter(enum sandbox_kind kind, uint32_t pid, struct sock_filter *prog, unsigned int cap);

/*
 * Test builds only: the system tests link a strong definition that misbehaves
 * on request right after a thread's filter is installed (a vCPU making a
 * forbidden call), or, for the main thread, once the VM runs and its loop is
 * about to start (a main thread that never gets to its loop): see
 * tests/system/sandbox_hook.c. armvmm itself has only this empty weak one.
 */
void sandbox_test_hook(enum sandbox_kind kind);

#endif
