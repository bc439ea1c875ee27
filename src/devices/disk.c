/* Disk image files: identity, safe opening of recorded paths, locks (disk.h). */
#include "devices/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/state.h"

void disk_identity_put(struct snap_buf *b, const struct disk_identity *id)
{
	snap_put_str(b, id->path);
	snap_put_u64(b, id->dev);
	snap_put_u64(b, id->ino);
	snap_put_u64(b, id->size);
	snap_put_u64(b, (uint64_t)id->mtime_sec);
	snap_put_u32(b, id->mtime_nsec);
}

void disk_identity_get(struct snap_cursor *c, struct disk_identity *id)
{
	snap_get_str(c, id->path, sizeof(id->path));
	id->dev = snap_get_u64(c);
	id->ino = snap_get_u64(c);
	id->size = snap_get_u64(c);
	id->mtime_sec = (int64_t)snap_get_u64(c);
	id->mtime_nsec = snap_get_u32(c);
	if (id->mtime_nsec >= 1000000000u)
		c->err = true;
}

/* The size of what fd is: a regular file's length, a block device's capacity. */
static int size_of(int fd, const struct stat *st, uint64_t *size)
{
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	*size = (uint64_t)st->st_size;
	return 0;
}

int disk_identity_of(int fd, const char *path, struct disk_identity *id)
{
	struct stat st;
	int err;

	if (fstat(fd, &st) < 0)
		return -errno;
	memset(id, 0, sizeof(*id));
	snprintf(id->path, sizeof(id->path), "%s", path);
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	id->mtime_sec = (int64_t)st.st_mtim.tv_sec;
	id->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	err = size_of(fd, &st, &id->size);
	return err;
}

/* Without openat2 (kernels before 5.6): component by component, each checked not to be a symlink. */
static int open_walk_no_symlinks(const char *path, int flags)
{
	char buf[PATH_MAX], *comp, *next;
	int dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), fd;

	snprintf(buf, sizeof(buf), "%s", path);
	for (comp = buf + 1; dfd >= 0 && (next = strchr(comp, '/')); comp = next + 1) {
		struct stat st;
		*next = 0;
		if (!*comp)
			continue;
		if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK(st.st_mode)) {
			int err = S_ISLNK(st.st_mode) ? -ELOOP : -errno;
			close(dfd);
			return err;
		}
		fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dfd);
		dfd = fd;
	}
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, comp, flags | O_NOFOLLOW);
	fd = fd >= 0 ? fd : -errno;
	close(dfd);
	return fd;
}

/* An untrusted path leads through no symlink: openat2 says so for every component. */
static int open_no_symlinks(const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)flags, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return fd >= 0 ? (int)fd : -errno;
	return open_walk_no_symlinks(path, flags);
}

