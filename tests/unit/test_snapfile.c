/*
 * The snapshot file format: writer/reader round trips (sections, every field
 * type, sparse memory), the reader refusing each kind of damage (one error
 * line each), the writer leaving nothing behind when it fails, and the
 * payload cursor's bounds. State images for the corruption table come from a
 * small builder written here from the documented byte layout, which is also
 * checked to agree byte for byte with the writer.
 *
 * With SNAPFILE_SEED_DIR set, test_write_fuzz_seeds also writes the fuzz
 * corpus (tests/fuzz/corpus/snapfile) there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "board/board.h"
#include "devices/pl031.h"
#include "devices/uart_8250.h"
#include "devices/virtio_mmio.h"
#include "snapshot/snapfile.h"
#include "core/log.h"

#define PAGE 4096u
#define MiB (1024u * 1024u)

static char base[] = "/tmp/armvmm-snapfile-XXXXXX";
static char path_buf[4][512];

/* A path under the test's temporary directory (four rotating buffers). */
static const char *tpath(const char *name)
{
	static int next;
	char *p = path_buf[next++ % 4];

	snprintf(p, sizeof(path_buf[0]), "%s/%s", base, name);
	return p;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool tmp_exists(const char *dir)
{
	char tmp[600];

	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", dir, (long)getpid());
	return exists(tmp);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }


static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Exactly one "armvmm: error: ..." line, containing want. */
static void assert_one_error(const char *out, const char *want, const char *row)
{
	if (count_lines(out) != 1 || strncmp(out, "armvmm: error: ", 15) != 0 || !strstr(out, want))
		fail_msg("%s: wanted one error line with '%s', got: %s", row, want, out);
}

/* --- a standard snapshot --------------------------------------------------------------- */

static const struct snap_header std_header = {
	.version = SNAP_VERSION,
	.page_size = PAGE,
	.nr_vcpus = 2,
	.irqchip_type = 1,
	.mem_gpa = 0x80000000u,
	.mem_size = 1 * MiB,
};

struct std_sec {
	uint32_t tag, instance, len;
};

/* Odd lengths, so that most sections have padding. */
static const struct std_sec std_secs[] = {
	{ SNAP_SEC_CONFIG, 0, 21 }, { SNAP_SEC_VCPU, 0, 40 }, { SNAP_SEC_VCPU, 1, 40 },
	{ SNAP_SEC_GIC, 0, 13 },    { UART_8250_SNAP_TAG, 0, 7 },  { PL031_SNAP_TAG, 0, 5 },
};
#define NR_STD (sizeof(std_secs) / sizeof(std_secs[0]))

static uint8_t std_byte(unsigned int sec, unsigned int i) { return (uint8_t)(sec * 31 + i * 7 + 1); }

static void std_payload(struct snap_buf *b, unsigned int sec)
{
	for (unsigned int i = 0; i < std_secs[sec].len; i++)
		snap_put_u8(b, std_byte(sec, i));
}

static uint8_t *zero_ram(const struct snap_header *h)
{
	uint8_t *ram = calloc(1, h->mem_size);

	assert_non_null(ram);
	return ram;
}

/* The standard snapshot, written by the writer into dir. */
static void write_std(const char *dir, const uint8_t *ram)
{
	struct snap_writer *w;

	assert_int_equal(snap_writer_open(&w, dir, &std_header, board_snap_kinds, board_nr_snap_kinds), 0);
	for (unsigned int s = 0; s < NR_STD; s++) {
		struct snap_buf b = { 0 };
		std_payload(&b, s);
		assert_int_equal(snap_writer_add(w, std_secs[s].tag, std_secs[s].instance, &b), 0);
		snap_buf_free(&b);
	}
	assert_int_equal(snap_writer_memory(w, ram, NULL), 0);
	assert_int_equal(snap_writer_commit(w), 0);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* --- an independent builder (the layout as documented) ------------------------------- */

struct msec {
	uint32_t tag, instance, reserved;
	uint32_t len;
	uint8_t data[48];
	bool len_override;
	uint64_t len_field;	/* what the length field says, if len_override */
	uint8_t pad;		/* the padding bytes' value */
};

struct model {
	char magic[8];
	uint32_t version, header_size, page_size, nr_vcpus, irqchip, flags;
	uint64_t mem_gpa, mem_size;
	unsigned int nr;
	struct msec sec[16];
	size_t trailing;	/* zero bytes after the last section, counted in state_size */
};

static void model_std(struct model *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->magic, SNAP_MAGIC, 8);
	m->version = SNAP_VERSION;
	m->header_size = SNAP_HEADER_SIZE;
	m->page_size = std_header.page_size;
	m->nr_vcpus = std_header.nr_vcpus;
	m->irqchip = std_header.irqchip_type;
	m->mem_gpa = std_header.mem_gpa;
	m->mem_size = std_header.mem_size;
	m->nr = NR_STD;
	for (unsigned int s = 0; s < NR_STD; s++) {
		m->sec[s].tag = std_secs[s].tag;
		m->sec[s].instance = std_secs[s].instance;
		m->sec[s].len = std_secs[s].len;
		for (unsigned int i = 0; i < std_secs[s].len; i++)
			m->sec[s].data[i] = std_byte(s, i);
	}
}

static void w32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void w64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}


static void fix_header_crc(uint8_t *img) { w32(img + 60, snap_crc32(img, 60)); }

#define IMG_MAX 4096

static size_t build(const struct model *m, uint8_t *img)
{
	size_t off = SNAP_HEADER_SIZE;

	memset(img, 0, IMG_MAX);
	for (unsigned int s = 0; s < m->nr; s++) {
		const struct msec *x = &m->sec[s];
		size_t padded = (x->len + 7u) & ~7u;
		w32(img + off, x->tag);
		w32(img + off + 4, x->instance);
		w64(img + off + 8, x->len_override ? x->len_field : x->len);
		w32(img + off + 16, snap_crc32(x->data, x->len));
		w32(img + off + 20, x->reserved);
		memcpy(img + off + 24, x->data, x->len);
		memset(img + off + 24 + x->len, x->pad, padded - x->len);
		off += 24 + padded;
	}
	off += m->trailing;
	memcpy(img, m->magic, 8);
	w32(img + 8, m->version);
	w32(img + 12, m->header_size);
	w32(img + 16, m->page_size);
	w32(img + 20, m->nr_vcpus);
	w32(img + 24, m->irqchip);
	w32(img + 28, m->nr);
	w64(img + 32, m->mem_gpa);
	w64(img + 40, m->mem_size);
	w64(img + 48, off);
	w32(img + 56, m->flags);
	fix_header_crc(img);
	return off;
}

/* Byte offset of section s's header in a built image. */
static size_t sec_off(const struct model *m, unsigned int s)
{
	size_t off = SNAP_HEADER_SIZE;

	for (unsigned int i = 0; i < s; i++)
		off += 24 + ((m->sec[i].len + 7u) & ~7u);
	return off;
}

