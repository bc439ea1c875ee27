/*
 * The board: which devices a configuration gets, where they sit, and the
 * order a machine is built in (board_build), shared by booting and restoring.
 * Adding a device: its own file(s), its create call in board_create_devices
 * (and a row in board_snap_kinds, sections.c, if it saves state).
 */
#include "board/board.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/fdt.h"
#include "board/loader.h"
#include "core/files.h"
#include "core/log.h"
#include "devices/pl031.h"
#include "devices/pmu.h"
#include "devices/uart_8250.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "devices/virtio_rng.h"
#include "devices/virtio_vsock.h"

int board_init(struct board *b, const struct vm_config *cfg, int console_in_fd, int console_out_fd)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->console_in_fd = console_in_fd;
	b->console_out_fd = console_out_fd;
	b->irqchip.dev_fd = -1;
	ret = vm_init(&b->vm);
	/* Absolute, so a restore from another directory opens the same file; unresolvable: as given. */
	for (unsigned int i = 0; ret == 0 && i < cfg->nr_disks; i++) {
		b->disk_abs[i] = realpath(cfg->disks[i].path, NULL);
		if (!b->disk_abs[i] && !(b->disk_abs[i] = strdup(cfg->disks[i].path)))
			ret = -ENOMEM;
	}
	if (ret == 0 && !cfg->dump_dtb_path)
		ret = console_out_init(&b->console, console_out_fd);
	return ret;
}

/* The irqchip's per-vCPU work, hooked into the vCPU loop (the userspace GIC's timer levels and IRQ line). */
static void board_vcpu_enter(void *opaque, unsigned int cpu)
{
	irqchip_vcpu_enter(opaque, cpu);
}

static void board_vcpu_sync(void *opaque, unsigned int cpu, const struct kvm_run *run)
{
	irqchip_vcpu_sync(opaque, cpu, run);
}

/* The userspace GIC changed vCPU cpu's IRQ line from another thread: that vCPU applies it. */
static void board_kick_vcpu(void *opaque, unsigned int cpu)
{
	struct vm *vm = opaque;

	/* Before the vCPUs exist (a restore sets the model's lines early) there is nobody to kick. */
	if (vm->vcpus && cpu < vm->nr_vcpus && vm->vcpus[cpu].run)
		vcpu_kick(&vm->vcpus[cpu]);
}

/* Where the board puts the GIC's frames (layout.h), for nr_cpus vCPUs. */
static struct irqchip_params board_irqchip_params(struct board *b, unsigned int nr_cpus)
{
	return (struct irqchip_params){
		.vm_fd = b->vm.vm_fd, .nr_cpus = nr_cpus, .bus = &b->vm.bus,
		.dist_base = BOARD_GIC_DIST_BASE, .its_base = BOARD_GIC_ITS_BASE(nr_cpus),
	};
}

static int board_create_irqchip(struct board *b)
{
	struct vm *vm = &b->vm;
	struct irqchip_params params = board_irqchip_params(b, vm->nr_vcpus);
	int ret = irqchip_create(&b->irqchip, b->cfg->irqchip, &params);

	if (ret < 0)
		return ret;
	/* Set after create (it lays the struct out afresh); GICv3 state is addressed by MPIDR. */
	b->irqchip.mpidrs = vm->mpidrs;
	b->irqchip.kick_vcpu = board_kick_vcpu;
	b->irqchip.kick_opaque = vm;
	vm->vcpu_enter = board_vcpu_enter;
	vm->vcpu_sync = board_vcpu_sync;
	vm->vcpu_hook_opaque = &b->irqchip;
	return 0;
}

/* The next virtio-mmio slot: address and SPI in the board's virtio window. */
static int board_virtio_slot(struct board *b, uint64_t *base, unsigned int *spi)
{
	if (b->nr_virtio == BOARD_MAX_VIRTIO) {
		pr_err("too many virtio devices (at most %u)", BOARD_MAX_VIRTIO);
		return -ENOSPC;
	}
	*base = BOARD_VIRTIO_WINDOW + b->nr_virtio * (uint64_t)VIRTIO_MMIO_SIZE;
	*spi = BOARD_VIRTIO_FIRST_SPI + b->nr_virtio;
	b->nr_virtio++;
	return 0;
}

/*
 * Which devices the configuration gets; the order fixes each virtio device's
 * address and SPI: disks, console, rng, NICs, vsock.
 */
