/*
 * PSCI over SMCCC "hvc #0": function id in x0, arguments in x1..x3, result
 * in x0.  x4..x17 may be clobbered by SMCCC 1.0/1.1 hypervisors.
 */
#include "guest.h"

long psci_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
	register uint64_t x0 __asm__("x0") = fn;
	register uint64_t x1 __asm__("x1") = a1;
	register uint64_t x2 __asm__("x2") = a2;
	register uint64_t x3 __asm__("x3") = a3;

	__asm__ __volatile__("hvc #0"
			     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
			     :
			     : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11",
			       "x12", "x13", "x14", "x15", "x16", "x17", "memory");
	return (long)x0;
}

long psci_cpu_on(uint64_t mpidr, uintptr_t entry, uint64_t context)
{
	/* The secondary reads whatever we stored before this with the MMU off. */
	dsb_sy();
	return psci_call(PSCI_CPU_ON_64, mpidr, entry, context);
}

void psci_start_secondaries(const uint64_t *mpidrs, int n, const char *who)
{
	for (int i = 1; i < n; i++) {
		long ret = psci_cpu_on(mpidrs[i], (uintptr_t)secondary_entry, (uint64_t)i);
		if (ret != 0)
			fail("%s: CPU_ON(cpu %d, mpidr 0x%llx) returned %ld (%s)", who, i,
			     (unsigned long long)mpidrs[i], ret, psci_strerror(ret));
	}
}

long psci_cpu_off(void)
{
	dsb_sy();
	return psci_call(PSCI_CPU_OFF, 0, 0, 0);
}

long psci_affinity_info(uint64_t mpidr)
{
	return psci_call(PSCI_AFFINITY_INFO_64, mpidr, 0, 0);
}

void psci_system_off(void)
{
	long ret = psci_call(PSCI_SYSTEM_OFF, 0, 0, 0);

	fail("PSCI SYSTEM_OFF returned %ld (%s)", ret, psci_strerror(ret));
}

void psci_system_reset(void)
{
	long ret = psci_call(PSCI_SYSTEM_RESET, 0, 0, 0);

	/* Nothing better to do than say so and stop. */
	kprintf("FAIL: PSCI SYSTEM_RESET returned %ld (%s)\n", ret, psci_strerror(ret));
	park();
}

const char *psci_strerror(long ret)
{
	switch (ret) {
	case 0: return "SUCCESS";
	case -1: return "NOT_SUPPORTED";
	case -2: return "INVALID_PARAMETERS";
	case -3: return "DENIED";
	case -4: return "ALREADY_ON";
	case -5: return "ON_PENDING";
	case -6: return "INTERNAL_FAILURE";
	case -7: return "NOT_PRESENT";
	case -8: return "DISABLED";
	case -9: return "INVALID_ADDRESS";
	default: return "unknown";
	}
}