static void assert_reader_empty(const struct snap_reader *r)
{
	assert_null(r->state);
	assert_null(r->sections);
	assert_int_equal(r->nr_sections, 0);
	assert_int_equal(r->state_len, 0);
	assert_int_equal(r->mem_fd, -1);
}

/* --- round trips ----------------------------------------------------------------------- */

static void test_builder_matches_writer(void **state)
{
	struct model m;
	uint8_t img[IMG_MAX];
	size_t len;
	(void)state;

	uint8_t *ram = zero_ram(&std_header);
	write_std(tpath("std"), ram);
	uint8_t *file = read_file(tpath("std/state"), &len);
	model_std(&m);
	assert_int_equal(build(&m, img), len);
	assert_memory_equal(img, file, len);
	free(file);
	free(ram);
	rm_tree(tpath("std"));
}

static void test_round_trip_sections(void **state)
{
	struct snap_header h = std_header;
	struct snap_writer *w;
	struct snap_reader r;
	struct snap_cursor c;
	uint64_t state_bytes = 0, mem_bytes = 1;
	(void)state;

	h.nr_vcpus = 3;
	h.irqchip_type = 3;
	h.page_size = 65536;
	h.mem_gpa = 0x40000000u;
	h.mem_size = 2 * MiB;
	uint8_t *ram = zero_ram(&h);
	assert_int_equal(snap_writer_open(&w, tpath("rt"), &h, board_snap_kinds, board_nr_snap_kinds), 0);

	struct snap_buf b = { 0 };
	snap_put_u8(&b, 0xab);
	snap_put_u16(&b, 0xbeef);
	snap_put_u32(&b, 0xdeadbeef);
	snap_put_u64(&b, 0x0123456789abcdefull);
	snap_put_u8(&b, 1);	/* a bool */
	snap_put_u8(&b, 0);
	snap_put_bytes(&b, "\x00\x01\x02", 3);
	snap_put_str(&b, "console=ttyS0 root=/dev/vda");
	snap_put_str(&b, "");
	assert_false(b.err);
	assert_int_equal(snap_writer_add(w, SNAP_SEC_CONFIG, 0, &b), 0);
	snap_buf_free(&b);
	for (uint32_t i = 0; i < 3; i++) {
		snap_put_u64(&b, 0x1000u * (i + 1));
		assert_int_equal(snap_writer_add(w, SNAP_SEC_VCPU, 2 - i, &b), 0);	/* any order */
		snap_buf_free(&b);
	}
	assert_int_equal(snap_writer_add(w, SNAP_SEC_GIC, 0, &b), 0);	/* an empty payload */
	snap_put_u32(&b, 7);
	assert_int_equal(snap_writer_add(w, UART_8250_SNAP_TAG, 0, &b), 0);
	assert_int_equal(snap_writer_add(w, VIRTIO_MMIO_SNAP_TAG, 15, &b), 0);
	assert_int_equal(snap_writer_add(w, VIRTIO_MMIO_SNAP_TAG, 0, &b), 0);
	snap_buf_free(&b);
	assert_int_equal(snap_writer_memory(w, ram, NULL), 0);
	assert_int_equal(snap_writer_commit_stats(w, &state_bytes, &mem_bytes), 0);
	assert_int_equal(mem_bytes, 0);

	struct stat st;
	assert_int_equal(stat(tpath("rt/state"), &st), 0);
	assert_int_equal(st.st_size, state_bytes);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(tpath("rt"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_false(tmp_exists(tpath("rt")));

	assert_int_equal(snap_reader_open(&r, tpath("rt"), board_snap_kinds, board_nr_snap_kinds), 0);
	assert_int_equal(r.h.version, SNAP_VERSION);
	assert_int_equal(r.h.page_size, 65536);
	assert_int_equal(r.h.nr_vcpus, 3);
	assert_int_equal(r.h.irqchip_type, 3);
	assert_int_equal(r.h.mem_gpa, 0x40000000u);
	assert_int_equal(r.h.mem_size, 2 * MiB);
	assert_int_equal(r.nr_sections, 8);
	assert_true(r.mem_fd >= 0);

	char s[64], e[1];
	uint8_t bytes[3];
	assert_int_equal(snap_reader_find(&r, SNAP_SEC_CONFIG, 0, &c), 0);
	assert_int_equal(snap_get_u8(&c), 0xab);
	assert_int_equal(snap_get_u16(&c), 0xbeef);
	assert_int_equal(snap_get_u32(&c), 0xdeadbeef);
	assert_int_equal(snap_get_u64(&c), 0x0123456789abcdefull);
	assert_true(snap_get_bool(&c));
	assert_false(snap_get_bool(&c));
	snap_get_bytes(&c, bytes, 3);
	assert_memory_equal(bytes, "\x00\x01\x02", 3);
	snap_get_str(&c, s, sizeof(s));
	assert_string_equal(s, "console=ttyS0 root=/dev/vda");
	snap_get_str(&c, e, sizeof(e));	/* "" fits a 1-byte buffer */
	assert_string_equal(e, "");
	assert_int_equal(snap_cursor_done(&c, "CONF"), 0);

	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(snap_reader_find(&r, SNAP_SEC_VCPU, i, &c), 0);
		assert_int_equal(snap_get_u64(&c), 0x1000u * (3 - i));
		assert_int_equal(snap_cursor_done(&c, "VCPU"), 0);
	}
	assert_int_equal(snap_reader_find(&r, SNAP_SEC_GIC, 0, &c), 0);
	assert_int_equal(c.len, 0);
	assert_int_equal(snap_cursor_done(&c, "GIC"), 0);
	assert_int_equal(snap_reader_find(&r, VIRTIO_MMIO_SNAP_TAG, 15, &c), 0);
	assert_int_equal(snap_get_u32(&c), 7);
	assert_int_equal(snap_reader_find(&r, PL031_SNAP_TAG, 0, &c), -ENOENT);
	assert_int_equal(snap_reader_find(&r, VIRTIO_MMIO_SNAP_TAG, 1, &c), -ENOENT);
	assert_int_equal(snap_reader_find(&r, SNAP_SEC_VCPU, 3, &c), -ENOENT);
	snap_reader_close(&r);
	assert_reader_empty(&r);
	snap_reader_close(&r);	/* twice is fine */
	free(ram);
	rm_tree(tpath("rt"));
}

static void test_round_trip_memory_sparse(void **state)
{
	struct snap_header h = std_header;
	struct snap_writer *w;
	struct snap_reader r;
	uint64_t mem_bytes = 0;
	(void)state;

	h.mem_size = 32 * MiB;
	uint8_t *ram = zero_ram(&h);
	memset(ram, 0x11, PAGE);				/* the first page */
	for (unsigned int i = 0; i < 20 * PAGE; i++)		/* a 20-page run */
		ram[100 * PAGE + i] = (uint8_t)(i * 13 + 5);
	ram[3000 * PAGE + PAGE - 1] = 1;			/* one byte at a page's end */
	ram[5000 * PAGE] = 2;					/* one at a page's start */
	memset(ram + h.mem_size - PAGE, 0xff, PAGE);		/* the last page */

	assert_int_equal(snap_writer_open(&w, tpath("mem"), &h, board_snap_kinds, board_nr_snap_kinds), 0);
	for (unsigned int s = 0; s < NR_STD; s++) {
		struct snap_buf b = { 0 };
		std_payload(&b, s);
		assert_int_equal(snap_writer_add(w, std_secs[s].tag, std_secs[s].instance, &b), 0);
		snap_buf_free(&b);
	}
	assert_int_equal(snap_writer_memory(w, ram, NULL), 0);
	assert_int_equal(snap_writer_commit_stats(w, NULL, &mem_bytes), 0);
	assert_int_equal(mem_bytes, 24u * PAGE);

	assert_int_equal(snap_reader_open(&r, tpath("mem"), board_snap_kinds, board_nr_snap_kinds), 0);
	struct stat st;
	assert_int_equal(fstat(r.mem_fd, &st), 0);
	assert_int_equal(st.st_size, h.mem_size);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Sparse: 24 data pages of 8192, allowing for file system block granularity. */
	assert_true((uint64_t)st.st_blocks * 512 < h.mem_size / 16);
	void *map = mmap(NULL, h.mem_size, PROT_READ, MAP_PRIVATE, r.mem_fd, 0);
	assert_true(map != MAP_FAILED);
	assert_memory_equal(map, ram, h.mem_size);
	munmap(map, h.mem_size);
	snap_reader_close(&r);
	free(ram);
	rm_tree(tpath("mem"));
}

static void test_round_trip_all_data(void **state)
{
	struct snap_header h = std_header;
	struct snap_reader r;
	(void)state;

	/* No zero page at all: one run, one write, no holes. */
	uint8_t *ram = zero_ram(&h);
	for (size_t i = 0; i < h.mem_size; i++)
		ram[i] = (uint8_t)(i % 251 + 1);
	write_std(tpath("full"), ram);
	assert_int_equal(snap_reader_open(&r, tpath("full"), board_snap_kinds, board_nr_snap_kinds), 0);
	void *map = mmap(NULL, h.mem_size, PROT_READ, MAP_PRIVATE, r.mem_fd, 0);
	assert_true(map != MAP_FAILED);
	assert_memory_equal(map, ram, h.mem_size);
	munmap(map, h.mem_size);
	snap_reader_close(&r);
	free(ram);
	rm_tree(tpath("full"));
}

/* --- the reader refusing damage ------------------------------------------------------ */

typedef void (*model_fn)(struct model *m);
typedef void (*raw_fn)(const struct model *m, uint8_t *img, size_t *len);

struct corruption {
	const char *what;
	model_fn model;		/* applied before building (CRCs and state_size then match) */
	raw_fn raw;		/* applied to the built bytes */
	bool fix_crc;		/* recompute the header CRC after raw */
	const char *expect;	/* in the error line */
};

static void set_state_size(uint8_t *img, size_t len) { w64(img + 48, len); }

#define RAW(name, body)                                                       \
	static void name(const struct model *m, uint8_t *img, size_t *len)    \
	{                                                                     \
		(void)m;                                                      \
		(void)img;                                                    \
		(void)len;                                                    \
		body;                                                         \
	}

RAW(r_trunc_0, *len = 0)
RAW(r_trunc_5, *len = 5)
RAW(r_trunc_30, *len = 30)
RAW(r_trunc_64, *len = 64)
RAW(r_trunc_sec_hdr, *len = sec_off(m, 2) + 10)
RAW(r_trunc_payload, *len = sec_off(m, 3) + 24 + 3)
RAW(r_trunc_last_pad, (*len)--)
/* The same, but with state_size agreeing, so that the section walk is what notices. */
RAW(r_trunc_sec_hdr_sized, *len = sec_off(m, m->nr - 1) + 10; set_state_size(img, *len))
RAW(r_trunc_payload_sized, *len = sec_off(m, m->nr - 1) + 24 + 3; set_state_size(img, *len))
RAW(r_trunc_pad_sized, set_state_size(img, --*len))
RAW(r_flip_header, img[20] ^= 1)
RAW(r_flip_header_crc, img[62] ^= 0x80)
RAW(r_flip_payload, img[sec_off(m, 2) + 24 + 39] ^= 0x10)	/* VCPU/1's last byte */
RAW(r_flip_sec_crc, img[sec_off(m, 4) + 16] ^= 1)		/* UART/0's CRC */
RAW(r_state_size_small, set_state_size(img, *len - 8))
RAW(r_state_size_big, set_state_size(img, *len + 8))
RAW(r_extra_bytes, *len += 8)
RAW(r_more_sections, w32(img + 28, m->nr + 1))
RAW(r_fewer_sections, w32(img + 28, m->nr - 1))
RAW(r_many_sections, w32(img + 28, SNAP_MAX_SECTIONS + 1))

#define MODEL(name, body) \
	static void name(struct model *m) { body; }

MODEL(m_magic, m->magic[7] = 'X')
MODEL(m_version0, m->version = 0)
MODEL(m_version3, m->version = 3)
MODEL(m_version7, m->version = 7)
MODEL(m_header_size, m->header_size = 72)
MODEL(m_vcpus0, m->nr_vcpus = 0)
MODEL(m_vcpus_max, m->nr_vcpus = SNAP_MAX_VCPUS + 1)
MODEL(m_page3000, m->page_size = 3000)
MODEL(m_page2048, m->page_size = 2048)
MODEL(m_page128k, m->page_size = 131072)
MODEL(m_page0, m->page_size = 0)
MODEL(m_irqchip9, m->irqchip = 9)
MODEL(m_irqchip5, m->irqchip = IRQCHIP_NR_TYPES)	/* one past the last type (4: GICv3 with ITS) */
MODEL(m_mem0, m->mem_size = 0)
MODEL(m_gpa_unaligned, m->mem_gpa += 0x800)
MODEL(m_size_unaligned, m->mem_size += 0x800)
MODEL(m_wrap, m->mem_gpa = 0xfffffffffffff000ull; m->mem_size = 0x2000)
MODEL(m_above48, m->mem_gpa = (1ull << 48) - 0x1000; m->mem_size = 0x2000)
MODEL(m_huge, m->mem_gpa = 0; m->mem_size = (1ull << 48) + 0x1000)
MODEL(m_flags, m->flags = 1)
MODEL(m_len_past, m->sec[3].len_override = true; m->sec[3].len_field = 1000)
MODEL(m_len_huge, m->sec[3].len_override = true; m->sec[3].len_field = UINT64_MAX)
MODEL(m_padding, m->sec[4].pad = 0x20)
MODEL(m_reserved, m->sec[1].reserved = 1)
MODEL(m_duplicate, m->sec[5] = m->sec[4])
MODEL(m_duplicate_vcpu, m->sec[2].instance = 0)
MODEL(m_no_conf, m->sec[0].tag = VIRTIO_MMIO_SNAP_TAG)
MODEL(m_no_gic, m->sec[3].tag = VIRTIO_MMIO_SNAP_TAG)
MODEL(m_no_uart, m->sec[4].tag = VIRTIO_MMIO_SNAP_TAG)
MODEL(m_no_vcpu1, m->sec[2] = m->sec[5]; m->nr--)
MODEL(m_vcpus3, m->nr_vcpus = 3)
MODEL(m_vcpu2, m->sec[2].instance = 2)
MODEL(m_conf1, m->sec[0].instance = 1)
MODEL(m_rtc1, m->sec[5].instance = 1)
MODEL(m_virt16, m->sec[5].tag = VIRTIO_MMIO_SNAP_TAG; m->sec[5].instance = 16)
MODEL(m_unknown, m->sec[5].tag = SNAP_TAG('A', 'B', 'C', 'D'))
MODEL(m_unprintable, m->sec[5].tag = 0x01020304)
MODEL(m_trailing, m->trailing = 8)
MODEL(m_netc1, m->sec[5].tag = BOARD_SEC_NETCONF; m->sec[5].instance = 1)

static const struct corruption corruptions[] = {
	{ "empty file", NULL, r_trunc_0, false, "truncated (0 bytes" },
	{ "truncated in the magic", NULL, r_trunc_5, false, "truncated (5 bytes" },
	{ "truncated mid-header", NULL, r_trunc_30, false, "truncated (30 bytes" },
	{ "truncated after the header", NULL, r_trunc_64, false, "truncated (64 bytes, header says" },
	{ "truncated mid-section-header", NULL, r_trunc_sec_hdr, false, "truncated (" },
	{ "truncated mid-payload", NULL, r_trunc_payload, false, "header says" },
	{ "truncated in the last padding", NULL, r_trunc_last_pad, false, "header says" },
	{ "truncated mid-section-header, size agreeing", NULL, r_trunc_sec_hdr_sized, true,
	  "section 6 of 6 does not fit" },
	{ "truncated mid-payload, size agreeing", NULL, r_trunc_payload_sized, true,
	  "RTC/0 (5 bytes) runs past the end" },
	{ "truncated in padding, size agreeing", NULL, r_trunc_pad_sized, true, "RTC/0: its padding runs past" },
	{ "flipped header byte", NULL, r_flip_header, false, "header fails its checksum" },
	{ "flipped header CRC", NULL, r_flip_header_crc, false, "header fails its checksum" },
	{ "flipped payload byte", NULL, r_flip_payload, false, "section VCPU/1 fails its checksum" },
	{ "flipped section CRC", NULL, r_flip_sec_crc, false, "section UART/0 fails its checksum" },
	{ "wrong magic", m_magic, NULL, false, "not an armvmm snapshot (bad magic)" },
	{ "version 0", m_version0, NULL, false, "version 0 is not supported (this armvmm reads versions 1 to 2)" },
	{ "version 3", m_version3, NULL, false, "version 3 is not supported (this armvmm reads versions 1 to 2)" },
	{ "version 7", m_version7, NULL, false, "version 7 is not supported" },
	{ "header_size 72", m_header_size, NULL, false, "header size 72" },
	{ "nr_vcpus 0", m_vcpus0, NULL, false, "has 0 vCPUs" },
	{ "nr_vcpus SNAP_MAX_VCPUS+1", m_vcpus_max, NULL, false, "has 4097 vCPUs" },
	{ "page_size 3000", m_page3000, NULL, false, "page size 3000" },
	{ "page_size 2048", m_page2048, NULL, false, "page size 2048" },
	{ "page_size 128K", m_page128k, NULL, false, "page size 131072" },
	{ "page_size 0", m_page0, NULL, false, "page size 0" },
	{ "irqchip_type 9", m_irqchip9, NULL, false, "irqchip type 9" },
	{ "irqchip_type 5", m_irqchip5, NULL, false, "irqchip type 5" },
	{ "mem_size 0", m_mem0, NULL, false, "memory is empty" },
	{ "mem_gpa not page-aligned", m_gpa_unaligned, NULL, false, "not page-aligned" },
	{ "mem_size not page-aligned", m_size_unaligned, NULL, false, "not page-aligned" },
	{ "memory wrapping", m_wrap, NULL, false, "wraps around" },
	{ "memory above 2^48", m_above48, NULL, false, "above 2^48" },
	{ "memory larger than 2^48", m_huge, NULL, false, "above 2^48" },
	{ "flags 1", m_flags, NULL, false, "flags 0x1" },
	{ "state_size too small", NULL, r_state_size_small, true, "too long" },
	{ "state_size too big", NULL, r_state_size_big, true, "truncated" },
	{ "nr_sections one too many", NULL, r_more_sections, true, "section 7 of 7 does not fit" },
	{ "nr_sections one too few", NULL, r_fewer_sections, true, "32 bytes after its last section" },
	{ "nr_sections above the limit", NULL, r_many_sections, true, "65537 sections (at most 65536)" },
	{ "section length past the end", m_len_past, NULL, false, "GIC/0 (1000 bytes) runs past the end" },
	{ "section length 2^64-1", m_len_huge, NULL, false, "runs past the end" },
	{ "nonzero padding", m_padding, NULL, false, "UART/0 has nonzero padding" },
	{ "nonzero reserved", m_reserved, NULL, false, "VCPU/0 has a nonzero reserved field" },
	{ "duplicate section", m_duplicate, NULL, false, "UART/0 appears twice" },
	{ "duplicate vCPU", m_duplicate_vcpu, NULL, false, "VCPU/0 appears twice" },
	{ "missing CONF", m_no_conf, NULL, false, "no section CONF/0" },
	{ "missing GIC", m_no_gic, NULL, false, "no section GIC/0" },
	{ "missing UART", m_no_uart, NULL, false, "no section UART/0" },
	{ "missing VCPU/1", m_no_vcpu1, NULL, false, "no section VCPU/1" },
	{ "missing VCPU/2 of 3", m_vcpus3, NULL, false, "no section VCPU/2" },
	{ "VCPU instance >= nr_vcpus", m_vcpu2, NULL, false, "VCPU/2: the instance must be below 2" },
	{ "CONF instance 1", m_conf1, NULL, false, "CONF/1: the instance must be 0" },
	{ "RTC instance 1", m_rtc1, NULL, false, "RTC/1: the instance must be 0" },
	{ "NETC instance 1", m_netc1, NULL, false, "NETC/1: the instance must be 0" },
	{ "VIRT instance 16", m_virt16, NULL, false, "VIRT/16: the instance must be below 16" },
	{ "unknown tag", m_unknown, NULL, false, "ABCD/0 has an unknown tag" },
	{ "unprintable tag", m_unprintable, NULL, false, "0x01020304/0 has an unknown tag" },
	{ "trailing bytes counted in state_size", m_trailing, NULL, false, "8 bytes after its last section" },
	{ "trailing bytes not counted", NULL, r_extra_bytes, false, "too long" },
};

static void test_corruptions_rejected(void **state)
{
	uint8_t img[IMG_MAX];
	struct model m;
	struct snap_reader r;
	(void)state;

	/* The baseline must parse, or every row below proves nothing. */
	model_std(&m);
	size_t len = build(&m, img);
	assert_int_equal(snap_reader_parse(&r, img, len, board_snap_kinds, board_nr_snap_kinds), 0);
	assert_int_equal(r.nr_sections, NR_STD);
	snap_reader_close(&r);

	for (size_t i = 0; i < sizeof(corruptions) / sizeof(corruptions[0]); i++) {
		const struct corruption *c = &corruptions[i];
		model_std(&m);
		if (c->model)
			c->model(&m);
		len = build(&m, img);
		if (c->raw)
			c->raw(&m, img, &len);
		if (c->fix_crc)
			fix_header_crc(img);
		memset(&r, 0x5a, sizeof(r));
		capture_begin();
		int err = snap_reader_parse(&r, img, len, board_snap_kinds, board_nr_snap_kinds);
		const char *out = capture_end();
		if (err != -EINVAL)
			fail_msg("%s: parse returned %d, not -EINVAL (%s)", c->what, err, out);
		assert_one_error(out, c->expect, c->what);
		assert_reader_empty(&r);
		snap_reader_close(&r);
	}
}

/* Edges that are valid: they must not be caught by the checks above. */
static void test_valid_edges(void **state)
{
	uint8_t img[IMG_MAX];
	struct model m;
	struct snap_reader r;
	struct snap_cursor c;
	(void)state;

	/* The network configuration: at most one NETC section, instance 0. */
	model_std(&m);
	m.sec[m.nr].tag = BOARD_SEC_NETCONF;
	m.sec[m.nr].instance = 0;
	m.sec[m.nr++].len = 8;
	assert_int_equal(snap_reader_parse(&r, img, build(&m, img), board_snap_kinds, board_nr_snap_kinds), 0);
	assert_int_equal(snap_reader_find(&r, BOARD_SEC_NETCONF, 0, &c), 0);
	snap_reader_close(&r);

	model_std(&m);
	m.mem_gpa = (1ull << 48) - 0x2000;	/* ends exactly at 2^48 */
	m.mem_size = 0x2000;
	m.page_size = 8192;
	m.irqchip = 0;
	m.nr--;	/* no RTC */
	m.sec[m.nr].tag = VIRTIO_MMIO_SNAP_TAG;
	m.sec[m.nr].instance = 15;
	m.sec[m.nr++].len = 0;
	assert_int_equal(snap_reader_parse(&r, img, build(&m, img), board_snap_kinds, board_nr_snap_kinds), 0);
	assert_int_equal(r.h.mem_gpa, (1ull << 48) - 0x2000);
	assert_int_equal(snap_reader_find(&r, PL031_SNAP_TAG, 0, &c), -ENOENT);
	assert_int_equal(snap_reader_find(&r, VIRTIO_MMIO_SNAP_TAG, 15, &c), 0);
	assert_int_equal(c.len, 0);
	snap_reader_close(&r);

	model_std(&m);
	m.page_size = 65536;
	m.irqchip = 3;
	m.mem_gpa = 0;
	m.mem_size = 65536;
	assert_int_equal(snap_reader_parse(&r, img, build(&m, img), board_snap_kinds, board_nr_snap_kinds), 0);
	snap_reader_close(&r);
}

/* --- the reader on disk ------------------------------------------------------------- */

static void test_reader_memory_file_checked(void **state)
{
	struct snap_reader r;
	(void)state;

	uint8_t *ram = zero_ram(&std_header);
	write_std(tpath("rm"), ram);

	assert_int_equal(truncate(tpath("rm/memory"), std_header.mem_size - PAGE), 0);
	capture_begin();
	int err = snap_reader_open(&r, tpath("rm"), board_snap_kinds, board_nr_snap_kinds);
	assert_one_error(capture_end(), "memory file", "short memory");
	assert_int_equal(err, -EINVAL);
	assert_reader_empty(&r);

	assert_int_equal(truncate(tpath("rm/memory"), std_header.mem_size + 1), 0);
	capture_begin();
	err = snap_reader_open(&r, tpath("rm"), board_snap_kinds, board_nr_snap_kinds);
	assert_one_error(capture_end(), "is 1048577 bytes, the state file says 1048576", "long memory");
	assert_int_equal(err, -EINVAL);

	assert_int_equal(unlink(tpath("rm/memory")), 0);
	assert_int_equal(mkdir(tpath("rm/memory"), 0700), 0);
	capture_begin();
	err = snap_reader_open(&r, tpath("rm"), board_snap_kinds, board_nr_snap_kinds);
	assert_one_error(capture_end(), "not a regular file", "memory is a directory");
	assert_int_equal(err, -EINVAL);

	assert_int_equal(rmdir(tpath("rm/memory")), 0);
	capture_begin();
	err = snap_reader_open(&r, tpath("rm"), board_snap_kinds, board_nr_snap_kinds);
	assert_one_error(capture_end(), "cannot open snapshot memory file", "no memory");
	assert_int_equal(err, -ENOENT);
	assert_reader_empty(&r);
	free(ram);
	rm_tree(tpath("rm"));
}

static void test_reader_state_file_checked(void **state)
{
	struct snap_reader r;
	(void)state;

	uint8_t *ram = zero_ram(&std_header);
	write_std(tpath("rs"), ram);

	/* Damage on disk: the line names the file. */
	int fd = open(tpath("rs/state"), O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "Y", 1, 0), 1);
	close(fd);
	capture_begin();
	int err = snap_reader_open(&r, tpath("rs"), board_snap_kinds, board_nr_snap_kinds);
	const char *out = capture_end();
	assert_one_error(out, "/rs/state: not an armvmm snapshot (bad magic)", "bad magic on disk");
	assert_int_equal(err, -EINVAL);
	assert_reader_empty(&r);

	assert_int_equal(unlink(tpath("rs/state")), 0);
	assert_int_equal(mkfifo(tpath("rs/state"), 0600), 0);	/* must not block */
	capture_begin();
	err = snap_reader_open(&r, tpath("rs"), board_snap_kinds, board_nr_snap_kinds);
	assert_one_error(capture_end(), "not a regular file", "state is a FIFO");
	assert_int_equal(err, -EINVAL);

	assert_int_equal(unlink(tpath("rs/state")), 0);
	capture_begin();
	err = snap_reader_open(&r, tpath("rs"), board_snap_kinds, board_nr_snap_kinds);
	assert_one_error(capture_end(), "cannot open snapshot state file", "no state");
	assert_int_equal(err, -ENOENT);
	free(ram);
	rm_tree(tpath("rs"));
}

