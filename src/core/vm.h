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
	pthread_cond_t pause_cond;	/* parked count changed, or pause/stop state changed (CLOCK_MONOTONIC) */
	atomic_bool pause_requested;
	unsigned int nr_parked;		/* threads waiting in vcpu_park() */
	bool vcpus_released;		/* under pause_lock: the vCPU threads may enter the guest (vm_start_vcpus) */
	unsigned int nr_live;		/* vCPU threads started and not finished */
	bool paused;			/* main thread's view: every live vCPU is parked */
	/*
	 * Guards every vcpu.thread_started: a kick (any thread) signals a thread
	 * only while it is started and not yet joined (vm_stop_vcpus).
	 */
	pthread_mutex_t kick_lock;

	/* KVM's dirty-page log on guest RAM (a migration's sender thread turns it on and off). */
	bool dirty_logging;
	bool dirty_manual;		/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: pages are write-protected by vm_dirty_log_clear */
};

/* How long vm_pause waits for every vCPU to park before giving up with -ETIMEDOUT. */
#define VM_PAUSE_TIMEOUT_MS 5000u

/* Fresh state: no fds, no vCPUs; the stop eventfd. 0 or -errno after one error line. */
int vm_init(struct vm *vm);
/* Open /dev/kvm and check its API version. */
int vm_open_kvm(struct vm *vm);
/* KVM_CREATE_VM with an IPA space covering RAM [ram_base, +mem_size); checks nr_cpus and PSCI. */
int vm_create(struct vm *vm, uint64_t ram_base, uint64_t mem_size, unsigned int nr_cpus);
/* Guest RAM at ram_base: fresh anonymous memory, or (mem_fd >= 0) a snapshot's memory file mapped copy-on-write. */
int vm_setup_memory(struct vm *vm, uint64_t ram_base, uint64_t mem_size, int mem_fd);
/*
 * nr_cpus vCPUs, secondaries powered off; fills vm->mpidrs. Each vCPU's thread
 * starts here too and enters its sandbox while the rest of the machine is
 * built, then waits for vm_start_vcpus: the filter's installation (a JIT
 * compile in the host kernel) is then off the path to the first guest
 * instruction.
 */
int vm_create_vcpus(struct vm *vm, unsigned int nr_cpus);
/* Let the vCPU threads run the guest. */
int vm_start_vcpus(struct vm *vm);
/*
 * Stop and join every vCPU thread (the VM is ending). Threads are joined only
 * once all of them have left their loops, and no kick reaches a joined one.
 */
void vm_stop_vcpus(struct vm *vm);
/*
 * Free everything vm_init and the steps above made (safe after any failure);
 * vCPU threads stopped first (vm_stop_vcpus: board_destroy does it before the
 * devices go).
 */
void vm_destroy(struct vm *vm);

/* Any thread: end the VM with this exit status (the first request wins). */
void vm_request_stop(struct vm *vm, int status);
/*
 * Main thread: pause every vCPU. 0 and the time taken; -ESHUTDOWN if the VM
 * is ending; -ETIMEDOUT after one error line naming the vCPUs that did not
 * park within VM_PAUSE_TIMEOUT_MS (the VM then runs on as before).
 */
int vm_pause(struct vm *vm, uint64_t *ns);
void vm_resume(struct vm *vm);

/*
 * KVM's log of the pages the guest writes (KVM_MEM_LOG_DIRTY_PAGES on guest
 * RAM), one bit per host page, for migration. Any thread, the vCPUs may run.
 * start: from now on writes are logged (with manual protection where KVM has
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2). fetch: the pages written since the
 * last fetch (automatic mode: KVM clears and write-protects them at once) or
 * since they were last cleared (manual mode) into bitmap
 * (guest_mem_bitmap_bytes() bytes). clear: manual mode, write-protect the
 * pages of bitmap in [first, first + count) again, just before their contents
 * are copied; first a multiple of 64 (nothing to do in automatic mode).
 * stop: no more logging. 0 or -errno after one error line.
 */
int vm_dirty_log_start(struct vm *vm);
int vm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap);
int vm_dirty_log_clear(struct vm *vm, uint64_t *bitmap, uint64_t first, uint64_t count);
int vm_dirty_log_stop(struct vm *vm);

#endif
