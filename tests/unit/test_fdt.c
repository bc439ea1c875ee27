/* The generated device tree, read back with libfdt and checked by dtc. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libfdt.h>

#include "board/fdt.h"
#include "irqchip/irqchip.h"
#include "board/loader.h"
#include "board/config.h"
#include "board/layout.h"
#include "core/eventloop.h"
#include "core/memory.h"
#include "core/mmio.h"
#include "core/vm.h"
#include "devices/device.h"
#include "devices/pl031.h"
#include "devices/pmu.h"
#include "devices/uart_8250.h"

static uint8_t blob[DTB_MAX_SIZE];

static bool with_pmu;	/* build() adds the PMU (--pmu) to the device list */

/* The board's console UART (and with_pmu the PMU), created as the board creates them. */
static struct device_list *board_uart(struct irqchip *ic)
{
	static struct device_list devs;
	static struct mmio_bus bus;
	static struct eventloop loop;
	static struct vm vm;
	struct device_ctx ctx = { .bus = &bus, .loop = &loop, .irqchip = ic, .vm_fd = -1, .devices = &devs };

	device_list_destroy(&devs);
	memset(&bus, 0, sizeof(bus));
	memset(&loop, 0, sizeof(loop));
	assert_int_equal(uart_8250_create(&ctx, BOARD_UART_BASE, BOARD_UART_SPI, -1, STDOUT_FILENO), 0);
	if (with_pmu)
		assert_int_equal(pmu_create(&ctx, &vm), 0);
	return &devs;
}

static int build(enum irqchip_type type, unsigned int ncpu, uint64_t ram, uint64_t initrd_size,
		 const char *bootargs)
{
	static struct irqchip ic;
	static uint64_t mpidrs[600];
	struct irqchip_params ip = { .vm_fd = -1, .nr_cpus = ncpu, .dist_base = BOARD_GIC_DIST_BASE,
				     .its_base = BOARD_GIC_ITS_BASE(ncpu) };

	irqchip_layout(&ic, type, &ip);
	for (unsigned int i = 0; i < ncpu; i++)
		mpidrs[i] = vcpu_default_mpidr(i);
	struct fdt_params p = {
		.ram_base = BOARD_RAM_BASE, .ram_size = ram, .nr_cpus = ncpu, .mpidrs = mpidrs,
		.irqchip = &ic, .bootargs = bootargs,
		.initrd_addr = 0x8f000000, .initrd_size = initrd_size,
		.stdout_base = BOARD_UART_BASE, .devices = board_uart(&ic),
	};
	int len = fdt_build(&p, blob, sizeof(blob));
	assert_true(len > 0);
	assert_int_equal(fdt_check_header(blob), 0);
	return len;
}

static const void *prop(const char *path, const char *name, int *len)
{
	int node = fdt_path_offset(blob, path);
	assert_true(node >= 0);
	const void *v = fdt_getprop(blob, node, name, len);
	assert_non_null(v);
	return v;
}

static uint64_t be64_at(const void *p, int i)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)p + 8 * i, 8);
	return fdt64_to_cpu(v);
}

static uint32_t be32_at(const void *p, int i)
{
	uint32_t v;
	memcpy(&v, (const uint8_t *)p + 4 * i, 4);
	return fdt32_to_cpu(v);
}

static void test_memory_and_chosen(void **state)
{
	(void)state;
	int len;

	build(IRQCHIP_GICV3_KVM, 2, 512ull << 20, 4096, "console=ttyS0 root=/dev/vda");
	const void *reg = prop("/memory@80000000", "reg", &len);
	assert_int_equal(len, 16);
	assert_int_equal(be64_at(reg, 0), 0x80000000);
	assert_int_equal(be64_at(reg, 1), 512ull << 20);
	assert_string_equal(prop("/memory@80000000", "device_type", &len), "memory");
	assert_string_equal(prop("/chosen", "bootargs", &len), "console=ttyS0 root=/dev/vda");
	assert_int_equal(be64_at(prop("/chosen", "linux,initrd-start", &len), 0), 0x8f000000);
	assert_int_equal(be64_at(prop("/chosen", "linux,initrd-end", &len), 0), 0x8f001000);
	/* stdout-path must name the UART node that exists. */
	const char *stdout_path = prop("/chosen", "stdout-path", &len);
	assert_true(fdt_path_offset(blob, stdout_path) >= 0);
	assert_string_equal(prop(stdout_path, "compatible", &len), "ns16550a");

	/* No initrd: no initrd properties. */
	build(IRQCHIP_GICV3_KVM, 1, 64ull << 20, 0, "");
	int chosen = fdt_path_offset(blob, "/chosen");
	assert_null(fdt_getprop(blob, chosen, "linux,initrd-start", &len));
}

