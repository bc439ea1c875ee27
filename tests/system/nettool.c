/*
 * nettool: the network test tool of the system tests and benchmarks, static,
 * for the nested host and the guest alike (busybox has no AF_VSOCK and no
 * checked bulk transfer).
 *
 *   nettool serve [PORT]                 servers on TCP PORT (default 5001),
 *                                        UDP PORT+1 and vsock port PORT+2
 *   nettool send ADDR PORT BYTES SEED    send BYTES to the server, which checks them
 *   nettool fetch ADDR PORT BYTES SEED   have the server send BYTES, check them here
 *   nettool udp ADDR PORT SIZE SECONDS   datagrams of SIZE bytes for SECONDS; the rate that arrived
 *   nettool vsock-echo CID PORT TEXT [WAIT]
 *                                        TEXT to the vsock echo server, its answer back
 *   nettool vsock-hold CID PORT SECONDS  one connection to the echo server, a byte echoed every
 *                                        0.2 s, until it drops (status 0: "dropped") or SECONDS
 *                                        pass (status 1: it is still open)
 *   nettool inject IFACE DST-MAC SIZE COUNT INTERVAL-MS
 *                                        raw Ethernet frames of SIZE bytes (ethertype
 *                                        0x88b5, payload "armvmm-net-test N ...") on IFACE
 *   nettool capture IFACE SECONDS        print the payload's first word of every 0x88b5
 *                                        frame arriving on IFACE ("frame: WORD LEN")
 *
 * ADDR is an IPv4 or IPv6 address, a link-local one with %IFACE. The bytes
 * are a pseudo-random stream from SEED, so each side checks every byte it
 * receives against the stream and both sides print the stream's CRC-32: a
 * transfer passes when the receiver saw exactly the stream and the two CRCs
 * agree. Figures (MiB/s, packets/s) are printed for the benchmarks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include <linux/vm_sockets.h>
#include <net/ethernet.h>

#define MAGIC 0x4e455454u	/* "NETT" */
#define OP_SINK 1u		/* the client sends, the server checks */
#define OP_SOURCE 2u		/* the server sends, the client checks */
#define CHUNK 65536u

struct request {
	uint32_t magic, op;
	uint64_t bytes, seed;
};

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* The stream: xorshift64* from seed, 8 bytes per step. */
struct stream {
	uint64_t state;
	uint64_t pos;
};

static void stream_init(struct stream *s, uint64_t seed)
{
	s->state = seed * 0x9e3779b97f4a7c15ull + 1;
	s->pos = 0;
}

/* n is a multiple of 8 except for the stream's last piece. */
static void stream_fill(struct stream *s, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		s->state ^= s->state >> 12;
		s->state ^= s->state << 25;
		s->state ^= s->state >> 27;
		uint64_t v = s->state * 0x2545f4914f6cdd1dull;
		memcpy(buf + i, &v, n - i < 8 ? n - i : 8);
	}
	s->pos += n;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes (0), or fewer at end of stream (-1). */
