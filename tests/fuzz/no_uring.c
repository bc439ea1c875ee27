/* The fuzz targets' disks use the worker thread backend, as on a host without io_uring. */
#include <errno.h>

#include "devices/blk_io.h"

int blk_io_uring_create(struct blk_io **out, int disk_fd, unsigned int depth)
{
	(void)out;
	(void)disk_fd;
	(void)depth;
	return -ENOSYS;
}
