/*
 * One vCPU's KVM state in a snapshot: every ONE_REG register, the MP state
 * and the vCPU events (a pending SError).
 *
 * Save (the vCPU is out of KVM_RUN): KVM_GET_REG_LIST, then every listed
 * register with KVM_GET_ONE_REG, then KVM_GET_MP_STATE and
 * KVM_GET_VCPU_EVENTS. The ids saved are exactly the ones this host's KVM
 * listed: armvmm never invents or filters register ids.
 *
 * Restore happens in three phases, interleaved with the irqchip's:
 *   1. vcpu_state_restore_regs(), on a fresh vCPU that was KVM_ARM_VCPU_INIT'ed
 *      with the features it booted with (secondaries with POWER_OFF):
 *      - the whole payload is parsed and checked before anything is written,
 *        and its register list must be exactly this vCPU's KVM_GET_REG_LIST
 *        (no register missing on either side: a different list means a
 *        different kind of host or KVM, and guessing is not restoring);
 *      - MPIDR_EL1 first: the GICv3 redistributor and CPU interface state
 *        (phase 2) is addressed by MPIDR, and KVM maps a GICv3 IROUTER
 *        value to a vCPU by MPIDR, so it must be final before the GIC is
 *        touched;
 *      - then every other register except the timer ones (TIMER_CTL,
 *        TIMER_CNT, TIMER_CVAL and the PTIMER_* ones), which are kept.
 *        Every KVM_SET_ONE_REG failure is an error: invariant registers (ID
 *        registers and the like) accept the value they already hold, which
 *        a snapshot from the same kind of host carries.
 *   2. The irqchip restores its state (irqchip_restore()): the vGIC is
 *      initialised (CTRL_INIT) and holds the saved state before any timer
 *      state is applied, so the timer's output level lands in a restored
 *      vGIC instead of being overwritten by it.
 *   3. vcpu_state_restore_timers_mp(): the counters first (TIMER_CNT, then
 *      PTIMER_CNT if KVM lists it), then the compare values (CVAL), then the
 *      controls (CTL). Writing a counter makes KVM change the counter offset;
 *      writing CVAL or CTL first would compare the old value against the
 *      fresh VM's counter, and an old compare value fires at once. Then
 *      KVM_SET_MP_STATE (a powered-off secondary stays STOPPED, a running
 *      one becomes RUNNABLE), then KVM_SET_VCPU_EVENTS (a pending SError is
 *      made pending again last, on a vCPU that is otherwise complete).
 *
 * Time across a snapshot: the guest's virtual counter is restored to the
 * saved value. Virtual time does not advance across the gap between save and
 * restore: the guest resumes as if no time had passed (its wall clock, kept
 * by the guest from the counter, lags by the gap until it resyncs, e.g. from
 * the RTC or NTP). KVM applies a TIMER_CNT write to the whole VM (one
 * offset, stored per vCPU before Linux 6.4 but written to all of them), and
 * each vCPU's payload holds the counter as read when that vCPU was saved, a
 * few microseconds apart: so every vCPU writes the same value, vCPU 0's
 * (likewise PTIMER_CNT where KVM lists it, which moves the physical counter
 * the same way). KVM_ARM_SET_COUNTER_OFFSET is not used.
 *
 * Payload (all little-endian):
 *   u32 nr_regs (1..VCPU_STATE_MAX_REGS)
 *   nr_regs times: u64 id; the value, KVM_REG_SIZE(id) bytes as
 *                  KVM_GET_ONE_REG returned them (at most 256)
 *   u32 mp_state (KVM_MP_STATE_RUNNABLE, _STOPPED or _SUSPENDED)
 *   u8 serror_pending, u8 serror_has_esr, u8 ext_dabt_pending (each 0 or 1)
 *   u64 serror_esr
 */
#include "snapshot/vcpu_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/state.h"
#include "core/log.h"
#include "core/vm.h"

/* The timer registers, in the order phase 3 writes them (counters, compare values, controls). */
static const struct {
	uint64_t id;
	const char *name;
} timer_regs[] = {
	{ KVM_REG_ARM_TIMER_CNT, "TIMER_CNT" },
	{ KVM_REG_ARM_PTIMER_CNT, "PTIMER_CNT" },
	{ KVM_REG_ARM_TIMER_CVAL, "TIMER_CVAL" },
	{ KVM_REG_ARM_PTIMER_CVAL, "PTIMER_CVAL" },
	{ KVM_REG_ARM_TIMER_CTL, "TIMER_CTL" },
	{ KVM_REG_ARM_PTIMER_CTL, "PTIMER_CTL" },
};
#define NR_TIMER_REGS (sizeof(timer_regs) / sizeof(timer_regs[0]))

