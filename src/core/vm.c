/*
 * VM lifecycle. vm_main() reads top to bottom in the order things happen:
 * load files → plan the layout → KVM VM → RAM → vCPUs → irqchip → devices →
 * irqchip init → device tree → copy images → boot registers → run → tear down.
 */
#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "devices/pl031.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_rng.h"
#include "board/fdt.h"
#include "snapshot/snapshot.h"
#include "core/clock.h"
#include "board/loader.h"
#include "app/script.h"
#include "core/log.h"
#include "app/term.h"

#define KVM_DEFAULT_IPA_BITS 40u

void vm_request_stop(struct vm *vm, int status)
{
	int running = -1;
	uint64_t one = 1;

	atomic_compare_exchange_strong(&vm->exit_status, &running, status);
	atomic_store(&vm->stopping, true);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0)
		(void)0; /* the counter cannot overflow from a handful of writes */
}

static unsigned int ipa_bits_for(uint64_t end)
{
	unsigned int bits = 64u - (unsigned int)__builtin_clzll(end - 1);
	return bits < 32 ? 32 : bits;
}

int vm_open_kvm(struct vm *vm)
{
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int err = errno;
		pr_err("cannot open /dev/kvm: %s (armvmm needs an arm64 host with KVM; see README.md for the nested test host)",
		       strerror(err));
		return -err;
	}
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		pr_err("/dev/kvm speaks an unknown KVM API version");
		return -EINVAL;
	}
	return 0;
}

int vm_create_kvm_vm(struct vm *vm)
{
	uint64_t ram_end = GUEST_RAM_BASE + vm->cfg->mem_size;
	unsigned int bits = ipa_bits_for(ram_end);
	unsigned long type = 0;
	int max_vcpus, mmap_size;

	if (bits > KVM_DEFAULT_IPA_BITS) {
		int host_bits = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
		if (host_bits <= 0 || (unsigned int)host_bits < bits) {
			unsigned int have = host_bits > 0 ? (unsigned int)host_bits : KVM_DEFAULT_IPA_BITS;
			pr_err("--mem %llu MiB needs a %u-bit guest physical address space; this host offers %u bits (at most %llu MiB)",
			       (unsigned long long)(vm->cfg->mem_size >> 20), bits, have,
			       (unsigned long long)(((1ull << have) - GUEST_RAM_BASE) >> 20));
			return -E2BIG;
		}
		type = KVM_VM_TYPE_ARM_IPA_SIZE(bits);
	}
	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, type);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0) {
		int err = errno;
		pr_err("KVM_CREATE_VM failed: %s", strerror(err));
		return -err;
	}
	max_vcpus = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_vcpus > 0 && vm->cfg->nr_cpus > (unsigned int)max_vcpus) {
		pr_err("%s %u is more than this host's KVM allows (KVM_CAP_MAX_VCPUS = %d)",
		       vm->restoring ? "the snapshot's vCPU count" : "--cpus", vm->cfg->nr_cpus, max_vcpus);
		return -EINVAL;
	}
	if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PSCI_0_2) <= 0) {
		pr_err("this host's KVM lacks PSCI 0.2 (KVM_CAP_ARM_PSCI_0_2), which armvmm needs to start vCPUs");
		return -ENODEV;
	}
	/* Report undecodable MMIO accesses to userspace instead of failing KVM_RUN with ENOSYS. */
	if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_NISV_TO_USER) > 0) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_ARM_NISV_TO_USER };
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
			pr_debug("enabling KVM_CAP_ARM_NISV_TO_USER failed: %s", strerror(errno));
	}
	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0) {
		pr_err("KVM_GET_VCPU_MMAP_SIZE failed");
		return -EINVAL;
	}
	vm->run_size = (size_t)mmap_size;
	return 0;
}

