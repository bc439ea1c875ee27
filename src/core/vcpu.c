/* vCPUs: creation, boot registers and the per-vCPU thread running KVM_RUN. */
#include <errno.h>
#include <limits.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sandbox.h"
#include "core/vcpu.h"
#include "core/vm.h"

#define ARM64_CORE_REG(x) \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, x) / sizeof(__u32)))
/* EL1h with D, A, I and F masked, as booting.rst asks. */
#define PSTATE_EL1H_DAIF 0x3c5ull

int vcpu_get_reg(struct vcpu *vcpu, uint64_t id, void *val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(uintptr_t)val };

	return ioctl(vcpu->fd, KVM_GET_ONE_REG, &reg) < 0 ? -errno : 0;
}

int vcpu_set_reg(struct vcpu *vcpu, uint64_t id, const void *val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(uintptr_t)val };

	return ioctl(vcpu->fd, KVM_SET_ONE_REG, &reg) < 0 ? -errno : 0;
}

uint64_t vcpu_default_mpidr(unsigned int index)
{
	/* KVM's reset value: Aff0 = index[3:0], Aff1 = index[11:4], Aff2 = index[19:12], RES1 bit 31. */
	return (1ull << 31) | (index & 0xf) | (uint64_t)((index >> 4) & 0xff) << 8 |
	       (uint64_t)((index >> 12) & 0xff) << 16;
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int index)
{
	struct kvm_vcpu_init init;
	int ret;

	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, index);
	if (vcpu->fd < 0) {
		ret = -errno;
		pr_err("creating vCPU %u failed: %s", index, strerror(-ret));
		return ret;
	}
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		vcpu->run = NULL;
		pr_err("mapping the kvm_run area of vCPU %u failed: %s", index, strerror(-ret));
		return ret;
	}
	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0) {
		ret = -errno;
		pr_err("KVM_ARM_PREFERRED_TARGET failed: %s", strerror(-ret));
		return ret;
	}
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2 | vm->vcpu_features;
	/* Secondaries wait powered off until the guest starts them with PSCI CPU_ON. */
	if (index > 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(vcpu->fd, KVM_ARM_VCPU_INIT, &init) < 0) {
		ret = -errno;
		pr_err("KVM_ARM_VCPU_INIT of vCPU %u failed: %s", index, strerror(-ret));
		return ret;
	}
	ret = vcpu_get_reg(vcpu, MPIDR_EL1_REG, &vm->mpidrs[index]);
	if (ret < 0) {
		pr_err("reading MPIDR_EL1 of vCPU %u failed: %s", index, strerror(-ret));
		return ret;
	}
	return 0;
}

int vcpu_set_boot_regs(struct vcpu *vcpu, uint64_t pc, uint64_t dtb_addr)
{
	const uint64_t pstate = PSTATE_EL1H_DAIF, zero = 0;
	int ret = vcpu_set_reg(vcpu, ARM64_CORE_REG(regs.pstate), &pstate);

	for (int i = 0; !ret && i < 4; i++)
		ret = vcpu_set_reg(vcpu, ARM64_CORE_REG(regs.regs[i]), i == 0 ? &dtb_addr : &zero);
	if (!ret)
		ret = vcpu_set_reg(vcpu, ARM64_CORE_REG(regs.pc), &pc);
	if (ret < 0)
		pr_err("setting the boot registers of vCPU %u failed: %s", vcpu->index, strerror(-ret));
	return ret;
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	mmio_bus_access(&vcpu->vm->bus, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			run->mmio.is_write);
}

static void vcpu_handle_system_event(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		pr_info("guest powered off (vCPU %u)", vcpu->index);
		vm_request_stop(vm, VM_EXIT_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		pr_info("guest requested a reset (vCPU %u); armvmm does not restart guests yet", vcpu->index);
		vm_request_stop(vm, VM_EXIT_RESET);
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		pr_err("guest reported a crash (vCPU %u)", vcpu->index);
		vm_request_stop(vm, VM_EXIT_CRASH);
		break;
	default:
		pr_err("vCPU %u: unknown system event %u", vcpu->index, vcpu->run->system_event.type);
		vm_request_stop(vm, VM_EXIT_CRASH);
		break;
	}
}

/* One iteration's worth of exit handling; returns false when the thread should end. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(vcpu);
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		vcpu_handle_system_event(vcpu);
		return false;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_ARM_NISV:
		pr_err("vCPU %u: guest accessed MMIO at 0x%llx with an instruction KVM cannot decode; stopping",
		       vcpu->index, (unsigned long long)run->arm_nisv.fault_ipa);
		vm_request_stop(vm, VM_EXIT_CRASH);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		pr_err("vCPU %u: KVM could not enter the guest (reason 0x%llx)", vcpu->index,
		       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vm_request_stop(vm, VM_EXIT_CRASH);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		pr_err("vCPU %u: KVM internal error (suberror %u)", vcpu->index, run->internal.suberror);
		vm_request_stop(vm, VM_EXIT_CRASH);
		return false;
	default:
		pr_err("vCPU %u: unexpected KVM exit reason %u", vcpu->index, run->exit_reason);
		vm_request_stop(vm, VM_EXIT_CRASH);
		return false;
	}
}

static void vcpu_sync_hook(struct vm *vm, struct vcpu *vcpu)
{
	if (vm->vcpu_sync)
		vm->vcpu_sync(vm->vcpu_hook_opaque, vcpu->index, vcpu->run);
}

/* Which vCPU this thread runs: MMIO handlers of banked registers (the userspace GIC) need it. */
static _Thread_local unsigned int current_vcpu = UINT_MAX;

