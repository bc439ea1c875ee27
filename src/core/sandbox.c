/*
 * The sandbox: building each thread kind's seccomp filter from the table in
 * sandbox_policy.c, installing it, and reporting a violation (see sandbox.h).
 *
 * Hand-built classic BPF rather than libseccomp: the table is small and
 * needs only "this call", "this call with one argument in a set" and "this
 * call without these flag bits", which a page of code emits; the exact
 * program each kind gets is unit-tested by running it (tests/unit/
 * test_sandbox.c, which has a BPF interpreter, since qemu-user cannot load
 * filters); the static binary gains no library; and the SIGSYS report looks
 * names up in a table generated from the same <asm/unistd.h> the build uses,
 * without allocating in a signal handler.
 *
 * Program layout: check the architecture (anything but AArch64 kills the
 * process), load the call number, then one block per allowed call in table
 * order (first row first, so the hot calls go at the top):
 *   no argument check:  jeq nr ? next : skip 1;  ret ALLOW
 *   a set of values:    jeq nr ? next : skip k+3;  ld arg;  jeq v1..vk ? ALLOW;  ret TRAP;  ret ALLOW
 *   forbidden bits:     jeq nr ? next : skip 4;  ld arg;  jset bits ? TRAP : ALLOW;  ret TRAP;  ret ALLOW
 * and a final ret TRAP. Every block that loads an argument ends in a return,
 * so the next block still sees the call number.
 */
#include "core/sandbox.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/log.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the filters load the low word of an argument at its first byte: little-endian only"
#endif

#define SANDBOX_MAX_INSNS 1024u
#define ARG_LOW(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8u * (i)))

static bool enabled;
static _Thread_local int thread_kind = -1;
static void (*violation_hook)(void);

static const char *const kind_names[SANDBOX_NR_KINDS] = {
	[SANDBOX_MAIN] = "main",
	[SANDBOX_VCPU] = "vCPU",
	[SANDBOX_BLK_IO] = "block I/O",
	[SANDBOX_CONSOLE] = "console output",
	[SANDBOX_CONTROL] = "control",
	[SANDBOX_SCRIPT] = "script",
	[SANDBOX_MIGRATION] = "migration",
	[SANDBOX_NET_IO] = "network I/O",
	[SANDBOX_VSOCK_IO] = "vsock I/O",
};

const char *sandbox_kind_name(enum sandbox_kind kind)
{
	return (unsigned int)kind < SANDBOX_NR_KINDS ? kind_names[kind] : "?";
}

__attribute__((weak)) void sandbox_test_hook(enum sandbox_kind kind)
{
	(void)kind;
}

/* --- building ------------------------------------------------------------------ */

struct prog {
	struct sock_filter *insn;
	unsigned int len, cap;
	bool overflow;
};

static void emit(struct prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (p->len == p->cap) {
		p->overflow = true;
		return;
	}
	p->insn[p->len++] = (struct sock_filter){ .code = code, .jt = jt, .jf = jf, .k = k };
}

static bool for_kind(const struct sandbox_rule *r, enum sandbox_kind kind)
{
	return r->kinds & (1u << kind);
}

/* Did a row before i already cover call nr for this kind? */
static bool seen_before(unsigned int i, uint32_t nr, enum sandbox_kind kind)
{
	for (unsigned int j = 0; j < i; j++)
		if (sandbox_rules[j].nr == nr && for_kind(&sandbox_rules[j], kind))
			return true;
	return false;
}

/* The block for call nr (its rows from i on). 0, or -EINVAL for rows no block can express. */
static int emit_call(struct prog *p, unsigned int i, enum sandbox_kind kind, uint32_t pid)
{
	const struct sandbox_rule *first = &sandbox_rules[i];
	uint32_t values[256];
	unsigned int k = 0;

	for (unsigned int j = i; j < sandbox_nr_rules; j++) {
		const struct sandbox_rule *r = &sandbox_rules[j];
		if (r->nr != first->nr || !for_kind(r, kind))
			continue;
		if (r->check == SANDBOX_ANY) {
			emit(p, BPF_JMP | BPF_JEQ | BPF_K, first->nr, 0, 1);
			emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
			return 0;
		}
		/* One argument, one kind of check per call; NOBITS rows cannot be combined. */
		if (r->check != first->check || r->arg != first->arg || r->arg > 5 ||
		    (r->check == SANDBOX_ARG_NOBITS && k > 0) || k == sizeof(values) / sizeof(values[0]))
			return -EINVAL;
		values[k++] = r->value == SANDBOX_VALUE_PID ? pid : r->value;
	}
	if (first->check == SANDBOX_ARG_NOBITS) {
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, first->nr, 0, 4);
		emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LOW(first->arg), 0, 0);
		emit(p, BPF_JMP | BPF_JSET | BPF_K, values[0], 0, 1);
	} else {
		if (k + 3 > 255)
			return -E2BIG;
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, first->nr, 0, (uint8_t)(k + 3));
		emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LOW(first->arg), 0, 0);
		for (unsigned int m = 0; m < k; m++)
			emit(p, BPF_JMP | BPF_JEQ | BPF_K, values[m], (uint8_t)(k - m), 0);
	}
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_TRAP, 0, 0);
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	return 0;
}

