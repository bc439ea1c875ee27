/*
 * The KVM snapshot payload parsers, without KVM: the in-kernel GICv2/GICv3
 * state (gic_kvm_state.c through the backends' restore op) and the vCPU
 * state (vcpu_state.c). With no device or vCPU fd (-1), a payload that
 * parses reaches the first KVM call and fails there (-ENODEV for the GIC,
 * the ioctl's error for the vCPU); a payload that does not parse fails with -EINVAL
 * before it. The sizes below are the layouts in man/armvmm-snapshot.5.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/kvm.h>

#include "board/layout.h"
#include "irqchip/irqchip.h"
#include "core/state.h"
#include "snapshot/vcpu_state.h"
#include "core/vm.h"

/* GICv2: 68 shared u32, 34 u32 per vCPU, after the two u32 counts. */
static size_t v2_size(unsigned int cpus) { return 8 + 4 * 68 + 4 * 34 * (size_t)cpus; }
/* GICv3: 50 shared u32 and 96 u64 (IROUTER); per vCPU 19 u32 and 17 u64. */
static size_t v3_size(unsigned int cpus) { return 8 + 4 * 50 + 8 * 96 + (4 * 19 + 8 * 17) * (size_t)cpus; }

/* With an ITS, 14 u64 ITS registers follow the GICv3's. */
static size_t its_size(unsigned int cpus) { return v3_size(cpus) + 8 * 14; }

static void layout(struct irqchip *ic, enum irqchip_type type, unsigned int cpus)
{
	struct irqchip_params p = { .vm_fd = -1, .nr_cpus = cpus, .dist_base = BOARD_GIC_DIST_BASE,
				    .its_base = BOARD_GIC_ITS_BASE(cpus) };

	irqchip_layout(ic, type, &p);
}

static uint8_t *gic_payload(size_t size, uint32_t cpus, uint32_t irqs)
{
	uint8_t *p = calloc(1, size + 8);
	memcpy(p, &cpus, 4);
	memcpy(p + 4, &irqs, 4);
	return p;
}

static int gic_restore(enum irqchip_type type, unsigned int cpus, const uint8_t *p, size_t len)
{
	static const uint64_t mpidrs[8] = { 0x80000000, 0x80000001, 0x80000002, 0x80000003,
					    0x80000004, 0x80000005, 0x80000006, 0x80000007 };
	struct irqchip ic;
	struct snap_cursor c = { .p = p, .len = len };

	layout(&ic, type, cpus);
	ic.mpidrs = mpidrs;
	return irqchip_restore(&ic, &c);
}

static void test_gicv2_layout(void **state)
{
	(void)state;
	for (unsigned int cpus = 1; cpus <= 8; cpus++) {
		size_t n = v2_size(cpus);
		uint8_t *p = gic_payload(n, cpus, IRQCHIP_NR_IRQS);
		assert_int_equal(gic_restore(IRQCHIP_GICV2_KVM, cpus, p, n), -ENODEV);
		assert_int_equal(gic_restore(IRQCHIP_GICV2_KVM, cpus, p, n - 1), -EINVAL);
		assert_int_equal(gic_restore(IRQCHIP_GICV2_KVM, cpus, p, n + 4), -EINVAL);
		free(p);
	}
}

static void test_gicv2_counts_checked(void **state)
{
	size_t n = v2_size(2);
	uint8_t *p;

	(void)state;
	p = gic_payload(n, 3, IRQCHIP_NR_IRQS);
	assert_int_equal(gic_restore(IRQCHIP_GICV2_KVM, 2, p, n), -EINVAL);
	free(p);
	p = gic_payload(n, 2, IRQCHIP_NR_IRQS + 32);
	assert_int_equal(gic_restore(IRQCHIP_GICV2_KVM, 2, p, n), -EINVAL);
	free(p);
	assert_int_equal(gic_restore(IRQCHIP_GICV2_KVM, 2, (const uint8_t *)"", 0), -EINVAL);
}

