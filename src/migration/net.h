/*
 * Where a migration goes and how its bytes travel: "unix:PATH" or
 * "tcp:HOST:PORT" (HOST a numeric IPv4 address, or an IPv6 one in brackets
 * with an optional %interface for link-local addresses, e.g.
 * tcp:[fe80::1%veth0]:4444), sockets that wait for exactly one peer, and
 * whole frames sent and received within a time limit.
 */
#ifndef ARMVMM_MIGRATION_NET_H
#define ARMVMM_MIGRATION_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MIG_ADDR_MAX 256u

struct mig_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	bool is_unix;
	char text[MIG_ADDR_MAX];	/* as the user wrote it, for messages */
};

/* Parse an address. 0, or -EINVAL after one error line saying what is accepted. */
int mig_addr_parse(const char *s, struct mig_addr *a);

/* Connect, waiting at most timeout_ms. A connected fd, or -errno after one error line. */
int mig_connect(const struct mig_addr *a, int timeout_ms);
/*
 * Listen on a (a unix socket path must not exist yet; it is created mode
 * 0600). fd, or -errno after one error line. mig_unlisten closes it and
 * removes the unix socket file.
 */
int mig_listen(const struct mig_addr *a);
void mig_unlisten(int fd, const struct mig_addr *a);
/*
 * Wait for one peer (no time limit). On a unix socket only the same user is
 * taken; anyone else is told no and waited past. Connected fd, or -errno
 * after one error line.
 */
int mig_accept(int lfd, const struct mig_addr *a);

/*
 * Send all of iov within timeout_ms (-1: no limit). When the peer has
 * something to say meanwhile (a refusal), -EAGAIN is returned at once so
 * the caller can read it. 0 or -errno (no message).
 */
struct iovec;
int mig_send_iov(int fd, struct iovec *iov, int n, int timeout_ms);
/* One frame: header and payload. 0 or -errno (no message). */
int mig_send_frame(int fd, uint32_t tag, uint32_t instance, const void *payload, size_t len, int timeout_ms);
/* Exactly len bytes within timeout_ms. 0, -ENODATA (the peer closed before the first byte), -EPROTO (mid-way), -ETIMEDOUT, -errno. */
int mig_recv_exact(int fd, void *buf, size_t len, int timeout_ms);

#endif
