/*
 * Guest RAM: one mapping at a fixed guest-physical base, anonymous at boot
 * or a snapshot's memory file mapped copy-on-write at restore.
 *
 * Two questions about it are answered here, for snapshots and migration:
 * which pages may hold anything but zeros (guest_mem_touched: the kernel's
 * page tables and the memory file's extents say, without reading RAM), and
 * which pages armvmm itself wrote since the last look (guest_mem_mark /
 * guest_mem_collect: KVM's dirty log sees only the guest's own writes, not
 * a device's writes into guest buffers).
 */
#ifndef ARMVMM_MEMORY_H
#define ARMVMM_MEMORY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem {
	uint8_t *host;	/* start of the host mapping */
	uint64_t gpa;	/* guest-physical base */
	uint64_t size;
	uint64_t page_size;	/* the host's: the unit of every bitmap below */
	int file_fd;	/* the memory file mapped copy-on-write, or -1 (anonymous RAM) */
	int pagemap_fd;	/* /proc/self/pagemap, opened with the RAM (a sandboxed thread opens nothing), or -1 */
	/*
	 * Pages armvmm wrote into guest RAM while tracking is on, one bit per
	 * page. Allocated on the first guest_mem_track(true) and kept until
	 * guest_mem_free, so a thread that saw tracking on never writes into
	 * freed memory.
	 */
	_Atomic uint64_t *written;
	atomic_bool tracking;
};

int guest_mem_alloc(struct guest_mem *mem, uint64_t gpa, uint64_t size);
/*
 * Guest RAM from a snapshot's memory file: a private (copy-on-write) mapping,
 * so restoring costs the same whatever the RAM size; pages are read from the
 * file when the guest first touches them, and its writes never reach the file.
 * The mapping keeps its own descriptor of the file (for guest_mem_touched).
 */
int guest_mem_map_file(struct guest_mem *mem, uint64_t gpa, uint64_t size, int fd);
void guest_mem_free(struct guest_mem *mem);
/*
 * Host pointer for [gpa, gpa + len) or NULL if any byte of it is outside RAM.
 * Every guest-supplied address goes through here (overflow-safe).
 */
void *guest_mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);
int guest_mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);

/* Pages of RAM, and the bytes of a bitmap with one bit per page (whole u64 words). */
uint64_t guest_mem_pages(const struct guest_mem *mem);
size_t guest_mem_bitmap_bytes(const struct guest_mem *mem);

/*
 * Set the bit of every page that may hold something other than zeros: a
 * page the process's page tables have (present or swapped out, from
 * /proc/self/pagemap) or, for a mapped memory file, a page inside one of the
 * file's data extents (SEEK_DATA). Pages the guest never touched are left
 * out without being read, so the cost follows touched memory, not RAM size.
 * bitmap holds guest_mem_bitmap_bytes() bytes and is overwritten. When the
 * kernel cannot say (no /proc), every bit is set: callers then check each
 * page's contents, as they do anyway. 0, or -errno after one error line.
 */
int guest_mem_touched(const struct guest_mem *mem, uint64_t *bitmap);

/*
 * armvmm's own writes into guest RAM (devices filling guest buffers):
 * guest_mem_track(true) starts recording them, guest_mem_mark records
 * [host, host + len) (any thread; nothing when tracking is off or the range
 * is not in RAM), guest_mem_collect ORs what was recorded into bitmap and
 * clears it. A writer marks after its write, so a page copied before the
 * mark is collected again. -ENOMEM after one error line.
 */
int guest_mem_track(struct guest_mem *mem, bool on);
void guest_mem_mark(const struct guest_mem *mem, const void *host, uint64_t len);
void guest_mem_collect(struct guest_mem *mem, uint64_t *bitmap);

#endif
