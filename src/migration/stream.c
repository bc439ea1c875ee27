/*
 * The migration stream: frames, and the receiving side's checks (stream.h).
 * Every frame is checked whole (length, CRC, phase) before its payload is
 * looked at; pages go into guest RAM only inside it; the state sections are
 * assembled into a state file image and validated exactly as a snapshot's.
 */
#include "migration/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void mig_frame_header(uint8_t out[MIG_FRAME_HEADER_SIZE], uint32_t tag, uint32_t instance, const void *payload,
		      size_t len)
{
	le32_put(out, tag);
	le32_put(out + 4, instance);
	le64_put(out + 8, len);
	le32_put(out + 16, snap_crc32(payload, len));
	le32_put(out + 20, 0);
}

void mig_hello_payload(uint8_t out[MIG_HELLO_SIZE], const struct snap_header *h, uint32_t flags)
{
	memcpy(out, MIG_MAGIC, 8);
	le32_put(out + 8, MIG_STREAM_VERSION);
	le32_put(out + 12, SNAP_VERSION);
	le32_put(out + 16, h->page_size);
	le32_put(out + 20, h->nr_vcpus);
	le32_put(out + 24, h->irqchip_type);
	le32_put(out + 28, flags);
	le64_put(out + 32, h->mem_gpa);
	le64_put(out + 40, h->mem_size);
}

void mig_reply_payload(struct snap_buf *b, bool yes, const char *reason)
{
	size_t n = strnlen(reason, MIG_MAX_REASON - 1);

	snap_put_u32(b, yes ? MIG_REPLY_YES : MIG_REPLY_NO);
	snap_put_u32(b, (uint32_t)n);
	snap_put_bytes(b, reason, n);
}

/* How long a frame with this tag may be at most (0: a tag the stream does not have). */
static uint64_t max_len(uint32_t tag, uint32_t page_size)
{
	switch (tag) {
	case MIG_TAG_HELLO: return MIG_HELLO_SIZE;
	case MIG_TAG_REPLY: return 8 + MIG_MAX_REASON;
	case MIG_TAG_PAGES: return 8 + (uint64_t)MIG_MAX_RUN * (page_size ? page_size : 65536u);
	case MIG_TAG_ZEROS: return 16;
	case MIG_TAG_DONE: return 4;
	case SNAP_SEC_CONFIG: return MIG_MAX_CONF;
	case MIG_TAG_NETCONF: return MIG_MAX_CONF;
	default: return MIG_MAX_SECTION;	/* a state section: its tag is checked with the payload */
	}
}

int mig_parse_frame_header(const uint8_t hdr[MIG_FRAME_HEADER_SIZE], uint32_t page_size, uint32_t *tag,
			   uint32_t *instance, uint64_t *len, uint32_t *crc)
{
	char name[32];

	*tag = le32_get(hdr);
	*instance = le32_get(hdr + 4);
	*len = le64_get(hdr + 8);
	*crc = le32_get(hdr + 16);
	if (le32_get(hdr + 20) != 0) {
		pr_err("migration stream: frame %s has a nonzero reserved field", snapfile_sec_name(name, *tag, *instance));
		return -EPROTO;
	}
	if (*len > max_len(*tag, page_size)) {
		pr_err("migration stream: frame %s is %" PRIu64 " bytes long (at most %" PRIu64 ")",
		       snapfile_sec_name(name, *tag, *instance), *len, max_len(*tag, page_size));
		return -EPROTO;
	}
	return 0;
}

