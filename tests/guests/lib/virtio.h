/*
 * What the hostile virtio drivers (virtio_bad.c, net_bad.c) share: the
 * virtio-mmio register map (version 2), status and descriptor bits, the
 * split ring's descriptor, and the cache maintenance they need around every
 * hand-over (the MMU is off, so the guest's accesses bypass the caches while
 * the VMM reads and writes guest RAM through cacheable mappings).
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_QUEUE_DEVICE_HIGH 0x0a4
#define REG_CONFIG_GENERATION 0x0fc
#define REG_CONFIG 0x100

#define VIRTIO_MAGIC 0x74726976U

#define ST_ACKNOWLEDGE 1U
#define ST_DRIVER 2U
#define ST_DRIVER_OK 4U
#define ST_FEATURES_OK 8U
#define ST_NEEDS_RESET 0x40U
#define ST_FAILED 0x80U

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Clean and invalidate [p, p + len) to the point of coherency (a no-op under TCG). */
static inline void dcache_sync(const volatile void *p, size_t len)
{
	unsigned int line = 4U << ((read_sysreg(ctr_el0) >> 16) & 0xf);
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(line - 1), end = (uintptr_t)p + len;

	dsb_sy();
	for (; a < end; a += line)
		__asm__ __volatile__("dc civac, %0" : : "r"(a) : "memory");
	dsb_sy();
}

#endif
