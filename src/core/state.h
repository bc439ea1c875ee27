/*
 * Saved state as bytes: what every part of armvmm that saves itself (vCPUs,
 * irqchips, devices) writes and reads. A payload is built in a snap_buf and
 * read back through a bounds-checked snap_cursor; integers are little-endian.
 * The snapshot file (snapshot/snapfile.h) and the migration stream carry
 * payloads as sections named by a four-character tag and an instance number.
 */
#ifndef ARMVMM_CORE_STATE_H
#define ARMVMM_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Section tags: four ASCII characters, first character in the low byte. */
#define SNAP_TAG(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/* One kind of section a snapshot (or a migration stream) may hold. */
struct snap_kind {
	uint32_t tag;
	uint32_t max_instances;	/* instances 0..max-1 may be there (0: one per vCPU) */
	bool required;		/* and each of them must be */
	const char *what;	/* for messages: "UART", "virtio slot" */
};

/* A growing payload. A failed allocation sets err; whoever adds it to a snapshot then fails. */
struct snap_buf {
	uint8_t *data;
	size_t len, cap;
	bool err;
};

void snap_buf_free(struct snap_buf *b);
/* Append n bytes and return them for the caller to fill, or NULL (err set for good). */
uint8_t *snap_buf_reserve(struct snap_buf *b, size_t n);
void snap_put_u8(struct snap_buf *b, uint8_t v);
void snap_put_u16(struct snap_buf *b, uint16_t v);
void snap_put_u32(struct snap_buf *b, uint32_t v);
void snap_put_u64(struct snap_buf *b, uint64_t v);
void snap_put_bytes(struct snap_buf *b, const void *p, size_t n);
void snap_put_str(struct snap_buf *b, const char *s);	/* u32 length, then the bytes (no NUL) */

/*
 * Reading one payload. Reading past the end sets err and yields zeros.
 * version is the snapshot format version the payload was written in, for
 * readers whose layout changed (1: the first format; 0 stands for the
 * current one, which is what a cursor set up by hand reads).
 */
struct snap_cursor {
	const uint8_t *p;
	size_t len, off;
	bool err;
	uint32_t version;
};

uint8_t snap_get_u8(struct snap_cursor *c);
uint16_t snap_get_u16(struct snap_cursor *c);
uint32_t snap_get_u32(struct snap_cursor *c);
uint64_t snap_get_u64(struct snap_cursor *c);
bool snap_get_bool(struct snap_cursor *c);	/* a u8 that must be 0 or 1 (else err) */
void snap_get_bytes(struct snap_cursor *c, void *p, size_t n);
/* A snap_put_str string into buf (cap bytes incl. NUL): err if longer than cap - 1 or holding a NUL. */
void snap_get_str(struct snap_cursor *c, char *buf, size_t cap);
/* The reader of a payload is done: 0, or -EINVAL after one error line naming what (overrun or bytes left over). */
int snap_cursor_done(const struct snap_cursor *c, const char *what);

/* CRC32 (zlib's polynomial) of a buffer. */
uint32_t snap_crc32(const void *p, size_t n);

/* Little-endian fields in byte buffers. */
void le32_put(uint8_t *p, uint32_t v);
void le64_put(uint8_t *p, uint64_t v);
uint64_t le_get(const uint8_t *p, int n);	/* n bytes, 1..8 */
static inline uint32_t le32_get(const uint8_t *p) { return (uint32_t)le_get(p, 4); }
static inline uint64_t le64_get(const uint8_t *p) { return le_get(p, 8); }

#endif
