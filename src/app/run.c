/*
 * One VM's life, in the order run_vm() shows: the process (stop signals to a
 * signalfd, the sandbox, the jail), the console (a terminal, or a script's
 * pipes), the machine (booted, or restored from a snapshot), the control
 * thread (signals, the control socket, the stop watchdog), the vCPU threads,
 * then the main thread enters its sandbox and runs the event loop until the
 * VM ends; teardown; and for a script that migrated, the restore in a new
 * process.
 */
#include "app/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "app/control.h"
#include "app/jail.h"
#include "app/script.h"
#include "app/term.h"
#include "board/board.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "migration/recv.h"
#include "migration/send.h"
#include "snapshot/snapshot.h"

struct running_vm {
	struct board board;
	struct control_server ctl;
	struct script *script;		/* --script, or NULL */
	uint64_t t0_ns;			/* CLOCK_MONOTONIC when this process began building the VM */
	struct mig_send mig;		/* "armvmm migrate": sending this VM elsewhere */
	bool mig_ready;
	struct mig_incoming incoming;	/* "restore --incoming": the source, until the vCPUs run here */
};

/* While the VM is being migrated, nothing else may pause, resume or save it. */
static bool migrating(struct running_vm *r, char *msg, size_t cap)
{
	if (!r->mig_ready || !mig_send_active(&r->mig))
		return false;
	if (msg)
		snprintf(msg, cap, "a migration of this VM is in progress");
	return true;
}

/* --- what the control socket and scripts ask of the VM (main thread) ---------------- */

static bool op_is_paused(void *opaque)
{
	return ((struct running_vm *)opaque)->board.vm.paused;
}

static int op_pause(void *opaque, uint64_t *ns)
{
	if (migrating(opaque, NULL, 0))
		return -EBUSY;
	return vm_pause(&((struct running_vm *)opaque)->board.vm, ns);
}

static int op_resume(void *opaque)
{
	if (migrating(opaque, NULL, 0))
		return -EBUSY;
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

	if (migrating(r, msg, msg_cap))
		return -EBUSY;
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

/* Main thread: the migration ended; the client that asked for it hears how. */
static void migration_done(void *opaque, int result, const struct mig_stats *st, const char *msg)
{
	struct running_vm *r = opaque;
	struct control_migrate_result res = {
		.rounds = st->rounds, .bytes = st->bytes, .downtime_ns = st->downtime_ns, .total_ns = st->total_ns,
	};

	control_server_migrated(&r->ctl, result, &res, msg);
}

static int op_migrate(void *opaque, const char *addr, unsigned int downtime_ms, char *msg, size_t msg_cap)
{
	struct running_vm *r = opaque;

	if (!r->mig_ready) {
		snprintf(msg, msg_cap, "this VM cannot be migrated (see its log)");
		return -ENODEV;
	}
	return mig_send_start(&r->mig, addr, downtime_ms, migration_done, r, msg, msg_cap);
}

static const struct control_ops running_vm_ops = {
	.is_paused = op_is_paused,
	.pause = op_pause,
	.resume = op_resume,
	.stop = op_stop,
	.snapshot = op_snapshot,
	.msi = op_msi,
	.migrate = op_migrate,
};

/* The control thread's watchdog ends the process with this (any thread). */
static int exit_status(void *opaque)
{
	int status = atomic_load(&((struct running_vm *)opaque)->board.vm.exit_status);

	return status < 0 ? VM_EXIT_ERROR : status;
}

/* --- the main thread's loop ------------------------------------------------------------ */

static void stop_cb(void *opaque, int fd, short revents)
{
	struct vm *vm = opaque;
	(void)fd;
	(void)revents;
	vm->loop.quit = true;
}

static void run_loop(struct running_vm *r)
{
	struct vm *vm = &r->board.vm;
	bool tty_input = !r->script;
	int ret;

	eventloop_add(&vm->loop, vm->stop_fd, POLLIN, stop_cb, vm);

	log_step("control thread started");
	if (tty_input)
		term_raw_enable(STDIN_FILENO);
	log_step("run loop set up");
	ret = r->script ? script_start(r->script, &vm->loop, &running_vm_ops, r) : 0;
	/*
	 * Every thread exists: the main thread enters its sandbox before the guest
	 * runs (a filter installed while a vCPU first enters the guest costs
	 * both, and a guest that ends at once waits for it). A migrated VM
	 * confirms over its socket first, which the filter does not allow.
	 */
	if (ret == 0 && r->incoming.fd < 0) {
		sandbox_enter(SANDBOX_MAIN);
		log_step("main thread sandboxed");
	}
	if (ret == 0)
		ret = vm_start_vcpus(vm);
	log_step("vCPU threads started");
	if (ret == 0 && vm->restoring && r->incoming.fd < 0)
		pr_info("restore: vCPUs running %llu ms after the restore began",
			(unsigned long long)((clock_monotonic_ns() - r->t0_ns) / 1000000));
	/* A migrated VM runs here now: the source may let its copy go. */
	if (ret == 0 && r->incoming.fd >= 0) {
		ret = mig_confirm(&r->incoming);
		if (ret == 0)
			sandbox_enter(SANDBOX_MAIN);
	}
	if (ret == 0)
		sandbox_test_hook(SANDBOX_MAIN);
	if (ret < 0) {
		vm_request_stop(vm, VM_EXIT_ERROR);
	} else if (eventloop_run(&vm->loop) < 0) {
		pr_err("the event loop failed: %s", strerror(errno));
		vm_request_stop(vm, VM_EXIT_ERROR);
	}
	log_step("VM ended");
	vm_stop_vcpus(vm);
	/* The VM ended (a guest power-off, a stop) with a migration under way: it ends unfinished. */
	if (r->mig_ready)
		mig_send_cancel(&r->mig);
	log_step("vCPU threads joined");
	if (tty_input)
		term_restore();
}

/*
 * SIGINT, SIGTERM and SIGHUP go to a signalfd the control thread reads: blocked
 * here, before any thread exists, so that every thread inherits the block.
 * A reader of the console going away must not kill the VM: SIGPIPE ignored.
 */
static int stop_signals_to_fd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		pr_err("signalfd failed: %s", strerror(errno));
	return fd;
}

