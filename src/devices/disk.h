/*
 * Disk image files as snapshots and migrations see them: which file a disk
 * is (its canonical path, device and inode) and whether its contents moved
 * on since it was saved (size and modification time), recorded the same way
 * wherever a snapshot names a disk (the CONF section and the disk's own).
 *
 * A path read from a snapshot or a migration stream is untrusted: it is
 * opened only if it is absolute, leads through no symbolic link, names a
 * regular file or a block device and, when a recorded identity is given,
 * is that very file; nothing is opened before the checks on its lstat().
 */
#ifndef ARMVMM_DISK_H
#define ARMVMM_DISK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

struct snap_buf;
struct snap_cursor;

struct disk_identity {
	char path[PATH_MAX];	/* canonical: absolute, without symbolic links */
	uint64_t dev, ino;	/* st_dev, st_ino */
	uint64_t size;		/* bytes (a block device's size too) */
	int64_t mtime_sec;	/* the contents stamp */
	uint32_t mtime_nsec;
};

/* How a disk being opened must relate to the identity a snapshot recorded. */
enum disk_check {
	DISK_CHECK_NONE,	/* a new disk ("armvmm run"), or a version-1 snapshot's (path only) */
	DISK_CHECK_SAME,	/* the recorded file, unchanged: device, inode, size, then mtime */
	DISK_CHECK_SIZE,	/* another file (--disk OLD=NEW) or a change accepted (--allow-changed-disk): size */
};

/*
 * Payload encoding: str path, u64 dev, u64 ino, u64 size, u64 mtime seconds
 * (two's complement), u32 mtime nanoseconds (below 10^9).
 */
void disk_identity_put(struct snap_buf *b, const struct disk_identity *id);
/* Read one; the cursor's err says whether it was well-formed (nanoseconds checked too). */
void disk_identity_get(struct snap_cursor *c, struct disk_identity *id);

/* The identity of the open file fd (path copied in as given). 0 or -errno (no message). */
int disk_identity_of(int fd, const char *path, struct disk_identity *id);

/*
 * Open a disk for a VM. trusted (the user's own -d or --disk NEW): path is
 * opened as given and made canonical (realpath, then checked to be the file
 * opened). Untrusted (named by a snapshot or a stream): refused unless
 * absolute; lstat first (a symlink, or anything but a regular file or a
 * block device, is refused unopened; with check SAME a device/inode other
 * than expect's too), then opened without following any symlink
 * (openat2 RESOLVE_NO_SYMLINKS, O_NOFOLLOW where that is missing) and
 * checked to be what lstat saw. Returns the fd with *id filled, or -errno
 * after one error line naming the disk and what to do.
 */
int disk_open(const char *path, bool read_only, bool trusted, enum disk_check check,
	      const struct disk_identity *expect, struct disk_identity *id);

/*
 * Compare what a snapshot recorded (saved) with the disk as it is now (now),
 * as check asks: SAME wants device, inode, size and mtime equal, SIZE the
 * size, NONE nothing. 0, or -EINVAL after one line saying why restoring
 * over a changed disk is refused and how to override it.
 */
int disk_identity_check(enum disk_check check, const struct disk_identity *saved, const struct disk_identity *now);

/* flock: exclusive for a writable disk, shared for a read-only one, never waiting. 0, or -EBUSY after one error line. */
int disk_lock(int fd, const char *path, bool read_only);
void disk_unlock(int fd);

#endif
