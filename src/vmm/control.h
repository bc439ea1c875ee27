/*
 * The control socket: "armvmm run --name NAME" listens on
 * <runtime dir>/NAME.sock, and "armvmm pause|resume|stop|snapshot|list" talk
 * to it. The runtime directory is $XDG_RUNTIME_DIR/armvmm, or /tmp/armvmm-UID
 * without XDG_RUNTIME_DIR; it is created mode 0700 and refused when it is not
 * a directory owned by the caller with no group or other access. The server
 * also checks the peer's uid (SO_PEERCRED): only the VM's own user may talk to it.
 *
 * Protocol: one request line per connection, one reply line.
 *   status                  -> "ok <pid> running|paused"
 *   pause                   -> "ok paused in <ns> ns"
 *   resume                  -> "ok"
 *   stop                    -> "ok"
 *   snapshot <abs-dir> [stop] -> "ok <bytes of state> <bytes of memory data> <ns>"
 * Errors: "error <one line>".
 */
#ifndef ARMVMM_CONTROL_H
#define ARMVMM_CONTROL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define CONTROL_NAME_MAX 64u
#define CONTROL_LINE_MAX (PATH_MAX + 64u)

struct vm;

/* Names: 1..64 characters of [A-Za-z0-9._-], not starting with '.'. */
bool control_name_valid(const char *name);
/*
 * The runtime directory into buf; with create, make it (0700) when missing.
 * 0, or -errno after one error line (e.g. wrong mode or owner: -EPERM).
 */
int control_runtime_dir(char *buf, size_t cap, bool create);
int control_socket_path(const char *name, char *buf, size_t cap, bool create);

struct control_server {
	int listen_fd;		/* -1 when not listening */
	char path[PATH_MAX];
	struct vm *vm;
};

/*
 * Listen on NAME's socket (refusing a name whose socket answers: a VM of that
 * name runs) and add the socket to vm->loop; requests are handled on the main
 * thread. 0 or -errno after one error line.
 */
int control_server_start(struct control_server *s, struct vm *vm, const char *name);
void control_server_stop(struct control_server *s);	/* close and unlink */

/* "armvmm pause|resume|stop|list|snapshot ...": argv[0] is the command. Returns the exit status. */
int control_client_main(int argc, char **argv);

#endif
