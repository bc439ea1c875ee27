/*
 * virtio-vsock (virtio 1.x, section 5.10) through the kernel's vhost-vsock:
 * host processes reach the guest with AF_VSOCK at its CID. The kernel works
 * the receive and transmit queues (kicks from KVM's ioeventfds, used-buffer
 * signals into KVM's irqfd or, on the userspace GIC, into eventfds armvmm's
 * I/O thread reads); armvmm keeps the event queue, on which a restored guest
 * is told its transport was reset (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET): the
 * connections it had are gone, new ones work.
 */
#ifndef ARMVMM_VIRTIO_VSOCK_H
#define ARMVMM_VIRTIO_VSOCK_H

#include <stdint.h>

#define VIRTIO_ID_VSOCK 19u
#define VSOCK_CID_MIN 3u		/* 0, 1 and 2 are the hypervisor, local and host */
#define VSOCK_CID_MAX 0xfffffffeu	/* 0xffffffff is VMADDR_CID_ANY */

struct device_ctx;

/*
 * The vsock device at base/spi for guest CID cid. On a restore (ctx->restoring)
 * a CID another process still holds is taken as soon as it is free. 0, or
 * -errno after one line (no vhost-vsock on this host, the CID in use).
 */
int virtio_vsock_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, uint32_t cid);

#endif
