/* The snapshot's network configuration (NETC): what a restore rebuilds, from an untrusted file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "board/board.h"
#include "core/log.h"
#include "core/state.h"

static int load(const struct snap_buf *b, struct vm_config *cfg)
{
	struct snap_cursor c = { .p = b->data, .len = b->len };

	memset(cfg, 0, sizeof(*cfg));
	return board_netconf_load(&c, cfg);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct vm_config saved = { .vsock_cid = 42 }, got;
	struct board b = { .cfg = &saved, .nr_nics = 2 };
	struct snap_buf buf = { 0 };

	b.nics[0] = (struct net_identity){ .tapif = "tap0", .vhost = false, .mac = { 2, 'a', 'r', 1, 2, 3 } };
	b.nics[1] = (struct net_identity){ .tapif = "armn1", .vhost = true, .mac = { 2, 0, 0x5e, 0x10, 0, 1 } };
	assert_true(board_netconf_needed(&b));
	board_netconf_save(&b, &buf);
	assert_int_equal(load(&buf, &got), 0);
	assert_int_equal(got.nr_nics, 2);
	assert_string_equal(got.nics[0].tapif, "tap0");
	assert_false(got.nics[0].vhost);
	assert_true(got.nics[0].has_mac);
	assert_memory_equal(got.nics[0].mac, b.nics[0].mac, 6);
	assert_string_equal(got.nics[1].tapif, "armn1");
	assert_true(got.nics[1].vhost);
	assert_memory_equal(got.nics[1].mac, b.nics[1].mac, 6);
	assert_int_equal(got.vsock_cid, 42);
	snap_buf_free(&buf);

	/* No NIC, no vsock: no section at all. */
	b.nr_nics = 0;
	saved.vsock_cid = 0;
	assert_false(board_netconf_needed(&b));
}

/* One NIC "name" with vhost byte v and MAC mac, then the CID; extra bytes after when trailing. */
static void payload(struct snap_buf *b, uint32_t nr, const char *name, uint8_t v, const uint8_t *mac, uint32_t cid,
		    bool trailing)
{
	memset(b, 0, sizeof(*b));
	snap_put_u32(b, nr);
	for (uint32_t i = 0; i < nr && i < 8; i++) {
		char n[32];
		snprintf(n, sizeof(n), "%s%u", name, i);
		snap_put_str(b, *name ? n : "");
		snap_put_u8(b, v);
		snap_put_bytes(b, mac, 6);
	}
	snap_put_u32(b, cid);
	if (trailing)
		snap_put_u8(b, 0);
}

static void test_hostile(void **state)
{
	(void)state;
	static const uint8_t uni[6] = { 2, 0, 0, 0, 0, 1 }, multi[6] = { 3, 0, 0, 0, 0, 1 };
	static const struct {
		const char *what;
		uint32_t nr;
		const char *name;
		uint8_t vhost;
		const uint8_t *mac;
		uint32_t cid;
		bool trailing;
		int want;
	} cases[] = {
		{ "fine", 4, "t", 1, uni, 3, false, 0 },
		{ "five NICs", 5, "t", 0, uni, 0, false, -EINVAL },
		{ "a million NICs", 1000000, "t", 0, uni, 0, false, -EINVAL },
		{ "empty tap name", 1, "", 0, uni, 0, false, -EINVAL },
		{ "tap name with a slash", 1, "../a/", 0, uni, 0, false, -EINVAL },
		{ "tap name with a blank", 1, "a b", 0, uni, 0, false, -EINVAL },
		{ "tap name too long", 1, "0123456789abcde", 0, uni, 0, false, -EINVAL },
		{ "vhost neither 0 nor 1", 1, "t", 2, uni, 0, false, -EINVAL },
		{ "multicast MAC", 1, "t", 0, multi, 0, false, -EINVAL },
		{ "CID 2 is the host", 0, "t", 0, uni, 2, false, -EINVAL },
		{ "CID 0xffffffff is any", 0, "t", 0, uni, 0xffffffffu, false, -EINVAL },
		{ "bytes left over", 1, "t", 0, uni, 0, true, -EINVAL },
	};
	struct vm_config cfg;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snap_buf b;
		print_message("%s\n", cases[i].what);
		payload(&b, cases[i].nr, cases[i].name, cases[i].vhost, cases[i].mac, cases[i].cid, cases[i].trailing);
		assert_int_equal(load(&b, &cfg), cases[i].want);
		snap_buf_free(&b);
	}
	/* Cut short anywhere: refused. */
	struct snap_buf full;
	payload(&full, 2, "t", 1, uni, 9, false);
	for (size_t n = 0; n < full.len; n++) {
		struct snap_buf cut = { .data = full.data, .len = n };
		assert_int_equal(load(&cut, &cfg), -EINVAL);
	}
	snap_buf_free(&full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hostile),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
