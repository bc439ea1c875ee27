/*
 * The KVM side of a virtual machine: /dev/kvm, the VM file descriptor, guest
 * RAM, the vCPUs and their threads, and the two things every thread may ask
 * of the VM (stop, and for the main thread pause/resume). It also owns the
 * MMIO bus vCPU exits are decoded on and the main thread's event loop.
 *
 * Nothing here knows which devices or which interrupt controller the machine
 * has: the board (board/board.c) builds those on top, and hooks the
 * irqchip's per-vCPU work into the vCPU loop through vcpu_enter/vcpu_sync.
 */
#ifndef ARMVMM_CORE_VM_H
#define ARMVMM_CORE_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/eventloop.h"
#include "core/memory.h"
#include "core/mmio.h"
#include "core/vcpu.h"

/* Process exit statuses (documented in man/armvmm.1). */
#define VM_EXIT_POWEROFF 0	/* PSCI SYSTEM_OFF */
#define VM_EXIT_ERROR 1		/* bad input, or KVM/host failure */
#define VM_EXIT_RESET 3		/* PSCI SYSTEM_RESET (restarting comes later) */
#define VM_EXIT_CRASH 4		/* guest crash or an exit the VMM cannot handle */
#define VM_EXIT_SCRIPT 5	/* a --script command failed (the reason is on stderr) */
#define VM_EXIT_SIGNAL_BASE 128	/* + signal number, for SIGINT/SIGTERM/SIGHUP */

struct kvm_run;

struct vm {
	int kvm_fd, vm_fd;
	size_t run_size;
	struct guest_mem mem;
	unsigned int nr_vcpus;
	struct vcpu *vcpus;
	uint64_t *mpidrs;	/* MPIDR_EL1 per vCPU, the one copy: vCPU setup and restore write it; the irqchip and DTB read it */
	uint32_t vcpu_features;	/* KVM_ARM_VCPU_* feature bits every vCPU is initialised with besides PSCI 0.2 (the board's: PMU_V3) */
	struct mmio_bus bus;
	struct eventloop loop;	/* the main thread's */
	bool restoring;		/* built for a snapshot: messages name the snapshot, not the options */

	/*
	 * Per-vCPU work of the interrupt controller, on that vCPU's thread: before
	 * every KVM_RUN and after every return from it (NULL: none).
	 */
	void (*vcpu_enter)(void *opaque, unsigned int cpu);
	void (*vcpu_sync)(void *opaque, unsigned int cpu, const struct kvm_run *run);
	void *vcpu_hook_opaque;

	int stop_fd;		/* eventfd: any thread asks the main thread to end the VM */
	atomic_bool stopping;
	atomic_int exit_status;	/* first stop request wins */

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
};

/* Fresh state: no fds, no vCPUs; the stop eventfd. 0 or -errno after one error line. */
int vm_init(struct vm *vm);
/* Open /dev/kvm and check its API version. */
int vm_open_kvm(struct vm *vm);
/* KVM_CREATE_VM with an IPA space covering RAM [ram_base, +mem_size); checks nr_cpus and PSCI. */
int vm_create(struct vm *vm, uint64_t ram_base, uint64_t mem_size, unsigned int nr_cpus);
/* Guest RAM at ram_base: fresh anonymous memory, or (mem_fd >= 0) a snapshot's memory file mapped copy-on-write. */
int vm_setup_memory(struct vm *vm, uint64_t ram_base, uint64_t mem_size, int mem_fd);
/* nr_cpus vCPUs, secondaries powered off; fills vm->mpidrs. */
int vm_create_vcpus(struct vm *vm, unsigned int nr_cpus);
/* Start one thread per vCPU. */
int vm_start_vcpus(struct vm *vm);
/* Stop and join every vCPU thread (the VM is ending). */
void vm_stop_vcpus(struct vm *vm);
/* Free everything vm_init and the steps above made (safe after any failure). */
void vm_destroy(struct vm *vm);

/* Any thread: end the VM with this exit status (the first request wins). */
void vm_request_stop(struct vm *vm, int status);
/* Main thread: pause every vCPU. 0 and the time taken, or -ESHUTDOWN if the VM is ending. */
int vm_pause(struct vm *vm, uint64_t *ns);
void vm_resume(struct vm *vm);

#endif