static void test_gicv3_layout(void **state)
{
	(void)state;
	for (unsigned int cpus = 1; cpus <= 8; cpus++) {
		size_t n = v3_size(cpus);
		uint8_t *p = gic_payload(n, cpus, IRQCHIP_NR_IRQS);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_KVM, cpus, p, n), -ENODEV);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_KVM, cpus, p, n - 1), -EINVAL);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_KVM, cpus, p, n + 8), -EINVAL);
		free(p);
		p = gic_payload(n, cpus + 1, IRQCHIP_NR_IRQS);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_KVM, cpus, p, n), -EINVAL);
		free(p);
	}
}

/* With 2 vCPUs: ICC_CTLR_EL1 of vCPU 0 at 1176, ICC_AP0R1_EL1 of vCPU 0 at 1248. */
static void test_gicv3_aprs_follow_pribits(void **state)
{
	size_t n = v3_size(2);
	uint8_t *p = gic_payload(n, 2, IRQCHIP_NR_IRQS);
	uint64_t one = 1, ctlr_6bits = 5u << 8;

	(void)state;
	assert_int_equal(n, 1400);
	memcpy(p + 1248, &one, 8);
	/* PRIbits field 0: one APR each, so AP0R1 must be zero. */
	assert_int_equal(gic_restore(IRQCHIP_GICV3_KVM, 2, p, n), -EINVAL);
	/* 6 priority bits: AP0R0 and AP0R1 exist. */
	memcpy(p + 1176, &ctlr_6bits, 8);
	assert_int_equal(gic_restore(IRQCHIP_GICV3_KVM, 2, p, n), -ENODEV);
	free(p);
}

/*
 * GICv3 with an ITS: the ITS registers (IIDR, TYPER, CBASER, CREADR,
 * CWRITER, BASER0-7, CTLR) follow the GICv3 payload; each must be there, and
 * command queue offsets and GITS_CTLR are checked before KVM is touched.
 */
static void test_gicv3_its_layout(void **state)
{
	(void)state;
	for (unsigned int cpus = 1; cpus <= 4; cpus++) {
		size_t n = its_size(cpus), its = v3_size(cpus);
		uint8_t *p = gic_payload(n, cpus, IRQCHIP_NR_IRQS);
		uint64_t cbaser_1page = 1ull << 63, off;

		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, n), -ENODEV);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, n - 1), -EINVAL);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, n + 8), -EINVAL);
		/* A GICv3 payload without its ITS part, and an ITS part on a GICv3 without one. */
		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, its), -EINVAL);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_KVM, cpus, p, n), -EINVAL);
		/* One 4 KiB queue page: CWRITER 0xfe0 is its last command, 0x1000 is past it, 0x10 not a command. */
		memcpy(p + its + 2 * 8, &cbaser_1page, 8);
		off = 0xfe0;
		memcpy(p + its + 4 * 8, &off, 8);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, n), -ENODEV);
		off = 0x1000;
		memcpy(p + its + 4 * 8, &off, 8);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, n), -EINVAL);
		off = 0x10;
		memcpy(p + its + 3 * 8, &off, 8);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, n), -EINVAL);
		memset(p + its + 3 * 8, 0, 16);
		/* GITS_CTLR: Enabled and Quiescent only. */
		off = 0x80000001;
		memcpy(p + its + 13 * 8, &off, 8);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, n), -ENODEV);
		off = 0x2;
		memcpy(p + its + 13 * 8, &off, 8);
		assert_int_equal(gic_restore(IRQCHIP_GICV3_ITS_KVM, cpus, p, n), -EINVAL);
		free(p);
	}
}

static void test_unsupported_backends(void **state)
{
	struct irqchip ic;
	struct snap_buf b = { 0 };

	(void)state;
	layout(&ic, IRQCHIP_GICV2_LEGACY, 1);
	assert_int_equal(irqchip_save(&ic, &b), -EOPNOTSUPP);
	layout(&ic, IRQCHIP_GICV2_KVM, 1);
	assert_int_equal(irqchip_save(&ic, &b), -ENODEV);	/* no device fd: nothing to read */
	snap_buf_free(&b);
}

