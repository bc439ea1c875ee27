/*
 * its.bin (GICv3 with an ITS: --irqchip gicv3-its, -c 2): LPIs through the
 * ITS, each checked to arrive on the vCPU its collection names, before and
 * after a point where the VM may be snapshotted and restored or migrated.
 *
 * DeviceID 32 gets an ITT (MAPD); collection 0 targets CPU 0 and
 * collection 1 CPU 1 (MAPC, by processor number); events 0-3 become LPIs
 * 8192 (collection 0), 8193 and 8194 (collection 1) and 8195 (collection 0,
 * its LPI configuration disabled) (MAPTI). Then:
 *   - INT of events 0 and 1: LPI 8192 on CPU 0, 8193 on CPU 1, nowhere else;
 *   - "its: msi wanted: device 32 event 2": the test sends that MSI, a
 *     device's write of EventID 2 to GITS_TRANSLATER with DeviceID 32 (a
 *     script's "msi 32 2"): LPI 8194 must arrive on CPU 1;
 *   - INT of event 3 makes LPI 8195 pending while it is disabled: nothing
 *     may arrive;
 *   - "its: ready", then it waits for 'g' on the UART (the snapshot point);
 *   - the ITS and redistributor registers read back as set up; INT of
 *     events 0 and 1 again; LPI 8195 enabled (configuration byte, INV) must
 *     now arrive on CPU 0: its pending bit survived; the MSI again ("its:
 *     msi wanted" a second time), on CPU 1;
 *   - "its: all ok".
 * Every wait is bounded (1 s for an LPI, 600 s for 'g' or an MSI).
 */
#include "its.h"

#define NCPUS 2
#define DEVID 32
#define EVENT_BITS 3
#define LPI0 LPI_BASE
#define NR_TEST_LPIS 4
#define LPI_PRIO 0xa0
#define WAIT_MS 1000
#define WAIT_G_MS 600000

static struct gic gic;
static struct its its;
static uint64_t regs[GUEST_MAX_CPUS];
static int ncpus;
static uint32_t procnum[NCPUS];
static uintptr_t rd[NCPUS];
static volatile uint64_t cpu1_ready, stop;
/* LPIs taken, per CPU and per test LPI; anything else that arrives is a FAIL. */
static volatile uint32_t taken[NCPUS][NR_TEST_LPIS];

static int self_index(void)
{
	uint64_t mpidr = read_mpidr();

	for (int i = 0; i < NCPUS; i++)
		if (regs[i] == mpidr)
			return i;
	fail("its: running on mpidr 0x%llx, not one of the first %d cpu nodes", (unsigned long long)mpidr, NCPUS);
}

static void lpi_irq(void)
{
	int me = self_index();
	uint32_t intid = gicv3_read_iar();

	if (gic_intid_spurious(intid))
		return;
	gicv3_write_eoir(intid);
	if (intid < LPI0 || intid >= LPI0 + NR_TEST_LPIS)
		fail("its: cpu %d took INTID %u, not one of the test's LPIs", me, intid);
	taken[me][intid - LPI0] = taken[me][intid - LPI0] + 1;
	cpu_sev();
}

static void cpu1_main(unsigned long ctx)
{
	if (ctx != 1 || self_index() != 1)
		fail("its: secondary started with context %lu on cpu %d", ctx, self_index());
	rd[1] = gicv3_cpu_enable(&gic, 0xf0);
	procnum[1] = lpi_enable_cpu(rd[1], 1, "its");
	cpu1_ready = 1;
	cpu_sev();
	/* Take LPIs until told to stop; this is where CPU 1 is when the VM is saved. */
	event_stream_enable();
	irq_enable();
	while (!stop)
		cpu_relax();
	irq_disable();
}

