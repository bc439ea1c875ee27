/* The split-virtqueue walker against hand-built rings, including every malformed case. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "board/layout.h"
#include "devices/virtqueue.h"
#include "core/log.h"

#define RAM (1u << 20)
#define DESC (BOARD_RAM_BASE + 0x1000)
#define AVAIL (BOARD_RAM_BASE + 0x2000)
#define USED (BOARD_RAM_BASE + 0x3000)
#define DATA (BOARD_RAM_BASE + 0x10000)

static struct guest_mem mem;
static struct virtq q;
static struct virtq_chain c;

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = guest_mem_ptr(&mem, DESC + 16u * i, 16);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static uint16_t *avail_idx(void) { return guest_mem_ptr(&mem, AVAIL + 2, 2); }
static uint16_t *used_idx(void) { return guest_mem_ptr(&mem, USED + 2, 2); }

static void post(uint16_t head)
{
	uint16_t *ring = guest_mem_ptr(&mem, AVAIL + 4 + 2u * (*avail_idx() % q.num), 2);
	*ring = head;
	(*avail_idx())++;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(guest_mem_alloc(&mem, BOARD_RAM_BASE, RAM), 0);
	q = (struct virtq){ .num = 8, .ready = true, .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED };
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	guest_mem_free(&mem);
	return 0;
}

static void test_valid_chain_and_push(void **state)
{
	(void)state;
	set_desc(3, DATA, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(5, DATA + 512, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(1, DATA + 1024, 1, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(virtq_pop(&q, &mem, &c), 0); /* nothing posted yet */
	assert_false(virtq_has_avail(&q, &mem));
	post(3);
	assert_true(virtq_has_avail(&q, &mem));
	assert_int_equal(virtq_pop(&q, &mem, &c), 1);
	assert_int_equal(c.head, 3);
	assert_int_equal(c.n_out, 1);
	assert_int_equal(c.n_in, 2);
	assert_int_equal(c.out_bytes, 16);
	assert_int_equal(c.in_bytes, 513);
	assert_ptr_equal(c.iov[0].iov_base, guest_mem_ptr(&mem, DATA, 16));
	assert_ptr_equal(c.iov[2].iov_base, guest_mem_ptr(&mem, DATA + 1024, 1));
	assert_int_equal(virtq_pop(&q, &mem, &c), 0);

	assert_int_equal(virtq_push(&q, &mem, 3, 513), 0);
	assert_int_equal(*used_idx(), 1);
	uint32_t elem[2];
	memcpy(elem, guest_mem_ptr(&mem, USED + 4, 8), 8);
	assert_int_equal(elem[0], 3);
	assert_int_equal(elem[1], 513);
	assert_true(virtq_wants_interrupt(&q, &mem));
	*(uint16_t *)guest_mem_ptr(&mem, AVAIL, 2) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_wants_interrupt(&q, &mem));
}

/* Each malformed case fails and leaves the avail position where it was. */
static void expect_refused(int want)
{
	uint16_t before = q.last_avail_idx;
	assert_int_equal(virtq_pop(&q, &mem, &c), want);
	assert_int_equal(q.last_avail_idx, before);
}

static void test_address_outside_ram(void **state)
{
	(void)state;
	set_desc(0, BOARD_RAM_BASE + RAM - 8, 16, 0, 0); /* runs 8 bytes past the end */
	post(0);
	expect_refused(-EFAULT);
	set_desc(0, 0x1000, 16, 0, 0); /* below RAM */
	expect_refused(-EFAULT);
	set_desc(0, UINT64_MAX - 7, 16, 0, 0); /* address + length wraps around 2^64 */
	expect_refused(-EFAULT);
	set_desc(0, DATA, UINT32_MAX, 0, 0);
	expect_refused(-EFAULT);
}