static int read_all(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* "fe80::1%eth0", "10.0.0.1": a socket address for port. */
static int parse_addr(const char *arg, unsigned int port, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	char *pct;

	snprintf(host, sizeof(host), "%s", arg);
	memset(ss, 0, sizeof(*ss));
	pct = strchr(host, '%');
	if (pct)
		*pct++ = '\0';
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (pct && !(a6->sin6_scope_id = if_nametoindex(pct))) {
			fprintf(stderr, "nettool: no interface '%s'\n", pct);
			return -1;
		}
		*len = sizeof(*a6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	fprintf(stderr, "nettool: '%s' is no IPv4 or IPv6 address\n", arg);
	return -1;
}

/* No transfer waits forever: a peer that went away fails the transfer after 60 s of silence. */
static void io_timeouts(int fd)
{
	struct timeval tv = { 60, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int tcp_connect(const char *addr, unsigned int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (parse_addr(addr, port, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	/* The server may still be starting: try for 20 s. */
	for (int i = 0; fd >= 0 && i < 100; i++) {
		if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
			io_timeouts(fd);
			return fd;
		}
		if (errno != ECONNREFUSED && errno != ENETUNREACH && errno != EHOSTUNREACH && errno != EADDRNOTAVAIL)
			break;
		usleep(200000);
	}
	fprintf(stderr, "nettool: cannot connect to %s port %u: %s\n", addr, port, strerror(errno));
	return -1;
}

/* Send bytes of the stream; returns its CRC. */
static int send_stream(int fd, uint64_t bytes, uint64_t seed, uint32_t *crc)
{
	static uint8_t buf[CHUNK];
	struct stream s;

	stream_init(&s, seed);
	*crc = 0;
	while (s.pos < bytes) {
		size_t n = bytes - s.pos < CHUNK ? (size_t)(bytes - s.pos) : CHUNK;
		stream_fill(&s, buf, n);
		*crc = crc32_update(*crc, buf, n);
		if (write_all(fd, buf, n) < 0)
			return -1;
	}
	return 0;
}

/*
 * Receive bytes and check them against the stream. Returns 0 when every byte
 * matched; *got and *crc say what arrived.
 */
static int check_stream(int fd, uint64_t bytes, uint64_t seed, uint64_t *got, uint32_t *crc)
{
	static uint8_t buf[CHUNK], want[CHUNK];
	struct stream s;
	int bad = 0;

	stream_init(&s, seed);
	*got = 0;
	*crc = 0;
	while (*got < bytes) {
		size_t n = bytes - *got < CHUNK ? (size_t)(bytes - *got) : CHUNK;
		ssize_t r = read(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		*crc = crc32_update(*crc, buf, (size_t)r);
		/* Compare piece by piece against the stream, generated CHUNK bytes at a time. */
		for (size_t done = 0; done < (size_t)r;) {
			size_t off = (size_t)(*got % CHUNK), take;
			if (off == 0)
				stream_fill(&s, want, bytes - *got < CHUNK ? (size_t)(bytes - *got) : CHUNK);
			take = (size_t)r - done < CHUNK - off ? (size_t)r - done : CHUNK - off;
			if (!bad && memcmp(buf + done, want + off, take)) {
				printf("nettool: MISMATCH near byte %llu\n", (unsigned long long)*got);
				bad = 1;
			}
			done += take;
			*got += take;
		}
	}
	return bad ? -1 : 0;
}

/* --- servers ----------------------------------------------------------------------- */

static void serve_tcp_client(int c)
{
	struct request rq;
	uint32_t crc;
	uint64_t got;

	if (read_all(c, &rq, sizeof(rq)) < 0 || rq.magic != MAGIC)
		return;
	if (rq.op == OP_SINK) {
		int ok = check_stream(c, rq.bytes, rq.seed, &got, &crc);
		printf("nettool: received %llu bytes crc=%08x %s\n", (unsigned long long)got, crc, ok == 0 ? "ok" : "BAD");
		fflush(stdout);
		write_all(c, &crc, sizeof(crc));
	} else if (rq.op == OP_SOURCE) {
		if (send_stream(c, rq.bytes, rq.seed, &crc) == 0)
			printf("nettool: sent %llu bytes crc=%08x\n", (unsigned long long)rq.bytes, crc);
		else
			printf("nettool: sending %llu bytes FAILED: %s\n", (unsigned long long)rq.bytes, strerror(errno));
		fflush(stdout);
	}
}

static int listen_on(int family, int type, const struct sockaddr *sa, socklen_t len)
{
	int one = 1, fd = socket(family, type, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, len) < 0 || (type == SOCK_STREAM && listen(fd, 4) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void serve_tcp(unsigned int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any };
	int l = listen_on(AF_INET6, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a));

	if (l < 0) {
		printf("nettool: cannot listen on TCP port %u: %s\n", port, strerror(errno));
		exit(1);
	}
	/*
	 * A process per client: the tests run transfers on two NICs at once, and
	 * one served after the other would outlast the waiting client's timeout.
	 */
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(l);
			io_timeouts(c);
			serve_tcp_client(c);
			_exit(0);
		}
		close(c);
	}
}

/* UDP: count datagrams; "END" answers with the count since the last "END" and starts again. */
static void serve_udp(unsigned int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any };
	int fd = listen_on(AF_INET6, SOCK_DGRAM, (struct sockaddr *)&a, sizeof(a));
	uint64_t count = 0;
	static uint8_t buf[65536];

	if (fd < 0)
		exit(1);
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (r == 3 && !memcmp(buf, "END", 3)) {
			sendto(fd, &count, sizeof(count), 0, (struct sockaddr *)&from, fl);
			count = 0;
		} else if (r > 0) {
			count++;
		}
	}
}

static void serve_vsock(unsigned int port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_port = port, .svm_cid = VMADDR_CID_ANY };
	int l = listen_on(AF_VSOCK, SOCK_STREAM, (struct sockaddr *)&a, sizeof(a));
	char buf[4096];

	if (l < 0) {
		printf("nettool: cannot listen on vsock port %u: %s\n", port, strerror(errno));
		exit(1);
	}
	printf("nettool: vsock echo on port %u\n", port);
	fflush(stdout);
	for (;;) {
		int c = accept(l, NULL, NULL);
		ssize_t r;
		if (c < 0)
			continue;
		while ((r = read(c, buf, sizeof(buf))) > 0)
			if (write_all(c, buf, (size_t)r) < 0)
				break;
		close(c);
	}
}

static int cmd_serve(unsigned int port)
{
	void (*servers[])(unsigned int) = { serve_tcp, serve_udp, serve_vsock };

	signal(SIGCHLD, SIG_IGN);
	/* A client that gave up must not end a server: writes to it fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	for (unsigned int i = 0; i < 3; i++) {
		if (fork() == 0) {
			servers[i](port + i);
			_exit(0);
		}
	}
	printf("nettool: serving on TCP port %u, UDP port %u, vsock port %u\n", port, port + 1, port + 2);
	return 0;
}

/* --- clients ----------------------------------------------------------------------- */

static int cmd_send(const char *addr, unsigned int port, uint64_t bytes, uint64_t seed)
{
	struct request rq = { MAGIC, OP_SINK, bytes, seed };
	uint32_t crc, peer = 0;
	int fd = tcp_connect(addr, port);
	double t0 = now(), dt;

	if (fd < 0 || write_all(fd, &rq, sizeof(rq)) < 0 || send_stream(fd, bytes, seed, &crc) < 0) {
		printf("nettool: send to %s FAILED: %s\n", addr, strerror(errno));
		return 1;
	}
	shutdown(fd, SHUT_WR);
	if (read_all(fd, &peer, sizeof(peer)) < 0) {
		printf("nettool: send to %s: no checksum came back\n", addr);
		return 1;
	}
	dt = now() - t0;
	printf("nettool: sent %llu bytes crc=%08x peer-crc=%08x %s in %.2f s (%.1f MiB/s)\n", (unsigned long long)bytes,
	       crc, peer, crc == peer ? "match" : "DIFFER", dt, (double)bytes / 1048576.0 / dt);
	return crc == peer ? 0 : 1;
}

static int cmd_fetch(const char *addr, unsigned int port, uint64_t bytes, uint64_t seed)
{
	struct request rq = { MAGIC, OP_SOURCE, bytes, seed };
	uint32_t crc, want;
	uint64_t got;
	struct stream s;
	int fd = tcp_connect(addr, port);
	double t0 = now(), dt;
	int ok;

	if (fd < 0 || write_all(fd, &rq, sizeof(rq)) < 0) {
		printf("nettool: fetch from %s FAILED: %s\n", addr, strerror(errno));
		return 1;
	}
	ok = check_stream(fd, bytes, seed, &got, &crc);
	dt = now() - t0;
	/* The CRC the sender printed: the same stream, computed here. */
	{
		static uint8_t buf[CHUNK];
		stream_init(&s, seed);
		want = 0;
		while (s.pos < bytes) {
			size_t n = bytes - s.pos < CHUNK ? (size_t)(bytes - s.pos) : CHUNK;
			stream_fill(&s, buf, n);
			want = crc32_update(want, buf, n);
		}
	}
	printf("nettool: fetched %llu of %llu bytes crc=%08x expected=%08x %s in %.2f s (%.1f MiB/s)\n",
	       (unsigned long long)got, (unsigned long long)bytes, crc, want,
	       ok == 0 && crc == want ? "match" : "DIFFER", dt, (double)got / 1048576.0 / dt);
	return ok == 0 && crc == want ? 0 : 1;
}

static int cmd_udp(const char *addr, unsigned int port, unsigned int size, double seconds)
{
	struct sockaddr_storage ss;
	socklen_t len;
	static uint8_t buf[65536];
	uint64_t sent = 0, got = 0;
	struct timeval tv = { 1, 0 };
	int fd;

	if (parse_addr(addr, port, &ss, &len) < 0 || size < 4 || size > sizeof(buf))
		return 2;
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0)
		return 1;
	memset(buf, 'x', size);
	double t0 = now(), t1 = t0 + seconds, t;
	do {
		for (int i = 0; i < 64; i++)
			if (send(fd, buf, size, 0) == (ssize_t)size)
				sent++;
		t = now();
	} while (t < t1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 5; i++) {
		usleep(200000);
		if (send(fd, "END", 3, 0) == 3 && recv(fd, &got, sizeof(got), 0) == sizeof(got))
			break;
	}
	printf("nettool: udp %u-byte datagrams for %.1f s: sent %llu (%.0f/s), received %llu (%.0f/s)\n", size, t - t0,
	       (unsigned long long)sent, (double)sent / (t - t0), (unsigned long long)got, (double)got / (t - t0));
	return got ? 0 : 1;
}

/* A connection to CID:PORT, tried every 0.2 s for wait_s seconds; -1 after one line. */
static int vsock_connect(unsigned int cid, unsigned int port, int wait_s)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_port = port, .svm_cid = cid };
	int fd = -1;

	for (int i = 0; i <= wait_s * 5; i++) {
		fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0) {
			printf("nettool: no AF_VSOCK here: %s\n", strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		fd = -1;
		usleep(200000);
	}
	printf("nettool: vsock connect to CID %u port %u FAILED: %s\n", cid, port, strerror(errno));
	return -1;
}

