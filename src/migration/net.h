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
	char scope_name[16];		/* an IPv6 link-local address's %INTERFACE, until mig_addr_resolve (IF_NAMESIZE) */
};

/* Parse an address. 0, or -EINVAL after one error line saying what is accepted. */
int mig_addr_parse(const char *s, struct mig_addr *a);

/* Look up a link-local address's interface name (a socket and an ioctl). 0, or -errno after one error line. */
int mig_addr_resolve(struct mig_addr *a);

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

/*
 * Frames gathered into large writes, and read back from large reads: a
 * migration's last round is thousands of single pages, and a system call
 * (and a wake-up of the other side) per page would make it many times slower
 * than the rounds before it. A frame larger than a quarter of the buffer
 * goes out on its own.
 */
#define MIG_IO_BUFFER (512u << 10)

struct mig_writer {
	int fd;
	uint8_t *buf;
	size_t len;
	int timeout_ms;		/* for each write that must wait */
};
/* 0, or -ENOMEM. */
int mig_writer_init(struct mig_writer *w, int fd, int timeout_ms);
/* Queue one frame (header and payload). 0 or -errno from a write (mig_send_iov's). */
int mig_writer_frame(struct mig_writer *w, uint32_t tag, uint32_t instance, const void *payload, size_t len);
int mig_writer_flush(struct mig_writer *w);
void mig_writer_free(struct mig_writer *w);

struct mig_reader {
	int fd;
	uint8_t *buf;
	size_t start, end;
	int timeout_ms;		/* for each read that must wait */
};
int mig_reader_init(struct mig_reader *r, int fd, int timeout_ms);
/*
 * Exactly len bytes, waiting at most timeout_ms for each read. 0, -ENODATA
 * (the peer closed before the first byte), -EPROTO (mid-way), -ETIMEDOUT, -errno.
 */
int mig_reader_read(struct mig_reader *r, void *dst, size_t len);
void mig_reader_free(struct mig_reader *r);

#endif
