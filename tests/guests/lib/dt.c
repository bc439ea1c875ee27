/*
 * Device-tree queries shared by several guests.
 */
#include "guest.h"

static bool is_cpu_node(const char *name)
{
	return name && name[0] == 'c' && name[1] == 'p' && name[2] == 'u' &&
	       (name[3] == '\0' || name[3] == '@');
}

int dt_cpus(const struct fdt *f, uint64_t *regs, int max, int *count)
{
	uint32_t ac, sc, len, i;
	const void *val;
	int cpus, node, err, n = 0;

	*count = 0;
	cpus = fdt_path_offset(f, "/cpus");
	if (cpus < 0)
		return cpus;
	err = fdt_child_cells(f, cpus, &ac, &sc);
	if (err < 0)
		return err;
	if (ac < 1 || ac > 2 || sc != 0)
		return -FDT_ERR_BADVALUE;

	for (node = fdt_first_child(f, cpus); node >= 0; node = fdt_next_sibling(f, node)) {
		uint64_t reg = 0;

		if (!is_cpu_node(fdt_node_name(f, node)))
			continue;	/* e.g. cpu-map */
		err = fdt_getprop(f, node, "reg", &val, &len);
		if (err < 0)
			return err;
		if (len < 4 * ac)
			return -FDT_ERR_BADVALUE;
		for (i = 0; i < ac; i++)
			reg = (reg << 32) | fdt_be32((const uint8_t *)val + 4 * i);
		if (regs && n < max)
			regs[n] = reg;
		n++;
	}
	if (node != -FDT_ERR_NOTFOUND)
		return node;
	*count = n;
	return 0;
}

int dt_memory(const struct fdt *f, uint64_t *base, uint64_t *size)
{
	int node = -1;

	for (;;) {
		node = fdt_next_node(f, node, NULL);
		if (node < 0)
			return node;
		if (fdt_prop_has_string(f, node, "device_type", "memory"))
			return fdt_get_reg(f, node, 0, base, size);
	}
}

bool dt_bootargs_has(const struct fdt *f, const char *word)
{
	const char *args, *p;
	size_t n = strlen(word);
	int chosen = fdt_path_offset(f, "/chosen");

	if (chosen < 0 || fdt_getprop_string(f, chosen, "bootargs", &args) < 0)
		return false;
	for (p = args; *p;) {
		const char *start;

		while (*p == ' ')
			p++;
		start = p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - start) == n && memcmp(start, word, n) == 0)
			return true;
	}
	return false;
}
