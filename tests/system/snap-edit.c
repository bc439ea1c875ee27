/*
 * snap-edit: change one header field of a snapshot's state file and fix the
 * header checksum, so the system tests can build snapshots a host must refuse
 * (an irqchip it lacks, too many vCPUs) without a second kind of host.
 *   snap-edit STATE irqchip|vcpus VALUE
 *   snap-edit STATE sections        (list: tag instance offset length)
 *   snap-edit STATE add TAG INSTANCE (append an empty section, e.g. state
 *                                    for a device the snapshot never had)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Print each section's tag, instance, payload offset and length (no checks: a debugging aid). */
static int list_sections(const char *path)
{
	uint8_t h[64], sh[24];
	uint64_t off = 64;
	FILE *f = fopen(path, "rb");

	if (!f || fread(h, 1, sizeof(h), f) != sizeof(h)) {
		perror(path);
		return 1;
	}
	for (uint32_t i = 0, n = (uint32_t)le(h + 28, 4); i < n; i++) {
		if (fseek(f, (long)off, SEEK_SET) || fread(sh, 1, sizeof(sh), f) != sizeof(sh))
			break;
		uint64_t len = le(sh + 8, 8);
		printf("%.4s %u %llu %llu\n", (const char *)sh, (unsigned)le(sh + 4, 4), (unsigned long long)(off + 24),
		       (unsigned long long)len);
		off += 24 + ((len + 7) & ~7ull);
	}
	fclose(f);
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Append a section with an empty payload (CRC-32 of nothing is 0); count it and resize the file in the header. */
static int add_section(const char *path, const char *tag, uint32_t instance)
{
	uint8_t h[64], sh[24] = { 0 };
	int fd = open(path, O_RDWR);

	if (fd < 0 || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		perror(path);
		return 1;
	}
	uint64_t size = le(h + 48, 8);
	memset(sh, ' ', 4);
	memcpy(sh, tag, strnlen(tag, 4));
	put_le(sh + 4, instance, 4);
	put_le(h + 28, le(h + 28, 4) + 1, 4);
	put_le(h + 48, size + sizeof(sh), 8);
	put_le(h + 60, (uint32_t)crc32(0, h, 60), 4);
	if (pwrite(fd, sh, sizeof(sh), (off_t)size) != (ssize_t)sizeof(sh) ||
	    pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || close(fd) < 0) {
		perror(path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t h[64];
	unsigned int off;
	uint32_t v, crc;
	int fd;

	if (argc == 3 && strcmp(argv[2], "sections") == 0)
		return list_sections(argv[1]);
	if (argc == 5 && strcmp(argv[2], "add") == 0)
		return add_section(argv[1], argv[3], (uint32_t)strtoul(argv[4], NULL, 0));
	if (argc != 4 || (strcmp(argv[2], "irqchip") && strcmp(argv[2], "vcpus"))) {
		fprintf(stderr, "usage: snap-edit STATE irqchip|vcpus VALUE | sections | add TAG INSTANCE\n");
		return 2;
	}
	off = strcmp(argv[2], "irqchip") == 0 ? 24 : 20; /* man/armvmm-snapshot.5: header layout */
	v = (uint32_t)strtoul(argv[3], NULL, 0);
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		perror(argv[1]);
		return 1;
	}
	for (int i = 0; i < 4; i++)
		h[off + i] = (uint8_t)(v >> (8 * i));
	crc = (uint32_t)crc32(0, h, 60);
	for (int i = 0; i < 4; i++)
		h[60 + i] = (uint8_t)(crc >> (8 * i));
	if (pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || close(fd) < 0) {
		perror(argv[1]);
		return 1;
	}
	return 0;
}