int vm_setup_memory(struct vm *vm, int mem_fd)
{
	struct kvm_userspace_memory_region region;
	int ret = mem_fd >= 0 ? guest_mem_map_file(&vm->mem, GUEST_RAM_BASE, vm->cfg->mem_size, mem_fd)
			      : guest_mem_alloc(&vm->mem, GUEST_RAM_BASE, vm->cfg->mem_size);

	if (ret < 0)
		return ret;
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = vm->mem.gpa,
		.memory_size = vm->mem.size,
		.userspace_addr = (uint64_t)(uintptr_t)vm->mem.host,
	};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		int err = errno;
		pr_err("registering %llu MiB of guest RAM with KVM failed: %s (lower --mem)",
		       (unsigned long long)(vm->mem.size >> 20), strerror(err));
		return -err;
	}
	return 0;
}

int vm_create_vcpus(struct vm *vm)
{
	vm->nr_vcpus = vm->cfg->nr_cpus;
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	vm->mpidrs = calloc(vm->nr_vcpus, sizeof(*vm->mpidrs));
	if (!vm->vcpus || !vm->mpidrs)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int ret = vcpu_create(vm, &vm->vcpus[i], i);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The userspace GIC changed vCPU cpu's IRQ line from another thread: that vCPU applies it. */
static void vm_kick_vcpu(void *opaque, unsigned int cpu)
{
	struct vm *vm = opaque;

	/* Before the vCPUs exist (a restore sets the model's lines early) there is nobody to kick. */
	if (vm->vcpus && cpu < vm->nr_vcpus && vm->vcpus[cpu].run)
		vcpu_kick(&vm->vcpus[cpu]);
}

int vm_create_irqchip(struct vm *vm)
{
	int ret = irqchip_create(&vm->irqchip, vm->vm_fd, vm->cfg->irqchip, vm->nr_vcpus, &vm->bus);

	/* Set after create (it lays the struct out afresh); GICv3 state is addressed by MPIDR. */
	if (ret == 0) {
		vm->irqchip.mpidrs = vm->mpidrs;
		vm->irqchip.kick_vcpu = vm_kick_vcpu;
		vm->irqchip.kick_opaque = vm;
	}
	return ret;
}

int vm_setup_devices(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct mmio_region uart = {
		.base = GUEST_UART_BASE,
		.size = GUEST_UART_SIZE,
		.name = "uart",
		.dev = &vm->uart,
		.read = uart_8250_mmio_read,
		.write = uart_8250_mmio_write,
	};
	int ret;

	/* Order fixes each virtio device's address and SPI: disks, console, rng. */
	uart_8250_init(&vm->uart, vm->console_out_fd, vm->rx_space_fd, &vm->irqchip, UART_SPI);
	ret = mmio_bus_add(&vm->bus, &uart);
	if (ret < 0)
		return ret;
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		ret = virtio_blk_create(vm, &cfg->disks[i]);
		if (ret < 0)
			return ret;
	}
	if (cfg->console == CONSOLE_VIRTIO) {
		ret = virtio_console_create(vm, vm->console_in_fd, vm->console_out_fd);
		if (ret < 0)
			return ret;
	}
	if (!cfg->nodefaults) {
		ret = virtio_rng_create(vm);
		if (!ret)
			ret = pl031_create(vm, GUEST_RTC_BASE, RTC_SPI);
	}
	return ret;
}

static void ioeventfd_cb(void *opaque, int fd, short revents)
{
	struct vm_ioeventfd *io = opaque;

	(void)revents;
	if (eventfd_drain(fd) > 0)
		virtio_mmio_notify(io->t, io->queue);
}

struct virtio_mmio *vm_add_virtio_device(struct vm *vm, const struct virtio_device_ops *ops, void *dev)
{
	unsigned int n = vm->nr_virtio;
	struct virtio_mmio *t;

