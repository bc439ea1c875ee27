#include "app/control.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/eventloop.h"
#include "core/log.h"
#include "core/vm.h"

#define SERVER_IO_TIMEOUT_MS 2000	/* a client gets this long to send its line and take the reply */
#define CLIENT_TIMEOUT_MS 30000		/* pause, resume, stop and status replies, and stop's wait */
#define LIST_TIMEOUT_MS 5000		/* list shows a VM that takes longer as busy */
#define SUN_PATH_CAP sizeof(((struct sockaddr_un *)0)->sun_path)

/* ---- names and paths ---- */

bool control_name_valid(const char *name)
{
	size_t n;

	/* A leading '.' would allow "." and ".." and hide the socket from ls. */
	if (!name || name[0] == '\0' || name[0] == '.')
		return false;
	for (n = 0; name[n]; n++) {
		char c = name[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == '-';
		if (!ok || n == CONTROL_NAME_MAX)
			return false;
	}
	return true;
}

/* Where the runtime directory is, without looking at it. */
static int runtime_dir_name(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	/* A relative XDG_RUNTIME_DIR would mean a different directory in every cwd: ignore it. */
	if (xdg && xdg[0] == '/') {
		size_t len = strlen(xdg);
		while (len > 1 && xdg[len - 1] == '/')
			len--;
		n = snprintf(buf, cap, "%.*s/armvmm", (int)(len == 1 ? 0 : len), xdg);
	} else {
		n = snprintf(buf, cap, "/tmp/armvmm-%u", (unsigned int)geteuid());
	}
	if (n < 0 || (size_t)n >= cap) {
		pr_err("control directory path is too long (check XDG_RUNTIME_DIR)");
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * Everything that can reach the sockets must be ours alone: lstat, so that a
 * symlink planted in a shared /tmp is refused rather than followed. With
 * quiet_missing, a missing directory is -ENOENT without an error line.
 */
static int check_private(const char *dir, bool quiet_missing)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		int err = errno;
		if (err == ENOENT && quiet_missing)
			return -ENOENT;
		pr_err("cannot use control directory '%s': %s", dir, strerror(err));
		return -err;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		pr_err("control directory '%s' is not private (mode %03o, owner %u): "
		       "it must be a directory owned by you with mode 0700",
		       dir, (unsigned int)(st.st_mode & 0777), (unsigned int)st.st_uid);
		return -EPERM;
	}
	return 0;
}

/*
 * Make dir with create, then check it. Without create, a missing directory
 * means no VM has run yet, which the caller reports its own way: quiet.
 */
static int open_runtime_dir(const char *dir, bool create)
{
	/* Only the last component: the parent ($XDG_RUNTIME_DIR or /tmp) is not ours to make. */
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int err = errno;
		pr_err("cannot create control directory '%s': %s", dir, strerror(err));
		return -err;
	}
	return check_private(dir, !create);
}

int control_runtime_dir(char *buf, size_t cap, bool create)
{
	int ret = runtime_dir_name(buf, cap);

	return ret < 0 ? ret : open_runtime_dir(buf, create);
}

/* The server's temporary name in the directory: "/." and a pid of up to 7 digits (PID_MAX_LIMIT). */
#define TEMP_NAME_MAX 9u

