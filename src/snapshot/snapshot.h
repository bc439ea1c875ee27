/*
 * Saving a VM into a snapshot directory and rebuilding one from it. The file
 * format is snapfile.h's; this file decides what goes in it and in which
 * order things are read from KVM and written back. Devices are saved and
 * restored by walking the board's device list.
 */
#ifndef ARMVMM_SNAPSHOT_H
#define ARMVMM_SNAPSHOT_H

#include <stdint.h>

#include "board/config.h"

struct board;

/* What a save reports. */
struct control_snapshot_result {
	uint64_t state_bytes;	/* size of the state file */
	uint64_t memory_bytes;	/* bytes of guest RAM data written (holes excluded) */
	uint64_t ns;		/* time the save took, VM paused */
};

/* Main thread, every vCPU paused: write the snapshot. 0, or -errno after one error line (nothing left behind). */
int snapshot_save(struct board *b, const char *dir, struct control_snapshot_result *res);
/*
 * Build b (board_init'ed) from req->restore_dir: the snapshot is validated,
 * then the machine is built with the saved shape (restored, owned by the
 * caller, receives the configuration; name, script and log level come from
 * req), every piece of state written back, and the VM is ready for its first
 * KVM_RUN.
 */
int snapshot_restore(struct board *b, const struct vm_config *req, struct vm_config *restored);

#endif
