/*
 * Saved state as bytes: growing payloads (snap_buf), bounds-checked reading
 * (snap_cursor), little-endian fields and CRC32. Every piece of armvmm that
 * saves itself (vCPUs, irqchips, devices) writes through here; the snapshot
 * file format and the migration stream carry the payloads.
 */
#include "core/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#if defined(__aarch64__)
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "core/log.h"

/* --- little-endian fields ------------------------------------------------------------ */

void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}


#if defined(__aarch64__)
/*
 * The same CRC-32 (the polynomial of zlib, Ethernet and the ARMv8 CRC32
 * instructions) eight bytes per instruction: a migration checksums every
 * page it sends, and table lookups cost far more, worst of all under
 * emulation. Used when the CPU says it has them (HWCAP_CRC32).
 */
__attribute__((target("+crc"))) static uint32_t crc32_arm(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;

	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		crc = __crc32d(crc, v);
	}
	while (n--)
		crc = __crc32b(crc, *p++);
	return ~crc;
}

static bool have_crc32_insns(void)
{
	static int have = -1;

	if (have < 0)
		have = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
	return have;
}
#endif

uint32_t snap_crc32(const void *p, size_t n)
{
	const Bytef *b = p;
	uLong crc = crc32(0L, Z_NULL, 0);

#if defined(__aarch64__)
	if (have_crc32_insns())
		return crc32_arm(p, n);
#endif
	/* zlib takes a uInt length: feed larger buffers in pieces. */
	while (n > 0) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		crc = crc32(crc, b, k);
		b += k;
		n -= k;
	}
	return (uint32_t)crc;
}



/* --- building payloads --------------------------------------------------------------- */

void snap_buf_free(struct snap_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Room for n more bytes at the end, or NULL (and err set) for good. */
uint8_t *snap_buf_reserve(struct snap_buf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (n > SIZE_MAX - b->len) {
		b->err = true;
		return NULL;
	}
	/* Always some room: even an empty payload has a pointer to point past (NULL + 0 is undefined). */
	if (b->len + n > b->cap || !b->data) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->err = true;
			return NULL;
		}
		b->data = d;
		b->cap = cap;
	}
	uint8_t *p = b->data + b->len;
	b->len += n;
	return p;
}

void snap_put_bytes(struct snap_buf *b, const void *p, size_t n)
{
	uint8_t *d = snap_buf_reserve(b, n);

	if (d && n)
		memcpy(d, p, n);
}

void snap_put_u8(struct snap_buf *b, uint8_t v) { snap_put_bytes(b, &v, 1); }

void snap_put_u16(struct snap_buf *b, uint16_t v)
{
	uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	snap_put_bytes(b, d, 2);
}

void snap_put_u32(struct snap_buf *b, uint32_t v)
{
	uint8_t d[4];

	le32_put(d, v);
	snap_put_bytes(b, d, 4);
}

void snap_put_u64(struct snap_buf *b, uint64_t v)
{
	uint8_t d[8];

	le64_put(d, v);
	snap_put_bytes(b, d, 8);
}

void snap_put_str(struct snap_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT32_MAX) {
		b->err = true;
		return;
	}
	snap_put_u32(b, (uint32_t)n);
	snap_put_bytes(b, s, n);
}

/* --- reading payloads ---------------------------------------------------------------- */

/*
 * The next n bytes, or NULL once anything went wrong. An overrun moves off
 * past len (saturating) so that snap_cursor_done() can tell "truncated" from
 * "invalid value", which leaves off at the bad value.
 */
static const uint8_t *take(struct snap_cursor *c, size_t n)
{
	if (c->err)
		return NULL;
	if (c->off > c->len || n > c->len - c->off) {
		c->err = true;
		c->off = n > SIZE_MAX - c->off ? SIZE_MAX : c->off + n;
		if (c->off <= c->len)	/* only for a caller-made cursor with off > len already */
			c->off = c->len + 1;
		return NULL;
	}
	const uint8_t *p = c->p + c->off;
	c->off += n;
	return p;
}

static void invalid_at(struct snap_cursor *c, size_t off)
{
	c->err = true;
	c->off = off;
}

void snap_get_bytes(struct snap_cursor *c, void *p, size_t n)
{
	const uint8_t *s = take(c, n);

	if (!n)
		return;
	if (s)
		memcpy(p, s, n);
	else
		memset(p, 0, n);
}

uint8_t snap_get_u8(struct snap_cursor *c)
{
	const uint8_t *s = take(c, 1);

	return s ? s[0] : 0;
}

uint16_t snap_get_u16(struct snap_cursor *c)
{
	const uint8_t *s = take(c, 2);

	return s ? (uint16_t)le_get(s, 2) : 0;
}

uint32_t snap_get_u32(struct snap_cursor *c)
{
	const uint8_t *s = take(c, 4);

	return s ? le32_get(s) : 0;
}

uint64_t snap_get_u64(struct snap_cursor *c)
{
	const uint8_t *s = take(c, 8);

	return s ? le64_get(s) : 0;
}

bool snap_get_bool(struct snap_cursor *c)
{
	size_t at = c->off;
	uint8_t v = snap_get_u8(c);

	if (v > 1)
		invalid_at(c, at);
	return v == 1;
}

void snap_get_str(struct snap_cursor *c, char *buf, size_t cap)
{
	size_t at = c->off;
	uint32_t n = snap_get_u32(c);

	if (cap)
		buf[0] = 0;
	if (c->err)
		return;
	if (cap == 0 || n > cap - 1) {
		invalid_at(c, at);
		return;
	}
	const uint8_t *s = take(c, n);
	if (!s)
		return;
	if (memchr(s, 0, n)) {
		invalid_at(c, at);
		return;
	}
	memcpy(buf, s, n);
	buf[n] = 0;
}

int snap_cursor_done(const struct snap_cursor *c, const char *what)
{
	if (c->err && c->off > c->len)
		pr_err("snapshot section %s: payload is truncated (%zu bytes)", what, c->len);
	else if (c->err)
		pr_err("snapshot section %s: invalid value at byte %zu of the payload", what, c->off);
	else if (c->off < c->len)
		pr_err("snapshot section %s: payload is %zu bytes longer than its contents", what,
		       c->len - c->off);
	else
		return 0;
	return -EINVAL;
}
