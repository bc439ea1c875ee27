/*
 * Private to the control socket code (control*.c): what the server
 * (control_server.c) and the client (control_client.c) share from control.c.
 */
#ifndef ARMVMM_CONTROL_INTERNAL_H
#define ARMVMM_CONTROL_INTERNAL_H

#include <stddef.h>
#include <sys/un.h>

#define SUN_PATH_CAP sizeof(((struct sockaddr_un *)0)->sun_path)

/*
 * dir/name.sock into buf; it must fit a sockaddr_un, as must the server's
 * temporary name in dir. 0, or -ENAMETOOLONG after one error line.
 */
int control_socket_path_in(const char *dir, const char *name, char *buf, size_t cap);
/*
 * Read one line (up to and without its '\n', NUL-terminated; cap counts the
 * '\n' and the NUL) within timeout_ms (-1: no limit). Returns its length,
 * -ENODATA on end of file before any byte, -EPROTO on end of file
 * mid-line, -EMSGSIZE when no '\n' comes within cap - 1 bytes, -ETIMEDOUT.
 */
int control_read_line(int fd, char *buf, size_t cap, int timeout_ms);
/* Send the whole line plus '\n' within timeout_ms (-1: no limit). 0 or -errno. */
int control_write_line(int fd, const char *line, int timeout_ms);
/* An AF_UNIX address for path (from control_socket_path_in, so it fits). */
void control_fill_addr(struct sockaddr_un *addr, const char *path);
/*
 * Connect to path without ever waiting: a listener with a full backlog says
 * EAGAIN, which still means someone is listening. Returns a connected fd, or
 * -errno (-ENOENT: no socket file; -ECONNREFUSED: nobody listens, a stale
 * file; -EAGAIN: busy).
 */
int control_connect_now(const char *path);

/* What is at a socket path, found by connecting without waiting and hanging up. */
enum control_probe {
	CONTROL_LISTENING,	/* a server accepts, or its backlog is full */
	CONTROL_NO_SOCKET,	/* no file */
	CONTROL_STALE_SOCKET,	/* a socket file nobody listens on: its VM did not end cleanly */
};
/* A CONTROL_* above, or -errno when it cannot tell. */
int control_probe(const char *path);

#endif