	if (n == VM_MAX_VIRTIO || ops->num_queues > VIRTIO_MAX_QUEUES) {
		pr_err("too many virtio devices (at most %u)", VM_MAX_VIRTIO);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	virtio_mmio_init(t, ops, dev, &vm->mem, &vm->irqchip, VIRTIO_FIRST_SPI + n,
			 VIRTIO_MMIO_WINDOW + n * (uint64_t)VIRTIO_MMIO_SIZE);
	struct mmio_region r = {
		.base = t->base, .size = VIRTIO_MMIO_SIZE, .name = ops->name, .dev = t,
		.read = virtio_mmio_read, .write = virtio_mmio_write,
	};
	if (mmio_bus_add(&vm->bus, &r) < 0) {
		free(t);
		return NULL;
	}
	vm->virtio[vm->nr_virtio++] = t;

	/*
	 * QueueNotify through an ioeventfd: KVM completes the guest's write without
	 * leaving the kernel and the main thread handles the queue. Without KVM
	 * support the write arrives as an MMIO exit and is handled on the vCPU.
	 */
	for (unsigned int q = 0; vm->vm_fd >= 0 && q < ops->num_queues; q++) {
		struct vm_ioeventfd *io = &vm->ioeventfds[vm->nr_ioeventfds];
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct kvm_ioeventfd ioe = {
			.datamatch = q, .addr = t->base + 0x050, .len = 4, .fd = efd,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		if (efd < 0 || ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioe) < 0) {
			pr_debug("%s: no ioeventfd for queue %u (%s): notifications exit to userspace", ops->name, q,
				 strerror(errno));
			if (efd >= 0)
				close(efd);
			break;
		}
		*io = (struct vm_ioeventfd){ .t = t, .queue = q, .fd = efd };
		vm->nr_ioeventfds++;
		eventloop_add(&vm->loop, efd, POLLIN, ioeventfd_cb, io);
	}
	pr_info("%s at 0x%llx, SPI %u", ops->name, (unsigned long long)t->base, t->spi);
	return t;
}

/* After CTRL_INIT (KVM refuses irqfds before the vGIC is initialised): one irqfd per virtio SPI. */
void vm_connect_irqfds(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		struct virtio_mmio *t = vm->virtio[i];
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct kvm_irqfd irqfd = { .fd = (uint32_t)efd, .gsi = t->spi };

		if (efd < 0 || ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
			pr_debug("%s: no irqfd (%s): interrupts go through KVM_IRQ_LINE", t->ops->name,
				 strerror(errno));
			if (efd >= 0)
				close(efd);
			continue;
		}
		t->irqfd = efd;
	}
}

/* Write the DTB to path atomically: a failed write leaves no file behind. */
static int write_file_atomic(const char *path, const void *buf, size_t len)
{
	char tmp[PATH_MAX];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		pr_err("cannot create '%s': %s", tmp, strerror(err));
		return -err;
	}
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0)
		err = errno ? errno : EIO;
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err) {
		unlink(tmp);
		pr_err("writing '%s' failed: %s", path, strerror(err));
		return -err;
	}
	return 0;
}

static int vm_build_dtb(struct vm *vm, const struct boot_layout *layout, uint8_t *dtb, size_t dtb_cap)
{
	char *bootargs = fdt_make_bootargs(vm->cfg->cmdline, vm->cfg->console == CONSOLE_VIRTIO
								? "console=hvc0"
								: "console=ttyS0 earlycon");
	uint64_t virtio_bases[VM_MAX_VIRTIO];
	unsigned int virtio_spis[VM_MAX_VIRTIO];
	int ret = -ENOMEM;

	if (bootargs) {
		struct fdt_params p = {
			.ram_base = GUEST_RAM_BASE,
			.ram_size = vm->cfg->mem_size,
			.nr_cpus = vm->nr_vcpus,
			.mpidrs = vm->mpidrs,
			.irqchip = &vm->irqchip,
			.bootargs = bootargs,
			.initrd_addr = layout->initrd_addr,
			.initrd_size = layout->initrd_size,
			.uart_base = GUEST_UART_BASE,
			.uart_spi = UART_SPI,
			.rtc = vm->has_rtc,
			.rtc_base = GUEST_RTC_BASE,
			.rtc_spi = RTC_SPI,
			.nr_virtio = vm->nr_virtio,
			.virtio_bases = virtio_bases,
			.virtio_spis = virtio_spis,
		};
		for (unsigned int i = 0; i < vm->nr_virtio; i++) {
			virtio_bases[i] = vm->virtio[i]->base;
			virtio_spis[i] = vm->virtio[i]->spi;
		}
		ret = fdt_build(&p, dtb, dtb_cap);
	}
	free(bootargs);
	return ret;
}

