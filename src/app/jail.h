/*
 * --jail DIR: armvmm's own jailer. The VM runs in new mount, PID, IPC and
 * network namespaces (and, without root, a new user namespace) with DIR as
 * its root, seeing only what it needs bound in at the same paths as on the
 * host: /dev/kvm, the kernel, the initrd, the disks (read-only ones
 * read-only), a snapshot being restored and the control socket's directory.
 * Then it drops every privilege: as root to --uid/--gid, without root every
 * capability the user namespace gave it. The process that started it stays
 * outside as a small parent that forwards the stop signals and returns the
 * VM's exit status.
 */
#ifndef ARMVMM_JAIL_H
#define ARMVMM_JAIL_H

#include "board/config.h"

/*
 * Enter the jail cfg->jail_dir describes. Paths in cfg are made absolute
 * first (cfg is updated; the strings are owned by the jail and live as long
 * as the process). Returns 0 in the jailed process (build and run the VM),
 * 1 in the parent once the VM's process ended (*status: its exit status), or
 * -errno after one error line (nothing was started).
 */
int jail_enter(struct vm_config *cfg, int *status);

#endif
