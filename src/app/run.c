/*
 * One VM's life, in the order run_vm() shows: the console (a terminal, or a
 * script's pipes), the machine (booted, or restored from a snapshot), the
 * control socket, the vCPU threads and the main event loop until the VM ends,
 * then teardown, and for a script that migrated, the restore in a new process.
 */
#include "app/run.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "app/control.h"
#include "app/script.h"
#include "app/term.h"
#include "board/board.h"
#include "core/clock.h"
#include "core/log.h"
#include "snapshot/snapshot.h"

struct running_vm {
	struct board board;
	struct control_server ctl;
	struct script *script;		/* --script, or NULL */
	uint64_t t0_ns;			/* CLOCK_MONOTONIC when this process began building the VM */
};

/* --- what the control socket and scripts ask of the VM (main thread) ---------------- */

static bool op_is_paused(void *opaque)
{
	return ((struct running_vm *)opaque)->board.vm.paused;
}

static int op_pause(void *opaque, uint64_t *ns)
{
	return vm_pause(&((struct running_vm *)opaque)->board.vm, ns);
}

static int op_resume(void *opaque)
{
	vm_resume(&((struct running_vm *)opaque)->board.vm);
	return 0;
}

/* Any thread. */
static int op_stop(void *opaque, int status)
{
	vm_request_stop(&((struct running_vm *)opaque)->board.vm, status);
	return 0;
}

/* Pause, save into dir, then resume (or stop with stop). msg: one line on failure. */
static int op_snapshot(void *opaque, const char *dir, bool stop, struct control_snapshot_result *res, char *msg,
		       size_t msg_cap)
{
	struct running_vm *r = opaque;
	struct vm *vm = &r->board.vm;
	bool was_paused = vm->paused;
	uint64_t ns;
	int ret;

	log_clear_error();
	ret = vm_pause(vm, &ns);
	if (ret == 0)
		ret = snapshot_save(&r->board, dir, res);
	if (ret < 0) {
		snprintf(msg, msg_cap, "%s", *log_last_error() ? log_last_error() : strerror(-ret));
		if (!was_paused)
			vm_resume(vm);
		return ret;
	}
	if (stop) {
		pr_info("snapshot written to %s; stopping the VM as asked", dir);
		vm_request_stop(vm, VM_EXIT_POWEROFF);
	} else if (!was_paused) {
		vm_resume(vm);
	}
	return 0;
}

static int op_msi(void *opaque, uint32_t devid, uint32_t event_id, char *msg, size_t msg_cap)
{
	struct running_vm *r = opaque;
	int ret;

	log_clear_error();
	ret = irqchip_signal_msi(&r->board.irqchip, devid, event_id);
	if (ret < 0)
		snprintf(msg, msg_cap, "%s", *log_last_error() ? log_last_error() : strerror(-ret));
	return ret;
}

static const struct control_ops running_vm_ops = {
	.is_paused = op_is_paused,
	.pause = op_pause,
	.resume = op_resume,
	.stop = op_stop,
	.snapshot = op_snapshot,
	.msi = op_msi,
};

/* --- the main thread's loop ------------------------------------------------------------ */

static void sigusr1_kick(int sig)
{
	(void)sig; /* only here to make KVM_RUN return EINTR */
}

static void stop_cb(void *opaque, int fd, short revents)
{
	struct vm *vm = opaque;
	(void)fd;
	(void)revents;
	vm->loop.quit = true;
}

static void signal_cb(void *opaque, int fd, short revents)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)revents;
	if (read(fd, &si, sizeof(si)) == sizeof(si)) {
		pr_info("stopping the VM on signal %u", si.ssi_signo);
		vm_request_stop(vm, VM_EXIT_SIGNAL_BASE + (int)si.ssi_signo);
	}
	vm->loop.quit = true;
}

