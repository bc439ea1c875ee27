/*
 * sgi.bin: software-generated interrupts between all vCPUs of a GICv2.
 *
 * Every CPU listed in /cpus is started with PSCI CPU_ON; all of them run the
 * same rounds, separated by barriers, with interrupts masked at PSTATE and
 * GICC_IAR polled:
 *   - list:   GICD_SGIR TargetListFilter 0, one write per other CPU (SGI 1)
 *             and one write naming every CPU including itself (SGI 2);
 *   - others: filter 1 with a CPUTargetList of all ones, which must be
 *             ignored: every other CPU gets SGI 3, the sender does not;
 *   - self:   filter 2 with a CPUTargetList naming the others, ignored too:
 *             only the sender gets SGI 4.
 * A receiver takes every SGI from GICC_IAR, records (SGI number, source CPU
 * ID from IAR bits [12:10]) and writes the IAR value back to GICC_EOIR.
 * After the rounds and a quiet period CPU 0 checks every receiver's counts
 * against what was sent: exactly one delivery per (round, SGI, source).
 *
 * Then each CPU, on its own banked registers, sets SGIs pending "from"
 * other CPUs with GICD_SPENDSGIR, sees them in GICD_SPENDSGIR/ISPENDR0 and
 * in GICC_IAR with that source, and clears some with GICD_CPENDSGIR, which
 * must not be delivered.
 *
 *   sgi: cpus=N
 *   sgi: filter list ok
 *   sgi: filter others ok
 *   sgi: filter self ok
 *   sgi: spendsgir/cpendsgir ok
 *   sgi: all N cpus exchanged M sgis ok
 */
#include "gic.h"

#define MAX_CPUS 8		/* GICv2: 8 CPU interfaces */
#define ROUNDS 3
#define SGI_LIST_ONE 1
#define SGI_LIST_ALL 2
#define SGI_OTHERS 3
#define SGI_SELF 4
#define SGI_SPEND_A 5
#define SGI_SPEND_B 6
#define SGI_SPEND_C 7
#define SGI_PRIO 0xa0
#define WAIT_MS 10000		/* any one wait; generous for 8 vCPUs on a busy host */
#define QUIET_MS 20
#define SETTLE_MS 50

#define STARTED_MAGIC 0x5161600dULL

/* Everything shared is written by one CPU only (no atomics with the MMU off). */
struct cpu_state {
	volatile uint64_t started;
	volatile uint64_t arrived;	/* barrier generation reached */
	volatile uint64_t finished;
	volatile uint32_t mask;		/* GIC CPU interface bit */
	volatile uint32_t unexpected;	/* first IAR that was not an SGI, + 1 */
	/* deliveries by SGI number and source CPU interface number */
	volatile uint32_t recv[16][MAX_CPUS];
	uint64_t pad[4];
};

static struct gic gic;
static int ncpus;
static uint64_t dt_regs[GUEST_MAX_CPUS];
static struct cpu_state cpu[MAX_CPUS];

static unsigned mask_to_id(uint32_t mask)
{
	unsigned id = 0;

	while (id < 8 && !(mask & (1U << id)))
		id++;
	return id;
}

/* All CPUs reach generation `gen` (each CPU passes 1, 2, 3, ... in order). */
static void barrier(int me, uint64_t gen, const char *what)
{
	uint64_t deadline;
	int i;

	cpu[me].arrived = gen;
	cpu_sev();
	deadline = counter_deadline_ms(WAIT_MS);
	for (i = 0; i < ncpus; i++) {
		while (cpu[i].arrived < gen) {
			if (counter_passed(deadline))
				fail("sgi: cpu %d waited %d ms for cpu %d at barrier %llu (%s)", me,
				     WAIT_MS, i, (unsigned long long)gen, what);
			cpu_relax();
		}
	}
}

/* One GICC_IAR read; an SGI is counted and ended.  Returns true if something came. */
static bool take_one(int me)
{
	uint32_t iar = gicv2_read_iar(&gic);
	unsigned intid = GICV2_IAR_INTID(iar);

	if (gic_intid_spurious(intid))
		return false;
	if (intid >= 16) {
		if (!cpu[me].unexpected)
			cpu[me].unexpected = iar + 1;
		gicv2_write_eoir(&gic, iar);
		fail("sgi: cpu %d acknowledged INTID %u (IAR 0x%x), expected only SGIs", me, intid, iar);
	}
	cpu[me].recv[intid][GICV2_IAR_CPUID(iar)]++;
	gicv2_write_eoir(&gic, iar);
	return true;
}

static uint32_t sum_recv(int me, unsigned sgi)
{
	uint32_t n = 0;
	int s;

	for (s = 0; s < MAX_CPUS; s++)
		n += cpu[me].recv[sgi][s];
	return n;
}

