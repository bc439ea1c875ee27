/*
 * libFuzzer target: a hostile snapshot state file. The input is
 *
 *   byte 0     flags: bit 0 recompute the section and header CRCs,
 *              bit 1 set the header's state_size to the image's length
 *              (so that mutations get past the checks a random change
 *              would almost always fail, and reach the ones behind them)
 *   byte 1     n, the number of op bytes
 *   n bytes    ops, used in turn (cycling) to read every payload
 *   the rest   the state file image
 *
 * The image goes to snap_reader_parse(, board_snap_kinds, board_nr_snap_kinds). When it is accepted, every section
 * is read through a cursor with reads of the widths the ops choose (low 3
 * bits: u8, u16, u32, u64, bool, bytes, string, big bytes; the high 5 bits a
 * width or string capacity), then snap_cursor_done(). The target checks what
 * the reader promises: sections inside the image, found again by
 * snap_reader_find(), zeros after a failed read, strings terminated within
 * their buffer. Any out-of-bounds access is ASan's.
 *
 * Every refused input prints an error line through log.c; set
 * FUZZ_SNAPFILE_LOG=1 to see them (they are hidden by default, see below).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/board.h"
#include "devices/pl031.h"
#include "devices/uart_8250.h"
#include "devices/virtio_mmio.h"
#include "snapshot/snapfile.h"
#include "core/log.h"

static FILE *report;	/* the real stderr, whatever log.c writes to */

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(report ? report : stderr,                                     \
				"fuzz_snapfile: check failed: %s (line %d)\n", #cond, __LINE__);   \
			abort();                                                              \
		}                                                                             \
	} while (0)

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

/* Make the CRCs (and state_size) right wherever the framing lets us find them. */
static void fix_up(uint8_t *img, size_t len, uint8_t flags)
{
	if (len < SNAP_HEADER_SIZE)
		return;
	if (flags & 2)
		wr64(img + 48, len);
	if (flags & 1) {
		uint32_t nr = rd32(img + 28);
		size_t off = SNAP_HEADER_SIZE;
		for (uint32_t i = 0; i < nr && len - off >= SNAP_SECTION_HEADER_SIZE; i++) {
			uint64_t n = rd64(img + off + 8);
			if (n > len - off - SNAP_SECTION_HEADER_SIZE)
				break;
			wr32(img + off + 16, snap_crc32(img + off + SNAP_SECTION_HEADER_SIZE, (size_t)n));
			off += SNAP_SECTION_HEADER_SIZE + (((size_t)n + 7) & ~(size_t)7);
			if (off > len)
				break;
		}
		wr32(img + 60, snap_crc32(img, 60));
	}
}

struct ops {
	const uint8_t *p;
	size_t n, i;
};

static uint8_t next_op(struct ops *o) { return o->n ? o->p[o->i++ % o->n] : 0; }

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return false;
	}
	return true;
}

/* One read of the kind op chooses; after an error every read must yield zeros. */
static void one_read(struct snap_cursor *c, uint8_t op)
{
	static uint8_t bytes[31 * 37];
	char str[33];
	unsigned int w = op >> 3;
	bool was_err = c->err;
	uint64_t v = 0;

	switch (op & 7) {
	case 0: v = snap_get_u8(c); break;
	case 1: v = snap_get_u16(c); break;
	case 2: v = snap_get_u32(c); break;
	case 3: v = snap_get_u64(c); break;
	case 4: v = snap_get_bool(c); CHECK(v <= 1); break;
	case 5:
		snap_get_bytes(c, bytes, w);
		if (c->err)
			CHECK(all_zero(bytes, w));
		break;
	case 6:
		memset(str, 'x', sizeof(str));
		snap_get_str(c, str, w + 1);
		CHECK(strnlen(str, w + 1) < w + 1);
		if (c->err)
			CHECK(str[0] == 0);
		break;
	case 7:
		snap_get_bytes(c, bytes, w * 37);
		if (c->err)
			CHECK(all_zero(bytes, w * 37));
		break;
	}
	if (was_err || (c->err && (op & 7) <= 4))
		CHECK(v == 0);
	if (!c->err)
		CHECK(c->off <= c->len);
}

static void walk(const struct snap_reader *r, struct ops *o)
{
	CHECK(r->state && r->state_len >= SNAP_HEADER_SIZE);
	CHECK(r->h.nr_vcpus >= 1 && r->h.nr_vcpus <= SNAP_MAX_VCPUS);
	for (unsigned int i = 0; i < r->nr_sections; i++) {
		const struct snap_section *s = &r->sections[i];
		struct snap_cursor c;
		char what[16];

		CHECK(s->offset <= r->state_len && s->length <= r->state_len - s->offset);
		CHECK(snap_reader_find(r, s->tag, s->instance, &c) == 0);
		CHECK(c.p == r->state + s->offset && c.len == s->length && c.off == 0 && !c.err);
		for (int k = 0; k < 4096 && !c.err && c.off < c.len; k++)
			one_read(&c, next_op(o));
		snprintf(what, sizeof(what), "%c%c%c%c/%u", (char)s->tag, (char)(s->tag >> 8),
			 (char)(s->tag >> 16), (char)(s->tag >> 24), s->instance);
		int err = snap_cursor_done(&c, what);
		CHECK(err == 0 || err == -EINVAL);
		CHECK((err == 0) == (!c.err && c.off == c.len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_reader r;

	if (size < 2 || size - 2 < data[1])
		return 0;
	uint8_t flags = data[0];
	struct ops o = { .p = data + 2, .n = data[1] };
	size_t len = size - 2 - data[1];
	/* Exactly sized, so that one byte too far is an ASan report. */
	uint8_t *img = malloc(len ? len : 1);
	if (!img)
		return 0;
	memcpy(img, data + 2 + data[1], len);
	fix_up(img, len, flags);

	if (snap_reader_parse(&r, img, len, board_snap_kinds, board_nr_snap_kinds) == 0) {
		CHECK(r.state_len == len && memcmp(r.state, img, len) == 0);
		walk(&r, &o);
	} else {
		CHECK(!r.state && !r.sections && r.nr_sections == 0 && r.mem_fd == -1);
	}
	snap_reader_close(&r);
	free(img);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/*
	 * Refusals are the common case and each is an error line, which
	 * log_threshold cannot hide. glibc's stderr is an assignable variable:
	 * point it (and so log.c) at /dev/null. libFuzzer keeps the FILE it took
	 * at start-up and the sanitizers write to fd 2, so their reports still show.
	 */
	report = stderr;
	if (!getenv("FUZZ_SNAPFILE_LOG")) {
		FILE *null = fopen("/dev/null", "w");
		if (null)
			stderr = null;
	}
	return 0;
}