static void test_reader_close_zeroed(void **state)
{
	struct snap_reader r;
	(void)state;

	/* A zeroed reader's mem_fd is 0: close must not take stdin with it. */
	int before = fcntl(0, F_GETFD);
	memset(&r, 0, sizeof(r));
	snap_reader_close(&r);
	assert_int_equal(fcntl(0, F_GETFD), before);
	assert_reader_empty(&r);
}

/* --- the writer ---------------------------------------------------------------------- */

static void test_writer_refuses_existing_dir(void **state)
{
	struct snap_writer *w = (void *)1;
	(void)state;

	assert_int_equal(mkdir(tpath("exists"), 0700), 0);
	capture_begin();
	int err = snap_writer_open(&w, tpath("exists"), &std_header, board_snap_kinds, board_nr_snap_kinds);
	const char *out = capture_end();
	assert_int_equal(err, -EEXIST);
	assert_null(w);
	char want[600];
	snprintf(want, sizeof(want), "snapshot directory '%s' already exists", tpath("exists"));
	assert_one_error(out, want, "existing dir");
	assert_false(tmp_exists(tpath("exists")));
	rmdir(tpath("exists"));

	/* A plain file (or a dangling symlink) is just as much in the way. */
	assert_int_equal(symlink("nowhere", tpath("link")), 0);
	capture_begin();
	err = snap_writer_open(&w, tpath("link"), &std_header, board_snap_kinds, board_nr_snap_kinds);
	capture_end();
	assert_int_equal(err, -EEXIST);
	unlink(tpath("link"));
}

