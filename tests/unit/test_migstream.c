/*
 * The migration stream's receiving side (migration/stream.c), with streams
 * built here: a whole migration lands its pages in RAM and its state as a
 * validated snapshot image; every way a hostile or broken stream can be
 * wrong is refused with one error line (and nothing written outside RAM).
 * With MIGSTREAM_SEED_DIR set, test_write_fuzz_seeds writes the fuzz corpus
 * (tests/fuzz/corpus/migstream) there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/board.h"
#include "core/log.h"
#include "devices/uart_8250.h"
#include "migration/net.h"
#include "migration/stream.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#define PAGE 4096u
#define RAM_PAGES 128u
#define RAM_SIZE (RAM_PAGES * PAGE)


/* --- building streams ------------------------------------------------------------------ */

/* A stream: frames back to back, each with its header and CRC. */
struct stream {
	uint8_t *data;
	size_t len, cap;
};

static void put(struct stream *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2 + 256;
		s->data = realloc(s->data, s->cap);
		assert_non_null(s->data);
	}
	memcpy(s->data + s->len, p, n);
	s->len += n;
}

static void frame(struct stream *s, uint32_t tag, uint32_t instance, const void *payload, size_t len)
{
	uint8_t hdr[MIG_FRAME_HEADER_SIZE];

	mig_frame_header(hdr, tag, instance, payload, len);
	put(s, hdr, sizeof(hdr));
	put(s, payload, len);
}

static const struct snap_header hdr = {
	.version = SNAP_VERSION, .page_size = PAGE, .nr_vcpus = 2, .irqchip_type = 1,
	.mem_gpa = 0x80000000u, .mem_size = RAM_SIZE,
};

static void hello(struct stream *s, const struct snap_header *h)
{
	uint8_t p[MIG_HELLO_SIZE];

	mig_hello_payload(p, h, 0);
	frame(s, MIG_TAG_HELLO, 0, p, sizeof(p));
}

static uint8_t page_byte(uint64_t page, uint64_t i) { return (uint8_t)(page * 31 + i * 7 + 1); }

/* n pages from first, with contents page_byte(). */
static void pages(struct stream *s, uint64_t first, unsigned int n)
{
	uint8_t *p = malloc(8 + (size_t)n * PAGE);

	assert_non_null(p);
	le64_put(p, first);
	for (unsigned int k = 0; k < n; k++)
		for (unsigned int i = 0; i < PAGE; i++)
			p[8 + k * PAGE + i] = page_byte(first + k, i);
	frame(s, MIG_TAG_PAGES, 0, p, 8 + (size_t)n * PAGE);
	free(p);
}

static void zeros(struct stream *s, uint64_t first, uint64_t count)
{
	uint8_t p[16];

	le64_put(p, first);
	le64_put(p + 8, count);
	frame(s, MIG_TAG_ZEROS, 0, p, sizeof(p));
}

static void section(struct stream *s, uint32_t tag, uint32_t instance, size_t len)
{
	uint8_t p[64];

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(tag + instance + i);
	frame(s, tag, instance, p, len);
}

static void done(struct stream *s, uint32_t n)
{
	uint8_t p[4];

	le32_put(p, n);
	frame(s, MIG_TAG_DONE, 0, p, sizeof(p));
}

/* The state a 2-vCPU VM sends at the end: VCPU/0, VCPU/1, GIC, UART (the required ones). */
static void end_state(struct stream *s)
{
	section(s, SNAP_SEC_VCPU, 0, 40);
	section(s, SNAP_SEC_VCPU, 1, 41);
	section(s, SNAP_SEC_GIC, 0, 33);
	section(s, UART_8250_SNAP_TAG, 0, 12);
}

/* A whole, good migration. */
static void good_stream(struct stream *s)
{
	hello(s, &hdr);
	frame(s, SNAP_SEC_CONFIG, 0, "conf", 4);
	pages(s, 0, 3);
	pages(s, 10, MIG_MAX_RUN);
	zeros(s, 1, 1);
	pages(s, RAM_PAGES - 1, 1);
	end_state(s);
	done(s, 4);
}

/*
 * Feed s to rx frame by frame, as the destination does (the handshake
 * accepted at once, pages into ram). 0 once the stream is done, or the
 * first refusal's error.
 */
