/* What virtio_mmio.c shares with virtio_mmio_snap.c, and nobody else. */
#ifndef ARMVMM_VIRTIO_MMIO_INTERNAL_H
#define ARMVMM_VIRTIO_MMIO_INTERNAL_H

#include <stdint.h>

struct virtio_mmio;

/* What the device offers: its features and VIRTIO_F_VERSION_1. */
uint64_t virtio_mmio_device_features(const struct virtio_mmio *t);
/* One edge on the device's SPI (irqfd, or the irqchip). */
void virtio_mmio_signal_irq(struct virtio_mmio *t);

#endif