static void sigusr1_kick(int sig)
{
	(void)sig; /* only here to make KVM_RUN return EINTR */
}

/* The main thread's handlers: stop requests, signals, console input. */
static void stop_cb(void *opaque, int fd, short revents)
{
	struct vm *vm = opaque;
	(void)fd;
	(void)revents;
	vm->loop.quit = true;
}

static void signal_cb(void *opaque, int fd, short revents)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)revents;
	if (read(fd, &si, sizeof(si)) == sizeof(si)) {
		pr_info("stopping the VM on signal %u", si.ssi_signo);
		vm_request_stop(vm, VM_EXIT_SIGNAL_BASE + (int)si.ssi_signo);
	}
	vm->loop.quit = true;
}

/* Read host input only when the UART can take it: nothing typed or piped is dropped. */
static void uart_input_cb(void *opaque, int fd, short revents)
{
	struct vm *vm = opaque;
	uint8_t buf[UART_RX_FIFO];
	unsigned int space = uart_8250_rx_space(&vm->uart);
	ssize_t n = 0;

	if (space == 0) {
		/* Full (e.g. restored with a full FIFO): wait for the guest to read, like below. */
		eventloop_enable(&vm->loop, vm->stdin_id, false);
		vm->stdin_waiting = true;
		return;
	}
	if (revents & (POLLIN | POLLHUP)) {
		n = read(fd, buf, space);
		if (n > 0)
			uart_8250_receive(&vm->uart, buf, (unsigned int)n);
	}
	if ((revents & (POLLERR | POLLNVAL)) || n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
		eventloop_enable(&vm->loop, vm->stdin_id, false); /* end of input: the guest keeps running */
	else if (uart_8250_rx_space(&vm->uart) == 0) {
		/* Full: wait for the guest to read (uart_space_cb turns input back on). */
		eventloop_enable(&vm->loop, vm->stdin_id, false);
		vm->stdin_waiting = true;
	}
}

static void uart_space_cb(void *opaque, int fd, short revents)
{
	struct vm *vm = opaque;

	(void)revents;
	(void)eventfd_drain(fd); /* a spurious wake is harmless: uart_input_cb checks for room */
	if (vm->stdin_waiting) {
		vm->stdin_waiting = false;
		eventloop_enable(&vm->loop, vm->stdin_id, true);
	}
}

int vm_pause(struct vm *vm, uint64_t *ns)
{
	uint64_t t0 = clock_monotonic_ns();

	*ns = 0;
	if (vm->paused)
		return 0;
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, true);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->nr_parked < vm->nr_live && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
	if (atomic_load(&vm->stopping)) {
		vm_resume(vm);
		return -ESHUTDOWN;
	}
	vm->paused = true;
	*ns = clock_monotonic_ns() - t0;
	pr_info("VM paused (%llu us)", (unsigned long long)(*ns / 1000));
	return 0;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	if (vm->paused)
		pr_info("VM resumed");
	vm->paused = false;
}

/* What the control socket asks of the VM (main thread). */
static bool ctl_is_paused(void *opaque)
{
	return ((struct vm *)opaque)->paused;
}

static int ctl_pause(void *opaque, uint64_t *ns)
{
	return vm_pause(opaque, ns);
}

static int ctl_resume(void *opaque)
{
	vm_resume(opaque);
	return 0;
}

static int ctl_stop(void *opaque)
{
	pr_info("stopping the VM on request of its control socket");
	vm_request_stop(opaque, VM_EXIT_POWEROFF);
	return 0;
}

int vm_snapshot_request(struct vm *vm, const char *dir, bool stop, struct control_snapshot_result *res, char *msg,
			size_t msg_cap)
{
	bool was_paused = vm->paused;
	uint64_t ns;
	int ret;

	log_clear_error();
	ret = vm_pause(vm, &ns);
	if (ret == 0)
		ret = vm_snapshot_save(vm, dir, res);
	if (ret < 0) {
		snprintf(msg, msg_cap, "%s", *log_last_error() ? log_last_error() : strerror(-ret));
		if (!was_paused)
			vm_resume(vm);
		return ret;
	}
	if (stop) {
		pr_info("snapshot written to %s; stopping the VM as asked", dir);
		vm_request_stop(vm, VM_EXIT_POWEROFF);
	} else if (!was_paused) {
		vm_resume(vm);
	}
	return 0;
}