/* Takes SGIs until `sgi` has been received `want` times in total. */
static void receive(int me, unsigned sgi, uint32_t want, const char *what)
{
	uint64_t deadline = counter_deadline_ms(WAIT_MS);

	while (sum_recv(me, sgi) < want) {
		if (take_one(me))
			continue;
		if (counter_passed(deadline))
			fail("sgi: cpu %d received %u of %u SGI %u (%s) within %d ms", me,
			     sum_recv(me, sgi), want, sgi, what, WAIT_MS);
		cpu_relax();	/* senders sev; the event stream bounds it anyway */
	}
}

static uint8_t spendsgir(unsigned sgi)
{
	return mmio_read8(gic.dist + GICD_SPENDSGIR + sgi);
}

/*
 * GICD_SPENDSGIR / GICD_CPENDSGIR on this CPU's banked SGIs, with sources
 * a and b (CPU interface numbers; equal with a single CPU).
 */
static void spend_test(int me, unsigned a, unsigned b)
{
	uint8_t v, ab = (uint8_t)((1U << a) | (1U << b));

	/* A: set pending from a, seen in the registers and acknowledged with that source. */
	if (spendsgir(SGI_SPEND_A) != 0)
		fail("sgi: cpu %d: GICD_SPENDSGIR byte for SGI %d reads 0x%x before any write", me,
		     SGI_SPEND_A, spendsgir(SGI_SPEND_A));
	mmio_write8(gic.dist + GICD_SPENDSGIR + SGI_SPEND_A, (uint8_t)(1U << a));
	v = spendsgir(SGI_SPEND_A);
	if (v != (1U << a))
		fail("sgi: cpu %d: GICD_SPENDSGIR byte for SGI %d reads 0x%x after setting source %u",
		     me, SGI_SPEND_A, v, a);
	if (!gicv2_bit(&gic, GICD_ISPENDR, SGI_SPEND_A))
		fail("sgi: cpu %d: SGI %d set pending by GICD_SPENDSGIR is not pending in GICD_ISPENDR0 (0x%x)",
		     me, SGI_SPEND_A, mmio_read32(gic.dist + GICD_ISPENDR));
	gicv2_write_eoir(&gic, gicv2_expect_iar(&gic, (a << 10) | SGI_SPEND_A, WAIT_MS,
						 "sgi: SGI set pending by GICD_SPENDSGIR"));
	v = spendsgir(SGI_SPEND_A);
	if (v != 0)
		fail("sgi: cpu %d: GICD_SPENDSGIR byte for SGI %d reads 0x%x after it was taken", me,
		     SGI_SPEND_A, v);

	/* B: pending from a and b, a cleared by GICD_CPENDSGIR: only b is delivered. */
	mmio_write8(gic.dist + GICD_SPENDSGIR + SGI_SPEND_B, ab);
	v = spendsgir(SGI_SPEND_B);
	if (v != ab)
		fail("sgi: cpu %d: GICD_SPENDSGIR byte for SGI %d reads 0x%x, wrote 0x%x", me,
		     SGI_SPEND_B, v, ab);
	v = mmio_read8(gic.dist + GICD_CPENDSGIR + SGI_SPEND_B);
	if (v != ab)
		fail("sgi: cpu %d: GICD_CPENDSGIR byte for SGI %d reads 0x%x, expected 0x%x", me,
		     SGI_SPEND_B, v, ab);
	if (a != b) {
		mmio_write8(gic.dist + GICD_CPENDSGIR + SGI_SPEND_B, (uint8_t)(1U << a));
		v = spendsgir(SGI_SPEND_B);
		if (v != (1U << b))
			fail("sgi: cpu %d: GICD_SPENDSGIR byte for SGI %d reads 0x%x after clearing source %u, expected 0x%x",
			     me, SGI_SPEND_B, v, a, 1U << b);
		gicv2_write_eoir(&gic, gicv2_expect_iar(&gic, (b << 10) | SGI_SPEND_B, WAIT_MS,
							 "sgi: SGI pending from two sources, one cleared"));
	} else {
		gicv2_write_eoir(&gic, gicv2_expect_iar(&gic, (b << 10) | SGI_SPEND_B, WAIT_MS,
							 "sgi: SGI set pending by GICD_SPENDSGIR"));
	}

	/* C: pending from a then cleared: nothing at all. */
	mmio_write8(gic.dist + GICD_SPENDSGIR + SGI_SPEND_C, (uint8_t)(1U << a));
	if (!gicv2_bit(&gic, GICD_ISPENDR, SGI_SPEND_C))
		fail("sgi: cpu %d: SGI %d not pending in GICD_ISPENDR0 after GICD_SPENDSGIR", me,
		     SGI_SPEND_C);
	mmio_write8(gic.dist + GICD_CPENDSGIR + SGI_SPEND_C, (uint8_t)(1U << a));
	v = spendsgir(SGI_SPEND_C);
	if (v != 0)
		fail("sgi: cpu %d: GICD_SPENDSGIR byte for SGI %d reads 0x%x after GICD_CPENDSGIR",
		     me, SGI_SPEND_C, v);
	if (gicv2_bit(&gic, GICD_ISPENDR, SGI_SPEND_C))
		fail("sgi: cpu %d: SGI %d still pending in GICD_ISPENDR0 after GICD_CPENDSGIR", me,
		     SGI_SPEND_C);
	gicv2_expect_quiet(&gic, QUIET_MS, "sgi: SGIs cleared with GICD_CPENDSGIR");
	if (spendsgir(SGI_SPEND_B) != 0)
		fail("sgi: cpu %d: GICD_SPENDSGIR byte for SGI %d reads 0x%x at the end", me,
		     SGI_SPEND_B, spendsgir(SGI_SPEND_B));
}