static void test_writer_abort_leaves_nothing(void **state)
{
	struct snap_writer *w;
	struct snap_buf b = { 0 };
	(void)state;

	uint8_t *ram = zero_ram(&std_header);
	ram[0] = 1;
	assert_int_equal(snap_writer_open(&w, tpath("ab"), &std_header, board_snap_kinds, board_nr_snap_kinds), 0);
	assert_true(tmp_exists(tpath("ab")));
	snap_put_u32(&b, 1);
	assert_int_equal(snap_writer_add(w, SNAP_SEC_CONFIG, 0, &b), 0);
	assert_int_equal(snap_writer_memory(w, ram, NULL), 0);
	snap_writer_abort(w);
	assert_false(tmp_exists(tpath("ab")));
	assert_false(exists(tpath("ab")));
	snap_writer_abort(NULL);
	snap_buf_free(&b);
	free(ram);
}

static void test_writer_missing_parent(void **state)
{
	struct snap_writer *w;
	(void)state;

	capture_begin();
	int err = snap_writer_open(&w, tpath("nope/snap"), &std_header, board_snap_kinds, board_nr_snap_kinds);
	assert_one_error(capture_end(), "cannot create snapshot directory", "missing parent");
	assert_int_equal(err, -ENOENT);
	assert_null(w);
	assert_false(exists(tpath("nope")));
}

