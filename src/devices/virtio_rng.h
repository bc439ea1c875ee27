/* virtio entropy device (virtio 1.x, section 5.4): one queue, filled from getrandom(). */
#ifndef ARMVMM_VIRTIO_RNG_H
#define ARMVMM_VIRTIO_RNG_H

#include <pthread.h>
#include <stdint.h>

#include "devices/virtio_mmio.h"
#include "devices/virtqueue.h"

#define VIRTIO_ID_RNG 4u
/* At most this much entropy per request: a guest asking for gigabytes gets it in pieces. */
#define VIRTIO_RNG_MAX_CHUNK 65536u

struct device_ctx;

struct virtio_rng {
	pthread_mutex_t lock;		/* one filler at a time (vCPU threads or the event loop) */
	struct virtio_mmio *t;
	struct virtq_chain chain;
};

/* Serve every chain the driver queued; the queue_notify callback. */
void virtio_rng_notify(struct virtio_mmio *t, unsigned int q);
int virtio_rng_create(struct device_ctx *ctx, uint64_t base, unsigned int spi);

#endif
