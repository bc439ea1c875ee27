/*
 * The control socket's client: "armvmm list|pause|resume|stop|snapshot",
 * each one request to a VM's server (see control.h for the protocol).
 */
#include "app/control.h"
#include "app/control_internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

#define CLIENT_TIMEOUT_MS 30000		/* pause, resume, stop and status replies, and stop's wait */
#define LIST_TIMEOUT_MS 5000		/* list shows a VM that takes longer as busy */

/* A command line after the command: the arguments it takes, in order. */
struct client_args {
	const char *name;	/* the VM's */
	const char *dir;	/* snapshot's, or migrate's address */
	bool stop;		/* --stop */
	unsigned int downtime_ms;	/* --downtime-ms, 0: the VM's default */
};

struct client_cmd {
	const char *name;
	const char *args;	/* what it needs, for "needs ..." errors */
	int nargs;		/* 0 to 2: name, then dir (or address) */
	bool has_stop;		/* takes --stop */
	bool has_downtime;	/* takes --downtime-ms N */
	const char *help;
	int (*run)(const struct client_args *a);
};

/* One request: the reply line, and the path of the socket it went to. */
struct exchange {
	char reply[CONTROL_LINE_MAX + 1];
	char path[PATH_MAX];
};

static int unexpected_reply(const char *name, const char *reply)
{
	pr_err("unexpected reply from VM '%s': '%s'", name, reply);
	return EXIT_FAILURE;
}

/* Connect to VM NAME (waiting in the backlog if it is busy). fd, or -1 after an error line. */
static int client_connect(const char *name, char *path, size_t cap)
{
	struct sockaddr_un addr;
	int fd, err;

	err = control_socket_path(name, path, cap, false);
	if (err == -ENOENT) {
		/* No directory yet is no VM yet, not a broken directory. */
		pr_err("no VM named '%s' is running (no control socket %s)", name, path);
		return -1;
	}
	if (err < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pr_err("cannot create a socket: %s", strerror(errno));
		return -1;
	}
	control_fill_addr(&addr, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return fd;
	err = errno;
	close(fd);
	if (err == ENOENT) {
		pr_err("no VM named '%s' is running (no control socket %s)", name, path);
	} else if (err == ECONNREFUSED) {
		/* Left over from a VM that did not end cleanly; the next VM of this name replaces it. */
		pr_err("no VM named '%s' is running (stale control socket %s)", name, path);
	} else if (err == EACCES) {
		pr_err("cannot reach VM '%s': permission denied (its control socket belongs to another user)", name);
	} else {
		pr_err("cannot connect to VM '%s' (%s): %s", name, path, strerror(err));
	}
	return -1;
}

/*
 * Send one request to VM NAME and read the reply into x. 0 for an "ok"
 * reply, -1 after an error line (a VM's "error ..." reply is that line).
 * timeout_ms -1 waits as long as the VM takes.
 */
static int client_request(const char *name, const char *request, int timeout_ms, struct exchange *x)
{
	const char *reply = x->reply;
	int fd = client_connect(name, x->path, sizeof(x->path)), ret;

	if (fd < 0)
		return -1;
	ret = control_write_line(fd, request, CLIENT_TIMEOUT_MS);
	if (ret == 0)
		ret = control_read_line(fd, x->reply, sizeof(x->reply), timeout_ms);
	close(fd);
	if (ret == -ETIMEDOUT) {
		pr_err("VM '%s' did not answer within %d s", name, timeout_ms / 1000);
		return -1;
	}
	if (ret == -ENODATA || ret == -EPROTO || ret == -ECONNRESET || ret == -EPIPE) {
		pr_err("VM '%s' closed the connection without a reply", name);
		return -1;
	}
	if (ret < 0) {
		pr_err("talking to VM '%s': %s", name, strerror(-ret));
		return -1;
	}
	if (strncmp(reply, "error ", 6) == 0) {
		pr_err("%s", reply + 6);
		return -1;
	}
	if (strcmp(reply, "ok") != 0 && strncmp(reply, "ok ", 3) != 0) {
		unexpected_reply(name, reply);
		return -1;
	}
	return 0;
}

/* After "stop": wait until the VM removed its socket or no longer listens. */
static int wait_gone(const char *name, const char *path)
{
	const struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };
	uint64_t deadline = clock_monotonic_ms() + CLIENT_TIMEOUT_MS;

	while (clock_monotonic_ms() < deadline) {
		int probe = control_probe(path);
		if (probe == CONTROL_NO_SOCKET || probe == CONTROL_STALE_SOCKET)
			return 0;
		nanosleep(&tick, NULL);
	}
	pr_err("VM '%s' accepted the stop but is still running after %d s", name, CLIENT_TIMEOUT_MS / 1000);
	return -1;
}

