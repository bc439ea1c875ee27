/*
 * The control socket's server: listening under the VM's name, in the VM
 * process's event loop, and answering one request line per connection (see
 * control.h for the protocol).
 */
#include "app/control.h"
#include "app/control_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "core/files.h"
#include "core/log.h"
#include "core/vm.h"

#define SERVER_IO_TIMEOUT_MS 2000	/* a client gets this long to send its line and take the reply */

static void remember_bound(struct control_server *s, const struct stat *st)
{
	s->sock_dev = st->st_dev;
	s->sock_ino = st->st_ino;
}

/* Is path still the socket file s bound (and not one a later VM of the same name put there)? */
static bool still_our_socket(const struct control_server *s, const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && st.st_dev == s->sock_dev && st.st_ino == s->sock_ino;
}

/*
 * A VM of this name that still answers keeps its name; a file nobody listens
 * on is left over from a crash. Only a server starting under the name removes
 * it: clients never unlink, so that a client that saw the old file refuse
 * cannot remove the live socket of a VM that replaced it meanwhile.
 */
static int clear_stale_socket(const char *path, const char *name)
{
	int probe = control_probe(path), ret;

	if (probe == CONTROL_LISTENING) {
		pr_err("a VM named '%s' is already running (%s)", name, path);
		return -EADDRINUSE;
	}
	/* No file: nothing to clear, and an unlink now could take a socket another VM of this name just linked. */
	if (probe == CONTROL_NO_SOCKET)
		return 0;
	if (probe < 0) {
		pr_err("cannot check control socket '%s': %s", path, strerror(-probe));
		return probe;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
		pr_err("cannot remove stale control socket '%s': %s", path, strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * The socket is bound and listening under a temporary name first and only
 * then linked to its real one: a socket file that refuses connections is
 * stale to another VM starting under the name, which removes it, so the real
 * name must never appear before listen(). Like bind, link never replaces a
 * file: EEXIST means another VM of this name got there since
 * clear_stale_socket.
 */
static int bind_temp(const char *path, char *tmp, size_t cap)
{
	const char *slash = strrchr(path, '/');
	struct sockaddr_un addr;
	int fd, err;

	snprintf(tmp, cap, "%.*s/.%ld", (int)(slash - path), path, (long)getpid());
	unlink(tmp); /* left by an earlier process with our pid that crashed; the directory is ours */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	control_fill_addr(&addr, tmp);
	/* The 0700 directory already keeps others out; 0600 keeps them out should it ever be opened up. */
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(tmp, 0600) < 0 || listen(fd, 16) < 0) {
		err = errno;
		unlink(tmp);
		close(fd);
		return -err;
	}
	return fd;
}

static int listen_on(struct control_server *s, const char *name)
{
	char tmp[SUN_PATH_CAP];
	struct stat st;
	int fd, err = 0;

	fd = bind_temp(s->path, tmp, sizeof(tmp));
	if (fd < 0) {
		pr_err("cannot listen on control socket '%s': %s", s->path, strerror(-fd));
		return fd;
	}
	if (link(tmp, s->path) < 0 || lstat(s->path, &st) < 0)
		err = errno;
	unlink(tmp);
	if (err) {
		if (err == EEXIST)
			pr_err("a VM named '%s' is already running (%s)", name, s->path);
		else
			pr_err("cannot create control socket '%s': %s", s->path, strerror(err));
		close(fd);
		return -err;
	}
	remember_bound(s, &st);
	s->listen_fd = fd;
	return 0;
}

/* Only the VM's own user may control it (root included: root can use su). */
static bool peer_is_owner(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == geteuid();
}

/*
 * One connection per wakeup, served to the end before the loop goes on: a
 * request is one short line, and the time a client may take is bounded.
 */
static void on_connection(void *opaque, int fd, short revents)
{
	struct control_server *s = opaque;
	char req[CONTROL_LINE_MAX + 1], reply[CONTROL_LINE_MAX];
	int c, n;

	(void)revents;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return; /* the client gave up already, or no fds: nothing to serve */
	/*
	 * The request is read even from a stranger before the refusal: closing a
	 * unix socket with unread data resets the connection, and the client
	 * would see that instead of the reason.
	 */
	n = control_read_line(c, req, sizeof(req), SERVER_IO_TIMEOUT_MS);
	if (!peer_is_owner(c)) {
		snprintf(reply, sizeof(reply), "error permission denied");
	} else {
		if (n == -ENODATA) {
			/* Connected and closed without a word: a client checking that we are alive. */
			close(c);
			return;
		}
		if (n < 0) {
			snprintf(reply, sizeof(reply), "error request too long or incomplete");
		} else if (control_server_handle(s, req, reply, sizeof(reply)) == CONTROL_DEFERRED) {
			s->migrate_fd = c; /* answered by control_server_migrated */
			s->migrating = true;
			return;
		}
	}
	control_write_line(c, reply, SERVER_IO_TIMEOUT_MS); /* a client that left gets no reply: fine */
	close(c);
}

int control_server_start(struct control_server *s, struct eventloop *loop, const char *name,
			 const struct control_ops *ops, void *opaque)
{
	int ret;

	*s = (struct control_server){ .listen_fd = -1, .ops = ops, .opaque = opaque, .migrate_fd = -1 };
	ret = control_socket_path(name, s->path, sizeof(s->path), true);
	if (ret < 0)
		return ret;
	ret = clear_stale_socket(s->path, name);
	if (ret < 0)
		return ret;
	ret = listen_on(s, name);
	if (ret < 0)
		return ret;
	ret = eventloop_add(loop, s->listen_fd, POLLIN, on_connection, s);
	if (ret < 0) {
		pr_err("control socket: no room in the event loop");
		control_server_stop(s);
		return ret;
	}
	return 0;
}

void control_server_stop(struct control_server *s)
{
	if (s->migrating)
		close_fd(&s->migrate_fd);
	s->migrating = false;
	if (s->listen_fd < 0)
		return;
	/* Unlink before close, so that nobody finds our name refusing and takes it for stale. */
	if (still_our_socket(s, s->path))
		unlink(s->path);
	close_fd(&s->listen_fd);
}

static void handle_pause(struct control_server *s, char *reply, size_t cap)
{
	uint64_t ns = 0;
	int ret = s->ops->pause(s->opaque, &ns);

	if (ret < 0)
		snprintf(reply, cap, "error cannot pause: %s", strerror(-ret));
	else
		snprintf(reply, cap, "ok paused in %" PRIu64 " ns", ns);
}

/*
 * "[stop ]<abs-dir>": the flag goes first and the directory is the rest of the
 * line, taken as it is (spaces, a trailing " stop" and all). An absolute path
 * starts with '/', so it is never mistaken for the flag.
 */
static void handle_snapshot(struct control_server *s, const char *arg, char *reply, size_t cap)
{
	struct control_snapshot_result res = { 0 };
	char msg[512] = "";
	bool stop = strncmp(arg, "stop ", 5) == 0;
	const char *dir = stop ? arg + 5 : arg;
	int ret;

	if (dir[0] != '/' || strlen(dir) >= PATH_MAX) {
		snprintf(reply, cap, "error snapshot needs an absolute directory path");
		return;
	}
	ret = s->ops->snapshot(s->opaque, dir, stop, &res, msg, sizeof(msg));
	if (ret < 0)
		snprintf(reply, cap, "error %s", msg[0] ? msg : strerror(-ret));
	else
		snprintf(reply, cap, "ok %" PRIu64 " %" PRIu64 " %" PRIu64, res.state_bytes, res.memory_bytes,
			 res.ns);
}

static void reply_ok_or_error(char *reply, size_t cap, const char *what, int ret)
{
	if (ret < 0)
		snprintf(reply, cap, "error cannot %s: %s", what, strerror(-ret));
	else
		snprintf(reply, cap, "ok");
}

/*
 * "[downtime <ms> ]<address>": the option first, the address the rest (it
 * starts with unix: or tcp:, so it is never mistaken for the option).
 */
static int handle_migrate(struct control_server *s, const char *arg, char *reply, size_t cap)
{
	unsigned long downtime = 0;
	char msg[512] = "", *end;
	int ret;

	if (!s->ops->migrate) {
		snprintf(reply, cap, "error this VM cannot be migrated");
		return 0;
	}
	if (strncmp(arg, "downtime ", 9) == 0) {
		downtime = strtoul(arg + 9, &end, 10);
		if (end == arg + 9 || *end != ' ' || downtime == 0 || downtime > 3600000) {
			snprintf(reply, cap, "error migrate: the downtime is a number of milliseconds from 1 to 3600000");
			return 0;
		}
		arg = end + 1;
	}
	ret = s->ops->migrate(s->opaque, arg, (unsigned int)downtime, msg, sizeof(msg));
	if (ret < 0) {
		snprintf(reply, cap, "error %s", msg[0] ? msg : strerror(-ret));
		return 0;
	}
	reply[0] = 0;
	return CONTROL_DEFERRED;
}

void control_server_migrated(struct control_server *s, int result, const struct control_migrate_result *r,
			     const char *msg)
{
	char reply[CONTROL_LINE_MAX];

	if (!s->migrating)
		return;
	s->migrating = false;
	if (result < 0)
		snprintf(reply, sizeof(reply), "error %s", msg && *msg ? msg : strerror(-result));
	else
		snprintf(reply, sizeof(reply), "ok %u %" PRIu64 " %" PRIu64 " %" PRIu64, r->rounds, r->bytes,
			 r->downtime_ns, r->total_ns);
	for (char *p = reply; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	control_write_line(s->migrate_fd, reply, SERVER_IO_TIMEOUT_MS);
	close_fd(&s->migrate_fd);
}

int control_server_handle(struct control_server *s, const char *request, char *reply, size_t cap)
{
	bool migrating = s->migrating;
	int ret;

	if (migrating && strcmp(request, "status") != 0 && strcmp(request, "stop") != 0) {
		snprintf(reply, cap, "error a migration of this VM is in progress");
		return 0;
	}
	if (strcmp(request, "status") == 0) {
		snprintf(reply, cap, "ok %ld %s", (long)getpid(),
			 migrating ? "migrating" : s->ops->is_paused(s->opaque) ? "paused" : "running");
	} else if (strncmp(request, "migrate ", 8) == 0) {
		return handle_migrate(s, request + 8, reply, cap);
	} else if (strcmp(request, "pause") == 0) {
		handle_pause(s, reply, cap);
	} else if (strcmp(request, "resume") == 0) {
		ret = s->ops->resume(s->opaque);
		reply_ok_or_error(reply, cap, "resume", ret);
	} else if (strcmp(request, "stop") == 0) {
		pr_info("stopping the VM on request of its control socket");
		ret = s->ops->stop(s->opaque, VM_EXIT_POWEROFF);
		reply_ok_or_error(reply, cap, "stop", ret);
	} else if (strncmp(request, "snapshot ", 9) == 0) {
		handle_snapshot(s, request + 9, reply, cap);
	} else {
		snprintf(reply, cap, "error unknown request");
	}
	/* The reply is one line whatever an op put in its message. */
	for (char *p = reply; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return 0;
}
