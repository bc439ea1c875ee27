/*
 * The control socket, what server and client share: VM names, the runtime
 * directory, socket paths, and line I/O on a socket (see control.h for the
 * protocol). The server is control_server.c, the client control_client.c.
 */
#include "app/control.h"
#include "app/control_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/files.h"
#include "core/log.h"

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

/* Where the runtime directory of user uid is, without looking at it; no_xdg: always /tmp/armvmm-UID. */
static int runtime_dir_name_for(char *buf, size_t cap, uid_t uid, bool no_xdg)
{
	const char *xdg = no_xdg ? NULL : getenv("XDG_RUNTIME_DIR");
	int n;

	/* A relative XDG_RUNTIME_DIR would mean a different directory in every cwd: ignore it. */
	if (xdg && xdg[0] == '/') {
		size_t len = strlen(xdg);
		while (len > 1 && xdg[len - 1] == '/')
			len--;
		n = snprintf(buf, cap, "%.*s/armvmm", (int)(len == 1 ? 0 : len), xdg);
	} else {
		n = snprintf(buf, cap, "/tmp/armvmm-%u", (unsigned int)uid);
	}
	if (n < 0 || (size_t)n >= cap) {
		pr_err("control directory path is too long (check XDG_RUNTIME_DIR)");
		return -ENAMETOOLONG;
	}
	return 0;
}

static int runtime_dir_name(char *buf, size_t cap)
{
	return runtime_dir_name_for(buf, cap, geteuid(), false);
}

/*
 * Everything that can reach the sockets must be ours alone: lstat, so that a
 * symlink planted in a shared /tmp is refused rather than followed. With
 * quiet_missing, a missing directory is -ENOENT without an error line.
 */
static int check_private_for(const char *dir, bool quiet_missing, uid_t owner)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		int err = errno;
		if (err == ENOENT && quiet_missing)
			return -ENOENT;
		pr_err("cannot use control directory '%s': %s", dir, strerror(err));
		return -err;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != owner || (st.st_mode & 077)) {
		pr_err("control directory '%s' is not private (mode %03o, owner %u): "
		       "it must be a directory owned by %s with mode 0700",
		       dir, (unsigned int)(st.st_mode & 0777), (unsigned int)st.st_uid,
		       owner == geteuid() ? "you" : "the VM's user");
		return -EPERM;
	}
	return 0;
}

static int check_private(const char *dir, bool quiet_missing)
{
	return check_private_for(dir, quiet_missing, geteuid());
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

int control_runtime_dir_for(char *buf, size_t cap, uid_t uid, gid_t gid)
{
	bool other = uid != geteuid();
	int ret = runtime_dir_name_for(buf, cap, uid, other);

	if (ret < 0)
		return ret;
	if (mkdir(buf, 0700) == 0) {
		if (other && chown(buf, uid, gid) < 0) {
			ret = -errno;
			pr_err("cannot hand control directory '%s' to user %u: %s", buf, (unsigned int)uid, strerror(-ret));
			rmdir(buf);
			return ret;
		}
	} else if (errno != EEXIST) {
		ret = -errno;
		pr_err("cannot create control directory '%s': %s", buf, strerror(-ret));
		return ret;
	}
	return check_private_for(buf, false, uid);
}

int control_runtime_dir(char *buf, size_t cap, bool create)
{
	int ret = runtime_dir_name(buf, cap);

	return ret < 0 ? ret : open_runtime_dir(buf, create);
}

/* The server's temporary name in the directory: "/." and a pid of up to 7 digits (PID_MAX_LIMIT). */
#define TEMP_NAME_MAX 9u

int control_socket_path_in(const char *dir, const char *name, char *buf, size_t cap)
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
		ret = control_socket_path_in(dir, name, buf, cap);
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

int control_read_line(int fd, char *buf, size_t cap, int timeout_ms)
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
int control_write_line(int fd, const char *line, int timeout_ms)
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

void control_fill_addr(struct sockaddr_un *addr, const char *path)
{
	*addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
	/* Paths come from control_socket_path_in, which checked the length. */
	memcpy(addr->sun_path, path, strlen(path) + 1);
}

int control_connect_now(const char *path)
{
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	control_fill_addr(&addr, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int control_probe(const char *path)
{
	int fd = control_connect_now(path);

	if (fd >= 0 || fd == -EAGAIN) {
		close_fd(&fd);
		return CONTROL_LISTENING;
	}
	if (fd == -ENOENT)
		return CONTROL_NO_SOCKET;
	if (fd == -ECONNREFUSED)
		return CONTROL_STALE_SOCKET;
	return fd;
}