/* After a request that ends the VM: wait until it is gone, then say so. */
static int report_stopped(const char *name, const char *path)
{
	if (wait_gone(name, path) < 0)
		return EXIT_FAILURE;
	printf("%s: stopped\n", name);
	return 0;
}

static int cmd_pause(const struct client_args *a)
{
	struct exchange x;
	uint64_t ns;

	if (client_request(a->name, "pause", CLIENT_TIMEOUT_MS, &x) < 0)
		return EXIT_FAILURE;
	if (sscanf(x.reply, "ok paused in %" SCNu64 " ns", &ns) != 1)
		return unexpected_reply(a->name, x.reply);
	printf("%s: paused (pause took %" PRIu64 " us)\n", a->name, (ns + 500) / 1000);
	return 0;
}

static int cmd_resume(const struct client_args *a)
{
	struct exchange x;

	if (client_request(a->name, "resume", CLIENT_TIMEOUT_MS, &x) < 0)
		return EXIT_FAILURE;
	printf("%s: running\n", a->name);
	return 0;
}

static int cmd_stop(const struct client_args *a)
{
	struct exchange x;

	if (client_request(a->name, "stop", CLIENT_TIMEOUT_MS, &x) < 0)
		return EXIT_FAILURE;
	return report_stopped(a->name, x.path);
}

/*
 * The VM runs in its own cwd, so it gets DIR absolute: the real path of the
 * parent (which must exist) plus the last component, which must not exist.
 */
static int absolute_new_dir(const char *dir, char *out, size_t cap)
{
	char tmp[PATH_MAX], parent[PATH_MAX];
	const char *base, *up;
	size_t len = strlen(dir);
	char *slash;
	struct stat st;
	int n;

	if (len == 0 || len >= sizeof(tmp)) {
		pr_err("snapshot directory '%s': give the path of a new directory", dir);
		return -1;
	}
	if (strchr(dir, '\n')) {
		pr_err("snapshot directory name must not contain a newline");
		return -1;
	}
	memcpy(tmp, dir, len + 1);
	while (len > 1 && tmp[len - 1] == '/')
		tmp[--len] = '\0';
	slash = strrchr(tmp, '/');
	if (slash) {
		*slash = '\0';
		base = slash + 1;
		up = tmp[0] ? tmp : "/";
	} else {
		base = tmp;
		up = ".";
	}
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		pr_err("snapshot directory '%s': give the path of a new directory", dir);
		return -1;
	}
	if (!realpath(up, parent)) {
		pr_err("snapshot directory '%s': its parent directory: %s", dir, strerror(errno));
		return -1;
	}
	n = snprintf(out, cap, "%s/%s", strcmp(parent, "/") == 0 ? "" : parent, base);
	if (n < 0 || (size_t)n >= cap) {
		pr_err("snapshot directory '%s': path too long", dir);
		return -1;
	}
	if (lstat(out, &st) == 0) {
		pr_err("snapshot directory '%s' already exists", dir);
		return -1;
	}
	return 0;
}