/* A vCPU payload: regs as (id, value) pairs of 8-byte registers, then MP state and events. */
static size_t vcpu_payload(uint8_t *p, uint32_t nr, const uint64_t *ids, uint32_t mp, uint8_t serror)
{
	size_t o = 0;
	uint64_t zero = 0;

	memcpy(p + o, &nr, 4), o += 4;
	for (uint32_t i = 0; i < nr; i++) {
		memcpy(p + o, &ids[i], 8), o += 8;
		memset(p + o, 0, 8), o += 8;
	}
	memcpy(p + o, &mp, 4), o += 4;
	p[o++] = serror;
	p[o++] = 0;
	p[o++] = 0;
	memcpy(p + o, &zero, 8), o += 8;
	return o;
}

static int vcpu_restore(const uint8_t *p, size_t len)
{
	struct vcpu v;
	struct snap_cursor c = { .p = p, .len = len };
	int ret;

	memset(&v, 0, sizeof(v));
	v.fd = -1;
	v.index = 1;
	ret = vcpu_state_restore_regs(&v, &c);
	assert_null(v.saved);
	vcpu_state_free(&v);
	return ret;
}

static void test_vcpu_payload(void **state)
{
	static const uint64_t ids[] = { ARM64_SYS_REG(3, 0, 0, 0, 5), KVM_REG_ARM_TIMER_CNT };
	uint8_t p[256];
	size_t n;
	int ret;

	(void)state;
	n = vcpu_payload(p, 2, ids, KVM_MP_STATE_STOPPED, 0);
	/* Parsed: KVM_GET_REG_LIST on fd -1 fails next (EBADF; qemu-user says ENOSYS). */
	ret = vcpu_restore(p, n);
	assert_true(ret < 0 && ret != -EINVAL);
	assert_int_equal(vcpu_restore(p, n - 1), -EINVAL);
	assert_int_equal(vcpu_restore(p, n + 1), -EINVAL);
	n = vcpu_payload(p, 2, ids, 3 /* HALTED: not arm64 */, 0);
	assert_int_equal(vcpu_restore(p, n), -EINVAL);
	n = vcpu_payload(p, 2, ids, KVM_MP_STATE_RUNNABLE, 2 /* not a bool */);
	assert_int_equal(vcpu_restore(p, n), -EINVAL);
	n = vcpu_payload(p, 0, ids, KVM_MP_STATE_RUNNABLE, 0);
	assert_int_equal(vcpu_restore(p, n), -EINVAL);
}

static void test_vcpu_payload_bounds(void **state)
{
	uint8_t p[64];
	uint32_t many = VCPU_STATE_MAX_REGS + 1, one = 1;
	uint64_t huge = KVM_REG_ARM64 | 0x0090000000000000ull;	/* size field 9: 512 bytes */
	struct vcpu v;

	(void)state;
	memcpy(p, &many, 4);
	assert_int_equal(vcpu_restore(p, sizeof(p)), -EINVAL);
	memcpy(p, &one, 4);
	memcpy(p + 4, &huge, 8);
	assert_int_equal(vcpu_restore(p, sizeof(p)), -EINVAL);
	/* Phase 3 without phase 1 is refused. */
	memset(&v, 0, sizeof(v));
	v.fd = -1;
	assert_int_equal(vcpu_state_restore_timers_mp(&v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gicv2_layout),
		cmocka_unit_test(test_gicv2_counts_checked),
		cmocka_unit_test(test_gicv3_layout),
		cmocka_unit_test(test_gicv3_aprs_follow_pribits),
		cmocka_unit_test(test_gicv3_its_layout),
		cmocka_unit_test(test_unsupported_backends),
		cmocka_unit_test(test_vcpu_payload),
		cmocka_unit_test(test_vcpu_payload_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
