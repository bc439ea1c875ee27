/*
 * libFuzzer target: the virtio-net transmit parser (devices/net_packet.c) on
 * a hostile driver's chains. Input: the negotiated features (8 bytes), a
 * buffer count (1 byte), per buffer a flags byte (bit 0: device-writable) and
 * a 24-bit length (up to 80000: frames past the 65550-byte limit are
 * reachable), then bytes that start every buffer (zeros after them). Every
 * buffer is an exact-size heap allocation, so one byte too far is an ASan
 * report. After each verdict the rules are restated here and checked: an
 * accepted chain is a frame the tap may take, and the iovecs built for it
 * cover exactly the checked header and the frame.
 */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/net_packet.h"

#define MAX_BUFS 16u
#define MAX_LEN 80000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		(void)what; /* a broken rule: stop here, with the input */
		abort();
	}
}

/* The rules of 5.1.6.2 as armvmm applies them, said again independently. */
static void check_accepted(const struct virtq_chain *c, uint64_t f, const struct virtio_net_hdr_v1 *h)
{
	uint64_t frame = c->out_bytes - VIRTIO_NET_HDR_LEN;
	unsigned int gso = h->gso_type & 0x7f;

	check(c->n_in == 0, "writable buffers accepted");
	check(c->out_bytes >= VIRTIO_NET_HDR_LEN + 14 && frame <= 65550, "frame size");
	check((h->flags & ~1u) == 0, "flags");
	if (h->flags & 1u) {
		check(f & NET_F_CSUM, "checksum not negotiated");
		check((uint64_t)le16toh(h->csum_start) + le16toh(h->csum_offset) + 2 <= frame, "checksum position");
	}
	check(gso == 0 || gso == 1 || gso == 4, "gso type");
	check(gso != 1 || (f & NET_F_HOST_TSO4), "tso4");
	check(gso != 4 || (f & NET_F_HOST_TSO6), "tso6");
	check(!(h->gso_type & 0x80) || (gso && (f & NET_F_HOST_ECN)), "ecn");
	if (gso) {
		check(le16toh(h->gso_size) > 0 && (h->flags & 1u) && le16toh(h->hdr_len) <= frame, "segmentation");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain c;
	static struct iovec iov[VIRTQ_MAX_CHAIN + 1];
	uint8_t *bufs[MAX_BUFS] = { 0 };
	struct virtio_net_hdr_v1 hdr;
	uint64_t features;
	unsigned int n, k = 0;
	const char *why;

	if (size < 9)
		return 0;
	memcpy(&features, data, 8);
	n = data[8] % (MAX_BUFS + 1);
	data += 9;
	size -= 9;
	if (size < 4 * n)
		return 0;
	memset(&c, 0, offsetof(struct virtq_chain, iov));
	for (unsigned int i = 0; i < n; i++) {
		uint32_t len = (data[1] | data[2] << 8 | (uint32_t)data[3] << 16) % (MAX_LEN + 1);
		bool w = data[0] & 1;
		data += 4;
		size -= 4;
		/* Readable before writable, as virtq_pop hands chains out. */
		if (!w && c.n_in)
			w = true;
		/* The input's bytes at the front (the header lives there), zeros behind: cheap at 80000 bytes. */
		bufs[i] = len ? calloc(1, len) : malloc(1);
		memcpy(bufs[i], data, len < size ? len : size);
		c.iov[c.n_out + c.n_in] = (struct iovec){ .iov_base = bufs[i], .iov_len = len };
		if (w) {
			c.n_in++;
			c.in_bytes += len;
		} else {
			c.n_out++;
			c.out_bytes += len;
		}
	}

	if (net_tx_check(&c, features, &hdr, &why) == NET_TX_OK) {
		uint64_t total = 0, sum = 0;
		check_accepted(&c, features, &hdr);
		k = net_tx_iov(&c, &hdr, iov);
		check(k >= 1 && k <= c.n_out + 1 && iov[0].iov_base == &hdr, "first iovec is the checked header");
		for (unsigned int i = 0; i < k; i++) {
			const uint8_t *p = iov[i].iov_base;
			for (size_t j = 0; j < iov[i].iov_len; j++)
				sum += p[j]; /* every byte handed to the tap is readable */
			total += iov[i].iov_len;
		}
		check(total == c.out_bytes, "iovecs cover header and frame exactly");
		(void)sum;
	} else {
		check(why != NULL, "a refusal says why");
	}
	for (unsigned int i = 0; i < n; i++)
		free(bufs[i]);
	return 0;
}
