/* Small file helpers shared by every layer. */
#include "core/files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

int close_fd(int *fd)
{
	int err = 0;

	if (*fd < 0)
		return 0;
	if (close(*fd) < 0)
		err = -errno;
	*fd = -1;
	return err;
}

/* off < 0: write(); else pwrite() at off. */
static int write_loop(int fd, const uint8_t *p, size_t n, int64_t off)
{
	while (n > 0) {
		ssize_t k = off < 0 ? write(fd, p, n) : pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ENOSPC;
		p += k;
		n -= (size_t)k;
		if (off >= 0)
			off += k;
	}
	return 0;
}

int write_all(int fd, const void *buf, size_t n)
{
	return write_loop(fd, buf, n, -1);
}

int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	return write_loop(fd, buf, n, (int64_t)off);
}

int fsync_parent_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, err = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

int write_file_atomic(const char *path, const void *buf, size_t len)
{
	char tmp[PATH_MAX];
	int fd, err, closed;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		pr_err("cannot write '%s': the path is too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		pr_err("cannot create '%s': %s", tmp, strerror(-err));
		return err;
	}
	err = write_all(fd, buf, len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	closed = close_fd(&fd);
	if (!err)
		err = closed;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		pr_err("writing '%s' failed: %s", path, strerror(-err));
		return err;
	}
	/* The file is complete either way; only its name may not survive a crash. */
	err = fsync_parent_dir(path);
	if (err) {
		pr_err("wrote '%s', but syncing its directory failed: %s", path, strerror(-err));
		return err;
	}
	return 0;
}