static void test_cpus_psci_uart(void **state)
{
	(void)state;
	int len, count = 0, node, cpus;

	build(IRQCHIP_GICV3_KVM, 20, 64ull << 20, 0, "");
	cpus = fdt_path_offset(blob, "/cpus");
	assert_true(cpus >= 0);
	fdt_for_each_subnode(node, blob, cpus) {
		const void *reg = fdt_getprop(blob, node, "reg", &len);
		assert_int_equal(len, 4);
		/* reg is the MPIDR affinity: vCPU 17 is Aff1 = 1, Aff0 = 1. */
		uint64_t want = vcpu_default_mpidr((unsigned int)count) & 0xff00ffffffull;
		assert_int_equal(be32_at(reg, 0), want);
		assert_string_equal(fdt_getprop(blob, node, "enable-method", &len), "psci");
		count++;
	}
	assert_int_equal(count, 20);
	assert_true(fdt_path_offset(blob, "/cpus/cpu@101") >= 0);

	const char *compat = prop("/psci", "compatible", &len);
	assert_string_equal(compat, "arm,psci-0.2");
	assert_string_equal(prop("/psci", "method", &len), "hvc");

	const void *irq = prop("/serial@1000000", "interrupts", &len);
	assert_int_equal(len, 12);
	assert_int_equal(be32_at(irq, 0), 0);		/* SPI */
	assert_int_equal(be32_at(irq, 1), BOARD_UART_SPI);
	assert_int_equal(be32_at(prop("/serial@1000000", "clock-frequency", &len), 0), 1843200);
}

static void test_gic_nodes(void **state)
{
	(void)state;
	int len;

	build(IRQCHIP_GICV2_KVM, 3, 64ull << 20, 0, "");
	assert_string_equal(prop("/intc@3fff0000", "compatible", &len), "arm,cortex-a15-gic");
	const void *reg = prop("/intc@3fff0000", "reg", &len);
	assert_int_equal(len, 32);
	assert_int_equal(be64_at(reg, 0), 0x3fff0000);
	assert_int_equal(be64_at(reg, 1), 0x1000);
	assert_int_equal(be64_at(reg, 2), 0x3ffd0000);
	assert_int_equal(be64_at(reg, 3), 0x2000);
	/* Timer PPIs 13, 14, 11, 10, level-high, with the GICv2 CPU mask for 3 CPUs. */
	const void *t = prop("/timer", "interrupts", &len);
	assert_int_equal(len, 48);
	const uint32_t ppis[] = { 13, 14, 11, 10 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(be32_at(t, 3 * i), 1);
		assert_int_equal(be32_at(t, 3 * i + 1), ppis[i]);
		assert_int_equal(be32_at(t, 3 * i + 2), 0x704);
	}
	int root = fdt_path_offset(blob, "/");
	int gic = fdt_path_offset(blob, "/intc@3fff0000");
	assert_int_equal(fdt_get_phandle(blob, gic),
			 be32_at(fdt_getprop(blob, root, "interrupt-parent", &len), 0));

	build(IRQCHIP_GICV3_KVM, 4, 64ull << 20, 0, "");
	assert_string_equal(prop("/intc@3fff0000", "compatible", &len), "arm,gic-v3");
	reg = prop("/intc@3fff0000", "reg", &len);
	assert_int_equal(be64_at(reg, 1), 0x10000);
	/* Four 128 KiB redistributor frames, ending where the distributor starts. */
	assert_int_equal(be64_at(reg, 3), 4 * 0x20000);
	assert_int_equal(be64_at(reg, 2) + be64_at(reg, 3), 0x3fff0000);
	t = prop("/timer", "interrupts", &len);
	assert_int_equal(be32_at(t, 2), 4); /* no CPU mask on GICv3 */
	/* Without an ITS the GIC node has no children and no address space of its own. */
	assert_int_equal(be32_at(prop("/intc@3fff0000", "#address-cells", &len), 0), 0);
	assert_true(fdt_first_subnode(blob, fdt_path_offset(blob, "/intc@3fff0000")) < 0);
}

