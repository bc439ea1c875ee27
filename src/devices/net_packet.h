/*
 * virtio-net frames as the guest hands them over (virtio 1.x, 5.1.6): a
 * transmit chain is a 12-byte struct virtio_net_hdr_v1 and an Ethernet frame,
 * split across the chain's device-readable buffers any way the driver likes.
 * Pure functions of the chain and the negotiated features, so the fuzz target
 * (tests/fuzz/fuzz_net_tx.c) drives exactly what the device runs.
 */
#ifndef ARMVMM_NET_PACKET_H
#define ARMVMM_NET_PACKET_H

#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtqueue.h"

/* The header in front of every frame (virtio 1.x 5.1.6; little-endian fields). */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;	/* receive: how many chains the frame spans (always there with VIRTIO_F_VERSION_1) */
};
#define VIRTIO_NET_HDR_LEN 12u
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1u
#define VIRTIO_NET_HDR_GSO_NONE 0u
#define VIRTIO_NET_HDR_GSO_TCPV4 1u
#define VIRTIO_NET_HDR_GSO_UDP 3u
#define VIRTIO_NET_HDR_GSO_TCPV6 4u
#define VIRTIO_NET_HDR_GSO_ECN 0x80u
#define NET_MIN_FRAME 14u	/* an Ethernet header */
#define NET_MAX_FRAME 65550u	/* 64 KiB of segmentation offload and its headers */
#define NET_MTU_FRAME 1518u	/* 1500 bytes of payload, Ethernet and VLAN headers */

/* Feature bits (virtio 1.x 5.1.3) as masks. */
#define NET_F_CSUM (1ull << 0)
#define NET_F_GUEST_CSUM (1ull << 1)
#define NET_F_MAC (1ull << 5)
#define NET_F_GUEST_TSO4 (1ull << 7)
#define NET_F_GUEST_TSO6 (1ull << 8)
#define NET_F_GUEST_ECN (1ull << 9)
#define NET_F_HOST_TSO4 (1ull << 11)
#define NET_F_HOST_TSO6 (1ull << 12)
#define NET_F_HOST_ECN (1ull << 13)
#define NET_F_MRG_RXBUF (1ull << 15)
#define NET_F_STATUS (1ull << 16)

enum net_tx_verdict {
	NET_TX_OK,
	NET_TX_MALFORMED,	/* not a frame: device-writable buffers, shorter than a header and an Ethernet header, or longer than NET_MAX_FRAME */
	NET_TX_BAD_HEADER,	/* a header asking for what was not negotiated, or pointing outside the frame */
};

/*
 * Check a transmit chain against the negotiated features. The header is
 * copied once into *hdr and only that copy is checked and sent (the guest may
 * rewrite its buffers meanwhile); *why says what was wrong.
 */
enum net_tx_verdict net_tx_check(const struct virtq_chain *c, uint64_t features, struct virtio_net_hdr_v1 *hdr,
				 const char **why);
/*
 * The iovecs to write the frame of a checked chain with: hdr (the checked
 * copy) first, then the chain's bytes after its header. iov holds at least
 * c->n_out + 1 entries. Returns how many were filled.
 */
unsigned int net_tx_iov(const struct virtq_chain *c, struct virtio_net_hdr_v1 *hdr, struct iovec *iov);

#endif
