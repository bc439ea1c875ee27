/*
 * The control socket's server and the control thread (see control.h): the
 * socket listens under the VM's name and answers one request line per
 * connection; requests but "stop" run on the main thread, handed over through
 * two eventfds, one request at a time.
 */
#include "app/control.h"
#include "app/control_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/term.h"
#include "core/clock.h"
#include "core/eventloop.h"
#include "core/files.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/threads.h"
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

/* --- the control thread ----------------------------------------------------------------- */

/* Reply to a client and hang up; a client that left gets nothing (fine). */
static void answer(int c, const char *reply)
{
	control_write_line(c, reply, SERVER_IO_TIMEOUT_MS);
	close(c);
}

/* While a migration runs: status says so, anything else (stop aside: it never waits) is refused. */
static void answer_while_migrating(const char *request, char *reply, size_t cap)
{
	if (strcmp(request, "status") == 0)
		snprintf(reply, cap, "ok %ld migrating", (long)getpid());
	else
		snprintf(reply, cap, "error a migration of this VM is in progress");
}

/* The request the control thread is waiting on the main thread for. */
struct pending {
	int conn;		/* the client's connection, or -1 */
	uint64_t seq;
	bool unlimited;		/* no run time limit: a snapshot or a migration takes as long as it takes */
	uint64_t posted_ms;
};

/* Hand a request line to the loop's thread. */
static void post(struct control_server *s, struct pending *p, int c, const char *req)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	snprintf(s->request, sizeof(s->request), "%s", req);
	s->req_seq++;
	s->req_state = CONTROL_REQ_POSTED;
	*p = (struct pending){ .conn = c, .seq = s->req_seq, .unlimited = strncmp(req, "snapshot ", 9) == 0 ||
							      strncmp(req, "migrate ", 8) == 0,
			       .posted_ms = clock_monotonic_ms() };
	pthread_mutex_unlock(&s->lock);
	if (write(s->req_fd, &one, sizeof(one)) < 0)
		(void)0; /* an eventfd counter does not overflow from this */
}

/* The reply is in (or the request timed out): answer the client. */
static void finish_pending(struct control_server *s, struct pending *p, bool timed_out)
{
	char reply[CONTROL_LINE_MAX];

	pthread_mutex_lock(&s->lock);
	if (!timed_out && s->req_state == CONTROL_REQ_DONE) {
		snprintf(reply, sizeof(reply), "%s", s->reply);
	} else if (s->req_state == CONTROL_REQ_POSTED) {
		/* Never started: taken back, so it does not run long after its client gave up. */
		snprintf(reply, sizeof(reply),
			 "error the VM did not take the request within %d s (its main thread is busy); nothing was done",
			 CONTROL_TAKE_TIMEOUT_MS / 1000);
	} else {
		snprintf(reply, sizeof(reply),
			 "error the request is still running after %d s; its outcome is unknown ('armvmm stop' still ends the VM)",
			 CONTROL_RUN_TIMEOUT_MS / 1000);
	}
	if (s->req_state != CONTROL_REQ_RUNNING)
		s->req_state = CONTROL_REQ_IDLE;
	pthread_mutex_unlock(&s->lock);
	answer(p->conn, reply);
	p->conn = -1;
}

/* When the pending request times out (CLOCK_MONOTONIC ms; UINT64_MAX: never). */
static uint64_t pending_deadline(struct control_server *s, const struct pending *p)
{
	enum control_req_state st;

	pthread_mutex_lock(&s->lock);
	st = s->req_seq == p->seq ? s->req_state : CONTROL_REQ_IDLE;
	pthread_mutex_unlock(&s->lock);
	if (st == CONTROL_REQ_POSTED)
		return p->posted_ms + CONTROL_TAKE_TIMEOUT_MS;
	if (st == CONTROL_REQ_RUNNING && !p->unlimited)
		return p->posted_ms + CONTROL_RUN_TIMEOUT_MS;
	return UINT64_MAX;
}

/*
 * One connection: read its line (a client gets SERVER_IO_TIMEOUT_MS), check
 * who it is, then "stop" right here, anything else to the main thread.
 */
static void on_connection(struct control_server *s, struct pending *p)
{
	char req[CONTROL_LINE_MAX + 1];
	int c, n;

	c = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return; /* the client gave up already, or no fds: nothing to serve */
	/*
	 * The request is read even from a stranger before the refusal: closing a
	 * unix socket with unread data resets the connection, and the client
	 * would see that instead of the reason.
	 */
	n = control_read_line(c, req, sizeof(req), SERVER_IO_TIMEOUT_MS);
	if (!peer_is_owner(c)) {
		answer(c, "error permission denied");
	} else if (n == -ENODATA) {
		close(c); /* connected and closed without a word: a client checking that we are alive */
	} else if (n < 0) {
		answer(c, "error request too long or incomplete");
	} else if (strcmp(req, "stop") == 0) {
		pr_info("stopping the VM on request of its control socket");
		answer(c, s->ops->stop(s->opaque, VM_EXIT_POWEROFF) < 0 ? "error cannot stop" : "ok");
	} else if (p->conn >= 0) {
		pthread_mutex_lock(&s->lock);
		bool migrating = s->migrating;
		pthread_mutex_unlock(&s->lock);
		char reply[CONTROL_LINE_MAX] = "error busy with another request; try again";
		if (migrating)
			answer_while_migrating(req, reply, sizeof(reply));
		answer(c, reply);
	} else {
		post(s, p, c, req);
	}
}

