/*
 * mig-proxy: stands between a migrating armvmm and its destination, so the
 * system tests can spoil a real migration stream in flight, as a broken
 * network or another host would, without a second host.
 *   mig-proxy LISTEN-SOCKET DESTINATION-SOCKET flip OFFSET
 *       forward everything, with the byte at OFFSET of the source's stream flipped
 *   mig-proxy LISTEN-SOCKET DESTINATION-SOCKET irqchip TYPE
 *       rewrite the greeting's irqchip type (its frame checksum fixed): the
 *       destination must then provide an interrupt controller it may lack
 *   mig-proxy LISTEN-SOCKET DESTINATION-SOCKET flip-frame TAG
 *       forward everything, with a payload byte of the first frame tagged TAG
 *       (four characters, e.g. VCPU: a state section, sent once the source has
 *       paused the VM and let go of its disks) flipped
 *   mig-proxy LISTEN-SOCKET DESTINATION-SOCKET hold OFFSET
 *       forward the source's first OFFSET bytes, say "holding" on stderr and
 *       forward no more, so the test can kill the destination mid-stream
 *       whatever the speed of the host
 * Both are unix socket paths; one connection is served, then the proxy exits
 * (when the destination hangs up, so does the source's connection).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#define HEADER 24	/* frame header: tag, instance, length (u64), crc, reserved */
#define HELLO_IRQCHIP 24	/* in the greeting's payload */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -1;
	strcpy(a->sun_path, path);
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Frame boundaries in the source's stream: the header being read, and the payload bytes left. */
struct frames {
	uint8_t hdr[HEADER];
	size_t have;		/* header bytes seen */
	uint64_t left;		/* payload bytes to go */
	int done;		/* the frame was found and spoiled */
};

/* Walk n bytes of the stream; flip the first payload byte of the first frame tagged tag. */
static void flip_in_frame(struct frames *f, const char *tag, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && !f->done; i++) {
		if (f->left) {
			f->left--;
			continue;
		}
		f->hdr[f->have++] = p[i];
		if (f->have < HEADER)
			continue;
		f->have = 0;
		f->left = 0;
		for (int k = 7; k >= 0; k--)
			f->left = f->left << 8 | f->hdr[8 + k];
		if (memcmp(f->hdr, tag, 4) == 0 && f->left && i + 1 < n) {
			p[i + 1] ^= 0x40;
			f->done = 1;
		} else if (memcmp(f->hdr, tag, 4) == 0 && f->left) {
			f->done = 2; /* the payload starts in the next read */
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un la, da;
	uint64_t flip = UINT64_MAX, hold = UINT64_MAX, seen = 0;
	char flip_tag[4] = { 0 };
	struct frames fr = { 0 };
	long irqchip = -1;
	uint8_t buf[65536];
	int lfd, src, dst;

	if (argc != 5 || unix_addr(argv[1], &la) || unix_addr(argv[2], &da)) {
		fprintf(stderr, "usage: mig-proxy LISTEN-SOCKET DESTINATION-SOCKET flip OFFSET|flip-frame TAG|irqchip TYPE|hold OFFSET\n");
		return 2;
	}
	if (strcmp(argv[3], "flip") == 0)
		flip = strtoull(argv[4], NULL, 0);
	else if (strcmp(argv[3], "irqchip") == 0)
		irqchip = strtol(argv[4], NULL, 0);
	else if (strcmp(argv[3], "hold") == 0)
		hold = strtoull(argv[4], NULL, 0);
	else if (strcmp(argv[3], "flip-frame") == 0 && strlen(argv[4]) == 4)
		memcpy(flip_tag, argv[4], 4);
	else
		return 2;
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(lfd, 1) < 0) {
		perror("mig-proxy: listen");
		return 1;
	}
	src = accept(lfd, NULL, NULL);
	close(lfd);
	unlink(argv[1]);
	dst = socket(AF_UNIX, SOCK_STREAM, 0);
	if (src < 0 || dst < 0 || connect(dst, (struct sockaddr *)&da, sizeof(da)) < 0) {
		perror("mig-proxy: connect");
		return 1;
	}
	if (irqchip >= 0) {
		/* The greeting is the stream's first frame: rewrite its irqchip type, fix its CRC. */
		uint8_t hello[HEADER + 48];
		size_t got = 0;
		while (got < sizeof(hello)) {
			ssize_t k = recv(src, hello + got, sizeof(hello) - got, 0);
			if (k <= 0)
				return 1;
			got += (size_t)k;
		}
		put32(hello + HEADER + HELLO_IRQCHIP, (uint32_t)irqchip);
		put32(hello + 16, (uint32_t)crc32(0, hello + HEADER, 48));
		if (write_all(dst, hello, sizeof(hello)) < 0)
			return 1;
		seen = sizeof(hello);
	}
	/* Until the destination hangs up: the source may go first (after its last frame). */
	for (int src_open = 1;;) {
		int reading = src_open && seen < hold;
		struct pollfd p[2] = { { .fd = reading ? src : -1, .events = POLLIN }, { .fd = dst, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			size_t want = sizeof(buf);
			if (i == 0 && hold - seen < want)
				want = (size_t)(hold - seen);
			ssize_t k = recv(p[i].fd, buf, want, 0);
			if (k <= 0 && i == 0) {
				shutdown(dst, SHUT_WR);
				src_open = 0;
				continue;
			}
			if (k <= 0)
				return 0;
			if (i == 0 && flip >= seen && flip < seen + (uint64_t)k)
				buf[flip - seen] ^= 0x40;
			if (i == 0 && fr.done == 2) {
				buf[0] ^= 0x40;
				fr.done = 1;
			} else if (i == 0 && flip_tag[0]) {
				flip_in_frame(&fr, flip_tag, buf, (size_t)k);
			}
			if (i == 0)
				seen += (uint64_t)k;
			if (write_all(i ? src : dst, buf, (size_t)k) < 0 && i == 0)
				return 0;
			if (i == 0 && seen == hold) {
				fprintf(stderr, "holding\n");
				fflush(stderr);
			}
		}
	}
}