/* Wait until CPU cpu has taken LPI `lpi` `count` times in all; no other CPU may have taken it. */
static void expect_lpi(unsigned lpi, int cpu, uint32_t count, const char *how)
{
	uint64_t deadline = counter_deadline_ms(WAIT_MS);
	int other = 1 - cpu;

	/* CPU 0 takes interrupts while it waits: an LPI routed to it by mistake is seen too. */
	for (;;) {
		irq_enable();
		if (taken[cpu][lpi - LPI0] >= count)
			break;
		if (counter_passed(deadline)) {
			irq_disable();
			fail("its: LPI %u (%s) did not reach cpu %d within %d ms (taken %u times there, %u on cpu %d)", lpi,
			     how, cpu, WAIT_MS, taken[cpu][lpi - LPI0], taken[other][lpi - LPI0], other);
		}
		cpu_relax();
	}
	irq_disable();
	if (taken[cpu][lpi - LPI0] != count)
		fail("its: LPI %u (%s) arrived %u times on cpu %d, expected %u", lpi, how, taken[cpu][lpi - LPI0], cpu,
		     count);
	if (taken[other][lpi - LPI0])
		fail("its: LPI %u (%s) arrived on cpu %d, it is routed to cpu %d", lpi, how, other, cpu);
}

/* The LPI must not arrive anywhere for ms milliseconds. */
static void expect_quiet(unsigned lpi, uint64_t ms, const char *why)
{
	uint64_t deadline = counter_deadline_ms(ms);

	irq_enable();
	while (!counter_passed(deadline))
		if (taken[0][lpi - LPI0] || taken[1][lpi - LPI0])
			fail("its: LPI %u arrived although %s", lpi, why);
	irq_disable();
}

/* The test sends DeviceID 32's EventID 2 as an MSI (GITS_TRANSLATER); LPI 8194 must reach CPU 1. */
static void expect_msi(uint32_t count)
{
	uint64_t deadline = counter_deadline_ms(WAIT_G_MS);

	kprintf("its: msi wanted: device %d event 2\n", DEVID);
	irq_enable();
	while (taken[1][2] + taken[0][2] < count) {
		if (counter_passed(deadline))
			fail("its: the MSI from device %d event 2 never came (%d s)", DEVID, WAIT_G_MS / 1000);
		cpu_relax();
	}
	expect_lpi(LPI0 + 2, 1, count, "MSI via GITS_TRANSLATER");
	kprintf("its: msi ok (LPI %u on cpu 1)\n", LPI0 + 2);
}

/* What the guest set up must read back the same (after a restore: that it was restored). */
static void check_registers(const char *when)
{
	uint32_t ctlr = mmio_read32(its.base + GITS_CTLR);
	uint64_t creadr = mmio_read64(its.base + GITS_CREADR), cwriter = mmio_read64(its.base + GITS_CWRITER);

	if (!(ctlr & GITS_CTLR_ENABLED))
		fail("its: %s: GITS_CTLR 0x%x: the ITS is not enabled", when, ctlr);
	if (creadr != its.cwriter || cwriter != its.cwriter)
		fail("its: %s: GITS_CREADR 0x%llx, GITS_CWRITER 0x%llx, expected both 0x%x", when,
		     (unsigned long long)creadr, (unsigned long long)cwriter, its.cwriter);
	for (unsigned n = 0; n < 2; n++)
		if (!(mmio_read64(its.base + GITS_BASER + 8 * n) & GITS_BASER_VALID))
			fail("its: %s: GITS_BASER%u is not valid", when, n);
	if (!(mmio_read64(its.base + GITS_CBASER) & GITS_CBASER_VALID))
		fail("its: %s: GITS_CBASER is not valid", when);
	for (int c = 0; c < NCPUS; c++)
		if (!(mmio_read32(rd[c] + GICR_CTLR) & GICR_CTLR_ENABLE_LPIS))
			fail("its: %s: cpu %d: GICR_CTLR.EnableLPIs is clear", when, c);
}

