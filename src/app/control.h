/*
 * The control socket: "armvmm run --name NAME" listens on
 * <runtime dir>/NAME.sock, and "armvmm pause|resume|stop|snapshot|list" talk
 * to it. The runtime directory is $XDG_RUNTIME_DIR/armvmm, or /tmp/armvmm-UID
 * without XDG_RUNTIME_DIR; it is created mode 0700 and refused when it is not
 * a directory owned by the caller with no group or other access. The server
 * also checks the peer's uid (SO_PEERCRED): only the VM's own user may talk to it.
 *
 * Protocol: one request line per connection, one reply line.
 *   status                    -> "ok <pid> running|paused"
 *   pause                     -> "ok paused in <ns> ns"
 *   resume                    -> "ok"
 *   stop                      -> "ok"
 *   snapshot [stop ]<abs-dir> -> "ok <bytes of state> <bytes of memory data> <ns>"
 *   migrate [downtime <ms> ]<address>
 *                             -> "ok <rounds> <bytes sent> <downtime ns> <total ns>",
 *                                once the destination runs the VM (this one then ends)
 * The directory is the rest of the line, taken literally (it may hold spaces
 * or end in " stop"); "stop " before it ends the VM once it is written.
 * While a migration runs, pause, resume, snapshot and migrate are refused
 * (stop is not: it ends the VM and the migration with it).
 * Errors: "error <one line>".
 */
#ifndef ARMVMM_CONTROL_H
#define ARMVMM_CONTROL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot/snapshot.h"

#define CONTROL_NAME_MAX 64u
#define CONTROL_LINE_MAX (PATH_MAX + 64u)

struct eventloop;

/*
 * What the server (and a --script) asks of the VM: app/run.c implements these;
 * unit tests fake them. Main thread, but stop may be called from any thread.
 */
struct control_ops {
	bool (*is_paused)(void *opaque);
	/* 0 and the time from request to every vCPU out of KVM_RUN, or -errno. Pausing a paused VM is 0, ns 0. */
	int (*pause)(void *opaque, uint64_t *ns);
	int (*resume)(void *opaque);
	int (*stop)(void *opaque, int status);	/* ask the VM to end with this exit status; the reply goes out first */
	/*
	 * Save into dir (absolute, must not exist). The VM is paused for the save
	 * and afterwards is as it was (running or paused), or ends with stop.
	 * On failure -errno and a one-line reason in msg.
	 */
	int (*snapshot)(void *opaque, const char *dir, bool stop, struct control_snapshot_result *res,
			char *msg, size_t msg_cap);
	/*
	 * An MSI from DeviceID devid carrying event_id, as a device's write to the
	 * ITS's GITS_TRANSLATER (irqchip_signal_msi; a script's "msi"). 1 when the
	 * ITS translated it into an LPI, 0 when it dropped it, or -errno and a
	 * one-line reason in msg.
	 */
	int (*msi)(void *opaque, uint32_t devid, uint32_t event_id, char *msg, size_t msg_cap);
	/*
	 * Start migrating to addr (downtime_ms 0: the default target). 0 when it
	 * runs: the server's reply waits for control_server_migrated(); or
	 * -errno and a one-line reason in msg.
	 */
	int (*migrate)(void *opaque, const char *addr, unsigned int downtime_ms, char *msg, size_t msg_cap);
};

/* How a migration ended, for the deferred reply. */
struct control_migrate_result {
	unsigned int rounds;
	uint64_t bytes, downtime_ns, total_ns;
};

/* Names: 1..64 characters of [A-Za-z0-9._-], not starting with '.'. */
bool control_name_valid(const char *name);
/*
 * The runtime directory into buf; with create, make it (0700) when missing.
 * 0, or -errno after one error line (e.g. wrong mode or owner: -EPERM).
 * Without create, a missing directory is -ENOENT with no error line: no VM
 * has run yet, which the caller (a client) reports its own way.
 */
int control_runtime_dir(char *buf, size_t cap, bool create);
/*
 * The runtime directory user uid's VMs use, made (0700, handed to uid:gid
 * when that is not us) and checked: what --jail binds into the jail before
 * dropping to --uid. For another user it is always /tmp/armvmm-UID (our
 * XDG_RUNTIME_DIR is not theirs). 0, or -errno after one error line.
 */
