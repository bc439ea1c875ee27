/* The 16550A UART model: transmit, receive, interrupt identification and the IRQ line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

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
	int out[2];
	int space_fd[2];
};

static int setup(void **state)
{
	static struct fixture f;
	assert_int_equal(pipe(f.out), 0);
	assert_int_equal(pipe(f.space_fd), 0);
	uart_8250_init(&f.u, f.out[1], f.space_fd[1], &fake_ic, 5);
	last_level = -1;
	level_changes = 0;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	close(f->out[0]);
	close(f->out[1]);
	close(f->space_fd[0]);
	close(f->space_fd[1]);
	return 0;
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
	assert_int_equal(read(f->out[0], buf, sizeof(buf)), 2);
	assert_string_equal(buf, "hi");
	assert_int_equal(level_changes, 0); /* no interrupts enabled, no line activity */
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
	assert_int_equal(read(f->out[0], &c, 1), 1);
	assert_int_equal(c, 'k');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transmit_goes_to_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_and_rx_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_full_and_space_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divisor_latch_and_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_and_out_of_range, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
