/*
 * libFuzzer target: a hostile migration stream, as a destination receives it
 * (migration/stream.c). The input is the stream itself: frames, each a
 * 24-byte header and its payload, fed in turn to mig_parse_frame_header and
 * mig_rx_frame until one is refused or the input ends. The harness
 * recomputes each frame's CRC before handing it over (a random mutation
 * would almost never get past the checksum, and the checksum check itself is
 * a unit test's), unless the header's CRC is 0xffffffff, which goes through
 * as it is. After the handshake the pages go into a "guest RAM" buffer of
 * exactly the size the greeting declared (at most 16 MiB; a larger one ends
 * the input), so one byte outside it is an ASan report. When the stream
 * completes, the state it assembled is checked against what the reader
 * promises: sections inside the image, each found again.
 *
 * Every refusal prints an error line; set FUZZ_MIGSTREAM_LOG=1 to see them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/board.h"
#include "core/log.h"
#include "migration/stream.h"

#define MAX_RAM (16ull << 20)

static FILE *report;

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(report ? report : stderr,                                     \
				"fuzz_migstream: check failed: %s (line %d)\n", #cond, __LINE__);  \
			abort();                                                              \
		}                                                                             \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_rx rx;
	uint8_t *ram = NULL;
	size_t off = 0;

	mig_rx_init(&rx, board_snap_kinds, board_nr_snap_kinds);
	while (size - off >= MIG_FRAME_HEADER_SIZE) {
		uint32_t tag, instance, crc;
		uint64_t len;
		if (mig_parse_frame_header(data + off, rx.h.page_size, &tag, &instance, &len, &crc) != 0)
			break;
		off += MIG_FRAME_HEADER_SIZE;
		if (len > size - off)
			break;
		/* Exactly sized, so that reading past the payload is an ASan report. */
		uint8_t *payload = malloc(len ? (size_t)len : 1);
		if (!payload)
			break;
		memcpy(payload, data + off, (size_t)len);
		off += (size_t)len;
		if (crc != 0xffffffffu)
			crc = snap_crc32(payload, (size_t)len);
		int err = mig_rx_frame(&rx, tag, instance, payload, (size_t)len, crc);
		free(payload);
		if (err) {
			CHECK(err == -EPROTO || err == -ENOMEM);
			break;
		}
		if (rx.phase == MIG_RX_ACCEPT) {
			/* The destination would build the VM here; the fuzzer's RAM is a buffer of the declared size. */
			if (rx.h.mem_size > MAX_RAM)
				break;
			ram = calloc(1, (size_t)rx.h.mem_size);
			if (!ram)
				break;
			mig_rx_set_ram(&rx, ram);
		}
		if (rx.phase == MIG_RX_DONE) {
			const struct snap_reader *s = &rx.state;
			CHECK(s->state && s->state_len == rx.image.buf.len);
			for (unsigned int i = 0; i < s->nr_sections; i++) {
				struct snap_cursor c;
				CHECK(s->sections[i].offset + s->sections[i].length <= s->state_len);
				CHECK(snap_reader_find(s, s->sections[i].tag, s->sections[i].instance, &c) == 0);
				CHECK(c.p == s->state + s->sections[i].offset && c.version == SNAP_VERSION);
			}
		}
	}
	mig_rx_free(&rx);
	free(ram);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* As fuzz_snapfile.c: refusals are error lines; send log.c's stderr to /dev/null. */
	report = stderr;
	if (!getenv("FUZZ_MIGSTREAM_LOG")) {
		FILE *null = fopen("/dev/null", "w");
		if (null)
			stderr = null;
	}
	return 0;
}
