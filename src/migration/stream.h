/*
 * The migration stream (man/armvmm-snapshot.5, MIGRATION STREAM): what one
 * armvmm sends another to hand over a running VM, and the pure part of
 * receiving it, which checks every frame before acting on it (no sockets and
 * no KVM here, so it is unit-tested and fuzzed on any host).
 *
 * The stream is a sequence of frames. A frame is a 24-byte header (u32 tag,
 * u32 instance, u64 length, u32 CRC-32 of the payload, u32 reserved = 0) and
 * length bytes of payload, every integer little-endian: a snapshot's section
 * header, without the padding. In order:
 *
 *   source -> destination   HELO   the versions and the snapshot header's fields
 *                           CONF   the configuration (the snapshot's CONF section)
 *                           NETC   the network devices' configuration, when the VM
 *                                  has NICs or vsock (HELO's flag; the snapshot's NETC)
 *   destination -> source   RPLY   yes, or no with the reason (before the source pauses)
 *   source -> destination   PAGE / ZERO frames, round after round, while the VM runs;
 *                           then, the VM paused, the last pages and every state
 *                           section (VCPU, GIC, devices: the snapshot's sections);
 *                           DONE   (the source has let go of its disks)
 *   destination -> source   RPLY   yes once its vCPUs run (the confirmation), or no
 *
 * Either side may find the other gone at any point: the source then keeps
 * (and resumes) the VM; a destination discards what it received.
 */
#ifndef ARMVMM_MIGRATION_STREAM_H
#define ARMVMM_MIGRATION_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/state.h"
#include "snapshot/snapfile.h"

#define MIG_MAGIC "ARMVMMMG"		/* 8 bytes, no NUL */
#define MIG_STREAM_VERSION 1u
#define MIG_FRAME_HEADER_SIZE 24u

#define MIG_TAG_HELLO SNAP_TAG('H', 'E', 'L', 'O')
#define MIG_TAG_REPLY SNAP_TAG('R', 'P', 'L', 'Y')
#define MIG_TAG_PAGES SNAP_TAG('P', 'A', 'G', 'E')
#define MIG_TAG_ZEROS SNAP_TAG('Z', 'E', 'R', 'O')
#define MIG_TAG_DONE SNAP_TAG('D', 'O', 'N', 'E')
/* The board's NETC section (BOARD_SEC_NETCONF), which the handshake carries after CONF. */
#define MIG_TAG_NETCONF SNAP_TAG('N', 'E', 'T', 'C')

/*
 * Payloads:
 *   HELO  8 bytes magic, u32 stream version, u32 state format version (the
 *         snapshot's SNAP_VERSION), u32 page size, u32 nr_vcpus, u32
 *         irqchip type, u32 flags, u64 mem_gpa, u64 mem_size (48 bytes);
 *         flags: MIG_HELLO_NETCONF (a NETC frame follows CONF), no other bit
 *   RPLY  u32 0 (yes) or 1 (no), then str: the reason, one line
 *   PAGE  u64 index of the first page, then 1..MIG_MAX_RUN pages' contents
 *   ZERO  u64 index of the first page, u64 count (1..): those pages read zero
 *   DONE  u32 the number of state sections sent
 */
#define MIG_HELLO_SIZE 48u
#define MIG_HELLO_NETCONF 1u
#define MIG_MAX_RUN 64u			/* pages in one PAGE frame */
#define MIG_MAX_CONF (1u << 20)
#define MIG_MAX_SECTION (64u << 20)	/* one state section's payload */
#define MIG_MAX_REASON 1024u
#define MIG_REPLY_YES 0u
#define MIG_REPLY_NO 1u

/* --- building frames (the sender's side) ---------------------------------------------- */

/* A frame header for payload (len bytes) into out. */
void mig_frame_header(uint8_t out[MIG_FRAME_HEADER_SIZE], uint32_t tag, uint32_t instance, const void *payload,
		      size_t len);
/* The HELO payload for a VM of header h (version fields are this armvmm's), with flags (MIG_HELLO_*). */
void mig_hello_payload(uint8_t out[MIG_HELLO_SIZE], const struct snap_header *h, uint32_t flags);
/* A RPLY payload into b. */
void mig_reply_payload(struct snap_buf *b, bool yes, const char *reason);

/* --- receiving ------------------------------------------------------------------------ */

/*
 * A frame header, checked: reserved 0, and a length the tag may have at all
 * (a payload is only read, and memory allocated for it, after this).
 * 0, or -EPROTO after one error line.
 */
int mig_parse_frame_header(const uint8_t hdr[MIG_FRAME_HEADER_SIZE], uint32_t page_size, uint32_t *tag,
			   uint32_t *instance, uint64_t *len, uint32_t *crc);
/* A RPLY frame's payload: 0 with *yes and reason (cap bytes), or -EPROTO after one error line. */
int mig_parse_reply(const uint8_t *payload, size_t len, bool *yes, char *reason, size_t cap);

enum mig_rx_phase {
	MIG_RX_HELLO,		/* waiting for HELO */
	MIG_RX_CONF,		/* waiting for CONF */
	MIG_RX_NETCONF,		/* waiting for NETC (HELO said it comes) */
	MIG_RX_ACCEPT,		/* handshake received: the caller decides, then mig_rx_set_ram */
	MIG_RX_MEMORY,		/* PAGE / ZERO frames, until the first state section */
	MIG_RX_STATE,		/* state sections, until DONE */
	MIG_RX_DONE,		/* the state is complete and validated: rx->state */
};

/* The destination's view of an incoming stream. */
struct mig_rx {
	enum mig_rx_phase phase;
	struct snap_header h;		/* from HELO */
	uint32_t flags;			/* HELO's */
	struct snap_buf conf;		/* CONF's payload */
	struct snap_buf netconf;	/* NETC's payload (empty: the VM has no network devices) */
	unsigned int handshake_sections;	/* CONF, NETC: in image, not sent again with the state */
	struct snap_image image;	/* CONF, NETC and the state sections, assembled as a state file */
	struct snap_reader state;	/* after DONE: the image, validated as a snapshot's state file */
	uint8_t *ram;			/* guest RAM the pages go to (mig_rx_set_ram) */
	uint64_t ram_size;
	const struct snap_kind *kinds;	/* the board's device sections */
	unsigned int nr_kinds;
	uint64_t pages, zero_pages;	/* counted as they arrive */
};

void mig_rx_init(struct mig_rx *rx, const struct snap_kind *kinds, unsigned int nr_kinds);
/*
 * One frame, whose header mig_parse_frame_header accepted. The CRC is
 * checked, then whether the frame may come in this phase, then its payload:
 * HELO's versions and header fields (as a snapshot header's), PAGE and
 * ZERO ranges inside RAM, sections with no unknown tags (DONE validates the
 * whole state as snap_reader_parse does, with the HELO's header).
 * 0, or -EPROTO / -ENOMEM after one error line.
 */
int mig_rx_frame(struct mig_rx *rx, uint32_t tag, uint32_t instance, const uint8_t *payload, size_t len,
		 uint32_t crc);
/* After the handshake (phase ACCEPT): RAM of h.mem_size bytes at host receives the pages from now on. */
void mig_rx_set_ram(struct mig_rx *rx, uint8_t *host);
/* A cursor on CONF's payload (phase ACCEPT and later). */
struct snap_cursor mig_rx_conf(const struct mig_rx *rx);
/* True with a cursor on NETC's payload when the VM has network devices (phase ACCEPT and later). */
bool mig_rx_netconf(const struct mig_rx *rx, struct snap_cursor *c);
void mig_rx_free(struct mig_rx *rx);

#endif
