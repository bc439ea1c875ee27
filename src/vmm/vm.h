/*
 * The virtual machine: one struct owning every piece of VM state. main()
 * calls vm_main(); everything else happens in the order vm_main() shows.
 */
#ifndef ARMVMM_VM_H
#define ARMVMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/uart_8250.h"
#include "irqchip/irqchip.h"
#include "vmm/memory.h"
#include "vmm/mmio.h"
#include "vmm/options.h"

/* Process exit statuses (documented in man/armvmm.1). */
#define VM_EXIT_POWEROFF 0	/* PSCI SYSTEM_OFF */
#define VM_EXIT_ERROR 1		/* bad input, or KVM/host failure */
#define VM_EXIT_RESET 3		/* PSCI SYSTEM_RESET (restarting comes later) */
#define VM_EXIT_CRASH 4		/* guest crash or an exit the VMM cannot handle */
#define VM_EXIT_SIGNAL_BASE 128	/* + signal number, for SIGINT/SIGTERM/SIGHUP */

#define UART_SPI 0u		/* INTID 32 */

struct kvm_run;
struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	uint64_t mpidr;
	pthread_t thread;
	bool thread_started;
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd, vm_fd;
	struct guest_mem mem;
	size_t run_size;
	unsigned int nr_vcpus;
	struct vcpu *vcpus;
	struct irqchip irqchip;
	struct mmio_bus bus;
	struct uart_8250 uart;
	int stop_fd;		/* eventfd: a vCPU thread asks the main thread to end the VM */
	int rx_space_fd;	/* eventfd: the UART has room for input again */
	atomic_bool stopping;
	atomic_int exit_status;	/* first stop request wins */
};

/* Boot the configured VM and run it to the end; returns the process exit status. */
int vm_main(const struct vm_config *cfg);
/* Any thread: end the VM with this exit status (the first request wins). */
void vm_request_stop(struct vm *vm, int status);

/* vcpu.c */
int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int index);
int vcpu_set_boot_regs(struct vcpu *vcpu, uint64_t pc, uint64_t dtb_addr);
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu, size_t run_size);
/* MPIDR_EL1 KVM gives vCPU index i when nothing overrides it (used without /dev/kvm). */
uint64_t vcpu_default_mpidr(unsigned int index);

#endif