int board_create_devices(struct board *b)
{
	const struct vm_config *cfg = b->cfg;
	struct device_ctx ctx = {
		.mem = &b->vm.mem, .bus = &b->vm.bus, .loop = &b->vm.loop, .irqchip = &b->irqchip,
		.vm_fd = b->vm.vm_fd, .devices = &b->devices, .console = b->console.started ? &b->console : NULL,
		.restoring = b->vm.restoring, .describe_only = cfg->dump_dtb_path != NULL,
	};
	bool serial = cfg->console == CONSOLE_SERIAL;
	unsigned int spi;
	uint64_t base;
	int ret;

	ret = uart_8250_create(&ctx, BOARD_UART_BASE, BOARD_UART_SPI, serial ? b->console_in_fd : -1);
	for (unsigned int i = 0; !ret && i < cfg->nr_disks; i++) {
		ret = board_virtio_slot(b, &base, &spi);
		if (!ret)
			ret = virtio_blk_create(&ctx, base, spi, &cfg->disks[i]);
	}
	if (!ret && !serial) {
		ret = board_virtio_slot(b, &base, &spi);
		if (!ret)
			ret = virtio_console_create(&ctx, base, spi, b->console_in_fd);
	}
	if (!ret && !cfg->nodefaults) {
		ret = board_virtio_slot(b, &base, &spi);
		if (!ret)
			ret = virtio_rng_create(&ctx, base, spi);
		if (!ret)
			ret = pl031_create(&ctx, BOARD_RTC_BASE, BOARD_RTC_SPI);
	}
	for (unsigned int i = 0; !ret && i < cfg->nr_nics; i++) {
		ret = board_virtio_slot(b, &base, &spi);
		if (!ret)
			ret = virtio_net_create(&ctx, base, spi, &cfg->nics[i], i, &b->nics[i]);
		if (!ret)
			b->nr_nics++;
	}
	if (!ret && cfg->vsock_cid) {
		ret = board_virtio_slot(b, &base, &spi);
		if (!ret)
			ret = virtio_vsock_create(&ctx, base, spi, cfg->vsock_cid);
	}
	if (!ret && cfg->pmu)
		ret = pmu_create(&ctx, &b->vm);
	return ret;
}

int board_build(struct board *b, int mem_fd)
{
	const struct vm_config *cfg = b->cfg;
	struct vm *vm = &b->vm;
	int ret;

	/* Each step is timed at debug level (log_step): start-up cost is measured, not guessed. */
	if ((ret = vm_open_kvm(vm)) < 0 || (ret = vm_create(vm, BOARD_RAM_BASE, cfg->mem_size, cfg->nr_cpus)) < 0)
		return ret;
	log_step("VM created");
	if ((ret = vm_setup_memory(vm, BOARD_RAM_BASE, cfg->mem_size, mem_fd)) < 0)
		return ret;
	log_step("guest RAM registered");
	if ((cfg->pmu && (ret = pmu_setup_vcpus(vm)) < 0) || (ret = vm_create_vcpus(vm, cfg->nr_cpus)) < 0)
		return ret;
	log_step("vCPUs created");
	if ((ret = board_create_irqchip(b)) < 0)
		return ret;
	log_step("irqchip created");
	pr_info("VM: %u vCPU(s), %llu MiB RAM, %s", vm->nr_vcpus, (unsigned long long)(cfg->mem_size >> 20),
		irqchip_type_name(b->irqchip.type));
	/* Devices, then CTRL_INIT: the vGIC must be complete before the first KVM_RUN. */
	if ((ret = board_create_devices(b)) < 0)
		return ret;
	log_step("devices created");
	if ((ret = irqchip_finalize(&b->irqchip)) < 0)
		return ret;
	log_step("irqchip initialised");
	for (unsigned int i = 0; i < b->devices.count; i++) {
		struct device *d = &b->devices.dev[i];
		if (d->ops->irqchip_ready && (ret = d->ops->irqchip_ready(d)) < 0)
			return ret;
	}
	return 0;
}

/* The device tree of the machine built, with the command line and initrd of layout: *dtb (malloc'd) and its size. */
static int board_fdt(struct board *b, const struct boot_layout *layout, void **dtb)
{
	const struct vm_config *cfg = b->cfg;
	/* --nodefaults: the command line exactly as given (kvmtool's meaning; the UART stays). */
	const char *console = cfg->nodefaults ? NULL
			      : cfg->console == CONSOLE_VIRTIO ? "console=hvc0" : "console=ttyS0 earlycon";
	char *bootargs = fdt_make_bootargs(cfg->cmdline, console);
	struct fdt_params p = {
		.ram_base = BOARD_RAM_BASE,
		.ram_size = cfg->mem_size,
		.nr_cpus = b->vm.nr_vcpus,
		.mpidrs = b->vm.mpidrs,
		.irqchip = &b->irqchip,
		.bootargs = bootargs,
		.initrd_addr = layout->initrd_addr,
		.initrd_size = layout->initrd_size,
		.stdout_base = BOARD_UART_BASE,
		.devices = &b->devices,
	};
	int ret = bootargs ? fdt_build_alloc(&p, DTB_MAX_SIZE, dtb) : -ENOMEM;

	free(bootargs);
	return ret;
}

