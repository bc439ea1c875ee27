/* Kernel image parsing, gzip, and the placement of kernel, initrd and DTB. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "board/loader.h"
#include "board/layout.h"
#include "core/memory.h"

#define MiB (1ull << 20)

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A fake arm64 Image: EFI "MZ" start, text_offset, image_size and the magic. */
static uint8_t *make_image(size_t len, uint64_t text_offset, uint64_t image_size)
{
	uint8_t *b = calloc(1, len);
	b[0] = 'M';
	b[1] = 'Z';
	put_le64(b + 8, text_offset);
	put_le64(b + 16, image_size);
	memcpy(b + 56, "ARM\x64", 4);
	return b;
}

static void test_parse_image_header(void **state)
{
	(void)state;
	struct kernel_image img;
	uint8_t *b = make_image(4096, 0, 3 * MiB);

	assert_int_equal(kernel_image_parse(b, 4096, &img), 0);
	assert_true(img.has_header);
	assert_int_equal(img.text_offset, 0);
	assert_int_equal(img.image_size, 3 * MiB);
	free(b);
}

static void test_parse_old_image_without_size(void **state)
{
	(void)state;
	struct kernel_image img;
	uint8_t *b = make_image(8192, 0x1234000, 0);

	/* image_size 0: pre-3.17 kernel, text_offset is 0x80000 whatever the field says. */
	assert_int_equal(kernel_image_parse(b, 8192, &img), 0);
	assert_int_equal(img.text_offset, 0x80000);
	assert_int_equal(img.image_size, 8192);
	free(b);
}

static void test_parse_rejects_bad_headers(void **state)
{
	(void)state;
	struct kernel_image img;
	uint8_t *b = make_image(4096, 0x80001, 3 * MiB);

	assert_int_equal(kernel_image_parse(b, 4096, &img), -EINVAL); /* unaligned text_offset */
	put_le64(b + 8, 4 * MiB);
	assert_int_equal(kernel_image_parse(b, 4096, &img), -EINVAL); /* text_offset beyond 2 MiB */
	put_le64(b + 8, 0);
	put_le64(b + 16, 100);
	assert_int_equal(kernel_image_parse(b, 4096, &img), -EINVAL); /* image_size < file */
	/* A cut-short Image (only the first 40 bytes) must not be taken for a flat binary. */
	assert_int_equal(kernel_image_parse(b, 40, &img), -EINVAL);
	/* An EFI file without the arm64 magic (an x86 bzImage, say) is refused too. */
	memset(b + 56, 0, 4);
	assert_int_equal(kernel_image_parse(b, 4096, &img), -EINVAL);
	assert_int_equal(kernel_image_parse(b, 0, &img), -EINVAL);
	free(b);
}

static void test_parse_flat_binary(void **state)
{
	(void)state;
	struct kernel_image img;
	const uint8_t code[12] = { 0x00, 0x01, 0x80, 0x52 }; /* anything not "MZ" */

	assert_int_equal(kernel_image_parse(code, sizeof(code), &img), 0);
	assert_false(img.has_header);
	assert_int_equal(img.text_offset, FLAT_BINARY_OFFSET);
	assert_int_equal(img.image_size, sizeof(code));
}

static void test_gunzip(void **state)
{
	(void)state;
	size_t n = 1 << 20;
	uint8_t *plain = malloc(n), *gz = malloc(n + 4096), *out;
	size_t out_len;
	z_stream zs = { 0 };

	for (size_t i = 0; i < n; i++)
		plain[i] = (uint8_t)(i * 7 + (i >> 12));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = plain;
	zs.avail_in = (uInt)n;
	zs.next_out = gz;
	zs.avail_out = (uInt)(n + 4096);
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t gz_len = zs.total_out;
	deflateEnd(&zs);

	assert_true(is_gzip(gz, gz_len));
	assert_int_equal(gunzip_alloc(gz, gz_len, 2 * n, "test", &out, &out_len), 0);
	assert_int_equal(out_len, n);
	assert_memory_equal(out, plain, n);
	free(out);
	/* Larger than the limit (guest RAM) and truncated streams are errors. */
	assert_int_equal(gunzip_alloc(gz, gz_len, n / 2, "test", &out, &out_len), -EINVAL);
	assert_int_equal(gunzip_alloc(gz, gz_len / 2, 2 * n, "test", &out, &out_len), -EINVAL);
	gz[gz_len / 2] ^= 0xff;
	assert_int_equal(gunzip_alloc(gz, gz_len, 2 * n, "test", &out, &out_len), -EINVAL);
	free(plain);
	free(gz);
}

static void test_load_gzip_image_from_file(void **state)
{
	(void)state;
	char path[] = "/tmp/armvmm-test-XXXXXX";
	int fd = mkstemp(path);
	uint8_t *img_buf = make_image(64 * 1024, 0, 1 * MiB);
	struct kernel_image img;

	assert_true(fd >= 0);
	gzFile gzf = gzdopen(fd, "wb");
	assert_int_equal(gzwrite(gzf, img_buf, 64 * 1024), 64 * 1024);
	gzclose(gzf);
	assert_int_equal(kernel_image_load(path, 256 * MiB, &img), 0);
	assert_true(img.has_header);
	assert_int_equal(img.size, 64 * 1024);
	assert_memory_equal(img.data, img_buf, 64 * 1024);
	kernel_image_free(&img);
	/* Missing and empty files. */
	assert_int_equal(kernel_image_load("/nonexistent/armvmm", 256 * MiB, &img), -ENOENT);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(kernel_image_load(path, 256 * MiB, &img), -EINVAL);
	unlink(path);
	free(img_buf);
}

