/*
 * Kernel, initrd and DTB placement following the arm64 boot protocol
 * (Documentation/arch/arm64/booting.rst). The functions here do not touch
 * KVM, so the unit tests exercise them directly.
 */
#ifndef ARMVMM_LOADER_H
#define ARMVMM_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARM64_IMAGE_MAGIC 0x644d5241u /* "ARM\x64" at offset 56 */
#define ARM64_IMAGE_HEADER_SIZE 64u
#define FLAT_BINARY_OFFSET 0x80000u   /* where kvmtool loads a headerless binary */
#define DTB_MAX_SIZE (2u << 20)	      /* booting.rst: the DTB must not exceed 2 MiB */
#define SZ_2M (2ull << 20)
/*
 * The largest kernel armvmm loads, compressed or not, whatever the guest's RAM:
 * a gzip bomb stops here instead of at --mem (which may be 64 GiB). Real arm64
 * Images are tens of MiB; a KASAN debug build stays well below this.
 */
#define KERNEL_MAX_SIZE (512ull << 20)

struct kernel_image {
	uint8_t *data;		/* decompressed file contents */
	size_t size;
	bool has_header;	/* arm64 Image; false: flat binary */
	uint64_t text_offset;	/* load offset from a 2 MiB aligned base */
	uint64_t image_size;	/* memory footprint incl. BSS (file size for flat binaries) */
};

struct boot_layout {
	uint64_t kernel_addr;	/* where the file is copied, also the entry point */
	uint64_t kernel_end;	/* kernel_addr + footprint */
	uint64_t initrd_addr, initrd_size;	/* size 0: no initrd */
	uint64_t dtb_addr;	/* start of the DTB's own 2 MiB block */
};

/* Classify and parse a kernel file already in memory; gzip must be undone first. */
int kernel_image_parse(const uint8_t *buf, size_t len, struct kernel_image *img);
/* True if buf starts with the gzip magic. */
bool is_gzip(const uint8_t *buf, size_t len);
/*
 * Inflate a gzip stream into a new buffer of at most max_out bytes; limit
 * names that bound in the error line ("the guest's RAM").
 */
int gunzip_alloc(const uint8_t *in, size_t len, size_t max_out, const char *limit, uint8_t **out, size_t *out_len);
/* Read a whole file (at most max bytes) into a new buffer; what names it in messages. */
int read_file_alloc(const char *path, const char *what, size_t max, uint8_t **out, size_t *out_len);
/* Read and, if needed, decompress a kernel (at most min(max_size, KERNEL_MAX_SIZE) bytes either way) and parse it. */
int kernel_image_load(const char *path, uint64_t max_size, struct kernel_image *img);
void kernel_image_free(struct kernel_image *img);

/*
 * Place kernel, initrd and DTB in RAM [ram_base, ram_base + ram_size):
 * the DTB gets the last 2 MiB block, the initrd sits page-aligned just below
 * it, the kernel at ram_base + text_offset. Overlaps are errors.
 */
int boot_layout_plan(uint64_t ram_base, uint64_t ram_size, const struct kernel_image *img,
		     uint64_t initrd_size, struct boot_layout *out);

#endif