/* --irqchip gicv3-its: an msi-controller node inside the GIC's, its frame right below the redistributors. */
static void test_its_node(void **state)
{
	(void)state;
	int len;

	for (unsigned int ncpu = 1; ncpu <= 512; ncpu *= 8) {
		build(IRQCHIP_GICV3_ITS_KVM, ncpu, 64ull << 20, 0, "");
		const void *reg = prop("/intc@3fff0000", "reg", &len);
		uint64_t redist_base = be64_at(reg, 2);
		assert_int_equal(be32_at(prop("/intc@3fff0000", "#address-cells", &len), 0), 2);
		assert_int_equal(be32_at(prop("/intc@3fff0000", "#size-cells", &len), 0), 2);
		prop("/intc@3fff0000", "ranges", &len);
		assert_int_equal(len, 0);

		char path[64];
		uint64_t its = BOARD_GIC_ITS_BASE(ncpu);
		snprintf(path, sizeof(path), "/intc@3fff0000/msi-controller@%llx", (unsigned long long)its);
		assert_string_equal(prop(path, "compatible", &len), "arm,gic-v3-its");
		prop(path, "msi-controller", &len);
		assert_int_equal(be32_at(prop(path, "#msi-cells", &len), 0), 1);
		reg = prop(path, "reg", &len);
		assert_int_equal(len, 16);
		assert_int_equal(be64_at(reg, 0), its);
		assert_int_equal(be64_at(reg, 1), 0x20000);
		/* 64 KiB aligned, ending where the redistributors begin, above the virtio window. */
		assert_int_equal(its % 0x10000, 0);
		assert_int_equal(its + 0x20000, redist_base);
		assert_true(its >= BOARD_VIRTIO_WINDOW + 0x3000000);
		assert_int_equal(fdt_get_phandle(blob, fdt_path_offset(blob, path)), GIC_ITS_PHANDLE);
	}
	/* Phandles are unique in a tree that has the RTC's clock too. */
	assert_true(GIC_ITS_PHANDLE != GIC_PHANDLE && GIC_ITS_PHANDLE != PHANDLE_APB_PCLK);
	/* The largest vCPU count --cpus accepts still leaves room above the virtio window. */
	assert_true(BOARD_GIC_ITS_BASE(VM_MAX_CPUS_OPTION) >= BOARD_VIRTIO_WINDOW + 0x3000000);
}

/* Decompile with dtc; returns its exit status, with everything it printed in out. */
static int run_dtc(const char *path, char *out, size_t outlen)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts -o /dev/null %s 2>&1", path);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	size_t n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* dtc must decompile every variant without a warning. */
static void test_dtc_accepts_without_warnings(void **state)
{
	(void)state;
	const enum irqchip_type types[] = { IRQCHIP_GICV2_KVM, IRQCHIP_GICV3_KVM, IRQCHIP_GICV3_ITS_KVM };
	char out[4096];

	if (system("command -v dtc >/dev/null 2>&1") != 0)
		skip();
	with_pmu = true;	/* the PMU's node is checked too */
	for (int t = 0; t < 3; t++) {
		for (unsigned int ncpu = 1; ncpu <= 8; ncpu += 7) {
			char path[] = "/tmp/armvmm-dtb-XXXXXX";
			int len = build(types[t], ncpu, 256ull << 20, 1 << 20, "console=ttyS0");
			int fd = mkstemp(path);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, blob, (size_t)len), len);
			close(fd);
			int st = run_dtc(path, out, sizeof(out));
			unlink(path);
			if (out[0])
				print_message("dtc (%s, %u cpus) said: %s\n", irqchip_type_name(types[t]), ncpu, out);
			assert_int_equal(st, 0);
			assert_string_equal(out, "");
		}
	}
	with_pmu = false;
}