/*
 * The kernel size cap holds whatever --mem says: a file past KERNEL_MAX_SIZE
 * is refused before it is read. (A gzip stream inflates into at most the same
 * cap: gunzip_alloc's limit, tested above with small limits; inflating 512 MiB
 * here would take the test half a minute under qemu-user.)
 */
static void test_kernel_size_cap(void **state)
{
	(void)state;
	char path[] = "/tmp/armvmm-test-XXXXXX";
	int fd = mkstemp(path);
	struct kernel_image img;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)KERNEL_MAX_SIZE + 4096), 0);
	assert_int_equal(kernel_image_load(path, 64ull << 30, &img), -EFBIG);
	close(fd);
	unlink(path);
}

static void test_layout_image_with_initrd(void **state)
{
	(void)state;
	struct kernel_image img = { .has_header = true, .text_offset = 0, .image_size = 30 * MiB };
	struct boot_layout l;

	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 256 * MiB, &img, 5 * MiB + 123, &l), 0);
	assert_int_equal(l.kernel_addr, BOARD_RAM_BASE);
	assert_int_equal(l.kernel_end, BOARD_RAM_BASE + 30 * MiB);
	/* DTB: the last 2 MiB block of RAM, 2 MiB aligned (hence 8-byte aligned). */
	assert_int_equal(l.dtb_addr, BOARD_RAM_BASE + 254 * MiB);
	assert_int_equal(l.dtb_addr % SZ_2M, 0);
	/* initrd: page aligned, right below the DTB block, not overlapping the kernel. */
	assert_int_equal(l.initrd_addr % 4096, 0);
	assert_true(l.initrd_addr + l.initrd_size <= l.dtb_addr);
	assert_true(l.dtb_addr - (l.initrd_addr + l.initrd_size) < 4096);
	assert_true(l.initrd_addr >= l.kernel_end);
	assert_int_equal(l.initrd_size, 5 * MiB + 123);
}

static void test_layout_flat_binary(void **state)
{
	(void)state;
	struct kernel_image img = { .has_header = false, .text_offset = FLAT_BINARY_OFFSET, .image_size = 100 };
	struct boot_layout l;

	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 64 * MiB, &img, 0, &l), 0);
	assert_int_equal(l.kernel_addr, BOARD_RAM_BASE + 0x80000);
	assert_int_equal(l.initrd_size, 0);
	assert_int_equal(l.dtb_addr, BOARD_RAM_BASE + 62 * MiB);
}

static void test_layout_rejects_what_does_not_fit(void **state)
{
	(void)state;
	struct kernel_image img = { .has_header = true, .text_offset = 0, .image_size = 30 * MiB };
	struct boot_layout l;

	/* Kernel larger than RAM; kernel reaching into the DTB block; an exact fit. */
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 16 * MiB, &img, 0, &l), -E2BIG);
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 31 * MiB, &img, 0, &l), -E2BIG);
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 32 * MiB, &img, 0, &l), 0);
	assert_int_equal(l.kernel_end, l.dtb_addr);
	/* The initrd must fit between the kernel's image_size and the DTB block. */
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 32 * MiB, &img, 4096, &l), -E2BIG);
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 34 * MiB, &img, 2 * MiB, &l), 0);
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 34 * MiB, &img, 2 * MiB + 1, &l), -E2BIG);
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 64 * MiB, &img, 32 * MiB, &l), 0);
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 64 * MiB, &img, 32 * MiB + 1, &l), -E2BIG);
	/* An odd RAM size: the DTB still gets a whole, aligned 2 MiB block inside RAM. */
	assert_int_equal(boot_layout_plan(BOARD_RAM_BASE, 65 * MiB, &img, 0, &l), 0);
	assert_int_equal(l.dtb_addr, BOARD_RAM_BASE + 62 * MiB);
}

static void test_guest_mem_bounds(void **state)
{
	(void)state;
	struct guest_mem m;

	assert_int_equal(guest_mem_alloc(&m, BOARD_RAM_BASE, 4 * MiB), 0);
	assert_non_null(guest_mem_ptr(&m, BOARD_RAM_BASE, 4 * MiB));
	assert_non_null(guest_mem_ptr(&m, BOARD_RAM_BASE + 4 * MiB - 1, 1));
	assert_null(guest_mem_ptr(&m, BOARD_RAM_BASE + 4 * MiB - 1, 2));
	assert_null(guest_mem_ptr(&m, BOARD_RAM_BASE - 1, 1));
	assert_null(guest_mem_ptr(&m, UINT64_MAX, 2));
	assert_null(guest_mem_ptr(&m, BOARD_RAM_BASE + 8, UINT64_MAX));
	assert_int_equal(guest_mem_write(&m, BOARD_RAM_BASE + 4 * MiB - 2, "abc", 3), -EFAULT);
	guest_mem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_image_header),
		cmocka_unit_test(test_parse_old_image_without_size),
		cmocka_unit_test(test_parse_rejects_bad_headers),
		cmocka_unit_test(test_parse_flat_binary),
		cmocka_unit_test(test_gunzip),
		cmocka_unit_test(test_load_gzip_image_from_file),
		cmocka_unit_test(test_kernel_size_cap),
		cmocka_unit_test(test_layout_image_with_initrd),
		cmocka_unit_test(test_layout_flat_binary),
		cmocka_unit_test(test_layout_rejects_what_does_not_fit),
		cmocka_unit_test(test_guest_mem_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
