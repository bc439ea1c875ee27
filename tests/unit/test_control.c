/*
 * The control socket: runtime directory rules, names, the request handler,
 * and real round trips between control_client_main and a server whose event
 * loop runs in a thread, with a fake VM behind control_ops.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/control.h"
#include "app/control_internal.h"
#include "core/vm.h"
#include "core/eventloop.h"

/* ---- per-test directory: XDG_RUNTIME_DIR points into a fresh mkdtemp dir ---- */

struct env {
	char tmp[64];
	char rundir[PATH_MAX];	/* tmp/armvmm */
};

static int setup_env(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->tmp, sizeof(e->tmp), "/tmp/test_control.XXXXXX");
	assert_non_null(mkdtemp(e->tmp));
	snprintf(e->rundir, sizeof(e->rundir), "%s/armvmm", e->tmp);
	assert_int_equal(setenv("XDG_RUNTIME_DIR", e->tmp, 1), 0);
	*state = e;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(path, 0700); /* tests make directories unreadable on purpose */
	return remove(path) < 0 ? -1 : 0;
}

static int teardown_env(void **state)
{
	struct env *e = *state;

	chmod(e->rundir, 0700);
	nftw(e->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

static void path_in(char *buf, size_t cap, const char *dir, const char *name)
{
	assert_true((size_t)snprintf(buf, cap, "%s/%s", dir, name) < cap);
}

/* Standard error from here to stderr_end, into buf. */
static int stderr_begin(void)
{
	FILE *f = tmpfile();
	int fd, saved;

	assert_non_null(f);
	fd = dup(fileno(f));
	fclose(f);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	return saved;
}

static void stderr_end(int saved, char *buf, size_t cap)
{
	ssize_t n;

	fflush(stderr);
	n = pread(2, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	dup2(saved, 2);
	close(saved);
}

/* ---- names and the runtime directory ---- */

static void test_name_validation(void **state)
{
	(void)state;
	static const struct { const char *name; bool ok; } t[] = {
		{ "vm1", true }, { "a", true }, { "A-b_c.d", true }, { "web.example.com", true }, { "-x", true },
		{ "x.", true }, { "0", true },
		{ "", false }, { ".hidden", false }, { ".", false }, { "..", false }, { "a/b", false },
		{ "a b", false }, { "a\nb", false }, { "vm\xc3\xa9", false }, { "a:b", false }, { "a*", false },
	};
	char name[CONTROL_NAME_MAX + 2];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (control_name_valid(t[i].name) != t[i].ok)
			fail_msg("name '%s' should be %s", t[i].name, t[i].ok ? "valid" : "invalid");
	assert_false(control_name_valid(NULL));
	memset(name, 'x', CONTROL_NAME_MAX);
	name[CONTROL_NAME_MAX] = '\0';
	assert_true(control_name_valid(name));
	name[CONTROL_NAME_MAX] = 'x';
	name[CONTROL_NAME_MAX + 1] = '\0';
	assert_false(control_name_valid(name));
}

static void test_runtime_dir_created_private(void **state)
{
	struct env *e = *state;
	char dir[PATH_MAX], sock[PATH_MAX], want[PATH_MAX], err[256];
	struct stat st;
	int saved, ret[2];

	/* Not there and not to be made: -ENOENT and no error line, the path still given. */
	saved = stderr_begin();
	ret[0] = control_runtime_dir(dir, sizeof(dir), false);
	ret[1] = control_socket_path("vm1", sock, sizeof(sock), false);
	stderr_end(saved, err, sizeof(err));
	assert_int_equal(ret[0], -ENOENT);
	assert_int_equal(ret[1], -ENOENT);
	assert_string_equal(err, "");
	path_in(want, sizeof(want), e->rundir, "vm1.sock");
	assert_string_equal(sock, want);
	assert_int_equal(access(e->rundir, F_OK), -1);

	assert_int_equal(control_runtime_dir(dir, sizeof(dir), true), 0);
	assert_string_equal(dir, e->rundir);
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(st.st_uid, geteuid());
	/* Existing and fine: used as it is, created or not. */
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), true), 0);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), false), 0);

	assert_int_equal(control_socket_path("vm1", sock, sizeof(sock), false), 0);
	path_in(want, sizeof(want), e->rundir, "vm1.sock");
	assert_string_equal(sock, want);
	assert_int_equal(control_socket_path("../x", sock, sizeof(sock), false), -EINVAL);

	/* Trailing slashes on XDG_RUNTIME_DIR do not double up. */
	snprintf(want, sizeof(want), "%s//", e->tmp);
	setenv("XDG_RUNTIME_DIR", want, 1);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), false), 0);
	assert_string_equal(dir, e->rundir);
}

