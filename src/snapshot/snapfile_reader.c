/*
 * The snapshot file format, reading: validating a state file image (header,
 * every section, the sections a VM needs) and opening a snapshot directory
 * (see snapfile.h and man/armvmm-snapshot.5). No KVM here, so all of it is
 * unit-tested and fuzzed on any host. The writer (snapfile_writer.c) checks
 * what it is about to commit with the same code.
 */
#include "snapshot/snapfile.h"
#include "snapshot/snapfile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"
#include "core/log.h"
#include "irqchip/irqchip.h"

#define SNAP_MIN_PAGE 4096u
#define SNAP_MAX_PAGE 65536u
#define SNAP_GPA_LIMIT (1ull << 48)

const char *snapfile_sec_name(char out[32], uint32_t tag, uint32_t instance)
{
	char t[5];
	int n = 4;

	for (int i = 0; i < 4; i++)
		t[i] = (char)(tag >> (8 * i));
	t[4] = 0;
	while (n > 0 && t[n - 1] == ' ')
		t[--n] = 0;
	bool printable = n > 0;
	for (int i = 0; i < n; i++)
		printable = printable && t[i] > ' ' && t[i] <= '~';
	if (printable)
		snprintf(out, 32, "%s/%" PRIu32, t, instance);
	else
		snprintf(out, 32, "0x%08" PRIx32 "/%" PRIu32, tag, instance);
	return out;
}

/* --- validation ---------------------------------------------------------------------- */

/* One error line, prefixed with where the bytes came from (or nothing). */
__attribute__((format(printf, 2, 3))) static int bad(const char *prefix, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s%s", prefix ? prefix : "", msg);
	return -EINVAL;
}

int snapfile_check_header(const char *pfx, const struct snap_header *h)
{
	uint32_t ps = h->page_size;

	if (ps < SNAP_MIN_PAGE || ps > SNAP_MAX_PAGE || (ps & (ps - 1)))
		return bad(pfx, "snapshot page size %" PRIu32
			   " is not supported (a power of two, 4096 to 65536)", ps);
	if (h->nr_vcpus < 1 || h->nr_vcpus > SNAP_MAX_VCPUS)
		return bad(pfx, "snapshot has %" PRIu32 " vCPUs (1 to %u are possible)", h->nr_vcpus,
			   SNAP_MAX_VCPUS);
	if (h->irqchip_type >= IRQCHIP_NR_TYPES)
		return bad(pfx, "snapshot irqchip type %" PRIu32 " is unknown", h->irqchip_type);
	if (h->mem_size == 0)
		return bad(pfx, "snapshot guest memory is empty");
	if (h->mem_gpa % ps || h->mem_size % ps)
		return bad(pfx, "snapshot guest memory 0x%" PRIx64 "+0x%" PRIx64 " is not page-aligned",
			   h->mem_gpa, h->mem_size);
	if (h->mem_size > UINT64_MAX - h->mem_gpa)
		return bad(pfx, "snapshot guest memory 0x%" PRIx64 "+0x%" PRIx64 " wraps around", h->mem_gpa,
			   h->mem_size);
	if (h->mem_gpa > SNAP_GPA_LIMIT || h->mem_size > SNAP_GPA_LIMIT - h->mem_gpa)
		return bad(pfx, "snapshot guest memory 0x%" PRIx64 "+0x%" PRIx64 " ends above 2^48",
			   h->mem_gpa, h->mem_size);
	return 0;
}

