/* The 16550A UART model: transmit, receive, interrupt identification and the IRQ line. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/console_out.h"
#include "core/state.h"
#include "devices/uart_8250.h"
#include "irqchip/irqchip.h"

static int last_level = -1, level_changes;

static int record_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	(void)ic;
	assert_int_equal(spi, 5);
	last_level = level;
	level_changes++;
	return 0;
}

static const struct irqchip_ops recording_ops = { .name = "test", .set_spi = record_spi };
static struct irqchip fake_ic = { .ops = &recording_ops };

struct fixture {
	struct uart_8250 u;
	int out[2];		/* the console output's host side: a pipe the test reads (or not) */
	struct console_out co;
	int space_fd[2];
};

static int setup(void **state)
{
	static struct fixture f;
	assert_int_equal(pipe(f.out), 0);
	assert_int_equal(pipe(f.space_fd), 0);
	assert_int_equal(console_out_init(&f.co, f.out[1]), 0);
	uart_8250_init(&f.u, &f.co, f.space_fd[1], &fake_ic, 5);
	last_level = -1;
	level_changes = 0;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	/* Reader gone first: a writer blocked on a full pipe gets EPIPE and the buffer empties. */
	close(f->out[0]);
	console_out_destroy(&f->co);
	close(f->out[1]);
	close(f->space_fd[0]);
	close(f->space_fd[1]);
	return 0;
}

/* What the UART transmitted so far (the writer thread has written it all out first). */
static ssize_t read_out(struct fixture *f, char *buf, size_t cap)
{
	assert_true(console_out_flush(&f->co, 5000));
	return read(f->out[0], buf, cap);
}

static uint8_t rd(struct uart_8250 *u, uint64_t off)
{
	uint8_t d[8];
	memset(d, 0xaa, sizeof(d));
	uart_8250_mmio_read(u, off, d, 4);
	/* Wider reads return the register in the low byte and zeros above it. */
	assert_int_equal(d[1] | d[2] | d[3], 0);
	return d[0];
}

static void wr(struct uart_8250 *u, uint64_t off, uint8_t v)
{
	uart_8250_mmio_write(u, off, &v, 1);
}

static void test_transmit_goes_to_fd(void **state)
{
	struct fixture *f = *state;
	char buf[8] = { 0 };

	assert_true(rd(&f->u, 5) & 0x20); /* THRE */
	wr(&f->u, 0, 'h');
	wr(&f->u, 0, 'i');
	assert_int_equal(read_out(f, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "hi");
	assert_int_equal(level_changes, 0); /* no interrupts enabled, no line activity */
}

/*
 * A console nobody reads: the output buffer fills, the transmitter reads busy
 * (LSR THRE and TEMT clear, no THRE interrupt) and no register access blocks;
 * once the host reads again, THRE comes back with its interrupt.
 */
static void test_full_console_shows_busy_transmitter(void **state)
{
	struct fixture *f = *state;
	unsigned int sent = 0;
	char sink[4096];

	wr(&f->u, 1, 0x02); /* IER: THRE interrupt */
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x02);
	rd(&f->u, 2); /* (acknowledged by that read) */
	assert_int_equal(last_level, 0);
	/* The buffer plus what the pipe holds; the bound only stops a broken model looping forever. */
	while (rd(&f->u, 5) & 0x20) {
		wr(&f->u, 0, 'x');
		assert_true(++sent < 4 * CONSOLE_OUT_SIZE + (4u << 20));
	}
	assert_true(sent >= CONSOLE_OUT_SIZE);
	assert_int_equal(rd(&f->u, 5) & 0x60, 0);	/* THRE and TEMT clear */
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x01);	/* no THRE interrupt while busy */
	assert_int_equal(last_level, 0);
	wr(&f->u, 0, 'y');				/* a write while busy returns (the byte is an overrun) */
	assert_int_equal(rd(&f->u, 5) & 0x20, 0);

	/* The host reads again: the writer makes room, THR is empty and interrupts. */
	assert_int_equal(fcntl(f->out[0], F_SETFL, O_NONBLOCK), 0);
	for (int tries = 0; !(rd(&f->u, 5) & 0x20) && tries < 5000; tries++) {
		while (read(f->out[0], sink, sizeof(sink)) > 0)
			;
		usleep(1000);
	}
	assert_int_equal(rd(&f->u, 5) & 0x60, 0x60);
	assert_int_equal(last_level, 1);
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x02);
	assert_int_equal(last_level, 0);		/* acknowledged */
}

