/*
 * virtio-net (virtio 1.x, section 5.1) over a host tap: one receive and one
 * transmit queue, the MAC and link status in config space, checksum and TSO
 * offloads passed between the guest and the tap's virtio-net header,
 * mergeable receive buffers.
 *
 * Two data paths, chosen per NIC:
 *   - armvmm's own (net_datapath.c): an I/O thread per NIC owns the tap and
 *     both queues' notification eventfds; it moves frames in batches, one
 *     interrupt per batch;
 *   - vhost-net (vhost=1): the kernel moves the frames; armvmm hands it guest
 *     RAM, the rings, the kick eventfds (KVM's ioeventfds) and call eventfds
 *     (KVM's irqfd, or, on the userspace GIC, eventfds armvmm's I/O thread
 *     reads and turns into the SPI).
 * Either runs from DRIVER_OK until a reset, a snapshot's quiesce (resumed
 * after the save) or the end of the VM. The I/O thread exists from the NIC's
 * creation to its end and owns its state: starting and stopping happen on
 * it too, whoever asks.
 */
#ifndef ARMVMM_VIRTIO_NET_H
#define ARMVMM_VIRTIO_NET_H

#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/io_thread.h"
#include "devices/net_packet.h"
#include "devices/net_tap.h"
#include "devices/vhost.h"
#include "devices/virtio_mmio.h"
#include "devices/virtqueue.h"

#define VIRTIO_ID_NET 1u
#define NET_MAX_NICS 4u
#define NET_RXQ 0u
#define NET_TXQ 1u
#define NET_NR_QUEUES 2u
#define VIRTIO_NET_S_LINK_UP_BIT 1u
#define VIRTIO_NET_CONFIG_SIZE 12u	/* mac[6], status, max_virtqueue_pairs */

/* One --network mode=tap option. */
struct net_config {
	const char *tapif;	/* NULL: the kernel names a new tap */
	bool vhost;
	bool has_mac;
	uint8_t mac[6];
};

/* What a NIC ended up with (its tap's real name, its MAC): what a snapshot records. */
struct net_identity {
	char tapif[IFNAMSIZ];
	bool vhost;
	uint8_t mac[6];
};

/* Frames counted on the way (the I/O thread's; read when the NIC is stopped). */
struct net_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t tx_malformed;	/* chains that are no frame (net_packet.h) */
	uint64_t tx_bad_header;	/* headers asking for what was not negotiated */
	uint64_t tx_errors;	/* frames the tap refused */
	uint64_t tx_no_link;	/* frames sent while no tap was attached */
	uint64_t rx_dropped;	/* frames larger than the receive buffers the guest posted */
};

#define NET_RX_CACHE 64u		/* receive chains taken ahead of the frames that fill them */
#define NET_RX_IOV_MAX 1024u		/* IOV_MAX */

/* A receive chain taken from the ring, waiting for a frame. */
struct net_rx_buf {
	uint16_t head;
	uint32_t len;			/* its writable bytes */
	unsigned int iov_first, iov_n;	/* its writable buffers in rx_iov */
};

struct virtio_net {
	struct virtio_mmio *t;
	struct virtio_device_ops ops;	/* this NIC's own: what it offers depends on its tap and vhost */
	const struct guest_mem *mem;
	unsigned int index;
	char what[40];			/* "virtio-net 0 (tap0)", for messages */
	uint8_t mac[6];
	bool use_vhost;
	char tapif[IFNAMSIZ];		/* the tap to attach, and to attach again after a restore */
	struct net_tap tap;		/* tap.fd -1 while another process holds it (restore) */
	atomic_bool link_up;		/* config status: a tap is attached */

	/* The I/O thread's, like everything below (others ask it through io_thread_call). */
	bool running;			/* the data path works the queues */
	bool quiesced;			/* stopped for a snapshot: resume starts it again */
	uint64_t features;		/* negotiated; fixed while running */

	struct io_thread io;
	int kick_fd[NET_NR_QUEUES];	/* the queues' notifications: KVM's ioeventfd or our eventfd */
	bool own_kick[NET_NR_QUEUES];	/* kick_fd is ours (no ioeventfd): queue_notify writes it */
	int call_fd[NET_NR_QUEUES];	/* vhost on the userspace GIC: used-buffer signals armvmm reads */
	int retry_fd;			/* timerfd: try a busy tap again */
	int id_rx_kick, id_tx_kick, id_tap_in, id_tap_out, id_retry, id_call[NET_NR_QUEUES];

	struct vhost vhost;		/* vhost=1 */
	bool vhost_backend;		/* the tap is vhost's backend now */

	/* The userspace data path. */
	struct virtq_chain chain;
	struct iovec tx_iov[VIRTQ_MAX_CHAIN + 1];
	struct virtio_net_hdr_v1 tx_hdr;
	bool tx_blocked;		/* the tap would block: wait for POLLOUT */
	struct net_rx_buf rx_buf[NET_RX_CACHE];
	unsigned int rx_count;
	uint64_t rx_bytes_cached;
	struct iovec rx_iov[NET_RX_IOV_MAX];
	unsigned int rx_iov_used;
	uint8_t *rx_bounce;		/* a whole frame, when the cached chains could not take any frame */
	uint32_t rx_pending;		/* the length of a frame in rx_bounce waiting for buffers, or 0 */
	bool rx_pushed_empty;		/* a bad receive chain went back empty: the batch's interrupt is owed */
	bool rx_waiting;		/* too few receive buffers: wait for the driver's kick */
	struct net_stats stats;
	uint32_t warned;		/* which kinds of guest error were reported once already */
};

struct device_ctx;

/*
 * A NIC at base/spi (the board picks both) on a tap per cfg; its tap's name
 * and its MAC go to *id. index numbers the NIC (0..NET_MAX_NICS-1). On a
 * restore (ctx->restoring) a tap another process still holds is attached as
 * soon as it is free, the link down until then. 0 or -errno after one line.
 */
int virtio_net_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, const struct net_config *cfg,
		      unsigned int index, struct net_identity *id);

/*
 * The I/O thread's loop (net_datapath.c): its entries, added before the
 * thread starts; on the thread, which of them serve the mode the NIC runs in
 * (start), and none but the tap retry and calls while it is stopped (stop,
 * which also gives the cached receive chains back to the ring).
 */
int net_datapath_init(struct virtio_net *n);
void net_datapath_start(struct virtio_net *n);
void net_datapath_stop(struct virtio_net *n);
/* On the thread: the tap changed (attached, or closed); try attaching it every ms (0: stop trying). */
void net_datapath_set_tap(struct virtio_net *n);
void net_datapath_retry(struct virtio_net *n, unsigned int ms);
/*
 * On the I/O thread: attach the tap (a restore or a migration found it busy,
 * or it went away): 0 attached (link up, or it was already), -EBUSY another
 * process still holds it, else -errno after one line.
 */
int net_try_attach(struct virtio_net *n);
/* Report a guest error once per kind (later ones at debug level). */
void net_guest_error(struct virtio_net *n, unsigned int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
