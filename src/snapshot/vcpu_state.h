/*
 * Saving and restoring one vCPU's KVM state (registers, timers, MP state,
 * pending SError) for snapshots. The order restore must follow, and why, is
 * at the top of vcpu_state.c; the payload layout is in man/armvmm-snapshot.5.
 */
#ifndef ARMVMM_VCPU_STATE_H
#define ARMVMM_VCPU_STATE_H

struct vcpu;
struct snap_buf;
struct snap_cursor;

/* Bounds for hostile snapshots (far above what KVM reports without SVE). */
#define VCPU_STATE_MAX_REGS 4096u
#define VCPU_STATE_MAX_REG_BYTES 256u	/* the largest ONE_REG (an SVE Z register at 2048 bits) */

/*
 * Append the vCPU's state to b: every register KVM_GET_REG_LIST offers on
 * this host, then MP state and vCPU events. The vCPU must be out of KVM_RUN.
 * 0, or -errno after one error line.
 */
int vcpu_state_save(struct vcpu *vcpu, struct snap_buf *b);

/*
 * Restore phase 1, on a freshly created vCPU (KVM_ARM_VCPU_INIT'ed with the
 * features it booted with, secondaries with POWER_OFF): validate the whole
 * payload, check the register list against this vCPU's, write MPIDR_EL1 (and
 * update vm->mpidrs[index]), then every register but the timer ones. The timer
 * values, MP state and events are kept in vcpu->saved for phase 3.
 * 0, or -EINVAL / -errno after one error line.
 */
int vcpu_state_restore_regs(struct vcpu *vcpu, struct snap_cursor *c);

/*
 * Restore phase 3, after the irqchip state was restored: timer counter,
 * compare value and control, then MP state, then vCPU events. The counter
 * written is vCPU 0's saved one on every vCPU, so vCPU 0's phase 1 state must
 * still be held: call vcpu_state_free() only after every vCPU's phase 3.
 */
int vcpu_state_restore_timers_mp(struct vcpu *vcpu);

/*
 * Parse and check a payload as phase 1 does first, touching no KVM (for tests
 * and fuzzing). 0, or -EINVAL / -ENOMEM after one error line.
 */
int vcpu_state_check_payload(unsigned int index, struct snap_cursor *c);

/* Free what phase 1 kept in vcpu->saved (safe to call twice, or without phase 1). */
void vcpu_state_free(struct vcpu *vcpu);

#endif