void guest_main(uintptr_t dtb)
{
	const char *what = "";
	uint64_t deadline;
	int err;

	guest_init(dtb, true);
	err = gic_probe(&guest_fdt, &gic, &what);
	if (err < 0)
		fail("its: interrupt controller: %s: %s", what, fdt_strerror(err));
	its_probe(&guest_fdt, &gic, &its, "its");
	kprintf("its: gic=v3 its=0x%llx typer=0x%llx devbits=%llu idbits=%llu\n", (unsigned long long)its.base,
		(unsigned long long)its.typer, (unsigned long long)GITS_TYPER_DEVBITS(its.typer),
		(unsigned long long)GITS_TYPER_IDBITS(its.typer));
	err = dt_cpus(&guest_fdt, regs, GUEST_MAX_CPUS, &ncpus);
	if (err < 0 || ncpus != NCPUS)
		fail("its: this guest needs exactly %d cpus (-c %d); the DTB has %d (%s)", NCPUS, NCPUS, ncpus,
		     err < 0 ? fdt_strerror(err) : "ok");
	if (regs[0] != read_mpidr())
		fail("its: the boot cpu is not the first cpu node");

	irq_handler = lpi_irq;
	secondary_handler = cpu1_main;
	event_stream_enable();
	for (unsigned i = 0; i < NR_TEST_LPIS; i++)
		lpi_set_config(LPI0 + i, LPI_PRIO, i != 3);
	gicv3_dist_enable(&gic);
	rd[0] = gicv3_cpu_enable(&gic, 0xf0);
	procnum[0] = lpi_enable_cpu(rd[0], 0, "its");
	if (psci_cpu_on(regs[1], (uintptr_t)secondary_entry, 1) != 0)
		fail("its: CPU_ON of cpu 1 failed");
	deadline = counter_deadline_ms(WAIT_MS);
	while (!cpu1_ready) {
		if (counter_passed(deadline))
			fail("its: cpu 1 did not come up within %d ms", WAIT_MS);
		cpu_relax();
	}
	kprintf("its: cpu 1 online, processor numbers %u and %u\n", procnum[0], procnum[1]);

	its_enable(&its, "its");
	its_mapc(&its, 0, procnum[0], "its");
	its_mapc(&its, 1, procnum[1], "its");
	its_mapd(&its, DEVID, EVENT_BITS, "its");
	its_mapti(&its, DEVID, 0, LPI0 + 0, 0, "its");
	its_mapti(&its, DEVID, 1, LPI0 + 1, 1, "its");
	its_mapti(&its, DEVID, 2, LPI0 + 2, 1, "its");
	its_mapti(&its, DEVID, 3, LPI0 + 3, 0, "its");
	its_sync(&its, procnum[0], "its");
	its_sync(&its, procnum[1], "its");
	kprintf("its: mapped device %d: events 0-3 to LPIs %u-%u on cpus 0, 1, 1, 0\n", DEVID, LPI0, LPI0 + 3);

	its_int(&its, DEVID, 0, "its");
	expect_lpi(LPI0 + 0, 0, 1, "INT event 0");
	its_int(&its, DEVID, 1, "its");
	expect_lpi(LPI0 + 1, 1, 1, "INT event 1");
	kprintf("its: int ok (LPI %u on cpu 0, LPI %u on cpu 1)\n", LPI0, LPI0 + 1);
	expect_msi(1);
	its_int(&its, DEVID, 3, "its");
	expect_quiet(LPI0 + 3, 100, "its configuration disables it");
	check_registers("before 'g'");
	kprintf("its: ready\n");

	wait_for_go("its", WAIT_G_MS / 1000);
	check_registers("after 'g'");
	its_int(&its, DEVID, 0, "its");
	expect_lpi(LPI0 + 0, 0, 2, "INT event 0 after 'g'");
	its_int(&its, DEVID, 1, "its");
	expect_lpi(LPI0 + 1, 1, 2, "INT event 1 after 'g'");
	kprintf("its: int after g ok\n");
	lpi_set_config(LPI0 + 3, LPI_PRIO, true);
	its_inv(&its, DEVID, 3, "its");
	its_sync(&its, procnum[0], "its");
	expect_lpi(LPI0 + 3, 0, 1, "pending while disabled, then enabled");
	kprintf("its: pending lpi ok (LPI %u on cpu 0 once enabled)\n", LPI0 + 3);
	expect_msi(2);

	stop = 1;
	cpu_sev();
	deadline = counter_deadline_ms(WAIT_MS);
	while (psci_affinity_info(regs[1]) != PSCI_AFFINITY_OFF) {
		if (counter_passed(deadline))
			fail("its: cpu 1 did not turn off");
		cpu_relax();
	}
	kprintf("its: all ok\n");
	psci_system_off();
}