unsigned int vcpu_current_index(void)
{
	return current_vcpu;
}

/*
 * Park this thread until the pause ends. KVM completes an MMIO load only on
 * the next KVM_RUN (api.rst, KVM_EXIT_MMIO: the operation is not part of any
 * state userspace can read), so an exit just handled is completed first with
 * immediate_exit set: the guest runs no further instruction, and the
 * registers a snapshot reads hold the loaded value.
 */
static void vcpu_park(struct vcpu *vcpu, bool exit_pending)
{
	struct vm *vm = vcpu->vm;

	if (exit_pending) {
		vcpu->run->immediate_exit = 1;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0 && errno != EINTR)
			pr_warn("vCPU %u: completing an exit before pausing failed: %s", vcpu->index, strerror(errno));
		vcpu_sync_hook(vm, vcpu);
	}
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	vcpu->parked = true;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_requested) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
	vcpu->parked = false;
	pthread_mutex_unlock(&vm->pause_lock);
	/* immediate_exit stays set: vcpu_thread clears it before it next looks at what kicks ask for. */
}

void vcpu_wake_parked(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void vcpu_thread_done(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_live--;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	bool exit_pending = false;	/* an exit was handled and KVM_RUN has not completed it yet */

	current_vcpu = vcpu->index;
	/* The guest steers this thread: sandboxed before anything else, while main builds the machine. */
	sandbox_enter(SANDBOX_VCPU);
	/* Set-up (registers, irqchip, devices, images or a restored state) is done when vm_start_vcpus says so. */
	pthread_mutex_lock(&vm->pause_lock);
	while (!vm->vcpus_released && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
	for (;;) {
		/*
		 * A kick (vcpu_kick) sets immediate_exit after whatever it asks for
		 * (stop, pause, a new IRQ level), so clear it before looking: a kick
		 * after this store makes the next KVM_RUN return at once.
		 */
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (atomic_load(&vm->stopping))
			break;
		if (atomic_load(&vm->pause_requested)) {
			vcpu_park(vcpu, exit_pending);
			exit_pending = false;
			continue;
		}
		if (vm->vcpu_enter)
			vm->vcpu_enter(vm->vcpu_hook_opaque, vcpu->index);
		int r = ioctl(vcpu->fd, KVM_RUN, 0);
		/* Every return, error or not, carries fresh timer levels for a userspace irqchip. */
		vcpu_sync_hook(vm, vcpu);
		exit_pending = r == 0;
		if (r < 0) {
			int err = errno;
			if (err == EINTR || err == EAGAIN)
				continue;
			if (err == ENOSYS)
				pr_err("vCPU %u: guest did an MMIO access KVM cannot emulate (no instruction syndrome); stopping",
				       vcpu->index);
			else
				pr_err("vCPU %u: KVM_RUN failed: %s", vcpu->index, strerror(err));
			vm_request_stop(vm, err == ENOSYS ? VM_EXIT_CRASH : VM_EXIT_ERROR);
			break;
		}
		if (!vcpu_handle_exit(vcpu))
			break;
	}
	vcpu_thread_done(vm);
	return NULL;
}

static void sigusr1_kick(int sig)
{
	(void)sig; /* only here to make KVM_RUN return EINTR */
}

void vcpu_set_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = sigusr1_kick };

	/*
	 * KVM_RUN returns EINTR whatever the flag; SA_RESTART keeps the kick (sent
	 * for every IRQ level the userspace GIC changes from another thread) from
	 * failing whatever else a vCPU thread is blocked in.
	 */
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
}

int vcpu_start(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	int ret;

	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_live++;
	pthread_mutex_unlock(&vm->pause_lock);
	/* kick_lock: a kick from another thread must not read thread before it is set. */
	pthread_mutex_lock(&vm->kick_lock);
	ret = pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
	vcpu->thread_started = ret == 0;
	pthread_mutex_unlock(&vm->kick_lock);
	if (ret) {
		vcpu_thread_done(vm);
		pr_err("starting the thread of vCPU %u failed: %s", vcpu->index, strerror(ret));
		return -ret;
	}
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	/*
	 * immediate_exit covers a thread about to enter KVM_RUN; the signal
	 * interrupts one already inside it (including a powered-off vCPU).
	 * thread_started is read under kick_lock: vm_stop_vcpus clears it before
	 * joining, so no signal ever goes to a joined thread.
	 */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&vm->kick_lock);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, SIGUSR1);
	pthread_mutex_unlock(&vm->kick_lock);
}

void vcpu_destroy(struct vcpu *vcpu, size_t run_size)
{
	if (vcpu->run)
		munmap(vcpu->run, run_size);
	if (vcpu->fd > 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}