static void cpu_main(int me)
{
	uint8_t all = 0, others;
	uint64_t gen = 0, deadline;
	int i, r, s;

	gicv2_cpu_enable(&gic, 0xf0);
	cpu[me].mask = gicv2_cpu_mask(&gic);
	for (s = 0; s < 16; s++)
		gicv2_set_priority(&gic, (unsigned)s, SGI_PRIO);
	mmio_write32(gic.dist + GICD_ISENABLER, 0xffffU);
	if ((mmio_read32(gic.dist + GICD_ISENABLER) & 0xffffU) != 0xffffU)
		fail("sgi: cpu %d: SGIs not enabled (GICD_ISENABLER0 0x%x)", me,
		     mmio_read32(gic.dist + GICD_ISENABLER));
	event_stream_enable();
	barrier(me, ++gen, "set-up");

	for (i = 0; i < ncpus; i++)
		all |= (uint8_t)cpu[i].mask;
	others = all & (uint8_t)~cpu[me].mask;

	for (r = 0; r < ROUNDS; r++) {
		/* list: one write per other CPU, then one naming everybody */
		for (i = 0; i < ncpus; i++)
			if (i != me)
				gicv2_send_sgi(&gic, GICD_SGIR_LIST, (uint8_t)cpu[i].mask, SGI_LIST_ONE);
		gicv2_send_sgi(&gic, GICD_SGIR_LIST, all, SGI_LIST_ALL);
		cpu_sev();
		receive(me, SGI_LIST_ONE, (uint32_t)((ncpus - 1) * (r + 1)), "filter list, one target");
		receive(me, SGI_LIST_ALL, (uint32_t)(ncpus * (r + 1)), "filter list, all cpus");
		barrier(me, ++gen, "after filter list");

		/* others: the target list (all ones) must be ignored */
		gicv2_send_sgi(&gic, GICD_SGIR_OTHERS, 0xff, SGI_OTHERS);
		cpu_sev();
		receive(me, SGI_OTHERS, (uint32_t)((ncpus - 1) * (r + 1)), "filter others");
		barrier(me, ++gen, "after filter others");

		/* self: the target list (the others) must be ignored */
		gicv2_send_sgi(&gic, GICD_SGIR_SELF, others, SGI_SELF);
		receive(me, SGI_SELF, (uint32_t)(r + 1), "filter self");
		barrier(me, ++gen, "after filter self");
	}

	/* Anything sent to the wrong CPU or twice arrives now at the latest. */
	deadline = counter_deadline_ms(SETTLE_MS);
	while (!counter_passed(deadline))
		if (!take_one(me))
			cpu_relax();
	barrier(me, ++gen, "after the quiet period");

	/* SPENDSGIR / CPENDSGIR: sources are the next and previous CPU. */
	spend_test(me, mask_to_id(cpu[(me + 1) % ncpus].mask),
		   mask_to_id(cpu[(me + ncpus - 1) % ncpus].mask));
	barrier(me, ++gen, "after spendsgir/cpendsgir");
	cpu[me].finished = 1;
	cpu_sev();
}

static void secondary(unsigned long ctx)
{
	int me = (int)ctx;

	cpu[me].started = STARTED_MAGIC;
	cpu_sev();
	cpu_main(me);
}

/* Expected deliveries of `sgi` from source index `src` at receiver index `rcv`. */
static uint32_t expected(unsigned sgi, int src, int rcv)
{
	switch (sgi) {
	case SGI_LIST_ONE:
	case SGI_OTHERS:
		return src != rcv ? ROUNDS : 0;
	case SGI_LIST_ALL:
		return ROUNDS;
	case SGI_SELF:
		return src == rcv ? ROUNDS : 0;
	default:
		return 0;
	}
}

