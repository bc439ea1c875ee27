/*
 * Defensive FDT reader; see fdt.h.
 */
#include "fdt.h"

#include <stddef.h>

#define ALIGN4(x) (((x) + 3U) & ~3U)

uint32_t fdt_be32(const void *p)
{
	const uint8_t *b = p;

	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
	       ((uint32_t)b[2] << 8) | (uint32_t)b[3];
}

const char *fdt_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0: return "ok";
	case FDT_ERR_NOTFOUND: return "not found";
	case FDT_ERR_NULL: return "DTB address is 0";
	case FDT_ERR_ALIGN: return "DTB address not 8-byte aligned";
	case FDT_ERR_BADMAGIC: return "bad magic";
	case FDT_ERR_BADVERSION: return "unsupported version";
	case FDT_ERR_BADHEADER: return "inconsistent header";
	case FDT_ERR_TRUNCATED: return "truncated";
	case FDT_ERR_BADSTRUCT: return "malformed structure block";
	case FDT_ERR_BADOFFSET: return "bad node offset";
	case FDT_ERR_DEPTH: return "nesting too deep";
	case FDT_ERR_BADVALUE: return "bad property value";
	default: return "unknown error";
	}
}

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* Length of s if a NUL occurs within max bytes, else max. */
static uint32_t str_nlen(const char *s, uint32_t max)
{
	uint32_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

/*
 * Decodes the token at `off`.  Returns the tag (>0) and the offset of the
 * following token in *next, or a negative error.  Everything the token
 * refers to (node name, property value and name) is checked to lie inside
 * its block.
 */
static int fdt_tag(const struct fdt *f, int off, int *next)
{
	uint32_t o, tag;

	if (!f->blob || off < 0)
		return -FDT_ERR_BADOFFSET;
	o = (uint32_t)off;
	if (o & 3U)
		return -FDT_ERR_BADSTRUCT;
	if (o > f->size_struct || f->size_struct - o < 4)
		return -FDT_ERR_TRUNCATED;

	tag = fdt_be32(f->structp + o);
	switch (tag) {
	case FDT_BEGIN_NODE: {
		uint32_t name = o + 4;
		uint32_t n = str_nlen((const char *)f->structp + name, f->size_struct - name);

		if (n == f->size_struct - name)
			return -FDT_ERR_TRUNCATED;
		*next = (int)ALIGN4(name + n + 1);
		break;
	}
	case FDT_PROP: {
		uint32_t len, nameoff;

		if (f->size_struct - o < 12)
			return -FDT_ERR_TRUNCATED;
		len = fdt_be32(f->structp + o + 4);
		nameoff = fdt_be32(f->structp + o + 8);
		if (len > f->size_struct - o - 12)
			return -FDT_ERR_TRUNCATED;
		if (nameoff >= f->size_strings)
			return -FDT_ERR_TRUNCATED;
		if (str_nlen((const char *)f->strings + nameoff, f->size_strings - nameoff) ==
		    f->size_strings - nameoff)
			return -FDT_ERR_TRUNCATED;
		*next = (int)ALIGN4(o + 12 + len);
		break;
	}
	case FDT_END_NODE:
	case FDT_NOP:
	case FDT_END:
		*next = (int)(o + 4);
		break;
	default:
		return -FDT_ERR_BADSTRUCT;
	}
	return (int)tag;
}

/* Walks the whole structure block once: tokens, nesting, single root, END. */
static int fdt_validate(struct fdt *f)
{
	int off = 0, next, depth = 0, tag;
	bool seen_root = false;

	f->root = -1;
	for (;;) {
		tag = fdt_tag(f, off, &next);
		if (tag < 0)
			return tag;
		switch ((uint32_t)tag) {
		case FDT_BEGIN_NODE:
			if (depth == 0) {
				if (seen_root)
					return -FDT_ERR_BADSTRUCT;	/* two roots */
				seen_root = true;
				f->root = off;
			}
			if (++depth > FDT_MAX_DEPTH)
				return -FDT_ERR_DEPTH;
			break;
		case FDT_END_NODE:
			if (depth == 0)
				return -FDT_ERR_BADSTRUCT;
			depth--;
			break;
		case FDT_PROP:
			if (depth == 0)
				return -FDT_ERR_BADSTRUCT;	/* property outside a node */
			break;
		case FDT_NOP:
			break;
		case FDT_END:
			if (depth != 0 || !seen_root)
				return -FDT_ERR_BADSTRUCT;
			return 0;
		}
		off = next;
	}
}

int fdt_open(struct fdt *f, uintptr_t addr)
{
	const uint8_t *h = (const uint8_t *)addr;
	uint32_t totalsize, off_struct, off_strings, off_rsv, size_struct, size_strings;
	uint32_t version, last_comp, hdr_size, o;
	struct fdt t;
	int err;

	f->blob = NULL;
	if (addr == 0)
		return -FDT_ERR_NULL;
	if (addr & 7U)
		return -FDT_ERR_ALIGN;
	if (addr > UINTPTR_MAX - FDT_MAX_SIZE)
		return -FDT_ERR_BADHEADER;
	if (fdt_be32(h) != FDT_MAGIC)
		return -FDT_ERR_BADMAGIC;

	totalsize = fdt_be32(h + 4);
	off_struct = fdt_be32(h + 8);
	off_strings = fdt_be32(h + 12);
	off_rsv = fdt_be32(h + 16);
	version = fdt_be32(h + 20);
	last_comp = fdt_be32(h + 24);

	if (version < 16 || last_comp > 17)
		return -FDT_ERR_BADVERSION;
	hdr_size = version >= 17 ? 40 : 36;
	if (totalsize < hdr_size || totalsize > FDT_MAX_SIZE)
		return -FDT_ERR_BADHEADER;

	size_strings = fdt_be32(h + 32);
	if (version >= 17) {
		size_struct = fdt_be32(h + 36);
	} else {
		if (off_struct > totalsize)
			return -FDT_ERR_BADHEADER;
		size_struct = totalsize - off_struct;
	}

	if (off_struct < hdr_size || off_struct > totalsize ||
	    size_struct > totalsize - off_struct || (off_struct & 3U))
		return -FDT_ERR_BADHEADER;
	if (off_strings < hdr_size || off_strings > totalsize ||
	    size_strings > totalsize - off_strings)
		return -FDT_ERR_BADHEADER;
	if (off_rsv < hdr_size || off_rsv > totalsize || (off_rsv & 7U))
		return -FDT_ERR_BADHEADER;

	/* Memory reservation map: 16-byte entries terminated by (0, 0). */
	for (o = off_rsv;; o += 16) {
		uint32_t i, any = 0;

		if (totalsize - o < 16)
			return -FDT_ERR_TRUNCATED;
		for (i = 0; i < 16; i += 4)
			any |= fdt_be32(h + o + i);
		if (!any)
			break;
	}

	t.blob = h;
	t.totalsize = totalsize;
	t.version = version;
	t.structp = h + off_struct;
	t.size_struct = size_struct;
	t.strings = h + off_strings;
	t.size_strings = size_strings;
	t.root = -1;
	err = fdt_validate(&t);
	if (err < 0)
		return err;
	*f = t;
	return 0;
}

int fdt_root(const struct fdt *f)
{
	if (!f->blob || f->root < 0)
		return -FDT_ERR_BADOFFSET;
	return f->root;
}

int fdt_next_node(const struct fdt *f, int node, int *depth)
{
	int off, next, tag;

	if (node < 0) {
		if (depth)
			*depth = 0;
		return fdt_root(f);
	}
	tag = fdt_tag(f, node, &next);
	if (tag < 0)
		return tag;
	if ((uint32_t)tag != FDT_BEGIN_NODE)
		return -FDT_ERR_BADOFFSET;

	for (off = next;; off = next) {
		tag = fdt_tag(f, off, &next);
		if (tag < 0)
			return tag;
		switch ((uint32_t)tag) {
		case FDT_BEGIN_NODE:
			if (depth)
				++*depth;
			return off;
		case FDT_END_NODE:
			if (depth)
				--*depth;
			break;
		case FDT_END:
			return -FDT_ERR_NOTFOUND;
		default:
			break;
		}
	}
}

int fdt_first_child(const struct fdt *f, int node)
{
	int depth = 0;
	int off = fdt_next_node(f, node, &depth);

	if (off < 0)
		return off;
	return depth == 1 ? off : -FDT_ERR_NOTFOUND;
}

int fdt_next_sibling(const struct fdt *f, int node)
{
	int depth = 0;
	int off = node;

	for (;;) {
		off = fdt_next_node(f, off, &depth);
		if (off < 0)
			return off;
		if (depth < 0)
			return -FDT_ERR_NOTFOUND;
		if (depth == 0)
			return off;
	}
}

int fdt_parent(const struct fdt *f, int node)
{
	int stack[FDT_MAX_DEPTH];
	int off = -1, depth = 0;

	for (;;) {
		off = fdt_next_node(f, off, &depth);
		if (off < 0)
			return off;
		if (depth < 0 || depth >= FDT_MAX_DEPTH)
			return -FDT_ERR_DEPTH;
		stack[depth] = off;
		if (off == node)
			return depth > 0 ? stack[depth - 1] : -FDT_ERR_NOTFOUND;
		if (off > node)
			return -FDT_ERR_BADOFFSET;
	}
}

const char *fdt_node_name(const struct fdt *f, int node)
{
	int next;

	if (fdt_tag(f, node, &next) != (int)FDT_BEGIN_NODE)
		return NULL;
	return (const char *)f->structp + node + 4;
}

bool fdt_name_matches(const char *node_name, const char *name)
{
	const char *a = node_name, *b = name;
	bool has_unit = false;

	for (; *b; b++)
		if (*b == '@')
			has_unit = true;
	for (b = name; *a && *a == *b; a++, b++)
		;
	if (*a == *b)
		return true;
	return !has_unit && *b == '\0' && *a == '@';
}

int fdt_subnode(const struct fdt *f, int parent, const char *name)
{
	int off;

	for (off = fdt_first_child(f, parent); off >= 0; off = fdt_next_sibling(f, off)) {
		const char *n = fdt_node_name(f, off);

		if (n && fdt_name_matches(n, name))
			return off;
	}
	return off;
}

int fdt_path_offset(const struct fdt *f, const char *path)
{
	char comp[64];
	int node = fdt_root(f);

	if (node < 0)
		return node;
	if (*path != '/')
		return -FDT_ERR_NOTFOUND;
	while (*path) {
		size_t n = 0;

		while (*path == '/')
			path++;
		if (!*path)
			break;
		while (path[n] && path[n] != '/') {
			if (n + 1 >= sizeof(comp))
				return -FDT_ERR_NOTFOUND;
			comp[n] = path[n];
			n++;
		}
		comp[n] = '\0';
		path += n;
		node = fdt_subnode(f, node, comp);
		if (node < 0)
			return node;
	}
	return node;
}

int fdt_getprop(const struct fdt *f, int node, const char *name,
		const void **val, uint32_t *len)
{
	int off, next, tag;

	tag = fdt_tag(f, node, &next);
	if (tag < 0)
		return tag;
	if ((uint32_t)tag != FDT_BEGIN_NODE)
		return -FDT_ERR_BADOFFSET;

	for (off = next;; off = next) {
		tag = fdt_tag(f, off, &next);
		if (tag < 0)
			return tag;
		if ((uint32_t)tag == FDT_NOP)
			continue;
		if ((uint32_t)tag != FDT_PROP)
			return -FDT_ERR_NOTFOUND;	/* subnode, END_NODE or END */
		if (str_eq((const char *)f->strings + fdt_be32(f->structp + off + 8), name)) {
			*val = f->structp + off + 12;
			*len = fdt_be32(f->structp + off + 4);
			return 0;
		}
	}
}

int fdt_getprop_u32(const struct fdt *f, int node, const char *name, uint32_t *out)
{
	const void *val;
	uint32_t len;
	int err = fdt_getprop(f, node, name, &val, &len);

	if (err < 0)
		return err;
	if (len != 4)
		return -FDT_ERR_BADVALUE;
	*out = fdt_be32(val);
	return 0;
}

int fdt_getprop_string(const struct fdt *f, int node, const char *name, const char **out)
{
	const void *val;
	uint32_t len;
	int err = fdt_getprop(f, node, name, &val, &len);

	if (err < 0)
		return err;
	if (len == 0 || ((const char *)val)[len - 1] != '\0')
		return -FDT_ERR_BADVALUE;
	*out = val;
	return 0;
}

bool fdt_prop_has_string(const struct fdt *f, int node, const char *name, const char *str)
{
	const void *val;
	const char *p;
	uint32_t len;

	if (fdt_getprop(f, node, name, &val, &len) < 0)
		return false;
	p = val;
	while (len > 0) {
		uint32_t n = str_nlen(p, len);

		if (n == len)
			return false;	/* unterminated: ignore the rest */
		if (str_eq(p, str))
			return true;
		p += n + 1;
		len -= n + 1;
	}
	return false;
}

bool fdt_is_compatible(const struct fdt *f, int node, const char *compat)
{
	return fdt_prop_has_string(f, node, "compatible", compat);
}

int fdt_find_compatible(const struct fdt *f, int after, const char *compat)
{
	int off = after;

	for (;;) {
		off = fdt_next_node(f, off, NULL);
		if (off < 0)
			return off;
		if (fdt_is_compatible(f, off, compat))
			return off;
	}
}

int fdt_child_cells(const struct fdt *f, int node, uint32_t *addr_cells, uint32_t *size_cells)
{
	int err;

	err = fdt_getprop_u32(f, node, "#address-cells", addr_cells);
	if (err == -FDT_ERR_NOTFOUND)
		*addr_cells = 2;
	else if (err < 0)
		return err;
	err = fdt_getprop_u32(f, node, "#size-cells", size_cells);
	if (err == -FDT_ERR_NOTFOUND)
		*size_cells = 1;
	else if (err < 0)
		return err;
	return 0;
}

static uint64_t read_cells(const uint8_t *p, uint32_t n)
{
	uint64_t v = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		v = (v << 32) | fdt_be32(p + 4 * i);
	return v;
}

int fdt_get_reg(const struct fdt *f, int node, uint32_t idx, uint64_t *addr, uint64_t *size)
{
	uint32_t ac, sc, len, entry;
	const void *val;
	int parent, err;

	parent = fdt_parent(f, node);
	if (parent < 0)
		return parent == -FDT_ERR_NOTFOUND ? -FDT_ERR_BADOFFSET : parent;
	err = fdt_child_cells(f, parent, &ac, &sc);
	if (err < 0)
		return err;
	if (ac < 1 || ac > 2 || sc > 2)
		return -FDT_ERR_BADVALUE;
	err = fdt_getprop(f, node, "reg", &val, &len);
	if (err < 0)
		return err;
	entry = 4 * (ac + sc);
	if (len % entry != 0)
		return -FDT_ERR_BADVALUE;
	if (idx >= len / entry)
		return -FDT_ERR_NOTFOUND;
	val = (const uint8_t *)val + idx * entry;
	*addr = read_cells(val, ac);
	*size = read_cells((const uint8_t *)val + 4 * ac, sc);
	return 0;
}