static uint64_t div_round_up(uint64_t v, uint64_t unit)
{
	return v / unit + (v % unit != 0);
}

static int cmd_snapshot(const struct client_args *a)
{
	char dir[PATH_MAX], req[CONTROL_LINE_MAX];
	struct exchange x;
	uint64_t state, mem, ns;

	if (absolute_new_dir(a->dir, dir, sizeof(dir)) < 0)
		return EXIT_FAILURE;
	snprintf(req, sizeof(req), "snapshot %s%s", a->stop ? "stop " : "", dir);
	/* No time limit: writing a big guest's memory takes as long as it takes. */
	if (client_request(a->name, req, -1, &x) < 0)
		return EXIT_FAILURE;
	if (sscanf(x.reply, "ok %" SCNu64 " %" SCNu64 " %" SCNu64, &state, &mem, &ns) != 3)
		return unexpected_reply(a->name, x.reply);
	printf("%s: snapshot written to %s (state %" PRIu64 " KiB, memory %" PRIu64 " MiB of data) in %" PRIu64
	       " ms\n",
	       a->name, dir, div_round_up(state, 1024), div_round_up(mem, 1024 * 1024), (ns + 500000) / 1000000);
	fflush(stdout); /* the snapshot line goes out even if the wait below fails */
	return a->stop ? report_stopped(a->name, x.path) : 0;
}

static int cmd_migrate(const struct client_args *a)
{
	char req[CONTROL_LINE_MAX];
	struct exchange x;
	unsigned int rounds;
	uint64_t bytes, down, total;

	if (strchr(a->dir, '\n')) {
		pr_err("a migration address must not contain a newline");
		return EXIT_FAILURE;
	}
	if (a->downtime_ms)
		snprintf(req, sizeof(req), "migrate downtime %u %s", a->downtime_ms, a->dir);
	else
		snprintf(req, sizeof(req), "migrate %s", a->dir);
	/* No time limit: pre-copy takes as long as the guest's memory and its writes make it. */
	if (client_request(a->name, req, -1, &x) < 0)
		return EXIT_FAILURE;
	if (sscanf(x.reply, "ok %u %" SCNu64 " %" SCNu64 " %" SCNu64, &rounds, &bytes, &down, &total) != 4)
		return unexpected_reply(a->name, x.reply);
	printf("%s: migrated to %s: %u rounds, %.1f MiB sent, downtime %" PRIu64 " ms, total %" PRIu64 " ms\n",
	       a->name, a->dir, rounds, (double)bytes / (1024.0 * 1024.0), (down + 500000) / 1000000,
	       (total + 500000) / 1000000);
	fflush(stdout);
	/* This copy of the VM ends now that the destination runs it: let it go before returning. */
	wait_gone(a->name, x.path);
	return 0;
}

struct list_entry {
	char name[CONTROL_NAME_MAX + 1];
	char pid[24];
	char state[16];
};

/*
 * Ask one socket for its status. false for a stale socket (left for the next
 * VM of that name to replace: see clear_stale_socket) or one that vanished; a
 * VM too busy to answer (say, writing a snapshot) is listed as busy with the
 * pid from SO_PEERCRED.
 */
static bool list_one(const char *path, struct list_entry *e)
{
	char reply[CONTROL_LINE_MAX + 1];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	long pid;
	int fd = control_connect_now(path), ret;

	snprintf(e->pid, sizeof(e->pid), "-");
	snprintf(e->state, sizeof(e->state), "busy");
	if (fd == -ECONNREFUSED || fd == -ENOENT)
		return false;
	if (fd < 0) {
		if (fd != -EAGAIN)
			snprintf(e->state, sizeof(e->state), "unreachable");
		return true;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		snprintf(e->pid, sizeof(e->pid), "%ld", (long)cred.pid);
	ret = control_write_line(fd, "status", LIST_TIMEOUT_MS);
	if (ret == 0)
		ret = control_read_line(fd, reply, sizeof(reply), LIST_TIMEOUT_MS);
	close(fd);
	if (ret >= 0 && sscanf(reply, "ok %ld %15s", &pid, e->state) == 2)
		snprintf(e->pid, sizeof(e->pid), "%ld", pid);
	else if (ret != -ETIMEDOUT)
		snprintf(e->state, sizeof(e->state), "unreachable");
	return true;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct list_entry *)a)->name, ((const struct list_entry *)b)->name);
}