static int ctl_snapshot(void *opaque, const char *dir, bool stop, struct control_snapshot_result *res, char *msg,
			size_t msg_cap)
{
	return vm_snapshot_request(opaque, dir, stop, res, msg, msg_cap);
}

static const struct control_ops vm_control_ops = {
	.is_paused = ctl_is_paused,
	.pause = ctl_pause,
	.resume = ctl_resume,
	.stop = ctl_stop,
	.snapshot = ctl_snapshot,
};

static void script_req_cb(void *opaque, int fd, short revents)
{
	struct vm *vm = opaque;

	(void)revents;
	if (eventfd_drain(fd) > 0)
		script_serve_request(vm);
}

static int vm_run(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = sigusr1_kick };
	sigset_t stop_sigs;
	int sig_fd, ret = 0;
	bool tty_input = !vm->script;

	/* SIGINT/SIGTERM/SIGHUP arrive through a signalfd; every thread inherits the block. */
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
	sig_fd = signalfd(-1, &stop_sigs, SFD_CLOEXEC);
	if (sig_fd < 0) {
		pr_err("signalfd failed: %s", strerror(errno));
		return -errno;
	}
	sigemptyset(&sa.sa_mask);
	/*
	 * KVM_RUN returns EINTR whatever the flag; SA_RESTART keeps the kick (now
	 * sent for every IRQ level the userspace GIC changes from another thread)
	 * from failing whatever else a vCPU thread is blocked in (a console write).
	 */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	/* A reader of the console going away must not kill the VM: writes just fail. */
	signal(SIGPIPE, SIG_IGN);

	eventloop_add(&vm->loop, vm->stop_fd, POLLIN, stop_cb, vm);
	eventloop_add(&vm->loop, sig_fd, POLLIN, signal_cb, vm);
	if (vm->script)
		eventloop_add(&vm->loop, vm->script_req_fd, POLLIN, script_req_cb, vm);
	/* The UART takes the console input unless a virtio console registered it already. */
	vm->stdin_id = -1;
	if (vm->cfg->console == CONSOLE_SERIAL && fcntl(vm->console_in_fd, F_GETFD) >= 0) {
		eventloop_add(&vm->loop, vm->rx_space_fd, POLLIN, uart_space_cb, vm);
		vm->stdin_id = eventloop_add(&vm->loop, vm->console_in_fd, POLLIN, uart_input_cb, vm);
	}

	if (tty_input)
		term_raw_enable(STDIN_FILENO);
	for (unsigned int i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = vcpu_start(&vm->vcpus[i]);
	if (ret == 0 && vm->restoring)
		pr_info("restore: vCPUs running %llu ms after the restore began",
			(unsigned long long)((clock_monotonic_ns() - vm->restore_t0_ns) / 1000000));
	if (ret == 0 && vm->script)
		ret = script_start(vm->script, vm);
	if (ret < 0)
		vm_request_stop(vm, VM_EXIT_ERROR);
	else if (eventloop_run(&vm->loop) < 0) {
		pr_err("the event loop failed: %s", strerror(errno));
		vm_request_stop(vm, VM_EXIT_ERROR);
	}

	atomic_store(&vm->stopping, true);
	vcpu_wake_parked(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
	if (tty_input)
		term_restore();
	close(sig_fd);
	return 0;
}

static void vm_teardown(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_ioeventfds; i++)
		close(vm->ioeventfds[i].fd);
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		if (vm->virtio[i]->irqfd >= 0)
			close(vm->virtio[i]->irqfd);
		if (vm->virtio[i]->ops->destroy)
			vm->virtio[i]->ops->destroy(vm->virtio[i]);
		free(vm->virtio[i]);
	}
	if (vm->has_rtc)
		pl031_destroy(&vm->rtc);
	for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i], vm->run_size);
	free(vm->vcpus);
	free(vm->mpidrs);
	irqchip_destroy(&vm->irqchip);
	guest_mem_free(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->rx_space_fd >= 0)
		close(vm->rx_space_fd);
	if (vm->script_req_fd >= 0)
		close(vm->script_req_fd);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
}