static int feed(struct mig_rx *rx, const struct stream *s, uint8_t *ram)
{
	size_t off = 0;

	while (off < s->len) {
		uint32_t tag, instance, crc;
		uint64_t len;
		if (s->len - off < MIG_FRAME_HEADER_SIZE)
			return -ENODATA;
		int err = mig_parse_frame_header(s->data + off, rx->h.page_size, &tag, &instance, &len, &crc);
		if (err)
			return err;
		off += MIG_FRAME_HEADER_SIZE;
		if (len > s->len - off)
			return -ENODATA;
		err = mig_rx_frame(rx, tag, instance, s->data + off, (size_t)len, crc);
		if (err)
			return err;
		off += (size_t)len;
		if (rx->phase == MIG_RX_ACCEPT)
			mig_rx_set_ram(rx, ram);
	}
	return rx->phase == MIG_RX_DONE ? 0 : -ENODATA;
}

/* --- tests ------------------------------------------------------------------------------- */

static uint8_t ram[RAM_SIZE + PAGE];	/* one guard page after RAM */

static void test_whole_migration(void **state)
{
	struct stream s = { 0 };
	struct mig_rx rx;
	struct snap_cursor c;
	(void)state;

	good_stream(&s);
	memset(ram, 0xee, sizeof(ram));
	mig_rx_init(&rx, board_snap_kinds, board_nr_snap_kinds);
	assert_int_equal(feed(&rx, &s, ram), 0);
	assert_int_equal(rx.phase, MIG_RX_DONE);
	/* The pages where they belong, the zero page zero, the rest untouched, nothing past RAM. */
	for (uint64_t p = 0; p < RAM_PAGES; p++) {
		bool sent = p < 3 || (p >= 10 && p < 10 + MIG_MAX_RUN) || p == RAM_PAGES - 1;
		for (unsigned int i = 0; i < PAGE; i += 511) {
			uint8_t want = p == 1 ? 0 : sent ? page_byte(p, i) : 0xee;
			assert_int_equal(ram[p * PAGE + i], want);
		}
	}
	assert_int_equal(ram[RAM_SIZE], 0xee);
	assert_int_equal(rx.pages, 3 + MIG_MAX_RUN + 1);
	assert_int_equal(rx.zero_pages, 1);
	/* The state: a snapshot image with the greeting's header, CONF first, every section found. */
	assert_int_equal(rx.state.h.nr_vcpus, 2);
	assert_int_equal(rx.state.h.mem_size, RAM_SIZE);
	assert_int_equal(rx.state.nr_sections, 5);
	assert_int_equal(snap_reader_find(&rx.state, SNAP_SEC_CONFIG, 0, &c), 0);
	assert_int_equal(c.len, 4);
	assert_memory_equal(c.p, "conf", 4);
	assert_int_equal(c.version, SNAP_VERSION);
	assert_int_equal(snap_reader_find(&rx.state, SNAP_SEC_VCPU, 1, &c), 0);
	assert_int_equal(c.len, 41);
	c = mig_rx_conf(&rx);
	assert_int_equal(c.len, 4);
	mig_rx_free(&rx);
	free(s.data);
}

static void netconf_hello(struct stream *s);

/* A VM with network devices: NETC follows CONF in the handshake, and lands in the state beside it. */
static void test_migration_with_netconf(void **state)
{
	struct stream s = { 0 };
	struct mig_rx rx;
	struct snap_cursor c;
	(void)state;

	netconf_hello(&s);
	frame(&s, MIG_TAG_NETCONF, 0, "netc!", 5);
	pages(&s, 0, 1);
	end_state(&s);
	done(&s, 4);
	mig_rx_init(&rx, board_snap_kinds, board_nr_snap_kinds);
	assert_int_equal(feed(&rx, &s, ram), 0);
	assert_true(mig_rx_netconf(&rx, &c));
	assert_int_equal(c.len, 5);
	assert_memory_equal(c.p, "netc!", 5);
	assert_int_equal(rx.state.nr_sections, 6);
	assert_int_equal(snap_reader_find(&rx.state, MIG_TAG_NETCONF, 0, &c), 0);
	assert_int_equal(c.len, 5);
	mig_rx_free(&rx);
	free(s.data);
}

/* A mutation of the good stream, and the error line it must produce. */
struct bad {
	const char *what;
	void (*build)(struct stream *s);
	const char *expect;
};

