/* Migration addresses, sockets and frame I/O (net.h). */
#include "migration/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "migration/stream.h"

static int bad_addr(const char *s, const char *why)
{
	pr_err("migration address '%s': %s (give unix:PATH, tcp:IPv4:PORT or tcp:[IPv6]:PORT)", s, why);
	return -EINVAL;
}

static int parse_port(const char *s, const char *port, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (!*port || *port < '0' || *port > '9')
		return bad_addr(s, "no port number");
	v = strtoul(port, &end, 10);
	if (*end || v == 0 || v > 65535)
		return bad_addr(s, "the port must be a number from 1 to 65535");
	*out = (uint16_t)v;
	return 0;
}

static int parse_tcp(const char *s, const char *rest, struct mig_addr *a)
{
	char host[MIG_ADDR_MAX];
	const char *port;
	uint16_t p;

	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		if (!close || close[1] != ':')
			return bad_addr(s, "an IPv6 address goes in brackets, then :PORT");
		snprintf(host, sizeof(host), "%.*s", (int)(close - rest - 1), rest + 1);
		port = close + 2;
		if (parse_port(s, port, &p) < 0)
			return -EINVAL;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;
		char *pct = strchr(host, '%');
		if (pct) {
			char *end;
			unsigned long v;

			*pct++ = 0;
			v = strtoul(pct, &end, 10);
			if (*pct >= '0' && *pct <= '9' && !*end && v && v <= UINT32_MAX) {
				in6->sin6_scope_id = (uint32_t)v;
			} else if (!*pct || strlen(pct) >= sizeof(a->scope_name) || strpbrk(pct, "/ \t")) {
				return bad_addr(s, "no network interface name or number after the %");
			} else {
				/*
				 * An interface name: looked up when the connection is made
				 * (mig_addr_resolve), by the thread that makes it; the
				 * sandboxed thread that parses opens no socket.
				 */
				snprintf(a->scope_name, sizeof(a->scope_name), "%s", pct);
			}
		}
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return bad_addr(s, "not a numeric IPv6 address");
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p);
		a->len = sizeof(*in6);
		return 0;
	}
	port = strrchr(rest, ':');
	if (!port)
		return bad_addr(s, "no :PORT");
	snprintf(host, sizeof(host), "%.*s", (int)(port - rest), rest);
	if (parse_port(s, port + 1, &p) < 0)
		return -EINVAL;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->sa;
	if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return bad_addr(s, strchr(host, ':') ? "an IPv6 address goes in brackets" : "not a numeric IPv4 address");
	in4->sin_family = AF_INET;
	in4->sin_port = htons(p);
	a->len = sizeof(*in4);
	return 0;
}

int mig_addr_parse(const char *s, struct mig_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (strlen(s) >= sizeof(a->text))
		return bad_addr(s, "too long");
	snprintf(a->text, sizeof(a->text), "%s", s);
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
		const char *path = s + 5;
		if (!*path)
			return bad_addr(s, "no socket path");
		if (strlen(path) >= sizeof(un->sun_path))
			return bad_addr(s, "the socket path is too long for a unix socket");
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, strlen(path) + 1);
		a->len = sizeof(*un);
		a->is_unix = true;
		return 0;
	}
	if (strncmp(s, "tcp:", 4) == 0)
		return parse_tcp(s, s + 4, a);
	return bad_addr(s, "unknown kind of address");
}

static const char *unix_path(const struct mig_addr *a)
{
	return ((const struct sockaddr_un *)&a->sa)->sun_path;
}

/* Wait for events on fd until deadline (ms, monotonic; 0: none). revents, or -ETIMEDOUT / -errno. */
static int wait_until(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int timeout = -1, n;

		if (deadline) {
			uint64_t now = clock_monotonic_ms();
			if (now >= deadline)
				return -ETIMEDOUT;
			timeout = deadline - now > 3600000 ? 3600000 : (int)(deadline - now);
		}
		n = poll(&p, 1, timeout);
		if (n > 0)
			return p.revents;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static uint64_t deadline_in(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : clock_monotonic_ms() + (uint64_t)timeout_ms;
}

static void tune(int fd, const struct mig_addr *a)
{
	int one = 1;

	/* The last frames before the VM runs again are small: no Nagle delay on them. */
	if (!a->is_unix)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int mig_addr_resolve(struct mig_addr *a)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;
	unsigned int idx;

	if (!a->scope_name[0] || in6->sin6_scope_id)
		return 0;
	idx = if_nametoindex(a->scope_name);
	if (!idx) {
		pr_err("migration address '%s': no network interface '%s' here", a->text, a->scope_name);
		return -ENODEV;
	}
	in6->sin6_scope_id = idx;
	return 0;
}

int mig_connect(const struct mig_addr *a, int timeout_ms)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0;

	if (fd < 0) {
		err = -errno;
		pr_err("cannot create a socket for %s: %s", a->text, strerror(-err));
		return err;
	}
	if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
		err = -errno;
		if (err == -EINPROGRESS || err == -EAGAIN) {
			int r = wait_until(fd, POLLOUT, deadline_in(timeout_ms));
			socklen_t len = sizeof(err);
			if (r < 0)
				err = r;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = -errno;
			else
				err = -err;
		}
	}
	if (err) {
		pr_err("cannot connect to %s: %s%s", a->text, strerror(-err),
		       err == -ECONNREFUSED || err == -ENOENT ? " (is 'armvmm restore --incoming' waiting there?)" : "");
		close(fd);
		return err;
	}
	tune(fd, a);
	return fd;
}

