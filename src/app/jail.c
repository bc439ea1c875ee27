/*
 * The jail (see jail.h). In order:
 *   1. checks, and every path the VM needs made absolute (realpath): after
 *      the pivot there is no host current directory to be relative to;
 *   2. in DIR, an empty file or directory at each bind's host path where
 *      none exists (recorded, and removed again at the end by the parent);
 *   3. without root: a user namespace mapping our uid and gid to themselves,
 *      so the steps below are allowed; then a PID namespace and a fork: the
 *      child is PID 1 of the new namespace and the VM;
 *   4. the child: its own mount, IPC and network namespaces, every mount
 *      made private, DIR bound onto itself, the binds, pivot_root into DIR
 *      and the old root detached; no /proc, no network device, no host path
 *      it was not given;
 *   5. privileges dropped: as root, supplementary groups cleared and
 *      --gid/--uid set for real, effective and saved ids (which clears every
 *      capability); without root, the capability sets and the bounding set
 *      emptied. The sandbox's no_new_privs and filters follow as usual.
 * The parent waits, forwarding SIGINT, SIGTERM and SIGHUP to the child, and
 * puts the terminal back should the child have died without doing so.
 */
#include "app/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "app/control.h"
#include "core/log.h"
#include "core/vm.h"

#define JAIL_MAX_BINDS (VM_MAX_DISKS + 8)
#define JAIL_MAX_STUBS (JAIL_MAX_BINDS * 8)

struct bind {
	char *host;		/* absolute host path, also the path inside the jail */
	bool dir, read_only;
};

struct jail {
	char root[PATH_MAX];
	struct bind binds[JAIL_MAX_BINDS];
	unsigned int nr_binds;
	char *stubs[JAIL_MAX_STUBS];	/* what step 2 created, in creation order */
	bool stub_dir[JAIL_MAX_STUBS];
	unsigned int nr_stubs;
	bool as_root;
	uid_t uid;
	gid_t gid;
};

/*
 * Add path (as the VM will open it) to the binds, and point *path at its
 * absolute form. A path that does not resolve is left alone: opening it in
 * the jail fails with the same message as without one.
 */
static int add_bind(struct jail *j, const char **path, bool dir, bool read_only)
{
	char *abs = realpath(*path, NULL);
	struct stat st;

	if (!abs)
		return 0;
	if (stat(abs, &st) < 0 || (dir && !S_ISDIR(st.st_mode))) {
		free(abs);
		return 0;
	}
	if (j->nr_binds == JAIL_MAX_BINDS) {
		free(abs);
		pr_err("--jail: too many files to bind in");
		return -E2BIG;
	}
	j->binds[j->nr_binds++] = (struct bind){ .host = abs, .dir = S_ISDIR(st.st_mode), .read_only = read_only };
	*path = abs;
	return 0;
}

/* Step 2: the mount point of one bind inside the root, making what is missing. */
static int make_stub(struct jail *j, const struct bind *b)
{
	char p[PATH_MAX];
	size_t rootlen = strlen(j->root);

	if (snprintf(p, sizeof(p), "%s%s", j->root, b->host) >= (int)sizeof(p)) {
		pr_err("--jail: '%s%s' is too long a path", j->root, b->host);
		return -ENAMETOOLONG;
	}
	/* Each directory on the way, then the file or directory itself. */
	for (char *s = p + rootlen + 1;; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		struct stat st;
		if (lstat(p, &st) < 0) {
			bool dir = !last || b->dir;
			int fd = -1;
			if (dir ? mkdir(p, 0755) < 0 : (fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
				int err = errno;
				pr_err("--jail: cannot create mount point '%s': %s", p, strerror(err));
				return -err;
			}
			if (fd >= 0)
				close(fd);
			if (j->nr_stubs < JAIL_MAX_STUBS) {
				j->stub_dir[j->nr_stubs] = dir;
				j->stubs[j->nr_stubs++] = strdup(p);
			}
		} else if (!last && !S_ISDIR(st.st_mode)) {
			pr_err("--jail: '%s' is in the way of a mount point (not a directory)", p);
			return -ENOTDIR;
		}
		if (last)
			break;
		*s = '/';
	}
	return 0;
}

/* What step 2 made, newest first (a directory only goes if it is empty again). */
static void remove_stubs(struct jail *j)
{
	for (unsigned int i = j->nr_stubs; i-- > 0;) {
		if (j->stubs[i] && (j->stub_dir[i] ? rmdir(j->stubs[i]) : unlink(j->stubs[i])) < 0 && errno != ENOENT)
			pr_debug("--jail: left '%s' in the jail directory: %s", j->stubs[i], strerror(errno));
		free(j->stubs[i]);
	}
	j->nr_stubs = 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n)
		err = -errno;
	close(fd);
	return err;
}