static void test_runtime_dir_refused_unless_private(void **state)
{
	struct env *e = *state;
	char dir[PATH_MAX], other[PATH_MAX], sock[PATH_MAX];
	int fd;

	assert_int_equal(mkdir(e->rundir, 0700), 0);
	/* Group or other access: a wrong mode, whoever made it. */
	assert_int_equal(chmod(e->rundir, 0755), 0);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), true), -EPERM);
	assert_int_equal(control_socket_path("vm1", sock, sizeof(sock), true), -EPERM);
	assert_int_equal(chmod(e->rundir, 0770), 0);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), false), -EPERM);
	assert_int_equal(chmod(e->rundir, 0701), 0);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), false), -EPERM);
	assert_int_equal(chmod(e->rundir, 0700), 0);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), false), 0);
	assert_int_equal(rmdir(e->rundir), 0);

	/* A symlink, even to a private directory of ours, is not followed. */
	path_in(other, sizeof(other), e->tmp, "elsewhere");
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(symlink(other, e->rundir), 0);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), true), -EPERM);
	assert_int_equal(unlink(e->rundir), 0);

	/* Nor is a regular file a directory. */
	fd = open(e->rundir, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), true), -EPERM);
}

static void test_runtime_dir_fallbacks(void **state)
{
	(void)state;
	char dir[PATH_MAX], want[64];

	/* A relative XDG_RUNTIME_DIR, like none, means /tmp/armvmm-UID (not created here: create is false). */
	snprintf(want, sizeof(want), "/tmp/armvmm-%u", (unsigned int)geteuid());
	setenv("XDG_RUNTIME_DIR", "relative/run", 1);
	control_runtime_dir(dir, sizeof(dir), false);
	assert_string_equal(dir, want);
	unsetenv("XDG_RUNTIME_DIR");
	control_runtime_dir(dir, sizeof(dir), false);
	assert_string_equal(dir, want);

	/* Only the last component is made: a missing parent is an error. */
	setenv("XDG_RUNTIME_DIR", "/nonexistent-armvmm-test/run", 1);
	assert_int_equal(control_runtime_dir(dir, sizeof(dir), true), -ENOENT);
}

static void test_socket_path_too_long(void **state)
{
	struct env *e = *state;
	char deep[PATH_MAX], sock[PATH_MAX], name[CONTROL_NAME_MAX + 1];

	/* tmp/ddd...d/armvmm/NAME.sock: beyond the 108 bytes of sun_path. */
	memset(name, 'd', 60);
	name[60] = '\0';
	path_in(deep, sizeof(deep), e->tmp, name);
	assert_int_equal(mkdir(deep, 0700), 0);
	setenv("XDG_RUNTIME_DIR", deep, 1);
	assert_int_equal(control_socket_path("short", sock, sizeof(sock), true), 0);
	memset(name, 'n', CONTROL_NAME_MAX);
	name[CONTROL_NAME_MAX] = '\0';
	assert_int_equal(control_socket_path(name, sock, sizeof(sock), true), -ENAMETOOLONG);
	/* And a buffer too small for the path. */
	assert_int_equal(control_socket_path("short", sock, 16, true), -ENAMETOOLONG);
}

/* ---- a fake VM ---- */

struct fake_vm {
	bool paused;
	bool stopped;
	int pause_ret, snapshot_ret;
	const char *snapshot_msg;
	char snapshot_dir[PATH_MAX];
	bool snapshot_stop;
	int snapshots;
	int quit_fd;		/* stop writes here to end the loop, as the real VM's stop does (0: none) */
	char migrate_addr[128];
	unsigned int migrate_downtime;
	int migrate_ret;
};

static bool fake_is_paused(void *opaque)
{
	return ((struct fake_vm *)opaque)->paused;
}

static int fake_pause(void *opaque, uint64_t *ns)
{
	struct fake_vm *vm = opaque;

	if (vm->pause_ret)
		return vm->pause_ret;
	*ns = vm->paused ? 0 : 123456;
	vm->paused = true;
	return 0;
}

static int fake_resume(void *opaque)
{
	((struct fake_vm *)opaque)->paused = false;
	return 0;
}

static int fake_stop(void *opaque, int status)
{
	struct fake_vm *vm = opaque;

	assert_int_equal(status, VM_EXIT_POWEROFF); /* the control socket's stop powers off */
	vm->stopped = true;
	/* Any thread (the control thread does "stop"): wake the loop as the real VM's stop eventfd does. */
	if (vm->quit_fd > 0 && write(vm->quit_fd, "s", 1) != 1)
		fail_msg("cannot wake the fake VM's loop");
	return 0;
}

