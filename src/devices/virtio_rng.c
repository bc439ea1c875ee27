/*
 * virtio-rng: every device-writable buffer the driver posts is filled with
 * bytes from getrandom() and returned. The device has no state a snapshot
 * needs beyond its transport.
 */
#include "devices/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/log.h"
#include "devices/device.h"

/* Fill up to max bytes of the chain's writable buffers; returns how many were written. */
static uint32_t fill_chain(const struct virtq_chain *c, uint32_t max)
{
	uint32_t done = 0;

	for (unsigned int i = c->n_out; i < c->n_out + c->n_in && done < max; i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t want = c->iov[i].iov_len;

		if (want > max - done)
			want = max - done;
		while (want) {
			ssize_t n = getrandom(p, want, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				pr_warn_ratelimited("virtio-rng: getrandom failed: %s", strerror(errno));
				return done;
			}
			p += n;
			want -= (size_t)n;
			done += (uint32_t)n;
		}
	}
	return done;
}

void virtio_rng_notify(struct virtio_mmio *t, unsigned int q)
{
	struct virtio_rng *rng = t->dev;
	bool pushed = false;

	pthread_mutex_lock(&rng->lock);
	while (virtio_mmio_pop(t, q, &rng->chain) > 0) {
		/* A chain with no writable buffer gets back 0 bytes: harmless, and the driver's problem. */
		uint32_t n = fill_chain(&rng->chain, VIRTIO_RNG_MAX_CHUNK);
		virtio_mmio_push_quiet(t, q, rng->chain.head, n);
		pushed = true;
	}
	if (pushed)
		virtio_mmio_kick_used(t, q);
	pthread_mutex_unlock(&rng->lock);
}

static void virtio_rng_destroy(struct virtio_mmio *t)
{
	struct virtio_rng *rng = t->dev;

	pthread_mutex_destroy(&rng->lock);
	free(rng);
}

static const struct virtio_device_ops virtio_rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_notify = virtio_rng_notify,
	.destroy = virtio_rng_destroy,
};

int virtio_rng_create(struct device_ctx *ctx, uint64_t base, unsigned int spi)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));

	if (!rng) {
		pr_err("virtio-rng: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&rng->lock, NULL);
	rng->t = virtio_mmio_create(ctx, base, spi, &virtio_rng_ops, rng);
	if (!rng->t) {
		pthread_mutex_destroy(&rng->lock);
		free(rng);
		return -ENOSPC;
	}
	return 0;
}