int run_vm(const struct vm_config *cfg_in)
{
	struct running_vm r = { .ctl.listen_fd = -1, .t0_ns = clock_monotonic_ns(), .incoming.fd = -1 };
	struct vm_config cfg = *cfg_in;	/* --jail makes its paths absolute */
	int console_in = STDIN_FILENO, console_out = STDOUT_FILENO;
	struct vm_config restored;
	char migrate_dir[PATH_MAX];
	unsigned int migrate_start = 0;
	bool migrated = false, ctl_started = false, board_made = false;
	int ret, sig_fd, status = VM_EXIT_ERROR;

	log_step("start");
	/* 1. The process: signals, the sandbox (its SIGSYS report), the jail. */
	sig_fd = stop_signals_to_fd();
	if (sig_fd < 0)
		return VM_EXIT_ERROR;
	sandbox_set_violation_hook(term_restore);
	if (sandbox_configure(!cfg.sandbox_off) < 0)
		goto out_sig;
	log_step("signals and sandbox set up");
	/* A script is read before anything else: it must be valid, and a jail need not bind it in. */
	if (cfg.script_path) {
		if (script_load(&cfg, &r.script) < 0)
			goto out_sig;
		if (cfg.jail_dir && script_migrates(r.script)) {
			pr_err("--jail: a script that migrates continues in a new armvmm process, which a jail cannot start: leave out --jail");
			goto out;
		}
	}
	if (cfg.jail_dir) {
		ret = jail_enter(&cfg, &status);
		if (ret != 0) {
			if (ret < 0)
				status = VM_EXIT_ERROR;
			goto out; /* the parent: the jailed process ran the VM */
		}
	}
	/* 2. A script stands in for the person at the console: it owns the console's pipes. */
	if (r.script) {
		if (script_start_launcher(r.script, &cfg) < 0)
			goto out;
		if (script_console_fds(r.script, &console_in, &console_out) < 0) {
			pr_err("cannot set up the script's console pipes: %s", strerror(errno));
			goto out;
		}
	}
	/* 3. The machine. */
	board_made = true; /* board_init leaves it safe to destroy, even when it fails */
	if (board_init(&r.board, &cfg, console_in, console_out) < 0)
		goto out;
	log_step("console writer started");
	if (cfg.incoming) {
		ret = mig_receive(&r.board, &cfg, &restored, &r.incoming);
	} else if (cfg.restore_dir) {
		ret = snapshot_restore(&r.board, &cfg, &restored);
	} else {
		ret = board_boot(&r.board);
		if (ret == 1) {
			status = VM_EXIT_POWEROFF; /* --dump-dtb done */
			goto out;
		}
	}
	if (ret < 0)
		goto out;
	/* A script's migration: the process that started this one may drop the snapshot now. */
	if (cfg.script_restored) {
		int fd = open(cfg.script_restored, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	/* Only "armvmm migrate NAME" asks for a live migration: a VM without a control socket needs no sender thread. */
	log_step("VM built");
	r.mig_ready = cfg.name && mig_send_init(&r.mig, &r.board) == 0;
	/* 4. The control thread: signals, the control socket (--name), the stop watchdog. */
	struct control_server_config ctl = {
		.name = cfg.name, .signal_fd = sig_fd, .stop_fd = r.board.vm.stop_fd, .exit_status = exit_status,
		.ops = &running_vm_ops, .opaque = &r,
	};
	if (control_server_start(&r.ctl, &r.board.vm.loop, &ctl) < 0)
		goto out;
	ctl_started = true;

	/* 5. Run until the VM ends. */
	run_loop(&r);
	status = exit_status(&r);
	if (r.script) {
		/* What the guest printed before it ended reaches the script before it hears of the end. */
		console_out_flush(&r.board.console, CONSOLE_OUT_FLUSH_MS);
		status = script_finish(r.script, status);
	}
out:
	if (r.mig_ready)
		mig_send_destroy(&r.mig);
	mig_incoming_close(&r.incoming);
	if (board_made)
		board_destroy(&r.board);
	log_step("board destroyed");
	/* After the teardown: the watchdog covers it, and the socket goes last. */
	if (ctl_started)
		control_server_stop(&r.ctl);
	log_step("torn down");
	if (r.script) {
		migrated = script_migration(r.script, migrate_dir, sizeof(migrate_dir), &migrate_start);
		/* A script's "migrate": this VM is gone; its snapshot continues in a fresh armvmm process. */
		if (migrated)
			status = script_migrate_continue(r.script, migrate_dir, migrate_start);
		script_free(r.script);
	}
out_sig:
	close(sig_fd);
	return status;
}