static int parse_header(const char *pfx, const uint8_t *buf, size_t len, struct snap_header *h,
			uint32_t *nr_sections)
{
	if (memcmp(buf + SNAP_HDR_MAGIC, SNAP_MAGIC, len < SNAP_MAGIC_LEN ? len : SNAP_MAGIC_LEN) != 0)
		return bad(pfx, "not an armvmm snapshot (bad magic)");
	if (len < SNAP_HEADER_SIZE)
		return bad(pfx, "snapshot state file is truncated (%zu bytes, shorter than its header)", len);
	/* Version before CRC: another version's header may keep its CRC elsewhere. */
	h->version = le32_get(buf + SNAP_HDR_VERSION);
	if (h->version != SNAP_VERSION)
		return bad(pfx, "snapshot format version %" PRIu32
			   " is not supported (this armvmm reads version %u)", h->version, SNAP_VERSION);
	if (le32_get(buf + SNAP_HDR_HEADER_SIZE) != SNAP_HEADER_SIZE)
		return bad(pfx, "snapshot header size %" PRIu32 " is wrong (version 1 has %u)",
			   le32_get(buf + SNAP_HDR_HEADER_SIZE), SNAP_HEADER_SIZE);
	if (le32_get(buf + SNAP_HDR_CRC) != snap_crc32(buf, SNAP_HDR_CRC))
		return bad(pfx, "snapshot header fails its checksum");
	if (le32_get(buf + SNAP_HDR_FLAGS) != 0)
		return bad(pfx, "snapshot header flags 0x%" PRIx32 " are unknown", le32_get(buf + SNAP_HDR_FLAGS));

	uint64_t state_size = le64_get(buf + SNAP_HDR_STATE_SIZE);
	if (state_size > len)
		return bad(pfx, "snapshot state file is truncated (%zu bytes, header says %" PRIu64 ")", len,
			   state_size);
	if (state_size < len)
		return bad(pfx, "snapshot state file is too long (%zu bytes, header says %" PRIu64 ")", len,
			   state_size);

	h->page_size = le32_get(buf + SNAP_HDR_PAGE_SIZE);
	h->nr_vcpus = le32_get(buf + SNAP_HDR_NR_VCPUS);
	h->irqchip_type = le32_get(buf + SNAP_HDR_IRQCHIP_TYPE);
	h->mem_gpa = le64_get(buf + SNAP_HDR_MEM_GPA);
	h->mem_size = le64_get(buf + SNAP_HDR_MEM_SIZE);
	int err = snapfile_check_header(pfx, h);
	if (err)
		return err;

	*nr_sections = le32_get(buf + SNAP_HDR_NR_SECTIONS);
	if (*nr_sections > SNAP_MAX_SECTIONS)
		return bad(pfx, "snapshot has %" PRIu32 " sections (at most %u)", *nr_sections,
			   SNAP_MAX_SECTIONS);
	/* Before anything is allocated for them. */
	if (*nr_sections > (len - SNAP_HEADER_SIZE) / SNAP_SECTION_HEADER_SIZE)
		return bad(pfx, "snapshot state file is truncated (%zu bytes cannot hold %" PRIu32 " sections)",
			   len, *nr_sections);
	return 0;
}

/* The sections the format itself has; the VM's devices bring theirs (the caller's kinds). */
static const struct snap_kind format_kinds_head[] = {
	{ SNAP_SEC_CONFIG, 1, true, "configuration" },
	{ SNAP_SEC_GIC, 1, true, "GIC" },
};
static const struct snap_kind format_kind_vcpu = { SNAP_SEC_VCPU, 0, true, "vCPU" };

/*
 * Which (tag, instance) have been seen: one flag per possible section, kind by
 * kind in the order CONF, GIC, the devices' kinds, VCPU (the order of the
 * "no section" messages).
 */
struct seen {
	uint32_t nr_vcpus;
	const struct snap_kind *kinds[SNAP_MAX_KINDS];
	size_t base[SNAP_MAX_KINDS];	/* index of each kind's first flag */
	unsigned int nr_kinds;
	bool *flag;
};

static uint32_t kind_limit(const struct snap_kind *k, uint32_t nr_vcpus)
{
	return k->max_instances ? k->max_instances : nr_vcpus;
}

static int seen_init(struct seen *s, uint32_t nr_vcpus, const struct snap_kind *dev, unsigned int nr_dev)
{
	size_t total = 0;

	memset(s, 0, sizeof(*s));
	s->nr_vcpus = nr_vcpus;
	if (nr_dev > SNAP_MAX_KINDS - 3) {
		pr_err("internal error: %u kinds of snapshot section (at most %u)", nr_dev, SNAP_MAX_KINDS - 3);
		return -EINVAL;
	}
	for (unsigned int k = 0; k < 2; k++)
		s->kinds[s->nr_kinds++] = &format_kinds_head[k];
	for (unsigned int k = 0; k < nr_dev; k++)
		s->kinds[s->nr_kinds++] = &dev[k];
	s->kinds[s->nr_kinds++] = &format_kind_vcpu;
	for (unsigned int k = 0; k < s->nr_kinds; k++) {
		s->base[k] = total;
		total += kind_limit(s->kinds[k], nr_vcpus);
	}
	s->flag = calloc(total ? total : 1, sizeof(*s->flag));
	if (!s->flag) {
		pr_err("out of memory checking a snapshot");
		return -ENOMEM;
	}
	return 0;
}

/* Unknown tags are refused: ignoring one would silently lose device state. */
static int claim(const char *pfx, struct seen *s, uint32_t tag, uint32_t instance)
{
	char name[32];
	unsigned int k;

	for (k = 0; k < s->nr_kinds && s->kinds[k]->tag != tag; k++)
		;
	if (k == s->nr_kinds)
		return bad(pfx, "snapshot section %s has an unknown tag", snapfile_sec_name(name, tag, instance));
	uint32_t limit = kind_limit(s->kinds[k], s->nr_vcpus);
	if (instance >= limit && limit == 1)
		return bad(pfx, "snapshot section %s: the instance must be 0", snapfile_sec_name(name, tag, instance));
	if (instance >= limit)
		return bad(pfx, "snapshot section %s: the instance must be below %" PRIu32,
			   snapfile_sec_name(name, tag, instance), limit);
	bool *f = &s->flag[s->base[k] + instance];
	if (*f)
		return bad(pfx, "snapshot section %s appears twice", snapfile_sec_name(name, tag, instance));
	*f = true;
	return 0;
}