/* --pmu: arm,armv8-pmuv3 with PPI 7, level-high, GICv2's CPU mask; no node without it. */
static void test_pmu_node(void **state)
{
	(void)state;
	int len;

	build(IRQCHIP_GICV3_KVM, 2, 64ull << 20, 0, "");
	assert_true(fdt_path_offset(blob, "/pmu") < 0);
	with_pmu = true;
	build(IRQCHIP_GICV3_KVM, 2, 64ull << 20, 0, "");
	assert_string_equal(prop("/pmu", "compatible", &len), "arm,armv8-pmuv3");
	const void *irq = prop("/pmu", "interrupts", &len);
	assert_int_equal(len, 12);
	assert_int_equal(be32_at(irq, 0), 1);	/* PPI */
	assert_int_equal(be32_at(irq, 1), 7);	/* INTID 23 */
	assert_int_equal(be32_at(irq, 2), 4);	/* level-high */
	build(IRQCHIP_GICV2_USER, 3, 64ull << 20, 0, "");
	irq = prop("/pmu", "interrupts", &len);
	assert_int_equal(be32_at(irq, 2), 0x704);	/* the CPU mask of 3 CPUs */
	with_pmu = false;
}

/* A host whose KVM has no PMU for guests: one error line, -ENODEV, the vCPUs get no PMU feature. */
static void test_pmu_host_without_pmu(void **state)
{
	(void)state;
	struct vm vm = { .vm_fd = -1 };

	assert_int_equal(pmu_setup_vcpus(&vm), -ENODEV);
	assert_int_equal(vm.vcpu_features, 0);
}

static void test_bootargs(void **state)
{
	(void)state;
	char *s = fdt_make_bootargs(NULL, "console=ttyS0 earlycon");
	assert_string_equal(s, "console=ttyS0 earlycon");
	free(s);
	s = fdt_make_bootargs("root=/dev/vda rw", "console=ttyS0 earlycon");
	assert_string_equal(s, "console=ttyS0 earlycon root=/dev/vda rw");
	free(s);
	s = fdt_make_bootargs("console=hvc0 quiet", "console=ttyS0 earlycon");
	assert_string_equal(s, "console=hvc0 quiet");
	free(s);
	/* --nodefaults: byte for byte what was given, spaces and all; nothing given is empty. */
	s = fdt_make_bootargs("ipi", NULL);
	assert_string_equal(s, "ipi");
	free(s);
	s = fdt_make_bootargs("  two  spaces ", NULL);
	assert_string_equal(s, "  two  spaces ");
	free(s);
	s = fdt_make_bootargs(NULL, NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_too_small_buffer(void **state)
{
	(void)state;
	struct irqchip ic;
	uint64_t mpidr = 0x80000000;
	uint8_t small[256];

	struct irqchip_params ip = { .vm_fd = -1, .nr_cpus = 1, .dist_base = BOARD_GIC_DIST_BASE };

	irqchip_layout(&ic, IRQCHIP_GICV3_KVM, &ip);
	struct fdt_params p = { .ram_base = BOARD_RAM_BASE, .ram_size = 1 << 26, .nr_cpus = 1,
				.mpidrs = &mpidr, .irqchip = &ic, .bootargs = "", .stdout_base = BOARD_UART_BASE,
				.devices = board_uart(&ic) };
	assert_int_equal(fdt_build(&p, small, sizeof(small)), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_and_chosen),
		cmocka_unit_test(test_cpus_psci_uart),
		cmocka_unit_test(test_gic_nodes),
		cmocka_unit_test(test_its_node),
		cmocka_unit_test(test_pmu_node),
		cmocka_unit_test(test_pmu_host_without_pmu),
		cmocka_unit_test(test_dtc_accepts_without_warnings),
		cmocka_unit_test(test_bootargs),
		cmocka_unit_test(test_too_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
