/*
 * Receiving a migrating VM ("armvmm restore --incoming ADDR"): wait at ADDR
 * for exactly one source, check its greeting and configuration, build the
 * machine the configuration describes (as a restore does: board_build, with
 * the disks opened but not locked yet), say yes or no, then take guest
 * memory into RAM as it comes and the state sections until the end; take
 * the disks once the source has let go of them, and load the state as a
 * snapshot's (snapshot_load). The caller starts the vCPUs and then confirms.
 */
#ifndef ARMVMM_MIGRATION_RECV_H
#define ARMVMM_MIGRATION_RECV_H

#include <stdint.h>

#include "board/config.h"
#include "migration/net.h"

struct board;

struct mig_incoming {
	int fd;			/* the source, until confirmed */
	struct mig_reader in;	/* frames from it */
	struct mig_addr addr;
	uint64_t pages;		/* received, for the log */
};

/*
 * Receive the VM req->incoming names into b (board_init'ed), its
 * configuration into restored (name, script and log level from req, disks
 * remapped by req's --disk). On success the VM is ready for its first
 * KVM_RUN and in->fd still open. -errno after one error line (the source has
 * been told no, when it can still hear it).
 */
int mig_receive(struct board *b, const struct vm_config *req, struct vm_config *restored, struct mig_incoming *in);
/* The vCPUs run: tell the source, which then lets its copy go. 0, or -errno after one error line. */
int mig_confirm(struct mig_incoming *in);
void mig_incoming_close(struct mig_incoming *in);

#endif
