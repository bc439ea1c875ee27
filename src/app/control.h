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
 * The directory is the rest of the line, taken literally (it may hold spaces
 * or end in " stop"); "stop " before it ends the VM once it is written.
 * Errors: "error <one line>".
 */
#ifndef ARMVMM_CONTROL_H
#define ARMVMM_CONTROL_H

#include <limits.h>
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
/* NAME's socket path into buf, the directory as above; on the quiet -ENOENT buf still holds the path. */
int control_socket_path(const char *name, char *buf, size_t cap, bool create);

struct control_server {
	int listen_fd;		/* -1 when not listening */
	char path[PATH_MAX];
	dev_t sock_dev;		/* the socket file we bound: stop unlinks it only if it is still ours */
	ino_t sock_ino;
	const struct control_ops *ops;
	void *opaque;
};

/*
 * Listen on NAME's socket (refusing a name whose socket answers: a VM of that
 * name runs; replacing a stale one) and add it to loop; requests are handled
 * on the loop's thread. 0 or -errno after one error line.
 */
int control_server_start(struct control_server *s, struct eventloop *loop, const char *name,
			 const struct control_ops *ops, void *opaque);
/* Handle one request line (what a connection's callback does; exposed for tests). Writes the reply line. */
void control_server_handle(struct control_server *s, const char *request, char *reply, size_t cap);
void control_server_stop(struct control_server *s);	/* close and unlink */

/* "armvmm pause|resume|stop|list|snapshot ...": argv[0] is the command. Returns the exit status. */
int control_client_main(int argc, char **argv);

#endif