int mig_parse_reply(const uint8_t *payload, size_t len, bool *yes, char *reason, size_t cap)
{
	struct snap_cursor c = { .p = payload, .len = len };
	uint32_t status = snap_get_u32(&c);

	snap_get_str(&c, reason, cap);
	if (snap_cursor_done(&c, "migration reply") < 0)
		return -EPROTO;
	if (status > MIG_REPLY_NO) {
		pr_err("migration stream: reply status %u is neither yes nor no", status);
		return -EPROTO;
	}
	/* One line, printable: it goes into the user's error message. */
	for (char *p = reason; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	*yes = status == MIG_REPLY_YES;
	return 0;
}

void mig_rx_init(struct mig_rx *rx, const struct snap_kind *kinds, unsigned int nr_kinds)
{
	memset(rx, 0, sizeof(*rx));
	rx->state.mem_fd = -1;
	rx->kinds = kinds;
	rx->nr_kinds = nr_kinds;
}

void mig_rx_free(struct mig_rx *rx)
{
	snap_buf_free(&rx->conf);
	snap_buf_free(&rx->netconf);
	snap_image_free(&rx->image);
	snap_reader_close(&rx->state);
	rx->phase = MIG_RX_HELLO;
}

static int proto(const char *what, uint32_t tag, uint32_t instance)
{
	char name[32];

	pr_err("migration stream: %s (frame %s)", what, snapfile_sec_name(name, tag, instance));
	return -EPROTO;
}

static int rx_hello(struct mig_rx *rx, const uint8_t *p, size_t len)
{
	uint32_t stream_version, state_version;

	if (len != MIG_HELLO_SIZE || memcmp(p, MIG_MAGIC, 8) != 0) {
		pr_err("migration stream: not an armvmm migration (bad greeting)");
		return -EPROTO;
	}
	stream_version = le32_get(p + 8);
	state_version = le32_get(p + 12);
	if (stream_version != MIG_STREAM_VERSION || state_version != SNAP_VERSION) {
		pr_err("the source speaks migration stream version %u with state format %u; this armvmm speaks "
		       "version %u with format %u", stream_version, state_version, MIG_STREAM_VERSION, SNAP_VERSION);
		return -EPROTO;
	}
	rx->h = (struct snap_header){
		.version = state_version,
		.page_size = le32_get(p + 16),
		.nr_vcpus = le32_get(p + 20),
		.irqchip_type = le32_get(p + 24),
		.mem_gpa = le64_get(p + 32),
		.mem_size = le64_get(p + 40),
	};
	rx->flags = le32_get(p + 28);
	if (rx->flags & ~MIG_HELLO_NETCONF) {
		pr_err("migration stream: greeting flags 0x%x are unknown", rx->flags);
		return -EPROTO;
	}
	if (snapfile_check_header("migration stream: ", &rx->h) < 0)
		return -EPROTO;
	rx->phase = MIG_RX_CONF;
	return 0;
}

static int rx_conf(struct mig_rx *rx, const uint8_t *p, size_t len)
{
	int err = snap_image_init(&rx->image);

	snap_put_bytes(&rx->conf, p, len);
	if (!err)
		err = snap_image_add(&rx->image, SNAP_SEC_CONFIG, 0, p, len);
	if (err || rx->conf.err) {
		pr_err("out of memory receiving a migration");
		return -ENOMEM;
	}
	rx->handshake_sections = 1;
	rx->phase = rx->flags & MIG_HELLO_NETCONF ? MIG_RX_NETCONF : MIG_RX_ACCEPT;
	return 0;
}

static int rx_netconf(struct mig_rx *rx, const uint8_t *p, size_t len)
{
	int err = snap_image_add(&rx->image, MIG_TAG_NETCONF, 0, p, len);

	snap_put_bytes(&rx->netconf, p, len);
	if (err || rx->netconf.err) {
		pr_err("out of memory receiving a migration");
		return -ENOMEM;
	}
	rx->handshake_sections = 2;
	rx->phase = MIG_RX_ACCEPT;
	return 0;
}

/* The pages [first, first + count) lie inside guest RAM. */
static bool pages_inside(const struct mig_rx *rx, uint64_t first, uint64_t count)
{
	uint64_t pages = rx->ram_size / rx->h.page_size;

	return count > 0 && first < pages && count <= pages - first;
}

static bool zero_page(const uint8_t *p, size_t n)
{
	static const uint8_t zero8[8];

	return memcmp(p, zero8, 8) == 0 && memcmp(p, p + 8, n - 8) == 0;
}

static int rx_pages(struct mig_rx *rx, const uint8_t *p, size_t len)
{
	uint64_t ps = rx->h.page_size, first, count;

	if (len < 8 + ps || (len - 8) % ps) {
		pr_err("migration stream: a page frame of %zu bytes does not hold whole %" PRIu64 "-byte pages", len, ps);
		return -EPROTO;
	}
	first = le64_get(p);
	count = (len - 8) / ps;
	if (!pages_inside(rx, first, count)) {
		pr_err("migration stream: pages %" PRIu64 "+%" PRIu64 " lie outside guest RAM (%" PRIu64 " pages)", first,
		       count, rx->ram_size / ps);
		return -EPROTO;
	}
	memcpy(rx->ram + first * ps, p + 8, count * ps);
	rx->pages += count;
	return 0;
}

static int rx_zeros(struct mig_rx *rx, const uint8_t *p, size_t len)
{
	uint64_t ps = rx->h.page_size, first, count;

	if (len != 16) {
		pr_err("migration stream: a zero-page frame of %zu bytes (16 expected)", len);
		return -EPROTO;
	}
	first = le64_get(p);
	count = le64_get(p + 8);
	if (!pages_inside(rx, first, count)) {
		pr_err("migration stream: zero pages %" PRIu64 "+%" PRIu64 " lie outside guest RAM", first, count);
		return -EPROTO;
	}
	/* Untouched RAM reads as the shared zero page: looking first keeps it unallocated. */
	for (uint64_t i = first; i < first + count; i++)
		if (!zero_page(rx->ram + i * ps, ps))
			memset(rx->ram + i * ps, 0, ps);
	rx->zero_pages += count;
	return 0;
}

/* A state section: a tag the format or the board knows (the rest is checked at DONE, as a snapshot's). */
static int rx_section(struct mig_rx *rx, uint32_t tag, uint32_t instance, const uint8_t *p, size_t len)
{
	bool known = tag == SNAP_SEC_VCPU || tag == SNAP_SEC_GIC;
	int err;

	for (unsigned int k = 0; k < rx->nr_kinds; k++)
		known |= rx->kinds[k].tag == tag;
	if (!known)
		return proto("a frame the stream does not have", tag, instance);
	err = snap_image_add(&rx->image, tag, instance, p, len);
	if (err == -EFBIG)
		return proto("the state grows larger than a snapshot's may be", tag, instance);
	if (err) {
		pr_err("out of memory receiving a migration");
		return err;
	}
	rx->phase = MIG_RX_STATE;
	return 0;
}

static int rx_done(struct mig_rx *rx, const uint8_t *p, size_t len)
{
	int err;

	if (len != 4) {
		pr_err("migration stream: the end frame is %zu bytes (4 expected)", len);
		return -EPROTO;
	}
	/* CONF (and NETC) came in the handshake: the image holds them besides what the source sent at the end. */
	if (le32_get(p) != rx->image.nr_sections - rx->handshake_sections) {
		pr_err("migration stream: the source sent %u state sections, %u arrived", le32_get(p),
		       rx->image.nr_sections - rx->handshake_sections);
		return -EPROTO;
	}
	snap_image_finish(&rx->image, &rx->h);
	err = snapfile_parse_copy(&rx->state, rx->image.buf.data, rx->image.buf.len, rx->kinds, rx->nr_kinds,
				  "migration stream: ");
	if (err)
		return err == -ENOMEM ? err : -EPROTO;
	rx->phase = MIG_RX_DONE;
	return 0;
}

int mig_rx_frame(struct mig_rx *rx, uint32_t tag, uint32_t instance, const uint8_t *payload, size_t len,
		 uint32_t crc)
{
	if (snap_crc32(payload, len) != crc)
		return proto("a frame fails its checksum", tag, instance);
	if (tag == MIG_TAG_REPLY)
		return proto("a reply from the source", tag, instance);
	if ((tag == MIG_TAG_HELLO || tag == MIG_TAG_PAGES || tag == MIG_TAG_ZEROS || tag == MIG_TAG_DONE) &&
	    instance != 0)
		return proto("the instance must be 0", tag, instance);
	switch (rx->phase) {
	case MIG_RX_HELLO:
		if (tag != MIG_TAG_HELLO)
			return proto("the stream does not start with a greeting", tag, instance);
		return rx_hello(rx, payload, len);
	case MIG_RX_CONF:
		if (tag != SNAP_SEC_CONFIG || instance != 0)
			return proto("the greeting is not followed by the configuration", tag, instance);
		return rx_conf(rx, payload, len);
	case MIG_RX_NETCONF:
		if (tag != MIG_TAG_NETCONF || instance != 0)
			return proto("the greeting announced the network configuration, which does not follow", tag,
				     instance);
		return rx_netconf(rx, payload, len);
	case MIG_RX_ACCEPT:
		return proto("a frame before the destination answered", tag, instance);
	case MIG_RX_MEMORY:
		if (tag == MIG_TAG_PAGES)
			return rx_pages(rx, payload, len);
		if (tag == MIG_TAG_ZEROS)
			return rx_zeros(rx, payload, len);
		/* The first state section ends the memory frames. */
		__attribute__((fallthrough));
	case MIG_RX_STATE:
		if (tag == MIG_TAG_DONE)
			return rx_done(rx, payload, len);
		if (tag == MIG_TAG_PAGES || tag == MIG_TAG_ZEROS)
			return proto("guest memory after the state", tag, instance);
		if (tag == MIG_TAG_HELLO || tag == SNAP_SEC_CONFIG || tag == MIG_TAG_NETCONF)
			return proto("a second greeting or configuration", tag, instance);
		return rx_section(rx, tag, instance, payload, len);
	case MIG_RX_DONE:
		return proto("a frame after the end", tag, instance);
	}
	return -EPROTO;
}

void mig_rx_set_ram(struct mig_rx *rx, uint8_t *host)
{
	rx->ram = host;
	rx->ram_size = rx->h.mem_size;
	rx->phase = MIG_RX_MEMORY;
}

struct snap_cursor mig_rx_conf(const struct mig_rx *rx)
{
	return (struct snap_cursor){ .p = rx->conf.data, .len = rx->conf.len, .version = rx->h.version };
}

bool mig_rx_netconf(const struct mig_rx *rx, struct snap_cursor *c)
{
	*c = (struct snap_cursor){ .p = rx->netconf.data, .len = rx->netconf.len, .version = rx->h.version };
	return rx->handshake_sections == 2;
}
