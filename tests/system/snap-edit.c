/*
 * snap-edit: change one header field of a snapshot's state file and fix the
 * header checksum, so the system tests can build snapshots a host must refuse
 * (an irqchip it lacks, too many vCPUs) without a second kind of host.
 *   snap-edit STATE irqchip|vcpus VALUE
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int main(int argc, char **argv)
{
	uint8_t h[64];
	unsigned int off;
	uint32_t v, crc;
	int fd;

	if (argc != 4 || (strcmp(argv[2], "irqchip") && strcmp(argv[2], "vcpus"))) {
		fprintf(stderr, "usage: snap-edit STATE irqchip|vcpus VALUE\n");
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
