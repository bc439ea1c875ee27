/*
 * Console: a 16550-compatible UART (THR/RBR at +0, LSR at +5 << shift,
 * LSR bit 0 = DR, bit 5 = THRE).  The debug-only PL011 mode exists so the guests can be
 * smoke-tested on QEMU's virt machine (built with -DGUEST_QEMU_VIRT).
 */
#include "guest.h"

#define UART_THR 0
#define UART_RBR 0
#define UART_LSR 5
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20

#define PL011_DR 0x00
#define PL011_FR 0x18
#define PL011_FR_RXFE 0x10
#define PL011_FR_TXFF 0x20

/* Bounded THRE poll: a VMM that never reports THRE must not hang us. */
#define UART_POLL_LIMIT 1000000

enum uart_kind { UART_16550, UART_PL011 };

static uintptr_t uart_base = UART_DEFAULT_BASE;
static unsigned uart_shift;
static enum uart_kind uart_kind = UART_16550;

void uart_set_16550(uintptr_t base, unsigned reg_shift)
{
	uart_base = base;
	uart_shift = reg_shift;
	uart_kind = UART_16550;
}

void uart_set_pl011(uintptr_t base)
{
	uart_base = base;
	uart_shift = 0;
	uart_kind = UART_PL011;
}

void uart_putc(char c)
{
	unsigned i;

	if (uart_kind == UART_PL011) {
		for (i = 0; i < UART_POLL_LIMIT; i++)
			if (!(mmio_read32(uart_base + PL011_FR) & PL011_FR_TXFF))
				break;
		mmio_write32(uart_base + PL011_DR, (uint8_t)c);
		return;
	}
	for (i = 0; i < UART_POLL_LIMIT; i++)
		if (mmio_read8(uart_base + (UART_LSR << uart_shift)) & UART_LSR_THRE)
			break;
	mmio_write8(uart_base + (UART_THR << uart_shift), (uint8_t)c);
}

int uart_getc(void)
{
	if (uart_kind == UART_PL011) {
		if (mmio_read32(uart_base + PL011_FR) & PL011_FR_RXFE)
			return -1;
		return (int)(mmio_read32(uart_base + PL011_DR) & 0xff);
	}
	if (!(mmio_read8(uart_base + (UART_LSR << uart_shift)) & UART_LSR_DR))
		return -1;
	return mmio_read8(uart_base + (UART_RBR << uart_shift));
}

void kputs(const char *s)
{
	while (*s)
		uart_putc(*s++);
}