static int run_loop(struct running_vm *r)
{
	struct vm *vm = &r->board.vm;
	struct sigaction sa = { .sa_handler = sigusr1_kick };
	sigset_t stop_sigs;
	int sig_fd, ret;
	bool tty_input = !r->script;

	/* SIGINT/SIGTERM/SIGHUP arrive through a signalfd; every thread inherits the block. */
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
	sig_fd = signalfd(-1, &stop_sigs, SFD_CLOEXEC);
	if (sig_fd < 0) {
		pr_err("signalfd failed: %s", strerror(errno));
		return -errno;
	}
	sigemptyset(&sa.sa_mask);
	/*
	 * KVM_RUN returns EINTR whatever the flag; SA_RESTART keeps the kick (now
	 * sent for every IRQ level the userspace GIC changes from another thread)
	 * from failing whatever else a vCPU thread is blocked in (a console write).
	 */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	/* A reader of the console going away must not kill the VM: writes just fail. */
	signal(SIGPIPE, SIG_IGN);

	eventloop_add(&vm->loop, vm->stop_fd, POLLIN, stop_cb, vm);
	eventloop_add(&vm->loop, sig_fd, POLLIN, signal_cb, vm);

	if (tty_input)
		term_raw_enable(STDIN_FILENO);
	ret = vm_start_vcpus(vm);
	if (ret == 0 && vm->restoring)
		pr_info("restore: vCPUs running %llu ms after the restore began",
			(unsigned long long)((clock_monotonic_ns() - r->t0_ns) / 1000000));
	if (ret == 0 && r->script)
		ret = script_start(r->script, &vm->loop, &running_vm_ops, r);
	if (ret < 0)
		vm_request_stop(vm, VM_EXIT_ERROR);
	else if (eventloop_run(&vm->loop) < 0) {
		pr_err("the event loop failed: %s", strerror(errno));
		vm_request_stop(vm, VM_EXIT_ERROR);
	}

	vm_stop_vcpus(vm);
	if (tty_input)
		term_restore();
	close(sig_fd);
	return 0;
}

int run_vm(const struct vm_config *cfg)
{
	struct running_vm r = { .ctl.listen_fd = -1, .t0_ns = clock_monotonic_ns() };
	int console_in = STDIN_FILENO, console_out = STDOUT_FILENO;
	struct vm_config restored;
	char migrate_dir[PATH_MAX];
	unsigned int migrate_start = 0;
	bool migrated = false;
	int ret, status = VM_EXIT_ERROR;

	/* A script stands in for the person at the console: it owns the console's pipes. */
	if (cfg->script_path) {
		if (script_load(cfg, &r.script) < 0)
			return VM_EXIT_ERROR;
		if (script_console_fds(r.script, &console_in, &console_out) < 0) {
			pr_err("cannot set up the script's console pipes: %s", strerror(errno));
			script_free(r.script);
			return VM_EXIT_ERROR;
		}
	}
	if (board_init(&r.board, cfg, console_in, console_out) < 0)
		goto out;
	if (cfg->restore_dir) {
		ret = snapshot_restore(&r.board, cfg, &restored);
	} else {
		ret = board_boot(&r.board);
		if (ret == 1) {
			status = VM_EXIT_POWEROFF; /* --dump-dtb done */
			goto out;
		}
	}
	if (ret < 0)
		goto out;
	if (cfg->name && control_server_start(&r.ctl, &r.board.vm.loop, cfg->name, &running_vm_ops, &r) < 0)
		goto out;

	run_loop(&r);
	status = atomic_load(&r.board.vm.exit_status);
	if (status < 0)
		status = VM_EXIT_ERROR;
	if (r.script)
		status = script_finish(r.script, status);
out:
	if (r.ctl.listen_fd >= 0)
		control_server_stop(&r.ctl);
	board_destroy(&r.board);
	if (r.script) {
		migrated = script_migration(r.script, migrate_dir, sizeof(migrate_dir), &migrate_start);
		script_free(r.script);
	}
	/* A script's "migrate": this VM is gone; its snapshot continues in a fresh armvmm process. */
	if (migrated)
		status = script_migrate_continue(cfg, migrate_dir, migrate_start);
	return status;
}
