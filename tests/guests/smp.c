/*
 * smp.bin: brings up every CPU listed in /cpus with PSCI CPU_ON and checks
 * that each one runs, reports the MPIDR the DTB promised, and turns itself
 * off again with CPU_OFF.
 *
 *   smp: cpus=N
 *   smp: cpu I mpidr 0xX online        (one per CPU, I from 0)
 *   smp: all N cpus online
 */
#include "guest.h"

#define SLOT_DONE_MAGIC 0x600dc0deULL
#define WAIT_MS 2000

/*
 * One slot per CPU, written by that CPU only.  With the MMU off every
 * access is Device-nGnRnE, so plain stores + dsb are enough for CPU 0 to
 * see them; no atomics needed.
 */
struct cpu_slot {
	volatile uint64_t mpidr;
	volatile uint64_t ctx;
	volatile uint64_t done;
	uint64_t pad[5];
};

static struct cpu_slot slots[GUEST_MAX_CPUS];
static uint64_t dt_regs[GUEST_MAX_CPUS];

static void smp_secondary(unsigned long ctx)
{
	struct cpu_slot *s = &slots[ctx];

	s->mpidr = read_mpidr();
	s->ctx = ctx;
	dsb_sy();
	s->done = SLOT_DONE_MAGIC;
	dsb_sy();
	/*
	 * Returning makes secondary_c_entry call CPU_OFF; if that returns it
	 * prints FAIL and resets the VM from this CPU.
	 */
}

void guest_main(uintptr_t dtb)
{
	uint64_t self, deadline;
	int n, i, j, err;

	guest_init(dtb, true);

	err = dt_cpus(&guest_fdt, dt_regs, GUEST_MAX_CPUS, &n);
	if (err < 0)
		fail("smp: cannot read /cpus: %s", fdt_strerror(err));
	if (n < 1)
		fail("smp: /cpus has no cpu@ nodes");
	if (n > GUEST_MAX_CPUS)
		fail("smp: %d cpus in the DTB, this guest supports at most %d", n, GUEST_MAX_CPUS);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (dt_regs[i] == dt_regs[j])
				fail("smp: cpu %d and cpu %d have the same reg 0x%llx", i, j,
				     (unsigned long long)dt_regs[i]);

	kprintf("smp: cpus=%d\n", n);

	self = read_mpidr();
	if (self != dt_regs[0])
		fail("smp: boot cpu mpidr 0x%llx != reg 0x%llx of the first cpu node",
		     (unsigned long long)self, (unsigned long long)dt_regs[0]);
	slots[0].mpidr = self;
	slots[0].ctx = 0;
	slots[0].done = SLOT_DONE_MAGIC;

	secondary_handler = smp_secondary;
	psci_start_secondaries(dt_regs, n, "smp");

	for (i = 1; i < n; i++) {
		deadline = counter_deadline_ms(WAIT_MS);
		while (slots[i].done != SLOT_DONE_MAGIC) {
			if (secondary_bad_ctx)
				fail("smp: a secondary cpu started with context id 0x%llx (x0), "
				     "expected 1..%d",
				     (unsigned long long)(secondary_bad_ctx & ~(1ULL << 63)), n - 1);
			if (counter_passed(deadline))
				fail("smp: cpu %d (mpidr 0x%llx) did not come online within %d ms",
				     i, (unsigned long long)dt_regs[i], WAIT_MS);
		}
		if (slots[i].ctx != (uint64_t)i)
			fail("smp: cpu %d saw context id %llu", i, (unsigned long long)slots[i].ctx);
	}

	for (i = 0; i < n; i++) {
		if (slots[i].mpidr != dt_regs[i])
			fail("smp: cpu %d reports mpidr 0x%llx, DTB reg says 0x%llx", i,
			     (unsigned long long)slots[i].mpidr, (unsigned long long)dt_regs[i]);
		kprintf("smp: cpu %d mpidr 0x%llx online\n", i, (unsigned long long)slots[i].mpidr);
	}

	kprintf("smp: all %d cpus online\n", n);
	psci_system_off();
}
