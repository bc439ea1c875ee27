#include "core/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/files.h"
#include "core/log.h"

/* fd < 0: anonymous RAM; else a private (copy-on-write) mapping of that file. */
static int guest_mem_map(struct guest_mem *mem, uint64_t gpa, uint64_t size, int fd)
{
	/* NORESERVE: untouched guest pages cost nothing, as on every other VMM. */
	int flags = MAP_PRIVATE | MAP_NORESERVE | (fd < 0 ? MAP_ANONYMOUS : 0);
	void *p;

	memset(mem, 0, sizeof(*mem));
	mem->file_fd = -1;
	mem->pagemap_fd = -1;
	atomic_init(&mem->tracking, false);
	mem->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
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
	if (fd >= 0) {
		mem->file_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (mem->file_fd < 0) {
			int err = errno;
			pr_err("cannot keep the snapshot's memory file open: %s", strerror(err));
			munmap(p, size);
			return -err;
		}
	}
	/* Best effort: without it a save looks at every page (guest_mem_touched). */
	mem->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
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
	if (!mem->page_size)
		return; /* never mapped: a zeroed struct, whose file_fd 0 is not ours */
	if (mem->host)
		munmap(mem->host, mem->size);
	mem->host = NULL;
	close_fd(&mem->file_fd);
	close_fd(&mem->pagemap_fd);
	atomic_store(&mem->tracking, false);
	free((void *)mem->written);
	mem->written = NULL;
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
	guest_mem_mark(mem, dst, len);
	return 0;
}

uint64_t guest_mem_pages(const struct guest_mem *mem)
{
	return mem->page_size ? mem->size / mem->page_size : 0;
}

size_t guest_mem_bitmap_bytes(const struct guest_mem *mem)
{
	return (size_t)((guest_mem_pages(mem) + 63) / 64 * 8);
}

static void set_bits(uint64_t *bitmap, uint64_t first, uint64_t count)
{
	for (uint64_t p = first; p < first + count; p++)
		bitmap[p / 64] |= 1ull << (p % 64);
}

/* /proc/self/pagemap: one u64 per virtual page; bit 63 present, bit 62 swapped (Documentation/admin-guide/mm/pagemap.rst). */
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_CHUNK 8192u	/* entries per read: 64 KiB */

static int touched_from_pagemap(const struct guest_mem *mem, uint64_t *bitmap)
{
	uint64_t pages = guest_mem_pages(mem), first = (uint64_t)(uintptr_t)mem->host / mem->page_size;
	uint64_t *buf = malloc(PAGEMAP_CHUNK * sizeof(uint64_t));
	int fd = mem->pagemap_fd, err = 0;

	if (fd < 0 || !buf) {
		err = fd < 0 ? -ENOENT : -ENOMEM;
		goto out;
	}
	for (uint64_t p = 0; p < pages;) {
		uint64_t n = pages - p < PAGEMAP_CHUNK ? pages - p : PAGEMAP_CHUNK;
		ssize_t got = pread(fd, buf, n * sizeof(uint64_t), (off_t)((first + p) * sizeof(uint64_t)));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || got % (ssize_t)sizeof(uint64_t)) {
			err = got < 0 ? -errno : -EIO;
			goto out;
		}
		n = (uint64_t)got / sizeof(uint64_t);
		for (uint64_t i = 0; i < n; i++)
			if (buf[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED))
				bitmap[(p + i) / 64] |= 1ull << ((p + i) % 64);
		p += n;
	}
out:
	free(buf);
	return err;
}

/* The memory file's data extents: what the guest has not touched yet still reads from there. */
static int touched_from_file(const struct guest_mem *mem, uint64_t *bitmap)
{
	uint64_t ps = mem->page_size;
	off_t off = 0, end = (off_t)mem->size;

	while (off < end) {
		off_t data = lseek(mem->file_fd, off, SEEK_DATA), hole;
		if (data < 0)
			return errno == ENXIO ? 0 : -errno; /* ENXIO: no data after off */
		if (data >= end)
			break;
		hole = lseek(mem->file_fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if (hole > end)
			hole = end;
		uint64_t first = (uint64_t)data / ps, last = ((uint64_t)hole + ps - 1) / ps;
		set_bits(bitmap, first, last - first);
		off = hole;
	}
	return 0;
}

int guest_mem_touched(const struct guest_mem *mem, uint64_t *bitmap)
{
	size_t bytes = guest_mem_bitmap_bytes(mem);
	int err;

	memset(bitmap, 0, bytes);
	err = touched_from_pagemap(mem, bitmap);
	if (!err && mem->file_fd >= 0)
		err = touched_from_file(mem, bitmap);
	if (err) {
		/* Not an error for the caller: every page is looked at instead. */
		pr_debug("cannot tell which guest pages were touched (%s): looking at all of them", strerror(-err));
		memset(bitmap, 0, bytes);
		set_bits(bitmap, 0, guest_mem_pages(mem));
	}
	return 0;
}

int guest_mem_track(struct guest_mem *mem, bool on)
{
	if (on && !mem->written) {
		mem->written = calloc(guest_mem_bitmap_bytes(mem) / 8 + 1, sizeof(uint64_t));
		if (!mem->written) {
			pr_err("out of memory tracking writes to guest RAM");
			return -ENOMEM;
		}
	}
	if (on) {
		for (size_t i = 0; i < guest_mem_bitmap_bytes(mem) / 8; i++)
			atomic_store(&mem->written[i], 0);
	}
	atomic_store(&mem->tracking, on);
	return 0;
}

void guest_mem_mark(const struct guest_mem *mem, const void *host, uint64_t len)
{
	const uint8_t *p = host;

	if (!atomic_load_explicit(&mem->tracking, memory_order_acquire) || len == 0)
		return;
	if (p < mem->host || (uint64_t)(p - mem->host) >= mem->size || len > mem->size - (uint64_t)(p - mem->host))
		return;
	/* Release: the write marked here is visible to whoever collects the mark. */
	uint64_t first = (uint64_t)(p - mem->host) / mem->page_size;
	uint64_t last = ((uint64_t)(p - mem->host) + len - 1) / mem->page_size;
	for (uint64_t pg = first; pg <= last; pg++)
		atomic_fetch_or_explicit(&mem->written[pg / 64], 1ull << (pg % 64), memory_order_release);
}

void guest_mem_collect(struct guest_mem *mem, uint64_t *bitmap)
{
	if (!mem->written)
		return;
	for (size_t i = 0; i < guest_mem_bitmap_bytes(mem) / 8; i++)
		bitmap[i] |= atomic_exchange_explicit(&mem->written[i], 0, memory_order_acquire);
}