static void on_signal(struct control_server *s)
{
	struct signalfd_siginfo si;

	if (read(s->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		pr_info("stopping the VM on signal %u", si.ssi_signo);
		s->ops->stop(s->opaque, VM_EXIT_SIGNAL_BASE + (int)si.ssi_signo);
	}
}

/* The VM was asked to stop CONTROL_STOP_GRACE_MS ago and is still here: end the process. */
static void watchdog_fire(struct control_server *s)
{
	int status = s->exit_status ? s->exit_status(s->opaque) : VM_EXIT_ERROR;

	pr_err("the VM did not end within %d s of being asked to stop; exiting now", CONTROL_STOP_GRACE_MS / 1000);
	if (s->listen_fd >= 0 && still_our_socket(s, s->path))
		unlink(s->path);
	term_restore();
	_exit(status < 0 ? VM_EXIT_ERROR : status);
}

static void *control_thread(void *arg)
{
	struct control_server *s = arg;
	struct pending p = { .conn = -1 };
	uint64_t watchdog = UINT64_MAX;

	sandbox_enter(SANDBOX_CONTROL);
	for (;;) {
		struct pollfd fds[5];
		int nfds = 0, i_sig = -1, i_listen = -1, i_reply = -1, i_stop = -1, timeout = -1;
		uint64_t deadline = watchdog, now;

		fds[nfds++] = (struct pollfd){ .fd = s->quit_fd, .events = POLLIN };
		if (s->signal_fd >= 0) {
			i_sig = nfds;
			fds[nfds++] = (struct pollfd){ .fd = s->signal_fd, .events = POLLIN };
		}
		if (s->listen_fd >= 0) {
			i_listen = nfds;
			fds[nfds++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		}
		if (p.conn >= 0) {
			i_reply = nfds;
			fds[nfds++] = (struct pollfd){ .fd = s->reply_fd, .events = POLLIN };
			uint64_t d = pending_deadline(s, &p);
			if (d < deadline)
				deadline = d;
		}
		if (s->stop_fd >= 0 && watchdog == UINT64_MAX) {
			i_stop = nfds;
			fds[nfds++] = (struct pollfd){ .fd = s->stop_fd, .events = POLLIN };
		}
		if (deadline != UINT64_MAX) {
			now = clock_monotonic_ms();
			timeout = deadline > now ? (int)(deadline - now < INT32_MAX ? deadline - now : INT32_MAX) : 0;
		}
		if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		if (i_sig >= 0 && fds[i_sig].revents)
			on_signal(s);
		if (i_stop >= 0 && fds[i_stop].revents)
			watchdog = clock_monotonic_ms() + CONTROL_STOP_GRACE_MS;	/* stop_fd stays readable */
		if (i_reply >= 0 && fds[i_reply].revents) {
			(void)eventfd_drain(s->reply_fd);
			pthread_mutex_lock(&s->lock);
			bool done = s->req_state == CONTROL_REQ_DONE && s->req_seq == p.seq;
			pthread_mutex_unlock(&s->lock);
			if (done)
				finish_pending(s, &p, false);
		}
		now = clock_monotonic_ms();
		if (p.conn >= 0 && now >= pending_deadline(s, &p))
			finish_pending(s, &p, true);
		if (i_listen >= 0 && fds[i_listen].revents)
			on_connection(s, &p);
		if (now >= watchdog)
			watchdog_fire(s);
	}
	/* Leaving with a request answered (snapshot --stop ends the VM right after it): say so first. */
	if (p.conn >= 0) {
		pthread_mutex_lock(&s->lock);
		bool done = s->req_state == CONTROL_REQ_DONE && s->req_seq == p.seq;
		pthread_mutex_unlock(&s->lock);
		if (done)
			finish_pending(s, &p, false);
		else
			answer(p.conn, "error the VM is ending");
	}
	return NULL;
}

/* The loop's (main) thread: run the posted request and hand the reply back. */
static void request_cb(void *opaque, int fd, short revents)
{
	struct control_server *s = opaque;
	char req[CONTROL_LINE_MAX + 1], reply[CONTROL_LINE_MAX];
	uint64_t seq, one = 1;

	(void)revents;
	if (eventfd_drain(fd) <= 0)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->req_state != CONTROL_REQ_POSTED) {
		pthread_mutex_unlock(&s->lock);
		return; /* taken back after a timeout */
	}
	s->req_state = CONTROL_REQ_RUNNING;
	seq = s->req_seq;
	snprintf(req, sizeof(req), "%s", s->request);
	pthread_mutex_unlock(&s->lock);

	if (control_server_handle(s, req, reply, sizeof(reply)) == CONTROL_DEFERRED) {
		/* A migration started: the request stays running until control_server_migrated. */
		pthread_mutex_lock(&s->lock);
		s->migrating = true;
		pthread_mutex_unlock(&s->lock);
		return;
	}

	pthread_mutex_lock(&s->lock);
	if (s->req_seq == seq) {
		snprintf(s->reply, sizeof(s->reply), "%s", reply);
		s->req_state = CONTROL_REQ_DONE;
	}
	pthread_mutex_unlock(&s->lock);
	if (write(s->reply_fd, &one, sizeof(one)) < 0)
		(void)0;
}

int control_server_start(struct control_server *s, struct eventloop *loop, const struct control_server_config *cfg)
{
	int ret, id = -1;

	*s = (struct control_server){ .listen_fd = -1, .ops = cfg->ops, .opaque = cfg->opaque,
				      .signal_fd = cfg->signal_fd, .stop_fd = cfg->stop_fd,
				      .exit_status = cfg->exit_status, .quit_fd = -1, .req_fd = -1, .reply_fd = -1 };
	pthread_mutex_init(&s->lock, NULL);
	s->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->reply_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->quit_fd < 0 || s->req_fd < 0 || s->reply_fd < 0) {
		ret = -errno;
		pr_err("control: cannot create eventfds: %s", strerror(-ret));
		goto fail;
	}
	if (cfg->name) {
		ret = control_socket_path(cfg->name, s->path, sizeof(s->path), true);
		if (ret == 0)
			ret = clear_stale_socket(s->path, cfg->name);
		if (ret == 0)
			ret = listen_on(s, cfg->name);
		if (ret < 0)
			goto fail;
	}
	id = eventloop_add(loop, s->req_fd, POLLIN, request_cb, s);
	if (id < 0) {
		ret = id;
		pr_err("control socket: no room in the event loop");
		goto fail;
	}
	ret = thread_start_unsignalled(&s->thread, control_thread, s);
	if (ret) {
		pr_err("cannot start the control thread: %s", strerror(ret));
		ret = -ret;
		eventloop_enable(loop, id, false);
		goto fail;
	}
	s->thread_started = true;
	return 0;
fail:
	control_server_stop(s);
	return ret;
}