/* What phase 1 keeps for phase 3. */
struct vcpu_saved {
	bool timer_present[NR_TIMER_REGS];
	uint64_t timer_val[NR_TIMER_REGS];
	uint32_t mp_state;
	struct kvm_vcpu_events events;
};

/* One parsed register: its id and value bytes (an aligned buffer, so ONE_REG can point at it). */
struct saved_reg {
	uint64_t id;
	uint64_t val[VCPU_STATE_MAX_REG_BYTES / sizeof(uint64_t)];
};

struct vcpu_payload {
	unsigned int nr_regs;
	struct saved_reg *regs;
	uint32_t mp_state;
	struct kvm_vcpu_events events;
};

/* KVM_REG_SIZE(): 1 << the id's 4-bit size field, so 1 byte .. 32 KiB. */
static unsigned int reg_size(uint64_t id)
{
	return 1u << (unsigned int)((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
}

/* A readable name for error lines: system registers by their encoding, the rest by class. */
static const char *reg_name(uint64_t id, char *buf, size_t cap)
{
	for (unsigned int i = 0; i < NR_TIMER_REGS; i++)
		if (id == timer_regs[i].id) {
			snprintf(buf, cap, "%s", timer_regs[i].name);
			return buf;
		}
	if (id == MPIDR_EL1_REG) {
		snprintf(buf, cap, "MPIDR_EL1");
		return buf;
	}
	switch (id & KVM_REG_ARM_COPROC_MASK) {
	case KVM_REG_ARM64_SYSREG:
		snprintf(buf, cap, "system register S%u_%u_C%u_C%u_%u",
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_OP0_MASK) >> KVM_REG_ARM64_SYSREG_OP0_SHIFT),
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_OP1_MASK) >> KVM_REG_ARM64_SYSREG_OP1_SHIFT),
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_CRN_MASK) >> KVM_REG_ARM64_SYSREG_CRN_SHIFT),
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_CRM_MASK) >> KVM_REG_ARM64_SYSREG_CRM_SHIFT),
			 (unsigned int)((id & KVM_REG_ARM64_SYSREG_OP2_MASK) >> KVM_REG_ARM64_SYSREG_OP2_SHIFT));
		break;
	case KVM_REG_ARM_CORE:
		snprintf(buf, cap, "core register at offset %u of struct kvm_regs",
			 (unsigned int)(id & 0xffff) * 4u);
		break;
	case KVM_REG_ARM_FW:
		snprintf(buf, cap, "firmware pseudo-register %u", (unsigned int)(id & 0xffff));
		break;
	case KVM_REG_ARM_DEMUX:
		snprintf(buf, cap, "demultiplexed register (CCSIDR %u)", (unsigned int)(id & 0xff));
		break;
	default:
		snprintf(buf, cap, "register");
		break;
	}
	return buf;
}

static int timer_slot(uint64_t id)
{
	for (unsigned int i = 0; i < NR_TIMER_REGS; i++)
		if (timer_regs[i].id == id)
			return (int)i;
	return -1;
}

/* This vCPU's KVM_GET_REG_LIST: 0 and a malloc'ed list (*out, freed by the caller), or -errno after one error line. */
static int get_reg_list(struct vcpu *vcpu, struct kvm_reg_list **out)
{
	struct kvm_reg_list probe = { .n = 0 };
	struct kvm_reg_list *list;

	*out = NULL;
	/* With n = 0 KVM answers E2BIG and stores the number of registers in n. */
	if (ioctl(vcpu->fd, KVM_GET_REG_LIST, &probe) < 0 && errno != E2BIG) {
		int err = errno;
		pr_err("vCPU %u: KVM_GET_REG_LIST failed: %s", vcpu->index, strerror(err));
		return -err;
	}
	if (probe.n == 0 || probe.n > VCPU_STATE_MAX_REGS) {
		pr_err("vCPU %u: KVM reports %llu registers (armvmm handles 1..%u)", vcpu->index,
		       (unsigned long long)probe.n, VCPU_STATE_MAX_REGS);
		return -EINVAL;
	}
	list = calloc(1, sizeof(*list) + probe.n * sizeof(list->reg[0]));
	if (!list) {
		pr_err("vCPU %u: out of memory for the register list", vcpu->index);
		return -ENOMEM;
	}
	list->n = probe.n;
	if (ioctl(vcpu->fd, KVM_GET_REG_LIST, list) < 0) {
		int err = errno;
		pr_err("vCPU %u: KVM_GET_REG_LIST failed: %s", vcpu->index, strerror(err));
		free(list);
		return -err;
	}
	if (list->n != probe.n) {
		pr_err("vCPU %u: KVM_GET_REG_LIST changed size between two calls", vcpu->index);
		free(list);
		return -EINVAL;
	}
	*out = list;
	return 0;
}