/* --dump-dtb on a machine without /dev/kvm: same tree, MPIDRs as KVM would assign them. */
static int board_dump_dtb_without_kvm(struct board *b, const struct boot_layout *layout, void **dtb)
{
	const struct vm_config *cfg = b->cfg;
	struct vm *vm = &b->vm;
	enum irqchip_type type;
	int len;

	if (irqchip_type_for_request(cfg->irqchip, &type) < 0) {
		pr_err("--dump-dtb without /dev/kvm needs an explicit --irqchip (gicv2, gicv3, gicv3-its or user)");
		return -EINVAL;
	}
	vm->nr_vcpus = cfg->nr_cpus;
	vm->mpidrs = calloc(vm->nr_vcpus, sizeof(*vm->mpidrs));
	if (!vm->mpidrs)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->mpidrs[i] = vcpu_default_mpidr(i);
	struct irqchip_params params = board_irqchip_params(b, vm->nr_vcpus);
	irqchip_layout(&b->irqchip, type, &params);
	/* The devices too (no KVM needed to open disks), so their nodes are in the tree. */
	len = board_create_devices(b);
	if (len < 0)
		return len;
	len = board_fdt(b, layout, dtb);
	if (len < 0)
		return len;
	return write_file_atomic(cfg->dump_dtb_path, *dtb, (size_t)len);
}

static int board_copy_images(struct board *b, const struct kernel_image *img, const uint8_t *initrd,
			     const struct boot_layout *layout, const uint8_t *dtb, size_t dtb_len)
{
	const struct guest_mem *mem = &b->vm.mem;

	if (guest_mem_write(mem, layout->kernel_addr, img->data, img->size) < 0 ||
	    (layout->initrd_size && guest_mem_write(mem, layout->initrd_addr, initrd, layout->initrd_size) < 0) ||
	    guest_mem_write(mem, layout->dtb_addr, dtb, dtb_len) < 0) {
		pr_err("internal error: boot images fall outside guest RAM");
		return -EFAULT;
	}
	return 0;
}

int board_boot(struct board *b)
{
	const struct vm_config *cfg = b->cfg;
	struct kernel_image img = { 0 };
	struct boot_layout layout;
	uint8_t *initrd = NULL;
	void *dtb = NULL;
	size_t initrd_len = 0;
	int dtb_len, ret;

	/* 1. Files first: bad input fails before any KVM object exists. */
	ret = kernel_image_load(cfg->kernel_path, cfg->mem_size, &img);
	if (ret < 0)
		goto out;
	if (cfg->initrd_path) {
		ret = read_file_alloc(cfg->initrd_path, "initrd", cfg->mem_size, &initrd, &initrd_len);
		if (ret < 0)
			goto out;
	}
	ret = boot_layout_plan(BOARD_RAM_BASE, cfg->mem_size, &img, initrd_len, &layout);
	if (ret < 0)
		goto out;
	log_step("kernel and initrd read");
	if (cfg->dump_dtb_path && access("/dev/kvm", F_OK) != 0) {
		pr_info("no /dev/kvm: writing the device tree with KVM's default MPIDR assignment");
		ret = board_dump_dtb_without_kvm(b, &layout, &dtb);
		ret = ret < 0 ? ret : 1;
		goto out;
	}

	/* 2. The machine. */
	ret = board_build(b, -1);
	if (ret < 0)
		goto out;

	/* 3. The device tree describes exactly what was built. */
	dtb_len = board_fdt(b, &layout, &dtb);
	log_step("device tree built");
	if (dtb_len < 0) {
		ret = dtb_len;
		goto out;
	}
	if (cfg->dump_dtb_path) {
		ret = write_file_atomic(cfg->dump_dtb_path, dtb, (size_t)dtb_len);
		ret = ret < 0 ? ret : 1;
		goto out;
	}

	/* 4. Images into RAM, boot registers on vCPU 0 (x0 = DTB). */
	ret = board_copy_images(b, &img, initrd, &layout, dtb, (size_t)dtb_len);
	if (ret == 0)
		ret = vcpu_set_boot_regs(&b->vm.vcpus[0], layout.kernel_addr, layout.dtb_addr);
	if (ret < 0)
		goto out;
	log_step("images loaded, boot registers set");
	pr_info("kernel at 0x%llx (%s), DTB at 0x%llx (%d bytes)", (unsigned long long)layout.kernel_addr,
		img.has_header ? "arm64 Image" : "flat binary", (unsigned long long)layout.dtb_addr, dtb_len);
	if (layout.initrd_size)
		pr_info("initrd at 0x%llx (%llu bytes)", (unsigned long long)layout.initrd_addr,
			(unsigned long long)layout.initrd_size);
out:
	kernel_image_free(&img);
	free(initrd);
	free(dtb);
	return ret;
}

void board_destroy(struct board *b)
{
	/* No vCPU reaches a device any more (after a failure the threads may still wait to be let in). */
	if (b->vm.vcpus)
		vm_stop_vcpus(&b->vm);
	/* The guest's last words out first; after this no console callback reaches a device. */
	console_out_stop(&b->console);
	device_list_destroy(&b->devices);
	log_step("devices destroyed");
	for (unsigned int i = 0; i < VM_MAX_DISKS; i++) {
		free(b->disk_abs[i]);
		b->disk_abs[i] = NULL;
	}
	irqchip_destroy(&b->irqchip);
	log_step("irqchip destroyed");
	vm_destroy(&b->vm);
	/* The writer left while the VM went: joined last, it is no longer waited for. */
	console_out_destroy(&b->console);
	log_step("console writer joined");
}
