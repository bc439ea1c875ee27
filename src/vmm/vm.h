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
#include "devices/pl031.h"
#include "devices/virtio_mmio.h"
#include "irqchip/irqchip.h"
#include "vmm/eventloop.h"
#include "vmm/memory.h"
#include "vmm/mmio.h"
#include "vmm/options.h"

/* Process exit statuses (documented in man/armvmm.1). */
#define VM_EXIT_POWEROFF 0	/* PSCI SYSTEM_OFF */
#define VM_EXIT_ERROR 1		/* bad input, or KVM/host failure */
#define VM_EXIT_RESET 3		/* PSCI SYSTEM_RESET (restarting comes later) */
#define VM_EXIT_CRASH 4		/* guest crash or an exit the VMM cannot handle */
#define VM_EXIT_SIGNAL_BASE 128	/* + signal number, for SIGINT/SIGTERM/SIGHUP */

/*
 * Interrupt and MMIO assignments (kvmtool-compatible window from 0x0100_0000).
 * SPI n is INTID 32 + n.
 */
#define UART_SPI 0u
#define RTC_SPI 1u
#define GUEST_RTC_BASE 0x01010000ull
#define VIRTIO_MMIO_WINDOW 0x03000000ull	/* kvmtool's virtio-mmio window (48 MiB), one device per 0x200 */
#define VIRTIO_FIRST_SPI 16u
#define VM_MAX_VIRTIO 16u

struct kvm_run;
struct vm;
struct vcpu_saved;

struct vm_ioeventfd {
	struct virtio_mmio *t;
	unsigned int queue;
	int fd;
};

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	uint64_t mpidr;
	pthread_t thread;
	bool thread_started;
	struct vcpu_saved *saved;	/* restore: state kept from phase 1 for phase 3 (vcpu_state.c) */
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
	struct pl031 rtc;
	bool has_rtc;
	struct eventloop loop;		/* the main thread's */
	struct virtio_mmio *virtio[VM_MAX_VIRTIO];
	unsigned int nr_virtio;
	struct vm_ioeventfd ioeventfds[VM_MAX_VIRTIO * VIRTIO_MAX_QUEUES];
	unsigned int nr_ioeventfds;
	int stdin_id;			/* event loop entry of the UART's input, or -1 */
	bool stdin_waiting;		/* input paused until the UART FIFO has room */
	int stop_fd;		/* eventfd: a vCPU thread asks the main thread to end the VM */
	int rx_space_fd;	/* eventfd: the UART has room for input again */
	atomic_bool stopping;
	atomic_int exit_status;	/* first stop request wins */
};

/* Boot the configured VM and run it to the end; returns the process exit status. */
int vm_main(const struct vm_config *cfg);
/* Any thread: end the VM with this exit status (the first request wins). */
void vm_request_stop(struct vm *vm, int status);

/*
 * Give a virtio device a transport: the next MMIO slot and SPI, an ioeventfd
 * per queue where KVM offers them, an irqfd for its SPI with an in-kernel GIC.
 * Called while the VM is being built; the device tree lists every transport.
 */
struct virtio_mmio *vm_add_virtio_device(struct vm *vm, const struct virtio_device_ops *ops, void *dev);

/* vcpu.c */
int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned int index);
int vcpu_set_boot_regs(struct vcpu *vcpu, uint64_t pc, uint64_t dtb_addr);
int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu, size_t run_size);
/* The index of the vCPU whose thread calls this, or UINT_MAX on any other thread. */
unsigned int vcpu_current_index(void);
/* MPIDR_EL1 KVM gives vCPU index i when nothing overrides it (used without /dev/kvm). */
uint64_t vcpu_default_mpidr(unsigned int index);

#endif