static int cmd_vsock_echo(unsigned int cid, unsigned int port, const char *text, int wait_s)
{
	char buf[4096];
	size_t n = strlen(text), got = 0;
	int fd = vsock_connect(cid, port, wait_s);

	if (fd < 0)
		return 1;
	if (write_all(fd, text, n) < 0)
		return 1;
	shutdown(fd, SHUT_WR);
	while (got < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	printf("nettool: vsock echo from CID %u: %s\n", cid, buf);
	return got == n && !memcmp(buf, text, n) ? 0 : 1;
}

/*
 * A connection that must drop when the VM moves (a restore or migration: the
 * guest's transport is reset, the host's side goes with the old vhost device).
 * A byte goes out and must come back every 0.2 s: a connection the guest no
 * longer knows is answered with a reset even when the host side lingers.
 */
static int cmd_vsock_hold(unsigned int cid, unsigned int port, double seconds)
{
	struct timeval tv = { 5, 0 };
	double t0 = now(), opened = 0;
	int fd = vsock_connect(cid, port, 20);

	if (fd < 0)
		return 1;
	/* The echo of a byte takes at most 5 s while the VM runs; longer is a drop too (the VM is gone). */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	signal(SIGPIPE, SIG_IGN);
	while (now() - t0 < seconds) {
		char c = 'h';
		ssize_t r = write(fd, &c, 1);
		if (r == 1)
			r = read(fd, &c, 1);
		if (r != 1) {
			/* Paused VMs (a snapshot, a migration's stop) answer late: only a real error or EOF is a drop. */
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && opened)
				continue;
			printf("nettool: vsock connection to CID %u port %u dropped after %.1f s open: %s\n", cid, port,
			       now() - opened, r == 0 ? "closed by the peer" : strerror(errno));
			return opened ? 0 : 1;
		}
		if (!opened) {
			opened = now();
			printf("nettool: vsock connection to CID %u port %u open\n", cid, port);
		}
		usleep(200000);
	}
	printf("nettool: vsock connection to CID %u port %u still open after %.0f s\n", cid, port, seconds);
	return 1;
}

