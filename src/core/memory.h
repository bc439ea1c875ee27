/* Guest RAM: one anonymous mapping at a fixed guest-physical base. */
#ifndef ARMVMM_MEMORY_H
#define ARMVMM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem {
	uint8_t *host;	/* start of the host mapping */
	uint64_t gpa;	/* guest-physical base */
	uint64_t size;
};

int guest_mem_alloc(struct guest_mem *mem, uint64_t gpa, uint64_t size);
/*
 * Guest RAM from a snapshot's memory file: a private (copy-on-write) mapping,
 * so restoring costs the same whatever the RAM size; pages are read from the
 * file when the guest first touches them, and its writes never reach the file.
 */
int guest_mem_map_file(struct guest_mem *mem, uint64_t gpa, uint64_t size, int fd);
void guest_mem_free(struct guest_mem *mem);
/*
 * Host pointer for [gpa, gpa + len) or NULL if any byte of it is outside RAM.
 * Every guest-supplied address goes through here (overflow-safe).
 */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);

#endif