/* Step 3 without root: a user namespace where we are ourselves, with every capability in it. */
static int enter_user_namespace(struct jail *j)
{
	char map[64];
	int ret;

	if (unshare(CLONE_NEWUSER) < 0) {
		ret = -errno;
		pr_err("--jail: cannot create a user namespace: %s (unprivileged user namespaces may be disabled: run as root with --uid/--gid)",
		       strerror(-ret));
		return ret;
	}
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned int)j->uid, (unsigned int)j->uid);
	ret = write_file("/proc/self/uid_map", map);
	if (!ret)
		ret = write_file("/proc/self/setgroups", "deny\n");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned int)j->gid, (unsigned int)j->gid);
	if (!ret)
		ret = write_file("/proc/self/gid_map", map);
	if (ret)
		pr_err("--jail: cannot map our user into the new user namespace: %s", strerror(-ret));
	return ret;
}

/* A read-only bind keeps the flags the kernel locked on the source (nosuid, nodev, noexec). */
static unsigned long locked_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	return f;
}

/* Step 4, in the child. */
static int build_root(struct jail *j)
{
	char target[PATH_MAX];
	const char *step = "new mount, IPC and network namespaces";

	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET) < 0)
		goto fail;
	step = "making the mounts private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto fail;
	step = "binding the jail directory onto itself";
	if (mount(j->root, j->root, NULL, MS_BIND | MS_REC, NULL) < 0)
		goto fail;
	for (unsigned int i = 0; i < j->nr_binds; i++) {
		const struct bind *b = &j->binds[i];
		snprintf(target, sizeof(target), "%s%s", j->root, b->host);
		step = b->host;
		if (mount(b->host, target, NULL, MS_BIND, NULL) < 0)
			goto fail;
		if (b->read_only &&
		    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(b->host), NULL) < 0)
			goto fail;
	}
	step = "entering the jail directory";
	if (chdir(j->root) < 0)
		goto fail;
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		step = "detaching the host's root";
		if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
			goto fail;
		return 0;
	}
	/*
	 * pivot_root refuses when the root is the initramfs (rootfs: EINVAL).
	 * Then the jail is moved over "/" and chrooted into, as switch_root
	 * does: the host's files stay underneath in this private namespace, out
	 * of reach without CAP_SYS_CHROOT, which step 5 drops.
	 */
	step = "pivot_root into the jail directory";
	if (errno != EINVAL)
		goto fail;
	step = "moving the jail over / (the root is an initramfs)";
	if (mount(j->root, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		goto fail;
	pr_debug("--jail: the host's root is an initramfs: moved the jail over it and chrooted");
	return 0;
fail:
	pr_err("--jail: %s failed: %s", step, strerror(errno));
	return -errno;
}

/* Step 5, in the child. */
static int drop_privileges(struct jail *j)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	const char *step = "emptying the capability bounding set";

	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			goto fail;
	if (j->as_root) {
		step = "dropping to --uid/--gid";
		if (setgroups(0, NULL) < 0 || setresgid(j->gid, j->gid, j->gid) < 0 ||
		    setresuid(j->uid, j->uid, j->uid) < 0)
			goto fail;
		/* Our XDG_RUNTIME_DIR was root's: the VM's user has /tmp/armvmm-UID (bound in). */
		unsetenv("XDG_RUNTIME_DIR");
		if (setuid(0) == 0) {
			errno = EPERM;
			step = "checking root is gone";
			goto fail;
		}
	}
	step = "clearing the capability sets";
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		goto fail;
	if (syscall(SYS_capset, &hdr, data) < 0)
		goto fail;
	return 0;
fail:
	pr_err("--jail: %s failed: %s", step, strerror(errno));
	return -errno;
}

/* The parent: forward the stop signals, wait for the VM, tidy up. */
static int wait_child(struct jail *j, pid_t child, const struct termios *tty, bool have_tty)
{
	sigset_t set;
	int status = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		siginfo_t si;
		pid_t r = waitpid(child, &status, WNOHANG);
		if (r == child || (r < 0 && errno != EINTR))
			break;
		if (sigwaitinfo(&set, &si) > 0 && si.si_signo != SIGCHLD)
			kill(child, si.si_signo);
	}
	if (have_tty)
		tcsetattr(STDIN_FILENO, TCSANOW, tty);
	remove_stubs(j);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return VM_EXIT_SIGNAL_BASE + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void noop_handler(int sig)
{
	(void)sig;
}

