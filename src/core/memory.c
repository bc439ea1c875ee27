#include "core/memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"

/* fd < 0: anonymous RAM; else a private (copy-on-write) mapping of that file. */
static int guest_mem_map(struct guest_mem *mem, uint64_t gpa, uint64_t size, int fd)
{
	/* NORESERVE: untouched guest pages cost nothing, as on every other VMM. */
	int flags = MAP_PRIVATE | MAP_NORESERVE | (fd < 0 ? MAP_ANONYMOUS : 0);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);

	if (p == MAP_FAILED) {
		int err = errno;
		pr_err(fd < 0 ? "cannot allocate %llu MiB of guest RAM: %s (lower --mem)"
			      : "cannot map the snapshot's %llu MiB of guest RAM: %s",
		       (unsigned long long)(size >> 20), strerror(err));
		return -err;
	}
	/* The guest's memory is the guest's: never in armvmm's core dumps (best effort). */
	if (madvise(p, size, MADV_DONTDUMP) < 0)
		pr_debug("MADV_DONTDUMP on guest RAM failed: %s", strerror(errno));
	mem->host = p;
	mem->gpa = gpa;
	mem->size = size;
	return 0;
}

int guest_mem_alloc(struct guest_mem *mem, uint64_t gpa, uint64_t size)
{
	return guest_mem_map(mem, gpa, size, -1);
}

int guest_mem_map_file(struct guest_mem *mem, uint64_t gpa, uint64_t size, int fd)
{
	return guest_mem_map(mem, gpa, size, fd);
}

void guest_mem_free(struct guest_mem *mem)
{
	if (mem->host)
		munmap(mem->host, mem->size);
	mem->host = NULL;
}

void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	if (gpa < mem->gpa)
		return NULL;
	uint64_t off = gpa - mem->gpa;
	if (off > mem->size || len > mem->size - off)
		return NULL;
	return mem->host + off;
}

int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = guest_mem_ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}