static void test_writer_trailing_slash(void **state)
{
	struct snap_reader r;
	char dir[600];
	(void)state;

	uint8_t *ram = zero_ram(&std_header);
	snprintf(dir, sizeof(dir), "%s/", tpath("slash"));
	write_std(dir, ram);
	assert_true(exists(tpath("slash/state")));
	assert_false(tmp_exists(tpath("slash")));
	assert_int_equal(snap_reader_open(&r, dir, board_snap_kinds, board_nr_snap_kinds), 0);
	snap_reader_close(&r);
	free(ram);
	rm_tree(tpath("slash"));
}

/* A write that fails part-way (the file size limit standing in for ENOSPC). */
static void test_writer_failed_write_leaves_nothing(void **state)
{
	struct snap_writer *w;
	struct rlimit old, small;
	(void)state;

	uint8_t *ram = zero_ram(&std_header);
	memset(ram, 0x77, std_header.mem_size);
	assert_int_equal(snap_writer_open(&w, tpath("full"), &std_header, board_snap_kinds, board_nr_snap_kinds), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 64 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	capture_begin();
	int err = snap_writer_memory(w, ram, NULL);
	const char *out = capture_end();
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(err, -EFBIG);
	assert_one_error(out, "/memory': File too large", "failed write");
	assert_false(tmp_exists(tpath("full")));

	/* The writer now only remembers the error: silently. */
	struct snap_buf b = { 0 };
	capture_begin();
	assert_int_equal(snap_writer_add(w, UART_8250_SNAP_TAG, 0, &b), -EFBIG);
	assert_int_equal(snap_writer_commit(w), -EFBIG);
	assert_string_equal(capture_end(), "");
	assert_false(exists(tpath("full")));
	assert_false(tmp_exists(tpath("full")));
	free(ram);
}

static void test_writer_refuses_bad_snapshot(void **state)
{
	struct snap_writer *w;
	struct snap_header h = std_header;
	(void)state;

	/* A header the reader would refuse is refused up front. */
	h.page_size = 3000;
	capture_begin();
	int err = snap_writer_open(&w, tpath("bad"), &h, board_snap_kinds, board_nr_snap_kinds);
	assert_one_error(capture_end(), "page size 3000", "writer bad header");
	assert_int_equal(err, -EINVAL);
	assert_false(tmp_exists(tpath("bad")));

	/* Sections the reader would refuse (no UART) fail the commit. */
	uint8_t *ram = zero_ram(&std_header);
	assert_int_equal(snap_writer_open(&w, tpath("bad"), &std_header, board_snap_kinds, board_nr_snap_kinds), 0);
	for (unsigned int s = 0; s < NR_STD; s++) {
		struct snap_buf b = { 0 };
		std_payload(&b, s);
		if (std_secs[s].tag != UART_8250_SNAP_TAG)
			assert_int_equal(snap_writer_add(w, std_secs[s].tag, std_secs[s].instance, &b), 0);
		snap_buf_free(&b);
	}
	assert_int_equal(snap_writer_memory(w, ram, NULL), 0);
	capture_begin();
	err = snap_writer_commit(w);
	assert_one_error(capture_end(), "no section UART/0", "writer missing UART");
	assert_int_equal(err, -EINVAL);
	assert_false(exists(tpath("bad")));
	assert_false(tmp_exists(tpath("bad")));

	/* No memory written. */
	assert_int_equal(snap_writer_open(&w, tpath("bad"), &std_header, board_snap_kinds, board_nr_snap_kinds), 0);
	capture_begin();
	err = snap_writer_commit(w);
	assert_one_error(capture_end(), "guest memory was not saved", "writer without memory");
	assert_int_equal(err, -EINVAL);
	assert_false(tmp_exists(tpath("bad")));

	/* A payload whose building ran out of memory. */
	struct snap_buf b = { .err = true };
	assert_int_equal(snap_writer_open(&w, tpath("bad"), &std_header, board_snap_kinds, board_nr_snap_kinds), 0);
	capture_begin();
	err = snap_writer_add(w, SNAP_SEC_GIC, 0, &b);
	assert_one_error(capture_end(), "out of memory building snapshot section GIC/0", "writer buf err");
	assert_int_equal(err, -ENOMEM);
	assert_false(tmp_exists(tpath("bad")));
	snap_writer_abort(w);
	assert_false(exists(tpath("bad")));
	free(ram);
}

/* --- the cursor ---------------------------------------------------------------------- */

static struct snap_cursor cursor_on(const struct snap_buf *b)
{
	return (struct snap_cursor){ .p = b->data, .len = b->len };
}

static void expect_done_error(const struct snap_cursor *c, const char *want)
{
	capture_begin();
	int err = snap_cursor_done(c, "UART");
	assert_one_error(capture_end(), want, want);
	assert_int_equal(err, -EINVAL);
}

static void test_cursor_overrun(void **state)
{
	struct snap_buf b = { 0 };
	uint8_t out[4] = { 1, 2, 3, 4 };
	(void)state;

	snap_put_u16(&b, 0x1234);
	snap_put_u8(&b, 9);
	struct snap_cursor c = cursor_on(&b);
	assert_int_equal(snap_get_u32(&c), 0);
	assert_true(c.err);
	assert_int_equal(snap_get_u8(&c), 0);	/* zeros from now on */
	snap_get_bytes(&c, out, 4);
	assert_memory_equal(out, "\0\0\0\0", 4);
	expect_done_error(&c, "snapshot section UART: payload is truncated (3 bytes)");

	c = cursor_on(&b);
	assert_int_equal(snap_get_u16(&c), 0x1234);
	assert_int_equal(snap_get_u64(&c), 0);
	expect_done_error(&c, "payload is truncated");
	c = cursor_on(&b);
	snap_buf_free(&b);
}

static void test_cursor_leftover(void **state)
{
	struct snap_buf b = { 0 };
	(void)state;

	snap_put_u32(&b, 1);
	snap_put_u16(&b, 2);
	snap_put_u8(&b, 3);
	struct snap_cursor c = cursor_on(&b);
	assert_int_equal(snap_get_u32(&c), 1);
	expect_done_error(&c, "snapshot section UART: payload is 3 bytes longer than its contents");
	snap_buf_free(&b);
}

static void test_cursor_strings(void **state)
{
	struct snap_buf b = { 0 };
	char s[6];
	(void)state;

	snap_put_str(&b, "hello");	/* exactly fits 6 */
	snap_put_str(&b, "hello!");	/* one too long */
	struct snap_cursor c = cursor_on(&b);
	snap_get_str(&c, s, sizeof(s));
	assert_string_equal(s, "hello");
	assert_false(c.err);
	size_t at = c.off;
	memset(s, 'x', sizeof(s));
	snap_get_str(&c, s, sizeof(s));
	assert_true(c.err);
	assert_string_equal(s, "");
	assert_int_equal(c.off, at);
	expect_done_error(&c, "invalid value at byte 9 of the payload");
	snap_buf_free(&b);

	/* A NUL inside, a length past the end, and no room at all. */
	snap_put_u32(&b, 3);
	snap_put_bytes(&b, "a\0b", 3);
	c = cursor_on(&b);
	snap_get_str(&c, s, sizeof(s));
	assert_true(c.err);
	assert_string_equal(s, "");
	expect_done_error(&c, "invalid value at byte 0");
	snap_buf_free(&b);

	snap_put_u32(&b, 5);
	snap_put_bytes(&b, "abc", 3);
	c = cursor_on(&b);
	snap_get_str(&c, s, sizeof(s));
	assert_true(c.err);
	expect_done_error(&c, "payload is truncated");
	snap_buf_free(&b);

	snap_put_str(&b, "");
	c = cursor_on(&b);
	snap_get_str(&c, NULL, 0);
	assert_true(c.err);
	snap_buf_free(&b);
}

static void test_cursor_bool(void **state)
{
	struct snap_buf b = { 0 };
	(void)state;

	snap_put_u8(&b, 1);
	snap_put_u8(&b, 0);
	snap_put_u8(&b, 2);
	snap_put_u8(&b, 1);
	struct snap_cursor c = cursor_on(&b);
	assert_true(snap_get_bool(&c));
	assert_false(snap_get_bool(&c));
	assert_false(c.err);
	assert_false(snap_get_bool(&c));	/* 2 */
	assert_true(c.err);
	assert_false(snap_get_bool(&c));	/* and nothing after it */
	expect_done_error(&c, "snapshot section UART: invalid value at byte 2 of the payload");
	snap_buf_free(&b);
}

static void test_buf_encoding(void **state)
{
	struct snap_buf b = { 0 };
	(void)state;

	snap_put_u16(&b, 0x0102);
	snap_put_u32(&b, 0x03040506);
	snap_put_u64(&b, 0x0708090a0b0c0d0eull);
	snap_put_str(&b, "ab");
	static const uint8_t want[] = { 2, 1, 6, 5, 4, 3, 0xe, 0xd, 0xc, 0xb,
					0xa, 9, 8, 7, 2, 0, 0, 0, 'a', 'b' };
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	for (int i = 0; i < 10000; i++)	/* growth */
		snap_put_u8(&b, (uint8_t)i);
	assert_int_equal(b.len, sizeof(want) + 10000);
	assert_int_equal(b.data[sizeof(want) + 9999], (uint8_t)9999);
	snap_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);

	/* A failed buffer stays failed and takes nothing. */
	b.err = true;
	snap_put_u32(&b, 1);
	assert_int_equal(b.len, 0);
	snap_buf_free(&b);
	assert_int_equal(snap_crc32("123456789", 9), 0xcbf43926u);	/* the CRC-32 check value */
	assert_int_equal(snap_crc32(NULL, 0), 0);
}