/* --- raw frames (the hostile-guest test) ------------------------------------------------ */

#define TEST_ETHERTYPE 0x88b5	/* IEEE 802 local experimental */

static int packet_socket(const char *iface, struct sockaddr_ll *ll)
{
	int fd = socket(AF_PACKET, SOCK_RAW, htons(TEST_ETHERTYPE));

	memset(ll, 0, sizeof(*ll));
	ll->sll_family = AF_PACKET;
	ll->sll_protocol = htons(TEST_ETHERTYPE);
	ll->sll_ifindex = (int)if_nametoindex(iface);
	if (fd < 0 || !ll->sll_ifindex || bind(fd, (struct sockaddr *)ll, sizeof(*ll)) < 0) {
		printf("nettool: no packet socket on %s: %s\n", iface, strerror(errno));
		return -1;
	}
	return fd;
}

static int cmd_inject(const char *iface, const char *mac, unsigned int size, unsigned int count, unsigned int ms)
{
	static uint8_t f[9000];
	struct sockaddr_ll ll;
	unsigned int m[6];
	int fd = packet_socket(iface, &ll);

	if (fd < 0 || size < 60 || size > sizeof(f) ||
	    sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return 2;
	for (int i = 0; i < 6; i++)
		f[i] = (uint8_t)m[i];
	memset(f + 6, 0x02, 6);
	f[12] = TEST_ETHERTYPE >> 8;
	f[13] = TEST_ETHERTYPE & 0xff;
	for (unsigned int n = 0; n < count; n++) {
		memset(f + 14, 'p', size - 14);
		int l = snprintf((char *)f + 14, size - 14, "armvmm-net-test %u size %u", n, size);
		f[14 + l] = ' ';
		if (send(fd, f, size, 0) != (ssize_t)size)
			printf("nettool: inject: %s\n", strerror(errno));
		usleep(ms * 1000);
	}
	return 0;
}

static int cmd_capture(const char *iface, double seconds)
{
	static uint8_t f[65536];
	struct sockaddr_ll ll;
	struct timeval tv = { 0, 200000 };
	int fd = packet_socket(iface, &ll);
	double t1 = now() + seconds;

	if (fd < 0)
		return 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (now() < t1) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(fd, f, sizeof(f) - 1, 0, (struct sockaddr *)&from, &fl);
		if (r < 14 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		f[r] = 0;
		char word[64] = "";
		sscanf((char *)f + 14, "%63s", word);
		printf("frame: %s %zd\n", word, r);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	crc_init();
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		return cmd_serve(argc > 2 ? (unsigned int)atoi(argv[2]) : 5001);
	if (argc == 6 && !strcmp(argv[1], "send"))
		return cmd_send(argv[2], (unsigned int)atoi(argv[3]), strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0));
	if (argc == 6 && !strcmp(argv[1], "fetch"))
		return cmd_fetch(argv[2], (unsigned int)atoi(argv[3]), strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0));
	if (argc == 6 && !strcmp(argv[1], "udp"))
		return cmd_udp(argv[2], (unsigned int)atoi(argv[3]), (unsigned int)atoi(argv[4]), atof(argv[5]));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "vsock-echo"))
		return cmd_vsock_echo((unsigned int)strtoul(argv[2], NULL, 0), (unsigned int)atoi(argv[3]), argv[4],
				      argc == 6 ? atoi(argv[5]) : 0);
	if (argc == 5 && !strcmp(argv[1], "vsock-hold"))
		return cmd_vsock_hold((unsigned int)strtoul(argv[2], NULL, 0), (unsigned int)atoi(argv[3]), atof(argv[4]));
	if (argc == 7 && !strcmp(argv[1], "inject"))
		return cmd_inject(argv[2], argv[3], (unsigned int)atoi(argv[4]), (unsigned int)atoi(argv[5]),
				  (unsigned int)atoi(argv[6]));
	if (argc == 4 && !strcmp(argv[1], "capture"))
		return cmd_capture(argv[2], atof(argv[3]));
	fprintf(stderr, "usage: nettool serve [PORT] | send|fetch ADDR PORT BYTES SEED | udp ADDR PORT SIZE SECONDS |\n"
			"       vsock-echo CID PORT TEXT [WAIT-SECONDS] | vsock-hold CID PORT SECONDS |\n"
			"       inject IFACE DST-MAC SIZE COUNT MS |\n"
			"       capture IFACE SECONDS\n");
	return 2;
}
