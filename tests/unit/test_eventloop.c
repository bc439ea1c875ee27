/* eventfd_drain: what the event loop's callbacks rely on to tell a real wake-up from a spurious one. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/eventloop.h"

static void test_eventfd_drain(void **state)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t one = 1;
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(eventfd_drain(fd), 0); /* nothing written: EAGAIN is not an error */
	for (int i = 0; i < 3; i++)
		assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(eventfd_drain(fd), 1); /* one read takes all three */
	assert_int_equal(eventfd_drain(fd), 0);
	close(fd);
	assert_int_equal(eventfd_drain(fd), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eventfd_drain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