static int check_required(const char *pfx, struct seen *s)
{
	char name[32];

	for (unsigned int k = 0; k < s->nr_kinds; k++) {
		uint32_t limit = kind_limit(s->kinds[k], s->nr_vcpus);
		for (uint32_t i = 0; s->kinds[k]->required && i < limit; i++) {
			if (!s->flag[s->base[k] + i])
				return bad(pfx, "snapshot has no section %s",
					   snapfile_sec_name(name, s->kinds[k]->tag, i));
		}
	}
	return 0;
}

/* One section at *off: framing, padding, CRC, then whether it may be there at all. */
static int parse_section(const char *pfx, const uint8_t *buf, size_t len, size_t *off, uint32_t i,
			 uint32_t nr, struct seen *s, struct snap_section *out)
{
	char name[32];
	const uint8_t *sh = buf + *off;

	if (len - *off < SNAP_SECTION_HEADER_SIZE)
		return bad(pfx, "snapshot state file is truncated (section %" PRIu32 " of %" PRIu32
			   " does not fit)", i + 1, nr);
	out->tag = le32_get(sh + SNAP_SH_TAG);
	out->instance = le32_get(sh + SNAP_SH_INSTANCE);
	out->length = le64_get(sh + SNAP_SH_LENGTH);
	out->offset = *off + SNAP_SECTION_HEADER_SIZE;
	snapfile_sec_name(name, out->tag, out->instance);
	if (le32_get(sh + SNAP_SH_RESERVED) != 0)
		return bad(pfx, "snapshot section %s has a nonzero reserved field", name);

	size_t room = len - out->offset;
	if (out->length > room)
		return bad(pfx, "snapshot section %s (%" PRIu64 " bytes) runs past the end of the state file",
			   name, out->length);
	size_t padded = pad8((size_t)out->length);
	if (padded > room)
		return bad(pfx, "snapshot section %s: its padding runs past the end of the state file", name);
	for (size_t j = out->length; j < padded; j++) {
		if (buf[out->offset + j])
			return bad(pfx, "snapshot section %s has nonzero padding", name);
	}
	if (le32_get(sh + SNAP_SH_CRC) != snap_crc32(buf + out->offset, (size_t)out->length))
		return bad(pfx, "snapshot section %s fails its checksum", name);
	int err = claim(pfx, s, out->tag, out->instance);
	if (err)
		return err;
	*off = out->offset + padded;
	return 0;
}

static int parse_sections(const char *pfx, const uint8_t *buf, size_t len, uint32_t nr, uint32_t nr_vcpus,
			  const struct snap_kind *kinds, unsigned int nr_kinds, struct snap_section *secs)
{
	struct seen s;
	size_t off = SNAP_HEADER_SIZE;
	int err = seen_init(&s, nr_vcpus, kinds, nr_kinds);

	for (uint32_t i = 0; i < nr && !err; i++)
		err = parse_section(pfx, buf, len, &off, i, nr, &s, &secs[i]);
	if (!err && off != len)
		err = bad(pfx, "snapshot state file has %zu bytes after its last section", len - off);
	if (!err)
		err = check_required(pfx, &s);
	free(s.flag);
	return err;
}

static void reader_reset(struct snap_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->mem_fd = -1;
}

/* Validate buf (which r then owns, or which is freed). */
static int parse_owned(struct snap_reader *r, uint8_t *buf, size_t len, const struct snap_kind *kinds,
		       unsigned int nr_kinds, const char *pfx)
{
	uint32_t nr = 0;
	int err;

	reader_reset(r);
	if (len > SNAP_MAX_STATE_SIZE)
		err = bad(pfx, "snapshot state file is too large (%zu bytes, at most %u)", len,
			  SNAP_MAX_STATE_SIZE);
	else
		err = parse_header(pfx, buf, len, &r->h, &nr);
	struct snap_section *secs = NULL;
	if (!err) {
		secs = calloc(nr ? nr : 1, sizeof(*secs));
		err = secs ? parse_sections(pfx, buf, len, nr, r->h.nr_vcpus, kinds, nr_kinds, secs) : -ENOMEM;
		if (!secs)
			pr_err("out of memory reading a snapshot");
	}
	if (err) {
		free(secs);
		free(buf);
		reader_reset(r);
		return err;
	}
	r->state = buf;
	r->state_len = len;
	r->sections = secs;
	r->nr_sections = nr;
	return 0;
}

