/* virtio-net transmit chains from a hostile driver: what is sent, what is dropped, and why. */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "devices/net_packet.h"

#define ALL_TX (NET_F_CSUM | NET_F_HOST_TSO4 | NET_F_HOST_TSO6 | NET_F_HOST_ECN)

static uint8_t hdr_buf[VIRTIO_NET_HDR_LEN], frame[70000];
static struct virtq_chain c;

/* A chain of header and a frame of len bytes (two readable buffers), header h. */
static void chain(const struct virtio_net_hdr_v1 *h, uint32_t len)
{
	memcpy(hdr_buf, h, sizeof(hdr_buf));
	memset(&c, 0, offsetof(struct virtq_chain, iov));
	c.iov[0] = (struct iovec){ hdr_buf, sizeof(hdr_buf) };
	c.iov[1] = (struct iovec){ frame, len };
	c.n_out = 2;
	c.out_bytes = sizeof(hdr_buf) + len;
}

static struct virtio_net_hdr_v1 H(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size, uint16_t cs,
				   uint16_t co)
{
	return (struct virtio_net_hdr_v1){ flags, gso, htole16(hdr_len), htole16(gso_size), htole16(cs), htole16(co), 0 };
}

static void test_header_rules(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		uint64_t features;
		struct virtio_net_hdr_v1 h;
		uint32_t len;
		enum net_tx_verdict want;
	} cases[] = {
		{ "plain frame", 0, { 0 }, 64, NET_TX_OK },
		{ "largest frame", 0, { 0 }, NET_MAX_FRAME, NET_TX_OK },
		{ "one byte too long", 0, { 0 }, NET_MAX_FRAME + 1, NET_TX_MALFORMED },
		{ "just an Ethernet header", 0, { 0 }, NET_MIN_FRAME, NET_TX_OK },
		{ "less than an Ethernet header", 0, { 0 }, NET_MIN_FRAME - 1, NET_TX_MALFORMED },
		{ "DATA_VALID is the device's", ALL_TX, { .flags = 2 }, 64, NET_TX_BAD_HEADER },
		{ "RSC_INFO is the device's", ALL_TX, { .flags = 4 }, 64, NET_TX_BAD_HEADER },
		{ "checksum not negotiated", 0, { .flags = 1, .csum_start = 14 }, 64, NET_TX_BAD_HEADER },
		{ "checksum ends at the frame's end", NET_F_CSUM, { .flags = 1, .csum_start = 60, .csum_offset = 2 }, 64,
		  NET_TX_OK },
		{ "checksum one byte past the end", NET_F_CSUM, { .flags = 1, .csum_start = 60, .csum_offset = 3 }, 64,
		  NET_TX_BAD_HEADER },
		{ "checksum start past 64 KiB", NET_F_CSUM, { .flags = 1, .csum_start = 0xffff, .csum_offset = 0xffff },
		  64, NET_TX_BAD_HEADER },
		{ "ECN without segmentation", ALL_TX, { .gso_type = 0x80 }, 64, NET_TX_BAD_HEADER },
		{ "UDP segmentation never offered", ALL_TX, { .flags = 1, .gso_type = 3, .gso_size = 100, .csum_start = 34 },
		  64, NET_TX_BAD_HEADER },
		{ "unknown segmentation type", ALL_TX, { .flags = 1, .gso_type = 5, .gso_size = 100, .csum_start = 34 }, 64,
		  NET_TX_BAD_HEADER },
		{ "segment size 0", ALL_TX, { .flags = 1, .gso_type = 1, .csum_start = 34 }, 64, NET_TX_BAD_HEADER },
		{ "segmentation without a checksum", ALL_TX, { .gso_type = 1, .gso_size = 100 }, 64, NET_TX_BAD_HEADER },
		{ "hdr_len beyond the frame", ALL_TX, { .flags = 1, .gso_type = 1, .gso_size = 100, .hdr_len = 65,
		  .csum_start = 34 }, 64, NET_TX_BAD_HEADER },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct virtio_net_hdr_v1 got;
		const char *why;
		print_message("%s\n", cases[i].name);
		chain(&cases[i].h, cases[i].len);
		assert_int_equal(net_tx_check(&c, cases[i].features, &got, &why), cases[i].want);
		if (cases[i].want != NET_TX_OK)
			assert_non_null(why);
	}
}

