/* vCPUs: creation, registers, and the per-vCPU thread running KVM_RUN. */
#ifndef ARMVMM_CORE_VCPU_H
#define ARMVMM_CORE_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_run;
struct vm;
struct vcpu_saved;

#define MPIDR_EL1_REG ARM64_SYS_REG(3, 0, 0, 0, 5)	/* needs <linux/kvm.h> */

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;	/* under vm->kick_lock: started and not yet joined */
	bool parked;		/* under vm->pause_lock: waiting in vcpu_park() */
	struct vcpu_saved *saved;	/* restore: state kept from phase 1 for phase 3 (snapshot/vcpu_state.c) */
};

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int index);
/* KVM_GET_ONE_REG / KVM_SET_ONE_REG: val holds KVM_REG_SIZE(id) bytes. 0 or -errno (no message). */
int vcpu_get_reg(struct vcpu *vcpu, uint64_t id, void *val);
int vcpu_set_reg(struct vcpu *vcpu, uint64_t id, const void *val);
/* The arm64 boot protocol's entry state: pc, x0 = DTB, x1-x3 = 0, EL1h with DAIF masked. */
int vcpu_set_boot_regs(struct vcpu *vcpu, uint64_t pc, uint64_t dtb_addr);
/* The kicks' SIGUSR1 handler, set once before the first vCPU thread a kick may reach. */
void vcpu_set_kick_handler(void);
int vcpu_start(struct vcpu *vcpu);
/* Wake every parked vCPU thread (stop or resume). */
void vcpu_wake_parked(struct vm *vm);
/* Make the vCPU leave (or not enter) KVM_RUN and look at what was asked of it. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu, size_t run_size);
/* The index of the vCPU whose thread calls this, or UINT_MAX on any other thread. */
unsigned int vcpu_current_index(void);
/* MPIDR_EL1 KVM gives vCPU index i when nothing overrides it (used without /dev/kvm). */
uint64_t vcpu_default_mpidr(unsigned int index);

#endif
