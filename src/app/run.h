/*
 * Running a VM from start to end: "armvmm run" boots one, "armvmm restore"
 * continues one from a snapshot. The main thread's event loop serves stop
 * requests, signals, the control socket and a --script's requests while the
 * vCPU threads run the guest.
 */
#ifndef ARMVMM_APP_RUN_H
#define ARMVMM_APP_RUN_H

#include "board/config.h"

/* Boot (or, with cfg->restore_dir, restore) the configured VM and run it to the end; returns the process exit status. */
int run_vm(const struct vm_config *cfg);

#endif