static int open_untrusted(const char *path, int flags, enum disk_check check, const struct disk_identity *expect)
{
	struct stat before, after;
	int fd;

	if (path[0] != '/') {
		pr_err("disk path '%s' recorded in the snapshot is not absolute: refusing to open it", path);
		return -EINVAL;
	}
	if (lstat(path, &before) < 0) {
		int err = errno;
		pr_err("cannot find disk '%s' recorded in the snapshot: %s%s", path, strerror(err),
		       err == ENOENT ? " (give its new place with --disk OLD=NEW)" : "");
		return -err;
	}
	if (S_ISLNK(before.st_mode)) {
		pr_err("disk path '%s' recorded in the snapshot is a symbolic link: refusing to follow it "
		       "(give the real file with --disk OLD=NEW)", path);
		return -ELOOP;
	}
	if (!S_ISREG(before.st_mode) && !S_ISBLK(before.st_mode)) {
		pr_err("disk '%s' recorded in the snapshot is neither a regular file nor a block device", path);
		return -EINVAL;
	}
	if (check == DISK_CHECK_SAME && expect &&
	    ((uint64_t)before.st_dev != expect->dev || (uint64_t)before.st_ino != expect->ino)) {
		pr_err("disk '%s' is not the file the snapshot recorded (another device or inode now): refusing "
		       "to open it (give the disk's new place with --disk OLD=NEW)", path);
		return -EINVAL;
	}
	fd = open_no_symlinks(path, flags);
	if (fd == -ELOOP) {
		pr_err("disk path '%s' recorded in the snapshot leads through a symbolic link: refusing to follow "
		       "it (give the real file with --disk OLD=NEW)", path);
		return fd;
	}
	if (fd < 0) {
		pr_err("cannot open disk '%s'%s: %s", path, (flags & O_ACCMODE) == O_RDWR ? " for writing" : "",
		       strerror(-fd));
		return fd;
	}
	if (fstat(fd, &after) < 0 || after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
		pr_err("disk '%s' was replaced while it was being opened: refusing it", path);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* The canonical path of the file the user named, checked to be the file open on fd. */
static int canonical_path(int fd, const char *path, char *out)
{
	struct stat a, b;

	if (!realpath(path, out) || stat(out, &a) < 0 || fstat(fd, &b) < 0)
		return -errno;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino ? 0 : -ESTALE;
}

int disk_open(const char *path, bool read_only, bool trusted, enum disk_check check,
	      const struct disk_identity *expect, struct disk_identity *id)
{
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY;
	char canon[PATH_MAX];
	int fd, err;

	if (strlen(path) >= PATH_MAX) {
		pr_err("disk path too long: '%.40s...'", path);
		return -ENAMETOOLONG;
	}
	if (trusted) {
		fd = open(path, flags);
		if (fd < 0) {
			err = -errno;
			pr_err("cannot open disk '%s'%s: %s%s", path, read_only ? "" : " for writing", strerror(-err),
			       !read_only && (err == -EACCES || err == -EROFS) ? " (append ,ro to use it read-only)" : "");
			return err;
		}
		err = canonical_path(fd, path, canon);
		if (err) {
			pr_err("cannot tell where disk '%s' is (its canonical path): %s", path, strerror(-err));
			close(fd);
			return err;
		}
	} else {
		fd = open_untrusted(path, flags, check, expect);
		if (fd < 0)
			return fd;
		snprintf(canon, sizeof(canon), "%s", path);
	}
	err = disk_identity_of(fd, canon, id);
	if (err) {
		pr_err("cannot stat disk '%s': %s", path, strerror(-err));
		close(fd);
		return err;
	}
	/* Before anything is done with the file: the size now, the rest once the saved state says which (restore). */
	if (check != DISK_CHECK_NONE && expect && id->size != expect->size) {
		pr_err("disk '%s' is %llu bytes, the snapshot recorded %llu: a disk must keep its size (the guest "
		       "knows it)", path, (unsigned long long)id->size, (unsigned long long)expect->size);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static void format_time(char *buf, size_t cap, int64_t sec, uint32_t nsec)
{
	time_t t = (time_t)sec;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, cap, "%lld", (long long)sec);
	else
		snprintf(buf + strlen(buf), cap - strlen(buf), ".%09u UTC", nsec);
}

int disk_identity_check(enum disk_check check, const struct disk_identity *saved, const struct disk_identity *now)
{
	char then_s[64], now_s[64];

	if (check == DISK_CHECK_NONE)
		return 0;
	if (saved->size != now->size) {
		pr_err("disk '%s' is %llu bytes, %llu when it was saved: a disk must keep its size (the guest knows it)",
		       now->path, (unsigned long long)now->size, (unsigned long long)saved->size);
		return -EINVAL;
	}
	if (check == DISK_CHECK_SIZE)
		return 0;
	if (saved->dev != now->dev || saved->ino != now->ino) {
		pr_err("disk '%s' is another file than the one saved (device or inode differ): restoring over a "
		       "changed disk corrupts the guest's file system; pass --allow-changed-disk to restore anyway",
		       now->path);
		return -EINVAL;
	}
	if (saved->mtime_sec != now->mtime_sec || saved->mtime_nsec != now->mtime_nsec) {
		format_time(then_s, sizeof(then_s), saved->mtime_sec, saved->mtime_nsec);
		format_time(now_s, sizeof(now_s), now->mtime_sec, now->mtime_nsec);
		pr_err("disk '%s' changed since it was saved (modified %s, saved as of %s): restoring over a changed "
		       "disk corrupts the guest's file system; pass --allow-changed-disk to restore anyway",
		       now->path, now_s, then_s);
		return -EINVAL;
	}
	return 0;
}

int disk_lock(int fd, const char *path, bool read_only)
{
	/* Two writers on one image corrupt it: a lock, shared for read-only use. */
	if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		pr_err("disk '%s' is in use by another process (locked)", path);
		return -EBUSY;
	}
	return 0;
}

void disk_unlock(int fd)
{
	flock(fd, LOCK_UN);
}
