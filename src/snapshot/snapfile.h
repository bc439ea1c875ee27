/*
 * The snapshot file format (documented for users in man/armvmm-snapshot.5).
 *
 * A snapshot is a directory holding two files:
 *   state   a 64-byte header, then sections: each a 24-byte section header
 *           (tag, instance, length, CRC32 of the payload) and a payload padded
 *           with zeros to a multiple of 8 bytes; every integer little-endian;
 *   memory  guest RAM, byte for byte, written sparsely (zero pages are holes),
 *           exactly mem_size bytes long; restore maps it MAP_PRIVATE.
 *
 * This file knows nothing of KVM: it builds and checks bytes. The reader
 * validates the whole state file (magic, version, header CRC, every section's
 * bounds and CRC, duplicate sections, the sections a VM needs) before the
 * caller looks at any of it; payload fields are then read through a bounds-
 * checked cursor, and snap_cursor_done() rejects a payload whose size
 * disagrees with what its reader took from it.
 */
#ifndef ARMVMM_SNAPFILE_H
#define ARMVMM_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/state.h"

#define SNAP_MAGIC "ARMVMMSN"		/* 8 bytes, no NUL */
#define SNAP_VERSION 1u
#define SNAP_HEADER_SIZE 64u
#define SNAP_SECTION_HEADER_SIZE 24u
#define SNAP_STATE_FILE "state"
#define SNAP_MEMORY_FILE "memory"
#define SNAP_MAX_STATE_SIZE (256u << 20)	/* a bound for hostile files, far above real ones */
#define SNAP_MAX_SECTIONS 65536u
#define SNAP_MAX_VCPUS 4096u

/*
 * The sections the format itself defines. Every other section belongs to a
 * device: its tag and how many instances a snapshot may hold come from the
 * caller as a list of struct snap_kind (the board's board_snap_kinds).
 */
#define SNAP_SEC_CONFIG SNAP_TAG('C', 'O', 'N', 'F')	/* what to rebuild: devices, options (1) */
#define SNAP_SEC_VCPU SNAP_TAG('V', 'C', 'P', 'U')	/* instance = vCPU index (nr_vcpus) */
#define SNAP_SEC_GIC SNAP_TAG('G', 'I', 'C', ' ')	/* irqchip state (1) */
#define SNAP_MAX_KINDS 32u				/* those three and the devices' kinds */

/* The fixed header (everything but magic and CRCs). */
struct snap_header {
	uint32_t version;
	uint32_t page_size;	/* host page size at save time */
	uint32_t nr_vcpus;	/* 1..SNAP_MAX_VCPUS */
	uint32_t irqchip_type;	/* enum irqchip_type */
	uint64_t mem_gpa;	/* guest RAM: one region [mem_gpa, mem_gpa + mem_size) */
	uint64_t mem_size;
};

/*
 * Writing a snapshot into dir (which must not exist yet): everything goes to
 * "<dir>.tmp-<pid>" first; commit fsyncs both files and that directory, then
 * renames it to dir and fsyncs the parent. Every failure prints one error line,
 * removes the temporary directory and returns -errno. After a failed add or
 * memory the writer only remembers the error (later calls return it without a
 * word); the caller still ends it with commit or abort.
 */
struct snap_writer;

/*
 * h->version is ignored (SNAP_VERSION is written); the other fields are
 * checked as the reader would, and at commit the sections too, with kinds
 * (kept by reference) as the devices' sections.
 */
int snap_writer_open(struct snap_writer **w, const char *dir, const struct snap_header *h,
		     const struct snap_kind *kinds, unsigned int nr_kinds);
/* Append a section; the payload is copied (b stays the caller's). -ENOMEM if b->err. */
int snap_writer_add(struct snap_writer *w, uint32_t tag, uint32_t instance, const struct snap_buf *b);
/* Write guest RAM (h->mem_size bytes at host) to the memory file, leaving holes for zero pages. */
int snap_writer_memory(struct snap_writer *w, const void *host);
/*
 * Validate the state as snap_reader_parse() would, write it, make everything
 * durable and rename into place. Frees w. On success, the state file's size and
 * the memory file's data bytes (not its holes) go to the non-NULL pointers.
 */
int snap_writer_commit_stats(struct snap_writer *w, uint64_t *state_bytes, uint64_t *memory_bytes);
int snap_writer_commit(struct snap_writer *w);	/* snap_writer_commit_stats(w, NULL, NULL) */
void snap_writer_abort(struct snap_writer *w);	/* frees w, removes the temporary directory */

/* A loaded, validated snapshot. */
struct snap_section {
	uint32_t tag, instance;
	uint64_t offset, length;	/* payload position in state */
};

struct snap_reader {
	struct snap_header h;
	uint8_t *state;
	size_t state_len;
	struct snap_section *sections;
	unsigned int nr_sections;
	int mem_fd;		/* the memory file, open read-only; -1 until snap_reader_open */
};

/*
 * Read dir/state, validate it (snap_reader_parse), open dir/memory and check
 * that it is a regular file exactly h.mem_size long. 0, or -errno after one
 * error line saying what is wrong with which file.
 */
int snap_reader_open(struct snap_reader *r, const char *dir, const struct snap_kind *kinds, unsigned int nr_kinds);
/*
 * The pure part: validate a state file image (buf is copied). Checks magic,
 * version, header size and CRC, page size (power of two, 4 KiB..64 KiB),
 * nr_vcpus (1..SNAP_MAX_VCPUS), the memory region (non-empty, page-aligned,
 * no wrap, below 2^48), the file length against the header's, every section
 * (inside the file, padding zero, CRC), no duplicate (tag, instance), exactly
 * one CONF and one GIC section, VCPU sections for exactly 0..nr_vcpus-1, and
 * of each device kind in kinds, instances below its max_instances (every one
 * of them if it is required). Also refused: a tag neither the format nor kinds
 * knows, a CONF/GIC instance other than 0, nonzero header flags or reserved
 * fields. 0 or -EINVAL (-ENOMEM) after one error line; on failure r holds
 * nothing.
 */
int snap_reader_parse(struct snap_reader *r, const uint8_t *buf, size_t len, const struct snap_kind *kinds,
		      unsigned int nr_kinds);
/* The payload of section (tag, instance): 0 and a cursor, or -ENOENT. */
int snap_reader_find(const struct snap_reader *r, uint32_t tag, uint32_t instance, struct snap_cursor *c);
/* Free and close; safe on a zeroed or failed reader (and twice). */
void snap_reader_close(struct snap_reader *r);

#endif
