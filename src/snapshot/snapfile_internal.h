/*
 * Private to the snapshot file code (snapfile_*.c): the byte layout of the
 * state file's headers, as man/armvmm-snapshot.5 documents it, and the
 * helpers its reader and writer share.
 */
#ifndef ARMVMM_SNAPFILE_INTERNAL_H
#define ARMVMM_SNAPFILE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapfile.h"

/* The state file header: offsets of its fields (u32 unless noted). */
#define SNAP_HDR_MAGIC 0u		/* SNAP_MAGIC_LEN bytes */
#define SNAP_HDR_VERSION 8u
#define SNAP_HDR_HEADER_SIZE 12u
#define SNAP_HDR_PAGE_SIZE 16u
#define SNAP_HDR_NR_VCPUS 20u
#define SNAP_HDR_IRQCHIP_TYPE 24u
#define SNAP_HDR_NR_SECTIONS 28u
#define SNAP_HDR_MEM_GPA 32u		/* u64 */
#define SNAP_HDR_MEM_SIZE 40u		/* u64 */
#define SNAP_HDR_STATE_SIZE 48u		/* u64: the whole file's length */
#define SNAP_HDR_FLAGS 56u
#define SNAP_HDR_CRC 60u		/* CRC32 of the bytes before it */
#define SNAP_MAGIC_LEN 8u

/* A section header: offsets of its fields (u32 unless noted); the payload follows it. */
#define SNAP_SH_TAG 0u
#define SNAP_SH_INSTANCE 4u
#define SNAP_SH_LENGTH 8u		/* u64: the payload's, padding excluded */
#define SNAP_SH_CRC 16u			/* CRC32 of the payload */
#define SNAP_SH_RESERVED 20u

_Static_assert(sizeof(SNAP_MAGIC) - 1 == SNAP_MAGIC_LEN, "the magic is 8 bytes");
_Static_assert(SNAP_HDR_CRC + 4 == SNAP_HEADER_SIZE, "the header CRC ends the header");
_Static_assert(SNAP_SH_RESERVED + 4 == SNAP_SECTION_HEADER_SIZE, "the reserved field ends a section header");

/* Payloads are padded with zeros to a multiple of 8 bytes. */
static inline size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The rest is in snapfile_reader.c. */

/* A formatted, allocated string, or NULL. */
__attribute__((format(printf, 1, 2))) char *snapfile_strfmt(const char *fmt, ...);

#endif
