/*
 * What a VM is made of: the configuration "armvmm run" builds from its options
 * (app/options.c) and a restore rebuilds from a snapshot's CONF section.
 * The board (board.c) turns it into a machine.
 */
#ifndef ARMVMM_BOARD_CONFIG_H
#define ARMVMM_BOARD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "board/layout.h"
#include "core/log.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_net.h"
#include "irqchip/irqchip.h"

#define VM_DEFAULT_MEM_MIB 256u
/* RAM starts at 2 GiB and a 48-bit IPA space is the architectural ceiling. */
#define VM_MAX_MEM_MIB (((1ull << 48) - BOARD_RAM_BASE) >> 20)
#define VM_MAX_CPUS_OPTION 4096u /* a sanity bound; KVM_CAP_MAX_VCPUS is the real limit */

enum console_type { CONSOLE_SERIAL, CONSOLE_VIRTIO };

struct vm_config {
	const char *kernel_path;
	const char *initrd_path;
	const char *cmdline;	/* user's -p, may be NULL */
	const char *dump_dtb_path;
	unsigned int nr_cpus;
	uint64_t mem_size;	/* bytes */
	enum irqchip_request irqchip;
	enum log_level loglevel;
	bool nodefaults;	/* no virtio-rng, no RTC, and the command line exactly as given */
	bool pmu;		/* --pmu: every vCPU gets a PMUv3 */
	enum console_type console;
	struct disk_config disks[VM_MAX_DISKS];
	unsigned int nr_disks;
	struct net_config nics[NET_MAX_NICS];	/* --network mode=tap,... */
	unsigned int nr_nics;
	uint32_t vsock_cid;		/* --vsock CID; 0: no vsock device */
	const char *name;		/* --name: listen on the control socket of that name */
	const char *script_path;	/* --script: drive the console from a script */
	unsigned int script_start;	/* first script command to run (a migrated run continues) */
	const char *script_input;	/* console input a migrated run sends before anything else */
	const char *script_restored;	/* a migrated run creates this file once the VM is restored */
	const char *restore_dir;	/* "armvmm restore DIR": the snapshot to continue */
	const char *incoming;		/* "armvmm restore --incoming ADDR": wait there for a migrating VM */
	/* Restoring: --disk OLD=NEW (the saved disk OLD is at NEW now), --allow-changed-disk. */
	struct disk_remap {
		const char *from, *to;
	} disk_remaps[VM_MAX_DISKS];
	unsigned int nr_disk_remaps;
	bool allow_changed_disks;
	/* How the process runs (app/): none of these shape the machine or go into a snapshot. */
	bool sandbox_off;		/* --sandbox=off: no seccomp filters */
	const char *jail_dir;		/* --jail DIR: namespaces with DIR as the root */
	long jail_uid, jail_gid;	/* --uid / --gid to drop to in the jail, or -1 */
};

#endif