/* --dump-dtb on a machine without /dev/kvm: same tree, MPIDRs as KVM would assign them. */
static int vm_dump_dtb_without_kvm(struct vm *vm, const struct boot_layout *layout, uint8_t *dtb)
{
	enum irqchip_type type;
	int len;

	if (irqchip_type_for_request(vm->cfg->irqchip, &type) < 0) {
		pr_err("--dump-dtb without /dev/kvm needs an explicit --irqchip (gicv2, gicv3 or user)");
		return -EINVAL;
	}
	vm->nr_vcpus = vm->cfg->nr_cpus;
	vm->mpidrs = calloc(vm->nr_vcpus, sizeof(*vm->mpidrs));
	if (!vm->mpidrs)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->mpidrs[i] = vcpu_default_mpidr(i);
	irqchip_layout(&vm->irqchip, type, vm->nr_vcpus);
	/* The devices too (no KVM needed to open disks), so their nodes are in the tree. */
	len = vm_setup_devices(vm);
	if (len < 0)
		return len;
	len = vm_build_dtb(vm, layout, dtb, DTB_MAX_SIZE);
	if (len < 0)
		return len;
	return write_file_atomic(vm->cfg->dump_dtb_path, dtb, (size_t)len);
}

static int vm_copy_images(struct vm *vm, const struct kernel_image *img, const uint8_t *initrd,
			  const struct boot_layout *layout, const uint8_t *dtb, size_t dtb_len)
{
	if (guest_mem_write(&vm->mem, layout->kernel_addr, img->data, img->size) < 0 ||
	    (layout->initrd_size &&
	     guest_mem_write(&vm->mem, layout->initrd_addr, initrd, layout->initrd_size) < 0) ||
	    guest_mem_write(&vm->mem, layout->dtb_addr, dtb, dtb_len) < 0) {
		pr_err("internal error: boot images fall outside guest RAM");
		return -EFAULT;
	}
	return 0;
}

/*
 * A VM that boots: steps 1-5 of the file comment. 0 when it is ready to run,
 * 1 when --dump-dtb was all that was asked (done), -errno after an error line.
 */