int jail_enter(struct vm_config *cfg, int *status)
{
	static struct jail j;	/* the child keeps using the bind paths cfg points to */
	struct termios tty;
	struct stat st;
	bool have_tty;
	pid_t child;
	int ret = 0;

	memset(&j, 0, sizeof(j));
	if (!realpath(cfg->jail_dir, j.root) || stat(j.root, &st) < 0) {
		pr_err("--jail '%s': %s", cfg->jail_dir, strerror(errno));
		return -ENOENT;
	}
	if (!S_ISDIR(st.st_mode)) {
		pr_err("--jail '%s': not a directory", cfg->jail_dir);
		return -ENOTDIR;
	}
	if (strcmp(j.root, "/") == 0) {
		pr_err("--jail '%s': the host's root is no jail", cfg->jail_dir);
		return -EINVAL;
	}
	j.as_root = geteuid() == 0;
	if (j.as_root && cfg->jail_uid < 0) {
		pr_err("--jail as root needs --uid and --gid: the VM must not keep root's privileges");
		return -EINVAL;
	}
	if (!j.as_root && cfg->jail_uid >= 0 && ((uid_t)cfg->jail_uid != geteuid() || (gid_t)cfg->jail_gid != getegid())) {
		pr_err("--uid/--gid: only root can run the jail as another user");
		return -EPERM;
	}
	j.uid = j.as_root ? (uid_t)cfg->jail_uid : geteuid();
	j.gid = j.as_root ? (gid_t)cfg->jail_gid : getegid();

	/* 1. What the VM opens, absolute, with its binds. */
	const char *kvm = "/dev/kvm";
	ret = add_bind(&j, &kvm, false, false);
	if (!ret && cfg->kernel_path)
		ret = add_bind(&j, &cfg->kernel_path, false, true);
	if (!ret && cfg->initrd_path)
		ret = add_bind(&j, &cfg->initrd_path, false, true);
	for (unsigned int i = 0; !ret && i < cfg->nr_disks; i++)
		ret = add_bind(&j, &cfg->disks[i].path, false, cfg->disks[i].read_only);
	if (!ret && cfg->restore_dir)
		ret = add_bind(&j, &cfg->restore_dir, true, true);
	if (!ret && cfg->name) {
		char rt[PATH_MAX];
		const char *rtp = rt;
		ret = control_runtime_dir_for(rt, sizeof(rt), j.uid, j.gid);
		if (!ret)
			ret = add_bind(&j, &rtp, true, false);
	}
	if (ret < 0)
		goto fail;
	/* 2. Mount points. */
	for (unsigned int i = 0; i < j.nr_binds; i++) {
		ret = make_stub(&j, &j.binds[i]);
		if (ret < 0)
			goto fail;
	}
	/* 3. Namespaces that only the child enters; the parent stays in the host's mount namespace. */
	if (!j.as_root) {
		ret = enter_user_namespace(&j);
		if (ret < 0)
			goto fail;
	}
	if (unshare(CLONE_NEWPID) < 0) {
		ret = -errno;
		pr_err("--jail: cannot create a PID namespace: %s", strerror(-ret));
		goto fail;
	}
	have_tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &tty) == 0;
	fflush(NULL);
	child = fork();
	if (child < 0) {
		ret = -errno;
		pr_err("--jail: cannot start the jailed process: %s", strerror(-ret));
		goto fail;
	}
	if (child > 0) {
		*status = wait_child(&j, child, &tty, have_tty);
		return 1;
	}
	/*
	 * The child, PID 1 of its namespace: the kernel drops signals a PID 1
	 * has no handler for, even blocked ones bound for a signalfd, so give the
	 * stop signals a handler (they stay blocked: the signalfd takes them).
	 */
	signal(SIGINT, noop_handler);
	signal(SIGTERM, noop_handler);
	signal(SIGHUP, noop_handler);
	if (build_root(&j) < 0 || drop_privileges(&j) < 0)
		_exit(VM_EXIT_ERROR);
	pr_info("jailed in %s (PID namespace, no network, uid %u gid %u)", j.root, (unsigned int)geteuid(),
		(unsigned int)getegid());
	return 0;

fail:
	remove_stubs(&j);
	return ret;
}
