/*
 * The KVM VM: /dev/kvm, KVM_CREATE_VM, guest RAM, vCPUs and their threads,
 * stop requests and pause/resume. The board calls these in the order
 * board_build() shows; nothing here names a device.
 */
#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/files.h"
#include "core/log.h"

#define KVM_DEFAULT_IPA_BITS 40u

int vm_init(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
	atomic_init(&vm->stopping, false);
	atomic_init(&vm->exit_status, -1);
	atomic_init(&vm->pause_requested, false);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_mutex_init(&vm->kick_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* pause timeouts must not jump with the wall clock */
	pthread_cond_init(&vm->pause_cond, &ca);
	pthread_condattr_destroy(&ca);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (vm->stop_fd < 0) {
		int err = errno;
		pr_err("out of resources setting up the VM: %s", strerror(err));
		return -err;
	}
	return 0;
}

void vm_request_stop(struct vm *vm, int status)
{
	int running = -1;
	uint64_t one = 1;

	atomic_compare_exchange_strong(&vm->exit_status, &running, status);
	atomic_store(&vm->stopping, true);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0)
		(void)0; /* the counter cannot overflow from a handful of writes */
	/* A pause in progress gives up at once rather than at its timeout. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
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

int vm_create(struct vm *vm, uint64_t ram_base, uint64_t mem_size, unsigned int nr_cpus)
{
	unsigned int bits = ipa_bits_for(ram_base + mem_size);
	unsigned long type = 0;
	int max_vcpus, mmap_size;

	if (bits > KVM_DEFAULT_IPA_BITS) {
		int host_bits = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
		if (host_bits <= 0 || (unsigned int)host_bits < bits) {
			unsigned int have = host_bits > 0 ? (unsigned int)host_bits : KVM_DEFAULT_IPA_BITS;
			pr_err("--mem %llu MiB needs a %u-bit guest physical address space; this host offers %u bits (at most %llu MiB)",
			       (unsigned long long)(mem_size >> 20), bits, have,
			       (unsigned long long)(((1ull << have) - ram_base) >> 20));
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
	if (max_vcpus > 0 && nr_cpus > (unsigned int)max_vcpus) {
		pr_err("%s %u is more than this host's KVM allows (KVM_CAP_MAX_VCPUS = %d)",
		       vm->restoring ? "the snapshot's vCPU count" : "--cpus", nr_cpus, max_vcpus);
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

/* Guest RAM is memory slot 0; flags: 0 or KVM_MEM_LOG_DIRTY_PAGES. 0 or -errno. */
#define RAM_SLOT 0u

static int set_ram_region(struct vm *vm, uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = RAM_SLOT,
		.flags = flags,
		.guest_phys_addr = vm->mem.gpa,
		.memory_size = vm->mem.size,
		.userspace_addr = (uint64_t)(uintptr_t)vm->mem.host,
	};

	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -errno : 0;
}

int vm_setup_memory(struct vm *vm, uint64_t ram_base, uint64_t mem_size, int mem_fd)
{
	int ret = mem_fd >= 0 ? guest_mem_map_file(&vm->mem, ram_base, mem_size, mem_fd)
			      : guest_mem_alloc(&vm->mem, ram_base, mem_size);

	if (ret < 0)
		return ret;
	ret = set_ram_region(vm, 0);
	if (ret < 0)
		pr_err("registering %llu MiB of guest RAM with KVM failed: %s (lower --mem)",
		       (unsigned long long)(vm->mem.size >> 20), strerror(-ret));
	return ret;
}

/* --- dirty-page logging ----------------------------------------------------------- */

int vm_dirty_log_start(struct vm *vm)
{
	int caps = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), ret;

	/*
	 * Manual protection: a fetch leaves the pages writable until they are
	 * cleared, chunk by chunk, just before they are copied; fewer write
	 * faults, and a page written between fetch and copy is not sent twice.
	 * Never while a slot logs (KVM would mix the two modes).
	 */
	vm->dirty_manual = false;
	if (caps > 0 && (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) == 0)
			vm->dirty_manual = true;
		else
			pr_debug("enabling KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 failed: %s", strerror(errno));
	}
	ret = set_ram_region(vm, KVM_MEM_LOG_DIRTY_PAGES);
	if (ret < 0) {
		pr_err("KVM cannot log the pages the guest writes (KVM_MEM_LOG_DIRTY_PAGES): %s", strerror(-ret));
		return ret;
	}
	vm->dirty_logging = true;
	pr_info("dirty-page logging on (%s protection)", vm->dirty_manual ? "manual" : "automatic");
	return 0;
}

int vm_dirty_log_fetch(struct vm *vm, uint64_t *bitmap)
{
	struct kvm_dirty_log log = { .slot = RAM_SLOT, .dirty_bitmap = bitmap };

	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		int err = errno;
		pr_err("KVM_GET_DIRTY_LOG failed: %s", strerror(err));
		return -err;
	}
	return 0;
}

