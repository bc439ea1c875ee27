/*
 * A script's "migrate", the part after this VM ended: restore its snapshot in
 * a new armvmm process that continues the script, and remove the snapshot only
 * once that process has restored the VM (until then the snapshot is all there
 * is of it).
 */
#include "app/script.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"

static void remove_migrate_dir(const char *dir)
{
	static const char *const files[] = { "snap/state", "snap/memory", "input", "restored" };
	char p[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/snap", dir);
	rmdir(p);
	if (rmdir(dir) < 0)
		pr_warn("could not remove the migration directory %s: %s", dir, strerror(errno));
}

int script_migrate_continue(const struct vm_config *cfg, const char *migrate_dir, unsigned int start)
{
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	char snap[PATH_MAX + 16], input[PATH_MAX + 16], restored[PATH_MAX + 16], start_s[16];
	const char *argv[20];
	unsigned int a = 0;
	struct stat st;
	sigset_t none;
	int status;
	pid_t pid;

	snprintf(snap, sizeof(snap), "%s/snap", migrate_dir);
	snprintf(input, sizeof(input), "%s/input", migrate_dir);
	snprintf(restored, sizeof(restored), "%s/restored", migrate_dir);
	snprintf(start_s, sizeof(start_s), "%u", start);
	argv[a++] = "armvmm";
	argv[a++] = "restore";
	argv[a++] = snap;
	argv[a++] = "--script";
	argv[a++] = cfg->script_path;
	argv[a++] = "--script-start";
	argv[a++] = start_s;
	argv[a++] = "--loglevel";
	argv[a++] = levels[cfg->loglevel];
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
	argv[a] = NULL;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		pr_err("migrate: cannot start a new armvmm process: %s; the VM's snapshot is kept in %s "
		       "(armvmm restore %s)", strerror(errno), snap, snap);
		return VM_EXIT_ERROR;
	}
	if (pid == 0) {
		/* vm_run blocked the stop signals for its signalfd; the new process sets up its own. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execv("/proc/self/exe", (char *const *)argv);
		pr_err("migrate: cannot run /proc/self/exe: %s", strerror(errno));
		_exit(VM_EXIT_ERROR);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* The VM lives on only in its snapshot until a new process has restored it: never remove it before. */
	if (stat(restored, &st) == 0) {
		remove_migrate_dir(migrate_dir);
	} else {
		pr_err("migrate: the VM could not be restored in a new process; its snapshot is kept in %s "
		       "(armvmm restore %s)", snap, snap);
		return VM_EXIT_ERROR;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return VM_EXIT_SIGNAL_BASE + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