int mig_listen(const struct mig_addr *a)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err;

	if (fd < 0) {
		err = -errno;
		pr_err("cannot create a socket for %s: %s", a->text, strerror(-err));
		return err;
	}
	if (!a->is_unix)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* umask-free: the socket is ours alone before anyone can connect (a unix socket's mode is its file's). */
	if (a->is_unix && fchmod(fd, 0600) < 0)
		(void)0; /* Linux ignores fchmod on sockets; the chmod below is what counts */
	if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
		err = -errno;
		pr_err("cannot listen on %s: %s%s", a->text, strerror(-err),
		       err == -EADDRINUSE && a->is_unix ? " (the socket file exists: remove it if nobody listens there)" : "");
		close(fd);
		return err;
	}
	if ((a->is_unix && chmod(unix_path(a), 0600) < 0) || listen(fd, 1) < 0) {
		err = -errno;
		pr_err("cannot listen on %s: %s", a->text, strerror(-err));
		mig_unlisten(fd, a);
		return err;
	}
	return fd;
}

void mig_unlisten(int fd, const struct mig_addr *a)
{
	if (fd < 0)
		return;
	if (a->is_unix)
		unlink(unix_path(a));
	close(fd);
}

int mig_accept(int lfd, const struct mig_addr *a)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0) {
			int err = -errno;
			pr_err("waiting for a migration on %s failed: %s", a->text, strerror(-err));
			return err;
		}
		if (a->is_unix) {
			struct ucred cred;
			socklen_t len = sizeof(cred);
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid()) {
				pr_warn("%s: refused a connection from uid %u (only uid %u may migrate a VM here)", a->text,
					(unsigned int)cred.uid, (unsigned int)geteuid());
				close(fd);
				continue;
			}
		}
		tune(fd, a);
		return fd;
	}
}

int mig_send_iov(int fd, struct iovec *iov, int n, int timeout_ms)
{
	uint64_t deadline = deadline_in(timeout_ms);

	while (n > 0) {
		ssize_t k = sendmsg(fd, &(struct msghdr){ .msg_iov = iov, .msg_iovlen = (size_t)n },
				    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno != EAGAIN)
			return -errno;
		if (k < 0) {
			int r = wait_until(fd, POLLOUT | POLLIN, deadline);
			if (r < 0)
				return r;
			if (r & (POLLIN | POLLHUP))
				return -EAGAIN; /* the peer speaks first: a refusal, or it went away */
			continue;
		}
		size_t left = (size_t)k;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

int mig_send_frame(int fd, uint32_t tag, uint32_t instance, const void *payload, size_t len, int timeout_ms)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)payload, len } };

	mig_frame_header(hdr, tag, instance, payload, len);
	return mig_send_iov(fd, iov, len ? 2 : 1, timeout_ms);
}

/* --- buffered frames ------------------------------------------------------------------- */

int mig_writer_init(struct mig_writer *w, int fd, int timeout_ms)
{
	*w = (struct mig_writer){ .fd = fd, .timeout_ms = timeout_ms, .buf = malloc(MIG_IO_BUFFER) };
	return w->buf ? 0 : -ENOMEM;
}

int mig_writer_flush(struct mig_writer *w)
{
	struct iovec iov = { w->buf, w->len };
	int err = w->len ? mig_send_iov(w->fd, &iov, 1, w->timeout_ms) : 0;

	w->len = 0;
	return err;
}

int mig_writer_frame(struct mig_writer *w, uint32_t tag, uint32_t instance, const void *payload, size_t len)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE];
	int err;

	if (len > MIG_IO_BUFFER / 4) {
		err = mig_writer_flush(w);
		return err ? err : mig_send_frame(w->fd, tag, instance, payload, len, w->timeout_ms);
	}
	if (w->len + sizeof(hdr) + len > MIG_IO_BUFFER && (err = mig_writer_flush(w)))
		return err;
	mig_frame_header(hdr, tag, instance, payload, len);
	memcpy(w->buf + w->len, hdr, sizeof(hdr));
	memcpy(w->buf + w->len + sizeof(hdr), payload, len);
	w->len += sizeof(hdr) + len;
	return 0;
}

void mig_writer_free(struct mig_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = 0;
}

int mig_reader_init(struct mig_reader *r, int fd, int timeout_ms)
{
	*r = (struct mig_reader){ .fd = fd, .timeout_ms = timeout_ms, .buf = malloc(MIG_IO_BUFFER) };
	return r->buf ? 0 : -ENOMEM;
}

int mig_reader_read(struct mig_reader *r, void *dst, size_t len)
{
	uint8_t *out = dst;
	uint64_t deadline = deadline_in(r->timeout_ms);
	size_t got = 0;

	while (got < len) {
		if (r->start < r->end) {
			size_t n = r->end - r->start < len - got ? r->end - r->start : len - got;
			memcpy(out + got, r->buf + r->start, n);
			r->start += n;
			got += n;
			continue;
		}
		/* Big payloads straight to where they go; everything else through the buffer. */
		bool direct = len - got >= MIG_IO_BUFFER / 2;
		ssize_t k = recv(r->fd, direct ? out + got : r->buf, direct ? len - got : MIG_IO_BUFFER, MSG_DONTWAIT);
		if (k > 0) {
			if (direct) {
				got += (size_t)k;
			} else {
				r->start = 0;
				r->end = (size_t)k;
			}
			continue;
		}
		if (k == 0)
			return got ? -EPROTO : -ENODATA;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int w = wait_until(r->fd, POLLIN, deadline);
		if (w < 0)
			return w;
	}
	return 0;
}

void mig_reader_free(struct mig_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->start = r->end = 0;
}