/* --- fuzz seeds ---------------------------------------------------------------------- */

/*
 * The fuzz target's input is: a flags byte, an ops count n, n ops bytes, then
 * a state file image (tests/fuzz/fuzz_snapfile.c). These seeds are real
 * writer output shaped like armvmm's own sections.
 */
static void write_seed(const char *seed_dir, const char *name, uint8_t flags, const uint8_t *ops, uint8_t n,
		       const char *snap_dir)
{
	char path[700], state_path[700];
	size_t len;

	snprintf(state_path, sizeof(state_path), "%s/state", snap_dir);
	uint8_t *img = read_file(state_path, &len);
	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputc(flags, f);
	fputc(n, f);
	fwrite(ops, 1, n, f);
	fwrite(img, 1, len, f);
	assert_int_equal(fclose(f), 0);
	free(img);
}

static void seed_snapshot(const char *dir, uint32_t nr_vcpus, uint32_t irqchip, bool rtc,
			  unsigned int nr_virtio)
{
	struct snap_header h = std_header;
	struct snap_writer *w;
	struct snap_buf b = { 0 };

	h.nr_vcpus = nr_vcpus;
	h.irqchip_type = irqchip;
	h.mem_size = 64 * 1024;
	uint8_t *ram = zero_ram(&h);
	assert_int_equal(snap_writer_open(&w, dir, &h, board_snap_kinds, board_nr_snap_kinds), 0);
	snap_put_str(&b, "console=ttyS0 earlycon");
	snap_put_u32(&b, nr_vcpus);
	snap_put_u8(&b, 1);
	snap_put_str(&b, "/images/disk.img");
	assert_int_equal(snap_writer_add(w, SNAP_SEC_CONFIG, 0, &b), 0);
	snap_buf_free(&b);
	for (uint32_t i = 0; i < nr_vcpus; i++) {
		for (int r = 0; r < 34; r++)
			snap_put_u64(&b, 0xffff800010000000ull + i * 0x100 + (uint64_t)r);
		snap_put_u8(&b, i == 0);
		assert_int_equal(snap_writer_add(w, SNAP_SEC_VCPU, i, &b), 0);
		snap_buf_free(&b);
	}
	for (int i = 0; i < 64; i++)
		snap_put_u32(&b, (uint32_t)i * 0x01010101u);
	assert_int_equal(snap_writer_add(w, SNAP_SEC_GIC, 0, &b), 0);
	snap_buf_free(&b);
	for (int i = 0; i < 12; i++)
		snap_put_u8(&b, (uint8_t)(0x60 + i));
	snap_put_u16(&b, 1);
	assert_int_equal(snap_writer_add(w, UART_8250_SNAP_TAG, 0, &b), 0);
	snap_buf_free(&b);
	if (rtc) {
		snap_put_u64(&b, 1700000000);
		snap_put_u32(&b, 0);
		snap_put_u8(&b, 1);
		assert_int_equal(snap_writer_add(w, PL031_SNAP_TAG, 0, &b), 0);
		snap_buf_free(&b);
	}
	for (unsigned int v = 0; v < nr_virtio; v++) {
		snap_put_u32(&b, 2 + v);
		snap_put_str(&b, "virtio-blk");
		snap_put_u64(&b, 0x80001000u + v * 0x1000u);
		snap_put_u16(&b, 256);
		snap_put_u8(&b, 1);
		assert_int_equal(snap_writer_add(w, VIRTIO_MMIO_SNAP_TAG, v, &b), 0);
		snap_buf_free(&b);
	}
	ram[100] = 1;
	assert_int_equal(snap_writer_memory(w, ram, NULL), 0);
	assert_int_equal(snap_writer_commit(w), 0);
	free(ram);
}