int vcpu_state_save(struct vcpu *vcpu, struct snap_buf *b)
{
	struct kvm_reg_list *list;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events ev;
	uint64_t val[VCPU_STATE_MAX_REG_BYTES / sizeof(uint64_t)];
	char name[64];
	int ret = get_reg_list(vcpu, &list);

	if (ret < 0)
		return ret;
	snap_put_u32(b, (uint32_t)list->n);
	for (uint64_t i = 0; i < list->n; i++) {
		uint64_t id = list->reg[i];
		unsigned int size = reg_size(id);
		if (size > VCPU_STATE_MAX_REG_BYTES) {
			pr_err("vCPU %u: register 0x%016llx (%s) is %u bytes long; armvmm saves registers of at most %u bytes",
			       vcpu->index, (unsigned long long)id, reg_name(id, name, sizeof(name)), size,
			       VCPU_STATE_MAX_REG_BYTES);
			free(list);
			return -EINVAL;
		}
		memset(val, 0, sizeof(val));
		ret = vcpu_get_reg(vcpu, id, val);
		if (ret < 0) {
			pr_err("vCPU %u: reading register 0x%016llx (%s) failed: %s", vcpu->index,
			       (unsigned long long)id, reg_name(id, name, sizeof(name)), strerror(-ret));
			free(list);
			return ret;
		}
		snap_put_u64(b, id);
		snap_put_bytes(b, val, size);
	}
	free(list);

	memset(&mp, 0, sizeof(mp));
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0) {
		ret = -errno;
		pr_err("vCPU %u: KVM_GET_MP_STATE failed: %s", vcpu->index, strerror(-ret));
		return ret;
	}
	snap_put_u32(b, mp.mp_state);

	memset(&ev, 0, sizeof(ev));
	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev) < 0) {
		ret = -errno;
		pr_err("vCPU %u: KVM_GET_VCPU_EVENTS failed: %s", vcpu->index, strerror(-ret));
		return ret;
	}
	snap_put_u8(b, ev.exception.serror_pending ? 1 : 0);
	snap_put_u8(b, ev.exception.serror_has_esr ? 1 : 0);
	snap_put_u8(b, ev.exception.ext_dabt_pending ? 1 : 0);
	snap_put_u64(b, ev.exception.serror_esr);
	return 0;
}

/* Parse and check the whole payload; nothing touches KVM. 0, or -EINVAL / -ENOMEM after one error line. */
static int parse_payload(unsigned int index, struct snap_cursor *c, struct vcpu_payload *p)
{
	char what[48];
	uint32_t n = snap_get_u32(c);

	memset(p, 0, sizeof(*p));
	snprintf(what, sizeof(what), "snapshot vCPU %u state", index);
	if (c->err) {
		snap_cursor_done(c, what);
		return -EINVAL;
	}
	if (n == 0 || n > VCPU_STATE_MAX_REGS) {
		pr_err("snapshot vCPU %u: %u registers (expected 1..%u)", index, n, VCPU_STATE_MAX_REGS);
		return -EINVAL;
	}
	p->regs = calloc(n, sizeof(*p->regs));
	if (!p->regs) {
		pr_err("snapshot vCPU %u: out of memory for %u registers", index, n);
		return -ENOMEM;
	}
	p->nr_regs = n;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t id = snap_get_u64(c);
		unsigned int size = reg_size(id);
		if (c->err)
			break;
		if (size > VCPU_STATE_MAX_REG_BYTES) {
			pr_err("snapshot vCPU %u: register 0x%016llx claims %u bytes (at most %u)", index,
			       (unsigned long long)id, size, VCPU_STATE_MAX_REG_BYTES);
			return -EINVAL;
		}
		p->regs[i].id = id;
		snap_get_bytes(c, p->regs[i].val, size);
	}
	p->mp_state = snap_get_u32(c);
	p->events.exception.serror_pending = snap_get_bool(c);
	p->events.exception.serror_has_esr = snap_get_bool(c);
	p->events.exception.ext_dabt_pending = snap_get_bool(c);
	p->events.exception.serror_esr = snap_get_u64(c);
	if (snap_cursor_done(c, what) < 0)
		return -EINVAL;
	if (p->mp_state != KVM_MP_STATE_RUNNABLE && p->mp_state != KVM_MP_STATE_STOPPED &&
	    p->mp_state != KVM_MP_STATE_SUSPENDED) {
		pr_err("snapshot vCPU %u: MP state %u is none of those KVM/arm64 uses", index, p->mp_state);
		return -EINVAL;
	}
	return 0;
}

