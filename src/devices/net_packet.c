/* Transmit frames from a hostile driver (net_packet.h). */
#include "devices/net_packet.h"

#include <endian.h>
#include <string.h>

static enum net_tx_verdict bad(const char **why, const char *reason)
{
	*why = reason;
	return NET_TX_BAD_HEADER;
}

/* The header's flags and segmentation fields against what was negotiated (5.1.6.2). */
static enum net_tx_verdict check_header(const struct virtio_net_hdr_v1 *h, uint64_t features, uint64_t frame_len,
					const char **why)
{
	unsigned int gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	uint64_t csum_start = le16toh(h->csum_start), csum_offset = le16toh(h->csum_offset);

	/* DATA_VALID and RSC_INFO travel device to driver only. */
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return bad(why, "unknown header flags");
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!(features & NET_F_CSUM))
			return bad(why, "checksum offload without VIRTIO_NET_F_CSUM");
		if (csum_start + csum_offset + 2 > frame_len)
			return bad(why, "checksum position outside the frame");
	}
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN)
			return bad(why, "ECN flag without segmentation");
		return NET_TX_OK;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!(features & NET_F_HOST_TSO4))
			return bad(why, "TCPv4 segmentation without VIRTIO_NET_F_HOST_TSO4");
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!(features & NET_F_HOST_TSO6))
			return bad(why, "TCPv6 segmentation without VIRTIO_NET_F_HOST_TSO6");
		break;
	default:
		return bad(why, "unknown or unoffered segmentation type");
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !(features & NET_F_HOST_ECN))
		return bad(why, "ECN segmentation without VIRTIO_NET_F_HOST_ECN");
	if (le16toh(h->gso_size) == 0)
		return bad(why, "segmentation with a segment size of 0");
	/* Segmenting means the host computes each segment's checksum from csum_start. */
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return bad(why, "segmentation without a checksum position");
	if (le16toh(h->hdr_len) > frame_len)
		return bad(why, "header length beyond the frame");
	return NET_TX_OK;
}

enum net_tx_verdict net_tx_check(const struct virtq_chain *c, uint64_t features, struct virtio_net_hdr_v1 *hdr,
				 const char **why)
{
	uint64_t frame_len;

	*why = NULL;
	if (c->n_in) {
		*why = "device-writable buffers in a transmit chain";
		return NET_TX_MALFORMED;
	}
	if (c->out_bytes < VIRTIO_NET_HDR_LEN + NET_MIN_FRAME) {
		*why = "shorter than a virtio-net and an Ethernet header";
		return NET_TX_MALFORMED;
	}
	frame_len = c->out_bytes - VIRTIO_NET_HDR_LEN;
	if (frame_len > NET_MAX_FRAME) {
		*why = "frame longer than 65550 bytes";
		return NET_TX_MALFORMED;
	}
	/* One copy: what is checked is what goes to the tap. */
	iov_to_buf(c->iov, c->n_out, 0, hdr, VIRTIO_NET_HDR_LEN);
	return check_header(hdr, features, frame_len, why);
}

unsigned int net_tx_iov(const struct virtq_chain *c, struct virtio_net_hdr_v1 *hdr, struct iovec *iov)
{
	uint64_t skip = VIRTIO_NET_HDR_LEN;
	unsigned int k = 0;

	/* The driver writes num_buffers as 0 on transmit (5.1.6.2); send it so. */
	hdr->num_buffers = 0;
	iov[k++] = (struct iovec){ .iov_base = hdr, .iov_len = VIRTIO_NET_HDR_LEN };
	for (unsigned int i = 0; i < c->n_out; i++) {
		uint64_t l = c->iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		iov[k++] = (struct iovec){ .iov_base = (uint8_t *)c->iov[i].iov_base + skip, .iov_len = l - skip };
		skip = 0;
	}
	return k;
}
