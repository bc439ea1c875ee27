/*
 * Minimal, defensive flattened-device-tree reader for the test guests.
 *
 * fdt_open() validates the header and walks the whole structure block once,
 * so a corrupt blob is reported up front; every accessor still bounds-checks
 * against the block sizes.  All multi-byte values are read byte by byte
 * (big-endian, no alignment assumptions).
 *
 * Nodes are identified by the offset of their FDT_BEGIN_NODE token inside
 * the structure block, like libfdt.  Functions returning int give a node
 * offset / 0 on success and a negative -FDT_ERR_* code on failure.
 */
#ifndef GUEST_FDT_H
#define GUEST_FDT_H

#include <stdbool.h>
#include <stdint.h>

#define FDT_MAGIC 0xd00dfeedU
#define FDT_BEGIN_NODE 1U
#define FDT_END_NODE 2U
#define FDT_PROP 3U
#define FDT_NOP 4U
#define FDT_END 9U

/* Linux refuses bigger blobs too, and ours lives in a 2 MiB block. */
#define FDT_MAX_SIZE (2U << 20)
#define FDT_MAX_DEPTH 32

enum {
	FDT_ERR_NOTFOUND = 1,	/* node or property does not exist */
	FDT_ERR_NULL,		/* DTB address is 0 */
	FDT_ERR_ALIGN,		/* DTB address not 8-byte aligned */
	FDT_ERR_BADMAGIC,
	FDT_ERR_BADVERSION,
	FDT_ERR_BADHEADER,	/* sizes/offsets in the header inconsistent */
	FDT_ERR_TRUNCATED,	/* something runs past the end of a block */
	FDT_ERR_BADSTRUCT,	/* bad token / nesting in the structure block */
	FDT_ERR_BADOFFSET,	/* caller passed an offset that is not a node */
	FDT_ERR_DEPTH,		/* nesting deeper than FDT_MAX_DEPTH */
	FDT_ERR_BADVALUE,	/* property has an unusable length / format */
};

struct fdt {
	const uint8_t *blob;	/* NULL until fdt_open() succeeded */
	uint32_t totalsize;
	uint32_t version;
	const uint8_t *structp;
	uint32_t size_struct;
	const uint8_t *strings;
	uint32_t size_strings;
	int root;		/* offset of the root node */
};

uint32_t fdt_be32(const void *p);
const char *fdt_strerror(int err);	/* err may be negative or positive */

int fdt_open(struct fdt *f, uintptr_t addr);

/* Node navigation. */
int fdt_root(const struct fdt *f);
/*
 * Next node in document order after `node` (-1: the root).  If depth is not
 * NULL it is adjusted by the nesting change (+1 into a child, -1 per level
 * left), libfdt style.
 */
int fdt_next_node(const struct fdt *f, int node, int *depth);
int fdt_first_child(const struct fdt *f, int node);
int fdt_next_sibling(const struct fdt *f, int node);
int fdt_parent(const struct fdt *f, int node);
const char *fdt_node_name(const struct fdt *f, int node);
/* "cpus" matches "cpus" and "cpus@..."; "cpu@1" matches only "cpu@1". */
bool fdt_name_matches(const char *node_name, const char *name);
int fdt_subnode(const struct fdt *f, int parent, const char *name);
int fdt_path_offset(const struct fdt *f, const char *path);

/* Properties. */
int fdt_getprop(const struct fdt *f, int node, const char *name,
		const void **val, uint32_t *len);
int fdt_getprop_u32(const struct fdt *f, int node, const char *name, uint32_t *out);
/* Property must be a NUL-terminated string. */
int fdt_getprop_string(const struct fdt *f, int node, const char *name, const char **out);
bool fdt_prop_has_string(const struct fdt *f, int node, const char *name, const char *str);
bool fdt_is_compatible(const struct fdt *f, int node, const char *compat);
/* First node after `after` (-1: search from the root) with that compatible. */
int fdt_find_compatible(const struct fdt *f, int after, const char *compat);

/* #address-cells / #size-cells a node gives its children (defaults 2 / 1). */
int fdt_child_cells(const struct fdt *f, int node, uint32_t *addr_cells, uint32_t *size_cells);
/* idx-th (address, size) pair of "reg", decoded with the parent's cells. */
int fdt_get_reg(const struct fdt *f, int node, uint32_t idx, uint64_t *addr, uint64_t *size);

#endif