static int fake_snapshot(void *opaque, const char *dir, bool stop, struct control_snapshot_result *res, char *msg,
			 size_t msg_cap)
{
	struct fake_vm *vm = opaque;

	vm->snapshots++;
	snprintf(vm->snapshot_dir, sizeof(vm->snapshot_dir), "%s", dir);
	vm->snapshot_stop = stop;
	if (vm->snapshot_ret) {
		if (vm->snapshot_msg)
			snprintf(msg, msg_cap, "%s", vm->snapshot_msg);
		return vm->snapshot_ret;
	}
	res->state_bytes = 10000;		/* 9.8 KiB: 10 rounded up */
	res->memory_bytes = 3u << 20 | 1;	/* just over 3 MiB: 4 */
	res->ns = 42400000;			/* 42 ms */
	if (stop)
		fake_stop(vm, VM_EXIT_POWEROFF);
	return 0;
}

static int fake_migrate(void *opaque, const char *addr, unsigned int downtime_ms, char *msg, size_t msg_cap)
{
	struct fake_vm *vm = opaque;

	snprintf(vm->migrate_addr, sizeof(vm->migrate_addr), "%s", addr);
	vm->migrate_downtime = downtime_ms;
	if (vm->migrate_ret)
		snprintf(msg, msg_cap, "migration address '%s': unknown kind of address", addr);
	return vm->migrate_ret;
}

static const struct control_ops fake_ops = {
	.is_paused = fake_is_paused,
	.pause = fake_pause,
	.resume = fake_resume,
	.stop = fake_stop,
	.snapshot = fake_snapshot,
	.migrate = fake_migrate,
};

/* A control thread for NAME on loop, acting on vm (no signals, no watchdog: those are the real VM's). */
static int start_server(struct control_server *s, struct eventloop *loop, const char *name, struct fake_vm *vm)
{
	struct control_server_config cfg = {
		.name = name, .signal_fd = -1, .stop_fd = -1, .ops = &fake_ops, .opaque = vm,
	};

	return control_server_start(s, loop, &cfg);
}

/* ---- the request handler alone ---- */

static void test_handle_requests(void **state)
{
	(void)state;
	struct fake_vm vm = { 0 };
	struct control_server s = { .listen_fd = -1, .ops = &fake_ops, .opaque = &vm };
	char reply[CONTROL_LINE_MAX], want[64];

	snprintf(want, sizeof(want), "ok %ld running", (long)getpid());
	control_server_handle(&s, "status", reply, sizeof(reply));
	assert_string_equal(reply, want);
	control_server_handle(&s, "pause", reply, sizeof(reply));
	assert_string_equal(reply, "ok paused in 123456 ns");
	control_server_handle(&s, "pause", reply, sizeof(reply));
	assert_string_equal(reply, "ok paused in 0 ns");
	snprintf(want, sizeof(want), "ok %ld paused", (long)getpid());
	control_server_handle(&s, "status", reply, sizeof(reply));
	assert_string_equal(reply, want);
	control_server_handle(&s, "resume", reply, sizeof(reply));
	assert_string_equal(reply, "ok");
	assert_false(vm.paused);

	control_server_handle(&s, "snapshot /snap/a b", reply, sizeof(reply));
	assert_string_equal(reply, "ok 10000 3145729 42400000");
	assert_string_equal(vm.snapshot_dir, "/snap/a b");
	assert_false(vm.snapshot_stop);
	/* The directory is the rest of the line, literally: a name ending in " stop" is a name. */
	control_server_handle(&s, "snapshot /snap/e stop", reply, sizeof(reply));
	assert_string_equal(reply, "ok 10000 3145729 42400000");
	assert_string_equal(vm.snapshot_dir, "/snap/e stop");
	assert_false(vm.snapshot_stop);
	assert_false(vm.stopped);
	control_server_handle(&s, "snapshot stop /snap/c", reply, sizeof(reply));
	assert_string_equal(vm.snapshot_dir, "/snap/c");
	assert_true(vm.snapshot_stop);
	assert_true(vm.stopped);
	vm.stopped = false;
	control_server_handle(&s, "snapshot stop /snap/f stop", reply, sizeof(reply));
	assert_string_equal(vm.snapshot_dir, "/snap/f stop");
	assert_true(vm.snapshot_stop);

	vm.snapshot_ret = -EEXIST;
	vm.snapshot_msg = "snapshot directory '/snap/d' exists\nsecond line";
	control_server_handle(&s, "snapshot /snap/d", reply, sizeof(reply));
	assert_string_equal(reply, "error snapshot directory '/snap/d' exists second line");
	vm.snapshot_msg = NULL;
	control_server_handle(&s, "snapshot /snap/d", reply, sizeof(reply));
	assert_string_equal(reply, "error File exists");

	vm.snapshots = 0;
	static const char *const not_absolute[] = {
		"snapshot relative/dir", "snapshot ", "snapshot  stop", "snapshot stop",
		"snapshot stop ", "snapshot stop relative/dir", "snapshot  /snap/g",
	};
	for (size_t i = 0; i < sizeof(not_absolute) / sizeof(not_absolute[0]); i++) {
		control_server_handle(&s, not_absolute[i], reply, sizeof(reply));
		assert_string_equal(reply, "error snapshot needs an absolute directory path");
	}
	assert_int_equal(vm.snapshots, 0);

	vm.pause_ret = -EIO;
	control_server_handle(&s, "pause", reply, sizeof(reply));
	assert_string_equal(reply, "error cannot pause: Input/output error");

	vm.stopped = false;
	control_server_handle(&s, "stop", reply, sizeof(reply));
	assert_string_equal(reply, "ok");
	assert_true(vm.stopped);

	static const char *const unknown[] = { "", "snapshot", "STATUS", "status ", " pause", "restore /x", "help" };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		control_server_handle(&s, unknown[i], reply, sizeof(reply));
		assert_string_equal(reply, "error unknown request");
	}
}