/* The VMs with a socket in dir, sorted by name. Count, or -1 after an error line. */
static int list_collect(const char *dir, struct list_entry **out)
{
	struct list_entry *v = NULL;
	struct dirent *de;
	int n = 0, cap = 0;
	DIR *d = opendir(dir);

	if (!d) {
		pr_err("cannot read control directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char path[PATH_MAX];

		if (len <= 5 || len - 5 > CONTROL_NAME_MAX || strcmp(de->d_name + len - 5, ".sock") != 0)
			continue;
		if (n == cap) {
			struct list_entry *nv = realloc(v, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(*v));
			if (!nv) {
				pr_err("out of memory");
				closedir(d);
				free(v);
				return -1;
			}
			v = nv;
		}
		memcpy(v[n].name, de->d_name, len - 5);
		v[n].name[len - 5] = '\0';
		if (!control_name_valid(v[n].name) || control_socket_path_in(dir, v[n].name, path, sizeof(path)) < 0)
			continue;
		if (list_one(path, &v[n]))
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), entry_cmp);
	*out = v;
	return n;
}

static int cmd_list(const struct client_args *a)
{
	struct list_entry *v = NULL;
	char dir[PATH_MAX];
	int n = 0, wname = 4, wpid = 3, ret;

	(void)a;
	ret = control_runtime_dir(dir, sizeof(dir), false);
	if (ret < 0 && ret != -ENOENT)
		return EXIT_FAILURE;
	/* No directory yet: no VM yet, an empty list. */
	if (ret == 0) {
		n = list_collect(dir, &v);
		if (n < 0)
			return EXIT_FAILURE;
	}
	for (int i = 0; i < n; i++) {
		if ((int)strlen(v[i].name) > wname)
			wname = (int)strlen(v[i].name);
		if ((int)strlen(v[i].pid) > wpid)
			wpid = (int)strlen(v[i].pid);
	}
	printf("%-*s %-*s STATE\n", wname, "NAME", wpid, "PID");
	for (int i = 0; i < n; i++)
		printf("%-*s %-*s %s\n", wname, v[i].name, wpid, v[i].pid, v[i].state);
	free(v);
	return 0;
}