void control_server_stop(struct control_server *s)
{
	uint64_t one = 1;

	if (s->thread_started) {
		if (write(s->quit_fd, &one, sizeof(one)) < 0)
			(void)0;
		pthread_join(s->thread, NULL);
		s->thread_started = false;
	}
	s->migrating = false;
	/* Unlink before close, so that nobody finds our name refusing and takes it for stale. */
	if (s->listen_fd >= 0 && still_our_socket(s, s->path))
		unlink(s->path);
	close_fd(&s->listen_fd);
	close_fd(&s->quit_fd);
	close_fd(&s->req_fd);
	close_fd(&s->reply_fd);
}

static void handle_pause(struct control_server *s, char *reply, size_t cap)
{
	uint64_t ns = 0;
	int ret;

	log_clear_error();
	ret = s->ops->pause(s->opaque, &ns);
	if (ret < 0 && *log_last_error())
		snprintf(reply, cap, "error %s", log_last_error());	/* e.g. the pause timed out */
	else if (ret < 0)
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
	uint64_t one = 1;

	if (result < 0)
		snprintf(reply, sizeof(reply), "error %s", msg && *msg ? msg : strerror(-result));
	else
		snprintf(reply, sizeof(reply), "ok %u %" PRIu64 " %" PRIu64 " %" PRIu64, r->rounds, r->bytes,
			 r->downtime_ns, r->total_ns);
	for (char *p = reply; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	pthread_mutex_lock(&s->lock);
	if (!s->migrating) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->migrating = false;
	snprintf(s->reply, sizeof(s->reply), "%s", reply);
	s->req_state = CONTROL_REQ_DONE;	/* the migrate request is the pending one: nothing else was taken */
	pthread_mutex_unlock(&s->lock);
	if (s->reply_fd >= 0 && write(s->reply_fd, &one, sizeof(one)) < 0)
		(void)0;
}

int control_server_handle(struct control_server *s, const char *request, char *reply, size_t cap)
{
	int ret;

	if (s->migrating && strcmp(request, "stop") != 0) {
		answer_while_migrating(request, reply, cap);
		return 0;
	}
	if (strcmp(request, "status") == 0) {
		snprintf(reply, cap, "ok %ld %s", (long)getpid(), s->ops->is_paused(s->opaque) ? "paused" : "running");
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
