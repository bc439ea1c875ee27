#include "devices/uart_8250.h"

#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/console_out.h"
#include "core/eventloop.h"
#include "core/files.h"
#include "core/log.h"
#include "core/mmio.h"
#include "core/state.h"
#include "devices/device.h"
#include "irqchip/irqchip.h"

/* Register offsets (reg-shift 0) and bits, from the 16550A data sheet. */
enum {
	UART_RBR_THR_DLL = 0, UART_IER_DLM = 1, UART_IIR_FCR = 2, UART_LCR = 3,
	UART_MCR = 4, UART_LSR = 5, UART_MSR = 6, UART_SCR = 7,
};
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_ENABLED 0xc0
#define FCR_FIFO_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_DCD 0x80
/* Register bits a guest write keeps; a snapshot with any other bit set is a forged file. */
#define IER_WRITABLE 0x0f
#define MCR_WRITABLE 0x1f
#define FCR_STORED 0xc9	/* enable, DMA mode, trigger level: the clear bits act and are gone */

static void uart_update_irq(struct uart_8250 *u);

/* Is the transmitter free (THR empty)? Full console output buffer: no, until the writer makes room. */
static bool tx_ready(struct uart_8250 *u)
{
	return !u->out || console_out_space(u->out) > 0;
}

/* The console output made room after it filled (writer thread): THR is empty again, which may interrupt. */
static void uart_tx_room(void *opaque)
{
	struct uart_8250 *u = opaque;

	pthread_mutex_lock(&u->lock);
	if (tx_ready(u)) {
		u->st.thr_int_pending = true;
		uart_update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
}

void uart_8250_init(struct uart_8250 *u, struct console_out *out, int rx_space_fd, struct irqchip *ic,
		    unsigned int spi)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->out = out;
	u->rx_space_fd = rx_space_fd;
	u->irqchip = ic;
	u->spi = spi;
	u->in_fd = u->in_id = -1;
	if (out && console_out_add_waiter(out, uart_tx_room, u) < 0)
		pr_warn("uart: console output has no room for another waiter: no THRE interrupt after a full buffer");
}

static uint8_t uart_iir(const struct uart_8250_state *st)
{
	uint8_t fifo = (st->fcr & FCR_FIFO_ENABLE) ? IIR_FIFO_ENABLED : 0;

	if ((st->ier & IER_RDI) && st->rx_count)
		return fifo | IIR_RDI;
	if ((st->ier & IER_THRI) && st->thr_int_pending)
		return fifo | IIR_THRI;
	return fifo | IIR_NO_INT;
}

/* Called with the lock held after every state change. */
static void uart_update_irq(struct uart_8250 *u)
{
	bool level = !(uart_iir(&u->st) & IIR_NO_INT);

	if (level != u->irq_level && u->irqchip) {
		u->irq_level = level;
		irqchip_set_spi(u->irqchip, u->spi, level);
	}
}

static void rx_push(struct uart_8250_state *st, uint8_t c)
{
	if (st->rx_count == UART_RX_FIFO)
		return;
	st->rx_fifo[(st->rx_head + st->rx_count) % UART_RX_FIFO] = c;
	st->rx_count++;
}

/*
 * The guest freed FIFO space that was full: the input feeder stopped reading
 * the host when it filled, and waits for this to start again. Every path that
 * takes bytes out of a full FIFO must call it, or console input hangs.
 */
static void rx_room(struct uart_8250 *u)
{
	uint64_t one = 1;

	if (u->rx_space_fd >= 0 && write(u->rx_space_fd, &one, sizeof(one)) < 0)
		(void)0; /* the eventfd counter cannot overflow from these writes */
}

static uint8_t rx_pop(struct uart_8250 *u)
{
	struct uart_8250_state *st = &u->st;
	uint8_t c;

	if (!st->rx_count)
		return 0;
	c = st->rx_fifo[st->rx_head];
	st->rx_head = (st->rx_head + 1) % UART_RX_FIFO;
	if (st->rx_count-- == UART_RX_FIFO)
		rx_room(u);
	return c;
}