static void b_no_hello(struct stream *s) { pages(s, 0, 1); }
static void b_bad_magic(struct stream *s)
{
	uint8_t p[MIG_HELLO_SIZE];
	mig_hello_payload(p, &hdr, 0);
	p[0] = 'X';
	frame(s, MIG_TAG_HELLO, 0, p, sizeof(p));
}
static void hello_field(struct stream *s, size_t off, uint32_t v)
{
	uint8_t p[MIG_HELLO_SIZE];
	mig_hello_payload(p, &hdr, 0);
	le32_put(p + off, v);
	frame(s, MIG_TAG_HELLO, 0, p, sizeof(p));
}
static void b_stream_version(struct stream *s) { hello_field(s, 8, 2); }
static void b_state_version(struct stream *s) { hello_field(s, 12, 1); }
static void b_page_size(struct stream *s) { hello_field(s, 16, 1000); }
static void b_no_vcpus(struct stream *s) { hello_field(s, 20, 0); }
static void b_irqchip(struct stream *s) { hello_field(s, 24, 9); }
static void b_flags(struct stream *s) { hello_field(s, 28, 2); }
static void start(struct stream *s);
/* The greeting announces the network configuration, which must follow CONF at once. */
static void netconf_hello(struct stream *s)
{
	uint8_t p[MIG_HELLO_SIZE];
	mig_hello_payload(p, &hdr, MIG_HELLO_NETCONF);
	frame(s, MIG_TAG_HELLO, 0, p, sizeof(p));
	frame(s, SNAP_SEC_CONFIG, 0, "conf", 4);
}
static void b_netconf_missing(struct stream *s)
{
	netconf_hello(s);
	pages(s, 0, 1);
}
static void b_netconf_in_state(struct stream *s)
{
	start(s);
	end_state(s);
	frame(s, MIG_TAG_NETCONF, 0, "netc", 4);
}
static void b_netconf_counted(struct stream *s)
{
	netconf_hello(s);
	frame(s, MIG_TAG_NETCONF, 0, "netc", 4);
	end_state(s);
	done(s, 5);
}
static void b_short_hello(struct stream *s)
{
	uint8_t p[MIG_HELLO_SIZE];
	mig_hello_payload(p, &hdr, 0);
	frame(s, MIG_TAG_HELLO, 0, p, sizeof(p) - 1);
}
static void b_no_conf(struct stream *s)
{
	hello(s, &hdr);
	pages(s, 0, 1);
}
static void start(struct stream *s)
{
	hello(s, &hdr);
	frame(s, SNAP_SEC_CONFIG, 0, "conf", 4);
}
static void b_bad_crc(struct stream *s)
{
	start(s);
	pages(s, 0, 2);
	s->data[s->len - 100] ^= 1;
}
static void b_reserved(struct stream *s)
{
	start(s);
	pages(s, 0, 1);
	s->data[s->len - PAGE - 8 - 4] = 1;
}
static void b_huge(struct stream *s)
{
	uint8_t h[MIG_FRAME_HEADER_SIZE] = { 0 };
	start(s);
	le32_put(h, MIG_TAG_PAGES);
	le64_put(h + 8, 1ull << 40);
	put(s, h, sizeof(h));
}
static void b_page_beyond(struct stream *s) { start(s); pages(s, RAM_PAGES, 1); }
static void b_page_straddles(struct stream *s) { start(s); pages(s, RAM_PAGES - 1, 2); }
static void b_page_huge_index(struct stream *s) { start(s); pages(s, UINT64_MAX, 1); }
static void b_page_partial(struct stream *s)
{
	uint8_t p[8 + PAGE + 100] = { 0 };
	start(s);
	frame(s, MIG_TAG_PAGES, 0, p, sizeof(p));
}
static void b_page_empty(struct stream *s)
{
	uint8_t p[8] = { 0 };
	start(s);
	frame(s, MIG_TAG_PAGES, 0, p, sizeof(p));
}
static void b_zero_none(struct stream *s) { start(s); zeros(s, 0, 0); }
static void b_zero_beyond(struct stream *s) { start(s); zeros(s, 2, RAM_PAGES - 1); }
static void b_zero_wrap(struct stream *s) { start(s); zeros(s, 2, UINT64_MAX); }
static void b_page_instance(struct stream *s)
{
	uint8_t p[8 + PAGE] = { 0 };
	start(s);
	frame(s, MIG_TAG_PAGES, 1, p, sizeof(p));
}
static void b_unknown_tag(struct stream *s) { start(s); section(s, SNAP_TAG('N', 'O', 'P', 'E'), 0, 8); }
static void b_reply(struct stream *s) { start(s); frame(s, MIG_TAG_REPLY, 0, "\0\0\0\0\0\0\0\0", 8); }
static void b_page_after_state(struct stream *s)
{
	start(s);
	section(s, SNAP_SEC_GIC, 0, 8);
	pages(s, 0, 1);
}
static void b_second_conf(struct stream *s)
{
	start(s);
	frame(s, SNAP_SEC_CONFIG, 0, "conf", 4);
}
static void b_done_count(struct stream *s)
{
	start(s);
	end_state(s);
	done(s, 5);
}
static void b_missing_gic(struct stream *s)
{
	start(s);
	section(s, SNAP_SEC_VCPU, 0, 40);
	section(s, SNAP_SEC_VCPU, 1, 41);
	section(s, UART_8250_SNAP_TAG, 0, 12);
	done(s, 3);
}
static void b_vcpu_twice(struct stream *s)
{
	start(s);
	end_state(s);
	section(s, SNAP_SEC_VCPU, 0, 40);
	done(s, 5);
}
static void b_vcpu_beyond(struct stream *s)
{
	start(s);
	end_state(s);
	section(s, SNAP_SEC_VCPU, 2, 40);
	done(s, 5);
}
static void b_after_done(struct stream *s)
{
	good_stream(s);
	pages(s, 0, 1);
}