/*
 * migrate: the reply waits for the outcome (the connection's callback keeps
 * the client's fd, done here by hand); meanwhile status says migrating and
 * everything but status and stop is refused.
 */
static void test_handle_migrate(void **state)
{
	(void)state;
	struct fake_vm vm = { 0 };
	struct control_server s = { .listen_fd = -1, .ops = &fake_ops, .opaque = &vm };
	struct control_migrate_result res = { .rounds = 3, .bytes = 1048576, .downtime_ns = 250000000,
					      .total_ns = 900000000 };
	char reply[CONTROL_LINE_MAX], want[64];

	assert_int_equal(control_server_handle(&s, "migrate unix:/tmp/a b.sock", reply, sizeof(reply)), CONTROL_DEFERRED);
	assert_string_equal(vm.migrate_addr, "unix:/tmp/a b.sock");
	assert_int_equal(vm.migrate_downtime, 0);
	assert_int_equal(control_server_handle(&s, "migrate downtime 50 tcp:[fe80::1%eth0]:4444", reply, sizeof(reply)),
			 CONTROL_DEFERRED);
	assert_string_equal(vm.migrate_addr, "tcp:[fe80::1%eth0]:4444");
	assert_int_equal(vm.migrate_downtime, 50);
	static const char *const bad_downtime[] = { "migrate downtime 0 unix:/a", "migrate downtime x unix:/a",
						     "migrate downtime 5000000 unix:/a", "migrate downtime 50" };
	for (size_t i = 0; i < sizeof(bad_downtime) / sizeof(bad_downtime[0]); i++) {
		assert_int_equal(control_server_handle(&s, bad_downtime[i], reply, sizeof(reply)), 0);
		assert_string_equal(reply, "error migrate: the downtime is a number of milliseconds from 1 to 3600000");
	}
	vm.migrate_ret = -EINVAL;
	assert_int_equal(control_server_handle(&s, "migrate ftp:x", reply, sizeof(reply)), 0);
	assert_string_equal(reply, "error migration address 'ftp:x': unknown kind of address");
	vm.migrate_ret = 0;

	/* One running: its request stays pending (the control thread holds the client). */
	assert_int_equal(control_server_handle(&s, "migrate unix:/tmp/m", reply, sizeof(reply)), CONTROL_DEFERRED);
	s.migrating = true;	/* what the loop's request callback does on CONTROL_DEFERRED */
	s.req_state = CONTROL_REQ_RUNNING;
	s.reply_fd = -1;
	snprintf(want, sizeof(want), "ok %ld migrating", (long)getpid());
	control_server_handle(&s, "status", reply, sizeof(reply));
	assert_string_equal(reply, want);
	static const char *const refused[] = { "pause", "resume", "snapshot /snap/x", "migrate unix:/tmp/n" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		control_server_handle(&s, refused[i], reply, sizeof(reply));
		assert_string_equal(reply, "error a migration of this VM is in progress");
	}
	assert_int_equal(vm.snapshots, 0);
	control_server_migrated(&s, 0, &res, NULL);
	assert_false(s.migrating);
	assert_int_equal(s.req_state, CONTROL_REQ_DONE);
	assert_string_equal(s.reply, "ok 3 1048576 250000000 900000000");

	/* A failure: its one line, made one line whatever it held. */
	s.migrating = true;
	s.req_state = CONTROL_REQ_RUNNING;
	control_server_migrated(&s, -EPIPE, &res, "the destination went away\nduring the migration");
	assert_string_equal(s.reply, "error the destination went away during the migration");
	/* No migration pending: nothing changes. */
	s.req_state = CONTROL_REQ_IDLE;
	control_server_migrated(&s, 0, &res, NULL);
	assert_int_equal(s.req_state, CONTROL_REQ_IDLE);
	control_server_handle(&s, "pause", reply, sizeof(reply));
	assert_string_equal(reply, "ok paused in 123456 ns");
}

/* ---- a server in a thread ---- */

struct server {
	struct env *env;
	struct eventloop loop;
	struct control_server srv;
	struct fake_vm vm;
	char sock[PATH_MAX];
	int quit_pipe[2];
	pthread_t thread;
};

