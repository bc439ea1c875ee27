/*
 * printf-lite: %c %s %d %i %u %x %X %p %%, length modifiers l, ll, z, h
 * (ignored), flags '0' and '-', and a field width.  Output goes straight to
 * the UART; '\n' is sent as-is (no CR added).
 */
#include "guest.h"

static void put_padded(const char *s, unsigned len, unsigned width, bool left, char pad)
{
	unsigned i;

	if (!left)
		for (i = len; i < width; i++)
			uart_putc(pad);
	for (i = 0; i < len; i++)
		uart_putc(s[i]);
	if (left)
		for (i = len; i < width; i++)
			uart_putc(' ');
}

static void put_number(unsigned long long v, bool neg, unsigned base, bool upper,
		       unsigned width, bool left, bool zero)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24], buf[24];
	unsigned n = 0, len = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);

	if (neg) {
		if (zero && !left) {
			/* "-0001": sign before the zero padding. */
			uart_putc('-');
			if (width)
				width--;
		} else {
			buf[len++] = '-';
		}
	}
	while (n)
		buf[len++] = tmp[--n];
	put_padded(buf, len, width, left, zero && !left ? '0' : ' ');
}

void kvprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		unsigned width = 0, lng = 0;
		bool left = false, zero = false, is_size = false;
		unsigned long long uv;
		long long sv;
		char c;

		if (*fmt != '%') {
			uart_putc(*fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				zero = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		for (;; fmt++) {
			if (*fmt == 'l')
				lng++;
			else if (*fmt == 'z')
				is_size = true;
			else if (*fmt != 'h')
				break;
		}

		switch (*fmt) {
		case '\0':
			return;
		case '%':
			uart_putc('%');
			break;
		case 'c':
			c = (char)va_arg(ap, int);
			put_padded(&c, 1, width, left, ' ');
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (!s)
				s = "(null)";
			put_padded(s, (unsigned)strlen(s), width, left, ' ');
			break;
		}
		case 'd':
		case 'i':
			if (lng >= 2)
				sv = va_arg(ap, long long);
			else if (lng == 1 || is_size)
				sv = va_arg(ap, long);
			else
				sv = va_arg(ap, int);
			if (sv < 0)
				put_number(0ULL - (unsigned long long)sv, true, 10, false, width, left, zero);
			else
				put_number((unsigned long long)sv, false, 10, false, width, left, zero);
			break;
		case 'u':
		case 'x':
		case 'X':
			if (lng >= 2)
				uv = va_arg(ap, unsigned long long);
			else if (lng == 1 || is_size)
				uv = va_arg(ap, unsigned long);
			else
				uv = va_arg(ap, unsigned int);
			put_number(uv, false, *fmt == 'u' ? 10 : 16, *fmt == 'X', width, left, zero);
			break;
		case 'p':
			uart_putc('0');
			uart_putc('x');
			put_number((uintptr_t)va_arg(ap, void *), false, 16, false, width, left, zero);
			break;
		default:
			/* Unknown conversion: print it verbatim. */
			uart_putc('%');
			uart_putc(*fmt);
			break;
		}
	}
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}
