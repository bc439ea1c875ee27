/*
 * virtio console (virtio 1.x, section 5.3), single port, no multiport: queue 0
 * carries input to the guest (receiveq), queue 1 its output (transmitq).
 * The guest sees it as /dev/hvc0.
 */
#ifndef ARMVMM_VIRTIO_CONSOLE_H
#define ARMVMM_VIRTIO_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio_mmio.h"
#include "devices/virtqueue.h"

#define VIRTIO_ID_CONSOLE 3u
#define VIRTIO_CONSOLE_RXQ 0u
#define VIRTIO_CONSOLE_TXQ 1u
#define VIRTIO_CONSOLE_CONFIG_SIZE 12u	/* cols, rows, max_nr_ports, emerg_wr */
#define VIRTIO_CONSOLE_PENDING 4096u

struct device_ctx;
struct eventloop;

/* Input read from the host but not yet taken by the guest: plain data for snapshots. */
struct virtio_console_state {
	uint8_t pending[VIRTIO_CONSOLE_PENDING];
	uint32_t pending_off, pending_len;
};

struct console_out;

struct virtio_console {
	struct virtio_console_state st;	/* main thread only */
	struct virtio_mmio *t;
	struct eventloop *loop;
	int in_fd;
	struct console_out *out;
	int in_id;			/* event loop entry of in_fd, or -1 */
	bool in_eof;			/* the host side of the input is gone */
	int wake_fd;			/* eventfd: the driver posted receive buffers */
	pthread_mutex_t tx_lock;	/* one transmitter at a time; guards the tx_* below */
	struct virtq_chain tx_chain, rx_chain;
	bool tx_held;			/* tx_chain is popped but not all of it fit into out yet */
	uint64_t tx_off;		/* bytes of tx_chain already in out */
};

/*
 * Create the console reading in_fd (it takes in_fd's place in the event loop)
 * and writing into ctx->console: a transmit chain is used only once all of
 * it went into that buffer, so while the buffer is full the transmit queue
 * is not consumed and the guest's driver waits.
 */
int virtio_console_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, int in_fd);

#endif
