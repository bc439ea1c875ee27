/* Small file helpers shared by every layer. */
#ifndef ARMVMM_CORE_FILES_H
#define ARMVMM_CORE_FILES_H

#include <stddef.h>

/*
 * Close *fd if it is open (>= 0) and set it to -1, so that calling it again,
 * or from a cleanup path after a partial setup, does nothing. Returns 0, or
 * -errno from close(); either way the descriptor is gone (Linux releases it
 * even when close fails), so it must never be closed again.
 */
int close_fd(int *fd);
/*
 * Write buf to path atomically: a temporary file next to it, fsync, rename.
 * A failure leaves no file behind. 0, or -errno after one error line.
 */
int write_file_atomic(const char *path, const void *buf, size_t len);

#endif
