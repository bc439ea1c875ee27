/*
 * The migration launcher (see launcher.h). It is forked while armvmm is one
 * thread, so the child may do anything a fresh process may; it only reads its
 * pipe until the parent says where the snapshot is, or closes it.
 */
#include "app/launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/files.h"
#include "core/log.h"
#include "core/vm.h"

/*
 * The launcher: forked while armvmm was one thread, so it may do anything.
 * It reads "<dir>\n<start>\n" (or end of file: no migration) and becomes
 * "armvmm restore <dir>/snap --script ... --script-start <start>".
 */
static void launcher_main(int fd, const struct vm_config *cfg)
{
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	char msg[PATH_MAX + 32], snap[PATH_MAX + 48], input[PATH_MAX + 48], restored[PATH_MAX + 48], *nl, *start;
	const char *argv[24];
	unsigned int a = 0;
	size_t len = 0;
	struct stat st;
	sigset_t none;
	ssize_t n;

	while (len < sizeof(msg) - 1 && (n = read(fd, msg + len, sizeof(msg) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(0);
		len += (size_t)n;
	}
	msg[len] = '\0';
	nl = strchr(msg, '\n');
	if (!nl)
		_exit(0); /* the VM ended without migrating */
	*nl = '\0';
	start = nl + 1;
	start[strcspn(start, "\n")] = '\0';
	snprintf(snap, sizeof(snap), "%s/snap", msg);
	snprintf(input, sizeof(input), "%s/input", msg);
	snprintf(restored, sizeof(restored), "%s/restored", msg);
	argv[a++] = "armvmm";
	argv[a++] = "restore";
	argv[a++] = snap;
	argv[a++] = "--script";
	argv[a++] = cfg->script_path;
	argv[a++] = "--script-start";
	argv[a++] = start;
	argv[a++] = "--loglevel";
	argv[a++] = levels[cfg->loglevel];
	/* Created once the VM runs there: until then the snapshot is all there is of it. */
	argv[a++] = "--script-restored";
	argv[a++] = restored;
	if (stat(input, &st) == 0) {
		argv[a++] = "--script-input";
		argv[a++] = input;
	}
	if (cfg->name) {
		argv[a++] = "--name";
		argv[a++] = cfg->name;
	}
	if (cfg->sandbox_off) {
		argv[a++] = "--sandbox";
		argv[a++] = "off";
	}
	argv[a] = NULL;
	/* run_vm blocked the stop signals for its signalfd; the new process sets up its own. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execv("/proc/self/exe", (char *const *)argv);
	pr_err("migrate: cannot run /proc/self/exe: %s", strerror(errno));
	_exit(VM_EXIT_ERROR);
}

int launcher_start(struct launcher *l, const struct vm_config *cfg)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		pr_err("migrate: cannot set up the launcher: %s", strerror(errno));
		return -EIO;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = errno;
		pr_err("migrate: cannot start the launcher process: %s", strerror(err));
		close(p[0]);
		close(p[1]);
		return -err;
	}
	if (pid == 0) {
		close(p[1]);
		launcher_main(p[0], cfg);
	}
	close(p[0]);
	l->pid = pid;
	l->fd = p[1];
	return 0;
}

/* Wait for the launcher (or what it became); its exit status as the process's. */
static int launcher_wait(struct launcher *l)
{
	int status = 0;

	while (waitpid(l->pid, &status, 0) < 0 && errno == EINTR)
		;
	l->pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return VM_EXIT_SIGNAL_BASE + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void launcher_stop(struct launcher *l)
{
	close_fd(&l->fd);
	if (l->pid > 0)
		launcher_wait(l);
}

int launcher_restore(struct launcher *l, const char *dir, unsigned int start)
{
	char msg[PATH_MAX + 32];
	int n, err, status;

	if (l->pid <= 0) {
		pr_err("migrate: internal error: no launcher process");
		return VM_EXIT_ERROR;
	}
	n = snprintf(msg, sizeof(msg), "%s\n%u\n", dir, start);
	err = write_all(l->fd, msg, (size_t)n);
	close_fd(&l->fd);
	if (err)
		pr_err("migrate: cannot hand over to the launcher: %s", strerror(-err));
	status = launcher_wait(l);
	return err ? VM_EXIT_ERROR : status;
}
