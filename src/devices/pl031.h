/*
 * ARM PrimeCell PL031 real-time clock: a 32-bit seconds counter that runs
 * with host time (CLOCK_REALTIME), a match register raising a level interrupt
 * when the counter reaches it, and the PrimeCell ID registers Linux's AMBA
 * bus probes. The guest's view is host time + st.offset.
 */
#ifndef ARMVMM_PL031_H
#define ARMVMM_PL031_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/state.h"

#define PL031_SIZE 0x1000u
#define PHANDLE_APB_PCLK 2u	/* the fixed clock AMBA devices name as apb_pclk */

struct device_ctx;
struct irqchip;

/* Guest-visible state: plain data for snapshots. */
struct pl031_state {
	int64_t offset;		/* guest seconds - host seconds (set by writes to RTCLR) */
	uint32_t match;		/* RTCMR */
	uint32_t control;	/* RTCCR: bit 0 reads back 1 once started */
	uint32_t imsc;		/* interrupt mask set/clear: bit 0 */
	uint32_t ris;		/* raw interrupt status: bit 0 */
};

struct pl031 {
	pthread_mutex_t lock;	/* guards st and irq_level: vCPU threads and the event loop */
	struct pl031_state st;
	struct irqchip *irqchip;
	unsigned int spi;
	bool irq_level;
	int timer_fd;		/* timerfd armed for the next match, or -1 (unit tests) */
	int64_t (*now)(void);	/* host seconds; replaceable in unit tests */
	uint64_t base;		/* where the VM's RTC sits (pl031_create) */
};

#define PL031_SNAP_TAG SNAP_TAG('R', 'T', 'C', ' ')

/* Set up the device state (no fds); timer_fd = -1. */
void pl031_init(struct pl031 *rtc, struct irqchip *ic, unsigned int spi);
void pl031_mmio_read(void *dev, uint64_t off, uint8_t *data, unsigned int len);
void pl031_mmio_write(void *dev, uint64_t off, const uint8_t *data, unsigned int len);
/* Set RIS (and the line, if unmasked) when the counter equals RTCMR, or unconditionally with force. */
void pl031_match(struct pl031 *rtc, bool force);
/* Create the VM's RTC at base, SPI spi: MMIO region, timerfd in the event loop, device list entry. 0 or -errno after a pr_err. */
int pl031_create(struct device_ctx *ctx, uint64_t base, unsigned int spi);
void pl031_destroy(struct pl031 *rtc);

/* Snapshots: offset, match, control, mask, raw status; restore re-arms the match timer and the line. */
struct snap_buf;
struct snap_cursor;
void pl031_save(struct pl031 *rtc, struct snap_buf *b);
int pl031_restore(struct pl031 *rtc, struct snap_cursor *c);

int fdt_apb_pclk_node(void *fdt);
int pl031_fdt_node(void *fdt, uint64_t base, unsigned int spi);

#endif