static void on_quit(void *opaque, int fd, short revents)
{
	(void)fd;
	(void)revents;
	((struct eventloop *)opaque)->quit = true;
}

/* The VM's main thread: serve until stopped, then close and unlink like the VM does on its way out. */
static void *server_thread(void *arg)
{
	struct server *sv = arg;

	eventloop_run(&sv->loop);
	control_server_stop(&sv->srv);
	return NULL;
}

static void server_run(struct server *sv, struct env *e, const char *name)
{
	memset(sv, 0, sizeof(*sv));
	sv->env = e;
	assert_int_equal(pipe(sv->quit_pipe), 0);
	sv->vm.quit_fd = sv->quit_pipe[1];
	assert_true(eventloop_add(&sv->loop, sv->quit_pipe[0], POLLIN, on_quit, &sv->loop) >= 0);
	assert_int_equal(start_server(&sv->srv, &sv->loop, name, &sv->vm), 0);
	snprintf(sv->sock, sizeof(sv->sock), "%s", sv->srv.path);
	assert_int_equal(pthread_create(&sv->thread, NULL, server_thread, sv), 0);
}

static void server_end(struct server *sv)
{
	assert_int_equal(write(sv->quit_pipe[1], "q", 1), 1);
	assert_int_equal(pthread_join(sv->thread, NULL), 0);
	close(sv->quit_pipe[0]);
	close(sv->quit_pipe[1]);
}

/* Connect to path, send data (no newline added), optionally end our side, read the reply line. */
static void raw_request(const char *path, const char *data, size_t len, bool shut, char *reply, size_t cap)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	size_t got = 0;
	ssize_t n;

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
	if (shut)
		shutdown(fd, SHUT_WR);
	while (got < cap - 1 && (n = recv(fd, reply + got, cap - 1 - got, 0)) > 0)
		got += (size_t)n;
	close(fd);
	reply[got] = '\0';
}

#define RAW(sv, text, reply) raw_request((sv)->sock, text, strlen(text), false, reply, sizeof(reply))

/* Run control_client_main on the arguments with stdout and stderr captured. */
static int run_client(char *out, size_t out_cap, char *err, size_t err_cap, const char *arg0, ...)
{
	char *argv[8];
	int argc = 0, ret, saved[2], fds[2];
	char *bufs[2] = { out, err };
	size_t caps[2] = { out_cap, err_cap };
	va_list ap;

	va_start(ap, arg0);
	for (const char *a = arg0; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 2; i++) {
		FILE *f = tmpfile();
		assert_non_null(f);
		fds[i] = dup(fileno(f));
		fclose(f);
		saved[i] = dup(i + 1);
		dup2(fds[i], i + 1);
	}
	ret = control_client_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 2; i++) {
		ssize_t n;
		dup2(saved[i], i + 1);
		close(saved[i]);
		n = pread(fds[i], bufs[i], caps[i] - 1, 0);
		bufs[i][n > 0 ? n : 0] = '\0';
		close(fds[i]);
	}
	return ret;
}

/* What list prints for one VM of ours (this process): columns as wide as their widest entry. */
static void list_line(char *buf, size_t cap, const char *name, const char *state)
{
	char pid[24];
	int wpid, wname = (int)strlen(name) > 4 ? (int)strlen(name) : 4;

	wpid = snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	wpid = wpid > 3 ? wpid : 3;
	snprintf(buf, cap, "%-*s %-*s STATE\n%-*s %-*s %s\n", wname, "NAME", wpid, "PID", wname, name, wpid, pid,
		 state);
}

#define CLIENT(out, err, ...) run_client(out, sizeof(out), err, sizeof(err), __VA_ARGS__, (const char *)NULL)

