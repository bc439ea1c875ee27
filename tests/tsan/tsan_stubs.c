/*
 * What the race-check build's armvmm code refers to but does not link: libfdt
 * (device-tree nodes), and the sandbox (seccomp filters are not what is
 * tested here, and the native host has no table for its own system calls).
 */
#include "core/sandbox.h"

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
