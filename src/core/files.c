/* Small file helpers shared by every layer. */
#include "core/files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
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

int write_file_atomic(const char *path, const void *buf, size_t len)
{
	char tmp[PATH_MAX];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		pr_err("cannot create '%s': %s", tmp, strerror(err));
		return -err;
	}
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0)
		err = errno ? errno : EIO;
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err) {
		unlink(tmp);
		pr_err("writing '%s' failed: %s", path, strerror(err));
		return -err;
	}
	return 0;
}
