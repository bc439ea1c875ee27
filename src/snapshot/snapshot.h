/*
 * Saving a VM into a snapshot directory and rebuilding one from it. The file
 * format is snapfile.h's; this file decides what goes in it and in which
 * order things are read from KVM and written back.
 */
#ifndef ARMVMM_SNAPSHOT_H
#define ARMVMM_SNAPSHOT_H

#include "app/control.h"
#include "board/config.h"

struct vm;

/* Main thread, every vCPU paused: write the snapshot. 0, or -errno after one error line (nothing left behind). */
int vm_snapshot_save(struct vm *vm, const char *dir, struct control_snapshot_result *res);
/*
 * Build vm from req->restore_dir: the snapshot is validated, then the VM is
 * created with the saved shape (restored, owned by the caller, receives the
 * configuration; name, script and log level come from req), every piece of
 * state written back, and the VM is ready for its first KVM_RUN.
 */
int snapshot_restore(struct vm *vm, const struct vm_config *req, struct vm_config *restored);

#endif