static int vm_build_boot(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct kernel_image img = { 0 };
	struct boot_layout layout;
	uint8_t *initrd = NULL, *dtb = calloc(1, DTB_MAX_SIZE);
	size_t initrd_len = 0;
	int dtb_len, ret = -ENOMEM;

	if (!dtb)
		goto out;
	/* 1. Files first: bad input fails before any KVM object exists. */
	ret = kernel_image_load(cfg->kernel_path, cfg->mem_size, &img);
	if (ret < 0)
		goto out;
	if (cfg->initrd_path) {
		ret = read_file_alloc(cfg->initrd_path, "initrd", cfg->mem_size, &initrd, &initrd_len);
		if (ret < 0)
			goto out;
	}
	ret = boot_layout_plan(GUEST_RAM_BASE, cfg->mem_size, &img, initrd_len, &layout);
	if (ret < 0)
		goto out;

	/* 2. KVM: the VM, its RAM, the vCPUs, then the irqchip (which needs them all). */
	if (cfg->dump_dtb_path && access("/dev/kvm", F_OK) != 0) {
		pr_info("no /dev/kvm: writing the device tree with KVM's default MPIDR assignment");
		ret = vm_dump_dtb_without_kvm(vm, &layout, dtb);
		ret = ret < 0 ? ret : 1;
		goto out;
	}
	if ((ret = vm_open_kvm(vm)) < 0 || (ret = vm_create_kvm_vm(vm)) < 0 || (ret = vm_setup_memory(vm, -1)) < 0 ||
	    (ret = vm_create_vcpus(vm)) < 0)
		goto out;
	ret = vm_create_irqchip(vm);
	if (ret < 0)
		goto out;
	pr_info("VM: %u vCPU(s), %llu MiB RAM, %s", vm->nr_vcpus, (unsigned long long)(cfg->mem_size >> 20),
		irqchip_type_name(vm->irqchip.type));

	/* 3. Devices, then CTRL_INIT: the vGIC must be complete before the first KVM_RUN. */
	if ((ret = vm_setup_devices(vm)) < 0 || (ret = irqchip_finalize(&vm->irqchip)) < 0)
		goto out;
	vm_connect_irqfds(vm);

	/* 4. The device tree describes exactly what was created above. */
	dtb_len = vm_build_dtb(vm, &layout, dtb, DTB_MAX_SIZE);
	if (dtb_len < 0) {
		ret = dtb_len;
		goto out;
	}
	if (cfg->dump_dtb_path) {
		ret = write_file_atomic(cfg->dump_dtb_path, dtb, (size_t)dtb_len);
		ret = ret < 0 ? ret : 1;
		goto out;
	}

	/* 5. Images into RAM, boot registers on vCPU 0 (x0 = DTB). */
	ret = vm_copy_images(vm, &img, initrd, &layout, dtb, (size_t)dtb_len);
	if (ret == 0)
		ret = vcpu_set_boot_regs(&vm->vcpus[0], layout.kernel_addr, layout.dtb_addr);
	if (ret < 0)
		goto out;
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

int vm_main(const struct vm_config *cfg)
{
	struct vm vm = { .cfg = cfg, .kvm_fd = -1, .vm_fd = -1, .script_req_fd = -1 };
	struct vm_config restored;
	int ret, status = VM_EXIT_ERROR;

	atomic_init(&vm.stopping, false);
	atomic_init(&vm.exit_status, -1);
	atomic_init(&vm.pause_requested, false);
	pthread_mutex_init(&vm.pause_lock, NULL);
	pthread_cond_init(&vm.pause_cond, NULL);
	vm.irqchip.dev_fd = -1;
	vm.ctl.listen_fd = -1;
	vm.console_in_fd = STDIN_FILENO;
	vm.console_out_fd = STDOUT_FILENO;
	vm.stop_fd = eventfd(0, EFD_CLOEXEC);
	vm.rx_space_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm.stop_fd < 0 || vm.rx_space_fd < 0) {
		pr_err("out of resources setting up the VM");
		goto out;
	}
	/* A script stands in for the person at the console: it owns the console's pipes. */
	if (cfg->script_path) {
		if (script_load(cfg, &vm.script) < 0)
			goto out;
		vm.script_req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vm.script_req_fd < 0 || script_console_fds(vm.script, &vm.console_in_fd, &vm.console_out_fd) < 0) {
			pr_err("cannot set up the script's console pipes: %s", strerror(errno));
			goto out;
		}
	}

	if (cfg->restore_dir) {
		ret = snapshot_restore(&vm, cfg, &restored);
	} else {
		ret = vm_build_boot(&vm);
		if (ret == 1) {
			status = VM_EXIT_POWEROFF; /* --dump-dtb done */
			goto out;
		}
	}
	if (ret < 0)
		goto out;
	if (cfg->name && control_server_start(&vm.ctl, &vm.loop, cfg->name, &vm_control_ops, &vm) < 0)
		goto out;

	vm_run(&vm);
	status = atomic_load(&vm.exit_status);
	if (status < 0)
		status = VM_EXIT_ERROR;
	if (vm.script)
		status = script_finish(vm.script, status);
out:
	if (vm.ctl.listen_fd >= 0)
		control_server_stop(&vm.ctl);
	vm_teardown(&vm);
	if (vm.script) {
		script_free(vm.script);
		vm.script = NULL;
	}
	/* A script's "migrate": this VM is gone; its snapshot continues in a fresh armvmm process. */
	if (vm.migrate_dir[0])
		status = script_migrate_continue(cfg, vm.migrate_dir, vm.migrate_script_start);
	return status;
}