static const struct client_cmd client_cmds[] = {
	{ "list", NULL, 0, false, false,
	  "usage: armvmm list\n"
	  "\n"
	  "List your running VMs (those started with 'armvmm run --name NAME'), one line\n"
	  "each: name, process id and state (running, paused, or busy when the VM does\n"
	  "not answer within 5 s, e.g. while it writes a snapshot).\n",
	  cmd_list },
	{ "pause", "a VM name", 1, false, false,
	  "usage: armvmm pause NAME\n"
	  "\n"
	  "Stop the vCPUs of the VM NAME until 'armvmm resume NAME'. Says how long it\n"
	  "took for every vCPU to leave the guest. Pausing a paused VM does nothing.\n",
	  cmd_pause },
	{ "resume", "a VM name", 1, false, false,
	  "usage: armvmm resume NAME\n"
	  "\n"
	  "Let the vCPUs of the paused VM NAME run again.\n",
	  cmd_resume },
	{ "stop", "a VM name", 1, false, false,
	  "usage: armvmm stop NAME\n"
	  "\n"
	  "End the VM NAME: its armvmm exits with status 0, as on a guest power-off.\n"
	  "Waits up to 30 s for it to be gone.\n",
	  cmd_stop },
	{ "migrate", "a VM name and an address", 2, false, true,
	  "usage: armvmm migrate NAME unix:PATH|tcp:HOST:PORT [--downtime-ms N]\n"
	  "\n"
	  "Send the running VM NAME to the armvmm waiting at the address\n"
	  "('armvmm restore --incoming ADDR'), while the guest runs: its memory first,\n"
	  "then rounds of what it changed meanwhile, then a short pause for the rest and\n"
	  "its state. Once the destination runs the VM, this one ends, and one line says\n"
	  "how many rounds it took, how much was sent, how long the guest was paused and\n"
	  "how long it all took. On any failure the VM keeps running here. tcp: is\n"
	  "unencrypted: use a trusted network or a tunnel.\n"
	  "\n"
	  "      --downtime-ms N   the pause to aim for (default 300 ms)\n"
	  "  -h, --help          this text\n",
	  cmd_migrate },
	{ "snapshot", "a VM name and a directory", 2, true, false,
	  "usage: armvmm snapshot NAME DIR [--stop]\n"
	  "\n"
	  "Save the VM NAME (vCPUs, interrupt controller, devices, RAM) into the new\n"
	  "directory DIR, which must not exist (its parent must). The VM is paused\n"
	  "while it is saved and afterwards runs on, or stays paused if it was.\n"
	  "\n"
	  "      --stop     end the VM once the snapshot is written\n"
	  "  -h, --help     this text\n",
	  cmd_snapshot },
};

/*
 * argv after the command: exactly cmd->nargs arguments, --stop where allowed.
 * 0 to run, 1 after --help, -1 after an error line.
 */
static int parse_client_args(const struct client_cmd *cmd, int argc, char **argv, struct client_args *out)
{
	const char *args[2] = { NULL, NULL };
	bool options = true;
	int n = 0;

	*out = (struct client_args){ .stop = false, .downtime_ms = 0 };
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (options && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				options = false;
			} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				fputs(cmd->help, stdout);
				return 1;
			} else if (cmd->has_stop && strcmp(a, "--stop") == 0) {
				out->stop = true;
			} else if (cmd->has_downtime && strcmp(a, "--downtime-ms") == 0) {
				char *end;
				unsigned long v = i + 1 < argc ? strtoul(argv[i + 1], &end, 10) : 0;
				if (i + 1 >= argc || !*argv[i + 1] || *end || v == 0 || v > 3600000) {
					pr_err("--downtime-ms: give the pause to aim for, in milliseconds (1 to 3600000)");
					return -1;
				}
				out->downtime_ms = (unsigned int)v;
				i++;
			} else {
				pr_err("unknown option '%s' (see 'armvmm %s --help')", a, cmd->name);
				return -1;
			}
		} else if (n == cmd->nargs) {
			pr_err("unexpected argument '%s' (see 'armvmm %s --help')", a, cmd->name);
			return -1;
		} else {
			args[n++] = argv[i];
		}
	}
	if (n < cmd->nargs) {
		pr_err("'armvmm %s' needs %s (see 'armvmm %s --help')", cmd->name, cmd->args, cmd->name);
		return -1;
	}
	out->name = args[0];
	out->dir = args[1];
	return 0;
}

int control_client_main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(client_cmds) / sizeof(client_cmds[0]); i++) {
		const struct client_cmd *cmd = &client_cmds[i];
		struct client_args args;
		int ret;

		if (argc < 1 || strcmp(argv[0], cmd->name) != 0)
			continue;
		ret = parse_client_args(cmd, argc - 1, argv + 1, &args);
		if (ret)
			return ret > 0 ? 0 : EXIT_FAILURE;
		ret = cmd->run(&args);
		fflush(stdout);
		return ret;
	}
	pr_err("unknown command '%s' (try 'armvmm --help')", argc > 0 ? argv[0] : "");
	return EXIT_FAILURE;
}
