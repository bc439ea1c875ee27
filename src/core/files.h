/* Small file helpers shared by every layer. */
#ifndef ARMVMM_CORE_FILES_H
#define ARMVMM_CORE_FILES_H

#include <stddef.h>
#include <stdint.h>

/*
 * Close *fd if it is open (>= 0) and set it to -1, so that calling it again,
 * or from a cleanup path after a partial setup, does nothing. Returns 0, or
 * -errno from close(); either way the descriptor is gone (Linux releases it
 * even when close fails), so it must never be closed again.
 */
int close_fd(int *fd);
/*
 * Write all n bytes (write / pwrite at off): short writes and EINTR are
 * retried, a write that makes no progress is -ENOSPC. 0 or -errno, no message.
 */
int write_all(int fd, const void *buf, size_t n);
int pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
/* fsync the directory holding path, so that a rename or create in it is durable. 0 or -errno, no message. */
int fsync_parent_dir(const char *path);
/*
 * Write buf to path atomically: a temporary file next to it, every byte
 * written, fsync, rename, then the directory synced so the rename survives a
 * crash. A failure leaves no file behind. 0, or -errno after one error line.
 */
int write_file_atomic(const char *path, const void *buf, size_t len);

#endif