static void test_raw_socket_requests(void **state)
{
	struct env *e = *state;
	struct server sv;
	char reply[CONTROL_LINE_MAX + 1], want[64], *big;
	struct dirent *de;
	struct stat st;
	DIR *dir;

	server_run(&sv, e, "vm1");
	assert_int_equal(lstat(sv.sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The temporary name it listened on first is gone. */
	dir = opendir(e->rundir);
	assert_non_null(dir);
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			assert_string_equal(de->d_name, "vm1.sock");
	closedir(dir);

	snprintf(want, sizeof(want), "ok %ld running\n", (long)getpid());
	RAW(&sv, "status\n", reply);
	assert_string_equal(reply, want);
	RAW(&sv, "pause\n", reply);
	assert_string_equal(reply, "ok paused in 123456 ns\n");
	snprintf(want, sizeof(want), "ok %ld paused\n", (long)getpid());
	RAW(&sv, "status\n", reply);
	assert_string_equal(reply, want);
	RAW(&sv, "resume\n", reply);
	assert_string_equal(reply, "ok\n");
	RAW(&sv, "snapshot /abs/dir\n", reply);
	assert_string_equal(reply, "ok 10000 3145729 42400000\n");
	assert_string_equal(sv.vm.snapshot_dir, "/abs/dir");
	RAW(&sv, "launch missiles\n", reply);
	assert_string_equal(reply, "error unknown request\n");

	/* A line that does not end within CONTROL_LINE_MAX bytes, and one cut short. */
	big = malloc(CONTROL_LINE_MAX + 100);
	assert_non_null(big);
	memset(big, 'a', CONTROL_LINE_MAX + 100);
	raw_request(sv.sock, big, CONTROL_LINE_MAX, false, reply, sizeof(reply));
	assert_string_equal(reply, "error request too long or incomplete\n");
	free(big);
	raw_request(sv.sock, "stat", 4, true, reply, sizeof(reply));
	assert_string_equal(reply, "error request too long or incomplete\n");
	/* Connecting and leaving at once (a liveness check) gets nothing, and harms nothing. */
	raw_request(sv.sock, "", 0, true, reply, sizeof(reply));
	assert_string_equal(reply, "");
	RAW(&sv, "resume\n", reply);
	assert_string_equal(reply, "ok\n");

	/* Stop: the reply goes out, then the VM ends and its socket is gone. */
	RAW(&sv, "stop\n", reply);
	assert_string_equal(reply, "ok\n");
	assert_int_equal(pthread_join(sv.thread, NULL), 0);
	assert_true(sv.vm.stopped);
	assert_int_equal(lstat(sv.sock, &st), -1);
	assert_int_equal(errno, ENOENT);
	close(sv.quit_pipe[0]);
	close(sv.quit_pipe[1]);
}

static void test_client_commands(void **state)
{
	struct env *e = *state;
	struct server sv;
	char out[4096], err[4096], want[PATH_MAX + 200], snapdir[PATH_MAX], cwd[PATH_MAX];

	server_run(&sv, e, "vm1");

	assert_int_equal(CLIENT(out, err, "pause", "vm1"), 0);
	assert_string_equal(out, "vm1: paused (pause took 123 us)\n");
	assert_string_equal(err, "");
	assert_true(sv.vm.paused);

	assert_int_equal(CLIENT(out, err, "list"), 0);
	list_line(want, sizeof(want), "vm1", "paused");
	assert_string_equal(out, want);

	assert_int_equal(CLIENT(out, err, "resume", "vm1"), 0);
	assert_string_equal(out, "vm1: running\n");
	assert_false(sv.vm.paused);

	/* A relative DIR goes to the VM absolute, resolved against the client's cwd. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(e->tmp), 0);
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1", "snap1"), 0);
	path_in(snapdir, sizeof(snapdir), e->tmp, "snap1");
	assert_string_equal(sv.vm.snapshot_dir, snapdir);
	assert_false(sv.vm.snapshot_stop);
	snprintf(want, sizeof(want),
		 "vm1: snapshot written to %s (state 10 KiB, memory 4 MiB of data) in 42 ms\n", snapdir);
	assert_string_equal(out, want);
	/* Trailing slashes and a "." in the parent are fine. */
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1", "./snap2/"), 0);
	path_in(snapdir, sizeof(snapdir), e->tmp, "snap2");
	assert_string_equal(sv.vm.snapshot_dir, snapdir);
	/* A name ending in " stop" goes as it is, and does not stop the VM. */
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1", "x stop"), 0);
	path_in(snapdir, sizeof(snapdir), e->tmp, "x stop");
	assert_string_equal(sv.vm.snapshot_dir, snapdir);
	assert_false(sv.vm.snapshot_stop);
	assert_false(sv.vm.stopped);

	/* Refused before asking the VM: an existing DIR, a missing parent, no new name. */
	sv.vm.snapshots = 0;
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1", "armvmm"), 1);
	assert_string_equal(err, "armvmm: error: snapshot directory 'armvmm' already exists\n");
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1", "no/such/dir"), 1);
	assert_string_equal(err, "armvmm: error: snapshot directory 'no/such/dir': its parent directory: "
				 "No such file or directory\n");
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1", ".."), 1);
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1", "/"), 1);
	assert_int_equal(sv.vm.snapshots, 0);
	assert_int_equal(chdir(cwd), 0);

	/* The VM's error reply is the error line. */
	sv.vm.snapshot_ret = -ENOSPC;
	sv.vm.snapshot_msg = "writing memory: No space left on device";
	path_in(snapdir, sizeof(snapdir), e->tmp, "snap3");
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1", snapdir), 1);
	assert_string_equal(out, "");
	assert_string_equal(err, "armvmm: error: writing memory: No space left on device\n");
	sv.vm.snapshot_ret = 0;
	sv.vm.pause_ret = -EBUSY;
	assert_int_equal(CLIENT(out, err, "pause", "vm1"), 1);
	assert_string_equal(err, "armvmm: error: cannot pause: Device or resource busy\n");
	sv.vm.pause_ret = 0;

	/* Arguments. */
	assert_int_equal(CLIENT(out, err, "pause", "--help"), 0);
	assert_non_null(strstr(out, "usage: armvmm pause NAME"));
	assert_int_equal(CLIENT(out, err, "snapshot", "-h"), 0);
	assert_non_null(strstr(out, "--stop"));
	assert_int_equal(CLIENT(out, err, "list", "--help"), 0);
	assert_int_equal(CLIENT(out, err, "pause"), 1);
	assert_string_equal(err, "armvmm: error: 'armvmm pause' needs a VM name (see 'armvmm pause --help')\n");
	assert_int_equal(CLIENT(out, err, "resume", "vm1", "vm2"), 1);
	assert_string_equal(err, "armvmm: error: unexpected argument 'vm2' (see 'armvmm resume --help')\n");
	assert_int_equal(CLIENT(out, err, "stop", "--force", "vm1"), 1);
	assert_string_equal(err, "armvmm: error: unknown option '--force' (see 'armvmm stop --help')\n");
	assert_int_equal(CLIENT(out, err, "pause", "vm1", "--stop"), 1);
	assert_int_equal(CLIENT(out, err, "snapshot", "vm1"), 1);
	assert_int_equal(CLIENT(out, err, "list", "vm1"), 1);
	assert_int_equal(CLIENT(out, err, "pause", "bad/name"), 1);
	assert_non_null(strstr(err, "invalid VM name 'bad/name'"));

	/* Unknown VM. */
	assert_int_equal(CLIENT(out, err, "pause", "vm2"), 1);
	snprintf(want, sizeof(want), "armvmm: error: no VM named 'vm2' is running (no control socket %s/vm2.sock)\n",
		 e->rundir);
	assert_string_equal(err, want);
	assert_false(sv.vm.stopped);

	server_end(&sv);
}

static void test_client_stop(void **state)
{
	struct env *e = *state;
	struct server sv;
	char out[4096], err[4096], want[PATH_MAX + 200], snapdir[PATH_MAX];

	server_run(&sv, e, "vm1");
	assert_int_equal(CLIENT(out, err, "stop", "vm1"), 0);
	assert_string_equal(out, "vm1: stopped\n");
	assert_string_equal(err, "");
	assert_true(sv.vm.stopped);
	assert_int_equal(access(sv.sock, F_OK), -1);
	assert_int_equal(pthread_join(sv.thread, NULL), 0);
	assert_int_equal(CLIENT(out, err, "list"), 0);
	assert_string_equal(out, "NAME PID STATE\n");

	/* snapshot --stop: the snapshot line, then the stop. */
	close(sv.quit_pipe[0]);
	close(sv.quit_pipe[1]);
	server_run(&sv, e, "vm1");
	path_in(snapdir, sizeof(snapdir), e->tmp, "snap stop");
	assert_int_equal(CLIENT(out, err, "snapshot", "--stop", "vm1", snapdir), 0);
	snprintf(want, sizeof(want),
		 "vm1: snapshot written to %s (state 10 KiB, memory 4 MiB of data) in 42 ms\nvm1: stopped\n", snapdir);
	assert_string_equal(out, want);
	assert_string_equal(sv.vm.snapshot_dir, snapdir);
	assert_true(sv.vm.snapshot_stop);
	assert_int_equal(access(sv.sock, F_OK), -1);
	assert_int_equal(pthread_join(sv.thread, NULL), 0);
	close(sv.quit_pipe[0]);
	close(sv.quit_pipe[1]);
}

/* A socket file with no listener, as a VM that was killed leaves behind. */
static void make_stale_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
}

static void test_server_names_and_stale_sockets(void **state)
{
	struct env *e = *state;
	struct server sv;
	struct control_server second;
	struct eventloop loop2 = { 0 };
	struct fake_vm vm2 = { 0 };
	char out[4096], err[4096], sock[PATH_MAX], want[PATH_MAX + 100];
	struct stat st;

	/* Missing runtime directory: nothing runs, which is no error for list and one line for the others. */
	assert_int_equal(CLIENT(out, err, "list"), 0);
	assert_string_equal(out, "NAME PID STATE\n");
	assert_string_equal(err, "");
	assert_int_equal(CLIENT(out, err, "pause", "old"), 1);
	snprintf(want, sizeof(want), "armvmm: error: no VM named 'old' is running (no control socket %s/old.sock)\n",
		 e->rundir);
	assert_string_equal(err, want);
	assert_int_equal(access(e->rundir, F_OK), -1);

	/* A stale socket is skipped by list, refused by clients, and replaced by the next VM of that name. */
	assert_int_equal(control_runtime_dir(sock, sizeof(sock), true), 0);
	path_in(sock, sizeof(sock), e->rundir, "old.sock");
	make_stale_socket(sock);
	assert_int_equal(CLIENT(out, err, "list"), 0);
	assert_string_equal(out, "NAME PID STATE\n");
	assert_int_equal(CLIENT(out, err, "pause", "old"), 1);
	snprintf(want, sizeof(want), "armvmm: error: no VM named 'old' is running (stale control socket %s)\n",
		 sock);
	assert_string_equal(err, want);
	server_run(&sv, e, "old");
	assert_int_equal(lstat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(CLIENT(out, err, "resume", "old"), 0);

	/* While it runs, its name is taken. */
	assert_int_equal(start_server(&second, &loop2, "old", &vm2), -EADDRINUSE);
	assert_int_equal(second.listen_fd, -1);
	assert_int_equal(loop2.count, 0);
	assert_int_equal(CLIENT(out, err, "resume", "old"), 0);

	/* A second name lists alongside, sorted. */
	assert_int_equal(start_server(&second, &loop2, "alpha", &vm2), 0);
	/*
	 * Nobody runs alpha's loop, like a VM busy writing a snapshot: list waits
	 * 5 s for it, then shows it busy with the pid the kernel knows.
	 */
	assert_int_equal(CLIENT(out, err, "list"), 0);
	snprintf(want, sizeof(want), "\nalpha %ld busy\nold   %ld running\n", (long)getpid(), (long)getpid());
	assert_non_null(strstr(out, want));
	control_server_stop(&second);
	assert_int_equal(access(second.path, F_OK), -1);
	control_server_stop(&second); /* twice is fine */

	server_end(&sv);
	assert_int_equal(access(sock, F_OK), -1);
}

/*
 * Only a server replaces a stale socket: a client that fails to connect leaves
 * the file alone, or it could remove the live socket of a VM that replaced the
 * stale one between the client's connect and its unlink.
 */
static void test_clients_leave_stale_socket(void **state)
{
	struct env *e = *state;
	char out[4096], err[4096], sock[PATH_MAX], snapdir[PATH_MAX];
	struct stat before, after;
	static const char *const cmds[][3] = {
		{ "pause", "vm1", NULL }, { "resume", "vm1", NULL }, { "stop", "vm1", NULL },
		{ "snapshot", "vm1", NULL }, { "list", NULL, NULL },
	};

	assert_int_equal(control_socket_path("vm1", sock, sizeof(sock), true), 0);
	make_stale_socket(sock);
	assert_int_equal(lstat(sock, &before), 0);
	path_in(snapdir, sizeof(snapdir), e->tmp, "snap");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *dir = strcmp(cmds[i][0], "snapshot") == 0 ? snapdir : NULL;
		int want = strcmp(cmds[i][0], "list") == 0 ? 0 : 1;

		assert_int_equal(CLIENT(out, err, cmds[i][0], cmds[i][1], dir), want);
		if (lstat(sock, &after) < 0 || after.st_ino != before.st_ino || !S_ISSOCK(after.st_mode))
			fail_msg("'armvmm %s' removed or replaced the stale socket", cmds[i][0]);
	}
}

/* Stopping unlinks our socket only: not a file some later VM of that name put in its place. */
static void test_stop_leaves_a_successors_socket(void **state)
{
	(void)state;
	struct control_server a;
	struct eventloop loop = { 0 };
	struct fake_vm vm = { 0 };
	char path[PATH_MAX];
	struct stat st;

	assert_int_equal(start_server(&a, &loop, "vm1", &vm), 0);
	snprintf(path, sizeof(path), "%s", a.path);
	assert_int_equal(unlink(path), 0);
	make_stale_socket(path);
	control_server_stop(&a);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(a.listen_fd, -1);
}

/* A client refuses a runtime directory others could have tampered with. */
static void test_client_refuses_open_directory(void **state)
{
	struct env *e = *state;
	char out[4096], err[4096];

	assert_int_equal(mkdir(e->rundir, 0777), 0);
	assert_int_equal(chmod(e->rundir, 0777), 0);
	assert_int_equal(CLIENT(out, err, "list"), 1);
	assert_non_null(strstr(err, "is not private (mode 777"));
	assert_int_equal(CLIENT(out, err, "pause", "vm1"), 1);
	assert_non_null(strstr(err, "is not private (mode 777"));
	assert_string_equal(out, "");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_env, teardown_env)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_validation),
		T(test_runtime_dir_created_private),
		T(test_runtime_dir_refused_unless_private),
		T(test_runtime_dir_fallbacks),
		T(test_socket_path_too_long),
		cmocka_unit_test(test_handle_requests),
		cmocka_unit_test(test_handle_migrate),
		T(test_raw_socket_requests),
		T(test_client_commands),
		T(test_client_stop),
		T(test_server_names_and_stale_sockets),
		T(test_clients_leave_stale_socket),
		T(test_stop_leaves_a_successors_socket),
		T(test_client_refuses_open_directory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
