/*
 * What each kind of armvmm thread may call once it is sandboxed: the one
 * table the seccomp filters are built from (sandbox.c). One row per system
 * call, or per allowed value of one argument; the last column says which
 * thread kinds get it. A new call is one row; a new kind of thread is a bit
 * in enum sandbox_kind (sandbox.h), a name in sandbox.c, its bit on the rows
 * it needs and a sandbox_enter() at the start of the thread.
 *
 * Rows for the same call and kind with ARG_EQ form a set of allowed values
 * (ioctl request numbers, say); a call with an ANY row for a kind ignores its
 * other rows for that kind. Order matters only for speed: a filter tests the
 * calls in table order, so the hottest (KVM_RUN's ioctl, futex) come first.
 *
 * Everything a thread does before it enters (opening /dev/kvm, disks, the
 * kernel, creating threads) needs no row: set-up is done by then. So no kind
 * may open a file except the main thread (snapshots), none may create a
 * thread or process, and none may map memory executable.
 */
#include <asm/unistd.h>
#include <linux/fs.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <termios.h>

#include "core/sandbox.h"

#define MAIN (1u << SANDBOX_MAIN)
#define VCPU (1u << SANDBOX_VCPU)
#define BLK_IO (1u << SANDBOX_BLK_IO)
#define CONSOLE (1u << SANDBOX_CONSOLE)
#define CONTROL (1u << SANDBOX_CONTROL)
#define SCRIPT (1u << SANDBOX_SCRIPT)
#define MIGRATION (1u << SANDBOX_MIGRATION)
#define ALL (MAIN | VCPU | BLK_IO | CONSOLE | CONTROL | SCRIPT | MIGRATION)

#define SYS(call) .nr = __NR_##call, .name = #call, .check = SANDBOX_ANY
#define ARG_EQ(call, i, v) .nr = __NR_##call, .name = #call " " #v, .check = SANDBOX_ARG_EQ, .arg = (i), .value = (uint32_t)(v)
#define ARG_NOBITS(call, i, bits) .nr = __NR_##call, .name = #call " without " #bits, .check = SANDBOX_ARG_NOBITS, .arg = (i), .value = (uint32_t)(bits)
#define IOCTL(req) ARG_EQ(ioctl, 1, req)
#define SIGCANCEL 32	/* glibc's cancellation signal, __SIGRTMIN (glibc hides the name) */