int control_runtime_dir_for(char *buf, size_t cap, uid_t uid, gid_t gid);
/* NAME's socket path into buf, the directory as above; on the quiet -ENOENT buf still holds the path. */
int control_socket_path(const char *name, char *buf, size_t cap, bool create);

/*
 * The control thread: everything that reaches the VM from outside. It serves
 * the control socket (when the VM has a name), takes SIGINT/SIGTERM/SIGHUP
 * from a signalfd, and keeps a watchdog: once the VM was asked to stop, the
 * process ends within CONTROL_STOP_GRACE_MS whatever the main thread is
 * doing. "stop" is done on the control thread itself; every other request
 * is handed to the loop's (main) thread, and its answer, or a clear timeout
 * error, goes back to the client. So a VM whose main thread is busy or stuck
 * still answers, and still stops.
 */
#define CONTROL_STOP_GRACE_MS 10000	/* stop request to process exit, at the most */
#define CONTROL_TAKE_TIMEOUT_MS 10000	/* a request the main thread has not started by then is dropped */
#define CONTROL_RUN_TIMEOUT_MS 20000	/* a started request (but a snapshot) that takes longer is reported */

struct control_server_config {
	const char *name;		/* listen on NAME's socket; NULL: no socket (signals and watchdog only) */
	int signal_fd;			/* signalfd of the stop signals, or -1 */
	int stop_fd;			/* readable once the VM was asked to stop (the watchdog starts), or -1 */
	int (*exit_status)(void *opaque);	/* the status the watchdog exits with */
	const struct control_ops *ops;
	void *opaque;
};

enum control_req_state { CONTROL_REQ_IDLE, CONTROL_REQ_POSTED, CONTROL_REQ_RUNNING, CONTROL_REQ_DONE };

struct control_server {
	int listen_fd;		/* -1 when not listening */
	char path[PATH_MAX];
	dev_t sock_dev;		/* the socket file we bound: stop unlinks it only if it is still ours */
	ino_t sock_ino;
	const struct control_ops *ops;
	void *opaque;
	int signal_fd, stop_fd;
	int (*exit_status)(void *opaque);
	/* The control thread and its hand-over to the loop's thread. */
	pthread_t thread;
	bool thread_started;
	int quit_fd;		/* eventfd: the owner asks the control thread to leave */
	int req_fd;		/* eventfd in the loop: a request is posted */
	int reply_fd;		/* eventfd for the control thread: the request is done */
	pthread_mutex_t lock;	/* guards the request below */
	enum control_req_state req_state;
	uint64_t req_seq;	/* which request the state and reply belong to */
	char request[CONTROL_LINE_MAX + 1];
	char reply[CONTROL_LINE_MAX];
	/* A migration runs (under lock): its request stays pending until control_server_migrated. */
	bool migrating;
};

/*
 * Start the control thread as cfg says: listen on NAME's socket (refusing a
 * name whose socket answers: a VM of that name runs; replacing a stale one),
 * the hand-over's eventfd in loop. 0 or -errno after one error line.
 */
int control_server_start(struct control_server *s, struct eventloop *loop, const struct control_server_config *cfg);
/* Stop the control thread, then close and unlink the socket. Safe to call twice or without start. */
void control_server_stop(struct control_server *s);
/*
 * Handle one request line on the loop's thread (what a posted request runs;
 * exposed for tests). Writes the reply line and returns 0, or returns
 * CONTROL_DEFERRED (reply empty) for a migration that started: its reply
 * comes with control_server_migrated.
 */
#define CONTROL_DEFERRED 1
int control_server_handle(struct control_server *s, const char *request, char *reply, size_t cap);
/* The migration ended (result 0: the VM moved): the waiting client gets its reply. */
void control_server_migrated(struct control_server *s, int result, const struct control_migrate_result *r,
			     const char *msg);

/* "armvmm pause|resume|stop|list|snapshot ...": argv[0] is the command. Returns the exit status. */
int control_client_main(int argc, char **argv);

#endif