/* Each segmentation type needs its own feature; ECN its own too. */
static void test_segmentation_features(void **state)
{
	(void)state;
	struct virtio_net_hdr_v1 got, tso4 = H(1, 1, 54, 1000, 34, 16), tso6 = H(1, 4, 74, 1000, 54, 16),
					ecn4 = H(1, 0x81, 54, 1000, 34, 16);
	const char *why;

	chain(&tso4, 2000);
	assert_int_equal(net_tx_check(&c, NET_F_CSUM | NET_F_HOST_TSO4, &got, &why), NET_TX_OK);
	assert_int_equal(net_tx_check(&c, NET_F_CSUM | NET_F_HOST_TSO6, &got, &why), NET_TX_BAD_HEADER);
	chain(&tso6, 2000);
	assert_int_equal(net_tx_check(&c, NET_F_CSUM | NET_F_HOST_TSO6, &got, &why), NET_TX_OK);
	assert_int_equal(net_tx_check(&c, NET_F_CSUM | NET_F_HOST_TSO4, &got, &why), NET_TX_BAD_HEADER);
	chain(&ecn4, 2000);
	assert_int_equal(net_tx_check(&c, NET_F_CSUM | NET_F_HOST_TSO4, &got, &why), NET_TX_BAD_HEADER);
	assert_int_equal(net_tx_check(&c, ALL_TX, &got, &why), NET_TX_OK);
	/* A checksum request without the checksum feature is refused even with TSO4 offered. */
	assert_int_equal(net_tx_check(&c, NET_F_HOST_TSO4 | NET_F_HOST_ECN, &got, &why), NET_TX_BAD_HEADER);
}

/* Writable buffers make no frame; the header may be split across buffers. */
static void test_chain_shapes(void **state)
{
	(void)state;
	struct virtio_net_hdr_v1 h = H(1, 0, 0, 0, 34, 16), got;
	struct iovec iov[VIRTQ_MAX_CHAIN + 1];
	const char *why;
	uint8_t raw[VIRTIO_NET_HDR_LEN];

	chain(&h, 64);
	c.n_out = 1;
	c.n_in = 1;
	c.out_bytes = sizeof(hdr_buf);
	c.in_bytes = 64;
	assert_int_equal(net_tx_check(&c, ALL_TX, &got, &why), NET_TX_MALFORMED);

	/* Header in three pieces, the frame's first bytes in the last one. */
	memcpy(raw, &h, sizeof(raw));
	memcpy(frame, raw + 5, 7);
	memset(&c, 0, offsetof(struct virtq_chain, iov));
	c.iov[0] = (struct iovec){ raw, 3 };
	c.iov[1] = (struct iovec){ raw + 3, 2 };
	c.iov[2] = (struct iovec){ frame, 7 + 64 };
	c.n_out = 3;
	c.out_bytes = 3 + 2 + 7 + 64;
	assert_int_equal(net_tx_check(&c, ALL_TX, &got, &why), NET_TX_OK);
	assert_int_equal(le16toh(got.csum_start), 34);
	/* What goes to the tap: the checked copy, then the frame from where the header ends. */
	assert_int_equal(net_tx_iov(&c, &got, iov), 2);
	assert_ptr_equal(iov[0].iov_base, &got);
	assert_int_equal(iov[0].iov_len, VIRTIO_NET_HDR_LEN);
	assert_ptr_equal(iov[1].iov_base, frame + 7);
	assert_int_equal(iov[1].iov_len, 64);

	/* The guest rewriting its buffer after the check changes nothing that is sent. */
	raw[0] = 0x55;
	assert_int_equal(got.flags, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_segmentation_features),
		cmocka_unit_test(test_chain_shapes),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
