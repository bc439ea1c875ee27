/*
 * The board: an arm64 machine in the shape of kvmtool's (and QEMU's virt)
 * built from a vm_config. It owns the address map (layout.h), decides which
 * devices exist for a configuration, and describes them in the device tree
 * by walking the device list.
 *
 * Booting and restoring build the machine through the same board_build();
 * a boot then loads the kernel (board_boot), a restore loads saved state
 * (snapshot/snapshot.c).
 */
#ifndef ARMVMM_BOARD_H
#define ARMVMM_BOARD_H

#include <stdbool.h>
#include <stdint.h>

#include "board/config.h"
#include "board/layout.h"
#include "core/console_out.h"
#include "core/state.h"
#include "core/vm.h"
#include "devices/device.h"
#include "irqchip/irqchip.h"

struct snap_buf;
struct snap_cursor;
struct snap_kind;

struct board {
	const struct vm_config *cfg;
	struct vm vm;
	struct irqchip irqchip;
	struct device_list devices;
	unsigned int nr_virtio;		/* virtio-mmio slots handed out so far */
	struct net_identity nics[NET_MAX_NICS];	/* what each NIC got: its tap, its MAC (for snapshots) */
	unsigned int nr_nics;
	int console_in_fd, console_out_fd;	/* the host side of the guest console */
	struct console_out console;	/* the console's output buffer and writer thread, onto console_out_fd */
	/* Each disk's absolute path for the CONF section, found before the sandbox (no realpath after). */
	char *disk_abs[VM_MAX_DISKS];
};

/*
 * A fresh board for cfg with its console on these fds (the output through a
 * buffer and writer thread: no device ever blocks on console_out_fd).
 * 0 or -errno after one error line.
 */
int board_init(struct board *b, const struct vm_config *cfg, int console_in_fd, int console_out_fd);
/*
 * Build the machine cfg describes, in this order: KVM VM, RAM (fresh, or
 * mem_fd >= 0: a snapshot's memory file mapped copy-on-write), vCPUs, the
 * irqchip, the devices, the irqchip's initialisation (KVM needs every vCPU
 * and region first), then whatever devices bind to the initialised irqchip.
 * 0 or -errno after one error line.
 */
int board_build(struct board *b, int mem_fd);
/*
 * The devices cfg asks for, on the device list (board_build's step; without
 * KVM, vm.vm_fd is -1 and the devices work without ioeventfds and irqfds).
 */
int board_create_devices(struct board *b);
/*
 * A VM that boots: read the kernel and initrd, plan where they go, build the
 * machine, write the device tree, copy the images and set vCPU 0's boot
 * registers. With cfg->dump_dtb_path the DTB is written there instead and
 * 1 returned (done). 0 when ready to run, -errno after one error line.
 */
int board_boot(struct board *b);
/* Free everything (after the vCPU threads have stopped). */
void board_destroy(struct board *b);

/*
 * Snapshots: the CONF section, what a restore must rebuild before any state
 * goes back (see man/armvmm-snapshot.5). board_conf_load reads it into cfg
 * (name, script and log level from req) and checks it against the snapshot
 * header's vCPU count, RAM and irqchip; after board_build, board_conf_check
 * says whether the machine built is the one saved. -EINVAL after one error line.
 */
struct board_conf_expect {
	uint32_t nr_virtio;
	uint32_t virtio_ids[BOARD_MAX_VIRTIO];
	bool has_rtc;
};
void board_conf_save(const struct board *b, struct snap_buf *buf);
int board_conf_load(struct snap_cursor *c, const struct vm_config *req, unsigned int nr_vcpus, uint64_t mem_gpa,
		    uint64_t mem_size, uint32_t irqchip_type, struct vm_config *cfg, struct board_conf_expect *expect);
int board_conf_check(const struct board *b, const struct board_conf_expect *expect);

/*
 * The network configuration a restore rebuilds: each NIC's tap name, vhost
 * and MAC, and the vsock CID (section NETC, written only when the VM has a
 * NIC or vsock; man/armvmm-snapshot.5). board_netconf_load adds them to cfg
 * after checking every value (names as the kernel takes them, unicast MACs,
 * CIDs in range): the snapshot is untrusted. -EINVAL after one error line.
 */
#define BOARD_SEC_NETCONF SNAP_TAG('N', 'E', 'T', 'C')
bool board_netconf_needed(const struct board *b);
void board_netconf_save(const struct board *b, struct snap_buf *buf);
int board_netconf_load(struct snap_cursor *c, struct vm_config *cfg);

/*
 * The snapshot sections this board's devices may write, for checking a
 * snapshot before anything is built (board/sections.c).
 */
extern const struct snap_kind board_snap_kinds[];
extern const unsigned int board_nr_snap_kinds;

#endif
