/*
 * Guest RAM's two answers for snapshots and migration (core/memory.c): which
 * pages may hold anything but zeros (guest_mem_touched), and which pages
 * armvmm itself wrote while tracking is on (guest_mem_mark / collect).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/memory.h"

#define PAGES 256u

static unsigned int count(const uint64_t *bitmap, size_t words)
{
	unsigned int n = 0;

	for (size_t i = 0; i < words; i++)
		n += (unsigned int)__builtin_popcountll(bitmap[i]);
	return n;
}

static bool bit(const uint64_t *bitmap, uint64_t page) { return bitmap[page / 64] >> (page % 64) & 1; }

/*
 * Untouched anonymous RAM is left out. Where the kernel cannot say (no
 * pagemap, as under some emulators) every page is in, never fewer: both
 * answers keep every touched page.
 */
static void test_touched_anonymous(void **state)
{
	struct guest_mem m;
	uint64_t *bm;
	(void)state;

	assert_int_equal(guest_mem_alloc(&m, 0x80000000u, PAGES * (uint64_t)sysconf(_SC_PAGESIZE)), 0);
	assert_int_equal(guest_mem_pages(&m), PAGES);
	assert_int_equal(guest_mem_bitmap_bytes(&m), PAGES / 8);
	bm = malloc(guest_mem_bitmap_bytes(&m));
	m.host[3 * m.page_size] = 1;
	m.host[200 * m.page_size + 17] = 2;
	assert_int_equal(guest_mem_touched(&m, bm), 0);
	assert_true(bit(bm, 3) && bit(bm, 200));
	unsigned int n = count(bm, PAGES / 64);
	assert_true(n == 2 || n == PAGES);
	print_message("touched pages of anonymous RAM: %u of %u (%s)\n", n, PAGES,
		      n == 2 ? "from the page tables" : "the kernel could not say");
	free(bm);
	guest_mem_free(&m);
}

/* A snapshot's memory file: its data extents count as touched, its holes do not. */
static void test_touched_file(void **state)
{
	char path[] = "/tmp/armvmm-mem-XXXXXX";
	struct guest_mem m;
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE), *bm;
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, (off_t)(PAGES * ps)), 0);
	assert_int_equal(pwrite(fd, "data", 4, (off_t)(77 * ps + 5)), 4);
	assert_int_equal(guest_mem_map_file(&m, 0x80000000u, PAGES * ps, fd), 0);
	close(fd); /* the mapping keeps its own descriptor */
	bm = malloc(guest_mem_bitmap_bytes(&m));
	m.host[9 * ps] = 1; /* a copy-on-write page */
	assert_int_equal(guest_mem_touched(&m, bm), 0);
	assert_true(bit(bm, 77) && bit(bm, 9));
	unsigned int n = count(bm, PAGES / 64);
	/* Some file systems keep whole blocks of data around a write. */
	assert_true(n < PAGES / 2 || n == PAGES);
	assert_memory_equal(m.host + 77 * ps + 5, "data", 4);
	free(bm);
	guest_mem_free(&m);
	guest_mem_free(&m); /* twice is harmless */
}

/* armvmm's own writes: recorded only while tracking, at page granularity, once per collect. */
static void test_marks(void **state)
{
	struct guest_mem m;
	uint64_t bm[PAGES / 64];
	(void)state;

	assert_int_equal(guest_mem_alloc(&m, 0x80000000u, PAGES * (uint64_t)sysconf(_SC_PAGESIZE)), 0);
	guest_mem_mark(&m, m.host, 8);	/* not tracking: nothing */
	assert_int_equal(guest_mem_track(&m, true), 0);
	guest_mem_mark(&m, m.host + 5 * m.page_size - 1, 2);	/* straddles pages 4 and 5 */
	guest_mem_mark(&m, m.host + 100 * m.page_size, 1);
	guest_mem_mark(&m, m.host + PAGES * m.page_size, 8);	/* outside RAM: ignored */
	guest_mem_mark(&m, m.host - 1, 8);
	assert_int_equal(guest_mem_write(&m, 0x80000000u + 250 * m.page_size, "x", 1), 0);
	memset(bm, 0, sizeof(bm));
	guest_mem_collect(&m, bm);
	assert_int_equal(count(bm, PAGES / 64), 4);
	assert_true(bit(bm, 4) && bit(bm, 5) && bit(bm, 100) && bit(bm, 250));
	memset(bm, 0, sizeof(bm));
	guest_mem_collect(&m, bm);
	assert_int_equal(count(bm, PAGES / 64), 0);
	assert_int_equal(guest_mem_track(&m, false), 0);
	guest_mem_mark(&m, m.host, 8);
	guest_mem_collect(&m, bm);
	assert_int_equal(count(bm, PAGES / 64), 0);
	guest_mem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_touched_anonymous),
		cmocka_unit_test(test_touched_file),
		cmocka_unit_test(test_marks),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
