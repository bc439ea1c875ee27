/* Small helpers for file descriptors. */
#ifndef ARMVMM_CORE_FILES_H
#define ARMVMM_CORE_FILES_H

/*
 * Close *fd if it is open (>= 0) and set it to -1, so that calling it again,
 * or from a cleanup path after a partial setup, does nothing. Returns 0, or
 * -errno from close(); either way the descriptor is gone (Linux releases it
 * even when close fails), so it must never be closed again.
 */
int close_fd(int *fd);

#endif