static const char *sgi_name(unsigned sgi)
{
	switch (sgi) {
	case SGI_LIST_ONE: return "filter list (one target)";
	case SGI_LIST_ALL: return "filter list (all cpus)";
	case SGI_OTHERS: return "filter others";
	case SGI_SELF: return "filter self";
	default: return "never sent";
	}
}

/* Checks every receiver's counts for the SGIs in `sgis`; returns their total. */
static uint32_t verify(const unsigned *sgis, int nsgis)
{
	uint32_t total = 0, got, want;
	int k, rcv, src, id;

	for (k = 0; k < nsgis; k++) {
		for (rcv = 0; rcv < ncpus; rcv++) {
			for (id = 0; id < MAX_CPUS; id++) {
				got = cpu[rcv].recv[sgis[k]][id];
				want = 0;
				for (src = 0; src < ncpus; src++)
					if (cpu[src].mask == (1U << id))
						want = expected(sgis[k], src, rcv);
				if (got != want)
					fail("sgi: cpu %d got SGI %u (%s) %u times from cpu interface %d, expected %u",
					     rcv, sgis[k], sgi_name(sgis[k]), got, id, want);
				total += got;
			}
		}
	}
	return total;
}

void guest_main(uintptr_t dtb)
{
	static const unsigned list[] = { SGI_LIST_ONE, SGI_LIST_ALL };
	static const unsigned others[] = { SGI_OTHERS };
	static const unsigned self[] = { SGI_SELF };
	static const unsigned rest[] = { 0, 8, 9, 10, 11, 12, 13, 14, 15 };
	uint32_t total, typer;
	uint64_t deadline;
	int i, j, err;

	guest_init(dtb, true);
	gicv2_test_probe(&gic, "sgi");

	err = dt_cpus(&guest_fdt, dt_regs, GUEST_MAX_CPUS, &ncpus);
	if (err < 0)
		fail("sgi: cannot read /cpus: %s", fdt_strerror(err));
	if (ncpus < 1 || ncpus > MAX_CPUS)
		fail("sgi: %d cpus in the DTB, a GICv2 serves 1 to %d", ncpus, MAX_CPUS);
	typer = mmio_read32(gic.dist + GICD_TYPER);
	if ((int)GICD_TYPER_CPUS(typer) != ncpus)
		fail("sgi: GICD_TYPER (0x%x) says %u CPU interfaces, the DTB has %d cpus", typer,
		     GICD_TYPER_CPUS(typer), ncpus);
	if (read_mpidr() != dt_regs[0])
		fail("sgi: boot cpu mpidr 0x%llx is not the first cpu node's reg 0x%llx",
		     (unsigned long long)read_mpidr(), (unsigned long long)dt_regs[0]);
	kprintf("sgi: cpus=%d\n", ncpus);

	gicv2_dist_enable(&gic);
	cpu[0].started = STARTED_MAGIC;
	secondary_handler = secondary;
	psci_start_secondaries(dt_regs, ncpus, "sgi");
	deadline = counter_deadline_ms(WAIT_MS);
	for (i = 1; i < ncpus; i++)
		while (cpu[i].started != STARTED_MAGIC) {
			if (secondary_bad_ctx)
				fail("sgi: a secondary started with context id 0x%llx",
				     (unsigned long long)(secondary_bad_ctx & ~(1ULL << 63)));
			if (counter_passed(deadline))
				fail("sgi: cpu %d did not start within %d ms", i, WAIT_MS);
		}

	cpu_main(0);

	/* Every CPU passed the last barrier; their interface bits must be distinct. */
	for (i = 0; i < ncpus; i++)
		for (j = i + 1; j < ncpus; j++)
			if (cpu[i].mask == cpu[j].mask)
				fail("sgi: cpu %d and cpu %d both have CPU interface bit 0x%x", i, j,
				     cpu[i].mask);

	total = verify(list, 2);
	kprintf("sgi: filter list ok\n");
	total += verify(others, 1);
	kprintf("sgi: filter others ok\n");
	total += verify(self, 1);
	kprintf("sgi: filter self ok\n");
	verify(rest, (int)ARRAY_SIZE(rest));
	kprintf("sgi: spendsgir/cpendsgir ok\n");

	deadline = counter_deadline_ms(WAIT_MS);
	for (i = 1; i < ncpus; i++)
		while (!cpu[i].finished)
			if (counter_passed(deadline))
				fail("sgi: cpu %d did not finish", i);
	kprintf("sgi: all %d cpus exchanged %u sgis ok\n", ncpus, total);
	psci_system_off();
}