static const struct bad bads[] = {
	{ "no greeting", b_no_hello, "does not start with a greeting" },
	{ "bad magic", b_bad_magic, "not an armvmm migration" },
	{ "stream version", b_stream_version, "speaks migration stream version 2" },
	{ "state version", b_state_version, "with state format 1" },
	{ "page size", b_page_size, "page size 1000" },
	{ "no vCPUs", b_no_vcpus, "0 vCPUs" },
	{ "irqchip", b_irqchip, "irqchip type 9" },
	{ "flags", b_flags, "greeting flags 0x2" },
	{ "network configuration missing", b_netconf_missing, "announced the network configuration" },
	{ "network configuration with the state", b_netconf_in_state, "a second greeting or configuration" },
	{ "network configuration counted as state", b_netconf_counted, "the source sent 5 state sections, 4 arrived" },
	{ "short greeting", b_short_hello, "bad greeting" },
	{ "no configuration", b_no_conf, "not followed by the configuration" },
	{ "bad CRC", b_bad_crc, "fails its checksum" },
	{ "reserved field", b_reserved, "nonzero reserved" },
	{ "huge frame", b_huge, "bytes long (at most" },
	{ "page beyond RAM", b_page_beyond, "outside guest RAM" },
	{ "pages past the end of RAM", b_page_straddles, "outside guest RAM" },
	{ "page index near 2^64", b_page_huge_index, "outside guest RAM" },
	{ "part of a page", b_page_partial, "does not hold whole" },
	{ "no page", b_page_empty, "does not hold whole" },
	{ "zero count 0", b_zero_none, "outside guest RAM" },
	{ "zero pages past RAM", b_zero_beyond, "outside guest RAM" },
	{ "zero pages wrapping", b_zero_wrap, "outside guest RAM" },
	{ "page instance", b_page_instance, "instance must be 0" },
	{ "unknown tag", b_unknown_tag, "a frame the stream does not have" },
	{ "a reply from the source", b_reply, "a reply from the source" },
	{ "pages after the state", b_page_after_state, "guest memory after the state" },
	{ "second configuration", b_second_conf, "a second greeting or configuration" },
	{ "wrong section count", b_done_count, "the source sent 5 state sections, 4 arrived" },
	{ "no GIC section", b_missing_gic, "has no section GIC/0" },
	{ "a vCPU twice", b_vcpu_twice, "VCPU/0 appears twice" },
	{ "a third vCPU of two", b_vcpu_beyond, "VCPU/2: the instance must be below 2" },
	{ "a frame after the end", b_after_done, "a frame after the end" },
};

static void test_hostile_streams(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct stream s = { 0 };
		struct mig_rx rx;

		bads[i].build(&s);
		memset(ram, 0xee, sizeof(ram));
		mig_rx_init(&rx, board_snap_kinds, board_nr_snap_kinds);
		capture_begin();
		int err = feed(&rx, &s, ram);
		const char *out = capture_end();
		if (err != -EPROTO)
			fail_msg("%s: feed returned %d, not -EPROTO (%s)", bads[i].what, err, out);
		int lines = 0;
		for (const char *p = out; *p; p++)
			lines += *p == '\n';
		if (lines != 1 || strncmp(out, "armvmm: error: ", 15) != 0 || !strstr(out, bads[i].expect))
			fail_msg("%s: wanted one error line with '%s', got: %s", bads[i].what, bads[i].expect, out);
		assert_int_equal(ram[RAM_SIZE], 0xee);
		assert_true(rx.phase != MIG_RX_DONE || bads[i].build == b_after_done);
		mig_rx_free(&rx);
		free(s.data);
	}
}

