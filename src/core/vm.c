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

int vm_setup_memory(struct vm *vm, uint64_t ram_base, uint64_t mem_size, int mem_fd)
{
	struct kvm_userspace_memory_region region;
	int ret = mem_fd >= 0 ? guest_mem_map_file(&vm->mem, ram_base, mem_size, mem_fd)
			      : guest_mem_alloc(&vm->mem, ram_base, mem_size);

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
	return 0;
}

int vm_start_vcpus(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int ret = vcpu_start(&vm->vcpus[i]);
		if (ret < 0)
			return ret;
	}
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
	guest_mem_free(&vm->mem);
	close_fd(&vm->vm_fd);
	close_fd(&vm->kvm_fd);
	close_fd(&vm->stop_fd);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_mutex_destroy(&vm->kick_lock);
	pthread_cond_destroy(&vm->pause_cond);
}