static void test_receive_and_rx_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(&f->u, 1, 0x01); /* IER: received data available */
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x01); /* nothing pending */
	assert_int_equal(uart_8250_receive(&f->u, (const uint8_t *)"ab", 2), 2);
	assert_int_equal(last_level, 1);
	assert_true(rd(&f->u, 5) & 0x01); /* LSR.DR */
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x04);
	assert_int_equal(rd(&f->u, 0), 'a');
	assert_int_equal(last_level, 1);
	assert_int_equal(rd(&f->u, 0), 'b');
	assert_int_equal(last_level, 0);
	assert_false(rd(&f->u, 5) & 0x01);
	assert_int_equal(rd(&f->u, 0), 0); /* empty FIFO reads zero */
}

static void test_fifo_full_and_space_notification(void **state)
{
	struct fixture *f = *state;
	uint8_t data[UART_RX_FIFO + 10];
	uint64_t n;

	memset(data, 'x', sizeof(data));
	assert_int_equal(uart_8250_receive(&f->u, data, sizeof(data)), UART_RX_FIFO);
	assert_int_equal(uart_8250_rx_space(&f->u), 0);
	rd(&f->u, 0);
	assert_int_equal(uart_8250_rx_space(&f->u), 1);
	/* Going from full to not full wakes whoever feeds input. */
	assert_int_equal(read(f->space_fd[0], &n, sizeof(n)), sizeof(n));
	/* FCR "clear receive FIFO" drops what is queued. */
	wr(&f->u, 2, 0x03);
	assert_int_equal(uart_8250_rx_space(&f->u), UART_RX_FIFO);
	assert_int_equal(rd(&f->u, 2) & 0xc0, 0xc0); /* FIFOs enabled show in IIR */
}

/* Whether the UART told the input feeder there is room (and consume the wake-up). */
static bool room_signalled(struct fixture *f)
{
	struct pollfd p = { .fd = f->space_fd[0], .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, 0) != 1)
		return false;
	assert_int_equal(read(f->space_fd[0], &n, sizeof(n)), sizeof(n));
	return true;
}

static void test_fcr_clear_signals_room(void **state)
{
	struct fixture *f = *state;
	uint8_t data[UART_RX_FIFO];

	memset(data, 'y', sizeof(data));
	assert_int_equal(uart_8250_receive(&f->u, data, sizeof(data)), UART_RX_FIFO);
	assert_false(room_signalled(f)); /* full: the feeder stops reading and waits */
	/* The guest empties the FIFO with FCR instead of reading it: the feeder must wake all the same. */
	wr(&f->u, 2, 0x03);
	assert_true(room_signalled(f));
	assert_int_equal(uart_8250_rx_space(&f->u), UART_RX_FIFO);
	assert_int_equal(uart_8250_receive(&f->u, (const uint8_t *)"go", 2), 2);
	assert_int_equal(rd(&f->u, 0), 'g');
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;

	/* Enabling THRI with an empty THR raises it; reading IIR acknowledges it. */
	wr(&f->u, 1, 0x02);
	assert_int_equal(last_level, 1);
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x02);
	assert_int_equal(last_level, 0);
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x01);
	/* Each transmitted byte empties THR again and re-raises it. */
	wr(&f->u, 0, 'z');
	assert_int_equal(last_level, 1);
	/* Receive data outranks THRE in IIR. */
	wr(&f->u, 1, 0x03);
	uart_8250_receive(&f->u, (const uint8_t *)"q", 1);
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x04);
	rd(&f->u, 0);
	assert_int_equal(rd(&f->u, 2) & 0x0f, 0x02);
	/* Disabling the source lowers the line. */
	wr(&f->u, 1, 0x00);
	assert_int_equal(last_level, 0);
}

static void test_divisor_latch_and_scratch(void **state)
{
	struct fixture *f = *state;

	wr(&f->u, 3, 0x83); /* DLAB + 8N1 */
	wr(&f->u, 0, 0x01);
	wr(&f->u, 1, 0x02);
	assert_int_equal(rd(&f->u, 0), 0x01);
	assert_int_equal(rd(&f->u, 1), 0x02);
	wr(&f->u, 3, 0x03);
	assert_int_equal(rd(&f->u, 1), 0x00); /* IER untouched by the DLM write */
	assert_int_equal(rd(&f->u, 3), 0x03);
	wr(&f->u, 7, 0x5a);
	assert_int_equal(rd(&f->u, 7), 0x5a);
}