/* dir/name.sock, which must fit a sockaddr_un, as must the server's temporary name. */
static int socket_path_in(const char *dir, const char *name, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s.sock", dir, name);

	if (n < 0 || (size_t)n >= cap || (size_t)n >= SUN_PATH_CAP || strlen(dir) + TEMP_NAME_MAX >= SUN_PATH_CAP) {
		pr_err("control socket path '%s/%s.sock' is too long for a unix socket (at most %zu bytes): "
		       "use a shorter name or XDG_RUNTIME_DIR",
		       dir, name, SUN_PATH_CAP - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

static void print_name_error(const char *name)
{
	pr_err("invalid VM name '%s': use 1 to %u of A-Z a-z 0-9 . _ - (not starting with '.')", name,
	       CONTROL_NAME_MAX);
}

int control_socket_path(const char *name, char *buf, size_t cap, bool create)
{
	char dir[PATH_MAX];
	int ret;

	if (!control_name_valid(name)) {
		print_name_error(name);
		return -EINVAL;
	}
	/* The path before the directory, so that a client told -ENOENT can still name the socket it looked for. */
	ret = runtime_dir_name(dir, sizeof(dir));
	if (ret == 0)
		ret = socket_path_in(dir, name, buf, cap);
	return ret < 0 ? ret : open_runtime_dir(dir, create);
}

/* ---- socket helpers shared by server and client ---- */

/* Wait for events on fd until deadline (ms, monotonic; -1: forever). 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int timeout = -1, n;

		if (deadline >= 0) {
			int64_t left = deadline - (int64_t)clock_monotonic_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			timeout = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		n = poll(&p, 1, timeout);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : (int64_t)clock_monotonic_ms() + timeout_ms;
}

/*
 * Read one line (up to and without its '\n', NUL-terminated; cap counts the
 * '\n' and the NUL) within timeout_ms (-1: no limit). Returns its length,
 * -ENODATA on end of file before any byte, -EPROTO on end of file
 * mid-line, -EMSGSIZE when no '\n' comes within cap - 1 bytes, -ETIMEDOUT.
 */
static int read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	size_t len = 0;

	for (;;) {
		char *nl;
		ssize_t n;
		int ret;

		if (len == cap - 1)
			return -EMSGSIZE;
		ret = wait_fd(fd, POLLIN, deadline);
		if (ret < 0)
			return ret;
		n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return len ? -EPROTO : -ENODATA;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			*nl = '\0';
			return (int)(nl - buf);
		}
	}
}

/* Send the whole line plus '\n'; MSG_NOSIGNAL: a peer gone away is an error, not SIGPIPE. */
static int write_line(int fd, const char *line, int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	size_t len = strlen(line), done = 0;
	char buf[CONTROL_LINE_MAX + 1];

	if (len >= sizeof(buf))
		return -EMSGSIZE;
	memcpy(buf, line, len);
	buf[len++] = '\n';
	while (done < len) {
		ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		int ret;

		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void fill_addr(struct sockaddr_un *addr, const char *path)
{
	*addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
	/* Paths come from socket_path_in, which checked the length. */
	memcpy(addr->sun_path, path, strlen(path) + 1);
}

/*
 * Connect to path without ever waiting: a listener with a full backlog says
 * EAGAIN, which still means someone is listening. Returns a connected fd, or
 * -errno (-ENOENT: no socket file; -ECONNREFUSED: nobody listens, a stale
 * file; -EAGAIN: busy).
 */
static int connect_now(const char *path)
{
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	fill_addr(&addr, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* 1 when something listens on path, 0 when not (no file, or a stale one), else -errno. */
static int socket_answers(const char *path)
{
	int fd = connect_now(path);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (fd == -EAGAIN)
		return 1;
	if (fd == -ENOENT || fd == -ECONNREFUSED)
		return 0;
	return fd;
}

/* ---- server ---- */

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
	int fd = connect_now(path), ret;

	if (fd >= 0 || fd == -EAGAIN) {
		if (fd >= 0)
			close(fd);
		pr_err("a VM named '%s' is already running (%s)", name, path);
		return -EADDRINUSE;
	}
	/* No file: nothing to clear, and an unlink now could take a socket another VM of this name just linked. */
	if (fd == -ENOENT)
		return 0;
	if (fd != -ECONNREFUSED) {
		pr_err("cannot check control socket '%s': %s", path, strerror(-fd));
		return fd;
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
	fill_addr(&addr, tmp);
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
	n = read_line(c, req, sizeof(req), SERVER_IO_TIMEOUT_MS);
	if (!peer_is_owner(c)) {
		snprintf(reply, sizeof(reply), "error permission denied");
	} else {
		if (n == -ENODATA) {
			/* Connected and closed without a word: a client checking that we are alive. */
			close(c);
			return;
		}
		if (n < 0)
			snprintf(reply, sizeof(reply), "error request too long or incomplete");
		else
			control_server_handle(s, req, reply, sizeof(reply));
	}
	write_line(c, reply, SERVER_IO_TIMEOUT_MS); /* a client that left gets no reply: fine */
	close(c);
}

int control_server_start(struct control_server *s, struct eventloop *loop, const char *name,
			 const struct control_ops *ops, void *opaque)
{
	int ret;

	*s = (struct control_server){ .listen_fd = -1, .ops = ops, .opaque = opaque };
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
	if (s->listen_fd < 0)
		return;
	/* Unlink before close, so that nobody finds our name refusing and takes it for stale. */
	if (still_our_socket(s, s->path))
		unlink(s->path);
	close(s->listen_fd);
	s->listen_fd = -1;
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

void control_server_handle(struct control_server *s, const char *request, char *reply, size_t cap)
{
	int ret;

	if (strcmp(request, "status") == 0) {
		snprintf(reply, cap, "ok %ld %s", (long)getpid(), s->ops->is_paused(s->opaque) ? "paused" : "running");
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
}

/* ---- client ---- */

struct client_cmd {
	const char *name;
	const char *args;	/* what it needs, for "needs ..." errors */
	int nargs;
	bool has_stop;		/* takes --stop */
	const char *help;
	int (*run)(char **args, bool stop);
};

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
	fill_addr(&addr, path);
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
 * Send one request to VM NAME and read the reply into reply. 0 for an "ok"
 * reply, -1 after an error line (a VM's "error ..." reply is that line).
 * timeout_ms -1 waits as long as the VM takes.
 */
static int client_request(const char *name, const char *request, int timeout_ms, char *reply, size_t cap,
			  char *path, size_t path_cap)
{
	int fd = client_connect(name, path, path_cap), ret;

	if (fd < 0)
		return -1;
	ret = write_line(fd, request, CLIENT_TIMEOUT_MS);
	if (ret == 0)
		ret = read_line(fd, reply, cap, timeout_ms);
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
		pr_err("unexpected reply from VM '%s': '%s'", name, reply);
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
		if (socket_answers(path) == 0)
			return 0;
		nanosleep(&tick, NULL);
	}
	pr_err("VM '%s' accepted the stop but is still running after %d s", name, CLIENT_TIMEOUT_MS / 1000);
	return -1;
}

static int unexpected_reply(const char *name, const char *reply)
{
	pr_err("unexpected reply from VM '%s': '%s'", name, reply);
	return EXIT_FAILURE;
}

static int cmd_pause(char **args, bool stop)
{
	char reply[CONTROL_LINE_MAX + 1], path[PATH_MAX];
	uint64_t ns;

	(void)stop;
	if (client_request(args[0], "pause", CLIENT_TIMEOUT_MS, reply, sizeof(reply), path, sizeof(path)) < 0)
		return EXIT_FAILURE;
	if (sscanf(reply, "ok paused in %" SCNu64 " ns", &ns) != 1)
		return unexpected_reply(args[0], reply);
	printf("%s: paused (pause took %" PRIu64 " us)\n", args[0], (ns + 500) / 1000);
	return 0;
}

static int cmd_resume(char **args, bool stop)
{
	char reply[CONTROL_LINE_MAX + 1], path[PATH_MAX];

	(void)stop;
	if (client_request(args[0], "resume", CLIENT_TIMEOUT_MS, reply, sizeof(reply), path, sizeof(path)) < 0)
		return EXIT_FAILURE;
	printf("%s: running\n", args[0]);
	return 0;
}

static int cmd_stop(char **args, bool stop)
{
	char reply[CONTROL_LINE_MAX + 1], path[PATH_MAX];

	(void)stop;
	if (client_request(args[0], "stop", CLIENT_TIMEOUT_MS, reply, sizeof(reply), path, sizeof(path)) < 0)
		return EXIT_FAILURE;
	if (wait_gone(args[0], path) < 0)
		return EXIT_FAILURE;
	printf("%s: stopped\n", args[0]);
	return 0;
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

static int cmd_snapshot(char **args, bool stop)
{
	char reply[CONTROL_LINE_MAX + 1], path[PATH_MAX], dir[PATH_MAX], req[CONTROL_LINE_MAX];
	uint64_t state, mem, ns;

	if (absolute_new_dir(args[1], dir, sizeof(dir)) < 0)
		return EXIT_FAILURE;
	snprintf(req, sizeof(req), "snapshot %s%s", stop ? "stop " : "", dir);
	/* No time limit: writing a big guest's memory takes as long as it takes. */
	if (client_request(args[0], req, -1, reply, sizeof(reply), path, sizeof(path)) < 0)
		return EXIT_FAILURE;
	if (sscanf(reply, "ok %" SCNu64 " %" SCNu64 " %" SCNu64, &state, &mem, &ns) != 3)
		return unexpected_reply(args[0], reply);
	printf("%s: snapshot written to %s (state %" PRIu64 " KiB, memory %" PRIu64 " MiB of data) in %" PRIu64
	       " ms\n",
	       args[0], dir, div_round_up(state, 1024), div_round_up(mem, 1024 * 1024), (ns + 500000) / 1000000);
	fflush(stdout); /* the snapshot line goes out even if the wait below fails */
	if (stop) {
		if (wait_gone(args[0], path) < 0)
			return EXIT_FAILURE;
		printf("%s: stopped\n", args[0]);
	}
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
	int fd = connect_now(path), ret;

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
	ret = write_line(fd, "status", LIST_TIMEOUT_MS);
	if (ret == 0)
		ret = read_line(fd, reply, sizeof(reply), LIST_TIMEOUT_MS);
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
		if (!control_name_valid(v[n].name) || socket_path_in(dir, v[n].name, path, sizeof(path)) < 0)
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

static int cmd_list(char **args, bool stop)
{
	struct list_entry *v = NULL;
	char dir[PATH_MAX];
	int n = 0, wname = 4, wpid = 3, ret;

	(void)args;
	(void)stop;
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
	{ "list", NULL, 0, false,
	  "usage: armvmm list\n"
	  "\n"
	  "List your running VMs (those started with 'armvmm run --name NAME'), one line\n"
	  "each: name, process id and state (running, paused, or busy when the VM does\n"
	  "not answer within 5 s, e.g. while it writes a snapshot).\n",
	  cmd_list },
	{ "pause", "a VM name", 1, false,
	  "usage: armvmm pause NAME\n"
	  "\n"
	  "Stop the vCPUs of the VM NAME until 'armvmm resume NAME'. Says how long it\n"
	  "took for every vCPU to leave the guest. Pausing a paused VM does nothing.\n",
	  cmd_pause },
	{ "resume", "a VM name", 1, false,
	  "usage: armvmm resume NAME\n"
	  "\n"
	  "Let the vCPUs of the paused VM NAME run again.\n",
	  cmd_resume },
	{ "stop", "a VM name", 1, false,
	  "usage: armvmm stop NAME\n"
	  "\n"
	  "End the VM NAME: its armvmm exits with status 0, as on a guest power-off.\n"
	  "Waits up to 30 s for it to be gone.\n",
	  cmd_stop },
	{ "snapshot", "a VM name and a directory", 2, true,
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
static int parse_client_args(const struct client_cmd *cmd, int argc, char **argv, char **args, bool *stop)
{
	bool options = true;
	int n = 0;

	*stop = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (options && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				options = false;
			} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				fputs(cmd->help, stdout);
				return 1;
			} else if (cmd->has_stop && strcmp(a, "--stop") == 0) {
				*stop = true;
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
	return 0;
}

int control_client_main(int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(client_cmds) / sizeof(client_cmds[0]); i++) {
		const struct client_cmd *cmd = &client_cmds[i];
		char *args[2] = { NULL, NULL };
		bool stop;
		int ret;

		if (argc < 1 || strcmp(argv[0], cmd->name) != 0)
			continue;
		ret = parse_client_args(cmd, argc - 1, argv + 1, args, &stop);
		if (ret)
			return ret > 0 ? 0 : EXIT_FAILURE;
		ret = cmd->run(args, stop);
		fflush(stdout);
		return ret;
	}
	pr_err("unknown command '%s' (try 'armvmm --help')", argc > 0 ? argv[0] : "");
	return EXIT_FAILURE;
}
