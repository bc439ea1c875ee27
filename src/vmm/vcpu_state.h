/* TEMPORARY (lead's copy until wt-kgic lands) */
#ifndef ARMVMM_VCPU_STATE_H
#define ARMVMM_VCPU_STATE_H
struct vcpu;
struct snap_buf;
struct snap_cursor;
int vcpu_state_save(struct vcpu *vcpu, struct snap_buf *b);
int vcpu_state_restore_regs(struct vcpu *vcpu, struct snap_cursor *c);
int vcpu_state_restore_timers_mp(struct vcpu *vcpu);
void vcpu_state_free(struct vcpu *vcpu);
#endif