void uart_8250_mmio_read(void *dev, uint64_t off, uint8_t *data, unsigned int len)
{
	struct uart_8250 *u = dev;
	struct uart_8250_state *st = &u->st;
	uint8_t v = 0;

	memset(data, 0, len);
	pthread_mutex_lock(&u->lock);
	switch (off) {
	case UART_RBR_THR_DLL:
		v = (st->lcr & LCR_DLAB) ? st->dll : rx_pop(u);
		break;
	case UART_IER_DLM:
		v = (st->lcr & LCR_DLAB) ? st->dlm : st->ier;
		break;
	case UART_IIR_FCR:
		v = uart_iir(st);
		/* Reading IIR while it reports THRE acknowledges that interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			st->thr_int_pending = false;
		break;
	case UART_LCR: v = st->lcr; break;
	case UART_MCR: v = st->mcr; break;
	case UART_LSR:
		/* TEMT with THRE: the buffer behind THR is the transmitter, and drivers wait for both. */
		v = (tx_ready(u) ? LSR_THRE | LSR_TEMT : 0) | (st->rx_count ? LSR_DR : 0);
		break;
	case UART_MSR:
		if (st->mcr & MCR_LOOP) /* loopback: DTR→DSR, RTS→CTS, OUT2→DCD */
			v = (uint8_t)(((st->mcr & 0x01) << 5) | ((st->mcr & 0x02) << 3) | ((st->mcr & 0x08) << 4));
		else
			v = MSR_CTS | MSR_DSR | MSR_DCD;
		break;
	case UART_SCR: v = st->scr; break;
	default: break; /* rest of the 4 KiB window reads as zero */
	}
	data[0] = v;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

void uart_8250_mmio_write(void *dev, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct uart_8250 *u = dev;
	struct uart_8250_state *st = &u->st;
	uint8_t v = data[0];

	(void)len;
	pthread_mutex_lock(&u->lock);
	switch (off) {
	case UART_RBR_THR_DLL:
		if (st->lcr & LCR_DLAB) {
			st->dll = v;
		} else {
			/*
			 * Into the console output buffer, never a host write under this lock.
			 * A byte written while the transmitter is busy is lost, as an
			 * overrun on a real 16550 (drivers wait for THRE first).
			 */
			if (st->mcr & MCR_LOOP)
				rx_push(st, v);
			else if (u->out)
				(void)console_out_write(u->out, &v, 1);
			/* THR is empty again unless the buffer just filled: then uart_tx_room says so later. */
			st->thr_int_pending = tx_ready(u);
		}
		break;
	case UART_IER_DLM:
		if (st->lcr & LCR_DLAB) {
			st->dlm = v;
		} else {
			/* Enabling THRI while THR is empty raises it straight away, as on real 16550s. */
			if ((v & IER_THRI) && !(st->ier & IER_THRI))
				st->thr_int_pending = true;
			st->ier = v & IER_WRITABLE;
		}
		break;
	case UART_IIR_FCR:
		st->fcr = v & FCR_STORED;
		if (v & FCR_CLEAR_RX) {
			if (st->rx_count == UART_RX_FIFO)
				rx_room(u);
			st->rx_count = 0;
			st->rx_head = 0;
		}
		break;
	case UART_LCR: st->lcr = v; break;
	case UART_MCR: st->mcr = v & MCR_WRITABLE; break;
	case UART_SCR: st->scr = v; break;
	default: break; /* LSR, MSR and the rest of the window ignore writes */
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (u->out)
		console_out_report_full(u->out);
}

unsigned int uart_8250_rx_space(struct uart_8250 *u)
{
	pthread_mutex_lock(&u->lock);
	unsigned int space = UART_RX_FIFO - u->st.rx_count;
	pthread_mutex_unlock(&u->lock);
	return space;
}

unsigned int uart_8250_receive(struct uart_8250 *u, const uint8_t *buf, unsigned int n)
{
	unsigned int taken = 0;

	pthread_mutex_lock(&u->lock);
	while (taken < n && u->st.rx_count < UART_RX_FIFO)
		rx_push(&u->st, buf[taken++]);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return taken;
}

/*
 * Snapshot payload: ier lcr mcr scr fcr dll dlm (u8 each), thr_int_pending
 * (u8 0/1), rx_count (u32), then the rx_count unread bytes oldest first. The
 * FIFO is saved in reading order, so where its ring started is not part of
 * the format and bytes the guest already read are never written out.
 */
void uart_8250_save(struct uart_8250 *u, struct snap_buf *b)
{
	const struct uart_8250_state *st = &u->st;

	pthread_mutex_lock(&u->lock);
	snap_put_u8(b, st->ier);
	snap_put_u8(b, st->lcr);
	snap_put_u8(b, st->mcr);
	snap_put_u8(b, st->scr);
	snap_put_u8(b, st->fcr);
	snap_put_u8(b, st->dll);
	snap_put_u8(b, st->dlm);
	snap_put_u8(b, st->thr_int_pending);
	snap_put_u32(b, st->rx_count);
	for (uint32_t i = 0; i < st->rx_count; i++)
		snap_put_u8(b, st->rx_fifo[(st->rx_head + i) % UART_RX_FIFO]);
	pthread_mutex_unlock(&u->lock);
}

static int check_state(const struct uart_8250_state *st)
{
	const char *bad = NULL;

	if (st->ier & ~IER_WRITABLE)
		bad = "IER";
	else if (st->mcr & ~MCR_WRITABLE)
		bad = "MCR";
	else if (st->fcr & ~FCR_STORED)
		bad = "FCR";
	if (bad) {
		pr_err("uart: snapshot %s has bits the 16550A never sets", bad);
		return -EINVAL;
	}
	return 0;
}

int uart_8250_restore(struct uart_8250 *u, struct snap_cursor *c)
{
	struct uart_8250_state st = { 0 };
	int ret;

	st.ier = snap_get_u8(c);
	st.lcr = snap_get_u8(c);
	st.mcr = snap_get_u8(c);
	st.scr = snap_get_u8(c);
	st.fcr = snap_get_u8(c);
	st.dll = snap_get_u8(c);
	st.dlm = snap_get_u8(c);
	st.thr_int_pending = snap_get_bool(c);
	st.rx_count = snap_get_u32(c);
	if (!c->err && st.rx_count > UART_RX_FIFO) {
		pr_err("uart: snapshot rx_count %u exceeds the %u-byte FIFO", st.rx_count, UART_RX_FIFO);
		return -EINVAL;
	}
	snap_get_bytes(c, st.rx_fifo, st.rx_count);
	ret = snap_cursor_done(c, "UART");
	if (ret < 0)
		return ret;
	ret = check_state(&st);
	if (ret < 0)
		return ret;

	pthread_mutex_lock(&u->lock);
	u->st = st;
	/*
	 * Drive the line whatever level the device last drove: the irqchip was
	 * restored (or created) on its own and may disagree with this UART.
	 */
	u->irq_level = (uart_iir(&u->st) & IIR_NO_INT) != 0;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

int uart_8250_fdt_node(void *fdt, uint64_t base, unsigned int spi)
{
	static const char compat[] = "ns16550a";
	int ret = fdt_begin_mmio_device(fdt, "serial", compat, sizeof(compat), base, 8, spi, IRQ_TYPE_LEVEL_HIGH);

	ret |= fdt_property_cell(fdt, "clock-frequency", UART_CLOCK_HZ);
	ret |= fdt_end_node(fdt);
	return ret ? -ENOSPC : 0;
}

/* --- the VM's console ------------------------------------------------------------ */

/* Read host input only when the FIFO can take it: nothing typed or piped is dropped. */
static void uart_input_cb(void *opaque, int fd, short revents)
{
	struct uart_8250 *u = opaque;
	uint8_t buf[UART_RX_FIFO];
	unsigned int space = uart_8250_rx_space(u);
	ssize_t n = 0;

	if (space == 0) {
		/* Full (e.g. restored with a full FIFO): wait for the guest to read, like below. */
		eventloop_enable(u->loop, u->in_id, false);
		u->in_waiting = true;
		return;
	}
	if (revents & (POLLIN | POLLHUP)) {
		n = read(fd, buf, space);
		if (n > 0)
			uart_8250_receive(u, buf, (unsigned int)n);
	}
	if ((revents & (POLLERR | POLLNVAL)) || n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
		eventloop_enable(u->loop, u->in_id, false); /* end of input: the guest keeps running */
	else if (uart_8250_rx_space(u) == 0) {
		/* Full: wait for the guest to read (uart_space_cb turns input back on). */
		eventloop_enable(u->loop, u->in_id, false);
		u->in_waiting = true;
	}
}

static void uart_space_cb(void *opaque, int fd, short revents)
{
	struct uart_8250 *u = opaque;

	(void)revents;
	(void)eventfd_drain(fd); /* a spurious wake is harmless: uart_input_cb checks for room */
	if (u->in_waiting) {
		u->in_waiting = false;
		eventloop_enable(u->loop, u->in_id, true);
	}
}

static int uart_dev_fdt_node(const struct device *d, void *fdt)
{
	struct uart_8250 *u = d->priv;

	return uart_8250_fdt_node(fdt, u->base, u->spi);
}

static void uart_dev_save(struct device *d, struct snap_buf *b)
{
	uart_8250_save(d->priv, b);
}

static int uart_dev_restore(struct device *d, struct snap_cursor *c)
{
	return uart_8250_restore(d->priv, c);
}

static void uart_dev_destroy(struct device *d)
{
	struct uart_8250 *u = d->priv;

	close_fd(&u->rx_space_fd);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

static const struct device_ops uart_8250_device_ops = {
	.name = "uart",
	.snap_tag = UART_8250_SNAP_TAG,
	.fdt_node = uart_dev_fdt_node,
	.save = uart_dev_save,
	.restore = uart_dev_restore,
	.destroy = uart_dev_destroy,
};

int uart_8250_create(struct device_ctx *ctx, uint64_t base, unsigned int spi, int in_fd)
{
	struct uart_8250 *u = malloc(sizeof(*u));
	int space_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct mmio_region r = {
		.base = base, .size = UART_8250_SIZE, .name = "uart", .dev = u,
		.read = uart_8250_mmio_read, .write = uart_8250_mmio_write,
	};

	if (!u || space_fd < 0) {
		pr_err("uart: out of resources");
		free(u);
		if (space_fd >= 0)
			close(space_fd);
		return -ENOMEM;
	}
	uart_8250_init(u, ctx->console, space_fd, ctx->irqchip, spi);
	u->base = base;
	u->loop = ctx->loop;
	if (!device_register(ctx->devices, &uart_8250_device_ops, u)) {
		close(space_fd);
		pthread_mutex_destroy(&u->lock);
		free(u);
		return -ENOSPC;
	}
	/* From here on the device list owns u. */
	if (mmio_bus_add(ctx->bus, &r) < 0)
		return -ENOSPC;
	if (in_fd >= 0 && fcntl(in_fd, F_GETFD) >= 0) {
		u->in_fd = in_fd;
		if (eventloop_add(ctx->loop, space_fd, POLLIN, uart_space_cb, u) < 0 ||
		    (u->in_id = eventloop_add(ctx->loop, in_fd, POLLIN, uart_input_cb, u)) < 0) {
			pr_err("uart: no room in the event loop");
			return -ENOSPC;
		}
	}
	return 0;
}
