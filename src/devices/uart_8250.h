/*
 * A 16550A-compatible UART: transmitted bytes go into the console output
 * buffer (core/console_out.h) at once; while that buffer is full the
 * transmitter reads busy (LSR THRE and TEMT clear) and a THRE interrupt
 * follows when room appears. Receive comes from the host through
 * uart_8250_receive().
 */
#ifndef ARMVMM_UART_8250_H
#define ARMVMM_UART_8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/state.h"

#define UART_RX_FIFO 64u
#define UART_CLOCK_HZ 1843200u

struct console_out;
struct device_ctx;
struct eventloop;
struct irqchip;

/* The guest-visible state: a plain struct the snapshot code can copy. */
struct uart_8250_state {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_int_pending;	/* THRE interrupt latched until IIR is read or THR written */
	uint8_t rx_fifo[UART_RX_FIFO];
	uint32_t rx_head, rx_count;
};

struct uart_8250 {
	pthread_mutex_t lock;	/* guards st and irq_level: vCPU threads and the input thread */
	struct uart_8250_state st;
	struct console_out *out;	/* transmitted bytes go here (NULL: dropped) */
	int rx_space_fd;	/* eventfd written when the guest frees FIFO space, or -1 */
	struct irqchip *irqchip;
	unsigned int spi;
	bool irq_level;
	/* As a VM's console (uart_8250_create): where it sits and the host input it reads. */
	uint64_t base;
	struct eventloop *loop;
	int in_fd;		/* host side of the console input, or -1 */
	int in_id;		/* its event loop entry, or -1 */
	bool in_waiting;	/* input paused until the FIFO has room (rx_space_fd fires) */
};

#define UART_8250_SIZE 0x1000ull
#define UART_8250_SNAP_TAG SNAP_TAG('U', 'A', 'R', 'T')

/*
 * The VM's serial console at base with SPI spi: guest output goes to
 * ctx->console, host input is read from in_fd (-1: none) only while the
 * receive FIFO has room, so nothing typed or piped is dropped. Registers on
 * ctx's bus, event loop and device list. 0 or -errno after one error line.
 */
int uart_8250_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, int in_fd);

/* out: where transmitted bytes go (NULL: nowhere); registers for its "room again" callback. */
void uart_8250_init(struct uart_8250 *u, struct console_out *out, int rx_space_fd, struct irqchip *ic,
		    unsigned int spi);
void uart_8250_mmio_read(void *dev, uint64_t off, uint8_t *data, unsigned int len);
void uart_8250_mmio_write(void *dev, uint64_t off, const uint8_t *data, unsigned int len);
/* Free space in the receive FIFO. */
unsigned int uart_8250_rx_space(struct uart_8250 *u);
/* Queue up to n received bytes; returns how many were taken. */
unsigned int uart_8250_receive(struct uart_8250 *u, const uint8_t *buf, unsigned int n);
/* Snapshots: the guest-visible state (registers, FIFO contents: input the guest has not read yet). */
struct snap_buf;
struct snap_cursor;
void uart_8250_save(struct uart_8250 *u, struct snap_buf *b);
/* Validate and load; recomputes the interrupt line. 0 or -EINVAL after one error line. */
int uart_8250_restore(struct uart_8250 *u, struct snap_cursor *c);
int uart_8250_fdt_node(void *fdt, uint64_t base, unsigned int spi);

#endif
