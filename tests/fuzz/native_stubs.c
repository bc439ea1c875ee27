/*
 * What armvmm code refers to but the native fuzz and race-check builds do not
 * link: libfdt (device-tree nodes are not what they test) and the sandbox (the
 * native host has no table of its own system calls, and seccomp filters are
 * tested in the unit and system tests).
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
