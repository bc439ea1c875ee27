#include "core/files.h"

#include <errno.h>
#include <unistd.h>

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