static void test_loopback_and_out_of_range(void **state)
{
	struct fixture *f = *state;
	char c;

	wr(&f->u, 4, 0x10 | 0x03); /* loopback, DTR, RTS */
	assert_int_equal(rd(&f->u, 6) & 0x30, 0x30); /* DSR, CTS follow DTR, RTS */
	wr(&f->u, 0, 'L');
	assert_int_equal(rd(&f->u, 0), 'L'); /* looped back, not sent */
	wr(&f->u, 4, 0);
	/* Offsets past the 8 registers read zero and ignore writes, even 8-byte ones. */
	uint8_t big[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uart_8250_mmio_write(&f->u, 0xff8, big, 8);
	assert_int_equal(rd(&f->u, 0x800), 0);
	wr(&f->u, 0, 'k');
	assert_int_equal(read_out(f, &c, 1), 1);
	assert_int_equal(c, 'k');
}

/* --- snapshots ---------------------------------------------------------------------- */

/* Line levels by SPI, so two UARTs (SPI 5 and 6) can be watched side by side. */
static int spi_level[8], spi_calls[8];

static int record_by_spi(struct irqchip *ic, unsigned int spi, bool level)
{
	(void)ic;
	assert_true(spi < 8);
	spi_level[spi] = level;
	spi_calls[spi]++;
	return 0;
}

static const struct irqchip_ops by_spi_ops = { .name = "test", .set_spi = record_by_spi };
static struct irqchip by_spi_ic = { .ops = &by_spi_ops };

static struct snap_cursor cursor(const struct snap_buf *b)
{
	return (struct snap_cursor){ .p = b->data, .len = b->len };
}

/* A UART in the middle of things: divisor, line settings, both interrupts enabled, a wrapped FIFO. */
static void busy_uart(struct uart_8250 *u)
{
	uint8_t data[UART_RX_FIFO];

	wr(u, 3, 0x80);
	wr(u, 0, 0x0c);
	wr(u, 1, 0x01);
	wr(u, 3, 0x1b);
	wr(u, 2, 0xc1);
	wr(u, 4, 0x0b);
	wr(u, 7, 0x77);
	wr(u, 1, 0x03); /* RDI + THRI: THRE latches at once */
	for (unsigned int i = 0; i < UART_RX_FIFO; i++)
		data[i] = (uint8_t)('A' + i % 26);
	assert_int_equal(uart_8250_receive(u, data, UART_RX_FIFO), UART_RX_FIFO);
	for (unsigned int i = 0; i < 60; i++)
		rd(u, 0);
	assert_int_equal(uart_8250_receive(u, (const uint8_t *)"0123456789", 10), 10); /* wraps the ring */
}

static void test_snapshot_round_trip(void **state)
{
	struct fixture *f = *state;
	struct uart_8250 a, b;
	struct snap_buf buf = { 0 };

	(void)f;
	memset(spi_level, 0, sizeof(spi_level));
	memset(spi_calls, 0, sizeof(spi_calls));
	uart_8250_init(&a, NULL, -1, &by_spi_ic, 5);
	uart_8250_init(&b, NULL, -1, &by_spi_ic, 6);
	busy_uart(&a);
	assert_int_equal(spi_level[5], 1);
	uart_8250_save(&a, &buf);
	assert_false(buf.err);
	/* 8 register bytes, the count, and only the 14 unread bytes. */
	assert_int_equal(buf.len, 8 + 4 + 14);

	struct snap_cursor c = cursor(&buf);
	assert_int_equal(uart_8250_restore(&b, &c), 0);
	assert_int_equal(spi_level[6], 1); /* driven straight away */
	assert_int_equal(spi_calls[6], 1);

	/* The guest cannot tell them apart: same reads, in the same order, with the same side effects. */
	wr(&a, 3, 0x9b);
	wr(&b, 3, 0x9b);
	for (unsigned int off = 0; off < 2; off++)
		assert_int_equal(rd(&a, off), rd(&b, off)); /* DLL, DLM */
	wr(&a, 3, 0x1b);
	wr(&b, 3, 0x1b);
	for (unsigned int off = 1; off < 8; off++)
		assert_int_equal(rd(&a, off), rd(&b, off));
	for (unsigned int i = 0; i < 16; i++) {
		assert_int_equal(rd(&a, 2), rd(&b, 2)); /* IIR: RDI, then THRE once the FIFO is empty */
		assert_int_equal(rd(&a, 5), rd(&b, 5));
		assert_int_equal(rd(&a, 0), rd(&b, 0));
		assert_int_equal(spi_level[5], spi_level[6]);
	}
	assert_int_equal(rd(&b, 5) & 0x01, 0);
	assert_int_equal(spi_level[6], 0); /* THRE was acknowledged by the IIR read */
	snap_buf_free(&buf);
}

static void test_snapshot_fifo_bytes_in_order(void **state)
{
	(void)state;
	struct uart_8250 a, b;
	struct snap_buf buf = { 0 };

	uart_8250_init(&a, NULL, -1, NULL, 0);
	uart_8250_init(&b, NULL, -1, NULL, 0);
	busy_uart(&a);
	uart_8250_save(&a, &buf);
	struct snap_cursor c = cursor(&buf);
	assert_int_equal(uart_8250_restore(&b, &c), 0);
	/* Bytes 60-63 of the first batch ('A' + 60 % 26 = 'I'...), then the ten that wrapped. */
	const char *want = "IJKL0123456789";
	assert_memory_equal(buf.data + 12, want, 14);
	for (unsigned int i = 0; want[i]; i++)
		assert_int_equal(rd(&b, 0), (uint8_t)want[i]);
	assert_int_equal(uart_8250_rx_space(&b), UART_RX_FIFO);
	snap_buf_free(&buf);
}

/* Offsets in the payload: ier lcr mcr scr fcr dll dlm thr_pending | rx_count (u32) | bytes. */
struct uart_mutation {
	const char *what;
	size_t off;	/* byte to overwrite, or SIZE_MAX */
	uint8_t value;
	int len_delta;	/* bytes to cut (negative) or append */
};

static void test_snapshot_rejects_hostile(void **state)
{
	static const struct uart_mutation m[] = {
		{ "IER reserved bits", 0, 0x10, 0 },
		{ "MCR above loopback", 2, 0x20, 0 },
		{ "FCR write-only bits", 4, 0x02, 0 },
		{ "thr_int_pending not a bool", 7, 2, 0 },
		{ "rx_count past the FIFO", 8, UART_RX_FIFO + 1, 0 },
		{ "rx_count huge", 11, 0x80, 0 },
		{ "rx_count more than the bytes", 8, 15, 0 },
		{ "rx_count fewer than the bytes", 8, 13, 0 },
		{ "truncated", SIZE_MAX, 0, -1 },
		{ "truncated in the header", SIZE_MAX, 0, -20 },
		{ "a byte left over", SIZE_MAX, 0, 1 },
	};
	(void)state;
	struct uart_8250 a, victim;
	struct snap_buf good = { 0 };

	uart_8250_init(&a, NULL, -1, NULL, 0);
	busy_uart(&a);
	uart_8250_save(&a, &good);
	uart_8250_init(&victim, NULL, -1, &fake_ic, 5);
	wr(&victim, 1, 0x01);
	uart_8250_receive(&victim, (const uint8_t *)"xyz", 3);
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		uint8_t bytes[128];
		size_t len = good.len;
		struct uart_8250_state before = victim.st;
		int changes = level_changes;

		memcpy(bytes, good.data, good.len);
		memset(bytes + good.len, 0, sizeof(bytes) - good.len);
		if (m[i].off != SIZE_MAX)
			bytes[m[i].off] = m[i].value;
		len = (size_t)((ssize_t)len + m[i].len_delta);
		struct snap_cursor c = { .p = bytes, .len = len };
		print_message("hostile UART payload: %s\n", m[i].what);
		assert_int_equal(uart_8250_restore(&victim, &c), -EINVAL);
		assert_memory_equal(&victim.st, &before, sizeof(before));
		assert_int_equal(level_changes, changes);
	}
	snap_buf_free(&good);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* teardown closes the reader first: the writer gets EPIPE */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transmit_goes_to_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_console_shows_busy_transmitter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_and_rx_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_full_and_space_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fcr_clear_signals_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divisor_latch_and_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_and_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_fifo_bytes_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_rejects_hostile, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
