/*
 * The virtual machine: one struct owning every piece of VM state. main()
 * calls vm_main(); everything else happens in the order vm_main() shows.
 */
#ifndef ARMVMM_VM_H
#define ARMVMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/uart_8250.h"
#include "devices/pl031.h"
#include "devices/virtio_mmio.h"
#include "irqchip/irqchip.h"
#include "app/control.h"
#include "core/eventloop.h"
#include "core/memory.h"
#include "core/mmio.h"
#include "board/config.h"

/* Process exit statuses (documented in man/armvmm.1). */
#define VM_EXIT_POWEROFF 0	/* PSCI SYSTEM_OFF */
#define VM_EXIT_ERROR 1		/* bad input, or KVM/host failure */
#define VM_EXIT_RESET 3		/* PSCI SYSTEM_RESET (restarting comes later) */
#define VM_EXIT_CRASH 4		/* guest crash or an exit the VMM cannot handle */
#define VM_EXIT_SCRIPT 5	/* a --script command failed (the reason is on stderr) */
#define VM_EXIT_SIGNAL_BASE 128	/* + signal number, for SIGINT/SIGTERM/SIGHUP */

/*
 * Interrupt and MMIO assignments (kvmtool-compatible window from 0x0100_0000).
 * SPI n is INTID 32 + n.
 */
#define UART_SPI 0u
#define RTC_SPI 1u
#define GUEST_RTC_BASE 0x01010000ull
#define VIRTIO_MMIO_WINDOW 0x03000000ull	/* kvmtool's virtio-mmio window (48 MiB), one device per 0x200 */
#define VIRTIO_FIRST_SPI 16u
#define VM_MAX_VIRTIO 16u

struct kvm_run;
struct vm;
struct script;
struct vcpu_saved;

struct vm_ioeventfd {
	struct virtio_mmio *t;
	unsigned int queue;
	int fd;
};

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	struct vcpu_saved *saved;	/* restore: state kept from phase 1 for phase 3 (vcpu_state.c) */
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd, vm_fd;
	struct guest_mem mem;
	size_t run_size;
	unsigned int nr_vcpus;
	struct vcpu *vcpus;
	struct irqchip irqchip;
	struct mmio_bus bus;
	struct uart_8250 uart;
	struct pl031 rtc;
	bool has_rtc;
	struct eventloop loop;		/* the main thread's */
	struct virtio_mmio *virtio[VM_MAX_VIRTIO];
	unsigned int nr_virtio;
	struct vm_ioeventfd ioeventfds[VM_MAX_VIRTIO * VIRTIO_MAX_QUEUES];
	unsigned int nr_ioeventfds;
	int stdin_id;			/* event loop entry of the UART's input, or -1 */
	bool stdin_waiting;		/* input paused until the UART FIFO has room */
	int stop_fd;		/* eventfd: a vCPU thread asks the main thread to end the VM */
	int rx_space_fd;	/* eventfd: the UART has room for input again */
	atomic_bool stopping;
	atomic_int exit_status;	/* first stop request wins */
	uint64_t *mpidrs;	/* MPIDR_EL1 per vCPU, the one copy: vCPU setup and restore write it; the irqchip and DTB read it */

	/*
	 * Pausing: vCPU threads park outside KVM_RUN (after completing any MMIO
	 * exit) until resumed; the main thread waits for all of them. Snapshots
	 * and "armvmm pause" use it.
	 */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;	/* parked count changed, or pause/stop state changed */
	atomic_bool pause_requested;
	unsigned int nr_parked;		/* threads waiting in vcpu_park() */
	unsigned int nr_live;		/* vCPU threads started and not finished */
	bool paused;			/* main thread's view: every live vCPU is parked */

	int console_in_fd, console_out_fd;	/* the host side of the guest console */
	struct control_server ctl;
	struct script *script;		/* --script, or NULL */
	int script_req_fd;		/* eventfd: the script thread asks the main thread to act */
	char migrate_dir[4096];		/* set when a script migrates: restore this after teardown */
	unsigned int migrate_script_start;
	bool restoring;			/* built from a snapshot: no boot images */
	uint64_t restore_t0_ns;		/* CLOCK_MONOTONIC when the restore began */
};

/* Pause and resume every vCPU (main thread). pause: 0 and the time taken, or -ESHUTDOWN if the VM is ending. */
int vm_pause(struct vm *vm, uint64_t *ns);
void vm_resume(struct vm *vm);

/* Boot (or, with cfg->restore_dir, restore) the configured VM and run it to the end; returns the process exit status. */
int vm_main(const struct vm_config *cfg);
/* Any thread: end the VM with this exit status (the first request wins). */
void vm_request_stop(struct vm *vm, int status);

/*
 * Give a virtio device a transport: the next MMIO slot and SPI, an ioeventfd
 * per queue where KVM offers them, an irqfd for its SPI with an in-kernel GIC.
 * Called while the VM is being built; the device tree lists every transport.
 */
struct virtio_mmio *vm_add_virtio_device(struct vm *vm, const struct virtio_device_ops *ops, void *dev);

/* The building steps vm_main and the snapshot restore share (vm.c), in the order they run. */
int vm_open_kvm(struct vm *vm);
int vm_create_kvm_vm(struct vm *vm);
int vm_setup_memory(struct vm *vm, int mem_fd);	/* mem_fd >= 0: map a snapshot's memory file */
int vm_create_vcpus(struct vm *vm);
/* irqchip_create for this VM's vCPUs, then point the irqchip at vm->mpidrs. */
int vm_create_irqchip(struct vm *vm);
int vm_setup_devices(struct vm *vm);
void vm_connect_irqfds(struct vm *vm);
/* Main thread: pause, save into dir, then resume (or stop with stop). msg: one line on failure. */
int vm_snapshot_request(struct vm *vm, const char *dir, bool stop, struct control_snapshot_result *res, char *msg,
			size_t msg_cap);

/* vcpu.c */
#define MPIDR_EL1_REG ARM64_SYS_REG(3, 0, 0, 0, 5)	/* needs <linux/kvm.h> */
int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int index);
/* KVM_GET_ONE_REG / KVM_SET_ONE_REG: val holds KVM_REG_SIZE(id) bytes. 0 or -errno (no message). */
int vcpu_get_reg(struct vcpu *vcpu, uint64_t id, void *val);
int vcpu_set_reg(struct vcpu *vcpu, uint64_t id, const void *val);
int vcpu_set_boot_regs(struct vcpu *vcpu, uint64_t pc, uint64_t dtb_addr);
int vcpu_start(struct vcpu *vcpu);
/* Wake every parked vCPU thread (stop or resume). */
void vcpu_wake_parked(struct vm *vm);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu, size_t run_size);
/* The index of the vCPU whose thread calls this, or UINT_MAX on any other thread. */
unsigned int vcpu_current_index(void);
/* MPIDR_EL1 KVM gives vCPU index i when nothing overrides it (used without /dev/kvm). */
uint64_t vcpu_default_mpidr(unsigned int index);

#endif
