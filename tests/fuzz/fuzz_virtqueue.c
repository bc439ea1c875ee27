/*
 * libFuzzer target: a hostile driver's view of a split virtqueue. The input is
 * the queue's configuration followed by the contents of a small guest RAM;
 * the target pops and pushes until the ring is empty or refused. Any access
 * outside guest RAM is caught by ASan (RAM is an exact-size heap buffer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "board/layout.h"
#include "devices/virtqueue.h"
#include "core/log.h"

#define FUZZ_RAM 65536u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct {
		uint16_t num, last_avail, used;
		uint16_t desc_off, avail_off, used_off;
	} hdr;
	static struct virtq_chain c;

	if (size < sizeof(hdr))
		return 0;
	memcpy(&hdr, data, sizeof(hdr));
	data += sizeof(hdr);
	size -= sizeof(hdr);

	/* Exactly-sized so that one byte too far is an ASan report. */
	uint8_t *ram = calloc(1, FUZZ_RAM);
	memcpy(ram, data, size < FUZZ_RAM ? size : FUZZ_RAM);
	struct guest_mem mem = { .host = ram, .gpa = BOARD_RAM_BASE, .size = FUZZ_RAM };
	/* Offsets may point anywhere, including past RAM: the layout check must catch it. */
	struct virtq q = {
		.num = hdr.num,
		.ready = true,
		.desc_gpa = BOARD_RAM_BASE + hdr.desc_off * 16ull,
		.avail_gpa = BOARD_RAM_BASE + hdr.avail_off * 2ull,
		.used_gpa = BOARD_RAM_BASE + hdr.used_off * 4ull,
		.last_avail_idx = hdr.last_avail,
		.used_idx = hdr.used,
	};

	for (int i = 0; i < 1024; i++) {
		int r = virtq_pop(&q, &mem, &c);
		if (r <= 0)
			break;
		/* Touch every byte handed out, as a device would. */
		uint64_t sum = 0;
		for (unsigned int j = 0; j < c.n_out + c.n_in; j++) {
			const uint8_t *p = c.iov[j].iov_base;
			for (size_t k = 0; k < c.iov[j].iov_len; k++)
				sum += p[k];
		}
		if (c.n_in)
			memset(c.iov[c.n_out].iov_base, (int)(sum & 0xff), c.iov[c.n_out].iov_len);
		virtq_push(&q, &mem, c.head, (uint32_t)c.in_bytes);
		virtq_wants_interrupt(&q, &mem);
	}
	free(ram);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_threshold = LOG_ERROR; /* refusals are expected; keep the fuzzer's output readable */
	return 0;
}
