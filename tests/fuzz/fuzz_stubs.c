/*
 * What the fuzz targets' armvmm code refers to but the fuzz build does not
 * link: libfdt (device-tree nodes are not what is fuzzed), the sandbox (no
 * seccomp table for the fuzzing host) and io_uring (disks use the worker
 * thread backend, as on a host without io_uring).
 */
#include <errno.h>

#include "core/sandbox.h"
#include "devices/blk_io.h"

int fdt_property(void *fdt, const char *name, const void *val, int len);
int fdt_begin_node(void *fdt, const char *name);
int fdt_end_node(void *fdt);

int fdt_property(void *fdt, const char *name, const void *val, int len)
{
	(void)fdt;
	(void)name;
	(void)val;
	(void)len;
	return -1;
}

int fdt_begin_node(void *fdt, const char *name)
{
	(void)fdt;
	(void)name;
	return -1;
}

int fdt_end_node(void *fdt)
{
	(void)fdt;
	return -1;
}

void sandbox_enter(enum sandbox_kind kind)
{
	(void)kind;
}

int blk_io_uring_create(struct blk_io **out, int disk_fd, unsigned int depth)
{
	(void)out;
	(void)disk_fd;
	(void)depth;
	return -ENOSYS;
}