int sandbox_build_filter(enum sandbox_kind kind, uint32_t pid, struct sock_filter *insn, unsigned int cap)
{
	struct prog p = { .insn = insn, .cap = cap };

	if ((unsigned int)kind >= SANDBOX_NR_KINDS)
		return -EINVAL;
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_AARCH64, 1, 0);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	for (unsigned int i = 0; i < sandbox_nr_rules; i++) {
		const struct sandbox_rule *r = &sandbox_rules[i];
		if (!for_kind(r, kind) || seen_before(i, r->nr, kind))
			continue;
		int ret = emit_call(&p, i, kind, pid);
		if (ret < 0)
			return ret;
	}
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_TRAP, 0, 0);
	return p.overflow ? -E2BIG : (int)p.len;
}

/* --- the report ------------------------------------------------------------------ */

/* Async-signal-safe formatting: no stdio in a signal handler. */
static size_t put_str(char *buf, size_t o, size_t cap, const char *s)
{
	while (*s && o + 1 < cap)
		buf[o++] = *s++;
	return o;
}

static size_t put_num(char *buf, size_t o, size_t cap, unsigned long long v, unsigned int base)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && n < sizeof(tmp));
	while (n && o + 1 < cap)
		buf[o++] = tmp[--n];
	return o;
}

static void sigsys_handler(int sig, siginfo_t *si, void *ctx)
{
	unsigned int nr = (unsigned int)si->si_syscall;
	const char *name = nr < sandbox_nr_syscall_names && sandbox_syscall_names[nr] ? sandbox_syscall_names[nr]
										       : "unknown";
	char line[320];
	size_t o = 0;

	(void)ctx;
	o = put_str(line, o, sizeof(line), "armvmm: error: sandbox: the ");
	o = put_str(line, o, sizeof(line), thread_kind >= 0 ? kind_names[thread_kind] : "unsandboxed");
	o = put_str(line, o, sizeof(line), " thread made a forbidden system call: ");
	o = put_str(line, o, sizeof(line), name);
	o = put_str(line, o, sizeof(line), " (");
	o = put_num(line, o, sizeof(line), nr, 10);
	o = put_str(line, o, sizeof(line), ")");
#ifdef __aarch64__
	if (nr == __NR_ioctl) {
		const ucontext_t *uc = ctx;
		o = put_str(line, o, sizeof(line), " request 0x");
		o = put_num(line, o, sizeof(line), uc->uc_mcontext.regs[1] & 0xffffffffu, 16);
	}
#endif
	o = put_str(line, o, sizeof(line), "; ending armvmm (--sandbox=off runs without the filter)\n");
	if (write(STDERR_FILENO, line, o) < 0)
		(void)0; /* nowhere else to say it */
	if (violation_hook)
		violation_hook();
	syscall(__NR_exit_group, 128 + sig);
}

void sandbox_set_violation_hook(void (*fn)(void))
{
	violation_hook = fn;
}

/* --- turning it on ------------------------------------------------------------------ */

int sandbox_configure(bool on)
{
	struct sigaction sa = { .sa_sigaction = sigsys_handler, .sa_flags = SA_SIGINFO };
	uint32_t action = SECCOMP_RET_TRAP;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
	enabled = false;
	if (!on)
		return 0;
	if (syscall(__NR_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0) {
		int err = errno;
		pr_err("this kernel offers no seccomp filters with SECCOMP_RET_TRAP (%s): use --sandbox=off to run without the sandbox",
		       strerror(err));
		return -err;
	}
	enabled = true;
	return 0;
}

bool sandbox_enabled(void)
{
	return enabled;
}

void sandbox_enter(enum sandbox_kind kind)
{
	struct sock_filter insn[SANDBOX_MAX_INSNS];
	struct sock_fprog prog;
	const char *step = "building its filter";
	int len, err = EINVAL;

	if (!enabled)
		return;
	len = sandbox_build_filter(kind, (uint32_t)getpid(), insn, SANDBOX_MAX_INSNS);
	if (len > 0) {
		prog = (struct sock_fprog){ .len = (unsigned short)len, .filter = insn };
		thread_kind = (int)kind;
		step = "setting no_new_privs";
		err = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? errno : 0;
		if (!err) {
			step = "installing its seccomp filter";
			err = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? errno : 0;
		}
	}
	if (err) {
		thread_kind = -1;
		pr_err("sandbox: the %s thread could not enter the sandbox (%s: %s); use --sandbox=off to run without it",
		       sandbox_kind_name(kind), step, strerror(err));
		exit(1);
	}
	if (kind != SANDBOX_MAIN)
		sandbox_test_hook(kind);	/* the main thread's: at its loop (run.c), once the VM runs */
}