int snapfile_parse_copy(struct snap_reader *r, const uint8_t *buf, size_t len, const struct snap_kind *kinds,
			unsigned int nr_kinds, const char *pfx)
{
	uint8_t *copy = NULL;

	reader_reset(r);
	if (len <= SNAP_MAX_STATE_SIZE) {
		copy = malloc(len ? len : 1);
		if (!copy) {
			pr_err("out of memory reading a snapshot");
			return -ENOMEM;
		}
		if (len)
			memcpy(copy, buf, len);
	}
	return parse_owned(r, copy, len, kinds, nr_kinds, pfx);
}

int snap_reader_parse(struct snap_reader *r, const uint8_t *buf, size_t len, const struct snap_kind *kinds,
		      unsigned int nr_kinds)
{
	return snapfile_parse_copy(r, buf, len, kinds, nr_kinds, NULL);
}

int snap_reader_find(const struct snap_reader *r, uint32_t tag, uint32_t instance, struct snap_cursor *c)
{
	for (unsigned int i = 0; i < r->nr_sections; i++) {
		const struct snap_section *s = &r->sections[i];
		if (s->tag == tag && s->instance == instance) {
			*c = (struct snap_cursor){ .p = r->state + s->offset, .len = (size_t)s->length };
			return 0;
		}
	}
	return -ENOENT;
}

void snap_reader_close(struct snap_reader *r)
{
	/* A zeroed or failed reader has no state; its mem_fd (0 when zeroed) is not ours. */
	if (r->state)
		close_fd(&r->mem_fd);
	free(r->state);
	free(r->sections);
	reader_reset(r);
}

/* --- reading from disk --------------------------------------------------------------- */

char *snapfile_strfmt(const char *fmt, ...)
{
	char *s;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* O_NONBLOCK: opening a FIFO must not hang before fstat() can refuse it. */
static int open_regular(const char *path, const char *what, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		int err = -errno;
		pr_err("cannot open snapshot %s file '%s': %s", what, path, strerror(-err));
		return err;
	}
	if (fstat(fd, st) < 0) {
		int err = -errno;
		pr_err("cannot stat snapshot %s file '%s': %s", what, path, strerror(-err));
		close(fd);
		return err;
	}
	if (!S_ISREG(st->st_mode)) {
		pr_err("snapshot %s file '%s' is not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int read_state(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	int fd = open_regular(path, "state", &st);

	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > SNAP_MAX_STATE_SIZE) {
		pr_err("snapshot state file '%s' is too large (%jd bytes, at most %u)", path,
		       (intmax_t)st.st_size, SNAP_MAX_STATE_SIZE);
		close(fd);
		return -EFBIG;
	}
	size_t cap = (size_t)st.st_size, got = 0;
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf) {
		pr_err("out of memory reading snapshot state file '%s'", path);
		close(fd);
		return -ENOMEM;
	}
	while (got < cap) {
		ssize_t k = read(fd, buf + got, cap - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int err = -errno;
			pr_err("cannot read snapshot state file '%s': %s", path, strerror(-err));
			free(buf);
			close(fd);
			return err;
		}
		if (k == 0)
			break;	/* shrank since fstat: the length check will say so */
		got += (size_t)k;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

static int open_memory(const char *path, uint64_t mem_size)
{
	struct stat st;
	int fd = open_regular(path, "memory", &st);

	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size != mem_size) {
		pr_err("snapshot memory file '%s' is %jd bytes, the state file says %" PRIu64, path,
		       (intmax_t)st.st_size, mem_size);
		close(fd);
		return -EINVAL;
	}
	return fd;	/* O_NONBLOCK means nothing for a regular file */
}

int snap_reader_open(struct snap_reader *r, const char *dir, const struct snap_kind *kinds, unsigned int nr_kinds)
{
	char *state_path = snapfile_strfmt("%s/%s", dir, SNAP_STATE_FILE);
	char *mem_path = snapfile_strfmt("%s/%s", dir, SNAP_MEMORY_FILE);
	char *pfx = snapfile_strfmt("%s/%s: ", dir, SNAP_STATE_FILE);
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	reader_reset(r);
	if (!state_path || !mem_path || !pfx) {
		pr_err("out of memory opening snapshot '%s'", dir);
		err = -ENOMEM;
		goto out;
	}
	err = read_state(state_path, &buf, &len);
	if (!err)
		err = parse_owned(r, buf, len, kinds, nr_kinds, pfx);
	if (!err) {
		int fd = open_memory(mem_path, r->h.mem_size);
		if (fd < 0) {
			err = fd;
			snap_reader_close(r);
		} else {
			r->mem_fd = fd;
		}
	}
out:
	free(state_path);
	free(mem_path);
	free(pfx);
	return err;
}