/* snap_crc32 (the CPU's CRC32 instructions where it has them) is zlib's CRC-32, for every length and alignment. */
static void test_crc32_matches_zlib(void **state)
{
	static uint8_t buf[4096 + 64];
	(void)state;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 7));
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len < 70; len++)
			assert_int_equal(snap_crc32(buf + off, len), (uint32_t)crc32(0, buf + off, (uInt)len));
	assert_int_equal(snap_crc32(buf, 4096), (uint32_t)crc32(0, buf, 4096));
	assert_int_equal(snap_crc32("123456789", 9), 0xcbf43926u);
}

static void test_write_fuzz_seeds(void **state)
{
	const char *seed_dir = getenv("SNAPFILE_SEED_DIR");
	static const uint8_t ops_small[] = { 0x00, 0x01, 0x02, 0x03, 0x04 };
	static const uint8_t ops_mixed[] = { 0x06 | 8 * 31, 0x02, 0x05 | 8 * 12, 0x03,
					     0x04, 0x07 | 8 * 3, 0x01 };
	(void)state;

	if (!seed_dir) {
		skip();
		return;
	}
	seed_snapshot(tpath("seed1"), 1, 0, false, 0);
	seed_snapshot(tpath("seed2"), 4, 1, true, 2);
	seed_snapshot(tpath("seed3"), 2, 3, true, 0);
	write_seed(seed_dir, "one-vcpu", 0x00, ops_small, sizeof(ops_small), tpath("seed1"));
	write_seed(seed_dir, "four-vcpus-rtc-virtio", 0x00, ops_mixed, sizeof(ops_mixed), tpath("seed2"));
	write_seed(seed_dir, "four-vcpus-fixups", 0x03, ops_small, sizeof(ops_small), tpath("seed2"));
	write_seed(seed_dir, "gic-user-fixups", 0x03, ops_mixed, sizeof(ops_mixed), tpath("seed3"));
	write_seed(seed_dir, "no-ops", 0x01, NULL, 0, tpath("seed3"));
	rm_tree(tpath("seed1"));
	rm_tree(tpath("seed2"));
	rm_tree(tpath("seed3"));
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rm_tree(base);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_encoding),
		cmocka_unit_test(test_builder_matches_writer),
		cmocka_unit_test(test_round_trip_sections),
		cmocka_unit_test(test_round_trip_memory_sparse),
		cmocka_unit_test(test_round_trip_all_data),
		cmocka_unit_test(test_crc32_matches_zlib),
		cmocka_unit_test(test_corruptions_rejected),
		cmocka_unit_test(test_valid_edges),
		cmocka_unit_test(test_reader_memory_file_checked),
		cmocka_unit_test(test_reader_state_file_checked),
		cmocka_unit_test(test_reader_close_zeroed),
		cmocka_unit_test(test_writer_refuses_existing_dir),
		cmocka_unit_test(test_writer_abort_leaves_nothing),
		cmocka_unit_test(test_writer_missing_parent),
		cmocka_unit_test(test_writer_trailing_slash),
		cmocka_unit_test(test_writer_failed_write_leaves_nothing),
		cmocka_unit_test(test_writer_refuses_bad_snapshot),
		cmocka_unit_test(test_cursor_overrun),
		cmocka_unit_test(test_cursor_leftover),
		cmocka_unit_test(test_cursor_strings),
		cmocka_unit_test(test_cursor_bool),
		cmocka_unit_test(test_write_fuzz_seeds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