static void test_loops_and_long_chains(void **state)
{
	(void)state;
	set_desc(0, DATA, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, DATA, 4, VIRTQ_DESC_F_NEXT, 0); /* back to the head */
	post(0);
	expect_refused(-EINVAL);
	set_desc(1, DATA, 4, VIRTQ_DESC_F_NEXT, 1); /* self loop */
	expect_refused(-EINVAL);
	/* A chain using all 8 descriptors is fine; it can't be longer without a loop. */
	for (uint16_t i = 0; i < 8; i++)
		set_desc(i, DATA + i, 1, i < 7 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	assert_int_equal(virtq_pop(&q, &mem, &c), 1);
	assert_int_equal(c.n_out, 8);
}

static void test_bad_indexes_and_flags(void **state)
{
	(void)state;
	set_desc(0, DATA, 4, VIRTQ_DESC_F_NEXT, 8); /* next beyond the queue */
	post(0);
	expect_refused(-EINVAL);
	set_desc(0, DATA, 4, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(1, DATA, 4, 0, 0); /* readable after writable */
	expect_refused(-EINVAL);
	set_desc(0, DATA, 16, VIRTQ_DESC_F_INDIRECT, 0); /* indirect was never offered */
	expect_refused(-EINVAL);
	/* A head index beyond the queue in the avail ring. */
	*(uint16_t *)guest_mem_ptr(&mem, AVAIL + 4, 2) = 9;
	expect_refused(-EINVAL);
	/* The driver claims to be more than a ring ahead. */
	*(uint16_t *)guest_mem_ptr(&mem, AVAIL + 4, 2) = 0;
	set_desc(0, DATA, 4, 0, 0);
	*avail_idx() = 9;
	expect_refused(-EINVAL);
	*avail_idx() = 8;
	assert_int_equal(virtq_pop(&q, &mem, &c), 1);
}

static void test_zero_length_descriptors(void **state)
{
	(void)state;
	set_desc(2, DATA, 0, VIRTQ_DESC_F_NEXT, 4);
	set_desc(4, DATA, 0, VIRTQ_DESC_F_WRITE, 0);
	post(2);
	assert_int_equal(virtq_pop(&q, &mem, &c), 1);
	assert_int_equal(c.out_bytes + c.in_bytes, 0);
	/* A zero-length descriptor just past RAM is still outside RAM. */
	set_desc(2, BOARD_RAM_BASE + RAM + 1, 0, 0, 0);
	post(2);
	expect_refused(-EFAULT);
}

static void test_index_wraparound(void **state)
{
	(void)state;
	/* Free-running 16-bit indexes wrap from 65535 to 0. */
	q.last_avail_idx = 65534;
	q.used_idx = 65534;
	*avail_idx() = 65534;
	*used_idx() = 65534;
	set_desc(0, DATA, 8, 0, 0);
	for (int i = 0; i < 4; i++) {
		post(0);
		assert_int_equal(virtq_pop(&q, &mem, &c), 1);
		assert_int_equal(virtq_push(&q, &mem, c.head, 0), 0);
	}
	assert_int_equal(q.last_avail_idx, 2);
	assert_int_equal(*used_idx(), 2);
	assert_int_equal(virtq_pop(&q, &mem, &c), 0);
}

static void test_layout_checks(void **state)
{
	(void)state;
	struct virtq bad = q;
	assert_int_equal(virtq_check_layout(&q, &mem), 0);
	bad.num = 6; /* not a power of two */
	assert_int_equal(virtq_check_layout(&bad, &mem), -EINVAL);
	bad.num = 0;
	assert_int_equal(virtq_check_layout(&bad, &mem), -EINVAL);
	bad.num = VIRTQ_MAX_SIZE * 2;
	assert_int_equal(virtq_check_layout(&bad, &mem), -EINVAL);
	bad = q;
	bad.desc_gpa += 8; /* descriptors must be 16-byte aligned */
	assert_int_equal(virtq_check_layout(&bad, &mem), -EINVAL);
	bad = q;
	bad.used_gpa = BOARD_RAM_BASE + RAM - 8; /* used ring runs off the end of RAM */
	assert_int_equal(virtq_check_layout(&bad, &mem), -EFAULT);
	assert_int_equal(virtq_pop(&bad, &mem, &c), -EINVAL);
	bad = q;
	bad.ready = false;
	assert_int_equal(virtq_pop(&bad, &mem, &c), -EINVAL);
	assert_int_equal(virtq_push(&bad, &mem, 0, 0), -EINVAL);
}

static void test_iov_copies(void **state)
{
	(void)state;
	char a[4] = "abcd", b[3] = "efg", out[8] = { 0 };
	struct iovec iov[2] = { { a, 4 }, { b, 3 } };

	assert_int_equal(iov_to_buf(iov, 2, 2, out, sizeof(out)), 5);
	assert_memory_equal(out, "cdefg", 5);
	assert_int_equal(iov_from_buf(iov, 2, 3, "XYZ", 3), 3);
	assert_memory_equal(a, "abcX", 4);
	assert_memory_equal(b, "YZg", 3);
	assert_int_equal(iov_to_buf(iov, 2, 100, out, 8), 0); /* skip past the end */
}

static bool written(const uint64_t *bm, uint64_t gpa)
{
	uint64_t page = (gpa - BOARD_RAM_BASE) / mem.page_size;

	return bm[page / 64] >> (page % 64) & 1;
}

/*
 * While guest RAM writes are tracked (a migration's pre-copy), a push
 * records what the device wrote: the chain's writable buffers and the used
 * ring, not its readable ones. KVM's dirty log never sees these writes.
 */
static void test_push_marks_written_buffers(void **state)
{
	uint64_t bm[RAM / 4096 / 64 + 1] = { 0 };
	(void)state;

	set_desc(0, DATA, 16, VIRTQ_DESC_F_NEXT, 2);
	set_desc(2, DATA + 3 * 4096, 2 * 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
	set_desc(4, DATA + 8 * 4096, 1, VIRTQ_DESC_F_WRITE, 0);
	post(0);
	assert_int_equal(virtq_pop(&q, &mem, &c), 1);
	/* Not tracking: nothing recorded. */
	assert_int_equal(virtq_push(&q, &mem, 0, 2 * 4096 + 1), 0);
	guest_mem_collect(&mem, bm);
	assert_false(written(bm, USED));
	assert_int_equal(guest_mem_track(&mem, true), 0);
	post(0);
	assert_int_equal(virtq_pop(&q, &mem, &c), 1);
	assert_int_equal(virtq_push(&q, &mem, 0, 2 * 4096 + 1), 0);
	guest_mem_collect(&mem, bm);
	assert_true(written(bm, USED));
	assert_true(written(bm, DATA + 3 * 4096) && written(bm, DATA + 4 * 4096) && written(bm, DATA + 8 * 4096));
	assert_false(written(bm, DATA));		/* device-readable */
	assert_false(written(bm, DATA + 5 * 4096));	/* past the buffer */
	assert_false(written(bm, DESC) || written(bm, AVAIL));
	/* A chain the guest rewrote into a loop meanwhile: the walk stops at the queue size. */
	set_desc(4, DATA + 8 * 4096, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	assert_int_equal(virtq_push(&q, &mem, 0, 1), 0);
	guest_mem_track(&mem, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_chain_and_push, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_marks_written_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loops_and_long_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indexes_and_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_length_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_wraparound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_checks, setup, teardown),
		cmocka_unit_test(test_iov_copies),
	};
	log_threshold = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
