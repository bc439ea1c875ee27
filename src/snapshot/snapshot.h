/*
 * Saving a VM into a snapshot directory and rebuilding one from it. The file
 * format is snapfile.h's; this file decides what goes in it and in which
 * order things are read from KVM and written back. Devices are saved and
 * restored by walking the board's device list.
 */
#ifndef ARMVMM_SNAPSHOT_H
#define ARMVMM_SNAPSHOT_H

#include <stdint.h>

#include "board/board.h"
#include "board/config.h"
#include "snapshot/snapfile.h"

/* What a save reports. */
struct control_snapshot_result {
	uint64_t state_bytes;	/* size of the state file */
	uint64_t memory_bytes;	/* bytes of guest RAM data written (holes excluded) */
	uint64_t ns;		/* time the save took, VM paused */
};

/* Main thread, every vCPU paused: write the snapshot. 0, or -errno after one error line (nothing left behind). */
int snapshot_save(struct board *b, const char *dir, struct control_snapshot_result *res);

/*
 * The pieces a save and a migration share. capture (main thread, every vCPU
 * paused): every device quiesces and syncs, then every section is built
 * (CONF, VCPU per vCPU, GIC, the devices') into a state image, validated as
 * a restore would, in *state (in memory: its mem_fd is -1; snap_reader_close
 * it). header: the snapshot header fields of this VM.
 */
int snapshot_capture(struct board *b, struct snap_reader *state);
/* After a capture (saved, sent, or failed): each device takes up what its quiesce stopped. */
void snapshot_devices_resume(struct board *b);
void snapshot_header(const struct board *b, struct snap_header *h);
/*
 * Build b (board_init'ed) from req->restore_dir: the snapshot is validated,
 * then the machine is built with the saved shape (restored, owned by the
 * caller, receives the configuration; name, script and log level come from
 * req), every piece of state written back, and the VM is ready for its first
 * KVM_RUN.
 */
int snapshot_restore(struct board *b, const struct vm_config *req, struct vm_config *restored);
/*
 * The pieces of a restore a migration's destination shares (r validated by
 * snap_reader_parse/open). conf_load: the CONF section into restored (as
 * board_conf_load). load: on the board built from it, check the irqchip
 * type, the devices and their sections against each other, then put every
 * piece of state back. 0 or -errno after one error line.
 */
/*
 * NETC (the NICs and vsock) into restored, refused under --jail (its network
 * namespace has no taps): snapshot_conf_load's, and a migration's handshake.
 */
int snapshot_netconf_load(struct snap_cursor *c, const struct vm_config *req, struct vm_config *restored);
int snapshot_conf_load(const struct snap_reader *r, const struct vm_config *req, struct vm_config *restored,
		       struct board_conf_expect *expect);
int snapshot_load(struct board *b, const struct snap_reader *r, const struct board_conf_expect *expect);

#endif