static void test_replies(void **state)
{
	struct snap_buf b = { 0 };
	char reason[64];
	bool yes = true;
	(void)state;

	mig_reply_payload(&b, false, "no GICv3\there");
	assert_int_equal(mig_parse_reply(b.data, b.len, &yes, reason, sizeof(reason)), 0);
	assert_false(yes);
	assert_string_equal(reason, "no GICv3?here");
	snap_buf_free(&b);
	mig_reply_payload(&b, true, "");
	assert_int_equal(mig_parse_reply(b.data, b.len, &yes, reason, sizeof(reason)), 0);
	assert_true(yes);
	assert_string_equal(reason, "");
	/* Status 2, and a reason longer than the payload: refused. */
	b.data[0] = 2;
	capture_begin();
	assert_int_equal(mig_parse_reply(b.data, b.len, &yes, reason, sizeof(reason)), -EPROTO);
	b.data[0] = 0;
	b.data[4] = 200;
	assert_int_equal(mig_parse_reply(b.data, b.len, &yes, reason, sizeof(reason)), -EPROTO);
	capture_end();
	snap_buf_free(&b);
}

static void write_seed(const char *dir, const char *name, const struct stream *s)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(s->data, 1, s->len, f), s->len);
	fclose(f);
}

static void test_write_fuzz_seeds(void **state)
{
	const char *dir = getenv("MIGSTREAM_SEED_DIR");
	struct stream s = { 0 };
	(void)state;

	if (!dir) {
		skip();
		return;
	}
	/* Small: each execution of the fuzzer reads the whole input. */
	start(&s);
	pages(&s, 0, 2);
	zeros(&s, 1, 1);
	pages(&s, RAM_PAGES - 1, 1);
	end_state(&s);
	done(&s, 4);
	write_seed(dir, "whole-migration", &s);
	s.len = 0;
	start(&s);
	pages(&s, 5, 2);
	zeros(&s, 5, 1);
	write_seed(dir, "handshake-and-pages", &s);
	s.len = 0;
	b_vcpu_beyond(&s);
	write_seed(dir, "state-refused", &s);
	free(s.data);
}

/* Addresses as users type them; an interface name is looked up only when the connection is made. */
static void test_addresses(void **state)
{
	struct mig_addr a;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.sa;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a.sa;
	(void)state;

	assert_int_equal(mig_addr_parse("unix:/tmp/a b.sock", &a), 0);
	assert_true(a.is_unix);
	assert_int_equal(mig_addr_parse("tcp:127.0.0.1:4444", &a), 0);
	assert_int_equal(in4->sin_family, AF_INET);
	assert_int_equal(ntohs(in4->sin_port), 4444);
	assert_int_equal(mig_addr_parse("tcp:[fe80::1%3]:4401", &a), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(in6->sin6_scope_id, 3);
	assert_int_equal(mig_addr_resolve(&a), 0);
	assert_int_equal(in6->sin6_scope_id, 3);
	/* A name: kept, resolved later (lo exists everywhere; a made-up name is one error line then). */
	assert_int_equal(mig_addr_parse("tcp:[fe80::1%lo]:4401", &a), 0);
	assert_string_equal(a.scope_name, "lo");
	assert_int_equal(in6->sin6_scope_id, 0);
	assert_int_equal(mig_addr_resolve(&a), 0);
	assert_int_equal(in6->sin6_scope_id, if_nametoindex("lo"));
	assert_int_equal(mig_addr_parse("tcp:[fe80::1%nosuchif9]:4401", &a), 0);
	assert_int_equal(mig_addr_resolve(&a), -ENODEV);

	static const char *const bad[] = { "ftp:x", "tcp:1.2.3.4", "tcp:1.2.3.4:0", "tcp:1.2.3.4:65536", "tcp:[::1]4",
					   "tcp:[fe80::1%]:1", "tcp:[fe80::1%a/b]:1", "tcp:[fe80::1%averyveryverylongname]:1",
					   "tcp:host.example:1", "tcp:::1:4", "unix:" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mig_addr_parse(bad[i], &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_whole_migration),
		cmocka_unit_test(test_migration_with_netconf),
		cmocka_unit_test(test_hostile_streams),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_write_fuzz_seeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