int vm_dirty_log_clear(struct vm *vm, uint64_t *bitmap, uint64_t first, uint64_t count)
{
	uint64_t pages = guest_mem_pages(&vm->mem);

	if (!vm->dirty_manual || count == 0)
		return 0;
	if (first % 64 || first >= pages) {
		pr_err("internal error: clearing the dirty log from page %llu", (unsigned long long)first);
		return -EINVAL;
	}
	if (count > pages - first)
		count = pages - first;
	/* KVM wants whole 64-page words, except for the slot's last one. */
	if (count % 64 && first + count != pages)
		count = (count + 63) / 64 * 64 < pages - first ? (count + 63) / 64 * 64 : pages - first;
	struct kvm_clear_dirty_log clear = {
		.slot = RAM_SLOT,
		.num_pages = (uint32_t)count,
		.first_page = first,
		.dirty_bitmap = bitmap + first / 64,
	};
	if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0) {
		int err = errno;
		pr_err("KVM_CLEAR_DIRTY_LOG failed: %s", strerror(err));
		return -err;
	}
	return 0;
}

int vm_dirty_log_stop(struct vm *vm)
{
	int ret;

	if (!vm->dirty_logging)
		return 0;
	ret = set_ram_region(vm, 0);
	if (ret < 0) {
		pr_err("turning KVM's dirty-page logging off failed: %s", strerror(-ret));
		return ret;
	}
	vm->dirty_logging = false;
	return 0;
}

int vm_create_vcpus(struct vm *vm, unsigned int nr_cpus)
{
	vm->nr_vcpus = nr_cpus;
	vm->vcpus = calloc(nr_cpus, sizeof(*vm->vcpus));
	vm->mpidrs = calloc(nr_cpus, sizeof(*vm->mpidrs));
	if (!vm->vcpus || !vm->mpidrs)
		return -ENOMEM;
	for (unsigned int i = 0; i < nr_cpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < nr_cpus; i++) {
		int ret = vcpu_create(vm, &vm->vcpus[i], i);
		if (ret < 0)
			return ret;
	}
	/* Before the first thread: a restore sets the userspace GIC's lines, and kicks, early. */
	vcpu_set_kick_handler();
	for (unsigned int i = 0; i < nr_cpus; i++) {
		int ret = vcpu_start(&vm->vcpus[i]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int vm_start_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->vcpus_released = true;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	return 0;
}

void vm_stop_vcpus(struct vm *vm)
{
	bool joinable[vm->nr_vcpus ? vm->nr_vcpus : 1];

	atomic_store(&vm->stopping, true);
	vcpu_wake_parked(vm);
	/*
	 * Until every vCPU thread has left its loop, one may still kick another
	 * (the userspace GIC): join none before. A kick cannot be lost (see
	 * vcpu_kick), the repeat every 100 ms only covers a thread that was
	 * somewhere slow when it came.
	 */
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->nr_live > 0) {
		struct timespec ts = clock_monotonic_deadline(100);
		pthread_mutex_unlock(&vm->pause_lock);
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
		pthread_mutex_lock(&vm->pause_lock);
		if (vm->nr_live > 0)
			pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &ts);
	}
	pthread_mutex_unlock(&vm->pause_lock);
	/* From here on no kick signals these threads (any thread's vcpu_kick checks under kick_lock). */
	pthread_mutex_lock(&vm->kick_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		joinable[i] = vm->vcpus[i].thread_started;
		vm->vcpus[i].thread_started = false;
	}
	pthread_mutex_unlock(&vm->kick_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (joinable[i])
			pthread_join(vm->vcpus[i].thread, NULL);
}

/* Pause lock held: one error line naming the vCPUs that did not park in time. */
static void report_unparked(struct vm *vm)
{
	char list[256] = "";
	size_t o = 0;
	unsigned int n = 0;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].parked)
			continue;
		if (o < sizeof(list) - 16)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%u", n ? ", " : "", i);
		n++;
	}
	pr_err("pausing timed out: vCPU%s %s did not stop within %u ms (busy in the host); the VM runs on",
	       n == 1 ? "" : "s", list, VM_PAUSE_TIMEOUT_MS);
}

int vm_pause(struct vm *vm, uint64_t *ns)
{
	uint64_t t0 = clock_monotonic_ns();
	struct timespec deadline = clock_monotonic_deadline(VM_PAUSE_TIMEOUT_MS);
	bool timed_out = false;

	*ns = 0;
	if (vm->paused)
		return 0;
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_requested, true);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->nr_parked < vm->nr_live && !atomic_load(&vm->stopping) && !timed_out)
		timed_out = pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &deadline) == ETIMEDOUT &&
			    vm->nr_parked < vm->nr_live;
	if (timed_out && !atomic_load(&vm->stopping))
		report_unparked(vm);
	pthread_mutex_unlock(&vm->pause_lock);
	if (atomic_load(&vm->stopping)) {
		vm_resume(vm);
		return -ESHUTDOWN;
	}
	if (timed_out) {
		vm_resume(vm);
		return -ETIMEDOUT;
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

void vm_destroy(struct vm *vm)
{
	for (unsigned int i = 0; vm->vcpus && i < vm->nr_vcpus; i++)
		vcpu_destroy(&vm->vcpus[i], vm->run_size);
	free(vm->vcpus);
	free(vm->mpidrs);
	vm->vcpus = NULL;
	vm->mpidrs = NULL;
	log_step("vCPUs destroyed");
	guest_mem_free(&vm->mem);
	log_step("guest RAM freed");
	close_fd(&vm->vm_fd);
	log_step("VM closed (KVM tears it down)");
	close_fd(&vm->kvm_fd);
	close_fd(&vm->stop_fd);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_mutex_destroy(&vm->kick_lock);
	pthread_cond_destroy(&vm->pause_cond);
}