int vcpu_state_check_payload(unsigned int index, struct snap_cursor *c)
{
	struct vcpu_payload p;
	int ret = parse_payload(index, c, &p);

	free(p.regs);
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The saved register list must be this vCPU's list: same ids, each once.
 * 0, or -EINVAL after one error line naming the first difference.
 */
static int check_reg_list(struct vcpu *vcpu, const struct vcpu_payload *p)
{
	struct kvm_reg_list *host;
	uint64_t *saved;
	int ret = get_reg_list(vcpu, &host);

	if (ret < 0)
		return ret;
	saved = malloc(p->nr_regs * sizeof(*saved));
	if (!saved) {
		pr_err("snapshot vCPU %u: out of memory", vcpu->index);
		free(host);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < p->nr_regs; i++)
		saved[i] = p->regs[i].id;
	qsort(saved, p->nr_regs, sizeof(*saved), cmp_u64);
	qsort(host->reg, host->n, sizeof(host->reg[0]), cmp_u64);

	unsigned int i = 0, j = 0;
	while (ret == 0 && (i < p->nr_regs || j < host->n)) {
		if (i > 0 && i < p->nr_regs && saved[i] == saved[i - 1]) {
			pr_err("snapshot vCPU %u: register 0x%016llx is saved twice", vcpu->index,
			       (unsigned long long)saved[i]);
			ret = -EINVAL;
		} else if (j >= host->n || (i < p->nr_regs && saved[i] < host->reg[j])) {
			pr_err("snapshot vCPU %u: register 0x%016llx is not offered by this host's KVM (snapshot from a different kind of host?)",
			       vcpu->index, (unsigned long long)saved[i]);
			ret = -EINVAL;
		} else if (i >= p->nr_regs || host->reg[j] < saved[i]) {
			pr_err("snapshot vCPU %u: this host's KVM has register 0x%016llx, which the snapshot does not carry (snapshot from a different kind of host?)",
			       vcpu->index, (unsigned long long)host->reg[j]);
			ret = -EINVAL;
		} else {
			i++;
			j++;
		}
	}
	free(saved);
	free(host);
	return ret;
}

static const struct saved_reg *find_reg(const struct vcpu_payload *p, uint64_t id)
{
	for (unsigned int i = 0; i < p->nr_regs; i++)
		if (p->regs[i].id == id)
			return &p->regs[i];
	return NULL;
}

static int restore_one(struct vcpu *vcpu, const struct saved_reg *r)
{
	char name[64];
	int ret = vcpu_set_reg(vcpu, r->id, r->val);

	if (ret < 0)
		pr_err("snapshot vCPU %u: restoring register 0x%016llx (%s) failed: %s%s", vcpu->index,
		       (unsigned long long)r->id, reg_name(r->id, name, sizeof(name)), strerror(-ret),
		       ret == -EINVAL ? " (KVM refused the saved value: snapshot from a different kind of host?)" : "");
	return ret;
}

int vcpu_state_restore_regs(struct vcpu *vcpu, struct snap_cursor *c)
{
	struct vcpu_payload p;
	const struct saved_reg *mpidr;
	struct vcpu_saved *s;
	int ret;

	vcpu_state_free(vcpu);
	ret = parse_payload(vcpu->index, c, &p);
	if (!ret)
		ret = check_reg_list(vcpu, &p);
	if (ret < 0)
		goto out;
	mpidr = find_reg(&p, MPIDR_EL1_REG);
	if (!mpidr) {
		pr_err("snapshot vCPU %u: MPIDR_EL1 is missing", vcpu->index);
		ret = -EINVAL;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		pr_err("snapshot vCPU %u: out of memory", vcpu->index);
		ret = -ENOMEM;
		goto out;
	}
	s->mp_state = p.mp_state;
	s->events = p.events;

	/* MPIDR_EL1 first: the GICv3 state restored next is addressed by it. */
	ret = restore_one(vcpu, mpidr);
	if (ret < 0) {
		free(s);
		goto out;
	}
	vcpu->vm->mpidrs[vcpu->index] = mpidr->val[0];
	for (unsigned int i = 0; i < p.nr_regs; i++) {
		const struct saved_reg *r = &p.regs[i];
		int t = timer_slot(r->id);
		if (r->id == MPIDR_EL1_REG)
			continue;
		if (t >= 0) {
			/* Timer registers wait for phase 3 (after the vGIC state). */
			s->timer_present[t] = true;
			s->timer_val[t] = r->val[0];
			continue;
		}
		ret = restore_one(vcpu, r);
		if (ret < 0) {
			free(s);
			goto out;
		}
	}
	vcpu->saved = s;
out:
	free(p.regs);
	return ret;
}

int vcpu_state_restore_timers_mp(struct vcpu *vcpu)
{
	struct vcpu_saved *s = vcpu->saved;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events ev;
	int ret;

	if (!s) {
		pr_err("vCPU %u: timer and MP state restore without the register restore before it", vcpu->index);
		return -EINVAL;
	}
	/* The VM's counters come from vCPU 0's payload, whichever vCPU writes them. */
	const struct vcpu_saved *counters = s;
	if (vcpu->index != 0 && vcpu->vm && vcpu->vm->vcpus) {
		counters = vcpu->vm->vcpus[0].saved;
		if (!counters) {
			pr_err("vCPU %u: restoring the timers needs vCPU 0's restored state (free it after every vCPU's timers)",
			       vcpu->index);
			return -EINVAL;
		}
	}
	/* Counters, then compare values, then controls: the order of timer_regs[]. */
	for (unsigned int i = 0; i < NR_TIMER_REGS; i++) {
		bool counter = timer_regs[i].id == KVM_REG_ARM_TIMER_CNT || timer_regs[i].id == KVM_REG_ARM_PTIMER_CNT;
		const uint64_t *val = counter ? &counters->timer_val[i] : &s->timer_val[i];
		if (!s->timer_present[i])
			continue;
		if (counter && !counters->timer_present[i]) {
			pr_err("vCPU %u: vCPU 0's snapshot has no %s", vcpu->index, timer_regs[i].name);
			return -EINVAL;
		}
		ret = vcpu_set_reg(vcpu, timer_regs[i].id, val);
		if (ret < 0) {
			pr_err("snapshot vCPU %u: restoring %s (register 0x%016llx) failed: %s", vcpu->index,
			       timer_regs[i].name, (unsigned long long)timer_regs[i].id, strerror(-ret));
			return ret;
		}
	}
	memset(&mp, 0, sizeof(mp));
	mp.mp_state = s->mp_state;
	if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0) {
		ret = -errno;
		pr_err("snapshot vCPU %u: KVM_SET_MP_STATE (%u) failed: %s", vcpu->index, s->mp_state,
		       strerror(-ret));
		return ret;
	}
	/* Padding and reserved fields must be zero: build the struct from the saved fields only. */
	memset(&ev, 0, sizeof(ev));
	ev.exception.serror_pending = s->events.exception.serror_pending;
	ev.exception.serror_has_esr = s->events.exception.serror_has_esr;
	ev.exception.ext_dabt_pending = s->events.exception.ext_dabt_pending;
	ev.exception.serror_esr = s->events.exception.serror_esr;
	if (ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
		ret = -errno;
		pr_err("snapshot vCPU %u: KVM_SET_VCPU_EVENTS failed: %s%s", vcpu->index, strerror(-ret),
		       ret == -EINVAL && ev.exception.serror_pending && ev.exception.serror_has_esr
			       ? " (a pending SError with a syndrome needs the RAS extension on this host)"
			       : "");
		return ret;
	}
	return 0;
}

void vcpu_state_free(struct vcpu *vcpu)
{
	free(vcpu->saved);
	vcpu->saved = NULL;
}