const struct sandbox_rule sandbox_rules[] = {
	/* --- ioctls: vCPUs run the guest, the others read state for snapshots ------------ */
	{ IOCTL(KVM_RUN), .kinds = VCPU },
	{ IOCTL(KVM_IRQ_LINE), .kinds = VCPU | MAIN | CONSOLE },	/* SPIs without an irqfd; the userspace GIC's IRQ line */
	{ IOCTL(KVM_GET_ONE_REG), .kinds = MAIN },		/* snapshot: vCPU registers */
	{ IOCTL(KVM_GET_REG_LIST), .kinds = MAIN },
	{ IOCTL(KVM_GET_MP_STATE), .kinds = MAIN },
	{ IOCTL(KVM_GET_VCPU_EVENTS), .kinds = MAIN },
	{ IOCTL(KVM_GET_DEVICE_ATTR), .kinds = MAIN },		/* snapshot: vGIC state */
	{ IOCTL(KVM_SET_DEVICE_ATTR), .kinds = MAIN },		/* vGIC: pending tables / line levels around a save */
	{ IOCTL(KVM_SIGNAL_MSI), .kinds = MAIN },		/* a script's or the control socket's msi (ITS) */
	{ IOCTL(KVM_GET_DIRTY_LOG), .kinds = MIGRATION },	/* a live migration's rounds */
	{ IOCTL(KVM_CLEAR_DIRTY_LOG), .kinds = MIGRATION },
	{ IOCTL(KVM_CHECK_EXTENSION), .kinds = MIGRATION },	/* dirty log: manual protection available? */
	{ IOCTL(KVM_ENABLE_CAP), .kinds = MIGRATION },		/* ... then on */
	/* The dirty log on (sender) and off again after a failed migration (main). */
	{ IOCTL(KVM_SET_USER_MEMORY_REGION), .kinds = MIGRATION | MAIN },
	{ IOCTL(BLKGETSIZE64), .kinds = MAIN },			/* a block-device disk's size, recorded at a save */
	{ IOCTL(SIOCGIFINDEX), .kinds = MIGRATION },		/* tcp:[fe80::1%IFACE]: the interface's index */
	{ IOCTL(TCSETS), .kinds = ALL },			/* the terminal back to cooked mode on the way out */
	{ IOCTL(TCGETS), .kinds = ALL },			/* (glibc's tcsetattr reads it first) */

	/* --- every thread: locks, memory, time, leaving, the violation report ------------ */
	{ SYS(futex), .kinds = ALL },
	{ SYS(write), .kinds = ALL },				/* eventfds, log lines, console and control output */
	{ SYS(read), .kinds = MAIN | CONTROL | SCRIPT | MIGRATION },	/* eventfds, console input, signalfd, sockets, pipes */
	{ SYS(ppoll), .kinds = MAIN | CONTROL | SCRIPT | MIGRATION },
	{ SYS(clock_gettime), .kinds = ALL },			/* the vDSO's fallback */
	{ SYS(clock_nanosleep), .kinds = MAIN },		/* io_uring back-off while waiting for I/O */
	{ SYS(restart_syscall), .kinds = ALL },
	{ SYS(rt_sigreturn), .kinds = ALL },			/* SIGUSR1 kicks, which a stray one may hit anywhere */
	{ SYS(rt_sigprocmask), .kinds = ALL },
	/* glibc installs its cancellation handler at the first pthread_cancel (the console writer's end). */
	{ ARG_EQ(rt_sigaction, 0, SIGCANCEL), .kinds = MAIN },
	{ SYS(getpid), .kinds = ALL },				/* pthread_kill asks for it */
	{ SYS(gettid), .kinds = ALL },
	{ ARG_EQ(tgkill, 0, SANDBOX_VALUE_PID), .kinds = MAIN | VCPU | CONSOLE | CONTROL },	/* kicks; only this process */
	{ ARG_NOBITS(mmap, 2, PROT_EXEC), .kinds = ALL },	/* malloc; never executable memory */
	{ ARG_NOBITS(mprotect, 2, PROT_EXEC), .kinds = ALL },
	{ SYS(munmap), .kinds = ALL },
	{ SYS(mremap), .kinds = MAIN },				/* realloc of snapshot buffers */
	{ SYS(madvise), .kinds = ALL },				/* free(), and a thread's stack as it ends */
	{ SYS(brk), .kinds = ALL },
	{ SYS(exit), .kinds = ALL },
	{ SYS(exit_group), .kinds = ALL },

	/* --- devices at run time ------------------------------------------------------------ */
	{ SYS(io_uring_enter), .kinds = MAIN | VCPU },		/* virtio-blk submits on whichever thread notified */
	{ SYS(timerfd_settime), .kinds = MAIN | VCPU },	/* io_uring's submission retry */
	{ SYS(getrandom), .kinds = MAIN | VCPU },		/* virtio-rng; mkdtemp for a migration */
	{ SYS(preadv), .kinds = BLK_IO },
	{ SYS(pwritev), .kinds = BLK_IO },
	{ SYS(fdatasync), .kinds = BLK_IO | MAIN },		/* a save syncs every writable disk first */
	{ SYS(fallocate), .kinds = BLK_IO },			/* discard, write-zeroes */

	/* --- the main thread: snapshots, a migration's hand-over, teardown ----------------- */
	{ SYS(openat), .kinds = MAIN },
	{ SYS(close), .kinds = MAIN | CONTROL | MIGRATION },
	{ SYS(mkdirat), .kinds = MAIN },
	{ SYS(unlinkat), .kinds = MAIN | CONTROL },		/* a failed snapshot's files; the control socket */
	{ SYS(renameat), .kinds = MAIN },
	{ SYS(renameat2), .kinds = MAIN },
	{ SYS(newfstatat), .kinds = MAIN | CONTROL },
	{ SYS(pwrite64), .kinds = MAIN },
	{ SYS(ftruncate), .kinds = MAIN },
	{ SYS(fsync), .kinds = MAIN },
	{ SYS(wait4), .kinds = MAIN },				/* the migration launcher's exit */
	{ SYS(getrusage), .kinds = MAIN },			/* --loglevel debug: each teardown step's page faults */
	/* Which guest pages were ever touched: /proc/self/pagemap (opened at set-up), a memory file's extents. */
	{ SYS(pread64), .kinds = MAIN | MIGRATION },
	{ SYS(lseek), .kinds = MAIN | MIGRATION },
	{ SYS(flock), .kinds = MAIN },				/* a migration hands its disks over, or takes them back */
	{ SYS(shutdown), .kinds = MAIN },			/* a migration cancelled: wake its sender */

	/* --- the control thread: signals and the control socket ---------------------------- */
	{ SYS(accept4), .kinds = CONTROL },
	{ SYS(recvfrom), .kinds = CONTROL | MIGRATION },
	{ SYS(sendto), .kinds = CONTROL },
	{ SYS(getsockopt), .kinds = CONTROL | MIGRATION },	/* SO_PEERCRED; a migration's SO_ERROR after connect */
	{ SYS(geteuid), .kinds = CONTROL },

	/* --- a live migration's sender: one connection out, to the address the user gave ------ */
	{ ARG_EQ(socket, 0, AF_UNIX), .kinds = MIGRATION },
	{ ARG_EQ(socket, 0, AF_INET), .kinds = MIGRATION },
	{ ARG_EQ(socket, 0, AF_INET6), .kinds = MIGRATION },
	{ SYS(connect), .kinds = MIGRATION },
	{ SYS(setsockopt), .kinds = MIGRATION },		/* TCP_NODELAY */
	{ SYS(sendmsg), .kinds = MIGRATION },
};

const unsigned int sandbox_nr_rules = sizeof(sandbox_rules) / sizeof(sandbox_rules[0]);
