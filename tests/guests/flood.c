/*
 * flood.bin: prints numbered lines as fast as the UART takes them, forever.
 * Each line says how many of its LSR polls found the transmitter busy (THRE
 * clear), so a test can see that the guest noticed a full console. The system
 * tests run it with a console nobody reads, then check that armvmm still
 * pauses, snapshots and stops (the console must never block a vCPU).
 */
#include "guest.h"

#define UART_LSR 5
#define UART_LSR_THRE 0x20

static unsigned long busy_polls;

/* Like uart_putc, but waits for THRE as long as it takes and counts the busy polls. */
static void flood_putc(char c)
{
	while (!(mmio_read8(UART_DEFAULT_BASE + UART_LSR) & UART_LSR_THRE))
		busy_polls++;
	mmio_write8(UART_DEFAULT_BASE, (uint8_t)c);
}

static void flood_puts(const char *s)
{
	while (*s)
		flood_putc(*s++);
}

/* Decimal, without the runtime's printf (which writes through uart_putc). */
static void flood_putu(unsigned long v)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		flood_putc(buf[--n]);
}

void guest_main(uintptr_t dtb)
{
	guest_init(dtb, false);
	kputs("flood: printing until stopped\n");
	for (unsigned long n = 0;; n++) {
		flood_puts("flood: line ");
		flood_putu(n);
		flood_puts(" busy-polls ");
		flood_putu(busy_polls);
		flood_puts(": the quick brown fox jumps over the lazy dog\n");
	}
}
